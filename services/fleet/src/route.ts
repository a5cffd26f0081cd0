/**
 * Where the fleet service serves its API: under its route's prefix in the registry
 * (platform/components.ts), which the gateway does not strip.
 */
import { COMPONENTS } from '../../../platform/components.js';

/** The path prefix the fleet service serves its API under. */
export const API_PREFIX = COMPONENTS.fleet.routes[0].prefix;
