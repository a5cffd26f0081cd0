/**
 * Writing records into fleet/ (and committing them when asked), the way `npm run agents --
 * apply` and the fleet service change desired state. Each given record replaces the record of
 * the same kind and id (a Host: name) wherever it is, keeping the other documents and comments
 * of its file, or goes into a new file of its kind's folder. A record without an id takes the id
 * of the record of that kind, tenant and name, or a new one (reported), so an id stays stable.
 *
 * All or nothing: the whole resulting fleet is validated (and inspected) before a byte is
 * written; a write that fails restores the files written before it; the commit takes exactly
 * the written files, whatever else is staged.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { Document } from 'yaml';
import { parseAllDocuments, parseDocument } from 'yaml';

import type { PlatformContext } from '../context.js';
import { catalogueError } from '../errors.js';
import { gitIn } from './git.js';
import { FLEET_DIR, FLEET_ERRORS, FleetRecord } from './records.js';
import type { Fleet, FleetFile, FleetIssue } from './resolve.js';
import { FleetError, readFleetDir, resolveFleet } from './resolve.js';

/** Records given to apply: a file's (or standard input's) text and what to call it. */
export interface ApplyInput {
  readonly source: string;
  readonly text: string;
}

/** What {@link writeFleetRecords} may do. */
export interface WriteOptions {
  /** Only validate and plan; write nothing. */
  readonly dryRun?: boolean;
  /** Commit the written files with this message (default: a summary of the records). */
  readonly commit?: boolean;
  readonly message?: string;
  /** The commit's author (the calling user of a service); default git's configured identity. */
  readonly author?: { readonly name: string; readonly email: string };
  /**
   * Called with the resulting fleet (and the current one, unless it does not resolve) before
   * anything is written; what it throws stops the write (the construct library renders here).
   */
  readonly inspect?: (after: Fleet, before: Fleet | undefined) => void;
  /**
   * Records to delete (a Host by name, the others by id): their documents leave their files,
   * and a file left without a record is deleted.
   */
  readonly remove?: readonly RecordRef[];
}

/** A record by kind and id (a Host: its name). */
export interface RecordRef {
  readonly kind: 'Host' | 'Group' | 'Template' | 'Agent' | 'Pipeline';
  /** The id; a Host's name. */
  readonly id: string;
}

/** A file a write changes: its text before (absent: new) and after (absent: deleted). */
export interface ChangedFile {
  readonly path: string;
  readonly before?: string;
  readonly after?: string;
}

/** One record given. */
export interface AppliedRecord {
  readonly kind: string;
  /** `tenant/name` for tenant records, the name otherwise. */
  readonly name: string;
  readonly id?: string;
  /** The file it is in, relative to the repository root. */
  readonly file: string;
  readonly action: 'created' | 'updated' | 'unchanged';
  /** The id was given to it here (a new record without one). */
  readonly idAssigned?: boolean;
}

/** What a write did. */
export interface WriteResult {
  readonly records: readonly AppliedRecord[];
  /** Files written (none on a dry run or when nothing changed). */
  readonly written: readonly string[];
  readonly fleet: Fleet;
  /** The files changed (also on a dry run), sorted by path: what a diff shows. */
  readonly files: readonly ChangedFile[];
  /** The records deleted, as `kind name`. */
  readonly deleted: readonly string[];
  /** The commit made, when asked and something changed. */
  readonly commit?: string;
}

/** The folder (or file) each kind's new records go to. */
const HOME: Record<string, (r: { tenant?: string; name: string }) => string> = {
  Agent: (r) => `${FLEET_DIR}/agents/${r.tenant}-${r.name}.yaml`,
  Pipeline: (r) => `${FLEET_DIR}/pipelines/${r.tenant}-${r.name}.yaml`,
  Template: (r) => `${FLEET_DIR}/templates/${r.name}.yaml`,
  Group: () => `${FLEET_DIR}/groups.yaml`,
  Host: () => `${FLEET_DIR}/hosts.yaml`,
};

const SCHEMA_COMMENT = (path: string) =>
  `# yaml-language-server: $schema=${'../'.repeat(path.split('/').length - 1)}docs/fleet.schema.json`;

type Raw = Record<string, unknown>;

/** A record's identity: kind and id (a Host: its name). */
function identity(r: Raw): string | undefined {
  if (r.kind === 'Host') return typeof r.name === 'string' ? `Host/${r.name}` : undefined;
  return typeof r.id === 'string' ? `${String(r.kind)}/${r.id.toLowerCase()}` : undefined;
}

/** Kind, tenant and name: how a record without an id finds the one it updates. */
function byName(r: Raw): string {
  return `${String(r.kind)}/${String(r.tenant ?? '')}/${String(r.name)}`;
}

/** The records of the inputs, each checked against the schema; every problem at once. */
function readInputs(
  inputs: readonly ApplyInput[],
  allowEmpty = false,
): { source: string; raw: Raw }[] {
  const issues: FleetIssue[] = [];
  const out: { source: string; raw: Raw }[] = [];
  for (const input of inputs) {
    const docs = parseAllDocuments(input.text);
    if (!Array.isArray(docs)) continue; // an empty input: no documents
    docs.forEach((doc, i) => {
      const where = `document ${i + 1}`;
      if (doc.errors.length) {
        issues.push({
          file: input.source,
          where,
          code: 'ERR_FLEET_FILE',
          detail: doc.errors.map((e) => e.message).join('; '),
        });
        return;
      }
      const raw = doc.toJS() as unknown;
      if (raw === null || raw === undefined) return;
      if (typeof raw !== 'object' || Array.isArray(raw)) {
        issues.push({
          file: input.source,
          where,
          code: 'ERR_FLEET_SCHEMA',
          detail: 'not a record',
        });
        return;
      }
      const r = raw as Raw;
      if (r.kind === 'SealedSecret') {
        issues.push({
          file: input.source,
          where: `${where} (SealedSecret)`,
          code: 'ERR_FLEET_SCHEMA',
          detail: 'sealed secrets are written by `npm run agents -- seal`, which seals the value',
        });
        return;
      }
      // Checked with an id, which apply may still have to assign.
      const parsed = FleetRecord.safeParse(
        r.kind !== 'Host' && r.id === undefined ? { ...r, id: randomUUID() } : r,
      );
      if (!parsed.success) {
        for (const e of parsed.error.issues)
          issues.push({
            file: input.source,
            where:
              `${where} (${String(r.kind ?? '?')} ${String(r.name ?? '')}) ${e.path.join('.')}`.trim(),
            code: 'ERR_FLEET_SCHEMA',
            detail: e.message,
          });
        return;
      }
      out.push({ source: input.source, raw: r });
    });
  }
  if (issues.length) throw new FleetError(issues);
  if (out.length === 0 && !allowEmpty)
    throw new FleetError([
      {
        file: inputs.map((i) => i.source).join(', ') || '(no input)',
        where: '',
        code: 'ERR_FLEET_SCHEMA',
        detail: 'no record given: pass YAML files of records, or - for standard input',
      },
    ]);
  return out;
}

/**
 * Validates `inputs` together with the fleet of `root`, lets `opts.inspect` look at the result,
 * and (unless a dry run) writes the records and optionally commits them.
 *
 * @throws FleetError when a record or the resulting fleet has problems (nothing written);
 *   PlatformError ERR_TOOL_MISSING when git fails; ERR_FLEET_WRITE when a file cannot be
 *   written (the files written before it are restored).
 */
export function writeFleetRecords(
  ctx: PlatformContext,
  root: string,
  inputs: readonly ApplyInput[],
  opts: WriteOptions = {},
): WriteResult {
  const given = readInputs(inputs, (opts.remove?.length ?? 0) > 0);
  const files = readFleetDir(root, FLEET_DIR);
  const docs = new Map<string, Document.Parsed[]>();
  const where = new Map<string, { path: string; index: number }>();
  const names = new Map<string, string>();
  for (const f of files) {
    const list = parseAllDocuments(f.text);
    if (!Array.isArray(list)) continue;
    docs.set(f.path, list);
    list.forEach((d, index) => {
      const raw = d.errors.length ? undefined : (d.toJS() as unknown);
      if (!raw || typeof raw !== 'object') return;
      const key = identity(raw as Raw);
      if (key) where.set(key, { path: f.path, index });
      if (typeof (raw as Raw).id === 'string')
        names.set(byName(raw as Raw), (raw as Raw).id as string);
    });
  }

  const records: AppliedRecord[] = [];
  const seen = new Set<string>();
  const changedPaths = new Set<string>();
  const created = new Map<string, Document[]>();
  for (const { raw } of given) {
    let r = raw;
    let idAssigned = false;
    if (r.kind !== 'Host' && r.id === undefined) {
      const id = names.get(byName(r)) ?? randomUUID();
      idAssigned = !names.has(byName(r));
      // The id first, as in hand-written records.
      r = { kind: r.kind, id, ...r };
    }
    const key = identity(r)!;
    const nameKey = byName(r);
    const label = `${String(r.kind)} ${r.tenant ? `${String(r.tenant)}/` : ''}${String(r.name)}`;
    if (seen.has(key) || seen.has(nameKey))
      throw new FleetError([
        {
          file: given.find((g) => g.raw === raw)?.source ?? '(input)',
          where: label,
          code: 'ERR_FLEET_DUPLICATE_ID',
          detail: 'given twice in one apply',
        },
      ]);
    seen.add(key);
    seen.add(nameKey);
    const summary = {
      kind: String(r.kind),
      name: `${r.tenant ? `${String(r.tenant)}/` : ''}${String(r.name)}`,
      ...(typeof r.id === 'string' ? { id: r.id } : {}),
      ...(idAssigned ? { idAssigned } : {}),
    };
    const at = where.get(key);
    if (at) {
      const doc = docs.get(at.path)![at.index]!;
      if (JSON.stringify(doc.toJS()) === JSON.stringify(r)) {
        records.push({ ...summary, file: at.path, action: 'unchanged' });
        continue;
      }
      // The comments above the record belong to its old nodes: keep them.
      const comments = leadingComments(doc.contents);
      doc.contents = doc.createNode(r) as never;
      setLeadingComments(doc.contents, comments);
      changedPaths.add(at.path);
      records.push({ ...summary, file: at.path, action: 'updated' });
      continue;
    }
    const path = HOME[String(r.kind)]!({
      name: String(r.name),
      ...(typeof r.tenant === 'string' ? { tenant: r.tenant } : {}),
    });
    const doc = parseDocument('{}');
    doc.contents = doc.createNode(r) as never;
    created.set(path, [...(created.get(path) ?? []), doc]);
    changedPaths.add(path);
    records.push({ ...summary, file: path, action: 'created' });
  }

  // Deletions: the document leaves its file (by index, highest first within a file).
  const removed: string[] = [];
  const dropped = new Map<string, Set<number>>();
  for (const ref of opts.remove ?? []) {
    const key = ref.kind === 'Host' ? `Host/${ref.id}` : `${ref.kind}/${ref.id.toLowerCase()}`;
    const at = where.get(key);
    if (!at || seen.has(key))
      throw new FleetError([
        {
          file: FLEET_DIR,
          where: `${ref.kind} ${ref.id}`,
          code: 'ERR_FLEET_SCHEMA',
          detail: at ? 'both given and removed' : 'no such record to remove',
        },
      ]);
    const raw = docs.get(at.path)![at.index]!.toJS() as Raw;
    removed.push(`${ref.kind} ${raw.tenant ? `${String(raw.tenant)}/` : ''}${String(raw.name)}`);
    dropped.set(at.path, (dropped.get(at.path) ?? new Set()).add(at.index));
    changedPaths.add(at.path);
  }

  // The files as they would be (undefined: deleted).
  const texts = new Map<string, string | undefined>(files.map((f) => [f.path, f.text]));
  for (const path of changedPaths) {
    const gone = dropped.get(path) ?? new Set<number>();
    const existing = (docs.get(path) ?? []).filter((_, i) => !gone.has(i));
    if (gone.size && existing.length === 0 && !created.has(path)) {
      texts.set(path, undefined);
      continue;
    }
    const added = created.get(path) ?? [];
    // A document after the first prints its own `---`.
    let text = [...existing, ...added]
      .map((d, i) => {
        const t = d.toString();
        return i === 0 || t.startsWith('---') ? t : `---\n${t}`;
      })
      .join('');
    if (!docs.has(path)) text = `${SCHEMA_COMMENT(path)}\n${text}`;
    // A first document that was dropped took the schema comment with it: keep it.
    else if (gone.has(0) && !text.startsWith('# yaml-language-server'))
      text = `${SCHEMA_COMMENT(path)}\n${text.replace(/^---\n/, '')}`;
    texts.set(path, text);
  }
  const after: FleetFile[] = [...texts]
    .flatMap(([path, text]) => (text === undefined ? [] : [{ path, text }]))
    .sort((a, b) => a.path.localeCompare(b.path));
  const fleet = resolveFleet(after, ctx);
  let current: Fleet | undefined;
  try {
    current = resolveFleet(files, ctx);
  } catch (err) {
    // The fleet on disk does not resolve: a write may mend it.
    if ((err as { code?: string }).code !== 'ERR_FLEET_INVALID') throw err;
  }
  opts.inspect?.(fleet, current);
  const before = new Map(files.map((f) => [f.path, f.text]));
  const changed: ChangedFile[] = [...changedPaths]
    .sort()
    .map((path) => {
      const b = before.get(path);
      const a = texts.get(path);
      return {
        path,
        ...(b !== undefined ? { before: b } : {}),
        ...(a !== undefined ? { after: a } : {}),
      };
    })
    .filter((f) => f.before !== f.after);
  const result = { records, fleet, files: changed, deleted: removed };
  if (opts.dryRun || changed.length === 0) return { ...result, written: [] };

  const { written, undo } = writeAll(root, changed);
  if (!opts.commit) return { ...result, written };
  const message =
    opts.message ??
    `fleet: ${[
      ...records.filter((r) => r.action !== 'unchanged').map((r) => `apply ${r.kind} ${r.name}`),
      ...removed.map((r) => `remove ${r}`),
    ].join(', ')}`;
  try {
    gitIn(root, ['add', '--all', '--', ...written]);
    gitIn(root, [
      'commit',
      '--quiet',
      ...(opts.author ? [`--author=${opts.author.name} <${opts.author.email}>`] : []),
      '-m',
      message,
      '--',
      ...written,
    ]);
  } catch (err) {
    // Not committed: neither written. (Unstaged first; a repository without commits has no
    // HEAD to reset to, and `git rm --cached` then unstages.)
    try {
      gitIn(root, ['reset', '--quiet', '--', ...written]);
    } catch {
      gitIn(root, ['rm', '--cached', '--quiet', '--ignore-unmatch', '--', ...written]);
    }
    undo();
    throw catalogueError(
      FLEET_ERRORS,
      'ERR_FLEET_COMMIT',
      `${(err as Error).message}; nothing was written`,
      err,
    );
  }
  return { ...result, written, commit: gitIn(root, ['rev-parse', 'HEAD']).trim() };
}

type Commented = { commentBefore?: string | null };
type MapLike = Commented & { items?: { key?: Commented }[] };

/** The comments printed above a document's record: on the map, or on its first key. */
function leadingComments(node: unknown): [string | null | undefined, string | null | undefined] {
  const m = node as MapLike | null;
  return [m?.commentBefore, m?.items?.[0]?.key?.commentBefore];
}

function setLeadingComments(
  node: unknown,
  [map, key]: [string | null | undefined, string | null | undefined],
): void {
  const m = node as MapLike;
  if (map) m.commentBefore = map;
  const first = m.items?.[0]?.key;
  if (key && first) first.commentBefore = key;
}

/**
 * Writes each file through a temporary file and a rename; on a failure restores the others.
 * Returns the paths written and how to restore them.
 */
function writeAll(
  root: string,
  files: readonly ChangedFile[],
): { written: string[]; undo: () => void } {
  const done: { path: string; previous?: string }[] = [];
  const undo = () => {
    for (const d of [...done].reverse()) {
      const abs = join(root, d.path);
      if (d.previous === undefined) rmSync(abs, { force: true });
      else writeFileSync(abs, d.previous);
    }
  };
  try {
    for (const f of files) {
      const abs = join(root, f.path);
      const previous = existsSync(abs) ? readFileSync(abs, 'utf8') : undefined;
      if (f.after === undefined) rmSync(abs, { force: true });
      else {
        mkdirSync(dirname(abs), { recursive: true });
        const tmp = `${abs}.apply-${process.pid}.tmp`;
        try {
          writeFileSync(tmp, f.after);
          renameSync(tmp, abs);
        } finally {
          rmSync(tmp, { force: true });
        }
      }
      done.push({ path: f.path, ...(previous !== undefined ? { previous } : {}) });
    }
  } catch (err) {
    undo();
    throw catalogueError(
      FLEET_ERRORS,
      'ERR_FLEET_WRITE',
      `cannot write the records: ${(err as Error).message}; the ${done.length} file(s) written before were restored`,
      err,
    );
  }
  return { written: done.map((d) => d.path), undo };
}
