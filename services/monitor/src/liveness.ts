/**
 * The liveness state machine of one target (a device or an agent instance), pure: it is given
 * the previous state, the last time the target was heard from and the time now, and answers
 * the next state and what to do (nudge it, raise `offline`, raise `recovered`). It reads no
 * clock, sends nothing and never deletes anything; the monitoring pass does the I/O.
 *
 *   fresh --(no data past interval + grace)--> silent --(nudge sent)--> nudged (1..N)
 *   nudged --(N nudges unanswered, one interval each)--> offline      [event: offline]
 *   silent | nudged --(data newer than the silence)--> fresh          [no event]
 *   offline --(data newer than the silence)--> fresh                  [event: recovered]
 *
 * `offline` and `recovered` are paired: a `recovered` is raised only for a target that was
 * `offline`, and names the `offline` it resolves (`resolves`), so a receiver never sees an
 * alert without its "resolved", nor a "resolved" without its alert.
 */

/** What is monitored: devices, and agent instances through their heartbeat entities. */
export const TARGET_KINDS = ['device', 'agent'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

import { LIVENESS_STATES } from '../../../platform/liveness.js';
import type { LivenessState } from '../../../platform/liveness.js';

export { LIVENESS_STATES };
export type { LivenessState };

/** One monitored target. */
export interface Target {
  readonly tenant: string;
  readonly kind: TargetKind;
  /** The device id (agent id) within the tenant. */
  readonly id: string;
  /** Seconds between two measurements (heartbeats) of a healthy target. */
  readonly intervalSeconds: number;
}

/** What the monitor remembers of a target between passes (and restarts). */
export interface TargetState {
  readonly state: LivenessState;
  /** When the target entered `state` (ms since the epoch). */
  readonly since: number;
  /** The last measurement the monitor saw (ms), or when it first saw a target that never sent. */
  readonly lastSeen: number;
  /** Nudges sent in the current silence. */
  readonly nudges: number;
  /** When the last nudge was sent (ms); 0 when none. */
  readonly lastNudgeAt: number;
  /** The id of the `offline` event of the current silence, for its `recovered`. */
  readonly offlineEventId?: string;
}

/** How patient the monitor is. */
export interface LivenessPolicy {
  /**
   * Grace after one interval before a target is silent, as a fraction of the interval (the
   * jitter of a device's clock and network). @default 0.1
   */
  readonly graceRatio: number;
  /** Grace in seconds at least, whatever the interval. @default 5 */
  readonly minGraceSeconds: number;
  /** Unanswered nudges before `offline`; each is given one interval (plus grace). @default 3 */
  readonly maxNudges: number;
}

export const DEFAULT_LIVENESS_POLICY: LivenessPolicy = {
  graceRatio: 0.1,
  minGraceSeconds: 5,
  maxNudges: 3,
};

/** What the pass must do after a step. */
export type LivenessAction =
  | { readonly type: 'nudge'; readonly attempt: number }
  | { readonly type: 'offline'; readonly since: number; readonly lastSeen: number }
  | {
      readonly type: 'recovered';
      readonly since: number;
      readonly offlineSince: number;
      readonly resolves?: string;
    };

/** The outcome of one step. */
export interface LivenessStep {
  readonly next: TargetState;
  readonly actions: readonly LivenessAction[];
  /** True when `next.state` differs from the previous state (health to write back). */
  readonly changed: boolean;
}

/** The wait in ms after which a target that sent at `from` counts as silent. */
export function deadlineMs(target: Target, policy: LivenessPolicy = DEFAULT_LIVENESS_POLICY) {
  const interval = target.intervalSeconds * 1000;
  return interval + Math.max(policy.minGraceSeconds * 1000, interval * policy.graceRatio);
}

/** The state of a target seen for the first time. */
export function initialState(lastSeen: number | undefined, now: number): TargetState {
  return { state: 'fresh', since: now, lastSeen: lastSeen ?? now, nudges: 0, lastNudgeAt: 0 };
}

/**
 * One step of the machine.
 *
 * @param prev the state after the previous pass
 * @param observed the last measurement time Orion holds now (ms), undefined when none
 * @param now the time of this pass (ms)
 */
export function step(
  target: Target,
  prev: TargetState,
  observed: number | undefined,
  now: number,
  policy: LivenessPolicy = DEFAULT_LIVENESS_POLICY,
): LivenessStep {
  const wait = deadlineMs(target, policy);
  // Heard from since the silence began (or since the last pass, when fresh).
  if (observed !== undefined && observed > prev.lastSeen) {
    if (prev.state === 'fresh') {
      return { next: { ...prev, lastSeen: observed }, actions: [], changed: false };
    }
    const next: TargetState = {
      state: 'fresh',
      since: now,
      lastSeen: observed,
      nudges: 0,
      lastNudgeAt: 0,
    };
    const actions: LivenessAction[] =
      prev.state === 'offline'
        ? [
            {
              type: 'recovered',
              since: now,
              offlineSince: prev.since,
              ...(prev.offlineEventId ? { resolves: prev.offlineEventId } : {}),
            },
          ]
        : [];
    return { next, actions, changed: true };
  }
  switch (prev.state) {
    case 'fresh':
      if (now - prev.lastSeen <= wait) return { next: prev, actions: [], changed: false };
      return silence(prev, now);
    case 'silent':
      // A nudge could not be sent last time: try again now.
      return nudge(prev, now, policy);
    case 'nudged':
      if (now - prev.lastNudgeAt <= wait) return { next: prev, actions: [], changed: false };
      if (prev.nudges >= policy.maxNudges) {
        return {
          next: { ...prev, state: 'offline', since: now },
          actions: [{ type: 'offline', since: now, lastSeen: prev.lastSeen }],
          changed: true,
        };
      }
      return nudge(prev, now, policy);
    case 'offline':
      // Never re-alerts and never nudges again: one `offline`, then one `recovered`.
      return { next: prev, actions: [], changed: false };
  }
}

/** Silent: the first nudge is due at once. */
function silence(prev: TargetState, now: number): LivenessStep {
  return {
    next: { ...prev, state: 'nudged', since: now, nudges: 1, lastNudgeAt: now },
    actions: [{ type: 'nudge', attempt: 1 }],
    changed: true,
  };
}

function nudge(prev: TargetState, now: number, policy: LivenessPolicy): LivenessStep {
  const attempt = Math.min(prev.nudges + 1, policy.maxNudges);
  return {
    next: {
      ...prev,
      state: 'nudged',
      since: prev.state === 'nudged' ? prev.since : now,
      nudges: attempt,
      lastNudgeAt: now,
    },
    actions: [{ type: 'nudge', attempt }],
    changed: prev.state !== 'nudged',
  };
}

/**
 * The state to keep when a nudge of `step` could not be sent (Orion or the IoT Agent down):
 * `silent`, with the nudge not counted, so the next pass tries again and a target is never
 * declared offline on nudges it did not get.
 */
export function nudgeFailed(prev: TargetState, attempted: TargetState): TargetState {
  return {
    ...attempted,
    state: 'silent',
    since: prev.state === 'fresh' ? attempted.since : prev.since,
    nudges: attempted.nudges - 1,
  };
}

/** The key of a target in the store and in metrics. */
export function targetKey(t: Pick<Target, 'tenant' | 'kind' | 'id'>): string {
  return `${t.tenant}/${t.kind}/${t.id}`;
}
