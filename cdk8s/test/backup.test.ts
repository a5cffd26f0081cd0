/**
 * The backup CronJobs as synthesized: one per database, on the config's schedule, time zone,
 * retention and storage, running the target's script from a ConfigMap in the database's own
 * pinned image under the restricted Pod Security profile, with its password from the
 * bootstrap Secret and a mesh grant to the database's port only; CrateDB's path.repo and
 * backup volume; CrateDB's backup user; and deploy/ holding exactly this.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BackupTargetName } from '../../platform/backup.js';
import {
  BACKUP_DIR,
  BACKUP_SCRIPTS_DIR,
  BACKUP_TARGETS,
  BACKUP_TARGET_NAMES,
  CRATEDB_REPOSITORY,
  RESULT_FILE,
  backupCommand,
  backupScriptsConfigMap,
} from '../../platform/backup.js';
import { BOOTSTRAP_SECRETS, CRATEDB_USERS_SECRET } from '../../platform/secrets.js';
import { crateUsersPlan } from '../lib/components/cratedb-users.js';
import { RESTRICTED_CONTAINER, ROOT, find, synth } from '../../testing/support/synth.js';

const out = synth();
const ctx = out.platform.context;
const cronJob = (t: BackupTargetName, o = out) => find(o, 'CronJob', BACKUP_TARGETS[t].cronJob);
const podOf = (t: BackupTargetName, o = out) => cronJob(t, o).spec.jobTemplate.spec.template;
const containerOf = (t: BackupTargetName, o = out) => podOf(t, o).spec.containers[0];
const envOf = (t: BackupTargetName) =>
  Object.fromEntries(containerOf(t).env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe('backup CronJobs', () => {
  it.each(BACKUP_TARGET_NAMES)(
    '%s runs on the configured schedule, time zone and retention',
    (t) => {
      const spec = cronJob(t).spec;
      expect(cronJob(t).metadata.namespace).toBe(
        ctx.componentNamespace(BACKUP_TARGETS[t].component),
      );
      expect(spec).toMatchObject({
        schedule: ctx.config.backup.schedule,
        timeZone: ctx.config.backup.timeZone,
        concurrencyPolicy: 'Forbid',
      });
      expect(envOf(t).BACKUP_KEEP).toBe(String(ctx.config.backup.keep));
      // Finished jobs (scheduled, manual and restores) go away after a while, with their pods.
      expect(spec.jobTemplate.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
      expect(spec.jobTemplate.spec.activeDeadlineSeconds).toBeGreaterThan(0);
    },
  );

  it('follows the config: another schedule, zone, retention and sizes change the manifests', () => {
    const changed = synth({
      config: (c) => {
        c.backup = {
          schedule: '0 */6 * * *',
          timeZone: 'Europe/Rome',
          keep: 3,
          storageClass: 'nfs-client',
          sizes: { mongodb: '3Gi', cratedb: '4Gi', keycloakPostgres: '1Gi' },
        };
      },
    });
    for (const t of BACKUP_TARGET_NAMES) {
      expect(cronJob(t, changed).spec).toMatchObject({
        schedule: '0 */6 * * *',
        timeZone: 'Europe/Rome',
      });
      expect(containerOf(t, changed).env).toContainEqual({ name: 'BACKUP_KEEP', value: '3' });
      const pvc = find(changed, 'PersistentVolumeClaim', BACKUP_TARGETS[t].volume);
      expect(pvc.spec.storageClassName).toBe('nfs-client');
    }
    expect(
      find(changed, 'PersistentVolumeClaim', 'backup-mongodb').spec.resources.requests.storage,
    ).toBe('3Gi');
    expect(
      find(changed, 'PersistentVolumeClaim', 'cratedb-backup').spec.resources.requests.storage,
    ).toBe('4Gi');
    expect(
      find(changed, 'PersistentVolumeClaim', 'backup-keycloak-postgres').spec.resources.requests
        .storage,
    ).toBe('1Gi');
  });

  it('puts the backup volumes on storage.storageClass unless backup.storageClass says otherwise (null: the cluster default)', () => {
    for (const t of BACKUP_TARGET_NAMES) {
      const pvc = find(out, 'PersistentVolumeClaim', BACKUP_TARGETS[t].volume);
      expect(pvc.spec.storageClassName).toBe(ctx.config.storage.storageClass);
      expect(pvc.spec.resources.requests.storage).toBe(
        ctx.config.backup.sizes[BACKUP_TARGETS[t].sizeKey],
      );
      expect(pvc.spec.accessModes).toEqual(['ReadWriteOnce']);
    }
    const clusterDefault = synth({ config: (c) => void (c.backup.storageClass = null) });
    expect(
      find(clusterDefault, 'PersistentVolumeClaim', 'backup-mongodb').spec.storageClassName,
    ).toBeUndefined();
  });

  it('shares CrateDB’s repository volume ReadWriteMany when CrateDB has more than one node', () => {
    const production = synth({ config: (c) => void (c.profile = 'production') });
    expect(production.platform.context.size('cratedb').replicas).toBeGreaterThan(1);
    expect(find(production, 'PersistentVolumeClaim', 'cratedb-backup').spec.accessModes).toEqual([
      'ReadWriteMany',
    ]);
    // MongoDB's and PostgreSQL's volumes are their jobs' alone.
    expect(find(production, 'PersistentVolumeClaim', 'backup-mongodb').spec.accessModes).toEqual([
      'ReadWriteOnce',
    ]);
  });

  it.each(BACKUP_TARGET_NAMES)(
    '%s runs its script in the database’s own pinned image, restricted',
    (t) => {
      const pod = podOf(t);
      const c = containerOf(t);
      expect(c.image).toBe(ctx.image(BACKUP_TARGETS[t].component));
      expect(c.command).toEqual(backupCommand(t, 'backup'));
      expect(c.command[1]).toBe(`${BACKUP_SCRIPTS_DIR}/${BACKUP_TARGETS[t].script.file}`);
      expect(c.securityContext).toEqual(RESTRICTED_CONTAINER);
      expect(c.resources.requests).toBeDefined();
      expect(c.resources.limits).toBeDefined();
      expect(pod.spec).toMatchObject({
        automountServiceAccountToken: false,
        restartPolicy: 'Never',
        serviceAccountName: BACKUP_TARGETS[t].cronJob,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      });
      // The database's own user: the image's tools run as what they were built for.
      const db = find(
        out,
        'StatefulSet',
        ctx.serviceHost(BACKUP_TARGETS[t].component).split('.')[0]!,
      );
      expect(pod.spec.securityContext.runAsUser).toBe(
        db.spec.template.spec.securityContext.runAsUser,
      );
      // The job's result reaches the Job's status; a failure brings the end of the log.
      expect(c).toMatchObject({
        terminationMessagePath: RESULT_FILE,
        terminationMessagePolicy: 'FallbackToLogsOnError',
      });
      // A classic sidecar would keep the Job running for ever.
      expect(pod.metadata.annotations).toEqual({ 'sidecar.istio.io/nativeSidecar': 'true' });
    },
  );

  it.each(BACKUP_TARGET_NAMES)('%s mounts the scripts of this repository, byte for byte', (t) => {
    const cm = find(out, 'ConfigMap', backupScriptsConfigMap(t));
    for (const [file, text] of Object.entries(cm.data as Record<string, string>))
      expect(text).toBe(readFileSync(join(ROOT, 'platform', 'backup', file), 'utf8'));
    expect(Object.keys(cm.data)).toContain(BACKUP_TARGETS[t].script.file);
    const volumes = podOf(t).spec.volumes;
    expect(volumes).toContainEqual({
      name: 'scripts',
      configMap: { name: cm.metadata.name, defaultMode: 0o444 },
    });
  });

  it('writes MongoDB and PostgreSQL backups to their own volume; CrateDB’s nodes write to theirs', () => {
    for (const t of ['mongodb', 'keycloak-postgres'] as const) {
      expect(podOf(t).spec.volumes).toContainEqual({
        name: 'backup',
        persistentVolumeClaim: { claimName: BACKUP_TARGETS[t].volume },
      });
      expect(containerOf(t).volumeMounts).toContainEqual({ name: 'backup', mountPath: BACKUP_DIR });
      expect(envOf(t).BACKUP_DIR).toBe(BACKUP_DIR);
    }
    expect(podOf('cratedb').spec.volumes.some((v: any) => v.persistentVolumeClaim)).toBe(false);
    const crate = find(out, 'StatefulSet', 'cratedb').spec.template.spec;
    const node = crate.containers.find((c: any) => c.name === 'cratedb');
    expect(node.args).toContain(`-Cpath.repo=${CRATEDB_REPOSITORY.path}`);
    expect(node.volumeMounts).toContainEqual({
      name: 'backup',
      mountPath: CRATEDB_REPOSITORY.path,
    });
    expect(crate.volumes).toContainEqual({
      name: 'backup',
      persistentVolumeClaim: { claimName: BACKUP_TARGETS.cratedb.volume },
    });
    expect(envOf('cratedb')).toMatchObject({
      CRATE_REPOSITORY: CRATEDB_REPOSITORY.name,
      CRATE_REPOSITORY_PATH: CRATEDB_REPOSITORY.path,
      CRATE_URL: ctx.serviceUrl('cratedb', 'api'),
    });
  });

  it('takes every password from a bootstrap Secret, never from git', () => {
    const ref = (name: string, key: string) => ({ secretKeyRef: { name, key } });
    expect(envOf('mongodb').MONGODB_PASSWORD).toEqual(
      ref(BOOTSTRAP_SECRETS.mongodb.name, 'root-password'),
    );
    expect(envOf('mongodb').MONGODB_URI).not.toMatch(/:[^/@]*@/);
    expect(envOf('keycloak-postgres').PGPASSWORD).toEqual(
      ref(BOOTSTRAP_SECRETS.keycloakDb.name, 'password'),
    );
    expect(envOf('cratedb').CRATE_PASSWORD).toEqual(
      ref(CRATEDB_USERS_SECRET.name, CRATEDB_USERS_SECRET.backupKey),
    );
  });

  it('lets each job reach its database’s port, and CrateDB’s SQL endpoint only', () => {
    const rulesFor = (policy: string, t: BackupTargetName) =>
      find(out, 'AuthorizationPolicy', policy).spec.rules.filter((r: any) =>
        r.from[0].source.principals.includes(
          `cluster.local/ns/${cronJob(t).metadata.namespace}/sa/${BACKUP_TARGETS[t].cronJob}`,
        ),
      );
    expect(rulesFor('mongodb-allow', 'mongodb').map((r: any) => r.to)).toEqual([
      [{ operation: { ports: ['27017'] } }],
    ]);
    expect(rulesFor('keycloak-postgres-allow', 'keycloak-postgres').map((r: any) => r.to)).toEqual([
      [{ operation: { ports: ['5432'] } }],
    ]);
    expect(rulesFor('cratedb-allow', 'cratedb').map((r: any) => r.to)).toEqual([
      [{ operation: { ports: ['4200'], methods: ['POST'], paths: ['/_sql'] } }],
    ]);
    // Nothing else of a job is granted anywhere.
    const all = out.objects.filter((o) => o.object.kind === 'AuthorizationPolicy');
    const mentions = all.filter((o) => JSON.stringify(o.object).includes('/sa/backup-'));
    expect(mentions.map((o) => o.object.metadata.name).sort()).toEqual([
      'cratedb-allow',
      'keycloak-postgres-allow',
      'mongodb-allow',
    ]);
  });

  it('gives CrateDB’s backup user DDL on the cluster and DQL on sys, nothing else', () => {
    const plan = crateUsersPlan(ctx.config.tenants);
    const backup = plan.users.find((u) => u.name === envOf('cratedb').CRATE_USER)!;
    expect(backup.passwordKey).toBe(CRATEDB_USERS_SECRET.backupKey);
    expect(
      backup.privileges.map(({ class: c, ident, type, grant }) => ({ c, ident, type, grant })),
    ).toEqual([
      { c: 'CLUSTER', ident: null, type: 'DDL', grant: 'GRANT DDL TO "backup"' },
      { c: 'SCHEMA', ident: 'sys', type: 'DQL', grant: 'GRANT DQL ON SCHEMA "sys" TO "backup"' },
    ]);
  });

  it('is in deploy/ as synthesized, in the database’s layer', () => {
    for (const t of BACKUP_TARGET_NAMES) {
      const file = [...out.manifests.keys()].find((f) =>
        f.endsWith(`/${ctx.serviceHost(BACKUP_TARGETS[t].component).split('.')[0]}-backup.yaml`),
      )!;
      expect(file).toBeDefined();
      expect(readFileSync(join(ROOT, file), 'utf8')).toBe(out.manifests.get(file));
      expect(
        out.objects
          .filter((o) => o.file === file)
          .map((o) => o.object.kind)
          .sort(),
      ).toEqual(['ConfigMap', 'CronJob', 'PersistentVolumeClaim', 'ServiceAccount']);
    }
  });
});
