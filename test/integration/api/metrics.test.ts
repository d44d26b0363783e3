import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/api/metrics.ts';
import type { DispatcherStats } from '../../../src/dispatch/types.ts';

describe('Prometheus metrics fed by dispatcher stats and events', () => {
  it('reads gauges at scrape time and counts finished reads, downscales and errors', async () => {
    const stats: DispatcherStats = {
      queued: 3,
      preparing: 1,
      running: 1,
      engineUp: false,
      serviceMsEwma: 8000,
    };
    const events = new EventEmitter();
    const metrics = createMetrics({ stats: () => stats, events }, { processMetrics: false });
    let text = await metrics.text();
    expect(text).toContain('quickread_queue_depth 4');
    expect(text).toContain('quickread_in_flight 1');
    expect(text).toContain('quickread_engine_up 0');

    events.emit('finished', {
      id: 'a',
      durationMs: 2500,
      waitMs: 100,
      urgency: 'critical',
      downscaled: true,
    });
    events.emit('finished', { id: 'b', durationMs: 900, waitMs: 0, urgency: 'routine', downscaled: false });
    events.emit('finished', {
      id: 'c',
      durationMs: 0,
      waitMs: 50,
      downscaled: false,
      errorCode: 'INPUT_CORRUPT',
    });
    metrics.countError('USAGE');
    stats.engineUp = true;
    stats.queued = 0;
    text = await metrics.text();
    expect(text).toContain('quickread_reads_total{urgency="critical"} 1');
    expect(text).toContain('quickread_reads_total{urgency="routine"} 1');
    expect(text).toContain('quickread_reads_total{urgency="urgent"} 0');
    expect(text).toContain('quickread_oom_downscales_total 1');
    expect(text).toContain('quickread_errors_total{code="INPUT_CORRUPT"} 1');
    expect(text).toContain('quickread_errors_total{code="USAGE"} 1');
    expect(text).toContain('quickread_service_seconds_count 2');
    expect(text).toContain('quickread_service_seconds_bucket{le="4"} 2');
    expect(text).toContain('quickread_service_seconds_bucket{le="2"} 1');
    expect(text).toContain('quickread_engine_up 1');
    expect(text).toContain('quickread_queue_depth 1');

    metrics.close();
    events.emit('finished', { id: 'd', durationMs: 1, waitMs: 0, urgency: 'routine', downscaled: false });
    expect(await metrics.text()).toContain('quickread_reads_total{urgency="routine"} 1');
  });
});
