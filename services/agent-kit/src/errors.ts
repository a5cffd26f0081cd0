/**
 * Errors of the agent runtime kit (services/agent-kit) and the modules built on it, documented
 * in docs/errors.md. A module that cannot start because of one of the first two exits with
 * EXIT.usage (platform/cli.ts) after printing the code, the message and the fix on stderr.
 */
import { PlatformError } from '../../../platform/errors.js';

export const AGENT_ERRORS = {
  ERR_AGENT_ENV: {
    problem:
      'an agent module was started with a missing or invalid environment variable of the agent contract (AGENT_ENV, platform/fleet/identity.ts)',
    fix: 'set each variable the message names; the fleet renders them into the pod (docs/agents-as-code.md, Writing a module), a local run sets them itself',
  },
  ERR_AGENT_CONFIG: {
    problem: "an agent module's AGENT_CONFIG is not JSON or does not fit the module's config keys",
    fix: "correct the key the message names in the agent's record (its template's config, the agent's or the pipeline module's config), or in AGENT_CONFIG for a local run",
  },
  ERR_AGENT_TOKEN: {
    problem:
      "the agent could not get an access token by client credentials from OIDC_TOKEN_URL (unreachable, or its client's credentials refused)",
    fix: "check that Keycloak answers at OIDC_TOKEN_URL and that OIDC_CLIENT_ID/OIDC_CLIENT_SECRET are the agent client's (its Secret agent-<id>-client is written by the realm reconciliation after each sync); the agent keeps retrying",
  },
  ERR_AGENT_ORION: {
    problem: 'Orion did not answer an agent request, or refused it',
    fix: "the message gives Orion's status and answer: a 401/403 means the agent's token lacks the right (declare the need in its record), a connection error means ORION_URL is wrong or Orion is down; the agent keeps retrying",
  },
} as const;
export type AgentErrorCode = keyof typeof AGENT_ERRORS;

/** A documented agent error. */
export function agentError(code: AgentErrorCode, message: string, cause?: unknown): PlatformError {
  return new PlatformError(
    code,
    message,
    AGENT_ERRORS[code].fix,
    cause === undefined ? undefined : { cause },
  );
}

/** An Orion answer other than the one expected: the status and Orion's error body. */
export class OrionError extends PlatformError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('ERR_AGENT_ORION', message, AGENT_ERRORS.ERR_AGENT_ORION.fix);
    this.name = 'OrionError';
  }
}
