/**
 * What the tenancy policy expects of a token, defined once for the policy data, the Keycloak
 * realm (identity work) and the tests.
 */

/**
 * OIDC clients whose access tokens the FIWARE APIs accept, as `aud` or `azp`. Tokens of the
 * web applications (Grafana, Kiali, Argo CD) are for those applications only.
 */
export const API_CLIENTS = [
  'kitt4sme-scenarios',
  'kitt4sme-provisioning',
  'kitt4sme-devices',
  'kitt4sme-console',
] as const;
export type ApiClient = (typeof API_CLIENTS)[number];

/** Token claims the policy reads: a multi-valued tenant set and the platform roles. */
export const TOKEN_CLAIMS = { tenants: 'tenants', roles: 'roles' } as const;

/**
 * The request header that names the verified tenant to the backends, set by the gateway's OPA
 * and by the in-process middleware on allowed requests; never accepted from a client.
 */
export const TENANT_HEADER = 'x-kitt4sme-tenant';

/** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. */
export const CLOCK_SKEW_SECONDS = 30;

/** Longest bearer token accepted, in characters; a Keycloak access token is 1-2 KiB. */
export const MAX_TOKEN_LENGTH = 8192;

/** Signature algorithms accepted (asymmetric only: never `none`, never HS*). */
export const TOKEN_ALGORITHMS = ['RS256', 'ES256'] as const;
