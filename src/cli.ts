import { Command, CommanderError, Option } from 'commander';
import { type DoctorDeps, runDoctor } from './commands/doctor.ts';
import { type CommandIO, processIO, reportError } from './commands/output.ts';
import { type Config, type Env, loadConfig, readProcessEnv } from './config.ts';
import { AppError } from './errors.ts';
import { createLogger, type Logger } from './log.ts';

/**
 * The `quickread` command (DESIGN §5). Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.
 * Each action loads its module lazily so `--help` stays fast and a command's heavy dependencies
 * (sharp, codecs, onnxruntime) load only when used.
 */
export interface CliDeps {
  env?: Env;
  io?: CommandIO;
  doctor?: DoctorDeps;
  /** Where an INTERNAL error's stack is logged (default: stderr, synchronously, as JSON). */
  logger?: Logger;
}

export async function runCli(argv: string[], deps: CliDeps = {}): Promise<number> {
  const io = deps.io ?? processIO;
  let exitCode = 0;
  const config = (): Config => loadConfig(deps.env ?? readProcessEnv());
  const program = buildProgram(io, config, deps, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with code 0; usage mistakes with 2.
      return error.exitCode === 0 ? 0 : 2;
    }
    return reportError(error, io, deps.logger ?? createLogger({ level: 'error', sync: true }));
  }
}

function buildProgram(
  io: CommandIO,
  config: () => Config,
  deps: CliDeps,
  setExit: (code: number) => void,
): Command {
  const program = new Command('quickread')
    .description('A fast second look at a scan, from a Qwen3-VL model on one GPU. Not a diagnosis.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.trimEnd()),
      writeErr: (text) => io.err(text.trimEnd()),
    })
    .showHelpAfterError();

  program
    .command('start')
    .description('run the bot: every configured adapter (Slack, Discord) plus the local web console')
    .action(async () => {
      const { runStart } = await import('./main.ts');
      setExit(await runStart(config(), io));
    });

  program
    .command('prepare')
    .description('render what the model would see (decode, window, de-identify, fit to the token budget)')
    .argument('<inputs...>', 'files or folders')
    .option('--out <path>', 'where to write the PNG(s)')
    .option('--size <n|native>', 'longest side in pixels, or native for no resizing')
    .option('--window <name|C,W>', 'auto | lung | mediastinum | bone | brain | soft-tissue | C,W', 'auto')
    .option('--frame <n>', 'frame of a multi-frame image (default: the middle one)')
    .option('--json', 'one JSON object per input on its own line')
    .action(async (inputs: string[], options: import('./commands/prepare.ts').PrepareCliOptions) => {
      const { runPrepare } = await import('./commands/prepare.ts');
      setExit(await runPrepare(inputs, options, config(), io));
    });

  program
    .command('ask')
    .description(
      'prepare one or more files (views, slices, a zip of a series) and ask one question about them',
    )
    .argument('<file...>', 'the files, then the question (the last argument)')
    .option('--json', 'print the read as JSON')
    .action(async (args: string[], options: { json?: boolean }) => {
      const { runAsk } = await import('./commands/ask.ts');
      if (args.length < 2) {
        const { AppError } = await import('./errors.ts');
        throw new AppError('USAGE', 'ask: no question', {
          userMessage: 'Usage: quickread ask FILE... QUESTION (the question comes last).',
        });
      }
      setExit(await runAsk(config(), io, args.slice(0, -1), args.at(-1)!, options));
    });

  program
    .command('serve-api')
    .description('serve POST /v1/visualqa, GET /healthz and GET /metrics')
    .option('--port <n>', 'listen port (default API_PORT, 7860)')
    .option('--host <address>', 'listen address (default 127.0.0.1; 0.0.0.0 exposes it to the network)')
    .action(async (options: { port?: string; host?: string }) => {
      const { runServeApi } = await import('./commands/serve-api.ts');
      setExit(await runServeApi(config(), io, options));
    });

  program
    .command('batch')
    .description('read a case series: checkpoints per image, resumable, results.jsonl + summary')
    .requiredOption('--input-dir <dir>')
    .requiredOption('--output-dir <dir>')
    .option('--split-every <n>', 'start a new summary part every N images')
    .option('--resume', 'skip images already read')
    .option('--question <text>', 'ask every image this instead of the standard review question')
    .option('--group-by <unit>', 'file: one read per image (default); folder: each folder is one study read')
    .action(async (options: import('./commands/batch.ts').BatchCliOptions) => {
      const { runBatch } = await import('./commands/batch.ts');
      setExit(await runBatch(config(), io, options));
    });

  program
    .command('eval')
    .description(
      'measure the model on your own labelled cases: metrics, ROC and reliability charts, report.html',
    )
    .requiredOption(
      '--labels <cases.csv>',
      'CSV with file, finding, present (1/0); optional modality, split, urgency',
    )
    .option('--out <dir>', 'report folder (default quickread-eval/)')
    .addOption(
      new Option('--engine <engine>', 'engine for this run (default ENGINE)').choices([
        'openai',
        'visualqa',
        'onnx',
      ]),
    )
    .option('--model <name>', 'model for this run (default ENGINE_MODEL)')
    .option('--engine-url <url>', 'model server for this run (default ENGINE_URL)')
    .option('--compare <dir>', 'another eval report folder: ΔAUROC on the same cases')
    .option('--write-calibration', 'fit and save the probe calibration for this model and prompt version')
    .option('--split <name>', 'evaluate only rows whose split column has this value')
    .option('--resume', 'continue an interrupted run in --out')
    .action(async (options: import('./commands/eval.ts').EvalCliOptions) => {
      const { runEval } = await import('./commands/eval.ts');
      setExit(await runEval(config(), io, options));
    });

  const model = program.command('model').description('manage the local ONNX model for ENGINE=onnx');
  model
    .command('pull')
    .description('download an ONNX export into MODEL_DIR')
    .option('--repo <id>', 'model repository id')
    .addOption(
      new Option('--dtype <dtype>', 'weights (default ONNX_DTYPE, q8)').choices([
        'q8',
        'q4f16',
        'fp16',
        'fp32',
      ]),
    )
    .option('--revision <rev>', 'branch, tag or commit (default main)')
    .action(async (options: import('./commands/model-pull.ts').ModelPullOptions) => {
      const { runModelPull } = await import('./commands/model-pull.ts');
      setExit(await runModelPull(config(), io, options));
    });

  program
    .command('calibrate')
    .description('fit the confidence calibration for the current model and prompt version')
    .requiredOption('--labels <file.csv>')
    .action(async (options: { labels: string }) => {
      const { runCalibrate } = await import('./commands/calibrate.ts');
      setExit(await runCalibrate(config(), io, options.labels));
    });

  program
    .command('audit')
    .description('review the audit log: --critical prints time-to-acknowledge of paged critical reads')
    .option('--critical', 'critical reads that paged someone: time to acknowledge (median, p90)')
    .option('--since <age>', 'how far back: 90m, 24h, 7d', '24h')
    .action(async (options: import('./commands/audit.ts').AuditOptions) => {
      const { runAudit } = await import('./commands/audit.ts');
      setExit(await runAudit(config(), io, options));
    });

  program
    .command('store')
    .description('look after the state in DATA_DIR')
    .command('repair')
    .description('rebuild a damaged state: keep every valid entry and list what was dropped (STORE_CORRUPT)')
    .option('--discard-state', 'start empty instead; the old files are kept aside')
    .action(async (options: { discardState?: boolean }) => {
      const { runStoreRepair } = await import('./commands/store.ts');
      setExit(await runStoreRepair(config(), io, options));
    });

  program
    .command('doctor')
    .description('check config, data dir, engine and model, chat credentials; says what to fix')
    .action(async () => {
      let parsed: Config;
      try {
        parsed = config();
      } catch (error) {
        if (error instanceof AppError) {
          io.err(`✗ config: ${error.userMessage}`);
          setExit(error.exitCode);
          return;
        }
        throw error;
      }
      setExit(await runDoctor(parsed, io, deps.doctor));
    });

  return program;
}
