/**
 * The mutation command's own behaviour, without running Stryker: the areas it knows, its usage
 * errors, and the score it reports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { MutantResult } from '@stryker-mutator/api/core';

import { AREAS, strykerOptions, summarize } from '../mutation.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/mutation.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });

const mutant = (status: MutantResult['status']) => ({ status }) as MutantResult;

describe('npm run mutation', () => {
  it('fails with exit 2 on an unknown area, listing the areas', () => {
    const r = run('tenants');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown area 'tenants'");
    for (const area of Object.keys(AREAS)) expect(r.stderr).toContain(area);
  });

  it('fails with exit 2 without an area, and on a concurrency of 0', () => {
    expect(run().status).toBe(2);
    const r = run('rules', '--concurrency', '0');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--concurrency must be a whole number ≥ 1, got '0'");
  });

  it('lists the areas in --help, with exit 0', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('tenancy');
    expect(r.stdout).toContain('provisioning');
    expect(r.stdout).toContain('rules');
  });

  it.each(Object.entries(AREAS))('area %s names files and tests that exist', (_name, area) => {
    for (const glob of [...area.mutate, ...area.tests].filter((g) => !g.includes('*'))) {
      expect(existsSync(join(ROOT, glob.replace(/^!/, '')))).toBe(true);
    }
  });

  it('keeps reports and the incremental file under the git-ignored .cache', () => {
    const o = strykerOptions('tenancy', {
      concurrency: 1,
      timeoutFactor: 3,
      force: false,
      ignoreStatic: false,
    });
    expect(o.incremental).toBe(true);
    expect(o.incrementalFile).toBe('.cache/mutation/tenancy/incremental.json');
    expect(o.htmlReporter).toEqual({ fileName: '.cache/mutation/tenancy/index.html' });
    expect(o.jsonReporter).toEqual({ fileName: '.cache/mutation/tenancy/report.json' });
  });

  it('scores detected over valid mutants, leaving out ignored ones and errors', () => {
    const s = summarize([
      ...Array(6).fill(mutant('Killed')),
      mutant('Timeout'),
      mutant('Survived'),
      mutant('NoCoverage'),
      mutant('Ignored'),
      mutant('CompileError'),
    ]);
    expect(s).toEqual({
      mutants: 11,
      killed: 6,
      survived: 1,
      timeout: 1,
      noCoverage: 1,
      ignored: 1,
      errors: 1,
      score: (7 * 100) / 9,
    });
  });
});
