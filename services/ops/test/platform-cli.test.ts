/**
 * The platform CLI against a real kube-apiserver (built from k8s.io/kubernetes at the
 * platform's Kubernetes version, over Debian's etcd, with the upstream Argo CD and Istio
 * CRDs): deploy/ is dry-run applied and must be accepted whole; status and wait read objects
 * whose status this test writes, since there are no controllers to write it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';

import { FLEET_DIR } from '../../../platform/fleet/records.js';
import { loadFleet } from '../../../platform/fleet/resolve.js';
import { loadPlatformContext } from '../../../platform/context.js';
import { runCli, REPO_ROOT, startCli } from '../../../testing/support/cli.js';
import type { KubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { startKubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { loadCluster } from '../../../platform/cluster.js';
import type { DeployObject } from '../src/deploy.js';
import { expectedApplications, readDeployObjects } from '../src/deploy.js';
import { readStatus } from '../src/status.js';
import { validateDeploy } from '../src/validate.js';

const CLI = 'services/ops/bin/platform.ts';
const ctx = loadPlatformContext();
const ARGOCD = ctx.namespace('argocd');
const objects = readDeployObjects();
const expected = expectedApplications(objects, ctx.config.gitops.repoURL);
const apps = expected.names;
/** The commit `--revision HEAD` resolves to. */
const head = execFileSync('git', ['rev-parse', 'HEAD'], {
  cwd: REPO_ROOT,
  encoding: 'utf8',
}).trim();

let api: KubeApiserver;
let home: string;
let admin: k8s.KubeConfig;
const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(CLI, args, home, { KUBECONFIG: api.kubeconfigPath, ...env });

beforeAll(async () => {
  api = await startKubeApiserver();
  admin = api.kubeConfig('admin');
  home = mkdtempSync(join(tmpdir(), 'platform-cli-'));
  // Namespaces exist before Argo CD syncs anything: deploy/'s own, plus those Helm creates.
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const names = new Set([
    ...objects.filter((o) => o.object.kind === 'Namespace').map((o) => o.object.metadata.name),
    ...objects.flatMap((o) => (o.object.metadata.namespace ? [o.object.metadata.namespace] : [])),
  ]);
  // kube-node-lease (the fleet service's Role on node leases) is the API server's own.
  names.delete('kube-node-lease');
  for (const name of names) await core.createNamespace({ body: { metadata: { name } } });
}, 240_000);

afterAll(async () => {
  await api?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('validate: server-side dry-run apply of deploy/', () => {
  it('has every object of deploy/ accepted by the real API server, and changes nothing', async () => {
    const results = await validateDeploy(loadCluster({ kubeconfig: api.kubeconfigPath }), objects);
    const notAccepted = results.filter((r) => r.outcome !== 'accepted');
    expect(notAccepted).toEqual([]);
    expect(results).toHaveLength(objects.length);
    // Every kind of deploy/ was judged, the CRD kinds included.
    const kinds = new Set(results.map((r) => r.kind));
    for (const k of [
      'Application',
      'AppProject',
      'AuthorizationPolicy',
      'VirtualService',
      'Deployment',
    ])
      expect(kinds).toContain(k);
    // Dry-run: nothing was stored.
    const stored = (await admin.makeApiClient(k8s.CustomObjectsApi).listNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: ARGOCD,
      plural: 'applications',
    })) as { items: unknown[] };
    expect(stored.items).toHaveLength(0);
  }, 120_000);

  it('names every rejected object with the server’s reason, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-deploy-'));
    const pick = (kind: string, name?: string) =>
      structuredClone(
        objects.find((o) => o.object.kind === kind && (!name || o.object.metadata.name === name))!
          .object,
      ) as DeployObject['object'] & { spec: Record<string, any> };
    const app = pick('Application', 'root');
    app.spec.syncPolicy = { automated: { prune: 'yes' } }; // boolean in Argo CD's schema
    const authz = pick('AuthorizationPolicy');
    authz.spec.action = 'MAYBE'; // not in Istio's enum
    const deployment = pick('Deployment');
    delete deployment.spec.template.spec.containers[0].name; // required by the core API
    const unknownNs = pick('VirtualService');
    unknownNs.metadata.namespace = 'not-created';
    const notServed = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: 'x', namespace: ARGOCD },
      spec: {},
    };
    mkdirSync(join(dir, 'layer'));
    writeFileSync(
      join(dir, 'layer', 'bad.yaml'),
      [app, authz, deployment].map((o) => stringify(o)).join('---\n'),
    );
    writeFileSync(
      join(dir, 'unchecked.yaml'),
      [unknownNs, notServed].map((o) => stringify(o)).join('---\n'),
    );

    const run = await cli(['validate', '--dir', dir]);
    expect(run.stderr).toContain('[ERR_DEPLOY_REJECTED]');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('0 accepted, 3 rejected, 2 not checked');
    expect(run.stderr).toMatch(
      /REJECTED layer\/bad\.yaml: Application argocd\/root: 500 .*prune: expected boolean/,
    );
    expect(run.stderr).toMatch(/REJECTED layer\/bad\.yaml: AuthorizationPolicy .*action/);
    expect(run.stderr).toMatch(/REJECTED layer\/bad\.yaml: Deployment .*name: Required value/);
    expect(run.stderr).toMatch(
      /not checked: unchecked\.yaml: VirtualService not-created\/.*namespace not-created does not exist/,
    );
    expect(run.stderr).toMatch(
      /not checked: unchecked\.yaml: ServiceMonitor .*CRD is not installed/,
    );
    expect(run.stderr).toContain('[ERR_DEPLOY_REJECTED]');

    // Unchecked objects fail only with --strict.
    rmSync(join(dir, 'layer'), { recursive: true });
    expect((await cli(['validate', '--dir', dir])).code).toBe(0);
    const strict = await cli(['validate', '--dir', dir, '--strict']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('2 not checked (--strict)');
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// status and wait, on objects whose status the test writes
// ---------------------------------------------------------------------------------------------

const workloads = objects.filter(
  (o) => ['Deployment', 'StatefulSet'].includes(o.object.kind!) && !o.file.startsWith('bootstrap/'),
);
const services = objects.filter(
  (o) => o.object.kind === 'Service' && !o.file.startsWith('bootstrap/'),
);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

async function createPlatformObjects() {
  const client = k8s.KubernetesObjectApi.makeApiClient(admin);
  for (const o of [
    ...objects.filter((x) => x.object.kind === 'Application'),
    ...workloads,
    ...services,
  ])
    await client.create(structuredClone(o.object));
}

async function setApplication(
  name: string,
  sync: string,
  health: string,
  message?: string,
  revision = 'abc123',
) {
  await admin.makeApiClient(k8s.CustomObjectsApi).patchNamespacedCustomObject(
    {
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: ARGOCD,
      plural: 'applications',
      name,
      body: {
        status: {
          sync: { status: sync, revision },
          health: { status: health, ...(message ? { message } : {}) },
        },
      },
    },
    mergePatch,
  );
}

async function setWorkloadReady(o: DeployObject, ready: number) {
  const appsApi = admin.makeApiClient(k8s.AppsV1Api);
  const { name, namespace } = o.object.metadata;
  const body = {
    status: {
      replicas: 1,
      readyReplicas: ready,
      updatedReplicas: 1,
      availableReplicas: ready,
      observedGeneration: 1,
    },
  };
  if (o.object.kind === 'Deployment')
    await appsApi.patchNamespacedDeploymentStatus(
      { name, namespace: namespace!, body },
      mergePatch,
    );
  else
    await appsApi.patchNamespacedStatefulSetStatus(
      { name, namespace: namespace!, body },
      mergePatch,
    );
}

async function setEndpoint(service: 'opa' | 'keycloak', ready: boolean) {
  const spec = { opa: ctx.serviceHost('opa'), keycloak: ctx.serviceHost('keycloak') }[service];
  const namespace = spec.split('.')[1]!;
  const discovery = admin.makeApiClient(k8s.DiscoveryV1Api);
  const name = `${service}-test`;
  await discovery.deleteNamespacedEndpointSlice({ name, namespace }).catch(() => undefined);
  await discovery.createNamespacedEndpointSlice({
    namespace,
    body: {
      metadata: { name, labels: { 'kubernetes.io/service-name': service } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.7'], conditions: { ready } }],
      ports: [{ port: 8080 }],
    },
  });
}

describe('status and wait', () => {
  beforeAll(async () => {
    await createPlatformObjects();
  }, 60_000);

  it('reports every Application, workload and component that is not ready, by name', async () => {
    const cluster = loadCluster({ kubeconfig: api.kubeconfigPath });
    const s = await readStatus(cluster, ctx, expected);
    expect(s.healthy).toBe(false);
    expect(s.applications.map((a) => a.name)).toEqual(apps);
    expect(s.applications.every((a) => a.sync === 'Unknown' && !a.ok)).toBe(true);
    expect(s.workloads).toHaveLength(workloads.length);
    expect(s.workloads.every((w) => !w.ok && w.ready === 0)).toBe(true);
    expect(s.components.map((c) => [c.name, c.ok])).toEqual([
      ['OPA', false],
      ['Keycloak', false],
    ]);
    expect(s.waitingFor).toHaveLength(apps.length + workloads.length + 2);
  }, 30_000);

  it('turns healthy only when the last piece is ready; --json and exit codes follow', async () => {
    for (const a of apps) await setApplication(a, 'Synced', 'Healthy');
    await setApplication('fiware', 'OutOfSync', 'Degraded', 'Deployment orion: ImagePullBackOff');
    for (const w of workloads) await setWorkloadReady(w, 1);
    await setEndpoint('opa', true);
    await setEndpoint('keycloak', false); // there, but not ready

    let run = await cli(['status', '--json']);
    expect(run.code).toBe(1);
    const s = JSON.parse(run.stdout) as { healthy: boolean; waitingFor: string[] };
    expect(s.healthy).toBe(false);
    expect(s.waitingFor).toEqual([
      'application fiware OutOfSync/Degraded: Deployment orion: ImagePullBackOff',
      `Keycloak: no ready endpoint behind service ${ctx.namespace('identity')}/keycloak`,
    ]);

    await setApplication('fiware', 'Synced', 'Healthy');
    await setEndpoint('keycloak', true);
    run = await cli(['status']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^context admin \(https:\/\/127\.0\.0\.1:\d+\): HEALTHY/);
    expect(run.stdout).toMatch(/fiware\s+Synced\s+Healthy/);
    expect(run.stdout).toContain('Keycloak: ready (1 ready endpoint');
    // The fleet is reported beside it, never counted: this cluster has none of the example
    // fleet's hosts, and the platform is still HEALTHY.
    const fleet = loadFleet(REPO_ROOT, FLEET_DIR, ctx);
    const targets = fleet.agents.reduce(
      (n, a) => n + (a.placement.mode === 'floating' ? 1 : a.placement.hosts.length),
      0,
    );
    expect(run.stdout).toMatch(
      new RegExp(
        `fleet \\(fleet/ at [0-9a-f]{12}\\): ${targets} targets: ${targets} pending; hosts 0 Ready, 0 NotReady, ${fleet.hosts.length} not joined \\(reported, not counted in the health\\)`,
      ),
    );
    for (const h of fleet.hosts) expect(run.stdout).toContain(`  host ${h.name} Unknown: `);
    const asJson = JSON.parse((await cli(['status', '--json'])).stdout) as {
      fleet: { targets: Record<string, number>; hosts: Record<string, number> };
    };
    expect(asJson.fleet.targets).toEqual({ pending: targets });
    expect(asJson.fleet.hosts).toEqual({ ready: 0, notReady: 0, unknown: fleet.hosts.length });
  }, 60_000);

  it('with --revision, counts an Application synced from git only at that commit', async () => {
    const fromGit = objects
      .filter((o) => o.object.kind === 'Application')
      .filter(
        (o) =>
          (o.object as { spec?: { source?: { repoURL?: string } } }).spec?.source?.repoURL ===
          ctx.config.gitops.repoURL,
      )
      .map((o) => o.object.metadata.name)
      .sort();
    expect(fromGit.length).toBeGreaterThan(3);
    expect(fromGit.length).toBeLessThan(apps.length); // the Helm chart Applications are not
    let run = await cli(['status', '--json', '--revision', 'HEAD']);
    expect(run.code).toBe(1);
    const waiting = (JSON.parse(run.stdout) as { waitingFor: string[] }).waitingFor;
    expect(waiting).toEqual(
      fromGit.map(
        (n) => `application ${n} Synced/Healthy: synced abc123, waiting for ${head.slice(0, 12)}`,
      ),
    );
    for (const n of fromGit) await setApplication(n, 'Synced', 'Healthy', undefined, head);
    run = await cli(['status', '--revision', 'HEAD']);
    expect(run.code).toBe(0);
    run = await cli(['status', '--revision', 'no-such-ref']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('git cannot resolve "no-such-ref" to a commit');
  }, 60_000);

  it('--sync-only counts sync alone; --skip-app leaves an Application out, by name', async () => {
    const orion = workloads.find((w) => w.object.metadata.name === 'orion')!;
    await setWorkloadReady(orion, 0);
    await setEndpoint('opa', false);
    await setApplication(
      'fiware',
      'Synced',
      'Degraded',
      'Deployment orion: ImagePullBackOff',
      head,
    );
    await setApplication('kiali', 'Unknown', 'Unknown', 'chart not reachable');
    try {
      // Healthy judged as usual: all four problems count.
      let run = await cli(['status', '--json']);
      expect(run.code).toBe(1);
      let s = JSON.parse(run.stdout) as {
        healthy: boolean;
        syncOnly: boolean;
        waitingFor: string[];
        applications: { name: string; skipped?: boolean }[];
      };
      expect(s.syncOnly).toBe(false);
      expect(s.waitingFor).toHaveLength(4);
      // Sync alone: the Degraded but Synced fiware, orion and OPA no longer count; kiali does.
      run = await cli(['status', '--json', '--sync-only']);
      expect(run.code).toBe(1);
      s = JSON.parse(run.stdout) as typeof s;
      expect(s.syncOnly).toBe(true);
      expect(s.waitingFor).toEqual(['application kiali Unknown/Unknown: chart not reachable']);
      // ...until it is skipped, visibly.
      run = await cli(['status', '--sync-only', '--skip-app', 'kiali']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/: SYNCED \(--sync-only/);
      expect(run.stdout).toMatch(
        /kiali\s+Unknown\s+Unknown\s+skipped \(--skip-app\); chart not reachable/,
      );
      expect(run.stdout).toMatch(/fiware\s+Synced\s+Degraded/);
      // Skipping does not excuse health without --sync-only.
      run = await cli(['status', '--json', '--skip-app', 'kiali']);
      expect(run.code).toBe(1);
      s = JSON.parse(run.stdout) as typeof s;
      expect(s.applications.find((a) => a.name === 'kiali')?.skipped).toBe(true);
      expect(s.waitingFor).toHaveLength(3);
      expect(s.waitingFor.some((w) => w.includes('kiali'))).toBe(false);
      // A name deploy/ does not define is a usage error, not a silent no-op.
      run = await cli(['wait', '--sync-only', '--skip-app', 'kialli']);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('deploy/ defines no Application "kialli"');
      // wait --sync-only returns at once when everything counted is synced, and says so.
      run = await cli([
        'wait',
        '--sync-only',
        '--skip-app',
        'kiali',
        '--interval',
        '1s',
        '--timeout',
        '20s',
      ]);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/applications Synced \(1 skipped\); synced/);
    } finally {
      await setWorkloadReady(orion, 1);
      await setEndpoint('opa', true);
      await setApplication('fiware', 'Synced', 'Healthy', undefined, head);
      await setApplication('kiali', 'Synced', 'Healthy');
    }
  }, 60_000);

  it('a Deployment mid-rollout (an old pod still running) is not ready', async () => {
    const orion = workloads.find((w) => w.object.metadata.name === 'orion')!;
    const { namespace } = orion.object.metadata;
    await admin.makeApiClient(k8s.AppsV1Api).patchNamespacedDeploymentStatus(
      {
        name: 'orion',
        namespace: namespace!,
        body: {
          status: { replicas: 2, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2 },
        },
      },
      mergePatch,
    );
    const run = await cli(['status', '--json']);
    expect(run.code).toBe(1);
    expect((JSON.parse(run.stdout) as { waitingFor: string[] }).waitingFor).toEqual([
      `deployment ${namespace}/orion 2/1 ready (old replicas are still running)`,
    ]);
    await setWorkloadReady(orion, 1);
  }, 30_000);

  it('waits with progress until the pushed commit is synced and the platform healthy', async () => {
    const orion = workloads.find((w) => w.object.metadata.name === 'orion')!;
    await setWorkloadReady(orion, 0);
    await setApplication('identity', 'OutOfSync', 'Progressing');
    const child = startCli(
      CLI,
      ['wait', '--interval', '1s', '--timeout', '60s', '--revision', 'HEAD'],
      home,
      { KUBECONFIG: api.kubeconfigPath },
    );
    try {
      // Fix things one at a time, once wait has reported each state.
      const until = async (text: string) => {
        await child.until((o) => o.stderr.includes(text));
        expect(child.stderr).toContain(text);
      };
      await until('waiting for application identity OutOfSync/Progressing');
      // Synced and Healthy, but still at the previous commit: not done.
      await setApplication('identity', 'Synced', 'Healthy');
      await until(
        `application identity Synced/Healthy: synced abc123, waiting for ${head.slice(0, 12)}`,
      );
      await setApplication('identity', 'Synced', 'Healthy', undefined, head);
      await until(`waiting for deployment ${orion.object.metadata.namespace}/orion 0/1 ready`);
      expect(child.stderr.split('\n').filter((l) => l.includes('identity OutOfSync'))).toHaveLength(
        1,
      );
      await setWorkloadReady(orion, 1);
      expect((await child.exited).code).toBe(0);
      expect(child.stderr).toMatch(
        new RegExp(
          `${apps.length}/${apps.length} applications Synced and Healthy, ${workloads.length}/${workloads.length} workloads ready; healthy`,
        ),
      );
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);

  it('gives up at the timeout with ERR_NOT_HEALTHY and what it was waiting for (exit 1)', async () => {
    await setApplication('mesh', 'Synced', 'Degraded', 'istiod: CrashLoopBackOff');
    const run = await cli(['wait', '--interval', '1s', '--timeout', '3s']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'still waiting for:\n  - application mesh Synced/Degraded: istiod: CrashLoopBackOff',
    );
    expect(run.stderr).toContain('[ERR_NOT_HEALTHY]');
    await setApplication('mesh', 'Synced', 'Healthy');
  }, 60_000);
});

describe('clear errors', () => {
  it('RBAC: names the denied request, and the rules `platform rbac` prints are enough', async () => {
    let run = await cli(['status', '--context', 'viewer']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /RBAC denies list .* to the user of context viewer: .*"viewer" cannot list resource/,
    );
    expect(run.stderr).toContain('[ERR_CLUSTER_FORBIDDEN]');

    const role = parse((await cli(['rbac'])).stdout) as k8s.V1ClusterRole;
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createClusterRole({ body: role });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'viewer-platform' },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: role.metadata!.name!,
        },
        subjects: [{ kind: 'User', name: 'viewer', apiGroup: 'rbac.authorization.k8s.io' }],
      },
    });
    // RBAC changes reach the authorizer within a moment.
    for (let i = 0; i < 20; i++) {
      run = await cli(['status', '--context', 'viewer', '--json']);
      if (run.code !== 3) break;
    }
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { healthy: boolean }).healthy).toBe(true);
    // The user without the role is still refused.
    expect((await cli(['status', '--context', 'nobody'])).code).toBe(3);
  }, 90_000);

  it('no kubeconfig, an unknown context, refused credentials, an unreachable server: exit 3 with the fix', async () => {
    let run = await runCli(CLI, ['status'], home, { KUBECONFIG: join(home, 'missing') });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('[ERR_KUBECONFIG]');

    run = await cli(['status', '--context', 'prod']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/no context "prod" \(it has admin, viewer, nobody\)/);

    const kc = parse(
      stringify(
        parse(await import('node:fs').then((f) => f.readFileSync(api.kubeconfigPath, 'utf8'))),
      ),
    ) as any;
    for (const u of kc.users) u.user.token = 'forged';
    const forged = join(home, 'forged.yaml');
    writeFileSync(forged, stringify(kc));
    run = await cli(['status'], { KUBECONFIG: forged });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('(401)');
    expect(run.stderr).toContain('[ERR_CLUSTER_CREDENTIALS]');

    for (const c of kc.clusters) c.cluster.server = 'https://127.0.0.1:9';
    writeFileSync(forged, stringify(kc));
    run = await cli(['status'], { KUBECONFIG: forged });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(
      'cannot reach the API server https://127.0.0.1:9 of context admin',
    );
    expect(run.stderr).toContain('[ERR_CLUSTER_UNREACHABLE]');
  }, 60_000);

  it('open: refuses without a ready pod, picks the ready one, and reports a failed forward', async () => {
    let run = await cli(['open', 'grafana', '--no-browser']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /service fiware\/grafana has no running, ready pod \(no pod matches its selector\)/,
    );
    expect(run.stderr).toContain('[ERR_NO_READY_POD]');

    const core = admin.makeApiClient(k8s.CoreV1Api);
    const svc = await core.readNamespacedService({ name: 'grafana', namespace: 'fiware' });
    // No controller-manager here to create the namespace's default ServiceAccount.
    await core.createNamespacedServiceAccount({
      namespace: 'fiware',
      body: { metadata: { name: 'default' } },
    });
    const pod = (name: string) => ({
      metadata: { name, namespace: 'fiware', labels: svc.spec!.selector! },
      spec: {
        containers: [
          {
            name: 'grafana',
            image: ctx.image('grafana'),
            ports: [{ name: 'http-ui', containerPort: 3000 }],
          },
        ],
      },
    });
    await core.createNamespacedPod({ namespace: 'fiware', body: pod('grafana-a') });
    await core.createNamespacedPod({ namespace: 'fiware', body: pod('grafana-b') });
    run = await cli(['open', 'grafana', '--no-browser']);
    expect(run.stderr).toMatch(
      /grafana-a \(Pending, not ready\), grafana-b \(Pending, not ready\)/,
    );
    await core.patchNamespacedPodStatus(
      {
        name: 'grafana-b',
        namespace: 'fiware',
        body: { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
      },
      mergePatch,
    );

    const child = startCli(CLI, ['open', 'grafana', '--no-browser', '--json'], home, {
      KUBECONFIG: api.kubeconfigPath,
    });
    try {
      await child.until((o) => o.stdout.includes('}'));
      const opened = JSON.parse(child.stdout) as { url: string; pod: string; port: number };
      expect(opened.pod).toBe('grafana-b');
      expect(opened.url).toBe(`http://127.0.0.1:${opened.port}/grafana/`);
      expect(child.stderr).toContain(`to pod fiware/grafana-b:3000`);
      // No kubelet here: the forward itself must fail with a clear error, and keep listening.
      const sock = createConnection(opened.port, '127.0.0.1');
      sock.on('error', () => undefined);
      await child.until((o) => o.stderr.includes('ERR_PORT_FORWARD'), 10_000);
      expect(child.stderr).toMatch(
        /port-forward to pod fiware\/grafana-b:3000 failed: .*\[ERR_PORT_FORWARD\]/,
      );
      sock.destroy();
      child.kill('SIGTERM');
      expect((await child.exited).code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);

  it('a missing Application CRD is ERR_CRD_MISSING (exit 3), with the bootstrap as the fix', async () => {
    // Argo CD's finalizer would hold the Applications, and so the CRD, with no Argo CD here.
    const custom = admin.makeApiClient(k8s.CustomObjectsApi);
    for (const name of apps)
      await custom.patchNamespacedCustomObject(
        {
          group: 'argoproj.io',
          version: 'v1alpha1',
          namespace: ARGOCD,
          plural: 'applications',
          name,
          body: { metadata: { finalizers: null } },
        },
        mergePatch,
      );
    await admin
      .makeApiClient(k8s.ApiextensionsV1Api)
      .deleteCustomResourceDefinition({ name: 'applications.argoproj.io' });
    let run;
    for (let i = 0; i < 20; i++) {
      run = await cli(['status']);
      if (run.stderr.includes('ERR_CRD_MISSING')) break;
    }
    expect(run!.code).toBe(3);
    expect(run!.stderr).toContain('the cluster does not serve applications.argoproj.io');
    expect(run!.stderr).toContain('argocd/bootstrap.sh');
  }, 90_000);
});
