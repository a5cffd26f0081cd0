#!/usr/bin/env -S npx tsx
/**
 * `npm run budget`: total CPU and memory requests and limits of a size profile, Istio sidecars
 * included, against a cluster: by default a 4 vCPU / 8 GiB minikube, or N equal nodes.
 *
 *   npm run budget                         the laptop profile, as a table
 *   npm run budget -- --profile production another profile
 *   npm run budget -- --profile production --nodes 3 --node-cpu 8 --node-memory 32
 *                                          against 3 nodes of 8 vCPU / 32 GiB allocatable
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
import { LAPTOP_CLUSTER, REQUIRED_HEADROOM, computeBudget, formatBudget } from '../lib/budget.js';
import { readPolicyFiles } from '../../platform/policy-data.js';
import { synthesize } from '../lib/synth.js';
import { loadPlatformContext } from '../../platform/context.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A parser of a positive number option (a whole number when `integer`). */
function positive(flag: string, integer = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
      throw new InvalidArgumentError(
        `${flag} takes a positive ${integer ? 'whole ' : ''}number, not "${v}"`,
      );
    return n;
  };
}

const program = new Command()
  .name('budget')
  .description(
    'Resource requests and limits of a size profile against a cluster (default: a 4 vCPU / 8 GiB minikube).',
  )
  .option(
    '--profile <name>',
    'size profile to compute (default: the one in platform/config/platform.ts)',
    (v: string) => {
      if (v !== 'laptop' && v !== 'production')
        throw new InvalidArgumentError('use laptop or production');
      return v;
    },
  )
  .option('--nodes <n>', 'number of equal nodes', positive('--nodes', true), LAPTOP_CLUSTER.nodes)
  .option(
    '--node-cpu <vCPU>',
    "each node's allocatable CPU, in vCPU",
    positive('--node-cpu'),
    LAPTOP_CLUSTER.nodeCpuMilli / 1000,
  )
  .option(
    '--node-memory <GiB>',
    "each node's allocatable memory, in GiB",
    positive('--node-memory'),
    LAPTOP_CLUSTER.nodeMemoryMi / 1024,
  )
  .option('--json', 'print one JSON document on stdout')
  .option('--check', `exit 1 unless requests leave at least ${REQUIRED_HEADROOM * 100} % headroom`)
  .action(
    (opts: {
      profile?: 'laptop' | 'production';
      nodes: number;
      nodeCpu: number;
      nodeMemory: number;
      json?: boolean;
      check?: boolean;
    }) => {
      const context = loadPlatformContext({
        config: { ...platform, ...(opts.profile ? { profile: opts.profile } : {}) },
      });
      const out = synthesize({ context, policies: readPolicyFiles(join(root, 'policies')) });
      const budget = computeBudget(out.platform.context, out.objects, {
        nodes: opts.nodes,
        nodeCpuMilli: Math.round(opts.nodeCpu * 1000),
        nodeMemoryMi: Math.round(opts.nodeMemory * 1024),
      });
      process.stdout.write(
        opts.json ? `${JSON.stringify(budget, null, 2)}\n` : formatBudget(budget),
      );
      if (opts.check && !budget.fits) process.exit(EXIT.failed);
    },
  );

await runCli(program, { exitCode: () => EXIT.usage });
