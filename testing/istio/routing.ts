/**
 * Test support: how Istio's ingress gateway routes a request through a VirtualService.
 *
 * A model of the documented semantics the platform relies on, not a full Envoy: HTTP routes
 * are tried in order, the first whose match fits wins; `uri.exact` compares the path without
 * its query, `uri.prefix` the path from its start; `rewrite.uri` replaces the matched prefix
 * (or the whole path of an exact match) and keeps the query.
 * See https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRewrite
 */

/** Where a request ends up. */
export interface Routed {
  readonly route: string;
  readonly host: string;
  readonly port: number;
  /** The path (and query) the backend receives. */
  readonly path: string;
}

interface HttpRoute {
  name?: string;
  match?: { uri?: { exact?: string; prefix?: string } }[];
  rewrite?: { uri?: string };
  route: { destination: { host: string; port: { number: number } } }[];
}

/** Routes `pathWithQuery` through the VirtualService spec, or returns undefined (404). */
export function routeRequest(
  spec: { http: HttpRoute[] },
  pathWithQuery: string,
): Routed | undefined {
  const q = pathWithQuery.indexOf('?');
  const path = q < 0 ? pathWithQuery : pathWithQuery.slice(0, q);
  const query = q < 0 ? '' : pathWithQuery.slice(q);
  for (const route of spec.http) {
    for (const m of route.match ?? [{}]) {
      const exact = m.uri?.exact;
      const prefix = m.uri?.prefix;
      let rest: string | undefined;
      if (exact !== undefined) rest = path === exact ? '' : undefined;
      else if (prefix !== undefined)
        rest = path.startsWith(prefix) ? path.slice(prefix.length) : undefined;
      else rest = path;
      if (rest === undefined) continue;
      const rewritten = route.rewrite?.uri !== undefined ? route.rewrite.uri + rest : path;
      const d = route.route[0]!.destination;
      return {
        route: route.name ?? '',
        host: d.host,
        port: d.port.number,
        path: rewritten + query,
      };
    }
  }
  return undefined;
}
