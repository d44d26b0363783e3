import type { APIChatInputApplicationCommandInteraction, GatewayMessageCreateDispatchData } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { customId } from '../../../adapters/discord/render.ts';
import {
  interactionThreadId,
  interactionToRequest,
  isLikelyImage,
  mentionsUser,
  messageToRequest,
  parseCustomId,
  parseInteractionThreadId,
  questionFrom,
  snowflakeTime,
} from '../../../adapters/discord/to-request.ts';

const BOT = '900000000000000001';

const attachment = (filename: string, content_type?: string) => ({
  id: `${filename.length}${Math.floor(Math.random() * 1e6)}`,
  filename,
  size: 10,
  url: `https://cdn.discordapp.com/attachments/1/2/${filename}`,
  proxy_url: '',
  ...(content_type ? { content_type } : {}),
});

function message(over: Partial<GatewayMessageCreateDispatchData>): GatewayMessageCreateDispatchData {
  return {
    id: '1300000000000000001',
    channel_id: '1200000000000000001',
    guild_id: '1100000000000000001',
    author: { id: '1000000000000000001', username: 'u', discriminator: '0', avatar: null, global_name: null },
    content: '',
    timestamp: '2026-11-25T00:00:00.000Z',
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: [],
    embeds: [],
    pinned: false,
    type: 0,
    ...over,
  } as GatewayMessageCreateDispatchData;
}

describe('messageToRequest', () => {
  it('maps a mention with attachments: ids, question without the mention, image attachments only', () => {
    const raw = message({
      content: `<@${BOT}>  what is   this? <@!${BOT}>`,
      attachments: [
        attachment('scan.png', 'image/png'),
        attachment('IM000001'),
        attachment('study.dcm', 'application/octet-stream'),
        attachment('report.pdf', 'application/pdf'),
        attachment('notes.txt', 'text/plain; charset=utf-8'),
        attachment('series.zip', 'application/zip'),
      ],
    });
    const thread = { channelId: raw.channel_id, threadId: raw.id };
    const request = messageToRequest(raw, thread, BOT, '2026-11-25T00:00:01.000Z');
    expect(request).toMatchObject({
      eventId: raw.id,
      messageKey: `discord:${raw.channel_id}:${raw.id}`,
      platform: 'discord',
      thread,
      userId: raw.author.id,
      question: 'what is this?',
      receivedAt: '2026-11-25T00:00:01.000Z',
      platformData: { messageId: raw.id, channelId: raw.channel_id, guildId: raw.guild_id },
    });
    // A zip of DICOM files is a series (issue 17): kept; PDFs and text are not images.
    expect(request.attachments.map((a) => a.name)).toEqual([
      'scan.png',
      'IM000001',
      'study.dcm',
      'series.zip',
    ]);
    expect(request.attachments[0]).toMatchObject({
      platform: 'discord',
      mimeType: 'image/png',
      sizeBytes: 10,
    });
  });

  it('recognises the bot mention from the mentions list or the text', () => {
    const user = { id: BOT, username: 'q', discriminator: '0', avatar: null, global_name: null };
    expect(mentionsUser(message({ mentions: [user] }), BOT)).toBe(true);
    expect(mentionsUser(message({ content: `hi <@!${BOT}>` }), BOT)).toBe(true);
    expect(mentionsUser(message({ content: 'hi <@123>' }), BOT)).toBe(false);
    expect(questionFrom(`<@${BOT}>`, BOT)).toBe('');
  });

  it('classifies attachment types', () => {
    expect(isLikelyImage({ filename: 'a.JPG' })).toBe(true);
    expect(isLikelyImage({ filename: 'a', content_type: 'application/dicom' })).toBe(true);
    expect(isLikelyImage({ filename: 'clip.mp4', content_type: 'video/mp4' })).toBe(false);
    expect(isLikelyImage({ filename: 'data.bin', content_type: 'application/octet-stream' })).toBe(false);
  });
});

function readInteraction(over: Record<string, unknown> = {}): APIChatInputApplicationCommandInteraction {
  const file = attachment('knee.png', 'image/png');
  return {
    id: '1400000000000000001',
    application_id: '1500000000000000001',
    type: 2,
    token: 'secret-token',
    version: 1,
    channel_id: '1200000000000000001',
    channel: { id: '1200000000000000001', type: 0 },
    guild_id: '1100000000000000001',
    member: {
      user: { id: '1000000000000000001', username: 'u', discriminator: '0', avatar: null, global_name: null },
    },
    data: {
      id: '1',
      name: 'read',
      type: 1,
      options: [
        { name: 'image', type: 11, value: file.id },
        { name: 'question', type: 3, value: '  effusion? ' },
      ],
      resolved: { attachments: { [file.id]: file } },
    },
    ...over,
  } as unknown as APIChatInputApplicationCommandInteraction;
}

describe('interactionToRequest', () => {
  it('maps /read with its resolved attachment; the token stays in platformData', () => {
    const request = interactionToRequest(readInteraction(), '2026-11-25T00:00:00.000Z')!;
    expect(request).toMatchObject({
      eventId: '1400000000000000001',
      messageKey: 'discord:interaction:1400000000000000001',
      thread: { channelId: '1200000000000000001', threadId: 'i:1400000000000000001:1200000000000000001' },
      userId: '1000000000000000001',
      question: 'effusion?',
      platformData: { interactionToken: 'secret-token', applicationId: '1500000000000000001' },
    });
    expect(request.attachments.map((a) => a.name)).toEqual(['knee.png']);
  });

  it('maps /read with several images (image, image2…) to every attachment, in order: one study', () => {
    const first = attachment('pa.png', 'image/png');
    const second = attachment('lateral.png', 'image/png');
    const base = readInteraction();
    const request = interactionToRequest(
      {
        ...base,
        data: {
          ...base.data,
          options: [
            { name: 'image', type: 11, value: first.id },
            { name: 'question', type: 3, value: 'effusion?' },
            { name: 'image2', type: 11, value: second.id },
          ],
          resolved: { attachments: { [first.id]: first, [second.id]: second } },
        },
      } as unknown as APIChatInputApplicationCommandInteraction,
      '2026-11-25T00:00:00.000Z',
    )!;
    expect(request.attachments.map((a) => a.name)).toEqual(['pa.png', 'lateral.png']);
  });

  it('counts a command used inside a thread as its parent channel (allow-lists name channels)', () => {
    const request = interactionToRequest(
      readInteraction({ channel: { id: '1600000000000000001', type: 11, parent_id: '1200000000000000001' } }),
      '2026-11-25T00:00:00.000Z',
    )!;
    expect(request.thread).toEqual({
      channelId: '1200000000000000001',
      threadId: 'i:1400000000000000001:1600000000000000001',
    });
    expect(request.platformData?.channelId).toBe('1600000000000000001');
  });

  it('takes the user from `user` in DMs and gives up without one', () => {
    const dm = readInteraction({ member: undefined, user: { id: '77', username: 'd' }, guild_id: undefined });
    expect(interactionToRequest(dm, 'now')?.userId).toBe('77');
    expect(interactionToRequest(readInteraction({ member: undefined }), 'now')).toBeUndefined();
  });
});

describe('ids', () => {
  it('round-trips button custom ids and interaction thread ids', () => {
    expect(parseCustomId(customId('ack', 'abc-123'))).toEqual({ action: 'ack', jobId: 'abc-123' });
    expect(parseCustomId(customId('down', 'j'))).toEqual({ action: 'down', jobId: 'j' });
    expect(parseCustomId('other:ack:1')).toBeUndefined();
    expect(parseInteractionThreadId(interactionThreadId('11', '22'))).toEqual({
      interactionId: '11',
      channelId: '22',
    });
    expect(parseInteractionThreadId('1300000000000000001')).toBeUndefined();
  });

  it('reads the time out of a snowflake (Discord epoch 2015)', () => {
    // Discord's documented example: 175928847299117063 → 2016-04-30T11:18:25.796Z
    expect(new Date(snowflakeTime('175928847299117063')).toISOString()).toBe('2016-04-30T11:18:25.796Z');
    expect(snowflakeTime('not-a-number')).toBeNaN();
  });
});
