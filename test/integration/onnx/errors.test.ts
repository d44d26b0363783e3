import { createHash } from 'node:crypto';
import { cp, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { PreparedImage } from '../../../src/core/types.ts';
import { createEngine } from '../../../src/engine/index.ts';
import { mapRuntimeError } from '../../../src/engine/onnx/cuda.ts';
import { createOnnxEngine } from '../../../src/engine/onnx/index.ts';
import { loadRuntime } from '../../../src/engine/onnx/runtime.ts';
import { silentLogger } from '../../../src/log.ts';
import { buildTinyQwen3Vl, SCRIPT } from '../../helpers/tiny-qwen3vl/index.ts';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'qr-onnx-errors-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const config = (env: Record<string, string>) =>
  loadConfig({ ENGINE: 'onnx', ONNX_DEVICE: 'cpu', DATA_DIR: work, TEMPERATURE: '0', ...env });

async function copyOfTinyModel(name: string): Promise<string> {
  const dir = join(work, name);
  await cp(await buildTinyQwen3Vl({ kind: 'scripted' }), dir, { recursive: true });
  return dir;
}

describe('model files', () => {
  it('a missing ONNX file → MODEL_FILES_MISSING naming it and the pull command', async () => {
    const dir = await copyOfTinyModel('no-decoder');
    await unlink(join(dir, 'onnx', 'decoder_model_merged_quantized.onnx'));
    const error = await createOnnxEngine(config({ MODEL_DIR: dir }), { logger: silentLogger }).catch(
      (e) => e,
    );
    expect(error).toMatchObject({ code: 'MODEL_FILES_MISSING' });
    expect(error.userMessage).toContain('onnx/decoder_model_merged_quantized.onnx');
    expect(error.userMessage).toContain('npx quickread model pull --dtype q8');
  });

  it('asks for the files of the configured dtype (q4f16 names differ from q8)', async () => {
    const dir = await copyOfTinyModel('q8-only');
    const error = await createOnnxEngine(config({ MODEL_DIR: dir, ONNX_DTYPE: 'q4f16' }), {
      logger: silentLogger,
    }).catch((e) => e);
    expect(error).toMatchObject({ code: 'MODEL_FILES_MISSING' });
    expect(error.details.missing).toEqual([
      'onnx/vision_encoder_q4f16.onnx',
      'onnx/embed_tokens_q4f16.onnx',
      'onnx/decoder_model_merged_q4f16.onnx',
    ]);
    expect(error.userMessage).toContain('--dtype q4f16');
  });

  it('a download left half-way (.partial beside the file) counts as missing', async () => {
    const dir = await copyOfTinyModel('partial');
    await writeFile(join(dir, 'tokenizer.json.partial'), 'x');
    const error = await createOnnxEngine(config({ MODEL_DIR: dir }), { logger: silentLogger }).catch(
      (e) => e,
    );
    expect(error.details.missing).toEqual(['tokenizer.json']);
  });

  it('an empty MODEL_DIR → MODEL_FILES_MISSING; health reports the code through createEngine', async () => {
    const engine = createEngine(config({}), { logger: silentLogger });
    const health = await engine.health();
    expect(health).toMatchObject({ ok: false, code: 'MODEL_FILES_MISSING' });
    expect(health.detail).toContain('MODEL_DIR');
  });
});

describe('cuda', () => {
  it('cuda asked for without the CUDA provider libraries → CUDA_UNAVAILABLE with the install command', async () => {
    const dir = await copyOfTinyModel('cuda');
    const emptyBin = join(work, 'ort-bin');
    const error = await createOnnxEngine(config({ MODEL_DIR: dir, ONNX_DEVICE: 'cuda' }), {
      logger: silentLogger,
      ortBinDir: emptyBin,
    }).catch((e) => e);
    expect(error).toMatchObject({ code: 'CUDA_UNAVAILABLE' });
    expect(error.userMessage).toContain('npm run gpu:install');
    expect(error.userMessage).toContain('libonnxruntime_providers_cuda.so');
  });

  it('this CPU-only install has no CUDA provider, so createEngine reports CUDA_UNAVAILABLE', async () => {
    const dir = await copyOfTinyModel('cuda-real');
    const engine = createEngine(config({ MODEL_DIR: dir, ONNX_DEVICE: 'cuda' }), { logger: silentLogger });
    const health = await engine.health();
    expect(health).toMatchObject({ ok: false, code: 'CUDA_UNAVAILABLE' });
  });
});

describe('out-of-memory ladder', () => {
  it('an allocation failure retries at a smaller image and reports the size that worked', async () => {
    const dir = await buildTinyQwen3Vl({ kind: 'scripted' });
    const base = await loadRuntime(config({ MODEL_DIR: dir }), { logger: silentLogger });
    const sides: number[] = [];
    // A GPU that cannot hold the activations of images over 100 px: onnxruntime's real message shape.
    const runtime = {
      ...base,
      async generate(request: Parameters<typeof base.generate>[0]) {
        const meta = await sharp(request.png).metadata();
        sides.push(meta.width ?? 0);
        if ((meta.width ?? 0) > 100) {
          throw mapRuntimeError(
            new Error(
              '[E:onnxruntime:, sequential_executor.cc:572] Non-zero status code returned while running MatMul node. Status Message: CUDA failure 2: out of memory',
            ),
            'cuda',
          );
        }
        return base.generate(request);
      },
    };
    const engine = await createOnnxEngine(config({ MODEL_DIR: dir }), {
      logger: silentLogger,
      runtime,
      floorPx: 64,
    });
    const png = await sharp({
      create: { width: 160, height: 160, channels: 3, background: { r: 90, g: 90, b: 90 } },
    })
      .png()
      .toBuffer();
    const image: PreparedImage = {
      png,
      width: 160,
      height: 160,
      tokens: 25,
      sha256: createHash('sha256').update(png).digest('hex'),
      meta: {},
      deid: { removedTags: 0, burnedInAnnotation: false, identityPresent: false },
      window: { center: 0, width: 0, source: 'none', reason: 'test' },
      source: { kind: 'png', rows: 160, columns: 160, frames: 1, frameIndex: 1 },
    };
    const result = await engine.infer(
      { image, question: 'Any nodule?', history: [] },
      AbortSignal.timeout(20_000),
    );
    expect(result.findings[0]?.label).toBe(SCRIPT[1]);
    expect(result.downscaled).toEqual({ width: 96, height: 96, tokens: 9 });
    // 64 px warm-up, then 160 (out of memory), 96 (fits), then the probes on the fitted image.
    expect(sides.slice(0, 3)).toEqual([64, 160, 96]);
    await engine.close?.();
  });
});
