/**
 * The judge of the fleet's per-target status (issue 20): what Kubernetes shows (nodes, node
 * leases, the agents' Deployments and pods) against what the records want
 * ({@link instanceOn}), as one {@link TargetStatus} per agent × host and one
 * {@link HostStatus} per host. Pure (no I/O, the clock injected), so the fleet service and the
 * console share one meaning and every rule is tested on its own; services/fleet/src/observe.ts
 * reads the objects it judges.
 *
 * The objects are the subsets of the Kubernetes JSON it reads, timestamps as RFC 3339 strings
 * (or Dates, as client-node's typed models carry them).
 *
 * The rules, in the order they are tried for an agent × host (the first that holds decides):
 *
 * | # | what is seen | state | reason (example) | since |
 * |---|---|---|---|---|
 * | 1 | the host's node is NotReady (Ready not True, or its lease not renewed within LEASE_GRACE_SECONDS) and git wants an instance there or a pod of it is seen | unreachable | `host h1 NotReady: lease expired (last renewed …)` | the host's since |
 * | 2 | git wants nothing: the record is undeployed, no workload left | stopped | `undeployed: the record is kept, its workloads are removed` | the Deployment's deletion, else now |
 * | 3 | git wants nothing: a deploying rollout has not reached the host | pending | `rollout r has not reached h1 yet (wave 2 of 3)` | now |
 * | 4 | git wants nothing but a workload is left (undeployed, not reached) | progressing | `undeployed: Argo CD has not removed Deployment d yet` | the Deployment's deletion, else now |
 * | 5 | the host has no node, no pod of the instance | pending | `NodeNotFound: no node h1 has registered …` | now |
 * | 6 | no Deployment of the instance | pending | `Argo CD has not applied the record yet: no Deployment d in agents-t` | now |
 * | 7 | the Deployment carries another revision, or replicas other than the record's state | pending | `Argo CD has not applied revision r yet (the Deployment carries q)` | now |
 * | 8 | stopped, no pod | stopped | `stopped: scaled to zero, config kept` | the Deployment's last condition change, else its creation |
 * | 9 | stopped, pods still there | progressing | `stopping: pod p still terminating` | the pod's deletion |
 * | 10 | the controller has not seen the Deployment's generation | progressing | `the Deployment controller has not seen generation 3 yet` | the Deployment's last condition change, else its creation |
 * | 11 | a pod of the desired revision cannot pull its image | degraded | `ImagePullBackOff: ghcr.io/x/y:1.0: …` | the pod's Ready transition, else its creation |
 * | 12 | a pod of the desired revision crash-loops (or has restarted after a non-zero exit and is not ready) or cannot start its container (CreateContainerConfigError, …) | degraded | `CrashLoopBackOff: restarted 5 times, last exit code 1 (Error) at …` | the pod's Ready transition, else its creation |
 * | 13 | the Deployment reports ReplicaFailure or ProgressDeadlineExceeded | degraded | `ReplicaFailure: pods "…" is forbidden: exceeded quota` | the condition's lastTransitionTime |
 * | 14 | a ready pod of the desired revision, no pod of another revision | running | `ready` | the pod's Ready transition, else its container's startedAt |
 * | 15 | a ready pod of the desired revision, a pod of another revision still there | progressing | `old revision q still terminating (pod p)` | the ready pod's Ready transition |
 * | 16 | a pod of the desired revision not ready for longer than PROGRESS_DEADLINE_SECONDS | degraded | `not ready for 700 s (> 600 s): Unschedulable: …` | its creation + the deadline |
 * | 17 | a pod of the desired revision not ready yet | progressing | `starting: pod p not ready (ContainerCreating)` | the pod's creation |
 * | 18 | no pod of the desired revision, an old one runs | progressing | `old revision q still runs (pod p); the new one has no pod yet` | the Deployment's last condition change, else its creation |
 * | 19 | no pod at all, longer than PROGRESS_DEADLINE_SECONDS | degraded | `no pod for 700 s (> 600 s)` | the Deployment's creation + the deadline |
 * | 20 | no pod at all | progressing | `the Deployment has no pod yet` | the Deployment's last condition change, else its creation |
 *
 * A Deployment (or pod) of the fleet, found by its labels, that no record wants on its host any
 * more is a target `removed` (reason: the record was deleted, or the host left the agent's
 * placement), since its deletion or now. Where Kubernetes has no timestamp for a state (pending:
 * nothing is applied yet), since is the time of the observation.
 *
 * A host's readiness: `Unknown` (`NodeNotFound`) without a node; `NotReady` when the node's
 * Ready condition is not True (its reason and message, since its lastTransitionTime) or when
 * its lease in kube-node-lease is missing or was last renewed more than LEASE_GRACE_SECONDS ago
 * (`lease expired`, since renewTime + grace): a fresh lease never hides a NotReady condition;
 * otherwise `Ready`. The hosts reported are the inventory's and those of the targets (with a
 * tenant filter: only those of the tenants' targets).
 */
import type { HostStatus, TargetState, TargetStatus } from './status.js';
import { LEASE_GRACE_SECONDS, PROGRESS_DEADLINE_SECONDS } from './status.js';
import { FLEET_LABELS, agentInstanceName } from './identity.js';
import type { Fleet, ResolvedAgent } from './resolve.js';
import { agentsNamespace, instanceOn } from './resolve.js';

/** A timestamp as the API serves it (RFC 3339), or as client-node's typed models carry it. */
export type Timestamp = string | Date;

/** The object metadata the judge reads. */
export interface ObservedMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly creationTimestamp?: Timestamp;
  readonly deletionTimestamp?: Timestamp;
  readonly generation?: number;
}

/** A condition of a node, pod or Deployment. */
export interface ObservedCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: Timestamp;
  readonly lastUpdateTime?: Timestamp;
}

/** A node. */
export interface ObservedNode {
  readonly metadata?: ObservedMeta;
  readonly status?: { readonly conditions?: readonly ObservedCondition[] };
}

/** A node's lease in kube-node-lease (named as the node). */
export interface ObservedLease {
  readonly metadata?: ObservedMeta;
  readonly spec?: { readonly renewTime?: Timestamp; readonly holderIdentity?: string };
}

/** An agent instance's Deployment. */
export interface ObservedDeployment {
  readonly metadata?: ObservedMeta;
  readonly spec?: { readonly replicas?: number };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly conditions?: readonly ObservedCondition[];
  };
}

/** A container's state. */
export interface ObservedContainerState {
  readonly waiting?: { readonly reason?: string; readonly message?: string };
  readonly running?: { readonly startedAt?: Timestamp };
  readonly terminated?: {
    readonly exitCode?: number;
    readonly reason?: string;
    readonly message?: string;
    readonly startedAt?: Timestamp;
    readonly finishedAt?: Timestamp;
  };
}

/** A pod of an agent instance. */
export interface ObservedPod {
  readonly metadata?: ObservedMeta;
  readonly spec?: {
    readonly nodeName?: string;
    readonly containers?: readonly { readonly name: string; readonly image?: string }[];
  };
  readonly status?: {
    readonly phase?: string;
    readonly conditions?: readonly ObservedCondition[];
    readonly containerStatuses?: readonly {
      readonly name: string;
      readonly image?: string;
      readonly ready?: boolean;
      readonly restartCount?: number;
      readonly state?: ObservedContainerState;
      readonly lastState?: ObservedContainerState;
    }[];
  };
}

/** What Kubernetes showed at one moment. */
export interface Observation {
  /** The moment of the observation: the judge's clock. */
  readonly now: Date;
  readonly nodes: readonly ObservedNode[];
  readonly leases: readonly ObservedLease[];
  /** The fleet's Deployments (labelled with FLEET_LABELS) of the namespaces read. */
  readonly deployments: readonly ObservedDeployment[];
  /** The fleet's pods of the namespaces read. */
  readonly pods: readonly ObservedPod[];
}

/** What the judge says. */
export interface Judgement {
  readonly hosts: readonly HostStatus[];
  readonly targets: readonly TargetStatus[];
}

/** Options of {@link judgeFleet}. */
export interface JudgeOptions {
  /** Only these tenants' targets (and the hosts they use). @default every tenant */
  readonly tenants?: readonly string[];
}

/** Image pull failures the kubelet reports as a waiting container's reason. */
const IMAGE_PULL_REASONS = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'ErrImageNeverPull',
  'RegistryUnavailable',
]);

/** Waiting reasons that say the container cannot start (not merely that it is starting). */
const START_FAILURE_REASONS = new Set([
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'PreStartHookError',
  'PostStartHookError',
]);

/** RFC 3339 as `Date.prototype.toISOString` writes it, whatever precision the API served. */
const iso = (t: Timestamp | undefined): string | undefined => {
  const at = ms(t);
  return at === undefined || Number.isNaN(at) ? undefined : new Date(at).toISOString();
};
const ms = (t: Timestamp | undefined): number | undefined =>
  t === undefined ? undefined : typeof t === 'string' ? Date.parse(t) : t.getTime();
const condition = (
  conds: readonly ObservedCondition[] | undefined,
  type: string,
): ObservedCondition | undefined => conds?.find((c) => c.type === type);
const label = (o: { metadata?: ObservedMeta } | undefined, key: string) =>
  o?.metadata?.labels?.[key];
const revisionOf = (o: { metadata?: ObservedMeta } | undefined) =>
  o?.metadata?.annotations?.[FLEET_LABELS.revision];
const latest = (...ts: (Timestamp | undefined)[]): string | undefined => {
  let best: Timestamp | undefined;
  for (const t of ts) if (t !== undefined && (best === undefined || ms(t)! > ms(best)!)) best = t;
  return iso(best);
};

/**
 * The readiness of each host: the node's Ready condition and its lease (see the module's
 * rules). `hosts` are the names to report; `inventory` the hosts with a record.
 */
export function judgeHosts(
  hosts: readonly string[],
  inventory: ReadonlySet<string>,
  obs: Pick<Observation, 'now' | 'nodes' | 'leases'>,
): HostStatus[] {
  const nodes = new Map(obs.nodes.map((n) => [n.metadata?.name ?? '', n]));
  const leases = new Map(obs.leases.map((l) => [l.metadata?.name ?? '', l]));
  const now = obs.now.getTime();
  return [...new Set(hosts)].sort().map((name): HostStatus => {
    const inInventory = inventory.has(name);
    const node = nodes.get(name);
    if (!node)
      return {
        name,
        ready: 'Unknown',
        reason: `NodeNotFound: no node ${name} has registered with the cluster${inInventory ? ' (its kubelet has not joined yet, or the Host record names another node)' : ''}`,
        inInventory,
      };
    const ready = condition(node.status?.conditions, 'Ready');
    const renewed = leases.get(name)?.spec?.renewTime;
    const lease = renewed === undefined ? {} : { leaseRenewedAt: iso(renewed)! };
    if (!ready || ready.status !== 'True')
      return {
        name,
        ready: 'NotReady',
        reason: ready
          ? `${ready.reason ?? `Ready ${ready.status}`}${ready.message ? `: ${ready.message}` : ''}`
          : 'the node has no Ready condition yet (its kubelet has not reported)',
        ...(ready?.lastTransitionTime ? { since: iso(ready.lastTransitionTime)! } : {}),
        ...lease,
        inInventory,
      };
    if (renewed === undefined || ms(renewed)! + LEASE_GRACE_SECONDS * 1000 < now)
      return {
        name,
        ready: 'NotReady',
        reason:
          renewed === undefined
            ? `lease expired: node ${name} has no lease in kube-node-lease (its kubelet never renewed one)`
            : `lease expired: last renewed at ${iso(renewed)}, more than ${LEASE_GRACE_SECONDS} s ago (the node's Ready condition is stale)`,
        ...(renewed === undefined
          ? {}
          : { since: new Date(ms(renewed)! + LEASE_GRACE_SECONDS * 1000).toISOString() }),
        ...lease,
        inInventory,
      };
    return {
      name,
      ready: 'Ready',
      reason: `${ready.reason ?? 'Ready'}${ready.message ? `: ${ready.message}` : ''}`,
      ...(ready.lastTransitionTime ? { since: iso(ready.lastTransitionTime)! } : {}),
      ...lease,
      inInventory,
    };
  });
}

/** The objects of one instance (namespace/instance name). */
interface Instance {
  deployment?: ObservedDeployment;
  pods: ObservedPod[];
}

const isTerminal = (p: ObservedPod) =>
  p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
const isReady = (p: ObservedPod) => condition(p.status?.conditions, 'Ready')?.status === 'True';
const going = (p: ObservedPod) => p.metadata?.deletionTimestamp !== undefined || isTerminal(p);

/** The pod that best tells what runs: ready first, then live, then the newest. */
function representative(pods: readonly ObservedPod[]): ObservedPod | undefined {
  const score = (p: ObservedPod) => (isReady(p) && !going(p) ? 2 : going(p) ? 0 : 1);
  return [...pods].sort(
    (a, b) =>
      score(b) - score(a) ||
      (ms(b.metadata?.creationTimestamp) ?? 0) - (ms(a.metadata?.creationTimestamp) ?? 0),
  )[0];
}

const podImage = (p: ObservedPod | undefined) =>
  p?.status?.containerStatuses?.[0]?.image ?? p?.spec?.containers?.[0]?.image;

/** Why a pod of the desired revision cannot run, and since when; undefined when it may still. */
function podFailure(p: ObservedPod): { reason: string; since?: string } | undefined {
  const since =
    latest(condition(p.status?.conditions, 'Ready')?.lastTransitionTime) ??
    iso(p.metadata?.creationTimestamp);
  for (const c of p.status?.containerStatuses ?? []) {
    const w = c.state?.waiting;
    const image = c.image ?? p.spec?.containers?.find((x) => x.name === c.name)?.image ?? '';
    if (w?.reason && IMAGE_PULL_REASONS.has(w.reason))
      return { reason: `${w.reason}: ${image}${w.message ? `: ${w.message}` : ''}`, since };
    const last = c.lastState?.terminated ?? c.state?.terminated;
    const restarts = c.restartCount ?? 0;
    const crashes = `restarted ${restarts} time${restarts === 1 ? '' : 's'}${
      last
        ? `, last exit code ${last.exitCode ?? '?'}${last.reason ? ` (${last.reason})` : ''}${last.finishedAt ? ` at ${iso(last.finishedAt)}` : ''}`
        : ''
    }`;
    if (w?.reason && START_FAILURE_REASONS.has(w.reason))
      return {
        reason: `${w.reason}${w.reason === 'CrashLoopBackOff' || last ? `, ${crashes}` : ''}${w.message ? `: ${w.message}` : ''}`,
        since,
      };
    // Between two back-offs the container runs (or has just exited) and is not ready yet.
    if (!c.ready && restarts > 0 && last && last.exitCode !== 0)
      return { reason: `container ${c.name} ${crashes}`, since };
  }
  return undefined;
}

/** Why a pod is not ready yet, in a few words (`ContainerCreating`, `Unschedulable: …`). */
function notReadyWhy(p: ObservedPod): string {
  const sched = condition(p.status?.conditions, 'PodScheduled');
  if (sched && sched.status !== 'True')
    return `${sched.reason ?? 'not scheduled'}${sched.message ? `: ${sched.message}` : ''}`;
  const c = p.status?.containerStatuses?.[0];
  if (c?.state?.waiting?.reason) return c.state.waiting.reason;
  if (c?.state?.running) return 'running, readiness probe not passing yet';
  const ready = condition(p.status?.conditions, 'Ready');
  if (ready?.reason) return `${ready.reason}${ready.message ? `: ${ready.message}` : ''}`;
  return p.status?.phase ?? 'Pending';
}

/** The Deployment's last condition change, else its creation. */
const deploymentSince = (d: ObservedDeployment | undefined, fallback: string) =>
  latest(
    ...(d?.status?.conditions ?? []).flatMap((c) => [c.lastUpdateTime, c.lastTransitionTime]),
  ) ??
  iso(d?.metadata?.creationTimestamp) ??
  fallback;

/**
 * Judges each agent × host of `fleet` (the records) against what Kubernetes showed, and the
 * hosts they use (see the module's rule table).
 */
export function judgeFleet(fleet: Fleet, obs: Observation, opts: JudgeOptions = {}): Judgement {
  const now = obs.now.toISOString();
  const nowMs = obs.now.getTime();
  const tenants = opts.tenants ? new Set(opts.tenants) : undefined;
  const namespaces = tenants ? new Set([...tenants].map(agentsNamespace)) : undefined;
  const inScope = (o: { metadata?: ObservedMeta }) =>
    !namespaces || namespaces.has(o.metadata?.namespace ?? '');

  // The fleet's objects, by namespace/instance.
  const instances = new Map<string, Instance>();
  const at = (o: { metadata?: ObservedMeta }) => {
    const key = `${o.metadata?.namespace}/${label(o, FLEET_LABELS.instance) ?? o.metadata?.name}`;
    let i = instances.get(key);
    if (!i) instances.set(key, (i = { pods: [] }));
    return i;
  };
  for (const d of obs.deployments) if (inScope(d)) at(d).deployment = d;
  for (const p of obs.pods) if (inScope(p) && label(p, FLEET_LABELS.instance)) at(p).pods.push(p);

  const inventory = new Set(fleet.hosts.map((h) => h.name));
  const hostNames = new Set<string>(tenants ? [] : inventory);
  const podHosts = obs.pods.map((p) => p.spec?.nodeName).filter((n): n is string => !!n);
  // Every host a target may land on is judged once, then looked up.
  const hostStatus = new Map(
    judgeHosts([...inventory, ...podHosts], inventory, obs).map((h) => [h.name, h]),
  );

  const targets: TargetStatus[] = [];
  const claimed = new Set<string>();
  for (const a of fleet.agents) {
    if (tenants && !tenants.has(a.tenant)) continue;
    const ns = agentsNamespace(a.tenant);
    const hosts: (string | undefined)[] =
      a.placement.mode === 'floating' ? [undefined] : a.placement.hosts.map((h) => h.name);
    for (const host of hosts) {
      const key = `${ns}/${agentInstanceName(a.id, host)}`;
      claimed.add(key);
      const t = judgeTarget(a, host, instances.get(key) ?? { pods: [] }, hostStatus, now, nowMs);
      if (t.host) hostNames.add(t.host);
      targets.push(t);
    }
  }

  // What the fleet's labels show but no record wants there any more.
  for (const [key, inst] of instances) {
    if (claimed.has(key)) continue;
    const o = inst.deployment ?? inst.pods[0]!;
    const id = label(o, FLEET_LABELS.agentId) ?? '';
    const tenant = label(o, FLEET_LABELS.tenant) ?? '';
    const pod = representative(inst.pods);
    const hostLabel = label(o, FLEET_LABELS.host);
    const host = hostLabel && hostLabel !== 'floating' ? hostLabel : (pod?.spec?.nodeName ?? '');
    const agent = fleet.agents.find((x) => x.id === id);
    const deleted = latest(
      inst.deployment?.metadata?.deletionTimestamp,
      ...inst.pods.map((p) => p.metadata?.deletionTimestamp),
    );
    const observedRevision = revisionOf(pod) ?? revisionOf(inst.deployment);
    const image = podImage(pod);
    if (host) hostNames.add(host);
    targets.push({
      agent: {
        id,
        name: agent?.name ?? label(o, FLEET_LABELS.agent) ?? '',
        tenant,
        ...(agent?.pipeline ? { pipeline: agent.pipeline } : {}),
      },
      host,
      ...(observedRevision ? { observedRevision } : {}),
      state: 'removed',
      reason: `${
        agent
          ? `the record of ${agent.name} no longer places it on ${host || 'a floating instance'}`
          : `no record has agent id ${id} any more`
      }; ${
        inst.deployment
          ? `Argo CD prunes Deployment ${inst.deployment.metadata?.name}${deleted ? ' (deleting)' : ''}`
          : `pod ${pod?.metadata?.name} is going`
      }`,
      since: deleted ?? now,
      ...(image ? { image } : {}),
    });
  }

  // Code-point order: names are DNS labels, and localeCompare costs more than the rest here.
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  targets.sort(
    (x, y) =>
      cmp(x.agent.tenant, y.agent.tenant) ||
      cmp(x.agent.name, y.agent.name) ||
      cmp(x.host, y.host) ||
      cmp(x.state, y.state),
  );
  const hosts = [...hostNames]
    .sort()
    .map((h) => hostStatus.get(h) ?? judgeHosts([h], inventory, obs)[0]!);
  return { hosts, targets };
}

function judgeTarget(
  a: ResolvedAgent,
  placedOn: string | undefined,
  inst: Instance,
  hostStatus: ReadonlyMap<string, HostStatus>,
  now: string,
  nowMs: number,
): TargetStatus {
  const name = agentInstanceName(a.id, placedOn);
  const ns = agentsNamespace(a.tenant);
  const want = instanceOn(a, placedOn ?? '');
  const d = inst.deployment;
  const live = inst.pods.filter((p) => !going(p));
  const pod = representative(inst.pods);
  const host = placedOn ?? pod?.spec?.nodeName ?? '';
  const observedRevision = revisionOf(pod);
  const inRollout = a.rollout && placedOn !== undefined;
  const base = {
    agent: {
      id: a.id,
      name: a.name,
      tenant: a.tenant,
      ...(a.pipeline ? { pipeline: a.pipeline } : {}),
    },
    host,
    ...(want ? { desiredRevision: want.revision } : {}),
    ...(observedRevision ? { observedRevision } : {}),
    ...(inRollout ? { rollout: a.rollout!.id } : {}),
  };
  const out = (
    state: TargetState,
    reason: string,
    since: string | undefined,
    image = podImage(pod) ?? want?.image,
  ): TargetStatus => ({
    ...base,
    state,
    reason,
    since: since ?? now,
    ...(image ? { image } : {}),
  });

  // 1. An unreachable host: what runs there is unknown; the last revision seen is reported.
  const h = host ? hostStatus.get(host) : undefined;
  if (h && h.ready === 'NotReady' && (want || inst.pods.length > 0))
    return out('unreachable', `host ${host} NotReady: ${h.reason}`, h.since);

  // 2–4. Git wants nothing here.
  if (!want) {
    const left = d ?? inst.pods[0];
    const deleted = latest(d?.metadata?.deletionTimestamp, pod?.metadata?.deletionTimestamp);
    const undeployed = a.state === 'undeployed';
    const why = undeployed
      ? 'undeployed'
      : `rollout ${a.rollout!.id} has not reached ${host} yet (wave ${
          a.rollout!.waves.findIndex((w) => w.includes(host)) + 1
        } of ${a.rollout!.waves.length})`;
    if (left)
      return out(
        'progressing',
        `${why}: ${
          d
            ? `Argo CD has not removed Deployment ${d.metadata?.name} yet`
            : `pod ${pod?.metadata?.name} is still terminating`
        }`,
        deleted,
      );
    return undeployed
      ? out('stopped', 'undeployed: the record is kept, its workloads are removed', deleted)
      : out('pending', why, undefined, a.image);
  }

  // 5–6. Argo CD has not applied what the record wants.
  const replicas = a.state === 'running' ? 1 : 0;
  if (placedOn !== undefined && h?.ready === 'Unknown' && live.length === 0)
    return out('pending', `${h.reason}; the agent's pod waits for the host to join`, undefined);
  if (!d)
    return out(
      'pending',
      `Argo CD has not applied the record yet: no Deployment ${name} in ${ns}`,
      undefined,
    );
  const applied = revisionOf(d);
  if (applied !== want.revision)
    return out(
      'pending',
      `Argo CD has not applied revision ${want.revision} yet (Deployment ${name} carries ${applied ?? 'none'})`,
      undefined,
    );
  if ((d.spec?.replicas ?? 1) !== replicas)
    return out(
      'pending',
      `Argo CD has not applied state ${a.state} yet (Deployment ${name} asks for ${d.spec?.replicas ?? 1} replica${d.spec?.replicas === 1 ? '' : 's'})`,
      undefined,
    );

  // 7–8. Stopped.
  if (a.state === 'stopped') {
    if (inst.pods.length === 0)
      return out('stopped', 'stopped: scaled to zero, config kept', deploymentSince(d, now));
    return out(
      'progressing',
      `stopping: pod ${pod!.metadata?.name} ${going(pod!) ? 'still terminating' : 'still running'}`,
      latest(pod!.metadata?.deletionTimestamp) ?? deploymentSince(d, now),
    );
  }

  // 9. The controller has not acted on the change yet.
  const generation = d.metadata?.generation;
  if (generation !== undefined && (d.status?.observedGeneration ?? 0) < generation)
    return out(
      'progressing',
      `the Deployment controller has not seen generation ${generation} of ${name} yet`,
      deploymentSince(d, now),
    );

  const current = live.filter((p) => revisionOf(p) === want.revision);
  const old = inst.pods.filter((p) => revisionOf(p) !== want.revision);

  // 10–11. A pod of the desired revision cannot run.
  for (const p of current) {
    const f = podFailure(p);
    if (f) return out('degraded', `pod ${p.metadata?.name}: ${f.reason}`, f.since, podImage(p));
  }

  // 12. The Deployment reports a failure.
  const conds = d.status?.conditions ?? [];
  const failure =
    conds.find((c) => c.type === 'ReplicaFailure' && c.status === 'True') ??
    conds.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
  if (failure && !current.some(isReady))
    return out(
      'degraded',
      `${failure.type === 'ReplicaFailure' ? 'ReplicaFailure' : 'ProgressDeadlineExceeded'}: ${failure.message ?? failure.reason ?? ''}`,
      iso(failure.lastTransitionTime) ?? deploymentSince(d, now),
    );

  // 13–16. A pod of the desired revision.
  const ready = current.find(isReady);
  if (ready) {
    const since =
      iso(condition(ready.status?.conditions, 'Ready')?.lastTransitionTime) ??
      iso(ready.status?.containerStatuses?.[0]?.state?.running?.startedAt);
    const stale = old[0];
    if (stale)
      return out(
        'progressing',
        `old revision ${revisionOf(stale) ?? '(unknown)'} still ${going(stale) ? 'terminating' : 'runs'} (pod ${stale.metadata?.name})`,
        since,
        podImage(ready),
      );
    return {
      ...out('running', 'ready', since, podImage(ready)),
      observedRevision: revisionOf(ready)!,
    };
  }
  const starting = current[0];
  if (starting) {
    const created = ms(starting.metadata?.creationTimestamp) ?? nowMs;
    const waited = Math.round((nowMs - created) / 1000);
    if (waited > PROGRESS_DEADLINE_SECONDS)
      return out(
        'degraded',
        `pod ${starting.metadata?.name} not ready for ${waited} s (> ${PROGRESS_DEADLINE_SECONDS} s): ${notReadyWhy(starting)}`,
        new Date(created + PROGRESS_DEADLINE_SECONDS * 1000).toISOString(),
        podImage(starting),
      );
    return out(
      'progressing',
      `starting: pod ${starting.metadata?.name} not ready (${notReadyWhy(starting)})`,
      iso(starting.metadata?.creationTimestamp),
      podImage(starting),
    );
  }

  // 17–19. No pod of the desired revision.
  const stale = representative(old);
  if (stale)
    return out(
      'progressing',
      `old revision ${revisionOf(stale) ?? '(unknown)'} still ${going(stale) ? 'terminating' : 'runs'} (pod ${stale.metadata?.name}); revision ${want.revision} has no pod yet`,
      deploymentSince(d, now),
    );
  const created = ms(d.metadata?.creationTimestamp) ?? nowMs;
  const waited = Math.round((nowMs - created) / 1000);
  if (waited > PROGRESS_DEADLINE_SECONDS)
    return out(
      'degraded',
      `Deployment ${name} has had no pod for ${waited} s (> ${PROGRESS_DEADLINE_SECONDS} s): is its controller running?`,
      new Date(created + PROGRESS_DEADLINE_SECONDS * 1000).toISOString(),
    );
  return out('progressing', `Deployment ${name} has no pod yet`, deploymentSince(d, now));
}
