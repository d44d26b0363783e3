/**
 * Dispatcher benchmark (issue #5): `npx tsx bench/dispatch/run.ts`. Runs a simulated GPU server on
 * loopback (sim-engine.ts: H100 and RTX 3090 profiles, time-scaled) and compares, side by side:
 *   - engine slot occupancy during a 200-job backlog: dispatcher vs a client driving the engine
 *     directly with the same concurrency and pre-decoded images (the ideal peer);
 *   - dispatcher main-thread time per job (instant engine) and the slot hand-off gap;
 *   - STAT p95 wait under saturation: dispatcher vs the same pipeline in FIFO order;
 *   - Jain fairness across backlogged channels: dispatcher vs FIFO.
 */
import { type BenchJob, createSimClient } from './client.ts';
import {
  jain,
  makeJobs,
  mean,
  measureOverhead,
  percentile,
  type RunResult,
  runDirect,
  runDispatcher,
} from './runners.ts';
import { type GpuProfile, profiles, type SimRequest, startSimEngine } from './sim-engine.ts';

async function benchProfile(profile: GpuProfile, concurrency: number, quick: boolean, meanJobMs: number) {
  const requests = new Map<string, SimRequest>();
  const register = (jobs: BenchJob[]) => {
    for (const job of jobs) requests.set(job.id, job.request);
    return jobs;
  };
  // Scale so a mean read (~800 image tokens, ~275 output tokens, full batch) lasts `meanJobMs` here.
  // Fixed per-job costs (timers, HTTP) do not shrink with the scale, so a small meanJobMs overstates
  // them; the default keeps that distortion under ~1 %.
  const probe = await startSimEngine(profile, 1);
  const realMs = probe.latencyMs({ imageTokens: 800, promptTokens: 250, outputTokens: 275 }, concurrency);
  await probe.close();
  const timeScale = realMs / meanJobMs;
  const sim = await startSimEngine(profile, timeScale);
  const engine = createSimClient(sim.url, requests);
  const prepareMs = 400 / timeScale; // ~0.4 s real download + decode per image
  const backlogSize = quick ? 80 : 200;

  // 1. Backlog: occupancy and overhead, dispatcher vs direct.
  const backlog = register(
    makeJobs({ a: backlogSize / 4, b: backlogSize / 4, c: backlogSize / 4, d: backlogSize / 4 }, 1, true),
  );
  sim.reset(concurrency);
  await runDirect(engine, backlog, concurrency);
  const directStats = structuredClone(sim.stats());
  sim.reset(concurrency);
  const dispatched = await runDispatcher(engine, backlog, concurrency, { prepareMs });
  const dispatchedStats = structuredClone(sim.stats());
  const occupancy = (s: typeof directStats) => s.slotMs / (concurrency * (s.lastEnd - s.firstStart));

  // 2 and 3 measure order, not occupancy: a faster clock (100 ms reads) keeps them short.
  await sim.close();
  const orderScale = realMs / 100;
  const fast = await startSimEngine(profile, orderScale);
  const fastEngine = createSimClient(fast.url, requests);
  const fastPrepareMs = 400 / orderScale;

  // 2. STAT under saturation: a routine backlog plus STAT requests arriving through the run.
  const makespan = (dispatched.wallMs * timeScale) / orderScale;
  const statJobs = register(
    makeJobs({ stat: 10 }, 2, false).map((job, i) => ({
      ...job,
      stat: true,
      arriveAtMs: ((i + 1) * makespan) / 12,
    })),
  );
  const routine = register(
    makeJobs({ w: backlogSize / 4, x: backlogSize / 4, y: backlogSize / 4, z: backlogSize / 4 }, 3, true),
  );
  const statRun = await runDispatcher(fastEngine, [...routine, ...statJobs], concurrency, {
    prepareMs: fastPrepareMs,
  });
  const fifoRun = await runDispatcher(fastEngine, [...routine, ...statJobs], concurrency, {
    prepareMs: fastPrepareMs,
    fifo: true,
  });
  const statWaits = (run: RunResult) => statJobs.map((job) => run.waits.get(job.id)!);

  // 3. Fairness: one channel floods; Jain index over the starts while every channel is backlogged.
  // The first 2×C arrivals fill the empty pipeline in arrival order whatever the policy; the window
  // is the stretch after that in which every channel still has work waiting.
  const fairCounts = { flood: 90, b: 30, c: 16 + 2 * concurrency, d: 16 + 2 * concurrency };
  const fairJobs = register(makeJobs(fairCounts, 4, true).map((job) => ({ ...job, id: `f-${job.id}` })));
  const skip = 2 * concurrency;
  const shares = (run: RunResult) => {
    const counts: Record<string, number> = { flood: 0, b: 0, c: 0, d: 0 };
    for (const id of run.starts.slice(skip, skip + 4 * 16)) counts[id.split('-')[1]!]! += 1;
    return jain(Object.values(counts));
  };
  const fairRun = await runDispatcher(fastEngine, fairJobs, concurrency, { prepareMs: fastPrepareMs });
  const fairFifo = await runDispatcher(fastEngine, fairJobs, concurrency, {
    prepareMs: fastPrepareMs,
    fifo: true,
  });
  await fast.close();

  return {
    profile: `${profile.name} ×${concurrency}`,
    timeScale,
    occDirect: occupancy(directStats),
    occDispatch: occupancy(dispatchedStats),
    handoffDirect: mean(directStats.handoffMs),
    handoffDispatch: mean(dispatchedStats.handoffMs),
    statP95: percentile(statWaits(statRun), 95),
    fifoP95: percentile(statWaits(fifoRun), 95),
    jain: shares(fairRun),
    jainFifo: shares(fairFifo),
  };
}

const quick = process.argv.includes('--quick');
const meanArg = process.argv.find((arg) => arg.startsWith('--job-ms='));
const meanJobMs = meanArg ? Number(meanArg.slice('--job-ms='.length)) : quick ? 150 : 400;
// Batches of QUEUE_MAX's default (200): the queue never holds more in production.
const overhead = await measureOverhead(8, 200);
const results: Awaited<ReturnType<typeof benchProfile>>[] = [];
for (const [profile, concurrency] of [
  [profiles[0]!, 8],
  [profiles[1]!, 4],
] as const) {
  results.push(await benchProfile(profile, concurrency, quick, meanJobMs));
}

const f = (value: number, digits = 3) => value.toFixed(digits);
const rows: Array<[string, (r: (typeof results)[number]) => string, string]> = [
  ['time scale (real ÷ simulated)', (r) => `${f(r.timeScale, 1)}×`, ''],
  ['slot occupancy, direct client', (r) => f(r.occDirect), ''],
  ['slot occupancy, dispatcher', (r) => f(r.occDispatch), ''],
  ['busy ratio dispatcher / direct', (r) => f(r.occDispatch / r.occDirect), '≥ 0.97'],
  ['dispatcher main-thread time per job (ms)', () => f(overhead.cpuPerJobMs), '< 1'],
  ['admission + dispatch ceiling (jobs/s, one at a time)', () => f(overhead.jobsPerSec, 0), ''],
  [
    'slot hand-off gap, direct / dispatcher (ms, scaled time)',
    (r) => `${f(r.handoffDirect, 2)} / ${f(r.handoffDispatch, 2)}`,
    '',
  ],
  [
    'STAT p95 wait, dispatcher / FIFO (ms, 100 ms reads)',
    (r) => `${f(r.statP95, 0)} / ${f(r.fifoP95, 0)}`,
    '',
  ],
  ['STAT p95 ratio dispatcher / FIFO', (r) => f(r.statP95 / r.fifoP95), '≤ 0.1'],
  ['Jain fairness, backlogged channels (FIFO)', (r) => `${f(r.jain)} (${f(r.jainFifo)})`, '≥ 0.9'],
];
const header = ['metric', ...results.map((r) => r.profile), 'goal'];
const table = [header, ...rows.map(([name, cell, goal]) => [name, ...results.map(cell), goal])];
const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
for (const [index, row] of table.entries()) {
  console.log(`| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`);
  if (index === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
