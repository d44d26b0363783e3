import type { BurnedInTextReport } from '../../core/types.ts';
import type { BurnedInTextMode, ScanDepth } from './scan.ts';

/** Messages between index.ts and worker.ts. No field ever carries recognised text. */
export interface ScanRequest {
  id: number;
  png: Uint8Array;
  mode: BurnedInTextMode;
  depth: ScanDepth;
}

/** Asks the worker to load its models now, ahead of the first scan (no reply). */
export interface WarmRequest {
  warm: true;
}

export type WorkerRequest = ScanRequest | WarmRequest;

export type ScanResponse =
  | { id: number; ok: true; report: BurnedInTextReport; found: boolean; png?: Uint8Array }
  | {
      id: number;
      ok: false;
      error: { code: string; message: string; userMessage?: string; details?: Record<string, unknown> };
    };
