/**
 * The agent runtime kit: what a module needs to run as an agent of the fleet (its environment,
 * its tokens, Orion as its tenant, its heartbeat, /healthz, logs and a graceful stop).
 * docs/agents-as-code.md (Writing a module) shows how to use it.
 */
export { runAgent, startAgent } from './agent.js';
export type {
  AgentKit,
  AgentModule,
  ModuleHandle,
  RunningAgent,
  StartAgentOptions,
} from './agent.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { DEFAULT_AGENT_PORT, downstreamUrl, loadAgentEnv, parseAgentConfig } from './env.js';
export type { AgentEnv, AgentIdentity } from './env.js';
export { AGENT_ERRORS, agentError, OrionError } from './errors.js';
export type { AgentErrorCode } from './errors.js';
export { MIN_HISTORY, numericValue, SeriesWindow, zScore } from './features.js';
export type { Features } from './features.js';
export { ANNOUNCE_MIN_INTERVAL_MS, backoffMs, Heartbeat, heartbeatAttrs } from './heartbeat.js';
export type { AnnounceResult, HeartbeatStatus } from './heartbeat.js';
export { createAgentLogger } from './log.js';
export { NgsiClient } from './ngsi.js';
export type { NgsiAttr, NgsiEntity } from './ngsi.js';
export { ClientCredentials } from './token.js';
