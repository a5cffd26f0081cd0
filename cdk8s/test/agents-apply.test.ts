/**
 * `npm run agents -- apply`: records written into a scratch git repository holding a copy of
 * the example fleet/: new records, updates by id and by name, all-or-nothing on bad records,
 * the commit of exactly the written files, and the command's exit codes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import { loadPlatformContext } from '../../platform/context.js';
import { FleetError } from '../../platform/fleet/resolve.js';
import { runCli } from '../../testing/support/cli.js';
import { ROOT } from '../../testing/support/synth.js';
import { writeFleetRecords } from '../../platform/fleet/write.js';
import { applyFleetRecords } from '../lib/fleet/apply.js';

const CLI = 'cdk8s/bin/agents.ts';
const ctx = loadPlatformContext();
let repo: string;
let home: string;

const git = (...args: string[]) =>
  execFileSync(
    'git',
    ['-C', repo, '-c', 'user.email=t@example.org', '-c', 'user.name=t', ...args],
    {
      encoding: 'utf8',
      stdio: 'pipe',
    },
  ).trim();
const read = (file: string) => readFileSync(join(repo, file), 'utf8');
/** Every file under fleet/ with its text. */
const snapshot = () => {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(join(repo, d), { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else out[join(d, e.name)] = read(join(d, e.name));
  };
  walk('fleet');
  return out;
};
const apply = (text: string, opts = {}) =>
  applyFleetRecords(ctx, repo, [{ source: 'input.yaml', text }], opts);

const VIBRATION = `kind: Agent
name: vibration
tenant: manufracture
template: anomaly-detector
placement: { host: ipc-line1 }
needs: [orion:read]
`;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'apply-home-'));
  repo = mkdtempSync(join(tmpdir(), 'apply-repo-'));
  cpSync(join(ROOT, 'fleet'), join(repo, 'fleet'), { recursive: true });
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'fleet');
});
afterEach(() => {
  rmSync(repo, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

describe('agents apply', () => {
  it('writes a new agent into its own file with a new id, and plans what it adds', () => {
    const r = apply(VIBRATION);
    expect(r.records).toEqual([
      expect.objectContaining({
        kind: 'Agent',
        name: 'manufracture/vibration',
        action: 'created',
        file: 'fleet/agents/manufracture-vibration.yaml',
        idAssigned: true,
      }),
    ]);
    const written = parseAllDocuments(read('fleet/agents/manufracture-vibration.yaml'));
    const rec = (written as { toJS(): Record<string, unknown> }[])[0]!.toJS();
    expect(rec.id).toBe(r.records[0]!.id);
    expect(read('fleet/agents/manufracture-vibration.yaml')).toMatch(/^# yaml-language-server/);
    expect(r.added.map((c) => c.object)).toContain(
      `Deployment/agents-manufracture/agent-${r.records[0]!.id!.replaceAll('-', '').slice(0, 12)}-ipc-line1`,
    );
    expect(r.removed).toEqual([]);
    // Not committed unless asked.
    expect(git('status', '--porcelain')).toBe('?? fleet/agents/manufracture-vibration.yaml');
  });

  it('updates a record without an id by kind, tenant and name, keeping its id, file and neighbours', () => {
    const first = apply(VIBRATION);
    const id = first.records[0]!.id!;
    const second = apply(VIBRATION.replace('[orion:read]', '[orion:read, orion:write]'));
    expect(second.records[0]).toEqual(
      expect.objectContaining({ id, action: 'updated', file: first.records[0]!.file }),
    );
    expect(second.records[0]!.idAssigned).toBeUndefined();
    expect(second.added).toEqual([]);
    expect(second.changed.map((c) => c.object)).toEqual(
      expect.arrayContaining([`AuthorizationPolicy/fiware/agents-manufracture-orion`]),
    );
    const again = apply(VIBRATION.replace('[orion:read]', '[orion:read, orion:write]'));
    expect(again.records[0]!.action).toBe('unchanged');
    expect(again.written).toEqual([]);
  });

  it('replaces a record by id inside a file of several, keeping the other documents and comments', () => {
    const before = read('fleet/groups.yaml');
    const r = apply(`kind: Group
id: fe714a58-f93d-4c41-9295-610c6672e382
name: line-pcs
hosts: [ipc-line1, ipc-line2, gpu-edge-1]
`);
    expect(r.records[0]).toEqual(
      expect.objectContaining({ action: 'updated', file: 'fleet/groups.yaml' }),
    );
    const after = read('fleet/groups.yaml');
    expect(after).toContain('# Groups are host lists: adding a host to a group is a commit.');
    expect(after).toContain('name: gpu-hosts');
    expect(after).not.toBe(before);
    // The extractor now also runs on the GPU host.
    expect(r.added.map((c) => c.object).join('\n')).toMatch(
      /Deployment\/agents-manufracture\/.*-gpu-edge-1/,
    );
  });

  it('renames an agent by its id: the file is updated and no object is replaced', () => {
    const r = apply(`kind: Agent
id: 26e6df54-5c74-4b0e-9185-0f558989e3d2
name: guard
tenant: smithereens
template: anomaly-detector
state: stopped
placement: { floating: true }
needs: [orion:read, quantumleap:read]
`);
    expect(r.records[0]).toEqual(
      expect.objectContaining({
        action: 'updated',
        file: 'fleet/agents/smithereens-watchdog.yaml',
      }),
    );
    expect(r.added).toEqual([]);
    expect(r.removed).toEqual([]);
  });

  it('writes nothing when a record is invalid, and lists every problem with its source', () => {
    const before = snapshot();
    let err: unknown;
    try {
      apply(`${VIBRATION.replace('ipc-line1', 'no-such-host')}---
kind: Agent
name: Bad_Name
tenant: manufracture
`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FleetError);
    expect((err as Error).message).toMatch(/input\.yaml document 2 \(Agent Bad_Name\) name/);
    const codes = (err as FleetError).issues.map((i) => i.code);
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes)).toEqual(new Set(['ERR_FLEET_SCHEMA']));
    expect(snapshot()).toEqual(before);

    // Valid on its own, invalid with the fleet: an unknown host.
    expect(() => apply(VIBRATION.replace('ipc-line1', 'no-such-host'))).toThrow(
      /ERR_FLEET_UNKNOWN_HOST/,
    );
    expect(snapshot()).toEqual(before);
    expect(git('status', '--porcelain')).toBe('');
  });

  it('refuses sealed secrets, the same record twice and an input without records', () => {
    expect(() => apply('kind: SealedSecret\nagent: x\n')).toThrow(/agents -- seal/);
    expect(() => apply(`${VIBRATION}---\n${VIBRATION}`)).toThrow(/given twice in one apply/);
    expect(() => apply('# nothing\n')).toThrow(/no record given/);
    expect(() => apply('kind: Agent\n  name: [\n')).toThrow(/ERR_FLEET_FILE/);
  });

  it('a dry run plans and writes nothing', () => {
    const before = snapshot();
    const r = apply(VIBRATION, { dryRun: true });
    expect(r.records[0]!.action).toBe('created');
    expect(r.added.length).toBeGreaterThan(0);
    expect(r.written).toEqual([]);
    expect(snapshot()).toEqual(before);
  });

  it('removes records: a document leaves its file, a file left empty is deleted, and the commit says so', () => {
    const groups = parseAllDocuments(read('fleet/groups.yaml')).map((d) => d.toJS());
    const gpu = groups.find((g) => g.name === 'gpu-hosts');
    const watchdog = parseAllDocuments(read('fleet/agents/smithereens-watchdog.yaml'))[0]!.toJS();
    const r = writeFleetRecords(ctx, repo, [], {
      commit: true,
      remove: [
        { kind: 'Group', id: gpu.id },
        { kind: 'Agent', id: watchdog.id },
      ],
    });
    expect(r.deleted).toEqual(['Group gpu-hosts', 'Agent smithereens/watchdog']);
    expect(existsSync(join(repo, 'fleet/agents/smithereens-watchdog.yaml'))).toBe(false);
    const left = read('fleet/groups.yaml');
    expect(parseAllDocuments(left).map((d) => d.toJS().name)).toEqual(['line-pcs']);
    // The file keeps its head: the schema comment and the remaining record's comments.
    expect(left.startsWith('# yaml-language-server')).toBe(true);
    expect(r.files.map((f) => [f.path, f.after === undefined])).toEqual([
      ['fleet/agents/smithereens-watchdog.yaml', true],
      ['fleet/groups.yaml', false],
    ]);
    expect(git('log', '-1', '--format=%s')).toBe(
      'fleet: remove Group gpu-hosts, remove Agent smithereens/watchdog',
    );
    expect(git('status', '--porcelain')).toBe('');
  });

  it('refuses to remove a record that does not exist or one still in use, writing nothing', () => {
    const before = snapshot();
    expect(() =>
      writeFleetRecords(ctx, repo, [], {
        remove: [{ kind: 'Agent', id: '00000000-0000-4000-8000-000000000000' }],
      }),
    ).toThrow(/no such record to remove/);
    // line-pcs places the anomaly pipeline's extractors: removing it breaks the fleet.
    const linePcs = parseAllDocuments(read('fleet/groups.yaml'))
      .map((d) => d.toJS())
      .find((g) => g.name === 'line-pcs');
    expect(() =>
      writeFleetRecords(ctx, repo, [], {
        commit: true,
        remove: [{ kind: 'Group', id: linePcs.id }],
      }),
    ).toThrow(/ERR_FLEET_UNKNOWN_GROUP/);
    expect(snapshot()).toEqual(before);
  });

  it('commits exactly the written files, whatever else is staged', () => {
    writeFileSync(join(repo, 'unrelated.txt'), 'staged by someone else\n');
    git('add', 'unrelated.txt');
    const r = apply(VIBRATION, { commit: true, message: 'add the vibration agent' });
    expect(r.commit).toBe(git('rev-parse', 'HEAD'));
    expect(git('log', '-1', '--format=%s')).toBe('add the vibration agent');
    expect(git('show', '--name-only', '--format=', 'HEAD')).toBe(
      'fleet/agents/manufracture-vibration.yaml',
    );
    expect(git('status', '--porcelain')).toBe('A  unrelated.txt');
  });

  it('commits as the given author (the calling user of a service), and a throwing inspection stops the write', () => {
    const before = snapshot();
    expect(() =>
      writeFleetRecords(ctx, repo, [{ source: 'x', text: VIBRATION }], {
        commit: true,
        inspect: () => {
          throw new Error('does not render');
        },
      }),
    ).toThrow('does not render');
    expect(snapshot()).toEqual(before);
    writeFleetRecords(ctx, repo, [{ source: 'x', text: VIBRATION }], {
      commit: true,
      author: { name: 'Ada Operator', email: 'ada@manufracture.example' },
    });
    expect(git('log', '-1', '--format=%an <%ae>')).toBe('Ada Operator <ada@manufracture.example>');
  });

  it('restores what it wrote when a later file cannot be written', () => {
    const before = snapshot();
    chmodSync(join(repo, 'fleet/pipelines'), 0o555);
    try {
      // groups.yaml sorts before pipelines/: written first, then restored.
      if (process.getuid?.() === 0) return; // root writes into a read-only directory
      expect(() =>
        apply(`kind: Group
id: fe714a58-f93d-4c41-9295-610c6672e382
name: line-pcs
hosts: [ipc-line1]
---
kind: Pipeline
name: more
tenant: manufracture
modules:
  - { name: m, template: feature-extractor }
`),
      ).toThrow(/ERR_FLEET_WRITE|restored/);
      expect(snapshot()).toEqual(before);
    } finally {
      chmodSync(join(repo, 'fleet/pipelines'), 0o755);
    }
  });
});

describe('npm run agents -- apply', () => {
  it('applies a file, prints what it did and commits when asked', async () => {
    const file = join(home, 'vibration.yaml');
    writeFileSync(file, VIBRATION);
    // A commit that fails (a refusing pre-commit hook) leaves nothing written.
    mkdirSync(join(repo, '.git', 'hooks'), { recursive: true });
    writeFileSync(
      join(repo, '.git', 'hooks', 'pre-commit'),
      '#!/bin/sh\necho refused >&2\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    const identity = {
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.org',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.org',
    };
    const refused = await runCli(CLI, ['apply', file, '--root', repo, '--commit'], home, identity);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/refused[\s\S]*nothing was written[\s\S]*ERR_FLEET_COMMIT/);
    expect(git('status', '--porcelain')).toBe('');
    rmSync(join(repo, '.git', 'hooks', 'pre-commit'));
    const run = await runCli(CLI, ['apply', file, '--root', repo, '--commit'], home, identity);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /created {3}Agent manufracture\/vibration in fleet\/agents\/manufracture-vibration\.yaml \(new id [0-9a-f-]{36}\)/,
    );
    // Added: the agent's workload, its Services (its own and the headless one the monitor's
    // nudges reach each pod by), its identity and the policy letting the monitor nudge it.
    // Changed: Orion's grants, Keycloak's token grants and the agents' clients' list.
    expect(run.stdout).toMatch(/rendered objects: 5 added, 0 removed, 3 changed/);
    const added = [...run.stdout.matchAll(/^\s+\+ (\S+)$/gm)].map((m) =>
      m[1]!.replace(/agent-[0-9a-f]{12}/, 'agent-<id>'),
    );
    expect(added.sort()).toEqual([
      'AuthorizationPolicy/agents-manufracture/agent-<id>-allow',
      'Deployment/agents-manufracture/agent-<id>-ipc-line1',
      'Service/agents-manufracture/agent-<id>',
      'Service/agents-manufracture/agent-<id>-pods',
      'ServiceAccount/agents-manufracture/agent-<id>',
    ]);
    expect(run.stderr).toMatch(
      /\[2\/2\] wrote fleet\/agents\/manufracture-vibration\.yaml and committed [0-9a-f]{12}/,
    );
    expect(git('log', '-1', '--format=%s')).toBe('fleet: apply Agent manufracture/vibration');
  }, 60_000);

  it('reads standard input, prints JSON, and exits 1 on an invalid record without writing', () => {
    const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
    const ok = spawnSync(tsx, [CLI, 'apply', '-', '--root', repo, '--json', '--dry-run'], {
      cwd: ROOT,
      input: VIBRATION,
      encoding: 'utf8',
    });
    expect(ok.status).toBe(0);
    const out = JSON.parse(ok.stdout) as { dryRun: boolean; records: { action: string }[] };
    expect(out.dryRun).toBe(true);
    expect(out.records[0]!.action).toBe('created');
    expect(existsSync(join(repo, 'fleet/agents/manufracture-vibration.yaml'))).toBe(false);

    const bad = spawnSync(tsx, [CLI, 'apply', '-', '--root', repo], {
      cwd: ROOT,
      input: VIBRATION.replace('[orion:read]', '[orion:teleport]'),
      encoding: 'utf8',
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/ERR_FLEET_UNKNOWN_NEED/);
    expect(existsSync(join(repo, 'fleet/agents/manufracture-vibration.yaml'))).toBe(false);
  }, 60_000);

  it('exits 2 on usage errors', async () => {
    expect((await runCli(CLI, ['apply', '--root', repo], home)).code).toBe(2);
  }, 60_000);
});
