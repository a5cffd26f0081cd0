/**
 * `npm run bootstrap:secrets` without a cluster: a dry run lists what a fresh cluster needs
 * (no values); a real run refuses with exit 3 and the way out. kubectl is a stand-in that
 * cannot reach any server, as on a laptop without minikube running.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

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
    const plan = JSON.parse(run.stdout) as { create: { namespace: string; name: string }[] };
    const expected = declaredSecrets(loadPlatformContext()).map((s) => s.name);
    expect(plan.create.map((s) => s.name).sort()).toEqual([...expected].sort());
    expect(run.stdout).not.toMatch(/"(values|secret)"/);
  });

  it('refuses a real run with exit 3, naming --dry-run as the way to look without one', async () => {
    const run = await runCli('services/ops/bin/bootstrap-secrets.ts', [], home, env);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('cannot reach a cluster');
    expect(run.stderr).toContain('--dry-run');
  });
});
