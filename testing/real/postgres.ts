/**
 * Test support: a real PostgreSQL (Debian's, toolchain/tools.ts ensurePostgres) on a free
 * loopback port, in a temporary directory, with a database and its owner set up the way the
 * postgres image sets up Keycloak's (POSTGRES_USER is a superuser owning POSTGRES_DB) and
 * password authentication over TCP.
 *
 * PostgreSQL refuses to run as root: as root (CI), the server runs as `nobody`.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { randomPassword } from '../../platform/bootstrap-secrets.js';
import { ensurePostgres } from '../../toolchain/tools.js';
import { freePort } from './opa.js';
import { tailFile, terminate, waitFor } from '../support/processes.js';

/** A running PostgreSQL. */
export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** Debian's PostgreSQL major version, e.g. 15. */
  readonly major: number;
  /** Where pg_dump, pg_restore and psql are. */
  readonly binDir: string;
  /** libpq's environment for the database and user (PGHOST ... PGPASSWORD). */
  readonly env: Readonly<Record<string, string>>;
  /** Runs SQL with psql as the user, returns its unaligned output; throws on an error. */
  psql(sql: string): string;
  /** Stops the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** uid and gid of `nobody` when the tests run as root, so PostgreSQL agrees to start. */
const RUN_AS = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

/** Starts a PostgreSQL with `database` owned by `user`, and waits until it accepts logins. */
export async function startPostgres(
  opts: { database?: string; user?: string; timeoutMs?: number } = {},
): Promise<PostgresServer> {
  const { major, binDir } = ensurePostgres();
  const database = opts.database ?? 'keycloak';
  const user = opts.user ?? 'keycloak';
  const password = randomPassword();
  const dir = mkdtempSync(join(tmpdir(), 'postgres-test-'));
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  chmodSync(dir, 0o700);
  if (RUN_AS.uid !== undefined) {
    chownSync(dir, RUN_AS.uid, RUN_AS.gid!);
    chownSync(pwfile, RUN_AS.uid, RUN_AS.gid!);
  }
  const init = spawnSync(
    join(binDir, 'initdb'),
    [
      '-D',
      data,
      '-U',
      user,
      `--pwfile=${pwfile}`,
      '--auth=scram-sha-256',
      '-E',
      'UTF8',
      '--no-sync',
    ],
    { cwd: dir, encoding: 'utf8', ...RUN_AS },
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error?.message}`);
  const port = await freePort();
  const log = join(dir, 'postgres.log');
  const proc: ChildProcess = spawn(
    join(binDir, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dir}`,
      '-c',
      'fsync=off',
      '-c',
      `log_destination=stderr`,
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], ...RUN_AS },
  );
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const env = {
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGUSER: user,
    PGDATABASE: database,
    PGPASSWORD: password,
  };
  const run = (sql: string, db = database) => {
    const r = spawnSync(
      join(binDir, 'psql'),
      ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql],
      { encoding: 'utf8', env: { ...env, PATH: process.env.PATH ?? '' } },
    );
    if (r.status !== 0) throw new Error(`psql failed (${r.status}): ${r.stderr}`);
    return r.stdout.trim();
  };
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error('exited');
      return (
        spawnSync(join(binDir, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]).status === 0
      );
    },
    opts.timeoutMs ?? 30_000,
    () =>
      new Error(`PostgreSQL did not start (exit ${proc.exitCode}): ${stderr}${tailFile(log, 20)}`),
  );
  // The image's first start: POSTGRES_DB created, owned by POSTGRES_USER.
  run(`CREATE DATABASE ${database} OWNER ${user}`, 'postgres');
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    database,
    user,
    password,
    major,
    binDir,
    env,
    psql: (sql) => run(sql),
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate(proc, { signal: 'SIGINT' }); // SIGINT: postgres's fast shutdown
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
