/**
 * TEST ONLY: what the controllers, the scheduler and the kubelets of factory hosts would write
 * into a real kube-apiserver that runs none of them (testing/real/kube-apiserver.ts), so the
 * fleet's status (services/fleet/src/observe.ts) reads objects as a cluster holds them: nodes
 * and their status, node leases, a Deployment's status, the pods its ReplicaSet would create
 * (from the Deployment's own template, bound to a node as the scheduler would) and their status,
 * and a ResourceQuota's status. Each helper's name says whose write it stands in for.
 *
 * Used for the hosts that cannot run here: this machine has one real kubelet at most
 * (testing/real/kube-node.ts), a fleet test needs several hosts, and its images are not
 * obtainable offline.
 */
import * as k8s from '@kubernetes/client-node';

/** The Ready condition a kubelet posts, or the node controller's Unknown. */
export interface NodeReadiness {
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason?: string;
  readonly message?: string;
  readonly since: Date;
}

/**
 * TEST ONLY: registers node `name` (as a kubelet does when it joins) and writes its Ready
 * condition: what a kubelet would report about its host (or, for Unknown, what the node
 * controller writes once the kubelet stops posting).
 */
export async function writeNodeStatusAsKubelet(
  core: k8s.CoreV1Api,
  name: string,
  ready: NodeReadiness,
): Promise<void> {
  let node: k8s.V1Node;
  try {
    node = await core.readNode({ name });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    node = await core.createNode({
      body: {
        metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
      },
    });
  }
  const defaults = {
    True: { reason: 'KubeletReady', message: 'kubelet is posting ready status' },
    False: { reason: 'KubeletNotReady', message: 'container runtime is down' },
    Unknown: { reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' },
  }[ready.status];
  await core.replaceNodeStatus({
    name,
    body: {
      ...node,
      status: {
        ...node.status,
        conditions: [
          {
            type: 'Ready',
            status: ready.status,
            reason: ready.reason ?? defaults.reason,
            message: ready.message ?? defaults.message,
            lastHeartbeatTime: ready.since,
            lastTransitionTime: ready.since,
          },
        ],
      },
    },
  });
}

/** TEST ONLY: creates or renews node `name`'s lease in kube-node-lease, as its kubelet does every 10 s. */
export async function renewLeaseAsKubelet(
  coordination: k8s.CoordinationV1Api,
  name: string,
  renewTime: Date,
): Promise<void> {
  const namespace = 'kube-node-lease';
  const spec: k8s.V1LeaseSpec = {
    holderIdentity: name,
    leaseDurationSeconds: 40,
    renewTime: new k8s.V1MicroTime(renewTime.getTime()),
  };
  try {
    const lease = await coordination.readNamespacedLease({ name, namespace });
    await coordination.replaceNamespacedLease({
      name,
      namespace,
      body: { ...lease, spec: { ...lease.spec, ...spec } },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await coordination.createNamespacedLease({ namespace, body: { metadata: { name }, spec } });
  }
}

/**
 * TEST ONLY: writes a Deployment's status as the Deployment controller would once it acted on
 * the current generation (observedGeneration, replica counts, its conditions).
 */
export async function writeDeploymentStatusAsController(
  apps: k8s.AppsV1Api,
  namespace: string,
  name: string,
  o: { readonly ready: number; readonly conditions?: k8s.V1DeploymentCondition[] },
): Promise<void> {
  const d = await apps.readNamespacedDeployment({ name, namespace });
  const replicas = d.spec?.replicas ?? 1;
  await apps.replaceNamespacedDeploymentStatus({
    name,
    namespace,
    body: {
      ...d,
      status: {
        observedGeneration: d.metadata!.generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: o.ready,
        availableReplicas: o.ready,
        ...(o.ready < replicas ? { unavailableReplicas: replicas - o.ready } : {}),
        conditions: o.conditions ?? [],
      },
    },
  });
}

/**
 * TEST ONLY: creates the pod the Deployment's ReplicaSet would create, from the Deployment's own
 * pod template (its labels and revision annotation), already bound to `node` as the scheduler
 * would bind it. The API server admits it for real (Pod Security, quota, service account).
 */
export async function createPodAsReplicaSet(
  core: k8s.CoreV1Api,
  d: k8s.V1Deployment,
  node: string | undefined,
  suffix = 'x7k2q',
): Promise<k8s.V1Pod> {
  const t = d.spec!.template;
  return core.createNamespacedPod({
    namespace: d.metadata!.namespace!,
    body: {
      metadata: {
        name: `${d.metadata!.name}-6d4b9c7f5-${suffix}`,
        labels: t.metadata?.labels,
        annotations: t.metadata?.annotations,
      },
      spec: { ...t.spec!, ...(node ? { nodeName: node } : {}) },
    },
  });
}

/** What a kubelet reports of the agent container. */
export type AgentContainerReport =
  | { readonly ready: true; readonly since: Date }
  | { readonly waiting: string; readonly message?: string; readonly since: Date }
  | {
      readonly crashLoop: true;
      readonly restarts: number;
      readonly exitCode: number;
      readonly since: Date;
      readonly finishedAt: Date;
    };

/**
 * TEST ONLY: writes a pod's status as the kubelet of its node would report it: phase, the Ready
 * condition and the agent container's state.
 */
export async function writePodStatusAsKubelet(
  core: k8s.CoreV1Api,
  pod: k8s.V1Pod,
  report: AgentContainerReport,
): Promise<void> {
  const { name, namespace } = pod.metadata as { name: string; namespace: string };
  const current = await core.readNamespacedPod({ name, namespace });
  const image = current.spec!.containers[0]!.image!;
  const ready = 'ready' in report;
  const container: k8s.V1ContainerStatus =
    'ready' in report
      ? {
          name: 'agent',
          image,
          imageID: '',
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: report.since } },
        }
      : 'crashLoop' in report
        ? {
            name: 'agent',
            image,
            imageID: '',
            ready: false,
            started: false,
            restartCount: report.restarts,
            state: {
              waiting: {
                reason: 'CrashLoopBackOff',
                message: `back-off 5m0s restarting failed container=agent pod=${name}`,
              },
            },
            lastState: {
              terminated: {
                exitCode: report.exitCode,
                reason: 'Error',
                startedAt: report.since,
                finishedAt: report.finishedAt,
              },
            },
          }
        : {
            name: 'agent',
            image,
            imageID: '',
            ready: false,
            started: false,
            restartCount: 0,
            state: {
              waiting: {
                reason: report.waiting,
                ...(report.message ? { message: report.message } : {}),
              },
            },
          };
  await core.replaceNamespacedPodStatus({
    name,
    namespace,
    body: {
      ...current,
      status: {
        phase: ready ? 'Running' : 'Pending',
        startTime: report.since,
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: report.since },
          {
            type: 'Ready',
            status: ready ? 'True' : 'False',
            lastTransitionTime: report.since,
            ...(ready ? {} : { reason: 'ContainersNotReady' }),
          },
        ],
        containerStatuses: [container],
      },
    },
  });
}

/**
 * TEST ONLY: writes a ResourceQuota's status as the quota controller would for an empty
 * namespace (without it the API server's quota admission refuses every pod of the namespace).
 */
export async function writeQuotaStatusAsController(
  core: k8s.CoreV1Api,
  namespace: string,
): Promise<void> {
  for (const q of (await core.listNamespacedResourceQuota({ namespace })).items)
    await core.replaceNamespacedResourceQuotaStatus({
      name: q.metadata!.name!,
      namespace,
      body: {
        ...q,
        status: {
          hard: q.spec!.hard,
          used: Object.fromEntries(Object.keys(q.spec!.hard ?? {}).map((k) => [k, '0'])),
        },
      },
    });
}
