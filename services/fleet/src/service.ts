/**
 * Wiring: configuration → git store, tenancy policy, JWKS cache, logger, metrics → the express
 * app, listening. Used by bin/server.ts and the tests (which pass their own status source).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { DestinationStream, Logger } from 'pino';

import { JwksCache, TenancyPolicy } from '../../tenancy/src/index.js';
import { createApp } from './app.js';
import type { FleetConfig } from './config.js';
import type { StatusSource } from './contract.js';
import { FleetFailure, fleetServiceError } from './errors.js';
import { createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { GitStore } from './store.js';

/** What tests may change beyond the configuration. */
export interface ServiceOverrides {
  readonly logDestination?: DestinationStream;
  /** @default 0.0.0.0 */
  readonly host?: string;
  /** @default true */
  readonly processMetrics?: boolean;
  /** What runs; without it the status endpoints answer 503. */
  readonly status?: StatusSource;
  /** Called before each push (GitStoreOptions.beforePush). */
  readonly beforePush?: (attempt: number) => Promise<void>;
}

/** A running fleet service. */
export interface RunningFleet {
  readonly url: string;
  readonly server: Server;
  readonly store: GitStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  close(): Promise<void>;
}

/** Starts the fleet service: clones the repository, then listens. */
export async function startFleet(
  config: FleetConfig,
  overrides: ServiceOverrides = {},
): Promise<RunningFleet> {
  const logger = createLogger(config.logLevel, overrides.logDestination);
  const metrics = new Metrics({ processMetrics: overrides.processMetrics ?? true });
  const store = await GitStore.open({
    ctx: config.ctx,
    remote: config.gitUrl,
    branch: config.branch,
    dir: config.cloneDir,
    committer: config.committer,
    refreshMs: config.refreshSeconds * 1000,
    ...(overrides.beforePush ? { beforePush: overrides.beforePush } : {}),
  }).catch((err: unknown) => {
    // At start, a documented error the entry point prints with its fix (exit 1).
    if (err instanceof FleetFailure) throw fleetServiceError(err.code, err.message, err);
    throw err;
  });
  const policy = await TenancyPolicy.load({ config: config.policyData });
  const jwks = new JwksCache({ url: config.jwksUrl });
  const app = createApp({
    ctx: config.ctx,
    store,
    policy,
    jwks,
    logger,
    metrics,
    ...(overrides.status ? { status: overrides.status } : {}),
  });
  const server = app.listen(config.port, overrides.host ?? '0.0.0.0');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port, branch: config.branch, clone: config.cloneDir }, 'fleet service listening');
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    store,
    metrics,
    logger,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
