import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Config } from '../config.ts';
import type { PreparedImage } from '../core/types.ts';
import { AppError, toAppError } from '../errors.ts';
import {
  closeIngestWorkers,
  defaultConcurrency,
  type PrepareOptions,
  prepareImage,
  WINDOW_PRESETS,
  type WindowChoice,
} from '../ingest/index.ts';
import { setTextScannerWorkers } from '../ingest/ocr/index.ts';
import type { DecodeTask } from '../ingest/prepare-core.ts';
import { type PrepareInput, resolveInputs } from '../ingest/prepare-files.ts';
import { createDecodePool, type DecodePool } from '../ingest/worker/pool.ts';
import type { CommandIO } from './output.ts';

/** `quickread prepare` (DESIGN §5): render what the model would see, one PNG per input. */
export interface PrepareCliOptions {
  out?: string;
  size?: string;
  window?: string;
  frame?: string;
  json?: boolean;
}

function usage(message: string): AppError {
  return new AppError('USAGE', message, { userMessage: message });
}

export function parseSize(raw: string | undefined, fallback: number): number | 'native' {
  if (raw === undefined) return fallback;
  if (raw === 'native') return 'native';
  const size = Number(raw);
  if (!Number.isInteger(size) || size < 32 || size > 16_384) {
    throw usage(`--size must be a whole number of pixels from 32 to 16384, or native (got "${raw}").`);
  }
  return size;
}

export function parseWindow(raw: string | undefined): WindowChoice {
  if (raw === undefined || raw === 'auto') return 'auto';
  if ((WINDOW_PRESETS as readonly string[]).includes(raw)) return raw as WindowChoice;
  const match = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)\s*$/.exec(raw);
  if (match && Number(match[2]) >= 1) return { center: Number(match[1]), width: Number(match[2]) };
  throw usage(
    `--window must be auto, ${WINDOW_PRESETS.join(', ')} or CENTER,WIDTH such as 40,400 (got "${raw}").`,
  );
}

export function parseFrame(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const frame = Number(raw);
  if (!Number.isInteger(frame) || frame < 1) {
    throw usage(`--frame must be a frame number from 1 (got "${raw}").`);
  }
  return frame;
}

function tooLarge(size: number, maxBytes: number): AppError {
  const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(0);
  return new AppError('INPUT_TOO_LARGE', `input ${size} bytes over cap ${maxBytes}`, {
    userMessage: `The file is ${mb(size)} MB; quickread accepts files up to ${mb(maxBytes)} MB (MAX_UPLOAD_MB).`,
    details: { bytes: size, maxBytes },
  });
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

type Outcome = { input: PrepareInput; image: PreparedImage } | { input: PrepareInput; error: AppError };

async function prepareOne(
  input: PrepareInput,
  options: PrepareOptions,
  pool: DecodePool,
  folders: Map<string, Promise<unknown>>,
): Promise<Outcome> {
  try {
    if (input.missing) throw new AppError('INPUT_NOT_FOUND', 'input path does not exist');
    const bytes = await readInput(input.file, options.maxBytes ?? Number.POSITIVE_INFINITY);
    const image = await prepareImage(bytes, options, pool);
    await writeOutput(input.output, image.png, folders);
    return { input, image };
  } catch (error) {
    return { input, error: toAppError(error, 'INPUT_CORRUPT') };
  }
}

/**
 * The whole file, its size checked before reading so a 5 GB file is refused without loading it, and
 * only a regular file: a named pipe or device given as an input would block the read forever.
 * Asynchronous (libuv's threads do the reads): measured on a CT series, synchronous reads or a
 * FileHandle cost more CPU or wall time than stat + readFile.
 */
async function readInput(file: string, maxBytes: number): Promise<Buffer> {
  const info = await stat(file);
  if (!info.isFile()) {
    throw new AppError('INPUT_UNSUPPORTED', 'input is not a regular file', {
      userMessage: 'This path is not a regular file (a device, pipe or socket); give an image or DICOM file.',
    });
  }
  if (info.size > maxBytes) throw tooLarge(info.size, maxBytes);
  return readFile(file);
}

/**
 * A failure to write the PNG is the output's fault, never reported as a damaged input. Each output
 * folder is made once per run (a CT series is hundreds of files into one folder).
 */
async function writeOutput(path: string, png: Buffer, folders: Map<string, Promise<unknown>>): Promise<void> {
  try {
    const folder = dirname(path);
    let made = folders.get(folder);
    if (!made) {
      made = mkdir(folder, { recursive: true });
      folders.set(folder, made);
    }
    await made;
    await writeFile(path, png);
  } catch (error) {
    throw new AppError('OUTPUT_NOT_WRITABLE', 'prepare: output not writable', { cause: error });
  }
}

/**
 * The `--json` record: exactly the DESIGN §5 fields, plus `burnedInText` (issue #9): the text scan's
 * counts, or null when no scan ran for this image (BURNED_IN_TEXT=flag on an image ingest did not flag).
 */
export function jsonRecord(outcome: Outcome): Record<string, unknown> {
  const { input } = outcome;
  if ('error' in outcome) return { file: input.file, ok: false, error: outcome.error.toJSON() };
  const { image } = outcome;
  return {
    file: input.file,
    ok: true,
    source: image.source.kind,
    modality: image.meta.modality ?? null,
    rows: image.source.rows,
    columns: image.source.columns,
    frames: image.source.frames,
    transferSyntax: image.source.transferSyntax ?? null,
    photometric: image.source.photometric ?? null,
    window: { center: image.window.center, width: image.window.width, source: image.window.source },
    output: { path: input.output, width: image.width, height: image.height, tokens: image.tokens },
    deid: { removedTags: image.deid.removedTags, burnedInAnnotation: image.deid.burnedInAnnotation },
    burnedInText: image.deid.burnedInText ?? null,
  };
}

function humanLine(outcome: Outcome): string {
  const { input } = outcome;
  if ('error' in outcome) return `✗ ${input.file}: ${outcome.error.userMessage} [${outcome.error.code}]`;
  const { image } = outcome;
  const w = image.window;
  const window =
    w.source === 'none'
      ? 'shown as stored'
      : `window ${Math.round(w.center)}/${Math.round(w.width)} (${w.preset ? `${w.preset}, ` : ''}${w.source})`;
  const text = image.deid.burnedInText;
  const textNote =
    text && text.regions > 0
      ? `text in pixels: ${text.regions} region(s), ${text.redacted} redacted, ${text.keptMarkers} marker(s) kept`
      : undefined;
  const what = [image.meta.modality, window, textNote].filter(Boolean).join(', ');
  return `✓ ${input.file} → ${input.output}  ${image.width}×${image.height}, ${image.tokens} tokens; ${what}`;
}

export async function runPrepare(
  paths: string[],
  cli: PrepareCliOptions,
  config: Config,
  io: CommandIO,
  /** bench/ingest only (see PrepareOptions.scanForText); the CLI passes nothing. */
  internal: Pick<PrepareOptions, 'scanForText'> = {},
): Promise<number> {
  const options: PrepareOptions = {
    ...internal,
    source: 'file',
    maxSide: parseSize(cli.size, config.MAX_IMAGE_SIZE),
    window: parseWindow(cli.window),
    frame: parseFrame(cli.frame),
    maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
    burnedInText: config.BURNED_IN_TEXT,
  };
  const inputs = await resolveInputs(paths, cli.out);
  if (inputs.length === 0) throw usage('No files found in the given folder(s).');
  // This thread has nothing else to serve, so it decodes too (no worker start-up for a small batch),
  // two files at a time so that one decodes while sharp encodes the other on libuv's threads, and up
  // to cores − 1 workers take the rest of a large batch. A few more files are in flight than decode at
  // once, so decoding runs ahead while earlier images wait for the text scan; output stays in order.
  const pool = createDecodePool({
    size: Math.max(1, defaultConcurrency() - 1),
    inline: async (task) => (await import('../ingest/prepare-core.ts')).decodeAndFit(task as DecodeTask),
    inlineConcurrency: 2,
  });
  // The text scan is the slow step of a batch (issue 9): one OCR worker per core, up to the pool's cap.
  if (inputs.length > 1) setTextScannerWorkers(Math.min(defaultConcurrency(), inputs.length));
  const settled = inputs.map(() => deferred<Outcome>());
  const folders = new Map<string, Promise<unknown>>();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < inputs.length) {
      const index = next++;
      settled[index]!.resolve(await prepareOne(inputs[index]!, options, pool, folders));
    }
  };
  const lanes = Array.from({ length: defaultConcurrency() + 2 }, lane);
  let failed = 0;
  try {
    for (const { promise } of settled) {
      const outcome = await promise;
      if ('error' in outcome) failed += 1;
      if (cli.json) io.out(JSON.stringify(jsonRecord(outcome)));
      else if ('error' in outcome) io.err(humanLine(outcome));
      else io.out(humanLine(outcome));
    }
    await Promise.all(lanes);
  } finally {
    await Promise.all([pool.close(), closeIngestWorkers()]);
    setTextScannerWorkers(1);
  }
  if (!cli.json && inputs.length > 1) io.out(`${inputs.length - failed} prepared, ${failed} failed.`);
  return failed === 0 ? 0 : 1;
}
