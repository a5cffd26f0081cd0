/**
 * CrateDB backup and restore: the script of the backup-cratedb CronJob
 * (platform/backup/cratedb.py), run for real (python3) with the CronJob's command and
 * environment, against a contract fake of CrateDB's `_sql` endpoint that follows CrateDB's
 * documented snapshot semantics (testing/fakes/cratedb.ts). CrateDB itself cannot run here
 * (no JVM image or package of it is reachable); what this proves is the script's SQL sequence,
 * its retention and its restore-beside-then-swap logic.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CRATEDB_REPOSITORY } from '../../../platform/backup.js';
import type { FakeCrateDb } from '../../../testing/fakes/cratedb.js';
import { startFakeCrateDb } from '../../../testing/fakes/cratedb.js';
import { backupContainer, resultFile, runBackupScript } from '../../../testing/support/backup.js';

const PASSWORD = 'backup-password-for-this-test';
let crate: FakeCrateDb;
let dir: string;

/** The CronJob's environment, with the fake's URL and a password of this test. */
const local = (keep = 7, extra: Record<string, string> = {}) => ({
  CRATE_URL: crate.url,
  CRATE_PASSWORD: PASSWORD,
  BACKUP_KEEP: String(keep),
  BACKUP_RESULT: resultFile(dir),
  ...extra,
});
const run = (action: 'backup' | 'restore' | 'list', name?: string, keep?: number) =>
  runBackupScript('cratedb', action, { local: local(keep), path: [], ...(name ? { name } : {}) });

const env = Object.fromEntries(
  (backupContainer('cratedb').env as { name: string; value?: string }[]).map((e) => [
    e.name,
    e.value,
  ]),
);
const USER = env.CRATE_USER!;
const REPO = env.CRATE_REPOSITORY!;

/** QuantumLeap's tables of two tenants, one row per reading. */
function seed() {
  crate.tables.clear();
  crate.tables.set('mtmanufracture.etmachine', [{ entity_id: 'press1', temperature: 21.5 }]);
  crate.tables.set('mtmanufracture.etsensor', [{ entity_id: 's1', humidity: 40 }]);
  crate.tables.set('mtsmithereens.etrobot', [{ entity_id: 'robot1', battery: 87 }]);
  crate.tables.set('doc.md_ets_metadata', [{ table_name: 'etmachine' }]);
}
const tables = () => JSON.stringify([...crate.tables].sort(([a], [b]) => a.localeCompare(b)));
const snapshots = () => [...(crate.repositories.get(REPO)?.snapshots.keys() ?? [])].sort();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'backup-cratedb-'));
  crate = await startFakeCrateDb({
    users: { [USER]: { password: PASSWORD, privileges: ['CLUSTER:DDL', 'SCHEMA:sys:DQL'] } },
    pathRepo: [CRATEDB_REPOSITORY.path],
  });
  seed();
});

afterEach(async () => {
  await crate.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('backup-cratedb', () => {
  it('creates the fs repository at path.repo once, then snapshots every table', async () => {
    const made = await run('backup');
    expect(made.stderr).not.toContain('error:');
    expect(made.code).toBe(0);
    const name = made.result!.name!;
    expect(name).toMatch(/^cratedb-\d{8}-\d{6}$/);
    expect(made.result).toMatchObject({
      target: 'cratedb',
      action: 'backup',
      tables: 4,
      kept: [name],
      removed: [],
    });
    expect(crate.repositories.get(REPO)!.location).toBe(CRATEDB_REPOSITORY.path);
    expect(crate.statements).toEqual([
      `CREATE REPOSITORY "${REPO}" TYPE fs WITH (location = '${CRATEDB_REPOSITORY.path}', compress = true)`,
      'SELECT type, settings FROM sys.repositories WHERE name = ?',
      'SELECT name, state, tables FROM sys.snapshots WHERE repository = ?',
      `CREATE SNAPSHOT "${REPO}"."${name}" ALL WITH (wait_for_completion = true)`,
      'SELECT name, state, tables FROM sys.snapshots WHERE repository = ?',
      'SELECT name, state, tables FROM sys.snapshots WHERE repository = ?',
      'SELECT name, state, tables FROM sys.snapshots WHERE repository = ?',
    ]);
    // The second run finds the repository (4095) and goes on.
    await waitForNextSecond(name);
    expect((await run('backup')).code).toBe(0);
    expect(snapshots()).toHaveLength(2);
  });

  it('keeps the newest BACKUP_KEEP successful snapshots, drops older and failed ones, never one in progress', async () => {
    await run('backup');
    const repo = crate.repositories.get(REPO)!;
    const old = (state: 'SUCCESS' | 'FAILED' | 'PARTIAL' | 'IN_PROGRESS') => ({
      state,
      tables: new Map(),
    });
    repo.snapshots.set('cratedb-20240101-000000', old('SUCCESS'));
    repo.snapshots.set('cratedb-20250101-000000', old('SUCCESS'));
    repo.snapshots.set('cratedb-20250601-000000', old('FAILED'));
    repo.snapshots.set('cratedb-20250701-000000', old('IN_PROGRESS'));
    // Someone else's snapshot in the same repository is not ours to drop.
    repo.snapshots.set('before-upgrade', old('SUCCESS'));
    const first = snapshots().find((s) => s > 'cratedb-2026')!;
    await waitForNextSecond(first);
    const made = await run('backup', undefined, 2);
    expect(made.code).toBe(0);
    const name = made.result!.name!;
    expect(made.result!.kept).toEqual([name, first]);
    expect(made.result!.removed).toEqual([
      'cratedb-20250601-000000',
      'cratedb-20250101-000000',
      'cratedb-20240101-000000',
    ]);
    expect(snapshots()).toEqual(['before-upgrade', 'cratedb-20250701-000000', first, name].sort());
    expect((await run('list')).result).toEqual({
      target: 'cratedb',
      action: 'list',
      kept: [name, first],
    });
  });

  it('fails when the snapshot is PARTIAL, and drops nothing', async () => {
    await run('backup');
    const before = snapshots();
    crate.nextSnapshotState('PARTIAL');
    await waitForNextSecond(before[0]!);
    const r = await run('backup', undefined, 1);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /error: snapshot cratedb-\d{8}-\d{6} ended PARTIAL, not SUCCESS; the older snapshots are kept/,
    );
    expect(r.result).toBeUndefined();
    expect(snapshots()).toEqual(expect.arrayContaining(before));
    expect(crate.statements.filter((s) => s.startsWith('DROP SNAPSHOT'))).toEqual([]);
  });

  it('restores beside the live tables, swaps them in, brings back a dropped table and keeps a new one', async () => {
    const name = (await run('backup')).result!.name!;
    const before = tables();
    crate.tables.get('mtmanufracture.etmachine')!.push({ entity_id: 'press1', temperature: 99 });
    crate.tables.delete('mtsmithereens.etrobot');
    crate.tables.set('mtmanufracture.etnew', [{ entity_id: 'n1' }]);
    crate.statements.length = 0;

    const restored = await run('restore', name);
    expect(restored.stderr).not.toContain('error:');
    expect(restored.code).toBe(0);
    const all = [
      'doc.md_ets_metadata',
      'mtmanufracture.etmachine',
      'mtmanufracture.etsensor',
      'mtsmithereens.etrobot',
    ];
    expect(restored.result).toEqual({ target: 'cratedb', action: 'restore', name, tables: all });
    const { etnew, ...rest } = Object.fromEntries(
      [...crate.tables].map(([k, v]) => [k === 'mtmanufracture.etnew' ? 'etnew' : k, v]),
    );
    expect(etnew).toEqual([{ entity_id: 'n1' }]);
    expect(JSON.stringify(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b)))).toBe(
      before,
    );
    expect([...crate.tables.keys()].some((t) => t.includes('restoring_'))).toBe(false);
    // The order that keeps the live tables until every restored one is there.
    expect(crate.statements.findIndex((s) => s.startsWith('RESTORE SNAPSHOT'))).toBeLessThan(
      crate.statements.findIndex((s) => s.startsWith('ALTER CLUSTER SWAP TABLE')),
    );
    expect(crate.statements).toContain(
      `RESTORE SNAPSHOT "${REPO}"."${name}" TABLE ${all
        .map((t) =>
          t
            .split('.')
            .map((p) => `"${p}"`)
            .join('.'),
        )
        .join(
          ', ',
        )} WITH (wait_for_completion = true, table_rename_pattern = '(.+)', table_rename_replacement = 'restoring_$1')`,
    );
    expect(crate.statements).toContain(
      'ALTER TABLE "mtsmithereens"."restoring_etrobot" RENAME TO "mtsmithereens"."etrobot"',
    );
    expect(crate.statements).toContain(
      'ALTER CLUSTER SWAP TABLE "mtmanufracture"."restoring_etmachine" TO "mtmanufracture"."etmachine" WITH (drop_source = true)',
    );
  });

  describe('fails clearly and changes nothing', () => {
    it('when the restore itself fails: the staged tables are dropped, the live ones untouched', async () => {
      const name = (await run('backup')).result!.name!;
      crate.tables.get('mtmanufracture.etmachine')!.push({ entity_id: 'press1', temperature: 99 });
      const before = tables();
      // It fails after restoring some tables: those are staged copies, and are dropped.
      crate.failNext(/^RESTORE SNAPSHOT/, 5000, 'SnapshotRestoreException[shard failure]', {
        after: true,
      });
      const r = await run('restore', 'latest');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('SnapshotRestoreException[shard failure]');
      expect(tables()).toBe(before);
      expect(crate.statements.filter((s) => s.startsWith('ALTER'))).toEqual([]);
      expect(crate.statements.filter((s) => s.startsWith('DROP TABLE IF EXISTS')).length).toBe(8);
      expect(name).toMatch(/^cratedb-/);
    });

    it('when the named snapshot does not exist, or did not succeed', async () => {
      const name = (await run('backup')).result!.name!;
      crate.repositories
        .get(REPO)!
        .snapshots.set('cratedb-20250601-000000', { state: 'PARTIAL', tables: new Map() });
      const before = tables();
      for (const wanted of ['cratedb-20990101-000000', 'cratedb-20250601-000000']) {
        crate.statements.length = 0;
        const r = await run('restore', wanted);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(
          `there is no successful snapshot named '${wanted}' (there are: ${name}); nothing was changed`,
        );
        expect(crate.statements.every((s) => s.startsWith('SELECT'))).toBe(true);
      }
      expect(tables()).toBe(before);
    });

    it('when there is no snapshot yet', async () => {
      const r = await run('restore', 'latest');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `there is no successful snapshot in repository ${REPO} yet; nothing was changed`,
      );
    });

    it('when the repository points somewhere else than path.repo', async () => {
      crate.repositories.set(REPO, { location: '/backup/elsewhere', snapshots: new Map() });
      const r = await run('backup');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `repository ${REPO} is not the fs repository at ${CRATEDB_REPOSITORY.path}`,
      );
      expect(snapshots()).toEqual([]);
    });

    it('when the user lacks DDL on the cluster (4011), or the password is wrong', async () => {
      await crate.stop();
      crate = await startFakeCrateDb({
        users: { [USER]: { password: PASSWORD, privileges: ['SCHEMA:sys:DQL'] } },
        pathRepo: [CRATEDB_REPOSITORY.path],
      });
      const denied = await run('backup');
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/error 4011: MissingPrivilegeException/);
      const wrong = await runBackupScript('cratedb', 'backup', {
        local: local(7, { CRATE_PASSWORD: 'wrong-password-wrong-password' }),
        path: [],
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('HTTP 401');
    });
  });
});

/** Waits until the UTC second differs from the one in a snapshot's name (names are per second). */
async function waitForNextSecond(name: string): Promise<void> {
  const stamp = /(\d{8}-\d{6})/.exec(name)![1]!;
  const now = () => new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  while (now() <= stamp) await new Promise((r) => setTimeout(r, 50));
}
