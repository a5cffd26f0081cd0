/**
 * The agents' Keycloak clients and their Secrets, on the shared real Keycloak (in a realm of
 * their own) and a real kube-apiserver: an agent's client-credentials token carries azp, its
 * tenant, its needs, the FIWARE audience and no roles; a need added shows in the next token;
 * a removed agent's client is deleted (its secret refused) and its Secret gone; other clients
 * are untouched; the Secret's secret works; a second run changes nothing; a rotation makes
 * the old secret fail and the new one work; bad input changes nothing.
 */
import * as k8s from '@kubernetes/client-node';

import { randomPassword } from '../../../platform/bootstrap-secrets.js';
import type { Cluster } from '../../../platform/cluster.js';
import { loadCluster } from '../../../platform/cluster.js';
import {
  AGENT_CLIENT_SECRET_KEYS,
  agentClientId,
  agentClientSecretName,
} from '../../../platform/fleet/identity.js';
import type { AgentIdentity } from '../../../platform/fleet/realm.js';
import { agentsNamespace } from '../../../platform/fleet/resolve.js';
import { RESOURCE_CLIENTS, machineClientId, secretEnvName } from '../../../platform/identity.js';
import { buildRealm, resolveRealm } from '../../../platform/realm.js';
import type { KubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { startKubeApiserver } from '../../../testing/real/kube-apiserver.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { issuerAt, platformContext, sharedKeycloak } from '../../../testing/real/keycloak.js';
import { reconcileAgentClients } from '../src/agent-clients.js';
import type { AgentClientsOptions } from '../src/agent-clients.js';
import { KeycloakAdmin, applyRealm } from '../src/realm-apply.js';
import type { AdminLogin } from '../src/realm-apply.js';
import { peekClaims } from '../src/tokens.js';

const REALM = 'kitt4sme-agents';
const ctx = platformContext((c) => ({ ...c, identity: { ...c.identity, realm: REALM } }));
const TENANTS = ctx.config.tenants.map((t) => t.name);

const detector: AgentIdentity = {
  id: '0b7c1e2a-4d5f-4a6b-8c9d-0e1f2a3b4c5d',
  name: 'detector',
  tenant: 'manufracture',
  needs: ['orion:read'],
};
const watchdog: AgentIdentity = {
  id: '26e6df54-5c74-4b0e-9185-0f558989e3d2',
  name: 'watchdog',
  tenant: 'smithereens',
  needs: [],
};

let kc: KeycloakServer;
let api: KubeApiserver;
let cluster: Cluster;
let core: k8s.CoreV1Api;
let login: AdminLogin;
const values: Record<string, string> = {};

const reconcile = (agents: readonly AgentIdentity[], more: Partial<AgentClientsOptions> = {}) =>
  reconcileAgentClients({ login, realm: REALM, agents, tenants: TENANTS, cluster, ...more });

/** A client-credentials grant: the status, and the access token's claims when it worked. */
async function grant(clientId: string, secret: string) {
  const res = await fetch(`${issuerAt(kc, REALM)}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: secret,
    }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  return {
    status: res.status,
    body,
    claims: typeof body.access_token === 'string' ? peekClaims(body.access_token) : undefined,
  };
}

/** The agent's Secret as the pods read it, or undefined. */
async function agentSecret(a: AgentIdentity): Promise<Record<string, string> | undefined> {
  try {
    const s = await core.readNamespacedSecret({
      namespace: agentsNamespace(a.tenant),
      name: agentClientSecretName(a.id),
    });
    return Object.fromEntries(
      Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** A token of the agent, from the credentials in its Secret. */
async function tokenFromSecret(a: AgentIdentity) {
  const s = (await agentSecret(a))!;
  return grant(s[AGENT_CLIENT_SECRET_KEYS.clientId]!, s[AGENT_CLIENT_SECRET_KEYS.clientSecret]!);
}

beforeAll(async () => {
  [kc, api] = await Promise.all([sharedKeycloak(), startKubeApiserver({ crds: false })]);
  login = { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword };
  const def = buildRealm(ctx);
  for (const p of def.placeholders) values[p.env] = randomPassword();
  await applyRealm(login, resolveRealm(def, values));
  cluster = loadCluster({ kubeconfig: api.kubeconfigPath });
  core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  for (const t of TENANTS)
    await core.createNamespace({ body: { metadata: { name: agentsNamespace(t) } } });
}, 300_000);

afterAll(async () => {
  await api?.stop();
});

describe('reconcileAgentClients', () => {
  it('creates a client per agent whose token carries azp, its tenant, its needs, the FIWARE audience and no roles', async () => {
    const res = await reconcile([detector, watchdog]);
    expect(res.changes).toEqual(
      expect.arrayContaining([
        `client ${agentClientId(detector.id)}: created`,
        `client ${agentClientId(watchdog.id)}: created`,
      ]),
    );
    expect(res.secrets).toEqual([
      {
        namespace: 'agents-manufracture',
        name: agentClientSecretName(detector.id),
        outcome: 'created',
      },
      {
        namespace: 'agents-smithereens',
        name: agentClientSecretName(watchdog.id),
        outcome: 'created',
      },
    ]);
    const t = await tokenFromSecret(detector);
    expect(t.status).toBe(200);
    expect(t.body.refresh_token).toBeUndefined();
    expect(t.claims).toMatchObject({
      azp: agentClientId(detector.id),
      tenants: ['manufracture'],
      needs: ['orion:read'],
    });
    expect([t.claims!.aud].flat()).toEqual([RESOURCE_CLIENTS.fiware]);
    for (const claim of ['roles', 'realm_access', 'resource_access', 'groups'])
      expect(t.claims![claim]).toBeUndefined();
    const w = await tokenFromSecret(watchdog);
    expect(w.claims).toMatchObject({
      azp: agentClientId(watchdog.id),
      tenants: ['smithereens'],
      needs: [],
    });
  });

  it('is idempotent: a second run changes nothing in Keycloak or the cluster', async () => {
    const before = await agentSecret(detector);
    const res = await reconcile([detector, watchdog]);
    expect(res).toEqual({ realm: REALM, changes: [], secrets: [], restarts: [] });
    expect(await agentSecret(detector)).toEqual(before);
  });

  it('makes a confidential client with no role scope, no role-bearing client scope and no roles on its service account', async () => {
    const admin = new KeycloakAdmin(login, REALM);
    await admin.authenticate();
    const c = (await admin.findClient(agentClientId(detector.id)))!;
    const id = String(c.id);
    expect(c).toMatchObject({
      publicClient: false,
      serviceAccountsEnabled: true,
      standardFlowEnabled: false,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
      fullScopeAllowed: false,
      attributes: expect.objectContaining({
        'oauth2.device.authorization.grant.enabled': 'false',
        'client_credentials.use_refresh_token': 'false',
        'kitt4sme.fleet.agent-id': detector.id,
      }),
    });
    const names = (reps: Record<string, unknown>[] | undefined) =>
      (reps ?? []).map((r) => String(r.name)).sort();
    const get = (path: string) =>
      admin.call<Record<string, unknown>[]>('GET', `/${REALM}/clients/${id}${path}`);
    expect(names(await get('/default-client-scopes'))).toEqual(['basic']);
    expect(names(await get('/optional-client-scopes'))).toEqual([]);
    expect(names(await get('/scope-mappings/realm'))).toEqual([]);
    const sa = (await admin.call<Record<string, unknown>>(
      'GET',
      `/${REALM}/clients/${id}/service-account-user`,
    ))!;
    expect(
      names(
        await admin.call<Record<string, unknown>[]>(
          'GET',
          `/${REALM}/users/${String(sa.id)}/role-mappings/realm`,
        ),
      ),
    ).toEqual([]);
  });

  it('gives no other flow than client credentials', async () => {
    const s = (await agentSecret(detector))!;
    const password = await fetch(`${issuerAt(kc, REALM)}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: s['client-id']!,
        client_secret: s['client-secret']!,
        username: 'manufracture-demo',
        password: values[secretEnvName('user', 'manufracture-demo')]!,
      }),
    });
    expect({ status: password.status, body: await password.json() }).toEqual({
      status: 400,
      body: {
        error: 'unauthorized_client',
        error_description: 'Client not allowed for direct access grants',
      },
    });
  });

  it('puts a need added to the record into the next token', async () => {
    const res = await reconcile([{ ...detector, needs: ['orion:read', 'orion:write'] }, watchdog]);
    expect(res.changes).toEqual([
      `client ${agentClientId(detector.id)}: mapper needs removed`,
      `client ${agentClientId(detector.id)}: mapper needs set`,
    ]);
    expect(res.secrets).toEqual([]);
    expect((await tokenFromSecret(detector)).claims!.needs).toEqual(['orion:read', 'orion:write']);
  });

  it('rotates an agent: the old secret is refused, the new one works and is in the Secret', async () => {
    const old = (await agentSecret(detector))!['client-secret']!;
    const agents = [{ ...detector, needs: ['orion:read', 'orion:write'] } as const, watchdog];
    const res = await reconcile(agents, { rotate: [detector.id] });
    expect(res.changes).toEqual([`client ${agentClientId(detector.id)}: secret regenerated`]);
    expect(res.secrets).toEqual([
      {
        namespace: 'agents-manufracture',
        name: agentClientSecretName(detector.id),
        outcome: 'updated',
      },
    ]);
    const now = (await agentSecret(detector))!['client-secret']!;
    expect(now).not.toBe(old);
    expect((await grant(agentClientId(detector.id), old)).status).toBe(401);
    expect((await tokenFromSecret(detector)).status).toBe(200);
    // The other agent kept its secret.
    expect((await tokenFromSecret(watchdog)).status).toBe(200);
  });

  it("deletes a removed agent's client and Secret, and leaves every other client alone", async () => {
    const admin = new KeycloakAdmin(login, REALM);
    await admin.authenticate();
    const others = async () =>
      ((await admin.call<Record<string, unknown>[]>('GET', `/${REALM}/clients`)) ?? [])
        .filter((c) => !String(c.clientId).startsWith('agent-'))
        .map((c) => ({ ...c }));
    const before = await others();
    const gone = (await agentSecret(watchdog))!;
    const res = await reconcile([{ ...detector, needs: ['orion:read', 'orion:write'] }]);
    expect(res.changes).toEqual([
      `client ${agentClientId(watchdog.id)}: deleted (its agent is gone)`,
    ]);
    expect(res.secrets).toEqual([
      {
        namespace: 'agents-smithereens',
        name: agentClientSecretName(watchdog.id),
        outcome: 'deleted',
      },
    ]);
    expect(await agentSecret(watchdog)).toBeUndefined();
    expect((await grant(gone['client-id']!, gone['client-secret']!)).status).toBe(401);
    expect(await others()).toEqual(before);
    // A machine client of the realm still works.
    const scenarios = machineClientId('manufracture', 'scenarios');
    expect((await grant(scenarios, values[secretEnvName('client', scenarios)]!)).status).toBe(200);
  });

  it('fails on a client of the same id that is not an agent’s, changing nothing', async () => {
    const admin = new KeycloakAdmin(login, REALM);
    await admin.authenticate();
    await admin.call('POST', `/${REALM}/clients`, {
      clientId: agentClientId(watchdog.id),
      publicClient: false,
    });
    await expect(reconcile([detector, watchdog])).rejects.toMatchObject({
      code: 'ERR_REALM_APPLY',
      message: expect.stringContaining('is not an agent'),
    });
    const foreign = await admin.findClient(agentClientId(watchdog.id));
    await admin.call('DELETE', `/${REALM}/clients/${String(foreign!.id)}`);
  });

  it('fails before any change when Keycloak is down or the namespace is missing', async () => {
    const before = await agentSecret(detector);
    await expect(
      reconcile([watchdog], { login: { ...login, keycloakUrl: 'http://127.0.0.1:9/auth' } }),
    ).rejects.toMatchObject({ code: 'ERR_KEYCLOAK_UNREACHABLE' });
    await expect(reconcile([detector, { ...watchdog, tenant: 'nowhere' }])).rejects.toMatchObject({
      code: 'ERR_AGENT_NAMESPACE_MISSING',
      message: expect.stringContaining('agents-nowhere'),
    });
    // Nothing was changed: the detector's Secret is as it was, no watchdog client came back.
    expect(await agentSecret(detector)).toEqual(before);
    const admin = new KeycloakAdmin(login, REALM);
    await admin.authenticate();
    expect(await admin.findClient(agentClientId(watchdog.id))).toBeUndefined();
  });
});
