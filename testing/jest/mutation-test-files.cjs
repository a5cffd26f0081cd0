// Mutation runs (npm run mutation): which test file holds which test, so that a mutant's run
// loads only the test files whose tests cover it. Stryker names a mutant's covering tests in
// jest's testNamePattern but leaves every test file of the area in the run, and loading a test
// file that runs nothing still costs its imports (about 1.5 s for a provisioning stack file):
// ten of them made a mutant's run 14 s where its one file takes 4 s.
//
// The environment (mutation-environment.cjs) records each file's test names while every test
// runs (Stryker's dry run); the sequencer (mutation-sequencer.cjs) keeps, in a run filtered by
// name, the files with a matching test, and every file it has no record of. Plain CommonJS:
// jest loads environments and sequencers without transforms.
'use strict';

const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

/** Set by scripts/mutation.ts: the folder the records go to. Unset, nothing is recorded or left out. */
const TEST_FILES_ENV = 'KITT4SME_MUTATION_TEST_FILES';

/** A test's full name as Stryker names it in a mutant's testNamePattern: its describes, then its own. */
function fullName(test) {
  const parts = [test.name];
  for (let block = test.parent; block?.parent; block = block.parent) parts.unshift(block.name);
  return parts.join(' ').trimStart();
}

/** Writes one test file's record (its path relative to the root dir, and its test names) whole. */
function writeRecord(dir, file, names) {
  mkdirSync(dir, { recursive: true });
  const target = join(dir, `${createHash('sha256').update(file).digest('hex').slice(0, 16)}.json`);
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ file, names: [...names].sort() }));
  renameSync(tmp, target);
}

/** The records in `dir`: test file (relative) → its test names. Empty when there are none. */
function readRecords(dir) {
  const records = new Map();
  let entries;
  try {
    entries = readdirSync(dir);
  } catch (err) {
    if (err.code === 'ENOENT') return records;
    throw err;
  }
  for (const entry of entries.filter((e) => e.endsWith('.json'))) {
    const { file, names } = JSON.parse(readFileSync(join(dir, entry), 'utf8'));
    records.set(file, names);
  }
  return records;
}

/**
 * Whether a run filtered by `pattern` (jest's testNamePattern, matched as jest-circus does:
 * case-insensitive) must load `file`: it has a matching test, or no record says what it holds.
 */
function mustRun(records, file, pattern) {
  const names = records.get(file);
  if (names === undefined) return true;
  const re = new RegExp(pattern, 'i');
  return names.some((n) => re.test(n));
}

module.exports = { TEST_FILES_ENV, fullName, mustRun, readRecords, writeRecord };
