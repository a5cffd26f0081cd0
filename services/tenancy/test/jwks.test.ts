import { json, startStub } from '../../../testing/support/http.js';
import type { StubServer } from '../../../testing/support/http.js';
import { generateTestKeys } from '../../../testing/support/tokens.js';
import type { TestKeys } from '../../../testing/support/tokens.js';
import { JwksUnavailableError } from '../src/errors.js';
import { JwksCache } from '../src/jwks.js';

let keys: TestKeys;
let stub: StubServer;
let now = 0;
const clock = () => now;

beforeAll(async () => {
  keys = await generateTestKeys();
  stub = await startStub(json(200, { keys: [] }));
});
afterAll(() => stub.close());
beforeEach(() => {
  now = 1_000_000;
  stub.handle(json(200, keys.jwks));
  stub.requests.length = 0;
});

const cache = (over: Partial<ConstructorParameters<typeof JwksCache>[0]> = {}) =>
  new JwksCache({
    url: `${stub.url}/certs`,
    now: clock,
    maxAgeMs: 300_000,
    minRefreshIntervalMs: 30_000,
    ...over,
  });

describe('JwksCache', () => {
  it('fetches the keys once and serves them from the cache', async () => {
    const c = cache();
    expect((await c.keys()).keys.map((k) => k.kid)).toEqual([
      'realm-rsa-1',
      'realm-ec-1',
      'realm-rsa-2',
    ]);
    await c.keys('realm-rsa-1');
    await c.keys();
    expect(stub.requests).toEqual([{ method: 'GET', path: '/certs' }]);
  });

  it('re-fetches when the keys are older than the maximum age', async () => {
    const c = cache();
    await c.keys();
    now += 300_000;
    await c.keys();
    expect(stub.requests).toHaveLength(2);
  });

  it('refreshes on an unknown kid, so a rotated-in key is found', async () => {
    const c = cache();
    stub.handle(json(200, { keys: keys.jwks.keys.slice(0, 1) }));
    await c.keys();
    stub.handle(json(200, keys.jwks));
    now += 31_000;
    const set = await c.keys('realm-rsa-2');
    expect(set.keys.some((k) => k.kid === 'realm-rsa-2')).toBe(true);
    expect(stub.requests).toHaveLength(2);
  });

  it('refreshes for unknown kids at most once per interval', async () => {
    const c = cache();
    await c.keys();
    now += 31_000;
    for (let i = 0; i < 20; i++) await c.keys(`random-kid-${i}`);
    expect(stub.requests).toHaveLength(2);
    now += 31_000;
    await c.keys('another-random-kid');
    expect(stub.requests).toHaveLength(3);
  });

  it('shares one fetch between concurrent callers', async () => {
    const c = cache();
    await Promise.all(Array.from({ length: 10 }, () => c.keys()));
    expect(stub.requests).toHaveLength(1);
  });

  it('fails closed when Keycloak cannot be reached and there are no keys', async () => {
    const c = cache({ url: 'http://127.0.0.1:9/certs', timeoutMs: 500 });
    await expect(c.keys()).rejects.toThrow(JwksUnavailableError);
    await expect(c.keys()).rejects.toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE' });
  });

  it('keeps serving fresh keys when a refresh for an unknown kid fails', async () => {
    const c = cache();
    await c.keys();
    stub.handle(json(503, { error: 'down' }));
    now += 31_000;
    expect((await c.keys('unknown')).keys).toHaveLength(3);
  });

  it('fails closed once the cached keys are too old and Keycloak is down', async () => {
    const c = cache();
    await c.keys();
    stub.handle(json(503, { error: 'down' }));
    now += 300_000;
    await expect(c.keys()).rejects.toThrow(/answered 503/);
  });

  it('does not ask a Keycloak that is down again for every request, and recovers', async () => {
    const c = cache({ retryAfterFailureMs: 5_000 });
    await c.keys();
    stub.handle(json(503, { error: 'down' }));
    now += 300_000;
    const before = stub.requests.length;
    for (let i = 0; i < 50; i++) await expect(c.keys()).rejects.toThrow(/answered 503/);
    expect(stub.requests.length - before).toBe(1);
    // Unknown kids do not get around the back-off either.
    await expect(c.keys('random-kid')).rejects.toThrow(JwksUnavailableError);
    expect(stub.requests.length - before).toBe(1);
    stub.handle(json(200, keys.jwks));
    now += 5_000;
    expect((await c.keys()).keys).toHaveLength(3);
    expect(stub.requests.length - before).toBe(2);
  });

  it.each([
    ['an error status', json(500, {})],
    ['a body that is not JSON', (_req: unknown, res: any) => res.end('<html>')],
    ['JSON that is not a JWKS', json(200, { keys: 'nope' })],
    ['keys without kty', json(200, { keys: [{ kid: 'x' }] })],
  ])('refuses %s', async (_what, handler) => {
    stub.handle(handler as never);
    await expect(cache().keys()).rejects.toThrow(JwksUnavailableError);
  });

  it('a known kid, any of the keys, never triggers a refresh, nor does a request without kid', async () => {
    const c = cache();
    await c.keys();
    now += 31_000;
    await c.keys('realm-ec-1');
    await c.keys('realm-rsa-2');
    await c.keys();
    expect(stub.requests).toHaveLength(1);
    expect(c.fetches).toBe(1);
  });

  it('trusts no key as old as the maximum age: with 0, it fails closed', async () => {
    const err = await cache({ maxAgeMs: 0 })
      .keys()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JwksUnavailableError);
    expect((err as Error).message).toMatch(/no keys fetched yet, or the last ones are too old/);
    expect((err as Error).name).toBe('JwksUnavailableError');
  });

  it('has defaults, each a boundary: keys trusted 5 minutes, unknown kids at most every 30 s, 5 s of back-off', async () => {
    const c = new JwksCache({ url: `${stub.url}/certs`, now: clock });
    await c.keys();
    now += 29_999;
    await c.keys('unknown');
    expect(c.fetches).toBe(1);
    now += 1;
    await c.keys('unknown');
    expect(c.fetches).toBe(2);
    now += 299_999;
    await c.keys();
    expect(c.fetches).toBe(2);
    now += 1;
    await c.keys();
    expect(c.fetches).toBe(3);
    stub.handle(json(503, {}));
    now += 300_000;
    await expect(c.keys()).rejects.toThrow(JwksUnavailableError);
    now += 4_999;
    await expect(c.keys()).rejects.toThrow(JwksUnavailableError);
    expect(c.fetches).toBe(4);
    now += 1;
    await expect(c.keys()).rejects.toThrow(JwksUnavailableError);
    expect(c.fetches).toBe(5);
  });

  it('takes its options instead of the defaults', async () => {
    const c = cache({ maxAgeMs: 1_000, minRefreshIntervalMs: 100, retryAfterFailureMs: 50 });
    await c.keys();
    now += 100;
    await c.keys('unknown');
    expect(c.fetches).toBe(2);
    now += 1_000;
    stub.handle(json(503, {}));
    await expect(c.keys()).rejects.toThrow(JwksUnavailableError);
    now += 50;
    await expect(c.keys()).rejects.toThrow(JwksUnavailableError);
    expect(c.fetches).toBe(4);
  });

  it('asks for JSON, with a timeout', async () => {
    const seen: RequestInit[] = [];
    const c = cache({
      fetch: (async (url: string, init: RequestInit) => {
        seen.push(init);
        return fetch(url, init);
      }) as typeof fetch,
    });
    await c.keys();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers).toEqual({ accept: 'application/json' });
    expect(seen[0]!.signal).toBeInstanceOf(AbortSignal);
  });

  it.each([
    ['an error status', json(500, {}), /\/certs answered 500$/, false],
    [
      'a body that is not JSON',
      (_req: unknown, res: any) => res.end('<html>'),
      /\/certs did not answer JSON$/,
      true,
    ],
    ['JSON null', json(200, null), /\/certs did not answer a JWKS$/, false],
    ['keys that are not a list', json(200, { keys: 'nope' }), /did not answer a JWKS$/, false],
    ['a null key', json(200, { keys: [null] }), /did not answer a JWKS$/, false],
    [
      'one key without kty among good ones',
      json(200, { keys: [{ kty: 'RSA' }, { kid: 'x' }] }),
      /did not answer a JWKS$/,
      false,
    ],
  ])('says why it refuses %s', async (_what, handler, message, hasCause) => {
    stub.handle(handler as never);
    const err = (await cache()
      .keys()
      .catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(JwksUnavailableError);
    expect(err.message).toMatch(message);
    expect(err.cause !== undefined).toBe(hasCause);
  });

  it('says which Keycloak it cannot reach, and why', async () => {
    const err = (await cache({ url: 'http://127.0.0.1:9/certs', timeoutMs: 500 })
      .keys()
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/: cannot reach http:\/\/127\.0\.0\.1:9\/certs \(.+\)$/);
    expect((err.cause as Error).message).toBe('fetch failed');
  });

  it('turns an unexpected failure into unavailable keys, keeping the cause', async () => {
    const boom = new Error('boom');
    const c = cache({
      fetch: (async () => ({
        get ok(): boolean {
          throw boom;
        },
      })) as unknown as typeof fetch,
    });
    const err = (await c.keys().catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(JwksUnavailableError);
    expect(err.message).toContain('boom');
    expect(err.cause).toBe(boom);
  });

  it('times out a Keycloak that does not answer', async () => {
    stub.handle(() => {
      // never answers
    });
    const started = Date.now();
    await expect(cache({ timeoutMs: 200 }).keys()).rejects.toThrow(JwksUnavailableError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
