/**
 * What the tenancy policy expects of a token, defined once for the policy data, the Keycloak
 * realm (platform/realm.ts) and the tests.
 */

import { RESOURCE_CLIENTS } from './identity.js';

/**
 * Audiences the FIWARE APIs and the provisioning service accept in `aud`. The
 * realm's API clients (machine clients and the console) put both into their access tokens;
 * tokens of the web applications (Grafana, Kiali, Argo CD) carry neither.
 */
export const API_AUDIENCES = [RESOURCE_CLIENTS.fiware, RESOURCE_CLIENTS.provisioning] as const;

/** Token claims the policy reads: a multi-valued tenant set and the platform roles. */
export const TOKEN_CLAIMS = { tenants: 'tenants', roles: 'roles' } as const;

/**
 * The NGSI header that names the tenant (FIWARE service) of a request; Orion and QuantumLeap
 * keep one database per value. The agents' mesh grants are bound to it (platform/fleet/).
 */
export const FIWARE_SERVICE_HEADER = 'fiware-service';

/**
 * The request header that names the verified tenant to the backends, set by the gateway's OPA
 * and by the in-process middleware on allowed requests; never accepted from a client.
 */
export const TENANT_HEADER = 'x-kitt4sme-tenant';

/**
 * The response header in which the gateway's OPA and the in-process middleware name why a
 * request was refused (the policy's reason, never a secret).
 */
export const DENY_REASON_HEADER = 'x-kitt4sme-deny-reason';

/** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. */
export const CLOCK_SKEW_SECONDS = 30;

/** Longest bearer token accepted, in characters; a Keycloak access token is 1-2 KiB. */
export const MAX_TOKEN_LENGTH = 8192;

/** Signature algorithms accepted (asymmetric only: never `none`, never HS*). */
export const TOKEN_ALGORITHMS = ['RS256', 'ES256'] as const;

/**
 * What a device API key is made of: the provisioning service accepts and generates only such
 * keys, and the policy admits no other on a device route. They read the same percent-encoded
 * or not, so the policy and the agent never decode one differently.
 */
export const API_KEY_FORMAT = {
  chars: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-',
  minLength: 4,
  maxLength: 64,
} as const;

/** {@link API_KEY_FORMAT} as a regular expression. */
export const API_KEY_PATTERN = new RegExp(
  `^[A-Za-z0-9_-]{${API_KEY_FORMAT.minLength},${API_KEY_FORMAT.maxLength}}$`,
);

/**
 * The IoT Agents' default API key (`IOTA_DEFAULT_KEY`): outside {@link API_KEY_FORMAT} (it has
 * dots), so no device route ever admits it and no group can hold it.
 */
export const AGENT_DEFAULT_KEY = 'kitt4sme.no.default.key';
