// Jest's test sequencer, leaving out of a run filtered by test name (a mutant's run) the test
// files that hold none of its tests (see mutation-test-files.cjs). Used by mutation runs only
// (scripts/mutation.ts).
'use strict';

const { relative } = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const { TEST_FILES_ENV, mustRun, readRecords } = require('./mutation-test-files.cjs');

class MutationSequencer extends Sequencer {
  #pattern;

  constructor(options) {
    super(options);
    this.#pattern = options.globalConfig?.testNamePattern || undefined;
  }

  async sort(tests) {
    const sorted = await super.sort(tests);
    const dir = process.env[TEST_FILES_ENV];
    if (!dir || !this.#pattern) return sorted;
    const records = readRecords(dir);
    return sorted.filter((t) =>
      mustRun(records, relative(t.context.config.rootDir, t.path), this.#pattern),
    );
  }
}

module.exports = MutationSequencer;
