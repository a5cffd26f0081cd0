/**
 * The list of a fleet's agents that their Keycloak clients are made of (id, name, tenant,
 * needs): what the fleet renders into the ConfigMap of the agents' clients' job and
 * `realm:apply --agents --agents-file` reads. Kept apart from the realm (platform/fleet/realm.ts)
 * so that the fleet's renderer does not carry the realm definition.
 */
import type { Need } from './records.js';
import { NEEDS } from './records.js';

/** What an agent's client is made from (a ResolvedAgent has it). */
export interface AgentIdentity {
  readonly id: string;
  readonly name: string;
  readonly tenant: string;
  readonly needs: readonly Need[];
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
    throw new TypeError(`not JSON (${(err as Error).message})`, { cause: err });
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
