/**
 * Validation of manifests by a real kube-apiserver: each object is created with
 * `dryRun=All&fieldValidation=Strict`, so the server checks it against the schema it enforces
 * (the built-in types, and the upstream Argo CD and Istio CRDs with their CEL rules) and
 * refuses any field it does not know, at any depth, and stores nothing. Namespaces are created
 * for real first, since the server refuses objects in a namespace that does not exist.
 */
import { apiRequest } from '../real/kube-apiserver.js';
import type { KubeApiserver } from '../real/kube-apiserver.js';

/** A problem the server found in one object. */
export interface ServerIssue {
  /** `Kind/namespace/name`. */
  readonly object: string;
  /** The HTTP status (400 bad request, 422 invalid, 404 unknown kind...). */
  readonly status: number;
  readonly message: string;
}

interface Obj {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

/** A resource of an API group version's discovery document. */
interface Resource {
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

const label = (o: Obj) =>
  `${o.kind}/${o.metadata?.namespace ?? '-'}/${o.metadata?.name ?? '(no name)'}`;

/** One request to the apiserver as `admin` (a JSON POST when `body` is given). */
function call(
  server: KubeApiserver,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  const token = server.kubeConfig('admin').getCurrentUser()?.token ?? '';
  return apiRequest(server.url, path, token, { body, timeoutMs: 10_000 });
}

/**
 * Has `server` validate every object strictly; returns one issue per refused object (empty
 * when all pass). Namespace objects are created for real; nothing else is stored.
 */
export async function validateOnServer(
  server: KubeApiserver,
  objects: readonly Obj[],
): Promise<ServerIssue[]> {
  const served = new Map<string, Promise<readonly Resource[]>>();
  const resourceOf = async (apiVersion: string, kind: string) => {
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    if (!served.has(base))
      served.set(
        base,
        call(server, base).then((r) =>
          r.status === 200 ? (JSON.parse(r.body) as { resources: Resource[] }).resources : [],
        ),
      );
    return (await served.get(base)!).find((r) => r.kind === kind && !r.name.includes('/'));
  };
  const issues: ServerIssue[] = [];
  const namespaces = objects.filter((o) => o.apiVersion === 'v1' && o.kind === 'Namespace');
  const rest = objects.filter((o) => !namespaces.includes(o));
  for (const o of [...namespaces, ...rest]) {
    const apiVersion = o.apiVersion ?? '';
    const resource = await resourceOf(apiVersion, o.kind ?? '');
    if (!resource) {
      issues.push({
        object: label(o),
        status: 404,
        message: `the server serves no ${apiVersion} ${o.kind}`,
      });
      continue;
    }
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const scope =
      resource.namespaced && o.metadata?.namespace
        ? `/namespaces/${encodeURIComponent(o.metadata.namespace)}`
        : '';
    const dryRun = o.kind === 'Namespace' ? '' : 'dryRun=All&';
    const path = `${base}${scope}/${resource.name}?${dryRun}fieldValidation=Strict`;
    const got = await call(server, path, o);
    // A namespace another run created already is fine.
    if (got.status === 409 && o.kind === 'Namespace') continue;
    if (got.status < 200 || got.status > 299) {
      let message = got.body;
      try {
        message = (JSON.parse(got.body) as { message?: string }).message ?? got.body;
      } catch {
        // not JSON: keep the body
      }
      issues.push({ object: label(o), status: got.status, message });
    }
  }
  return issues;
}
