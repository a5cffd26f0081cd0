/**
 * `npm run bootstrap:secrets -- --rotate <id>` against a real kube-apiserver holding the
 * bootstrap Secrets and deploy/'s workloads (plus a Deployment as Kiali's chart installs it,
 * which deploy/ does not hold): unknown ids, dry runs that change nothing, refusals, a
 * rotation with restarts, the TLS pair, and rotations that stop part-way and say so. The realm
 * part, against the real Keycloak, is in bootstrap-secrets-rotate-keycloak.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';

import { planSecrets } from '../../../platform/bootstrap-secrets.js';
import { loadPlatformContext } from '../../../platform/context.js';
import { freePort } from '../../../testing/real/opa.js';
import type { KubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { startKubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { runCli } from '../../../testing/support/cli.js';
import { readDeployObjects } from '../src/deploy.js';
import type { RotationReport } from '../src/rotate.js';
import { RESTARTED_AT, WORKLOAD_KINDS } from '../src/rotate.js';

const CLI = 'services/ops/bin/bootstrap-secrets.ts';
const ctx = loadPlatformContext();

let api: KubeApiserver;
let home: string;
let core: k8s.CoreV1Api;
let objects: k8s.KubernetesObjectApi;
const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(CLI, args, home, { KUBECONFIG: api.kubeconfigPath, ...env });

/** Kiali's Deployment as its chart installs it: it mounts the `kiali` Secret. */
const kiali: KubernetesObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'kiali', namespace: 'istio-system' },
  spec: {
    selector: { matchLabels: { app: 'kiali' } },
    template: {
      metadata: { labels: { app: 'kiali' } },
      spec: {
        containers: [
          {
            name: 'kiali',
            image: 'quay.io/kiali/kiali',
            volumeMounts: [{ name: 'kiali-secret', mountPath: '/kiali-secret' }],
          },
        ],
        volumes: [{ name: 'kiali-secret', secret: { secretName: 'kiali', optional: true } }],
      },
    },
  },
} as KubernetesObject;

/** A Secret's data, decoded. */
async function data(namespace: string, name: string): Promise<Record<string, string>> {
  const s = await core.readNamespacedSecret({ name, namespace });
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

/** The resourceVersion of every Secret and workload: what "nothing changed" compares. */
async function versions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const s of (await core.listSecretForAllNamespaces()).items)
    out[`Secret ${s.metadata!.namespace}/${s.metadata!.name}`] = s.metadata!.resourceVersion!;
  const apps = api.kubeConfig().makeApiClient(k8s.AppsV1Api);
  for (const [kind, list] of [
    ['Deployment', () => apps.listDeploymentForAllNamespaces()],
    ['StatefulSet', () => apps.listStatefulSetForAllNamespaces()],
    ['DaemonSet', () => apps.listDaemonSetForAllNamespaces()],
  ] as const)
    for (const o of (await list()).items)
      out[`${kind} ${o.metadata!.namespace}/${o.metadata!.name}`] = o.metadata!.resourceVersion!;
  return out;
}

/** The restartedAt annotation of a workload's pod template, if any. */
async function restartedAt(kind: string, namespace: string, name: string) {
  const o = (await objects.read({
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace },
  })) as KubernetesObject & { spec: { template: { metadata?: { annotations?: object } } } };
  return (o.spec.template.metadata?.annotations as Record<string, string> | undefined)?.[
    RESTARTED_AT
  ];
}

/** A URL on which nothing listens (a Keycloak that is down). */
async function closedKeycloakUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/auth`;
}

beforeAll(async () => {
  api = await startKubeApiserver({ crds: false });
  home = mkdtempSync(join(tmpdir(), 'rotate-cli-'));
  const admin = api.kubeConfig('admin');
  core = admin.makeApiClient(k8s.CoreV1Api);
  objects = k8s.KubernetesObjectApi.makeApiClient(admin);
  for (const { name } of ctx.managedNamespaces)
    await core.createNamespace({ body: { metadata: { name } } });
  // What bootstrap creates on a fresh cluster (TLS pair included, made with openssl).
  for (const s of planSecrets(ctx, () => undefined).create)
    await core.createNamespacedSecret({
      namespace: s.namespace,
      body: s.secret as unknown as k8s.V1Secret,
    });
  const workloads = readDeployObjects()
    .map((o) => o.object)
    .filter((o) => (WORKLOAD_KINDS as readonly string[]).includes(o.kind!));
  for (const o of [...workloads, kiali]) await objects.create(o);
}, 240_000);

afterAll(async () => {
  await api?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('bootstrap:secrets --rotate: ids', () => {
  it('refuses an unknown id with exit 2, listing the valid ids, with or without a cluster', async () => {
    for (const env of [{}, { KUBECONFIG: join(home, 'none') }] as Record<string, string>[]) {
      const run = await cli(['--rotate', 'grafana-oidc', '--json'], env);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('"grafana-oidc" names no bootstrap Secret, shared value or key');
      for (const id of [
        'grafanaOidc',
        'oidc-client:manufracture-devices',
        'mongodb/orion-password',
      ])
        expect(run.stderr).toContain(id);
      expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'ERR_ROTATE_UNKNOWN_ID' } });
    }
  });
});

describe('bootstrap:secrets --rotate --dry-run', () => {
  it('names what would change, finds readers in the cluster (Kiali from its chart too), writes nothing and prints no value', async () => {
    const before = await versions();
    const values = [
      ...Object.values(await data('istio-system', 'kiali')),
      ...Object.values(await data('identity', 'keycloak-realm')),
    ];
    const run = await cli(['--rotate', 'kialiOidc', '--dry-run', '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as RotationReport;
    expect(report).toEqual({
      id: 'kialiOidc',
      dryRun: true,
      readersFrom: 'cluster',
      secrets: [
        { namespace: 'istio-system', name: 'kiali', keys: ['oidc-secret'] },
        { namespace: 'identity', name: 'keycloak-realm', keys: ['KITT4SME_CLIENT_SECRET_KIALI'] },
      ],
      keycloak: [{ kind: 'client-secret', id: 'kiali', outcome: 'planned' }],
      restarts: [{ namespace: 'istio-system', kind: 'Deployment', name: 'kiali' }],
      kept: [
        {
          namespace: 'identity',
          kind: 'Deployment',
          name: 'keycloak',
          why: expect.stringContaining('only to import a missing realm'),
        },
      ],
      notes: [],
    });
    expect(run.stderr).toContain('[4/4] would restart istio-system/deployment/kiali');
    for (const v of values) {
      expect(run.stdout).not.toContain(v);
      expect(run.stderr).not.toContain(v);
    }
    expect(await versions()).toEqual(before);
  });

  it('plans from deploy/ when no cluster is reachable', async () => {
    const run = await cli(['--rotate', 'grafanaOidc', '--dry-run', '--json'], {
      KUBECONFIG: join(home, 'none'),
    });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('no cluster reachable');
    expect(JSON.parse(run.stdout)).toMatchObject({
      readersFrom: 'deploy',
      restarts: [{ namespace: 'fiware', kind: 'StatefulSet', name: 'grafana' }],
    });
    const real = await cli(['--rotate', 'grafanaOidc'], { KUBECONFIG: join(home, 'none') });
    expect(real.code).toBe(3);
    expect(real.stderr).toContain('[ERR_KUBECONFIG]');
  });
});

describe('bootstrap:secrets --rotate refusals', () => {
  it('refuses a database password with the reason, the manual procedure and the derived restarts, changing nothing', async () => {
    const before = await versions();
    const run = await cli(['--rotate', 'mongodb/orion-password']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'fiware/mongodb-credentials (orion-password) is rotated by hand, not by this command: MongoDB keeps',
    );
    expect(run.stderr).toContain("changeUserPassword('<user>', passwordPrompt())");
    expect(run.stderr).toContain(
      '3. restart what reads it: `kubectl -n fiware rollout restart deployment/orion statefulset/mongodb`',
    );
    expect(run.stderr).toContain('Nothing was changed.');
    expect(run.stderr).toContain('[ERR_ROTATE_MANUAL]');
    expect(await versions()).toEqual(before);
  });

  it('refuses a Secret that bootstrap has not created, changing no other copy', async () => {
    await core.deleteNamespacedSecret({ name: 'argocd-oidc', namespace: 'argocd' });
    try {
      const before = await versions();
      const run = await cli([
        '--rotate',
        'argocdOidc',
        '--keycloak-url',
        await closedKeycloakUrl(),
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('Secret argocd/argocd-oidc does not exist');
      expect(run.stderr).toContain('run `npm run bootstrap:secrets` first');
      expect(await versions()).toEqual(before);
    } finally {
      const s = planSecrets(ctx, () => undefined).create.find((x) => x.id === 'argocdOidc')!;
      await core.createNamespacedSecret({ namespace: 'argocd', body: s.secret as never });
    }
  });
});

describe('bootstrap:secrets --rotate', () => {
  it('rotates the CrateDB users: every key, QuantumLeap and Grafana restarted, the reconciler left to re-read its files, the backup CronJob left to its next run', async () => {
    const before = await data('fiware', 'cratedb-users');
    const others = await versions();
    const run = await cli(['--rotate', 'cratedbUsers']);
    expect(run.stderr).toBe(
      [
        '[1/3] write fiware/cratedb-users (quantumleap-password, backup-password, reader-manufracture-password, reader-smithereens-password)',
        '[2/3] restart fiware/deployment/quantumleap',
        '[3/3] restart fiware/statefulset/grafana',
        '',
      ].join('\n'),
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('restart  fiware/deployment/quantumleap');
    expect(run.stdout).toContain(
      'kept     fiware/statefulset/cratedb: mounts cratedb-users as files',
    );
    expect(run.stdout).toContain(
      'note     fiware/cratedb-users: the workloads that mount it apply the new values once the kubelet has refreshed the files',
    );
    const after = await data('fiware', 'cratedb-users');
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const k of Object.keys(before)) {
      expect(after[k]).not.toBe(before[k]);
      expect(after[k]).toMatch(/^[A-Za-z0-9_-]{32}$/);
    }
    expect(Date.parse((await restartedAt('Deployment', 'fiware', 'quantumleap'))!)).not.toBeNaN();
    expect(await restartedAt('StatefulSet', 'fiware', 'grafana')).toBeDefined();
    expect(await restartedAt('StatefulSet', 'fiware', 'cratedb')).toBeUndefined();
    // Nothing else was touched.
    const now = await versions();
    const changed = Object.keys(now).filter((k) => now[k] !== others[k]);
    expect(changed.sort()).toEqual([
      'Deployment fiware/quantumleap',
      'Secret fiware/cratedb-users',
      'StatefulSet fiware/grafana',
    ]);
  });

  it("replaces bootstrap's self-signed TLS pair with a new one, and refuses one a CA issued", async () => {
    const old = await data('istio-system', 'kitt4sme-ingress-tls');
    const run = await cli(['--rotate', 'ingressTls', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ restarts: [], keycloak: [] });
    const pair = await data('istio-system', 'kitt4sme-ingress-tls');
    expect(pair['tls.crt']).not.toBe(old['tls.crt']);
    const cert = new X509Certificate(pair['tls.crt']!);
    expect(cert.checkPrivateKey(createPrivateKey(pair['tls.key']!))).toBe(true);
    expect(cert.subjectAltName).toBe(`DNS:${ctx.config.ingress.host}`);

    // An operator put in a certificate from their CA: a rotation must not replace it.
    const dir = mkdtempSync(join(home, 'ca-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=Factory CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
    );
    ssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${ctx.config.ingress.host}`,
      '-keyout',
      'tls.key',
      '-out',
      'tls.csr',
    );
    ssl(
      'x509',
      '-req',
      '-in',
      'tls.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'tls.crt',
      '-days',
      '2',
    );
    const read = (f: string) => Buffer.from(readFileSync(join(dir, f))).toString('base64');
    const secret = await core.readNamespacedSecret({
      name: 'kitt4sme-ingress-tls',
      namespace: 'istio-system',
    });
    await core.replaceNamespacedSecret({
      name: 'kitt4sme-ingress-tls',
      namespace: 'istio-system',
      body: { ...secret, data: { 'tls.crt': read('tls.crt'), 'tls.key': read('tls.key') } },
    });
    const before = await versions();
    const refused = await cli(['--rotate', 'ingressTls/tls.key']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'istio-system/kitt4sme-ingress-tls (tls.crt, tls.key) is rotated by hand, not by this command: its certificate was issued by CN=Factory CA',
    );
    expect(refused.stderr).toContain('[ERR_ROTATE_MANUAL]');
    expect(await versions()).toEqual(before);
  });

  it('stops after writing every copy when Keycloak cannot be reached, says what is done and how to finish, and restarts nothing', async () => {
    const old = (await data('istio-system', 'kiali'))['oidc-secret'];
    const run = await cli([
      '--rotate',
      'oidc-client:kiali',
      '--keycloak-url',
      await closedKeycloakUrl(),
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'Done: wrote istio-system/kiali (oidc-secret), identity/keycloak-realm (KITT4SME_CLIENT_SECRET_KIALI).',
    );
    expect(run.stderr).toContain(
      'Not done: set in realm kitt4sme the secret of client kiali; restart istio-system/deployment/kiali.',
    );
    expect(run.stderr).toContain('Keycloak and the running pods still use the old value');
    expect(run.stderr).toContain('npm run realm:apply -- --keycloak-url');
    expect(run.stderr).toContain('  kubectl -n istio-system rollout restart deployment/kiali');
    expect(run.stderr).toContain('[ERR_KEYCLOAK_UNREACHABLE]');
    expect(run.stderr).toContain('[ERR_ROTATE_INCOMPLETE]');
    // Both copies hold the same new value; Kiali still runs with the old one.
    const kialiCopy = (await data('istio-system', 'kiali'))['oidc-secret'];
    expect(kialiCopy).not.toBe(old);
    expect((await data('identity', 'keycloak-realm')).KITT4SME_CLIENT_SECRET_KIALI).toBe(kialiCopy);
    expect(await restartedAt('Deployment', 'istio-system', 'kiali')).toBeUndefined();
  });

  it('stops at the first copy it may not write (RBAC), names the one written, and keeps the rest as they were', async () => {
    // `nobody` may read Secrets and workloads everywhere, but write Secrets only in fiware.
    const rbac = api.kubeConfig('admin').makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: {
        metadata: { name: 'rotate-reader' },
        rules: [
          { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] },
          {
            apiGroups: ['apps'],
            resources: ['deployments', 'statefulsets', 'daemonsets'],
            verbs: ['get', 'list'],
          },
        ],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'rotate-reader' },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'rotate-reader',
        },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'nobody' }],
      },
    });
    await rbac.createNamespacedRole({
      namespace: 'fiware',
      body: {
        metadata: { name: 'rotate-writer' },
        rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['update'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: 'fiware',
      body: {
        metadata: { name: 'rotate-writer' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'rotate-writer' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'nobody' }],
      },
    });
    const grafana = (await data('fiware', 'grafana-oidc'))['client-secret'];
    const realm = await data('identity', 'keycloak-realm');
    const run = await cli([
      '--rotate',
      'oidc-client:grafana',
      '--context',
      'nobody',
      '--keycloak-url',
      await closedKeycloakUrl(),
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'rotation of oidc-client:grafana stopped at: writing identity/keycloak-realm',
    );
    expect(run.stderr).toContain('[ERR_CLUSTER_FORBIDDEN]');
    expect(run.stderr).toContain('Done: wrote fiware/grafana-oidc (client-secret).');
    expect(run.stderr).toContain(
      'Not done: write identity/keycloak-realm (KITT4SME_CLIENT_SECRET_GRAFANA); set in realm kitt4sme the secret of client grafana; restart fiware/statefulset/grafana.',
    );
    expect(run.stderr).toContain('Run the same command again to finish');
    expect((await data('fiware', 'grafana-oidc'))['client-secret']).not.toBe(grafana);
    expect(await data('identity', 'keycloak-realm')).toEqual(realm);
  });
});
