/**
 * The platform's acceptance scenarios, in the order `npm run scenarios` runs them.
 */
import { basicSense } from './basic-sense.js';
import { fleet } from './fleet.js';
import { intervene } from './intervene.js';
import { liveness } from './liveness.js';
import type { ScenarioEnv } from './lib/env.js';
import type { Scenario } from './lib/framework.js';
import { tenantIsolation } from './tenant-isolation.js';
import { versions } from './versions.js';

export const SCENARIOS: readonly Scenario<ScenarioEnv>[] = [
  versions,
  basicSense,
  tenantIsolation,
  liveness,
  intervene,
  fleet,
];

export { basicSense, fleet, intervene, liveness, tenantIsolation, versions };
export { scenarioEnv } from './lib/env.js';
export type { ScenarioEnv, ScenarioEnvOptions } from './lib/env.js';
export { runScenarios, summarize } from './lib/framework.js';
export type { Scenario, ScenarioResult, Step, StepResult, RunSummary } from './lib/framework.js';
export { Platform } from './lib/platform.js';
export type { TargetOptions } from './lib/platform.js';
export { jsonReport, junitXml, progressReporter, summaryText } from './lib/report.js';
