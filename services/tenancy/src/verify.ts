/**
 * Bearer-token verification with jose against the realm's keys: the checks the tenancy policy
 * makes, for services that want the verified claims of a caller.
 */
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { errors, importJWK, jwtVerify } from 'jose';

import { JwksUnavailableError, TokenError } from './errors.js';
import { COMPACT_JWS, jwsDecodes } from './jws.js';
import type { JwksCache } from './jwks.js';
import { selectKey } from './keys.js';

/** Options of {@link verifyBearer}. */
export interface VerifyOptions {
  readonly jwks: JwksCache;
  /** The realm issuer (`iss`), e.g. `https://kitt4sme.localhost/auth/realms/kitt4sme`. */
  readonly issuer: string;
  /** Audiences the token must be for: one of them in `aud`. */
  readonly audiences: readonly string[];
  /** @default 30 */
  readonly clockToleranceSeconds?: number;
  /** Longest token accepted, in characters. @default 8192 */
  readonly maxTokenLength?: number;
  /** @default ['RS256', 'ES256'] */
  readonly algorithms?: readonly string[];
}

/**
 * Verifies a compact JWS bearer token and returns its claims.
 *
 * Signature (RS256/ES256 only, the key chosen by `kid`), issuer, audience or authorized
 * party, `exp` (required), `nbf` and `iat` with bounded skew, and that it is an access token.
 *
 * @throws TokenError naming the problem (never the token); JwksUnavailableError when the keys
 *   cannot be had (fail closed).
 */
export async function verifyBearer(token: string, opts: VerifyOptions): Promise<JWTPayload> {
  // Decoded as strictly as the policy decodes it (jose would also take "=" padding, a BOM and
  // escaped surrogates).
  if (
    token.length > (opts.maxTokenLength ?? 8192) ||
    !COMPACT_JWS.test(token) ||
    !jwsDecodes(token)
  )
    throw new TokenError('malformed', 'malformed token');
  const algorithms = [...(opts.algorithms ?? ['RS256', 'ES256'])];
  const getKey: JWTVerifyGetKey = async (header) => {
    if (!header.alg || !algorithms.includes(header.alg)) {
      throw new TokenError(
        'unsupported-algorithm',
        `unsupported token algorithm: ${String(header.alg)}`,
      );
    }
    const chosen = selectKey(await opts.jwks.keys(header.kid), header.kid, header.alg);
    if ('problem' in chosen) {
      throw chosen.problem === 'unknown-key'
        ? new TokenError('unknown-key', 'token signed with an unknown key')
        : new TokenError('unknown-key', 'token key does not fit its algorithm');
    }
    try {
      return await importJWK(chosen.key, header.alg);
    } catch {
      throw new TokenError('unknown-key', 'token key does not fit its algorithm');
    }
  };
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      issuer: opts.issuer,
      algorithms,
      clockTolerance: opts.clockToleranceSeconds ?? 30,
      requiredClaims: ['exp', 'iss'],
    }));
  } catch (err) {
    throw toTokenError(err);
  }
  const audiences = new Set(opts.audiences);
  // As in the policy: a string or the strings of an array; anything else names no client.
  const aud =
    typeof payload.aud === 'string'
      ? [payload.aud]
      : Array.isArray(payload.aud)
        ? payload.aud.filter((a): a is string => typeof a === 'string')
        : [];
  // RFC 9068 §4: the recipient is `aud`; `azp` names the client and is never enough.
  if (!aud.some((a) => audiences.has(a))) {
    throw new TokenError('wrong-audience', 'token not issued for an API client');
  }
  if (
    payload.typ !== undefined &&
    (typeof payload.typ !== 'string' || payload.typ.toLowerCase() !== 'bearer')
  ) {
    throw new TokenError('not-an-access-token', 'not an access token');
  }
  const skew = opts.clockToleranceSeconds ?? 30;
  if (typeof payload.iat === 'number' && payload.iat - skew > Math.floor(Date.now() / 1000)) {
    throw new TokenError('not-yet-valid', 'token issued in the future');
  }
  return payload;
}

function toTokenError(err: unknown): unknown {
  if (err instanceof TokenError || err instanceof JwksUnavailableError) return err;
  if (err instanceof errors.JWTExpired) return new TokenError('expired', 'token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss')
      return new TokenError('wrong-issuer', 'token issued by another issuer');
    if (err.claim === 'nbf') return new TokenError('not-yet-valid', 'token not valid yet');
    if (err.claim === 'exp') return new TokenError('expired', 'token expired or without exp');
    return new TokenError('malformed', `invalid token claim ${err.claim}`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new TokenError('invalid-signature', 'invalid token signature');
  if (err instanceof errors.JOSEAlgNotAllowed)
    return new TokenError('unsupported-algorithm', 'unsupported token algorithm');
  // Anything else (a JOSEError, or a TypeError on a claim of an unexpected type) is a bad token.
  return new TokenError('malformed', 'malformed token');
}
