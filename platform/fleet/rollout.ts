/**
 * Rollouts in waves (issue 20): how a group deploy or upgrade is cut into waves, and the record
 * field that starts one. The fleet service writes it (services/fleet/), advances it wave by wave
 * and deletes it when done; ./resolve.ts renders what each host runs meanwhile
 * ({@link instanceOn}).
 */
import { randomUUID } from 'node:crypto';

import type { RolloutRecord } from './records.js';

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
