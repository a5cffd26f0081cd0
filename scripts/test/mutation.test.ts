/**
 * The mutation command's own behaviour, without running Stryker: the areas it knows, its usage
 * errors, and the score it reports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { MutantResult } from '@stryker-mutator/api/core';

import {
  AREAS,
  STACK_TESTS,
  UNIT_TESTS,
  strykerOptions,
  summarize,
  testFilesDir,
} from '../mutation.js';

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
    expect(r.stdout).toContain('provisioning-units');
    expect(r.stdout).toContain('provisioning-api');
    expect(r.stdout).toContain('rules');
  });

  it.each(Object.entries(AREAS))('area %s names files and tests that exist', (_name, area) => {
    for (const glob of [...area.mutate, ...area.tests].filter((g) => !/[*{]/.test(g))) {
      expect(existsSync(join(ROOT, glob.replace(/^!/, '')))).toBe(true);
    }
  });

  it('splits the provisioning service in two areas that mutate every file once', () => {
    const dir = 'services/provisioning/src';
    const sources = readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.ts'));
    const api = ['app.ts', 'provisioner.ts', 'service.ts'];
    expect(AREAS['provisioning-api'].mutate).toEqual([
      `${dir}/{${api.map((f) => f.slice(0, -3)).join(',')}}.ts`,
    ]);
    expect(AREAS['provisioning-units'].mutate).toEqual([
      `${dir}/**/*.ts`,
      `!${dir}/index.ts`,
      `!${dir}/{app,provisioner,service}.ts`,
    ]);
    for (const f of api) expect(sources).toContain(f);
    // index.ts re-exports only: nothing in it to mutate.
    const index = readFileSync(join(ROOT, dir, 'index.ts'), 'utf8').replace(
      /\/\*[\s\S]*?\*\//g,
      '',
    );
    for (const line of index.split('\n').filter((l) => l.trim())) {
      expect(line).toMatch(/^(export |\s{2}|} from|\/\/)/);
    }
  });

  it('judges the provisioning units by test files that start no stack', () => {
    const files = AREAS['provisioning-units'].tests;
    expect(files).toHaveLength(UNIT_TESTS.length);
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      expect({
        file,
        stack: /testing\/stack\/|child_process|startOpa|src\/(app|service)\.js/.test(text),
      }).toEqual({
        file,
        stack: false,
      });
    }
  });

  it('judges the provisioning API by the test files that load it, and by no other', () => {
    const dir = 'services/provisioning/test';
    const files = readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.test.ts'));
    const stack = STACK_TESTS.map((t) => `${dir}/${t}.test.ts`);
    expect(AREAS['provisioning-api'].tests).toEqual(stack);
    // Every test file of the service judges one area or the other.
    expect(files.map((f) => `${dir}/${f}`).sort()).toEqual(
      [...stack, ...AREAS['provisioning-units'].tests].sort(),
    );
    for (const file of stack) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      // The stack, or the service alone (service.test.ts: its start and stop).
      const loads = /testing\/stack\/provisioning-stack\.js|\.\.\/src\/service\.js/.test(text);
      expect({ file, loads }).toEqual({
        file,
        loads: true,
      });
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
    // Every killing test is named in the report.
    expect(o.disableBail).toBe(true);
    // Except where the judges are too slow to run whole: there a run stops at its first failure.
    const api = strykerOptions('provisioning-api', {
      concurrency: 1,
      timeoutFactor: 3,
      force: false,
      ignoreStatic: false,
    });
    expect(api.disableBail).toBe(false);
    expect(
      Object.entries(AREAS)
        .filter(([, a]) => 'bail' in a)
        .map(([n]) => n),
    ).toEqual(['provisioning-api']);
    expect(o.incrementalFile).toBe('.cache/mutation/tenancy/incremental.json');
    expect(o.htmlReporter).toEqual({ fileName: '.cache/mutation/tenancy/index.html' });
    expect(o.jsonReporter).toEqual({ fileName: '.cache/mutation/tenancy/report.json' });
    expect(testFilesDir('tenancy')).toBe(join(ROOT, '.cache/mutation/tenancy/test-files'));
  });

  it("loads only the test files of a mutant's covering tests (the environment and sequencer exist)", () => {
    const o = strykerOptions('provisioning-api', {
      concurrency: 1,
      timeoutFactor: 3,
      force: false,
      ignoreStatic: false,
    });
    const config = (o.jest as { config: Record<string, string> }).config;
    for (const key of ['testEnvironment', 'testSequencer']) {
      expect(config[key]).toMatch(/^\/.*testing\/jest\/mutation-(environment|sequencer)\.cjs$/);
      expect(existsSync(config[key] as string)).toBe(true);
    }
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
