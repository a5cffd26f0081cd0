/**
 * Rotation against the real Keycloak (the shared one of the test run, in a realm of its own so
 * no other test's secrets change) and a real kube-apiserver holding the bootstrap Secrets and
 * deploy/'s workloads: a device client's old secret stops working (401 invalid_client) and the
 * new one works; an application's client secret is the same in both copies and in Keycloak;
 * a person's password changes; a rotation that Keycloak stops part-way breaks nothing, and a
 * rerun finishes it.
 */
import * as k8s from '@kubernetes/client-node';

import { planSecrets, randomPassword } from '../../../platform/bootstrap-secrets.js';
import type { Cluster } from '../../../platform/cluster.js';
import { loadCluster } from '../../../platform/cluster.js';
import { machineClientId, secretEnvName } from '../../../platform/identity.js';
import { buildRealm, resolveRealm } from '../../../platform/realm.js';
import { KEYCLOAK_REALM_SECRET } from '../../../platform/secrets.js';
import type { KubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { startKubeApiserver } from '../../../testing/real/kube-apiserver.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { issuerAt, platformContext, sharedKeycloak } from '../../../testing/real/keycloak.js';
import { KeycloakAdmin, applyRealm } from '../../identity/src/realm-apply.js';
import { fetchToken } from '../../identity/src/tokens.js';
import { readDeployObjects } from '../src/deploy.js';
import { RESTARTED_AT, WORKLOAD_KINDS, rotateSecret } from '../src/rotate.js';

const REALM = 'kitt4sme-rotate';
const ctx = platformContext((c) => ({ ...c, identity: { ...c.identity, realm: REALM } }));
const DEVICES = machineClientId('manufracture', 'devices');

let kc: KeycloakServer;
let api: KubeApiserver;
let cluster: Cluster;
let core: k8s.CoreV1Api;
/** The realm's values as first imported. */
const initial: Record<string, string> = {};

/** The current value of a key of the keycloak-realm Secret. */
async function realmValue(env: string): Promise<string> {
  const s = await core.readNamespacedSecret({ name: KEYCLOAK_REALM_SECRET, namespace: 'identity' });
  return Buffer.from(s.data![env]!, 'base64').toString('utf8');
}

/** A client-credentials grant as a device sends it: the status and Keycloak's answer. */
async function clientCredentials(clientId: string, secret: string) {
  const res = await fetch(`${issuerAt(kc, REALM)}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: secret,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** What realm:apply would change to bring the realm to its definition with the Secret's values. */
async function driftFromDefinition(): Promise<readonly string[]> {
  const s = await core.readNamespacedSecret({ name: KEYCLOAK_REALM_SECRET, namespace: 'identity' });
  const values = Object.fromEntries(
    Object.entries(s.data!).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
  const res = await applyRealm(
    { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
    resolveRealm(buildRealm(ctx), values),
  );
  return res.changes;
}

/**
 * Keycloak's answer to a client secret it does not hold: 401, as RFC 6749 §5.2 has it for
 * invalid_client; Keycloak 26.7 names the error unauthorized_client (seen with the pinned
 * keycloak-quarkus-dist), its description says which.
 */
const REJECTED = {
  status: 401,
  body: {
    error: 'unauthorized_client',
    error_description: 'Invalid client or Invalid client credentials',
  },
};

const rotate = (id: string, opts: { adminPassword?: string } = {}) =>
  rotateSecret({ ctx, cluster, id, keycloakUrl: kc.url, ...opts });

beforeAll(async () => {
  [kc, api] = await Promise.all([sharedKeycloak(), startKubeApiserver({ crds: false })]);
  const def = buildRealm(ctx);
  for (const p of def.placeholders) initial[p.env] = randomPassword();
  await applyRealm(
    { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
    resolveRealm(def, initial),
  );
  // The cluster holds what bootstrap made for this realm: its values, the applications'
  // copies of them, and Keycloak's admin password.
  cluster = loadCluster({ kubeconfig: api.kubeconfigPath });
  core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  for (const { name } of ctx.managedNamespaces)
    await core.createNamespace({ body: { metadata: { name } } });
  const existing: Record<string, Record<string, string>> = {
    [KEYCLOAK_REALM_SECRET]: initial,
    'keycloak-admin': { password: kc.adminPassword },
  };
  const plan = planSecrets(ctx, (_ns, name) => existing[name]);
  for (const [name, values] of Object.entries(existing))
    await core.createNamespacedSecret({
      namespace: 'identity',
      body: { metadata: { name }, stringData: values },
    });
  for (const s of plan.create)
    await core.createNamespacedSecret({ namespace: s.namespace, body: s.secret as never });
  const objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  for (const { object } of readDeployObjects())
    if ((WORKLOAD_KINDS as readonly string[]).includes(object.kind!)) await objects.create(object);
}, 300_000);

afterAll(async () => {
  await api?.stop();
});

describe('rotation against the real Keycloak', () => {
  it("stops a device client's old secret (401, invalid client credentials) and makes the new one work", async () => {
    const old = initial[secretEnvName('client', DEVICES)]!;
    expect((await clientCredentials(DEVICES, old)).status).toBe(200);

    const report = await rotate(`oidc-client:${DEVICES}`);
    expect(report.keycloak).toEqual([{ kind: 'client-secret', id: DEVICES, outcome: 'set' }]);
    expect(report.secrets).toEqual([
      {
        namespace: 'identity',
        name: KEYCLOAK_REALM_SECRET,
        keys: [secretEnvName('client', DEVICES)],
      },
    ]);
    expect(report.restarts).toEqual([]);
    expect(report.notes.join('\n')).toContain(`client ${DEVICES}: whoever holds its secret`);

    const fresh = await realmValue(secretEnvName('client', DEVICES));
    expect(fresh).not.toBe(old);
    const refused = await clientCredentials(DEVICES, old);
    expect(refused).toEqual(REJECTED);
    const token = await fetchToken({
      keycloakUrl: kc.url,
      realm: REALM,
      clientId: DEVICES,
      clientSecret: fresh,
    });
    expect(token.claims.azp).toBe(DEVICES);
    expect(token.claims.tenants).toEqual(['manufracture']);
    // The rest of the client is as the realm defines it: realm:apply with the Secret's values
    // finds nothing to change.
    expect(await driftFromDefinition()).toEqual([]);
    // Another tenant's device client was not rotated.
    const other = machineClientId('smithereens', 'devices');
    expect((await clientCredentials(other, initial[secretEnvName('client', other)]!)).status).toBe(
      200,
    );
  });

  it("gives Grafana's client secret the same new value in both copies and in Keycloak, and restarts Grafana only", async () => {
    const env = secretEnvName('client', 'grafana');
    const report = await rotate('grafanaOidc');
    const grafanaCopy = Buffer.from(
      (await core.readNamespacedSecret({ name: 'grafana-oidc', namespace: 'fiware' })).data![
        'client-secret'
      ]!,
      'base64',
    ).toString('utf8');
    expect(grafanaCopy).not.toBe(initial[env]);
    expect(await realmValue(env)).toBe(grafanaCopy);
    const admin = new KeycloakAdmin(
      { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
      REALM,
    );
    await admin.authenticate();
    const client = (await admin.findClient('grafana'))!;
    const held = await admin.call<{ value: string }>(
      'GET',
      `/${REALM}/clients/${String(client.id)}/client-secret`,
    );
    expect(held!.value).toBe(grafanaCopy);
    expect(await clientCredentials('grafana', initial[env]!)).toEqual(REJECTED);
    expect(await driftFromDefinition()).toEqual([]);

    expect(report.restarts).toEqual([
      { namespace: 'fiware', kind: 'StatefulSet', name: 'grafana' },
    ]);
    expect(report.kept.map((k) => k.name)).toEqual(['keycloak']);
    const apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
    const grafana = await apps.readNamespacedStatefulSet({ name: 'grafana', namespace: 'fiware' });
    expect(grafana.spec!.template.metadata!.annotations![RESTARTED_AT]).toBeDefined();
    const keycloak = await apps.readNamespacedDeployment({
      name: 'keycloak',
      namespace: 'identity',
    });
    expect(keycloak.spec!.template.metadata?.annotations?.[RESTARTED_AT]).toBeUndefined();
  });

  it("changes a person's password: the old one is refused, the new one logs in", async () => {
    const user = 'manufracture-demo';
    const env = secretEnvName('user', user);
    const via = machineClientId('manufracture', 'scenarios');
    const login = async (password: string) =>
      fetchToken({
        keycloakUrl: kc.url,
        realm: REALM,
        clientId: via,
        clientSecret: initial[secretEnvName('client', via)]!,
        user: { username: user, password },
      });
    const person = (await login(initial[env]!)).claims.sub;
    const report = await rotate(`keycloakRealm/${env}`);
    expect(report.keycloak).toEqual([{ kind: 'user-password', id: user, outcome: 'set' }]);
    await expect(login(initial[env]!)).rejects.toMatchObject({
      code: 'ERR_CREDENTIALS_REJECTED',
      message: expect.stringContaining('invalid_grant'),
    });
    expect((await login(await realmValue(env))).claims.sub).toBe(person);
  });

  it('breaks nothing when Keycloak refuses the admin login after the Secrets are written, and a rerun finishes', async () => {
    const client = machineClientId('smithereens', 'devices');
    const env = secretEnvName('client', client);
    const old = initial[env]!;
    await expect(
      rotate(`oidc-client:${client}`, { adminPassword: 'not-the-password' }),
    ).rejects.toMatchObject({
      code: 'ERR_ROTATE_INCOMPLETE',
      message: expect.stringContaining(
        `Not done: set in realm ${REALM} the secret of client ${client}.`,
      ),
    });
    const written = await realmValue(env);
    expect(written).not.toBe(old);
    // Keycloak still has the old secret: its holders keep working until the rerun.
    expect((await clientCredentials(client, old)).status).toBe(200);
    expect(await clientCredentials(client, written)).toEqual(REJECTED);

    const report = await rotate(`oidc-client:${client}`);
    expect(report.keycloak).toEqual([{ kind: 'client-secret', id: client, outcome: 'set' }]);
    const final = await realmValue(env);
    expect(final).not.toBe(written);
    expect((await clientCredentials(client, final)).status).toBe(200);
    for (const stale of [old, written])
      expect(await clientCredentials(client, stale)).toEqual(REJECTED);
  });
});
