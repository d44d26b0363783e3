/**
 * Ack latency of the Slack adapter's HTTP receiver under a stream of signed deliveries, side by side
 * with a bare Bolt HTTPReceiver app (Bolt's defaults: ack before listeners, its own signature check)
 * in the same process. Default `--mode interleaved`: both streams run at the full rate at the same
 * time, offset by half a gap, so a noisy neighbour hits both alike; `--mode alternate` runs them
 * round by round instead (first one, then the other, order swapped each round).
 *
 *   npx tsx bench/slack-ack/run.ts [--seconds 3] [--rounds 2] [--rates 10,50,100] [--mode interleaved]
 *
 * Goal (issue #6): p99 < 100 ms at 50/s and quickread's p99 ≤ 1.2× the bare receiver's.
 * The adapter's core is an in-memory double whose handle() resolves at once, so the numbers are the
 * adapter's own cost (verify, map, dedupe, ack), not the store's fsync.
 */
import { parseArgs } from 'node:util';
import { App, HTTPReceiver, LogLevel } from '@slack/bolt';
import { createSlackAdapter } from '../../adapters/slack/index.ts';
import { loadConfig } from '../../src/config.ts';
import type { BotCore } from '../../src/core/adapter.ts';
import { silentLogger } from '../../src/log.ts';
import { startFakeSlack } from '../../test/fakes/slack-server.ts';
import { eventEnvelope, slackSignatureHeaders } from '../../test/helpers/slack-sign.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    rates: { type: 'string', default: '10,50,100' },
    mode: { type: 'string', default: 'interleaved' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const rates = values.rates.split(',').map(Number);

const SECRET = 'bench-signing-secret';
const TOKEN = 'xoxb-bench';
const fake = await startFakeSlack({ botToken: TOKEN });

let accepted = 0;
const core: BotCore = {
  async handle(request) {
    accepted += 1;
    return { kind: 'accepted', jobId: request.eventId, position: 1, etaSec: 1 };
  },
  act: async () => ({ done: false }),
  react: async () => undefined,
  command: () => ({ kind: 'info', title: 'help', lines: [] }),
  queueStatus: () => ({ queued: 0, running: 0, engineUp: true, etaSec: 0, model: 'm', promptVersion: 'p' }),
};

const adapter = createSlackAdapter(
  loadConfig({
    SLACK_BOT_TOKEN: TOKEN,
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_MODE: 'http',
    SLACK_PORT: '0',
    SLACK_API_URL: fake.apiUrl,
    SLACK_FILE_HOSTS: fake.origin,
    LOG_LEVEL: 'silent',
  }),
  { logger: silentLogger, host: '127.0.0.1' },
);
await adapter.start(core);
const oursUrl = `http://127.0.0.1:${adapter.httpAddress()!.port}/slack/events`;

let bareSeen = 0;
const bareReceiver = new HTTPReceiver({ signingSecret: SECRET, logLevel: LogLevel.ERROR });
const bare = new App({
  token: TOKEN,
  receiver: bareReceiver,
  logLevel: LogLevel.ERROR,
  clientOptions: { slackApiUrl: fake.apiUrl },
});
bare.event('app_mention', async () => {
  bareSeen += 1;
});
const bareServer = (await bare.start({ port: 0, host: '127.0.0.1' })) as import('node:http').Server;
const bareUrl = `http://127.0.0.1:${(bareServer.address() as import('node:net').AddressInfo).port}/slack/events`;

const file = fake.addFile(Buffer.from('89504e470d0a1a0a', 'hex'));
let seq = 0;

async function deliverOne(url: string): Promise<number> {
  seq += 1;
  const ts = `17${String(seq).padStart(8, '0')}.000100`;
  const body = JSON.stringify(
    eventEnvelope(
      {
        type: 'app_mention',
        channel: 'CBENCH',
        user: 'UBENCH',
        text: `<@${fake.botUserId}> read`,
        ts,
        files: [file],
      },
      `EvBench${seq}`,
    ),
  );
  const started = performance.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...slackSignatureHeaders(SECRET, body) },
    body,
  });
  const elapsed = performance.now() - started;
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`delivery answered ${response.status}`);
  return elapsed;
}

/**
 * Open loop: requests leave on schedule whether or not earlier ones were answered. Each URL gets
 * `perSecond` deliveries a second; several URLs are offset evenly inside one gap.
 */
async function streams(urls: string[], perSecond: number): Promise<number[][]> {
  const total = Math.round(perSecond * seconds);
  const gap = 1000 / perSecond;
  const t0 = performance.now();
  const pending: Promise<number>[][] = urls.map(() => []);
  for (let i = 0; i < total; i += 1) {
    for (const [k, url] of urls.entries()) {
      const wait = t0 + i * gap + (k * gap) / urls.length - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending[k]!.push(deliverOne(url));
    }
  }
  return Promise.all(pending.map((p) => Promise.all(p)));
}
const stream = async (url: string, perSecond: number) => (await streams([url], perSecond))[0]!;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

// Warm both paths (JIT, keep-alive sockets).
await stream(oursUrl, 50);
await stream(bareUrl, 50);

const rows: string[] = [];
for (const rate of rates) {
  const ours: number[] = [];
  const base: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    if (values.mode === 'interleaved') {
      const [a, b] = await streams(round % 2 === 0 ? [oursUrl, bareUrl] : [bareUrl, oursUrl], rate);
      ours.push(...(round % 2 === 0 ? a! : b!));
      base.push(...(round % 2 === 0 ? b! : a!));
    } else if (round % 2 === 0) {
      // Alternate which goes first so neither always runs on a warmer machine.
      ours.push(...(await stream(oursUrl, rate)));
      base.push(...(await stream(bareUrl, rate)));
    } else {
      base.push(...(await stream(bareUrl, rate)));
      ours.push(...(await stream(oursUrl, rate)));
    }
  }
  ours.sort((a, b) => a - b);
  base.sort((a, b) => a - b);
  const [o50, o99, b50, b99] = [pct(ours, 50), pct(ours, 99), pct(base, 50), pct(base, 99)];
  const ratio = o99 / b99;
  const goal = rate === 50 ? (o99 < 100 && ratio <= 1.2 ? 'met' : 'MISSED') : '';
  rows.push(
    `| ${String(rate).padStart(5)} | ${String(ours.length).padStart(5)} | ${o50.toFixed(2).padStart(8)} | ${o99.toFixed(2).padStart(8)} | ${b50.toFixed(2).padStart(8)} | ${b99.toFixed(2).padStart(8)} | ${ratio.toFixed(2).padStart(10)} | ${goal.padEnd(6)} |`,
  );
}

console.log(
  `\nSlack ack latency, ms (open-loop signed deliveries, ${values.mode}, ${seconds} s × ${rounds} rounds per rate, Node ${process.version})\n`,
);
console.log('| rate/s |     n | ours p50 | ours p99 | bare p50 | bare p99 | p99 ratio | goal   |');
console.log('|-------:|------:|---------:|---------:|---------:|---------:|----------:|:-------|');
for (const row of rows) console.log(row);
console.log(`\nhandled by the adapter: ${accepted}; by the bare app: ${bareSeen}`);

await adapter.stop();
await bare.stop();
await fake.close();
