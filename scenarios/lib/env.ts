/**
 * What every scenario gets: the platform, the scenario data and the run's settings.
 */
import { randomInt } from 'node:crypto';

import type { DevicesFile } from '../../services/provisioning/src/devices-file.js';
import { devicesOf, scenarioData } from './fiware.js';
import type { Platform } from './platform.js';

/** The environment of a run. */
export interface ScenarioEnv {
  readonly platform: Platform;
  /** One devices file per tenant (the anchor's data by default). */
  readonly data: readonly DevicesFile[];
  /** Measurements per device in basic-sense, each in its device's protocol. */
  readonly measurements: number;
  /** How long eventually consistent checks (Orion, QuantumLeap) may take. */
  readonly settleTimeoutMs: number;
  /**
   * Distinguishes this run's values from an earlier run's, so a re-run proves new data
   * arrived (measurements are `base + n`).
   */
  readonly valueBase: number;
}

/** Options of {@link scenarioEnv}. */
export interface ScenarioEnvOptions {
  /** @default 3 */
  readonly measurements?: number;
  /** @default 20 000 ms */
  readonly settleTimeoutMs?: number;
  /** The devices files' directory. @default docs/examples */
  readonly dataDir?: string;
}

/** The environment for a platform, with the data of the platform's tenants. */
export function scenarioEnv(platform: Platform, opts: ScenarioEnvOptions = {}): ScenarioEnv {
  const data = scenarioData(platform.tenants, opts.dataDir);
  for (const file of data) {
    if (devicesOf(file).length === 0) {
      throw new TypeError(`the scenario data of ${file.tenant} has no device`);
    }
  }
  return {
    platform,
    data,
    measurements: opts.measurements ?? 3,
    settleTimeoutMs: opts.settleTimeoutMs ?? 20_000,
    // Multiples of 1000 below 10^9: values stay Integer-sized and distinct per run.
    valueBase: randomInt(1, 1_000_000) * 1000,
  };
}
