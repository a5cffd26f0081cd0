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

/**
 * The monitor's service account (services/monitor). NOTE (1)
 */
export const MONITOR_SERVICE_ACCOUNT = 'monitor';

/** The liveness monitor: it nudges silent agents (POST /announce on their pods). NOTE (1) */
export function monitor(ctx: PlatformContext): ExternalIdentity {
  return new ExternalIdentity(
    ctx.namespace('platform'),
    MONITOR_SERVICE_ACCOUNT,
    MONITOR_SERVICE_ACCOUNT,
  );
}

// NOTE
// 1. The monitor before its registry entry. Its component (platform/components.ts, namespace
//    role `platform`) is being added separately; until it is, its principal is derived here the
//    way cdk8s/lib/platform.ts derives a registry caller's (ExternalIdentity of the component's
//    namespace and service account), from this one name. Once COMPONENTS.monitor exists, derive
//    it from the entry (ctx.componentNamespace('monitor') and its service account) instead.
