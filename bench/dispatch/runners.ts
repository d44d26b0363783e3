import { loadConfig } from '../../src/config.ts';
import type { Engine } from '../../src/core/types.ts';
import { createDispatcher } from '../../src/dispatch/index.ts';
import { silentLogger } from '../../src/log.ts';
import { type BenchJob, benchImage } from './client.ts';

/** Workloads, the two runners (direct peer, dispatcher) and the dispatcher-cost measurement. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeJobs(counts: Record<string, number>, seed: number, shuffle: boolean): BenchJob[] {
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

export const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};
export const jain = (shares: number[]) =>
  shares.reduce((a, b) => a + b, 0) ** 2 / (shares.length * shares.reduce((a, b) => a + b * b, 0));
export const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

export interface RunResult {
  starts: string[];
  waits: Map<string, number>;
  cpuMs: number;
  wallMs: number;
}

/** The peer: C workers pulling pre-decoded jobs straight to the engine, no queue logic at all. */
export async function runDirect(engine: Engine, jobs: BenchJob[], concurrency: number): Promise<RunResult> {
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
export async function runDispatcher(
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

/**
 * Dispatcher cost alone: an engine that answers at once, so everything measured is admission,
 * queueing and bookkeeping. Warmed up first; CPU time of the process per job.
 */
export async function measureOverhead(concurrency: number, jobs: number) {
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
  // process do not count: what is left is admission, queueing and bookkeeping.
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
