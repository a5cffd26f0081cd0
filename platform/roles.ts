/**
 * The roles of the platform. Keycloak defines them (realm roles), tokens carry them and the
 * tenancy policy reads them; the route table says what each may do on each route.
 */
export const ROLES = ['device', 'operator', 'viewer', 'tenant-admin', 'platform-admin'] as const;
export type Role = (typeof ROLES)[number];

/** What each role is for, for the docs and the realm descriptions. */
export const ROLE_DESCRIPTIONS: Readonly<Record<Role, string>> = {
  device: 'a device or gateway that sends measurements to the south API of the IoT Agent',
  operator: 'provisions service groups and devices (IoT Agent north API) and reads data',
  viewer: 'reads entities from Orion and time series from QuantumLeap',
  'tenant-admin': "manages a tenant's subscriptions and deletes its data",
  'platform-admin': 'operates the whole platform, every tenant',
};

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Read-only methods. */
export const READ: readonly HttpMethod[] = ['GET', 'HEAD'];
/** Every method that changes state, plus reads. */
export const ALL: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Roles a person holds per tenant. A token names them as `<tenant>:<role>` pairs in the
 * roles claim (see {@link scopedRole}), so someone can be `tenant-admin` of one tenant and
 * `viewer` of another. NOTE (1)
 */
export const TENANT_ROLES = ['device', 'operator', 'viewer', 'tenant-admin'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

/** Roles that hold for the whole platform; a token names them bare. */
export const PLATFORM_ROLES = ['platform-admin'] as const;
export type PlatformRole = (typeof PLATFORM_ROLES)[number];

/** What separates a tenant from its role in a scoped role. */
export const SCOPED_ROLE_SEPARATOR = ':';

/** The scoped role of a tenant, as the realm defines it and tokens carry it: `manufracture:viewer`. */
export function scopedRole(tenant: string, role: TenantRole): string {
  return `${tenant}${SCOPED_ROLE_SEPARATOR}${role}`;
}

/**
 * The roles a token's roles claim grants for one tenant: its platform roles, plus the tenant
 * roles scoped to that tenant. A bare tenant role (`viewer`, the claim shape before roles were
 * scoped) grants nothing: it cannot say for which tenant it holds.
 */
export function rolesForTenant(claim: readonly string[], tenant: string): Role[] {
  const out = new Set<Role>();
  const prefix = `${tenant.toLowerCase()}${SCOPED_ROLE_SEPARATOR}`;
  for (const value of claim) {
    if ((PLATFORM_ROLES as readonly string[]).includes(value)) out.add(value as PlatformRole);
    else if (value.toLowerCase().startsWith(prefix)) {
      const role = value.slice(prefix.length);
      if ((TENANT_ROLES as readonly string[]).includes(role)) out.add(role as TenantRole);
    }
  }
  return ROLES.filter((r) => out.has(r));
}

// NOTE
// 1. Why scoped roles live in the roles claim. Keycloak defines one realm role per tenant and
//    role (`manufracture:viewer`), granted by the role group /tenants/<tenant>/<role>. Being
//    realm roles, they pass through the same scope mappings as platform-admin: a machine
//    client's tokens carry only its own `<tenant>:<role>`, whoever logs in through it, which a
//    claim built from group attributes could not limit. A token that still carries a bare
//    tenant role (a realm from before) is refused on tenant routes with a reason that says so,
//    rather than trusted for every tenant it names; bare platform-admin keeps working.
