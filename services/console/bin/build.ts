#!/usr/bin/env -S npx tsx
/**
 * `npm run console:build`: the web console's static assets into services/console/dist/
 * (git-ignored), and their sizes. Exits 1 when the first load (JS and CSS, gzipped) is over
 * its budget of 150 kB.
 */
import { relative } from 'node:path';

import { Command } from 'commander';

import { EXIT, runCli } from '../../../platform/cli.js';
import { FIRST_LOAD_BUDGET, buildConsole } from '../src/build.js';

const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`;

const program = new Command()
  .name('console:build')
  .description('Build the web console into services/console/dist/ (hashed, gzipped assets).')
  .option('--json', 'print the sizes as one JSON document')
  .action(async (opts: { json?: boolean }) => {
    const started = performance.now();
    const out = await buildConsole();
    const ms = Math.round(performance.now() - started);
    const over = out.firstLoadGzip > FIRST_LOAD_BUDGET;
    if (opts.json) {
      console.log(JSON.stringify({ ...out, budget: FIRST_LOAD_BUDGET, ms }));
    } else {
      console.log(
        [
          `js   ${out.js.url}  ${kb(out.js.bytes)} (${kb(out.js.gzipBytes)} gzipped)`,
          `css  ${out.css.url}  ${kb(out.css.bytes)} (${kb(out.css.gzipBytes)} gzipped)`,
          `first load ${kb(out.firstLoadGzip)} gzipped, budget ${kb(FIRST_LOAD_BUDGET)}`,
        ].join('\n'),
      );
    }
    console.error(`console:build: wrote ${relative(process.cwd(), out.dir)}/ in ${ms} ms`);
    if (over) {
      console.error(
        `console:build: the first load is over its budget; drop a dependency or split a view`,
      );
      process.exitCode = EXIT.failed;
    }
  });

await runCli(program);
