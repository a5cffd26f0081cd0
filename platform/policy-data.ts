/**
 * The policy OPA runs: the Rego files of policies/ plus a data document generated from the
 * route table and the platform config.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

import { ROLES } from './roles.js';
import {
  API_AUDIENCES,
  CLOCK_SKEW_SECONDS,
  MAX_TOKEN_LENGTH,
  TENANT_HEADER,
  TOKEN_ALGORITHMS,
  TOKEN_CLAIMS,
} from './tenancy.js';
import type { PlatformContext } from './context.js';
import { exactPublicPaths } from './routes.js';

/** One file of the bundle, by its path relative to the bundle root (`kitt4sme/authz.rego`). */
export interface PolicyFile {
  readonly path: string;
  readonly content: string;
}

/** Where, under OPA's `data`, the generated configuration lives: `data.kitt4sme.config`. */
export const POLICY_DATA_PATH = 'kitt4sme/config/data.json';

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
  readonly public_paths: readonly string[];
  readonly routes: readonly {
    readonly prefix: string;
    readonly rights: Readonly<Record<string, readonly string[]>>;
  }[];
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
    public_paths: exactPublicPaths(ctx.routes),
    routes: ctx.routes
      .filter((r) => r.access === 'tenant')
      .map((r) => ({
        prefix: r.prefix,
        rights: Object.fromEntries(
          ROLES.filter((role) => r.rights[role]?.length).map((role) => [
            role,
            [...(r.rights[role] ?? [])],
          ]),
        ),
      })),
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
