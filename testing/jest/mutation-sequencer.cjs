// Jest's test sequencer, leaving out of a run filtered by test name (a mutant's run) the test
// files that hold none of its tests, and ordering a bailing run fastest file first (see
// mutation-test-files.cjs). Used by mutation runs only
// (scripts/mutation.ts).
'use strict';

const { relative } = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const {
  BAIL_ENV,
  TEST_FILES_ENV,
  fastestFirst,
  mustRun,
  readRecords,
  startRun,
} = require('./mutation-test-files.cjs');

class MutationSequencer extends Sequencer {
  #pattern;

  constructor(options) {
    super(options);
    // One sequencer per jest run: a new run has no failure yet.
    startRun();
    this.#pattern = options.globalConfig?.testNamePattern || undefined;
  }

  async sort(tests) {
    const sorted = await super.sort(tests);
    const dir = process.env[TEST_FILES_ENV];
    if (!dir) return sorted;
    const records = readRecords(dir);
    const file = (t) => relative(t.context.config.rootDir, t.path);
    const kept = this.#pattern
      ? sorted.filter((t) => mustRun(records, file(t), this.#pattern))
      : sorted;
    if (process.env[BAIL_ENV] !== '1') return kept;
    const order = fastestFirst(records, kept.map(file));
    return [...kept].sort((a, b) => order.indexOf(file(a)) - order.indexOf(file(b)));
  }
}

module.exports = MutationSequencer;
