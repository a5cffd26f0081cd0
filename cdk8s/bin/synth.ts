#!/usr/bin/env -S npx tsx
/**
 * `npm run synth`: validates the platform config and the route table, synthesizes every
 * manifest into deploy/ (replacing it whole), and regenerates the README diagram and
 * docs/errors.md and policies/examples/data.json.
 *
 *   npm run synth             write deploy/ and the generated docs
 *   npm run synth -- --check  write nothing; exit 1 if anything committed is stale
 *
 * Exit codes: 0 done (or up to date), 1 stale (--check), 2 invalid config, routes or manifests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { runCli } from '../../platform/cli.js';
import { PlatformError } from '../../platform/errors.js';
import { loadPlatformContext } from '../../platform/context.js';
import { listFiles } from '../lib/files.js';
import { readPolicyFiles } from '../../platform/policy-data.js';
import { synthesize, withReadmeSection, writeOutput } from '../lib/synth.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const program = new Command()
  .name('synth')
  .description('Synthesize the platform into deploy/ and regenerate the generated docs.')
  .option(
    '--check',
    'write nothing; fail when deploy/, the README diagram or another generated file is stale',
  )
  .action((opts: { check?: boolean }) => {
    const started = performance.now();
    let out;
    try {
      out = synthesize({
        context: loadPlatformContext(),
        policies: readPolicyFiles(join(root, 'policies')),
      });
    } catch (err) {
      if (err instanceof PlatformError) {
        console.error(`synth: ${err.message}\n${err.fix} [${err.code}]`);
        process.exit(2);
      }
      throw err;
    }
    if (opts.check) {
      const stale = staleFiles(out);
      if (stale.length > 0) {
        console.error(
          `synth --check: stale generated files:\n${stale.map((f) => `  ${f}`).join('\n')}\nRun \`npm run synth\` and commit the result.`,
        );
        process.exit(1);
      }
      console.error('synth --check: deploy/ and the generated docs are up to date');
      return;
    }
    writeOutput(root, out);
    const ms = Math.round(performance.now() - started);
    console.error(
      `synth: wrote ${out.deployFiles.size} files (${out.objects.length} objects) to deploy/ in ${ms} ms`,
    );
  });

/** Paths whose committed content differs from a fresh synth (missing and extra files too). */
function staleFiles(out: ReturnType<typeof synthesize>): string[] {
  const stale: string[] = [];
  const onDisk = new Set(listFiles(join(root, 'deploy')).map((f) => relative(root, f)));
  for (const [file, content] of out.deployFiles) {
    if (!onDisk.has(file) || readFileSync(join(root, file), 'utf8') !== content) stale.push(file);
    onDisk.delete(file);
  }
  stale.push(...[...onDisk].map((f) => `${f} (not produced by synth)`));
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  if (withReadmeSection(readme, out.readmeSection) !== readme)
    stale.push('README.md (generated section)');
  for (const [file, content] of out.generatedFiles) {
    const path = join(root, file);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== content) stale.push(file);
  }
  return stale.sort();
}

await runCli(program);
