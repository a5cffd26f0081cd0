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
import type { PlatformContext } from '../../../platform/context.js';
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

/**
 * Grafana's role: platform admins are Admins, platform operators Viewers, and nobody else
 * gets in (role_attribute_strict). NOTE (2)
 */
export const GRAFANA_ROLE_PATH = [
  `contains(${TOKEN_CLAIMS.roles} || \`[]\`, 'platform-admin') && 'Admin'`,
  `contains(groups || \`[]\`, '${PLATFORM_OPERATORS_GROUP}') && 'Viewer'`,
].join(' || ');

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
    GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_STRICT: 'true',
    GF_AUTH_GENERIC_OAUTH_ALLOW_ASSIGN_GRAFANA_ADMIN: 'false',
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
// 2. Tenants in Grafana. Grafana has one organisation with every tenant's folder and a
//    CrateDB datasource that can read every tenant's schema, so a tenant's people must not
//    get in until Grafana is split per tenant (an organisation per tenant from the tenants
//    claim, and a CrateDB user per tenant). Until then only platform staff log in.
