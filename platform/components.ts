/**
 * The component registry: every part of the platform that runs in the cluster, once.
 *
 * An entry says what a component is (description), who builds it (a construct of ours in a
 * layer, or an upstream Helm chart), where it runs (namespace), what it runs (its pinned
 * image), its Service and ports (with the Istio protocol of each), its size in every profile,
 * the gateway routes it serves and whom it calls through the mesh. Everything else is derived
 * from these entries: the Services and their ports, the route table (routes.ts), the image and
 * chart lists the config validates, the size profiles, the budget, the mesh grants, the
 * diagram, the endpoints and the docs.
 *
 * A new component is an entry here, its construct (cdk8s/lib/components/) and one line
 * binding the two (cdk8s/lib/components/index.ts); docs/contributing.md walks through it.
 */
import type { ComputeResources, SizeProfileName, WorkloadSize } from './config/profiles.js';
import type { ErrorCatalogue } from './errors.js';
import { PlatformError, issueLine } from './errors.js';
import { ALERTMANAGER_RECEIVER_PATH, EVENTS_INGEST_PATH, EVENTS_PORT_KEY } from './events.js';
import type { LayerId, NamespaceRole } from './layers.js';

import type { HttpMethod, Role } from './roles.js';
import { ALL, READ } from './roles.js';

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

/** A component's Kubernetes Service. */
export interface ServiceSpec {
  /** Kubernetes Service name; also the DNS name other workloads use. */
  readonly name: string;
  /** Ports by name suffix; the Service port name is `<protocol>-<key>`. */
  readonly ports: Readonly<Record<string, ServicePortSpec>>;
}

/** A pinned image: an exact release or a digest, and why that one. */
export interface ImageSpec {
  /** The repository without tag, e.g. `telefonicaiot/fiware-orion`. */
  readonly repository: string;
  /** An exact release tag (`4.7.0`, `18.6`) or a `sha256:` digest; never `latest`. */
  readonly tag: string;
  /** Why this release, and what it must stay compatible with. */
  readonly why: string;
}

/** A pinned upstream Helm chart Argo CD installs. */
export interface ChartSpec {
  /** The https URL of the chart repository. */
  readonly repoURL: string;
  /** An exact chart version. */
  readonly version: string;
  /** The release of the application the chart installs, where something must match it. */
  readonly appVersion?: string;
  /**
   * The registry and namespace of the chart's images, where our values set it (Istio's
   * `global.hub`) rather than trust the chart's default; their tag is the chart's
   * `appVersion`, else its `version`. @default the chart's own default
   */
  readonly imageHub?: string;
  readonly why: string;
}

/**
 * How a gateway route is protected.
 * - `tenant`: a FIWARE API; every request goes through OPA, which requires a valid token whose
 *   tenant set contains the `fiware-service` header and whose roles allow the method. Only
 *   `publicPaths` skip OPA.
 * - `sso`: a web application that authenticates its users itself (Keycloak's own pages;
 *   Grafana, Kiali and Argo CD, which log people in through Keycloak). The whole prefix skips
 *   OPA, except `blockedPaths`, which the gateway refuses.
 */
export type RouteAccess = 'tenant' | 'sso';

/** A gateway route, as its component declares it (the backend is the component itself). */
export interface ComponentRoute<P extends string = string> {
  /** Path prefix at the gateway, without trailing slash, e.g. `/orion`. */
  readonly prefix: `/${string}`;
  /** The port of the component's Service requests go to. */
  readonly port: P;
  /**
   * `true`: strip the prefix (`/orion/v2/entities` reaches Orion as `/v2/entities`).
   * `false`: the backend serves under the prefix itself (Keycloak at `/auth`, Grafana at
   * `/grafana`), so the path is passed on unchanged.
   */
  readonly stripPrefix: boolean;
  readonly access: RouteAccess;
  /**
   * Paths under the prefix (`/version` means `/orion/version`) that need no token. Matched
   * exactly, after Istio's path normalisation; never a prefix or a pattern.
   */
  readonly publicPaths: readonly `/${string}`[];
  /**
   * Paths under the prefix that the gateway refuses outright, with everything below them
   * (`/admin` blocks `/auth/admin` and `/auth/admin/...`): consoles that must stay off the
   * internet. @default none
   */
  readonly blockedPaths?: readonly `/${string}`[];
  /** For `tenant` routes: what each role may do. A role not listed may do nothing. */
  readonly rights: Readonly<Partial<Record<Role, readonly HttpMethod[]>>>;
  /**
   * For `tenant` routes: paths under the prefix with rights of their own, instead of the
   * route's (the policy takes the longest matching prefix), and a hint the deny reason gives.
   * @default none
   */
  readonly subRoutes?: readonly SubRoute[];
  /**
   * For `tenant` routes that devices send to: the query parameter that carries the device's
   * API key. The policy admits a request only when the key is one of the verified tenant's
   * (published by the provisioning service), and a token of exactly one tenant may leave out
   * `fiware-service` (the gateway sets it). @default none
   */
  readonly apiKeyParam?: string;
  /** One line for the docs and the diagram. */
  readonly description: string;
}

/** Paths under a route whose rights differ from the route's (see `subRoutes`). */
export interface SubRoute {
  /** The path under the route's prefix, e.g. `/iot/services`; everything below it too. */
  readonly path: `/${string}`;
  readonly rights: Readonly<Partial<Record<Role, readonly HttpMethod[]>>>;
  /** What to do instead, for the deny reason, e.g. `create service groups through /provisioning`. */
  readonly hint: string;
}

/** Paths on Keycloak that depend on the realm's name; the composition resolves them. */
export type RealmPath = 'jwks' | 'token' | 'userinfo';

/**
 * A call a component makes through the mesh: the callee's ALLOW policy admits exactly this
 * (STRICT mTLS and default-deny refuse everything else).
 */
export interface CallSpec {
  /** The component called (its id; checked when the platform context loads). */
  readonly to: string;
  /** Ports of the callee's Service. @default every port */
  readonly ports?: readonly string[];
  /** HTTP methods; only for HTTP ports. @default any */
  readonly methods?: readonly HttpMethod[];
  /** Paths (Istio exact, `prefix*` or `*suffix`); only for HTTP ports. @default any */
  readonly paths?: readonly string[];
  /** Realm paths on Keycloak (only on a call to keycloak), added to `paths`. @default none */
  readonly realmPaths?: readonly RealmPath[];
}

/**
 * What an IoT Agent speaks and where it keeps its devices: the provisioning service, the
 * scenarios and the local stack find the agent of a device's protocol through this.
 */
export interface IotAgentSpec {
  /** The device protocol, as devices-as-code and the provisioning API name it. */
  readonly protocol: string;
  /** How people call the protocol. */
  readonly label: string;
  /** The HTTP resource devices send to (`IOTA_DEFAULT_RESOURCE`), e.g. `/iot/d`. */
  readonly resource: `/${string}`;
  /** The `protocol` the agent stores on its groups and devices. */
  readonly agentProtocol: string;
  /**
   * The protocol of a device or group that names none (exactly one agent has it), and the
   * agent metrics and messages call plain `iot-agent`.
   */
  readonly default?: true;
  /** The variable that gives the provisioning service the agent's north (provisioning) URL. */
  readonly northUrlEnv: string;
  /** Its device registry: a MongoDB database of its own and a user that may use only it. */
  readonly registry: {
    readonly database: string;
    readonly user: string;
    /** The key of the user's password in the `mongodb-credentials` bootstrap Secret. */
    readonly passwordKey: string;
    /** The variable MongoDB's first-start script reads that password from. */
    readonly passwordEnv: string;
  };
}

/** One component. */
export interface ComponentSpec {
  /** One line for the diagram, the budget and the docs. */
  readonly description: string;
  /**
   * `platform`: a construct of ours synthesizes it into `deploy/<layer>/`. `helm`: an upstream
   * chart that Argo CD renders (`chart`), sized through the chart values we generate. `fleet`:
   * a hook Job the fleet's construct library renders with the agents (cdk8s/lib/fleet/), which
   * runs during each sync of the fleet and is not part of the budget.
   */
  readonly managedBy: 'platform' | 'helm' | 'fleet';
  /** For `platform` components: the layer whose Application syncs it. */
  readonly layer?: LayerId;
  /** For `helm` components: the chart that installs it (a key of {@link CHARTS}). */
  readonly chart?: string;
  readonly namespace: NamespaceRole;
  /** The image of its main container, pinned; the config may override it (`images`). */
  readonly image?: ImageSpec;
  /** Its Service. @default none */
  readonly service?: ServiceSpec;
  /** Its service account, when it is not the Service name (mesh identity). @default service name */
  readonly serviceAccount?: string;
  /** Pods and resources per size profile (for a DaemonSet, per node: see {@link perNode}). */
  readonly sizes: Readonly<Record<SizeProfileName, WorkloadSize>>;
  /** A DaemonSet: one pod on every node; the budget counts it once per node. @default false */
  readonly perNode?: boolean;
  /**
   * For `helm` components outside the meshed namespaces: its pods ask for an Istio sidecar (a
   * pod label in its chart values), so the budget counts one per replica. @default false
   */
  readonly sidecar?: boolean;
  /** For `helm` components: its line in the budget. @default the Service name */
  readonly budgetName?: string;
  /** The gateway routes it serves. @default none */
  readonly routes?: readonly ComponentRoute[];
  /** What it calls through the mesh. @default nothing */
  readonly calls?: readonly CallSpec[];
  /** For an IoT Agent: its device protocol and registry. @default not an IoT Agent */
  readonly iotAgent?: IotAgentSpec;
}

const r = (
  cpuRequestMilli: number,
  cpuLimitMilli: number,
  memoryRequestMi: number,
  memoryLimitMi: number,
): ComputeResources => ({ cpuRequestMilli, cpuLimitMilli, memoryRequestMi, memoryLimitMi });

/** One replica on a laptop, `replicas` in production. */
const sized = (
  laptop: ComputeResources,
  production: ComputeResources,
  productionReplicas: number,
): Readonly<Record<SizeProfileName, WorkloadSize>> => ({
  laptop: { replicas: 1, resources: laptop },
  production: { replicas: productionReplicas, resources: production },
});

/**
 * An IoT Agent's service groups on its north API (iotagent-node-lib 4.14 serves them at
 * /iot/services and, the same handlers, /iot/groups): they bind API keys to tenants, so only
 * platform-admin writes them directly; everyone else goes through the provisioning service,
 * which checks and publishes each tenant's keys to the policy.
 */
const SERVICE_GROUPS: readonly SubRoute[] = ['/iot/services', '/iot/groups'].map((path) => ({
  path: path as `/${string}`,
  rights: { operator: READ, 'tenant-admin': READ, 'platform-admin': ALL },
  hint: 'create, change and delete service groups through /provisioning',
}));

/**
 * The agents' own administration on their north port (iotagent-node-lib: `/admin/log` sets
 * the log level of the whole agent, every tenant's, and at DEBUG it logs API keys; `/metrics`):
 * platform-admin only.
 */
const AGENT_ADMINISTRATION: readonly SubRoute[] = ['/admin', '/metrics'].map((path) => ({
  path: path as `/${string}`,
  rights: { 'platform-admin': ALL },
  hint: 'the agent is shared by every tenant; its administration is for platform-admin',
}));

/** The path Orion subscriptions notify QuantumLeap at. */
export const QUANTUMLEAP_NOTIFY_PATH = '/v2/notify';

/**
 * The registry, in an order that is part of the output: the route table lists the `tenant`
 * routes, then the `sso` routes, each in this order.
 */
export const COMPONENTS = {
  mongodb: {
    description: 'MongoDB for Orion and the IoT Agent device registry',
    managedBy: 'platform',
    layer: 'data',
    namespace: 'platform',
    image: {
      repository: 'mongo',
      tag: '8.0.26',
      why: 'MongoDB 8.0 is the series Orion 4.7 runs its CI against (LTS until 2029); iotagent-node-lib 4.14 supports it',
    },
    service: {
      name: 'mongodb',
      // tcp, not mongo: Envoy's mongo_proxy filter only adds statistics, and its parsing of
      // newer wire-protocol messages has lagged MongoDB releases.
      ports: { db: { port: 27017, protocol: 'tcp' } },
    },
    sizes: sized(r(50, 500, 192, 512), r(500, 2000, 2048, 4096), 1),
  },
  cratedb: {
    description: 'CrateDB, the time-series store of QuantumLeap',
    managedBy: 'platform',
    layer: 'data',
    namespace: 'platform',
    image: {
      repository: 'crate',
      tag: '6.2.11',
      why: 'latest patch of the newest CrateDB line with field reports of QuantumLeap 1.0.0 working (6.2.x); 6.3+ untested with QL',
    },
    service: {
      name: 'cratedb',
      ports: {
        api: { port: 4200, protocol: 'http' },
        transport: { port: 4300, protocol: 'tcp' },
        postgres: { port: 5432, protocol: 'tcp' },
      },
    },
    sizes: sized(r(100, 1000, 768, 768), r(1000, 4000, 4096, 4096), 3),
  },
  keycloak: {
    description: 'Keycloak: single sign-on and the tokens the tenancy policy reads',
    managedBy: 'platform',
    layer: 'identity',
    namespace: 'identity',
    image: {
      repository: 'quay.io/keycloak/keycloak',
      tag: '26.7.3',
      why: 'latest Keycloak 26 release; keep in step with the keycloak-quarkus-dist version real-Keycloak tests run from Maven Central',
    },
    service: {
      name: 'keycloak',
      ports: {
        web: { port: 8080, protocol: 'http' },
        jgroups: { port: 7800, protocol: 'tcp' },
        jgroupsfd: { port: 57800, protocol: 'tcp' },
      },
    },
    sizes: sized(r(100, 1000, 512, 768), r(500, 2000, 1024, 2048), 2),
    routes: [
      {
        prefix: '/auth',
        port: 'web',
        stripPrefix: false,
        access: 'sso',
        publicPaths: [],
        // The admin console and the master realm are reached with kubectl port-forward only.
        blockedPaths: ['/admin', '/realms/master'],
        rights: {},
        description: 'Keycloak login pages and OIDC endpoints of the platform realm',
      },
    ],
    calls: [{ to: 'keycloakPostgres' }],
  },
  keycloakPostgres: {
    description: "PostgreSQL, Keycloak's database",
    managedBy: 'platform',
    layer: 'identity',
    namespace: 'identity',
    image: {
      repository: 'postgres',
      tag: '18.6',
      why: 'PostgreSQL 18 is the newest major Keycloak 26.7 tests against; data lives under /var/lib/postgresql (18+ layout)',
    },
    service: { name: 'keycloak-postgres', ports: { db: { port: 5432, protocol: 'tcp' } } },
    sizes: sized(r(25, 500, 64, 256), r(250, 1000, 512, 1024), 1),
  },
  opa: {
    description: 'OPA with the Envoy ext_authz plugin: the tenancy decision point',
    managedBy: 'platform',
    layer: 'security',
    namespace: 'platform',
    image: {
      repository: 'openpolicyagent/opa',
      tag: '1.21.1-envoy-static',
      why: 'newest OPA with a published Envoy ext_authz plugin image; policy tests must install this same engine version (v1.21.1)',
    },
    service: { name: 'opa', ports: { extauthz: { port: 9191, protocol: 'grpc' } } },
    sizes: sized(r(25, 500, 48, 128), r(250, 1000, 128, 512), 2),
    // OPA verifies tokens against the realm's keys itself.
    calls: [
      { to: 'keycloak', ports: ['web'], methods: ['GET'], realmPaths: ['jwks'] },
      // The API-key bundle (services/provisioning/src/api-keys.ts API_KEYS_BUNDLE_PATH).
      { to: 'provisioning', ports: ['api'], methods: ['GET'], paths: ['/bundles/*'] },
    ],
  },
  orion: {
    description: 'Orion context broker (NGSI-v2), one database per tenant',
    managedBy: 'platform',
    layer: 'fiware',
    namespace: 'platform',
    image: {
      repository: 'telefonicaiot/fiware-orion',
      tag: '4.7.0',
      why: 'latest Orion NGSI-v2 release; needs ORION_MONGO_URI (4.x dropped -dbhost) and is CI-tested on MongoDB 8.0',
    },
    service: { name: 'orion', ports: { api: { port: 1026, protocol: 'http' } } },
    sizes: sized(r(50, 500, 64, 256), r(500, 2000, 512, 1024), 2),
    routes: [
      {
        prefix: '/orion',
        port: 'api',
        stripPrefix: true,
        access: 'tenant',
        publicPaths: ['/version'],
        rights: { viewer: READ, operator: READ, 'tenant-admin': ALL, 'platform-admin': ALL },
        description: 'Orion NGSI-v2 API',
      },
    ],
    calls: [
      { to: 'mongodb' },
      // Subscriptions notify QuantumLeap.
      { to: 'quantumleap', methods: ['POST'], paths: [QUANTUMLEAP_NOTIFY_PATH] },
      // The IoT Agent registers itself as the context provider of its devices' commands and
      // lazy attributes, so Orion forwards those updates and queries to its north port.
      {
        to: 'iotAgentUl',
        ports: ['north'],
        methods: ['POST'],
        paths: ['/v2/op/update', '/v2/op/query'],
      },
      {
        to: 'iotAgentJson',
        ports: ['north'],
        methods: ['POST'],
        paths: ['/v2/op/update', '/v2/op/query'],
      },
    ],
  },
  quantumleap: {
    description: 'QuantumLeap time-series API, fed by Orion subscriptions',
    managedBy: 'platform',
    layer: 'fiware',
    namespace: 'platform',
    image: {
      repository: 'orchestracities/quantumleap',
      tag: '1.0.0',
      why: 'latest QuantumLeap release (FIWARE 8.5 uses it); /health fails when CrateDB is unreachable, so readiness means something',
    },
    service: { name: 'quantumleap', ports: { api: { port: 8668, protocol: 'http' } } },
    sizes: sized(r(25, 500, 128, 384), r(250, 1000, 512, 1024), 2),
    routes: [
      {
        prefix: '/quantumleap',
        port: 'api',
        stripPrefix: true,
        access: 'tenant',
        publicPaths: ['/version'],
        rights: { viewer: READ, operator: READ, 'tenant-admin': ALL, 'platform-admin': ALL },
        description: 'QuantumLeap time-series API',
      },
    ],
    calls: [{ to: 'cratedb', ports: ['api'] }],
  },
  iotAgentUl: {
    description:
      'IoT Agent for Ultralight 2.0: provisioning (north) and device measurements (south)',
    managedBy: 'platform',
    layer: 'fiware',
    namespace: 'platform',
    image: {
      repository: 'telefonicaiot/iotagent-ul',
      tag: '3.14.0-distroless',
      why: 'UL release built on iotagent-node-lib 4.14.0, the library the tests run in-process; distroless has no shell',
    },
    service: {
      name: 'iotagent-ul',
      ports: {
        north: { port: 4041, protocol: 'http' },
        south: { port: 7896, protocol: 'http' },
      },
    },
    sizes: sized(r(25, 500, 96, 256), r(250, 1000, 256, 512), 2),
    routes: [
      {
        prefix: '/iota-north',
        port: 'north',
        stripPrefix: true,
        access: 'tenant',
        publicPaths: ['/iot/about'],
        // Not viewers: groups and devices show their API keys (viewers read the inventory,
        // without keys, through /provisioning).
        rights: { operator: ALL, 'tenant-admin': ALL, 'platform-admin': ALL },
        subRoutes: [...SERVICE_GROUPS, ...AGENT_ADMINISTRATION],
        description: 'IoT Agent provisioning API (service groups, devices)',
      },
      {
        prefix: '/iota-south',
        port: 'south',
        stripPrefix: true,
        access: 'tenant',
        publicPaths: [],
        rights: { device: ['GET', 'POST'], 'platform-admin': ['GET', 'POST'] },
        apiKeyParam: 'k',
        description: 'IoT Agent Ultralight HTTP transport: device measurements and command polling',
      },
    ],
    calls: [{ to: 'mongodb' }, { to: 'orion', methods: ALL }],
    iotAgent: {
      protocol: 'ultralight',
      default: true,
      label: 'Ultralight 2.0',
      resource: '/iot/d',
      agentProtocol: 'PDI-IoTA-UltraLight',
      northUrlEnv: 'IOTA_NORTH_URL',
      registry: {
        database: 'iotagentul',
        user: 'iotagent',
        passwordKey: 'iotagent-password',
        passwordEnv: 'IOTAGENT_DB_PASSWORD',
      },
    },
  },
  iotAgentJson: {
    description: 'IoT Agent for JSON: provisioning (north) and device measurements (south)',
    managedBy: 'platform',
    layer: 'fiware',
    namespace: 'platform',
    image: {
      repository: 'telefonicaiot/iotagent-json',
      tag: '3.14.0-distroless',
      why: 'JSON release of the iotagent-ul 3.14.0 cycle, on the same iotagent-node-lib 4.14.0 the tests run in-process; distroless has no shell',
    },
    service: {
      name: 'iotagent-json',
      ports: {
        north: { port: 4041, protocol: 'http' },
        south: { port: 7896, protocol: 'http' },
      },
    },
    sizes: sized(r(25, 500, 96, 256), r(250, 1000, 256, 512), 2),
    routes: [
      {
        prefix: '/iota-json-north',
        port: 'north',
        stripPrefix: true,
        access: 'tenant',
        publicPaths: ['/iot/about'],
        rights: { operator: ALL, 'tenant-admin': ALL, 'platform-admin': ALL },
        subRoutes: [...SERVICE_GROUPS, ...AGENT_ADMINISTRATION],
        description: 'IoT Agent for JSON provisioning API (service groups, devices)',
      },
      {
        prefix: '/iota-json-south',
        port: 'south',
        stripPrefix: true,
        access: 'tenant',
        publicPaths: [],
        rights: { device: ['GET', 'POST'], 'platform-admin': ['GET', 'POST'] },
        apiKeyParam: 'k',
        description: 'IoT Agent JSON HTTP transport: device measurements and command polling',
      },
    ],
    calls: [{ to: 'mongodb' }, { to: 'orion', methods: ALL }],
    iotAgent: {
      protocol: 'json',
      label: 'JSON',
      resource: '/iot/json',
      agentProtocol: 'IoTA-JSON',
      northUrlEnv: 'IOTA_JSON_NORTH_URL',
      registry: {
        database: 'iotagentjson',
        user: 'iotagentjson',
        passwordKey: 'iotagent-json-password',
        passwordEnv: 'IOTAGENT_JSON_DB_PASSWORD',
      },
    },
  },
  provisioning: {
    description:
      'Device provisioning service: devices, IoT Agent service groups and their QuantumLeap subscriptions, per tenant',
    managedBy: 'platform',
    layer: 'fiware',
    namespace: 'platform',
    image: {
      repository: 'ghcr.io/kitt4sme/provisioning',
      tag: '0.2.0',
      why: 'our own image, built from services/provisioning/Dockerfile at the package.json version; a fork builds and pushes its own image and overrides this entry in images',
    },
    service: { name: 'provisioning', ports: { api: { port: 8080, protocol: 'http' } } },
    sizes: sized(r(50, 500, 96, 256), r(250, 1000, 256, 512), 2),
    routes: [
      {
        prefix: '/provisioning',
        port: 'api',
        // The service serves its API under /provisioning/ itself.
        stripPrefix: false,
        access: 'tenant',
        publicPaths: ['/openapi.json'],
        rights: { viewer: READ, operator: ALL, 'tenant-admin': ALL, 'platform-admin': ALL },
        description:
          'Device provisioning API: a device, its service group and its time-series subscription in one call',
      },
    ],
    calls: [
      // Service groups and devices; no PUT: the service replaces them (delete, create).
      {
        to: 'iotAgentUl',
        ports: ['north'],
        methods: ['GET', 'POST', 'DELETE'],
        paths: ['/iot/services*', '/iot/devices*'],
      },
      {
        to: 'iotAgentJson',
        ports: ['north'],
        methods: ['GET', 'POST', 'DELETE'],
        paths: ['/iot/services*', '/iot/devices*'],
      },
      // Reads the version and entities, deletes a removed device's entity, manages the
      // subscriptions that notify QuantumLeap; never writes entities (the IoT Agent does).
      { to: 'orion', ports: ['api'], methods: ['GET'], paths: ['/version', '/v2/entities*'] },
      { to: 'orion', ports: ['api'], methods: ['DELETE'], paths: ['/v2/entities/*'] },
      {
        to: 'orion',
        ports: ['api'],
        methods: ['GET', 'POST', 'DELETE'],
        paths: ['/v2/subscriptions*'],
      },
      // It verifies tokens against the realm's keys itself.
      { to: 'keycloak', ports: ['web'], methods: ['GET'], realmPaths: ['jwks'] },
      // Its events (devices provisioned and deleted) to the monitor's events port.
      { to: 'monitor', ports: [EVENTS_PORT_KEY], methods: ['POST'], paths: [EVENTS_INGEST_PATH] },
    ],
  },
  fleet: {
    description:
      "The fleet service: groups, deploys, lifecycle and rollouts of the tenants' agents as git commits of the records, and their per-target status",
    managedBy: 'platform',
    layer: 'fleet-service',
    namespace: 'platform',
    image: {
      repository: 'ghcr.io/kitt4sme/fleet',
      tag: '0.2.0',
      why: 'our own image, built from services/fleet/Dockerfile at the package.json version (node and a pinned git CLI); a fork builds and pushes its own image and overrides this entry in images',
    },
    service: { name: 'fleet', ports: { api: { port: 8080, protocol: 'http' } } },
    // One replica in every profile: one writer of the clone and one runner of each rollout
    // (the service serialises writes in-process; git refuses a stale push besides).
    sizes: sized(r(50, 500, 128, 384), r(100, 1000, 256, 512), 1),
    routes: [
      {
        prefix: '/fleet',
        port: 'api',
        // The service serves its API under /fleet/ itself.
        stripPrefix: false,
        access: 'tenant',
        publicPaths: ['/openapi.json'],
        rights: { viewer: READ, operator: ALL, 'tenant-admin': ALL, 'platform-admin': ALL },
        description:
          "Fleet API: groups of hosts, deploys, lifecycle and rollouts of the tenant's agents (git commits), and their per-target status",
      },
    ],
    // It verifies tokens against the realm's keys itself. Its other peers are outside the
    // registry: the kube-apiserver (read-only RBAC) and the git host (cdk8s/lib/components/fleet.ts).
    calls: [
      { to: 'keycloak', ports: ['web'], methods: ['GET'], realmPaths: ['jwks'] },
      // Its events (deploys, lifecycle, rollouts, degraded agents) to the monitor's events port.
      { to: 'monitor', ports: [EVENTS_PORT_KEY], methods: ['POST'], paths: [EVENTS_INGEST_PATH] },
    ],
  },
  monitor: {
    description:
      "The liveness monitor: device and agent health, nudges, offline events and the tenants' signed CloudEvents webhooks; the platform's events port",
    managedBy: 'platform',
    layer: 'monitor',
    namespace: 'platform',
    image: {
      repository: 'ghcr.io/kitt4sme/monitor',
      tag: '0.2.0',
      why: 'our own image, built from services/monitor/Dockerfile at the package.json version; a fork builds and pushes its own image and overrides this entry in images',
    },
    service: {
      name: 'monitor',
      ports: {
        api: { port: 8080, protocol: 'http' },
        // Internal: producers and Alertmanager post here; never routed by the gateway.
        [EVENTS_PORT_KEY]: { port: 8081, protocol: 'http' },
      },
    },
    // One replica in every profile: the state file (journals, deliveries, nudges) has one
    // writer, and two monitors would nudge every device and raise every event twice.
    sizes: sized(r(25, 500, 96, 256), r(100, 1000, 256, 512), 1),
    routes: [
      {
        prefix: '/monitor',
        port: 'api',
        // The service serves its API under /monitor/ itself.
        stripPrefix: false,
        access: 'tenant',
        publicPaths: ['/openapi.json'],
        // Readers see health; only tenant admins manage subscriptions (checked in the app too).
        rights: { viewer: READ, operator: READ, 'tenant-admin': ALL, 'platform-admin': ALL },
        description: 'Liveness monitor: device health and signed CloudEvents webhooks, per tenant',
      },
    ],
    calls: [
      // The devices to watch and their expected intervals: the agents' registries, read only.
      {
        to: 'iotAgentUl',
        ports: ['north'],
        methods: ['GET'],
        paths: ['/iot/services', '/iot/devices'],
      },
      {
        to: 'iotAgentJson',
        ports: ['north'],
        methods: ['GET'],
        paths: ['/iot/services', '/iot/devices'],
      },
      // Last measurements and heartbeats (reads), the deviceHealth and agentHealth attributes
      // (batch appends) and the nudge commands (an entity's attrs, forwarded to its IoT Agent).
      { to: 'orion', ports: ['api'], methods: ['GET'], paths: ['/v2/entities'] },
      { to: 'orion', ports: ['api'], methods: ['POST'], paths: ['/v2/op/update'] },
      { to: 'orion', ports: ['api'], methods: ['PATCH'], paths: ['/v2/entities/*'] },
      // It verifies tokens against the realm's keys itself.
      { to: 'keycloak', ports: ['web'], methods: ['GET'], realmPaths: ['jwks'] },
    ],
  },
  grafana: {
    description: 'Grafana dashboards of tenant measurements',
    managedBy: 'platform',
    layer: 'observability',
    namespace: 'platform',
    image: {
      repository: 'grafana/grafana',
      tag: '12.4.10',
      why: 'latest Grafana 12 patch; its PostgreSQL datasource reads CrateDB over the PG wire protocol (jsonData.database form)',
    },
    service: { name: 'grafana', ports: { ui: { port: 3000, protocol: 'http' } } },
    sizes: sized(r(25, 500, 96, 256), r(100, 1000, 256, 512), 1),
    routes: [
      {
        prefix: '/grafana',
        port: 'ui',
        stripPrefix: false,
        access: 'sso',
        publicPaths: [],
        rights: {},
        description: 'Grafana dashboards (Keycloak single sign-on; roles from the token)',
      },
    ],
    calls: [
      { to: 'cratedb', ports: ['postgres'] },
      // Redeems login codes and reads userinfo on Keycloak's Service.
      {
        to: 'keycloak',
        ports: ['web'],
        methods: ['POST', 'GET'],
        realmPaths: ['token', 'userinfo'],
      },
    ],
  },
  console: {
    description:
      "The web console: static assets whose browser app calls the platform's APIs with the user's own token",
    managedBy: 'platform',
    layer: 'observability',
    namespace: 'platform',
    image: {
      repository: 'ghcr.io/kitt4sme/console',
      tag: '0.2.0',
      why: 'our own image, built from services/console/Dockerfile at the package.json version (node, the static server and the built assets); a fork builds and pushes its own image and overrides this entry in images',
    },
    service: { name: 'console', ports: { web: { port: 8080, protocol: 'http' } } },
    sizes: sized(r(10, 200, 48, 128), r(50, 500, 64, 192), 2),
    routes: [
      {
        prefix: '/console',
        port: 'web',
        // The server serves under /console/ itself.
        stripPrefix: false,
        // Static files only, public: the browser app signs in through Keycloak and every API
        // call carries the user's token, which the API routes' policy decides.
        access: 'sso',
        publicPaths: [],
        rights: {},
        description:
          "Web console (Keycloak sign-in in the browser; its API calls go through the API routes with the user's token)",
      },
    ],
    // It calls nothing: the browser calls the APIs through the gateway.
  },
  istiod: {
    description: 'Istio control plane',
    managedBy: 'helm',
    chart: 'istio',
    namespace: 'mesh',
    sizes: sized(r(100, 1000, 256, 512), r(500, 2000, 1024, 2048), 2),
    budgetName: 'istiod',
  },
  istioCni: {
    description: 'Istio CNI node agent (a DaemonSet)',
    managedBy: 'helm',
    chart: 'istio',
    namespace: 'mesh',
    sizes: sized(r(10, 200, 40, 128), r(100, 500, 100, 256), 1),
    perNode: true,
    budgetName: 'istio-cni (per node)',
  },
  istioIngressGateway: {
    description: 'Istio ingress gateway: the only way in from outside the cluster',
    managedBy: 'helm',
    chart: 'istio',
    namespace: 'mesh',
    // The gateway chart's release name, which names its ServiceAccount and Deployment and
    // gives the `istio: ingressgateway` label.
    serviceAccount: 'istio-ingressgateway',
    sizes: sized(r(50, 1000, 64, 256), r(500, 2000, 256, 1024), 2),
    budgetName: 'istio-ingressgateway',
    // Every request outside the public paths is decided by OPA (ext_authz); the routes'
    // backends are granted from the route table.
    calls: [{ to: 'opa', ports: ['extauthz'] }],
  },
  kiali: {
    description: 'Kiali mesh console',
    managedBy: 'helm',
    chart: 'kiali',
    namespace: 'mesh',
    service: { name: 'kiali', ports: { ui: { port: 20001, protocol: 'http' } } },
    sizes: sized(r(10, 500, 64, 256), r(100, 1000, 256, 512), 1),
    routes: [
      {
        prefix: '/kiali',
        port: 'ui',
        stripPrefix: false,
        access: 'sso',
        publicPaths: [],
        rights: {},
        description: 'Kiali mesh console (Keycloak single sign-on, view-only)',
      },
    ],
  },
  argocdController: {
    description: 'Argo CD application controller: syncs and self-heals',
    managedBy: 'helm',
    chart: 'argoCd',
    namespace: 'argocd',
    sizes: sized(r(100, 1000, 256, 768), r(500, 2000, 1024, 2048), 1),
    budgetName: 'argocd-application-controller',
  },
  argocdServer: {
    description: 'Argo CD API and UI',
    managedBy: 'helm',
    chart: 'argoCd',
    namespace: 'argocd',
    service: { name: 'argocd-server', ports: { ui: { port: 80, protocol: 'http' } } },
    sizes: sized(r(25, 500, 64, 256), r(100, 1000, 256, 512), 2),
    routes: [
      {
        prefix: '/argocd',
        port: 'ui',
        stripPrefix: false,
        access: 'sso',
        publicPaths: [],
        rights: {},
        description: 'Argo CD UI and API (Keycloak single sign-on; RBAC from realm groups)',
      },
    ],
  },
  argocdRepoServer: {
    description: 'Argo CD repository server: renders manifests from git',
    managedBy: 'helm',
    chart: 'argoCd',
    namespace: 'argocd',
    sizes: sized(r(25, 1000, 128, 512), r(250, 2000, 512, 1024), 2),
    budgetName: 'argocd-repo-server',
  },
  identity: {
    description:
      "The agents' Keycloak clients: a hook Job of each fleet sync running `realm:apply --agents` (their clients, and their credentials in their namespaces)",
    managedBy: 'fleet',
    namespace: 'identity',
    image: {
      repository: 'ghcr.io/kitt4sme/identity',
      tag: '0.2.0',
      why: 'our own image, built from services/identity/Dockerfile at the package.json version (the identity tools: realm:apply); a fork builds and pushes its own image and overrides this entry in images',
    },
    // Its grants on Keycloak's admin API are rendered with it (cdk8s/lib/fleet/identity.ts).
    sizes: sized(r(50, 500, 96, 256), r(50, 500, 96, 256), 1),
  },
  argocdFleetPlugin: {
    description:
      "The fleet's Config Management Plugin: a sidecar of Argo CD's repo-server that renders fleet/ with the construct library",
    managedBy: 'helm',
    chart: 'argoCd',
    namespace: 'argocd',
    image: {
      repository: 'ghcr.io/kitt4sme/fleet-plugin',
      tag: '0.2.0',
      why: 'our own image, built from cdk8s/fleet-plugin/Dockerfile at the package.json version (it carries the construct library and the platform config, so it renders what this version synthesizes); a fork builds and pushes its own image and overrides this entry in images',
    },
    // One per repo-server pod: the replicas are the repo-server's.
    sizes: sized(r(25, 1000, 128, 512), r(100, 2000, 256, 1024), 2),
    budgetName: 'argocd-repo-server fleet plugin',
  },
  argocdRedis: {
    description: "Argo CD's cache",
    managedBy: 'helm',
    chart: 'argoCd',
    namespace: 'argocd',
    sizes: sized(r(10, 200, 32, 128), r(100, 500, 128, 256), 1),
    budgetName: 'argocd-redis',
  },
  argocdApplicationSet: {
    description: 'Argo CD ApplicationSet controller',
    managedBy: 'helm',
    chart: 'argoCd',
    namespace: 'argocd',
    sizes: sized(r(10, 200, 32, 128), r(50, 500, 128, 256), 1),
    budgetName: 'argocd-applicationset-controller',
  },
  prometheus: {
    description: 'Prometheus: metrics of the mesh and the workloads',
    managedBy: 'helm',
    chart: 'prometheus',
    namespace: 'mesh',
    sizes: sized(r(50, 1000, 384, 768), r(500, 2000, 2048, 4096), 1),
    budgetName: 'prometheus-server',
  },
  prometheusConfigReload: {
    description: "The config reloader beside Prometheus (a container of Prometheus' pod)",
    managedBy: 'helm',
    chart: 'prometheus',
    namespace: 'mesh',
    sizes: sized(r(5, 100, 16, 64), r(10, 200, 32, 128), 1),
    budgetName: 'prometheus config reloader',
  },
  alertmanager: {
    description:
      "Alertmanager: groups Prometheus' alerts (the liveness `offline` rule) and posts them to the monitor's events port",
    managedBy: 'helm',
    chart: 'prometheus',
    namespace: 'mesh',
    image: {
      repository: 'quay.io/prometheus/alertmanager',
      tag: 'v0.35.0',
      why: 'latest Alertmanager release, set in the chart values rather than the subchart default; the tests run this version, built from the Go module proxy (toolchain/tools.ts)',
    },
    // The subchart's fullname for the release `prometheus`: its StatefulSet, Service and
    // ServiceAccount (the mesh identity of its sidecar, cdk8s/lib/gitops/chart-values.ts).
    serviceAccount: 'prometheus-alertmanager',
    sidecar: true,
    sizes: sized(r(10, 200, 32, 128), r(50, 500, 64, 256), 1),
    budgetName: 'prometheus-alertmanager',
    // Its webhook receiver, and nothing else of the monitor.
    calls: [
      {
        to: 'monitor',
        ports: [EVENTS_PORT_KEY],
        methods: ['POST'],
        paths: [ALERTMANAGER_RECEIVER_PATH],
      },
    ],
  },
  jaeger: {
    description: 'Jaeger: traces of the mesh',
    managedBy: 'helm',
    chart: 'jaeger',
    namespace: 'mesh',
    sizes: sized(r(25, 500, 128, 384), r(250, 1000, 512, 1024), 1),
    budgetName: 'jaeger',
  },
} as const satisfies Record<string, ComponentSpec>;

/** The upstream Helm charts Argo CD installs, pinned. */
export const CHARTS = {
  istio: {
    repoURL: 'https://blob.istio.io/istio-release/charts',
    version: '1.31.1',
    // The hub of Istio's releases; set in the values so the images never depend on the chart's default.
    imageHub: 'docker.io/istio',
    why: 'latest Istio patch (Kubernetes 1.32-1.36); charts moved off storage.googleapis.com with 1.31',
  },
  argoCd: {
    repoURL: 'https://argoproj.github.io/argo-helm',
    version: '10.10.0',
    appVersion: 'v3.5.4',
    why: 'argo-cd chart of Argo CD v3.5.4, the newest chart/app pair confirmed; 3.6.0 had a --rootpath bug we would hit',
  },
  prometheus: {
    repoURL: 'https://prometheus-community.github.io/helm-charts',
    version: '29.36.1',
    why: 'prometheus chart of Prometheus 3.15.0, the newest confirmed chart/app pair',
  },
  jaeger: {
    repoURL: 'https://jaegertracing.github.io/helm-charts',
    version: '4.12.0',
    why: 'Jaeger v2 (2.20.0) all-in-one chart; receives OTLP from Istio, queried by Kiali over gRPC',
  },
  kiali: {
    repoURL: 'https://kiali.org/helm-charts',
    version: '2.31.0',
    why: 'the Kiali version Istio 1.31.1 ships as its add-on, so tested together',
  },
  sealedSecrets: {
    repoURL: 'https://bitnami-labs.github.io/sealed-secrets',
    version: '2.19.3',
    appVersion: 'v0.39.1',
    why: 'sealed-secrets chart 2.19.3 of controller 0.39.1 (its Chart.yaml as of the v0.40.0 tag), the newest chart/app pair confirmed; the tests build the same controller and kubeseal from the Go module proxy (toolchain/tools.ts, NOTE 8)',
  },
} as const satisfies Record<string, ChartSpec>;

// ---------------------------------------------------------------------------------------------
// Derived lists and types
// ---------------------------------------------------------------------------------------------

type Components = typeof COMPONENTS;
export type ComponentId = keyof Components;
export type ChartId = keyof typeof CHARTS;

/** Components with a Service: what routes and grants can name. */
export type ServiceId = {
  [K in ComponentId]: Components[K] extends { service: ServiceSpec } ? K : never;
}[ComponentId];

/** Components with an image of theirs: the keys of the config's `images` overrides. */
export type ImageId = {
  [K in ComponentId]: Components[K] extends { image: ImageSpec } ? K : never;
}[ComponentId];

/** Components built by a construct of ours. */
export type PlatformComponentId = {
  [K in ComponentId]: Components[K] extends { managedBy: 'platform' } ? K : never;
}[ComponentId];

/** The port names of a service, e.g. `'north' | 'south'` for the IoT Agent. */
export type PortKey<S extends ServiceId> = S extends ServiceId
  ? keyof Components[S]['service']['ports'] & string
  : never;

/** Every component id, in registry order. */
export const COMPONENT_IDS = Object.keys(COMPONENTS) as ComponentId[];

/** The entry of a component, typed as the general spec. */
export function component(id: ComponentId): ComponentSpec {
  return COMPONENTS[id];
}

/** Every component with a Service, in registry order, with its Service. */
export const SERVICES = Object.fromEntries(
  COMPONENT_IDS.flatMap((id) => {
    const s = component(id).service;
    return s ? [[id, s]] : [];
  }),
) as { readonly [S in ServiceId]: Components[S]['service'] };

/** Every component whose image is pinned here, in registry order. */
export const IMAGE_IDS = COMPONENT_IDS.filter((id) => component(id).image) as ImageId[];

/**
 * The components whose image this repository builds, each from `services/<id>/Dockerfile`:
 * `.github/workflows/release.yml` pushes them on a tag, and `minikube/up.sh` builds them into the
 * node when their pin cannot be pulled (deploy/bootstrap/cluster.env lists them).
 */
export const PROJECT_IMAGE_IDS = [
  'provisioning',
  'identity',
  'fleet',
  'monitor',
  'console',
] as const satisfies readonly ImageId[];

/** Every pinned chart. */
export const CHART_IDS = Object.keys(CHARTS) as ChartId[];

/** Components that are IoT Agents. */
export type IotAgentId = {
  [K in ComponentId]: Components[K] extends { iotAgent: IotAgentSpec } ? K : never;
}[ComponentId];

/** The device protocols of the platform's IoT Agents, e.g. `'ultralight' | 'json'`. */
export type DeviceProtocol = {
  [K in IotAgentId]: Components[K]['iotAgent']['protocol'];
}[IotAgentId];

/** Every IoT Agent, in registry order. */
export const IOT_AGENT_IDS = COMPONENT_IDS.filter((id) => component(id).iotAgent) as IotAgentId[];

/** Every device protocol, in registry order. */
export const DEVICE_PROTOCOLS = IOT_AGENT_IDS.map((id) => COMPONENTS[id].iotAgent.protocol) as [
  DeviceProtocol,
  ...DeviceProtocol[],
];

/** The protocol of a device or group that names none: the agent marked `default`. */
export const DEFAULT_DEVICE_PROTOCOL: DeviceProtocol = (
  IOT_AGENT_IDS.map((id) => COMPONENTS[id].iotAgent as IotAgentSpec).find((a) => a.default) ??
  COMPONENTS[IOT_AGENT_IDS[0]!].iotAgent
).protocol as DeviceProtocol;

/** The IoT Agent of a device protocol. */
export function iotAgentOf(protocol: DeviceProtocol): IotAgentId {
  const id = IOT_AGENT_IDS.find((a) => COMPONENTS[a].iotAgent.protocol === protocol);
  if (!id) throw new TypeError(`no IoT Agent speaks ${protocol}`);
  return id;
}

/** What the IoT Agent of a device protocol speaks and where it keeps its devices. */
export function iotAgentSpec(protocol: DeviceProtocol): IotAgentSpec {
  return COMPONENTS[iotAgentOf(protocol)].iotAgent;
}

/** Every component a construct of ours builds. */
export const PLATFORM_COMPONENT_IDS = COMPONENT_IDS.filter(
  (id) => component(id).managedBy === 'platform',
) as PlatformComponentId[];

/** The namespace role of a service. */
export function serviceNamespace(id: ServiceId): NamespaceRole {
  return COMPONENTS[id].namespace;
}

/** The Kubernetes Service port name of a port: the Istio protocol prefix plus its key. */
export function servicePortName(spec: ServicePortSpec, key: string): string {
  return `${spec.protocol}-${key}`;
}

/**
 * A port of a service, e.g. `servicePort('orion', 'api')` → `{ port: 1026, protocol: 'http' }`.
 * @throws TypeError when the service has no such port.
 */
export function servicePort(id: ServiceId, key: string): ServicePortSpec {
  const spec = (SERVICES[id].ports as Readonly<Record<string, ServicePortSpec>>)[key];
  if (!spec) throw new TypeError(`service ${id} has no port ${key}`);
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Checks, run when the platform context is loaded
// ---------------------------------------------------------------------------------------------

/** Every registry error, by stable code. */
export const COMPONENT_ERRORS = {
  ERR_COMPONENT_SOURCE: {
    problem:
      'a component does not say how it is built: a platform component needs a layer, an image and a Service; a helm component a chart of CHARTS (and `sidecar` only outside the meshed namespaces)',
    fix: 'give the entry `layer`, `image` and `service` (platform) or `chart` (helm), as the other entries of platform/components.ts do',
  },
  ERR_COMPONENT_CALL: {
    problem:
      "a call names a component that is not a platform workload with a Service, a port its Service does not have, an empty list (Istio reads it as any), realm paths on a component other than Keycloak, or methods or paths on a port that is not HTTP (Istio would never match them); or an upstream chart's workload calls without a serviceAccount to call as",
    fix: "call a platform component of platform/components.ts, name its ports, leave a list out rather than empty, give realm paths only to keycloak, and methods and paths only for http, http2 or grpc ports; give a chart workload that calls its `serviceAccount` (the chart's name for it)",
  },
  ERR_COMPONENT_IOT_AGENT: {
    problem:
      'two IoT Agents share a device protocol, a resource or a registry database, user or password key, an IoT Agent lacks the north and south ports, or not exactly one IoT Agent is the default',
    fix: 'give each IoT Agent its own protocol, resource and registry (database, user, password key and variable), and north and south ports, and mark one (default: true)',
  },
} as const satisfies ErrorCatalogue;
export type ComponentErrorCode = keyof typeof COMPONENT_ERRORS;

/** One problem of the registry. */
export interface ComponentIssue {
  readonly component: string;
  readonly code: ComponentErrorCode;
  readonly detail: string;
}

/** Thrown when the registry is inconsistent; nothing has been built. */
export class ComponentRegistryError extends PlatformError {
  constructor(readonly issues: readonly ComponentIssue[]) {
    super(
      'ERR_COMPONENT_INVALID',
      `the component registry is invalid:\n${issues
        .map((i) => issueLine(COMPONENT_ERRORS, i.component, i.code, i.detail))
        .join('\n')}`,
      'edit platform/components.ts as each line says, then run `npm run synth` again',
    );
    this.name = 'ComponentRegistryError';
  }
}

/** The Istio protocols whose requests have methods and paths. */
export const HTTP_PROTOCOLS: readonly MeshProtocol[] = ['http', 'http2', 'grpc'];

/**
 * Throws a {@link ComponentRegistryError} listing every problem of a registry.
 * @param components @default the registry
 * @param charts @default the pinned charts
 */
export function validateComponents(
  components: Readonly<Record<string, ComponentSpec>> = COMPONENTS,
  charts: Readonly<Record<string, ChartSpec>> = CHARTS,
): void {
  const issues: ComponentIssue[] = [];
  const flag = (component: string, code: ComponentErrorCode, detail: string) =>
    issues.push({ component, code, detail });
  for (const [id, c] of Object.entries(components)) {
    if (c.managedBy === 'platform' && (!c.layer || !c.image || !c.service))
      flag(id, 'ERR_COMPONENT_SOURCE', 'a platform component without layer, image or service');
    if (c.managedBy === 'fleet' && (!c.image || c.service || c.layer))
      flag(id, 'ERR_COMPONENT_SOURCE', 'a fleet job without image, or with a Service or layer');
    if (c.managedBy === 'helm' && (!c.chart || !(c.chart in charts)))
      flag(id, 'ERR_COMPONENT_SOURCE', `chart ${JSON.stringify(c.chart)}`);
    // A chart's workload calls as its ServiceAccount: the callee's policy must name it.
    if (c.managedBy !== 'platform' && c.calls?.length && !c.serviceAccount && !c.service)
      flag(id, 'ERR_COMPONENT_CALL', 'calls, but names no serviceAccount to call as');
    if (
      c.sidecar &&
      (c.managedBy !== 'helm' || c.namespace === 'platform' || c.namespace === 'identity')
    )
      flag(
        id,
        'ERR_COMPONENT_SOURCE',
        'sidecar is for a chart workload outside the meshed namespaces (those get one anyway)',
      );
    for (const call of c.calls ?? []) {
      const target = components[call.to]?.service;
      const where = `call to ${call.to}`;
      if (!target) {
        flag(id, 'ERR_COMPONENT_CALL', `${where}: no Service`);
        continue;
      }
      if (components[call.to]!.managedBy !== 'platform')
        flag(
          id,
          'ERR_COMPONENT_CALL',
          `${where}: a workload of an upstream chart, whose policies the chart owns`,
        );
      const empty = (['ports', 'methods', 'paths', 'realmPaths'] as const).filter(
        (f) => call[f]?.length === 0,
      );
      if (empty.length > 0)
        flag(
          id,
          'ERR_COMPONENT_CALL',
          `${where}: empty ${empty.join(', ')} (Istio reads an empty list as any)`,
        );
      if (call.realmPaths && call.to !== 'keycloak')
        flag(id, 'ERR_COMPONENT_CALL', `${where}: realm paths, which only Keycloak serves`);
      for (const key of call.ports ?? Object.keys(target.ports)) {
        const port = target.ports[key];
        if (!port) flag(id, 'ERR_COMPONENT_CALL', `${where}: port ${key}`);
        else if (
          (call.methods || call.paths || call.realmPaths) &&
          !HTTP_PROTOCOLS.includes(port.protocol)
        )
          flag(
            id,
            'ERR_COMPONENT_CALL',
            `${where}: methods or paths on ${key}, a ${port.protocol} port`,
          );
      }
    }
  }
  const agents = Object.entries(components).filter(([, c]) => c.iotAgent);
  const defaults = agents.filter(([, c]) => c.iotAgent!.default).map(([id]) => id);
  if (agents.length > 0 && defaults.length !== 1)
    flag(
      defaults.join(', ') || agents.map(([id]) => id).join(', '),
      'ERR_COMPONENT_IOT_AGENT',
      `${defaults.length} agents marked default; exactly one is`,
    );
  const taken = new Map<string, string>();
  for (const [id, c] of agents) {
    const a = c.iotAgent!;
    if (!c.service?.ports.north || !c.service.ports.south)
      flag(id, 'ERR_COMPONENT_IOT_AGENT', 'no north or south port');
    for (const [what, value] of [
      ['protocol', a.protocol],
      ['resource', a.resource],
      ['database', a.registry.database],
      ['user', a.registry.user],
      ['password key', a.registry.passwordKey],
      ['password variable', a.registry.passwordEnv],
      ['north URL variable', a.northUrlEnv],
    ]) {
      const first = taken.get(`${what}=${value}`);
      if (first) flag(id, 'ERR_COMPONENT_IOT_AGENT', `${what} ${value} is ${first}'s too`);
      else taken.set(`${what}=${value}`, id);
    }
  }
  if (issues.length > 0) throw new ComponentRegistryError(issues);
}
