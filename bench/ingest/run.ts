/**
 * bench/ingest: `quickread prepare` against a Python peer (pydicom + GDCM + numpy + Pillow, Debian
 * packages, /usr/bin/python3) doing the same work on the same corpus: decode, modality LUT, window,
 * resize to 1024 (32-px grid), write an 8-bit PNG (zlib level 1 on both sides). Whole processes,
 * alternated, median of several runs;
 * files/s per transfer-syntax group and overall, and the ratio. Results are printed, never committed.
 *
 *   npx tsx bench/ingest/run.ts [--runs 3] [--series 100] [--ct-series 300] [--corpus ../shared/corpus] [--groups all,rle]
 *
 * Two tables: one pass over each group (start-up included: what one `prepare` of a few files costs), and
 * a series where each process gets the group's files repeated up to at least `--series` files (a CT
 * series is one to several hundred slices; start-up is then amortised). Both sides get the identical
 * file list. The CT slices also run as a thin-slice CT series (`--ct-series`, 300 files by default).
 *
 * quickread runs three ways. The product: the default BURNED_IN_TEXT=redact (a text scan of every
 * image, issue 9: work the peer does not do; CT and MR slices get the fast pass first, issue 21) and
 * BURNED_IN_TEXT=flag (scan only raster images, US, secondary captures and files marked Burned In
 * Annotation). And the same work as the peer (bench/ingest/ingest-only.mjs: the same `prepare` code
 * and build with the text scan left out). Issue 21's goals compare both with the peer (see goals());
 * every table also shows the burned-in text set's recall with the product's scan, which must not drop.
 * On a shared machine wall times move with the others' load: the CPU ratios (user+sys of the whole
 * process) are the steadier measure.
 *
 * It times the `quickread` bin as installed: after `npm ci` that runs the plain-JS build of src/
 * (src/build.mjs); the header says which mode ran.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { freshBuild } from '../../src/build.mjs';
import { closeIngestWorkers } from '../../src/ingest/index.ts';
import { scanBurnedInText } from '../../src/ingest/ocr/index.ts';
import { burnedInTextSet, measureRecall, type Recall } from '../../test/unit/ocr/burned-in-set.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const arg = (name: string, fallback: string): string => {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? (process.argv[index + 1] ?? fallback) : fallback;
};
const runs = Number(arg('runs', '3'));
const seriesLength = Number(arg('series', '100'));
/** A thin-slice CT (1–1.25 mm over a chest or abdomen) is 250–400 slices: the CT series is also run at this length. */
const ctSeriesLength = Number(arg('ct-series', '300'));
const corpus = resolve(repo, arg('corpus', '../shared/corpus'));
const only = arg('groups', '').split(',').filter(Boolean);
const PYTHON = '/usr/bin/python3';

interface Reference {
  transferSyntaxUID: string | null;
  modality: string | null;
}

const SYNTAX_GROUPS: Record<string, string> = {
  '1.2.840.10008.1.2': 'uncompressed',
  '1.2.840.10008.1.2.1': 'uncompressed',
  '1.2.840.10008.1.2.2': 'uncompressed',
  '1.2.840.10008.1.2.1.99': 'deflate',
  '1.2.840.10008.1.2.5': 'rle',
  '1.2.840.10008.1.2.4.50': 'jpeg-baseline',
  '1.2.840.10008.1.2.4.51': 'jpeg-extended-12bit',
  '1.2.840.10008.1.2.4.57': 'jpeg-lossless',
  '1.2.840.10008.1.2.4.70': 'jpeg-lossless',
  '1.2.840.10008.1.2.4.80': 'jpeg-ls',
  '1.2.840.10008.1.2.4.81': 'jpeg-ls',
  '1.2.840.10008.1.2.4.90': 'jpeg-2000',
  '1.2.840.10008.1.2.4.91': 'jpeg-2000',
  '1.2.840.10008.1.2.4.201': 'htj2k',
  '1.2.840.10008.1.2.4.202': 'htj2k',
  '1.2.840.10008.1.2.4.203': 'htj2k',
};

function corpusGroups(): Map<string, string[]> {
  const reference = JSON.parse(readFileSync(join(corpus, 'reference.json'), 'utf8')) as Record<
    string,
    Reference
  >;
  const groups = new Map<string, string[]>();
  const add = (group: string, file: string) => groups.set(group, [...(groups.get(group) ?? []), file]);
  for (const [key, ref] of Object.entries(reference).sort()) {
    if (!(key.startsWith('dicom/') || key.startsWith('images/'))) continue;
    const file = join(corpus, key);
    if (!existsSync(file)) continue;
    const group = key.startsWith('images/')
      ? 'raster'
      : (SYNTAX_GROUPS[ref.transferSyntaxUID ?? '1.2.840.10008.1.2'] ?? 'other');
    add(group, file);
    if (group === 'uncompressed' && ref.modality === 'CT') add('ct-uncompressed', file);
    if (key.startsWith('dicom/')) add('all-dicom', file);
    add('all', file);
  }
  return groups;
}

interface Contender {
  name: string;
  command: (files: string[], out: string) => { cmd: string; args: string[]; env: NodeJS.ProcessEnv };
}

const ours = (mode: 'redact' | 'flag'): Contender => ({
  name: `quickread (${mode})`,
  command: (files, out) => ({
    cmd: process.execPath,
    args: [join(repo, 'src/quickread.mjs'), 'prepare', ...files, '--out', out, '--json'],
    env: { ...process.env, BURNED_IN_TEXT: mode, LOG_LEVEL: 'silent' },
  }),
});

const sameWork: Contender = {
  name: 'quickread (no scan)',
  command: (files, out) => ({
    cmd: process.execPath,
    args: [join(repo, 'bench/ingest/ingest-only.mjs'), ...files, '--out', out, '--json'],
    env: { ...process.env, LOG_LEVEL: 'silent' },
  }),
};

const peer: Contender = {
  name: 'pydicom+GDCM+Pillow',
  command: (files, out) => ({
    cmd: PYTHON,
    args: [join(repo, 'bench/ingest/peer.py'), ...files, '--out', out],
    env: { ...process.env, PYTHONWARNINGS: 'ignore' },
  }),
};

const TIME = '/usr/bin/time';
const haveTime = existsSync(TIME);

interface Sample {
  ms: number;
  /** user + system CPU seconds of the whole process (threads included), when /usr/bin/time exists. */
  cpu: number;
  ok: number;
  /** Set when the process died on a signal (a crash is reported, never timed). */
  signal?: string;
}

/** Wall time and CPU time of one whole process, and how many inputs it reported as prepared. */
function timeProcess(contender: Contender, files: string[]): Promise<Sample> {
  const out = mkdtempSync(join(tmpdir(), 'qr-bench-'));
  const cpuFile = join(out, '.cpu');
  const { cmd, args, env } = contender.command(files, join(out, 'png'));
  const [command, argv] = haveTime ? [TIME, ['-f', '%U %S', '-o', cpuFile, cmd, ...args]] : [cmd, args];
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(command, argv, { cwd: repo, env, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on('error', fail);
    child.on('close', (_code, signal) => {
      const ms = performance.now() - started;
      const times = haveTime && existsSync(cpuFile) ? readFileSync(cpuFile, 'utf8') : '';
      const died = /Command terminated by signal (\d+)/.exec(times);
      // time(1) prefixes "Command exited with non-zero status N" when the process reports a failure.
      const usage = times.split('\n').find((line) => /^\d+(\.\d+)? \d+(\.\d+)?$/.test(line)) ?? '0 0';
      const [user = 0, system = 0] = usage.split(' ').map(Number);
      rmSync(out, { recursive: true, force: true });
      const lines = stdout.split('\n').filter(Boolean);
      const ok = lines.filter((line) => line === 'ok' || line.includes('"ok":true')).length;
      const crashed = signal ?? (died ? `signal ${died[1]}` : undefined);
      done({ ms, cpu: user + system, ok, ...(crashed ? { signal: crashed } : {}) });
    });
  });
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Run every contender `runs` times on the same files, rotating who goes first. */
async function measure(contenders: Contender[], files: string[]) {
  const samples = contenders.map(() => [] as Sample[]);
  for (let run = 0; run < runs; run += 1) {
    for (let k = 0; k < contenders.length; k += 1) {
      const index = (k + run) % contenders.length;
      samples[index]!.push(await timeProcess(contenders[index]!, files));
    }
  }
  return contenders.map((contender, index) => {
    const own = samples[index]!;
    const crashed = own.find((sample) => sample.signal)?.signal;
    return {
      name: contender.name,
      ms: median(own.map((sample) => sample.ms)),
      cpu: median(own.map((sample) => sample.cpu)),
      ok: Math.min(...own.map((sample) => sample.ok)),
      ...(crashed ? { crashed } : {}),
    };
  });
}

function checkPeer(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import pydicom, gdcm, numpy, PIL'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.error(
      'The peer needs Debian Python packages: apt-get update && apt-get install -y python3-pydicom python3-gdcm python3-numpy python3-pil',
    );
    process.exit(1);
  }
  if (!existsSync(join(corpus, 'reference.json'))) {
    console.error(`No corpus at ${corpus} (pass --corpus DIR).`);
    process.exit(1);
  }
}

const pad = (text: string | number, width: number) => String(text).padStart(width);

interface Row {
  group: string;
  files: number;
  /** Peer wall time over each quickread way's: redact, flag, no scan. */
  ratios: { redact?: number; flag?: number; same?: number };
}

/**
 * The burned-in text set's recall with the product's scan (BURNED_IN_TEXT=redact, each image at the
 * depth `prepare` picks): printed in every table, since a faster scan only counts if it stays at all.
 */
async function textRecall(): Promise<Recall> {
  const cases = await burnedInTextSet();
  const recall = await measureRecall(cases, async (png, depth) => {
    return (await scanBurnedInText(png, { mode: 'redact', depth })).png;
  });
  await closeIngestWorkers();
  return recall;
}
let recallCell = '-';

async function main(): Promise<void> {
  checkPeer();
  const contenders = [ours('redact'), ours('flag'), sameWork, peer];
  const tiny = join(mkdtempSync(join(tmpdir(), 'qr-bench-tiny-')), 'tiny.png');
  await sharp({ create: { width: 32, height: 32, channels: 3, background: '#404040' } })
    .png()
    .toFile(tiny);
  console.log(`bench/ingest: ${runs} runs each, median wall time of whole processes, alternated`);
  // What a user has after `npm ci` (whose prepare script builds src/): one untimed run lets the bin
  // rebuild if a source changed since, so no timed sample includes a build.
  spawnSync(process.execPath, [join(repo, 'src/quickread.mjs'), '--version'], { cwd: repo, stdio: 'ignore' });
  const mode = freshBuild()
    ? 'plain-JS build (node_modules/.cache/quickread)'
    : 'TypeScript sources through tsx';
  console.log(`node ${process.version}; peer ${PYTHON} (pydicom + GDCM + numpy + Pillow)`);
  console.log(`quickread runs from: ${mode}\n`);

  const recall = await textRecall();
  recallCell = `${recall.found}/${recall.total}`;
  console.log(
    `Burned-in text set (test/unit/ocr/burned-in-set.ts): ${recallCell} regions blacked out by the product's scan${recall.missed.length ? `; missed in ${recall.missed.join(', ')}` : ''}\n`,
  );

  const fixed = await measure(contenders, [tiny]);
  console.log('Fixed cost per process (one 32×32 PNG: start-up, worker and model loading):');
  for (const row of fixed) {
    console.log(`  ${row.name.padEnd(22)} ${pad(row.ms.toFixed(0), 6)} ms wall, ${row.cpu.toFixed(2)} s CPU`);
  }
  console.log('');

  const groups = corpusGroups();
  const order = [
    'uncompressed',
    'ct-uncompressed',
    'deflate',
    'rle',
    'jpeg-baseline',
    'jpeg-extended-12bit',
    'jpeg-lossless',
    'jpeg-ls',
    'jpeg-2000',
    'htj2k',
    'raster',
    'other',
    'all-dicom',
    'all',
  ];
  const selected = order.filter((group) => groups.has(group) && (only.length === 0 || only.includes(group)));
  const onePass = await table(`One pass per process (start-up included)`, contenders, selected, groups, 1);
  const series = selected.filter((group) =>
    ['ct-uncompressed', 'uncompressed', 'raster', 'all-dicom', 'all'].includes(group),
  );
  let seriesRows: Row[] = [];
  if (seriesLength > 1 && series.length > 0) {
    seriesRows = await table(
      `Series: each process gets the group's files repeated to at least ${seriesLength} files (start-up amortised)`,
      contenders,
      series,
      groups,
      seriesLength,
    );
  }
  let ctRows: Row[] = [];
  if (ctSeriesLength > 1 && selected.includes('ct-uncompressed')) {
    ctRows = await table(
      `A thin-slice CT series: the CT slices repeated to at least ${ctSeriesLength} files`,
      contenders,
      ['ct-uncompressed'],
      groups,
      ctSeriesLength,
    );
  }
  console.log(
    '\nratio = peer wall time / quickread wall time (>1: quickread faster); CPU ratio = peer CPU s / quickread CPU s',
  );
  console.log('(user+sys, all threads); f/s = files per second (wall); (ok) = inputs prepared in every run.');
  console.log(
    '"no scan" = the same work as the peer (no burned-in text scan); redact and flag = the product.',
  );
  goals(onePass, seriesRows, ctRows);
  rmSync(join(tiny, '..'), { recursive: true, force: true });
}

/**
 * Issue 21's goals, as time ratios (quickread wall / peer wall, the inverse of the tables' ratio): the
 * product (BURNED_IN_TEXT=redact) at most 1.0× the peer over all corpus DICOM files and over a 300-slice
 * CT series, and at most 0.5× with the scan off (the same work as the peer); the text recall unchanged.
 */
function goals(onePass: Row[], series: Row[], ct: Row[]): void {
  const row = (rows: Row[], group: string) => rows.find((candidate) => candidate.group === group);
  const verdict = (found: Row | undefined, way: 'redact' | 'same', goal: number) => {
    const value = found?.ratios[way];
    if (value === undefined || !found) return 'not measured';
    const time = 1 / value;
    return `${time.toFixed(2)}× the peer's wall time over ${found.files} files (${time <= goal ? 'met' : 'NOT met'})`;
  };
  console.log(`\nGoals (issue 21), quickread wall time / peer wall time; text recall ${recallCell}:`);
  for (const [way, goal, label] of [
    ['redact', 1, 'default (redact), goal ≤ 1.0×'],
    ['same', 0.5, 'scan off (no scan), goal ≤ 0.5×'],
  ] as const) {
    console.log(`  ${label}:`);
    console.log(`    all corpus DICOM, one pass   ${verdict(row(onePass, 'all-dicom'), way, goal)}`);
    console.log(`    all corpus DICOM, series     ${verdict(row(series, 'all-dicom'), way, goal)}`);
    console.log(`    thin-slice CT series         ${verdict(row(ct, 'ct-uncompressed'), way, goal)}`);
  }
  console.log('  (the shorter the run, the more of it is start-up: node + sharp alone take ~0.12 s)');
}

async function table(
  title: string,
  contenders: Contender[],
  selected: string[],
  groups: Map<string, string[]>,
  atLeast: number,
): Promise<Row[]> {
  console.log(`\n${title}`);
  const header = [
    'group',
    'files',
    ...contenders.map((c) => `${c.name} f/s (ok)`),
    'ratio redact',
    'ratio flag',
    'ratio no scan',
    'CPU ratio redact',
    'CPU ratio no scan',
    'text recall',
  ];
  const cells: string[][] = [];
  const rows: Row[] = [];
  for (const group of selected) {
    const list = groups.get(group)!;
    const files = Array.from({ length: Math.max(1, Math.ceil(atLeast / list.length)) }, () => list).flat();
    const results = await measure(contenders, files);
    const rate = (ms: number) => (files.length * 1000) / ms;
    const [redact, flag, same, python] = results as [Result, Result, Result, Result];
    const cell = (row: Result) =>
      row.crashed ? `crashed (${row.crashed})` : `${rate(row.ms).toFixed(2)} (${row.ok})`;
    const ratio = (row: Result) => (row.crashed ? undefined : python.ms / row.ms);
    const shown = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(2)}×`);
    const cpu = (row: Result) => (row.crashed ? '-' : `${(python.cpu / row.cpu).toFixed(2)}×`);
    const ratios = { redact: ratio(redact), flag: ratio(flag), same: ratio(same) };
    rows.push({ group, files: files.length, ratios });
    cells.push([
      group,
      String(files.length),
      ...results.map(cell),
      shown(ratios.redact),
      shown(ratios.flag),
      shown(ratios.same),
      cpu(redact),
      cpu(same),
      recallCell,
    ]);
    process.stderr.write(`  ${group} done\n`);
  }
  const widths = header.map((cell, index) =>
    Math.max(cell.length, ...cells.map((row) => row[index]!.length)),
  );
  const line = (row: string[]) => `| ${row.map((cell, index) => cell.padEnd(widths[index]!)).join(' | ')} |`;
  console.log(`${line(header)}\n${line(widths.map((width) => '-'.repeat(width)))}`);
  for (const row of cells) console.log(line(row));
  return rows;
}

type Result = Awaited<ReturnType<typeof measure>>[number];

await main();
