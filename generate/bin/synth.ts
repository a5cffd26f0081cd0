#!/usr/bin/env -S npx tsx
/**
 * `npm run synth`: loads the platform context (the config, the registry and the route table,
 * validated), synthesizes every manifest into deploy/ (replacing it whole), then runs the
 * generate step: the bootstrap values, docs/architecture.md's section, docs/errors.md, the devices
 * schema, the provisioning OpenAPI document and policies/examples/data.json.
 *
 *   npm run synth             write deploy/ and the generated files
 *   npm run synth -- --check  write nothing; exit 1 if anything committed is stale
 *
 * Exit codes: 0 done (or up to date), 1 stale (--check), 2 invalid config, registry, routes or
 * manifests.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import { loadPlatformContext } from '../../platform/context.js';
import { readPolicyFiles } from '../../platform/policy-data.js';
import { build } from '../index.js';
import { staleFiles, writeOutput } from '../write.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const program = new Command()
  .name('synth')
  .description('Synthesize the platform into deploy/ and regenerate the generated files.')
  .option(
    '--check',
    'write nothing; fail when deploy/, the architecture section or another generated file is stale',
  )
  .action((opts: { check?: boolean }) => {
    const started = performance.now();
    const out = build({
      context: loadPlatformContext(),
      policies: readPolicyFiles(join(root, 'policies')),
    });
    if (opts.check) {
      const stale = staleFiles(root, out);
      if (stale.length > 0) {
        console.error(
          `synth --check: stale generated files:\n${stale.map((f) => `  ${f}`).join('\n')}\nRun \`npm run synth\` and commit the result.`,
        );
        process.exit(EXIT.failed);
      }
      console.error('synth --check: deploy/ and the generated files are up to date');
      return;
    }
    writeOutput(root, out);
    const ms = Math.round(performance.now() - started);
    console.error(
      `synth: wrote ${out.files.size} files (${out.synth.objects.length} objects) in ${ms} ms`,
    );
  });

// An invalid config, registry, route table or manifest is a PlatformError: exit 2.
await runCli(program, { exitCode: () => EXIT.usage });
