import { execFile } from 'node:child_process';
import type { Config } from '../../config.ts';
import { isAppError } from '../../errors.ts';
import type { DoctorCheck } from '../doctor-check.ts';
import { GPU_INSTALL_COMMAND, missingCudaLibs } from './cuda.ts';
import { checkModelFolder, manifestRepo, pullCommand } from './files.ts';

/**
 * `quickread doctor` for ENGINE=onnx: device and dtype, the CUDA provider libraries, the model files
 * for the configured dtype, and free GPU memory from nvidia-smi when it is installed. Nothing here
 * loads the model (doctor must stay quick and must not take the GPU from a running bot).
 */

export interface OnnxDoctorDeps {
  /** Runs `nvidia-smi` with these arguments; resolves stdout, rejects when absent. */
  nvidiaSmi?: (args: string[]) => Promise<string>;
  ortBinDir?: string;
}

const defaultNvidiaSmi = (args: string[]) =>
  new Promise<string>((resolve, reject) => {
    execFile('nvidia-smi', args, { timeout: 5000 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    );
  });

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

/** Free and total MiB of the first GPU, or undefined when nvidia-smi cannot say. */
export async function gpuMemory(
  run: (args: string[]) => Promise<string> = defaultNvidiaSmi,
): Promise<{ freeMiB: number; totalMiB: number } | undefined> {
  try {
    const out = await run(['--query-gpu=memory.free,memory.total', '--format=csv,noheader,nounits']);
    const [free, total] = (out.trim().split('\n')[0] ?? '').split(',').map((v) => Number(v.trim()));
    if (!Number.isFinite(free) || !Number.isFinite(total)) return undefined;
    return { freeMiB: free as number, totalMiB: total as number };
  } catch {
    return undefined;
  }
}

export async function checkOnnxEngine(config: Config, deps: OnnxDoctorDeps = {}): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [
    {
      name: 'engine',
      ok: true,
      detail: `in process (onnxruntime-node) on ${config.ONNX_DEVICE}, weights ${config.ONNX_DTYPE}, one read at a time`,
    },
  ];
  if (config.ONNX_DEVICE === 'cuda') {
    const missing = process.platform === 'linux' ? missingCudaLibs(deps.ortBinDir) : [];
    checks.push(
      missing.length === 0
        ? { name: 'cuda', ok: true, detail: 'onnxruntime CUDA provider libraries installed' }
        : {
            name: 'cuda',
            ok: false,
            detail: `onnxruntime CUDA provider libraries missing (${missing.join(', ')})`,
            fix: `Run \`${GPU_INSTALL_COMMAND}\` (needs CUDA 12 + cuDNN 9), or set ONNX_DEVICE=cpu.`,
          },
    );
  }
  let modelBytes: number | undefined;
  try {
    const folder = checkModelFolder(config);
    modelBytes = folder.bytes;
    const repo = manifestRepo(folder.dir);
    checks.push({
      name: 'model files',
      ok: true,
      detail: `${folder.files.length} files, ${gib(folder.bytes)} in ${folder.dir}${repo ? ` (${repo})` : ''}`,
    });
  } catch (error) {
    checks.push({
      name: 'model files',
      ok: false,
      detail: isAppError(error) ? error.userMessage.split('\n')[0]! : 'the model folder could not be checked',
      fix: `Run \`${pullCommand(config.ONNX_DTYPE)}\` with MODEL_DIR set.`,
    });
  }
  if (config.ONNX_DEVICE === 'cuda') {
    const memory = await gpuMemory(deps.nvidiaSmi);
    if (!memory) {
      checks.push({ name: 'gpu memory', ok: true, detail: 'unknown (nvidia-smi not available)' });
    } else {
      const freeBytes = memory.freeMiB * 1024 * 1024;
      // Weights plus activations and the KV cache: the files' size is a floor, not the whole need.
      const tight = modelBytes !== undefined && freeBytes < modelBytes * 1.2;
      checks.push({
        name: 'gpu memory',
        ok: !tight,
        detail: `${gib(freeBytes)} free of ${gib(memory.totalMiB * 1024 * 1024)}`,
        ...(tight ? { fix: 'Free GPU memory, use ONNX_DTYPE=q4f16, or lower MAX_IMAGE_SIZE.' } : {}),
      });
    }
  }
  return checks;
}
