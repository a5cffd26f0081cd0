/**
 * `npm run realm:apply -- --agents` as a command, on a real Keycloak of its own (the platform
 * realm) and a real kube-apiserver: the repository's fleet records become clients and
 * Secrets, a second run changes nothing, an empty fleet deletes them, the secret is never
 * printed; bad input (a missing fleet folder, a broken agents list, Keycloak down) exits with
 * its code before any change.
 *
 * Not on the run's shared Keycloak: the reconciliation deletes every agent client of the
 * platform realm that the repository's fleet does not name, and test files running beside
 * this one (the agent kit's, the monitor's, the agent pipeline's) make such clients there
 * for their agents.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';

import { loadPlatformContext } from '../../../platform/context.js';
import { agentClientSecretName } from '../../../platform/fleet/identity.js';
import { agentsNamespace, loadFleet } from '../../../platform/fleet/resolve.js';
import { buildRealm } from '../../../platform/realm.js';
import type { KubeApiserver } from '../../../testing/real/kube-apiserver.js';
import { startKubeApiserver } from '../../../testing/real/kube-apiserver.js';
import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { platformContext, startKeycloak, stopKeycloak } from '../../../testing/real/keycloak.js';
import { REPO_ROOT, runCli } from '../../../testing/support/cli.js';
import { waitFor } from '../../../testing/support/processes.js';

const ctx = loadPlatformContext();
const fleet = loadFleet(REPO_ROOT, 'fleet', ctx);

let kc: KeycloakServer;
let api: KubeApiserver;
let home: string;
let core: k8s.CoreV1Api;

const realmApply = (args: readonly string[], url = kc.url) =>
  runCli('services/identity/bin/realm-apply.ts', ['--keycloak-url', url, ...args], home, {
    KUBECONFIG: api.kubeconfigPath,
    KEYCLOAK_ADMIN_PASSWORD: kc.adminPassword,
  });

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'realm-apply-agents-'));
  [kc, api] = await Promise.all([
    startKeycloak([buildRealm(platformContext())], { dir: home }),
    startKubeApiserver({ crds: false }),
  ]);
  core = api.kubeConfig().makeApiClient(k8s.CoreV1Api);
  for (const t of ctx.config.tenants)
    await core.createNamespace({ body: { metadata: { name: agentsNamespace(t.name) } } });
}, 300_000);

afterAll(async () => {
  if (kc) {
    stopKeycloak(kc);
    // Its data is under home: gone before home is.
    await waitFor(
      async () => {
        try {
          process.kill(-kc.pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      30_000,
      () => new Error('Keycloak did not stop within 30 s'),
      200,
    ).catch(() => undefined);
  }
  await api?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

it('refuses a fleet folder that is not there, before logging in (exit 2)', async () => {
  const run = await realmApply(['--fleet', join(home, 'nowhere')], 'http://127.0.0.1:9/auth');
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('[ERR_FLEET_NO_RECORDS]');
  expect(run.stderr).toContain('nothing was changed');
});

it('refuses a broken agents list (exit 2)', async () => {
  const file = join(home, 'agents.json');
  writeFileSync(
    file,
    JSON.stringify({ agents: [{ id: 'x', name: 'y', tenant: 'z', needs: ['fly'] }] }),
  );
  const run = await realmApply(['--agents-file', file], 'http://127.0.0.1:9/auth');
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('agents[0] is not {id, name, tenant, needs}');
  expect(run.stderr).toContain('[ERR_FLEET_SCHEMA]');
});

it('exits 3 when Keycloak is down', async () => {
  const run = await realmApply(['--agents'], 'http://127.0.0.1:9/auth');
  expect(run.code).toBe(3);
  expect(run.stderr).toContain('[ERR_KEYCLOAK_UNREACHABLE]');
});

it("reconciles the repository's fleet: clients and Secrets, then in sync, then gone with the agents", async () => {
  expect(fleet.agents.length).toBeGreaterThan(0);
  const first = await realmApply(['--agents', '--json']);
  expect(first.stderr).toContain(`realm-apply: ${fleet.agents.length} agent client(s)`);
  expect(first.code).toBe(0);
  const result = JSON.parse(first.stdout) as { secrets: { name: string; outcome: string }[] };
  expect(result.secrets.map((s) => s.name).sort()).toEqual(
    fleet.agents.map((a) => agentClientSecretName(a.id)).sort(),
  );
  for (const a of fleet.agents) {
    const s = await core.readNamespacedSecret({
      namespace: agentsNamespace(a.tenant),
      name: agentClientSecretName(a.id),
    });
    const secret = Buffer.from(s.data!['client-secret']!, 'base64').toString('utf8');
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(first.stdout + first.stderr).not.toContain(secret);
  }

  const again = await realmApply(['--agents']);
  expect(again.code).toBe(0);
  expect(again.stderr).toContain('are in sync, nothing changed');

  const empty = join(home, 'empty-fleet');
  mkdirSync(empty);
  const gone = await realmApply(['--fleet', empty]);
  expect(gone.code).toBe(0);
  expect(gone.stderr).toContain(`${fleet.agents.length} Secret(s) written or deleted`);
  for (const a of fleet.agents)
    await expect(
      core.readNamespacedSecret({
        namespace: agentsNamespace(a.tenant),
        name: agentClientSecretName(a.id),
      }),
    ).rejects.toMatchObject({ code: 404 });
});
