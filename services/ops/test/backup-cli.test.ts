/**
 * `platform backup`, `backups` and `restore` against a real kube-apiserver (the pinned one,
 * over Debian's etcd) holding the backup CronJobs of deploy/. It has no controllers and no
 * kubelet, so the test plays their part: once the CLI created a Job, the test writes what the
 * Job controller and the kubelet would (a pod of the Job with the container's termination
 * message, then the Job's conditions), and checks what the CLI made of it. The scripts
 * themselves are tested against real databases in backup-postgres/mongodb/cratedb.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';

import type { BackupTargetName } from '../../../platform/backup.js';
import { BACKUP_TARGETS, backupCommand } from '../../../platform/backup.js';
import { loadPlatformContext } from '../../../platform/context.js';
import type { KubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { startKubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { runCli, startCli } from '../../../testing/support/cli.js';
import { ACTION_LABEL, JOB_NAME_LABEL, RESTARTED_AT, jobOutcome } from '../src/backup.js';
import { readDeployObjects } from '../src/deploy.js';

const CLI = 'services/ops/bin/platform.ts';
const ctx = loadPlatformContext();
const objects = readDeployObjects();

let api: KubeApiserver;
let admin: k8s.KubeConfig;
let home: string;
let batch: k8s.BatchV1Api;
let core: k8s.CoreV1Api;
const env = () => ({ KUBECONFIG: api.kubeconfigPath });
const cli = (args: string[]) => runCli(CLI, [...args, '--interval', '1s'], home, env());
const start = (args: string[]) => startCli(CLI, [...args, '--interval', '1s'], home, env());
const nsOf = (t: BackupTargetName) => ctx.componentNamespace(BACKUP_TARGETS[t].component);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

beforeAll(async () => {
  api = await startKubeApiserver({ crds: false });
  admin = api.kubeConfig('admin');
  batch = admin.makeApiClient(k8s.BatchV1Api);
  core = admin.makeApiClient(k8s.CoreV1Api);
  home = mkdtempSync(join(tmpdir(), 'backup-cli-'));
  // kube-node-lease (the fleet service's Role on node leases) is the API server's own.
  for (const name of new Set(objects.flatMap((o) => o.object.metadata.namespace ?? [])))
    if (name !== 'kube-node-lease') await core.createNamespace({ body: { metadata: { name } } });
  // What the data and identity Applications sync: the backup files, and the Deployments a
  // restore restarts.
  const client = k8s.KubernetesObjectApi.makeApiClient(admin);
  for (const o of objects.filter(
    (x) =>
      x.file.endsWith('-backup.yaml') ||
      (x.object.kind === 'Deployment' && ['orion', 'keycloak'].includes(x.object.metadata.name)),
  ))
    await client.create(structuredClone(o.object));
}, 240_000);

afterAll(async () => {
  await api?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** Waits until the CLI has created a Job for a target; returns it. */
async function createdJob(t: BackupTargetName, action: string): Promise<k8s.V1Job> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const jobs = await batch.listNamespacedJob({
      namespace: nsOf(t),
      labelSelector: `${ACTION_LABEL}=${action},app=${BACKUP_TARGETS[t].cronJob}`,
    });
    const fresh = jobs.items.filter((j) => !j.status?.conditions?.length);
    if (fresh.length === 1) return fresh[0]!;
    if (Date.now() > deadline) throw new Error(`no ${action} Job for ${t}: ${jobs.items.length}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Plays the Job controller and the kubelet: a pod that ended so, then the Job's conditions. */
async function finish(job: k8s.V1Job, exitCode: number, message: string) {
  const namespace = job.metadata!.namespace!;
  const name = job.metadata!.name!;
  const pod = await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: `${name}-x1`, labels: { [JOB_NAME_LABEL]: name } },
      spec: job.spec!.template.spec!,
    },
  });
  const now = new Date();
  await core.patchNamespacedPodStatus(
    {
      name: pod.metadata!.name!,
      namespace,
      body: {
        status: {
          phase: exitCode === 0 ? 'Succeeded' : 'Failed',
          containerStatuses: [
            {
              name: 'backup',
              image: job.spec!.template.spec!.containers[0]!.image!,
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode, message, finishedAt: now, startedAt: now } },
            },
          ],
        },
      },
    },
    mergePatch,
  );
  const condition = (type: string, reason: string, msg = '') => ({
    type,
    status: 'True',
    reason,
    message: msg,
    lastTransitionTime: now,
    lastProbeTime: now,
  });
  await batch.patchNamespacedJobStatus(
    {
      name,
      namespace,
      body: {
        status:
          exitCode === 0
            ? {
                startTime: now,
                completionTime: now,
                succeeded: 1,
                conditions: [
                  condition('SuccessCriteriaMet', 'CompletionsReached'),
                  condition('Complete', 'CompletionsReached'),
                ],
              }
            : {
                startTime: now,
                failed: 1,
                conditions: [
                  condition(
                    'FailureTarget',
                    'BackoffLimitExceeded',
                    'Job has reached the specified backoff limit',
                  ),
                  condition(
                    'Failed',
                    'BackoffLimitExceeded',
                    'Job has reached the specified backoff limit',
                  ),
                ],
              },
      },
    },
    mergePatch,
  );
}

const result = (doc: object) => `${JSON.stringify(doc)}\n`;

describe('platform backup', () => {
  it('runs a Job made from the CronJob, waits for it and says where the backup is', async () => {
    const run = start(['backup', 'mongodb', 'cratedb', '--json']);
    const job = await createdJob('mongodb', 'backup');
    const cronJob = await batch.readNamespacedCronJob({
      name: 'backup-mongodb',
      namespace: nsOf('mongodb'),
    });
    // The CronJob's template, owned by it (its concurrencyPolicy: Forbid holds the schedule back).
    expect(job.metadata!.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'CronJob',
        name: 'backup-mongodb',
        uid: cronJob.metadata!.uid,
        controller: true,
      }),
    ]);
    expect(job.metadata!.annotations).toMatchObject({
      'cronjob.kubernetes.io/instantiate': 'manual',
    });
    const container = job.spec!.template.spec!.containers[0]!;
    const expected = cronJob.spec!.jobTemplate.spec!.template.spec!.containers[0]!;
    expect(container).toEqual(expected);
    expect(container.command).toEqual(backupCommand('mongodb', 'backup'));
    expect(job.spec!.template.spec!.serviceAccountName).toBe('backup-mongodb');
    await finish(
      job,
      0,
      result({
        target: 'mongodb',
        action: 'backup',
        name: 'mongodb-20261202-023000.archive.gz',
        bytes: 4096,
        kept: ['mongodb-20261202-023000.archive.gz', 'mongodb-20261201-023000.archive.gz'],
        removed: ['mongodb-20261125-023000.archive.gz'],
      }),
    );
    const crateJob = await createdJob('cratedb', 'backup');
    await finish(
      crateJob,
      0,
      result({
        target: 'cratedb',
        action: 'backup',
        name: 'cratedb-20261202-023001',
        tables: 4,
        kept: ['cratedb-20261202-023001'],
        removed: [],
      }),
    );
    const out = await run.exited;
    expect(out.stderr).toContain('backup: [1/2] mongodb');
    expect(out.code).toBe(0);
    const doc = JSON.parse(out.stdout);
    expect(doc.backups).toEqual([
      expect.objectContaining({
        database: 'mongodb',
        ok: true,
        job: `${nsOf('mongodb')}/${job.metadata!.name}`,
        backup: 'mongodb-20261202-023000.archive.gz',
        where: `file mongodb-20261202-023000.archive.gz on volume backup-mongodb (namespace ${nsOf('mongodb')})`,
        bytes: 4096,
        removed: ['mongodb-20261125-023000.archive.gz'],
      }),
      expect.objectContaining({
        database: 'cratedb',
        ok: true,
        where: `snapshot cratedb-20261202-023001 in CrateDB repository backup (volume cratedb-backup, namespace ${nsOf('cratedb')})`,
        tables: 4,
      }),
    ]);
  }, 120_000);

  it('exits 1 and shows the end of the job’s log when a backup fails', async () => {
    const run = start(['backup', 'keycloak-postgres']);
    const job = await createdJob('keycloak-postgres', 'backup');
    await finish(
      job,
      1,
      '2026-12-02T02:30:01Z error: pg_dump: error: connection to server failed: FATAL:  password authentication failed for user "keycloak"',
    );
    const out = await run.exited;
    expect(out.code).toBe(1);
    expect(out.stdout).toBe(
      `keycloak-postgres: FAILED (job ${nsOf('keycloak-postgres')}/${job.metadata!.name})\n`,
    );
    expect(out.stderr).toContain(
      'BackoffLimitExceeded: Job has reached the specified backoff limit',
    );
    expect(out.stderr).toContain('password authentication failed for user "keycloak"');
    expect(out.stderr).toContain('[ERR_BACKUP_FAILED]');
  }, 120_000);

  it('exits 3 with a clear error when the CronJob is not in the cluster', async () => {
    await batch.deleteNamespacedCronJob({ name: 'backup-cratedb', namespace: nsOf('cratedb') });
    const out = await cli(['backup', 'cratedb']);
    expect(out.code).toBe(3);
    expect(out.stderr).toContain(
      `there is no CronJob backup-cratedb in namespace ${nsOf('cratedb')}`,
    );
    expect(out.stderr).toContain('[ERR_BACKUP_NOT_DEPLOYED]');
    const cron = objects.find(
      (o) => o.object.kind === 'CronJob' && o.object.metadata.name === 'backup-cratedb',
    )!;
    await k8s.KubernetesObjectApi.makeApiClient(admin).create(structuredClone(cron.object));
  }, 60_000);

  it('exits 3 when RBAC does not let the user create Jobs', async () => {
    const out = await runCli(CLI, ['backup', 'mongodb', '--context', 'viewer'], home, env());
    expect(out.code).toBe(3);
    expect(out.stderr).toContain('[ERR_CLUSTER_FORBIDDEN]');
  }, 60_000);
});

describe('platform backups', () => {
  it('lists each database’s backups, newest first, from a list Job', async () => {
    const run = start(['backups', 'mongodb']);
    const job = await createdJob('mongodb', 'list');
    expect(job.spec!.template.spec!.containers[0]!.command).toEqual(
      backupCommand('mongodb', 'list'),
    );
    await finish(
      job,
      0,
      result({
        target: 'mongodb',
        action: 'list',
        kept: ['mongodb-20261202-023000.archive.gz', 'mongodb-20261201-023000.archive.gz'],
      }),
    );
    const out = await run.exited;
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(
      `mongodb (volume backup-mongodb, namespace ${nsOf('mongodb')}):\n  mongodb-20261202-023000.archive.gz\n  mongodb-20261201-023000.archive.gz\n`,
    );
  }, 120_000);
});

describe('platform restore', () => {
  it('refuses without --yes, says what it would overwrite, and creates no Job', async () => {
    const out = await cli([
      'restore',
      'keycloak-postgres',
      '--from',
      'keycloak-20261202-023000.dump',
    ]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(
      'restore keycloak-postgres (identity) from keycloak-20261202-023000.dump:',
    );
    expect(out.stderr).toContain(`overwrites: ${BACKUP_TARGETS['keycloak-postgres'].overwrites}`);
    expect(out.stderr).toContain('then restarts: keycloak');
    expect(out.stderr).toContain('[ERR_RESTORE_UNCONFIRMED]');
    const jobs = await batch.listNamespacedJob({
      namespace: nsOf('keycloak-postgres'),
      labelSelector: `${ACTION_LABEL}=restore`,
    });
    expect(jobs.items).toEqual([]);
  }, 60_000);

  it('refuses a backup name of another database, and a name that is no backup name', async () => {
    const other = await cli([
      'restore',
      'mongodb',
      '--from',
      'keycloak-20261202-023000.dump',
      '--yes',
    ]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('keycloak-20261202-023000.dump is not a backup of mongodb');
    expect(other.stderr).toContain('[ERR_BACKUP_NAME]');
    const bad = await cli(['restore', 'mongodb', '--from', '../../etc/passwd', '--yes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('give a backup name');
  }, 60_000);

  it('restores in a Job from the CronJob with the named backup, then restarts what caches the database', async () => {
    const run = start([
      'restore',
      'keycloak-postgres',
      '--from',
      'keycloak-20261202-023000.dump',
      '--yes',
      '--json',
    ]);
    const job = await createdJob('keycloak-postgres', 'restore');
    expect(job.spec!.template.spec!.containers[0]!.command).toEqual(
      backupCommand('keycloak-postgres', 'restore', 'keycloak-20261202-023000.dump'),
    );
    // A restore is not retried on its own.
    expect(job.spec!.backoffLimit).toBe(0);
    await finish(
      job,
      0,
      result({
        target: 'keycloak-postgres',
        action: 'restore',
        name: 'keycloak-20261202-023000.dump',
      }),
    );
    const out = await run.exited;
    expect(out.code).toBe(0);
    const keycloak = `${ctx.componentNamespace('keycloak')}/keycloak`;
    expect(JSON.parse(out.stdout)).toEqual({
      database: 'keycloak-postgres',
      job: `${nsOf('keycloak-postgres')}/${job.metadata!.name}`,
      restored: 'keycloak-20261202-023000.dump',
      restarted: [keycloak],
    });
    const deployment = await admin.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({
      name: 'keycloak',
      namespace: ctx.componentNamespace('keycloak'),
    });
    expect(deployment.spec!.template.metadata!.annotations![RESTARTED_AT]).toBeDefined();
  }, 120_000);

  it('exits 1 with the script’s reason when the restore fails, and restarts nothing', async () => {
    const orion = () =>
      admin
        .makeApiClient(k8s.AppsV1Api)
        .readNamespacedDeployment({ name: 'orion', namespace: ctx.componentNamespace('orion') });
    const before = (await orion()).spec!.template.metadata!.annotations ?? {};
    const run = start(['restore', 'mongodb', '--yes']);
    const job = await createdJob('mongodb', 'restore');
    expect(job.spec!.template.spec!.containers[0]!.command).toEqual(
      backupCommand('mongodb', 'restore', 'latest'),
    );
    await finish(
      job,
      1,
      '2026-12-02T10:00:00Z error: mongodb-20261202-023000.archive.gz is damaged (not a complete gzip archive); nothing was changed',
    );
    const out = await run.exited;
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('is damaged (not a complete gzip archive); nothing was changed');
    expect(out.stderr).toContain('[ERR_RESTORE_FAILED]');
    expect((await orion()).spec!.template.metadata!.annotations ?? {}).toEqual(before);
  }, 120_000);
});

describe('jobOutcome', () => {
  it('is running until the Job has a Complete or Failed condition', () => {
    expect(jobOutcome({ status: { active: 1 } }, []).state).toBe('running');
  });

  it('fails a completed Job whose pod left no result line', () => {
    const job = { status: { conditions: [{ type: 'Complete', status: 'True' }] } } as k8s.V1Job;
    expect(jobOutcome(job, [])).toEqual({
      state: 'failed',
      message: 'the job completed without a result line in its status',
    });
  });
});
