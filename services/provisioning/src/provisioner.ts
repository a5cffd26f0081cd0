/**
 * What the service does, independent of HTTP: idempotent upserts of service groups and
 * devices, bulk provisioning with per-item results and compensation, the tenant's QuantumLeap
 * subscription, and the inventory with liveness.
 *
 * Consistency rule: after every call, a device either exists in the IoT Agent of its protocol
 * with exactly the requested definition (and its context registration in Orion, which the agent
 * manages), or it is as it was before the call. A failure rolls the item back and says why.
 *
 * One IoT Agent per device protocol (platform/components.ts): groups live in the agent of their
 * protocol; a device id is the tenant's within a service path whatever its protocol, so a
 * device whose protocol changes moves from one agent to the other, restored on failure.
 */
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';

import type { z } from 'zod';

import type { DeviceProtocol } from '../../../platform/components.js';
import {
  DEFAULT_DEVICE_PROTOCOL,
  DEVICE_PROTOCOLS,
  iotAgentSpec,
} from '../../../platform/components.js';

import { withCasts } from './casts.js';
import type { ProvisioningErrorCode } from './errors.js';
import type {
  AgentDevice,
  AgentGroup,
  IotAgentClient,
  OrionClient,
  Scope,
} from './fiware-client.js';
import { entityKey } from './fiware-client.js';
import type {
  Attribute,
  Command,
  Device,
  DeviceSpec,
  Group,
  GroupSpec,
  Json,
  StaticAttribute,
  WriteStatus,
} from './model.js';
import { DeviceSpec as DeviceSpecSchema, RESOURCES } from './model.js';
import { UpstreamError, summarize } from './upstream.js';

/** One invalid field. */
export interface FieldError {
  /** Where, e.g. `devices[3].attributes[0].name`. */
  readonly field: string;
  readonly message: string;
}

/** An operation that failed as a whole, with the code and HTTP status it maps to. */
export class ProvisioningFailure extends Error {
  constructor(
    readonly code: ProvisioningErrorCode,
    readonly status: number,
    message: string,
    readonly errors: readonly FieldError[] = [],
    /** Seconds, for 503. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ProvisioningFailure';
  }
}

/** The result of one item of a bulk request. */
export interface ItemResult {
  readonly index: number;
  readonly device_id?: string;
  readonly status: WriteStatus;
  /** For `failed`: the error code, why, and the invalid fields. */
  readonly code?: ProvisioningErrorCode;
  readonly reason?: string;
  readonly errors?: readonly FieldError[];
}

/** The result of a bulk request. */
export interface BulkResult {
  readonly dry_run: boolean;
  readonly summary: Readonly<Record<WriteStatus, number>>;
  readonly results: readonly ItemResult[];
}

/**
 * Command names the groups of the path give their devices (the agent copies them in), per
 * protocol: an agent copies only its own groups' commands.
 */
type GroupCommands = ReadonlyMap<DeviceProtocol, ReadonlySet<string>>;

/** What the items of one bulk request share. */
interface BatchState {
  /** Set at the first unreachable upstream: the remaining items are not attempted. */
  upstream: UpstreamError | undefined;
  readonly groupCommands: GroupCommands;
}

/** Liveness of one device. */
export type Liveness = 'fresh' | 'stale' | 'never-seen';

/** One row of the inventory. */
export interface InventoryEntry {
  readonly device_id: string;
  readonly protocol: DeviceProtocol;
  readonly entity_name: string;
  readonly entity_type: string;
  readonly expected_interval: number;
  readonly last_measurement: string | null;
  readonly age_seconds: number | null;
  readonly state: Liveness;
}

/** Options of {@link Provisioner}. */
export interface ProvisionerOptions {
  /** The north (provisioning) API of the IoT Agent of each device protocol. */
  readonly agents: Readonly<Record<DeviceProtocol, IotAgentClient>>;
  readonly orion: OrionClient;
  /** The URL Orion notifies QuantumLeap at (in-cluster). */
  readonly quantumLeapNotifyUrl: string;
  /** Devices per IoT Agent create request. @default 500 */
  readonly chunkSize?: number;
  /** Expected interval of devices that declare none, in seconds (`DEFAULT_EXPECTED_INTERVAL_S`). */
  readonly defaultExpectedInterval: number;
  /** Seconds a client should wait after a 503. @default 5 */
  readonly retryAfterSeconds?: number;
  /** The clock. @default Date.now */
  readonly now?: () => number;
}

/** A stored device and the protocol of the agent that holds it. */
interface Stored {
  readonly protocol: DeviceProtocol;
  readonly device: AgentDevice;
}

/** A device to replace: its new definition, and where and how it is now. */
interface Replace {
  readonly index: number;
  readonly spec: DeviceSpec;
  readonly previous: AgentDevice;
  readonly previousProtocol: DeviceProtocol;
}

/** Description of the subscription {@link Provisioner.ensureSubscription} creates. */
export const QUANTUMLEAP_SUBSCRIPTION_DESCRIPTION =
  'Notify QuantumLeap of changes to any entity of the tenant (kitt4sme provisioning)';

/** The `protocol` each agent stores on its devices, by device protocol. */
const AGENT_PROTOCOL = (p: DeviceProtocol) => iotAgentSpec(p).agentProtocol;
const EXPECTED_INTERVAL = 'kitt4sme:expectedInterval';
/** Up to this many devices are looked up one by one rather than by listing the path. */
const FEW = 8;

/** The service's logic. */
export class Provisioner {
  private readonly chunkSize: number;
  private readonly defaultExpectedInterval: number;
  /** Seconds a client should wait after an unreachable upstream (Retry-After). */
  readonly retryAfter: number;
  private readonly now: () => number;

  constructor(private readonly opts: ProvisionerOptions) {
    this.chunkSize = opts.chunkSize ?? 500;
    this.defaultExpectedInterval = opts.defaultExpectedInterval;
    this.retryAfter = opts.retryAfterSeconds ?? 5;
    this.now = opts.now ?? Date.now;
  }

  // ---- service groups ----

  /** The groups of the service path, of every protocol (or of one). */
  async listGroups(scope: Scope, protocol?: DeviceProtocol): Promise<Group[]> {
    const protocols = protocol ? [protocol] : DEVICE_PROTOCOLS;
    const lists = await this.agentGroups(scope, protocols);
    return protocols.flatMap((p, i) => lists[i]!.map((g) => groupOf(scope, p, g)));
  }

  /** Creates or updates the group of `scope`'s service path and resource. */
  async upsertGroup(
    scope: Scope,
    spec: GroupSpec,
    dryRun: boolean,
  ): Promise<{ status: WriteStatus; group: Group }> {
    const agent = this.agent(spec.protocol);
    const resource = RESOURCES[spec.protocol];
    const groups = await this.guard(() => agent.listGroups(scope));
    const existing = groups.find((g) => g.resource === resource);
    if (!existing) {
      const apikey = spec.apikey ?? randomBytes(18).toString('base64url');
      const body = { ...agentGroup(spec), apikey, resource };
      if (!dryRun) await this.createGroup(scope, agent, body);
      return { status: 'created', group: groupOf(scope, spec.protocol, body) };
    }
    if (spec.apikey !== undefined && spec.apikey !== existing.apikey) {
      throw new ProvisioningFailure(
        'ERR_PROVISIONING_CONFLICT',
        409,
        `the ${spec.protocol} service group (${resource}) at ${scope.servicePath} already has another API key; devices use it, so it is not changed in place. Delete the group first to replace its key`,
        [{ field: 'apikey', message: 'differs from the existing group' }],
      );
    }
    const desired = { ...agentGroup(spec), apikey: existing.apikey, resource: existing.resource };
    const view = (g: Record<string, unknown>) => groupOf(scope, spec.protocol, g);
    if (isDeepStrictEqual(view(desired), view(existing))) {
      return { status: 'unchanged', group: view(existing) };
    }
    if (!dryRun) {
      // Replaced, not updated: the agent's PUT merges fields in and cannot remove one.
      const key = { resource: existing.resource, apikey: existing.apikey };
      await this.guard(() => agent.deleteGroup(scope, key));
      try {
        await this.createGroup(scope, agent, desired);
      } catch (err) {
        await this.guard(() => agent.createGroup(scope, { ...existing }));
        throw err;
      }
    }
    return { status: 'updated', group: view(desired) };
  }

  /**
   * Creates a group. The agent keeps (resource, API key) unique across all tenants, so a
   * clash says only that the key is taken, never where.
   */
  private async createGroup(
    scope: Scope,
    agent: IotAgentClient,
    body: Record<string, unknown>,
  ): Promise<void> {
    try {
      await agent.createGroup(scope, body);
    } catch (err) {
      if (err instanceof UpstreamError && err.status === 409) {
        throw new ProvisioningFailure(
          'ERR_PROVISIONING_CONFLICT',
          409,
          'this API key is not available; omit apikey to have a strong one generated',
          [{ field: 'apikey', message: 'not available' }],
        );
      }
      throw this.asFailure(err);
    }
  }

  /** Deletes the group of a protocol; false when there was none. */
  async deleteGroup(
    scope: Scope,
    protocol: DeviceProtocol = DEFAULT_DEVICE_PROTOCOL,
  ): Promise<boolean> {
    const agent = this.agent(protocol);
    const resource = RESOURCES[protocol];
    const groups = await this.guard(() => agent.listGroups(scope));
    const existing = groups.find((g) => g.resource === resource);
    if (!existing) return false;
    return this.guard(() => agent.deleteGroup(scope, { resource, apikey: existing.apikey }));
  }

  // ---- devices ----

  /** The devices of the service path, of every protocol, in protocol order. */
  async listDevices(scope: Scope): Promise<Device[]> {
    return (await this.allDevices(scope)).map((d) => deviceOf(scope, d.protocol, d.device));
  }

  async getDevice(scope: Scope, id: string): Promise<Device | undefined> {
    const found = await this.guard(() => this.findDevice(scope, id));
    return found && deviceOf(scope, found.protocol, found.device);
  }

  /**
   * Creates, replaces or leaves alone each device so that it matches its item. Items are
   * validated one by one; an invalid item fails alone. Nothing is written when the upstreams
   * cannot be read first (503).
   */
  async upsertDevices(
    scope: Scope,
    items: readonly unknown[],
    dryRun: boolean,
  ): Promise<BulkResult> {
    const results: ItemResult[] = new Array(items.length);
    // `explicit`: the item names its protocol (a device moves to another agent only when asked).
    const valid: { index: number; spec: DeviceSpec; explicit: boolean }[] = [];
    const firstIndex = new Map<string, number>();
    items.forEach((item, index) => {
      const parsed = DeviceSpecSchema.safeParse(item);
      if (!parsed.success) {
        results[index] = invalid(index, item, fieldErrors(parsed.error, `devices[${index}]`));
        return;
      }
      const earlier = firstIndex.get(parsed.data.device_id);
      if (earlier !== undefined) {
        results[index] = invalid(index, item, [
          { field: `devices[${index}].device_id`, message: `duplicate of devices[${earlier}]` },
        ]);
        return;
      }
      firstIndex.set(parsed.data.device_id, index);
      const explicit = (item as { protocol?: unknown }).protocol !== undefined;
      valid.push({ index, spec: parsed.data, explicit });
    });

    const [groupLists, current] = await Promise.all([
      this.agentGroups(scope, DEVICE_PROTOCOLS),
      this.guard(() =>
        this.currentDevices(
          scope,
          valid.map((v) => v.spec.device_id),
        ),
      ),
    ]);
    if (!dryRun && valid.some((v) => v.spec.commands.length > 0)) {
      // Commands make the agent register the device in Orion: check Orion before writing.
      await this.guard(() => this.opts.orion.version(scope.correlator));
    }
    // A device's API key is one of the groups of its protocol.
    const apikeys = new Map(
      DEVICE_PROTOCOLS.map((p, i) => [p, new Set(groupLists[i]!.map((g) => g.apikey))]),
    );
    // An agent copies its groups' commands into its devices' records.
    const groupCommands: GroupCommands = new Map(
      DEVICE_PROTOCOLS.map((p, i) => [
        p,
        new Set(groupLists[i]!.flatMap((g) => (g.commands ?? []).map((c) => String(c.name)))),
      ]),
    );
    // Should two agents hold the same device, the first protocol's copy counts, as in
    // findDevice: the answer must not depend on how many devices a request names.
    const byId = new Map<string, Stored>();
    for (const d of current) if (!byId.has(d.device.device_id)) byId.set(d.device.device_id, d);
    const creates: { index: number; spec: DeviceSpec }[] = [];
    const replaces: Replace[] = [];
    for (const v of valid) {
      const { index, spec } = v;
      if (spec.apikey !== undefined && !apikeys.get(spec.protocol)!.has(spec.apikey)) {
        results[index] = {
          index,
          device_id: spec.device_id,
          status: 'failed',
          code: 'ERR_PROVISIONING_CONFLICT',
          reason: `no ${spec.protocol} service group at ${scope.servicePath} has this API key; create the group first`,
          errors: [{ field: `devices[${index}].apikey`, message: 'matches no service group' }],
        };
        continue;
      }
      const previous = byId.get(spec.device_id);
      if (previous && previous.protocol !== spec.protocol && !v.explicit) {
        // A client that does not know protocols must not move a device by leaving it out.
        results[index] = {
          index,
          device_id: spec.device_id,
          status: 'failed',
          code: 'ERR_PROVISIONING_CONFLICT',
          reason: `the device is a ${previous.protocol} device and the item names no protocol; say protocol: ${previous.protocol} to keep it there, or protocol: ${spec.protocol} to move it`,
          errors: [
            {
              field: `devices[${index}].protocol`,
              message: `required: the device is a ${previous.protocol} device (name ${previous.protocol} to keep it, ${spec.protocol} to move it)`,
            },
          ],
        };
        continue;
      }
      if (!previous) creates.push(v);
      else if (
        previous.protocol === spec.protocol &&
        sameDevice(scope, spec, previous.device, groupCommands)
      ) {
        results[index] = { index, device_id: spec.device_id, status: 'unchanged' };
      } else
        replaces.push({ ...v, previous: previous.device, previousProtocol: previous.protocol });
    }

    if (dryRun) {
      for (const c of creates)
        results[c.index] = { index: c.index, device_id: c.spec.device_id, status: 'created' };
      for (const r of replaces)
        results[r.index] = { index: r.index, device_id: r.spec.device_id, status: 'updated' };
    } else {
      const down: BatchState = { upstream: undefined, groupCommands };
      for (const protocol of DEVICE_PROTOCOLS) {
        const mine = creates.filter((c) => c.spec.protocol === protocol);
        for (let i = 0; i < mine.length; i += this.chunkSize) {
          const chunk = mine.slice(i, i + this.chunkSize);
          const agent = this.agent(protocol);
          for (const r of await this.createChunk(scope, agent, chunk, down)) results[r.index] = r;
        }
      }
      for (const r of replaces) results[r.index] = await this.replace(scope, r, down);
    }
    return bulkResult(results, dryRun);
  }

  /**
   * Deletes a device (and its context registration); with `deleteEntity`, its entity too. The
   * device as it was, or undefined when there was none.
   */
  async deleteDevice(scope: Scope, id: string, deleteEntity: boolean): Promise<Device | undefined> {
    const found = await this.guard(() => this.findDevice(scope, id));
    if (!found) return undefined;
    const device = found.device;
    // The entity first: if that fails the device is still there and the call can be retried.
    if (deleteEntity && device.entity_name && device.entity_type) {
      const { entity_name, entity_type } = device;
      await this.guard(() => this.opts.orion.deleteEntity(scope, entity_name, entity_type));
    }
    await this.guard(() => this.agent(found.protocol).deleteDevice(scope, id));
    return deviceOf(scope, found.protocol, device);
  }

  // ---- subscription and inventory ----

  /**
   * Makes sure the tenant has one active subscription that notifies QuantumLeap of every
   * entity. It is created without a service path header, so it covers the whole tenant: with
   * one, Orion would only match entities directly in that path.
   */
  async ensureSubscription(
    scope: Scope,
    dryRun: boolean,
  ): Promise<{ status: WriteStatus; id?: string; url: string }> {
    const url = this.opts.quantumLeapNotifyUrl;
    const subs = await this.guard(() => this.opts.orion.listSubscriptions(scope));
    // Orion does not show a subscription's service path, so only the one this service made
    // (its description) is known to have none; any other may be path-scoped.
    const found = subs.find(
      (s) =>
        s.description === QUANTUMLEAP_SUBSCRIPTION_DESCRIPTION &&
        s.notification?.http?.url === url &&
        (s.status === undefined || s.status === 'active') &&
        (s.notification.attrsFormat === undefined || s.notification.attrsFormat === 'normalized') &&
        (s.notification.attrs ?? []).length === 0 &&
        (s.notification.exceptAttrs ?? []).length === 0 &&
        (s.subject?.condition?.attrs ?? []).length === 0 &&
        s.subject?.condition?.expression === undefined &&
        (s.subject?.entities ?? []).some(
          (e) => e.idPattern === '.*' && e.type === undefined && e.typePattern === undefined,
        ),
    );
    if (found) return { status: 'unchanged', id: found.id, url };
    if (dryRun) return { status: 'created', url };
    const id = await this.guard(() =>
      this.opts.orion.createSubscription(scope, {
        description: QUANTUMLEAP_SUBSCRIPTION_DESCRIPTION,
        subject: { entities: [{ idPattern: '.*' }] },
        notification: { http: { url } },
      }),
    );
    return { status: 'created', id, url };
  }

  /** Every device of a service path with its last measurement and liveness. */
  async inventory(
    scope: Scope,
    staleAfterIntervals: number,
  ): Promise<{
    generated_at: string;
    summary: Record<Liveness, number>;
    devices: InventoryEntry[];
  }> {
    const devices = await this.allDevices(scope);
    const types = [
      ...new Set(devices.map((d) => d.device.entity_type).filter((t): t is string => !!t)),
    ];
    const last = await this.guard(() => this.opts.orion.lastMeasurements(scope, types.sort()));
    const now = this.now();
    const summary: Record<Liveness, number> = { fresh: 0, stale: 0, 'never-seen': 0 };
    const entries = devices.map((d): InventoryEntry => {
      const device = deviceOf(scope, d.protocol, d.device);
      const expected = device.expected_interval ?? this.defaultExpectedInterval;
      const at = last.get(entityKey(device.entity_name, device.entity_type));
      const ms = at ? Date.parse(at) : NaN;
      const age = Number.isNaN(ms) ? null : Math.max(0, Math.round((now - ms) / 1000));
      const state: Liveness =
        age === null ? 'never-seen' : age <= staleAfterIntervals * expected ? 'fresh' : 'stale';
      summary[state]++;
      return {
        device_id: device.device_id,
        protocol: device.protocol,
        entity_name: device.entity_name,
        entity_type: device.entity_type,
        expected_interval: expected,
        last_measurement: age === null ? null : new Date(ms).toISOString(),
        age_seconds: age,
        state,
      };
    });
    return { generated_at: new Date(now).toISOString(), summary, devices: entries };
  }

  // ---- internals ----

  /**
   * Creates a chunk in one agent request. The agent registers a chunk's devices concurrently
   * and answers at the first failure, so after one the chunk is settled device by device: a
   * device already there as requested was created; any other is created alone, and rolled
   * back if that fails.
   */
  private async createChunk(
    scope: Scope,
    agent: IotAgentClient,
    chunk: readonly { index: number; spec: DeviceSpec }[],
    down: BatchState,
  ): Promise<ItemResult[]> {
    if (down.upstream) return chunk.map((c) => unavailable(c.index, c.spec, down.upstream!));
    try {
      await agent.createDevices(
        scope,
        chunk.map((c) => agentDevice(c.spec)),
      );
      return chunk.map((c) => ({ index: c.index, device_id: c.spec.device_id, status: 'created' }));
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      if (chunk.length === 1 && err.failure === 'rejected') {
        return [await this.afterFailedCreate(scope, agent, chunk[0]!, err, down)];
      }
    }
    const settled = await this.settle(scope, agent);
    const out: ItemResult[] = [];
    for (const c of chunk) {
      if (down.upstream) {
        out.push(unavailable(c.index, c.spec, down.upstream));
        continue;
      }
      try {
        const there = settled
          ? settled.get(c.spec.device_id)
          : await agent.getDevice(scope, c.spec.device_id);
        if (there && sameDevice(scope, c.spec, there, down.groupCommands)) {
          out.push({ index: c.index, device_id: c.spec.device_id, status: 'created' });
          continue;
        }
        out.push(await this.createOne(scope, agent, c, down));
      } catch (err) {
        out.push(this.failure(c.index, c.spec, err, down));
      }
    }
    return out;
  }

  /** The IoT Agent of a protocol. */
  private agent(protocol: DeviceProtocol): IotAgentClient {
    return this.opts.agents[protocol];
  }

  /** The groups of the service path in the agent of each of `protocols`, in that order. */
  private agentGroups(scope: Scope, protocols: readonly DeviceProtocol[]): Promise<AgentGroup[][]> {
    return Promise.all(protocols.map((p) => this.guard(() => this.agent(p).listGroups(scope))));
  }

  /** Every device of the service path, with the protocol of the agent that holds it. */
  private async allDevices(scope: Scope): Promise<Stored[]> {
    const lists = await Promise.all(
      DEVICE_PROTOCOLS.map((p) => this.guard(() => this.agent(p).listDevices(scope))),
    );
    return DEVICE_PROTOCOLS.flatMap((p, i) => lists[i]!.map((device) => ({ protocol: p, device })));
  }

  /** A device, in whichever agent holds it (the first protocol's, should two). */
  private async findDevice(scope: Scope, id: string): Promise<Stored | undefined> {
    const found = await Promise.all(
      DEVICE_PROTOCOLS.map((p) => this.agent(p).getDevice(scope, id)),
    );
    const i = found.findIndex((d) => d !== undefined);
    return i < 0 ? undefined : { protocol: DEVICE_PROTOCOLS[i]!, device: found[i]! };
  }

  /** The stored devices among `ids`: looked up one by one for a few, else listed. */
  private async currentDevices(scope: Scope, ids: readonly string[]): Promise<Stored[]> {
    if (ids.length > FEW) {
      const wanted = new Set(ids);
      return (await this.allDevices(scope)).filter((d) => wanted.has(d.device.device_id));
    }
    const found = await Promise.all(ids.map((id) => this.findDevice(scope, id)));
    return found.filter((d): d is Stored => d !== undefined);
  }

  /**
   * Waits until the agent's device list stops changing (at most ~1 s): registrations of a
   * failed chunk may still be in flight when the agent has already answered.
   *
   * @returns the last listing by device id; undefined when the agent could not be listed
   *   (the per-device pass then asks, and reports the upstream's state).
   */
  private async settle(
    scope: Scope,
    agent: IotAgentClient,
  ): Promise<Map<string, AgentDevice> | undefined> {
    let previous: string | undefined;
    let devices: AgentDevice[] = [];
    for (let i = 0; i < 20; i++) {
      try {
        devices = await agent.listDevices(scope);
      } catch {
        return undefined;
      }
      const ids = JSON.stringify(devices.map((d) => d.device_id).sort());
      if (ids === previous) break;
      previous = ids;
      await new Promise((r) => setTimeout(r, 50));
    }
    return new Map(devices.map((d) => [d.device_id, d]));
  }

  private async createOne(
    scope: Scope,
    agent: IotAgentClient,
    c: { index: number; spec: DeviceSpec },
    down: BatchState,
  ): Promise<ItemResult> {
    try {
      await agent.createDevices(scope, [agentDevice(c.spec)]);
      return { index: c.index, device_id: c.spec.device_id, status: 'created' };
    } catch (err) {
      return this.afterFailedCreate(scope, agent, c, err, down);
    }
  }

  /**
   * After a refused create of one device: a 409 means the device is there already, stored by
   * a chunk request still running or by another caller, and it is not this call's to roll
   * back; anything else is rolled back.
   */
  private async afterFailedCreate(
    scope: Scope,
    agent: IotAgentClient,
    c: { index: number; spec: DeviceSpec },
    err: unknown,
    down: BatchState,
  ): Promise<ItemResult> {
    if (err instanceof UpstreamError && err.status === 409) {
      try {
        const there = await agent.getDevice(scope, c.spec.device_id);
        if (there && sameDevice(scope, c.spec, there, down.groupCommands)) {
          return { index: c.index, device_id: c.spec.device_id, status: 'created' };
        }
      } catch (readErr) {
        return this.failure(c.index, c.spec, readErr, down);
      }
      return {
        index: c.index,
        device_id: c.spec.device_id,
        status: 'failed',
        code: 'ERR_PROVISIONING_CONFLICT',
        reason:
          'another request created this device meanwhile; run again to make it this definition',
      };
    }
    return this.rollBack(scope, agent, c, err, down);
  }

  /** Removes whatever a failed create left, and reports the failure. */
  private async rollBack(
    scope: Scope,
    agent: IotAgentClient,
    c: { index: number; spec: DeviceSpec },
    cause: unknown,
    down: BatchState,
  ): Promise<ItemResult> {
    const failed = this.failure(c.index, c.spec, cause, down);
    try {
      await agent.deleteDevice(scope, c.spec.device_id);
      return failed;
    } catch (err) {
      return {
        ...failed,
        reason: `${failed.reason}; rolling back also failed (${(err as Error).message}): provision it again to repair`,
      };
    }
  }

  /**
   * Replaces a device: delete, then create with the new definition (in the agent of its new
   * protocol, when that changed); on failure the previous definition is restored where it
   * was. (The agent's own update, PUT /iot/devices/{id}, also writes a fresh TimeInstant to
   * the entity, which would make a silent device look alive, and fails for devices that never
   * sent data.)
   */
  private async replace(scope: Scope, r: Replace, down: BatchState): Promise<ItemResult> {
    if (down.upstream) return unavailable(r.index, r.spec, down.upstream);
    const from = this.agent(r.previousProtocol);
    const to = this.agent(r.spec.protocol);
    try {
      await from.deleteDevice(scope, r.spec.device_id);
    } catch (err) {
      return this.failure(r.index, r.spec, err, down);
    }
    try {
      await to.createDevices(scope, [agentDevice(r.spec)]);
      return { index: r.index, device_id: r.spec.device_id, status: 'updated' };
    } catch (err) {
      const failed = this.failure(r.index, r.spec, err, down);
      // Whatever the failed create left behind goes first. In the same agent the restore
      // needs that; moving between agents it does not, so an agent that is down does not keep
      // the device from going back where it was.
      let leftover: string | undefined;
      try {
        await to.deleteDevice(scope, r.spec.device_id);
      } catch (cleanupErr) {
        if (from === to)
          return {
            ...failed,
            reason: `${failed.reason}; restoring the previous definition also failed (${(cleanupErr as Error).message}): provision it again to repair`,
          };
        leftover = `; removing any copy from the ${r.spec.protocol} IoT agent failed (${(cleanupErr as Error).message}): provision it again once that agent answers`;
      }
      try {
        await from.createDevices(scope, [restorable(r.previous)]);
        return {
          ...failed,
          reason: `${failed.reason}; the previous definition was restored${leftover ?? ''}`,
        };
      } catch (restoreErr) {
        return {
          ...failed,
          reason: `${failed.reason}; restoring the previous definition also failed (${(restoreErr as Error).message}): provision it again to repair`,
        };
      }
    }
  }

  private failure(index: number, spec: DeviceSpec, err: unknown, down: BatchState): ItemResult {
    if (!(err instanceof UpstreamError)) throw err;
    if (err.unavailable) {
      down.upstream = err;
      return unavailable(index, spec, err);
    }
    return {
      index,
      device_id: spec.device_id,
      status: 'failed',
      code: 'ERR_UPSTREAM_REJECTED',
      reason: refusal(err, 'the device'),
    };
  }

  /**
   * Runs one upstream call of a whole-request operation: unreachable means 503 (reads come
   * before writes, so nothing was written), a refusal 502.
   */
  private async guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.asFailure(err);
    }
  }

  private asFailure(err: unknown): unknown {
    if (!(err instanceof UpstreamError)) return err;
    if (err.unavailable) {
      return new ProvisioningFailure(
        'ERR_UPSTREAM_UNAVAILABLE',
        503,
        err.message,
        [],
        this.retryAfter,
      );
    }
    return new ProvisioningFailure('ERR_UPSTREAM_REJECTED', 502, refusal(err, 'the request'));
  }
}

// ---- conversions between the service model and the agent's ----

/** The agent's body for a device. */
export function agentDevice(spec: DeviceSpec): Record<string, unknown> {
  return {
    device_id: spec.device_id,
    entity_name: spec.entity_name,
    entity_type: spec.entity_type,
    ...(spec.timezone ? { timezone: spec.timezone } : {}),
    ...(spec.apikey ? { apikey: spec.apikey } : {}),
    ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
    protocol: AGENT_PROTOCOL(spec.protocol),
    transport: 'HTTP',
    attributes: withCasts(
      spec.attributes.map((a) => ({ object_id: a.object_id, name: a.name, type: a.type })),
      spec.protocol,
    ),
    static_attributes: spec.static_attributes.map((a) => ({
      name: a.name,
      type: a.type,
      value: a.value,
    })),
    commands: spec.commands.map((c) => ({ name: c.name, type: 'command' })),
    internal_attributes:
      spec.expected_interval === undefined
        ? []
        : [{ name: EXPECTED_INTERVAL, value: spec.expected_interval }],
  };
}

/** A stored device, read from the agent of `protocol`, as the service model shows it. */
export function deviceOf(scope: Scope, protocol: DeviceProtocol, d: AgentDevice): Device {
  const interval = (Array.isArray(d.internal_attributes) ? d.internal_attributes : []).find(
    (a: { name?: unknown }) => a?.name === EXPECTED_INTERVAL,
  ) as { value?: unknown } | undefined;
  return stripUndefined({
    device_id: d.device_id,
    service: scope.service,
    service_path: d.service_path ?? scope.servicePath ?? '/',
    protocol,
    entity_name: d.entity_name ?? '',
    entity_type: d.entity_type ?? '',
    timezone: d.timezone,
    apikey: d.apikey,
    ...attributeLists(d),
    endpoint: d.endpoint,
    expected_interval: typeof interval?.value === 'number' ? interval.value : undefined,
  });
}

/**
 * True when the stored device is what `spec` asks for. The agent adds to what it was given:
 * its group's commands, and the group's API key after the first measurement; those do not
 * count as differences. What the service always sets (protocol, transport, no lazy
 * attributes, attributes without expressions) must be as set, so a device changed behind the
 * service's back is put right.
 */
function sameDevice(
  scope: Scope,
  spec: DeviceSpec,
  stored: AgentDevice,
  groupCommands: GroupCommands,
): boolean {
  const body = agentDevice(spec);
  const want = deviceOf(scope, spec.protocol, {
    ...body,
    service_path: stored.service_path,
  } as AgentDevice);
  const own = new Set(spec.commands.map((c) => c.name));
  const have = deviceOf(scope, spec.protocol, {
    ...stored,
    ...(spec.apikey === undefined ? { apikey: undefined } : {}),
    commands: (stored.commands ?? []).filter(
      (c) => own.has(String(c.name)) || !groupCommands.get(spec.protocol)!.has(String(c.name)),
    ),
  });
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  want.commands.sort(byName);
  have.commands.sort(byName);
  // Attributes carry exactly the service's casts (casts.ts), and nothing else of their own.
  const casts = new Map(
    (body.attributes as { name: string; expression?: string }[]).map((a) => [a.name, a.expression]),
  );
  const plain = (stored.attributes ?? []).every(
    (a) =>
      Object.keys(a).every((k) => ['object_id', 'name', 'type', 'expression'].includes(k)) &&
      (a as { expression?: unknown }).expression === casts.get(String(a.name)),
  );
  const lazy = Array.isArray(stored.lazy) ? stored.lazy.length : 0;
  return (
    isDeepStrictEqual(want, have) &&
    plain &&
    lazy === 0 &&
    stored.protocol === AGENT_PROTOCOL(spec.protocol) &&
    stored.transport === 'HTTP'
  );
}

/** The agent's body to re-create a stored device as it was. */
function restorable(d: AgentDevice): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(d).filter(
      ([k, v]) => k !== 'service' && k !== 'service_path' && v !== undefined,
    ),
  );
}

function agentGroup(spec: GroupSpec): Record<string, unknown> {
  return {
    entity_type: spec.entity_type,
    ...(spec.timezone ? { timezone: spec.timezone } : {}),
    attributes: withCasts(spec.attributes, spec.protocol),
    static_attributes: spec.static_attributes,
    commands: spec.commands.map((c) => ({ name: c.name, type: 'command' })),
    autoprovision: spec.autoprovision,
  };
}

function groupOf(
  scope: Scope,
  protocol: DeviceProtocol,
  g: Record<string, unknown> | AgentGroup,
): Group {
  return stripUndefined({
    service: scope.service,
    service_path: scope.servicePath ?? '/',
    protocol,
    resource: String(g.resource),
    apikey: g.apikey as string | undefined,
    entity_type: String(g.entity_type ?? ''),
    timezone: g.timezone as string | undefined,
    ...attributeLists(g),
    autoprovision: g.autoprovision === true,
  });
}

/**
 * The attributes, static attributes and commands of a stored device or group, in the service
 * model (the agent fills in `object_id` from the name and adds fields the model does not have).
 */
function attributeLists(record: Record<string, unknown>): {
  attributes: Attribute[];
  static_attributes: StaticAttribute[];
  commands: Command[];
} {
  const list = (v: unknown) => (Array.isArray(v) ? (v as Record<string, unknown>[]) : []);
  return {
    attributes: list(record.attributes).map((a) => ({
      object_id: String(a.object_id ?? a.name),
      name: String(a.name),
      type: String(a.type),
    })),
    static_attributes: list(record.static_attributes).map((a) => ({
      name: String(a.name),
      type: String(a.type),
      value: a.value as Json,
    })),
    commands: list(record.commands).map((c) => ({
      name: String(c.name),
      type: 'command' as const,
    })),
  };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

// ---- results ----

/** Zod issues as field errors under `prefix` (e.g. `devices[3]`). */
export function fieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.flatMap((issue) => {
    const base = [
      prefix,
      ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)),
    ]
      .join('')
      .replace(/^\./, '');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({
        field: base ? `${base}.${k}` : k,
        message: 'unknown field',
      }));
    }
    return [{ field: base || '(body)', message: issue.message }];
  });
}

function invalid(index: number, item: unknown, errors: FieldError[]): ItemResult {
  const id = (item as { device_id?: unknown } | null)?.device_id;
  return {
    index,
    ...(typeof id === 'string' ? { device_id: id } : {}),
    status: 'failed',
    code: 'ERR_PROVISIONING_INVALID',
    reason: describeErrors(errors),
    errors,
  };
}

/** Field errors as one line, e.g. `devices[3].entity_name: ...; devices[3].timezone: ...`. */
export function describeErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join('; ');
}

/**
 * Why an upstream that answered failed `what`: its refusal, with its status and reason, or the
 * answer it gave that the service cannot read (the error's own message names the field).
 */
function refusal(err: UpstreamError, what: string): string {
  return err.failure === 'malformed'
    ? err.message
    : `${err.upstream} refused ${what} (${err.status}: ${summarize(err.body)})`;
}

function unavailable(index: number, spec: DeviceSpec, err: UpstreamError): ItemResult {
  return {
    index,
    device_id: spec.device_id,
    status: 'failed',
    code: 'ERR_UPSTREAM_UNAVAILABLE',
    reason: `not provisioned: ${err.message}`,
  };
}

function bulkResult(results: ItemResult[], dryRun: boolean): BulkResult {
  const summary: Record<WriteStatus, number> = { created: 0, updated: 0, unchanged: 0, failed: 0 };
  for (const r of results) summary[r.status]++;
  return { dry_run: dryRun, summary, results };
}
