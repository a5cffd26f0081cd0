/**
 * Errors of the tenancy helpers, with stable codes (docs/errors.md).
 */
import { PlatformError } from '../../lib/errors.js';

/** The realm's signing keys cannot be fetched or are unusable: every token is refused. */
export class JwksUnavailableError extends PlatformError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(
      'ERR_JWKS_UNAVAILABLE',
      `the realm's signing keys are unavailable: ${message}`,
      "check that Keycloak is up and that the service can reach the realm's JWKS URL; requests are refused until it can",
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
    super(
      'ERR_TOKEN_INVALID',
      message,
      'get a new access token from the platform realm and send it as Authorization: Bearer <token>',
    );
    this.name = 'TokenError';
  }
}
