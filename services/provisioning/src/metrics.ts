/**
 * Prometheus metrics of the service (GET /metrics): requests, upstream calls, devices written
 * and authorization decisions, plus Node's default process metrics.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The service's metrics, in their own registry (no global state between app instances). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Histogram({
    name: 'provisioning_http_request_duration_seconds',
    help: 'HTTP requests served, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly upstream = new Histogram({
    name: 'provisioning_upstream_request_duration_seconds',
    help: 'Calls to the IoT Agent and Orion, by upstream, method and outcome (status, timeout, unavailable, malformed)',
    labelNames: ['upstream', 'method', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly devices = new Counter({
    name: 'provisioning_devices_total',
    help: 'Devices written, by tenant and result (created, updated, unchanged, failed)',
    labelNames: ['tenant', 'status'] as const,
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'provisioning_authz_decisions_total',
    help: 'Authorization decisions of the in-process tenancy policy, by result and status',
    labelNames: ['allowed', 'status'] as const,
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
