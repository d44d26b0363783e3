/**
 * What a model server's error text means for the read, from the strings the real servers send:
 *
 * - `out-of-memory`: the image (or the prompt around it) did not fit — retry the same read smaller (the
 *   ladder). CUDA's allocator ("CUDA out of memory"), vLLM's context check ("This model's maximum context
 *   length is …", "max_model_len") and vLLM's encoder-cache check ("The decoder prompt contains a(n) image
 *   item with length N, which exceeds the pre-allocated encoder cache size M. Please reduce the input size
 *   …": vllm/v1/engine/processor.py, HTTP 400) all say so.
 * - `engine-died`: the process that runs the model is gone. vLLM's EngineDeadError carries "EngineCore
 *   encountered an issue. See stack trace (above) for the root cause." (vllm/v1/engine/exceptions.py) and
 *   the API server answers 500 with it, then shuts down; a real CUDA out-of-memory in the middle of a
 *   batch ends this way rather than as "CUDA out of memory". Ollama's runner dying reads "llama runner
 *   process has terminated: …" (ollama/llm/server.go) or "llama runner process no longer running".
 *   The server must come back (health) before anything is sent, and the read is worth one more try at a
 *   smaller size: what killed it was most likely the memory this image needed.
 */

export type EngineFailure = 'out-of-memory' | 'engine-died' | 'other';

const ENGINE_DIED =
  /EngineCore encountered an issue|EngineDeadError|Engine core proc \S+ died|llama runner process (has terminated|no longer running)/i;

const OUT_OF_MEMORY =
  /CUDA out of memory|out of memory|OutOfMemory|pre-allocated encoder cache size|maximum context length|max_model_len|context length|exceeds? the model'?s? (maximum|max)|too many (image )?tokens|decoder prompt .* longer than/i;

/** Classify an error message from a model server (never shown to users: it may echo the request). */
export function classifyEngineMessage(message: string): EngineFailure {
  // Death first: "llama runner process has terminated: CUDA error: out of memory" is a dead runner.
  if (ENGINE_DIED.test(message)) return 'engine-died';
  if (OUT_OF_MEMORY.test(message)) return 'out-of-memory';
  return 'other';
}

/**
 * Socket errors that mean the server went away in the middle of an answer (undici reports a peer that
 * closed the socket as UND_ERR_SOCKET "other side closed"; the kernel as ECONNRESET / EPIPE). A refused
 * connection is different: nothing was ever sent, the server is simply not up.
 */
const MID_ANSWER_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);

export function isMidAnswerDisconnect(code: string | undefined): boolean {
  return code !== undefined && MID_ANSWER_CODES.has(code);
}
