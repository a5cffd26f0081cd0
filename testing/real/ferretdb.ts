/**
 * Test support: a real MongoDB-compatible server, FerretDB (toolchain/tools.ts ensureFerretDb,
 * built from the Go module proxy) with its embedded SQLite backend, on a free loopback port,
 * with SCRAM authentication and a root user made the way the mongo image makes its
 * MONGO_INITDB_ROOT_USERNAME. The platform runs MongoDB 8.0; FerretDB speaks its wire protocol
 * and answers mongodump and mongorestore, which is what the backup tests need of it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { MongoClient } from 'mongodb';

import { randomPassword } from '../../platform/bootstrap-secrets.js';
import { ensureFerretDb } from '../../toolchain/tools.js';
import { freePort } from './opa.js';
import { waitFor } from '../support/processes.js';

/** A running FerretDB. */
export interface FerretDbServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** `mongodb://<user>@127.0.0.1:<port>/?authSource=admin`: the password goes separately. */
  readonly uriWithoutPassword: string;
  /** A connected driver client, as the root user. */
  client(): Promise<MongoClient>;
  /** Stops the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Starts FerretDB with a root user and waits until it accepts that user's logins. */
export async function startFerretDb(opts: { timeoutMs?: number } = {}): Promise<FerretDbServer> {
  const bin = ensureFerretDb();
  const dir = mkdtempSync(join(tmpdir(), 'ferretdb-test-'));
  const user = 'root';
  const password = randomPassword();
  const port = await freePort();
  const proc: ChildProcess = spawn(
    bin,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${dir}/`,
      `--state-dir=${dir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=warn',
      // SCRAM users (FerretDB 1.x's "new authentication"), one made at start like the image's root.
      '--test-enable-new-auth',
      '--setup-database=admin',
      `--setup-username=${user}`,
    ],
    {
      cwd: dir,
      // The password in the environment, never on the command line.
      env: { PATH: process.env.PATH ?? '', FERRETDB_SETUP_PASSWORD: password },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const uriWithoutPassword = `mongodb://${user}@127.0.0.1:${port}/?authSource=admin`;
  const uri = `mongodb://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/?authSource=admin`;
  const client = async () => {
    const c = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
    await c.connect();
    return c;
  };
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error('exited');
      await new Promise<void>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => (s.end(), resolve()));
        s.on('error', reject);
      });
      const c = await client();
      await c.db('admin').command({ ping: 1 });
      await c.close();
      return true;
    },
    opts.timeoutMs ?? 30_000,
    () => new Error(`FerretDB did not start (exit ${proc.exitCode}): ${stderr}`),
    200,
  );
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    uriWithoutPassword,
    client,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
