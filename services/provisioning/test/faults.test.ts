/**
 * Faults: the IoT Agent down, Orion failing in the middle of a batch, a slow upstream. After
 * each, the IoT Agent and Orion must agree: every device the agent holds is one the service
 * reported as provisioned, and Orion holds a registration for exactly the agent's devices with
 * commands. And the correlator and the logs: propagated, structured, without API keys.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';

import { API_KEYS_BUNDLE_PATH, apiKeyDigest } from '../../../platform/policy-data.js';

import type { ProvisioningErrorCode } from '../src/errors.js';
import type { FaultRule } from '../../../testing/support/fault-proxy.js';
import type { ProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import {
  ANCHOR,
  catalogueProblem,
  startProvisioningStack,
} from '../../../testing/stack/provisioning-stack.js';

const m = ANCHOR.manufracture;
const floor1 = { servicePath: m.servicePath };

/** `n` devices with a command each (the agent registers them in Orion). */
function commandDevices(n: number, prefix = 'cmd') {
  return Array.from({ length: n }, (_, i) => ({
    ...m.devices[0],
    device_id: `${prefix}${i}`,
    entity_name: `urn:ngsi:bot:${prefix}${i}`,
    commands: [{ name: 'ping' }],
  }));
}

async function agentDeviceIds(stack: ProvisioningStack): Promise<string[]> {
  const res = await fetch(`${stack.iotaUrl}/iot/devices?limit=1000`, {
    headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': '/floor1' },
  });
  return ((await res.json()) as { devices: { device_id: string }[] }).devices
    .map((d) => d.device_id)
    .sort();
}

/** Entity ids Orion has registrations for. */
function registeredEntities(stack: ProvisioningStack): string[] {
  return stack.orion
    .registrations('manufracture')
    .flatMap((r) =>
      (r as { dataProvided: { entities: { id: string }[] } }).dataProvided.entities.map(
        (e) => e.id,
      ),
    )
    .sort();
}

/** The agent's answer to a request the proxy refuses with a 500. */
const INTERNAL = {
  kind: 'refuse',
  status: 500,
  body: { name: 'INTERNAL', message: 'injected' },
} as const;

/** A 400 the proxy answers in the agent's stead, saying `message`. */
const badRequest = (message: string) =>
  ({ kind: 'refuse', status: 400, body: { name: 'BAD', message } }) as const;

/** The device ids of an agent request's body. */
const ids = (body: unknown) =>
  ((body as { devices?: { device_id: string }[] })?.devices ?? []).map((d) => d.device_id);

/**
 * The chunk holding cmd5 is refused before the agent sees it, so the service creates its
 * devices one by one; cmd5's own create reaches the agent, which stores the device (and
 * registers its command in Orion), and its answer is lost on the way back.
 */
const cmd5Lost: FaultRule = (req) => {
  if (req.method !== 'POST' || !req.url.startsWith('/iot/devices')) return undefined;
  const list = ids(req.body);
  if (!list.includes('cmd5')) return undefined;
  return list.length > 1 ? INTERNAL : { kind: 'lose-response' };
};

describe('with the IoT Agent and Orion failing', () => {
  let stack: ProvisioningStack;
  beforeAll(async () => {
    stack = await startProvisioningStack({
      chunkSize: 4,
      agentProxy: true,
      env: { UPSTREAM_TIMEOUT_MS: '400' },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(async () => {
    stack.orion.fault(undefined);
    stack.agentProxy!.fault(undefined);
    for (const id of await agentDeviceIds(stack))
      await stack.call('DELETE', `/v1/devices/${id}`, floor1);
    stack.orion.reset();
  });

  it('rolls back only the device Orion refused when it answers 500 in the middle of a batch', async () => {
    stack.orion.fault((req) =>
      req.method === 'POST' &&
      req.path === '/v2/registrations' &&
      JSON.stringify(req.body).includes('urn:ngsi:bot:cmd5')
        ? { status: 500, body: { error: 'InternalServerError', description: 'database down' } }
        : undefined,
    );
    const res = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: commandDevices(10) },
    });
    expect(res.status).toBe(207);
    expect(res.body.summary).toEqual({ created: 9, updated: 0, unchanged: 0, failed: 1 });
    const failed = res.body.results.find((r: { status: string }) => r.status === 'failed');
    expect(failed).toMatchObject({ device_id: 'cmd5', code: 'ERR_UPSTREAM_REJECTED' });
    expect(failed.reason).toMatch(/iot-agent refused the device \(\d+: .*/);
    // The agent and Orion agree: 9 devices, 9 registrations, none for cmd5.
    const ids = await agentDeviceIds(stack);
    expect(ids).toEqual(
      commandDevices(10)
        .map((d) => d.device_id)
        .filter((id) => id !== 'cmd5')
        .sort(),
    );
    expect(registeredEntities(stack)).toEqual(ids.map((id) => `urn:ngsi:bot:${id}`).sort());
    // Re-running once Orion is back provisions the missing one and leaves the rest alone.
    stack.orion.fault(undefined);
    const again = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: commandDevices(10) },
    });
    expect(again.body.summary).toEqual({ created: 1, updated: 0, unchanged: 9, failed: 0 });
    expect(registeredEntities(stack)).toHaveLength(10);
  });

  it('restores the previous definition when replacing a device fails', async () => {
    const [original] = commandDevices(1, 'keep');
    await stack.call('POST', '/v1/devices/bulk', { ...floor1, body: { devices: [original] } });
    let refused = 0;
    stack.orion.fault((req) => {
      if (
        req.method === 'POST' &&
        req.path === '/v2/registrations' &&
        JSON.stringify(req.body).includes('reboot') &&
        refused++ === 0
      ) {
        return { status: 500, body: { error: 'InternalServerError', description: 'boom' } };
      }
      return undefined;
    });
    const res = await stack.call('PUT', '/v1/devices/keep0', {
      ...floor1,
      body: { ...original, device_id: undefined, commands: [{ name: 'reboot' }] },
    });
    expect(res.status).toBe(502);
    expect(res.body.detail).toMatch(/previous definition was restored/);
    const now = await stack.call('GET', '/v1/devices/keep0', floor1);
    expect(now.body.commands).toEqual([{ name: 'ping', type: 'command' }]);
    expect(registeredEntities(stack)).toEqual(['urn:ngsi:bot:keep0']);
  });

  it('answers 503 with Retry-After and writes nothing when Orion times out before a write', async () => {
    stack.orion.fault((req) => (req.path === '/version' ? { delayMs: 1500 } : undefined));
    const res = await stack.call('POST', '/v1/devices/bulk?dry_run=false', {
      ...floor1,
      headers: { 'fiware-correlator': 'orion-slow' },
      body: { devices: commandDevices(3, 'slow') },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.body.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
    expect(res.body.detail).toMatch(/orion did not answer GET \/version within 400 ms/);
    // The path without its query, as for every problem.
    expect(res.body.instance).toBe('/provisioning/v1/devices/bulk');
    // A failure of the service's own (5xx) is logged as a warning with what the caller read.
    expect(
      stack.logs.filter((l) => l.correlator === 'orion-slow' && l.msg === 'request failed'),
    ).toEqual([
      expect.objectContaining({
        level: 'warn',
        code: 'ERR_UPSTREAM_UNAVAILABLE',
        detail: res.body.detail,
      }),
    ]);
    expect(await agentDeviceIds(stack)).toEqual([]);
  });

  it('asks Orion first only for a batch that writes commands, never for a dry run', async () => {
    // Orion answers nothing; devices without commands need it not, nor a dry run.
    stack.orion.fault((req) => (req.path === '/version' ? { delayMs: 1500 } : undefined));
    const plain = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: commandDevices(2, 'plain').map((d) => ({ ...d, commands: [] })) },
    });
    expect(plain.status).toBe(200);
    const dry = await stack.call('POST', '/v1/devices/bulk?dry_run=true', {
      ...floor1,
      body: { devices: commandDevices(2, 'dry') },
    });
    expect(dry.status).toBe(200);
    expect(dry.body.summary).toMatchObject({ created: 2 });
    expect(stack.orion.requests.filter((r) => r.path === '/version')).toEqual([]);
    expect(await agentDeviceIds(stack)).toEqual(['plain0', 'plain1']);
    // One device with commands is enough to need Orion: nothing of that batch is written.
    const mixed = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: {
        devices: [...commandDevices(1, 'mixed'), { ...commandDevices(1, 'bare')[0], commands: [] }],
      },
    });
    expect(mixed.status).toBe(503);
    expect(await agentDeviceIds(stack)).toEqual(['plain0', 'plain1']);
  });

  it('retries idempotent reads, never a POST', async () => {
    let versionCalls = 0;
    stack.orion.fault((req) => {
      if (req.path === '/version' && versionCalls++ < 2)
        return { status: 503, body: { error: 'ServiceUnavailable', description: 'busy' } };
      return undefined;
    });
    const ok = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: commandDevices(1, 'retry') },
    });
    expect(ok.status).toBe(200);
    expect(versionCalls).toBe(3);
    // A subscription POST that fails is not repeated.
    const before = stack.orion.requests.filter(
      (r) => r.method === 'POST' && r.path === '/v2/subscriptions',
    ).length;
    stack.orion.fault((req) =>
      req.method === 'POST' && req.path === '/v2/subscriptions'
        ? { status: 503, body: { error: 'ServiceUnavailable', description: 'busy' } }
        : undefined,
    );
    const token = await stack.token({ claims: { roles: ['manufracture:tenant-admin'] } });
    const sub = await stack.call('PUT', '/v1/subscriptions/quantumleap', { token });
    expect(sub.status).toBe(503);
    const after = stack.orion.requests.filter(
      (r) => r.method === 'POST' && r.path === '/v2/subscriptions',
    ).length;
    expect(after - before).toBe(1);
  });

  it('passes the fiware-correlator upstream and into the logs, and never logs an API key', async () => {
    await stack.call('PUT', '/v1/groups', {
      ...floor1,
      body: { ...m.group, apikey: 'sekritKey42' },
    });
    const correlator = 'test-correlator-42';
    const res = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      headers: { 'fiware-correlator': correlator },
      body: { devices: commandDevices(1, 'corr').map((d) => ({ ...d, apikey: 'sekritKey42' })) },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('fiware-correlator')).toBe(correlator);
    // The service's own calls carry it (the agent does not pass it on to its registrations).
    expect(
      stack.orion.requests.filter((r) => r.correlator === correlator).map((r) => r.path),
    ).toEqual(['/version']);
    const line = stack.logs.find((l) => l.correlator === correlator && l.msg === 'request');
    expect(line).toMatchObject({
      method: 'POST',
      path: '/provisioning/v1/devices/bulk',
      status: 200,
      tenant: 'manufracture',
    });
    // Also when the group is read back and a duplicate is refused with the key in the agent's message.
    await stack.call('GET', '/v1/groups', floor1);
    await stack.call('PUT', '/v1/groups', {
      ...floor1,
      body: { ...m.group, apikey: 'otherKey99' },
    });
    expect(stack.logText()).not.toContain('sekritKey42');
    expect(stack.logText()).not.toContain('otherKey99');
    await stack.call('DELETE', '/v1/groups', floor1);
  });

  it('rolls back a device the agent stored but whose confirmation was lost', async () => {
    stack.agentProxy!.fault(cmd5Lost);
    const res = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: commandDevices(8) },
    });
    expect(stack.agentProxy!.injected).toEqual([
      'refuse POST /iot/devices',
      expect.stringMatching(/^lose-response POST \/iot\/devices \(upstream answered 201\)$/),
    ]);
    expect(res.status).toBe(207);
    const results = res.body.results as {
      device_id: string;
      status: string;
      code?: string;
      reason?: string;
    }[];
    const cmd5 = results.find((r) => r.device_id === 'cmd5')!;
    expect(cmd5.status).toBe('failed');
    expect(cmd5.reason).not.toMatch(/rolling back also failed/);
    // A lost answer counts as the agent being unavailable: the rest of the batch is not tried.
    expect(results.filter((r) => r.status === 'failed').map((r) => r.device_id)).toEqual([
      'cmd5',
      'cmd6',
      'cmd7',
    ]);
    // Rolled back: the agent holds exactly the created ones, and Orion no registration of cmd5.
    const held = await agentDeviceIds(stack);
    expect(held).toEqual(
      results
        .filter((r) => r.status === 'created')
        .map((r) => r.device_id)
        .sort(),
    );
    expect(held).not.toContain('cmd5');
    expect(registeredEntities(stack)).toEqual(held.map((id) => `urn:ngsi:bot:${id}`).sort());
  });

  it('creates a batch in requests of the chunk size, and sends no empty one', async () => {
    const sizes: number[] = [];
    stack.agentProxy!.fault((req) => {
      if (req.method === 'POST' && req.url.startsWith('/iot/devices'))
        sizes.push((req.body as { devices: unknown[] }).devices.length);
      return undefined;
    });
    const res = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: commandDevices(8, 'chunk') },
    });
    stack.agentProxy!.fault(undefined);
    expect(res.body.summary.created).toBe(8);
    expect(sizes).toEqual([4, 4]);
  });

  it('counts a chunk the agent stored but whose answer was lost as created, group commands and all', async () => {
    // The agent copies a group's commands into a device that has none of its own: the stored
    // devices then have a command the requests did not name, and are still as requested.
    const at = { servicePath: '/lost' };
    const group = await stack.call('PUT', '/v1/groups', {
      ...at,
      body: { entity_type: 'Bot', commands: [{ name: 'reset' }] },
    });
    expect(group.status).toBe(201);
    const apikey = group.body.group.apikey as string;
    const devices = [0, 1, 2, 3].map((i) => ({
      ...m.devices[0],
      device_id: `lost${i}`,
      entity_name: `urn:ngsi:bot:lost${i}`,
      apikey,
      commands: [],
    }));
    const injectedBefore = stack.agentProxy!.injected.length;
    stack.agentProxy!.fault((req) =>
      req.method === 'POST' && req.url.startsWith('/iot/devices')
        ? { kind: 'lose-response' }
        : undefined,
    );
    const res = await stack.call('POST', '/v1/devices/bulk', { ...at, body: { devices } });
    stack.agentProxy!.fault(undefined);
    expect(stack.agentProxy!.injected.slice(injectedBefore)).toEqual([
      expect.stringMatching(/^lose-response POST \/iot\/devices \(upstream answered 201\)$/),
    ]);
    expect(res.status).toBe(200);
    expect(
      (res.body.results as { device_id: string; status: string }[]).map((r) => r.status),
    ).toEqual(['created', 'created', 'created', 'created']);
    const stored = await stack.call('GET', '/v1/devices/lost0', at);
    expect(stored.body.commands).toEqual([expect.objectContaining({ name: 'reset' })]);
    for (const d of devices) await stack.call('DELETE', `/v1/devices/${d.device_id}`, at);
    expect((await stack.call('DELETE', '/v1/groups', at)).status).toBe(204);
  });

  it('puts a group back as it was when the agent refuses its replacement', async () => {
    const at = { servicePath: '/regroup' };
    const first = await stack.call('PUT', '/v1/groups', { ...at, body: { entity_type: 'Bot' } });
    expect(first.status).toBe(201);
    const key = first.body.group.apikey as string;
    // A change replaces the group (delete, then create); the agent refuses the create once.
    const injectedBefore = stack.agentProxy!.injected.length;
    let refused = 0;
    stack.agentProxy!.fault((req) =>
      req.method === 'POST' && req.url.startsWith('/iot/services') && refused++ === 0
        ? INTERNAL
        : undefined,
    );
    const res = await stack.call('PUT', '/v1/groups', {
      ...at,
      body: {
        entity_type: 'Bot',
        static_attributes: [{ name: 'site', type: 'Text', value: 'Rome' }],
      },
    });
    stack.agentProxy!.fault(undefined);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_UPSTREAM_REJECTED');
    expect(res.body.detail).toBe('iot-agent refused the request (500: INTERNAL: injected)');
    expect(stack.agentProxy!.injected.slice(injectedBefore)).toEqual(['refuse POST /iot/services']);
    // The agent holds the group as it was: its key, no new attribute.
    const held = await fetch(`${stack.iotaUrl}/iot/services`, {
      headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': '/regroup' },
    }).then((r) => r.json() as Promise<{ services: Record<string, unknown>[] }>);
    expect(held.services).toHaveLength(1);
    expect(held.services[0]).toMatchObject({ apikey: key, resource: '/iot/d', entity_type: 'Bot' });
    expect(held.services[0]!.static_attributes ?? []).toEqual([]);
    expect((await stack.call('DELETE', '/v1/groups', at)).status).toBe(204);
  });

  /** Records the requests the proxy forwards (`METHOD url`), then applies `rule`. */
  function recordThen(rule: FaultRule = () => undefined): string[] {
    const seen: string[] = [];
    stack.agentProxy!.fault((req) => {
      seen.push(`${req.method} ${req.url}`);
      return rule(req);
    });
    return seen;
  }
  const isList = (r: string) => r.startsWith('GET /iot/devices?');
  const isRead = (r: string) => r.startsWith('GET /iot/devices/');
  const isPost = (r: string) => r.startsWith('POST /iot/devices');
  /** The requests that write. */
  const writes = (seen: string[]) => seen.filter((r) => !r.startsWith('GET'));
  const after = (seen: string[], first: (r: string) => boolean) =>
    seen.slice(seen.findIndex(first));
  const bulk = (devices: object[]) =>
    stack.call('POST', '/v1/devices/bulk', { ...floor1, body: { devices } });
  type Result = { device_id: string; status: string; code?: string; reason?: string };
  const results = (body: { results: Result[] }) => body.results;

  /** The agent reads the API-key publisher makes: every group of a tenant, page by page. */
  const tenantReads = (seen: string[]) => seen.filter((r) => r.startsWith('GET /iot/services?'));
  const logsOf = (msg: string) => stack.logs.filter((l) => l.msg === msg);

  it('publishes the API keys before it answers a group write or delete, never after a dry run or a write that changes nothing', async () => {
    const at = { servicePath: '/keysnow' };
    const group = { entity_type: 'Bot', apikey: 'keysNowK3y' };
    const published = () => logsOf('API keys published').length;
    /** Sends one request; the tenant reads and publications it caused before its answer. */
    const step = async (method: string, path: string, body?: object) => {
      const seen = recordThen();
      const before = published();
      const correlator = `keys-now-${randomUUID()}`;
      const res = await stack.call(method, path, {
        ...at,
        headers: { 'fiware-correlator': correlator },
        ...(body ? { body } : {}),
      });
      stack.agentProxy!.fault(undefined);
      const answered = stack.logs.findIndex(
        (l) => l.correlator === correlator && l.msg === 'request',
      );
      const publishedBefore = stack.logs
        .slice(0, answered)
        .filter((l) => l.msg === 'API keys published').length;
      return {
        status: res.status,
        reads: tenantReads(seen).length,
        published: published() - before,
        publishedBefore: publishedBefore - before,
      };
    };
    // The read the service began at its start is over (a bundle request joins it).
    expect((await fetch(`${stack.url}${API_KEYS_BUNDLE_PATH}`)).status).toBe(200);
    const none = { reads: 0, published: 0, publishedBefore: 0 };
    expect(await step('PUT', '/v1/groups?dry_run=true', group)).toMatchObject({
      status: 201,
      ...none,
    });
    // Both agents are read for every tenant: the Ultralight one through the proxy.
    const tenants = (stack.config.policyData as { tenants: string[] }).tenants.length;
    expect(await step('PUT', '/v1/groups', group)).toEqual({
      status: 201,
      reads: tenants,
      published: 1,
      publishedBefore: 1,
    });
    // The log line names the revision published: the one the bundle is now served as.
    const revision = logsOf('API keys published').at(-1)!.revision;
    expect(revision).toMatch(/^[0-9a-f]{16}$/);
    const bundle = await fetch(`${stack.url}${API_KEYS_BUNDLE_PATH}`);
    expect(bundle.headers.get('etag')).toContain(String(revision));
    expect(await step('PUT', '/v1/groups', group)).toEqual({ status: 200, ...none });
    expect(await step('DELETE', '/v1/groups?protocol=ultralight')).toEqual({
      status: 204,
      reads: tenants,
      published: 1,
      publishedBefore: 1,
    });
  });

  it('writes a group whose keys cannot be republished and says so, serves no bundle (503, Retry-After) until the agent answers, then the new key', async () => {
    const at = { servicePath: '/keyslater' };
    const key = 'keysLaterK3y';
    const bundleUrl = `${stack.url}${API_KEYS_BUNDLE_PATH}`;
    recordThen((req) =>
      req.method === 'GET' && req.url.startsWith('/iot/services?') ? INTERNAL : undefined,
    );
    const res = await stack.call('PUT', '/v1/groups', {
      ...at,
      headers: { 'fiware-correlator': 'keys-later' },
      body: { entity_type: 'Bot', apikey: key },
    });
    expect(res.status).toBe(201);
    expect(
      logsOf('API keys not republished; the next poll will').filter(
        (l) => l.correlator === 'keys-later',
      ),
    ).toEqual([
      expect.objectContaining({
        level: 'warn',
        err: expect.stringContaining('INTERNAL: injected'),
      }),
    ]);
    const warned = logsOf('API-key bundle unavailable').length;
    const unavailable = await fetch(bundleUrl);
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get('retry-after')).toBe('5');
    expect(unavailable.headers.get('etag')).toBeNull();
    expect(logsOf('API-key bundle unavailable').slice(warned)).toEqual([
      expect.objectContaining({
        level: 'warn',
        err: expect.stringContaining('INTERNAL: injected'),
      }),
    ]);
    stack.agentProxy!.fault(undefined);
    const served = await fetch(bundleUrl);
    expect(served.status).toBe(200);
    expect(served.headers.get('retry-after')).toBeNull();
    const tar = gunzipSync(Buffer.from(await served.arrayBuffer())).toString('latin1');
    expect(tar).toContain(apiKeyDigest(key));
    expect(tar).not.toContain(key);
    expect((await stack.call('DELETE', '/v1/groups', at)).status).toBe(204);
  });

  it('answers a device PUT that was written but cannot be read back without the device, not as a failure', async () => {
    let written = false;
    const seen = recordThen((req) => {
      if (req.method === 'POST' && req.url.startsWith('/iot/devices')) written = true;
      else if (written && req.method === 'GET' && req.url.startsWith('/iot/devices/unread'))
        return INTERNAL;
      return undefined;
    });
    const res = await stack.call('PUT', '/v1/devices/unread', {
      ...floor1,
      body: { ...m.devices[0], device_id: 'unread', entity_name: 'urn:ngsi:bot:unread' },
    });
    stack.agentProxy!.fault(undefined);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ status: 'created', dry_run: false });
    // The read-back was asked for after the write (and refused), not only the look-up before it.
    expect(after(seen, isPost).some((r) => r.startsWith('GET /iot/devices/unread'))).toBe(true);
    expect(await agentDeviceIds(stack)).toContain('unread');
    // Read again, it is there as written.
    const read = await stack.call('GET', '/v1/devices/unread', floor1);
    expect(read.body).toMatchObject({ device_id: 'unread', entity_name: 'urn:ngsi:bot:unread' });
  });

  it('looks a few devices up one by one, and lists the path for more', async () => {
    let seen = recordThen();
    expect((await bulk(commandDevices(8, 'few'))).status).toBe(200);
    const before = (s: string[]) => s.slice(0, s.findIndex(isPost));
    expect(before(seen).filter(isRead)).toHaveLength(8);
    expect(before(seen).filter(isList)).toEqual([]);
    seen = recordThen();
    expect((await bulk(commandDevices(9, 'many'))).status).toBe(200);
    expect(before(seen).filter(isRead)).toEqual([]);
    expect(before(seen).filter(isList)).toHaveLength(1);
  });

  it('after a lost answer, reports the rest of the batch unavailable without sending it: later chunks and replacements too', async () => {
    const keep = commandDevices(1, 'keep')[0]!;
    expect((await bulk([keep])).status).toBe(200);
    const seen = recordThen(cmd5Lost);
    // 12 new devices in chunks of 4, and keep0 changed: the second chunk fails, and cmd5's
    // own answer is lost.
    const res = await bulk([...commandDevices(12), { ...keep, commands: [{ name: 'reboot' }] }]);
    expect(res.status).toBe(207);
    // Items that may succeed later: the answer says when to try again.
    expect(res.headers.get('retry-after')).toBe('5');
    const failed = results(res.body).filter((r) => r.status === 'failed');
    expect(failed.map((r) => r.device_id)).toEqual([
      'cmd5',
      'cmd6',
      'cmd7',
      'cmd8',
      'cmd9',
      'cmd10',
      'cmd11',
      'keep0',
    ]);
    for (const r of failed) {
      expect(r.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
      expect(r.reason).toMatch(/^not provisioned: iot-agent answered 502 to POST \/iot\/devices/);
    }
    // Nothing more reached the agent: the first two chunks and the lone creates of cmd4 and
    // cmd5 were sent, no third chunk, and no replacement of keep0.
    expect(seen.filter(isPost)).toHaveLength(4);
    expect(seen.filter((r) => r.startsWith('DELETE'))).toEqual(['DELETE /iot/devices/cmd5']);
    expect(await agentDeviceIds(stack)).toEqual(['cmd0', 'cmd1', 'cmd2', 'cmd3', 'cmd4', 'keep0']);
    const kept = await stack.call('GET', '/v1/devices/keep0', floor1);
    expect(kept.body.commands).toEqual([{ name: 'ping', type: 'command' }]);
  });

  it('counts a single device whose answer was lost as created, and sends it once', async () => {
    const seen = recordThen((req) =>
      isPost(`${req.method} ${req.url}`) ? { kind: 'lose-response' } : undefined,
    );
    const res = await bulk(commandDevices(1, 'alone'));
    expect(res.status).toBe(200);
    expect(results(res.body)).toEqual([{ index: 0, device_id: 'alone0', status: 'created' }]);
    expect(seen.filter(isPost)).toHaveLength(1);
    expect(seen.filter((r) => r.startsWith('DELETE'))).toEqual([]);
    expect(await agentDeviceIds(stack)).toEqual(['alone0']);
  });

  it('sends a device the agent refuses alone once, and says when rolling it back failed too', async () => {
    const seen = recordThen((req) =>
      req.method === 'POST' || req.method === 'DELETE' ? badRequest('injected refusal') : undefined,
    );
    const res = await bulk(commandDevices(1, 'refused'));
    expect(res.status).toBe(207);
    const [r] = results(res.body);
    expect(r).toMatchObject({
      device_id: 'refused0',
      status: 'failed',
      code: 'ERR_UPSTREAM_REJECTED',
    });
    expect(r!.reason).toBe(
      'iot-agent refused the device (400: BAD: injected refusal); rolling back also failed ' +
        '(iot-agent refused DELETE /iot/devices/refused0 with 400: BAD: injected refusal): ' +
        'provision it again to repair',
    );
    expect(writes(seen)).toEqual(['POST /iot/devices', 'DELETE /iot/devices/refused0']);
  });

  describe('a device another request created meanwhile', () => {
    // The service's read before the create is answered "not found" once (another request
    // creates the device just after it), so the agent refuses the create with 409.
    const hideOnce = (id: string, then?: FaultRule) => {
      let reads = 0;
      return recordThen((req) => {
        if (req.method === 'GET' && req.url === `/iot/devices/${id}` && reads++ === 0)
          return { kind: 'refuse', status: 404, body: { name: 'DEVICE_NOT_FOUND', message: id } };
        return then?.(req);
      });
    };

    it('is created when it is as requested', async () => {
      const d = commandDevices(1, 'same')[0]!;
      expect((await bulk([d])).status).toBe(200);
      const seen = hideOnce('same0');
      const res = await bulk([d]);
      expect(res.status).toBe(200);
      expect(results(res.body)).toEqual([{ index: 0, device_id: 'same0', status: 'created' }]);
      expect(writes(seen)).toEqual(['POST /iot/devices']);
    });

    it('is a conflict, and stays as the other request made it, when it differs', async () => {
      const d = commandDevices(1, 'other')[0]!;
      expect((await bulk([d])).status).toBe(200);
      const seen = hideOnce('other0');
      const res = await bulk([{ ...d, commands: [{ name: 'reboot' }] }]);
      expect(res.status).toBe(207);
      expect(results(res.body)).toEqual([
        {
          index: 0,
          device_id: 'other0',
          status: 'failed',
          code: 'ERR_PROVISIONING_CONFLICT',
          reason:
            'another request created this device meanwhile; run again to make it this definition',
        },
      ]);
      expect(writes(seen)).toEqual(['POST /iot/devices']);
      const held = await stack.call('GET', '/v1/devices/other0', floor1);
      expect(held.body.commands).toEqual([{ name: 'ping', type: 'command' }]);
    });

    it('is reported as the agent answers when it cannot be read back', async () => {
      const d = commandDevices(1, 'unread')[0]!;
      expect((await bulk([d])).status).toBe(200);
      hideOnce('unread0', (req) =>
        req.method === 'GET' && req.url === '/iot/devices/unread0'
          ? badRequest('no reads')
          : undefined,
      );
      const res = await bulk([d]);
      expect(results(res.body)).toEqual([
        {
          index: 0,
          device_id: 'unread0',
          status: 'failed',
          code: 'ERR_UPSTREAM_REJECTED',
          reason: 'iot-agent refused the device (400: BAD: no reads)',
        },
      ]);
      expect(await agentDeviceIds(stack)).toEqual(['unread0']);
    });
  });

  describe('settling a failed chunk', () => {
    const refuseChunks: FaultRule = (req) =>
      req.method === 'POST' && ids(req.body).length > 1 ? INTERNAL : undefined;

    it('lists the path until two listings agree, and reads no device on its own', async () => {
      const seen = recordThen((req) =>
        req.method === 'POST' ? { kind: 'lose-response' } : undefined,
      );
      const res = await bulk(commandDevices(4, 'settle'));
      expect(results(res.body).map((r) => r.status)).toEqual(Array(4).fill('created'));
      const since = after(seen, isPost);
      expect(since.filter(isList)).toHaveLength(2);
      expect(since.filter(isRead)).toEqual([]);
      expect(since.filter(isPost)).toHaveLength(1);
    });

    it('takes the same devices listed in another order as settled', async () => {
      let n = 0;
      const seen = recordThen((req) => {
        if (req.method === 'GET' && req.url.startsWith('/iot/devices?')) {
          const both = [{ device_id: 'ghostA' }, { device_id: 'ghostB' }];
          return {
            kind: 'refuse',
            status: 200,
            body: { count: 2, devices: n++ % 2 ? both.reverse() : both },
          };
        }
        return refuseChunks(req);
      });
      const res = await bulk(commandDevices(4, 'order'));
      expect(results(res.body).map((r) => r.status)).toEqual(Array(4).fill('created'));
      expect(after(seen, isPost).filter(isList)).toHaveLength(2);
    });

    it('gives up waiting after 20 listings when the listing keeps changing, then creates one by one', async () => {
      let n = 0;
      const seen = recordThen((req) => {
        if (req.method === 'GET' && req.url.startsWith('/iot/devices?'))
          return {
            kind: 'refuse',
            status: 200,
            body: { count: 1, devices: [{ device_id: `ghost${n++}` }] },
          };
        return refuseChunks(req);
      });
      const res = await bulk(commandDevices(4, 'moving'));
      expect(results(res.body).map((r) => r.status)).toEqual(Array(4).fill('created'));
      const since = after(seen, isPost);
      expect(since.filter(isList)).toHaveLength(20);
      expect(since.filter(isPost)).toHaveLength(5);
      expect(await agentDeviceIds(stack)).toEqual(['moving0', 'moving1', 'moving2', 'moving3']);
    });

    it('reads each device when the path cannot be listed, and reports a device that cannot be read', async () => {
      let posted = false;
      let seen = recordThen((req) => {
        if (req.method === 'POST') posted = true;
        if (posted && req.method === 'GET' && req.url.startsWith('/iot/devices?'))
          return badRequest('no listing');
        return refuseChunks(req);
      });
      const ok = await bulk(commandDevices(4, 'unlisted'));
      expect(results(ok.body).map((r) => r.status)).toEqual(Array(4).fill('created'));
      expect(after(seen, isPost).filter(isRead)).toHaveLength(4);
      posted = false;
      seen = recordThen((req) => {
        if (req.method === 'POST') posted = true;
        if (posted && req.method === 'GET' && req.url.startsWith('/iot/devices'))
          return badRequest('no reads');
        return refuseChunks(req);
      });
      const bad = await bulk(commandDevices(4, 'unread'));
      expect(bad.status).toBe(207);
      expect(results(bad.body)).toEqual(
        commandDevices(4, 'unread').map((d, index) => ({
          index,
          device_id: d.device_id,
          status: 'failed',
          code: 'ERR_UPSTREAM_REJECTED',
          reason: 'iot-agent refused the device (400: BAD: no reads)',
        })),
      );
      expect(seen.filter(isPost)).toHaveLength(1);
    });
  });

  describe('a replacement whose create the agent refuses', () => {
    const refusal = badRequest('no');
    /** Refuses the agent's POSTs, and its DELETEs after the first `deletes` (-1: none). */
    const refuse = (deletes: number) => {
      let n = 0;
      return recordThen((req) => {
        if (req.method === 'POST') return refusal;
        if (req.method === 'DELETE' && deletes >= 0 && n++ >= deletes) return refusal;
        return undefined;
      });
    };
    const changed = (d: object) => ({ ...d, commands: [{ name: 'reboot' }] });
    const created = 'iot-agent refused the device (400: BAD: no); ';

    it.each([
      {
        what: 'removing what the create left',
        id: 'same0',
        deletes: 1,
        refused: 'DELETE /iot/devices/same0',
        after: ['DELETE /iot/devices/same0'],
      },
      {
        what: 'restoring the previous definition',
        id: 'gone0',
        deletes: -1,
        refused: 'POST /iot/devices',
        after: ['DELETE /iot/devices/gone0', 'POST /iot/devices'],
      },
    ])(
      'says so when $what fails too, in the same agent',
      async ({ id, deletes, refused, after }) => {
        const d = commandDevices(1, id.slice(0, -1))[0]!;
        expect((await bulk([d])).status).toBe(200);
        const seen = refuse(deletes);
        const [r] = results((await bulk([changed(d)])).body);
        expect(r).toMatchObject({ status: 'failed', code: 'ERR_UPSTREAM_REJECTED' });
        expect(r!.reason).toBe(
          `${created}restoring the previous definition also failed (iot-agent refused ` +
            `${refused} with 400: BAD: no): provision it again to repair`,
        );
        expect(writes(seen)).toEqual([`DELETE /iot/devices/${id}`, 'POST /iot/devices', ...after]);
      },
    );

    describe('moving a device from the JSON agent', () => {
      const jsonDevice = (id: string) => ({
        ...m.devices[0],
        device_id: id,
        entity_name: `urn:ngsi:bot:${id}`,
        protocol: 'json' as const,
      });
      const moved = (id: string) => ({ ...jsonDevice(id), protocol: 'ultralight' as const });
      const inJson = async (id: string) =>
        (
          await fetch(`${stack.jsonAgent.northUrl}/iot/devices/${id}`, {
            headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': '/floor1' },
          })
        ).status;
      afterEach(async () => {
        stack.agentProxy!.fault(undefined);
        for (const id of ['mv0', 'mv1']) await stack.call('DELETE', `/v1/devices/${id}`, floor1);
      });

      it('restores it there when the UltraLight agent refuses it', async () => {
        expect((await bulk([jsonDevice('mv0')])).status).toBe(200);
        refuse(-1);
        const [r] = results((await bulk([moved('mv0')])).body);
        expect(r!.reason).toBe(created + 'the previous definition was restored');
        expect(await inJson('mv0')).toBe(200);
        expect(await agentDeviceIds(stack)).toEqual([]);
      });

      it('restores it there even when the UltraLight agent will not remove what it left, and says so', async () => {
        expect((await bulk([jsonDevice('mv1')])).status).toBe(200);
        const seen = refuse(0);
        const [r] = results((await bulk([moved('mv1')])).body);
        expect(r!.reason).toBe(
          created +
            'the previous definition was restored; removing any copy from the ultralight IoT ' +
            'agent failed (iot-agent refused DELETE /iot/devices/mv1 with 400: BAD: no): ' +
            'provision it again once that agent answers',
        );
        expect(writes(seen)).toEqual(['POST /iot/devices', 'DELETE /iot/devices/mv1']);
        expect(await inJson('mv1')).toBe(200);
      });
    });
  });

  it('names an invalid item by its device id when it has one, with every field error as its reason', async () => {
    const res = await bulk([
      null,
      { device_id: 'bad0', entity_name: 5 },
      { device_id: 7 },
    ] as object[]);
    expect(res.status).toBe(207);
    const items = res.body.results as (Result & {
      index: number;
      errors: { field: string; message: string }[];
    })[];
    expect(items.map((r) => [r.index, r.device_id, r.status, r.code])).toEqual([
      [0, undefined, 'failed', 'ERR_PROVISIONING_INVALID'],
      [1, 'bad0', 'failed', 'ERR_PROVISIONING_INVALID'],
      [2, undefined, 'failed', 'ERR_PROVISIONING_INVALID'],
    ]);
    for (const r of items) {
      expect(r.errors.length).toBeGreaterThan(0);
      expect(r.reason).toBe(r.errors.map((e) => `${e.field}: ${e.message}`).join('; '));
    }
    expect(items[1]!.errors.map((e) => e.field)).toContain('devices[1].entity_name');
  });

  it('answers a single device that failed with the status of its failure, the field errors named as in its body, Retry-After only when the agent was unavailable', async () => {
    const { device_id: _id, ...device } = m.devices[0]!;
    /** The problem for `id` as the error catalogue words `code`. */
    const problem = (id: string, code: ProvisioningErrorCode, status: number, detail: string) =>
      catalogueProblem(`/provisioning/v1/devices/${id}`, code, status, detail);
    /** A PUT of `id`, the agent answering its create as `refusal` says. */
    const put = async (
      id: string,
      refusal?: { status: number; body: unknown },
      apikey?: string,
    ) => {
      stack.agentProxy!.fault((req) =>
        refusal && req.method === 'POST' && req.url.startsWith('/iot/devices')
          ? { kind: 'refuse', ...refusal }
          : undefined,
      );
      const res = await stack.call('PUT', `/v1/devices/${id}`, {
        ...floor1,
        body: { ...device, entity_name: `urn:ngsi:bot:${id}`, ...(apikey ? { apikey } : {}) },
      });
      stack.agentProxy!.fault(undefined);
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: res.body };
    };
    const rule = 'device id: 1-128 characters of A-Z a-z 0-9 _ . : -';
    expect(await put('bad!id')).toEqual({
      status: 422,
      retryAfter: null,
      body: {
        ...problem('bad!id', 'ERR_PROVISIONING_INVALID', 422, `device_id: ${rule}`),
        errors: [{ field: 'device_id', message: rule }],
      },
    });
    expect(await put('nokeydev', undefined, 'nokey1')).toEqual({
      status: 409,
      retryAfter: null,
      body: {
        ...problem(
          'nokeydev',
          'ERR_PROVISIONING_CONFLICT',
          409,
          'apikey: matches no service group',
        ),
        errors: [{ field: 'apikey', message: 'matches no service group' }],
      },
    });
    expect(await put('busy0', { status: 503, body: { name: 'BUSY', message: 'later' } })).toEqual({
      status: 503,
      retryAfter: '5',
      body: problem(
        'busy0',
        'ERR_UPSTREAM_UNAVAILABLE',
        503,
        'not provisioned: iot-agent answered 503 to POST /iot/devices',
      ),
    });
    expect(await put('refused0', badRequest('no such attribute type'))).toEqual({
      status: 502,
      retryAfter: null,
      body: problem(
        'refused0',
        'ERR_UPSTREAM_REJECTED',
        502,
        'iot-agent refused the device (400: BAD: no such attribute type)',
      ),
    });
    expect(await agentDeviceIds(stack)).toEqual([]);
  });

  it('leaves a device as it was when the agent will not delete it to replace it', async () => {
    const d = commandDevices(1, 'stuck')[0]!;
    expect((await bulk([d])).status).toBe(200);
    const seen = recordThen((req) =>
      req.method === 'DELETE' ? badRequest('no deletes') : undefined,
    );
    const res = await bulk([{ ...d, commands: [{ name: 'reboot' }] }]);
    expect(results(res.body)).toEqual([
      {
        index: 0,
        device_id: 'stuck0',
        status: 'failed',
        code: 'ERR_UPSTREAM_REJECTED',
        reason: 'iot-agent refused the device (400: BAD: no deletes)',
      },
    ]);
    expect(writes(seen)).toEqual(['DELETE /iot/devices/stuck0']);
    stack.agentProxy!.fault(undefined);
    const held = await stack.call('GET', '/v1/devices/stuck0', floor1);
    expect(held.body.commands).toEqual([{ name: 'ping', type: 'command' }]);
  });

  it('answers 502 naming the agent and the field when it answers what the service cannot read, and writes nothing', async () => {
    // The agent's listing and a device of it, each with what no agent should send.
    stack.agentProxy!.fault((req) => {
      if (req.method !== 'GET') return undefined;
      if (req.url.startsWith('/iot/devices?'))
        return {
          kind: 'refuse',
          status: 200,
          body: { count: 2, devices: [{ device_id: 'a' }, null] },
        };
      if (req.url.startsWith('/iot/devices/odd'))
        return { kind: 'refuse', status: 200, body: { device_id: 'odd', attributes: [null] } };
      return undefined;
    });
    const list = await stack.call('GET', '/v1/devices', floor1);
    const one = await stack.call('GET', '/v1/devices/odd', floor1);
    // More than eight devices: the service lists the path before it writes.
    const bulk = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: commandDevices(9, 'odd') },
    });
    // Fewer: it reads each device before it writes, and fails the whole request on one.
    const few = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: [...commandDevices(1, 'odd'), ...commandDevices(1, 'fine')] },
    });
    stack.agentProxy!.fault(undefined);
    const cannotRead = (path: string, field: string) => [
      502,
      expect.objectContaining({
        code: 'ERR_UPSTREAM_REJECTED',
        detail: `iot-agent answered GET ${path} with 200 and a body the service cannot read (${field}: Invalid input: expected object, received null)`,
      }),
      null, // no Retry-After: asking again gets the same answer
    ];
    expect(
      [list, one, bulk, few].map((r) => [r.status, r.body, r.headers.get('retry-after')]),
    ).toEqual([
      cannotRead('/iot/devices', 'devices[1]'),
      cannotRead('/iot/devices/odd', 'attributes[0]'),
      cannotRead('/iot/devices', 'devices[1]'),
      cannotRead('/iot/devices/odd0', 'attributes[0]'),
    ]);
    expect(await agentDeviceIds(stack)).toEqual([]);
    expect(stack.orion.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('fails only the device it cannot read back after a refused chunk, with what it could not read', async () => {
    let refused = false;
    stack.agentProxy!.fault((req) => {
      if (req.method === 'POST' && ids(req.body).length > 1) {
        refused = true;
        return INTERNAL;
      }
      if (!refused || req.method !== 'GET') return undefined;
      // After the refusal, the listing and odd0 come back as no agent sends them.
      if (req.url.startsWith('/iot/devices?'))
        return { kind: 'refuse', status: 200, body: { devices: 'odd0' } };
      if (req.url.startsWith('/iot/devices/odd0'))
        return { kind: 'refuse', status: 200, body: { device_id: 7 } };
      return undefined;
    });
    const res = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: [...commandDevices(1, 'odd'), ...commandDevices(1, 'fine')] },
    });
    stack.agentProxy!.fault(undefined);
    expect(res.body.results).toEqual([
      {
        index: 0,
        device_id: 'odd0',
        status: 'failed',
        code: 'ERR_UPSTREAM_REJECTED',
        reason:
          'iot-agent answered GET /iot/devices/odd0 with 200 and a body the service cannot read (device_id: Invalid input: expected string, received number)',
      },
      { index: 1, device_id: 'fine0', status: 'created' },
    ]);
    expect(await agentDeviceIds(stack)).toEqual(['fine0']);
  });

  it('answers 503 with Retry-After and writes nothing when the IoT Agent is down', async () => {
    await stack.stopIotAgent();
    const res = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: commandDevices(2, 'down') },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.body).toMatchObject({ code: 'ERR_UPSTREAM_UNAVAILABLE' });
    expect(res.body.detail).toMatch(/iot-agent is unreachable/);
    // Nothing was wrong with the request: no field errors.
    expect(res.body).not.toHaveProperty('errors');
    expect(stack.orion.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });
});
