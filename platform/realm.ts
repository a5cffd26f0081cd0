/**
 * The Keycloak realm as code: the realm JSON Keycloak imports at its first start
 * (`--import-realm`) and `npm run realm:apply` reconciles later, generated from the platform
 * config and the identity constants.
 *
 * No secret is in it: client secrets and demo passwords are `${KITT4SME_...}` placeholders
 * that Keycloak resolves from its environment when it imports the file; the environment comes
 * from the `keycloak-realm` Secret made at bootstrap (or by the tests).
 */
import { createHash } from 'node:crypto';

import {
  BRUTE_FORCE,
  CONSOLE_CLIENT,
  LIFETIMES,
  MACHINE_CLIENTS,
  PASSWORD_POLICY,
  PLATFORM_ADMINS_GROUP,
  PLATFORM_OPERATORS_GROUP,
  RESOURCE_CLIENTS,
  SSO_CLIENTS,
  TENANTS_GROUP,
  TENANT_ATTRIBUTE,
  demoUsers,
  machineClientId,
  secretEnvName,
  tenantGroupPath,
} from './identity.js';
import type { MachineKind, SsoApp } from './identity.js';
import { PLATFORM_ROLES, ROLE_DESCRIPTIONS, TENANT_ROLES, scopedRole } from './roles.js';
import { API_AUDIENCES, TOKEN_CLAIMS } from './tenancy.js';
import type { PlatformContext } from './context.js';

/**
 * Realm roles of a realm from before tenant roles were scoped: the bare tenant roles
 * (`viewer`, ...). No client names them any more; realm:apply also takes them off service
 * accounts and groups, never off people, and deletes no role. NOTE (2)
 */
export const RETIRED_ROLES: readonly string[] = TENANT_ROLES;

/** A JSON object of Keycloak's representation format. */
export type Rep = Record<string, unknown>;

/** A `${ENV}` placeholder of the realm and what it stands for. */
export interface RealmPlaceholder {
  /** Environment variable Keycloak reads, and key of the `keycloak-realm` Secret. */
  readonly env: string;
  readonly kind: 'client-secret' | 'user-password';
  /** The client id or username. */
  readonly id: string;
}

/** The realm and the placeholders its import needs resolved. */
export interface RealmDefinition {
  readonly name: string;
  readonly realm: Rep;
  readonly placeholders: readonly RealmPlaceholder[];
}

/** Where each web application sends people back after login. */
export function ssoRedirects(ctx: PlatformContext): Record<SsoApp, string[]> {
  const base = ctx.publicUrl;
  return {
    grafana: [`${base}${ctx.routePrefix('grafana')}/login/generic_oauth`],
    // Kiali's OpenID strategy returns to its web root.
    kiali: [`${base}${ctx.routePrefix('kiali')}`, `${base}${ctx.routePrefix('kiali')}/*`],
    argocd: [`${base}${ctx.routePrefix('argocdServer')}/auth/callback`],
  };
}

/**
 * Path of the web console (services/console): its route's prefix in the registry, which the
 * realm's console client redirects to; the console's build links its assets under it.
 */
export const CONSOLE_PATH = '/console';

const STR = 'String';
const yes = 'true';

/** An OIDC protocol mapper of the realm. */
export function mapper(name: string, protocolMapper: string, config: Record<string, string>): Rep {
  return { name, protocol: 'openid-connect', protocolMapper, consentRequired: false, config };
}

/** A claim in every token and answer: access, ID, userinfo and introspection. */
const IN_EVERY_TOKEN = {
  'access.token.claim': yes,
  'id.token.claim': yes,
  'userinfo.token.claim': yes,
  'introspection.token.claim': yes,
};

/** A multi-valued string claim. */
const STRINGS = { 'jsonType.label': STR, multivalued: yes };

/** Mapper: the tenant set, from the tenant attribute of the user's groups. NOTE (1) */
function tenantsMapper(): Rep {
  return mapper('tenants', 'oidc-usermodel-attribute-mapper', {
    'user.attribute': TENANT_ATTRIBUTE,
    'claim.name': TOKEN_CLAIMS.tenants,
    ...STRINGS,
    'aggregate.attrs': yes,
    ...IN_EVERY_TOKEN,
  });
}

/** Mapper: the platform roles and the scoped tenant roles, as a flat `roles` array. NOTE (2) */
function rolesMapper(): Rep {
  return mapper('roles', 'oidc-usermodel-realm-role-mapper', {
    'claim.name': TOKEN_CLAIMS.roles,
    ...STRINGS,
    ...IN_EVERY_TOKEN,
  });
}

/** Mapper: a resource server in `aud` of access tokens. */
export function audienceMapper(audience: string): Rep {
  return mapper(`audience ${audience}`, 'oidc-audience-mapper', {
    'included.client.audience': audience,
    'access.token.claim': yes,
    'id.token.claim': 'false',
    'introspection.token.claim': yes,
  });
}

/** Mapper: group names (not paths) as `groups`, for Argo CD's RBAC and Grafana. */
function groupsMapper(): Rep {
  return mapper('groups', 'oidc-group-membership-mapper', {
    'claim.name': 'groups',
    'full.path': 'false',
    ...IN_EVERY_TOKEN,
  });
}

/** What every client of the realm shares: nothing implicit, no consent screen. */
export function baseClient(clientId: string, name: string, description: string): Rep {
  return {
    clientId,
    name,
    description,
    enabled: true,
    protocol: 'openid-connect',
    consentRequired: false,
    standardFlowEnabled: false,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    serviceAccountsEnabled: false,
    publicClient: false,
    bearerOnly: false,
    frontchannelLogout: false,
    // Only the realm's own roles reach tokens (scopeMappings), never default-roles-*,
    // offline_access, a bare tenant role or another client's roles.
    fullScopeAllowed: false,
    defaultClientScopes: ['basic'],
    optionalClientScopes: [],
    attributes: { 'oauth2.device.authorization.grant.enabled': 'false' },
  };
}

/** The browser flow of clients only platform admins may log in to (Kiali). NOTE (3) */
export const ADMINS_ONLY_FLOW = 'platform-admins-only browser';
/**
 * A fixed id of a realm's flow, so a client can name it in its flow overrides at import.
 * Flow ids are unique across realms, so the realm name is part of it (a name-based UUID).
 */
export function flowId(realm: string, alias: string): string {
  const h = createHash('sha256').update(`kitt4sme/${realm}/${alias}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function execution(step: Rep, priority: number): Rep {
  const flow = 'flowAlias' in step;
  return {
    ...step,
    priority,
    authenticatorFlow: flow,
    // Keycloak's representation still reads the historical spelling.
    autheticatorFlow: flow,
    userSetupAllowed: false,
  };
}

/** A browser login that denies everyone without the platform-admin role. */
function adminsOnlyFlows(realm: string): { flows: Rep[]; configs: Rep[] } {
  const login = `${ADMINS_ONLY_FLOW} login`;
  const gate = `${ADMINS_ONLY_FLOW} gate`;
  const sub = (alias: string, steps: Rep[]): Rep => ({
    alias,
    description: `${ADMINS_ONLY_FLOW}: ${alias.slice(ADMINS_ONLY_FLOW.length + 1)}`,
    providerId: 'basic-flow',
    topLevel: false,
    builtIn: false,
    authenticationExecutions: steps.map((s, i) => execution(s, (i + 1) * 10)),
  });
  return {
    flows: [
      {
        id: flowId(realm, ADMINS_ONLY_FLOW),
        alias: ADMINS_ONLY_FLOW,
        description: 'Browser login for consoles of the whole platform: platform-admin only',
        providerId: 'basic-flow',
        topLevel: true,
        builtIn: false,
        authenticationExecutions: [
          execution({ flowAlias: login, requirement: 'REQUIRED' }, 10),
          execution({ flowAlias: gate, requirement: 'CONDITIONAL' }, 20),
        ],
      },
      sub(login, [
        { authenticator: 'auth-cookie', requirement: 'ALTERNATIVE' },
        { authenticator: 'auth-username-password-form', requirement: 'ALTERNATIVE' },
      ]),
      sub(gate, [
        {
          authenticator: 'conditional-user-role',
          authenticatorConfig: 'not a platform admin',
          requirement: 'REQUIRED',
        },
        { authenticator: 'deny-access-authenticator', requirement: 'REQUIRED' },
      ]),
    ],
    configs: [
      { alias: 'not a platform admin', config: { condUserRole: 'platform-admin', negate: 'true' } },
    ],
  };
}

/** The realm of a platform. */
export function buildRealm(ctx: PlatformContext): RealmDefinition {
  const name = ctx.config.identity.realm;
  const tenants = ctx.config.tenants;
  const placeholders: RealmPlaceholder[] = [];
  const clientSecret = (clientId: string) => {
    const env = secretEnvName('client', clientId);
    placeholders.push({ env, kind: 'client-secret', id: clientId });
    return { clientAuthenticatorType: 'client-secret', secret: `\${${env}}` };
  };
  // platform-admin, then each tenant's scoped roles.
  const realmRoles = [
    ...PLATFORM_ROLES.map((r) => ({ name: r, description: ROLE_DESCRIPTIONS[r] })),
    ...tenants.flatMap((t) =>
      TENANT_ROLES.map((r) => ({
        name: scopedRole(t.name, r),
        description: `tenant ${t.name}: ${ROLE_DESCRIPTIONS[r]}`,
      })),
    ),
  ];
  const scopeMappings: { client: string; roles: string[] }[] = [];
  const scope = (clientId: string, roles: readonly string[] = realmRoles.map((r) => r.name)) =>
    scopeMappings.push({ client: clientId, roles: [...roles] });
  const apiMappers = () => [
    tenantsMapper(),
    rolesMapper(),
    ...API_AUDIENCES.map((a) => audienceMapper(a)),
  ];

  const resourceClients = Object.values(RESOURCE_CLIENTS).map((id) => ({
    ...baseClient(
      id,
      id === RESOURCE_CLIENTS.fiware ? 'FIWARE APIs' : 'Provisioning service',
      'Resource server: an audience of API access tokens; never logs in',
    ),
    bearerOnly: true,
  }));

  const machineClients = tenants.flatMap((t) =>
    (Object.keys(MACHINE_CLIENTS) as MachineKind[]).map((kind) => {
      const spec = MACHINE_CLIENTS[kind];
      const clientId = machineClientId(t.name, kind);
      // A machine client's tokens carry at most its own scoped roles, whoever logs in through it.
      scope(
        clientId,
        spec.roles.map((r) => scopedRole(t.name, r)),
      );
      return {
        ...baseClient(clientId, clientId, spec.description.replace('{tenant}', t.name)),
        ...clientSecret(clientId),
        serviceAccountsEnabled: true,
        // Only for the demo users of a laptop platform: never a password grant in production.
        directAccessGrantsEnabled: spec.passwordGrant && ctx.config.identity.demoUsers,
        protocolMappers: apiMappers(),
        attributes: {
          'oauth2.device.authorization.grant.enabled': 'false',
          // Client credentials never get refresh tokens: ask again (RFC 6749 §4.4.3).
          'client_credentials.use_refresh_token': 'false',
        },
      };
    }),
  );

  scope(CONSOLE_CLIENT);
  const consolePath = ctx.routePrefix('console');
  const console = {
    ...baseClient(CONSOLE_CLIENT, 'KITT4SME console', 'Web UI: authorization code with PKCE'),
    publicClient: true,
    standardFlowEnabled: true,
    rootUrl: ctx.publicUrl,
    baseUrl: `${consolePath}/`,
    redirectUris: [`${ctx.publicUrl}${consolePath}/*`],
    webOrigins: [ctx.publicUrl],
    defaultClientScopes: ['basic', 'profile', 'web-origins'],
    protocolMappers: apiMappers(),
    attributes: {
      'oauth2.device.authorization.grant.enabled': 'false',
      'pkce.code.challenge.method': 'S256',
      'post.logout.redirect.uris': `${ctx.publicUrl}${consolePath}/*`,
    },
  };

  const redirects = ssoRedirects(ctx);
  const flows = adminsOnlyFlows(name);
  const ssoClients = (Object.keys(SSO_CLIENTS) as SsoApp[]).map((app) => {
    const clientId = SSO_CLIENTS[app];
    scope(clientId);
    return {
      ...baseClient(
        clientId,
        app === 'argocd' ? 'Argo CD' : app[0]!.toUpperCase() + app.slice(1),
        `Single sign-on of ${app}`,
      ),
      ...clientSecret(clientId),
      standardFlowEnabled: true,
      rootUrl: ctx.publicUrl,
      redirectUris: redirects[app],
      webOrigins: [],
      defaultClientScopes: ['basic', 'profile', 'email'],
      protocolMappers: [groupsMapper(), rolesMapper(), tenantsMapper()],
      // Kiali acts with its own cluster-wide service account: platform admins only.
      ...(app === 'kiali'
        ? { authenticationFlowBindingOverrides: { browser: flowId(name, ADMINS_ONLY_FLOW) } }
        : {}),
      attributes: {
        'oauth2.device.authorization.grant.enabled': 'false',
        // Grafana sends a PKCE challenge (use_pkce); Kiali and Argo CD, as confidential
        // clients, authenticate the code exchange with their secret instead.
        ...(app === 'grafana' ? { 'pkce.code.challenge.method': 'S256' } : {}),
        'post.logout.redirect.uris': `${ctx.publicUrl}/${app}/*`,
      },
    };
  });

  const serviceAccounts = tenants.flatMap((t) =>
    (Object.keys(MACHINE_CLIENTS) as MachineKind[]).map((kind) => {
      const clientId = machineClientId(t.name, kind);
      return {
        username: `service-account-${clientId}`,
        enabled: true,
        serviceAccountClientId: clientId,
        groups: [tenantGroupPath(t.name)],
        realmRoles: MACHINE_CLIENTS[kind].roles.map((r) => scopedRole(t.name, r)),
      };
    }),
  );

  const people = ctx.config.identity.demoUsers
    ? demoUsers(tenants).map((u) => {
        const env = secretEnvName('user', u.username);
        placeholders.push({ env, kind: 'user-password', id: u.username });
        return {
          username: u.username,
          enabled: true,
          email: `${u.username}@${ctx.config.ingress.host}`,
          emailVerified: true,
          firstName: u.firstName,
          lastName: u.lastName,
          // Roles come with role groups only, which also put the tenant in. NOTE (1)
          groups: [
            ...u.tenants.flatMap((t) => u.roles.map((r) => tenantGroupPath(t, r))),
            ...u.groups.map((g) => `/${g}`),
          ],
          credentials: [{ type: 'password', value: `\${${env}}`, temporary: false }],
        };
      })
    : [];

  const envs = placeholders.map((p) => p.env);
  const dup = envs.find((e, i) => envs.indexOf(e) !== i);
  if (dup) throw new TypeError(`two realm secrets map to the environment variable ${dup}`);

  const realm: Rep = {
    realm: name,
    displayName: 'KITT4SME',
    enabled: true,
    // HTTPS except from loopback and private addresses: the gateway ends TLS.
    sslRequired: 'external',
    registrationAllowed: false,
    resetPasswordAllowed: false,
    rememberMe: false,
    editUsernameAllowed: false,
    loginWithEmailAllowed: true,
    duplicateEmailsAllowed: false,
    verifyEmail: false,
    defaultSignatureAlgorithm: 'RS256',
    accessTokenLifespan: LIFETIMES.accessToken,
    accessTokenLifespanForImplicitFlow: LIFETIMES.accessToken,
    accessCodeLifespan: LIFETIMES.authorizationCode,
    accessCodeLifespanLogin: LIFETIMES.loginPage,
    accessCodeLifespanUserAction: LIFETIMES.userAction,
    ssoSessionIdleTimeout: LIFETIMES.ssoSessionIdle,
    ssoSessionMaxLifespan: LIFETIMES.ssoSessionMax,
    offlineSessionIdleTimeout: LIFETIMES.offlineSessionIdle,
    // A refresh token works once: a stolen one is detected at its second use.
    revokeRefreshToken: true,
    refreshTokenMaxReuse: 0,
    bruteForceProtected: true,
    permanentLockout: false,
    ...BRUTE_FORCE,
    passwordPolicy: PASSWORD_POLICY,
    eventsEnabled: true,
    eventsExpiration: 604800,
    adminEventsEnabled: true,
    adminEventsDetailsEnabled: false,
    roles: { realm: realmRoles },
    groups: [
      {
        name: TENANTS_GROUP,
        path: `/${TENANTS_GROUP}`,
        subGroups: tenants.map((t) => ({
          name: t.name,
          path: tenantGroupPath(t.name),
          attributes: { [TENANT_ATTRIBUTE]: [t.name] },
          // Role groups inherit the tenant attribute from this one. NOTE (1)
          subGroups: TENANT_ROLES.map((r) => ({
            name: r,
            path: tenantGroupPath(t.name, r),
            realmRoles: [scopedRole(t.name, r)],
            subGroups: [],
          })),
        })),
      },
      {
        name: PLATFORM_ADMINS_GROUP,
        path: `/${PLATFORM_ADMINS_GROUP}`,
        realmRoles: ['platform-admin'],
        subGroups: [],
      },
      { name: PLATFORM_OPERATORS_GROUP, path: `/${PLATFORM_OPERATORS_GROUP}`, subGroups: [] },
    ],
    // Defining flows keeps Keycloak's built-in ones (browser, direct grant, ...): the import
    // adds every built-in flow the file lacks and binds the realm to them.
    authenticationFlows: flows.flows,
    authenticatorConfig: flows.configs,
    clients: [...resourceClients, ...machineClients, console, ...ssoClients],
    scopeMappings,
    users: [...serviceAccounts, ...people],
  };
  assertOnlyPlaceholders(realm, placeholders);
  return { name, realm, placeholders };
}

/**
 * Keycloak expands every `${...}` of an imported realm from its environment (database and
 * admin passwords included): only the declared placeholders may be there.
 * @throws TypeError naming the first other `${...}`.
 */
export function assertOnlyPlaceholders(
  realm: unknown,
  placeholders: readonly RealmPlaceholder[],
): void {
  const declared = new Set(placeholders.map((p) => `\${${p.env}}`));
  const stray = JSON.stringify(realm)
    .match(/\$\{[^}]*\}?/g)
    ?.find((m) => !declared.has(m));
  if (stray) throw new TypeError(`the realm would make Keycloak expand ${stray}`);
}

/**
 * The realm with its placeholders replaced, as Keycloak's import would resolve them from the
 * environment: for the admin API (realm:apply), which does not resolve placeholders.
 * @throws TypeError naming the first placeholder `values` lacks.
 */
export function resolveRealm(def: RealmDefinition, values: Readonly<Record<string, string>>): Rep {
  const missing = def.placeholders.find((p) => values[p.env] === undefined);
  if (missing)
    throw new TypeError(
      `no value for ${missing.env} (the ${missing.kind.replace('-', ' ')} of ${missing.id})`,
    );
  const text = JSON.stringify(def.realm).replace(
    /\$\{(KITT4SME_[A-Z0-9_]+)\}/g,
    (_m, env: string) => JSON.stringify(values[env]).slice(1, -1),
  );
  return JSON.parse(text) as Rep;
}

// NOTE
// 1. The tenants claim. Each tenant is a group /tenants/<tenant> carrying the attribute
//    kitt4sme-tenant=<tenant>, with one role group /tenants/<tenant>/<role> per tenant role,
//    which carries no attribute of its own. The user-attribute mapper with "aggregate attribute
//    values" collects that attribute over the user's own attributes and every group the user
//    (or a service account) is in; a group without the attribute answers with its nearest
//    ancestor's (Keycloak's KeycloakModelUtils.resolveAttribute). Seen on Keycloak 26.7.3: a
//    user in /tenants/manufracture/viewer only gets tenants ["manufracture"], and a user in
//    three role groups of it gets it once (services/identity/test/keycloak.test.ts). So people
//    are put in role groups only, never also in the tenant group, and the tenant name stays in
//    one place per tenant (the tenant group's attribute, which realm:apply keeps exactly the
//    definition's): the claim is exactly the set of tenants whose groups the user is in, and
//    membership is the one place a tenant is granted. Service accounts are in the tenant group
//    itself and get their scoped roles directly. A user with no tenant group gets no tenants
//    claim at all, which the policy refuses on every tenant route.
//    See https://www.keycloak.org/docs/latest/server_admin/#_protocol-mappers
// 2. The roles claim. Realm roles are platform-admin and one `<tenant>:<role>` per tenant and
//    tenant role (platform/roles.ts, its NOTE (1)), granted by the role groups and, to service
//    accounts, directly. fullScopeAllowed=false plus scope mappings limit the realm-role mapper
//    to roles each client names: a machine client names only its own tenant's roles of its
//    kind, the console and the web applications name all of the realm's roles. So
//    default-roles-<realm>, offline_access and uma_authorization never appear, and neither do
//    the bare tenant roles (`viewer`, ...) of a realm from before roles were scoped: no client
//    names them (realm:apply removes them from every client's role scope and every service
//    account), so where they linger on a person they still never reach a token. The claim is
//    flat (`roles`) instead of Keycloak's nested realm_access.roles.
// 3. Kiali's gate. Kiali's OpenID strategy without RBAC cannot tell people apart, so Keycloak
//    does: the kiali client's browser logins go through a flow whose conditional step denies
//    anyone without the platform-admin role, after authentication and on SSO cookies too.
//    See https://www.keycloak.org/docs/latest/server_admin/#_conditions-in-conditional-flows
