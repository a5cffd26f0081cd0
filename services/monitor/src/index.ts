/**
 * The liveness monitor: building blocks for the server (bin/server.ts), the tests and the
 * benchmark.
 */
export { createApp } from './app.js';
export type { AppDeps } from './app.js';
export { loadConfig } from './config.js';
export type { MonitorConfig } from './config.js';
export { Dispatcher, globToRegExp, subjectId, wants } from './deliveries.js';
export type { DispatchSummary, DispatcherOptions } from './deliveries.js';
export { MONITOR_ERRORS, MonitorFailure, monitorError, problemType } from './errors.js';
export type { MonitorErrorCode } from './errors.js';
export {
  EVENT_TYPES,
  EVENT_TYPE_PREFIX,
  cloudEventJson,
  cloudEventOf,
  eventId,
  eventType,
  livenessEvent,
  newSecret,
  signedHeaders,
} from './events.js';
export {
  AlertmanagerPayload,
  EVENTS_BODY_LIMIT,
  INGEST_PRODUCERS,
  PlatformEventBody,
  alertEvent,
  createEventsApp,
} from './ingest.js';
export type { EventsAppDeps } from './ingest.js';
export { FiwareDeviceBackend, HEALTH_ATTRIBUTE } from './fiware.js';
export type {
  AgentTarget,
  AnnounceOptions,
  AnnounceOutcome,
  DeviceBackend,
  DeviceTarget,
  HealthUpdate,
} from './fiware.js';
export {
  DEFAULT_LIVENESS_POLICY,
  LIVENESS_STATES,
  TARGET_KINDS,
  deadlineMs,
  initialState,
  nudgeFailed,
  step,
  targetKey,
} from './liveness.js';
export type {
  LivenessAction,
  LivenessPolicy,
  LivenessState,
  LivenessStep,
  Target,
  TargetKind,
  TargetState,
} from './liveness.js';
export { createLogger } from './log.js';
export { LIVENESS_VALUE, Metrics } from './metrics.js';
export { Monitor } from './monitor.js';
export type { MonitorOptions, PassSummary } from './monitor.js';
export { EventsQuery, SubscriptionBody } from './model.js';
export { buildOpenApi } from './openapi.js';
export { API_PREFIX } from './route.js';
export { fiwareBackend, startMonitor } from './service.js';
export type { RunningMonitor, ServiceOverrides } from './service.js';
export { MonitorStore } from './store.js';
export type {
  DeliveryLogEntry,
  MonitorDocument,
  PendingDelivery,
  StoredEvent,
  Subscription,
} from './store.js';
