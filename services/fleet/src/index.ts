/**
 * The fleet service: building blocks for the server (bin/server.ts), the tests, the rollout
 * runner and the status source (contract.ts says how they meet).
 */
export { authorOf, createApp } from './app.js';
export type { AppDeps, TargetResult } from './app.js';
export { loadConfig } from './config.js';
export type { FleetConfig } from './config.js';
export type * from './contract.js';
export { FLEET_SERVICE_ERRORS, FleetFailure, fleetServiceError, problemType } from './errors.js';
export type { FieldError, FleetServiceErrorCode } from './errors.js';
export { createLogger } from './log.js';
export { Metrics } from './metrics.js';
export {
  DeployBody,
  GroupBody,
  GroupHostsBody,
  RolloutBody,
  Target,
  UpgradeBody,
} from './model.js';
export { buildOpenApi } from './openapi.js';
export { API_PREFIX } from './route.js';
export { startFleet } from './service.js';
export type { RunningFleet, ServiceOverrides } from './service.js';
export { GitStore, buildSnapshot, canonical, etagOf, refKey } from './store.js';
export type { GitStoreOptions } from './store.js';
