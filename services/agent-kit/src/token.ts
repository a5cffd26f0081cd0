/**
 * The agent's access tokens: the client credentials grant (RFC 6749 §4.4) at OIDC_TOKEN_URL with
 * its own client, each token kept until shortly before it expires. NOTE (1)
 */
import { agentError } from './errors.js';

/** Where and as whom to ask. */
export interface ClientCredentialsOptions {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Per request. @default 10 000 ms */
  readonly timeoutMs?: number;
  /** The clock, in ms since the epoch. @default Date.now */
  readonly now?: () => number;
}

/** A token kept this long before its expiry is asked for again. */
const EARLY_MS = 30_000;

/**
 * Tokens of one client. Concurrent callers share one request; a token is reused until
 * 30 s (or a tenth of its lifetime, if shorter) before it expires.
 */
export class ClientCredentials {
  private cached: { token: string; renewAt: number } | undefined;
  private pending: Promise<string> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: ClientCredentialsOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * A valid access token.
   *
   * @throws PlatformError ERR_AGENT_TOKEN when the endpoint is unreachable or refuses.
   */
  async token(): Promise<string> {
    if (this.cached && this.now() < this.cached.renewAt) return this.cached.token;
    this.pending ??= this.request().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forgets the cached token (after a 401: the realm may have revoked it). */
  invalidate(): void {
    this.cached = undefined;
  }

  private async request(): Promise<string> {
    const { tokenUrl, clientId, clientSecret } = this.opts;
    const asked = this.now();
    let res: Response;
    try {
      res = await fetch(tokenUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          // client_secret_basic (RFC 6749 §2.3.1): id and secret form-encoded, then base64.
          authorization: `Basic ${Buffer.from(
            `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`,
          ).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw agentError(
        'ERR_AGENT_TOKEN',
        `the token endpoint ${tokenUrl} did not answer: ${(err as Error).message}`,
        err,
      );
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: reported below with the status
    }
    if (!res.ok || typeof body.access_token !== 'string') {
      const why =
        typeof body.error === 'string'
          ? `${body.error}${typeof body.error_description === 'string' ? `: ${body.error_description}` : ''}`
          : text.slice(0, 200);
      throw agentError(
        'ERR_AGENT_TOKEN',
        `the token endpoint ${tokenUrl} refused the client credentials of '${clientId}' (${res.status}${why ? `, ${why}` : ''})`,
      );
    }
    const lifetimeMs = (typeof body.expires_in === 'number' ? body.expires_in : 60) * 1000;
    this.cached = {
      token: body.access_token,
      renewAt: asked + lifetimeMs - Math.min(EARLY_MS, lifetimeMs / 10),
    };
    return body.access_token;
  }
}

// NOTE (1) Plain fetch, not openid-client (a dependency of services/identity). The contract gives
// the agent a token URL, not an issuer: openid-client wants the issuer's discovery document
// first (one more request at start, to an issuer URL that in the cluster is the public one, not
// the in-mesh keycloak.<ns>.svc address the token URL names) or server metadata built by hand.
// What remains is one form POST with HTTP Basic client authentication and a JSON answer; the
// agent never verifies its own tokens (Orion's side does). The image then carries no
// openid-client (and its oauth4webapi, jose) at all.
