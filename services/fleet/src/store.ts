/**
 * The fleet's records in the GitOps repository, through the git CLI: a working clone of its own
 * (remote URL and branch from the configuration) that reads fleet/ at `origin/<branch>` and turns
 * each change into one commit, authored as the calling user, committed as the service, and pushed.
 *
 * One writer at a time (a process-wide mutex). A write starts from the remote's head: the clone is
 * reset to `origin/<branch>`, the caller's edit is computed from that snapshot, its If-Match
 * preconditions are checked, the records are written and committed by the one writer of the
 * records (platform/fleet/write.ts: the whole resulting fleet validated, all or nothing) and
 * pushed. When the push is refused because the remote moved, the store fetches and redoes the
 * whole edit on the new head (a change of another record is kept beside it; a change of the same
 * record fails the If-Match and is a 409): never a lost update. NOTE (1)
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import { parseAllDocuments } from 'yaml';

import type { PlatformContext } from '../../../platform/context.js';
import { FLEET_DIR } from '../../../platform/fleet/records.js';
import type { FleetFile } from '../../../platform/fleet/resolve.js';
import { FleetError, resolveFleet } from '../../../platform/fleet/resolve.js';
import type { ChangedFile, RecordRef } from '../../../platform/fleet/write.js';
import { writeFleetRecords } from '../../../platform/fleet/write.js';
import type { Author, ChangeRequest, ChangeResult, FleetStore, Snapshot } from './contract.js';
import { FleetFailure } from './errors.js';

const run = promisify(execFile);

type Raw = Record<string, unknown>;

/** Where the store's repository is and how it behaves. */
export interface GitStoreOptions {
  readonly ctx: PlatformContext;
  /** The GitOps repository (any URL git understands; credentials are never logged). */
  readonly remote: string;
  /** The branch the records live on (it must exist). */
  readonly branch: string;
  /** The working clone's directory (created; reused when it is already a clone of `remote`). */
  readonly dir: string;
  /** The committer of every commit: the service itself. */
  readonly committer: Author;
  /** A snapshot is fetched again when older than this. @default 5000 */
  readonly refreshMs?: number;
  /** How many times a write is redone when the remote moved underneath it. @default 3 */
  readonly retries?: number;
  /** Seconds a git network operation may take. @default 30 */
  readonly timeoutSeconds?: number;
  /**
   * Called before each push with the attempt (0 first): the moment another writer's push makes
   * this one a non-fast-forward. The tests push a real commit from another clone here.
   * @default none
   */
  readonly beforePush?: (attempt: number) => Promise<void>;
}

/** A record's ETag: a quoted strong validator, the first 16 hex of sha256 of its canonical JSON. */
export function etagOf(raw: unknown): string {
  return `"${createHash('sha256').update(canonical(raw)).digest('hex').slice(0, 16)}"`;
}

/** JSON with sorted keys: equal for equal documents whatever their key order. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Raw)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** The key of a record (a Host by name, the others by kind and id), as write.ts keys them. */
export function refKey(ref: RecordRef): string {
  return ref.kind === 'Host' ? `Host/${ref.id}` : `${ref.kind}/${ref.id.toLowerCase()}`;
}

function keyOfRaw(r: Raw): string | undefined {
  if (r.kind === 'Host') return typeof r.name === 'string' ? `Host/${r.name}` : undefined;
  if (!['Group', 'Template', 'Agent', 'Pipeline'].includes(String(r.kind))) return undefined;
  return typeof r.id === 'string' ? `${String(r.kind)}/${r.id.toLowerCase()}` : undefined;
}

/** Every record of a file's text, by key. */
function recordsOf(text: string): Map<string, Raw> {
  const out = new Map<string, Raw>();
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return out;
  for (const d of docs) {
    if (d.errors.length) continue;
    const raw = d.toJS() as unknown;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) continue;
    const key = keyOfRaw(raw as Raw);
    if (key) out.set(key, raw as Raw);
  }
  return out;
}

/** A snapshot of `files` at `commit`, with each record's raw document, ETag and file. */
export function buildSnapshot(
  ctx: PlatformContext,
  commit: string,
  files: readonly FleetFile[],
): Snapshot & { fileOf(ref: RecordRef): string | undefined } {
  const fleet = resolveFleet(files, ctx);
  const records = new Map<string, { raw: Raw; etag: string; file: string }>();
  for (const f of files)
    for (const [key, raw] of recordsOf(f.text))
      records.set(key, { raw, etag: etagOf(raw), file: f.path });
  return {
    commit,
    files,
    fleet,
    record(ref) {
      const r = records.get(refKey(ref));
      return r ? { raw: structuredClone(r.raw), etag: r.etag } : undefined;
    },
    fileOf: (ref) => records.get(refKey(ref))?.file,
  };
}

type StoreSnapshot = ReturnType<typeof buildSnapshot>;

/** A git failure: its standard error, for classifying it. */
class GitError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
  ) {
    super(`git ${args[0]} failed: ${stderr.trim()}`);
  }
}

/** A one-at-a-time lock: each holder runs after the previous one settled. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Writers of one process share one lock per clone directory. */
const LOCKS = new Map<string, Mutex>();

/** The store over a working clone of the GitOps repository. */
export class GitStore implements FleetStore {
  private readonly lock: Mutex;
  private readonly fetchLock = new Mutex();
  private lastFetch = 0;
  private cached: StoreSnapshot | undefined;
  private readonly refreshMs: number;
  private readonly retries: number;
  private readonly timeoutMs: number;

  private constructor(private readonly opts: GitStoreOptions) {
    this.refreshMs = opts.refreshMs ?? 5000;
    this.retries = opts.retries ?? 3;
    this.timeoutMs = (opts.timeoutSeconds ?? 30) * 1000;
    let lock = LOCKS.get(opts.dir);
    if (!lock) LOCKS.set(opts.dir, (lock = new Mutex()));
    this.lock = lock;
  }

  /**
   * Opens the store: clones the repository into `dir` (or reuses the clone there), sets the
   * committer identity and reads the first snapshot.
   * @throws FleetFailure ERR_FLEET_GIT_UNAVAILABLE when the repository cannot be cloned.
   */
  static async open(opts: GitStoreOptions): Promise<GitStore> {
    const store = new GitStore(opts);
    await store.lock.run(async () => {
      if (!existsSync(join(opts.dir, '.git'))) {
        mkdirSync(dirname(opts.dir), { recursive: true });
        await store.git(
          dirname(opts.dir),
          ['clone', '--quiet', '--branch', opts.branch, '--', opts.remote, opts.dir],
          'network',
        );
      } else {
        await store.git(opts.dir, ['remote', 'set-url', 'origin', opts.remote]);
      }
      await store.git(opts.dir, ['config', 'user.name', opts.committer.name]);
      await store.git(opts.dir, ['config', 'user.email', opts.committer.email]);
      // Nothing a user's global git configuration adds (signing, hooks) applies to this clone.
      await store.git(opts.dir, ['config', 'commit.gpgsign', 'false']);
    });
    await store.snapshot({ fresh: true });
    return store;
  }

  /** The branch the store writes. */
  get branch(): string {
    return this.opts.branch;
  }

  async snapshot(opts: { readonly fresh?: boolean } = {}): Promise<Snapshot> {
    if (opts.fresh || Date.now() - this.lastFetch >= this.refreshMs) await this.fetch();
    return this.snapshotAt(await this.head());
  }

  async change(req: ChangeRequest): Promise<ChangeResult> {
    return this.lock.run(async () => {
      for (let attempt = 0; ; attempt++) {
        await this.fetch();
        const base = await this.head();
        await this.resetTo(base);
        const snap = await this.snapshotAt(base);
        for (const m of req.ifMatch ?? []) {
          const current = snap.record(m.ref);
          if (!current)
            throw new FleetFailure(
              'ERR_FLEET_NOT_FOUND',
              404,
              `the ${m.ref.kind} ${m.ref.id} of the If-Match precondition no longer exists (deleted at ${base.slice(0, 12)})`,
            );
          if (current.etag !== m.etag)
            throw new FleetFailure(
              'ERR_FLEET_CONFLICT',
              409,
              `the ${m.ref.kind} ${m.ref.id} changed: If-Match ${m.etag}, its current ETag is ${current.etag} (at ${base.slice(0, 12)})`,
              [],
              { etag: current.etag, commit: base },
            );
        }
        const edit = req.edit(snap);
        const inputs = (edit.put ?? []).map((raw, i) => ({
          source: `request record ${i + 1}`,
          // JSON is YAML: the writer parses it as it parses files.
          text: JSON.stringify(raw),
        }));
        const message = `${req.message}\n\n${commitBody(req.author, edit)}`;
        let result: ReturnType<typeof writeFleetRecords>;
        try {
          result = writeFleetRecords(this.opts.ctx, this.opts.dir, inputs, {
            dryRun: req.dryRun ?? false,
            commit: !req.dryRun,
            author: req.author,
            message,
            ...(edit.remove?.length ? { remove: edit.remove } : {}),
          });
        } catch (err) {
          await this.resetTo(base);
          throw err;
        }
        const diff = await this.diff(result.files);
        const common = {
          base,
          dryRun: req.dryRun ?? false,
          diff,
          records: result.records,
          deleted: result.deleted,
        };
        if (req.dryRun || !result.commit) {
          await this.resetTo(base);
          return { ...common, after: applied(this.opts.ctx, snap, result.files) };
        }
        try {
          await this.opts.beforePush?.(attempt);
          // With the fetches' lock: both update the remote-tracking branch.
          await this.fetchLock.run(() =>
            this.git(
              this.opts.dir,
              ['push', '--porcelain', 'origin', `HEAD:refs/heads/${this.opts.branch}`],
              'network',
            ),
          );
        } catch (err) {
          await this.resetTo(base);
          const stderr = err instanceof GitError ? err.stderr : String(err);
          if (isMovedRemote(err) && attempt < this.retries) continue;
          if (isMovedRemote(err))
            throw new FleetFailure(
              'ERR_FLEET_CONFLICT',
              409,
              `the branch ${this.opts.branch} moved underneath this write ${attempt + 1} times; nothing was written`,
            );
          if (err instanceof FleetFailure) throw err;
          throw new FleetFailure(
            'ERR_FLEET_PUSH',
            502,
            `the git server refused the commit; nothing was written: ${oneLine(stderr)}`,
          );
        }
        this.lastFetch = Date.now();
        const after = await this.snapshotAt(result.commit);
        this.cached = after;
        return { ...common, commit: result.commit, after };
      }
    });
  }

  async history(
    ref: RecordRef,
    limit = 20,
  ): Promise<readonly { readonly commit: string; readonly raw: Record<string, unknown> }[]> {
    const snap = (await this.snapshot()) as StoreSnapshot;
    const file = snap.fileOf(ref);
    if (!file) return [];
    const log = await this.git(this.opts.dir, [
      'log',
      '--format=%H',
      `-n${Math.max(1, limit) * 5}`,
      snap.commit,
      '--',
      file,
    ]);
    const out: { commit: string; raw: Raw }[] = [];
    let previous: string | undefined;
    for (const commit of log.split('\n').filter(Boolean)) {
      let text: string;
      try {
        text = await this.git(this.opts.dir, ['show', `${commit}:${file}`]);
      } catch {
        continue; // the file did not exist at that commit (a rename): no revision of it there
      }
      const raw = recordsOf(text).get(refKey(ref));
      if (!raw) continue;
      // A commit that changed another record of the same file is not a revision of this one.
      const c = canonical(raw);
      if (c === previous) continue;
      previous = c;
      out.push({ commit, raw });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The remote head's commit (as last fetched). */
  private async head(): Promise<string> {
    return (
      await this.git(this.opts.dir, [
        'rev-parse',
        '--verify',
        `refs/remotes/origin/${this.opts.branch}^{commit}`,
      ])
    ).trim();
  }

  /** Fetches the branch; concurrent callers share one fetch. */
  private fetch(): Promise<void> {
    return this.fetchLock.run(async () => {
      await this.git(
        this.opts.dir,
        [
          'fetch',
          '--quiet',
          'origin',
          `+refs/heads/${this.opts.branch}:refs/remotes/origin/${this.opts.branch}`,
        ],
        'network',
      );
      this.lastFetch = Date.now();
    });
  }

  private async resetTo(commit: string): Promise<void> {
    await this.git(this.opts.dir, ['reset', '--quiet', '--hard', commit]);
    await this.git(this.opts.dir, ['clean', '--quiet', '-fdx', '--', FLEET_DIR]);
  }

  /** The records of fleet/ at `commit`, read from git's objects (the working tree untouched). */
  private async snapshotAt(commit: string): Promise<StoreSnapshot> {
    if (this.cached?.commit === commit) return this.cached;
    const names = (
      await this.git(this.opts.dir, ['ls-tree', '-r', '--name-only', '-z', commit, '--', FLEET_DIR])
    )
      .split('\0')
      .filter((p) => /\.ya?ml$/.test(p))
      .sort();
    const files = await Promise.all(
      names.map(async (path) => ({
        path,
        text: await this.git(this.opts.dir, ['show', `${commit}:${path}`]),
      })),
    );
    let snap: StoreSnapshot;
    try {
      snap = buildSnapshot(this.opts.ctx, commit, files);
    } catch (err) {
      if (!(err instanceof FleetError)) throw err;
      // Someone pushed records that do not validate: neither reads nor writes can start from them.
      throw new FleetFailure(
        'ERR_FLEET_REPO_INVALID',
        502,
        `the records at ${commit.slice(0, 12)} of ${this.opts.branch} do not validate (${err.issues.length} problem(s))`,
        err.issues.map((i) => ({
          field: `${i.file} ${i.where}`.trim(),
          message: i.detail,
          code: i.code,
        })),
        { commit },
      );
    }
    this.cached = snap;
    return snap;
  }

  /** A unified diff of the changed files, `a/fleet/...` → `b/fleet/...` (`git diff --no-index`). */
  private async diff(files: readonly ChangedFile[]): Promise<string> {
    if (files.length === 0) return '';
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const tmp = mkdtempSync(join(tmpdir(), 'fleet-diff-'));
    try {
      const parts: string[] = [];
      for (const f of files) {
        const side = (s: 'a' | 'b', text: string | undefined) => {
          if (text === undefined) return '/dev/null';
          const p = join(tmp, s, f.path);
          mkdirSync(dirname(p), { recursive: true });
          writeFileSync(p, text);
          return `${s}/${f.path}`;
        };
        const a = side('a', f.before);
        const b = side('b', f.after);
        try {
          await run('git', ['diff', '--no-index', '--no-prefix', '--no-color', '--', a, b], {
            cwd: tmp,
            encoding: 'utf8',
            maxBuffer: 16 * 1024 * 1024,
          });
        } catch (err) {
          // Exit 1 means "they differ": the diff is on standard output.
          const e = err as { code?: number; stdout?: string; stderr?: string };
          if (e.code !== 1) throw new GitError(['diff'], e.stderr ?? String(err));
          parts.push(e.stdout ?? '');
        }
      }
      return parts.join('');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Runs git in `cwd`. A failure of a network operation (`kind` 'network') that is not a refused
   * push is a 503 problem; other failures are thrown as {@link GitError}.
   */
  private async git(cwd: string, args: readonly string[], kind?: 'network'): Promise<string> {
    try {
      const { stdout } = await run('git', ['-C', cwd, ...args], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        timeout: this.timeoutMs,
        // The deployment's askpass helper (the push token's file) when it has one; otherwise
        // git must never wait for a password nobody types.
        env: {
          ...process.env,
          GIT_TERMINAL_PROMPT: '0',
          GIT_ASKPASS: process.env.GIT_ASKPASS ?? 'true',
          LC_ALL: 'C',
        },
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      const failure = new GitError(args, `${e.stderr ?? ''}${e.stdout ?? ''}` || e.message);
      if (kind === 'network' && !isRefusedPush(failure))
        throw new FleetFailure(
          'ERR_FLEET_GIT_UNAVAILABLE',
          503,
          `git ${args[0]} of the GitOps repository failed: ${oneLine(redact(failure.stderr))}`,
        );
      throw failure;
    }
  }
}

/** The remote's branch moved: the push was not a fast-forward. */
function isMovedRemote(err: unknown): boolean {
  return (
    err instanceof GitError &&
    /!\s.*\[rejected\].*\((fetch first|non-fast-forward|stale info)\)/.test(err.stderr)
  );
}

/** The server answered the push with a refusal (moved branch or a refusing hook). */
function isRefusedPush(err: GitError): boolean {
  return err.args[0] === 'push' && /\[(remote )?rejected\]/.test(err.stderr);
}

function oneLine(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(To |Done$)/.test(l))
    .join(' | ')
    .slice(0, 1000);
}

/** Credentials in a URL of git's message. */
function redact(s: string): string {
  return s.replace(/\/\/[^/@\s]+@/g, '//[redacted]@');
}

/** The body of a commit: who asked, through what, and the records it names. */
function commitBody(author: Author, edit: ReturnType<ChangeRequest['edit']>): string {
  const name = (r: Raw) =>
    `${String(r.kind)} ${r.tenant ? `${String(r.tenant)}/` : ''}${String(r.name)}`;
  return [
    `Requested-by: ${author.name} <${author.email}>`,
    'Written-by: the fleet service',
    ...(edit.put ?? []).map((r) => `Record: ${name(r)}`),
    ...(edit.remove ?? []).map((r) => `Removed: ${r.kind} ${r.id}`),
  ].join('\n');
}

/** A snapshot of `base` with `files` applied (a dry run's "after"). */
function applied(ctx: PlatformContext, base: StoreSnapshot, files: readonly ChangedFile[]) {
  if (files.length === 0) return base;
  const texts = new Map(base.files.map((f) => [f.path, f.text]));
  for (const f of files) {
    if (f.after === undefined) texts.delete(f.path);
    else texts.set(f.path, f.after);
  }
  const list = [...texts]
    .map(([path, text]) => ({ path, text }))
    .sort((a, b) => a.path.localeCompare(b.path));
  return buildSnapshot(ctx, base.commit, list);
}

// NOTE
// 1. Why a working clone and the git CLI. The records' one writer (platform/fleet/write.ts) edits
//    files in a working tree and commits them with git, keeping the comments and the other
//    documents of each file, so the store gives it a clone rather than re-implementing it over
//    git's objects. Reads never touch the working tree (`git show <commit>:<path>`), so they run
//    beside a write; only writes take the lock. A write that fails anywhere (invalid records,
//    a refusing server, an unreachable one) leaves the clone reset to the remote's head.
