/**
 * The monitor API's OpenAPI 3.1 document (served at /monitor/openapi.json), from the same zod
 * schema the API validates subscriptions with.
 */
import { z } from 'zod';

import { EventsQuery, SubscriptionBody } from './model.js';
import { EVENT_TYPES } from '../../../platform/events.js';
import { LIVENESS_STATES, TARGET_KINDS } from './liveness.js';

const problem = {
  description: 'An RFC 9457 problem with `code`, `fix` and, for invalid input, `errors`',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};
const json = (ref: string, description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
});
const tenantHeaders = [
  { name: 'fiware-service', in: 'header', required: true, schema: { type: 'string' } },
];

/** The query parameters of a zod object of optional fields. */
function queryParameters(schema: z.ZodObject) {
  const js = z.toJSONSchema(schema, { io: 'input' }) as {
    properties: Record<string, { description?: string }>;
  };
  return Object.entries(js.properties).map(([name, s]) => {
    const { description, ...rest } = s;
    return { name, in: 'query', required: false, description, schema: rest };
  });
}

/** The document. */
export function buildOpenApi() {
  const Subscription = {
    type: 'object',
    required: ['id', 'url', 'types', 'id_pattern', 'created_at'],
    properties: {
      id: { type: 'string' },
      url: { type: 'string', format: 'uri' },
      types: { type: 'array', items: { enum: [...EVENT_TYPES] } },
      id_pattern: { type: 'string' },
      created_at: { type: 'string', format: 'date-time' },
      secret: {
        type: 'string',
        description: 'The Standard Webhooks signing secret; returned once, on creation',
      },
      disabled: {
        type: 'object',
        properties: { at: { type: 'string' }, reason: { type: 'string' } },
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'kitt4sme liveness monitor',
      version: '1',
      description:
        'Device health per tenant and webhook subscriptions delivering CloudEvents 1.0 (structured JSON) signed per Standard Webhooks (webhook-id is the event id: dedupe on it).',
    },
    paths: {
      '/v1/events': {
        get: {
          description:
            "The tenant's journal: its last events (MONITOR_JOURNAL_SIZE per tenant), newest received first, as CloudEvents 1.0 structured JSON; every reader of the tenant may read it.",
          parameters: [...tenantHeaders, ...queryParameters(EventsQuery)],
          responses: { '200': json('Events', "The tenant's events"), default: problem },
        },
      },
      '/v1/targets': {
        get: {
          parameters: tenantHeaders,
          responses: { '200': json('Targets', "The tenant's targets"), default: problem },
        },
      },
      '/v1/subscriptions': {
        get: {
          parameters: tenantHeaders,
          responses: {
            '200': json('Subscriptions', "The tenant's subscriptions (tenant-admin)"),
            default: problem,
          },
        },
        post: {
          parameters: tenantHeaders,
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: z.toJSONSchema(SubscriptionBody, { io: 'input' }) },
            },
          },
          responses: {
            '201': json('Subscription', 'Created; the only answer that carries the secret'),
            default: problem,
          },
        },
      },
      '/v1/subscriptions/{id}': {
        delete: {
          parameters: [
            ...tenantHeaders,
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          ],
          responses: { '204': { description: 'Deleted' }, default: problem },
        },
      },
      '/v1/subscriptions/{id}/deliveries': {
        get: {
          parameters: [
            ...tenantHeaders,
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          ],
          responses: {
            '200': { description: 'The delivery log (last 100 attempts)' },
            default: problem,
          },
        },
      },
    },
    components: {
      schemas: {
        Subscription,
        Event: {
          type: 'object',
          required: ['specversion', 'id', 'type', 'source', 'subject', 'time', 'data'],
          properties: {
            specversion: { const: '1.0' },
            id: { type: 'string', description: 'Derived from what the event says: dedupe on it' },
            type: { enum: [...EVENT_TYPES] },
            source: { type: 'string', description: '/<producer>/tenants/<tenant>' },
            subject: { type: 'string', description: '<kind>s/<id>' },
            time: { type: 'string', format: 'date-time' },
            datacontenttype: { const: 'application/json' },
            data: {
              type: 'object',
              description: "`tenant`, `kind`, `id` and the type's fields (docs/events.md)",
            },
          },
        },
        Events: {
          type: 'object',
          properties: {
            events: { type: 'array', items: { $ref: '#/components/schemas/Event' } },
          },
        },
        Subscriptions: {
          type: 'object',
          properties: {
            subscriptions: { type: 'array', items: { $ref: '#/components/schemas/Subscription' } },
          },
        },
        Targets: {
          type: 'object',
          properties: {
            targets: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  kind: { enum: [...TARGET_KINDS] },
                  id: { type: 'string' },
                  state: { enum: [...LIVENESS_STATES] },
                  since: { type: 'string', format: 'date-time' },
                  last_seen: { type: 'string', format: 'date-time' },
                  nudges: { type: 'integer' },
                },
              },
            },
          },
        },
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'detail'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            code: { type: 'string' },
            fix: { type: 'string' },
            errors: {
              type: 'array',
              items: {
                type: 'object',
                properties: { field: { type: 'string' }, message: { type: 'string' } },
              },
            },
          },
        },
      },
    },
  };
}
