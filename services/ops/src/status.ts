/**
 * `platform status`: is the platform up? Argo CD Applications (sync and health), the
 * workloads of the platform's namespaces (ready replicas), and whether OPA and Keycloak have
 * a ready endpoint behind their Service.
 */
import * as k8s from '@kubernetes/client-node';

import { SERVICES } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import type { Cluster } from '../../../platform/cluster.js';
import { request } from '../../../platform/cluster.js';
import type { ExpectedApplications } from './deploy.js';

/** One Argo CD Application. */
export interface ApplicationState {
  readonly name: string;
  /** Synced, OutOfSync, Unknown; `Missing` when the Application does not exist yet. */
  readonly sync: string;
  /** Healthy, Progressing, Degraded, Suspended, Missing, Unknown. */
  readonly health: string;
  /** The git revision last synced, when there is one. */
  readonly revision?: string;
  /** Why it is not Synced and Healthy: health message, failed operation, or a condition. */
  readonly message?: string;
  readonly ok: boolean;
  /** Not waited for: named by `--skip-app` (reported, never counted). */
  readonly skipped?: boolean;
}

/** One Deployment, StatefulSet or DaemonSet. */
export interface WorkloadState {
  readonly kind: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  readonly namespace: string;
  readonly name: string;
  readonly desired: number;
  readonly ready: number;
  readonly ok: boolean;
  /** Why it has not rolled out, when it has not. */
  readonly problem?: string;
}

/** A component the platform cannot work without, judged by its Service's ready endpoints. */
export interface ComponentState {
  readonly name: 'OPA' | 'Keycloak';
  readonly namespace: string;
  readonly service: string;
  readonly readyEndpoints: number;
  readonly ok: boolean;
}

/** The whole picture. */
export interface PlatformStatus {
  readonly context: string;
  readonly server: string;
  /**
   * What was waited for is there: every Application Synced and Healthy, every workload rolled
   * out, OPA and Keycloak ready; with `syncOnly`, every Application Synced (health and
   * workloads reported, not counted). Skipped Applications never count.
   */
  readonly healthy: boolean;
  /** `healthy` judged sync alone (`--sync-only`). */
  readonly syncOnly: boolean;
  readonly applications: readonly ApplicationState[];
  readonly workloads: readonly WorkloadState[];
  readonly components: readonly ComponentState[];
  /** One short line per thing that is not ready, in a stable order. */
  readonly waitingFor: readonly string[];
}

/** The rules the CLI needs, for a read-only ClusterRole (`platform rbac`). */
export const REQUIRED_RULES: readonly k8s.V1PolicyRule[] = [
  { apiGroups: ['argoproj.io'], resources: ['applications'], verbs: ['get', 'list', 'watch'] },
  {
    apiGroups: ['apps'],
    resources: ['deployments', 'statefulsets', 'daemonsets'],
    verbs: ['get', 'list', 'watch'],
  },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list'] },
  { apiGroups: [''], resources: ['services', 'pods'], verbs: ['get', 'list'] },
  // The fleet summary: the hosts' nodes and their leases.
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list'] },
];

interface ArgoApplication {
  metadata: { name: string };
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string; message?: string };
    operationState?: { phase?: string; message?: string };
    conditions?: { type?: string; message?: string }[];
  };
}

/** What an Application must show to count as ready. */
export interface ApplicationExpectation {
  /**
   * The Applications deploy/ sources from the platform's git repository, by name: they must
   * be at `revision` (chart Applications are at a chart version).
   */
  readonly fromPlatformRepo: ReadonlySet<string>;
  /** The commit the git-sourced Applications must have synced; any when undefined. */
  readonly revision?: string;
  /**
   * Sync alone makes an Application ready (health is reported, not required): for clusters
   * where some workloads cannot become healthy, e.g. images that cannot be pulled there.
   */
  readonly syncOnly?: boolean;
}

/**
 * One Application's state. Ready means Synced and Healthy, no sync operation running and,
 * when a revision is expected, a git-sourced Application synced to that very commit (Synced
 * and Healthy at the previous commit is what a cluster looks like right after a push).
 */
export function applicationState(
  app: ArgoApplication,
  expect: ApplicationExpectation,
): ApplicationState {
  const sync = app.status?.sync?.status ?? 'Unknown';
  const health = app.status?.health?.status ?? 'Unknown';
  const op = app.status?.operationState;
  const revision = app.status?.sync?.revision;
  const fromGit = expect.fromPlatformRepo.has(app.metadata.name);
  const stale =
    fromGit && expect.revision !== undefined && revision !== expect.revision
      ? `synced ${revision ? revision.slice(0, 12) : 'no revision'}, waiting for ${expect.revision.slice(0, 12)}`
      : undefined;
  const running =
    op?.phase === 'Running' ? `sync running${op.message ? `: ${op.message}` : ''}` : undefined;
  const ok = sync === 'Synced' && (expect.syncOnly || health === 'Healthy') && !stale && !running;
  const failedOp = op && (op.phase === 'Failed' || op.phase === 'Error') ? op.message : undefined;
  const condition = app.status?.conditions?.find((c) => /Error|Warning/.test(c.type ?? ''));
  const message = ok
    ? undefined
    : (failedOp ??
      (condition ? `${condition.type}: ${condition.message}` : undefined) ??
      running ??
      stale ??
      app.status?.health?.message);
  return {
    name: app.metadata.name,
    sync,
    health,
    ...(revision ? { revision } : {}),
    ...(message ? { message } : {}),
    ok,
  };
}

/** The fields of a Deployment, StatefulSet or DaemonSet that say whether it has rolled out. */
export interface RolloutView {
  readonly metadata?: k8s.V1ObjectMeta;
  readonly spec?: {
    readonly replicas?: number;
    readonly updateStrategy?: {
      readonly type?: string;
      readonly rollingUpdate?: { readonly partition?: number };
    };
  };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly replicas?: number;
    readonly updatedReplicas?: number;
    readonly availableReplicas?: number;
    readonly readyReplicas?: number;
    readonly currentRevision?: string;
    readonly updateRevision?: string;
    readonly conditions?: readonly { readonly type: string; readonly reason?: string }[];
    readonly desiredNumberScheduled?: number;
    readonly updatedNumberScheduled?: number;
    readonly numberAvailable?: number;
  };
}

/**
 * Whether a workload has rolled out, as `kubectl rollout status` judges it: the controller has
 * seen the latest spec, every replica runs the latest template, no old replica is left, and
 * all of them are ready (a Deployment: available).
 * @returns undefined when ready, else why not.
 */
export function rolloutProblem(kind: WorkloadState['kind'], w: RolloutView): string | undefined {
  const st = w.status ?? {};
  if ((st.observedGeneration ?? 0) < (w.metadata?.generation ?? 0))
    return 'the controller has not seen the latest spec';
  if (kind === 'Deployment') {
    const want = w.spec?.replicas ?? 1;
    const deadline = (st.conditions ?? []).find(
      (c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded',
    );
    if (deadline) return 'rollout exceeded its progress deadline';
    if ((st.updatedReplicas ?? 0) < want) return `${st.updatedReplicas ?? 0} of ${want} updated`;
    if ((st.replicas ?? 0) > (st.updatedReplicas ?? 0)) return 'old replicas are still running';
    if ((st.availableReplicas ?? 0) < (st.updatedReplicas ?? 0))
      return `${st.availableReplicas ?? 0} of ${st.updatedReplicas} available`;
    return undefined;
  }
  if (kind === 'StatefulSet') {
    const want = w.spec?.replicas ?? 1;
    if ((st.readyReplicas ?? 0) < want) return `${st.readyReplicas ?? 0} of ${want} ready`;
    const rolling = w.spec?.updateStrategy?.type !== 'OnDelete';
    const partition = w.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
    if (rolling && partition > 0) {
      if ((st.updatedReplicas ?? 0) < want - partition)
        return `${st.updatedReplicas ?? 0} of ${want - partition} updated`;
    } else if (rolling && st.updateRevision && st.currentRevision !== st.updateRevision)
      return 'the update to the latest revision is not finished';
    return undefined;
  }
  const want = st.desiredNumberScheduled ?? 0;
  if ((st.updatedNumberScheduled ?? 0) < want)
    return `${st.updatedNumberScheduled ?? 0} of ${want} updated`;
  if ((st.numberAvailable ?? 0) < want) return `${st.numberAvailable ?? 0} of ${want} available`;
  return undefined;
}

/** Reads the Applications in the argocd namespace; those deploy/ defines but the cluster lacks are `Missing`. */
async function readApplications(
  cluster: Cluster,
  namespace: string,
  expected: readonly string[],
  expectation: ApplicationExpectation,
): Promise<ApplicationState[]> {
  const api = cluster.kc.makeApiClient(k8s.CustomObjectsApi);
  const list = (await request(
    cluster,
    { verb: 'list', resource: 'applications.argoproj.io', namespace },
    () =>
      api.listNamespacedCustomObject({
        group: 'argoproj.io',
        version: 'v1alpha1',
        namespace,
        plural: 'applications',
      }),
  )) as { items: ArgoApplication[] };
  const found = list.items.map((a) => applicationState(a, expectation));
  const names = new Set(found.map((a) => a.name));
  const missing = expected
    .filter((n) => !names.has(n))
    .map((name) => ({
      name,
      sync: 'Missing',
      health: 'Missing',
      message: 'not created yet (the root Application creates it from deploy/apps)',
      ok: false,
    }));
  return [...found, ...missing].sort((a, b) => a.name.localeCompare(b.name));
}

async function readWorkloads(cluster: Cluster, namespace: string): Promise<WorkloadState[]> {
  const apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
  const target = (resource: string) => ({ verb: 'list', resource: `${resource}.apps`, namespace });
  const [deployments, statefulSets, daemonSets] = await Promise.all([
    request(cluster, target('deployments'), () => apps.listNamespacedDeployment({ namespace })),
    request(cluster, target('statefulsets'), () => apps.listNamespacedStatefulSet({ namespace })),
    request(cluster, target('daemonsets'), () => apps.listNamespacedDaemonSet({ namespace })),
  ]);
  const state = (kind: WorkloadState['kind'], w: RolloutView): WorkloadState => {
    const problem = rolloutProblem(kind, w);
    return {
      kind,
      namespace,
      name: w.metadata!.name!,
      desired:
        kind === 'DaemonSet' ? (w.status?.desiredNumberScheduled ?? 0) : (w.spec?.replicas ?? 1),
      ready:
        (kind === 'Deployment'
          ? w.status?.availableReplicas
          : kind === 'StatefulSet'
            ? w.status?.readyReplicas
            : w.status?.numberAvailable) ?? 0,
      ok: problem === undefined,
      ...(problem ? { problem } : {}),
    };
  };
  return [
    ...deployments.items.map((d) => state('Deployment', d)),
    ...statefulSets.items.map((s) => state('StatefulSet', s)),
    // A DaemonSet has no partition; only its status counts.
    ...daemonSets.items.map((d) => state('DaemonSet', { metadata: d.metadata, status: d.status })),
  ];
}

async function readComponent(
  cluster: Cluster,
  name: ComponentState['name'],
  namespace: string,
  service: string,
): Promise<ComponentState> {
  const api = cluster.kc.makeApiClient(k8s.DiscoveryV1Api);
  const slices = await request(
    cluster,
    { verb: 'list', resource: 'endpointslices.discovery.k8s.io', namespace },
    () =>
      api.listNamespacedEndpointSlice({
        namespace,
        labelSelector: `kubernetes.io/service-name=${service}`,
      }),
  );
  const readyEndpoints = slices.items
    .flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions?.ready !== false).length;
  return { name, namespace, service, readyEndpoints, ok: readyEndpoints > 0 };
}

/** What {@link readStatus} judges by. */
export interface StatusOptions {
  /** See {@link ApplicationExpectation.revision}. */
  readonly revision?: string;
  /** See {@link ApplicationExpectation.syncOnly}; workloads and components are not counted either. */
  readonly syncOnly?: boolean;
  /** Applications not waited for (reported as skipped); each must be one deploy/ defines. */
  readonly skipApps?: readonly string[];
}

/** Reads the platform's status from the cluster. */
export async function readStatus(
  cluster: Cluster,
  ctx: PlatformContext,
  expectedApps: ExpectedApplications,
  opts: StatusOptions = {},
): Promise<PlatformStatus> {
  const namespaces = ctx.managedNamespaces.map((n) => n.name);
  const skip = new Set(opts.skipApps ?? []);
  const [found, workloads, opa, keycloak] = await Promise.all([
    readApplications(cluster, ctx.namespace('argocd'), expectedApps.names, {
      fromPlatformRepo: new Set(expectedApps.fromPlatformRepo),
      ...(opts.revision ? { revision: opts.revision } : {}),
      ...(opts.syncOnly ? { syncOnly: true } : {}),
    }),
    Promise.all(namespaces.map((ns) => readWorkloads(cluster, ns))).then((w) => w.flat()),
    readComponent(cluster, 'OPA', ctx.componentNamespace('opa'), SERVICES.opa.name),
    readComponent(cluster, 'Keycloak', ctx.componentNamespace('keycloak'), SERVICES.keycloak.name),
  ]);
  const applications = found.map((a) => (skip.has(a.name) ? { ...a, skipped: true } : a));
  const components = [opa, keycloak];
  const counted = !opts.syncOnly;
  const waitingFor = [
    ...applications
      .filter((a) => !a.ok && !a.skipped)
      .map(
        (a) => `application ${a.name} ${a.sync}/${a.health}${a.message ? `: ${a.message}` : ''}`,
      ),
    ...workloads
      .filter((w) => counted && !w.ok)
      .map(
        (w) =>
          `${w.kind.toLowerCase()} ${w.namespace}/${w.name} ${w.ready}/${w.desired} ready${w.problem ? ` (${w.problem})` : ''}`,
      ),
    ...components
      .filter((c) => counted && !c.ok)
      .map((c) => `${c.name}: no ready endpoint behind service ${c.namespace}/${c.service}`),
  ];
  return {
    context: cluster.context,
    server: cluster.server,
    healthy: waitingFor.length === 0,
    syncOnly: Boolean(opts.syncOnly),
    applications,
    workloads,
    components,
    waitingFor,
  };
}

/** The status as a table for people. */
export function renderStatus(s: PlatformStatus): string {
  const pad = (rows: string[][]) => {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    return rows.map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  };
  return [
    `context ${s.context} (${s.server}): ${
      s.syncOnly ? (s.healthy ? 'SYNCED' : 'NOT SYNCED') : s.healthy ? 'HEALTHY' : 'NOT HEALTHY'
    }${s.syncOnly ? ' (--sync-only: health and workloads are shown, not counted)' : ''}`,
    '',
    ...pad([
      ['APPLICATION', 'SYNC', 'HEALTH', 'MESSAGE'],
      ...s.applications.map((a) => [
        a.name,
        a.sync,
        a.health,
        a.skipped ? `skipped (--skip-app)${a.message ? `; ${a.message}` : ''}` : (a.message ?? ''),
      ]),
    ]),
    '',
    ...pad([
      ['WORKLOAD', 'READY', ''],
      ...s.workloads.map((w) => [
        `${w.kind.toLowerCase()} ${w.namespace}/${w.name}`,
        `${w.ready}/${w.desired}`,
        w.ok ? '' : (w.problem ?? 'not ready'),
      ]),
    ]),
    '',
    ...s.components.map(
      (c) =>
        `${c.name}: ${c.ok ? 'ready' : 'NOT READY'} (${c.readyEndpoints} ready endpoint${c.readyEndpoints === 1 ? '' : 's'} behind ${c.namespace}/${c.service})`,
    ),
    '',
  ].join('\n');
}
