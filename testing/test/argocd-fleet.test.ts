/**
 * The fleet rendered inside Argo CD, for real: the pinned Argo CD (controller, repo-server and
 * an argocd-cmp-server running the fleet's Config Management Plugin as the repo-server's
 * sidecar would) syncs a repository holding only fleet/ records, served by a loopback git
 * daemon, into the tests' real kube-apiserver (with the Istio and Argo CD CRDs).
 *
 * The plugin is the one synth generates (deploy/bootstrap/argocd-values.yaml, configs.cmp), and
 * its command runs the tree the plugin's image carries (`npm run image:contents -- --service
 * fleet-plugin`, cdk8s/fleet-plugin/Dockerfile), assembled by testing/support/fleet-plugin.ts:
 * only where that tree lies and which node runs it differ from the image, visibly. The fleet's AppProject and Application are
 * deploy/apps' own, pointed at the loopback repository.
 *
 * There is no kubelet: the agents' Deployments are created, never run, so the Application is
 * asserted Synced, not Healthy. Nor is there a Job controller: the sync's hook Job (the agents'
 * clients, cdk8s/lib/fleet/identity.ts) is marked complete by the test as the controller would
 * after its pod succeeded (TEST ONLY, visibly: {@link completeHookJobs}), so that Argo CD goes
 * on to the next wave; what the job does is tested on its own with the real Keycloak
 * (services/identity/test/realm-apply-agents-cli.test.ts).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';

import { renderFleet } from '../../cdk8s/lib/fleet/agents.js';
import type { KubeObject } from '../../cdk8s/lib/objects.js';
import { FLEET_PLUGIN_NAME } from '../../cdk8s/lib/gitops/fleet-plugin.js';
import { platform } from '../../platform/config/platform.js';
import { loadPlatformContext } from '../../platform/context.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { agentsNamespace, loadFleet } from '../../platform/fleet/resolve.js';
import { startArgoCd, startGitDaemon } from '../real/argocd.js';
import type { ArgoCd, GitDaemon } from '../real/argocd.js';
import { startKubeApiserver } from '../real/kube-apiserver.js';
import type { KubeApiserver } from '../real/kube-apiserver.js';
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
import { fleetPlugin } from '../support/fleet-plugin.js';
import { waitFor } from '../support/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SYNC_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = SYNC_TIMEOUT_MS + 60_000;
const REPO_ERROR_GRACE_SECONDS = 10;

const keyOf = (o: { kind?: string; metadata?: { namespace?: string; name?: string } }) =>
  `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
const isHook = (o: KubeObject) =>
  (o.metadata.annotations as Record<string, string> | undefined)?.['argocd.argoproj.io/hook'] !==
  undefined;

describe('Argo CD renders fleet/ with the fleet plugin and syncs it into a real kube-apiserver', () => {
  const ctx = loadPlatformContext();
  let api: KubeApiserver | undefined;
  let argo: ArgoCd | undefined;
  let daemon: GitDaemon | undefined;
  let work: string;
  let clone: string;
  let objects: k8s.KubernetesObjectApi;
  let custom: k8s.CustomObjectsApi;
  let appsApi: k8s.AppsV1Api;
  let jobs: ReturnType<typeof completeHookJobs> | undefined;

  const push = (message: string) => pushAll(clone, message);
  const edit = (file: string, change: (text: string) => string) => {
    const before = readFileSync(join(clone, file), 'utf8');
    const after = change(before);
    expect(after).not.toBe(before);
    writeFileSync(join(clone, file), after);
  };
  /** What the records of the clone render into (the plugin must produce the same). */
  const rendered = (): readonly KubeObject[] =>
    renderFleet(ctx, loadFleet(clone, FLEET_DIR, ctx)).objects;

  const fleetApp = () => readApplication(custom, 'fleet');
  const logs = () =>
    argo
      ? `--- application-controller\n${argo.logTail('application-controller', 20)}\n--- repo-server\n${argo.logTail('repo-server', 20)}\n--- cmp-server\n${argo.logTail(`cmp-server-${FLEET_PLUGIN_NAME}`, 20)}`
      : '';
  const waitApp = async (ok: (a: Application) => boolean, what: string) => {
    let last: Application | undefined;
    await waitFor(
      async () => ok((last = await fleetApp())),
      SYNC_TIMEOUT_MS,
      () =>
        new Error(
          `Application fleet not ${what} within ${SYNC_TIMEOUT_MS} ms: ${JSON.stringify(last?.status ?? null)}\n${logs()}`,
        ),
      500,
    );
    return last!;
  };
  const exists = (o: KubeObject) => objectExists(objects, o as k8s.KubernetesObject);
  const replicasOf = async (tenant: string, agent: string) =>
    (
      await appsApi.listNamespacedDeployment({
        namespace: agentsNamespace(tenant),
        labelSelector: `fleet.kitt4sme.io/agent=${agent}`,
      })
    ).items.map((d) => d.spec!.replicas);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'argocd-fleet-test-'));
    // A repository of records only, as the fleet service (later) writes it: fleet/ of HEAD.
    const served = join(work, 'served');
    git(work, 'init', '-q', '--bare', '-b', 'main', join(served, 'kit.git'));
    clone = join(work, 'clone');
    git(work, 'clone', '-q', join(served, 'kit.git'), clone);
    git(clone, 'config', 'user.email', 'argocd-fleet-test@kitt4sme.invalid');
    git(clone, 'config', 'user.name', 'argocd-fleet test');
    cpSync(join(ROOT, FLEET_DIR), join(clone, FLEET_DIR), { recursive: true });
    push('fleet: the example records');

    api = await startKubeApiserver();
    daemon = await startGitDaemon(served);
    const loopbackURL = `${daemon.url}kit.git`;

    // Argo CD's settings as synth writes them, less the two the sync test leaves out too.
    const settings = argoCdTestSettings(ROOT);
    argo = await startArgoCd(api, {
      cm: settings.cm,
      rbac: settings.rbac,
      // TEST ONLY, visibly: a failed render is reported after 10 s instead of Argo CD's 180 s
      // (the controller's grace period for repo-server errors).
      repoErrorGraceSeconds: REPO_ERROR_GRACE_SECONDS,
      // The plugin as synth configures it, running the tree of its image.
      plugins: [fleetPlugin(join(work, 'app'))],
    });
    const kc = api.kubeConfig();
    objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    appsApi = kc.makeApiClient(k8s.AppsV1Api);

    // The platform namespaces the grants go to exist, as the namespaces layer makes them.
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const platformNamespaces = [
      ...new Set(
        rendered()
          .map((o) => o.metadata.namespace)
          .filter((n) => n !== undefined),
      ),
    ].filter((n) => !n.startsWith('agents-'));
    expect(platformNamespaces.length).toBeGreaterThan(0);
    for (const name of platformNamespaces)
      await core.createNamespace({ body: { metadata: { name } } });
    jobs = completeHookJobs(kc, ctx.componentNamespace('keycloak'));

    // deploy/apps' fleet project and Application, pointed at the loopback repository
    // (TEST ONLY, visibly), server-side applied as the root Application would.
    for (const f of ['project-fleet.yaml', 'fleet.yaml']) {
      const text = readFileSync(join(ROOT, 'deploy', 'apps', f), 'utf8');
      expect(text).toContain(platform.gitops.repoURL);
      const doc = parse(
        text.replaceAll(platform.gitops.repoURL, loopbackURL),
      ) as k8s.KubernetesObject;
      await serverSideApply(objects, doc, 'bootstrap');
    }
  }, 300_000);

  afterAll(async () => {
    jobs?.stop();
    await argo?.stop();
    await daemon?.stop();
    await api?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, TEST_TIMEOUT_MS);

  it(
    "renders the records with the plugin and applies every rendered object: the tenants' namespaces, an identity per agent, a Deployment per agent × host, the grants",
    async () => {
      const head = git(clone, 'rev-parse', 'HEAD');
      const app = await waitApp(syncedAt(head), `Synced at ${head}`);
      expect(app.status!.sourceType).toBe('Plugin');
      const expected = rendered();
      const managed = app.status!.resources!;
      expect(managed.map((r) => keyOf({ kind: r.kind, metadata: r })).sort()).toEqual(
        expected.map(keyOf).sort(),
      );
      // The one hook, the agents' clients' Job, ran (in wave 1, before the Deployments) and
      // stays until the next sync replaces it; everything else is Synced.
      expect(expected.filter(isHook).map(keyOf)).toEqual(['Job/identity/agent-clients']);
      expect(managed.filter((r) => r.hook).map((r) => r.name)).toEqual(['agent-clients']);
      expect(jobs!.count()).toBeGreaterThanOrEqual(1);
      expect(managed.filter((r) => !r.hook && r.status !== 'Synced')).toEqual([]);
      for (const o of expected) expect([keyOf(o), await exists(o)]).toEqual([keyOf(o), true]);

      const count = (kind: string) => expected.filter((o) => o.kind === kind).length;
      const fleet = loadFleet(clone, FLEET_DIR, ctx);
      expect(
        expected
          .filter((o) => o.kind === 'Namespace')
          .map((o) => o.metadata.name)
          .sort(),
      ).toEqual(ctx.config.tenants.map((t) => agentsNamespace(t.name)).sort());
      // One per agent, and the agents' clients' job's.
      expect(count('ServiceAccount')).toBe(fleet.agents.length + 1);
      expect(count('Deployment')).toBe(
        fleet.agents.reduce(
          (n, a) => n + (a.placement.mode === 'floating' ? 1 : a.placement.hosts.length),
          0,
        ),
      );
      expect(count('AuthorizationPolicy')).toBeGreaterThan(ctx.config.tenants.length);
      // The example: the extractor on both line PCs, the detector on the GPU host.
      expect(await replicasOf('manufracture', 'anomalies-extractor')).toEqual([1, 1]);
      expect(await replicasOf('manufracture', 'anomalies-detector')).toEqual([1]);
      expect(await replicasOf('smithereens', 'watchdog')).toEqual([0]);
      expect(argo!.logTail(`cmp-server-${FLEET_PLUGIN_NAME}`, 200)).toMatch(/fleet-render/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'applies a pushed change of a record: a stopped agent is scaled to zero, its config kept',
    async () => {
      const before = (
        await appsApi.listNamespacedDeployment({
          namespace: agentsNamespace('manufracture'),
          labelSelector: 'fleet.kitt4sme.io/agent=anomalies-detector',
        })
      ).items[0]!;
      edit('fleet/pipelines/manufracture-anomalies.yaml', (t) =>
        t.replace(
          '    placement: { host: gpu-edge-1 }\n',
          '    placement: { host: gpu-edge-1 }\n    state: stopped\n',
        ),
      );
      const revision = push('fleet: stop the detector');
      await waitApp(syncedAt(revision), `Synced at ${revision}`);
      await waitFor(
        async () => (await replicasOf('manufracture', 'anomalies-detector'))[0] === 0,
        SYNC_TIMEOUT_MS,
        () => new Error(`the detector was not scaled to zero\n${logs()}`),
        500,
      );
      const after = (
        await appsApi.listNamespacedDeployment({
          namespace: agentsNamespace('manufracture'),
          labelSelector: 'fleet.kitt4sme.io/agent=anomalies-detector',
        })
      ).items[0]!;
      expect(after.metadata!.name).toBe(before.metadata!.name);
      expect(after.spec!.replicas).toBe(0);
      const env = (d: k8s.V1Deployment) =>
        d.spec!.template.spec!.containers[0]!.env!.find((e) => e.name === 'AGENT_CONFIG')!.value;
      expect(env(after)).toBe(env(before));
      // The others are untouched.
      expect(await replicasOf('manufracture', 'anomalies-extractor')).toEqual([1, 1]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows an invalid record as a ComparisonError naming the fleet error code, and leaves what was applied in place',
    async () => {
      const good = git(clone, 'rev-parse', 'HEAD');
      const applied = rendered();
      edit('fleet/agents/smithereens-watchdog.yaml', (t) =>
        t.replace('template: anomaly-detector', 'template: no-such-template'),
      );
      const bad = push('fleet: a record naming a template that does not exist');
      const app = await waitApp(
        (a) =>
          !!a.status?.conditions?.some(
            (c) => c.type === 'ComparisonError' && c.message.includes('ERR_FLEET_UNKNOWN_TEMPLATE'),
          ),
        `in ComparisonError at ${bad}`,
      );
      const message = app.status!.conditions!.find((c) => c.type === 'ComparisonError')!.message;
      expect(message).toContain('fleet/agents/smithereens-watchdog.yaml');
      expect(message).toContain('[ERR_FLEET_INVALID]');
      // Nothing was synced from the bad commit; everything of the good one is still there.
      expect(app.status!.operationState?.syncResult?.revision).toBe(good);
      for (const o of applied) expect([keyOf(o), await exists(o)]).toEqual([keyOf(o), true]);
      expect(await replicasOf('manufracture', 'anomalies-detector')).toEqual([0]);
      expect(await replicasOf('manufracture', 'anomalies-extractor')).toEqual([1, 1]);
    },
    TEST_TIMEOUT_MS,
  );
});
