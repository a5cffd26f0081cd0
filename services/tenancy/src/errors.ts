/**
 * Errors of the tenancy helpers, with stable codes (docs/errors.md).
 */
import { PlatformError } from '../../../platform/errors.js';

/** The catalogue of the tenancy helpers' error codes; docs/errors.md is generated from it. */
export const TENANCY_ERRORS = {
  ERR_JWKS_UNAVAILABLE: {
    problem:
      "the realm's signing keys (its JWKS) could not be fetched or held no usable key, so every token is refused (HTTP 503)",
    fix: "check that Keycloak is up and that the service can reach the realm's JWKS URL; requests are refused until it can",
  },
  ERR_TOKEN_INVALID: {
    problem:
      'a bearer token was malformed, used another algorithm than RS256/ES256, was signed by an unknown key or badly, or had the wrong issuer, audience or validity (HTTP 401)',
    fix: 'get a new access token from the platform realm and send it as Authorization: Bearer <token>',
  },
} as const;

/** The realm's signing keys cannot be fetched or are unusable: every token is refused. */
export class JwksUnavailableError extends PlatformError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(
      'ERR_JWKS_UNAVAILABLE',
      `the realm's signing keys are unavailable: ${message}`,
      TENANCY_ERRORS.ERR_JWKS_UNAVAILABLE.fix,
      options,
    );
    this.name = 'JwksUnavailableError';
  }
}

/** Why a bearer token was refused. */
export type TokenProblem =
  | 'malformed'
  | 'unsupported-algorithm'
  | 'unknown-key'
  | 'invalid-signature'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'expired'
  | 'not-yet-valid'
  | 'not-an-access-token';

/** A bearer token that does not verify. Its message never contains the token. */
export class TokenError extends PlatformError {
  constructor(
    readonly problem: TokenProblem,
    message: string,
  ) {
    super('ERR_TOKEN_INVALID', message, TENANCY_ERRORS.ERR_TOKEN_INVALID.fix);
    this.name = 'TokenError';
  }
}
