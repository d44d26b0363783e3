import { FLOAT, type GraphSpec, INT64 } from './onnx-proto.ts';

/**
 * The three graphs of a transformers.js Qwen3-VL export, with the I/O names, dtypes and symbolic
 * dimensions that @huggingface/transformers feeds (models/qwen2_vl/modeling_qwen2_vl.js,
 * modeling_utils.js): vision_encoder(pixel_values, image_grid_thw) → image_features,
 * embed_tokens(input_ids) → inputs_embeds, decoder_model_merged(inputs_embeds, attention_mask,
 * position_ids[3,B,S], past_key_values.i.key/value) → logits, present.i.key/value. The arithmetic is
 * the smallest that keeps every shape honest: a merged-patch mean and a projection for vision, a
 * lookup for embeddings, and one linear head plus a growing key/value cache for the decoder.
 */

export interface TinyWeights {
  hidden: number;
  vocab: number;
  /** [vocab, hidden] embedding table. */
  embed: Float32Array;
  /** [hidden, vocab] output head and [vocab] bias. */
  head: Float32Array;
  bias: Float32Array;
  /** [4, hidden] projection of the 2×2-merged patch means. */
  vision: Float32Array;
  /** 3·temporal·patch² values per patch row of pixel_values. */
  patchDim: number;
}

export function visionGraph(w: TinyWeights): GraphSpec {
  return {
    name: 'vision_encoder',
    inputs: [
      { name: 'pixel_values', elemType: FLOAT, shape: ['num_patches', w.patchDim] },
      { name: 'image_grid_thw', elemType: INT64, shape: ['num_images', 3] },
    ],
    outputs: [{ name: 'image_features', elemType: FLOAT, shape: ['num_tokens', w.hidden] }],
    initializers: [
      // Rows of pixel_values come in spatial-merge order (2×2 patches per token), so four rows make one token.
      { name: 'merge_shape', dims: [3], data: BigInt64Array.from([-1n, 4n, BigInt(w.patchDim)]) },
      { name: 'w_vision', dims: [4, w.hidden], data: w.vision },
    ],
    nodes: [
      { op: 'Reshape', inputs: ['pixel_values', 'merge_shape'], outputs: ['merged'] },
      { op: 'ReduceMean', inputs: ['merged'], outputs: ['means'], attrs: { axes: [2], keepdims: 0 } },
      { op: 'MatMul', inputs: ['means', 'w_vision'], outputs: ['image_features'] },
    ],
  };
}

export function embedGraph(w: TinyWeights): GraphSpec {
  return {
    name: 'embed_tokens',
    inputs: [{ name: 'input_ids', elemType: INT64, shape: ['batch_size', 'sequence_length'] }],
    outputs: [{ name: 'inputs_embeds', elemType: FLOAT, shape: ['batch_size', 'sequence_length', w.hidden] }],
    initializers: [{ name: 'embed', dims: [w.vocab, w.hidden], data: w.embed }],
    nodes: [{ op: 'Gather', inputs: ['embed', 'input_ids'], outputs: ['inputs_embeds'], attrs: { axis: 0 } }],
  };
}

export function decoderGraph(w: TinyWeights): GraphSpec {
  // One layer, one key/value head of size `hidden`: static head count and size, symbolic batch and
  // past length — transformers.js builds the empty first-step cache from exactly these dims.
  const cache = (name: string, length: string) => ({
    name,
    elemType: FLOAT,
    shape: ['batch_size', 1, length, w.hidden],
  });
  return {
    name: 'decoder_model_merged',
    inputs: [
      { name: 'inputs_embeds', elemType: FLOAT, shape: ['batch_size', 'sequence_length', w.hidden] },
      { name: 'attention_mask', elemType: INT64, shape: ['batch_size', 'total_sequence_length'] },
      { name: 'position_ids', elemType: INT64, shape: [3, 'batch_size', 'sequence_length'] },
      cache('past_key_values.0.key', 'past_sequence_length'),
      cache('past_key_values.0.value', 'past_sequence_length'),
    ],
    outputs: [
      { name: 'logits', elemType: FLOAT, shape: ['batch_size', 'sequence_length', w.vocab] },
      cache('present.0.key', 'total_sequence_length'),
      cache('present.0.value', 'total_sequence_length'),
    ],
    initializers: [
      { name: 'w_head', dims: [w.hidden, w.vocab], data: w.head },
      { name: 'b_head', dims: [w.vocab], data: w.bias },
      { name: 'axis_1', dims: [1], data: BigInt64Array.from([1n]) },
    ],
    nodes: [
      { op: 'MatMul', inputs: ['inputs_embeds', 'w_head'], outputs: ['scores'] },
      { op: 'Add', inputs: ['scores', 'b_head'], outputs: ['logits'] },
      { op: 'Unsqueeze', inputs: ['inputs_embeds', 'axis_1'], outputs: ['kv'] },
      {
        op: 'Concat',
        inputs: ['past_key_values.0.key', 'kv'],
        outputs: ['present.0.key'],
        attrs: { axis: 2 },
      },
      {
        op: 'Concat',
        inputs: ['past_key_values.0.value', 'kv'],
        outputs: ['present.0.value'],
        attrs: { axis: 2 },
      },
    ],
  };
}
