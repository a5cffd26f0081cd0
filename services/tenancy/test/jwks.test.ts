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

  it('times out a Keycloak that does not answer', async () => {
    stub.handle(() => {
      // never answers
    });
    const started = Date.now();
    await expect(cache({ timeoutMs: 200 }).keys()).rejects.toThrow(JwksUnavailableError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
