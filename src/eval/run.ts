import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReadPipeline } from '../api/pipeline.ts';
import { BATCH_QUESTION } from '../commands/batch.ts';
import { fatalCodes, isFinished } from '../commands/batch-report.ts';
import type { Config } from '../config.ts';
import type { InferenceResult, PreparedImage, ProbeOutcome } from '../core/types.ts';
import { type AppError, toAppError } from '../errors.ts';
import type { PrepareOptions } from '../ingest/index.ts';
import type { Logger } from '../log.ts';
import { probeText, type ReadSummary } from './read-match.ts';

/**
 * The reads of an evaluation: per image, one read exactly as `batch` does it (same question, the
 * dispatcher's retries and OOM ladder), then the yes/no probe for every labelled finding of that image,
 * each on the image and on a blank one. Every finished image is appended to results.jsonl and fsynced
 * before it counts, so an interrupted run resumes where it stopped (the batch checkpoint).
 */

/** One image's line in results.jsonl. JSON has no undefined: a probe without logprobs is null. */
export interface EvalRow {
  /** Path relative to the labels CSV's folder. */
  file: string;
  ok: boolean;
  error?: { code: string; message: string };
  /** The DICOM header's modality, when the image has one. */
  modality?: string;
  read?: ReadSummary;
  /** By finding as labelled (lower case): P(yes) on the image and on a blank image of the same size. */
  probes: Record<string, { real: number | null; blank: number | null }>;
  model: string;
  promptVersion?: string;
}

export interface EvalImage {
  file: string;
  findings: string[];
}

export interface Checkpoint {
  append(row: EvalRow): Promise<void>;
}

export interface ReadCasesDeps {
  pipeline: ReadPipeline;
  config: Config;
  logger: Logger;
  checkpoint: Checkpoint;
  progress: { update(done: number, failed: number): void };
}

/** Whether a stored row still answers for these findings (a finding added to the CSV since needs a probe). */
export function rowCovers(row: EvalRow | undefined, findings: readonly string[]): boolean {
  if (!row || !isFinished(row)) return false;
  return !row.ok || findings.every((finding) => finding in row.probes);
}

export function summariseRead(result: InferenceResult): ReadSummary {
  return {
    findings: result.findings.map((finding) => ({
      label: finding.label,
      ...(finding.location ? { location: finding.location } : {}),
      confidence: finding.confidence.value,
      source: finding.confidence.source,
      ...(finding.confidence.grounded === undefined ? {} : { grounded: finding.confidence.grounded }),
    })),
    impression: result.impression,
    urgency: result.urgency,
  };
}

const orNull = (value: number | undefined) => (value === undefined ? null : value);

/** Read and probe every image not already covered by `rows`; rows are updated in place. */
export async function readCases(
  images: readonly EvalImage[],
  root: string,
  rows: Map<string, EvalRow>,
  deps: ReadCasesDeps,
): Promise<void> {
  const { pipeline, config } = deps;
  const pending = images.filter((image) => !rowCovers(rows.get(image.file), image.findings));
  let finished = images.length - pending.length;
  let failed = [...rows.values()].filter((row) => !row.ok && isFinished(row)).length;
  const options: PrepareOptions = {
    maxSide: config.MAX_IMAGE_SIZE,
    maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
    burnedInText: config.BURNED_IN_TEXT,
    question: BATCH_QUESTION,
  };
  let fatal: AppError | undefined;

  const readOne = async (item: EvalImage): Promise<EvalRow> => {
    let image: PreparedImage | undefined;
    try {
      const bytes = await readFile(join(root, item.file));
      const result = await pipeline.dispatcher.schedule({
        id: `eval-${randomUUID()}`,
        userId: 'eval',
        channelId: 'eval',
        priority: 0,
        input: async () => {
          image = await pipeline.prepare(bytes, options);
          return {
            image,
            question: BATCH_QUESTION,
            history: [],
            refit: (maxSide: number) => pipeline.prepare(bytes, { ...options, maxSide }),
            temperature: config.TEMPERATURE,
          };
        },
      });
      // The probes ask about the image the read saw: smaller, if the server ran out of memory at full size.
      const seen = result.downscaled
        ? await pipeline.prepare(bytes, {
            ...options,
            maxSide: Math.max(result.downscaled.width, result.downscaled.height),
          })
        : image!;
      const probed: ProbeOutcome[] = pipeline.engine.probe
        ? await pipeline.engine.probe(
            { image: seen, findings: item.findings.map(probeText) },
            AbortSignal.timeout(config.ENGINE_TIMEOUT_MS * 4),
          )
        : item.findings.map(() => ({ real: undefined, blank: undefined }));
      const probes: EvalRow['probes'] = {};
      item.findings.forEach((finding, i) => {
        probes[finding] = { real: orNull(probed[i]?.real), blank: orNull(probed[i]?.blank) };
      });
      return {
        file: item.file,
        ok: true,
        ...(image?.meta.modality ? { modality: image.meta.modality } : {}),
        read: summariseRead(result),
        probes,
        model: result.model,
        promptVersion: result.promptVersion,
      };
    } catch (error) {
      const appError = toAppError(error);
      if (fatalCodes.has(appError.code)) fatal ??= appError;
      deps.logger.warn({ code: appError.code }, 'eval image failed');
      return {
        file: item.file,
        ok: false,
        error: appError.toJSON(),
        probes: {},
        model: pipeline.engine.model,
      };
    }
  };

  // A few images in flight: enough to keep the GPU slots and the dispatcher's look-ahead busy.
  const queue = [...pending];
  const worker = async () => {
    for (let item = queue.shift(); item && !fatal; item = queue.shift()) {
      const row = await readOne(item);
      if (fatal) return;
      await deps.checkpoint.append(row);
      rows.set(row.file, row);
      finished += 1;
      if (!row.ok) failed += 1;
      deps.progress.update(finished, failed);
    }
  };
  const width = Math.max(2, config.ENGINE_CONCURRENCY + 2);
  await Promise.all(Array.from({ length: Math.min(width, queue.length) }, worker));
  if (fatal) throw fatal;
}
