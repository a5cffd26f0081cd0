/**
 * The mutation runs' test-file selection (testing/jest/mutation-*.cjs), with the real jest on a
 * small project of its own: a run of every test records which file holds which test, and a run
 * filtered by name (as Stryker runs a mutant) then loads only the files with a matching test.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const JEST = join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js');

const { TEST_FILES_ENV, fullName, mustRun, readRecords } = createRequire(import.meta.url)(
  '../jest/mutation-test-files.cjs',
) as {
  TEST_FILES_ENV: string;
  fullName(test: { name: string; parent?: unknown }): string;
  mustRun(records: Map<string, string[]>, file: string, pattern: string): boolean;
  readRecords(dir: string): Map<string, string[]>;
};

let project: string;
let records: string;

/** Runs jest in the small project; `record: false` runs it as outside a mutation run. */
function jest(args: string[], record = true) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  if (record) env[TEST_FILES_ENV] = records;
  else delete env[TEST_FILES_ENV];
  return spawnSync(process.execPath, [JEST, '--ci', ...args], {
    cwd: project,
    env,
    encoding: 'utf8',
  });
}

/** The test files a run would load, relative to the project. */
const listed = (pattern: string) =>
  jest(['--listTests', '-t', pattern])
    .stdout.split('\n')
    .filter(Boolean)
    .map((p) => p.slice(project.length + 1))
    .sort();

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'mutation-files-'));
  records = join(project, 'records');
  mkdirSync(join(project, 'test'));
  writeFileSync(
    join(project, 'jest.config.js'),
    `module.exports = ${JSON.stringify({
      rootDir: project,
      testEnvironment: join(ROOT, 'testing/jest/mutation-environment.cjs'),
      testSequencer: join(ROOT, 'testing/jest/mutation-sequencer.cjs'),
    })};\n`,
  );
  writeFileSync(
    join(project, 'test/a.test.js'),
    "describe('alpha', () => { it('one', () => {}); it('two', () => {}); });\n",
  );
  writeFileSync(
    join(project, 'test/b.test.js'),
    "describe('beta', () => { describe('inner', () => { it('three (x)', () => {}); }); });\n" +
      "it('top level', () => {});\n",
  );
});

afterAll(() => rmSync(project, { recursive: true, force: true }));

describe('a mutation run', () => {
  it('records nothing outside a mutation run, and leaves no file out', () => {
    expect(jest([], false).status).toBe(0);
    expect(readdirSync(project)).not.toContain('records');
    expect(listed('alpha one')).toEqual(['test/a.test.js', 'test/b.test.js']);
  });

  it('records every test of every file on a run of every test', () => {
    const r = jest([]);
    expect(r.status).toBe(0);
    expect(Object.fromEntries(readRecords(records))).toEqual({
      'test/a.test.js': ['alpha one', 'alpha two'],
      'test/b.test.js': ['beta inner three (x)', 'top level'],
    });
  });

  it("loads only the files of the tests a mutant's run names, as Stryker names them", () => {
    // Stryker's pattern: each covering test's full name, escaped, in a group of an alternation.
    expect(listed('(beta inner three \\(x\\))')).toEqual(['test/b.test.js']);
    expect(listed('(alpha two)')).toEqual(['test/a.test.js']);
    expect(listed('(alpha one)|(top level)')).toEqual(['test/a.test.js', 'test/b.test.js']);
    // jest-circus matches names case-insensitively: so does the selection.
    expect(listed('ALPHA TWO')).toEqual(['test/a.test.js']);
    expect(listed('no such test')).toEqual([]);
  });

  it('runs the selected tests of the selected files, and keeps the records of every test', () => {
    const r = jest(['-t', '(alpha two)', '--json']);
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout) as {
      numTotalTestSuites: number;
      numPassedTests: number;
      numPendingTests: number;
    };
    expect(result).toMatchObject({ numTotalTestSuites: 1, numPassedTests: 1, numPendingTests: 1 });
    // A filtered run saw one test: the record still names both.
    expect(readRecords(records).get('test/a.test.js')).toEqual(['alpha one', 'alpha two']);
  });

  it('loads a file it has no record of (a new file), whatever the names', () => {
    writeFileSync(join(project, 'test/c.test.js'), "it('gamma', () => {});\n");
    expect(listed('(alpha two)')).toEqual(['test/a.test.js', 'test/c.test.js']);
  });
});

describe('the records', () => {
  it('name a test by its describes and its own name, as Stryker does', () => {
    const root = { name: 'ROOT_DESCRIBE_BLOCK' };
    const outer = { name: 'outer', parent: root };
    const inner = { name: 'inner', parent: outer };
    expect(fullName({ name: 'it', parent: inner })).toBe('outer inner it');
    expect(fullName({ name: 'top', parent: root })).toBe('top');
  });

  it('are empty when none was written, and a file without one must run', () => {
    expect(readRecords(join(project, 'nowhere')).size).toBe(0);
    expect(mustRun(new Map(), 'test/x.test.js', 'anything')).toBe(true);
    expect(mustRun(new Map([['test/x.test.js', ['a b']]]), 'test/x.test.js', 'c')).toBe(false);
  });

  it('are written whole: a record is JSON of the file and its sorted names', () => {
    const [entry] = readdirSync(records).filter((e) => e.endsWith('.json'));
    const record = JSON.parse(readFileSync(join(records, entry as string), 'utf8')) as {
      file: string;
      names: string[];
    };
    expect(record.names).toEqual([...record.names].sort());
    expect(readdirSync(records).filter((e) => e.endsWith('.tmp'))).toEqual([]);
  });
});
