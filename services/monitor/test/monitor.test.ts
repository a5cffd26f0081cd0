/**
 * The monitor against real parts: the provisioning service provisions devices into the real
 * IoT Agent (iotagent-node-lib, in process) and its Ultralight south binding; Orion is the
 * contract fake; the tenancy policy is the platform's Rego (wasm), tokens are verified against
 * a JWKS; webhooks go to a loopback receiver that verifies them with the Standard Webhooks
 * library. Liveness time is a controllable clock: passes are run by hand, nothing sleeps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { z } from 'zod';

import { loadPlatformContext } from '../../../platform/context.js';
import { policyData } from '../../../platform/policy-data.js';
import type { ProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { ANCHOR, startProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import type { SouthBinding } from '../../../testing/stack/south-binding.js';
import { startSouth } from '../../../testing/stack/south-formats.js';
import { monitorApi } from '../../../testing/support/monitor-api.js';
import type { WebhookReceiver } from '../../../testing/support/webhook-receiver.js';
import { startWebhookReceiver } from '../../../testing/support/webhook-receiver.js';
import {
  AGENT_ANNOUNCE_PATH,
  AGENT_INSTANCE_ENTITY_TYPE,
  HEARTBEAT_ATTRS,
  HEARTBEAT_SERVICE_PATH,
  agentInstanceEntityId,
  agentInstanceName,
} from '../../../platform/fleet/identity.js';
import { platformContext, sharedKeycloak } from '../../../testing/real/keycloak.js';
import { freePort } from '../../../testing/real/opa.js';
import { agentEnvironment, ensureAgentClient } from '../../../testing/stack/agent-modules.js';
import { waitFor } from '../../../testing/support/processes.js';
import type { AgentModule, Clock, RunningAgent } from '../../agent-kit/src/index.js';
import { startAgent } from '../../agent-kit/src/index.js';
import type { MonitorConfig } from '../src/config.js';
import type { DeviceBackend } from '../src/fiware.js';
import { FiwareDeviceBackend } from '../src/fiware.js';
import type { RunningMonitor } from '../src/service.js';
import { fiwareBackend, startMonitor } from '../src/service.js';
import { logLines } from '../../../testing/support/log-lines.js';

const m = ANCHOR.manufracture;
const TENANT = 'manufracture';
const INTERVAL = 60;
const S = 1000;

let stack: ProvisioningStack;
let south: SouthBinding;
let receiver: WebhookReceiver;
let dir: string;
let apikey: string;
let clock = Date.now();
const running: RunningMonitor[] = [];
const logs: Record<string, unknown>[] = [];

function config(stateFile: string): MonitorConfig {
  const ctx = loadPlatformContext();
  return {
    port: 0,
    eventsPort: 0,
    journalSize: 1000,
    iotaNorthUrls: stack.agentUrls,
    orionUrl: stack.orion.url,
    jwksUrl: stack.config.jwksUrl,
    policyData: { ...policyData(ctx), issuer: stack.config.issuer },
    tenants: [TENANT, 'smithereens'],
    stateFile,
    passSeconds: 30,
    nudgeCommand: 'ping',
    maxNudges: 3,
    graceRatio: 0.1,
    minGraceSeconds: 5,
    webhookTimeoutMs: 2000,
    webhookAllowedHosts: ['127.0.0.1'],
    upstreamTimeoutMs: 2000,
    logLevel: 'info',
  };
}

/**
 * The FIWARE backend of the configuration, whose agents' nudge may also call loopback (the
 * real agent kit of these tests listens there): the announceAllowedHosts of a lab.
 */
function loopbackAnnounceBackend(stateFile: string): DeviceBackend {
  const base = fiwareBackend(config(stateFile));
  return new FiwareDeviceBackend(base.agents, base.orion, {
    announceAllowedHosts: ['127.0.0.1'],
    announceTimeoutMs: 2000,
  });
}

/** A monitor on the given state file, its clock the test's. */
async function monitorOn(stateFile: string, backend?: DeviceBackend): Promise<RunningMonitor> {
  const sink = logLines((entry) => logs.push(entry));
  const mon = await startMonitor(config(stateFile), {
    host: '127.0.0.1',
    processMetrics: false,
    timer: false,
    now: () => clock,
    random: () => 0.5,
    logDestination: sink,
    ...(backend ? { backend } : {}),
  });
  running.push(mon);
  return mon;
}

const api = monitorApi((r) => stack.token(r), TENANT);

/** Devices of the running test, removed after it. */
const provisioned: string[] = [];

/**
 * Provisions a device with the `ping` command and an expected interval. NOTE (1)
 */
async function provision(id: string): Promise<void> {
  provisioned.push(id);
  const res = await stack.call('PUT', `/v1/devices/${id}`, {
    servicePath: m.servicePath,
    body: {
      entity_name: `urn:ngsi:monitor:${id}`,
      entity_type: 'Bot',
      attributes: [{ object_id: 't', name: 'temperature', type: 'Number' }],
      commands: [{ name: 'ping', type: 'command' }],
      expected_interval: INTERVAL,
    },
  });
  expect([200, 201]).toContain(res.status);
}

/** The device measures, through the IoT Agent's south API (Ultralight 2.0). */
async function measure(id: string): Promise<void> {
  const res = await fetch(`${south.url}/iot/d?k=${apikey}&i=${id}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 't|21',
  });
  expect(res.status).toBe(200);
}

/** What the device gets when it polls for commands. */
async function poll(id: string): Promise<string> {
  const res = await fetch(`${south.url}/iot/d?k=${apikey}&i=${id}&getCmd=1`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: '',
  });
  return res.text();
}

async function entity(id: string): Promise<Record<string, any>> {
  const res = await fetch(
    `${stack.orion.url}/v2/entities/${encodeURIComponent(`urn:ngsi:monitor:${id}`)}?type=Bot`,
    { headers: { 'fiware-service': TENANT, 'fiware-servicepath': m.servicePath } },
  );
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>;
}

/** Advances the clock by `seconds` in passes of `step` seconds; returns every pass's events. */
async function advance(mon: RunningMonitor, seconds: number, step = 10) {
  const events: { type: string; id: string; target: string }[] = [];
  for (let t = 0; t < seconds; t += step) {
    clock += step * S;
    const pass = await mon.monitor.pass();

    expect(pass.failedTenants).toEqual([]);
    events.push(...pass.events);
  }
  return events;
}

const stateOf = (mon: RunningMonitor, id: string) =>
  mon.store.doc.targets[`${TENANT}/device/${id}`]?.state;

/** The agents' nudges of an outcome so far. */
async function nudges(mon: RunningMonitor, outcome: string): Promise<number> {
  const line = (await mon.metrics.registry.getSingleMetricAsString('monitor_nudges_total'))
    .split('\n')
    .find((l) => l.includes(`kind="agent",outcome="${outcome}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

beforeAll(async () => {
  stack = await startProvisioningStack();
  south = await startSouth(stack.iota!, 'ultralight');
  receiver = await startWebhookReceiver();
  const group = await stack.call('PUT', '/v1/groups', {
    servicePath: m.servicePath,
    body: { entity_type: 'Bot' },
  });
  expect([200, 201]).toContain(group.status);
  apikey = group.body.group.apikey;
});
afterAll(async () => {
  for (const mon of running) await mon.close();
  await receiver?.close();
  await south?.close();
  await stack?.close();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'monitor-'));
  receiver.mode = 'up';
  receiver.events.length = 0;
  receiver.duplicates.length = 0;
  receiver.rejected.length = 0;
  receiver.attempts.length = 0;
  clock = Date.now();
});
afterEach(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const id of provisioned.splice(0)) {
    await poll(id);
    const res = await stack.call('DELETE', `/v1/devices/${id}`, { servicePath: m.servicePath });
    expect(res.status).toBe(204);
  }
});

async function subscribe(mon: RunningMonitor, pattern: string) {
  const res = await api(mon, 'POST', '/v1/subscriptions', {
    body: { url: receiver.url, id_pattern: pattern },
  });
  expect(res.status).toBe(201);
  receiver.secret = res.body.secret;
  return res.body as { id: string; secret: string };
}

describe('liveness of devices', () => {
  it('nudges a silent device with ping through Orion and the IoT Agent; the answer makes it fresh, with no event', async () => {
    await provision('mon-a');
    await measure('mon-a');
    const mon = await monitorOn(join(dir, 'state.json'));
    await subscribe(mon, 'mon-a');
    await advance(mon, 10);
    expect(stateOf(mon, 'mon-a')).toBe('fresh');
    expect((await entity('mon-a')).deviceHealth?.value).toBe('fresh');

    await advance(mon, 70);
    expect(stateOf(mon, 'mon-a')).toBe('nudged');
    const nudged = await entity('mon-a');
    expect(nudged.deviceHealth.value).toBe('nudged');
    expect(nudged.deviceHealth.metadata.since.type).toBe('DateTime');
    expect(nudged.ping_status?.value).toBe('PENDING');
    // The device polls and finds the nudge, then measures.
    expect(await poll('mon-a')).toMatch(/^mon-a@ping/);
    await measure('mon-a');
    const events = await advance(mon, 10);
    expect(stateOf(mon, 'mon-a')).toBe('fresh');
    expect((await entity('mon-a')).deviceHealth.value).toBe('fresh');
    expect(events).toEqual([]);
    expect(receiver.events).toEqual([]);
  });

  it('a device that never answers: three nudges, exactly one offline, then one recovered that names it', async () => {
    await provision('mon-b');
    await measure('mon-b');
    const mon = await monitorOn(join(dir, 'state.json'));
    await subscribe(mon, 'mon-b');
    await advance(mon, 10);
    const events = await advance(mon, 3600, 10);
    expect(events.map((e) => e.type)).toEqual(['eu.kitt4sme.monitor.device.offline']);
    const sent = (await mon.metrics.registry.getSingleMetricAsString('monitor_nudges_total'))
      .split('\n')
      .find((l) => l.includes('outcome="sent"'));
    expect(sent).toMatch(/ 3$/);
    expect((await entity('mon-b')).deviceHealth.value).toBe('offline');
    expect(await mon.metrics.registry.getSingleMetricAsString('monitor_target_liveness')).toMatch(
      /monitor_target_liveness\{tenant="manufracture",kind="device",id="mon-b"\} 3/,
    );
    expect(receiver.events.map((e) => e.type)).toEqual(['eu.kitt4sme.monitor.device.offline']);
    const offline = receiver.events[0]!;
    expect(offline.subject).toBe('devices/mon-b');
    expect(offline.data).toMatchObject({ tenant: TENANT, id: 'mon-b', state: 'offline' });

    await measure('mon-b');
    const back = await advance(mon, 10);
    expect(back.map((e) => e.type)).toEqual(['eu.kitt4sme.monitor.device.recovered']);
    expect(receiver.events.map((e) => e.type)).toEqual([
      'eu.kitt4sme.monitor.device.offline',
      'eu.kitt4sme.monitor.device.recovered',
    ]);
    expect(receiver.events[1]!.data).toMatchObject({ resolves: offline.id, state: 'fresh' });
    expect(receiver.duplicates).toEqual([]);
    expect(receiver.rejected).toEqual([]);
  });

  it('a monitor restarted mid-silence does not alert again: one offline, then one recovered', async () => {
    await provision('mon-c');
    await measure('mon-c');
    const file = join(dir, 'state.json');
    const first = await monitorOn(file);
    await subscribe(first, 'mon-c');
    await advance(first, 10);
    await advance(first, 150);
    expect(stateOf(first, 'mon-c')).toBe('nudged');
    await first.close();

    const second = await monitorOn(file);
    expect(stateOf(second, 'mon-c')).toBe('nudged');
    const events = await advance(second, 600);
    expect(events.map((e) => e.type)).toEqual(['eu.kitt4sme.monitor.device.offline']);
    await second.close();

    const third = await monitorOn(file);
    expect(await advance(third, 600)).toEqual([]);
    await measure('mon-c');
    expect((await advance(third, 10)).map((e) => e.type)).toEqual([
      'eu.kitt4sme.monitor.device.recovered',
    ]);
    expect(receiver.events.map((e) => e.type)).toEqual([
      'eu.kitt4sme.monitor.device.offline',
      'eu.kitt4sme.monitor.device.recovered',
    ]);
  });
});

describe('liveness of agents (their heartbeat entities)', () => {
  const INSTANCE = 'agent-5d8be2d4d7b4-gpu-edge-1';
  const entityId = agentInstanceEntityId(INSTANCE);
  const agentHeaders = { 'fiware-service': TENANT, 'fiware-servicepath': HEARTBEAT_SERVICE_PATH };
  const jsonHeaders = { ...agentHeaders, 'content-type': 'application/json' };
  /** The agent's heartbeat, as the agent kit writes it: update, or create on 404. */
  async function heartbeat(id = entityId, attrs: Record<string, unknown> = {}): Promise<void> {
    const body = {
      [HEARTBEAT_ATTRS.agentId]: { type: 'Text', value: '5d8be2d4-d7b4-4140-a05f-be65778cbd90' },
      [HEARTBEAT_ATTRS.agentName]: { type: 'Text', value: 'anomalies-detector' },
      [HEARTBEAT_ATTRS.host]: { type: 'Text', value: 'gpu-edge-1' },
      [HEARTBEAT_ATTRS.revision]: { type: 'Text', value: 'babe0fe64db4ab76' },
      [HEARTBEAT_ATTRS.heartbeatSeconds]: { type: 'Number', value: 30 },
      [HEARTBEAT_ATTRS.dateObserved]: { type: 'DateTime', value: new Date(clock).toISOString() },
      ...attrs,
    };
    const url = `${stack.orion.url}/v2/entities/${encodeURIComponent(id)}/attrs?type=${AGENT_INSTANCE_ENTITY_TYPE}`;
    let res = await fetch(url, {
      method: 'PATCH',
      headers: jsonHeaders,
      body: JSON.stringify(body),
    });
    if (res.status === 404)
      res = await fetch(`${stack.orion.url}/v2/entities`, {
        method: 'POST',
        headers: jsonHeaders,
        body: JSON.stringify({ id, type: AGENT_INSTANCE_ENTITY_TYPE, ...body }),
      });
    expect([201, 204]).toContain(res.status);
  }
  async function heartbeatEntity(id = entityId): Promise<Record<string, any>> {
    const res = await fetch(
      `${stack.orion.url}/v2/entities/${encodeURIComponent(id)}?type=${AGENT_INSTANCE_ENTITY_TYPE}`,
      { headers: agentHeaders },
    );
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, any>;
  }
  const agentState = (mon: RunningMonitor, id = INSTANCE) =>
    mon.store.doc.targets[`${TENANT}/agent/${id}`]?.state;
  afterEach(async () => {
    for (const e of stack.orion.entities(TENANT))
      if ((e as { type?: string }).type === AGENT_INSTANCE_ENTITY_TYPE)
        await fetch(
          `${stack.orion.url}/v2/entities/${encodeURIComponent(String((e as { id: string }).id))}`,
          { method: 'DELETE', headers: agentHeaders },
        );
  });

  it('a silent agent is offline after three intervals, once, and recovered by its next heartbeat', async () => {
    await heartbeat();
    const mon = await monitorOn(join(dir, 'state.json'));
    await subscribe(mon, 'agent-5d8be2d4d7b4-*');
    await advance(mon, 10);
    expect(agentState(mon)).toBe('fresh');
    expect((await heartbeatEntity()).agentHealth?.value).toBe('fresh');
    // Heartbeats within every interval keep it fresh.
    for (let i = 0; i < 4; i++) {
      await advance(mon, 20);
      await heartbeat();
    }
    expect(agentState(mon)).toBe('fresh');

    const events = await advance(mon, 600);
    expect(events.map((e) => e.type)).toEqual(['eu.kitt4sme.monitor.agent.offline']);
    expect(agentState(mon)).toBe('offline');
    expect((await heartbeatEntity()).agentHealth.value).toBe('offline');
    // It reports no announceUrl: each silent interval counted as an unanswered nudge.
    expect(await nudges(mon, 'no-url')).toBe(3);
    expect(receiver.events.map((e) => e.type)).toEqual(['eu.kitt4sme.monitor.agent.offline']);
    const offline = receiver.events[0]!;
    expect(offline.subject).toBe(`agents/${INSTANCE}`);
    expect(offline.data).toMatchObject({
      kind: 'agent',
      id: INSTANCE,
      state: 'offline',
      entity_id: entityId,
      host: 'gpu-edge-1',
      revision: 'babe0fe64db4ab76',
      expected_interval: 30,
    });

    await heartbeat();
    expect((await advance(mon, 10)).map((e) => e.type)).toEqual([
      'eu.kitt4sme.monitor.agent.recovered',
    ]);
    expect(receiver.events[1]!.data).toMatchObject({ resolves: offline.id, state: 'fresh' });
    // The monitor's own writes never count as a heartbeat: the agent's dateObserved does.
    expect((await heartbeatEntity()).agentHealth.value).toBe('fresh');
  });

  it('watches only heartbeat entities of agent instances with an interval, and forgets those deleted', async () => {
    await heartbeat();
    await heartbeat(agentInstanceEntityId('agent-000000000001'), {
      [HEARTBEAT_ATTRS.heartbeatSeconds]: { type: 'Number', value: 0 },
    });
    await heartbeat('urn:ngsi-ld:Other:1');
    const mon = await monitorOn(join(dir, 'state.json'));
    await advance(mon, 10);
    expect(
      Object.keys(mon.store.doc.targets).filter((k) => k.startsWith(`${TENANT}/agent/`)),
    ).toEqual([`${TENANT}/agent/${INSTANCE}`]);
    await fetch(`${stack.orion.url}/v2/entities/${encodeURIComponent(entityId)}`, {
      method: 'DELETE',
      headers: agentHeaders,
    });
    await advance(mon, 10);
    expect(agentState(mon)).toBeUndefined();
  });

  it("keeps a tenant's states, and says why, when Orion answers what the monitor cannot read", async () => {
    await provision('mon-h');
    await measure('mon-h');
    const mon = await monitorOn(join(dir, 'state.json'));
    await advance(mon, 10);
    expect(stateOf(mon, 'mon-h')).toBe('fresh');
    // The devices' last measurements come back without their entity types.
    stack.orion.fault((req) =>
      req.method === 'GET' && req.path === '/v2/entities' && req.query.attrs === 'TimeInstant'
        ? { status: 200, body: [{ id: 'urn:ngsi:bot:mon-h', TimeInstant: 'soon' }] }
        : undefined,
    );
    try {
      const before = logs.length;
      clock += 10 * S;
      expect((await mon.monitor.pass()).failedTenants).toEqual([TENANT]);
      expect(stateOf(mon, 'mon-h')).toBe('fresh');
      expect(
        logs
          .slice(before)
          .filter((l) => l.msg === 'tenant not monitored this pass')
          .map((l) => [l.tenant, l.err]),
      ).toContainEqual([
        TENANT,
        'orion answered GET /v2/entities with 200 and a body the service cannot read ([0].type: Invalid input: expected string, received undefined)',
      ]);
    } finally {
      stack.orion.fault(undefined);
    }
  });

  it('keeps watching devices when the agents cannot be listed, and their states when back', async () => {
    await provision('mon-g');
    await measure('mon-g');
    await heartbeat();
    const mon = await monitorOn(join(dir, 'state.json'));
    await advance(mon, 10);
    stack.orion.fault((req) =>
      req.method === 'GET' &&
      req.path === '/v2/entities' &&
      req.query.type === AGENT_INSTANCE_ENTITY_TYPE
        ? { status: 500, body: { error: 'InternalServerError', description: 'down' } }
        : undefined,
    );
    try {
      await advance(mon, 10);
      expect(stateOf(mon, 'mon-g')).toBe('fresh');
      expect(agentState(mon)).toBe('fresh');
      expect(logs.some((l) => l.msg === 'agents not monitored this pass')).toBe(true);
    } finally {
      stack.orion.fault(undefined);
    }
  });
});

describe('the agent nudge: a real agent kit asked to re-announce itself', () => {
  const AGENT_ID = '7e1d0c2b-3a49-4f5e-8d6c-0b1a2c3d4e5f';
  const HOST = 'line-pc-7';
  const INSTANCE = agentInstanceName(AGENT_ID, HOST);
  const agentHeaders = { 'fiware-service': TENANT, 'fiware-servicepath': HEARTBEAT_SERVICE_PATH };
  const jsonHeaders = { ...agentHeaders, 'content-type': 'application/json' };
  /** A module that does nothing but be an agent. */
  const probe: AgentModule<z.ZodObject> = {
    name: 'probe',
    config: z.object({}),
    start: () => ({}),
  };
  let credentials: Awaited<ReturnType<typeof ensureAgentClient>>;
  const agents: RunningAgent[] = [];
  const agentState = (mon: RunningMonitor, id = INSTANCE) =>
    mon.store.doc.targets[`${TENANT}/agent/${id}`]?.state;
  const until = (p: () => boolean, what: string) =>
    waitFor(
      async () => p(),
      30_000,
      () => new Error(`timed out waiting for ${what}`),
      20,
    );

  /**
   * The clock of the agent: the test's time, and a heartbeat loop that never wakes by itself
   * after its first beat (paused), so only an announce makes it beat again.
   */
  const pausedClock: Clock = {
    now: () => clock,
    sleep: (_ms, signal) =>
      new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        signal?.addEventListener('abort', () => resolve(), { once: true });
      }),
  };

  /** The agent kit on loopback, its announce URL its own. */
  async function startKitAgent(): Promise<RunningAgent> {
    const port = await freePort();
    const agent = await startAgent(probe, {
      env: {
        ...agentEnvironment({
          id: AGENT_ID,
          name: 'probe',
          tenant: TENANT,
          host: HOST,
          revision: 'r-nudge',
          heartbeatSeconds: 30,
          config: {},
          orionUrl: stack.orion.url,
          credentials,
          port,
        }),
        AGENT_ANNOUNCE_URL: `http://127.0.0.1:${port}${AGENT_ANNOUNCE_PATH}`,
      },
      clock: pausedClock,
      random: () => 0,
      logDestination: { write: () => undefined },
      host: '127.0.0.1',
    });
    agents.push(agent);
    await until(() => agent.heartbeat.status().beats === 1, 'the first beat');
    return agent;
  }

  beforeAll(async () => {
    const kc = await sharedKeycloak();
    credentials = await ensureAgentClient(kc, platformContext().config.identity.realm, {
      id: AGENT_ID,
      tenant: TENANT,
      needs: [],
    });
  }, 300_000);
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.close();
    stack.orion.fault(undefined);
    for (const e of stack.orion.entities(TENANT))
      if ((e as { type?: string }).type === AGENT_INSTANCE_ENTITY_TYPE)
        await fetch(
          `${stack.orion.url}/v2/entities/${encodeURIComponent(String((e as { id: string }).id))}`,
          { method: 'DELETE', headers: agentHeaders },
        );
  });

  it('a silent agent nudged beats at once: fresh again, never offline, no event', async () => {
    const agent = await startKitAgent();
    const mon = await monitorOn(
      join(dir, 'state.json'),
      loopbackAnnounceBackend(join(dir, 'state.json')),
    );
    await subscribe(mon, 'agent-*');
    await advance(mon, 10);
    expect(agentState(mon)).toBe('fresh');
    // Its heartbeat is paused: past 30 s + 5 s of grace it is silent, and nudged.
    const events = await advance(mon, 30);
    expect(agentState(mon)).toBe('nudged');
    expect(agent.heartbeat.status().beats).toBe(2);
    expect(await nudges(mon, 'sent')).toBe(1);
    events.push(...(await advance(mon, 10)));
    expect(agentState(mon)).toBe('fresh');
    // Each later silence is answered the same way: never offline.
    events.push(...(await advance(mon, 600)));
    expect(events).toEqual([]);
    expect(agentState(mon)).not.toBe('offline');
    expect(await nudges(mon, 'sent')).toBeGreaterThan(3);
    expect(await nudges(mon, 'failed')).toBe(0);
    expect(agent.heartbeat.status().beats).toBe(1 + (await nudges(mon, 'sent')));
    expect(receiver.events).toEqual([]);
  });

  it('an agent whose beat fails answers 503: its nudges go unanswered, it is offline once, and the reason is logged', async () => {
    const agent = await startKitAgent();
    const mon = await monitorOn(
      join(dir, 'state.json'),
      loopbackAnnounceBackend(join(dir, 'state.json')),
    );
    await subscribe(mon, 'agent-*');
    await advance(mon, 10);
    // Orion refuses the agent's own writes (not the monitor's reads and health writes).
    stack.orion.fault((req) =>
      req.method === 'PATCH' && req.path === `/v2/entities/${agentInstanceEntityId(INSTANCE)}/attrs`
        ? { status: 403, body: { error: 'Forbidden', description: 'not this token' } }
        : undefined,
    );
    const from = logs.length;
    const events = await advance(mon, 600);
    expect(events.map((e) => e.type)).toEqual(['eu.kitt4sme.monitor.agent.offline']);
    expect(agentState(mon)).toBe('offline');
    expect(await nudges(mon, 'failed')).toBe(3);
    expect(await nudges(mon, 'sent')).toBe(0);
    expect(agent.heartbeat.status()).toMatchObject({ state: 'failing', failures: 3 });
    const unanswered = logs
      .slice(from)
      .filter((l) => l.msg === 'nudge unanswered: the agent did not beat');
    expect(unanswered).toHaveLength(3);
    expect(unanswered[0]).toMatchObject({
      agent: INSTANCE,
      code: 'ERR_AGENT_ORION',
      reason: expect.stringMatching(/^answered 503: Orion answered 403 to PATCH/),
    });
    expect(receiver.events.map((e) => e.type)).toEqual(['eu.kitt4sme.monitor.agent.offline']);
  });

  describe('an announceUrl outside the rule', () => {
    let target: Server;
    const received: string[] = [];
    beforeAll(async () => {
      target = createServer((req, res) => {
        received.push(`${req.method} ${req.url}`);
        res.writeHead(202).end('{}');
      });
      await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    });
    afterAll(() => new Promise<void>((r) => target.close(() => r())));

    it('is never called, and the silence counts as unanswered', async () => {
      const port = (target.address() as AddressInfo).port;
      const at = (path: string) => `127.0.0.1:${port}${path}`;
      const urls: Record<string, string> = {
        'agent-000000000a01':
          'http://p.agent-000000000a01-pods.agents-smithereens.svc.cluster.local:8080/announce',
        'agent-000000000a02': `http://${at('/admin')}`,
        'agent-000000000a03': `https://${at(AGENT_ANNOUNCE_PATH)}`,
        'agent-000000000a04': `http://${at(`${AGENT_ANNOUNCE_PATH}?admin`)}`,
        // The control: an allowed URL of the same server is called.
        'agent-000000000a05': `http://${at(AGENT_ANNOUNCE_PATH)}`,
      };
      for (const [instance, url] of Object.entries(urls)) {
        const body = {
          [HEARTBEAT_ATTRS.heartbeatSeconds]: { type: 'Number', value: 30 },
          [HEARTBEAT_ATTRS.dateObserved]: {
            type: 'DateTime',
            value: new Date(clock).toISOString(),
          },
          [HEARTBEAT_ATTRS.announceUrl]: { type: 'Text', value: url },
        };
        const res = await fetch(`${stack.orion.url}/v2/entities`, {
          method: 'POST',
          headers: jsonHeaders,
          body: JSON.stringify({
            id: agentInstanceEntityId(instance),
            type: AGENT_INSTANCE_ENTITY_TYPE,
            ...body,
          }),
        });
        expect(res.status).toBe(201);
      }
      const mon = await monitorOn(
        join(dir, 'state.json'),
        loopbackAnnounceBackend(join(dir, 'state.json')),
      );
      await subscribe(mon, 'agent-000000000a*');
      const from = logs.length;
      const events = await advance(mon, 600);
      // Every one is offline after three unanswered nudges, the control too (it never beats).
      expect(
        events
          .filter((e) => e.type === 'eu.kitt4sme.monitor.agent.offline')
          .map((e) => e.target)
          .sort(),
      ).toEqual(
        Object.keys(urls)
          .map((i) => `${TENANT}/agent/${i}`)
          .sort(),
      );
      expect(received).toEqual([
        `POST ${AGENT_ANNOUNCE_PATH}`,
        `POST ${AGENT_ANNOUNCE_PATH}`,
        `POST ${AGENT_ANNOUNCE_PATH}`,
      ]);
      expect(await nudges(mon, 'refused')).toBe(12);
      expect(await nudges(mon, 'sent')).toBe(3);
      const refused = logs.slice(from).filter((l) => String(l.msg).startsWith('nudge not sent'));
      expect(
        Object.fromEntries(refused.map((l) => [l.agent as string, l.reason as string])),
      ).toEqual({
        'agent-000000000a01': expect.stringMatching(/not an agent pod of agents-manufracture/),
        'agent-000000000a02': 'path /admin, not /announce',
        'agent-000000000a03': 'scheme https, not http',
        'agent-000000000a04': 'it has a query',
      });
    });
  });
});

describe('webhooks', () => {
  it('keeps events while the receiver is down and delivers them in order, same ids, once back', async () => {
    await provision('mon-d');
    await measure('mon-d');
    const mon = await monitorOn(join(dir, 'state.json'));
    const sub = await subscribe(mon, 'mon-d');
    await advance(mon, 10);
    receiver.mode = 'down';
    await advance(mon, 600);
    await measure('mon-d');
    await advance(mon, 10);
    expect(receiver.events).toEqual([]);
    const failedIds = new Set(receiver.attempts.map((a) => a.id));
    // Only the offline was tried (in order: the recovered waits behind it).
    expect(failedIds.size).toBe(1);
    const log = await api(mon, 'GET', `/v1/subscriptions/${sub.id}/deliveries`);
    expect(log.status).toBe(200);
    expect(log.body.pending).toBe(2);
    expect(log.body.deliveries.at(-1)).toMatchObject({ outcome: 'retrying', status: 503 });

    receiver.mode = 'up';
    // The device keeps measuring while the queue drains with its backoff.
    for (let i = 0; i < 60 && mon.store.doc.queue.length > 0; i++) {
      await measure('mon-d');
      await advance(mon, 60, 60);
    }
    expect(receiver.events.map((e) => e.type)).toEqual([
      'eu.kitt4sme.monitor.device.offline',
      'eu.kitt4sme.monitor.device.recovered',
    ]);
    expect(failedIds.has(receiver.events[0]!.id)).toBe(true);
    const after = await api(mon, 'GET', `/v1/subscriptions/${sub.id}/deliveries`);
    expect(after.body.pending).toBe(0);
    expect(after.body.deliveries.filter((d: any) => d.outcome === 'delivered')).toHaveLength(2);
  });

  it('disables a subscription whose receiver answers 410 Gone', async () => {
    await provision('mon-e');
    await measure('mon-e');
    const mon = await monitorOn(join(dir, 'state.json'));
    const sub = await subscribe(mon, 'mon-e');
    await advance(mon, 10);
    receiver.mode = 'gone';
    await advance(mon, 600);
    const list = await api(mon, 'GET', '/v1/subscriptions');
    expect(list.body.subscriptions.find((s: any) => s.id === sub.id).disabled.reason).toMatch(
      /410/,
    );
    const attempts = receiver.attempts.length;
    await measure('mon-e');
    await advance(mon, 600);
    expect(receiver.attempts.length).toBe(attempts);
  });

  it('the receiver refuses a forged, a re-signed-with-another-key and a stale delivery, and processes a replay once', async () => {
    const { Webhook } = await import('standardwebhooks');
    receiver.secret = `whsec_${Buffer.from('k'.repeat(24)).toString('base64')}`;
    const body = JSON.stringify({
      specversion: '1.0',
      id: 'evt-1',
      type: 'eu.kitt4sme.monitor.device.offline',
      source: '/monitor/tenants/manufracture',
      data: { id: 'x' },
    });
    const send = (headers: Record<string, string>, b = body) =>
      fetch(receiver.url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json', ...headers },
        body: b,
      }).then((r) => r.status);
    const signed = (secret: string, at: Date, b = body) => ({
      'webhook-id': 'evt-1',
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign('evt-1', at, b),
    });
    const good = signed(receiver.secret, new Date());
    // The body changed after signing.
    expect(await send(good, body.replace('"x"', '"y"'))).toBe(401);
    // Signed with another key.
    expect(
      await send(signed(`whsec_${Buffer.from('z'.repeat(24)).toString('base64')}`, new Date())),
    ).toBe(401);
    // Replayed later than the tolerance (Standard Webhooks: 5 minutes).
    expect(await send(signed(receiver.secret, new Date(Date.now() - 10 * 60 * S)))).toBe(401);
    expect(receiver.events).toEqual([]);
    expect(await send(good)).toBe(204);
    expect(await send(good)).toBe(200);
    expect(receiver.events).toHaveLength(1);
    expect(receiver.duplicates).toEqual(['evt-1']);
  });
});

describe('subscription API', () => {
  let mon: RunningMonitor;
  beforeEach(async () => {
    mon = await monitorOn(join(dir, 'state.json'));
  });

  it('creates, lists (never the secret again) and deletes a subscription', async () => {
    const created = await api(mon, 'POST', '/v1/subscriptions', {
      body: { url: receiver.url, types: ['eu.kitt4sme.monitor.device.offline'] },
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    expect(created.body.id_pattern).toBe('*');
    const list = await api(mon, 'GET', '/v1/subscriptions');
    expect(list.body.subscriptions).toHaveLength(1);
    expect(list.body.subscriptions[0].secret).toBeUndefined();
    expect((await api(mon, 'DELETE', `/v1/subscriptions/${created.body.id}`)).status).toBe(204);
    expect((await api(mon, 'GET', '/v1/subscriptions')).body.subscriptions).toEqual([]);
    expect((await api(mon, 'DELETE', `/v1/subscriptions/${created.body.id}`)).status).toBe(404);
  });

  it('answers a subscription id whose %-escape is not UTF-8 with a 400 naming the path', async () => {
    for (const [method, path] of [
      ['DELETE', '/v1/subscriptions/%E0'],
      ['GET', '/v1/subscriptions/%E0/deliveries'],
    ] as const) {
      const res = await api(mon, method, path);
      expect([method, res.status, res.body.code, res.body.errors]).toEqual([
        method,
        400,
        'ERR_MONITOR_INVALID',
        [{ field: 'path', message: 'a %-escape that is not UTF-8' }],
      ]);
    }
  });

  it("fails for an operator: subscriptions are the tenant admin's", async () => {
    // The route lets an operator read only: the policy refuses the write before the app.
    const write = await api(mon, 'POST', '/v1/subscriptions', {
      role: 'operator',
      body: { url: receiver.url },
    });
    expect(write.status).toBe(403);
    expect(Object.keys(mon.store.doc.subscriptions)).toEqual([]);
    // Reading the list is the admin's too: the app refuses it.
    const read = await api(mon, 'GET', '/v1/subscriptions', { role: 'operator' });
    expect(read.status).toBe(403);
    expect(read.body.code).toBe('ERR_MONITOR_FORBIDDEN');
    expect(read.body.detail).toMatch(/tenant-admin/);
    // Health is for every reader of the tenant.
    expect((await api(mon, 'GET', '/v1/targets', { role: 'viewer' })).status).toBe(200);
  });

  it("refuses a subscription to another tenant's devices", async () => {
    // A manufracture admin asking for smithereens: the policy refuses before the app.
    const res = await api(mon, 'POST', '/v1/subscriptions', {
      tenant: 'smithereens',
      tokenTenant: TENANT,
      body: { url: receiver.url },
    });
    expect(res.status).toBe(403);
    expect(Object.keys(mon.store.doc.subscriptions)).toEqual([]);
    // And a smithereens admin does not see nor delete manufracture's.
    const own = await api(mon, 'POST', '/v1/subscriptions', { body: { url: receiver.url } });
    const other = await api(mon, 'DELETE', `/v1/subscriptions/${own.body.id}`, {
      tenant: 'smithereens',
    });
    expect(other.status).toBe(404);
    expect((await api(mon, 'GET', '/v1/subscriptions', { tenant: 'smithereens' })).body).toEqual({
      subscriptions: [],
    });
  });

  it('fails on bad input with errors naming each field', async () => {
    const bad = await api(mon, 'POST', '/v1/subscriptions', {
      body: {
        url: 'ftp://x.example.com/',
        types: ['offline'],
        id_pattern: 'a/(b)',
        extra: 1,
      },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe('ERR_MONITOR_INVALID');
    expect(bad.body.fix).toBeDefined();
    const fields = bad.body.errors.map((e: any) => e.field).sort();
    expect(fields).toEqual(['(body)', 'id_pattern', 'types.0', 'url']);
    for (const url of [
      'http://localhost:8080/x',
      'http://10.0.0.1/x',
      'http://[::1]/x',
      'http://orion.fiware.svc.cluster.local/v2',
      'http://metadata/x',
    ]) {
      const refused = await api(mon, 'POST', '/v1/subscriptions', { body: { url } });
      expect(refused.status).toBe(422);
      expect(refused.body.errors).toEqual([
        { field: 'url', message: expect.stringMatching(/DNS name/) },
      ]);
    }
    const notJson = await fetch(`${mon.url}/monitor/v1/subscriptions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await stack.token({ claims: { roles: ['manufracture:tenant-admin'] } })}`,
        'fiware-service': TENANT,
        'content-type': 'application/json',
      },
      body: '{',
    });
    expect(notJson.status).toBe(400);
  });

  it("answers without a token with the policy's 401", async () => {
    const res = await fetch(`${mon.url}/monitor/v1/subscriptions`, {
      headers: { 'fiware-service': TENANT },
    });
    expect(res.status).toBe(401);
  });
});
afterAll(() => {
  // A run with MONITOR_TEST_LOGS=1 shows the monitor's warnings.
  if (process.env.MONITOR_TEST_LOGS) console.log(logs.filter((l) => l.level !== 'info'));
});

// NOTE
// 1. One queued ping at a time. iotagent-node-lib 4.14's memory command registry finds a
//    queued command by its name alone (see testing/stack/south-binding.ts, NOTE 2), so a second
//    nudge to a device fails with 404 while another device also has a `ping` queued. Each test
//    therefore drains (polls) and deletes its devices; a deployment's MongoDB registry has no
//    such limit.
