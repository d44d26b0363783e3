import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DISCLAIMER, urgencyBadge } from '../core/reply.ts';
import type { Finding, InferenceResult, StudyImageSummary, Urgency, WindowInfo } from '../core/types.ts';
import { confidenceHeadline, confidenceSourceWords, windowJson } from '../core/wording.ts';
import type { AppError } from '../errors.ts';

/**
 * The batch's durable outputs: `results.jsonl` (the checkpoint: one row per finished image, appended
 * and fsynced before the next one counts as done) and the merged `summary.md` / `summary.csv`.
 */
export interface BatchRow {
  /** The input's path relative to --input-dir. */
  file: string;
  /** 1-based frame, for multi-frame inputs only. */
  frame?: number;
  frames?: number;
  ok: boolean;
  error?: { code: string; message: string };
  findings: Finding[];
  impression: string | null;
  urgency: Urgency | null;
  model: string;
  promptVersion?: string;
  /** The question every image of the run was asked (--question, or the standard review question). */
  question?: string;
  /** The display window the model saw (issue 18). */
  window?: ReturnType<typeof windowJson>;
  /** What the model saw: every image of a study (--group-by folder), or the one image (issue 17). */
  images?: StudyImageSummary[];
  /** What a study left out and why, and which slices were read. */
  notes?: string[];
}

/** What a row records about how it was asked, besides the answer. */
export interface RowContext {
  question: string;
  window?: WindowInfo;
}

/** What the checkpoint needs of a row (batch's and eval's rows both have it). */
export interface CheckpointRow {
  file: string;
  frame?: number;
  ok: boolean;
}

export const unitKey = (file: string, frame?: number): string => (frame ? `${file}#${frame}` : file);

export function rowFromResult(
  file: string,
  frame: { index?: number; count?: number },
  result: InferenceResult,
  context: RowContext,
): BatchRow {
  return {
    file,
    ...(frame.index ? { frame: frame.index, frames: frame.count } : {}),
    ok: true,
    findings: result.findings,
    impression: result.impression,
    urgency: result.urgency,
    model: result.model,
    promptVersion: result.promptVersion,
    question: context.question,
    ...(context.window ? { window: windowJson(context.window) } : {}),
    ...(result.images ? { images: result.images } : {}),
  };
}

export function rowFromError(
  file: string,
  frame: { index?: number; count?: number },
  error: AppError,
  model: string,
  context: RowContext,
): BatchRow {
  return {
    file,
    ...(frame.index ? { frame: frame.index, frames: frame.count } : {}),
    ok: false,
    error: error.toJSON(),
    findings: [],
    impression: null,
    urgency: null,
    model,
    question: context.question,
  };
}

/**
 * A failed row is final only when the image itself is the problem (damaged, unsupported, identity in
 * the header…): reading it again gives the same answer. Engine and internal failures are redone.
 */
const finalCodes = /^(INPUT_|TRANSFER_SYNTAX_|PHI_|BURNED_IN_TEXT|DECODE_TIMEOUT|IMAGE_TOO_LARGE_FOR_ENGINE)/;

export function isFinished(row: { ok: boolean; error?: { code: string } }): boolean {
  return row.ok || finalCodes.test(row.error?.code ?? '');
}

/** Failures that would fail every image the same way: the batch stops instead of writing N bad rows. */
export const fatalCodes = new Set([
  'ENGINE_MODEL_MISSING',
  'CONFIG_INVALID',
  'MODEL_FILES_MISSING',
  'CUDA_UNAVAILABLE',
]);

/**
 * Read the checkpoint. A crash can leave a half-written last line: it is cut off so the next append
 * starts on a fresh line. The last row per image wins.
 */
export async function loadCheckpoint<Row extends CheckpointRow = BatchRow>(
  path: string,
): Promise<Map<string, Row>> {
  const rows = new Map<string, Row>();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return rows;
  }
  let goodBytes = 0;
  for (const line of text.split('\n')) {
    const lineBytes = Buffer.byteLength(line) + 1;
    if (line.trim() === '') {
      goodBytes += lineBytes;
      continue;
    }
    try {
      const row = JSON.parse(line) as Row;
      if (typeof row.file !== 'string' || typeof row.ok !== 'boolean') break;
      rows.set(unitKey(row.file, row.frame), row);
      goodBytes += lineBytes;
    } catch {
      break;
    }
  }
  const size = Buffer.byteLength(text);
  if (goodBytes < size) await truncate(path, Math.min(goodBytes, size));
  return rows;
}

/** Append-only writer: each row is written and fsynced before the promise resolves. */
export async function openCheckpoint<Row extends CheckpointRow = BatchRow>(path: string) {
  const handle = await open(path, 'a');
  let chain: Promise<void> = Promise.resolve();
  return {
    append(row: Row): Promise<void> {
      chain = chain.then(async () => {
        await handle.appendFile(`${JSON.stringify(row)}\n`);
        await handle.sync();
      });
      return chain;
    },
    async close() {
      await chain;
      await handle.close();
    },
  };
}

export const csvCell = (value: string | number | boolean | null | undefined): string => {
  const text = value === null || value === undefined ? '' : String(value);
  // RFC 4180 quoting; a leading = + - @ is defused so a spreadsheet never runs model text as a formula.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

const mdCell = (text: string): string =>
  text
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]+/g, ' ')
    .replace(/[<>]/g, '');

// Band first, % second (issue 18); the source of the numbers is stated once per summary and per CSV row.
const findingText = (finding: Finding): string =>
  `${finding.label}${finding.location ? ` (${finding.location})` : ''}: ${confidenceHeadline(finding.confidence.value)}`;

const topFinding = (row: BatchRow): Finding | undefined =>
  row.findings.reduce<Finding | undefined>(
    (best, finding) => (best && best.confidence.value >= finding.confidence.value ? best : finding),
    undefined,
  );

const sourceOf = (finding: Finding): string =>
  confidenceSourceWords(finding.confidence.source, finding.confidence.calibrated);

export function summaryCsv(rows: BatchRow[]): string {
  const header = [
    'file',
    'frame',
    'ok',
    'urgency',
    'impression',
    'findings',
    'top_confidence',
    'model',
    'error_code',
    'error',
    'confidence_source',
    'window',
    'question',
  ];
  const lines = rows.map((row) => {
    const top = topFinding(row);
    return [
      row.file,
      row.frame,
      row.ok,
      row.urgency,
      row.impression,
      row.findings.map(findingText).join('; '),
      top ? top.confidence.value.toFixed(2) : '',
      row.model,
      row.error?.code,
      row.error?.message,
      top ? sourceOf(top) : '',
      row.window?.description,
      row.question,
    ]
      .map(csvCell)
      .join(',');
  });
  return `${[header.join(','), ...lines].join('\r\n')}\r\n`;
}

export function summaryMarkdown(rows: BatchRow[], title: string): string {
  const count = (urgency: Urgency) => rows.filter((row) => row.urgency === urgency).length;
  const failed = rows.filter((row) => !row.ok).length;
  const models = [...new Set(rows.filter((r) => r.ok).map((r) => `${r.model} · ${r.promptVersion ?? ''}`))];
  const questions = [...new Set(rows.flatMap((r) => (r.question ? [r.question] : [])))];
  const sources = [...new Set(rows.flatMap((r) => r.findings.map(sourceOf)))];
  const lines = [
    `# ${title}`,
    '',
    `${rows.length} images: ${urgencyBadge.critical.emoji} ${count('critical')} critical, ${urgencyBadge.urgent.emoji} ${count('urgent')} urgent, ${urgencyBadge.routine.emoji} ${count('routine')} routine, ${failed} failed.`,
    '',
    ...questions.flatMap((question) => [`Question: ${mdCell(question)}`, '']),
    models.length ? `Model: ${models.join('; ')}` : '',
    '',
    // What the percentages are: never a bare number for an uncalibrated value.
    sources.length
      ? `Confidence: band (low < 40%, moderate < 70%, high) with the % — ${sources.join('; ')}`
      : '',
    '',
    '| # | file | urgency | impression | findings |',
    '|---|---|---|---|---|',
    ...rows.map((row, index) => {
      const name = mdCell(row.frame ? `${row.file} (frame ${row.frame})` : row.file);
      if (!row.ok)
        return `| ${index + 1} | ${name} | failed | ${mdCell(row.error?.message ?? '')} (${row.error?.code ?? ''}) | |`;
      const badge = row.urgency ? `${urgencyBadge[row.urgency].emoji} ${row.urgency}` : '';
      return `| ${index + 1} | ${name} | ${badge} | ${mdCell(row.impression ?? '')} | ${mdCell(row.findings.map(findingText).join('; '))} |`;
    }),
    '',
    `_${DISCLAIMER}_`,
    '',
  ];
  return lines.join('\n');
}

/** summary.md + summary.csv over every image; with splitEvery, also summary-part-NNN.{md,csv}. */
export async function writeSummaries(
  outputDir: string,
  rows: BatchRow[],
  splitEvery?: number,
): Promise<string[]> {
  const written: string[] = [];
  const put = async (name: string, text: string) => {
    await writeFile(join(outputDir, name), text);
    written.push(name);
  };
  await put('summary.md', summaryMarkdown(rows, 'quickread batch summary'));
  await put('summary.csv', summaryCsv(rows));
  if (splitEvery && splitEvery > 0 && rows.length > splitEvery) {
    const parts = Math.ceil(rows.length / splitEvery);
    for (let part = 0; part < parts; part += 1) {
      const slice = rows.slice(part * splitEvery, (part + 1) * splitEvery);
      const tag = String(part + 1).padStart(3, '0');
      await put(
        `summary-part-${tag}.md`,
        summaryMarkdown(slice, `quickread batch summary, part ${part + 1} of ${parts}`),
      );
      await put(`summary-part-${tag}.csv`, summaryCsv(slice));
    }
  }
  return written;
}
