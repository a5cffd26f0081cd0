/**
 * The example pipeline against the Orion contract fake, with real tokens: the feature extractor
 * reads a tenant's Machines and feeds the detector, which writes `anomaly` back on an outlier
 * and on nothing else; the detector alone subscribes to Orion and does the same from
 * notifications; and what either refuses (another tenant's notification, a malformed one, a bad
 * feature message). The extractor's polls are driven by a manual clock.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import type { OrionFake } from '../../../testing/fakes/orion.js';
import { startOrionFake } from '../../../testing/fakes/orion.js';
import { platformContext, sharedKeycloak } from '../../../testing/real/keycloak.js';
import { freePort } from '../../../testing/real/opa.js';
import type { AgentCredentials } from '../../../testing/stack/agent-modules.js';
import { agentEnvironment, ensureAgentClient } from '../../../testing/stack/agent-modules.js';
import { ManualClock } from '../../../testing/support/manual-clock.js';
import { waitFor } from '../../../testing/support/processes.js';
import type { RunningAgent } from '../src/index.js';
import { startAgent } from '../src/index.js';
import {
  anomalyDetector,
  subscriptionDescription,
} from '../examples/anomaly-detector/src/detector.js';
import { featureExtractor } from '../examples/feature-extractor/src/extractor.js';

const TENANT = 'manufracture';
const EXTRACTOR = { id: '4a1b2c3d-0000-4000-8000-00000000e001', name: 'anomalies-extractor' };
const DETECTOR = { id: '4a1b2c3d-0000-4000-8000-00000000d001', name: 'anomalies-detector' };
const realm = platformContext().config.identity.realm;
const silent = { write: () => undefined };

let orion: OrionFake;
let extractorCreds: AgentCredentials;
let detectorCreds: AgentCredentials;
const running: RunningAgent[] = [];

const until = (probe: () => boolean | Promise<boolean>, what: string) =>
  waitFor(
    async () => probe(),
    30_000,
    () => new Error(`timed out waiting for ${what}`),
    20,
  );

async function orionCall(method: string, path: string, body: unknown, servicePath: string) {
  const res = await fetch(`${orion.url}${path}`, {
    method,
    headers: {
      'fiware-service': TENANT,
      'fiware-servicepath': servicePath,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}
const createMachine = (id: string, servicePath: string, temperature: number) =>
  orionCall(
    'POST',
    '/v2/entities',
    { id, type: 'Machine', temperature: { type: 'Number', value: temperature } },
    servicePath,
  );
const measure = (id: string, servicePath: string, temperature: number) =>
  orionCall(
    'PATCH',
    `/v2/entities/${id}/attrs`,
    { temperature: { type: 'Number', value: temperature } },
    servicePath,
  );
const machine = (id: string, servicePath: string) =>
  orion.entities(TENANT, servicePath).find((e) => e.id === id) as Record<string, any> | undefined;

async function detector(config: Record<string, unknown>, port = 0): Promise<RunningAgent> {
  const agent = await startAgent(anomalyDetector, {
    env: agentEnvironment({
      ...DETECTOR,
      tenant: TENANT,
      host: 'gpu-edge-1',
      revision: 'd1',
      heartbeatSeconds: 30,
      config: { entityType: 'Machine', source: 'manufracture/gpu-edge-1', ...config },
      orionUrl: orion.url,
      credentials: detectorCreds,
      port,
    }),
    logDestination: silent,
    host: '127.0.0.1',
  });
  running.push(agent);
  return agent;
}

beforeAll(async () => {
  const kc = await sharedKeycloak();
  orion = await startOrionFake();
  extractorCreds = await ensureAgentClient(kc, realm, {
    ...EXTRACTOR,
    tenant: TENANT,
    needs: ['orion:read'],
  });
  detectorCreds = await ensureAgentClient(kc, realm, {
    ...DETECTOR,
    tenant: TENANT,
    needs: ['orion:read', 'orion:write', 'orion:subscribe'],
  });
}, 300_000);
afterAll(async () => {
  for (const a of running) await a.close();
  await orion?.close();
});

describe('the pipeline: feature extractor → detector', () => {
  it('writes the anomaly attribute on the outlier only, and clears it when the values are normal again', async () => {
    orion.reset();
    const det = await detector({ subscribe: false, threshold: 3 });
    const clock = new ManualClock();
    const extractor = await startAgent(featureExtractor, {
      env: agentEnvironment({
        ...EXTRACTOR,
        tenant: TENANT,
        host: 'line-pc-1',
        revision: 'e1',
        heartbeatSeconds: 30,
        config: {
          entityType: 'Machine',
          window: 10,
          source: 'manufracture/line-pc-1',
          servicePaths: ['/line1'],
          pollSeconds: 10,
        },
        orionUrl: orion.url,
        credentials: extractorCreds,
        downstream: { [DETECTOR.name]: det.url },
      }),
      clock,
      logDestination: silent,
      host: '127.0.0.1',
    });
    running.push(extractor);
    const polls = async () =>
      ((await (await fetch(`${extractor.url}/healthz`)).json()) as { module: { polls: number } })
        .module.polls;
    await until(async () => (await polls()) >= 1, 'the first poll');
    const poll = async () => {
      const before = await polls();
      clock.advance(10_000);
      await until(async () => (await polls()) > before, 'a poll');
    };

    const normal = [20, 23, 19, 22, 20, 24, 21, 19, 22];
    await createMachine('urn:ngsi-ld:Machine:1', '/line1', normal[0]!);
    await createMachine('urn:ngsi-ld:Machine:2', '/line1', normal[0]!);
    await poll();
    for (const v of normal.slice(1)) {
      await measure('urn:ngsi-ld:Machine:1', '/line1', v);
      await measure('urn:ngsi-ld:Machine:2', '/line1', v + 1);
      await poll();
    }
    expect(machine('urn:ngsi-ld:Machine:1', '/line1')!.anomaly).toBeUndefined();
    expect(machine('urn:ngsi-ld:Machine:2', '/line1')!.anomaly).toBeUndefined();

    await measure('urn:ngsi-ld:Machine:1', '/line1', 60);
    await measure('urn:ngsi-ld:Machine:2', '/line1', 22);
    await poll();
    const flagged = machine('urn:ngsi-ld:Machine:1', '/line1')!;
    expect(flagged.anomaly).toMatchObject({
      type: 'StructuredValue',
      value: {
        anomalous: true,
        attribute: 'temperature',
        value: 60,
        threshold: 3,
        source: 'manufracture/gpu-edge-1',
      },
    });
    expect(flagged.anomaly.value.zScore).toBeGreaterThan(3);
    expect(machine('urn:ngsi-ld:Machine:2', '/line1')!.anomaly).toBeUndefined();

    await measure('urn:ngsi-ld:Machine:1', '/line1', 21);
    await poll();
    expect(machine('urn:ngsi-ld:Machine:1', '/line1')!.anomaly.value).toMatchObject({
      anomalous: false,
      value: 21,
    });
    expect(machine('urn:ngsi-ld:Machine:2', '/line1')!.anomaly).toBeUndefined();
    // Every write of the detector went to the entity's own service path, with its token.
    expect(
      orion.requests
        .filter((r) => r.method === 'POST' && r.path.startsWith('/v2/entities/urn:ngsi-ld:Machine'))
        .every((r) => r.servicePath === '/line1' && r.service === TENANT),
    ).toBe(true);
    await extractor.close();
    await det.close();
  });

  it('refuses a feature message with bad input with 400, naming the field', async () => {
    const det = await detector({ subscribe: false });
    const post = (body: string) =>
      fetch(`${det.url}/v1/features`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const good = {
      entityId: 'urn:ngsi-ld:Machine:9',
      entityType: 'Machine',
      servicePath: '/',
      attribute: 't',
      value: 1,
      n: 0,
      mean: 0,
      stdDev: 0,
    };
    const cases: [unknown, RegExp][] = [
      [{ ...good, value: 'hot' }, /value: .*number/],
      [{ ...good, stdDev: -1 }, /stdDev: /],
      [{ ...good, servicePath: '/#' }, /servicePath: a service path/],
      [{ ...good, entityType: 'Pump' }, /entityType: this detector watches Machine, not Pump/],
      [{ ...good, extra: 1 }, /extra/],
    ];
    for (const [body, why] of cases) {
      const res = await post(JSON.stringify(body));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { description: string }).description).toMatch(why);
    }
    const notJson = await post('{"entityId":');
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { description: string }).description).toMatch(/not JSON/);
    expect(orion.requests.filter((r) => r.path.includes('Machine:9'))).toEqual([]);
    await det.close();
  });
});

describe('the detector alone, subscribed to Orion', () => {
  it('subscribes to Machine changes and flags an outlier from the notifications', async () => {
    orion.reset();
    const port = await freePort();
    const notifyUrl = `http://127.0.0.1:${port}/v1/notify`;
    const det = await detector({ notifyUrl, threshold: 3 }, port);
    await until(() => orion.subscriptions(TENANT).length === 1, 'the subscription');
    expect(orion.subscriptions(TENANT)[0]).toMatchObject({
      description: subscriptionDescription(DETECTOR.name, det.env.instance, 'Machine'),
      subject: { entities: [{ idPattern: '.*', type: 'Machine' }] },
      notification: { http: { url: notifyUrl }, onlyChangedAttrs: true },
    });
    await createMachine('urn:ngsi-ld:Machine:7', '/hall', 5);
    for (const v of [6, 5, 6, 5, 6]) await measure('urn:ngsi-ld:Machine:7', '/hall', v);
    await orion.settled();
    expect(machine('urn:ngsi-ld:Machine:7', '/hall')!.anomaly).toBeUndefined();
    await measure('urn:ngsi-ld:Machine:7', '/hall', 40);
    await until(
      () => machine('urn:ngsi-ld:Machine:7', '/hall')!.anomaly !== undefined,
      'the anomaly',
    );
    expect(machine('urn:ngsi-ld:Machine:7', '/hall')!.anomaly.value).toMatchObject({
      anomalous: true,
      attribute: 'temperature',
      value: 40,
    });
    await orion.settled();

    // A restart finds its subscription instead of making a second one.
    await det.close();
    const again = await detector({ notifyUrl }, port);
    await until(
      async () =>
        (
          (await (await fetch(`${again.url}/healthz`)).json()) as {
            module: { subscription: string };
          }
        ).module.subscription !== 'pending',
      'the subscription found',
    );
    expect(orion.subscriptions(TENANT)).toHaveLength(1);
    await again.close();
  });

  it("refuses another tenant's notification and a malformed one", async () => {
    orion.reset();
    const det = await detector({ subscribe: false });
    const notify = (service: string | undefined, body: unknown) =>
      fetch(`${det.url}/v1/notify`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(service ? { 'fiware-service': service } : {}),
          'fiware-servicepath': '/',
        },
        body: JSON.stringify(body),
      });
    const data = [
      { id: 'urn:ngsi-ld:Machine:1', type: 'Machine', temperature: { type: 'Number', value: 1e9 } },
    ];
    const other = await notify('smithereens', { subscriptionId: 's1', data });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { description: string }).description).toMatch(
      /serves tenant manufracture, not 'smithereens'/,
    );
    expect((await notify(undefined, { subscriptionId: 's1', data })).status).toBe(403);
    for (const body of [
      { data },
      { subscriptionId: 's1', data: [{ id: 'x' }] },
      { subscriptionId: 's1', data: 'x' },
      [],
    ]) {
      const res = await notify(TENANT, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { description: string }).description).toMatch(
        /not an NGSI-v2 notification/,
      );
    }
    expect(orion.requests.filter((r) => r.method === 'POST' && r.path.includes('Machine'))).toEqual(
      [],
    );
    await det.close();
  });
});
