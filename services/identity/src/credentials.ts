/**
 * Where the identity tools find secrets: the environment first, then the cluster's Secrets
 * (read with the current kubeconfig context). Never from git, never from a file of ours.
 */
import * as k8s from '@kubernetes/client-node';

import type { Cluster } from '../../../platform/cluster.js';
import { loadCluster, statusOf } from '../../../platform/cluster.js';
import { identityError } from './errors.js';

/** A key of a Secret in the cluster. */
export interface SecretKeyRef {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
}

/** Options of {@link readSecret}. */
export interface ClusterOptions {
  /** kubeconfig context. @default the current one */
  readonly context?: string;
}

/** Why a Secret could not be read, in words a user can act on. */
function clusterProblem(err: unknown, ref: SecretKeyRef): string {
  const code = statusOf(err);
  if (code === 403) return `RBAC does not let you read Secret ${ref.namespace}/${ref.name} (403)`;
  if (code === 404) return `Secret ${ref.namespace}/${ref.name} does not exist (404)`;
  if (code === 401) return 'the cluster refused your credentials (401)';
  const msg = err instanceof Error ? err.message : String(err);
  return `the cluster could not be reached (${msg.split('\n')[0]})`;
}

/**
 * Reads one key of a Secret from the cluster.
 * @throws PlatformError ERR_CREDENTIALS_MISSING naming the Secret and why it was unreadable.
 */
export async function readSecret(
  ref: SecretKeyRef,
  opts: ClusterOptions = {},
  /** The variables that would have given the value instead, for the message. */
  envNames: readonly string[] = [],
): Promise<string> {
  const unset = envNames.length
    ? ` (and ${envNames.join(' or ')} ${envNames.length > 1 ? 'are' : 'is'} not set)`
    : '';
  const missing = (why: string, cause?: unknown) =>
    identityError(
      'ERR_CREDENTIALS_MISSING',
      `cannot read ${ref.key} of Secret ${ref.namespace}/${ref.name}${unset}: ${why}`,
      cause,
    );
  let cluster: Cluster;
  try {
    cluster = loadCluster(opts.context ? { context: opts.context } : {});
  } catch (err) {
    throw missing((err as Error).message, err);
  }
  let secret: k8s.V1Secret;
  try {
    secret = await cluster.kc
      .makeApiClient(k8s.CoreV1Api)
      .readNamespacedSecret({ name: ref.name, namespace: ref.namespace });
  } catch (err) {
    throw missing(clusterProblem(err, ref), err);
  }
  const value = secret.data?.[ref.key];
  if (value === undefined) throw missing(`the Secret has no key ${ref.key}`);
  return Buffer.from(value, 'base64').toString('utf8');
}

/**
 * A secret from the first environment variable that is set, else from the cluster.
 * @returns the value and where it came from (for progress lines; never the value).
 */
export async function findSecret(
  envNames: readonly string[],
  ref: SecretKeyRef,
  opts: ClusterOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ value: string; source: string }> {
  for (const name of envNames) {
    const v = env[name];
    if (v) return { value: v, source: `$${name}` };
  }
  return {
    value: await readSecret(ref, opts, envNames),
    source: `Secret ${ref.namespace}/${ref.name}`,
  };
}
