import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';
import type { Config } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { normaliseToken } from '../confidence/probe.ts';
import type { ChatMessage } from '../openai/messages.ts';
import { type CapturedToken, LogitsCapture } from './capture.ts';
import { assertCudaInstalled, mapRuntimeError } from './cuda.ts';
import { chatTemplateOverride, checkModelFolder } from './files.ts';
import {
  advanceFrame,
  applyFrame,
  type FrameVocabulary,
  frameVocabulary,
  initialFrame,
} from './json-frame.ts';

/**
 * The model in process: @huggingface/transformers on onnxruntime-node, local files only. One
 * `generate` call = processor (chat template + Qwen image patches) → generate() with the capturing
 * logits processor → decoded text, usage and per-token log-probabilities.
 */

export interface GenerateRequest {
  messages: ChatMessage[];
  png: Buffer;
  maxNewTokens: number;
  temperature: number;
  repetitionPenalty?: number;
  signal: AbortSignal;
  /** Longest this one generation may run (ENGINE_TIMEOUT_MS): checked between tokens. */
  timeoutMs: number;
  /** Record the first step's yes/no log-probabilities (the probe). */
  probe?: boolean;
  /** Hold the answer to one JSON object (json-frame.ts): reads, not probes. */
  json?: boolean;
}

export interface Generation {
  text: string;
  finish: 'stop' | 'length';
  usage: { prompt: number; completion: number };
  /** Chosen tokens with their text and log-probability under the model (temperature 1). */
  tokens: Array<CapturedToken & { text: string }>;
  firstTop?: Array<{ token: string; logprob: number }>;
}

export interface OnnxRuntime {
  readonly name: string;
  generate(request: GenerateRequest): Promise<Generation>;
  close(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: transformers.js objects are typed loosely at this boundary.
type Any = any;

const PROCESSORS: Record<string, string> = {
  qwen3_vl: 'Qwen3VLProcessor',
  qwen3_vl_moe: 'Qwen3VLProcessor',
  qwen2_5_vl: 'Qwen2_5_VLProcessor',
  qwen2_vl: 'Qwen2VLProcessor',
};

let loadTail: Promise<unknown> = Promise.resolve();
/** Run model loads one after another (see the comment where it is used). */
function loading(task: () => Promise<void>): Promise<void> {
  const run = loadTail.then(task, task);
  loadTail = run.catch(() => undefined);
  return run;
}

const timedOut = (ms: number) =>
  new AppError('ENGINE_TIMEOUT', `generation ran past ${ms} ms`, {
    userMessage: 'The model took too long to answer; try a smaller image or a shorter question.',
  });

const cancelled = () => new AppError('CANCELLED', 'read cancelled during generation');

/** Decode a PNG into the RGB RawImage the Qwen image processor takes. */
async function rawImage(t: Any, png: Buffer): Promise<Any> {
  const { data, info } = await sharp(png)
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new t.RawImage(
    new Uint8ClampedArray(data.buffer, data.byteOffset, data.length),
    info.width,
    info.height,
    info.channels,
  );
}

/** Convert OpenAI-style messages (image as a data URL part) to the chat-template form ({type:'image'}). */
export function templateMessages(messages: ChatMessage[]): Array<{ role: string; content: Any }> {
  return messages.map((message) => ({
    role: message.role,
    content:
      typeof message.content === 'string'
        ? message.content
        : message.content.map((part) =>
            part.type === 'image_url' ? { type: 'image' } : { type: 'text', text: part.text },
          ),
  }));
}

export async function loadRuntime(
  config: Pick<Config, 'MODEL_DIR' | 'ONNX_DTYPE' | 'ONNX_DEVICE'>,
  deps: { logger: Logger; ortBinDir?: string },
): Promise<OnnxRuntime> {
  const { dir } = checkModelFolder(config);
  const device = config.ONNX_DEVICE;
  if (device === 'cuda') assertCudaInstalled(deps.ortBinDir);
  const t: Any = await import('@huggingface/transformers');
  // Local files only: the one place that downloads models is `quickread model pull`.
  t.env.allowRemoteModels = false;
  t.env.allowLocalModels = true;
  t.env.logLevel = t.LogLevel?.ERROR ?? t.env.logLevel;
  const name = basename(dir);
  const modelConfig = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { model_type?: string };
  const processorClass = t[PROCESSORS[modelConfig.model_type ?? ''] ?? 'AutoProcessor'];
  let processor: Any;
  let model: Any;
  try {
    // env.localModelPath is process-wide (and a model id may hold one folder name only): loads take
    // turns so two engines on different folders cannot see each other's setting.
    await loading(async () => {
      t.env.localModelPath = `${dirname(dir)}/`;
      processor = await processorClass.from_pretrained(name, { local_files_only: true });
      model = await t.AutoModelForImageTextToText.from_pretrained(name, {
        dtype: config.ONNX_DTYPE,
        device,
        local_files_only: true,
      });
    });
  } catch (error) {
    throw mapRuntimeError(error, device);
  }
  const tokenizer = processor.tokenizer;
  const chatTemplate = chatTemplateOverride(dir);
  const probeTokens = yesNoTokens(tokenizer);
  const eos = new Set<number>(
    [model.generation_config?.eos_token_id ?? []].flat().map((id: unknown) => Number(id)),
  );

  const vocabSize = Number(tokenizer.get_vocab().size ?? Object.keys(tokenizer.get_vocab()).length);
  const frameVocab: FrameVocabulary = frameVocabulary(
    Array.from(
      { length: vocabSize },
      (_, id) => tokenizer.decode([id], { skip_special_tokens: false }) as string,
    ),
    [...eos],
  );

  class CaptureProcessor extends t.LogitsProcessor {
    capture: LogitsCapture;
    frame: { promptLength: number; state: ReturnType<typeof initialFrame> } | undefined;
    constructor(capture: LogitsCapture, frame?: { promptLength: number }) {
      super();
      this.capture = capture;
      this.frame = frame ? { promptLength: frame.promptLength, state: initialFrame() } : undefined;
    }
    _call(inputIds: bigint[][], logits: Any) {
      this.capture.step(inputIds, logits);
      if (this.frame) {
        const row = inputIds[0] ?? [];
        if (row.length > this.frame.promptLength) {
          const last = Number(row[row.length - 1]);
          this.frame.state = advanceFrame(this.frame.state, frameVocab.texts[last] ?? '');
        }
        applyFrame(this.frame.state, frameVocab, logits.data);
      }
      return logits;
    }
  }

  const generate = async (request: GenerateRequest): Promise<Generation> => {
    if (request.signal.aborted) throw cancelled();
    const text: string = processor.apply_chat_template(templateMessages(request.messages), {
      add_generation_prompt: true,
      ...(chatTemplate ? { chat_template: chatTemplate } : {}),
    });
    const inputs = await processor(text, await rawImage(t, request.png));
    const promptLength: number = inputs.input_ids.dims[1];
    const deadline = AbortSignal.timeout(request.timeoutMs);
    const capture = new LogitsCapture({
      temperature: request.temperature,
      signal: AbortSignal.any([request.signal, deadline]),
      onAbort: () => (request.signal.aborted ? cancelled() : timedOut(request.timeoutMs)),
      ...(request.probe ? { probeTokens } : {}),
    });
    let output: Any;
    try {
      output = await model.generate({
        ...inputs,
        max_new_tokens: request.maxNewTokens,
        do_sample: request.temperature > 0,
        temperature: 1,
        ...(request.repetitionPenalty ? { repetition_penalty: request.repetitionPenalty } : {}),
        logits_processor: [new CaptureProcessor(capture, request.json ? { promptLength } : undefined)],
      });
    } catch (error) {
      throw mapRuntimeError(error, device);
    }
    const sequence: number[] = Array.from(output.data as BigInt64Array, Number).slice(promptLength);
    capture.finish(sequence[sequence.length - 1]);
    const stopped = sequence.length > 0 && eos.has(sequence[sequence.length - 1]!);
    const body = stopped ? sequence.slice(0, -1) : sequence;
    const tokens = capture.tokens.slice(0, body.length).map((token) => ({
      ...token,
      text: tokenizer.decode([token.id], { skip_special_tokens: true }) as string,
    }));
    return {
      text: tokenizer.decode(body, { skip_special_tokens: true }) as string,
      finish: stopped ? 'stop' : 'length',
      usage: { prompt: promptLength, completion: sequence.length },
      tokens,
      ...(capture.firstTop ? { firstTop: capture.firstTop } : {}),
    };
  };

  return {
    name,
    generate,
    async close() {
      await model.dispose?.();
    },
  };
}

/**
 * Every vocabulary entry that reads as yes or no once normalised (case, leading space or Ġ/▁ marker,
 * punctuation): the probe sums their probability mass from the full distribution, not a top-k list.
 */
function yesNoTokens(tokenizer: Any): Array<{ id: number; token: string }> {
  const vocab: Map<string, number> | Record<string, number> = tokenizer.get_vocab();
  const entries = vocab instanceof Map ? [...vocab.entries()] : Object.entries(vocab);
  const out: Array<{ id: number; token: string }> = [];
  for (const [token, id] of entries) {
    if (token.length > 12) continue;
    const word = normaliseToken(token);
    if (/^(?:yes|y|true|no|n|false|是|否|不|有|没有|不是|是的)$/u.test(word)) out.push({ id, token });
  }
  return out;
}
