/**
 * Access tokens from the platform realm, for scenarios, curl and the tests: client
 * credentials of a tenant's machine client, or (with a user) the password grant through the
 * same confidential client.
 *
 * openid-client and jose, not keycloak-connect: keycloak-connect is deprecated and
 * unmaintained (see README "Why not keycloak-connect").
 */
import * as oidc from 'openid-client';

import { PlatformError } from '../../../platform/errors.js';
import { identityError } from './errors.js';

/** Where the realm is. */
export interface RealmLocation {
  /** Keycloak's base URL including its path, e.g. `https://kitt4sme.localhost/auth`. */
  readonly keycloakUrl: string;
  readonly realm: string;
  /** Give up on each HTTP call after this many seconds. @default 10 */
  readonly timeoutSeconds?: number;
}

/** Who asks for the token. */
export interface TokenRequest extends RealmLocation {
  readonly clientId: string;
  readonly clientSecret: string;
  /** With a user, the password grant; without, client credentials. */
  readonly user?: { readonly username: string; readonly password: string };
}

/** A token response, with the decoded access-token claims (unverified: for display only). */
export interface TokenResult {
  readonly accessToken: string;
  readonly expiresIn: number | undefined;
  readonly tokenType: string;
  readonly idToken: string | undefined;
  readonly claims: Record<string, unknown>;
  readonly issuer: string;
}

/** The realm's issuer URL. */
export function issuerOf(loc: RealmLocation): string {
  return `${loc.keycloakUrl.replace(/\/+$/, '')}/realms/${encodeURIComponent(loc.realm)}`;
}

/** Turns what openid-client and fetch throw into a documented error. */
export function explain(err: unknown, loc: RealmLocation, what: string): PlatformError {
  if (err instanceof PlatformError) return err;
  if (err instanceof oidc.ResponseBodyError) {
    if (['invalid_client', 'invalid_grant', 'unauthorized_client'].includes(err.error))
      return identityError(
        'ERR_CREDENTIALS_REJECTED',
        `Keycloak refused ${what}: ${err.error}${err.error_description ? ` (${err.error_description})` : ''}`,
        err,
      );
    return identityError(
      'ERR_KEYCLOAK_UNREACHABLE',
      `Keycloak answered ${what} with ${err.status} ${err.error}`,
      err,
    );
  }
  const status = statusOf(err);
  if (status === 404)
    return identityError(
      'ERR_REALM_NOT_FOUND',
      `Keycloak at ${loc.keycloakUrl} has no realm "${loc.realm}" (HTTP 404 on ${issuerOf(loc)})`,
      err,
    );
  const reason =
    status !== undefined
      ? `HTTP ${status}`
      : (causeCode(err) ?? (err instanceof Error ? err.message : String(err)));
  return identityError(
    'ERR_KEYCLOAK_UNREACHABLE',
    `cannot reach Keycloak at ${loc.keycloakUrl} for ${what}: ${reason}`,
    err,
  );
}

function statusOf(err: unknown): number | undefined {
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof Response) return cause.status;
  const s = (err as { status?: unknown } | undefined)?.status;
  return typeof s === 'number' ? s : undefined;
}

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string' && /^E[A-Z_]+$/.test(c)) return c;
    if ((e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError')
      return 'timed out';
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Refuses a Keycloak URL that would send secrets in clear over a network: http is only for
 * loopback (a port-forward, the tests) and in-cluster Services.
 * @throws PlatformError ERR_INSECURE_URL
 */
export function assertSafeKeycloakUrl(keycloakUrl: string): URL {
  let url: URL;
  try {
    url = new URL(keycloakUrl);
  } catch (err) {
    throw identityError('ERR_KEYCLOAK_UNREACHABLE', `"${keycloakUrl}" is not a URL`, err);
  }
  const host = url.hostname;
  const local =
    host === '127.0.0.1' ||
    host === 'localhost' ||
    host === '[::1]' ||
    host.endsWith('.svc.cluster.local');
  if (url.protocol === 'https:' || (url.protocol === 'http:' && local)) return url;
  throw identityError(
    'ERR_INSECURE_URL',
    `refusing to send credentials to ${url.protocol}//${url.host}`,
  );
}

/** Discovers the realm's endpoints; http only for loopback and in-cluster URLs. */
export async function discoverRealm(
  loc: RealmLocation,
  clientId: string,
  clientSecret?: string,
): Promise<oidc.Configuration> {
  assertSafeKeycloakUrl(loc.keycloakUrl);
  const issuer = new URL(issuerOf(loc));
  try {
    return await oidc.discovery(issuer, clientId, clientSecret, undefined, {
      timeout: loc.timeoutSeconds ?? 10,
      ...(issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
    });
  } catch (err) {
    throw explain(err, loc, `the discovery of realm "${loc.realm}"`);
  }
}

/** Decodes a JWT's claims without verifying it (display only; never for a decision). */
export function peekClaims(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1] ?? '';
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * Gets an access token.
 * @throws PlatformError ERR_KEYCLOAK_UNREACHABLE, ERR_REALM_NOT_FOUND or ERR_CREDENTIALS_REJECTED.
 */
export async function fetchToken(req: TokenRequest): Promise<TokenResult> {
  const config = await discoverRealm(req, req.clientId, req.clientSecret);
  config.timeout = req.timeoutSeconds ?? 10;
  const what = req.user
    ? `the password grant of user "${req.user.username}" through client "${req.clientId}"`
    : `the client credentials of "${req.clientId}"`;
  try {
    const res = req.user
      ? await oidc.genericGrantRequest(config, 'password', {
          username: req.user.username,
          password: req.user.password,
          scope: 'openid',
        })
      : await oidc.clientCredentialsGrant(config);
    return {
      accessToken: res.access_token,
      expiresIn: res.expires_in,
      tokenType: res.token_type,
      idToken: res.id_token,
      claims: peekClaims(res.access_token),
      issuer: config.serverMetadata().issuer,
    };
  } catch (err) {
    throw explain(err, req, what);
  }
}
