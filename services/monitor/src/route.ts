/**
 * Where the monitor serves its API: under its route's prefix in the registry
 * (platform/components.ts), which the gateway does not strip.
 */
import { COMPONENTS } from '../../../platform/components.js';

/** The path prefix the monitor serves its API under. */
export const API_PREFIX = COMPONENTS.monitor.routes[0].prefix;
