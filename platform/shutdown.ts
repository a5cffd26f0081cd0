/**
 * How a platform pod stops, in one place: the manifests' pause before SIGTERM and grace period
 * (cdk8s/lib/workload.ts) and the services' drain and close times (services/runtime) add up
 * here, so a pod that is rolled, scaled down or evicted finishes what it was asked and exits 0
 * before the kubelet's SIGKILL.
 *
 * The order, from the moment Kubernetes deletes the pod:
 * 1. `preStopSeconds`: the kubelet's `preStop` sleep holds SIGTERM back while the pod's
 *    endpoints are taken out of the Service, kube-proxy and the mesh's load balancers (each
 *    learns it on its own, asynchronously), so a request routed to the pod meanwhile is still
 *    answered instead of meeting a closed port (a 503 at the gateway). Only pods that another
 *    pod can stand in for pause (see cdk8s/lib/workload.ts).
 * 2. `drainMs`: on SIGTERM the service takes no new connection and gives the requests in
 *    flight this long to finish.
 * 3. `closeMs`: the service's own `close()` (timers, watches, queues) is given this long.
 * 4. `exitSeconds`: the process exits, then the Istio sidecar, a native sidecar (an init
 *    container that the kubelet stops after the app's containers), ends its own drain.
 * 5. `gracePeriodSeconds` bounds the whole; past it the kubelet kills what still runs.
 */

/** The stopping times of a platform pod (see the module comment for the order). */
export interface ShutdownTimes {
  /** The kubelet's pause between the pod's deletion and SIGTERM, in seconds. */
  readonly preStopSeconds: number;
  /** How long a service drains its requests in flight after SIGTERM, in milliseconds. */
  readonly drainMs: number;
  /** How long a service's own `close()` may take after the drain, in milliseconds. */
  readonly closeMs: number;
  /** Left for the process to exit and the sidecar to stop after it, in seconds. */
  readonly exitSeconds: number;
  /** The pod's `terminationGracePeriodSeconds`: SIGKILL comes this long after the deletion. */
  readonly gracePeriodSeconds: number;
}

export const SHUTDOWN: ShutdownTimes = {
  // A few seconds cover endpoint propagation in a small cluster; every replica of a rollout
  // waits this long, so it is kept short.
  preStopSeconds: 5,
  drainMs: 10_000,
  closeMs: 10_000,
  exitSeconds: 5,
  // 5 + 10 + 10 + 5: Kubernetes' own default.
  gracePeriodSeconds: 30,
};

/**
 * The seconds a pod may need from its deletion to its end: the pause, a service's drain and
 * close (rounded up) and the exit. A pod's grace period must be at least this.
 */
export function shutdownSeconds(times: ShutdownTimes = SHUTDOWN): number {
  return (
    times.preStopSeconds + Math.ceil((times.drainMs + times.closeMs) / 1000) + times.exitSeconds
  );
}
