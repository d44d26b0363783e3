import { readFile } from 'node:fs/promises';
import type { Config } from '../config.ts';
import { DISCLAIMER, urgencyBadge } from '../core/reply.ts';
import type { Finding, InferenceResult, PreparedImage } from '../core/types.ts';
import { confidenceBand, confidenceText, windowJson, windowWords } from '../core/wording.ts';
import { createEngine } from '../engine/index.ts';
import { summarizeStudy } from '../engine/study.ts';
import { AppError, isAppError } from '../errors.ts';
import { closeDecodePool, type PrepareOptions, prepareImage } from '../ingest/index.ts';
import { isZip, prepareStudy } from '../ingest/study/index.ts';
import { studyOptions } from '../ingest/study/options.ts';
import { createLogger, type Logger } from '../log.ts';
import { vllmCommand } from './doctor.ts';
import type { CommandIO } from './output.ts';

/**
 * `quickread ask FILE... QUESTION [--json]` (DESIGN §5): the whole pipeline once — prepare (decode, window,
 * de-identify, fit), read with the configured engine, print. Several files (views, slices, a zipped
 * series) are one study read together (issue 17). The out-of-memory ladder re-prepares from
 * the original bytes, which keeps more detail than shrinking the fitted PNG again.
 */

export interface AskOptions {
  json?: boolean;
}

export interface AskDeps {
  fetch?: typeof fetch;
  logger?: Logger;
}

export async function runAsk(
  config: Config,
  io: CommandIO,
  file: string | readonly string[],
  question: string,
  options: AskOptions = {},
  deps: AskDeps = {},
): Promise<number> {
  if (question.trim() === '') {
    throw new AppError('USAGE', 'empty question', { userMessage: 'Ask a question about the image.' });
  }
  const files = typeof file === 'string' ? [file] : file;
  const inputs: Buffer[] = [];
  for (const path of files) {
    try {
      inputs.push(await readFile(path));
    } catch {
      // The path is not echoed: file names often carry patient names.
      throw new AppError('USAGE', 'ask: input not readable', {
        userMessage: 'A file could not be read: check the paths and permissions.',
      });
    }
  }
  const logger = deps.logger ?? createLogger({ level: config.LOG_LEVEL });
  const prepareOptions: PrepareOptions = {
    source: 'file',
    maxSide: config.MAX_IMAGE_SIZE,
    question,
    maxBytes: config.MAX_UPLOAD_MB * 1024 * 1024,
    burnedInText: config.BURNED_IN_TEXT,
  };
  try {
    // Every file is one read: several views, a zipped series or a multi-frame file become one study.
    const study = await prepareStudy(
      inputs.map((bytes) => ({ bytes })),
      { ...studyOptions(config), question },
    );
    const image = study.images[0]!;
    const single = inputs.length === 1 && study.images.length === 1 && !isZip(inputs[0]!);
    const engine = createEngine(config, { logger, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
    const result = await engine
      .infer(
        {
          image,
          ...(study.images.length > 1 ? { study: study.images } : {}),
          question,
          history: [],
          // One image: the ladder re-prepares from the original bytes (more detail than shrinking the PNG).
          ...(single
            ? { refit: (maxSide: number) => prepareImage(inputs[0]!, { ...prepareOptions, maxSide }) }
            : {}),
        },
        new AbortController().signal,
      )
      .catch((error: unknown) => {
        throw withFix(error, config);
      });
    await engine.close?.();
    const read = { ...result, images: result.images ?? summarizeStudy(study.images) };
    if (options.json)
      io.out(JSON.stringify({ ...askJson(read, image), images: read.images, notes: study.notes }));
    else for (const line of askText(read, image, study.notes)) io.out(line);
    return 0;
  } finally {
    await closeDecodePool();
  }
}

/**
 * `ask` has no queue to wait in: an unreachable engine is a failure here, so say how to start one
 * (the same hint `quickread doctor` prints) instead of the chat wording "your request is waiting".
 */
function withFix(error: unknown, config: Config): unknown {
  if (!isAppError(error, 'ENGINE_UNAVAILABLE')) return error;
  const start =
    config.ENGINE === 'openai'
      ? `start one, e.g. ${vllmCommand(config)}, or set ENGINE_URL to where it runs`
      : 'start it, or set ENGINE_URL to where it runs';
  return new AppError('ENGINE_UNAVAILABLE', error.message, {
    cause: error,
    userMessage: `No model server answers at ${config.ENGINE_URL}: ${start}. Run \`quickread doctor\` to check.`,
  });
}

/** The `--json` shape promised in the issue; nothing else from the image or the model is added. */
export function askJson(result: InferenceResult, image: PreparedImage) {
  // tokens.image is the whole study's when several images were read.
  const sent = result.downscaled ?? { width: image.width, height: image.height, tokens: result.tokens.image };
  return {
    findings: result.findings.map((finding) => ({
      label: finding.label,
      location: finding.location ?? null,
      sizeMm: finding.sizeMm ?? null,
      laterality: finding.laterality ?? null,
      severity: finding.severity ?? null,
      characteristics: finding.characteristics ?? null,
      confidence: {
        value: round(finding.confidence.value, 3),
        band: confidenceBand(finding.confidence.value),
        source: finding.confidence.source,
        calibrated: finding.confidence.calibrated,
        calibratedOn: finding.confidence.calibratedOn ?? null,
        grounded: finding.confidence.grounded ?? null,
      },
    })),
    impression: result.impression,
    urgency: result.urgency,
    recommendations: result.recommendations,
    imageQuality: result.imageQuality ?? null,
    model: result.model,
    promptVersion: result.promptVersion,
    image: { width: sent.width, height: sent.height, tokens: sent.tokens },
    downscaled: result.downscaled !== undefined,
    window: windowJson(image.window),
    // Issue #9: counts of text found in the pixels (never the text), null when no scan ran.
    burnedInText: image.deid.burnedInText ?? null,
  };
}

/** One line saying what happened to text found in the pixels, or nothing when none was found. */
export function burnedInTextLine(image: PreparedImage): string | undefined {
  const report = image.deid.burnedInText;
  if (!report || report.regions <= report.keptMarkers) return undefined;
  const found = report.regions - report.keptMarkers;
  if (report.redacted > 0) {
    return `Text found in the image pixels (${report.redacted} region(s)) was blacked out before the read.`;
  }
  return `Text found in the image pixels (${found} region(s)) was left in place (BURNED_IN_TEXT=flag): check it shows no name, date or ID before sharing the image.`;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

function findingLine(finding: Finding, index: number): string {
  const where = [
    finding.location,
    finding.sizeMm === undefined ? undefined : `${finding.sizeMm} mm`,
    finding.laterality && finding.laterality !== 'none' ? finding.laterality : undefined,
    finding.severity,
  ].filter(Boolean);
  const c = finding.confidence;
  const grounded = c.grounded === false ? ' · not image-grounded' : '';
  const described = finding.characteristics ? `\n     ${finding.characteristics}` : '';
  return `  ${index + 1}. ${finding.label}${where.length > 0 ? ` — ${where.join(', ')}` : ''} · confidence ${confidenceText(c.value, c.source, c.calibrated, c.calibratedOn)}${grounded}${described}`;
}

export function askText(
  result: InferenceResult,
  image: PreparedImage,
  notes: readonly string[] = [],
): string[] {
  const badge = urgencyBadge[result.urgency];
  const sent = result.downscaled ?? { width: image.width, height: image.height, tokens: result.tokens.image };
  const lines = [`${badge.emoji} Urgency: ${badge.label}`, `Impression: ${result.impression}`];
  lines.push(result.findings.length > 0 ? 'Findings:' : 'Findings: none reported');
  result.findings.forEach((finding, i) => {
    lines.push(findingLine(finding, i));
  });
  if (result.recommendations.length > 0) {
    lines.push('Recommendations:', ...result.recommendations.map((line) => `  - ${line}`));
  }
  if (result.imageQuality) lines.push(`Image quality: ${result.imageQuality}`);
  if (result.images && result.images.length > 1) {
    lines.push(`Images read (${result.images.length}):`, ...result.images.map((one) => `  - ${one.label}`));
  }
  for (const note of notes) lines.push(`Note: ${note}.`);
  const text = burnedInTextLine(image);
  if (text) lines.push(text);
  const shrunk = result.downscaled ? ' (downscaled: the model server ran out of memory at full size)' : '';
  lines.push(`Display window: ${windowWords(image.window)}`);
  lines.push(
    `Model: ${result.model} · prompt ${result.promptVersion} · image ${sent.width}×${sent.height} px, ${sent.tokens} tokens${shrunk}`,
  );
  lines.push(DISCLAIMER);
  return lines;
}
