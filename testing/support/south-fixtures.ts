/**
 * Test support: what the south binding tests (Ultralight, JSON) do around the binding —
 * provision groups and devices on the real agent's north API, read what reached the Orion fake,
 * send commands through Orion, stub devices that take pushed commands.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { OrionFake, NgsiEntity } from '../fakes/orion.js';
import type { IotAgentHandle } from '../real/iot-agent.js';
import type { StubServer } from './http.js';
import { startStub } from './http.js';

/** The entity of the test devices. */
export const ENTITY = 'urn:Bot:1';

/** What a device stub received. */
export interface Got {
  body: string;
  headers: IncomingMessage['headers'];
}

/** Fixtures of one agent, its protocol and its Orion. */
export function southFixtures(o: {
  /** The agent under test (read lazily: tests may restart things). */
  readonly iota: () => IotAgentHandle;
  readonly orion: () => OrionFake;
  /** Tenant names start with this. */
  readonly tenantPrefix: string;
  /** The group's resource, e.g. `/iot/d`. */
  readonly resource: string;
  /** The `protocol` devices are provisioned with, e.g. `PDI-IoTA-UltraLight`. */
  readonly agentProtocol: string;
}) {
  let tenants = 0;
  const tenant = () => `${o.tenantPrefix}_${++tenants}`;
  const key = (service: string) => `key-${service}-${Math.random().toString(36).slice(2, 10)}`;

  async function north(service: string, path: string, body: unknown) {
    const res = await fetch(`${o.iota().northUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'fiware-service': service,
        'fiware-servicepath': '/',
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  }

  /** Provisions a group (apikey, entity type Bot) and devices with foo (object_id f) and ping. */
  async function provision(
    service: string,
    apikey: string,
    devices: Record<string, unknown>[],
    group: Record<string, unknown> = {},
  ) {
    const g = {
      apikey,
      cbroker: o.orion().url,
      entity_type: 'Bot',
      resource: o.resource,
      ...group,
    };
    const groups = await north(service, '/iot/services', { services: [g] });
    expect(groups).toEqual({ status: 201, text: expect.anything() });
    if (devices.length === 0) return;
    const full = devices.map((d) => ({
      entity_type: 'Bot',
      transport: 'HTTP',
      protocol: o.agentProtocol,
      attributes: [{ object_id: 'f', name: 'foo', type: 'Integer' }],
      commands: [{ name: 'ping', type: 'command' }],
      ...d,
    }));
    expect(await north(service, '/iot/devices', { devices: full })).toMatchObject({
      status: 201,
    });
  }

  /** A tenant with one polling device `foodev` (entity urn:Bot:1) and its API key. */
  async function pollingDevice(device: Record<string, unknown> = {}) {
    const service = tenant();
    const apikey = key(service);
    await provision(service, apikey, [{ device_id: 'foodev', entity_name: ENTITY, ...device }]);
    return { service, apikey };
  }

  /** A tenant with one push device `dev` whose commands go to `endpoint`. */
  async function pushDevice(endpoint: string) {
    const service = tenant();
    const apikey = key(service);
    await provision(service, apikey, [{ device_id: 'dev', entity_name: ENTITY, endpoint }]);
    return { service, apikey };
  }

  const entity = (service: string, id = ENTITY): NgsiEntity | undefined =>
    o
      .orion()
      .entities(service)
      .find((e) => e.id === id);

  const attr = (service: string, name: string, id = ENTITY) =>
    entity(service, id)?.[name] as
      { type: string; value: unknown; metadata?: Record<string, { value?: unknown }> } | undefined;

  /** Writes the agent sent to Orion for a tenant (entity updates, not registrations). */
  const writes = (service: string) =>
    o
      .orion()
      .requests.filter(
        (r) =>
          r.service === service &&
          r.method !== 'GET' &&
          (r.path.startsWith('/v2/entities') || r.path === '/v2/op/update'),
      );

  /** Sends a command through Orion, as a northbound application does. */
  async function orionCommand(service: string, value: unknown, id = ENTITY) {
    const res = await fetch(`${o.orion().url}/v2/entities/${encodeURIComponent(id)}/attrs`, {
      method: 'PATCH',
      headers: {
        'content-type': 'application/json',
        'fiware-service': service,
        'fiware-servicepath': '/',
      },
      body: JSON.stringify({ ping: { type: 'command', value } }),
    });
    return res.status;
  }

  return {
    tenant,
    key,
    north,
    provision,
    pollingDevice,
    pushDevice,
    entity,
    attr,
    writes,
    orionCommand,
  };
}

/** Polls `probe` until it returns something other than undefined, for at most `ms`. */
export async function until<T>(probe: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A device stub answering with `answer` once `gate` resolves. */
export async function deviceStub(
  answer: (got: Got, res: ServerResponse) => void,
  gate: Promise<void> = Promise.resolve(),
): Promise<{ stub: StubServer; got: Got[] }> {
  const got: Got[] = [];
  const stub = await startStub((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const g = { body: Buffer.concat(chunks).toString(), headers: req.headers };
      got.push(g);
      void gate.then(() => answer(g, res));
    });
  });
  return { stub, got };
}
