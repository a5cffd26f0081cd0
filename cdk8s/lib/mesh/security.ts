/**
 * Mesh-wide security: STRICT mTLS, default-deny and an L3 fence in the platform namespaces;
 * Keycloak token verification at the tenant APIs; at the gateway, the paths nobody may reach
 * and the CUSTOM policy that sends every other non-public request through OPA.
 */
import { Construct } from 'constructs';

import { agentsNamespace } from '../../../platform/fleet/resolve.js';
import { AGENT_REACHED_SERVICES } from '../../../platform/fleet/rights.js';
import { TENANT_HEADER } from '../../../platform/tenancy.js';
import type { NamespaceRole } from '../../../platform/layers.js';
import type { PlatformContext } from '../../../platform/context.js';
import {
  AuthorizationPolicy,
  PeerAuthentication,
  RequestAuthentication,
  Telemetry,
} from '../../imports/istio.js';
import { NetworkPolicy, modelObject } from '../model.js';
import { PART_OF } from '../workload.js';
import {
  INGRESS_GATEWAY_SELECTOR,
  OPA_EXT_AUTHZ_PROVIDER,
  TRACING_PROVIDER,
} from '../../../platform/mesh.js';
import { TENANT_API_LABEL } from '../../../platform/mesh.js';
import { blockedPaths, opaExemptPaths } from '../../../platform/routes.js';

/** Namespaces whose workloads are in the mesh, with STRICT mTLS and default-deny. */
export const MESHED_NAMESPACES: readonly NamespaceRole[] = ['platform', 'identity'];

/** Props of {@link MeshSecurity}. */
export interface MeshSecurityProps {
  readonly context: PlatformContext;
}

/** mTLS, default-deny, network fences, JWT verification and the gateway's policies. */
export class MeshSecurity extends Construct {
  constructor(scope: Construct, id: string, props: MeshSecurityProps) {
    super(scope, id);
    const ctx = props.context;
    const labels = { 'app.kubernetes.io/part-of': PART_OF };
    const mesh = ctx.namespace('mesh');
    const meshed = MESHED_NAMESPACES.map((r) => ctx.namespace(r));
    // The tenants' agents call the FIWARE APIs their needs grant (platform/fleet/records.ts),
    // and Keycloak's token endpoint for their tokens (cdk8s/lib/fleet/identity.ts).
    const agentNamespaces = ctx.config.tenants.map((t) => agentsNamespace(t.name));
    const agentPeers = new Set([ctx.namespace('platform'), ctx.componentNamespace('keycloak')]);

    for (const role of MESHED_NAMESPACES) {
      const ns = ctx.namespace(role);
      modelObject(
        this,
        `Mtls-${role}`,
        PeerAuthentication({
          metadata: { name: 'default', namespace: ns, labels },
          spec: { mtls: { mode: 'STRICT' } },
        }),
      );
      // An ALLOW policy with no rules matches nothing, so it denies every request to every
      // workload of the namespace; each workload's grants add the only ways in.
      modelObject(
        this,
        `DefaultDeny-${role}`,
        AuthorizationPolicy({
          metadata: { name: 'default-deny', namespace: ns, labels },
          spec: { action: 'ALLOW' },
        }),
      );
      // NOTE (3)
      modelObject(
        this,
        `Fence-${role}`,
        NetworkPolicy({
          metadata: { name: 'mesh-peers-only', namespace: ns, labels },
          spec: {
            podSelector: {},
            policyTypes: ['Ingress'],
            ingress: [
              {
                from: [
                  ...new Set([...meshed, mesh, ...(agentPeers.has(ns) ? agentNamespaces : [])]),
                ]
                  .sort()
                  .map((peer) => ({
                    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': peer } },
                  })),
              },
            ],
          },
        }),
      );
    }

    // Tokens are verified where tenant API traffic ends, in the backends' sidecars, and where
    // agents' tokens go (their grants read the verified azp). NOTE (1)
    const tenantApiNamespaces = [
      ...new Set(
        [
          ...ctx.routes.filter((r) => r.access === 'tenant').map((r) => r.backend.service),
          ...AGENT_REACHED_SERVICES,
        ].map((s) => ctx.componentNamespace(s)),
      ),
    ].sort();
    for (const ns of tenantApiNamespaces) {
      modelObject(
        this,
        `Jwt-${ns}`,
        RequestAuthentication({
          metadata: { name: 'keycloak-jwt', namespace: ns, labels },
          spec: {
            selector: { matchLabels: { [TENANT_API_LABEL.key]: TENANT_API_LABEL.value } },
            jwtRules: [
              {
                issuer: ctx.issuer,
                jwksUri: ctx.jwksUri,
                // The bearer header only: no token smuggled in an access_token query parameter.
                fromHeaders: [{ name: 'Authorization', prefix: 'Bearer ' }],
                // Backends (the provisioning service) read the token too.
                forwardOriginalToken: true,
              },
            ],
          },
        }),
      );
    }

    // The ingress gateway's own policies: same selector, namespace and labels.
    const gatewayPolicy = (
      id: string,
      name: string,
      spec: Omit<NonNullable<AuthorizationPolicy['spec']>, 'selector'>,
    ) =>
      modelObject(
        this,
        id,
        AuthorizationPolicy({
          metadata: { name, namespace: mesh, labels },
          spec: { selector: { matchLabels: { ...INGRESS_GATEWAY_SELECTOR } }, ...spec },
        }),
      );

    const blocked = blockedPaths(ctx.routes);
    if (blocked.length > 0) {
      gatewayPolicy('Blocked', 'blocked-paths', {
        action: 'DENY',
        rules: [{ to: [{ operation: { paths: blocked } }] }],
      });
    }

    // Requests OPA does not see must not bring the header in which OPA names the verified
    // tenant: a backend could take it for OPA's. (On the others OPA's value replaces it.)
    gatewayPolicy('PlatformHeaders', 'platform-headers-from-clients', {
      action: 'DENY',
      rules: [
        {
          to: [{ operation: { paths: opaExemptPaths(ctx.routes) } }],
          when: [{ key: `request.headers[${TENANT_HEADER}]`, values: ['*'] }],
        },
      ],
    });

    gatewayPolicy('ExtAuthz', 'opa-ext-authz', {
      action: 'CUSTOM',
      provider: { name: OPA_EXT_AUTHZ_PROVIDER },
      // Every request except the route table's public paths is decided by OPA. NOTE (2)
      rules: [{ to: [{ operation: { notPaths: opaExemptPaths(ctx.routes) } }] }],
    });

    modelObject(
      this,
      'Tracing',
      Telemetry({
        metadata: { name: 'mesh-default', namespace: mesh, labels },
        spec: {
          tracing: [
            {
              providers: [{ name: TRACING_PROVIDER }],
              randomSamplingPercentage: ctx.config.profile === 'laptop' ? 100 : 1,
            },
          ],
        },
      }),
    );
  }
}

// NOTE
// 1. Where tokens are verified. A RequestAuthentication answers 401 to any request that
//    carries a token it cannot verify. At the gateway it would also hit the applications that
//    skip OPA and use bearer tokens of their own (Argo CD API tokens, Grafana service-account
//    tokens), so it selects the sidecars of the tenant API backends instead: a forged or
//    expired Keycloak token can never reach Orion, QuantumLeap, the IoT Agent or the
//    provisioning service, whatever the gateway decided. Each sidecar fetches the realm's keys over the mesh (istiod's
//    PILOT_JWT_ENABLE_REMOTE_JWKS=envoy), hence the grants to Keycloak's JWKS path. OPA at
//    the gateway checks the token itself too (issuer, audience, expiry, tenant, roles).
//    See https://istio.io/latest/docs/reference/config/security/request_authentication/
// 2. notPaths and path normalisation. Istio matches notPaths after normalising the path
//    (istiod's meshConfig sets DECODE_AND_MERGE_SLASHES), so /orion/version/../v2/entities,
//    %2F-encoded slashes and // cannot reach a backend as a public path; the same
//    normalised path is what the VirtualService routes on. The DENY policy runs before
//    ALLOW policies and refuses the blocked consoles whatever the token.
//    See https://istio.io/latest/docs/reference/config/security/normalization/
// 3. Network fence. AuthorizationPolicies guard the application ports, but a sidecar also
//    serves plaintext ports (15020 merged metrics, 15021 health, 15090 Envoy stats). The
//    NetworkPolicy admits only the meshed namespaces, istio-system (gateway, Prometheus) and,
//    into the platform namespace, the tenants' agents namespaces (each agent reaches exactly
//    what its needs grant) at L3/L4; traffic from a pod's own node (kubelet probes) is always allowed by
//    Kubernetes. It needs a CNI that enforces NetworkPolicy (minikube's bridge does not).
//    See https://kubernetes.io/docs/concepts/services-networking/network-policies/
