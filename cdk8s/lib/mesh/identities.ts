/**
 * Mesh identities of workloads the platform does not build itself.
 */
import type { PlatformContext } from '../../../platform/context.js';
import { ExternalIdentity } from '../workload.js';

/**
 * Helm release (and so ServiceAccount and Deployment) name of the ingress gateway; the
 * gateway chart derives the `istio: ingressgateway` label from it.
 */
export const INGRESS_GATEWAY_RELEASE = 'istio-ingressgateway';

/** Pod labels of the ingress gateway, which Gateway and gateway policies select. */
export const INGRESS_GATEWAY_SELECTOR = { istio: 'ingressgateway' } as const;

/** The ingress gateway: the only way in from outside the cluster. */
export function ingressGateway(ctx: PlatformContext): ExternalIdentity {
  return new ExternalIdentity(ctx.namespace('mesh'), INGRESS_GATEWAY_RELEASE, 'ingress gateway');
}

/** Name of the OPA ext_authz provider declared in istiod's meshConfig. */
export const OPA_EXT_AUTHZ_PROVIDER = 'opa-ext-authz';

/** Name of the Jaeger (OpenTelemetry) tracing provider declared in istiod's meshConfig. */
export const TRACING_PROVIDER = 'jaeger-otlp';
