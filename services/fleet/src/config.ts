/**
 * The fleet service's configuration, from environment variables only, validated at start so a
 * wrong value stops the service with a message that names the variable.
 *
 * | variable | meaning |
 * |---|---|
 * | `FLEET_PORT` | the HTTP port (default 8080) |
 * | `FLEET_GIT_URL` | the GitOps repository to clone and push (never with a credential in it: the push credential reaches git through GIT_ASKPASS or GIT_SSH_COMMAND, from the `fleet-git` Secret) |
 * | `FLEET_GIT_BRANCH` | the branch of the records (default: the platform config's gitops.targetRevision) |
 * | `FLEET_CLONE_DIR` | the working clone's directory (its own volume; default /var/lib/fleet/repo) |
 * | `FLEET_COMMITTER_NAME`, `FLEET_COMMITTER_EMAIL` | the committer of every commit (default: the service, `fleet@<ingress host>`) |
 * | `FLEET_REFRESH_SECONDS` | how old a read's snapshot may be before it is fetched again (default 5) |
 * | `FLEET_STATUS` | `kubernetes` (default): read what runs from the cluster (in-cluster credentials, or $KUBECONFIG) and advance rollouts; `off`: serve the records only |
 * | `FLEET_ROLLOUT_INTERVAL_SECONDS` | how often the rollout runner judges every rollout (default 5) |
 * | `KEYCLOAK_JWKS_URL` | the realm's JWKS URL |
 * | `POLICY_DATA_FILE` | the tenancy policy data (JSON) synth generates |
 * | `PLATFORM_EVENTS_URL` | the monitor's internal events port (no path), where the fleet's events go (services/fleet/src/events.ts); unset: none are raised |
 * | `LOG_LEVEL` | pino's level (default info) |
 */
import { z } from 'zod';

import type { PlatformContext } from '../../../platform/context.js';
import { loadPlatformContext } from '../../../platform/context.js';
import { envInt as int, parseEnv } from '../../../platform/env.js';
import { PLATFORM_EVENTS_URL_ENV } from '../../../platform/events.js';
import type { Environment } from '../../../platform/env.js';
import { readPolicyDataFile } from '../../../platform/policy-data.js';
import type { Author } from './contract.js';
import { fleetServiceError } from './errors.js';

const Env = z.object({
  FLEET_PORT: int(0, 65535).default(8080),
  FLEET_GIT_URL: z.string().min(1, 'the GitOps repository URL, e.g. https://git.example/kit.git'),
  FLEET_GIT_BRANCH: z
    .string()
    .regex(/^[A-Za-z0-9._/-]+$/, 'a branch name')
    .optional(),
  FLEET_CLONE_DIR: z.string().min(1).default('/var/lib/fleet/repo'),
  FLEET_COMMITTER_NAME: z.string().min(1).default('kitt4sme fleet service'),
  FLEET_COMMITTER_EMAIL: z.email().optional(),
  FLEET_REFRESH_SECONDS: int(0, 3600).default(5),
  FLEET_STATUS: z.enum(['kubernetes', 'off']).default('kubernetes'),
  FLEET_ROLLOUT_INTERVAL_SECONDS: int(1, 3600).default(5),
  KEYCLOAK_JWKS_URL: z.url({ protocol: /^https?$/, error: "the realm's JWKS URL" }),
  POLICY_DATA_FILE: z.string().min(1, 'the path of the tenancy policy data (JSON) synth generates'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  [PLATFORM_EVENTS_URL_ENV]: z
    .url({ protocol: /^https?$/, error: "the monitor's events port, e.g. http://monitor:8081" })
    .optional(),
});

/** The validated configuration. */
export interface FleetConfig {
  readonly port: number;
  readonly ctx: PlatformContext;
  readonly gitUrl: string;
  readonly branch: string;
  readonly cloneDir: string;
  readonly committer: Author;
  readonly refreshSeconds: number;
  /** Read what runs from Kubernetes and advance rollouts, or serve the records only. */
  readonly status: 'kubernetes' | 'off';
  readonly rolloutIntervalSeconds: number;
  readonly jwksUrl: string;
  readonly policyData: unknown;
  readonly logLevel: string;
  /** The monitor's events port (PLATFORM_EVENTS_URL); undefined: no events. */
  readonly eventsUrl?: string | undefined;
}

/**
 * Reads the configuration from `env`.
 *
 * @throws PlatformError ERR_FLEET_SERVICE_CONFIG naming every invalid variable.
 */
export function loadConfig(
  env: Environment = process.env,
  ctx: PlatformContext = loadPlatformContext(),
): FleetConfig {
  const e = parseEnv(Env, env, (message) => fleetServiceError('ERR_FLEET_SERVICE_CONFIG', message));
  const policyData = readPolicyDataFile(e.POLICY_DATA_FILE, (message, cause) =>
    fleetServiceError('ERR_FLEET_SERVICE_CONFIG', message, cause),
  );
  return {
    port: e.FLEET_PORT,
    ctx,
    gitUrl: e.FLEET_GIT_URL,
    branch: e.FLEET_GIT_BRANCH ?? ctx.config.gitops.targetRevision,
    cloneDir: e.FLEET_CLONE_DIR,
    committer: {
      name: e.FLEET_COMMITTER_NAME,
      email: e.FLEET_COMMITTER_EMAIL ?? `fleet@${ctx.config.ingress.host}`,
    },
    refreshSeconds: e.FLEET_REFRESH_SECONDS,
    status: e.FLEET_STATUS,
    rolloutIntervalSeconds: e.FLEET_ROLLOUT_INTERVAL_SECONDS,
    jwksUrl: e.KEYCLOAK_JWKS_URL,
    policyData,
    logLevel: e.LOG_LEVEL,
    eventsUrl: e[PLATFORM_EVENTS_URL_ENV],
  };
}
