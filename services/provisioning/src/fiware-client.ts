/**
 * Typed clients of the two upstreams the service writes to: the IoT Agent's provisioning
 * (north) API and Orion's NGSI-v2 API. Every call names the tenant (`fiware-service`), the
 * service path where it applies, and carries the request's `fiware-correlator`. What the
 * service reads of an answer is checked against a shape, and the types of what they return are
 * those shapes' (one definition of each).
 *
 * @see https://iotagent-node-lib.readthedocs.io/en/latest/api.html
 * @see https://fiware.github.io/specifications/ngsiv2/stable/
 */
import { z } from 'zod';

import type { Upstream } from './upstream.js';
import { UpstreamError } from './upstream.js';

/** Who a call acts for. */
export interface Scope {
  readonly service: string;
  readonly servicePath?: string;
  readonly correlator: string;
}

// ---- the shapes of the answers the service reads ----
// Only what the service reads is checked, loosely (other fields pass): an answer without it
// fails the call as `malformed` (a 502 naming the upstream) rather than give made-up devices or
// an unexpected error.

/**
 * An optional field. `null` reads as absent: the agent stores a field written as `null` and
 * gives it back so, and the service means the same by both.
 */
const absentOr = <T extends z.ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined);
const optionalString = absentOr(z.string());
/** A list of objects (attributes, commands): the service reads their fields as it finds them. */
const objects = absentOr(z.array(z.looseObject({})));

const AGENT_GROUP = z.looseObject({
  apikey: z.string(),
  resource: z.string(),
  entity_type: optionalString,
  timezone: optionalString,
  attributes: objects,
  static_attributes: objects,
  commands: objects,
  autoprovision: absentOr(z.boolean()),
  subservice: optionalString,
});

/**
 * A group as a tenant-wide listing gives it. Its readers (the API-key bundle, the monitor) take
 * only its service path, and its key where it is a usable one: a group they cannot use is left
 * out by them, and does not keep every other group of the tenant from being read.
 */
const TENANT_GROUP = z.looseObject({ subservice: optionalString });

const AGENT_DEVICE = z.looseObject({
  device_id: z.string(),
  service_path: optionalString,
  entity_name: optionalString,
  entity_type: optionalString,
  timezone: optionalString,
  apikey: optionalString,
  endpoint: optionalString,
  transport: optionalString,
  protocol: optionalString,
  attributes: objects,
  static_attributes: objects,
  commands: objects,
});

/** A service group as the IoT Agent stores it (provisioning API field names). */
export type AgentGroup = z.output<typeof AGENT_GROUP>;
/**
 * A group as a tenant-wide listing gives it: its service path, and its API key unchecked (a
 * reader takes it only where it is a non-empty string).
 */
export type TenantGroup = z.output<typeof TENANT_GROUP>;
/** A device as the IoT Agent stores it (provisioning API field names). */
export type AgentDevice = z.output<typeof AGENT_DEVICE>;

/** The agent's listings; a 200 without a body or without the list is an empty one. */
const GROUPS = z.looseObject({ services: z.array(AGENT_GROUP).optional() }).optional();
const TENANT_GROUPS = z.looseObject({ services: z.array(TENANT_GROUP).optional() }).optional();
const DEVICES = z.looseObject({ devices: z.array(AGENT_DEVICE).optional() }).optional();

/** Orion's entities in key-values, by id and type. */
const ENTITIES = z.array(z.looseObject({ id: z.string(), type: z.string() })).optional();

/** An Orion subscription, as far as the service reads it. */
const SUBSCRIPTION = z.looseObject({
  id: z.string(),
  description: optionalString,
  status: optionalString,
  subject: z
    .looseObject({
      entities: z
        .array(
          z.looseObject({
            id: optionalString,
            idPattern: optionalString,
            type: optionalString,
            typePattern: optionalString,
          }),
        )
        .optional(),
      condition: z
        .looseObject({
          attrs: z.array(z.string()).optional(),
          expression: z.unknown().optional(),
        })
        .optional(),
    })
    .optional(),
  notification: z
    .looseObject({
      http: z.looseObject({ url: optionalString }).optional(),
      attrs: z.array(z.string()).optional(),
      exceptAttrs: z.array(z.string()).optional(),
      attrsFormat: optionalString,
    })
    .optional(),
  expires: optionalString,
});
export type Subscription = z.output<typeof SUBSCRIPTION>;
const SUBSCRIPTIONS = z.array(SUBSCRIPTION).optional();

const PAGE = 1000;

/** Every item of a paged listing: pages of {@link PAGE} until a short one. */
async function allPages<T>(
  page: (query: { limit: number; offset: number }) => Promise<T[]>,
): Promise<T[]> {
  const all: T[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const items = await page({ limit: PAGE, offset });
    all.push(...items);
    if (items.length < PAGE) return all;
  }
}

/** The service path a call acts on: without a header, the agent and Orion take `/`. */
const pathOf = (scope: Scope) => scope.servicePath ?? '/';

function headers(scope: Scope): Record<string, string | undefined> {
  return {
    'fiware-service': scope.service,
    'fiware-servicepath': scope.servicePath,
    'fiware-correlator': scope.correlator,
  };
}

/** The IoT Agent's north API. */
export class IotAgentClient {
  constructor(readonly upstream: Upstream) {}

  async listGroups(scope: Scope): Promise<AgentGroup[]> {
    const res = await this.upstream.call('GET', '/iot/services', {
      headers: headers(scope),
      // The agent answers 404 DEVICE_GROUP_NOT_FOUND for a path without groups.
      accept: [404],
      shape: GROUPS,
    });
    if (res.status === 404) return [];
    // The registry filters by service path; keep only exact matches in case it does not.
    return (res.body?.services ?? []).filter(
      (g) => g.subservice === undefined || g.subservice === pathOf(scope),
    );
  }

  /**
   * Every group of a tenant, whatever its service path (`/*`), page by page; of each, only its
   * service path is checked ({@link TenantGroup}).
   */
  async listTenantGroups(service: string): Promise<TenantGroup[]> {
    return allPages(async (query) => {
      const res = await this.upstream.call('GET', '/iot/services', {
        headers: { 'fiware-service': service, 'fiware-servicepath': '/*' },
        query,
        accept: [404],
        shape: TENANT_GROUPS,
      });
      return res.status === 404 ? [] : (res.body?.services ?? []);
    });
  }

  async createGroup(scope: Scope, group: Record<string, unknown>): Promise<void> {
    await this.upstream.call('POST', '/iot/services', {
      headers: headers(scope),
      body: { services: [group] },
    });
  }

  /** Deletes a group; false when there was none. */
  async deleteGroup(scope: Scope, key: { resource: string; apikey: string }): Promise<boolean> {
    const res = await this.upstream.call('DELETE', '/iot/services', {
      headers: headers(scope),
      query: key,
      accept: [404],
    });
    return res.status !== 404;
  }

  /** Every device of a service path, page by page. */
  async listDevices(scope: Scope): Promise<AgentDevice[]> {
    const all = await allPages(async (query) => {
      const res = await this.upstream.call('GET', '/iot/devices', {
        headers: headers(scope),
        query,
        shape: DEVICES,
      });
      return res.body?.devices ?? [];
    });
    // The registry filters by service path; keep only exact matches in case it does not.
    return all.filter((d) => d.service_path === undefined || d.service_path === pathOf(scope));
  }

  /** One device, or undefined. */
  async getDevice(scope: Scope, id: string): Promise<AgentDevice | undefined> {
    const res = await this.upstream.call('GET', `/iot/devices/${encodeURIComponent(id)}`, {
      headers: headers(scope),
      accept: [404],
      shape: AGENT_DEVICE,
    });
    return res.status === 404 ? undefined : res.body;
  }

  /** Creates devices in one request (the agent registers them concurrently). */
  async createDevices(scope: Scope, devices: readonly Record<string, unknown>[]): Promise<void> {
    await this.upstream.call('POST', '/iot/devices', {
      headers: headers(scope),
      body: { devices },
    });
  }

  /** Deletes a device and its context registration; false when there was none. */
  async deleteDevice(scope: Scope, id: string): Promise<boolean> {
    const res = await this.upstream.call('DELETE', `/iot/devices/${encodeURIComponent(id)}`, {
      headers: headers(scope),
      accept: [404],
    });
    return res.status !== 404;
  }
}

/** Orion's NGSI-v2 API. */
export class OrionClient {
  constructor(readonly upstream: Upstream) {}

  async version(correlator: string): Promise<unknown> {
    return (
      await this.upstream.call('GET', '/version', { headers: { 'fiware-correlator': correlator } })
    ).body;
  }

  /**
   * `TimeInstant` of the entities of the given types in a service path (`undefined` when an
   * entity has none), by entity id and type.
   */
  async lastMeasurements(
    scope: Scope,
    types: readonly string[],
  ): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>();
    for (const type of types) {
      const entities = await allPages(async (query) => {
        const res = await this.upstream.call('GET', '/v2/entities', {
          headers: headers(scope),
          query: { type, attrs: 'TimeInstant', options: 'keyValues', ...query },
          shape: ENTITIES,
        });
        return res.body ?? [];
      });
      for (const e of entities) {
        out.set(
          entityKey(e.id, e.type),
          typeof e.TimeInstant === 'string' ? e.TimeInstant : undefined,
        );
      }
    }
    return out;
  }

  /** Every entity of a type (key-values, only `attrs`), paged. */
  async listEntities(
    scope: Scope,
    type: string,
    attrs: readonly string[],
  ): Promise<Record<string, unknown>[]> {
    return allPages(async (query) => {
      const res = await this.upstream.call('GET', '/v2/entities', {
        headers: headers(scope),
        query: { type, attrs: attrs.join(','), options: 'keyValues', ...query },
        shape: ENTITIES,
      });
      return res.body ?? [];
    });
  }

  /** Deletes an entity; false when there was none. */
  async deleteEntity(scope: Scope, id: string, type: string): Promise<boolean> {
    const res = await this.upstream.call('DELETE', `/v2/entities/${encodeURIComponent(id)}`, {
      headers: headers(scope),
      query: { type },
      accept: [404],
    });
    return res.status !== 404;
  }

  /** The tenant's subscriptions (no service path header: all of them). */
  async listSubscriptions(scope: Scope): Promise<Subscription[]> {
    return allPages(async (query) => {
      const res = await this.upstream.call('GET', '/v2/subscriptions', {
        headers: headers({ service: scope.service, correlator: scope.correlator }),
        query,
        shape: SUBSCRIPTIONS,
      });
      return res.body ?? [];
    });
  }

  /** Creates a subscription without a service path header; returns its id. */
  async createSubscription(scope: Scope, subscription: unknown): Promise<string> {
    const res = await this.upstream.call('POST', '/v2/subscriptions', {
      headers: headers({ service: scope.service, correlator: scope.correlator }),
      body: subscription,
    });
    const location = res.headers.get('location') ?? '';
    const id = location.split('/').pop();
    if (!id) {
      throw new UpstreamError(
        this.upstream.name,
        'malformed',
        'Orion created a subscription but sent no Location',
        res.status,
      );
    }
    return id;
  }
}

/** The key of an entity in {@link OrionClient.lastMeasurements}. */
export function entityKey(id: string, type: string): string {
  return `${type}\u0000${id}`;
}
