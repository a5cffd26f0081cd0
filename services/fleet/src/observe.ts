/**
 * The fleet service's observer (issue 20): reads what runs from Kubernetes — the nodes, their
 * leases in kube-node-lease, and the fleet's Deployments and pods of the agents namespaces
 * asked for — and hands it to the judge (platform/fleet/judge.ts) with the records of a
 * snapshot. A fixed number of list calls per status (2 + 2 per tenant, in parallel), never one
 * per target; or, with `watch: true`, none: the same lists kept up to date by watches, so a
 * status of 1 000 instances is the judge's work alone. NOTE (2)
 * Also reads the Argo CD Applications' sync and health for the platform admins.
 *
 * The lists are read as JSON through the kubeconfig's credentials (platform/cluster.ts), over
 * one kept-alive connection, without client-node's model deserializer. NOTE (1)
 */
import * as http from 'node:http';
import * as https from 'node:https';

import * as k8s from '@kubernetes/client-node';

import type { Cluster, RequestTarget } from '../../../platform/cluster.js';
import { request } from '../../../platform/cluster.js';
import { FLEET_LABELS } from '../../../platform/fleet/identity.js';
import type {
  ObservedDeployment,
  ObservedLease,
  ObservedNode,
  ObservedPod,
  Observation,
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
  /**
   * Serve statuses from watches of the platform tenants' objects ({@link KubeStatusSource.start})
   * instead of listing them on every call. NOTE (2) @default false
   */
  readonly watch?: boolean;
}

/** A list the API server answered. */
interface List<T> {
  readonly metadata?: { readonly resourceVersion?: string };
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
  private readonly cache: WatchCache | undefined;

  constructor(opts: KubeStatusSourceOptions) {
    this.cluster = opts.cluster;
    this.tenants = opts.tenants;
    this.argocdNamespace = opts.argocdNamespace ?? 'argocd';
    this.now = opts.now ?? (() => new Date());
    this.cache = opts.watch
      ? new WatchCache(this.cluster.kc, this.sources(this.tenants))
      : undefined;
  }

  /**
   * Starts the watches (with `watch: true`): resolves once each has listed and is watching.
   * Until then, and while any watch is broken, statuses list as without them.
   */
  async start(): Promise<void> {
    await this.cache?.start();
  }

  /** Whether statuses are served from the watches now (every watch listed and watching). */
  get watching(): boolean {
    return this.cache?.healthy ?? false;
  }

  /** The lists a status reads: nodes, leases, and per agents namespace Deployments and pods. */
  private sources(tenants: readonly string[]): Source[] {
    const namespaces = [...new Set(tenants.map(agentsNamespace))].sort();
    const selector = FLEET_LABELS.agentId;
    const sources: Omit<Source, 'list'>[] = [
      { key: 'nodes', target: { verb: 'list', resource: 'nodes' }, path: '/api/v1/nodes' },
      {
        key: 'leases',
        target: {
          verb: 'list',
          resource: 'leases.coordination.k8s.io',
          namespace: NODE_LEASE_NAMESPACE,
        },
        path: `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`,
      },
      ...namespaces.flatMap((namespace): Omit<Source, 'list'>[] => [
        {
          key: 'deployments',
          namespace,
          target: { verb: 'list', resource: 'deployments.apps', namespace },
          path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
          labelSelector: selector,
        },
        {
          key: 'pods',
          namespace,
          target: { verb: 'list', resource: 'pods', namespace },
          path: `/api/v1/namespaces/${namespace}/pods`,
          labelSelector: selector,
        },
      ]),
    ];
    return sources.map((src) => ({
      ...src,
      list: () =>
        this.listObject(
          src.target,
          `${src.path}${src.labelSelector ? `?labelSelector=${encodeURIComponent(src.labelSelector)}` : ''}`,
        ),
    }));
  }

  async status(
    snapshot: Snapshot,
    opts: { readonly tenants?: readonly string[] } = {},
  ): Promise<FleetStatus> {
    const observation = await this.observe(
      opts.tenants ?? [
        ...new Set([...this.tenants, ...snapshot.fleet.agents.map((a) => a.tenant)]),
      ],
    );
    const judged = judgeFleet(
      snapshot.fleet,
      observation,
      opts.tenants ? { tenants: opts.tenants } : {},
    );
    return {
      commit: snapshot.commit,
      observedAt: observation.now.toISOString(),
      hosts: judged.hosts,
      targets: judged.targets,
    };
  }

  /**
   * What runs: the nodes, their leases, and the fleet's Deployments and pods of these tenants'
   * agents namespaces, read in 2 + 2 per tenant list calls at once; `now` is the clock after
   * the last answer, so nothing seen is younger than the moment judged.
   */
  async observe(tenants: readonly string[]): Promise<Observation> {
    const namespaces = new Set(tenants.map(agentsNamespace));
    const cached = this.cache?.read(namespaces);
    const lists =
      cached ??
      (await Promise.all(
        this.sources(tenants).map(async (src) => ({
          key: src.key,
          items: (await src.list()).items ?? [],
        })),
      ));
    const of = <T>(key: Source['key']) =>
      lists.filter((l) => l.key === key).flatMap((l) => l.items as T[]);
    return {
      now: this.now(),
      nodes: of<ObservedNode>('nodes'),
      leases: of<ObservedLease>('leases'),
      deployments: of<ObservedDeployment>('deployments'),
      pods: of<ObservedPod>('pods'),
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

  /** Stops the watches and closes the kept-alive connections. */
  close(): void {
    this.cache?.stop();
    this.agent?.destroy();
    this.agent = undefined;
  }

  /** One list call: its items, or a documented cluster error (platform/cluster.ts). */
  private async list<T>(target: RequestTarget, path: string): Promise<T[]> {
    return (await this.listObject<T>(target, path)).items ?? [];
  }

  /** One list call: the list (its resourceVersion, its items). */
  private listObject<T>(target: RequestTarget, path: string): Promise<List<T>> {
    return request(this.cluster, target, async () => JSON.parse(await this.get(path)) as List<T>);
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

/** One list a status reads, and how to make it. */
interface Source {
  readonly key: 'nodes' | 'leases' | 'deployments' | 'pods';
  readonly namespace?: string;
  readonly target: RequestTarget;
  readonly path: string;
  readonly labelSelector?: string;
  list(): Promise<List<unknown>>;
}

/** How long a broken watch waits before it lists and watches again. */
const WATCH_RETRY_MS = 1_000;

/**
 * Watches of the lists a status reads (client-node's ListWatch: list, then watch from the
 * list's resourceVersion, list again on 410 Gone), each restarted after an error. Serves a
 * status only while every watch has listed and is watching: a broken watch would show leases
 * ageing into `lease expired` and every host unreachable, so the status lists instead.
 */
class WatchCache {
  private readonly watches: {
    readonly source: Source;
    readonly informer: k8s.ListWatch<k8s.KubernetesObject>;
    ok: boolean;
    errors: number;
    retrying: boolean;
  }[];
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    kc: k8s.KubeConfig,
    private readonly sources: readonly Source[],
  ) {
    this.watches = [];
    for (const source of sources) {
      const informer = new k8s.ListWatch<k8s.KubernetesObject>(
        source.path,
        new k8s.Watch(kc),
        async () => (await source.list()) as k8s.KubernetesListObject<k8s.KubernetesObject>,
        false,
        source.labelSelector,
      );
      const w = { source, informer, ok: false, errors: 0, retrying: false };
      informer.on(k8s.ERROR, () => {
        w.ok = false;
        w.errors++;
        this.retry(w);
      });
      this.watches.push(w);
    }
  }

  get healthy(): boolean {
    return this.watches.every((w) => w.ok);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await Promise.all(this.watches.map((w) => this.startOne(w)));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.watches) {
      w.ok = false;
      void w.informer.stop();
    }
  }

  /** The cached lists for these namespaces, or undefined when they cannot be served. */
  read(
    namespaces: ReadonlySet<string>,
  ): { key: Source['key']; items: readonly unknown[] }[] | undefined {
    if (!this.healthy) return undefined;
    const watched = new Set(this.sources.map((s) => s.namespace).filter(Boolean));
    for (const ns of namespaces) if (!watched.has(ns)) return undefined;
    return this.watches
      .filter((w) => !w.source.namespace || namespaces.has(w.source.namespace))
      .map((w) => ({ key: w.source.key, items: w.informer.list() }));
  }

  private async startOne(w: WatchCache['watches'][number]): Promise<void> {
    const before = w.errors;
    try {
      await w.informer.start();
    } catch {
      w.errors++;
    }
    // client-node reports a failed list or watch through the ERROR event, not the promise.
    if (w.errors === before && !this.stopped) w.ok = true;
    else this.retry(w);
  }

  private retry(w: WatchCache['watches'][number]): void {
    if (this.stopped || w.retrying) return;
    w.retrying = true;
    const t = setTimeout(() => {
      this.timers.delete(t);
      w.retrying = false;
      void this.startOne(w);
    }, WATCH_RETRY_MS);
    t.unref();
    this.timers.add(t);
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
// 2. Watches. `npm run bench:fleet` on this 2-core machine (shared with other work): for 1 000
//    instances in 10 tenants, the 22 lists of one status took p50 300–680 ms and p99 up to
//    1.5 s (the API server encodes some 6 MB of JSON per status, and this process parses it),
//    the judge 11–30 ms: listing per call cannot keep the issue's p99 under 200 ms, and its cost
//    grows with every status asked. With `watch: true` the service keeps the same lists as every
//    controller does (client-node's ListWatch: list once, then watch from the list's
//    resourceVersion, list again on 410 Gone) and a status reads them: no call to the API
//    server, which sends each change once. A change shows once its watch event arrives
//    (milliseconds; the test waits for it). A broken watch would freeze what it shows — leases
//    would age into `lease expired` and every host look unreachable — so while any watch is
//    not listed-and-watching the status lists instead, and the watch is restarted after
//    WATCH_RETRY_MS. Namespaces outside the watched tenants (a snapshot naming another
//    tenant) are listed too.
