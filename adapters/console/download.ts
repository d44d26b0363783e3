import { AppError } from '../../src/errors.ts';

/**
 * The console's "file host": uploads live in this process's memory until the core downloads them, so
 * `download()` never touches the network and nothing is written to disk un-de-identified. Bounded by
 * count, total bytes and age; the oldest go first.
 */
export interface UploadStore {
  put(bytes: Buffer): string;
  get(fileId: string): Buffer;
  size(): { files: number; bytes: number };
}

export interface UploadStoreOptions {
  maxFiles?: number;
  maxTotalBytes?: number;
  ttlMs?: number;
  clock?: () => number;
  newId: () => string;
}

export function createUploadStore(options: UploadStoreOptions): UploadStore {
  const maxFiles = options.maxFiles ?? 64;
  const maxTotalBytes = options.maxTotalBytes ?? 1024 * 1024 * 1024;
  const ttlMs = options.ttlMs ?? 6 * 60 * 60 * 1000;
  const clock = options.clock ?? Date.now;
  const files = new Map<string, { bytes: Buffer; at: number }>();
  let total = 0;

  const drop = (id: string) => {
    const entry = files.get(id);
    if (!entry) return;
    total -= entry.bytes.byteLength;
    files.delete(id);
  };

  const evict = () => {
    const now = clock();
    // Map iteration is insertion order, so the first entries are the oldest.
    for (const [id, entry] of files) {
      const tooMany = files.size > maxFiles || total > maxTotalBytes;
      if (!tooMany && now - entry.at <= ttlMs) break;
      drop(id);
    }
  };

  return {
    put(bytes) {
      const id = options.newId();
      files.set(id, { bytes, at: clock() });
      total += bytes.byteLength;
      evict();
      return id;
    },
    get(fileId) {
      evict();
      const entry = files.get(fileId);
      if (!entry) {
        throw new AppError('DOWNLOAD_FAILED', 'console upload no longer held', {
          retryable: false,
          userMessage:
            'The uploaded file is no longer held by the console (it restarted or the file expired); please upload it again.',
        });
      }
      return entry.bytes;
    },
    size: () => ({ files: files.size, bytes: total }),
  };
}

/** Size cap as the user sees it: specific, with the limit and the setting that changes it. */
export function tooLargeError(maxBytes: number): AppError {
  const mb = Math.round(maxBytes / (1024 * 1024));
  return new AppError('INPUT_TOO_LARGE', `console upload over ${mb} MiB`, {
    userMessage: `The file is larger than ${mb} MB, the most quickread accepts (MAX_UPLOAD_MB).`,
  });
}
