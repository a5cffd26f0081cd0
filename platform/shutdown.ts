/**
 * How a platform pod stops, in one place: the manifests' pause before SIGTERM and grace period
 * (cdk8s/lib/workload.ts) and the services' drain and close times (services/runtime) add up
 * here, so a pod that is rolled, scaled down or evicted finishes what it was asked and exits 0
 * before the kubelet's SIGKILL.
 *
 * The order, from the moment Kubernetes deletes the pod:
 * 1. `preStopSeconds`: the kubelet's `preStop` sleep holds SIGTERM back while the pod's
 *    endpoints are taken out of the Service, kube-proxy and the mesh's load balancers (each
 *    learns it on its own, asynchronously). A request routed to the pod meanwhile is still
 *    answered; without the pause it could meet a closed port (a 503 at the gateway). The Istio
 *    sidecar is a native sidecar (Istio 1.27 and later), stopped only after the app.
 * 2. `drainMs`: on SIGTERM the service takes no new connection and gives the requests in
 *    flight this long to finish.
 * 3. `closeMs`: the service's own `close()` (timers, watches, queues) is given this long.
 * 4. `gracePeriodSeconds` bounds the whole; past it the kubelet kills the container.
 */

/** The stopping times of a platform pod (see the module comment for the order). */
export interface ShutdownTimes {
  /** The kubelet's pause between the pod's deletion and SIGTERM, in seconds. */
  readonly preStopSeconds: number;
  /** How long a service drains its requests in flight after SIGTERM, in milliseconds. */
  readonly drainMs: number;
  /** How long a service's own `close()` may take after the drain, in milliseconds. */
  readonly closeMs: number;
  /** The pod's `terminationGracePeriodSeconds`: SIGKILL comes this long after the deletion. */
  readonly gracePeriodSeconds: number;
}

export const SHUTDOWN: ShutdownTimes = {
  // A few seconds cover endpoint propagation in a small cluster; every replica of a rollout
  // waits this long, so it is kept short.
  preStopSeconds: 5,
  drainMs: 10_000,
  closeMs: 10_000,
  // 5 + 10 + 10 = 25 s of the 30 s, leaving 5 s for the process to exit.
  gracePeriodSeconds: 30,
};

/**
 * The seconds a service needs from its pod's deletion to its exit at most: the pause, the drain
 * and its close, rounded up. A pod's grace period must be longer.
 */
export function shutdownSeconds(times: ShutdownTimes = SHUTDOWN): number {
  return times.preStopSeconds + Math.ceil((times.drainMs + times.closeMs) / 1000);
}
