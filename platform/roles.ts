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
