/**
 * What the scenarios do with the platform's FIWARE APIs, written once: the scenario data (the
 * devices files in docs/examples/), provisioning through the provisioning service, measurements
 * on the south API of each device's protocol (Ultralight 2.0, JSON), and reads from Orion and
 * QuantumLeap.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { DeviceProtocol } from '../../platform/components.js';
import { iotAgentOf } from '../../platform/components.js';
import { API_KEYS_FRESHNESS_SECONDS } from '../../platform/policy-data.js';
import { DENY_REASON_HEADER } from '../../platform/tenancy.js';
import { groupsOf, readDevicesFile } from '../../services/provisioning/src/devices-file.js';
import type { DevicesFile } from '../../services/provisioning/src/devices-file.js';
import { RESOURCES } from '../../services/provisioning/src/model.js';
import type { DeviceSpec } from '../../services/provisioning/src/model.js';
import { ApiError } from '../../services/provisioning/src/client.js';
import { AssertionFailed, check } from './framework.js';
import type { Platform } from './platform.js';
import { expectStatus, snippet } from './platform.js';

/** Where the anchor's scenario data lives: one devices file per tenant. */
export const EXAMPLES_DIR = fileURLToPath(new URL('../../docs/examples/', import.meta.url));

/** The devices files of the given tenants (`<dir>/<tenant>.devices.yaml`). */
export function scenarioData(tenants: readonly string[], dir = EXAMPLES_DIR): DevicesFile[] {
  return tenants.map((t) => {
    const file = `${dir.replace(/\/?$/, '/')}${t}.devices.yaml`;
    if (!existsSync(file))
      throw new TypeError(`no scenario data for tenant ${t}: ${file} is missing`);
    const data = readDevicesFile(file);
    if (data.tenant !== t) throw new TypeError(`${file} is for tenant ${data.tenant}, not ${t}`);
    return data;
  });
}

/** A device with where it lives and how it authenticates on the south API. */
export interface PlacedDevice {
  readonly tenant: string;
  readonly servicePath: string;
  readonly apikey: string;
  /** The protocol it speaks, which decides the IoT Agent it sends to. */
  readonly protocol: DeviceProtocol;
  /** The south resource its group listens on, e.g. `/iot/d`. */
  readonly resource: string;
  readonly device: DeviceSpec;
}

/**
 * Every device of a devices file with its API key (its own or its group's).
 * @throws TypeError for a device without one: it could not send a measurement.
 */
export function devicesOf(file: DevicesFile): PlacedDevice[] {
  return file.servicePaths.flatMap((sp) =>
    sp.devices.map((device) => {
      const protocol = device.protocol;
      const group = groupsOf(sp).find((g) => g.protocol === protocol);
      const apikey = device.apikey ?? group?.apikey;
      if (!apikey) {
        throw new TypeError(
          `${file.tenant}${sp.path} device ${device.device_id} has no API key of its own or of a ${protocol} group: scenarios need one to send measurements`,
        );
      }
      const resource = RESOURCES[protocol];
      return { tenant: file.tenant, servicePath: sp.path, apikey, protocol, resource, device };
    }),
  );
}

/**
 * Makes the platform hold a devices file's groups and devices: groups first, then the devices
 * in one bulk request per service path. Idempotent. (The QuantumLeap subscription is a step
 * of its own in basic-sense.)
 * @returns e.g. "2 devices: 2 unchanged"
 */
export async function provision(platform: Platform, file: DevicesFile): Promise<string> {
  const api = platform.provisioning(file.tenant);
  const counts: Record<string, number> = {};
  try {
    for (const sp of file.servicePaths) {
      for (const group of groupsOf(sp))
        await api.call('PUT', '/v1/groups', { servicePath: sp.path, body: group });
      if (sp.devices.length === 0) continue;
      const res = await api.upsertDevices(sp.path, sp.devices, false);
      for (const r of res.results) {
        if (r.status === 'failed') {
          throw new AssertionFailed(
            `provisioning ${file.tenant}${sp.path} device ${r.device_id ?? `#${r.index}`} failed: ${r.reason ?? 'no reason given'}`,
          );
        }
        counts[r.status] = (counts[r.status] ?? 0) + 1;
      }
    }
  } catch (err) {
    if (err instanceof ApiError) {
      throw new AssertionFailed(
        `the provisioning service refused ${file.tenant}'s devices: ${err.message}${err.problem?.fix ? ` (${err.problem.fix})` : ''}`,
        { cause: err },
      );
    }
    throw err;
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const detail = Object.entries(counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  return `${total} device${total === 1 ? '' : 's'}${detail ? `: ${detail}` : ''}`;
}

/** The Ultralight 2.0 payload setting every active attribute of a device to `value`. */
export function ulPayload(device: DeviceSpec, value: number | string): string {
  return device.attributes.map((a) => `${a.object_id ?? a.name}|${value}`).join('|');
}

/** The JSON payload setting every active attribute of a device to `value` (typed as given). */
export function jsonPayload(device: DeviceSpec, value: number | string): Record<string, unknown> {
  return Object.fromEntries(device.attributes.map((a) => [a.object_id ?? a.name, value]));
}

/** What a device sends to say "every attribute is `value`", in its protocol. */
export function measurePayload(
  d: PlacedDevice,
  value: number | string,
): { text: string } | { json: unknown } {
  return d.protocol === 'json'
    ? { json: jsonPayload(d.device, value) }
    : { text: ulPayload(d.device, value) };
}

/** The gateway route of a device's south API: its protocol's IoT Agent. */
export function southOf(d: PlacedDevice): {
  service: ReturnType<typeof iotAgentOf>;
  port: 'south';
} {
  return { service: iotAgentOf(d.protocol), port: 'south' };
}

/** Sends one measurement of a device on the south API of its protocol, with a device token. */
export async function sendMeasures(
  platform: Platform,
  d: PlacedDevice,
  value: number | string,
  opts: { token?: string; signal?: AbortSignal } = {},
): Promise<string> {
  return send(platform, d, measurePayload(d, value), d.resource, opts);
}

/** Sends one Ultralight payload for a device on the south API, with the tenant's device token. */
export async function sendUltralight(
  platform: Platform,
  d: PlacedDevice,
  payload: string,
  opts: { token?: string; query?: string; signal?: AbortSignal } = {},
): Promise<string> {
  if (d.protocol !== 'ultralight')
    throw new TypeError(`${d.device.device_id} speaks ${d.protocol}, not Ultralight`);
  return send(platform, d, { text: payload }, d.resource, opts);
}

/** The gateway's reason while a new group's key has not reached it yet. */
export const KEY_NOT_YET = 'API key not valid for this tenant';

async function send(
  platform: Platform,
  d: PlacedDevice,
  body: { text: string } | { json: unknown },
  resource: string,
  opts: { token?: string; query?: string; signal?: AbortSignal },
): Promise<string> {
  const query = new URLSearchParams({ k: d.apikey, i: d.device.device_id });
  const token = opts.token ?? (await platform.token(d.tenant, 'devices'));
  const call = () =>
    platform.call({
      method: 'POST',
      ...southOf(d),
      path: `${resource}?${query}${opts.query ? `&${opts.query}` : ''}`,
      tenant: d.tenant,
      token,
      ...body,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  // A group's key reaches the gateway within API_KEYS_FRESHNESS_SECONDS of its creation.
  const deadline = Date.now() + API_KEYS_FRESHNESS_SECONDS * 1000;
  let reply = await call();
  while (
    reply.status === 403 &&
    reply.headers.get(DENY_REASON_HEADER) === KEY_NOT_YET &&
    Date.now() < deadline &&
    !opts.signal?.aborted
  ) {
    await new Promise((r) => setTimeout(r, 250));
    reply = await call();
  }
  expectStatus(reply, 200, `the IoT Agent refused ${d.device.device_id}'s ${d.protocol} payload`);
  return reply.text;
}

/** Asks the south API for a device's pending commands (`getCmd=1`); the body lists them. */
export async function pollCommands(
  platform: Platform,
  d: PlacedDevice,
  signal?: AbortSignal,
): Promise<string> {
  const query = new URLSearchParams({ k: d.apikey, i: d.device.device_id, getCmd: '1' });
  const reply = await platform.call({
    ...southOf(d),
    path: `${d.resource}?${query}`,
    tenant: d.tenant,
    token: await platform.token(d.tenant, 'devices'),
    ...(signal ? { signal } : {}),
  });
  expectStatus(reply, 200, `the IoT Agent refused ${d.device.device_id}'s command poll`);
  return reply.text;
}

/** An NGSI-v2 entity in normalized form. */
export type Entity = { id: string; type: string } & Record<
  string,
  { type?: string; value?: unknown; metadata?: unknown }
>;

/** Reads one entity from Orion in the tenant and service path of a device. */
export async function readEntity(
  platform: Platform,
  d: PlacedDevice,
  opts: { attrs?: readonly string[]; signal?: AbortSignal } = {},
): Promise<Entity> {
  const q = new URLSearchParams({ type: d.device.entity_type ?? 'Thing' });
  if (opts.attrs) q.set('attrs', opts.attrs.join(','));
  const reply = await platform.call({
    service: 'orion',
    path: `/v2/entities/${encodeURIComponent(entityId(d))}?${q}`,
    tenant: d.tenant,
    servicePath: d.servicePath,
    token: await platform.token(d.tenant),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  expectStatus(reply, 200, `reading ${entityId(d)} from Orion in ${d.tenant}${d.servicePath}`);
  return reply.json<Entity>();
}

/** The entity id of a device (the agent's default is `<type>:<device_id>`). */
export function entityId(d: PlacedDevice): string {
  return d.device.entity_name ?? `${d.device.entity_type ?? 'Thing'}:${d.device.device_id}`;
}

/**
 * Checks that an entity's attributes hold `expected`: text compared as text (Ultralight is
 * untyped, so `3` and `"3"` agree), anything else as JSON. A JSON device's values keep their
 * JSON type, which {@link checkTypedAttributes} checks too.
 */
export function checkAttributes(entity: Entity, expected: Record<string, unknown>): void {
  const text = (v: unknown) =>
    typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
      ? String(v)
      : JSON.stringify(v);
  for (const [name, value] of Object.entries(expected)) {
    const got = entity[name]?.value;
    check(
      got !== undefined && text(got) === text(value),
      () =>
        `${entity.id}.${name} is ${got === undefined ? 'missing' : JSON.stringify(got)}, expected ${JSON.stringify(value)}`,
    );
  }
}

/** Checks that an entity's attributes hold `expected` as JSON, types included (3 is not "3"). */
export function checkTypedAttributes(entity: Entity, expected: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(expected)) {
    const got = entity[name]?.value;
    check(
      JSON.stringify(got) === JSON.stringify(value),
      () =>
        `${entity.id}.${name} is ${got === undefined ? 'missing' : JSON.stringify(got)}, expected ${JSON.stringify(value)} (a ${typeof value})`,
    );
  }
}

/** A subscription as Orion lists it. */
interface Subscription {
  id: string;
  description?: string;
  status?: string;
  notification?: { http?: { url?: string }; lastFailureReason?: string };
}

/** Orion's subscriptions of a tenant that notify a QuantumLeap (`…/v2/notify`). */
export async function quantumLeapSubscriptions(
  platform: Platform,
  tenant: string,
): Promise<Subscription[]> {
  const reply = await platform.call({
    service: 'orion',
    path: '/v2/subscriptions?limit=1000',
    tenant,
    token: await platform.token(tenant),
  });
  expectStatus(reply, 200, `listing ${tenant}'s subscriptions in Orion`);
  return reply
    .json<Subscription[]>()
    .filter((s) => s.notification?.http?.url?.replace(/\/+$/, '').endsWith('/v2/notify'));
}

/**
 * The last `lastN` measurements of one attribute of one entity in QuantumLeap, oldest first.
 * QuantumLeap stores a row per notification, and Orion notifies a change of any attribute (the
 * monitor's `deviceHealth` too) with every attribute: such a row repeats the last measurement
 * under the same time index (the entity's `TimeInstant`, which only the IoT Agent sets). Rows
 * that repeat their predecessor's index are that measurement again, and count once; a row
 * without the attribute (a notification that did not carry it: a column left null) is no
 * measurement of it. (A second subscription feeding QuantumLeap also repeats rows; basic-sense
 * refuses it by counting the subscriptions.)
 */
export async function quantumLeapValues(
  platform: Platform,
  d: PlacedDevice,
  attr: string,
  lastN: number,
  signal?: AbortSignal,
): Promise<unknown[]> {
  // Enough rows to hold `lastN` measurements among the repeats of a busy monitor.
  const rows = Math.min(1000, lastN * 10);
  const q = new URLSearchParams({ type: d.device.entity_type ?? 'Thing', lastN: String(rows) });
  const reply = await platform.call({
    service: 'quantumleap',
    path: `/v2/entities/${encodeURIComponent(entityId(d))}/attrs/${encodeURIComponent(attr)}?${q}`,
    tenant: d.tenant,
    servicePath: d.servicePath,
    token: await platform.token(d.tenant),
    ...(signal ? { signal } : {}),
  });
  if (reply.status === 404) {
    throw new AssertionFailed(
      `QuantumLeap has no series for ${entityId(d)}.${attr} in ${d.tenant}${d.servicePath}`,
    );
  }
  expectStatus(reply, 200, `reading ${entityId(d)}.${attr} from QuantumLeap`);
  const body = reply.json<{ values?: unknown[]; index?: unknown[] }>();
  if (!Array.isArray(body.values)) {
    throw new AssertionFailed(`QuantumLeap answered without values: ${snippet(reply.text)}`);
  }
  const index = Array.isArray(body.index) ? body.index : [];
  const measurements = body.values.filter(
    (v, i) => v !== null && (i === 0 || index[i] === undefined || index[i] !== index[i - 1]),
  );
  return measurements.slice(-lastN);
}
