/**
 * The example pipeline of fleet/ end to end on the local stack, as `npm run stack:local` runs it:
 * manufracture's basic-sense devices are provisioned through the provisioning service and send
 * Ultralight and JSON measurements through the IoT Agents; the feature extractor and the
 * anomaly detector run as processes with the records' config and their own Keycloak clients;
 * the device that sends an outlier gets an `anomaly` attribute in Orion, the others none, and
 * each module's heartbeat entity carries its instance, host and revision.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import {
  AGENT_INSTANCE_ENTITY_TYPE,
  HEARTBEAT_SERVICE_PATH,
} from '../../platform/fleet/identity.js';
import { scenarioEnv } from '../../scenarios/lib/env.js';
import type { ScenarioEnv } from '../../scenarios/lib/env.js';
import { devicesOf, provision, sendMeasures } from '../../scenarios/lib/fiware.js';
import type { PlacedDevice } from '../../scenarios/lib/fiware.js';
import type { AgentPipeline, RunningModule } from '../stack/agent-pipeline.js';
import { LOCAL_PIPELINE, startAgentPipeline } from '../stack/agent-pipeline.js';
import type { ScenarioStack } from '../stack/scenario-stack.js';
import { STACK_STOP_TIMEOUT_MS, startScenarioStack } from '../stack/scenario-stack.js';
import { waitFor } from '../support/processes.js';

const TENANT = LOCAL_PIPELINE.tenant;
let stack: ScenarioStack;
let pipeline: AgentPipeline;
let env: ScenarioEnv;

const until = (probe: () => boolean | Promise<boolean>, what: string) =>
  waitFor(
    async () => probe(),
    60_000,
    () => new Error(`timed out waiting for ${what}`),
    50,
  );
const healthOf = async (m: RunningModule) =>
  (await (await fetch(`${m.url}/healthz`)).json()) as {
    status: string;
    heartbeat: { beats: number };
    module: { polls: number; sent: number };
  };
const entityOf = (d: PlacedDevice) =>
  stack.orion.entities(TENANT, d.servicePath).find((e) => e.id === d.device.entity_name) as
    Record<string, any> | undefined;

beforeAll(async () => {
  stack = await startScenarioStack();
  pipeline = await startAgentPipeline({
    keycloak: stack.keycloak,
    orionUrl: stack.orion.url,
    heartbeatSeconds: 1,
    pollSeconds: 1,
  });
  env = scenarioEnv(stack.platform());
}, 420_000);
afterAll(async () => {
  await pipeline?.close();
  await stack?.close();
}, STACK_STOP_TIMEOUT_MS);

describe('the anomaly pipeline on the local stack', () => {
  it('flags the basic-sense device that sends an outlier, and only that one', async () => {
    const file = env.data.find((f) => f.tenant === TENANT)!;
    await provision(env.platform, file);
    const devices = devicesOf(file);
    const outlier = devices.find((d) => d.device.device_id === 'foodev')!;
    const others = devices.filter((d) => d !== outlier);
    expect(others.length).toBeGreaterThan(0);

    // After each round of measurements, a whole poll of the extractor.
    const round = async (values: (d: PlacedDevice) => number) => {
      for (const d of devices) await sendMeasures(env.platform, d, values(d));
      const polls = (await healthOf(pipeline.extractor)).module.polls;
      await until(
        async () => (await healthOf(pipeline.extractor)).module.polls >= polls + 2,
        'a poll after the measurements',
      );
    };
    const normal = [20, 23, 19, 22, 20, 24, 21, 19, 22];
    for (const v of normal) await round(() => v);
    for (const d of devices) expect(entityOf(d)?.anomaly).toBeUndefined();

    await round((d) => (d === outlier ? 90 : 21));
    await until(() => entityOf(outlier)?.anomaly !== undefined, 'the anomaly attribute');
    expect(entityOf(outlier)!.anomaly.value).toMatchObject({
      anomalous: true,
      attribute: 'foo',
      value: 90,
      threshold: 2.5,
      source: `${TENANT}/${pipeline.detector.host}`,
    });
    for (const d of others) expect(entityOf(d)?.anomaly).toBeUndefined();
    expect((await healthOf(pipeline.extractor)).module.sent).toBeGreaterThan(normal.length);
  });

  it("keeps each module's heartbeat entity with its instance, host and revision", async () => {
    for (const m of [pipeline.extractor, pipeline.detector]) {
      const beats = (await healthOf(m)).heartbeat.beats;
      await until(
        async () => (await healthOf(m)).heartbeat.beats > beats,
        `${m.agent.name}'s next beat`,
      );
      const e = stack.orion
        .entities(TENANT, HEARTBEAT_SERVICE_PATH)
        .find((x) => x.id === m.entityId) as Record<string, any>;
      expect(e).toMatchObject({
        type: AGENT_INSTANCE_ENTITY_TYPE,
        agentId: { value: m.agent.id },
        agentName: { value: m.agent.name },
        host: { value: m.host },
        revision: { value: m.agent.revision },
        heartbeatSeconds: { value: 1 },
      });
      expect(m.entityId).toContain(m.host);
    }
  });
});
