/**
 * What the services' processes share: probes, API mounting and the unexpected-error answer of
 * their express apps, their entry point, their logger and their publisher of platform events.
 */
export { UNMATCHED_ROUTE, addProbes, mountApi, requestFault, sendInternalError } from './http.js';
export type { MountOptions, ProbeOptions, RequestFault } from './http.js';
export { createServiceLogger } from './log.js';
export { CLOSE_MS, DRAIN_MS, runServer } from './server.js';
export type { RunServerOptions, RunningService } from './server.js';
export { EventPublisher, callerLabel } from './events.js';
export type { EventPublisherOptions, PublisherClock, PublisherCounts } from './events.js';
