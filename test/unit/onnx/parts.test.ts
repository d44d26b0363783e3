import { describe, expect, it } from 'vitest';
import { LogitsCapture, logSumExp } from '../../../src/engine/onnx/capture.ts';
import { tokenConfidences } from '../../../src/engine/onnx/confidence.ts';
import { mapRuntimeError } from '../../../src/engine/onnx/cuda.ts';
import { expectedFiles, externalDataFiles } from '../../../src/engine/onnx/files.ts';
import { serialise } from '../../../src/engine/onnx/index.ts';
import { parseModelRead } from '../../../src/engine/output.ts';

const logits = (values: number[]) => ({ data: Float32Array.from(values), dims: [1, values.length] });

describe('LogitsCapture', () => {
  it('records each chosen token with its log-probability under the raw logits', () => {
    const capture = new LogitsCapture({
      temperature: 0,
      signal: new AbortController().signal,
      onAbort: () => new Error('x'),
    });
    capture.step([[5n]], logits([0, 2, 0]));
    capture.step([[5n, 1n]], logits([3, 0, 0]));
    capture.finish(0);
    expect(capture.tokens.map((t) => t.id)).toEqual([1, 0]);
    expect(capture.tokens[0]!.logprob).toBeCloseTo(2 - Math.log(Math.exp(2) + 2), 6);
    expect(capture.tokens[1]!.logprob).toBeCloseTo(3 - Math.log(Math.exp(3) + 2), 6);
  });

  it('applies the temperature to what generate() samples from but records the untempered distribution', () => {
    const capture = new LogitsCapture({
      temperature: 0.5,
      signal: new AbortController().signal,
      onAbort: () => new Error('x'),
    });
    const row = logits([1, 2]);
    capture.step([[0n]], row);
    expect(Array.from(row.data)).toEqual([2, 4]);
    capture.finish(1);
    expect(capture.tokens[0]!.logprob).toBeCloseTo(2 - logSumExp([1, 2]), 6);
  });

  it('keeps the first-step log-probabilities of the probe tokens', () => {
    const capture = new LogitsCapture({
      temperature: 0,
      signal: new AbortController().signal,
      onAbort: () => new Error('x'),
      probeTokens: [
        { id: 0, token: 'Yes' },
        { id: 2, token: 'No' },
      ],
    });
    capture.step([[9n]], logits([1, 0, 0]));
    expect(capture.firstTop?.map((t) => t.token)).toEqual(['Yes', 'No']);
    expect(Math.exp(capture.firstTop![0]!.logprob)).toBeCloseTo(Math.E / (Math.E + 2), 6);
  });

  it('throws the abort error once the signal fires', () => {
    const controller = new AbortController();
    const capture = new LogitsCapture({
      temperature: 0,
      signal: controller.signal,
      onAbort: () => new Error('stop'),
    });
    capture.step([[0n]], logits([0]));
    controller.abort();
    expect(() => capture.step([[0n, 0n]], logits([0]))).toThrow('stop');
  });
});

describe('tokenConfidences', () => {
  it('is the geometric mean probability of the tokens that spell each label', () => {
    const text =
      '{"findings":[{"label":"nodule"},{"label":"effusion"}],"impression":"x","urgency":"routine"}';
    const parsed = parseModelRead(text);
    if (!parsed.ok) throw new Error(parsed.problem);
    const pieces = [
      '{"findings":[{"label":"',
      'nod',
      'ule',
      '"},{"label":"',
      'effusion',
      '"}],"impression":"x","urgency":"routine"}',
    ];
    const logprobs = [-0.01, Math.log(0.5), Math.log(0.8), -0.01, Math.log(0.9), -0.01];
    const confidences = tokenConfidences(
      pieces.map((text, i) => ({ text, logprob: logprobs[i]! })),
      parsed.read,
    );
    expect(confidences[0]).toMatchObject({ source: 'token-logprob', calibrated: false });
    expect(confidences[0]!.value).toBeCloseTo(Math.sqrt(0.5 * 0.8), 6);
    expect(confidences[1]!.value).toBeCloseTo(0.9, 6);
  });
});

describe('serialise', () => {
  it('runs tasks one at a time in call order, and a failure does not block the next', async () => {
    const run = serialise();
    let active = 0;
    let most = 0;
    const order: number[] = [];
    const task =
      (n: number, fail = false) =>
      async () => {
        active += 1;
        most = Math.max(most, active);
        await new Promise((r) => setTimeout(r, 5));
        order.push(n);
        active -= 1;
        if (fail) throw new Error('boom');
        return n;
      };
    const results = await Promise.allSettled([run(task(1)), run(task(2, true)), run(task(3))]);
    expect(most).toBe(1);
    expect(order).toEqual([1, 2, 3]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});

describe('mapRuntimeError', () => {
  it.each([
    ['CUDA failure 2: out of memory ; GPU=0', 'ENGINE_OUT_OF_MEMORY'],
    ['Failed to allocate memory for requested buffer of size 123', 'ENGINE_OUT_OF_MEMORY'],
    ['libcublasLt.so.12: cannot open shared object file', 'CUDA_UNAVAILABLE'],
    ['Could not locate file: "/m/onnx/embed_tokens_quantized.onnx"', 'MODEL_FILES_MISSING'],
    ['Unexpected input data type', 'ENGINE_ERROR'],
  ])('%s → %s', (message, code) => {
    expect(mapRuntimeError(new Error(message), 'cuda').code).toBe(code);
  });

  it('does not call a CPU failure a CUDA problem', () => {
    expect(mapRuntimeError(new Error('libcudart missing'), 'cpu').code).toBe('ENGINE_ERROR');
  });
});

describe('expected files', () => {
  it('adds external-data chunks the way transformers.js resolves use_external_data_format', () => {
    expect(externalDataFiles('decoder_model_merged_q4f16.onnx', 'decoder_model_merged', {})).toEqual([]);
    expect(
      externalDataFiles('decoder_model_merged_q4f16.onnx', 'decoder_model_merged', {
        'transformers.js_config': { use_external_data_format: { 'decoder_model_merged_q4f16.onnx': 2 } },
      }),
    ).toEqual(['decoder_model_merged_q4f16.onnx_data', 'decoder_model_merged_q4f16.onnx_data_1']);
    expect(
      externalDataFiles('embed_tokens.onnx', 'embed_tokens', {
        'transformers.js_config': { use_external_data_format: true },
      }),
    ).toEqual(['embed_tokens.onnx_data']);
  });

  it('names the dtype suffixes of transformers.js', () => {
    const files = expectedFiles('/nonexistent', 'fp32');
    expect(files).toContain('onnx/vision_encoder.onnx');
    expect(expectedFiles('/nonexistent', 'fp16')).toContain('onnx/embed_tokens_fp16.onnx');
    expect(expectedFiles('/nonexistent', 'q8')).toContain('onnx/decoder_model_merged_quantized.onnx');
  });
});

describe('config', () => {
  it('forces ENGINE_CONCURRENCY to 1 for the in-process engine only', async () => {
    const { loadConfig } = await import('../../../src/config.ts');
    expect(loadConfig({ ENGINE: 'onnx', ENGINE_CONCURRENCY: '4' }).ENGINE_CONCURRENCY).toBe(1);
    expect(loadConfig({ ENGINE: 'openai', ENGINE_CONCURRENCY: '4' }).ENGINE_CONCURRENCY).toBe(4);
  });
});
