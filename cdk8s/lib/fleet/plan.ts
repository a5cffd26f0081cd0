/**
 * The plan of the fleet: the records of the working tree validated and rendered, and the
 * difference of the rendered objects against a git revision's records (HEAD by default).
 */
import { execFileSync } from 'node:child_process';

import { PLATFORM_ERRORS, catalogueError } from '../../../platform/errors.js';
import type { PlatformContext } from '../../../platform/context.js';
import { gitIn } from '../../../platform/fleet/git.js';
import { FLEET_DIR, FLEET_ERRORS } from '../../../platform/fleet/records.js';
import type { Fleet, FleetFile } from '../../../platform/fleet/resolve.js';
import { readFleetDir, resolveFleet } from '../../../platform/fleet/resolve.js';
import type { KubeObject } from '../objects.js';
import type { RenderedFleet } from './agents.js';
import { renderFleet } from './agents.js';

/** One object that differs. */
export interface ObjectChange {
  /** `Kind/namespace/name`. */
  readonly object: string;
  /** Changed fields, as dotted paths (for a changed object). */
  readonly fields?: readonly string[];
}

/** What a plan found. */
export interface FleetPlan {
  readonly fleet: Fleet;
  readonly rendered: RenderedFleet;
  /** The revision compared against, and whether its records rendered. */
  readonly base: { readonly revision: string; readonly note?: string };
  readonly added: readonly ObjectChange[];
  readonly removed: readonly ObjectChange[];
  readonly changed: readonly ObjectChange[];
}

const keyOf = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? '-'}/${o.metadata.name}`;

/** The fleet files of a git revision (none when it has no fleet/). */
export function fleetFilesAt(root: string, revision: string): FleetFile[] {
  const git = (args: string[]) =>
    gitIn(root, args, `git cannot read revision ${revision} of ${root}`);
  try {
    execFileSync('git', ['-C', root, 'rev-parse', '--verify', '--quiet', `${revision}^{commit}`], {
      stdio: 'ignore',
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw catalogueError(PLATFORM_ERRORS, 'ERR_TOOL_MISSING', 'git is not installed', err);
    throw catalogueError(
      FLEET_ERRORS,
      'ERR_FLEET_BASE',
      `${JSON.stringify(revision)} is not a commit of ${root}`,
      err,
    );
  }
  return git(['ls-tree', '-r', '--name-only', revision, '--', FLEET_DIR])
    .split('\n')
    .filter((p) => /\.ya?ml$/.test(p))
    .sort()
    .map((path) => ({ path, text: git(['show', `${revision}:${path}`]) }));
}

/** Dotted paths where two JSON values differ (at most `limit`). */
function changedFields(a: unknown, b: unknown, path = '', limit = 20): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(a) || !isObj(b)) return [path || '(object)'];
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])].sort();
  for (const k of keys) {
    out.push(
      ...changedFields(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
        limit,
      ),
    );
    if (out.length >= limit) break;
  }
  return out.slice(0, limit);
}

/**
 * Validates and renders the working tree's records and compares them with `base`'s.
 *
 * @throws FleetError when the working tree's records have problems; PlatformError
 *   ERR_FLEET_BASE when `base` is not a commit, ERR_TOOL_MISSING when git is missing or fails.
 */
export function planFleet(ctx: PlatformContext, root: string, base = 'HEAD'): FleetPlan {
  const fleet = resolveFleet(readFleetDir(root, FLEET_DIR), ctx);
  const rendered = renderFleet(ctx, fleet);
  let before: readonly KubeObject[] = [];
  let note: string | undefined;
  try {
    before = renderFleet(ctx, resolveFleet(fleetFilesAt(root, base), ctx)).objects;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_FLEET_INVALID') throw err;
    note = `the records of ${base} do not render (${(err as Error).message.split('\n')[0]}); every object counts as added`;
  }
  return {
    fleet,
    rendered,
    base: { revision: base, ...(note ? { note } : {}) },
    ...diffObjects(before, rendered.objects),
  };
}

/** The objects added, removed and changed from `before` to `after`, by kind, namespace and name. */
export function diffObjects(
  before: readonly KubeObject[],
  after: readonly KubeObject[],
): Pick<FleetPlan, 'added' | 'removed' | 'changed'> {
  const old = new Map(before.map((o) => [keyOf(o), o]));
  const now = new Map(after.map((o) => [keyOf(o), o]));
  return {
    added: [...now.keys()]
      .filter((k) => !old.has(k))
      .sort()
      .map((object) => ({ object })),
    removed: [...old.keys()]
      .filter((k) => !now.has(k))
      .sort()
      .map((object) => ({ object })),
    changed: [...now.keys()]
      .filter((k) => old.has(k))
      .sort()
      .map((object) => ({ object, fields: changedFields(old.get(object), now.get(object)) }))
      .filter((c) => c.fields.length > 0),
  };
}
