/**
 * Backups of the platform's databases, once: what each backup target holds, where its backups
 * live, the scripts its CronJob runs (platform/backup/*.sh, *.py) and the result they report.
 *
 * The CronJobs (cdk8s/lib/backup.ts), `npm run platform -- backup` / `restore`
 * (services/ops) and the tests all use these: a test runs the very script the CronJob runs,
 * against a real PostgreSQL and a MongoDB-compatible server. docs/backup.md explains.
 */
import { readFileSync } from 'node:fs';

import type { ComponentId, ServiceId } from './components.js';
import type { ComputeResources } from './config/profiles.js';

/** How operators name the backup targets on the command line (the databases' Service names). */
export const BACKUP_TARGET_NAMES = ['mongodb', 'keycloak-postgres', 'cratedb'] as const;
export type BackupTargetName = (typeof BACKUP_TARGET_NAMES)[number];

/** One database that is backed up. */
export interface BackupTarget {
  readonly name: BackupTargetName;
  /** The component whose data it is (its Service is what the job connects to). */
  readonly component: ServiceId & ('mongodb' | 'keycloakPostgres' | 'cratedb');
  /** The key of its size in `backup.sizes` of the config. */
  readonly sizeKey: 'mongodb' | 'keycloakPostgres' | 'cratedb';
  /** What it holds, for people. */
  readonly holds: string;
  /** How a backup is made and what one is. */
  readonly format: string;
  /** The CronJob's name; also its ServiceAccount, the mesh identity granted the database. */
  readonly cronJob: string;
  /**
   * The PersistentVolumeClaim the backups are on: mounted into the job's pod (files), or into
   * CrateDB's own pods (its fs repository).
   */
  readonly volume: string;
  /** The script in the scripts ConfigMap and the interpreter that runs it. */
  readonly script: { readonly file: string; readonly interpreter: 'sh' | 'python3' };
  /** What a restore replaces, for the confirmation `platform restore` asks for. */
  readonly overwrites: string;
  /** What a restore keeps. */
  readonly keeps: string;
  /** Workloads that cache what the database holds: restarted after a restore. */
  readonly restartAfterRestore: readonly ComponentId[];
  /** The job container's size (the same in every profile: one dump at a time). */
  readonly resources: ComputeResources;
}

const r = (
  cpuRequestMilli: number,
  cpuLimitMilli: number,
  memoryRequestMi: number,
  memoryLimitMi: number,
): ComputeResources => ({ cpuRequestMilli, cpuLimitMilli, memoryRequestMi, memoryLimitMi });

export const BACKUP_TARGETS: Readonly<Record<BackupTargetName, BackupTarget>> = {
  mongodb: {
    name: 'mongodb',
    component: 'mongodb',
    sizeKey: 'mongodb',
    holds:
      "Orion's entities, registrations and subscriptions of every tenant, and the IoT Agents' device registries",
    format: 'mongodump --archive --gzip of every database, one file per backup',
    cronJob: 'backup-mongodb',
    volume: 'backup-mongodb',
    script: { file: 'mongodb.sh', interpreter: 'sh' },
    overwrites:
      'every collection the backup holds is dropped and replaced: Orion entities, subscriptions and registrations of every tenant, and the IoT Agents’ service groups and devices',
    keeps:
      'collections created after the backup, and the database users (the Secret decides their passwords)',
    restartAfterRestore: ['orion', 'iotAgentUl', 'iotAgentJson'],
    // mongodump and mongorestore (Go) with gzip; a restore inserts in batches.
    resources: r(50, 1000, 128, 512),
  },
  'keycloak-postgres': {
    name: 'keycloak-postgres',
    component: 'keycloakPostgres',
    sizeKey: 'keycloakPostgres',
    holds: "Keycloak's database: the realm, its users, groups, clients and sessions",
    format: 'pg_dump --format=custom of the keycloak database, one file per backup',
    cronJob: 'backup-keycloak-postgres',
    volume: 'backup-keycloak-postgres',
    script: { file: 'keycloak-postgres.sh', interpreter: 'sh' },
    overwrites:
      'every table of the keycloak database the backup holds, in one transaction: users, passwords, groups, clients and their secrets, sessions',
    keeps: 'tables created after the backup',
    restartAfterRestore: ['keycloak'],
    resources: r(25, 500, 64, 256),
  },
  cratedb: {
    name: 'cratedb',
    component: 'cratedb',
    sizeKey: 'cratedb',
    holds: "QuantumLeap's time series of every tenant (one schema per tenant)",
    format: 'CREATE SNAPSHOT ... ALL into an fs repository on the backup volume (incremental)',
    cronJob: 'backup-cratedb',
    volume: 'cratedb-backup',
    script: { file: 'cratedb.py', interpreter: 'python3' },
    overwrites:
      'every table the snapshot holds is swapped for the snapshot’s copy: the time series of every tenant since the snapshot are lost',
    keeps: 'tables created after the snapshot, and CrateDB’s users and privileges',
    restartAfterRestore: ['quantumleap'],
    // Python's standard library sending SQL; CrateDB's nodes do the work.
    resources: r(10, 200, 32, 96),
  },
};

/** The ConfigMap of a target's script (and the shell functions it sources). */
export function backupScriptsConfigMap(target: BackupTargetName): string {
  return `${BACKUP_TARGETS[target].cronJob}-scripts`;
}
/** Where the scripts are mounted in a backup or restore pod. */
export const BACKUP_SCRIPTS_DIR = '/scripts';
/** Where a file-based target's backup volume is mounted in its job's pod. */
export const BACKUP_DIR = '/backup';
/** CrateDB's snapshot repository, and where its volume is mounted in CrateDB's pods (path.repo). */
export const CRATEDB_REPOSITORY = { name: 'backup', path: '/backup' } as const;
/** The file the kubelet copies into the container's status: where a job reports its result. */
export const RESULT_FILE = '/dev/termination-log';

/** What a script does: the first argument it takes. */
export type BackupAction = 'backup' | 'restore' | 'list';

/** The scripts' shared shell functions, a file of the ConfigMap beside the scripts. */
const SHELL_LIBRARY = 'lib.sh';

/** The ConfigMap files a target's script needs, by file name. */
export function backupScriptFiles(target: BackupTargetName): Record<string, string> {
  const t = BACKUP_TARGETS[target];
  const read = (file: string) => readFileSync(new URL(`./backup/${file}`, import.meta.url), 'utf8');
  return t.script.interpreter === 'sh'
    ? { [SHELL_LIBRARY]: read(SHELL_LIBRARY), [t.script.file]: read(t.script.file) }
    : { [t.script.file]: read(t.script.file) };
}

/** The path of a target's script in this repository (tests run it from here). */
export function backupScriptPath(target: BackupTargetName): string {
  return new URL(`./backup/${BACKUP_TARGETS[target].script.file}`, import.meta.url).pathname;
}

/** The command a backup or restore container runs: interpreter, script, action and arguments. */
export function backupCommand(
  target: BackupTargetName,
  action: BackupAction,
  backupName?: string,
): string[] {
  const t = BACKUP_TARGETS[target];
  if (action === 'restore' && !backupName) throw new TypeError('a restore needs a backup name');
  return [
    t.script.interpreter,
    `${BACKUP_SCRIPTS_DIR}/${t.script.file}`,
    action,
    ...(action === 'restore' ? [backupName!] : []),
  ];
}

/** A backup's name as the scripts make it: `<prefix><YYYYMMDD-HHMMSS>` plus the file suffix. */
export const BACKUP_NAME = /^(mongodb|keycloak|cratedb)-[0-9]{8}-[0-9]{6}(\.archive\.gz|\.dump)?$/;

/** The one-line JSON a script writes to its result file (and standard output) when it succeeds. */
export interface BackupResult {
  readonly target: BackupTargetName;
  readonly action: BackupAction;
  /** The backup made or restored. */
  readonly name?: string;
  /** The backup file's size (file-based targets). */
  readonly bytes?: number;
  /** The backups there are after the job, newest first (backup, list). */
  readonly kept?: readonly string[];
  /** The backups retention deleted (backup). */
  readonly removed?: readonly string[];
  /** CrateDB: how many tables the snapshot holds (backup), or which were restored (restore). */
  readonly tables?: number | readonly string[];
}

/**
 * Reads a script's result line from a container's termination message; undefined when the
 * message is not one (a failed job's message is the tail of its log instead).
 */
export function parseBackupResult(message: string | undefined): BackupResult | undefined {
  const line = message?.trim().split('\n').pop();
  if (!line?.startsWith('{')) return undefined;
  try {
    const doc = JSON.parse(line) as Partial<BackupResult>;
    return typeof doc.target === 'string' &&
      (BACKUP_TARGET_NAMES as readonly string[]).includes(doc.target) &&
      (doc.action === 'backup' || doc.action === 'restore' || doc.action === 'list')
      ? (doc as BackupResult)
      : undefined;
  } catch {
    return undefined;
  }
}
