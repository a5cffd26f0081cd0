/**
 * Access to a cluster for the tools: which kubeconfig context, and what a failed request
 * means in words a user can act on (no context, unreachable, 401, RBAC, a kind not served).
 */
import * as k8s from '@kubernetes/client-node';

import type { ErrorCatalogue } from './errors.js';
import { PlatformError, catalogueError } from './errors.js';

/** The errors of cluster access, documented in docs/errors.md. */
export const CLUSTER_ERRORS = {
  ERR_KUBECONFIG: {
    problem:
      'there is no usable kubeconfig, it has no current context, or the context given with --context does not exist',
    fix: 'start a cluster (minikube/up.sh) or select one: `kubectl config get-contexts`, then `kubectl config use-context <name>` or --context <name>; KUBECONFIG may point at another file',
  },
  ERR_CLUSTER_CREDENTIALS: {
    problem: 'the API server refused the credentials of the kubeconfig context (401)',
    fix: 'renew the credentials (for minikube: `minikube update-context -p kitt4sme`; for a cloud cluster: its login command), then run the command again',
  },
  ERR_CLUSTER_FORBIDDEN: {
    problem: 'RBAC does not let the kubeconfig user do what the command needs (403)',
    fix: 'use a context with more rights, or ask a cluster admin for the rules `npm run platform -- rbac` prints (read-only: get, list and watch)',
  },
  ERR_CRD_MISSING: {
    problem:
      'the cluster does not serve a kind the command reads or an object of deploy/ uses: its CustomResourceDefinition is not installed',
    fix: 'for Argo CD’s Application kind run argocd/bootstrap.sh (minikube/up.sh runs it); Istio’s kinds arrive with the istio-base Application, so validate after it has synced',
  },
} as const satisfies ErrorCatalogue;
export type ClusterErrorCode = keyof typeof CLUSTER_ERRORS;

const clusterAccessError = (code: ClusterErrorCode, message: string, cause?: unknown) =>
  catalogueError(CLUSTER_ERRORS, code, message, cause);

/** A kubeconfig context, ready to make API clients. */
export interface Cluster {
  readonly kc: k8s.KubeConfig;
  readonly context: string;
  readonly server: string;
  readonly user: string;
  /** Milliseconds a single request may take before the cluster counts as unreachable. */
  readonly requestTimeoutMs: number;
}

/** Options of {@link loadCluster}. */
export interface ClusterOptions {
  /** kubeconfig context. @default the current one */
  readonly context?: string;
  /** kubeconfig file. @default $KUBECONFIG or ~/.kube/config */
  readonly kubeconfig?: string;
  /** @default 10 000 */
  readonly requestTimeoutMs?: number;
}

/**
 * Loads the kubeconfig and selects the context.
 * @throws PlatformError ERR_KUBECONFIG when there is no usable file, context or cluster.
 */
export function loadCluster(opts: ClusterOptions = {}): Cluster {
  const kc = new k8s.KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw clusterAccessError(
      'ERR_KUBECONFIG',
      `cannot read the kubeconfig ${opts.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config'} (${(err as Error).message.split('\n')[0]})`,
      err,
    );
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw clusterAccessError(
        'ERR_KUBECONFIG',
        `the kubeconfig has no context "${opts.context}"${known.length ? ` (it has ${known.join(', ')})` : ''}`,
      );
    }
    kc.setCurrentContext(opts.context);
  }
  const context = kc.getCurrentContext();
  const cluster = kc.getCurrentCluster();
  // With no kubeconfig at all (and outside a pod), loadFromDefault invents this context.
  const invented = context === 'loaded-context' && cluster?.server === 'http://localhost:8080';
  if (invented)
    throw clusterAccessError(
      'ERR_KUBECONFIG',
      'no kubeconfig: KUBECONFIG is not set and ~/.kube/config does not exist, so no cluster is selected',
    );
  if (!context || !kc.getContextObject(context) || !cluster)
    throw clusterAccessError(
      'ERR_KUBECONFIG',
      'no current kubeconfig context: no cluster is selected (KUBECONFIG, ~/.kube/config)',
    );
  return {
    kc,
    context,
    server: cluster.server,
    user: kc.getCurrentUser()?.name ?? '(none)',
    requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
  };
}

/** What a request was for, to name it in errors: `list applications.argoproj.io in argocd`. */
export interface RequestTarget {
  readonly verb: string;
  /** Plural resource, with its group for non-core kinds: `applications.argoproj.io`. */
  readonly resource: string;
  readonly namespace?: string;
}

function describe(t: RequestTarget): string {
  return `${t.verb} ${t.resource}${t.namespace ? ` in namespace ${t.namespace}` : ' (cluster-wide)'}`;
}

/** The fields of a Kubernetes Status the tools read. */
export interface StatusBody {
  readonly message?: string;
  readonly reason?: string;
  readonly details?: { readonly kind?: string };
}

/**
 * The Kubernetes Status in a client-node ApiException's body (a JSON string or an object);
 * a body that is not JSON (a proxy's error page) becomes the message, cut at 200 characters.
 * Empty when there is none.
 */
export function statusBody(err: unknown): StatusBody {
  let body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      return text ? { message: text.slice(0, 200) } : {};
    }
  }
  return body !== null && typeof body === 'object' ? (body as StatusBody) : {};
}

/** The HTTP status of a client-node ApiException, or undefined for a network error. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Maps a failed request to a documented error: 401 credentials, 403 RBAC (with the server's
 * sentence naming user, verb and resource), 404 on a list (the kind is not served),
 * anything else without a status the cluster being unreachable.
 */
export function clusterError(err: unknown, cluster: Cluster, target: RequestTarget): PlatformError {
  if (err instanceof PlatformError) return err;
  const status = statusOf(err);
  const m = statusBody(err).message;
  const said = typeof m === 'string' && m ? m : undefined;
  if (status === 401)
    return clusterAccessError(
      'ERR_CLUSTER_CREDENTIALS',
      `the API server of context ${cluster.context} refused the credentials of user ${cluster.user} (401) to ${describe(target)}`,
      err,
    );
  if (status === 403)
    return clusterAccessError(
      'ERR_CLUSTER_FORBIDDEN',
      `RBAC denies ${describe(target)} to the user of context ${cluster.context}${said ? `: ${said}` : ''}`,
      err,
    );
  if (status === 404 && target.verb === 'list')
    return clusterAccessError(
      'ERR_CRD_MISSING',
      `the cluster does not serve ${target.resource}: its CustomResourceDefinition is not installed (404 to ${describe(target)})`,
      err,
    );
  if (status !== undefined)
    return new PlatformError(
      'ERR_CLUSTER_UNREACHABLE',
      `the API server answered ${status} to ${describe(target)}${said ? `: ${said}` : ''}`,
      'check the cluster’s health (`kubectl get --raw /readyz`), then run the command again',
      { cause: err },
    );
  const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new PlatformError(
    'ERR_CLUSTER_UNREACHABLE',
    `cannot reach the API server ${cluster.server} of context ${cluster.context} (${msg})`,
    'start the cluster (minikube/up.sh) or select the right one (`kubectl config use-context`, or --context), then run the command again',
    { cause: err },
  );
}

/**
 * Settles with `call()`, or rejects with a plain Error after the cluster's time limit. The
 * request itself is not aborted (client-node 1.4 takes no signal), only no longer awaited.
 */
export async function withTimeout<T>(cluster: Cluster, call: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${cluster.requestTimeoutMs} ms`)),
      cluster.requestTimeoutMs,
    );
  });
  try {
    return await Promise.race([call(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one request with the cluster's time limit; failures become {@link clusterError}s. */
export async function request<T>(
  cluster: Cluster,
  target: RequestTarget,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await withTimeout(cluster, call);
  } catch (err) {
    throw clusterError(err, cluster, target);
  }
}
