/**
 * `npm run agents -- apply`: the records written into fleet/ by platform/fleet/write.ts, with
 * the rendered objects they add, remove and change (rendered before anything is written, so a
 * record that does not render is never written).
 */
import type { PlatformContext } from '../../../platform/context.js';
import type { ApplyInput, WriteOptions, WriteResult } from '../../../platform/fleet/write.js';
import { writeFleetRecords } from '../../../platform/fleet/write.js';
import { renderFleet } from './agents.js';
import type { FleetPlan } from './plan.js';
import { diffObjects } from './plan.js';

export type { ApplyInput };

/** What {@link applyFleetRecords} may do. */
export type ApplyOptions = Omit<WriteOptions, 'inspect'>;

/** What an apply did. */
export interface ApplyResult
  extends WriteResult, Pick<FleetPlan, 'added' | 'removed' | 'changed'> {}

/**
 * Validates and renders `inputs` together with the fleet of `root` and (unless a dry run) writes
 * the records and optionally commits them.
 *
 * @throws FleetError when a record or the resulting fleet has problems (nothing written);
 *   PlatformError ERR_FLEET_WRITE, ERR_FLEET_COMMIT (nothing left written), ERR_TOOL_MISSING.
 */
export function applyFleetRecords(
  ctx: PlatformContext,
  root: string,
  inputs: readonly ApplyInput[],
  opts: ApplyOptions = {},
): ApplyResult {
  let diff: Pick<FleetPlan, 'added' | 'removed' | 'changed'> | undefined;
  const result = writeFleetRecords(ctx, root, inputs, {
    ...opts,
    inspect: (after, before) => {
      diff = diffObjects(
        before ? renderFleet(ctx, before).objects : [],
        renderFleet(ctx, after).objects,
      );
    },
  });
  return { ...result, ...diff! };
}
