/**
 * `platform backup`, `platform backups` and `platform restore`: run a backup target's script
 * now, in a Job made from its CronJob (the same image, identity, Secret references and
 * volume), wait for it, and report where the backup is (or what was restored) from the
 * result line the script leaves in the container's status.
 *
 * Building the Job and reading its outcome are pure functions (tested on their own); the rest
 * talks to the cluster with the user's kubeconfig. docs/backup.md explains.
 */
import * as k8s from '@kubernetes/client-node';

import type { BackupAction, BackupResult, BackupTargetName } from '../../../platform/backup.js';
import {
  BACKUP_TARGETS,
  CRATEDB_REPOSITORY,
  backupCommand,
  parseBackupResult,
} from '../../../platform/backup.js';
import type { Cluster } from '../../../platform/cluster.js';
import { request, statusOf } from '../../../platform/cluster.js';
import { SERVICES } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import { opsError } from './errors.js';
import { formatDuration } from './wait.js';

/** The label Kubernetes puts on a Job's pods (1.27+). */
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
/** What the Job does, on the Job and its pods. */
export const ACTION_LABEL = 'kitt4sme.io/backup-action';
/** The annotation `kubectl rollout restart` sets; a new value rolls the pods. */
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** The RBAC rules backup and restore need in the namespaces of the databases. */
export const BACKUP_RULES: readonly k8s.V1PolicyRule[] = [
  { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['get'] },
  { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  // restore: restarts the workloads that cache what it replaced
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] },
];

/** `20260102-023000` in UTC. */
export function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** The name of a Job made from a target's CronJob now (at most 63 characters, a label value). */
export function jobName(target: BackupTargetName, action: BackupAction, now: Date): string {
  const verb = action === 'backup' ? 'manual' : action;
  return `${BACKUP_TARGETS[target].cronJob}-${verb}-${stamp(now)}`;
}

/**
 * The Job that runs `action` of a target's script, made from its CronJob as `kubectl create
 * job --from=cronjob/...` makes one: the job template, owned by the CronJob (whose
 * concurrencyPolicy: Forbid then holds the schedule back while it runs). A restore is never
 * retried on its own.
 */
export function jobFromCronJob(
  cronJob: k8s.V1CronJob,
  target: BackupTargetName,
  action: BackupAction,
  opts: { readonly now: Date; readonly backupName?: string },
): k8s.V1Job {
  const template = structuredClone(cronJob.spec?.jobTemplate);
  const pod = template?.spec?.template.spec;
  const container = pod?.containers.find((c) => c.name === 'backup') ?? pod?.containers[0];
  if (!template?.spec || !container)
    throw new TypeError(`CronJob ${cronJob.metadata?.name} has no job template with a container`);
  container.command = backupCommand(target, action, opts.backupName);
  const labels = { ...template.metadata?.labels, [ACTION_LABEL]: action };
  template.spec.template.metadata = {
    ...template.spec.template.metadata,
    labels: { ...template.spec.template.metadata?.labels, [ACTION_LABEL]: action },
  };
  if (action !== 'backup') template.spec.backoffLimit = 0;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(target, action, opts.now),
      namespace: cronJob.metadata?.namespace,
      labels,
      annotations: {
        ...template.metadata?.annotations,
        'cronjob.kubernetes.io/instantiate': 'manual',
      },
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'CronJob',
          name: cronJob.metadata!.name!,
          uid: cronJob.metadata!.uid!,
          controller: true,
        },
      ],
    },
    spec: template.spec,
  };
}

/** How a Job ended, or that it has not. */
export interface JobOutcome {
  readonly state: 'running' | 'succeeded' | 'failed';
  /** The script's result line, when it succeeded. */
  readonly result?: BackupResult;
  /** Why it failed: the Job's reason and the end of the container's log. */
  readonly message?: string;
}

/** Reads a Job's outcome from its conditions and its pods' termination messages. */
export function jobOutcome(job: k8s.V1Job, pods: readonly k8s.V1Pod[]): JobOutcome {
  const condition = (type: string) =>
    job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  const terminated = pods
    .flatMap((p) => p.status?.containerStatuses ?? [])
    .map((s) => s.state?.terminated)
    .filter((t): t is k8s.V1ContainerStateTerminated => t !== undefined)
    .sort((a, b) => String(a.finishedAt ?? '').localeCompare(String(b.finishedAt ?? '')));
  const last = terminated.at(-1);
  if (condition('Complete')) {
    const result = terminated
      .filter((t) => t.exitCode === 0)
      .map((t) => parseBackupResult(t.message))
      .find((r) => r !== undefined);
    return result
      ? { state: 'succeeded', result }
      : { state: 'failed', message: 'the job completed without a result line in its status' };
  }
  const failed = condition('Failed');
  if (failed) {
    const why = [failed.reason, failed.message].filter(Boolean).join(': ');
    const log = last?.message?.trim();
    return { state: 'failed', message: `${why || 'the job failed'}${log ? `\n${log}` : ''}` };
  }
  return { state: 'running' };
}

/** Where a target's backups are, for people and for --json. */
export interface BackupLocation {
  readonly namespace: string;
  /** The PersistentVolumeClaim they are on. */
  readonly volume: string;
  /** Files on the volume, or snapshots in CrateDB's repository on it. */
  readonly kind: 'file' | 'snapshot';
  /** CrateDB's repository. */
  readonly repository?: string;
}

/** Where a target's backups are kept. */
export function backupLocation(ctx: PlatformContext, target: BackupTargetName): BackupLocation {
  const t = BACKUP_TARGETS[target];
  const namespace = ctx.componentNamespace(t.component);
  return t.script.interpreter === 'python3'
    ? { namespace, volume: t.volume, kind: 'snapshot', repository: CRATEDB_REPOSITORY.name }
    : { namespace, volume: t.volume, kind: 'file' };
}

/** One line saying where a backup is. */
export function describeLocation(loc: BackupLocation, name: string): string {
  return loc.kind === 'snapshot'
    ? `snapshot ${name} in CrateDB repository ${loc.repository} (volume ${loc.volume}, namespace ${loc.namespace})`
    : `file ${name} on volume ${loc.volume} (namespace ${loc.namespace})`;
}

/** What a restore of a target replaces and keeps, for the confirmation it asks for. */
export function restorePlan(ctx: PlatformContext, target: BackupTargetName, from: string): string {
  const t = BACKUP_TARGETS[target];
  const ns = ctx.componentNamespace(t.component);
  const restarted = t.restartAfterRestore.map(
    (id) => SERVICES[id as keyof typeof SERVICES]?.name ?? id,
  );
  return [
    `restore ${target} (${ns}) from ${from === 'latest' ? 'its newest backup' : from}:`,
    `  overwrites: ${t.overwrites}`,
    `  keeps: ${t.keeps}`,
    `  then restarts: ${restarted.join(', ')} (they cache what the database holds)`,
    `  anything written to ${target} since that backup is lost; take a backup first (npm run platform -- backup ${target}) to keep a way back`,
  ].join('\n');
}

/** Options of {@link runJob}. */
export interface RunJobOptions {
  readonly timeoutMs: number;
  /** @default 2000 */
  readonly intervalMs?: number;
  readonly progress?: (line: string) => void;
  /** @default new Date() */
  readonly now?: Date;
  readonly backupName?: string;
}

/** What one run of a target's script did. */
export interface JobRun {
  readonly target: BackupTargetName;
  readonly action: BackupAction;
  readonly namespace: string;
  readonly job: string;
  readonly outcome: JobOutcome;
}

/**
 * Creates a Job from the target's CronJob and waits until it succeeds or fails.
 * @throws PlatformError ERR_BACKUP_NOT_DEPLOYED when the CronJob is not there; a cluster
 *   error; ERR_JOB_TIMEOUT when the Job has not ended in time (it is left running).
 */
export async function runJob(
  cluster: Cluster,
  ctx: PlatformContext,
  target: BackupTargetName,
  action: BackupAction,
  opts: RunJobOptions,
): Promise<JobRun> {
  const t = BACKUP_TARGETS[target];
  const namespace = ctx.componentNamespace(t.component);
  const batch = cluster.kc.makeApiClient(k8s.BatchV1Api);
  const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  const progress = opts.progress ?? (() => {});
  let cronJob: k8s.V1CronJob;
  try {
    cronJob = await request(cluster, { verb: 'get', resource: 'cronjobs.batch', namespace }, () =>
      batch.readNamespacedCronJob({ name: t.cronJob, namespace }),
    );
  } catch (err) {
    if (statusOf((err as { cause?: unknown }).cause) === 404)
      throw opsError(
        'ERR_BACKUP_NOT_DEPLOYED',
        `there is no CronJob ${t.cronJob} in namespace ${namespace} of context ${cluster.context}`,
        err,
      );
    throw err;
  }
  const job = jobFromCronJob(cronJob, target, action, {
    now: opts.now ?? new Date(),
    ...(opts.backupName ? { backupName: opts.backupName } : {}),
  });
  const name = job.metadata!.name!;
  await request(cluster, { verb: 'create', resource: 'jobs.batch', namespace }, () =>
    batch.createNamespacedJob({ namespace, body: job }),
  );
  progress(
    `job ${namespace}/${name} started (${backupCommand(target, action, opts.backupName).join(' ')})`,
  );
  const started = Date.now();
  let heartbeat = started;
  for (;;) {
    const [current, pods] = await Promise.all([
      request(cluster, { verb: 'get', resource: 'jobs.batch', namespace }, () =>
        batch.readNamespacedJob({ name, namespace }),
      ),
      request(cluster, { verb: 'list', resource: 'pods', namespace }, () =>
        core.listNamespacedPod({ namespace, labelSelector: `${JOB_NAME_LABEL}=${name}` }),
      ),
    ]);
    const outcome = jobOutcome(current, pods.items);
    if (outcome.state !== 'running') return { target, action, namespace, job: name, outcome };
    const elapsed = Date.now() - started;
    if (elapsed > opts.timeoutMs)
      throw opsError(
        'ERR_JOB_TIMEOUT',
        `job ${namespace}/${name} has not ended after ${formatDuration(elapsed)}; it goes on running`,
      );
    if (Date.now() - heartbeat >= 30_000) {
      heartbeat = Date.now();
      progress(`[${formatDuration(elapsed)}] job ${name} still running`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 2000));
  }
}

/**
 * Rolls the Deployments of components (as `kubectl rollout restart` does: a new
 * restartedAt annotation on the pod template); returns their names. Argo CD leaves the
 * annotation alone: it is not in deploy/.
 */
export async function restartWorkloads(
  cluster: Cluster,
  ctx: PlatformContext,
  ids: readonly string[],
  now: Date = new Date(),
): Promise<string[]> {
  const apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
  const done: string[] = [];
  for (const id of ids) {
    const svc = SERVICES[id as keyof typeof SERVICES];
    if (!svc) continue;
    const namespace = ctx.componentNamespace(id as keyof typeof SERVICES);
    const body = {
      spec: { template: { metadata: { annotations: { [RESTARTED_AT]: now.toISOString() } } } },
    };
    await request(cluster, { verb: 'patch', resource: 'deployments.apps', namespace }, () =>
      apps.patchNamespacedDeployment(
        { name: svc.name, namespace, body },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
      ),
    );
    done.push(`${namespace}/${svc.name}`);
  }
  return done;
}
