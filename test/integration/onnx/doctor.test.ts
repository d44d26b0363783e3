import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../../src/commands/doctor.ts';
import { loadConfig } from '../../../src/config.ts';
import { checkOnnxEngine, gpuMemory } from '../../../src/engine/onnx/doctor.ts';
import { buildTinyQwen3Vl } from '../../helpers/tiny-qwen3vl/index.ts';

let work: string;
let model: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'qr-onnx-doctor-'));
  model = await buildTinyQwen3Vl({ kind: 'scripted' });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const config = (env: Record<string, string>) => loadConfig({ ENGINE: 'onnx', DATA_DIR: work, ...env });

describe('doctor with ENGINE=onnx', () => {
  it('reports device, dtype, the model files and passes on CPU with a complete folder', async () => {
    const out: string[] = [];
    const code = await runDoctor(config({ MODEL_DIR: model, ONNX_DEVICE: 'cpu' }), {
      out: (line) => out.push(line),
      err: () => {},
    });
    const text = out.join('\n');
    expect(text).toContain('✓ engine: in process (onnxruntime-node) on cpu, weights q8');
    expect(text).toMatch(/✓ model files: 8 files, [\d.]+ GiB in /);
    expect(code).toBe(0);
  });

  it('names missing files and the pull command', async () => {
    const checks = await checkOnnxEngine(
      config({ MODEL_DIR: join(work, 'empty'), ONNX_DEVICE: 'cpu', ONNX_DTYPE: 'q4f16' }),
    );
    const files = checks.find((c) => c.name === 'model files');
    expect(files?.ok).toBe(false);
    expect(files?.detail).toContain('ONNX_DTYPE=q4f16');
    expect(files?.fix).toContain('npx quickread model pull --dtype q4f16');
  });

  it('on cuda: the missing provider libraries with the install command, and free GPU memory from nvidia-smi', async () => {
    const checks = await checkOnnxEngine(config({ MODEL_DIR: model, ONNX_DEVICE: 'cuda' }), {
      ortBinDir: join(work, 'no-ort'),
      nvidiaSmi: async (args) => {
        expect(args).toContain('--query-gpu=memory.free,memory.total');
        return '20480, 24576\n';
      },
    });
    const cuda = checks.find((c) => c.name === 'cuda');
    expect(cuda).toMatchObject({ ok: false });
    expect(cuda?.fix).toContain('npm run gpu:install');
    expect(checks.find((c) => c.name === 'gpu memory')).toMatchObject({
      ok: true,
      detail: '20.00 GiB free of 24.00 GiB',
    });
  });

  it('says unknown when nvidia-smi is absent', async () => {
    expect(
      await gpuMemory(async () => {
        throw Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' });
      }),
    ).toBeUndefined();
    const checks = await checkOnnxEngine(config({ MODEL_DIR: model, ONNX_DEVICE: 'cuda' }), {
      nvidiaSmi: async () => {
        throw new Error('ENOENT');
      },
    });
    expect(checks.find((c) => c.name === 'gpu memory')?.detail).toBe('unknown (nvidia-smi not available)');
  });
});
