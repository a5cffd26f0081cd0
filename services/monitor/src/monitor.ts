/**
 * One monitoring pass: per tenant, read the devices and their last measurements, step each
 * target's state machine, send the nudges, raise the events, write the health back, then
 * deliver what is due. State and queued events are saved before anything is delivered, so a
 * crash at any point neither loses an event nor raises one twice under different ids.
 *
 * Never deletes or undeploys anything: a device removed from the registry is only forgotten.
 */
import type { Logger } from 'pino';

import type {
  AgentHealthUpdate,
  AgentTarget,
  AnnounceOutcome,
  DeviceBackend,
  DeviceTarget,
  HealthUpdate,
} from './fiware.js';
import type { Dispatcher, DispatchSummary } from './deliveries.js';
import { livenessEvent } from './events.js';
import type { LivenessPolicy, LivenessState, TargetState } from './liveness.js';
import {
  DEFAULT_LIVENESS_POLICY,
  LIVENESS_STATES,
  initialState,
  nudgeFailed,
  step,
  targetKey,
} from './liveness.js';
import { LIVENESS_VALUE } from './metrics.js';
import type { Metrics } from './metrics.js';
import type { MonitorStore } from './store.js';

/** Agents nudged at once, at most: each call waits up to its timeout for a hung agent. */
const ANNOUNCE_CONCURRENCY = 16;

/** Runs `tasks`, at most `limit` at a time; their results in order. */
async function inParallel<T>(tasks: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** Options of {@link Monitor}. */
export interface MonitorOptions {
  readonly tenants: readonly string[];
  readonly backend: DeviceBackend;
  readonly store: MonitorStore;
  readonly dispatcher: Dispatcher;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly now: () => number;
  /** @default DEFAULT_LIVENESS_POLICY */
  readonly policy?: LivenessPolicy;
  /** The command a silent device is nudged with, when it accepts it. @default ping */
  readonly nudgeCommand?: string;
}

/** What one pass did. */
export interface PassSummary {
  readonly targets: number;
  readonly states: Record<LivenessState, number>;
  readonly nudges: number;
  readonly events: { readonly type: string; readonly id: string; readonly target: string }[];
  /** Tenants that could not be read (their targets kept their states). */
  readonly failedTenants: string[];
  readonly deliveries: DispatchSummary;
}

/** The monitor. */
export class Monitor {
  private readonly policy: LivenessPolicy;
  private readonly nudgeCommand: string;
  private running: Promise<PassSummary> | undefined;

  constructor(private readonly opts: MonitorOptions) {
    this.policy = opts.policy ?? DEFAULT_LIVENESS_POLICY;
    this.nudgeCommand = opts.nudgeCommand ?? 'ping';
  }

  /** Runs a pass; a call while one runs waits for that one. */
  pass(): Promise<PassSummary> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Resolves once no pass runs (at once when none does), whatever the pass's outcome. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** The stored state of every target of a tenant. */
  targetsOf(tenant: string): { key: string; state: TargetState }[] {
    const prefix = `${tenant}/`;
    return Object.entries(this.opts.store.doc.targets)
      .filter(([k]) => k.startsWith(prefix))
      .map(([key, state]) => ({ key, state }));
  }

  private async run(): Promise<PassSummary> {
    const { store, metrics, logger } = this.opts;
    const started = performance.now();
    const states = Object.fromEntries(LIVENESS_STATES.map((s) => [s, 0])) as Record<
      LivenessState,
      number
    >;
    const summary = {
      targets: 0,
      states,
      nudges: 0,
      events: [] as PassSummary['events'][number][],
      failedTenants: [] as string[],
    };
    for (const tenant of this.opts.tenants) {
      try {
        await this.tenantPass(tenant, summary);
      } catch (err) {
        summary.failedTenants.push(tenant);
        logger.warn({ tenant, err: (err as Error).message }, 'tenant not monitored this pass');
      }
    }
    store.save();
    const deliveries = await this.opts.dispatcher.deliverDue();
    store.save();
    metrics.passes.observe(
      { outcome: summary.failedTenants.length ? 'partial' : 'ok' },
      (performance.now() - started) / 1000,
    );
    return { ...summary, deliveries };
  }

  private async tenantPass(
    tenant: string,
    summary: {
      targets: number;
      states: Record<LivenessState, number>;
      nudges: number;
      events: PassSummary['events'][number][];
    },
  ): Promise<void> {
    const { backend, store, metrics, logger, dispatcher } = this.opts;
    const doc = store.doc;
    const devices = await backend.devices(tenant);
    const byPath = new Map<string, DeviceTarget[]>();
    for (const d of devices) byPath.set(d.servicePath, [...(byPath.get(d.servicePath) ?? []), d]);
    const seenKeys = new Set<string>();
    const counts = Object.fromEntries(LIVENESS_STATES.map((s) => [s, 0])) as Record<
      LivenessState,
      number
    >;
    for (const [servicePath, list] of byPath) {
      const last = await backend.lastSeen(tenant, servicePath, list);
      const health: HealthUpdate[] = [];
      for (const device of list) {
        const key = targetKey(device.target);
        seenKeys.add(key);
        const now = this.opts.now();
        const observed = last.get(device.target.id);
        const prev = doc.targets[key] ?? initialState(observed, now);
        const s = step(device.target, prev, observed, now, this.policy);
        let next = s.next;
        for (const action of s.actions) {
          if (action.type === 'nudge') {
            if (!device.commands.includes(this.nudgeCommand)) {
              // Nothing to nudge with: the silence counts as an unanswered nudge.
              metrics.nudges.inc({ tenant, kind: 'device', outcome: 'no-command' });
              continue;
            }
            try {
              await backend.nudge(device, this.nudgeCommand);
              metrics.nudges.inc({ tenant, kind: 'device', outcome: 'sent' });
              summary.nudges++;
              logger.info({ tenant, device: device.target.id, attempt: action.attempt }, 'nudged');
            } catch (err) {
              next = nudgeFailed(prev, next);
              metrics.nudges.inc({ tenant, kind: 'device', outcome: 'failed' });
              logger.warn(
                { tenant, device: device.target.id, err: (err as Error).message },
                'nudge not sent; trying again next pass',
              );
            }
          } else {
            const event = livenessEvent(device.target, action, {
              entity_id: device.entityId,
              entity_type: device.entityType,
              service_path: servicePath,
            });
            if (action.type === 'offline') next = { ...next, offlineEventId: event.id };
            dispatcher.enqueue(event);
            summary.events.push({ type: event.type, id: event.id, target: key });
            logger.info(
              { tenant, device: device.target.id, event: event.type, id: event.id },
              'event',
            );
          }
        }
        doc.targets[key] = next;
        if (doc.health[key] !== `${next.state}@${next.since}`) {
          health.push({ device, state: next.state, since: next.since });
        }
        counts[next.state]++;
        summary.states[next.state]++;
        summary.targets++;
        metrics.liveness.set(
          { tenant, kind: device.target.kind, id: device.target.id },
          LIVENESS_VALUE[next.state],
        );
      }
      if (health.length) {
        try {
          await backend.writeHealth(tenant, servicePath, health);
          for (const h of health) doc.health[targetKey(h.device.target)] = `${h.state}@${h.since}`;
        } catch (err) {
          logger.warn(
            { tenant, servicePath, err: (err as Error).message },
            'health not written; trying again next pass',
          );
        }
      }
    }
    // Devices no longer provisioned: forget them (their entities are not touched).
    this.forget(tenant, 'device', seenKeys);
    for (const state of LIVENESS_STATES) {
      metrics.targets.set({ tenant, kind: 'device', state }, counts[state]);
    }
    await this.agentPass(tenant, summary);
  }

  /**
   * The agent instances of a tenant, from their heartbeat entities. A silent agent is nudged
   * on the `announceUrl` its heartbeat reports (ACS's "rebirth": the agent kit beats at once),
   * when that URL passes the rule (announceUrlAllowed, platform/fleet/identity.ts). Unlike a
   * device's, an agent's nudge that gets no beat (the agent down, unreachable, or its beat
   * failing: its 503 says why, and is logged) counts as unanswered, since the agent itself is
   * the channel; so does a silence with no URL, or one the rule refuses (never called). So an
   * agent is `offline` after the same number of intervals as a device.
   */
  private async agentPass(
    tenant: string,
    summary: {
      targets: number;
      states: Record<LivenessState, number>;
      nudges: number;
      events: PassSummary['events'][number][];
    },
  ): Promise<void> {
    const { backend, store, metrics, logger, dispatcher } = this.opts;
    if (!backend.agentInstances) return;
    const doc = store.doc;
    let instances;
    try {
      instances = await backend.agentInstances(tenant);
    } catch (err) {
      logger.warn({ tenant, err: (err as Error).message }, 'agents not monitored this pass');
      return;
    }
    const seenKeys = new Set<string>();
    const counts = Object.fromEntries(LIVENESS_STATES.map((s) => [s, 0])) as Record<
      LivenessState,
      number
    >;
    const health: AgentHealthUpdate[] = [];
    // The nudges of the pass, sent together once every agent has stepped: the state machine does
    // not wait for their answers (only a newer heartbeat answers), and a hung agent must not
    // hold up the others.
    const nudges: (() => Promise<boolean>)[] = [];
    for (const agent of instances) {
      const key = targetKey(agent.target);
      seenKeys.add(key);
      const now = this.opts.now();
      const prev = doc.targets[key] ?? initialState(agent.lastSeen, now);
      const s = step(agent.target, prev, agent.lastSeen, now, this.policy);
      let next = s.next;
      for (const action of s.actions) {
        if (action.type === 'nudge') {
          nudges.push(() => this.announce(agent, action.attempt));
          continue;
        }
        const event = livenessEvent(agent.target, action, {
          entity_id: agent.entityId,
          ...(agent.agentId ? { agent_id: agent.agentId } : {}),
          ...(agent.agentName ? { agent: agent.agentName } : {}),
          ...(agent.host ? { host: agent.host } : {}),
          ...(agent.revision ? { revision: agent.revision } : {}),
        });
        if (action.type === 'offline') next = { ...next, offlineEventId: event.id };
        dispatcher.enqueue(event);
        summary.events.push({ type: event.type, id: event.id, target: key });
        logger.info({ tenant, agent: agent.target.id, event: event.type, id: event.id }, 'event');
      }
      doc.targets[key] = next;
      if (doc.health[key] !== `${next.state}@${next.since}`)
        health.push({ agent, state: next.state, since: next.since });
      counts[next.state]++;
      summary.states[next.state]++;
      summary.targets++;
      metrics.liveness.set(
        { tenant, kind: 'agent', id: agent.target.id },
        LIVENESS_VALUE[next.state],
      );
    }
    summary.nudges += (await inParallel(nudges, ANNOUNCE_CONCURRENCY)).filter(Boolean).length;
    if (health.length && backend.writeAgentHealth) {
      try {
        await backend.writeAgentHealth(tenant, health);
        for (const h of health) doc.health[targetKey(h.agent.target)] = `${h.state}@${h.since}`;
      } catch (err) {
        logger.warn(
          { tenant, err: (err as Error).message },
          'agent health not written; trying again next pass',
        );
      }
    }
    // Heartbeat entities gone (an agent removed and its entity deleted): forget them.
    this.forget(tenant, 'agent', seenKeys);
    for (const state of LIVENESS_STATES) {
      metrics.targets.set({ tenant, kind: 'agent', state }, counts[state]);
    }
  }

  /**
   * Nudges a silent agent on its announce URL; true when it beat. Whatever the outcome, the
   * state machine has counted the nudge: only a beat (a newer heartbeat) answers it.
   */
  private async announce(agent: AgentTarget, attempt: number): Promise<boolean> {
    const { backend, metrics, logger } = this.opts;
    const { tenant, id } = agent.target;
    let result: AnnounceOutcome;
    try {
      result = backend.announce ? await backend.announce(agent) : { outcome: 'no-url' };
    } catch (err) {
      result = { outcome: 'failed', reason: (err as Error).message };
    }
    metrics.nudges.inc({ tenant, kind: 'agent', outcome: result.outcome });
    const at = { tenant, agent: id, attempt };
    switch (result.outcome) {
      case 'sent':
        logger.info(at, 'nudged: the agent re-announced itself');
        return true;
      case 'failed':
        logger.warn(
          { ...at, reason: result.reason, ...(result.code ? { code: result.code } : {}) },
          'nudge unanswered: the agent did not beat',
        );
        return false;
      case 'refused':
        logger.warn(
          { ...at, announceUrl: agent.announceUrl, reason: result.reason },
          'nudge not sent: its announceUrl breaks the rule (not called); counted as unanswered',
        );
        return false;
      case 'no-url':
        logger.info(at, 'no announceUrl to nudge: the silence counts as an unanswered nudge');
        return false;
    }
  }

  /** Forgets the targets of a kind that a pass did not see. */
  private forget(tenant: string, kind: 'device' | 'agent', seen: ReadonlySet<string>): void {
    const doc = this.opts.store.doc;
    const prefix = `${tenant}/${kind}/`;
    for (const key of Object.keys(doc.targets)) {
      if (key.startsWith(prefix) && !seen.has(key)) {
        delete doc.targets[key];
        delete doc.health[key];
        this.opts.metrics.liveness.remove({ tenant, kind, id: key.slice(prefix.length) });
      }
    }
  }
}
