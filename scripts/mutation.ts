/**
 * `npm run mutation -- <area>`: mutation testing (StrykerJS) of one area of the core. Each area
 * names the files Stryker mutates and the jest test files that must catch the mutants. Runs
 * are incremental: a re-run tests only the mutants of code or tests that changed since the last
 * run of that area. Reports (HTML, JSON, the incremental file) go to the git-ignored
 * .cache/mutation/<area>/. Not part of `npm test`: a full run takes minutes to an hour on two
 * cores (docs/mutation.md has the measured runtimes and scores).
 *
 *   npm run mutation -- tenancy
 *   npm run mutation -- provisioning-units --mutate services/provisioning/src/model.ts
 *
 * Exit codes: 0 the run finished (whatever the score), 1 Stryker failed, 2 usage error.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { PartialStrykerOptions } from '@stryker-mutator/api/core';
import type { MutantResult } from '@stryker-mutator/api/core';
import { Stryker } from '@stryker-mutator/core';
import { Command, CommanderError, InvalidArgumentError } from 'commander';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { BAIL_ENV, TEST_FILES_ENV } = createRequire(import.meta.url)(
  '../testing/jest/mutation-test-files.cjs',
) as { BAIL_ENV: string; TEST_FILES_ENV: string };

/** What one area mutates and which tests judge the mutants. */
export interface MutationArea {
  /** One line for `--help` and the docs. */
  readonly description: string;
  /** Globs (Stryker's `mutate`) of the files to mutate, `!` to leave one out (with its reason). */
  readonly mutate: readonly string[];
  /** Jest `testMatch` globs of the test files to run, relative to the project root. */
  readonly tests: readonly string[];
  /**
   * Stop a mutant's run at its first failing test (testing/jest/mutation-test-files.cjs): for
   * judges too slow to run whole for every mutant. The report then names the first test that
   * killed a mutant, not every one.
   */
  readonly bail?: boolean;
}

/** The provisioning test files that start no stack (the `provisioning-units` judges). */
export const UNIT_TESTS = [
  'model',
  'devices-file',
  'published-rules',
  'casts',
  'errors',
  'openapi',
  'config',
  'upstream',
  'fiware-client',
  'client',
  'api-key-publisher',
] as const;

/**
 * The provisioning test files that start the stack (the real IoT Agents, the fakes, the service),
 * or the service alone (`service`: its start and stop): the `provisioning-api` judges. The unit
 * files load none of its modules, so they could judge nothing there and would only lengthen the
 * runs of its static mutants.
 */
export const STACK_TESTS = [
  'api',
  'api-keys',
  'faults',
  'protocols',
  'requests',
  'typed',
  'provision-cli',
  'service',
] as const;

/**
 * The areas. An exclusion (a `!` glob, or a `// Stryker disable` comment in a source file)
 * carries its reason beside it; none is there to raise a score.
 */
export const AREAS = {
  tenancy: {
    description: 'the tenancy helpers: token checks, JWKS cache, policy host, middleware',
    mutate: [
      'services/tenancy/src/**/*.ts',
      // Re-exports only: no statement to mutate.
      '!services/tenancy/src/index.ts',
      'platform/tenancy.ts',
    ],
    tests: ['services/tenancy/test/*.test.ts'],
  },
  // The provisioning service in two parts, so that the modules that need no running stack are
  // judged by tests that start none. A mutant of code run at module load (a zod schema, the
  // OpenAPI components) is static: every test file of its area must run for it, and with the
  // stack's files (the IoT Agents, the fakes, the service; about 2 minutes) that made the
  // whole service a run of days.
  'provisioning-units': {
    description:
      'the provisioning service below its HTTP API: model, devices file, clients, API keys, OpenAPI',
    mutate: [
      'services/provisioning/src/**/*.ts',
      // Re-exports only: no statement to mutate.
      '!services/provisioning/src/index.ts',
      // The 'provisioning-api' area.
      '!services/provisioning/src/{app,provisioner,service}.ts',
    ],
    // The test files that start no stack (no agent, no fake, no service): seconds in all.
    tests: UNIT_TESTS.map((t) => `services/provisioning/test/${t}.test.ts`),
  },
  'provisioning-api': {
    description: "the provisioning service's HTTP API and provisioner, against the real IoT Agents",
    mutate: ['services/provisioning/src/{app,provisioner,service}.ts'],
    tests: STACK_TESTS.map((t) => `services/provisioning/test/${t}.test.ts`),
    // Each file starts the stack, and provision-cli.test.ts spawns the CLI: run whole, a
    // static mutant took about 80 s on a quiet machine.
    bail: true,
  },
  rules: {
    description: 'the manifest rules every synthesized manifest must pass',
    mutate: ['cdk8s/lib/validate/**/*.ts'],
    // The rules one by one on small objects. validation.test.ts runs them on the synthesized
    // platform too, but its synthesis in beforeAll runs every rule, which would make every
    // mutant static: each judged by a full synth and a real kube-apiserver (about 20 s).
    tests: ['cdk8s/test/rules.test.ts'],
  },
} as const satisfies Record<string, MutationArea>;

export type AreaName = keyof typeof AREAS;

/** Where an area's reports and incremental file go (git-ignored). */
export const reportDir = (area: AreaName) => join(ROOT, '.cache', 'mutation', area);

/**
 * Where a run records which test file holds which test (testing/jest/mutation-test-files.cjs),
 * so that a mutant's run loads only the files of its covering tests.
 */
export const testFilesDir = (area: AreaName) => join(reportDir(area), 'test-files');

/** Mutant counts and the mutation score, as Stryker's report computes them. */
export interface MutationSummary {
  readonly mutants: number;
  readonly killed: number;
  readonly survived: number;
  readonly timeout: number;
  readonly noCoverage: number;
  /** Ignored (e.g. static mutants with `--ignore-static`): not part of the score. */
  readonly ignored: number;
  /** Compile and runtime errors: not part of the score. */
  readonly errors: number;
  /** Detected over valid mutants, in percent (NaN when none is valid). */
  readonly score: number;
}

export function summarize(results: readonly MutantResult[]): MutationSummary {
  const count = (s: MutantResult['status']) => results.filter((r) => r.status === s).length;
  const killed = count('Killed');
  const timeout = count('Timeout');
  const survived = count('Survived');
  const noCoverage = count('NoCoverage');
  const valid = killed + timeout + survived + noCoverage;
  return {
    mutants: results.length,
    killed,
    survived,
    timeout,
    noCoverage,
    ignored: count('Ignored'),
    errors: results.length - valid - count('Ignored'),
    score: valid === 0 ? Number.NaN : ((killed + timeout) * 100) / valid,
  };
}

export interface MutationRunOptions {
  /** Replaces the area's `mutate` globs (a subset, e.g. one file or `file:10-40`). */
  readonly mutate?: readonly string[];
  /** Test runners in parallel. */
  readonly concurrency: number;
  /** Stryker's timeoutFactor: how much slower than the unmutated run a mutant may be. */
  readonly timeoutFactor: number;
  /** Ignore the incremental file: test every mutant again. */
  readonly force: boolean;
  /**
   * Leave out static mutants (code run while modules load or in `beforeAll`, which only a run
   * of every test file of the area can judge): a much shorter run whose score covers the
   * other mutants only. A later run without it tests just the static ones (incremental).
   */
  readonly ignoreStatic: boolean;
}

const bailing = (area: AreaName) => (AREAS[area] as MutationArea).bail === true;

/** Stryker's options for one area. */
export function strykerOptions(area: AreaName, opts: MutationRunOptions): PartialStrykerOptions {
  const dir = relative(ROOT, reportDir(area));
  return {
    packageManager: 'npm',
    plugins: ['@stryker-mutator/jest-runner'],
    testRunner: 'jest',
    // Jest runs in native ESM mode, as in npm test.
    testRunnerNodeArgs: ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning'],
    jest: {
      projectType: 'custom',
      configFile: 'jest.config.mjs',
      config: {
        testMatch: AREAS[area].tests.map((t) => `<rootDir>/${t}`),
        globalSetup: '<rootDir>/testing/jest/mutation-global-setup.mjs',
        // A mutant's run loads only the test files that hold its covering tests (Stryker names
        // the tests, and jest would load every file to find them). Absolute paths: Stryker
        // loads the environment itself, before jest would resolve <rootDir>.
        testEnvironment: join(ROOT, 'testing/jest/mutation-environment.cjs'),
        testSequencer: join(ROOT, 'testing/jest/mutation-sequencer.cjs'),
      },
      enableFindRelatedTests: false,
    },
    coverageAnalysis: 'perTest',
    // Jest runs every selected test of a mutant anyway (its bail cannot be set through its
    // API), so naming every test that kills a mutant costs nothing, and the report then shows
    // what each test catches: the score of a subset of the tests follows from it. An area
    // with slow judges bails in its test environment instead (MutationArea.bail).
    disableBail: !bailing(area),
    mutate: [...(opts.mutate ?? AREAS[area].mutate)],
    // The sandbox is a copy of the project (tests read docs/examples, deploy/ and more):
    // leave out only the caches and build output.
    ignorePatterns: ['.cache', 'coverage', 'dist'],
    // One sandbox folder per area: runs of two areas at once do not clean each other's.
    tempDirName: join('.cache', 'mutation', `tmp-${area}`),
    incremental: true,
    incrementalFile: join(dir, 'incremental.json'),
    force: opts.force,
    ignoreStatic: opts.ignoreStatic,
    reporters: ['html', 'json', 'progress', 'clear-text'],
    htmlReporter: { fileName: join(dir, 'index.html') },
    jsonReporter: { fileName: join(dir, 'report.json') },
    clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
    concurrency: opts.concurrency,
    timeoutFactor: opts.timeoutFactor,
    // Servers start per test file (OPA, HTTP stubs): a margin for a busy machine.
    timeoutMS: 15_000,
    dryRunTimeoutMinutes: 20,
  };
}

const positiveInt = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`${flag} must be a whole number ≥ 1, got '${value}'.`);
  }
  return n;
};

const positiveNumber = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`${flag} must be a number > 0, got '${value}'.`);
  }
  return n;
};

const areaList = () => {
  const width = Math.max(...Object.keys(AREAS).map((n) => n.length)) + 1;
  return Object.entries(AREAS)
    .map(([name, a]) => `  ${name.padEnd(width)} ${a.description}`)
    .join('\n');
};

export function program(): Command {
  return new Command('mutation')
    .description(
      'Mutation testing (StrykerJS) of one area; incremental, reports in .cache/mutation/<area>/.',
    )
    .argument('<area>', `one of: ${Object.keys(AREAS).join(', ')}`)
    .option(
      '--mutate <globs...>',
      "mutate only these files or ranges (file.ts:10-40) instead of the area's",
    )
    .option('--concurrency <n>', 'test runners in parallel', positiveInt('--concurrency'), 2)
    .option(
      '--timeout-factor <x>',
      'a mutant may run this many times longer than the unmutated tests before it counts as a timeout',
      positiveNumber('--timeout-factor'),
      3,
    )
    .option('--force', 'test every mutant again, ignoring the incremental file', false)
    .option(
      '--ignore-static',
      'leave out static mutants (run at module load or in beforeAll): much faster, partial score',
      false,
    )
    .addHelpText('after', `\nAreas:\n${areaList()}\n\nSee docs/mutation.md.`)
    .showHelpAfterError();
}

async function main(argv: readonly string[]): Promise<number> {
  const cmd = program().exitOverride();
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  const area = cmd.args[0] ?? '';
  if (!Object.hasOwn(AREAS, area)) {
    console.error(
      `mutation: unknown area '${area}'. Areas:\n${areaList()}\nRun: npm run mutation -- tenancy`,
    );
    return 2;
  }
  const name = area as AreaName;
  const o = cmd.opts<{
    mutate?: string[];
    concurrency: number;
    timeoutFactor: number;
    force: boolean;
    ignoreStatic: boolean;
  }>();
  const dir = reportDir(name);
  mkdirSync(dir, { recursive: true });
  // Recorded afresh by this run's dry run: a record left by an earlier run could name tests
  // that are gone.
  rmSync(testFilesDir(name), { recursive: true, force: true });
  process.env[TEST_FILES_ENV] = testFilesDir(name);
  if (bailing(name)) process.env[BAIL_ENV] = '1';
  const tools = join(ROOT, '.cache', 'tools');
  if (existsSync(tools)) process.env.KITT4SME_MUTATION_TOOLS = tools;

  const started = Date.now();
  const results = await new Stryker(strykerOptions(name, o)).runMutationTest();
  const seconds = Math.round((Date.now() - started) / 1000);
  const s = summarize(results);
  console.error(
    [
      `mutation ${name}${o.mutate ? ` (subset: ${o.mutate.join(' ')})` : ''}` +
        `${o.ignoreStatic ? ' (static mutants ignored)' : ''}: ` +
        `score ${s.score.toFixed(2)} % in ${Math.floor(seconds / 60)} min ${seconds % 60} s`,
      `  ${s.mutants} mutants: ${s.killed} killed, ${s.survived} survived, ${s.timeout} timeout, ` +
        `${s.noCoverage} no coverage, ${s.ignored} ignored, ${s.errors} errors`,
      `  report: ${relative(process.cwd(), join(dir, 'index.html'))} ` +
        `(JSON: ${relative(process.cwd(), join(dir, 'report.json'))})`,
    ].join('\n'),
  );
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`mutation: Stryker failed: ${err instanceof Error ? err.message : err}`);
      process.exit(1);
    },
  );
}
