import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import type { Server } from 'node:http';

import express from 'express';

import { corpusPolicyData } from '../../../testing/support/corpus.js';
import { json, startStub } from '../../../testing/support/http.js';
import type { StubServer } from '../../../testing/support/http.js';
import type { TestKeys, TokenRecipe } from '../../../testing/support/tokens.js';
import { generateTestKeys, makeToken } from '../../../testing/support/tokens.js';
import { JwksCache } from '../src/jwks.js';
import type { DecisionLogEntry } from '../src/middleware.js';
import { tenancyMiddleware } from '../src/middleware.js';
import type { Decision } from '../src/policy.js';
import { TenancyPolicy } from '../src/policy.js';

const config = corpusPolicyData();
let keys: TestKeys;
let stub: StubServer;
let policy: TenancyPolicy;
let main: Listening;
let server: Server;
let base: string;
const decisions: DecisionLogEntry[] = [];

function appWith(p: TenancyPolicy, jwks: JwksCache) {
  const app = express();
  app.use(tenancyMiddleware({ policy: p, jwks, onDecision: (d) => decisions.push(d) }));
  app.all('/{*rest}', (req, res) =>
    res.json({
      ok: true,
      tenancy: res.locals.tenancy ?? null,
      tenantHeader: req.headers['x-kitt4sme-tenant'] ?? null,
      tenantHeaderDistinct: req.headersDistinct['x-kitt4sme-tenant'] ?? null,
      tenantHeaderRaw: req.rawHeaders.filter(
        (_v, i, all) => i % 2 === 1 && all[i - 1]!.toLowerCase() === 'x-kitt4sme-tenant',
      ),
      // Every platform header the handler sees, in all three of Node's views.
      platformHeaders: Object.keys(req.headers).filter((n) => n.startsWith('x-kitt4sme-')),
      platformHeadersDistinct: Object.keys(req.headersDistinct).filter((n) =>
        n.startsWith('x-kitt4sme-'),
      ),
      platformHeadersRaw: req.rawHeaders.filter(
        (v, i) => i % 2 === 0 && v.toLowerCase().startsWith('x-kitt4sme-'),
      ),
      // Every header, in the three views.
      headers: req.headers,
      headersDistinct: req.headersDistinct,
      rawHeaders: req.rawHeaders,
    }),
  );
  return app;
}

interface Listening {
  readonly server: Server;
  readonly base: string;
  /** Drops open connections and stops listening. */
  close(): Promise<void>;
}

async function listen(app: express.Express): Promise<Listening> {
  const s = await new Promise<Server>((r) => {
    const srv = app.listen(0, '127.0.0.1', () => r(srv));
  });
  return {
    server: s,
    base: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: async () => {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    },
  };
}

beforeAll(async () => {
  keys = await generateTestKeys();
  stub = await startStub(json(200, keys.jwks));
  policy = await TenancyPolicy.load({ config });
  main = await listen(appWith(policy, new JwksCache({ url: `${stub.url}/certs` })));
  ({ server, base } = main);
});
afterAll(async () => {
  await main.close();
  await stub.close();
});
beforeEach(() => (decisions.length = 0));

const token = (recipe: TokenRecipe = {}) => makeToken(keys, config.issuer, recipe);
const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { headers });

/** Sends raw header lines, which fetch would merge or refuse. */
function raw(lines: string[]): Promise<{ status: number; body: string }> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({
        status: Number(text.split(' ')[1]),
        body: text.slice(text.indexOf('\r\n\r\n') + 4),
      });
    });
    sock.write(
      Buffer.concat([
        ...lines.map((l) => Buffer.from(`${l}\r\n`, 'latin1')),
        Buffer.from('Connection: close\r\n\r\n'),
      ]),
    );
  });
}

describe('tenancyMiddleware', () => {
  it('lets an allowed request through with the verified caller', async () => {
    const res = await get('/orion/v2/entities', {
      authorization: `Bearer ${await token({ claims: { roles: ['manufracture:viewer', 'smithereens:tenant-admin'], tenants: ['manufracture', 'smithereens'] } })}`,
      'fiware-service': 'ManuFracture',
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).tenancy).toMatchObject({
      tenant: 'manufracture',
      subject: 'user-1',
      roles: ['viewer'],
    });
  });

  it('lets a public path through without a token or a caller', async () => {
    const res = await get('/orion/version');
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).tenancy).toBeNull();
  });

  it('answers 401 with an RFC 9457 problem and a WWW-Authenticate challenge', async () => {
    const res = await get('/orion/v2/entities', { 'fiware-service': 'manufracture' });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="kitt4sme", error="invalid_token"',
    );
    expect(await res.json()).toEqual({
      type: 'https://kitt4sme.eu/problems/access-denied',
      title: 'Unauthorized',
      status: 401,
      detail: 'no bearer token',
      instance: '/orion/v2/entities',
    });
  });

  it('answers 403 for a token of another tenant', async () => {
    const res = await get('/orion/v2/entities', {
      authorization: `Bearer ${await token()}`,
      'fiware-service': 'smithereens',
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      status: 403,
      detail: 'token not valid for this tenant',
    });
  });

  it('never echoes the token, the query string or a stack trace', async () => {
    const forged = await token({ key: 'evil-rsa', kid: 'realm-rsa-1' });
    const res = await get('/iota-south/iot/d?k=secret-api-key&i=dev1', {
      authorization: `Bearer ${forged}`,
      'fiware-service': 'manufracture',
    });
    const text = await res.text();
    expect(res.status).toBe(401);
    expect(text).not.toContain(forged);
    expect(text).not.toContain(forged.split('.')[2]);
    expect(text).not.toContain('secret-api-key');
    expect(text).not.toMatch(/at .*\.(ts|js):\d+/);
    expect(JSON.stringify(decisions)).not.toContain('secret-api-key');
    expect(JSON.stringify(decisions)).not.toContain(forged);
  });

  it('logs every decision with its reason', async () => {
    await get('/orion/v2/entities', {
      authorization: `Bearer ${await token()}`,
      'fiware-service': 'manufracture',
    });
    await get('/orion/v2/entities', { 'fiware-service': 'manufracture' });
    expect(decisions).toEqual([
      {
        allowed: true,
        status: 200,
        tenant: 'manufracture',
        subject: 'user-1',
        method: 'GET',
        path: '/orion/v2/entities',
      },
      {
        allowed: false,
        status: 401,
        reason: 'no bearer token',
        tenant: 'manufracture',
        method: 'GET',
        path: '/orion/v2/entities',
      },
    ]);
  });

  it('refuses two Authorization headers, which Node would otherwise reduce to one', async () => {
    const t = await token();
    const res = await raw([
      'GET /orion/v2/entities HTTP/1.1',
      'Host: x',
      `Authorization: Bearer ${t}`,
      `Authorization: Bearer ${t}`,
      'fiware-service: manufracture',
    ]);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).detail).toBe(
      "malformed Authorization header (one 'Bearer <jwt>' expected)",
    );
  });

  it('refuses two fiware-service headers', async () => {
    const t = await token({ claims: { tenants: ['manufracture', 'smithereens'] } });
    const res = await raw([
      'GET /orion/v2/entities HTTP/1.1',
      'Host: x',
      `Authorization: Bearer ${t}`,
      'fiware-service: manufracture',
      'fiware-service: smithereens',
    ]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).detail).toBe('invalid or repeated fiware-service header');
  });

  it('refuses non-UTF-8 bytes in headers with a reason', async () => {
    const t = await token();
    const bad = await raw([
      'GET /orion/v2/entities HTTP/1.1',
      'Host: x',
      `Authorization: Bearer ${t}`,
      'fiware-service: manu\xff\xfefracture',
    ]);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).detail).toBe('invalid or repeated fiware-service header');
    const badAuth = await raw([
      'GET /orion/v2/entities HTTP/1.1',
      'Host: x',
      `Authorization: Bearer \xff${t}`,
      'fiware-service: manufracture',
    ]);
    expect(badAuth.status).toBe(401);
  });

  it('refuses a huge Authorization header with a reason', async () => {
    const res = await get('/orion/v2/entities', {
      authorization: `Bearer ${await token({ padding: 9000 })}`,
      'fiware-service': 'manufracture',
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).detail).toBe('token too long');
  });

  it('answers 503 with Retry-After when the realm keys are unavailable, but still serves public paths', async () => {
    const down = await listen(
      appWith(policy, new JwksCache({ url: 'http://127.0.0.1:9/certs', timeoutMs: 300 })),
    );
    try {
      const res = await fetch(`${down.base}/orion/v2/entities`, {
        headers: { authorization: `Bearer ${await token()}`, 'fiware-service': 'manufracture' },
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('10');
      expect(((await res.json()) as any).type).toBe(
        'https://kitt4sme.eu/problems/keys-unavailable',
      );
      expect((await fetch(`${down.base}/orion/version`)).status).toBe(200);
      // A malformed token is refused for what it is, keys or no keys.
      const malformed = await fetch(`${down.base}/orion/v2/entities`, {
        headers: { authorization: 'Bearer a.b.c', 'fiware-service': 'manufracture' },
      });
      expect(malformed.status).toBe(401);
      expect(((await malformed.json()) as any).detail).toBe(
        'token is not a JWS of JSON header and claims',
      );
      // A request without token needs no keys: it is judged (and refused) as usual.
      expect(
        (
          await fetch(`${down.base}/orion/v2/entities`, {
            headers: { 'fiware-service': 'manufracture' },
          })
        ).status,
      ).toBe(401);
    } finally {
      await down.close();
    }
  });

  it('fails closed with 500 and no detail when the policy itself fails', async () => {
    const broken = {
      decide: async () => Promise.reject(new Error('wasm trap: out of bounds at policy.ts:1')),
    } as unknown as TenancyPolicy;
    const b = await listen(appWith(broken, new JwksCache({ url: `${stub.url}/certs` })));
    try {
      const res = await fetch(`${b.base}/orion/version`);
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({
        status: 500,
        detail: 'the request could not be authorized',
      });
      expect(text).not.toContain('wasm trap');
    } finally {
      await b.close();
    }
  });

  it('answers a token whose alg holds CR LF or non-Latin-1 text with a 401 problem, not a crash', async () => {
    for (const alg of ['x\r\nset-cookie: a=b', '\u0100', 'RS256\u00e9']) {
      const res = await get('/orion/v2/entities', {
        authorization: `Bearer ${await token({ header: { alg } })}`,
        'fiware-service': 'manufracture',
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.headers.get('set-cookie')).toBeNull();
      const body = (await res.json()) as any;
      expect(body.detail).toBe('unsupported token algorithm');
      expect(JSON.stringify(body)).not.toMatch(/at |node_modules|\.ts:/);
    }
  });

  it('answers realm-signed claims that are not UTF-8 JSON with a 401 problem, not a crash', async () => {
    for (const recipe of [
      { claimsText: '{claims}{}' },
      { claims: { sub: 'café' }, claimsEncoding: 'latin1' as const },
      { claims: { sub: '\ud800' } },
    ]) {
      const res = await get('/orion/v2/entities', {
        authorization: `Bearer ${await token(recipe)}`,
        'fiware-service': 'manufracture',
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).detail).toBe(
        'token is not a JWS of JSON header and claims',
      );
    }
  });

  it('never lets the caller name the tenant: its x-kitt4sme-tenant is replaced or dropped', async () => {
    const allowed = await get('/orion/v2/entities', {
      authorization: `Bearer ${await token()}`,
      'fiware-service': 'manufracture',
      'x-kitt4sme-tenant': 'smithereens',
    });
    expect(await allowed.json()).toMatchObject({
      tenancy: { tenant: 'manufracture' },
      tenantHeader: 'manufracture',
      tenantHeaderDistinct: ['manufracture'],
      tenantHeaderRaw: ['manufracture'],
    });
    const publicPath = await get('/orion/version', {
      'X-Kitt4sme-Tenant': 'smithereens',
      'x-kitt4sme-other': 'x',
    });
    expect(await publicPath.json()).toMatchObject({
      tenancy: null,
      tenantHeader: null,
      tenantHeaderDistinct: null,
      tenantHeaderRaw: [],
    });
  });

  it("drops every x-kitt4sme-* header of the caller, not only the tenant's, allowed or public", async () => {
    const forged = { 'x-kitt4sme-other': 'x', 'X-Kitt4sme-Roles': 'platform-admin' };
    const allowed = await get('/orion/v2/entities', {
      authorization: `Bearer ${await token()}`,
      'fiware-service': 'manufracture',
      ...forged,
    });
    // Only the tenant header the middleware set itself is left.
    expect(await allowed.json()).toMatchObject({
      platformHeaders: ['x-kitt4sme-tenant'],
      platformHeadersDistinct: ['x-kitt4sme-tenant'],
      platformHeadersRaw: ['x-kitt4sme-tenant'],
    });
    expect(await (await get('/orion/version', forged)).json()).toMatchObject({
      platformHeaders: [],
      platformHeadersDistinct: [],
      platformHeadersRaw: [],
    });
  });

  it('logs only a valid service name as the tenant of a deny', async () => {
    await get('/orion/v2/entities', { 'fiware-service': 'x'.repeat(5000) });
    await get('/orion/v2/entities', { 'fiware-service': 'Smithereens' });
    expect(decisions.map((d) => d.tenant)).toEqual([undefined, 'smithereens']);
    expect(decisions.map((d) => d.status)).toEqual([400, 401]);
  });

  it('reads the roles from the claim the policy data names', async () => {
    const custom = { ...config, claims: { ...config.claims, roles: 'platform_roles' } };
    const p = await TenancyPolicy.load({ config: custom });
    const a = await listen(appWith(p, new JwksCache({ url: `${stub.url}/certs` })));
    try {
      const res = await fetch(`${a.base}/orion/v2/entities`, {
        headers: {
          authorization: `Bearer ${await token({ claims: { roles: null, platform_roles: ['manufracture:viewer'] } })}`,
          'fiware-service': 'manufracture',
        },
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).tenancy.roles).toEqual(['viewer']);
    } finally {
      await a.close();
    }
  });

  it('decides the same when the decision logger throws', async () => {
    const app = express();
    app.use(
      tenancyMiddleware({
        policy,
        jwks: new JwksCache({ url: `${stub.url}/certs` }),
        onDecision: () => {
          throw new Error('log sink down');
        },
      }),
    );
    app.all('/{*rest}', (_req, res) => res.json({ ok: true }));
    const a = await listen(app);
    try {
      const ok = await fetch(`${a.base}/orion/v2/entities`, {
        headers: { authorization: `Bearer ${await token()}`, 'fiware-service': 'manufracture' },
      });
      expect(ok.status).toBe(200);
      const denied = await fetch(`${a.base}/orion/v2/entities`, {
        headers: { 'fiware-service': 'manufracture' },
      });
      expect(denied.status).toBe(401);
    } finally {
      await a.close();
    }
  });

  it("keeps the caller's other headers in all three of Node's views", async () => {
    const res = await get('/orion/v2/entities', {
      authorization: `Bearer ${await token()}`,
      'fiware-service': 'manufracture',
      'x-request-note': 'kept',
    });
    const body = (await res.json()) as any;
    expect(body.headers).toMatchObject({
      'fiware-service': 'manufracture',
      'x-request-note': 'kept',
    });
    expect(body.headersDistinct).toMatchObject({
      'fiware-service': ['manufracture'],
      'x-request-note': ['kept'],
    });
    const raw = body.rawHeaders as string[];
    expect(raw[raw.findIndex((v) => v.toLowerCase() === 'x-request-note') + 1]).toBe('kept');
    expect(raw.filter((_v, i) => i % 2 === 0).map((v) => v.toLowerCase())).toContain(
      'authorization',
    );
  });

  it('drops a platform header that comes first, before Host', async () => {
    const res = await raw([
      'GET /orion/version HTTP/1.1',
      'X-Kitt4sme-Roles: platform-admin',
      'Host: x',
    ]);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      platformHeaders: [],
      platformHeadersDistinct: [],
      platformHeadersRaw: [],
    });
  });

  it('drops and sets the tenant header the policy data names, whatever its name', async () => {
    const p = await TenancyPolicy.load({ config: { ...config, tenant_header: 'x-org-tenant' } });
    const a = await listen(appWith(p, new JwksCache({ url: `${stub.url}/certs` })));
    try {
      const allowed = (await (
        await fetch(`${a.base}/orion/v2/entities`, {
          headers: {
            authorization: `Bearer ${await token()}`,
            'fiware-service': 'manufracture',
            'x-org-tenant': 'smithereens',
          },
        })
      ).json()) as any;
      expect(allowed.headers['x-org-tenant']).toBe('manufracture');
      expect(allowed.headersDistinct['x-org-tenant']).toEqual(['manufracture']);
      const forgedPublic = (await (
        await fetch(`${a.base}/orion/version`, { headers: { 'x-org-tenant': 'smithereens' } })
      ).json()) as any;
      expect(forgedPublic.headers).not.toHaveProperty('x-org-tenant');
      expect(forgedPublic.headersDistinct).not.toHaveProperty('x-org-tenant');
      expect((forgedPublic.rawHeaders as string[]).map((v) => v.toLowerCase())).not.toContain(
        'x-org-tenant',
      );
    } finally {
      await a.close();
    }
  });

  it('logs a public request as allowed, without a tenant or a subject', async () => {
    await get('/orion/version?secret=1');
    expect(decisions).toEqual([
      { allowed: true, status: 200, method: 'GET', path: '/orion/version' },
    ]);
  });

  it('asks for the realm keys only for a request with a token, by its kid', async () => {
    const realm = await startStub(
      json(200, { keys: keys.jwks.keys.filter((k) => k.kid !== 'realm-rsa-2') }),
    );
    const a = await listen(
      appWith(policy, new JwksCache({ url: `${realm.url}/certs`, minRefreshIntervalMs: 0 })),
    );
    try {
      await fetch(`${a.base}/orion/version`);
      await fetch(`${a.base}/orion/v2/entities`, { headers: { 'fiware-service': 'manufracture' } });
      expect(realm.requests).toHaveLength(0);
      const first = await fetch(`${a.base}/orion/v2/entities`, {
        headers: { authorization: `Bearer ${await token()}`, 'fiware-service': 'manufracture' },
      });
      expect(first.status).toBe(200);
      expect(realm.requests).toHaveLength(1);
      // The realm rotates a key in: a token of it names a kid the cache has not seen.
      realm.handle(json(200, keys.jwks));
      const rotated = await fetch(`${a.base}/orion/v2/entities`, {
        headers: {
          authorization: `Bearer ${await token({ key: 'rsa-rotated' })}`,
          'fiware-service': 'manufracture',
        },
      });
      expect(rotated.status).toBe(200);
      expect(realm.requests).toHaveLength(2);
    } finally {
      await a.close();
      await realm.close();
    }
  });

  it('fails closed with 500 when the key cache fails other than by being unreachable', async () => {
    const broken = {
      keys: async () => Promise.reject(new TypeError('a bug in the cache')),
    } as unknown as JwksCache;
    const b = await listen(appWith(policy, broken));
    try {
      const res = await fetch(`${b.base}/orion/v2/entities?x=1`, {
        headers: { authorization: `Bearer ${await token()}`, 'fiware-service': 'manufracture' },
      });
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toEqual({
        type: 'https://kitt4sme.eu/problems/authorization-failed',
        title: 'Internal Server Error',
        status: 500,
        detail: 'the request could not be authorized',
        instance: '/orion/v2/entities',
      });
      expect(decisions).toEqual([
        {
          allowed: false,
          status: 500,
          reason: 'authorization failed',
          method: 'GET',
          path: '/orion/v2/entities',
        },
      ]);
    } finally {
      await b.close();
    }
  });

  it('takes a roles claim of one string, and leaves out roles that are not strings', async () => {
    const one = await get('/orion/v2/entities', {
      authorization: `Bearer ${await token({ claims: { roles: 'manufracture:operator' } })}`,
      'fiware-service': 'manufracture',
    });
    expect(((await one.json()) as any).tenancy.roles).toEqual(['operator']);
    const mixed = await get('/orion/v2/entities', {
      authorization: `Bearer ${await token({ claims: { roles: ['manufracture:viewer', 7, null, { r: 1 }] } })}`,
      'fiware-service': 'manufracture',
    });
    expect(((await mixed.json()) as any).tenancy.roles).toEqual(['viewer']);
  });

  describe('with a policy whose decisions the test writes', () => {
    /** A policy that answers `decision` to every request. */
    const fixed = (decision: Decision) =>
      ({
        decide: async () => decision,
        tenantHeader: 'x-kitt4sme-tenant',
        claimNames: { tenants: 'tenants', roles: 'roles' },
      }) as unknown as TenancyPolicy;
    async function ask(decision: Decision, headers: Record<string, string> = {}) {
      const a = await listen(appWith(fixed(decision), new JwksCache({ url: `${stub.url}/certs` })));
      try {
        const res = await fetch(`${a.base}/orion/v2/entities`, { headers });
        return { status: res.status, headers: res.headers, body: (await res.json()) as any };
      } finally {
        await a.close();
      }
    }

    it('passes on only safe values of the deny headers it may pass on', async () => {
      const res = await ask({
        allowed: false,
        http_status: 401,
        headers: {
          'www-authenticate': 'Bearer realm="kitt4sme"',
          'retry-after': '\u0001 10',
          'x-kitt4sme-deny-reason': 'too long '.repeat(200),
          'x-other': 'not a deny header',
        },
        body: JSON.stringify({
          type: 'https://kitt4sme.eu/problems/x',
          title: 'Unauthorized',
          detail: 'd',
        }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="kitt4sme"');
      expect(res.headers.get('retry-after')).toBeNull();
      expect(res.headers.get('x-kitt4sme-deny-reason')).toBeNull();
      expect(res.headers.get('x-other')).toBeNull();
      expect(
        (await ask({ allowed: false, headers: { 'retry-after': '10\u0001' } })).headers.get(
          'retry-after',
        ),
      ).toBeNull();
      expect(
        (await ask({ allowed: false, headers: { 'retry-after': '10' } })).headers.get(
          'retry-after',
        ),
      ).toBe('10');
    });

    it('answers a bare deny as 403 with its own problem', async () => {
      const res = await ask({ allowed: false });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        type: 'https://kitt4sme.eu/problems/access-denied',
        title: 'Forbidden',
        status: 403,
        detail: 'request not allowed',
        instance: '/orion/v2/entities',
      });
    });

    it('lets an allow that names a tenant but carries no token through, without a caller', async () => {
      // As an API-key device route is allowed: a tenant, and no token to read a caller from.
      const res = await ask({ allowed: true, headers: { 'x-kitt4sme-tenant': 'manufracture' } });
      expect(res.status).toBe(200);
      expect(res.body.tenancy).toBeNull();
    });
  });
});
