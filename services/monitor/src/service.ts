/**
 * Wiring: configuration → FIWARE clients, state store, dispatcher, monitor, tenancy policy,
 * JWKS cache, logger, metrics → the express app, listening, and the pass timer. Used by
 * bin/server.ts, the tests and the benchmark (which pass their own clock and drive passes).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { DestinationStream, Logger } from 'pino';

import type { DeviceProtocol } from '../../../platform/components.js';
import { DEVICE_PROTOCOLS } from '../../../platform/components.js';
import { IotAgentClient, OrionClient } from '../../provisioning/src/fiware-client.js';
import { Upstream } from '../../provisioning/src/upstream.js';
import { JwksCache, TenancyPolicy } from '../../tenancy/src/index.js';
import { createApp } from './app.js';
import type { MonitorConfig } from './config.js';
import { Dispatcher } from './deliveries.js';
import type { DeviceBackend } from './fiware.js';
import { FiwareDeviceBackend } from './fiware.js';
import { DEFAULT_LIVENESS_POLICY } from './liveness.js';
import { createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { Monitor } from './monitor.js';
import { MonitorStore } from './store.js';

/** What tests may change beyond the configuration. */
export interface ServiceOverrides {
  readonly logDestination?: DestinationStream;
  /** @default 0.0.0.0 */
  readonly host?: string;
  /** @default true */
  readonly processMetrics?: boolean;
  /** The clock. @default Date.now */
  readonly now?: () => number;
  /** In [0, 1), for the retry jitter. @default Math.random */
  readonly random?: () => number;
  /** Run passes on a timer every MONITOR_PASS_SECONDS. @default true */
  readonly timer?: boolean;
  /** Instead of the IoT Agents and Orion. */
  readonly backend?: DeviceBackend;
}

/** A running monitor. */
export interface RunningMonitor {
  readonly url: string;
  readonly server: Server;
  readonly monitor: Monitor;
  readonly store: MonitorStore;
  readonly dispatcher: Dispatcher;
  readonly metrics: Metrics;
  readonly logger: Logger;
  close(): Promise<void>;
}

/** Builds the FIWARE backend of a configuration. */
export function fiwareBackend(
  config: Pick<MonitorConfig, 'iotaNorthUrls' | 'orionUrl' | 'upstreamTimeoutMs'>,
) {
  const upstream = (name: string, baseUrl: string) =>
    new Upstream({ name, baseUrl, timeoutMs: config.upstreamTimeoutMs });
  const agents = Object.fromEntries(
    DEVICE_PROTOCOLS.map((p) => [
      p,
      new IotAgentClient(upstream(`iot-agent-${p}`, config.iotaNorthUrls[p])),
    ]),
  ) as Record<DeviceProtocol, IotAgentClient>;
  return new FiwareDeviceBackend(agents, new OrionClient(upstream('orion', config.orionUrl)));
}

/** Starts the monitor. */
export async function startMonitor(
  config: MonitorConfig,
  overrides: ServiceOverrides = {},
): Promise<RunningMonitor> {
  const logger = createLogger(config.logLevel, overrides.logDestination);
  const metrics = new Metrics({ processMetrics: overrides.processMetrics ?? true });
  const now = overrides.now ?? Date.now;
  const store = MonitorStore.open(config.stateFile);
  const dispatcher = new Dispatcher({
    store,
    now,
    ...(overrides.random ? { random: overrides.random } : {}),
    timeoutMs: config.webhookTimeoutMs,
    allowedHosts: config.webhookAllowedHosts,
    onAttempt: (outcome) => metrics.deliveries.inc({ outcome }),
  });
  const monitor = new Monitor({
    tenants: config.tenants,
    backend: overrides.backend ?? fiwareBackend(config),
    store,
    dispatcher,
    metrics,
    logger,
    now,
    nudgeCommand: config.nudgeCommand,
    policy: {
      ...DEFAULT_LIVENESS_POLICY,
      maxNudges: config.maxNudges,
      graceRatio: config.graceRatio,
      minGraceSeconds: config.minGraceSeconds,
    },
  });
  const policy = await TenancyPolicy.load({ config: config.policyData });
  const jwks = new JwksCache({ url: config.jwksUrl });
  const app = createApp({ monitor, store, dispatcher, policy, jwks, logger, metrics });
  const server = app.listen(config.port, overrides.host ?? '0.0.0.0');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  let timer: NodeJS.Timeout | undefined;
  if (overrides.timer !== false) {
    const tick = () => {
      monitor
        .pass()
        .catch((err: Error) => logger.error({ err: err.message }, 'pass failed'))
        .finally(() => {
          timer = setTimeout(tick, config.passSeconds * 1000);
          timer.unref();
        });
    };
    timer = setTimeout(tick, 0);
    timer.unref();
  }
  const { port } = server.address() as AddressInfo;
  logger.info({ port, tenants: config.tenants, state: config.stateFile }, 'monitor listening');
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    monitor,
    store,
    dispatcher,
    metrics,
    logger,
    close: () =>
      new Promise((resolve) => {
        clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
