/**
 * Wiring: configuration → upstream clients, tenancy policy, JWKS cache, logger, metrics →
 * the express app, listening. Used by bin/server.ts, the tests and the benchmark.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { DestinationStream } from 'pino';

import type { DeviceProtocol } from '../../../platform/components.js';
import { DEFAULT_DEVICE_PROTOCOL, DEVICE_PROTOCOLS } from '../../../platform/components.js';
import { EventPublisher } from '../../runtime/src/index.js';
import { JwksCache, TenancyPolicy } from '../../tenancy/src/index.js';
import { ApiKeyPublisher } from './api-keys.js';
import { createApp } from './app.js';
import { provisioningError } from './errors.js';
import type { ProvisioningConfig } from './config.js';
import { IotAgentClient, OrionClient } from './fiware-client.js';
import { createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { Provisioner } from './provisioner.js';
import { Upstream } from './upstream.js';

/** What tests may change beyond the configuration. */
export interface ServiceOverrides {
  /** Where logs go. @default stdout */
  readonly logDestination?: DestinationStream;
  /** Listen address. @default 0.0.0.0 */
  readonly host?: string;
  /** Devices per IoT Agent create request. @default 500 */
  readonly chunkSize?: number;
  /** Node's process metrics. @default true */
  readonly processMetrics?: boolean;
  /** The clock the inventory measures ages by. @default Date.now */
  readonly now?: () => number;
}

/** A listening service. */
export interface RunningService {
  readonly url: string;
  readonly server: Server;
  readonly metrics: Metrics;
  /** Device events to the monitor (a no-op without PLATFORM_EVENTS_URL). */
  readonly events: EventPublisher;
  close(): Promise<void>;
}

/** Starts the service. */
export async function startService(
  config: ProvisioningConfig,
  overrides: ServiceOverrides = {},
): Promise<RunningService> {
  const logger = createLogger(config.logLevel, overrides.logDestination);
  const metrics = new Metrics({ processMetrics: overrides.processMetrics ?? true });
  const onAttempt = (upstream: string, method: string, outcome: string, seconds: number) =>
    metrics.upstream.observe({ upstream, method, outcome }, seconds);
  const upstream = (name: string, baseUrl: string) =>
    new Upstream({
      name,
      baseUrl,
      timeoutMs: config.upstreamTimeoutMs,
      attempts: config.upstreamAttempts,
      onAttempt,
    });
  const agents = Object.fromEntries(
    DEVICE_PROTOCOLS.map((p) => [
      p,
      // The default protocol's agent keeps the name `iot-agent` in metrics and messages.
      new IotAgentClient(
        upstream(
          p === DEFAULT_DEVICE_PROTOCOL ? 'iot-agent' : `iot-agent-${p}`,
          config.iotaNorthUrls[p],
        ),
      ),
    ]),
  ) as Record<DeviceProtocol, IotAgentClient>;
  const provisioner = new Provisioner({
    agents,
    orion: new OrionClient(upstream('orion', config.orionUrl)),
    quantumLeapNotifyUrl: config.quantumLeapNotifyUrl,
    defaultExpectedInterval: config.defaultExpectedInterval,
    ...(overrides.chunkSize ? { chunkSize: overrides.chunkSize } : {}),
    ...(overrides.now ? { now: overrides.now } : {}),
  });
  const policy = await TenancyPolicy.load({ config: config.policyData });
  const apiKeys = new ApiKeyPublisher({
    agents,
    tenants: tenantsOf(config.policyData),
    onChange: (data) => {
      policy.setApiKeys(data);
      logger.info({ revision: data.revision }, 'API keys published');
    },
  });
  // The first read, not awaited: the service starts while an agent is still coming up.
  apiKeys
    .bundle()
    .catch((err: Error) => logger.warn({ err: err.message }, 'API keys not read yet'));
  const jwks = new JwksCache({ url: config.jwksUrl });
  const events = new EventPublisher({
    url: config.eventsUrl,
    logger,
    registry: metrics.registry,
  });
  const app = createApp({
    events,
    provisioner,
    policy,
    jwks,
    logger,
    metrics,
    maxBatch: config.maxBatch,
    maxBodyBytes: config.maxBodyBytes,
    staleAfterIntervals: config.staleAfterIntervals,
    apiKeys,
  });
  const server = app.listen(config.port, overrides.host ?? '0.0.0.0');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  logger.info(
    { port, iota: config.iotaNorthUrls, orion: config.orionUrl },
    'provisioning service listening',
  );
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    metrics,
    events,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await events.close();
    },
  };
}

/** The configured tenants of the policy data; a document without them is a broken config. */
function tenantsOf(policyData: unknown): string[] {
  const tenants = (policyData as { tenants?: unknown } | null)?.tenants;
  if (!Array.isArray(tenants) || !tenants.every((t): t is string => typeof t === 'string')) {
    throw provisioningError(
      'ERR_PROVISIONING_CONFIG',
      'the policy data has no tenants list; use the document `npm run synth` generates (POLICY_DATA_FILE)',
    );
  }
  return tenants;
}
