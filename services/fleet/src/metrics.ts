/**
 * Prometheus metrics of the fleet service (GET /metrics): requests, writes by operation and
 * outcome (committed, unchanged, dry-run, or the problem code), plus Node's default process metrics.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The service's metrics, in their own registry. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Histogram({
    name: 'fleet_http_request_duration_seconds',
    help: 'HTTP requests served, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly writes = new Counter({
    name: 'fleet_writes_total',
    help: 'Writes, by operation and outcome (committed, unchanged, dry-run, or the problem code)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
