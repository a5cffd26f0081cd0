/**
 * Test support: a real monitor (services/monitor) on loopback for the producers' tests, its
 * events port being their PLATFORM_EVENTS_URL. Its liveness backend is empty (it watches no
 * device and no agent: liveness has its own tests), its API judges tokens of `issuer` with the
 * platform's tenancy policy, and its state (journal included) lives in `stateFile`.
 */

import { loadPlatformContext } from '../../platform/context.js';
import { policyData } from '../../platform/policy-data.js';
import type { MonitorConfig } from '../../services/monitor/src/config.js';
import type { DeviceBackend } from '../../services/monitor/src/fiware.js';
import type { RunningMonitor } from '../../services/monitor/src/service.js';
import { startMonitor } from '../../services/monitor/src/service.js';
import { logLines } from './log-lines.js';

/** A backend with no devices and no agents. */
export const EMPTY_BACKEND: DeviceBackend = {
  devices: async () => [],
  lastSeen: async () => new Map(),
  nudge: async () => undefined,
  writeHealth: async () => undefined,
};

/** Options of {@link startEventsMonitor}. */
export interface EventsMonitorOptions {
  readonly stateFile: string;
  /** The JWKS its API verifies tokens with. @default an unreachable URL (no API calls) */
  readonly jwksUrl?: string;
  /** The issuer of those tokens. @default the platform context's */
  readonly issuer?: string;
  /** Overrides of the configuration (e.g. eventsPort, journalSize). */
  readonly config?: Partial<MonitorConfig>;
  /** Receives each log line, parsed. */
  readonly logs?: Record<string, unknown>[];
  /** In [0, 1), for the webhooks' retry jitter. */
  readonly random?: () => number;
}

/** The monitor's configuration for these tests. */
export function eventsMonitorConfig(o: EventsMonitorOptions): MonitorConfig {
  const ctx = loadPlatformContext();
  return {
    port: 0,
    eventsPort: 0,
    journalSize: 1000,
    iotaNorthUrls: { ultralight: 'http://127.0.0.1:9', json: 'http://127.0.0.1:9' },
    orionUrl: 'http://127.0.0.1:9',
    jwksUrl: o.jwksUrl ?? 'http://127.0.0.1:9/certs',
    policyData: { ...policyData(ctx), issuer: o.issuer ?? ctx.issuer },
    tenants: ctx.config.tenants.map((t) => t.name),
    stateFile: o.stateFile,
    passSeconds: 30,
    nudgeCommand: 'ping',
    maxNudges: 3,
    graceRatio: 0.1,
    minGraceSeconds: 5,
    webhookTimeoutMs: 2000,
    webhookAllowedHosts: ['127.0.0.1'],
    upstreamTimeoutMs: 2000,
    logLevel: 'info',
    ...o.config,
  };
}

/** Starts the monitor (no pass timer: nothing runs but what the test asks). */
export async function startEventsMonitor(o: EventsMonitorOptions): Promise<RunningMonitor> {
  const sink = logLines((entry) => o.logs?.push(entry));
  return startMonitor(eventsMonitorConfig(o), {
    host: '127.0.0.1',
    processMetrics: false,
    timer: false,
    backend: EMPTY_BACKEND,
    logDestination: sink,
    ...(o.random ? { random: o.random } : {}),
  });
}
