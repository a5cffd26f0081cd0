/**
 * Test support: the policy corpus (policies/cases/*.json), turned into concrete OPA inputs.
 *
 * One corpus drives `opa test`, the parity test between the OPA server and the in-process
 * wasm, and the benchmark. A case names a request and a token recipe; materializing signs the
 * token with keys generated for the run and builds the CheckRequest the OPA-Envoy plugin
 * would hand OPA.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { platform } from '../../platform/config/platform.js';
import type { PlatformConfigInput } from '../../platform/config/schema.js';
import type { ApiKeyData, PolicyData } from '../../platform/policy-data.js';
import { apiKeyData, policyData } from '../../platform/policy-data.js';
import type { TestKeys, TokenRecipe } from './tokens.js';
import { makeToken } from './tokens.js';
import { loadPlatformContext } from '../../platform/context.js';

export const CASES_DIR = fileURLToPath(new URL('../../policies/cases', import.meta.url));

/** A request of a case; header values of null remove a default header. */
export interface RequestSpec {
  readonly method?: string;
  readonly path: string;
  /** Append this many `a` characters to the path (an oversized path). @default none */
  readonly padPath?: number;
  readonly headers?: Readonly<Record<string, string | null>>;
}

/** What a case expects. */
export interface Expectation {
  readonly allowed: boolean;
  /** The HTTP status of a deny. */
  readonly status?: number;
  /** The deny reason (the first, in sort order). */
  readonly reason?: string;
}

/** One case of the corpus. */
export interface CaseSpec {
  readonly name: string;
  readonly request: RequestSpec;
  /** A token to send as `Authorization: Bearer <token>`. @default no Authorization header */
  readonly token?: TokenRecipe;
  /** A raw Authorization header instead; `{token}` stands for the recipe's token. */
  readonly authorization?: string;
  readonly expect: Expectation;
}

/** One file of the corpus. */
export interface CorpusFile {
  readonly description: string;
  /** Defaults merged into every case's request. */
  readonly defaults?: { readonly request?: Partial<RequestSpec> };
  readonly cases: readonly CaseSpec[];
}

/** A case made concrete. */
export interface MaterializedCase {
  /** `<file>: <case name>`. */
  readonly name: string;
  readonly input: Record<string, unknown>;
  readonly expect: Expectation;
}

/** The host the corpus' requests are addressed to. */
export const CORPUS_HOST = 'kitt4sme.localhost';

/**
 * The platform config the corpus runs against: the repository's, plus a tenant whose service
 * paths are limited, so the corpus can exercise the limits.
 */
export function corpusPlatformConfig(): PlatformConfigInput {
  const c = structuredClone(platform) as PlatformConfigInput;
  c.tenants = [...c.tenants, { name: 'limited', servicePaths: ['/floor1', '/lab'] }];
  return c;
}

/** The policy data the corpus runs against. */
export function corpusPolicyData(): PolicyData {
  return policyData(loadPlatformContext({ config: corpusPlatformConfig() }));
}

/**
 * The API keys the corpus runs against: manufracture's and smithereens' on both device routes
 * (the keys the cases send).
 */
export const CORPUS_API_KEYS = [
  { route: '/iota-south', key: '3z4w', tenant: 'manufracture' },
  { route: '/iota-json-south', key: 'mnf-json-k3y', tenant: 'manufracture' },
  { route: '/iota-south', key: 'smt-ul-k3y', tenant: 'smithereens' },
  { route: '/iota-json-south', key: 'smt-json-k3y', tenant: 'smithereens' },
  { route: '/iota-south', key: 'limited-k3y', tenant: 'limited' },
] as const;

/** The API-key data document (`data.kitt4sme.apikeys`) of the corpus. */
export function corpusApiKeys(): ApiKeyData {
  return apiKeyData(CORPUS_API_KEYS);
}

/** Every case of every corpus file, in file and case order. */
export function loadCorpus(dir: string = CASES_DIR): { file: string; spec: CaseSpec }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((file) => {
      const doc = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CorpusFile;
      return doc.cases.map((c) => ({
        file,
        spec: {
          ...c,
          request: {
            ...doc.defaults?.request,
            ...c.request,
            headers: { ...doc.defaults?.request?.headers, ...c.request?.headers },
          },
        },
      }));
    });
}

/** The CheckRequest the OPA-Envoy plugin builds for a request (header names lower-cased). */
export function envoyInput(
  method: string,
  path: string,
  headers: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const [pathOnly, query = ''] = path.split('?', 2) as [string, string?];
  const parsedQuery: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(query)) (parsedQuery[k] ??= []).push(v);
  return {
    attributes: {
      request: {
        http: {
          id: '13359530607844510314',
          method,
          path,
          host: CORPUS_HOST,
          scheme: 'https',
          protocol: 'HTTP/1.1',
          headers: {
            ':authority': CORPUS_HOST,
            ':method': method,
            ':path': path,
            'x-request-id': '1455bbb0-0623-4810-a2c6-df73ffd8863a',
            ...lower,
          },
        },
      },
    },
    parsed_path: pathOnly.split('/').filter((s) => s !== ''),
    parsed_query: parsedQuery,
  };
}

/** Signs the case's token and builds its input. */
export async function materialize(
  file: string,
  spec: CaseSpec,
  keys: TestKeys,
  issuer: string,
): Promise<MaterializedCase> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.request.headers ?? {})) if (v !== null) headers[k] = v;
  const token =
    spec.token || spec.authorization?.includes('{token}')
      ? await makeToken(keys, issuer, spec.token)
      : undefined;
  if (spec.authorization !== undefined)
    headers.authorization = spec.authorization.replaceAll('{token}', token ?? '');
  else if (token) headers.authorization = `Bearer ${token}`;
  return {
    name: `${file.replace(/\.json$/, '')}: ${spec.name}`,
    input: envoyInput(
      spec.request.method ?? 'GET',
      spec.request.path + 'a'.repeat(spec.request.padPath ?? 0),
      headers,
    ),
    expect: spec.expect,
  };
}

/** The whole corpus, materialized with `keys`. */
export async function materializeCorpus(
  keys: TestKeys,
  dir: string = CASES_DIR,
): Promise<MaterializedCase[]> {
  const issuer = corpusPolicyData().issuer;
  return Promise.all(
    loadCorpus(dir).map(({ file, spec }) => materialize(file, spec, keys, issuer)),
  );
}
