/**
 * Test support: a local ingress gateway that stands in for the platform's Istio ingress
 * gateway in the local test stack. It routes and authorises by reading the synthesized
 * VirtualService and AuthorizationPolicies through the one Istio interpreter
 * (testing/istio/mesh.ts); it never derives routing from the route table itself.
 *
 * What it does, as Istio's Envoy does:
 * - Path normalisation as istiod's meshConfig configures it (testing/istio/paths.ts):
 *   authorization and routing both see the normalised path, and it is what the backend
 *   receives. A path with `%00` gets 400; a request target with a fragment (`#`, in the path
 *   or the query) 400 with the policy's reason for it.
 * - The gateway's AuthorizationPolicies in Istio's order: CUSTOM first (ext_authz to the
 *   authorizer, OPA in the stack; a deny passes OPA's status, headers and body on; an error or
 *   a timeout gives 503 and never allows), then DENY and ALLOW (403 `RBAC: access denied`).
 * - The VirtualServices bound to the gateway: no match gives 404; a destination without a
 *   backend 503 `no healthy upstream`, an unreachable one 503 `upstream connect error ...`.
 * - The proxying Envoy does by default: method, headers (Host kept) and body streamed both
 *   ways, hop-by-hop headers dropped, `x-forwarded-for` appended to, `x-forwarded-proto` and
 *   `x-request-id` set; an allow's headers overwrite the client's headers of the same name
 *   (as the OPA-Envoy plugin sets them).
 * - It authorises exactly the request it forwards: a `Connection` header that names an
 *   end-to-end header (`Connection: close, fiware-servicepath`) would have that header
 *   authorised and then dropped on the way, so the request is refused with 400, as a
 *   hardened proxy does (Envoy drops only the fixed hop-by-hop set).
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

import type { ServiceId } from '../../platform/components.js';
import { servicePort } from '../../platform/components.js';
import { loadPlatformContext } from '../../platform/context.js';
import { DECISION_PATH } from '../../platform/policy-data.js';
import { DENY_REASON_HEADER } from '../../platform/tenancy.js';
import type { MeshObject } from '../istio/mesh.js';
import { ingressOf } from '../istio/ingress.js';
import { normalizePath } from '../istio/paths.js';
import { synth } from '../support/synth.js';
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
  /** The `x-request-id` the gateway gave the request (as Envoy does, before ext_authz). */
  readonly requestId: string;
  /**
   * The request's `fiware-correlator`, else the one the backend answered with (Orion and the
   * provisioning service give one to every request), else undefined.
   */
  readonly correlator?: string;
  /** The request's `fiware-service` header, if any. */
  readonly tenant?: string;
}

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  /**
   * Backend base URLs by `${service}/${port}` of the component registry, e.g. 'orion/api' →
   * 'http://127.0.0.1:1234'. A destination without a backend answers 503 like Envoy ("no
   * healthy upstream").
   */
  readonly backends: Readonly<Record<string, string>>;
  /** The ext_authz provider; {@link opaAuthorizer} for the real policy. */
  readonly authorize: Authorizer;
  /**
   * The synthesized objects whose VirtualServices and AuthorizationPolicies the gateway
   * enforces. @default the repository's, freshly synthesized
   */
  readonly objects?: readonly MeshObject[];
  /** The loopback port to listen on. @default - a free port */
  readonly port?: number;
  /** How long the authorizer may take before the request fails with 503. @default 1000 (the mesh's 1s) */
  readonly authzTimeoutMs?: number;
  /** Called with each request's entry as it is recorded (the stack's access log). */
  readonly onDecision?: (d: GatewayDecision) => void;
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

/** Why a request target with a fragment is refused: the tenancy policy's reason for it. */
export const FRAGMENT_REASON = 'bad path: fragment in request target';

/** The port clients reach the gateway on, as its policies see it (plain HTTP here). */
const GATEWAY_PORT = 80;

/** Starts a gateway on the loopback interface. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const ctx = loadPlatformContext();
  const {
    mesh,
    gateway: bound,
    workload: self,
  } = ingressOf(ctx, opts.objects ?? synth().objects.map((o) => o.object));
  // Destinations (Service host and port) to the local backends standing in for them.
  const upstreams = new Map<string, string>();
  for (const [key, url] of Object.entries(opts.backends)) {
    const [service, port] = key.split('/') as [ServiceId, string];
    upstreams.set(`${ctx.serviceHost(service)}:${servicePort(service, port).port}`, url);
  }
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
    const requestId = randomUUID();
    const given = headersOf(req);
    const tenant = lookup(given, 'fiware-service');
    const record = (
      d: Omit<GatewayDecision, 'method' | 'path' | 'requestId' | 'tenant'>,
      correlator = lookup(given, 'fiware-correlator'),
    ) => {
      const entry: GatewayDecision = {
        method,
        path: path ?? rawPath,
        ...d,
        requestId,
        ...(correlator === undefined ? {} : { correlator }),
        ...(tenant === undefined ? {} : { tenant }),
      };
      decisions.push(entry);
      opts.onDecision?.(entry);
    };
    if (target.includes('#')) {
      // Envoy refuses a fragment before any filter; the reason is the policy's for the same.
      record({ allowed: false, status: 400, reason: FRAGMENT_REASON });
      return localReply(res, 400, 'Bad Request', { [DENY_REASON_HEADER]: FRAGMENT_REASON });
    }
    if (path === undefined) {
      record({ allowed: false, status: 400, reason: 'path cannot be normalised' });
      return localReply(res, 400, 'Bad Request');
    }
    const listed = endToEndConnectionTokens(req.rawHeaders);
    if (listed.length > 0) {
      record({
        allowed: false,
        status: 400,
        reason: `Connection names end-to-end header(s): ${listed.join(', ')}`,
      });
      return localReply(res, 400, 'Bad Request');
    }
    // Envoy sets x-request-id before its filters run, so ext_authz (and OPA's decision log)
    // sees the id the access log records.
    const headers = { ...given, 'x-request-id': requestId };
    const request = { port: GATEWAY_PORT, method, path, headers };

    // CUSTOM: ext_authz
    let added: Readonly<Record<string, string>> = {};
    let decision = mesh.authorize(self, request);
    if (decision.action === 'custom') {
      const policy = decision.policy;
      let answer: Decision;
      try {
        const input = policyInput(method, path + query, headers);
        answer = asDecision(await withTimeout(opts.authorize(input), timeoutMs));
      } catch (err) {
        record({ allowed: false, status: 503, reason: `${policy} failed: ${message(err)}` });
        return localReply(res, 503, '');
      }
      if (!answer.allowed) {
        const status = answer.http_status ?? 403;
        const detail = lookup(answer.headers, DENY_REASON_HEADER);
        record({
          allowed: false,
          status,
          reason: `denied by ${policy}${detail ? `: ${detail}` : ''}`,
        });
        return localReply(res, status, answer.body ?? '', answer.headers);
      }
      added = answer.headers ?? {};
      decision = mesh.authorizeAfterCustom(self, request);
    }

    // DENY and ALLOW
    if (decision.action === 'deny') {
      record({ allowed: false, status: 403, reason: `denied by ${decision.policy}` });
      return localReply(res, 403, 'RBAC: access denied');
    }

    // VirtualService
    const routed = mesh.route(bound, path + query);
    if (!routed) {
      record({ allowed: true, status: 404, reason: 'no route' });
      return localReply(res, 404, '');
    }
    const destination = `${routed.host}:${routed.port}`;
    const base = upstreams.get(destination);
    if (base === undefined) {
      record({ allowed: true, status: 503, reason: `no backend for ${destination}` });
      return localReply(res, 503, 'no healthy upstream');
    }
    proxy(req, res, {
      base,
      path: routed.path,
      added,
      agent,
      requestId,
      onResponse: (status, correlator) =>
        record({ allowed: true, status }, lookup(given, 'fiware-correlator') ?? correlator),
      onError: (err) => record({ allowed: true, status: 503, reason: err }),
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const entry: GatewayDecision = {
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0]!,
        allowed: false,
        status: 500,
        reason: `gateway error: ${message(err)}`,
        requestId: randomUUID(),
      };
      decisions.push(entry);
      opts.onDecision?.(entry);
      if (!res.headersSent) localReply(res, 500, 'gateway error');
      else res.destroy();
    });
  });
  const port = opts.port ?? (await freePort());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: listening } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${listening}`,
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

/** Connection options that name no end-to-end header. */
const CONNECTION_OPTIONS = new Set(['close', 'keep-alive', 'upgrade', ...HOP_BY_HOP]);

/**
 * The end-to-end headers a `Connection` header lists: forwarding would drop them after they were
 * authorised, so a request that lists any is refused (RFC 9110 section 7.6.1).
 */
function endToEndConnectionTokens(raw: readonly string[]): string[] {
  const listed: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      const name = token.trim().toLowerCase();
      if (name && !CONNECTION_OPTIONS.has(name)) listed.push(name);
    }
  }
  return listed;
}

/**
 * Raw headers (name, value, name, value...) without hop-by-hop ones and without `drop`; a
 * response's `Connection` options are dropped with it, as a proxy must.
 */
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
    requestId: string;
    onResponse: (status: number, correlator: string | undefined) => void;
    onError: (reason: string) => void;
  },
): void {
  const upstream = new URL(o.base);
  const set: Record<string, string> = {
    ...Object.fromEntries(Object.entries(o.added).map(([k, v]) => [k.toLowerCase(), v])),
    'x-forwarded-proto': 'http',
    'x-request-id': o.requestId,
  };
  const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const xff = [lookup(headersOf(req), 'x-forwarded-for'), client].filter(Boolean).join(',');
  const headers = [
    ...forwardable(req.rawHeaders, new Set([...Object.keys(set), 'x-forwarded-for'])),
    ...Object.entries({ ...set, 'x-forwarded-for': xff }).flat(),
  ];
  const hasHost = headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'host');
  const basePath = upstream.pathname.replace(/\/$/, '');
  const idempotent = req.method === 'GET' || req.method === 'HEAD';
  const send = (again: boolean): void => {
    const up = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: basePath + o.path,
        headers,
        setHost: !hasHost,
        // A request with a body cannot go again after the keep-alive race below (its body is
        // streamed through, not kept), so it never meets it: it takes a connection of its own.
        agent: idempotent ? o.agent : false,
      },
      (upRes) => {
        const status = upRes.statusCode ?? 502;
        const correlator = upRes.headers['fiware-correlator'];
        o.onResponse(status, typeof correlator === 'string' ? correlator : undefined);
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
      // The upstream closed an idle keep-alive connection just as this request reused it
      // (Node's documented race): nothing reached the upstream, and a GET or HEAD goes again
      // on a fresh connection once, as the mesh's default retry policy resends a reset.
      if (!again && idempotent && up.reusedSocket && err.code === 'ECONNRESET') {
        send(true);
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
    if (again) {
      up.end();
      return;
    }
    req.on('error', () => up.destroy());
    req.pipe(up);
  };
  send(false);
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
