/**
 * The GitOps loop for real: the pinned Argo CD (controller and repo-server) syncs the
 * repository's deploy/ at HEAD, served by a loopback git daemon, into the tests' real
 * kube-apiserver, bootstrapped as argocd/bootstrap.sh bootstraps a cluster.
 *
 * There is no kubelet here (testing/test/kubelet.test.ts runs one): workloads are created but
 * never run, so the platform layers are asserted Synced, not Healthy. The garbage collector of
 * the real kube-controller-manager runs, so that what Argo CD prunes (foreground deletion) is
 * really deleted.
 *
 * The Istio chart Applications sync too, rendered by the repo-server with the pinned helm
 * (setup builds the one Argo CD ships) from the istio.io/istio module snapshot's charts
 * (testing/support/helm-charts.ts), which the test commits under test-charts/ and points
 * those Applications at, visibly: their Helm repository is not reachable here. So the
 * apiserver starts with Argo CD's CRDs only, and Istio's come from istio-base, as in a
 * cluster. The charts that cannot be had at all are listed (UNREACHABLE_CHART_APPS).
 */
import {
  cpSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as k8s from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';

import { platform } from '../../platform/config/platform.js';
import { expectedApplications, readDeployObjects } from '../../services/ops/src/deploy.js';
import type { DeployObject } from '../../services/ops/src/deploy.js';
import { ensureHelm } from '../../toolchain/tools.js';
import { ARGOCD_NAMESPACE, startArgoCd, startGitDaemon } from '../real/argocd.js';
import type { ArgoCd, GitDaemon } from '../real/argocd.js';
import { startKubeApiserver } from '../real/kube-apiserver.js';
import type { KubeApiserver } from '../real/kube-apiserver.js';
import { startControlPlane } from '../real/kube-node.js';
import type { ControlPlane } from '../real/kube-node.js';
import type { Application } from '../support/argocd-apps.js';
import {
  argoCdTestSettings,
  completeHookJobs,
  git,
  objectExists,
  pushAll,
  readApplication,
  serverSideApply,
  syncedAt,
} from '../support/argocd-apps.js';
import { runCli } from '../support/cli.js';
import { fleetPlugin } from '../support/fleet-plugin.js';
import { chartApps, reachableChart, UNREACHABLE_CHART_APPS } from '../support/helm-charts.js';
import { waitFor } from '../support/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// The root app-of-apps takes about 90 s to sync on a quiet 2-core machine (its Applications
// wait for each other's health, wave by wave); a busy one has needed more than 120 s.
const SYNC_TIMEOUT_MS = 240_000;
/** A test's own time limit: one sync wait and the checks around it. */
const TEST_TIMEOUT_MS = SYNC_TIMEOUT_MS + 60_000;

const wave = (o: k8s.KubernetesObject) =>
  Number(o.metadata?.annotations?.['argocd.argoproj.io/sync-wave'] ?? '0');

describe('Argo CD syncs deploy/ from git into a real kube-apiserver', () => {
  let api: KubeApiserver | undefined;
  let controllers: ControlPlane | undefined;
  let argo: ArgoCd | undefined;
  let daemon: GitDaemon | undefined;
  let work: string;
  let clone: string;
  let objects: k8s.KubernetesObjectApi;
  let custom: k8s.CustomObjectsApi;
  let loopbackURL: string;
  let deployObjects: DeployObject[];
  let jobs: ReturnType<typeof completeHookJobs> | undefined;

  /** Commits every change in the clone and pushes it to the served repository. */
  const push = (message: string) => pushAll(clone, message);

  const app = (name: string) => readApplication(custom, name);

  const apps = async () =>
    (
      (await custom.listNamespacedCustomObject({
        group: 'argoproj.io',
        version: 'v1alpha1',
        namespace: ARGOCD_NAMESPACE,
        plural: 'applications',
      })) as { items: Application[] }
    ).items;

  const logs = () =>
    argo
      ? `--- application-controller\n${argo.logTail('application-controller', 30)}\n--- repo-server\n${argo.logTail('repo-server', 15)}`
      : '';

  /** Waits until Application `name` satisfies `ok`; fails with its status and the logs. */
  const waitApp = async (name: string, ok: (a: Application) => boolean, what: string) => {
    let last: Application | undefined;
    await waitFor(
      async () => ok((last = await app(name))),
      SYNC_TIMEOUT_MS,
      () =>
        new Error(
          `Application ${name} not ${what} within ${SYNC_TIMEOUT_MS} ms: ${JSON.stringify(last?.status ?? null)}\n${logs()}`,
        ),
      500,
    ).catch(async (err: Error) => {
      const summary = (await apps().catch(() => []))
        .map((a) => {
          const s = a.status;
          const op = s?.operationState;
          return `${a.metadata!.name}: ${s?.sync?.status}/${s?.health?.status} op ${op?.phase}: ${op?.message ?? ''} ${(
            op?.syncResult?.resources ?? []
          )
            .filter((r) => r.status !== 'Synced')
            .map((r) => `${r.kind}/${r.name} ${r.status} ${r.message}`)
            .join(
              '; ',
            )} ${(s?.conditions ?? []).map((c) => `${c.type}: ${c.message}`).join('; ')} out of sync: ${(
            s?.resources ?? []
          )
            .filter((r) => r.status !== 'Synced')
            .map((r) => `${r.kind}/${r.namespace ?? ''}/${r.name}`)
            .join(', ')}`;
        })
        .join('\n');
      err.message = `${err.message}\n--- Applications\n${summary}`;
      throw err;
    });
    return last!;
  };

  const exists = (o: k8s.KubernetesObject) => objectExists(objects, o);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'argocd-sync-test-'));
    // The repository at HEAD, as the served `main`, and a clone to change and push from.
    const served = join(work, 'served');
    git(work, 'init', '-q', '--bare', '-b', 'main', join(served, 'kit.git'));
    git(ROOT, 'push', '-q', join(served, 'kit.git'), 'HEAD:refs/heads/main');
    clone = join(work, 'clone');
    git(work, 'clone', '-q', join(served, 'kit.git'), clone);
    git(clone, 'config', 'user.email', 'argocd-sync-test@kitt4sme.invalid');
    git(clone, 'config', 'user.name', 'argocd-sync test');

    // Argo CD's CRDs only: istio-base installs Istio's.
    api = await startKubeApiserver({ crds: 'argocd' });
    controllers = await startControlPlane(api, {
      controllers: ['garbage-collector-controller'],
      scheduler: false,
    });
    daemon = await startGitDaemon(served);
    loopbackURL = `${daemon.url}kit.git`;

    // TEST ONLY, visibly: the platform's repoURL (config gitops.repoURL) is rewritten to the
    // loopback git daemon in deploy/apps (Applications and AppProject sourceRepos), in a
    // commit of its own on top of HEAD. Everything else is deploy/ as committed.
    const appsDir = join(clone, 'deploy', 'apps');
    for (const f of readdirSync(appsDir).filter((f) => f.endsWith('.yaml'))) {
      const text = readFileSync(join(appsDir, f), 'utf8');
      writeFileSync(join(appsDir, f), text.replaceAll(platform.gitops.repoURL, loopbackURL));
    }
    // TEST ONLY, visibly: the Istio chart Applications render the module snapshot's charts,
    // committed under test-charts/, with the values synth generated; the infrastructure
    // project may read the loopback repository.
    const chartsServed: string[] = [];
    for (const chartApp of chartApps(readDeployObjects(join(clone, 'deploy')))) {
      const chart = reachableChart(chartApp);
      if (!chart) continue;
      const path = `test-charts/${chartApp.chart}`;
      cpSync(chart.dir, join(clone, path), { recursive: true });
      const file = join(clone, 'deploy', chartApp.file);
      const appObject = parse(readFileSync(file, 'utf8')) as Application & {
        spec: { source: Record<string, unknown> };
      };
      const { chart: _chart, targetRevision: _version, ...keep } = appObject.spec.source;
      appObject.spec.source = { ...keep, repoURL: loopbackURL, targetRevision: 'main', path };
      writeFileSync(file, stringify(appObject));
      chartsServed.push(chartApp.name);
    }
    expect(chartsServed.sort()).toEqual([
      'istio-base',
      'istio-cni',
      'istio-ingressgateway',
      'istiod',
    ]);
    const projectFile = join(appsDir, 'project-infrastructure.yaml');
    const project = parse(readFileSync(projectFile, 'utf8')) as { spec: { sourceRepos: string[] } };
    project.spec.sourceRepos.push(loopbackURL);
    writeFileSync(projectFile, stringify(project));
    push('test: point deploy/apps at the loopback git daemon, the Istio charts at test-charts/');
    deployObjects = readDeployObjects(join(clone, 'deploy'));

    // Argo CD's settings as bootstrap.sh installs them, less two (argoCdTestSettings says why).
    const settings = argoCdTestSettings(clone);
    expect([settings.left.period, settings.left.health].every((v) => typeof v === 'string')).toBe(
      true,
    );
    // No Job controller runs here: the fleet's hook Job (the agents' clients) is marked
    // complete as it would be once its pod succeeded (TEST ONLY, visibly; see completeHookJobs).
    jobs = completeHookJobs(api.kubeConfig(), platform.namespaces.identity);
    argo = await startArgoCd(api, {
      cm: settings.cm,
      rbac: settings.rbac,
      path: [dirname(ensureHelm())],
      // The fleet's Config Management Plugin, as the repo-server's sidecar runs it.
      plugins: [fleetPlugin(join(work, 'fleet-plugin'))],
    });
    const kc = api.kubeConfig();
    objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);

    // As argocd/bootstrap.sh: the AppProjects and the root Application, server-side applied.
    for (const f of [
      'project-gitops.yaml',
      'project-infrastructure.yaml',
      'project-platform.yaml',
      'root.yaml',
    ])
      for (const doc of parseAllDocuments(readFileSync(join(appsDir, f), 'utf8')))
        await serverSideApply(objects, doc.toJS() as k8s.KubernetesObject, 'bootstrap');
  }, 300_000);

  afterAll(async () => {
    jobs?.stop();
    await argo?.stop();
    await daemon?.stop();
    await controllers?.stop();
    await api?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, TEST_TIMEOUT_MS);

  it("keeps the repo-server's git credentials socket in its own directory, not /tmp's shared one", () => {
    // Test files run in parallel: two repo-servers on /tmp/reposerver-ask-pass.sock would
    // take each other's.
    expect(statSync(join(argo!.dir, 'ask-pass.sock')).isSocket()).toBe(true);
  });

  it(
    'syncs the root app-of-apps at HEAD, its Applications in the declared wave order',
    async () => {
      const head = git(clone, 'rev-parse', 'HEAD');
      const root = await waitApp('root', syncedAt(head), `Synced at ${head}`);

      const declared = deployObjects.filter((o) => o.file.startsWith('apps/')).map((o) => o.object);
      const waveOf = new Map(declared.map((o) => [`${o.kind}/${o.metadata.name}`, wave(o)]));
      // Every object of deploy/apps is managed by the root, Synced, at the wave it declares.
      const managed = root.status!.resources!;
      expect(managed.map((r) => `${r.kind}/${r.name}`).sort()).toEqual([...waveOf.keys()].sort());
      expect(managed.filter((r) => r.status !== 'Synced')).toEqual([]);
      for (const r of managed)
        expect([r.name, r.syncWave ?? 0]).toEqual([r.name, waveOf.get(`${r.kind}/${r.name}`)]);
      // The engine created the Applications wave by wave: each wave's after the previous
      // one's (Argo CD waits ARGOCD_SYNC_WAVE_DELAY, 2 s, between waves, so creation times,
      // in whole seconds, differ). The AppProjects and the root came from the bootstrap.
      const created = (await apps())
        .filter((a) => a.metadata!.name !== 'root' && a.metadata!.name !== 'rogue')
        .map((a) => ({
          name: a.metadata!.name!,
          wave: wave(a),
          at: new Date(a.metadata!.creationTimestamp!).getTime(),
        }));
      const waves = [...new Set(created.map((c) => c.wave))].sort((a, b) => a - b);
      expect(waves.length).toBeGreaterThan(5);
      for (let i = 1; i < waves.length; i++) {
        const before = created.filter((c) => c.wave === waves[i - 1]);
        const after = created.filter((c) => c.wave === waves[i]);
        const ordered = Math.max(...before.map((c) => c.at)) < Math.min(...after.map((c) => c.at));
        expect([waves[i - 1], waves[i], ordered]).toEqual([waves[i - 1], waves[i], true]);
      }
      process.stderr.write(
        `argocd-sync: Applications created in this order: ${waves
          .map(
            (w) =>
              `${w}: ${created
                .filter((c) => c.wave === w)
                .map((c) => c.name)
                .sort()
                .join(', ')}`,
          )
          .join(' | ')}\n`,
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'syncs every platform layer from the repository at HEAD, each object in the apiserver',
    async () => {
      const head = git(clone, 'rev-parse', 'HEAD');
      const all = await apps();
      const layers = all.filter(
        (a) => a.spec.source?.path?.startsWith('deploy/') && a.metadata!.name !== 'root',
      );
      expect(layers.map((a) => a.metadata!.name).sort()).toEqual([
        'data',
        'fiware',
        'fleet-service',
        'identity',
        'mesh',
        'monitor',
        'namespaces',
        'observability',
        'security',
      ]);
      for (const layer of layers) {
        const name = layer.metadata!.name!;
        await waitApp(name, syncedAt(head), `Synced at ${head}`);
        const dir = `${layer.spec.source!.path!.replace(/^deploy\//, '')}/`;
        const own = deployObjects.filter((o) => o.file.startsWith(dir));
        expect(own.length).toBeGreaterThan(0);
        for (const o of own)
          expect([`${o.object.kind}/${o.object.metadata.name}`, await exists(o.object)]).toEqual([
            `${o.object.kind}/${o.object.metadata.name}`,
            true,
          ]);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'syncs the Istio charts from git with our values; their CRDs are Established before the custom resources',
    async () => {
      const head = git(clone, 'rev-parse', 'HEAD');
      for (const name of ['istio-base', 'istiod', 'istio-cni', 'istio-ingressgateway'])
        await waitApp(name, syncedAt(head), `Synced at ${head}`);
      // istio-base installed Istio's CRDs (the apiserver started without them).
      const base = await app('istio-base');
      const crdNames = base
        .status!.resources!.filter((r) => r.kind === 'CustomResourceDefinition')
        .map((r) => r.name);
      expect(crdNames.length).toBeGreaterThan(10);
      const ext = api!.kubeConfig().makeApiClient(k8s.ApiextensionsV1Api);
      const established = new Map<string, number>();
      for (const name of crdNames) {
        const crd = await ext.readCustomResourceDefinition({ name });
        const cond = crd.status?.conditions?.find((c) => c.type === 'Established');
        expect([name, cond?.status]).toEqual([name, 'True']);
        established.set(
          `${crd.spec.group}/${crd.spec.names.kind}`,
          new Date(cond!.lastTransitionTime!).getTime(),
        );
      }
      // Every Istio object of the mesh layer was created after its kind's CRD was Established.
      await waitApp('mesh', syncedAt(head), `Synced at ${head}`);
      const istioObjects = deployObjects.filter(
        (o) => o.file.startsWith('mesh/') && o.object.apiVersion?.includes('istio.io/'),
      );
      expect(istioObjects.length).toBeGreaterThan(3);
      for (const { object } of istioObjects) {
        const live = await objects.read({
          apiVersion: object.apiVersion!,
          kind: object.kind!,
          metadata: { name: object.metadata.name, namespace: object.metadata.namespace },
        });
        const kind = `${object.apiVersion!.split('/')[0]}/${object.kind}`;
        expect([kind, established.has(kind)]).toEqual([kind, true]);
        expect([
          kind,
          object.metadata.name,
          new Date(live.metadata!.creationTimestamp!).getTime() >= established.get(kind)!,
        ]).toEqual([kind, object.metadata.name, true]);
      }
      // istiod rendered from our values: the pinned image, not the chart's testing default.
      const istiod = await objects.read({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'istiod', namespace: 'istio-system' },
      });
      expect((istiod as k8s.V1Deployment).spec!.template.spec!.containers[0]!.image).toMatch(
        /^docker\.io\/istio\/pilot:\d+\.\d+\.\d+$/,
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'lists the chart Applications it cannot sync here, by name',
    async () => {
      const all = await apps();
      const charts = all
        .filter((a) => a.spec.source?.chart !== undefined)
        .map((a) => a.metadata!.name!);
      expect(charts.sort()).toEqual(Object.keys(UNREACHABLE_CHART_APPS).sort());
      for (const name of charts)
        process.stderr.write(
          `argocd-sync: not asserted Synced: ${name} (${UNREACHABLE_CHART_APPS[name]})\n`,
        );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'self-heals a hand edit of a synced object',
    async () => {
      const cm = deployObjects.find(
        (o) => o.object.kind === 'ConfigMap' && o.file.startsWith('security/'),
      )!.object;
      const key = Object.keys((cm as unknown as { data: Record<string, string> }).data)[0]!;
      const ref = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: cm.metadata.name, namespace: cm.metadata.namespace },
      };
      await serverSideApply(
        objects,
        { ...ref, data: { [key]: 'edited by hand' } } as k8s.KubernetesObject,
        'hand-edit',
      );
      await waitFor(
        async () =>
          ((await objects.read(ref)) as unknown as { data: Record<string, string> }).data[key] !==
          'edited by hand',
        SYNC_TIMEOUT_MS,
        () =>
          new Error(`the hand edit of ConfigMap ${cm.metadata.name} was not reverted\n${logs()}`),
        500,
      );
      const back = (await objects.read(ref)) as unknown as { data: Record<string, string> };
      expect(back.data[key]).toBe((cm as unknown as { data: Record<string, string> }).data[key]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'applies a pushed commit and prunes the objects of a deleted file',
    async () => {
      // The mesh layer, whose objects are all Healthy without a kubelet: the layers use
      // PruneLast, so Argo CD prunes only once everything else is Healthy, which a layer with
      // Deployments never is here.
      await waitApp('mesh', syncedAt(git(clone, 'rev-parse', 'HEAD')), 'Synced before the push');
      const file = 'mesh/ingress.yaml';
      const gone = deployObjects.filter((o) => o.file === file).map((o) => o.object);
      expect(gone.length).toBeGreaterThan(0);
      unlinkSync(join(clone, 'deploy', file));
      const changedFile = join(clone, 'deploy', 'mesh', 'security.yaml');
      const docs = parseAllDocuments(readFileSync(changedFile, 'utf8')).map(
        (d) => d.toJS() as k8s.KubernetesObject,
      );
      const changed = docs[0]!;
      changed.metadata!.labels = { ...changed.metadata!.labels, 'pushed-by-test': 'pushed' };
      writeFileSync(changedFile, docs.map((d) => stringify(d)).join('---\n'));
      const revision = push('test: drop deploy/mesh/ingress.yaml, label an object of the mesh');

      // The documented way to wait for a push on a cluster where some workloads cannot become
      // healthy: `platform wait --revision HEAD --sync-only`, run in the clone (where HEAD is
      // the pushed commit), skipping, by name, the chart Applications that cannot sync here.
      const skip = Object.keys(UNREACHABLE_CHART_APPS).flatMap((n) => ['--skip-app', n]);
      const env = { KUBECONFIG: api!.kubeconfigPath };
      const waited = await runCli(
        'services/ops/bin/platform.ts',
        [
          'wait',
          '--revision',
          'HEAD',
          '--sync-only',
          ...skip,
          '--interval',
          '1s',
          '--timeout',
          '120s',
          '--json',
        ],
        work,
        env,
        clone,
      );
      expect([waited.code, waited.stderr]).toEqual([0, expect.stringContaining('; synced')]);
      const final = JSON.parse(waited.stdout) as {
        applications: { name: string; revision?: string; ok: boolean; skipped?: boolean }[];
      };
      const counted = final.applications.filter((a) => !a.skipped);
      expect(counted.map((a) => a.name).sort()).toEqual(
        [...(await apps())]
          .map((a) => a.metadata!.name!)
          .filter((n) => !(n in UNREACHABLE_CHART_APPS))
          .sort(),
      );
      // Every counted Application Synced; those deploy/ sources from the platform repository
      // (the root and the layers) at the pushed commit. The Istio chart Applications are at a
      // chart version in a real cluster, so `--revision` does not hold them to a commit.
      const fromRepo = expectedApplications(
        readDeployObjects(),
        platform.gitops.repoURL,
      ).fromPlatformRepo;
      expect(fromRepo).toEqual(expect.arrayContaining(['root', 'mesh', 'fiware']));
      for (const a of counted)
        expect([a.name, a.ok, fromRepo.includes(a.name) ? a.revision : revision]).toEqual([
          a.name,
          true,
          revision,
        ]);
      // Without skipping them, the chart Applications keep it waiting: a timeout, exit 1, by name.
      const stuck = await runCli(
        'services/ops/bin/platform.ts',
        ['wait', '--revision', 'HEAD', '--sync-only', '--interval', '1s', '--timeout', '3s'],
        work,
        env,
        clone,
      );
      expect(stuck.code).toBe(1);
      for (const name of Object.keys(UNREACHABLE_CHART_APPS))
        expect(stuck.stderr).toContain(`application ${name} `);

      // Argo CD prunes with foreground propagation: the objects get a deletionTimestamp and the
      // garbage collector (kube-controller-manager's) removes them.
      // Pruned: Synced at the commit, the objects gone from what it manages and from the
      // apiserver. (The operation that pruned may be followed by a self-heal one that prunes
      // what foreground deletion had not removed yet, so the last operation's result is not
      // the place to look.)
      const prunedAll = (a: Application) =>
        a.status?.sync?.status === 'Synced' &&
        a.status.sync.revision === revision &&
        !gone.some((o) =>
          (a.status!.resources ?? []).some((r) => r.kind === o.kind && r.name === o.metadata.name),
        );
      await waitApp('mesh', prunedAll, `Synced at ${revision} without the deleted file's objects`);
      await waitFor(
        async () => (await Promise.all(gone.map((o) => exists(o)))).every((e) => !e),
        SYNC_TIMEOUT_MS,
        () => new Error(`the pruned objects are still there\n${logs()}`),
        500,
      );
      for (const o of gone)
        expect([o.kind, o.metadata.name, await exists(o)]).toEqual([
          o.kind,
          o.metadata.name,
          false,
        ]);
      const got = await objects.read({
        apiVersion: changed.apiVersion!,
        kind: changed.kind!,
        metadata: { name: changed.metadata!.name!, namespace: changed.metadata!.namespace },
      });
      expect(got.metadata?.labels?.['pushed-by-test']).toBe('pushed');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'enforces the AppProjects: a Secret in a platform layer and an Application outside its project are refused',
    async () => {
      writeFileSync(
        join(clone, 'deploy', 'fiware', 'committed-secret.yaml'),
        stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'committed-secret', namespace: 'fiware' },
          stringData: { password: 'not-a-real-one' },
        }),
      );
      writeFileSync(
        join(clone, 'deploy', 'apps', 'rogue.yaml'),
        stringify({
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'Application',
          metadata: { name: 'rogue', namespace: ARGOCD_NAMESPACE },
          spec: {
            project: 'platform',
            destination: { server: 'https://kubernetes.default.svc', namespace: 'kube-system' },
            source: { repoURL: loopbackURL, targetRevision: 'main', path: 'deploy/observability' },
            syncPolicy: { automated: { prune: true } },
          },
        }),
      );
      const revision = push(
        'test: a Secret under deploy/fiware and an Application outside its project',
      );

      // Refused at every attempt: the operation stays Running while Argo CD retries it.
      const fiware = await waitApp(
        'fiware',
        (a) =>
          a.status?.operationState?.syncResult?.revision === revision &&
          /Secret is not permitted in project/.test(a.status.operationState.message ?? ''),
        `refused at ${revision}`,
      );
      expect(JSON.stringify(fiware.status!.operationState)).toMatch(
        /Secret.*not permitted in project/,
      );
      expect(
        await exists({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'committed-secret', namespace: 'fiware' },
        }),
      ).toBe(false);

      const rogue = await waitApp(
        'rogue',
        (a) => !!a.status?.conditions?.some((c) => c.type === 'InvalidSpecError'),
        'refused',
      );
      expect(rogue.status!.conditions!.find((c) => c.type === 'InvalidSpecError')!.message).toMatch(
        /kube-system.*platform|platform.*kube-system|not permitted|do not match/,
      );
      expect(rogue.status?.operationState).toBeUndefined();
      const grafana = deployObjects.find(
        (o) => o.file.startsWith('observability/') && o.object.kind === 'Service',
      )!.object;
      expect(
        await exists({ ...grafana, metadata: { ...grafana.metadata, namespace: 'kube-system' } }),
      ).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );
});
