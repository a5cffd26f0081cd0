/**
 * A person logs in through Keycloak's own login page, in Debian's Chromium driven by
 * playwright-core: authorization code with PKCE (S256) on the realm's public console client,
 * into a tiny relying party built on openid-client. The relying party validates the ID token
 * (issuer, audience, expiry, nonce) and shows its claims, and those of the access token.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';

import * as oidc from 'openid-client';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

import {
  CONSOLE_CLIENT,
  SSO_CLIENTS,
  secretEnvName,
  tenantGroupPath,
} from '../../../platform/identity.js';
import { randomPassword } from '../../../platform/bootstrap-secrets.js';
import { ensureChromium } from '../../../toolchain/tools.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { issuerAt, platformContext, sharedKeycloak } from '../../../testing/real/keycloak.js';
import { freePort } from '../../../testing/real/opa.js';
import { KeycloakAdmin } from '../src/realm-apply.js';

const REALM = platformContext().config.identity.realm;

let kc: KeycloakServer;
let browser: Browser;
let rp: { url: string; server: Server; callbacks: number; logins: Record<string, unknown>[] };
let kiali: typeof rp;
let admin: KeycloakAdmin;

/** Adds a relying party's callback to a realm client's redirect URIs. */
async function register(clientId: string, url: string): Promise<void> {
  const client = (await admin.findClient(clientId)) as Record<string, any>;
  await admin.call('PUT', `/${REALM}/clients/${client!.id}`, {
    ...client,
    redirectUris: [...(client!.redirectUris as string[]), `${url}/callback`],
  });
}

/**
 * The relying party: /login starts the flow, /callback finishes it. A public client by
 * default (the console); with a secret, a confidential one (Kiali's client).
 */
async function startRelyingParty(
  issuer: string,
  clientId = CONSOLE_CLIENT,
  secret?: string,
): Promise<typeof rp> {
  const config = await oidc.discovery(
    new URL(issuer),
    clientId,
    undefined,
    secret ? oidc.ClientSecretPost(secret) : oidc.None(),
    { execute: [oidc.allowInsecureRequests] },
  );
  const pending = new Map<string, { verifier: string; nonce: string }>();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const state = { url, callbacks: 0, logins: [] as Record<string, unknown>[] };
  const server = createServer((req, res) => {
    void (async () => {
      const here = new URL(req.url ?? '/', url);
      if (here.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier();
        const st = oidc.randomState();
        const nonce = oidc.randomNonce();
        pending.set(st, { verifier, nonce });
        const to = oidc.buildAuthorizationUrl(config, {
          redirect_uri: `${url}/callback`,
          scope: 'openid',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state: st,
          nonce,
        });
        res.writeHead(302, { location: to.href }).end();
        return;
      }
      if (here.pathname === '/callback') {
        state.callbacks++;
        const p = pending.get(here.searchParams.get('state') ?? '');
        if (!p) {
          res.writeHead(400).end('unknown state');
          return;
        }
        const tokens = await oidc.authorizationCodeGrant(config, here, {
          pkceCodeVerifier: p.verifier,
          expectedState: here.searchParams.get('state')!,
          expectedNonce: p.nonce,
        });
        const claims = tokens.claims() as Record<string, unknown>;
        // The access token is the API's, not the relying party's: shown, not verified here.
        const access = JSON.parse(
          Buffer.from(tokens.access_token.split('.')[1] ?? '', 'base64url').toString('utf8'),
        ) as Record<string, unknown>;
        state.logins.push(claims);
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end(
            `<pre id="claims">${JSON.stringify(claims)}</pre><pre id="access">${JSON.stringify(access)}</pre>`,
          );
        return;
      }
      res.writeHead(404).end();
    })().catch((err: unknown) => {
      res.writeHead(500).end(`relying party error: ${(err as Error).message}`);
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    ...state,
    server,
    get callbacks() {
      return state.callbacks;
    },
    logins: state.logins,
  };
}

beforeAll(async () => {
  const executablePath = ensureChromium();
  kc = await sharedKeycloak();
  const issuer = issuerAt(kc, REALM);
  rp = await startRelyingParty(issuer);
  // Register the relying party's callback on the console client, as a developer of the
  // later web UI would for a local build.
  admin = new KeycloakAdmin(
    { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
    REALM,
  );
  await admin.authenticate();
  await register(CONSOLE_CLIENT, rp.url);
  kiali = await startRelyingParty(
    issuer,
    SSO_CLIENTS.kiali,
    kc.values[secretEnvName('client', SSO_CLIENTS.kiali)],
  );
  await register(SSO_CLIENTS.kiali, kiali.url);
  browser = await chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => rp?.server.close(r));
  await new Promise((r) => kiali?.server.close(r));
});

const password = (user: string) => kc.values[secretEnvName('user', user)]!;

describe('browser login through Keycloak', () => {
  it('takes a demo user through the login page into the relying party with the tenant claim', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${rp.url}/login`);
      // Keycloak's login page, not ours.
      expect(page.url()).toContain(`${kc.url}/realms/${REALM}/protocol/openid-connect/auth`);
      expect(page.url()).toContain('code_challenge_method=S256');
      await page.fill('#username', 'manufracture-demo');
      await page.fill('#password', password('manufracture-demo'));
      await page.click('#kc-login');
      await page.waitForURL(`${rp.url}/callback**`);
      const claims = JSON.parse((await page.textContent('#claims')) ?? '{}');
      expect(claims).toMatchObject({
        iss: issuerAt(kc, REALM),
        aud: CONSOLE_CLIENT,
        preferred_username: 'manufracture-demo',
        tenants: ['manufracture'],
      });
      expect([...claims.roles].sort()).toEqual([
        'manufracture:operator',
        'manufracture:tenant-admin',
        'manufracture:viewer',
      ]);
    } finally {
      await page.close();
    }
  });

  it('gives a tenant-admin of one tenant who is viewer of another exactly those two scoped roles', async () => {
    // Made through the admin API, as role-group memberships.
    const username = 'admin-here-viewer-there';
    const secret = randomPassword();
    await admin.call('POST', `/${REALM}/users`, {
      username,
      enabled: true,
      email: `${username}@example.test`,
      emailVerified: true,
      firstName: 'Two',
      lastName: 'Tenants',
      credentials: [{ type: 'password', value: secret, temporary: false }],
    });
    const [user] = (await admin.call<Record<string, any>[]>(
      'GET',
      `/${REALM}/users?username=${username}&exact=true`,
    ))!;
    for (const path of [
      tenantGroupPath('manufracture', 'tenant-admin'),
      tenantGroupPath('smithereens', 'viewer'),
    ]) {
      const group = (await admin.findGroup(path))!;
      await admin.call('PUT', `/${REALM}/users/${user!.id}/groups/${group.id}`);
    }
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${rp.url}/login`);
      await page.fill('#username', username);
      await page.fill('#password', secret);
      await page.click('#kc-login');
      await page.waitForURL(`${rp.url}/callback**`);
      for (const id of ['#claims', '#access']) {
        const claims = JSON.parse((await page.textContent(id)) ?? '{}');
        expect([...claims.roles].sort()).toEqual([
          'manufracture:tenant-admin',
          'smithereens:viewer',
        ]);
        expect([...claims.tenants].sort()).toEqual(['manufracture', 'smithereens']);
      }
    } finally {
      await context.close();
    }
  });

  it('gives platform-admin its role bare, and no tenant', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${rp.url}/login`);
      await page.fill('#username', 'platform-admin');
      await page.fill('#password', password('platform-admin'));
      await page.click('#kc-login');
      await page.waitForURL(`${rp.url}/callback**`);
      const access = JSON.parse((await page.textContent('#access')) ?? '{}');
      expect(access.roles).toEqual(['platform-admin']);
      expect(access).not.toHaveProperty('tenants');
    } finally {
      await context.close();
    }
  });

  it("shows Keycloak's error for a wrong password and gives the relying party nothing", async () => {
    const before = { callbacks: rp.callbacks, logins: rp.logins.length };
    const page = await browser.newPage();
    try {
      await page.goto(`${rp.url}/login`);
      await page.fill('#username', 'smithereens-demo');
      await page.fill('#password', 'not-the-password-of-smithereens');
      await page.click('#kc-login');
      await page.waitForSelector('#input-error, .kc-feedback-text, #kc-error-message');
      const text = await page.textContent('body');
      expect(text).toContain('Invalid username or password.');
      expect(page.url()).toContain(kc.url);
      expect(page.url()).not.toContain(rp.url);
      expect(rp.callbacks).toBe(before.callbacks);
      expect(rp.logins.length).toBe(before.logins);
    } finally {
      await page.close();
    }
  });

  /** Logs a user in to Kiali's client in a fresh browser context (no SSO cookie). */
  async function kialiLogin(user: string) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${kiali.url}/login`);
    await page.fill('#username', user);
    await page.fill('#password', password(user));
    await page.click('#kc-login');
    await page.waitForLoadState('networkidle');
    return { page, close: () => context.close() };
  }

  it("lets a platform admin into Kiali's client", async () => {
    const { page, close } = await kialiLogin('platform-admin');
    try {
      await page.waitForURL(`${kiali.url}/callback**`);
      const claims = JSON.parse((await page.textContent('#claims')) ?? '{}');
      expect(claims).toMatchObject({ aud: SSO_CLIENTS.kiali, groups: ['platform-admins'] });
    } finally {
      await close();
    }
  });

  it("denies a tenant's user Kiali, after a correct password, and gives Kiali nothing", async () => {
    const before = kiali.callbacks;
    const { page, close } = await kialiLogin('manufracture-demo');
    try {
      expect(page.url()).toContain(kc.url);
      expect(((await page.textContent('body')) ?? '').toLowerCase()).toContain('access denied');
      expect(kiali.callbacks).toBe(before);
    } finally {
      await close();
    }
  });

  it("denies Kiali to a tenant's user who already has a Keycloak session (SSO cookie)", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      // Log in to the console first: a valid SSO session in this browser.
      await page.goto(`${rp.url}/login`);
      await page.fill('#username', 'smithereens-demo');
      await page.fill('#password', password('smithereens-demo'));
      await page.click('#kc-login');
      await page.waitForURL(`${rp.url}/callback**`);
      const before = kiali.callbacks;
      await page.goto(`${kiali.url}/login`);
      await page.waitForLoadState('networkidle');
      expect(((await page.textContent('body')) ?? '').toLowerCase()).toContain('access denied');
      expect(kiali.callbacks).toBe(before);
    } finally {
      await context.close();
    }
  });
});
