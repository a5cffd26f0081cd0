/**
 * Refusals: authorization through the tenancy helpers, and bad input with RFC 9457 problems
 * that name the field. Nothing refused may reach the IoT Agent.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import type { ProvisioningErrorCode } from '../src/errors.js';
import type { ProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import {
  ANCHOR,
  catalogueProblem,
  startProvisioningStack,
} from '../../../testing/stack/provisioning-stack.js';

let stack: ProvisioningStack;
const m = ANCHOR.manufracture;
const floor1 = { servicePath: m.servicePath };

beforeAll(async () => {
  stack = await startProvisioningStack({ env: { MAX_BATCH: '50', MAX_BODY_BYTES: '65536' } });
});
afterAll(async () => {
  await stack?.close();
});

/** How many device writes the real agent has: none of the refused requests may add one. */
async function agentDevices(): Promise<number> {
  const res = await fetch(`${stack.iotaUrl}/iot/devices`, {
    headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': '/floor1' },
  });
  return ((await res.json()) as { count: number }).count;
}

/** The agent's groups at a path (it answers 404 when there are none). */
async function agentGroups(service: string, servicePath: string): Promise<unknown[]> {
  const res = await fetch(`${stack.iotaUrl}/iot/services`, {
    headers: { 'fiware-service': service, 'fiware-servicepath': servicePath },
  });
  if (res.status === 404) return [];
  return ((await res.json()) as { services: unknown[] }).services;
}

/** The service's metrics, read once: a series' value (0 while it has no sample). */
async function metricSamples(): Promise<(series: string) => number> {
  const lines = (await (await fetch(`${stack.url}/metrics`)).text()).split('\n');
  return (series) => {
    const line = lines.find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  };
}

describe('authorization', () => {
  const bulk = { devices: [m.devices[0]] };

  it.each([
    ['no token', { token: null }, 401],
    ['a token of another tenant', { tokenRecipe: { claims: { tenants: ['smithereens'] } } }, 403],
    ['an expired token', { tokenRecipe: { expIn: -120 } }, 401],
    [
      'a token signed by a key the realm does not publish',
      { tokenRecipe: { key: 'evil-rsa' } },
      401,
    ],
    ['a tampered token', { tokenRecipe: { tamper: 'payload' } }, 401],
    ['a device token', { tokenRecipe: { claims: { roles: ['manufracture:device'] } } }, 403],
    [
      'a viewer token (read only)',
      { tokenRecipe: { claims: { roles: ['manufracture:viewer'] } } },
      403,
    ],
    ['a token for another audience', { tokenRecipe: { claims: { aud: ['grafana'] } } }, 401],
  ] as const)('refuses a write with %s (%s)', async (_name, how, status) => {
    const before = await agentDevices();
    const token = 'token' in how ? how.token : await stack.token(how.tokenRecipe as never);
    const res = await stack.call('POST', '/v1/devices/bulk', { ...floor1, token, body: bulk });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await agentDevices()).toBe(before);
  });

  it('passes on a correlator of up to 128 visible characters, and makes its own for any other', async () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const answer = async (given: string) => {
      const res = await stack.call('GET', '/v1/groups', {
        ...floor1,
        headers: { 'fiware-correlator': given },
      });
      expect([given, res.status]).toEqual([given, 200]);
      return res.headers.get('fiware-correlator');
    };
    for (const given of ['ok-1:a.b@c_d', 'x'.repeat(128)]) expect(await answer(given)).toBe(given);
    for (const given of ['has space', 'end;', ';start', 'x'.repeat(129)]) {
      expect([given, await answer(given)]).toEqual([given, expect.stringMatching(uuid)]);
    }
  });

  it('logs each refusal with its reason and correlator, never the token', async () => {
    const token = await stack.token({ claims: { tenants: ['smithereens'] } });
    const res = await stack.call('GET', '/v1/devices', {
      ...floor1,
      token,
      headers: { 'fiware-correlator': 'deny-1' },
    });
    expect(res.status).toBe(403);
    const line = stack.logs.find((l) => l.correlator === 'deny-1');
    expect(line).toMatchObject({
      status: 403,
      path: '/provisioning/v1/devices',
      deny_reason: expect.any(String),
    });
    expect(stack.logText()).not.toContain(token.split('.')[2]!);
  });

  it('refuses a fiware-service header outside the token’s tenants, and a missing one', async () => {
    const wrong = await stack.call('GET', '/v1/devices', { ...floor1, service: 'smithereens' });
    expect(wrong.status).toBe(403);
    const none = await stack.call('GET', '/v1/devices', { ...floor1, service: null });
    expect([400, 403]).toContain(none.status);
  });

  it('acts for the tenant of the header when the token holds several', async () => {
    const token = await stack.token({ claims: { tenants: ['manufracture', 'smithereens'] } });
    await stack.call('PUT', '/v1/groups', {
      servicePath: '/',
      service: 'smithereens',
      token,
      body: ANCHOR.smithereens.group,
    });
    expect(await agentGroups('smithereens', '/')).toHaveLength(1);
    expect(await agentGroups('manufracture', '/')).toHaveLength(0);
  });

  it('serves health and metrics without a token, outside the API prefix', async () => {
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toContain('provisioning_http_request_duration_seconds');
    expect(metrics).toMatch(
      /provisioning_authz_decisions_total\{allowed="false",status="401"\} [1-9]/,
    );
  });

  it('times each request under the route it matched, one unmatched series for any unknown path, and logs the same duration', async () => {
    /** The sum and count of the request-duration series with exactly these labels. */
    const series = async (route: string, method: string, status: number) => {
      const value = await metricSamples();
      const labels = `{route="${route}",method="${method}",status="${status}"}`;
      const of = (suffix: string) =>
        value(`provisioning_http_request_duration_seconds_${suffix}${labels}`);
      return { sum: of('sum'), count: of('count') };
    };
    const cases = [
      { path: '/v1/devices', route: '/provisioning/v1/devices', status: 200 },
      { path: '/v1/devices/foodev/extra', route: 'unmatched', status: 404 },
      { path: '/v1/no-such-thing', route: 'unmatched', status: 404 },
    ];
    for (const [i, c] of cases.entries()) {
      const before = await series(c.route, 'GET', c.status);
      const correlator = `timed-${i}`;
      const started = performance.now();
      const res = await stack.call('GET', c.path, {
        ...floor1,
        headers: { 'fiware-correlator': correlator },
      });
      const elapsed = (performance.now() - started) / 1000;
      expect([c.path, res.status]).toEqual([c.path, c.status]);
      const after = await series(c.route, 'GET', c.status);
      expect([c.path, after.count - before.count]).toEqual([c.path, 1]);
      // Seconds, taken inside the caller's wait for the answer.
      const seconds = after.sum - before.sum;
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThanOrEqual(elapsed);
      // The request's log line tells the same duration, in whole milliseconds.
      const line = stack.logs.find((l) => l.correlator === correlator && l.msg === 'request');
      expect(line).toMatchObject({ path: `/provisioning${c.path}`, status: c.status });
      expect(Math.abs((line!.ms as number) - seconds * 1000)).toBeLessThanOrEqual(0.5 + 1e-6);
    }
  });
});

describe('bad input', () => {
  it('names every invalid field of a device (422), and writes nothing', async () => {
    const before = await agentDevices();
    const res = await stack.call('PUT', '/v1/devices/foodev', {
      ...floor1,
      body: {
        entity_name: 'urn:ngsi:bot 1',
        entity_type: 'Bot',
        timezone: 'Mars/Olympus',
        attributes: [
          { object_id: 'f|x', name: 'foo', type: 'Integer' },
          { object_id: 'g', name: 'id', type: 'Integer' },
        ],
        colour: 'red',
      },
    });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('ERR_PROVISIONING_INVALID');
    expect(res.body.type).toBe('https://kitt4sme.eu/problems/err-provisioning-invalid');
    const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual([
      'attributes[0].object_id',
      'attributes[1].name',
      'colour',
      'entity_name',
      'timezone',
    ]);
    expect(await agentDevices()).toBe(before);
  });

  it('calls an unknown field unknown, at any depth, and a body that is not an object (body)', async () => {
    const before = await agentDevices();
    const { device_id: _id, ...device } = m.devices[0]!;
    const unknown = await stack.call('PUT', '/v1/devices/foodev', {
      ...floor1,
      body: {
        ...device,
        colour: 'red',
        attributes: [{ object_id: 'f', name: 'foo', type: 'Integer', unit: 'CEL' }],
      },
    });
    expect(unknown.status).toBe(422);
    expect(
      [...unknown.body.errors].sort((a: { field: string }, b: { field: string }) =>
        a.field.localeCompare(b.field),
      ),
    ).toEqual([
      { field: 'attributes[0].unit', message: 'unknown field' },
      { field: 'colour', message: 'unknown field' },
    ]);
    const bulk = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: { devices: [{ ...m.devices[0], colour: 'red' }] },
    });
    expect(bulk.body.results[0].errors).toEqual([
      { field: 'devices[0].colour', message: 'unknown field' },
    ]);
    const list = await stack.call('PUT', '/v1/devices/foodev', { ...floor1, body: [device] });
    expect(list.status).toBe(422);
    expect(list.body.errors).toEqual([{ field: '(body)', message: expect.any(String) }]);
    expect(list.body.errors[0].message).not.toBe('');
    expect(await agentDevices()).toBe(before);
  });

  it('fails only the invalid items of a bulk request, naming their index', async () => {
    await stack.call('PUT', '/v1/groups', { ...floor1, body: m.group });
    const res = await stack.call('POST', '/v1/devices/bulk', {
      ...floor1,
      body: {
        devices: [
          { ...m.devices[0], device_id: 'ok1' },
          { ...m.devices[0], device_id: 'bad dev' },
          { ...m.devices[0], device_id: 'ok1' },
          { ...m.devices[1], entity_type: 'Bot(2)' },
        ],
      },
    });
    expect(res.status).toBe(207);
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual([
      'created',
      'failed',
      'failed',
      'failed',
    ]);
    expect(res.body.results[1].errors[0].field).toBe('devices[1].device_id');
    expect(res.body.results[2].errors[0]).toEqual({
      field: 'devices[2].device_id',
      message: 'duplicate of devices[0]',
    });
    expect(res.body.results[3].errors[0].field).toBe('devices[3].entity_type');
    await stack.call('DELETE', '/v1/devices/ok1', floor1);
  });

  it.each([
    'http://127.0.0.1:15000/quitquitquit',
    'http://[::1]:15020/stats',
    'http://169.254.169.254/latest',
    'http://localhost:4041/iot/about',
    'http://orion.fiware.svc.cluster.local:1026/v2/entities',
    'http://keycloak/auth',
  ])(
    'refuses the command endpoint %s (the agent would call it inside the cluster)',
    async (endpoint) => {
      const res = await stack.call('PUT', '/v1/devices/foodev', {
        ...floor1,
        body: { ...m.devices[0], device_id: undefined, commands: [{ name: 'ping' }], endpoint },
      });
      expect(res.status).toBe(422);
      expect(res.body.errors[0].field).toBe('endpoint');
    },
  );

  it('refuses a command endpoint that is not a URL with a 422 naming it, not a crash', async () => {
    const { device_id: _id, ...device } = m.devices[0]!;
    for (const endpoint of ['x', 'http://', 'http://[::1']) {
      const res = await stack.call('PUT', '/v1/devices/foodev', {
        ...floor1,
        body: { ...device, endpoint },
      });
      expect({ endpoint, status: res.status }).toEqual({ endpoint, status: 422 });
      expect(res.body.errors).toEqual([
        { field: 'endpoint', message: 'an http(s) URL the IoT Agent pushes commands to' },
      ]);
    }
  });

  it('refuses JSON nested deeper than 32 levels with a 422, not a crash', async () => {
    const value = `${'['.repeat(5000)}"x"${']'.repeat(5000)}`;
    const { device_id: _id, ...device } = m.devices[0]!;
    const body = JSON.stringify({
      ...device,
      static_attributes: [{ name: 'deep', type: 'StructuredValue', value: 0 }],
    });
    const res = await stack.call('PUT', '/v1/devices/foodev', {
      ...floor1,
      rawBody: body.replace('"value":0', `"value":${value}`),
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      { field: '(body)', message: 'JSON nested deeper than 32 levels' },
    ]);
  });

  it('refuses a device id in the body that differs from the path', async () => {
    const res = await stack.call('PUT', '/v1/devices/foodev', {
      ...floor1,
      body: { ...m.devices[1] },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      { field: 'device_id', message: 'differs from the id in the path (foodev)' },
    ]);
  });

  it.each([
    ['/floor 1', 'a space'],
    ['floor1', 'a relative path'],
    ['/a,/b', 'two paths'],
    ['/floor1/#', 'a query pattern'],
  ])('refuses the service path %s (%s)', async (servicePath) => {
    const res = await stack.call('GET', '/v1/devices', { servicePath });
    // The gateway policy may refuse it first (400); the service itself answers 422.
    expect([400, 422]).toContain(res.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('limits the batch size (413) and the body size (413)', async () => {
    const devices = Array.from({ length: 51 }, (_, i) => ({ ...m.devices[0], device_id: `d${i}` }));
    const tooMany = await stack.call('POST', '/v1/devices/bulk', { ...floor1, body: { devices } });
    expect(tooMany.status).toBe(413);
    expect(tooMany.body).toMatchObject({
      code: 'ERR_PROVISIONING_TOO_LARGE',
      detail: '51 devices in one request; at most 50',
      errors: [{ field: 'devices', message: 'at most 50 items' }],
    });
    // MAX_BATCH itself is allowed (a dry run: nothing is written).
    const most = await stack.call('POST', '/v1/devices/bulk?dry_run=true', {
      ...floor1,
      body: { devices: devices.slice(0, 50) },
    });
    expect(most.status).toBe(200);
    expect(most.body.results).toHaveLength(50);
    const big = {
      devices: [
        {
          ...m.devices[0],
          static_attributes: [{ name: 'blob', type: 'Text', value: 'x'.repeat(70_000) }],
        },
      ],
    };
    const tooBig = await stack.call('POST', '/v1/devices/bulk', { ...floor1, body: big });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.code).toBe('ERR_PROVISIONING_TOO_LARGE');
  });

  it('refuses a body that is not JSON (400) or not declared as JSON (415)', async () => {
    const broken = await stack.call('PUT', '/v1/groups', {
      ...floor1,
      rawBody: '{"entity_type":',
      contentType: 'application/json',
    });
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe('ERR_PROVISIONING_INVALID');
    const text = await stack.call('PUT', '/v1/groups', {
      ...floor1,
      rawBody: 'entity_type=Bot',
      contentType: 'text/plain',
    });
    expect(text.status).toBe(415);
    expect(text.body.errors[0].field).toBe('header content-type');
  });

  it('counts the devices each write created, updated, left alone or failed, by tenant, and nothing of a dry run', async () => {
    const statuses = ['created', 'updated', 'unchanged', 'failed'];
    const counts = async () => {
      const value = await metricSamples();
      return statuses.map((status) =>
        value(`provisioning_devices_total{tenant="manufracture",status="${status}"}`),
      );
    };
    const at = { servicePath: '/counted' };
    await stack.call('PUT', '/v1/groups', { ...at, body: m.group });
    const devices = [
      { ...m.devices[0], device_id: 'count1', entity_name: 'urn:ngsi:bot:count1' },
      { ...m.devices[0], device_id: 'count2', entity_name: 'urn:ngsi:bot:count2' },
      { device_id: 'count3' },
    ];
    const before = await counts();
    const dry = await stack.call('POST', '/v1/devices/bulk?dry_run=true', {
      ...at,
      body: { devices },
    });
    expect(dry.status).toBe(207);
    expect(await counts()).toEqual(before);
    const written = await stack.call('POST', '/v1/devices/bulk', { ...at, body: { devices } });
    expect(written.status).toBe(207);
    // Its failure is the caller's to fix: nothing says to try again.
    expect(written.headers.get('retry-after')).toBeNull();
    const changed = [devices[0], { ...devices[1], entity_name: 'urn:ngsi:bot:count22' }];
    expect(
      (await stack.call('POST', '/v1/devices/bulk', { ...at, body: { devices: changed } })).status,
    ).toBe(200);
    const after = await counts();
    expect(after.map((n, i) => n - before[i]!)).toEqual([2, 1, 1, 1]);
    for (const d of ['count1', 'count2']) await stack.call('DELETE', `/v1/devices/${d}`, at);
    await stack.call('DELETE', '/v1/groups', at);
  });

  it('takes a request without fiware-servicepath for the root path, and refuses a path the agent cannot take alone (several, or /#) with 422', async () => {
    const res = await stack.call('PUT', '/v1/devices/rootdev', {
      body: { ...m.devices[0], device_id: 'rootdev', entity_name: 'urn:ngsi:bot:rootdev' },
    });
    expect(res.status).toBe(201);
    const atRoot = await fetch(`${stack.iotaUrl}/iot/devices/rootdev`, {
      headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': '/' },
    });
    expect(atRoot.status).toBe(200);
    expect((await stack.call('DELETE', '/v1/devices/rootdev', { servicePath: '/' })).status).toBe(
      204,
    );
    const before = await agentDevices();
    for (const servicePath of ['/floor1/#', '/floor1,/floor2']) {
      const bad = await stack.call('PUT', '/v1/devices/pathdev', {
        servicePath,
        body: { ...m.devices[0], device_id: 'pathdev', entity_name: 'urn:ngsi:bot:pathdev' },
      });
      expect({ servicePath, status: bad.status }).toEqual({ servicePath, status: 422 });
      expect(bad.body.errors).toEqual([
        {
          field: 'header fiware-servicepath',
          message:
            'one absolute path of at most 10 levels, each 1-50 characters of A-Z a-z 0-9 _ (e.g. /floor1)',
        },
      ]);
    }
    expect(await agentDevices()).toBe(before);
    for (const servicePath of ['/', '/floor1', '/floor2']) {
      const held = await fetch(`${stack.iotaUrl}/iot/devices/pathdev`, {
        headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': servicePath },
      });
      expect({ servicePath, status: held.status }).toEqual({ servicePath, status: 404 });
    }
  });

  it('names a JSON value that is not an object as a wrong (body), as it does a list: 422, not broken JSON', async () => {
    const before = await agentGroups('manufracture', '/floor1');
    for (const rawBody of ['42', '"Bot"', 'null', 'true']) {
      const res = await stack.call('PUT', '/v1/groups', {
        ...floor1,
        rawBody,
        contentType: 'application/json',
      });
      expect([rawBody, res.status]).toEqual([rawBody, 422]);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['(body)']);
    }
    expect(await agentGroups('manufracture', '/floor1')).toEqual(before);
  });

  it('names a bad query parameter as query.<name>, and says which group a delete did not find', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await stack.call(method, '/v1/groups?protocol=lorawan', floor1);
      expect({ method, status: res.status }).toEqual({ method, status: 422 });
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['query.protocol']);
    }
    const gone = await stack.call('DELETE', '/v1/groups?protocol=json', {
      servicePath: '/nogroups',
    });
    expect(gone.status).toBe(404);
    expect(gone.body.detail).toBe('no json service group at /nogroups');
    // The other routes' queries, and the device a read or a delete did not find.
    for (const [method, path, field] of [
      ['GET', '/v1/devices?limit=0', 'query.limit'],
      ['DELETE', '/v1/devices/nodev?delete_entity=maybe', 'query.delete_entity'],
      ['GET', '/v1/inventory?stale_after=0', 'query.stale_after'],
      ['POST', '/v1/devices/bulk?dry_run=maybe', 'query.dry_run'],
    ] as const) {
      const res = await stack.call(method, path, {
        ...floor1,
        ...(method === 'POST' ? { body: { devices: [m.devices[0]] } } : {}),
      });
      expect({ path, status: res.status }).toEqual({ path, status: 422 });
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
    }
    for (const method of ['GET', 'DELETE']) {
      const res = await stack.call(method, '/v1/devices/nodev', floor1);
      expect({ method, status: res.status }).toEqual({ method, status: 404 });
      expect(res.body.detail).toBe('no device nodev at /floor1');
      // A device id whose %-escape is not UTF-8 is the caller's mistake, not a 500.
      const bad = await stack.call(method, '/v1/devices/%E0', floor1);
      expect([method, bad.status, bad.body.code, bad.body.errors]).toEqual([
        method,
        400,
        'ERR_PROVISIONING_INVALID',
        [{ field: 'path', message: 'a %-escape that is not UTF-8' }],
      ]);
    }
  });

  it('answers each refusal as a whole RFC 9457 problem: its catalogue entry, the path without the query, field errors only when a field is wrong', async () => {
    /** The problem document the service owes for `code`, as the error catalogue has it. */
    const problem = (code: ProvisioningErrorCode, status: number, detail: string) =>
      catalogueProblem('/provisioning/v1/groups', code, status, detail);
    const before = await agentGroups('manufracture', '/floor1');
    const group = JSON.stringify(m.group);
    const json = 'application/json';
    const cases: [string, Parameters<ProvisioningStack['call']>[2], number, object][] = [
      [
        'not declared as JSON',
        { rawBody: 'entity_type=Bot', contentType: 'text/plain' },
        415,
        {
          ...problem('ERR_PROVISIONING_INVALID', 415, 'send the body as application/json'),
          errors: [{ field: 'header content-type', message: 'must be application/json' }],
        },
      ],
      [
        'not JSON',
        { rawBody: '{"entity_type":', contentType: json },
        400,
        {
          ...problem('ERR_PROVISIONING_INVALID', 400, 'the body is not valid JSON'),
          errors: [{ field: '(body)', message: 'not valid JSON' }],
        },
      ],
      [
        'over the limit',
        {
          body: {
            ...m.group,
            static_attributes: [{ name: 'b', type: 'Text', value: 'x'.repeat(70_000) }],
          },
        },
        413,
        problem('ERR_PROVISIONING_TOO_LARGE', 413, 'the request body is over the size limit'),
      ],
      // Bodies the JSON reader cannot take are the caller's too: 415 or 400, never a 500.
      [
        'in latin1',
        { rawBody: group, contentType: `${json}; charset=latin1` },
        415,
        {
          ...problem(
            'ERR_PROVISIONING_INVALID',
            415,
            "the body's charset latin1 is not one the JSON reader takes; declare charset=utf-8, or none",
          ),
          errors: [{ field: 'header content-type', message: 'charset=utf-8, or none' }],
        },
      ],
      [
        'compressed as the parser cannot undo',
        { rawBody: group, contentType: json, headers: { 'content-encoding': 'compress' } },
        415,
        {
          ...problem(
            'ERR_PROVISIONING_INVALID',
            415,
            'the content encoding compress is not one the service undoes; send the body as it is, or gzip, deflate or br',
          ),
          errors: [{ field: 'header content-encoding', message: 'gzip, deflate, br, or none' }],
        },
      ],
      [
        'said to be gzip and not',
        { rawBody: group, contentType: json, headers: { 'content-encoding': 'gzip' } },
        400,
        {
          ...problem(
            'ERR_PROVISIONING_INVALID',
            400,
            'the body was not taken: it does not decompress (Z_DATA_ERROR)',
          ),
          errors: [{ field: '(body)', message: 'it does not decompress (Z_DATA_ERROR)' }],
        },
      ],
    ];
    for (const [i, [what, o, status, body]] of cases.entries()) {
      const res = await stack.call('PUT', '/v1/groups?dry_run=false', {
        ...floor1,
        ...o,
        headers: { ...o?.headers, 'fiware-correlator': `refused-${i}` },
      });
      expect([what, res.status, res.body]).toEqual([what, status, body]);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.headers.get('retry-after')).toBeNull();
    }
    expect(await agentGroups('manufracture', '/floor1')).toEqual(before);
    // The caller's mistakes are not the service's failures: no error or warning for them.
    const theirs = stack.logs.filter((l) => String(l.correlator).startsWith('refused-'));
    expect(theirs.map((l) => l.msg)).toEqual(cases.map(() => 'request'));
  });

  it('refuses JSON nested one level deeper than 32, and takes 32', async () => {
    /** A device whose static attribute's value is `levels` lists deep, a null at the bottom. */
    const nested = (levels: number) => {
      const { device_id: _id, ...device } = m.devices[0]!;
      const value = `${'['.repeat(levels)}null${']'.repeat(levels)}`;
      const body = JSON.stringify({
        ...device,
        static_attributes: [{ name: 'deep', type: 'StructuredValue', value: 0 }],
      });
      // The body is level 1, its attribute list 2, the attribute 3: the value's lists 4 on.
      return stack.call('PUT', '/v1/devices/deepdev?dry_run=true', {
        ...floor1,
        rawBody: body.replace('"value":0', `"value":${value}`),
      });
    };
    const most = await nested(29);
    expect([most.status, most.body]).toEqual([201, { status: 'created', dry_run: true }]);
    const over = await nested(30);
    expect(over.status).toBe(422);
    expect(over.body.errors).toEqual([
      { field: '(body)', message: 'JSON nested deeper than 32 levels' },
    ]);
  });

  it('answers unknown endpoints with a problem, after authorization', async () => {
    const res = await stack.call('GET', '/v1/nothing', floor1);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('ERR_PROVISIONING_NOT_FOUND');
    const anonymous = await stack.call('GET', '/v1/nothing', { ...floor1, token: null });
    expect(anonymous.status).toBe(401);
  });
});
