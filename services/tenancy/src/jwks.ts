/**
 * The realm's signing keys (JWKS), fetched from Keycloak and cached.
 *
 * - Cached for `maxAgeMs`; a request for a key id the cache does not know triggers a refresh,
 *   at most once per `minRefreshIntervalMs` (tokens with random kids cannot make the service
 *   hammer Keycloak).
 * - Fails closed: when the keys cannot be fetched and the cache is older than `maxAgeMs` (or
 *   empty), it throws, and the caller refuses the request. After a failed fetch it fails fast
 *   for `retryAfterFailureMs` instead of asking Keycloak again for every request.
 */
import type { JWK } from 'jose';

import { JwksUnavailableError } from './errors.js';

/** A JSON Web Key Set. */
export interface Jwks {
  readonly keys: readonly JWK[];
}

/** Options of {@link JwksCache}. */
export interface JwksCacheOptions {
  /** The realm's JWKS URL, e.g. `http://keycloak.identity.svc.cluster.local:8080/auth/realms/kitt4sme/protocol/openid-connect/certs`. */
  readonly url: string;
  /** How long keys are trusted without re-fetching. @default 300_000 (5 minutes) */
  readonly maxAgeMs?: number;
  /** The shortest time between two fetches caused by unknown key ids. @default 30_000 */
  readonly minRefreshIntervalMs?: number;
  /** After a failed fetch, how long to fail without fetching again. @default 5_000 */
  readonly retryAfterFailureMs?: number;
  /** Timeout of one fetch. @default 3_000 */
  readonly timeoutMs?: number;
  /** The fetch implementation. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** The clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/** A cached, rate-limited JWKS client that fails closed. */
export class JwksCache {
  private keysCache?: Jwks;
  private fetchedAt = -Infinity;
  private lastAttempt = -Infinity;
  private inflight?: Promise<void>;
  /** How many fetches were made (for metrics and tests). */
  fetches = 0;

  private readonly maxAgeMs: number;
  private readonly minRefreshIntervalMs: number;
  private readonly retryAfterFailureMs: number;
  private lastFailure?: { readonly at: number; readonly error: JwksUnavailableError };
  private readonly timeoutMs: number;
  private readonly doFetch: typeof fetch;
  private readonly now: () => number;

  constructor(private readonly opts: JwksCacheOptions) {
    this.maxAgeMs = opts.maxAgeMs ?? 300_000;
    this.minRefreshIntervalMs = opts.minRefreshIntervalMs ?? 30_000;
    this.retryAfterFailureMs = opts.retryAfterFailureMs ?? 5_000;
    this.timeoutMs = opts.timeoutMs ?? 3_000;
    this.doFetch = opts.fetch ?? globalThis.fetch;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The current keys. Fetches when the cache is empty or stale, or when `kid` is unknown and
   * the last fetch is older than the refresh interval.
   *
   * @throws JwksUnavailableError when no fresh keys can be had.
   */
  async keys(kid?: string): Promise<Jwks> {
    const age = this.now() - this.fetchedAt;
    const stale = !this.keysCache || age >= this.maxAgeMs;
    const unknownKid = kid !== undefined && !this.keysCache?.keys.some((k) => k.kid === kid);
    const mayRefresh = this.now() - this.lastAttempt >= this.minRefreshIntervalMs;
    const backingOff =
      this.lastFailure !== undefined && this.now() - this.lastFailure.at < this.retryAfterFailureMs;
    if (stale && backingOff) throw this.lastFailure!.error;
    if (stale || (unknownKid && mayRefresh && !backingOff)) {
      try {
        await this.refresh();
        this.lastFailure = undefined;
      } catch (err) {
        const error =
          err instanceof JwksUnavailableError
            ? err
            : new JwksUnavailableError(String(err), { cause: err });
        this.lastFailure = { at: this.now(), error };
        if (stale) throw error;
        // Fresh keys are still usable; the unknown kid simply stays unknown.
      }
    }
    if (!this.keysCache || this.now() - this.fetchedAt >= this.maxAgeMs) {
      throw new JwksUnavailableError('no keys fetched yet, or the last ones are too old');
    }
    return this.keysCache;
  }

  private refresh(): Promise<void> {
    // Concurrent callers share one fetch.
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    this.lastAttempt = this.now();
    this.fetches++;
    let res: Response;
    try {
      res = await this.doFetch(this.opts.url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new JwksUnavailableError(`cannot reach ${this.opts.url} (${(err as Error).message})`, {
        cause: err,
      });
    }
    if (!res.ok) throw new JwksUnavailableError(`${this.opts.url} answered ${res.status}`);
    let body: unknown;
    try {
      body = await res.json();
    } catch (err) {
      throw new JwksUnavailableError(`${this.opts.url} did not answer JSON`, { cause: err });
    }
    const keys = (body as { keys?: unknown })?.keys;
    if (
      !Array.isArray(keys) ||
      !keys.every((k) => k && typeof k === 'object' && typeof (k as JWK).kty === 'string')
    ) {
      throw new JwksUnavailableError(`${this.opts.url} did not answer a JWKS`);
    }
    this.keysCache = { keys: keys as JWK[] };
    this.fetchedAt = this.now();
  }
}
