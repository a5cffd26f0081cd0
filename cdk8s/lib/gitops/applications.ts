/**
 * GitOps: the app-of-apps Argo CD syncs, generated from the layer list and the upstream
 * Helm releases.
 *
 * `deploy/apps/` holds two AppProjects, the root Application (which manages itself and
 * everything in deploy/apps/), one Application per upstream Helm release and one per
 * platform layer. Sync waves order them: Argo CD, namespaces, Istio CRDs, the control
 * plane, the gateway, the mesh security layer, then the workloads.
 */
import type { App } from 'cdk8s';

import { agentsNamespace } from '../../../platform/fleet/resolve.js';
import { CHART_IDS } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import type { LayerId } from '../../../platform/layers.js';
import { LAYERS } from '../../../platform/layers.js';
import { LayerChart } from '../layers.js';
import { AppProject, Application } from '../../imports/argocd.js';
import { modelObject } from '../model.js';
import { PART_OF } from '../workload.js';
import type { HelmRelease } from './chart-values.js';
import { helmReleases } from './chart-values.js';
import {
  FLEET_NAMESPACED_KINDS,
  FLEET_PLUGIN_NAME,
  FLEET_PROJECT,
  FLEET_WAVE,
  fleetNamespaces,
} from './fleet-plugin.js';

/** Where the synthesized manifests live in the repository. */
export const DEPLOY_DIR = 'deploy';

/** AppProject of deploy/apps itself: Applications and AppProjects, nothing else. */
export const GITOPS_PROJECT = 'gitops';
/** AppProject of the upstream charts. */
export const INFRA_PROJECT = 'infrastructure';
/** AppProject of the platform's own layers. */
export const PLATFORM_PROJECT = 'platform';
/** The layer of the fleet service, and its AppProject. NOTE (7) */
export const FLEET_SERVICE_LAYER = 'fleet-service' satisfies LayerId;
export const FLEET_SERVICE_PROJECT = 'fleet-service';

const IN_CLUSTER = 'https://kubernetes.default.svc';
const FINALIZER = 'resources-finalizer.argocd.argoproj.io';
const SYNC_OPTIONS = ['ServerSideApply=true', 'PruneLast=true', 'FailOnSharedResource=true'];
const RETRY = { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '3m' } };

/** Cluster-scoped kinds the upstream charts create; anything else fails the sync. NOTE (1) */
const INFRA_CLUSTER_KINDS = [
  { group: '', kind: 'Namespace' },
  { group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinition' },
  { group: 'rbac.authorization.k8s.io', kind: 'ClusterRole' },
  { group: 'rbac.authorization.k8s.io', kind: 'ClusterRoleBinding' },
  { group: 'admissionregistration.k8s.io', kind: 'ValidatingWebhookConfiguration' },
  { group: 'admissionregistration.k8s.io', kind: 'MutatingWebhookConfiguration' },
  { group: 'admissionregistration.k8s.io', kind: 'ValidatingAdmissionPolicy' },
  { group: 'admissionregistration.k8s.io', kind: 'ValidatingAdmissionPolicyBinding' },
];

/** Namespaced kinds of the fleet service's layer (cdk8s/lib/components/fleet.ts). */
export const FLEET_SERVICE_KINDS: readonly { group: string; kind: string }[] = [
  { group: '', kind: 'ServiceAccount' },
  { group: '', kind: 'Service' },
  { group: '', kind: 'ConfigMap' },
  { group: 'apps', kind: 'Deployment' },
  { group: 'policy', kind: 'PodDisruptionBudget' },
  { group: 'rbac.authorization.k8s.io', kind: 'Role' },
  { group: 'rbac.authorization.k8s.io', kind: 'RoleBinding' },
  { group: 'security.istio.io', kind: 'AuthorizationPolicy' },
  { group: 'networking.istio.io', kind: 'ServiceEntry' },
  { group: 'networking.istio.io', kind: 'Sidecar' },
];

/** Adds the Argo CD objects to `app`, one file per object under deploy/apps/. */
export function addGitOps(app: App, ctx: PlatformContext, layers: readonly LayerId[]): void {
  const cfg = ctx.config.gitops;
  const argocd = ctx.namespace('argocd');
  const releases = helmReleases(ctx);
  const chartRepos = [...new Set(CHART_IDS.map((id) => ctx.chart(id).repoURL))].sort();
  const labels = { 'app.kubernetes.io/part-of': PART_OF };
  const file = (name: string) => new LayerChart(app, `apps-${name}`, 'apps', name);

  // Projects come first: an Application can only sync once its project allows it. NOTE (1)
  modelObject(
    file(`project-${GITOPS_PROJECT}`),
    'Resource',
    AppProject({
      metadata: { name: GITOPS_PROJECT, namespace: argocd, labels, annotations: wave(-40) },
      spec: {
        description: 'deploy/apps: the Applications and AppProjects of the platform, nothing else',
        sourceRepos: [cfg.repoURL],
        destinations: [{ server: IN_CLUSTER, namespace: argocd }],
        clusterResourceWhitelist: [],
        namespaceResourceWhitelist: [
          { group: 'argoproj.io', kind: 'Application' },
          { group: 'argoproj.io', kind: 'AppProject' },
        ],
      },
    }),
  );
  modelObject(
    file(`project-${INFRA_PROJECT}`),
    'Resource',
    AppProject({
      metadata: { name: INFRA_PROJECT, namespace: argocd, labels, annotations: wave(-40) },
      spec: {
        description: 'Upstream Helm charts: Argo CD, Istio and its add-ons',
        sourceRepos: chartRepos,
        destinations: [...new Set([argocd, ctx.namespace('mesh'), 'kube-system'])].map(
          (namespace) => ({
            server: IN_CLUSTER,
            namespace,
          }),
        ),
        clusterResourceWhitelist: INFRA_CLUSTER_KINDS,
      },
    }),
  );
  modelObject(
    file(`project-${PLATFORM_PROJECT}`),
    'Resource',
    AppProject({
      metadata: { name: PLATFORM_PROJECT, namespace: argocd, labels, annotations: wave(-40) },
      spec: {
        description: "The platform's own layers, synthesized into deploy/",
        sourceRepos: [cfg.repoURL],
        destinations: ctx.managedNamespaces
          .filter((n) => n.role !== 'argocd')
          .map((n) => ({ server: IN_CLUSTER, namespace: n.name })),
        clusterResourceWhitelist: [{ group: '', kind: 'Namespace' }],
        // Secrets never come from git: they are generated at bootstrap. NOTE (2)
        namespaceResourceBlacklist: [{ group: '', kind: 'Secret' }],
      },
    }),
  );

  // The fleet service: the platform's namespace, and the namespaces it reads. NOTE (7)
  modelObject(
    file(`project-${FLEET_SERVICE_PROJECT}`),
    'Resource',
    AppProject({
      metadata: { name: FLEET_SERVICE_PROJECT, namespace: argocd, labels, annotations: wave(-40) },
      spec: {
        description:
          'The fleet service (deploy/fleet-service): its workload, and its read-only RBAC in the namespaces it reads',
        sourceRepos: [cfg.repoURL],
        destinations: [
          ...new Set([
            ctx.namespace('platform'),
            argocd,
            'kube-node-lease',
            ...ctx.config.tenants.map((t) => agentsNamespace(t.name)),
          ]),
        ].map((namespace) => ({ server: IN_CLUSTER, namespace })),
        clusterResourceWhitelist: [
          { group: 'rbac.authorization.k8s.io', kind: 'ClusterRole' },
          { group: 'rbac.authorization.k8s.io', kind: 'ClusterRoleBinding' },
        ],
        // The kinds the fleet service's construct makes, nothing else (no Secret).
        namespaceResourceWhitelist: FLEET_SERVICE_KINDS.map((k) => ({ ...k })),
      },
    }),
  );

  // The fleet: records rendered by the Config Management Plugin, in a project of their own.
  // NOTE (6)
  const fleetNs = fleetNamespaces(ctx);
  modelObject(
    file(`project-${FLEET_PROJECT}`),
    'Resource',
    AppProject({
      metadata: { name: FLEET_PROJECT, namespace: argocd, labels, annotations: wave(-40) },
      spec: {
        description:
          "The fleet's agents, rendered from fleet/ by the Config Management Plugin: their namespaces and the kinds the renderer produces, nothing else",
        sourceRepos: [cfg.repoURL],
        destinations: fleetNs.map((namespace) => ({ server: IN_CLUSTER, namespace })),
        clusterResourceWhitelist: [{ group: '', kind: 'Namespace' }],
        namespaceResourceWhitelist: FLEET_NAMESPACED_KINDS.map((k) => ({ ...k })),
      },
    }),
  );
  modelObject(
    file('fleet'),
    'Resource',
    Application({
      metadata: {
        name: 'fleet',
        namespace: argocd,
        labels,
        annotations: { ...wave(FLEET_WAVE), ...SERVER_SIDE_DIFF },
        finalizers: [FINALIZER],
      },
      spec: {
        project: FLEET_PROJECT,
        source: {
          repoURL: cfg.repoURL,
          targetRevision: cfg.targetRevision,
          path: '.',
          plugin: { name: FLEET_PLUGIN_NAME },
        },
        destination: { server: IN_CLUSTER, namespace: fleetNs[0]! },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          syncOptions: SYNC_OPTIONS,
          retry: RETRY,
        },
      },
    }),
  );

  const gitSource = (path: string) => ({
    repoURL: cfg.repoURL,
    targetRevision: cfg.targetRevision,
    path,
    // No `directory: { recurse: false }`: it is the default, and written out it made every
    // git-sourced Application OutOfSync in the root forever. NOTE (5)
  });

  modelObject(
    file('root'),
    'Resource',
    Application({
      metadata: {
        name: 'root',
        namespace: argocd,
        labels,
        annotations: { ...wave(-30), ...SERVER_SIDE_DIFF },
      },
      spec: {
        project: GITOPS_PROJECT,
        source: gitSource(`${DEPLOY_DIR}/apps`),
        destination: { server: IN_CLUSTER, namespace: argocd },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          syncOptions: SYNC_OPTIONS,
          retry: RETRY,
        },
      },
    }),
  );

  for (const r of releases) {
    modelObject(file(r.name), 'Resource', helmApplication(ctx, r, labels));
  }

  for (const layer of layers) {
    const spec = LAYERS[layer];
    // A layer spread over several namespaces names each object's namespace; its destination
    // is still one the project allows. NOTE (4)
    const namespace = ctx.namespace('namespace' in spec ? spec.namespace : 'platform');
    modelObject(
      file(layer),
      'Resource',
      Application({
        metadata: {
          name: layer,
          namespace: argocd,
          labels,
          annotations: { ...wave(spec.wave), ...SERVER_SIDE_DIFF },
          // Deleting the namespaces Application must never delete namespaces and their data.
          ...(layer === 'namespaces' ? {} : { finalizers: [FINALIZER] }),
        },
        spec: {
          project: layer === FLEET_SERVICE_LAYER ? FLEET_SERVICE_PROJECT : PLATFORM_PROJECT,
          source: gitSource(`${DEPLOY_DIR}/${layer}`),
          destination: { server: IN_CLUSTER, namespace },
          syncPolicy: {
            automated: { prune: true, selfHeal: true },
            syncOptions: SYNC_OPTIONS,
            retry: RETRY,
          },
        },
      }),
    );
  }
}

function helmApplication(
  ctx: PlatformContext,
  r: HelmRelease,
  labels: Record<string, string>,
): Application {
  const chart = ctx.chart(r.chartId);
  const webhooks = r.chart === 'istiod' || r.chart === 'base';
  const kiali = r.chart === 'kiali-server';
  // Deleting the Argo CD Application must not cascade into deleting Argo CD itself.
  const self = r.chartId === 'argoCd';
  return Application({
    metadata: {
      name: r.name,
      namespace: ctx.namespace('argocd'),
      labels,
      annotations: wave(r.wave),
      ...(self ? {} : { finalizers: [FINALIZER] }),
    },
    spec: {
      project: INFRA_PROJECT,
      source: {
        repoURL: chart.repoURL,
        chart: r.chart,
        targetRevision: chart.version,
        helm: { releaseName: r.releaseName, valuesObject: r.values },
      },
      destination: { server: IN_CLUSTER, namespace: r.namespace },
      ...(webhooks
        ? {
            // istiod patches its own webhooks (caBundle, failurePolicy) at run time. NOTE (3)
            ignoreDifferences: [
              {
                group: 'admissionregistration.k8s.io',
                kind: 'ValidatingWebhookConfiguration',
                jqPathExpressions: [
                  '.webhooks[]?.failurePolicy',
                  '.webhooks[]?.clientConfig.caBundle',
                ],
              },
              {
                group: 'admissionregistration.k8s.io',
                kind: 'MutatingWebhookConfiguration',
                jqPathExpressions: ['.webhooks[]?.clientConfig.caBundle'],
              },
            ],
          }
        : {}),
      ...(kiali
        ? { ignoreDifferences: [{ group: '', kind: 'Secret', jsonPointers: ['/data'] }] }
        : {}),
      syncPolicy: {
        automated: { prune: true, selfHeal: true },
        syncOptions: [
          ...SYNC_OPTIONS,
          ...(webhooks || kiali ? ['RespectIgnoreDifferences=true'] : []),
        ],
        retry: RETRY,
      },
    },
  });
}

/** Diff against the API server's dry-run apply, defaults included. NOTE (5) */
const SERVER_SIDE_DIFF = { 'argocd.argoproj.io/compare-options': 'ServerSideDiff=true' };

function wave(n: number): Record<string, string> {
  return { 'argocd.argoproj.io/sync-wave': String(n) };
}

// NOTE
// 1. Three AppProjects, least privilege each. `gitops` syncs deploy/apps and may create only
//    Applications and AppProjects in argocd. `infrastructure` installs upstream charts, only
//    from their Helm repositories, with the cluster-scoped kinds they need listed one by one
//    (a chart upgrade that needs another kind fails loudly instead of widening the grant).
//    `platform` syncs the platform's layers and may create nothing cluster-scoped but
//    Namespaces. deploy/apps is the trust root: whoever can change it can change the
//    projects, so protect the branch and review every change under deploy/apps (argocd/README.md
//    says so); the projects keep mistakes elsewhere in deploy/ contained.
// 2. Secrets blacklisted. deploy/ must never hold a Secret (a test checks); the platform
//    project makes Argo CD refuse one in a layer even if a bad commit added it.
// 3. Webhook drift. istiod injects its CA bundle and flips failurePolicy to Fail once it is
//    ready; rendered charts say otherwise, so without these ignores the Applications would be
//    OutOfSync forever and self-heal would fight istiod. See istio/istio#44285 and
//    argoproj/argo-cd#9323 (the group must be given without version).
// 4. No empty destination namespace. Argo CD matches an Application's destination namespace
//    against its project's destinations, and `''` matches none of `platform`'s: the
//    `namespaces` and `mesh` Applications were refused ("application destination server
//    'https://kubernetes.default.svc' and namespace '' do not match any of the allowed
//    destinations in project 'platform'", InvalidSpecError) and never synced, so no layer
//    after them could. Seen with Argo CD v3.5.4 in testing/test/argocd-sync.test.ts. Their
//    objects name their own namespaces (Namespaces have none); the destination is only the
//    default for an object that does not.
// 5. Perpetual OutOfSync. With ServerSideApply the controller diffs by structured merge
//    against the live object, so a field the API server defaults or drops shows as a diff
//    forever (and self-heal re-applies it forever). Seen with Argo CD v3.5.4 in
//    testing/test/argocd-sync.test.ts: every StatefulSet (its volumeClaimTemplates gain
//    apiVersion, kind, volumeMode and status) and every git-sourced Application in the root
//    (the controller rewrites the Application and drops `directory.recurse: false`).
//    `ServerSideDiff=true` compares with a dry-run apply instead, defaults included (Argo CD's
//    recommended diff for server-side apply); the default `directory` is not written at all.
// 6. The fleet Application. Its source is the repository root with the fleet plugin named
//    (the plugin reads fleet/ and needs the root as its working directory); wave 0 comes after
//    every platform layer, so the grants land on running services and the agents' namespaces
//    get the mesh's policies. An invalid record makes the plugin fail, which Argo CD shows as
//    a ComparisonError and never applies: what was synced stays. Its project `fleet` confines
//    what records can create (cdk8s/lib/gitops/fleet-plugin.ts, NOTE (2)).
// 7. The fleet service's project. Its layer is the only one of ours that writes outside the
//    platform's namespaces (Roles in kube-node-lease, argocd and the agents' namespaces) and
//    cluster-scoped RBAC (the ClusterRole that reads nodes; cdk8s/lib/components/fleet.ts), so
//    it has a project of its own rather than widening `platform` for every layer. Its layer
//    syncs after the fleet Application, which creates the agents' namespaces.
