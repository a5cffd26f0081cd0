/**
 * The one interpreter of the synthesized Istio objects: how Istio routes a request through a
 * VirtualService and what its AuthorizationPolicies decide for a workload, read from the
 * objects synth produces (never from the route table). The cdk8s tests use it on the
 * manifests; the local gateway (testing/stack/gateway.ts) routes and authorises with it, so
 * there is one model of the mesh to keep right.
 *
 * What it models, from Istio's documented semantics:
 * - VirtualService HTTP routes tried in order, the first whose match fits wins; `uri.exact`
 *   compares the path without its query, `uri.prefix` the path from its start; `rewrite.uri`
 *   replaces the matched prefix (or the whole path of an exact match) and keeps the query.
 *   Only VirtualServices bound to the gateway are used at the gateway.
 * - AuthorizationPolicies that apply to a workload: those of its namespace whose selector
 *   matches its labels (no selector: all of them) and those of the root namespace
 *   (`istio-system`) without a selector. Evaluated CUSTOM, then DENY, then ALLOW: a CUSTOM
 *   policy that matches hands the request to its provider; a DENY that matches refuses; with
 *   any ALLOW policy (even one with no rules) the request must match an ALLOW rule.
 * - A rule matches when every `from`, `to` and `when` part does: a list of sources (or
 *   operations) matches when one of them does; inside one, every field given must match;
 *   `not*` fields refuse what they list. Values match exactly, by `prefix*`, `*suffix` or `*`.
 *   `when` supports `request.headers[<name>]` and `request.auth.claims[<name>]` (nested:
 *   `[<name>][<member>]`): a string claim matches like a header, a list claim when one of its
 *   strings does, any other claim never; a missing claim fails `values` and passes
 *   `notValues`, as a missing header does.
 * - RequestAuthentications that apply to a workload (selected as policies are): a request's JWT
 *   counts only there, and only when a rule names its issuer; where one applies and no rule
 *   names the token's issuer, the request is refused (Envoy's jwt_authn answers 401). Without
 *   a token the request goes on unauthenticated, and claim conditions do not match. The
 *   interpreter checks no signature: a test hands it the claims of a token it deems valid.
 *
 * What it leaves out: hosts of VirtualServices (any Host is served), header/query/method
 * matches of routes, weights and retries; policy fields other than those listed (a policy
 * using one makes the constructor throw, so nothing is silently ignored).
 *
 * @see https://istio.io/latest/docs/reference/config/networking/virtual-service/
 * @see https://istio.io/latest/docs/reference/config/security/authorization-policy/
 * @see https://istio.io/latest/docs/reference/config/security/conditions/
 * @see https://istio.io/latest/docs/tasks/security/authorization/authz-jwt/
 */
import { istioMatches, matchesAny } from './paths.js';

/** The part of a Kubernetes object the interpreter reads. */
export interface MeshObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [key: string]: unknown;
}

/** Where a request ends up. */
export interface Routed {
  /** The route's name. */
  readonly route: string;
  readonly host: string;
  readonly port: number;
  /** The path (and query) the backend receives. */
  readonly path: string;
}

/** A workload a request is sent to. */
export interface MeshWorkload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The request as a policy sees it. */
export interface MeshRequest {
  /** The caller's mTLS principal, e.g. `cluster.local/ns/fiware/sa/iotagent-ul`. @default none */
  readonly principal?: string;
  /** The port of the workload the request reaches. */
  readonly port: number;
  readonly method: string;
  /** The normalised path, without query. */
  readonly path: string;
  /** Header names in lower case. @default none */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The claims of the bearer token the request carries, which a RequestAuthentication of the
   * workload would verify (signature, expiry: assumed valid). @default no token
   */
  readonly jwt?: Readonly<Record<string, unknown>>;
}

/** What the policies decided. */
export type MeshDecision =
  /** A CUSTOM policy matched: its provider decides (then DENY and ALLOW still apply). */
  | { readonly action: 'custom'; readonly provider: string; readonly policy: string }
  | { readonly action: 'deny'; readonly policy: string }
  | { readonly action: 'allow'; readonly policy?: string };

interface HttpRoute {
  name?: string;
  match?: { uri?: { exact?: string; prefix?: string } }[];
  rewrite?: { uri?: string };
  route: { destination: { host: string; port: { number: number } } }[];
}

interface Source {
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
}
interface Operation {
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}
interface Condition {
  key: string;
  values?: string[];
  notValues?: string[];
}
interface Rule {
  from?: { source: Source }[];
  to?: { operation: Operation }[];
  when?: Condition[];
}
interface JwtRequirement {
  name: string;
  namespace: string;
  selector?: Record<string, string>;
  issuers: string[];
}
interface Policy {
  name: string;
  namespace: string;
  selector?: Record<string, string>;
  action: 'ALLOW' | 'DENY' | 'CUSTOM';
  provider?: string;
  rules: Rule[];
}

const ROOT_NAMESPACE = 'istio-system';

const KNOWN = {
  policy: ['selector', 'action', 'provider', 'rules'],
  rule: ['from', 'to', 'when'],
  source: ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'],
  operation: ['ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'],
};

function onlyKnown(what: string, where: string, o: object, known: readonly string[]): void {
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  if (extra.length > 0)
    throw new TypeError(
      `${where}: the Istio interpreter does not model ${what} field(s) ${extra.join(', ')}; extend testing/istio/mesh.ts`,
    );
  // Istio reads an empty list as an unset field, which matches anything: `ports: []` would
  // allow every port. Nothing should rely on that, so the interpreter refuses it.
  const empty = Object.entries(o).filter(([, v]) => Array.isArray(v) && v.length === 0);
  if (empty.length > 0)
    throw new TypeError(
      `${where}: ${what} field(s) ${empty.map(([k]) => k).join(', ')} are empty lists, which Istio reads as unset (anything matches); leave the field out or list what it allows`,
    );
}

/** The mesh configuration of a set of synthesized objects. */
export class IstioMesh {
  private readonly policies: Policy[] = [];
  private readonly jwtRules: JwtRequirement[] = [];
  private readonly routes = new Map<string, HttpRoute[]>();

  constructor(objects: readonly MeshObject[]) {
    for (const o of objects) {
      const where = `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`;
      if (o.kind === 'VirtualService') {
        const spec = o.spec as { gateways?: string[]; http?: HttpRoute[] };
        for (const g of spec.gateways ?? ['mesh'])
          this.routes.set(g, [...(this.routes.get(g) ?? []), ...(spec.http ?? [])]);
      }
      if (o.kind === 'RequestAuthentication') {
        const spec = (o.spec ?? {}) as Record<string, unknown>;
        onlyKnown('RequestAuthentication', where, spec, ['selector', 'jwtRules']);
        this.jwtRules.push({
          name: o.metadata.name,
          namespace: o.metadata.namespace ?? ROOT_NAMESPACE,
          selector: (spec.selector as { matchLabels?: Record<string, string> } | undefined)
            ?.matchLabels,
          issuers: ((spec.jwtRules as { issuer: string }[] | undefined) ?? []).map((r) => r.issuer),
        });
      }
      if (o.kind !== 'AuthorizationPolicy') continue;
      const spec = (o.spec ?? {}) as Record<string, unknown>;
      onlyKnown('AuthorizationPolicy', where, spec, KNOWN.policy);
      const rules = (spec.rules as Rule[] | undefined) ?? [];
      for (const rule of rules) {
        onlyKnown('rule', where, rule, KNOWN.rule);
        for (const f of rule.from ?? []) onlyKnown('source', where, f.source, KNOWN.source);
        for (const t of rule.to ?? []) {
          onlyKnown('operation', where, t.operation, KNOWN.operation);
          for (const p of [...(t.operation.paths ?? []), ...(t.operation.notPaths ?? [])])
            istioMatches(p, '/'); // throws on a pattern the interpreter cannot match
        }
        for (const c of rule.when ?? []) {
          if (!CONDITION_KEY.test(c.key))
            throw new TypeError(`${where}: the Istio interpreter does not model the key ${c.key}`);
          onlyKnown('condition', where, c, ['key', 'values', 'notValues']);
        }
      }
      this.policies.push({
        name: o.metadata.name,
        namespace: o.metadata.namespace ?? ROOT_NAMESPACE,
        selector: (spec.selector as { matchLabels?: Record<string, string> } | undefined)
          ?.matchLabels,
        action: (spec.action as Policy['action'] | undefined) ?? 'ALLOW',
        provider: (spec.provider as { name?: string } | undefined)?.name,
        rules,
      });
    }
  }

  /**
   * Routes a request through the VirtualServices bound to `gateway` (`<namespace>/<name>`, or
   * `mesh` for sidecars). Undefined: no route (Envoy answers 404).
   */
  route(gateway: string, pathWithQuery: string): Routed | undefined {
    const q = pathWithQuery.indexOf('?');
    const path = q < 0 ? pathWithQuery : pathWithQuery.slice(0, q);
    const query = q < 0 ? '' : pathWithQuery.slice(q);
    for (const route of this.routes.get(gateway) ?? []) {
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

  /** The AuthorizationPolicies that apply to a workload. */
  policiesOf(workload: MeshWorkload): readonly Policy[] {
    return this.policies.filter((p) => applies(p, workload));
  }

  /**
   * The claims a workload's sidecar has verified for a request: the token's, when a
   * RequestAuthentication of the workload names its issuer; none without a token or without
   * such a RequestAuthentication; `'rejected'` when one applies and none names the issuer.
   */
  verifiedClaims(
    workload: MeshWorkload,
    request: MeshRequest,
  ): Readonly<Record<string, unknown>> | undefined | 'rejected' {
    if (!request.jwt) return undefined;
    const rules = this.jwtRules.filter((r) => applies(r, workload));
    if (rules.length === 0) return undefined;
    const issuer = request.jwt.iss;
    return rules.some((r) => r.issuers.includes(issuer as string)) ? request.jwt : 'rejected';
  }

  /**
   * What the policies of a workload decide for a request, in Istio's order. A `custom` answer
   * means the provider decides first; call {@link IstioMesh.authorizeAfterCustom} when it allows.
   */
  authorize(workload: MeshWorkload, request: MeshRequest): MeshDecision {
    const claims = this.verifiedClaims(workload, request);
    if (claims === 'rejected')
      return {
        action: 'deny',
        policy: this.jwtRules
          .filter((r) => applies(r, workload))
          .map((r) => r.name)
          .join(', '),
      };
    const custom = this.policiesOf(workload).find(
      (p) => p.action === 'CUSTOM' && p.rules.some((r) => ruleMatches(r, request, claims)),
    );
    if (custom) return { action: 'custom', provider: custom.provider ?? '', policy: custom.name };
    return this.authorizeAfterCustom(workload, request);
  }

  /** The DENY and ALLOW policies of a workload, after CUSTOM allowed (or did not apply). */
  authorizeAfterCustom(workload: MeshWorkload, request: MeshRequest): MeshDecision {
    const verified = this.verifiedClaims(workload, request);
    if (verified === 'rejected') return this.authorize(workload, request);
    const policies = this.policiesOf(workload);
    const deny = policies.find(
      (p) => p.action === 'DENY' && p.rules.some((r) => ruleMatches(r, request, verified)),
    );
    if (deny) return { action: 'deny', policy: deny.name };
    const allows = policies.filter((p) => p.action === 'ALLOW');
    if (allows.length === 0) return { action: 'allow' };
    const allow = allows.find((p) => p.rules.some((r) => ruleMatches(r, request, verified)));
    return allow
      ? { action: 'allow', policy: allow.name }
      : { action: 'deny', policy: allows.map((p) => p.name).join(', ') };
  }
}

/** Whether a policy (or a RequestAuthentication) applies to a workload. */
function applies(
  p: { namespace: string; selector?: Record<string, string> },
  workload: MeshWorkload,
): boolean {
  if (p.namespace === ROOT_NAMESPACE && !p.selector) return true;
  if (p.namespace !== workload.namespace) return false;
  return Object.entries(p.selector ?? {}).every(([k, v]) => workload.labels[k] === v);
}

function ruleMatches(
  rule: Rule,
  req: MeshRequest,
  claims: Readonly<Record<string, unknown>> | undefined,
): boolean {
  const from = !rule.from || rule.from.some(({ source: s }) => sourceMatches(s, req.principal));
  const to = !rule.to || rule.to.some(({ operation: o }) => operationMatches(o, req));
  const when = (rule.when ?? []).every((c) => conditionMatches(c, req.headers ?? {}, claims));
  return from && to && when;
}

function field(
  value: string | undefined,
  yes: readonly string[] | undefined,
  no: readonly string[] | undefined,
): boolean {
  if (yes && (value === undefined || !matchesAny(yes, value))) return false;
  if (no && value !== undefined && matchesAny(no, value)) return false;
  return true;
}

function sourceMatches(s: Source, principal: string | undefined): boolean {
  const namespace = principal?.match(/\/ns\/([^/]+)\//)?.[1];
  return (
    field(principal, s.principals, s.notPrincipals) &&
    field(namespace, s.namespaces, s.notNamespaces)
  );
}

function operationMatches(o: Operation, req: MeshRequest): boolean {
  return (
    field(String(req.port), o.ports, o.notPorts) &&
    field(req.method, o.methods, o.notMethods) &&
    field(req.path, o.paths, o.notPaths)
  );
}

/** The `when` keys the interpreter models. */
const CONDITION_KEY = /^request\.(headers\[[^\]]+\]|auth\.claims(\[[^\]]+\])+)$/;

function conditionMatches(
  c: Condition,
  headers: Readonly<Record<string, string>>,
  claims: Readonly<Record<string, unknown>> | undefined,
): boolean {
  const header = /^request\.headers\[([^\]]+)\]$/.exec(c.key);
  if (header) return field(headers[header[1]!.toLowerCase()], c.values, c.notValues);
  // request.auth.claims[a][b]: the member b of the object claim a.
  let claim: unknown = claims;
  for (const [, name] of c.key.matchAll(/\[([^\]]+)\]/g))
    claim =
      claim !== null && typeof claim === 'object' && !Array.isArray(claim)
        ? (claim as Record<string, unknown>)[name!]
        : undefined;
  const strings =
    typeof claim === 'string'
      ? [claim]
      : Array.isArray(claim)
        ? claim.filter((v): v is string => typeof v === 'string')
        : [];
  const present = strings.length > 0;
  if (c.values && !(present && strings.some((v) => matchesAny(c.values!, v)))) return false;
  if (c.notValues && present && strings.some((v) => matchesAny(c.notValues!, v))) return false;
  return true;
}
