/**
 * Sealed, write-only agent secrets, end to end with the real parts: the pinned Sealed Secrets
 * controller against a real kube-apiserver, the upstream kubeseal, and our CLI
 * (`npm run agents -- seal`, value on stdin) writing into a copy of fleet/. A value goes in once,
 * unseals only into its agent's Secret, and never comes back out of a file, git or a command.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';

import { renderFleet } from '../../cdk8s/lib/fleet/agents.js';
import { loadPlatformContext } from '../../platform/context.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { agentSecretName, agentsNamespace, loadFleet } from '../../platform/fleet/resolve.js';
import { sealedSecretsPath } from '../../toolchain/tools.js';
import { startKubeApiserver } from '../real/kube-apiserver.js';
import type { KubeApiserver } from '../real/kube-apiserver.js';
import { startSealedSecretsController } from '../real/sealed-secrets.js';
import type { SealedSecretsController } from '../real/sealed-secrets.js';
import { waitFor } from '../support/processes.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const ctx = loadPlatformContext();
const TENANT = 'smithereens';
const AGENT = 'watchdog';
const KEY = 'API_TOKEN';
const SS = { group: 'bitnami.com', version: 'v1alpha1', plural: 'sealedsecrets' };

let api: KubeApiserver;
let controller: SealedSecretsController;
let root: string;
let certFile: string;
/** A fresh value per run: never in the repository, so finding it anywhere is a leak. */
const value = `tok-${randomBytes(18).toString('base64url')}`;
const outputs: string[] = [];

/** Runs `npm run agents -- <args>` (through tsx) on the copy, `input` on stdin. */
function agents(args: string[], input = '') {
  const r = spawnSync(
    join(REPO, 'node_modules', '.bin', 'tsx'),
    [join(REPO, 'cdk8s', 'bin', 'agents.ts'), ...args, '--root', root],
    {
      cwd: REPO,
      input,
      encoding: 'utf8',
      env: { ...process.env, KUBESEAL: sealedSecretsPath('kubeseal') },
    },
  );
  outputs.push(r.stdout, r.stderr);
  return r;
}

function git(...args: string[]) {
  const r = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Every file below `dir` (the .git folder included), as text. */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  api = await startKubeApiserver({ crds: false, sealedSecrets: true });
  controller = await startSealedSecretsController(api);
  root = mkdtempSync(join(tmpdir(), 'sealed-fleet-'));
  cpSync(join(REPO, FLEET_DIR), join(root, FLEET_DIR), { recursive: true });
  // The agent reads the key into its environment.
  const agentFile = join(root, FLEET_DIR, 'agents', `smithereens-${AGENT}.yaml`);
  const record = parse(readFileSync(agentFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(agentFile, stringify({ ...record, secrets: [{ env: KEY, key: KEY }] }));
  git('init', '-q', '-b', 'main');
  git('-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'add', '.');
  git('-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'commit', '-qm', 'records');
  certFile = join(root, 'cluster.pem');
  writeFileSync(certFile, await controller.certPem());
  const core = api.kubeConfig().makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: agentsNamespace(TENANT) } } });
}, 240_000);

afterAll(async () => {
  await controller?.stop();
  await api?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** The rendered SealedSecret of the agent, as Argo CD would apply it. */
function renderedSealedSecret(): k8s.KubernetesObject & { spec: Record<string, unknown> } {
  const rendered = renderFleet(ctx, loadFleet(root, FLEET_DIR, ctx));
  const sealed = rendered.objects.filter((o) => o.kind === 'SealedSecret');
  expect(sealed).toHaveLength(1);
  return sealed[0] as unknown as k8s.KubernetesObject & { spec: Record<string, unknown> };
}

async function applySealed(obj: k8s.KubernetesObject) {
  const custom = api.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  await custom.createNamespacedCustomObject({
    ...SS,
    namespace: obj.metadata!.namespace!,
    body: obj,
  });
}

async function readSecret(namespace: string, name: string) {
  const core = api.kubeConfig().makeApiClient(k8s.CoreV1Api);
  return core.readNamespacedSecret({ namespace, name });
}

describe('sealed agent secrets', () => {
  it('seals a value from stdin that the real controller unseals into the agent Secret its Deployment reads', async () => {
    const r = agents(['seal', '--agent', AGENT, '--key', KEY, '--cert', certFile, '--json'], value);
    expect(r.stderr).toContain('[2/2]');
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout) as { file: string; secret: { name: string } };
    const agent = loadFleet(root, FLEET_DIR, ctx).agents.find((a) => a.name === AGENT)!;
    const name = agentSecretName(agent.id);
    expect(result.secret.name).toBe(name);

    const sealed = renderedSealedSecret();
    expect(sealed.metadata).toMatchObject({ name, namespace: agentsNamespace(TENANT) });
    // The agent's Deployment reads the key from that Secret.
    const deployment = renderFleet(ctx, loadFleet(root, FLEET_DIR, ctx)).objects.find(
      (o) => o.kind === 'Deployment' && o.metadata.namespace === agentsNamespace(TENANT),
    ) as unknown as k8s.V1Deployment;
    const env = deployment.spec!.template.spec!.containers[0]!.env!.find((e) => e.name === KEY);
    expect(env?.valueFrom?.secretKeyRef).toEqual({ name, key: KEY });

    await applySealed(sealed);
    let secret: k8s.V1Secret | undefined;
    await waitFor(
      async () => {
        secret = await readSecret(agentsNamespace(TENANT), name);
        return true;
      },
      60_000,
      () => new Error(`the controller did not unseal ${name}\n${controller.logTail()}`),
      250,
    );
    expect(Buffer.from(secret!.data![KEY]!, 'base64').toString()).toBe(value);
  }, 120_000);

  it('does not unseal a copy renamed or moved to another agent (strict scope)', async () => {
    const sealed = renderedSealedSecret();
    // A copy as someone would make it: every field kept, only the name or namespace changed.
    const moved = (name: string, namespace: string) => {
      const template = sealed.spec.template as { metadata?: Record<string, unknown> };
      return {
        ...sealed,
        metadata: { ...sealed.metadata, name, namespace },
        spec: {
          ...sealed.spec,
          template: { ...template, metadata: { ...template.metadata, name, namespace } },
        },
      };
    };
    const copies = [
      moved('agent-other-secrets', agentsNamespace(TENANT)),
      moved(sealed.metadata!.name!, 'default'),
    ];
    const custom = api.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    for (const copy of copies) {
      await applySealed(copy);
      const { name, namespace } = copy.metadata;
      // The controller reports that it cannot decrypt it on the object's status.
      let status: { conditions?: { type: string; status: string; message?: string }[] } = {};
      await waitFor(
        async () => {
          const o = (await custom.getNamespacedCustomObject({
            ...SS,
            namespace: namespace!,
            name: name!,
          })) as { status?: typeof status };
          status = o.status ?? {};
          return (status.conditions ?? []).some((c) => c.type === 'Synced');
        },
        60_000,
        () => new Error(`no status on ${namespace}/${name}\n${controller.logTail()}`),
        250,
      );
      const synced = status.conditions!.find((c) => c.type === 'Synced')!;
      expect(synced.status).toBe('False');
      expect(synced.message).toMatch(/no key could decrypt secret/);
      await expect(readSecret(namespace!, name!)).rejects.toMatchObject({ code: 404 });
    }
  }, 150_000);

  it('never writes the value to fleet/, git or a command output', () => {
    git('-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'add', '.');
    git('-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'commit', '-qm', 'sealed');
    expect(git('show', '--stat', 'HEAD')).toContain(`fleet/secrets/${TENANT}/${AGENT}.yaml`);
    const plan = agents(['plan', '--base', 'HEAD~1']);
    expect(plan.status).toBe(0);
    expect(plan.stdout).toContain('SealedSecret');
    const planJson = agents(['plan', '--base', 'HEAD~1', '--json']);
    expect(planJson.status).toBe(0);
    // Sealing again with a wrong key name or no certificate prints no value either.
    expect(
      agents(['seal', '--agent', AGENT, '--key', 'bad key!', '--cert', certFile], value).status,
    ).toBe(2);
    expect(agents(['seal', '--agent', AGENT, '--key', KEY], value).status).toBe(2);
    expect(
      agents(['seal', '--agent', 'nobody', '--key', KEY, '--cert', certFile], value).status,
    ).toBe(2);
    expect(agents(['seal', '--agent', AGENT, '--key', KEY, '--cert', certFile], '').status).toBe(2);

    const needles = [value, Buffer.from(value).toString('base64')];
    for (const out of outputs) for (const n of needles) expect(out).not.toContain(n);
    // Git stores objects compressed: search the working tree and every object's content.
    const objects = git('rev-list', '--all', '--objects')
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[0]!);
    const contents = objects.map((o) => git('cat-file', '-p', o)).join('\n');
    for (const n of needles) expect(contents).not.toContain(n);
    for (const f of allFiles(root).filter((f) => !f.includes(`${join(root, '.git')}/objects`)))
      for (const n of needles) expect(readFileSync(f, 'utf8')).not.toContain(n);
  }, 120_000);
});
