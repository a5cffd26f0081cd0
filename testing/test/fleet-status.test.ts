/**
 * The fleet's per-target status read from a real kube-apiserver (services/fleet/src/observe.ts
 * and the judge of platform/fleet/judge.ts): the objects the construct library renders for a
 * test fleet (renderFleet, applied server-side as Argo CD applies them), and — since these
 * tests run no controller, scheduler or kubelet — the nodes, leases, Deployment and pod status
 * those would write, written visibly by testing/support/fleet-observed.ts for hosts that cannot
 * run here. The clock is injected: a lease expires by moving it, not by sleeping.
 *
 * Proves: the labels and revision annotation the renderer writes are the ones the judge reads
 * (desired = observed for a ready pod; an old revision's pod is told apart); each state from
 * real objects; a host whose lease expires mid-rollout makes its targets unreachable with the
 * last revision, not degraded; a record removed while its Deployment stays shows removed; a
 * tenant filter shows only that tenant; a status costs 2 + 2 per tenant list calls, counted by
 * the API server itself; refusals and an unreachable server are documented errors;
 * the Argo CD Applications' sync and health.
 */
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';

import { renderFleet } from '../../cdk8s/lib/fleet/agents.js';
import { loadCluster } from '../../platform/cluster.js';
import type { Cluster } from '../../platform/cluster.js';
import { loadPlatformContext } from '../../platform/context.js';
import { PlatformError } from '../../platform/errors.js';
import { agentInstanceName } from '../../platform/fleet/identity.js';
import type { Fleet, FleetFile, ResolvedAgent } from '../../platform/fleet/resolve.js';
import { agentsNamespace, instanceOn, resolveFleet } from '../../platform/fleet/resolve.js';
import { LEASE_GRACE_SECONDS } from '../../platform/fleet/status.js';
import type { TargetStatus } from '../../platform/fleet/status.js';
import type { Snapshot } from '../../services/fleet/src/contract.js';
import { KubeStatusSource } from '../../services/fleet/src/observe.js';
import { apiRequest, startKubeApiserver } from '../real/kube-apiserver.js';
import type { KubeApiserver } from '../real/kube-apiserver.js';
import { serverSideApply } from '../support/argocd-apps.js';
import { waitFor } from '../support/processes.js';
import {
  createPodAsReplicaSet,
  renewLeaseAsKubelet,
  writeDeploymentStatusAsController,
  writeNodeStatusAsKubelet,
  writePodStatusAsKubelet,
  writeQuotaStatusAsController,
} from '../support/fleet-observed.js';

const ctx = loadPlatformContext();
const TENANTS = ctx.config.tenants.map((t) => t.name);
const uuid = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-00000000f1ee`;
const NEW = 'ghcr.io/kitt4sme/test-detector:2.0.0';
const OLD = 'ghcr.io/kitt4sme/test-detector:1.0.0';
const MISSING = 'ghcr.io/kitt4sme/not-published:9.9.9';
const T0 = new Date('2026-12-03T08:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const ROLLOUT = uuid(90);

const RECORDS = [
  ...['edge-a', 'edge-b', 'edge-c', 'edge-z'].map((name) => ({ kind: 'Host', name })),
  { kind: 'Group', id: uuid(1), name: 'line1', hosts: ['edge-a', 'edge-b', 'edge-c'] },
  {
    kind: 'Template',
    id: uuid(2),
    name: 'detector',
    image: NEW,
    ports: [8080],
    health: { path: '/healthz', port: 8080 },
  },
  ...[
    { id: uuid(10), name: 'counter', placement: { host: 'edge-a' } },
    { id: uuid(11), name: 'crasher', placement: { host: 'edge-b' } },
    { id: uuid(12), name: 'puller', image: MISSING, placement: { host: 'edge-c' } },
    { id: uuid(13), name: 'sleeper', state: 'stopped', placement: { host: 'edge-a' } },
    { id: uuid(14), name: 'gone', state: 'undeployed', placement: { host: 'edge-a' } },
    { id: uuid(15), name: 'lonely', placement: { host: 'edge-z' } },
    { id: uuid(16), name: 'floater', placement: { floating: true } },
    {
      id: uuid(17),
      name: 'wave',
      placement: { group: 'line1' },
      rollout: {
        id: ROLLOUT,
        from: { image: OLD },
        waves: [['edge-a'], ['edge-b'], ['edge-c']],
        started: 1,
        maxUnavailable: 1,
        by: 'ops@kitt4sme.invalid',
      },
    },
  ].map((a) => ({ kind: 'Agent', tenant: 'manufracture', template: 'detector', ...a })),
  {
    kind: 'Agent',
    id: uuid(20),
    name: 'other',
    tenant: 'smithereens',
    template: 'detector',
    placement: { host: 'edge-a' },
  },
];

const files = (records: readonly object[]): FleetFile[] =>
  records.map((r, i) => ({ path: `fleet/r${i}.yaml`, text: stringify(r) }));
const snapshotOf = (fleet: Fleet, fleetFiles: FleetFile[], commit: string): Snapshot => ({
  commit,
  files: fleetFiles,
  fleet,
  record: () => undefined,
});
const label = (t: TargetStatus) => `${t.agent.tenant}/${t.agent.name}@${t.host || '-'}`;
const byTarget = (targets: readonly TargetStatus[]) =>
  Object.fromEntries(targets.map((t) => [label(t), t]));

describe('KubeStatusSource on a real kube-apiserver', () => {
  let api: KubeApiserver;
  let cluster: Cluster;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let coordination: k8s.CoordinationV1Api;
  let now = at(120);
  let source: KubeStatusSource;
  const fleetFiles = files(RECORDS);
  const fleet = resolveFleet(fleetFiles, ctx);
  const snapshot = snapshotOf(fleet, fleetFiles, 'a'.repeat(40));
  const agent = (name: string): ResolvedAgent => fleet.agents.find((a) => a.name === name)!;
  const deploymentOf = (a: ResolvedAgent, host?: string) =>
    apps.readNamespacedDeployment({
      name: agentInstanceName(a.id, host),
      namespace: agentsNamespace(a.tenant),
    });
  /** The pod of an instance as its ReplicaSet and node would make it, with its Deployment's status. */
  const runs = async (
    a: ResolvedAgent,
    host: string | undefined,
    node: string | undefined,
    report: Parameters<typeof writePodStatusAsKubelet>[2],
  ) => {
    const d = await deploymentOf(a, host);
    const pod = await createPodAsReplicaSet(core, d, node);
    await writePodStatusAsKubelet(core, pod, report);
    await writeDeploymentStatusAsController(apps, d.metadata!.namespace!, d.metadata!.name!, {
      ready: 'ready' in report ? 1 : 0,
    });
  };

  beforeAll(async () => {
    api = await startKubeApiserver();
    cluster = loadCluster({ kubeconfig: api.kubeconfigPath });
    core = cluster.kc.makeApiClient(k8s.CoreV1Api);
    apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
    coordination = cluster.kc.makeApiClient(k8s.CoordinationV1Api);
    source = new KubeStatusSource({ cluster, tenants: TENANTS, now: () => now });

    // What Argo CD applies: the objects the construct library renders for the records.
    const objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
    const rendered = renderFleet(ctx, fleet).objects as unknown as k8s.KubernetesObject[];
    // The platform's namespaces the fleet's objects reach into (grants, the clients' job).
    const rendersNamespaces = new Set(
      rendered.filter((o) => o.kind === 'Namespace').map((o) => o.metadata!.name!),
    );
    for (const name of new Set(rendered.map((o) => o.metadata?.namespace ?? '')))
      if (name && !rendersNamespaces.has(name))
        await core.createNamespace({ body: { metadata: { name } } });
    const order = (o: k8s.KubernetesObject) =>
      o.kind === 'Namespace' ? 0 : o.kind === 'ServiceAccount' ? 1 : 2;
    for (const o of [...rendered].sort((x, y) => order(x) - order(y)))
      await serverSideApply(objects, o, 'argocd-controller');
    for (const t of TENANTS) await writeQuotaStatusAsController(core, agentsNamespace(t));

    // The hosts that joined, their kubelets posting Ready and renewing their leases.
    for (const h of ['edge-a', 'edge-b', 'edge-c']) {
      await writeNodeStatusAsKubelet(core, h, { status: 'True', since: at(0) });
      await renewLeaseAsKubelet(coordination, h, at(115));
    }

    // What their kubelets report of the pods.
    const ready = { ready: true as const, since: at(60) };
    await runs(agent('counter'), 'edge-a', 'edge-a', ready);
    await runs(agent('other'), 'edge-a', 'edge-a', ready);
    await runs(agent('crasher'), 'edge-b', 'edge-b', {
      crashLoop: true,
      restarts: 4,
      exitCode: 2,
      since: at(30),
      finishedAt: at(100),
    });
    await runs(agent('puller'), 'edge-c', 'edge-c', {
      waiting: 'ErrImagePull',
      message: `failed to pull and unpack image "${MISSING}": not found`,
      since: at(40),
    });
    await runs(agent('floater'), undefined, 'edge-b', ready);
    for (const h of ['edge-a', 'edge-b', 'edge-c']) await runs(agent('wave'), h, h, ready);
    const sleeper = await deploymentOf(agent('sleeper'), 'edge-a');
    await writeDeploymentStatusAsController(
      apps,
      sleeper.metadata!.namespace!,
      sleeper.metadata!.name!,
      {
        ready: 0,
        conditions: [
          {
            type: 'Available',
            status: 'True',
            reason: 'MinimumReplicasAvailable',
            lastTransitionTime: at(20),
            lastUpdateTime: at(20),
          },
        ],
      },
    );
  }, 240_000);

  afterAll(async () => {
    source?.close();
    await api?.stop();
  });

  it('judges every target of the rendered fleet from the objects in the API server', async () => {
    now = at(120);
    const status = await source.status(snapshot);
    expect(status.commit).toBe('a'.repeat(40));
    expect(status.observedAt).toBe(at(120).toISOString());
    const t = byTarget(status.targets);
    expect(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.state]))).toEqual({
      'manufracture/counter@edge-a': 'running',
      'manufracture/crasher@edge-b': 'degraded',
      'manufracture/floater@edge-b': 'running',
      'manufracture/gone@edge-a': 'stopped',
      'manufracture/lonely@edge-z': 'pending',
      'manufracture/puller@edge-c': 'degraded',
      'manufracture/sleeper@edge-a': 'stopped',
      'manufracture/wave@edge-a': 'running',
      'manufracture/wave@edge-b': 'running',
      'manufracture/wave@edge-c': 'running',
      'smithereens/other@edge-a': 'running',
    });
    // The revision the renderer put on the pod template is what the judge reads back.
    const counter = agent('counter');
    expect(t['manufracture/counter@edge-a']).toMatchObject({
      desiredRevision: counter.revision,
      observedRevision: counter.revision,
      reason: 'ready',
      since: at(60).toISOString(),
      image: NEW,
    });
    const wave = agent('wave');
    const from = instanceOn(wave, 'edge-b')!;
    expect(from.image).toBe(OLD);
    expect(t['manufracture/wave@edge-a']).toMatchObject({
      desiredRevision: wave.revision,
      observedRevision: wave.revision,
      rollout: ROLLOUT,
      image: NEW,
    });
    expect(t['manufracture/wave@edge-b']).toMatchObject({
      desiredRevision: from.revision,
      observedRevision: from.revision,
      image: OLD,
    });
    expect(t['manufracture/crasher@edge-b']!.reason).toContain(
      `CrashLoopBackOff, restarted 4 times, last exit code 2 (Error) at ${at(100).toISOString()}`,
    );
    expect(t['manufracture/crasher@edge-b']!.since).toBe(at(30).toISOString());
    expect(t['manufracture/puller@edge-c']!.reason).toContain(`ErrImagePull: ${MISSING}`);
    expect(t['manufracture/sleeper@edge-a']).toMatchObject({
      reason: 'stopped: scaled to zero, config kept',
      since: at(20).toISOString(),
    });
    expect(t['manufracture/gone@edge-a']!.reason).toContain('undeployed');
    expect(t['manufracture/lonely@edge-z']!.reason).toContain('NodeNotFound');
    expect(status.hosts.map((h) => `${h.name}:${h.ready}`)).toEqual([
      'edge-a:Ready',
      'edge-b:Ready',
      'edge-c:Ready',
      'edge-z:Unknown',
    ]);
    expect(status.hosts[0]).toEqual({
      name: 'edge-a',
      ready: 'Ready',
      reason: 'KubeletReady: kubelet is posting ready status',
      since: at(0).toISOString(),
      leaseRenewedAt: at(115).toISOString(),
      inInventory: true,
    });
  });

  it('makes a host whose lease expires mid-rollout NotReady and its targets unreachable with the last revision, not degraded', async () => {
    // Later: edge-a and edge-b renew their leases; edge-c has lost the platform.
    now = at(115 + LEASE_GRACE_SECONDS + 30);
    for (const h of ['edge-a', 'edge-b']) await renewLeaseAsKubelet(coordination, h, now);
    const status = await source.status(snapshot);
    const edgeC = status.hosts.find((h) => h.name === 'edge-c')!;
    expect(edgeC).toMatchObject({
      ready: 'NotReady',
      reason: expect.stringMatching(/^lease expired: last renewed at /),
      since: at(115 + LEASE_GRACE_SECONDS).toISOString(),
    });
    const t = byTarget(status.targets);
    const from = instanceOn(agent('wave'), 'edge-c')!;
    expect(t['manufracture/wave@edge-c']).toMatchObject({
      state: 'unreachable',
      desiredRevision: from.revision,
      observedRevision: from.revision,
      rollout: ROLLOUT,
      reason: expect.stringContaining('host edge-c NotReady: lease expired'),
    });
    // Its last report was an image pull failure: unknown now, not a failure of the fleet.
    expect(t['manufracture/puller@edge-c']!.state).toBe('unreachable');
    expect(t['manufracture/wave@edge-a']!.state).toBe('running');
    expect(t['manufracture/wave@edge-b']!.state).toBe('running');
    // Back: the kubelet renews its lease.
    await renewLeaseAsKubelet(coordination, 'edge-c', now);
    const back = byTarget((await source.status(snapshot)).targets);
    expect(back['manufracture/wave@edge-c']!.state).toBe('running');
    expect(back['manufracture/puller@edge-c']!.state).toBe('degraded');
  });

  it('reports a NotReady node with a fresh lease NotReady, its targets unreachable', async () => {
    now = at(400);
    for (const h of ['edge-a', 'edge-b', 'edge-c']) await renewLeaseAsKubelet(coordination, h, now);
    await writeNodeStatusAsKubelet(core, 'edge-b', { status: 'False', since: at(390) });
    try {
      const status = await source.status(snapshot);
      expect(status.hosts.find((h) => h.name === 'edge-b')).toMatchObject({
        ready: 'NotReady',
        reason: 'KubeletNotReady: container runtime is down',
        since: at(390).toISOString(),
        leaseRenewedAt: at(400).toISOString(),
      });
      const t = byTarget(status.targets);
      expect(t['manufracture/wave@edge-b']!.state).toBe('unreachable');
      expect(t['manufracture/floater@edge-b']!.state).toBe('unreachable');
      expect(t['manufracture/crasher@edge-b']!.state).toBe('unreachable');
    } finally {
      await writeNodeStatusAsKubelet(core, 'edge-b', { status: 'True', since: at(401) });
    }
  });

  it('shows the Deployment of a record deleted from git as removed until Argo CD prunes it', async () => {
    now = at(410);
    const without = RECORDS.filter((r) => (r as { name?: string }).name !== 'counter');
    const after = resolveFleet(files(without), ctx);
    const status = await source.status(snapshotOf(after, files(without), 'b'.repeat(40)));
    const counter = agent('counter');
    expect(byTarget(status.targets)['manufracture/counter@edge-a']).toMatchObject({
      agent: { id: counter.id, name: 'counter', tenant: 'manufracture' },
      state: 'removed',
      observedRevision: counter.revision,
      reason: expect.stringContaining(`no record has agent id ${counter.id} any more`),
    });
    expect(status.targets.filter((t) => t.state === 'removed')).toHaveLength(1);
  });

  it("shows only the tenant's targets and hosts with a tenant filter, with 2 + 2 list calls per tenant counted by the API server", async () => {
    now = at(420);
    const before = await listCalls(api);
    const mine = await source.status(snapshot, { tenants: ['smithereens'] });
    expect(mine.targets.map(label)).toEqual(['smithereens/other@edge-a']);
    expect(mine.hosts.map((h) => h.name)).toEqual(['edge-a']);
    const between = await listCalls(api);
    expect(diff(before, between)).toEqual({ nodes: 1, leases: 1, deployments: 1, pods: 1 });
    // Every tenant: one list of Deployments and one of pods per agents namespace, whatever
    // the number of targets (11 here, 1 000 in bench/fleet.bench.ts).
    await source.status(snapshot);
    expect(diff(between, await listCalls(api))).toEqual({
      nodes: 1,
      leases: 1,
      deployments: TENANTS.length,
      pods: TENANTS.length,
    });
  });

  it('serves the same status from watches without a list call, and shows a change once its watch event arrives', async () => {
    now = at(600);
    for (const h of ['edge-a', 'edge-b', 'edge-c']) await renewLeaseAsKubelet(coordination, h, now);
    const watched = new KubeStatusSource({
      cluster,
      tenants: TENANTS,
      now: () => now,
      watch: true,
    });
    try {
      expect(watched.watching).toBe(false);
      await watched.start();
      expect(watched.watching).toBe(true);
      const before = await listCalls(api);
      const fromWatches = await watched.status(snapshot);
      expect(diff(before, await listCalls(api))).toEqual({});
      expect(fromWatches).toEqual(await source.status(snapshot));
      expect(byTarget(fromWatches.targets)['manufracture/crasher@edge-b']!.state).toBe('degraded');

      // The crashing agent recovers: its kubelet reports the pod ready.
      const crasher = agent('crasher');
      const [pod] = (
        await core.listNamespacedPod({
          namespace: agentsNamespace(crasher.tenant),
          labelSelector: `fleet.kitt4sme.io/instance=${agentInstanceName(crasher.id, 'edge-b')}`,
        })
      ).items;
      await writePodStatusAsKubelet(core, pod!, { ready: true, since: at(590) });
      let last: TargetStatus | undefined;
      await waitFor(
        async () => {
          last = byTarget((await watched.status(snapshot)).targets)['manufracture/crasher@edge-b'];
          return last?.state === 'running';
        },
        10_000,
        () => new Error(`the watch did not deliver the pod's status: ${JSON.stringify(last)}`),
        50,
      );
      const lists = await listCalls(api);
      await source.status(snapshot);
      // Stopped: the status lists again.
      watched.close();
      expect(watched.watching).toBe(false);
      const after = await listCalls(api);
      await watched.status(snapshot);
      expect(diff(after, await listCalls(api))).toEqual(diff(lists, after));
    } finally {
      watched.close();
    }
  });

  it('fails with documented errors when RBAC refuses a list or the API server is unreachable', async () => {
    const nobody = loadCluster({ kubeconfig: api.kubeconfigPath, context: 'nobody' });
    const refused = new KubeStatusSource({ cluster: nobody, tenants: TENANTS, now: () => now });
    try {
      await expect(refused.status(snapshot)).rejects.toMatchObject({
        code: 'ERR_CLUSTER_FORBIDDEN',
        message: expect.stringMatching(/RBAC denies list .* to the user of context nobody/),
      });
    } finally {
      refused.close();
    }
    const gone = new KubeStatusSource({
      cluster: { ...cluster, server: 'https://127.0.0.1:9', requestTimeoutMs: 2_000 },
      tenants: TENANTS,
    });
    try {
      const err = await gone.status(snapshot).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PlatformError);
      expect(err).toMatchObject({ code: 'ERR_CLUSTER_UNREACHABLE' });
    } finally {
      gone.close();
    }
  });

  it("reads the Argo CD Applications' sync, revision, health and conditions", async () => {
    const custom = cluster.kc.makeApiClient(k8s.CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: 'argocd' } } });
    await custom.createNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: 'argocd',
      plural: 'applications',
      body: {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: { name: 'fleet', namespace: 'argocd' },
        spec: {
          project: 'default',
          source: { repoURL: 'git://127.0.0.1/kit.git', path: '.', targetRevision: 'main' },
          destination: { server: 'https://kubernetes.default.svc' },
        },
        // What Argo CD's application controller writes after a failed comparison.
        status: {
          sync: { status: 'OutOfSync', revision: 'c'.repeat(40) },
          health: { status: 'Degraded', message: 'Deployment agent-x has timed out progressing' },
          conditions: [{ type: 'ComparisonError', message: 'plugin fleet-render failed: exit 1' }],
          operationState: {
            operation: { sync: { revision: 'c'.repeat(40) } },
            startedAt: at(500).toISOString(),
            phase: 'Failed',
            message: 'one or more objects failed to apply',
          },
        },
      },
    });
    expect(await source.readApplications()).toEqual([
      {
        name: 'fleet',
        sync: 'OutOfSync',
        revision: 'c'.repeat(40),
        health: 'Degraded',
        healthMessage: 'Deployment agent-x has timed out progressing',
        operation: { phase: 'Failed', message: 'one or more objects failed to apply' },
        conditions: ['ComparisonError: plugin fleet-render failed: exit 1'],
      },
    ]);
  });
});

/** The API server's own count of LIST requests, by resource (its metrics have no namespace). */
async function listCalls(api: KubeApiserver): Promise<Record<string, number>> {
  const token = api.kubeConfig('admin').getCurrentUser()!.token!;
  const r = await apiRequest(api.url, '/metrics', token);
  const out: Record<string, number> = {};
  for (const line of r.body.split('\n')) {
    if (!line.startsWith('apiserver_request_total{') || !line.includes('verb="LIST"')) continue;
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
    if (!['nodes', 'leases', 'deployments', 'pods'].includes(resource)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    out[resource] = (out[resource] ?? 0) + value;
  }
  return out;
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
    if ((b[k] ?? 0) - (a[k] ?? 0)) out[k] = (b[k] ?? 0) - (a[k] ?? 0);
  return out;
}
