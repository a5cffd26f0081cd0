/**
 * The resource budget: what the platform requests and may use, against a cluster of N equal
 * nodes (by default the laptop's single 4 vCPU / 8 GiB minikube node).
 *
 * The platform's own workloads are read from the synthesized manifests (what will really be
 * deployed); upstream charts from the size profile that also feeds their Helm values; every
 * pod in a meshed namespace adds one Istio sidecar.
 */
import { CHART_IDS, COMPONENT_IDS, component } from '../../platform/components.js';
import type { ComputeResources } from '../../platform/config/profiles.js';
import { LOCAL_GIT_REPO_URL } from '../../platform/config/schema.js';
import type { PlatformContext } from '../../platform/context.js';
import { MESHED_NAMESPACES } from './mesh/security.js';
import type { SynthObject } from './objects.js';
import { podSpecOf } from './validate/rules.js';

/** A cluster of equal nodes: how many, and each node's allocatable CPU and memory. */
export interface ClusterSize {
  readonly nodes: number;
  readonly nodeCpuMilli: number;
  readonly nodeMemoryMi: number;
}

/** The laptop cluster the laptop profile must fit: `minikube start --cpus=4 --memory=8g`. */
export const LAPTOP_CLUSTER: ClusterSize = { nodes: 1, nodeCpuMilli: 4000, nodeMemoryMi: 8192 };

/** The share of the cluster's capacity that must stay unrequested. */
export const REQUIRED_HEADROOM = 0.25;

/**
 * The cluster's own pods on a single-node kubeadm cluster such as minikube (kubeadm's
 * default requests: apiserver 250m, controller-manager 200m, scheduler 100m, etcd
 * 100m/100Mi, CoreDNS 100m/70Mi); limits are not set for most of them.
 */
export const KUBE_SYSTEM: ComputeResources = {
  cpuRequestMilli: 750,
  cpuLimitMilli: 0,
  memoryRequestMi: 170,
  memoryLimitMi: 170,
};

/** One line of the budget. */
export interface BudgetLine {
  readonly name: string;
  readonly source: 'deploy' | 'chart' | 'sidecars' | 'cluster';
  readonly pods: number;
  /** Per pod. */
  readonly each: ComputeResources;
  /** pods × each. */
  readonly total: ComputeResources;
}

/** The whole budget. */
export interface Budget {
  readonly profile: string;
  readonly lines: readonly BudgetLine[];
  readonly total: ComputeResources;
  readonly cluster: ClusterSize;
  /** The whole cluster's CPU and memory. */
  readonly capacity: { readonly cpuMilli: number; readonly memoryMi: number };
  /**
   * Pods that fit on no node: their requests (sidecar included) exceed one node's CPU or
   * memory once the per-node pods are placed.
   */
  readonly unschedulable: readonly string[];
  /** Fraction of capacity left unrequested, CPU and memory. */
  readonly headroom: { readonly cpu: number; readonly memory: number };
  /** Whether both headrooms are at least {@link REQUIRED_HEADROOM} and every pod fits a node. */
  readonly fits: boolean;
}

const ZERO: ComputeResources = {
  cpuRequestMilli: 0,
  cpuLimitMilli: 0,
  memoryRequestMi: 0,
  memoryLimitMi: 0,
};

/** Adds resources. */
export function addResources(...xs: readonly ComputeResources[]): ComputeResources {
  return xs.reduce(
    (a, b) => ({
      cpuRequestMilli: a.cpuRequestMilli + b.cpuRequestMilli,
      cpuLimitMilli: a.cpuLimitMilli + b.cpuLimitMilli,
      memoryRequestMi: a.memoryRequestMi + b.memoryRequestMi,
      memoryLimitMi: a.memoryLimitMi + b.memoryLimitMi,
    }),
    ZERO,
  );
}

/** Multiplies resources by a pod count. */
export function scaleResources(r: ComputeResources, n: number): ComputeResources {
  return {
    cpuRequestMilli: r.cpuRequestMilli * n,
    cpuLimitMilli: r.cpuLimitMilli * n,
    memoryRequestMi: r.memoryRequestMi * n,
    memoryLimitMi: r.memoryLimitMi * n,
  };
}

/** Millicores of a CPU quantity (`250m`, `1`, `0.5`). */
export function cpuMilli(q: string | number): number {
  const s = String(q);
  if (s.endsWith('m')) return Number(s.slice(0, -1));
  const n = Number(s);
  if (Number.isNaN(n)) throw new TypeError(`not a CPU quantity: ${s}`);
  return n * 1000;
}

const MEMORY_UNITS: Record<string, number> = {
  Ki: 1 / 1024,
  Mi: 1,
  Gi: 1024,
  Ti: 1024 * 1024,
  k: 1000 / 1024 / 1024,
  M: (1000 * 1000) / 1024 / 1024,
  G: (1000 * 1000 * 1000) / 1024 / 1024,
};

/** MiB of a memory quantity (`64Mi`, `1Gi`, `512M`, bytes). */
export function memoryMi(q: string | number): number {
  const m = /^([0-9.]+)([A-Za-z]*)$/.exec(String(q));
  if (!m) throw new TypeError(`not a memory quantity: ${q}`);
  const unit = m[2] ?? '';
  if (unit === '') return Number(m[1]) / 1024 / 1024;
  const factor = MEMORY_UNITS[unit];
  if (factor === undefined) throw new TypeError(`unknown memory unit in ${q}`);
  return Number(m[1]) * factor;
}

/** Computes the budget of the synthesized platform. */
export function computeBudget(
  ctx: PlatformContext,
  objects: readonly SynthObject[],
  cluster: ClusterSize = LAPTOP_CLUSTER,
): Budget {
  const meshed = new Set(MESHED_NAMESPACES.map((r) => ctx.namespace(r)));
  const lines: BudgetLine[] = [];
  const line = (name: string, source: BudgetLine['source'], pods: number, each: ComputeResources) =>
    lines.push({ name, source, pods, each, total: scaleResources(each, pods) });
  // Each pod's requests, its sidecar included, to check it fits one node.
  const pods: { name: string; each: ComputeResources }[] = [];
  const perNodePods: ComputeResources[] = [];

  let meshedPods = 0;
  // The local git server runs only in the local-only mode.
  const local = ctx.config.gitops.repoURL === LOCAL_GIT_REPO_URL;
  for (const { file, object } of objects) {
    if (!local && file.endsWith('/bootstrap/local-git.yaml')) continue;
    const pod = podSpecOf(object);
    if (!pod) continue;
    const replicas = Number((object.spec as { replicas?: number }).replicas ?? 1);
    const containers =
      (pod.containers as {
        resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
      }[]) ?? [];
    const each = addResources(
      ...containers.map((c) => ({
        cpuRequestMilli: cpuMilli(c.resources?.requests?.cpu ?? 0),
        cpuLimitMilli: cpuMilli(c.resources?.limits?.cpu ?? 0),
        memoryRequestMi: memoryMi(c.resources?.requests?.memory ?? 0),
        memoryLimitMi: memoryMi(c.resources?.limits?.memory ?? 0),
      })),
    );
    const name = `${object.metadata.name} (${object.kind})`;
    line(name, 'deploy', replicas, each);
    const inMesh = Boolean(object.metadata.namespace && meshed.has(object.metadata.namespace));
    if (inMesh) meshedPods += replicas;
    pods.push({ name, each: inMesh ? addResources(each, ctx.profile.sidecar) : each });
  }
  // The upstream charts' workloads, from the registry: chart by chart, in registry order.
  for (const chartId of CHART_IDS) {
    for (const id of COMPONENT_IDS) {
      const c = component(id);
      if (c.managedBy !== 'helm' || c.chart !== chartId) continue;
      const size = ctx.size(id);
      const name = c.budgetName ?? c.service?.name ?? id;
      line(name, 'chart', c.perNode ? cluster.nodes : size.replicas, size.resources);
      if (c.sidecar) meshedPods += c.perNode ? cluster.nodes : size.replicas;
      const each = c.sidecar ? addResources(size.resources, ctx.profile.sidecar) : size.resources;
      if (c.perNode) perNodePods.push(each);
      else pods.push({ name, each });
    }
  }
  line('istio-proxy sidecars (one per meshed pod)', 'sidecars', meshedPods, ctx.profile.sidecar);
  line('Kubernetes system pods (kubeadm defaults)', 'cluster', 1, KUBE_SYSTEM);

  const total = addResources(...lines.map((l) => l.total));
  const capacity = {
    cpuMilli: cluster.nodes * cluster.nodeCpuMilli,
    memoryMi: cluster.nodes * cluster.nodeMemoryMi,
  };
  const headroom = {
    cpu: 1 - total.cpuRequestMilli / capacity.cpuMilli,
    memory: 1 - total.memoryRequestMi / capacity.memoryMi,
  };
  // What one node has left for other pods once its DaemonSet pods run.
  const perNode = addResources(ZERO, ...perNodePods);
  const free = {
    cpu: cluster.nodeCpuMilli - perNode.cpuRequestMilli,
    memory: cluster.nodeMemoryMi - perNode.memoryRequestMi,
  };
  const unschedulable = pods
    .filter((p) => p.each.cpuRequestMilli > free.cpu || p.each.memoryRequestMi > free.memory)
    .map(
      (p) =>
        `${p.name} requests ${p.each.cpuRequestMilli}m CPU and ${Math.round(p.each.memoryRequestMi)}Mi per pod; a node has ${free.cpu}m and ${Math.round(free.memory)}Mi`,
    );
  return {
    profile: ctx.config.profile,
    lines,
    total,
    cluster,
    capacity,
    unschedulable,
    headroom,
    fits:
      headroom.cpu >= REQUIRED_HEADROOM &&
      headroom.memory >= REQUIRED_HEADROOM &&
      unschedulable.length === 0,
  };
}

/** The budget as a fixed-width table. */
export function formatBudget(b: Budget): string {
  const names = b.lines.map((l) => `${l.name} [${l.source}]`);
  const width = Math.max(...names.map((n) => n.length), 'workload'.length) + 2;
  const pad = (x: string | number, n: number) => String(x).padStart(n);
  const cols = (r: ComputeResources) =>
    `${pad(`${r.cpuRequestMilli}m`, 10)}${pad(`${r.cpuLimitMilli}m`, 10)}${pad(`${Math.round(r.memoryRequestMi)}Mi`, 10)}${pad(`${Math.round(r.memoryLimitMi)}Mi`, 10)}`;
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const c = b.cluster;
  const node = `${c.nodeCpuMilli / 1000} vCPU / ${c.nodeMemoryMi / 1024} GiB`;
  return [
    c.nodes === 1
      ? `Resource budget, profile ${b.profile}, against a ${node} cluster`
      : `Resource budget, profile ${b.profile}, against ${c.nodes} nodes of ${node} (${b.capacity.cpuMilli / 1000} vCPU / ${b.capacity.memoryMi / 1024} GiB)`,
    '',
    `${'workload'.padEnd(width)}${pad('pods', 5)}${pad('cpu req', 10)}${pad('cpu lim', 10)}${pad('mem req', 10)}${pad('mem lim', 10)}`,
    ...b.lines.map((l, i) => `${names[i]!.padEnd(width)}${pad(l.pods, 5)}${cols(l.total)}`),
    '-'.repeat(width + 45),
    `${'total'.padEnd(width)}${pad('', 5)}${cols(b.total)}`,
    '',
    `requests use ${pct(1 - b.headroom.cpu)} of CPU and ${pct(1 - b.headroom.memory)} of memory; ` +
      `headroom ${pct(b.headroom.cpu)} CPU, ${pct(b.headroom.memory)} memory (required ${pct(REQUIRED_HEADROOM)} each)`,
    `limits add up to ${(b.total.cpuLimitMilli / 1000).toFixed(2)} vCPU and ${(b.total.memoryLimitMi / 1024).toFixed(2)} GiB (overcommitted limits are normal; requests are what the scheduler reserves)`,
    ...b.unschedulable.map((u) => `fits no node: ${u}`),
    b.fits ? 'verdict: fits' : 'verdict: does NOT fit',
    '',
  ].join('\n');
}

/** The budget file synth writes to deploy/bootstrap/budget.txt. */
export function renderBudget(ctx: PlatformContext, objects: readonly SynthObject[]): string {
  return formatBudget(computeBudget(ctx, objects));
}
