/**
 * Who the platform's identities are: the Keycloak realm's clients, groups, demo users and
 * their security settings, defined once for the realm JSON (platform/realm.ts), the
 * bootstrap Secrets, the SSO wiring of Grafana, Kiali and Argo CD, the token CLI and the tests.
 *
 * The tenancy policy's side of the contract (claim names, audiences) is in tenancy.ts.
 */
import type { TenantRole } from './roles.js';

/**
 * Resource servers: clients that never log in themselves but name an audience. Access
 * tokens of the API clients carry both in `aud`; the tenancy policy accepts nothing else.
 */
export const RESOURCE_CLIENTS = {
  /** The FIWARE APIs behind the ingress gateway (Orion, QuantumLeap, the IoT Agent). */
  fiware: 'kitt4sme-fiware',
  /** The device provisioning service. */
  provisioning: 'kitt4sme-provisioning',
} as const;

/** The public client of a later web UI: authorization code with PKCE, no secret. */
export const CONSOLE_CLIENT = 'kitt4sme-console';

/** Web applications that log people in through Keycloak (confidential, authorization code). */
export const SSO_CLIENTS = { grafana: 'grafana', kiali: 'kiali', argocd: 'argocd' } as const;
export type SsoApp = keyof typeof SSO_CLIENTS;

/**
 * Machine identities, one pair per tenant: a tenant's scenario runner or integration, and its
 * devices (or the edge gateway that speaks for them). Both are confidential clients with
 * client-credentials grants; their service accounts belong to exactly one tenant and hold
 * `roles` scoped to it (`<tenant>:<role>`).
 */
export const MACHINE_CLIENTS = {
  scenarios: {
    suffix: 'scenarios',
    roles: ['operator', 'viewer', 'tenant-admin'],
    description:
      'scenario runner and integrations of tenant {tenant}: provisions, reads and subscribes',
    // The password grant is deprecated (OAuth 2.1) and is only ever offered here, to a
    // confidential client, and only with identity.demoUsers: `npm run token -- --user` and
    // the scenario tests need both the client secret and the user's password.
    passwordGrant: true,
  },
  devices: {
    suffix: 'devices',
    roles: ['device'],
    description: 'devices and edge gateways of tenant {tenant}: send measurements (south API)',
    passwordGrant: false,
  },
} as const satisfies Record<
  string,
  { suffix: string; roles: readonly TenantRole[]; description: string; passwordGrant: boolean }
>;
export type MachineKind = keyof typeof MACHINE_CLIENTS;

/** The client id of a tenant's machine identity, e.g. `manufracture-scenarios`. */
export function machineClientId(tenant: string, kind: MachineKind): string {
  return `${tenant}-${MACHINE_CLIENTS[kind].suffix}`;
}

/** The user attribute, set on each tenant group, whose values form the `tenants` claim. */
export const TENANT_ATTRIBUTE = 'kitt4sme-tenant';

/**
 * Tenant groups are `/tenants/<tenant>`, each with a role group `/tenants/<tenant>/<role>` per
 * tenant role; membership of either puts the tenant into a token, and a role group's gives its
 * role scoped to that tenant.
 */
export const TENANTS_GROUP = 'tenants';

/** The group of a tenant, `/tenants/<tenant>`, or of one of its roles, `/tenants/<tenant>/<role>`. */
export function tenantGroupPath(tenant: string, role?: TenantRole): string {
  return `/${TENANTS_GROUP}/${tenant}${role ? `/${role}` : ''}`;
}

/** Members get the platform-admin role and Argo CD's admin role. */
export const PLATFORM_ADMINS_GROUP = 'platform-admins';

/** Members get Argo CD's read-only role and Kiali; no tenant data by itself. */
export const PLATFORM_OPERATORS_GROUP = 'platform-operators';

/** Token and session lifetimes, in seconds. Short access tokens: a leaked one dies fast. */
export const LIFETIMES = {
  accessToken: 300,
  authorizationCode: 60,
  loginPage: 1800,
  userAction: 300,
  ssoSessionIdle: 1800,
  ssoSessionMax: 36000,
  offlineSessionIdle: 604800,
} as const;

/**
 * Brute-force protection: a temporary lockout after every 5 failures, of a minute times the
 * number of failures divided by 5 (Keycloak's MULTIPLE strategy), at most 15 minutes, never
 * permanent; failures are forgotten after 12 hours.
 */
export const BRUTE_FORCE = {
  bruteForceStrategy: 'MULTIPLE',
  maxTemporaryLockouts: 0,
  failureFactor: 5,
  waitIncrementSeconds: 60,
  maxFailureWaitSeconds: 900,
  maxDeltaTimeSeconds: 43200,
  quickLoginCheckMilliSeconds: 1000,
  minimumQuickLoginWaitSeconds: 60,
} as const;

/**
 * Password policy: length over composition rules (NIST SP 800-63B §3.1.1.2), no reuse of the
 * last five, never the username or e-mail. Generated passwords are 32 characters.
 */
export const PASSWORD_POLICY =
  'length(12) and maxLength(128) and notUsername and notEmail and passwordHistory(5)';

/** A demo user of the laptop profile: one per tenant, plus a platform admin. */
export interface DemoUser {
  readonly username: string;
  readonly firstName: string;
  readonly lastName: string;
  /** The tenants the user works for. */
  readonly tenants: readonly string[];
  /** The roles the user holds in each of its tenants (as role-group memberships). */
  readonly roles: readonly TenantRole[];
  readonly groups: readonly string[];
}

/** The roles of a tenant's demo user. */
export const DEMO_TENANT_ROLES: readonly TenantRole[] = ['operator', 'viewer', 'tenant-admin'];

/** The demo users of a set of tenants (`<tenant>-demo` and `platform-admin`). */
export function demoUsers(tenants: readonly { name: string; displayName?: string }[]): DemoUser[] {
  return [
    ...tenants.map((t) => ({
      username: `${t.name}-demo`,
      firstName: t.displayName ?? t.name,
      lastName: 'Demo',
      tenants: [t.name],
      roles: DEMO_TENANT_ROLES,
      groups: [],
    })),
    {
      username: 'platform-admin',
      firstName: 'Platform',
      lastName: 'Admin',
      tenants: [],
      roles: [],
      groups: [PLATFORM_ADMINS_GROUP],
    },
  ];
}

/**
 * The environment variable Keycloak resolves a client secret or demo password from when it
 * imports the realm (`${KITT4SME_...}` placeholders); also the key in the `keycloak-realm`
 * Secret.
 */
export function secretEnvName(kind: 'client' | 'user', id: string): string {
  const prefix = kind === 'client' ? 'KITT4SME_CLIENT_SECRET_' : 'KITT4SME_PASSWORD_';
  return `${prefix}${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}
