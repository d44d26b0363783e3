import type { Config } from '../config.ts';
import type { Engine, PreparedImage } from '../core/types.ts';
import { createDispatcher } from '../dispatch/index.ts';
import type { Dispatcher } from '../dispatch/types.ts';
import { createEngines } from '../engine/index.ts';
import { closeDecodePool, type PrepareOptions, prepareImage } from '../ingest/index.ts';
import type { Logger } from '../log.ts';

/**
 * The read path shared by `serve-api` and `batch`: engine → dispatcher, with prepareImage in front.
 * The same parts `quickread start` wires for the chat adapters, without the store and the bot core.
 */
export interface ReadPipeline {
  engine: Engine;
  dispatcher: Dispatcher;
  prepare: (bytes: Uint8Array, options: PrepareOptions) => Promise<PreparedImage>;
  close(): Promise<void>;
}

export function createReadPipeline(
  config: Config,
  deps: { logger: Logger; fetch?: typeof fetch; engine?: Engine },
): ReadPipeline {
  const engines = deps.engine
    ? undefined
    : createEngines(config, { logger: deps.logger, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  const engine = deps.engine ?? engines![0]!.engine;
  const dispatcher = createDispatcher({
    engine,
    ...(engines ? { engines } : {}),
    config,
    logger: deps.logger,
  });
  return {
    engine,
    dispatcher,
    prepare: (bytes, options) => prepareImage(bytes, options),
    async close() {
      await dispatcher.stop();
      for (const each of engines?.map((endpoint) => endpoint.engine) ?? [engine]) await each.close?.();
      await closeDecodePool();
    },
  };
}
