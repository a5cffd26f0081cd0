/**
 * Test support: a real MongoDB-compatible server, FerretDB (toolchain/tools.ts ensureFerretDb,
 * built from the Go module proxy) with its embedded SQLite backend, on a free loopback port,
 * with SCRAM authentication and a root user made the way the mongo image makes its
 * MONGO_INITDB_ROOT_USERNAME. The platform runs MongoDB 8.0; FerretDB speaks its wire protocol
 * and answers mongodump and mongorestore, which is what the backup tests need of it.
 *
 * Clients reach it through a small relay that gives FerretDB 1.24 the one MongoDB behaviour it
 * lacks and mongorestore relies on. NOTE (1)
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BSON, MongoClient } from 'mongodb';

import { randomPassword } from '../../platform/bootstrap-secrets.js';
import { ensureFerretDb } from '../../toolchain/tools.js';
import { freePort } from './opa.js';
import { terminate, waitFor } from '../support/processes.js';

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
  const ferretPort = await freePort();
  const proc: ChildProcess = spawn(
    bin,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${dir}/`,
      `--state-dir=${dir}`,
      `--listen-addr=127.0.0.1:${ferretPort}`,
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
  const relay = await startRelay(ferretPort);
  const port = (relay.address() as { port: number }).port;
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
      await new Promise((r) => relay.close(r));
      await terminate(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** MongoDB's createIndexes options (the ones a server of 4.4 or later knows). */
const INDEX_OPTIONS = new Set([
  'key',
  'name',
  'v',
  'unique',
  'sparse',
  'background',
  'partialFilterExpression',
  'expireAfterSeconds',
  'hidden',
  'storageEngine',
  'collation',
  'weights',
  'default_language',
  'language_override',
  'textIndexVersion',
  '2dsphereIndexVersion',
  'bits',
  'min',
  'max',
  'wildcardProjection',
]);

/** OP_MSG, the wire protocol's message of every command since MongoDB 3.6. */
const OP_MSG = 2013;

/**
 * Rewrites one client message: a createIndexes with `ignoreUnknownIndexOptions: true` loses
 * the index options MongoDB would ignore, as MongoDB does; everything else passes unchanged.
 */
export function withoutUnknownIndexOptions(message: Buffer): Buffer {
  if (message.readInt32LE(12) !== OP_MSG) return message;
  const flags = message.readUInt32LE(16);
  // Only a body section (kind 0) right after the flags; a checksum would need recomputing.
  if (flags & 1 || message[20] !== 0) return message;
  const bodyLength = message.readInt32LE(21);
  const body = BSON.deserialize(message.subarray(21, 21 + bodyLength));
  if (!('createIndexes' in body) || body.ignoreUnknownIndexOptions !== true) return message;
  body.indexes = (body.indexes as Record<string, unknown>[]).map((ix) =>
    Object.fromEntries(Object.entries(ix).filter(([k]) => INDEX_OPTIONS.has(k))),
  );
  delete body.ignoreUnknownIndexOptions;
  const rewritten = Buffer.from(BSON.serialize(body));
  const out = Buffer.concat([
    message.subarray(0, 21),
    rewritten,
    message.subarray(21 + bodyLength),
  ]);
  out.writeInt32LE(out.length, 0);
  return out;
}

/** A TCP relay to FerretDB on a free loopback port that rewrites client messages. */
async function startRelay(target: number): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
        const length = pending.readInt32LE(0);
        upstream.write(withoutUnknownIndexOptions(pending.subarray(0, length)));
        pending = pending.subarray(length);
      }
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  const close = server.close.bind(server);
  server.close = (cb) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

// NOTE
// 1. The relay. mongorestore sends each collection's indexes with `ns` among their options and
//    `ignoreUnknownIndexOptions: true` (servers from 4.1.9 ignore options they do not know;
//    `ns` is one since 4.4). FerretDB 1.24 honours neither and refuses: "Index option "ns" is
//    unknown" (FerretDB issue 4638, seen with v1.24.0 and, here, v1.24.2), so without the relay
//    no collection with a secondary index restores. The relay does what MongoDB does with that
//    flag, for that command only: drops the options MongoDB does not know, then forwards. The
//    data, the dump and every other command pass unchanged.
