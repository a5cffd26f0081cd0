/**
 * `npm run bench:console`: the web console's first load (JS and CSS, raw and gzipped, as the
 * console's server sends them) and the time to the fleet matrix rendered with 1 000 agent
 * instances over 50 hosts in headless Chromium (Debian's, driven by playwright-core), median
 * of 5, in one run.
 *
 * The console is a fresh build served by its real server (createConsoleApp). The rest of its
 * origin is a static fixture in this process, visibly not the platform: an OpenID provider
 * that signs the user in at once (RS256 tokens from a key made for the run) and a
 * /fleet/v1/status answer with the 1 000 targets. The time is measured in the page: from the
 * hash change to the fleet view until the 1 000 cells are in the DOM and a frame has been drawn.
 *
 *   npm run bench:console [-- --json]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import express from 'express';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { chromium } from 'playwright-core';

import { buildConsole } from '../services/console/src/build.js';
import { createConsoleApp } from '../services/console/src/app.js';
import type { ConsoleConfig } from '../services/console/src/contract.js';
import { ensureChromium } from '../toolchain/tools.js';

const HOSTS = 50;
const AGENTS = 20;
const RUNS = 5;
const asJson = process.argv.includes('--json');
const log = (msg: string) => process.stderr.write(`bench:console: ${msg}\n`);

const dir = mkdtempSync(join(tmpdir(), 'console-bench-'));
const built = await buildConsole(dir);
log(`built in ${dir}`);

const app = express();
const server = createServer(app);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const issuer = `${origin}/oidc`;
const config: ConsoleConfig = {
  issuer,
  clientId: 'bench-console',
  path: '/console',
  apis: { fleet: { prefix: '/fleet', writers: ['operator'] } },
  tenants: [{ name: 'bench', dashboard: 'none' }],
};

// The fixture OpenID provider: discovery, an authorization endpoint that answers at once, a
// token endpoint with signed tokens, an end-session endpoint.
const { privateKey, publicKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
const nonces = new Map<string, string>();
const sign = (claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
    .setIssuer(issuer)
    .setIssuedAt()
    .setExpirationTime('1h')
    .setSubject('bench-user')
    .sign(privateKey);
app.get('/oidc/.well-known/openid-configuration', (_req, res) => {
  res.json({
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    end_session_endpoint: `${issuer}/logout`,
    jwks_uri: `${issuer}/certs`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    code_challenge_methods_supported: ['S256'],
  });
});
app.get('/oidc/certs', (_req, res) => {
  res.json({ keys: [jwk] });
});
app.get('/oidc/auth', (req, res) => {
  const q = req.query as Record<string, string>;
  const code = `code-${nonces.size}`;
  nonces.set(code, q.nonce!);
  res.redirect(`${q.redirect_uri}?code=${code}&state=${encodeURIComponent(q.state!)}`);
});
app.post('/oidc/token', express.urlencoded({ extended: false }), async (req, res) => {
  const code = (req.body as Record<string, string>).code!;
  res.json({
    token_type: 'Bearer',
    expires_in: 3600,
    access_token: await sign({
      azp: config.clientId,
      preferred_username: 'bench',
      tenants: ['bench'],
      roles: ['bench:viewer'],
    }),
    id_token: await sign({ aud: config.clientId, nonce: nonces.get(code) }),
  });
});

// The fleet status: 20 agents on each of 50 hosts.
const hosts = Array.from({ length: HOSTS }, (_, i) => `host-${String(i).padStart(2, '0')}`);
const states = ['running', 'running', 'running', 'progressing', 'degraded'] as const;
const status = {
  commit: '0123456789abcdef0123456789abcdef01234567',
  observed_at: new Date().toISOString(),
  hosts: hosts.map((name) => ({
    name,
    ready: 'Ready',
    reason: 'kubelet ready',
    in_inventory: true,
  })),
  targets: hosts.flatMap((host, h) =>
    Array.from({ length: AGENTS }, (_, a) => ({
      agent: { id: `a${a}`, name: `agent-${String(a).padStart(2, '0')}`, tenant: 'bench' },
      host,
      desiredRevision: 'r2',
      observedRevision: (h + a) % 7 === 0 ? 'r1' : 'r2',
      state: states[(h + a) % states.length],
      reason: 'fixture',
      since: new Date().toISOString(),
    })),
  ),
};
app.get('/fleet/v1/status', (_req, res) => {
  res.json(status);
});
app.use(createConsoleApp({ config, assets: dir }));

const browser = await chromium.launch({
  executablePath: ensureChromium(log),
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const times: number[] = [];
const wire = { js: 0, css: 0 };
try {
  const page = await browser.newPage();
  page.on('response', async (r) => {
    const url = new URL(r.url()).pathname;
    const size = Number((await r.allHeaders())['content-length'] ?? 0);
    if (url === built.js.url) wire.js = size;
    if (url === built.css.url) wire.css = size;
  });
  await page.goto(`${origin}/console/`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user').waitFor();
  for (let i = 0; i < RUNS; i++) {
    await page.evaluate("location.hash = '#/events'");
    await page.getByRole('heading', { level: 1, name: /^Events/ }).waitFor();
    const ms = (await page.evaluate(`new Promise((resolve) => {
      const t0 = performance.now();
      location.hash = '#/fleet';
      const check = () => {
        if (document.querySelectorAll('[data-testid=fleet-matrix] button.cell').length === ${HOSTS * AGENTS})
          requestAnimationFrame(() => resolve(performance.now() - t0));
        else requestAnimationFrame(check);
      };
      check();
    })`)) as number;
    times.push(ms);
    log(`run ${i + 1}: fleet matrix of ${HOSTS * AGENTS} targets rendered in ${ms.toFixed(0)} ms`);
  }
} finally {
  await browser.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}

const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
const result = {
  firstLoad: {
    js: { bytes: built.js.bytes, gzipBytes: built.js.gzipBytes, wireBytes: wire.js },
    css: { bytes: built.css.bytes, gzipBytes: built.css.gzipBytes, wireBytes: wire.css },
    gzipTotal: built.firstLoadGzip,
  },
  fleetMatrix: {
    hosts: HOSTS,
    targets: HOSTS * AGENTS,
    runsMs: times.map(Math.round),
    medianMs: Math.round(median),
  },
};
const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`;
if (asJson) console.log(JSON.stringify(result));
else
  console.log(
    [
      `first load   JS ${kb(built.js.bytes)} (${kb(built.js.gzipBytes)} gzipped, ${kb(wire.js)} on the wire), CSS ${kb(built.css.bytes)} (${kb(built.css.gzipBytes)} gzipped, ${kb(wire.css)} on the wire): ${kb(built.firstLoadGzip)} gzipped`,
      `fleet matrix ${HOSTS * AGENTS} targets over ${HOSTS} hosts: median ${Math.round(median)} ms of ${RUNS} (${times.map((t) => Math.round(t)).join(', ')} ms)`,
    ].join('\n'),
  );
