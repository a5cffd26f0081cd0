/**
 * `npm run bootstrap:secrets` without a cluster: a dry run lists what a fresh cluster needs
 * (no values); a real run refuses with exit 3 and the way out. kubectl is a stand-in that
 * cannot reach any server, as on a laptop without minikube running.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';

import { declaredSecrets } from '../../../platform/bootstrap-secrets.js';
import { loadPlatformContext } from '../../../platform/context.js';
import { runCli } from '../../../testing/support/cli.js';

let home: string;
let env: Record<string, string>;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'bootstrap-secrets-'));
  const kubectl = join(home, 'kubectl');
  writeFileSync(
    kubectl,
    '#!/bin/sh\necho "The connection to the server localhost:8080 was refused" >&2\nexit 1\n',
  );
  chmodSync(kubectl, 0o755);
  env = { PATH: `${home}:${process.env.PATH}` };
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('bootstrap:secrets without a reachable cluster', () => {
  it('--dry-run lists every Secret a fresh cluster needs, without values, and exits 0', async () => {
    const run = await runCli(
      'services/ops/bin/bootstrap-secrets.ts',
      ['--dry-run', '--json'],
      home,
      env,
    );
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('no cluster reachable');
    const plan = JSON.parse(run.stdout) as {
      create: { namespace: string; name: string }[];
      needsInput: { name: string; key: string }[];
    };
    const expected = declaredSecrets(loadPlatformContext()).map((s) => s.name);
    // The fleet's https token is the user's to give: listed as needed, not created.
    expect(plan.needsInput.map((s) => `${s.name}:${s.key}`)).toEqual(['fleet-git:token']);
    expect([...plan.create, ...plan.needsInput].map((s) => s.name).sort()).toEqual(
      [...expected].sort(),
    );
    expect(run.stdout).not.toMatch(/"(values|secret)"/);
  });

  it('refuses a real run with exit 3, naming --dry-run as the way to look without one', async () => {
    const run = await runCli('services/ops/bin/bootstrap-secrets.ts', [], home, env);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('cannot reach a cluster');
    expect(run.stderr).toContain('--dry-run');
  });
});

describe('bootstrap:secrets and the fleet’s https token, on a cluster that lacks every Secret', () => {
  let dir: string;
  let clusterEnv: Record<string, string>;
  /** What the stand-in kubectl was asked to create (one JSON document per line). */
  const created = () =>
    existsSync(join(dir, 'created.jsonl'))
      ? readFileSync(join(dir, 'created.jsonl'), 'utf8')
          .split('\n')
          .filter((l) => l.trim())
          .map(
            (l) =>
              JSON.parse(l) as { metadata: { name: string }; stringData: Record<string, string> },
          )
      : [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bootstrap-secrets-cluster-'));
    // A kubectl that answers like an empty cluster: no Secret exists; creations are recorded.
    writeFileSync(
      join(dir, 'kubectl'),
      [
        '#!/bin/sh',
        'case "$*" in',
        '  *"version"*) echo "{}" ;;',
        `  *"get secret"*) echo 'Error from server (NotFound): secrets "x" not found' >&2; exit 1 ;;`,
        `  *"create -f -"*) cat >> '${dir}/created.jsonl'; echo >> '${dir}/created.jsonl' ;;`,
        'esac',
        'exit 0',
        '',
      ].join('\n'),
    );
    chmodSync(join(dir, 'kubectl'), 0o755);
    clusterEnv = { PATH: `${dir}:${process.env.PATH}` };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates nothing and exits 2 naming --git-token-file when the token is not given', async () => {
    const run = await runCli('services/ops/bin/bootstrap-secrets.ts', [], dir, clusterEnv);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('[ERR_SECRET_INPUT_MISSING]');
    expect(run.stderr).toContain('--git-token-file <file>');
    expect(created()).toEqual([]);
  });

  it('puts the token of --git-token-file into the fleet-git Secret, and creates the rest', async () => {
    const token = join(dir, 'token');
    writeFileSync(token, 'github_pat_for_the_test\n');
    const run = await runCli(
      'services/ops/bin/bootstrap-secrets.ts',
      ['--git-token-file', token],
      dir,
      clusterEnv,
    );
    expect(run.code).toBe(0);
    const fleet = created().filter((s) => s.metadata.name === 'fleet-git');
    expect(fleet.map((s) => s.stringData)).toEqual([{ token: 'github_pat_for_the_test' }]);
    expect(
      created()
        .map((s) => s.metadata.name)
        .sort(),
    ).toEqual(
      declaredSecrets(loadPlatformContext())
        .map((s) => s.name)
        .sort(),
    );
    // The token is never echoed.
    expect(run.stdout + run.stderr).not.toContain('github_pat_for_the_test');
  });

  it('reads the token file $KITT4SME_FLEET_GIT_TOKEN_FILE names, as argocd/bootstrap.sh runs it without options', async () => {
    const token = join(dir, 'token');
    writeFileSync(token, 'github_pat_from_the_environment');
    const run = await runCli('services/ops/bin/bootstrap-secrets.ts', [], dir, {
      ...clusterEnv,
      KITT4SME_FLEET_GIT_TOKEN_FILE: token,
    });
    expect(run.code).toBe(0);
    expect(
      created()
        .filter((s) => s.metadata.name === 'fleet-git')
        .map((s) => s.stringData),
    ).toEqual([{ token: 'github_pat_from_the_environment' }]);
  });
});
