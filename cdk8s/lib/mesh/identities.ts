/**
 * Mesh identities of workloads the platform does not build itself.
 */
import type { PlatformContext } from '../../../platform/context.js';
import { COMPONENTS } from '../../../platform/components.js';
import { INGRESS_GATEWAY_RELEASE } from '../../../platform/mesh.js';
import { ExternalIdentity } from '../workload.js';

/** The ingress gateway: the only way in from outside the cluster. */
export function ingressGateway(ctx: PlatformContext): ExternalIdentity {
  return new ExternalIdentity(
    ctx.componentNamespace('istioIngressGateway'),
    INGRESS_GATEWAY_RELEASE,
    'ingress gateway',
  );
}

/**
 * The liveness monitor, for the agents' policies: it nudges silent agents (POST /announce on
 * their pods). The agents are rendered apart from the platform's workloads (the fleet's own
 * synth), so its principal is derived here the way cdk8s/lib/platform.ts derives a registry
 * caller's: the component's namespace and its Service's name, which its Workload's service
 * account takes.
 */
export function monitor(ctx: PlatformContext): ExternalIdentity {
  const sa = COMPONENTS.monitor.service.name;
  return new ExternalIdentity(ctx.componentNamespace('monitor'), sa, sa);
}
