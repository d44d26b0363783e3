import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { captureLogger } from '../../helpers/capture-log.ts';
import { el, imageElements, writeDicom } from '../../helpers/dicom-writer.ts';
import type { TestBot } from '../../helpers/test-bot.ts';
import {
  attachment,
  buttonInteraction,
  type DiscordWorld,
  messageCreate,
  readInteraction,
  startDiscordWorld,
  waitFor,
} from './harness.ts';
import { startWithRealBot } from './suites.ts';

/**
 * End to end: the real discord.js client ⇄ loopback Discord (gateway + REST + CDN) ⇄ the real bot core
 * (store, dispatcher, image pipeline, OpenAI engine client) ⇄ a loopback vLLM-shaped engine whose
 * finding label tries to ping @everyone.
 */

let world: DiscordWorld;
let engine: FakeOpenAI;
let bot: TestBot;
let adapter: ChatAdapter;
let dataDir: string;
let png: Buffer;
const log = captureLogger('debug');

const reads = () => engine.requests.filter((request) => request.kind === 'read');
const sentTo = (channelId: string) =>
  world.rest.calls.filter(
    (call) => call.path.startsWith(`/channels/${channelId}/messages`) && call.method !== 'GET',
  );
const lastEmbedIn = (channelId: string) =>
  sentTo(channelId)
    .filter((call) => call.body?.embeds?.length)
    .at(-1)?.body.embeds[0];

async function gradientPng(seed: number): Promise<Buffer> {
  const size = 96;
  const raw = Buffer.alloc(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) raw[y * size + x] = (x * 2 + y + seed) % 256;
  return sharp(raw, { raw: { width: size, height: size, channels: 1 } })
    .png()
    .toBuffer();
}

beforeAll(async () => {
  engine = await startFakeOpenAI({
    findings: [{ label: 'Nodule @everyone', location: 'right upper lobe <@123456789012345678>', sizeMm: 9 }],
    impression: 'Nodule — @here please review https://evil.example',
  });
  // Several reads by one user within a minute: above the default per-user rate.
  world = await startDiscordWorld({ USER_RATE_PER_MIN: '30' });
  dataDir = await mkdtemp(join(tmpdir(), 'qr-discord-e2e-'));
  ({ bot, adapter } = await startWithRealBot(world, { engineUrl: engine.url, dataDir, logger: log.logger }));
  png = await gradientPng(1);
});

afterAll(async () => {
  await adapter?.stop();
  await bot?.close();
  await engine?.close();
  await world?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('Discord end to end with the real bot core', () => {
  let threadId = '';

  it('mention with an image → a thread on the message → the read in the thread, with confidence', async () => {
    const url = world.cdn.add('/attachments/10/20/chest.png', png, 'image/png');
    const message = messageCreate(world, {
      content: `<@${world.botId}> any nodule?`,
      mention: true,
      attachments: [attachment(url, 'chest.png', png.length)],
    });
    threadId = message.id;
    world.gateway.dispatch('MESSAGE_CREATE', message);
    const embed = await waitFor(
      () => {
        const last = lastEmbedIn(threadId);
        return last?.fields?.some((field: { value: string }) => /\d+%/.test(field.value)) ? last : undefined;
      },
      20_000,
      'the read in the thread',
    );
    expect(
      world.rest.calls.some(
        (call) => call.route === `/channels/${world.channelId}/messages/${message.id}/threads`,
      ),
    ).toBe(true);
    expect(embed.title).toMatch(/quickread read/);
    expect(embed.fields[0].name).toContain('Nodule');
    expect(embed.footer.text).toContain('not for diagnostic use');
    // The de-identified preview is re-rendered, never the original upload.
    const preview = await waitFor(
      () => sentTo(threadId).find((call) => call.files.length > 0),
      10_000,
      'the preview',
    );
    expect(preview.files[0]!.bytes.subarray(1, 4).toString()).toBe('PNG');
    expect(preview.files[0]!.bytes.equals(png)).toBe(false);
    await waitFor(
      () => world.rest.calls.find((call) => call.method === 'PUT' && call.path.includes('/reactions/✅/')),
      10_000,
      'the done reaction',
    );
    expect(world.cdn.requests.every((request) => request.headers.authorization === undefined)).toBe(true);
  });

  it('a follow-up in the thread sends the history and the same image to the engine', async () => {
    const before = reads().length;
    const message = messageCreate(world, {
      content: 'is it calcified?',
      channelId: threadId,
      channelType: 11,
    });
    world.gateway.dispatch('MESSAGE_CREATE', message);
    await waitFor(() => reads().length > before, 20_000, 'the follow-up read');
    const request = reads().at(-1)!;
    const messages = request.body.messages as { role: string; content: unknown }[];
    expect(messages.some((m) => m.role === 'assistant')).toBe(true);
    expect(JSON.stringify(messages)).toContain('is it calcified?');
    expect(JSON.stringify(messages)).toContain('image_url');
    expect(world.cdn.requests).toHaveLength(1); // the stored prepared image, no new download
    await waitFor(() => lastEmbedIn(threadId)?.title?.includes('follow-up'), 20_000, 'the follow-up card');
  });

  it('/read defers within the deadline and the @original edit carries the read', async () => {
    const url = world.cdn.add('/attachments/10/21/knee.png', await gradientPng(7), 'image/png');
    const interaction = readInteraction(world, attachment(url, 'knee.png', 1000), 'effusion?');
    world.gateway.dispatch('INTERACTION_CREATE', interaction);
    const calls = () => world.rest.calls.filter((call) => call.path.includes(interaction.token));
    await waitFor(
      () => calls().some((call) => call.method === 'PATCH' && /\d+%/.test(JSON.stringify(call.body))),
      20_000,
      'the read in the deferred response',
    );
    expect(calls()[0]).toMatchObject({ method: 'POST', body: { type: 5 } });
    expect(calls()[1]?.path).toMatch(/\/messages\/@original$/);
  });

  it('/read in a channel starts a thread on its response, and a plain message there is a follow-up about that image', async () => {
    const image = await gradientPng(11);
    const url = world.cdn.add('/attachments/10/22/ankle.png', image, 'image/png');
    const interaction = readInteraction(world, attachment(url, 'ankle.png', image.length), 'any fracture?');
    const mark = world.rest.calls.length;
    world.gateway.dispatch('INTERACTION_CREATE', interaction);
    const start = await waitFor(
      () =>
        world.rest.calls
          .slice(mark)
          .find(
            (call) => call.method === 'POST' && /^\/channels\/\d+\/messages\/\d+\/threads$/.test(call.path),
          ),
      20_000,
      'the thread on the response',
    );
    expect(start.path.startsWith(`/channels/${world.channelId}/`)).toBe(true);
    const readThread = start.path.split('/')[4]!;
    await waitFor(
      () => JSON.stringify(world.rest.messages.get(readThread)?.embeds ?? []).includes('quickread read'),
      20_000,
      'the read at the head of its thread',
    );
    const firstRead = reads().at(-1)!;
    const downloads = world.cdn.requests.length;
    const before = reads().length;
    world.gateway.dispatch(
      'MESSAGE_CREATE',
      messageCreate(world, { content: 'which bone?', channelId: readThread, channelType: 11 }),
    );
    await waitFor(() => reads().length > before, 20_000, 'the follow-up read');
    const followUp = JSON.stringify(reads().at(-1)!.body.messages);
    expect(followUp).toContain('which bone?');
    expect(followUp).toContain('any fracture?'); // the /read's question is the thread's history
    // The same prepared image, from the store: nothing downloaded again.
    const imageOf = (body: string) => /data:image\/png;base64,[A-Za-z0-9+/=]+/.exec(body)?.[0];
    expect(imageOf(followUp)).toBe(imageOf(JSON.stringify(firstRead.body.messages)));
    expect(world.cdn.requests.length).toBe(downloads);
    await waitFor(() => lastEmbedIn(readThread)?.title?.includes('follow-up'), 20_000, 'the follow-up card');
  });

  it('Acknowledge is recorded by the core and the card in the thread shows who acknowledged', async () => {
    const card = [...world.rest.messages.values()].find(
      (message) => message.channel_id === threadId && JSON.stringify(message.components).includes('qr:ack:'),
    )!;
    const customId = card.components[0].components[0].custom_id as string;
    const click = buttonInteraction(world, customId, card);
    world.gateway.dispatch('INTERACTION_CREATE', click);
    const edit = await waitFor(
      () =>
        world.rest.calls.find(
          (call) =>
            call.method === 'PATCH' &&
            call.path === `/channels/${threadId}/messages/${card.id}` &&
            JSON.stringify(call.body).includes('"Acknowledged"'),
        ),
      10_000,
      'the acknowledged card',
    );
    expect(
      edit.body.embeds[0].fields.find((f: { name: string }) => f.name === 'Acknowledged').value,
    ).toContain(`<@${world.userId}>`);
    expect(world.rest.calls.find((call) => call.path.includes(click.token))?.body).toEqual({ type: 6 });
  });

  it('model text cannot mention anyone: every outgoing message has allowed_mentions.parse = [] and the text is inert', () => {
    const outgoing = world.rest.calls.filter(
      (call) =>
        (call.method === 'POST' || call.method === 'PATCH') &&
        (/^\/channels\/\d+\/messages(\/\d+)?$/.test(call.route) || call.route.startsWith('/webhooks/')),
    );
    expect(outgoing.length).toBeGreaterThan(4);
    for (const call of outgoing) {
      expect(call.body.allowed_mentions?.parse, `${call.method} ${call.route}`).toEqual([]);
      const text = JSON.stringify(call.body);
      expect(text).not.toMatch(/@everyone|@here|<@123456789012345678>|https:\/\/evil/);
    }
    expect(outgoing.some((call) => JSON.stringify(call.body).includes('Nodule @\u200beveryone'))).toBe(true);
  });

  it('an attachment on another origin is refused and never fetched', async () => {
    const url = world.foreign.add('/x.png', png, 'image/png');
    const message = messageCreate(world, {
      content: `<@${world.botId}> read`,
      mention: true,
      attachments: [attachment(url, 'x.png', png.length)],
    });
    world.gateway.dispatch('MESSAGE_CREATE', message);
    const embed = await waitFor(
      () => {
        const last = lastEmbedIn(message.id);
        return last?.footer?.text?.includes('DOWNLOAD_FORBIDDEN_HOST') ? last : undefined;
      },
      20_000,
      'the refusal',
    );
    expect(embed.title).toBe('⚠️ Not read');
    expect(world.foreign.requests).toHaveLength(0);
  });

  it('a MESSAGE_CREATE replayed after a resume yields one read', async () => {
    const url = world.cdn.add('/attachments/10/22/hand.png', await gradientPng(3), 'image/png');
    const message = messageCreate(world, {
      content: `<@${world.botId}> fracture?`,
      mention: true,
      attachments: [attachment(url, 'hand.png', 1000)],
    });
    const before = reads().length;
    const seq = world.gateway.dispatch('MESSAGE_CREATE', message);
    await waitFor(() => lastEmbedIn(message.id)?.fields?.length, 20_000, 'the first read');
    const resumed = world.gateway.resumed();
    await world.gateway.disconnect({ replayFrom: seq - 1 });
    await resumed;
    await waitFor(
      () => log.lines().some((line) => line.includes(message.id) && line.includes('duplicate')),
      10_000,
      'the replay to be seen',
    );
    expect(reads().length - before).toBe(1);
    expect(
      world.rest.calls.filter((call) => call.route.endsWith(`/messages/${message.id}/threads`)),
    ).toHaveLength(1);
  });

  it('DISCORD_PHI=refuse: a DICOM naming the patient gets a clear refusal', async () => {
    const rows = 32;
    const pixels = new Uint8Array(rows * rows).map((_, i) => (i * 7) % 256);
    const dicom = Buffer.from(
      writeDicom(
        imageElements({
          rows,
          columns: rows,
          bitsAllocated: 8,
          pixels,
          extra: [
            el(0x00100010, 'PN', 'Doe^Jane'),
            el(0x00100020, 'LO', 'MRN-0042'),
            el(0x00080060, 'CS', 'CT'),
          ],
        }),
      ),
    );
    const url = world.cdn.add('/attachments/10/23/IM0001', dicom, 'application/dicom');
    const message = messageCreate(world, {
      content: `<@${world.botId}>`,
      mention: true,
      attachments: [attachment(url, 'IM0001', dicom.length, 'application/dicom')],
    });
    world.gateway.dispatch('MESSAGE_CREATE', message);
    const embed = await waitFor(
      () => {
        const last = lastEmbedIn(message.id);
        return last?.footer?.text?.startsWith('PHI_PRESENT') ? last : undefined;
      },
      20_000,
      'the PHI refusal',
    );
    expect(embed.title).toContain('patient identity');
    expect(embed.description).toContain('no business associate agreement');
    expect(JSON.stringify(world.rest.calls.map((call) => call.body))).not.toContain('Doe^Jane');
  });

  it('logs no token, question, file name or patient name', () => {
    const text = log.lines().join('\n');
    expect(text).not.toContain(world.token);
    expect(text).not.toContain('any nodule');
    expect(text).not.toContain('chest.png');
    expect(text).not.toContain('Doe^Jane');
  });
});
