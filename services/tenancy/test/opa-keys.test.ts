/**
 * In the cluster OPA gets the realm keys itself (http.send, cached a minute) instead of as
 * data. The real OPA server, a stand-in JWKS endpoint: the token is judged the same way, and
 * a Keycloak that is down means every token is refused (fail closed).
 */
import { corpusPolicyData, envoyInput } from '../../../testing/support/corpus.js';
import { json, startStub } from '../../../testing/support/http.js';
import type { StubServer } from '../../../testing/support/http.js';
import type { OpaServer } from '../../../testing/real/opa.js';
import { startOpa } from '../../../testing/real/opa.js';
import type { TestKeys } from '../../../testing/support/tokens.js';
import { generateTestKeys, makeToken } from '../../../testing/support/tokens.js';
import { TenancyPolicy } from '../src/policy.js';

let keys: TestKeys;
let stub: StubServer;
let opa: OpaServer;

beforeAll(async () => {
  keys = await generateTestKeys();
  stub = await startStub(json(200, { keys: [] }));
  stub.handle(json(200, keys.jwks));
  // No data.kitt4sme.keys: the policy must fetch the keys from jwks_uri.
  opa = await startOpa({
    kitt4sme: { config: { ...corpusPolicyData(), jwks_uri: `${stub.url}/certs` } },
  });
});
afterAll(async () => {
  await opa?.stop();
  await stub?.close();
});

const decide = async (recipe = {}) =>
  (await opa.query(
    'kitt4sme/authz/decision',
    envoyInput('GET', '/orion/v2/entities', {
      authorization: `Bearer ${await makeToken(keys, corpusPolicyData().issuer, recipe)}`,
      'fiware-service': 'manufracture',
    }),
  )) as { allowed: boolean; http_status?: number; headers?: Record<string, string> };

describe('OPA with the realm keys from Keycloak', () => {
  it('allows a valid token, having fetched the keys itself', async () => {
    expect(await decide()).toMatchObject({ allowed: true });
    expect(stub.requests.filter((r) => r.path === '/certs').length).toBeGreaterThanOrEqual(1);
  });

  it('caches the keys instead of fetching them per request', async () => {
    const before = stub.requests.length;
    for (let i = 0; i < 10; i++) await decide();
    expect(stub.requests.length - before).toBeLessThanOrEqual(1);
  });

  it('still refuses a forged token', async () => {
    expect(await decide({ key: 'evil-rsa', kid: 'realm-rsa-1' })).toMatchObject({
      allowed: false,
      http_status: 401,
      headers: expect.objectContaining({ 'x-kitt4sme-deny-reason': 'invalid token signature' }),
    });
  });

  it('refuses every token with 503 when Keycloak cannot be reached', async () => {
    const down = await startOpa({
      kitt4sme: { config: { ...corpusPolicyData(), jwks_uri: 'http://127.0.0.1:9/certs' } },
    });
    try {
      const d = (await down.query(
        'kitt4sme/authz/decision',
        envoyInput('GET', '/orion/v2/entities', {
          authorization: `Bearer ${await makeToken(keys, corpusPolicyData().issuer, {})}`,
          'fiware-service': 'manufracture',
        }),
      )) as { allowed: boolean; http_status: number; headers: Record<string, string> };
      expect(d).toMatchObject({ allowed: false, http_status: 503 });
      expect(d.headers['x-kitt4sme-deny-reason']).toBe("the realm's signing keys are unavailable");
      expect(d.headers['retry-after']).toBe('10');
    } finally {
      await down.stop();
    }
  });

  it('is matched by the wasm in-process when its keys are unavailable, request by request', async () => {
    const config = { ...corpusPolicyData(), jwks_uri: 'http://127.0.0.1:9/certs' };
    const down = await startOpa({ kitt4sme: { config } });
    const wasm = await TenancyPolicy.load({ config });
    const issuer = config.issuer;
    const requests: Record<string, string>[] = [
      { authorization: `Bearer ${await makeToken(keys, issuer, {})}` },
      { authorization: `Bearer ${await makeToken(keys, issuer, { key: 'ec' })}` },
      { authorization: `Bearer ${await makeToken(keys, issuer, { expIn: -600 })}` },
      { authorization: `Bearer ${await makeToken(keys, issuer, { alg: 'none' })}` },
      { authorization: 'Bearer a.b.c' },
      {},
    ];
    try {
      for (const headers of requests) {
        const input = envoyInput('GET', '/orion/v2/entities', {
          ...headers,
          'fiware-service': 'manufracture',
        });
        const server = await down.query('kitt4sme/authz/decision', input);
        expect(await wasm.decide(input, undefined)).toEqual(server);
      }
      // The one that only the keys could judge is a 503; the malformed ones keep their reason.
      const valid = envoyInput('GET', '/orion/v2/entities', {
        ...requests[0],
        'fiware-service': 'manufracture',
      });
      expect((await wasm.decide(valid, undefined)).http_status).toBe(503);
      const malformed = envoyInput('GET', '/orion/v2/entities', {
        ...requests[4],
        'fiware-service': 'manufracture',
      });
      expect((await wasm.decide(malformed, undefined)).http_status).toBe(401);
    } finally {
      await down.stop();
    }
  });
});
