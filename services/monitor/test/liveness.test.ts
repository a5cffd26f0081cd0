/**
 * The liveness state machine, driven by a controllable clock: every transition, the pairing of
 * `offline` and `recovered`, and what a failed nudge leaves behind.
 */
import { describe, expect, it } from '@jest/globals';

import type { LivenessAction, Target, TargetState } from '../src/liveness.js';
import {
  DEFAULT_LIVENESS_POLICY,
  deadlineMs,
  initialState,
  nudgeFailed,
  step,
} from '../src/liveness.js';

const device: Target = { tenant: 'manufracture', kind: 'device', id: 'bot1', intervalSeconds: 60 };
const T0 = Date.parse('2026-01-01T00:00:00Z');
const S = 1000;

/** Runs the machine over a timeline: `seen` gives the last measurement Orion holds at `t`. */
function run(times: number[], seen: (t: number) => number | undefined) {
  let state: TargetState = initialState(seen(T0), T0);
  const log: { t: number; state: string; actions: LivenessAction[] }[] = [];
  for (const t of times) {
    const s = step(device, state, seen(t), t);
    state = s.next;
    log.push({ t, state: state.state, actions: [...s.actions] });
  }
  return { state, log, actions: log.flatMap((l) => l.actions) };
}

const every = (from: number, to: number, by: number) => {
  const out: number[] = [];
  for (let t = from; t <= to; t += by) out.push(t);
  return out;
};

describe('liveness', () => {
  it('stays fresh while measurements keep coming within interval + grace', () => {
    const { state, actions } = run(every(T0, T0 + 3600 * S, 10 * S), (t) => t - (t % (60 * S)));
    expect(state.state).toBe('fresh');
    expect(actions).toEqual([]);
  });

  it('is silent only past one interval plus the grace (66 s for 60 s), then nudges once', () => {
    expect(deadlineMs(device)).toBe(66 * S);
    const seen = () => T0;
    const state = initialState(T0, T0);
    expect(step(device, state, seen(), T0 + 66 * S).actions).toEqual([]);
    const late = step(device, state, seen(), T0 + 67 * S);
    expect(late.next.state).toBe('nudged');
    expect(late.actions).toEqual([{ type: 'nudge', attempt: 1 }]);
    expect(late.changed).toBe(true);
  });

  it('goes back to fresh without any event when the first nudge is answered', () => {
    const answer = T0 + 80 * S;
    const { state, log, actions } = run(every(T0, T0 + 300 * S, 10 * S), (t) =>
      t >= answer ? t - ((t - answer) % (60 * S)) : T0,
    );
    expect(actions).toEqual([{ type: 'nudge', attempt: 1 }]);
    expect(log.find((l) => l.t === T0 + 80 * S)?.state).toBe('fresh');
    expect(state.state).toBe('fresh');
    expect(state.nudges).toBe(0);
  });

  it('sends three nudges one interval apart, then exactly one offline, then one recovered', () => {
    const back = T0 + 3600 * S;
    // Back at 3600 s, then measuring every interval again.
    const { actions, state } = run(every(T0, T0 + 7200 * S, 5 * S), (t) =>
      t >= back ? t - ((t - back) % (60 * S)) : T0,
    );
    expect(actions.map((a) => a.type)).toEqual(['nudge', 'nudge', 'nudge', 'offline', 'recovered']);
    expect(
      actions.filter((a) => a.type === 'nudge').map((a) => (a as { attempt: number }).attempt),
    ).toEqual([1, 2, 3]);
    const offline = actions.find((a) => a.type === 'offline') as {
      since: number;
      lastSeen: number;
    };
    // Silent at 70 s, nudges at 70, 140, 210 s; offline one wait after the third: 280 s.
    expect(offline.since).toBe(T0 + 280 * S);
    expect(offline.lastSeen).toBe(T0);
    const recovered = actions.find((a) => a.type === 'recovered') as { offlineSince: number };
    expect(recovered.offlineSince).toBe(T0 + 280 * S);
    expect(state.state).toBe('fresh');
  });

  it('never re-alerts an offline target, however long it stays silent', () => {
    const { actions, state } = run(every(T0, T0 + 48 * 3600 * S, 30 * S), () => T0);
    expect(actions.filter((a) => a.type === 'offline')).toHaveLength(1);
    expect(actions.filter((a) => a.type === 'nudge')).toHaveLength(
      DEFAULT_LIVENESS_POLICY.maxNudges,
    );
    expect(state.state).toBe('offline');
  });

  it('names the offline event a recovery resolves', () => {
    const offline: TargetState = {
      state: 'offline',
      since: T0,
      lastSeen: T0 - 500 * S,
      nudges: 3,
      lastNudgeAt: T0 - 70 * S,
      offlineEventId: 'evt-1',
    };
    const s = step(device, offline, T0 + 10 * S, T0 + 20 * S);
    expect(s.actions).toEqual([
      { type: 'recovered', since: T0 + 20 * S, offlineSince: T0, resolves: 'evt-1' },
    ]);
  });

  it('does not count a nudge that could not be sent, and tries again on the next pass', () => {
    const fresh = initialState(T0, T0);
    const attempted = step(device, fresh, T0, T0 + 70 * S);
    const kept = nudgeFailed(fresh, attempted.next);
    expect(kept.state).toBe('silent');
    expect(kept.nudges).toBe(0);
    const retry = step(device, kept, T0, T0 + 75 * S);
    expect(retry.actions).toEqual([{ type: 'nudge', attempt: 1 }]);
    expect(retry.next.state).toBe('nudged');
  });

  it('a target that never sent counts from when the monitor first saw it', () => {
    const first = initialState(undefined, T0);
    expect(step(device, first, undefined, T0 + 60 * S).actions).toEqual([]);
    expect(step(device, first, undefined, T0 + 67 * S).actions).toEqual([
      { type: 'nudge', attempt: 1 },
    ]);
  });

  it('an old measurement seen again is not an answer', () => {
    const nudged: TargetState = {
      state: 'nudged',
      since: T0,
      lastSeen: T0 - 100 * S,
      nudges: 1,
      lastNudgeAt: T0,
    };
    expect(step(device, nudged, T0 - 100 * S, T0 + 10 * S).next.state).toBe('nudged');
  });
});
