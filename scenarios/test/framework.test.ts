/**
 * The scenario framework on its own: step outcomes, deadlines, retries, stop-on-failure,
 * deselection, and the reports built from the results.
 */
import { jest } from '@jest/globals';
import { AssertionFailed, StepSkipped, check, eventually, runScenarios } from '../lib/framework.js';
import type { Reporter, Scenario, Step } from '../lib/framework.js';
import { jsonReport, junitXml, progressReporter, summaryText } from '../lib/report.js';

const step = (id: string, run: Step['run'], extra: Partial<Step> = {}): Step => ({
  id,
  title: `step ${id}`,
  run,
  ...extra,
});
const scenario = (name: string, steps: Step[], independentSteps = false): Scenario<null> => ({
  name,
  description: `${name} scenario`,
  independentSteps,
  steps: () => steps,
});
const pass = () => Promise.resolve();
const boom = (msg: string) => () => Promise.reject(new AssertionFailed(msg));

describe('runScenarios', () => {
  it('passes a run whose every step passes, keeping step notes', async () => {
    const { results, summary } = await runScenarios(
      [scenario('a', [step('one', pass), step('two', () => Promise.resolve('3 things'))])],
      null,
    );
    expect(summary).toMatchObject({ passed: 2, failed: 0, skipped: 0, ok: true });
    expect(results[0]!.status).toBe('passed');
    expect(results[0]!.steps[1]).toMatchObject({ status: 'passed', message: '3 things' });
  });

  it('fails a step that throws, with its message, and skips the rest of the scenario', async () => {
    const ran: string[] = [];
    const { results, summary } = await runScenarios(
      [
        scenario('a', [
          step('one', boom('Orion has no entity')),
          step('two', async () => void ran.push('two')),
        ]),
        scenario('b', [step('three', async () => void ran.push('three'))]),
      ],
      null,
    );
    expect(results[0]!.steps).toEqual([
      expect.objectContaining({ id: 'one', status: 'failed', message: 'Orion has no entity' }),
      expect.objectContaining({
        id: 'two',
        status: 'skipped',
        message: 'not run: step "one" failed',
      }),
    ]);
    // The next scenario still runs.
    expect(ran).toEqual(['three']);
    expect(summary).toMatchObject({ passed: 1, failed: 1, skipped: 1, ok: false });
  });

  it('runs every step of a scenario with independent steps', async () => {
    const { results } = await runScenarios(
      [
        scenario(
          'iso',
          [step('a', boom('leak 1')), step('b', boom('leak 2')), step('c', pass)],
          true,
        ),
      ],
      null,
    );
    expect(results[0]!.steps.map((s) => s.status)).toEqual(['failed', 'failed', 'passed']);
  });

  it('names unexpected errors by their type or code', async () => {
    const err = Object.assign(new Error('connect refused'), { code: 'ECONNREFUSED' });
    const { results } = await runScenarios(
      [
        scenario(
          'a',
          [
            step('one', () => Promise.reject(err)),
            step('two', () => Promise.reject(new TypeError('bad'))),
          ],
          true,
        ),
      ],
      null,
    );
    expect(results[0]!.steps.map((s) => s.message)).toEqual([
      'ECONNREFUSED: connect refused',
      'TypeError: bad',
    ]);
  });

  it('fails a step that outlives its deadline and aborts its signal', async () => {
    let aborted = false;
    const { results } = await runScenarios(
      [
        scenario('slow', [
          step(
            'hang',
            (signal) =>
              new Promise((resolve) => {
                signal.addEventListener('abort', () => {
                  aborted = true;
                  setTimeout(resolve, 10);
                });
              }),
            { timeoutMs: 50 },
          ),
        ]),
      ],
      null,
    );
    expect(results[0]!.steps[0]).toMatchObject({
      status: 'failed',
      message: 'did not finish within 50 ms',
    });
    expect(aborted).toBe(true);
  });

  it('reports a skipped step, and a run with a skip is not ok', async () => {
    const { results, summary } = await runScenarios(
      [
        scenario('a', [
          step('one', () => Promise.reject(new StepSkipped('no expired token'))),
          step('two', pass),
        ]),
      ],
      null,
    );
    expect(results[0]!.steps[0]).toMatchObject({ status: 'skipped', message: 'no expired token' });
    // A skip does not stop the scenario.
    expect(results[0]!.steps[1]!.status).toBe('passed');
    expect(results[0]!.status).toBe('skipped');
    expect(summary.ok).toBe(false);
  });

  it('leaves deselected steps and scenarios out entirely', async () => {
    const ran: string[] = [];
    const rec = (id: string) => step(id, async () => void ran.push(id));
    const { results, summary } = await runScenarios(
      [scenario('a', [rec('one'), rec('two')]), scenario('b', [rec('three')])],
      null,
      { skip: ['a/two', 'b'] },
    );
    expect(ran).toEqual(['one']);
    expect(results.map((r) => r.steps.length)).toEqual([1, 0]);
    // A run in which nothing ran is not a passing run.
    expect(summary).toMatchObject({ passed: 1, ok: true });
    const none = await runScenarios([scenario('b', [rec('x')])], null, { skip: ['b'] });
    expect(none.summary.ok).toBe(false);
  });

  it('fails on duplicate step ids (a programming error)', async () => {
    await expect(
      runScenarios([scenario('a', [step('x', pass), step('x', pass)])], null),
    ).rejects.toThrow('scenario a: duplicate step x');
  });

  it('tells the reporter about every scenario and step, in order', async () => {
    const events: string[] = [];
    const reporter: Reporter = {
      scenarioStarted: (s) => events.push(`start ${s.name} ${s.steps}`),
      stepStarted: (sc, i, n, s) => events.push(`step ${sc} ${i}/${n} ${s.id}`),
      stepFinished: (sc, i, n, r) => events.push(`done ${sc} ${i}/${n} ${r.status}`),
      scenarioFinished: (r) => events.push(`end ${r.name} ${r.status}`),
    };
    await runScenarios([scenario('a', [step('one', pass), step('two', boom('x'))])], null, {
      reporter,
    });
    expect(events).toEqual([
      'start a 2',
      'step a 1/2 one',
      'done a 1/2 passed',
      'step a 2/2 two',
      'done a 2/2 failed',
      'end a failed',
    ]);
  });
});

describe('eventually', () => {
  it('returns as soon as an attempt succeeds', async () => {
    let n = 0;
    const v = await eventually(
      async () => {
        n += 1;
        check(n >= 3, 'not yet');
        return n;
      },
      { timeoutMs: 5_000, intervalMs: 1 },
    );
    expect(v).toBe(3);
  });

  it('fails with the last failure and how long it tried', async () => {
    // On the fake clock, so that a loaded machine cannot make the first attempt outlast the
    // timeout: attempts at 0, 5, …, 30 ms, and the one at 30 ms is the last.
    jest.useFakeTimers();
    try {
      let n = 0;
      const failed = expect(
        eventually(
          async () => {
            n += 1;
            throw new AssertionFailed(`attempt ${n} failed`);
          },
          { timeoutMs: 30, intervalMs: 5 },
        ),
      ).rejects.toThrow(/^attempt 7 failed \(still so after 7 attempts in 30 ms\)$/);
      await jest.advanceTimersByTimeAsync(100);
      await failed;
      expect(n).toBe(7);
    } finally {
      jest.useRealTimers();
    }
  });

  it('does not retry what waiting cannot change: a final failure or a programming error', async () => {
    let n = 0;
    await expect(
      eventually(
        async () => {
          n += 1;
          throw new AssertionFailed('expected 200, got 403', { final: true });
        },
        { timeoutMs: 60_000 },
      ),
    ).rejects.toThrow(/^expected 200, got 403$/);
    await expect(
      eventually(
        async () => {
          n += 1;
          throw new TypeError('no route to nowhere');
        },
        { timeoutMs: 60_000 },
      ),
    ).rejects.toThrow(TypeError);
    expect(n).toBe(2);
  });

  it('stops retrying when the step is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    let n = 0;
    await expect(
      eventually(
        async () => {
          n += 1;
          throw new Error('never');
        },
        { timeoutMs: 60_000, signal: controller.signal },
      ),
    ).rejects.toThrow('(still so after 1 attempt in');
    expect(n).toBe(1);
  });
});

describe('reports', () => {
  const run = () =>
    runScenarios(
      [
        scenario('ok', [step('one', () => Promise.resolve('note'))]),
        scenario(
          'bad <&>',
          [
            step(
              'leak',
              boom('expected 403, got 200 from GET /orion/v2/entities: "urn" & <x>\u0001'),
            ),
            step('skip', () => Promise.reject(new StepSkipped('no token'))),
          ],
          true,
        ),
      ],
      null,
    );

  it('summary ends with the counts and lists every step that did not pass', async () => {
    const { results, summary } = await run();
    const text = summaryText(results, summary);
    const lines = text.split('\n');
    expect(lines[lines.length - 1]).toMatch(/^1 passed, 1 failed, 1 skipped in \d+ ms$/);
    expect(text).toContain('leak: expected 403, got 200 from GET /orion/v2/entities');
    expect(text).toContain('skip: no token');
    expect(text).not.toContain('one:');
  });

  it('JSON report carries ok, the counts and each step', async () => {
    const { results, summary } = await run();
    const doc = JSON.parse(JSON.stringify(jsonReport(results, summary, { baseUrl: 'http://x' })));
    expect(doc).toMatchObject({
      ok: false,
      target: 'http://x',
      summary: { passed: 1, failed: 1, skipped: 1 },
    });
    expect(doc.scenarios[1].steps[0]).toMatchObject({ id: 'leak', status: 'failed' });
    expect(Number.isInteger(doc.scenarios[0].durationMs)).toBe(true);
  });

  it('JUnit XML has a suite per scenario, a case per step, escaped failure and skip reasons', async () => {
    const { results, summary } = await run();
    const xml = junitXml(results, summary);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')).toBe(true);
    expect(xml).toMatch(/<testsuites [^>]*tests="3" failures="1" skipped="1"/);
    expect(xml.match(/<testsuite /g)).toHaveLength(2);
    expect(xml.match(/<testcase /g)).toHaveLength(3);
    expect(xml).toContain('<testsuite name="bad &lt;&amp;&gt;" tests="2" failures="1" skipped="1"');
    expect(xml).toContain(
      '<failure message="expected 403, got 200 from GET /orion/v2/entities: &quot;urn&quot; &amp; &lt;x&gt;"/>',
    );
    expect(xml).toContain('<skipped message="no token"/>');
    // Well formed: no raw markup characters inside attribute values, every element closed.
    const opened = (xml.match(/<testcase [^>]*[^/]>/g) ?? []).length;
    expect((xml.match(/<\/testcase>/g) ?? []).length).toBe(opened);
    expect(xml.includes(String.fromCharCode(1))).toBe(false);
  });

  it('progress prints one line per step with its mark and time', async () => {
    let out = '';
    const stream = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
    await runScenarios([scenario('a', [step('one', pass), step('two', boom('nope'))])], null, {
      reporter: progressReporter(stream),
    });
    expect(out).toContain('a: a scenario (2 steps)');
    expect(out).toMatch(/\[a 1\/2\] ✓ step one \(\d+ ms\)/);
    expect(out).toMatch(/\[a 2\/2\] ✗ step two \(\d+ ms\) — nope/);
  });
});
