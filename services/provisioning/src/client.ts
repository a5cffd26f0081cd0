/**
 * A client of the provisioning API (for `npm run provision`, the scenarios and the benchmark).
 */
import type { BulkResult } from './provisioner.js';
import { causeOf } from './upstream.js';

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
    readonly problem?: { code?: string; detail?: string; fix?: string; errors?: unknown[] },
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Options of {@link ProvisioningClient}. */
export interface ProvisioningClientOptions {
  /** The service's API root, e.g. `https://kitt4sme.localhost/provisioning`. */
  readonly baseUrl: string;
  readonly tenant: string;
  /** A bearer token, or a function returning a fresh one. */
  readonly token: string | (() => Promise<string>);
  /** @default 60000 */
  readonly timeoutMs?: number;
}

/** Calls the provisioning API for one tenant. */
export class ProvisioningClient {
  constructor(private readonly opts: ProvisioningClientOptions) {}

  /**
   * One call; resolves for any documented answer (2xx, 207), rejects with {@link ApiError}
   * for problems and network errors.
   */
  async call<T = unknown>(
    method: string,
    path: string,
    o: { servicePath?: string; body?: unknown; query?: Record<string, string> } = {},
  ): Promise<ApiResponse<T>> {
    const url = new URL(`${this.opts.baseUrl.replace(/\/+$/, '')}${path}`);
    for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
    const token = typeof this.opts.token === 'string' ? this.opts.token : await this.opts.token();
    const headers: Record<string, string> = {
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
      const cause = causeOf(err);
      throw new ApiError(
        `the provisioning service at ${this.opts.baseUrl} is unreachable (${cause})`,
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
      const p = (body && typeof body === 'object' ? body : {}) as ApiError['problem'] & {
        detail?: string;
      };
      throw new ApiError(
        `${method} ${url.pathname} answered ${res.status}: ${p?.detail ?? String(body).slice(0, 200)}`,
        res.status,
        p,
      );
    }
    return { status: res.status, body: body as T, headers: res.headers };
  }

  /** Bulk upsert (or a dry run of it). */
  async upsertDevices(
    servicePath: string,
    devices: readonly unknown[],
    dryRun = false,
  ): Promise<BulkResult> {
    const res = await this.call<BulkResult>('POST', '/v1/devices/bulk', {
      servicePath,
      body: { devices },
      query: { dry_run: String(dryRun) },
    });
    return res.body;
  }

  /** Every device id of a service path. */
  async deviceIds(servicePath: string): Promise<string[]> {
    const ids: string[] = [];
    for (let offset = 0; ; offset += 1000) {
      const res = await this.call<{ count: number; devices: { device_id: string }[] }>(
        'GET',
        '/v1/devices',
        {
          servicePath,
          query: { limit: '1000', offset: String(offset) },
        },
      );
      ids.push(...res.body.devices.map((d) => d.device_id));
      if (ids.length >= res.body.count || res.body.devices.length === 0) return ids;
    }
  }
}
