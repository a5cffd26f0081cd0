/**
 * The OpenAPI document (src/openapi.ts) as a reader relies on it, without the service: every
 * operation named, summarized and answered with documented problems, the tenant headers and
 * `dry_run` where they apply, every reference resolving, the batch limit as configured, and the
 * schemas of request bodies (as clients write them) and responses (as the service writes them).
 * api.test.ts checks the running service's answers against the same document.
 */
import { describe, expect, it } from '@jest/globals';

import { DEFAULT_DEVICE_PROTOCOL, DEVICE_PROTOCOLS } from '../../../platform/components.js';
import { openApiChecker } from '../../../testing/support/openapi-checker.js';
import { SERVICE_NAME, WriteStatus } from '../src/model.js';
import { buildOpenApi } from '../src/openapi.js';

type Json = Record<string, any>;
const doc = buildOpenApi({ maxBatch: 250 }) as Json;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** Every operation: [path, method, operation]. */
const operations = (d: Json = doc): [string, string, Json][] =>
  Object.entries(d.paths as Json).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m): [string, string, Json] => [path, m, item[m]]),
  );
const op = (id: string) => operations().find(([, , o]) => o.operationId === id)!;
/** The parameters of an operation: its path's and its own. */
const params = (id: string): Json[] => {
  const [path, , o] = op(id);
  return [...(doc.paths[path].parameters ?? []), ...(o.parameters ?? [])];
};
const param = (id: string, name: string) => params(id).find((p) => p.name === name);
const schemas = doc.components.schemas as Json;

/** Every `$ref` in a value. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe('the provisioning OpenAPI document', () => {
  it('is OpenAPI 3.1 with a title, a version, a description and the bearer scheme', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toEqual({
      title: 'kitt4sme device provisioning',
      version: '1.0.0',
      description: expect.stringContaining('`fiware-service`'),
    });
    expect(doc.servers).toEqual([{ url: '/provisioning' }]);
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.components.securitySchemes).toEqual({
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    });
  });

  it('has every operation of the API, each with a unique id and a summary', () => {
    expect(
      operations().map(([path, m, o]) => `${m.toUpperCase()} ${path} ${o.operationId}`),
    ).toEqual([
      'GET /v1/groups listGroups',
      'PUT /v1/groups upsertGroup',
      'DELETE /v1/groups deleteGroup',
      'GET /v1/devices listDevices',
      'POST /v1/devices/bulk upsertDevices',
      'GET /v1/devices/{id} getDevice',
      'PUT /v1/devices/{id} upsertDevice',
      'DELETE /v1/devices/{id} deleteDevice',
      'PUT /v1/subscriptions/quantumleap ensureQuantumLeapSubscription',
      'GET /v1/inventory inventory',
    ]);
    for (const [, , o] of operations()) expect(o.summary).toMatch(/^[A-Z].{8,}/);
  });

  it('documents every answer: a description, JSON for results, a problem for each error', () => {
    for (const [path, m, o] of operations()) {
      const where = `${m} ${path}`;
      for (const [status, r] of Object.entries(o.responses as Json)) {
        expect({ where, status, description: r.description }).toEqual({
          where,
          status,
          description: expect.stringMatching(/^\S.{3,}/),
        });
        if (status === '204') expect(r.content).toBeUndefined();
        else if (Number(status) < 300) {
          expect(Object.keys(r.content)).toEqual(['application/json']);
          expect(r.content['application/json'].schema).toBeDefined();
        } else {
          expect({ where, status, content: r.content }).toEqual({
            where,
            status,
            content: {
              'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
            },
          });
        }
      }
      // The errors any call can meet.
      expect(Object.keys(o.responses)).toEqual(
        expect.arrayContaining(['400', '401', '403', '422', '502', '503']),
      );
      expect(Object.keys(o.responses).filter((s) => Number(s) < 300)).not.toHaveLength(0);
    }
  });

  it('states what each error means', () => {
    const r = op('listDevices')[2].responses;
    expect(r['401'].description).toMatch(/token/);
    expect(r['403'].description).toMatch(/tenant/);
    expect(r['422'].description).toMatch(/`errors`/);
    expect(r['502'].description).toMatch(/refused/);
    expect(r['503'].description).toMatch(/Retry-After/);
    expect(op('upsertGroup')[2].responses['409'].description).toMatch(/API key/);
    expect(op('upsertDevice')[2].responses['409'].description).toMatch(/API key/);
    expect(op('upsertDevices')[2].responses['413'].description).toMatch(/limit/);
    expect(op('upsertDevices')[2].responses['207'].description).toMatch(/rolled back/);
    for (const id of ['getDevice', 'deleteDevice', 'deleteGroup']) {
      expect(op(id)[2].responses['404'].description).toMatch(/^No /);
    }
  });

  it('asks for the tenant headers on every operation, the service path where paths apply', () => {
    for (const [path, , o] of operations()) {
      const names = params(o.operationId).filter((p) => p.in === 'header');
      const service = names.find((p) => p.name === 'fiware-service');
      expect({ path, service }).toEqual({
        path,
        service: {
          name: 'fiware-service',
          in: 'header',
          required: true,
          description: expect.stringContaining('tenant'),
          // The model's rule, not a copy of it.
          schema: { type: 'string', pattern: SERVICE_NAME.source },
        },
      });
      expect(names.find((p) => p.name === 'fiware-correlator')).toMatchObject({
        in: 'header',
        required: false,
        // A caller may send its own, or read the one the service made up from the logs.
        description: expect.stringMatching(/logs.*generated when absent/),
        schema: { type: 'string' },
      });
      const servicePath = names.find((p) => p.name === 'fiware-servicepath');
      if (path === '/v1/subscriptions/quantumleap') {
        // The subscription covers the whole tenant: no service path.
        expect(servicePath).toBeUndefined();
      } else {
        expect(servicePath).toEqual({
          name: 'fiware-servicepath',
          in: 'header',
          required: false,
          description: expect.stringContaining('@default /'),
          schema: { type: 'string', default: '/' },
        });
      }
    }
  });

  it('offers dry_run on every write but deletes, and nowhere else', () => {
    const dryRun = {
      name: 'dry_run',
      in: 'query',
      required: false,
      description: expect.stringContaining('without writing'),
      schema: { type: 'string', enum: ['true', 'false'], default: 'false' },
    };
    for (const [path, m, o] of operations()) {
      const p = param(o.operationId, 'dry_run');
      if (m === 'put' || m === 'post') expect({ path, m, p }).toEqual({ path, m, p: dryRun });
      else expect({ path, m, p }).toEqual({ path, m, p: undefined });
    }
  });

  it('states the query parameters with their bounds and values', () => {
    expect(param('listGroups', 'protocol')).toEqual({
      name: 'protocol',
      in: 'query',
      description: expect.stringMatching(/\S/),
      schema: { type: 'string', enum: [...DEVICE_PROTOCOLS] },
    });
    expect(param('deleteGroup', 'protocol')?.description).toContain(
      `default ${DEFAULT_DEVICE_PROTOCOL}`,
    );
    expect(param('listDevices', 'limit')).toEqual({
      name: 'limit',
      in: 'query',
      schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    });
    expect(param('listDevices', 'offset')).toEqual({
      name: 'offset',
      in: 'query',
      schema: { type: 'integer', minimum: 0, default: 0 },
    });
    expect(param('deleteDevice', 'delete_entity')).toEqual({
      name: 'delete_entity',
      in: 'query',
      description: expect.stringContaining('Orion'),
      schema: { type: 'string', enum: ['true', 'false'], default: 'false' },
    });
    expect(param('inventory', 'stale_after')).toEqual({
      name: 'stale_after',
      in: 'query',
      description: expect.stringMatching(/\S/),
      schema: { type: 'integer', minimum: 1, maximum: 1000 },
    });
    for (const id of ['getDevice', 'upsertDevice', 'deleteDevice']) {
      expect(param(id, 'id')).toEqual({
        name: 'id',
        in: 'path',
        required: true,
        schema: { type: 'string' },
      });
    }
  });

  it('states the batch limit it was built with', () => {
    for (const maxBatch of [1, 250, 1000]) {
      const o = operations(buildOpenApi({ maxBatch }) as Json).find(
        ([, , x]) => x.operationId === 'upsertDevices',
      )![2];
      expect(o.summary).toContain(`up to ${maxBatch} devices`);
      expect(o.requestBody).toEqual({
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              properties: {
                devices: {
                  type: 'array',
                  maxItems: maxBatch,
                  items: { $ref: '#/components/schemas/DeviceSpec' },
                },
              },
              required: ['devices'],
            },
          },
        },
      });
    }
  });

  it('names the schema of each request body and answer', () => {
    const body = (id: string) => op(id)[2].requestBody;
    const ok = (id: string, status = '200') =>
      op(id)[2].responses[status].content['application/json'].schema;
    const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
    expect(body('upsertGroup')).toEqual({
      required: true,
      content: { 'application/json': { schema: ref('GroupSpec') } },
    });
    expect(body('upsertDevice')).toEqual({
      required: true,
      content: { 'application/json': { schema: ref('DeviceBody') } },
    });
    for (const id of ['listGroups', 'listDevices', 'getDevice', 'deleteDevice', 'deleteGroup']) {
      expect(body(id)).toBeUndefined();
    }
    expect(ok('upsertGroup')).toEqual(ref('GroupResult'));
    expect(ok('upsertGroup', '201')).toEqual(ref('GroupResult'));
    expect(ok('upsertDevice')).toEqual(ref('DeviceResult'));
    expect(ok('upsertDevice', '201')).toEqual(ref('DeviceResult'));
    expect(ok('upsertDevices')).toEqual(ref('BulkResult'));
    expect(ok('upsertDevices', '207')).toEqual(ref('BulkResult'));
    expect(ok('getDevice')).toEqual(ref('Device'));
    expect(ok('inventory')).toEqual(ref('Inventory'));
    expect(ok('ensureQuantumLeapSubscription')).toEqual(ref('SubscriptionResult'));
    expect(ok('ensureQuantumLeapSubscription', '201')).toEqual(ref('SubscriptionResult'));
    expect(ok('listGroups')).toEqual({
      type: 'object',
      properties: { groups: { type: 'array', items: ref('Group') } },
      required: ['groups'],
    });
    expect(ok('listDevices')).toEqual({
      type: 'object',
      properties: { count: { type: 'integer' }, devices: { type: 'array', items: ref('Device') } },
      required: ['count', 'devices'],
    });
    expect(op('deleteDevice')[2].responses['204']).toEqual({ description: 'Deleted' });
    expect(op('deleteGroup')[2].responses['204']).toEqual({ description: 'Deleted' });
  });

  it('resolves every reference, and defines no schema nothing uses', () => {
    const used = new Set(refs(doc));
    for (const r of used) {
      expect(r).toMatch(/^#\/components\/schemas\//);
      expect(schemas).toHaveProperty([r.split('/').pop()!]);
    }
    // Schemas are reached from the paths or from each other.
    const reached = new Set<string>();
    const visit = (name: string) => {
      if (reached.has(name)) return;
      reached.add(name);
      for (const r of refs(schemas[name])) visit(r.split('/').pop()!);
    };
    for (const r of refs(doc.paths)) visit(r.split('/').pop()!);
    expect([...reached].sort()).toEqual(Object.keys(schemas).sort());
    for (const s of Object.values(schemas)) {
      expect(s).not.toHaveProperty('$schema');
      expect(s).not.toHaveProperty('$id');
    }
  });

  it('describes problems as RFC 9457 with the stable code, the fix and the field errors', () => {
    expect(schemas.Problem).toMatchObject({
      type: 'object',
      description: 'RFC 9457 problem details',
      required: ['type', 'title', 'status', 'detail'],
      properties: {
        type: { type: 'string' },
        title: { type: 'string' },
        status: { type: 'integer' },
        detail: { type: 'string' },
        instance: { type: 'string' },
        code: { type: 'string', description: expect.stringContaining('docs/errors.md') },
        fix: { type: 'string' },
        errors: { type: 'array', items: { $ref: '#/components/schemas/FieldError' } },
      },
    });
    // Loose: a problem may carry more members (RFC 9457, section 3.2).
    expect(schemas.Problem.additionalProperties).not.toBe(false);
    expect(schemas.FieldError).toMatchObject({
      type: 'object',
      required: ['field', 'message'],
      properties: { field: { type: 'string' }, message: { type: 'string' } },
    });
  });

  it("describes the results of writes with the model's write statuses", () => {
    const statusRef = { $ref: '#/components/schemas/WriteStatus' };
    const status = (name: string) => schemas[name].properties.status;
    for (const name of ['ItemResult', 'GroupResult', 'DeviceResult', 'SubscriptionResult']) {
      const s = status(name);
      expect(s.enum ?? schemas[s.$ref?.split('/').pop()]?.enum).toEqual(WriteStatus.options);
      expect(schemas[name].required).toContain('status');
      if (s.$ref) expect(s).toEqual(statusRef);
    }
    expect(schemas.BulkResult).toMatchObject({
      required: ['dry_run', 'summary', 'results'],
      properties: {
        dry_run: { type: 'boolean' },
        results: { type: 'array', items: { $ref: '#/components/schemas/ItemResult' } },
        summary: {
          type: 'object',
          required: ['created', 'updated', 'unchanged', 'failed'],
          properties: Object.fromEntries(
            ['created', 'updated', 'unchanged', 'failed'].map((k) => [k, { type: 'integer' }]),
          ),
        },
      },
    });
    expect(schemas.ItemResult).toMatchObject({
      required: ['index', 'status'],
      properties: {
        index: { type: 'integer' },
        device_id: { type: 'string' },
        code: { type: 'string' },
        reason: { type: 'string' },
        errors: { type: 'array', items: { $ref: '#/components/schemas/FieldError' } },
      },
    });
    expect(schemas.GroupResult).toMatchObject({
      required: ['status', 'dry_run', 'group'],
      properties: { dry_run: { type: 'boolean' }, group: { $ref: '#/components/schemas/Group' } },
    });
    expect(schemas.DeviceResult).toMatchObject({
      required: ['status', 'dry_run'],
      properties: { dry_run: { type: 'boolean' }, device: { $ref: '#/components/schemas/Device' } },
    });
    expect(schemas.SubscriptionResult).toMatchObject({
      required: ['status', 'url', 'dry_run'],
      properties: { id: { type: 'string' }, url: { type: 'string' }, dry_run: { type: 'boolean' } },
    });
  });

  it('describes the inventory: liveness per device and the summary', () => {
    expect(schemas.Inventory).toMatchObject({
      required: ['stale_after', 'generated_at', 'summary', 'devices'],
      properties: {
        stale_after: { type: 'integer' },
        generated_at: { type: 'string' },
        devices: { type: 'array', items: { $ref: '#/components/schemas/InventoryEntry' } },
        summary: {
          type: 'object',
          required: ['fresh', 'stale', 'never-seen'],
          properties: {
            fresh: { type: 'integer' },
            stale: { type: 'integer' },
            'never-seen': { type: 'integer' },
          },
        },
      },
    });
    const entry = schemas.InventoryEntry;
    expect(entry.required).toEqual([
      'device_id',
      'protocol',
      'entity_name',
      'entity_type',
      'expected_interval',
      'last_measurement',
      'age_seconds',
      'state',
    ]);
    expect(entry.properties.protocol.enum).toEqual([...DEVICE_PROTOCOLS]);
    expect(entry.properties.state.enum).toEqual(['fresh', 'stale', 'never-seen']);
    expect(entry.properties.expected_interval.type).toBe('integer');
    for (const k of ['last_measurement', 'age_seconds']) {
      // Null until the device has sent something.
      expect(JSON.stringify(entry.properties[k])).toContain('"null"');
    }
  });

  it('takes request bodies as clients write them and answers as the service writes them', () => {
    const check = openApiChecker(doc as never);
    // A field with a default may be left out of a request ...
    check.checkRequest('PUT', '/v1/devices/{id}', { entity_name: 'urn:x:1', entity_type: 'X' });
    check.checkRequest('PUT', '/v1/groups', { entity_type: 'X' });
    check.checkRequest('POST', '/v1/devices/bulk', {
      devices: [{ device_id: 'd1', entity_name: 'urn:x:1', entity_type: 'X' }],
    });
    expect(() => check.checkRequest('PUT', '/v1/groups', { entity_type: 3 })).toThrow(
      /the document refuses/,
    );
    expect(() => check.checkRequest('POST', '/v1/devices/bulk', {})).toThrow(
      /the document refuses/,
    );
    // ... and is always in an answer.
    expect(schemas.DeviceSpec.required).not.toContain('protocol');
    expect(schemas.Device.required).toContain('protocol');
    expect(schemas.GroupSpec.required ?? []).not.toContain('protocol');
    expect(schemas.Group.required).toContain('protocol');
    // An answer that breaks its schema is refused.
    expect(() =>
      check.check('GET', '/v1/inventory', 200, { devices: [] }, 'application/json'),
    ).toThrow(/does not match/);
    expect(() =>
      check.check(
        'PUT',
        '/v1/groups',
        409,
        { type: 'x', title: 'x', status: 409 },
        'application/problem+json',
      ),
    ).toThrow(/does not match/);
    check.check(
      'PUT',
      '/v1/groups',
      409,
      { type: 'x', title: 'Conflict', status: 409, detail: 'other key', extra: true },
      'application/problem+json',
    );
  });
});
