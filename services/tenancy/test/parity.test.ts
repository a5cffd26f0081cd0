/**
 * One corpus, two engines: every case of policies/cases/*.json decided by the real OPA server
 * over HTTP (Go builtins) and by the committed wasm in-process (jose-verified signatures) must
 * give the same decision, and the one the case expects.
 */
import type { MaterializedCase } from '../../../testing/support/corpus.js';
import {
  corpusApiKeys,
  corpusPolicyData,
  envoyInput,
  loadCorpus,
  materializeCorpus,
} from '../../../testing/support/corpus.js';
import { MAX_TOKEN_LENGTH } from '../../../platform/tenancy.js';
import type { OpaServer } from '../../../testing/real/opa.js';
import { startOpa } from '../../../testing/real/opa.js';
import type { TestKeys } from '../../../testing/support/tokens.js';
import { generateTestKeys } from '../../../testing/support/tokens.js';
import type { Decision } from '../src/policy.js';
import { TenancyPolicy } from '../src/policy.js';

/** A decision with its problem body parsed, so key order and JSON escaping do not matter. */
const semantic = (d: Decision | undefined) =>
  d ? { ...d, body: d.body ? JSON.parse(d.body) : undefined } : d;

let keys: TestKeys;
let cases: MaterializedCase[];
let opa: OpaServer;
let wasm: TenancyPolicy;
const server = new Map<string, Decision>();

beforeAll(async () => {
  keys = await generateTestKeys();
  cases = await materializeCorpus(keys);
  const config = corpusPolicyData();
  opa = await startOpa({ kitt4sme: { config, keys: keys.jwks, apikeys: corpusApiKeys() } });
  wasm = await TenancyPolicy.load({ config });
  wasm.setApiKeys(corpusApiKeys());
  for (const c of cases) {
    server.set(c.name, (await opa.query('kitt4sme/authz/decision', c.input)) as Decision);
  }
});

/**
 * The in-process decision of a case, made in the test itself (not in beforeAll), so that
 * mutation testing judges the policy code by the tests that run it rather than by every test.
 */
const inProcess = (c: MaterializedCase) => wasm.decide(c.input, keys.jwks);
afterAll(async () => opa?.stop());

describe('the policy corpus', () => {
  it('has at least 80 cases with distinct names', () => {
    const names = loadCorpus().map(({ file, spec }) => `${file}: ${spec.name}`);
    expect(names.length).toBeGreaterThanOrEqual(80);
    expect(new Set(names).size).toBe(names.length);
  });

  it('covers allows and denies of every status', () => {
    const statuses = new Set(
      loadCorpus().map(({ spec }) => (spec.expect.allowed ? 200 : spec.expect.status)),
    );
    expect([...statuses].sort()).toEqual([200, 400, 401, 403]);
  });
});

const caseNames = loadCorpus().map(
  ({ file, spec }) => `${file.replace(/\.json$/, '')}: ${spec.name}`,
);

describe('every case, decided by the OPA server and by the wasm', () => {
  it.each(caseNames)('%s', async (name) => {
    const c = cases.find((x) => x.name === name)!;
    const fromServer = server.get(name)!;
    const fromWasm = await inProcess(c);
    // The same decision, status, headers and problem body from both engines...
    expect(sortKeys(semantic(fromWasm))).toEqual(sortKeys(semantic(fromServer)));
    // ...and the one the case expects.
    expect(fromServer.allowed).toBe(c.expect.allowed);
    if (c.expect.status !== undefined) expect(fromServer.http_status).toBe(c.expect.status);
    if (c.expect.reason !== undefined)
      expect(fromServer.headers?.['x-kitt4sme-deny-reason']).toBe(c.expect.reason);
  });
});

/**
 * Authorization headers at the edges of the host's stand-in for tokens the wasm would decode
 * differently from OPA (policy.ts, withDecodableToken): each is decided by both engines here,
 * as the corpus' cases are.
 */
describe('tokens that do not decode, at the edges of the stand-in', () => {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
  const header = b64('{"alg":"RS256","kid":"realm-rsa-1"}');
  const undecodable = (length: number) => `${'a'.repeat(length - 8)}.bbb.ccc`;
  const edges: [string, string][] = [
    ['junk after an undecodable token', 'Bearer aaa.bbb.ccc x'],
    ['a comma inside an undecodable token', 'Bearer aaa,x.bbb.ccc'],
    ['padding after an undecodable token', 'Bearer aaa.bbb.ccc='],
    ['another scheme with three segments', 'Basic aaa.bbb.ccc'],
    ['two segments', 'Bearer aaa.bbb'],
    ['an empty header segment', 'Bearer .bbb.ccc'],
    ['an empty claims segment', 'Bearer aaa..ccc'],
    ['a header with trailing bytes', `Bearer ${b64('{"alg":"RS256"}x')}.${b64('{}')}.c2ln`],
    [
      'claims of invalid UTF-8',
      `Bearer ${header}.${Buffer.from([0xff, 0xfe]).toString('base64url')}.c2ln`,
    ],
    ['an undecodable token of the longest length', `Bearer ${undecodable(MAX_TOKEN_LENGTH)}`],
    ['an undecodable token one over the longest', `Bearer ${undecodable(MAX_TOKEN_LENGTH + 1)}`],
    ['an undecodable token just under the longest', `Bearer ${undecodable(MAX_TOKEN_LENGTH - 20)}`],
    ['a short undecodable token', 'Bearer a.b.c'],
  ];

  it.each(edges)('%s', async (_what, authorization) => {
    const input = envoyInput('GET', '/orion/v2/entities', {
      'fiware-service': 'manufracture',
      authorization,
    });
    const fromServer = (await opa.query('kitt4sme/authz/decision', input)) as Decision;
    expect(fromServer.allowed).toBe(false);
    expect(sortKeys(semantic(await wasm.decide(input, keys.jwks)))).toEqual(
      sortKeys(semantic(fromServer)),
    );
  });
});

describe('parity', () => {
  it('compares more than the verdict: statuses, headers and problem bodies', async () => {
    const denied = cases.find((c) => !c.expect.allowed)!;
    const d = semantic(await inProcess(denied))!;
    expect(d).toEqual({
      allowed: false,
      http_status: expect.any(Number),
      headers: expect.objectContaining({
        'content-type': 'application/problem+json',
        'x-kitt4sme-deny-reason': expect.any(String),
      }),
      body: expect.objectContaining({
        status: d.http_status,
        detail: d.headers!['x-kitt4sme-deny-reason'],
      }),
    });
  });

  it('never puts a token into a decision', async () => {
    for (const c of cases) {
      const auth = (c.input as any).attributes.request.http.headers.authorization as
        string | undefined;
      const token = auth?.split(' ')[1];
      if (!token || token.length < 20) continue;
      expect(JSON.stringify(server.get(c.name))).not.toContain(token);
      expect(JSON.stringify(await inProcess(c))).not.toContain(token);
    }
  });
});

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}
