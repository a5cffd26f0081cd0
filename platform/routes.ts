/**
 * The route table: every path the ingress gateway serves, derived from the routes the
 * components declare in the registry (platform/components.ts), and its checks.
 *
 * It is the single source of the VirtualService, the public paths of the CUSTOM
 * AuthorizationPolicy (OPA is not consulted for them), the OPA policy data, the mesh grants of
 * the gateway, the diagram and the scenario URLs. Add a route to a component and everything
 * that routes or authorises follows.
 */
import type {
  ComponentRoute,
  DeviceProtocol,
  PortKey,
  ServiceId,
  ServicePortSpec,
} from './components.js';
import { COMPONENT_IDS, HTTP_PROTOCOLS, SERVICES, component, iotAgentOf } from './components.js';
import { PlatformError, issueLine } from './errors.js';

export type { RouteAccess } from './components.js';

/** A service and one of its ports, e.g. `{ service: 'iotAgentUl', port: 'north' }`. */
export type RouteBackend = {
  [S in ServiceId]: { readonly service: S; readonly port: PortKey<S> };
}[ServiceId];

/** One route of the ingress gateway. */
export interface RouteSpec extends Omit<ComponentRoute, 'port'> {
  /** The service and port requests go to. */
  readonly backend: RouteBackend;
}

/**
 * The routes, in match order: the `tenant` routes, then the `sso` routes, each in registry
 * order. Prefixes never overlap (validateRoutes), so the order decides nothing but the text
 * of the VirtualService.
 */
export const ROUTES: readonly RouteSpec[] = (['tenant', 'sso'] as const).flatMap((access) =>
  COMPONENT_IDS.flatMap((id) =>
    (component(id).routes ?? [])
      .filter((r) => r.access === access)
      .map(({ port, ...r }) => ({ ...r, backend: { service: id, port } }) as RouteSpec),
  ),
);

/** The route devices of a protocol send to (the one with an API-key parameter), e.g. `/iota-south`. */
export function deviceRoutePrefix(protocol: DeviceProtocol): string {
  const agent = iotAgentOf(protocol);
  const route = ROUTES.find((r) => r.backend.service === agent && r.apiKeyParam);
  if (!route)
    throw new TypeError(`the IoT Agent of ${protocol} has no route with an API-key parameter`);
  return route.prefix;
}

// ---------------------------------------------------------------------------------------------
// What bypasses OPA, derived from the route table only
// ---------------------------------------------------------------------------------------------

/** Exact public paths of `tenant` routes, as the gateway sees them (`/orion/version`). */
export function exactPublicPaths(routes: readonly RouteSpec[]): string[] {
  return routes
    .filter((r) => r.access === 'tenant')
    .flatMap((r) => r.publicPaths.map((p) => `${r.prefix}${p}`));
}

/** Prefixes of `sso` routes: the applications behind them authenticate their users. */
export function ssoPrefixes(routes: readonly RouteSpec[]): string[] {
  return routes.filter((r) => r.access === 'sso').map((r) => r.prefix);
}

/**
 * The `notPaths` of the CUSTOM AuthorizationPolicy: every request whose path is not listed
 * goes to OPA. Exact public paths stay exact; an sso prefix covers itself and below.
 *
 * Istio matches these after its path normalisation (mesh `pathNormalization`), so `..`,
 * `%2F` and `//` cannot turn a protected path into a listed one.
 */
export function opaExemptPaths(routes: readonly RouteSpec[]): string[] {
  return [...exactPublicPaths(routes), ...ssoPrefixes(routes).flatMap((p) => [p, `${p}/*`])];
}

/** Paths the gateway refuses whatever the token: each blocked path and everything below it. */
export function blockedPaths(routes: readonly RouteSpec[]): string[] {
  return routes.flatMap((r) =>
    (r.blockedPaths ?? []).flatMap((p) => [`${r.prefix}${p}`, `${r.prefix}${p}/*`]),
  );
}

// ---------------------------------------------------------------------------------------------
// Checks, run when the platform context is loaded
// ---------------------------------------------------------------------------------------------

/**
 * Every route-table error, by stable code. A route is security-relevant: its public paths
 * bypass OPA. The rules keep every public path an exact, already-normalised path, and keep
 * prefixes from shadowing one another.
 */
export const ROUTE_ERRORS = {
  ERR_ROUTE_PREFIX: {
    problem:
      'a route prefix is not a lower-case path of one or more segments without trailing slash',
    fix: 'write prefixes like /orion or /iota-north: lower-case letters, digits and "-" per segment',
  },
  ERR_ROUTE_OVERLAP: {
    problem: 'two routes have the same prefix, or one prefix is a path below another',
    fix: 'give every route its own first path segment, so that no route can shadow another',
  },
  ERR_ROUTE_PUBLIC_PATH: {
    problem:
      'a public or blocked path is not an exact, normalised path (it has "..", ".", "//", "%", "*", "?" or a trailing slash)',
    fix: 'list exact paths below the prefix such as /version; public paths bypass OPA, so patterns are not allowed',
  },
  ERR_ROUTE_ACCESS: {
    problem:
      'a route\'s access does not match its rights: "tenant" routes need rights, "sso" routes take none',
    fix: 'give a "tenant" route at least one role right, and an "sso" route no rights and no public paths',
  },
  ERR_ROUTE_BACKEND: {
    problem:
      'a route points at a service or port that does not exist, or at a port that is not HTTP',
    fix: 'use a component of platform/components.ts that has a Service, and one of its http, http2 or grpc port names',
  },
} as const;

export type RouteErrorCode = keyof typeof ROUTE_ERRORS;

/** One problem in the route table. */
export interface RouteIssue {
  readonly route: string;
  readonly code: RouteErrorCode;
  readonly detail: string;
}

/** Thrown when the route table is invalid; nothing has been synthesized. */
export class RouteTableError extends PlatformError {
  constructor(readonly issues: readonly RouteIssue[]) {
    super(
      'ERR_ROUTE_INVALID',
      `the route table is invalid:\n${issues
        .map((i) => issueLine(ROUTE_ERRORS, i.route, i.code, i.detail))
        .join('\n')}`,
      'edit the routes of the components in platform/components.ts as each line says, then run `npm run synth` again',
    );
    this.name = 'RouteTableError';
  }
}

const PREFIX = /^(\/[a-z0-9][a-z0-9-]*)+$/;
const SEGMENT = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/;

/** Throws a {@link RouteTableError} listing every problem of the table. */
export function validateRoutes(routes: readonly RouteSpec[]): void {
  const issues: RouteIssue[] = [];
  routes.forEach((r, i) => {
    const where = `routes[${i}] ${r.prefix}`;
    if (!PREFIX.test(r.prefix))
      issues.push({ route: where, code: 'ERR_ROUTE_PREFIX', detail: JSON.stringify(r.prefix) });
    for (const other of routes.slice(i + 1)) {
      if (
        other.prefix === r.prefix ||
        other.prefix.startsWith(`${r.prefix}/`) ||
        r.prefix.startsWith(`${other.prefix}/`)
      ) {
        issues.push({
          route: where,
          code: 'ERR_ROUTE_OVERLAP',
          detail: `${r.prefix} and ${other.prefix}`,
        });
      }
    }
    for (const p of [...r.publicPaths, ...(r.blockedPaths ?? [])]) {
      if (!isExactPath(p))
        issues.push({ route: where, code: 'ERR_ROUTE_PUBLIC_PATH', detail: JSON.stringify(p) });
    }
    const rights = Object.values(r.rights).filter((m) => m && m.length > 0);
    if (r.access === 'tenant' && rights.length === 0) {
      issues.push({
        route: where,
        code: 'ERR_ROUTE_ACCESS',
        detail: 'a tenant route without rights',
      });
    }
    if (r.access === 'sso' && (rights.length > 0 || r.publicPaths.length > 0)) {
      issues.push({
        route: where,
        code: 'ERR_ROUTE_ACCESS',
        detail: 'an sso route with rights or public paths',
      });
    }
    const svc = (
      SERVICES as Readonly<
        Record<string, { ports: Readonly<Record<string, ServicePortSpec>> } | undefined>
      >
    )[r.backend.service];
    const port = svc?.ports[r.backend.port];
    if (!port || !HTTP_PROTOCOLS.includes(port.protocol)) {
      issues.push({
        route: where,
        code: 'ERR_ROUTE_BACKEND',
        detail: `${r.backend.service}:${r.backend.port}${port ? `, a ${port.protocol} port` : ''}`,
      });
    }
  });
  if (issues.length > 0) throw new RouteTableError(issues);
}

/** An exact path: segments of unreserved characters, no dot segments, no trailing slash. */
function isExactPath(p: string): boolean {
  if (!p.startsWith('/') || p.length < 2) return false;
  return p
    .slice(1)
    .split('/')
    .every((seg) => SEGMENT.test(seg) && seg !== '.' && seg !== '..');
}
