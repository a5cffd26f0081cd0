/**
 * Wiring: configuration → git store, tenancy policy, JWKS cache, logger, metrics → the express
 * app, listening. Used by bin/server.ts and the tests (which pass their own status source).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { DestinationStream, Logger } from 'pino';

import { loadCluster } from '../../../platform/cluster.js';
import { EventPublisher } from '../../runtime/src/index.js';
import { JwksCache, TenancyPolicy } from '../../tenancy/src/index.js';
import { createApp } from './app.js';
import type { FleetConfig } from './config.js';
import type { StatusSource } from './contract.js';
import { FleetFailure, fleetServiceError } from './errors.js';
import { DegradedWatcher, FleetEvents } from './events.js';
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
  /** Watch the status for degraded/restored events. @default true with events, false with a given `status` */
  readonly watchDegraded?: boolean;
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
  /** Events to the monitor (a no-op without PLATFORM_EVENTS_URL). */
  readonly publisher: EventPublisher;
  /** The degraded/restored watcher, when the service has a status source and events. */
  readonly degraded?: DegradedWatcher;
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
  const publisher = new EventPublisher({
    url: config.eventsUrl,
    logger,
    registry: metrics.registry,
  });
  const events = new FleetEvents(publisher);
  const rollouts =
    status && (overrides.runRollouts ?? !overrides.status)
      ? new RolloutRunner({
          store,
          status,
          author: config.committer,
          intervalMs: config.rolloutIntervalSeconds * 1000,
          log: logger,
          onStep: (step) => events.step(step),
          ...(overrides.now ? { now: overrides.now } : {}),
        })
      : undefined;
  const degraded =
    status && events.enabled && (overrides.watchDegraded ?? !overrides.status)
      ? new DegradedWatcher({
          store,
          status,
          events,
          intervalMs: config.rolloutIntervalSeconds * 1000,
          log: logger,
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
    events,
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
  degraded?.start();
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    store,
    metrics,
    logger,
    ...(rollouts ? { rollouts } : {}),
    publisher,
    ...(degraded ? { degraded } : {}),
    close: async () => {
      await rollouts?.stop();
      await degraded?.stop();
      kube?.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await publisher.close();
    },
  };
}
