#!/usr/bin/env -S npx tsx
/**
 * `npm run budget`: total CPU and memory requests and limits of a size profile, Istio sidecars
 * included, against a 4 vCPU / 8 GiB minikube.
 *
 *   npm run budget                         the laptop profile, as a table
 *   npm run budget -- --profile production another profile
 *   npm run budget -- --json               one JSON document on stdout
 *   npm run budget -- --check              exit 1 unless requests leave 25 % headroom
 *
 * Exit codes: 0 printed (and fits, with --check), 1 does not fit (--check), 2 usage or config error.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command, InvalidArgumentError } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import { platform } from '../../platform/config/platform.js';
import { REQUIRED_HEADROOM, computeBudget, formatBudget } from '../lib/budget.js';
import { readPolicyFiles } from '../../platform/policy-data.js';
import { synthesize } from '../lib/synth.js';
import { loadPlatformContext } from '../../platform/context.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const program = new Command()
  .name('budget')
  .description('Resource requests and limits of a size profile against a 4 vCPU / 8 GiB minikube.')
  .option(
    '--profile <name>',
    'size profile to compute (default: the one in platform/config/platform.ts)',
    (v: string) => {
      if (v !== 'laptop' && v !== 'production')
        throw new InvalidArgumentError('use laptop or production');
      return v;
    },
  )
  .option('--json', 'print one JSON document on stdout')
  .option('--check', `exit 1 unless requests leave at least ${REQUIRED_HEADROOM * 100} % headroom`)
  .action((opts: { profile?: 'laptop' | 'production'; json?: boolean; check?: boolean }) => {
    const context = loadPlatformContext({
      config: { ...platform, ...(opts.profile ? { profile: opts.profile } : {}) },
    });
    const out = synthesize({ context, policies: readPolicyFiles(join(root, 'policies')) });
    const budget = computeBudget(out.platform.context, out.objects);
    process.stdout.write(opts.json ? `${JSON.stringify(budget, null, 2)}\n` : formatBudget(budget));
    if (opts.check && !budget.fits) process.exit(EXIT.failed);
  });

await runCli(program, { exitCode: () => EXIT.usage });
