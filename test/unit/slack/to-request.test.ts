import { describe, expect, it } from 'vitest';
import {
  classifyMessage,
  cleanQuestion,
  messageToRequest,
  parseSlashText,
  type SlackMessageEvent,
  shortcutToRequest,
  toAttachments,
} from '../../../adapters/slack/to-request.ts';

const BOT = 'UBOT1';
const file = {
  id: 'F1',
  name: 'chest.png',
  mimetype: 'image/png',
  filetype: 'png',
  size: 1234,
  mode: 'hosted',
  is_external: false,
  url_private: 'https://files.slack.com/files-pri/T1-F1/chest.png',
  url_private_download: 'https://files.slack.com/files-pri/T1-F1/download/chest.png',
};
const base: SlackMessageEvent = {
  type: 'message',
  channel: 'C1',
  channel_type: 'channel',
  user: 'U1',
  ts: '1700000000.000100',
  text: 'hi',
};

describe('slack to-request: triggers', () => {
  it('classifies mentions, DMs, thread replies and noise', () => {
    expect(classifyMessage({ ...base, type: 'app_mention', text: `<@${BOT}> look` }, BOT)).toEqual({
      kind: 'direct',
      reason: 'mention',
    });
    expect(classifyMessage({ ...base, text: `hey <@${BOT}>` }, BOT)).toEqual({
      kind: 'direct',
      reason: 'mention',
    });
    expect(classifyMessage({ ...base, channel_type: 'im' }, BOT)).toEqual({ kind: 'direct', reason: 'dm' });
    expect(classifyMessage({ ...base, thread_ts: '1699999999.000100' }, BOT)).toEqual({
      kind: 'thread-candidate',
    });
    expect(classifyMessage(base, BOT)).toEqual({ kind: 'none' });
    expect(classifyMessage({ ...base, thread_ts: base.ts }, BOT)).toEqual({ kind: 'none' });
    expect(classifyMessage({ ...base, channel_type: 'im', bot_id: 'B1' }, BOT)).toEqual({ kind: 'none' });
    expect(classifyMessage({ ...base, channel_type: 'im', user: BOT }, BOT)).toEqual({ kind: 'none' });
    expect(classifyMessage({ ...base, channel_type: 'im', subtype: 'message_changed' }, BOT)).toEqual({
      kind: 'none',
    });
    expect(classifyMessage({ ...base, channel_type: 'im', subtype: 'file_share' }, BOT)).toEqual({
      kind: 'direct',
      reason: 'dm',
    });
  });

  it('gives app_mention and message copies of one message the same key and different event ids', () => {
    const mention = messageToRequest(
      { ...base, type: 'app_mention', files: [file] },
      { eventId: 'Ev1', botUserId: BOT, receivedAt: 't' },
    );
    const message = messageToRequest(
      { ...base, subtype: 'file_share', files: [file] },
      { eventId: 'Ev2', botUserId: BOT, receivedAt: 't' },
    );
    expect(mention.messageKey).toBe('slack:C1:1700000000.000100');
    expect(message.messageKey).toBe(mention.messageKey);
    expect(mention.eventId).not.toBe(message.eventId);
  });

  it('threads a top-level message under itself and a reply under its root', () => {
    expect(messageToRequest(base, { eventId: 'E', receivedAt: 't' }).thread).toEqual({
      channelId: 'C1',
      threadId: base.ts,
    });
    expect(messageToRequest({ ...base, thread_ts: '1.2' }, { eventId: 'E', receivedAt: 't' }).thread).toEqual(
      { channelId: 'C1', threadId: '1.2' },
    );
  });

  it('strips the bot mention and unescapes Slack entities in the question', () => {
    expect(cleanQuestion(`<@${BOT}>  is the  RLL &lt;5 mm &amp; clear?`, BOT)).toBe(
      'is the RLL <5 mm & clear?',
    );
    expect(cleanQuestion(`<@${BOT}|quickread> hi`, BOT)).toBe('hi');
  });
});

describe('slack to-request: files', () => {
  it('maps image files with the download URL and marks remote files external', () => {
    const [ref] = toAttachments([file]);
    expect(ref).toEqual({
      platform: 'slack',
      fileId: 'F1',
      url: file.url_private_download,
      name: 'chest.png',
      mimeType: 'image/png',
      sizeBytes: 1234,
      external: false,
    });
    expect(toAttachments([{ ...file, is_external: true }])[0]!.external).toBe(true);
    expect(toAttachments([{ ...file, mode: 'external' }])[0]!.external).toBe(true);
  });

  it('keeps DICOMs, drops documents', () => {
    const dicom = { id: 'F2', name: 'IM0001.dcm', mimetype: 'application/dicom', filetype: 'binary' };
    const pdf = { id: 'F3', name: 'report.pdf', mimetype: 'application/pdf', filetype: 'pdf' };
    expect(toAttachments([dicom, pdf]).map((a) => a.fileId)).toEqual(['F2']);
  });
});

describe('slack to-request: shortcut and slash command', () => {
  it('reads the shortcut’s message in its thread for the invoking user', () => {
    const request = shortcutToRequest(
      {
        type: 'message_action',
        callback_id: 'read_scan',
        trigger_id: 'T123',
        user: { id: 'U9' },
        channel: { id: 'C7' },
        message: { ts: '5.6', thread_ts: '5.0', user: 'U1', text: 'ct', files: [file] },
      },
      { receivedAt: 't' },
    );
    expect(request).toMatchObject({
      eventId: 'shortcut:T123',
      messageKey: 'slack:C7:5.6',
      userId: 'U9',
      thread: { channelId: 'C7', threadId: '5.0' },
    });
    expect(request.attachments).toHaveLength(1);
  });

  it('parses /quickread subcommands', () => {
    expect(parseSlashText('')).toBe('help');
    expect(parseSlashText(' Status ')).toBe('status');
    expect(parseSlashText('model')).toBe('model');
    expect(parseSlashText('what')).toBe('help');
  });
});
