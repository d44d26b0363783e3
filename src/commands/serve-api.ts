import { createMetrics } from '../api/metrics.ts';
import { createReadPipeline } from '../api/pipeline.ts';
import { checkApiExposure, startApiServer } from '../api/server.ts';
import type { Config } from '../config.ts';
import { PROMPT_VERSION } from '../engine/index.ts';
import { AppError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { CommandIO } from './output.ts';

/** `quickread serve-api [--port N] [--host H]`: serve until SIGINT/SIGTERM (or `stop` aborts). */
export async function runServeApi(
  config: Config,
  io: CommandIO,
  options: { port?: string; host?: string },
  stop?: AbortSignal,
): Promise<number> {
  const port = options.port === undefined ? config.API_PORT : Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new AppError('USAGE', 'serve-api: bad --port', {
      userMessage: '--port must be a number from 0 to 65535.',
    });
  }
  const host = options.host ?? '127.0.0.1';
  checkApiExposure(config, host);
  const logger = createLogger({ level: config.LOG_LEVEL });
  const pipeline = createReadPipeline(config, { logger });
  const metrics = createMetrics(pipeline.dispatcher);
  const server = await startApiServer(
    {
      config,
      logger,
      dispatcher: pipeline.dispatcher,
      metrics,
      prepare: pipeline.prepare,
      model: pipeline.engine.model,
      promptVersion: PROMPT_VERSION,
    },
    { port, host, variable: options.port === undefined ? 'API_PORT' : '--port' },
  ).catch(async (error: unknown) => {
    // Nothing is served (port in use…): let go of the engine client and workers, so the command exits.
    metrics.close();
    await pipeline.close();
    throw error;
  });
  io.out(`quickread API listening on ${server.url} — POST /v1/visualqa, GET /healthz, GET /metrics`);
  const health = await pipeline.engine
    .health(AbortSignal.timeout(3000))
    .catch(() => ({ ok: false, detail: 'unreachable' }));
  // Known down from the start: requests wait at most API_WAIT_S from the first one, not after a failed read.
  if (!health.ok) pipeline.dispatcher.engineUnavailable();
  io.out(
    health.ok
      ? `engine: ${pipeline.engine.id} reachable at ${config.ENGINE_URL}`
      : `engine: not reachable yet at ${config.ENGINE_URL}; requests wait up to API_WAIT_S=${config.API_WAIT_S} s for it, then get 503 with Retry-After (quickread doctor says how to start one)`,
  );
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    if (stop?.aborted) done();
    stop?.addEventListener('abort', done, { once: true });
  });
  io.err('quickread API stopping…');
  // The queue stops first, so a caller still waiting for a read is answered 503 BOT_STOPPING with
  // Retry-After instead of having its connection reset.
  await pipeline.dispatcher.stop();
  await server.close();
  metrics.close();
  await pipeline.close();
  return 0;
}
