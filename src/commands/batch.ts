import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { createReadPipeline, type ReadPipeline } from '../api/pipeline.ts';
import type { Config } from '../config.ts';
import type { PreparedImage, StudyImage } from '../core/types.ts';
import { summarizeStudy } from '../engine/study.ts';
import { AppError, toAppError } from '../errors.ts';
import type { PrepareOptions } from '../ingest/index.ts';
import { imageLabel, prepareStudy } from '../ingest/study/index.ts';
import { studyOptions } from '../ingest/study/options.ts';
import { createLogger } from '../log.ts';
import { countFrames } from './batch-frames.ts';
import {
  type BatchRow,
  fatalCodes,
  isFinished,
  loadCheckpoint,
  openCheckpoint,
  rowFromError,
  rowFromResult,
  unitKey,
  writeSummaries,
} from './batch-report.ts';
import type { CommandIO } from './output.ts';
import { createProgress } from './progress.ts';

/**
 * `quickread batch` (DESIGN §5): read a case series — every file of a folder, and every frame of a
 * multi-frame image — through the dispatcher, checkpointing each image to results.jsonl so a crash or
 * Ctrl-C loses at most the reads in flight, and `--resume` redoes nothing that finished.
 */
export interface BatchCliOptions {
  inputDir: string;
  outputDir: string;
  splitEvery?: string;
  resume?: boolean;
  /** Asked of every image instead of the standard review question. */
  question?: string;
  /** 'file' (default): one read per image and frame. 'folder': the files of each folder are one study read. */
  groupBy?: string;
}

export interface BatchDeps {
  pipeline?: ReadPipeline;
  /** Where the progress display goes (default stderr). */
  progress?: NodeJS.WriteStream;
}

export const BATCH_QUESTION =
  'Review this image as a radiologist. List every finding with its location, and give an overall impression and urgency.';

/** Files of the case series in a stable order; hidden files, DICOMDIR and the output folder are skipped. */
async function listInputs(inputDir: string, outputDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.name.startsWith('.') || entry.name.toUpperCase() === 'DICOMDIR') continue;
      if (entry.isDirectory()) {
        if (resolve(path) !== outputDir) await walk(path);
      } else if (entry.isFile()) {
        found.push(relative(inputDir, path).split(sep).join('/'));
      }
    }
  };
  await walk(inputDir);
  return found.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

function parseQuestion(value: string | undefined): string {
  if (value === undefined) return BATCH_QUESTION;
  const question = value.trim();
  if (question === '' || question.length > 2000) {
    throw new AppError('USAGE', 'batch: bad --question', {
      userMessage: '--question must be a question of 1 to 2000 characters.',
    });
  }
  return question;
}

function parseGroupBy(value: string | undefined): 'file' | 'folder' {
  if (value === undefined || value === 'file' || value === 'folder') return value ?? 'file';
  throw new AppError('USAGE', 'batch: bad --group-by', {
    userMessage: '--group-by must be "file" (one read per image) or "folder" (each folder is one study).',
  });
}

/** Each folder's own files (not its sub-folders') as one unit, keyed by the folder's relative path. */
function folderUnits(files: readonly string[]): Unit[] {
  const folders = new Map<string, string[]>();
  for (const file of files) {
    const folder = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
    folders.set(folder, [...(folders.get(folder) ?? []), file]);
  }
  return [...folders].map(([folder, members]) => ({ file: folder, members }));
}

function parseSplit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new AppError('USAGE', 'batch: bad --split-every', {
      userMessage: '--split-every must be a whole number ≥ 1.',
    });
  }
  return n;
}

interface Unit {
  file: string;
  /** --group-by folder: the folder's files, read as one study (`file` is the folder). */
  members?: string[];
  /** Set for frames 2..N of a multi-frame input, once frame 1 revealed the count. */
  frame?: number;
  frames?: number;
}

export async function runBatch(
  config: Config,
  io: CommandIO,
  options: BatchCliOptions,
  deps: BatchDeps = {},
) {
  const inputDir = resolve(options.inputDir);
  const outputDir = resolve(options.outputDir);
  const splitEvery = parseSplit(options.splitEvery);
  const question = parseQuestion(options.question);
  const inputStat = await stat(inputDir).catch(() => undefined);
  if (!inputStat?.isDirectory()) {
    throw new AppError('USAGE', 'batch: input dir missing', {
      userMessage: `--input-dir ${options.inputDir} is not a folder.`,
    });
  }
  await mkdir(outputDir, { recursive: true });
  const resultsPath = join(outputDir, 'results.jsonl');
  const previous = await loadCheckpoint(resultsPath);
  if (previous.size > 0 && !options.resume) {
    throw new AppError('USAGE', 'batch: output has results', {
      userMessage: `${options.outputDir} already holds results.jsonl (${previous.size} images). Pass --resume to continue that run, or choose an empty --output-dir.`,
    });
  }
  const files = await listInputs(inputDir, outputDir);
  if (files.length === 0) {
    throw new AppError('USAGE', 'batch: no inputs', {
      userMessage: `${options.inputDir} holds no files to read.`,
    });
  }

  const logger = createLogger({ level: config.LOG_LEVEL });
  const pipeline = deps.pipeline ?? createReadPipeline(config, { logger });
  const checkpoint = await openCheckpoint(resultsPath);
  const rows = new Map(previous);
  const done = (key: string) => {
    const row = rows.get(key);
    return row !== undefined && isFinished(row);
  };
  const progress = createProgress(deps.progress ?? process.stderr, 'batch');
  const groupBy = parseGroupBy(options.groupBy);
  // Files known to be multi-frame (each frame is a unit of its own); expanded once.
  const expanded = new Set<string>();
  // Frames are counted from the headers before the first read, so the progress total is right from the
  // start instead of growing as multi-frame files are opened. A folder read as one study is one unit.
  const queue: Unit[] = groupBy === 'folder' ? folderUnits(files) : [];
  for (const file of groupBy === 'file' ? files : []) {
    const frames = await countFrames(join(inputDir, file));
    if (frames <= 1) {
      queue.push({ file });
      continue;
    }
    expanded.add(file);
    for (let frame = 1; frame <= frames; frame += 1) queue.push({ file, frame, frames });
  }
  let total = queue.length;
  let finished = 0;
  let failed = 0;
  const expand = (file: string, frames: number, front: boolean) => {
    if (expanded.has(file)) return;
    expanded.add(file);
    const units: Unit[] = [];
    for (let frame = 2; frame <= frames; frame += 1) units.push({ file, frame, frames });
    if (front) queue.unshift(...units);
    else queue.push(...units);
    total += frames - 1;
  };
  for (const row of previous.values()) if (row.frames && row.frames > 1) expand(row.file, row.frames, false);
  finished = [...rows.keys()].filter(done).length;
  progress.start(total, finished);

  const prepareOptions = (frame?: number): PrepareOptions => ({
    source: 'file',
    maxSide: config.MAX_IMAGE_SIZE,
    maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
    burnedInText: config.BURNED_IN_TEXT,
    question,
    ...(frame ? { frame } : {}),
  });

  let aborted = false;
  // Ctrl-C (or a service stop): drop the reads in flight, keep every finished row, say how to go on.
  const interrupt = new AbortController();
  const onSignal = () => {
    aborted = true;
    interrupt.abort();
    pump();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const readUnit = async (unit: Unit) => {
    const firstPass = unit.frame === undefined;
    // Frame 1 of a multi-frame file is keyed "file#1"; a single-frame file by its name.
    if (done(unitKey(unit.file, unit.frame)) || (firstPass && done(unitKey(unit.file, 1)))) return;
    const path = join(inputDir, unit.file);
    let frameInfo: { index?: number; count?: number } = unit.frame
      ? { index: unit.frame, count: unit.frames }
      : {};
    let row: BatchRow;
    let image: PreparedImage | undefined;
    if (unit.members) {
      row = await readStudyUnit(unit, unit.members);
      if (aborted) return;
      await checkpoint.append(row);
      rows.set(unitKey(row.file), row);
      finished += 1;
      if (!row.ok) failed += 1;
      progress.update(finished, failed);
      return;
    }
    try {
      const bytes = await readFile(path);
      if (aborted) return;
      const options = prepareOptions(unit.frame ?? 1);
      const result = await pipeline.dispatcher.schedule(
        {
          id: `batch-${randomUUID()}`,
          userId: 'batch',
          channelId: 'batch',
          priority: 0,
          input: async () => {
            image = await pipeline.prepare(bytes, options);
            if (firstPass && image.source.frames > 1) {
              frameInfo = { index: 1, count: image.source.frames };
              expand(unit.file, image.source.frames, true);
              progress.setTotal(total);
              pump();
            }
            return {
              image,
              question,
              history: [],
              refit: (maxSide: number) => pipeline.prepare(bytes, { ...options, maxSide }),
              temperature: config.TEMPERATURE,
            };
          },
        },
        interrupt.signal,
      );
      row = rowFromResult(unit.file, frameInfo, result, {
        question,
        ...(image ? { window: image.window } : {}),
      });
      row.images ??= image ? summarizeStudy([{ ...image, label: imageLabel(0, 1, image) }]) : [];
    } catch (error) {
      const appError = toAppError(error);
      if (aborted || (appError.code === 'INTERNAL' && appError.details.stopped)) return;
      if (fatalCodes.has(appError.code)) {
        aborted = true;
        throw appError;
      }
      row = rowFromError(unit.file, frameInfo, appError, pipeline.engine.model, { question });
      logger.warn({ code: appError.code }, 'batch image failed');
    }
    if (aborted) return;
    await checkpoint.append(row);
    rows.set(unitKey(row.file, row.frame), row);
    finished += 1;
    if (!row.ok) failed += 1;
    progress.update(finished, failed);
  };

  /** One folder as one study (issue 17): views, slices, a zip, read together in one request. */
  const readStudyUnit = async (unit: Unit, members: string[]): Promise<BatchRow> => {
    try {
      const inputs = await Promise.all(members.map((file) => readFile(join(inputDir, file))));
      let notes: string[] = [];
      let images: StudyImage[] = [];
      const result = await pipeline.dispatcher.schedule(
        {
          id: `batch-${randomUUID()}`,
          userId: 'batch',
          channelId: 'batch',
          priority: 0,
          input: async () => {
            const study = await prepareStudy(
              inputs.map((bytes) => ({ bytes })),
              { ...studyOptions(config), question },
            );
            notes = study.notes;
            images = study.images;
            return {
              image: study.images[0]!,
              ...(study.images.length > 1 ? { study: study.images } : {}),
              question,
              history: [],
              temperature: config.TEMPERATURE,
            };
          },
        },
        interrupt.signal,
      );
      return {
        ...rowFromResult(unit.file, {}, result, {
          question,
          ...(images[0] ? { window: images[0].window } : {}),
        }),
        images: result.images ?? summarizeStudy(images),
        notes,
      };
    } catch (error) {
      const appError = toAppError(error);
      if (aborted || (appError.code === 'INTERNAL' && appError.details.stopped))
        return rowFromError(unit.file, {}, appError, pipeline.engine.model, { question });
      if (fatalCodes.has(appError.code)) {
        aborted = true;
        throw appError;
      }
      logger.warn({ code: appError.code }, 'batch study failed');
      return rowFromError(unit.file, {}, appError, pipeline.engine.model, { question });
    }
  };

  // A few images in flight: enough to keep the GPU slots and the dispatcher's look-ahead busy.
  const width = Math.max(2, config.ENGINE_CONCURRENCY + 2);
  let active = 0;
  let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  const pump = () => {
    while (!aborted && active < width && queue.length > 0) {
      const unit = queue.shift()!;
      active += 1;
      readUnit(unit).then(
        () => {
          active -= 1;
          pump();
        },
        (error: unknown) => settle?.reject(error),
      );
    }
    if (active === 0 && (aborted || queue.length === 0)) settle?.resolve();
  };
  try {
    await new Promise<void>((resolveAll, rejectAll) => {
      settle = { resolve: resolveAll, reject: rejectAll };
      pump();
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.stop();
    await checkpoint.close();
    if (!deps.pipeline) await pipeline.close();
  }
  if (interrupt.signal.aborted) {
    io.err(
      `quickread batch: stopped after ${finished} of ${total} images; each finished image is saved in ${join(options.outputDir, 'results.jsonl')}.`,
    );
    io.err('Rerun the same command with --resume to continue where it stopped.');
    return 130;
  }

  const keys = groupBy === 'folder' ? folderUnits(files).map((unit) => unit.file) : files;
  const order = new Map(keys.map((file, index) => [file, index]));
  const ordered = [...rows.values()].sort(
    (a, b) => (order.get(a.file) ?? 1e9) - (order.get(b.file) ?? 1e9) || (a.frame ?? 0) - (b.frame ?? 0),
  );
  const written = await writeSummaries(outputDir, ordered, splitEvery);
  const failures = ordered.filter((row) => !row.ok).length;
  io.out(
    `quickread batch: ${ordered.length} images, ${ordered.length - failures} read, ${failures} failed → ${join(options.outputDir, 'results.jsonl')}, ${written.join(', ')}`,
  );
  return failures > 0 ? 1 : 0;
}
