import { existsSync } from 'node:fs';
import { connect } from 'node:net';

import * as k8s from '@kubernetes/client-node';

import { platform } from '../../platform/config/platform.js';
import { readDeployObjects } from '../../services/ops/src/deploy.js';
import { startKubeApiserver } from '../real/kube-apiserver.js';
import type { KubeApiserver } from '../real/kube-apiserver.js';

/** The Argo CD and Istio kinds deploy/ uses, as group, version and plural. */
const KINDS = [
  { group: 'argoproj.io', version: 'v1alpha1', kind: 'Application', plural: 'applications' },
  { group: 'argoproj.io', version: 'v1alpha1', kind: 'AppProject', plural: 'appprojects' },
  {
    group: 'networking.istio.io',
    version: 'v1',
    kind: 'VirtualService',
    plural: 'virtualservices',
  },
  { group: 'networking.istio.io', version: 'v1', kind: 'Gateway', plural: 'gateways' },
  {
    group: 'security.istio.io',
    version: 'v1',
    kind: 'AuthorizationPolicy',
    plural: 'authorizationpolicies',
  },
  {
    group: 'security.istio.io',
    version: 'v1',
    kind: 'PeerAuthentication',
    plural: 'peerauthentications',
  },
  {
    group: 'security.istio.io',
    version: 'v1',
    kind: 'RequestAuthentication',
    plural: 'requestauthentications',
  },
  { group: 'telemetry.istio.io', version: 'v1', kind: 'Telemetry', plural: 'telemetries' },
] as const;

/** Every `apiVersion kind` of the Argo CD and Istio objects under deploy/. */
function deployedCustomKinds(): Set<string> {
  return new Set(
    readDeployObjects()
      .map((o) => o.object)
      .filter((o) => /(^|\.)(argoproj|istio)\.io\//.test(o.apiVersion!))
      .map((o) => `${o.apiVersion} ${o.kind}`),
  );
}

/** The HTTP status and message of a failed client-node call. */
async function failure(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof k8s.ApiException) {
      const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      return { code: err.code, message: (body as { message?: string }).message ?? '' };
    }
    throw err;
  }
  throw new Error('the call succeeded');
}

/** A well-formed Argo CD Application in `default`. */
function application(spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'platform', namespace: 'default' },
    spec: {
      project: 'default',
      source: { repoURL: platform.gitops.repoURL, targetRevision: 'main', path: 'deploy' },
      destination: { server: 'https://kubernetes.default.svc', namespace: 'fiware' },
      ...spec,
    },
  };
}

describe('startKubeApiserver', () => {
  let server: KubeApiserver;
  let objects: k8s.CustomObjectsApi;
  /** Creates `body` in `default` with dryRun=All: the server validates and stores nothing. */
  const dryRunCreate = (
    group: string,
    plural: string,
    body: k8s.KubernetesObject & { apiVersion: string; spec?: unknown },
  ) =>
    objects.createNamespacedCustomObject({
      group,
      version: body.apiVersion.split('/')[1]!,
      namespace: 'default',
      plural,
      body,
      dryRun: 'All',
    });

  beforeAll(async () => {
    server = await startKubeApiserver();
    objects = server.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('serves the Kubernetes version the platform targets', async () => {
    const version = await server.kubeConfig().makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toBe(platform.cluster.kubernetesVersion);
  });

  it.each(KINDS)('serves $kind ($group/$version) from an Established CRD', async (k) => {
    const crd = await server
      .kubeConfig()
      .makeApiClient(k8s.ApiextensionsV1Api)
      .readCustomResourceDefinition({ name: `${k.plural}.${k.group}` });
    expect(crd.spec.names.kind).toBe(k.kind);
    expect(crd.status?.conditions).toContainEqual(
      expect.objectContaining({ type: 'Established', status: 'True' }),
    );
    expect(crd.spec.versions.find((v) => v.name === k.version)?.served).toBe(true);
    const list = (await objects.listClusterCustomObject(k)) as { items: unknown[] };
    expect(list.items).toEqual([]);
  });

  it('serves every Argo CD and Istio kind deploy/ uses', async () => {
    const served = new Set<string>();
    const apis = server.kubeConfig().makeApiClient(k8s.ApisApi);
    const groups = await apis.getAPIVersions();
    const core = server.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    for (const g of groups.groups.filter((x) => /(^|\.)(argoproj|istio)\.io$/.test(x.name)))
      for (const v of g.versions) {
        const [group, version] = v.groupVersion.split('/') as [string, string];
        const list = (await core.getAPIResources({ group, version })) as k8s.V1APIResourceList;
        for (const r of list.resources) served.add(`${v.groupVersion} ${r.kind}`);
      }
    const deployed = [...deployedCustomKinds()];
    expect(deployed.length).toBeGreaterThan(0);
    expect(deployed.filter((k) => !served.has(k))).toEqual([]);
  });

  it('accepts a well-formed Application', async () => {
    const created = (await dryRunCreate('argoproj.io', 'applications', application())) as {
      spec: { source: { path: string } };
    };
    expect(created.spec.source.path).toBe('deploy');
  });

  it('fails with 422 naming the field when an Application source is a string', async () => {
    const err = await failure(
      dryRunCreate(
        'argoproj.io',
        'applications',
        application({ source: 'https://example.org/repo.git' }),
      ),
    );
    expect(err.code).toBe(422);
    expect(err.message).toMatch(/spec\.source/);
  });

  it('fails with 422 naming the field when a retry limit is not an integer', async () => {
    const err = await failure(
      dryRunCreate(
        'argoproj.io',
        'applications',
        application({ syncPolicy: { retry: { limit: 'three' } } }),
      ),
    );
    expect(err.code).toBe(422);
    expect(err.message).toMatch(/spec\.syncPolicy\.retry\.limit/);
  });

  it('fails with 422 naming the field when a PeerAuthentication mode is not in its enum', async () => {
    const err = await failure(
      dryRunCreate('security.istio.io', 'peerauthentications', {
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: { name: 'default', namespace: 'default' },
        spec: { mtls: { mode: 'SOMETIMES' } },
      }),
    );
    expect(err.code).toBe(422);
    expect(err.message).toMatch(/spec\.mtls\.mode/);
  });

  it('fails with 422 when an AuthorizationPolicy breaks a CEL rule of its CRD', async () => {
    const err = await failure(
      dryRunCreate('security.istio.io', 'authorizationpolicies', {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'both', namespace: 'default' },
        spec: {
          selector: { matchLabels: { app: 'orion' } },
          targetRefs: [{ group: '', kind: 'Service', name: 'orion' }],
        },
      }),
    );
    expect(err.code).toBe(422);
    expect(err.message).toMatch(/only one of targetRefs or selector can be set/);
  });

  it('authorizes with RBAC: viewer only once bound, nobody never', async () => {
    const namespacesAs = (user: 'viewer' | 'nobody') =>
      server.kubeConfig(user).makeApiClient(k8s.CoreV1Api).listNamespace();
    expect((await failure(namespacesAs('viewer'))).code).toBe(403);
    expect((await failure(namespacesAs('nobody'))).code).toBe(403);

    const rbac = server.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: {
        metadata: { name: 'namespace-lister' },
        rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['list'] }],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'viewer-lists-namespaces' },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'namespace-lister',
        },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'viewer' }],
      },
    });

    // The RBAC authorizer reads bindings through an informer: allow it a moment to see them.
    const deadline = Date.now() + 10_000;
    let names: string[] = [];
    while (names.length === 0) {
      try {
        names = (await namespacesAs('viewer')).items.map((n) => n.metadata!.name!);
      } catch (err) {
        if (!(err instanceof k8s.ApiException) || err.code !== 403 || Date.now() > deadline)
          throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(names).toContain('default');
    expect((await failure(namespacesAs('nobody'))).code).toBe(403);
  });
});

describe('KubeApiserver.stop', () => {
  it('leaves nothing listening and removes its directory', async () => {
    const server = await startKubeApiserver({ crds: false });
    const port = Number(new URL(server.url).port);
    await server.stop();
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
    expect(existsSync(server.dir)).toBe(false);
  }, 120_000);
});
