/**
 * `platform validate`: a server-side dry-run apply of every object of deploy/ against a
 * cluster, so the API server itself (its built-in schemas, the installed CRDs' schemas and
 * CEL rules, admission) judges the manifests before Argo CD does. Nothing is changed.
 */
import * as k8s from '@kubernetes/client-node';

import type { Cluster } from '../../../platform/cluster.js';
import { clusterError, statusBody, statusOf, withTimeout } from '../../../platform/cluster.js';
import type { DeployObject } from './deploy.js';

/** The field manager of the dry-run, so it never looks like Argo CD's own. */
export const FIELD_MANAGER = 'kitt4sme-validate';

/** What the server said about one object. */
export interface ValidationResult {
  readonly file: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  /** `unchecked`: the server could not judge it yet (kind not served, namespace missing). */
  readonly outcome: 'accepted' | 'rejected' | 'unchecked';
  readonly reason?: string;
}

/**
 * Dry-run applies each object (server-side apply, `dryRun=All`, forced, as Argo CD's
 * server-side sync would) and sorts the answers into accepted, rejected and unchecked.
 * @throws PlatformError for 401/403 and an unreachable server: then no answer means anything.
 */
export async function validateDeploy(
  cluster: Cluster,
  objects: readonly DeployObject[],
  opts: { concurrency?: number; progress?: (done: number, total: number) => void } = {},
): Promise<ValidationResult[]> {
  const api = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  const results: ValidationResult[] = new Array<ValidationResult>(objects.length);
  let next = 0;
  let done = 0;
  const one = async (i: number) => {
    const { file, object } = objects[i]!;
    const base = {
      file,
      kind: object.kind!,
      name: object.metadata.name,
      ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
    };
    try {
      await withTimeout(cluster, () =>
        api.patch(object, undefined, 'All', FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply),
      );
      results[i] = { ...base, outcome: 'accepted' };
    } catch (err) {
      const status = statusOf(err);
      const body = statusBody(err);
      const message = body.message ?? (err instanceof Error ? err.message : String(err));
      const errText = err instanceof Error ? err.message : '';
      // Discovery: an unknown kind in a served group, or a group/version not served at all.
      if (
        /^Unrecognized API version and kind/.test(errText) ||
        (status === 404 && /^Failed to fetch resource metadata/.test(errText))
      )
        results[i] = {
          ...base,
          outcome: 'unchecked',
          reason: `the cluster does not serve ${object.apiVersion} ${object.kind} (its CRD is not installed yet)`,
        };
      else if (status === 404 && body.details?.kind === 'namespaces')
        results[i] = {
          ...base,
          outcome: 'unchecked',
          reason: `namespace ${object.metadata.namespace} does not exist yet`,
        };
      else if (
        status !== undefined &&
        status !== 401 &&
        status !== 403 &&
        // Server-side apply answers a field of the wrong type with a 500. NOTE (1)
        (status < 500 || /failed to create typed patch object/.test(message))
      )
        results[i] = { ...base, outcome: 'rejected', reason: `${status} ${message}` };
      else
        throw clusterError(err, cluster, {
          verb: 'apply (dry-run)',
          resource: `${object.kind} ${object.metadata.name}`,
          ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
        });
    }
    opts.progress?.(++done, objects.length);
  };
  const worker = async () => {
    while (next < objects.length) await one(next++);
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  return results;
}

// NOTE (1) A value of the wrong type (a string where the schema says boolean) fails while the
// apiserver builds the typed patch object, before validation, and Kubernetes reports that as
// an internal error: "failed to create typed patch object (...): .spec...: expected boolean".
// It is a rejection of the object all the same; other 500s still mean the server is unwell.
