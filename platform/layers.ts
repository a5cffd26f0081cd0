/**
 * Where components run and how they are synced: namespace roles and layers.
 *
 * A namespace role names a namespace whose name the platform config chooses (`platform` is
 * `fiware` by default). A layer is one directory under deploy/ and one Argo CD Application,
 * synced in wave order so that what is used comes before what uses it. A component of the
 * registry (components.ts) names its layer; its directory, Application and sync wave follow.
 */

/** Which namespace a component lives in; the names come from the platform config. */
export type NamespaceRole = 'platform' | 'identity' | 'mesh' | 'argocd';

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
      'Orion, the IoT Agents (Ultralight 2.0, JSON), QuantumLeap and the device provisioning service',
  },
  observability: {
    wave: -1,
    namespace: 'platform',
    description: 'Grafana with the tenant dashboards, and the web console',
  },
  // After the FIWARE layer, whose devices it watches; its producers (provisioning, the fleet
  // service) post to it best-effort, so neither waits for the other. Its own layer: it is the
  // platform's one deliverer of events, and syncs (and rolls back) apart from the FIWARE APIs.
  monitor: {
    wave: -1,
    namespace: 'platform',
    description:
      "The liveness monitor: device and agent health, offline events, the tenants' webhooks and the events port",
  },
  // After the fleet Application (wave 0), which creates the agents' namespaces this layer's
  // Roles live in.
  'fleet-service': {
    wave: 1,
    description:
      'The fleet service, its read-only access to the cluster and its way to the GitOps repository',
  },
} as const satisfies Record<string, LayerSpec>;

export type LayerId = keyof typeof LAYERS;
