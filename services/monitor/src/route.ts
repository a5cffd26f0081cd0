/**
 * The monitor's gateway route, in the shape of the route table (platform/routes.ts). NOTE (1)
 */
import type { RouteSpec } from '../../../platform/routes.js';
import { ALL, READ } from '../../../platform/roles.js';

/** The path prefix the monitor serves its API under (the gateway does not strip it). */
export const API_PREFIX = '/monitor';

/** The route: readers see health; only tenant admins manage subscriptions (checked in the app too). */
export const MONITOR_ROUTE = {
  prefix: API_PREFIX,
  backend: { service: 'monitor', port: 'api' },
  stripPrefix: false,
  access: 'tenant',
  publicPaths: ['/openapi.json'],
  rights: { viewer: READ, operator: READ, 'tenant-admin': ALL, 'platform-admin': ALL },
  description: 'Liveness monitor: device health and signed CloudEvents webhooks, per tenant',
} as unknown as RouteSpec;

// NOTE
// 1. Not yet in the registry. A route's backend must be a component of platform/components.ts,
//    and a component there needs its construct, image and mesh grants in cdk8s/ (the next
//    slice of issue 21). Until then the tests derive the policy data from the route table with
//    this route added (the route table's own validation refuses a backend outside the
//    registry), so the real tenancy policy judges monitor requests as it will once the entry
//    exists.
