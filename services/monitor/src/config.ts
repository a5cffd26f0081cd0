/**
 * The monitor's configuration, from environment variables only, validated at start so a wrong
 * value stops the service with a message that names the variable (docs/monitor.md lists them).
 */
import { z } from 'zod';

import type { DeviceProtocol } from '../../../platform/components.js';
import {
  COMPONENTS,
  DEVICE_PROTOCOLS,
  IOT_AGENT_IDS,
  iotAgentSpec,
} from '../../../platform/components.js';
import { envInt as int, envNumber, parseEnv } from '../../../platform/env.js';
import { DEFAULT_NUDGE_COMMAND } from '../../../platform/liveness.js';
import type { Environment } from '../../../platform/env.js';
import { readPolicyDataFile } from '../../../platform/policy-data.js';
import { monitorError } from './errors.js';

const url = (what: string) => z.url({ protocol: /^https?$/, error: `${what}: an http(s) URL` });

const Env = z.object({
  MONITOR_PORT: int(0, 65535).default(8080),
  // The internal events port (ingest.ts): never routed by the gateway. NOTE (1)
  MONITOR_EVENTS_PORT: int(0, 65535).default(8081),
  MONITOR_JOURNAL_SIZE: int(10, 100_000).default(1000),
  ...Object.fromEntries(
    IOT_AGENT_IDS.map((id) => [
      COMPONENTS[id].iotAgent.northUrlEnv,
      url(
        `the north API of the IoT Agent for ${COMPONENTS[id].iotAgent.label}, e.g. http://${COMPONENTS[id].service.name}:4041`,
      ),
    ]),
  ),
  ORION_URL: url("Orion's NGSI-v2 API, e.g. http://orion:1026"),
  KEYCLOAK_JWKS_URL: url("the realm's JWKS URL"),
  POLICY_DATA_FILE: z.string().min(1, 'the path of the tenancy policy data (JSON) synth generates'),
  MONITOR_STATE_FILE: z.string().min(1, 'the path of the state file (on its own volume)'),
  MONITOR_PASS_SECONDS: int(1, 3600).default(30),
  MONITOR_NUDGE_COMMAND: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/, 'a command name (letters, digits, _)')
    .default(DEFAULT_NUDGE_COMMAND),
  MONITOR_MAX_NUDGES: int(1, 20).default(3),
  MONITOR_GRACE_RATIO: envNumber(0, 10).default(0.1),
  MONITOR_MIN_GRACE_SECONDS: envNumber(0, 3600).default(5),
  MONITOR_WEBHOOK_TIMEOUT_MS: int(100, 60_000).default(5000),
  // Hosts a webhook may name although the outbound rule refuses them: a lab, never production.
  MONITOR_WEBHOOK_ALLOWED_HOSTS: z.string().default(''),
  // Hosts an agent's announce URL may name although the rule refuses them: a lab, never production.
  MONITOR_ANNOUNCE_ALLOWED_HOSTS: z.string().default(''),
  UPSTREAM_TIMEOUT_MS: int(100, 120_000).default(5000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** The validated configuration. */
export interface MonitorConfig {
  readonly port: number;
  /** The internal events port (producers and Alertmanager post there). */
  readonly eventsPort: number;
  /** Events kept per tenant in the journal (GET /monitor/v1/events). */
  readonly journalSize: number;
  readonly iotaNorthUrls: Readonly<Record<DeviceProtocol, string>>;
  readonly orionUrl: string;
  readonly jwksUrl: string;
  /** The tenancy policy data document; its `tenants` are the tenants monitored. */
  readonly policyData: unknown;
  readonly tenants: readonly string[];
  readonly stateFile: string;
  readonly passSeconds: number;
  readonly nudgeCommand: string;
  readonly maxNudges: number;
  readonly graceRatio: number;
  /** Grace in seconds at least, whatever the interval. */
  readonly minGraceSeconds: number;
  readonly webhookTimeoutMs: number;
  readonly webhookAllowedHosts: readonly string[];
  /** Hosts (host or host:port) an agent's announce URL may name beyond the rule. @default none */
  readonly announceAllowedHosts?: readonly string[];
  readonly upstreamTimeoutMs: number;
  readonly logLevel: string;
}

/**
 * Reads the configuration from `env`.
 *
 * @throws PlatformError ERR_MONITOR_CONFIG naming every invalid variable.
 */
export function loadConfig(env: Environment = process.env): MonitorConfig {
  const e = parseEnv(Env, env, (message) => monitorError('ERR_MONITOR_CONFIG', message));
  const policyData = readPolicyDataFile(e.POLICY_DATA_FILE, (message, cause) =>
    monitorError('ERR_MONITOR_CONFIG', message, cause),
  );
  const tenants = (policyData as { tenants?: unknown } | null)?.tenants;
  if (!Array.isArray(tenants) || !tenants.every((t): t is string => typeof t === 'string')) {
    throw monitorError(
      'ERR_MONITOR_CONFIG',
      `POLICY_DATA_FILE ${e.POLICY_DATA_FILE} has no tenants list; use the document \`npm run synth\` generates`,
    );
  }
  return {
    port: e.MONITOR_PORT,
    eventsPort: e.MONITOR_EVENTS_PORT,
    journalSize: e.MONITOR_JOURNAL_SIZE,
    iotaNorthUrls: Object.fromEntries(
      DEVICE_PROTOCOLS.map((p) => [
        p,
        (e as unknown as Record<string, string>)[iotAgentSpec(p).northUrlEnv],
      ]),
    ) as Record<DeviceProtocol, string>,
    orionUrl: e.ORION_URL,
    jwksUrl: e.KEYCLOAK_JWKS_URL,
    policyData,
    tenants,
    stateFile: e.MONITOR_STATE_FILE,
    passSeconds: e.MONITOR_PASS_SECONDS,
    nudgeCommand: e.MONITOR_NUDGE_COMMAND,
    maxNudges: e.MONITOR_MAX_NUDGES,
    graceRatio: e.MONITOR_GRACE_RATIO,
    minGraceSeconds: e.MONITOR_MIN_GRACE_SECONDS,
    webhookTimeoutMs: e.MONITOR_WEBHOOK_TIMEOUT_MS,
    webhookAllowedHosts: hostList(e.MONITOR_WEBHOOK_ALLOWED_HOSTS),
    announceAllowedHosts: hostList(e.MONITOR_ANNOUNCE_ALLOWED_HOSTS),
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
  };
}

// NOTE
// 1. The events port's number. The monitor's registry entry (platform/components.ts) names its
//    ports `api` and `events` (EVENTS_PORT_KEY of platform/events.ts); its Service and the mesh
//    grants are derived from the entry, and the Deployment sets MONITOR_EVENTS_PORT from it.
//    8081 is only the default of a process started by hand.

/** A comma-separated list of hosts, trimmed and lower-cased. */
function hostList(value: string): string[] {
  return value
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
}
