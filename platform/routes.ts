/**
 * The route table: every path the ingress gateway serves.
 *
 * It is the single source of the VirtualService, the public paths of the CUSTOM
 * AuthorizationPolicy (OPA is not consulted for them), the OPA policy data, the diagram and
 * the scenario URLs. Add a route here and everything that routes or authorises follows.
 */
import type { HttpMethod, Role } from './roles.js';
import { ALL, READ } from './roles.js';
import type { PortKey, ServiceId } from './services.js';

/** How a route is protected. */
export type RouteAccess =
  /**
   * FIWARE API: every request goes through OPA, which requires a valid token whose tenant set
   * contains the `fiware-service` header and whose roles allow the method. Only `publicPaths`
   * skip OPA.
   */
  | 'tenant'
  /**
   * A web application that authenticates its users itself (Keycloak's own pages; Grafana,
   * Kiali and Argo CD, which log people in through Keycloak themselves). The whole prefix
   * skips OPA, except `blockedPaths`, which the gateway refuses.
   */
  | 'sso';

/** A service and one of its ports, e.g. `{ service: 'iotAgentUl', port: 'north' }`. */
export type RouteBackend = {
  [S in ServiceId]: { readonly service: S; readonly port: PortKey<S> };
}[ServiceId];

/** One route of the ingress gateway. */
export interface RouteSpec {
  /** Path prefix at the gateway, without trailing slash, e.g. `/orion`. */
  readonly prefix: `/${string}`;
  /** The service and port requests go to. */
  readonly backend: RouteBackend;
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
  /** One line for the docs and the diagram. */
  readonly description: string;
}

/** The routes, in match order. */
export const ROUTES: readonly RouteSpec[] = [
  {
    prefix: '/orion',
    backend: { service: 'orion', port: 'api' },
    stripPrefix: true,
    access: 'tenant',
    publicPaths: ['/version'],
    rights: { viewer: READ, operator: READ, 'tenant-admin': ALL, 'platform-admin': ALL },
    description: 'Orion NGSI-v2 API',
  },
  {
    prefix: '/quantumleap',
    backend: { service: 'quantumleap', port: 'api' },
    stripPrefix: true,
    access: 'tenant',
    publicPaths: ['/version'],
    rights: { viewer: READ, operator: READ, 'tenant-admin': ALL, 'platform-admin': ALL },
    description: 'QuantumLeap time-series API',
  },
  {
    prefix: '/iota-north',
    backend: { service: 'iotAgentUl', port: 'north' },
    stripPrefix: true,
    access: 'tenant',
    publicPaths: ['/iot/about'],
    rights: { viewer: READ, operator: ALL, 'tenant-admin': ALL, 'platform-admin': ALL },
    description: 'IoT Agent provisioning API (service groups, devices)',
  },
  {
    prefix: '/iota-south',
    backend: { service: 'iotAgentUl', port: 'south' },
    stripPrefix: true,
    access: 'tenant',
    publicPaths: [],
    rights: { device: ['GET', 'POST'], 'platform-admin': ['GET', 'POST'] },
    description: 'IoT Agent Ultralight HTTP transport: device measurements and command polling',
  },
  {
    prefix: '/provisioning',
    backend: { service: 'provisioning', port: 'api' },
    // The service serves its API under /provisioning/ itself.
    stripPrefix: false,
    access: 'tenant',
    publicPaths: ['/openapi.json'],
    rights: { viewer: READ, operator: ALL, 'tenant-admin': ALL, 'platform-admin': ALL },
    description:
      'Device provisioning API: a device, its service group and its time-series subscription in one call',
  },
  {
    prefix: '/auth',
    backend: { service: 'keycloak', port: 'web' },
    stripPrefix: false,
    access: 'sso',
    publicPaths: [],
    // The admin console and the master realm are reached with kubectl port-forward only.
    blockedPaths: ['/admin', '/realms/master'],
    rights: {},
    description: 'Keycloak login pages and OIDC endpoints of the platform realm',
  },
  {
    prefix: '/grafana',
    backend: { service: 'grafana', port: 'ui' },
    stripPrefix: false,
    access: 'sso',
    publicPaths: [],
    rights: {},
    description: 'Grafana dashboards (Keycloak single sign-on; roles from the token)',
  },
  {
    prefix: '/kiali',
    backend: { service: 'kiali', port: 'ui' },
    stripPrefix: false,
    access: 'sso',
    publicPaths: [],
    rights: {},
    description: 'Kiali mesh console (Keycloak single sign-on, view-only)',
  },
  {
    prefix: '/argocd',
    backend: { service: 'argocdServer', port: 'ui' },
    stripPrefix: false,
    access: 'sso',
    publicPaths: [],
    rights: {},
    description: 'Argo CD UI and API (Keycloak single sign-on; RBAC from realm groups)',
  },
];
