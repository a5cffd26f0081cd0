/**
 * Choosing the realm key that verifies a token, by the same rules as the policy (`_key` and
 * `_key_fits_alg` in policies/kitt4sme/authz.rego): exactly one key with the token's `kid`,
 * of the algorithm's type (and curve), and not declared for another algorithm or use.
 */
import type { JWK } from 'jose';

import type { Jwks } from './jwks.js';

/** Why no key was chosen. */
export type KeyProblem = 'unknown-key' | 'key-does-not-fit';

/** The key for a token's `kid` and `alg`, or why there is none. */
export function selectKey(
  jwks: Jwks,
  kid: unknown,
  alg: string,
): { readonly key: JWK } | { readonly problem: KeyProblem } {
  if (typeof kid !== 'string') return { problem: 'unknown-key' };
  const matches = jwks.keys.filter((k) => k.kid === kid);
  if (matches.length !== 1) return { problem: 'unknown-key' };
  const key = matches[0]!;
  return keyFitsAlg(key, alg) ? { key } : { problem: 'key-does-not-fit' };
}

/** Whether a key may verify signatures of the algorithm. */
export function keyFitsAlg(key: JWK, alg: string): boolean {
  if ((key.use ?? 'sig') !== 'sig' || (key.alg ?? alg) !== alg) return false;
  if (alg === 'RS256') return key.kty === 'RSA';
  if (alg === 'ES256') return key.kty === 'EC' && key.crv === 'P-256';
  return false;
}
