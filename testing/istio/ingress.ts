/**
 * The platform's ingress gateway as the Istio interpreter sees it: the gateway the
 * VirtualService is bound to and the labels its policies select.
 */
import { GATEWAY_NAME } from '../../cdk8s/lib/mesh/ingress.js';
import type { SynthOutput } from '../../cdk8s/lib/synth.js';
import type { PlatformContext } from '../../platform/context.js';
import { INGRESS_GATEWAY_SELECTOR } from '../../platform/mesh.js';
import type { MeshObject, MeshWorkload, Routed } from './mesh.js';
import { IstioMesh } from './mesh.js';

/** The ingress gateway of a synthesized platform. */
export interface Ingress {
  readonly mesh: IstioMesh;
  /** `<namespace>/<name>` of the Gateway the routes are bound to. */
  readonly gateway: string;
  /** The gateway's pods, as its policies select them. */
  readonly workload: MeshWorkload;
}

/** The ingress of a platform from its synthesized objects. */
export function ingressOf(ctx: PlatformContext, objects: readonly MeshObject[]): Ingress {
  const namespace = ctx.componentNamespace('istioIngressGateway');
  return {
    mesh: new IstioMesh(objects),
    gateway: `${namespace}/${GATEWAY_NAME}`,
    workload: { namespace, labels: INGRESS_GATEWAY_SELECTOR },
  };
}

/** Where the ingress of a synthesized platform sends `pathWithQuery`; undefined: 404. */
export function routeAtIngress(out: SynthOutput, pathWithQuery: string): Routed | undefined {
  const i = ingressOf(
    out.platform.context,
    out.objects.map((o) => o.object),
  );
  return i.mesh.route(i.gateway, pathWithQuery);
}
