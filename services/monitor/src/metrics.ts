/**
 * Prometheus metrics of the monitor (GET /metrics): one liveness gauge per target (what the
 * `offline` alerting rule reads), targets per state, passes, nudges, webhook attempts, events
 * received on the internal port and alerts that named no platform tenant.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import { LIVENESS_METRIC, LIVENESS_VALUE } from '../../../platform/liveness.js';

export { LIVENESS_VALUE };

/** The monitor's metrics, in their own registry. */
export class Metrics {
  readonly registry = new Registry();
  readonly liveness = new Gauge({
    name: LIVENESS_METRIC,
    help: 'Liveness of each target: 0 fresh, 1 silent, 2 nudged, 3 offline',
    labelNames: ['tenant', 'kind', 'id'] as const,
    registers: [this.registry],
  });
  readonly targets = new Gauge({
    name: 'monitor_targets',
    help: 'Targets per tenant, kind and state after the last pass',
    labelNames: ['tenant', 'kind', 'state'] as const,
    registers: [this.registry],
  });
  readonly passes = new Histogram({
    name: 'monitor_pass_duration_seconds',
    help: 'Monitoring passes, by outcome (ok, partial: a tenant could not be read)',
    labelNames: ['outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly nudges = new Counter({
    name: 'monitor_nudges_total',
    help: 'Nudges, by tenant, kind and outcome (devices: sent, failed, no-command; agents: sent, failed, refused, no-url)',
    labelNames: ['tenant', 'kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'monitor_webhook_attempts_total',
    help: 'Webhook delivery attempts, by outcome (delivered, retrying, failed, gone)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly received = new Counter({
    name: 'monitor_events_received_total',
    help: 'Events posted to the internal events port, by producer and outcome (accepted, duplicate, refused)',
    labelNames: ['producer', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly unroutedAlerts = new Counter({
    name: 'monitor_alerts_unrouted_total',
    help: "Alertmanager's alerts not delivered, by reason (no-tenant: no tenant label; unknown-tenant)",
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
