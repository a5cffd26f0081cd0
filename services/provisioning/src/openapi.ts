/**
 * The OpenAPI 3.1 document the service serves at /provisioning/openapi.json. Its schemas are
 * generated from the zod schemas the service validates with (model.ts), and the tests check
 * real responses against it.
 */
import { z } from 'zod';

import { DEFAULT_DEVICE_PROTOCOL, DEVICE_PROTOCOLS } from '../../../platform/components.js';
import {
  Device,
  DeviceBody,
  DeviceSpec,
  Group,
  GroupSpec,
  JsonValue,
  WriteStatus,
} from './model.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const protocolParameter = (description: string) => ({
  name: 'protocol',
  in: 'query',
  description,
  schema: { type: 'string', enum: [...DEVICE_PROTOCOLS] },
});
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});

const FieldError = z.object({ field: z.string(), message: z.string() });
const Problem = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    code: z.string().optional().meta({ description: 'Stable error code (docs/errors.md)' }),
    fix: z.string().optional(),
    errors: z.array(FieldError).optional(),
  })
  .meta({ description: 'RFC 9457 problem details' });
const ItemResult = z.object({
  index: z.number().int(),
  device_id: z.string().optional(),
  status: WriteStatus,
  code: z.string().optional(),
  reason: z.string().optional(),
  errors: z.array(FieldError).optional(),
});
const Summary = z.object({
  created: z.number().int(),
  updated: z.number().int(),
  unchanged: z.number().int(),
  failed: z.number().int(),
});
const BulkResult = z.object({
  dry_run: z.boolean(),
  summary: Summary,
  results: z.array(ItemResult),
});
const GroupResult = z.object({ status: WriteStatus, dry_run: z.boolean(), group: Group });
const DeviceResult = z.object({
  status: WriteStatus,
  dry_run: z.boolean(),
  device: Device.optional(),
});
const SubscriptionResult = z.object({
  status: WriteStatus,
  id: z.string().optional(),
  url: z.string(),
  dry_run: z.boolean(),
});
const InventoryEntry = z.object({
  device_id: z.string(),
  protocol: z.enum(DEVICE_PROTOCOLS),
  entity_name: z.string(),
  entity_type: z.string(),
  expected_interval: z.number().int(),
  last_measurement: z.string().nullable(),
  age_seconds: z.number().int().nullable(),
  state: z.enum(['fresh', 'stale', 'never-seen']),
});
const Inventory = z.object({
  stale_after: z.number().int(),
  generated_at: z.string(),
  summary: z.object({
    fresh: z.number().int(),
    stale: z.number().int(),
    'never-seen': z.number().int(),
  }),
  devices: z.array(InventoryEntry),
});

/** The component schemas, as JSON Schema 2020-12 (OpenAPI 3.1's dialect). */
function components(): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  const all = {
    JsonValue,
    FieldError,
    InventoryEntry,
    DeviceSpec,
    DeviceBody,
    Device,
    GroupSpec,
    Group,
    Problem,
    ItemResult,
    BulkResult,
    GroupResult,
    DeviceResult,
    SubscriptionResult,
    Inventory,
  };
  for (const [id, schema] of Object.entries(all)) registry.add(schema, { id });
  // Request bodies as clients write them (a field with a default is optional), responses as
  // the service writes them (such a field is always there). A type JSON Schema cannot state (a
  // date, a transform's output) throws here rather than being published as "anything". The
  // ids are the registry's: one name per schema, given once (above).
  const requests = new Set(['DeviceSpec', 'DeviceBody', 'GroupSpec']);
  const [input, output] = (['input', 'output'] as const).map(
    (io) =>
      z.toJSONSchema(registry, {
        uri: (id) => `#/components/schemas/${id}`,
        io,
      }).schemas,
  );
  return Object.fromEntries(
    Object.keys(output!).map((id) => {
      const s = (requests.has(id) ? input! : output!)[id] as Record<string, unknown>;
      const { $schema: _dialect, $id: _id, ...rest } = s;
      return [id, rest];
    }),
  );
}

const tenantHeaders = [
  {
    name: 'fiware-service',
    in: 'header',
    required: true,
    description: 'The tenant; must be one of the tenants of the token',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_]{1,50}$' },
  },
  {
    name: 'fiware-servicepath',
    in: 'header',
    required: false,
    description: 'One absolute service path, e.g. /floor1. @default /',
    schema: { type: 'string', default: '/' },
  },
  {
    name: 'fiware-correlator',
    in: 'header',
    required: false,
    description: 'Passed to the IoT Agent and Orion and into the logs; generated when absent',
    schema: { type: 'string' },
  },
];
const dryRun = {
  name: 'dry_run',
  in: 'query',
  required: false,
  description: 'Say what would change without writing anything',
  schema: { type: 'string', enum: ['true', 'false'], default: 'false' },
};
const common = {
  '400': problem('The body is not JSON or was not received whole, or the path does not decode'),
  '401': problem('No token, or the token is not valid (signature, issuer, audience, expiry)'),
  '403': problem('The token does not cover this tenant, or its roles do not allow this'),
  '415': problem(
    'The body is not declared as JSON, or is in a charset or content encoding the service does not take',
  ),
  '422': problem('The input breaks the model; `errors` names each field'),
  '502': problem(
    'The IoT Agent or Orion refused the request, or answered what the service cannot read',
  ),
  '503': problem('The IoT Agent or Orion is unreachable; nothing was written (see Retry-After)'),
};

/** The document. */
export function buildOpenApi(opts: { maxBatch: number }): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'kitt4sme device provisioning',
      version: '1.0.0',
      description:
        "Tenant-scoped, idempotent provisioning of IoT Agent service groups and devices (one agent per device protocol: Ultralight 2.0, JSON), the tenant's QuantumLeap subscription, and a device inventory with liveness. Every call needs a bearer token from the platform realm whose tenants include `fiware-service`.",
    },
    servers: [{ url: '/provisioning' }],
    security: [{ bearer: [] }],
    paths: {
      '/v1/groups': {
        parameters: tenantHeaders,
        get: {
          operationId: 'listGroups',
          summary:
            'Service groups of the service path, one per protocol (API keys only for operators and admins)',
          parameters: [protocolParameter('only the group of this protocol')],
          responses: {
            '200': {
              description: 'The groups',
              content: json({
                type: 'object',
                properties: { groups: { type: 'array', items: ref('Group') } },
                required: ['groups'],
              }),
            },
            ...common,
          },
        },
        put: {
          operationId: 'upsertGroup',
          summary:
            "Create or update the group of the service path and the body's protocol; the API key is generated when omitted",
          parameters: [dryRun],
          requestBody: { required: true, content: json(ref('GroupSpec')) },
          responses: {
            '200': { description: 'Updated or unchanged', content: json(ref('GroupResult')) },
            '201': { description: 'Created', content: json(ref('GroupResult')) },
            '409': problem('The group exists with another API key'),
            ...common,
          },
        },
        delete: {
          operationId: 'deleteGroup',
          summary: 'Delete the group of the service path and a protocol',
          parameters: [
            protocolParameter(`the group's protocol (default ${DEFAULT_DEVICE_PROTOCOL})`),
          ],
          responses: { '204': { description: 'Deleted' }, '404': problem('No group'), ...common },
        },
      },
      '/v1/devices': {
        parameters: tenantHeaders,
        get: {
          operationId: 'listDevices',
          summary: 'Devices of the service path',
          parameters: [
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            },
            { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
          ],
          responses: {
            '200': {
              description: 'The devices',
              content: json({
                type: 'object',
                properties: {
                  count: { type: 'integer' },
                  devices: { type: 'array', items: ref('Device') },
                },
                required: ['count', 'devices'],
              }),
            },
            ...common,
          },
        },
      },
      '/v1/devices/bulk': {
        parameters: tenantHeaders,
        post: {
          operationId: 'upsertDevices',
          summary: `Create, update or leave alone up to ${opts.maxBatch} devices; one result per item`,
          parameters: [dryRun],
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              properties: {
                devices: { type: 'array', maxItems: opts.maxBatch, items: ref('DeviceSpec') },
              },
              required: ['devices'],
            }),
          },
          responses: {
            '200': { description: 'Every item succeeded', content: json(ref('BulkResult')) },
            '207': {
              description:
                'At least one item failed; each failed item says why and was rolled back',
              content: json(ref('BulkResult')),
            },
            '413': problem('Body or batch over the limit'),
            ...common,
          },
        },
      },
      '/v1/devices/{id}': {
        parameters: [
          ...tenantHeaders,
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
        ],
        get: {
          operationId: 'getDevice',
          summary: 'One device',
          responses: {
            '200': { description: 'The device', content: json(ref('Device')) },
            '404': problem('No such device'),
            ...common,
          },
        },
        put: {
          operationId: 'upsertDevice',
          summary: 'Create or update one device (idempotent)',
          parameters: [dryRun],
          requestBody: { required: true, content: json(ref('DeviceBody')) },
          responses: {
            '200': { description: 'Updated or unchanged', content: json(ref('DeviceResult')) },
            '201': { description: 'Created', content: json(ref('DeviceResult')) },
            '409': problem('The device names an API key no group has'),
            ...common,
          },
        },
        delete: {
          operationId: 'deleteDevice',
          summary: 'Delete a device and its context registration',
          parameters: [
            {
              name: 'delete_entity',
              in: 'query',
              description: 'Also delete its entity in Orion',
              schema: { type: 'string', enum: ['true', 'false'], default: 'false' },
            },
          ],
          responses: {
            '204': { description: 'Deleted' },
            '404': problem('No such device'),
            ...common,
          },
        },
      },
      '/v1/subscriptions/quantumleap': {
        parameters: [tenantHeaders[0], tenantHeaders[2]],
        put: {
          operationId: 'ensureQuantumLeapSubscription',
          summary:
            "Ensure the tenant's subscription that feeds QuantumLeap (tenant-admin); created without a service path so it covers the whole tenant",
          parameters: [dryRun],
          responses: {
            '200': { description: 'Already there', content: json(ref('SubscriptionResult')) },
            '201': { description: 'Created', content: json(ref('SubscriptionResult')) },
            ...common,
          },
        },
      },
      '/v1/inventory': {
        parameters: tenantHeaders,
        get: {
          operationId: 'inventory',
          summary: 'Devices with their last measurement (Orion TimeInstant) and liveness',
          parameters: [
            {
              name: 'stale_after',
              in: 'query',
              description: 'A device is stale after this many expected intervals without data',
              schema: { type: 'integer', minimum: 1, maximum: 1000 },
            },
          ],
          responses: {
            '200': { description: 'The inventory', content: json(ref('Inventory')) },
            ...common,
          },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: components(),
    },
  };
}
