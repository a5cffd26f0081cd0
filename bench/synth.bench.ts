#!/usr/bin/env -S npx tsx
/**
 * `npm run bench:synth`: how long a full synth takes, for the repository config and for the
 * same config with 100 tenants, measured side by side in one run.
 *
 * In-process: build, synthesize, validate and write deploy/ into a temporary directory,
 * repeated; reports the median and p90 of each, and their ratio. Cold: `npm run synth --
 * --check` as a fresh process (module loading included), median of a few runs.
 * Targets: median under 3 s; 100 tenants at most 1.5 × the default.
 *
 *   npm run bench:synth [-- --runs 15] [-- --json]
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { runCli } from '../platform/cli.js';
import { platform } from '../platform/config/platform.js';
import type { PlatformConfigInput } from '../platform/config/schema.js';
import { readPolicyFiles } from '../platform/policy-data.js';
import { build } from '../generate/index.js';
import { writeOutput } from '../generate/write.js';
import { loadPlatformContext } from '../platform/context.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function stats(ms: number[]): { median: number; p90: number; min: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p90: at(0.9), min: s[0]! };
}

/** A full synth of `config` written into `dir`, timed (policies read, as the command does). */
function timeOnce(config: PlatformConfigInput, dir: string): number {
  const t = performance.now();
  const policies = readPolicyFiles(join(root, 'policies'));
  writeOutput(dir, build({ context: loadPlatformContext({ config }), policies }));
  return performance.now() - t;
}

const program = new Command()
  .name('bench:synth')
  .option('--runs <n>', 'timed runs per case (default 15)', (v) => Number.parseInt(v, 10), 15)
  .option('--json', 'print one JSON document on stdout')
  .action((opts: { runs: number; json?: boolean }) => {
    const many = structuredClone(platform) as PlatformConfigInput;
    many.tenants = Array.from({ length: 100 }, (_, i) => ({
      name: `tenant_${String(i).padStart(3, '0')}`,
    }));
    const dir = mkdtempSync(join(tmpdir(), 'bench-synth-'));
    cpSync(join(root, 'README.md'), join(dir, 'README.md'));
    const a: number[] = [];
    const b: number[] = [];
    try {
      // Warm-up (JIT, module caches), then interleave the cases so machine noise hits both alike.
      timeOnce(platform, dir);
      timeOnce(many, dir);
      for (let i = 0; i < opts.runs; i++) {
        a.push(timeOnce(platform, dir));
        b.push(timeOnce(many, dir));
        process.stderr.write(`\r[${i + 1}/${opts.runs}] in-process runs`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    process.stderr.write('\n');
    const cold: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', join(root, 'generate/bin/synth.ts'), '--check'],
        { cwd: root },
      );
      if (r.status !== 0 && r.status !== 1) throw new Error(`synth --check failed: ${r.stderr}`);
      cold.push(performance.now() - t);
      process.stderr.write(`\r[${i + 1}/3] cold process runs`);
    }
    process.stderr.write('\n');
    const sa = stats(a);
    const sb = stats(b);
    const sc = stats(cold);
    const ratio = sb.median / sa.median;
    const result = {
      runs: opts.runs,
      defaultConfig: { tenants: platform.tenants.length, ...sa },
      hundredTenants: { tenants: 100, ...sb },
      ratio,
      coldProcess: { what: 'npm run synth -- --check (fresh node process)', ...sc },
      targets: {
        medianUnder3s: Math.max(sa.median, sb.median, sc.median) < 3000,
        ratioAtMost1_5: ratio <= 1.5,
      },
    };
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const f = (x: number) => `${x.toFixed(1)} ms`;
    console.log(`synth benchmark (${opts.runs} timed runs each, interleaved)`);
    console.log(
      `  default config (${platform.tenants.length} tenants): median ${f(sa.median)}  p90 ${f(sa.p90)}  min ${f(sa.min)}`,
    );
    console.log(
      `  100 tenants:                 median ${f(sb.median)}  p90 ${f(sb.p90)}  min ${f(sb.min)}`,
    );
    console.log(
      `  ratio 100 tenants / default: ${ratio.toFixed(2)}  (target <= 1.50: ${result.targets.ratioAtMost1_5 ? 'met' : 'MISSED'})`,
    );
    console.log(
      `  cold process (synth --check): median ${f(sc.median)}  (target < 3000 ms: ${result.targets.medianUnder3s ? 'met' : 'MISSED'})`,
    );
  });

await runCli(program);
