/**
 * Dispatcher benchmark (issue #5): `npx tsx bench/dispatch/run.ts`. Runs a simulated GPU server on
 * loopback (sim-engine.ts: H100 and RTX 3090 profiles, time-scaled) and compares, side by side:
 *   - engine slot occupancy during a 200-job backlog: dispatcher vs a client driving the engine
 *     directly with the same concurrency and pre-decoded images (the ideal peer);
 *   - dispatcher CPU overhead per job and the slot hand-off gap;
 *   - STAT p95 wait under saturation: dispatcher vs the same pipeline in FIFO order;
 *   - Jain fairness across backlogged channels: dispatcher vs FIFO.
 */
import { loadConfig } from '../../src/config.ts';
import type { Engine } from '../../src/core/types.ts';
import { createDispatcher } from '../../src/dispatch/index.ts';
import { silentLogger } from '../../src/log.ts';
import { type BenchJob, benchImage, createSimClient } from './client.ts';
import { type GpuProfile, profiles, type SimRequest, startSimEngine } from './sim-engine.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeJobs(counts: Record<string, number>, seed: number, shuffle: boolean): BenchJob[] {
  const random = rng(seed);
  const jobs: BenchJob[] = [];
  for (const [channelId, count] of Object.entries(counts)) {
    for (let i = 0; i < count; i += 1) {
      const r = random();
      const imageTokens = r < 0.6 ? 1024 : r < 0.85 ? 576 : 256;
      jobs.push({
        id: `${channelId}-${i}`,
        channelId,
        userId: `user-${Math.floor(random() * 20)}`,
        stat: false,
        request: { imageTokens, promptTokens: 250, outputTokens: 150 + Math.floor(random() * 250) },
        arriveAtMs: 0,
      });
    }
  }
  if (shuffle) {
    for (let i = jobs.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      [jobs[i], jobs[j]] = [jobs[j]!, jobs[i]!];
    }
  }
  return jobs;
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};
const jain = (shares: number[]) =>
  shares.reduce((a, b) => a + b, 0) ** 2 / (shares.length * shares.reduce((a, b) => a + b * b, 0));
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

interface RunResult {
  starts: string[];
  waits: Map<string, number>;
  cpuMs: number;
  wallMs: number;
}

/** The peer: C workers pulling pre-decoded jobs straight to the engine, no queue logic at all. */
async function runDirect(engine: Engine, jobs: BenchJob[], concurrency: number): Promise<RunResult> {
  const starts: string[] = [];
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      starts.push(job.id);
      await engine.infer(
        { image: benchImage(job.request.imageTokens), question: job.id, history: [] },
        new AbortController().signal,
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(cpu);
  return {
    starts,
    waits: new Map(),
    cpuMs: (used.user + used.system) / 1000,
    wallMs: performance.now() - t0,
  };
}

/** The dispatcher, with a prepare step (download + decode) it must overlap with the engine. */
async function runDispatcher(
  engine: Engine,
  jobs: BenchJob[],
  concurrency: number,
  options: { prepareMs: number; fifo?: boolean },
): Promise<RunResult> {
  const config = loadConfig({
    ENGINE_CONCURRENCY: String(concurrency),
    QUEUE_MAX: '100000',
    USER_RATE_PER_MIN: '10000',
  });
  const dispatcher = createDispatcher({
    engine,
    config,
    logger: silentLogger,
    initialServiceMs: 150,
    agingMs: options.fifo ? Number.POSITIVE_INFINITY : 60_000,
  });
  const starts: string[] = [];
  const waits = new Map<string, number>();
  dispatcher.events.on('started', (event: { id: string; waitMs: number }) => {
    starts.push(event.id);
    waits.set(event.id, event.waitMs);
  });
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const all: Promise<unknown>[] = [];
  const byArrival = [...jobs].sort((a, b) => a.arriveAtMs - b.arriveAtMs);
  for (const job of byArrival) {
    const delay = job.arriveAtMs - (performance.now() - t0);
    if (delay > 0) await sleep(delay);
    await dispatcher.admit(job.userId);
    all.push(
      dispatcher.schedule({
        id: job.id,
        userId: job.userId,
        channelId: options.fifo ? 'all' : job.channelId,
        priority: job.stat && !options.fifo ? 10 : 0,
        input: async () => {
          await sleep(options.prepareMs);
          return { image: benchImage(job.request.imageTokens), question: job.id, history: [] };
        },
      }),
    );
  }
  await Promise.all(all);
  const used = process.cpuUsage(cpu);
  await dispatcher.stop();
  return { starts, waits, cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - t0 };
}

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

/**
 * Dispatcher cost alone: an engine that answers at once, so everything measured is admission,
 * queueing, Bottleneck and bookkeeping. Warmed up first; CPU time of the process per job.
 */
async function measureOverhead(concurrency: number, jobs: number) {
  const instant: Engine = {
    id: 'instant',
    model: 'instant',
    health: async () => ({ ok: true }),
    infer: async () => ({
      findings: [],
      impression: '',
      urgency: 'routine',
      recommendations: [],
      engineId: 'instant',
      model: 'instant',
      promptVersion: 'bench@1',
      tokens: { prompt: 0, completion: 0, image: 0 },
      latencyMs: 0,
    }),
  };
  const input = { image: benchImage(1024), question: 'q', history: [] };
  // Main-thread busy time (event-loop utilisation), so the loader thread and GC helpers of the
  // process do not count: what is left is admission, queueing, Bottleneck and bookkeeping.
  const busyMs = async (work: () => Promise<void>) => {
    const before = performance.eventLoopUtilization();
    await work();
    return performance.eventLoopUtilization(before).active;
  };
  const once = async () => {
    let next = 0;
    const direct = await busyMs(async () => {
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next++ < jobs) await instant.infer(input, new AbortController().signal);
        }),
      );
    });
    const config = loadConfig({
      ENGINE_CONCURRENCY: String(concurrency),
      QUEUE_MAX: '100000',
      USER_RATE_PER_MIN: '10000',
    });
    const dispatcher = createDispatcher({ engine: instant, config, logger: silentLogger });
    const t0 = performance.now();
    const dispatched = await busyMs(async () => {
      const all: Promise<unknown>[] = [];
      for (let i = 0; i < jobs; i += 1) {
        await dispatcher.admit(`u${i % 20}`);
        all.push(
          dispatcher.schedule({
            id: `o${i}`,
            userId: `u${i % 20}`,
            channelId: `c${i % 4}`,
            priority: i % 10 === 0 ? 10 : 0,
            input,
            onUpdate: () => undefined,
          }),
        );
      }
      await Promise.all(all);
    });
    const wallMs = performance.now() - t0;
    await dispatcher.stop();
    return { cpuPerJobMs: (dispatched - direct) / jobs, jobsPerSec: (jobs / wallMs) * 1000 };
  };
  await once();
  const runs = [await once(), await once(), await once()];
  return {
    cpuPerJobMs: Math.min(...runs.map((r) => r.cpuPerJobMs)),
    jobsPerSec: Math.max(...runs.map((r) => r.jobsPerSec)),
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
