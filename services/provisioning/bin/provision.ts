#!/usr/bin/env -S npx tsx
/**
 * `npm run provision -- -f devices.yaml [--dry-run] [--prune] [--json]`: makes the platform
 * hold the service groups and devices of a devices file (docs/devices-as-code.md).
 *
 * It asks the service for a dry run first (the service's own comparison is the plan), prints
 * the difference, then applies it in bulk requests with progress on stderr. Credentials: a
 * bearer token in $KITT4SME_TOKEN, else client credentials of `<tenant>-scenarios` (from
 * $KITT4SME_CLIENT_SECRET or the cluster's keycloak-realm Secret).
 *
 * Exit codes: 0 the platform matches the file, 1 some item failed (or, with --check, which
 * changes nothing, something would change), 2 usage or an invalid file, 3 the service or
 * Keycloak unreachable, or no credentials. The devices of a group that fails are not applied.
 */
import { Command } from 'commander';

import { loadPlatformContext } from '../../../platform/context.js';
import { tenantToken } from '../../identity/src/tenant-token.js';
import { EXIT, runCli } from '../../../platform/cli.js';
import { ApiError, ProvisioningClient } from '../src/client.js';
import { groupsOf, readDevicesFile } from '../src/devices-file.js';
import { provisioningError } from '../src/errors.js';
import { RESOURCES } from '../src/model.js';
import type { DeviceProtocol } from '../../../platform/components.js';
import { DEFAULT_DEVICE_PROTOCOL } from '../../../platform/components.js';
import type { DevicesFile } from '../src/devices-file.js';
import type { ItemResult } from '../src/provisioner.js';

interface Opts {
  file: string;
  dryRun?: boolean;
  check?: boolean;
  prune?: boolean;
  json?: boolean;
  baseUrl?: string;
  keycloakUrl?: string;
  batch: string;
}

/** One line of the plan. */
interface PlanEntry {
  kind: 'group' | 'device' | 'subscription';
  id: string;
  servicePath?: string;
  action: 'create' | 'update' | 'unchanged' | 'delete' | 'invalid';
  reason?: string;
  result?: 'done' | 'failed';
}

const ACTION: Record<string, PlanEntry['action']> = {
  created: 'create',
  updated: 'update',
  unchanged: 'unchanged',
  failed: 'invalid',
};
const SIGN: Record<PlanEntry['action'], string> = {
  create: '+',
  update: '~',
  unchanged: '=',
  delete: '-',
  invalid: '!',
};

const ctx = loadPlatformContext();

const program = new Command()
  .name('provision')
  .description(
    'Make the platform hold the service groups and devices of a devices file (YAML or JSON).',
  )
  .requiredOption('-f, --file <path>', 'the devices file (docs/devices-as-code.md)')
  .option('--dry-run', 'show the difference; change nothing')
  .option(
    '--check',
    'for CI: show the difference, change nothing (implies --dry-run), exit 1 when anything would change',
  )
  .option('--prune', 'also delete devices of the listed service paths that the file does not list')
  .option('--json', 'print the plan and the results as JSON on stdout')
  .option(
    '--base-url <url>',
    `the platform ingress (default: $KITT4SME_BASE_URL or ${ctx.publicUrl})`,
  )
  .option(
    '--keycloak-url <url>',
    'Keycloak base URL ending in /auth (default: $KITT4SME_KEYCLOAK_URL or the ingress)',
  )
  .option('--batch <n>', 'devices per bulk request', '500')
  .action(async (opts: Opts) => {
    const batch = Number(opts.batch);
    if (!Number.isInteger(batch) || batch < 1 || batch > 1000) {
      console.error(`provision: --batch must be an integer from 1 to 1000, got ${opts.batch}`);
      process.exit(EXIT.usage);
    }
    const file = readDevicesFile(opts.file);
    checkTenant(file.tenant, opts.file);
    const base = (opts.baseUrl ?? process.env.KITT4SME_BASE_URL ?? ctx.publicUrl).replace(
      /\/+$/,
      '',
    );
    const client = new ProvisioningClient({
      baseUrl: `${base}/provisioning`,
      tenant: file.tenant,
      token: await token(file.tenant, opts),
    });
    const progress = (msg: string) => {
      if (!opts.json || process.stderr.isTTY) process.stderr.write(`provision: ${msg}\n`);
    };
    // A check never changes the platform, with or without --dry-run.
    const dryRun = !!opts.dryRun || !!opts.check;
    const plan = await makePlan(client, file, batch, !!opts.prune, progress);
    if (!dryRun && plan.some((p) => p.action !== 'unchanged' && p.action !== 'invalid')) {
      await apply(client, file, plan, batch, progress);
    }
    report(plan, { ...opts, dryRun });
    const failed = plan.some((p) => p.action === 'invalid' || p.result === 'failed');
    const pending = plan.some((p) => p.action !== 'unchanged');
    process.exit(failed || (opts.check && pending) ? EXIT.failed : EXIT.ok);
  });

/**
 * The file's tenant must be one of the platform's, as written in the config (lower case):
 * anything else would end in Keycloak refusing a client that does not exist.
 */
function checkTenant(tenant: string, path: string): void {
  const names = ctx.config.tenants.map((t) => t.name);
  if (names.includes(tenant)) return;
  const lower = names.find((n) => n === tenant.toLowerCase());
  throw provisioningError(
    'ERR_PROVISION_FILE',
    lower
      ? `${path}: tenant "${tenant}" is written with capitals; tenants are lower case, as Orion stores them: tenant: ${lower}`
      : `${path}: tenant "${tenant}" is not a tenant of this platform (${names.join(', ')}); add it to tenants in platform/config/platform.ts first`,
  );
}

/** The token: $KITT4SME_TOKEN, else client credentials of the tenant's scenarios client. */
async function token(tenant: string, opts: Opts): Promise<string> {
  if (process.env.KITT4SME_TOKEN) return process.env.KITT4SME_TOKEN;
  const t = await tenantToken(ctx, {
    tenant,
    ...(opts.keycloakUrl ? { keycloakUrl: opts.keycloakUrl } : {}),
  });
  return t.token.accessToken;
}

/** Asks the service what it would do with each group, device and the subscription. */
async function makePlan(
  client: ProvisioningClient,
  file: DevicesFile,
  batch: number,
  prune: boolean,
  progress: (msg: string) => void,
): Promise<PlanEntry[]> {
  const plan: PlanEntry[] = [];
  if (file.quantumleapSubscription) {
    const res = await client.call<{ status: string }>('PUT', '/v1/subscriptions/quantumleap', {
      query: { dry_run: 'true' },
    });
    plan.push({ kind: 'subscription', id: 'quantumleap', action: ACTION[res.body.status]! });
  }
  for (const sp of file.servicePaths) {
    for (const group of groupsOf(sp)) {
      const res = await client.call<{ status: string }>('PUT', '/v1/groups', {
        servicePath: sp.path,
        body: group,
        query: { dry_run: 'true' },
      });
      plan.push({
        kind: 'group',
        id: RESOURCES[group.protocol],
        servicePath: sp.path,
        action: ACTION[res.body.status]!,
      });
    }
    for (let i = 0; i < sp.devices.length; i += batch) {
      const chunk = sp.devices.slice(i, i + batch);
      const res = await client.upsertDevices(sp.path, chunk, true);
      plan.push(...res.results.map((r) => deviceEntry(sp.path, r)));
      progress(
        `compared ${Math.min(i + batch, sp.devices.length)}/${sp.devices.length} devices of ${sp.path}`,
      );
    }
    if (prune) {
      const listed = new Set(sp.devices.map((d) => d.device_id));
      for (const id of await client.deviceIds(sp.path)) {
        if (!listed.has(id))
          plan.push({ kind: 'device', id, servicePath: sp.path, action: 'delete' });
      }
    }
  }
  return plan;
}

function deviceEntry(servicePath: string, r: ItemResult): PlanEntry {
  return {
    kind: 'device',
    id: r.device_id ?? `#${r.index}`,
    servicePath,
    action: ACTION[r.status]!,
    ...(r.reason ? { reason: r.reason } : {}),
  };
}

/** Applies the plan: groups first (devices name their keys), then devices, then deletions. */
async function apply(
  client: ProvisioningClient,
  file: DevicesFile,
  plan: PlanEntry[],
  batch: number,
  progress: (msg: string) => void,
): Promise<void> {
  const entry = (kind: PlanEntry['kind'], id: string, servicePath?: string) =>
    plan.find((p) => p.kind === kind && p.id === id && p.servicePath === servicePath)!;
  const changes = (p: PlanEntry | undefined) =>
    p && (p.action === 'create' || p.action === 'update');
  if (file.quantumleapSubscription && changes(entry('subscription', 'quantumleap'))) {
    await settle(entry('subscription', 'quantumleap'), () =>
      client.call('PUT', '/v1/subscriptions/quantumleap'),
    );
  }
  for (const sp of file.servicePaths) {
    // A device of a group that failed would be orphaned (no key to send with): not applied.
    const failedGroups = new Map<DeviceProtocol, string>();
    for (const group of groupsOf(sp)) {
      const planned = entry('group', RESOURCES[group.protocol], sp.path);
      if (changes(planned)) {
        await settle(planned, () =>
          client.call('PUT', '/v1/groups', { servicePath: sp.path, body: group }),
        );
        if (planned.result === 'failed') failedGroups.set(group.protocol, planned.reason ?? '');
      }
    }
    const todo = sp.devices.filter((d) => {
      const planned = entry('device', d.device_id, sp.path);
      if (!changes(planned)) return false;
      const protocol = d.protocol ?? DEFAULT_DEVICE_PROTOCOL;
      if (!failedGroups.has(protocol)) return true;
      planned.result = 'failed';
      planned.reason = `not applied: its ${protocol} service group at ${sp.path} failed (${failedGroups.get(protocol)})`;
      return false;
    });
    for (let i = 0; i < todo.length; i += batch) {
      const chunk = todo.slice(i, i + batch);
      try {
        const res = await client.upsertDevices(sp.path, chunk);
        for (const r of res.results) {
          const p = entry('device', r.device_id!, sp.path);
          p.result = r.status === 'failed' ? 'failed' : 'done';
          if (r.reason) p.reason = r.reason;
        }
      } catch (err) {
        for (const d of chunk) Object.assign(entry('device', d.device_id, sp.path), failure(err));
      }
      progress(
        `applied ${Math.min(i + batch, todo.length)}/${todo.length} device changes of ${sp.path}`,
      );
    }
    for (const p of plan.filter((x) => x.action === 'delete' && x.servicePath === sp.path)) {
      await settle(p, () =>
        client.call('DELETE', `/v1/devices/${encodeURIComponent(p.id)}`, { servicePath: sp.path }),
      );
    }
  }
}

async function settle(p: PlanEntry, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
    p.result = 'done';
  } catch (err) {
    Object.assign(p, failure(err));
  }
}

function failure(err: unknown): Pick<PlanEntry, 'result' | 'reason'> {
  if (!(err instanceof ApiError)) throw err;
  return { result: 'failed', reason: err.message };
}

function report(plan: PlanEntry[], opts: Opts): void {
  const count = (a: PlanEntry['action']) => plan.filter((p) => p.action === a).length;
  const summary = {
    create: count('create'),
    update: count('update'),
    unchanged: count('unchanged'),
    delete: count('delete'),
    invalid: count('invalid'),
    failed: plan.filter((p) => p.result === 'failed').length,
  };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ dry_run: !!opts.dryRun, summary, plan }, null, 2)}\n`);
    return;
  }
  for (const p of plan) {
    if (p.action === 'unchanged') continue;
    const where = p.servicePath ? ` (${p.servicePath})` : '';
    const outcome = p.result === 'failed' ? ' FAILED' : '';
    const reason = p.reason ? `: ${p.reason}` : '';
    process.stdout.write(
      `${SIGN[p.action]} ${p.action} ${p.kind} ${p.id}${where}${outcome}${reason}\n`,
    );
  }
  process.stdout.write(
    `${opts.dryRun ? 'would ' : ''}create ${summary.create}, update ${summary.update}, delete ${summary.delete}; ` +
      `${summary.unchanged} unchanged, ${summary.invalid} invalid, ${summary.failed} failed\n`,
  );
}

try {
  await runCli(program, {
    exitCode: (err) =>
      err.code === 'ERR_PROVISION_FILE' || err.code === 'ERR_INSECURE_URL'
        ? EXIT.usage
        : err.code === 'ERR_CREDENTIALS_REJECTED'
          ? EXIT.failed
          : EXIT.environment,
  });
} catch (err) {
  if (err instanceof ApiError) {
    const p = err.problem;
    console.error(
      `provision: ${err.message}${p?.fix ? `\n${p.fix}` : ''}${p?.code ? ` [${p.code}]` : ''}`,
    );
    process.exit(err.status === undefined || err.status === 503 ? EXIT.environment : EXIT.failed);
  }
  throw err;
}
