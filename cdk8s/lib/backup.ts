/**
 * Scheduled backups of the databases (platform/backup.ts): for each target a CronJob that runs
 * the target's script in the database's own pinned image, the volume the backups are kept on,
 * the ConfigMap of the script, a ServiceAccount, and the mesh grant that lets the job (and
 * nothing else new) reach the database. Schedule, time zone, retention and sizes come from
 * `backup` in the platform config; docs/backup.md explains.
 *
 * `npm run platform -- backup` runs a Job made from the CronJob now; `platform restore` runs
 * one with the script's `restore` action, so a restore uses the same image, identity, Secret
 * references and volume as the backup did.
 */
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';

import type { BackupTargetName } from '../../platform/backup.js';
import {
  BACKUP_DIR,
  BACKUP_SCRIPTS_DIR,
  BACKUP_TARGETS,
  CRATEDB_REPOSITORY,
  RESULT_FILE,
  backupCommand,
  backupScriptFiles,
  backupScriptsConfigMap,
} from '../../platform/backup.js';
import type { PlatformContext } from '../../platform/context.js';
import { meshPrincipal } from '../../platform/mesh.js';
import { CRATEDB_USERS_SECRET } from '../../platform/secrets.js';
import { BACKUP_DB_USER, crateDbPasswordEnv } from './components/cratedb-users.js';
import { KEYCLOAK_DB } from './components/keycloak.js';
import { MONGODB_ROOT_USER } from './components/mongodb.js';
import type { MeshCaller, Workload } from './workload.js';
import { PART_OF, env, hardenedSecurityContext, kubeResources, secretEnv } from './workload.js';

/** How long a finished backup or restore Job (and its pod and log) is kept: a week. */
const JOB_TTL_SECONDS = 7 * 24 * 3600;
/** A job that has not finished after this long is stopped (and counts as failed). */
const JOB_DEADLINE_SECONDS = 6 * 3600;
/** A missed schedule (cluster down at 02:30) still runs when the cluster is back within this. */
const STARTING_DEADLINE_SECONDS = 6 * 3600;

/** Props of {@link DatabaseBackup}. */
export interface DatabaseBackupProps {
  readonly context: PlatformContext;
  readonly target: BackupTargetName;
  /** The database's workload, which grants the job access to its port. */
  readonly database: Workload;
}

/** A CronJob that backs up one database, with its volume, script, identity and grant. */
export class DatabaseBackup extends Construct implements MeshCaller {
  readonly name: string;
  readonly namespace: string;
  readonly meshPrincipal: string;
  readonly displayName: string;

  constructor(scope: Construct, id: string, props: DatabaseBackupProps) {
    super(scope, id);
    const ctx = props.context;
    const t = BACKUP_TARGETS[props.target];
    const db = props.database;
    this.name = t.cronJob;
    this.displayName = t.cronJob;
    this.namespace = db.namespace;
    this.meshPrincipal = meshPrincipal(this.namespace, this.name);
    const labels = { app: this.name, 'app.kubernetes.io/part-of': PART_OF };
    const metadata = (name: string): k8s.ObjectMeta => ({
      name,
      namespace: this.namespace,
      labels,
    });
    const backup = ctx.config.backup;
    const fileBased = t.script.interpreter === 'sh';

    new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: metadata(this.name),
      automountServiceAccountToken: false,
    });

    // CrateDB's nodes mount this volume (its fs repository); with more than one node it must
    // be shared. NOTE (1)
    const shared = !fileBased && db.replicas > 1;
    new k8s.KubePersistentVolumeClaim(this, 'Volume', {
      metadata: metadata(t.volume),
      spec: {
        accessModes: [shared ? 'ReadWriteMany' : 'ReadWriteOnce'],
        storageClassName:
          (backup.storageClass === undefined
            ? ctx.config.storage.storageClass
            : backup.storageClass) ?? undefined,
        resources: { requests: { storage: k8s.Quantity.fromString(backup.sizes[t.sizeKey]) } },
      },
    });

    const scripts = backupScriptsConfigMap(props.target);
    new k8s.KubeConfigMap(this, 'Scripts', {
      metadata: metadata(scripts),
      data: backupScriptFiles(props.target),
    });

    new k8s.KubeCronJob(this, 'Resource', {
      metadata: metadata(this.name),
      spec: {
        schedule: backup.schedule,
        timeZone: backup.timeZone,
        // A backup still running when the next is due is left to finish; the next is skipped.
        concurrencyPolicy: 'Forbid',
        startingDeadlineSeconds: STARTING_DEADLINE_SECONDS,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            // The script cleans up after a failed run; one retry covers a passing fault.
            backoffLimit: 1,
            activeDeadlineSeconds: JOB_DEADLINE_SECONDS,
            ttlSecondsAfterFinished: JOB_TTL_SECONDS,
            template: {
              metadata: {
                labels,
                // NOTE (2)
                annotations: { 'sidecar.istio.io/nativeSidecar': 'true' },
              },
              spec: {
                serviceAccountName: this.name,
                automountServiceAccountToken: false,
                enableServiceLinks: false,
                restartPolicy: 'Never',
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: db.runAs.user,
                  runAsGroup: db.runAs.group,
                  fsGroup: db.runAs.group,
                  fsGroupChangePolicy: 'OnRootMismatch',
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                containers: [
                  {
                    name: 'backup',
                    image: ctx.image(t.component),
                    imagePullPolicy: 'IfNotPresent',
                    command: backupCommand(props.target, 'backup'),
                    env: [
                      env('BACKUP_KEEP', backup.keep),
                      env('BACKUP_RESULT', RESULT_FILE),
                      ...(fileBased ? [env('BACKUP_DIR', BACKUP_DIR)] : []),
                      ...connectionEnv(ctx, props.target),
                    ],
                    resources: kubeResources(t.resources),
                    securityContext: hardenedSecurityContext(true),
                    // A failed job's status carries the end of its log; a successful one's the
                    // script's result line (platform/backup.ts, parseBackupResult).
                    terminationMessagePath: RESULT_FILE,
                    terminationMessagePolicy: 'FallbackToLogsOnError',
                    volumeMounts: [
                      { name: 'scripts', mountPath: BACKUP_SCRIPTS_DIR, readOnly: true },
                      { name: 'tmp', mountPath: '/tmp' },
                      ...(fileBased ? [{ name: 'backup', mountPath: BACKUP_DIR }] : []),
                    ],
                  },
                ],
                volumes: [
                  { name: 'scripts', configMap: { name: scripts, defaultMode: 0o444 } },
                  { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
                  ...(fileBased
                    ? [{ name: 'backup', persistentVolumeClaim: { claimName: t.volume } }]
                    : []),
                ],
              },
            },
          },
        },
      },
    });

    // The job reaches the database's port, and only that; with CrateDB only its SQL endpoint.
    if (props.target === 'cratedb')
      db.grantAccess(this, { ports: ['api'], methods: ['POST'], paths: ['/_sql'] });
    else db.grantAccess(this, { ports: ['db'] });
  }
}

/** How a target's script finds and logs in to its database: env, passwords from Secrets. */
function connectionEnv(ctx: PlatformContext, target: BackupTargetName): k8s.EnvVar[] {
  switch (target) {
    case 'mongodb':
      return [
        // NOTE (3)
        env(
          'MONGODB_URI',
          `mongodb://${MONGODB_ROOT_USER}@${ctx.serviceHost('mongodb')}:${ctx.port('mongodb', 'db')}/?authSource=admin`,
        ),
        secretEnv('MONGODB_PASSWORD', 'mongodb', 'root-password'),
      ];
    case 'keycloak-postgres':
      return [
        env('PGHOST', ctx.serviceHost('keycloakPostgres')),
        env('PGPORT', ctx.port('keycloakPostgres', 'db')),
        env('PGUSER', KEYCLOAK_DB.user),
        env('PGDATABASE', KEYCLOAK_DB.name),
        secretEnv('PGPASSWORD', 'keycloakDb', 'password'),
      ];
    case 'cratedb':
      return [
        env('CRATE_URL', ctx.serviceUrl('cratedb', 'api')),
        env('CRATE_USER', BACKUP_DB_USER),
        crateDbPasswordEnv('CRATE_PASSWORD', CRATEDB_USERS_SECRET.backupKey),
        env('CRATE_REPOSITORY', CRATEDB_REPOSITORY.name),
        env('CRATE_REPOSITORY_PATH', CRATEDB_REPOSITORY.path),
        env('PYTHONDONTWRITEBYTECODE', 1),
      ];
  }
}

// NOTE
// 1. Where backups live. A file-based target's volume is its own claim, mounted only by its
//    jobs, in the database's namespace; the backups survive the database's pods and its data
//    volume, not the cluster or the node's disk: copy them off the cluster for disaster
//    recovery (docs/backup.md). CrateDB's snapshots are written by CrateDB's nodes into
//    cratedb-backup, which every CrateDB pod mounts at path.repo (components/cratedb.ts,
//    NOTE 4): ReadWriteOnce for the single node of the laptop profile, ReadWriteMany, and so
//    a StorageClass that offers it (NFS, CephFS, a cloud file store; `backup.storageClass`),
//    for production's three.
// 2. Jobs in the mesh. The namespaces inject an istio-proxy into every pod and refuse plain
//    text (STRICT mTLS), so the job needs its sidecar to reach the database. A classic
//    sidecar keeps running after the job's container exits and the Job never completes; as
//    a native sidecar (an init container with restartPolicy Always, Kubernetes 1.29+) the
//    kubelet stops it when the job's container is done. Istio makes native sidecars the
//    default from 1.27 where the cluster supports them; the annotation says so explicitly
//    for these pods, whatever the mesh-wide default.
//    See https://istio.io/latest/blog/2023/native-sidecars/ and the sidecar.istio.io/nativeSidecar
//    annotation in https://istio.io/latest/docs/reference/config/annotations/
// 3. MongoDB's root user. A dump must read every database (one per tenant, created by Orion on
//    first use, plus the agents' registries) and a restore must drop and create collections and
//    indexes in all of them; the built-in backup and restore roles would do, but a user holding
//    them would exist only on volumes initialised after it was added to the first-start script
//    (mongodb.ts), and the root user exists on every one. Its password reaches the job as an
//    environment variable from mongodb-credentials and the tools in a file only they read
//    (platform/backup/mongodb.sh); the mesh admits the job's identity to MongoDB's port and
//    nothing else. The users themselves are never restored (mongodb.sh, NOTE 1).
