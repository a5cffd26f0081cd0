#!/usr/bin/env -S npx tsx
/**
 * `npm run bench:fleet-synth`: how long the fleet's Config Management Plugin takes to render
 * 0, 100 and 1 000 agent records (10 tenants, 50 hosts, 20 groups of 5 hosts; a third of the
 * agents pinned to a host, a third on a group, a third floating), measured side by side in one
 * run.
 *
 * In-process: what `npm run fleet:render` does after start-up (read fleet/ of a checkout,
 * validate, render, print the YAML stream), for a config with 10 tenants, interleaved runs,
 * median and p90. As the plugin runs it: the command of the plugin's image (the tree
 * `npm run image:contents -- --service fleet-plugin` writes, `node dist/cdk8s/bin/fleet-render.js`)
 * as a fresh process in a checkout, median of a few runs; that tree carries the repository's
 * config, so those records use its tenants. Targets: 1 000 agents under 10 s, and growth at
 * most linear (the 1 000 / 100 ratio at most 10, ideally below it: fixed costs shared).
 *
 *   npm run bench:fleet-synth [-- --runs 7] [-- --json]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Command } from 'commander';
import { stringify } from 'yaml';

import { renderFleet } from '../cdk8s/lib/fleet/agents.js';
import { runCli } from '../platform/cli.js';
import { platform } from '../platform/config/platform.js';
import type { PlatformConfigInput } from '../platform/config/schema.js';
import { loadPlatformContext } from '../platform/context.js';
import { FLEET_DIR } from '../platform/fleet/records.js';
import { loadFleet } from '../platform/fleet/resolve.js';
import { assembleImageContents } from '../toolchain/image-contents.js';

const SIZES = [0, 100, 1000] as const;
const HOSTS = 50;
const GROUPS = 20;
const GROUP_SIZE = 5;

function stats(ms: number[]): { median: number; p90: number; min: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p90: at(0.9), min: s[0]! };
}

/** A stable, distinct id: its first 12 hex digits (the objects' names) differ per record. */
const uuid = (kind: number, i: number) =>
  `${i.toString(16).padStart(8, '0')}-${String(kind).padStart(4, '0')}-4000-8000-000000000000`;

/** Writes a checkout with `agents` Agent records spread over `tenants` into `dir`/fleet. */
function writeFleet(dir: string, tenants: readonly string[], agents: number): void {
  const fleet = join(dir, FLEET_DIR);
  rmSync(fleet, { recursive: true, force: true });
  mkdirSync(join(fleet, 'agents'), { recursive: true });
  const docs = (records: object[]) => records.map((r) => stringify(r)).join('---\n');
  const host = (i: number) => `host-${String(i % HOSTS).padStart(2, '0')}`;
  writeFileSync(
    join(fleet, 'hosts.yaml'),
    docs(
      Array.from({ length: HOSTS }, (_, i) => ({
        kind: 'Host',
        name: host(i),
        site: 'bench',
        line: `line${i % 10}`,
        specialised: i % 10 === 9,
      })),
    ),
  );
  writeFileSync(
    join(fleet, 'groups.yaml'),
    docs(
      Array.from({ length: GROUPS }, (_, g) => ({
        kind: 'Group',
        id: uuid(1, g),
        name: `group-${String(g).padStart(2, '0')}`,
        hosts: Array.from({ length: GROUP_SIZE }, (_, k) => host(g * GROUP_SIZE + k)),
      })),
    ),
  );
  writeFileSync(
    join(fleet, 'templates.yaml'),
    docs([
      {
        kind: 'Template',
        id: uuid(2, 0),
        name: 'detector',
        image: 'ghcr.io/kitt4sme/anomaly-detector:0.1.0',
        ports: [8080],
        health: { path: '/healthz', port: 8080 },
        needs: ['orion:read', 'orion:write', 'orion:subscribe'],
        heartbeatSeconds: 30,
        config: { agentEntity: 'urn:ngsi-ld:Agent:{{uuid}}', host: '{{hostname}}', threshold: 3 },
      },
    ]),
  );
  for (const [t, tenant] of tenants.entries()) {
    const own = Array.from({ length: agents }, (_, i) => i).filter((i) => i % tenants.length === t);
    writeFileSync(
      join(fleet, 'agents', `${tenant}.yaml`),
      docs(
        own.map((i) => ({
          kind: 'Agent',
          id: uuid(3, i),
          name: `agent-${i}`,
          tenant,
          template: 'detector',
          state: i % 7 === 0 ? 'stopped' : 'running',
          placement:
            i % 3 === 0
              ? { host: host(i) }
              : i % 3 === 1
                ? { group: `group-${String(i % GROUPS).padStart(2, '0')}` }
                : { floating: true },
          config: { threshold: 2 + (i % 5) },
        })),
      ),
    );
  }
}

const program = new Command()
  .name('bench:fleet-synth')
  .description(
    'Render time of the fleet plugin for 0, 100 and 1 000 agent records (10 tenants, 50 hosts, 20 groups).',
  )
  .option(
    '--runs <n>',
    'timed in-process runs per size (default 7)',
    (v) => Number.parseInt(v, 10),
    7,
  )
  .option(
    '--cold <n>',
    'plugin-process runs per size (default 3)',
    (v) => Number.parseInt(v, 10),
    3,
  )
  .option('--json', 'print one JSON document on stdout')
  .action((opts: { runs: number; cold: number; json?: boolean }) => {
    const config = structuredClone(platform) as PlatformConfigInput;
    config.tenants = Array.from({ length: 10 }, (_, i) => ({
      name: `tenant${String(i).padStart(2, '0')}`,
    }));
    const ctx = loadPlatformContext({ config });
    const work = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
    try {
      // In-process, 10 tenants: one checkout per size, runs interleaved.
      const checkouts = SIZES.map((n) => {
        const dir = join(work, `in-process-${n}`);
        writeFleet(
          dir,
          config.tenants.map((t) => t.name),
          n,
        );
        return dir;
      });
      const objects = new Map<number, number>();
      const renderOnce = (i: number) => {
        const t = performance.now();
        // renderFleet builds the YAML stream the command prints, as the command does.
        const rendered = renderFleet(ctx, loadFleet(checkouts[i]!, FLEET_DIR, ctx));
        const ms = performance.now() - t;
        objects.set(SIZES[i]!, rendered.objects.length);
        return ms;
      };
      for (let i = 0; i < SIZES.length; i++) renderOnce(i); // warm-up
      const inProcess: number[][] = SIZES.map(() => []);
      for (let r = 0; r < opts.runs; r++) {
        for (let i = 0; i < SIZES.length; i++) inProcess[i]!.push(renderOnce(i));
        process.stderr.write(`\r[${r + 1}/${opts.runs}] in-process runs`);
      }
      process.stderr.write('\n');

      // As the plugin runs it: the image's tree and command, a fresh process per render.
      process.stderr.write(
        'bench:fleet-synth: assembling the plugin image tree (image:contents)\n',
      );
      const tree = assembleImageContents({
        service: 'fleet-plugin',
        out: join(work, 'app'),
        log: () => undefined,
      });
      const pluginCheckouts = SIZES.map((n) => {
        const dir = join(work, `plugin-${n}`);
        writeFleet(
          dir,
          platform.tenants.map((t) => t.name),
          n,
        );
        return dir;
      });
      const plugin: number[][] = SIZES.map(() => []);
      for (let r = 0; r < opts.cold; r++) {
        for (let i = 0; i < SIZES.length; i++) {
          const t = performance.now();
          const run = spawnSync(process.execPath, [join(tree.out, tree.command[1]!)], {
            cwd: pluginCheckouts[i],
            maxBuffer: 256 * 1024 * 1024,
          });
          const ms = performance.now() - t;
          if (run.status !== 0)
            throw new Error(`the plugin command failed on ${SIZES[i]} agents: ${run.stderr}`);
          plugin[i]!.push(ms);
        }
        process.stderr.write(`\r[${r + 1}/${opts.cold}] plugin process runs`);
      }
      process.stderr.write('\n');

      const rows = SIZES.map((n, i) => ({
        agents: n,
        objects: objects.get(n)!,
        inProcess: stats(inProcess[i]!),
        pluginProcess: stats(plugin[i]!),
      }));
      const med = (n: number, k: 'inProcess' | 'pluginProcess') =>
        rows.find((r) => r.agents === n)![k].median;
      const ratios = {
        inProcess1000per100: med(1000, 'inProcess') / med(100, 'inProcess'),
        pluginProcess1000per100: med(1000, 'pluginProcess') / med(100, 'pluginProcess'),
        objects1000per100: objects.get(1000)! / objects.get(100)!,
      };
      const result = {
        runs: opts.runs,
        coldRuns: opts.cold,
        shape: { tenants: 10, hosts: HOSTS, groups: GROUPS, groupSize: GROUP_SIZE },
        pluginTenants: platform.tenants.length,
        rows,
        ratios,
        targets: {
          thousandUnder10s: Math.max(med(1000, 'inProcess'), med(1000, 'pluginProcess')) < 10_000,
          atMostLinear: ratios.inProcess1000per100 <= 10 && ratios.pluginProcess1000per100 <= 10,
        },
      };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const f = (x: number) => `${x.toFixed(0)} ms`.padStart(9);
      console.log(
        `fleet render benchmark (10 tenants, ${HOSTS} hosts, ${GROUPS} groups; ${opts.runs} in-process runs, ${opts.cold} plugin-process runs per size)`,
      );
      console.log('  agents  objects   in-process median / p90   plugin process median / p90');
      for (const r of rows)
        console.log(
          `  ${String(r.agents).padStart(6)}  ${String(r.objects).padStart(7)}  ${f(r.inProcess.median)} / ${f(r.inProcess.p90)}      ${f(r.pluginProcess.median)} / ${f(r.pluginProcess.p90)}`,
        );
      console.log(
        `  ratio 1000 / 100 agents: in-process ${ratios.inProcess1000per100.toFixed(2)}, plugin process ${ratios.pluginProcess1000per100.toFixed(2)} (objects ${ratios.objects1000per100.toFixed(2)}); at most linear (<= 10): ${result.targets.atMostLinear ? 'met' : 'MISSED'}`,
      );
      console.log(
        `  1000 agents under 10 s: ${result.targets.thousandUnder10s ? 'met' : 'MISSED'} (the plugin process renders the config's ${platform.tenants.length} tenants: its image carries the repository's config)`,
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

await runCli(program);
