#!/usr/bin/env -S npx tsx
/**
 * Rego lint with the pinned OPA: `opa fmt` (no diff allowed) and `opa check --strict`.
 * Exit codes: 0 clean, 1 findings, 3 OPA could not be installed.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { EXIT, reportError } from '../platform/cli.js';
import { PlatformError } from '../platform/errors.js';
import { ensureOpa } from '../toolchain/tools.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let opa: string;
try {
  opa = ensureOpa();
} catch (err) {
  if (err instanceof PlatformError) {
    reportError('lint:rego', err);
    process.exit(EXIT.environment);
  }
  throw err;
}
const dirs = ['policies/kitt4sme', 'policies/system'];
const fmt = spawnSync(opa, ['fmt', '--list', ...dirs], { cwd: root, encoding: 'utf8' });
const unformatted = fmt.stdout.trim();
if (fmt.status !== 0 || unformatted) {
  console.error(
    `lint:rego: not formatted (run \`${opa} fmt -w policies\`):\n${unformatted}${fmt.stderr}`,
  );
  process.exit(1);
}
const check = spawnSync(opa, ['check', '--strict', ...dirs], { cwd: root, encoding: 'utf8' });
if (check.status !== 0) {
  console.error(`lint:rego: opa check --strict failed:\n${check.stderr}${check.stdout}`);
  process.exit(1);
}
console.error('lint:rego: formatted and strict-clean');
