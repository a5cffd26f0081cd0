/**
 * The fleet service against real parts: a real git server (a loopback git daemon serving a bare
 * repository seeded with this repository's fleet/, receive enabled), real Keycloak tokens of
 * people made for the test, and the platform's tenancy policy (Rego, wasm) through the tenancy
 * middleware. Every write is checked where it lands: in `git log` of the bare repository, and
 * its events in the journal of a real monitor whose events port is the service's
 * PLATFORM_EVENTS_URL.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from 'yaml';

import { loadCluster } from '../../../platform/cluster.js';
import { loadPlatformContext } from '../../../platform/context.js';
import { machineClientId, secretEnvName } from '../../../platform/identity.js';
import { policyData } from '../../../platform/policy-data.js';
import { FLEET_DIR } from '../../../platform/fleet/records.js';
import { instanceOn } from '../../../platform/fleet/resolve.js';
import { fetchToken } from '../../identity/src/tokens.js';
import { JwksCache, TenancyPolicy } from '../../tenancy/src/index.js';
import { startGitDaemon } from '../../../testing/real/argocd.js';
import type { GitDaemon } from '../../../testing/real/argocd.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { issuerAt, sharedKeycloak } from '../../../testing/real/keycloak.js';
import { runCli } from '../../../testing/support/cli.js';
import type { People } from '../../../testing/support/keycloak-people.js';
import { makePeople } from '../../../testing/support/keycloak-people.js';
import { openApiChecker } from '../../../testing/support/openapi-checker.js';
import { createApp } from '../src/app.js';
import type { FleetConfig } from '../src/config.js';
import type { FleetStatus, Snapshot, StatusSource } from '../src/contract.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { buildOpenApi } from '../src/openapi.js';
import type { RunningFleet } from '../src/service.js';
import { KubeStatusSource } from '../src/observe.js';
import { startFleet } from '../src/service.js';
import { DegradedWatcher, FleetEvents } from '../src/events.js';
import { RolloutRunner } from '../src/rollouts.js';
import { eventId } from '../../../platform/events.js';
import type { TargetStatus } from '../../../platform/fleet/status.js';
import type { RunningMonitor } from '../../monitor/src/service.js';
import { startEventsMonitor } from '../../../testing/support/events-monitor.js';
import { logLines } from '../../../testing/support/log-lines.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const A = 'manufracture';
const B = 'smithereens';
const IMAGE = 'ghcr.io/kitt4sme/anomaly-detector:0.1.0';
const IMAGE_2 = 'ghcr.io/kitt4sme/anomaly-detector:0.2.0';
const IMAGE_3 = 'ghcr.io/kitt4sme/anomaly-detector:0.3.0';
const IMAGE_4 = 'ghcr.io/kitt4sme/anomaly-detector:0.4.0';

const ctx = loadPlatformContext();
const REALM = ctx.config.identity.realm;

let kc: KeycloakServer;
let people: People;
let daemon: GitDaemon;
let work: string;
let bare: string;
let other: string;
let fleet: RunningFleet;
/** The monitor the fleet's events go to. */
let monitor: RunningMonitor;
/** What the store runs before each push (the tests move the remote there). */
let beforePush: ((attempt: number) => Promise<void>) | undefined;
const logs: Record<string, unknown>[] = [];
const check = openApiChecker(buildOpenApi() as never);

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-C', cwd, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The bare repository's branch head. */
const head = () => git(bare, 'rev-parse', 'main').trim();
/** A file of the bare repository's head. */
const fileAtHead = (path: string) => git(bare, 'show', `main:${path}`);
/** The records of a file at the bare repository's head. */
const recordsAtHead = (path: string) =>
  parseAllDocuments(fileAtHead(path)).map((d) => d.toJS() as Record<string, any>);

/** Another writer: a clone that commits and pushes as someone else. */
function pushFromOther(path: string, change: (text: string) => string, message: string): string {
  git(other, 'fetch', '-q', 'origin');
  git(other, 'reset', '-q', '--hard', 'origin/main');
  const abs = join(other, path);
  writeFileSync(abs, change(readFileSync(abs, 'utf8')));
  git(other, 'commit', '-q', '-am', message);
  git(other, 'push', '-q', 'origin', 'HEAD:main');
  return git(other, 'rev-parse', 'HEAD').trim();
}

interface CallOptions {
  readonly as?: string;
  readonly token?: string;
  readonly tenant?: string;
  readonly body?: unknown;
  readonly ifMatch?: string;
  readonly dryRun?: boolean;
  readonly url?: string;
}

/**
 * A person's token, fetched again once a minute: this file asks for hundreds of answers, and a
 * password grant for each would be load on the run's shared Keycloak that it does not test.
 */
const tokens = new Map<string, { token: string; at: number }>();
async function tokenOf(who: Parameters<People['token']>[0]): Promise<string> {
  const held = tokens.get(who);
  if (held && Date.now() - held.at < 60_000) return held.token;
  const token = await people.token(who);
  tokens.set(who, { token, at: Date.now() });
  return token;
}

/**
 * Calls `method template` (e.g. `/v1/agents/{name}`, filled from `params`) as person `as`, and
 * checks the answer against the OpenAPI document.
 */
async function call(
  method: string,
  template: string,
  params: Record<string, string> = {},
  o: CallOptions = {},
) {
  const path = template.replace(/\{(\w+)\}/g, (_, k: string) => params[k]!);
  const token = o.token ?? (await tokenOf(o.as ?? 'operator'));
  const res = await fetch(`${o.url ?? fleet.url}/fleet${path}${o.dryRun ? '?dry_run=true' : ''}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'fiware-service': o.tenant ?? A,
      ...(o.ifMatch ? { 'if-match': o.ifMatch } : {}),
      ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  const text = await res.text();
  const body = text ? (JSON.parse(text) as Record<string, any>) : undefined;
  // Refusals of the policy (before the app) are the middleware's problems, not the API's.
  if (res.status !== 401 && !(res.status === 403 && body?.code === undefined))
    check.check(method, template, res.status, body, res.headers.get('content-type'));
  return { status: res.status, body: body!, etag: res.headers.get('etag') };
}

function config(cloneDir: string): FleetConfig {
  const issuer = issuerAt(kc, REALM);
  return {
    port: 0,
    ctx,
    gitUrl: `${daemon.url}kit.git`,
    branch: 'main',
    cloneDir,
    committer: { name: 'kitt4sme fleet service', email: 'fleet@kitt4sme.test' },
    refreshSeconds: 0,
    // No cluster here: the status routes are tested with a test double of a status source.
    status: 'off',
    rolloutIntervalSeconds: 5,
    jwksUrl: `${issuer}/protocol/openid-connect/certs`,
    policyData: { ...policyData(ctx), issuer, jwks_uri: `${issuer}/protocol/openid-connect/certs` },
    logLevel: 'info',
    eventsUrl: monitor.eventsUrl,
  };
}

/** A new agent record of tenant A, as a deploy body gives it. */
const agentRecord = (extra: Record<string, unknown> = {}) => ({
  template: 'anomaly-detector',
  config: { entityType: 'Machine', threshold: 4 },
  ...extra,
});

beforeAll(async () => {
  kc = await sharedKeycloak();
  work = mkdtempSync(join(tmpdir(), 'fleet-service-test-'));
  const served = join(work, 'served');
  bare = join(served, 'kit.git');
  git(work, 'init', '-q', '--bare', '-b', 'main', bare);
  // git daemon serves pushes only to repositories that enable them.
  git(bare, 'config', 'daemon.receivepack', 'true');
  const seed = join(work, 'seed');
  git(work, 'clone', '-q', bare, seed);
  git(seed, 'config', 'user.email', 'seed@kitt4sme.invalid');
  git(seed, 'config', 'user.name', 'seed');
  cpSync(join(ROOT, FLEET_DIR), join(seed, FLEET_DIR), { recursive: true });
  git(seed, 'add', '-A');
  git(seed, 'commit', '-q', '-m', 'fleet: the example records');
  git(seed, 'push', '-q', 'origin', 'HEAD:main');
  daemon = await startGitDaemon(served);
  other = join(work, 'other');
  git(work, 'clone', '-q', `${daemon.url}kit.git`, other);
  git(other, 'config', 'user.email', 'someone-else@kitt4sme.invalid');
  git(other, 'config', 'user.name', 'Someone Else');

  people = await makePeople(kc, REALM, {
    operator: { firstName: 'Olga', lastName: 'Operator', roles: [[A, 'operator']] },
    viewer: { firstName: 'Vic', lastName: 'Viewer', roles: [[A, 'viewer']] },
    smith: { firstName: 'Sam', lastName: 'Smith', roles: [[B, 'operator']] },
    admin: { firstName: 'Pat', lastName: 'Admin', platformAdmin: true },
  });
  const sink = logLines((entry) => logs.push(entry));
  monitor = await startEventsMonitor({ stateFile: join(work, 'monitor-state.json') });
  fleet = await startFleet(config(join(work, 'clone')), {
    host: '127.0.0.1',
    processMetrics: false,
    logDestination: sink,
    beforePush: (attempt) => beforePush?.(attempt) ?? Promise.resolve(),
  });
}, 300_000);

afterAll(async () => {
  await fleet?.close();
  await monitor?.close();
  await daemon?.stop();
  await people?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

beforeEach(() => {
  beforePush = undefined;
});

describe('reads', () => {
  it('serves the OpenAPI 3.1 document publicly, with every route of the app', async () => {
    const res = await fetch(`${fleet.url}/fleet/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, object> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/agents/{name}/deploy',
        '/v1/pipelines/{name}/deploy',
        '/v1/agents/{name}/rollback',
        '/v1/agents/{name}/rollout/cancel',
        '/v1/groups/{name}/hosts',
        '/v1/status',
      ]),
    );
  });

  it("lists the tenant's agents and modules with their record, ETag and placement; a viewer may read", async () => {
    const res = await call('GET', '/v1/agents', {}, { as: 'viewer' });
    expect(res.status).toBe(200);
    const names = res.body.agents.map((a: any) => a.name);
    expect(names).toEqual(expect.arrayContaining(['anomalies-extractor', 'anomalies-detector']));
    // Only the tenant's: smithereens' watchdog is not listed.
    expect(names).not.toContain('watchdog');
    const detector = res.body.agents.find((a: any) => a.name === 'anomalies-detector');
    expect(detector).toMatchObject({
      pipeline: 'anomalies',
      record_kind: 'Pipeline',
      placement: { host: 'gpu-edge-1' },
      state: 'running',
      image: IMAGE,
    });
    expect(detector.etag).toMatch(/^"[0-9a-f]{16}"$/);
    const one = await call(
      'GET',
      '/v1/agents/{name}',
      { name: 'anomalies-detector' },
      { as: 'viewer' },
    );
    expect(one.status).toBe(200);
    expect(one.etag).toBe(detector.etag);
    expect(one.body.commit).toBe(head());
  });

  it("answers another tenant's agent as 404, for reads and writes", async () => {
    const read = await call('GET', '/v1/agents/{name}', { name: 'watchdog' });
    expect(read.status).toBe(404);
    expect(read.body.code).toBe('ERR_FLEET_NOT_FOUND');
    const before = head();
    const write = await call('POST', '/v1/agents/{name}/stop', { name: 'watchdog' });
    expect(write.status).toBe(404);
    expect(head()).toBe(before);
    // Its own tenant's operator sees it.
    const own = await call(
      'GET',
      '/v1/agents/{name}',
      { name: 'watchdog' },
      { as: 'smith', tenant: B },
    );
    expect(own.status).toBe(200);
  });

  it('answers the status endpoint 503 without a status source', async () => {
    const res = await call('GET', '/v1/status');
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('ERR_FLEET_NO_STATUS');
  });
});

describe('writes are commits authored as the calling user', () => {
  it('deploys a new agent to a host: one commit, author the caller, committer the service', async () => {
    const before = head();
    const res = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'probe' },
      { body: { target: { host: 'ipc-line1' }, record: agentRecord() } },
    );
    expect(res.status).toBe(201);
    expect(res.body.commit).toBe(head());
    expect(res.body.base).toBe(before);
    expect(res.body.records).toEqual([
      expect.objectContaining({ kind: 'Agent', name: `${A}/probe`, action: 'created' }),
    ]);
    expect(res.body.diff).toContain(`+++ b/fleet/agents/${A}-probe.yaml`);
    expect(res.etag).toBe(res.body.agents[0].etag);
    const [author, committer, parent] = git(
      bare,
      'log',
      '-1',
      '--format=%an <%ae>%n%cn <%ce>%n%P',
      'main',
    )
      .trim()
      .split('\n');
    expect(author).toBe(`Olga Operator <${people.username('operator')}@example.test>`);
    expect(committer).toBe('kitt4sme fleet service <fleet@kitt4sme.test>');
    expect(parent).toBe(before);
    expect(git(bare, 'log', '-1', '--format=%B', 'main')).toContain(
      `Requested-by: Olga Operator <${people.username('operator')}@example.test>`,
    );
    const [rec] = recordsAtHead(`fleet/agents/${A}-probe.yaml`);
    expect(rec).toMatchObject({
      kind: 'Agent',
      name: 'probe',
      tenant: A,
      placement: { host: 'ipc-line1' },
      state: 'running',
    });
  });

  it.each([
    ['stop', 'stopped'],
    ['resume', 'running'],
    ['undeploy', 'undeployed'],
    ['resume', 'running'],
  ])('%s writes state %s in one commit', async (verb, state) => {
    const before = head();
    const res = await call('POST', `/v1/agents/{name}/${verb}`, { name: 'probe' });
    expect(res.status).toBe(200);
    expect(res.body.commit).toBe(head());
    expect(head()).not.toBe(before);
    expect(recordsAtHead(`fleet/agents/${A}-probe.yaml`)[0]!.state).toBe(state);
    expect(git(bare, 'log', '-1', '--format=%s', 'main').trim()).toBe(`fleet: ${verb} ${A}/probe`);
  });

  it('writes nothing when nothing changes (resume of a running agent): no commit', async () => {
    const before = head();
    const res = await call('POST', '/v1/agents/{name}/resume', { name: 'probe' });
    expect(res.status).toBe(200);
    expect(res.body.commit).toBeNull();
    expect(res.body.diff).toBe('');
    expect(head()).toBe(before);
  });

  it('deploys a pipeline module (the pipeline record) and a whole pipeline to a host', async () => {
    const res = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'anomalies-detector' },
      { body: { target: { host: 'ipc-line2' } } },
    );
    expect(res.status).toBe(200);
    const [pipeline] = recordsAtHead(`fleet/pipelines/${A}-anomalies.yaml`);
    expect(pipeline!.modules.map((m: any) => m.placement)).toEqual([
      { group: 'line-pcs' },
      { host: 'ipc-line2' },
    ]);
    const all = await call(
      'POST',
      '/v1/pipelines/{name}/deploy',
      { name: 'anomalies' },
      { body: { target: { host: 'gpu-edge-1' } } },
    );
    expect(all.status).toBe(200);
    expect(all.body.agents.map((a: any) => a.placement)).toEqual([
      { host: 'gpu-edge-1' },
      { host: 'gpu-edge-1' },
    ]);
    expect(
      recordsAtHead(`fleet/pipelines/${A}-anomalies.yaml`)[0]!.modules.map((m: any) => m.state),
    ).toEqual(['running', 'running']);
    // The extractor goes back to its group (the group tests below need a record placing on it).
    const back = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'anomalies-extractor' },
      { body: { target: { group: 'line-pcs' } } },
    );
    expect(back.status).toBe(200);
    expect(back.body.targets.map((t: any) => [t.host, t.result])).toEqual([
      ['ipc-line1', 'accepted'],
      ['ipc-line2', 'accepted'],
    ]);
  });

  it('upgrades to an image, rolls back to the previous revision, and lists the revisions', async () => {
    const up = await call(
      'POST',
      '/v1/agents/{name}/upgrade',
      { name: 'probe' },
      { body: { image: IMAGE_2 } },
    );
    expect(up.status).toBe(200);
    expect(recordsAtHead(`fleet/agents/${A}-probe.yaml`)[0]!.image).toBe(IMAGE_2);
    const up2 = await call(
      'POST',
      '/v1/agents/{name}/upgrade',
      { name: 'probe' },
      { body: { image: IMAGE_3 } },
    );
    expect(up2.status).toBe(200);
    // A state change in between is not a revision to roll back to.
    expect((await call('POST', '/v1/agents/{name}/stop', { name: 'probe' })).status).toBe(200);
    const back = await call('POST', '/v1/agents/{name}/rollback', { name: 'probe' });
    expect(back.status).toBe(200);
    expect(back.body.rolled_back_to).toBe(up.body.commit);
    const [rec] = recordsAtHead(`fleet/agents/${A}-probe.yaml`);
    expect(rec!.image).toBe(IMAGE_2);
    // The state is kept.
    expect(rec!.state).toBe('stopped');
    const history = await call(
      'GET',
      '/v1/agents/{name}/history',
      { name: 'probe' },
      { as: 'viewer' },
    );
    expect(history.status).toBe(200);
    expect(history.body.revisions.map((r: any) => r.record.image ?? null).slice(0, 4)).toEqual([
      IMAGE_2,
      IMAGE_3,
      IMAGE_3,
      IMAGE_2,
    ]);
    expect((await call('POST', '/v1/agents/{name}/resume', { name: 'probe' })).status).toBe(200);
  });

  it('answers a roll back without an earlier revision 409 ERR_FLEET_NO_HISTORY', async () => {
    const made = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'one-revision' },
      { body: { target: { host: 'ipc-line1' }, record: agentRecord() } },
    );
    expect(made.status).toBe(201);
    // A state change is not a revision of what runs.
    expect((await call('POST', '/v1/agents/{name}/stop', { name: 'one-revision' })).status).toBe(
      200,
    );
    const before = head();
    const res = await call('POST', '/v1/agents/{name}/rollback', { name: 'one-revision' });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('ERR_FLEET_NO_HISTORY');
    expect(head()).toBe(before);
  });

  it('authors a commit of a client without a person as <username>@users.<platform host>', async () => {
    const clientId = machineClientId(A, 'scenarios');
    const t = await fetchToken({
      keycloakUrl: kc.url,
      realm: REALM,
      clientId,
      clientSecret: kc.values[secretEnvName('client', clientId)]!,
    });
    const res = await call(
      'POST',
      '/v1/agents/{name}/stop',
      { name: 'probe' },
      { token: t.accessToken },
    );
    expect(res.status).toBe(200);
    const author = git(bare, 'log', '-1', '--format=%an <%ae>', 'main').trim();
    expect(author).toMatch(
      new RegExp(`<[^@>]+@users\\.${ctx.config.ingress.host.replaceAll('.', '\\.')}>$`),
    );
    expect((await call('POST', '/v1/agents/{name}/resume', { name: 'probe' })).status).toBe(200);
  });

  it('removes an agent: its file leaves the repository', async () => {
    await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'short-lived' },
      {
        body: { target: { host: 'ipc-line2' }, record: agentRecord() },
      },
    );
    const res = await call('DELETE', '/v1/agents/{name}', { name: 'short-lived' });
    expect(res.status).toBe(200);
    expect(res.body.deleted).toEqual([`Agent ${A}/short-lived`]);
    expect(() => fileAtHead(`fleet/agents/${A}-short-lived.yaml`)).toThrow();
  });
});

describe('dry runs', () => {
  it('answer the diff and commit nothing', async () => {
    const before = head();
    const res = await call(
      'POST',
      '/v1/agents/{name}/upgrade',
      { name: 'probe' },
      { body: { image: IMAGE_3 }, dryRun: true },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ commit: null, base: before, dry_run: true });
    expect(res.body.diff).toContain(`--- a/fleet/agents/${A}-probe.yaml`);
    expect(res.body.diff).toContain(`+image: ${IMAGE_3}`);
    expect(res.body.agents[0].image).toBe(IMAGE_3);
    expect(head()).toBe(before);
    // The service's clone is back at the remote's head, nothing staged or written.
    expect(git(join(work, 'clone'), 'status', '--porcelain')).toBe('');
    const created = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'never' },
      { body: { target: { host: 'ipc-line1' }, record: agentRecord() }, dryRun: true },
    );
    expect(created.status).toBe(201);
    expect(created.body.diff).toContain('--- /dev/null');
    expect(head()).toBe(before);
  });
});

describe('bad input: a 400 problem naming the field, nothing committed', () => {
  it.each([
    [
      'an unknown host',
      '/v1/agents/{name}/deploy',
      'probe',
      { target: { host: 'no-such-host' } },
      'target.host',
    ],
    [
      'an unpinned image',
      '/v1/agents/{name}/upgrade',
      'probe',
      { image: 'ghcr.io/x/y:latest' },
      'image',
    ],
    ['a bad name', '/v1/agents/{name}/upgrade', 'Bad_Name', { image: IMAGE_2 }, 'name'],
    [
      'a body field of the wrong type',
      '/v1/agents/{name}/deploy',
      'probe',
      { target: { host: 7 } },
      'target',
    ],
  ])('%s', async (_what, template, name, body, field) => {
    const before = head();
    const res = await call('POST', template, { name }, { body });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('ERR_FLEET_BAD_REQUEST');
    expect(res.body.errors.map((e: any) => e.field)).toContainEqual(expect.stringContaining(field));
    expect(head()).toBe(before);
  });

  it('a body or path it cannot read: 400 when not JSON, not decompressible or not UTF-8, 415 in another charset or encoding, never a 500', async () => {
    const before = head();
    const token = await people.token('operator');
    const post = async (body: string, headers: Record<string, string>) => {
      const res = await fetch(`${fleet.url}/fleet/v1/agents/probe/deploy`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'fiware-service': A, ...headers },
        body,
      });
      const problem = (await res.json()) as Record<string, any>;
      return [res.status, problem.code, problem.detail, problem.errors];
    };
    const json = 'application/json';
    const good = JSON.stringify({ target: { host: 'ipc-line1' } });
    expect(await post('{"target":', { 'content-type': json })).toEqual([
      400,
      'ERR_FLEET_BAD_REQUEST',
      'the body is not valid JSON',
      [{ field: '(body)', message: 'not valid JSON' }],
    ]);
    expect(await post(good, { 'content-type': `${json}; charset=latin1` })).toEqual([
      415,
      'ERR_FLEET_BAD_REQUEST',
      "the body's charset latin1 is not one the JSON reader takes; declare charset=utf-8, or none",
      [{ field: 'header content-type', message: 'charset=utf-8, or none' }],
    ]);
    expect(await post(good, { 'content-type': json, 'content-encoding': 'compress' })).toEqual([
      415,
      'ERR_FLEET_BAD_REQUEST',
      'the content encoding compress is not one the service undoes; send the body as it is, or gzip, deflate or br',
      [{ field: 'header content-encoding', message: 'gzip, deflate, br, or none' }],
    ]);
    expect(await post(good, { 'content-type': json, 'content-encoding': 'gzip' })).toEqual([
      400,
      'ERR_FLEET_BAD_REQUEST',
      'the body was not taken: it does not decompress (Z_DATA_ERROR)',
      [{ field: '(body)', message: 'it does not decompress (Z_DATA_ERROR)' }],
    ]);
    // A name whose %-escape is not UTF-8 is the caller's mistake too.
    const path = await fetch(`${fleet.url}/fleet/v1/agents/%E0`, {
      headers: { authorization: `Bearer ${token}`, 'fiware-service': A },
    });
    expect([path.status, ((await path.json()) as Record<string, any>).errors]).toEqual([
      400,
      [{ field: 'path', message: 'a %-escape that is not UTF-8' }],
    ]);
    const big = JSON.stringify({ target: { host: 'ipc-line1' }, pad: 'x'.repeat(256 * 1024) });
    expect(await post(big, { 'content-type': json })).toEqual([
      413,
      'ERR_FLEET_BAD_REQUEST',
      'the request body is over 256 KiB',
      undefined,
    ]);
    expect(head()).toBe(before);
  });

  it("a record the fleet refuses (an unpinned template-less image): the writer's field and code", async () => {
    const before = head();
    const res = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'unpinned' },
      {
        body: { target: { host: 'ipc-line1' }, record: { image: 'ghcr.io/x/y:latest' } },
      },
    );
    expect(res.status).toBe(400);
    expect(res.body.errors).toContainEqual(
      expect.objectContaining({
        code: 'ERR_FLEET_IMAGE_UNPINNED',
        field: expect.stringContaining('unpinned'),
      }),
    );
    expect(head()).toBe(before);
  });
});

describe('roles', () => {
  it('refuses a viewer every write (the policy), and commits nothing', async () => {
    const before = head();
    const res = await call('POST', '/v1/agents/{name}/stop', { name: 'probe' }, { as: 'viewer' });
    expect(res.status).toBe(403);
    expect(head()).toBe(before);
  });

  it("refuses an operator the shared groups' writes (the app), and lets a platform admin", async () => {
    const before = head();
    const res = await call(
      'POST',
      '/v1/groups',
      {},
      { body: { name: 'ops', hosts: ['ipc-line1'] } },
    );
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ERR_FLEET_FORBIDDEN');
    expect(head()).toBe(before);
    const ok = await call(
      'POST',
      '/v1/groups',
      {},
      { as: 'admin', body: { name: 'ops', hosts: ['ipc-line1'] } },
    );
    expect(ok.status).toBe(201);
    expect(git(bare, 'log', '-1', '--format=%an', 'main').trim()).toBe('Pat Admin');
    expect(recordsAtHead('fleet/groups.yaml').find((g) => g.name === 'ops')).toMatchObject({
      hosts: ['ipc-line1'],
    });
    const again = await call(
      'POST',
      '/v1/groups',
      {},
      { as: 'admin', body: { name: 'ops', hosts: ['ipc-line2'] } },
    );
    expect(again.status).toBe(409);
  });
});

describe('groups', () => {
  it('adds hosts: one result per host, 207 when one is refused; the accepted one committed', async () => {
    const res = await call(
      'POST',
      '/v1/groups/{name}/hosts',
      { name: 'ops' },
      { as: 'admin', body: { hosts: ['ipc-line2', 'not-a-host'] } },
    );
    expect(res.status).toBe(207);
    expect(res.body.targets).toEqual([
      { host: 'ipc-line2', result: 'accepted', reason: 'added' },
      { host: 'not-a-host', result: 'refused', reason: expect.stringContaining('no Host record') },
    ]);
    expect(recordsAtHead('fleet/groups.yaml').find((g) => g.name === 'ops')!.hosts).toEqual([
      'ipc-line1',
      'ipc-line2',
    ]);
  });

  it('refuses when every host is refused: 400, nothing committed', async () => {
    const before = head();
    const res = await call(
      'POST',
      '/v1/groups/{name}/hosts',
      { name: 'ops' },
      {
        as: 'admin',
        body: { hosts: ['not-a-host'] },
      },
    );
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ field: 'hosts[0]', code: 'ERR_FLEET_UNKNOWN_HOST' });
    expect(head()).toBe(before);
  });

  it('removes a host, and deletes a group no record places agents on', async () => {
    const res = await call(
      'DELETE',
      '/v1/groups/{name}/hosts/{host}',
      { name: 'ops', host: 'ipc-line2' },
      {
        as: 'admin',
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.group.hosts).toEqual(['ipc-line1']);
    const gone = await call('DELETE', '/v1/groups/{name}', { name: 'ops' }, { as: 'admin' });
    expect(gone.status).toBe(200);
    expect(recordsAtHead('fleet/groups.yaml').map((g) => g.name)).not.toContain('ops');
  });

  it("refuses to delete a group a record places agents on (the writer's code)", async () => {
    const res = await call('DELETE', '/v1/groups/{name}', { name: 'line-pcs' }, { as: 'admin' });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => e.code)).toContain('ERR_FLEET_UNKNOWN_GROUP');
  });
});

describe('rollouts in waves', () => {
  it('a group deploy in waves writes the rollout; a second rollout of the record is 409; pause, resume, cancel', async () => {
    const res = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'waves' },
      {
        body: {
          target: { group: 'line-pcs' },
          record: agentRecord(),
          rollout: { batchSize: 1, bakeSeconds: 30 },
        },
      },
    );
    expect(res.status).toBe(201);
    const [rec] = recordsAtHead(`fleet/agents/${A}-waves.yaml`);
    expect(rec!.rollout).toMatchObject({
      waves: [['ipc-line1'], ['ipc-line2']],
      started: 1,
      phase: 'progressing',
      bakeSeconds: 30,
      by: `Olga Operator <${people.username('operator')}@example.test>`,
    });
    expect(rec!.rollout.from).toBeUndefined();
    expect(res.body.targets).toEqual([
      expect.objectContaining({ agent: 'waves', host: 'ipc-line1', result: 'accepted', wave: 1 }),
      expect.objectContaining({ agent: 'waves', host: 'ipc-line2', result: 'accepted', wave: 2 }),
    ]);

    const before = head();
    for (const [template, body] of [
      ['/v1/agents/{name}/upgrade', { image: IMAGE_2, rollout: { batchSize: 1 } }],
      ['/v1/agents/{name}/upgrade', { image: IMAGE_2 }],
      ['/v1/agents/{name}/deploy', { target: { group: 'line-pcs' }, rollout: { batchSize: 2 } }],
    ] as const) {
      const second = await call('POST', template, { name: 'waves' }, { body });
      expect(second.status).toBe(409);
      expect(second.body.code).toBe('ERR_FLEET_ROLLOUT_ACTIVE');
      expect(second.body.rollout).toBe(rec!.rollout.id);
    }
    expect(head()).toBe(before);

    const pause = await call('POST', '/v1/agents/{name}/rollout/pause', { name: 'waves' });
    expect(pause.status).toBe(200);
    expect(recordsAtHead(`fleet/agents/${A}-waves.yaml`)[0]!.rollout.phase).toBe('paused');
    expect((await call('POST', '/v1/agents/{name}/rollout/pause', { name: 'waves' })).status).toBe(
      409,
    );
    const resume = await call('POST', '/v1/agents/{name}/rollout/resume', { name: 'waves' });
    expect(resume.status).toBe(200);
    expect(recordsAtHead(`fleet/agents/${A}-waves.yaml`)[0]!.rollout.phase).toBe('progressing');
    // Cancelling a deploy's rollout reverts it: undeployed, record kept.
    const cancel = await call('POST', '/v1/agents/{name}/rollout/cancel', { name: 'waves' });
    expect(cancel.status).toBe(200);
    const [after] = recordsAtHead(`fleet/agents/${A}-waves.yaml`);
    expect(after!.rollout).toBeUndefined();
    expect(after!.state).toBe('undeployed');
  });

  it('an upgrade in waves keeps the current image as from; cancel puts it back', async () => {
    expect((await call('POST', '/v1/agents/{name}/resume', { name: 'waves' })).status).toBe(200);
    const up = await call(
      'POST',
      '/v1/agents/{name}/upgrade',
      { name: 'waves' },
      {
        body: { image: IMAGE_2, rollout: { batchSize: 1 } },
      },
    );
    expect(up.status).toBe(200);
    const [rec] = recordsAtHead(`fleet/agents/${A}-waves.yaml`);
    expect(rec!.image).toBe(IMAGE_2);
    expect(rec!.rollout.from).toEqual({ image: IMAGE });
    // What each host runs meanwhile, as the renderer will see it.
    const agent = up.body.agents[0];
    expect(agent.rollout.reached).toEqual(['ipc-line1']);
    expect(up.body.targets.map((t: any) => t.reason)).toEqual([
      `runs ${IMAGE_2}`,
      expect.stringContaining(`runs ${IMAGE} until wave 2`),
    ]);
    const cancel = await call('POST', '/v1/agents/{name}/rollout/cancel', { name: 'waves' });
    expect(cancel.status).toBe(200);
    const [after] = recordsAtHead(`fleet/agents/${A}-waves.yaml`);
    expect(after!.image).toBe(IMAGE);
    expect(after!.rollout).toBeUndefined();
  });

  it('refuses waves for a host target', async () => {
    const res = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'probe' },
      {
        body: { target: { host: 'ipc-line1' }, rollout: { batchSize: 1 } },
      },
    );
    expect(res.status).toBe(400);
    expect(res.body.errors[0].field).toBe('rollout');
  });
});

describe('concurrency: never a lost update', () => {
  it('If-Match with a stale ETag is 409 with the current ETag', async () => {
    const read = await call('GET', '/v1/agents/{name}', { name: 'probe' });
    const stale = read.etag!;
    expect(
      (await call('POST', '/v1/agents/{name}/stop', { name: 'probe' }, { ifMatch: stale })).status,
    ).toBe(200);
    const now = (await call('GET', '/v1/agents/{name}', { name: 'probe' })).etag!;
    expect(now).not.toBe(stale);
    const before = head();
    const res = await call(
      'POST',
      '/v1/agents/{name}/resume',
      { name: 'probe' },
      { ifMatch: stale },
    );
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'ERR_FLEET_CONFLICT', etag: now });
    expect(head()).toBe(before);
    expect(
      (await call('POST', '/v1/agents/{name}/resume', { name: 'probe' }, { ifMatch: now })).status,
    ).toBe(200);
  });

  it('the remote moved underneath (another record changed): the write is redone on it, both changes kept', async () => {
    let theirs = '';
    beforePush = async (attempt) => {
      if (attempt === 0)
        theirs = pushFromOther(
          'fleet/agents/smithereens-watchdog.yaml',
          (t) => t.replace('window: 60', 'window: 90'),
          'watchdog: a wider window',
        );
    };
    const res = await call('POST', '/v1/agents/{name}/stop', { name: 'probe' });
    expect(res.status).toBe(200);
    expect(theirs).not.toBe('');
    // Based on their commit: both changes are in the branch.
    expect(res.body.base).toBe(theirs);
    expect(git(bare, 'rev-parse', 'main^').trim()).toBe(theirs);
    expect(fileAtHead('fleet/agents/smithereens-watchdog.yaml')).toContain('window: 90');
    expect(recordsAtHead(`fleet/agents/${A}-probe.yaml`)[0]!.state).toBe('stopped');
    beforePush = undefined;
    expect((await call('POST', '/v1/agents/{name}/resume', { name: 'probe' })).status).toBe(200);
  });

  it('the remote moved underneath with a change of the same record: If-Match fails on the redo, 409', async () => {
    const read = await call('GET', '/v1/agents/{name}', { name: 'probe' });
    let theirs = '';
    beforePush = async (attempt) => {
      if (attempt === 0)
        theirs = pushFromOther(
          `fleet/agents/${A}-probe.yaml`,
          (t) => t.replace('threshold: 4', 'threshold: 5'),
          'probe: a higher threshold',
        );
    };
    const res = await call(
      'POST',
      '/v1/agents/{name}/upgrade',
      { name: 'probe' },
      {
        body: { image: IMAGE_3 },
        ifMatch: read.etag!,
      },
    );
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('ERR_FLEET_CONFLICT');
    // Their change stands alone at the head; ours was not written over it.
    expect(head()).toBe(theirs);
    const [rec] = recordsAtHead(`fleet/agents/${A}-probe.yaml`);
    expect(rec!.config.threshold).toBe(5);
    expect(rec!.image).not.toBe(IMAGE_3);
    beforePush = undefined;
    expect(res.body.etag).toBe((await call('GET', '/v1/agents/{name}', { name: 'probe' })).etag);
  });

  it('two clients edit one record at once with the same If-Match: exactly one wins, the other 409', async () => {
    const read = await call('GET', '/v1/agents/{name}', { name: 'probe' });
    const etag = read.etag;
    // Both change the record: neither image is the one it has.
    expect([IMAGE_4, IMAGE_3]).not.toContain(read.body.agent.image);
    const before = head();
    const [a, b] = await Promise.all([
      call(
        'POST',
        '/v1/agents/{name}/upgrade',
        { name: 'probe' },
        { body: { image: IMAGE_4 }, ifMatch: etag! },
      ),
      call(
        'POST',
        '/v1/agents/{name}/upgrade',
        { name: 'probe' },
        {
          as: 'admin',
          body: { image: IMAGE_3 },
          ifMatch: etag!,
        },
      ),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const [winner, loser] = a.status === 200 ? [a, b] : [b, a];
    expect(loser.body.etag).toBe(winner.etag);
    expect(git(bare, 'rev-list', '--count', `${before}..main`).trim()).toBe('1');
    expect(recordsAtHead(`fleet/agents/${A}-probe.yaml`)[0]!.image).toBe(
      winner === a ? IMAGE_4 : IMAGE_3,
    );
  });
});

describe('the git server refusing a push', () => {
  it('answers 502 ERR_FLEET_PUSH with git’s reason, resets the clone, and the next write works', async () => {
    const hook = join(bare, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "pushes are frozen for the audit" >&2\nexit 1\n');
    chmodSync(hook, 0o755);
    const before = head();
    try {
      const res = await call('POST', '/v1/agents/{name}/stop', { name: 'probe' });
      expect(res.status).toBe(502);
      expect(res.body.code).toBe('ERR_FLEET_PUSH');
      expect(res.body.detail).toContain('pre-receive hook declined');
      expect(head()).toBe(before);
      const clone = join(work, 'clone');
      expect(git(clone, 'rev-parse', 'HEAD').trim()).toBe(before);
      expect(git(clone, 'status', '--porcelain')).toBe('');
    } finally {
      rmSync(hook);
    }
    const next = await call('POST', '/v1/agents/{name}/stop', { name: 'probe' });
    expect(next.status).toBe(200);
    expect(next.body.base).toBe(before);
    expect(head()).toBe(next.body.commit);
    expect((await call('POST', '/v1/agents/{name}/resume', { name: 'probe' })).status).toBe(200);
  });
});

describe('records broken outside the service', () => {
  it('answers 502 ERR_FLEET_REPO_INVALID naming each problem, and serves again once git is fixed', async () => {
    const broken = pushFromOther(
      'fleet/agents/smithereens-watchdog.yaml',
      (t) => t.replace('placement: { floating: true }', 'placement: { host: nowhere }'),
      'watchdog: a host that does not exist',
    );
    const read = await call('GET', '/v1/agents');
    expect(read.status).toBe(502);
    expect(read.body).toMatchObject({ code: 'ERR_FLEET_REPO_INVALID', commit: broken });
    expect(read.body.errors).toContainEqual(
      expect.objectContaining({ code: 'ERR_FLEET_UNKNOWN_HOST' }),
    );
    const write = await call('POST', '/v1/agents/{name}/stop', { name: 'probe' });
    expect(write.status).toBe(502);
    expect(head()).toBe(broken);
    git(other, 'revert', '--no-edit', 'HEAD');
    git(other, 'push', '-q', 'origin', 'HEAD:main');
    expect((await call('GET', '/v1/agents')).status).toBe(200);
  });
});

describe('removing modules and pipelines', () => {
  it('removes a module from its pipeline, then the pipeline record', async () => {
    const module = await call(
      'DELETE',
      '/v1/agents/{name}',
      { name: 'anomalies-detector' },
      {
        dryRun: true,
      },
    );
    // The extractor's connection names the detector: the writer refuses, nothing committed.
    expect(module.status).toBe(400);
    expect(module.body.errors.map((e: any) => e.code)).toContain('ERR_FLEET_UNKNOWN_MODULE');
    const before = head();
    const res = await call('DELETE', '/v1/pipelines/{name}', { name: 'anomalies' });
    expect(res.status).toBe(200);
    expect(res.body.deleted).toEqual([`Pipeline ${A}/anomalies`]);
    expect(git(bare, 'rev-parse', 'main^').trim()).toBe(before);
    expect(() => fileAtHead(`fleet/pipelines/${A}-anomalies.yaml`)).toThrow();
    expect((await call('GET', '/v1/agents/{name}', { name: 'anomalies-detector' })).status).toBe(
      404,
    );
  });
});

describe('status through a StatusSource (route wiring only)', () => {
  /**
   * TEST DOUBLE of the StatusSource (the real one reads Kubernetes and is tested there): it
   * derives targets from the snapshot itself and reports ipc-line2's node as never joined, only
   * to prove the routes serve and embed what a StatusSource says.
   */
  const statusDouble: StatusSource = {
    status(snapshot: Snapshot): Promise<FleetStatus> {
      const at = '2026-01-01T00:00:00.000Z';
      return Promise.resolve({
        commit: snapshot.commit,
        observedAt: at,
        hosts: snapshot.fleet.hosts.map((h) =>
          h.name === 'ipc-line2'
            ? { name: h.name, ready: 'Unknown' as const, reason: 'NodeNotFound', inInventory: true }
            : {
                name: h.name,
                ready: 'Ready' as const,
                reason: 'KubeletReady',
                since: at,
                inInventory: true,
              },
        ),
        targets: snapshot.fleet.agents.flatMap((a) =>
          a.placement.hosts.map((h) => ({
            agent: {
              id: a.id,
              name: a.name,
              tenant: a.tenant,
              ...(a.pipeline ? { pipeline: a.pipeline } : {}),
            },
            host: h.name,
            ...(instanceOn(a, h.name) ? { desiredRevision: instanceOn(a, h.name)!.revision } : {}),
            state: 'running' as const,
            reason: 'test double',
            since: at,
          })),
        ),
      });
    },
  };
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const issuer = issuerAt(kc, REALM);
    const app = createApp({
      ctx,
      store: fleet.store,
      policy: await TenancyPolicy.load({ config: config(join(work, 'clone')).policyData }),
      jwks: new JwksCache({ url: `${issuer}/protocol/openid-connect/certs` }),
      logger: createLogger('silent'),
      metrics: new Metrics({ processMetrics: false }),
      status: statusDouble,
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("serves GET status with the tenant's targets only, and embeds targets in agent reads", async () => {
    const res = await call('GET', '/v1/status', {}, { url, as: 'viewer' });
    expect(res.status).toBe(200);
    expect(res.body.hosts.find((h: any) => h.name === 'ipc-line2')).toMatchObject({
      ready: 'Unknown',
    });
    expect(new Set(res.body.targets.map((t: any) => t.agent.tenant))).toEqual(new Set([A]));
    const agent = await call('GET', '/v1/agents/{name}', { name: 'waves' }, { url, as: 'viewer' });
    expect(agent.body.agent.targets.map((t: any) => t.host)).toEqual(['ipc-line1', 'ipc-line2']);
    const hosts = await call('GET', '/v1/hosts', {}, { url, as: 'viewer' });
    expect(hosts.body.hosts.find((h: any) => h.name === 'ipc-line1')).toMatchObject({
      groups: ['line-pcs'],
      status: { ready: 'Ready' },
    });
  });

  it('answers a group deploy 207 when a host of the group has no node: accepted and refused per host', async () => {
    const res = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'probe' },
      { url, body: { target: { group: 'line-pcs' } } },
    );
    expect(res.status).toBe(207);
    expect(res.body.commit).toBe(head());
    expect(res.body.targets).toEqual([
      expect.objectContaining({ host: 'ipc-line1', result: 'accepted' }),
      expect.objectContaining({
        host: 'ipc-line2',
        result: 'refused',
        reason: expect.stringContaining('NodeNotFound'),
      }),
    ]);
  });
});

describe('the service', () => {
  it('logs each request with its tenant, and serves its probes and metrics', async () => {
    const entry = logs.find((l) => l.msg === 'request' && l.tenant === A);
    expect(entry).toMatchObject({
      service: 'fleet',
      method: expect.any(String),
      status: expect.any(Number),
    });
    expect(JSON.stringify(logs)).not.toContain('Bearer ');
    expect((await fetch(`${fleet.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${fleet.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${fleet.url}/metrics`)).text();
    expect(metrics).toMatch(
      /fleet_writes_total\{operation="agent.deploy",outcome="committed"\} \d+/,
    );
    expect(metrics).toMatch(
      /fleet_writes_total\{operation="agent.upgrade",outcome="ERR_FLEET_CONFLICT"\} \d+/,
    );
  });

  it('reads the records git has: a YAML parse of the head agrees with the API', async () => {
    const res = await call('GET', '/v1/agents/{name}', { name: 'probe' });
    const [rec] = recordsAtHead(`fleet/agents/${A}-probe.yaml`);
    expect(res.body.agent.record).toEqual(rec);
    expect(parseYaml(fileAtHead(`fleet/agents/${A}-probe.yaml`).split('---')[0]!)).toEqual(rec);
  });
});

describe('npm run fleet: the API from a terminal', () => {
  const CLI = 'services/fleet/bin/fleet.ts';
  let home: string;
  const fleetCli = async (args: string[], as: string | null = 'operator') => {
    const env: Record<string, string> = as
      ? { KITT4SME_TOKEN: await people.token(as as never) }
      : {};
    return runCli(CLI, [...args, '--base-url', fleet.url], home, env);
  };
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'fleet-cli-'));
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('--help names every command and the exit codes of the writes; no tenant is a usage error (2)', async () => {
    const help = await runCli(CLI, ['--help'], home);
    expect(help.code).toBe(0);
    for (const c of [
      'status',
      'deploy',
      'stop',
      'resume',
      'undeploy',
      'upgrade',
      'rollback',
      'rollout',
    ])
      expect(help.stdout).toContain(c);
    const none = await runCli(CLI, ['agents', '--base-url', fleet.url], home);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('pass --tenant');
  });

  it('lists as JSON; a dry-run deploy prints the diff and commits nothing', async () => {
    const head = git(bare, 'rev-parse', 'HEAD');
    const list = await fleetCli(['agents', '--tenant', A, '--json']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { agents: unknown[] }).agents.length).toBeGreaterThan(0);
    const file = join(home, 'cli-probe.yaml');
    writeFileSync(file, 'template: anomaly-detector\nconfig: { subscribe: false }\n');
    const dry = await fleetCli([
      'deploy',
      'cli-probe',
      '--tenant',
      A,
      '--host',
      'ipc-line1',
      '-f',
      file,
      '--dry-run',
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`+++ b/fleet/agents/${A}-cli-probe.yaml`);
    expect(dry.stdout).toMatch(/dry run on [0-9a-f]{12}: nothing committed/);
    expect(git(bare, 'rev-parse', 'HEAD')).toBe(head);
  });

  it('exits 1 on a conflict (naming the current ETag) and on a refused write, 2 on bad input, 3 when the service is unreachable', async () => {
    const name = 'cli-codes';
    const made = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name },
      {
        body: { target: { host: 'ipc-line1' }, record: agentRecord() },
      },
    );
    expect(made.status).toBe(201);
    const stale = await fleetCli(['stop', name, '--tenant', A, '--if-match', '"0000000000000000"']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(
      /answered 409.*\n[\s\S]*the record's current ETag: "[0-9a-f]{16}"/,
    );
    const viewer = await fleetCli(['stop', name, '--tenant', A], 'viewer');
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toContain('answered 403');
    const bad = await fleetCli(['upgrade', name, '--tenant', A, '--image', 'ghcr.io/x/y:latest']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('[ERR_FLEET_BAD_REQUEST]');
    const status = await fleetCli(['status', '--tenant', A]);
    expect(status.code).toBe(3); // this service runs without a status source: 503
    const gone = await runCli(
      CLI,
      ['agents', '--tenant', A, '--base-url', 'http://127.0.0.1:9'],
      home,
      { KITT4SME_TOKEN: 'x' },
    );
    expect(gone.code).toBe(3);
    expect(gone.stderr).toContain('the fleet service at http://127.0.0.1:9/fleet is unreachable');
  });
});

describe('the API server unreachable', () => {
  it('answers the status 503 with the cluster error and its fix; reads keep the records, writes still commit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-dead-cluster-'));
    const kubeconfig = join(dir, 'kubeconfig');
    // A cluster whose API server is gone: nothing listens on port 9.
    writeFileSync(
      kubeconfig,
      stringifyYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'gone', cluster: { server: 'https://127.0.0.1:9' } }],
        users: [{ name: 'u', user: { token: 'not-a-secret' } }],
        contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'u' } }],
        'current-context': 'gone',
      }),
    );
    const deadLogs: Record<string, unknown>[] = [];
    const other = await startFleet(config(join(dir, 'clone')), {
      status: new KubeStatusSource({ cluster: loadCluster({ kubeconfig }), tenants: [A, B] }),
      runRollouts: true,
      host: '127.0.0.1',
      processMetrics: false,
      logDestination: logLines((entry) => deadLogs.push(entry)),
    });
    try {
      const status = await call('GET', '/v1/status', {}, { url: other.url });
      expect(status.status).toBe(503);
      expect(status.body).toMatchObject({ code: 'ERR_CLUSTER_UNREACHABLE' });
      expect(String(status.body.fix)).not.toBe('');
      const list = await call('GET', '/v1/agents', {}, { url: other.url });
      expect(list.status).toBe(200);
      expect(list.body.agents.every((a: { targets?: unknown }) => a.targets === undefined)).toBe(
        true,
      );
      const head = git(bare, 'rev-parse', 'HEAD');
      const deploy = await call(
        'POST',
        '/v1/agents/{name}/deploy',
        { name: 'dead-cluster-probe' },
        { url: other.url, body: { target: { host: 'ipc-line1' }, record: agentRecord() } },
      );
      expect(deploy.status).toBe(201);
      expect(git(bare, 'rev-parse', 'HEAD^')).toBe(head);
      expect(deadLogs.map((l) => l.msg)).toEqual(
        expect.arrayContaining(['the cluster cannot be read', 'status source failed']),
      );
    } finally {
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('events to the monitor (PLATFORM_EVENTS_URL)', () => {
  const by = () => `Olga Operator <${people.username('operator')}@example.test>`;
  /**
   * The tenant's journal in the monitor, once the publisher has sent what it holds: the events
   * of `agents` only (other tests' services publish too).
   */
  const journal = async (...agents: string[]) => {
    await fleet.publisher.flush();
    return (monitor.store.doc.journal[A] ?? []).filter((e) =>
      agents.includes(String(e.data.agent)),
    );
  };
  const typeOf = (t: string) => t.replace('eu.kitt4sme.fleet.', '');

  /**
   * TEST DOUBLE of the StatusSource (the real one reads Kubernetes and is tested there): every
   * target runs what git wants on it and has been ready for an hour, except those `degraded`
   * names (`<agent>@<host>`: degraded since `since`).
   */
  function statusDouble(degraded: Map<string, string> = new Map()): StatusSource {
    return {
      status(snapshot: Snapshot): Promise<FleetStatus> {
        const hourAgo = new Date(Date.now() - 3600_000).toISOString();
        const targets: TargetStatus[] = snapshot.fleet.agents.flatMap((a) =>
          a.placement.hosts.map((h) => {
            const revision = instanceOn(a, h.name)?.revision ?? a.revision;
            const sick = degraded.get(`${a.name}@${h.name}`);
            return {
              agent: { id: a.id, name: a.name, tenant: a.tenant },
              host: h.name,
              desiredRevision: revision,
              observedRevision: revision,
              state: sick ? ('degraded' as const) : ('running' as const),
              reason: sick ? 'CrashLoopBackOff: exit code 1' : 'test double',
              since: sick ?? hourAgo,
            };
          }),
        );
        return Promise.resolve({
          commit: snapshot.commit,
          observedAt: new Date().toISOString(),
          hosts: [],
          targets,
        });
      },
    };
  }

  it('raises deployed (a group target: one event naming its hosts), stopped, resumed, undeployed and removed after each commit, with who did it; nothing on a dry run or without a commit', async () => {
    const body = { target: { group: 'line-pcs' }, record: agentRecord() };
    const dry = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'evt' },
      { body, dryRun: true },
    );
    expect(dry.body.dry_run).toBe(true);
    expect(await journal('evt')).toEqual([]);

    const commits: string[] = [];
    expect((await call('POST', '/v1/agents/{name}/deploy', { name: 'evt' }, { body })).status).toBe(
      201,
    );
    commits.push(head());
    for (const verb of ['stop', 'resume', 'undeploy']) {
      expect((await call('POST', `/v1/agents/{name}/${verb}`, { name: 'evt' })).status).toBe(200);
      commits.push(head());
    }
    // Undeployed already: nothing changes, no commit, no event.
    const same = await call('POST', '/v1/agents/{name}/undeploy', { name: 'evt' });
    expect(same.body.commit).toBeNull();
    expect((await call('DELETE', '/v1/agents/{name}', { name: 'evt' })).status).toBe(200);
    commits.push(head());

    const mine = await journal('evt');
    expect(mine.map((e) => [typeOf(e.type), e.subject, e.data.commit])).toEqual([
      ['agent.deployed', 'agents/evt', commits[0]],
      ['agent.stopped', 'agents/evt', commits[1]],
      ['agent.resumed', 'agents/evt', commits[2]],
      ['agent.undeployed', 'agents/evt', commits[3]],
      ['agent.removed', 'agents/evt', commits[4]],
    ]);
    expect(mine[0]).toMatchObject({
      id: eventId(commits[0]!, 'fleet.agent.deployed', A, 'evt'),
      source: '/fleet/tenants/manufracture',
      data: {
        tenant: A,
        kind: 'agent',
        id: 'evt',
        agent: 'evt',
        hosts: ['ipc-line1', 'ipc-line2'],
        image: IMAGE,
        by: by(),
      },
    });
    expect(mine[1]!.data).toMatchObject({ hosts: ['ipc-line1', 'ipc-line2'], by: by() });
    expect(mine[4]!.data).toEqual({
      tenant: A,
      kind: 'agent',
      id: 'evt',
      agent: 'evt',
      commit: commits[4],
      by: by(),
    });
    expect(fleet.publisher.counts).toMatchObject({ refused: 0 });
  });

  it("raises rollout.started, paused and resumed from the API, and wave-started, completed and failed from the runner's committed steps", async () => {
    const waves = {
      target: { group: 'line-pcs' },
      record: agentRecord(),
      rollout: { batchSize: 1 },
    };
    const deploy = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'evt-waves' },
      {
        body: { ...waves, rollout: { batchSize: 1, bakeSeconds: 0 } },
      },
    );
    expect(deploy.status).toBe(201);
    const started = head();
    const rolloutId = recordsAtHead(`fleet/agents/${A}-evt-waves.yaml`)[0]!.rollout.id as string;
    for (const command of ['pause', 'resume'])
      expect(
        (await call('POST', `/v1/agents/{name}/rollout/${command}`, { name: 'evt-waves' })).status,
      ).toBe(200);

    const events = new FleetEvents(fleet.publisher);
    const runner = new RolloutRunner({
      store: fleet.store,
      status: statusDouble(),
      author: { name: 'kitt4sme fleet service', email: 'fleet@kitt4sme.test' },
      onStep: (step) => events.step(step),
    });
    const next = await runner.pass();
    expect(next.map((s) => s.decision.action)).toEqual(['next']);
    const done = await runner.pass();
    expect(done.map((s) => s.decision.action)).toEqual(['complete']);

    const mine = await journal('evt-waves');
    expect(mine.map((e) => [typeOf(e.type), e.subject])).toEqual([
      ['agent.deployed', 'agents/evt-waves'],
      ['rollout.started', `rollouts/${rolloutId}`],
      ['rollout.paused', `rollouts/${rolloutId}`],
      ['rollout.resumed', `rollouts/${rolloutId}`],
      ['rollout.wave-started', `rollouts/${rolloutId}`],
      ['rollout.completed', `rollouts/${rolloutId}`],
    ]);
    expect(mine[1]!.data).toMatchObject({
      agent: 'evt-waves',
      waves: 2,
      from: null,
      to: IMAGE,
      commit: started,
      by: by(),
    });
    expect(mine[2]!.data).toMatchObject({ wave: 1, by: by() });
    expect(mine[4]!.data).toMatchObject({
      wave: 2,
      waves: 2,
      hosts: ['ipc-line2'],
      commit: next[0]!.commit,
    });
    expect(mine[4]!.id).toBe(eventId(next[0]!.commit!, 'fleet.rollout.wave-started', A, rolloutId));
    expect(mine[5]!.data).toMatchObject({ waves: 2, commit: done[0]!.commit });

    // A rollout whose first wave cannot run: the runner fails it.
    const fail = await call(
      'POST',
      '/v1/agents/{name}/deploy',
      { name: 'evt-fails' },
      {
        body: waves,
      },
    );
    expect(fail.status).toBe(201);
    const failing = new RolloutRunner({
      store: fleet.store,
      status: statusDouble(new Map([['evt-fails@ipc-line1', new Date().toISOString()]])),
      author: { name: 'kitt4sme fleet service', email: 'fleet@kitt4sme.test' },
      onStep: (step) => events.step(step),
    });
    const failed = await failing.pass();
    expect(failed.map((s) => s.decision.action)).toEqual(['fail']);
    const last = (await journal('evt-fails')).at(-1)!;
    expect(typeOf(last.type)).toBe('rollout.failed');
    expect(last.data).toMatchObject({
      agent: 'evt-fails',
      wave: 1,
      reason: expect.stringContaining('ipc-line1 is degraded: CrashLoopBackOff'),
      reverted: expect.any(Boolean),
      commit: failed[0]!.commit,
    });
    for (const name of ['evt-waves', 'evt-fails'])
      expect((await call('DELETE', '/v1/agents/{name}', { name })).status).toBe(200);
  });

  it('raises agent.degraded when a target enters degraded and agent.restored (resolving it) when it leaves; a restarted watcher raises the same id again, which the monitor keeps once', async () => {
    const body = { target: { host: 'ipc-line1' }, record: agentRecord() };
    expect(
      (await call('POST', '/v1/agents/{name}/deploy', { name: 'evt-sick' }, { body })).status,
    ).toBe(201);
    const sickSince = '2026-12-02T12:00:00.000Z';
    const degraded = new Map([['evt-sick@ipc-line1', sickSince]]);
    const events = new FleetEvents(fleet.publisher);
    const status = statusDouble(degraded);
    const watcher = new DegradedWatcher({ store: fleet.store, status, events });
    expect((await watcher.pass()).degraded).toHaveLength(1);
    // Still degraded since the same time: nothing new.
    expect(await watcher.pass()).toEqual({ degraded: [], restored: [] });
    // The service restarted: its new watcher knows nothing and raises it again, same id.
    const restarted = new DegradedWatcher({ store: fleet.store, status, events });
    expect((await restarted.pass()).degraded).toHaveLength(1);
    degraded.clear();
    expect((await restarted.pass()).restored).toHaveLength(1);

    const mine = (await journal('evt-sick')).filter((e) => !e.type.endsWith('.deployed'));
    expect(mine.map((e) => typeOf(e.type))).toEqual(['agent.degraded', 'agent.restored']);
    const [sick, well] = mine;
    expect(sick!.subject).toMatch(/^agents\/agent-[0-9a-f]+-ipc-line1$/);
    expect(sick!.time).toBe(sickSince);
    expect(sick!.data).toMatchObject({
      agent: 'evt-sick',
      host: 'ipc-line1',
      reason: 'CrashLoopBackOff: exit code 1',
      since: sickSince,
    });
    expect(well!.subject).toBe(sick!.subject);
    expect(well!.data).toMatchObject({ agent: 'evt-sick', host: 'ipc-line1', resolves: sick!.id });
    expect(
      await monitor.metrics.registry.getSingleMetricAsString('monitor_events_received_total'),
    ).toMatch(/producer="fleet",outcome="duplicate"\} 1/);
    expect((await call('DELETE', '/v1/agents/{name}', { name: 'evt-sick' })).status).toBe(200);
  });
});
