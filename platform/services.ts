/**
 * The in-cluster services of the platform: name, namespace role and ports.
 *
 * Constructs create their Kubernetes Services from these entries, and the route table, the
 * mesh grants, the OPA data and the diagram refer to them, so a name or port is written once.
 */

/** Which namespace a service lives in; the names come from the platform config. */
export type NamespaceRole = 'platform' | 'identity' | 'mesh' | 'argocd';

/**
 * Istio protocol of a port. Istio reads it from the port name prefix
 * (`http-api`, `tcp-postgres`, ...) instead of sniffing traffic.
 * @see https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/
 */
export type MeshProtocol = 'http' | 'http2' | 'grpc' | 'tcp' | 'mongo' | 'tls';

/** One port of a service. */
export interface ServicePortSpec {
  readonly port: number;
  readonly protocol: MeshProtocol;
}

/** One in-cluster service. */
export interface ServiceSpec {
  /** Kubernetes Service name; also the DNS name other workloads use. */
  readonly name: string;
  readonly namespace: NamespaceRole;
  /** Ports by name suffix; the Service port name is `<protocol>-<key>`. */
  readonly ports: Readonly<Record<string, ServicePortSpec>>;
  /** Who creates it: a construct of ours, or an upstream Helm chart. */
  readonly managedBy: 'platform' | 'helm';
  /** One line for the diagram and the docs. */
  readonly description: string;
}

export const SERVICES = {
  orion: {
    name: 'orion',
    namespace: 'platform',
    ports: { api: { port: 1026, protocol: 'http' } },
    managedBy: 'platform',
    description: 'Orion context broker (NGSI-v2), one database per tenant',
  },
  mongodb: {
    name: 'mongodb',
    namespace: 'platform',
    // tcp, not mongo: Envoy's mongo_proxy filter only adds statistics, and its parsing of
    // newer wire-protocol messages has lagged MongoDB releases.
    ports: { db: { port: 27017, protocol: 'tcp' } },
    managedBy: 'platform',
    description: 'MongoDB for Orion and the IoT Agent device registry',
  },
  iotAgentUl: {
    name: 'iotagent-ul',
    namespace: 'platform',
    ports: {
      north: { port: 4041, protocol: 'http' },
      south: { port: 7896, protocol: 'http' },
    },
    managedBy: 'platform',
    description:
      'IoT Agent for Ultralight 2.0: provisioning (north) and device measurements (south)',
  },
  quantumleap: {
    name: 'quantumleap',
    namespace: 'platform',
    ports: { api: { port: 8668, protocol: 'http' } },
    managedBy: 'platform',
    description: 'QuantumLeap time-series API, fed by Orion subscriptions',
  },
  cratedb: {
    name: 'cratedb',
    namespace: 'platform',
    ports: {
      api: { port: 4200, protocol: 'http' },
      transport: { port: 4300, protocol: 'tcp' },
      postgres: { port: 5432, protocol: 'tcp' },
    },
    managedBy: 'platform',
    description: 'CrateDB, the time-series store of QuantumLeap',
  },
  grafana: {
    name: 'grafana',
    namespace: 'platform',
    ports: { ui: { port: 3000, protocol: 'http' } },
    managedBy: 'platform',
    description: 'Grafana dashboards of tenant measurements',
  },
  opa: {
    name: 'opa',
    namespace: 'platform',
    ports: { extauthz: { port: 9191, protocol: 'grpc' } },
    managedBy: 'platform',
    description: 'OPA with the Envoy ext_authz plugin: the tenancy decision point',
  },
  provisioning: {
    name: 'provisioning',
    namespace: 'platform',
    ports: { api: { port: 8080, protocol: 'http' } },
    managedBy: 'platform',
    description:
      'Device provisioning service: devices, IoT Agent service groups and their QuantumLeap subscriptions, per tenant',
  },
  keycloak: {
    name: 'keycloak',
    namespace: 'identity',
    ports: {
      web: { port: 8080, protocol: 'http' },
      jgroups: { port: 7800, protocol: 'tcp' },
      jgroupsfd: { port: 57800, protocol: 'tcp' },
    },
    managedBy: 'platform',
    description: 'Keycloak: single sign-on and the tokens the tenancy policy reads',
  },
  keycloakPostgres: {
    name: 'keycloak-postgres',
    namespace: 'identity',
    ports: { db: { port: 5432, protocol: 'tcp' } },
    managedBy: 'platform',
    description: "PostgreSQL, Keycloak's database",
  },
  kiali: {
    name: 'kiali',
    namespace: 'mesh',
    ports: { ui: { port: 20001, protocol: 'http' } },
    managedBy: 'helm',
    description: 'Kiali mesh console',
  },
  argocdServer: {
    name: 'argocd-server',
    namespace: 'argocd',
    ports: { ui: { port: 80, protocol: 'http' } },
    managedBy: 'helm',
    description: 'Argo CD API and UI',
  },
} as const satisfies Record<string, ServiceSpec>;

export type ServiceId = keyof typeof SERVICES;

/** The port names of a service, e.g. `'north' | 'south'` for the IoT Agent. */
export type PortKey<S extends ServiceId> = keyof (typeof SERVICES)[S]['ports'] & string;

/** The Kubernetes Service port name of a port: the Istio protocol prefix plus its key. */
export function servicePortName(spec: ServicePortSpec, key: string): string {
  return `${spec.protocol}-${key}`;
}
