import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runModelPull } from '../../../src/commands/model-pull.ts';
import { loadConfig } from '../../../src/config.ts';
import { createOnnxEngine } from '../../../src/engine/onnx/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { runCliCaptured } from '../../helpers/run-cli.ts';
import { buildTinyQwen3Vl, SCRIPT } from '../../helpers/tiny-qwen3vl/index.ts';

/**
 * A loopback fake of the Hugging Face Hub speaking the paths `model pull` uses: the model-info API
 * (/api/models/{repo}/revision/{rev}?blobs=true with sizes and LFS sha256) and file downloads
 * (/{repo}/resolve/{rev}/{file}) with HTTP Range support. It serves the tiny export the tests build.
 */

const REPO = 'test-org/Tiny-Qwen3-VL-ONNX';
const SHA = 'a'.repeat(40);

interface FakeHub {
  url: string;
  requests: Array<{ path: string; range?: string }>;
  /** Serve only the first N bytes of this file, then drop the connection (once). */
  cutOnce(file: string, bytes: number): void;
  /** List this file with a wrong size. */
  lieAboutSize(file: string): void;
  close(): Promise<void>;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (!entry.name.startsWith('.')) out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out;
}

async function startFakeHub(modelDir: string): Promise<FakeHub> {
  const files = new Map<string, Buffer>(listFiles(modelDir).map((f) => [f, readFileSync(join(modelDir, f))]));
  // Files a real repo also carries that a q8 pull must not fetch.
  files.set('README.md', Buffer.from('# tiny'));
  files.set('onnx/decoder_model_merged_fp16.onnx', Buffer.alloc(64, 1));
  const requests: FakeHub['requests'] = [];
  const cuts = new Map<string, number>();
  const lies = new Set<string>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ path: url.pathname, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (url.pathname === `/api/models/${REPO}/revision/main` && url.searchParams.get('blobs') === 'true') {
      const siblings = [...files].map(([name, body]) => {
        const size = lies.has(name) ? body.length + 10 : body.length;
        return name.endsWith('.onnx')
          ? { rfilename: name, size, lfs: { size, sha256: createHash('sha256').update(body).digest('hex') } }
          : { rfilename: name, size };
      });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: REPO, sha: SHA, siblings }));
      return;
    }
    const prefix = `/${REPO}/resolve/${SHA}/`;
    const name = url.pathname.startsWith(prefix) ? decodeURIComponent(url.pathname.slice(prefix.length)) : '';
    const body = files.get(name);
    if (!body) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= body.length) {
        res.statusCode = 416;
        res.end();
        return;
      }
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    }
    const slice = body.subarray(start);
    res.setHeader('content-length', String(slice.length));
    const cut = cuts.get(name);
    if (cut !== undefined) {
      cuts.delete(name);
      // Let the bytes reach the client before the connection drops, as a real cut mid-transfer would.
      res.write(slice.subarray(0, cut), () => setTimeout(() => res.destroy(), 100));
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cutOnce: (file, bytes) => cuts.set(file, bytes),
    lieAboutSize: (file) => lies.add(file),
    close: () => new Promise((done) => server.close(() => done())),
  };
}

let work: string;
let hub: FakeHub;
let source: string;
const io = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
};
const config = (dir: string, extra: Record<string, string> = {}) =>
  loadConfig({
    ENGINE: 'onnx',
    MODEL_DIR: dir,
    ONNX_DEVICE: 'cpu',
    DATA_DIR: work,
    TEMPERATURE: '0',
    ...extra,
  });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'qr-pull-'));
  source = await buildTinyQwen3Vl({ kind: 'scripted' });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  hub = await startFakeHub(source);
  return () => hub.close();
});

describe('quickread model pull', () => {
  it('downloads one dtype with progress, writes the manifest, and the engine loads and reads from it', async () => {
    const dir = join(work, 'full');
    const capture = io();
    const code = await runModelPull(
      config(dir),
      capture.io,
      { repo: REPO, dtype: 'q8' },
      { hubUrl: hub.url },
    );
    expect(code).toBe(0);
    const manifest = JSON.parse(await readFile(join(dir, 'quickread-manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ repo: REPO, revision: SHA, dtype: 'q8' });
    const paths = manifest.files.map((f: { path: string }) => f.path).sort();
    expect(paths).toEqual(
      [
        'config.json',
        'generation_config.json',
        'onnx/decoder_model_merged_quantized.onnx',
        'onnx/embed_tokens_quantized.onnx',
        'onnx/vision_encoder_quantized.onnx',
        'preprocessor_config.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ].sort(),
    );
    for (const entry of manifest.files as Array<{ path: string; size: number; sha256: string }>) {
      const bytes = readFileSync(join(dir, entry.path));
      expect(entry.size).toBe(bytes.length);
      expect(entry.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
    expect(hub.requests.some((r) => r.path.includes('fp16') || r.path.includes('README'))).toBe(false);
    expect(capture.err.some((line) => /onnx\/decoder_model_merged_quantized\.onnx: 100%/.test(line))).toBe(
      true,
    );
    // The pulled folder is a working model: load it and read.
    const engine = await createOnnxEngine(config(dir), { logger: silentLogger });
    expect(engine.model).toBe(`${REPO}:q8`);
    await engine.close?.();
  });

  it('resumes an interrupted download with a Range request and keeps files already complete', async () => {
    const dir = join(work, 'resume');
    const file = 'onnx/decoder_model_merged_quantized.onnx';
    hub.cutOnce(file, 1000);
    const first = io();
    await expect(
      runModelPull(config(dir), first.io, { repo: REPO, dtype: 'q8' }, { hubUrl: hub.url }),
    ).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
    const kept = (await stat(join(dir, `${file}.partial`))).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(1000);
    hub.requests.length = 0;
    await runModelPull(config(dir), io().io, { repo: REPO, dtype: 'q8' }, { hubUrl: hub.url });
    const downloads = hub.requests.filter((r) => r.path.includes('/resolve/'));
    expect(downloads.find((r) => r.path.endsWith(file))?.range).toBe(`bytes=${kept}-`);
    // Files finished in the first run are not fetched again.
    expect(downloads.some((r) => r.path.endsWith('/config.json'))).toBe(false);
    expect(readFileSync(join(dir, file)).equals(readFileSync(join(source, file)))).toBe(true);
  });

  it('checks sizes: a file shorter than the hub lists fails and stays partial', async () => {
    const dir = join(work, 'short');
    hub.lieAboutSize('tokenizer.json');
    const error = await runModelPull(
      config(dir),
      io().io,
      { repo: REPO, dtype: 'q8' },
      { hubUrl: hub.url },
    ).catch((e) => e);
    expect(error).toMatchObject({ code: 'DOWNLOAD_FAILED' });
    expect(error.userMessage).toContain('tokenizer.json');
    expect(statSync(join(dir, 'tokenizer.json.partial')).size).toBeGreaterThan(0);
  });

  it('names the dtypes the repo has when the asked one is absent', async () => {
    const error = await runModelPull(
      config(join(work, 'q4f16')),
      io().io,
      { repo: REPO, dtype: 'q4f16' },
      { hubUrl: hub.url },
    ).catch((e) => e);
    expect(error).toMatchObject({ code: 'MODEL_FILES_MISSING' });
    expect(error.userMessage).toContain('It has: q8');
  });

  it('takes the dtype from ONNX_DTYPE when --dtype is not given', async () => {
    const error = await runModelPull(
      config(join(work, 'from-config'), { ONNX_DTYPE: 'q4f16' }),
      io().io,
      { repo: REPO },
      { hubUrl: hub.url },
    ).catch((e) => e);
    expect(error.userMessage).toContain('--dtype q4f16');
  });

  it('says clearly when the network is unreachable', async () => {
    const closed = hub.url;
    await hub.close();
    const error = await runModelPull(
      config(join(work, 'offline')),
      io().io,
      { repo: REPO },
      { hubUrl: closed },
    ).catch((e) => e);
    expect(error).toMatchObject({ code: 'DOWNLOAD_FAILED' });
    expect(error.userMessage).toContain('network is unreachable');
    hub = await startFakeHub(source);
  });

  it('the CLI asks for MODEL_DIR before touching the network', async () => {
    const { code, err } = await runCliCaptured(['model', 'pull'], { MODEL_DIR: '' });
    expect(code).toBe(2);
    expect(err).toContain('MODEL_DIR');
  });

  it('the pulled read is the scripted one (pull → load → infer)', async () => {
    const dir = join(work, 'read');
    await runModelPull(config(dir), io().io, { repo: REPO }, { hubUrl: hub.url });
    const engine = await createOnnxEngine(config(dir), { logger: silentLogger });
    const sharp = (await import('sharp')).default;
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const result = await engine.infer(
      {
        image: {
          png,
          width: 64,
          height: 64,
          tokens: 4,
          sha256: createHash('sha256').update(png).digest('hex'),
          meta: {},
          deid: { removedTags: 0, burnedInAnnotation: false, identityPresent: false },
          window: { center: 0, width: 0, source: 'none', reason: 'test' },
          source: { kind: 'png', rows: 64, columns: 64, frames: 1, frameIndex: 1 },
        },
        question: 'Any nodule?',
        history: [],
      },
      AbortSignal.timeout(20_000),
    );
    expect(result.findings[0]?.label).toBe(SCRIPT[1]);
    await engine.close?.();
  });
});
