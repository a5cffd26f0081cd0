#!/usr/bin/env -S npx tsx
/**
 * `npm run fleet:render`: the command the fleet's Config Management Plugin runs on Argo CD's
 * repo-server (cdk8s/lib/gitops/fleet-plugin.ts). It reads the records of fleet/ under the
 * working directory (the checkout Argo CD hands the plugin), validates them, renders them with
 * the construct library and prints the manifests as one YAML stream on stdout: the documents
 * `npm run synth` writes into deploy-preview/fleet/, in the same order, and nothing else.
 *
 *   npm run fleet:render                     the fleet of the working directory
 *   npm run fleet:render -- --root <repo>    of another checkout
 *   npm run fleet:render -- --json           {"objects": [...]} instead (not for the plugin)
 *
 * Errors go to stderr with their codes, so Argo CD shows them in the Application's
 * ComparisonError. Exit codes: 0 rendered, 1 invalid records (ERR_FLEET_INVALID, each problem
 * with its file, field and code; ERR_FLEET_FILE), 2 usage (an unknown option; no fleet/ under
 * the root: ERR_FLEET_NO_RECORDS, since rendering nothing would prune every agent).
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { Command } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import { loadPlatformContext } from '../../platform/context.js';
import type { PlatformError } from '../../platform/errors.js';
import { catalogueError } from '../../platform/errors.js';
import { FLEET_DIR, FLEET_ERRORS } from '../../platform/fleet/records.js';
import { loadFleet } from '../../platform/fleet/resolve.js';
import { renderFleet } from '../lib/fleet/agents.js';

const program = new Command()
  .name('fleet-render')
  .description(
    "Render the fleet records (fleet/ under --root) into Kubernetes manifests on stdout, as Argo CD's Config Management Plugin does. Exit 0 rendered, 1 invalid records, 2 usage or no fleet/.",
  )
  .option('--root <dir>', 'the repository whose fleet/ to render (default: the working directory)')
  .option('--json', 'print {"objects": [...]} on stdout instead of the YAML stream')
  .action((opts: { root?: string; json?: boolean }) => {
    const started = performance.now();
    const root = resolve(opts.root ?? process.cwd());
    const dir = join(root, FLEET_DIR);
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw catalogueError(FLEET_ERRORS, 'ERR_FLEET_NO_RECORDS', `${dir} is not a directory`);
    const ctx = loadPlatformContext();
    const fleet = loadFleet(root, FLEET_DIR, ctx);
    const rendered = renderFleet(ctx, fleet);
    process.stdout.write(
      opts.json ? `${JSON.stringify({ objects: rendered.objects }, null, 2)}\n` : rendered.stream,
    );
    console.error(
      `fleet-render: ${fleet.agents.length} agent(s), ${rendered.objects.length} objects from ${dir} in ${Math.round(performance.now() - started)} ms`,
    );
  });

await runCli(program, {
  exitCode: (err: PlatformError) =>
    err.code === 'ERR_FLEET_NO_RECORDS' ? EXIT.usage : EXIT.failed,
});
