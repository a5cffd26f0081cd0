// Mutation runs (npm run mutation): which test file holds which test, so that a mutant's run
// loads only the test files whose tests cover it. Stryker names a mutant's covering tests in
// jest's testNamePattern but leaves every test file of the area in the run, and loading a test
// file that runs nothing still costs its imports (about 1.5 s for a provisioning stack file):
// ten of them made a mutant's run 14 s where its one file takes 4 s.
//
// The environment (mutation-environment.cjs) records each file's test names while every test
// runs (Stryker's dry run); the sequencer (mutation-sequencer.cjs) keeps, in a run filtered by
// name, the files with a matching test, and every file it has no record of.
//
// With bail on (KITT4SME_MUTATION_BAIL=1, for areas whose judges are slow), a run stops at its
// first failing test: the mutant is killed, and the remaining tests, in that file and the next
// ones, are skipped (the files still load, their hooks do not run). The sequencer then orders
// the files fastest first by the durations the records hold, so a mutant that breaks every
// file is caught by the quickest. Jest's own bail cannot be used: it exits the process, which
// is Stryker's test runner. Plain CommonJS: jest loads environments and sequencers without
// transforms, and Stryker loads the environment with require.
'use strict';

const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

/** Set by scripts/mutation.ts: the folder the records go to. Unset, nothing is recorded or left out. */
const TEST_FILES_ENV = 'KITT4SME_MUTATION_TEST_FILES';

/** Set to 1 by scripts/mutation.ts: a run stops at its first failing test. */
const BAIL_ENV = 'KITT4SME_MUTATION_BAIL';

/**
 * The current jest run, shared by the sequencer (which starts it) and the environments of its
 * test files (which run in band, in the same process).
 */
const run = { failed: false };

/** Called by the sequencer as a jest run starts: nothing has failed in it yet. */
function startRun() {
  run.failed = false;
}

/** A test's full name as Stryker names it in a mutant's testNamePattern: its describes, then its own. */
function fullName(test) {
  const parts = [test.name];
  for (let block = test.parent; block?.parent; block = block.parent) parts.unshift(block.name);
  return parts.join(' ').trimStart();
}

/**
 * Writes one test file's record whole: its path relative to the root dir, its test names, and
 * how long it took (ms).
 */
function writeRecord(dir, file, names, ms) {
  mkdirSync(dir, { recursive: true });
  const target = join(dir, `${createHash('sha256').update(file).digest('hex').slice(0, 16)}.json`);
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ file, names: [...names].sort(), ms }));
  renameSync(tmp, target);
}

/** The records in `dir`: test file (relative) → its test names and duration. Empty when none. */
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
    const { file, names, ms } = JSON.parse(readFileSync(join(dir, entry), 'utf8'));
    records.set(file, { names, ms });
  }
  return records;
}

/**
 * Whether a run filtered by `pattern` (jest's testNamePattern, matched as jest-circus does:
 * case-insensitive) must load `file`: it has a matching test, or no record says what it holds.
 */
function mustRun(records, file, pattern) {
  const record = records.get(file);
  if (record === undefined) return true;
  const re = new RegExp(pattern, 'i');
  return record.names.some((n) => re.test(n));
}

/** The order of a bailing run: files by recorded duration, fastest first; unrecorded ones last. */
function fastestFirst(records, files) {
  const ms = (f) => records.get(f)?.ms ?? Number.POSITIVE_INFINITY;
  return [...files].sort((a, b) => ms(a) - ms(b));
}

/**
 * With bail on: once a test has failed, every test of the run still to come is skipped. Called
 * with jest-circus's events and its state (whose name pattern decides, test by test, whether a
 * test runs; a test file's hooks run only for a block with a test left to run).
 */
function bailOnFailure(event, state) {
  if (process.env[BAIL_ENV] !== '1') return;
  if (event.name === 'test_done' && event.test.errors.length > 0) run.failed = true;
  if (run.failed && (event.name === 'run_start' || event.name === 'test_done')) {
    state.testNamePattern = /(?!)/;
  }
}

module.exports = {
  BAIL_ENV,
  TEST_FILES_ENV,
  bailOnFailure,
  fastestFirst,
  fullName,
  mustRun,
  readRecords,
  startRun,
  writeRecord,
};
