/**
 * HTTP calls to the IoT Agent and Orion: a timeout on every call, retries with exponential
 * backoff and jitter only for idempotent methods, a check of the shape of an answer the caller
 * reads, and one error type that says whether the upstream was unreachable (nothing happened,
 * retry later), answered with a refusal, or answered what the caller cannot read.
 *
 * Built on Node's fetch (undici): keep-alive connection pooling and AbortSignal timeouts
 * without another dependency.
 */

import type { z } from 'zod';

import { causeOf } from '../../../platform/api-client.js';

/** Why an upstream call failed. */
export type UpstreamFailure =
  /** Connection refused, reset, DNS, or a 502/503/504: the upstream is down. */
  | 'unavailable'
  /** No answer within the timeout. */
  | 'timeout'
  /** The upstream answered with another error status. */
  | 'rejected'
  /** The upstream answered 2xx with a body not of the shape the caller reads. */
  | 'malformed';

/** A failed upstream call. */
export class UpstreamError extends Error {
  constructor(
    readonly upstream: string,
    readonly failure: UpstreamFailure,
    message: string,
    /** The upstream's status, for `rejected` and `malformed`. */
    readonly status?: number,
    /** The upstream's error body, parsed when JSON (a malformed answer's is not kept). */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }

  /** True when the call may have had no effect because the upstream could not answer. */
  get unavailable(): boolean {
    return this.failure === 'unavailable' || this.failure === 'timeout';
  }
}

/** Options of {@link Upstream}. */
export interface UpstreamOptions {
  /** Name in messages and metrics, e.g. `iot-agent`. */
  readonly name: string;
  readonly baseUrl: string;
  /** Timeout of one attempt. @default 5000 */
  readonly timeoutMs?: number;
  /** Attempts of an idempotent call, the first included. @default 3 */
  readonly attempts?: number;
  /** First backoff; doubled per attempt, with full jitter. @default 100 */
  readonly backoffMs?: number;
  /** Observes every attempt (metrics). @default none */
  readonly onAttempt?: (upstream: string, method: string, outcome: string, seconds: number) => void;
}

/** One call. */
export interface CallOptions<T = unknown> {
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
  /** Statuses that are answers, not failures (e.g. 404 on a lookup). @default 2xx only */
  readonly accept?: readonly number[];
  /**
   * The shape of a 2xx answer's body: one of another shape fails the call as `malformed`
   * (not retried), rather than let the caller read what is not there. @default no check
   */
  readonly shape?: z.ZodType<T>;
}

/** An upstream answer. */
export interface UpstreamResponse<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
const UNAVAILABLE_STATUSES = new Set([502, 503, 504]);

/** A client of one upstream. */
export class Upstream {
  readonly name: string;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(private readonly opts: UpstreamOptions) {
    this.name = opts.name;
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.attempts = opts.attempts ?? 3;
    this.backoffMs = opts.backoffMs ?? 100;
  }

  /**
   * Calls `method path`. Idempotent methods are retried when the upstream is unavailable or
   * times out; POST and PATCH never are, as a lost answer may hide a done write.
   *
   * @throws UpstreamError
   */
  async call<T = unknown>(
    method: string,
    path: string,
    opts: CallOptions<T> = {},
  ): Promise<UpstreamResponse<T>> {
    const attempts = IDEMPOTENT.has(method) ? this.attempts : 1;
    let last: UpstreamError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(Math.random() * this.backoffMs * 2 ** (attempt - 2));
      try {
        return await this.once<T>(method, path, opts);
      } catch (err) {
        if (!(err instanceof UpstreamError) || !err.unavailable) throw err;
        last = err;
      }
    }
    throw last!;
  }

  private async once<T>(
    method: string,
    path: string,
    opts: CallOptions<T>,
  ): Promise<UpstreamResponse<T>> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = v;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const started = performance.now();
    const observe = (outcome: string) =>
      this.opts.onAttempt?.(this.name, method, outcome, (performance.now() - started) / 1000);
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const timeout = (err as Error).name === 'TimeoutError';
      observe(timeout ? 'timeout' : 'unavailable');
      throw new UpstreamError(
        this.name,
        timeout ? 'timeout' : 'unavailable',
        timeout
          ? `${this.name} did not answer ${method} ${url.pathname} within ${this.timeoutMs} ms`
          : `${this.name} is unreachable at ${this.baseUrl} (${causeOf(err)})`,
      );
    }
    const parsed = parseBody(text);
    const ok = (res.status >= 200 && res.status < 300) || opts.accept?.includes(res.status);
    let answer = parsed;
    if (ok && opts.shape && res.status < 300) {
      const read = opts.shape.safeParse(parsed);
      if (!read.success) {
        observe('malformed');
        // The body is not kept: an answer of the IoT Agent holds the groups' API keys.
        throw new UpstreamError(
          this.name,
          'malformed',
          `${this.name} answered ${method} ${url.pathname} with ${res.status} and a body the service cannot read (${firstIssue(read.error)})`,
          res.status,
        );
      }
      answer = read.data;
    }
    observe(String(res.status));
    if (ok) return { status: res.status, headers: res.headers, body: answer as T };
    if (UNAVAILABLE_STATUSES.has(res.status)) {
      throw new UpstreamError(
        this.name,
        'unavailable',
        `${this.name} answered ${res.status} to ${method} ${url.pathname}`,
        res.status,
        parsed,
      );
    }
    throw new UpstreamError(
      this.name,
      'rejected',
      `${this.name} refused ${method} ${url.pathname} with ${res.status}: ${summarize(parsed)}`,
      res.status,
      parsed,
    );
  }
}

/** Where the first issue of a failed shape check is, and what it is: `devices[0]: expected …`. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const where = issue.path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`))
    .join('');
  return `${where || 'the body'}: ${issue.message}`;
}

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The upstream's own reason, short: Orion's `description`, the IoT Agent's `message`. */
export function summarize(body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const text = [b.error ?? b.name, b.description ?? b.message].filter(Boolean).join(': ');
    if (text) return maskApiKeys(text).slice(0, 300);
    // Some other shape: the body itself, not "[object Object]".
    return maskApiKeys(JSON.stringify(body)).slice(0, 300);
  }
  return maskApiKeys(String(body ?? 'no body')).slice(0, 300);
}

/** Masks API keys the IoT Agent echoes in its messages ("... and API Key 3z4w"). */
export function maskApiKeys(text: string): string {
  return text.replace(/(api[ _-]?key["']?\s*[:=]?\s*["']?)[A-Za-z0-9_-]{1,64}/gi, '$1***');
}

/** The most telling reason of a fetch failure: the socket error code, else its message. */

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
