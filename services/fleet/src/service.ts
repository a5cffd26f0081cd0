/**
 * Wiring: configuration → git store, tenancy policy, JWKS cache, logger, metrics → the express
 * app, listening. Used by bin/server.ts and the tests (which pass their own status source).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { DestinationStream, Logger } from 'pino';

import { loadCluster } from '../../../platform/cluster.js';
import { JwksCache, TenancyPolicy } from '../../tenancy/src/index.js';
import { createApp } from './app.js';
import type { FleetConfig } from './config.js';
import type { StatusSource } from './contract.js';
import { FleetFailure, fleetServiceError } from './errors.js';
import { createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { KubeStatusSource } from './observe.js';
import { RolloutRunner } from './rollouts.js';
import { GitStore } from './store.js';

/** What tests may change beyond the configuration. */
export interface ServiceOverrides {
  readonly logDestination?: DestinationStream;
  /** @default 0.0.0.0 */
  readonly host?: string;
  /** @default true */
  readonly processMetrics?: boolean;
  /**
   * What runs, instead of the cluster of `config.status` (a test's own); with one, the rollout
   * runner advances rollouts on it.
   */
  readonly status?: StatusSource;
  /** Run the rollout runner on the status source. @default true, false with a given `status` */
  readonly runRollouts?: boolean;
  /** The runner's clock. @default the system's */
  readonly now?: () => Date;
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
  /** The rollout runner, when the service has a status source. */
  readonly rollouts?: RolloutRunner;
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
  // What runs: the cluster's (watched, so a status call lists nothing), or the test's own.
  let kube: KubeStatusSource | undefined;
  if (!overrides.status && config.status === 'kubernetes') {
    kube = new KubeStatusSource({
      cluster: loadCluster(),
      tenants: config.ctx.config.tenants.map((t) => t.name),
      watch: true,
    });
    await kube.start();
  }
  const status: StatusSource | undefined = overrides.status ?? kube;
  const rollouts =
    status && (overrides.runRollouts ?? !overrides.status)
      ? new RolloutRunner({
          store,
          status,
          author: config.committer,
          intervalMs: config.rolloutIntervalSeconds * 1000,
          log: logger,
          ...(overrides.now ? { now: overrides.now } : {}),
        })
      : undefined;
  const app = createApp({
    ctx: config.ctx,
    store,
    policy,
    jwks,
    logger,
    metrics,
    ...(status ? { status } : {}),
    ...(rollouts ? { rollouts } : {}),
    ...(kube ? { applications: () => kube.readApplications() } : {}),
  });
  const server = app.listen(config.port, overrides.host ?? '0.0.0.0');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  logger.info(
    { port, branch: config.branch, clone: config.cloneDir, status: status ? 'on' : 'off' },
    'fleet service listening',
  );
  rollouts?.start();
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    store,
    metrics,
    logger,
    ...(rollouts ? { rollouts } : {}),
    close: async () => {
      await rollouts?.stop();
      kube?.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
