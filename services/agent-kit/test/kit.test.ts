/**
 * The agent runtime kit against the real Keycloak (the agent's own client, client credentials)
 * and the Orion contract fake: the heartbeat creates, then updates, the instance's entity as the
 * contract says; a token endpoint that is down or refuses, and an Orion that is down or refuses,
 * make the heartbeat retry with backoff and /healthz say so, without ending the module; a bad
 * environment or config stops a module with a named variable or key and exit code 2; SIGTERM
 * stops it cleanly. Time moves only when a test moves the clock (testing/support/manual-clock.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';

import { EXIT } from '../../../platform/cli.js';
import {
  AGENT_ANNOUNCE_PATH,
  AGENT_ENV,
  AGENT_INSTANCE_ENTITY_TYPE,
  HEARTBEAT_SERVICE_PATH,
  agentAnnounceUrl,
  agentInstanceEntityId,
} from '../../../platform/fleet/identity.js';
import type { OrionFake } from '../../../testing/fakes/orion.js';
import { startOrionFake } from '../../../testing/fakes/orion.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { platformContext, sharedKeycloak } from '../../../testing/real/keycloak.js';
import { freePort } from '../../../testing/real/opa.js';
import type { AgentCredentials } from '../../../testing/stack/agent-modules.js';
import {
  agentEnvironment,
  ensureAgentClient,
  MODULE_BINS,
  startAgentProcess,
} from '../../../testing/stack/agent-modules.js';
import { ManualClock } from '../../../testing/support/manual-clock.js';
import { waitFor } from '../../../testing/support/processes.js';
import type { AgentModule, RunningAgent } from '../src/index.js';
import {
  backoffMs,
  ClientCredentials,
  loadAgentEnv,
  parseAgentConfig,
  startAgent,
} from '../src/index.js';
import { DetectorConfig } from '../examples/anomaly-detector/src/detector.js';

const TENANT = 'manufracture';
const AGENT_ID = '0d9f4a52-7c1e-4b8a-9f3d-5e6a7b8c9d01';
const HOST = 'line-pc-1';
const realm = platformContext().config.identity.realm;

let kc: KeycloakServer;
let orion: OrionFake;
let creds: AgentCredentials;
const running: RunningAgent[] = [];

/** A module that does nothing but be an agent. */
const probe: AgentModule<z.ZodObject> = { name: 'probe', config: z.object({}), start: () => ({}) };
const silent = { write: () => undefined };

const envOf = (over: Partial<Parameters<typeof agentEnvironment>[0]> = {}) =>
  agentEnvironment({
    id: AGENT_ID,
    name: 'probe',
    tenant: TENANT,
    host: HOST,
    revision: 'r1a2b3c4',
    heartbeatSeconds: 30,
    config: {},
    orionUrl: orion.url,
    credentials: creds,
    ...over,
  });

async function start(env: Record<string, string>, clock: ManualClock): Promise<RunningAgent> {
  const agent = await startAgent(probe, {
    env,
    clock,
    random: () => 0,
    logDestination: silent,
    host: '127.0.0.1',
  });
  running.push(agent);
  return agent;
}

const health = async (agent: RunningAgent) => {
  const res = await fetch(`${agent.url}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
const until = (probe: () => boolean | Promise<boolean>, what: string) =>
  waitFor(
    async () => probe(),
    30_000,
    () => new Error(`timed out waiting for ${what}`),
    20,
  );

const entityId = agentInstanceEntityId(
  `agent-${AGENT_ID.replaceAll('-', '').slice(0, 12)}-${HOST}`,
);
const heartbeatEntity = () =>
  orion.entities(TENANT, HEARTBEAT_SERVICE_PATH).find((e) => e.id === entityId);

beforeAll(async () => {
  kc = await sharedKeycloak();
  orion = await startOrionFake();
  creds = await ensureAgentClient(kc, realm, {
    id: AGENT_ID,
    tenant: TENANT,
    needs: ['orion:read'],
  });
}, 300_000);
afterAll(async () => {
  for (const a of running) await a.close();
  await orion?.close();
});

describe('the heartbeat', () => {
  it("creates the instance's entity, then updates it at its interval, with its own token", async () => {
    orion.reset();
    const clock = new ManualClock();
    const agent = await start(envOf(), clock);
    // The beat is counted once Orion's answer is back, after the entity exists.
    await until(() => agent.heartbeat.status().beats === 1, 'the first beat');
    expect(heartbeatEntity()).toEqual({
      id: entityId,
      type: AGENT_INSTANCE_ENTITY_TYPE,
      agentId: { type: 'Text', value: AGENT_ID, metadata: {} },
      agentName: { type: 'Text', value: 'probe', metadata: {} },
      host: { type: 'Text', value: HOST, metadata: {} },
      revision: { type: 'Text', value: 'r1a2b3c4', metadata: {} },
      heartbeatSeconds: { type: 'Number', value: 30, metadata: {} },
      dateObserved: { type: 'DateTime', value: new Date(clock.now()).toISOString(), metadata: {} },
    });
    // First a PATCH (404: no entity yet), then a POST without upsert, both in /agents.
    const writes = orion.requests.filter((r) => r.method !== 'GET');
    expect(writes.map((r) => [r.method, r.path, r.service, r.servicePath, r.query])).toEqual([
      ['PATCH', `/v2/entities/${entityId}/attrs`, TENANT, HEARTBEAT_SERVICE_PATH, {}],
      ['POST', '/v2/entities', TENANT, HEARTBEAT_SERVICE_PATH, {}],
    ]);
    expect(agent.heartbeat.status()).toMatchObject({ state: 'ok', beats: 1, failures: 0 });
    expect(clock.sleeps.at(-1)).toBe(30_000);

    clock.advance(30_000);
    await until(() => agent.heartbeat.status().beats === 2, 'the second beat');
    expect(heartbeatEntity()!.dateObserved).toMatchObject({
      value: new Date(clock.now()).toISOString(),
    });
    expect(orion.requests.filter((r) => r.method !== 'GET').map((r) => r.method)).toEqual([
      'PATCH',
      'POST',
      'PATCH',
    ]);
    expect(orion.entities(TENANT)).toHaveLength(1);
    expect((await health(agent)).body).toMatchObject({
      status: 'ok',
      revision: 'r1a2b3c4',
      heartbeat: { state: 'ok', beats: 2 },
    });
    await agent.close();
  });

  it('sends the bearer token of the agent client, whose claims are the contract’s', async () => {
    const tokens = new ClientCredentials(creds);
    const token = await tokens.token();
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({ azp: creds.clientId, tenants: [TENANT], needs: ['orion:read'] });
    expect(claims.roles).toBeUndefined();
  });

  it('keeps a token until shortly before it expires, then asks again', async () => {
    let now = Date.now();
    const tokens = new ClientCredentials({ ...creds, now: () => now });
    const first = await tokens.token();
    expect(await tokens.token()).toBe(first);
    // Keycloak's default lifetime is 300 s: asked again 30 s before the end.
    now += 271_000;
    expect(await tokens.token()).not.toBe(first);
  });

  it.each([
    ['refuses the credentials', async () => ({ ...creds, clientSecret: 'not-the-secret' })],
    ['is down', async () => ({ ...creds, tokenUrl: `http://127.0.0.1:${await freePort()}/token` })],
  ])(
    'retries with a growing backoff, says so on /healthz and keeps serving when the token endpoint %s',
    async (_what, credentials) => {
      orion.reset();
      const clock = new ManualClock();
      const agent = await start(envOf({ credentials: await credentials() }), clock);
      await until(() => agent.heartbeat.status().failures === 1, 'the first failure');
      // random() = 0: half of 1 s, 2 s, 4 s …
      expect(clock.sleeps.at(-1)).toBe(500);
      clock.advance(500);
      await until(() => agent.heartbeat.status().failures === 2, 'the second failure');
      expect(clock.sleeps.at(-1)).toBe(1000);
      const h = await health(agent);
      expect(h.status).toBe(200);
      expect(h.body).toMatchObject({
        status: 'degraded',
        heartbeat: { state: 'failing', failures: 2, lastError: { code: 'ERR_AGENT_TOKEN' } },
      });
      expect(orion.requests).toEqual([]);
      await agent.close();
    },
  );

  it('retries while Orion is down or refusing, and recovers when it is back', async () => {
    orion.reset();
    const clock = new ManualClock();
    const down = await start(envOf({ orionUrl: `http://127.0.0.1:${await freePort()}` }), clock);
    await until(() => down.heartbeat.status().failures === 1, 'a failure with Orion down');
    expect((await health(down)).body.heartbeat.lastError).toMatchObject({
      code: 'ERR_AGENT_ORION',
      message: expect.stringContaining('Orion did not answer PATCH'),
    });
    await down.close();

    orion.fault(() => ({ status: 403, body: { error: 'Forbidden', description: 'no' } }));
    const refused = await start(envOf(), clock);
    await until(() => refused.heartbeat.status().failures === 1, 'a refused beat');
    expect(refused.heartbeat.status().lastError?.message).toMatch(/Orion answered 403 to PATCH/);
    orion.fault(undefined);
    clock.advance(clock.sleeps.at(-1)!);
    await until(() => refused.heartbeat.status().state === 'ok', 'the recovery');
    expect(heartbeatEntity()).toBeDefined();
    expect((await health(refused)).body.status).toBe('ok');
    await refused.close();
  });

  it('backs off 1 s, 2 s, 4 s … up to the interval, with jitter of up to half', () => {
    expect([1, 2, 3, 4, 10].map((n) => backoffMs(n, 5000, 0))).toEqual([
      500, 1000, 2000, 2500, 2500,
    ]);
    expect(backoffMs(3, 60_000, 0.999)).toBeLessThanOrEqual(4000);
    expect(backoffMs(3, 60_000, 0.999)).toBeGreaterThan(3990);
  });
});

describe("the announce (the monitor's nudge)", () => {
  const ANNOUNCE_URL = agentAnnounceUrl(AGENT_ID, TENANT, HOST);
  const announce = (agent: RunningAgent) =>
    fetch(`${agent.url}${AGENT_ANNOUNCE_PATH}`, { method: 'POST' }).then(async (res) => ({
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: (await res.json()) as Record<string, any>,
    }));
  const writes = () => orion.requests.filter((r) => r.method !== 'GET').length;

  it('beats at once, answers 202 with the status, and the next beat is one interval after it', async () => {
    orion.reset();
    const clock = new ManualClock();
    const agent = await start({ ...envOf(), [AGENT_ENV.announceUrl]: ANNOUNCE_URL }, clock);
    await until(() => agent.heartbeat.status().beats === 1, 'the first beat');
    expect(heartbeatEntity()!.announceUrl).toEqual({
      type: 'Text',
      value: ANNOUNCE_URL,
      metadata: {},
    });
    clock.advance(10_000);
    const res = await announce(agent);
    expect(res.status).toBe(202);
    expect(res.body.heartbeat).toMatchObject({ state: 'ok', beats: 2 });
    expect(heartbeatEntity()!.dateObserved).toMatchObject({
      value: new Date(clock.now()).toISOString(),
    });
    // The loop waits a whole interval from the announce (t = 40 s), not from its last beat.
    await until(() => clock.sleeps.length === 2 && clock.waiting === 1, 'the wait restarted');
    expect(clock.sleeps).toEqual([30_000, 30_000]);
    clock.advance(20_000);
    expect(clock.waiting).toBe(1);
    expect(agent.heartbeat.status().beats).toBe(2);
    clock.advance(10_000);
    await until(() => agent.heartbeat.status().beats === 3, 'the scheduled beat');
    await agent.close();
  });

  it('coalesces concurrent announces into one beat', async () => {
    orion.reset();
    const clock = new ManualClock();
    const agent = await start(envOf(), clock);
    await until(() => agent.heartbeat.status().beats === 1, 'the first beat');
    const before = writes();
    const results = await Promise.all([1, 2, 3].map(() => agent.heartbeat.announce()));
    expect(results.map((r) => r.outcome)).toEqual(['beat', 'beat', 'beat']);
    expect(agent.heartbeat.status().beats).toBe(2);
    expect(writes()).toBe(before + 1);
    await agent.close();
  });

  it('fails with 429 and Retry-After when asked again within 5 s, and beats once that passed', async () => {
    orion.reset();
    const clock = new ManualClock();
    const agent = await start(envOf(), clock);
    await until(() => agent.heartbeat.status().beats === 1, 'the first beat');
    expect((await announce(agent)).status).toBe(202);
    clock.advance(2000);
    const before = writes();
    const limited = await announce(agent);
    expect(limited.status).toBe(429);
    expect(limited.retryAfter).toBe('3');
    expect(limited.body.description).toMatch(/one announce per 5 s: retry after 3 s/);
    expect(writes()).toBe(before);
    clock.advance(3000);
    expect((await announce(agent)).status).toBe(202);
    expect(agent.heartbeat.status().beats).toBe(3);
    await agent.close();
  });

  it("fails with 503 and the beat's error when the beat fails, then backs off", async () => {
    orion.reset();
    const clock = new ManualClock();
    const agent = await start(envOf(), clock);
    await until(() => agent.heartbeat.status().beats === 1, 'the first beat');
    orion.fault(() => ({ status: 403, body: { error: 'Forbidden', description: 'no' } }));
    try {
      const res = await announce(agent);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({
        error: 'HeartbeatFailed',
        code: 'ERR_AGENT_ORION',
        description: expect.stringMatching(/Orion answered 403 to PATCH/),
        heartbeat: { state: 'failing', failures: 1 },
      });
      // random() = 0: the first retry is half of 1 s after the failed announce.
      await until(() => clock.sleeps.at(-1) === 500, 'the backoff');
    } finally {
      orion.fault(undefined);
    }
    clock.advance(500);
    await until(() => agent.heartbeat.status().state === 'ok', 'the recovery');
    await agent.close();
  });
});

describe('the environment and config', () => {
  it('fails naming each missing or bad variable of the contract', () => {
    const env = envOf();
    const { [AGENT_ENV.tenant]: _gone, ...missing } = env;
    expect(() => loadAgentEnv({ ...missing, [AGENT_ENV.heartbeatSeconds]: 'often' })).toThrow(
      expect.objectContaining({
        code: 'ERR_AGENT_ENV',
        message: expect.stringMatching(
          /AGENT_TENANT: missing[\s\S]*AGENT_HEARTBEAT_SECONDS: seconds between heartbeats/,
        ),
      }) as unknown as Error,
    );
    expect(() =>
      loadAgentEnv({ ...env, [AGENT_ENV.entityId]: 'urn:ngsi-ld:AgentInstance:other' }),
    ).toThrow(/AGENT_ENTITY_ID: 'urn:ngsi-ld:AgentInstance:other' is not the entity of instance/);
    expect(() => loadAgentEnv({ ...env, [AGENT_ENV.announceUrl]: 'ftp://pod/announce' })).toThrow(
      /AGENT_ANNOUNCE_URL: where the monitor nudges the instance/,
    );
    expect(() => loadAgentEnv({ ...env, [AGENT_ENV.tokenUrl]: 'keycloak/token' })).toThrow(
      /OIDC_TOKEN_URL: the realm's token endpoint: an http\(s\) URL/,
    );
    expect(() => loadAgentEnv({ ...env, [AGENT_ENV.config]: '{threshold: 3' })).toThrow(
      expect.objectContaining({
        code: 'ERR_AGENT_CONFIG',
        message: expect.stringMatching(/^AGENT_CONFIG is not JSON/),
      }) as unknown as Error,
    );
  });

  it("fails naming each bad key of the module's config", () => {
    expect(() =>
      parseAgentConfig(DetectorConfig, { entityType: 'Machine', threshold: 'high', treshold: 2 }),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_AGENT_CONFIG',
        message: expect.stringMatching(/threshold: .*number[\s\S]*source: [\s\S]*treshold/),
      }) as unknown as Error,
    );
  });

  it('stops a module with exit code 2 and the error on stderr, before it listens', () => {
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--import', 'tsx', MODULE_BINS['anomaly-detector']], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const badConfig = run(envOf({ config: { entityType: 'Machine', source: 's', threshold: -1 } }));
    expect(badConfig.status).toBe(EXIT.usage);
    expect(badConfig.stderr).toMatch(/^anomaly-detector: invalid AGENT_CONFIG:\n {2}threshold: /);
    expect(badConfig.stderr).toContain('[ERR_AGENT_CONFIG]');
    const { [AGENT_ENV.clientSecret]: _s, ...noSecret } = envOf();
    const missing = run(noSecret);
    expect(missing.status).toBe(EXIT.usage);
    expect(missing.stderr).toMatch(/OIDC_CLIENT_SECRET: missing/);
    expect(missing.stderr).toContain('[ERR_AGENT_ENV]');
  });

  it('stops its heartbeat and exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-kit-'));
    try {
      const p = await startAgentProcess(
        'anomaly-detector',
        envOf({ config: { entityType: 'Machine', source: 'test', subscribe: false } }),
        join(dir, 'detector.log'),
      );
      await until(() => heartbeatEntity() !== undefined, 'the heartbeat of the process');
      const exited = new Promise<number | null>((r) => p.child.once('exit', (code) => r(code)));
      p.child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
