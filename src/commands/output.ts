import { AppError, toAppError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** Where command output goes: injectable so tests can capture it without touching process streams. */
export interface CommandIO {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processIO: CommandIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/**
 * Print an error as its safe user message with its code, never a stack; return the exit code. An
 * INTERNAL error is a bug: its message says so, and the log (stderr, JSON) gets the stack and causes.
 */
export function reportError(error: unknown, io: CommandIO, logger?: Logger): number {
  const appError = toAppError(error);
  if (appError.code === 'INTERNAL') logger?.error({ err: appError }, 'internal error (a bug in quickread)');
  io.err(`quickread: ${appError.userMessage} [${appError.code}]`);
  return appError.exitCode;
}

export function notImplemented(command: string): never {
  throw new AppError('NOT_IMPLEMENTED', `${command} not implemented`, {
    userMessage: `\`quickread ${command}\` is not implemented yet.`,
  });
}
