/**
 * A client of the platform's own HTTP APIs (provisioning, fleet, monitor), as the CLIs, the
 * scenarios and the benchmarks call them: a bearer token, the tenant header, JSON in and out,
 * and one error ({@link ApiError}) carrying the service's RFC 9457 problem or the network cause.
 */

/** An answer of the service. */
export interface ApiResponse<T> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** A failed call: the service's problem document or the network error. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly problem?: {
      code?: string;
      detail?: string;
      fix?: string;
      errors?: unknown[];
      [k: string]: unknown;
    },
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Options of {@link ApiClient}. */
export interface ApiClientOptions {
  /** The service's API root, e.g. `https://kitt4sme.localhost/provisioning`. */
  readonly baseUrl: string;
  readonly tenant: string;
  /** A bearer token, or a function returning a fresh one. */
  readonly token: string | (() => Promise<string>);
  /** @default 60000 */
  readonly timeoutMs?: number;
  /** What the service is called in messages. @default 'the service' */
  readonly service?: string;
}

/** Options of one call. */
export interface CallOptions {
  readonly servicePath?: string;
  readonly body?: unknown;
  readonly query?: Readonly<Record<string, string>>;
  /** More request headers, e.g. `if-match`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The network error's cause, e.g. `ECONNREFUSED`. */
export function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

/** Calls one of the platform's APIs for one tenant. */
export class ApiClient {
  constructor(protected readonly opts: ApiClientOptions) {}

  /**
   * One call; resolves for any documented answer (2xx, 207), rejects with {@link ApiError}
   * for problems and network errors.
   */
  async call<T = unknown>(
    method: string,
    path: string,
    o: CallOptions = {},
  ): Promise<ApiResponse<T>> {
    const url = new URL(`${this.opts.baseUrl.replace(/\/+$/, '')}${path}`);
    for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
    const token = typeof this.opts.token === 'string' ? this.opts.token : await this.opts.token();
    const headers: Record<string, string> = {
      ...o.headers,
      authorization: `Bearer ${token}`,
      'fiware-service': this.opts.tenant,
      accept: 'application/json',
    };
    if (o.servicePath) headers['fiware-servicepath'] = o.servicePath;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000),
      });
    } catch (err) {
      throw new ApiError(
        `${this.opts.service ?? 'the service'} at ${this.opts.baseUrl} is unreachable (${causeOf(err)})`,
        undefined,
      );
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    if (res.status >= 400) {
      const p = (body && typeof body === 'object' ? body : {}) as NonNullable<ApiError['problem']>;
      throw new ApiError(
        `${method} ${url.pathname} answered ${res.status}: ${p.detail ?? String(body).slice(0, 200)}`,
        res.status,
        p,
      );
    }
    return { status: res.status, body: body as T, headers: res.headers };
  }
}
