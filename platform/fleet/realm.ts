/**
 * The fleet's part of the Keycloak realm: one confidential client per agent (and pipeline
 * module), `agentClientId(id)`, defined from the resolved fleet records. `npm run realm:apply
 * -- --agents` reconciles these clients after each sync of the fleet and writes each one's
 * credentials into the agent's namespace (services/identity/src/agent-clients.ts).
 *
 * An agent client only ever gets client-credentials tokens for itself: `azp` its client id,
 * `tenants` exactly its tenant, `needs` what it declared, the FIWARE API audience, and no
 * roles (no realm role, no role scope, no `roles` mapper). Its secret is Keycloak's: the
 * definition holds none, not even a placeholder.
 */
import { RESOURCE_CLIENTS } from '../identity.js';
import type { Rep } from '../realm.js';
import { audienceMapper, baseClient, mapper } from '../realm.js';
import { TOKEN_CLAIMS } from '../tenancy.js';
import { AGENT_TOKEN_CLAIMS, agentClientId } from './identity.js';
import type { Need } from './records.js';
import { NEEDS } from './records.js';

/**
 * The client attribute that marks a client as an agent's, holding the agent's id: the
 * reconciliation deletes a marked client whose agent is gone and never looks at a client
 * without it.
 */
export const AGENT_CLIENT_ATTRIBUTE = 'kitt4sme.fleet.agent-id';

/** What an agent's client is made from (a ResolvedAgent has it). */
export interface AgentIdentity {
  readonly id: string;
  readonly name: string;
  readonly tenant: string;
  readonly needs: readonly Need[];
}

/** A hardcoded JSON claim in access tokens and introspection answers (never ID tokens). */
function jsonClaim(name: string, value: unknown): Rep {
  return mapper(name, 'oidc-hardcoded-claim-mapper', {
    'claim.name': name,
    'claim.value': JSON.stringify(value),
    'jsonType.label': 'JSON',
    'access.token.claim': 'true',
    'id.token.claim': 'false',
    'userinfo.token.claim': 'false',
    'introspection.token.claim': 'true',
  });
}

/** The Keycloak client of an agent. */
export function agentClient(agent: AgentIdentity): Rep {
  const clientId = agentClientId(agent.id);
  const base = baseClient(
    clientId,
    `agent ${agent.tenant}/${agent.name}`,
    `Agent ${agent.name} of tenant ${agent.tenant} (fleet/): client credentials only, its tenant and declared needs, no roles`,
  );
  return {
    ...base,
    // Keycloak generates the secret when it creates the client; the reconciliation reads it.
    clientAuthenticatorType: 'client-secret',
    serviceAccountsEnabled: true,
    protocolMappers: [
      jsonClaim(TOKEN_CLAIMS.tenants, [agent.tenant]),
      jsonClaim(AGENT_TOKEN_CLAIMS.needs, [...agent.needs].sort()),
      audienceMapper(RESOURCE_CLIENTS.fiware),
    ],
    attributes: {
      ...(base.attributes as Record<string, string>),
      // Client credentials never get refresh tokens: ask again (RFC 6749 §4.4.3).
      'client_credentials.use_refresh_token': 'false',
      [AGENT_CLIENT_ATTRIBUTE]: agent.id,
    },
  };
}

/** The clients of every agent, sorted by client id. */
export function agentClients(agents: readonly AgentIdentity[]): Rep[] {
  return agents
    .map(agentClient)
    .sort((a, b) => String(a.clientId).localeCompare(String(b.clientId)));
}

/** What identifies the agents of a fleet for their clients, sorted by id. */
export function agentIdentities(agents: readonly AgentIdentity[]): AgentIdentity[] {
  return agents
    .map(({ id, name, tenant, needs }) => ({ id, name, tenant, needs: [...needs].sort() }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * The agents list the fleet's reconcile Job reads (`realm:apply --agents --agents-file`): the
 * key of its ConfigMap, a JSON document `{"agents": AgentIdentity[]}`.
 */
export const AGENTS_FILE = 'agents.json';

/**
 * Reads an agents list (see {@link AGENTS_FILE}).
 * @throws TypeError saying what is wrong with it.
 */
export function parseAgentsFile(text: string): AgentIdentity[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TypeError(`not JSON (${(err as Error).message})`);
  }
  const agents = (doc as { agents?: unknown } | null)?.agents;
  if (!Array.isArray(agents)) throw new TypeError('it has no "agents" array');
  agents.forEach((a: unknown, i) => {
    const x = a as Partial<Record<keyof AgentIdentity, unknown>> | null;
    const ok =
      x &&
      typeof x.id === 'string' &&
      typeof x.name === 'string' &&
      typeof x.tenant === 'string' &&
      Array.isArray(x.needs) &&
      x.needs.every((n) => typeof n === 'string' && n in NEEDS);
    if (!ok)
      throw new TypeError(
        `agents[${i}] is not {id, name, tenant, needs} with needs among ${Object.keys(NEEDS).join(', ')}`,
      );
  });
  return agents as AgentIdentity[];
}
