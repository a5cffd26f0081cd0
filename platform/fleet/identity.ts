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
} as const;
