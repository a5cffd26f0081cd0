/**
 * The provisioning API against the real IoT Agent (iotagent-node-lib in-process) and the
 * Orion and QuantumLeap contract fakes. Every response is checked against the OpenAPI
 * document the service serves.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';

import { PLATFORM_EVENTS_URL_ENV, eventId, eventTypeOf } from '../../../platform/events.js';
import type { RunningMonitor } from '../../monitor/src/service.js';
import { startEventsMonitor } from '../../../testing/support/events-monitor.js';
import type { ProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { ANCHOR, startProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { openApiChecker, queryParameterProbes } from '../../../testing/support/openapi-checker.js';

let stack: ProvisioningStack;
/** The real monitor the service's device events go to (its PLATFORM_EVENTS_URL). */
let monitor: RunningMonitor;
let monitorDir: string;
/** The service's clock when a test sets it; the real one otherwise. */
let clock: number | undefined;
let checker: ReturnType<typeof openApiChecker>;

type CallOpts = Parameters<ProvisioningStack['call']>[2];

/** Calls and checks the answer against the document. */
async function api(method: string, template: string, path: string, opts?: CallOpts) {
  const res = await stack.call(method, path, opts);
  checker.check(method, template, res.status, res.body, res.headers.get('content-type'));
  if (res.status < 300) checker.checkRequest(method, template.replace(/\?.*/, ''), opts?.body);
  return res;
}

const m = ANCHOR.manufracture;
const s = ANCHOR.smithereens;
const floor1 = { servicePath: m.servicePath };

beforeAll(async () => {
  monitorDir = mkdtempSync(join(tmpdir(), 'provisioning-events-'));
  monitor = await startEventsMonitor({ stateFile: join(monitorDir, 'monitor-state.json') });
  stack = await startProvisioningStack({
    now: () => clock ?? Date.now(),
    env: { [PLATFORM_EVENTS_URL_ENV]: monitor.eventsUrl },
  });
  const doc = await stack.call('GET', '/openapi.json', { token: null, service: null });
  expect(doc.status).toBe(200);
  checker = openApiChecker(doc.body);
});
afterAll(async () => {
  await stack?.close();
  await monitor?.close();
  if (monitorDir) rmSync(monitorDir, { recursive: true, force: true });
});

/**
 * Calls the UltraLight agent's own API at manufracture's /floor1, as curl users do: reads its
 * raw records, or writes with a JSON body.
 */
function agentAt(path: string, body?: unknown): Promise<Response> {
  return fetch(`${stack.iotaUrl}${path}`, {
    headers: {
      'fiware-service': 'manufracture',
      'fiware-servicepath': '/floor1',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) }),
  });
}

async function reset(): Promise<void> {
  for (const [tenant, t] of [
    ['manufracture', m],
    ['smithereens', s],
  ] as const) {
    const token = await stack.token({ claims: { tenants: [tenant] } });
    const list = await stack.call('GET', '/v1/devices?limit=1000', {
      service: tenant,
      servicePath: t.servicePath,
      token,
    });
    for (const d of list.body.devices ?? []) {
      await stack.call('DELETE', `/v1/devices/${d.device_id}`, {
        service: tenant,
        servicePath: t.servicePath,
        token,
      });
    }
    await stack.call('DELETE', '/v1/groups', {
      service: tenant,
      servicePath: t.servicePath,
      token,
    });
  }
  stack.orion.reset();
}

describe('OpenAPI', () => {
  it('serves a 3.1 document without a token, with every operation of the API', async () => {
    const res = await stack.call('GET', '/openapi.json', { token: null, service: null });
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths).sort()).toEqual([
      '/v1/devices',
      '/v1/devices/bulk',
      '/v1/devices/{id}',
      '/v1/groups',
      '/v1/inventory',
      '/v1/subscriptions/quantumleap',
    ]);
    expect(res.body.components.schemas.DeviceSpec.properties.entity_name.pattern).toBeDefined();
  });

  it('documents request bodies as clients write them: a field with a default is optional', () => {
    // The smallest device and group the service accepts (the tests below create them).
    checker.checkRequest('PUT', '/v1/devices/{id}', { entity_name: 'urn:x:1', entity_type: 'X' });
    checker.checkRequest('PUT', '/v1/groups', { entity_type: 'X' });
    expect(() => checker.checkRequest('PUT', '/v1/groups', { entity_type: 3 })).toThrow(
      /the document refuses/,
    );
  });

  it('fails the check when a response does not match (the checker is not a no-op)', () => {
    expect(() =>
      checker.check('GET', '/v1/devices/{id}', 200, { device_id: 1 }, 'application/json'),
    ).toThrow(/does not match/);
    expect(() => checker.check('GET', '/v1/devices/{id}', 418, {}, 'application/json')).toThrow(
      /does not list/,
    );
  });

  it('holds every query parameter to the bounds and values the document states', async () => {
    // Values are derived from the served document: each bound and each enum value is taken,
    // one past each bound and a value outside each enum is refused (422, naming the parameter)
    // before anything is done. Reads are also called at their bounds; writes (a valid body on
    // a path of their own) only with refused values.
    const doc = (await stack.call('GET', '/openapi.json', { token: null, service: null })).body;
    const admin = await stack.token({
      claims: { roles: ['manufracture:tenant-admin', 'manufracture:operator'] },
    });
    const bodies: Record<string, unknown> = {
      upsertGroup: { entity_type: 'Bot' },
      upsertDevices: { devices: [] },
      upsertDevice: { entity_name: 'urn:ngsi:Bot:bounds', entity_type: 'Bot' },
    };
    const checked: string[] = [];
    for (const probe of queryParameterProbes(doc)) {
      const { method, template, operationId: op, param } = probe;
      const path = template.replace('{id}', 'bounds-1');
      const servicePath = template.includes('subscriptions') ? undefined : '/bounds';
      const send = (value: string) =>
        api(method, template, `${path}?${param}=${encodeURIComponent(value)}`, {
          token: admin,
          servicePath,
          body: bodies[op],
        });
      for (const value of probe.refused) {
        const res = await send(value);
        expect({ op, param, value, status: res.status }).toEqual({ op, param, value, status: 422 });
        expect(JSON.stringify(res.body.errors)).toContain(param);
      }
      if (method !== 'GET') continue;
      for (const value of probe.valid) {
        const res = await send(value);
        expect({ op, param, value, status: res.status }).toEqual({ op, param, value, status: 200 });
      }
      checked.push(`${op} ${param}`);
    }
    // The bounds themselves, as the API promises them.
    const valid = (op: string, param: string) =>
      queryParameterProbes(doc).find((p) => p.operationId === op && p.param === param)?.valid;
    expect(valid('listDevices', 'limit')).toEqual(['1', '1000']);
    expect(valid('listDevices', 'offset')).toEqual(['0']);
    expect(valid('inventory', 'stale_after')).toEqual(['1', '1000']);
    // Nothing was written by a refused value.
    const left = await stack.call('GET', '/v1/devices', { servicePath: '/bounds' });
    expect(left.body.count).toBe(0);
    expect(checked).toEqual(
      expect.arrayContaining([
        'listDevices limit',
        'listDevices offset',
        'inventory stale_after',
        'listGroups protocol',
      ]),
    );
  });
});

describe('service groups', () => {
  beforeEach(reset);

  it('creates a group with a generated API key, then says unchanged on the same request', async () => {
    const first = await api('PUT', '/v1/groups', '/v1/groups', {
      ...floor1,
      body: { entity_type: 'Bot' },
    });
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('created');
    expect(first.body.group.apikey).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(first.body.group.autoprovision).toBe(false);
    const again = await api('PUT', '/v1/groups', '/v1/groups', {
      ...floor1,
      body: { entity_type: 'Bot' },
    });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('unchanged');
    expect(again.body.group.apikey).toBe(first.body.group.apikey);
    // The agent holds exactly one group at that path, with that key.
    const agent = await agentAt('/iot/services').then(
      (r) => r.json() as Promise<{ services: { apikey: string; autoprovision?: boolean }[] }>,
    );
    expect(agent.services.map((g) => g.apikey)).toEqual([first.body.group.apikey]);
  });

  it('creates nothing on a dry run of a new group, and says what it would create', async () => {
    const dry = await api('PUT', '/v1/groups', '/v1/groups?dry_run=true', {
      ...floor1,
      body: { entity_type: 'Bot' },
    });
    expect(dry.status).toBe(201);
    expect(dry.body).toMatchObject({
      status: 'created',
      dry_run: true,
      group: { entity_type: 'Bot', protocol: 'ultralight', resource: '/iot/d' },
    });
    // The agent holds no group at the path (it answers 404 then).
    const agent = await agentAt('/iot/services');
    expect(agent.status).toBe(404);
    expect((await api('GET', '/v1/groups', '/v1/groups', floor1)).body.groups).toEqual([]);
  });

  it('updates a group in place and refuses to change its API key', async () => {
    await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
    // A dry run of a change says what it would do, and changes nothing.
    const dry = await api('PUT', '/v1/groups', '/v1/groups?dry_run=true', {
      ...floor1,
      body: { ...m.group, static_attributes: [{ name: 'site', type: 'Text', value: 'Zurich' }] },
    });
    expect(dry.body).toMatchObject({ status: 'updated', dry_run: true });
    const before = await api('GET', '/v1/groups', '/v1/groups', floor1);
    expect(before.body.groups[0].static_attributes ?? []).not.toContainEqual(
      expect.objectContaining({ name: 'site' }),
    );
    const updated = await api('PUT', '/v1/groups', '/v1/groups', {
      ...floor1,
      body: { ...m.group, static_attributes: [{ name: 'site', type: 'Text', value: 'Zurich' }] },
    });
    expect(updated.body.status).toBe('updated');
    const list = await api('GET', '/v1/groups', '/v1/groups', floor1);
    expect(list.body.groups).toHaveLength(1);
    expect(list.body.groups[0].static_attributes).toEqual([
      { name: 'site', type: 'Text', value: 'Zurich' },
    ]);
    const conflict = await api('PUT', '/v1/groups', '/v1/groups', {
      ...floor1,
      body: { ...m.group, apikey: 'other1' },
    });
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('ERR_PROVISIONING_CONFLICT');
    expect(conflict.body.detail).toBe(
      'the ultralight service group (/iot/d) at /floor1 already has another API key; devices use it, so it is not changed in place. Delete the group first to replace its key',
    );
    expect(conflict.body.errors).toEqual([
      { field: 'apikey', message: 'differs from the existing group' },
    ]);
  });

  it('shows API keys to operators but not to viewers', async () => {
    await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
    const viewer = await stack.token({ claims: { roles: ['manufracture:viewer'] } });
    const asViewer = await api('GET', '/v1/groups', '/v1/groups', { ...floor1, token: viewer });
    expect(asViewer.status).toBe(200);
    expect(asViewer.body.groups[0]).not.toHaveProperty('apikey');
    const asOperator = await api('GET', '/v1/groups', '/v1/groups', floor1);
    expect(asOperator.body.groups[0].apikey).toBe('3z4w');
  });

  it('shows a group as stored at its own path: autoprovision, commands typed as commands', async () => {
    const group = { entity_type: 'Bot', autoprovision: true, commands: [{ name: 'reset' }] };
    const put = await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: group });
    expect(put.status).toBe(201);
    const list = await api('GET', '/v1/groups', '/v1/groups', floor1);
    expect(list.body.groups).toHaveLength(1);
    expect(list.body.groups[0]).toMatchObject({
      service: 'manufracture',
      service_path: '/floor1',
      autoprovision: true,
      commands: [{ name: 'reset', type: 'command' }],
    });
    // The agent holds the command as a command (it registers those in Orion), and the same
    // request again changes nothing.
    const agent = await agentAt('/iot/services').then(
      (r) => r.json() as Promise<{ services: { commands: unknown[] }[] }>,
    );
    expect(agent.services[0]!.commands).toEqual([{ name: 'reset', type: 'command' }]);
    const again = await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: group });
    expect(again.body.status).toBe('unchanged');
  });

  it('shows a group made with the agent’s own API, without attribute lists', async () => {
    // The agent requires an entity type of a group (MISSING_CONFIG_PARAMS without one).
    const made = await agentAt('/iot/services', {
      services: [{ apikey: 'bare1k3y', resource: '/iot/d', entity_type: 'Bot' }],
    });
    expect(made.status).toBe(201);
    const list = await api('GET', '/v1/groups', '/v1/groups', floor1);
    expect(list.body.groups).toEqual([
      {
        service: 'manufracture',
        service_path: '/floor1',
        protocol: 'ultralight',
        resource: '/iot/d',
        apikey: 'bare1k3y',
        entity_type: 'Bot',
        attributes: [],
        static_attributes: [],
        commands: [],
        autoprovision: false,
      },
    ]);
  });

  it('keeps groups apart per service path and per tenant', async () => {
    await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
    const root = await api('GET', '/v1/groups', '/v1/groups', { servicePath: '/' });
    expect(root.body.groups).toEqual([]);
    const other = await api('GET', '/v1/groups', '/v1/groups', {
      ...floor1,
      service: 'smithereens',
      token: await stack.token({ claims: { tenants: ['smithereens'] } }),
    });
    expect(other.body.groups).toEqual([]);
  });
});

describe('devices', () => {
  beforeEach(async () => {
    await reset();
    await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
  });

  it('creates one device (201), says unchanged on a re-run (200), and updates on a change', async () => {
    const { device_id: _id, ...body } = m.devices[0]!;
    const created = await api('PUT', '/v1/devices/{id}', '/v1/devices/foodev', { ...floor1, body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      status: 'created',
      device: { device_id: 'foodev', service: 'manufracture', service_path: '/floor1' },
    });
    const again = await api('PUT', '/v1/devices/{id}', '/v1/devices/foodev', { ...floor1, body });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('unchanged');
    const change = {
      ...body,
      attributes: [...body.attributes, { object_id: 't', name: 'temperature', type: 'Number' }],
      expected_interval: 60,
    };
    // A dry run of the change says what it would do, and changes nothing.
    const dry = await api('PUT', '/v1/devices/{id}', '/v1/devices/foodev?dry_run=true', {
      ...floor1,
      body: change,
    });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ status: 'updated', dry_run: true });
    const untouched = await api('GET', '/v1/devices/{id}', '/v1/devices/foodev', floor1);
    expect(untouched.body.attributes.map((a: { name: string }) => a.name)).toEqual(['foo']);
    expect(untouched.body.expected_interval).not.toBe(60);
    const changed = await api('PUT', '/v1/devices/{id}', '/v1/devices/foodev', {
      ...floor1,
      body: change,
    });
    expect(changed.body.status).toBe('updated');
    const got = await api('GET', '/v1/devices/{id}', '/v1/devices/foodev', floor1);
    // Each attribute as declared: its object id (the key in a measurement) is not its name.
    expect(got.body.attributes).toEqual(change.attributes);
    expect(got.body.attributes[1]).toEqual({ object_id: 't', name: 'temperature', type: 'Number' });
    expect(got.body.expected_interval).toBe(60);
    expect(got.body.static_attributes).toEqual([
      { name: 'category', type: 'Text', value: 'sensor' },
    ]);
  });

  it('bulk-provisions the anchor devices with one result per item, idempotently', async () => {
    const first = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: m.devices },
    });
    expect(first.status).toBe(200);
    expect(first.body.summary).toEqual({ created: 2, updated: 0, unchanged: 0, failed: 0 });
    expect(
      first.body.results.map((r: { device_id: string; status: string }) => [r.device_id, r.status]),
    ).toEqual([
      ['foodev', 'created'],
      ['bardev', 'created'],
    ]);
    const second = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: m.devices },
    });
    expect(second.body.summary).toEqual({ created: 0, updated: 0, unchanged: 2, failed: 0 });
    const list = await api('GET', '/v1/devices', '/v1/devices', floor1);
    expect(list.body.count).toBe(2);
    // One registration in Orion, for foodev's commands (bardev has none).
    expect(
      stack.orion.registrations('manufracture').map((r) => [r.dataProvided, r.servicePath]),
    ).toEqual([
      [{ entities: [{ id: 'urn:ngsi:bot:1', type: 'Bot' }], attrs: ['reset', 'ping'] }, '/floor1'],
    ]);
  });

  it('writes nothing on a dry run and says what it would do', async () => {
    await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: [m.devices[0]] },
    });
    const changed = { ...m.devices[0], timezone: 'Europe/Rome' };
    const dry = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk?dry_run=true', {
      ...floor1,
      body: { devices: [changed, m.devices[1]] },
    });
    expect(dry.body.dry_run).toBe(true);
    expect(dry.body.results.map((r: { status: string }) => r.status)).toEqual([
      'updated',
      'created',
    ]);
    const list = await api('GET', '/v1/devices', '/v1/devices', floor1);
    expect(
      list.body.devices.map((d: { device_id: string; timezone: string }) => [
        d.device_id,
        d.timezone,
      ]),
    ).toEqual([['foodev', 'Europe/Zurich']]);
  });

  it('keeps the API key, command endpoint and expected interval a device declares, and stores nothing for those it does not', async () => {
    const { device_id: _id, ...body } = m.devices[0]!;
    const declared = {
      ...body,
      apikey: '3z4w',
      endpoint: 'http://device.example:9000/cmd',
      commands: [{ name: 'ping' }],
      expected_interval: 120,
    };
    await api('PUT', '/v1/devices/{id}', '/v1/devices/foodev', { ...floor1, body: declared });
    const got = await api('GET', '/v1/devices/{id}', '/v1/devices/foodev', floor1);
    expect(got.body).toMatchObject({
      apikey: '3z4w',
      endpoint: 'http://device.example:9000/cmd',
      expected_interval: 120,
    });
    // The agent keeps the interval under this name, written out here: the devices an earlier
    // version of the service stored carry it, and another name would lose their intervals.
    const stored = await agentAt('/iot/devices/foodev').then(
      (r) => r.json() as Promise<Record<string, unknown>>,
    );
    expect(stored.internal_attributes).toEqual([{ name: 'kitt4sme:expectedInterval', value: 120 }]);
    const again = await api('PUT', '/v1/devices/{id}', '/v1/devices/foodev', {
      ...floor1,
      body: declared,
    });
    expect(again.body.status).toBe('unchanged');
    // Without them the agent holds no key, no endpoint and no internal attribute (other
    // readers of the agent's records, the liveness monitor among them, see what the service
    // was given and nothing made up).
    const { device_id: _id2, expected_interval: _interval, ...bare } = m.devices[1]!;
    await api('PUT', '/v1/devices/{id}', '/v1/devices/bardev', { ...floor1, body: bare });
    const raw = await agentAt('/iot/devices/bardev').then(
      (r) => r.json() as Promise<Record<string, unknown>>,
    );
    expect(raw.device_id).toBe('bardev');
    expect(raw.apikey).toBeUndefined();
    expect(raw.endpoint).toBeUndefined();
    expect(raw.internal_attributes ?? []).toEqual([]);
  });

  it('registers commands in Orion and removes the registration with the device', async () => {
    const device = {
      ...m.devices[0],
      commands: [{ name: 'ping' }],
      endpoint: 'http://device.example:9000/cmd',
    };
    const res = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: [device] },
    });
    expect(res.body.summary.created).toBe(1);
    const regs = stack.orion.registrations('manufracture');
    expect(regs).toHaveLength(1);
    expect(JSON.stringify(regs[0])).toContain('urn:ngsi:bot:1');
    const del = await api('DELETE', '/v1/devices/{id}', '/v1/devices/foodev', floor1);
    expect(del.status).toBe(204);
    expect(stack.orion.registrations('manufracture')).toEqual([]);
    const gone = await api('GET', '/v1/devices/{id}', '/v1/devices/foodev', floor1);
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('ERR_PROVISIONING_NOT_FOUND');
  });

  it('keeps the entity of a device it deletes unless asked, even for a tenant admin', async () => {
    await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: [m.devices[0], m.devices[1]] },
    });
    await seedEntity('manufracture', '/floor1', 'urn:ngsi:bot:1', new Date().toISOString());
    await seedEntity('manufracture', '/floor1', 'urn:ngsi:bot:2', new Date().toISOString());
    const token = await stack.token({ claims: { roles: ['manufracture:tenant-admin'] } });
    for (const path of ['/v1/devices/foodev', '/v1/devices/bardev?delete_entity=false']) {
      const del = await api('DELETE', '/v1/devices/{id}', path, { ...floor1, token });
      expect(del.status).toBe(204);
    }
    expect((await api('GET', '/v1/devices', '/v1/devices', floor1)).body.devices).toEqual([]);
    expect(
      stack.orion
        .entities('manufracture')
        .map((e) => e.id)
        .sort(),
    ).toEqual(['urn:ngsi:bot:1', 'urn:ngsi:bot:2']);
  });

  it('deletes the entity too when a tenant admin asks, and refuses that to an operator', async () => {
    await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: [m.devices[0]] },
    });
    await seedEntity('manufracture', '/floor1', 'urn:ngsi:bot:1', new Date().toISOString());
    const path = '/v1/devices/foodev?delete_entity=true';
    const asOperator = await api('DELETE', '/v1/devices/{id}', path, floor1);
    expect(asOperator.status).toBe(403);
    expect(asOperator.body).toMatchObject({
      code: 'ERR_PROVISIONING_FORBIDDEN',
      detail:
        "only tenant-admin or platform-admin may delete a device's entity; the token has operator",
    });
    expect(stack.orion.entities('manufracture').map((e) => e.id)).toEqual(['urn:ngsi:bot:1']);
    // Every role the token holds for the tenant is named.
    const twoRoles = await stack.token({
      claims: { roles: ['manufracture:operator', 'manufracture:viewer'] },
    });
    const asBoth = await api('DELETE', '/v1/devices/{id}', path, { ...floor1, token: twoRoles });
    expect([asBoth.status, asBoth.body.detail]).toEqual([
      403,
      "only tenant-admin or platform-admin may delete a device's entity; the token has operator, viewer",
    ]);
    const token = await stack.token({ claims: { roles: ['manufracture:tenant-admin'] } });
    const del = await api('DELETE', '/v1/devices/{id}', path, { ...floor1, token });
    expect(del.status).toBe(204);
    expect(stack.orion.entities('manufracture').map((e) => e.id)).toEqual([]);
  });

  it('refuses a device whose API key matches no group, alone', async () => {
    const res = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: {
        devices: [
          { ...m.devices[0], apikey: 'nokey1' },
          { ...m.devices[1], apikey: '3z4w' },
        ],
      },
    });
    expect(res.status).toBe(207);
    expect(res.body.results[0]).toMatchObject({
      status: 'failed',
      code: 'ERR_PROVISIONING_CONFLICT',
    });
    expect(res.body.results[1]).toMatchObject({ status: 'created' });
  });

  it('pages the device list', async () => {
    const many = Array.from({ length: 5 }, (_, i) => ({
      ...m.devices[0],
      device_id: `dev${i}`,
      entity_name: `urn:ngsi:bot:p${i}`,
    }));
    await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: many },
    });
    const page = await api('GET', '/v1/devices', '/v1/devices', { ...floor1, headers: {} });
    expect(page.body.count).toBe(5);
    const second = await api('GET', '/v1/devices', '/v1/devices?limit=2&offset=2', floor1);
    expect(second.body.devices.map((d: { device_id: string }) => d.device_id)).toEqual([
      'dev2',
      'dev3',
    ]);
  });
});

describe('idempotency with what the agent adds', () => {
  beforeEach(reset);

  it('says unchanged for a device whose group gives it commands, and after the agent fills in its API key', async () => {
    await api('PUT', '/v1/groups', '/v1/groups', {
      ...floor1,
      body: { ...m.group, commands: [{ name: 'reboot' }] },
    });
    const devices = [m.devices[0]];
    const first = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices },
    });
    expect(first.body.summary.created).toBe(1);
    const again = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices },
    });
    expect(again.body.summary).toEqual({ created: 0, updated: 0, unchanged: 1, failed: 0 });
    // A change the service does manage is still seen.
    const changed = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: [{ ...m.devices[0], commands: [{ name: 'reset' }] }] },
    });
    expect(changed.body.summary.updated).toBe(1);
  });

  it('shows and adopts a device made with the agent’s own API, without any attribute lists', async () => {
    await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
    const made = await agentAt('/iot/devices', {
      devices: [
        {
          device_id: 'bare1',
          entity_name: 'urn:ngsi:bot:bare1',
          entity_type: 'Bot',
          protocol: 'PDI-IoTA-UltraLight',
          transport: 'HTTP',
        },
      ],
    });
    expect(made.status).toBe(201);
    const shown = await api('GET', '/v1/devices/{id}', '/v1/devices/bare1', floor1);
    expect(shown.body).toEqual({
      device_id: 'bare1',
      service: 'manufracture',
      service_path: '/floor1',
      protocol: 'ultralight',
      entity_name: 'urn:ngsi:bot:bare1',
      entity_type: 'Bot',
      attributes: [],
      static_attributes: [],
      commands: [],
    });
    const adopted = await api('PUT', '/v1/devices/{id}', '/v1/devices/bare1', {
      ...floor1,
      body: { entity_name: 'urn:ngsi:bot:bare1', entity_type: 'Bot' },
    });
    expect(adopted.status).toBe(200);
    expect(adopted.body.status).toBe('unchanged');
  });

  type Stored = Record<string, unknown> & { attributes?: Record<string, unknown>[] };
  it.each<[string, (d: Stored) => Stored, (d: Stored) => boolean]>([
    [
      'its protocol',
      (d) => ({ ...d, protocol: 'IoTA-JSON' }),
      (d) => d.protocol === 'PDI-IoTA-UltraLight',
    ],
    ['its transport', (d) => ({ ...d, transport: 'MQTT' }), (d) => d.transport === 'HTTP'],
    [
      'a lazy attribute',
      (d) => ({ ...d, lazy: [{ object_id: 'l', name: 'level', type: 'Number' }] }),
      (d) => !Array.isArray(d.lazy) || d.lazy.length === 0,
    ],
    [
      'an expression on an attribute',
      (d) => ({
        ...d,
        attributes: (d.attributes ?? []).map((a, i) =>
          i === 0 ? { ...a, expression: `${String(a.object_id)} * 1000` } : a,
        ),
      }),
      (d) => (d.attributes ?? []).every((a) => !String(a.expression ?? '').includes('* 1000')),
    ],
  ])(
    'puts right a device changed behind its back on the agent: %s',
    async (_what, tamper, putRight) => {
      await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
        ...floor1,
        body: { devices: [m.devices[0]] },
      });
      const agent = `${stack.iotaUrl}/iot/devices`;
      const headers = {
        'content-type': 'application/json',
        'fiware-service': 'manufracture',
        'fiware-servicepath': '/floor1',
      };
      const stored = (await (await fetch(`${agent}/foodev`, { headers })).json()) as Stored;
      expect((await fetch(`${agent}/foodev`, { method: 'DELETE', headers })).status).toBe(204);
      const { service: _s, service_path: _p, ...rest } = stored;
      const recreated = await fetch(agent, {
        method: 'POST',
        headers,
        body: JSON.stringify({ devices: [tamper(rest)] }),
      });
      expect(recreated.status).toBe(201);
      const tampered = (await (await fetch(`${agent}/foodev`, { headers })).json()) as Stored;
      expect(putRight(tampered)).toBe(false);
      const again = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
        ...floor1,
        body: { devices: [m.devices[0]] },
      });
      expect(again.body.summary.updated).toBe(1);
      const fixed = (await (await fetch(`${agent}/foodev`, { headers })).json()) as Stored;
      expect(putRight(fixed)).toBe(true);
    },
  );

  it('removes a field dropped from a group', async () => {
    await api('PUT', '/v1/groups', '/v1/groups', {
      ...floor1,
      body: { ...m.group, timezone: 'Europe/Rome' },
    });
    const dropped = await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
    expect(dropped.body.status).toBe('updated');
    const again = await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
    expect(again.body.status).toBe('unchanged');
    const list = await api('GET', '/v1/groups', '/v1/groups', floor1);
    expect(list.body.groups[0]).not.toHaveProperty('timezone');
    expect(list.body.groups[0].apikey).toBe(m.group.apikey);
  });

  it('does not delete a device another request created meanwhile', async () => {
    const { device_id: _id, ...body } = m.devices[0]!;
    const other = { ...body, timezone: 'Europe/Rome' };
    const results = await Promise.all([
      stack.call('PUT', '/v1/devices/race', { ...floor1, body }),
      stack.call('PUT', '/v1/devices/race', { ...floor1, body: other }),
    ]);
    expect(results.map((r) => r.status).sort()).toContain(201);
    const now = await api('GET', '/v1/devices/{id}', '/v1/devices/race', floor1);
    expect(now.status).toBe(200);
  });

  it('keeps API keys of other tenants secret', async () => {
    await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
    const token = await stack.token({ claims: { tenants: ['smithereens'] } });
    const res = await api('PUT', '/v1/groups', '/v1/groups', {
      servicePath: '/',
      service: 'smithereens',
      token,
      body: { entity_type: 'Bot', apikey: m.group.apikey },
    });
    expect(res.status).toBe(409);
    expect(res.body.detail).toBe(
      'this API key is not available; omit apikey to have a strong one generated',
    );
    expect(res.body.errors).toEqual([{ field: 'apikey', message: 'not available' }]);
    expect(JSON.stringify(res.body)).not.toContain('manufracture');
  });
});

describe('QuantumLeap subscription', () => {
  beforeEach(reset);
  const admin = () => stack.token({ claims: { roles: ['manufracture:tenant-admin'] } });
  /** Makes a subscription in the fake Orion as an operator would, at `servicePath` if given. */
  const subscribe = async (sub: object, servicePath?: string) => {
    const r = await fetch(`${stack.orion.url}/v2/subscriptions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'fiware-service': 'manufracture',
        ...(servicePath ? { 'fiware-servicepath': servicePath } : {}),
      },
      body: JSON.stringify(sub),
    });
    expect(r.status).toBe(201);
  };

  it('creates it once, without a service path, so it covers the whole tenant', async () => {
    const token = await admin();
    const first = await api(
      'PUT',
      '/v1/subscriptions/quantumleap',
      '/v1/subscriptions/quantumleap',
      { token },
    );
    expect(first.status).toBe(201);
    const again = await api(
      'PUT',
      '/v1/subscriptions/quantumleap',
      '/v1/subscriptions/quantumleap',
      { token },
    );
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'unchanged', id: first.body.id });
    const subs = stack.orion.subscriptions('manufracture');
    expect(subs).toHaveLength(1);
    const post = stack.orion.requests.find(
      (r) => r.method === 'POST' && r.path === '/v2/subscriptions',
    );
    expect(post?.servicePath).toBeUndefined();
    // The fake notifies it for an entity deep in the tree: the subscription covers the tenant.
    await seedEntity('manufracture', '/floor1/line2', 'urn:ngsi:bot:9', new Date().toISOString());
    await stack.orion.settled();
    expect(
      stack.quantumleap.series('manufracture', 'urn:ngsi:bot:9', 'TimeInstant').values.length,
    ).toBeGreaterThan(0);
  });

  it('does not adopt a subscription it did not make (it may be path-scoped)', async () => {
    await subscribe(
      {
        subject: { entities: [{ idPattern: '.*' }] },
        notification: {
          http: { url: stack.config.quantumLeapNotifyUrl },
          attrsFormat: 'keyValues',
        },
      },
      '/floor1',
    );
    const res = await api('PUT', '/v1/subscriptions/quantumleap', '/v1/subscriptions/quantumleap', {
      token: await admin(),
    });
    expect(res.status).toBe(201);
    expect(stack.orion.subscriptions('manufracture')).toHaveLength(2);
  });

  interface Sub {
    description: string;
    status?: string;
    subject: {
      entities: Record<string, string>[];
      condition?: { attrs: string[]; expression?: Record<string, string> };
    };
    notification: {
      http: { url: string };
      attrsFormat?: string;
      attrs?: string[];
      exceptAttrs?: string[];
    };
  }
  /** What this service makes, with `change` applied. */
  const ours = (change: (s: Sub) => void) => {
    const sub: Sub = {
      // Written out, not the service's constant: Orion holds the subscriptions earlier versions
      // made with it, and a new text would subscribe QuantumLeap a second time after an upgrade.
      description:
        'Notify QuantumLeap of changes to any entity of the tenant (kitt4sme provisioning)',
      subject: { entities: [{ idPattern: '.*' }] },
      notification: { http: { url: stack.config.quantumLeapNotifyUrl } },
    };
    change(sub);
    return sub;
  };

  it('adopts its own subscription, written out with Orion’s defaults and a selector more', async () => {
    await subscribe(
      ours((s) => {
        s.status = 'active';
        s.notification.attrsFormat = 'normalized';
        s.notification.attrs = [];
        s.subject.condition = { attrs: [] };
        // A selector more, which the pattern for every entity already covers.
        s.subject.entities.push({ id: 'urn:ngsi:bot:1', type: 'Bot' });
      }),
    );
    const res = await api('PUT', '/v1/subscriptions/quantumleap', '/v1/subscriptions/quantumleap', {
      token: await admin(),
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('unchanged');
    expect(stack.orion.subscriptions('manufracture')).toHaveLength(1);
  });

  // Each differs from what the service makes in one way only, and would not feed QuantumLeap
  // every change of every entity: so the service makes its own.
  it.each<[string, Parameters<typeof ours>[0]]>([
    ['another description', (s) => (s.description = 'made by hand')],
    ['another URL', (s) => (s.notification.http.url = 'http://elsewhere.example:8668/v2/notify')],
    ['inactive', (s) => (s.status = 'inactive')],
    ['keyValues', (s) => (s.notification.attrsFormat = 'keyValues')],
    ['some attributes only', (s) => (s.notification.attrs = ['temperature'])],
    ['some attributes left out', (s) => (s.notification.exceptAttrs = ['temperature'])],
    ['a change of some attributes only', (s) => (s.subject.condition = { attrs: ['humidity'] })],
    ['one entity type', (s) => (s.subject.entities = [{ idPattern: '.*', type: 'Bot' }])],
    ['a type pattern', (s) => (s.subject.entities = [{ idPattern: '.*', typePattern: 'B.*' }])],
    ['an id pattern', (s) => (s.subject.entities = [{ idPattern: 'urn:ngsi:bot:.*' }])],
  ])('does not adopt its own subscription changed to %s', async (_, change) => {
    await subscribe(ours(change));
    const res = await api('PUT', '/v1/subscriptions/quantumleap', '/v1/subscriptions/quantumleap', {
      token: await admin(),
    });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('created');
    expect(stack.orion.subscriptions('manufracture')).toHaveLength(2);
  });

  // The Orion fake answers 501 to a subscription with an expression (q, mq, geo), so Orion's
  // listing of one is given by a fault rule: a filter means some changes are not notified.
  it('does not adopt its own subscription with an expression (Orion’s listing of it)', async () => {
    const listed = {
      id: '6756f0c1a2b3c4d5e6f70809',
      ...ours((s) => {
        s.status = 'active';
        s.notification.attrsFormat = 'normalized';
      }),
    };
    listed.subject.condition = { attrs: [], expression: { q: 'temperature>40' } };
    stack.orion.fault((req) =>
      req.method === 'GET' && req.path === '/v2/subscriptions'
        ? { status: 200, body: [listed] }
        : undefined,
    );
    try {
      const res = await api(
        'PUT',
        '/v1/subscriptions/quantumleap',
        '/v1/subscriptions/quantumleap',
        {
          token: await admin(),
        },
      );
      expect(res.status).toBe(201);
      expect(res.body.status).toBe('created');
      expect(res.body.id).not.toBe(listed.id);
    } finally {
      stack.orion.fault(undefined);
    }
    // The one it made is Orion's only stored subscription, without an expression.
    const stored = stack.orion.subscriptions('manufracture');
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored[0])).not.toContain('expression');
  });

  it('is refused to operators and with a service path header', async () => {
    const asOperator = await api(
      'PUT',
      '/v1/subscriptions/quantumleap',
      '/v1/subscriptions/quantumleap',
      {},
    );
    expect(asOperator.status).toBe(403);
    expect(asOperator.body).toMatchObject({
      code: 'ERR_PROVISIONING_FORBIDDEN',
      detail:
        'only tenant-admin or platform-admin may manage subscriptions; the token has operator',
    });
    const withPath = await api(
      'PUT',
      '/v1/subscriptions/quantumleap',
      '/v1/subscriptions/quantumleap',
      {
        token: await admin(),
        servicePath: '/floor1',
      },
    );
    expect(withPath.status).toBe(422);
    expect(withPath.body.errors).toEqual([
      {
        field: 'header fiware-servicepath',
        message:
          'not allowed: the QuantumLeap subscription is created without a service path so that it covers the whole tenant',
      },
    ]);
    expect(stack.orion.subscriptions('manufracture')).toEqual([]);
    // The root path is the whole tenant: allowed, as no header is.
    const atRoot = await api(
      'PUT',
      '/v1/subscriptions/quantumleap',
      '/v1/subscriptions/quantumleap',
      { token: await admin(), servicePath: '/' },
    );
    expect(atRoot.status).toBe(201);
    expect(stack.orion.subscriptions('manufracture')).toHaveLength(1);
  });
});

describe('inventory', () => {
  beforeEach(async () => {
    await reset();
    await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
  });

  it('says never seen, fresh or stale from Orion’s TimeInstant and the expected interval', async () => {
    const devices = [
      { ...m.devices[0], expected_interval: 60 },
      { ...m.devices[1], expected_interval: 60 },
      {
        ...m.devices[0],
        device_id: 'quiet',
        entity_name: 'urn:ngsi:bot:3',
        expected_interval: undefined,
      },
    ];
    await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', { ...floor1, body: { devices } });
    await seedEntity(
      'manufracture',
      '/floor1',
      'urn:ngsi:bot:1',
      new Date(Date.now() - 30_000).toISOString(),
    );
    await seedEntity(
      'manufracture',
      '/floor1',
      'urn:ngsi:bot:2',
      new Date(Date.now() - 600_000).toISOString(),
    );
    const inv = await api('GET', '/v1/inventory', '/v1/inventory', floor1);
    const state = Object.fromEntries(
      inv.body.devices.map((d: { device_id: string; state: string }) => [d.device_id, d.state]),
    );
    expect(state).toEqual({ foodev: 'fresh', bardev: 'stale', quiet: 'never-seen' });
    expect(inv.body.summary).toEqual({ fresh: 1, stale: 1, 'never-seen': 1 });
    const quiet = inv.body.devices.find((d: { device_id: string }) => d.device_id === 'quiet');
    expect(quiet).toMatchObject({
      expected_interval: 300,
      last_measurement: null,
      age_seconds: null,
    });
    // stale_after widens the window: 600 s is within 20 × 60 s.
    const lenient = await api('GET', '/v1/inventory', '/v1/inventory?stale_after=20', floor1);
    expect(lenient.body.summary).toEqual({ fresh: 2, stale: 0, 'never-seen': 1 });
  });

  it('measures ages in whole seconds by its clock; fresh up to stale_after intervals, inclusive', async () => {
    const now = Date.parse('2026-12-02T12:00:00.000Z');
    const at = (offsetMs: number) => new Date(now + offsetMs).toISOString();
    const devices = [
      { ...m.devices[0], expected_interval: 60 },
      { ...m.devices[1], expected_interval: 60 },
      { ...m.devices[0], device_id: 'ahead', entity_name: 'urn:ngsi:bot:4', expected_interval: 60 },
      {
        ...m.devices[0],
        device_id: 'quiet',
        entity_name: 'urn:ngsi:bot:3',
        expected_interval: undefined,
      },
    ];
    await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', { ...floor1, body: { devices } });
    await seedEntity('manufracture', '/floor1', 'urn:ngsi:bot:1', at(-180_400)); // 180 s: 3 × 60
    await seedEntity('manufracture', '/floor1', 'urn:ngsi:bot:2', at(-180_600)); // 181 s
    await seedEntity('manufracture', '/floor1', 'urn:ngsi:bot:4', at(30_000)); // a clock ahead
    clock = now;
    try {
      const inv = await api('GET', '/v1/inventory', '/v1/inventory', floor1);
      expect(inv.status).toBe(200);
      expect(inv.body).toMatchObject({ stale_after: 3, generated_at: at(0) });
      const byId = Object.fromEntries(
        inv.body.devices.map((d: { device_id: string }) => [d.device_id, d]),
      );
      expect(byId).toEqual({
        foodev: {
          device_id: 'foodev',
          protocol: 'ultralight',
          entity_name: 'urn:ngsi:bot:1',
          entity_type: 'Bot',
          expected_interval: 60,
          last_measurement: at(-180_400),
          age_seconds: 180,
          state: 'fresh',
        },
        bardev: expect.objectContaining({ age_seconds: 181, state: 'stale' }),
        ahead: expect.objectContaining({
          last_measurement: at(30_000),
          age_seconds: 0,
          state: 'fresh',
        }),
        quiet: expect.objectContaining({
          expected_interval: 300,
          last_measurement: null,
          age_seconds: null,
          state: 'never-seen',
        }),
      });
      expect(inv.body.summary).toEqual({ fresh: 2, stale: 1, 'never-seen': 1 });
      // One interval less: 180 s is stale too.
      const strict = await api('GET', '/v1/inventory', '/v1/inventory?stale_after=2', floor1);
      expect(strict.body.summary).toEqual({ fresh: 1, stale: 2, 'never-seen': 1 });
    } finally {
      clock = undefined;
    }
  });
});

describe('device events to the monitor (PLATFORM_EVENTS_URL)', () => {
  beforeEach(async () => {
    await reset();
    await api('PUT', '/v1/groups', '/v1/groups', { ...floor1, body: m.group });
  });

  const olga = () => stack.token({ claims: { name: 'Olga Operator', email: 'olga@example.test' } });
  const BY = 'Olga Operator <olga@example.test>';
  /** manufracture's journal in the monitor, once the service has sent what it holds: `ids` only. */
  const journal = async (...ids: string[]) => {
    await stack.service.events.flush();
    return (monitor.store.doc.journal.manufracture ?? []).filter((e) =>
      ids.includes(String(e.data.id)),
    );
  };
  const device = (id: string, n: number) => ({
    ...m.devices[0],
    device_id: id,
    entity_name: `urn:ngsi:bot:evt${n}`,
  });

  it('raises device.provisioned for each device a write creates or replaces, with who did it; nothing on a dry run, for a device left unchanged or one that failed', async () => {
    const token = await olga();
    const devices = [device('evt1', 1), device('evt2', 2), { device_id: 'evt3' }];
    // The failing item is outside the document, so these two go out unchecked.
    const dry = await stack.call('POST', '/v1/devices/bulk?dry_run=true', {
      ...floor1,
      token,
      body: { devices },
    });
    expect(dry.body.dry_run).toBe(true);
    expect(await journal('evt1', 'evt2', 'evt3')).toEqual([]);

    const started = new Date().toISOString();
    const written = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      token,
      headers: { 'fiware-correlator': 'evt-bulk' },
      body: { devices },
    });
    expect(written.status).toBe(207);
    expect(written.body.results.map((r: { status: string }) => r.status)).toEqual([
      'created',
      'created',
      'failed',
    ]);
    const created = await journal('evt1', 'evt2', 'evt3');
    expect(created).toEqual(
      [1, 2].map((n) => ({
        id: eventId(
          'provisioning.device.provisioned',
          'manufracture',
          '/floor1',
          `evt${n}`,
          'evt-bulk',
        ),
        type: eventTypeOf('provisioning.device.provisioned'),
        source: expect.any(String),
        subject: `devices/evt${n}`,
        tenant: 'manufracture',
        time: expect.any(String),
        data: {
          tenant: 'manufracture',
          kind: 'device',
          id: `evt${n}`,
          protocol: 'ultralight',
          service_path: '/floor1',
          entity_id: `urn:ngsi:bot:evt${n}`,
          entity_type: m.devices[0]!.entity_type,
          by: BY,
        },
      })),
    );
    for (const e of created) {
      expect(e.time >= started && e.time <= new Date().toISOString()).toBe(true);
    }

    // The same write again changes nothing: no event.
    const again = await api('POST', '/v1/devices/bulk', '/v1/devices/bulk', {
      ...floor1,
      token,
      body: { devices: devices.slice(0, 2) },
    });
    expect(again.body.results.map((r: { status: string }) => r.status)).toEqual([
      'unchanged',
      'unchanged',
    ]);
    expect(await journal('evt1', 'evt2', 'evt3')).toHaveLength(2);

    // A device replaced through its own path: one event, under that request's correlator.
    const put = await api('PUT', '/v1/devices/{id}', '/v1/devices/evt1', {
      ...floor1,
      token,
      headers: { 'fiware-correlator': 'evt-put' },
      body: { ...device('evt1', 1), entity_name: 'urn:ngsi:bot:evt11' },
    });
    expect(put.body.status).toBe('updated');
    const after = await journal('evt1');
    expect(after).toHaveLength(2);
    expect(after[1]).toMatchObject({
      id: eventId('provisioning.device.provisioned', 'manufracture', '/floor1', 'evt1', 'evt-put'),
      data: { id: 'evt1', entity_id: 'urn:ngsi:bot:evt11', by: BY },
    });
  });

  it('raises device.deleted with the protocol and entity of the device it deleted, and nothing for one that is not there', async () => {
    const token = await olga();
    // A JSON device: the protocol in the event is the device's, not the default.
    const put = await api('PUT', '/v1/devices/{id}', '/v1/devices/evt4', {
      ...floor1,
      token,
      body: { ...device('evt4', 4), protocol: 'json' },
    });
    expect(put.status).toBe(201);
    const del = await api('DELETE', '/v1/devices/{id}', '/v1/devices/evt4', {
      ...floor1,
      token,
      headers: { 'fiware-correlator': 'evt-del' },
    });
    expect(del.status).toBe(204);
    const missing = await api('DELETE', '/v1/devices/{id}', '/v1/devices/evt4', {
      ...floor1,
      token,
    });
    expect(missing.status).toBe(404);
    const deleted = (await journal('evt4')).filter(
      (e) => e.type === eventTypeOf('provisioning.device.deleted'),
    );
    expect(deleted).toEqual([
      expect.objectContaining({
        id: eventId('provisioning.device.deleted', 'manufracture', '/floor1', 'evt4', 'evt-del'),
        subject: 'devices/evt4',
        tenant: 'manufracture',
        data: {
          tenant: 'manufracture',
          kind: 'device',
          id: 'evt4',
          protocol: 'json',
          service_path: '/floor1',
          entity_id: 'urn:ngsi:bot:evt4',
          by: BY,
        },
      }),
    ]);
  });
});

/** Writes an entity with a TimeInstant into the Orion fake, as the agent would on a measurement. */
async function seedEntity(
  service: string,
  servicePath: string,
  id: string,
  at: string,
): Promise<void> {
  const res = await fetch(`${stack.orion.url}/v2/entities?options=upsert`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'fiware-service': service,
      'fiware-servicepath': servicePath,
    },
    body: JSON.stringify({ id, type: 'Bot', TimeInstant: { type: 'DateTime', value: at } }),
  });
  expect([201, 204]).toContain(res.status);
}
