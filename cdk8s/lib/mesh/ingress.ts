/**
 * The ingress: an Istio Gateway for the platform host and a VirtualService generated from
 * the route table.
 */
import { Construct } from 'constructs';

import type { RouteSpec } from '../../../platform/routes.js';
import type { ServicePortSpec } from '../../../platform/components.js';
import { SERVICES } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import { Gateway, VirtualService } from '../../imports/istio.js';
import { modelObject } from '../model.js';
import { BOOTSTRAP_SECRETS } from '../../../platform/secrets.js';
import { PART_OF } from '../workload.js';
import { INGRESS_GATEWAY_SELECTOR } from '../../../platform/mesh.js';

/** Name of the Gateway object, which the VirtualService binds to. */
export const GATEWAY_NAME = 'kitt4sme-gateway';

/** Props of {@link Ingress}. */
export interface IngressProps {
  readonly context: PlatformContext;
}

/** The Gateway and the route-table VirtualService. */
export class Ingress extends Construct {
  constructor(scope: Construct, id: string, props: IngressProps) {
    super(scope, id);
    const ctx = props.context;
    const ns = ctx.namespace('mesh');
    const host = ctx.config.ingress.host;
    const tls = ctx.config.ingress.tls;
    const labels = { 'app.kubernetes.io/part-of': PART_OF };

    modelObject(
      this,
      'Gateway',
      Gateway({
        metadata: { name: GATEWAY_NAME, namespace: ns, labels },
        spec: {
          selector: { ...INGRESS_GATEWAY_SELECTOR },
          servers: [
            {
              port: { number: 80, name: 'http', protocol: 'HTTP' },
              hosts: [host],
              ...(tls ? { tls: { httpsRedirect: true } } : {}),
            },
            ...(tls
              ? [
                  {
                    port: { number: 443, name: 'https', protocol: 'HTTPS' },
                    hosts: [host],
                    tls: {
                      mode: 'SIMPLE' as const,
                      credentialName: BOOTSTRAP_SECRETS.ingressTls.name,
                      minProtocolVersion: 'TLSV1_2' as const,
                    },
                  },
                ]
              : []),
          ],
        },
      }),
    );

    modelObject(
      this,
      'Routes',
      VirtualService({
        metadata: { name: 'kitt4sme-routes', namespace: ns, labels },
        spec: {
          hosts: [host],
          gateways: [`${ns}/${GATEWAY_NAME}`],
          http: props.context.routes.map((r) => httpRoute(ctx, r)),
        },
      }),
    );
  }
}

/**
 * One HTTP route. It matches `/x/` by prefix and `/x` exactly: rewriting the prefix `/x/` to
 * `/` keeps the slash, so `/orion/v2/entities` reaches Orion as `/v2/entities` and never as
 * `//v2/entities` (which a single `/x` prefix would give, and which broke Orion's
 * subscriptions in the demo cluster); the exact match also keeps `/orionX` from matching.
 */
function httpRoute(ctx: PlatformContext, r: RouteSpec) {
  const svc = SERVICES[r.backend.service];
  const port = (svc.ports as Record<string, ServicePortSpec>)[r.backend.port];
  if (!port)
    throw new TypeError(`route ${r.prefix}: ${r.backend.service} has no port ${r.backend.port}`);
  return {
    name: r.prefix.slice(1).replaceAll('/', '-'),
    match: [{ uri: { prefix: `${r.prefix}/` } }, { uri: { exact: r.prefix } }],
    ...(r.stripPrefix ? { rewrite: { uri: '/' } } : {}),
    route: [
      { destination: { host: ctx.serviceHost(r.backend.service), port: { number: port.port } } },
    ],
  };
}
