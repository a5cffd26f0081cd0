/**
 * Test support: the fleet service on the local stack, with the example fleet/ of this
 * repository. Real: the service (its git store, tenancy, rollout runner), git (a bare GitOps
 * repository seeded with fleet/), a kube-apiserver with the real scheduler and controllers, and
 * the status read from it (KubeStatusSource, watched). Simulated, visibly: the factory hosts
 * (testing/support/simulated-hosts.ts reports their nodes, leases and pods as their kubelets
 * would) and Argo CD (testing/support/local-sync.ts renders the records at the repository's
 * head and applies the agents' workloads, as Argo CD's fleet Application does; the real Argo CD
 * runs in services/fleet/test/gitops.test.ts).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadCluster } from '../../platform/cluster.js';
import type { PlatformContext } from '../../platform/context.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { loadFleet } from '../../platform/fleet/resolve.js';
import { KubeStatusSource } from '../../services/fleet/src/observe.js';
import type { RunningFleet } from '../../services/fleet/src/service.js';
import { startFleet } from '../../services/fleet/src/service.js';
import { startKubeApiserver } from '../real/kube-apiserver.js';
import type { KubeApiserver } from '../real/kube-apiserver.js';
import { startControlPlane } from '../real/kube-node.js';
import { git } from '../support/argocd-apps.js';
import type { LocalSync } from '../support/local-sync.js';
import { startLocalSync } from '../support/local-sync.js';
import type { SimulatedHosts } from '../support/simulated-hosts.js';
import { simulateHosts } from '../support/simulated-hosts.js';
import { logLines } from '../support/log-lines.js';

export interface FleetStack {
  /** The service's base URL (its API is under /fleet). */
  readonly url: string;
  readonly service: RunningFleet;
  readonly api: KubeApiserver;
  readonly hosts: SimulatedHosts;
  readonly sync: LocalSync;
  /** The GitOps repository the service pushes to. */
  readonly bareRepo: string;
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface FleetStackOptions {
  readonly ctx: PlatformContext;
  /** The repository whose fleet/ seeds the GitOps repository. */
  readonly root: string;
  readonly jwksUrl: string;
  readonly policyData: unknown;
  /** The monitor's events port, where the service sends its events. @default none */
  readonly eventsUrl?: string;
  readonly onLog?: (entry: Record<string, unknown>) => void;
}

/** Starts the fleet service with simulated hosts for the example fleet's inventory. */
export async function startFleetStack(opts: FleetStackOptions): Promise<FleetStack> {
  const { ctx } = opts;
  const work = mkdtempSync(join(tmpdir(), 'fleet-stack-'));
  const closers: (() => Promise<void> | void)[] = [
    () => rmSync(work, { recursive: true, force: true }),
  ];
  const close = async () => {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const bareRepo = join(work, 'kit.git');
    git(work, 'init', '-q', '--bare', '-b', 'main', bareRepo);
    const seed = join(work, 'seed');
    git(work, 'clone', '-q', bareRepo, seed);
    cpSync(join(opts.root, FLEET_DIR), join(seed, FLEET_DIR), { recursive: true });
    git(seed, 'add', '-A');
    git(
      seed,
      '-c',
      'user.name=local stack',
      '-c',
      'user.email=local-stack@kitt4sme.invalid',
      'commit',
      '-qm',
      'fleet: the example records',
    );
    git(seed, 'push', '-q', 'origin', 'HEAD:main');

    const api = await startKubeApiserver({ crds: false });
    closers.push(() => api.stop());
    const control = await startControlPlane(api);
    closers.push(() => control.stop());
    const kc = api.kubeConfig();
    const hosts = await simulateHosts(kc, loadFleet(opts.root, FLEET_DIR, ctx).hosts);
    closers.push(() => hosts.stop());
    const sync = startLocalSync(ctx, kc, bareRepo);
    closers.push(() => sync.stop());

    const status = new KubeStatusSource({
      cluster: loadCluster({ kubeconfig: api.kubeconfigPath }),
      tenants: ctx.config.tenants.map((t) => t.name),
      watch: true,
    });
    await status.start();
    closers.push(() => status.close());

    const logs: Record<string, unknown>[] = [];
    const destination = logLines((entry) => {
      logs.push(entry);
      opts.onLog?.(entry);
    });
    const service = await startFleet(
      {
        port: 0,
        ctx,
        gitUrl: bareRepo,
        branch: 'main',
        cloneDir: join(work, 'clone'),
        committer: { name: 'kitt4sme fleet service', email: `fleet@${ctx.config.ingress.host}` },
        refreshSeconds: 1,
        status: 'off',
        rolloutIntervalSeconds: 1,
        jwksUrl: opts.jwksUrl,
        policyData: opts.policyData,
        ...(opts.eventsUrl ? { eventsUrl: opts.eventsUrl } : {}),
        logLevel: 'info',
      },
      {
        status,
        runRollouts: true,
        host: '127.0.0.1',
        processMetrics: false,
        logDestination: destination,
      },
    );
    closers.push(() => service.close());
    return { url: service.url, service, api, hosts, sync, bareRepo, logs, close };
  } catch (err) {
    await close();
    throw err;
  }
}
