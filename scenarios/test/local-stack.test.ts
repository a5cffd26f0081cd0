/**
 * Every scenario against the local stack (testing/stack/scenario-stack.ts: real
 * Keycloak, real OPA behind the local gateway, the real IoT Agent library with the Ultralight
 * south binding, the real provisioning service, the Orion and QuantumLeap contract fakes), and
 * the failures a scenario must report: a missing QuantumLeap subscription.
 *
 * Besides the scenarios' own verdicts, the tests look at the stack directly (the fakes' state,
 * the gateway's decisions), so a scenario that passes without checking anything is caught.
 */
import type { ScenarioEnv } from '../lib/env.js';
import { scenarioEnv } from '../lib/env.js';
import type { ScenarioResult } from '../lib/framework.js';
import { runScenarios } from '../lib/framework.js';
import { basicSense } from '../basic-sense.js';
import { KEY_NOT_YET } from '../lib/fiware.js';
import { SCENARIOS } from '../index.js';
import { intervene } from '../intervene.js';
import { jsonReport, junitXml } from '../lib/report.js';
import { git } from '../../testing/support/argocd-apps.js';
import { formatLogEntry } from '../../testing/stack/local-env.js';
import type { ScenarioStack, StackLogEntry } from '../../testing/stack/scenario-stack.js';
import { STACK_STOP_TIMEOUT_MS, startScenarioStack } from '../../testing/stack/scenario-stack.js';

let stack: ScenarioStack;
const logs: StackLogEntry[] = [];
let env: ScenarioEnv;
let first: {
  results: ScenarioResult[];
  summary: Awaited<ReturnType<typeof runScenarios>>['summary'];
};

const stepOf = (results: ScenarioResult[], scenario: string, step: string) =>
  results.find((r) => r.name === scenario)?.steps.find((s) => s.id === step);
const failures = (results: ScenarioResult[]) =>
  results.flatMap((r) =>
    r.steps.filter((s) => s.status !== 'passed').map((s) => `${r.name}/${s.id}: ${s.message}`),
  );

beforeAll(async () => {
  stack = await startScenarioStack({ log: (e) => logs.push(e) });
  // Fetched first, judged last: by tenant-isolation it has (nearly) expired.
  void stack.expiredToken('manufracture').catch(() => undefined);
  env = scenarioEnv(stack.platform(), { measurements: 3, settleTimeoutMs: 10_000 });
  first = await runScenarios(SCENARIOS, env, { stepTimeoutMs: 90_000 });
}, 420_000);
afterAll(async () => {
  await stack?.close();
}, STACK_STOP_TIMEOUT_MS);

describe('the scenarios on the local stack', () => {
  it('all pass, with no step skipped', () => {
    expect(failures(first.results)).toEqual([]);
    expect(first.summary).toMatchObject({ failed: 0, skipped: 0, ok: true });
    expect(first.results.map((r) => r.name)).toEqual([
      'versions',
      'basic-sense',
      'tenant-isolation',
      'liveness',
      'intervene',
      'fleet',
    ]);
  });

  it('versions reached the public paths and was refused on protected and blocked ones', () => {
    const byPath = (p: string) => stack.gateway.decisions.filter((d) => d.path === p);
    expect(byPath('/orion/version').length).toBeGreaterThan(0);
    expect(byPath('/orion/version').every((d) => d.allowed)).toBe(true);
    expect(
      byPath('/orion/v2/entities').some(
        (d) =>
          !d.allowed && d.status === 401 && d.reason === 'denied by opa-ext-authz: no bearer token',
      ),
    ).toBe(true);
    // Each IoT Agent's routes, derived from the registry: about is public, measures are not.
    expect(byPath('/iota-json-north/iot/about').some((d) => d.allowed && d.status === 200)).toBe(
      true,
    );
    expect(
      byPath('/iota-json-south/iot/json').some(
        (d) => d.method === 'GET' && !d.allowed && d.status === 401,
      ),
    ).toBe(true);
    expect(byPath('/auth/admin/').length).toBeGreaterThan(0);
    expect(byPath('/auth/admin/').every((d) => !d.allowed && d.status === 403)).toBe(true);
  });

  it('basic-sense left every measurement in Orion and QuantumLeap, per tenant', () => {
    const base = env.valueBase;
    const values = [1, 2, 3].map((i) => String(base + i));
    expect(
      stack.quantumleap.series('manufracture', 'urn:ngsi:bot:1', 'foo').values.map(String),
    ).toEqual(expect.arrayContaining(values));
    expect(
      stack.quantumleap.series('smithereens', 'urn:ngsi:bot:2', 'foo').values.map(String),
    ).toEqual(expect.arrayContaining(values));
    const bot1 = stack.orion.entities('manufracture').find((e) => e.id === 'urn:ngsi:bot:1');
    expect(bot1).toMatchObject({ type: 'Bot', category: { value: 'sensor' } });
    expect(stepOf(first.results, 'basic-sense', 'sense')?.message).toBe(
      '12 measurements from 4 devices (ultralight, json)',
    );
  });

  it('basic-sense sent the JSON device through the IoT Agent for JSON, its numbers kept numbers', () => {
    const numbers = [1, 2, 3].map((i) => env.valueBase + i);
    const bot3 = stack.orion.entities('manufracture').find((e) => e.id === 'urn:ngsi:bot:3');
    expect(bot3).toMatchObject({
      type: 'Bot',
      temperature: { type: 'Number', value: numbers[2] },
      humidity: { type: 'Number', value: numbers[2] },
    });
    expect(
      stack.quantumleap.series('manufracture', 'urn:ngsi:bot:3', 'temperature').values,
    ).toEqual(expect.arrayContaining(numbers));
    // Through the gateway's JSON route, to the JSON agent's south API, never the Ultralight one.
    // (versions also GETs that path without a token, and sees it refused.)
    const json = stack.gateway.decisions.filter(
      (d) => d.method === 'POST' && d.path === '/iota-json-south/iot/json',
    );
    const accepted = (d: (typeof json)[number]) => d.allowed && d.status === 200;
    expect(json.filter(accepted).length).toBeGreaterThanOrEqual(numbers.length);
    // The group's key reaches OPA with its next API-key bundle (a few seconds on a busy
    // machine): until then the gateway refuses it, for that reason only, and the scenario
    // retries. Once accepted, every payload is.
    const first = json.findIndex(accepted);
    expect(
      json.slice(0, first).filter((d) => d.reason !== `denied by opa-ext-authz: ${KEY_NOT_YET}`),
    ).toEqual([]);
    expect(json.slice(first).filter((d) => !accepted(d))).toEqual([]);
  });

  it('tenant-isolation saw each attempt refused by the policy, for the reason under test', () => {
    const denies = stack.gateway.decisions.filter((d) => !d.allowed);
    expect(denies.some((d) => d.status === 403 && /tenant/.test(d.reason ?? ''))).toBe(true);
    expect(denies.some((d) => d.status === 401 && /expired/.test(d.reason ?? ''))).toBe(true);
    expect(denies.some((d) => d.status === 401 && /signature/.test(d.reason ?? ''))).toBe(true);
    expect(denies.some((d) => d.status === 403 && /role/.test(d.reason ?? ''))).toBe(true);
    // The same entity id, different values, per tenant.
    const bot2 = (t: string) => stack.orion.entities(t).find((e) => e.id === 'urn:ngsi:bot:2');
    expect(bot2('manufracture')!.bar).not.toEqual(bot2('smithereens')!.bar);
  });

  it('fleet deployed in two waves, each a commit of the records, then removed the agent', () => {
    const name = `scenario-detector-${env.valueBase}`;
    const log = git(stack.fleet.bareRepo, 'log', '--reverse', '--format=%an|%s')
      .split('\n')
      .filter((l) => l.includes(name));
    expect(log).toEqual([
      `service-account-manufracture-scenarios|fleet: deploy manufracture/${name} to group line-pcs`,
      `kitt4sme fleet service|fleet: rollout of manufracture/${name}: wave 2/2 begins`,
      `kitt4sme fleet service|fleet: rollout of manufracture/${name} done: 2/2 waves run ghcr.io/kitt4sme/anomaly-detector:0.1.0`,
      `service-account-manufracture-scenarios|fleet: remove manufracture/${name}`,
    ]);
    const fleetRun = first.results.find((r) => r.name === 'fleet')!;
    expect(fleetRun.steps.find((st) => st.id === 'status')!.message).toMatch(
      /^ipc-line1 running [0-9a-f]{16}, ipc-line2 running [0-9a-f]{16}$/,
    );
  });

  it('intervene went through Orion, the agent and the device, and back', () => {
    const bot1 = stack.orion.entities('manufracture').find((e) => e.id === 'urn:ngsi:bot:1')!;
    expect(bot1.reset_status).toMatchObject({ value: 'OK' });
    expect(bot1.reset_info).toMatchObject({ value: `done-${env.valueBase}` });
    // The command reached the agent as a forwarded update, and the device polled for it.
    expect(
      stack.orion.requests.some(
        (r) =>
          r.method === 'PATCH' &&
          decodeURIComponent(r.path) === '/v2/entities/urn:ngsi:bot:1/attrs' &&
          r.service === 'manufracture',
      ),
    ).toBe(true);
    expect(stack.south.requests.some((r) => r.method === 'GET' && r.status === 200)).toBe(true);
  });

  it('liveness: the monitor nudged foodev through Orion, raised one offline and its recovered, and wrote its health', () => {
    const run = first.results.find((r) => r.name === 'liveness')!;
    const offline = /event ([0-9a-f-]{36}) \(devices\/foodev\)$/.exec(
      run.steps.find((st) => st.id === 'offline')!.message ?? '',
    )?.[1];
    expect(offline).toBeDefined();
    expect(run.steps.find((st) => st.id === 'recovered')!.message).toContain(`resolves ${offline}`);
    // The monitor's own log: nudges for foodev, then that offline, then one recovered.
    const mine = stack.monitor.logs.filter(
      (l) => l.device === 'foodev' && l.tenant === 'manufracture',
    );
    expect(mine.some((l) => l.msg === 'nudged')).toBe(true);
    const events = mine.filter((l) => l.msg === 'event');
    const at = events.findIndex((l) => l.id === offline);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(events[at + 1]).toMatchObject({ event: 'eu.kitt4sme.monitor.device.recovered' });
    // Its health reached the entity, as a measurement would (by now foodev, silent again after
    // the scenario, may be anywhere on its way to offline).
    const bot1 = stack.orion.entities('manufracture').find((e) => e.id === 'urn:ngsi:bot:1')!;
    const health = bot1.deviceHealth as { value: string; metadata: { since: { value: string } } };
    expect(['fresh', 'silent', 'nudged', 'offline']).toContain(health.value);
    expect(Date.parse(health.metadata.since.value)).toBeGreaterThan(0);
    // The scenario removed its subscription.
    expect(Object.keys(stack.monitor.service.store.doc.subscriptions)).toEqual([]);
  });

  it('reports of the run: JSON says ok, JUnit has no failure', () => {
    const doc = jsonReport(first.results, first.summary, stack.platform());
    expect(doc).toMatchObject({ ok: true, summary: { failed: 0, skipped: 0 } });
    const xml = junitXml(first.results, first.summary);
    expect(xml).toContain('failures="0"');
    expect(xml).not.toContain('<failure');
  });

  it('basic-sense and intervene are re-runnable: a second run passes, provisioning unchanged', async () => {
    const again = await runScenarios(
      [basicSense, intervene],
      scenarioEnv(stack.platform(), {
        measurements: 2,
        settleTimeoutMs: 10_000,
      }),
    );
    expect(failures(again.results)).toEqual([]);
    expect(stepOf(again.results, 'basic-sense', 'provision-manufracture')?.message).toBe(
      '3 devices: 3 unchanged',
    );
  }, 120_000);
});

describe('a scenario fails with a clear message', () => {
  it('basic-sense, when the QuantumLeap subscription is missing', async () => {
    // Someone deleted the subscriptions; the run does not recreate them.
    for (const tenant of ['manufracture', 'smithereens']) {
      for (const s of stack.orion.subscriptions(tenant)) {
        const res = await fetch(`${stack.orion.url}/v2/subscriptions/${s.id as string}`, {
          method: 'DELETE',
          headers: { 'fiware-service': tenant },
        });
        expect(res.status).toBe(204);
      }
    }
    const run = await runScenarios(
      [basicSense],
      scenarioEnv(stack.platform(), { measurements: 1, settleTimeoutMs: 1_500 }),
      { skip: ['basic-sense/subscribe-manufracture', 'basic-sense/subscribe-smithereens'] },
    );
    expect(run.summary.ok).toBe(false);
    const ql = stepOf(run.results, 'basic-sense', 'quantumleap-manufracture');
    expect(ql?.status).toBe('failed');
    expect(ql?.message).toMatch(
      /^QuantumLeap's last 1 values of urn:ngsi:bot:1\.foo are \[.*\], expected \[\d+\] \(still so after \d+ attempts in [\d.]+ s\)\. Orion has no subscription notifying QuantumLeap for manufracture: the QuantumLeap subscription is missing/,
    );
    // Orion itself was fine: the failure names the missing link, not the data.
    expect(stepOf(run.results, 'basic-sense', 'orion-manufracture')?.status).toBe('passed');
  }, 60_000);

  it('basic-sense, when a second subscription feeds QuantumLeap (the demo script’s)', async () => {
    const res = await fetch(`${stack.orion.url}/v2/subscriptions`, {
      method: 'POST',
      headers: { 'fiware-service': 'manufracture', 'content-type': 'application/json' },
      body: JSON.stringify({
        description: 'Notify QuantumLeap of changes to any entity',
        subject: { entities: [{ idPattern: '.*' }] },
        notification: { http: { url: stack.quantumleap.notifyUrl } },
      }),
    });
    expect(res.status).toBe(201);
    const run = await runScenarios(
      [basicSense],
      scenarioEnv(stack.platform(), { measurements: 1, settleTimeoutMs: 1_500 }),
    );
    const sub = stepOf(run.results, 'basic-sense', 'subscribe-manufracture');
    expect(sub?.status).toBe('failed');
    expect(sub?.message).toMatch(
      /^2 subscriptions notify QuantumLeap for manufracture \(.*"Notify QuantumLeap of changes to any entity".*\): QuantumLeap stores every change once per subscription\. Keep the provisioning service's and delete the others/,
    );
  }, 60_000);

  describe('the request log (what `npm run stack:local` prints)', () => {
    /** The formatted lines of the entries that name `correlator`, once `done` holds. */
    const linesOf = async (correlator: string, done: (lines: string[]) => boolean) => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const lines = logs
          .map(formatLogEntry)
          .filter((l) => l.includes(`correlator=${correlator}`));
        if (done(lines) || Date.now() > deadline) return lines;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const sources = (lines: string[]) => new Set(lines.map((l) => l.split(' ')[0]));

    it('follows one request through the gateway, OPA and the provisioning service by its correlator', async () => {
      const token = await stack.platform().token('manufracture');
      const correlator = `follow-${process.pid}-allowed`;
      const res = await fetch(`${stack.baseUrl}/provisioning/v1/groups?limit=5`, {
        headers: {
          authorization: `Bearer ${token}`,
          'fiware-service': 'manufracture',
          'fiware-correlator': correlator,
        },
      });
      expect(res.status).toBe(200);
      const lines = await linesOf(correlator, (l) => sources(l).size === 3);
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            new RegExp(
              `^gateway +GET /provisioning/v1/groups 200 tenant=manufracture correlator=${correlator} id=[0-9a-f-]{36}$`,
            ),
          ),
          expect.stringMatching(
            new RegExp(
              `^opa +GET /provisioning/v1/groups allow correlator=${correlator} id=[0-9a-f-]{36} decision=`,
            ),
          ),
          expect.stringMatching(
            new RegExp(
              `^provisioning +info request method=GET path=/provisioning/v1/groups status=200 tenant=manufracture correlator=${correlator}$`,
            ),
          ),
        ]),
      );
      // The gateway and OPA name the same request id.
      const ids = lines.map((l) => /id=([0-9a-f-]{36})/.exec(l)?.[1]).filter(Boolean);
      expect(new Set(ids).size).toBe(1);
      const all = JSON.stringify(logs);
      expect(all).not.toContain(token);
      expect(all).not.toContain('limit=5');
    });

    it('shows a refused request with the reason, in the gateway and OPA only', async () => {
      const correlator = `follow-${process.pid}-refused`;
      const res = await fetch(`${stack.baseUrl}/provisioning/v1/groups`, {
        headers: { 'fiware-service': 'manufracture', 'fiware-correlator': correlator },
      });
      expect(res.status).toBe(401);
      const lines = await linesOf(correlator, (l) => sources(l).size === 2);
      expect(lines).toHaveLength(2);
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            /^gateway .* 401 .*reason="denied by opa-ext-authz: no bearer token"$/,
          ),
          expect.stringMatching(/^opa .* deny 401 .*reason="no bearer token"$/),
        ]),
      );
      expect([...sources(lines)].sort()).toEqual(['gateway', 'opa']);
    });
  });
});
