import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { parseCsvLine, parseLabel } from '../commands/calibrate.ts';
import type { Urgency } from '../core/types.ts';
import { AppError } from '../errors.ts';

/**
 * The labelled case set of `quickread eval`: a CSV with one row per image × finding.
 *   file      path of a DICOM or raster image, relative to the CSV's folder
 *   finding   what was looked for, e.g. pneumothorax, nodule, effusion, fracture, normal
 *   present   1/0 (also true/false, yes/no)
 *   modality  optional: CR, DX, CT… (else the DICOM header's, else "unknown")
 *   split     optional: a name such as train/test; `--split` evaluates one of them
 *   urgency   optional: routine/urgent/critical, the reference urgency of the image
 * A bad row is reported by its line number and skipped; the rest of the set is still evaluated.
 * Problems never quote the file name (it may carry a patient's name): the line number finds the row.
 */

export interface LabelledCase {
  /** Line of the CSV this case came from (1 = the header). */
  line: number;
  /** Path relative to the CSV's folder, with forward slashes. */
  file: string;
  /** Lower-case, trimmed: "Pneumothorax" and "pneumothorax " are one finding. */
  finding: string;
  present: 0 | 1;
  modality?: string;
  split?: string;
  urgency?: Urgency;
}

export interface CaseProblem {
  line: number;
  message: string;
}

export interface CaseSet {
  /** The CSV's folder: `file` is resolved against it. */
  root: string;
  cases: LabelledCase[];
  problems: CaseProblem[];
}

const REQUIRED = ['file', 'finding', 'present'] as const;
const OPTIONAL = ['modality', 'split', 'urgency'] as const;
const URGENCIES = new Set<string>(['routine', 'urgent', 'critical']);

const usage = (message: string) =>
  new AppError('USAGE', `eval: ${message}`, { userMessage: `The labels file ${message}.` });

/** One data row as a case, or what is wrong with it. */
function rowToCase(cells: string[], header: string[], root: string, line: number): LabelledCase | string {
  const cell = (name: string) => {
    const at = header.indexOf(name);
    return at < 0 ? '' : (cells[at] ?? '');
  };
  if (cells.length > header.length) return `has ${cells.length} fields, the header ${header.length}`;
  const file = cell('file').replace(/\\/g, '/');
  const finding = cell('finding').toLowerCase().replace(/\s+/g, ' ');
  const present = parseLabel(cell('present'));
  if (file === '') return 'file is empty';
  if (finding === '') return 'finding is empty';
  if (present === undefined) return 'present must be 1 or 0 (or true/false, yes/no)';
  const inside = relative(root, resolve(root, file));
  if (isAbsolute(file) || inside.startsWith('..') || isAbsolute(inside)) {
    return "file must be a relative path inside the CSV's folder";
  }
  const urgency = cell('urgency').toLowerCase();
  if (urgency !== '' && !URGENCIES.has(urgency))
    return 'urgency must be routine, urgent or critical (or empty)';
  const labelled: LabelledCase = { line, file: inside.split(sep).join('/'), finding, present };
  const modality = cell('modality').toUpperCase();
  const split = cell('split');
  if (modality !== '') labelled.modality = modality;
  if (split !== '') labelled.split = split;
  if (urgency !== '') labelled.urgency = urgency as Urgency;
  return labelled;
}

/** Parse the CSV text; files are not looked at here (see `checkFiles`). */
export function parseCases(text: string, root: string, only?: { split?: string }): CaseSet {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = parseCsvLine(lines[0] ?? '').map((name) => name.toLowerCase());
  const missing = REQUIRED.filter((name) => !header.includes(name));
  if (header.length === 0 || missing.length > 0) {
    throw usage(
      `needs a header row with the columns file, finding and present (missing: ${missing.join(', ')})`,
    );
  }
  const problems: CaseProblem[] = [];
  const known = new Set<string>([...REQUIRED, ...OPTIONAL]);
  header.forEach((name, index) => {
    if (!known.has(name)) {
      problems.push({
        line: 1,
        message: `unknown column "${name.slice(0, 40)}" (column ${index + 1}) is ignored; known columns: ${[...known].join(', ')}`,
      });
    }
  });
  const cases: LabelledCase[] = [];
  const seen = new Map<string, LabelledCase>();
  lines.slice(1).forEach((raw, index) => {
    const line = index + 2;
    if (raw.trim() === '') return;
    const row = rowToCase(parseCsvLine(raw), header, root, line);
    if (typeof row === 'string') {
      problems.push({ line, message: row });
      return;
    }
    if (only?.split !== undefined && row.split !== only.split) return;
    const key = `${row.file}\u0000${row.finding}`;
    const earlier = seen.get(key);
    if (earlier) {
      problems.push({
        line,
        message: `duplicates line ${earlier.line} (same file and finding); this row is ignored`,
      });
      return;
    }
    seen.set(key, row);
    cases.push(row);
  });
  return { root, cases, problems };
}

/**
 * Drop cases whose file does not exist (or is not a file), each reported by line; and report an image
 * given two different reference urgencies (the first one is kept).
 */
export async function checkFiles(set: CaseSet): Promise<CaseSet> {
  const exists = new Map<string, boolean>();
  const problems = [...set.problems];
  const cases: LabelledCase[] = [];
  const urgencyOf = new Map<string, LabelledCase>();
  for (const labelled of set.cases) {
    let ok = exists.get(labelled.file);
    if (ok === undefined) {
      ok = await stat(resolve(set.root, labelled.file)).then(
        (info) => info.isFile(),
        () => false,
      );
      exists.set(labelled.file, ok);
    }
    if (!ok) {
      problems.push({ line: labelled.line, message: 'file not found under the CSV folder; row skipped' });
      continue;
    }
    if (labelled.urgency) {
      const first = urgencyOf.get(labelled.file);
      if (first?.urgency && first.urgency !== labelled.urgency) {
        problems.push({
          line: labelled.line,
          message: `urgency differs from line ${first.line} for the same file; line ${first.line}'s is used`,
        });
        delete labelled.urgency;
      } else if (!first) urgencyOf.set(labelled.file, labelled);
    }
    cases.push(labelled);
  }
  problems.sort((a, b) => a.line - b.line);
  return { root: set.root, cases, problems };
}

/** The images to read, in CSV order, each with its labelled findings. */
export function imagesOf(cases: readonly LabelledCase[]): Array<{ file: string; findings: string[] }> {
  const byFile = new Map<string, string[]>();
  for (const labelled of cases) {
    const list = byFile.get(labelled.file) ?? [];
    list.push(labelled.finding);
    byFile.set(labelled.file, list);
  }
  return [...byFile].map(([file, findings]) => ({ file, findings }));
}
