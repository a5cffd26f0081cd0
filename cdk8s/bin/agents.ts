#!/usr/bin/env -S npx tsx
/**
 * `npm run agents`: the fleet records (fleet/, agents as code, docs/agents-as-code.md).
 *
 *   npm run agents -- plan               validate and render the records; show what changes
 *                                        against HEAD's rendering
 *   npm run agents -- plan --base main   against another revision
 *   npm run agents -- plan --json        one JSON document on stdout
 *   npm run agents -- apply rec.yaml     write records into fleet/ (replacing those of the same id)
 *   npm run agents -- apply - --commit   from standard input, and commit exactly those files
 *   npm run agents -- join ipc-line1 --server https://api.factory.example:6443
 *                                        the command that joins a host as a node, with the
 *                                        labels and taint of its Host record
 *   printf %s "$TOKEN" | npm run agents -- seal --agent <name> --key API_TOKEN --cert cluster.pem
 *                                        seal a value (stdin only) into fleet/secrets/
 *
 * Exit codes: 0 the records render (changed or not), 1 the records have problems (each listed
 * with its file, field and code), 2 usage (an unknown option, a base that is not a commit), 3 git
 * missing or failing, or a record file that cannot be written.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { EXIT, runCli } from '../../platform/cli.js';
import { loadPlatformContext } from '../../platform/context.js';
import type { PlatformError } from '../../platform/errors.js';
import { catalogueError } from '../../platform/errors.js';
import {
  NODE_TOKEN_FILE,
  hostNodeLabels,
  hostNodeTaints,
  k3sJoinArgs,
} from '../../platform/fleet/hosts.js';
import { FLEET_DIR, FLEET_ERRORS } from '../../platform/fleet/records.js';
import { FleetError, loadFleet } from '../../platform/fleet/resolve.js';
import { SEALED_SECRETS_CONTROLLER, SEAL_ERRORS } from '../../platform/fleet/sealed.js';
import { applyFleetRecords } from '../lib/fleet/apply.js';
import type { ApplyInput } from '../lib/fleet/apply.js';
import { planFleet } from '../lib/fleet/plan.js';
import { sealAgentSecret } from '../lib/fleet/seal.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Everything on standard input, as bytes. */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

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

program
  .command('apply')
  .description(
    'Write records into fleet/: each replaces the record of the same kind and id (a Host: name) or goes into a new file of its kind; a record without an id keeps the id of the record of that kind, tenant and name, or gets a new one. The whole fleet is validated and rendered first: nothing is written unless it all renders. Exit 0 applied (or nothing to change), 1 invalid records, 2 usage, 3 git missing or failing.',
  )
  .argument('<files...>', 'YAML files of records (several documents each); - for standard input')
  .option('--dry-run', 'validate and show the plan; write nothing')
  .option('--commit', 'commit the written files (only them, whatever else is staged)')
  .option('-m, --message <text>', 'the commit message (default: the records applied)')
  .option('--root <dir>', 'the repository whose fleet/ to write (default: this repository)')
  .option('--json', 'print one JSON document on stdout')
  .action(
    async (
      files: string[],
      opts: { dryRun?: boolean; commit?: boolean; message?: string; root?: string; json?: boolean },
    ) => {
      const inputs: ApplyInput[] = [];
      for (const f of files) {
        if (f === '-') {
          inputs.push({ source: '<stdin>', text: (await readStdin()).toString('utf8') });
        } else {
          try {
            inputs.push({ source: f, text: readFileSync(f, 'utf8') });
          } catch (err) {
            throw catalogueError(
              FLEET_ERRORS,
              'ERR_FLEET_FILE',
              `cannot read ${f}: ${(err as Error).message}`,
              err,
            );
          }
        }
      }
      const root = resolve(opts.root ?? repoRoot);
      console.error(
        `agents apply: [1/2] validating ${inputs.length} input(s) with ${root}/fleet and rendering`,
      );
      const r = applyFleetRecords(loadPlatformContext(), root, inputs, {
        ...(opts.dryRun ? { dryRun: true } : {}),
        ...(opts.commit ? { commit: true } : {}),
        ...(opts.message ? { message: opts.message } : {}),
      });
      console.error(
        `agents apply: [2/2] ${opts.dryRun ? 'dry run: nothing written' : r.written.length ? `wrote ${r.written.join(', ')}${r.commit ? ` and committed ${r.commit.slice(0, 12)}` : ''}` : 'nothing to write'}`,
      );
      if (opts.json) {
        const { fleet: _fleet, ...rest } = r;
        process.stdout.write(`${JSON.stringify({ dryRun: !!opts.dryRun, ...rest }, null, 2)}\n`);
        return;
      }
      const lines = [
        ...r.records.map(
          (x) =>
            `  ${x.action.padEnd(9)} ${x.kind} ${x.name} in ${x.file}${x.idAssigned ? ` (new id ${x.id})` : ''}`,
        ),
        `rendered objects: ${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed`,
        ...r.added.map((c) => `  + ${c.object}`),
        ...r.removed.map((c) => `  - ${c.object}`),
        ...r.changed.map((c) => `  ~ ${c.object}: ${c.fields!.join(', ')}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  );

program
  .command('join')
  .description(
    'Print the command that joins a factory host to the platform cluster as a k3s agent: node name, labels (site, line, capabilities) and taint (specialised) from its Host record in fleet/hosts.yaml; the node token is read from a file on the host. Exit 0 printed, 1 invalid records, 2 usage (an unknown host, a server that is not an https URL).',
  )
  .argument('<host>', 'the name of a Host record')
  .requiredOption(
    '--server <url>',
    "the platform cluster's API server, e.g. https://api.factory.example:6443",
  )
  .option('--root <dir>', 'the repository whose fleet/ to read (default: this repository)')
  .option('--json', 'print one JSON document on stdout')
  .action((hostName: string, opts: { server: string; root?: string; json?: boolean }) => {
    let server: URL | undefined;
    try {
      server = new URL(opts.server);
    } catch {
      server = undefined;
    }
    if (server?.protocol !== 'https:')
      throw catalogueError(
        FLEET_ERRORS,
        'ERR_FLEET_JOIN_SERVER',
        `--server ${JSON.stringify(opts.server)} is not an https URL`,
      );
    const fleet = loadFleet(resolve(opts.root ?? repoRoot), FLEET_DIR, loadPlatformContext());
    const host = fleet.hosts.find((h) => h.name === hostName);
    if (!host)
      throw catalogueError(
        FLEET_ERRORS,
        'ERR_FLEET_UNKNOWN_HOST',
        `no Host record named ${JSON.stringify(hostName)}; the hosts are ${fleet.hosts.map((h) => h.name).join(', ') || 'none'}`,
      );
    const args = k3sJoinArgs(host, opts.server);
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify({ host: host.name, labels: hostNodeLabels(host), taints: hostNodeTaints(host), tokenFile: NODE_TOKEN_FILE, command: args }, null, 2)}\n`,
      );
      return;
    }
    const quote = (a: string) =>
      /^[A-Za-z0-9_./:=,@-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
    process.stdout.write(
      `# on ${host.name}, with the cluster's node token in ${NODE_TOKEN_FILE} (mode 0600):\n${args.map(quote).join(' ')}\n`,
    );
  });

program
  .command('seal')
  .description(
    "Seal one secret value of an agent to the target cluster's Sealed Secrets key (kubeseal, strict scope) and write it into fleet/secrets/<tenant>/<agent>.yaml. The value is read from standard input only (never an argument), is never written anywhere, and is never printed. Exit 0 sealed, 1 invalid records, 2 usage (unknown agent, empty value, no certificate, bad key), 3 kubeseal missing or failing.",
  )
  .requiredOption('--agent <name>', 'the agent (a pipeline module: <pipeline>-<module>)')
  .requiredOption(
    '--key <KEY>',
    'the Secret key the agent reads (its record: secrets: [{ env, key }])',
  )
  .option('--tenant <tenant>', 'the tenant, when two tenants have an agent of that name')
  .option(
    '--cert <file>',
    "the target cluster's sealing certificate (public; kubeseal --fetch-cert)",
  )
  .option(
    '--controller <namespace/name>',
    `fetch the certificate from this controller through the kubeconfig (the platform's: ${SEALED_SECRETS_CONTROLLER.namespace}/${SEALED_SECRETS_CONTROLLER.name})`,
  )
  .option('--root <dir>', 'the repository whose fleet/ to write (default: this repository)')
  .option('--json', 'print one JSON document on stdout')
  .action(
    async (opts: {
      agent: string;
      key: string;
      tenant?: string;
      cert?: string;
      controller?: string;
      root?: string;
      json?: boolean;
    }) => {
      if (process.stdin.isTTY)
        throw catalogueError(
          SEAL_ERRORS,
          'ERR_SEAL_EMPTY_VALUE',
          'standard input is a terminal; the value must come through a pipe',
        );
      console.error('agents seal: [1/2] reading the value from standard input');
      let value = await readStdin();
      // `echo value |` adds one newline that is not part of the value.
      if (value.at(-1) === 0x0a) value = value.subarray(0, value.length - 1);
      console.error(`agents seal: [2/2] sealing ${opts.key} of agent ${opts.agent} with kubeseal`);
      const r = sealAgentSecret(loadPlatformContext(), {
        root: resolve(opts.root ?? repoRoot),
        agent: opts.agent,
        key: opts.key,
        value,
        ...(opts.tenant ? { tenant: opts.tenant } : {}),
        ...(opts.cert ? { cert: opts.cert } : {}),
        ...(opts.controller ? { controller: opts.controller } : {}),
      });
      value.fill(0);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `sealed ${r.key} of ${r.tenant}/${r.agent} into ${r.file} (keys: ${r.keys.join(', ')}); the controller unseals it into Secret ${r.secret.namespace}/${r.secret.name}\n${r.referenced ? '' : `note: the agent's record does not read ${r.key} yet: add secrets: [{ env: ${r.key}, key: ${r.key} }]\n`}`,
      );
    },
  );

await runCli(program, {
  exitCode: (err: PlatformError) =>
    err.code === 'ERR_TOOL_MISSING' ||
    err.code === 'ERR_SEAL_FAILED' ||
    err.code === 'ERR_FLEET_WRITE' ||
    err.code === 'ERR_FLEET_COMMIT'
      ? EXIT.environment
      : err.code === 'ERR_FLEET_BASE' ||
          err.code === 'ERR_FLEET_JOIN_SERVER' ||
          (err.code === 'ERR_FLEET_UNKNOWN_HOST' && !(err instanceof FleetError)) ||
          err.code in SEAL_ERRORS
        ? EXIT.usage
        : EXIT.failed,
});
