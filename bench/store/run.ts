/**
 * Store benchmark (issue 15): `npm run bench:store` (`--quick` for 1k / 10k). For each size it fills a
 * DATA_DIR with N finished jobs inside the retention window (with their answer cards, as a busy week
 * leaves them), then measures, side by side with the peer — release 0.1's whole-file rewrite (JSON of
 * the whole state → temp file → fsync → rename → fsync of the folder, what every change cost before):
 *   - the durable write an ack waits for (insertJob), p50 / p99 over sequential inserts;
 *   - start-up: opening the store with N jobs in the snapshot, and with N jobs only in the journal;
 *   - memory per stored job (heap after loading, after gc, divided by N).
 * Prints one table with the goals: ack p99 at 50k ≤ 2× that at 1k and < 20 ms; replay of 50k < 2 s.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.ts';
import { openStore } from '../../src/store/index.ts';
import { journalName } from '../../src/store/journal.ts';
import { writeSnapshot } from '../../src/store/snapshot.ts';
import { emptyState, type StateData } from '../../src/store/state.ts';
import type { StoredJob } from '../../src/store/types.ts';

const quick = process.argv.includes('--quick');
const sizes = quick ? [1_000, 10_000] : [1_000, 10_000, 50_000];
const gc = (globalThis as { gc?: () => void }).gc;

function storedJob(status: 'queued' | 'succeeded'): StoredJob {
  const id = randomUUID();
  const now = new Date().toISOString();
  const finding = {
    text: 'Small left basal opacity, likely atelectasis.',
    severity: 'mild',
    confidence: 0.71,
  };
  return {
    id,
    eventId: `Ev${id.slice(0, 12)}`,
    messageKey: `slack:C0123456:${Date.now()}.${id.slice(0, 6)}`,
    platform: 'slack',
    thread: { channelId: 'C0123456', threadId: `${Date.now()}.000100` },
    threadKey: `slack:C0123456:${id}`,
    userId: 'U0123456',
    userMessageId: `${Date.now()}.000100`,
    status,
    attempts: 1,
    priority: 0,
    createdAt: now,
    isFollowUp: false,
    imageRef: 'a'.repeat(64),
    request: {
      question: 'Any acute cardiopulmonary abnormality? Please compare with the prior film if possible.',
      attachments: [
        { platform: 'slack', fileId: 'F0123456', url: 'https://files.slack.com/x/F0123456', name: '' },
      ],
      receivedAt: now,
    },
    ...(status === 'succeeded'
      ? {
          finishedAt: now,
          statusMessageId: `${Date.now()}.000200`,
          postedMessageId: `${Date.now()}.000200`,
          answer: {
            kind: 'read',
            card: {
              urgency: 'routine',
              impression: 'No acute cardiopulmonary abnormality. Mild left basal atelectasis.',
              findings: [finding, finding, finding],
              recommendations: ['Clinical correlation.', 'Follow-up radiograph if symptoms persist.'],
              model: 'Qwen/Qwen3-VL-8B-Instruct',
              promptVersion: 'radiologist@3',
            },
          } as never,
        }
      : {}),
  };
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

/** A DATA_DIR holding `n` finished jobs: in the snapshot, or (journalOnly) only as journal lines. */
async function filledDir(n: number, journalOnly = false): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qr-bench-store-'));
  const state = emptyState(1);
  for (let index = 0; index < n; index += 1) {
    const job = storedJob('succeeded');
    state.jobs[job.id] = job;
  }
  if (!journalOnly) {
    await writeSnapshot(join(dir, 'state.json'), state);
    return dir;
  }
  await writeSnapshot(join(dir, 'state.json'), emptyState(1));
  const handle = await open(join(dir, journalName(1)), 'w');
  const lines = Object.values(state.jobs).map((job) => JSON.stringify({ t: 'jobs', k: job.id, v: job }));
  await handle.writeFile(`${lines.join('\n')}\n`);
  await handle.close();
  return dir;
}

async function ackWrites(dir: string, samples: number): Promise<number[]> {
  const store = await openStore(dir, { logger: silentLogger });
  // Warm-up (JIT, first journal pages) is not what an ack costs in a running bot.
  for (let index = 0; index < 20; index += 1) await store.insertJob(storedJob('queued'));
  const times: number[] = [];
  for (let index = 0; index < samples; index += 1) {
    const job = storedJob('queued');
    const started = performance.now();
    await store.insertJob(job);
    times.push(performance.now() - started);
  }
  await store.close();
  return times;
}

/** Release 0.1's write: the whole state as JSON, fsynced, renamed into place, folder fsynced. */
async function peerWrites(n: number, samples: number): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), 'qr-bench-peer-'));
  const state: StateData = emptyState(1);
  for (let index = 0; index < n; index += 1) {
    const job = storedJob('succeeded');
    state.jobs[job.id] = job;
  }
  const times: number[] = [];
  for (let index = 0; index < samples; index += 1) {
    const job = storedJob('queued');
    const started = performance.now();
    state.jobs[job.id] = job;
    const handle = await open(join(dir, '.state.json.tmp'), 'w');
    await handle.writeFile(JSON.stringify(state));
    await handle.sync();
    await handle.close();
    await rename(join(dir, '.state.json.tmp'), join(dir, 'state.json'));
    const folder = await open(dir, constants.O_RDONLY);
    await folder.sync();
    await folder.close();
    times.push(performance.now() - started);
  }
  await rm(dir, { recursive: true, force: true });
  return times;
}

async function startUp(dir: string): Promise<{ ms: number; heapPerJob: number }> {
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const store = await openStore(dir, { logger: silentLogger });
  const ms = performance.now() - started;
  gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  const jobs = (await store.listJobs()).length;
  await store.close();
  return { ms, heapPerJob: (heapAfter - heapBefore) / Math.max(1, jobs) };
}

const rows: string[][] = [];
const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
const ackP99: Record<number, number> = {};
let replay50k: number | undefined;
for (const n of sizes) {
  const dir = await filledDir(n);
  const acks = await ackWrites(dir, 400);
  const boot = await startUp(dir);
  await rm(dir, { recursive: true, force: true });
  const journalDir = await filledDir(n, true);
  const replay = await startUp(journalDir);
  await rm(journalDir, { recursive: true, force: true });
  const peer = await peerWrites(n, n >= 50_000 ? 5 : n >= 10_000 ? 15 : 50);
  ackP99[n] = percentile(acks, 99);
  if (n === 50_000) replay50k = Math.max(boot.ms, replay.ms);
  rows.push([
    `${n / 1000}k`,
    fmt(percentile(acks, 50)),
    fmt(percentile(acks, 99)),
    fmt(percentile(peer, 50)),
    fmt(percentile(peer, 99)),
    `${(percentile(peer, 50) / percentile(acks, 50)).toFixed(0)}×`,
    fmt(boot.ms),
    fmt(replay.ms),
    gc ? `${(boot.heapPerJob / 1024).toFixed(1)}` : 'n/a (run with --expose-gc)',
  ]);
}

const header = [
  'stored jobs',
  'ack p50 ms',
  'ack p99 ms',
  'peer p50 ms',
  'peer p99 ms',
  'peer/ours p50',
  'start (snapshot) ms',
  'start (journal only) ms',
  'heap KiB/job',
];
const widths = header.map((title, index) => Math.max(title.length, ...rows.map((row) => row[index]!.length)));
const line = (cells: string[]) => cells.map((cell, index) => cell.padStart(widths[index]!)).join(' | ');
console.log('quickread store — durable ack write and start-up vs release 0.1 (whole-file rewrite, the peer)');
console.log(line(header));
console.log(widths.map((width) => '-'.repeat(width)).join('-|-'));
for (const row of rows) console.log(line(row));
console.log('');
const big = sizes.at(-1)!;
const ratio = ackP99[big]! / ackP99[1_000]!;
console.log(
  `goal: ack p99 at ${big / 1000}k ≤ 2× that at 1k: ${ratio.toFixed(2)}× ${ratio <= 2 ? 'PASS' : 'FAIL'}; < 20 ms: ${fmt(ackP99[big]!)} ms ${ackP99[big]! < 20 ? 'PASS' : 'FAIL'}`,
);
if (replay50k !== undefined)
  console.log(
    `goal: start-up with 50k jobs < 2 s: ${fmt(replay50k)} ms ${replay50k < 2000 ? 'PASS' : 'FAIL'}`,
  );
else console.log('goal: start-up with 50k jobs < 2 s: run without --quick');
