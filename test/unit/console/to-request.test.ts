import { describe, expect, it } from 'vitest';
import { createUploadStore } from '../../../adapters/console/download.ts';
import {
  cleanQuestion,
  describeUpload,
  describeUploads,
  toInboundRequest,
} from '../../../adapters/console/to-request.ts';
import { type AppError, isAppError } from '../../../src/errors.ts';

describe('console request mapping', () => {
  it('maps a top-level post with an upload to a new thread rooted at the message', () => {
    const request = toInboundRequest({
      messageId: 'm-1',
      channelId: 'ed-oncall',
      userId: 'console:abc',
      question: '  Pneumothorax?\u0007 ',
      upload: { fileId: 'u-1', mimeType: 'application/dicom', sizeBytes: 10, name: 'DOE^JOHN.dcm' },
      receivedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(request.thread).toEqual({ channelId: 'ed-oncall', threadId: 'm-1' });
    expect(request.platform).toBe('console');
    expect(request.question).toBe('Pneumothorax?');
    expect(request.attachments).toHaveLength(1);
    expect(request.attachments[0]!.url).toBe('console-upload:u-1');
    expect(request.eventId).toBe('m-1');
    expect(request.messageKey).toBe('console:ed-oncall:m-1');
  });

  it('maps several uploads to one request carrying every attachment in the order posted (a study)', () => {
    const request = toInboundRequest({
      messageId: 'm-3',
      channelId: 'radiology',
      userId: 'console:abc',
      question: 'PA and lateral',
      uploads: [
        { fileId: 'u-pa', mimeType: 'image/png', sizeBytes: 10, name: 'pa.png' },
        { fileId: 'u-lat', mimeType: 'image/png', sizeBytes: 20, name: 'lat.png' },
      ],
      receivedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(request.attachments.map((a) => [a.url, a.sizeBytes])).toEqual([
      ['console-upload:u-pa', 10],
      ['console-upload:u-lat', 20],
    ]);
    expect(describeUploads([{ name: 'pa.png', mimeType: 'image/png' }])).toBe('PNG image');
    expect(
      describeUploads([
        { name: 'pa.png', mimeType: 'image/png' },
        { name: 'IM0001', mimeType: 'application/octet-stream' },
      ]),
    ).toBe('2 files: PNG image, DICOM');
  });

  it('maps a reply to the root thread with no attachment (a follow-up)', () => {
    const request = toInboundRequest({
      messageId: 'm-2',
      channelId: 'radiology',
      threadId: 'm-1',
      userId: 'console:abc',
      question: 'And the left side?',
      receivedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(request.thread).toEqual({ channelId: 'radiology', threadId: 'm-1' });
    expect(request.attachments).toEqual([]);
  });

  it('bounds questions and names file kinds without the name', () => {
    expect(cleanQuestion('x'.repeat(5000))).toHaveLength(2000);
    expect(describeUpload(undefined, 'IM0001')).toBe('DICOM');
    expect(describeUpload('image/png', 'a.png')).toBe('PNG image');
    expect(describeUpload('image/jpeg', 'a.JPG')).toBe('JPEG image');
  });

  it('holds every upload a queued request needs; beyond QUEUE_MAX it refuses the new one with an ETA', () => {
    let n = 0;
    let now = 0;
    const store = createUploadStore({
      maxHeld: 2,
      maxTotalBytes: 10,
      ttlMs: 1000,
      clock: () => now,
      newId: () => `u${++n}`,
      etaSec: () => 150,
    });
    const a = store.put(Buffer.from('a'));
    const b = store.put(Buffer.from('bb'));
    const refused = (() => {
      try {
        store.put(Buffer.from('ccc'));
      } catch (error) {
        return error;
      }
    })();
    expect(isAppError(refused, 'QUEUE_FULL')).toBe(true);
    expect((refused as AppError).retryAfterSec).toBe(150);
    expect((refused as AppError).userMessage).toContain('about 3 minutes');
    // Both accepted uploads are still there: nothing an accepted request needs was pushed out.
    expect(store.get(a).toString()).toBe('a');
    expect(store.size()).toEqual({ files: 2, held: 1, bytes: 3 });
    // A downloaded upload makes room, and is the first to go when bytes run short.
    const c = store.put(Buffer.from('cccccccc'));
    expect(store.size()).toEqual({ files: 2, held: 2, bytes: 10 });
    expect(() => store.get(a)).toThrow(/no longer held/);
    store.release(c);
    expect(store.get(b).toString()).toBe('bb');
    now = 5000;
    expect(() => store.get(b)).toThrow(/no longer held/);
    try {
      store.get(b);
    } catch (error) {
      expect(isAppError(error, 'DOWNLOAD_FAILED')).toBe(true);
    }
  });
});
