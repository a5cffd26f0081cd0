/**
 * Rollouts in waves and the undeployed state, in the records (platform/fleet/records.ts,
 * resolve.ts, rollout.ts): what each host of a group runs while a rollout is under way, the
 * rules a rollout must follow, and the planning of waves.
 */
import { stringify } from 'yaml';

import { loadPlatformContext } from '../context.js';
import type { FleetFile, ResolvedAgent } from '../fleet/resolve.js';
import { FleetError, instanceOn, resolveFleet } from '../fleet/resolve.js';
import { decideRollout, planWaves, startRollout } from '../fleet/rollout.js';

const ctx = loadPlatformContext();
const uuid = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const OLD = 'ghcr.io/x/detector:1.0.0';
const NEW = 'ghcr.io/x/detector:1.1.0';

function fleet(agent: Record<string, unknown>): Record<string, unknown>[] {
  return [
    { kind: 'Host', name: 'h1' },
    { kind: 'Host', name: 'h2' },
    { kind: 'Host', name: 'h3' },
    { kind: 'Group', id: uuid(1), name: 'g', hosts: ['h1', 'h2', 'h3'] },
    {
      kind: 'Agent',
      id: uuid(3),
      name: 'a',
      tenant: 'manufracture',
      image: NEW,
      placement: { group: 'g' },
      ...agent,
    },
  ];
}

const files = (records: readonly unknown[]): FleetFile[] =>
  records.map((r, i) => ({ path: `fleet/r${i}.yaml`, text: stringify(r) }));
const agentOf = (records: readonly unknown[]): ResolvedAgent =>
  resolveFleet(files(records), ctx).agents[0]!;

function problems(records: readonly unknown[]): string[] {
  try {
    resolveFleet(files(records), ctx);
  } catch (err) {
    if (!(err instanceof FleetError)) throw err;
    return err.issues.map((i) => `${i.code} ${i.where}: ${i.detail}`);
  }
  return [];
}

const rollout = (over: Record<string, unknown> = {}) => ({
  id: uuid(9),
  waves: [['h1'], ['h2', 'h3']],
  started: 1,
  maxUnavailable: 2,
  by: 'alice',
  ...over,
});

describe('rollouts in the records', () => {
  it('an upgrade: reached hosts run the record, the others keep from', () => {
    const a = agentOf(fleet({ rollout: rollout({ from: { image: OLD } }) }));
    const plain = agentOf(fleet({}));
    const before = agentOf(fleet({ image: OLD }));
    expect(a.rollout?.reached).toEqual(['h1']);
    expect(instanceOn(a, 'h1')).toEqual({ image: NEW, revision: plain.revision });
    // The hosts not reached run exactly what they ran before the upgrade began.
    expect(instanceOn(a, 'h2')).toEqual({ image: OLD, revision: before.revision });
    expect(instanceOn(a, 'h3')).toEqual(instanceOn(a, 'h2'));
    expect(before.revision).not.toBe(plain.revision);
  });

  it('a deploy: hosts not reached run nothing; the next wave reaches them', () => {
    const first = agentOf(fleet({ rollout: rollout() }));
    expect(instanceOn(first, 'h1')?.image).toBe(NEW);
    expect(instanceOn(first, 'h2')).toBeUndefined();
    const second = agentOf(fleet({ rollout: rollout({ started: 2 }) }));
    expect(second.rollout?.reached).toEqual(['h1', 'h2', 'h3']);
    expect(instanceOn(second, 'h3')?.image).toBe(NEW);
  });

  it('an undeployed agent runs nowhere; a stopped one keeps its instances', () => {
    expect(instanceOn(agentOf(fleet({ state: 'undeployed' })), 'h1')).toBeUndefined();
    expect(instanceOn(agentOf(fleet({ state: 'stopped' })), 'h1')?.image).toBe(NEW);
    // Undeployed wins over a rollout's from.
    expect(
      instanceOn(
        agentOf(fleet({ state: 'undeployed', rollout: rollout({ from: { image: OLD } }) })),
        'h2',
      ),
    ).toBeUndefined();
  });

  it('refuses a rollout that does not fit its record, naming why', () => {
    expect(problems(fleet({ placement: { host: 'h1' }, rollout: rollout() }))).toEqual([
      expect.stringMatching(/^ERR_FLEET_ROLLOUT .*rollout: the placement is not a group/),
    ]);
    expect(problems(fleet({ rollout: rollout({ waves: [['h1'], ['h2']] }) }))).toEqual([
      expect.stringMatching(/ERR_FLEET_ROLLOUT .*no wave has h3/),
    ]);
    expect(
      problems(
        fleet({
          rollout: rollout({
            waves: [
              ['h1', 'h2'],
              ['h2', 'h3'],
            ],
          }),
        }),
      ),
    ).toEqual([expect.stringMatching(/ERR_FLEET_ROLLOUT .*h2 is in two waves/)]);
    expect(problems(fleet({ rollout: rollout({ waves: [['h1', 'h2', 'h3', 'h4']] }) }))).toEqual([
      expect.stringMatching(/ERR_FLEET_ROLLOUT .*h4 is not a host of group g/),
    ]);
    expect(problems(fleet({ rollout: rollout({ started: 3 }) }))).toEqual([
      expect.stringMatching(/ERR_FLEET_ROLLOUT .*started: 3 waves begun of 2/),
    ]);
    expect(
      problems(fleet({ rollout: rollout({ from: { image: 'ghcr.io/x/d:latest' } }) })),
    ).toEqual([expect.stringMatching(/ERR_FLEET_IMAGE_UNPINNED .*rollout.from.image/)]);
    expect(problems(fleet({ rollout: rollout({ started: -1 }) }))).toEqual([
      expect.stringMatching(/ERR_FLEET_SCHEMA/),
    ]);
  });
});

describe('planning waves', () => {
  const hosts = Array.from({ length: 7 }, (_, i) => `h${7 - i}`);

  it('cuts the hosts in name order into waves of the batch size', () => {
    expect(planWaves(hosts, { batchSize: 3 })).toEqual([
      ['h1', 'h2', 'h3'],
      ['h4', 'h5', 'h6'],
      ['h7'],
    ]);
    expect(planWaves(hosts)).toHaveLength(7);
    expect(planWaves(['b', 'a', 'b'], { batchSize: 5 })).toEqual([['a', 'b']]);
  });

  it('never plans a wave larger than maxUnavailable', () => {
    const waves = planWaves(hosts, { batchSize: 5, maxUnavailable: 2 });
    expect(Math.max(...waves.map((w) => w.length))).toBe(2);
    expect(waves.flat().sort()).toEqual([...hosts].sort());
  });

  it('starts a rollout with its first wave begun, valid in a record', () => {
    const r = startRollout(['h3', 'h1', 'h2'], 'alice', { batchSize: 2 }, OLD);
    expect(r).toMatchObject({
      waves: [['h1', 'h2'], ['h3']],
      started: 1,
      phase: 'progressing',
      maxUnavailable: 2,
      from: { image: OLD },
      by: 'alice',
    });
    expect(problems(fleet({ rollout: r }))).toEqual([]);
    expect(startRollout(['h1'], 'bob').from).toBeUndefined();
  });
});

describe('deciding the next step of a rollout, target by target', () => {
  const NOW = new Date('2026-12-03T10:00:00Z');
  const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();
  const R = 'aaaaaaaaaaaaaaaa';
  const OLD_R = 'bbbbbbbbbbbbbbbb';
  const base = {
    waves: [['h1'], ['h2'], ['h3']],
    started: 1,
    phase: 'progressing' as const,
    maxUnavailable: 1,
    bakeSeconds: 60,
    revertOnFailure: true,
  };
  const running = (host: string, revision = R, since = 120) => ({
    host,
    state: 'running' as const,
    desiredRevision: revision,
    observedRevision: revision,
    reason: 'ready',
    since: ago(since),
  });
  const old = (host: string) => running(host, OLD_R);

  it('begins the next wave once every target of this one runs the new revision and has baked', () => {
    expect(decideRollout(base, R, [running('h1'), old('h2'), old('h3')], NOW)).toMatchObject({
      action: 'next',
      wave: 2,
    });
    expect(
      decideRollout({ ...base, started: 3 }, R, [running('h1'), running('h2'), running('h3')], NOW),
    ).toMatchObject({ action: 'complete' });
  });

  it('waits for the bake time, counted from when the last target of the wave became ready', () => {
    const d = decideRollout(base, R, [running('h1', R, 20), old('h2'), old('h3')], NOW);
    expect(d).toEqual({ action: 'wait', reason: 'wave 1/3 is ready; baking 40 s more' });
  });

  it('never counts a ready target of the old revision as done (argo-cd #29410)', () => {
    // The pod is ready, healthy, and still the old revision: the wave is not done.
    const stale = { ...running('h1', OLD_R), desiredRevision: R };
    const d = decideRollout({ ...base, bakeSeconds: 0 }, R, [stale, old('h2'), old('h3')], NOW);
    expect(d.action).toBe('wait');
    expect(d.reason).toContain(`h1 is running on revision ${OLD_R}`);
  });

  it('fails on a degraded target of the current wave, reverting when configured', () => {
    const bad = { ...running('h1'), state: 'degraded' as const, reason: 'CrashLoopBackOff' };
    expect(decideRollout(base, R, [bad, old('h2'), old('h3')], NOW)).toEqual({
      action: 'fail',
      reason: 'wave 1/3: h1 is degraded: CrashLoopBackOff',
      revert: true,
    });
    expect(
      decideRollout({ ...base, revertOnFailure: false }, R, [bad, old('h2')], NOW),
    ).toMatchObject({ action: 'fail', revert: false });
  });

  it('waits for an unreachable host of the wave instead of failing (fleet #394)', () => {
    const gone = {
      ...running('h1', OLD_R),
      desiredRevision: R,
      state: 'unreachable' as const,
      reason: 'lease expired',
    };
    const d = decideRollout(base, R, [gone, old('h2'), old('h3')], NOW);
    expect(d.action).toBe('wait');
    expect(d.reason).toContain('h1 is unreachable (lease expired)');
  });

  it('holds the next wave while maxUnavailable would be exceeded (argo-cd #16881)', () => {
    const h3Down = { ...old('h3'), state: 'unreachable' as const, reason: 'NotReady' };
    const d = decideRollout(base, R, [running('h1'), old('h2'), h3Down], NOW);
    expect(d.action).toBe('wait');
    expect(d.reason).toContain(
      '1 target(s) not ready (h3 unreachable) + 1 moving > maxUnavailable 1',
    );
    expect(
      decideRollout({ ...base, maxUnavailable: 2 }, R, [running('h1'), old('h2'), h3Down], NOW)
        .action,
    ).toBe('next');
  });

  it("does not count a deploy's hosts not yet reached as unavailable", () => {
    const notYet = (host: string) => ({
      host,
      state: 'pending' as const,
      reason: 'the rollout has not reached it',
      since: ago(100),
    });
    expect(decideRollout(base, R, [running('h1'), notYet('h2'), notYet('h3')], NOW).action).toBe(
      'next',
    );
  });

  it('holds a paused or failed rollout whatever the targets say', () => {
    const all = [running('h1'), running('h2'), running('h3')];
    expect(decideRollout({ ...base, phase: 'paused', reason: 'by bob' }, R, all, NOW)).toEqual({
      action: 'hold',
      reason: 'paused: by bob',
    });
    expect(decideRollout({ ...base, phase: 'failed' }, R, all, NOW).action).toBe('hold');
  });

  it('waits for a target of the wave with no status yet', () => {
    expect(decideRollout(base, R, [old('h2')], NOW)).toEqual({
      action: 'wait',
      reason: 'wave 1/3: h1: no status yet',
    });
  });
});
