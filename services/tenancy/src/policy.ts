/**
 * The tenancy policy in-process: the same Rego the gateway's OPA runs, compiled to
 * WebAssembly (policies/build/authz.wasm) and evaluated with @open-policy-agent/opa-wasm.
 *
 * The wasm needs three functions from its host. Signatures are checked with jose before the
 * evaluation (asynchronously, as WebCrypto is) and remembered by (algorithm, key thumbprint,
 * token); the policy's io.jwt.verify_rs256/es256 only look the result up, so a token never
 * verified is never valid. A remembered token is the "cached verified token" of the benchmark.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import type { JWK } from 'jose';
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';

import type { ApiKeyData } from '../../../platform/policy-data.js';
import { apiKeyDigest } from '../../../platform/policy-data.js';
import type { Jwks } from './jwks.js';
import { bearerToken, jwsDecodes } from './jws.js';
import { selectKey } from './keys.js';

/** The committed wasm build of policies/kitt4sme. */
export const DEFAULT_WASM_PATH = fileURLToPath(
  new URL('../../../policies/build/authz.wasm', import.meta.url),
);

/** What the Envoy ext_authz plugin, and the express middleware, act on. */
export interface Decision {
  readonly allowed: boolean;
  readonly http_status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** An RFC 9457 problem document (JSON), for denies. */
  readonly body?: string;
}

/** Options of {@link TenancyPolicy.load}. */
export interface TenancyPolicyOptions {
  /** The policy data document (data.kitt4sme.config), as synth generates it. */
  readonly config: unknown;
  /** The wasm module. @default the committed policies/build/authz.wasm */
  readonly wasm?: Uint8Array;
  /** How many verified signatures to remember. @default 10_000 */
  readonly verifiedTokens?: number;
}

/** Thrown when the policy cannot be evaluated; callers must deny. */
export class PolicyEvaluationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PolicyEvaluationError';
  }
}

const ALGORITHMS = new Set(['RS256', 'ES256']);

/** Base64url of "not json": decodes, but not to JSON. */
const UNDECODABLE_TOKEN_PREFIX = 'bm90IGpzb24.bm90IGpzb24.';

/**
 * The input as the wasm may see it. The wasm's JSON decoding is laxer than OPA's (it takes
 * trailing bytes) or fails outright (on invalid UTF-8), so a bearer token whose header or
 * claims OPA would not decode is replaced by one of the same length that does not decode
 * either: both engines then refuse it for the same reason ("not a JWS"), and the length
 * check sees the same length. Everything else is passed as it is.
 */
function withDecodableToken(input: unknown, decodes: (jwt: string) => boolean): unknown {
  const http = (input as { attributes?: { request?: { http?: Record<string, unknown> } } })
    ?.attributes?.request?.http;
  const headers = http?.headers as Record<string, unknown> | undefined;
  const auth = headers?.authorization;
  if (typeof auth !== 'string') return input;
  // The policy's own parse (_bearer): "<scheme> <jwt>", three segments, no comma, no "=".
  const parts = auth.split(' ');
  if (
    parts.length !== 2 ||
    parts[0]!.toLowerCase() !== 'bearer' ||
    auth.includes(',') ||
    parts[1]!.includes('=')
  )
    return input;
  const segments = parts[1]!.split('.');
  if (segments.length !== 3 || !segments[0] || !segments[1]) return input;
  if (decodes(parts[1]!)) return input;
  const length = parts[1]!.length;
  const standIn =
    UNDECODABLE_TOKEN_PREFIX + 'A'.repeat(Math.max(0, length - UNDECODABLE_TOKEN_PREFIX.length));
  return {
    ...(input as object),
    attributes: {
      request: {
        http: { ...http, headers: { ...headers, authorization: `${parts[0]} ${standIn}` } },
      },
    },
  };
}

/** RFC 7638 thumbprint of a public JWK (only the required members count). */
export function jwkThumbprint(jwk: Record<string, unknown>): string {
  const members: Record<string, readonly string[]> = {
    RSA: ['e', 'kty', 'n'],
    EC: ['crv', 'kty', 'x', 'y'],
    OKP: ['crv', 'kty', 'x'],
  };
  const names = members[String(jwk.kty)] ?? ['kty'];
  const canonical = `{${names.map((n) => `${JSON.stringify(n)}:${JSON.stringify(jwk[n])}`).join(',')}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

/** A bounded map that forgets its oldest entries. */
class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(k: K): V | undefined {
    return this.map.get(k);
  }
  has(k: K): boolean {
    return this.map.has(k);
  }
  set(k: K, v: V): void {
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as K);
    this.map.set(k, v);
  }
  clear(): void {
    this.map.clear();
  }
}

/** The tenancy policy, loaded once and evaluated per request. */
export class TenancyPolicy {
  private readonly verified: BoundedMap<string, boolean>;
  private readonly keyObjects = new BoundedMap<string, Awaited<ReturnType<typeof importJWK>>>(256);
  private readonly keyThumbprints = new WeakMap<object, string>();
  /** Whether a token's header and claims decode, by token (checking costs more than the map). */
  private readonly decodable = new BoundedMap<string, boolean>(10_000);
  private loadedKeys?: Jwks;
  private dataLoaded = false;
  private apiKeys?: ApiKeyData;

  private constructor(
    private readonly wasm: LoadedPolicy,
    private readonly config: unknown,
    verified: BoundedMap<string, boolean>,
  ) {
    this.verified = verified;
  }

  /** Loads the wasm policy with its configuration. */
  static async load(opts: TenancyPolicyOptions): Promise<TenancyPolicy> {
    const verified = new BoundedMap<string, boolean>(opts.verifiedTokens ?? 10_000);
    // The policy passes each key as JSON text; its thumbprint is computed once per text.
    const thumbprints = new BoundedMap<string, string | null>(256);
    const thumbprintOfJson = (jwkJson: string): string | null => {
      let thumb = thumbprints.get(jwkJson);
      if (thumb === undefined) {
        try {
          thumb = jwkThumbprint(JSON.parse(jwkJson) as Record<string, unknown>);
        } catch {
          thumb = null;
        }
        thumbprints.set(jwkJson, thumb);
      }
      return thumb;
    };
    const lookup = (alg: string) => (jwt: string, jwkJson: string) => {
      const thumb = thumbprintOfJson(jwkJson);
      return thumb !== null && verified.get(`${alg}|${thumb}|${jwt}`) === true;
    };
    const wasm = await loadPolicy(opts.wasm ?? readFileSync(DEFAULT_WASM_PATH), undefined, {
      'time.now_ns': () => Date.now() * 1_000_000,
      'io.jwt.verify_rs256': lookup('RS256'),
      'io.jwt.verify_es256': lookup('ES256'),
      // The API-key check hashes the request's key (Go's crypto.sha256: lower-case hex).
      'crypto.sha256': (text: unknown) => apiKeyDigest(String(text)),
      // The policy fetches the keys itself only when it was given none; in-process there is
      // no network, so it gets what OPA's http.send gives on a network error (raise_error
      // false), and refuses every token with 503 the way the gateway's OPA does.
      'http.send': () => ({
        status_code: 0,
        error: { code: 'eval_http_send_network_error', message: 'no http.send in-process' },
      }),
    });
    return new TenancyPolicy(wasm, opts.config, verified);
  }

  /**
   * Decides one request. `input` has the shape the OPA-Envoy plugin gives OPA; `keys` are the
   * realm's current signing keys, or undefined when they cannot be had (every token is then
   * refused with 503).
   *
   * @throws PolicyEvaluationError when the policy cannot be evaluated (the caller denies).
   */
  async decide(input: unknown, keys: Jwks | undefined): Promise<Decision> {
    await this.verifySignature(input, keys);
    return this.evaluate(
      withDecodableToken(input, (jwt) => {
        let ok = this.decodable.get(jwt);
        if (ok === undefined) {
          ok = jwsDecodes(jwt);
          this.decodable.set(jwt, ok);
        }
        return ok;
      }),
      keys,
    );
  }

  /** The header an allow names the verified tenant in (`tenant_header` of the policy data). */
  get tenantHeader(): string {
    const name = (this.config as { tenant_header?: unknown })?.tenant_header;
    return typeof name === 'string' ? name : 'x-kitt4sme-tenant';
  }

  /** The claims that carry a token's tenants and roles (`claims` of the policy data). */
  get claimNames(): { readonly tenants: string; readonly roles: string } {
    const claims = (this.config as { claims?: { tenants?: unknown; roles?: unknown } })?.claims;
    return {
      tenants: typeof claims?.tenants === 'string' ? claims.tenants : 'tenants',
      roles: typeof claims?.roles === 'string' ? claims.roles : 'roles',
    };
  }

  /**
   * The API-key digests the policy checks device routes against (`data.kitt4sme.apikeys`, as
   * the provisioning service publishes them); undefined: none, and device routes answer 503.
   */
  setApiKeys(data: ApiKeyData | undefined): void {
    if (data === this.apiKeys) return;
    this.apiKeys = data;
    this.dataLoaded = false;
  }

  /** Forgets every verified signature (the benchmark measures verification this way). */
  forgetVerifiedTokens(): void {
    this.verified.clear();
  }

  private evaluate(input: unknown, keys: Jwks | undefined): Decision {
    if (keys !== this.loadedKeys || !this.dataLoaded) {
      this.wasm.setData({
        kitt4sme: {
          config: this.config,
          ...(keys ? { keys } : {}),
          ...(this.apiKeys ? { apikeys: this.apiKeys } : {}),
        },
      });
      this.loadedKeys = keys;
      this.dataLoaded = true;
    }
    let result: unknown;
    try {
      result = (this.wasm.evaluate(input, 'kitt4sme/authz/decision') as { result?: unknown }[])[0]
        ?.result;
    } catch (err) {
      const message = (err as { message?: string }).message ?? String(err);
      throw new PolicyEvaluationError(`the tenancy policy failed: ${message}`, { cause: err });
    }
    if (!result || typeof (result as Decision).allowed !== 'boolean') {
      throw new PolicyEvaluationError('the tenancy policy returned no decision');
    }
    return result as Decision;
  }

  /** Verifies the request's bearer token (if any) with jose and remembers the result. */
  private async verifySignature(input: unknown, keys: Jwks | undefined): Promise<void> {
    if (!keys) return;
    const auth = (
      input as { attributes?: { request?: { http?: { headers?: Record<string, unknown> } } } }
    )?.attributes?.request?.http?.headers?.authorization;
    const token = bearerToken(auth);
    if (!token) return;
    let alg: string | undefined;
    let kid: string | undefined;
    try {
      ({ alg, kid } = decodeProtectedHeader(token));
    } catch {
      return; // not a JWS: the policy refuses it without a signature check
    }
    if (!alg || !ALGORITHMS.has(alg)) return;
    const chosen = selectKey(keys, kid, alg);
    if (!('key' in chosen)) return; // the policy refuses it for the same reason
    const jwk = chosen.key;
    let thumb = this.keyThumbprints.get(jwk);
    if (!thumb) {
      thumb = jwkThumbprint(jwk as Record<string, unknown>);
      this.keyThumbprints.set(jwk, thumb);
    }
    const memoKey = `${alg}|${thumb}|${token}`;
    if (this.verified.has(memoKey)) return;
    this.verified.set(
      memoKey,
      await this.signatureValid(token, jwk as JWK, alg, `${alg}|${thumb}`),
    );
  }

  /** Whether jose verifies the token's signature with the key; never throws. */
  private async signatureValid(
    token: string,
    jwk: JWK,
    alg: string,
    keyId: string,
  ): Promise<boolean> {
    try {
      let key = this.keyObjects.get(keyId);
      if (!key) {
        key = await importJWK(jwk, alg);
        this.keyObjects.set(keyId, key);
      }
      await compactVerify(token, key, { algorithms: [alg] });
      return true;
    } catch {
      return false;
    }
  }
}
