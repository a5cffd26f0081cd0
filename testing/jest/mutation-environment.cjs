// Jest's node environment, recording each test file's test names on a run of every test (see
// mutation-test-files.cjs). Used by mutation runs only (scripts/mutation.ts); Stryker wraps it
// in its own environment for its coverage analysis.
'use strict';

const { relative } = require('node:path');
const { TestEnvironment } = require('jest-environment-node');

const { TEST_FILES_ENV, fullName, writeRecord } = require('./mutation-test-files.cjs');

class MutationEnvironment extends TestEnvironment {
  #dir;
  #file;
  #names = new Set();

  constructor(config, context) {
    super(config, context);
    // A run filtered by name starts only some tests: its record would leave the others out.
    const dir = process.env[TEST_FILES_ENV];
    if (dir && !config.globalConfig.testNamePattern) {
      this.#dir = dir;
      this.#file = relative(config.projectConfig.rootDir, context.testPath);
    }
  }

  async handleTestEvent(event) {
    if (this.#dir && event.name === 'test_start') this.#names.add(fullName(event.test));
  }

  async teardown() {
    if (this.#dir) writeRecord(this.#dir, this.#file, this.#names);
    await super.teardown();
  }
}

module.exports = MutationEnvironment;
