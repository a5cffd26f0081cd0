#!/usr/bin/env node
// The project's test command (`npm test`). It runs every suite and ends with one line,
// `N passed, N failed`, so CI and humans read the same verdict.
//
//   npm test                 all suites
//   npm test -- cdk8s/test   only suites whose path matches (forwarded to jest)
//
// Exit code: 0 when everything passed, 1 when a test failed, 2 when the runner itself broke.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cache = join(root, '.cache');
mkdirSync(cache, { recursive: true });
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
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, FORCE_COLOR: process.env.CI ? '0' : '1' } },
);

let passed;
let failed;
try {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8'));
  passed = results.numPassedTests;
  // A suite that fails to load has no failed tests but must still count as a failure.
  failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
} catch (err) {
  console.error(
    `test runner: could not read jest results (${err.message}); jest exit code ${jest.status}`,
  );
  failed = 1;
}
if (jest.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
