/**
 * The agents' Keycloak clients, reconciled with the fleet records, and their credentials
 * written where the agents read them: `npm run realm:apply -- --agents`, run after each sync
 * of the fleet by its hook Job (cdk8s/lib/fleet/identity.ts).
 *
 * - Keycloak: each agent's client (platform/fleet/realm.ts) is created when missing and made
 *   exactly its definition otherwise (fields, mappers, client scopes; no role scope and no
 *   realm role on its service account); a client marked as an agent's whose agent is gone is
 *   deleted. A client without the mark is never read further, changed or deleted.
 * - The cluster: each agent's Secret `agentClientSecretName(id)` in its namespace holds its
 *   client id and Keycloak's secret, applied server-side only when it differs; the Secrets of
 *   agents that are gone are deleted. Deployments of an agent whose Secret changed (not one
 *   just created: its pods start once it exists) are restarted, as `kubectl rollout restart`.
 *
 * Everything that can fail for a reason outside Keycloak's answers is checked before the
 * first change: the admin login, the realm, the cluster and every namespace written to.
 * Secrets' values are never printed or returned.
 */
import * as k8s from '@kubernetes/client-node';

import type { Cluster } from '../../../platform/cluster.js';
import { request, statusBody, statusOf } from '../../../platform/cluster.js';
import { PlatformError } from '../../../platform/errors.js';
import {
  AGENT_CLIENT_SECRET_KEYS,
  FLEET_LABELS,
  agentClientId,
  agentClientSecretName,
} from '../../../platform/fleet/identity.js';
import type { AgentIdentity } from '../../../platform/fleet/realm.js';
import { AGENT_CLIENT_ATTRIBUTE, agentClient } from '../../../platform/fleet/realm.js';
import { agentsNamespace } from '../../../platform/fleet/resolve.js';
import type { Rep } from '../../../platform/realm.js';
import { identityError } from './errors.js';
import type { AdminLogin } from './realm-apply.js';
import { ClientSync, KeycloakAdmin } from './realm-apply.js';

/** The field manager of the Secrets and restarts this writes. */
export const AGENT_CLIENTS_FIELD_MANAGER = 'kitt4sme-agent-clients';

/** The component label of an agent's client Secret: how the gone agents' ones are found. */
export const AGENT_CLIENT_COMPONENT = 'agent-client';

/** The pod-template annotation `kubectl rollout restart` sets. */
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** The labels of an agent's client Secret. */
export function agentClientSecretLabels(agent: AgentIdentity): Record<string, string> {
  return {
    'app.kubernetes.io/part-of': 'kitt4sme-platform',
    'app.kubernetes.io/component': AGENT_CLIENT_COMPONENT,
    [FLEET_LABELS.agentId]: agent.id,
    [FLEET_LABELS.tenant]: agent.tenant,
  };
}

/** Options of {@link reconcileAgentClients}. */
export interface AgentClientsOptions {
  readonly login: AdminLogin;
  readonly realm: string;
  /** Every agent and pipeline module of the fleet. */
  readonly agents: readonly AgentIdentity[];
  /** The platform's tenants: the agents namespaces searched for Secrets of gone agents. */
  readonly tenants: readonly string[];
  /** Where the Secrets go; without one only Keycloak is reconciled. */
  readonly cluster?: Cluster;
  /** Only these agents' client secrets are regenerated (rotation); ids. @default none */
  readonly rotate?: readonly string[];
  readonly progress?: (line: string) => void;
}

/** What happened to one agent's Secret. */
export interface AgentSecretOutcome {
  readonly namespace: string;
  readonly name: string;
  readonly outcome: 'created' | 'updated' | 'deleted';
}

/** What a reconciliation did. Names only, never a secret. */
export interface AgentClientsResult {
  readonly realm: string;
  /** One line per change in Keycloak, e.g. `client agent-26e6df545c74: created`. */
  readonly changes: readonly string[];
  /** The Secrets written or deleted (none when in sync). */
  readonly secrets: readonly AgentSecretOutcome[];
  /** The Deployments restarted because their agent's Secret changed. */
  readonly restarts: readonly { namespace: string; name: string }[];
}

/** A logged-in admin, the realm checked: the same preconditions for apply and rotation. */
async function adminOf(login: AdminLogin, realm: string): Promise<KeycloakAdmin> {
  const admin = new KeycloakAdmin(login, realm);
  await admin.authenticate();
  const found = await admin.call<Rep>('GET', `/${encodeURIComponent(realm)}`, undefined, {
    allow404: true,
  });
  if (!found)
    throw identityError(
      'ERR_REALM_NOT_FOUND',
      `Keycloak at ${login.keycloakUrl} has no realm ${realm}: create it first with \`npm run realm:apply\`; nothing was changed`,
    );
  return admin;
}

/** The realm's clients marked as an agent's, by client id. */
async function markedClients(admin: KeycloakAdmin, realm: string): Promise<Map<string, Rep>> {
  const all =
    (await admin.call<Rep[]>('GET', `/${encodeURIComponent(realm)}/clients?first=0&max=100000`)) ??
    [];
  return new Map(
    all
      .filter((c) => (c.attributes as Record<string, string> | undefined)?.[AGENT_CLIENT_ATTRIBUTE])
      .map((c) => [String(c.clientId), c]),
  );
}

/** Reading and writing the agents' Secrets, each request named for its errors. */
class AgentSecrets {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly objects: k8s.KubernetesObjectApi;
  constructor(private readonly cluster: Cluster) {
    this.core = cluster.kc.makeApiClient(k8s.CoreV1Api);
    this.apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  }

  /**
   * Whether `name` could be written in `namespace` (a server-side dry run: writes nothing);
   * false when the namespace does not exist.
   */
  async writable(namespace: string, name: string): Promise<boolean> {
    try {
      await this.apply({ metadata: { name, namespace }, type: 'Opaque' }, true);
      return true;
    } catch (err) {
      const cause = err instanceof PlatformError ? (err.cause ?? err) : err;
      if (statusOf(cause) === 404 && statusBody(cause).details?.kind === 'namespaces') return false;
      throw err;
    }
  }

  /** The agent client Secrets of a namespace. */
  list(namespace: string): Promise<k8s.V1Secret[]> {
    return request(this.cluster, { verb: 'list', resource: 'secrets', namespace }, () =>
      this.core
        .listNamespacedSecret({
          namespace,
          labelSelector: `app.kubernetes.io/component=${AGENT_CLIENT_COMPONENT}`,
        })
        .then((l) => l.items),
    );
  }

  apply(secret: k8s.V1Secret, dryRun = false): Promise<unknown> {
    const namespace = secret.metadata!.namespace!;
    return request(this.cluster, { verb: 'patch', resource: 'secrets', namespace }, () =>
      this.objects.patch(
        { apiVersion: 'v1', kind: 'Secret', ...secret } as k8s.KubernetesObject,
        undefined,
        dryRun ? 'All' : undefined,
        AGENT_CLIENTS_FIELD_MANAGER,
        true,
        k8s.PatchStrategy.ServerSideApply,
      ),
    );
  }

  delete(namespace: string, name: string): Promise<unknown> {
    return request(this.cluster, { verb: 'delete', resource: 'secrets', namespace }, () =>
      this.core.deleteNamespacedSecret({ namespace, name }).catch((err: unknown) => {
        if (statusOf(err) !== 404) throw err;
      }),
    );
  }

  /** Restarts the Deployments of an agent, as `kubectl rollout restart`; their names. */
  async restart(namespace: string, agentId: string, at: string): Promise<string[]> {
    const list = await request(
      this.cluster,
      { verb: 'list', resource: 'deployments.apps', namespace },
      () =>
        this.apps.listNamespacedDeployment({
          namespace,
          labelSelector: `${FLEET_LABELS.agentId}=${agentId}`,
        }),
    );
    const names = list.items.map((d) => d.metadata!.name!).sort();
    for (const name of names)
      await request(this.cluster, { verb: 'patch', resource: 'deployments.apps', namespace }, () =>
        this.objects.patch(
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name, namespace },
            spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } },
          } as k8s.KubernetesObject,
          undefined,
          undefined,
          AGENT_CLIENTS_FIELD_MANAGER,
          undefined,
          k8s.PatchStrategy.StrategicMergePatch,
        ),
      );
    return names;
  }
}

const decode = (v: string | undefined) =>
  v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');

/**
 * Reconciles the agents' clients and Secrets (see the file header).
 * @throws PlatformError ERR_KEYCLOAK_UNREACHABLE, ERR_CREDENTIALS_REJECTED, ERR_REALM_NOT_FOUND,
 *   ERR_AGENT_NAMESPACE_MISSING or a cluster access error before any change;
 *   ERR_REALM_APPLY when Keycloak refuses a change.
 */
export async function reconcileAgentClients(
  opts: AgentClientsOptions,
): Promise<AgentClientsResult> {
  const progress = opts.progress ?? (() => {});
  const { realm } = opts;
  const r = `/${encodeURIComponent(realm)}`;
  const dup = opts.agents.find(
    (a, i) => opts.agents.findIndex((b) => agentClientId(b.id) === agentClientId(a.id)) !== i,
  );
  if (dup)
    throw new PlatformError(
      'ERR_REALM_APPLY',
      `two agents have the client id ${agentClientId(dup.id)} (their ids share the first 12 hex digits): nothing was changed`,
      'give one of them another id in its fleet record',
    );

  // Preconditions, before any change.
  const admin = await adminOf(opts.login, realm);
  const secrets = opts.cluster ? new AgentSecrets(opts.cluster) : undefined;
  const namespaces = [
    ...new Set([
      ...opts.tenants.map(agentsNamespace),
      ...opts.agents.map((a) => agentsNamespace(a.tenant)),
    ]),
  ].sort();
  const existing = new Map<string, k8s.V1Secret>();
  if (secrets) {
    for (const ns of namespaces) {
      const first = opts.agents.find((a) => agentsNamespace(a.tenant) === ns);
      if (first && !(await secrets.writable(ns, agentClientSecretName(first.id))))
        throw identityError(
          'ERR_AGENT_NAMESPACE_MISSING',
          `namespace ${ns} of agent ${first.tenant}/${first.name} does not exist in context ${opts.cluster!.context}: nothing was changed`,
        );
      for (const s of await secrets.list(ns)) existing.set(`${ns}/${s.metadata!.name!}`, s);
    }
  }

  // Keycloak: the agents' clients.
  const changes: string[] = [];
  const note = (line: string) => {
    changes.push(line);
    progress(line);
  };
  const marked = await markedClients(admin, realm);
  const sync = new ClientSync(admin, realm, note);
  const credentials = new Map<string, string>();
  for (const agent of opts.agents) {
    const want = agentClient(agent);
    const clientId = String(want.clientId);
    let have = marked.get(clientId);
    if (!have) {
      // A client of that id without the mark is not the fleet's: refuse, never take it over.
      const other = await admin.findClient(clientId);
      if (other)
        throw identityError(
          'ERR_REALM_APPLY',
          `realm ${realm} has a client ${clientId} that is not an agent's (it lacks the attribute ${AGENT_CLIENT_ATTRIBUTE}); agent ${agent.tenant}/${agent.name} cannot have it. Delete or rename that client`,
        );
    } else have = (await admin.call<Rep>('GET', `${r}/clients/${String(have.id)}`))!;
    const id = await sync.sync(want, have);
    // No role scope, and no realm role on its service account (not even default-roles-*).
    const scope = (await admin.call<Rep[]>('GET', `${r}/clients/${id}/scope-mappings/realm`)) ?? [];
    if (scope.length > 0) {
      await admin.call('DELETE', `${r}/clients/${id}/scope-mappings/realm`, scope);
      note(`client ${clientId}: role scope - ${scope.map((x) => String(x.name)).join(', ')}`);
    }
    const user = (await admin.call<Rep>('GET', `${r}/clients/${id}/service-account-user`))!;
    const roles =
      (await admin.call<Rep[]>('GET', `${r}/users/${String(user.id)}/role-mappings/realm`)) ?? [];
    if (roles.length > 0) {
      await admin.call('DELETE', `${r}/users/${String(user.id)}/role-mappings/realm`, roles);
      // A new client's service account gets the realm's default roles: no change to report.
      if (have)
        note(`service account ${clientId}: roles - ${roles.map((x) => String(x.name)).join(', ')}`);
    }
    if (opts.rotate?.includes(agent.id)) {
      await admin.call('POST', `${r}/clients/${id}/client-secret`);
      note(`client ${clientId}: secret regenerated`);
    }
    const secret = await admin.call<Rep>('GET', `${r}/clients/${id}/client-secret`);
    if (typeof secret?.value !== 'string' || !secret.value)
      throw identityError(
        'ERR_REALM_APPLY',
        `Keycloak holds no secret for client ${clientId} of realm ${realm}`,
      );
    credentials.set(agent.id, secret.value);
  }
  const wanted = new Set(opts.agents.map((a) => agentClientId(a.id)));
  for (const [clientId, c] of marked)
    if (!wanted.has(clientId)) {
      await admin.call('DELETE', `${r}/clients/${String(c.id)}`);
      note(`client ${clientId}: deleted (its agent is gone)`);
    }

  // The cluster: the agents' Secrets.
  const written: AgentSecretOutcome[] = [];
  const restarts: { namespace: string; name: string }[] = [];
  if (secrets) {
    const at = new Date().toISOString();
    const keep = new Set<string>();
    for (const agent of opts.agents) {
      const namespace = agentsNamespace(agent.tenant);
      const name = agentClientSecretName(agent.id);
      keep.add(`${namespace}/${name}`);
      const data = {
        [AGENT_CLIENT_SECRET_KEYS.clientId]: agentClientId(agent.id),
        [AGENT_CLIENT_SECRET_KEYS.clientSecret]: credentials.get(agent.id)!,
      };
      const labels = agentClientSecretLabels(agent);
      const have = existing.get(`${namespace}/${name}`);
      const same =
        have &&
        Object.entries(data).every(([k, v]) => decode(have.data?.[k]) === v) &&
        Object.keys(have.data ?? {}).length === Object.keys(data).length &&
        Object.entries(labels).every(([k, v]) => have.metadata?.labels?.[k] === v);
      if (same) continue;
      await secrets.apply({
        metadata: { name, namespace, labels },
        type: 'Opaque',
        data: Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
        ),
      });
      const outcome = have ? 'updated' : 'created';
      written.push({ namespace, name, outcome });
      progress(`Secret ${namespace}/${name}: ${outcome}`);
      // Pods read the Secret once, at start: those that started with the old one restart.
      if (have && decode(have.data?.[AGENT_CLIENT_SECRET_KEYS.clientSecret]) !== undefined)
        for (const d of await secrets.restart(namespace, agent.id, at)) {
          restarts.push({ namespace, name: d });
          progress(`Deployment ${namespace}/${d}: restarted`);
        }
    }
    for (const [key, s] of existing)
      if (!keep.has(key)) {
        const namespace = s.metadata!.namespace!;
        const name = s.metadata!.name!;
        await secrets.delete(namespace, name);
        written.push({ namespace, name, outcome: 'deleted' });
        progress(`Secret ${namespace}/${name}: deleted (its agent is gone)`);
      }
  }
  return { realm, changes, secrets: written, restarts };
}

/** Options of {@link rotateAgentClients}. */
export interface RotateAgentClientsOptions {
  readonly login: AdminLogin;
  readonly realm: string;
  /** The agents whose client secrets get a new value. */
  readonly agents: readonly AgentIdentity[];
  readonly cluster: Cluster;
  readonly progress?: (line: string) => void;
}

/** What a rotation of agent clients did. Names only, never a secret. */
export interface RotateAgentClientsResult {
  /** The clients whose secret Keycloak regenerated. */
  readonly clients: readonly string[];
  readonly secrets: readonly AgentSecretOutcome[];
  readonly restarts: readonly { namespace: string; name: string }[];
}

/**
 * Gives agents' clients a new secret Keycloak generates (the old one is refused at once),
 * writes it into each agent's Secret and restarts the agent's Deployments. Every client must
 * exist and every namespace be writable before the first change.
 * @param done called after each agent, so a caller can say how far it got
 * @throws PlatformError ERR_ROTATE_AGENT_NOT_RECONCILED (a client or namespace missing, nothing
 *   changed), the Keycloak and cluster access errors.
 */
export async function rotateAgentClients(
  opts: RotateAgentClientsOptions,
  done: (agent: AgentIdentity) => void = () => {},
): Promise<RotateAgentClientsResult> {
  const progress = opts.progress ?? (() => {});
  const { realm } = opts;
  const r = `/${encodeURIComponent(realm)}`;
  const admin = await adminOf(opts.login, realm);
  const secrets = new AgentSecrets(opts.cluster);
  const marked = await markedClients(admin, realm);
  const missing = opts.agents.filter((a) => !marked.has(agentClientId(a.id)));
  if (missing.length > 0)
    throw identityError(
      'ERR_AGENT_NOT_RECONCILED',
      `realm ${realm} has no client for ${missing.map((a) => `${a.tenant}/${a.name} (${agentClientId(a.id)})`).join(', ')}: nothing was changed`,
    );
  for (const a of opts.agents)
    if (!(await secrets.writable(agentsNamespace(a.tenant), agentClientSecretName(a.id))))
      throw identityError(
        'ERR_AGENT_NAMESPACE_MISSING',
        `namespace ${agentsNamespace(a.tenant)} of agent ${a.tenant}/${a.name} does not exist in context ${opts.cluster.context}: nothing was changed`,
      );
  const clients: string[] = [];
  const written: AgentSecretOutcome[] = [];
  const restarts: { namespace: string; name: string }[] = [];
  const at = new Date().toISOString();
  for (const a of opts.agents) {
    const clientId = agentClientId(a.id);
    const id = String(marked.get(clientId)!.id);
    const secret = await admin.call<Rep>('POST', `${r}/clients/${id}/client-secret`);
    if (typeof secret?.value !== 'string' || !secret.value)
      throw identityError(
        'ERR_REALM_APPLY',
        `Keycloak answered no new secret for client ${clientId} of realm ${realm}`,
      );
    clients.push(clientId);
    progress(`client ${clientId}: new secret`);
    const namespace = agentsNamespace(a.tenant);
    const name = agentClientSecretName(a.id);
    await secrets.apply({
      metadata: { name, namespace, labels: agentClientSecretLabels(a) },
      type: 'Opaque',
      data: {
        [AGENT_CLIENT_SECRET_KEYS.clientId]: Buffer.from(clientId, 'utf8').toString('base64'),
        [AGENT_CLIENT_SECRET_KEYS.clientSecret]: Buffer.from(secret.value, 'utf8').toString(
          'base64',
        ),
      },
    });
    written.push({ namespace, name, outcome: 'updated' });
    progress(`Secret ${namespace}/${name}: written`);
    for (const d of await secrets.restart(namespace, a.id, at)) {
      restarts.push({ namespace, name: d });
      progress(`Deployment ${namespace}/${d}: restarted`);
    }
    done(a);
  }
  return { clients, secrets: written, restarts };
}
