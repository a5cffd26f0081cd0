/**
 * The fleet's platform events (platform/events.ts), handed to the shared publisher
 * (services/runtime/src/events.ts) that posts them to the monitor's events port:
 *
 * - after each committed write: `agent.deployed` / `stopped` / `resumed` / `undeployed` /
 *   `removed` (a group target is one event naming its hosts), `rollout.started` for a deploy or
 *   upgrade in waves, and `rollout.paused` / `resumed` / `cancelled` for a person's command;
 * - after each step the rollout runner commits: `rollout.wave-started` / `completed` / `failed`;
 * - from the per-target status ({@link DegradedWatcher}): `agent.degraded` when a target enters
 *   `degraded`, `agent.restored` (resolving it) when it leaves it.
 *
 * Every id is derived from what the event says (the commit and the type for writes and steps;
 * the target and the time its state began for degraded/restored), so the publisher's retry, a
 * second replica or a restarted service raising it again is the same event: the monitor keeps
 * one. Nothing is raised on a dry run or for a write that changed nothing (no commit).
 */
import type { Logger } from 'pino';

import type { EventKey } from '../../../platform/events.js';
import { eventId, eventSubject, eventTypeOf } from '../../../platform/events.js';
import { agentInstanceName } from '../../../platform/fleet/identity.js';
import type { ResolvedAgent } from '../../../platform/fleet/resolve.js';
import type { TargetStatus } from '../../../platform/fleet/status.js';
import type { EventPublisher } from '../../runtime/src/index.js';
import type { ChangeResult, FleetStatus, FleetStore, StatusSource } from './contract.js';
import type { RolloutStep } from './rollouts.js';

/** Who wrote: the tenant and `Name <e-mail>`. */
export interface EventCaller {
  readonly tenant: string;
  readonly by: string;
}

/** What the app knows of a write when it raises its events. */
export type WriteEvents =
  | { readonly kind: 'deployed'; readonly names: readonly string[] }
  | { readonly kind: 'stopped' | 'resumed' | 'undeployed'; readonly names: readonly string[] }
  | { readonly kind: 'removed'; readonly names: readonly string[] }
  | {
      readonly kind: 'rollout';
      readonly command: 'paused' | 'resumed' | 'cancelled';
      readonly name: string;
      /** The rollout as it was before the write (a cancel removes it). */
      readonly before: ResolvedAgent['rollout'];
    };

/** Turns the fleet's writes, steps and status transitions into events. */
export class FleetEvents {
  constructor(private readonly publisher: EventPublisher) {}

  /** True when events are sent at all (PLATFORM_EVENTS_URL is set). */
  get enabled(): boolean {
    return this.publisher.enabled;
  }

  /** The events of a committed write (none on a dry run or without a commit). */
  written(caller: EventCaller, result: ChangeResult, w: WriteEvents): void {
    const commit = result.commit;
    if (!commit || result.dryRun || !this.enabled) return;
    const find = (name: string) =>
      result.after.fleet.agents.find((a) => a.tenant === caller.tenant && a.name === name);
    const hosts = (a: ResolvedAgent | undefined) => a?.placement.hosts.map((h) => h.name) ?? [];
    const base = { commit, by: caller.by };
    if (w.kind === 'rollout') {
      const r = w.before;
      if (!r) return;
      this.raise(`fleet.rollout.${w.command}`, caller.tenant, 'rollout', r.id, commit, {
        agent: w.name,
        wave: r.started,
        ...base,
      });
      return;
    }
    for (const name of w.names) {
      const a = find(name);
      if (w.kind === 'removed') {
        this.raise('fleet.agent.removed', caller.tenant, 'agent', name, commit, {
          agent: name,
          ...base,
        });
        continue;
      }
      if (w.kind === 'deployed') {
        this.raise('fleet.agent.deployed', caller.tenant, 'agent', name, commit, {
          agent: name,
          hosts: hosts(a),
          image: a?.image,
          ...base,
        });
        const r = a?.rollout;
        // A deploy or upgrade in waves that this commit began.
        if (r && r.started === 1 && r.phase === 'progressing') {
          this.raise('fleet.rollout.started', caller.tenant, 'rollout', r.id, commit, {
            agent: name,
            waves: r.waves.length,
            from: r.from?.image ?? null,
            to: a.image,
            ...base,
          });
        }
        continue;
      }
      this.raise(`fleet.agent.${w.kind}`, caller.tenant, 'agent', name, commit, {
        agent: name,
        hosts: hosts(a),
        ...base,
      });
    }
  }

  /** The event of a step the rollout runner committed. */
  step(step: RolloutStep): void {
    if (!step.commit || !this.enabled) return;
    const d = step.decision;
    const { tenant, name, waves } = step;
    if (d.action === 'next') {
      this.raise('fleet.rollout.wave-started', tenant, 'rollout', step.rollout, step.commit, {
        agent: name,
        wave: d.wave,
        waves: waves.length,
        hosts: waves[d.wave - 1] ?? [],
        commit: step.commit,
      });
    } else if (d.action === 'complete') {
      this.raise('fleet.rollout.completed', tenant, 'rollout', step.rollout, step.commit, {
        agent: name,
        waves: waves.length,
        commit: step.commit,
      });
    } else if (d.action === 'fail') {
      this.raise('fleet.rollout.failed', tenant, 'rollout', step.rollout, step.commit, {
        agent: name,
        wave: step.wave,
        reason: d.reason,
        reverted: d.revert,
        commit: step.commit,
      });
    }
  }

  /** `agent.degraded` of a target that entered `degraded`. */
  degraded(t: TargetStatus): string {
    const id = degradedId(t);
    this.publisher.publish({
      id,
      type: eventTypeOf('fleet.agent.degraded'),
      tenant: t.agent.tenant,
      subject: eventSubject('agent', instanceOf(t)),
      time: t.since,
      data: {
        tenant: t.agent.tenant,
        kind: 'agent',
        id: instanceOf(t),
        agent: t.agent.name,
        host: t.host,
        reason: t.reason,
        since: t.since,
        revision: t.observedRevision ?? t.desiredRevision ?? null,
      },
    });
    return id;
  }

  /** `agent.restored` of a target that left `degraded` (entered at `degradedSince`). */
  restored(t: TargetStatus, degradedSince: string): void {
    const resolves = degradedId({ ...t, since: degradedSince });
    this.publisher.publish({
      id: eventId('fleet.agent.restored', resolves, t.since),
      type: eventTypeOf('fleet.agent.restored'),
      tenant: t.agent.tenant,
      subject: eventSubject('agent', instanceOf(t)),
      time: t.since,
      data: {
        tenant: t.agent.tenant,
        kind: 'agent',
        id: instanceOf(t),
        agent: t.agent.name,
        host: t.host,
        since: t.since,
        revision: t.observedRevision ?? t.desiredRevision ?? null,
        resolves,
      },
    });
  }

  private raise(
    key: EventKey,
    tenant: string,
    kind: 'agent' | 'rollout',
    id: string,
    commit: string,
    data: Record<string, unknown>,
  ): void {
    this.publisher.publish({
      id: eventId(commit, key, tenant, id),
      type: eventTypeOf(key),
      tenant,
      subject: eventSubject(kind, id),
      time: new Date().toISOString(),
      data: { tenant, kind, id, ...data },
    });
  }
}

/** The instance a target is (the monitor's agent events name it the same way). */
function instanceOf(t: TargetStatus): string {
  return agentInstanceName(t.agent.id, t.host || undefined);
}

function degradedId(t: TargetStatus): string {
  return eventId('fleet.agent.degraded', t.agent.tenant, t.agent.id, t.host, t.since);
}

/** Options of {@link DegradedWatcher}. */
export interface DegradedWatcherOptions {
  readonly store: FleetStore;
  readonly status: StatusSource;
  readonly events: FleetEvents;
  /** Between passes. @default 5000 */
  readonly intervalMs?: number;
  readonly log?: Logger;
}

/**
 * Raises `agent.degraded` / `agent.restored` from the per-target status, read every interval.
 *
 * Its memory is the last status it read. On start it knows nothing: a target already degraded
 * is raised again, with the id it had the first time (same target, same `since`), which the
 * monitor takes as the event it already has (NOTE 1); a target that recovered while the service
 * was down cannot be known to have been degraded, so no `restored` is raised for it.
 */
export class DegradedWatcher {
  /** `since` of each degraded target, by tenant/agent/host. */
  private degradedSince = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;

  constructor(private readonly opts: DegradedWatcherOptions) {}

  /** One read of the status; returns the transitions raised. */
  async pass(): Promise<{ degraded: string[]; restored: string[] }> {
    while (this.running) await this.running.catch(() => undefined);
    const p = this.passOnce();
    this.running = p;
    try {
      return await p;
    } finally {
      this.running = undefined;
    }
  }

  /** Judges one status (for a caller that has just read one). */
  observe(status: FleetStatus): { degraded: string[]; restored: string[] } {
    const out = { degraded: [] as string[], restored: [] as string[] };
    const now = new Map<string, string>();
    for (const t of status.targets) {
      const key = `${t.agent.tenant}/${t.agent.id}/${t.host}`;
      const was = this.degradedSince.get(key);
      if (t.state === 'degraded') {
        now.set(key, t.since);
        if (was !== t.since) {
          this.opts.events.degraded(t);
          out.degraded.push(key);
        }
      } else if (was !== undefined) {
        this.opts.events.restored(t, was);
        out.restored.push(key);
      }
    }
    // A target gone from the status (its agent removed) is forgotten, not restored.
    this.degradedSince = now;
    return out;
  }

  private async passOnce() {
    const snap = await this.opts.store.snapshot({ fresh: true });
    return this.observe(await this.opts.status.status(snap));
  }

  /** Runs a pass every interval until {@link stop}; a failed pass is logged and retried. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.pass()
        .catch((err: unknown) =>
          this.opts.log?.warn({ err: (err as Error).message }, 'status not read for events'),
        )
        .finally(() => {
          if (!this.stopped) {
            this.timer = setTimeout(loop, this.opts.intervalMs ?? 5000);
            this.timer.unref();
          }
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}

// NOTE
// 1. Raising again on start. The watcher could persist what it raised, but the fleet service
//    keeps no state besides git, and the monitor already dedupes on the id (its journal keeps
//    the last MONITOR_JOURNAL_SIZE events per tenant), so a restart costs one POST per degraded
//    target and no duplicate webhook, as long as the first event is still in the journal.
