/**
 * The agent's NGSI-v2 client: every request carries the agent's tenant (`fiware-service`), its
 * bearer token and, where given, a `fiware-servicepath`. A 401 gets one retry with a fresh
 * token; any other failure is an {@link OrionError} with Orion's status and answer.
 */
import { randomUUID } from 'node:crypto';

import { OrionError } from './errors.js';

/** An NGSI-v2 entity in normalized form. */
export type NgsiEntity = { id: string; type: string } & Record<string, unknown>;

/** An NGSI-v2 attribute in normalized form. */
export interface NgsiAttr {
  readonly type: string;
  readonly value: unknown;
  readonly metadata?: Record<string, { type: string; value: unknown }>;
}

/** What the client needs. */
export interface NgsiClientOptions {
  /** Orion's base URL (ORION_URL), without /v2. */
  readonly baseUrl: string;
  /** The agent's tenant. */
  readonly service: string;
  /** A valid token (ClientCredentials.token). */
  readonly token: () => Promise<string>;
  /** Called after a 401, before the one retry. */
  readonly invalidateToken?: () => void;
  /** Per request. @default 10 000 ms */
  readonly timeoutMs?: number;
}

/** Options of one request. */
export interface NgsiRequest {
  readonly servicePath?: string;
  readonly query?: Record<string, string>;
  readonly body?: unknown;
}

/**
 * An entity id as a path segment: NGSI-v2 ids have no whitespace, `/`, `?`, `#` or `&`, so
 * only `%` needs escaping; `:` stays as it is, so the path the mesh and the policy see is the
 * entity id itself (`/v2/entities/urn:ngsi-ld:AgentInstance:.../attrs`).
 */
function pathSegment(id: string): string {
  return id.replace(/[%\s/?#&]/g, encodeURIComponent);
}

/** A client of Orion for one tenant. */
export class NgsiClient {
  constructor(private readonly opts: NgsiClientOptions) {}

  /**
   * One request; resolves with the status and parsed body of a 2xx answer.
   *
   * @throws OrionError for any other answer, or status 0 when Orion did not answer;
   *   PlatformError ERR_AGENT_TOKEN when no token could be had.
   */
  async request<T = unknown>(
    method: string,
    path: string,
    req: NgsiRequest = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.opts.token();
      const url = new URL(`${this.opts.baseUrl}${path}`);
      for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
      const headers: Record<string, string> = {
        authorization: `Bearer ${token}`,
        'fiware-service': this.opts.service,
        'fiware-correlator': randomUUID(),
        accept: 'application/json',
      };
      if (req.servicePath) headers['fiware-servicepath'] = req.servicePath;
      if (req.body !== undefined) headers['content-type'] = 'application/json';
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers,
          ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
        });
      } catch (err) {
        throw new OrionError(
          0,
          `Orion did not answer ${method} ${url.pathname}: ${(err as Error).message}`,
        );
      }
      const text = await res.text();
      if (res.status === 401 && attempt === 0 && this.opts.invalidateToken) {
        this.opts.invalidateToken();
        continue;
      }
      if (!res.ok)
        throw new OrionError(
          res.status,
          `Orion answered ${res.status} to ${method} ${url.pathname} (fiware-service ${this.opts.service}${req.servicePath ? `, fiware-servicepath ${req.servicePath}` : ''}): ${text.slice(0, 300)}`,
        );
      return {
        status: res.status,
        body: (text ? JSON.parse(text) : undefined) as T,
        headers: res.headers,
      };
    }
  }

  /** Every entity of `type` in exactly `servicePath` (pages of 1000). */
  async listEntities(type: string, servicePath: string): Promise<NgsiEntity[]> {
    const all: NgsiEntity[] = [];
    for (let offset = 0; ; offset += 1000) {
      const { body } = await this.request<NgsiEntity[]>('GET', '/v2/entities', {
        servicePath,
        query: { type, limit: '1000', offset: String(offset) },
      });
      all.push(...body);
      if (body.length < 1000) return all;
    }
  }

  /** PATCH /v2/entities/<id>/attrs: updates attributes of an existing entity (404 if none). */
  async updateAttrs(
    id: string,
    attrs: Record<string, NgsiAttr>,
    servicePath: string,
    type?: string,
  ): Promise<void> {
    await this.request('PATCH', `/v2/entities/${pathSegment(id)}/attrs`, {
      servicePath,
      body: attrs,
      ...(type ? { query: { type } } : {}),
    });
  }

  /**
   * POST /v2/entities/<id>/attrs: updates the attributes the entity has and adds the others
   * (PATCH would refuse an attribute the entity does not have yet with 422).
   */
  async upsertAttrs(
    id: string,
    attrs: Record<string, NgsiAttr>,
    servicePath: string,
    type?: string,
  ): Promise<void> {
    await this.request('POST', `/v2/entities/${pathSegment(id)}/attrs`, {
      servicePath,
      body: attrs,
      ...(type ? { query: { type } } : {}),
    });
  }

  /** POST /v2/entities (no upsert): 422 if it exists. */
  async createEntity(entity: NgsiEntity, servicePath: string): Promise<void> {
    await this.request('POST', '/v2/entities', { servicePath, body: entity });
  }

  /** The tenant's subscriptions (first 1000). */
  async listSubscriptions(): Promise<Record<string, unknown>[]> {
    const { body } = await this.request<Record<string, unknown>[]>('GET', '/v2/subscriptions', {
      query: { limit: '1000' },
    });
    return body;
  }

  /** POST /v2/subscriptions; resolves with the new subscription's id. */
  async createSubscription(subscription: Record<string, unknown>): Promise<string> {
    const { headers } = await this.request('POST', '/v2/subscriptions', { body: subscription });
    return (headers.get('location') ?? '').split('/').pop() ?? '';
  }
}
