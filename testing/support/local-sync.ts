/**
 * TEST ONLY, visibly: what Argo CD does with the fleet's records, for the local stack (which
 * runs no Argo CD): on every round it fetches the GitOps repository, renders fleet/ with the
 * construct library (the same renderFleet the fleet's Config Management Plugin runs), applies
 * the agents' workloads server-side and prunes the fleet's Deployments no longer rendered.
 *
 * Only the objects the per-target status reads and the pods need are applied: namespaces, quota
 * and limits, ServiceAccounts, Services and Deployments. The mesh objects, sealed secrets and
 * the agents' Keycloak clients (a Sync hook Job) are Argo CD's business: the real Argo CD syncs
 * all of them in testing/test/argocd-fleet.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';

import { renderFleet } from '../../cdk8s/lib/fleet/agents.js';
import type { PlatformContext } from '../../platform/context.js';
import { gitIn } from '../../platform/fleet/git.js';
import { FLEET_LABELS } from '../../platform/fleet/identity.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { agentsNamespace, loadFleet } from '../../platform/fleet/resolve.js';

/** The kinds applied, in order. */
const KINDS = [
  'Namespace',
  'ResourceQuota',
  'LimitRange',
  'ServiceAccount',
  'Service',
  'Deployment',
];
const MANAGER = 'local-sync';

export interface LocalSync {
  /** The commit of the last round. */
  commit(): string | undefined;
  /** Syncs now; resolves with the commit synced. */
  round(): Promise<string>;
  stop(): Promise<void>;
}

/** Syncs `repoUrl`'s `branch` into `kc`'s cluster every `intervalMs` until stopped. */
export function startLocalSync(
  ctx: PlatformContext,
  kc: k8s.KubeConfig,
  repoUrl: string,
  opts: { branch?: string; intervalMs?: number } = {},
): LocalSync {
  const branch = opts.branch ?? 'main';
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const dir = mkdtempSync(join(tmpdir(), 'local-sync-'));
  gitIn(dir, ['init', '--quiet']);
  let last: string | undefined;
  let stopped = false;
  let current: Promise<unknown> = Promise.resolve();

  const syncOnce = async (): Promise<string> => {
    gitIn(dir, ['fetch', '--quiet', '--force', repoUrl, `${branch}`]);
    gitIn(dir, ['checkout', '--quiet', '--force', 'FETCH_HEAD']);
    const commit = gitIn(dir, ['rev-parse', 'HEAD']).trim();
    const namespaces = new Set(ctx.config.tenants.map((t) => agentsNamespace(t.name)));
    const rendered = renderFleet(ctx, loadFleet(dir, FLEET_DIR, ctx)).objects.filter(
      (o) =>
        KINDS.includes(o.kind) &&
        namespaces.has(o.kind === 'Namespace' ? o.metadata.name : (o.metadata.namespace ?? '')),
    );
    rendered.sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind));
    for (const o of rendered)
      await objects.patch(
        o as k8s.KubernetesObject,
        undefined,
        undefined,
        MANAGER,
        true,
        k8s.PatchStrategy.ServerSideApply,
      );
    const wanted = new Set(
      rendered
        .filter((o) => o.kind === 'Deployment')
        .map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    );
    for (const t of ctx.config.tenants) {
      const namespace = agentsNamespace(t.name);
      const list = await apps
        .listNamespacedDeployment({ namespace, labelSelector: FLEET_LABELS.agentId })
        .catch(() => ({ items: [] as k8s.V1Deployment[] }));
      for (const d of list.items)
        if (!wanted.has(`${namespace}/${d.metadata!.name}`))
          await apps
            .deleteNamespacedDeployment({
              name: d.metadata!.name!,
              namespace,
              propagationPolicy: 'Background',
            })
            .catch(() => undefined);
    }
    last = commit;
    return commit;
  };
  const round = () => {
    const p = current.then(syncOnce, syncOnce);
    current = p.catch(() => undefined);
    return p;
  };
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopped) return;
    round()
      .catch(() => undefined) // e.g. the repository moved in between: the next round syncs
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, opts.intervalMs ?? 500);
      });
  };
  loop();
  return {
    commit: () => last,
    round,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
