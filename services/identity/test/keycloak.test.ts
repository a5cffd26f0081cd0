/**
 * The synthesized realm on a real Keycloak (the pinned keycloak-quarkus-dist, shared by the
 * run): the tokens it issues carry exactly the claims the tenancy policy reads, and the
 * TypeScript helpers, the wasm policy and the real OPA judge them with Keycloak's real JWKS.
 */
import { API_AUDIENCES, CLOCK_SKEW_SECONDS, TENANT_HEADER } from '../../../platform/tenancy.js';
import {
  CONSOLE_CLIENT,
  DEMO_TENANT_ROLES,
  LIFETIMES,
  MACHINE_CLIENTS,
  SSO_CLIENTS,
  machineClientId,
  secretEnvName,
} from '../../../platform/identity.js';
import type { MachineKind } from '../../../platform/identity.js';
import { TENANT_ROLES, scopedRole } from '../../../platform/roles.js';
import type { TenantRole } from '../../../platform/roles.js';
import { randomPassword } from '../../../platform/bootstrap-secrets.js';
import { apiKeyData, policyData } from '../../../platform/policy-data.js';
import type { PlatformError } from '../../../platform/errors.js';
import { JwksCache } from '../../tenancy/src/jwks.js';
import { TenancyPolicy } from '../../tenancy/src/policy.js';
import { verifyBearer } from '../../tenancy/src/verify.js';
import { TokenError } from '../../tenancy/src/errors.js';
import { envoyInput } from '../../../testing/support/corpus.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import {
  OTHER_REALM,
  issuerAt,
  platformContext,
  sharedKeycloak,
} from '../../../testing/real/keycloak.js';
import type { OpaServer } from '../../../testing/real/opa.js';
import { freePort, startOpa } from '../../../testing/real/opa.js';
import { KeycloakAdmin } from '../src/realm-apply.js';
import { createPerson } from '../../../testing/support/keycloak-people.js';
import { fetchToken } from '../src/tokens.js';
import type { TokenRequest } from '../src/tokens.js';

const ctx = platformContext();
const REALM = ctx.config.identity.realm;
const TENANTS = ctx.config.tenants.map((t) => t.name);
const [A, B] = TENANTS as [string, string];
/** A device API key of each tenant, in the policy's key data. */
const KEY_OF: Record<string, string> = { [A]: `${A}-k3y`, [B]: `${B}-k3y` };
const DEVICE_KEYS = apiKeyData(
  Object.entries(KEY_OF).map(([tenant, key]) => ({ route: '/iota-south', key, tenant })),
);
const KINDS = Object.keys(MACHINE_CLIENTS) as MachineKind[];

let kc: KeycloakServer;
let opa: OpaServer;
let policy: TenancyPolicy;
let jwks: JwksCache;
let issuer: string;
/** A token of 5 s lifetime, fetched first and judged last, once it has expired. */
let shortLived: { token: string; exp: number };

/** Policy data of the platform, pointed at the test Keycloak. */
function testPolicyData() {
  return {
    ...policyData(ctx),
    issuer,
    jwks_uri: `${issuer}/protocol/openid-connect/certs`,
  };
}

const machine = (tenant: string, kind: MachineKind, realm = REALM): TokenRequest => {
  const clientId = machineClientId(tenant, kind);
  return {
    keycloakUrl: kc.url,
    realm,
    clientId,
    clientSecret: kc.values[secretEnvName('client', clientId)]!,
  };
};
const demo = (username: string, via = machine(A, 'scenarios')): TokenRequest => ({
  ...via,
  user: { username, password: kc.values[secretEnvName('user', username)]! },
});
/** A claim's values in order, for order-insensitive comparison (none: empty). */
const sorted = (claim: unknown): string[] => [...((claim as string[] | undefined) ?? [])].sort();

beforeAll(async () => {
  kc = await sharedKeycloak();
  issuer = issuerAt(kc, REALM);
  shortLived = await shortLivedToken();
  jwks = new JwksCache({ url: `${issuer}/protocol/openid-connect/certs` });
  policy = await TenancyPolicy.load({ config: testPolicyData() });
  policy.setApiKeys(DEVICE_KEYS);
  // OPA fetches the realm's keys from Keycloak itself, as in the cluster.
  opa = await startOpa({ kitt4sme: { config: testPolicyData(), apikeys: DEVICE_KEYS } });
}, 300_000);
afterAll(async () => {
  await opa?.stop();
});

/**
 * A real token that expires soon: one device client's lifetime is cut to 5 s for one token,
 * then restored (its own lifetime test runs later and sees the realm's).
 */
async function shortLivedToken(): Promise<{ token: string; exp: number }> {
  const admin = new KeycloakAdmin(
    { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
    REALM,
  );
  await admin.authenticate();
  const clientId = machineClientId(B, 'devices');
  const client = (await admin.findClient(clientId)) as Record<string, any>;
  const put = (attrs: Record<string, string>) =>
    admin.call('PUT', `/${REALM}/clients/${client!.id}`, {
      ...client,
      attributes: { ...client!.attributes, ...attrs },
    });
  await put({ 'access.token.lifespan': '5' });
  try {
    const t = await fetchToken(machine(B, 'devices'));
    return { token: t.accessToken, exp: t.claims.exp as number };
  } finally {
    await put({ 'access.token.lifespan': '' });
  }
}

describe('client-credentials tokens of the machine clients', () => {
  it.each(TENANTS.flatMap((t) => KINDS.map((k) => [t, k] as const)))(
    '%s %s: exactly its tenant, its roles, both API audiences, a short lifetime',
    async (tenant, kind) => {
      const t = await fetchToken(machine(tenant, kind));
      const c = t.claims;
      expect(c.iss).toBe(issuer);
      expect(c.typ).toBe('Bearer');
      expect(c.azp).toBe(machineClientId(tenant, kind));
      expect(c.tenants).toEqual([tenant]);
      expect(sorted(c.roles)).toEqual(
        sorted(MACHINE_CLIENTS[kind].roles.map((r) => scopedRole(tenant, r))),
      );
      expect([...(c.aud as string[])].sort()).toEqual([...API_AUDIENCES].sort());
      expect((c.exp as number) - (c.iat as number)).toBe(LIFETIMES.accessToken);
      // expires_in counts from the response, a second or two after iat on a busy machine.
      expect(t.expiresIn).toBeGreaterThan(LIFETIMES.accessToken - 10);
      expect(t.expiresIn).toBeLessThanOrEqual(LIFETIMES.accessToken);
    },
  );
});

describe('password-grant tokens of the demo users', () => {
  it.each(TENANTS)(
    '%s-demo gets exactly its own tenant, whichever client it uses, and its roles only through its own',
    async (t) => {
      for (const via of TENANTS) {
        const tok = await fetchToken(demo(`${t}-demo`, machine(via, 'scenarios')));
        // Three role groups of one tenant: the tenant once, inherited from the tenant group.
        expect(tok.claims.tenants).toEqual([t]);
        // Another tenant's client names only that tenant's roles: none of the demo user's.
        expect(sorted(tok.claims.roles)).toEqual(
          via === t ? sorted(DEMO_TENANT_ROLES.map((r) => scopedRole(t, r))) : [],
        );
        // The ID token carries the tenant set too, for web applications.
        expect(tok.idToken).toBeDefined();
      }
    },
  );

  it('platform-admin through a tenant client gets no tenant and none of its roles', async () => {
    // The scenario client's role scope is its own roles: a person's platform-admin role never
    // reaches a token minted through a tenant's client.
    const tok = await fetchToken(demo('platform-admin'));
    expect(tok.claims.tenants).toBeUndefined();
    expect(tok.claims.roles ?? []).toEqual([]);
    const d = await judge(tok.accessToken, 'GET', '/orion/v2/entities', A);
    expect(d.opa).toMatchObject({ allowed: false, http_status: 403 });
  });

  it('never puts Keycloak-internal roles or audiences into a token', async () => {
    const tok = await fetchToken(demo(`${A}-demo`));
    expect(tok.claims).not.toHaveProperty('realm_access');
    expect(tok.claims).not.toHaveProperty('resource_access');
    expect(tok.claims.aud).not.toContain('account');
  });
});

describe('tenant-scoped roles of a person, from role-group memberships', () => {
  let admin: KeycloakAdmin;
  const password = randomPassword();
  /** Ids of the people made here, by username. */
  const ids = new Map<string, string>();

  /** A person made through the admin API, in the role groups `/tenants/<tenant>/<role>`. */
  async function person(username: string, roles: [string, TenantRole][]): Promise<void> {
    ids.set(username, await createPerson(admin, REALM, { username, roles }, password));
  }
  const login = (username: string, via: string) => ({
    ...machine(via, 'scenarios'),
    user: { username, password },
  });
  /**
   * The access token a client would issue to a user, as Keycloak computes it (the admin
   * console's "evaluate" tab): its mappers and role scope, for clients a test cannot log in
   * to without a browser (services/identity/test/browser-login.test.ts logs in to the console).
   */
  async function exampleToken(clientId: string, username: string): Promise<Record<string, any>> {
    const client = (await admin.findClient(clientId))!;
    return (await admin.call<Record<string, any>>(
      'GET',
      `/${REALM}/clients/${client.id}/evaluate-scopes/generate-example-access-token?scope=openid&userId=${ids.get(username)}`,
    ))!;
  }

  beforeAll(async () => {
    admin = new KeycloakAdmin(
      { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
      REALM,
    );
    await admin.authenticate();
    await person('two-tenants', [
      [A, 'tenant-admin'],
      [B, 'viewer'],
    ]);
    await person('one-role', [[A, 'viewer']]);
  });

  it('a tenant-admin of A who is viewer of B: exactly A:tenant-admin and B:viewer, both tenants', async () => {
    for (const clientId of [CONSOLE_CLIENT, ...Object.values(SSO_CLIENTS)]) {
      const c = await exampleToken(clientId, 'two-tenants');
      expect(sorted(c.roles)).toEqual(sorted([`${A}:tenant-admin`, `${B}:viewer`]));
      expect(sorted(c.tenants)).toEqual(sorted([A, B]));
      expect(c).not.toHaveProperty('realm_access');
    }
  });

  it("through a tenant's machine client: both tenants, only that tenant's roles the client names", async () => {
    const viaA = (await fetchToken(login('two-tenants', A))).claims;
    expect(sorted(viaA.tenants)).toEqual(sorted([A, B]));
    expect(viaA.roles).toEqual([`${A}:tenant-admin`]);
    const viaB = (await fetchToken(login('two-tenants', B))).claims;
    expect(sorted(viaB.tenants)).toEqual(sorted([A, B]));
    expect(viaB.roles).toEqual([`${B}:viewer`]);
  });

  it("a member of one role group only gets the tenant from the tenant group's attribute", async () => {
    const c = (await fetchToken(login('one-role', A))).claims;
    expect(c.tenants).toEqual([A]);
    expect(c.roles).toEqual([`${A}:viewer`]);
    const web = await exampleToken(CONSOLE_CLIENT, 'one-role');
    expect(web.tenants).toEqual([A]);
    expect(web.roles).toEqual([`${A}:viewer`]);
  });

  it('never a bare tenant role: platform-admin stays bare, every other role is scoped', async () => {
    const [platformAdmin] = (await admin.call<Record<string, any>[]>(
      'GET',
      `/${REALM}/users?username=platform-admin&exact=true`,
    ))!;
    ids.set('platform-admin', String(platformAdmin!.id));
    const c = await exampleToken(CONSOLE_CLIENT, 'platform-admin');
    expect(c.roles).toEqual(['platform-admin']);
    expect(c).not.toHaveProperty('tenants');
    const demoUser = (await fetchToken(demo(`${A}-demo`))).claims;
    for (const r of [...sorted(demoUser.roles), ...sorted(c.roles)])
      expect(TENANT_ROLES as readonly string[]).not.toContain(r);
  });
});

describe('refusals by Keycloak', () => {
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'no error',
      (e: PlatformError) => e.code,
    );

  it('a wrong client secret', async () => {
    expect(await code(fetchToken({ ...machine(A, 'scenarios'), clientSecret: 'wrong' }))).toBe(
      'ERR_CREDENTIALS_REJECTED',
    );
  });

  it('a wrong password, and a user of another tenant client without its password', async () => {
    const bad = demo(`${A}-demo`);
    expect(await code(fetchToken({ ...bad, user: { ...bad.user!, password: 'wrong' } }))).toBe(
      'ERR_CREDENTIALS_REJECTED',
    );
  });

  it('the password grant on a device client (only scenario clients have it)', async () => {
    expect(await code(fetchToken(demo(`${A}-demo`, machine(A, 'devices'))))).toBe(
      'ERR_CREDENTIALS_REJECTED',
    );
  });

  it('client credentials of a web application (no service account)', async () => {
    expect(
      await code(
        fetchToken({
          keycloakUrl: kc.url,
          realm: REALM,
          clientId: 'grafana',
          clientSecret: kc.values[secretEnvName('client', 'grafana')]!,
        }),
      ),
    ).toBe('ERR_CREDENTIALS_REJECTED');
  });

  it('plain http to a host that is not loopback (the secret never leaves)', async () => {
    expect(
      await code(
        fetchToken({ ...machine(A, 'scenarios'), keycloakUrl: 'http://keycloak.example/auth' }),
      ),
    ).toBe('ERR_INSECURE_URL');
  });

  it('a realm that does not exist, and a Keycloak that is not there', async () => {
    expect(await code(fetchToken({ ...machine(A, 'scenarios'), realm: 'nope' }))).toBe(
      'ERR_REALM_NOT_FOUND',
    );
    const port = await freePort();
    expect(
      await code(
        fetchToken({ ...machine(A, 'scenarios'), keycloakUrl: `http://127.0.0.1:${port}/auth` }),
      ),
    ).toBe('ERR_KEYCLOAK_UNREACHABLE');
  });
});

/** Asks the real OPA and the wasm policy the same question; returns both decisions. */
async function judge(token: string, method: string, path: string, tenant: string) {
  const input = envoyInput(method, path, {
    authorization: `Bearer ${token}`,
    'fiware-service': tenant,
  });
  const fromOpa = (await opa.query('kitt4sme/authz/decision', input)) as {
    allowed: boolean;
    http_status?: number;
    headers?: Record<string, string>;
  };
  const fromWasm = await policy.decide(input, await jwks.keys());
  return { opa: fromOpa, wasm: fromWasm };
}

describe('Keycloak tokens against the TypeScript helpers and the real OPA', () => {
  it.each(TENANTS)(
    'a %s scenario token reads its own tenant in both engines and passes verifyBearer',
    async (t) => {
      const tok = await fetchToken(machine(t, 'scenarios'));
      const claims = await verifyBearer(tok.accessToken, {
        jwks,
        issuer,
        audiences: API_AUDIENCES,
      });
      expect(claims.tenants).toEqual([t]);
      const d = await judge(tok.accessToken, 'GET', '/orion/v2/entities', t);
      expect(d.opa).toMatchObject({ allowed: true });
      expect(d.opa.headers?.[TENANT_HEADER]).toBe(t);
      expect(d.wasm).toMatchObject({ allowed: true });
      expect(d.wasm.headers?.[TENANT_HEADER]).toBe(t);
    },
  );

  it("refuses a tenant's token for the other tenant (403) in both engines", async () => {
    const tok = await fetchToken(machine(A, 'scenarios'));
    const d = await judge(tok.accessToken, 'GET', '/orion/v2/entities', B);
    expect(d.opa).toMatchObject({ allowed: false, http_status: 403 });
    expect(d.wasm).toMatchObject({ allowed: false, http_status: 403 });
  });

  it('lets a device token send measurements but not read Orion', async () => {
    const tok = await fetchToken(machine(A, 'devices'));
    const south = await judge(
      tok.accessToken,
      'POST',
      `/iota-south/iot/d?k=${KEY_OF[A]}&i=foodev`,
      A,
    );
    expect(south.opa).toMatchObject({ allowed: true });
    expect(south.wasm).toMatchObject({ allowed: true });
    const north = await judge(tok.accessToken, 'GET', '/orion/v2/entities', A);
    expect(north.opa).toMatchObject({ allowed: false, http_status: 403 });
    expect(north.wasm).toMatchObject({ allowed: false, http_status: 403 });
  });

  it('refuses a token of another realm (401), with the same client and tenant', async () => {
    const tok = await fetchToken(machine(A, 'scenarios', OTHER_REALM));
    expect(tok.claims.tenants).toEqual([A]);
    const err = await verifyBearer(tok.accessToken, {
      jwks,
      issuer,
      audiences: API_AUDIENCES,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenError);
    const d = await judge(tok.accessToken, 'GET', '/orion/v2/entities', A);
    expect(d.opa).toMatchObject({ allowed: false, http_status: 401 });
    expect(d.wasm).toMatchObject({ allowed: false, http_status: 401 });
  });

  it('refuses a tampered token (401): claims rewritten to another tenant', async () => {
    const tok = await fetchToken(machine(A, 'scenarios'));
    const [h, p, s] = tok.accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    claims.tenants = [B];
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    await expect(
      verifyBearer(forged, { jwks, issuer, audiences: API_AUDIENCES }),
    ).rejects.toMatchObject({ problem: 'invalid-signature' });
    const d = await judge(forged, 'GET', '/orion/v2/entities', B);
    expect(d.opa).toMatchObject({ allowed: false, http_status: 401 });
    expect(d.wasm).toMatchObject({ allowed: false, http_status: 401 });
  });

  it('refuses a token with its signature stripped (401)', async () => {
    const tok = await fetchToken(machine(A, 'scenarios'));
    const stripped = tok.accessToken.replace(/\.[^.]*$/, '.');
    const d = await judge(stripped, 'GET', '/orion/v2/entities', A);
    expect(d.opa).toMatchObject({ allowed: false, http_status: 401 });
    expect(d.wasm).toMatchObject({ allowed: false, http_status: 401 });
  });
});

describe('an expired Keycloak token', () => {
  it('is refused (401) by verifyBearer, the wasm policy and OPA once past the 30 s skew', async () => {
    expect(shortLived.exp).toBeLessThan(Date.now() / 1000 + 10);
    const wait = (shortLived.exp + CLOCK_SKEW_SECONDS + 1) * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await expect(
      verifyBearer(shortLived.token, { jwks, issuer, audiences: API_AUDIENCES }),
    ).rejects.toMatchObject({ problem: 'expired' });
    const d = await judge(shortLived.token, 'POST', `/iota-south/iot/d?k=${KEY_OF[B]}&i=foodev`, B);
    expect(d.opa).toMatchObject({ allowed: false, http_status: 401 });
    expect(d.wasm).toMatchObject({ allowed: false, http_status: 401 });
  }, 90_000);
});
