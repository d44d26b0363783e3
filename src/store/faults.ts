import { AppError } from '../errors.ts';

/** Errno codes that mean "no room": the disk or the user's quota is full. */
const fullCodes = new Set(['ENOSPC', 'EDQUOT']);

/**
 * A failed write as the coded error callers see: STORE_FULL when the disk is full, STORE_IO_ERROR for
 * any other I/O failure (EIO, EROFS…). Both are retryable; the store keeps retrying on its own.
 */
export function storeWriteError(error: unknown, file: string): AppError {
  if (error instanceof AppError) return error;
  const errno = (error as NodeJS.ErrnoException).code ?? 'unknown';
  const code = fullCodes.has(errno) ? 'STORE_FULL' : 'STORE_IO_ERROR';
  return new AppError(code, `write to ${file} failed: ${errno}`, { cause: error, details: { file, errno } });
}

/** Whether the data folder can take writes now, with the reason when it cannot (for /healthz). */
export type StoreHealth = { ok: true } | { ok: false; code: string; reason: string };

export function storeCorrupt(message: string, userMessage: string, file: string): AppError {
  return new AppError('STORE_CORRUPT', message, { details: { file }, userMessage });
}

/** Why the data folder could not be opened, naming it and what to check. */
export function storeOpenError(error: unknown, dataDir: string): AppError {
  if (error instanceof AppError) return error;
  const coded = storeWriteError(error, dataDir);
  return new AppError(coded.code, coded.message, {
    cause: error,
    details: coded.details,
    userMessage: `quickread cannot use its data folder ${dataDir} (${String(coded.details.errno)}): check that it exists, that this user may write to it, and that the disk has free space.`,
  });
}
