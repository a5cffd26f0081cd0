#!/usr/bin/env -S npx tsx
/**
 * `npm run fleet -- <command>`: the fleet service's API from a terminal (docs/fleet.md). Every
 * write is a commit of the agents-as-code records, authored as you; `--dry-run` shows the diff
 * it would commit. A group deploy or upgrade may roll out in waves (`--batch-size`, ...), and
 * `--wait` follows it wave by wave on stderr until it is done.
 *
 * Credentials: a bearer token in $KITT4SME_TOKEN, else client credentials of the tenant's
 * scenarios client (from $KITT4SME_CLIENT_SECRET or the cluster's keycloak-realm Secret).
 *
 * Exit codes: 0 done (a rollout waited for: complete), 1 refused or failed (a conflict, a
 * forbidden write, a target refused in a group result, a failed rollout), 2 usage or invalid
 * input, 3 the service or Keycloak unreachable, or no credentials.
 */
import { readFileSync } from 'node:fs';

import { Command, Option } from 'commander';
import { parse } from 'yaml';

import type { ApiResponse } from '../../../platform/api-client.js';
import { ApiClient, ApiError } from '../../../platform/api-client.js';
import { EXIT, runCli } from '../../../platform/cli.js';
import { loadPlatformContext } from '../../../platform/context.js';
import type { HostStatus, TargetStatus } from '../../../platform/fleet/status.js';
import { tenantToken } from '../../identity/src/tenant-token.js';
import type { RolloutProgress } from '../src/rollouts.js';

const ctx = loadPlatformContext();

interface Common {
  tenant?: string;
  json?: boolean;
  dryRun?: boolean;
  ifMatch?: string;
  baseUrl?: string;
  keycloakUrl?: string;
}

interface WriteAnswer {
  commit: string | null;
  base: string;
  dry_run: boolean;
  diff: string;
  records: { kind: string; name: string; action: string }[];
  deleted: string[];
  targets?: { host: string; agent?: string; result: string; reason?: string }[];
  agents?: { name: string; rollout?: unknown }[];
  [k: string]: unknown;
}

const print = (s: string) => process.stdout.write(`${s}\n`);
const progress = (s: string) => process.stderr.write(`fleet: ${s}\n`);

function tenantOf(opts: Common): string {
  const names = ctx.config.tenants.map((t) => t.name);
  const tenant = opts.tenant ?? process.env.KITT4SME_TENANT;
  if (!tenant || !names.includes(tenant)) {
    console.error(
      `fleet: ${tenant ? `"${tenant}" is not a tenant of this platform` : 'no tenant given'}: pass --tenant <${names.join('|')}> or set KITT4SME_TENANT`,
    );
    process.exit(EXIT.usage);
  }
  return tenant;
}

async function clientOf(opts: Common): Promise<ApiClient> {
  const tenant = tenantOf(opts);
  const base = (opts.baseUrl ?? process.env.KITT4SME_BASE_URL ?? ctx.publicUrl).replace(/\/+$/, '');
  const token =
    process.env.KITT4SME_TOKEN ??
    (
      await tenantToken(ctx, {
        tenant,
        ...(opts.keycloakUrl ? { keycloakUrl: opts.keycloakUrl } : {}),
      })
    ).token.accessToken;
  return new ApiClient({ baseUrl: `${base}/fleet`, tenant, token, service: 'the fleet service' });
}

/** The exit code of a refused call. */
function exitFor(err: ApiError): number {
  if (err.status === undefined || err.status >= 500) return EXIT.environment;
  if (err.status === 400 || err.status === 404 || err.status === 422) return EXIT.usage;
  return EXIT.failed;
}

/** Runs `fn`; a refused call is reported the project's way and exits with its code. */
async function guarded(opts: Common, fn: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const p = err.problem ?? {};
    const fields = Array.isArray(p.errors)
      ? (p.errors as { field?: string; message?: string }[]).map(
          (e) => `\n  ${e.field ?? ''}: ${e.message ?? ''}`,
        )
      : [];
    console.error(
      `fleet: ${err.message}${fields.join('')}${p.fix ? `\n${p.fix}` : ''}${p.code ? ` [${p.code}]` : ''}${typeof p.etag === 'string' ? `\nthe record's current ETag: ${p.etag}` : ''}`,
    );
    if (opts.json) print(JSON.stringify({ error: { status: err.status ?? null, ...p } }, null, 2));
    process.exitCode = exitFor(err);
  }
}

function writeQuery(opts: Common): Record<string, string> {
  return opts.dryRun ? { dry_run: 'true' } : {};
}
function writeHeaders(opts: Common): Record<string, string> {
  return opts.ifMatch ? { 'if-match': opts.ifMatch } : {};
}

/** Prints a write's answer; 1 when a target was refused. */
function report(res: ApiResponse<WriteAnswer>, opts: Common): number {
  const a = res.body;
  const refused = (a.targets ?? []).filter((t) => t.result !== 'accepted');
  if (opts.json) print(JSON.stringify({ status: res.status, ...a }, null, 2));
  else {
    if (a.dry_run) print(a.diff ? a.diff.trimEnd() : '(no change)');
    for (const r of a.records ?? [])
      if (r.action !== 'unchanged') print(`${r.action} ${r.kind} ${r.name}`);
    for (const d of a.deleted ?? []) print(`deleted ${d}`);
    for (const t of a.targets ?? [])
      print(`  ${t.result === 'accepted' ? '✓' : '✗'} ${t.host}${t.reason ? `: ${t.reason}` : ''}`);
    print(
      a.dry_run
        ? `dry run on ${a.base.slice(0, 12)}: nothing committed`
        : a.commit
          ? `committed ${a.commit.slice(0, 12)}${res.headers.get('etag') ? ` (ETag ${res.headers.get('etag')})` : ''}`
          : 'nothing to change',
    );
  }
  return refused.length ? EXIT.failed : EXIT.ok;
}

const line = (t: TargetStatus) =>
  `${t.agent.name.padEnd(28)} ${(t.host || '(unscheduled)').padEnd(16)} ${t.state.padEnd(12)} ${(t.desiredRevision ?? '-').padEnd(16)} ${(t.observedRevision ?? '-').padEnd(16)} ${t.since}  ${t.reason}`;

/** Follows the rollout of `agent` until it is done (0) or failed (1). */
async function follow(client: ApiClient, agent: string, opts: Common & { intervalMs?: number }) {
  let last = '';
  let sawIt = false;
  for (;;) {
    const { body } = await client.call<{ rollouts: RolloutProgress[] }>('GET', '/v1/rollouts');
    const r = body.rollouts.find((x) => x.agent.name === agent);
    if (r) {
      sawIt = true;
      const now = `${r.phase} wave ${r.started}/${r.waves.length}: ${r.decision.reason}`;
      if (now !== last) progress(now);
      last = now;
      if (r.phase === 'failed') {
        if (opts.json) print(JSON.stringify(r, null, 2));
        return EXIT.failed;
      }
    } else {
      // Gone from the list: done, unless it never showed (then read the record to be sure).
      const { body: a } = await client.call<{ agent: { rollout?: unknown } }>(
        'GET',
        `/v1/agents/${encodeURIComponent(agent)}`,
      );
      if (!a.agent.rollout) {
        progress(
          sawIt ? 'the rollout is done: every wave runs the new revision' : 'no rollout runs',
        );
        return EXIT.ok;
      }
    }
    await new Promise((res) => setTimeout(res, opts.intervalMs ?? 2000));
  }
}

const common = (c: Command, write = false): Command => {
  c.option('--tenant <tenant>', 'the tenant (default: $KITT4SME_TENANT)')
    .option('--json', 'print the answer as JSON on stdout')
    .option(
      '--base-url <url>',
      `the platform ingress (default: $KITT4SME_BASE_URL or ${ctx.publicUrl})`,
    )
    .option('--keycloak-url <url>', 'Keycloak base URL ending in /auth (default: the ingress)');
  if (write)
    c.option('--dry-run', 'show the diff it would commit; commit nothing').option(
      '--if-match <etag>',
      "only if the record still has this ETag (from a read): another writer's change in between is a conflict, never lost",
    );
  return c;
};
const waves = (c: Command): Command =>
  c
    .option('--batch-size <n>', 'roll out in waves of this many hosts (group targets)')
    .option('--max-unavailable <n>', "at most this many of the group's targets not ready at once")
    .option('--bake <seconds>', 'how long a wave stays ready before the next')
    .option('--revert', 'on a failed wave, put its targets back')
    .option('--wait', 'follow the rollout until it is done; exit 1 if it fails');

function rolloutBody(
  o: Record<string, string | boolean | undefined>,
): Record<string, unknown> | undefined {
  if (
    o.batchSize === undefined &&
    o.maxUnavailable === undefined &&
    o.bake === undefined &&
    !o.revert
  )
    return undefined;
  const int = (v: unknown, name: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) {
      console.error(`fleet: ${name} must be a whole number, got ${String(v)}`);
      process.exit(EXIT.usage);
    }
    return n;
  };
  return {
    ...(o.batchSize !== undefined ? { batchSize: int(o.batchSize, '--batch-size') } : {}),
    ...(o.maxUnavailable !== undefined
      ? { maxUnavailable: int(o.maxUnavailable, '--max-unavailable') }
      : {}),
    ...(o.bake !== undefined ? { bakeSeconds: int(o.bake, '--bake') } : {}),
    ...(o.revert ? { revertOnFailure: true } : {}),
  };
}

const program = new Command()
  .name('fleet')
  .description(
    'Deploy, stop, upgrade and roll out agents on the factory hosts through the fleet service; every write is a commit of the records, authored as you.',
  );

common(
  program
    .command('status')
    .description('per agent × host: state, desired and observed revision, since, why'),
)
  .option('--agent <name>', 'only this agent')
  .option('--host <name>', 'only this host')
  .action(async (opts: Common & { agent?: string; host?: string }) =>
    guarded(opts, async () => {
      const client = await clientOf(opts);
      const { body } = await client.call<{
        commit: string;
        hosts: HostStatus[];
        targets: TargetStatus[];
      }>('GET', '/v1/status');
      const targets = body.targets.filter(
        (t) => (!opts.agent || t.agent.name === opts.agent) && (!opts.host || t.host === opts.host),
      );
      if (opts.json) print(JSON.stringify({ ...body, targets }, null, 2));
      else {
        print(`records at ${body.commit.slice(0, 12)}`);
        for (const h of body.hosts)
          print(`host ${h.name.padEnd(16)} ${h.ready.padEnd(8)} ${h.reason}`);
        print(
          `${'AGENT'.padEnd(28)} ${'HOST'.padEnd(16)} ${'STATE'.padEnd(12)} ${'DESIRED'.padEnd(16)} ${'OBSERVED'.padEnd(16)} SINCE  WHY`,
        );
        for (const t of targets) print(line(t));
      }
      return EXIT.ok;
    }),
  );

for (const [name, path, what] of [
  ['hosts', '/v1/hosts', 'the host inventory and each host’s node'],
  ['groups', '/v1/groups', 'the groups and their hosts'],
  ['agents', '/v1/agents', "the tenant's agents and pipeline modules with their records"],
  ['rollouts', '/v1/rollouts', "the tenant's rollouts: wave, what each waits for"],
] as const)
  common(program.command(name).description(`list ${what}`)).action(async (opts: Common) =>
    guarded(opts, async () => {
      const { body } = await (await clientOf(opts)).call('GET', path);
      print(JSON.stringify(body, null, 2));
      return EXIT.ok;
    }),
  );

const group = program.command('group').description('change groups (platform admins)');
common(
  group.command('create <name> <hosts...>').description('create a group of hosts'),
  true,
).action(async (name: string, hosts: string[], opts: Common) =>
  guarded(opts, async () =>
    report(
      await (
        await clientOf(opts)
      ).call<WriteAnswer>('POST', '/v1/groups', {
        body: { name, hosts },
        query: writeQuery(opts),
        headers: writeHeaders(opts),
      }),
      opts,
    ),
  ),
);
common(
  group
    .command('delete <name>')
    .description('delete a group (refused while an agent is placed on it)'),
  true,
).action(async (name: string, opts: Common) =>
  guarded(opts, async () =>
    report(
      await (
        await clientOf(opts)
      ).call<WriteAnswer>('DELETE', `/v1/groups/${encodeURIComponent(name)}`, {
        query: writeQuery(opts),
        headers: writeHeaders(opts),
      }),
      opts,
    ),
  ),
);
common(
  group
    .command('add <name> <hosts...>')
    .description('add hosts to a group: every agent placed on it follows'),
  true,
).action(async (name: string, hosts: string[], opts: Common) =>
  guarded(opts, async () =>
    report(
      await (
        await clientOf(opts)
      ).call<WriteAnswer>('POST', `/v1/groups/${encodeURIComponent(name)}/hosts`, {
        body: { hosts },
        query: writeQuery(opts),
        headers: writeHeaders(opts),
      }),
      opts,
    ),
  ),
);
common(
  group.command('remove <name> <host>').description('take a host out of a group'),
  true,
).action(async (name: string, host: string, opts: Common) =>
  guarded(opts, async () =>
    report(
      await (
        await clientOf(opts)
      ).call<WriteAnswer>(
        'DELETE',
        `/v1/groups/${encodeURIComponent(name)}/hosts/${encodeURIComponent(host)}`,
        { query: writeQuery(opts), headers: writeHeaders(opts) },
      ),
      opts,
    ),
  ),
);

waves(
  common(
    program
      .command('deploy <name>')
      .description('deploy an agent (or with --pipeline a pipeline) to a host or a group')
      .addOption(new Option('--host <host>', 'one host').conflicts('group'))
      .option('--group <group>', 'every host of a group')
      .option('--pipeline', 'deploy the pipeline <name>')
      .option('-f, --file <path>', 'the full record (YAML or JSON) to create or replace'),
    true,
  ),
).action(async (name: string, opts: Common & Record<string, string | boolean | undefined>) =>
  guarded(opts, async () => {
    if (!opts.host && !opts.group) {
      console.error('fleet: deploy needs --host <host> or --group <group>');
      return EXIT.usage;
    }
    const record = opts.file
      ? (parse(readFileSync(String(opts.file), 'utf8')) as unknown)
      : undefined;
    const rollout = rolloutBody(opts);
    const client = await clientOf(opts);
    const res = await client.call<WriteAnswer>(
      'POST',
      `/v1/${opts.pipeline ? 'pipelines' : 'agents'}/${encodeURIComponent(name)}/deploy`,
      {
        body: {
          target: opts.host ? { host: opts.host } : { group: opts.group },
          ...(record ? { record } : {}),
          ...(rollout ? { rollout } : {}),
        },
        query: writeQuery(opts),
        headers: writeHeaders(opts),
      },
    );
    const code = report(res, opts);
    if (!opts.wait || opts.dryRun || code !== EXIT.ok || opts.pipeline) return code;
    return follow(client, name, opts);
  }),
);

for (const [verb, what] of [
  ['stop', 'scale to zero, keep its config (sleep)'],
  ['resume', 'run again (wake)'],
  ['undeploy', 'remove its workloads, keep its record'],
  ['rollback', 'go back to its previous record revision'],
] as const)
  common(program.command(`${verb} <agent>`).description(`${verb} an agent: ${what}`), true).action(
    async (agent: string, opts: Common) =>
      guarded(opts, async () =>
        report(
          await (
            await clientOf(opts)
          ).call<WriteAnswer>('POST', `/v1/agents/${encodeURIComponent(agent)}/${verb}`, {
            query: writeQuery(opts),
            headers: writeHeaders(opts),
          }),
          opts,
        ),
      ),
  );

common(
  program
    .command('remove <name>')
    .description('delete an agent’s record (or with --pipeline a pipeline’s)')
    .option('--pipeline', 'remove the pipeline <name>'),
  true,
).action(async (name: string, opts: Common & { pipeline?: boolean }) =>
  guarded(opts, async () =>
    report(
      await (
        await clientOf(opts)
      ).call<WriteAnswer>(
        'DELETE',
        `/v1/${opts.pipeline ? 'pipelines' : 'agents'}/${encodeURIComponent(name)}`,
        { query: writeQuery(opts), headers: writeHeaders(opts) },
      ),
      opts,
    ),
  ),
);

waves(
  common(
    program
      .command('upgrade <agent>')
      .description('upgrade an agent to an image, at once or in waves')
      .requiredOption('--image <image>', 'the new image, pinned (repository:tag or @sha256:...)'),
    true,
  ),
).action(async (agent: string, opts: Common & Record<string, string | boolean | undefined>) =>
  guarded(opts, async () => {
    const rollout = rolloutBody(opts);
    const client = await clientOf(opts);
    const res = await client.call<WriteAnswer>(
      'POST',
      `/v1/agents/${encodeURIComponent(agent)}/upgrade`,
      {
        body: { image: opts.image, ...(rollout ? { rollout } : {}) },
        query: writeQuery(opts),
        headers: writeHeaders(opts),
      },
    );
    const code = report(res, opts);
    if (!opts.wait || opts.dryRun || code !== EXIT.ok) return code;
    return follow(client, agent, opts);
  }),
);

const rollout = program
  .command('rollout')
  .description('follow, pause, resume or cancel a rollout in waves');
common(
  rollout
    .command('status <agent>')
    .description('follow the rollout of an agent until it is done')
    .option('--once', 'print where it is and return'),
).action(async (agent: string, opts: Common & { once?: boolean }) =>
  guarded(opts, async () => {
    const client = await clientOf(opts);
    if (!opts.once) return follow(client, agent, opts);
    const { body } = await client.call<{ rollouts: RolloutProgress[] }>('GET', '/v1/rollouts');
    const r = body.rollouts.find((x) => x.agent.name === agent);
    print(
      opts.json
        ? JSON.stringify(r ?? null, null, 2)
        : r
          ? `${r.phase} wave ${r.started}/${r.waves.length}: ${r.decision.reason}`
          : 'no rollout runs',
    );
    return EXIT.ok;
  }),
);
for (const command of ['pause', 'resume', 'cancel'] as const)
  common(
    rollout
      .command(`${command} <agent>`)
      .description(
        `${command} the rollout of an agent${command === 'cancel' ? ' (an upgrade goes back to its previous image)' : ''}`,
      ),
    true,
  ).action(async (agent: string, opts: Common) =>
    guarded(opts, async () =>
      report(
        await (
          await clientOf(opts)
        ).call<WriteAnswer>('POST', `/v1/agents/${encodeURIComponent(agent)}/rollout/${command}`, {
          query: writeQuery(opts),
          headers: writeHeaders(opts),
        }),
        opts,
      ),
    ),
  );

await runCli(program);
