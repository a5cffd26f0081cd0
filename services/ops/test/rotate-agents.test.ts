/**
 * `bootstrap:secrets --rotate agent:<client id>` / `agents` against the shared real Keycloak
 * (a realm of its own) and a real kube-apiserver: the old secret is refused, the new one is in
 * the agent's Secret and works, the agent's Deployments restart, other agents keep theirs, the
 * realm stays in sync with the fleet; an unknown agent or one without a client changes nothing.
 */
import * as k8s from '@kubernetes/client-node';

import { randomPassword } from '../../../platform/bootstrap-secrets.js';
import type { Cluster } from '../../../platform/cluster.js';
import { loadCluster } from '../../../platform/cluster.js';
import {
  FLEET_LABELS,
  agentClientId,
  agentClientSecretName,
} from '../../../platform/fleet/identity.js';
import type { AgentIdentity } from '../../../platform/fleet/realm.js';
import { agentsNamespace } from '../../../platform/fleet/resolve.js';
import { buildRealm, resolveRealm } from '../../../platform/realm.js';
import type { KubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { startKubeApiserver } from '../../../testing/real/kube-apiserver.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { issuerAt, platformContext, sharedKeycloak } from '../../../testing/real/keycloak.js';
import { reconcileAgentClients } from '../../identity/src/agent-clients.js';
import { applyRealm } from '../../identity/src/realm-apply.js';
import type { AdminLogin } from '../../identity/src/realm-apply.js';
import { RESTARTED_AT, rotateAgents } from '../src/rotate.js';

const REALM = 'kitt4sme-rotate-agents';
const ctx = platformContext((c) => ({ ...c, identity: { ...c.identity, realm: REALM } }));
const TENANTS = ctx.config.tenants.map((t) => t.name);

const detector: AgentIdentity = {
  id: '5d8be2d4-d7b3-4a6b-8c9d-0e1f2a3b4c5d',
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
const fleet = [detector, watchdog];

let kc: KeycloakServer;
let api: KubeApiserver;
let cluster: Cluster;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let login: AdminLogin;

async function credentials(a: AgentIdentity): Promise<{ id: string; secret: string }> {
  const s = await core.readNamespacedSecret({
    namespace: agentsNamespace(a.tenant),
    name: agentClientSecretName(a.id),
  });
  const read = (k: string) => Buffer.from(s.data![k]!, 'base64').toString('utf8');
  return { id: read('client-id'), secret: read('client-secret') };
}

async function grantStatus(clientId: string, secret: string): Promise<number> {
  const res = await fetch(`${issuerAt(kc, REALM)}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: secret,
    }),
  });
  await res.body?.cancel();
  return res.status;
}

const rotate = (id: string, agents = fleet) =>
  rotateAgents({
    ctx,
    cluster,
    fleet: agents,
    id,
    keycloakUrl: kc.url,
    adminPassword: kc.adminPassword,
  });

beforeAll(async () => {
  [kc, api] = await Promise.all([sharedKeycloak(), startKubeApiserver({ crds: false })]);
  login = { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword };
  const def = buildRealm(ctx);
  const values = Object.fromEntries(def.placeholders.map((p) => [p.env, randomPassword()]));
  await applyRealm(login, resolveRealm(def, values));
  cluster = loadCluster({ kubeconfig: api.kubeconfigPath });
  core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
  for (const t of TENANTS)
    await core.createNamespace({ body: { metadata: { name: agentsNamespace(t) } } });
  await reconcileAgentClients({ login, realm: REALM, agents: fleet, tenants: TENANTS, cluster });
  // The detector's Deployment, as the fleet renders it: labelled with its id, reading the Secret.
  const name = `${agentClientId(detector.id)}-line-1`;
  await apps.createNamespacedDeployment({
    namespace: agentsNamespace(detector.tenant),
    body: {
      metadata: { name, labels: { [FLEET_LABELS.agentId]: detector.id } },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                name: 'agent',
                image: 'registry.example/agent:1.0.0',
                envFrom: [{ secretRef: { name: agentClientSecretName(detector.id) } }],
              },
            ],
          },
        },
      },
    },
  });
}, 300_000);

afterAll(async () => {
  await api?.stop();
});

describe('rotateAgents', () => {
  it("gives an agent a new secret: the old one is refused, the Secret's works, its Deployments restart", async () => {
    const old = await credentials(detector);
    const other = await credentials(watchdog);
    const report = await rotate(`agent:${agentClientId(detector.id)}`);
    expect(report).toMatchObject({
      keycloak: [{ kind: 'client-secret', id: agentClientId(detector.id), outcome: 'set' }],
      secrets: [
        {
          namespace: 'agents-manufracture',
          name: agentClientSecretName(detector.id),
          keys: ['client-secret'],
        },
      ],
      restarts: [
        {
          namespace: 'agents-manufracture',
          kind: 'Deployment',
          name: `${agentClientId(detector.id)}-line-1`,
        },
      ],
    });
    const now = await credentials(detector);
    expect(now.secret).not.toBe(old.secret);
    expect(await grantStatus(old.id, old.secret)).toBe(401);
    expect(await grantStatus(now.id, now.secret)).toBe(200);
    const d = await apps.readNamespacedDeployment({
      namespace: 'agents-manufracture',
      name: `${agentClientId(detector.id)}-line-1`,
    });
    expect(d.spec!.template.metadata!.annotations?.[RESTARTED_AT]).toBeDefined();
    // The other agent keeps its secret, and the realm is in sync with the fleet.
    expect(await credentials(watchdog)).toEqual(other);
    expect(await grantStatus(other.id, other.secret)).toBe(200);
    const again = await reconcileAgentClients({
      login,
      realm: REALM,
      agents: fleet,
      tenants: TENANTS,
      cluster,
    });
    expect(again).toMatchObject({ changes: [], secrets: [], restarts: [] });
  });

  it('rotates every agent with `agents`', async () => {
    const before = await Promise.all(fleet.map(credentials));
    const report = await rotate('agents');
    expect(report.keycloak.map((k) => k.id)).toEqual(fleet.map((a) => agentClientId(a.id)));
    for (const [i, a] of fleet.entries()) {
      const now = await credentials(a);
      expect(now.secret).not.toBe(before[i]!.secret);
      expect(await grantStatus(before[i]!.id, before[i]!.secret)).toBe(401);
      expect(await grantStatus(now.id, now.secret)).toBe(200);
    }
  });

  it('fails on an agent the fleet lacks, or one without a client yet, changing nothing', async () => {
    const before = await credentials(detector);
    await expect(rotate('agent:agent-000000000000')).rejects.toMatchObject({
      code: 'ERR_ROTATE_UNKNOWN_ID',
      message: expect.stringContaining(
        `agent:${agentClientId(detector.id)} (manufracture/detector)`,
      ),
    });
    const newcomer: AgentIdentity = { ...watchdog, id: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' };
    await expect(rotate('agents', [...fleet, newcomer])).rejects.toMatchObject({
      code: 'ERR_AGENT_NOT_RECONCILED',
    });
    expect(await credentials(detector)).toEqual(before);
    expect(await grantStatus(before.id, before.secret)).toBe(200);
  });
});
