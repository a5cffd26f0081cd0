/**
 * The platform as a scenario sees it: its ingress (every URL from the route table), tokens of
 * the tenants' machine clients from Keycloak, and one HTTP helper that says what went wrong.
 *
 * Client secrets come from the environment (`KITT4SME_CLIENT_SECRET_<CLIENT>`, e.g.
 * `KITT4SME_CLIENT_SECRET_MANUFRACTURE_SCENARIOS`), else from the cluster's keycloak-realm
 * Secret through the current kubeconfig context.
 */
import { loadPlatformContext } from '../../platform/context.js';
import type { MachineKind } from '../../platform/identity.js';
import { CLOCK_SKEW_SECONDS } from '../../platform/tenancy.js';
import type { RouteSpec } from '../../platform/routes.js';
import type { ServiceId } from '../../platform/components.js';
import type { PlatformContext } from '../../platform/context.js';
import { tenantToken } from '../../services/identity/src/tenant-token.js';
import { ApiClient } from '../../platform/api-client.js';
import { ProvisioningClient } from '../../services/provisioning/src/client.js';
import { AssertionFailed } from './framework.js';

/** Where the platform is and how to get in. */
export interface TargetOptions {
  /** The ingress. @default the configured one, e.g. `https://kitt4sme.localhost` */
  readonly baseUrl?: string;
  /** Keycloak's base URL ending in /auth. @default `<baseUrl>/auth` */
  readonly keycloakUrl?: string;
  /** @default the platform realm */
  readonly realm?: string;
  /** kubeconfig context for reading the realm Secret. @default the current one */
  readonly kubeContext?: string;
  /** Where client secrets and KITT4SME_EXPIRED_TOKEN are looked up. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Per HTTP request. @default 10 000 ms */
  readonly requestTimeoutMs?: number;
  /**
   * A token of the realm whose expiry has passed, for the tenant-isolation scenario.
   * @default $KITT4SME_EXPIRED_TOKEN, else that step is skipped
   */
  readonly expiredToken?: (tenant: string) => Promise<string | undefined>;
}

/** An HTTP answer, with the request it answered (for messages). */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** `METHOD /path` as sent (no query string: device keys travel in it). */
  readonly request: string;
  /** The body as JSON; throws AssertionFailed when it is not. */
  json<T = unknown>(): T;
}

/** One request through the ingress. */
export interface CallOptions {
  readonly method?: string;
  /** The backend, as in the route table (its prefix is prepended). */
  readonly service: ServiceId;
  /** For services with several routes (the IoT Agent's north and south). */
  readonly port?: string;
  /** The path below the route prefix, query string included. */
  readonly path: string;
  /** The fiware-service header. @default none */
  readonly tenant?: string;
  readonly servicePath?: string;
  /** `undefined`: none. */
  readonly token?: string;
  readonly json?: unknown;
  readonly text?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

const SAFETY_MARGIN_S = 30;

/** The platform under test. */
export class Platform {
  readonly ctx: PlatformContext;
  readonly baseUrl: string;
  readonly keycloakUrl: string;
  readonly realm: string;
  /** How far past its expiry the policy still accepts a token. */
  readonly clockSkewSeconds = CLOCK_SKEW_SECONDS;
  private readonly tokens = new Map<string, { token: string; exp: number }>();

  constructor(private readonly opts: TargetOptions) {
    this.ctx = loadPlatformContext();
    this.baseUrl = (opts.baseUrl ?? this.ctx.publicUrl).replace(/\/+$/, '');
    this.keycloakUrl = (opts.keycloakUrl ?? `${this.baseUrl}/auth`).replace(/\/+$/, '');
    this.realm = opts.realm ?? this.ctx.config.identity.realm;
  }

  /** The tenants of the platform config. */
  get tenants(): string[] {
    return this.ctx.config.tenants.map((t) => t.name);
  }

  /** The route of a backend (the first, or the one of `port`). */
  route(service: ServiceId, port?: string): RouteSpec {
    return this.ctx.route(service, port);
  }

  /** The public URL of `path` on a backend's route. */
  url(service: ServiceId, path: string, port?: string): string {
    return `${this.baseUrl}${this.route(service, port).prefix}${path}`;
  }

  /** Sends one request; network failures and timeouts become AssertionFailed. */
  async call(o: CallOptions): Promise<Reply> {
    const method = o.method ?? 'GET';
    const url = this.url(o.service, o.path, o.port);
    const request = `${method} ${this.route(o.service, o.port).prefix}${readable(o.path.split('?')[0]!)}`;
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    if (o.tenant !== undefined) headers['fiware-service'] = o.tenant;
    if (o.servicePath !== undefined) headers['fiware-servicepath'] = o.servicePath;
    let body: string | undefined;
    if (o.json !== undefined) {
      body = JSON.stringify(o.json);
      headers['content-type'] ??= 'application/json';
    } else if (o.text !== undefined) {
      body = o.text;
      headers['content-type'] ??= 'text/plain';
    }
    const timeout = AbortSignal.timeout(this.opts.requestTimeoutMs ?? 10_000);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout,
      });
    } catch (err) {
      const why = timeout.aborted
        ? `no answer within ${(this.opts.requestTimeoutMs ?? 10_000) / 1000} s`
        : causeText(err);
      throw new AssertionFailed(`${request}: ${why} (is ${this.baseUrl} the platform's ingress?)`, {
        cause: err,
      });
    }
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      text,
      request,
      json<T>() {
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new AssertionFailed(
            `${request} answered ${res.status} with a body that is not JSON: ${snippet(text)}`,
          );
        }
      },
    };
  }

  /** A token of a tenant's machine client (cached until shortly before it expires). */
  async token(tenant: string, kind: MachineKind = 'scenarios'): Promise<string> {
    const key = `${tenant}/${kind}`;
    const cached = this.tokens.get(key);
    if (cached && cached.exp - SAFETY_MARGIN_S > Date.now() / 1000) return cached.token;
    // Several clients' tokens in one run: only the per-client secret variables count.
    const { token: t } = await tenantToken(this.ctx, {
      tenant,
      kind,
      keycloakUrl: this.keycloakUrl,
      realm: this.realm,
      genericEnv: false,
      ...(this.opts.kubeContext ? { context: this.opts.kubeContext } : {}),
      ...(this.opts.env ? { env: this.opts.env } : {}),
    });
    const exp = typeof t.claims.exp === 'number' ? t.claims.exp : Date.now() / 1000 + 60;
    this.tokens.set(key, { token: t.accessToken, exp });
    return t.accessToken;
  }

  /** An expired token of the realm, if one was given. */
  async expiredToken(tenant: string): Promise<string | undefined> {
    if (this.opts.expiredToken) return this.opts.expiredToken(tenant);
    return (this.opts.env ?? process.env).KITT4SME_EXPIRED_TOKEN || undefined;
  }

  /** The provisioning API of a tenant, with the tenant's scenarios token. */
  /** A client of the fleet service for `tenant`, with its scenarios client's token. */
  fleet(tenant: string): ApiClient {
    return new ApiClient({
      baseUrl: `${this.baseUrl}${this.route('fleet').prefix}`,
      tenant,
      token: () => this.token(tenant, 'scenarios'),
      timeoutMs: this.opts.requestTimeoutMs ?? 10_000,
      service: 'the fleet service',
    });
  }

  provisioning(tenant: string): ProvisioningClient {
    return new ProvisioningClient({
      baseUrl: `${this.baseUrl}${this.route('provisioning').prefix}`,
      tenant,
      token: () => this.token(tenant, 'scenarios'),
      timeoutMs: this.opts.requestTimeoutMs ?? 10_000,
    });
  }
}

/** Fails unless the answer has one of the expected statuses; the message shows the answer. */
export function expectStatus(
  reply: Reply,
  expected: number | readonly number[],
  what: string,
): void {
  const ok = typeof expected === 'number' ? [expected] : expected;
  if (!ok.includes(reply.status)) {
    const s = reply.status;
    throw new AssertionFailed(
      `${what}: expected ${ok.join(' or ')}, got ${s} from ${reply.request}${reply.text ? `: ${snippet(reply.text)}` : ''}`,
      // A refusal or a bad request stays so; a missing entity or an overloaded server may not.
      { final: s >= 400 && s < 500 && ![404, 408, 409, 429].includes(s) },
    );
  }
}

/** The start of a body, on one line. */
export function snippet(text: string, max = 200): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** A path with its percent-escapes decoded, for messages. */
function readable(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function causeText(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
}
