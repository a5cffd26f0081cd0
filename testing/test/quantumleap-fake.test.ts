// Contract tests of the QuantumLeap fake (see testing/fakes/quantumleap.ts), and one integration of the
// two fakes: measurements reach an Orion entity, Orion's subscription notifies QuantumLeap, and
// the series can be read back per tenant.
import { startOrionFake } from '../fakes/orion.js';
import { startQuantumLeapFake } from '../fakes/quantumleap.js';
import type { QuantumLeapFake } from '../fakes/quantumleap.js';

let ql: QuantumLeapFake;

async function call(
  method: string,
  path: string,
  o: {
    service?: string;
    servicePath?: string;
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...o.headers };
  if (o.service !== undefined) headers['fiware-service'] = o.service;
  if (o.servicePath !== undefined) headers['fiware-servicepath'] = o.servicePath;
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  const res = await fetch(`${ql.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const reading = (id: string, temperature: number, at?: string) => ({
  id,
  type: 'Room',
  temperature: { type: 'Number', value: temperature, metadata: {} },
  ...(at && { TimeInstant: { type: 'DateTime', value: at, metadata: {} } }),
});

const notify = (entities: unknown[], o: Parameters<typeof call>[2] = {}) =>
  call('POST', '/v2/notify', { ...o, body: { subscriptionId: 's1', data: entities } });

beforeAll(async () => {
  ql = await startQuantumLeapFake();
});
afterAll(() => ql.close());
beforeEach(() => ql.reset());

describe('QuantumLeap fake', () => {
  it('answers /version and /health', async () => {
    expect(await call('GET', '/version')).toEqual({ status: 200, body: { version: '1.0.0-fake' } });
    expect(await call('GET', '/health')).toEqual({ status: 200, body: { status: 'pass' } });
  });

  it('stores a notification and answers as QuantumLeap', async () => {
    const res = await notify([reading('R1', 20, '2024-01-01T00:00:00Z')], { service: 'alpha' });
    expect(res).toEqual({ status: 200, body: 'Notification successfully processed' });
    expect(ql.series('alpha', 'R1', 'temperature')).toEqual({
      index: ['2024-01-01T00:00:00.000+00:00'],
      values: [20],
    });
    expect(ql.notifications).toEqual([
      { service: 'alpha', servicePath: undefined, body: expect.any(Object), status: 200 },
    ]);
  });

  it('refuses entities without type or id as connexion does, and drops keyValues attributes', async () => {
    const noType = await notify([{ id: 'R1', t: { value: 1 } }]);
    expect(noType.status).toBe(400);
    expect(noType.body.detail).toBe("'type' is a required property - 'data.0'");
    expect((await notify([{ type: 'Room' }])).status).toBe(400);
    expect((await call('POST', '/v2/notify', { body: { nope: 1 } })).status).toBe(400);
    // The reporter cannot read a keyValues attribute: a text is dropped, a number fails it.
    expect((await notify([{ id: 'R1', type: 'Room', t: 'x', u: { value: 1 } }])).status).toBe(200);
    expect((await notify([{ id: 'R1', type: 'Room', t: 1 }])).status).toBe(500);
    expect(ql.series(undefined, 'R1', 't').values).toEqual([]);
    expect(ql.series(undefined, 'R1', 'u').values).toEqual([1]);
  });

  it('keeps tenants apart, the same entity id in each', async () => {
    await notify([reading('R1', 1, '2024-01-01T00:00:00Z')], { service: 'alpha' });
    await notify([reading('R1', 2, '2024-01-01T00:00:00Z')], { service: 'Beta' });
    const get = (service?: string) => call('GET', '/v2/entities/R1/attrs/temperature', { service });
    expect((await get('alpha')).body.values).toEqual([1]);
    expect((await get('beta')).body.values).toEqual([2]);
    expect((await get('ALPHA')).body.values).toEqual([1]);
    const none = await get(undefined);
    expect(none).toEqual({
      status: 404,
      body: { error: 'Not Found', description: 'No records were found for such query.' },
    });
  });

  it('picks the time index as QuantumLeap does', async () => {
    const before = Date.now();
    await notify(
      [
        {
          id: 'M',
          type: 'T',
          a: {
            value: 1,
            metadata: { TimeInstant: { type: 'DateTime', value: '2024-02-01T00:00:00Z' } },
          },
          b: {
            value: 2,
            metadata: { TimeInstant: { type: 'DateTime', value: '2024-02-03T00:00:00Z' } },
          },
        },
        { id: 'C', type: 'T', a: { value: 1 }, at: { value: '2024-03-01T00:00:00Z' } },
        { id: 'N', type: 'T', a: { value: 1 } },
      ],
      { headers: { 'fiware-timeindex-attribute': 'at' } },
    );
    expect(ql.series(undefined, 'M', 'a').index).toEqual(['2024-02-03T00:00:00.000+00:00']);
    expect(ql.series(undefined, 'C', 'a').index).toEqual(['2024-03-01T00:00:00.000+00:00']);
    const received = Date.parse(ql.series(undefined, 'N', 'a').index[0]!);
    expect(received).toBeGreaterThanOrEqual(before - 1);
    expect(received).toBeLessThanOrEqual(Date.now());
  });

  it('queries an attribute with fromDate, toDate, lastN, offset and limit, in index order', async () => {
    for (const [day, t] of [
      [3, 30],
      [1, 10],
      [2, 20],
      [4, 40],
    ] as const) {
      await notify([reading('R1', t, `2024-01-0${day}T00:00:00Z`)], { service: 'alpha' });
    }
    const get = async (query: string) =>
      (await call('GET', `/v2/entities/R1/attrs/temperature?${query}`, { service: 'alpha' })).body;
    const all = await get('');
    expect(all).toEqual({
      entityId: 'R1',
      entityType: 'Room',
      attrName: 'temperature',
      index: [1, 2, 3, 4].map((d) => `2024-01-0${d}T00:00:00.000+00:00`),
      values: [10, 20, 30, 40],
    });
    expect((await get('fromDate=2024-01-02T00:00:00Z&toDate=2024-01-03T00:00:00Z')).values).toEqual(
      [20, 30],
    );
    expect((await get('lastN=2')).values).toEqual([30, 40]);
    expect((await get('offset=1&limit=2')).values).toEqual([20, 30]);
    expect((await get('lastN=x')).title).toBe('Bad Request');
    expect((await get('aggrMethod=avg')).error).toBe('Not Implemented');
  });

  it('answers an entity with all its attributes, null where a row lacks one', async () => {
    await notify([reading('R1', 1, '2024-01-01T00:00:00Z')]);
    await notify([
      { ...reading('R1', 2, '2024-01-02T00:00:00Z'), hum: { type: 'Number', value: 50 } },
    ]);
    const res = await call('GET', '/v2/entities/R1?attrs=hum,temperature');
    expect(res.body).toEqual({
      entityId: 'R1',
      entityType: 'Room',
      index: ['2024-01-01T00:00:00.000+00:00', '2024-01-02T00:00:00.000+00:00'],
      attributes: [
        { attrName: 'hum', values: [null, 50] },
        { attrName: 'temperature', values: [1, 2] },
      ],
    });
    expect((await call('GET', '/v2/entities/R1/attrs/nothing')).status).toBe(404);
  });

  it('selects by service path, the path and below it', async () => {
    for (const servicePath of ['/a', '/a/b', '/ab', '/c']) {
      await notify([reading('R1', servicePath.length, '2024-01-01T00:00:00Z')], {
        service: 'alpha',
        servicePath,
      });
    }
    const values = async (servicePath?: string) =>
      (await call('GET', '/v2/entities/R1/attrs/temperature', { service: 'alpha', servicePath }))
        .body.values;
    expect(await values('/a')).toEqual([2, 4]);
    expect(await values('/c')).toEqual([2]);
    expect(await values('/')).toHaveLength(4);
    expect(await values(undefined)).toHaveLength(4);
    // QuantumLeap 1.0 keeps the service path without a tenant too ('/' when none is given).
    await notify([reading('R9', 1)], { servicePath: '/a' });
    expect((await call('GET', '/v2/entities/R9/attrs/temperature')).status).toBe(200);
    const withPath = await call('GET', '/v2/entities/R9/attrs/temperature', { servicePath: '/b' });
    expect(withPath.status).toBe(404);
    await notify([reading('R8', 1)]);
    const root = await call('GET', '/v2/entities/R8/attrs/temperature', { servicePath: '/' });
    expect(root.status).toBe(200);
  });

  it('refuses an entity id with several types unless the type is given', async () => {
    await notify([reading('X', 1, '2024-01-01T00:00:00Z'), { ...reading('X', 2), type: 'Car' }]);
    const ambiguous = await call('GET', '/v2/entities/X/attrs/temperature');
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.error).toBe("<class 'exceptions.exceptions.AmbiguousNGSIIdError'>");
    expect((await call('GET', '/v2/entities/X/attrs/temperature?type=Car')).body.values).toEqual([
      2,
    ]);
  });

  it('injects faults: a canned reply, then a delay', async () => {
    ql.fault((r) => (r.service === 'alpha' ? { status: 500, body: 'down' } : undefined));
    const res = await notify([reading('R1', 1)], { service: 'alpha' });
    expect(res).toEqual({ status: 500, body: 'down' });
    expect(ql.series('alpha', 'R1', 'temperature').values).toEqual([]);
    expect(ql.notifications.map((n) => n.status)).toEqual([500]);
    ql.fault(() => ({ delayMs: 200 }));
    const started = Date.now();
    expect((await call('GET', '/health')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });
});

describe('Orion fake and QuantumLeap fake together', () => {
  it('carries measurements of two tenants from Orion entities into QuantumLeap series', async () => {
    const orion = await startOrionFake();
    try {
      const post = (path: string, service: string, body: unknown, servicePath?: string) =>
        fetch(`${orion.url}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'fiware-service': service,
            ...(servicePath && { 'fiware-servicepath': servicePath }),
          },
          body: JSON.stringify(body),
        });
      for (const service of ['alpha', 'beta']) {
        // As the platform does: one subscription per tenant, made without a service path.
        const sub = await post('/v2/subscriptions', service, {
          subject: { entities: [{ idPattern: '.*' }] },
          notification: { http: { url: ql.notifyUrl } },
        });
        expect(sub.status).toBe(201);
      }
      for (const [service, t, at] of [
        ['alpha', 20, '2024-01-01T00:00:00Z'],
        ['alpha', 21, '2024-01-01T00:01:00Z'],
        ['beta', 5, '2024-01-01T00:00:00Z'],
      ] as const) {
        const res = await post(
          '/v2/entities?options=upsert',
          service,
          reading('dev1', t, at),
          '/floor1',
        );
        expect(res.status).toBe(204);
      }
      await orion.settled();
      expect(ql.series('alpha', 'dev1', 'temperature')).toEqual({
        index: ['2024-01-01T00:00:00.000+00:00', '2024-01-01T00:01:00.000+00:00'],
        values: [20, 21],
      });
      expect(ql.series('beta', 'dev1', 'temperature').values).toEqual([5]);
      expect(ql.notifications.every((n) => n.servicePath === '/floor1' && n.status === 200)).toBe(
        true,
      );
    } finally {
      await orion.close();
    }
  });
});
