import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createReadPipeline, type ReadPipeline } from '../api/pipeline.ts';
import type { Config } from '../config.ts';
import { fitTable, loadTables, saveTable } from '../engine/confidence/calibration.ts';
import { PROMPT_VERSION } from '../engine/index.ts';
import { AppError } from '../errors.ts';
import { type CaseSet, checkFiles, imagesOf, type LabelledCase, parseCases } from '../eval/cases.ts';
import { compareReports } from '../eval/compare.ts';
import { buildMetrics, type EvalMetrics } from '../eval/document.ts';
import { renderCharts, writeReport } from '../eval/report.ts';
import { type EvalRow, readCases, rowCovers } from '../eval/run.ts';
import { BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, type EvalCase, joinCases } from '../eval/summary.ts';
import { createLogger } from '../log.ts';
import { loadCheckpoint, openCheckpoint } from './batch-report.ts';
import { MIN_CASES } from './calibrate.ts';
import { vllmCommand } from './doctor.ts';
import type { CommandIO } from './output.ts';
import { createProgress } from './progress.ts';

/**
 * `quickread eval --labels cases.csv`: how good the configured model is on the team's own labelled
 * cases. One read per image plus the yes/no probe per labelled finding, checkpointed like `batch`
 * (results.jsonl + run.json in --out; `--resume` continues), then metrics.json, metrics.csv, charts and
 * a self-contained report.html. `--compare` puts another report's model beside this one on the same
 * cases; `--write-calibration` fits the probe's calibration table from these cases.
 */

export interface EvalCliOptions {
  labels: string;
  out?: string;
  engine?: string;
  model?: string;
  engineUrl?: string;
  compare?: string;
  writeCalibration?: boolean;
  resume?: boolean;
  split?: string;
}

export interface EvalDeps {
  pipeline?: ReadPipeline;
  progress?: NodeJS.WriteStream;
  now?: Date;
}

/** What a results folder was read with: a resumed run must not mix two models in one report. */
interface RunInfo {
  engine: string;
  model: string;
  promptVersion: string;
}

const usage = (message: string, userMessage: string) =>
  new AppError('USAGE', `eval: ${message}`, { userMessage });

/** --engine / --model / --engine-url override the configuration for this run only. */
export function withEngineOptions(config: Config, options: EvalCliOptions): Config {
  const engine = options.engine ?? config.ENGINE;
  if (engine !== 'openai' && engine !== 'visualqa' && engine !== 'onnx') {
    throw usage('bad --engine', '--engine must be openai, visualqa or onnx.');
  }
  if (options.engineUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(options.engineUrl)) {
    throw usage('bad --engine-url', '--engine-url must be an http(s) URL, e.g. http://127.0.0.1:8000/v1.');
  }
  return {
    ...config,
    ENGINE: engine,
    ...(options.model ? { ENGINE_MODEL: options.model } : {}),
    ...(options.engineUrl ? { ENGINE_URL: options.engineUrl } : {}),
    ...(engine === 'onnx' ? { ENGINE_CONCURRENCY: 1 } : {}),
  };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function loadCases(options: EvalCliOptions, io: CommandIO): Promise<CaseSet> {
  let text: string;
  try {
    text = await readFile(options.labels, 'utf8');
  } catch {
    throw usage('labels unreadable', 'The labels file could not be read: check the --labels path.');
  }
  const parsed = parseCases(
    text,
    dirname(resolve(options.labels)),
    options.split ? { split: options.split } : {},
  );
  const checked = await checkFiles(parsed);
  // Line numbers only: a file name can carry a patient's name, the line finds the row just as well.
  for (const problem of checked.problems) io.err(`labels line ${problem.line}: ${problem.message}`);
  if (checked.cases.length === 0) {
    throw usage(
      'no usable cases',
      `The labels file has no usable rows${options.split ? ` in split "${options.split}"` : ''}: see the lines reported above.`,
    );
  }
  if (checked.problems.length > 0) {
    io.err(`${checked.problems.length} row problem(s) in the labels file; evaluating the rest.`);
  }
  return checked;
}

async function loadOther(dir: string, cases: readonly LabelledCase[]) {
  const info = await readJson<RunInfo>(join(dir, 'run.json'));
  const rows = await loadCheckpoint<EvalRow>(join(dir, 'results.jsonl'));
  if (!info || rows.size === 0) {
    throw usage(
      'compare has no results',
      `--compare ${dir} holds no quickread eval results (run.json and results.jsonl): run \`quickread eval --out ${dir}\` with the other model first.`,
    );
  }
  return { info, scored: joinCases(cases, rows).scored };
}

async function writeCalibration(
  config: Config,
  io: CommandIO,
  scored: readonly EvalCase[],
  info: RunInfo,
): Promise<void> {
  const cases = scored.filter((c) => c.scoreFrom === 'probe').map((c) => ({ raw: c.raw, label: c.label }));
  const positives = cases.filter((c) => c.label === 1).length;
  if (cases.length < MIN_CASES || positives === 0 || positives === cases.length) {
    io.err(
      `✗ calibration not written: ${cases.length} probed case(s), ${positives} positive — need ${MIN_CASES}+ with both outcomes.`,
    );
    return;
  }
  const table = fitTable(cases, {
    model: info.model,
    promptVersion: info.promptVersion,
    source: 'probe-logprob',
  });
  const path = await saveTable(config.DATA_DIR, table);
  io.out(
    `✓ calibration: ${table.method} on ${table.n} cases (${table.positives} positive); Brier ${table.brierBefore.toFixed(3)} → ${table.brierAfter.toFixed(3)}; saved ${path}. Restart quickread to use it.`,
  );
}

/**
 * Nobody waits in a chat for an evaluation: an engine that is down or serves another model is a thing to
 * fix now (the dispatcher would otherwise hold every image until the server comes back).
 */
async function ensureEngineUp(pipeline: ReadPipeline, config: Config): Promise<void> {
  const health = await pipeline.engine.health();
  if (health.ok) return;
  const missing = health.code === 'ENGINE_MODEL_MISSING';
  const start =
    config.ENGINE === 'openai' ? `start one, e.g. ${vllmCommand(config)}, or pass --engine-url` : 'start it';
  throw new AppError(missing ? 'ENGINE_MODEL_MISSING' : 'ENGINE_UNAVAILABLE', 'eval: engine not ready', {
    userMessage: missing
      ? `${health.detail ?? 'The model server does not serve the model.'} (--model picks another for this run.)`
      : `No model server answers at ${config.ENGINE_URL}: ${start}. Run \`quickread doctor\` to check.`,
  });
}

const fmt = (value: number | null) => (value === null ? '—' : value.toFixed(3));

function summaryLine(metrics: EvalMetrics, out: string): string {
  const o = metrics.overall;
  const ci = o.aurocCI ? ` (95% CI ${fmt(o.aurocCI[0])}–${fmt(o.aurocCI[1])})` : '';
  return `quickread eval: ${metrics.images.total} images (${metrics.images.failed} failed), ${metrics.cases.scored} cases scored; AUROC ${fmt(o.auroc)}${ci}, ECE ${fmt(o.ece)} → ${join(out, 'report.html')}`;
}

export async function runEval(
  baseConfig: Config,
  io: CommandIO,
  options: EvalCliOptions,
  deps: EvalDeps = {},
): Promise<number> {
  const config = withEngineOptions(baseConfig, options);
  const { cases, problems, root } = await loadCases(options, io);
  // Checked before any read: a mistyped --compare must not cost an afternoon of GPU time.
  const other = options.compare ? await loadOther(options.compare, cases) : undefined;
  const out = options.out ?? 'quickread-eval';
  const outDir = resolve(out);
  await mkdir(outDir, { recursive: true });
  const resultsPath = join(outDir, 'results.jsonl');
  const previous = await loadCheckpoint<EvalRow>(resultsPath);
  if (previous.size > 0 && !options.resume) {
    throw usage(
      'out has results',
      `${out} already holds results.jsonl (${previous.size} images). Pass --resume to continue that run, or choose an empty --out.`,
    );
  }
  const logger = createLogger({ level: config.LOG_LEVEL });
  const pipeline = deps.pipeline ?? createReadPipeline(config, { logger });
  const info: RunInfo = {
    engine: config.ENGINE,
    model: pipeline.engine.model,
    promptVersion: PROMPT_VERSION,
  };
  const before = await readJson<RunInfo>(join(outDir, 'run.json'));
  if (
    previous.size > 0 &&
    before &&
    (before.model !== info.model || before.promptVersion !== info.promptVersion)
  ) {
    if (!deps.pipeline) await pipeline.close();
    throw usage(
      'resume with another model',
      `${out} holds results of ${before.model} · ${before.promptVersion}, not ${info.model} · ${info.promptVersion}: choose another --out for this model.`,
    );
  }
  await writeFile(join(outDir, 'run.json'), `${JSON.stringify(info, null, 2)}\n`);

  const images = imagesOf(cases);
  const rows = new Map(previous);
  const checkpoint = await openCheckpoint<EvalRow>(resultsPath);
  const progress = createProgress(deps.progress ?? process.stderr, 'eval');
  try {
    const pending = images.filter((image) => !rowCovers(rows.get(image.file), image.findings));
    if (pending.length > 0) await ensureEngineUp(pipeline, config);
    progress.start(images.length, images.length - pending.length);
    await readCases(images, root, rows, { pipeline, config, logger, checkpoint, progress });
  } finally {
    progress.stop();
    await checkpoint.close();
    if (!deps.pipeline) await pipeline.close();
  }

  // Discrimination is compared, and calibration fitted, on the raw probe answers; the metrics use the
  // calibration reads apply now (installed before this run), so ECE says what a clinician sees.
  const mine = joinCases(cases, rows).scored;
  const installed = (await loadTables(config.DATA_DIR, info.model, info.promptVersion))['probe-logprob'];
  const compare = other
    ? compareReports(
        mine,
        other.scored,
        { model: other.info.model, promptVersion: other.info.promptVersion },
        { seed: BOOTSTRAP_SEED, resamples: BOOTSTRAP_RESAMPLES },
      )
    : undefined;
  const { metrics } = buildMetrics({
    cases,
    rows,
    problems,
    ...info,
    ...(compare ? { compare } : {}),
    ...(installed ? { calibration: installed } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const charts = await renderCharts(
    metrics,
    other
      ? { label: `${other.info.model} · ${other.info.promptVersion}`, scored: other.scored, mine }
      : undefined,
  );
  await writeReport(outDir, metrics, charts);
  if (options.writeCalibration) await writeCalibration(config, io, mine, info);
  io.out(summaryLine(metrics, out));
  return metrics.images.failed > 0 ? 1 : 0;
}
