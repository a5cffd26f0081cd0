#!/usr/bin/env -S npx tsx
/**
 * `npm run agents`: the fleet records (fleet/, agents as code, docs/agents-as-code.md).
 *
 *   npm run agents -- plan               validate and render the records; show what changes
 *                                        against HEAD's rendering
 *   npm run agents -- plan --base main   against another revision
 *   npm run agents -- plan --json        one JSON document on stdout
 *
 * Exit codes: 0 the records render (changed or not), 1 the records have problems (each listed
 * with its file, field and code), 2 usage (an unknown option, a base that is not a commit), 3 git
 * missing or failing.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import { loadPlatformContext } from '../../platform/context.js';
import type { PlatformError } from '../../platform/errors.js';
import { planFleet } from '../lib/fleet/plan.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const program = new Command()
  .name('agents')
  .description('Agents as code: validate, render and compare the fleet records (fleet/).');

program
  .command('plan')
  .description(
    "Validate the records of fleet/, render them as Argo CD will, and show the objects that differ from the base revision's rendering. Exit 0 rendered, 1 invalid records, 2 usage (a base that is not a commit), 3 git missing.",
  )
  .option('--base <revision>', 'the git revision to compare with', 'HEAD')
  .option('--root <dir>', 'the repository whose fleet/ to plan (default: this repository)')
  .option('--json', 'print one JSON document on stdout')
  .action((opts: { base: string; root?: string; json?: boolean }) => {
    const ctx = loadPlatformContext();
    const root = resolve(opts.root ?? repoRoot);
    console.error(`agents plan: [1/2] validating and rendering ${root}/fleet`);
    console.error(`agents plan: [2/2] rendering ${opts.base}'s records to compare`);
    const plan = planFleet(ctx, root, opts.base);
    const agents = plan.fleet.agents.map((a) => ({
      id: a.id,
      name: a.name,
      tenant: a.tenant,
      ...(a.pipeline ? { pipeline: a.pipeline } : {}),
      state: a.state,
      placement: a.placement.mode,
      hosts: a.placement.hosts.map((h) => h.name),
      revision: a.revision,
      needs: a.needs,
    }));
    if (plan.base.note) console.error(`agents plan: note: ${plan.base.note}`);
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify(
          {
            base: plan.base.revision,
            agents,
            objects: plan.rendered.objects.length,
            added: plan.added,
            removed: plan.removed,
            changed: plan.changed,
          },
          null,
          2,
        )}\n`,
      );
      return;
    }
    const lines = [
      `${agents.length} agent(s), ${plan.rendered.objects.length} objects rendered; against ${plan.base.revision}: ${plan.added.length} added, ${plan.removed.length} removed, ${plan.changed.length} changed`,
      '',
      ...agents.map(
        (a) =>
          `  ${a.tenant}/${a.name}  ${a.state}  ${a.placement}${a.hosts.length ? ` (${a.hosts.join(', ')})` : ''}  revision ${a.revision}`,
      ),
      '',
      ...plan.added.map((c) => `  + ${c.object}`),
      ...plan.removed.map((c) => `  - ${c.object}`),
      ...plan.changed.map((c) => `  ~ ${c.object}: ${c.fields!.join(', ')}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  });

await runCli(program, {
  exitCode: (err: PlatformError) =>
    err.code === 'ERR_TOOL_MISSING'
      ? EXIT.environment
      : err.code === 'ERR_FLEET_BASE'
        ? EXIT.usage
        : EXIT.failed,
});
