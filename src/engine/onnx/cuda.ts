import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AppError, isAppError } from '../../errors.ts';

/**
 * onnxruntime-node ships its CPU build; the CUDA execution provider comes as extra shared libraries
 * that its install script fetches (`ONNXRUNTIME_NODE_INSTALL=cuda12`, wrapped as `npm run gpu:install`).
 * Without them, asking for `cuda` must fail clearly rather than fall back to the CPU silently
 * (DEPENDENCIES.md): a CPU read of a 2B model takes minutes, which users would take for a hang.
 */

export const GPU_INSTALL_COMMAND = 'npm run gpu:install';

export const CUDA_PROVIDER_LIBS = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];

/** The folder of onnxruntime-node's native binding for this platform (bin/napi-v6/<platform>/<arch>). */
export function ortBinaryDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('onnxruntime-node/package.json'));
    return join(root, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

export function missingCudaLibs(binDir: string | undefined = ortBinaryDir()): string[] {
  if (binDir === undefined) return CUDA_PROVIDER_LIBS;
  return CUDA_PROVIDER_LIBS.filter((lib) => !existsSync(join(binDir, lib)));
}

export function cudaUnavailable(detail: string, cause?: unknown): AppError {
  return new AppError('CUDA_UNAVAILABLE', `CUDA execution provider unavailable: ${detail}`, {
    ...(cause === undefined ? {} : { cause }),
    userMessage: `ONNX_DEVICE=cuda was asked for, but onnxruntime's CUDA libraries are not installed (${detail}). Install them with \`${GPU_INSTALL_COMMAND}\` (needs CUDA 12 and cuDNN 9 on the machine), or set ONNX_DEVICE=cpu.`,
    details: { command: GPU_INSTALL_COMMAND },
  });
}

/** Throw CUDA_UNAVAILABLE before any session is created when the provider libraries are absent. */
export function assertCudaInstalled(binDir: string | undefined = ortBinaryDir()): void {
  if (process.platform !== 'linux' && process.platform !== 'win32') {
    throw cudaUnavailable(`CUDA is not supported on ${process.platform}`);
  }
  const missing = process.platform === 'linux' ? missingCudaLibs(binDir) : [];
  if (missing.length > 0) throw cudaUnavailable(`missing ${missing.join(', ')}`);
}

const OOM =
  /out of memory|Failed to allocate memory|cudaErrorMemoryAllocation|CUDA failure 2\b|CUBLAS_STATUS_ALLOC_FAILED|BFCArena.*(?:fail|allocat)|std::bad_alloc/i;
const CUDA_LOAD =
  /providers_cuda|libcudart|libcublas|libcudnn|libcufft|CUDA_PATH|cudaErrorNoDevice|cudaErrorInsufficientDriver|no CUDA-capable device|CUDA driver version is insufficient|Unsupported device: "cuda"/i;

/**
 * onnxruntime and transformers.js fail with plain Errors; give them the app's codes. An allocation
 * failure becomes ENGINE_OUT_OF_MEMORY, which the out-of-memory ladder retries smaller.
 */
export function mapRuntimeError(error: unknown, device: 'cuda' | 'cpu'): AppError {
  if (isAppError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (OOM.test(message)) {
    return new AppError('ENGINE_OUT_OF_MEMORY', `onnxruntime allocation failed: ${message.slice(0, 300)}`, {
      cause: error,
    });
  }
  if (device === 'cuda' && CUDA_LOAD.test(message)) return cudaUnavailable(message.slice(0, 200), error);
  if (/Could not locate file|ENOENT|no such file/i.test(message)) {
    return new AppError('MODEL_FILES_MISSING', `model file missing: ${message.slice(0, 300)}`, {
      cause: error,
    });
  }
  return new AppError('ENGINE_ERROR', `onnxruntime: ${message.slice(0, 300)}`, {
    cause: error,
    userMessage: 'The in-process model failed while reading this image.',
  });
}
