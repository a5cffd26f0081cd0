/**
 * Test support: the liveness monitor on the local stack. Real: the service (its passes over the
 * real IoT Agents' registries and the Orion fake, its nudges through Orion, its state file, its
 * webhook deliveries and its tenancy). Tuned for a stack people watch: a pass every second and
 * a grace of one second, so a device with a 1-second interval is offline about eight seconds
 * after its last measurement (three nudges, each given an interval and a grace), not half a
 * minute as with the defaults.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { DeviceProtocol } from '../../platform/components.js';
import type { MonitorConfig } from '../../services/monitor/src/config.js';
import type { RunningMonitor } from '../../services/monitor/src/service.js';
import { startMonitor } from '../../services/monitor/src/service.js';
import { logLines } from '../support/log-lines.js';

/** The hosts the local stack's monitor may deliver webhooks to (the outbound rule refuses them). */
export const LOCAL_WEBHOOK_HOSTS = ['localhost', '127.0.0.1'];

export interface MonitorStack {
  /** The service's base URL (its API is under /monitor). */
  readonly url: string;
  readonly service: RunningMonitor;
  readonly stateFile: string;
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface MonitorStackOptions {
  readonly iotaNorthUrls: Readonly<Record<DeviceProtocol, string>>;
  readonly orionUrl: string;
  readonly jwksUrl: string;
  readonly policyData: { readonly tenants: readonly string[] } & Record<string, unknown>;
  /** Seconds between passes. @default 1 */
  readonly passSeconds?: number;
  readonly onLog?: (entry: Record<string, unknown>) => void;
}

/** The local stack's monitor configuration. */
export function localMonitorConfig(opts: MonitorStackOptions, stateFile: string): MonitorConfig {
  return {
    port: 0,
    eventsPort: 0,
    journalSize: 1000,
    iotaNorthUrls: opts.iotaNorthUrls,
    orionUrl: opts.orionUrl,
    jwksUrl: opts.jwksUrl,
    policyData: opts.policyData,
    tenants: opts.policyData.tenants,
    stateFile,
    passSeconds: opts.passSeconds ?? 1,
    nudgeCommand: 'ping',
    maxNudges: 3,
    graceRatio: 0.1,
    minGraceSeconds: 1,
    webhookTimeoutMs: 2000,
    webhookAllowedHosts: LOCAL_WEBHOOK_HOSTS,
    upstreamTimeoutMs: 2000,
    logLevel: 'info',
  };
}

/** Starts the monitor on a state file of its own. */
export async function startMonitorStack(opts: MonitorStackOptions): Promise<MonitorStack> {
  const dir = mkdtempSync(join(tmpdir(), 'monitor-stack-'));
  const stateFile = join(dir, 'state.json');
  const logs: Record<string, unknown>[] = [];
  const sink = logLines((entry) => {
    logs.push(entry);
    opts.onLog?.(entry);
  });
  try {
    const service = await startMonitor(localMonitorConfig(opts, stateFile), {
      logDestination: sink,
      host: '127.0.0.1',
      processMetrics: false,
    });
    return {
      url: service.url,
      service,
      stateFile,
      logs,
      close: async () => {
        await service.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
