/**
 * Wiring: configuration → FIWARE clients, state store, dispatcher, monitor, tenancy policy,
 * JWKS cache, logger, metrics → the API's express app and the internal events port's
 * (ingest.ts), both listening, and the pass timer. Used by
 * bin/server.ts, the tests and the benchmark (which pass their own clock and drive passes).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Express } from 'express';
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
import { createEventsApp } from './ingest.js';
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
  /** The internal events port's base URL (a producer's PLATFORM_EVENTS_URL). */
  readonly eventsUrl: string;
  readonly eventsServer: Server;
  readonly monitor: Monitor;
  readonly store: MonitorStore;
  readonly dispatcher: Dispatcher;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Stops serving and passing; resolves once a pass or delivery in flight has ended and saved. */
  close(): Promise<void>;
}

/** Builds the FIWARE backend of a configuration. */
export function fiwareBackend(
  config: Pick<
    MonitorConfig,
    'iotaNorthUrls' | 'orionUrl' | 'upstreamTimeoutMs' | 'announceAllowedHosts'
  >,
) {
  const upstream = (name: string, baseUrl: string) =>
    new Upstream({ name, baseUrl, timeoutMs: config.upstreamTimeoutMs });
  const agents = Object.fromEntries(
    DEVICE_PROTOCOLS.map((p) => [
      p,
      new IotAgentClient(upstream(`iot-agent-${p}`, config.iotaNorthUrls[p])),
    ]),
  ) as Record<DeviceProtocol, IotAgentClient>;
  return new FiwareDeviceBackend(agents, new OrionClient(upstream('orion', config.orionUrl)), {
    announceAllowedHosts: config.announceAllowedHosts ?? [],
    announceTimeoutMs: config.upstreamTimeoutMs,
  });
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
    journalSize: config.journalSize,
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
  const server = await listen(app, config.port, overrides.host);
  let timer: NodeJS.Timeout | undefined;
  let delivering: Promise<unknown> = Promise.resolve();
  /** Saves what an event changed (before answering), then delivers what is due. */
  const afterEvent = () => {
    store.save();
    delivering = dispatcher
      .deliverDue()
      .then(() => store.save())
      .catch((err: Error) => logger.error({ err: err.message }, 'delivery failed'));
  };
  const eventsApp = createEventsApp({
    dispatcher,
    tenants: config.tenants,
    logger,
    metrics,
    onAccepted: afterEvent,
  });
  const eventsServer = await listen(eventsApp, config.eventsPort, overrides.host).catch(
    async (err: unknown) => {
      await closeServer(server);
      throw err;
    },
  );
  let closed = false;
  if (overrides.timer !== false) {
    const tick = () => {
      monitor
        .pass()
        .catch((err: Error) => logger.error({ err: err.message }, 'pass failed'))
        .finally(() => {
          if (closed) return;
          timer = setTimeout(tick, config.passSeconds * 1000);
          timer.unref();
        });
    };
    timer = setTimeout(tick, 0);
    timer.unref();
  }
  const { port } = server.address() as AddressInfo;
  const eventsPort = (eventsServer.address() as AddressInfo).port;
  logger.info(
    { port, eventsPort, tenants: config.tenants, state: config.stateFile },
    'monitor listening',
  );
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    eventsUrl: `http://127.0.0.1:${eventsPort}`,
    eventsServer,
    monitor,
    store,
    dispatcher,
    metrics,
    logger,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await Promise.all([closeServer(server), closeServer(eventsServer)]);
      // A pass still running (the timer's or a request's) ends and saves before close does:
      // nothing is written after it, and no pass is scheduled again.
      await monitor.idle();
      await delivering;
    },
  };
}

async function listen(app: Express, port: number, host = '0.0.0.0'): Promise<Server> {
  const server = app.listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
