/**
 * Realm changes after the first start, on the shared real Keycloak, in a realm of their own:
 * `applyRealm` creates a missing realm, is idempotent, adds a tenant with its clients and
 * service accounts, changes settings, repairs drift in what it owns, and never touches what
 * people own (their passwords).
 */
import { machineClientId, secretEnvName } from '../../../platform/identity.js';
import { buildRealm, resolveRealm } from '../../../platform/realm.js';
import type { RealmDefinition } from '../../../platform/realm.js';
import { randomPassword } from '../../../platform/bootstrap-secrets.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { platformContext, sharedKeycloak } from '../../../testing/real/keycloak.js';
import { KeycloakAdmin, applyRealm } from '../src/realm-apply.js';
import type { AdminLogin } from '../src/realm-apply.js';
import { fetchToken } from '../src/tokens.js';

const REALM = 'kitt4sme-apply';
let kc: KeycloakServer;
let login: AdminLogin;
const values: Record<string, string> = {};

/** The realm of the platform config under another name, optionally with another tenant. */
function definition(extraTenant?: string): RealmDefinition {
  const def = buildRealm(
    platformContext((c) => ({
      ...c,
      identity: { ...c.identity, realm: REALM },
      tenants: extraTenant ? [...c.tenants, { name: extraTenant }] : c.tenants,
    })),
  );
  for (const p of def.placeholders) values[p.env] ??= randomPassword();
  return def;
}

const token = (tenant: string, user?: { username: string; password: string }) => {
  const clientId = machineClientId(tenant, 'scenarios');
  return fetchToken({
    keycloakUrl: kc.url,
    realm: REALM,
    clientId,
    clientSecret: values[secretEnvName('client', clientId)]!,
    ...(user ? { user } : {}),
  });
};

beforeAll(async () => {
  kc = await sharedKeycloak();
  login = { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword };
}, 300_000);

describe('applyRealm on a running Keycloak', () => {
  it('creates a missing realm whose clients work at once', async () => {
    const res = await applyRealm(login, resolveRealm(definition(), values));
    expect(res).toMatchObject({ realm: REALM, created: true });
    expect((await token('manufracture')).claims.tenants).toEqual(['manufracture']);
  });

  it('is idempotent: the same definition again changes nothing', async () => {
    const res = await applyRealm(login, resolveRealm(definition(), values));
    expect(res).toEqual({ realm: REALM, created: false, changes: [] });
  });

  it('adds a tenant (group, clients, service accounts) and changes settings, keeping the rest', async () => {
    const def = definition('acme_works');
    (def.realm as Record<string, unknown>).accessTokenLifespan = 600;
    const lines: string[] = [];
    const res = await applyRealm(login, resolveRealm(def, values), (l) => lines.push(l));
    expect(res.created).toBe(false);
    expect(res.changes).toEqual(lines);
    expect(res.changes).toEqual(
      expect.arrayContaining([
        'realm kitt4sme-apply: settings accessTokenLifespan',
        'group /tenants/acme_works: created',
        'client acme_works-scenarios: created',
        'client acme_works-devices: created',
        'user acme_works-demo: created',
      ]),
    );
    const acme = await token('acme_works');
    expect(acme.claims.tenants).toEqual(['acme_works']);
    expect([...(acme.claims.roles as string[])].sort()).toEqual([
      'operator',
      'tenant-admin',
      'viewer',
    ]);
    expect((acme.claims.exp as number) - (acme.claims.iat as number)).toBe(600);
    expect((await token('manufracture')).claims.tenants).toEqual(['manufracture']);
    // And again: in sync.
    expect((await applyRealm(login, resolveRealm(def, values))).changes).toEqual([]);
  });

  it('repairs drift in what it owns: a deleted mapper, a foreign tenant on a service account or a group', async () => {
    const def = definition('acme_works');
    (def.realm as Record<string, unknown>).accessTokenLifespan = 600;
    const admin = new KeycloakAdmin(login, REALM);
    await admin.authenticate();
    const clientId = machineClientId('manufracture', 'scenarios');
    const client = (await admin.findClient(clientId)) as Record<string, any>;
    const mappers = (await admin.call<Record<string, any>[]>(
      'GET',
      `/${REALM}/clients/${client!.id}/protocol-mappers/models`,
    ))!;
    const tenants = mappers.find((m) => m.name === 'tenants')!;
    await admin.call(
      'DELETE',
      `/${REALM}/clients/${client!.id}/protocol-mappers/models/${tenants.id}`,
    );
    const sa = (await admin.call<Record<string, any>>(
      'GET',
      `/${REALM}/clients/${client!.id}/service-account-user`,
    ))!;
    const foreign = (await admin.findGroup('/tenants/smithereens'))!;
    await admin.call('PUT', `/${REALM}/users/${sa.id}/groups/${foreign.id}`);
    // And someone widens a tenant group: its members would get another tenant too.
    const acmeGroup = (await admin.findGroup('/tenants/acme_works'))!;
    await admin.call('PUT', `/${REALM}/groups/${acmeGroup.id}`, {
      ...acmeGroup,
      attributes: { 'kitt4sme-tenant': ['acme_works', 'smithereens'] },
    });
    expect((await token('manufracture')).claims.tenants).toBeUndefined();
    expect([...((await token('acme_works')).claims.tenants as string[])].sort()).toEqual([
      'acme_works',
      'smithereens',
    ]);

    const res = await applyRealm(login, resolveRealm(def, values));
    expect(res.changes).toEqual([
      'group /tenants/acme_works: attributes',
      `client ${clientId}: mapper tenants set`,
      `service account ${clientId}: group - /tenants/smithereens`,
    ]);
    expect((await token('manufracture')).claims.tenants).toEqual(['manufracture']);
    expect((await token('acme_works')).claims.tenants).toEqual(['acme_works']);
  });

  it("never resets what people own: a demo user's changed password survives", async () => {
    const admin = new KeycloakAdmin(login, REALM);
    await admin.authenticate();
    const [user] = (await admin.call<Record<string, any>[]>(
      'GET',
      `/${REALM}/users?username=smithereens-demo&exact=true`,
    ))!;
    const mine = `${randomPassword()}-chosen-by-the-user`;
    await admin.call('PUT', `/${REALM}/users/${user!.id}/reset-password`, {
      type: 'password',
      value: mine,
      temporary: false,
    });
    const def = definition('acme_works');
    (def.realm as Record<string, unknown>).accessTokenLifespan = 600;
    expect((await applyRealm(login, resolveRealm(def, values))).changes).toEqual([]);
    const t = await token('manufracture', { username: 'smithereens-demo', password: mine });
    expect(t.claims.tenants).toEqual(['smithereens']);
  });

  it('refuses with a clear error: a wrong admin password, a definition with a placeholder left', async () => {
    await expect(
      applyRealm({ ...login, password: 'wrong' }, resolveRealm(definition(), values)),
    ).rejects.toMatchObject({ code: 'ERR_CREDENTIALS_REJECTED' });
    expect(() => resolveRealm(definition(), {})).toThrow(
      /no value for KITT4SME_CLIENT_SECRET_\w+ \(the client secret of [\w-]+\)/,
    );
  });
});

describe('applyRealm and authentication flows', () => {
  it('refuses a realm that lacks a flow of the definition, changing nothing', async () => {
    const name = 'kitt4sme-noflow';
    const def = buildRealm(
      platformContext((c) => ({ ...c, identity: { ...c.identity, realm: name } })),
    );
    for (const p of def.placeholders) values[p.env] ??= randomPassword();
    const resolved = resolveRealm(def, values) as Record<string, any>;
    // A realm as an older definition made it: no flows, Kiali unbound.
    const { authenticationFlows: _f, authenticatorConfig: _c, ...older } = resolved;
    older.clients = older.clients.map(({ authenticationFlowBindingOverrides: _o, ...c }: any) => c);
    expect((await applyRealm(login, older)).created).toBe(true);
    const before = new KeycloakAdmin(login, name);
    await before.authenticate();
    const settings = await before.call<Record<string, any>>('GET', `/${name}`);
    await expect(
      applyRealm(login, { ...resolved, accessTokenLifespan: 123 }),
    ).rejects.toMatchObject({
      code: 'ERR_REALM_APPLY',
      message: expect.stringContaining(
        'lacks the authentication flow "platform-admins-only browser"',
      ),
    });
    const after = await before.call<Record<string, any>>('GET', `/${name}`);
    expect(after!.accessTokenLifespan).toBe(settings!.accessTokenLifespan);
  });
});
