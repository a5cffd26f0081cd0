/**
 * What a scenario run shows: progress lines while it runs, a summary at the end, and the
 * machine-readable reports (one JSON document; JUnit XML for CI systems).
 */
import type { Reporter, RunSummary, ScenarioResult, StepResult } from './framework.js';
import { seconds } from './framework.js';

const MARK: Record<StepResult['status'], string> = { passed: '✓', failed: '✗', skipped: '-' };

/** Progress on a stream (stderr): one line per finished step, with its time. */
export function progressReporter(out: NodeJS.WritableStream): Reporter {
  return {
    scenarioStarted(s) {
      out.write(`\n${s.name}: ${s.description} (${s.steps} steps)\n`);
    },
    stepFinished(scenario, index, total, r) {
      const note = r.message ? ` — ${r.message}` : '';
      out.write(
        `  [${scenario} ${index}/${total}] ${MARK[r.status]} ${r.title} (${seconds(r.durationMs)})${note}\n`,
      );
    },
  };
}

/**
 * The human summary: one line per scenario, every step that did not pass with its reason,
 * and last the counts (`N passed, N failed, N skipped`).
 */
export function summaryText(results: readonly ScenarioResult[], summary: RunSummary): string {
  const lines = ['', 'Summary'];
  for (const r of results) {
    const counts = (['passed', 'failed', 'skipped'] as const)
      .map((s) => [s, r.steps.filter((x) => x.status === s).length] as const)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ');
    lines.push(
      `  ${MARK[r.status]} ${r.name.padEnd(18)} ${counts || 'no steps'} (${seconds(r.durationMs)})`,
    );
    for (const s of r.steps.filter((x) => x.status !== 'passed')) {
      lines.push(`      ${MARK[s.status]} ${s.id}: ${s.message ?? s.status}`);
    }
  }
  lines.push(
    `${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped in ${seconds(summary.durationMs)}`,
  );
  return lines.join('\n');
}

/** The JSON report: the summary, then every scenario and step. */
export function jsonReport(
  results: readonly ScenarioResult[],
  summary: RunSummary,
  target: { baseUrl: string },
): Record<string, unknown> {
  return {
    ok: summary.ok,
    target: target.baseUrl,
    summary: {
      passed: summary.passed,
      failed: summary.failed,
      skipped: summary.skipped,
      durationMs: Math.round(summary.durationMs),
    },
    scenarios: results.map((r) => ({
      name: r.name,
      description: r.description,
      status: r.status,
      durationMs: Math.round(r.durationMs),
      steps: r.steps.map((s) => ({ ...s, durationMs: Math.round(s.durationMs) })),
    })),
  };
}

/**
 * JUnit XML (the de-facto schema of Jenkins, GitLab and GitHub test reporters): a testsuite
 * per scenario, a testcase per step, `<failure>` and `<skipped>` with the reason.
 */
export function junitXml(results: readonly ScenarioResult[], summary: RunSummary): string {
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  const count = (r: ScenarioResult, s: StepResult['status']) =>
    r.steps.filter((x) => x.status === s).length;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="kitt4sme scenarios" tests="${summary.passed + summary.failed + summary.skipped}" failures="${summary.failed}" skipped="${summary.skipped}" time="${secs(summary.durationMs)}">`,
  ];
  for (const r of results) {
    out.push(
      `  <testsuite name="${xml(r.name)}" tests="${r.steps.length}" failures="${count(r, 'failed')}" skipped="${count(r, 'skipped')}" errors="0" time="${secs(r.durationMs)}">`,
    );
    for (const s of r.steps) {
      const open = `    <testcase classname="${xml(`scenarios.${r.name}`)}" name="${xml(`${s.id}: ${s.title}`)}" time="${secs(s.durationMs)}"`;
      if (s.status === 'passed') out.push(`${open}/>`);
      else {
        const tag = s.status === 'failed' ? 'failure' : 'skipped';
        out.push(
          `${open}>`,
          `      <${tag} message="${xml(s.message ?? '')}"/>`,
          '    </testcase>',
        );
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}

/** Escapes text for an XML attribute; drops characters XML 1.0 cannot hold. */
function xml(text: string): string {
  // XML 1.0 allows tab, newline, carriage return and the characters from space up.
  return [...text]
    .filter((c) => {
      const cp = c.codePointAt(0)!;
      return (
        cp === 0x9 ||
        cp === 0xa ||
        cp === 0xd ||
        (cp >= 0x20 && (cp < 0xd800 || cp > 0xdfff) && cp !== 0xfffe && cp !== 0xffff)
      );
    })
    .join('')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\n/g, '&#10;');
}
