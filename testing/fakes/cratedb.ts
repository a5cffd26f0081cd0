/**
 * A contract fake of CrateDB's `_sql` HTTP endpoint for snapshots: just the statements the
 * backup script (platform/backup/cratedb.py) sends, with the semantics CrateDB's documentation
 * gives them, so the script's SQL, retention and restore logic run for real (python3) here,
 * where CrateDB cannot. Any other statement is a syntax error (4000), so a script that starts
 * sending something new fails its tests until this fake learns it from the documentation.
 *
 * Semantics followed (CrateDB 6.2 reference, sql/statements and admin/snapshots, interfaces/http):
 * - users authenticate with HTTP Basic; snapshot and repository statements need DDL on the
 *   cluster, sys tables DQL on sys (else 4011);
 * - CREATE REPOSITORY ... TYPE fs: the location must be under path.repo; an existing name
 *   is 4095;
 * - CREATE SNAPSHOT repo.name ALL: every user table; an existing name is 4096; an unknown
 *   repository 4047; sys.snapshots lists it with its state and fully qualified tables;
 * - DROP SNAPSHOT: an unknown one is 4048;
 * - RESTORE SNAPSHOT ... TABLE t, ...: a table the snapshot lacks is 4041, a target that exists
 *   4093; table_rename_pattern/replacement rename each restored table (regex over the name);
 * - ALTER CLUSTER SWAP TABLE a TO b WITH (drop_source = true): both must exist (4041); b gets
 *   a's data, a is dropped;
 * - ALTER TABLE a RENAME TO b: a must exist (4041), b must not (4093);
 * - DROP TABLE IF EXISTS.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A user of the fake and what it may do. */
export interface FakeCrateUser {
  readonly password: string;
  /** `CLUSTER:DDL`, `SCHEMA:sys:DQL`, ... */
  readonly privileges: readonly string[];
}

/** One snapshot as the fake keeps it. */
export interface FakeSnapshot {
  state: 'SUCCESS' | 'PARTIAL' | 'FAILED' | 'IN_PROGRESS';
  /** Fully qualified table names → their rows when the snapshot was taken. */
  tables: Map<string, unknown[]>;
}

/** A running fake. */
export interface FakeCrateDb {
  readonly url: string;
  /** Tables by fully qualified name (`schema.table`) → rows. */
  readonly tables: Map<string, unknown[]>;
  /** Repositories by name: location and snapshots by name. */
  readonly repositories: Map<string, { location: string; snapshots: Map<string, FakeSnapshot> }>;
  /** Every statement received, in order. */
  readonly statements: string[];
  /**
   * The next statement matching `pattern` fails with this CrateDB error; with `after`, once it
   * has done its work (a restore that failed on its last shard leaves the tables it restored).
   */
  failNext(pattern: RegExp, code: number, message: string, opts?: { after?: boolean }): void;
  /** The state the next CREATE SNAPSHOT ends in. @default SUCCESS */
  nextSnapshotState(state: FakeSnapshot['state']): void;
  stop(): Promise<void>;
}

class CrateError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const IDENT = '"((?:[^"]|"")+)"';
const FQN = `${IDENT}\\.${IDENT}`;
const unquote = (s: string) => s.replace(/""/g, '"');
const fqn = (schema: string, name: string) => `${unquote(schema)}.${unquote(name)}`;

/** Starts the fake on a free loopback port. */
export async function startFakeCrateDb(opts: {
  readonly users: Readonly<Record<string, FakeCrateUser>>;
  /** CrateDB's path.repo setting. */
  readonly pathRepo: readonly string[];
}): Promise<FakeCrateDb> {
  const tables = new Map<string, unknown[]>();
  const repositories = new Map<
    string,
    { location: string; snapshots: Map<string, FakeSnapshot> }
  >();
  const statements: string[] = [];
  const failures: { pattern: RegExp; code: number; message: string; after?: boolean }[] = [];
  let snapshotState: FakeSnapshot['state'] = 'SUCCESS';

  const need = (user: FakeCrateUser, name: string, privilege: string) => {
    if (!user.privileges.includes(privilege))
      throw new CrateError(4011, `MissingPrivilegeException[Missing privilege for user '${name}']`);
  };
  const repo = (name: string) => {
    const r = repositories.get(name);
    if (!r) throw new CrateError(4047, `RepositoryUnknownException[Repository '${name}' unknown]`);
    return r;
  };
  const snapshotOf = (repoName: string, name: string) => {
    const s = repo(repoName).snapshots.get(name);
    if (!s)
      throw new CrateError(
        4048,
        `SnapshotUnknownException[Snapshot '${repoName}.${name}' unknown]`,
      );
    return s;
  };
  const table = (name: string) => {
    const t = tables.get(name);
    if (!t) throw new CrateError(4041, `RelationUnknown[Relation '${name}' unknown]`);
    return t;
  };
  const mustNotExist = (name: string) => {
    if (tables.has(name))
      throw new CrateError(4093, `RelationAlreadyExists[Relation '${name}' already exists.]`);
  };

  function execute(stmt: string, args: unknown[], userName: string, user: FakeCrateUser): unknown {
    const i = failures.findIndex((f) => f.pattern.test(stmt));
    const failure = i >= 0 ? failures.splice(i, 1)[0] : undefined;
    if (failure && !failure.after) throw new CrateError(failure.code, failure.message);
    const result = run(stmt, args, userName, user);
    if (failure) throw new CrateError(failure.code, failure.message);
    return result;
  }

  function run(stmt: string, args: unknown[], userName: string, user: FakeCrateUser): unknown {
    let m: RegExpExecArray | null;
    const ok = (rowcount = 1) => ({ cols: [], rows: [], rowcount });
    const ddl = () => need(user, userName, 'CLUSTER:DDL');
    if (
      (m = new RegExp(
        `^CREATE REPOSITORY ${IDENT} TYPE fs WITH \\(location = '([^']*)', compress = true\\)$`,
      ).exec(stmt))
    ) {
      ddl();
      const name = unquote(m[1]!);
      if (repositories.has(name))
        throw new CrateError(
          4095,
          `RepositoryAlreadyExistsException[Repository '${name}' already exists]`,
        );
      const location = m[2]!;
      if (!opts.pathRepo.some((p) => location === p || location.startsWith(`${p}/`)))
        throw new CrateError(
          5000,
          `RepositoryException[[${name}] location [${location}] doesn't match any of the locations specified by path.repo]`,
        );
      repositories.set(name, { location, snapshots: new Map() });
      return ok();
    }
    if (stmt === 'SELECT type, settings FROM sys.repositories WHERE name = ?') {
      need(user, userName, 'SCHEMA:sys:DQL');
      const r = repositories.get(String(args[0]));
      return {
        cols: ['type', 'settings'],
        rows: r ? [['fs', { location: r.location, compress: 'true' }]] : [],
        rowcount: r ? 1 : 0,
      };
    }
    if (stmt === 'SELECT name, state, tables FROM sys.snapshots WHERE repository = ?') {
      need(user, userName, 'SCHEMA:sys:DQL');
      const r = repositories.get(String(args[0]));
      const rows = r
        ? [...r.snapshots].map(([name, s]) => [name, s.state, [...s.tables.keys()]])
        : [];
      return { cols: ['name', 'state', 'tables'], rows, rowcount: rows.length };
    }
    if (
      (m = new RegExp(`^CREATE SNAPSHOT ${FQN} ALL WITH \\(wait_for_completion = true\\)$`).exec(
        stmt,
      ))
    ) {
      ddl();
      const r = repo(unquote(m[1]!));
      const name = unquote(m[2]!);
      if (r.snapshots.has(name))
        throw new CrateError(
          4096,
          `SnapshotAlreadyExistsException[Snapshot '${name}' already exists]`,
        );
      r.snapshots.set(name, {
        state: snapshotState,
        tables: new Map([...tables].map(([t, rows]) => [t, structuredClone(rows)])),
      });
      snapshotState = 'SUCCESS';
      return ok();
    }
    if ((m = new RegExp(`^DROP SNAPSHOT ${FQN}$`).exec(stmt))) {
      ddl();
      snapshotOf(unquote(m[1]!), unquote(m[2]!));
      repo(unquote(m[1]!)).snapshots.delete(unquote(m[2]!));
      return ok();
    }
    if ((m = new RegExp(`^DROP TABLE IF EXISTS ${FQN}$`).exec(stmt))) {
      ddl();
      return ok(tables.delete(fqn(m[1]!, m[2]!)) ? 1 : 0);
    }
    if (
      (m = new RegExp(
        `^RESTORE SNAPSHOT ${FQN} TABLE ((?:${FQN}(?:, )?)+) WITH \\(wait_for_completion = true, table_rename_pattern = '([^']*)', table_rename_replacement = '([^']*)'\\)$`,
      ).exec(stmt))
    ) {
      ddl();
      const snap = snapshotOf(unquote(m[1]!), unquote(m[2]!));
      const pattern = new RegExp(`^${m[m.length - 2]!}$`);
      const replacement = m[m.length - 1]!;
      const wanted = [...m[3]!.matchAll(new RegExp(FQN, 'g'))].map((x) => fqn(x[1]!, x[2]!));
      const plan = wanted.map((t) => {
        const rows = snap.tables.get(t);
        if (!rows) throw new CrateError(4041, `RelationUnknown[Relation '${t}' unknown]`);
        const [schema, name] = [t.slice(0, t.indexOf('.')), t.slice(t.indexOf('.') + 1)];
        const target = `${schema}.${name.replace(pattern, replacement)}`;
        mustNotExist(target);
        return { target, rows };
      });
      for (const p of plan) tables.set(p.target, structuredClone(p.rows));
      return ok(plan.length);
    }
    if (
      (m = new RegExp(
        `^ALTER CLUSTER SWAP TABLE ${FQN} TO ${FQN} WITH \\(drop_source = true\\)$`,
      ).exec(stmt))
    ) {
      ddl();
      const source = fqn(m[1]!, m[2]!);
      const target = fqn(m[3]!, m[4]!);
      const rows = table(source);
      table(target);
      tables.set(target, rows);
      tables.delete(source);
      return ok();
    }
    if ((m = new RegExp(`^ALTER TABLE ${FQN} RENAME TO ${FQN}$`).exec(stmt))) {
      ddl();
      const source = fqn(m[1]!, m[2]!);
      const target = fqn(m[3]!, m[4]!);
      const rows = table(source);
      if (source.split('.')[0] !== target.split('.')[0])
        throw new CrateError(4004, 'a table cannot be renamed into another schema');
      mustNotExist(target);
      tables.set(target, rows);
      tables.delete(source);
      return ok();
    }
    throw new CrateError(4000, `SQLParseException[statement the fake does not know: ${stmt}]`);
  }

  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const send = (status: number, doc: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc));
      };
      const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      const [name, password] = auth
        ? Buffer.from(auth[1]!, 'base64').toString().split(/:(.*)/s)
        : [];
      const user = name !== undefined ? opts.users[name] : undefined;
      if (req.method !== 'POST' || req.url !== '/_sql') return send(404, {});
      if (!user || user.password !== password)
        return send(401, {
          error: { message: `password authentication failed for user "${name}"`, code: 4010 },
        });
      try {
        const { stmt, args } = JSON.parse(body) as { stmt: string; args?: unknown[] };
        statements.push(stmt);
        send(200, execute(stmt, args ?? [], name!, user));
      } catch (err) {
        if (err instanceof CrateError)
          return send(err.status, { error: { message: err.message, code: err.code } });
        send(500, { error: { message: String(err), code: 5000 } });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tables,
    repositories,
    statements,
    failNext: (pattern, code, message, o = {}) => failures.push({ pattern, code, message, ...o }),
    nextSnapshotState: (state) => (snapshotState = state),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
