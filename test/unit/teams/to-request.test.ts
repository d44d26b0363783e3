import { describe, expect, it } from 'vitest';
import { conversationIdOf, threadOfActivity } from '../../../adapters/teams/activity.ts';
import { mayCarryToken } from '../../../adapters/teams/download.ts';
import { onHostList } from '../../../adapters/teams/hosts.ts';
import { activityToRequest, mentionsBot, plainText } from '../../../adapters/teams/to-request.ts';

const serviceUrl = 'https://smba.trafficmanager.net/emea/';
const base = {
  type: 'message',
  id: '1700000000001',
  serviceUrl,
  from: { id: '29:u', aadObjectId: 'aad-1' },
  recipient: { id: '28:bot' },
  conversation: { id: '19:abc@thread.tacv2;messageid=1699999999999', conversationType: 'channel' },
};

describe('Teams threads', () => {
  it('maps a channel reply to its root and back to the same conversation id', () => {
    const thread = threadOfActivity(base)!;
    expect(thread).toEqual({ channelId: '19:abc@thread.tacv2', threadId: '1699999999999' });
    expect(conversationIdOf(thread)).toBe(base.conversation.id);
  });

  it('treats a personal chat as one flat conversation', () => {
    const thread = threadOfActivity({
      ...base,
      conversation: { id: 'a:1xyz', conversationType: 'personal' },
    })!;
    expect(thread).toEqual({ channelId: 'a:1xyz', threadId: 'a:1xyz' });
    expect(conversationIdOf(thread)).toBe('a:1xyz');
  });
});

describe('activityToRequest', () => {
  it('strips the mention and markup from the question and keeps the Entra user id', () => {
    const request = activityToRequest(
      {
        ...base,
        text: '<p><at>quickread</at>&nbsp;any <b>pneumothorax</b>?</p>',
        entities: [{ type: 'mention', mentioned: { id: '28:bot' } }],
      },
      '2026-01-01T00:00:00.000Z',
    )!;
    expect(request.question).toBe('any pneumothorax ?');
    expect(request.userId).toBe('aad-1');
    expect(request.eventId).toBe('1700000000001');
    expect(request.platformData).toEqual({ messageId: '1700000000001' });
    expect(
      mentionsBot({ ...base, entities: [{ type: 'mention', mentioned: { id: '28:someone-else' } }] }),
    ).toBe(false);
    expect(plainText('a &lt;b&gt; &amp; c')).toBe('a <b> & c');
  });

  it('marks inline images for the token only on the serviceUrl origin, files as pre-authorised', () => {
    const request = activityToRequest(
      {
        ...base,
        attachments: [
          { contentType: 'image/*', contentUrl: `${serviceUrl}v3/attachments/0-eus-1/views/original` },
          { contentType: 'image/png', contentUrl: 'https://evil.example/v3/attachments/x/views/original' },
          {
            contentType: 'application/vnd.microsoft.teams.file.download.info',
            name: 'scan.dcm',
            content: { downloadUrl: 'https://contoso.sharepoint.com/x?tempauth=1', uniqueId: 'u1' },
          },
          { contentType: 'text/html', content: '<div>…</div>' },
        ],
      },
      '2026-01-01T00:00:00.000Z',
    )!;
    const hosts = ['smba.trafficmanager.net'];
    expect(request.attachments.map((a) => [a.fileId, mayCarryToken(a, hosts)])).toEqual([
      ['connector|https://smba.trafficmanager.net|0-eus-1', true],
      ['connector|https://smba.trafficmanager.net|x', false],
      ['download|u1', false],
    ]);
  });
});

describe('TEAMS_SERVICE_HOSTS', () => {
  it('matches exact hosts and subdomains of a wildcard, over https only', () => {
    const hosts = ['smba.trafficmanager.net', '*.botframework.com', '127.0.0.1:8443'];
    expect(onHostList('https://smba.trafficmanager.net/amer/', hosts)).toBe(true);
    expect(onHostList('https://europe.webchat.botframework.com/', hosts)).toBe(true);
    expect(onHostList('https://botframework.com/', hosts)).toBe(false);
    expect(onHostList('https://evilbotframework.com/', hosts)).toBe(false);
    expect(onHostList('http://smba.trafficmanager.net/amer/', hosts)).toBe(false);
    expect(onHostList('https://127.0.0.1:8443/', hosts)).toBe(true);
    expect(onHostList('https://127.0.0.1:8444/', hosts)).toBe(false);
    expect(onHostList('https://user:pw@smba.trafficmanager.net/', hosts)).toBe(false);
  });
});
