/**
 * The scenario framework: a scenario is a list of named steps; each step asserts something and
 * throws when it does not hold. The runner times every step, bounds it with a deadline, stops a
 * scenario at its first failure (unless the scenario says its steps are independent) and hands
 * every event to a reporter (progress, summary, JSON, JUnit XML: see report.ts).
 */

/** Why a step did not pass, in words a user can act on. */
export class AssertionFailed extends Error {
  /** Waiting cannot change it (a refusal, a bad request): {@link eventually} stops at once. */
  readonly final: boolean;
  constructor(message: string, options?: { cause?: unknown; final?: boolean }) {
    super(message, options);
    this.name = 'AssertionFailed';
    this.final = options?.final ?? false;
  }
}

/** Thrown by a step that cannot run here; the reason says what would let it run. */
export class StepSkipped extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'StepSkipped';
  }
}

/** Fails the step with `message` unless `condition` holds. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionFailed(typeof message === 'string' ? message : message());
}

/** One step of a scenario. */
export interface Step {
  /** Stable id within the scenario (kebab-case), for `--skip` and the reports. */
  readonly id: string;
  /** What the step shows, as one line. */
  readonly title: string;
  /**
   * Runs the step; throws {@link AssertionFailed} (or any error) to fail, {@link StepSkipped}
   * to skip. May return a short note for the report (e.g. "3 devices, 9 measurements").
   */
  run(signal: AbortSignal): Promise<string | void>;
  /** Deadline of this step. @default the run's step timeout */
  readonly timeoutMs?: number;
}

/** A scenario: its steps are built per run, so state can live in the closure. */
export interface Scenario<Env> {
  /** Kebab-case name, e.g. `basic-sense`. */
  readonly name: string;
  readonly description: string;
  /**
   * `true`: a failing step does not stop the scenario (each step checks something on its
   * own, like the attempts of tenant-isolation). @default false: later steps are skipped
   */
  readonly independentSteps?: boolean;
  steps(env: Env): Step[];
}

export type StepStatus = 'passed' | 'failed' | 'skipped';

/** The outcome of one step. */
export interface StepResult {
  readonly id: string;
  readonly title: string;
  readonly status: StepStatus;
  readonly durationMs: number;
  /** The failure or skip reason, or the step's note. */
  readonly message?: string;
}

/** The outcome of one scenario. */
export interface ScenarioResult {
  readonly name: string;
  readonly description: string;
  readonly status: StepStatus;
  readonly durationMs: number;
  readonly steps: StepResult[];
}

/** What the runner tells its reporter. */
export interface Reporter {
  scenarioStarted?(s: { name: string; description: string; steps: number }): void;
  stepStarted?(scenario: string, index: number, total: number, step: Step): void;
  stepFinished?(scenario: string, index: number, total: number, result: StepResult): void;
  scenarioFinished?(result: ScenarioResult): void;
}

/** Options of {@link runScenarios}. */
export interface RunOptions {
  /** Steps not to run, as `<scenario>/<step>` (or a whole `<scenario>`). @default none */
  readonly skip?: readonly string[];
  /** Deadline of a step without its own. @default 60 000 ms */
  readonly stepTimeoutMs?: number;
  readonly reporter?: Reporter;
}

/** The counts over a run. */
export interface RunSummary {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly durationMs: number;
  /** Every step passed (a skipped step is not a passed one). */
  readonly ok: boolean;
}

/** Runs scenarios in order and returns their results. */
export async function runScenarios<Env>(
  scenarios: readonly Scenario<Env>[],
  env: Env,
  opts: RunOptions = {},
): Promise<{ results: ScenarioResult[]; summary: RunSummary }> {
  const started = performance.now();
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) results.push(await runOne(scenario, env, opts));
  return { results, summary: summarize(results, performance.now() - started) };
}

/** Counts the steps of results. */
export function summarize(results: readonly ScenarioResult[], durationMs: number): RunSummary {
  const steps = results.flatMap((r) => r.steps);
  const count = (s: StepStatus) => steps.filter((x) => x.status === s).length;
  const passed = count('passed');
  return {
    passed,
    failed: count('failed'),
    skipped: count('skipped'),
    durationMs,
    ok: steps.length > 0 && passed === steps.length,
  };
}

async function runOne<Env>(
  scenario: Scenario<Env>,
  env: Env,
  opts: RunOptions,
): Promise<ScenarioResult> {
  const started = performance.now();
  const skip = new Set(opts.skip ?? []);
  const deselected = (id: string) => skip.has(scenario.name) || skip.has(`${scenario.name}/${id}`);
  const steps = scenario.steps(env).filter((s) => !deselected(s.id));
  const ids = new Set<string>();
  for (const s of steps) {
    if (ids.has(s.id)) throw new TypeError(`scenario ${scenario.name}: duplicate step ${s.id}`);
    ids.add(s.id);
  }
  opts.reporter?.scenarioStarted?.({
    name: scenario.name,
    description: scenario.description,
    steps: steps.length,
  });
  const out: StepResult[] = [];
  let stopped: string | undefined;
  for (const [i, step] of steps.entries()) {
    opts.reporter?.stepStarted?.(scenario.name, i + 1, steps.length, step);
    const result: StepResult = stopped
      ? { id: step.id, title: step.title, status: 'skipped', durationMs: 0, message: stopped }
      : await runStep(step, step.timeoutMs ?? opts.stepTimeoutMs ?? 60_000);
    out.push(result);
    opts.reporter?.stepFinished?.(scenario.name, i + 1, steps.length, result);
    if (result.status === 'failed' && !scenario.independentSteps && !stopped) {
      stopped = `not run: step "${step.id}" failed`;
    }
  }
  const status: StepStatus = out.some((s) => s.status === 'failed')
    ? 'failed'
    : out.some((s) => s.status === 'skipped') || out.length === 0
      ? 'skipped'
      : 'passed';
  const result: ScenarioResult = {
    name: scenario.name,
    description: scenario.description,
    status,
    durationMs: performance.now() - started,
    steps: out,
  };
  opts.reporter?.scenarioFinished?.(result);
  return result;
}

async function runStep(step: Step, timeoutMs: number): Promise<StepResult> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new AssertionFailed(`did not finish within ${seconds(timeoutMs)}`));
    }, timeoutMs);
  });
  const base = { id: step.id, title: step.title };
  try {
    const note = await Promise.race([step.run(controller.signal), deadline]);
    return {
      ...base,
      status: 'passed',
      durationMs: performance.now() - started,
      ...(note ? { message: note } : {}),
    };
  } catch (err) {
    const durationMs = performance.now() - started;
    if (err instanceof StepSkipped)
      return { ...base, status: 'skipped', durationMs, message: err.message };
    return { ...base, status: 'failed', durationMs, message: describe(err) };
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/** An error as one readable message (unexpected errors keep their type). */
function describe(err: unknown): string {
  if (err instanceof AssertionFailed) return err.message;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${code ? `${String(code)}: ` : err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}`;
  }
  return String(err);
}

/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /** Give up after this long. */
  readonly timeoutMs: number;
  /** Pause between attempts. @default 250 ms */
  readonly intervalMs?: number;
  /** Stops the retries (the step's deadline). */
  readonly signal?: AbortSignal;
}

/**
 * Retries `attempt` until it returns without throwing, for checks on eventually consistent
 * state (QuantumLeap fills after Orion's notification). On timeout it throws the last failure,
 * saying how long and how often it tried.
 */
export async function eventually<T>(
  attempt: () => Promise<T>,
  opts: EventuallyOptions,
): Promise<T> {
  const started = performance.now();
  let tries = 0;
  for (;;) {
    tries += 1;
    try {
      return await attempt();
    } catch (err) {
      // A programming error or an answer that waiting cannot change: no point retrying.
      if (err instanceof TypeError || (err instanceof AssertionFailed && err.final)) throw err;
      const elapsed = performance.now() - started;
      if (elapsed >= opts.timeoutMs || opts.signal?.aborted) {
        throw new AssertionFailed(
          `${describe(err)} (still so after ${tries} attempt${tries === 1 ? '' : 's'} in ${seconds(elapsed)})`,
          { cause: err },
        );
      }
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

/** `1.2 s`, `350 ms`. */
export function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
