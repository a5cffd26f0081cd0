/**
 * Test support: a local ingress gateway that stands in for the platform's Istio ingress
 * gateway in the local test stack, derived from the same inputs as the manifests.
 *
 * What it re-implements, and from where:
 * - Path normalisation as istiod's meshConfig configures it (`DECODE_AND_MERGE_SLASHES`,
 *   cdk8s/lib/gitops/chart-values.ts), in Envoy's order: decode `%2F` and `%5C`, then
 *   `normalize_path` (decode percent-encoded unreserved characters, `\` to `/`, RFC 3986
 *   dot-segment removal), then merge slashes. Authorization and routing both see the
 *   normalised path, and it is what the backend receives. A path with `%00` gets 400.
 * - The gateway's AuthorizationPolicies (cdk8s/lib/mesh/security.ts), with their paths from
 *   the same helpers (platform/public-paths.ts), evaluated in Istio's order: CUSTOM
 *   first (ext_authz to OPA for every path outside `opaExemptPaths`; a deny passes OPA's
 *   status, headers and body on; an error or a timeout gives 503 and never allows), then the
 *   DENY policies `blocked-paths` and `platform-headers-from-clients` (403 `RBAC: access
 *   denied`). Paths are matched as Istio matches `paths`: exact, `prefix*` or `*suffix`, on
 *   the path without its query string.
 * - The VirtualService `kitt4sme-routes` (cdk8s/lib/mesh/ingress.ts): routes in order, each
 *   matching `<prefix>/` by prefix and `<prefix>` exactly; `stripPrefix` rewrites the
 *   matched prefix to `/`; no match gives 404.
 * - The proxying Envoy does by default: method, headers (Host kept) and body streamed both
 *   ways, hop-by-hop headers dropped, `x-forwarded-for` appended to, `x-forwarded-proto` and
 *   `x-request-id` set; an allow's headers overwrite the client's headers of the same name
 *   (as the OPA-Envoy plugin sets them); a missing backend gives 503 `no healthy upstream`,
 *   an unreachable one 503 `upstream connect error ...`.
 *
 * What it leaves out: TLS and the HTTPS redirect, the Gateway's host match (any Host is
 * served), mTLS to the backends and their sidecars (so no RequestAuthentication: a backend
 * here never re-checks the token), retries and timeouts of upstream requests, `x-envoy-*`
 * header sanitising, canonicalisation of characters Envoy would percent-encode, WebSocket
 * upgrades, HTTP/2, access logs and tracing.
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { RouteSpec } from '../../platform/routes.js';
import { ROUTES } from '../../platform/routes.js';
import { TENANT_HEADER } from '../../platform/tenancy.js';
import { blockedPaths, opaExemptPaths } from '../../platform/routes.js';
import { DECISION_PATH } from '../../platform/policy-data.js';
import { headersOf, policyInput } from '../../services/tenancy/src/input.js';
import type { Decision } from '../../services/tenancy/src/policy.js';
import type { OpaServer } from '../real/opa.js';
import { freePort } from '../real/opa.js';

/** Decides a request from its ext_authz CheckRequest-shaped input (see `policyInput`). */
export type Authorizer = (input: Record<string, unknown>) => Promise<Decision>;

/**
 * Asks a real OPA server (testing/real/opa.ts `OpaServer`) for
 * `kitt4sme/authz/decision` (`DECISION_PATH` in platform/policy-data.ts), as the
 * OPA-Envoy plugin does. A result that is not a decision rejects, which the gateway turns
 * into 503 like any other ext_authz error.
 */
export function opaAuthorizer(opa: Pick<OpaServer, 'query'>): Authorizer {
  return async (input) => asDecision(await opa.query(DECISION_PATH, input));
}

/** What the gateway did with one request. Never holds a token or a query string. */
export interface GatewayDecision {
  readonly method: string;
  /** The normalised path (as received, when it could not be normalised), without query. */
  readonly path: string;
  /** Whether the authorization layers (ext_authz and the DENY policies) let it through. */
  readonly allowed: boolean;
  /** The status the client got. */
  readonly status: number;
  /** Why it was refused or failed, e.g. `denied by blocked-paths`. */
  readonly reason?: string;
}

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  /**
   * Backend base URLs by `${service}/${port}` of RouteBackend, e.g. 'orion/api' →
   * 'http://127.0.0.1:1234'. A route whose backend is missing answers 503 like Envoy
   * ("no healthy upstream").
   */
  readonly backends: Readonly<Record<string, string>>;
  /** The ext_authz provider; {@link opaAuthorizer} for the real policy. */
  readonly authorize: Authorizer;
  /** The route table. @default ROUTES of platform/routes.ts */
  readonly routes?: readonly RouteSpec[];
  /** The loopback port to listen on. @default - a free port */
  readonly port?: number;
  /** How long the authorizer may take before the request fails with 503. @default 1000 (the mesh's 1s) */
  readonly authzTimeoutMs?: number;
}

/** A running gateway. */
export interface Gateway {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** One entry per request, in the order the answers started. */
  readonly decisions: GatewayDecision[];
  /** Stops listening and drops open connections, to clients and to backends. */
  close(): Promise<void>;
}

/** One route of the gateway, as the VirtualService and the CUSTOM policy have it. */
export interface GatewayRoute {
  /** The route's prefix: `<prefix>/` matches by prefix, `<prefix>` exactly. */
  prefix: string;
  /** `${service}/${port}` of the route's backend, the key of {@link GatewayOptions.backends}. */
  backendKey: string;
  /** What the matched prefix is rewritten to; undefined keeps the path. */
  rewrite: string | undefined;
  /** Whether requests under the prefix go to OPA (exact public paths aside). */
  opa: boolean;
}

/** The gateway's view of the route table (for the drift test): one entry per route. */
export function gatewayRoutes(routes: readonly RouteSpec[] = ROUTES): GatewayRoute[] {
  const exempt = opaExemptPaths(routes);
  return routes.map((r) => ({
    prefix: r.prefix,
    backendKey: `${r.backend.service}/${r.backend.port}`,
    rewrite: r.stripPrefix ? '/' : undefined,
    opa: !(exempt.includes(r.prefix) && exempt.includes(`${r.prefix}/*`)),
  }));
}

/** Starts a gateway on the loopback interface. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const table = opts.routes ?? ROUTES;
  const routes = gatewayRoutes(table);
  // The three gateway policies of cdk8s/lib/mesh/security.ts, by name.
  const extAuthzNotPaths = opaExemptPaths(table);
  const blocked = blockedPaths(table);
  const platformHeaderPaths = opaExemptPaths(table);
  for (const p of [...extAuthzNotPaths, ...blocked]) assertIstioPath(p);
  const timeoutMs = opts.authzTimeoutMs ?? 1000;
  const decisions: GatewayDecision[] = [];
  const agent = new Agent({ keepAlive: true });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const target = req.url ?? '';
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q);
    const path = normalizePath(rawPath);
    const record = (d: Omit<GatewayDecision, 'method' | 'path'>) =>
      decisions.push({ method, path: path ?? rawPath, ...d });
    if (path === undefined) {
      record({ allowed: false, status: 400, reason: 'path cannot be normalised' });
      return localReply(res, 400, 'Bad Request');
    }
    const headers = headersOf(req);

    // CUSTOM: opa-ext-authz
    let added: Readonly<Record<string, string>> = {};
    if (!matchesAny(extAuthzNotPaths, path)) {
      let decision: Decision;
      try {
        const input = policyInput(method, path + query, headers);
        decision = asDecision(await withTimeout(opts.authorize(input), timeoutMs));
      } catch (err) {
        record({ allowed: false, status: 503, reason: `opa-ext-authz failed: ${message(err)}` });
        return localReply(res, 503, '');
      }
      if (!decision.allowed) {
        const status = decision.http_status ?? 403;
        const detail = lookup(decision.headers, 'x-kitt4sme-deny-reason');
        record({
          allowed: false,
          status,
          reason: `denied by opa-ext-authz${detail ? `: ${detail}` : ''}`,
        });
        return localReply(res, status, decision.body ?? '', decision.headers);
      }
      added = decision.headers ?? {};
    }

    // DENY: blocked-paths, platform-headers-from-clients
    if (matchesAny(blocked, path)) {
      record({ allowed: false, status: 403, reason: 'denied by blocked-paths' });
      return localReply(res, 403, 'RBAC: access denied');
    }
    if (matchesAny(platformHeaderPaths, path) && headers[TENANT_HEADER] !== undefined) {
      record({ allowed: false, status: 403, reason: 'denied by platform-headers-from-clients' });
      return localReply(res, 403, 'RBAC: access denied');
    }

    // VirtualService kitt4sme-routes
    const route = routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
    if (!route) {
      record({ allowed: true, status: 404, reason: 'no route' });
      return localReply(res, 404, '');
    }
    const base = opts.backends[route.backendKey];
    if (base === undefined) {
      record({ allowed: true, status: 503, reason: `no backend for ${route.backendKey}` });
      return localReply(res, 503, 'no healthy upstream');
    }
    const upstreamPath =
      route.rewrite === undefined
        ? path
        : path === route.prefix
          ? route.rewrite
          : route.rewrite + path.slice(route.prefix.length + 1);
    proxy(req, res, {
      base,
      path: upstreamPath + query,
      added,
      agent,
      onResponse: (status) => record({ allowed: true, status }),
      onError: (err) => record({ allowed: true, status: 503, reason: err }),
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      decisions.push({
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0]!,
        allowed: false,
        status: 500,
        reason: `gateway error: ${message(err)}`,
      });
      if (!res.headersSent) localReply(res, 500, 'gateway error');
      else res.destroy();
    });
  });
  const port = opts.port ?? (await freePort());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    decisions,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          agent.destroy();
          resolve();
        });
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/** Percent-encoded unreserved characters, which Envoy's normalize_path decodes. */
const UNRESERVED_ESCAPE = /%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])/g;

/**
 * The path as Envoy forwards it with DECODE_AND_MERGE_SLASHES, or undefined for a path Envoy
 * refuses with 400 (`%00`, not starting with `/`, a fragment). Each step runs once: `%252F`
 * stays `%252F`.
 */
function normalizePath(raw: string): string | undefined {
  if (!raw.startsWith('/') || raw.includes('#') || /%00/.test(raw)) return undefined;
  const unescaped = raw.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  const decoded = unescaped
    .replace(UNRESERVED_ESCAPE, (e) => String.fromCharCode(parseInt(e.slice(1), 16)))
    .replaceAll('\\', '/');
  return removeDotSegments(decoded).replace(/\/{2,}/g, '/');
}

/** RFC 3986 section 5.2.4 for an absolute path. */
function removeDotSegments(path: string): string {
  const segments = path.split('/').slice(1);
  const out: string[] = [];
  for (const [i, s] of segments.entries()) {
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (last) out.push('');
    } else out.push(s);
  }
  return `/${out.join('/')}`;
}

/** Refuses a pattern this gateway would not match as Istio does (path templates). */
function assertIstioPath(pattern: string): void {
  if (pattern.includes('{') || pattern.indexOf('*') !== pattern.lastIndexOf('*'))
    throw new TypeError(
      `The local gateway cannot match the AuthorizationPolicy path '${pattern}'. It handles ` +
        "exact paths, 'prefix*' and '*suffix'; extend istioPathMatches in gateway.ts.",
    );
}

/** Istio's `paths` match: exact, `prefix*`, `*suffix` or `*`. */
function istioPathMatches(pattern: string, path: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return path.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return path.endsWith(pattern.slice(1));
  return path === pattern;
}

function matchesAny(patterns: readonly string[], path: string): boolean {
  return patterns.some((p) => istioPathMatches(p, path));
}

// ---------------------------------------------------------------------------------------------
// ext_authz
// ---------------------------------------------------------------------------------------------

/** A decision as the OPA-Envoy plugin accepts it (a boolean or an object); throws otherwise. */
function asDecision(result: unknown): Decision {
  if (typeof result === 'boolean') return { allowed: result };
  if (typeof result !== 'object' || result === null)
    throw new Error(`the decision is not an object or a boolean: ${JSON.stringify(result)}`);
  const d = result as Record<string, unknown>;
  if (typeof d.allowed !== 'boolean') throw new Error("the decision has no boolean 'allowed'");
  if (
    d.http_status !== undefined &&
    !(Number.isInteger(d.http_status) && (d.http_status as number) >= 200)
  )
    throw new Error(`the decision's http_status is not a status: ${String(d.http_status)}`);
  if (d.body !== undefined && typeof d.body !== 'string')
    throw new Error("the decision's body is not a string");
  if (
    d.headers !== undefined &&
    (typeof d.headers !== 'object' ||
      d.headers === null ||
      Object.values(d.headers).some((v) => typeof v !== 'string'))
  )
    throw new Error("the decision's headers are not an object of strings");
  return d as unknown as Decision;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Proxying
// ---------------------------------------------------------------------------------------------

/** Headers that describe one connection, never forwarded (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

/** Raw headers (name, value, name, value...) without hop-by-hop ones and without `drop`. */
function forwardable(raw: readonly string[], drop: ReadonlySet<string> = new Set()): string[] {
  const listed = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection')
      for (const name of raw[i + 1]!.split(',')) listed.add(name.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || listed.has(name) || drop.has(name)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function proxy(
  req: IncomingMessage,
  res: ServerResponse,
  o: {
    base: string;
    path: string;
    added: Readonly<Record<string, string>>;
    agent: Agent;
    onResponse: (status: number) => void;
    onError: (reason: string) => void;
  },
): void {
  const upstream = new URL(o.base);
  const set: Record<string, string> = {
    ...Object.fromEntries(Object.entries(o.added).map(([k, v]) => [k.toLowerCase(), v])),
    'x-forwarded-proto': 'http',
    'x-request-id': randomUUID(),
  };
  const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const xff = [lookup(headersOf(req), 'x-forwarded-for'), client].filter(Boolean).join(',');
  const headers = [
    ...forwardable(req.rawHeaders, new Set([...Object.keys(set), 'x-forwarded-for'])),
    ...Object.entries({ ...set, 'x-forwarded-for': xff }).flat(),
  ];
  const hasHost = headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'host');
  const basePath = upstream.pathname.replace(/\/$/, '');
  const up = httpRequest(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: basePath + o.path,
      headers,
      setHost: !hasHost,
      agent: o.agent,
    },
    (upRes) => {
      const status = upRes.statusCode ?? 502;
      o.onResponse(status);
      res.writeHead(status, forwardable(upRes.rawHeaders));
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    },
  );
  up.on('error', (err: NodeJS.ErrnoException) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const cause = err.code === 'ECONNREFUSED' ? 'connection failure' : 'connection termination';
    o.onError(`upstream connect error: ${err.code ?? err.message}`);
    localReply(
      res,
      503,
      `upstream connect error or disconnect/reset before headers. reset reason: ${cause}`,
    );
  });
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  req.on('error', () => up.destroy());
  req.pipe(up);
}

/**
 * A reply of the gateway itself: text/plain, unless `headers` name a content type or the
 * body is JSON (OPA's problem documents).
 */
function localReply(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  const out: Record<string, string> = {};
  if (body !== '') out['content-type'] = isJson(body) ? 'application/problem+json' : 'text/plain';
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  out['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, out);
  res.end(body);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function lookup(
  headers: Readonly<Record<string, string>> | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
