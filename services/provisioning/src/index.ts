/**
 * The device provisioning service: building blocks for the server (bin/server.ts), the tests
 * and the benchmark.
 */
export { API_PREFIX, createApp } from './app.js';
export type { AppDeps } from './app.js';
export { loadConfig } from './config.js';
export type { ProvisioningConfig } from './config.js';
export { PROVISIONING_ERRORS, problemType, provisioningError } from './errors.js';
export type { ProvisioningErrorCode } from './errors.js';
export { IotAgentClient, OrionClient } from './fiware-client.js';
export type { Scope } from './fiware-client.js';
export { createLogger } from './log.js';
export { Metrics } from './metrics.js';
export { buildOpenApi } from './openapi.js';
export {
  Provisioner,
  ProvisioningFailure,
  QUANTUMLEAP_SUBSCRIPTION_DESCRIPTION,
} from './provisioner.js';
export type { BulkResult, InventoryEntry, ItemResult, Liveness } from './provisioner.js';
export { Upstream, UpstreamError } from './upstream.js';
export { startService } from './service.js';
export type { RunningService, ServiceOverrides } from './service.js';
