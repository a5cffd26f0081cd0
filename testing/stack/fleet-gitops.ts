/**
 * Test support: the fleet's GitOps loop for real, for the fleet service's end-to-end tests. A
 * bare GitOps repository of records served by a loopback git daemon; the pinned Argo CD with the
 * fleet's Config Management Plugin syncing it (deploy/apps' fleet project and Application,
 * pointed at the daemon) into a real kube-apiserver; the real scheduler and controllers; one
 * real node (Debian's containerd and runc under the pinned kubelet) that runs the example
 * anomaly detector's image, assembled here from its image-contents tree; and simulated hosts
 * (testing/support/simulated-hosts.ts) for the factory hosts that cannot run here.
 *
 * TEST ONLY, visibly, and only where this machine cannot do what the cluster does:
 * - the agents' Keycloak clients: the Sync hook Job (cdk8s/lib/fleet/identity.ts) is marked
 *   complete as the Job controller would after its pod succeeded (there is no Keycloak here
 *   for it to reach; the job itself is tested against the real Keycloak in
 *   services/identity/test/realm-apply-agents-cli.test.ts), and each agent's client Secret is
 *   written as that job writes it, with generated credentials no Keycloak knows;
 * - the kube-controller-manager runs without its Job controller (so that the hook Job is not
 *   also run for real);
 * - the example image is imported into the node's containerd under its pinned reference and,
 *   for upgrades, under {@link UPGRADE_TAG}: the same tree, so an upgrade restarts the pod with a
 *   new revision for real; any other tag cannot be pulled here, for real.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';

import { platform } from '../../platform/config/platform.js';
import type { PlatformContext } from '../../platform/context.js';
import { exampleImage } from '../../platform/fleet/example-images.js';
import {
  AGENT_CLIENT_SECRET_KEYS,
  FLEET_LABELS,
  agentClientId,
  agentClientSecretName,
} from '../../platform/fleet/identity.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { agentsNamespace } from '../../platform/fleet/resolve.js';
import { ARGOCD_NAMESPACE, startArgoCd, startGitDaemon } from '../real/argocd.js';
import type { ArgoCd, GitDaemon } from '../real/argocd.js';
import { startKubeApiserver } from '../real/kube-apiserver.js';
import type { KubeApiserver } from '../real/kube-apiserver.js';
import { NODE_APISERVER_ARGS, startControlPlane, startKubeNode } from '../real/kube-node.js';
import type { ControlPlane, KubeNode } from '../real/kube-node.js';
import type { Application } from '../support/argocd-apps.js';
import {
  argoCdTestSettings,
  completeHookJobs,
  git,
  readApplication,
  serverSideApply,
} from '../support/argocd-apps.js';
import { fleetPlugin } from '../support/fleet-plugin.js';
import { nodeServiceImage } from '../support/oci-image.js';
import { waitFor } from '../support/processes.js';
import type { SimulatedHosts, SimulatedHostsOptions } from '../support/simulated-hosts.js';
import { simulateHosts } from '../support/simulated-hosts.js';

/** The example module the real node runs. */
export const EXAMPLE_MODULE = 'anomaly-detector';
/** A second tag of the same assembled image: an upgrade the real node can run. */
export const UPGRADE_TAG = '0.1.1-test';
/** The group of the real node and the simulated hosts. */
export const GROUP = 'line-e2e';
/** The controllers the tests' kube-controller-manager runs (see the TEST ONLY notes above). */
const CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'garbage-collector-controller',
  'namespace-controller',
  // Lifts the not-ready taint a kubelet registers its node with, once the node is Ready.
  'node-lifecycle-controller',
];

export interface FleetGitops {
  readonly api: KubeApiserver;
  readonly node: KubeNode;
  readonly hosts: SimulatedHosts;
  /** The real node's name, then the simulated hosts'. */
  readonly hostNames: readonly string[];
  /** The bare repository (the fleet service pushes here) and the daemon's URL of it. */
  readonly bareRepo: string;
  readonly repoUrl: string;
  /** The example image's pinned reference and its upgrade tag's. */
  readonly image: string;
  readonly upgradeImage: string;
  /** Waits until Argo CD synced the fleet Application at `commit`. */
  waitSynced(commit: string, timeoutMs?: number): Promise<Application>;
  logs(): string;
  stop(): Promise<void>;
}

export interface FleetGitopsOptions {
  /** How many simulated hosts besides the real node. @default 1 */
  readonly simulated?: number;
  readonly simulatedBehaviour?: SimulatedHostsOptions['behaviour'];
}

/** Starts the loop with a repository holding the hosts, one group of them all and the templates. */
export async function startFleetGitops(
  ctx: PlatformContext,
  root: string,
  opts: FleetGitopsOptions = {},
): Promise<FleetGitops> {
  const work = mkdtempSync(join(tmpdir(), 'fleet-gitops-'));
  const stops: (() => Promise<void> | void)[] = [
    () => rmSync(work, { recursive: true, force: true }),
  ];
  const stop = async () => {
    for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => undefined);
  };
  try {
    const api = await startKubeApiserver({ extraArgs: NODE_APISERVER_ARGS });
    stops.push(() => api.stop());
    const node = await startKubeNode(api, { controlPlane: false });
    stops.push(() => node.stop());
    const control: ControlPlane = await startControlPlane(api, { controllers: CONTROLLERS });
    stops.push(() => control.stop());
    const simulated = Array.from(
      { length: opts.simulated ?? 1 },
      (_, i) => `sim-host-${i + 1}-${randomBytes(2).toString('hex')}`,
    );
    const kc = api.kubeConfig();
    const hosts = await simulateHosts(
      kc,
      simulated.map((name) => ({ name, specialised: false })),
      opts.simulatedBehaviour ? { behaviour: opts.simulatedBehaviour } : {},
    );
    stops.push(() => hosts.stop());
    const hostNames = [node.name, ...simulated];

    // The example module's image on the real node, under its pin and the upgrade tag.
    const image = exampleImage(EXAMPLE_MODULE);
    const upgradeImage = `${image.split(':')[0]}:${UPGRADE_TAG}`;
    const assembled = nodeServiceImage(EXAMPLE_MODULE, join(work, 'image'), 'e2e');
    node.importImage(assembled, image);
    node.importImage(assembled, upgradeImage);

    // The GitOps repository: the hosts, one group of them all, the example templates.
    const served = join(work, 'served');
    const bareRepo = join(served, 'kit.git');
    git(work, 'init', '-q', '--bare', '-b', 'main', bareRepo);
    const seed = join(work, 'seed');
    git(work, 'clone', '-q', bareRepo, seed);
    mkdirSync(join(seed, FLEET_DIR), { recursive: true });
    cpSync(join(root, FLEET_DIR, 'templates'), join(seed, FLEET_DIR, 'templates'), {
      recursive: true,
    });
    writeFileSync(
      join(seed, FLEET_DIR, 'hosts.yaml'),
      hostNames.map((name) => stringify({ kind: 'Host', name })).join('---\n'),
    );
    writeFileSync(
      join(seed, FLEET_DIR, 'groups.yaml'),
      stringify({
        kind: 'Group',
        id: '7e57e2e0-0000-4000-8000-000000000001',
        name: GROUP,
        hosts: hostNames,
      }),
    );
    git(seed, 'add', '-A');
    git(
      seed,
      '-c',
      'user.name=fleet-gitops',
      '-c',
      'user.email=fleet-gitops@kitt4sme.invalid',
      'commit',
      '-qm',
      'fleet: hosts, group, templates',
    );
    git(seed, 'push', '-q', 'origin', 'HEAD:main');

    const daemon: GitDaemon = await startGitDaemon(served);
    stops.push(() => daemon.stop());
    const repoUrl = `${daemon.url}kit.git`;

    const settings = argoCdTestSettings(root);
    const argo: ArgoCd = await startArgoCd(api, {
      cm: settings.cm,
      rbac: settings.rbac,
      repoErrorGraceSeconds: 10,
      plugins: [fleetPlugin(join(work, 'app'), root)],
    });
    stops.push(() => argo.stop());

    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    // The platform namespaces the agents' grants go to, as the namespaces layer makes them.
    for (const id of ['orion', 'keycloak', 'quantumleap'] as const) {
      const name = ctx.componentNamespace(id);
      await core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
    }
    const jobs = completeHookJobs(kc, ctx.componentNamespace('keycloak'));
    stops.push(() => jobs.stop());

    // TEST ONLY: each agent's client Secret, as the hook job writes it.
    let writing = true;
    const secrets = (async () => {
      while (writing) {
        for (const t of ctx.config.tenants) {
          const namespace = agentsNamespace(t.name);
          const list = await apps
            .listNamespacedDeployment({ namespace, labelSelector: FLEET_LABELS.agentId })
            .catch(() => ({ items: [] as k8s.V1Deployment[] }));
          for (const id of new Set(
            list.items.map((d) => d.metadata!.labels![FLEET_LABELS.agentId]!),
          ))
            await core
              .createNamespacedSecret({
                namespace,
                body: {
                  metadata: { name: agentClientSecretName(id), namespace },
                  stringData: {
                    [AGENT_CLIENT_SECRET_KEYS.clientId]: agentClientId(id),
                    [AGENT_CLIENT_SECRET_KEYS.clientSecret]: randomBytes(24).toString('base64url'),
                  },
                },
              })
              .catch(() => undefined); // exists
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    stops.push(async () => {
      writing = false;
      await secrets;
    });

    // deploy/apps' fleet project and Application, pointed at the loopback repository.
    for (const f of ['project-fleet.yaml', 'fleet.yaml']) {
      const text = readFileSync(join(root, 'deploy', 'apps', f), 'utf8');
      const doc = parse(text.replaceAll(platform.gitops.repoURL, repoUrl)) as k8s.KubernetesObject;
      await serverSideApply(objects, doc, 'bootstrap');
    }

    const logs = () =>
      [
        `--- application-controller\n${argo.logTail('application-controller', 15)}`,
        `--- cmp-server\n${argo.logTail('cmp-server-fleet', 15)}`,
        `--- kubelet\n${node.logTail('kubelet', 15)}`,
      ].join('\n');
    return {
      api,
      node,
      hosts,
      hostNames,
      bareRepo,
      repoUrl,
      image,
      upgradeImage,
      logs,
      async waitSynced(commit, timeoutMs = 180_000) {
        let last: Application | undefined;
        await waitFor(
          async () => {
            last = await readApplication(custom, 'fleet');
            return last?.status?.sync?.revision === commit && last.status.sync.status === 'Synced';
          },
          timeoutMs,
          () =>
            new Error(
              `Argo CD did not sync the fleet at ${commit} within ${timeoutMs} ms: ${JSON.stringify(last?.status?.sync ?? null)} ${JSON.stringify(last?.status?.operationState?.message ?? null)}\n${logs()}`,
            ),
          500,
        );
        return last!;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export { ARGOCD_NAMESPACE };
