/**
 * The fleet service's observer (issue 20): reads what runs from Kubernetes — the nodes, their
 * leases in kube-node-lease, and the fleet's Deployments and pods of the agents namespaces
 * asked for — and hands it to the judge (platform/fleet/judge.ts) with the records of a
 * snapshot. A fixed number of list calls per status (2 + 2 per tenant, in parallel), never one
 * per target, so a status of 1 000 instances costs what a status of ten does plus the bytes.
 * Also reads the Argo CD Applications' sync and health for the platform admins.
 *
 * The lists are read as JSON through the kubeconfig's credentials (platform/cluster.ts), over
 * one kept-alive connection, without client-node's model deserializer. NOTE (1)
 */
import * as http from 'node:http';
import * as https from 'node:https';

import type { Cluster, RequestTarget } from '../../../platform/cluster.js';
import { request } from '../../../platform/cluster.js';
import { FLEET_LABELS } from '../../../platform/fleet/identity.js';
import type {
  ObservedDeployment,
  ObservedLease,
  ObservedNode,
  ObservedPod,
} from '../../../platform/fleet/judge.js';
import { judgeFleet } from '../../../platform/fleet/judge.js';
import { agentsNamespace } from '../../../platform/fleet/resolve.js';
import type { FleetStatus, Snapshot, StatusSource } from './contract.js';

/** The namespace of the nodes' leases (the kubelet renews one per node). */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** The RBAC rules the observer needs (read-only), for the fleet service's ClusterRole. */
export const FLEET_STATUS_RBAC = [
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
  {
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    verbs: ['get', 'list', 'watch'],
    namespace: NODE_LEASE_NAMESPACE,
  },
  {
    apiGroups: ['apps'],
    resources: ['deployments'],
    verbs: ['get', 'list', 'watch'],
    namespace: 'agents-<tenant>',
  },
  {
    apiGroups: [''],
    resources: ['pods'],
    verbs: ['get', 'list', 'watch'],
    namespace: 'agents-<tenant>',
  },
  {
    apiGroups: ['argoproj.io'],
    resources: ['applications'],
    verbs: ['get', 'list', 'watch'],
    namespace: 'argocd',
  },
] as const;

/** An Argo CD Application's sync and health, as the platform admins' endpoint shows it. */
export interface ApplicationSummary {
  readonly name: string;
  /** `Synced`, `OutOfSync` or `Unknown`. */
  readonly sync: string;
  /** The git revision it is synced to, when known. */
  readonly revision?: string;
  /** `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`. */
  readonly health: string;
  readonly healthMessage?: string;
  /** The last sync operation's phase and message, when there was one. */
  readonly operation?: { readonly phase: string; readonly message?: string };
  /** The Application's conditions, as `<type>: <message>` (e.g. `ComparisonError: …`). */
  readonly conditions: readonly string[];
}

/** Options of {@link KubeStatusSource}. */
export interface KubeStatusSourceOptions {
  readonly cluster: Cluster;
  /**
   * The platform's tenants: their agents namespaces are read when a status asks for no tenant
   * (with the tenants of the snapshot's records), so the workloads of a tenant whose records
   * are all gone still show as removed.
   */
  readonly tenants: readonly string[];
  /** The namespace of Argo CD's Applications. @default 'argocd' */
  readonly argocdNamespace?: string;
  /** The clock. @default () => new Date() */
  readonly now?: () => Date;
}

/** A list the API server answered. */
interface List<T> {
  readonly items?: T[];
}

/** What client-node's ApiException carries, so clusterError() reads a refusal the same way. */
class ListError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
  ) {
    super(`HTTP ${code}`);
  }
}

/** Reads what runs in a cluster and judges it against the records. */
export class KubeStatusSource implements StatusSource {
  private readonly cluster: Cluster;
  private readonly tenants: readonly string[];
  private readonly argocdNamespace: string;
  private readonly now: () => Date;
  private agent: http.Agent | undefined;

  constructor(opts: KubeStatusSourceOptions) {
    this.cluster = opts.cluster;
    this.tenants = opts.tenants;
    this.argocdNamespace = opts.argocdNamespace ?? 'argocd';
    this.now = opts.now ?? (() => new Date());
  }

  async status(
    snapshot: Snapshot,
    opts: { readonly tenants?: readonly string[] } = {},
  ): Promise<FleetStatus> {
    const tenants = opts.tenants ?? [
      ...new Set([...this.tenants, ...snapshot.fleet.agents.map((a) => a.tenant)]),
    ];
    const namespaces = [...new Set(tenants.map(agentsNamespace))].sort();
    const selector = `?labelSelector=${encodeURIComponent(FLEET_LABELS.agentId)}`;
    const [nodes, leases, perNamespace] = await Promise.all([
      this.list<ObservedNode>({ verb: 'list', resource: 'nodes' }, '/api/v1/nodes'),
      this.list<ObservedLease>(
        { verb: 'list', resource: 'leases.coordination.k8s.io', namespace: NODE_LEASE_NAMESPACE },
        `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`,
      ),
      Promise.all(
        namespaces.map((namespace) =>
          Promise.all([
            this.list<ObservedDeployment>(
              { verb: 'list', resource: 'deployments.apps', namespace },
              `/apis/apps/v1/namespaces/${namespace}/deployments${selector}`,
            ),
            this.list<ObservedPod>(
              { verb: 'list', resource: 'pods', namespace },
              `/api/v1/namespaces/${namespace}/pods${selector}`,
            ),
          ]),
        ),
      ),
    ]);
    // The moment judged is after every answer: nothing seen is younger than it.
    const now = this.now();
    const judged = judgeFleet(
      snapshot.fleet,
      {
        now,
        nodes,
        leases,
        deployments: perNamespace.flatMap(([d]) => d),
        pods: perNamespace.flatMap(([, p]) => p),
      },
      opts.tenants ? { tenants: opts.tenants } : {},
    );
    return {
      commit: snapshot.commit,
      observedAt: now.toISOString(),
      hosts: judged.hosts,
      targets: judged.targets,
    };
  }

  /** The Argo CD Applications' sync and health, sorted by name. */
  async readApplications(): Promise<ApplicationSummary[]> {
    const namespace = this.argocdNamespace;
    const apps = await this.list<ArgoApplication>(
      { verb: 'list', resource: 'applications.argoproj.io', namespace },
      `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/applications`,
    );
    return apps
      .map((a): ApplicationSummary => {
        const s = a.status ?? {};
        const op = s.operationState;
        return {
          name: a.metadata?.name ?? '',
          sync: s.sync?.status ?? 'Unknown',
          ...(s.sync?.revision ? { revision: s.sync.revision } : {}),
          health: s.health?.status ?? 'Unknown',
          ...(s.health?.message ? { healthMessage: s.health.message } : {}),
          ...(op?.phase
            ? { operation: { phase: op.phase, ...(op.message ? { message: op.message } : {}) } }
            : {}),
          conditions: (s.conditions ?? []).map((c) => `${c.type}: ${c.message ?? ''}`),
        };
      })
      .sort((x, y) => x.name.localeCompare(y.name));
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  /** One list call: its items, or a documented cluster error (platform/cluster.ts). */
  private list<T>(target: RequestTarget, path: string): Promise<T[]> {
    return request(this.cluster, target, async () => {
      const body = await this.get(path);
      return (JSON.parse(body) as List<T>).items ?? [];
    });
  }

  private async get(path: string): Promise<string> {
    const url = new URL(path, this.cluster.server.replace(/\/?$/, '/'));
    const opts: https.RequestOptions = {
      method: 'GET',
      headers: { accept: 'application/json' },
    };
    // The kubeconfig's credentials: bearer token (refreshed by its exec plugin), client
    // certificate, CA, TLS verification.
    await this.cluster.kc.applyToHTTPSOptions(opts);
    const secure = url.protocol === 'https:';
    this.agent ??= secure
      ? new https.Agent({
          keepAlive: true,
          ...(opts.ca ? { ca: opts.ca } : {}),
          ...(opts.cert ? { cert: opts.cert } : {}),
          ...(opts.key ? { key: opts.key } : {}),
          ...(opts.rejectUnauthorized !== undefined
            ? { rejectUnauthorized: opts.rejectUnauthorized }
            : {}),
          ...(opts.servername ? { servername: opts.servername } : {}),
        })
      : new http.Agent({ keepAlive: true });
    const timeoutMs = this.cluster.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, { ...opts, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(text);
          else reject(new ListError(status, text));
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }
}

/** The fields of an Argo CD Application read here. */
interface ArgoApplication {
  readonly metadata?: { readonly name?: string };
  readonly status?: {
    readonly sync?: { readonly status?: string; readonly revision?: string };
    readonly health?: { readonly status?: string; readonly message?: string };
    readonly conditions?: readonly { readonly type: string; readonly message?: string }[];
    readonly operationState?: { readonly phase?: string; readonly message?: string };
  };
}

// NOTE
// 1. Raw lists. client-node 1.4's typed calls run every object through its model deserializer
//    (ObjectSerializer: one walk per field, timestamps into Dates) and make a new TLS agent per
//    call. Measured on this 2-core machine for a PodList of 1 000 agent pods (2.9 MB of JSON):
//    JSON.parse 9–45 ms, then the deserializer another 22–65 ms, for every status call. The
//    judge reads a handful of fields and takes RFC 3339 strings as they come, so the lists are
//    read as JSON with the kubeconfig's own credentials (KubeConfig.applyToHTTPSOptions: token,
//    exec plugin, client certificate, CA) over one kept-alive agent; refusals keep
//    client-node's error shape (code, body) so platform/cluster.ts's clusterError() names them
//    (401, 403, unreachable). Lists carry no resourceVersion: the API server
//    (ConsistentListFromCache, on by default since Kubernetes 1.31) serves such a consistent
//    list from its watch cache, so a status never shows less than an earlier write, at the
//    cache's price.
//    See https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-get-and-list
