/**
 * Names of the mesh that more than one layer uses: the SPIFFE principals Istio derives from
 * service accounts, the ingress gateway's identity and labels, the pod label of the tenant
 * APIs, and the providers istiod's meshConfig declares.
 */
import { COMPONENTS } from './components.js';

/** The SPIFFE trust domain of the mesh (Istio's default). */
export const TRUST_DOMAIN = 'cluster.local';

/** A workload's mesh identity: the principal Istio derives from its service account. */
export function meshPrincipal(namespace: string, serviceAccount: string): string {
  return `${TRUST_DOMAIN}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * Helm release (and so ServiceAccount, Deployment and Service) name of the ingress gateway;
 * the gateway chart derives the `istio: ingressgateway` label from it.
 */
export const INGRESS_GATEWAY_RELEASE = COMPONENTS.istioIngressGateway.serviceAccount;

/** Pod labels of the ingress gateway, which Gateway and gateway policies select. */
export const INGRESS_GATEWAY_SELECTOR = { istio: 'ingressgateway' } as const;

/**
 * Marks the pods that serve a `tenant` route of the route table (Orion, QuantumLeap, the IoT
 * Agent, the provisioning service): their sidecars verify Keycloak tokens (RequestAuthentication).
 */
export const TENANT_API_LABEL = { key: 'kitt4sme.io/tenant-api', value: 'true' } as const;

/** Name of the OPA ext_authz provider declared in istiod's meshConfig. */
export const OPA_EXT_AUTHZ_PROVIDER = 'opa-ext-authz';

/** Name of the Jaeger (OpenTelemetry) tracing provider declared in istiod's meshConfig. */
export const TRACING_PROVIDER = 'jaeger-otlp';
