import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../../../src/core/adapter.ts';
import { snowflake } from '../../fakes/discord-rest.ts';
import { captureLogger } from '../../helpers/capture-log.ts';
import type { CoreDouble } from './core-double.ts';
import {
  attachment,
  type DiscordWorld,
  messageCreate,
  readInteraction,
  startDiscordWorld,
  waitFor,
} from './harness.ts';
import { greyPng, startWithCoreDouble } from './suites.ts';

/**
 * `/read` and its thread: in a guild text channel the read lives in a thread started on the
 * command's response ("Start Thread from Message" on the message "Get Original Interaction Response"
 * returns), so plain messages there are follow-ups about the same image. DMs and commands used in a
 * thread are answered in place; without the thread permission the answer is still given exactly once.
 */

let world: DiscordWorld;
let adapter: ChatAdapter;
let core: CoreDouble;
const log = captureLogger('debug');
let png: Buffer;

const tokenCalls = (token: string) => world.rest.calls.filter((call) => call.path.includes(token));
const threadStarts = () =>
  world.rest.calls.filter((call) => call.method === 'POST' && /\/messages\/\d+\/threads$/.test(call.path));
/** Messages (as the fake stores them, after edits) whose embeds carry the card's 87% confidence. */
const readsVisible = () =>
  [...world.rest.messages.values()].filter(
    (message) => message.flags !== 64 && JSON.stringify(message.embeds).includes('87%'),
  );

async function runRead(
  name: string,
  where: { dm?: string; thread?: string; appPermissions?: string } = {},
): Promise<{ interaction: ReturnType<typeof readInteraction>; jobIndex: number }> {
  const url = world.cdn.add(`/attachments/5/${snowflake()}/${name}`, png, 'image/png');
  const interaction = readInteraction(world, attachment(url, name, png.length), 'effusion?', where);
  const before = core.done.length;
  world.gateway.dispatch('INTERACTION_CREATE', interaction);
  await waitFor(() => core.done.length > before, 5000, 'the job');
  await core.done.at(-1);
  return { interaction, jobIndex: before };
}

beforeAll(async () => {
  world = await startDiscordWorld();
  png = await greyPng(48, 60);
  ({ adapter, core } = await startWithCoreDouble(world, log.logger));
});

afterAll(async () => {
  await adapter?.stop();
  await world?.close();
});

describe('/read in a guild text channel lives in a thread', () => {
  let threadId = '';

  it('starts exactly one thread on the response; the read is its head and the preview is inside', async () => {
    const startsBefore = threadStarts().length;
    const readsBefore = readsVisible().length;
    const { interaction } = await runRead('knee.png');
    const calls = tokenCalls(interaction.token);
    expect(calls[0]).toMatchObject({ method: 'POST', body: { type: 5 } });
    expect(calls[1]).toMatchObject({
      method: 'GET',
      route: `/webhooks/${world.appId}/{token}/messages/@original`,
    });
    for (const call of calls) expect(call.headers.authorization).toBeUndefined();

    const request = core.requests.at(-1)!;
    threadId = request.thread.threadId;
    const original = world.rest.messages.get(threadId)!;
    expect(original.channel_id).toBe(world.channelId);
    expect(request.thread).toEqual({ channelId: world.channelId, threadId });

    const starts = threadStarts().slice(startsBefore);
    expect(starts).toHaveLength(1);
    expect(starts[0]?.path).toBe(`/channels/${world.channelId}/messages/${threadId}/threads`);
    expect(starts[0]?.body.name).toBe('quickread read'); // never the file name or the question

    // One visible answer: the deferred response became the status and then the read.
    const edits = calls.filter((call) => call.method === 'PATCH');
    expect(edits.every((call) => call.path.endsWith('/messages/@original'))).toBe(true);
    expect(edits[0]?.body.content).toMatch(/Queued/);
    expect(JSON.stringify(edits.at(-1)?.body)).toContain('87%');
    expect(
      readsVisible()
        .slice(readsBefore)
        .map((message) => message.id),
    ).toEqual([threadId]);
    // The preview goes into the thread, not as a follow-up beside the response.
    const preview = world.rest.calls.find(
      (call) => call.method === 'POST' && call.path === `/channels/${threadId}/messages` && call.files.length,
    );
    expect(preview?.files[0]?.contentType).toBe('image/png');
    expect(
      calls.some((call) => call.method === 'POST' && call.route === `/webhooks/${world.appId}/{token}`),
    ).toBe(false);
    // There is no user message to react to.
    expect(world.rest.calls.some((call) => call.path.includes('/reactions/'))).toBe(false);
    for (const call of world.rest.calls.filter((c) => c.method !== 'GET' && c.body?.allowed_mentions))
      expect(call.body.allowed_mentions.parse).toEqual([]);
  });

  it('a plain message in that thread is a follow-up about the same image, answered in the thread', async () => {
    const first = core.requests.at(-1)!;
    const before = core.done.length;
    const message = messageCreate(world, {
      content: 'is it calcified?',
      channelId: threadId,
      channelType: 11,
    });
    world.gateway.dispatch('MESSAGE_CREATE', message);
    await waitFor(() => core.done.length > before, 5000, 'the follow-up');
    await core.done.at(-1);
    const request = core.requests.at(-1)!;
    expect(request.eventId).toBe(message.id);
    expect(request.thread).toEqual(first.thread);
    expect(request.attachments).toEqual([]);
    expect(request.question).toBe('is it calcified?');
    // Answered by ordinary messages in the thread channel; the thread's head is left as it was.
    const posted = world.rest.calls.filter(
      (call) =>
        call.method === 'POST' && call.path === `/channels/${threadId}/messages` && !call.files.length,
    );
    expect(posted.at(-1)?.body.content).toMatch(/Queued/);
    const head = world.rest.messages.get(threadId)!;
    expect(head.embeds[0].title).toContain('quickread read');
    const card = [...world.rest.messages.values()].find(
      (m) => m.channel_id === threadId && JSON.stringify(m.embeds).includes('follow-up'),
    );
    expect(card).toBeDefined();
    expect(threadStarts().filter((call) => call.path.endsWith(`/${threadId}/threads`))).toHaveLength(1);
  });

  it('a token revoked early: the head is still replaced, with the bot token, and stays the one answer', async () => {
    const url = world.cdn.add(`/attachments/5/${snowflake()}/revoked.png`, png, 'image/png');
    const interaction = readInteraction(world, attachment(url, 'revoked.png', png.length), 'effusion?');
    // Discord starts the thread, and from then on the token is refused (404 Unknown Webhook).
    world.rest.events.once('thread', () => world.rest.expireToken(interaction.token));
    const readsBefore = readsVisible().length;
    const before = core.done.length;
    world.gateway.dispatch('INTERACTION_CREATE', interaction);
    await waitFor(() => core.done.length > before, 5000, 'the job');
    await core.done.at(-1);
    const head = core.requests.at(-1)!.thread.threadId;
    const byBot = world.rest.calls.filter(
      (call) => call.method === 'PATCH' && call.path === `/channels/${world.channelId}/messages/${head}`,
    );
    expect(byBot[0]?.body.content).toMatch(/Queued/);
    expect(JSON.stringify(byBot.at(-1)?.body)).toContain('87%');
    expect(
      readsVisible()
        .slice(readsBefore)
        .map((message) => message.id),
    ).toEqual([head]);
  });

  it('a /read in a DM is answered in place: no thread', async () => {
    const dm = snowflake();
    const startsBefore = threadStarts().length;
    const { interaction } = await runRead('dm.png', { dm });
    expect(threadStarts()).toHaveLength(startsBefore);
    const request = core.requests.at(-1)!;
    expect(request.thread.threadId).toBe(`i:${interaction.id}:${dm}`);
    const calls = tokenCalls(interaction.token);
    expect(calls.some((call) => call.method === 'GET')).toBe(false);
    // The deferred response (in the DM) is edited into the read: one visible answer.
    const edited = calls.filter(
      (call) => call.method === 'PATCH' && JSON.stringify(call.body).includes('87%'),
    );
    expect(edited.length).toBeGreaterThan(0);
    expect(readsVisible().filter((message) => message.channel_id === dm)).toHaveLength(1);
  });

  it('a /read inside a thread is answered in place: no nested thread', async () => {
    const startsBefore = threadStarts().length;
    const readsBefore = readsVisible().length;
    const { interaction } = await runRead('in-thread.png', { thread: threadId });
    expect(threadStarts()).toHaveLength(startsBefore);
    const request = core.requests.at(-1)!;
    // Policies see the parent channel; the answer is the edited response inside the thread.
    expect(request.thread).toEqual({
      channelId: world.channelId,
      threadId: `i:${interaction.id}:${threadId}`,
    });
    expect(
      tokenCalls(interaction.token).some(
        (call) => call.method === 'PATCH' && JSON.stringify(call.body).includes('87%'),
      ),
    ).toBe(true);
    const visible = readsVisible().slice(readsBefore);
    expect(visible.map((message) => message.channel_id)).toEqual([threadId]);
  });

  it('without Create Public Threads: one answer in place, and a private note why follow-ups need it', async () => {
    world.rest.setDenyThreads(true);
    try {
      const readsBefore = readsVisible().length;
      const startsBefore = threadStarts().length;
      const { interaction } = await runRead('denied.png');
      expect(threadStarts().slice(startsBefore)).toHaveLength(1); // tried once, answered 403
      const request = core.requests.at(-1)!;
      const visible = readsVisible().slice(readsBefore);
      expect(visible.map((message) => message.id)).toEqual([request.thread.threadId]);
      expect(visible[0]?.channel_id).toBe(world.channelId);
      const calls = tokenCalls(interaction.token);
      const firstEdit = calls.findIndex((call) => call.method === 'PATCH');
      const note = calls.findIndex(
        (call) => call.method === 'POST' && call.route === `/webhooks/${world.appId}/{token}`,
      );
      expect(firstEdit).toBeGreaterThan(0);
      expect(note).toBeGreaterThan(firstEdit); // a first follow-up would replace "thinking…"
      expect(calls[note]?.body.flags).toBe(64);
      expect(calls[note]?.body.content).toContain('Create Public Threads');
      // Nothing was sent to the thread that does not exist.
      expect(
        world.rest.calls.some((call) => call.path.startsWith(`/channels/${request.thread.threadId}/`)),
      ).toBe(false);
    } finally {
      world.rest.setDenyThreads(false);
    }
  });

  it('when app_permissions lack Send Messages in Threads, no thread is tried: one answer in place and the note', async () => {
    const startsBefore = threadStarts().length;
    const readsBefore = readsVisible().length;
    // The invite set without Send Messages in Threads (1 << 38).
    const withoutThreadSend = (309237763136n & ~(1n << 38n)).toString();
    const { interaction } = await runRead('no-send.png', { appPermissions: withoutThreadSend });
    expect(threadStarts()).toHaveLength(startsBefore);
    const request = core.requests.at(-1)!;
    expect(
      readsVisible()
        .slice(readsBefore)
        .map((message) => message.id),
    ).toEqual([request.thread.threadId]);
    const calls = tokenCalls(interaction.token);
    const firstEdit = calls.findIndex((call) => call.method === 'PATCH');
    const notes = calls.filter(
      (call) => call.method === 'POST' && call.route === `/webhooks/${world.appId}/{token}`,
    );
    expect(firstEdit).toBeGreaterThan(0);
    expect(notes.map((call) => call.body.flags)).toEqual([64]);
    expect(notes[0]?.body.content).toContain('Send Messages in Threads');
    expect(calls.indexOf(notes[0]!)).toBeGreaterThan(firstEdit);
  });

  it('logs no token, question or file name', () => {
    const text = log.lines().join('\n');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(world.token);
    expect(text).not.toContain('effusion');
    expect(text).not.toContain('calcified');
    expect(text).not.toContain('knee.png');
    expect(text).not.toMatch(/aW50ZXJhY3Rpb246/);
  });
});
