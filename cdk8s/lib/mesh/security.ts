/**
 * Mesh-wide security: STRICT mTLS and default-deny in the platform namespaces, JWT
 * authentication of Keycloak tokens at the gateway, and the CUSTOM policy that sends every
 * non-public request through OPA.
 */
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication';
import { RequestAuthentication } from '@kubernetes-models/istio/security.istio.io/v1/RequestAuthentication';
import { Telemetry } from '@kubernetes-models/istio/telemetry.istio.io/v1/Telemetry';
import { Construct } from 'constructs';

import type { NamespaceRole } from '../../config/services.js';
import type { PlatformContext } from '../context.js';
import { modelObject } from '../model.js';
import { PART_OF } from '../workload.js';
import {
  INGRESS_GATEWAY_SELECTOR,
  OPA_EXT_AUTHZ_PROVIDER,
  TRACING_PROVIDER,
} from './identities.js';
import { opaExemptPaths } from './public-paths.js';

/** Namespaces whose workloads are in the mesh, with STRICT mTLS and default-deny. */
export const MESHED_NAMESPACES: readonly NamespaceRole[] = ['platform', 'identity'];

/** Props of {@link MeshSecurity}. */
export interface MeshSecurityProps {
  readonly context: PlatformContext;
}

/** mTLS, default-deny, JWT authentication and the OPA ext_authz policy. */
export class MeshSecurity extends Construct {
  constructor(scope: Construct, id: string, props: MeshSecurityProps) {
    super(scope, id);
    const ctx = props.context;
    const labels = { 'app.kubernetes.io/part-of': PART_OF };
    const mesh = ctx.namespace('mesh');

    for (const role of MESHED_NAMESPACES) {
      const ns = ctx.namespace(role);
      modelObject(
        this,
        `Mtls-${role}`,
        new PeerAuthentication({
          metadata: { name: 'default', namespace: ns, labels },
          spec: { mtls: { mode: 'STRICT' } },
        }),
      );
      // An ALLOW policy with no rules matches nothing, so it denies every request to every
      // workload of the namespace; each workload's grants add the only ways in.
      modelObject(
        this,
        `DefaultDeny-${role}`,
        new AuthorizationPolicy({
          metadata: { name: 'default-deny', namespace: ns, labels },
          spec: { action: 'ALLOW' },
        }),
      );
    }

    modelObject(
      this,
      'Jwt',
      new RequestAuthentication({
        metadata: { name: 'keycloak-jwt', namespace: mesh, labels },
        spec: {
          selector: { matchLabels: { ...INGRESS_GATEWAY_SELECTOR } },
          jwtRules: [
            {
              issuer: ctx.issuer,
              jwksUri: ctx.jwksUri,
              // OPA reads the token too; by default Istio would strip it after verifying. NOTE (1)
              forwardOriginalToken: true,
            },
          ],
        },
      }),
    );

    modelObject(
      this,
      'ExtAuthz',
      new AuthorizationPolicy({
        metadata: { name: 'opa-ext-authz', namespace: mesh, labels },
        spec: {
          selector: { matchLabels: { ...INGRESS_GATEWAY_SELECTOR } },
          action: 'CUSTOM',
          provider: { name: OPA_EXT_AUTHZ_PROVIDER },
          // Every request except the route table's public paths is decided by OPA. NOTE (2)
          rules: [{ to: [{ operation: { notPaths: opaExemptPaths(ctx.routes) } }] }],
        },
      }),
    );

    modelObject(
      this,
      'Tracing',
      new Telemetry({
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
// 1. Two checks of one token. RequestAuthentication rejects a request whose token has a bad
//    signature, a wrong issuer or is expired (401) before OPA sees it, and fetches the realm
//    keys itself; a request without a token passes it and is then denied by OPA on every
//    protected path. OPA repeats the checks it needs (issuer, audience, expiry, tenant,
//    roles) on the forwarded token, so neither layer alone lets a forged token through.
//    See https://istio.io/latest/docs/reference/config/security/request_authentication/
// 2. notPaths and path normalisation. Istio matches notPaths after normalising the path
//    (istiod's meshConfig sets DECODE_AND_MERGE_SLASHES), so /orion/version/../v2/entities,
//    %2F-encoded slashes and // cannot reach a backend as a public path; the same
//    normalised path is what the VirtualService routes on.
//    See https://istio.io/latest/docs/reference/config/security/normalization/
