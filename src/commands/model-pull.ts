import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { CommandIO } from './output.ts';

/**
 * `quickread model pull [--repo ID] [--dtype q8]`: download an ONNX export into MODEL_DIR (the logic
 * lives in src/engine/onnx/pull.ts). Progress goes to stderr in 10 % steps per file, so a log file of
 * a long download stays readable.
 */

export interface ModelPullOptions {
  repo?: string;
  dtype?: Config['ONNX_DTYPE'];
  revision?: string;
}

export interface ModelPullDeps {
  /** Hub base URL (tests: a loopback fake hub). */
  hubUrl?: string;
  fetch?: typeof fetch;
}

const megabytes = (bytes: number) => `${(bytes / 1_000_000).toFixed(bytes < 10_000_000 ? 1 : 0)} MB`;

export async function runModelPull(
  config: Config,
  io: CommandIO,
  options: ModelPullOptions,
  deps: ModelPullDeps = {},
): Promise<number> {
  if (config.MODEL_DIR === '') {
    throw new AppError('USAGE', 'MODEL_DIR not set', {
      userMessage:
        'Set MODEL_DIR to the folder the model should go into (e.g. MODEL_DIR=./models/qwen3-vl-2b).',
    });
  }
  const { DEFAULT_REPO, pullModel } = await import('../engine/onnx/pull.ts');
  const repo = options.repo ?? DEFAULT_REPO;
  const dtype = options.dtype ?? config.ONNX_DTYPE;
  io.out(`Pulling ${repo} (${dtype}) into ${config.MODEL_DIR}`);
  const shown = new Map<string, number>();
  const manifest = await pullModel({
    repo,
    dtype,
    dir: config.MODEL_DIR,
    ...(options.revision ? { revision: options.revision } : {}),
    ...(deps.hubUrl ? { hubUrl: deps.hubUrl } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    onProgress: ({ file, received, total }) => {
      const step = total > 0 ? Math.floor((received / total) * 10) : 0;
      if ((shown.get(file) ?? -1) >= step) return;
      shown.set(file, step);
      io.err(`  ${file}: ${step * 10}% (${megabytes(received)} of ${megabytes(total)})`);
    },
  });
  const bytes = manifest.files.reduce((sum, file) => sum + file.size, 0);
  io.out(`Done: ${manifest.files.length} files, ${megabytes(bytes)}, revision ${manifest.revision}.`);
  if (config.ONNX_DTYPE !== dtype) io.out(`Set ONNX_DTYPE=${dtype} to use these weights.`);
  io.out('Next: ENGINE=onnx quickread doctor');
  return 0;
}
