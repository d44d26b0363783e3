import { EventEmitter } from 'node:events';
import type { Logger } from '../log.ts';
import { createEngineGate, type EngineGate } from './engine-gate.ts';
import type { Entry } from './entry.ts';
import type { EndpointEngine, EndpointStats } from './types.ts';

/** One endpoint as the dispatcher sees it: its health gate and the reads it runs now. */
export interface Route extends EndpointEngine {
  gate: EngineGate;
  /** Jobs on this endpoint now, with the controller of their current attempt. */
  reading: Map<Entry, AbortController>;
  serviceMsEwma: number;
}

export interface Router {
  readonly routes: readonly Route[];
  /** Some endpoint is up. */
  readonly up: boolean;
  /** Slots over all endpoints (the ETA's divisor and the preparation lookahead). */
  readonly concurrency: number;
  /** Free slots on endpoints that take work now. */
  free(): number;
  /**
   * The endpoint for the next read: open (up, not inside a Retry-After pause), with a free slot, and the
   * fewest reads relative to its slots, so a 16-slot box gets about four times the work of a 4-slot one.
   */
  pick(): Route | undefined;
  /** Every endpoint is held and polled (e.g. none answered the start-up health check). */
  downAll(): void;
  stats(): EndpointStats[];
  stop(): void;
}

export function createRouter(deps: {
  engines: readonly EndpointEngine[];
  logger: Logger;
  /** The dispatcher's emitter: 'engine' { up } when the first endpoint comes up or the last goes down. */
  events: EventEmitter;
  clock: () => number;
  poll: { min: number; max: number };
  initialServiceMs: number;
  onOpen: () => void;
  /** An endpoint went down: its reads in flight may be moved elsewhere. */
  onDown: (route: Route) => void;
}): Router {
  let anyUp = true;
  const routes: Route[] = deps.engines.map((endpoint) => {
    const gateEvents = new EventEmitter();
    const route: Route = {
      ...endpoint,
      reading: new Map(),
      serviceMsEwma: deps.initialServiceMs,
      gate: createEngineGate({
        engine: endpoint.engine,
        logger: deps.logger.child({ endpoint: endpoint.label }),
        events: gateEvents,
        clock: deps.clock,
        poll: deps.poll,
        onOpen: deps.onOpen,
      }),
    };
    gateEvents.on('engine', ({ up }: { up: boolean }) => {
      deps.events.emit('endpoint', { endpoint: endpoint.label, up });
      const nowUp = routes.some((candidate) => candidate.gate.up);
      if (nowUp !== anyUp) {
        anyUp = nowUp;
        deps.events.emit('engine', { up: nowUp });
      }
      if (!up) deps.onDown(route);
    });
    return route;
  });
  const concurrency = routes.reduce((sum, route) => sum + route.concurrency, 0);

  return {
    routes,
    get up() {
      return routes.some((route) => route.gate.up);
    },
    concurrency,
    free: () =>
      routes.reduce(
        (sum, route) => sum + (route.gate.open() ? Math.max(0, route.concurrency - route.reading.size) : 0),
        0,
      ),
    pick() {
      let best: Route | undefined;
      for (const route of routes) {
        if (!route.gate.open() || route.reading.size >= route.concurrency) continue;
        if (!best || route.reading.size / route.concurrency < best.reading.size / best.concurrency)
          best = route;
      }
      return best;
    },
    downAll: () => {
      for (const route of routes) route.gate.down();
    },
    stats: () =>
      routes.map((route) => ({
        label: route.label,
        up: route.gate.up,
        running: route.reading.size,
        concurrency: route.concurrency,
        serviceMsEwma: route.serviceMsEwma,
      })),
    stop: () => {
      for (const route of routes) route.gate.stop();
    },
  };
}
