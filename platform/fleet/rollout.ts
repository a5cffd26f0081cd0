/**
 * Rollouts in waves (issue 20): how a group deploy or upgrade is cut into waves, and the record
 * field that starts one. The fleet service writes it (services/fleet/), advances it wave by wave
 * and deletes it when done; ./resolve.ts renders what each host runs meanwhile
 * ({@link instanceOn}).
 */
import { randomUUID } from 'node:crypto';

import type { RolloutRecord } from './records.js';
import type { TargetState } from './status.js';

/** What a caller may say about a rollout. */
export interface RolloutOptions {
  /** Targets per wave. @default 1 */
  readonly batchSize?: number;
  /** At most this many of the group's targets not ready at once. @default batchSize */
  readonly maxUnavailable?: number;
  /** Seconds a wave stays ready before the next begins. @default 0 */
  readonly bakeSeconds?: number;
  readonly revertOnFailure?: boolean;
}

/**
 * The waves of a group's hosts, in name order: each at most `batchSize` hosts and never more
 * than `maxUnavailable` (a wave's targets are unavailable while they move).
 */
export function planWaves(hosts: readonly string[], opts: RolloutOptions = {}): string[][] {
  const size = Math.max(1, Math.min(opts.batchSize ?? 1, opts.maxUnavailable ?? Infinity));
  const sorted = [...new Set(hosts)].sort();
  const waves: string[][] = [];
  for (let i = 0; i < sorted.length; i += size) waves.push(sorted.slice(i, i + size));
  return waves;
}

/**
 * The `rollout` field that starts a rollout of a group's hosts: its first wave begun.
 * @param from the image the hosts not yet reached keep (an upgrade); none for a deploy
 */
export function startRollout(
  hosts: readonly string[],
  by: string,
  opts: RolloutOptions = {},
  from?: string,
): RolloutRecord {
  const batchSize = Math.max(1, opts.batchSize ?? 1);
  return {
    id: randomUUID(),
    ...(from ? { from: { image: from } } : {}),
    waves: planWaves(hosts, opts),
    started: 1,
    phase: 'progressing',
    maxUnavailable: Math.max(1, opts.maxUnavailable ?? batchSize),
    bakeSeconds: opts.bakeSeconds ?? 0,
    revertOnFailure: opts.revertOnFailure ?? false,
    by,
  };
}

/** What the rollout runner does next with one rollout. */
export type RolloutDecision =
  /** Nothing yet; `reason` says what it waits for (shown by the API). */
  | { readonly action: 'wait'; readonly reason: string }
  /** Paused or failed: held until a person resumes or cancels it. */
  | { readonly action: 'hold'; readonly reason: string }
  /** Begin the next wave (`started` + 1). */
  | { readonly action: 'next'; readonly wave: number; readonly reason: string }
  /** Every wave is done: drop the rollout field. */
  | { readonly action: 'complete'; readonly reason: string }
  /** A target of the current wave cannot run the new revision. */
  | { readonly action: 'fail'; readonly reason: string; readonly revert: boolean };

/** What {@link decideRollout} needs of each target of the agent (one per host). */
export interface RolloutTarget {
  readonly host: string;
  readonly state: TargetState;
  readonly desiredRevision?: string;
  readonly observedRevision?: string;
  readonly reason: string;
  /** When it entered its state (RFC 3339). */
  readonly since: string;
}

/**
 * The next step of a rollout, from the per-target status of its agent (never an aggregate):
 * a wave is done when every one of its targets runs the record's revision and is ready, and has
 * stayed so for the bake time; a degraded target fails it; an unreachable host or a target still
 * moving makes it wait, and so does starting the next wave while more than `maxUnavailable` of
 * the group's targets would be not ready.
 *
 * @param revision the record's revision (what the reached hosts must run)
 */
export function decideRollout(
  rollout: Pick<
    RolloutRecord,
    'waves' | 'started' | 'phase' | 'maxUnavailable' | 'bakeSeconds' | 'revertOnFailure' | 'reason'
  >,
  revision: string,
  targets: readonly RolloutTarget[],
  now: Date,
): RolloutDecision {
  if (rollout.phase !== 'progressing')
    return {
      action: 'hold',
      reason: `${rollout.phase}${rollout.reason ? `: ${rollout.reason}` : ''}`,
    };
  const byHost = new Map(targets.map((t) => [t.host, t]));
  const n = rollout.waves.length;
  const wave = rollout.waves[rollout.started - 1] ?? [];
  let readySince = 0;
  const waiting: string[] = [];
  for (const host of wave) {
    const t = byHost.get(host);
    if (!t) {
      waiting.push(`${host}: no status yet`);
      continue;
    }
    if (t.state === 'degraded')
      return {
        action: 'fail',
        reason: `wave ${rollout.started}/${n}: ${host} is degraded: ${t.reason}`,
        revert: rollout.revertOnFailure,
      };
    if (t.state === 'running' && t.observedRevision === revision && t.desiredRevision === revision)
      readySince = Math.max(readySince, Date.parse(t.since));
    else
      waiting.push(
        t.state === 'unreachable'
          ? `${host} is unreachable (${t.reason}); waiting for it to come back`
          : `${host} is ${t.state}${t.observedRevision && t.observedRevision !== revision ? ` on revision ${t.observedRevision}` : ''}: ${t.reason}`,
      );
  }
  if (waiting.length)
    return { action: 'wait', reason: `wave ${rollout.started}/${n}: ${waiting.join('; ')}` };
  const baked = now.getTime() - readySince;
  if (baked < rollout.bakeSeconds * 1000)
    return {
      action: 'wait',
      reason: `wave ${rollout.started}/${n} is ready; baking ${Math.ceil((rollout.bakeSeconds * 1000 - baked) / 1000)} s more`,
    };
  if (rollout.started >= n)
    return { action: 'complete', reason: `all ${n} waves run revision ${revision}` };
  // The next wave's targets become unavailable while they move: with the group's targets that
  // already are (an unreachable host counts), at most maxUnavailable.
  const next = rollout.waves[rollout.started]!;
  const unavailable = targets.filter(
    (t) =>
      !next.includes(t.host) &&
      t.state !== 'running' &&
      t.state !== 'stopped' &&
      t.state !== 'removed',
  );
  const pendingDeploy = (t: RolloutTarget) => t.state === 'pending' && !t.desiredRevision;
  const counted = unavailable.filter((t) => !pendingDeploy(t));
  if (counted.length + next.length > rollout.maxUnavailable)
    return {
      action: 'wait',
      reason: `wave ${rollout.started + 1}/${n} waits: ${counted.length} target(s) not ready (${counted.map((t) => `${t.host} ${t.state}`).join(', ')}) + ${next.length} moving > maxUnavailable ${rollout.maxUnavailable}`,
    };
  return {
    action: 'next',
    wave: rollout.started + 1,
    reason: `wave ${rollout.started}/${n} runs revision ${revision}; beginning wave ${rollout.started + 1}: ${next.join(', ')}`,
  };
}
