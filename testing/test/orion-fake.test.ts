// Contract tests of the Orion fake: each checks one behaviour of Orion 4.7's NGSI-v2 API that
// the fake promises (see testing/fakes/orion.ts), so a test of another component that passes against
// the fake would also pass against Orion.
import type { IncomingMessage } from 'node:http';

import { startStub } from '../support/http.js';
import type { StubServer } from '../support/http.js';
import { startOrionFake } from '../fakes/orion.js';
import type { OrionFake } from '../fakes/orion.js';
import { fiwareCaller } from '../support/fiware-call.js';
import type { FiwareCallOptions } from '../support/fiware-call.js';

let orion: OrionFake;

const call = fiwareCaller(() => orion.url);

const room = (id: string, temperature: unknown, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'Room',
  temperature: { value: temperature, type: 'Number' },
  ...extra,
});

/** A notification receiver that keeps what it gets. */
interface Receiver {
  stub: StubServer;
  got: { headers: IncomingMessage['headers']; body: any; at: number }[];
}

async function receiver(status = 204, delayMs = 0): Promise<Receiver> {
  const got: Receiver['got'] = [];
  const stub = await startStub((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString());
      got.push({ headers: req.headers, body, at: Date.now() });
      setTimeout(() => res.writeHead(status).end(), delayMs);
    });
  });
  return { stub, got };
}

async function subscribe(
  url: string,
  o: FiwareCallOptions & { subscription?: Record<string, any> } = {},
) {
  const body = {
    subject: { entities: [{ idPattern: '.*', type: 'Room' }] },
    notification: { http: { url } },
    ...o.subscription,
  };
  const res = await call('POST', '/v2/subscriptions', { ...o, body });
  expect(res.status).toBe(201);
  return res.headers.get('location')!.split('/').pop()!;
}

beforeAll(async () => {
  orion = await startOrionFake();
});
afterAll(() => orion.close());
beforeEach(() => orion.reset());

describe('basics', () => {
  it('answers GET /version with an orion version', async () => {
    const res = await call('GET', '/version');
    expect(res.status).toBe(200);
    expect(res.body.orion.version).toBe('4.7.0-fake');
  });

  it('echoes a Fiware-Correlator, or makes one up', async () => {
    const given = await call('GET', '/version', { headers: { 'fiware-correlator': 'c-1' } });
    expect(given.headers.get('fiware-correlator')).toBe('c-1');
    const made = await call('GET', '/version');
    expect(made.headers.get('fiware-correlator')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('records requests with their tenant headers', async () => {
    await call('GET', '/v2/entities?type=Room', {
      service: 'Acme',
      servicePath: '/a',
      headers: { 'fiware-correlator': 'c-2' },
    });
    expect(orion.requests).toEqual([
      {
        method: 'GET',
        path: '/v2/entities',
        query: { type: 'Room' },
        service: 'Acme',
        servicePath: '/a',
        correlator: 'c-2',
      },
    ]);
  });

  it('answers an unknown route and a wrong method as Orion does', async () => {
    const unknown = await call('GET', '/v2/nothing');
    expect(unknown.status).toBe(400);
    expect(unknown.body).toEqual({
      error: 'BadRequest',
      description: "service '/v2/nothing' not found",
    });
    expect((await call('PATCH', '/v2/entities', { body: {} })).status).toBe(405);
    expect((await call('GET', '/v2/types')).status).toBe(501);
  });
});

describe('entities', () => {
  it('creates (201 + Location), refuses a duplicate (422) and renders defaults', async () => {
    const created = await call('POST', '/v2/entities', {
      body: { id: 'R1', type: 'Room', name: { value: 'a' }, on: { value: true }, n: { value: 1 } },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/v2/entities/R1?type=Room');
    const again = await call('POST', '/v2/entities', { body: { id: 'R1', type: 'Room' } });
    expect(again.status).toBe(422);
    expect(again.body).toEqual({ error: 'Unprocessable', description: 'Already Exists' });
    await call('POST', '/v2/entities', {
      body: { id: 'R2', s: { value: { a: 1 } }, l: { value: [1] }, z: {} },
    });
    const r2 = await call('GET', '/v2/entities/R2');
    expect(r2.body).toEqual({
      id: 'R2',
      type: 'Thing',
      s: { type: 'StructuredValue', value: { a: 1 }, metadata: {} },
      l: { type: 'StructuredValue', value: [1], metadata: {} },
      z: { type: 'None', value: null, metadata: {} },
    });
    const r1 = await call('GET', '/v2/entities/R1?options=keyValues');
    expect(r1.body).toEqual({ id: 'R1', type: 'Room', name: 'a', on: true, n: 1 });
    expect((await call('GET', '/v2/entities/R1/attrs/on')).body).toEqual({
      type: 'Boolean',
      value: true,
      metadata: {},
    });
  });

  it('upserts with 204 whether it creates or updates (what iotagent-node-lib expects)', async () => {
    const first = await call('POST', '/v2/entities?options=upsert', { body: room('R1', 20) });
    expect(first.status).toBe(204);
    const second = await call('POST', '/v2/entities?options=upsert', { body: room('R1', 21) });
    expect(second.status).toBe(204);
    expect((await call('GET', '/v2/entities/R1/attrs/temperature')).body.value).toBe(21);
  });

  it('accepts keyValues on create and normalises DateTime values', async () => {
    await call('POST', '/v2/entities?options=keyValues', { body: { id: 'K', type: 'T', t: 3 } });
    expect((await call('GET', '/v2/entities/K')).body.t).toEqual({
      type: 'Number',
      value: 3,
      metadata: {},
    });
    await call('POST', '/v2/entities', {
      body: { id: 'D', when: { type: 'DateTime', value: '2024-05-01T10:00:00+02:00' } },
    });
    expect((await call('GET', '/v2/entities/D/attrs/when')).body.value).toBe(
      '2024-05-01T08:00:00.000Z',
    );
    const bad = await call('POST', '/v2/entities', {
      body: { id: 'D2', when: { type: 'DateTime', value: 'yesterday' } },
    });
    expect(bad.status).toBe(400);
  });

  it('lists with filters, attrs, pagination and Fiware-Total-Count', async () => {
    for (const [id, type] of [
      ['R1', 'Room'],
      ['R2', 'Room'],
      ['C1', 'Car'],
    ]) {
      await call('POST', '/v2/entities', { body: { id, type, a: { value: 1 }, b: { value: 2 } } });
    }
    const rooms = await call('GET', '/v2/entities?type=Room&attrs=b&options=count');
    expect(rooms.headers.get('fiware-total-count')).toBe('2');
    expect(rooms.body).toEqual([
      { id: 'R1', type: 'Room', b: { type: 'Number', value: 2, metadata: {} } },
      { id: 'R2', type: 'Room', b: { type: 'Number', value: 2, metadata: {} } },
    ]);
    const page = await call('GET', '/v2/entities?idPattern=^R&limit=1&offset=1&options=keyValues');
    expect(page.body).toEqual([{ id: 'R2', type: 'Room', a: 1, b: 2 }]);
    expect((await call('GET', '/v2/entities?id=C1,R1')).body.map((e: any) => e.id)).toEqual([
      'R1',
      'C1',
    ]);
    const tooMany = await call('GET', '/v2/entities?limit=1001');
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.description).toBe('Bad pagination limit: /1001/ [max: 1000]');
    expect((await call('GET', '/v2/entities?q=a>1')).status).toBe(501);
  });

  it('answers 404 NotFound for a missing entity, and 409 when the id is ambiguous', async () => {
    const missing = await call('GET', '/v2/entities/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      error: 'NotFound',
      description: 'The requested entity has not been found. Check type and id',
    });
    expect((await call('DELETE', '/v2/entities/nope')).status).toBe(404);
    await call('POST', '/v2/entities', { body: { id: 'X', type: 'A' } });
    await call('POST', '/v2/entities', { body: { id: 'X', type: 'B' } });
    expect((await call('GET', '/v2/entities/X')).status).toBe(409);
    expect((await call('GET', '/v2/entities/X?type=B')).body).toEqual({ id: 'X', type: 'B' });
    expect((await call('DELETE', '/v2/entities/X?type=A')).status).toBe(204);
    expect((await call('GET', '/v2/entities/X')).body.type).toBe('B');
  });

  it('POST attrs appends or updates, and options=append refuses existing attributes', async () => {
    await call('POST', '/v2/entities', { body: room('R1', 20) });
    expect(
      (await call('POST', '/v2/entities/R1/attrs', { body: { hum: { value: 40 } } })).status,
    ).toBe(204);
    const strict = await call('POST', '/v2/entities/R1/attrs?options=append&type=Room', {
      body: { hum: { value: 41 }, co2: { value: 400 } },
    });
    expect(strict.status).toBe(422);
    expect(strict.body).toEqual({
      error: 'PartialUpdate',
      description: 'one or more of the attributes in the request already exist: R1/Room - [ hum ]',
    });
    expect((await call('GET', '/v2/entities/R1?options=keyValues')).body).toEqual({
      id: 'R1',
      type: 'Room',
      temperature: 20,
      hum: 40,
      co2: 400,
    });
    expect((await call('POST', '/v2/entities/nope/attrs', { body: { a: {} } })).status).toBe(404);
  });

  it('PATCH updates existing attributes only: Unprocessable or PartialUpdate', async () => {
    await call('POST', '/v2/entities', { body: room('R1', 20) });
    const none = await call('PATCH', '/v2/entities/R1/attrs', { body: { x: { value: 1 } } });
    expect(none.status).toBe(422);
    expect(none.body).toEqual({ error: 'Unprocessable', description: 'do not exist: R1 - [ x ]' });
    const some = await call('PATCH', '/v2/entities/R1/attrs', {
      body: { temperature: { value: 25 }, x: { value: 1 } },
    });
    expect(some.status).toBe(422);
    expect(some.body.error).toBe('PartialUpdate');
    expect((await call('GET', '/v2/entities/R1/attrs/temperature')).body.value).toBe(25);
    const missing = await call('PATCH', '/v2/entities/nope/attrs', { body: { x: { value: 1 } } });
    expect(missing.status).toBe(404);
  });

  it('PUT attrs replaces all attributes; PUT/DELETE one attribute', async () => {
    await call('POST', '/v2/entities', { body: room('R1', 20, { hum: { value: 1 } }) });
    await call('PUT', '/v2/entities/R1/attrs', { body: { co2: { value: 400 } } });
    expect((await call('GET', '/v2/entities/R1?options=keyValues')).body).toEqual({
      id: 'R1',
      type: 'Room',
      co2: 400,
    });
    expect((await call('PUT', '/v2/entities/R1/attrs/co2', { body: { value: 410 } })).status).toBe(
      204,
    );
    const noAttr = await call('PUT', '/v2/entities/R1/attrs/x', { body: { value: 1 } });
    expect(noAttr.status).toBe(404);
    expect(noAttr.body.description).toBe('The entity does not have such an attribute');
    expect((await call('DELETE', '/v2/entities/R1/attrs/co2')).status).toBe(204);
    expect((await call('GET', '/v2/entities/R1')).body).toEqual({ id: 'R1', type: 'Room' });
  });

  it('merges metadata on update unless overrideMetadata', async () => {
    const md = (m: Record<string, unknown>) => ({ t: { value: 1, metadata: m } });
    await call('POST', '/v2/entities', { body: { id: 'M', ...md({ a: { value: 1 } }) } });
    await call('POST', '/v2/entities/M/attrs', { body: md({ b: { value: 2 } }) });
    expect(Object.keys((await call('GET', '/v2/entities/M/attrs/t')).body.metadata)).toEqual([
      'a',
      'b',
    ]);
    await call('POST', '/v2/entities/M/attrs?options=overrideMetadata', {
      body: md({ c: { value: 3 } }),
    });
    expect((await call('GET', '/v2/entities/M/attrs/t')).body.metadata).toEqual({
      c: { type: 'Number', value: 3 },
    });
  });

  it('runs POST /v2/op/update for every actionType', async () => {
    const op = (actionType: string, entities: unknown[]) =>
      call('POST', '/v2/op/update', { body: { actionType, entities } });
    expect((await op('append', [room('A', 1), room('B', 2)])).status).toBe(204);
    expect(
      (await op('update', [{ id: 'A', type: 'Room', temperature: { value: 5 } }])).status,
    ).toBe(204);
    const strict = await op('appendStrict', [room('A', 9)]);
    expect(strict.status).toBe(422);
    expect(strict.body.error).toBe('Unprocessable');
    expect((await op('replace', [{ id: 'B', type: 'Room', x: { value: 0 } }])).status).toBe(204);
    expect((await op('delete', [{ id: 'B', type: 'Room', x: {} }])).status).toBe(204);
    const gone = await op('update', [{ id: 'Z', type: 'Room', t: { value: 1 } }]);
    expect(gone.status).toBe(404);
    expect(gone.body.description).toBe('do not exist: Z/Room - [entity itself]');
    const partial = await op('update', [
      { id: 'A', type: 'Room', temperature: { value: 6 } },
      { id: 'Z', type: 'Room', t: { value: 1 } },
    ]);
    expect(partial.status).toBe(422);
    expect(partial.body.error).toBe('PartialUpdate');
    expect((await op('delete', [{ id: 'A', type: 'Room' }])).status).toBe(204);
    expect(orion.entities().map((e) => [e.id, Object.keys(e)])).toEqual([['B', ['id', 'type']]]);
    expect((await op('upsert', [room('A', 1)])).status).toBe(400);
  });
});

describe('request checks', () => {
  it('answers 415 for a non-JSON content type, 411 for an empty body', async () => {
    const text = await call('POST', '/v2/entities', {
      raw: 'x',
      headers: { 'content-type': 'text/xml' },
    });
    expect(text.status).toBe(415);
    expect(text.body).toEqual({
      error: 'UnsupportedMediaType',
      description: 'not supported content type: text/xml',
    });
    expect((await call('POST', '/v2/entities')).status).toBe(411);
  });

  it('answers ParseError for broken JSON', async () => {
    const res = await call('POST', '/v2/entities', { raw: '{"id": ' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'ParseError',
      description: 'Errors found in incoming JSON buffer',
    });
  });

  it('answers 413 above 1 MiB', async () => {
    const big = { id: 'B', blob: { value: 'x'.repeat(1024 * 1024) } };
    const res = await call('POST', '/v2/entities', { body: big });
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('RequestEntityTooLarge');
    expect(orion.entities()).toEqual([]);
  });

  it('refuses a Content-Type on a GET without body', async () => {
    const res = await call('GET', '/v2/entities', {
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.body.description).toMatch(/^Orion accepts no payload for GET\/DELETE requests/);
  });

  it('answers 406 when the client accepts no JSON', async () => {
    const res = await call('GET', '/v2/entities', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(406);
  });
});

describe('identifiers and values', () => {
  it.each([
    ['a space', 'a b', 'Invalid characters in entity id'],
    ['a hash', 'a#b', 'Invalid characters in entity id'],
    ['a <', 'a<b', 'Invalid characters in entity id'],
    ['non-ASCII', 'café', 'Invalid characters in entity id'],
    ['257 characters', 'x'.repeat(257), 'entity id length: 257, max length supported: 256'],
    ['nothing', '', 'entity id length: 0, min length supported: 1'],
  ])('refuses an entity id with %s', async (_what, id, description) => {
    const res = await call('POST', '/v2/entities', { body: { id, type: 'T' } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'BadRequest', description });
  });

  it('applies the rules to types, attribute names and metadata', async () => {
    const refuse = async (body: unknown, description: string) => {
      const res = await call('POST', '/v2/entities', { body });
      expect(res.body).toEqual({ error: 'BadRequest', description });
    };
    await refuse({ id: 'E', type: 'a/b' }, 'Invalid characters in entity type');
    await refuse({ id: 'E', 'a?': { value: 1 } }, 'Invalid characters in attribute name');
    await refuse({ id: 'E', a: { value: 1, type: 'x=y' } }, 'Invalid characters in attribute type');
    await refuse(
      { id: 'E', a: { value: 1, metadata: { 'm m': { value: 1 } } } },
      'Invalid characters in metadata name',
    );
    await refuse(
      { id: 'E', a: 5 },
      'attribute must be a JSON object, unless keyValues option is used',
    );
    expect(orion.entities()).toEqual([]);
  });

  it('refuses forbidden characters in values, except in TextUnrestricted', async () => {
    const bad = await call('POST', '/v2/entities', {
      body: { id: 'E', note: { value: { deep: ['<script>'] } } },
    });
    expect(bad.body).toEqual({
      error: 'BadRequest',
      description: 'Invalid characters in attribute value',
    });
    const ok = await call('POST', '/v2/entities', {
      body: { id: 'E', note: { value: "it's (fine)", type: 'TextUnrestricted' } },
    });
    expect(ok.status).toBe(201);
  });

  it('refuses forbidden characters in the URL', async () => {
    const res = await call('GET', '/v2/entities/a%3Cb');
    expect(res.body).toEqual({ error: 'BadRequest', description: 'invalid character in URI' });
  });
});

describe('tenants', () => {
  it('keeps the same entity id independent in two tenants and the default one', async () => {
    await call('POST', '/v2/entities', { service: 'alpha', body: room('R1', 1) });
    await call('POST', '/v2/entities', { service: 'beta', body: room('R1', 2) });
    await call('PATCH', '/v2/entities/R1/attrs', {
      service: 'beta',
      body: { temperature: { value: 3 } },
    });
    const value = async (service?: string) =>
      (await call('GET', '/v2/entities/R1/attrs/temperature', { service })).body?.value;
    expect(await value('alpha')).toBe(1);
    expect(await value('beta')).toBe(3);
    expect(await value(undefined)).toBeUndefined();
    expect(orion.entities('alpha')).toHaveLength(1);
    expect(orion.entities()).toHaveLength(0);
  });

  it('lower-cases the tenant', async () => {
    await call('POST', '/v2/entities', { service: 'Alpha', body: room('R1', 1) });
    expect((await call('GET', '/v2/entities/R1', { service: 'ALPHA' })).status).toBe(200);
    expect(orion.entities('alpha')).toHaveLength(1);
  });

  it.each([
    [
      'a bad character',
      'al-pha',
      'bad character in tenant name - only underscore and alphanumeric characters are allowed',
    ],
    ['51 characters', 'a'.repeat(51), 'bad length - a tenant name can be max 50 characters long'],
  ])('refuses a tenant with %s', async (_what, service, description) => {
    const res = await call('GET', '/v2/entities', { service });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'BadRequest', description });
  });
});

describe('service paths', () => {
  beforeEach(async () => {
    await call('POST', '/v2/entities', { servicePath: '/a/b', body: room('R1', 1) });
    await call('POST', '/v2/entities', { servicePath: '/ab', body: room('R2', 1) });
    await call('POST', '/v2/entities', { servicePath: '/c', body: room('R3', 1) });
  });

  const ids = async (servicePath?: string) =>
    (await call('GET', '/v2/entities', { servicePath })).body.map((e: any) => e.id);

  it('queries: exact path, /# subtree, several paths, no header is everything', async () => {
    expect(await ids('/a')).toEqual([]);
    expect(await ids('/a/#')).toEqual(['R1']);
    expect(await ids('/a/b')).toEqual(['R1']);
    expect(await ids('/c, /a/b')).toEqual(['R1', 'R3']);
    expect(await ids('/#')).toEqual(['R1', 'R2', 'R3']);
    expect(await ids(undefined)).toEqual(['R1', 'R2', 'R3']);
    expect((await call('GET', '/v2/entities/R1', { servicePath: '/a' })).status).toBe(404);
    expect(orion.entities(undefined, '/a/#').map((e) => e.id)).toEqual(['R1']);
  });

  it('updates: one path, default /, so the same id lives apart in each path', async () => {
    const patch = (servicePath?: string) =>
      call('PATCH', '/v2/entities/R1/attrs', { servicePath, body: { temperature: { value: 9 } } });
    expect((await patch(undefined)).status).toBe(404);
    expect((await patch('/a')).status).toBe(404);
    expect((await patch('/a/b')).status).toBe(204);
    const created = await call('POST', '/v2/entities', { body: room('R1', 5) });
    expect(created.status).toBe(201);
    expect(orion.entities(undefined, '/').map((e) => e.temperature)).toEqual([
      { type: 'Number', value: 5, metadata: {} },
    ]);
    expect((await call('GET', '/v2/entities/R1')).status).toBe(409);
    const two = await call('POST', '/v2/entities', { servicePath: '/a,/b', body: room('R2', 1) });
    expect(two.status).toBe(400);
    const hash = await call('POST', '/v2/entities', { servicePath: '/a/#', body: room('R2', 1) });
    expect(hash.status).toBe(400);
  });

  it.each([
    ['relative', 'a', 'Only /absolute/ Service Paths allowed [a service path must begin with /]'],
    ['a bad character', '/a-b', 'a component of ServicePath contains an illegal character'],
    ['a long component', `/${'x'.repeat(51)}`, 'component-name too long in ServicePath'],
    ['11 levels', '/a'.repeat(11), 'too many components in ServicePath'],
  ])('refuses a %s service path', async (_what, servicePath, description) => {
    const res = await call('GET', '/v2/entities', { servicePath });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'BadRequest', description });
  });
});

describe('subscriptions', () => {
  let rx: Receiver;
  beforeEach(async () => {
    rx = await receiver();
  });
  afterEach(() => rx.stub.close());

  it('creates with a 24-hex Location and lists with pagination and count', async () => {
    const id = await subscribe(rx.stub.url, { subscription: { description: 'first' } });
    expect(id).toMatch(/^[0-9a-f]{24}$/);
    await subscribe(rx.stub.url);
    const list = await call('GET', '/v2/subscriptions?limit=1&options=count');
    expect(list.headers.get('fiware-total-count')).toBe('2');
    expect(list.body).toHaveLength(1);
    const one = await call('GET', `/v2/subscriptions/${id}`);
    expect(one.body).toMatchObject({
      id,
      description: 'first',
      status: 'active',
      subject: { condition: { attrs: [] } },
      notification: { attrs: [], attrsFormat: 'normalized', http: { url: rx.stub.url } },
    });
    expect((await call('DELETE', `/v2/subscriptions/${id}`)).status).toBe(204);
    const gone = await call('GET', `/v2/subscriptions/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.description).toBe('The requested subscription has not been found. Check id');
  });

  it('validates the subscription', async () => {
    const post = (body: unknown) => call('POST', '/v2/subscriptions', { body });
    const base = {
      subject: { entities: [{ id: 'R1' }] },
      notification: { http: { url: rx.stub.url } },
    };
    expect((await post({ ...base, notification: { http: { url: 'nope' } } })).status).toBe(400);
    expect((await post({ ...base, subject: { entities: [] } })).status).toBe(400);
    expect(
      (await post({ ...base, notification: { ...base.notification, attrsFormat: 'x' } })).status,
    ).toBe(400);
    expect((await post({ ...base, subject: { ...base.subject, condition: {} } })).status).toBe(400);
    const custom = await post({
      subject: base.subject,
      notification: { httpCustom: { url: rx.stub.url } },
    });
    expect(custom.status).toBe(501);
    expect((await post(base)).status).toBe(201);
  });

  it('notifies an entity change with Orion headers and payload, never on creation of the subscription', async () => {
    await call('POST', '/v2/entities', {
      service: 'alpha',
      servicePath: '/x',
      body: room('R0', 1),
    });
    const id = await subscribe(rx.stub.url, { service: 'alpha' });
    await orion.settled();
    expect(rx.got).toEqual([]);
    await call('POST', '/v2/entities', {
      service: 'alpha',
      servicePath: '/x',
      body: room('R1', 20),
      headers: { 'fiware-correlator': 'corr-9' },
    });
    await orion.settled();
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]!.body).toEqual({
      subscriptionId: id,
      data: [{ id: 'R1', type: 'Room', temperature: { type: 'Number', value: 20, metadata: {} } }],
    });
    expect(rx.got[0]!.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'fiware-service': 'alpha',
      'fiware-servicepath': '/x',
      'fiware-correlator': 'corr-9; cbnotif=1',
      'ngsiv2-attrsformat': 'normalized',
    });
    const sub = orion.subscriptions('alpha')[0] as any;
    expect(sub.notification).toMatchObject({ timesSent: 1, lastSuccessCode: 204 });
    expect(sub.notification.lastSuccess).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.00Z$/);
  });

  it('omits Fiware-Service for the default tenant', async () => {
    await subscribe(rx.stub.url);
    await call('POST', '/v2/entities', { body: room('R1', 20) });
    await orion.settled();
    expect(rx.got[0]!.headers['fiware-service']).toBeUndefined();
    expect(rx.got[0]!.headers['fiware-servicepath']).toBe('/');
  });

  it('notifies only actual changes of the condition attributes, or forced updates', async () => {
    await call('POST', '/v2/entities', { body: room('R1', 20, { hum: { value: 1 } }) });
    await subscribe(rx.stub.url, {
      subscription: {
        subject: { entities: [{ id: 'R1' }], condition: { attrs: ['temperature'] } },
      },
    });
    const patch = (body: unknown, query = '') =>
      call('PATCH', `/v2/entities/R1/attrs${query}`, { body });
    await patch({ hum: { value: 2 } });
    await patch({ temperature: { value: 20, type: 'Number' } });
    await orion.settled();
    expect(rx.got).toHaveLength(0);
    await patch({ temperature: { value: 20, type: 'Number' } }, '?options=forcedUpdate');
    await patch({ temperature: { value: 21 } });
    await orion.settled();
    expect(rx.got.map((g) => g.body.data[0].temperature.value)).toEqual([20, 21]);
  });

  it('shapes the payload: attrs, onlyChangedAttrs, keyValues, simplified', async () => {
    await call('POST', '/v2/entities', {
      body: room('R1', 20, { hum: { value: 1 }, co2: { value: 3 } }),
    });
    await subscribe(rx.stub.url, {
      subscription: {
        notification: {
          http: { url: rx.stub.url },
          attrs: ['temperature', 'hum'],
          onlyChangedAttrs: true,
          attrsFormat: 'keyValues',
        },
      },
    });
    await subscribe(rx.stub.url, {
      subscription: {
        notification: {
          http: { url: rx.stub.url },
          exceptAttrs: ['co2'],
          attrsFormat: 'simplifiedKeyValues',
        },
      },
    });
    await call('PATCH', '/v2/entities/R1/attrs', {
      body: { hum: { value: 2 }, co2: { value: 4 } },
    });
    await orion.settled();
    const bodies = rx.got.map((g) => g.body);
    expect(bodies).toContainEqual({
      subscriptionId: expect.any(String),
      data: [{ id: 'R1', type: 'Room', hum: 2 }],
    });
    expect(bodies).toContainEqual({ id: 'R1', type: 'Room', temperature: 20, hum: 2 });
  });

  it('sees only its service path when made with the header, the whole tenant without', async () => {
    const onlyA = await receiver();
    try {
      await subscribe(onlyA.stub.url, { servicePath: '/a' });
      await subscribe(rx.stub.url);
      for (const servicePath of ['/a', '/b', '/a/c']) {
        await call('POST', '/v2/entities', {
          servicePath,
          body: room(`R${servicePath}`.replace(/\//g, '_'), 1),
        });
      }
      await orion.settled();
      expect(onlyA.got.map((g) => g.headers['fiware-servicepath'])).toEqual(['/a']);
      expect(rx.got.map((g) => g.headers['fiware-servicepath']).sort()).toEqual([
        '/a',
        '/a/c',
        '/b',
      ]);
      expect(
        orion
          .subscriptions()
          .map((s) => s.servicePath)
          .sort(),
      ).toEqual(['/#', '/a']);
      const listA = await call('GET', '/v2/subscriptions', { servicePath: '/a' });
      expect(listA.body).toHaveLength(1);
    } finally {
      await onlyA.stub.close();
    }
  });

  it('keeps subscriptions per tenant', async () => {
    await subscribe(rx.stub.url, { service: 'alpha' });
    await call('POST', '/v2/entities', { service: 'beta', body: room('R1', 1) });
    await orion.settled();
    expect(rx.got).toEqual([]);
    expect((await call('GET', '/v2/subscriptions', { service: 'beta' })).body).toEqual([]);
  });

  it('skips inactive and expired subscriptions; PATCH reactivates', async () => {
    const id = await subscribe(rx.stub.url, { subscription: { status: 'inactive' } });
    await subscribe(rx.stub.url, { subscription: { expires: '2000-01-01T00:00:00Z' } });
    await call('POST', '/v2/entities', { body: room('R1', 1) });
    await orion.settled();
    expect(rx.got).toEqual([]);
    expect(
      orion
        .subscriptions()
        .map((s) => s.status)
        .sort(),
    ).toEqual(['expired', 'inactive']);
    expect(
      (await call('PATCH', `/v2/subscriptions/${id}`, { body: { status: 'active' } })).status,
    ).toBe(204);
    await call('POST', '/v2/entities', { body: room('R2', 1) });
    await orion.settled();
    expect(rx.got).toHaveLength(1);
  });

  it('delivers the notifications of a subscription in order, one at a time', async () => {
    const slow = await receiver(204, 100);
    try {
      await subscribe(slow.stub.url);
      await call('POST', '/v2/entities', { body: room('R1', 1) });
      await call('PATCH', '/v2/entities/R1/attrs', { body: { temperature: { value: 2 } } });
      await orion.settled();
      expect(slow.got.map((g) => g.body.data[0].temperature.value)).toEqual([1, 2]);
      expect(slow.got[1]!.at - slow.got[0]!.at).toBeGreaterThanOrEqual(90);
    } finally {
      await slow.stub.close();
    }
  });

  it('holds notifications back during the throttling period', async () => {
    await subscribe(rx.stub.url, { subscription: { throttling: 60 } });
    await call('POST', '/v2/entities', { body: room('R1', 1) });
    await call('PATCH', '/v2/entities/R1/attrs', { body: { temperature: { value: 2 } } });
    await orion.settled();
    expect(rx.got).toHaveLength(1);
  });

  it('records a failed delivery without failing the update', async () => {
    const dead = await receiver();
    const url = dead.stub.url;
    await dead.stub.close();
    await subscribe(url);
    expect((await call('POST', '/v2/entities', { body: room('R1', 1) })).status).toBe(201);
    await orion.settled();
    const n = (orion.subscriptions()[0] as any).notification;
    expect(n).toMatchObject({
      timesSent: 1,
      failsCounter: 1,
      lastFailureReason: "Couldn't connect to server",
    });
    expect(n.lastSuccess).toBeUndefined();
  });

  it('counts any HTTP answer as delivered, as Orion does', async () => {
    const failing = await receiver(500);
    try {
      await subscribe(failing.stub.url);
      await call('POST', '/v2/entities', { body: room('R1', 1) });
      await orion.settled();
      expect((orion.subscriptions()[0] as any).notification).toMatchObject({
        lastSuccessCode: 500,
      });
    } finally {
      await failing.stub.close();
    }
  });

  it('times out a hanging receiver and settles', async () => {
    const slow = await startOrionFake({ httpTimeoutMs: 100 });
    const hang = await startStub(() => undefined);
    try {
      const res = await fetch(`${slow.url}/v2/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          subject: { entities: [{ id: 'R1' }] },
          notification: { http: { url: hang.url } },
        }),
      });
      expect(res.status).toBe(201);
      await fetch(`${slow.url}/v2/entities`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(room('R1', 1)),
      });
      await slow.settled();
      expect((slow.subscriptions()[0] as any).notification.lastFailureReason).toBe(
        'Timeout was reached',
      );
    } finally {
      await slow.close();
      await hang.close();
    }
  });
});

describe('registrations and forwarding', () => {
  let provider: Receiver;
  const register = async (url: string, o: FiwareCallOptions = {}, dataProvided?: unknown) => {
    const res = await call('POST', '/v2/registrations', {
      ...o,
      body: {
        dataProvided: dataProvided ?? { entities: [{ id: 'L1', type: 'Lamp' }], attrs: ['switch'] },
        provider: { http: { url } },
      },
    });
    expect(res.status).toBe(201);
    return res.headers.get('location')!.split('/').pop()!;
  };
  beforeEach(async () => {
    provider = await receiver();
  });
  afterEach(() => provider.stub.close());

  it('creates, gets, lists and deletes registrations', async () => {
    const id = await register(`${provider.stub.url}/v2`, { service: 'alpha', servicePath: '/x' });
    expect(id).toMatch(/^[0-9a-f]{24}$/);
    const one = await call('GET', `/v2/registrations/${id}`, { service: 'alpha' });
    expect(one.body).toMatchObject({
      id,
      dataProvided: { entities: [{ id: 'L1', type: 'Lamp' }], attrs: ['switch'] },
      provider: { http: { url: `${provider.stub.url}/v2` }, supportedForwardingMode: 'all' },
      status: 'active',
    });
    expect((await call('GET', '/v2/registrations', { service: 'alpha' })).body).toHaveLength(1);
    expect((await call('GET', '/v2/registrations')).body).toHaveLength(0);
    expect((await call('DELETE', `/v2/registrations/${id}`, { service: 'alpha' })).status).toBe(
      204,
    );
    const gone = await call('GET', `/v2/registrations/${id}`, { service: 'alpha' });
    expect(gone.status).toBe(404);
    expect(gone.body.description).toBe('The requested registration has not been found. Check id');
    const hash = await call('POST', '/v2/registrations', {
      servicePath: '/x/#',
      body: {
        dataProvided: { entities: [{ id: 'L1' }] },
        provider: { http: { url: provider.stub.url } },
      },
    });
    expect(hash.status).toBe(400);
  });

  it('forwards an update of a registered attribute to <url>/op/update', async () => {
    await register(`${provider.stub.url}/v2`, { service: 'alpha', servicePath: '/x' });
    await call('POST', '/v2/entities', {
      service: 'alpha',
      servicePath: '/x',
      body: { id: 'L1', type: 'Lamp', switch_status: { value: 'UNKNOWN' } },
    });
    const res = await call('PATCH', '/v2/entities/L1/attrs?type=Lamp', {
      service: 'alpha',
      servicePath: '/x',
      body: { switch: { type: 'command', value: 'on' } },
      headers: { 'fiware-correlator': 'corr-7' },
    });
    expect(res.status).toBe(204);
    expect(provider.stub.requests).toEqual([{ method: 'POST', path: '/v2/op/update' }]);
    expect(provider.got[0]!.body).toEqual({
      actionType: 'update',
      entities: [
        { id: 'L1', type: 'Lamp', switch: { type: 'command', value: 'on', metadata: {} } },
      ],
    });
    expect(provider.got[0]!.headers).toMatchObject({
      'fiware-service': 'alpha',
      'fiware-servicepath': '/x',
      'fiware-correlator': 'corr-7',
    });
    expect(Object.keys(orion.entities('alpha')[0]!)).toEqual(['id', 'type', 'switch_status']);
  });

  it('forwards when the entity does not exist locally, to //op/update for a URL without a path', async () => {
    await register(provider.stub.url);
    const res = await call('POST', '/v2/op/update', {
      body: {
        actionType: 'update',
        entities: [{ id: 'L1', type: 'Lamp', switch: { value: 'off' } }],
      },
    });
    expect(res.status).toBe(204);
    expect(provider.stub.requests).toEqual([{ method: 'POST', path: '//op/update' }]);
    expect(orion.entities()).toEqual([]);
  });

  it('does not forward from another service path, attribute or entity', async () => {
    await register(provider.stub.url, { servicePath: '/x' });
    const patch = (id: string, attr: string, servicePath?: string) =>
      call('PATCH', `/v2/entities/${id}/attrs?type=Lamp`, {
        servicePath,
        body: { [attr]: { value: 1 } },
      });
    expect((await patch('L1', 'switch', '/y')).status).toBe(404);
    expect((await patch('L1', 'switch')).status).toBe(404);
    expect((await patch('L1', 'dim', '/x')).status).toBe(404);
    expect((await patch('L2', 'switch', '/x')).status).toBe(404);
    expect(provider.stub.requests).toEqual([]);
  });

  it('answers 404 NotFound when the provider fails', async () => {
    const broken = await receiver(500);
    try {
      await register(broken.stub.url);
      const res = await call('PATCH', '/v2/entities/L1/attrs?type=Lamp', {
        body: { switch: { value: 1 } },
      });
      expect(res.status).toBe(404);
      expect(res.body.error).toBe('NotFound');
      expect(broken.got).toHaveLength(1);
    } finally {
      await broken.stub.close();
    }
  });
});

describe('fault injection', () => {
  it('answers a canned reply to the requests a rule picks, and nothing else', async () => {
    orion.fault((r) =>
      r.method === 'POST' && r.service === 'alpha'
        ? { status: 503, body: { error: 'Down' } }
        : undefined,
    );
    const hit = await call('POST', '/v2/entities', { service: 'alpha', body: room('R1', 1) });
    expect(hit.status).toBe(503);
    expect(hit.body).toEqual({ error: 'Down' });
    expect(orion.entities('alpha')).toEqual([]);
    const miss = await call('POST', '/v2/entities', { service: 'beta', body: room('R1', 1) });
    expect(miss.status).toBe(201);
    orion.fault(undefined);
    expect(
      (await call('POST', '/v2/entities', { service: 'alpha', body: room('R1', 1) })).status,
    ).toBe(201);
  });

  it('lets a rule see the parsed body', async () => {
    const seen: unknown[] = [];
    orion.fault((r) => {
      seen.push(r.body);
      return undefined;
    });
    await call('POST', '/v2/entities', { body: room('R1', 1) });
    expect(seen).toEqual([room('R1', 1)]);
  });

  it('delays, then answers normally', async () => {
    orion.fault((r) => (r.path === '/version' ? { delayMs: 300 } : undefined));
    const started = Date.now();
    const res = await call('GET', '/version');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(res.status).toBe(200);
    const aborted = await fetch(`${orion.url}/version`, { signal: AbortSignal.timeout(50) }).catch(
      (e: Error) => e.name,
    );
    expect(aborted).toBe('TimeoutError');
  });

  it('reset forgets entities, subscriptions, requests and the rule', async () => {
    orion.fault(() => ({ delayMs: 1 }));
    await call('POST', '/v2/entities', { body: room('R1', 1) });
    orion.reset();
    expect(orion.entities()).toEqual([]);
    expect(orion.requests).toEqual([]);
    expect((await call('GET', '/v2/entities/R1')).status).toBe(404);
  });
});
