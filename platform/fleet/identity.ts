/**
 * How an agent is known at run time, defined once for everything that renders, reconciles,
 * authorises or watches agents: the labels of its objects, the name of each instance (one per
 * agent × host), its Keycloak client and the Secret holding that client's credentials, the
 * claims its tokens carry, its heartbeat entity in Orion and the environment its pods get.
 *
 * An agent's names come from its id, never its name: a rename or a move keeps its objects,
 * its client and its heartbeat entity.
 */
import { createHash } from 'node:crypto';

/** The labels (and the revision annotation) of the objects an agent is rendered into. */
export const FLEET_LABELS = {
  agentId: 'fleet.kitt4sme.io/agent-id',
  agent: 'fleet.kitt4sme.io/agent',
  tenant: 'fleet.kitt4sme.io/tenant',
  host: 'fleet.kitt4sme.io/host',
  instance: 'fleet.kitt4sme.io/instance',
  revision: 'fleet.kitt4sme.io/revision',
} as const;

/** What every agent's object name (and client id) starts with. */
export const AGENT_NAME_PREFIX = 'agent-';

/** Hex digits of the id in an agent's object name: every name has the same length. */
const ID_DIGITS = 12;

/** The name of an agent's objects, from its id: `agent-<12 hex digits>`. */
export function agentObjectName(id: string): string {
  return `${AGENT_NAME_PREFIX}${id.replaceAll('-', '').slice(0, ID_DIGITS).toLowerCase()}`;
}

/** The namespace of a tenant's agents: `agents-<tenant>` (tenant names may hold `_`). */
export function agentsNamespace(tenant: string): string {
  return `agents-${tenant.replaceAll('_', '-')}`;
}

/** Whether a Keycloak client id (a token's `azp`) has the shape of an agent's client. */
export function isAgentClientId(clientId: string): boolean {
  return new RegExp(`^${AGENT_NAME_PREFIX}[0-9a-f]{${ID_DIGITS}}$`).test(clientId);
}

/** A host name short enough for object names and label values, or its hash. */
export function hostKey(host: string): string {
  return host.length <= 40
    ? host
    : `h${createHash('sha256').update(host).digest('hex').slice(0, ID_DIGITS)}`;
}

/**
 * The name of one instance of an agent: its Deployment, its `instance` label and the suffix
 * of its heartbeat entity. `agent-<id>-<host>` when placed on a host, `agent-<id>` floating.
 */
export function agentInstanceName(id: string, host?: string): string {
  return host ? `${agentObjectName(id)}-${hostKey(host)}` : agentObjectName(id);
}

/**
 * The DNS label an instance's pod is named by (its `hostname`): the host's key when it is a
 * DNS label (RFC 1123, no dots), else `h<12 hex digits>` of the host; `floating` for the
 * floating instance. Each instance has one pod at a time, so the label is unique within its
 * agent's headless Service.
 */
export function agentPodHostname(host?: string): string {
  if (host === undefined) return 'floating';
  const key = hostKey(host);
  return DNS_LABEL.test(key)
    ? key
    : `h${createHash('sha256').update(host).digest('hex').slice(0, ID_DIGITS)}`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The headless Service of an agent's pods, `<object name>-pods`: its per-pod DNS names
 * (`<pod hostname>.<object name>-pods.<namespace>.svc.cluster.local`) address one instance
 * each, which the monitor's nudge needs (a ClusterIP Service would reach any of them).
 */
export function agentPodsServiceName(id: string): string {
  return `${agentObjectName(id)}-pods`;
}

/**
 * The port the agent kit (services/agent-kit) serves /healthz, {@link AGENT_ANNOUNCE_PATH} and
 * the module's routes on, when AGENT_PORT does not say otherwise (the templates' port).
 */
export const AGENT_KIT_PORT = 8080;

/**
 * The path a silent agent is nudged on: `POST` makes it beat at once, out of schedule (ACS's
 * "rebirth"). Answered by the agent kit: 202 and the heartbeat's status, 503 and the failure
 * when that beat failed, 429 when asked again within 5 s.
 */
export const AGENT_ANNOUNCE_PATH = '/announce';

/**
 * The URL the monitor nudges one instance on, as the fleet renders it into AGENT_ANNOUNCE_URL:
 * `http://<pod hostname>.<object name>-pods.<agents namespace>.svc.cluster.local:<kit port>/announce`.
 */
export function agentAnnounceUrl(id: string, tenant: string, host?: string): string {
  return `http://${agentPodHostname(host)}.${agentPodsServiceName(id)}.${agentsNamespace(tenant)}.svc.cluster.local:${AGENT_KIT_PORT}${AGENT_ANNOUNCE_PATH}`;
}

/** Why {@link announceUrlAllowed} refuses a URL, or undefined when it allows it. */
export function announceUrlRefusal(
  url: string,
  tenant: string,
  allowedHosts: readonly string[] = [],
): string | undefined {
  if (!URL.canParse(url)) return 'not a URL';
  const u = new URL(url);
  if (u.protocol !== 'http:') return `scheme ${u.protocol.replace(/:$/, '')}, not http`;
  if (u.username || u.password) return 'it carries credentials';
  if (u.search || url.includes('?')) return 'it has a query';
  if (u.hash) return 'it has a fragment';
  if (u.pathname !== AGENT_ANNOUNCE_PATH) return `path ${u.pathname}, not ${AGENT_ANNOUNCE_PATH}`;
  if (allowedHosts.includes(u.hostname.toLowerCase())) return undefined;
  const ns = agentsNamespace(tenant);
  const [pod = '', service = '', namespace, ...domain] = u.hostname.split('.');
  const ownPod =
    DNS_LABEL.test(pod) &&
    new RegExp(`^${AGENT_NAME_PREFIX}[0-9a-f]{${ID_DIGITS}}-pods$`).test(service) &&
    namespace === ns &&
    domain.join('.') === 'svc.cluster.local';
  if (!ownPod)
    return `host ${u.hostname} is not an agent pod of ${ns} (<pod>.agent-<id>-pods.${ns}.svc.cluster.local)`;
  if (u.port !== String(AGENT_KIT_PORT)) return `port ${u.port || 80}, not ${AGENT_KIT_PORT}`;
  return undefined;
}

/**
 * Whether the monitor may POST to an `announceUrl` an agent of `tenant` reported in its
 * heartbeat: http, exactly {@link AGENT_ANNOUNCE_PATH} on {@link AGENT_KIT_PORT}, no
 * credentials, query or fragment, and the host one of that tenant's agent pods
 * (`<label>.agent-<id>-pods.agents-<tenant>.svc.cluster.local`). The URL is written by the agent
 * itself, so without this rule an agent could make the monitor call anything the monitor
 * reaches (SSRF): with it, only another agent's announce of its own tenant. `allowedHosts`
 * (a lab's loopback, tests) relax the host and port only, never the scheme or the path.
 */
export function announceUrlAllowed(
  url: string,
  tenant: string,
  allowedHosts: readonly string[] = [],
): boolean {
  return announceUrlRefusal(url, tenant, allowedHosts) === undefined;
}

/** The Keycloak client of an agent: its object name, so one per agent, kept across renames. */
export function agentClientId(id: string): string {
  return agentObjectName(id);
}

/**
 * The Secret in the agent's namespace that holds its client's credentials, written after each
 * sync by the realm reconciliation (never in git).
 */
export function agentClientSecretName(id: string): string {
  return `${agentObjectName(id)}-client`;
}

/** The keys of that Secret. */
export const AGENT_CLIENT_SECRET_KEYS = { clientId: 'client-id', clientSecret: 'client-secret' };

/**
 * Claims an agent client's access tokens carry besides `azp` (its client id) and `tenants`
 * (exactly its tenant): `needs`, the needs it declared, which the tenancy policy turns into
 * rights for that client's tokens only.
 */
export const AGENT_TOKEN_CLAIMS = { needs: 'needs' } as const;

/** The NGSI-v2 type of an agent instance's heartbeat entity. */
export const AGENT_INSTANCE_ENTITY_TYPE = 'AgentInstance';

/**
 * The id of an agent instance's heartbeat entity in its tenant:
 * `urn:ngsi-ld:AgentInstance:<instance name>`. Every agent may update the entities of its own
 * instances (and only those) without declaring a need.
 */
export function agentInstanceEntityId(instanceName: string): string {
  return `urn:ngsi-ld:${AGENT_INSTANCE_ENTITY_TYPE}:${instanceName}`;
}

/**
 * The `fiware-servicepath` of heartbeat entities: an agent may create an entity only there, so
 * its heartbeat never creates anything among its tenant's data.
 */
export const HEARTBEAT_SERVICE_PATH = '/agents';

/**
 * The attributes of a heartbeat entity: the agent's id and name, the instance's host, the
 * observed revision (the one the running pod was rendered with), the expected interval and
 * when the agent wrote it.
 */
export const HEARTBEAT_ATTRS = {
  agentId: 'agentId',
  agentName: 'agentName',
  host: 'host',
  revision: 'revision',
  heartbeatSeconds: 'heartbeatSeconds',
  dateObserved: 'dateObserved',
  /** Where the monitor nudges the instance ({@link announceUrlAllowed}); absent when unknown. */
  announceUrl: 'announceUrl',
} as const;

/** The environment every agent container gets (besides its needs' URLs and its secrets). */
export const AGENT_ENV = {
  id: 'AGENT_ID',
  name: 'AGENT_NAME',
  tenant: 'AGENT_TENANT',
  fiwareService: 'FIWARE_SERVICE',
  revision: 'AGENT_REVISION',
  heartbeatSeconds: 'AGENT_HEARTBEAT_SECONDS',
  host: 'AGENT_HOST',
  instance: 'AGENT_INSTANCE',
  entityId: 'AGENT_ENTITY_ID',
  config: 'AGENT_CONFIG',
  tokenUrl: 'OIDC_TOKEN_URL',
  clientId: 'OIDC_CLIENT_ID',
  clientSecret: 'OIDC_CLIENT_SECRET',
  /** The instance's {@link agentAnnounceUrl}, which its heartbeat reports as `announceUrl`. */
  announceUrl: 'AGENT_ANNOUNCE_URL',
} as const;
