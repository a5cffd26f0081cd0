/**
 * The agents' Keycloak clients in the rendered fleet (cdk8s/lib/fleet/identity.ts): a Sync
 * hook Job between the agents list and RBAC (wave 0) and the agents' Deployments (wave 2),
 * running the identity image's realm-apply on the list the fleet renders, with the admin
 * password from keycloak-admin; RBAC on Secrets and Deployments of each agents namespace only;
 * and, through the Istio interpreter with the platform's own policies, exactly the calls to
 * Keycloak it needs: the job its admin login and the realm's clients, each agent the token
 * endpoint.
 */
import { loadPlatformContext } from '../../platform/context.js';
import { AGENT_ENV, agentClientId } from '../../platform/fleet/identity.js';
import { agentIdentities, parseAgentsFile } from '../../platform/fleet/agents-list.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { agentObjectName, agentsNamespace, loadFleet } from '../../platform/fleet/resolve.js';
import { meshPrincipal } from '../../platform/mesh.js';
import { renderFleet } from '../lib/fleet/agents.js';
import { AGENT_CLIENTS_JOB } from '../lib/fleet/identity.js';
import type { KubeObject } from '../lib/objects.js';
import type { MeshRequest, MeshWorkload } from '../../testing/istio/mesh.js';
import { IstioMesh } from '../../testing/istio/mesh.js';
import { ROOT, synth } from '../../testing/support/synth.js';

const ctx = loadPlatformContext();
const fleet = loadFleet(ROOT, FLEET_DIR, ctx);
const objects = renderFleet(ctx, fleet).objects as any[];
const find = (kind: string, name: string, namespace?: string): any =>
  objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );

describe('the agents’ clients’ job, rendered with the fleet', () => {
  const job = find('Job', AGENT_CLIENTS_JOB);

  it('is a Sync hook after the agents list and before the agents’ Deployments, replaced on each sync', () => {
    expect(job.metadata.namespace).toBe(ctx.componentNamespace('keycloak'));
    expect(job.metadata.annotations).toMatchObject({
      'argocd.argoproj.io/hook': 'Sync',
      'argocd.argoproj.io/hook-delete-policy': 'BeforeHookCreation',
      'argocd.argoproj.io/sync-wave': '1',
    });
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    expect(deployments.length).toBeGreaterThan(0);
    for (const d of deployments)
      expect(d.metadata.annotations['argocd.argoproj.io/sync-wave']).toBe('2');
    // Everything else the job needs is in wave 0 (no wave annotation).
    for (const kind of ['ConfigMap', 'ServiceAccount', 'Role', 'RoleBinding', 'Namespace'])
      for (const o of objects.filter((x) => x.kind === kind))
        expect(o.metadata.annotations?.['argocd.argoproj.io/sync-wave']).toBeUndefined();
  });

  it("runs realm-apply --agents of the identity image on the fleet's agents list, with the admin password from keycloak-admin", () => {
    const pod = job.spec.template.spec;
    const [c] = pod.containers;
    expect(c.image).toBe(ctx.image('identity'));
    expect(c.args).toEqual([
      '--keycloak-url',
      `http://keycloak.identity.svc.cluster.local:8080/auth`,
      '--agents',
      '--agents-file',
      '/fleet/agents.json',
    ]);
    expect(c.env).toEqual([
      {
        name: 'KEYCLOAK_ADMIN_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'keycloak-admin', key: 'password' } },
      },
    ]);
    expect(pod.serviceAccountName).toBe(AGENT_CLIENTS_JOB);
    expect(pod.volumes).toEqual([
      { name: 'agents', configMap: { name: AGENT_CLIENTS_JOB, defaultMode: 0o444 } },
    ]);
    const list = find('ConfigMap', AGENT_CLIENTS_JOB);
    expect(parseAgentsFile(list.data['agents.json'])).toEqual(agentIdentities(fleet.agents));
    expect(fleet.agents.length).toBeGreaterThanOrEqual(3);
  });

  it('may write Secrets (and restart Deployments) in each agents namespace, and nothing else', () => {
    for (const t of ctx.config.tenants) {
      const ns = agentsNamespace(t.name);
      expect(find('Role', AGENT_CLIENTS_JOB, ns).rules).toEqual([
        {
          apiGroups: [''],
          resources: ['secrets'],
          verbs: ['get', 'list', 'create', 'patch', 'delete'],
        },
        { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'patch'] },
      ]);
      expect(find('RoleBinding', AGENT_CLIENTS_JOB, ns).subjects).toEqual([
        { kind: 'ServiceAccount', name: AGENT_CLIENTS_JOB, namespace: 'identity' },
      ]);
    }
    expect(objects.filter((o) => o.kind === 'Role').map((o) => o.metadata.namespace)).toEqual(
      ctx.config.tenants.map((t) => agentsNamespace(t.name)),
    );
  });

  it("gives the agents the token URL the job's grants open", () => {
    const d = objects.find((o) => o.kind === 'Deployment');
    const url = d.spec.template.spec.containers[0].env.find(
      (e: any) => e.name === AGENT_ENV.tokenUrl,
    ).value;
    expect(url).toBe(
      `http://keycloak.identity.svc.cluster.local:8080${ctx.realmEndpointPath('token')}`,
    );
  });
});

describe('calls to Keycloak, through the Istio interpreter', () => {
  const platform = synth().objects.map((o) => o.object) as KubeObject[];
  const mesh = new IstioMesh([...platform, ...objects]);
  const keycloakPod = platform.find(
    (o) => o.kind === 'Deployment' && o.metadata.name === 'keycloak',
  ) as any;
  const keycloak: MeshWorkload = {
    namespace: keycloakPod.metadata.namespace,
    labels: keycloakPod.spec.template.metadata.labels,
  };
  const realm = `/auth/realms/${ctx.config.identity.realm}`;
  const admin = `/auth/admin/realms/${ctx.config.identity.realm}`;
  const job = meshPrincipal('identity', AGENT_CLIENTS_JOB);
  const [first] = fleet.agents;
  const agent = meshPrincipal(agentsNamespace(first!.tenant), agentObjectName(first!.id));
  const req = (principal: string, method: string, path: string): MeshRequest => ({
    principal,
    port: 8080,
    method,
    path,
  });
  const decide = (principal: string, method: string, path: string) =>
    mesh.authorize(keycloak, req(principal, method, path)).action;

  it("lets the job log in as admin and manage the realm's clients and service accounts", () => {
    expect(decide(job, 'POST', '/auth/realms/master/protocol/openid-connect/token')).toBe('allow');
    expect(decide(job, 'GET', admin)).toBe('allow');
    expect(decide(job, 'GET', `${admin}/clients`)).toBe('allow');
    expect(decide(job, 'POST', `${admin}/clients/abc/client-secret`)).toBe('allow');
    expect(decide(job, 'DELETE', `${admin}/clients/abc`)).toBe('allow');
    expect(decide(job, 'DELETE', `${admin}/users/abc/role-mappings/realm`)).toBe('allow');
  });

  it("refuses the job anything else of Keycloak's admin API: the master realm, other realms, the realm's settings and groups", () => {
    expect(decide(job, 'GET', '/auth/admin/realms/master/users')).toBe('deny');
    expect(decide(job, 'GET', '/auth/admin/realms/other/clients')).toBe('deny');
    expect(decide(job, 'PUT', admin)).toBe('deny');
    expect(decide(job, 'POST', `${admin}/groups`)).toBe('deny');
    expect(decide(job, 'PUT', `${admin}/users/abc/reset-password`)).toBe('deny');
    expect(decide(job, 'GET', `${admin}/clientsx`)).toBe('deny');
    expect(decide(job, 'POST', `${realm}/protocol/openid-connect/token`)).toBe('deny');
  });

  it('lets each agent ask for its token, and nothing else of Keycloak', () => {
    expect(agentClientId(first!.id)).toBe(agentObjectName(first!.id));
    expect(decide(agent, 'POST', `${realm}/protocol/openid-connect/token`)).toBe('allow');
    expect(decide(agent, 'GET', `${realm}/protocol/openid-connect/token`)).toBe('deny');
    expect(decide(agent, 'GET', `${admin}/clients`)).toBe('deny');
    expect(decide(agent, 'POST', '/auth/realms/master/protocol/openid-connect/token')).toBe('deny');
    // A workload of an agents namespace that is no agent: refused.
    expect(
      decide(
        meshPrincipal(agentsNamespace(first!.tenant), 'default'),
        'POST',
        `${realm}/protocol/openid-connect/token`,
      ),
    ).toBe('deny');
  });
});
