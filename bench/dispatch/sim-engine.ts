import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for a vLLM server running Qwen3-VL-8B, speaking plain HTTP+JSON. Latency per
 * request = vision encoder + prefill of (image + prompt) tokens + output tokens × per-token decode
 * time, where decode slows as more requests share the batch (continuous batching). Parameters are
 * rounded from published single-GPU figures for 7-8B models in bf16 on vLLM (H100 80GB: ~100 tok/s
 * per stream at batch 1, ~10k+ tok/s prefill; RTX 3090 24GB: ~40-45 tok/s per stream, ~3.5k tok/s
 * prefill). Everything is divided by `timeScale` so a 200-job backlog takes seconds, not minutes.
 */
export interface GpuProfile {
  name: string;
  prefillTokPerSec: number;
  /** Decode time per output token at batch 1 (ms). */
  decodeMsPerToken: number;
  /** Fractional slowdown of each stream per extra request in the batch. */
  batchSlowdown: number;
  /** Vision encoder cost per image token (ms). */
  visionMsPerToken: number;
}

export const profiles: GpuProfile[] = [
  {
    name: 'H100 80GB',
    prefillTokPerSec: 12_000,
    decodeMsPerToken: 10.5,
    batchSlowdown: 0.04,
    visionMsPerToken: 0.03,
  },
  {
    name: 'RTX 3090',
    prefillTokPerSec: 3_500,
    decodeMsPerToken: 23,
    batchSlowdown: 0.08,
    visionMsPerToken: 0.1,
  },
];

export interface SimRequest {
  imageTokens: number;
  promptTokens: number;
  outputTokens: number;
}

export interface SimStats {
  requests: number;
  /** Sum of in-flight time over all requests (ms). */
  slotMs: number;
  firstStart: number;
  lastEnd: number;
  /** For each start into a freed slot: ms since the completion that freed it (slot hand-off). */
  handoffMs: number[];
}

export async function startSimEngine(profile: GpuProfile, timeScale: number) {
  let inFlight = 0;
  let stats: SimStats;
  let slots = 1;
  const freed: number[] = [];
  const reset = (concurrency = 1) => {
    stats = { requests: 0, slotMs: 0, firstStart: Number.POSITIVE_INFINITY, lastEnd: 0, handoffMs: [] };
    slots = concurrency;
    freed.length = 0;
  };
  reset();
  const latencyMs = (req: SimRequest, batch: number): number => {
    const prefill = ((req.imageTokens + req.promptTokens) / profile.prefillTokPerSec) * 1000;
    const vision = req.imageTokens * profile.visionMsPerToken;
    const decode = req.outputTokens * profile.decodeMsPerToken * (1 + profile.batchSlowdown * (batch - 1));
    return (prefill + vision + decode) / timeScale;
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += String(chunk);
    });
    req.on('end', () => {
      const started = performance.now();
      // A start while a slot stood free since some completion: the wait is the hand-off gap.
      const freedAt = inFlight < slots ? freed.shift() : undefined;
      if (freedAt !== undefined) stats.handoffMs.push(started - freedAt);
      inFlight += 1;
      stats.requests += 1;
      stats.firstStart = Math.min(stats.firstStart, started);
      const request = JSON.parse(body) as SimRequest;
      setTimeout(
        () => {
          const ended = performance.now();
          inFlight -= 1;
          stats.slotMs += ended - started;
          stats.lastEnd = Math.max(stats.lastEnd, ended);
          freed.push(ended);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ latencyMs: ended - started, batch: inFlight + 1 }));
        },
        latencyMs(request, inFlight),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => stats,
    reset,
    latencyMs,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
