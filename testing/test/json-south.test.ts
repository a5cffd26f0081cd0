// The JSON south binding against the real iotagent-node-lib and the Orion contract fake, as
// the Ultralight binding's tests do: devices are provisioned over the agent's north API,
// measures and command results go through the binding, the tests read what reached Orion.
import { COMPONENTS } from '../../platform/components.js';
import { startOrionFake } from '../fakes/orion.js';
import type { OrionFake } from '../fakes/orion.js';
import type { IotAgentHandle } from '../real/iot-agent.js';
import { startIotAgent } from '../real/iot-agent.js';
import { JSON_FORMAT } from '../stack/json-south.js';
import { startSouth } from '../stack/south-formats.js';
import type { SouthBinding } from '../stack/south-binding.js';
import type { StubServer } from '../support/http.js';
import { deviceStub, southFixtures, until } from '../support/south-fixtures.js';

const COMMAND_TIMEOUT_MS = 1000;

let orion: OrionFake;
let iota: IotAgentHandle;
let south: SouthBinding;

beforeAll(async () => {
  orion = await startOrionFake();
  iota = await startIotAgent({ orionUrl: orion.url, protocol: 'json' });
  south = await startSouth(iota, 'json', { commandTimeoutMs: COMMAND_TIMEOUT_MS });
});
afterAll(async () => {
  await south?.close();
  await iota?.stop();
  await orion?.close();
});

const { provision, pollingDevice, pushDevice, attr, writes, orionCommand, tenant, key } =
  southFixtures({
    iota: () => iota,
    orion: () => orion,
    tenantPrefix: 'json_south',
    resource: JSON_FORMAT.resource,
    agentProtocol: COMPONENTS.iotAgentJson.iotAgent.agentProtocol,
  });

/** Calls the binding: POST with a JSON body (or a raw one), GET without. */
async function send(
  query: Record<string, string>,
  o: { body?: unknown; raw?: string; contentType?: string | null; path?: string } = {},
) {
  const post = o.body !== undefined || o.raw !== undefined;
  const headers: Record<string, string> = {};
  if (post && o.contentType !== null) headers['content-type'] = o.contentType ?? 'application/json';
  const res = await fetch(`${south.url}${o.path ?? '/iot/json'}?${new URLSearchParams(query)}`, {
    method: post ? 'POST' : 'GET',
    headers,
    ...(post ? { body: o.raw ?? JSON.stringify(o.body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    text,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  };
}

describe('measures', () => {
  it('writes a JSON measure to its attribute keeping its type, with TimeInstant', async () => {
    const { service, apikey } = await pollingDevice();
    expect(await send({ k: apikey, i: 'foodev' }, { body: { f: 21.5 } })).toMatchObject({
      status: 200,
    });
    expect(attr(service, 'foo')).toMatchObject({ type: 'Integer', value: 21.5 });
    expect(typeof attr(service, 'foo')?.value).toBe('number');
    expect(attr(service, 'TimeInstant')).toMatchObject({ type: 'DateTime' });
  });

  it('keeps booleans, strings and structured values as they are', async () => {
    const service = tenant();
    const apikey = key(service);
    await provision(service, apikey, [
      {
        device_id: 'multi',
        entity_name: 'urn:Bot:m',
        attributes: [
          { object_id: 'on', name: 'on', type: 'Boolean' },
          { object_id: 's', name: 'state', type: 'Text' },
          { object_id: 'p', name: 'position', type: 'StructuredValue' },
        ],
      },
    ]);
    const body = { on: true, s: 'running', p: { x: 1, y: [2, 3] } };
    expect((await send({ k: apikey, i: 'multi' }, { body })).status).toBe(200);
    expect(attr(service, 'on', 'urn:Bot:m')?.value).toBe(true);
    expect(attr(service, 'state', 'urn:Bot:m')?.value).toBe('running');
    expect(attr(service, 'position', 'urn:Bot:m')?.value).toEqual({ x: 1, y: [2, 3] });
  });

  it('sends each object of an array as its own update, in order', async () => {
    const { service, apikey } = await pollingDevice();
    const before = writes(service).length;
    const res = await send({ k: apikey, i: 'foodev' }, { body: [{ f: 1 }, { f: 2 }] });
    expect(res.status).toBe(200);
    expect(writes(service).length - before).toBe(2);
    expect(attr(service, 'foo')?.value).toBe(2);
  });

  it('stamps every group with the t parameter', async () => {
    const { service, apikey } = await pollingDevice();
    const t = '2026-01-02T03:04:05.000Z';
    expect((await send({ k: apikey, i: 'foodev', t }, { body: { f: 3 } })).status).toBe(200);
    expect(attr(service, 'TimeInstant')?.value).toBe(t);
  });
});

describe('errors', () => {
  it('refuses a POST that is not application/json with 415 and writes nothing', async () => {
    const { service, apikey } = await pollingDevice();
    for (const contentType of ['text/plain', null]) {
      const res = await send({ k: apikey, i: 'foodev' }, { raw: 'f|1', contentType });
      expect(res.status).toBe(415);
      expect(res.json).toMatchObject({ name: 'UNSUPPORTED_TYPE' });
    }
    expect(writes(service)).toEqual([]);
  });

  it.each([
    ['not JSON', '{f: 1'],
    ['a number', '3'],
    ['an array of numbers', '[1, 2]'],
    ['an empty array', '[]'],
  ])('refuses a body that is %s with 400', async (_, raw) => {
    const { service, apikey } = await pollingDevice();
    const res = await send({ k: apikey, i: 'foodev' }, { raw });
    expect(res).toMatchObject({ status: 400, json: { name: 'BAD_PAYLOAD' } });
    expect(writes(service)).toEqual([]);
  });

  it('refuses a request without k or i, and a GET without getCmd, with 400', async () => {
    expect((await send({ i: 'foodev' }, { body: { f: 1 } })).json?.message).toMatch(/API Key/);
    expect((await send({ k: 'x' }, { body: { f: 1 } })).json?.message).toMatch(/Device Id/);
    expect((await send({ k: 'x', i: 'foodev' })).json?.message).toMatch(/Payload/);
  });

  it('fails an unknown API key with 404, without echoing the key', async () => {
    const res = await send({ k: 'no-such-key-12345', i: 'foodev' }, { body: { f: 1 } });
    expect(res.status).toBe(404);
    expect(res.text).not.toContain('no-such-key-12345');
  });

  it('answers 404 outside its resource, and a GET on the results path 405', async () => {
    expect((await send({ k: 'a', i: 'b' }, { body: {}, path: '/iot/d' })).status).toBe(404);
    expect((await send({ k: 'a', i: 'b' }, { path: '/iot/json/commands' })).status).toBe(405);
  });
});

describe('polling commands', () => {
  it('queues a command, delivers it as a JSON object on getCmd=1 and records the result', async () => {
    const { service, apikey } = await pollingDevice();
    expect(await orionCommand(service, 'hello')).toBe(204);
    expect(attr(service, 'ping_status')?.value).toBe('PENDING');

    const polled = await send({ k: apikey, i: 'foodev', getCmd: '1' });
    expect(polled).toMatchObject({
      status: 200,
      type: 'application/json',
      json: { ping: 'hello' },
    });
    expect(attr(service, 'ping_status')?.value).toBe('DELIVERED');
    expect((await send({ k: apikey, i: 'foodev', getCmd: '1' })).json).toEqual({});

    const res = await send(
      { k: apikey, i: 'foodev' },
      { body: { ping: 'pong' }, path: '/iot/json/commands' },
    );
    expect(res.status).toBe(200);
    expect(attr(service, 'ping_info')).toMatchObject({ type: 'commandResult', value: 'pong' });
    expect(attr(service, 'ping_status')?.value).toBe('OK');
  });

  it('gives a structured command value and result as JSON', async () => {
    const { service, apikey } = await pollingDevice();
    expect(await orionCommand(service, { speed: 3 })).toBe(204);
    expect((await send({ k: apikey, i: 'foodev', getCmd: '1' })).json).toEqual({
      ping: { speed: 3 },
    });
    await send(
      { k: apikey, i: 'foodev' },
      { body: { ping: { ok: true } }, path: '/iot/json/commands' },
    );
    expect(attr(service, 'ping_info')?.value).toEqual({ ok: true });
  });
});

describe('push commands', () => {
  let stubs: StubServer[] = [];
  afterEach(async () => {
    await Promise.all(stubs.map((s) => s.close()));
    stubs = [];
  });
  const status = (service: string) => attr(service, 'ping_status')?.value;

  it("posts the command as JSON to the device's endpoint and records its result", async () => {
    const d = await deviceStub((_g, res) => res.writeHead(200).end('{"ping":"pong"}'));
    stubs.push(d.stub);
    const { service } = await pushDevice(d.stub.url);
    expect(await orionCommand(service, 'hello')).toBe(204);
    await until(() => (status(service) === 'OK' ? true : undefined), 'ping_status OK');
    expect(attr(service, 'ping_info')?.value).toBe('pong');
    expect(JSON.parse(d.got[0]!.body)).toEqual({ ping: 'hello' });
    expect(d.got[0]!.headers['content-type']).toBe('application/json');
  });

  it('marks the command ERROR when the answer is not its result', async () => {
    const d = await deviceStub((_g, res) => res.writeHead(200).end('{"other":"x"}'));
    stubs.push(d.stub);
    const { service } = await pushDevice(d.stub.url);
    expect(await orionCommand(service, 'hello')).toBe(204);
    await until(() => (status(service) === 'ERROR' ? true : undefined), 'ping_status ERROR');
    expect(String(attr(service, 'ping_info')?.value)).toContain('is not');
  });
});
