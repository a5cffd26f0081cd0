// Jest's node environment, recording each test file's test names and duration on a run of every
// test, and stopping a run at its first failing test when bail is on (see mutation-test-files.cjs). Used by mutation runs only (scripts/mutation.ts); Stryker wraps it
// in its own environment for its coverage analysis.
'use strict';

const { relative } = require('node:path');
const { TestEnvironment } = require('jest-environment-node');

const {
  TEST_FILES_ENV,
  bailOnFailure,
  fullName,
  writeRecord,
} = require('./mutation-test-files.cjs');

class MutationEnvironment extends TestEnvironment {
  #dir;
  #file;
  #names = new Set();
  #started = Date.now();

  constructor(config, context) {
    super(config, context);
    // Only Stryker's dry run, the one run of every test without a mutant, is recorded: a run
    // filtered by name starts only some tests, and a mutant's run (Stryker names its mutant in
    // __STRYKER_ACTIVE_MUTANT__) can bail, or take a mutant's time.
    const dir = process.env[TEST_FILES_ENV];
    if (dir && !config.globalConfig.testNamePattern && !process.env.__STRYKER_ACTIVE_MUTANT__) {
      this.#dir = dir;
      this.#file = relative(config.projectConfig.rootDir, context.testPath);
    }
  }

  async handleTestEvent(event, state) {
    if (this.#dir && event.name === 'test_start') this.#names.add(fullName(event.test));
    bailOnFailure(event, state);
  }

  async teardown() {
    if (this.#dir) writeRecord(this.#dir, this.#file, this.#names, Date.now() - this.#started);
    await super.teardown();
  }
}

module.exports = MutationEnvironment;
