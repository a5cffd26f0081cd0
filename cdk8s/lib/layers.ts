/**
 * The layers of the platform: each is one directory under deploy/ and one Argo CD
 * Application, synced in wave order so that what is used comes before what uses it.
 *
 * Add a component by giving it a layer in the composition (cdk8s/lib/platform.ts); its
 * directory, Application and sync wave follow from this list.
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';

import type { NamespaceRole } from '../../platform/services.js';

/** One layer of the platform's own manifests. */
export interface LayerSpec {
  /** Argo CD sync wave of the layer's Application; lower waves sync (and get healthy) first. */
  readonly wave: number;
  /** Where its objects live, when they all live in one namespace. @default spread over several */
  readonly namespace?: NamespaceRole;
  readonly description: string;
}

export const LAYERS = {
  namespaces: {
    wave: -10,
    description: 'Namespaces with their sidecar-injection and Pod Security labels',
  },
  mesh: {
    wave: -6,
    description:
      'Ingress gateway routes, STRICT mTLS, default-deny, JWT authentication and the OPA ext_authz policy',
  },
  data: {
    wave: -4,
    namespace: 'platform',
    description: 'MongoDB and CrateDB',
  },
  identity: {
    wave: -3,
    namespace: 'identity',
    description: 'Keycloak and its PostgreSQL',
  },
  security: {
    wave: -3,
    namespace: 'platform',
    description: 'OPA, the tenancy decision point of the ingress gateway',
  },
  fiware: {
    wave: -2,
    namespace: 'platform',
    description:
      'Orion, the IoT Agent for Ultralight, QuantumLeap and the device provisioning service',
  },
  observability: {
    wave: -1,
    namespace: 'platform',
    description: 'Grafana with the tenant dashboards',
  },
} as const satisfies Record<string, LayerSpec>;

export type LayerId = keyof typeof LAYERS;

/** A chart that belongs to a layer; synth writes it to `deploy/<layer>/<file>.yaml`. */
export class LayerChart extends Chart {
  constructor(
    scope: Construct,
    id: string,
    /** `bootstrap`: applied by argocd/bootstrap.sh, not synced by an Application. */
    readonly layer: LayerId | 'apps' | 'bootstrap',
    /** File name under the layer directory, without extension. */
    readonly fileName: string,
  ) {
    super(scope, id, { disableResourceNameHashes: true });
  }

  /** Whether a construct is a {@link LayerChart} (constructs avoid `instanceof` across copies). */
  static isLayerChart(x: unknown): x is LayerChart {
    return (
      x instanceof Chart &&
      typeof (x as LayerChart).layer === 'string' &&
      typeof (x as LayerChart).fileName === 'string'
    );
  }
}
