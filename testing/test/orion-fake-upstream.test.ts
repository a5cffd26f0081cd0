// The Orion fake held to Orion's own functional tests: each test re-expresses one case (or one
// numbered step of a case) of test/functionalTest/cases/ in telefonicaid/fiware-orion, named in
// a comment above it, and asserts the status, the error JSON and the body Orion gives there.
// Where no case file of that behaviour was found, the comment names the Orion source that
// decides it instead. The cases are written anew here; no case file is copied.
import type { IncomingMessage } from 'node:http';

import { startStub } from '../support/http.js';
import type { StubServer } from '../support/http.js';
import { startOrionFake } from '../fakes/orion.js';
import type { OrionFake } from '../fakes/orion.js';
import { fiwareCaller } from '../support/fiware-call.js';
import type { FiwareCallOptions } from '../support/fiware-call.js';

let orion: OrionFake;

const call = fiwareCaller(() => orion.url);

const badRequest = (description: string) => ({ error: 'BadRequest', description });

/** A notification receiver that keeps what it gets. */
interface Receiver {
  stub: StubServer;
  got: { headers: IncomingMessage['headers']; body: any }[];
}

async function receiver(): Promise<Receiver> {
  const got: Receiver['got'] = [];
  const stub = await startStub((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(204).end();
    });
  });
  return { stub, got };
}

const integers = (values: Record<string, number>) =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v, type: 'Integer' }]));

async function subscribe(body: unknown, o: FiwareCallOptions = {}) {
  const res = await call('POST', '/v2/subscriptions', { ...o, body });
  expect(res.status).toBe(201);
  return res.headers.get('location')!.split('/').pop()!;
}

async function register(o: FiwareCallOptions = {}) {
  const res = await call('POST', '/v2/registrations', {
    ...o,
    body: {
      dataProvided: { entities: [{ id: 'E1', type: 'T1' }], attrs: ['A1'] },
      provider: { http: { url: 'http://localhost:9999/v2' } },
    },
  });
  expect(res.status).toBe(201);
  return res.headers.get('location')!.split('/').pop()!;
}

beforeAll(async () => {
  orion = await startOrionFake();
});
afterAll(() => orion.close());
beforeEach(() => orion.reset());

describe('registration creation errors', () => {
  const REG = 'test/functionalTest/cases/3004_v2_reg_create/v2_reg_create_errors.test';
  const e1 = { entities: [{ id: 'E1', type: 'T1' }], attrs: ['A1', 'A2'] };
  const http = { url: 'http://localhost:9801/v2' };
  const withEntity = (entity: unknown) => ({
    description: 'DESC',
    dataProvided: { entities: [entity] },
  });
  const withProvider = (provider: unknown, extra: Record<string, unknown> = {}) => ({
    description: 'DESC',
    dataProvided: e1,
    provider,
    ...extra,
  });
  const long = '0123456789'.repeat(103);

  // Each row is one numbered step of the upstream case named in REG.
  it.each<[string, unknown, number, { error: string; description: string }]>([
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 02
    ['02 payload not an object', ['a', 'b'], 400, badRequest('not a JSON object')],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 03
    ['03 empty object', {}, 400, badRequest('empty payload')],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 04
    ['04 description not a string', { description: 4 }, 400, badRequest('invalid description')],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 05
    [
      '05 description too long',
      { description: `${long} 1234` },
      400,
      badRequest('max description length exceeded'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 06
    [
      '06 forbidden characters in description',
      { description: '<>=' },
      400,
      badRequest('forbidden characters in description'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 07
    [
      '07 dataProvided missing',
      { description: 'DESC' },
      400,
      badRequest('the field /dataProvided/ is missing in payload'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 08
    [
      '08 dataProvided not an object',
      { description: 'DESC', dataProvided: 5 },
      400,
      badRequest('/dataProvided/ must be a JSON object'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 09
    [
      '09 dataProvided empty',
      { description: 'DESC', dataProvided: {} },
      400,
      badRequest('/dataProvided/ is empty'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 10
    [
      '10 entities not an array',
      { description: 'DESC', dataProvided: { entities: 6 } },
      400,
      badRequest('/entities/ is not an array'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 11
    [
      '11 entity not an object',
      { description: 'DESC', dataProvided: { entities: [1, 2, 3] } },
      400,
      badRequest('/entities/ vector item is not an object'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 12
    [
      '12 entity without id and idPattern',
      withEntity({ type: 'T1' }),
      400,
      badRequest('/entities/ vector item does not have /id/ nor /idPattern/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 13
    [
      '13 entity with id and idPattern',
      withEntity({ id: 'E1', idPattern: 'E,*' }),
      400,
      badRequest('/entities/ vector item has both /id/ and /idPattern/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 14
    [
      '14 id not a string',
      withEntity({ id: true }),
      400,
      badRequest('/entities/ vector item /id/ is not a string'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 15
    ['15 id empty', withEntity({ id: '' }), 400, badRequest('/entities/ element id is empty')],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 16
    [
      '16 id with forbidden characters',
      withEntity({ id: '<>!=' }),
      400,
      badRequest('forbidden characters in /entities/ vector item /id/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 17
    [
      '17 id too long',
      withEntity({ id: long }),
      400,
      badRequest('max id length exceeded in /entities/ vector item /id/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 18
    [
      '18 idPattern not a string',
      withEntity({ idPattern: 7 }),
      400,
      badRequest('/entities/ vector item /idPattern/ is not a string'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 19
    [
      '19 idPattern empty',
      withEntity({ idPattern: '' }),
      400,
      badRequest('/entities/ vector item /idPattern/ is empty'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 20
    [
      '20 type and typePattern',
      withEntity({ id: 'E1', type: 'T1', typePattern: 'T.*' }),
      400,
      badRequest('/entities/ element has both /type/ and /typePattern/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 21
    [
      '21 type not a string',
      withEntity({ id: 'E1', type: 6 }),
      400,
      badRequest('/entities/ vector item type is not a string'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 22
    [
      '22 type empty',
      withEntity({ id: 'E1', type: '' }),
      400,
      badRequest('entity type length: 0, min length supported: 1'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 23
    [
      '23 type with forbidden characters',
      withEntity({ id: 'E1', type: '<=>' }),
      400,
      badRequest('forbidden characters in /entities/ vector item /type/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 24
    [
      '24 type too long',
      withEntity({ id: 'E1', type: long }),
      400,
      badRequest('max type length exceeded in /entities/ vector item /type/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 25
    [
      '25 typePattern not a string',
      withEntity({ id: 'E1', typePattern: false }),
      400,
      badRequest('/entities/ vector item /typePattern/ is not a string'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 26
    [
      '26 typePattern empty',
      withEntity({ id: 'E1', typePattern: '' }),
      400,
      badRequest('/entities/ vector item /typePattern/ is empty'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 27
    [
      '27 attrs not an array',
      { description: 'DESC', dataProvided: { ...e1, attrs: true } },
      400,
      badRequest('the field /attrs/ must be a JSON array'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 28
    [
      '28 attrs item not a string',
      { description: 'DESC', dataProvided: { ...e1, attrs: [1, 2] } },
      400,
      badRequest('only JSON Strings allowed in string vector /attrs/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 29
    [
      '29 attrs item empty',
      { description: 'DESC', dataProvided: { ...e1, attrs: ['A1', ''] } },
      400,
      badRequest('empty string found in string vector /attrs/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 30
    [
      '30 provider missing',
      { description: 'DESC', dataProvided: e1 },
      400,
      badRequest('the field /provider/ is missing in payload'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 31
    ['31 provider empty', withProvider({}), 400, badRequest('/provider/ empty')],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 32
    [
      '32 provider not an object',
      withProvider(7),
      400,
      badRequest('/provider/ must be a JSON object'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 33
    [
      '33 provider without http',
      withProvider({ a: 0 }),
      400,
      badRequest('/provider/ must contain a field /http/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 34
    [
      '34 supportedForwardingMode not a string',
      withProvider({ http, supportedForwardingMode: true }),
      400,
      badRequest('/supportedForwardingMode/ must be a JSON string'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 35
    [
      '35 invalid supportedForwardingMode',
      withProvider({ http, supportedForwardingMode: 'invalid' }),
      400,
      badRequest('invalid value of /supportedForwardingMode/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 36
    [
      '36 http not an object',
      withProvider({ http: [] }),
      400,
      badRequest('/http/ must be a JSON object'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 37
    [
      '37 url missing',
      withProvider({ http: { noUrl: true } }),
      400,
      badRequest('/http/ must contain a field /url/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 38
    [
      '38 url not a string',
      withProvider({ http: { url: true } }),
      400,
      badRequest('/url/ field of /http/ must be a JSON string'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 39
    [
      '39 url empty',
      withProvider({ http: { url: '' } }),
      400,
      badRequest('/url/ field of /http/ cannot be the empty string'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 40
    [
      '40 url invalid',
      withProvider({ http: { url: 'www:/abc' } }),
      400,
      badRequest('/url/ field of /http/ is invalid'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 41
    [
      '41 status not a string',
      withProvider({ http }, { status: 4 }),
      400,
      badRequest('/status/ must be a string'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 42
    [
      '42 invalid status',
      withProvider({ http }, { status: 'green' }),
      400,
      badRequest('invalid value for /status/'),
    ],
    // upstream: 3004_v2_reg_create/v2_reg_create_errors.test, step 49
    [
      '49 idPattern other than .*',
      {
        description: 'DESC',
        dataProvided: { entities: [{ idPattern: 'E.*', type: 'T1' }], attrs: ['A1'] },
        provider: { http },
      },
      501,
      { error: 'NotImplemented', description: 'Unsupported idPattern' },
    ],
  ])(`step %s (${REG})`, async (_step, body, status, error) => {
    const res = await call('POST', '/v2/registrations', { body });
    expect(res.status).toBe(status);
    expect(res.body).toEqual(error);
    expect(orion.registrations()).toEqual([]);
  });
});

describe('entities', () => {
  // upstream: test/functionalTest/cases/1259_new_json_for_v2/putPostPatch_v2_entities_eid_with_error.test
  it.each([
    ['01', 'POST', { id: 'E1', a1: 'a1' }, 'entity id specified in payload'],
    ['02', 'POST', { type: 'T1', a1: 'a1' }, 'entity type specified in payload'],
    ['03', 'PUT', { id: 'E1', a1: 'a1' }, 'entity id specified in payload'],
    ['04', 'PUT', { type: 'T1', a1: 'a1' }, 'entity type specified in payload'],
    ['05', 'PATCH', { id: 'E1', a1: 'a1' }, 'entity id specified in payload'],
    ['06', 'PATCH', { type: 'T1', a1: 'a1' }, 'entity type specified in payload'],
  ])('step %s: %s /v2/entities/E1/attrs with id or type in the payload', async (...args) => {
    const [, method, body, description] = args;
    const res = await call(method, '/v2/entities/E1/attrs?options=keyValues', { body });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(badRequest(description));
  });

  // upstream: test/functionalTest/cases/1259_new_json_for_v2/putPostPatch_v2_entities_eid_with_error.test, step 07
  it('refuses an attribute with an unknown property', async () => {
    await call('POST', '/v2/entities', { body: { id: 'E1', type: 'T', a0: { value: 1 } } });
    const res = await call('POST', '/v2/entities/E1/attrs', {
      body: { a1: { value: 12, type: 'int', bad_tag: 14 } },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(badRequest('unrecognized property for context attribute'));
    expect(orion.entities()[0]).not.toHaveProperty('a1');
  });

  // upstream: test/functionalTest/cases/1259_new_json_for_v2/putPostPatch_v2_entities_eid_with_error.test, step 08
  it('refuses an entity without id', async () => {
    const res = await call('POST', '/v2/entities', {
      body: { type: 'T1', a1: { value: 12, type: 'int' } },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(badRequest('no entity id specified'));
  });

  // upstream: src/lib/jsonParseV2/parseEntity.cpp (ObjectEmpty: ERROR_DESC_BAD_REQUEST_EMPTY_PAYLOAD),
  // issues #1303/#1305 (every PUT/POST/PATCH with `{}` is an error); no case file found
  it.each([
    ['POST', '/v2/entities/E1/attrs'],
    ['PATCH', '/v2/entities/E1/attrs'],
    ['PUT', '/v2/entities/E1/attrs'],
    ['PUT', '/v2/entities/E1/attrs/A'],
    ['POST', '/v2/entities'],
  ])('answers 400 "empty payload" to %s %s with {} and changes nothing', async (method, path) => {
    await call('POST', '/v2/entities', { body: { id: 'E1', type: 'T', A: { value: 1 } } });
    const res = await call(method, path, { body: {} });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(badRequest('empty payload'));
    expect(orion.entities()).toEqual([
      { id: 'E1', type: 'T', A: { type: 'Number', value: 1, metadata: {} } },
    ]);
  });

  // upstream: test/functionalTest/cases/1492_limit_zero/limit_zero_simple_cases.test, step 01
  it('answers an empty page to GET /v2/entities?limit=0', async () => {
    await call('POST', '/v2/entities', { body: { id: 'E1', type: 'T' } });
    const res = await call('GET', '/v2/entities?limit=0');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([]);
  });

  // upstream: test/functionalTest/cases/1492_limit_zero/limit_zero_entities.test
  it('counts with limit=0 and options=count', async () => {
    for (const id of ['E1', 'E2', 'E3']) await call('POST', '/v2/entities', { body: { id } });
    const res = await call('GET', '/v2/entities?limit=0&options=count');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([]);
    expect(res.headers.get('fiware-total-count')).toBe('3');
  });

  // upstream: src/lib/rest/rest.cpp uriArgumentGet (idPattern and typePattern are exempt from the
  // forbidden-character check); issue #4094 (parentheses are supported); no case file found
  it('takes an idPattern with a regex group', async () => {
    for (const id of ['A1', 'B1', 'C1']) await call('POST', '/v2/entities', { body: { id } });
    const res = await call('GET', `/v2/entities?idPattern=${encodeURIComponent('^(A|B)1$')}`);
    expect(res.status).toBe(200);
    expect(res.body.map((e: { id: string }) => e.id)).toEqual(['A1', 'B1']);
  });
});

describe('entity updates', () => {
  // upstream: test/functionalTest/cases/0979_patch_v2_entities_eid/patch_v2_entities_eid.test, steps 01-05
  it('PATCH: 404 for a missing entity, then updates one attribute and leaves the other', async () => {
    const patch = (body: unknown) =>
      call('PATCH', '/v2/entities/E1/attrs?options=keyValues', { body });
    const missing = await patch({ attr1: 1 });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      error: 'NotFound',
      description: 'The requested entity has not been found. Check type and id',
    });
    const created = await call('POST', '/v2/entities?options=keyValues', {
      body: { id: 'E1', type: 'T1', attr1: 2, attr2: 2 },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/v2/entities/E1?type=T1');
    const number = (value: number) => ({ metadata: {}, type: 'Number', value });
    expect((await call('GET', '/v2/entities/E1')).body).toEqual({
      id: 'E1',
      type: 'T1',
      attr1: number(2),
      attr2: number(2),
    });
    expect((await patch({ attr1: 4 })).status).toBe(204);
    expect((await call('GET', '/v2/entities/E1')).body).toEqual({
      id: 'E1',
      type: 'T1',
      attr1: number(4),
      attr2: number(2),
    });
  });

  // upstream: test/functionalTest/cases/1257_v2_update_patch_without_payload/update_patch_without_payload.test, steps 01-02
  it('answers 411 to a PATCH without payload', async () => {
    await call('POST', '/v2/entities?options=keyValues', { body: { id: 'E1', type: 'T1', A1: 0 } });
    const res = await fetch(`${orion.url}/v2/entities/E1`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(411);
    expect(await res.json()).toEqual({
      error: 'LengthRequired',
      description: 'Zero/No Content-Length in PUT/POST/PATCH request',
    });
  });
});

describe('tenants', () => {
  // upstream: test/functionalTest/cases/0322_multitenancy/tenant_name_error.test, steps 1-3 (an
  // NGSIv1 request there; the check is the same for every request, answered here in NGSIv2 form)
  it.each([
    ['50 characters', '0123456789'.repeat(5), 201, undefined],
    [
      '51 characters',
      `${'0123456789'.repeat(5)}0`,
      400,
      'bad length - a tenant name can be max 50 characters long',
    ],
    [
      'a bad character',
      'kz+fg',
      400,
      'bad character in tenant name - only underscore and alphanumeric characters are allowed',
    ],
  ])('tenant name with %s', async (_what, service, status, description) => {
    const res = await call('POST', '/v2/entities', { service, body: { id: 'E1', type: 'T' } });
    expect(res.status).toBe(status);
    expect(res.body).toEqual(description === undefined ? undefined : badRequest(description));
  });
});

describe('DateTime and timezones', () => {
  // The forms of one instant (2016-10-01T01:23:45Z) that the upstream case stores.
  const forms = [
    '2016-10-01T01:23:45.000',
    '2016-10-01T01:23:45.000Z',
    '2016-10-01T02:23:45.000+01:00',
    '2016-10-01T02:53:45.000+01:30',
    '2016-10-01T02:23:45.000+0100',
    '2016-10-01T02:53:45.000+0130',
    '2016-10-01T02:23:45.000+01',
    '2016-10-01T00:23:45.000-01:00',
    '2016-09-30T23:53:45.000-01:30',
    '2016-10-01T00:23:45.000-0100',
    '2016-09-30T23:53:45.000-0130',
    '2016-10-01T00:23:45.000-01',
  ];

  // upstream: test/functionalTest/cases/2632_timezones/timezones.test, steps 01-02
  it('stores DateTime values given with any timezone designator as the UTC instant', async () => {
    const attrs = Object.fromEntries(
      forms.map((v, i) => [`D${String(i).padStart(2, '0')}`, { value: v, type: 'DateTime' }]),
    );
    expect(
      (await call('POST', '/v2/entities', { body: { id: 'E', type: 'T', ...attrs } })).status,
    ).toBe(201);
    const res = await call('GET', '/v2/entities/E');
    expect(res.status).toBe(200);
    for (const name of Object.keys(attrs)) {
      expect(res.body[name]).toEqual({
        type: 'DateTime',
        value: '2016-10-01T01:23:45.000Z',
        metadata: {},
      });
    }
  });
});

describe('POST /v2/op/update', () => {
  const body = { actionType: 'append', entities: [{ id: 'E1', type: 'T', A: { value: 1 } }] };
  // upstream: src/lib/jsonParseV2/parseBatchUpdate.cpp ("Unrecognized field in JSON payload");
  // issues #2653-#2685 (field validation of POST /v2/op/update); no case file found
  it('refuses a field other than actionType and entities, and writes nothing', async () => {
    const res = await call('POST', '/v2/op/update', { body: { ...body, options: 'x' } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(badRequest('Unrecognized field in JSON payload: /options/'));
    expect(orion.entities()).toEqual([]);
  });

  // upstream: src/lib/jsonParseV2/parseBatchUpdate.cpp (mandatory fields, empty payload)
  it.each([
    [{}, 'empty payload'],
    [{ actionType: 'append' }, 'Invalid JSON payload, mandatory field /entities/ not found'],
    [{ entities: [] }, 'Invalid JSON payload, mandatory field /actionType/ not found'],
    [
      { actionType: 'upsert', entities: [] },
      'invalid update action type: right ones are: append, appendStric, delete, replace, update',
    ],
  ])('refuses %j', async (payload, description) => {
    const res = await call('POST', '/v2/op/update', { body: payload });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(badRequest(description));
  });
});

describe('service paths', () => {
  // upstream: src/lib/rest/rest.cpp servicePathCheck ("empty component in ServicePath"),
  // issue #2772 (fixed by PR #2778); no case file found
  it.each(['/a//b', '//a'])('refuses %s, a path with an empty level', async (servicePath) => {
    const res = await call('GET', '/v2/entities', { servicePath });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(badRequest('empty component in ServicePath'));
  });
});

describe('subscriptions', () => {
  let rx: Receiver;
  beforeEach(async () => {
    rx = await receiver();
  });
  afterEach(() => rx.stub.close());
  const sub = (
    url: string,
    notification: Record<string, unknown> = {},
    condAttrs = ['A', 'B', 'C'],
  ) => ({
    description: 'A subscription to get info about Room1',
    subject: { entities: [{ id: 'Room1', type: 'Room' }], condition: { attrs: condAttrs } },
    notification: { http: { url }, ...notification },
  });

  // upstream: test/functionalTest/cases/3190_notify_only_attributes_that_change/notify_only_attributes_that_change_with_cond_with_notify.test, steps 04-13
  it('onlyChangedAttrs: notifies the changed ones of notification.attrs, and nothing if none', async () => {
    await call('POST', '/v2/entities', {
      body: { id: 'Room1', type: 'Room', ...integers({ A: 10, B: 20, C: 30, D: 40 }) },
    });
    await subscribe(sub(rx.stub.url, { attrs: ['B', 'C', 'D'], onlyChangedAttrs: true }));
    const patch = async (values: Record<string, number>) => {
      rx.got.length = 0;
      const res = await call('PATCH', '/v2/entities/Room1/attrs', { body: integers(values) });
      expect(res.status).toBe(204);
      await orion.settled();
      return rx.got.map((g) => Object.keys(g.body.data[0]).sort());
    };
    expect(await patch({ A: 12, B: 22 })).toEqual([['B', 'id', 'type']]);
    expect(await patch({ B: 24, C: 32 })).toEqual([['B', 'C', 'id', 'type']]);
    expect(await patch({ C: 34, D: 42 })).toEqual([['C', 'D', 'id', 'type']]);
    expect(await patch({ A: 40, B: 30, C: 20, D: 10 })).toEqual([['B', 'C', 'D', 'id', 'type']]);
    expect(await patch({ A: 50 })).toEqual([]);
  });

  // upstream: test/functionalTest/cases/3190_notify_only_attributes_that_change/notify_only_attributes_that_change_with_cond_empty_notify.test, steps 04-09
  it('onlyChangedAttrs with empty notification.attrs: the changed attributes, any of them', async () => {
    await call('POST', '/v2/entities', {
      body: { id: 'Room1', type: 'Room', ...integers({ A: 10, B: 20, C: 30, D: 40 }) },
    });
    await subscribe(sub(rx.stub.url, { attrs: [], onlyChangedAttrs: true }));
    await call('PATCH', '/v2/entities/Room1/attrs', { body: integers({ D: 12 }) });
    await orion.settled();
    expect(rx.got).toEqual([]);
    await call('PATCH', '/v2/entities/Room1/attrs', { body: integers({ A: 34, D: 42 }) });
    await orion.settled();
    expect(rx.got.map((g) => g.body.data[0])).toEqual([
      {
        id: 'Room1',
        type: 'Room',
        A: { value: 34, type: 'Integer', metadata: {} },
        D: { value: 42, type: 'Integer', metadata: {} },
      },
    ]);
  });

  // upstream: test/functionalTest/cases/3190_notify_only_attributes_that_change/notify_only_attributes_that_change_with_cond_empty_notify.test (accumulator dumps)
  it('sends notifications as application/json; charset=utf-8, with Orion headers', async () => {
    await call('POST', '/v2/entities', {
      body: { id: 'Room1', type: 'Room', ...integers({ A: 1 }) },
    });
    await subscribe(sub(rx.stub.url));
    await call('PATCH', '/v2/entities/Room1/attrs', { body: integers({ A: 2 }) });
    await orion.settled();
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]!.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      accept: 'application/json',
      'fiware-servicepath': '/',
      'ngsiv2-attrsformat': 'normalized',
    });
    expect(rx.got[0]!.headers['fiware-correlator']).toMatch(/^[0-9a-f-]{36}; cbnotif=1$/);
    expect(rx.got[0]!.body.subscriptionId).toMatch(/^[0-9a-f]{24}$/);
  });

  // upstream: test/functionalTest/cases/1492_limit_zero/limit_zero_simple_cases.test, step 03
  it('answers an empty page to GET /v2/subscriptions?limit=0', async () => {
    await subscribe(sub(rx.stub.url));
    const res = await call('GET', '/v2/subscriptions?limit=0');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([]);
  });

  // upstream: test/functionalTest/cases/1492_limit_zero/limit_zero_subs.test, steps 01-05
  it('counts subscriptions with limit=0 and options=count', async () => {
    const none = await call('GET', '/v2/subscriptions?limit=0&options=count');
    expect(none.body).toEqual([]);
    expect(none.headers.get('fiware-total-count')).toBe('0');
    await subscribe(sub(rx.stub.url));
    await subscribe(sub(rx.stub.url));
    const res = await call('GET', '/v2/subscriptions?limit=0&options=count');
    expect(res.body).toEqual([]);
    expect(res.headers.get('fiware-total-count')).toBe('2');
  });

  // upstream: src/lib/mongoBackend/mongoGetSubscriptions.cpp mongoGetSubscription (the header's
  // path joins the _id in the query), issue #3945 (fixed by PR #3947); no case file found
  it('finds a subscription by id only under its own service path', async () => {
    const id = await subscribe(sub(rx.stub.url), { servicePath: '/a' });
    const other = await call('GET', `/v2/subscriptions/${id}`, { servicePath: '/b' });
    expect(other.status).toBe(404);
    expect(other.body).toEqual({
      error: 'NotFound',
      description: 'The requested subscription has not been found. Check id',
    });
    expect((await call('GET', `/v2/subscriptions/${id}`, { servicePath: '/a' })).status).toBe(200);
    expect((await call('GET', `/v2/subscriptions/${id}`)).status).toBe(200);
    const otherTenant = await call('GET', `/v2/subscriptions/${id}`, { service: 'other' });
    expect(otherTenant.status).toBe(404);
  });

  // upstream: src/lib/mongoBackend/mongoUpdateSubscription.cpp (the request's path is stored as the
  // subscription's, "/#" without one); issue #692; no case file found
  it('moves a subscription to the service path of a PATCH', async () => {
    const id = await subscribe(sub(rx.stub.url), { servicePath: '/a' });
    const res = await call('PATCH', `/v2/subscriptions/${id}`, {
      servicePath: '/b',
      body: { throttling: 0 },
    });
    expect(res.status).toBe(204);
    expect(orion.subscriptions().map((s) => s.servicePath)).toEqual(['/b']);
    await call('POST', '/v2/entities', {
      servicePath: '/a',
      body: { id: 'Room1', type: 'Room', A: { value: 1 } },
    });
    await call('POST', '/v2/entities', {
      servicePath: '/b',
      body: { id: 'Room1', type: 'Room', A: { value: 1 } },
    });
    await orion.settled();
    expect(rx.got.map((g) => g.headers['fiware-servicepath'])).toEqual(['/b']);
  });

  // upstream: src/lib/mongoBackend/mongoGetSubscriptions.cpp mongoListSubscriptions ("/#" lists
  // every subscription, FIXME #3099); no case file found
  it('lists every subscription for Fiware-ServicePath /#', async () => {
    await subscribe(sub(rx.stub.url), { servicePath: '/a' });
    await subscribe(sub(rx.stub.url));
    expect((await call('GET', '/v2/subscriptions', { servicePath: '/#' })).body).toHaveLength(2);
    expect((await call('GET', '/v2/subscriptions', { servicePath: '/a' })).body).toHaveLength(1);
  });

  // upstream: test/functionalTest/cases/2632_timezones/timezones.test (its timezone designators),
  // applied to `expires`, which Orion parses with the same parse8601Time (src/lib/common/globals.cpp)
  it.each(['+01:00', '+0100', '+01'])(
    'takes the timezone designator %s in expires and renders the instant in UTC',
    async (zone) => {
      const id = await subscribe({ ...sub(rx.stub.url), expires: `2040-01-01T14:00:00.00${zone}` });
      const res = await call('GET', `/v2/subscriptions/${id}`);
      expect(res.status).toBe(200);
      expect(res.body.expires).toBe('2040-01-01T13:00:00.000Z');
      expect(res.body.status).toBe('active');
    },
  );
});

describe('registrations', () => {
  // upstream: test/functionalTest/cases/1492_limit_zero/limit_zero_simple_cases.test, step 04
  it('answers an empty page to GET /v2/registrations?limit=0', async () => {
    await register();
    const res = await call('GET', '/v2/registrations?limit=0');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([]);
  });

  // upstream: test/functionalTest/cases/1492_limit_zero/limit_zero_regs.test
  it('counts registrations with limit=0 and options=count', async () => {
    await register();
    const res = await call('GET', '/v2/registrations?limit=0&options=count');
    expect(res.body).toEqual([]);
    expect(res.headers.get('fiware-total-count')).toBe('1');
  });

  // upstream: src/lib/mongoBackend/mongoRegistrationGet.cpp (the header's path joins the _id),
  // issue #3945 "GET /v2/registrations/regId ignored subservice header"; no case file found
  it('finds a registration by id only under its own service path', async () => {
    const id = await register({ servicePath: '/foo' });
    const bar = await call('GET', `/v2/registrations/${id}`, { servicePath: '/bar' });
    expect(bar.status).toBe(404);
    expect(bar.body).toEqual({
      error: 'NotFound',
      description: 'The requested registration has not been found. Check id',
    });
    expect((await call('GET', `/v2/registrations/${id}`, { servicePath: '/foo' })).status).toBe(
      200,
    );
  });

  // upstream: src/lib/mongoBackend/mongoRegistrationGet.cpp mongoRegistrationsGet ("/#" lists
  // every registration, FIXME #3099); no case file found
  it('lists every registration for Fiware-ServicePath /#', async () => {
    await register({ servicePath: '/foo' });
    await register({ servicePath: '/bar' });
    expect((await call('GET', '/v2/registrations', { servicePath: '/#' })).body).toHaveLength(2);
    expect((await call('GET', '/v2/registrations', { servicePath: '/foo' })).body).toHaveLength(1);
  });
});

describe('routes the fake does not implement', () => {
  // upstream: the routes of src/app/contextBroker/orionRestServices.cpp that the fake leaves out
  it.each([
    ['GET', '/v2'],
    ['GET', '/v2/types'],
    ['POST', '/v2/op/query'],
    ['POST', '/v2/op/notify'],
    ['GET', '/v2/entities/E1/attrs/A/value'],
    ['GET', '/admin/log'],
    ['GET', '/statistics'],
    ['GET', '/cache/statistics'],
  ])('answers 501 NotImplemented to %s %s', async (method, path) => {
    const body = method === 'POST' ? { entities: [{ idPattern: '.*' }] } : undefined;
    const res = await call(method, path, { body });
    expect(res.status).toBe(501);
    expect(res.body).toEqual({ error: 'NotImplemented', description: expect.any(String) });
  });
});
