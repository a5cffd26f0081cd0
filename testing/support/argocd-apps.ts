/**
 * Test support for the tests that drive the real Argo CD (testing/real/argocd.ts): git in a
 * served clone, the Applications as the API server returns them, and the checks those tests
 * share.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';

import { ARGOCD_NAMESPACE } from '../real/argocd.js';

/** The status fields of an Argo CD Application the tests read. */
export interface ApplicationStatus {
  sourceType?: string;
  sync?: { status?: string; revision?: string };
  health?: { status?: string };
  conditions?: { type: string; message: string }[];
  resources?: {
    kind: string;
    namespace?: string;
    name: string;
    status?: string;
    syncWave?: number;
    /** A hook (run by the sync, not kept in step with git). */
    hook?: boolean;
  }[];
  operationState?: {
    phase?: string;
    message?: string;
    syncResult?: {
      revision?: string;
      resources?: { kind: string; name: string; status?: string; message?: string }[];
    };
  };
}

/** An Argo CD Application as the API server returns it. */
export interface Application extends k8s.KubernetesObject {
  spec: { project: string; source?: { repoURL: string; chart?: string; path?: string } };
  status?: ApplicationStatus;
}

/** Runs git in `cwd`; its trimmed standard output. */
export const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Commits every change in `clone` and pushes it to its origin's `main`; the new commit. */
export function pushAll(clone: string, message: string): string {
  git(clone, 'add', '-A');
  git(clone, 'commit', '-q', '-m', message);
  git(clone, 'push', '-q', 'origin', 'HEAD:main');
  return git(clone, 'rev-parse', 'HEAD');
}

/** One Application of the argocd namespace. */
export async function readApplication(
  custom: k8s.CustomObjectsApi,
  name: string,
): Promise<Application> {
  return (await custom.getNamespacedCustomObject({
    group: 'argoproj.io',
    version: 'v1alpha1',
    namespace: ARGOCD_NAMESPACE,
    plural: 'applications',
    name,
  })) as Application;
}

/** Synced at `revision` by a sync operation that succeeded at that revision. */
export const syncedAt = (revision: string) => (a: Application) =>
  a.status?.sync?.status === 'Synced' &&
  a.status.sync.revision === revision &&
  a.status.operationState?.phase === 'Succeeded' &&
  a.status.operationState.syncResult?.revision === revision;

/** Whether the object is in the API server (any other error than 404 is thrown). */
export async function objectExists(
  objects: k8s.KubernetesObjectApi,
  o: k8s.KubernetesObject,
): Promise<boolean> {
  try {
    await objects.read({
      apiVersion: o.apiVersion!,
      kind: o.kind!,
      metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace },
    });
    return true;
  } catch (err) {
    if (err instanceof k8s.ApiException && err.code === 404) return false;
    throw err;
  }
}

/** Server-side applies `o` as field manager `manager` (as `kubectl apply --server-side`). */
export async function serverSideApply(
  objects: k8s.KubernetesObjectApi,
  o: k8s.KubernetesObject,
  manager: string,
): Promise<void> {
  await objects.patch(o, undefined, undefined, manager, true, k8s.PatchStrategy.ServerSideApply);
}

/**
 * TEST ONLY: marks every unfinished Job in `namespace` succeeded, as the Job controller would
 * once its pod succeeded, and lets a Job deleted in the foreground go, as the garbage
 * collector would once it has no pods (this cluster has no controllers and no kubelet; Argo CD
 * deletes the last hook Job before it creates the next), until stopped.
 */
export function completeHookJobs(
  kc: k8s.KubeConfig,
  namespace: string,
): { stop(): void; count(): number } {
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  let stopped = false;
  const done = new Set<string>();
  const loop = async () => {
    while (!stopped) {
      try {
        for (const job of (await batch.listNamespacedJob({ namespace })).items) {
          if (job.metadata!.deletionTimestamp) {
            if (job.metadata!.finalizers?.length)
              await batch.replaceNamespacedJob({
                name: job.metadata!.name!,
                namespace,
                body: { ...job, metadata: { ...job.metadata, finalizers: [] } },
              });
            continue;
          }
          if (done.has(job.metadata!.uid!)) continue;
          const now = new Date();
          await batch.replaceNamespacedJobStatus({
            name: job.metadata!.name!,
            namespace,
            body: {
              ...job,
              status: {
                startTime: now,
                completionTime: now,
                succeeded: 1,
                conditions: [
                  { type: 'SuccessCriteriaMet', status: 'True', lastTransitionTime: now },
                  { type: 'Complete', status: 'True', lastTransitionTime: now },
                ],
              },
            },
          });
          done.add(job.metadata!.uid!);
        }
      } catch {
        // A Job replaced in between: the next round sees the new one.
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  void loop();
  return {
    stop: () => {
      stopped = true;
    },
    count: () => done.size,
  };
}

/**
 * Argo CD's settings as `argocd/bootstrap.sh` installs them (the chart values synth writes in
 * `<root>/deploy/bootstrap/argocd-values.yaml`), but for two, visibly (TEST ONLY): the
 * reconciliation period is startArgoCd's 5 s instead of 180 s (the tests have no webhook), and
 * the Application health check is left out: it makes the root wait for each wave's
 * Applications to be Healthy, and without kubelets most workloads never are.
 */
export function argoCdTestSettings(root: string): {
  cm: Record<string, string>;
  rbac: Record<string, string>;
  /** The two settings left out, as synth wrote them. */
  left: { period: unknown; health: unknown };
} {
  const values = parse(
    readFileSync(join(root, 'deploy', 'bootstrap', 'argocd-values.yaml'), 'utf8'),
  ) as { configs: { cm: Record<string, unknown>; rbac: Record<string, unknown> } };
  const {
    'timeout.reconciliation': period,
    'resource.customizations.health.argoproj.io_Application': health,
    ...cm
  } = values.configs.cm;
  const strings = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));
  return { cm: strings(cm), rbac: strings(values.configs.rbac), left: { period, health } };
}
