// The QuantumLeap fake held to QuantumLeap's own tests: each test re-expresses one test function
// of src/reporter/tests/ in orchestracities/ngsi-timeseries-api (or one response of its API
// specification, specification/quantumleap.yml), named in a comment above it, and asserts the
// status and body QuantumLeap gives there. Where no test pins a behaviour down, the comment names
// the QuantumLeap source that decides it instead. The cases are written anew here; no upstream file
// is copied.
//
// Version. The fake answers as QuantumLeap 1.0. The index read holds the 0.9.0-dev line that became
// 1.0 (RELEASE_NOTES.md at dbddb72c; version.py 0.9.0-dev at 0d63adfc): reporter.py at 3c3ebda4,
// httputil.py at 90f140da, timex.py and test_notify.py at 081bd310, query_1T1E1A.py at c17efc1c,
// query_1T1ENA.py at 27cb8a84, translators/sql_translator.py at 632f3e9b, test_1T1E1A.py at
// 048edeed, test_1T1ENA.py at 37396af1, the specification at 64f0f921. The upstream tests run each
// case for tenants t1 and t2; here each runs for t1 (tenants apart are their own cases below).
// Upstream compares time indexes as instants; here the exact string CrateDB's translator renders
// (`YYYY-MM-DDThh:mm:ss.sss+00:00`, as test_1T1E1A_aggrPeriod and test_Headers spell it) is asserted.
//
// Not replayed, and why:
// - aggregations (test_1T1E1A_aggrMethod, test_1T1E1A_aggrPeriod, test_1T1ENA_aggrMethod and
//   _aggrPeriod past their first request, test_aggregation_*), geo-queries (test_geo_*), the
//   multi-entity and per-type routes (test_1TNE1A, test_1TNENA, test_NTNE*, test_Entity), deletes
//   (test_delete), /v2/op/query (test_op), the work queue (test_integration's queue part),
//   instanceId (test_instanceId): the fake leaves them out and answers 501 (checked below);
// - test_notify.py::test_geocoding (skipped upstream), test_subscribe (the route is gone in 1.0),
//   test_multitenancy.py::test_integration_with_orion's /v2/subscribe step (only its queries are
//   replayed);
// - test_time_format.py::test_index_iso: a time without offset there comes back shifted by the
//   test host's zone (+02:00), which says nothing about QuantumLeap; the fake, like CrateDB, reads
//   such a time as UTC (see 'time format');
// - test_notify.py::test_valid_data_for_type for (Text, 1.0): JSON's 1.0 and 1 are one number once
//   parsed in JavaScript, so the fake cannot render "1.0"; (Text, 1) is replayed;
// - test_attribute_name_case, test_different_types, test_timescale_types, test_sql_injection:
//   CrateDB's case folding of column names, column types fixed by a table's first row, and
//   Timescale; the fake keeps attribute names as notified and converts each value by the type it
//   is notified with;
// - test_validate_notification.py: unit tests of reporter._validate_payload and has_value; their
//   effect over HTTP is replayed through test_notify and test_incomplete_entities.
import { startQuantumLeapFake } from '../fakes/quantumleap.js';
import type { QuantumLeapFake } from '../fakes/quantumleap.js';
import { fiwareCaller } from '../support/fiware-call.js';
import type { FiwareCallOptions } from '../support/fiware-call.js';

let ql: QuantumLeapFake;
const T1 = 't1';

const call = fiwareCaller(() => ql.url);

const get = (path: string, o: FiwareCallOptions = { service: T1 }) => call('GET', path, o);

/** POSTs `{data}` to /v2/notify and expects QuantumLeap's 200. */
async function notify(data: unknown[], o: FiwareCallOptions = { service: T1 }) {
  const res = await call('POST', '/v2/notify', {
    ...o,
    body: { subscriptionId: '5947d174793fe6f7eb5e3961', data },
  });
  expect(res).toMatchObject({ status: 200, body: 'Notification successfully processed' });
}

/** reporter/conftest.py create_notification, with a fixed temperature. */
const roomNotification = (entityType = 'Room', entityId = 'Room1') => ({
  id: entityId,
  type: entityType,
  temperature: {
    type: 'Number',
    value: 24.2,
    metadata: { dateModified: { type: 'DateTime', value: '2018-01-01T11:46:45.42Z' } },
  },
});

/** reporter/tests/utils.py get_notification: temperature v, pressure 10v, both modified at `at`. */
const measured = (entityType: string, entityId: string, v: number, at: string) => ({
  id: entityId,
  type: entityType,
  temperature: {
    type: 'Number',
    value: v,
    metadata: { dateModified: { type: 'DateTime', value: at } },
  },
  pressure: {
    type: 'Number',
    value: 10 * v,
    metadata: { dateModified: { type: 'DateTime', value: at } },
  },
});

/** The n-th day of January 1970 (0-based), as QuantumLeap renders a time index. */
const day = (i: number) => `1970-01-${String(i + 1).padStart(2, '0')}T00:00:00.000+00:00`;
const range = (lo: number, hi: number) => Array.from({ length: hi - lo }, (_, i) => lo + i);

/** reporter/tests/utils.py insert_test_data: one notification a day from 1970-01-01. */
async function insertTestData(
  entityTypes: string[],
  o: { service?: string; nEntities?: number; indexSize?: number; entityId?: string } = {},
) {
  const { service = T1, nEntities = 1, indexSize = 30 } = o;
  for (const et of entityTypes) {
    for (let ei = 0; ei < nEntities; ei++) {
      for (let i = 0; i < indexSize; i++) {
        const at = `1970-01-${String(i + 1).padStart(2, '0')}T00:00:00.000+00:00`;
        await notify([measured(et, o.entityId ?? `${et}${ei}`, i, at)], {
          service,
          servicePath: '/',
        });
      }
    }
  }
}

const NOT_FOUND = { error: 'Not Found', description: 'No records were found for such query.' };
const problem = (status: number, title: string, detail: string) => ({
  detail,
  status,
  title,
  type: 'about:blank',
});

beforeAll(async () => {
  ql = await startQuantumLeapFake();
});
afterAll(() => ql.close());
beforeEach(() => ql.reset());

describe('POST /v2/notify', () => {
  const url = '/v2/notify';

  // upstream: src/reporter/tests/test_notify.py::test_invalid_no_body
  it('refuses a notification without body', async () => {
    const res = await call('POST', url, { service: T1, raw: 'null' });
    expect(res).toMatchObject({
      status: 400,
      body: problem(400, 'Bad Request', 'Request body is not valid JSON'),
    });
  });

  // upstream: src/reporter/tests/test_notify.py::test_invalid_empty_body
  it('refuses a notification without data', async () => {
    const res = await call('POST', url, { service: T1, body: {} });
    expect(res.status).toBe(400);
    expect(res.body.detail).toBe("'data' is a required property");
  });

  // upstream: src/reporter/tests/test_notify.py::test_invalid_no_type
  it('refuses an entity without type', async () => {
    const { type: _, ...entity } = roomNotification();
    const res = await call('POST', url, { service: T1, body: { data: [entity] } });
    expect(res).toMatchObject({
      status: 400,
      body: problem(400, 'Bad Request', "'type' is a required property - 'data.0'"),
    });
  });

  // upstream: src/reporter/tests/test_notify.py::test_invalid_no_id
  it('refuses an entity without id', async () => {
    const { id: _, ...entity } = roomNotification();
    const res = await call('POST', url, { service: T1, body: { data: [entity] } });
    expect(res).toMatchObject({
      status: 400,
      body: problem(400, 'Bad Request', "'id' is a required property - 'data.0'"),
    });
  });

  // upstream: src/reporter/tests/test_notify.py::test_invalid_no_attr
  it('accepts an entity without attributes', async () => {
    const { temperature: _, ...entity } = roomNotification();
    await notify([entity]);
  });

  // upstream: src/reporter/tests/test_notify.py::test_invalid_no_value
  it('accepts an attribute without value', async () => {
    const entity = roomNotification();
    const { value: _, ...temperature } = entity.temperature;
    await notify([{ ...entity, temperature }]);
  });

  // upstream: src/reporter/tests/test_notify.py::test_valid_notification
  it('stores a valid notification and answers its entity', async () => {
    await notify([roomNotification()]);
    expect((await get('/v2/entities/Room1/attrs/temperature')).status).toBe(200);
  });

  // upstream: src/reporter/tests/test_notify.py::test_valid_no_modified
  it('stores a notification without dateModified', async () => {
    const entity = roomNotification();
    await notify([{ ...entity, temperature: { ...entity.temperature, metadata: {} } }]);
    expect((await get('/v2/entities/Room1/attrs/temperature')).status).toBe(200);
  });

  // upstream: src/reporter/tests/test_notify.py::test_valid_data_for_type, one row each (less
  // (Text, 1.0), see the header); the value read back is the last of attribute `<type lowercased>`.
  it.each<[string, unknown, unknown]>([
    ['Number', 1.5, 1.5],
    ['Number', 1, 1],
    ['Number', true, null],
    ['Number', '1.0', 1],
    ['Number', '2017-06-19T11:46:45.00Z', null],
    ['Integer', 1.0, 1],
    ['Integer', 1, 1],
    ['Integer', true, null],
    ['Integer', '1.0', 1],
    ['Integer', '2017-06-19T11:46:45.00Z', null],
    ['DateTime', 1.0, null],
    ['DateTime', 1, null],
    ['DateTime', true, null],
    ['DateTime', 'error', null],
    ['DateTime', '2017-06-19T11:46:45.00Z', '2017-06-19T11:46:45.000+00:00'],
    ['Text', 1, '1'],
    ['Text', true, 'True'],
    ['Text', '1.0', '1.0'],
    ['Text', '2017-06-19T11:46:45.00Z', '2017-06-19T11:46:45.00Z'],
    ['Text', ['a', 'b'], "['a', 'b']"],
    ['Text', { test: 'test' }, "{'test': 'test'}"],
    ['StructuredValue', 1.0, null],
    ['StructuredValue', 1, null],
    ['StructuredValue', true, null],
    ['StructuredValue', '1.0', null],
    ['StructuredValue', '2017-06-19T11:46:45.00Z', null],
    ['StructuredValue', { test: 'test' }, { test: 'test' }],
    ['StructuredValue', ['a', 'b'], ['a', 'b']],
    ['Property', 1.0, 1.0],
    ['Property', 1, 1],
    ['Property', true, true],
    ['Property', '1.0', '1.0'],
    ['Property', '2017-06-19T11:46:45.00Z', '2017-06-19T11:46:45.000+00:00'],
    ['Property', { test: 'test' }, { test: 'test' }],
    ['Property', ['a', 'b'], ['a', 'b']],
  ])('stores a %s notified as %j as %j', async (type, value, expected) => {
    const { temperature: _, ...entity } = roomNotification();
    const attr = type.toLowerCase();
    await notify([{ ...entity, [attr]: { type, value } }]);
    const res = await get(`/v2/entities/Room1/attrs/${attr}?lastN=1`);
    expect(res.status).toBe(200);
    expect(res.body.values[0]).toEqual(expected);
  });

  /** test_notify.py entities_with_different_attrs. */
  const threeRooms = (etype: string) => {
    const modified = { dateModified: { type: 'DateTime', value: '2019-05-09T15:28:30.000Z' } };
    return [
      {
        id: 'Room1',
        type: etype,
        temperature: { value: 24.2, type: 'Number', metadata: modified },
        pressure: { value: 720, type: 'Number', metadata: modified },
      },
      {
        id: 'Room2',
        type: etype,
        temperature: { value: 25.2, type: 'Number', metadata: modified },
      },
      {
        id: 'Room3',
        type: etype,
        temperature: { value: 25.2, type: 'Number', metadata: modified },
      },
    ];
  };

  // upstream: src/reporter/tests/test_notify.py::test_multiple_data_elements (it lists the
  // entities with GET /v2/entities, which the fake leaves out; each entity is read instead)
  it('stores every entity of a notification', async () => {
    await notify(threeRooms('test_multiple_data_elements'));
    for (const id of ['Room1', 'Room2', 'Room3']) {
      const res = await get(`/v2/entities/${id}/attrs/temperature`);
      expect(res.body.entityType).toBe('test_multiple_data_elements');
    }
  });

  // upstream: src/reporter/tests/test_notify.py::test_multiple_data_elements_invalid_different_servicepath
  it('refuses more service paths than entities', async () => {
    const res = await call('POST', url, {
      service: T1,
      servicePath: '/Test/Path1, /Test/Path1, /Test/Path2, /Test/Path3',
      body: { data: threeRooms('test_multiple_data_elements_invalid_different_servicepath') },
    });
    expect(res.status).toBe(400);
    expect(res.body).toBe(
      "Notification not processed or not updated: The header value 'Fiware-ServicePath' for " +
        'header /Test/Path1, /Test/Path1, /Test/Path2, /Test/Path3 is not valid. Multiple ' +
        'servicePath are allowed only if their number match the number of entities',
    );
  });

  // upstream: src/reporter/tests/test_notify.py::test_multiple_data_elements_different_servicepath
  // (entities read one by one, as above)
  it('stores each entity under its own service path', async () => {
    await notify(threeRooms('test_multiple_data_elements_different_servicepath'), {
      service: T1,
      servicePath: '/Test/Path1, /Test/Path1, /Test/Path2',
    });
    const read = (id: string, servicePath: string) =>
      get(`/v2/entities/${id}/attrs/temperature`, { service: T1, servicePath });
    for (const id of ['Room1', 'Room2', 'Room3']) {
      expect((await read(id, '/Test')).status).toBe(200);
    }
    expect((await read('Room3', '/Test/Path2')).status).toBe(200);
    expect((await read('Room3', '/Test/Path1')).status).toBe(404);
  });

  // upstream: src/reporter/tests/test_notify.py::test_time_index
  it('indexes by dateModified, then the newest dateModified metadata, then the time of receipt', async () => {
    const etype = 'test_time_index';
    const entity = roomNotification(etype);
    await notify([
      { ...entity, dateModified: { type: 'DateTime', value: '2000-01-02T00:00:00+00:00' } },
    ]);
    const withMeta = (at: string) => ({
      ...entity.temperature,
      metadata: { dateModified: { type: 'DateTime', value: at } },
    });
    await notify([
      {
        ...entity,
        temperature: withMeta('2001-01-02T00:00:00+00:00'),
        pressure: withMeta('2002-01-02T00:00:00+00:00'),
      },
    ]);
    const index = async () => (await get('/v2/entities/Room1')).body.index as string[];
    expect(await index()).toEqual([
      '2000-01-02T00:00:00.000+00:00',
      '2002-01-02T00:00:00.000+00:00',
    ]);
    const { metadata: _t, ...temperature } = entity.temperature;
    await notify([{ ...entity, temperature, pressure: temperature }]);
    expect((await index()).at(-1)!.startsWith(String(new Date().getUTCFullYear()))).toBe(true);
  });

  // upstream: src/reporter/tests/test_notify.py::test_no_value_in_notification
  it('accepts attributes without value or with an empty one', async () => {
    await notify([
      {
        id: '299531',
        type: 'AirQualityObserved',
        p: { type: 'string', value: '994', metadata: {} },
        ti: { type: 'ISO8601', value: ' ', metadata: {} },
        pm10: { type: 'string', metadata: {} },
        pm25: { type: 'string', value: '5', metadata: {} },
      },
    ]);
    await notify([
      {
        id: '299531',
        type: 'AirQualityObserved',
        p: { type: 'string', value: '994', metadata: {} },
        pm10: { type: 'string', value: '0', metadata: {} },
        pm25: { type: 'string', value: '', metadata: {} },
      },
    ]);
  });

  // upstream: src/reporter/tests/test_notify.py::test_no_value_for_attributes
  it('drops an entity whose attributes are all empty', async () => {
    const base = { id: '299531', type: 'AirQualityObserved' };
    const empty = { type: 'string', value: '', metadata: {} };
    await notify([{ ...base, p: empty, pm10: empty, pm25: empty }]);
    expect((await get('/v2/entities/299531')).status).toBe(404);
    await notify([{ ...base, p: { type: 'string' }, pm10: empty, pm25: empty }]);
    expect((await get('/v2/entities/299531/attrs/p/value')).status).toBe(404);
    await notify([
      { ...base, p: { type: 'string' }, pm10: { type: 'string', value: '10', metadata: {} } },
    ]);
    const res = await get('/v2/entities/299531/attrs/pm10/value');
    expect(res.status).toBe(200);
    expect(res.body.values[0]).toBe('10');
  });

  // upstream: src/reporter/tests/test_notify.py::test_no_value_no_type_for_attributes
  it('drops an attribute with neither type nor value', async () => {
    await notify([
      {
        id: 'Room1',
        type: 'Room',
        odour: { type: 'Text', value: 'Good', metadata: {} },
        temperature: { metadata: {} },
        pressure: { type: 'Number', value: 26, metadata: {} },
      },
    ]);
    expect((await get('/v2/entities/Room1/attrs/temperature/value')).status).toBe(404);
    const pressure = await get('/v2/entities/Room1/attrs/pressure/value');
    expect(pressure.status).toBe(200);
    expect(pressure.body.values[0]).toBe(26);
    await notify([
      { id: 'Room1', type: 'Room', temperature: { type: 'Number', value: 25, metadata: {} } },
    ]);
    const temperature = await get('/v2/entities/Room1/attrs/temperature/value');
    expect(temperature.status).toBe(200);
    expect(temperature.body.values[1]).toBe(25);
  });

  // upstream: src/reporter/tests/test_notify.py::test_with_value_no_type_for_attributes
  it('stores an attribute with a value and no type', async () => {
    await notify([
      {
        id: 'Kitchen1',
        type: 'Kitchen',
        odour: { type: 'Text', value: 'Good', metadata: {} },
        temperature: { value: 25, metadata: {} },
        pressure: { type: 'Number', value: 26, metadata: {} },
      },
    ]);
    const res = await get('/v2/entities/Kitchen1/attrs/temperature/value');
    expect(res.status).toBe(200);
    expect(res.body.values[0]).toBe(25);
  });

  // upstream: src/reporter/tests/test_notify.py::test_no_value_with_type_for_attributes
  it('stores an attribute with a type and no value as null', async () => {
    await notify([
      {
        id: 'Hall1',
        type: 'Hall',
        odour: { type: 'Text', value: 'Good', metadata: {} },
        temperature: { type: 'Number', metadata: {} },
        pressure: { type: 'Number', value: 26, metadata: {} },
      },
    ]);
    const res = await get('/v2/entities/Hall1/attrs/temperature/value');
    expect(res.status).toBe(200);
    expect(res.body.values[0]).toBeNull();
  });

  // upstream: src/reporter/tests/test_notify.py::test_issue_537
  it('stores an array of an unknown type as notified', async () => {
    const value = ['oglera8978sdfasd', 'fdasfa6786sdf'];
    await notify([
      {
        id: 'six',
        type: 'Thing',
        serialNumber: { type: 'Text', value: 'type as Moosbllord', metadata: {} },
        doesthismatter2: { type: 'Moosbllord', value, metadata: {} },
      },
    ]);
    const res = await get('/v2/entities/six/attrs/doesthismatter2/value');
    expect(res.status).toBe(200);
    expect(res.body.values[0]).toEqual(value);
  });

  // upstream: src/reporter/tests/test_notify.py::test_issue_382
  it('stores an Integer beside a Relationship and an Array', async () => {
    await notify([
      {
        id: 'urn:ngsi-ld:Test:0002',
        type: 'Test',
        errorNumber: { type: 'Integer', value: 2 },
        refVacuumPump: { type: 'Relationship', value: 'urn:ngsi-ld:VacuumPump:FlexEdgePump' },
        refOutgoingPallet: {
          type: 'Array',
          value: ['urn:ngsi-ld:Pallet:0003', 'urn:ngsi-ld:Pallet:0004'],
        },
      },
    ]);
    const res = await get('/v2/entities/urn:ngsi-ld:Test:0002/attrs/errorNumber/value');
    expect(res.status).toBe(200);
    expect(res.body.values[0]).toBe(2);
  });

  // upstream: src/reporter/tests/test_notify.py::test_json_ld
  it('stores an NGSI-LD entity, its @context aside', async () => {
    await notify([
      {
        id: 'urn:ngsi-ld:Streetlight:streetlight:guadalajara:4567',
        type: 'Streetlight',
        areaServed: { type: 'Property', value: 'Roundabouts city entrance' },
        refStreetlightGroup: {
          type: 'Relationship',
          object: 'urn:ngsi-ld:StreetlightGroup:streetlightgroup:G345',
        },
        lanternHeight: { type: 'Property', value: 10 },
        dateLastLampChange: {
          type: 'Property',
          value: { '@type': 'DateTime', '@value': '2016-07-08T08:02:21.753Z' },
        },
        '@context': [
          'https://schema.lab.fiware.org/ld/context',
          'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld',
        ],
      },
    ]);
    const id = 'urn:ngsi-ld:Streetlight:streetlight:guadalajara:4567';
    const res = await get(`/v2/entities/${id}/attrs/lanternHeight/value`);
    expect(res.status).toBe(200);
    expect(res.body.values[0]).toBe(10);
    expect((await get(`/v2/entities/${id}/attrs/@context`)).status).toBe(404);
  });

  const filling = (extra: Record<string, unknown>, entityExtra: Record<string, unknown> = {}) => ({
    id: 'urn:ngsi-ld:Device:filling001',
    type: 'FillingSensor',
    ...entityExtra,
    filling: { type: 'Property', value: 0.94, unitCode: 'C62', ...extra },
  });
  const indexOfFilling = async () =>
    (await get('/v2/entities/urn:ngsi-ld:Device:filling001')).body.index;

  // upstream: src/reporter/tests/test_notify.py::test_json_ld_observed_at_meta
  it('indexes by an attribute observedAt', async () => {
    await notify([filling({ observedAt: '2021-01-28T12:33:20.000Z' })]);
    expect(await indexOfFilling()).toEqual(['2021-01-28T12:33:20.000+00:00']);
  });

  // upstream: src/reporter/tests/test_notify.py::test_json_ld_modified_at_meta
  it('indexes by an attribute modifiedAt', async () => {
    await notify([filling({ modifiedAt: '2021-01-28T12:33:10.000Z' })]);
    expect(await indexOfFilling()).toEqual(['2021-01-28T12:33:10.000+00:00']);
  });

  // upstream: src/reporter/tests/test_notify.py::test_json_ld_both_at_meta
  it('prefers observedAt to modifiedAt', async () => {
    await notify([
      filling(
        { observedAt: '2021-01-28T12:33:20.000Z', modifiedAt: '2021-01-28T12:33:22.000Z' },
        { modifiedAt: '2021-01-28T12:33:22.000Z' },
      ),
    ]);
    expect(await indexOfFilling()).toEqual(['2021-01-28T12:33:20.000+00:00']);
  });

  // upstream: src/reporter/tests/test_notify.py::test_json_ld_date_modified_at_attribute
  it('indexes by an entity modifiedAt', async () => {
    await notify([filling({}, { modifiedAt: '2021-01-28T12:33:22.000Z' })]);
    expect(await indexOfFilling()).toEqual(['2021-01-28T12:33:22.000+00:00']);
  });

  // upstream: src/reporter/tests/test_notify.py::test_json_ld_date_observed
  it('indexes by the custom time index attribute, an NGSI-LD DateTime', async () => {
    await notify(
      [
        filling(
          { observedAt: '2021-01-28T12:33:20.000Z', modifiedAt: '2021-01-28T12:33:22.000Z' },
          {
            dateObserved: {
              type: 'Property',
              value: { '@type': 'DateTime', '@value': '2018-08-07T12:00:00Z' },
            },
          },
        ),
      ],
      { service: T1, headers: { 'Fiware-TimeIndex-Attribute': 'dateObserved' } },
    );
    expect(await indexOfFilling()).toEqual(['2018-08-07T12:00:00.000+00:00']);
  });
});

/**
 * The query windows both single-entity routes take: each row is a case of QuantumLeap's own
 * tests for both, src/reporter/tests/test_1T1E1A.py::test_1T1E1A_<case> and
 * test_1T1ENA.py::test_1T1ENA_<case> (there named test_1T1E1A_lastN_with_limit too).
 */
const WINDOWS: [upstreamCase: string, query: string, lo: number, hi: number][] = [
  [
    'fromDate_toDate',
    'type=Room&fromDate=1970-01-06T00:00:00%2B00:00&toDate=1970-01-17T00:00:00%2B00:00',
    5,
    17,
  ],
  [
    'fromDate_toDate_with_quotes',
    new URLSearchParams({
      type: 'Room',
      fromDate: '"1970-01-06T00:00:00+00:00"',
      toDate: '"1970-01-17T00:00:00+00:00"',
    }).toString(),
    5,
    17,
  ],
  ['lastN', 'type=Room&lastN=10', 20, 30],
  ['lastN_with_limit', 'type=Room&lastN=3&limit=10', 27, 30],
  ['limit', 'type=Room&limit=5', 0, 5],
  ['offset', 'type=Room&offset=3', 3, 30],
  ['combined', 'type=Room&offset=2&toDate=1970-01-20T00:00:00%2B00:00&limit=28', 2, 20],
];

describe('GET /v2/entities/{entityId}/attrs/{attrName}', () => {
  beforeEach(() => insertTestData(['Room']));
  const url = '/v2/entities/Room0/attrs/temperature';
  const expected = (lo: number, hi: number) => ({
    entityId: 'Room0',
    entityType: 'Room',
    attrName: 'temperature',
    index: range(lo, hi).map(day),
    values: range(lo, hi),
  });

  it.each(WINDOWS)('answers the window of upstream case %s (%s)', async (_case, query, lo, hi) => {
    expect((await get(`${url}?${query}`)).body).toEqual(expected(lo, hi));
  });

  // upstream: src/reporter/tests/test_1T1E1A.py::test_1T1E1A_defaults
  it('answers the whole series', async () => {
    expect(await get(`${url}?type=Room`)).toMatchObject({ status: 200, body: expected(0, 30) });
  });

  // upstream: src/translators/sql_translator.py SQLTranslator.query (no test combines them): lastN
  // orders by time index descending with `limit min(lastN, limit) offset <offset>`, and
  // _format_response turns the rows back to ascending, so the offset skips the newest rows.
  it('with lastN, skips the newest `offset` rows', async () => {
    expect((await get(`${url}?type=Room&lastN=10&offset=3`)).body).toEqual(expected(17, 27));
    expect((await get(`${url}?type=Room&lastN=10&limit=4`)).body).toEqual(expected(26, 30));
  });

  // upstream: src/reporter/tests/test_1T1E1A.py::test_1T1E1A_values_defaults
  it('answers index and values alone on /value', async () => {
    const { index, values } = expected(0, 30);
    expect(await get(`${url}/value?type=Room`)).toMatchObject({
      status: 200,
      body: { index, values },
    });
    expect(Object.keys((await get(`${url}/value`)).body).sort()).toEqual(['index', 'values']);
  });

  // upstream: src/reporter/tests/test_1T1E1A.py::test_not_found
  it('answers 404 for a type without rows', async () => {
    expect(await get(`${url}?type=NotThere`)).toMatchObject({ status: 404, body: NOT_FOUND });
  });

  // upstream: src/reporter/tests/test_1T1E1A.py::test_no_type
  it('finds an entity without its type when its id is unique', async () => {
    const etypes = ['test_no_type_RoomDevice', 'test_no_type_Car'];
    await insertTestData(etypes, { nEntities: 2, indexSize: 2 });
    const path = '/v2/entities/test_no_type_RoomDevice1/attrs/temperature';
    const withType = await get(`${path}?type=test_no_type_RoomDevice`);
    expect(withType.status).toBe(200);
    expect(await get(path)).toEqual({ ...withType, headers: expect.anything() });
  });

  // upstream: src/reporter/tests/test_1T1E1A.py::test_no_type_not_unique
  it('refuses an id shared by two types unless the type is given', async () => {
    const etypes = ['test_no_type_not_unique_RoomDevice', 'test_no_type_not_unique_Car'];
    await insertTestData(etypes, { nEntities: 2, indexSize: 2, entityId: 'sharedId' });
    const path = '/v2/entities/sharedId/attrs/temperature';
    expect((await get(`${path}?type=test_no_type_not_unique_RoomDevice`)).status).toBe(200);
    expect(await get(path)).toMatchObject({
      status: 400,
      body: {
        error: "<class 'exceptions.exceptions.AmbiguousNGSIIdError'>",
        description:
          'There are multiple entities with the given entity_id sharedId. Please specify entity_type.',
      },
    });
  });
});

describe('GET /v2/entities/{entityId}', () => {
  beforeEach(() => insertTestData(['Room']));
  const url = '/v2/entities/Room0';
  const attributes = (lo: number, hi: number) => [
    { attrName: 'pressure', values: range(lo, hi).map((t) => t * 10) },
    { attrName: 'temperature', values: range(lo, hi) },
  ];
  const expected = (lo: number, hi: number) => ({
    entityId: 'Room0',
    entityType: 'Room',
    index: range(lo, hi).map(day),
    attributes: attributes(lo, hi),
  });

  it.each(WINDOWS)('answers the window of upstream case %s (%s)', async (_case, query, lo, hi) => {
    expect((await get(`${url}?${query}`)).body).toEqual(expected(lo, hi));
  });

  // upstream: src/reporter/tests/test_1T1ENA.py::test_1T1ENA_defaults
  it('answers every attribute, by name', async () => {
    expect(await get(`${url}?type=Room`)).toMatchObject({ status: 200, body: expected(0, 30) });
  });

  // upstream: src/reporter/tests/test_1T1ENA.py::test_1T1ENA_aggrMethod (its first request only)
  it('refuses aggrMethod without attrs', async () => {
    expect(await get(`${url}?type=Room&aggrMethod=count`)).toMatchObject({
      status: 400,
      body: {
        error: 'Bad parameters use',
        description: 'Specified aggrMethod = count but missing attrs parameter.',
      },
    });
  });

  // upstream: src/reporter/tests/test_1T1ENA.py::test_1T1ENA_aggrPeriod (its first request only)
  it('refuses aggrPeriod without aggrMethod', async () => {
    expect(await get(`${url}?type=Room&aggrPeriod=month`)).toMatchObject({
      status: 400,
      body: {
        error: 'Bad parameters use',
        description: 'aggrMethod is compulsory when using aggrPeriod.',
      },
    });
  });

  // upstream: src/reporter/tests/test_1T1ENA.py::test_1T1ENA_fromDate
  it('answers from fromDate on', async () => {
    const q = 'type=Room&fromDate=1970-01-24T00:00:00%2B00:00';
    expect((await get(`${url}?${q}`)).body).toEqual(expected(23, 30));
  });

  // upstream: src/reporter/tests/test_1T1ENA.py::test_1T1ENA_fromDate_and_last
  it.each([1, 3, 10, 10000])('answers the last %i from fromDate on', async (last) => {
    const q = `type=Room&lastN=${last}&fromDate=1970-01-24T00:00:00%2B00:00`;
    expect((await get(`${url}?${q}`)).body).toEqual(expected(30 - Math.min(last, 7), 30));
  });

  // upstream: src/reporter/tests/test_1T1ENA.py::test_1T1ENA_values_defaults
  it('answers index and attributes alone on /value', async () => {
    expect(await get(`${url}/value?type=Room`)).toMatchObject({
      status: 200,
      body: { index: range(0, 30).map(day), attributes: attributes(0, 30) },
    });
    expect(Object.keys((await get(`${url}/value`)).body).sort()).toEqual(['attributes', 'index']);
  });

  // upstream: src/reporter/tests/test_1T1ENA.py::test_not_found
  it('answers 404 for a type without rows', async () => {
    expect(await get(`${url}?type=NotThere`)).toMatchObject({ status: 404, body: NOT_FOUND });
  });

  // upstream: src/reporter/query_1T1ENA.py query_1T1ENA with sql_translator.py
  // _get_select_clause: named attrs become columns of the select, and a column the entity type's
  // table lacks fails the query, which answers as no records.
  it('answers 404 when attrs names an attribute the type never had', async () => {
    expect((await get(`${url}?attrs=temperature,nothing`)).body).toEqual(NOT_FOUND);
    expect((await get(`${url}?attrs=temperature`)).body.attributes).toEqual([attributes(0, 30)[1]]);
  });
});

describe('query parameters (specification/quantumleap.yml)', () => {
  beforeEach(() => insertTestData(['Room'], { indexSize: 3 }));
  const url = '/v2/entities/Room0/attrs/temperature';

  // upstream: specification/quantumleap.yml parameters lastN (integer, minimum 1), limit
  // (minimum 1) and offset (minimum 0): connexion refuses other values with a 400 problem.
  it.each(['lastN=0', 'lastN=x', 'limit=0', 'offset=-1', 'offset=1.5'])('refuses %s', async (q) => {
    const res = await get(`${url}?${q}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: 400, title: 'Bad Request', type: 'about:blank' });
  });

  // upstream: src/translators/sql_translator.py SQLTranslator._parse_date (dateutil isoparse,
  // else InvalidParameterValue); query_1T1E1A catches only NGSIUsageError, so the 1T1E1A route
  // answers 500 and the 1T1ENA route, which catches InvalidParameterValue, 422.
  it('refuses a fromDate that is no date', async () => {
    expect((await get(`${url}?fromDate=yesterday`)).status).toBe(500);
    const res = await get('/v2/entities/Room0?fromDate=yesterday');
    expect(res).toMatchObject({
      status: 422,
      body: {
        error: "<class 'exceptions.exceptions.InvalidParameterValue'>",
        description:
          "The parameter value 'yesterday' for parameter **fromDate** or **toDate** is not valid.",
      },
    });
  });

  // upstream: src/reporter/reporter.py _validate_query_params: options, and aggrScope other than
  // entity, are "not yet implemented" in QuantumLeap itself.
  it('answers 501 to options and aggrScope', async () => {
    const body = {
      error: 'Not implemented option',
      description: 'aggrScope and options are not yet implemented.',
    };
    expect(await get(`${url}?options=values`)).toMatchObject({ status: 501, body });
    expect(await get(`/v2/entities/Room0?options=keyValues`)).toMatchObject({ status: 501, body });
  });
});

describe('tenants and service paths', () => {
  // upstream: src/reporter/tests/test_multitenancy.py::test_integration_with_orion (its queries;
  // the entity reaches QuantumLeap as Orion notifies it: tenant t1, path /)
  it('finds an entity with its tenant headers and not without them', async () => {
    await notify([roomNotification()], { service: T1, servicePath: '/' });
    const withHeaders = await get('/v2/entities/Room1?type=Room', {
      service: T1,
      servicePath: '/',
    });
    expect(withHeaders.status).toBe(200);
    expect(withHeaders.body.entityId).toBe('Room1');
    expect(await get('/v2/entities/Room1?type=Room', {})).toMatchObject({ status: 404 });
  });

  const headers = { 'fiware-Service': 'test', 'fiware-ServicePath': '/t1' };

  // upstream: src/reporter/tests/test_Headers.py::test_for_valid_headers
  it('answers an entity under the tenant and path it was notified with', async () => {
    const modified = { dateModified: { type: 'DateTime', value: '1980-01-30T00:00:00.000+00:00' } };
    await notify(
      [
        {
          id: 'Room0',
          type: 'Room',
          temperature: { type: 'Number', value: '100', metadata: modified },
          pressure: { type: 'Number', value: '10', metadata: modified },
        },
      ],
      { headers },
    );
    expect(await get('/v2/entities/Room0', { headers })).toMatchObject({
      status: 200,
      body: {
        attributes: [
          { attrName: 'pressure', values: [10.0] },
          { attrName: 'temperature', values: [100.0] },
        ],
        entityId: 'Room0',
        entityType: 'Room',
        index: ['1980-01-30T00:00:00.000+00:00'],
      },
    });
  });

  // upstream: src/reporter/tests/test_Headers.py::test_for_invalid_headers
  it('answers 404 to headers that are not FIWARE headers', async () => {
    await notify(
      [
        {
          id: 'Room0',
          type: 'Room',
          temperature: { type: 'Number', value: '200', metadata: {} },
          pressure: { type: 'Number', value: '20', metadata: {} },
        },
      ],
      { headers },
    );
    const invalid = { fiwareService: 'test', fiwareServicePath: '/t1' };
    expect(await get('/v2/entities/Room0', { headers: invalid })).toMatchObject({
      status: 404,
      body: NOT_FOUND,
    });
  });

  // upstream: src/reporter/httputil.py fiware_sp (the header, else '/') as reporter.py notify
  // passes it, with or without a tenant (RELEASE_NOTES.md 0.9.0-dev, #564: a missing path is '/')
  it('keeps the service path of a notification without tenant', async () => {
    await notify([roomNotification()], { servicePath: '/a' });
    const read = (servicePath?: string) =>
      get('/v2/entities/Room1/attrs/temperature', { servicePath });
    expect((await read('/a')).status).toBe(200);
    expect((await read(undefined)).status).toBe(200);
    expect((await read('/b')).status).toBe(404);
  });

  // upstream: src/translators/sql_translator.py _get_where_clause: `fiware_servicepath ~*
  // '<path>($|/.*)'`, a case-insensitive match of the path and the paths below it; '/' is every path
  it('selects the service path, the paths below it, in any case', async () => {
    for (const servicePath of ['/a', '/a/b', '/ab', '/c']) {
      await notify([{ ...roomNotification(), id: `R${servicePath.replaceAll('/', '_')}` }], {
        service: T1,
        servicePath,
      });
    }
    const found = async (id: string, servicePath: string) =>
      (await get(`/v2/entities/${id}/attrs/temperature`, { service: T1, servicePath })).status;
    expect(await found('R_a', '/a')).toBe(200);
    expect(await found('R_a_b', '/a')).toBe(200);
    expect(await found('R_ab', '/a')).toBe(404);
    expect(await found('R_a_b', '/A')).toBe(200);
    expect(await found('R_c', '/')).toBe(200);
  });

  // upstream: src/translators/sql_translator.py _get_entity_type: the types of an id are looked up
  // in every table of the tenant, whatever the service path
  it('finds an id ambiguous across service paths', async () => {
    await notify([roomNotification('Room', 'X')], { service: T1, servicePath: '/a' });
    await notify([roomNotification('Car', 'X')], { service: T1, servicePath: '/b' });
    const res = await get('/v2/entities/X/attrs/temperature', { service: T1, servicePath: '/a' });
    expect(res.status).toBe(400);
    expect((await get('/v2/entities/X?type=Car', { service: T1, servicePath: '/b' })).status).toBe(
      200,
    );
  });

  // upstream: src/translators/sql_translator.py _et2tn: one table per tenant and entity type,
  // both lower-cased, so a type is matched in any case
  it('matches the tenant and the type in any case', async () => {
    await notify([roomNotification()], { service: 'T1' });
    expect((await get('/v2/entities/Room1?type=ROOM', { service: 't1' })).body.entityType).toBe(
      'Room',
    );
  });
});

describe('time format', () => {
  // upstream: src/reporter/tests/test_time_format.py::test_index_iso_with_time_zone
  it('answers indexes in UTC whatever the zone notified', async () => {
    for (const [v, at] of [
      [0, '2010-10-10T09:09:00.792+02:00'],
      [1, '2010-10-10T09:09:01.792+02:00'],
      [2, '2010-10-10T09:09:02.792+02:00'],
    ] as const) {
      await notify([measured('Room', 'Room0', v, at)], {});
    }
    expect(await get('/v2/entities/Room0/attrs/temperature?type=Room', {})).toMatchObject({
      status: 200,
      body: {
        entityId: 'Room0',
        entityType: 'Room',
        attrName: 'temperature',
        index: [
          '2010-10-10T07:09:00.792+00:00',
          '2010-10-10T07:09:01.792+00:00',
          '2010-10-10T07:09:02.792+00:00',
        ],
        values: [0, 1, 2],
      },
    });
  });

  // upstream: src/translators/sql_translator.py _insert_entity_rows hands the index to CrateDB,
  // which reads a time without offset as UTC (see the header on test_index_iso)
  it('reads a time index without offset as UTC', async () => {
    await notify([measured('Room', 'Room0', 0, '2010-10-10T09:09:00.792')], {});
    expect((await get('/v2/entities/Room0', {})).body.index).toEqual([
      '2010-10-10T09:09:00.792+00:00',
    ]);
  });
});

describe('incomplete entities', () => {
  const stored = async (id: string) => {
    const res = await get(`/v2/entities/${id}`);
    return Object.fromEntries(
      (res.body.attributes ?? []).map((a: { attrName: string; values: unknown[] }) => [
        a.attrName,
        a.values,
      ]),
    );
  };

  // upstream: src/reporter/tests/test_incomplete_entities.py::test_can_add_new_attribute
  it('adds an attribute notified later, null before it', async () => {
    const entity = { id: 't1:1', type: 't1', a1: { type: 'Number', value: 123.0 } };
    await notify([entity]);
    await notify([{ ...entity, a2: { type: 'Text', value: 'new attribute initial value' } }]);
    expect(await stored('t1:1')).toEqual({
      a1: [123.0, 123.0],
      a2: [null, 'new attribute initial value'],
    });
  });

  // upstream: src/reporter/tests/test_incomplete_entities.py::test_can_add_new_attribute_even_without_specifying_old_ones
  it('adds an attribute notified alone, null for the other where each lacks', async () => {
    await notify([{ id: 'u1:1', type: 'u1', a1: { type: 'Number', value: 123.0 } }]);
    await notify([{ id: 'u1:1', type: 'u1', a2: { type: 'Text', value: 'new' } }]);
    expect(await stored('u1:1')).toEqual({ a1: [123.0, null], a2: [null, 'new'] });
  });

  // upstream: src/reporter/tests/test_incomplete_entities.py::test_can_add_2_new_attribute_even_without_specifying_old_ones
  it('adds two attributes notified alone', async () => {
    await notify([{ id: 'u1:1', type: 'u1', a1: { type: 'Number', value: 123.0 } }]);
    await notify([
      {
        id: 'u1:1',
        type: 'u1',
        a2: { type: 'Text', value: 'new' },
        a3: { type: 'Boolean', value: true },
      },
    ]);
    expect(await stored('u1:1')).toEqual({
      a1: [123.0, null],
      a2: [null, 'new'],
      a3: [null, true],
    });
  });

  // upstream: src/reporter/tests/test_incomplete_entities.py::test_store_missing_text_value_as_null
  it('stores a Text without value as null', async () => {
    await notify([
      { id: 't2:1', type: 't2', y: { type: 'Number', value: '23' }, x: { type: 'Text' } },
    ]);
    expect(await stored('t2:1')).toEqual({ x: [null], y: [23] });
  });

  // upstream: src/reporter/tests/test_incomplete_entities.py::test_store_missing_text_value_as_null_then_as_empty
  it('stores a Text without value as null, then an empty one as empty', async () => {
    const entity = { id: 't3:1', type: 't3', y: { type: 'Number', value: '23' } };
    await notify([{ ...entity, x: { type: 'Text' } }]);
    await notify([{ ...entity, x: { type: 'Text', value: '' } }]);
    expect((await stored('t3:1')).x).toEqual([null, '']);
  });

  // upstream: src/reporter/tests/test_incomplete_entities.py::test_store_null_text_value_as_null
  it('stores a null Text as null', async () => {
    await notify([
      {
        id: 't4:1',
        type: 't4',
        y: { type: 'Number', value: '23' },
        x: { type: 'Text', value: null },
      },
    ]);
    expect((await stored('t4:1')).x).toEqual([null]);
  });

  // upstream: src/reporter/tests/test_incomplete_entities.py::test_store_null_numeric_value_as_null
  it('stores a null Number as null', async () => {
    await notify([
      {
        id: 't5:1',
        type: 't5',
        y: { type: 'Number', value: '23' },
        x: { type: 'Number', value: null },
      },
    ]);
    expect((await stored('t5:1')).x).toEqual([null]);
  });

  // upstream: src/reporter/tests/test_incomplete_entities.py::test_store_empty_numeric_value_as_null
  it('stores an empty Number as null', async () => {
    await notify([
      {
        id: 't6:1',
        type: 't6',
        y: { type: 'Number', value: '23' },
        x: { type: 'Number', value: '' },
      },
    ]);
    expect((await stored('t6:1')).x).toEqual([null]);
  });
});

describe('entities with odd characters', () => {
  const run = async (entityType: string, attrName: string) => {
    await notify([{ id: 'd1', type: entityType, [attrName]: { type: 'Text', value: 'test' } }]);
    const res = await get(`/v2/entities/d1/attrs/${encodeURIComponent(attrName)}`);
    expect(res.status).toBe(200);
    const { index: _, ...rest } = res.body;
    expect(rest).toEqual({ attrName, entityId: 'd1', entityType, values: ['test'] });
  };
  const odd = ['-', '+', '@', ':'];

  // upstream: src/reporter/tests/test_entities_with_odd_chars.py::test_odd_char_in_entity_type
  it.each(odd)('takes %s in an entity type', (c) => run(`test${c}device`, 'plain_name'));

  // upstream: src/reporter/tests/test_entities_with_odd_chars.py::test_odd_char_in_attr_name
  it.each(odd)('takes %s in an attribute name', (c) => run('test_device', `weird${c}name`));

  // upstream: src/reporter/tests/test_entities_with_odd_chars.py::test_odd_char_in_entity_type_and_attr_name
  it.each(odd)('takes %s in both', (c) => run(`test${c}device`, `weird${c}name`));
});

describe('meta', () => {
  // upstream: src/reporter/tests/test_health.py::test_health_pass
  it('answers /health with pass, cacheable for 180 s', async () => {
    const res = await get('/health', {});
    expect(res).toMatchObject({ status: 200, body: { status: 'pass' } });
    expect(res.headers.get('cache-control')).toBe('max-age=180');
  });

  // upstream: src/reporter/tests/test_version.py::test_version (which pins the version string;
  // the fake's is its own, so only the shape is held)
  it('answers /version', async () => {
    const res = await get('/version', {});
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['version']);
    expect(typeof res.body.version).toBe('string');
  });

  // upstream: specification/quantumleap.yml /management/config post 501, as reporter.py config
  it('answers 501 to /management/config, as QuantumLeap does', async () => {
    expect(await call('POST', '/management/config', {})).toMatchObject({
      status: 501,
      body: { error: 'Not Implemented', description: 'This API method is not yet implemented.' },
    });
  });

  // upstream: specification/quantumleap.yml: every other route of the specification, which the
  // fake leaves out (see its header), answers 501 Not Implemented
  it.each([
    ['GET', '/v2/'],
    ['POST', '/v2/op/query'],
    ['GET', '/v2/entities'],
    ['DELETE', '/v2/entities/Room0'],
    ['GET', '/v2/types/Room'],
    ['GET', '/v2/types/Room/value'],
    ['DELETE', '/v2/types/Room'],
    ['GET', '/v2/types/Room/attrs/temperature'],
    ['GET', '/v2/types/Room/attrs/temperature/value'],
    ['GET', '/v2/attrs'],
    ['GET', '/v2/attrs/value'],
    ['GET', '/v2/attrs/temperature'],
    ['GET', '/v2/attrs/temperature/value'],
    ['GET', '/management/queue/notifications'],
    ['DELETE', '/management/queue/notifications'],
    ['GET', '/management/queue/notifications/summary'],
    ['GET', '/management/queue/notifications/count'],
    ['GET', '/v2/entities/Room0/attrs/temperature?aggrMethod=avg'],
    ['GET', '/v2/entities/Room0?attrs=temperature&aggrMethod=avg&aggrPeriod=day'],
    ['GET', '/v2/entities/Room0?georel=near;maxDistance:1&geometry=point&coords=1,1'],
  ])('answers 501 to %s %s', async (method, path) => {
    const res = await call(method, path, { service: T1, ...(method === 'POST' && { body: {} }) });
    expect(res.status).toBe(501);
    expect(res.body.error).toBe('Not Implemented');
  });

  // upstream: specification/quantumleap.yml has no /v2/subscribe since 0.9 (RELEASE_NOTES.md
  // "Removed subscription API (#493)"): connexion answers 404 to a path out of the specification
  it('answers 404 to /v2/subscribe and other paths out of the specification', async () => {
    for (const path of ['/v2/subscribe', '/nothing']) {
      expect(await call('POST', path, {})).toMatchObject({
        status: 404,
        body: { status: 404, title: 'Not Found', type: 'about:blank' },
      });
    }
  });
});
