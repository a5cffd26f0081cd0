/**
 * Mesh identities of workloads the platform does not build itself.
 */
import type { PlatformContext } from '../../../platform/context.js';
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
