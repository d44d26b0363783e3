import { AppError, toAppError } from '../errors.ts';

/** Where command output goes: injectable so tests can capture it without touching process streams. */
export interface CommandIO {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processIO: CommandIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Print an error as its safe user message with its code, never a stack; return the exit code. */
export function reportError(error: unknown, io: CommandIO): number {
  const appError = toAppError(error);
  io.err(`quickread: ${appError.userMessage} [${appError.code}]`);
  return appError.exitCode;
}

export function notImplemented(command: string): never {
  throw new AppError('NOT_IMPLEMENTED', `${command} not implemented`, {
    userMessage: `\`quickread ${command}\` is not implemented yet.`,
  });
}
