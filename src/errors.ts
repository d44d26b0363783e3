/**
 * One error type for the whole app. `message` is technical (logs, never PHI); `userMessage` is what a
 * clinician sees: specific and actionable, never a stack trace.
 */
export const errorCodes = {
  PORT_IN_USE: {
    exit: 2,
    retryable: false,
    user: 'The port quickread should listen on is already in use.',
  },
  CONFIG_INVALID: {
    exit: 2,
    retryable: false,
    user: 'quickread is misconfigured; an administrator must fix it.',
  },
  USAGE: { exit: 2, retryable: false, user: 'That command was not used correctly.' },
  NOT_IMPLEMENTED: { exit: 2, retryable: false, user: 'This feature is not implemented yet.' },
  OUTPUT_NOT_WRITABLE: {
    exit: 1,
    retryable: false,
    user: 'The output could not be written: check the --out path and its permissions.',
  },
  INPUT_TOO_LARGE: { exit: 1, retryable: false, user: 'The file is larger than quickread accepts.' },
  INPUT_NOT_FOUND: { exit: 1, retryable: false, user: 'The file or folder was not found.' },
  INPUT_HTML: {
    exit: 1,
    retryable: false,
    user: 'The file is a web page (HTML), not an image.',
  },
  INPUT_UNSUPPORTED: {
    exit: 1,
    retryable: false,
    user: 'This file type is not an image quickread can read.',
  },
  INPUT_NOT_IMAGE: { exit: 1, retryable: false, user: 'This DICOM object holds no image.' },
  INPUT_CORRUPT: { exit: 1, retryable: false, user: 'The file is damaged and could not be decoded.' },
  INPUT_ASPECT: {
    exit: 1,
    retryable: false,
    user: 'The image is too long and thin to read (aspect ratio over 200:1).',
  },
  ARCHIVE_TOO_LARGE: {
    exit: 1,
    retryable: false,
    user: 'The zip holds more files or bytes than quickread unpacks; zip one series or post the slices you want read.',
  },
  ARCHIVE_UNSAFE: {
    exit: 1,
    retryable: false,
    user: 'The zip was not opened: it holds a path outside the archive or another archive.',
  },
  ARCHIVE_CORRUPT: { exit: 1, retryable: false, user: 'The zip is damaged and could not be unpacked.' },
  ARCHIVE_EMPTY: { exit: 1, retryable: false, user: 'The zip holds no image quickread can read.' },
  TRANSFER_SYNTAX_UNSUPPORTED: {
    exit: 1,
    retryable: false,
    user: 'This DICOM compression is not supported.',
  },
  DECODE_TIMEOUT: { exit: 1, retryable: false, user: 'Decoding the image took too long.' },
  PHI_PRESENT: {
    exit: 1,
    retryable: false,
    user: 'This DICOM still carries patient identity in its header; post a de-identified image instead.',
  },
  BURNED_IN_TEXT: {
    exit: 1,
    retryable: false,
    user: 'Text was found in the image pixels, so it was not sent for a read.',
  },
  DOWNLOAD_FAILED: {
    exit: 1,
    retryable: true,
    user: 'The file could not be downloaded from the chat platform.',
  },
  CHAT_API_FAILED: {
    exit: 1,
    retryable: true,
    user: 'quickread could not reach the chat platform; it will try again.',
  },
  DOWNLOAD_FORBIDDEN_HOST: {
    exit: 1,
    retryable: false,
    user: 'The file is hosted somewhere quickread is not allowed to fetch from.',
  },
  ENGINE_UNAVAILABLE: {
    exit: 1,
    retryable: true,
    user: 'The model server is unavailable; your request is waiting in the queue.',
  },
  ENGINE_MODEL_MISSING: {
    exit: 1,
    retryable: false,
    user: 'The model server does not serve the configured model.',
  },
  ENGINE_RATE_LIMITED: { exit: 1, retryable: true, user: 'The model server is busy; retrying shortly.' },
  ENGINE_TIMEOUT: { exit: 1, retryable: true, user: 'The model took too long to answer.' },
  ENGINE_ERROR: { exit: 1, retryable: true, user: 'The model server returned an error.' },
  ENGINE_OUT_OF_MEMORY: { exit: 1, retryable: true, user: 'The model server ran out of memory.' },
  ENGINE_CRASHED: {
    exit: 1,
    retryable: true,
    user: 'The model server crashed while reading this image, again after a retry at a smaller size; an administrator should check the server’s log (often GPU memory).',
  },
  IMAGE_TOO_LARGE_FOR_ENGINE: {
    exit: 1,
    retryable: false,
    user: 'The image is too large for the model server even at the smallest size quickread tries.',
  },
  MODEL_OUTPUT_INVALID: {
    exit: 1,
    retryable: false,
    user: 'The model gave an answer quickread could not read; please ask again.',
  },
  MODEL_FILES_MISSING: { exit: 2, retryable: false, user: 'The local model files are missing.' },
  CUDA_UNAVAILABLE: {
    exit: 2,
    retryable: false,
    user: 'CUDA was requested but its libraries are not installed.',
  },
  QUEUE_FULL: {
    exit: 1,
    retryable: false,
    user: 'The reading queue is full; please try again in a few minutes.',
  },
  RATE_LIMITED: {
    exit: 1,
    retryable: false,
    user: 'You have sent many requests in the last minute; please wait a moment.',
  },
  NOT_ALLOWED: { exit: 1, retryable: false, user: 'quickread is not enabled for this channel or user.' },
  CANCELLED: { exit: 1, retryable: false, user: 'The request was cancelled.' },
  STORE_LOCKED: {
    exit: 1,
    retryable: false,
    user: 'Another quickread process is already using this data folder.',
  },
  STORE_CORRUPT: {
    exit: 1,
    retryable: false,
    user: 'The state in the data folder is damaged and no backup could be restored; run `quickread store repair`.',
  },
  STORE_FULL: {
    exit: 1,
    retryable: true,
    user: "The bot's storage is full; try again later.",
  },
  STORE_IO_ERROR: {
    exit: 1,
    retryable: true,
    user: "The bot's storage cannot be written right now; try again later.",
  },
  STORE_UNAVAILABLE: {
    exit: 1,
    retryable: true,
    user: "The bot's shared storage (Redis) is not reachable right now; nothing was taken — try again in a minute.",
  },
  BOT_STOPPING: {
    exit: 1,
    retryable: true,
    user: 'quickread is restarting; post again in a minute.',
  },
  INTERNAL: {
    exit: 1,
    retryable: false,
    user: 'Something went wrong inside quickread: this is a bug in quickread; the log has the details.',
  },
} as const satisfies Record<string, { exit: number; retryable: boolean; user: string }>;

export type ErrorCode = keyof typeof errorCodes;

export interface AppErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  /** Overrides the code's generic user message with something more specific (never PHI). */
  userMessage?: string;
  /** Safe, structured facts for logs and JSON output (no PHI, no values of secrets). */
  details?: Record<string, unknown>;
  /** Seconds a caller should wait before retrying, when the cause said so. */
  retryAfterSec?: number;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly userMessage: string;
  readonly details: Record<string, unknown>;
  readonly retryAfterSec: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? errorCodes[code].retryable;
    this.userMessage = options.userMessage ?? errorCodes[code].user;
    this.details = options.details ?? {};
    this.retryAfterSec = options.retryAfterSec;
  }

  get exitCode(): number {
    return errorCodes[this.code].exit;
  }

  /** The shape that crosses process and HTTP boundaries: code + safe message only. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.userMessage };
  }
}

/** How long a caller refused with BOT_STOPPING is told to wait (a restart by systemd or Docker). */
export const BOT_STOPPING_RETRY_S = 60;

/** A request that arrived after SIGTERM: refused with a code, never taken and then dropped (issue 15). */
export function botStoppingError(where: string): AppError {
  return new AppError('BOT_STOPPING', `${where}: quickread stopping`, {
    retryAfterSec: BOT_STOPPING_RETRY_S,
  });
}

/** Wrap anything thrown into an AppError without leaking its text to users. */
export function toAppError(error: unknown, fallback: ErrorCode = 'INTERNAL'): AppError {
  if (error instanceof AppError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AppError(fallback, message, { cause: error });
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}

/** A code string that came back through a reply (e.g. `OutboundMessage.code`) names one of ours. */
export function isErrorCode(code: string | undefined): code is ErrorCode {
  return code !== undefined && Object.hasOwn(errorCodes, code);
}
