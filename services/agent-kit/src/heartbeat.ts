/**
 * The heartbeat: the instance's liveness, written by the agent itself, with its own token, to
 * its own NGSI-v2 entity, as the contract says (platform/fleet/identity.ts): every
 * AGENT_HEARTBEAT_SECONDS `PATCH /v2/entities/<entity id>/attrs` in fiware-servicepath /agents,
 * and on 404 `POST /v2/entities` (no upsert) to create it. The monitor then treats the agent like
 * a device. A failed beat (no token, Orion down or refusing) is logged and retried after a
 * backoff with jitter; it never ends the loop, let alone the module.
 *
 * {@link Heartbeat.announce} is the monitor's nudge (POST /announce, ACS's "rebirth"): a beat at
 * once, out of schedule, after which the loop waits a whole interval again. Announces that
 * arrive while a beat is in flight share it; a new one is refused within
 * {@link ANNOUNCE_MIN_INTERVAL_MS} of the last, so a caller cannot make the agent hammer Orion.
 */
import type { Logger } from 'pino';

import {
  AGENT_INSTANCE_ENTITY_TYPE,
  HEARTBEAT_ATTRS,
  HEARTBEAT_SERVICE_PATH,
} from '../../../platform/fleet/identity.js';
import type { Clock } from './clock.js';
import type { AgentIdentity } from './env.js';
import { OrionError } from './errors.js';
import type { NgsiAttr, NgsiClient } from './ngsi.js';

/** The first retry after a failure; each further one doubles, up to the interval. */
const FIRST_RETRY_MS = 1000;

/** At most one announce beat per this many ms. */
export const ANNOUNCE_MIN_INTERVAL_MS = 5000;

/** What {@link Heartbeat.announce} did. */
export type AnnounceResult =
  /** The beat ran (`ok`: it went through; else `status.lastError` says why not). */
  | { readonly outcome: 'beat'; readonly ok: boolean; readonly status: HeartbeatStatus }
  /** Refused: too soon after the last announce. */
  | { readonly outcome: 'limited'; readonly retryAfterMs: number }
  /** Refused: the heartbeat is stopping (the module shuts down). */
  | { readonly outcome: 'stopped' };

/** What /healthz reports of the heartbeat. */
export interface HeartbeatStatus {
  /** `ok` after a beat went through, `failing` after one did not, `starting` before the first. */
  readonly state: 'starting' | 'ok' | 'failing';
  /** Consecutive failed beats. */
  readonly failures: number;
  /** When the last beat went through (ISO). */
  readonly lastBeat?: string;
  /** The last failure's code and message. */
  readonly lastError?: { readonly code: string; readonly message: string };
  /** Beats written since start. */
  readonly beats: number;
}

/** What the heartbeat needs. */
export interface HeartbeatOptions {
  readonly identity: AgentIdentity;
  readonly ngsi: NgsiClient;
  readonly clock: Clock;
  readonly log: Logger;
  /** In [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** The heartbeat entity's attributes at `now`. */
export function heartbeatAttrs(identity: AgentIdentity, now: number): Record<string, NgsiAttr> {
  return {
    [HEARTBEAT_ATTRS.agentId]: { type: 'Text', value: identity.id },
    [HEARTBEAT_ATTRS.agentName]: { type: 'Text', value: identity.name },
    [HEARTBEAT_ATTRS.host]: { type: 'Text', value: identity.host },
    [HEARTBEAT_ATTRS.revision]: { type: 'Text', value: identity.revision },
    [HEARTBEAT_ATTRS.heartbeatSeconds]: { type: 'Number', value: identity.heartbeatSeconds },
    [HEARTBEAT_ATTRS.dateObserved]: { type: 'DateTime', value: new Date(now).toISOString() },
    ...(identity.announceUrl
      ? { [HEARTBEAT_ATTRS.announceUrl]: { type: 'Text', value: identity.announceUrl } }
      : {}),
  };
}

/**
 * The wait before the next attempt after `failures` consecutive failures: 1 s, 2 s, 4 s …
 * capped at the interval, each multiplied by a random factor in [0.5, 1) so that the agents of a
 * platform that comes back do not beat in lockstep.
 */
export function backoffMs(failures: number, intervalMs: number, random: number): number {
  const base = Math.min(intervalMs, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.5 + random / 2));
}

/** The heartbeat loop of one instance. */
export class Heartbeat {
  private state: HeartbeatStatus = { state: 'starting', failures: 0, beats: 0 };
  private readonly stopper = new AbortController();
  private loop: Promise<void> | undefined;
  /** The beat in flight, the loop's or an announce's: there is never more than one. */
  private inFlight: Promise<boolean> | undefined;
  /** Aborts the loop's current wait, after an announce beat. */
  private wake: AbortController | undefined;
  private lastAnnounce = -Infinity;

  constructor(private readonly opts: HeartbeatOptions) {}

  /** Starts the loop (the first beat at once). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the loop; resolves once no beat is in flight. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
    await this.inFlight;
  }

  status(): HeartbeatStatus {
    return this.state;
  }

  /**
   * A beat now, out of schedule (the monitor's nudge): shares the beat in flight if any, else
   * starts one unless the last announce was less than {@link ANNOUNCE_MIN_INTERVAL_MS} ago. The
   * loop's next beat is one interval after it (or its backoff, when it failed).
   */
  async announce(): Promise<AnnounceResult> {
    if (this.stopper.signal.aborted) return { outcome: 'stopped' };
    const shared = this.inFlight;
    if (shared) return { outcome: 'beat', ok: await shared, status: this.state };
    const now = this.opts.clock.now();
    const retryAfterMs = this.lastAnnounce + ANNOUNCE_MIN_INTERVAL_MS - now;
    if (retryAfterMs > 0) return { outcome: 'limited', retryAfterMs };
    this.lastAnnounce = now;
    const beat = this.attempt();
    this.wake?.abort();
    this.opts.log.info('announce: beating out of schedule');
    const ok = await beat;
    if (!ok) this.opts.log.warn({ err: this.state.lastError }, 'announce: the beat failed');
    return { outcome: 'beat', ok, status: this.state };
  }

  /** One beat: PATCH, or POST when the entity does not exist yet. */
  async beat(): Promise<void> {
    const { identity, ngsi, clock } = this.opts;
    const attrs = heartbeatAttrs(identity, clock.now());
    try {
      await ngsi.updateAttrs(identity.entityId, attrs, HEARTBEAT_SERVICE_PATH);
    } catch (err) {
      if (!(err instanceof OrionError && err.status === 404)) throw err;
      await ngsi.createEntity(
        { id: identity.entityId, type: AGENT_INSTANCE_ENTITY_TYPE, ...attrs },
        HEARTBEAT_SERVICE_PATH,
      );
      this.opts.log.info({ entity: identity.entityId }, 'heartbeat entity created');
    }
  }

  /** Runs one beat (the one in flight, if any) and records its outcome; true when it went through. */
  private attempt(): Promise<boolean> {
    this.inFlight ??= this.beat()
      .then(
        () => {
          this.state = {
            state: 'ok',
            failures: 0,
            beats: this.state.beats + 1,
            lastBeat: new Date(this.opts.clock.now()).toISOString(),
          };
          return true;
        },
        (err: unknown) => {
          const e = err as { code?: string; message?: string };
          this.state = {
            ...this.state,
            state: 'failing',
            failures: this.state.failures + 1,
            lastError: { code: e.code ?? 'unexpected', message: String(e.message ?? err) },
          };
          return false;
        },
      )
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  /** The wait after the last beat: an interval, or the backoff after failures. */
  private waitMs(intervalMs: number, random: () => number): number {
    return this.state.state === 'failing'
      ? backoffMs(this.state.failures, intervalMs, random())
      : intervalMs;
  }

  private async run(): Promise<void> {
    const { clock, log, identity } = this.opts;
    const random = this.opts.random ?? Math.random;
    const intervalMs = identity.heartbeatSeconds * 1000;
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      const ok = await this.attempt();
      let waitMs = this.waitMs(intervalMs, random);
      if (!ok)
        log.warn(
          { err: this.state.lastError, failures: this.state.failures, retryInMs: waitMs },
          'heartbeat failed; retrying',
        );
      // An announce beat restarts the wait: the next scheduled beat is one wait after it.
      for (;;) {
        this.wake = new AbortController();
        await clock.sleep(waitMs, AbortSignal.any([signal, this.wake.signal]));
        if (signal.aborted || !this.wake.signal.aborted) break;
        await this.inFlight;
        waitMs = this.waitMs(intervalMs, random);
      }
    }
  }
}
