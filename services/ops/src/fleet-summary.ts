/**
 * The fleet's line of `npm run platform -- status`: the records of this checkout's fleet/ judged
 * against what the cluster runs (the fleet service's own judge, platform/fleet/judge.ts, on the
 * same reads: nodes, leases, the agents' Deployments and pods), counted per state, with the
 * hosts' readiness and one line per target that needs a person. Reported, never counted in the
 * platform's health: an unreachable factory host is not a failure of the platform (fleet #394).
 */
import type { Cluster } from '../../../platform/cluster.js';
import type { PlatformContext } from '../../../platform/context.js';
import { gitIn } from '../../../platform/fleet/git.js';
import { judgeFleet } from '../../../platform/fleet/judge.js';
import { FLEET_DIR } from '../../../platform/fleet/records.js';
import { loadFleet } from '../../../platform/fleet/resolve.js';
import type { TargetState } from '../../../platform/fleet/status.js';
import { TARGET_STATES } from '../../../platform/fleet/status.js';
import { KubeStatusSource } from '../../fleet/src/observe.js';

/** The fleet at a glance. */
export interface FleetSummary {
  /** Where the records judged came from: `fleet/ at <commit>` of the checkout. */
  readonly records: string;
  readonly hosts: { readonly ready: number; readonly notReady: number; readonly unknown: number };
  /** Targets (agent × host) per state; states with none are left out. */
  readonly targets: Partial<Record<TargetState, number>>;
  /** One line per target degraded, per host not ready: what needs a person. */
  readonly attention: readonly string[];
  /** Why there is no summary (the records do not load, the cluster refused a read). */
  readonly error?: string;
}

/** Reads the fleet's summary; a failure is reported in it, never thrown. */
export async function readFleetSummary(
  cluster: Cluster,
  ctx: PlatformContext,
  root: string,
): Promise<FleetSummary> {
  let records = `${FLEET_DIR}/`;
  try {
    records = `${FLEET_DIR}/ at ${gitIn(root, ['rev-parse', '--short=12', 'HEAD']).trim()}`;
  } catch {
    // not a git checkout: the folder as it is
  }
  const empty = {
    records,
    hosts: { ready: 0, notReady: 0, unknown: 0 },
    targets: {},
    attention: [],
  };
  try {
    const fleet = loadFleet(root, FLEET_DIR, ctx);
    const tenants = ctx.config.tenants.map((t) => t.name);
    const source = new KubeStatusSource({ cluster, tenants });
    const judged = judgeFleet(fleet, await source.observe(tenants));
    const targets: Partial<Record<TargetState, number>> = {};
    for (const s of TARGET_STATES) {
      const n = judged.targets.filter((t) => t.state === s).length;
      if (n) targets[s] = n;
    }
    return {
      records,
      hosts: {
        ready: judged.hosts.filter((h) => h.ready === 'Ready').length,
        notReady: judged.hosts.filter((h) => h.ready === 'NotReady').length,
        unknown: judged.hosts.filter((h) => h.ready === 'Unknown').length,
      },
      targets,
      attention: [
        ...judged.hosts
          .filter((h) => h.ready !== 'Ready' && h.inInventory)
          .map((h) => `host ${h.name} ${h.ready}: ${h.reason}`),
        ...judged.targets
          .filter((t) => t.state === 'degraded')
          .map(
            (t) =>
              `${t.agent.tenant}/${t.agent.name} on ${t.host || '(unscheduled)'} degraded: ${t.reason}`,
          ),
      ],
    };
  } catch (err) {
    return { ...empty, error: (err as Error).message.split('\n')[0]! };
  }
}

/** The summary as lines for people. */
export function renderFleetSummary(f: FleetSummary): string {
  if (f.error) return `fleet (${f.records}): not judged: ${f.error}\n`;
  const total = Object.values(f.targets).reduce((a, b) => a + b, 0);
  const states = Object.entries(f.targets)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  return [
    `fleet (${f.records}): ${total} target${total === 1 ? '' : 's'}${states ? `: ${states}` : ''}; hosts ${f.hosts.ready} Ready, ${f.hosts.notReady} NotReady${f.hosts.unknown ? `, ${f.hosts.unknown} not joined` : ''} (reported, not counted in the health)`,
    ...f.attention.map((a) => `  ${a}`),
    '',
  ].join('\n');
}
