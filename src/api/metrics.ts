import type { EventEmitter } from 'node:events';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DispatcherStats, FinishedEvent } from '../dispatch/types.ts';

/**
 * Prometheus metrics (text exposition format 0.0.4) fed by the dispatcher: its stats() are read at
 * scrape time and its 'finished' events feed the counters and the service-time histogram. One registry
 * per instance (not prom-client's global one) so tests and several servers in a process don't collide.
 */
export interface MetricsSource {
  stats(): DispatcherStats;
  readonly events: EventEmitter;
}

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  text(): Promise<string>;
  /** Errors that never reached the dispatcher (bad input refused by the API, decode failures). */
  countError(code: string): void;
  close(): void;
}

export function createMetrics(source: MetricsSource, options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'quickread_' });

  new Gauge({
    name: 'quickread_queue_depth',
    help: 'Reads waiting for the GPU (not yet running).',
    registers: [registry],
    collect() {
      const stats = source.stats();
      this.set(stats.queued + stats.preparing);
    },
  });
  new Gauge({
    name: 'quickread_in_flight',
    help: 'Reads running on the engine now.',
    registers: [registry],
    collect() {
      this.set(source.stats().running);
    },
  });
  // Per endpoint (ENGINE_URLS) when the dispatcher routes to several; one unlabelled series otherwise.
  new Gauge({
    name: 'quickread_engine_up',
    help: '1 when the model server answered its last health check, else 0 (per endpoint).',
    labelNames: ['endpoint'],
    registers: [registry],
    collect() {
      const stats = source.stats();
      if (!stats.endpoints) return this.set(stats.engineUp ? 1 : 0);
      for (const endpoint of stats.endpoints) this.labels(endpoint.label).set(endpoint.up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'quickread_engine_in_flight',
    help: 'Reads running on each endpoint now.',
    labelNames: ['endpoint'],
    registers: [registry],
    collect() {
      for (const endpoint of source.stats().endpoints ?? [])
        this.labels(endpoint.label).set(endpoint.running);
    },
  });
  new Gauge({
    name: 'quickread_engine_concurrency',
    help: 'Reads each endpoint takes at once (its slots).',
    labelNames: ['endpoint'],
    registers: [registry],
    collect() {
      for (const endpoint of source.stats().endpoints ?? [])
        this.labels(endpoint.label).set(endpoint.concurrency);
    },
  });
  const endpointServiceSeconds = new Histogram({
    name: 'quickread_engine_service_seconds',
    help: 'Time the last attempt of a read spent on each endpoint.',
    labelNames: ['endpoint'],
    buckets: [0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300],
    registers: [registry],
  });
  const serviceSeconds = new Histogram({
    name: 'quickread_service_seconds',
    help: 'Time a read spent on the engine, including retries and the out-of-memory ladder.',
    buckets: [0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300],
    registers: [registry],
  });
  const waitSeconds = new Histogram({
    name: 'quickread_queue_wait_seconds',
    help: 'Time a read waited in the queue before it started.',
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900],
    registers: [registry],
  });
  const reads = new Counter({
    name: 'quickread_reads_total',
    help: 'Finished reads by urgency.',
    labelNames: ['urgency'],
    registers: [registry],
  });
  const downscales = new Counter({
    name: 'quickread_oom_downscales_total',
    help: 'Reads whose image had to be shrunk after the engine ran out of memory.',
    registers: [registry],
  });
  const errors = new Counter({
    name: 'quickread_errors_total',
    help: 'Failed requests by error code.',
    labelNames: ['code'],
    registers: [registry],
  });
  // Zero-valued series exist from the start, so a dashboard's rate() works before the first event.
  for (const urgency of ['routine', 'urgent', 'critical']) reads.labels(urgency).inc(0);

  const onFinished = (event: FinishedEvent) => {
    if (event.durationMs > 0) serviceSeconds.observe(event.durationMs / 1000);
    if (event.durationMs > 0 && event.endpoint)
      endpointServiceSeconds.labels(event.endpoint).observe(event.durationMs / 1000);
    waitSeconds.observe(event.waitMs / 1000);
    if (event.errorCode) errors.labels(event.errorCode).inc();
    else if (event.urgency) reads.labels(event.urgency).inc();
    if (event.downscaled) downscales.inc();
  };
  source.events.on('finished', onFinished);

  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    countError: (code) => errors.labels(code).inc(),
    close: () => {
      source.events.off('finished', onFinished);
    },
  };
}
