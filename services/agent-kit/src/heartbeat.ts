/**
 * The heartbeat: the instance's liveness, written by the agent itself, with its own token, to
 * its own NGSI-v2 entity, as the contract says (platform/fleet/identity.ts): every
 * AGENT_HEARTBEAT_SECONDS `PATCH /v2/entities/<entity id>/attrs` in fiware-servicepath /agents,
 * and on 404 `POST /v2/entities` (no upsert) to create it. The monitor then treats the agent like
 * a device. A failed beat (no token, Orion down or refusing) is logged and retried after a
 * backoff with jitter; it never ends the loop, let alone the module.
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

  constructor(private readonly opts: HeartbeatOptions) {}

  /** Starts the loop (the first beat at once). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the loop; resolves once no beat is in flight. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
  }

  status(): HeartbeatStatus {
    return this.state;
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

  private async run(): Promise<void> {
    const { clock, log, identity } = this.opts;
    const random = this.opts.random ?? Math.random;
    const intervalMs = identity.heartbeatSeconds * 1000;
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      let waitMs = intervalMs;
      try {
        await this.beat();
        this.state = {
          state: 'ok',
          failures: 0,
          beats: this.state.beats + 1,
          lastBeat: new Date(clock.now()).toISOString(),
        };
      } catch (err) {
        const failures = this.state.failures + 1;
        const e = err as { code?: string; message?: string };
        this.state = {
          ...this.state,
          state: 'failing',
          failures,
          lastError: { code: e.code ?? 'unexpected', message: String(e.message ?? err) },
        };
        waitMs = backoffMs(failures, intervalMs, random());
        log.warn(
          { err: this.state.lastError, failures, retryInMs: waitMs },
          'heartbeat failed; retrying',
        );
      }
      await clock.sleep(waitMs, signal);
    }
  }
}
