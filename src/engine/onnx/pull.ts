import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import {
  CHAT_TEMPLATE_FILES,
  CONFIG_FILES,
  DTYPE_SUFFIX,
  MANIFEST_FILE,
  ONNX_SESSIONS,
  type OnnxDtype,
} from './files.ts';

/**
 * `quickread model pull`: the only code that fetches models. It asks the Hub which files a revision
 * holds (GET /api/models/{repo}/revision/{rev}?blobs=true — sizes and LFS sha256), downloads the
 * configs, tokenizer, chat template and the three ONNX sessions of one dtype (with their external-data
 * chunks) from /{repo}/resolve/{sha}/{file}, resumes a `.partial` file with an HTTP Range request
 * (RFC 9110 §14.2; 206 appends, 200 restarts), checks each size and LFS hash, and writes a manifest.
 */

export const DEFAULT_REPO = 'onnx-community/Qwen3-VL-2B-Instruct-ONNX';
export const DEFAULT_HUB = 'https://huggingface.co';

export interface PullProgress {
  file: string;
  received: number;
  total: number;
}

export interface PullOptions {
  repo: string;
  dtype: OnnxDtype;
  dir: string;
  revision?: string;
  /** Base URL of the Hub; tests pass a loopback server. */
  hubUrl?: string;
  fetch?: typeof fetch;
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

export interface ManifestEntry {
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  repo: string;
  revision: string;
  dtype: OnnxDtype;
  pulledAt: string;
  files: ManifestEntry[];
}

const siblingSchema = z.object({
  rfilename: z.string(),
  size: z.number().int().nonnegative().optional(),
  lfs: z
    .object({ sha256: z.string().optional(), size: z.number().int().nonnegative().optional() })
    .optional(),
});
const revisionSchema = z.object({ sha: z.string().optional(), siblings: z.array(siblingSchema) });
type Sibling = z.infer<typeof siblingSchema>;

const unreachable = (hub: string, cause: unknown) =>
  new AppError(
    'DOWNLOAD_FAILED',
    `hub unreachable: ${cause instanceof Error ? cause.message : String(cause)}`,
    {
      cause,
      userMessage: `Could not reach the model hub at ${hub}: the network is unreachable from this machine. \`quickread model pull\` is the only command that needs it — run it where the hub can be reached and copy MODEL_DIR here, or fix the proxy/firewall.`,
    },
  );

async function hubFetch(options: PullOptions, url: string, init: RequestInit = {}): Promise<Response> {
  const doFetch = options.fetch ?? fetch;
  try {
    return await doFetch(url, { ...init, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    if (options.signal?.aborted) throw new AppError('CANCELLED', 'model pull cancelled');
    throw unreachable(options.hubUrl ?? DEFAULT_HUB, error);
  }
}

const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');

/** The files of one revision, from the Hub's model-info API. */
export async function listRevision(options: PullOptions): Promise<{ sha: string; siblings: Sibling[] }> {
  const hub = (options.hubUrl ?? DEFAULT_HUB).replace(/\/+$/, '');
  const revision = options.revision ?? 'main';
  const url = `${hub}/api/models/${encodePath(options.repo)}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const response = await hubFetch(options, url);
  if (response.status === 401 || response.status === 403 || response.status === 404) {
    throw new AppError('INPUT_NOT_FOUND', `hub answered ${response.status} for ${options.repo}@${revision}`, {
      userMessage: `The hub has no public model ${options.repo} at revision ${revision} (HTTP ${response.status}). Check --repo (e.g. ${DEFAULT_REPO}).`,
    });
  }
  if (!response.ok) {
    throw new AppError('DOWNLOAD_FAILED', `model info HTTP ${response.status}`, {
      userMessage: `The hub answered HTTP ${response.status} when listing ${options.repo}; try again later.`,
    });
  }
  const parsed = revisionSchema.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) {
    throw new AppError('DOWNLOAD_FAILED', 'model info: unexpected response shape', {
      userMessage: `The hub's file list for ${options.repo} was not in the expected form; check that --repo names a model repository.`,
    });
  }
  return { sha: parsed.data.sha ?? revision, siblings: parsed.data.siblings };
}

/** The dtypes whose three sessions the revision holds (for a helpful error). */
export function availableDtypes(siblings: readonly Sibling[]): OnnxDtype[] {
  const names = new Set(siblings.map((s) => s.rfilename));
  return (Object.keys(DTYPE_SUFFIX) as OnnxDtype[]).filter((dtype) =>
    ONNX_SESSIONS.every((session) => names.has(`onnx/${session}${DTYPE_SUFFIX[dtype]}.onnx`)),
  );
}

/** Which files of the revision to fetch for this dtype. */
export function selectFiles(siblings: readonly Sibling[], dtype: OnnxDtype, repo: string): Sibling[] {
  const byName = new Map(siblings.map((s) => [s.rfilename, s]));
  const missingConfig = CONFIG_FILES.filter((file) => !byName.has(file));
  const onnx = ONNX_SESSIONS.map((session) => `onnx/${session}${DTYPE_SUFFIX[dtype]}.onnx`);
  const missingOnnx = onnx.filter((file) => !byName.has(file));
  if (missingConfig.length > 0 || missingOnnx.length > 0) {
    const available = availableDtypes(siblings);
    throw new AppError(
      'MODEL_FILES_MISSING',
      `${repo} lacks ${[...missingConfig, ...missingOnnx].join(', ')}`,
      {
        userMessage: `${repo} is not a complete transformers.js export for --dtype ${dtype}: it lacks ${[...missingConfig, ...missingOnnx].join(', ')}. ${available.length > 0 ? `It has: ${available.join(', ')}.` : 'It has no complete dtype.'}`,
        details: { missing: [...missingConfig, ...missingOnnx], available },
      },
    );
  }
  const wanted = new Set<string>([...CONFIG_FILES, ...onnx]);
  for (const file of CHAT_TEMPLATE_FILES) if (byName.has(file)) wanted.add(file);
  // External data: `<file>.onnx_data`, `<file>.onnx_data_1`… (transformers.js utils/model-loader.js).
  for (const s of siblings) {
    if (onnx.some((file) => s.rfilename === `${file}_data` || s.rfilename.startsWith(`${file}_data_`))) {
      wanted.add(s.rfilename);
    }
  }
  return siblings.filter((s) => wanted.has(s.rfilename));
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

const sizeOf = async (path: string) => (existsSync(path) ? (await stat(path)).size : 0);

/** Download one file into dir, resuming from `<file>.partial`; returns its manifest entry. */
async function fetchFile(options: PullOptions, sha: string, file: Sibling): Promise<ManifestEntry> {
  const hub = (options.hubUrl ?? DEFAULT_HUB).replace(/\/+$/, '');
  const target = join(options.dir, file.rfilename);
  const partial = `${target}.partial`;
  const expectedSize = file.lfs?.size ?? file.size;
  const expectedSha = file.lfs?.sha256;
  await mkdir(dirname(target), { recursive: true });
  if (
    existsSync(target) &&
    !existsSync(partial) &&
    (expectedSize === undefined || (await sizeOf(target)) === expectedSize)
  ) {
    const digest = await sha256File(target);
    if (expectedSha === undefined || digest === expectedSha) {
      options.onProgress?.({ file: file.rfilename, received: expectedSize ?? 0, total: expectedSize ?? 0 });
      return { path: file.rfilename, size: await sizeOf(target), sha256: digest };
    }
  }
  let offset = await sizeOf(partial);
  if (expectedSize !== undefined && offset > expectedSize) {
    await unlink(partial);
    offset = 0;
  }
  const url = `${hub}/${encodePath(options.repo)}/resolve/${encodeURIComponent(sha)}/${encodePath(file.rfilename)}`;
  const response = await hubFetch(options, url, offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {});
  if (response.status === 416 && expectedSize !== undefined && offset === expectedSize) {
    // Range not satisfiable at exactly the full size: the partial file is already complete.
  } else if (response.status !== 200 && response.status !== 206) {
    throw new AppError('DOWNLOAD_FAILED', `GET ${file.rfilename}: HTTP ${response.status}`, {
      userMessage: `Downloading ${file.rfilename} failed (HTTP ${response.status}); run the command again to resume.`,
    });
  } else if (response.body) {
    // 206: append from the offset; 200: the server ignored Range, start over.
    const append = response.status === 206 && offset > 0;
    if (!append) offset = 0;
    const total = expectedSize ?? offset + Number(response.headers.get('content-length') ?? 0);
    let received = offset;
    const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      received += chunk.length;
      options.onProgress?.({ file: file.rfilename, received, total });
    });
    try {
      await pipeline(body, createWriteStream(partial, { flags: append ? 'a' : 'w' }));
    } catch (error) {
      if (options.signal?.aborted) throw new AppError('CANCELLED', 'model pull cancelled');
      throw new AppError('DOWNLOAD_FAILED', `download of ${file.rfilename} interrupted`, {
        cause: error,
        userMessage: `The download of ${file.rfilename} was interrupted; run the command again to resume where it stopped.`,
      });
    }
  }
  const size = await sizeOf(partial);
  if (expectedSize !== undefined && size !== expectedSize) {
    throw new AppError('DOWNLOAD_FAILED', `${file.rfilename}: got ${size} bytes, expected ${expectedSize}`, {
      userMessage: `${file.rfilename} is ${size} bytes but the hub lists ${expectedSize}; run the command again to resume.`,
    });
  }
  const digest = await sha256File(partial);
  if (expectedSha !== undefined && digest !== expectedSha) {
    await unlink(partial);
    throw new AppError('DOWNLOAD_FAILED', `${file.rfilename}: sha256 mismatch`, {
      userMessage: `${file.rfilename} did not match the hub's checksum and was deleted; run the command again.`,
    });
  }
  await rename(partial, target);
  return { path: file.rfilename, size, sha256: digest };
}

/** Pull one dtype of an export into `dir` and write the manifest; files already complete are kept. */
export async function pullModel(options: PullOptions): Promise<Manifest> {
  const dir = resolve(options.dir);
  const { sha, siblings } = await listRevision(options);
  const files = selectFiles(siblings, options.dtype, options.repo);
  const entries: ManifestEntry[] = [];
  for (const file of files) entries.push(await fetchFile({ ...options, dir }, sha, file));
  const manifest: Manifest = {
    repo: options.repo,
    revision: sha,
    dtype: options.dtype,
    pulledAt: new Date().toISOString(),
    files: entries,
  };
  const manifestPath = join(dir, MANIFEST_FILE);
  const previous = existsSync(manifestPath)
    ? (JSON.parse(await readFile(manifestPath, 'utf8').catch(() => '{}')) as Partial<Manifest>)
    : {};
  // Keep entries of other dtypes pulled into the same folder earlier.
  const kept = (previous.files ?? []).filter((f) => !entries.some((e) => e.path === f.path));
  await writeFile(
    `${manifestPath}.tmp`,
    `${JSON.stringify({ ...manifest, files: [...kept, ...entries] }, null, 2)}\n`,
  );
  await rename(`${manifestPath}.tmp`, manifestPath);
  return manifest;
}
