/**
 * The monitor's view of FIWARE: which devices to watch (the IoT Agents' registries, where the
 * provisioning service stores each device's expected interval), when each last measured
 * (Orion's `TimeInstant`), how to nudge one (a command through Orion, which forwards it to the
 * device's IoT Agent, as the intervene scenario does) and where its health goes (a
 * `deviceHealth` attribute of its entity, which Orion's subscriptions carry to QuantumLeap).
 *
 * Every listing is paged (1 000 per request) and asks only for the attributes it needs, so
 * the requests of a pass grow with pages, not with devices. The clients are the provisioning
 * service's own (same timeouts, retries and headers).
 */
import { randomUUID } from 'node:crypto';

import type { DeviceProtocol } from '../../../platform/components.js';
import { DEVICE_PROTOCOLS } from '../../../platform/components.js';
import type { IotAgentClient, OrionClient, Scope } from '../../provisioning/src/fiware-client.js';
import { entityKey } from '../../provisioning/src/fiware-client.js';
import { deviceOf } from '../../provisioning/src/provisioner.js';
import {
  AGENT_INSTANCE_ENTITY_TYPE,
  HEARTBEAT_ATTRS,
  HEARTBEAT_SERVICE_PATH,
  agentInstanceEntityId,
} from '../../../platform/fleet/identity.js';
import { AGENT_HEALTH_ATTRIBUTE, DEVICE_HEALTH_ATTRIBUTE } from '../../../platform/liveness.js';
import type { LivenessState, Target } from './liveness.js';

/** A device the monitor watches. */
export interface DeviceTarget {
  readonly target: Target;
  readonly protocol: DeviceProtocol;
  readonly servicePath: string;
  readonly entityId: string;
  readonly entityType: string;
  /** The commands the device accepts (the nudge is one of them, or none is sent). */
  readonly commands: readonly string[];
}

/** One health write. */
export interface HealthUpdate {
  readonly device: DeviceTarget;
  readonly state: LivenessState;
  /** When the device entered the state (ms). */
  readonly since: number;
}

/** An agent instance the monitor watches: its heartbeat entity (platform/fleet/identity.ts). */
export interface AgentTarget {
  /** `kind: 'agent'`, the id its instance name (`agent-<id>-<host>`). */
  readonly target: Target;
  readonly entityId: string;
  readonly agentId?: string;
  readonly agentName?: string;
  readonly host?: string;
  /** The revision the instance reported it runs. */
  readonly revision?: string;
  /** Its last heartbeat (ms), as the agent wrote it; undefined when unreadable. */
  readonly lastSeen: number | undefined;
}

/** One health write of an agent instance. */
export interface AgentHealthUpdate {
  readonly agent: AgentTarget;
  readonly state: LivenessState;
  readonly since: number;
}

/** What a monitoring pass needs from FIWARE. */
export interface DeviceBackend {
  /** The tenant's devices that declare an expected interval. */
  devices(tenant: string): Promise<DeviceTarget[]>;
  /** The last measurement time (ms) of each device of one service path, by target id. */
  lastSeen(
    tenant: string,
    servicePath: string,
    devices: readonly DeviceTarget[],
  ): Promise<Map<string, number | undefined>>;
  /** Sends `command` to the device (through Orion and its IoT Agent). */
  nudge(device: DeviceTarget, command: string): Promise<void>;
  /** Writes the health of devices of one service path to their entities. */
  writeHealth(tenant: string, servicePath: string, updates: readonly HealthUpdate[]): Promise<void>;
  /** The tenant's agent instances, from their heartbeat entities. @default none */
  agentInstances?(tenant: string): Promise<AgentTarget[]>;
  /** Writes the health of agent instances to their heartbeat entities. */
  writeAgentHealth?(tenant: string, updates: readonly AgentHealthUpdate[]): Promise<void>;
}

/** The attribute each device entity carries its health in. */
export const HEALTH_ATTRIBUTE = DEVICE_HEALTH_ATTRIBUTE;
/** The attribute each heartbeat entity carries the monitor's view of its agent in. */
export { AGENT_HEALTH_ATTRIBUTE };
/** Entities per batch update. */
const BATCH = 500;

/** {@link DeviceBackend} over the IoT Agents' north APIs and Orion. */
export class FiwareDeviceBackend implements DeviceBackend {
  constructor(
    private readonly agents: Readonly<Record<DeviceProtocol, IotAgentClient>>,
    private readonly orion: OrionClient,
  ) {}

  async devices(tenant: string): Promise<DeviceTarget[]> {
    const out: DeviceTarget[] = [];
    for (const protocol of DEVICE_PROTOCOLS) {
      const agent = this.agents[protocol];
      // Devices live under their group's service path; the groups say which paths have any.
      const groups = await agent.listTenantGroups(tenant);
      const paths = [...new Set(groups.map((g) => g.subservice ?? '/'))].sort();
      for (const servicePath of paths) {
        const scope = { service: tenant, servicePath, correlator: randomUUID() };
        for (const stored of await agent.listDevices(scope)) {
          const d = deviceOf(scope, protocol, stored);
          if (d.expected_interval === undefined) continue;
          out.push({
            target: {
              tenant,
              kind: 'device',
              id: d.device_id,
              intervalSeconds: d.expected_interval,
            },
            protocol,
            servicePath,
            entityId: d.entity_name,
            entityType: d.entity_type,
            commands: d.commands.map((c) => c.name),
          });
        }
      }
    }
    return out;
  }

  async lastSeen(
    tenant: string,
    servicePath: string,
    devices: readonly DeviceTarget[],
  ): Promise<Map<string, number | undefined>> {
    const types = [...new Set(devices.map((d) => d.entityType))].sort();
    const scope: Scope = { service: tenant, servicePath, correlator: randomUUID() };
    const last = await this.orion.lastMeasurements(scope, types);
    const out = new Map<string, number | undefined>();
    for (const d of devices) {
      const at = last.get(entityKey(d.entityId, d.entityType));
      const ms = at === undefined ? NaN : Date.parse(at);
      out.set(d.target.id, Number.isNaN(ms) ? undefined : ms);
    }
    return out;
  }

  async nudge(device: DeviceTarget, command: string): Promise<void> {
    await this.orion.upstream.call(
      'PATCH',
      `/v2/entities/${encodeURIComponent(device.entityId)}/attrs`,
      {
        headers: {
          'fiware-service': device.target.tenant,
          'fiware-servicepath': device.servicePath,
          'fiware-correlator': randomUUID(),
        },
        query: { type: device.entityType },
        body: { [command]: { type: 'command', value: '' } },
      },
    );
  }

  async writeHealth(
    tenant: string,
    servicePath: string,
    updates: readonly HealthUpdate[],
  ): Promise<void> {
    for (let i = 0; i < updates.length; i += BATCH) {
      const entities = updates.slice(i, i + BATCH).map((u) => ({
        id: u.device.entityId,
        type: u.device.entityType,
        [HEALTH_ATTRIBUTE]: {
          type: 'Text',
          value: u.state,
          metadata: { since: { type: 'DateTime', value: new Date(u.since).toISOString() } },
        },
      }));
      await this.orion.upstream.call('POST', '/v2/op/update', {
        headers: {
          'fiware-service': tenant,
          'fiware-servicepath': servicePath,
          'fiware-correlator': randomUUID(),
        },
        body: { actionType: 'append', entities },
      });
    }
  }

  async agentInstances(tenant: string): Promise<AgentTarget[]> {
    const scope = {
      service: tenant,
      servicePath: HEARTBEAT_SERVICE_PATH,
      correlator: randomUUID(),
    };
    const entities = await this.orion.listEntities(scope, AGENT_INSTANCE_ENTITY_TYPE, [
      HEARTBEAT_ATTRS.agentId,
      HEARTBEAT_ATTRS.agentName,
      HEARTBEAT_ATTRS.host,
      HEARTBEAT_ATTRS.revision,
      HEARTBEAT_ATTRS.heartbeatSeconds,
      HEARTBEAT_ATTRS.dateObserved,
    ]);
    const prefix = agentInstanceEntityId('');
    const out: AgentTarget[] = [];
    for (const e of entities) {
      const id = String(e.id ?? '');
      const interval = Number(e[HEARTBEAT_ATTRS.heartbeatSeconds]);
      // Not an instance's entity, or no interval to judge it by: not watched.
      if (!id.startsWith(prefix) || !(interval > 0)) continue;
      const observed = e[HEARTBEAT_ATTRS.dateObserved];
      const ms = typeof observed === 'string' ? Date.parse(observed) : NaN;
      const text = (k: string) => (typeof e[k] === 'string' ? { [k]: e[k] as string } : {});
      out.push({
        target: { tenant, kind: 'agent', id: id.slice(prefix.length), intervalSeconds: interval },
        entityId: id,
        ...text(HEARTBEAT_ATTRS.agentId),
        ...text(HEARTBEAT_ATTRS.agentName),
        ...text(HEARTBEAT_ATTRS.host),
        ...text(HEARTBEAT_ATTRS.revision),
        lastSeen: Number.isNaN(ms) ? undefined : ms,
      });
    }
    return out;
  }

  async writeAgentHealth(tenant: string, updates: readonly AgentHealthUpdate[]): Promise<void> {
    for (let i = 0; i < updates.length; i += BATCH) {
      const entities = updates.slice(i, i + BATCH).map((u) => ({
        id: u.agent.entityId,
        type: AGENT_INSTANCE_ENTITY_TYPE,
        [AGENT_HEALTH_ATTRIBUTE]: {
          type: 'Text',
          value: u.state,
          metadata: { since: { type: 'DateTime', value: new Date(u.since).toISOString() } },
        },
      }));
      // An entity deleted meanwhile comes back with this attribute only, and no interval,
      // so it is not watched.
      await this.orion.upstream.call('POST', '/v2/op/update', {
        headers: {
          'fiware-service': tenant,
          'fiware-servicepath': HEARTBEAT_SERVICE_PATH,
          'fiware-correlator': randomUUID(),
        },
        body: { actionType: 'append', entities },
      });
    }
  }
}
