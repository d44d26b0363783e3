import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../../config.ts';
import { AppError } from '../../errors.ts';

/**
 * The transformers.js layout of a Qwen3-VL export (models/session_config.js, ImageTextToText): three
 * ONNX sessions under onnx/ named `<session><dtype suffix>.onnx` (utils/dtypes.js
 * DEFAULT_DTYPE_SUFFIX_MAPPING), optional external-data chunks `<file>.onnx_data[_N]` when config.json's
 * `transformers.js_config.use_external_data_format` says so (utils/model-loader.js), plus the JSON
 * configs, the tokenizer and a chat template.
 */

export type OnnxDtype = Config['ONNX_DTYPE'];

export const ONNX_SESSIONS = ['vision_encoder', 'embed_tokens', 'decoder_model_merged'] as const;

export const DTYPE_SUFFIX: Record<OnnxDtype, string> = {
  q8: '_quantized',
  q4f16: '_q4f16',
  fp16: '_fp16',
  fp32: '',
};

export const CONFIG_FILES = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
] as const;

/** Where a chat template may live besides tokenizer_config.json's `chat_template`. */
export const CHAT_TEMPLATE_FILES = ['chat_template.jinja', 'chat_template.json'] as const;

export const MANIFEST_FILE = 'quickread-manifest.json';

export const pullCommand = (dtype: OnnxDtype) => `npx quickread model pull --dtype ${dtype}`;

/** Chunks of external data for one ONNX file, as transformers.js resolves them. */
export function externalDataFiles(onnxFile: string, session: string, modelConfig: unknown): string[] {
  const jsConfig = (modelConfig as { 'transformers.js_config'?: { use_external_data_format?: unknown } })?.[
    'transformers.js_config'
  ];
  const setting = jsConfig?.use_external_data_format;
  let chunks = 0;
  if (setting && typeof setting === 'object') {
    const table = setting as Record<string, unknown>;
    chunks = Number(table[onnxFile] ?? table[session] ?? 0);
  } else if (setting !== undefined && setting !== null) {
    chunks = Number(setting);
  }
  if (!Number.isFinite(chunks) || chunks <= 0) return [];
  return Array.from({ length: Math.floor(chunks) }, (_, i) => `${onnxFile}_data${i === 0 ? '' : `_${i}`}`);
}

const readJson = (path: string): unknown => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
};

/** Every file the engine needs for this dtype, relative to the model folder. */
export function expectedFiles(dir: string, dtype: OnnxDtype): string[] {
  const modelConfig = readJson(join(dir, 'config.json'));
  const files: string[] = [...CONFIG_FILES];
  for (const session of ONNX_SESSIONS) {
    const name = `${session}${DTYPE_SUFFIX[dtype]}.onnx`;
    files.push(`onnx/${name}`, ...externalDataFiles(name, session, modelConfig).map((f) => `onnx/${f}`));
  }
  return files;
}

interface Manifest {
  files?: Array<{ path: string; size: number }>;
}

/**
 * Check the folder before loading: missing or empty files, a download left half-way (`.partial`), a
 * size that differs from what `model pull` recorded, or no chat template → MODEL_FILES_MISSING naming
 * the files and the command that fetches them.
 */
export function checkModelFolder(config: Pick<Config, 'MODEL_DIR' | 'ONNX_DTYPE'>): {
  dir: string;
  files: string[];
  bytes: number;
} {
  const dtype = config.ONNX_DTYPE;
  if (config.MODEL_DIR === '') {
    throw new AppError('MODEL_FILES_MISSING', 'MODEL_DIR is not set', {
      userMessage: `ENGINE=onnx needs MODEL_DIR: set it to a folder and run \`${pullCommand(dtype)}\` to fetch the model into it.`,
      details: { missing: [], command: pullCommand(dtype) },
    });
  }
  const dir = resolve(config.MODEL_DIR);
  const files = expectedFiles(dir, dtype);
  const manifest = readJson(join(dir, MANIFEST_FILE)) as Manifest | undefined;
  const recorded = new Map((manifest?.files ?? []).map((f) => [f.path, f.size]));
  const problems: string[] = [];
  let bytes = 0;
  for (const file of files) {
    const path = join(dir, file);
    if (!existsSync(path) || existsSync(`${path}.partial`)) {
      problems.push(file);
      continue;
    }
    const size = statSync(path).size;
    const expected = recorded.get(file);
    if (size === 0 || (expected !== undefined && expected !== size)) problems.push(file);
    bytes += size;
  }
  if (problems.length === 0 && !hasChatTemplate(dir)) problems.push(CHAT_TEMPLATE_FILES[0]);
  if (problems.length > 0) {
    throw new AppError('MODEL_FILES_MISSING', `model folder incomplete: ${problems.join(', ')}`, {
      userMessage: [
        `The model folder ${dir} is missing or has incomplete files for ONNX_DTYPE=${dtype}: ${problems.join(', ')}.`,
        `Expected: ${files.join(', ')} (and a chat template).`,
        `Fetch them with: ${pullCommand(dtype)}`,
      ].join('\n'),
      details: { missing: problems, expected: files, command: pullCommand(dtype) },
    });
  }
  return { dir, files, bytes };
}

export function hasChatTemplate(dir: string): boolean {
  const tokenizerConfig = readJson(join(dir, 'tokenizer_config.json')) as
    | { chat_template?: unknown }
    | undefined;
  if (tokenizerConfig?.chat_template) return true;
  return CHAT_TEMPLATE_FILES.some((file) => existsSync(join(dir, file)));
}

/** The chat template from chat_template.jinja / chat_template.json when the tokenizer config has none. */
export function chatTemplateOverride(dir: string): string | undefined {
  const tokenizerConfig = readJson(join(dir, 'tokenizer_config.json')) as
    | { chat_template?: unknown }
    | undefined;
  if (tokenizerConfig?.chat_template) return undefined;
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return readFileSync(jinja, 'utf8');
  const json = readJson(join(dir, 'chat_template.json')) as { chat_template?: unknown } | undefined;
  return typeof json?.chat_template === 'string' ? json.chat_template : undefined;
}

/** The repository named in the manifest written by `model pull`, if any. */
export function manifestRepo(dir: string): string | undefined {
  const manifest = readJson(join(dir, MANIFEST_FILE)) as { repo?: unknown } | undefined;
  return typeof manifest?.repo === 'string' ? manifest.repo : undefined;
}
