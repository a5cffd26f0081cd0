/**
 * Realm changes after the first start, on the shared real Keycloak, in a realm of their own:
 * `applyRealm` creates a missing realm, is idempotent, adds a tenant with its role groups,
 * clients and service accounts, creates a missing role group, changes settings, repairs drift
 * in what it owns, moves a realm from before roles were scoped to scoped roles, and never
 * touches what people own (their passwords and groups).
 */
import { TENANTS_GROUP, machineClientId, secretEnvName } from '../../../platform/identity.js';
import { buildRealm, resolveRealm } from '../../../platform/realm.js';
import type { RealmDefinition, Rep } from '../../../platform/realm.js';
import { PLATFORM_ROLES, ROLES, ROLE_DESCRIPTIONS, TENANT_ROLES } from '../../../platform/roles.js';
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
function definition(extraTenant?: string, realm = REALM): RealmDefinition {
  const def = buildRealm(
    platformContext((c) => ({
      ...c,
      identity: { ...c.identity, realm },
      tenants: extraTenant ? [...c.tenants, { name: extraTenant }] : c.tenants,
    })),
  );
  for (const p of def.placeholders) values[p.env] ??= randomPassword();
  return def;
}

const token = (
  tenant: string,
  user?: { username: string; password: string },
  realm = REALM,
  kind: 'scenarios' | 'devices' = 'scenarios',
) => {
  const clientId = machineClientId(tenant, kind);
  return fetchToken({
    keycloakUrl: kc.url,
    realm,
    clientId,
    clientSecret: values[secretEnvName('client', clientId)]!,
    ...(user ? { user } : {}),
  });
};
const demoLogin = (tenant: string) => ({
  username: `${tenant}-demo`,
  password: values[secretEnvName('user', `${tenant}-demo`)]!,
});
/** A claim's values in order (none: empty). */
const sorted = (claim: unknown): string[] => [...((claim as string[] | undefined) ?? [])].sort();
const scoped = (tenant: string, roles = ['operator', 'viewer', 'tenant-admin']) =>
  roles.map((r) => `${tenant}:${r}`).sort();

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
        ...TENANT_ROLES.map((r) => `group /tenants/acme_works/${r}: created`),
        'client acme_works-scenarios: created',
        'client acme_works-devices: created',
        'user acme_works-demo: created',
      ]),
    );
    const acme = await token('acme_works');
    expect(acme.claims.tenants).toEqual(['acme_works']);
    expect(sorted(acme.claims.roles)).toEqual(scoped('acme_works'));
    // The new tenant's demo user gets its roles from its role groups.
    const person = await token('acme_works', demoLogin('acme_works'));
    expect(person.claims.tenants).toEqual(['acme_works']);
    expect(sorted(person.claims.roles)).toEqual(scoped('acme_works'));
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

  it('creates a missing role group under an existing tenant, with its role, and leaves people out of it', async () => {
    const def = definition('acme_works');
    (def.realm as Record<string, unknown>).accessTokenLifespan = 600;
    const admin = new KeycloakAdmin(login, REALM);
    await admin.authenticate();
    const gone = (await admin.findGroup('/tenants/manufracture/viewer'))!;
    await admin.call('DELETE', `/${REALM}/groups/${gone.id}`);
    const before = await token('manufracture', demoLogin('manufracture'));
    expect(sorted(before.claims.roles)).toEqual(
      scoped('manufracture', ['operator', 'tenant-admin']),
    );

    const res = await applyRealm(login, resolveRealm(def, values));
    expect(res.changes).toEqual(['group /tenants/manufracture/viewer: created']);
    const group = (await admin.findGroup('/tenants/manufracture/viewer'))!;
    expect(group.parentId).toBe((await admin.findGroup('/tenants/manufracture'))!.id);
    const roles = await admin.call<Rep[]>(
      'GET',
      `/${REALM}/groups/${group.id}/role-mappings/realm`,
    );
    expect(roles!.map((r) => r.name)).toEqual(['manufracture:viewer']);
    // Memberships are people's: the demo user is back in the group only when an admin says so.
    expect(sorted((await token('manufracture', demoLogin('manufracture'))).claims.roles)).toEqual(
      scoped('manufracture', ['operator', 'tenant-admin']),
    );
    const [user] = (await admin.call<Rep[]>(
      'GET',
      `/${REALM}/users?username=manufracture-demo&exact=true`,
    ))!;
    await admin.call('PUT', `/${REALM}/users/${String(user!.id)}/groups/${group.id}`);
    const after = await token('manufracture', demoLogin('manufracture'));
    expect(after.claims.tenants).toEqual(['manufracture']);
    expect(sorted(after.claims.roles)).toEqual(scoped('manufracture'));
    expect((await applyRealm(login, resolveRealm(def, values))).changes).toEqual([]);
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

/**
 * A resolved realm as the definition made it before tenant roles were scoped: the bare realm
 * roles, tenant groups without role groups, machine clients and service accounts with bare
 * roles, and people in their tenant group holding bare roles themselves.
 */
function beforeScopedRoles(resolved: Rep): Rep {
  const r = structuredClone(resolved) as Record<string, any>;
  const bare = (roles: string[]) => [...new Set(roles.map((x) => x.split(':').pop()!))];
  r.roles = { realm: ROLES.map((name) => ({ name, description: ROLE_DESCRIPTIONS[name] })) };
  for (const g of r.groups.find((x: Rep) => x.name === TENANTS_GROUP).subGroups) g.subGroups = [];
  r.scopeMappings = r.scopeMappings.map((m: Rep) => ({ ...m, roles: bare(m.roles as string[]) }));
  r.users = r.users.map((u: Record<string, any>) => {
    if (u.serviceAccountClientId) return { ...u, realmRoles: bare(u.realmRoles) };
    const tenantGroups = (u.groups as string[]).filter((g) => g.startsWith(`/${TENANTS_GROUP}/`));
    return {
      ...u,
      groups: [
        ...new Set(tenantGroups.map((g) => g.split('/').slice(0, 3).join('/'))),
        ...(u.groups as string[]).filter((g) => !tenantGroups.includes(g)),
      ],
      realmRoles: tenantGroups.length > 0 ? ['operator', 'viewer', 'tenant-admin'] : [],
    };
  });
  return r;
}

describe('applyRealm on a realm from before roles were scoped', () => {
  const FLAT = 'kitt4sme-flat';

  it('moves clients and service accounts to scoped roles; bare roles left on people never reach a token', async () => {
    const def = definition(undefined, FLAT);
    const resolved = resolveRealm(def, values);
    expect((await applyRealm(login, beforeScopedRoles(resolved))).created).toBe(true);
    // As it was: bare roles in tokens.
    const old = await token('manufracture', demoLogin('manufracture'), FLAT);
    expect(sorted(old.claims.roles)).toEqual(['operator', 'tenant-admin', 'viewer']);

    const res = await applyRealm(login, resolved);
    const tenants = ['manufracture', 'smithereens'];
    expect(res.changes).toEqual(
      expect.arrayContaining([
        ...tenants.flatMap((t) =>
          TENANT_ROLES.map((r) =>
            expect.stringMatching(new RegExp(`^[a-z_]+ ${t}:${r}: created$`)),
          ),
        ),
        ...tenants.flatMap((t) => TENANT_ROLES.map((r) => `group /tenants/${t}/${r}: created`)),
        'client manufracture-devices: role scope + manufracture:device',
        'client manufracture-devices: role scope - device',
        'service account manufracture-devices: roles + manufracture:device',
        'service account manufracture-devices: roles - device',
        // Every client that named the bare roles stops naming them.
        expect.stringMatching(/^client kitt4sme-console: role scope - ([a-z-]+(, |$)){4}/),
        expect.stringMatching(/^client grafana: role scope - ([a-z-]+(, |$)){4}/),
      ]),
    );
    // Machine clients: their own scoped roles only.
    for (const t of tenants) {
      expect(sorted((await token(t, undefined, FLAT)).claims.roles)).toEqual(scoped(t));
      expect((await token(t, undefined, FLAT, 'devices')).claims.roles).toEqual([`${t}:device`]);
    }
    // A person of the old realm keeps their tenant group and bare roles, which no client names.
    const person = await token('manufracture', demoLogin('manufracture'), FLAT);
    expect(person.claims.tenants).toEqual(['manufracture']);
    expect(person.claims.roles ?? []).toEqual([]);
    const admin = new KeycloakAdmin(login, FLAT);
    await admin.authenticate();
    const [user] = (await admin.call<Rep[]>(
      'GET',
      `/${FLAT}/users?username=manufracture-demo&exact=true`,
    ))!;
    const direct = await admin.call<Rep[]>(
      'GET',
      `/${FLAT}/users/${String(user!.id)}/role-mappings/realm`,
    );
    expect(direct!.map((r) => r.name)).toEqual(
      expect.arrayContaining(['operator', 'viewer', 'tenant-admin']),
    );
    // Nothing deleted: the bare roles are still realm roles.
    const realmRoles = (await admin.call<Rep[]>('GET', `/${FLAT}/roles`))!.map((r) => r.name);
    expect(realmRoles).toEqual(expect.arrayContaining([...TENANT_ROLES, ...PLATFORM_ROLES]));
    // An admin puts the person into a role group: a scoped role.
    const g = (await admin.findGroup('/tenants/manufracture/operator'))!;
    await admin.call('PUT', `/${FLAT}/users/${String(user!.id)}/groups/${String(g.id)}`);
    const moved = await token('manufracture', demoLogin('manufracture'), FLAT);
    expect(moved.claims.roles).toEqual(['manufracture:operator']);
    expect((await applyRealm(login, resolved)).changes).toEqual([]);
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
