/**
 * Keycloak's PostgreSQL backup and restore: the script of the backup-keycloak-postgres CronJob
 * (platform/backup/keycloak-postgres.sh), run with the CronJob's command and environment
 * against a real PostgreSQL (Debian's), with pg_dump and pg_restore of the same installation.
 * The cluster runs the postgres image's PostgreSQL 18 and its own pg_dump; the commands are
 * the same.
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

import { BACKUP_NAME } from '../../../platform/backup.js';
import type { PostgresServer } from '../../../testing/real/postgres.js';
import { startPostgres } from '../../../testing/real/postgres.js';
import { resultFile, runBackupScript } from '../../../testing/support/backup.js';

let pg: PostgresServer;
let dir: string;
let backups: string;

/** The script's environment: the CronJob's, with this server, directory and password. */
const local = (keep = 7) => ({
  PGHOST: pg.host,
  PGPORT: String(pg.port),
  PGPASSWORD: pg.password,
  BACKUP_DIR: backups,
  BACKUP_KEEP: String(keep),
  BACKUP_RESULT: resultFile(dir),
});
const run = (action: 'backup' | 'restore' | 'list', name?: string, keep?: number) =>
  runBackupScript('keycloak-postgres', action, {
    local: local(keep),
    path: [pg.binDir],
    ...(name ? { name } : {}),
  });

/** A few tables shaped like Keycloak's: realms, users with credentials, a foreign key. */
function seed() {
  pg.psql(`
    CREATE TABLE realm (id text PRIMARY KEY, name text NOT NULL UNIQUE);
    CREATE TABLE user_entity (id text PRIMARY KEY, realm_id text NOT NULL REFERENCES realm(id),
                              username text NOT NULL, enabled boolean NOT NULL);
    CREATE TABLE credential (id text PRIMARY KEY, user_id text REFERENCES user_entity(id),
                             secret_data text NOT NULL);
    CREATE INDEX idx_user_realm ON user_entity (realm_id);
    INSERT INTO realm VALUES ('r1', 'kitt4sme');
    INSERT INTO user_entity VALUES ('u1', 'r1', 'manufracture-demo', true),
                                   ('u2', 'r1', 'platform-admin', true);
    INSERT INTO credential VALUES ('c1', 'u1', 'hash-one'), ('c2', 'u2', 'hash-two');
  `);
}

/** Everything the tests compare: every row of every table, and the indexes. */
const state = () =>
  pg.psql(`
    SELECT string_agg(t, E'\\n' ORDER BY t) FROM (
      SELECT 'realm ' || id || ' ' || name AS t FROM realm
      UNION ALL SELECT 'user ' || id || ' ' || username || ' ' || enabled FROM user_entity
      UNION ALL SELECT 'credential ' || id || ' ' || secret_data FROM credential
      UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = 'public') x`);

const files = () => readdirSync(backups).sort();

beforeAll(async () => {
  pg = await startPostgres({ database: 'keycloak', user: 'keycloak' });
  seed();
}, 120_000);

afterAll(async () => {
  await pg?.stop();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'backup-postgres-'));
  backups = join(dir, 'backup');
  mkdirSync(backups);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('backup-keycloak-postgres', () => {
  it('backs up with pg_dump, and a restore brings back every row, table and index changed since', async () => {
    const before = state();
    const made = await run('backup');
    expect(made.stderr).not.toContain('error');
    expect(made.code).toBe(0);
    const name = made.result!.name!;
    expect(name).toMatch(BACKUP_NAME);
    expect(name).toMatch(/^keycloak-\d{8}-\d{6}\.dump$/);
    expect(made.result).toMatchObject({
      target: 'keycloak-postgres',
      action: 'backup',
      kept: [name],
      removed: [],
    });
    expect(made.result!.bytes).toBe(statSync(join(backups, name)).size);
    expect(files()).toEqual([name]);

    // Everything a bad day does: rows changed and deleted, a table dropped, an index dropped.
    pg.psql(`
      UPDATE user_entity SET enabled = false WHERE id = 'u2';
      DELETE FROM credential WHERE id = 'c1';
      DROP INDEX idx_user_realm;
      DROP TABLE credential;
      CREATE TABLE added_later (x int); INSERT INTO added_later VALUES (42);`);
    expect(pg.psql("SELECT to_regclass('credential') IS NULL")).toBe('t');

    const restored = await run('restore', name);
    expect(restored.stderr).not.toMatch(/error:/);
    expect(restored.code).toBe(0);
    expect(restored.result).toEqual({ target: 'keycloak-postgres', action: 'restore', name });
    expect(state()).toBe(before);
    // What the backup does not hold is kept.
    expect(pg.psql('SELECT x FROM added_later')).toBe('42');
    pg.psql('DROP TABLE added_later');
  }, 120_000);

  it('keeps the newest BACKUP_KEEP backups, removes a killed run’s partial file, and leaves other files alone', async () => {
    const first = (await run('backup')).result!.name!;
    // Two older backups (real dumps under older names), a killed run's leftover, a stray file.
    copyFileSync(join(backups, first), join(backups, 'keycloak-20240101-000000.dump'));
    copyFileSync(join(backups, first), join(backups, 'keycloak-20250101-000000.dump'));
    writeFileSync(join(backups, '.keycloak-20250102-000000.dump.partial'), 'half a dump');
    writeFileSync(join(backups, 'notes.txt'), 'operator notes');

    // The next backup has a later name than `first` once the clock moved to the next second.
    await waitForNextSecond(first);
    const made = await run('backup', undefined, 2);
    expect(made.code).toBe(0);
    const name = made.result!.name!;
    expect(made.result!.kept).toEqual([name, first]);
    expect(made.result!.removed).toEqual([
      'keycloak-20250101-000000.dump',
      'keycloak-20240101-000000.dump',
    ]);
    expect(files()).toEqual([first, name, 'notes.txt'].sort());

    const listed = await run('list');
    expect(listed.result).toEqual({
      target: 'keycloak-postgres',
      action: 'list',
      kept: [name, first],
    });
  }, 120_000);

  it('restores the newest backup for latest', async () => {
    const name = (await run('backup')).result!.name!;
    copyFileSync(join(backups, name), join(backups, 'keycloak-20200101-000000.dump'));
    pg.psql("UPDATE realm SET name = 'renamed'");
    const restored = await run('restore', 'latest');
    expect(restored.code).toBe(0);
    expect(restored.result!.name).toBe(name);
    expect(pg.psql('SELECT name FROM realm')).toBe('kitt4sme');
  }, 120_000);

  describe('fails clearly and changes nothing', () => {
    it('when the named backup does not exist', async () => {
      const name = (await run('backup')).result!.name!;
      pg.psql("UPDATE realm SET name = 'changed-since'");
      const before = state();
      const r = await run('restore', 'keycloak-20990101-000000.dump');
      expect(r.code).toBe(1);
      expect(r.result).toBeUndefined();
      expect(r.stderr).toContain(`there is no backup named 'keycloak-20990101-000000.dump'`);
      expect(r.stderr).toContain(`(there are: ${name} )`);
      expect(r.stderr).toContain('nothing was changed');
      expect(state()).toBe(before);
      pg.psql("UPDATE realm SET name = 'kitt4sme'");
    }, 60_000);

    it('when there is no backup at all to restore as latest', async () => {
      const r = await run('restore', 'latest');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`there is no backup in ${backups} yet; nothing was changed`);
    }, 60_000);

    it('when the file is not a dump (its table of contents cannot be read)', async () => {
      writeFileSync(join(backups, 'keycloak-20990101-000000.dump'), 'not a dump at all');
      const before = state();
      const r = await run('restore', 'keycloak-20990101-000000.dump');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        'keycloak-20990101-000000.dump is damaged (pg_restore cannot read its table of contents); nothing was changed',
      );
      expect(state()).toBe(before);
    }, 60_000);

    it('when the data part is cut short: the one transaction rolls back', async () => {
      // Enough rows that the cut falls inside the table data, after the table of contents.
      pg.psql(`CREATE TABLE event_entity (id int PRIMARY KEY, details text);
        INSERT INTO event_entity SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 5000) g;`);
      const name = (await run('backup')).result!.name!;
      pg.psql(`DELETE FROM event_entity WHERE id > 10; UPDATE realm SET name = 'after-backup'`);
      const before = state() + pg.psql('SELECT count(*) FROM event_entity');
      const size = statSync(join(backups, name)).size;
      truncateSync(join(backups, name), Math.floor(size * 0.6));
      const r = await run('restore', name);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        'pg_restore failed; the transaction was rolled back and the database is as it was',
      );
      expect(state() + pg.psql('SELECT count(*) FROM event_entity')).toBe(before);
      pg.psql(`DROP TABLE event_entity; UPDATE realm SET name = 'kitt4sme'`);
    }, 120_000);

    it('when the password is wrong: no backup is made', async () => {
      const r = await runBackupScript('keycloak-postgres', 'backup', {
        local: { ...local(), PGPASSWORD: 'wrong-password-wrong-password' },
        path: [pg.binDir],
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/password authentication failed for user "keycloak"/);
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
