/**
 * The service's configuration, from environment variables only (twelve-factor), validated at
 * start so a wrong value stops the service with a message that names the variable.
 */
import { z } from 'zod';

import type { DeviceProtocol } from '../../../platform/components.js';
import {
  COMPONENTS,
  DEVICE_PROTOCOLS,
  IOT_AGENT_IDS,
  iotAgentSpec,
} from '../../../platform/components.js';
import { envInt as int, parseEnv } from '../../../platform/env.js';
import type { Environment } from '../../../platform/env.js';
import { PLATFORM_EVENTS_URL_ENV } from '../../../platform/events.js';
import { readPolicyDataFile } from '../../../platform/policy-data.js';
import { provisioningError } from './errors.js';

/** Devices per bulk request, unless MAX_BATCH says otherwise. */
export const DEFAULT_MAX_BATCH = 1000;

const url = (what: string) => z.url({ protocol: /^https?$/, error: `${what}: an http(s) URL` });

/** The environment variables, their meaning and their defaults (documented in docs/provisioning.md). */
const Env = z.object({
  // 0 picks a free port (tests).
  PROVISIONING_PORT: int(0, 65535).default(8080),
  // One north URL per IoT Agent: IOTA_NORTH_URL (Ultralight 2.0), IOTA_JSON_NORTH_URL (JSON).
  ...Object.fromEntries(
    IOT_AGENT_IDS.map((id) => [
      COMPONENTS[id].iotAgent.northUrlEnv,
      url(
        `the north (provisioning) API of the IoT Agent for ${COMPONENTS[id].iotAgent.label}, e.g. http://${COMPONENTS[id].service.name}:4041`,
      ),
    ]),
  ),
  ORION_URL: url("Orion's NGSI-v2 API, e.g. http://orion:1026"),
  QUANTUMLEAP_NOTIFY_URL: url(
    'the URL Orion notifies QuantumLeap at, e.g. http://quantumleap:8668/v2/notify',
  ),
  KEYCLOAK_ISSUER: url('the issuer of the platform tokens (iss)'),
  KEYCLOAK_JWKS_URL: url("the realm's JWKS URL"),
  POLICY_DATA_FILE: z.string().min(1, 'the path of the tenancy policy data (JSON) synth generates'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  UPSTREAM_TIMEOUT_MS: int(100, 120_000).default(5000),
  UPSTREAM_ATTEMPTS: int(1, 10).default(3),
  MAX_BATCH: int(1, 5000).default(DEFAULT_MAX_BATCH),
  MAX_BODY_BYTES: int(1024, 50 * 1024 * 1024).default(2 * 1024 * 1024),
  DEFAULT_EXPECTED_INTERVAL_S: int(1, 7 * 24 * 3600).default(300),
  STALE_AFTER_INTERVALS: int(1, 1000).default(3),
  // The monitor's internal events port (no path); unset: no device events are raised.
  [PLATFORM_EVENTS_URL_ENV]: url("the monitor's events port, e.g. http://monitor:8081").optional(),
});

/** The validated configuration. */
export interface ProvisioningConfig {
  readonly port: number;
  /** The north (provisioning) API of the IoT Agent of each device protocol. */
  readonly iotaNorthUrls: Readonly<Record<DeviceProtocol, string>>;
  readonly orionUrl: string;
  readonly quantumLeapNotifyUrl: string;
  readonly issuer: string;
  readonly jwksUrl: string;
  /** The tenancy policy data document (`data.kitt4sme.config`). */
  readonly policyData: unknown;
  readonly logLevel: string;
  readonly upstreamTimeoutMs: number;
  readonly upstreamAttempts: number;
  readonly maxBatch: number;
  readonly maxBodyBytes: number;
  readonly defaultExpectedInterval: number;
  readonly staleAfterIntervals: number;
  /** The monitor's events port (PLATFORM_EVENTS_URL); undefined: no device events. */
  readonly eventsUrl?: string | undefined;
}

/**
 * Reads the configuration from `env`.
 *
 * @throws PlatformError ERR_PROVISIONING_CONFIG naming every invalid variable.
 */
export function loadConfig(env: Environment = process.env): ProvisioningConfig {
  const e = parseEnv(Env, env, (message) => provisioningError('ERR_PROVISIONING_CONFIG', message));
  // policies/examples/data.json wraps the document as OPA's data tree sees it.
  const policyData = readPolicyDataFile(e.POLICY_DATA_FILE, (message, cause) =>
    provisioningError('ERR_PROVISIONING_CONFIG', message, cause),
  );
  return {
    port: e.PROVISIONING_PORT,
    iotaNorthUrls: Object.fromEntries(
      DEVICE_PROTOCOLS.map((p) => [
        p,
        (e as unknown as Record<string, string>)[iotAgentSpec(p).northUrlEnv],
      ]),
    ) as Record<DeviceProtocol, string>,
    orionUrl: e.ORION_URL,
    quantumLeapNotifyUrl: e.QUANTUMLEAP_NOTIFY_URL,
    issuer: e.KEYCLOAK_ISSUER,
    jwksUrl: e.KEYCLOAK_JWKS_URL,
    policyData,
    logLevel: e.LOG_LEVEL,
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
    upstreamAttempts: e.UPSTREAM_ATTEMPTS,
    maxBatch: e.MAX_BATCH,
    maxBodyBytes: e.MAX_BODY_BYTES,
    defaultExpectedInterval: e.DEFAULT_EXPECTED_INTERVAL_S,
    staleAfterIntervals: e.STALE_AFTER_INTERVALS,
    eventsUrl: e[PLATFORM_EVENTS_URL_ENV],
  };
}
