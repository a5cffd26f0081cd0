/**
 * Single sign-on of the web applications (Grafana, Kiali, Argo CD) through the realm: each
 * app's settings are derived here from the same constants as its client in the realm, so a
 * client id, a redirect or a role mapping is written once.
 */
import { stringify } from 'yaml';

import {
  PLATFORM_ADMINS_GROUP,
  PLATFORM_OPERATORS_GROUP,
  SSO_CLIENTS,
} from '../../../platform/identity.js';
import { TOKEN_CLAIMS } from '../../../platform/tenancy.js';
import type { Tenant } from '../../../platform/config/schema.js';
import type { PlatformContext } from '../../../platform/context.js';
import type { Role, TenantRole } from '../../../platform/roles.js';
import { scopedRole } from '../../../platform/roles.js';
import { BOOTSTRAP_SECRETS } from '../../../platform/secrets.js';

/** OIDC endpoints of the realm: public ones for browsers, in-cluster ones for servers. */
export function realmEndpoints(ctx: PlatformContext) {
  const oidc = `${ctx.realmPath}/protocol/openid-connect`;
  const internal = ctx.serviceUrl('keycloak', 'web');
  return {
    issuer: ctx.issuer,
    authorization: `${ctx.publicUrl}${oidc}/auth`,
    logout: `${ctx.publicUrl}${oidc}/logout`,
    token: `${internal}${oidc}/token`,
    userinfo: `${internal}${oidc}/userinfo`,
    /** Paths Grafana calls on Keycloak's Service (mesh grant). */
    serverPaths: [`${oidc}/token`, `${oidc}/userinfo`],
  };
}

/** A Grafana organisation role. */
export type GrafanaOrgRole = 'Viewer' | 'Editor' | 'Admin';

/**
 * What a tenant role is in that tenant's Grafana organisation. `device` is not here: devices
 * never log in to Grafana, and a person with no mapped role anywhere is refused.
 */
export const GRAFANA_TENANT_ROLES = {
  'tenant-admin': 'Editor',
  operator: 'Viewer',
  viewer: 'Viewer',
} as const satisfies Partial<Record<TenantRole, GrafanaOrgRole>>;

/** The platform role that makes a person Grafana Admin and Admin in every organisation. */
const PLATFORM_ADMIN_ROLE = 'platform-admin' satisfies Role;

/**
 * Grafana's server-wide role: platform admins are Grafana Admins (and Admin in the default
 * organisation), platform operators Viewers; tenant people get no role here, only the roles
 * of their tenants' organisations from {@link grafanaOrgMapping}. NOTE (2)
 */
export const GRAFANA_ROLE_PATH = [
  `contains(${TOKEN_CLAIMS.roles} || \`[]\`, '${PLATFORM_ADMIN_ROLE}') && 'GrafanaAdmin'`,
  `contains(groups || \`[]\`, '${PLATFORM_OPERATORS_GROUP}') && 'Viewer'`,
].join(' || ');

/**
 * The values Grafana maps to organisations (org_attribute_path): the roles claim (scoped
 * roles `"<tenant>:<role>"` and `platform-admin`; values no entry maps, such as
 * `"<tenant>:device"`, give nothing), plus `platform-operators` for members of that group.
 * NOTE (2)
 */
export const GRAFANA_ORG_ATTRIBUTE_PATH = `[${TOKEN_CLAIMS.roles}, groups[?@ == '${PLATFORM_OPERATORS_GROUP}']][]`;

/**
 * Grafana's org_mapping entries (`<external value>:<organisation>:<role>`), one organisation
 * per tenant named after it. A `:` inside the external value is escaped as `\:` (Grafana
 * 11.2+). `*` as the organisation means every organisation. NOTE (2)
 */
export function grafanaOrgMapping(tenants: readonly Pick<Tenant, 'name'>[]): string[] {
  return [
    ...tenants.flatMap((t) =>
      Object.entries(GRAFANA_TENANT_ROLES).map(
        ([role, grafana]) =>
          `${orgMappingValue(scopedRole(t.name, role as TenantRole))}:${grafanaOrgName(t)}:${grafana}`,
      ),
    ),
    `${PLATFORM_ADMIN_ROLE}:*:Admin`,
    `${PLATFORM_OPERATORS_GROUP}:*:Viewer`,
  ];
}

/** An external value in an org_mapping entry, its colons escaped. */
function orgMappingValue(value: string): string {
  return value.replace(/:/g, '\\:');
}

/** The Grafana organisation of a tenant: its name. */
export function grafanaOrgName(tenant: Pick<Tenant, 'name'>): string {
  return tenant.name;
}

/** Grafana's generic OAuth settings, as GF_* environment variables (the secret apart). */
export function grafanaOAuthEnv(ctx: PlatformContext): Record<string, string> {
  const e = realmEndpoints(ctx);
  const grafanaRoot = `${ctx.publicUrl}${ctx.routePrefix('grafana')}`;
  return {
    GF_AUTH_GENERIC_OAUTH_ENABLED: 'true',
    GF_AUTH_GENERIC_OAUTH_NAME: 'KITT4SME (Keycloak)',
    GF_AUTH_GENERIC_OAUTH_CLIENT_ID: SSO_CLIENTS.grafana,
    GF_AUTH_GENERIC_OAUTH_SCOPES: 'openid profile email',
    GF_AUTH_GENERIC_OAUTH_AUTH_URL: e.authorization,
    GF_AUTH_GENERIC_OAUTH_TOKEN_URL: e.token,
    GF_AUTH_GENERIC_OAUTH_API_URL: e.userinfo,
    GF_AUTH_GENERIC_OAUTH_USE_PKCE: 'true',
    GF_AUTH_GENERIC_OAUTH_ALLOW_SIGN_UP: 'true',
    GF_AUTH_GENERIC_OAUTH_LOGIN_ATTRIBUTE_PATH: 'preferred_username',
    GF_AUTH_GENERIC_OAUTH_EMAIL_ATTRIBUTE_PATH: 'email',
    GF_AUTH_GENERIC_OAUTH_GROUPS_ATTRIBUTE_PATH: 'groups',
    GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH: GRAFANA_ROLE_PATH,
    // Nobody without a mapped role gets in, and one unknown organisation voids the mapping.
    GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_STRICT: 'true',
    GF_AUTH_GENERIC_OAUTH_ORG_ATTRIBUTE_PATH: GRAFANA_ORG_ATTRIBUTE_PATH,
    // Space-separated: Grafana splits on spaces and commas, which no entry contains.
    GF_AUTH_GENERIC_OAUTH_ORG_MAPPING: grafanaOrgMapping(ctx.config.tenants).join(' '),
    GF_AUTH_GENERIC_OAUTH_ALLOW_ASSIGN_GRAFANA_ADMIN: 'true',
    GF_AUTH_SIGNOUT_REDIRECT_URL: `${e.logout}?client_id=${SSO_CLIENTS.grafana}&post_logout_redirect_uri=${encodeURIComponent(`${grafanaRoot}/login`)}`,
  };
}

/** The Grafana env var holding the client secret, and where it comes from. */
export const GRAFANA_CLIENT_SECRET = {
  env: 'GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET',
  secret: 'grafanaOidc',
  key: 'client-secret',
} as const;

/** Kiali's `auth` values: the OpenID strategy against the realm. NOTE (1) */
export function kialiAuth(ctx: PlatformContext) {
  return {
    strategy: 'openid',
    openid: {
      client_id: SSO_CLIENTS.kiali,
      issuer_uri: ctx.issuer,
      scopes: ['openid', 'profile', 'email'],
      username_claim: 'preferred_username',
      disable_rbac: true,
    },
  };
}

/** Argo CD's `oidc.config` (argocd-cm) and RBAC from the token's groups. */
export function argoCdOidc(ctx: PlatformContext) {
  return {
    'oidc.config': stringify({
      name: 'KITT4SME (Keycloak)',
      issuer: ctx.issuer,
      clientID: SSO_CLIENTS.argocd,
      // Resolved by Argo CD from the Secret labelled part-of=argocd (made at bootstrap).
      clientSecret: `$${BOOTSTRAP_SECRETS.argocdOidc.name}:clientSecret`,
      requestedScopes: ['openid', 'profile', 'email'],
    }),
    rbac: {
      // Signed-in users without a group binding get nothing.
      'policy.default': '',
      scopes: '[groups]',
      'policy.csv': [
        `g, ${PLATFORM_ADMINS_GROUP}, role:admin`,
        `g, ${PLATFORM_OPERATORS_GROUP}, role:readonly`,
        '',
      ].join('\n'),
    },
  };
}

// NOTE
// 1. Kiali without RBAC. Kiali's OpenID strategy with RBAC needs the Kubernetes API server
//    itself to trust the realm (--oidc-issuer-url), which minikube and most managed clusters
//    do not by default. With disable_rbac, Kiali acts with its own service account, so the
//    platform also runs it view-only: a signed-in user sees the mesh, never changes it.
//    See https://kiali.io/docs/configuration/authentication/openid/
// 2. Tenants in Grafana. Each tenant has an organisation named after it (created before
//    Grafana starts, grafana.ts NOTE 1) with its datasource and dashboards; generic OAuth maps
//    the token to organisations with org_attribute_path and org_mapping (Grafana 12:
//    https://grafana.com/docs/grafana/latest/setup-grafana/configure-access/configure-authentication/generic-oauth/
//    "Org roles mapping"). How the pinned 12.4 reads them, from pkg/login/social/connectors/
//    org_role_mapper.go and generic_oauth.go (https://github.com/grafana/grafana):
//    - org_mapping entries split on unescaped `:` (`\:` is a literal colon since 11.2,
//      grafana/grafana#89951), so `"<tenant>:<role>"` values match as they are, escaped;
//    - organisation names are resolved once, when the provider is built at start, and with
//      role_attribute_strict one name that does not resolve empties the whole mapping: the
//      organisations must exist before Grafana starts (they are never created at login);
//    - `*` as the organisation is every organisation; per organisation the highest role wins,
//      and role_attribute_path's role is merged into each mapped organisation;
//    - with role_attribute_strict, a login that maps to no organisation is refused.
//    So: `a:tenant-admin` -> Editor in a; `a:operator`, `a:viewer` -> Viewer in a; `a:device`
//    -> nothing; platform-admin -> Grafana Admin and Admin everywhere; platform-operators ->
//    Viewer everywhere; nothing else -> refused. org_attribute_path adds the two platform
//    markers to the tenant roles with a JMESPath multi-select and flatten; the test
//    evaluates it with the reference JMESPath implementation.
