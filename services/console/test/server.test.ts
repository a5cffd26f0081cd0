/**
 * The console's server and build: the static assets under /console with a strict
 * Content-Security-Policy, the configuration derived from the registry and the realm, the
 * first-load budget, and the errors of a missing build or a bad setting.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PlatformError } from '../../../platform/errors.js';
import { CONSOLE_CLIENT } from '../../../platform/identity.js';
import { CONSOLE_PATH, buildRealm } from '../../../platform/realm.js';
import { ROUTES } from '../../../platform/routes.js';
import { platformContext } from '../../../testing/real/keycloak.js';
import type { ConsoleBuild } from '../src/build.js';
import { FIRST_LOAD_BUDGET, buildConsole } from '../src/build.js';
import { consoleConfig } from '../src/config.js';
import type { RunningConsole } from '../src/service.js';
import { loadSettings, startConsole } from '../src/service.js';

const ctx = platformContext();
let dir: string;
let built: ConsoleBuild;
let server: RunningConsole;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'console-build-'));
  built = await buildConsole(dir);
  server = await startConsole({
    port: 0,
    host: '127.0.0.1',
    assets: dir,
    config: consoleConfig(ctx, { publicUrl: 'http://127.0.0.1:1' }),
  });
}, 60_000);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);

describe('console server', () => {
  it('serves the page with a CSP that forbids inline script and style, framing and other origins', async () => {
    const res = await get(`${CONSOLE_PATH}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    const directives = Object.fromEntries(
      csp.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values];
      }),
    );
    expect(directives).toMatchObject({
      'default-src': ["'none'"],
      'script-src': ["'self'"],
      'style-src': ["'self'"],
      'connect-src': ["'self'"],
      'frame-ancestors': ["'none'"],
    });
    expect(csp).not.toContain('unsafe');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // Nothing inline for the CSP to have to allow: every script is a file, no style at all.
    const html = await res.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts).toHaveLength(1);
    expect(scripts[0]![1]).toContain(`src="${built.js.url}"`);
    expect(scripts[0]![2]).toBe('');
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
  });

  it('answers Keycloak coming back (/console/?code=…) and deeper paths with the page, and /console with a redirect', async () => {
    const back = await get(`${CONSOLE_PATH}/?code=abc&state=xyz`);
    expect(back.status).toBe(200);
    expect(await back.text()).toContain(built.js.url);
    const bare = await get(CONSOLE_PATH, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe(`${CONSOLE_PATH}/`);
  });

  it('serves the hashed assets gzipped, cached for good, with the CSP too', async () => {
    const res = await get(built.js.url, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.headers.get('cache-control')).toContain('immutable');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    const missing = await get(`${CONSOLE_PATH}/assets/main-NOTAHASH.js`);
    expect(missing.status).toBe(404);
  });

  it('refuses every method but GET and HEAD', async () => {
    const res = await get(`${CONSOLE_PATH}/`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('gives the browser the issuer, its client and the API prefixes and writers from the registry', async () => {
    const res = await get(`${CONSOLE_PATH}/config.json`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const config = (await res.json()) as any;
    expect(config).toMatchObject({
      issuer: `http://127.0.0.1:1/auth/realms/${ctx.config.identity.realm}`,
      clientId: CONSOLE_CLIENT,
      path: CONSOLE_PATH,
      apis: {
        fleet: { prefix: '/fleet' },
        provisioning: { prefix: '/provisioning' },
        monitor: { prefix: '/monitor' },
        orion: { prefix: '/orion' },
      },
      grafana: '/grafana',
    });
    // Writers are exactly the roles the route lets use a method beyond GET/HEAD.
    const fleet = ROUTES.find((r) => r.backend.service === 'fleet')!;
    const writers = Object.entries(fleet.rights)
      .filter(([, m]) => m!.some((x) => x !== 'GET' && x !== 'HEAD'))
      .map(([role]) => role);
    expect(config.apis.fleet.writers).toEqual(writers);
    expect(config.apis.fleet.writers).not.toContain('viewer');
    expect(config.tenants.map((t: { name: string }) => t.name)).toEqual(
      ctx.config.tenants.map((t) => t.name),
    );
  });

  it("is routed at the console's path, which the realm's console client redirects to", () => {
    const route = ROUTES.find((r) => r.backend.service === 'console')!;
    expect(route.prefix).toBe(CONSOLE_PATH);
    const client = (buildRealm(ctx).realm.clients as Record<string, any>[]).find(
      (c) => c.clientId === CONSOLE_CLIENT,
    )!;
    expect(client.redirectUris).toEqual([`${ctx.publicUrl}${route.prefix}/*`]);
    expect(client.webOrigins).toEqual([ctx.publicUrl]);
    expect(client.attributes['post.logout.redirect.uris']).toBe(
      `${ctx.publicUrl}${route.prefix}/*`,
    );
    expect(client.publicClient).toBe(true);
  });

  it('keeps the first load (JS and CSS, gzipped) within 150 kB', () => {
    expect(built.firstLoadGzip).toBe(built.js.gzipBytes + built.css.gzipBytes);
    expect(built.firstLoadGzip).toBeLessThanOrEqual(FIRST_LOAD_BUDGET);
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toContain(built.css.url);
  });

  it('fails to start without a build, saying how to make one', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'console-empty-'));
    try {
      await expect(
        startConsole({ port: 0, assets: empty, config: consoleConfig(ctx) }),
      ).rejects.toMatchObject({
        code: 'ERR_CONSOLE_NOT_BUILT',
        fix: expect.stringContaining('npm run console:build'),
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('fails on a public URL with a path, naming the variable', () => {
    let err: unknown;
    try {
      loadSettings({ CONSOLE_PUBLIC_URL: 'https://example.test/console' }, ctx);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlatformError);
    expect(err).toMatchObject({ code: 'ERR_CONSOLE_CONFIG' });
    expect((err as Error).message).toContain('CONSOLE_PUBLIC_URL');
  });
});
