/**
 * The request bodies of the fleet API (zod): the OpenAPI document is generated from the same
 * schemas the routes validate with.
 */
import { z } from 'zod';

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const name = (what: string) =>
  z.string().regex(NAME, `a ${what} name: lower-case letters, digits and "-", at most 63`);

/** Where a deploy puts an agent: one host, or every host of a group. */
export const Target = z
  .union([z.strictObject({ host: name('host') }), z.strictObject({ group: name('group') })])
  .meta({ description: 'A host ({ host }) or a group ({ group })' });
export type Target = z.infer<typeof Target>;

/** A rollout in waves of a group deploy or upgrade. */
export const RolloutBody = z
  .strictObject({
    batchSize: z.number().int().min(1).max(1000).default(1).meta({
      description: 'Targets per wave',
    }),
    maxUnavailable: z.number().int().min(1).max(1000).optional().meta({
      description: "At most this many of the group's targets not ready at once (default batchSize)",
    }),
    bakeSeconds: z.number().int().min(0).max(86400).default(0).meta({
      description: 'How long a wave must stay ready before the next one begins',
    }),
    revertOnFailure: z.boolean().default(false).meta({
      description:
        "A failed wave's targets go back to the previous image (an upgrade) or stop (a deploy)",
    }),
  })
  .meta({ description: 'Roll out in waves (group targets only)' });
export type RolloutBody = z.infer<typeof RolloutBody>;

/** A record as given in a body: any JSON object (the writer validates it as a fleet record). */
const RecordBody = z.record(z.string(), z.json());

export const DeployBody = z
  .strictObject({
    target: Target,
    record: RecordBody.optional().meta({
      description:
        "The full record (Agent, or Pipeline for a pipeline deploy) to create or replace; kind, name and tenant default to the path's and the caller's. Absent: the existing record is deployed",
    }),
    rollout: RolloutBody.optional(),
  })
  .meta({ description: 'Deploy to a host or a group: sets the placement and state running' });
export type DeployBody = z.infer<typeof DeployBody>;

export const UpgradeBody = z
  .strictObject({
    image: z.string().min(1).meta({
      description: 'The new image, pinned (repository:tag or repository@sha256:<digest>)',
    }),
    rollout: RolloutBody.optional(),
  })
  .meta({ description: 'Upgrade to an image, at once or (group placements) in waves' });
export type UpgradeBody = z.infer<typeof UpgradeBody>;

export const GroupBody = z
  .strictObject({
    name: name('group'),
    hosts: z.array(name('host')).min(1),
  })
  .meta({ description: 'A group: a named list of hosts of the inventory' });
export type GroupBody = z.infer<typeof GroupBody>;

export const GroupHostsBody = z
  .strictObject({ hosts: z.array(name('host')).min(1) })
  .meta({ description: 'Hosts to add to the group' });
export type GroupHostsBody = z.infer<typeof GroupHostsBody>;
