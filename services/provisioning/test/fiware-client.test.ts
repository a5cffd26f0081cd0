/**
 * The typed clients of the IoT Agent's north API and of Orion (fiware-client.ts), against a stub
 * HTTP server that records what they send: method, path and query, the FIWARE headers and the
 * JSON body; pagination, 404 lookups, refusals, and the upstream error kinds they pass through.
 */
import { afterEach, describe, expect, it } from '@jest/globals';

import type { RecordedRequest, StubHandler, StubServer } from '../../../testing/support/http.js';
import { json, startRecordingStub } from '../../../testing/support/http.js';
import type { Scope } from '../src/fiware-client.js';
import { IotAgentClient, OrionClient, entityKey } from '../src/fiware-client.js';
import type { UpstreamOptions } from '../src/upstream.js';
import { Upstream, UpstreamError } from '../src/upstream.js';

let stub: StubServer | undefined;
let sent: RecordedRequest[] = [];

afterEach(async () => {
  await stub?.close();
  stub = undefined;
  sent = [];
});

/** An answer without a body. */
function empty(status: number, headers: Record<string, string> = {}): StubHandler {
  return (_req, res) => {
    res.writeHead(status, headers);
    res.end();
  };
}

/** An upstream whose server records each request and answers with `answer(request, n)`. */
async function upstream(
  answer: (req: RecordedRequest, n: number) => StubHandler,
  name = 'iot-agent',
  opts: Partial<UpstreamOptions> = {},
): Promise<Upstream> {
  const started = await startRecordingStub(answer);
  stub = started.stub;
  sent = started.sent;
  return new Upstream({ name, baseUrl: `${stub.url}/`, backoffMs: 1, ...opts });
}

async function agent(
  answer: (req: RecordedRequest, n: number) => StubHandler,
): Promise<IotAgentClient> {
  return new IotAgentClient(await upstream(answer, 'iot-agent'));
}

async function orion(
  answer: (req: RecordedRequest, n: number) => StubHandler,
): Promise<OrionClient> {
  return new OrionClient(await upstream(answer, 'orion'));
}

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

const scope: Scope = { service: 'factory', servicePath: '/line1', correlator: 'corr-1' };

/** The headers of a call in `scope` without a body. */
const scoped = {
  accept: 'application/json',
  'fiware-service': 'factory',
  'fiware-servicepath': '/line1',
  'fiware-correlator': 'corr-1',
};

/** The headers of a call in `scope` with a JSON body. */
const scopedJson = { ...scoped, 'content-type': 'application/json' };

/** The headers of a call for the whole tenant (no service path). */
const tenantWide = {
  accept: 'application/json',
  'fiware-service': 'factory',
  'fiware-correlator': 'corr-1',
};

function devices(n: number, from = 0): { device_id: string }[] {
  return Array.from({ length: n }, (_, i) => ({ device_id: `d${from + i}` }));
}

function entities(n: number, type: string, from = 0): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `e${from + i}`,
    type,
    TimeInstant: `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}Z`,
  }));
}

describe('entityKey', () => {
  it('joins type and id with a NUL, type first', () => {
    expect(entityKey('urn:e:1', 'Sensor')).toBe('Sensor\u0000urn:e:1');
    expect(entityKey('a', 'b')).not.toBe(entityKey('b', 'a'));
  });
});

describe('IotAgentClient.listGroups', () => {
  it('asks GET /iot/services in the scope and keeps groups of no or the same service path', async () => {
    const client = await agent(() =>
      json(200, {
        count: 3,
        services: [
          { apikey: 'k1', resource: '/iot/json' },
          { apikey: 'k2', resource: '/iot/json', subservice: '/line1' },
          { apikey: 'k3', resource: '/iot/json', subservice: '/line2' },
        ],
      }),
    );
    expect(await client.listGroups(scope)).toEqual([
      { apikey: 'k1', resource: '/iot/json' },
      { apikey: 'k2', resource: '/iot/json', subservice: '/line1' },
    ]);
    expect(sent).toEqual([
      { method: 'GET', path: '/iot/services', headers: scoped, body: undefined },
    ]);
  });

  it('takes a scope without a service path as /, as the agent does', async () => {
    const client = await agent(() =>
      json(200, {
        services: [
          { apikey: 'k1', resource: '/iot/json' },
          { apikey: 'k2', resource: '/iot/json', subservice: '/' },
          { apikey: 'k3', resource: '/iot/json', subservice: '/line2' },
        ],
      }),
    );
    expect(await client.listGroups({ service: 'factory', correlator: 'corr-1' })).toEqual([
      { apikey: 'k1', resource: '/iot/json' },
      { apikey: 'k2', resource: '/iot/json', subservice: '/' },
    ]);
    expect(sent[0]!.headers).toEqual(tenantWide);
  });

  it('answers no groups for a 404, whatever its body', async () => {
    const client = await agent(() =>
      json(404, {
        name: 'DEVICE_GROUP_NOT_FOUND',
        services: [{ apikey: 'k1', resource: '/iot/json' }],
      }),
    );
    expect(await client.listGroups(scope)).toEqual([]);
  });

  it('answers no groups for a 200 without services or without a body', async () => {
    const client = await agent((_req, n) => (n === 1 ? json(200, { count: 0 }) : empty(200)));
    expect(await client.listGroups(scope)).toEqual([]);
    expect(await client.listGroups(scope)).toEqual([]);
  });

  it('passes a refusal on as a rejected UpstreamError with the agent reason', async () => {
    const client = await agent(() =>
      json(400, { name: 'BAD_REQUEST', message: 'wrong service path' }),
    );
    const err = await failure(client.listGroups(scope));
    expect(err.failure).toBe('rejected');
    expect(err.unavailable).toBe(false);
    expect(err.status).toBe(400);
    expect(err.upstream).toBe('iot-agent');
    expect(err.body).toEqual({ name: 'BAD_REQUEST', message: 'wrong service path' });
    expect(err.message).toBe(
      'iot-agent refused GET /iot/services with 400: BAD_REQUEST: wrong service path',
    );
    expect(sent).toHaveLength(1);
  });

  it('retries a GET on 503 and then answers', async () => {
    const client = await agent((_req, n) =>
      n < 3
        ? json(503, { error: 'Busy' })
        : json(200, { services: [{ apikey: 'k', resource: '/r' }] }),
    );
    expect(await client.listGroups(scope)).toEqual([{ apikey: 'k', resource: '/r' }]);
    expect(sent.map((s) => s.path)).toEqual(['/iot/services', '/iot/services', '/iot/services']);
  });
});

describe('IotAgentClient.listTenantGroups', () => {
  it('asks every service path (/*) page by page until a short page', async () => {
    const page1 = Array.from({ length: 1000 }, (_, i) => ({ apikey: `k${i}`, resource: '/r' }));
    const client = await agent((_req, n) =>
      json(200, {
        services: n === 1 ? page1 : [{ apikey: 'last', resource: '/r', subservice: '/x' }],
      }),
    );
    const groups = await client.listTenantGroups('factory');
    expect(groups).toHaveLength(1001);
    expect(groups[0]).toEqual({ apikey: 'k0', resource: '/r' });
    expect(groups[999]).toEqual({ apikey: 'k999', resource: '/r' });
    expect(groups[1000]).toEqual({ apikey: 'last', resource: '/r', subservice: '/x' });
    const headers = {
      accept: 'application/json',
      'fiware-service': 'factory',
      'fiware-servicepath': '/*',
    };
    expect(sent).toEqual([
      { method: 'GET', path: '/iot/services?limit=1000&offset=0', headers, body: undefined },
      { method: 'GET', path: '/iot/services?limit=1000&offset=1000', headers, body: undefined },
    ]);
  });

  it('stops after one short page and keeps groups of any service path', async () => {
    const client = await agent(() =>
      json(200, {
        services: [
          { apikey: 'a', resource: '/r', subservice: '/line1' },
          { apikey: 'b', resource: '/r', subservice: '/line2' },
        ],
      }),
    );
    expect((await client.listTenantGroups('factory')).map((g) => g.apikey)).toEqual(['a', 'b']);
    expect(sent).toHaveLength(1);
  });

  it('reads a 404 as no groups, on the first or a later page', async () => {
    const page1 = Array.from({ length: 1000 }, (_, i) => ({ apikey: `k${i}`, resource: '/r' }));
    const client = await agent((_req, n) =>
      n === 1
        ? json(200, { services: page1 })
        : json(404, {
            name: 'DEVICE_GROUP_NOT_FOUND',
            services: [{ apikey: 'x', resource: '/r' }],
          }),
    );
    expect(await client.listTenantGroups('factory')).toHaveLength(1000);
    expect(sent).toHaveLength(2);
    expect(await client.listTenantGroups('factory')).toEqual([]);
    expect(sent).toHaveLength(3);
  });

  it('reads a 200 without services or body as an empty page', async () => {
    const client = await agent((_req, n) => (n === 1 ? json(200, {}) : empty(200)));
    expect(await client.listTenantGroups('factory')).toEqual([]);
    expect(await client.listTenantGroups('factory')).toEqual([]);
    expect(sent).toHaveLength(2);
  });

  it('fails on a refusal', async () => {
    const client = await agent(() => json(403, { name: 'FORBIDDEN', message: 'no' }));
    const err = await failure(client.listTenantGroups('factory'));
    expect(err.failure).toBe('rejected');
    expect(err.message).toBe('iot-agent refused GET /iot/services with 403: FORBIDDEN: no');
  });
});

describe('IotAgentClient.createGroup', () => {
  it('POSTs the group wrapped in services, in the scope', async () => {
    const client = await agent(() => empty(201));
    const group = { apikey: 'k1', resource: '/iot/json', entity_type: 'Sensor' };
    await expect(client.createGroup(scope, group)).resolves.toBeUndefined();
    expect(sent).toEqual([
      { method: 'POST', path: '/iot/services', headers: scopedJson, body: { services: [group] } },
    ]);
  });

  it('does not retry a POST on 503: one attempt, unavailable', async () => {
    const client = await agent(() => json(503, { error: 'Busy' }));
    const err = await failure(client.createGroup(scope, { apikey: 'k1', resource: '/r' }));
    expect(err.failure).toBe('unavailable');
    expect(err.unavailable).toBe(true);
    expect(err.status).toBe(503);
    expect(err.message).toBe('iot-agent answered 503 to POST /iot/services');
    expect(sent).toHaveLength(1);
  });

  it('fails on a 409 duplicate, masking the API key the agent echoes', async () => {
    const client = await agent(() =>
      json(409, {
        name: 'DUPLICATE_GROUP',
        message: 'A device configuration already exists for resource /r and API Key s3cr3t',
      }),
    );
    const err = await failure(client.createGroup(scope, { apikey: 's3cr3t', resource: '/r' }));
    expect(err.failure).toBe('rejected');
    expect(err.status).toBe(409);
    expect(err.message).toBe(
      'iot-agent refused POST /iot/services with 409: DUPLICATE_GROUP: A device configuration already exists for resource /r and API Key ***',
    );
  });
});

describe('IotAgentClient.deleteGroup', () => {
  it('DELETEs by resource and API key and answers true when there was one', async () => {
    const client = await agent(() => empty(204));
    expect(await client.deleteGroup(scope, { resource: '/iot/json', apikey: 'k1' })).toBe(true);
    expect(sent).toEqual([
      {
        method: 'DELETE',
        path: '/iot/services?resource=%2Fiot%2Fjson&apikey=k1',
        headers: scoped,
        body: undefined,
      },
    ]);
  });

  it('answers false for a 404', async () => {
    const client = await agent(() => json(404, { name: 'DEVICE_GROUP_NOT_FOUND' }));
    expect(await client.deleteGroup(scope, { resource: '/r', apikey: 'k' })).toBe(false);
    expect(sent).toHaveLength(1);
  });

  it('fails on another refusal', async () => {
    const client = await agent(() => json(500, { name: 'INTERNAL', message: 'db down' }));
    const err = await failure(client.deleteGroup(scope, { resource: '/r', apikey: 'k' }));
    expect(err.failure).toBe('rejected');
    expect(err.status).toBe(500);
    expect(err.message).toBe('iot-agent refused DELETE /iot/services with 500: INTERNAL: db down');
    expect(sent).toHaveLength(1);
  });
});

describe('IotAgentClient.listDevices', () => {
  it('pages GET /iot/devices by 1000 until a short page', async () => {
    const client = await agent((_req, n) =>
      json(200, { count: 1002, devices: n === 1 ? devices(1000) : devices(2, 1000) }),
    );
    const all = await client.listDevices(scope);
    expect(all.map((d) => d.device_id)).toEqual(devices(1002).map((d) => d.device_id));
    expect(sent).toEqual([
      { method: 'GET', path: '/iot/devices?limit=1000&offset=0', headers: scoped, body: undefined },
      {
        method: 'GET',
        path: '/iot/devices?limit=1000&offset=1000',
        headers: scoped,
        body: undefined,
      },
    ]);
  });

  it('asks for one more (empty) page after exactly 1000 devices', async () => {
    const client = await agent((_req, n) =>
      json(200, { devices: n === 1 ? devices(1000) : n === 2 ? [] : devices(5) }),
    );
    expect(await client.listDevices(scope)).toHaveLength(1000);
    expect(sent.map((s) => s.path)).toEqual([
      '/iot/devices?limit=1000&offset=0',
      '/iot/devices?limit=1000&offset=1000',
    ]);
  });

  it('stops at the first short page', async () => {
    const client = await agent(() => json(200, { devices: devices(999) }));
    expect(await client.listDevices(scope)).toHaveLength(999);
    expect(sent).toHaveLength(1);
  });

  it('keeps only devices of no or the same service path', async () => {
    const client = await agent(() =>
      json(200, {
        devices: [
          { device_id: 'a' },
          { device_id: 'b', service_path: '/line1' },
          { device_id: 'c', service_path: '/line2' },
          { device_id: 'd', service_path: '/' },
        ],
      }),
    );
    expect(await client.listDevices(scope)).toEqual([
      { device_id: 'a' },
      { device_id: 'b', service_path: '/line1' },
    ]);
    // Without a service path, the scope is /.
    expect(await client.listDevices({ service: 'factory', correlator: 'c' })).toEqual([
      { device_id: 'a' },
      { device_id: 'd', service_path: '/' },
    ]);
  });

  it('reads a 200 without devices or body as no devices', async () => {
    const client = await agent((_req, n) => (n === 1 ? json(200, { count: 0 }) : empty(200)));
    expect(await client.listDevices(scope)).toEqual([]);
    expect(await client.listDevices(scope)).toEqual([]);
    expect(sent).toHaveLength(2);
  });

  it('does not take a 404 for an empty list', async () => {
    const client = await agent(() => json(404, { name: 'NOT_FOUND', message: 'no such path' }));
    const err = await failure(client.listDevices(scope));
    expect(err.failure).toBe('rejected');
    expect(err.status).toBe(404);
    expect(err.message).toBe(
      'iot-agent refused GET /iot/devices with 404: NOT_FOUND: no such path',
    );
  });

  it('gives up after three attempts when the agent stays unavailable', async () => {
    const client = await agent(() => json(504, { error: 'Gateway Timeout' }));
    const err = await failure(client.listDevices(scope));
    expect(err.failure).toBe('unavailable');
    expect(err.message).toBe('iot-agent answered 504 to GET /iot/devices');
    expect(sent).toHaveLength(3);
  });
});

describe('IotAgentClient.getDevice', () => {
  it('GETs one device by its encoded id and returns it', async () => {
    const device = { device_id: 'a b/c', entity_name: 'urn:d:1', attributes: [{ object_id: 't' }] };
    const client = await agent(() => json(200, device));
    expect(await client.getDevice(scope, 'a b/c')).toEqual(device);
    expect(sent).toEqual([
      { method: 'GET', path: '/iot/devices/a%20b%2Fc', headers: scoped, body: undefined },
    ]);
  });

  it('answers undefined for a 404, whatever its body', async () => {
    const client = await agent(() => json(404, { name: 'DEVICE_NOT_FOUND', device_id: 'x' }));
    expect(await client.getDevice(scope, 'x')).toBeUndefined();
  });

  it('fails on another refusal', async () => {
    const client = await agent(() => json(401, { name: 'UNAUTHORIZED', message: 'token' }));
    const err = await failure(client.getDevice(scope, 'x'));
    expect(err.failure).toBe('rejected');
    expect(err.status).toBe(401);
    expect(err.message).toBe('iot-agent refused GET /iot/devices/x with 401: UNAUTHORIZED: token');
  });
});

describe('IotAgentClient.createDevices', () => {
  it('POSTs every device in one request, in the scope', async () => {
    const client = await agent(() => empty(201));
    const list = [
      { device_id: 'd1', protocol: 'PDI-IoTA-JSON' },
      { device_id: 'd2', protocol: 'PDI-IoTA-JSON' },
    ];
    await expect(client.createDevices(scope, list)).resolves.toBeUndefined();
    expect(sent).toEqual([
      { method: 'POST', path: '/iot/devices', headers: scopedJson, body: { devices: list } },
    ]);
  });

  it('leaves out the service path header when the scope has none', async () => {
    const client = await agent(() => empty(201));
    await client.createDevices({ service: 'factory', correlator: 'corr-1' }, []);
    expect(sent[0]!.headers).toEqual({ ...tenantWide, 'content-type': 'application/json' });
    expect(sent[0]!.body).toEqual({ devices: [] });
  });

  it('fails on a refusal with a non-JSON body, keeping the text', async () => {
    const client = await agent(() => (_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('bad device');
    });
    const err = await failure(client.createDevices(scope, [{ device_id: 'd' }]));
    expect(err.failure).toBe('rejected');
    expect(err.body).toBe('bad device');
    expect(err.message).toBe('iot-agent refused POST /iot/devices with 400: bad device');
  });

  it('says no body when a refusal has none', async () => {
    const client = await agent(() => empty(422));
    const err = await failure(client.createDevices(scope, [{ device_id: 'd' }]));
    expect(err.body).toBeUndefined();
    expect(err.message).toBe('iot-agent refused POST /iot/devices with 422: no body');
  });
});

describe('IotAgentClient.deleteDevice', () => {
  it('DELETEs the encoded id and answers true when there was one', async () => {
    const client = await agent(() => empty(204));
    expect(await client.deleteDevice(scope, 'dev#1')).toBe(true);
    expect(sent).toEqual([
      { method: 'DELETE', path: '/iot/devices/dev%231', headers: scoped, body: undefined },
    ]);
  });

  it('answers false for a 404', async () => {
    const client = await agent(() => json(404, { name: 'DEVICE_NOT_FOUND' }));
    expect(await client.deleteDevice(scope, 'x')).toBe(false);
  });

  it('fails on another refusal', async () => {
    const client = await agent(() => json(400, { name: 'BAD', message: 'nope' }));
    const err = await failure(client.deleteDevice(scope, 'x'));
    expect(err.failure).toBe('rejected');
    expect(err.message).toBe('iot-agent refused DELETE /iot/devices/x with 400: BAD: nope');
  });
});

describe('OrionClient.version', () => {
  it('GETs /version with only the correlator and returns the body', async () => {
    const client = await orion(() => json(200, { orion: { version: '4.1.0' } }));
    expect(await client.version('corr-9')).toEqual({ orion: { version: '4.1.0' } });
    expect(sent).toEqual([
      {
        method: 'GET',
        path: '/version',
        headers: { accept: 'application/json', 'fiware-correlator': 'corr-9' },
        body: undefined,
      },
    ]);
  });

  it('fails on a refusal, naming orion', async () => {
    const client = await orion(() => json(500, { error: 'Internal', description: 'oops' }));
    const err = await failure(client.version('c'));
    expect(err.upstream).toBe('orion');
    expect(err.message).toBe('orion refused GET /version with 500: Internal: oops');
  });
});

describe('OrionClient.lastMeasurements', () => {
  it('maps each entity of each type to its TimeInstant, if a string', async () => {
    const client = await orion((req) =>
      req.path.includes('type=Sensor')
        ? json(200, [
            { id: 'e1', type: 'Sensor', TimeInstant: '2026-01-01T00:00:00Z' },
            { id: 'e2', type: 'Sensor', TimeInstant: 1234 },
            { id: 'e3', type: 'Sensor' },
          ])
        : json(200, [{ id: 'e1', type: 'Robot', TimeInstant: '2026-02-02T00:00:00Z' }]),
    );
    const out = await client.lastMeasurements(scope, ['Sensor', 'Robot']);
    expect([...out.entries()]).toEqual([
      ['Sensor\u0000e1', '2026-01-01T00:00:00Z'],
      ['Sensor\u0000e2', undefined],
      ['Sensor\u0000e3', undefined],
      ['Robot\u0000e1', '2026-02-02T00:00:00Z'],
    ]);
    expect(sent).toEqual([
      {
        method: 'GET',
        path: '/v2/entities?type=Sensor&attrs=TimeInstant&options=keyValues&limit=1000&offset=0',
        headers: scoped,
        body: undefined,
      },
      {
        method: 'GET',
        path: '/v2/entities?type=Robot&attrs=TimeInstant&options=keyValues&limit=1000&offset=0',
        headers: scoped,
        body: undefined,
      },
    ]);
  });

  it('pages each type until a short page', async () => {
    const client = await orion((_req, n) =>
      json(200, n === 1 ? entities(1000, 'Sensor') : entities(1, 'Sensor', 1000)),
    );
    const out = await client.lastMeasurements(scope, ['Sensor']);
    expect(out.size).toBe(1001);
    expect(out.get(entityKey('e1000', 'Sensor'))).toBe('2026-01-01T00:00:00Z');
    expect(sent.map((s) => s.path)).toEqual([
      '/v2/entities?type=Sensor&attrs=TimeInstant&options=keyValues&limit=1000&offset=0',
      '/v2/entities?type=Sensor&attrs=TimeInstant&options=keyValues&limit=1000&offset=1000',
    ]);
  });

  it('asks nothing for no types and reads an empty answer as no entities', async () => {
    const client = await orion(() => empty(200));
    expect((await client.lastMeasurements(scope, [])).size).toBe(0);
    expect(sent).toHaveLength(0);
    expect((await client.lastMeasurements(scope, ['Sensor'])).size).toBe(0);
    expect(sent).toHaveLength(1);
  });

  it('fails on a refusal', async () => {
    const client = await orion(() =>
      json(400, { error: 'BadRequest', description: 'Invalid characters in entity type' }),
    );
    const err = await failure(client.lastMeasurements(scope, ['S;']));
    expect(err.failure).toBe('rejected');
    expect(err.message).toBe(
      'orion refused GET /v2/entities with 400: BadRequest: Invalid characters in entity type',
    );
  });
});

describe('OrionClient.listEntities', () => {
  it('GETs key-values of the listed attributes, page by page', async () => {
    const client = await orion((_req, n) =>
      json(200, n === 1 ? entities(1000, 'Sensor') : [{ id: 'last', type: 'Sensor' }]),
    );
    const all = await client.listEntities(scope, 'Sensor', ['temperature', 'refDevice']);
    expect(all).toHaveLength(1001);
    expect(all[1000]).toEqual({ id: 'last', type: 'Sensor' });
    expect(sent).toEqual([
      {
        method: 'GET',
        path: '/v2/entities?type=Sensor&attrs=temperature%2CrefDevice&options=keyValues&limit=1000&offset=0',
        headers: scoped,
        body: undefined,
      },
      {
        method: 'GET',
        path: '/v2/entities?type=Sensor&attrs=temperature%2CrefDevice&options=keyValues&limit=1000&offset=1000',
        headers: scoped,
        body: undefined,
      },
    ]);
  });

  it('reads an empty answer as no entities', async () => {
    const client = await orion(() => empty(200));
    expect(await client.listEntities(scope, 'Sensor', ['a'])).toEqual([]);
    expect(sent).toHaveLength(1);
  });

  it('fails on a refusal', async () => {
    const client = await orion(() => json(403, { error: 'Forbidden', description: 'tenant' }));
    const err = await failure(client.listEntities(scope, 'Sensor', ['a']));
    expect(err.status).toBe(403);
    expect(err.message).toBe('orion refused GET /v2/entities with 403: Forbidden: tenant');
  });
});

describe('OrionClient.deleteEntity', () => {
  it('DELETEs the encoded id with its type and answers true when there was one', async () => {
    const client = await orion(() => empty(204));
    expect(await client.deleteEntity(scope, 'urn:ngsi:S 1', 'Sensor')).toBe(true);
    expect(sent).toEqual([
      {
        method: 'DELETE',
        path: '/v2/entities/urn%3Angsi%3AS%201?type=Sensor',
        headers: scoped,
        body: undefined,
      },
    ]);
  });

  it('answers false for a 404', async () => {
    const client = await orion(() => json(404, { error: 'NotFound', description: 'no entity' }));
    expect(await client.deleteEntity(scope, 'e', 'Sensor')).toBe(false);
  });

  it('fails on another refusal', async () => {
    const client = await orion(() => json(422, { error: 'Unprocessable', description: 'x' }));
    const err = await failure(client.deleteEntity(scope, 'e', 'Sensor'));
    expect(err.failure).toBe('rejected');
    expect(err.message).toBe('orion refused DELETE /v2/entities/e with 422: Unprocessable: x');
  });
});

describe('OrionClient.listSubscriptions', () => {
  it('pages the tenant subscriptions without a service path header', async () => {
    const page1 = Array.from({ length: 1000 }, (_, i) => ({ id: `s${i}` }));
    const client = await orion((_req, n) => json(200, n === 1 ? page1 : [{ id: 'last' }]));
    const subs = await client.listSubscriptions(scope);
    expect(subs).toHaveLength(1001);
    expect(subs[1000]).toEqual({ id: 'last' });
    expect(sent).toEqual([
      {
        method: 'GET',
        path: '/v2/subscriptions?limit=1000&offset=0',
        headers: tenantWide,
        body: undefined,
      },
      {
        method: 'GET',
        path: '/v2/subscriptions?limit=1000&offset=1000',
        headers: tenantWide,
        body: undefined,
      },
    ]);
  });

  it('reads an empty answer as no subscriptions', async () => {
    const client = await orion(() => empty(200));
    expect(await client.listSubscriptions(scope)).toEqual([]);
  });
});

describe('OrionClient.createSubscription', () => {
  const subscription = {
    description: 'to QuantumLeap',
    subject: { entities: [{ idPattern: '.*', type: 'Sensor' }] },
    notification: { http: { url: 'http://quantumleap:8668/v2/notify' } },
  };

  it('POSTs without a service path header and returns the id from Location', async () => {
    const client = await orion(() => empty(201, { location: '/v2/subscriptions/abc123' }));
    expect(await client.createSubscription(scope, subscription)).toBe('abc123');
    expect(sent).toEqual([
      {
        method: 'POST',
        path: '/v2/subscriptions',
        headers: { ...tenantWide, 'content-type': 'application/json' },
        body: subscription,
      },
    ]);
  });

  it('fails, malformed, when Orion sends no Location', async () => {
    const client = await orion(() => empty(201));
    const err = await failure(client.createSubscription(scope, subscription));
    expect(err.failure).toBe('malformed');
    expect(err.unavailable).toBe(false);
    expect(err.upstream).toBe('orion');
    expect(err.status).toBe(201);
    expect(err.message).toBe('Orion created a subscription but sent no Location');
  });

  it('fails when the Location ends without an id', async () => {
    const client = await orion(() => empty(201, { location: '/v2/subscriptions/' }));
    const err = await failure(client.createSubscription(scope, subscription));
    expect(err.message).toBe('Orion created a subscription but sent no Location');
  });

  it('does not retry a POST on 502', async () => {
    const client = await orion(() => json(502, { error: 'Bad Gateway' }));
    const err = await failure(client.createSubscription(scope, subscription));
    expect(err.failure).toBe('unavailable');
    expect(err.message).toBe('orion answered 502 to POST /v2/subscriptions');
    expect(sent).toHaveLength(1);
  });
});

describe('the upstream calls under the clients', () => {
  it('retries a DELETE on 503 and then answers', async () => {
    const client = await agent((_req, n) => (n === 1 ? json(503, {}) : empty(204)));
    expect(await client.deleteDevice(scope, 'd1')).toBe(true);
    expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual([
      'DELETE /iot/devices/d1',
      'DELETE /iot/devices/d1',
    ]);
  });

  it('refuses a 300 answer: only 2xx and the accepted statuses are answers', async () => {
    const client = await agent(() => json(300, { name: 'CHOICES', message: 'pick one' }));
    const err = await failure(client.getDevice(scope, 'x'));
    expect(err.failure).toBe('rejected');
    expect(err.status).toBe(300);
    expect(err.message).toBe('iot-agent refused GET /iot/devices/x with 300: CHOICES: pick one');
  });

  it('gives the reason alone when the upstream sends no message', async () => {
    const client = await agent(() => json(400, { name: 'BAD_DEVICE' }));
    const err = await failure(client.deleteDevice(scope, 'x'));
    expect(err.message).toBe('iot-agent refused DELETE /iot/devices/x with 400: BAD_DEVICE');
  });

  it('observes every attempt: upstream, method, outcome and seconds', async () => {
    const seen: [string, string, string, number][] = [];
    const client = new IotAgentClient(
      await upstream((_req, n) => (n < 3 ? json(503, {}) : json(200, { services: [] })), 'agent', {
        onAttempt: (u, m, o, s) => seen.push([u, m, o, s]),
      }),
    );
    expect(await client.listGroups(scope)).toEqual([]);
    expect(seen.map(([u, m, o]) => [u, m, o])).toEqual([
      ['agent', 'GET', '503'],
      ['agent', 'GET', '503'],
      ['agent', 'GET', '200'],
    ]);
    for (const [, , , s] of seen) {
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThan(5);
    }
  });

  it('times out each attempt of a silent agent, then fails with timeout', async () => {
    const seen: string[] = [];
    const client = new IotAgentClient(
      await upstream(
        () => () => {
          // never answers
        },
        'iot-agent',
        { timeoutMs: 50, attempts: 2, onAttempt: (_u, _m, o) => seen.push(o) },
      ),
    );
    const err = await failure(client.getDevice(scope, 'x'));
    expect(err.failure).toBe('timeout');
    expect(err.unavailable).toBe(true);
    expect(err.message).toBe('iot-agent did not answer GET /iot/devices/x within 50 ms');
    expect(sent).toHaveLength(2);
    expect(seen).toEqual(['timeout', 'timeout']);
  });

  it('says unreachable, at the base URL without its trailing slash, when nothing listens', async () => {
    const seen: string[] = [];
    const up = await upstream(() => empty(200), 'orion', {
      onAttempt: (_u, _m, o) => seen.push(o),
    });
    const url = stub!.url;
    await stub!.close();
    stub = undefined;
    const err = await failure(new OrionClient(up).version('c'));
    expect(err.failure).toBe('unavailable');
    expect(err.message).toBe(`orion is unreachable at ${url} (ECONNREFUSED)`);
    expect(seen).toEqual(['unavailable', 'unavailable', 'unavailable']);
  });
});

describe('answers the service cannot read', () => {
  /** A call of each reading method, and what its upstream answers. */
  const cases: {
    name: string;
    read: (up: Upstream) => Promise<unknown>;
    answer: unknown;
    message: string;
  }[] = [
    {
      name: 'a group listing with null in it',
      read: (up) => new IotAgentClient(up).listGroups(scope),
      answer: { count: 1, services: [null] },
      message: 'GET /iot/services with 200 and a body the service cannot read (services[0]: ',
    },
    {
      name: 'a group without its API key',
      read: (up) => new IotAgentClient(up).listGroups(scope),
      answer: { services: [{ resource: '/iot/d' }] },
      message: '(services[0].apikey: ',
    },
    {
      name: "a tenant's group listing that is not a list",
      read: (up) => new IotAgentClient(up).listTenantGroups('factory'),
      answer: { services: { apikey: 'k', resource: '/r' } },
      message: 'GET /iot/services with 200 and a body the service cannot read (services: ',
    },
    {
      name: 'a device listing with null in it',
      read: (up) => new IotAgentClient(up).listDevices(scope),
      answer: { count: 2, devices: [{ device_id: 'a' }, null] },
      message: 'GET /iot/devices with 200 and a body the service cannot read (devices[1]: ',
    },
    {
      name: 'a device whose id is a number',
      read: (up) => new IotAgentClient(up).listDevices(scope),
      answer: { devices: [{ device_id: 7 }] },
      message: '(devices[0].device_id: ',
    },
    {
      name: 'a device whose attributes hold null',
      read: (up) => new IotAgentClient(up).getDevice(scope, 'd1'),
      answer: { device_id: 'd1', attributes: [null] },
      message: 'GET /iot/devices/d1 with 200 and a body the service cannot read (attributes[0]: ',
    },
    {
      name: 'a device that is not an object',
      read: (up) => new IotAgentClient(up).getDevice(scope, 'd1'),
      answer: 'd1',
      message: 'GET /iot/devices/d1 with 200 and a body the service cannot read (the body: ',
    },
    {
      name: 'an entity without its type',
      read: (up) => new OrionClient(up).lastMeasurements(scope, ['Thermometer']),
      answer: [{ id: 'urn:t:1', TimeInstant: '2026-12-05T10:00:00Z' }],
      message: 'GET /v2/entities with 200 and a body the service cannot read ([0].type: ',
    },
    {
      name: 'an entity listing that is an object',
      read: (up) => new OrionClient(up).listEntities(scope, 'Thermometer', ['temperature']),
      answer: { id: 'urn:t:1', type: 'Thermometer' },
      message: 'GET /v2/entities with 200 and a body the service cannot read (the body: ',
    },
    {
      name: 'a subscription whose condition attributes are not names',
      read: (up) => new OrionClient(up).listSubscriptions(scope),
      answer: [{ id: 's1', subject: { entities: [], condition: { attrs: [1] } } }],
      message:
        'GET /v2/subscriptions with 200 and a body the service cannot read ([0].subject.condition.attrs[0]: ',
    },
    {
      name: 'a subscription whose entity selector has a number for a pattern',
      read: (up) => new OrionClient(up).listSubscriptions(scope),
      answer: [{ id: 's1', subject: { entities: [{ idPattern: 1 }] } }],
      message: '([0].subject.entities[0].idPattern: ',
    },
    {
      name: 'a subscription whose notification names no attributes in a list',
      read: (up) => new OrionClient(up).listSubscriptions(scope),
      answer: [{ id: 's1', notification: { attrs: 'temperature' } }],
      message: '([0].notification.attrs: ',
    },
    {
      name: 'a subscription whose notification URL is a number',
      read: (up) => new OrionClient(up).listSubscriptions(scope),
      answer: [{ id: 's1', notification: { http: { url: 8668 } } }],
      message: '([0].notification.http.url: ',
    },
    {
      name: 'a subscription without its id',
      read: (up) => new OrionClient(up).listSubscriptions(scope),
      answer: [{ description: 'no id' }],
      message: '([0].id: ',
    },
  ];

  it.each(cases)('fails on $name, malformed, once, naming the field', async (c) => {
    const up = await upstream(() => json(200, c.answer), 'orion');
    const err = await failure(c.read(up));
    expect(err.failure).toBe('malformed');
    expect(err.unavailable).toBe(false);
    expect(err.status).toBe(200);
    // Not kept: an IoT Agent's answer holds API keys.
    expect(err.body).toBeUndefined();
    expect(err.message).toContain(c.message);
    expect(err.message).toMatch(/^orion answered GET \/\S+ with 200 and a body the service/);
    // A GET answered is not retried, however odd the answer.
    expect(sent).toHaveLength(1);
  });

  it('counts a malformed answer as such, not as the status it came with', async () => {
    const seen: string[] = [];
    const up = await upstream(() => json(200, { devices: [null] }), 'iot-agent', {
      onAttempt: (_u, _m, o) => seen.push(o),
    });
    await failure(new IotAgentClient(up).listDevices(scope));
    expect(seen).toEqual(['malformed']);
  });

  it('fails a tenant-wide group listing only on a service path of another shape, as its readers take nothing else', async () => {
    const odd = [{ apikey: 7 }, { apikey: null, resource: 5, timezone: [] }, { subservice: null }];
    const client = await agent((_req, n) =>
      json(200, { services: n === 1 ? odd : [{ apikey: 'k', subservice: 5 }] }),
    );
    expect(await client.listTenantGroups('factory')).toEqual([
      { apikey: 7 },
      { apikey: null, resource: 5, timezone: [] },
      { subservice: undefined },
    ]);
    const err = await failure(client.listTenantGroups('factory'));
    expect(err.message).toBe(
      'iot-agent answered GET /iot/services with 200 and a body the service cannot read (services[0].subservice: Invalid input: expected string, received number)',
    );
  });

  it('reads a field the agent gives as null as absent', async () => {
    const client = await agent(() =>
      json(200, {
        devices: [
          {
            device_id: 'd1',
            timezone: null,
            endpoint: null,
            apikey: null,
            attributes: null,
            commands: [{ name: 'ping' }],
          },
        ],
      }),
    );
    const [d] = await client.listDevices(scope);
    expect(d).toStrictEqual({
      device_id: 'd1',
      timezone: undefined,
      endpoint: undefined,
      apikey: undefined,
      attributes: undefined,
      commands: [{ name: 'ping' }],
    });
    expect(Object.entries(d!).filter(([, v]) => v === null)).toEqual([]);
  });

  it('reads the answers it can, with the fields it does not read passed on', async () => {
    const device = { device_id: 'd1', polling: false, explicitAttrs: true, lazy: [] };
    const up = await upstream((req) =>
      req.path === '/iot/devices/d1'
        ? json(200, device)
        : json(404, { name: 'DEVICE_NOT_FOUND', message: 'not a device' }),
    );
    expect(await new IotAgentClient(up).getDevice(scope, 'd1')).toEqual(device);
    // A 404 the call accepts is not a listing: its body is not checked.
    expect(await new IotAgentClient(up).getDevice(scope, 'd2')).toBeUndefined();
  });

  it("reads Orion's subscriptions as its API documents them: with or without a condition, an expression, an HTTP notification", async () => {
    const subs = [
      { id: 'bare', subject: { entities: [{ idPattern: '.*' }] }, notification: {} },
      {
        id: 'full',
        description: 'QuantumLeap',
        status: 'active',
        expires: '2040-01-01T14:00:00.000Z',
        subject: {
          entities: [
            { id: 'urn:t:1', type: 'Thermometer' },
            { idPattern: '.*', typePattern: 'T.*' },
          ],
          condition: { attrs: ['temperature'], expression: { q: 'temperature>40' } },
        },
        notification: {
          http: { url: 'http://quantumleap:8668/v2/notify' },
          attrs: [],
          exceptAttrs: ['password'],
          attrsFormat: 'normalized',
          timesSent: 12,
          lastNotification: '2026-12-05T10:00:00.000Z',
          onlyChangedAttrs: false,
        },
        throttling: 5,
      },
      {
        id: 'mqtt',
        subject: { entities: [{ idPattern: '.*' }], condition: { attrs: [] } },
        notification: { mqtt: { url: 'mqtt://broker:1883', topic: 't' }, attrs: ['a'] },
      },
    ];
    const client = await orion(() => json(200, subs));
    expect(await client.listSubscriptions(scope)).toEqual(subs);
  });
});
