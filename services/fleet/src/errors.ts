/**
 * Errors of the fleet service, documented in docs/errors.md. The service answers each as an
 * RFC 9457 problem whose `type` ends in the code; the records' own problems (a field of a record,
 * an unknown host, an unpinned image) keep their codes of platform/fleet/records.ts and are
 * listed in the problem's `errors`.
 */
import { PlatformError } from '../../../platform/errors.js';

export const FLEET_SERVICE_ERRORS = {
  ERR_FLEET_SERVICE_CONFIG: {
    problem: 'the fleet service was started with a missing or invalid environment variable',
    fix: 'set the variable the message names; services/fleet/src/config.ts lists them all',
  },
  ERR_FLEET_BAD_REQUEST: {
    problem:
      'a request of the fleet API is invalid: its body, a parameter, or the records it would write',
    fix: 'read `errors` in the problem: each entry names the field (or the record and its field) and the rule; fix it and send the request again',
  },
  ERR_FLEET_FORBIDDEN: {
    problem: 'the token is valid for the tenant but lacks the role this operation needs',
    fix: 'reads need viewer; agent writes need operator or tenant-admin; group writes are shared by every tenant and need platform-admin',
  },
  ERR_FLEET_NOT_FOUND: {
    problem: 'no such agent, pipeline, group or host (in this tenant, for agents and pipelines)',
    fix: 'list what exists with GET /fleet/v1/agents, /fleet/v1/groups or /fleet/v1/hosts and use one of those names',
  },
  ERR_FLEET_CONFLICT: {
    problem:
      'the record changed since the caller read it (If-Match does not hold), or it changed underneath this write too often',
    fix: 'read the record again (GET; the problem carries its current ETag in `etag`), apply your change to it and send it with If-Match: <that ETag>',
  },
  ERR_FLEET_ROLLOUT_ACTIVE: {
    problem:
      'the record has a rollout in waves that is progressing or paused: only one rollout per record at a time',
    fix: 'wait for it to finish, or cancel it (POST .../rollout/cancel) before deploying or upgrading again',
  },
  ERR_FLEET_NO_ROLLOUT: {
    problem: 'the record has no rollout in the phase this command acts on',
    fix: 'pause acts on a progressing rollout, resume on a paused or failed one, cancel on any; GET the agent to see its rollout',
  },
  ERR_FLEET_NO_HISTORY: {
    problem: 'the record has no earlier revision to roll back to',
    fix: 'a record created by its last commit cannot be rolled back; upgrade it to the image you want instead',
  },
  ERR_FLEET_PUSH: {
    problem:
      'the git server refused the commit (a hook, a protected branch or missing rights); nothing was written',
    fix: 'read git’s answer in the message; fix the server side (its hook, the branch protection, the push credential) and send the request again',
  },
  ERR_FLEET_GIT_UNAVAILABLE: {
    problem: 'the GitOps repository cannot be reached (fetch or push failed on the network)',
    fix: 'check the repository URL and that the git host is reachable from the service (the mesh allows it), then retry',
  },
  ERR_FLEET_REPO_INVALID: {
    problem:
      'the records at the head of the GitOps repository do not validate (a commit made outside the service broke them)',
    fix: 'fix them in git: `npm run agents -- plan` in a clone lists each problem with its file and field; push the fix and retry',
  },
  ERR_FLEET_NO_STATUS: {
    problem: 'this fleet service has no status source: it cannot report what runs',
    fix: 'run the service with its Kubernetes status source (the cluster deployment does); the records are served without it',
  },
} as const;
export type FleetServiceErrorCode = keyof typeof FLEET_SERVICE_ERRORS;

/** The problem `type` URI of a code (service codes and the records' codes alike). */
export function problemType(code: string): string {
  return `https://kitt4sme.eu/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}

/** A documented fleet service error (configuration, at start). */
export function fleetServiceError(
  code: FleetServiceErrorCode,
  message: string,
  cause?: unknown,
): PlatformError {
  return new PlatformError(code, message, FLEET_SERVICE_ERRORS[code].fix, { cause });
}

/** One entry of a problem's `errors`: the field (or record and field), the rule and a code. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
  readonly code?: string;
}

/** A failure the API answers as a problem (thrown by the store and the routes). */
export class FleetFailure extends Error {
  constructor(
    readonly code: FleetServiceErrorCode,
    readonly status: number,
    message: string,
    readonly errors: readonly FieldError[] = [],
    /** Extension members of the problem (e.g. `etag`, the current ETag of a conflict). */
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'FleetFailure';
  }
}
