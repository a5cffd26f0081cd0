/**
 * The project's own image on a real kubelet: the provisioning service, assembled here from
 * the same /app tree the Dockerfile packages (`npm run image:contents`) on Debian's nodejs
 * package, runs from deploy/'s own manifests on a real node (Debian's containerd and runc
 * under the pinned kubelet and kube-proxy, the real scheduler and controllers), under the
 * namespace's restricted Pod Security admission, with its real probes, user and read-only
 * root filesystem; it answers through its Service (kube-proxy's rules) and through a real
 * port-forward (the kubelet's), and `platform status` reads it for real.
 *
 * OPA runs beside it, from deploy/'s manifest too, with the platform policy from its ConfigMap:
 * the pinned OPA (the static binary `npm run setup` builds) in an image of its own.
 *
 * Changed by the test only, visibly: the image references (to the locally assembled tags);
 * OPA's three `plugins.envoy_ext_authz_grpc` flags are dropped (the Envoy plugin build of OPA
 * is not on the Go module proxy, and plain OPA refuses an unregistered plugin's config); and
 * no Istio sidecar is injected (the fiware namespace asks for injection, but there is no
 * istiod or Envoy here, so the mesh objects are stored and nothing enforces them). With no
 * cluster DNS, OPA's API-key bundle from the provisioning service is not fetched here (its
 * readiness probe leaves the bundle out, as in production).
 *
 * Machine-global state (a bridge, iptables chains, network namespaces, cgroups, mounts,
 * processes) is taken back in afterAll even when a test fails, and the last test proves it.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';

import { loadPlatformContext } from '../../platform/context.js';
import { loadCluster } from '../../platform/cluster.js';
import { SHUTDOWN } from '../../platform/shutdown.js';
import { readDeployObjects } from '../../services/ops/src/deploy.js';
import { platformEndpoints } from '../../services/ops/src/endpoints.js';
import { startForward } from '../../services/ops/src/open.js';
import { ensureOpa } from '../../toolchain/tools.js';
import { startKubeApiserver } from '../real/kube-apiserver.js';
import type { KubeApiserver } from '../real/kube-apiserver.js';
import { NODE_APISERVER_ARGS, startKubeNode } from '../real/kube-node.js';
import type { KubeNode } from '../real/kube-node.js';
import { runCli } from '../support/cli.js';
import { envoyInput } from '../support/corpus.js';
import type { AssembledImage } from '../support/oci-image.js';
import { assembleImage, debianVersion, nodeServiceImage } from '../support/oci-image.js';
import { waitFor } from '../support/processes.js';

const ctx = loadPlatformContext();
const NAMESPACE = ctx.componentNamespace('provisioning');
const TIMEOUT_MS = 180_000;

const deploy = readDeployObjects();
const provisioning = deploy
  .filter((o) => o.file === 'fiware/provisioning.yaml')
  .map((o) => o.object);
const deployment = provisioning.find((o) => o.kind === 'Deployment') as unknown as k8s.V1Deployment;
const pinned = deployment.spec!.template.spec!.containers[0]!.image!;
/** TEST ONLY: the locally assembled image's reference. */
const LOCAL_REF = `kitt4sme.local/provisioning:${pinned.split(':').pop()}-debian`;
const opaObjects = deploy.filter((o) => o.file === 'security/opa.yaml').map((o) => o.object);
const opaDeployment = opaObjects.find(
  (o) => o.kind === 'Deployment',
) as unknown as k8s.V1Deployment;
const OPA_NAMESPACE = opaDeployment.metadata!.namespace!;
/** TEST ONLY: OPA's locally assembled image. */
const OPA_REF = 'kitt4sme.local/opa:1.21.1-static';
/** The flags of the Envoy plugin build, which plain OPA refuses (TEST ONLY, dropped). */
const ENVOY_PLUGIN_FLAG = /^--set=plugins\.envoy_ext_authz_grpc\./;

describe('the provisioning image on a real kubelet, from deploy/', () => {
  let api: KubeApiserver | undefined;
  let node: KubeNode | undefined;
  let work: string;
  let image: AssembledImage;
  let core: k8s.CoreV1Api;

  /** Builds the runtime image: Debian's node and its libraries, and the Dockerfile's /app tree. */
  const buildImage = (tag: string, out: string): AssembledImage =>
    nodeServiceImage('provisioning', out, tag);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'kubelet-test-'));
    api = await startKubeApiserver({ extraArgs: NODE_APISERVER_ARGS });
    node = await startKubeNode(api);
    image = buildImage(LOCAL_REF.split(':').pop()!, join(work, 'image'));
    node.importImage(image, LOCAL_REF);
    // OPA: the static binary alone, as the upstream `-static` images are.
    const opaRoot = join(work, 'opa', 'rootfs');
    mkdirSync(opaRoot, { recursive: true });
    cpSync(ensureOpa(), join(opaRoot, 'opa'));
    node.importImage(
      assembleImage(opaRoot, join(work, 'opa', 'layout'), OPA_REF.split(':').pop()!, {
        user: '1000:1000',
        entrypoint: ['/opa'],
      }),
      OPA_REF,
    );
    core = api.kubeConfig().makeApiClient(k8s.CoreV1Api);

    // deploy/'s namespace and the service's objects, as Argo CD applies them (server-side).
    const objects = k8s.KubernetesObjectApi.makeApiClient(api.kubeConfig());
    const namespace = deploy.find(
      (o) => o.object.kind === 'Namespace' && o.object.metadata.name === NAMESPACE,
    )!.object;
    for (const o of [namespace, ...provisioning, ...opaObjects]) {
      const body = structuredClone(o) as k8s.KubernetesObject;
      if (o === deployment) {
        const spec = (body as k8s.V1Deployment).spec!.template.spec!;
        expect(spec.containers[0]!.image).toBe(pinned);
        spec.containers[0]!.image = LOCAL_REF; // TEST ONLY, visibly
      }
      if (o === (opaDeployment as unknown)) {
        const c = (body as k8s.V1Deployment).spec!.template.spec!.containers[0]!;
        c.image = OPA_REF; // TEST ONLY, visibly
        const dropped = c.args!.filter((a) => ENVOY_PLUGIN_FLAG.test(a));
        expect(dropped).toHaveLength(3);
        c.args = c.args!.filter((a) => !ENVOY_PLUGIN_FLAG.test(a)); // TEST ONLY, visibly
      }
      await objects.patch(
        body,
        undefined,
        undefined,
        'kubelet-test',
        true,
        k8s.PatchStrategy.ServerSideApply,
      );
    }
  }, 600_000);

  afterAll(async () => {
    await node?.stop();
    await api?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  const pods = async () =>
    (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: 'app=provisioning' }))
      .items;

  const logs = () =>
    node
      ? `--- kubelet\n${node.logTail('kubelet', 30)}\n--- containerd\n${node.logTail('containerd', 10)}`
      : '';

  it(
    'the image is reproducible: assembled twice from the same inputs, one digest',
    () => {
      const again = buildImage(LOCAL_REF.split(':').pop()!, join(work, 'again'));
      expect(again.digest).toBe(image.digest);
      process.stderr.write(
        `kubelet: image ${LOCAL_REF} ${image.digest} (${(image.bytes / 1e6).toFixed(1)} MB compressed; nodejs ${debianVersion('nodejs')} from Debian)\n`,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'rolls out from deploy/ under restricted Pod Security: probes pass, as 65532, read-only root',
    async () => {
      const apps = api!.kubeConfig().makeApiClient(k8s.AppsV1Api);
      await waitFor(
        async () => {
          const d = await apps.readNamespacedDeployment({
            name: 'provisioning',
            namespace: NAMESPACE,
          });
          return (d.status?.availableReplicas ?? 0) >= 1;
        },
        TIMEOUT_MS,
        () => new Error(`provisioning did not become available\n${logs()}`),
        500,
      );
      const [pod] = await pods();
      expect(pod!.spec!.nodeName).toBe(node!.name);
      // No sidecar: the one container deploy/ declares.
      expect(pod!.spec!.containers.map((c) => c.name)).toEqual(['provisioning']);
      expect(pod!.status!.conditions!.find((c) => c.type === 'Ready')?.status).toBe('True');
      // What runs, read from the kernel: the container's process, its user and its root mount.
      const procs = node!.podProcesses(pod!.metadata!.uid!);
      const service = procs.find((p) => p.cmdline.includes('server.js'));
      expect(service).toBeDefined();
      expect(service!.uids).toEqual([65532, 65532, 65532, 65532]);
      expect(service!.rootMountOptions).toContain('ro');
      expect(service!.noNewPrivs).toBe(true);
      expect(service!.capEff).toBe(0n);
    },
    TIMEOUT_MS,
  );

  it(
    'the restricted admission of the namespace refuses a pod that would run as root',
    async () => {
      const refused = await core
        .createNamespacedPod({
          namespace: NAMESPACE,
          body: {
            metadata: { name: 'root-pod' },
            spec: { containers: [{ name: 'c', image: LOCAL_REF }] },
          },
        })
        .then(
          () => undefined,
          (err: unknown) => err as k8s.ApiException<string>,
        );
      expect(refused?.code).toBe(403);
      const message = (JSON.parse(String(refused?.body)) as { message: string }).message;
      expect(message).toMatch(/violates PodSecurity "restricted:latest".*runAsNonRoot != true/);
    },
    TIMEOUT_MS,
  );

  it(
    'answers /readyz through its Service (kube-proxy) and through a port-forward (the kubelet)',
    async () => {
      const svc = await core.readNamespacedService({ name: 'provisioning', namespace: NAMESPACE });
      const ip = svc.spec!.clusterIP!;
      let body = '';
      await waitFor(
        async () => {
          const r = await fetch(`http://${ip}:8080/readyz`, { signal: AbortSignal.timeout(2000) });
          body = await r.text();
          return r.status === 200;
        },
        60_000,
        () => new Error(`no answer through ${ip}:8080\n${node!.logTail('kube-proxy', 20)}`),
        500,
      );
      expect(JSON.parse(body)).toEqual({ status: 'ready' });

      // The tunnel `platform open` uses, to this Service (the consoles' Services have no
      // image here): client-node's port-forward through the apiserver to the kubelet.
      const cluster = loadCluster({ kubeconfig: api!.kubeconfigPath });
      const grafana = platformEndpoints(ctx, ctx.routes).consoles.find(
        (c) => c.name === 'grafana',
      )!;
      const errors: Error[] = [];
      const fwd = await startForward(
        cluster,
        { ...grafana, namespace: NAMESPACE, service: 'provisioning', port: 8080, path: '/' },
        { onError: (e) => errors.push(e) },
      );
      try {
        expect(fwd.target.namespace).toBe(NAMESPACE);
        const r = await fetch(`http://127.0.0.1:${fwd.localPort}/healthz`);
        expect([r.status, await r.json(), errors]).toEqual([200, { status: 'ok' }, []]);
      } finally {
        await fwd.close();
      }
    },
    TIMEOUT_MS,
  );

  it(
    'OPA runs the platform policy from its ConfigMap, ready by its probes, and decides',
    async () => {
      const apps = api!.kubeConfig().makeApiClient(k8s.AppsV1Api);
      await waitFor(
        async () =>
          ((await apps.readNamespacedDeployment({ name: 'opa', namespace: OPA_NAMESPACE })).status
            ?.availableReplicas ?? 0) >= 1,
        TIMEOUT_MS,
        () => new Error(`opa did not become available\n${logs()}`),
        500,
      );
      // Its decision API listens on the pod's loopback only: reached through a port-forward,
      // by a Service the test adds for it (TEST ONLY), as an operator would debug it.
      const objects = k8s.KubernetesObjectApi.makeApiClient(api!.kubeConfig());
      await objects.create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'opa-decisions-test', namespace: OPA_NAMESPACE },
        spec: { selector: { app: 'opa' }, ports: [{ port: 8181, targetPort: 8181 }] },
      } as k8s.KubernetesObject);
      const cluster = loadCluster({ kubeconfig: api!.kubeconfigPath });
      const grafana = platformEndpoints(ctx, ctx.routes).consoles.find(
        (c) => c.name === 'grafana',
      )!;
      const fwd = await startForward(cluster, {
        ...grafana,
        namespace: OPA_NAMESPACE,
        service: 'opa-decisions-test',
        port: 8181,
        path: '/',
      });
      try {
        const ask = async (headers: Record<string, string>) => {
          const r = await fetch(
            `http://127.0.0.1:${fwd.localPort}/v1/data/kitt4sme/authz/decision`,
            {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ input: envoyInput('GET', '/orion/v2/entities', headers) }),
            },
          );
          expect(r.status).toBe(200);
          return ((await r.json()) as { result: { allowed: boolean; http_status?: number } })
            .result;
        };
        // No credentials: refused with 401; a forged token: refused too.
        expect(await ask({ 'fiware-service': 'acme' })).toMatchObject({
          allowed: false,
          http_status: 401,
        });
        expect(
          await ask({ 'fiware-service': 'acme', authorization: 'Bearer not.a.token' }),
        ).toMatchObject({ allowed: false, http_status: 401 });
      } finally {
        await fwd.close();
      }
    },
    TIMEOUT_MS,
  );

  it(
    '`platform status` reads the running workloads for real: provisioning and OPA ready',
    async () => {
      const run = await runCli('services/ops/bin/platform.ts', ['status', '--json'], work, {
        KUBECONFIG: api!.kubeconfigPath,
      });
      // Not healthy as a whole (no Argo CD, nothing else runs here): exit 1, but provisioning
      // is read as rolled out.
      expect(run.code).toBe(1);
      const s = JSON.parse(run.stdout) as {
        workloads: {
          namespace: string;
          name: string;
          ready: number;
          desired: number;
          ok: boolean;
        }[];
        components: { name: string; ok: boolean }[];
      };
      expect(s.workloads.find((w) => w.name === 'provisioning')).toEqual(
        expect.objectContaining({ namespace: NAMESPACE, ready: 1, desired: 1, ok: true }),
      );
      expect(s.workloads.find((w) => w.name === 'opa')).toEqual(
        expect.objectContaining({ namespace: OPA_NAMESPACE, ready: 1, desired: 1, ok: true }),
      );
      // OPA's Service has a ready endpoint (the real EndpointSlice controller's); Keycloak's
      // is not deployed here.
      expect(s.components.map((c) => [c.name, c.ok])).toEqual([
        ['OPA', true],
        ['Keycloak', false],
      ]);
    },
    TIMEOUT_MS,
  );

  it(
    'a container whose process dies is restarted by the kubelet and becomes ready again',
    async () => {
      const [pod] = await pods();
      const before = pod!.status!.containerStatuses![0]!.restartCount;
      const service = node!
        .podProcesses(pod!.metadata!.uid!)
        .find((p) => p.cmdline.includes('server.js'))!;
      process.kill(service.pid, 'SIGKILL');
      await waitFor(
        async () => {
          const [p] = await pods();
          const st = p!.status!.containerStatuses![0]!;
          return st.restartCount > before && st.ready === true;
        },
        TIMEOUT_MS,
        () => new Error(`not restarted\n${logs()}`),
        500,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'a deleted pod answers through its preStop pause, then stops on SIGTERM (exit 0) and is replaced',
    async () => {
      const [pod] = await pods();
      const name = pod!.metadata!.name!;
      const ip = pod!.status!.podIP!;
      // The pod's own updates, from before its deletion: the kubelet reports how its container
      // ended before it removes the pod.
      const ended: k8s.V1ContainerStateTerminated[] = [];
      const seen: string[] = [];
      const watch = await new k8s.Watch(api!.kubeConfig()).watch(
        `/api/v1/namespaces/${NAMESPACE}/pods`,
        // From the apiserver's cache as it is (`0`): a watch from "now" waits for the cache to
        // catch up with etcd and can time out on this small cluster (504, too large resource version).
        { fieldSelector: `metadata.name=${name}`, resourceVersion: '0' },
        (type: string, p: k8s.V1Pod) => {
          const state = p.status?.containerStatuses?.[0]?.state;
          seen.push(`${type} ${JSON.stringify(type === 'ERROR' ? p : state)}`);
          if (p.metadata?.deletionTimestamp && state?.terminated) ended.push(state.terminated);
        },
        (err: unknown) => seen.push(`watch ended: ${err ? String(err) : 'closed'}`),
      );
      const pauseMs = SHUTDOWN.preStopSeconds * 1000;
      try {
        const deleted = Date.now();
        await core.deleteNamespacedPod({ name, namespace: NAMESPACE });
        // Halfway through the pause the old pod still answers: nothing has told it to stop.
        // (Without the pause the service is gone about 1.5 s after the deletion here.)
        await new Promise((r) => setTimeout(r, deleted + pauseMs / 2 - Date.now()));
        const during = await fetch(`http://${ip}:8080/readyz`, {
          signal: AbortSignal.timeout(pauseMs / 2 - 500),
        });
        expect([during.status, Date.now() - deleted < pauseMs]).toEqual([200, true]);
        await waitFor(
          async () => ended.length > 0,
          60_000,
          () =>
            new Error(
              `no terminated state of ${name} was reported; seen:\n${seen.join('\n')}\n${logs()}`,
            ),
          200,
        );
        const end = ended[0]!;
        // runServer's clean stop, not the SIGKILL of the grace period (137).
        expect([end.exitCode, end.reason]).toEqual([0, 'Completed']);
        // SIGTERM came after the pause (finishedAt is in whole seconds, so one second is
        // given), and the drain did not wait on a connection (nothing was in flight). A watch
        // hands over the JSON as it came: the time is text here.
        const stoppedAfter = new Date(end.finishedAt as unknown as string).getTime() - deleted;
        expect(stoppedAfter).toBeGreaterThanOrEqual(pauseMs - 1000);
        expect(stoppedAfter).toBeLessThan(pauseMs + SHUTDOWN.drainMs);
        process.stderr.write(
          `kubelet: ${name} answered ${pauseMs / 2000} s after its deletion and exited ${end.exitCode} ${(stoppedAfter / 1000).toFixed(0)} s after it (preStop pause ${SHUTDOWN.preStopSeconds} s)\n`,
        );
      } finally {
        watch.abort();
      }
      // The Deployment's replacement comes up ready (and leaves the node in order for the last test).
      await waitFor(
        async () => {
          const now = await pods();
          return (
            now.length === 1 &&
            now[0]!.metadata!.name !== name &&
            now[0]!.status?.containerStatuses?.[0]?.ready === true
          );
        },
        60_000,
        () => new Error(`no ready replacement of ${name}\n${logs()}`),
        500,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'takes back every piece of machine state when it stops',
    async () => {
      expect(node!.leftovers().length).toBeGreaterThan(0); // running: there is state to take back
      await node!.stop();
      expect(node!.leftovers()).toEqual([]);
    },
    TIMEOUT_MS,
  );
});
