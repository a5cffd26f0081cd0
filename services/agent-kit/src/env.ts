/**
 * What an agent module knows about itself, from the environment the fleet renders into its pod
 * (AGENT_ENV, platform/fleet/identity.ts; cdk8s/lib/fleet/agents.ts writes it), and its config
 * (AGENT_CONFIG, the record's config as JSON) validated against the module's own zod schema.
 * A missing or bad variable or key stops the module with a message naming it.
 */
import { z } from 'zod';

import { envInt, envNumber, parseEnv } from '../../../platform/env.js';
import type { Environment } from '../../../platform/env.js';
import {
  AGENT_ENV,
  AGENT_KIT_PORT,
  agentInstanceEntityId,
} from '../../../platform/fleet/identity.js';
import { agentError } from './errors.js';

/** The port a module listens on when AGENT_PORT is not set: the templates' port. */
export const DEFAULT_AGENT_PORT = AGENT_KIT_PORT;

/** Log levels of pino, as LOG_LEVEL takes them. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const text = (what: string) => z.string().min(1, what);
const url = (what: string) => z.url({ protocol: /^https?$/, error: `${what}: an http(s) URL` });

const Env = z.object({
  [AGENT_ENV.id]: text("the agent's id (a UUID)"),
  [AGENT_ENV.name]: text("the agent's name"),
  [AGENT_ENV.tenant]: text("the agent's tenant"),
  [AGENT_ENV.fiwareService]: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,50}$/, 'a FIWARE service (letters, digits, _; 50 at most)'),
  [AGENT_ENV.revision]: text("the revision the pod was rendered with (the record's hash)"),
  [AGENT_ENV.heartbeatSeconds]: envNumber(0, 86_400, 'seconds between heartbeats', true),
  [AGENT_ENV.host]: text("the host the instance runs on (the node's name)"),
  [AGENT_ENV.instance]: text("the instance's name (agent-<id>[-<host>])"),
  [AGENT_ENV.entityId]: text("the instance's heartbeat entity id"),
  [AGENT_ENV.config]: text("the agent's config as JSON (at least '{}')"),
  [AGENT_ENV.tokenUrl]: url("the realm's token endpoint"),
  [AGENT_ENV.clientId]: text("the agent client's id (from its Secret's client-id)"),
  [AGENT_ENV.clientSecret]: text("the agent client's secret (from its Secret's client-secret)"),
  // Needs' URLs: ORION_URL for every orion:* need (platform/fleet/records.ts NEEDS).
  // Where the monitor nudges this instance (the fleet renders it); reported by the heartbeat.
  [AGENT_ENV.announceUrl]: url(
    'where the monitor nudges the instance (http://<pod>.<agent>-pods.<namespace>.svc.cluster.local:8080/announce)',
  ).optional(),
  ORION_URL: url("Orion's NGSI-v2 API, e.g. http://orion.platform.svc.cluster.local:1026"),
  // Not in the contract: the kit's own, for processes that share a host (a local run).
  AGENT_PORT: envInt(0, 65535).default(DEFAULT_AGENT_PORT),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

/** Who the running instance is and where it reaches the platform. */
export interface AgentIdentity {
  readonly id: string;
  readonly name: string;
  readonly tenant: string;
  /** The `fiware-service` of every request (the tenant). */
  readonly fiwareService: string;
  readonly revision: string;
  readonly heartbeatSeconds: number;
  readonly host: string;
  readonly instance: string;
  /** `urn:ngsi-ld:AgentInstance:<instance>`. */
  readonly entityId: string;
  /** AGENT_ANNOUNCE_URL, which the heartbeat reports as `announceUrl`. @default none */
  readonly announceUrl?: string;
}

/** The validated environment of an agent module. */
export interface AgentEnv extends AgentIdentity {
  /** AGENT_CONFIG, parsed JSON, not yet checked against the module's schema. */
  readonly rawConfig: unknown;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly orionUrl: string;
  /** `DOWNSTREAM_<NAME>_URL` by `<NAME>` (upper case, `_` for `-`). */
  readonly downstream: Readonly<Record<string, string>>;
  readonly port: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

const DOWNSTREAM = /^DOWNSTREAM_([A-Z0-9_]+)_URL$/;

/**
 * Reads the agent contract's environment.
 *
 * @throws PlatformError ERR_AGENT_ENV naming every missing or invalid variable, or
 *   ERR_AGENT_CONFIG when AGENT_CONFIG is not JSON.
 */
export function loadAgentEnv(env: Environment = process.env): AgentEnv {
  const e = parseEnv(Env, env, (message) => agentError('ERR_AGENT_ENV', message));
  const instance = e[AGENT_ENV.instance];
  const entityId = e[AGENT_ENV.entityId];
  if (entityId !== agentInstanceEntityId(instance))
    throw agentError(
      'ERR_AGENT_ENV',
      `invalid environment:\n  ${AGENT_ENV.entityId}: '${entityId}' is not the entity of instance '${instance}' (${agentInstanceEntityId(instance)})`,
    );
  const downstream: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    const m = DOWNSTREAM.exec(k);
    if (!m || v === undefined) continue;
    if (!URL.canParse(v) || !/^https?:$/.test(new URL(v).protocol))
      throw agentError('ERR_AGENT_ENV', `invalid environment:\n  ${k}: an http(s) URL`);
    downstream[m[1]!] = v.replace(/\/$/, '');
  }
  let rawConfig: unknown;
  try {
    rawConfig = JSON.parse(e[AGENT_ENV.config]);
  } catch (err) {
    throw agentError(
      'ERR_AGENT_CONFIG',
      `${AGENT_ENV.config} is not JSON: ${(err as Error).message}`,
      err,
    );
  }
  return {
    id: e[AGENT_ENV.id],
    name: e[AGENT_ENV.name],
    tenant: e[AGENT_ENV.tenant],
    fiwareService: e[AGENT_ENV.fiwareService],
    revision: e[AGENT_ENV.revision],
    heartbeatSeconds: e[AGENT_ENV.heartbeatSeconds],
    host: e[AGENT_ENV.host],
    instance,
    entityId,
    ...(e[AGENT_ENV.announceUrl] ? { announceUrl: e[AGENT_ENV.announceUrl] } : {}),
    rawConfig,
    tokenUrl: e[AGENT_ENV.tokenUrl],
    clientId: e[AGENT_ENV.clientId],
    clientSecret: e[AGENT_ENV.clientSecret],
    orionUrl: e.ORION_URL.replace(/\/$/, ''),
    downstream,
    port: e.AGENT_PORT,
    logLevel: e.LOG_LEVEL,
  };
}

/**
 * The module's config: AGENT_CONFIG checked against `schema`.
 *
 * @throws PlatformError ERR_AGENT_CONFIG with one line per bad key, `<key>: <what it must be>`.
 */
export function parseAgentConfig<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map(
    (i) => `${i.path.length ? i.path.join('.') : '(the whole config)'}: ${i.message}`,
  );
  throw agentError('ERR_AGENT_CONFIG', `invalid ${AGENT_ENV.config}:\n  ${lines.join('\n  ')}`);
}

/**
 * The URL of a pipeline downstream: `DOWNSTREAM_<NAME>_URL` for `name` (the downstream agent's
 * name, e.g. `anomalies-detector`), or the only downstream when `name` is undefined.
 *
 * @throws PlatformError ERR_AGENT_ENV when there is no such downstream, or several and no name.
 */
export function downstreamUrl(env: AgentEnv, name?: string): string {
  const names = Object.keys(env.downstream);
  if (name !== undefined) {
    const key = name.toUpperCase().replaceAll('-', '_');
    const found = env.downstream[key];
    if (found) return found;
    throw agentError(
      'ERR_AGENT_ENV',
      `no DOWNSTREAM_${key}_URL: the agent has no pipeline connection to '${name}' (its downstreams: ${names.join(', ') || 'none'})`,
    );
  }
  if (names.length === 1) return env.downstream[names[0]!]!;
  throw agentError(
    'ERR_AGENT_ENV',
    names.length === 0
      ? 'no DOWNSTREAM_<NAME>_URL: the agent has no pipeline connection (connect it in its pipeline record)'
      : `several downstreams (${names.join(', ')}): name the one to use in the config's downstream key`,
  );
}
