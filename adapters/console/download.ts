import { AppError } from '../../src/errors.ts';

/**
 * The console's "file host": uploads live in this process's memory until the core downloads them, so
 * `download()` never touches the network and nothing is written to disk un-de-identified.
 *
 * An upload not yet downloaded belongs to a request in the queue: it is never evicted for room (only
 * after `ttlMs`), and it counts against the queue — beyond `maxHeld` of them (QUEUE_MAX), or beyond
 * `maxTotalBytes` held, a new upload is refused at once (QUEUE_FULL) instead of pushing out one an
 * accepted request still needs. Downloaded uploads stay for a retried preparation until room is needed.
 */
export interface UploadStore {
  /** Holds the bytes; throws QUEUE_FULL when the console already holds as much as the queue takes. */
  put(bytes: Buffer): string;
  get(fileId: string): Buffer;
  /** Forget an upload whose request was refused or was a duplicate. */
  release(fileId: string): void;
  /** Uploads waiting for their read (not yet downloaded), and bytes held in all. */
  size(): { files: number; held: number; bytes: number };
}

export interface UploadStoreOptions {
  /** Uploads waiting for their read at most (QUEUE_MAX). */
  maxHeld?: number;
  maxTotalBytes?: number;
  ttlMs?: number;
  clock?: () => number;
  newId: () => string;
  /** Seconds until the queue has room, for the refusal's "try again in". */
  etaSec?: () => number;
}

export function createUploadStore(options: UploadStoreOptions): UploadStore {
  const maxHeld = options.maxHeld ?? 200;
  const maxTotalBytes = options.maxTotalBytes ?? 1024 * 1024 * 1024;
  const ttlMs = options.ttlMs ?? 6 * 60 * 60 * 1000;
  const clock = options.clock ?? Date.now;
  const files = new Map<string, { bytes: Buffer; at: number; downloaded: boolean }>();
  let total = 0;
  let held = 0;

  const drop = (id: string) => {
    const entry = files.get(id);
    if (!entry) return;
    total -= entry.bytes.byteLength;
    if (!entry.downloaded) held -= 1;
    files.delete(id);
  };

  /** Expired uploads go; then downloaded ones, oldest first, while room is short. */
  const evict = (room: number) => {
    const now = clock();
    for (const [id, entry] of files) if (now - entry.at > ttlMs) drop(id);
    for (const [id, entry] of files) {
      if (total + room <= maxTotalBytes) break;
      if (entry.downloaded) drop(id);
    }
  };

  const full = (why: string): AppError => {
    const etaSec = Math.max(1, Math.round(options.etaSec?.() ?? 60));
    const minutes = Math.max(1, Math.ceil(etaSec / 60));
    return new AppError('QUEUE_FULL', `console holds ${why}`, {
      retryAfterSec: etaSec,
      userMessage: `The reading queue is full; please try again in about ${minutes} minute${minutes === 1 ? '' : 's'}.`,
    });
  };

  return {
    put(bytes) {
      evict(bytes.byteLength);
      if (held >= maxHeld) throw full(`${held} uploads waiting`);
      if (total + bytes.byteLength > maxTotalBytes) throw full(`${total} bytes of uploads`);
      const id = options.newId();
      files.set(id, { bytes, at: clock(), downloaded: false });
      total += bytes.byteLength;
      held += 1;
      return id;
    },
    get(fileId) {
      const entry = files.get(fileId);
      if (!entry || clock() - entry.at > ttlMs) {
        throw new AppError('DOWNLOAD_FAILED', 'console upload no longer held', {
          retryable: false,
          userMessage:
            'The uploaded file is no longer held by the console (it restarted or the file expired); please upload it again.',
        });
      }
      if (!entry.downloaded) {
        entry.downloaded = true;
        held -= 1;
      }
      return entry.bytes;
    },
    release: drop,
    size: () => ({ files: files.size, held, bytes: total }),
  };
}

/** Size cap as the user sees it: specific, with the limit and the setting that changes it. */
export function tooLargeError(maxBytes: number): AppError {
  const mb = Math.round(maxBytes / (1024 * 1024));
  return new AppError('INPUT_TOO_LARGE', `console upload over ${mb} MiB`, {
    userMessage: `The file is larger than ${mb} MB, the most quickread accepts (MAX_UPLOAD_MB).`,
  });
}
