/**
 * Device protocols: the provisioning service keeps each group and device in the IoT Agent of its
 * protocol (Ultralight 2.0, JSON) — both real iotagent-node-lib agents, the JSON one in a process
 * of its own — validates each protocol's measurement names, moves a device whose protocol
 * changes, and restores it when the move fails.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';

import type { ProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { startProvisioningStack } from '../../../testing/stack/provisioning-stack.js';

const path = '/protocols';
const at = { servicePath: path };

let stack: ProvisioningStack;
beforeAll(async () => {
  stack = await startProvisioningStack({ env: { UPSTREAM_TIMEOUT_MS: '1000' } });
});
afterAll(async () => {
  await stack?.close();
});

/** The device ids (or group resources) an agent holds at the test's path. */
async function held(protocol: 'ultralight' | 'json', what: 'devices' | 'services') {
  const res = await fetch(`${stack.agentUrls[protocol]}/iot/${what}`, {
    headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': path },
  });
  if (res.status === 404) return [];
  const body = (await res.json()) as {
    devices?: { device_id: string }[];
    services?: { resource: string }[];
  };
  return what === 'devices'
    ? (body.devices ?? []).map((d) => d.device_id).sort()
    : (body.services ?? []).map((s) => s.resource).sort();
}

const device = (id: string, protocol: 'ultralight' | 'json', extra: object = {}) => ({
  device_id: id,
  protocol,
  entity_name: `urn:ngsi:Sensor:${id}`,
  entity_type: 'Sensor',
  attributes: [{ object_id: 't', name: 'temperature', type: 'Number' }],
  ...extra,
});

beforeEach(async () => {
  stack.orion.fault(undefined);
  for (const p of ['ultralight', 'json'] as const) {
    for (const id of await held(p, 'devices')) await stack.call('DELETE', `/v1/devices/${id}`, at);
    await stack.call('DELETE', `/v1/groups?protocol=${p}`, at);
  }
});

describe('service groups per protocol', () => {
  it('keeps one group per protocol at a path, each in its own agent', async () => {
    const json = await stack.call('PUT', '/v1/groups', {
      ...at,
      body: { protocol: 'json', entity_type: 'Sensor' },
    });
    expect(json.status).toBe(201);
    expect(json.body.group).toMatchObject({ protocol: 'json', resource: '/iot/json' });
    const ul = await stack.call('PUT', '/v1/groups', { ...at, body: { entity_type: 'Sensor' } });
    expect(ul.body.group).toMatchObject({ protocol: 'ultralight', resource: '/iot/d' });

    expect(await held('json', 'services')).toEqual(['/iot/json']);
    expect(await held('ultralight', 'services')).toEqual(['/iot/d']);
    const all = await stack.call('GET', '/v1/groups', at);
    expect(all.body.groups.map((g: { protocol: string }) => g.protocol)).toEqual([
      'ultralight',
      'json',
    ]);
    const only = await stack.call('GET', '/v1/groups?protocol=json', at);
    expect(only.body.groups).toHaveLength(1);

    expect((await stack.call('DELETE', '/v1/groups?protocol=json', at)).status).toBe(204);
    expect(await held('json', 'services')).toEqual([]);
    expect(await held('ultralight', 'services')).toEqual(['/iot/d']);
    expect((await stack.call('DELETE', '/v1/groups?protocol=json', at)).status).toBe(404);
  });

  it('leaves alone a group of another resource the agent holds at the path', async () => {
    // A group made on the agent directly (by a platform admin), under a resource of its own.
    const headers = {
      'content-type': 'application/json',
      'fiware-service': 'manufracture',
      'fiware-servicepath': path,
    };
    const custom = { apikey: 'customKey1', resource: '/iot/custom', entity_type: 'Thing' };
    const direct = await fetch(`${stack.agentUrls.ultralight}/iot/services`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ services: [custom] }),
    });
    expect(direct.status).toBe(201);
    const created = await stack.call('PUT', '/v1/groups', {
      ...at,
      body: { entity_type: 'Sensor' },
    });
    expect(created.status).toBe(201);
    expect(created.body.group).toMatchObject({ resource: '/iot/d', entity_type: 'Sensor' });
    expect(created.body.group.apikey).not.toBe(custom.apikey);
    expect(await held('ultralight', 'services')).toEqual(['/iot/custom', '/iot/d']);
    expect((await stack.call('DELETE', '/v1/groups', at)).status).toBe(204);
    expect(await held('ultralight', 'services')).toEqual(['/iot/custom']);
    expect((await stack.call('DELETE', '/v1/groups', at)).status).toBe(404);
    const removed = await fetch(
      `${stack.agentUrls.ultralight}/iot/services?resource=/iot/custom&apikey=${custom.apikey}`,
      { method: 'DELETE', headers },
    );
    expect(removed.status).toBe(204);
  });

  it('fails a group whose resource is another protocol’s, or an unknown protocol', async () => {
    const wrong = await stack.call('PUT', '/v1/groups', {
      ...at,
      body: { protocol: 'json', resource: '/iot/d', entity_type: 'Sensor' },
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body.errors).toEqual([
      { field: 'resource', message: "a json group's resource is /iot/json" },
    ]);
    const unknown = await stack.call('PUT', '/v1/groups', {
      ...at,
      body: { protocol: 'lwm2m', entity_type: 'Sensor' },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].field).toBe('protocol');
    expect(await held('json', 'services')).toEqual([]);
  });
});

describe('devices per protocol', () => {
  it('creates a JSON device in the JSON agent only, and says unchanged on a re-run', async () => {
    const created = await stack.call('PUT', '/v1/devices/j1', {
      ...at,
      body: device('j1', 'json'),
    });
    expect(created.status).toBe(201);
    expect(created.body.device).toMatchObject({ device_id: 'j1', protocol: 'json' });
    expect(await held('json', 'devices')).toEqual(['j1']);
    expect(await held('ultralight', 'devices')).toEqual([]);
    const again = await stack.call('PUT', '/v1/devices/j1', { ...at, body: device('j1', 'json') });
    expect(again.body.status).toBe('unchanged');
    const list = await stack.call('GET', '/v1/devices', at);
    expect(list.body.devices).toEqual([
      expect.objectContaining({ device_id: 'j1', protocol: 'json' }),
    ]);
    const inventory = await stack.call('GET', '/v1/inventory', at);
    expect(inventory.body.devices).toEqual([
      expect.objectContaining({ device_id: 'j1', protocol: 'json', state: 'never-seen' }),
    ]);
  });

  it("validates each protocol's measurement names", async () => {
    const barred = { attributes: [{ object_id: 'a|b', name: 'ab', type: 'Number' }] };
    const ul = await stack.call('PUT', '/v1/devices/u2', {
      ...at,
      body: device('u2', 'ultralight', barred),
    });
    expect(ul.status).toBe(422);
    expect(ul.body.errors).toEqual([
      { field: 'attributes[0].object_id', message: expect.stringMatching(/^Ultralight object id/) },
    ]);
    // The same name is a fine JSON key.
    const json = await stack.call('PUT', '/v1/devices/j2', {
      ...at,
      body: device('j2', 'json', barred),
    });
    expect(json.status).toBe(201);
    const quoted = await stack.call('PUT', '/v1/devices/j3', {
      ...at,
      body: device('j3', 'json', {
        attributes: [{ object_id: 'a"b', name: 'ab', type: 'Number' }],
      }),
    });
    expect(quoted.status).toBe(422);
    expect(quoted.body.errors[0].field).toBe('attributes[0].object_id');
    expect(await held('json', 'devices')).toEqual(['j2']);
  });

  it("refuses a device that names another protocol's group key", async () => {
    const ul = await stack.call('PUT', '/v1/groups', { ...at, body: { entity_type: 'Sensor' } });
    const apikey = ul.body.group.apikey as string;
    const res = await stack.call('PUT', '/v1/devices/j4', {
      ...at,
      body: device('j4', 'json', { apikey }),
    });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      code: 'ERR_PROVISIONING_CONFLICT',
      errors: [{ field: 'apikey', message: 'matches no service group' }],
    });
    expect(await held('json', 'devices')).toEqual([]);
  });

  it('moves a device whose protocol changes from one agent to the other', async () => {
    await stack.call('PUT', '/v1/devices/m1', { ...at, body: device('m1', 'ultralight') });
    expect(await held('ultralight', 'devices')).toEqual(['m1']);
    const dry = await stack.call('PUT', '/v1/devices/m1?dry_run=true', {
      ...at,
      body: device('m1', 'json'),
    });
    expect(dry.body).toMatchObject({ status: 'updated', dry_run: true });
    expect(await held('ultralight', 'devices')).toEqual(['m1']);

    const moved = await stack.call('PUT', '/v1/devices/m1', { ...at, body: device('m1', 'json') });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ status: 'updated', device: { protocol: 'json' } });
    expect(await held('ultralight', 'devices')).toEqual([]);
    expect(await held('json', 'devices')).toEqual(['m1']);
    expect((await stack.call('DELETE', '/v1/devices/m1', at)).status).toBe(204);
    expect(await held('json', 'devices')).toEqual([]);
  });

  it('puts a device back in its agent when the move to the other fails', async () => {
    const withCommand = { commands: [{ name: 'ping' }] };
    await stack.call('PUT', '/v1/devices/m2', {
      ...at,
      body: device('m2', 'ultralight', withCommand),
    });
    // The JSON agent registers the device's command in Orion, which refuses this once; the
    // Ultralight agent's registration of the restored device goes through.
    let refused = 0;
    stack.orion.fault((req) =>
      req.method === 'POST' && req.path === '/v2/registrations' && refused++ === 0
        ? { status: 500, body: { error: 'InternalServerError', description: 'database down' } }
        : undefined,
    );
    const res = await stack.call('PUT', '/v1/devices/m2', {
      ...at,
      body: device('m2', 'json', withCommand),
    });
    stack.orion.fault(undefined);
    expect(res.status).toBe(502);
    expect(res.body.detail).toMatch(/the previous definition was restored/);
    expect(await held('json', 'devices')).toEqual([]);
    expect(await held('ultralight', 'devices')).toEqual(['m2']);
    const back = await stack.call('GET', '/v1/devices/m2', at);
    expect(back.body.protocol).toBe('ultralight');
  });

  it('puts a device back in its agent when the other agent hangs in the middle of the move', async () => {
    await stack.call('PUT', '/v1/devices/m3', {
      ...at,
      body: device('m3', 'ultralight', { commands: [{ name: 'ping' }] }),
    });
    // The JSON agent hangs while it registers the moved device's command (after the service
    // has read both agents): its create and the clean-up after it time out.
    stack.orion.fault((req) => {
      if (req.method === 'POST' && req.path === '/v2/registrations') {
        stack.orion.fault(undefined);
        stack.jsonAgent.pause();
        return { status: 500, body: { error: 'InternalServerError', description: 'hung' } };
      }
      return undefined;
    });
    let res;
    try {
      res = await stack.call('PUT', '/v1/devices/m3', {
        ...at,
        body: device('m3', 'json', { commands: [{ name: 'ping' }] }),
      });
    } finally {
      stack.orion.fault(undefined);
      stack.jsonAgent.resume();
    }
    expect(res.status).toBe(503);
    expect(res.body.detail).toMatch(
      /the previous definition was restored; removing any copy from the json IoT agent failed/,
    );
    expect(await held('ultralight', 'devices')).toEqual(['m3']);
    expect((await stack.call('GET', '/v1/devices/m3', at)).body.protocol).toBe('ultralight');
  });

  it('does not move a device whose item names no protocol: a client that does not know protocols', async () => {
    await stack.call('PUT', '/v1/devices/j2', { ...at, body: device('j2', 'json') });
    const { protocol: _, ...unaware } = device('j2', 'json');
    const res = await stack.call('PUT', '/v1/devices/j2', { ...at, body: unaware });
    expect(res.status).toBe(409);
    expect(res.body.detail).toBe(
      'protocol: required: the device is a json device (name json to keep it, ultralight to move it)',
    );
    // In a batch, the item's reason says the same in a sentence.
    const batch = await stack.call('POST', '/v1/devices/bulk', {
      ...at,
      body: { devices: [unaware] },
    });
    expect(batch.body.results[0]).toMatchObject({
      status: 'failed',
      code: 'ERR_PROVISIONING_CONFLICT',
      reason:
        'the device is a json device and the item names no protocol; say protocol: json to keep it there, or protocol: ultralight to move it',
      errors: [{ field: 'devices[0].protocol', message: expect.stringMatching(/^required: /) }],
    });
    expect(res.body.errors).toEqual([
      {
        field: 'protocol',
        message:
          'required: the device is a json device (name json to keep it, ultralight to move it)',
      },
    ]);
    expect(await held('json', 'devices')).toEqual(['j2']);
    expect(await held('ultralight', 'devices')).toEqual([]);
    // Naming the protocol it has keeps it; a new device without one is Ultralight.
    const kept = await stack.call('PUT', '/v1/devices/j2', { ...at, body: device('j2', 'json') });
    expect(kept.body.status).toBe('unchanged');
    const { protocol: __, ...fresh } = device('u3', 'ultralight');
    expect((await stack.call('PUT', '/v1/devices/u3', { ...at, body: fresh })).status).toBe(201);
    expect(await held('ultralight', 'devices')).toEqual(['u3']);
  });

  it("compares a device's own commands against its own agent's group only", async () => {
    // The JSON group declares `ping`; an Ultralight device has its own `ping`.
    await stack.call('PUT', '/v1/groups', {
      ...at,
      body: { protocol: 'json', entity_type: 'Sensor', commands: [{ name: 'ping' }] },
    });
    await stack.call('PUT', '/v1/devices/u4', {
      ...at,
      body: device('u4', 'ultralight', { commands: [{ name: 'ping' }] }),
    });
    // Dropping the command is a change: the Ultralight agent never copied the JSON group's.
    const res = await stack.call('PUT', '/v1/devices/u4', {
      ...at,
      body: device('u4', 'ultralight'),
    });
    expect(res.body.status).toBe('updated');
    const now = await stack.call('GET', '/v1/devices/u4', at);
    expect(now.body.commands).toEqual([]);
  });
});

describe('with the JSON agent down', () => {
  it('answers 503 and writes nothing, whatever the protocol: it reads both agents first', async () => {
    await stack.jsonAgent.stop();
    const res = await stack.call('PUT', '/v1/devices/u9', {
      ...at,
      body: device('u9', 'ultralight'),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(await held('ultralight', 'devices')).toEqual([]);
  });
});
