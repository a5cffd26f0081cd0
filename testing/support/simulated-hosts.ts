/**
 * TEST ONLY, visibly: factory hosts that cannot run here, as a kubelet would report them to a
 * real kube-apiserver. Each simulated host is a Node (its labels and taint from its Host
 * record), a Lease in kube-node-lease that it renews, and the status of the pods the real
 * scheduler binds to it: Running and Ready (as a kubelet reports a started container), or
 * waiting with the reason a kubelet gives an image it cannot pull or a container that crashes.
 * A host taken `down()` stops renewing its lease and its node's Ready condition turns Unknown,
 * as the node lifecycle controller marks a node whose kubelet went silent; its pods stay in the
 * API with their last status, as they do when a factory host's WAN link drops.
 *
 * What is real around it: the kube-apiserver, the scheduler and the controllers (Deployments,
 * ReplicaSets, garbage collection) of testing/real/kube-node.ts `startControlPlane`. Only what a
 * kubelet on the host would write is written here.
 */
import * as k8s from '@kubernetes/client-node';

import { hostNodeLabels, hostNodeTaints } from '../../platform/fleet/hosts.js';
import type { ResolvedHost } from '../../platform/fleet/resolve.js';
import { renewLeaseAsKubelet } from './fleet-observed.js';

/** How a simulated kubelet runs a pod's container. */
export type PodBehaviour =
  | { readonly run: true }
  | {
      readonly run: false;
      /** The waiting reason, e.g. `ImagePullBackOff` or `CrashLoopBackOff`. */
      readonly reason: string;
      readonly message: string;
      readonly restarts?: number;
    };

export interface SimulatedHostsOptions {
  /** How a pod's container fares; default: every container runs and is ready. */
  readonly behaviour?: (pod: k8s.V1Pod) => PodBehaviour;
  /** Between two rounds (leases renewed, pods reported). @default 300 */
  readonly intervalMs?: number;
}

/** Simulated hosts, reporting until stopped. */
export interface SimulatedHosts {
  readonly names: readonly string[];
  /** The host's kubelet goes silent: lease not renewed, Ready Unknown. */
  down(host: string): Promise<void>;
  /** It comes back: Ready again, lease renewed, its pods reported again. */
  up(host: string): Promise<void>;
  /** Runs one round now (leases, pods) and resolves when it is done. */
  round(): Promise<void>;
  /** Stops reporting and deletes the nodes and leases. */
  stop(): Promise<void>;
}

const LEASE_NAMESPACE = 'kube-node-lease';

function nodeObject(host: ResolvedHost): k8s.V1Node {
  const taints = hostNodeTaints(host).map((t) => {
    const [kv, effect] = t.split(':');
    const [key, value] = kv!.split('=');
    return { key: key!, value: value!, effect: effect! };
  });
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: host.name,
      labels: {
        'kubernetes.io/hostname': host.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        ...hostNodeLabels(host),
      },
    },
    spec: taints.length ? { taints } : {},
  };
}

function readyCondition(ready: boolean, now: Date): k8s.V1NodeCondition {
  return ready
    ? {
        type: 'Ready',
        status: 'True',
        reason: 'KubeletReady',
        message: 'kubelet is posting ready status',
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      }
    : {
        type: 'Ready',
        status: 'Unknown',
        reason: 'NodeStatusUnknown',
        message: 'Kubelet stopped posting node status.',
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      };
}

/** Registers `hosts` as nodes of `kc`'s cluster and reports for them until stopped. */
export async function simulateHosts(
  kc: k8s.KubeConfig,
  hosts: readonly ResolvedHost[],
  opts: SimulatedHostsOptions = {},
): Promise<SimulatedHosts> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coord = kc.makeApiClient(k8s.CoordinationV1Api);
  const behaviour = opts.behaviour ?? (() => ({ run: true }) as const);
  const names = hosts.map((h) => h.name);
  const silent = new Set<string>();
  const reported = new Map<string, string>(); // pod uid → what was reported

  const setReady = async (name: string, ready: boolean) => {
    // The controllers write the node too (taints, annotations): read, replace, again on 409.
    for (let attempt = 0; ; attempt++) {
      try {
        await replaceReady(name, ready);
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt >= 20) throw err;
      }
    }
  };
  const replaceReady = async (name: string, ready: boolean) => {
    const node = await core.readNodeStatus({ name });
    const now = new Date();
    await core.replaceNodeStatus({
      name,
      body: {
        ...node,
        status: {
          ...node.status,
          capacity: { cpu: '4', memory: '8Gi', pods: '110' },
          allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
          addresses: [{ type: 'Hostname', address: name }],
          conditions: [readyCondition(ready, now)],
        },
      },
    });
  };
  const renew = (name: string) => renewLeaseAsKubelet(coord, name, new Date());

  for (const h of hosts) {
    await core.createNode({ body: nodeObject(h) });
    await setReady(h.name, true);
    await renew(h.name);
  }

  const reportPods = async () => {
    const pods = (await core.listPodForAllNamespaces({})).items.filter(
      (p) => p.spec?.nodeName && names.includes(p.spec.nodeName) && !silent.has(p.spec.nodeName),
    );
    for (const pod of pods) {
      const { name, namespace, uid } = pod.metadata as Required<k8s.V1ObjectMeta>;
      if (pod.metadata?.deletionTimestamp) {
        // The kubelet confirms a deletion once the containers are gone.
        await core
          .deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 })
          .catch(() => undefined);
        continue;
      }
      const b = behaviour(pod);
      const key = JSON.stringify(b);
      if (reported.get(uid) === key) continue;
      const now = new Date();
      const container = pod.spec!.containers[0]!;
      const cond = (type: string, status: boolean) => ({
        type,
        status: status ? 'True' : 'False',
        lastTransitionTime: now,
      });
      await core.replaceNamespacedPodStatus({
        name,
        namespace,
        body: {
          ...pod,
          status: {
            phase: b.run ? 'Running' : 'Pending',
            hostIP: '10.0.0.1',
            podIP: '10.0.0.2',
            startTime: now,
            conditions: [
              cond('PodScheduled', true),
              cond('Initialized', true),
              cond('ContainersReady', b.run),
              cond('Ready', b.run),
            ],
            containerStatuses: [
              {
                name: container.name,
                image: container.image!,
                imageID: b.run ? `${container.image}@sha256:${'0'.repeat(64)}` : '',
                ready: b.run,
                started: b.run,
                restartCount: b.run ? 0 : (b.restarts ?? 0),
                state: b.run
                  ? { running: { startedAt: now } }
                  : { waiting: { reason: b.reason, message: b.message } },
              },
            ],
          },
        },
      });
      reported.set(uid, key);
    }
  };

  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const round = () => {
    current = current.then(async () => {
      if (stopped) return;
      for (const n of names) if (!silent.has(n)) await renew(n);
      await reportPods();
    });
    return current;
  };
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    round()
      .catch(() => undefined) // a pod replaced in between: the next round sees the new one
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, opts.intervalMs ?? 300);
      });
  };
  loop();

  return {
    names,
    async down(host) {
      silent.add(host);
      await current.catch(() => undefined);
      await setReady(host, false);
    },
    async up(host) {
      silent.delete(host);
      await setReady(host, true);
      // Reported again from scratch, as a kubelet that restarts re-reports its pods.
      reported.clear();
      await round();
    },
    round,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current.catch(() => undefined);
      for (const n of names) {
        await coord
          .deleteNamespacedLease({ name: n, namespace: LEASE_NAMESPACE })
          .catch(() => undefined);
        await core.deleteNode({ name: n }).catch(() => undefined);
      }
    },
  };
}
