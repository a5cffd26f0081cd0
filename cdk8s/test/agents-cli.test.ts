/**
 * `npm run agents -- plan` as a user runs it, on a scratch git repository holding a copy of the
 * example fleet/: what it shows against HEAD, --json, and its exit codes.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runCli } from '../../testing/support/cli.js';
import { ROOT } from '../../testing/support/synth.js';

const CLI = 'cdk8s/bin/agents.ts';
let repo: string;
let home: string;

const git = (...args: string[]) =>
  execFileSync(
    'git',
    ['-C', repo, '-c', 'user.email=t@example.org', '-c', 'user.name=t', ...args],
    {
      stdio: 'pipe',
    },
  );
const edit = (file: string, change: (text: string) => string) =>
  writeFileSync(join(repo, file), change(readFileSync(join(repo, file), 'utf8')));
const plan = (...args: string[]) => runCli(CLI, ['plan', '--root', repo, ...args], home);

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'agents-home-'));
  repo = mkdtempSync(join(tmpdir(), 'agents-repo-'));
  cpSync(join(ROOT, 'fleet'), join(repo, 'fleet'), { recursive: true });
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'fleet');
});
afterEach(() => {
  rmSync(repo, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

describe('npm run agents -- plan', () => {
  it('shows no difference when the records are those of HEAD', async () => {
    const run = await plan();
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/objects rendered; against HEAD: 0 added, 0 removed, 0 changed/);
    expect(run.stdout).toMatch(
      /manufracture\/anomalies-detector {2}running {2}host \(gpu-edge-1\)/,
    );
    expect(run.stderr).toMatch(/\[1\/2\] validating and rendering/);
  }, 60_000);

  it('shows what a change of the records changes: a new host instance, a new revision, a wake-up', async () => {
    edit('fleet/groups.yaml', (t) =>
      t.replace('hosts: [ipc-line1, ipc-line2]', 'hosts: [ipc-line1, ipc-line2, gpu-edge-1]'),
    );
    edit('fleet/pipelines/manufracture-anomalies.yaml', (t) =>
      t.replace('threshold: 2.5', 'threshold: 4'),
    );
    edit('fleet/agents/smithereens-watchdog.yaml', (t) =>
      t.replace('state: stopped', 'state: running'),
    );
    const run = await plan('--json');
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.added).toEqual([
      { object: 'Deployment/agents-manufracture/agent-54365d8bf27b-gpu-edge-1' },
    ]);
    expect(doc.removed).toEqual([]);
    const changed = Object.fromEntries(doc.changed.map((c: any) => [c.object, c.fields]));
    expect(changed['Deployment/agents-manufracture/agent-5d8be2d4d7b3-gpu-edge-1']).toEqual(
      expect.arrayContaining([
        'metadata.annotations.fleet.kitt4sme.io/revision',
        'spec.template.metadata.annotations.fleet.kitt4sme.io/revision',
        'spec.template.spec.containers',
      ]),
    );
    expect(changed['Deployment/agents-smithereens/agent-26e6df545c74']).toEqual(['spec.replicas']);
    // The new instance's heartbeat entity joins the agent's heartbeat grant on Orion.
    expect(changed['AuthorizationPolicy/fiware/agents-manufracture-orion']).toEqual(['spec.rules']);
    expect(Object.keys(changed)).toHaveLength(3);
    const detector = doc.agents.find((a: any) => a.name === 'anomalies-detector');
    expect(detector).toMatchObject({
      tenant: 'manufracture',
      placement: 'host',
      hosts: ['gpu-edge-1'],
    });
  }, 60_000);

  it('fails with exit 1 and names the file, field and code of each problem', async () => {
    edit('fleet/agents/smithereens-watchdog.yaml', (t) =>
      t.replace('needs: [orion:read, quantumleap:read]', 'needs: [orion:read, orion:admin]'),
    );
    const run = await plan('--json');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'fleet/agents/smithereens-watchdog.yaml Agent watchdog: needs[1]: a need is not one the platform knows ("orion:admin")',
    );
    expect(run.stderr).toContain('[ERR_FLEET_UNKNOWN_NEED]');
    expect(JSON.parse(run.stdout).error.code).toBe('ERR_FLEET_INVALID');
  }, 60_000);

  it('fails with exit 2 on a base that is not a commit, and on an unknown option', async () => {
    const run = await plan('--base', 'no-such-branch');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/"no-such-branch" is not a commit .*\[ERR_FLEET_BASE\]/s);
    expect((await plan('--frobnicate')).code).toBe(2);
  }, 60_000);

  it("counts everything as added when HEAD's records do not render, and says why", async () => {
    edit('fleet/groups.yaml', (t) => t.replace('hosts: [gpu-edge-1]', 'hosts: [nowhere]'));
    git('commit', '-qam', 'break');
    edit('fleet/groups.yaml', (t) => t.replace('hosts: [nowhere]', 'hosts: [gpu-edge-1]'));
    const run = await plan('--json');
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/note: the records of HEAD do not render/);
    expect(JSON.parse(run.stdout).added.length).toBe(JSON.parse(run.stdout).objects);
  }, 60_000);
});

describe('npm run agents -- join', () => {
  it('prints the join command of a host from its record, and --json its labels and taint', async () => {
    const run = await runCli(
      CLI,
      ['join', 'gpu-edge-1', '--root', repo, '--server', 'https://api.example:6443'],
      home,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'k3s agent --server https://api.example:6443 --token-file /etc/kitt4sme/node-token --node-name gpu-edge-1',
    );
    expect(run.stdout).toContain('--node-taint fleet.kitt4sme.io/specialised=true:NoSchedule');
    const json = await runCli(
      CLI,
      ['join', 'ipc-line1', '--root', repo, '--server', 'https://api.example:6443', '--json'],
      home,
    );
    expect(JSON.parse(json.stdout)).toMatchObject({
      host: 'ipc-line1',
      labels: { 'fleet.kitt4sme.io/line': 'line1' },
      taints: [],
    });
  }, 60_000);

  it('exits 2 for a host without a record or a server that is not https', async () => {
    const unknown = await runCli(
      CLI,
      ['join', 'nope', '--root', repo, '--server', 'https://x:6443'],
      home,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no Host record named "nope"; the hosts are .*ipc-line1/);
    const plain = await runCli(
      CLI,
      ['join', 'ipc-line1', '--root', repo, '--server', 'http://x:6443'],
      home,
    );
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/ERR_FLEET_JOIN_SERVER/);
  }, 60_000);
});
