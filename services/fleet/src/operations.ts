/**
 * What each write of the fleet API changes, as pure edits of a snapshot (contract.ts, `Edit`): the
 * store calls them on the remote's head, and again on the new head when the remote moved, so a
 * concurrent change of another record is kept and a change of the same one is judged again.
 *
 * An agent is an `Agent` record or a module of a `Pipeline` record (named `<pipeline>-<module>`);
 * an edit of a module puts its whole pipeline back, so the module's ETag is its pipeline's.
 */
import { parseAllDocuments } from 'yaml';

import { isPinnedImage } from '../../../platform/config/schema.js';
import type { ResolvedAgent } from '../../../platform/fleet/resolve.js';
import { startRollout } from '../../../platform/fleet/rollout.js';
import type { RecordRef } from '../../../platform/fleet/write.js';
import type { Edit, Snapshot } from './contract.js';
import type { FieldError } from './errors.js';
import { FleetFailure } from './errors.js';
import type { RolloutBody, Target } from './model.js';
import { canonical } from './store.js';

export type Raw = Record<string, unknown>;

/** The records of a snapshot by name: groups, and pipelines per tenant. */
interface Index {
  readonly groups: Map<string, string>;
  readonly pipelines: Map<string, string>;
}
const INDEXES = new WeakMap<Snapshot, Index>();

function indexOf(snap: Snapshot): Index {
  let index = INDEXES.get(snap);
  if (index) return index;
  index = { groups: new Map(), pipelines: new Map() };
  for (const f of snap.files) {
    const docs = parseAllDocuments(f.text);
    if (!Array.isArray(docs)) continue;
    for (const d of docs) {
      const r = (d.errors.length ? undefined : d.toJS()) as Raw | undefined;
      if (!r || typeof r !== 'object' || typeof r.id !== 'string') continue;
      if (r.kind === 'Group') index.groups.set(String(r.name), r.id);
      if (r.kind === 'Pipeline') index.pipelines.set(`${String(r.tenant)}/${String(r.name)}`, r.id);
    }
  }
  INDEXES.set(snap, index);
  return index;
}

/** A group's record, or undefined. */
export function findGroup(
  snap: Snapshot,
  name: string,
): { ref: RecordRef; raw: Raw & { hosts: string[] }; etag: string } | undefined {
  const id = indexOf(snap).groups.get(name);
  if (!id) return undefined;
  const ref: RecordRef = { kind: 'Group', id };
  const r = snap.record(ref);
  return r ? { ref, raw: r.raw as Raw & { hosts: string[] }, etag: r.etag } : undefined;
}

/** Every group's name, sorted. */
export function groupNames(snap: Snapshot): string[] {
  return [...indexOf(snap).groups.keys()].sort();
}

/** A pipeline of a tenant, or undefined. */
export function findPipeline(
  snap: Snapshot,
  tenant: string,
  name: string,
): { ref: RecordRef; raw: Raw & { modules: Raw[] }; etag: string } | undefined {
  const id = indexOf(snap).pipelines.get(`${tenant}/${name}`);
  if (!id) return undefined;
  const ref: RecordRef = { kind: 'Pipeline', id };
  const r = snap.record(ref);
  return r ? { ref, raw: r.raw as Raw & { modules: Raw[] }, etag: r.etag } : undefined;
}

/** An agent (or module) of a tenant, its record and the part of it that is the agent. */
export interface Located {
  readonly agent: ResolvedAgent;
  /** The record: the Agent, or the module's Pipeline. */
  readonly ref: RecordRef;
  readonly raw: Raw;
  /** The agent's own document: `raw`, or the module inside it. */
  readonly part: Raw;
  readonly etag: string;
}

/** The tenant's agent `name`, or undefined (another tenant's is as absent as a missing one). */
export function findAgent(snap: Snapshot, tenant: string, name: string): Located | undefined {
  const agent = snap.fleet.agents.find((a) => a.tenant === tenant && a.name === name);
  if (!agent) return undefined;
  if (!agent.pipeline) {
    const ref: RecordRef = { kind: 'Agent', id: agent.id };
    const r = snap.record(ref);
    return r && { agent, ref, raw: r.raw, part: r.raw, etag: r.etag };
  }
  const p = findPipeline(snap, tenant, agent.pipeline);
  const part = p?.raw.modules.find((m) => String(m.id).toLowerCase() === agent.id.toLowerCase());
  return p && part && { agent, ref: p.ref, raw: p.raw, part, etag: p.etag };
}

/** {@link findAgent}, or a 404. */
export function locate(snap: Snapshot, tenant: string, name: string): Located {
  const l = findAgent(snap, tenant, name);
  if (!l) throw notFound(`no agent ${name} in tenant ${tenant}`);
  return l;
}

export function notFound(message: string): FleetFailure {
  return new FleetFailure('ERR_FLEET_NOT_FOUND', 404, message);
}

export function badRequest(errors: FieldError[]): FleetFailure {
  return new FleetFailure(
    'ERR_FLEET_BAD_REQUEST',
    400,
    errors.map((e) => `${e.field}: ${e.message}`).join('; '),
    errors,
  );
}

/** A rollout that holds the record: progressing or paused (a failed one may be replaced). */
export function activeRollout(part: Raw): Raw | undefined {
  const r = part.rollout as Raw | undefined;
  return r && ['progressing', 'paused', undefined].includes(r.phase as string | undefined)
    ? r
    : undefined;
}

function refuseActiveRollout(l: { part: Raw; etag: string }, what: string): void {
  const r = activeRollout(l.part);
  if (r)
    throw new FleetFailure(
      'ERR_FLEET_ROLLOUT_ACTIVE',
      409,
      `cannot ${what}: rollout ${String(r.id)} is ${String(r.phase ?? 'progressing')} (wave ${String(r.started)} of ${(r.waves as unknown[]).length}); only one rollout per record at a time`,
      [],
      { etag: l.etag, rollout: r.id },
    );
}

/** The hosts a target names, or a 400 naming the field. */
export function targetHosts(snap: Snapshot, target: Target): string[] {
  if ('host' in target) {
    if (!snap.fleet.hosts.some((h) => h.name === target.host))
      throw badRequest([
        {
          field: 'target.host',
          code: 'ERR_FLEET_UNKNOWN_HOST',
          message: `no Host record ${target.host} in the inventory (fleet/hosts.yaml); GET /fleet/v1/hosts lists the hosts`,
        },
      ]);
    return [target.host];
  }
  const g = findGroup(snap, target.group);
  if (!g)
    throw badRequest([
      {
        field: 'target.group',
        code: 'ERR_FLEET_UNKNOWN_GROUP',
        message: `no group ${target.group}; GET /fleet/v1/groups lists them (a platform admin creates groups)`,
      },
    ]);
  return [...g.raw.hosts];
}

/** The rollout field of a group deploy or upgrade. */
function rolloutFor(
  target: Target,
  hosts: readonly string[],
  body: RolloutBody,
  by: string,
  from?: string,
): Raw {
  if (!('group' in target))
    throw badRequest([
      {
        field: 'rollout',
        message: 'waves are for group targets: deploy to { group } or leave rollout out',
      },
    ]);
  return startRollout(hosts, by, body, from) as unknown as Raw;
}

/** Sets where and whether a part runs, and its rollout (or none). */
function place(part: Raw, target: Target, rollout: Raw | undefined): void {
  part.placement = 'host' in target ? { host: target.host } : { group: target.group };
  part.state = 'running';
  if (rollout) part.rollout = rollout;
  else delete part.rollout;
}

/** Who a rollout is by: the calling user. */
export interface Caller {
  readonly tenant: string;
  readonly by: string;
}

/** Deploy an agent (its record given, or the existing one) to a host or a group. */
export function deployAgent(
  caller: Caller,
  name: string,
  body: { target: Target; record?: Raw | undefined; rollout?: RolloutBody | undefined },
): (snap: Snapshot) => Edit {
  return (snap) => {
    const hosts = targetHosts(snap, body.target);
    const existing = findAgent(snap, caller.tenant, name);
    if (existing?.agent.pipeline && body.record)
      throw badRequest([
        {
          field: 'name',
          message: `${name} is module ${existing.part.name as string} of pipeline ${existing.agent.pipeline}: give the module's record through POST /fleet/v1/pipelines/${existing.agent.pipeline}/deploy, or deploy it without a record`,
        },
      ]);
    if (existing) refuseActiveRollout(existing, `deploy ${name}`);
    let raw: Raw;
    let part: Raw;
    if (body.record) {
      raw = checkedRecord(body.record, 'Agent', name, caller.tenant);
      if (existing && raw.id === undefined) raw.id = existing.agent.id;
      part = raw;
    } else {
      if (!existing)
        throw notFound(`no agent ${name} in tenant ${caller.tenant}: give its record to create it`);
      ({ raw, part } = existing);
    }
    const from = sameGroupImage(existing, body.target);
    place(
      part,
      body.target,
      body.rollout && rolloutFor(body.target, hosts, body.rollout, caller.by, from),
    );
    return { put: [raw] };
  };
}

/** Deploy every module of a pipeline (its record given, or the existing one) to a target. */
export function deployPipeline(
  caller: Caller,
  name: string,
  body: { target: Target; record?: Raw | undefined; rollout?: RolloutBody | undefined },
): (snap: Snapshot) => Edit {
  return (snap) => {
    const hosts = targetHosts(snap, body.target);
    const existing = findPipeline(snap, caller.tenant, name);
    let raw: Raw & { modules?: Raw[] };
    if (body.record) {
      raw = checkedRecord(body.record, 'Pipeline', name, caller.tenant);
      if (existing && raw.id === undefined) raw.id = existing.ref.id;
    } else {
      if (!existing)
        throw notFound(
          `no pipeline ${name} in tenant ${caller.tenant}: give its record to create it`,
        );
      raw = existing.raw;
    }
    if (!Array.isArray(raw.modules))
      throw badRequest([{ field: 'record.modules', message: 'a pipeline lists its modules' }]);
    const before = new Map((existing?.raw.modules ?? []).map((m) => [String(m.id), m]));
    for (const m of raw.modules) {
      const old = before.get(String(m.id));
      if (old)
        refuseActiveRollout({ part: old, etag: existing!.etag }, `deploy module ${String(m.name)}`);
      const agent = snap.fleet.agents.find((a) => a.id === m.id);
      const from =
        old && agent ? sameGroupImage({ agent, part: old } as Located, body.target) : undefined;
      place(
        m,
        body.target,
        body.rollout && rolloutFor(body.target, hosts, body.rollout, caller.by, from),
      );
    }
    return { put: [raw] };
  };
}

/** The image hosts keep during a deploy rollout to the group the agent already runs on. */
function sameGroupImage(l: Located | undefined, target: Target): string | undefined {
  if (!l || !('group' in target) || l.agent.state === 'undeployed') return undefined;
  const p = l.agent.placement;
  return p.mode === 'group' && p.group === target.group ? l.agent.image : undefined;
}

/** A record of a body, its kind, name and tenant defaulted and checked. */
function checkedRecord(record: Raw, kind: 'Agent' | 'Pipeline', name: string, tenant: string): Raw {
  const errors: FieldError[] = [];
  if (record.kind !== undefined && record.kind !== kind)
    errors.push({ field: 'record.kind', message: `must be ${kind} (or left out)` });
  if (record.name !== undefined && record.name !== name)
    errors.push({
      field: 'record.name',
      message: `must be ${name}, the name in the path (or left out)`,
    });
  if (record.tenant !== undefined && record.tenant !== tenant)
    errors.push({
      field: 'record.tenant',
      message: `must be ${tenant}, the tenant of the request's fiware-service (or left out)`,
    });
  if (errors.length) throw badRequest(errors);
  const { kind: _k, name: _n, tenant: _t, ...rest } = structuredClone(record);
  return { kind, ...(rest.id !== undefined ? { id: rest.id } : {}), name, tenant, ...rest };
}

/** Sets the state of an agent. */
export function setState(
  caller: Caller,
  name: string,
  state: 'running' | 'stopped' | 'undeployed',
): (snap: Snapshot) => Edit {
  return (snap) => {
    const l = locate(snap, caller.tenant, name);
    l.part.state = state;
    return { put: [l.raw] };
  };
}

/** Upgrades an agent to an image, at once or in waves. */
export function upgrade(
  caller: Caller,
  name: string,
  body: { image: string; rollout?: RolloutBody | undefined },
): (snap: Snapshot) => Edit {
  return (snap) => {
    if (!isPinnedImage(body.image))
      throw badRequest([
        {
          field: 'image',
          code: 'ERR_FLEET_IMAGE_UNPINNED',
          message: `${body.image} is not pinned: give an exact release tag (repo/name:1.4.2) or a digest (repo/name@sha256:<64 hex>)`,
        },
      ]);
    const l = locate(snap, caller.tenant, name);
    refuseActiveRollout(l, `upgrade ${name}`);
    if (l.agent.image === body.image) return { put: [l.raw] };
    const p = l.agent.placement;
    if (body.rollout) {
      if (p.mode !== 'group')
        throw badRequest([
          {
            field: 'rollout',
            message: `${name} is placed ${p.mode === 'host' ? `on host ${p.hosts[0].name}` : 'floating'}: waves are for group placements`,
          },
        ]);
      l.part.rollout = startRollout(
        p.hosts.map((h) => h.name),
        caller.by,
        body.rollout,
        l.agent.image,
      ) as unknown as Raw;
    }
    l.part.image = body.image;
    return { put: [l.raw] };
  };
}

/** Pauses, resumes or cancels an agent's rollout. NOTE (1) */
export function rolloutCommand(
  caller: Caller,
  name: string,
  command: 'pause' | 'resume' | 'cancel',
): (snap: Snapshot) => Edit {
  return (snap) => {
    const l = locate(snap, caller.tenant, name);
    const r = l.part.rollout as (Raw & { from?: { image: string } }) | undefined;
    const phase = (r?.phase as string | undefined) ?? 'progressing';
    const wanted = { pause: ['progressing'], resume: ['paused', 'failed'], cancel: [phase] }[
      command
    ];
    if (!r || !wanted.includes(phase))
      throw new FleetFailure(
        'ERR_FLEET_NO_ROLLOUT',
        409,
        r
          ? `cannot ${command} rollout ${String(r.id)} of ${name}: it is ${phase}`
          : `${name} has no rollout to ${command}`,
        [],
        { etag: l.etag },
      );
    if (command === 'pause') {
      r.phase = 'paused';
      r.reason = `paused by ${caller.by}`;
    } else if (command === 'resume') {
      r.phase = 'progressing';
      delete r.reason;
    } else {
      delete l.part.rollout;
      if (r.from) l.part.image = r.from.image;
      else l.part.state = 'undeployed';
    }
    return { put: [l.raw] };
  };
}

/** The content of an agent's document that a roll back compares: all but state and rollout. */
export function content(part: Raw): string {
  const { state: _s, rollout: _r, ...rest } = part;
  return canonical(rest);
}

/** The module (or agent) of a historic record. */
export function partOf(raw: Raw, l: Located): Raw | undefined {
  if (l.ref.kind === 'Agent') return raw;
  const modules = raw.modules as Raw[] | undefined;
  return modules?.find((m) => String(m.id).toLowerCase() === l.agent.id.toLowerCase());
}

/** Puts an earlier revision of an agent's document back, keeping its state. */
export function rollBack(caller: Caller, name: string, revision: Raw): (snap: Snapshot) => Edit {
  return (snap) => {
    const l = locate(snap, caller.tenant, name);
    refuseActiveRollout(l, `roll back ${name}`);
    const { rollout: _r, state: _s, ...rest } = structuredClone(revision);
    const next: Raw = { ...rest, ...(l.part.state !== undefined ? { state: l.part.state } : {}) };
    if (l.ref.kind === 'Agent') return { put: [next] };
    const modules = (l.raw.modules as Raw[]).map((m) => (m === l.part ? next : m));
    return { put: [{ ...l.raw, modules }] };
  };
}

/** Removes an agent: its record, or its module from the pipeline. */
export function removeAgent(caller: Caller, name: string): (snap: Snapshot) => Edit {
  return (snap) => {
    const l = locate(snap, caller.tenant, name);
    if (l.ref.kind === 'Agent') return { remove: [l.ref] };
    const modules = (l.raw.modules as Raw[]).filter((m) => m !== l.part);
    if (modules.length === 0)
      throw badRequest([
        {
          field: 'name',
          message: `${name} is the last module of pipeline ${l.agent.pipeline!}: remove the pipeline (DELETE /fleet/v1/pipelines/${l.agent.pipeline!})`,
        },
      ]);
    return { put: [{ ...l.raw, modules }] };
  };
}

/** Removes a pipeline record. */
export function removePipeline(caller: Caller, name: string): (snap: Snapshot) => Edit {
  return (snap) => {
    const p = findPipeline(snap, caller.tenant, name);
    if (!p) throw notFound(`no pipeline ${name} in tenant ${caller.tenant}`);
    return { remove: [p.ref] };
  };
}

// NOTE
// 1. What cancel does: it reverts. An upgrade's rollout is cancelled by putting its `from` image
//    back (every host runs the old image again) and deleting the field; a deploy's, which has no
//    `from`, by setting the agent undeployed (the record is kept, the workloads of the hosts it
//    reached are removed), since deleting the field alone would deploy to every host at once.
