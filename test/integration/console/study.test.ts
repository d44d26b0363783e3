import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleAdapter, createConsoleAdapter } from '../../../adapters/console/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { createTestBot, type TestBot } from '../../helpers/test-bot.ts';

/**
 * Study reads from the console (issue 17): the files of one message, posted as several multipart parts
 * over real loopback HTTP, are one read of all of them in the order posted. Real core, store and
 * pipeline; fake vLLM records what the model was sent.
 */

interface PageMessage {
  id: string;
  threadId: string;
  author: { kind: string };
  view: { kind: string; html: string };
}

let dir: string;
let engine: FakeOpenAI;
let bot: TestBot;
let adapter: ConsoleAdapter;
let base: string;
let cookie: string;

/** A synthetic grey field with one bright square; `level` tells the images apart. */
const picture = (level: number, width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: level, g: level, b: level } } })
    .composite([
      {
        input: { create: { width: 24, height: 24, channels: 3, background: { r: 240, g: 240, b: 240 } } },
        left: 20,
        top: 20,
      },
    ])
    .png()
    .toBuffer();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-console-study-'));
  engine = await startFakeOpenAI();
  bot = await createTestBot({
    engineUrl: engine.url,
    dataDir: join(dir, 'data'),
    config: { BURNED_IN_TEXT: 'flag' },
  });
  adapter = createConsoleAdapter(bot.config, { logger: silentLogger, port: 0 });
  bot.core.attach(adapter);
  await adapter.start(bot.core);
  await bot.core.start();
  base = adapter.url!.replace(/\/$/, '');
  cookie = ((await fetch(`${base}/`)).headers.get('set-cookie') ?? '').split(';')[0]!;
}, 60_000);

afterAll(async () => {
  await adapter?.stop();
  await bot?.close();
  await engine?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const reads = () => engine.requests.filter((r) => r.kind === 'read');
// biome-ignore lint/suspicious/noExplicitAny: request bodies are arbitrary JSON
const labelsSent = (body: any): string[] =>
  body.messages
    .find((m: { content: unknown }) => Array.isArray(m.content))
    .content.filter((part: { type: string }) => part.type === 'text')
    .map((part: { text: string }) => part.text);

/** Post one message with every file as its own `file` part, in order, as app.js does. */
async function postStudy(question: string, files: Array<{ bytes: Buffer; name: string }>) {
  const form = new FormData();
  form.append('channel', 'radiology');
  form.append('question', question);
  for (const file of files) form.append('file', new Blob([file.bytes], { type: 'image/png' }), file.name);
  const res = await fetch(`${base}/api/messages`, { method: 'POST', body: form, headers: { cookie } });
  return { status: res.status, body: (await res.json()) as { messageId?: string; outcome?: string } };
}

/** The page's messages as a newly opened page gets them: the snapshot event of /api/events. */
async function snapshot(): Promise<PageMessage[]> {
  const controller = new AbortController();
  const res = await fetch(`${base}/api/events`, { headers: { cookie }, signal: controller.signal });
  const reader = res.body!.getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    const start = text.indexOf('event: snapshot\n');
    if (start >= 0 && text.indexOf('\n\n', start) > 0) break;
  }
  controller.abort();
  const block = text.slice(text.indexOf('event: snapshot\n'));
  const data = block
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice('data: '.length))
    .join('\n');
  return (JSON.parse(data) as { messages: PageMessage[] }).messages;
}

async function cardFor(messageId: string): Promise<string> {
  let html = '';
  await expect
    .poll(
      async () => {
        const card = (await snapshot()).find(
          (m) => m.threadId === messageId && m.author.kind === 'bot' && m.view.kind === 'read',
        );
        html = card?.view.html ?? '';
        return html !== '';
      },
      { timeout: 30_000, interval: 100 },
    )
    .toBe(true);
  return html;
}

describe('console: several files in one message are one study', () => {
  it('reads two PNGs posted together as two labelled images, in order, and the card lists both', async () => {
    const before = reads().length;
    const { status, body } = await postStudy('PA and lateral: any effusion?', [
      { bytes: await picture(40, 128, 128), name: 'Doe_PA.png' },
      { bytes: await picture(90, 128, 96), name: 'Doe_LAT.png' },
    ]);
    expect(status).toBe(202);
    expect(body.outcome).toBe('accepted');
    const card = await cardFor(body.messageId!);

    const fresh = reads().slice(before);
    expect(fresh).toHaveLength(1);
    // Posted order kept: the 128×128 first, the 128×96 second.
    expect(fresh[0]!.images.map((facts) => [facts.width, facts.height])).toEqual([
      [128, 128],
      [128, 96],
    ]);
    expect(labelsSent(fresh[0]!.body).slice(0, 2)).toEqual(['Image 1 of 2', 'Image 2 of 2']);
    expect(card).toContain('2 images read together: Image 1 of 2; Image 2 of 2');

    // The user's own line says what was attached, never the file names.
    const mine = (await snapshot()).find((m) => m.id === body.messageId)!;
    expect(mine.view.html).toContain('Attached: 2 files: PNG image, PNG image');
    expect(JSON.stringify(await snapshot())).not.toContain('Doe_');
  }, 60_000);

  it('reads STUDY_MAX_IMAGES of five files and the card names the one left out', async () => {
    const before = reads().length;
    const files = await Promise.all(
      [30, 60, 90, 120, 150].map(async (level, index) => ({
        bytes: await picture(level, 96, 96),
        name: `slice-${index}.png`,
      })),
    );
    const { status, body } = await postStudy('Any change across these?', files);
    expect(status).toBe(202);
    const card = await cardFor(body.messageId!);
    const fresh = reads().slice(before);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.images).toHaveLength(bot.config.STUDY_MAX_IMAGES);
    expect(card).toContain(
      `${bot.config.STUDY_MAX_IMAGES} of 5 images read; the others were not sent: over the ${bot.config.STUDY_MAX_IMAGES}-image limit`,
    );
  }, 60_000);
});
