import { readFile } from 'node:fs/promises';
import type { Config } from '../config.ts';
import type { ConfidenceSource } from '../core/types.ts';
import { fitTable, type LabelledCase, saveTable } from '../engine/confidence/calibration.ts';
import { PROMPT_VERSION } from '../engine/index.ts';
import { AppError } from '../errors.ts';
import type { CommandIO } from './output.ts';

/**
 * `quickread calibrate --labels FILE.csv`: fit the confidence calibration for ENGINE_MODEL + the
 * current prompt version from locally labelled cases, one table per confidence source.
 *
 * CSV (header row required, comma separated):
 *   raw_confidence  the confidence quickread reported, 0..1 (also accepted: confidence, raw)
 *   label           1 if the finding was confirmed, 0 if not (also: true/false, yes/no)
 *   source          optional: probe-logprob (default), token-logprob, engine, model-stated
 *   model, prompt_version   optional: rows for another model or prompt version are skipped
 * Platt scaling below 200 rows of a source, isotonic regression from 200.
 */

const SOURCES = new Set<ConfidenceSource>(['probe-logprob', 'token-logprob', 'engine', 'model-stated']);
export const MIN_CASES = 20;

/** RFC 4180 fields: commas inside double quotes, "" as an escaped quote. */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(field.trim());
      field = '';
    } else field += ch;
  }
  out.push(field.trim());
  return out;
}

/** A 1/0, true/false or yes/no label cell (calibrate's and eval's CSVs). */
export function parseLabel(text: string): 0 | 1 | undefined {
  const value = text.toLowerCase();
  if (['1', 'true', 'yes', 'y'].includes(value)) return 1;
  if (['0', 'false', 'no', 'n'].includes(value)) return 0;
  return undefined;
}

const usage = (message: string) =>
  new AppError('USAGE', `calibrate: ${message}`, { userMessage: `The labels file ${message}.` });

export function readLabelledCsv(
  text: string,
  current: { model: string; promptVersion: string },
): { bySource: Map<ConfidenceSource, LabelledCase[]>; skipped: number } {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length < 2) throw usage('has no data rows');
  const header = parseCsvLine(lines[0]!.replace(/^\uFEFF/, '')).map((name) => name.toLowerCase());
  const col = (...names: string[]) => header.findIndex((name) => names.includes(name));
  const rawCol = col('raw_confidence', 'confidence', 'raw');
  const labelCol = col('label', 'correct', 'truth');
  if (rawCol < 0 || labelCol < 0) throw usage('needs the columns raw_confidence and label');
  const sourceCol = col('source');
  const modelCol = col('model');
  const promptCol = col('prompt_version', 'promptversion');
  const bySource = new Map<ConfidenceSource, LabelledCase[]>();
  let skipped = 0;
  lines.slice(1).forEach((line, index) => {
    const cells = parseCsvLine(line);
    const raw = Number(cells[rawCol]);
    const label = parseLabel(cells[labelCol] ?? '');
    const source = (
      sourceCol >= 0 && cells[sourceCol] ? cells[sourceCol] : 'probe-logprob'
    ) as ConfidenceSource;
    if (!(raw >= 0 && raw <= 1) || label === undefined || !SOURCES.has(source)) {
      throw usage(`has an invalid value on data row ${index + 1}`);
    }
    const otherModel = modelCol >= 0 && cells[modelCol] && cells[modelCol] !== current.model;
    const otherPrompt = promptCol >= 0 && cells[promptCol] && cells[promptCol] !== current.promptVersion;
    if (otherModel || otherPrompt) {
      skipped++;
      return;
    }
    const list = bySource.get(source) ?? [];
    list.push({ raw, label });
    bySource.set(source, list);
  });
  return { bySource, skipped };
}

export async function runCalibrate(config: Config, io: CommandIO, labelsPath: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(labelsPath, 'utf8');
  } catch {
    throw usage('could not be read: check the path');
  }
  const current = { model: config.ENGINE_MODEL, promptVersion: PROMPT_VERSION };
  const { bySource, skipped } = readLabelledCsv(text, current);
  if (skipped > 0) io.out(`Skipped ${skipped} row(s) for another model or prompt version.`);
  let fitted = 0;
  for (const [source, cases] of bySource) {
    const positives = cases.filter((c) => c.label === 1).length;
    if (cases.length < MIN_CASES || positives === 0 || positives === cases.length) {
      io.out(
        `✗ ${source}: ${cases.length} case(s), ${positives} positive — need ${MIN_CASES}+ with both outcomes.`,
      );
      continue;
    }
    const table = fitTable(cases, { ...current, source });
    const path = await saveTable(config.DATA_DIR, table);
    fitted++;
    io.out(
      `✓ ${source}: ${table.method} on ${table.n} cases (${table.positives} positive); Brier ${table.brierBefore.toFixed(3)} → ${table.brierAfter.toFixed(3)}; saved ${path}`,
    );
  }
  if (fitted === 0) {
    throw new AppError('USAGE', 'calibrate: nothing fitted', {
      userMessage: `No calibration was fitted: each confidence source needs at least ${MIN_CASES} labelled rows with both outcomes.`,
    });
  }
  io.out(
    `Calibration applies to ${current.model} with prompt ${current.promptVersion}; restart quickread to use it.`,
  );
  return 0;
}
