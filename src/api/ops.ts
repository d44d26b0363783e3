import type { IncomingMessage, ServerResponse } from 'node:http';
import { fromLoopback } from '../net/http-guard.ts';
import type { StoreHealth } from '../store/faults.ts';
import type { Metrics, MetricsSource } from './metrics.ts';

/**
 * GET /healthz and GET /metrics, shared by `quickread serve-api` and the bot (`quickread start` mounts
 * them on the console's port through the adapter's `extraRoutes`). /healthz answers 200 while the
 * process serves; whether the engine is up is in the body, so a restart loop never starts because the
 * GPU server is down (requests wait in the queue instead). It answers 503 while the bot's storage cannot
 * be written (disk full, I/O errors): then nothing new can be accepted, and an operator must act.
 */
export type OpsRoute = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export function createOpsRoutes(deps: {
  metrics: Metrics;
  source: MetricsSource;
  model: string;
  promptVersion?: string;
  /** METRICS_PUBLIC: serve /metrics beyond loopback (queue sizes, error counts and model say how busy a ward is). */
  metricsPublic?: boolean;
  /** Whether the store can take writes (the bot's store; absent for `serve-api`, which keeps none). */
  storage?: () => StoreHealth;
}): OpsRoute {
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/healthz') {
      const stats = deps.source.stats();
      const storage = deps.storage?.() ?? { ok: true };
      const body = JSON.stringify({
        ok: storage.ok,
        ...(storage.ok ? {} : { store: { code: storage.code, reason: storage.reason } }),
        engine: stats.engineUp ? 'up' : 'down',
        model: deps.model,
        ...(deps.promptVersion ? { promptVersion: deps.promptVersion } : {}),
        queued: stats.queued + stats.preparing,
        running: stats.running,
      });
      res.writeHead(storage.ok ? 200 : 503, {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (path === '/metrics') {
      if (!deps.metricsPublic && !fromLoopback(req)) {
        const refusal = JSON.stringify({
          error: {
            code: 'NOT_ALLOWED',
            message:
              'Metrics are served on loopback only: scrape from this machine or set METRICS_PUBLIC=true.',
          },
        });
        res.writeHead(403, {
          'content-type': 'application/json; charset=utf-8',
          'cache-control': 'no-store',
        });
        res.end(refusal);
        return true;
      }
      const text = await deps.metrics.text();
      res.writeHead(200, { 'content-type': deps.metrics.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
      return true;
    }
    return false;
  };
}
