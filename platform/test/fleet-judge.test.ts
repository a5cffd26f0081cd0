/**
 * The judge of the fleet's per-target status (platform/fleet/judge.ts), on resolved records and
 * Kubernetes objects shaped as the API serves them: each state of the taxonomy, the host
 * readiness from the Ready condition and the lease, and the cases a naive judge gets wrong (an
 * old pod still ready while the new one crashes, an unreachable host mid-rollout, a NotReady
 * node with a fresh lease, stopped vs undeployed, a Deployment no record wants, a tenant filter).
 * The clock is injected: no test sleeps.
 */
import { stringify } from 'yaml';

import { loadPlatformContext } from '../context.js';
import { FLEET_LABELS, agentInstanceName } from '../fleet/identity.js';
import type {
  ObservedCondition,
  ObservedDeployment,
  ObservedLease,
  ObservedNode,
  ObservedPod,
  Observation,
} from '../fleet/judge.js';
import { judgeFleet } from '../fleet/judge.js';
import type { Fleet, ResolvedAgent } from '../fleet/resolve.js';
import { agentsNamespace, instanceOn, resolveFleet } from '../fleet/resolve.js';
import { LEASE_GRACE_SECONDS, PROGRESS_DEADLINE_SECONDS } from '../fleet/status.js';
import type { TargetStatus } from '../fleet/status.js';

const ctx = loadPlatformContext();
const uuid = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const NOW = new Date('2026-12-03T10:00:00Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();
const NEW = 'ghcr.io/x/detector:2.0.0';
const OLD = 'ghcr.io/x/detector:1.0.0';

const records = [
  { kind: 'Host', name: 'h1' },
  { kind: 'Host', name: 'h2' },
  { kind: 'Host', name: 'h3' },
  { kind: 'Host', name: 'h9' },
  { kind: 'Group', id: uuid(1), name: 'g', hosts: ['h1', 'h2', 'h3'] },
  { kind: 'Template', id: uuid(2), name: 't', image: NEW, ports: [8080] },
  {
    kind: 'Agent',
    id: uuid(10),
    name: 'detector',
    tenant: 'manufracture',
    template: 't',
    placement: { host: 'h1' },
  },
  {
    kind: 'Agent',
    id: uuid(11),
    name: 'sleeper',
    tenant: 'manufracture',
    template: 't',
    state: 'stopped',
    placement: { host: 'h1' },
  },
  {
    kind: 'Agent',
    id: uuid(12),
    name: 'gone',
    tenant: 'manufracture',
    template: 't',
    state: 'undeployed',
    placement: { host: 'h2' },
  },
  {
    kind: 'Agent',
    id: uuid(13),
    name: 'upgraded',
    tenant: 'manufracture',
    template: 't',
    placement: { group: 'g' },
    rollout: {
      id: uuid(90),
      from: { image: OLD },
      waves: [['h1'], ['h2'], ['h3']],
      started: 1,
      maxUnavailable: 1,
      by: 'ops',
    },
  },
  {
    kind: 'Agent',
    id: uuid(14),
    name: 'deployed',
    tenant: 'manufracture',
    template: 't',
    placement: { group: 'g' },
    rollout: {
      id: uuid(91),
      waves: [['h1'], ['h2', 'h3']],
      started: 1,
      maxUnavailable: 2,
      by: 'ops',
    },
  },
  {
    kind: 'Agent',
    id: uuid(15),
    name: 'floater',
    tenant: 'manufracture',
    template: 't',
    placement: { floating: true },
  },
  {
    kind: 'Agent',
    id: uuid(16),
    name: 'lonely',
    tenant: 'manufracture',
    template: 't',
    placement: { host: 'h9' },
  },
  {
    kind: 'Agent',
    id: uuid(20),
    name: 'other',
    tenant: 'smithereens',
    template: 't',
    placement: { host: 'h1' },
  },
];
const fleet: Fleet = resolveFleet(
  records.map((r, i) => ({ path: `fleet/r${i}.yaml`, text: stringify(r) })),
  ctx,
);
const agent = (name: string): ResolvedAgent => fleet.agents.find((a) => a.name === name)!;
const want = (name: string, host = '') => instanceOn(agent(name), host)!;

// Objects as the API serves them (the subset the judge reads), labelled as the construct
// library labels them (cdk8s/lib/fleet/agents.ts; testing/test/fleet-status.test.ts proves the
// judge on what it really renders).
const cond = (type: string, status: string, at: string, more: Partial<ObservedCondition> = {}) => ({
  type,
  status,
  lastTransitionTime: at,
  ...more,
});
const node = (
  name: string,
  ready: ObservedCondition = cond('Ready', 'True', ago(3600), {
    reason: 'KubeletReady',
    message: 'kubelet is posting ready status',
  }),
): ObservedNode => ({
  metadata: { name },
  status: { conditions: [ready] },
});
const lease = (name: string, renewedSecondsAgo: number): ObservedLease => ({
  metadata: { name, namespace: 'kube-node-lease' },
  spec: { holderIdentity: name, renewTime: ago(renewedSecondsAgo) },
});
const instanceLabels = (a: ResolvedAgent, host?: string) => ({
  [FLEET_LABELS.agentId]: a.id,
  [FLEET_LABELS.agent]: a.name,
  [FLEET_LABELS.tenant]: a.tenant,
  [FLEET_LABELS.instance]: agentInstanceName(a.id, host),
  [FLEET_LABELS.host]: host ?? 'floating',
});
function deployment(
  a: ResolvedAgent,
  host: string | undefined,
  o: {
    revision?: string;
    replicas?: number;
    conditions?: ObservedCondition[];
    created?: string;
    generation?: number;
  } = {},
): ObservedDeployment {
  return {
    metadata: {
      name: agentInstanceName(a.id, host),
      namespace: agentsNamespace(a.tenant),
      labels: instanceLabels(a, host),
      annotations: { [FLEET_LABELS.revision]: o.revision ?? instanceOn(a, host ?? '')!.revision },
      creationTimestamp: o.created ?? ago(3600),
      generation: o.generation ?? 1,
    },
    spec: { replicas: o.replicas ?? (a.state === 'running' ? 1 : 0) },
    status: { observedGeneration: 1, conditions: o.conditions ?? [] },
  };
}
type ContainerStatus = NonNullable<NonNullable<ObservedPod['status']>['containerStatuses']>[number];
function pod(
  a: ResolvedAgent,
  host: string | undefined,
  o: {
    name?: string;
    revision?: string;
    image?: string;
    node?: string;
    ready?: boolean;
    readySince?: string;
    created?: string;
    deleting?: string;
    container?: Partial<ContainerStatus>;
  } = {},
): ObservedPod {
  const w = instanceOn(a, host ?? '');
  const image = o.image ?? w?.image ?? NEW;
  const ready = o.ready ?? true;
  return {
    metadata: {
      name: o.name ?? `${agentInstanceName(a.id, host)}-5d8f7-abcde`,
      namespace: agentsNamespace(a.tenant),
      labels: instanceLabels(a, host),
      annotations: { [FLEET_LABELS.revision]: o.revision ?? w!.revision },
      creationTimestamp: o.created ?? ago(600),
      ...(o.deleting ? { deletionTimestamp: o.deleting } : {}),
    },
    spec: { nodeName: o.node ?? host, containers: [{ name: 'agent', image }] },
    status: {
      phase: ready ? 'Running' : 'Pending',
      conditions: [
        cond('PodScheduled', 'True', ago(600)),
        cond(
          'Ready',
          ready ? 'True' : 'False',
          o.readySince ?? ago(500),
          ready ? {} : { reason: 'ContainersNotReady' },
        ),
      ],
      containerStatuses: [
        {
          name: 'agent',
          image,
          ready,
          restartCount: 0,
          state: ready
            ? { running: { startedAt: ago(550) } }
            : { waiting: { reason: 'ContainerCreating' } },
          ...o.container,
        },
      ],
    },
  };
}

/** Every inventory host Ready with a fresh lease, plus the given objects. */
function observe(o: Partial<Omit<Observation, 'now'>> = {}): Observation {
  const hosts = ['h1', 'h2', 'h3', 'h9'];
  return {
    now: NOW,
    nodes: o.nodes ?? hosts.map((h) => node(h)),
    leases: o.leases ?? hosts.map((h) => lease(h, 5)),
    deployments: o.deployments ?? [],
    pods: o.pods ?? [],
  };
}
const target = (targets: readonly TargetStatus[], name: string, host: string) => {
  const t = targets.filter((x) => x.agent.name === name && x.host === host);
  if (t.length !== 1)
    throw new Error(
      `${t.length} targets ${name} on ${host}: ${JSON.stringify(targets.map((x) => [x.agent.name, x.host, x.state]))}`,
    );
  return t[0]!;
};
const judge = (o: Partial<Omit<Observation, 'now'>>, tenants?: string[]) =>
  judgeFleet(fleet, observe(o), tenants ? { tenants } : {});

describe('judgeFleet', () => {
  const detector = agent('detector');

  it('says running for a ready pod of the desired revision, since its Ready transition', () => {
    const { targets } = judge({
      deployments: [deployment(detector, 'h1')],
      pods: [pod(detector, 'h1', { readySince: ago(120) })],
    });
    expect(target(targets, 'detector', 'h1')).toEqual({
      agent: { id: detector.id, name: 'detector', tenant: 'manufracture' },
      host: 'h1',
      desiredRevision: detector.revision,
      observedRevision: detector.revision,
      state: 'running',
      reason: 'ready',
      since: ago(120),
      image: NEW,
    });
  });

  it('says progressing while the new pod starts, and degraded once it is not ready past the deadline', () => {
    const starting = judge({
      deployments: [deployment(detector, 'h1')],
      pods: [pod(detector, 'h1', { ready: false, created: ago(30) })],
    });
    expect(target(starting.targets, 'detector', 'h1')).toMatchObject({
      state: 'progressing',
      reason: expect.stringContaining('not ready (ContainerCreating)'),
      since: ago(30),
    });
    const late = PROGRESS_DEADLINE_SECONDS + 100;
    const stuck = judge({
      deployments: [deployment(detector, 'h1')],
      pods: [pod(detector, 'h1', { ready: false, created: ago(late) })],
    });
    expect(target(stuck.targets, 'detector', 'h1')).toMatchObject({
      state: 'degraded',
      reason: expect.stringContaining(
        `not ready for ${late} s (> ${PROGRESS_DEADLINE_SECONDS} s): ContainerCreating`,
      ),
      since: ago(100),
    });
  });

  it('says degraded with the image when the pod cannot pull it', () => {
    const { targets } = judge({
      deployments: [deployment(detector, 'h1')],
      pods: [
        pod(detector, 'h1', {
          ready: false,
          readySince: ago(200),
          container: {
            state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } },
          },
        }),
      ],
    });
    expect(target(targets, 'detector', 'h1')).toMatchObject({
      state: 'degraded',
      reason: expect.stringContaining(`ImagePullBackOff: ${NEW}: Back-off pulling image`),
      since: ago(200),
    });
  });

  it('says degraded with the restarts and the last exit code when the pod crash-loops', () => {
    const { targets } = judge({
      deployments: [deployment(detector, 'h1')],
      pods: [
        pod(detector, 'h1', {
          ready: false,
          readySince: ago(300),
          container: {
            restartCount: 5,
            state: {
              waiting: {
                reason: 'CrashLoopBackOff',
                message: 'back-off 2m40s restarting failed container',
              },
            },
            lastState: { terminated: { exitCode: 3, reason: 'Error', finishedAt: ago(20) } },
          },
        }),
      ],
    });
    expect(target(targets, 'detector', 'h1')).toMatchObject({
      state: 'degraded',
      reason: expect.stringContaining(
        `CrashLoopBackOff, restarted 5 times, last exit code 3 (Error) at ${ago(20)}`,
      ),
      since: ago(300),
    });
  });

  it('says degraded, not running, when an old revision pod is still ready while the new one crashes', () => {
    const old = pod(detector, 'h1', {
      name: 'old-pod',
      revision: 'aaaaaaaaaaaaaaaa',
      image: OLD,
      readySince: ago(9000),
    });
    const crashing = pod(detector, 'h1', {
      name: 'new-pod',
      ready: false,
      container: {
        restartCount: 2,
        state: { running: { startedAt: ago(2) } },
        lastState: { terminated: { exitCode: 1, reason: 'Error' } },
      },
    });
    const t = target(
      judge({ deployments: [deployment(detector, 'h1')], pods: [old, crashing] }).targets,
      'detector',
      'h1',
    );
    expect(t.state).toBe('degraded');
    expect(t.reason).toContain(
      'pod new-pod: container agent restarted 2 times, last exit code 1 (Error)',
    );
    // What runs there is the old revision: the rollout runner must not count it done.
    expect(t.observedRevision).toBe('aaaaaaaaaaaaaaaa');
    expect(t.desiredRevision).toBe(detector.revision);
  });

  it('says progressing while only an old revision pod runs, and while it terminates beside a ready new one', () => {
    const old = pod(detector, 'h1', { name: 'old-pod', revision: 'aaaaaaaaaaaaaaaa', image: OLD });
    const before = target(
      judge({ deployments: [deployment(detector, 'h1')], pods: [old] }).targets,
      'detector',
      'h1',
    );
    expect(before).toMatchObject({
      state: 'progressing',
      observedRevision: 'aaaaaaaaaaaaaaaa',
      reason: expect.stringContaining(
        `old revision aaaaaaaaaaaaaaaa still runs (pod old-pod); revision ${detector.revision} has no pod yet`,
      ),
    });
    const after = target(
      judge({
        deployments: [deployment(detector, 'h1')],
        pods: [
          pod(detector, 'h1', { name: 'old-pod', revision: 'aaaaaaaaaaaaaaaa', deleting: ago(1) }),
          pod(detector, 'h1', { name: 'new-pod' }),
        ],
      }).targets,
      'detector',
      'h1',
    );
    expect(after).toMatchObject({
      state: 'progressing',
      observedRevision: detector.revision,
      reason: 'old revision aaaaaaaaaaaaaaaa still terminating (pod old-pod)',
    });
  });

  it('says degraded when the container cannot start for want of its Secret, with the kubelet message', () => {
    const { targets } = judge({
      deployments: [deployment(detector, 'h1')],
      pods: [
        pod(detector, 'h1', {
          ready: false,
          container: {
            state: {
              waiting: {
                reason: 'CreateContainerConfigError',
                message: 'secret "agent-000000100000-client" not found',
              },
            },
          },
        }),
      ],
    });
    expect(target(targets, 'detector', 'h1')).toMatchObject({
      state: 'degraded',
      reason: expect.stringContaining(
        'CreateContainerConfigError: secret "agent-000000100000-client" not found',
      ),
    });
  });

  it('says progressing while the controller has not acted, or the Deployment has no pod yet, and degraded when none comes', () => {
    const unseen = deployment(detector, 'h1', { generation: 2 });
    expect(target(judge({ deployments: [unseen] }).targets, 'detector', 'h1')).toMatchObject({
      state: 'progressing',
      reason: expect.stringContaining('has not seen generation 2'),
    });
    const fresh = deployment(detector, 'h1', { created: ago(20) });
    expect(target(judge({ deployments: [fresh] }).targets, 'detector', 'h1')).toMatchObject({
      state: 'progressing',
      reason: expect.stringContaining('has no pod yet'),
      since: ago(20),
    });
    const late = PROGRESS_DEADLINE_SECONDS + 50;
    const stale = deployment(detector, 'h1', { created: ago(late) });
    expect(target(judge({ deployments: [stale] }).targets, 'detector', 'h1')).toMatchObject({
      state: 'degraded',
      reason: expect.stringContaining(`has had no pod for ${late} s`),
      since: ago(50),
    });
  });

  it("says degraded with the Deployment's ReplicaFailure message and its time", () => {
    const failure = cond('ReplicaFailure', 'True', ago(50), {
      reason: 'FailedCreate',
      message:
        'pods "x" is forbidden: exceeded quota: agents, requested: pods=1, used: pods=10, limited: pods=10',
    });
    const t = target(
      judge({ deployments: [deployment(detector, 'h1', { conditions: [failure] })] }).targets,
      'detector',
      'h1',
    );
    expect(t).toMatchObject({
      state: 'degraded',
      reason: expect.stringContaining('ReplicaFailure: pods "x" is forbidden: exceeded quota'),
      since: ago(50),
    });
    const deadline = cond('Progressing', 'False', ago(40), {
      reason: 'ProgressDeadlineExceeded',
      message: 'ReplicaSet "x" has timed out progressing.',
    });
    const d = target(
      judge({ deployments: [deployment(detector, 'h1', { conditions: [deadline] })] }).targets,
      'detector',
      'h1',
    );
    expect(d).toMatchObject({
      state: 'degraded',
      reason: expect.stringContaining('ProgressDeadlineExceeded: ReplicaSet "x" has timed out'),
      since: ago(40),
    });
  });

  it('says pending while Argo CD has not applied the record: no Deployment, another revision, another replica count', () => {
    expect(target(judge({}).targets, 'detector', 'h1')).toMatchObject({
      state: 'pending',
      reason: `Argo CD has not applied the record yet: no Deployment ${agentInstanceName(detector.id, 'h1')} in agents-manufracture`,
      since: NOW.toISOString(),
    });
    const stale = judge({
      deployments: [deployment(detector, 'h1', { revision: 'bbbbbbbbbbbbbbbb' })],
      pods: [pod(detector, 'h1', { revision: 'bbbbbbbbbbbbbbbb' })],
    });
    expect(target(stale.targets, 'detector', 'h1')).toMatchObject({
      state: 'pending',
      observedRevision: 'bbbbbbbbbbbbbbbb',
      reason: expect.stringContaining(`Argo CD has not applied revision ${detector.revision} yet`),
    });
    const sleeper = agent('sleeper');
    const notStopped = judge({
      deployments: [deployment(sleeper, 'h1', { replicas: 1 })],
      pods: [pod(sleeper, 'h1')],
    });
    expect(target(notStopped.targets, 'sleeper', 'h1')).toMatchObject({
      state: 'pending',
      reason: expect.stringContaining('Argo CD has not applied state stopped yet'),
    });
  });

  it('tells stopped (scaled to zero) from undeployed (workloads removed), and both from the way there', () => {
    const sleeper = agent('sleeper');
    const gone = agent('gone');
    const scaled = cond('Available', 'True', ago(70), { lastUpdateTime: ago(70) });
    const { targets } = judge({
      deployments: [deployment(sleeper, 'h1', { conditions: [scaled] })],
    });
    expect(target(targets, 'sleeper', 'h1')).toMatchObject({
      state: 'stopped',
      desiredRevision: sleeper.revision,
      reason: 'stopped: scaled to zero, config kept',
      since: ago(70),
    });
    const g = target(targets, 'gone', 'h2');
    expect(g).toMatchObject({
      state: 'stopped',
      reason: 'undeployed: the record is kept, its workloads are removed',
    });
    expect(g.desiredRevision).toBeUndefined();

    const goneLeft: ObservedDeployment = {
      ...deployment(detector, 'h1'),
      metadata: {
        ...deployment(detector, 'h1').metadata,
        name: agentInstanceName(gone.id, 'h2'),
        namespace: 'agents-manufracture',
        labels: instanceLabels(gone, 'h2'),
      },
    };
    const stopping = judge({
      deployments: [goneLeft, deployment(sleeper, 'h1')],
      pods: [pod(sleeper, 'h1', { deleting: ago(3) })],
    });
    expect(target(stopping.targets, 'gone', 'h2')).toMatchObject({
      state: 'progressing',
      reason: expect.stringContaining('undeployed: Argo CD has not removed Deployment'),
    });
    expect(target(stopping.targets, 'sleeper', 'h1')).toMatchObject({
      state: 'progressing',
      reason: expect.stringContaining('still terminating'),
      since: ago(3),
    });
  });

  it('says removed for a Deployment of the fleet that no record wants: a deleted agent, a host that left the group', () => {
    const ghost = { ...detector, id: uuid(77), name: 'ghost' };
    const upgraded = agent('upgraded');
    const leftGroup = deployment(upgraded, 'h9', { revision: upgraded.revision });
    const deleting: ObservedDeployment = {
      ...deployment(ghost, 'h2', { revision: 'cccccccccccccccc' }),
      metadata: {
        ...deployment(ghost, 'h2', { revision: 'cccccccccccccccc' }).metadata,
        deletionTimestamp: ago(4),
      },
    };
    const { targets } = judge({
      deployments: [deployment(detector, 'h1'), deleting, leftGroup],
      pods: [pod(detector, 'h1'), pod(ghost, 'h2', { revision: 'cccccccccccccccc' })],
    });
    expect(target(targets, 'ghost', 'h2')).toMatchObject({
      agent: { id: uuid(77), name: 'ghost', tenant: 'manufracture' },
      state: 'removed',
      observedRevision: 'cccccccccccccccc',
      reason: expect.stringContaining(`no record has agent id ${uuid(77)} any more`),
      since: ago(4),
    });
    expect(target(targets, 'upgraded', 'h9')).toMatchObject({
      state: 'removed',
      reason: expect.stringContaining('no longer places it on h9'),
    });
    // What the records want is not removed.
    expect(target(targets, 'detector', 'h1').state).toBe('running');
    expect(targets.filter((t) => t.state === 'removed')).toHaveLength(2);
  });

  it('says unreachable with the last revision seen for a host whose lease expired mid-rollout, never degraded', () => {
    const upgraded = agent('upgraded');
    const from = want('upgraded', 'h2');
    expect(from.image).toBe(OLD);
    // The last status the kubelet posted before the host went away said the pod crashed.
    const lastSeen = pod(upgraded, 'h2', {
      ready: false,
      container: { restartCount: 9, state: { waiting: { reason: 'CrashLoopBackOff' } } },
    });
    const expired = LEASE_GRACE_SECONDS + 60;
    const { hosts, targets } = judge({
      leases: [lease('h1', 5), lease('h2', expired), lease('h3', 5), lease('h9', 5)],
      deployments: ['h1', 'h2', 'h3'].map((h) => deployment(upgraded, h)),
      pods: [pod(upgraded, 'h1'), lastSeen, pod(upgraded, 'h3')],
    });
    expect(hosts.find((h) => h.name === 'h2')).toEqual({
      name: 'h2',
      ready: 'NotReady',
      reason: `lease expired: last renewed at ${ago(expired)}, more than ${LEASE_GRACE_SECONDS} s ago (the node's Ready condition is stale)`,
      since: ago(expired - LEASE_GRACE_SECONDS),
      leaseRenewedAt: ago(expired),
      inInventory: true,
    });
    expect(target(targets, 'upgraded', 'h2')).toMatchObject({
      state: 'unreachable',
      desiredRevision: from.revision,
      observedRevision: from.revision,
      rollout: uuid(90),
      reason: expect.stringContaining('host h2 NotReady: lease expired'),
      since: ago(expired - LEASE_GRACE_SECONDS),
    });
    // The other hosts of the rollout are judged on their own.
    expect(target(targets, 'upgraded', 'h1')).toMatchObject({
      state: 'running',
      desiredRevision: upgraded.revision,
      rollout: uuid(90),
    });
    expect(target(targets, 'upgraded', 'h3')).toMatchObject({
      state: 'running',
      desiredRevision: from.revision,
    });
    expect(upgraded.revision).not.toBe(from.revision);
  });

  it('reports a NotReady node as NotReady even with a fresh lease, and its targets unreachable, not running', () => {
    const notReady = cond('Ready', 'False', ago(90), {
      reason: 'KubeletNotReady',
      message: 'container runtime is down',
    });
    const { hosts, targets } = judge({
      nodes: [node('h1', notReady), node('h2'), node('h3'), node('h9')],
      deployments: [deployment(detector, 'h1')],
      pods: [pod(detector, 'h1')],
    });
    expect(hosts.find((h) => h.name === 'h1')).toEqual({
      name: 'h1',
      ready: 'NotReady',
      reason: 'KubeletNotReady: container runtime is down',
      since: ago(90),
      leaseRenewedAt: ago(5),
      inInventory: true,
    });
    expect(target(targets, 'detector', 'h1')).toMatchObject({
      state: 'unreachable',
      observedRevision: detector.revision,
      since: ago(90),
    });
  });

  it('reports a Ready node with a fresh lease Ready, a node without a lease NotReady and a missing node Unknown', () => {
    const lonely = agent('lonely');
    const { hosts, targets } = judge({
      nodes: [node('h1'), node('h2'), node('h3')],
      leases: [lease('h1', LEASE_GRACE_SECONDS - 1), lease('h3', 5)],
    });
    expect(hosts.find((h) => h.name === 'h1')).toMatchObject({
      ready: 'Ready',
      reason: 'KubeletReady: kubelet is posting ready status',
      since: ago(3600),
    });
    expect(hosts.find((h) => h.name === 'h2')).toMatchObject({
      ready: 'NotReady',
      reason: expect.stringContaining('has no lease'),
    });
    expect(hosts.find((h) => h.name === 'h9')).toEqual({
      name: 'h9',
      ready: 'Unknown',
      reason: expect.stringMatching(/^NodeNotFound: no node h9 has registered/),
      inInventory: true,
    });
    expect(target(targets, 'lonely', 'h9')).toMatchObject({
      state: 'pending',
      desiredRevision: lonely.revision,
      reason: expect.stringContaining('NodeNotFound'),
    });
  });

  it('says pending with the rollout for a host a deploying rollout has not reached, and wants nothing there yet', () => {
    const deployed = agent('deployed');
    const { targets } = judge({
      deployments: [deployment(deployed, 'h1')],
      pods: [pod(deployed, 'h1')],
    });
    expect(target(targets, 'deployed', 'h1')).toMatchObject({
      state: 'running',
      rollout: uuid(91),
    });
    const h3 = target(targets, 'deployed', 'h3');
    expect(h3).toMatchObject({
      state: 'pending',
      rollout: uuid(91),
      reason: `rollout ${uuid(91)} has not reached h3 yet (wave 2 of 2)`,
    });
    expect(h3.desiredRevision).toBeUndefined();
  });

  it("puts a floating agent on its pod's node, or on no host while it is unscheduled", () => {
    const floater = agent('floater');
    const placed = judge({
      deployments: [deployment(floater, undefined)],
      pods: [pod(floater, undefined, { node: 'h3' })],
    });
    expect(target(placed.targets, 'floater', 'h3')).toMatchObject({ state: 'running' });
    const unscheduled = pod(floater, undefined, { ready: false, created: ago(10) });
    const waiting = judge({
      deployments: [deployment(floater, undefined)],
      pods: [
        {
          ...unscheduled,
          spec: { containers: unscheduled.spec!.containers! },
          status: {
            ...unscheduled.status,
            conditions: [
              cond('PodScheduled', 'False', ago(10), {
                reason: 'Unschedulable',
                message: '0/4 nodes are available',
              }),
            ],
          },
        },
      ],
    });
    expect(target(waiting.targets, 'floater', '')).toMatchObject({
      state: 'progressing',
      reason: expect.stringContaining('Unschedulable: 0/4 nodes are available'),
    });
  });

  it("hides other tenants' targets, removed ones included, and their hosts behind a tenant filter", () => {
    const other = agent('other');
    const ghost = { ...other, id: uuid(78), name: 'ghost' };
    const o = {
      deployments: [
        deployment(detector, 'h1'),
        deployment(other, 'h1'),
        deployment(ghost, 'h3', { revision: 'dddddddddddddddd' }),
      ],
      pods: [
        pod(detector, 'h1'),
        pod(other, 'h1'),
        pod(ghost, 'h3', { revision: 'dddddddddddddddd' }),
      ],
    };
    const all = judge(o);
    expect(all.targets.some((t) => t.agent.tenant === 'smithereens')).toBe(true);
    expect(target(all.targets, 'ghost', 'h3').state).toBe('removed');
    const mine = judge(o, ['manufracture']);
    expect(mine.targets.length).toBeGreaterThan(0);
    expect(mine.targets.filter((t) => t.agent.tenant !== 'manufracture')).toEqual([]);
    const theirs = judge(o, ['smithereens']);
    expect(theirs.targets.map((t) => `${t.agent.name}@${t.host}:${t.state}`)).toEqual([
      'ghost@h3:removed',
      'other@h1:running',
    ]);
    expect(theirs.hosts.map((h) => h.name)).toEqual(['h1', 'h3']);
  });
});
