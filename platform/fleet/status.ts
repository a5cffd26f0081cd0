/**
 * The fleet's per-target status, as the fleet service's API reports it (issue 20): for each
 * agent × host, the revision git wants there, the revision the host runs, and one state of a
 * documented taxonomy with its reason and since when; for each host, Ready/NotReady from its
 * node's conditions and lease. Computed by the service, never by a client (the console shows it
 * as given).
 *
 * These are the fleet's columns. The monitor's liveness states (fresh, silent, offline) are a
 * separate column: a running pod can be silent, and a silent device has no pod
 * (docs/fleet-reference.md, generated from {@link TARGET_STATE_DOCS}, says both).
 */

/** The states of one agent × host, in the order a healthy deploy passes through them. */
export const TARGET_STATES = [
  'pending',
  'progressing',
  'running',
  'stopped',
  'degraded',
  'unreachable',
  'removed',
] as const;
export type TargetState = (typeof TARGET_STATES)[number];

/** What each state means; docs/fleet-reference.md is generated from it. */
export const TARGET_STATE_DOCS: Readonly<Record<TargetState, string>> = {
  pending:
    'git wants the agent on the host but nothing runs it yet: Argo CD has not applied the record (no Deployment), or a rollout has not reached the host',
  progressing:
    'the host is moving to the desired revision: the Deployment is new or changed and its pod is starting, or an old-revision pod still runs',
  running: 'a ready pod of the desired revision runs on the host',
  stopped:
    'the record says stopped (scaled to zero, config kept) or undeployed (workloads removed, record kept), and no pod runs',
  degraded:
    'the desired revision cannot run: the pod crashes, its image cannot be pulled, it is not ready past the progress deadline, or the Deployment reports a failure; the reason says which',
  unreachable:
    "the host's node is NotReady (its Ready condition is not True, or its lease has not been renewed for LEASE_GRACE_SECONDS): what runs there is unknown; the last revision seen is reported. Not a failure of the fleet",
  removed:
    'the record no longer places the agent on the host (removed, or the host left its group) and its workload is gone or going',
};

/** A host's node, as the status reports it. */
export interface HostStatus {
  readonly name: string;
  /** From the node's Ready condition and its lease: `Unknown` when the node is not registered. */
  readonly ready: 'Ready' | 'NotReady' | 'Unknown';
  /** Why: the Ready condition's reason and message, an expired lease, or `NodeNotFound`. */
  readonly reason: string;
  /**
   * Since when the host is in this readiness (RFC 3339), when known: the Ready condition's
   * lastTransitionTime, or for an expired lease its renewTime + LEASE_GRACE_SECONDS.
   */
  readonly since?: string;
  /** When the node's lease was last renewed (RFC 3339), when it has one. */
  readonly leaseRenewedAt?: string;
  /** The host's record exists (the node may exist without one, and the other way round). */
  readonly inInventory: boolean;
}

/** One agent × host. */
export interface TargetStatus {
  readonly agent: {
    readonly id: string;
    /** The agent's name (`<pipeline>-<module>` for a module). */
    readonly name: string;
    readonly tenant: string;
    readonly pipeline?: string;
  };
  /** The host; empty for a floating agent not yet scheduled. */
  readonly host: string;
  /** The revision git wants on this host; absent when git wants nothing there. */
  readonly desiredRevision?: string;
  /** The revision of the pod seen there (the last one seen when the host is unreachable). */
  readonly observedRevision?: string;
  readonly state: TargetState;
  /** Why, in words a person acts on (e.g. `ImagePullBackOff: ghcr.io/x/y:1.0 not found`). */
  readonly reason: string;
  /**
   * When the target entered this state (RFC 3339), from Kubernetes' timestamps by the rules of
   * platform/fleet/judge.ts (a pod's Ready transition, a Deployment condition, the host's
   * readiness); the time of the observation where Kubernetes has none (pending).
   */
  readonly since: string;
  /** The image the pod runs (or would run). */
  readonly image?: string;
  /** The id of the rollout that is moving this target, when one is. */
  readonly rollout?: string;
}

/** How long a node's lease may go unrenewed before its host counts as unreachable. */
export const LEASE_GRACE_SECONDS = 40;

/** How long a new revision may take to become ready before its target is degraded. */
export const PROGRESS_DEADLINE_SECONDS = 600;
