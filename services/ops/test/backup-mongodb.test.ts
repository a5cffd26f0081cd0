/**
 * MongoDB backup and restore: the script of the backup-mongodb CronJob
 * (platform/backup/mongodb.sh), run with the CronJob's command and environment against a real
 * MongoDB-compatible server, FerretDB (the cluster runs mongo:8.0; FerretDB speaks its wire
 * protocol), with mongodump and mongorestore of the MongoDB Database Tools built from the Go
 * module proxy (the mongo image ships its own 100.x of the same tools).
 *
 * The data is shaped like what the platform keeps there: Orion's entities and subscriptions
 * in one database per tenant, and each IoT Agent's groups and devices in its registry database,
 * with the secondary indexes Orion and the agents create (FerretDB needs a relay for their
 * restore: testing/real/ferretdb.ts, NOTE 1).
 */
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import type { MongoClient } from 'mongodb';

import { BACKUP_NAME } from '../../../platform/backup.js';
import { COMPONENTS } from '../../../platform/components.js';
import type { FerretDbServer } from '../../../testing/real/ferretdb.js';
import { startFerretDb } from '../../../testing/real/ferretdb.js';
import { resultFile, runBackupScript } from '../../../testing/support/backup.js';
import { ensureMongoTools } from '../../../toolchain/tools.js';

const UL = COMPONENTS.iotAgentUl.iotAgent.registry.database;
const JSON_AGENT = COMPONENTS.iotAgentJson.iotAgent.registry.database;
const SEEDED = [
  ['orion-manufracture', 'entities'],
  ['orion-manufracture', 'csubs'],
  ['orion-smithereens', 'entities'],
  [UL, 'groups'],
  [UL, 'devices'],
  [JSON_AGENT, 'devices'],
] as const;

let mongo: FerretDbServer;
let client: MongoClient;
let tools: string;
let dir: string;
let backups: string;

const local = (keep = 7, password = mongo.password) => ({
  MONGODB_URI: mongo.uriWithoutPassword,
  MONGODB_PASSWORD: password,
  BACKUP_DIR: backups,
  BACKUP_KEEP: String(keep),
  BACKUP_RESULT: resultFile(dir),
});
const run = (action: 'backup' | 'restore' | 'list', name?: string, keep?: number) =>
  runBackupScript('mongodb', action, {
    local: local(keep),
    path: [tools],
    ...(name ? { name } : {}),
  });
const files = () => readdirSync(backups).sort();
const coll = (db: string, c: string) => client.db(db).collection<Record<string, any>>(c);

async function seed() {
  const at = new Date('2026-11-30T08:00:00Z');
  await coll('orion-manufracture', 'entities').insertMany([
    {
      _id: { id: 'urn:ngsi-ld:Machine:press1', type: 'Machine', servicePath: '/' } as any,
      attrNames: ['temperature', 'status'],
      attrs: {
        temperature: { type: 'Number', value: 21.5, mdNames: [], creDate: 1, modDate: 2 },
        status: { type: 'Text', value: 'running', mdNames: [] },
      },
      creDate: 1764489600,
      modDate: 1764489700,
      lastCorrelator: 'c-1',
    },
    {
      _id: { id: 'urn:ngsi-ld:Machine:lathe2', type: 'Machine', servicePath: '/floor1' } as any,
      attrNames: ['temperature'],
      attrs: { temperature: { type: 'Number', value: 19, mdNames: [] } },
      creDate: 1764489600,
      modDate: 1764489600,
    },
  ]);
  await coll('orion-manufracture', 'csubs').insertOne({
    expiration: 9223372036854,
    reference: 'http://quantumleap.fiware.svc.cluster.local:8668/v2/notify',
    entities: [{ id: '.*', type: 'Machine', isPattern: 'true' }],
    attrs: [],
    throttling: 0,
    servicePath: '/#',
    status: 'active',
    format: 'normalized',
  });
  await coll('orion-smithereens', 'entities').insertOne({
    _id: { id: 'urn:ngsi-ld:Robot:1', type: 'Robot', servicePath: '/' } as any,
    attrNames: ['battery'],
    attrs: { battery: { type: 'Number', value: 87, mdNames: [] } },
  });
  await coll(UL, 'groups').insertOne({
    resource: '/iot/d',
    apikey: 'k3y-manufracture',
    entity_type: 'Machine',
    service: 'manufracture',
    subservice: '/',
    protocol: 'IoTA-UL',
    creationDate: at,
  });
  await coll(UL, 'devices').insertMany([
    {
      id: 'press1',
      type: 'Machine',
      name: 'urn:ngsi-ld:Machine:press1',
      service: 'manufracture',
      subservice: '/',
      protocol: 'IoTA-UL',
      apikey: 'k3y-manufracture',
      creationDate: at,
    },
    {
      id: 'lathe2',
      type: 'Machine',
      name: 'urn:ngsi-ld:Machine:lathe2',
      service: 'manufracture',
      subservice: '/floor1',
      protocol: 'IoTA-UL',
      apikey: 'k3y-manufracture',
      creationDate: at,
    },
  ]);
  // The indexes Orion and the agents' registries create, which a restore must bring back too.
  await coll('orion-manufracture', 'entities').createIndex({
    '_id.servicePath': 1,
    '_id.id': 1,
    '_id.type': 1,
  });
  await coll('orion-manufracture', 'entities').createIndex({ creDate: 1 });
  await coll(UL, 'devices').createIndex({ id: 1, service: 1, subservice: 1 }, { unique: true });
  await coll(JSON_AGENT, 'devices').insertOne({
    id: 'robot1',
    type: 'Robot',
    name: 'urn:ngsi-ld:Robot:1',
    service: 'smithereens',
    subservice: '/',
    protocol: 'IoTA-JSON',
    creationDate: at,
  });
}

/** Every document and index of the seeded collections, comparable. */
async function state(): Promise<string> {
  const parts: string[] = [];
  for (const [db, c] of SEEDED) {
    const docs = await coll(db, c).find({}).toArray();
    const exists = (await client.db(db).listCollections({ name: c }).toArray()).length > 0;
    const indexes = exists
      ? (await coll(db, c).indexes()).map(
          (ix) => `${ix.name}${ix.unique ? ' unique' : ''} ${JSON.stringify(ix.key)}`,
        )
      : ['(no collection)'];
    parts.push(
      `${db}.${c}: ${docs
        .map((d) => JSON.stringify(d))
        .sort()
        .join(' | ')}; indexes: ${indexes.sort().join(', ')}`,
    );
  }
  return parts.join('\n');
}

beforeAll(async () => {
  tools = ensureMongoTools();
  mongo = await startFerretDb();
  client = await mongo.client();
  await seed();
}, 180_000);

afterAll(async () => {
  await client?.close();
  await mongo?.stop();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'backup-mongodb-'));
  backups = join(dir, 'backup');
  mkdirSync(backups);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('backup-mongodb', () => {
  it("backs up every database with mongodump, and a restore brings back Orion's and the agents' data", async () => {
    const before = await state();
    const made = await run('backup');
    expect(made.stderr).not.toContain('error:');
    expect(made.code).toBe(0);
    const name = made.result!.name!;
    expect(name).toMatch(BACKUP_NAME);
    expect(name).toMatch(/^mongodb-\d{8}-\d{6}\.archive\.gz$/);
    expect(made.result).toMatchObject({
      target: 'mongodb',
      action: 'backup',
      kept: [name],
      removed: [],
    });
    expect(made.result!.bytes).toBe(statSync(join(backups, name)).size);
    // Every database went into the one archive.
    for (const db of ['orion-manufracture', 'orion-smithereens', UL, JSON_AGENT])
      expect(made.stderr).toContain(`done dumping ${db}.`);

    // A bad day: an entity deleted, an attribute overwritten, a subscription added, the
    // agent's devices dropped, a whole tenant database dropped.
    await coll('orion-manufracture', 'entities').deleteOne({
      '_id.id': 'urn:ngsi-ld:Machine:lathe2',
    });
    await coll('orion-manufracture', 'entities').updateOne(
      { '_id.id': 'urn:ngsi-ld:Machine:press1' },
      { $set: { 'attrs.temperature.value': 99 } },
    );
    await coll('orion-manufracture', 'csubs').insertOne({ reference: 'http://evil.example/' });
    await coll(UL, 'devices').drop();
    await coll('orion-manufracture', 'entities').dropIndex('creDate_1');
    await client.db('orion-smithereens').dropDatabase();
    await coll('orion-manufracture', 'added_later').insertOne({ kept: true });
    expect(await state()).not.toBe(before);

    const restored = await run('restore', name);
    expect(restored.stderr).not.toContain('error:');
    expect(restored.code).toBe(0);
    expect(restored.result).toEqual({ target: 'mongodb', action: 'restore', name });
    expect(await state()).toBe(before);
    expect(before).toContain('id_1_service_1_subservice_1 unique');
    expect(before).toContain('creDate_1 {"creDate":1}');
    // A collection the backup does not hold is kept; the users are not restored (the Secret
    // decides their passwords), and the current root password still logs in.
    expect(await coll('orion-manufracture', 'added_later').countDocuments()).toBe(1);
    expect(restored.stderr).not.toContain('admin.system.users');
    await coll('orion-manufracture', 'added_later').drop();
  }, 180_000);

  it('keeps the newest BACKUP_KEEP backups and removes a killed run’s partial file', async () => {
    const first = (await run('backup')).result!.name!;
    copyFileSync(join(backups, first), join(backups, 'mongodb-20240101-000000.archive.gz'));
    copyFileSync(join(backups, first), join(backups, 'mongodb-20250101-000000.archive.gz'));
    writeFileSync(join(backups, '.mongodb-20250102-000000.archive.gz.partial'), 'half');
    writeFileSync(join(backups, 'notes.txt'), 'operator notes');
    await waitForNextSecond(first);
    const made = await run('backup', undefined, 2);
    expect(made.code).toBe(0);
    const name = made.result!.name!;
    expect(made.result!.kept).toEqual([name, first]);
    expect(made.result!.removed).toEqual([
      'mongodb-20250101-000000.archive.gz',
      'mongodb-20240101-000000.archive.gz',
    ]);
    expect(files()).toEqual([first, name, 'notes.txt'].sort());
    expect((await run('list')).result).toEqual({
      target: 'mongodb',
      action: 'list',
      kept: [name, first],
    });
  }, 180_000);

  describe('fails clearly and changes nothing', () => {
    const changed = async () => {
      await coll(UL, 'devices').updateOne({ id: 'press1' }, { $set: { name: 'changed-since' } });
      return state();
    };
    const undo = () =>
      coll(UL, 'devices').updateOne(
        { id: 'press1' },
        { $set: { name: 'urn:ngsi-ld:Machine:press1' } },
      );

    it('when the named backup does not exist', async () => {
      const name = (await run('backup')).result!.name!;
      const before = await changed();
      const r = await run('restore', 'mongodb-20990101-000000.archive.gz');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `there is no backup named 'mongodb-20990101-000000.archive.gz' in ${backups} (there are: ${name} ); nothing was changed`,
      );
      expect(await state()).toBe(before);
      await undo();
    }, 60_000);

    it('when the archive is cut short (gzip finds it incomplete)', async () => {
      const name = (await run('backup')).result!.name!;
      truncateSync(join(backups, name), Math.floor(statSync(join(backups, name)).size / 2));
      const before = await changed();
      const r = await run('restore', 'latest');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `${name} is damaged (not a complete gzip archive); nothing was changed`,
      );
      expect(await state()).toBe(before);
      await undo();
    }, 60_000);

    it('when the file is a sound gzip of something that is not a mongodump archive', async () => {
      writeFileSync(
        join(backups, 'mongodb-20990101-000000.archive.gz'),
        gzipSync(Buffer.from('not an archive '.repeat(100))),
      );
      const before = await changed();
      const r = await run('restore', 'mongodb-20990101-000000.archive.gz');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('does not appear to be a mongodump archive');
      expect(r.stderr).toContain(
        'mongorestore cannot read mongodb-20990101-000000.archive.gz; nothing was changed',
      );
      expect(await state()).toBe(before);
      await undo();
    }, 60_000);

    it('when the password is wrong: no backup is made', async () => {
      const r = await runBackupScript('mongodb', 'backup', {
        local: local(7, 'wrong-password-wrong-password'),
        path: [tools],
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('Authentication failed');
      expect(r.result).toBeUndefined();
      expect(files().filter((f) => !f.startsWith('.'))).toEqual([]);
    }, 60_000);
  });
});

/** Waits until the UTC second differs from the one in a backup's name (names are per second). */
async function waitForNextSecond(name: string): Promise<void> {
  const stamp = /(\d{8}-\d{6})/.exec(name)![1]!;
  const now = () => new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  while (now() <= stamp) await new Promise((r) => setTimeout(r, 50));
}
