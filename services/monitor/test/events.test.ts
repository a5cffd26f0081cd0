/**
 * The platform's events through a real monitor: its internal events port (producers' input and
 * Alertmanager's webhook payload, each refusal), the journal per tenant and its read API under
 * the real tenancy policy (wasm) with verified tokens, delivery to a loopback receiver that
 * verifies signatures, the producers' publisher (services/runtime) when the monitor is down
 * then back (its retries driven by a manual clock), and the real provisioning service (with
 * the real IoT Agent) raising device events to the monitor's events port.
 *
 * The monitor's device backend is empty here (testing/support/events-monitor.ts): liveness has
 * its own tests (monitor.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';

import { loadPlatformContext } from '../../../platform/context.js';
import {
  ALERTMANAGER_RECEIVER_PATH,
  EVENTS_INGEST_PATH,
  EVENT_TYPES,
  eventId,
  eventSource,
  eventSubject,
  eventTypeOf,
} from '../../../platform/events.js';
import type { PlatformEventInput } from '../../../platform/events.js';
import type { ProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { ANCHOR, startProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { monitorApi } from '../../../testing/support/monitor-api.js';
import { startEventsMonitor } from '../../../testing/support/events-monitor.js';
import { openApiChecker, queryParameterProbes } from '../../../testing/support/openapi-checker.js';
import type { StubServer } from '../../../testing/support/http.js';
import { json, startStub } from '../../../testing/support/http.js';
import { ManualClock } from '../../../testing/support/manual-clock.js';
import { until } from '../../../testing/support/south-fixtures.js';
import type { TestKeys } from '../../../testing/support/tokens.js';
import { generateTestKeys, makeToken } from '../../../testing/support/tokens.js';
import type { WebhookReceiver } from '../../../testing/support/webhook-receiver.js';
import { startWebhookReceiver } from '../../../testing/support/webhook-receiver.js';
import { EventPublisher } from '../../runtime/src/index.js';
import type { MonitorConfig } from '../src/config.js';
import { buildOpenApi } from '../src/openapi.js';
import type { RunningMonitor } from '../src/service.js';
import { logLines } from '../../../testing/support/log-lines.js';

const TENANT = 'manufracture';
const OTHER = 'smithereens';
const ctx = loadPlatformContext();
const openapi = openApiChecker(buildOpenApi() as never);

let keys: TestKeys;
let jwks: StubServer;
let receiver: WebhookReceiver;
let dir: string;
const running: RunningMonitor[] = [];

const logs: Record<string, unknown>[] = [];
function sink(into: Record<string, unknown>[]) {
  return logLines((entry) => into.push(entry));
}

async function monitorOn(stateFile: string, config: Partial<MonitorConfig> = {}) {
  const mon = await startEventsMonitor({
    stateFile,
    jwksUrl: `${jwks.url}/certs`,
    config,
    logs,
    random: () => 0.5,
  });
  running.push(mon);
  return mon;
}

const api = monitorApi((r) => makeToken(keys, ctx.issuer, r), TENANT);

/** A post to the events port. */
async function post(mon: RunningMonitor, path: string, body: unknown, contentType?: string) {
  const res = await fetch(`${mon.eventsUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType ?? 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: text ? JSON.parse(text) : undefined,
  };
}

/** A device.provisioned input as provisioning sends it. */
function provisioned(device: string, o: Partial<PlatformEventInput> = {}): PlatformEventInput {
  const tenant = o.tenant ?? TENANT;
  return {
    id: eventId('test', tenant, device, o.time ?? '2026-12-02T12:00:00.000Z'),
    type: eventTypeOf('provisioning.device.provisioned'),
    tenant,
    subject: eventSubject('device', device),
    time: '2026-12-02T12:00:00.000Z',
    data: {
      protocol: 'ultralight',
      service_path: '/',
      entity_id: `urn:ngsi:Bot:${device}`,
      entity_type: 'Bot',
      by: 'Ada <ada@example.org>',
    },
    ...o,
  };
}

async function subscribe(mon: RunningMonitor, body: Record<string, unknown>) {
  const res = await api(mon, 'POST', '/v1/subscriptions', { body: { url: receiver.url, ...body } });
  expect(res.status).toBe(201);
  receiver.secret = res.body.secret;
  return res.body as { id: string };
}

const metric = async (mon: RunningMonitor, name: string) =>
  mon.metrics.registry.getSingleMetricAsString(name);

beforeAll(async () => {
  keys = await generateTestKeys();
  jwks = await startStub(json(200, keys.jwks));
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  for (const mon of running) await mon.close();
  await receiver?.close();
  await jwks?.close();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'monitor-events-'));
  receiver.mode = 'up';
  receiver.events.length = 0;
  receiver.duplicates.length = 0;
  receiver.rejected.length = 0;
  receiver.attempts.length = 0;
});
afterEach(async () => {
  for (const mon of running.splice(0)) await mon.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the events port: producers', () => {
  it('takes a producer event: sets the source, journals it, delivers it signed; the same id again is one event', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    await subscribe(mon, { types: [eventTypeOf('provisioning.device.provisioned')] });
    const event = provisioned('press-1');
    const first = await post(mon, EVENTS_INGEST_PATH, event);
    expect(first).toMatchObject({ status: 202, body: { id: event.id, duplicate: false } });
    expect(first.body.queued).toBe(1);
    const again = await post(mon, EVENTS_INGEST_PATH, event);
    expect(again).toMatchObject({ status: 202, body: { duplicate: true, queued: 0 } });
    await mon.dispatcher.deliverDue();

    expect(receiver.events).toHaveLength(1);
    expect(receiver.events[0]).toMatchObject({
      id: event.id,
      type: 'eu.kitt4sme.provisioning.device.provisioned',
      source: eventSource('provisioning', TENANT),
      subject: 'devices/press-1',
      data: { tenant: TENANT, kind: 'device', id: 'press-1', by: 'Ada <ada@example.org>' },
    });
    expect(receiver.rejected).toEqual([]);
    expect(receiver.duplicates).toEqual([]);
    expect(mon.store.doc.journal[TENANT]!.map((e) => e.id)).toEqual([event.id]);
    expect(await metric(mon, 'monitor_events_received_total')).toMatch(
      /producer="provisioning",outcome="accepted"\} 1[\s\S]*producer="provisioning",outcome="duplicate"\} 1/,
    );
  });

  it('fails each bad input with a problem that names what is wrong, and keeps none of them', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    const good = provisioned('press-2');
    const cases: {
      what: string;
      body: unknown;
      contentType?: string;
      status: number;
      code: string;
      field?: string;
      detail?: RegExp;
    }[] = [
      {
        what: 'not JSON by its type',
        body: JSON.stringify(good),
        contentType: 'text/plain',
        status: 415,
        code: 'ERR_MONITOR_INVALID',
        field: 'header content-type',
      },
      {
        what: 'JSON in a charset other than UTF-8',
        body: JSON.stringify(good),
        contentType: 'application/json; charset=latin1',
        status: 415,
        code: 'ERR_MONITOR_INVALID',
        field: 'header content-type',
        detail:
          /^the body's charset latin1 is not one the JSON reader takes; declare charset=utf-8, or none$/,
      },
      {
        what: 'not JSON',
        body: '{"id":',
        status: 400,
        code: 'ERR_MONITOR_INVALID',
        field: '(body)',
      },
      {
        what: 'no time',
        body: { ...good, time: undefined },
        status: 400,
        code: 'ERR_MONITOR_INVALID',
        field: 'time',
      },
      {
        what: 'an id that is not from eventId()',
        body: { ...good, id: 'x' },
        status: 400,
        code: 'ERR_MONITOR_INVALID',
        field: 'id',
      },
      {
        what: 'a field the input has not',
        body: { ...good, source: '/elsewhere' },
        status: 400,
        code: 'ERR_MONITOR_INVALID',
        field: '(body)',
      },
      {
        what: 'a type outside the catalogue',
        body: { ...good, type: 'eu.kitt4sme.provisioning.device.exploded' },
        status: 422,
        code: 'ERR_MONITOR_EVENT_TYPE',
        field: 'type',
        detail:
          /not in the catalogue; this port takes eu\.kitt4sme\.provisioning\.device\.provisioned/,
      },
      {
        what: "the monitor's own type",
        body: { ...good, type: eventTypeOf('monitor.device.offline') },
        status: 422,
        code: 'ERR_MONITOR_EVENT_TYPE',
        field: 'type',
        detail: /raised by monitor, not posted here/,
      },
      {
        what: "Alertmanager's type",
        body: { ...good, type: eventTypeOf('alertmanager.alert.firing'), subject: 'alerts/x' },
        status: 422,
        code: 'ERR_MONITOR_EVENT_TYPE',
        field: 'type',
      },
      {
        what: 'a tenant that is not a platform tenant',
        body: { ...good, tenant: 'nobody' },
        status: 422,
        code: 'ERR_MONITOR_EVENT_TENANT',
        field: 'tenant',
        detail: /the tenants are manufracture, smithereens/,
      },
      {
        what: "a subject of another kind than the type's",
        body: { ...good, subject: 'agents/press-2' },
        status: 422,
        code: 'ERR_MONITOR_EVENT_SUBJECT',
        field: 'subject',
        detail: /about a device: its subject is devices\/<id>/,
      },
      {
        what: 'data naming another tenant',
        body: { ...good, data: { ...good.data, tenant: OTHER } },
        status: 422,
        code: 'ERR_MONITOR_EVENT_SUBJECT',
        field: 'data.tenant',
      },
      {
        what: 'a body over 64 KiB',
        body: { ...good, data: { ...good.data, pad: 'x'.repeat(70 * 1024) } },
        status: 413,
        code: 'ERR_MONITOR_INVALID',
      },
    ];
    for (const c of cases) {
      const res = await post(mon, EVENTS_INGEST_PATH, c.body, c.contentType);
      expect({ what: c.what, status: res.status, code: res.body?.code }).toEqual({
        what: c.what,
        status: c.status,
        code: c.code,
      });
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(res.body.fix).toEqual(expect.any(String));
      if (c.field)
        expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(c.field);
      if (c.detail) expect(res.body.detail).toMatch(c.detail);
    }
    expect(mon.store.doc.journal).toEqual({});
    expect(await metric(mon, 'monitor_events_received_total')).not.toMatch(/outcome="accepted"/);
  });

  it('answers /healthz, and an unknown path with a 404 that names the two endpoints', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    const health = await fetch(`${mon.eventsUrl}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const lost = await post(mon, '/internal/v1/other', {});
    expect(lost.status).toBe(404);
    expect(lost.body.detail).toContain(EVENTS_INGEST_PATH);
    expect(lost.body.detail).toContain(ALERTMANAGER_RECEIVER_PATH);
    // The API port does not serve the events endpoints (the gateway routes only that one).
    const onApi = await fetch(`${mon.url}${EVENTS_INGEST_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(provisioned('press-3')),
    });
    expect(onApi.status).toBe(404);
  });
});

describe('the events port: Alertmanager', () => {
  const startsAt = '2026-12-02T11:58:00.123Z';
  const alert = (status: 'firing' | 'resolved', labels: Record<string, string>) => ({
    status,
    labels: { alertname: 'DeviceOffline', severity: 'warning', ...labels },
    annotations: { summary: 'press-7 is offline' },
    startsAt,
    endsAt: status === 'firing' ? '0001-01-01T00:00:00Z' : '2026-12-02T12:10:00Z',
    generatorURL: 'http://prometheus:9090/graph?g0.expr=monitor_target_liveness+%3D%3D+3',
    fingerprint: 'c6eadffa33fcdf37',
  });
  /** The payload as Alertmanager's webhook_config sends it (version 4). */
  const payload = (status: 'firing' | 'resolved', alerts: unknown[]) => ({
    receiver: 'platform-events',
    status,
    alerts,
    groupLabels: { alertname: 'DeviceOffline' },
    commonLabels: { alertname: 'DeviceOffline' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    version: '4',
    groupKey: '{}:{alertname="DeviceOffline"}',
    truncatedAlerts: 0,
  });
  const labels = { tenant: TENANT, kind: 'device', id: 'press-7' };

  it('turns a firing alert into one firing event (repeats are the same event) and its resolution into a resolved event that names it', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    await subscribe(mon, { id_pattern: 'DeviceOffline:device:*' });
    const firing = payload('firing', [alert('firing', labels)]);
    const first = await post(mon, ALERTMANAGER_RECEIVER_PATH, firing);
    expect(first).toMatchObject({ status: 200, body: { accepted: 1, duplicates: 0 } });
    // Alertmanager sends the group again at each repeat_interval.
    const repeat = await post(mon, ALERTMANAGER_RECEIVER_PATH, firing);
    expect(repeat.body).toEqual({ accepted: 0, duplicates: 1, unrouted: 0 });
    const resolved = await post(
      mon,
      ALERTMANAGER_RECEIVER_PATH,
      payload('resolved', [alert('resolved', labels)]),
    );
    expect(resolved.body).toEqual({ accepted: 1, duplicates: 0, unrouted: 0 });
    await mon.dispatcher.deliverDue();

    expect(receiver.events.map((e) => [e.type, e.subject, e.source])).toEqual([
      [
        'eu.kitt4sme.alertmanager.alert.firing',
        'alerts/DeviceOffline:device:press-7',
        '/alertmanager/tenants/manufracture',
      ],
      [
        'eu.kitt4sme.alertmanager.alert.resolved',
        'alerts/DeviceOffline:device:press-7',
        '/alertmanager/tenants/manufracture',
      ],
    ]);
    const [fired, ended] = receiver.events;
    expect(fired!.id).toBe(eventId('c6eadffa33fcdf37', 'firing', startsAt));
    expect(fired!.data).toMatchObject({
      alert: 'DeviceOffline',
      fingerprint: 'c6eadffa33fcdf37',
      starts_at: startsAt,
      labels: { severity: 'warning' },
      annotations: { summary: 'press-7 is offline' },
    });
    expect(ended!.data).toMatchObject({ resolves: fired!.id, ends_at: '2026-12-02T12:10:00Z' });
    expect(ended!.time).toBe('2026-12-02T12:10:00.000Z');
    expect(receiver.duplicates).toEqual([]);
  });

  it('counts and logs, never delivers, an alert without a tenant label or with an unknown tenant; its subject falls back to the fingerprint', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    const res = await post(
      mon,
      ALERTMANAGER_RECEIVER_PATH,
      payload('firing', [
        alert('firing', { kind: 'device', id: 'a' }),
        { ...alert('firing', { tenant: 'nobody' }), fingerprint: '0000000000000001' },
        { ...alert('firing', { tenant: OTHER }), fingerprint: '0000000000000002' },
      ]),
    );
    expect(res).toMatchObject({ status: 200, body: { accepted: 1, duplicates: 0, unrouted: 2 } });
    const unrouted = await metric(mon, 'monitor_alerts_unrouted_total');
    expect(unrouted).toMatch(/reason="no-tenant"\} 1/);
    expect(unrouted).toMatch(/reason="unknown-tenant"\} 1/);
    expect(mon.store.doc.journal[TENANT]).toBeUndefined();
    expect(mon.store.doc.journal[OTHER]!.map((e) => e.subject)).toEqual([
      'alerts/0000000000000002',
    ]);
    expect(logs.some((l) => l.msg === 'alert not delivered: it names no platform tenant')).toBe(
      true,
    );
  });

  it('fails a payload that is not version 4 with a 400 naming the field', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    const res = await post(mon, ALERTMANAGER_RECEIVER_PATH, {
      ...payload('firing', []),
      version: '3',
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['version']);
  });
});

describe('the journal (GET /monitor/v1/events)', () => {
  async function fill(mon: RunningMonitor) {
    const events = [
      provisioned('press-1', { time: '2026-12-02T10:00:00.000Z' }),
      provisioned('press-2', { time: '2026-12-02T11:00:00.000Z' }),
      {
        ...provisioned('press-1'),
        id: eventId('deleted', 'press-1'),
        type: eventTypeOf('provisioning.device.deleted'),
        time: '2026-12-02T12:00:00.000Z',
      },
      provisioned('mill-1', { tenant: OTHER, time: '2026-12-02T12:30:00.000Z' }),
    ];
    for (const e of events) expect((await post(mon, EVENTS_INGEST_PATH, e)).status).toBe(202);
    return events;
  }

  it("answers the tenant's events newest first, filtered by type, subject and since, at most limit; a viewer may read", async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    const [p1, p2, d1] = await fill(mon);
    const read = async (query: string) => {
      const res = await api(mon, 'GET', `/v1/events${query}`, { role: 'viewer' });
      expect(res.status).toBe(200);
      // What the monitor serves is what its OpenAPI document says.
      openapi.check('GET', '/v1/events', res.status, res.body, res.type);
      return (res.body.events as { id: string; specversion: string }[]).map((e) => e.id);
    };
    expect(await read('')).toEqual([d1!.id, p2!.id, p1!.id]);
    expect(await read(`?type=${eventTypeOf('provisioning.device.provisioned')}`)).toEqual([
      p2!.id,
      p1!.id,
    ]);
    expect(await read('?subject=devices/press-1')).toEqual([d1!.id, p1!.id]);
    expect(await read('?subject=devices/press-*')).toEqual([d1!.id, p2!.id, p1!.id]);
    expect(await read('?since=2026-12-02T11:00:00Z')).toEqual([d1!.id, p2!.id]);
    expect(await read('?limit=1')).toEqual([d1!.id]);
    const one = await api(mon, 'GET', '/v1/events?limit=1', { role: 'viewer' });
    expect(one.body.events[0]).toMatchObject({
      specversion: '1.0',
      source: '/provisioning/tenants/manufracture',
      subject: 'devices/press-1',
      datacontenttype: 'application/json',
    });
  });

  it("keeps tenants apart: a tenant reads its own journal only, and cannot read another's", async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    const events = await fill(mon);
    const theirs = await api(mon, 'GET', '/v1/events', { tenant: OTHER, role: 'viewer' });
    expect(theirs.status).toBe(200);
    expect(theirs.body.events.map((e: { id: string }) => e.id)).toEqual([events[3]!.id]);
    // A token of the other tenant asking for this one's journal: the policy refuses it.
    const crossed = await api(mon, 'GET', '/v1/events', {
      tenant: TENANT,
      tokenTenant: OTHER,
      role: 'tenant-admin',
    });
    expect(crossed.status).toBe(403);
    expect(JSON.stringify(crossed.body ?? {})).not.toContain('press-');
  });

  it('lets a viewer read but not create a subscription', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    expect((await api(mon, 'GET', '/v1/events', { role: 'viewer' })).status).toBe(200);
    const create = await api(mon, 'POST', '/v1/subscriptions', {
      role: 'viewer',
      body: { url: receiver.url },
    });
    expect(create.status).toBe(403);
  });

  it('fails a bad query with a 400 naming the parameter', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    for (const [query, field] of [
      ['?limit=0', 'query limit'],
      ['?limit=many', 'query limit'],
      ['?type=eu.kitt4sme.nothing', 'query type'],
      ['?since=yesterday', 'query since'],
      ['?subject=devices/a%20b', 'query subject'],
      ['?colour=red', 'query (all)'],
    ] as const) {
      const res = await api(mon, 'GET', `/v1/events${query}`, { role: 'viewer' });
      expect([query, res.status, res.body.code]).toEqual([query, 400, 'ERR_MONITOR_INVALID']);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
    }
  });

  it('holds every query parameter to the bounds and values its document states', async () => {
    // From the document: each bound and enum value is taken, one past each bound and a value
    // outside each enum is refused, naming the parameter.
    const mon = await monitorOn(join(dir, 'state.json'));
    const probes = queryParameterProbes(buildOpenApi() as never);
    expect(probes.map((p) => `${p.method} ${p.template} ${p.param}`)).toEqual(
      expect.arrayContaining(['GET /v1/events limit', 'GET /v1/events type']),
    );
    // The document is generated from the same schema the monitor validates with: the bound
    // itself is stated here.
    expect(probes.find((p) => p.param === 'limit')?.valid).toEqual(['1', '1000']);
    for (const { method, template, param, valid, refused } of probes) {
      const call = (value: string) =>
        api(mon, method, `${template}?${param}=${encodeURIComponent(value)}`, { role: 'viewer' });
      for (const value of refused) {
        const res = await call(value);
        expect({ param, value, status: res.status }).toEqual({ param, value, status: 400 });
        expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([`query ${param}`]);
      }
      for (const value of valid) {
        const res = await call(value);
        expect({ param, value, status: res.status }).toEqual({ param, value, status: 200 });
        openapi.check(method, template, res.status, res.body, res.type);
      }
    }
  });

  it('keeps the last journalSize events per tenant, across a restart', async () => {
    const file = join(dir, 'state.json');
    const first = await monitorOn(file, { journalSize: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const e = provisioned(`press-${i}`);
      ids.push(e.id);
      expect((await post(first, EVENTS_INGEST_PATH, e)).status).toBe(202);
    }
    await first.close();
    const second = await monitorOn(file, { journalSize: 3 });
    const res = await api(second, 'GET', '/v1/events', { role: 'viewer' });
    expect(res.body.events.map((e: { id: string }) => e.id)).toEqual(ids.slice(2).reverse());
    // Still in the journal after the restart: the same id is the same event.
    const again = await post(second, EVENTS_INGEST_PATH, provisioned('press-4'));
    expect(again.body.duplicate).toBe(true);
  });
});

describe('subscriptions over the catalogue', () => {
  it('accepts any catalogue type and refuses others with the list; id_pattern matches the id part of any subject', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    const bad = await api(mon, 'POST', '/v1/subscriptions', {
      body: { url: receiver.url, types: ['eu.kitt4sme.fleet.agent.exploded'] },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].field).toBe('types.0');
    for (const t of EVENT_TYPES) expect(bad.body.errors[0].message).toContain(t);

    await subscribe(mon, {
      types: [eventTypeOf('fleet.rollout.started'), eventTypeOf('fleet.agent.deployed')],
      id_pattern: 'vision-*',
    });
    const rollout = (agent: string) => ({
      id: eventId('rollout', agent),
      type: eventTypeOf('fleet.rollout.started'),
      tenant: TENANT,
      subject: eventSubject('rollout', agent),
      time: '2026-12-02T12:00:00.000Z',
      data: { agent, waves: 2, from: 'a', to: 'b', commit: 'c', by: 'Ada' },
    });
    for (const e of [rollout('vision-1'), rollout('other-1'), provisioned('vision-2')])
      expect((await post(mon, EVENTS_INGEST_PATH, e)).status).toBe(202);
    await mon.dispatcher.deliverDue();
    expect(receiver.events.map((e) => e.subject)).toEqual(['rollouts/vision-1']);
  });
});

/** A loopback port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('the publisher (services/runtime)', () => {
  it('keeps events while the monitor is down and sends them, same ids, once it is back: none lost, none twice', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const plogs: Record<string, unknown>[] = [];
    const publisher = new EventPublisher({
      url: `http://127.0.0.1:${port}`,
      logger: pino({ level: 'info' }, sink(plogs)),
      clock,
      random: () => 0.5,
      baseDelayMs: 1000,
    });
    const events = [provisioned('press-a'), provisioned('press-b')];
    for (const e of events) publisher.publish(e);
    // The first attempt fails (nothing listens): the publisher waits for its backoff.
    await until(() => (clock.waiting === 1 ? true : undefined), 'the first backoff');
    expect(clock.sleeps).toEqual([750]);
    clock.advance(750);
    await until(() => (clock.waiting === 1 ? true : undefined), 'the second backoff');
    expect(clock.sleeps).toEqual([750, 1500]);
    expect(publisher.counts).toMatchObject({ sent: 0, retried: 2 });

    const mon = await monitorOn(join(dir, 'state.json'), { eventsPort: port });
    clock.advance(1500);
    await publisher.flush();
    expect(publisher.counts).toMatchObject({ sent: 2, refused: 0, dropped: 0 });
    expect(mon.store.doc.journal[TENANT]!.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(plogs.filter((l) => l.msg === 'monitor not reached; retrying')).toHaveLength(2);
    expect(await metric(mon, 'monitor_events_received_total')).not.toMatch(/outcome="duplicate"/);
    await publisher.close();
  });

  it('drops a refused event (a bug: logged as an error, not retried) and goes on with the next', async () => {
    const mon = await monitorOn(join(dir, 'state.json'));
    const plogs: Record<string, unknown>[] = [];
    const clock = new ManualClock();
    const publisher = new EventPublisher({
      url: mon.eventsUrl,
      logger: pino({ level: 'info' }, sink(plogs)),
      clock,
    });
    publisher.publish(provisioned('press-c', { tenant: 'nobody' }));
    publisher.publish(provisioned('press-d'));
    await publisher.flush();
    expect(clock.sleeps).toEqual([]);
    expect(publisher.counts).toMatchObject({ sent: 1, refused: 1, retried: 0 });
    const error = plogs.find((l) => l.level === 50)!;
    expect(error.msg).toBe('the monitor refused an event; it is dropped');
    expect((error.problem as { code: string }).code).toBe('ERR_MONITOR_EVENT_TENANT');
    expect(mon.store.doc.journal[TENANT]!.map((e) => e.subject)).toEqual(['devices/press-d']);
    await publisher.close();
  });

  it('drops the oldest event, with a warning and a count, when its queue is full', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const plogs: Record<string, unknown>[] = [];
    const publisher = new EventPublisher({
      url: `http://127.0.0.1:${port}`,
      logger: pino({ level: 'info' }, sink(plogs)),
      clock,
      maxQueue: 2,
    });
    const [a, b, c] = [provisioned('q-a'), provisioned('q-b'), provisioned('q-c')];
    publisher.publish(a);
    await until(() => (clock.waiting === 1 ? true : undefined), 'the first backoff');
    publisher.publish(b);
    publisher.publish(c);
    expect(publisher.counts.dropped).toBe(1);
    expect(publisher.pending).toBe(2);
    const warn = plogs.find((l) => l.msg === 'event queue full: the oldest event was dropped');
    // `a` is the one in flight: the oldest behind it goes.
    expect(warn?.id).toBe(b.id);
    await publisher.close();
  });

  it('is a no-op without PLATFORM_EVENTS_URL, and says so once', async () => {
    const plogs: Record<string, unknown>[] = [];
    const publisher = new EventPublisher({ logger: pino({ level: 'info' }, sink(plogs)) });
    publisher.publish(provisioned('press-e'));
    await publisher.flush();
    expect(publisher.enabled).toBe(false);
    expect(publisher.pending).toBe(0);
    expect(plogs.map((l) => l.msg)).toEqual([
      'PLATFORM_EVENTS_URL is not set: this service raises no platform events',
    ]);
  });
});

describe('provisioning raises device events to the monitor', () => {
  let stack: ProvisioningStack;
  let mon: RunningMonitor;
  const m = ANCHOR.manufracture;

  beforeAll(async () => {
    mon = await startEventsMonitor({
      stateFile: join(tmpdir(), `monitor-prov-${process.pid}.json`),
      logs,
    });
    stack = await startProvisioningStack({ env: { PLATFORM_EVENTS_URL: mon.eventsUrl } });
    const group = await stack.call('PUT', '/v1/groups', {
      servicePath: m.servicePath,
      body: { entity_type: 'Bot' },
    });
    expect([200, 201]).toContain(group.status);
  });
  afterAll(async () => {
    await stack?.close();
    await mon?.close();
    rmSync(join(tmpdir(), `monitor-prov-${process.pid}.json`), { force: true });
  });

  const device = (id: string) => ({
    device_id: id,
    entity_name: `urn:ngsi:events:${id}`,
    entity_type: 'Bot',
    attributes: [{ object_id: 't', name: 'temperature', type: 'Number' }],
  });
  const journal = () => (mon.store.doc.journal[TENANT] ?? []).map((e) => [e.type, e.subject]);

  it('raises provisioned for a created or replaced device (single and bulk) and deleted for a removed one, with who did it; nothing on dry_run', async () => {
    const token = await stack.token({
      claims: { name: 'Ada Lovelace', email: 'ada@manufracture.example' },
    });
    const call = (method: string, path: string, body?: unknown) =>
      stack.call(method, path, {
        servicePath: m.servicePath,
        token,
        ...(body !== undefined ? { body } : {}),
      });
    const { device_id: _id, ...one } = device('ev-1');
    expect((await call('PUT', '/v1/devices/ev-1?dry_run=true', one)).status).toBe(201);
    expect(
      (await call('POST', '/v1/devices/bulk?dry_run=true', { devices: [device('ev-2')] })).status,
    ).toBe(200);
    await stack.service.events.flush();
    expect(journal()).toEqual([]);

    expect((await call('PUT', '/v1/devices/ev-1', one)).status).toBe(201);
    // The same definition again: unchanged, no event.
    expect((await call('PUT', '/v1/devices/ev-1', one)).status).toBe(200);
    const bulk = await call('POST', '/v1/devices/bulk', {
      devices: [device('ev-2'), { device_id: 'ev-bad' }],
    });
    expect(bulk.status).toBe(207);
    expect((await call('DELETE', '/v1/devices/ev-1')).status).toBe(204);
    expect((await call('DELETE', '/v1/devices/ev-2')).status).toBe(204);
    await stack.service.events.flush();

    expect(journal()).toEqual([
      ['eu.kitt4sme.provisioning.device.provisioned', 'devices/ev-1'],
      ['eu.kitt4sme.provisioning.device.provisioned', 'devices/ev-2'],
      ['eu.kitt4sme.provisioning.device.deleted', 'devices/ev-1'],
      ['eu.kitt4sme.provisioning.device.deleted', 'devices/ev-2'],
    ]);
    const [created, , deleted] = mon.store.doc.journal[TENANT]!;
    expect(created!.source).toBe('/provisioning/tenants/manufracture');
    expect(created!.data).toEqual({
      tenant: TENANT,
      kind: 'device',
      id: 'ev-1',
      protocol: 'ultralight',
      service_path: m.servicePath,
      entity_id: 'urn:ngsi:events:ev-1',
      entity_type: 'Bot',
      by: 'Ada Lovelace <ada@manufracture.example>',
    });
    expect(deleted!.data).toMatchObject({
      id: 'ev-1',
      protocol: 'ultralight',
      entity_id: 'urn:ngsi:events:ev-1',
      by: 'Ada Lovelace <ada@manufracture.example>',
    });
    expect(stack.service.events.counts).toMatchObject({ sent: 4, refused: 0 });
  });
});
