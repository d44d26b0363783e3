import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Keys whose values never reach a log line: credentials, what a clinician typed, file names (they often
 * hold patient names) and anything under an attachment or a DICOM header.
 */
const secretKey =
  /^(.*token.*|.*secret.*|authorization|cookie|api[-_]?key|password|question|text|prompt|history|turns|name|names|file[-_]?name|filename|.*path|dir|directory|input[-_]?dir|output[-_]?dir|title|attachments?|files?|url|urls|url_private.*|permalink.*|header|headers|patient.*|dicom.*|content|body|raw.*)$/i;

/** Token shapes that must be masked even inside free text (Slack, Discord, bearer keys). */
const tokenPattern =
  /(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|Bearer\s+[A-Za-z0-9._~+/=-]+|[MN][A-Za-z\d]{23,}\.[\w-]{6}\.[\w-]{27,}|sk-[A-Za-z0-9]{16,})/g;

const CENSOR = '[redacted]';

export function scrubText(text: string): string {
  return text.replace(tokenPattern, CENSOR);
}

/** Deep copy with secret keys censored and token shapes masked; bounded depth so a cycle cannot hang. */
export function scrub(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[deep]';
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
  if (value instanceof Error) {
    // The stack's frames (not its first line, which repeats the message) and the cause chain: what an
    // INTERNAL error's "the log has the details" promises. Frames name source files, never user data.
    const frames = value.stack?.split('\n').slice(1).join('\n');
    const cause = (value as { cause?: unknown }).cause;
    return {
      type: value.name,
      code: (value as { code?: unknown }).code,
      message: scrubText(value.message),
      ...(frames ? { stack: scrubText(frames) } : {}),
      ...(cause !== undefined ? { cause: scrub(cause, depth + 1) } : {}),
    };
  }
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = secretKey.test(key) ? CENSOR : scrub(inner, depth + 1);
  }
  return out;
}

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
  /** Write synchronously (a process about to exit must not lose its last line). */
  sync?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      // Errors are scrubbed like everything else; a stack trace stays in the log only, never in chat.
      serializers: { err: (error: unknown) => scrub(error) },
      formatters: { log: (object) => scrub(object) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((arg) => (typeof arg === 'string' ? scrubText(arg) : arg));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination({ dest: 2, sync: options.sync ?? false }),
  );
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
