/**
 * What bypasses OPA, derived from the route table only.
 */
import type { RouteSpec } from './routes.js';

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
