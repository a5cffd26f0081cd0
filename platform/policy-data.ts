/**
 * The policy OPA runs: the Rego files of policies/ plus a data document generated from the
 * route table and the platform config.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

import { PLATFORM_ROLES, ROLES, TENANT_ROLES } from './roles.js';
import type { Role } from './roles.js';
import {
  API_AUDIENCES,
  API_KEY_FORMAT,
  CLOCK_SKEW_SECONDS,
  MAX_TOKEN_LENGTH,
  TENANT_HEADER,
  TOKEN_ALGORITHMS,
  TOKEN_CLAIMS,
} from './tenancy.js';
import type { PlatformContext } from './context.js';
import { exactPublicPaths } from './routes.js';
import type { AgentPolicyData } from './fleet/rights.js';
import { agentPolicyData } from './fleet/rights.js';

/** One file of the bundle, by its path relative to the bundle root (`kitt4sme/authz.rego`). */
export interface PolicyFile {
  readonly path: string;
  readonly content: string;
}

/** Where, under OPA's `data`, the generated configuration lives: `data.kitt4sme.config`. */
export const POLICY_DATA_PATH = 'kitt4sme/config/data.json';

/**
 * Where the API-key digests live: `data.kitt4sme.apikeys`, the root of the bundle the
 * provisioning service serves (see {@link ApiKeyData}).
 */
export const API_KEYS_ROOT = 'kitt4sme/apikeys';

/**
 * Where the provisioning service serves the API-key bundle, on its own port and outside its
 * API prefix (the ingress never routes it; the mesh admits only OPA).
 */
export const API_KEYS_BUNDLE_PATH = '/bundles/apikeys.tar.gz';

/** How often the gateway's OPA polls the bundle (OPA's bundle polling, in seconds). */
export const API_KEYS_POLL_SECONDS = { min: 2, max: 5 } as const;

/**
 * The `opa run` flags that make OPA poll the API-key bundle from the provisioning service at
 * `serviceUrl`: the same for the cluster's OPA and the tests' real one.
 */
export function apiKeyBundleFlags(serviceUrl: string): string[] {
  return [
    `--set=services.provisioning.url=${serviceUrl}`,
    '--set=bundles.apikeys.service=provisioning',
    `--set=bundles.apikeys.resource=${API_KEYS_BUNDLE_PATH.slice(1)}`,
    `--set=bundles.apikeys.polling.min_delay_seconds=${API_KEYS_POLL_SECONDS.min}`,
    `--set=bundles.apikeys.polling.max_delay_seconds=${API_KEYS_POLL_SECONDS.max}`,
  ];
}

/** How old the provisioning service lets its view of the agents' groups get, in ms. */
export const API_KEYS_MAX_AGE_MS = 2000;

/**
 * The freshness bound: a group's key works (or, deleted, is refused) at the gateway within
 * this many seconds of the write: the poll interval plus the service's cache, with room for
 * the read itself. A test holds the real OPA to it.
 */
export const API_KEYS_FRESHNESS_SECONDS = 10;

/**
 * The device API keys of every tenant, as the policy reads them: by the route devices send to,
 * the SHA-256 (lower-case hex) of each key → the tenant whose service group holds it. Never a
 * key itself.
 */
export interface ApiKeyData {
  readonly version: 1;
  /** A digest of the content, which changes when any key or tenant does. */
  readonly revision: string;
  readonly routes: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** The digest of an API key the policy compares: SHA-256, lower-case hex (Rego's crypto.sha256). */
export function apiKeyDigest(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** One API key of a tenant, on the route its devices send to. */
export interface TenantApiKey {
  /** The route prefix, e.g. `/iota-south`. */
  readonly route: string;
  readonly key: string;
  readonly tenant: string;
}

/**
 * The key data for a set of keys, with a revision that depends on the content only (so two
 * replicas that see the same keys serve the same revision and ETag). A key held by two
 * tenants on one route is left out: the agent keeps (resource, key) unique, so that is a
 * registry being changed under us, and neither tenant gets it until it settles.
 */
export function apiKeyData(keys: Iterable<TenantApiKey>): ApiKeyData {
  const routes: Record<string, Record<string, string>> = {};
  const clashes = new Set<string>();
  for (const { route, key, tenant } of keys) {
    const digest = apiKeyDigest(key);
    const byDigest = (routes[route] ??= {});
    const held = byDigest[digest];
    if (held !== undefined && held !== tenant) clashes.add(`${route} ${digest}`);
    byDigest[digest] = tenant;
  }
  for (const clash of clashes) {
    const [route, digest] = clash.split(' ') as [string, string];
    delete routes[route]![digest];
  }
  const sorted = Object.fromEntries(
    Object.keys(routes)
      .sort()
      .map((route) => [
        route,
        Object.fromEntries(
          Object.entries(routes[route]!).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        ),
      ]),
  );
  const revision = createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
  return { version: 1, revision, routes: sorted };
}

/** The Envoy plugin's decision path: `data.kitt4sme.authz.decision`. */
export const DECISION_PATH = 'kitt4sme/authz/decision';

/**
 * Reads the Rego sources of a policies directory: every `.rego` file except tests
 * (`*_test.rego`), sorted, with `/` separators whatever the OS.
 */
export function readPolicyFiles(dir: string): PolicyFile[] {
  const out: PolicyFile[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.rego') && !entry.name.endsWith('_test.rego')) {
        out.push({
          path: relative(dir, full).split(sep).join('/'),
          content: readFileSync(full, 'utf8'),
        });
      }
    }
  };
  walk(dir);
  if (out.length === 0) throw new TypeError(`no Rego policy found under ${dir}`);
  return out;
}

/** The data document OPA evaluates the policy with; its schema is in policies/README.md. */
export interface PolicyData {
  readonly version: 1;
  readonly issuer: string;
  readonly jwks_uri: string;
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  readonly claims: { readonly tenants: string; readonly roles: string };
  readonly tenant_header: string;
  readonly clock_skew_seconds: number;
  readonly max_token_length: number;
  readonly tenants: readonly string[];
  readonly service_paths: Readonly<Record<string, readonly string[]>>;
  readonly roles: readonly string[];
  /** Roles a token names bare; every other role holds only as `<tenant>:<role>`. */
  readonly platform_roles: readonly string[];
  readonly tenant_roles: readonly string[];
  /** What a device API key is made of (platform/tenancy.ts `API_KEY_FORMAT`). */
  readonly api_key: {
    readonly chars: string;
    readonly min_length: number;
    readonly max_length: number;
  };
  readonly public_paths: readonly string[];
  /** The routes and their sub-routes; a request takes the longest prefix it is under. */
  readonly routes: readonly PolicyRoute[];
  /** Agents: the shape of their client ids, their needs' rights and their heartbeat. */
  readonly agents: AgentPolicyData;
}

/** A route as the policy sees it. */
export interface PolicyRoute {
  readonly prefix: string;
  readonly rights: Readonly<Record<string, readonly string[]>>;
  /** The query parameter of a device API key, on routes devices send to. */
  readonly api_key_param?: string;
  /** What to do instead, appended to a role deny. */
  readonly hint?: string;
}

/** The rights of the roles that have any, in role order. */
function rightsOf(
  rights: Readonly<Partial<Record<Role, readonly string[]>>>,
): Record<string, string[]> {
  return Object.fromEntries(
    ROLES.filter((role) => rights[role]?.length).map((role) => [role, [...(rights[role] ?? [])]]),
  );
}

/** Generates the data document from the route table and the config. */
export function policyData(ctx: PlatformContext): PolicyData {
  return {
    version: 1,
    issuer: ctx.issuer,
    jwks_uri: ctx.jwksUri,
    audiences: [...API_AUDIENCES],
    algorithms: [...TOKEN_ALGORITHMS],
    claims: { ...TOKEN_CLAIMS },
    tenant_header: TENANT_HEADER,
    clock_skew_seconds: CLOCK_SKEW_SECONDS,
    max_token_length: MAX_TOKEN_LENGTH,
    tenants: ctx.config.tenants.map((t) => t.name),
    service_paths: Object.fromEntries(
      ctx.config.tenants
        .filter((t) => t.servicePaths)
        .map((t) => [t.name, [...(t.servicePaths ?? [])]]),
    ),
    roles: [...ROLES],
    platform_roles: [...PLATFORM_ROLES],
    tenant_roles: [...TENANT_ROLES],
    api_key: {
      chars: API_KEY_FORMAT.chars,
      min_length: API_KEY_FORMAT.minLength,
      max_length: API_KEY_FORMAT.maxLength,
    },
    public_paths: exactPublicPaths(ctx.routes),
    routes: ctx.routes
      .filter((r) => r.access === 'tenant')
      .flatMap((r): PolicyRoute[] => [
        {
          prefix: r.prefix,
          rights: rightsOf(r.rights),
          ...(r.apiKeyParam ? { api_key_param: r.apiKeyParam } : {}),
        },
        ...(r.subRoutes ?? []).map((sub) => ({
          prefix: `${r.prefix}${sub.path}`,
          rights: rightsOf(sub.rights),
          hint: sub.hint,
        })),
      ]),
    agents: agentPolicyData(ctx),
  };
}

/**
 * The whole `data` document for `opa eval` by hand: the generated configuration under
 * `kitt4sme.config`. Without `kitt4sme.keys` the policy would fetch the realm keys from
 * `jwks_uri`, so the example only decides requests that need no signature check.
 */
export function policyExampleData(ctx: PlatformContext): { kitt4sme: { config: PolicyData } } {
  return { kitt4sme: { config: policyData(ctx) } };
}

/**
 * The policy data document in the file a service's POLICY_DATA_FILE names: the document
 * `npm run synth` generates, or the whole `data` tree that wraps it under `kitt4sme.config`
 * (as policies/examples/data.json does, see {@link policyExampleData}), unwrapped.
 *
 * @throws what `fail` makes of `POLICY_DATA_FILE <path> is not a readable JSON file (<why>)`
 *   and the error of the read or the parse.
 */
export function readPolicyDataFile(
  path: string,
  fail: (message: string, cause: unknown) => Error,
): unknown {
  try {
    const doc: unknown = JSON.parse(readFileSync(path, 'utf8'));
    const wrapped = (doc as { kitt4sme?: { config?: unknown } } | null)?.kitt4sme?.config;
    return wrapped !== undefined ? wrapped : doc;
  } catch (err) {
    throw fail(
      `POLICY_DATA_FILE ${path} is not a readable JSON file (${(err as Error).message})`,
      err,
    );
  }
}
