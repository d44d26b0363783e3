import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decoderGraph, embedGraph, type TinyWeights, visionGraph } from './graphs.ts';
import { encodeModel } from './onnx-proto.ts';

/**
 * A tiny Qwen3-VL export in the transformers.js layout, written from JS: config.json,
 * generation_config.json, preprocessor_config.json, tokenizer.json, tokenizer_config.json (with a
 * Qwen-style chat template) and onnx/{vision_encoder,embed_tokens,decoder_model_merged}{suffix}.onnx.
 *
 * Two weight sets:
 * - 'random': normal random weights — the output is gibberish, as a real untrained model's would be;
 * - 'scripted': the embedding is the identity and the head maps each token to a chosen successor with
 *   logit margin `MARGIN`, so greedy decoding emits SCRIPT (a valid read) whatever the prompt, with a
 *   per-token probability the test can compute exactly. Small biases on the "yes"/"no" tokens give the
 *   yes/no probe a known answer.
 *
 * The tokenizer is a BPE with no merges over single characters plus whole "chunk" tokens that only the
 * model emits (they decode by concatenation: the Fuse decoder). Folders are cached under os.tmpdir().
 */

export const SPECIAL = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<|vision_start|>',
  '<|vision_end|>',
  '<|image_pad|>',
  '<|video_pad|>',
] as const;

/** What the scripted model says, one token per entry, then <|im_end|>. */
export const SCRIPT = [
  '{"findings":[{"label":"',
  'small nodule',
  '","location":"',
  'right upper lobe',
  '","severity":"mild"}],"impression":"',
  'Small right upper lobe nodule.',
  '","urgency":"routine","recommendations":["',
  'CT follow-up',
  '"]}',
] as const;

export const YES_BIAS = 0.5;
export const NO_BIAS = 0.2;
export const MARGIN = 8;
export const PATCH = 16;

// Printable ASCII and newline; y/Y/n/N are left out so the only yes/no tokens are "yes" and "no".
const CHARS = [
  '\n',
  ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((c) => !/[yYnN]/.test(c)),
];

export interface TinyVocab {
  tokens: string[];
  id: (token: string) => number;
}

export function tinyVocab(yesNo = true): TinyVocab {
  const tokens = ['<unk>', ...CHARS, ...SCRIPT, ...(yesNo ? ['yes', 'no'] : []), ...SPECIAL];
  const index = new Map(tokens.map((token, i) => [token, i]));
  return {
    tokens,
    id: (token) => {
      const found = index.get(token);
      if (found === undefined) throw new Error(`no token ${token}`);
      return found;
    },
  };
}

/** Deterministic normal-ish random numbers (mulberry32 + Box–Muller), so cached folders are reproducible. */
function randn(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

export type TinyKind = 'random' | 'scripted';

export interface TinyOptions {
  kind?: TinyKind;
  /** ONNX file suffix: '_quantized' (q8, the default), '' (fp32)… */
  suffix?: string;
  /** Include "yes"/"no" tokens (false: a vocabulary the yes/no probe cannot read). */
  yesNo?: boolean;
  dir?: string;
}

function weights(kind: TinyKind, vocab: TinyVocab): TinyWeights {
  const v = vocab.tokens.length;
  const hidden = v;
  const patchDim = 3 * 2 * PATCH * PATCH;
  const rand = randn(kind === 'random' ? 7 : 11);
  const embed = new Float32Array(v * hidden);
  const head = new Float32Array(hidden * v);
  const bias = new Float32Array(v);
  const vision = Float32Array.from({ length: 4 * hidden }, () => rand());
  if (kind === 'random') {
    for (let i = 0; i < embed.length; i++) embed[i] = rand();
    for (let i = 0; i < head.length; i++) head[i] = rand();
    return { hidden, vocab: v, embed, head, bias, vision, patchDim };
  }
  for (let i = 0; i < v; i++) embed[i * hidden + i] = 1;
  const chunkIds = SCRIPT.map((token) => vocab.id(token));
  const end = vocab.id('<|im_end|>');
  // head[from, to] = MARGIN: any token that is not part of the script leads into its first chunk.
  for (let from = 0; from < v; from++) {
    const at = chunkIds.indexOf(from);
    const to = at < 0 ? chunkIds[0]! : (chunkIds[at + 1] ?? end);
    head[from * v + to] = MARGIN;
  }
  if (vocab.tokens.includes('yes')) {
    bias[vocab.id('yes')] = YES_BIAS;
    bias[vocab.id('no')] = NO_BIAS;
  }
  return { hidden, vocab: v, embed, head, bias, vision, patchDim };
}

/** P(next scripted token) under greedy decoding: softmax of MARGIN against every other logit (biases). */
export function scriptedTokenProbability(yesNo = true): number {
  const vocab = tinyVocab(yesNo);
  let others = 0;
  for (const token of vocab.tokens) {
    // The successor itself has bias 0 (chunks carry no bias); every other token contributes e^bias.
    others += Math.exp(token === 'yes' ? YES_BIAS : token === 'no' ? NO_BIAS : 0);
  }
  others -= 1; // the successor's own e^0
  return Math.exp(MARGIN) / (Math.exp(MARGIN) + others);
}

/** P(yes) over the yes/no tokens of the probe answer. */
export function scriptedYesProbability(): number {
  return Math.exp(YES_BIAS) / (Math.exp(YES_BIAS) + Math.exp(NO_BIAS));
}

const CHAT_TEMPLATE =
  "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

function textFiles(vocab: TinyVocab): Record<string, unknown> {
  const v = vocab.tokens.length;
  const idOf = vocab.id;
  return {
    'config.json': {
      architectures: ['Qwen3VLForConditionalGeneration'],
      model_type: 'qwen3_vl',
      image_token_id: idOf('<|image_pad|>'),
      video_token_id: idOf('<|video_pad|>'),
      vision_start_token_id: idOf('<|vision_start|>'),
      vision_end_token_id: idOf('<|vision_end|>'),
      text_config: {
        model_type: 'qwen3_vl_text',
        hidden_size: v,
        num_hidden_layers: 1,
        num_attention_heads: 1,
        num_key_value_heads: 1,
        head_dim: v,
        vocab_size: v,
        eos_token_id: idOf('<|im_end|>'),
      },
      vision_config: { spatial_merge_size: 2, patch_size: PATCH, temporal_patch_size: 2, out_hidden_size: v },
    },
    'generation_config.json': {
      eos_token_id: [idOf('<|im_end|>'), idOf('<|endoftext|>')],
      pad_token_id: idOf('<|endoftext|>'),
      do_sample: false,
    },
    'preprocessor_config.json': {
      image_processor_type: 'Qwen2VLImageProcessor',
      do_resize: true,
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      do_convert_rgb: true,
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.5, 0.5, 0.5],
      patch_size: PATCH,
      merge_size: 2,
      temporal_patch_size: 2,
      min_pixels: 32 * 32,
      max_pixels: 2048 * 2048,
      size: { shortest_edge: 32 * 32, longest_edge: 2048 * 2048 },
      resample: 3,
    },
    'tokenizer.json': {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: SPECIAL.map((content) => ({
        id: idOf(content),
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: { type: 'Fuse' },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: '<unk>',
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: false,
        vocab: Object.fromEntries(vocab.tokens.map((token, i) => [token, i])),
        merges: [],
      },
    },
    'tokenizer_config.json': {
      tokenizer_class: 'Qwen2Tokenizer',
      eos_token: '<|im_end|>',
      pad_token: '<|endoftext|>',
      unk_token: '<unk>',
      bos_token: null,
      clean_up_tokenization_spaces: false,
      model_max_length: 32768,
      chat_template: CHAT_TEMPLATE,
    },
  };
}

/** Bump when the layout or weights change, so a stale cached folder is rebuilt. */
const BUILDER_VERSION = 2;

/**
 * Write (or reuse) a tiny model folder. `suffix` is the dtype suffix of the ONNX files
 * ('_quantized' for q8, '' for fp32…): the weights are fp32 whatever the name, which is all the
 * loader needs to prove it picks the files of the configured dtype.
 */
export async function buildTinyQwen3Vl(options: TinyOptions = {}): Promise<string> {
  const kind = options.kind ?? 'scripted';
  const suffix = options.suffix ?? '_quantized';
  const yesNo = options.yesNo ?? true;
  const key = createHash('sha256')
    .update(`${BUILDER_VERSION}:${kind}:${suffix}:${yesNo}`)
    .digest('hex')
    .slice(0, 12);
  const dir = options.dir ?? join(tmpdir(), `quickread-tiny-qwen3vl-${key}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  // Build beside and rename, so parallel test files never see a half-written folder.
  const staging = `${dir}.${process.pid}.${Date.now()}`;
  await mkdir(join(staging, 'onnx'), { recursive: true });
  const vocab = tinyVocab(yesNo);
  for (const [name, body] of Object.entries(textFiles(vocab))) {
    await writeFile(join(staging, name), JSON.stringify(body, null, 1));
  }
  const w = weights(kind, vocab);
  await writeFile(join(staging, 'onnx', `vision_encoder${suffix}.onnx`), encodeModel(visionGraph(w)));
  await writeFile(join(staging, 'onnx', `embed_tokens${suffix}.onnx`), encodeModel(embedGraph(w)));
  await writeFile(join(staging, 'onnx', `decoder_model_merged${suffix}.onnx`), encodeModel(decoderGraph(w)));
  await writeFile(join(staging, '.complete'), 'ok');
  try {
    await rename(staging, dir);
  } catch {
    // Another worker won the race (its folder is identical), or a broken leftover is in the way.
    if (!existsSync(join(dir, '.complete'))) {
      await rm(dir, { recursive: true, force: true });
      await rename(staging, dir).catch(() => undefined);
    }
    await rm(staging, { recursive: true, force: true });
  }
  return dir;
}
