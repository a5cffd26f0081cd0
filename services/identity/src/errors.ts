/**
 * Errors of the identity tools (`npm run token`, `npm run realm:apply`), documented in
 * docs/errors.md.
 */
import { PlatformError } from '../../../platform/errors.js';

export const IDENTITY_ERRORS = {
  ERR_KEYCLOAK_UNREACHABLE: {
    problem:
      'Keycloak did not answer at the URL given (connection refused, DNS, TLS or a timeout), or answered with a server error',
    fix: 'check --keycloak-url (it ends in /auth), that Keycloak is up, and for a self-signed ingress certificate set NODE_EXTRA_CA_CERTS to its CA',
  },
  ERR_REALM_NOT_FOUND: {
    problem: 'Keycloak answered but has no such realm',
    fix: 'check --realm (the platform realm is identity.realm in platform/config/platform.ts)',
  },
  ERR_CREDENTIALS_REJECTED: {
    problem:
      'Keycloak refused the client credentials or the user name and password (invalid_client, invalid_grant or unauthorized_client)',
    fix: 'check the client id and secret (KITT4SME_CLIENT_SECRET or the keycloak-realm Secret) and, with --user, the password (KITT4SME_PASSWORD); a user locked out by brute-force protection waits up to 15 minutes',
  },
  ERR_CREDENTIALS_MISSING: {
    problem: 'no secret or password was given and none could be read from the cluster',
    fix: 'set the environment variable the message names, or run against a cluster whose Secret (named in the message) kubectl can read',
  },
  ERR_INSECURE_URL: {
    problem:
      'the Keycloak URL is plain http to a host that is neither loopback nor in-cluster, so secrets and passwords would cross the network unencrypted',
    fix: 'use https (the ingress), or http only to 127.0.0.1/localhost (a port-forward) or a *.svc.cluster.local Service',
  },
  ERR_REALM_APPLY: {
    problem: "Keycloak's admin API refused a change while applying the realm",
    fix: 'read the message (it names the object and Keycloak’s reason), fix the realm definition or the running realm, and run `npm run realm:apply` again; it is idempotent',
  },
  ERR_AGENT_NAMESPACE_MISSING: {
    problem:
      "an agent's namespace (agents-<tenant>), where its client credentials go, does not exist in the cluster",
    fix: 'let Argo CD sync the fleet Application first (it creates the namespace), or check --context; then run `npm run realm:apply -- --agents` again',
  },
  ERR_AGENT_NOT_RECONCILED: {
    problem: 'an agent has no client in the realm yet, so it has no secret to rotate',
    fix: 'let the fleet sync (its hook runs `realm:apply --agents`) or run `npm run realm:apply -- --agents`, then rotate again',
  },
} as const;
export type IdentityErrorCode = keyof typeof IDENTITY_ERRORS;

/** A documented identity error: its code, what happened, and the catalogue's fix. */
export function identityError(
  code: IdentityErrorCode,
  message: string,
  cause?: unknown,
): PlatformError {
  return new PlatformError(code, message, IDENTITY_ERRORS[code].fix, { cause });
}
