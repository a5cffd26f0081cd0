/**
 * The realm as code, as synthesized into deploy/: what Keycloak imports and how the web
 * applications are wired to it. (What Keycloak then issues is tested against a real Keycloak
 * in services/identity/test.)
 */
import { parse } from 'yaml';

import {
  BRUTE_FORCE,
  CONSOLE_CLIENT,
  LIFETIMES,
  PASSWORD_POLICY,
  PLATFORM_ADMINS_GROUP,
  PLATFORM_OPERATORS_GROUP,
  SSO_CLIENTS,
  TENANT_ATTRIBUTE,
} from '../../platform/identity.js';
import {
  PLATFORM_ROLES,
  ROLE_DESCRIPTIONS,
  TENANT_ROLES,
  scopedRole,
} from '../../platform/roles.js';
import {
  ADMINS_ONLY_FLOW,
  assertOnlyPlaceholders,
  buildRealm,
  flowId,
  resolveRealm,
} from '../../platform/realm.js';
import { KEYCLOAK_REALM_SECRET } from '../../platform/secrets.js';
import { loadPlatformContext } from '../../platform/context.js';
import { configInput, find, synth } from '../../testing/support/synth.js';

const out = synth();
const ctx = out.platform.context;
const configMap = find(out, 'ConfigMap', 'keycloak-realm');
const realm = JSON.parse(configMap.data['kitt4sme.json']) as Record<string, any>;
const clients = realm.clients as Record<string, any>[];
const client = (id: string) => clients.find((c) => c.clientId === id)!;
const keycloak = find(out, 'Deployment', 'keycloak').spec.template.spec;
const kcContainer = keycloak.containers.find((c: any) => c.name === 'keycloak');
/** The realm roles a client's tokens may carry. */
const scope = (id: string) =>
  (realm.scopeMappings as { client: string; roles: string[] }[]).find((s) => s.client === id)!
    .roles;

describe('the realm Keycloak imports', () => {
  it('is the file synth writes, mounted where --import-realm reads, and imported at start', () => {
    expect(realm).toEqual(JSON.parse(JSON.stringify(buildRealm(ctx).realm)));
    expect(kcContainer.args).toEqual(['start', '--import-realm']);
    expect(kcContainer.volumeMounts).toContainEqual({
      name: 'realm',
      mountPath: '/opt/keycloak/data/import',
      readOnly: true,
    });
  });

  it('holds no secret: every client secret and password is a ${...} placeholder', () => {
    const text = configMap.data['kitt4sme.json'] as string;
    const secrets = clients.filter((c) => 'secret' in c).map((c) => c.secret);
    const passwords = (realm.users as any[]).flatMap((u) =>
      (u.credentials ?? []).map((c: any) => c.value),
    );
    expect(secrets.length).toBeGreaterThan(0);
    expect(passwords.length).toBeGreaterThan(0);
    for (const v of [...secrets, ...passwords]) expect(v).toMatch(/^\$\{KITT4SME_[A-Z0-9_]+\}$/);
    expect(text).not.toMatch(/"(secret|value)": "(?!\$\{)/);
  });

  it('gets every placeholder from the keycloak-realm Secret, never optional (fail closed)', () => {
    const placeholders = buildRealm(ctx)
      .placeholders.map((p) => p.env)
      .sort();
    const wired = (kcContainer.env as any[])
      .filter((e) => e.valueFrom?.secretKeyRef?.name === KEYCLOAK_REALM_SECRET)
      .map((e) => {
        expect(e.valueFrom.secretKeyRef.key).toBe(e.name);
        expect(e.valueFrom.secretKeyRef.optional).toBeUndefined();
        return e.name as string;
      })
      .sort();
    expect(wired).toEqual(placeholders);
  });

  it('resolves like Keycloak does, and names the first placeholder without a value', () => {
    const def = buildRealm(ctx);
    const values = Object.fromEntries(def.placeholders.map((p) => [p.env, `v"${p.env}`]));
    const resolved = resolveRealm(def, values) as any;
    expect(resolved.clients.find((c: any) => c.clientId === 'grafana').secret).toBe(
      'v"KITT4SME_CLIENT_SECRET_GRAFANA',
    );
    expect(JSON.stringify(resolved)).not.toContain('${');
    const { KITT4SME_PASSWORD_PLATFORM_ADMIN: _, ...partial } = values;
    expect(() => resolveRealm(def, partial)).toThrow(
      'no value for KITT4SME_PASSWORD_PLATFORM_ADMIN (the user password of platform-admin)',
    );
  });

  it('has short token lifetimes, brute-force protection and a password policy', () => {
    expect(realm).toMatchObject({
      accessTokenLifespan: LIFETIMES.accessToken,
      accessCodeLifespan: LIFETIMES.authorizationCode,
      ssoSessionIdleTimeout: LIFETIMES.ssoSessionIdle,
      revokeRefreshToken: true,
      refreshTokenMaxReuse: 0,
      bruteForceProtected: true,
      permanentLockout: false,
      ...BRUTE_FORCE,
      passwordPolicy: PASSWORD_POLICY,
      registrationAllowed: false,
      sslRequired: 'external',
    });
    expect(LIFETIMES.accessToken).toBeLessThanOrEqual(300);
  });

  /** Every role the realm defines: platform-admin, then each tenant's scoped roles. */
  const allRoles = [
    ...PLATFORM_ROLES,
    ...ctx.config.tenants.flatMap((t) => TENANT_ROLES.map((r) => `${t.name}:${r}`)),
  ];

  it('defines platform-admin bare and every tenant role once per tenant, as <tenant>:<role>', () => {
    expect(realm.roles.realm.map((r: any) => r.name)).toEqual(allRoles);
    expect(realm.roles.realm).toContainEqual({
      name: 'manufracture:viewer',
      description: `tenant manufracture: ${ROLE_DESCRIPTIONS.viewer}`,
    });
    // The bare tenant roles of realms from before are gone.
    for (const r of TENANT_ROLES)
      expect(realm.roles.realm.map((x: any) => x.name)).not.toContain(r);
  });

  it('gives every tenant a group carrying the tenant attribute, with a role group per tenant role', () => {
    const tenants = realm.groups.find((g: any) => g.name === 'tenants');
    expect(tenants.subGroups).toEqual(
      ctx.config.tenants.map((t) => ({
        name: t.name,
        path: `/tenants/${t.name}`,
        attributes: { [TENANT_ATTRIBUTE]: [t.name] },
        // No attribute of their own: they inherit the tenant group's (realm NOTE (1)).
        subGroups: TENANT_ROLES.map((r) => ({
          name: r,
          path: `/tenants/${t.name}/${r}`,
          realmRoles: [scopedRole(t.name, r)],
          subGroups: [],
        })),
      })),
    );
    expect(realm.groups.find((g: any) => g.name === PLATFORM_ADMINS_GROUP).realmRoles).toEqual([
      'platform-admin',
    ]);
  });

  it('gives demo users their roles by role-group membership only, platform-admin by its group', () => {
    const people = (realm.users as any[]).filter((u) => !u.serviceAccountClientId);
    for (const u of people) expect(u).not.toHaveProperty('realmRoles');
    for (const t of ctx.config.tenants)
      expect(people.find((u) => u.username === `${t.name}-demo`).groups).toEqual([
        `/tenants/${t.name}/operator`,
        `/tenants/${t.name}/viewer`,
        `/tenants/${t.name}/tenant-admin`,
      ]);
    expect(people.find((u) => u.username === 'platform-admin').groups).toEqual([
      `/${PLATFORM_ADMINS_GROUP}`,
    ]);
  });

  it('gives every tenant a scenario and a device client whose service account is in that tenant only', () => {
    for (const t of ctx.config.tenants) {
      for (const [kind, roles] of [
        ['scenarios', ['operator', 'viewer', 'tenant-admin']],
        ['devices', ['device']],
      ] as const) {
        const scoped = roles.map((r) => `${t.name}:${r}`);
        const id = `${t.name}-${kind}`;
        expect(client(id)).toMatchObject({
          publicClient: false,
          serviceAccountsEnabled: true,
          standardFlowEnabled: false,
          implicitFlowEnabled: false,
          directAccessGrantsEnabled: kind === 'scenarios',
          fullScopeAllowed: false,
        });
        expect(realm.users.find((u: any) => u.serviceAccountClientId === id)).toMatchObject({
          groups: [`/tenants/${t.name}`],
          realmRoles: scoped,
        });
        // Its tokens carry at most these, whoever logs in through it.
        expect(scope(id)).toEqual(scoped);
      }
    }
  });

  it('offers the password grant to no public or web client, and the implicit flow to none', () => {
    for (const c of clients) expect(c.implicitFlowEnabled).toBe(false);
    const password = clients.filter((c) => c.directAccessGrantsEnabled).map((c) => c.clientId);
    expect(password.sort()).toEqual(ctx.config.tenants.map((t) => `${t.name}-scenarios`).sort());
  });

  it("limits a machine client to its own tenant's roles, and lets the others carry every role", () => {
    expect(scope('manufracture-devices')).toEqual(['manufracture:device']);
    expect(scope('manufracture-scenarios')).toEqual([
      'manufracture:operator',
      'manufracture:viewer',
      'manufracture:tenant-admin',
    ]);
    for (const id of [CONSOLE_CLIENT, ...Object.values(SSO_CLIENTS)])
      expect(scope(id)).toEqual(allRoles);
    // Every client names only roles the realm defines: never a bare tenant role.
    const defined = new Set(allRoles);
    for (const s of realm.scopeMappings as { roles: string[] }[])
      for (const r of s.roles) expect(defined).toContain(r);
  });

  it('without demo users: no people, no passwords, and no password grant at all', () => {
    const input = configInput();
    const def = buildRealm(
      loadPlatformContext({
        config: { ...input, identity: { ...input.identity, demoUsers: false } },
      }),
    );
    const r = def.realm as any;
    expect(r.users.filter((u: any) => !u.serviceAccountClientId)).toEqual([]);
    expect(def.placeholders.filter((p) => p.kind === 'user-password')).toEqual([]);
    expect(r.clients.filter((c: any) => c.directAccessGrantsEnabled)).toEqual([]);
  });

  it('refuses to emit a realm in which Keycloak would expand anything but its placeholders', () => {
    // The config refuses "$" in display names (ERR_CONFIG_DISPLAY_NAME); this is the check
    // behind it, on the realm itself, should a later field let one through.
    const def = buildRealm(ctx);
    const evil = structuredClone(def.realm) as any;
    evil.groups[0].subGroups[0].attributes.note = ['${KC_DB_PASSWORD}'];
    expect(() => assertOnlyPlaceholders(evil, def.placeholders)).toThrow(
      'the realm would make Keycloak expand ${KC_DB_PASSWORD}',
    );
    expect(() => assertOnlyPlaceholders(def.realm, def.placeholders)).not.toThrow();
    expect(() => assertOnlyPlaceholders(def.realm, [])).toThrow(
      /would make Keycloak expand \$\{KITT4SME_/,
    );
  });

  it('makes the console a public client that must use PKCE S256', () => {
    expect(client(CONSOLE_CLIENT)).toMatchObject({
      publicClient: true,
      standardFlowEnabled: true,
      redirectUris: ['https://kitt4sme.localhost/console/*'],
    });
    expect(client(CONSOLE_CLIENT).attributes['pkce.code.challenge.method']).toBe('S256');
  });

  it('puts the API audiences and the claims the policy reads only into API clients', () => {
    const api = clients.filter(
      (c) => c.clientId === CONSOLE_CLIENT || /-(scenarios|devices)$/.test(c.clientId),
    );
    for (const c of api) {
      const names = c.protocolMappers.map((m: any) => m.name).sort();
      expect(names).toEqual([
        'audience kitt4sme-fiware',
        'audience kitt4sme-provisioning',
        'roles',
        'tenants',
      ]);
    }
    for (const app of Object.values(SSO_CLIENTS)) {
      const names = client(app).protocolMappers.map((m: any) => m.name);
      expect(names).not.toContain('audience kitt4sme-fiware');
      expect(names).toContain('groups');
    }
  });
});

describe('single sign-on of the web applications', () => {
  const grafanaEnv = Object.fromEntries(
    (find(out, 'StatefulSet', 'grafana').spec.template.spec.containers[0].env as any[]).map((e) => [
      e.name,
      e.value ?? e.valueFrom,
    ]),
  );
  const app = (name: string) =>
    find(out, 'Application', name).spec.source.helm.valuesObject as Record<string, any>;

  it('sends Grafana people through its realm client, with a strict role mapping', () => {
    expect(grafanaEnv).toMatchObject({
      GF_AUTH_GENERIC_OAUTH_ENABLED: 'true',
      GF_AUTH_GENERIC_OAUTH_CLIENT_ID: SSO_CLIENTS.grafana,
      GF_AUTH_GENERIC_OAUTH_AUTH_URL:
        'https://kitt4sme.localhost/auth/realms/kitt4sme/protocol/openid-connect/auth',
      GF_AUTH_GENERIC_OAUTH_TOKEN_URL:
        'http://keycloak.identity.svc.cluster.local:8080/auth/realms/kitt4sme/protocol/openid-connect/token',
      GF_AUTH_GENERIC_OAUTH_USE_PKCE: 'true',
      GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_STRICT: 'true',
      GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET: {
        secretKeyRef: { name: 'grafana-oidc', key: 'client-secret' },
      },
    });
    // The redirect Grafana uses is the one the realm allows.
    expect(client(SSO_CLIENTS.grafana).redirectUris).toEqual([
      `${grafanaEnv.GF_SERVER_ROOT_URL}login/generic_oauth`,
    ]);
    // Server-wide: platform admins are Grafana Admins, platform operators Viewers; tenant
    // people get their roles per organisation only (cdk8s/test/grafana-orgs.test.ts).
    expect(grafanaEnv.GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH).toBe(
      "contains(roles || `[]`, 'platform-admin') && 'GrafanaAdmin' || contains(groups || `[]`, 'platform-operators') && 'Viewer'",
    );
    expect(grafanaEnv.GF_AUTH_GENERIC_OAUTH_ALLOW_ASSIGN_GRAFANA_ADMIN).toBe('true');
  });

  it('gives Kiali the OpenID strategy on its realm client, view-only', () => {
    const kiali = app('kiali');
    expect(kiali.auth).toMatchObject({
      strategy: 'openid',
      openid: { client_id: SSO_CLIENTS.kiali, issuer_uri: ctx.issuer },
    });
    expect(kiali.deployment.view_only_mode).toBe(true);
    expect(kiali.kiali_feature_flags.disabled_features).toContain('logs-tab');
    // Only platform admins get through Keycloak to Kiali: its browser logins use the gated flow.
    const flow = realm.authenticationFlows.find((f: any) => f.alias === ADMINS_ONLY_FLOW);
    expect(client(SSO_CLIENTS.kiali).authenticationFlowBindingOverrides).toEqual({
      browser: flow.id,
    });
    expect(flow.id).toBe(flowId('kitt4sme', ADMINS_ONLY_FLOW));
    expect(flowId('kitt4sme-other', ADMINS_ONLY_FLOW)).not.toBe(flow.id);
    expect(realm.authenticatorConfig).toEqual([
      { alias: 'not a platform admin', config: { condUserRole: 'platform-admin', negate: 'true' } },
    ]);
    expect(client(SSO_CLIENTS.kiali).redirectUris).toContain('https://kitt4sme.localhost/kiali');
  });

  it('gives Argo CD OIDC on its realm client and RBAC from realm groups only', () => {
    const cm = app('argo-cd').configs;
    const oidc = parse(cm.cm['oidc.config']);
    expect(oidc).toMatchObject({
      issuer: ctx.issuer,
      clientID: SSO_CLIENTS.argocd,
      clientSecret: '$argocd-oidc:clientSecret',
    });
    expect(client(SSO_CLIENTS.argocd).redirectUris).toEqual([`${cm.cm.url}/auth/callback`]);
    expect(cm.rbac['policy.default']).toBe('');
    const groups = [...cm.rbac['policy.csv'].matchAll(/^g, ([^,]+),/gm)].map((m) => m[1]);
    expect(groups).toEqual([PLATFORM_ADMINS_GROUP, PLATFORM_OPERATORS_GROUP]);
    const realmGroups = realm.groups.map((g: any) => g.name);
    for (const g of groups) expect(realmGroups).toContain(g);
  });
});
