/**
 * The fleet records, read, validated and resolved: every agent (and pipeline module) with its
 * template merged in, its hosts, needs, connections and revision; what the construct library
 * (cdk8s/lib/fleet/) renders and `npm run agents -- plan` shows.
 *
 * Every problem is collected with its file, field and code before anything is rendered, so one
 * run lists them all ({@link FleetError}).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { parseAllDocuments } from 'yaml';

import type { ComputeResources } from '../config/profiles.js';
import { isPinnedImage } from '../config/schema.js';
import type { PlatformContext } from '../context.js';
import { PlatformError, catalogueError } from '../errors.js';
import type {
  AgentRecord,
  AgentState,
  FleetErrorCode,
  GroupRecord,
  HostRecord,
  Need,
  PipelineModule,
  PipelineRecord,
  RolloutRecord,
  SealedSecretRecord,
  TemplateRecord,
} from './records.js';
import { agentObjectName, agentsNamespace } from './identity.js';
import { FLEET_ERRORS, FleetRecord, NEEDS, PLACEHOLDERS } from './records.js';

export { agentObjectName, agentsNamespace };

/** The text of one fleet file; `path` is relative to the repository root. */
export interface FleetFile {
  readonly path: string;
  readonly text: string;
}

/** One problem of the records. */
export interface FleetIssue {
  /** The file, relative to the repository root. */
  readonly file: string;
  /** The record, e.g. `Agent detector`, and the field in it, e.g. `placement.host`. */
  readonly where: string;
  readonly code: FleetErrorCode;
  readonly detail: string;
}

/** Thrown when the records have problems; lists every one. */
export class FleetError extends PlatformError {
  constructor(readonly issues: readonly FleetIssue[]) {
    super(
      'ERR_FLEET_INVALID',
      `the fleet records have ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n${issues.map(formatFleetIssue).join('\n')}`,
      FLEET_ERRORS.ERR_FLEET_INVALID.fix,
    );
    this.name = 'FleetError';
  }
}

/** `  <file> <where>: <problem> (<detail>). Fix: <fix>. [<code>]` */
export function formatFleetIssue(i: FleetIssue): string {
  const spec = FLEET_ERRORS[i.code];
  return `  ${i.file} ${i.where}: ${spec.problem} (${i.detail}). Fix: ${spec.fix}. [${i.code}]`;
}

/** A host of the inventory. */
export interface ResolvedHost {
  readonly name: string;
  readonly specialised: boolean;
  readonly site?: string;
  readonly line?: string;
  readonly capabilities?: readonly string[];
}

/** A pipeline connection of an upstream module. */
export interface ResolvedConnection {
  /** The downstream agent's id. */
  readonly to: string;
  /** The downstream agent's name (`<pipeline>-<module>`). */
  readonly name: string;
  readonly port: number;
}

/** Where an agent runs. */
export type ResolvedPlacement =
  | { readonly mode: 'host'; readonly hosts: readonly [ResolvedHost] }
  | { readonly mode: 'group'; readonly group: string; readonly hosts: readonly ResolvedHost[] }
  | { readonly mode: 'floating'; readonly hosts: readonly [] };

/** An agent or pipeline module, its template merged in. */
export interface ResolvedAgent {
  readonly id: string;
  /** The agent's name; a module's is `<pipeline>-<module>`. */
  readonly name: string;
  readonly tenant: string;
  readonly file: string;
  /** The pipeline of a module. */
  readonly pipeline?: string;
  /** The id of a module's Pipeline record (the record a writer edits). */
  readonly pipelineId?: string;
  readonly image: string;
  readonly state: AgentState;
  readonly placement: ResolvedPlacement;
  /** Its rollout in waves, while one runs (group placements only). */
  readonly rollout?: ResolvedRollout;
  /** The merged config, placeholders not yet filled ({@link configFor} fills them per host). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly resources: ComputeResources;
  readonly needs: readonly Need[];
  readonly secrets: readonly { readonly env: string; readonly key: string }[];
  readonly ports: readonly number[];
  readonly health?: { readonly path: string; readonly port: number };
  readonly heartbeatSeconds: number;
  readonly runAs: { readonly user: number; readonly group: number };
  /** Its outgoing pipeline connections. */
  readonly connections: readonly ResolvedConnection[];
  /**
   * Content hash of the rendered record (everything that reaches the pod but where and
   * whether it runs): changes iff the agent's resolved record changes.
   */
  readonly revision: string;
}

/** A rollout in waves of a group-placed agent (the record's `rollout`, resolved). */
export interface ResolvedRollout extends Omit<RolloutRecord, 'from'> {
  /** The hosts that run the record as it is: those of the waves begun. */
  readonly reached: readonly string[];
  /** An upgrade: the image and revision the hosts not yet reached keep. */
  readonly from?: { readonly image: string; readonly revision: string };
}

/** What one host of an agent runs: its image and revision. */
export interface AgentInstance {
  readonly image: string;
  readonly revision: string;
}

/**
 * What git wants `agent` to run on `host` (a host of its placement): the record's image and
 * revision, the rollout's `from` on a host the rollout has not reached, or nothing (undefined)
 * when it is undeployed or a deploying rollout has not reached the host. A stopped agent still
 * has an instance (scaled to zero).
 */
export function instanceOn(agent: ResolvedAgent, host: string): AgentInstance | undefined {
  if (agent.state === 'undeployed') return undefined;
  const r = agent.rollout;
  if (!r || r.reached.includes(host)) return { image: agent.image, revision: agent.revision };
  return r.from ? { image: r.from.image, revision: r.from.revision } : undefined;
}

/** A SealedSecret record and the agent whose Secret it unseals into. */
export interface ResolvedSealedSecret {
  readonly file: string;
  /** The agent's id. */
  readonly agent: string;
  readonly record: SealedSecretRecord;
}

/** The resolved fleet. */
export interface Fleet {
  readonly hosts: readonly ResolvedHost[];
  /** The agents' SealedSecrets, sorted by namespace and name. @default none */
  readonly sealedSecrets?: readonly ResolvedSealedSecret[];
  /** Every agent and module, sorted by tenant and name. */
  readonly agents: readonly ResolvedAgent[];
}

/** Seconds between heartbeats when neither the agent nor its template says. */
export const DEFAULT_HEARTBEAT_SECONDS = 60;
/** The user an agent image runs as when neither the agent nor its template says (distroless nonroot). */
export const DEFAULT_RUN_AS = { user: 65532, group: 65532 } as const;

/** The Secret an agent reads its `secrets` from, which its SealedSecret unseals into. */
export function agentSecretName(id: string): string {
  return `${agentObjectName(id)}-secrets`;
}

/**
 * Reads every `*.yaml` / `*.yml` file below `dir`, sorted; paths relative to `root`. A missing
 * `dir` is an empty fleet (a fork without agents may delete it).
 */
export function readFleetDir(root: string, dir: string): FleetFile[] {
  const files: FleetFile[] = [];
  if (!existsSync(join(root, dir))) return files;
  const walk = (d: string) => {
    for (const entry of readdirSync(d).sort()) {
      const p = join(d, entry);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(entry))
        files.push({ path: relative(root, p), text: readFileSync(p, 'utf8') });
    }
  };
  try {
    walk(join(root, dir));
  } catch (err) {
    throw catalogueError(
      FLEET_ERRORS,
      'ERR_FLEET_FILE',
      `cannot read ${dir}/: ${(err as Error).message}`,
      err,
    );
  }
  return files;
}

/** JSON merge patch (RFC 7386) of `patch` over `target`. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g;

/** Fills `{{uuid}}`, `{{name}}`, `{{hostname}}` and `{{tenant}}` in every string of `value`. */
export function fillPlaceholders(
  value: unknown,
  vars: Readonly<Record<(typeof PLACEHOLDERS)[number], string>>,
): unknown {
  if (typeof value === 'string')
    return value.replace(PLACEHOLDER, (m, key: string) =>
      key in vars ? vars[key as keyof typeof vars] : m,
    );
  if (Array.isArray(value)) return value.map((v) => fillPlaceholders(v, vars));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, fillPlaceholders(v, vars)]),
    );
  return value;
}

/** The config of an agent on a host (`''` for a floating agent), placeholders filled. */
export function configFor(agent: ResolvedAgent, hostname: string): Record<string, unknown> {
  return fillPlaceholders(agent.config, {
    uuid: agent.id,
    name: agent.name,
    hostname,
    tenant: agent.tenant,
  }) as Record<string, unknown>;
}

/** Placeholders of a value that are not defined, with their field paths. */
function undefinedPlaceholders(value: unknown, path: string): { path: string; name: string }[] {
  if (typeof value === 'string')
    return [...value.matchAll(PLACEHOLDER)]
      .map((m) => m[1]!)
      .filter((n) => !(PLACEHOLDERS as readonly string[]).includes(n))
      .map((name) => ({ path, name }));
  if (Array.isArray(value))
    return value.flatMap((v, i) => undefinedPlaceholders(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => undefinedPlaceholders(v, `${path}.${k}`));
  return [];
}

/** Canonical JSON (sorted keys), for content hashes that do not depend on key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

interface Located<R> {
  readonly file: string;
  readonly record: R;
}

/** An agent or module before resolution. */
interface AgentSource {
  readonly file: string;
  readonly where: string;
  readonly id: string;
  readonly name: string;
  readonly tenant: string;
  readonly pipeline?: PipelineRecord;
  readonly record: AgentRecord | PipelineModule;
}

/**
 * Parses, validates and resolves the records.
 *
 * @throws FleetError listing every problem, each with its file, field and code.
 */
export function resolveFleet(files: readonly FleetFile[], ctx: PlatformContext): Fleet {
  const issues: FleetIssue[] = [];
  const issue = (file: string, where: string, code: FleetErrorCode, detail: string) =>
    issues.push({ file, where, code, detail });

  // 1. Parse and check each record's shape.
  const hosts: Located<HostRecord>[] = [];
  const groups: Located<GroupRecord>[] = [];
  const templates: Located<TemplateRecord>[] = [];
  const agents: Located<AgentRecord>[] = [];
  const pipelines: Located<PipelineRecord>[] = [];
  const sealed: Located<SealedSecretRecord>[] = [];
  for (const f of files) {
    const docs = parseAllDocuments(f.text, { prettyErrors: true });
    for (const [n, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
      const at = `document ${n + 1}`;
      if (doc.errors.length > 0) {
        issue(f.path, at, 'ERR_FLEET_FILE', doc.errors.map((e) => e.message).join('; '));
        continue;
      }
      const raw: unknown = doc.toJS();
      if (raw === null || raw === undefined) continue;
      const parsed = FleetRecord.safeParse(raw);
      if (!parsed.success) {
        const label = recordLabel(raw, at);
        for (const i of parsed.error.issues) {
          const path = i.path.map(String);
          if (i.code === 'unrecognized_keys')
            for (const k of i.keys)
              issue(
                f.path,
                `${label}: ${[...path, k].join('.')}`,
                'ERR_FLEET_SCHEMA',
                'an unknown field',
              );
          else
            issue(
              f.path,
              `${label}: ${path.join('.') || '(record)'}`,
              'ERR_FLEET_SCHEMA',
              i.message,
            );
        }
        continue;
      }
      const r = parsed.data;
      if (r.kind === 'Host') hosts.push({ file: f.path, record: r });
      else if (r.kind === 'Group') groups.push({ file: f.path, record: r });
      else if (r.kind === 'Template') templates.push({ file: f.path, record: r });
      else if (r.kind === 'Agent') agents.push({ file: f.path, record: r });
      else if (r.kind === 'SealedSecret') sealed.push({ file: f.path, record: r });
      else pipelines.push({ file: f.path, record: r });
    }
  }

  // 2. Names and ids.
  const unique = <R extends { name: string }>(
    kind: string,
    list: readonly Located<R>[],
    key: (r: R) => string = (r) => r.name,
  ) => {
    const seen = new Map<string, string>();
    for (const { file, record } of list) {
      const k = key(record);
      const first = seen.get(k);
      if (first)
        issue(
          file,
          `${kind} ${record.name}: name`,
          'ERR_FLEET_DUPLICATE_NAME',
          `${first} has the same name`,
        );
      else seen.set(k, `${file} (${kind} ${record.name})`);
    }
  };
  unique('Host', hosts);
  unique('Group', groups);
  unique('Template', templates);
  unique('Pipeline', pipelines, (r) => `${r.tenant}/${r.name}`);

  const tenants = new Set(ctx.config.tenants.map((t) => t.name));
  for (const { file, record } of [...agents, ...pipelines])
    if (!tenants.has(record.tenant))
      issue(
        file,
        `${record.kind} ${record.name}: tenant`,
        'ERR_FLEET_UNKNOWN_TENANT',
        `${JSON.stringify(record.tenant)}; the tenants are ${[...tenants].join(', ')}`,
      );

  const sources: AgentSource[] = [
    ...agents.map(({ file, record }) => ({
      file,
      where: `Agent ${record.name}`,
      id: record.id,
      name: record.name,
      tenant: record.tenant,
      record,
    })),
    ...pipelines.flatMap(({ file, record: p }) =>
      p.modules.map((m, i) => ({
        file,
        where: `Pipeline ${p.name}: modules[${i}] (${m.name})`,
        id: m.id,
        name: `${p.name}-${m.name}`,
        tenant: p.tenant,
        pipeline: p,
        record: m,
      })),
    ),
  ];

  const ids = new Map<string, string>();
  const prefixes = new Map<string, string>();
  for (const s of [
    ...groups.map(({ file, record }) => ({ file, where: `Group ${record.name}`, id: record.id })),
    ...templates.map(({ file, record }) => ({
      file,
      where: `Template ${record.name}`,
      id: record.id,
    })),
    ...pipelines.map(({ file, record }) => ({
      file,
      where: `Pipeline ${record.name}`,
      id: record.id,
    })),
    ...sources,
  ]) {
    // Agents' object names keep 12 hex digits of the id: those must differ too.
    const isAgent = 'tenant' in s;
    const first = ids.get(s.id) ?? (isAgent ? prefixes.get(agentObjectName(s.id)) : undefined);
    if (first)
      issue(
        s.file,
        `${s.where}: id`,
        'ERR_FLEET_DUPLICATE_ID',
        `${s.id}; ${first} has it (or its first 12 hex digits)`,
      );
    ids.set(s.id, `${s.file} (${s.where})`);
    if (isAgent) prefixes.set(agentObjectName(s.id), `${s.file} (${s.where})`);
  }

  const agentNames = new Map<string, string>();
  for (const s of sources) {
    const key = `${s.tenant}/${s.name}`;
    const first = agentNames.get(key);
    if (first)
      issue(
        s.file,
        `${s.where}: name`,
        'ERR_FLEET_DUPLICATE_NAME',
        `${s.name} in tenant ${s.tenant}; ${first} has the same name`,
      );
    else agentNames.set(key, `${s.file} (${s.where})`);
  }

  // 3. References: hosts, groups, templates.
  const hostByName = new Map(hosts.map(({ record }) => [record.name, record]));
  const groupByName = new Map(groups.map(({ record }) => [record.name, record]));
  const templateByName = new Map(templates.map(({ record }) => [record.name, record]));
  for (const { file, record } of groups)
    record.hosts.forEach((h, i) => {
      if (!hostByName.has(h))
        issue(
          file,
          `Group ${record.name}: hosts[${i}]`,
          'ERR_FLEET_UNKNOWN_HOST',
          `${JSON.stringify(h)}; the hosts are ${[...hostByName.keys()].join(', ') || 'none'}`,
        );
    });

  for (const { file, record } of templates) {
    checkDefaults(file, `Template ${record.name}`, record, issue);
    if (record.image !== undefined && !isPinnedImage(record.image))
      issue(
        file,
        `Template ${record.name}: image`,
        'ERR_FLEET_IMAGE_UNPINNED',
        JSON.stringify(record.image),
      );
  }

  const resolvedSources = new Map<string, { source: AgentSource; merged: MergedAgent }>();
  for (const s of sources) {
    const r = s.record;
    checkDefaults(s.file, s.where, r, issue);
    const template = r.template === undefined ? undefined : templateByName.get(r.template);
    if (r.template !== undefined && !template)
      issue(
        s.file,
        `${s.where}: template`,
        'ERR_FLEET_UNKNOWN_TEMPLATE',
        `${JSON.stringify(r.template)}; the templates are ${[...templateByName.keys()].join(', ') || 'none'}`,
      );
    const p = r.placement;
    if ('host' in p && !hostByName.has(p.host))
      issue(
        s.file,
        `${s.where}: placement.host`,
        'ERR_FLEET_UNKNOWN_HOST',
        `${JSON.stringify(p.host)}; the hosts are ${[...hostByName.keys()].join(', ') || 'none'}`,
      );
    if ('group' in p && !groupByName.has(p.group))
      issue(
        s.file,
        `${s.where}: placement.group`,
        'ERR_FLEET_UNKNOWN_GROUP',
        `${JSON.stringify(p.group)}; the groups are ${[...groupByName.keys()].join(', ') || 'none'}`,
      );
    if (r.rollout)
      checkRollout(s.file, s.where, r, groupByName.get('group' in p ? p.group : ''), issue);
    const merged = mergeAgent(template, r, ctx);
    if (merged.image === undefined)
      issue(
        s.file,
        `${s.where}: image`,
        'ERR_FLEET_IMAGE_UNPINNED',
        'no image in the agent nor its template',
      );
    else if (r.image !== undefined && !isPinnedImage(r.image))
      issue(s.file, `${s.where}: image`, 'ERR_FLEET_IMAGE_UNPINNED', JSON.stringify(r.image));
    resolvedSources.set(s.id, { source: s, merged });
  }

  // 4. Pipelines: connections, tenants, cycles.
  const moduleIndex = new Map<string, { id: string; tenant: string }>();
  for (const { record: p } of pipelines)
    for (const m of p.modules)
      moduleIndex.set(`${p.name}/${m.name}`, { id: m.id, tenant: p.tenant });
  const edges = new Map<string, ResolvedConnection[]>();
  for (const { file, record: p } of pipelines) {
    p.connections.forEach((c, i) => {
      const where = `Pipeline ${p.name}: connections[${i}]`;
      const from = moduleIndex.get(`${p.name}/${c.from}`);
      if (!from) {
        issue(
          file,
          `${where}.from`,
          'ERR_FLEET_UNKNOWN_MODULE',
          `${JSON.stringify(c.from)}; the modules are ${p.modules.map((m) => m.name).join(', ')}`,
        );
        return;
      }
      const [target, portText] = c.to.split(':') as [string, string | undefined];
      const key = target.includes('/') ? target : `${p.name}/${target}`;
      const to = moduleIndex.get(key);
      if (!to) {
        issue(
          file,
          `${where}.to`,
          'ERR_FLEET_UNKNOWN_MODULE',
          `${JSON.stringify(c.to)}: no module ${key}`,
        );
        return;
      }
      if (to.tenant !== p.tenant) {
        issue(
          file,
          `${where}.to`,
          'ERR_FLEET_CROSS_TENANT',
          `${key} is tenant ${to.tenant}'s, this pipeline is tenant ${p.tenant}'s`,
        );
        return;
      }
      const downstream = resolvedSources.get(to.id)?.merged;
      const ports = downstream?.ports ?? [];
      const port = portText === undefined ? ports[0] : Number(portText);
      if (port === undefined || !ports.includes(port)) {
        issue(
          file,
          `${where}.to`,
          'ERR_FLEET_UNKNOWN_PORT',
          `${JSON.stringify(c.to)}: ${key} declares ${ports.length ? `ports ${ports.join(', ')}` : 'no port'}`,
        );
        return;
      }
      const name = resolvedSources.get(to.id)!.source.name;
      edges.set(from.id, [...(edges.get(from.id) ?? []), { to: to.id, name, port }]);
    });
  }
  for (const cycle of findCycles(edges)) {
    const names = cycle.map((id) => resolvedSources.get(id)!.source.name);
    const first = resolvedSources.get(cycle[0]!)!.source;
    issue(
      first.file,
      `Pipeline ${first.pipeline?.name ?? first.name}: connections`,
      'ERR_FLEET_CYCLE',
      [...names, names[0]].join(' → '),
    );
  }

  // 6. Sealed secrets: each is one agent's Secret and holds every key the agent reads.
  const sealedOf = new Map<string, ResolvedSealedSecret>();
  const secretOwner = new Map(
    [...resolvedSources.values()].map(({ source }) => [
      `${agentsNamespace(source.tenant)}/${agentSecretName(source.id)}`,
      source,
    ]),
  );
  for (const { file, record } of sealed) {
    const ref = `${record.metadata.namespace}/${record.metadata.name}`;
    const owner = secretOwner.get(ref);
    const first = owner && sealedOf.get(owner.id);
    if (!owner)
      issue(file, `SealedSecret ${ref}: metadata`, 'ERR_FLEET_SECRET_ORPHAN', `Secret ${ref}`);
    else if (first)
      issue(
        file,
        `SealedSecret ${ref}: metadata`,
        'ERR_FLEET_DUPLICATE_NAME',
        `${first.file} seals the same Secret`,
      );
    else sealedOf.set(owner.id, { file, agent: owner.id, record });
  }
  for (const { source, merged } of resolvedSources.values()) {
    const s = sealedOf.get(source.id);
    if (!s) continue;
    (merged.secrets ?? []).forEach((e, i) => {
      if (!(e.key in s.record.spec.encryptedData))
        issue(
          source.file,
          `${source.where}: secrets[${i}].key`,
          'ERR_FLEET_SECRET_KEY',
          `${JSON.stringify(e.key)}; ${s.file} holds ${Object.keys(s.record.spec.encryptedData).join(', ')}`,
        );
    });
  }

  if (issues.length > 0) throw new FleetError(issues);

  // 5. Resolve.
  const resolvedHosts = hosts
    .map(({ record }) => ({
      name: record.name,
      specialised: record.specialised,
      ...(record.site ? { site: record.site } : {}),
      ...(record.line ? { line: record.line } : {}),
      ...(record.capabilities?.length ? { capabilities: [...record.capabilities].sort() } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const host = (n: string) => resolvedHosts.find((h) => h.name === n)!;
  const out: ResolvedAgent[] = [];
  for (const { source: s, merged } of resolvedSources.values()) {
    const p = s.record.placement;
    const placement: ResolvedPlacement =
      'host' in p
        ? { mode: 'host', hosts: [host(p.host)] }
        : 'group' in p
          ? {
              mode: 'group',
              group: p.group,
              hosts: [...new Set(groupByName.get(p.group)!.hosts)].sort().map(host),
            }
          : { mode: 'floating', hosts: [] };
    const connections = [...(edges.get(s.id) ?? [])].sort((a, b) =>
      `${a.to}:${a.port}`.localeCompare(`${b.to}:${b.port}`),
    );
    const body = {
      id: s.id,
      name: s.name,
      tenant: s.tenant,
      ...merged,
      image: merged.image!,
      connections,
    };
    const sealedValues = sealedRead(sealedOf.get(s.id), merged.secrets);
    const revisionOf = (b: typeof body) =>
      createHash('sha256')
        .update(canonical({ ...b, sealed: sealedValues }))
        .digest('hex')
        .slice(0, 16);
    const r = s.record.rollout;
    out.push({
      ...body,
      file: s.file,
      ...(s.pipeline ? { pipeline: s.pipeline.name, pipelineId: s.pipeline.id } : {}),
      state: s.record.state,
      placement,
      ...(r
        ? {
            rollout: {
              ...(({ from: _from, ...rest }) => rest)(r),
              reached: r.waves.slice(0, r.started).flat(),
              ...(r.from
                ? {
                    from: {
                      image: r.from.image,
                      revision: revisionOf({ ...body, image: r.from.image }),
                    },
                  }
                : {}),
            },
          }
        : {}),
      revision: revisionOf(body),
    });
  }
  out.sort((a, b) => `${a.tenant}/${a.name}`.localeCompare(`${b.tenant}/${b.name}`));
  const sealedSecrets = [...sealedOf.values()].sort((a, b) =>
    `${a.record.metadata.namespace}/${a.record.metadata.name}`.localeCompare(
      `${b.record.metadata.namespace}/${b.record.metadata.name}`,
    ),
  );
  return { hosts: resolvedHosts, agents: out, sealedSecrets };
}

/**
 * The sealed values an agent reads (ciphertexts of its keys), part of its revision: a re-sealed
 * value changes the pod template, so the agent restarts with it. The ciphertext says nothing of
 * the value.
 */
function sealedRead(
  sealed: ResolvedSealedSecret | undefined,
  secrets: readonly { key: string }[] | undefined,
): Record<string, string> | undefined {
  if (!sealed || !secrets?.length) return undefined;
  return Object.fromEntries(
    [...new Set(secrets.map((e) => e.key))]
      .sort()
      .map((k) => [k, sealed.record.spec.encryptedData[k] ?? '']),
  );
}

/** Reads and resolves the fleet folder. */
export function loadFleet(root: string, dir: string, ctx: PlatformContext): Fleet {
  return resolveFleet(readFleetDir(root, dir), ctx);
}

/** A rollout must fit its record: a group placement, each of the group's hosts in one wave. */
function checkRollout(
  file: string,
  where: string,
  r: AgentRecord | PipelineModule,
  group: GroupRecord | undefined,
  issue: (file: string, where: string, code: FleetErrorCode, detail: string) => void,
): void {
  const rollout = r.rollout!;
  const at = `${where}: rollout`;
  if (!('group' in r.placement)) {
    issue(file, at, 'ERR_FLEET_ROLLOUT', 'the placement is not a group');
    return;
  }
  if (rollout.from && !isPinnedImage(rollout.from.image))
    issue(file, `${at}.from.image`, 'ERR_FLEET_IMAGE_UNPINNED', JSON.stringify(rollout.from.image));
  if (rollout.started > rollout.waves.length)
    issue(
      file,
      `${at}.started`,
      'ERR_FLEET_ROLLOUT',
      `${rollout.started} waves begun of ${rollout.waves.length}`,
    );
  if (!group) return; // reported as an unknown group
  const seen = new Set<string>();
  for (const h of rollout.waves.flat()) {
    if (seen.has(h)) issue(file, `${at}.waves`, 'ERR_FLEET_ROLLOUT', `${h} is in two waves`);
    else if (!group.hosts.includes(h))
      issue(file, `${at}.waves`, 'ERR_FLEET_ROLLOUT', `${h} is not a host of group ${group.name}`);
    seen.add(h);
  }
  const missing = group.hosts.filter((h) => !seen.has(h));
  if (missing.length)
    issue(file, `${at}.waves`, 'ERR_FLEET_ROLLOUT', `no wave has ${missing.join(', ')}`);
}

type MergedAgent = Omit<
  ResolvedAgent,
  | 'id'
  | 'name'
  | 'tenant'
  | 'file'
  | 'pipeline'
  | 'state'
  | 'placement'
  | 'rollout'
  | 'connections'
  | 'revision'
  | 'image'
> & { readonly image?: string };

/** Template → agent, as a JSON merge patch (RFC 7386), with the platform's defaults under both. */
function mergeAgent(
  template: TemplateRecord | undefined,
  agent: AgentRecord | PipelineModule,
  ctx: PlatformContext,
): MergedAgent {
  const pick = (r: TemplateRecord | AgentRecord | PipelineModule | undefined) => {
    if (!r) return {};
    const { image, resources, config, needs, secrets, ports, health, heartbeatSeconds, runAs } = r;
    return JSON.parse(
      JSON.stringify({
        image,
        resources,
        config,
        needs,
        secrets,
        ports,
        health,
        heartbeatSeconds,
        runAs,
      }),
    ) as Record<string, unknown>;
  };
  const merged = mergePatch(pick(template), pick(agent)) as Partial<MergedAgent>;
  return {
    ...(merged.image !== undefined ? { image: merged.image } : {}),
    resources: merged.resources ?? ctx.config.agents.defaultResources,
    config: merged.config ?? {},
    needs: [...new Set(merged.needs ?? [])].sort() as Need[],
    secrets: merged.secrets ?? [],
    ports: merged.ports ?? [],
    ...(merged.health ? { health: merged.health } : {}),
    heartbeatSeconds: merged.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS,
    runAs: merged.runAs ?? DEFAULT_RUN_AS,
  };
}

/** Checks what a template or an agent sets: its needs and its placeholders. */
function checkDefaults(
  file: string,
  where: string,
  r: TemplateRecord | AgentRecord | PipelineModule,
  issue: (file: string, where: string, code: FleetErrorCode, detail: string) => void,
): void {
  (r.needs ?? []).forEach((n, i) => {
    if (!(n in NEEDS))
      issue(file, `${where}: needs[${i}]`, 'ERR_FLEET_UNKNOWN_NEED', JSON.stringify(n));
  });
  for (const u of undefinedPlaceholders(r.config ?? {}, 'config'))
    issue(file, `${where}: ${u.path}`, 'ERR_FLEET_PLACEHOLDER', `{{${u.name}}}`);
}

/** The cycles of a directed graph, each once, as the list of its nodes. */
function findCycles(edges: ReadonlyMap<string, readonly ResolvedConnection[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    stack.push(n);
    for (const { to } of edges.get(n) ?? []) {
      if (state.get(to) === 'open') cycles.push(stack.slice(stack.indexOf(to)));
      else if (!state.has(to)) visit(to);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...edges.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

function recordLabel(raw: unknown, fallback: string): string {
  if (raw && typeof raw === 'object') {
    const r = raw as { kind?: unknown; name?: unknown };
    if (typeof r.kind === 'string')
      return `${r.kind} ${typeof r.name === 'string' ? r.name : `(${fallback})`}`;
  }
  return fallback;
}
