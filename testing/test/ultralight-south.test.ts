// The Ultralight 2.0 south binding against the real iotagent-node-lib and the Orion contract
// fake: devices are provisioned over the agent's north API, measures and command results go
// through the binding, and the tests read what reached Orion. Each test uses its own tenant.
import { COMPONENTS } from '../../platform/components.js';
import type { StubServer } from '../support/http.js';
import { deviceStub, southFixtures, until } from '../support/south-fixtures.js';
import { startIotAgent } from '../real/iot-agent.js';
import type { IotAgentHandle } from '../real/iot-agent.js';
import { freePort } from '../real/opa.js';
import { startOrionFake } from '../fakes/orion.js';
import type { OrionFake } from '../fakes/orion.js';
import type { SouthBinding } from '../stack/south-binding.js';
import { startSouth } from '../stack/south-formats.js';
import { ULTRALIGHT } from '../stack/ultralight-south.js';

const COMMAND_TIMEOUT_MS = 1000;

let orion: OrionFake;
let iota: IotAgentHandle;
let south: SouthBinding;

beforeAll(async () => {
  orion = await startOrionFake();
  iota = await startIotAgent({ orionUrl: orion.url });
  south = await startSouth(iota, 'ultralight', { commandTimeoutMs: COMMAND_TIMEOUT_MS });
});
afterAll(async () => {
  await south?.close();
  await iota?.stop();
  await orion?.close();
});

const { tenant, key, provision, pollingDevice, pushDevice, attr, writes, orionCommand } =
  southFixtures({
    iota: () => iota,
    orion: () => orion,
    tenantPrefix: 'ul_south',
    resource: ULTRALIGHT.resource,
    agentProtocol: COMPONENTS.iotAgentUl.iotAgent.agentProtocol,
  });

interface UlCall {
  method?: 'GET' | 'POST' | 'PUT';
  body?: string;
  contentType?: string | null;
}

/** Calls the binding's /iot/d with the query; POST when there is a body. */
async function ul(query: Record<string, string>, o: UlCall = {}) {
  const method = o.method ?? (o.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = {};
  if (o.contentType !== null && method !== 'GET') {
    headers['content-type'] = o.contentType ?? 'text/plain';
  }
  const res = await fetch(`${south.url}/iot/d?${new URLSearchParams(query)}`, {
    method,
    headers,
    body: o.body,
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return {
    status: res.status,
    text,
    json: type.startsWith('application/json') ? JSON.parse(text) : undefined,
  };
}

describe('measures', () => {
  it('writes a POSTed measure to its attribute, as a string, with TimeInstant', async () => {
    const { service, apikey } = await pollingDevice();
    const res = await ul({ k: apikey, i: 'foodev' }, { body: 'f|3' });
    expect(res).toMatchObject({ status: 200, text: '' });
    const foo = attr(service, 'foo');
    expect(foo).toMatchObject({ type: 'Integer', value: '3' });
    const stamp = attr(service, 'TimeInstant');
    expect(stamp).toMatchObject({ type: 'DateTime' });
    expect(Date.now() - Date.parse(String(stamp?.value))).toBeLessThan(60_000);
    expect(foo?.metadata?.TimeInstant?.value).toBe(stamp?.value);
    expect(attr(service, 'f')).toBeUndefined();
  });

  it('treats a POST without content type as text/plain', async () => {
    const { service, apikey } = await pollingDevice();
    const res = await ul({ k: apikey, i: 'foodev' }, { body: '|f|4', contentType: null });
    expect(res.status).toBe(200);
    expect(attr(service, 'foo')?.value).toBe('4');
  });

  it('accepts a measure in the d parameter of a GET', async () => {
    const { service, apikey } = await pollingDevice();
    expect(await ul({ k: apikey, i: 'foodev', d: 'f|5' })).toMatchObject({ status: 200, text: '' });
    expect(attr(service, 'foo')?.value).toBe('5');
  });

  it('sends each #-separated group as its own update, in order', async () => {
    const { service, apikey } = await pollingDevice();
    const before = writes(service).length;
    const res = await ul({ k: apikey, i: 'foodev' }, { body: 'f|1|x|a#f|2' });
    expect(res.status).toBe(200);
    expect(writes(service).length - before).toBe(2);
    expect(attr(service, 'foo')?.value).toBe('2');
    // Measures without a provisioned attribute keep their name and are untyped text.
    expect(attr(service, 'x')).toMatchObject({ type: 'Text', value: 'a' });
  });

  it('stamps every group with the t parameter', async () => {
    const { service, apikey } = await pollingDevice();
    const t = '2024-01-02T03:04:05Z';
    const res = await ul({ k: apikey, i: 'foodev', t }, { body: 'x|a#f|7' });
    expect(res.status).toBe(200);
    expect(attr(service, 'TimeInstant')?.value).toBe('2024-01-02T03:04:05.000Z');
    expect(attr(service, 'x')?.metadata?.TimeInstant?.value).toBe('2024-01-02T03:04:05.000Z');
    expect(attr(service, 'foo')?.metadata?.TimeInstant?.value).toBe('2024-01-02T03:04:05.000Z');
  });

  it("takes a group's leading timestamp field as its TimeInstant", async () => {
    const { service, apikey } = await pollingDevice();
    const res = await ul({ k: apikey, i: 'foodev' }, { body: '2023-05-06T07:08:09Z|f|8' });
    expect(res.status).toBe(200);
    expect(attr(service, 'foo')?.value).toBe('8');
    expect(attr(service, 'TimeInstant')?.value).toBe('2023-05-06T07:08:09.000Z');
  });

  it('keeps two tenants apart for the same device and entity ids', async () => {
    const a = await pollingDevice();
    const b = await pollingDevice();
    expect((await ul({ k: a.apikey, i: 'foodev' }, { body: 'f|10' })).status).toBe(200);
    expect((await ul({ k: b.apikey, i: 'foodev' }, { body: 'f|20' })).status).toBe(200);
    expect(attr(a.service, 'foo')?.value).toBe('10');
    expect(attr(b.service, 'foo')?.value).toBe('20');
  });

  it('autoprovisions an unknown device of a group that allows it', async () => {
    const service = tenant();
    const apikey = key(service);
    await provision(service, apikey, [], {
      attributes: [{ object_id: 't', name: 'temperature', type: 'Number' }],
    });
    expect((await ul({ k: apikey, i: 'newdev' }, { body: 't|21.5' })).status).toBe(200);
    expect(attr(service, 'temperature', 'Bot:newdev')).toMatchObject({
      type: 'Number',
      value: '21.5',
    });
  });

  it('records requests with the API key masked', async () => {
    const { apikey } = await pollingDevice();
    await ul({ k: apikey, i: 'foodev', d: 'f|1' });
    const last = south.requests.at(-1);
    expect(last).toEqual({ method: 'GET', path: '/iot/d?k=***&i=foodev&d=f%7C1', status: 200 });
    expect(JSON.stringify(south.requests)).not.toContain(apikey);
  });
});

describe('errors', () => {
  it('refuses a POST that is not text/plain with 415 and writes nothing', async () => {
    const { service, apikey } = await pollingDevice();
    const before = writes(service).length;
    const res = await ul(
      { k: apikey, i: 'foodev' },
      { body: '{"f":3}', contentType: 'application/json' },
    );
    expect(res.status).toBe(415);
    expect(res.json).toEqual({ name: 'UNSUPPORTED_TYPE', message: expect.any(String) });
    expect(writes(service).length).toBe(before);
  });

  it.each([
    ['the API key', { i: 'foodev', d: 'f|1' }, 'API Key'],
    ['the device id', { k: 'somekey', d: 'f|1' }, 'Device Id'],
    ['both d and getCmd on a GET', { k: 'somekey', i: 'foodev' }, 'Payload'],
  ])('refuses a request without %s with 400', async (_what, query, missing) => {
    const res = await ul(query);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      name: 'MANDATORY_PARAMS_NOT_FOUND_ERROR',
      message: expect.stringContaining(missing),
    });
  });

  it('refuses a POST without k or i with 400', async () => {
    const res = await ul({ i: 'foodev' }, { body: 'f|1' });
    expect(res.status).toBe(400);
    expect(res.json?.name).toBe('MANDATORY_PARAMS_NOT_FOUND_ERROR');
  });

  it.each([
    ['an odd number of fields', 'f|1|g'],
    ['an empty field', 'f||g|2'],
    ['an empty group', 'f|1#'],
    ['a bad group after a good one', 'f|1#g'],
  ])('fails a payload with %s with 400 and writes nothing', async (_what, body) => {
    const { service, apikey } = await pollingDevice();
    const before = writes(service).length;
    const res = await ul({ k: apikey, i: 'foodev' }, { body });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ name: 'PARSE_ERROR', message: expect.any(String) });
    expect(writes(service).length).toBe(before);
  });

  it('fails an unknown API key with 404, without echoing the key', async () => {
    const { service } = await pollingDevice();
    const before = writes(service).length;
    const res = await ul({ k: 'no-such-key-1234', i: 'foodev' }, { body: 'f|1' });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ name: 'DEVICE_GROUP_NOT_FOUND', message: expect.any(String) });
    expect(res.text).not.toContain('no-such-key-1234');
    expect(writes(service).length).toBe(before);
  });

  it('fails an unknown device of a group without autoprovision with 404', async () => {
    const service = tenant();
    const apikey = key(service);
    await provision(service, apikey, [], { autoprovision: false });
    const res = await ul({ k: apikey, i: 'stranger' }, { body: 'f|1' });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ name: 'DEVICE_NOT_FOUND', message: expect.any(String) });
    expect(res.text).not.toContain(apikey);
    expect(orion.entities(service)).toEqual([]);
    // The binding keeps serving.
    const known = await pollingDevice();
    expect((await ul({ k: known.apikey, i: 'foodev' }, { body: 'f|1' })).status).toBe(200);
  });

  it('fails a t that is not a timestamp with 400 and writes nothing', async () => {
    const { service, apikey } = await pollingDevice();
    const before = writes(service).length;
    const res = await ul({ k: apikey, i: 'foodev', t: 'yesterday' }, { body: 'f|1' });
    expect(res.status).toBe(400);
    expect(res.json?.name).toBe('BAD_TIMESTAMP');
    expect(writes(service).length).toBe(before);
  });

  it("fails with Orion's status when Orion refuses the update", async () => {
    const { service, apikey } = await pollingDevice();
    orion.fault((r) =>
      r.service === service && r.path === '/v2/entities'
        ? { status: 422, body: { error: 'Unprocessable', description: 'refused by the test' } }
        : undefined,
    );
    try {
      const res = await ul({ k: apikey, i: 'foodev' }, { body: 'f|1' });
      expect(res.status).toBe(422);
      expect(res.json).toEqual({ name: expect.any(String), message: expect.any(String) });
    } finally {
      orion.fault(undefined);
    }
    expect(attr(service, 'foo')).toBeUndefined();
  });

  it('answers 404 outside /iot/d and 405 for other methods', async () => {
    const res = await fetch(`${south.url}/iot/json?k=a&i=b&d=f|1`);
    expect(res.status).toBe(404);
    expect((await ul({ k: 'a', i: 'b' }, { method: 'PUT', body: 'f|1' })).status).toBe(405);
  });
});

describe('polling commands', () => {
  it('queues a command, delivers it on getCmd=1 and records the result', async () => {
    const { service, apikey } = await pollingDevice();
    expect(await ul({ k: apikey, i: 'foodev', getCmd: '1' })).toMatchObject({
      status: 200,
      text: '',
    });

    expect(await orionCommand(service, 'hello')).toBe(204);
    expect(attr(service, 'ping_status')).toMatchObject({ type: 'commandStatus', value: 'PENDING' });

    const polled = await ul({ k: apikey, i: 'foodev', getCmd: '1' });
    expect(polled).toMatchObject({ status: 200, text: 'foodev@ping|hello' });
    expect(attr(service, 'ping_status')?.value).toBe('DELIVERED');
    // Delivered once only.
    expect((await ul({ k: apikey, i: 'foodev', getCmd: '1' })).text).toBe('');

    const res = await ul({ k: apikey, i: 'foodev' }, { body: 'foodev@ping|pong' });
    expect(res).toMatchObject({ status: 200, text: '' });
    expect(attr(service, 'ping_info')).toMatchObject({ type: 'commandResult', value: 'pong' });
    expect(attr(service, 'ping_status')?.value).toBe('OK');
  });

  it('processes measures before answering a POST with getCmd=1', async () => {
    const { service, apikey } = await pollingDevice();
    expect(await orionCommand(service, 'x')).toBe(204);
    const res = await ul({ k: apikey, i: 'foodev', getCmd: '1' }, { body: 'f|9' });
    expect(res).toMatchObject({ status: 200, text: 'foodev@ping|x' });
    expect(attr(service, 'foo')?.value).toBe('9');
  });

  it('delivers a command once while another tenant has one of the same name queued', async () => {
    const a = await pollingDevice();
    const b = await pollingDevice();
    expect(await orionCommand(a.service, 'for-a')).toBe(204);
    expect(await orionCommand(b.service, 'for-b')).toBe(204);

    expect((await ul({ k: a.apikey, i: 'foodev', getCmd: '1' })).text).toBe('foodev@ping|for-a');
    expect((await ul({ k: a.apikey, i: 'foodev' }, { body: 'foodev@ping|done' })).status).toBe(200);
    expect((await ul({ k: a.apikey, i: 'foodev', getCmd: '1' })).text).toBe('');
    expect(attr(a.service, 'ping_status')?.value).toBe('OK');

    expect((await ul({ k: b.apikey, i: 'foodev', getCmd: '1' })).text).toBe('foodev@ping|for-b');
    expect((await ul({ k: b.apikey, i: 'foodev', getCmd: '1' })).text).toBe('');
    // A new command of that name queues and is delivered as usual.
    expect(await orionCommand(a.service, 'again')).toBe(204);
    expect((await ul({ k: a.apikey, i: 'foodev', getCmd: '1' })).text).toBe('foodev@ping|again');
  });

  it('refuses a result for a command the device does not have with 400', async () => {
    const { service, apikey } = await pollingDevice();
    const res = await ul({ k: apikey, i: 'foodev' }, { body: 'foodev@reboot|done' });
    expect(res.status).toBe(400);
    expect(res.json?.name).toBe('COMMAND_NOT_FOUND');
    expect(attr(service, 'reboot_info')).toBeUndefined();
  });
});

describe('push commands', () => {
  const status = (service: string) => attr(service, 'ping_status')?.value;

  let stubs: StubServer[] = [];
  afterEach(async () => {
    await Promise.all(stubs.map((s) => s.close()));
    stubs = [];
  });

  it("posts the command to the device's endpoint and records its result", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const d = await deviceStub((_g, res) => res.writeHead(200).end('dev@ping|pong'), gate);
    stubs.push(d.stub);
    const { service } = await pushDevice(`${d.stub.url}/cmd`);

    expect(await orionCommand(service, 'hello')).toBe(204);
    // The device holds its answer until the library has written PENDING.
    expect(status(service)).toBe('PENDING');
    open();
    await until(() => (status(service) === 'OK' ? true : undefined), 'ping_status OK');
    expect(attr(service, 'ping_info')?.value).toBe('pong');

    expect(d.got).toHaveLength(1);
    expect(d.got[0]?.body).toBe('dev@ping|hello');
    expect(d.got[0]?.headers).toMatchObject({
      'content-type': 'text/plain',
      'fiware-service': service,
      'fiware-servicepath': '/',
    });
    expect(d.stub.requests).toEqual([{ method: 'POST', path: '/cmd' }]);
  });

  it('sends an object value as key=value parameters', async () => {
    const d = await deviceStub((_g, res) => res.writeHead(200).end('dev@ping|done'));
    stubs.push(d.stub);
    const { service } = await pushDevice(d.stub.url);
    expect(await orionCommand(service, { speed: 3, mode: 'eco' })).toBe(204);
    await until(() => (status(service) === 'OK' ? true : undefined), 'ping_status OK');
    expect(d.got[0]?.body).toBe('dev@ping|speed=3|mode=eco');
  });

  it('marks the command ERROR when the device answers 500', async () => {
    const d = await deviceStub((_g, res) => res.writeHead(500).end('dev@ping|overheated'));
    stubs.push(d.stub);
    const { service } = await pushDevice(d.stub.url);
    expect(await orionCommand(service, 'hello')).toBe(204);
    await until(() => (status(service) === 'ERROR' ? true : undefined), 'ping_status ERROR');
    expect(attr(service, 'ping_info')?.value).toEqual(expect.stringContaining('500'));
  });

  it('marks the command ERROR when the device is down', async () => {
    const { service } = await pushDevice(`http://127.0.0.1:${await freePort()}/cmd`);
    expect(await orionCommand(service, 'hello')).toBe(204);
    await until(() => (status(service) === 'ERROR' ? true : undefined), 'ping_status ERROR');
    expect(attr(service, 'ping_info')?.value).toEqual(expect.stringContaining('unreachable'));
  });

  it('marks the command ERROR when the device does not answer in time', async () => {
    const d = await deviceStub(() => undefined);
    stubs.push(d.stub);
    const { service } = await pushDevice(d.stub.url);
    const start = Date.now();
    expect(await orionCommand(service, 'hello')).toBe(204);
    await until(() => (status(service) === 'ERROR' ? true : undefined), 'ping_status ERROR');
    expect(Date.now() - start).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 50);
    expect(d.got).toHaveLength(1);
  });
});

describe('lifecycle', () => {
  it('refuses a second binding on the same agent', async () => {
    await expect(startSouth(iota, 'ultralight')).rejects.toThrow(TypeError);
  });

  it('stops serving on close and can be started again', async () => {
    const { service, apikey } = await pollingDevice();
    await south.close();
    await expect(fetch(`${south.url}/iot/d?k=a&i=b&d=f|1`)).rejects.toThrow();
    south = await startSouth(iota, 'ultralight', { commandTimeoutMs: COMMAND_TIMEOUT_MS });
    expect((await ul({ k: apikey, i: 'foodev' }, { body: 'f|2' })).status).toBe(200);
    expect(attr(service, 'foo')?.value).toBe('2');
  });
});
