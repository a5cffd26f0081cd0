#!/usr/bin/env node
// The project's test command (`npm test`). It installs the pinned real components the tests
// need (cached), runs the Rego tests with the real OPA (coverage at least 95 %), then every
// jest suite, and ends with one line, `N passed, N failed`, so CI and humans read the same
// verdict.
//
//   npm test                 everything
//   npm test -- cdk8s/test   only jest suites whose path matches (no setup, no Rego tests)
//
// Jest runs the test files on TEST_WORKERS workers at once (default: the machine's cores, at
// least 2 and at most 4; `npm test -- --runInBand` runs them one at a time). Much of a test
// file's time is spent waiting on the real servers it starts, so two workers make the run
// shorter even on two cores (a fresh-clone CI run there: 28.5 minutes with one, about 18 with
// two); what a machine has only one of (the test kube node) is taken in turns under a machine
// lock (testing/support/machine-lock.ts).
//
// Exit code: 0 when everything passed, 1 otherwise, 2 for a TEST_WORKERS that is no number.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cache = join(root, '.cache');
mkdirSync(cache, { recursive: true });
const filtered = process.argv.length > 2;
const COVERAGE_THRESHOLD = 95;
const workers =
  process.env.TEST_WORKERS ?? String(Math.min(4, Math.max(2, availableParallelism())));
if (!/^[1-9][0-9]*$/.test(workers)) {
  console.error(
    `test: TEST_WORKERS must be a whole number of workers, 1 or more (got ${JSON.stringify(workers)})`,
  );
  process.exit(2);
}

let passed = 0;
let failed = 0;
const tsx = (script, ...args) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, script), ...args], {
    cwd: root,
    stdio: 'inherit',
  });

if (!filtered) {
  // 1. Real components: a missing one is a failure, never a skip.
  if (tsx('toolchain/bin/setup.ts').status !== 0) {
    console.error('test: the real components could not be installed (see above)');
    failed++;
  } else {
    // 2. Rego tests with the pinned OPA, on data (keys, corpus) made for this run.
    const data = join(cache, 'policy-test', 'data.json');
    if (tsx('testing/bin/policy-test-data.ts', data).status !== 0) {
      failed++;
    } else {
      const opa = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          "import('./toolchain/tools.ts').then(m => process.stdout.write(m.opaPath()))",
        ],
        {
          cwd: root,
          encoding: 'utf8',
        },
      ).stdout;
      // The corpus test decides every case of policies/cases in one test, which with coverage
      // tracing takes seconds on a busy machine: more than opa test's default 5 s.
      const args = ['--timeout=120s', 'policies/kitt4sme', 'policies/system', data];
      const run = spawnSync(opa, ['test', '--format=json', ...args], {
        cwd: root,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      let results = [];
      try {
        results = JSON.parse(run.stdout);
      } catch {
        console.error(`test: opa test did not run: ${run.stderr}`);
        failed++;
      }
      for (const r of results) {
        const ok = !r.fail && !r.error;
        if (ok) passed++;
        else failed++;
        console.log(
          `${ok ? 'PASS' : 'FAIL'} rego ${r.package}.${r.name}${r.error ? ` (${r.error.message ?? JSON.stringify(r.error)})` : ''}`,
        );
      }
      const cov = spawnSync(opa, ['test', '--coverage', ...args], {
        cwd: root,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      try {
        const report = JSON.parse(cov.stdout);
        for (const [file, f] of Object.entries(report.files)) {
          if (file.endsWith('_test.rego')) continue;
          const ok = f.coverage >= COVERAGE_THRESHOLD;
          console.log(
            `${ok ? 'PASS' : 'FAIL'} rego coverage ${file}: ${f.coverage.toFixed(1)} % (at least ${COVERAGE_THRESHOLD} %)`,
          );
          if (ok) passed++;
          else failed++;
        }
      } catch {
        console.error(`test: opa test --coverage did not run: ${cov.stderr}`);
        failed++;
      }
    }
  }
}

// 3. Jest.
const resultsFile = join(cache, 'jest-results.json');
rmSync(resultsFile, { force: true });
const jest = spawnSync(
  process.execPath,
  [
    '--experimental-vm-modules',
    '--no-warnings=ExperimentalWarning',
    join(root, 'node_modules/jest/bin/jest.js'),
    '--json',
    `--outputFile=${resultsFile}`,
    // unless the command line says how many
    ...(process.argv.slice(2).some((a) => /^(--runInBand|-i|--maxWorkers|-w)(=|$)/.test(a))
      ? []
      : [`--maxWorkers=${workers}`]),
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, FORCE_COLOR: process.env.CI ? '0' : '1' } },
);
try {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8'));
  passed += results.numPassedTests;
  // A suite that fails to load has no failed tests but must still count as a failure.
  failed += results.numFailedTests + results.numRuntimeErrorTestSuites;
  if (jest.status !== 0 && results.numFailedTests + results.numRuntimeErrorTestSuites === 0)
    failed++;
} catch (err) {
  console.error(
    `test runner: could not read jest results (${err.message}); jest exit code ${jest.status}`,
  );
  failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
