/**
 * A bot process for the crash tests (test/integration/crash): the real store, dispatcher and bot core
 * with a recording adapter that appends (and fsyncs) every post and edit to OPS_FILE, and an in-test
 * engine. PAUSE_AT stops the first job at a phase and prints `PAUSED <phase>` so the test can SIGKILL
 * the process there; the pause points live here, in the test script, never in the product.
 *
 * env: DATA_DIR, OPS_FILE, INFER_FILE, REQUESTS (count), SUBMIT=1 (post the requests), PAUSE_AT
 * (queued | reading | answered | posted | none). Prints `ACCEPTED <n>`, `PAUSED <phase>`, `DONE`.
 */
import { appendFileSync } from 'node:fs';
import { loadConfig } from '../../src/config.ts';
import { createBotCore } from '../../src/core/bot.ts';
import type { InboundRequest } from '../../src/core/types.ts';
import { createDispatcher } from '../../src/dispatch/index.ts';
import { silentLogger } from '../../src/log.ts';
import { openStore } from '../../src/store/index.ts';
import { createTestEngine, fakePrepare } from './core-doubles.ts';
import { createRecordingAdapter } from './recording-adapter.ts';

const env = process.env;
const pauseAt = env.PAUSE_AT ?? 'none';
const count = Number(env.REQUESTS ?? '3');
const never = () => new Promise<void>(() => undefined);
const say = (line: string) => process.stdout.write(`${line}\n`);
let paused = false;
let submitted: () => void = () => undefined;
const allSubmitted = new Promise<void>((resolve) => {
  submitted = resolve;
});
let statusesDurable: () => Promise<void> = async () => undefined;
const pause = async (phase: string) => {
  if (pauseAt !== phase || paused) return;
  paused = true;
  await allSubmitted;
  await statusesDurable();
  say(`PAUSED ${phase}`);
  await never();
};

export function crashRequest(index: number): InboundRequest {
  return {
    eventId: `ev-${index}`,
    messageKey: `console:radiology:msg-${index}`,
    platform: 'console',
    thread: { channelId: 'radiology', threadId: `msg-${index}` },
    userId: `U${index}`,
    question: `q-${index}`,
    attachments: [
      { platform: 'console', fileId: `image-${index}`, url: `console-upload:${index}`, name: 'x.png' },
    ],
    receivedAt: new Date().toISOString(),
  };
}

async function main(): Promise<void> {
  const config = loadConfig({ DATA_DIR: env.DATA_DIR, CONSOLE_PORT: '0', ENGINE_CONCURRENCY: '1' });
  const store = await openStore(config.DATA_DIR, { logger: silentLogger });
  const engine = createTestEngine({ hold: pauseAt === 'reading' });
  if (pauseAt === 'queued') engine.setDown(true);
  const infer = engine.infer.bind(engine);
  // When the first job is paused after its read, the others stay reading (a defined phase too).
  const holdOthers = pauseAt === 'answered' || pauseAt === 'posted';
  engine.infer = (input, signal) => {
    appendFileSync(env.INFER_FILE!, `${input.question}\n`);
    if (holdOthers && input.question !== 'q-0') return never() as never;
    return infer(input, signal);
  };
  const dispatcher = createDispatcher({
    engine,
    config,
    logger: silentLogger,
    healthPollMs: { min: 20, max: 50 },
  });
  const core = createBotCore({
    config,
    logger: silentLogger,
    store,
    dispatcher,
    engine,
    prepare: fakePrepare,
    statusEditIntervalMs: 0,
  });
  const adapter = createRecordingAdapter({
    file: env.OPS_FILE!,
    before: async (op, message) => {
      if (message?.kind === 'read' && (op === 'update' || op === 'post')) await pause('answered');
      if (op === 'preview') await pause('posted');
    },
  });
  // Killing between a post and the durable write of its id would leave a stray status message (no
  // platform offers an idempotent post); phases are taken once every status id is on disk.
  statusesDurable = async () => {
    for (;;) {
      const jobs = await store.listJobs();
      if (jobs.length === count && jobs.every((job) => job.statusMessageId)) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await store.updateJob((await store.listJobs())[0]!.id, {});
  };
  core.attach(adapter);
  await adapter.start(core);
  await core.start();
  if (env.SUBMIT === '1') {
    for (let i = 0; i < count; i += 1) {
      const outcome = await core.handle(crashRequest(i));
      say(`ACCEPTED ${outcome.kind}`);
    }
  } else {
    // The platform redelivers what it never saw acked: every one must come back as a duplicate.
    for (let i = 0; i < count; i += 1) say(`REDELIVERED ${(await core.handle(crashRequest(i))).kind}`);
  }
  submitted();
  for (;;) {
    const jobs = await store.listJobs();
    if (pauseAt === 'queued') await pause('queued');
    if (pauseAt === 'reading' && engine.pending.length > 0) await pause('reading');
    const finished = jobs.filter((job) => ['succeeded', 'failed', 'cancelled'].includes(job.status));
    if (jobs.length === count && finished.length === count) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  say('DONE');
  await core.stop();
  await store.close();
  adapter.close();
}

await main();
