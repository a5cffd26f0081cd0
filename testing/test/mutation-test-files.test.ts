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

interface TestFileRecord {
  names: string[];
  ms: number;
}

const { BAIL_ENV, TEST_FILES_ENV, fastestFirst, fullName, mustRun, readRecords } = createRequire(
  import.meta.url,
)('../jest/mutation-test-files.cjs') as {
  BAIL_ENV: string;
  TEST_FILES_ENV: string;
  fastestFirst(records: Map<string, TestFileRecord>, files: string[]): string[];
  fullName(test: { name: string; parent?: unknown }): string;
  mustRun(records: Map<string, TestFileRecord>, file: string, pattern: string): boolean;
  readRecords(dir: string): Map<string, TestFileRecord>;
};

const namesOf = (records: Map<string, TestFileRecord>) =>
  Object.fromEntries([...records].map(([file, r]) => [file, r.names]));

let project: string;
let records: string;

/**
 * Runs jest in the small project; `record: false` runs it as outside a mutation run, `extra`
 * adds variables (bail, a fixture's failure).
 */
function jest(
  args: string[],
  record: string | false = records,
  extra: Record<string, string> = {},
) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  if (!extra[BAIL_ENV]) delete env[BAIL_ENV];
  if (record) env[TEST_FILES_ENV] = record;
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
    expect(namesOf(readRecords(records))).toEqual({
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
    expect(readRecords(records).get('test/a.test.js')?.names).toEqual(['alpha one', 'alpha two']);
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
    const records = new Map([['test/x.test.js', { names: ['a b'], ms: 1 }]]);
    expect(mustRun(records, 'test/x.test.js', 'c')).toBe(false);
    expect(mustRun(records, 'test/x.test.js', 'A B')).toBe(true);
  });

  it('order a bailing run fastest first, files without a record last', () => {
    const records = new Map([
      ['slow', { names: [], ms: 900 }],
      ['fast', { names: [], ms: 20 }],
    ]);
    expect(fastestFirst(records, ['new', 'slow', 'fast'])).toEqual(['fast', 'slow', 'new']);
  });

  it('are written whole: a record is JSON of the file, its sorted names and duration', () => {
    const [entry] = readdirSync(records).filter((e) => e.endsWith('.json'));
    const record = JSON.parse(readFileSync(join(records, entry as string), 'utf8')) as {
      file: string;
      names: string[];
      ms: number;
    };
    expect(record.names).toEqual([...record.names].sort());
    expect(record.ms).toBeGreaterThan(0);
    expect(readdirSync(records).filter((e) => e.endsWith('.tmp'))).toEqual([]);
  });
});

describe('a bailing mutation run', () => {
  let bailRecords: string;
  const FAIL = { FIXTURE_FAIL: '1' };
  // As Stryker runs a mutant: bail on, the mutant named.
  const BAIL = { [BAIL_ENV]: '1', __STRYKER_ACTIVE_MUTANT__: '7' };

  /** Each test's status, file by file in the order the run took them. */
  function statuses(extra: Record<string, string>, args: string[] = []) {
    const r = jest(['--runInBand', '--json', ...args], bailRecords, extra);
    const result = JSON.parse(r.stdout) as {
      testResults: { name: string; assertionResults: { title: string; status: string }[] }[];
    };
    return result.testResults.map((f) => [
      f.name.slice(project.length + 1),
      f.assertionResults.map((t) => `${t.title}: ${t.status}`),
    ]);
  }

  beforeAll(() => {
    // The project of the first describe, with a file that fails on demand, and a hook that
    // fails the file it is in if it runs on a failing run.
    bailRecords = join(project, 'bail-records');
    mkdirSync(bailRecords);
    rmSync(join(project, 'test/c.test.js'), { force: true });
    writeFileSync(
      join(project, 'test/f.test.js'),
      "it('fails on demand', () => { if (process.env.FIXTURE_FAIL) throw new Error('mutant'); });\n" +
        "it('runs after it', () => {});\n",
    );
    writeFileSync(
      join(project, 'test/b.test.js'),
      "beforeAll(() => { if (process.env.FIXTURE_FAIL) throw new Error('hook ran'); });\n" +
        "it('top level', () => {});\n",
    );
    // Durations as a dry run would have recorded them: a is the fastest, then f, then b (jest's
    // own order, without timings of its own, is the largest file first: f, b, a).
    const record = (file: string, names: string[], ms: number, n: number) =>
      writeFileSync(join(bailRecords, `${n}.json`), JSON.stringify({ file, names, ms }));
    record('test/a.test.js', ['alpha one', 'alpha two'], 10, 1);
    record('test/f.test.js', ['fails on demand', 'runs after it'], 20, 2);
    record('test/b.test.js', ['top level'], 30, 3);
  });

  it('stops at the first failing test: the rest of its file and the later files are skipped', () => {
    expect(statuses({ ...BAIL, ...FAIL })).toEqual([
      ['test/a.test.js', ['one: passed', 'two: passed']],
      ['test/f.test.js', ['fails on demand: failed', 'runs after it: pending']],
      // b's beforeAll would fail its test: it did not run.
      ['test/b.test.js', ['top level: pending']],
    ]);
  });

  it('runs every test without a failure, fastest file first', () => {
    expect(statuses(BAIL)).toEqual([
      ['test/a.test.js', ['one: passed', 'two: passed']],
      ['test/f.test.js', ['fails on demand: passed', 'runs after it: passed']],
      ['test/b.test.js', ['top level: passed']],
    ]);
  });

  it('bails in a run filtered by name too', () => {
    expect(statuses({ ...BAIL, ...FAIL }, ['-t', '(fails on demand)|(runs after it)'])).toEqual([
      ['test/f.test.js', ['fails on demand: failed', 'runs after it: pending']],
    ]);
  });

  it('starts each run of the same process (as Stryker runs mutants) without the failure', () => {
    // Two jest runs in one process: the first fails and bails, the second has no failure.
    const script = `
      const { runCLI } = require(${JSON.stringify(join(ROOT, 'node_modules/jest'))});
      (async () => {
        const out = [];
        for (const fail of ['1', '']) {
          process.env.FIXTURE_FAIL = fail;
          const { results } = await runCLI({ runInBand: true, silent: true }, [${JSON.stringify(project)}]);
          out.push([results.numFailedTests, results.numPassedTests, results.numPendingTests]);
        }
        console.log(JSON.stringify(out));
      })();`;
    const env: NodeJS.ProcessEnv = { ...process.env, ...BAIL, [TEST_FILES_ENV]: bailRecords };
    delete env.NODE_OPTIONS;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: project, env, encoding: 'utf8' });
    expect(JSON.parse(r.stdout)).toEqual([
      [1, 2, 2],
      [0, 5, 0],
    ]);
  });

  it("leaves the dry run's records as they were: a mutant's run can bail or be slow", () => {
    statuses({ ...BAIL, ...FAIL });
    expect(readdirSync(bailRecords).sort()).toEqual(['1.json', '2.json', '3.json']);
    expect(readRecords(bailRecords).get('test/b.test.js')).toEqual({
      names: ['top level'],
      ms: 30,
    });
  });

  it('does not bail unless asked', () => {
    const files = Object.fromEntries(statuses({ ...FAIL, __STRYKER_ACTIVE_MUTANT__: '7' }));
    expect(files['test/f.test.js']).toEqual(['fails on demand: failed', 'runs after it: passed']);
    expect(files['test/b.test.js']).toEqual(['top level: failed']);
    expect(files['test/a.test.js']).toEqual(['one: passed', 'two: passed']);
  });
});
