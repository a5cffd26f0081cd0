#!/usr/bin/env -S npx tsx
/**
 * `npm run synth`: loads the platform context (the config, the registry and the route table,
 * validated), synthesizes every manifest into deploy/ (replacing it whole), then runs the
 * generate step: the bootstrap values, docs/architecture.md's section, docs/errors.md, the devices
 * schema, the provisioning OpenAPI document and policies/examples/data.json. It also validates and
 * renders the fleet records (fleet/) into the git-ignored preview deploy-preview/fleet/ (Argo CD
 * renders them itself in the cluster), so a record that does not render fails synth.
 *
 *   npm run synth             write deploy/ and the generated files
 *   npm run synth -- --check  write nothing; exit 1 if anything committed is stale
 *
 * Exit codes: 0 done (or up to date), 1 stale (--check), 2 invalid config, registry, routes,
 * manifests or fleet records.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import { loadPlatformContext } from '../../platform/context.js';
import { readPolicyFiles } from '../../platform/policy-data.js';
import { FLEET_DIR } from '../../platform/fleet/records.js';
import { loadFleet } from '../../platform/fleet/resolve.js';
import { FLEET_PREVIEW_DIR, renderFleet } from '../../cdk8s/lib/fleet/agents.js';
import { renderConsoleTypes } from '../console-types.js';
import { build } from '../index.js';
import { staleFiles, writeOutput, writePreview } from '../write.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const program = new Command()
  .name('synth')
  .description('Synthesize the platform into deploy/ and regenerate the generated files.')
  .option(
    '--check',
    'write nothing; fail when deploy/, the architecture section or another generated file is stale',
  )
  .action(async (opts: { check?: boolean }) => {
    const started = performance.now();
    const context = loadPlatformContext();
    const built = build({ context, policies: readPolicyFiles(join(root, 'policies')) });
    // The console's client types: generated asynchronously (generate/console-types.ts).
    const files = new Map([...built.files, ...(await renderConsoleTypes())]);
    const out = { ...built, files: new Map([...files].sort(([a], [b]) => a.localeCompare(b))) };
    const fleet = renderFleet(context, loadFleet(root, FLEET_DIR, context));
    if (opts.check) {
      const stale = staleFiles(root, out);
      if (stale.length > 0) {
        console.error(
          `synth --check: stale generated files:\n${stale.map((f) => `  ${f}`).join('\n')}\nRun \`npm run synth\` and commit the result.`,
        );
        process.exit(EXIT.failed);
      }
      console.error(
        `synth --check: deploy/ and the generated files are up to date; the fleet renders (${fleet.objects.length} objects)`,
      );
      return;
    }
    writeOutput(root, out);
    writePreview(root, FLEET_PREVIEW_DIR, fleet.files);
    const ms = Math.round(performance.now() - started);
    console.error(
      `synth: wrote ${out.files.size} files (${out.synth.objects.length} objects) and the fleet preview ${FLEET_PREVIEW_DIR}/ (${fleet.objects.length} objects) in ${ms} ms`,
    );
  });

// An invalid config, registry, route table or manifest is a PlatformError: exit 2.
await runCli(program, { exitCode: () => EXIT.usage });
