/**
 * The fleet service's gateway route, in the shape of the route table (platform/routes.ts). NOTE (1)
 */
import type { RouteSpec } from '../../../platform/routes.js';
import { ALL, READ } from '../../../platform/roles.js';

/** The path prefix the fleet service serves its API under (the gateway does not strip it). */
export const API_PREFIX = '/fleet';

/**
 * The route: viewers read; operators and tenant admins change their tenant's agents; groups are
 * shared by the tenants and only platform admins change them (checked in the app).
 */
export const FLEET_ROUTE = {
  prefix: API_PREFIX,
  backend: { service: 'fleet', port: 'api' },
  stripPrefix: false,
  access: 'tenant',
  publicPaths: ['/openapi.json'],
  rights: { viewer: READ, operator: ALL, 'tenant-admin': ALL, 'platform-admin': ALL },
  description: 'Fleet service: agents and pipelines on factory hosts, groups, rollouts in waves',
} as unknown as RouteSpec;

// NOTE
// 1. Not yet in the registry. A route's backend must be a component of platform/components.ts,
//    and the `fleet` component (with its construct) is registered by its own change. Until then
//    the tests derive the policy data from the route table with this route added (the route
//    table's own validation refuses a backend outside the registry), so the real tenancy policy
//    judges fleet requests as it will once the entry exists.
