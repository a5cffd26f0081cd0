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
import type { AgentIdentity } from './agents-list.js';
import { AGENT_TOKEN_CLAIMS, agentClientId } from './identity.js';

export type { AgentIdentity };

/**
 * The client attribute that marks a client as an agent's, holding the agent's id: the
 * reconciliation deletes a marked client whose agent is gone and never looks at a client
 * without it.
 */
export const AGENT_CLIENT_ATTRIBUTE = 'kitt4sme.fleet.agent-id';

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
