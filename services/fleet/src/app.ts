/**
 * The fleet service's HTTP face: health, readiness, metrics, and under /fleet/v1 the records of
 * the caller's tenant (agents and pipeline modules, their placement, state and rollout), the
 * shared hosts and groups, and the writes that change them. Every write is one commit of the
 * GitOps repository (services/fleet/src/store.ts), authored as the calling user; `dry_run=true`
 * answers the diff it would commit. Every /fleet request goes through the tenancy middleware (the
 * platform's Rego policy, in process) first; the app checks the roles again per operation.
 */
import { randomUUID } from 'node:crypto';

import express from 'express';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';

import type { PlatformContext } from '../../../platform/context.js';
import { CLUSTER_ERRORS } from '../../../platform/cluster.js';
import { PlatformError } from '../../../platform/errors.js';
import { FLEET_ERRORS } from '../../../platform/fleet/records.js';
import type { ResolvedAgent } from '../../../platform/fleet/resolve.js';
import { FleetError, instanceOn } from '../../../platform/fleet/resolve.js';
import type { HostStatus, TargetStatus } from '../../../platform/fleet/status.js';
import type { RecordRef } from '../../../platform/fleet/write.js';
import type { JwksCache, TenancyContext, TenancyPolicy } from '../../tenancy/src/index.js';
import { sendProblem, tenancyMiddleware } from '../../tenancy/src/index.js';
import {
  UNMATCHED_ROUTE,
  addProbes,
  mountApi,
  requestFault,
  sendInternalError,
} from '../../runtime/src/index.js';
import type {
  Author,
  ChangeResult,
  Edit,
  FleetStatus,
  FleetStore,
  Snapshot,
  StatusSource,
} from './contract.js';
import type { FleetEvents } from './events.js';
import type { FieldError } from './errors.js';
import { FLEET_SERVICE_ERRORS, FleetFailure, problemType } from './errors.js';
import type { Metrics } from './metrics.js';
import { DeployBody, GroupBody, GroupHostsBody, UpgradeBody } from './model.js';
import type { Target } from './model.js';
import { buildOpenApi } from './openapi.js';
import type { Caller, Located, Raw } from './operations.js';
import {
  badRequest,
  content,
  deployAgent,
  deployPipeline,
  findAgent,
  findGroup,
  findPipeline,
  groupNames,
  locate,
  notFound,
  partOf,
  removeAgent,
  removePipeline,
  rollBack,
  rolloutCommand,
  setState,
  upgrade,
} from './operations.js';
import type { ApplicationSummary } from './observe.js';
import { API_PREFIX } from './route.js';
import type { RolloutProgress } from './rollouts.js';

/** What {@link createApp} is built from. */
export interface AppDeps {
  readonly ctx: PlatformContext;
  readonly store: FleetStore;
  readonly policy: TenancyPolicy;
  readonly jwks: JwksCache;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** What runs (Kubernetes): without it, the status endpoints answer 503 and reads carry no targets. */
  readonly status?: StatusSource;
  /** The rollout runner's last judgement of each rollout (GET /v1/rollouts). */
  readonly rollouts?: { progress(): readonly RolloutProgress[] };
  /** The platform's Argo CD Applications, for platform admins (GET /v1/platform/applications). */
  readonly applications?: () => Promise<readonly ApplicationSummary[]>;
  readonly ready?: () => boolean;
  /** Where the events of committed writes go (platform/events.ts). @default none */
  readonly events?: FleetEvents;
}

/** The roles that may read; change a tenant's agents; change the shared groups. */
const READERS = ['viewer', 'operator', 'tenant-admin', 'platform-admin'];
const WRITERS = ['operator', 'tenant-admin', 'platform-admin'];
const GROUP_WRITERS = ['platform-admin'];

/** The largest request body the API reads, in bytes. */
const BODY_LIMIT = 256 * 1024;

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The event kind of each lifecycle verb, and of each rollout command. */
const WRITTEN = { stop: 'stopped', resume: 'resumed', undeploy: 'undeployed' } as const;
const ROLLOUT_COMMANDS = { pause: 'paused', resume: 'resumed', cancel: 'cancelled' } as const;

interface Locals {
  correlator: string;
  log: Logger;
  tenancy?: TenancyContext;
}

/** One host of a group target, as a write answers it. */
export interface TargetResult {
  readonly agent: string;
  readonly host: string;
  readonly result: 'accepted' | 'refused';
  readonly reason: string;
  /** The wave (1-based) that reaches the host, in a rollout. */
  readonly wave?: number;
}

/** Builds the express app. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const openapi = buildOpenApi();
  const { store } = deps;

  addProbes(app, { registry: deps.metrics.registry, ...(deps.ready ? { ready: deps.ready } : {}) });

  const api = express.Router();
  api.use((req, res, next) => {
    const locals = res.locals as Locals;
    locals.correlator = randomUUID();
    locals.log = deps.logger.child({ correlator: locals.correlator });
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? UNMATCHED_ROUTE;
      deps.metrics.requests.observe(
        { route, method: req.method, status: String(res.statusCode) },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
      locals.log.info(
        {
          method: req.method,
          path: req.originalUrl.split('?')[0],
          status: res.statusCode,
          tenant: locals.tenancy?.tenant,
          subject: locals.tenancy?.subject,
        },
        'request',
      );
    });
    next();
  });
  api.use(tenancyMiddleware({ policy: deps.policy, jwks: deps.jwks }));
  api.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  api.use(express.json({ limit: BODY_LIMIT, strict: true }));

  // ------------------------------------------------------------------------------------------
  // Reads
  // ------------------------------------------------------------------------------------------

  api.get('/v1/hosts', async (_req, res) => {
    requireRole(res, READERS, 'read the hosts');
    const snap = await store.snapshot();
    const status = await statusOf(deps, res, snap);
    const byName = new Map(status?.hosts.map((h) => [h.name, h]));
    res.json({
      commit: snap.commit,
      hosts: snap.fleet.hosts.map((h) => ({
        name: h.name,
        specialised: h.specialised,
        ...(h.site ? { site: h.site } : {}),
        ...(h.line ? { line: h.line } : {}),
        ...(h.capabilities ? { capabilities: h.capabilities } : {}),
        groups: groupNames(snap).filter((g) => findGroup(snap, g)!.raw.hosts.includes(h.name)),
        ...(byName.get(h.name) ? { status: hostView(byName.get(h.name)!) } : {}),
      })),
    });
  });

  api.get('/v1/groups', async (_req, res) => {
    requireRole(res, READERS, 'read the groups');
    const snap = await store.snapshot();
    res.json({ commit: snap.commit, groups: groupNames(snap).map((g) => groupView(snap, g)) });
  });

  api.get('/v1/groups/:name', async (req, res) => {
    requireRole(res, READERS, 'read the groups');
    const name = nameParam(req, 'name');
    const snap = await store.snapshot();
    const g = findGroup(snap, name);
    if (!g) throw notFound(`no group ${name}`);
    res.setHeader('etag', g.etag);
    res.json({ commit: snap.commit, group: groupView(snap, name) });
  });

  api.get('/v1/agents', async (_req, res) => {
    const caller = callerOf(deps.ctx, res, READERS, 'read agents');
    const snap = await store.snapshot();
    const status = await statusOf(deps, res, snap);
    res.json({
      commit: snap.commit,
      ...(status ? { observed_at: status.observedAt } : {}),
      agents: snap.fleet.agents
        .filter((a) => a.tenant === caller.tenant)
        .map((a) => agentView(snap, a, status)),
    });
  });

  api.get('/v1/agents/:name', async (req, res) => {
    const caller = callerOf(deps.ctx, res, READERS, 'read agents');
    const name = nameParam(req, 'name');
    const snap = await store.snapshot();
    const l = locate(snap, caller.tenant, name);
    const status = await statusOf(deps, res, snap);
    res.setHeader('etag', l.etag);
    res.json({ commit: snap.commit, agent: agentView(snap, l.agent, status) });
  });

  api.get('/v1/agents/:name/history', async (req, res) => {
    const caller = callerOf(deps.ctx, res, READERS, 'read agents');
    const name = nameParam(req, 'name');
    const snap = await store.snapshot();
    const l = locate(snap, caller.tenant, name);
    const history = await store.history(l.ref, 20);
    const revisions: { commit: string; record: Raw }[] = [];
    let previous: string | undefined;
    for (const h of history) {
      const part = partOf(h.raw, l);
      if (!part) continue;
      const c = JSON.stringify(part);
      if (c === previous) continue;
      previous = c;
      revisions.push({ commit: h.commit, record: part });
    }
    res.json({ commit: snap.commit, revisions });
  });

  api.get('/v1/pipelines/:name', async (req, res) => {
    const caller = callerOf(deps.ctx, res, READERS, 'read pipelines');
    const name = nameParam(req, 'name');
    const snap = await store.snapshot();
    const p = findPipeline(snap, caller.tenant, name);
    if (!p) throw notFound(`no pipeline ${name} in tenant ${caller.tenant}`);
    res.setHeader('etag', p.etag);
    res.json({
      commit: snap.commit,
      pipeline: {
        name,
        tenant: caller.tenant,
        id: p.ref.id,
        etag: p.etag,
        record: p.raw,
        modules: snap.fleet.agents
          .filter((a) => a.tenant === caller.tenant && a.pipeline === name)
          .map((a) => a.name),
      },
    });
  });

  api.get('/v1/status', async (_req, res) => {
    const caller = callerOf(deps.ctx, res, READERS, 'read the status');
    if (!deps.status)
      throw new FleetFailure(
        'ERR_FLEET_NO_STATUS',
        503,
        'this service runs without a status source: only the records are served',
      );
    const snap = await store.snapshot();
    const status = await deps.status.status(snap, { tenants: [caller.tenant] });
    res.json({
      commit: status.commit,
      observed_at: status.observedAt,
      hosts: status.hosts.map(hostView),
      targets: status.targets.filter((t) => t.agent.tenant === caller.tenant),
    });
  });

  api.get('/v1/rollouts', (_req, res) => {
    const caller = callerOf(deps.ctx, res, READERS, 'read the rollouts');
    if (!deps.rollouts)
      throw new FleetFailure(
        'ERR_FLEET_NO_STATUS',
        503,
        'this service runs without a status source, so no rollout advances: only the records are served',
      );
    res.json({
      rollouts: deps.rollouts
        .progress()
        .filter((r) => r.agent.tenant === caller.tenant)
        .map(rolloutProgressView),
    });
  });

  api.get('/v1/platform/applications', async (_req, res) => {
    callerOf(deps.ctx, res, GROUP_WRITERS, "read the platform's Argo CD sync state");
    if (!deps.applications)
      throw new FleetFailure(
        'ERR_FLEET_NO_STATUS',
        503,
        'this service runs without a status source: it cannot read Argo CD',
      );
    res.json({ applications: await deps.applications() });
  });

  // ------------------------------------------------------------------------------------------
  // Writes: groups (platform admins)
  // ------------------------------------------------------------------------------------------

  api.post('/v1/groups', async (req, res) => {
    const caller = callerOf(deps.ctx, res, GROUP_WRITERS, 'create groups');
    const body = parse(GroupBody, req);
    const result = await write(deps, req, res, caller, 'group.create', {
      message: `fleet: create group ${body.name}`,
      edit: (snap) => {
        if (findGroup(snap, body.name))
          throw new FleetFailure('ERR_FLEET_CONFLICT', 409, `group ${body.name} exists`, [], {
            etag: findGroup(snap, body.name)!.etag,
          });
        unknownHosts(snap, body.hosts, 'hosts');
        return { put: [{ kind: 'Group', name: body.name, hosts: [...new Set(body.hosts)] }] };
      },
    });
    const g = findGroup(result.after, body.name);
    if (g) res.setHeader('etag', g.etag);
    answer(res, result, result.commit || result.dryRun ? 201 : 200, {
      ...(g ? { group: groupView(result.after, body.name) } : {}),
    });
  });

  api.delete('/v1/groups/:name', async (req, res) => {
    const caller = callerOf(deps.ctx, res, GROUP_WRITERS, 'delete groups');
    const name = nameParam(req, 'name');
    const ifMatch = await ifMatchFor(req, () =>
      store.snapshot().then((s) => findGroup(s, name)?.ref),
    );
    const result = await write(deps, req, res, caller, 'group.delete', {
      message: `fleet: delete group ${name}`,
      ...ifMatch,
      edit: (snap) => {
        const g = findGroup(snap, name);
        if (!g) throw notFound(`no group ${name}`);
        return { remove: [g.ref] };
      },
    });
    answer(res, result, 200, {});
  });

  api.post('/v1/groups/:name/hosts', async (req, res) => {
    const caller = callerOf(deps.ctx, res, GROUP_WRITERS, 'change groups');
    const name = nameParam(req, 'name');
    const body = parse(GroupHostsBody, req);
    const ifMatch = await ifMatchFor(req, () =>
      store.snapshot().then((s) => findGroup(s, name)?.ref),
    );
    let targets: TargetResult[] = [];
    const result = await write(deps, req, res, caller, 'group.add-hosts', {
      message: `fleet: add ${body.hosts.join(', ')} to group ${name}`,
      ...ifMatch,
      edit: (snap) => {
        const g = findGroup(snap, name);
        if (!g) throw notFound(`no group ${name}`);
        const inventory = new Set(snap.fleet.hosts.map((h) => h.name));
        targets = [...new Set(body.hosts)].map((host) => ({
          agent: '',
          host,
          ...(!inventory.has(host)
            ? {
                result: 'refused' as const,
                reason: `no Host record ${host} in the inventory (fleet/hosts.yaml): a host joins the inventory first`,
              }
            : g.raw.hosts.includes(host)
              ? { result: 'accepted' as const, reason: 'already a member' }
              : { result: 'accepted' as const, reason: 'added' }),
        }));
        const accepted = targets.filter((t) => t.result === 'accepted').map((t) => t.host);
        if (accepted.length === 0)
          throw badRequest(
            targets.map((t, i) => ({
              field: `hosts[${i}]`,
              code: 'ERR_FLEET_UNKNOWN_HOST',
              message: t.reason,
            })),
          );
        return { put: [{ ...g.raw, hosts: [...new Set([...g.raw.hosts, ...accepted])] }] };
      },
    });
    const g = findGroup(result.after, name);
    if (g) res.setHeader('etag', g.etag);
    answer(res, result, mixed(targets) ? 207 : 200, {
      group: groupView(result.after, name),
      targets: targets.map(({ agent: _a, ...t }) => t),
    });
  });

  api.delete('/v1/groups/:name/hosts/:host', async (req, res) => {
    const caller = callerOf(deps.ctx, res, GROUP_WRITERS, 'change groups');
    const name = nameParam(req, 'name');
    const host = nameParam(req, 'host');
    const ifMatch = await ifMatchFor(req, () =>
      store.snapshot().then((s) => findGroup(s, name)?.ref),
    );
    const result = await write(deps, req, res, caller, 'group.remove-host', {
      message: `fleet: remove ${host} from group ${name}`,
      ...ifMatch,
      edit: (snap) => {
        const g = findGroup(snap, name);
        if (!g) throw notFound(`no group ${name}`);
        if (!g.raw.hosts.includes(host)) throw notFound(`host ${host} is not in group ${name}`);
        return { put: [{ ...g.raw, hosts: g.raw.hosts.filter((h) => h !== host) }] };
      },
    });
    const g = findGroup(result.after, name);
    if (g) res.setHeader('etag', g.etag);
    answer(res, result, 200, { group: groupView(result.after, name) });
  });

  // ------------------------------------------------------------------------------------------
  // Writes: agents and pipelines of the caller's tenant
  // ------------------------------------------------------------------------------------------

  /** The ref of the tenant's agent `name`, for If-Match (404 when absent). */
  const agentRef = (tenant: string, name: string) => async () =>
    locate(await store.snapshot({ fresh: true }), tenant, name).ref;

  api.post('/v1/agents/:name/deploy', async (req, res) => {
    const caller = callerOf(deps.ctx, res, WRITERS, 'deploy agents');
    const name = nameParam(req, 'name');
    const body = parse(DeployBody, req);
    const ifMatch = await ifMatchFor(req, agentRef(caller.tenant, name));
    const result = await write(deps, req, res, caller, 'agent.deploy', {
      message: `fleet: deploy ${caller.tenant}/${name} to ${targetLabel(body.target)}`,
      ...ifMatch,
      edit: deployAgent(caller, name, body),
    });
    deps.events?.written(caller, result, { kind: 'deployed', names: [name] });
    await answerAgents(deps, res, caller, result, [name], body.target, created(result) ? 201 : 200);
  });

  api.post('/v1/pipelines/:name/deploy', async (req, res) => {
    const caller = callerOf(deps.ctx, res, WRITERS, 'deploy pipelines');
    const name = nameParam(req, 'name');
    const body = parse(DeployBody, req);
    const ifMatch = await ifMatchFor(req, async () => {
      const p = findPipeline(await store.snapshot({ fresh: true }), caller.tenant, name);
      if (!p) throw notFound(`no pipeline ${name} in tenant ${caller.tenant}`);
      return p.ref;
    });
    const result = await write(deps, req, res, caller, 'pipeline.deploy', {
      message: `fleet: deploy pipeline ${caller.tenant}/${name} to ${targetLabel(body.target)}`,
      ...ifMatch,
      edit: deployPipeline(caller, name, body),
    });
    const modules = result.after.fleet.agents
      .filter((a) => a.tenant === caller.tenant && a.pipeline === name)
      .map((a) => a.name);
    deps.events?.written(caller, result, { kind: 'deployed', names: modules });
    await answerAgents(
      deps,
      res,
      caller,
      result,
      modules,
      body.target,
      created(result) ? 201 : 200,
    );
  });

  for (const [verb, state] of [
    ['stop', 'stopped'],
    ['resume', 'running'],
    ['undeploy', 'undeployed'],
  ] as const) {
    api.post(`/v1/agents/:name/${verb}`, async (req, res) => {
      const caller = callerOf(deps.ctx, res, WRITERS, `${verb} agents`);
      const name = nameParam(req, 'name');
      noBody(req);
      const ifMatch = await ifMatchFor(req, agentRef(caller.tenant, name));
      const result = await write(deps, req, res, caller, `agent.${verb}`, {
        message: `fleet: ${verb} ${caller.tenant}/${name}`,
        ...ifMatch,
        edit: setState(caller, name, state),
      });
      deps.events?.written(caller, result, { kind: WRITTEN[verb], names: [name] });
      await answerAgents(deps, res, caller, result, [name]);
    });
  }

  api.post('/v1/agents/:name/upgrade', async (req, res) => {
    const caller = callerOf(deps.ctx, res, WRITERS, 'upgrade agents');
    const name = nameParam(req, 'name');
    const body = parse(UpgradeBody, req);
    const ifMatch = await ifMatchFor(req, agentRef(caller.tenant, name));
    const result = await write(deps, req, res, caller, 'agent.upgrade', {
      message: `fleet: upgrade ${caller.tenant}/${name} to ${body.image}${body.rollout ? ' in waves' : ''}`,
      ...ifMatch,
      edit: upgrade(caller, name, body),
    });
    deps.events?.written(caller, result, { kind: 'deployed', names: [name] });
    const a = result.after.fleet.agents.find((x) => x.tenant === caller.tenant && x.name === name);
    const target: Target | undefined =
      a?.placement.mode === 'group' ? { group: a.placement.group } : undefined;
    await answerAgents(deps, res, caller, result, [name], target);
  });

  api.post('/v1/agents/:name/rollback', async (req, res) => {
    const caller = callerOf(deps.ctx, res, WRITERS, 'roll back agents');
    const name = nameParam(req, 'name');
    noBody(req);
    const snap = await store.snapshot({ fresh: true });
    const l = locate(snap, caller.tenant, name);
    const header = ifMatchHeader(req);
    const previous = await previousRevision(store, l);
    const result = await write(deps, req, res, caller, 'agent.rollback', {
      message: `fleet: roll back ${caller.tenant}/${name} to its revision of ${previous.commit.slice(0, 12)}`,
      // Rolled back from the revision read here: a change in between is a conflict.
      ifMatch: [{ ref: l.ref, etag: header ?? l.etag }],
      edit: rollBack(caller, name, previous.part),
    });
    deps.events?.written(caller, result, { kind: 'deployed', names: [name] });
    await answerAgents(deps, res, caller, result, [name], undefined, 200, {
      rolled_back_to: previous.commit,
    });
  });

  for (const command of ['pause', 'resume', 'cancel'] as const) {
    api.post(`/v1/agents/:name/rollout/${command}`, async (req, res) => {
      const caller = callerOf(deps.ctx, res, WRITERS, `${command} rollouts`);
      const name = nameParam(req, 'name');
      noBody(req);
      const ifMatch = await ifMatchFor(req, agentRef(caller.tenant, name));
      // The rollout as the command finds it (a cancel removes it), for its event.
      const before = deps.events?.enabled
        ? findAgent(await store.snapshot({ fresh: true }), caller.tenant, name)?.agent.rollout
        : undefined;
      const result = await write(deps, req, res, caller, `rollout.${command}`, {
        message: `fleet: ${command} the rollout of ${caller.tenant}/${name}`,
        ...ifMatch,
        edit: rolloutCommand(caller, name, command),
      });
      deps.events?.written(caller, result, {
        kind: 'rollout',
        command: ROLLOUT_COMMANDS[command],
        name,
        before,
      });
      await answerAgents(deps, res, caller, result, [name]);
    });
  }

  api.delete('/v1/agents/:name', async (req, res) => {
    const caller = callerOf(deps.ctx, res, WRITERS, 'remove agents');
    const name = nameParam(req, 'name');
    const ifMatch = await ifMatchFor(req, agentRef(caller.tenant, name));
    const result = await write(deps, req, res, caller, 'agent.remove', {
      message: `fleet: remove ${caller.tenant}/${name}`,
      ...ifMatch,
      edit: removeAgent(caller, name),
    });
    deps.events?.written(caller, result, { kind: 'removed', names: [name] });
    answer(res, result, 200, {});
  });

  api.delete('/v1/pipelines/:name', async (req, res) => {
    const caller = callerOf(deps.ctx, res, WRITERS, 'remove pipelines');
    const name = nameParam(req, 'name');
    const ifMatch = await ifMatchFor(req, async () => {
      const p = findPipeline(await store.snapshot({ fresh: true }), caller.tenant, name);
      if (!p) throw notFound(`no pipeline ${name} in tenant ${caller.tenant}`);
      return p.ref;
    });
    const modules = deps.events?.enabled
      ? (await store.snapshot({ fresh: true })).fleet.agents
          .filter((a) => a.tenant === caller.tenant && a.pipeline === name)
          .map((a) => a.name)
      : [];
    const result = await write(deps, req, res, caller, 'pipeline.remove', {
      message: `fleet: remove pipeline ${caller.tenant}/${name}`,
      ...ifMatch,
      edit: removePipeline(caller, name),
    });
    deps.events?.written(caller, result, { kind: 'removed', names: modules });
    answer(res, result, 200, {});
  });

  mountApi(app, API_PREFIX, api, {
    notFound,
    sendFailure: (req, res, err) => sendFailure(req, res, err, deps.logger),
  });
  return app;
}

// ---------------------------------------------------------------------------------------------
// Callers and roles
// ---------------------------------------------------------------------------------------------

interface FullCaller extends Caller {
  readonly author: Author;
  readonly roles: readonly string[];
}

/** The verified caller, after checking it holds one of `roles`. */
function callerOf(
  ctx: PlatformContext,
  res: Response,
  roles: readonly string[],
  what: string,
): FullCaller {
  const tenancy = (res.locals as Locals).tenancy;
  if (!tenancy) throw new TypeError('an API route was reached without a verified caller');
  requireRole(res, roles, what);
  const author = authorOf(ctx, tenancy);
  return {
    tenant: tenancy.tenant,
    roles: tenancy.roles,
    author,
    by: `${author.name} <${author.email}>`,
  };
}

function requireRole(res: Response, roles: readonly string[], what: string): void {
  const have = (res.locals as Locals).tenancy?.roles ?? [];
  if (!roles.some((r) => have.includes(r)))
    throw new FleetFailure(
      'ERR_FLEET_FORBIDDEN',
      403,
      `only ${roles.join(', ')} may ${what}; the token has ${have.length ? have.join(', ') : 'no role'} for this tenant`,
    );
}

/**
 * The author of a caller's commits: the token's name (or preferred_username) and email; without
 * an email, `<username>@users.<ingress host>` (an address of the platform, never a real mailbox).
 */
export function authorOf(
  ctx: PlatformContext,
  t: Pick<TenancyContext, 'claims' | 'subject'>,
): Author {
  const c = t.claims as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
  const username =
    str(c.preferred_username) ??
    str(c.azp && `service-account-${String(c.azp)}`) ??
    t.subject ??
    'unknown';
  const clean = (s: string) => s.replace(/[<>\n\r]/g, '');
  const email =
    str(c.email) ?? `${username.replace(/[^A-Za-z0-9._-]/g, '-')}@users.${ctx.config.ingress.host}`;
  return { name: clean(str(c.name) ?? username), email: clean(email) };
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

function nameParam(req: Request, param: string): string {
  const v = String(req.params[param]);
  if (!NAME.test(v))
    throw badRequest([
      {
        field: param,
        message: `${JSON.stringify(v.slice(0, 80))} is not a name: lower-case letters, digits and "-", at most 63, starting and ending with a letter or digit`,
      },
    ]);
  return v;
}

function parse<S extends z.ZodType>(schema: S, req: Request): z.output<S> {
  if (!req.is('application/json'))
    throw new FleetFailure('ERR_FLEET_BAD_REQUEST', 415, 'send the body as application/json', [
      { field: 'header content-type', message: 'must be application/json' },
    ]);
  const parsed = schema.safeParse(req.body);
  if (!parsed.success)
    throw badRequest(
      parsed.error.issues.map((i) => ({
        field: i.path.length ? i.path.join('.') : '(body)',
        message: i.message,
      })),
    );
  return parsed.data;
}

function noBody(req: Request): void {
  const b = req.body as unknown;
  if (b !== undefined && !(typeof b === 'object' && b && Object.keys(b).length === 0))
    throw badRequest([{ field: '(body)', message: 'this command takes no body' }]);
}

function dryRunOf(req: Request): boolean {
  const v = req.query.dry_run;
  if (v === undefined) return false;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw badRequest([{ field: 'query dry_run', message: 'true or false' }]);
}

function ifMatchHeader(req: Request): string | undefined {
  const v = req.get('if-match')?.trim();
  if (!v || v === '*') return undefined;
  if (!/^"[0-9a-f]{16}"$/.test(v))
    throw badRequest([
      {
        field: 'header if-match',
        message:
          'one ETag as the service gives it ("<16 hex>", quotes included), from a GET of the record',
      },
    ]);
  return v;
}

/** The If-Match precondition of a write, when the header is given. */
async function ifMatchFor(
  req: Request,
  ref: () => Promise<RecordRef | undefined>,
): Promise<{ ifMatch?: { ref: RecordRef; etag: string }[] }> {
  const etag = ifMatchHeader(req);
  if (!etag) return {};
  const r = await ref();
  if (!r) throw notFound(`no such record for the If-Match precondition: ${req.path}`);
  return { ifMatch: [{ ref: r, etag }] };
}

function unknownHosts(snap: Snapshot, hosts: readonly string[], field: string): void {
  const inventory = new Set(snap.fleet.hosts.map((h) => h.name));
  const errors: FieldError[] = [];
  hosts.forEach((h, i) => {
    if (!inventory.has(h))
      errors.push({
        field: `${field}[${i}]`,
        code: 'ERR_FLEET_UNKNOWN_HOST',
        message: `no Host record ${h} in the inventory (fleet/hosts.yaml)`,
      });
  });
  if (errors.length) throw badRequest(errors);
}

// ---------------------------------------------------------------------------------------------
// Writes and their answers
// ---------------------------------------------------------------------------------------------

async function write(
  deps: AppDeps,
  req: Request,
  res: Response,
  caller: FullCaller,
  operation: string,
  w: { message: string; ifMatch?: { ref: RecordRef; etag: string }[]; edit: (s: Snapshot) => Edit },
): Promise<ChangeResult> {
  const dryRun = dryRunOf(req);
  try {
    const result = await deps.store.change({
      author: caller.author,
      message: w.message,
      dryRun,
      ...(w.ifMatch ? { ifMatch: w.ifMatch } : {}),
      edit: w.edit,
    });
    deps.metrics.writes.inc({
      operation,
      outcome: result.dryRun ? 'dry-run' : result.commit ? 'committed' : 'unchanged',
    });
    (res.locals as Locals).log.info(
      {
        operation,
        commit: result.commit,
        base: result.base,
        dryRun,
        records: result.records.length,
      },
      'write',
    );
    return result;
  } catch (err) {
    deps.metrics.writes.inc({
      operation,
      outcome: (err as { code?: string }).code ?? 'error',
    });
    throw err;
  }
}

function created(result: ChangeResult): boolean {
  return result.records.some((r) => r.action === 'created');
}

function answer(res: Response, result: ChangeResult, status: number, extra: Raw): void {
  res.status(status).json({
    commit: result.commit ?? null,
    base: result.base,
    dry_run: result.dryRun,
    records: result.records,
    deleted: result.deleted,
    diff: result.diff,
    ...extra,
  });
}

/** Answers a write of agents: their views after it and, for a group target, a result per host. */
async function answerAgents(
  deps: AppDeps,
  res: Response,
  caller: FullCaller,
  result: ChangeResult,
  names: readonly string[],
  target?: Target,
  status = 200,
  extra: Raw = {},
): Promise<void> {
  const snap = result.after;
  const fleetStatus = await statusOf(deps, res, snap);
  const agents = names
    .map((n) => snap.fleet.agents.find((a) => a.tenant === caller.tenant && a.name === n))
    .filter((a): a is ResolvedAgent => a !== undefined);
  if (agents.length === 1) {
    const l = locate(snap, caller.tenant, agents[0]!.name);
    res.setHeader('etag', l.etag);
  }
  const targets =
    target && 'group' in target ? groupResults(snap, agents, fleetStatus?.hosts) : undefined;
  answer(res, result, targets && mixed(targets) ? 207 : status, {
    agents: agents.map((a) => agentView(snap, a, fleetStatus)),
    ...(targets ? { targets } : {}),
    ...extra,
  });
}

/** A rollout as GET /v1/rollouts shows it (the API's snake_case). */
function rolloutProgressView(r: RolloutProgress): Raw {
  return {
    id: r.id,
    agent: r.agent,
    kind: r.kind,
    phase: r.phase,
    started: r.started,
    waves: r.waves,
    image: r.image,
    ...(r.from ? { from: r.from } : {}),
    revision: r.revision,
    max_unavailable: r.maxUnavailable,
    bake_seconds: r.bakeSeconds,
    revert_on_failure: r.revertOnFailure,
    by: r.by,
    decision: r.decision,
    targets: r.targets,
    commit: r.commit,
  };
}

function mixed(targets: readonly TargetResult[]): boolean {
  return new Set(targets.map((t) => t.result)).size > 1;
}

/**
 * One result per agent × host of a group target: accepted (git wants it there; with the wave that
 * reaches it) or refused (no node of that name has joined, as the status source sees it). NOTE (1)
 */
function groupResults(
  snap: Snapshot,
  agents: readonly ResolvedAgent[],
  hosts: readonly HostStatus[] | undefined,
): TargetResult[] {
  const nodes = new Map(hosts?.map((h) => [h.name, h]));
  const inventory = new Set(snap.fleet.hosts.map((h) => h.name));
  const out: TargetResult[] = [];
  for (const a of agents) {
    if (a.placement.mode !== 'group') continue;
    const g = findGroup(snap, a.placement.group);
    for (const host of g?.raw.hosts ?? []) {
      const node = nodes.get(host);
      const wave = a.rollout ? a.rollout.waves.findIndex((w) => w.includes(host)) + 1 : undefined;
      const base = { agent: a.name, host, ...(wave ? { wave } : {}) };
      if (!inventory.has(host)) {
        out.push({ ...base, result: 'refused', reason: `no Host record ${host} in the inventory` });
      } else if (node && node.ready === 'Unknown') {
        out.push({
          ...base,
          result: 'refused',
          reason: `no node ${host} has joined the cluster (${node.reason}): nothing can run there until it joins`,
        });
      } else {
        const inst = instanceOn(a, host);
        const what =
          a.state === 'undeployed'
            ? 'undeployed: nothing runs there'
            : inst
              ? `${a.state === 'stopped' ? 'stopped at' : 'runs'} ${inst.image}${a.rollout && !a.rollout.reached.includes(host) ? ` until wave ${wave} (rollout ${a.rollout.id})` : ''}`
              : `nothing until wave ${wave} of rollout ${a.rollout!.id}`;
        out.push({
          ...base,
          result: 'accepted',
          reason:
            node?.ready === 'NotReady'
              ? `${what}; the host is NotReady (${node.reason}): it applies when the host is Ready again`
              : what,
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

async function statusOf(
  deps: AppDeps,
  res: Response,
  snap: Snapshot,
): Promise<FleetStatus | undefined> {
  if (!deps.status) return undefined;
  const tenant = (res.locals as Locals).tenancy?.tenant;
  try {
    return await deps.status.status(snap, tenant ? { tenants: [tenant] } : {});
  } catch (err) {
    // The records are still served: a status source that fails leaves the targets out.
    (res.locals as Locals).log.warn({ err: (err as Error).message }, 'status source failed');
    return undefined;
  }
}

function hostView(h: HostStatus) {
  return {
    name: h.name,
    ready: h.ready,
    reason: h.reason,
    ...(h.since ? { since: h.since } : {}),
    ...(h.leaseRenewedAt ? { lease_renewed_at: h.leaseRenewedAt } : {}),
    in_inventory: h.inInventory,
  };
}

function groupView(snap: Snapshot, name: string) {
  const g = findGroup(snap, name)!;
  return { name, id: g.ref.id, hosts: g.raw.hosts, etag: g.etag };
}

function agentView(snap: Snapshot, a: ResolvedAgent, status: FleetStatus | undefined) {
  const l: Located = locate(snap, a.tenant, a.name);
  const p = a.placement;
  const targets: TargetStatus[] | undefined = status?.targets.filter((t) => t.agent.id === a.id);
  return {
    name: a.name,
    tenant: a.tenant,
    id: a.id,
    ...(a.pipeline ? { pipeline: a.pipeline } : {}),
    record_kind: l.ref.kind,
    etag: l.etag,
    image: a.image,
    revision: a.revision,
    state: a.state,
    placement:
      p.mode === 'host'
        ? { host: p.hosts[0].name }
        : p.mode === 'group'
          ? { group: p.group }
          : { floating: true },
    hosts: p.hosts.map((h) => h.name),
    ...(a.rollout
      ? {
          rollout: {
            id: a.rollout.id,
            phase: a.rollout.phase,
            started: a.rollout.started,
            waves: a.rollout.waves,
            reached: a.rollout.reached,
            max_unavailable: a.rollout.maxUnavailable,
            bake_seconds: a.rollout.bakeSeconds,
            revert_on_failure: a.rollout.revertOnFailure,
            by: a.rollout.by,
            ...(a.rollout.from ? { from: a.rollout.from } : {}),
            ...(a.rollout.reason ? { reason: a.rollout.reason } : {}),
          },
        }
      : {}),
    record: l.part,
    ...(targets ? { targets } : {}),
  };
}

function targetLabel(t: Target): string {
  return 'host' in t ? `host ${t.host}` : `group ${t.group}`;
}

/** The newest earlier revision of an agent's document that differs from its current one. */
async function previousRevision(
  store: FleetStore,
  l: Located,
): Promise<{ commit: string; part: Raw }> {
  const now = content(l.part);
  for (const h of await store.history(l.ref, 50)) {
    const part = partOf(h.raw, l);
    if (part && content(part) !== now) return { commit: h.commit, part };
  }
  throw new FleetFailure(
    'ERR_FLEET_NO_HISTORY',
    409,
    `${l.agent.name} has no earlier revision (other than its state and rollout) to roll back to`,
  );
}

// ---------------------------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------------------------

/** Answers any error as an RFC 9457 problem. */
function sendFailure(req: Request, res: Response, err: unknown, logger: Logger): void {
  let failure: FleetFailure;
  const fault = requestFault(err, `the request body is over ${BODY_LIMIT / 1024} KiB`);
  if (err instanceof FleetFailure) failure = err;
  else if (err instanceof FleetError) {
    // The records the write would make do not validate: each problem names its record and field.
    failure = new FleetFailure(
      'ERR_FLEET_BAD_REQUEST',
      400,
      `the records this write would make have ${err.issues.length} problem(s); nothing was committed`,
      err.issues.map((i) => ({
        field: `${i.file} ${i.where}`.trim(),
        message: i.detail,
        code: i.code,
      })),
    );
  } else if (fault) {
    failure = new FleetFailure('ERR_FLEET_BAD_REQUEST', fault.status, fault.detail, fault.errors);
  } else if (
    err instanceof PlatformError &&
    (err.code in CLUSTER_ERRORS || err.code === 'ERR_CLUSTER_UNREACHABLE')
  ) {
    // What runs cannot be read (the API server is unreachable or refuses): the records still
    // can, and writes still commit; the status waits for the cluster.
    logger.warn({ err: err.message, code: err.code }, 'the cluster cannot be read');
    sendProblem(res, {
      type: problemType(err.code),
      title: 'what runs cannot be read from the cluster',
      status: 503,
      detail: err.message,
      instance: req.originalUrl.split('?')[0],
      code: err.code,
      fix: err.fix,
    });
    return;
  } else if (err instanceof PlatformError && err.code in FLEET_ERRORS) {
    logger.error({ err: err.message, code: err.code }, 'write failed');
    sendProblem(res, {
      type: problemType(err.code),
      title: 'the write failed',
      status: 500,
      detail: err.message,
      instance: req.originalUrl.split('?')[0],
      code: err.code,
      fix: err.fix,
    });
    return;
  } else {
    logger.error({ err }, 'unexpected error');
    sendInternalError(req, res, 'the request failed unexpectedly; the service log has the details');
    return;
  }
  sendProblem(res, {
    type: problemType(failure.code),
    title: FLEET_SERVICE_ERRORS[failure.code].problem,
    status: failure.status,
    detail: failure.message,
    instance: req.originalUrl.split('?')[0],
    code: failure.code,
    fix: FLEET_SERVICE_ERRORS[failure.code].fix,
    ...(failure.errors.length ? { errors: failure.errors } : {}),
    ...failure.extra,
  });
}

// NOTE
// 1. Per-target results of a group target. A write of a group-placed record is one commit: git
//    wants the agent on every host of the group, and each host is accepted, with the wave that
//    reaches it in a rollout. A host is refused when nothing can run there: no Host record, or
//    (with a status source) no node of that name has joined the cluster; the record still names
//    the group, so the host gets the agent when it joins. A NotReady host is accepted and says so:
//    an unreachable host is never a failure of the fleet (issue 20), it applies the record when it
//    is back. Mixed results answer 207.
