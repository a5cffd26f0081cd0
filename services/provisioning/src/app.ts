/**
 * The HTTP face of the service, built from injected dependencies (so tests and the benchmark
 * build it the way the server does).
 *
 * Every `/provisioning` request goes through the tenancy middleware first: the token is
 * verified against the realm's keys and the tenancy policy (the same Rego the gateway's OPA
 * runs) decides; the tenant is the verified one, never a header the caller chose alone.
 */
import { randomUUID } from 'node:crypto';

import express from 'express';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';

import type { JwksCache, TenancyContext, TenancyPolicy } from '../../tenancy/src/index.js';
import { sendProblem, tenancyMiddleware } from '../../tenancy/src/index.js';
import type { ApiKeyPublisher } from './api-keys.js';
import { etagOf, matchesEtag } from './api-keys.js';
import { API_KEYS_BUNDLE_PATH } from '../../../platform/policy-data.js';
import type { ProvisioningErrorCode } from './errors.js';
import { PROVISIONING_ERRORS, problemType } from './errors.js';
import type { Scope } from './fiware-client.js';
import type { Metrics } from './metrics.js';
import { DEVICE_PROTOCOLS } from '../../../platform/components.js';
import { DeviceBody, DeviceSpec, GroupSpec, Protocol, SERVICE_PATH } from './model.js';
import { buildOpenApi } from './openapi.js';
import type { BulkResult, FieldError, ItemResult, Provisioner } from './provisioner.js';
import { ProvisioningFailure, describeErrors, fieldErrors } from './provisioner.js';
import { DENY_REASON_HEADER } from '../../../platform/tenancy.js';
import { eventId, eventSubject, eventTypeOf } from '../../../platform/events.js';
import type { EventPublisher } from '../../runtime/src/index.js';
import {
  UNMATCHED_ROUTE,
  addProbes,
  callerLabel,
  mountApi,
  requestFault,
  sendInternalError,
} from '../../runtime/src/index.js';

/** What {@link createApp} is built from. */
export interface AppDeps {
  readonly provisioner: Provisioner;
  readonly policy: TenancyPolicy;
  readonly jwks: JwksCache;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Devices per bulk request (the config's MAX_BATCH). */
  readonly maxBatch: number;
  /** Bytes per request body (the config's MAX_BODY_BYTES). */
  readonly maxBodyBytes: number;
  /** Default of the inventory's `stale_after` (the config's STALE_AFTER_INTERVALS). */
  readonly staleAfterIntervals: number;
  /** Readiness beyond having started. @default always ready */
  readonly ready?: () => boolean;
  /** The tenants' API-key digests: served to the gateway's OPA, republished after group writes. */
  readonly apiKeys: ApiKeyPublisher;
  /** Where device events go (device.provisioned, device.deleted). @default none */
  readonly events?: EventPublisher;
}

/** The path prefix the service serves its API under (the gateway does not strip it). */
export const API_PREFIX = '/provisioning';

/** Roles that may see API keys and write. */
const KEY_ROLES = ['operator', 'tenant-admin', 'platform-admin'];
/** Roles that manage the tenant's subscriptions and delete its data. */
const ADMIN_ROLES = ['tenant-admin', 'platform-admin'];
/** Deepest JSON a body may nest (a static attribute's value is free-form). */
const MAX_JSON_DEPTH = 32;
/** A correlator we pass on: visible ASCII without spaces, bounded. */
const CORRELATOR = /^[A-Za-z0-9_.:@-]{1,128}$/;

const Paging = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
const DryRun = z.object({ dry_run: z.enum(['true', 'false']).default('false') });
const Inventory = z.object({ stale_after: z.coerce.number().int().min(1).max(1000).optional() });
const DeleteQuery = z.object({ delete_entity: z.enum(['true', 'false']).default('false') });
/** DELETE names one protocol's group (the first protocol's by default); GET may filter. */
const GroupQuery = z.object({ protocol: Protocol });
const GroupsQuery = z.object({ protocol: z.enum(DEVICE_PROTOCOLS).optional() });

interface Locals {
  correlator: string;
  log: Logger;
  tenancy?: TenancyContext;
}

/** Builds the express app. */
export function createApp(deps: AppDeps): express.Express {
  const { maxBatch } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const openapi = buildOpenApi({ maxBatch });

  addProbes(app, { registry: deps.metrics.registry, ready: deps.ready });

  // The API-key bundle of the gateway's OPA. Outside /provisioning, so the ingress never
  // routes it; the mesh admits only OPA to it. Digests only, never a key.
  app.get(API_KEYS_BUNDLE_PATH, async (req, res) => {
    try {
      const bundle = await deps.apiKeys.bundle();
      res.setHeader('etag', etagOf(bundle.etag));
      res.setHeader('cache-control', 'no-cache');
      if (matchesEtag(req.get('if-none-match'), bundle.etag)) {
        res.status(304).end();
        return;
      }
      res.type('application/gzip').send(bundle.body);
    } catch (err) {
      // OPA keeps the bundle it has and asks again; without one, device routes stay closed.
      deps.logger.warn({ err: (err as Error).message }, 'API-key bundle unavailable');
      res.setHeader('retry-after', '5');
      res.status(503).end();
    }
  });

  /** After a group write: publish at once (a failed read leaves it to the next poll). */
  const republish = async (log: Logger) => {
    try {
      await deps.apiKeys.refresh();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'API keys not republished; the next poll will');
    }
  };

  const api = express.Router();
  api.use((req, res, next) => {
    const given = req.get('fiware-correlator');
    const correlator = given && CORRELATOR.test(given) ? given : randomUUID();
    res.setHeader('fiware-correlator', correlator);
    const locals = res.locals as Locals;
    locals.correlator = correlator;
    locals.log = deps.logger.child({ correlator });
    const started = performance.now();
    res.on('finish', () => {
      const seconds = (performance.now() - started) / 1000;
      const matched = (req.route as { path?: string } | undefined)?.path;
      const route = matched === undefined ? UNMATCHED_ROUTE : `${API_PREFIX}${matched}`;
      deps.metrics.requests.observe({ route, method: req.method, status: res.statusCode }, seconds);
      locals.log.info(
        {
          method: req.method,
          path: req.originalUrl.split('?')[0],
          status: res.statusCode,
          ms: Math.round(seconds * 1000),
          tenant: locals.tenancy?.tenant,
          subject: locals.tenancy?.subject,
          deny_reason: res.getHeader(DENY_REASON_HEADER),
        },
        'request',
      );
    });
    next();
  });
  api.use(
    tenancyMiddleware({
      policy: deps.policy,
      jwks: deps.jwks,
      onDecision: (d) => {
        deps.metrics.decisions.inc({ allowed: String(d.allowed), status: d.status });
      },
    }),
  );
  api.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  // Not strict: a JSON scalar is JSON, and the schema names it as a wrong `(body)` (422), as
  // it does a list, rather than the parser calling it broken.
  api.use(express.json({ limit: deps.maxBodyBytes, strict: false }));

  // ---- groups ----
  api.get('/v1/groups', async (req, res) => {
    const scope = scopeOf(req, res);
    const { protocol } = parse(GroupsQuery, req.query, 'query');
    const groups = await deps.provisioner.listGroups(scope, protocol);
    res.json({ groups: groups.map((g) => maskKey(res, g)) });
  });
  api.put('/v1/groups', async (req, res) => {
    const scope = scopeOf(req, res);
    const spec = parse(GroupSpec, jsonBody(req));
    const dry = dryRun(req);
    const result = await deps.provisioner.upsertGroup(scope, spec, dry);
    if (result.status !== 'unchanged' && !dry) await republish((res.locals as Locals).log);
    res
      .status(result.status === 'created' ? 201 : 200)
      .json({ ...result, dry_run: dry, group: maskKey(res, result.group) });
  });
  api.delete('/v1/groups', async (req, res) => {
    const scope = scopeOf(req, res);
    const { protocol } = parse(GroupQuery, req.query, 'query');
    if (!(await deps.provisioner.deleteGroup(scope, protocol)))
      throw notFound(`no ${protocol} service group at ${scope.servicePath}`);
    await republish((res.locals as Locals).log);
    res.status(204).end();
  });

  // ---- devices ----
  api.get('/v1/devices', async (req, res) => {
    const scope = scopeOf(req, res);
    const { limit, offset } = parse(Paging, req.query, 'query');
    const all = await deps.provisioner.listDevices(scope);
    res.json({
      count: all.length,
      devices: all.slice(offset, offset + limit).map((d) => maskKey(res, d)),
    });
  });
  api.post('/v1/devices/bulk', async (req, res) => {
    const scope = scopeOf(req, res);
    const body = parse(z.object({ devices: z.array(z.unknown()) }), jsonBody(req));
    if (body.devices.length > maxBatch) {
      throw new ProvisioningFailure(
        'ERR_PROVISIONING_TOO_LARGE',
        413,
        `${body.devices.length} devices in one request; at most ${maxBatch}`,
        [{ field: 'devices', message: `at most ${maxBatch} items` }],
      );
    }
    const result = await deps.provisioner.upsertDevices(scope, body.devices, dryRun(req));
    countDevices(deps, scope, result.results, result.dry_run);
    raiseWritten(deps, res, scope, body.devices, result);
    if (result.results.some((r) => r.code === 'ERR_UPSTREAM_UNAVAILABLE')) {
      res.setHeader('retry-after', String(deps.provisioner.retryAfter));
    }
    res.status(result.summary.failed > 0 ? 207 : 200).json(result);
  });
  api.get('/v1/devices/:id', async (req, res) => {
    const scope = scopeOf(req, res);
    const device = await deps.provisioner.getDevice(scope, String(req.params.id));
    if (!device) throw notFound(`no device ${req.params.id} at ${scope.servicePath}`);
    res.json(maskKey(res, device));
  });
  api.put('/v1/devices/:id', async (req, res) => {
    const scope = scopeOf(req, res);
    const id = String(req.params.id);
    const body = parse(DeviceBody, jsonBody(req));
    if (body.device_id !== undefined && body.device_id !== id) {
      throw invalid([{ field: 'device_id', message: `differs from the id in the path (${id})` }]);
    }
    const items = [{ ...(req.body as object), device_id: id }];
    const result = await deps.provisioner.upsertDevices(scope, items, dryRun(req));
    countDevices(deps, scope, result.results, result.dry_run);
    raiseWritten(deps, res, scope, items, result);
    const item = result.results[0]!;
    if (item.status === 'failed') throw itemFailure(item, deps.provisioner.retryAfter);
    // The write is done: a failed read-back leaves `device` out rather than failing the call.
    const device = result.dry_run
      ? undefined
      : await deps.provisioner.getDevice(scope, id).catch(() => undefined);
    res.status(item.status === 'created' ? 201 : 200).json({
      status: item.status,
      dry_run: result.dry_run,
      ...(device ? { device: maskKey(res, device) } : {}),
    });
  });
  api.delete('/v1/devices/:id', async (req, res) => {
    const scope = scopeOf(req, res);
    const { delete_entity } = parse(DeleteQuery, req.query, 'query');
    const id = String(req.params.id);
    // Deleting data is the tenant admin's, as on Orion's own route.
    if (delete_entity === 'true') requireRole(res, ADMIN_ROLES, "delete a device's entity");
    const gone = await deps.provisioner.deleteDevice(scope, id, delete_entity === 'true');
    if (!gone) throw notFound(`no device ${id} at ${scope.servicePath}`);
    raise(deps, 'provisioning.device.deleted', scope, id, {
      protocol: gone.protocol,
      service_path: scope.servicePath ?? '/',
      entity_id: gone.entity_name,
      by: byOf(res),
    });
    res.status(204).end();
  });

  // ---- subscription, inventory ----
  api.put('/v1/subscriptions/quantumleap', async (req, res) => {
    const scope = scopeOf(req, res, { servicePath: false });
    requireRole(res, ADMIN_ROLES, 'manage subscriptions');
    const result = await deps.provisioner.ensureSubscription(scope, dryRun(req));
    res.status(result.status === 'created' ? 201 : 200).json({ ...result, dry_run: dryRun(req) });
  });
  api.get('/v1/inventory', async (req, res) => {
    const scope = scopeOf(req, res);
    const { stale_after } = parse(Inventory, req.query, 'query');
    const staleAfter = stale_after ?? deps.staleAfterIntervals;
    res.json({ stale_after: staleAfter, ...(await deps.provisioner.inventory(scope, staleAfter)) });
  });

  mountApi(app, API_PREFIX, api, {
    notFound,
    sendFailure: (req, res, err) => sendFailure(req, res, err, deps.logger),
  });
  return app;
}

// ---- helpers ----

/** Tenant from the verified token; service path from the header, one absolute path. */
function scopeOf(req: Request, res: Response, opts: { servicePath?: boolean } = {}): Scope {
  const locals = res.locals as Locals;
  const tenancy = locals.tenancy;
  // The middleware lets only public paths through without a verified caller.
  if (!tenancy) throw new TypeError('an API route was reached without a verified caller');
  const header = req.get('fiware-servicepath');
  if (opts.servicePath === false) {
    if (header !== undefined && header !== '/') {
      throw invalid([
        {
          field: 'header fiware-servicepath',
          message:
            'not allowed: the QuantumLeap subscription is created without a service path so that it covers the whole tenant',
        },
      ]);
    }
    return { service: tenancy.tenant, correlator: locals.correlator };
  }
  const servicePath = header ?? '/';
  if (!SERVICE_PATH.test(servicePath)) {
    throw invalid([
      {
        field: 'header fiware-servicepath',
        message:
          'one absolute path of at most 10 levels, each 1-50 characters of A-Z a-z 0-9 _ (e.g. /floor1)',
      },
    ]);
  }
  return { service: tenancy.tenant, servicePath, correlator: locals.correlator };
}

function jsonBody(req: Request): unknown {
  if (!req.is('application/json')) {
    throw new ProvisioningFailure(
      'ERR_PROVISIONING_INVALID',
      415,
      'send the body as application/json',
      [{ field: 'header content-type', message: 'must be application/json' }],
    );
  }
  if (depthOver(req.body, MAX_JSON_DEPTH)) {
    throw invalid([
      { field: '(body)', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` },
    ]);
  }
  return req.body;
}

/** True when `value` nests deeper than `max` (iterative: no recursion on hostile input). */
function depthOver(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

function parse<T extends z.ZodType>(schema: T, value: unknown, where?: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalid(fieldErrors(parsed.error, where));
  return parsed.data;
}

function dryRun(req: Request): boolean {
  return parse(DryRun, { dry_run: req.query.dry_run }, 'query').dry_run === 'true';
}

function requireRole(res: Response, roles: readonly string[], what: string): void {
  const have = (res.locals as Locals).tenancy?.roles ?? [];
  if (!roles.some((r) => have.includes(r))) {
    throw new ProvisioningFailure(
      'ERR_PROVISIONING_FORBIDDEN',
      403,
      `only ${roles.join(' or ')} may ${what}; the token has ${have.length ? have.join(', ') : 'no roles'}`,
    );
  }
}

/** Hides the API key from callers that may only read. */
function maskKey<T extends { apikey?: string }>(res: Response, o: T): T {
  const roles = (res.locals as Locals).tenancy?.roles ?? [];
  if (o.apikey === undefined || KEY_ROLES.some((r) => roles.includes(r))) return o;
  const { apikey: _hidden, ...rest } = o;
  return rest as T;
}

function countDevices(
  deps: AppDeps,
  scope: Scope,
  results: readonly ItemResult[],
  dry: boolean,
): void {
  if (dry) return;
  for (const r of results) deps.metrics.devices.inc({ tenant: scope.service, status: r.status });
}

// ---- events ----

/**
 * Raises `device.provisioned` for each item a write created or replaced: never on a dry run,
 * never for an item that failed (a device rolled back is one), nor for one left unchanged.
 */
function raiseWritten(
  deps: AppDeps,
  res: Response,
  scope: Scope,
  items: readonly unknown[],
  result: BulkResult,
): void {
  if (result.dry_run || !deps.events?.enabled) return;
  const by = byOf(res);
  for (const r of result.results) {
    if (r.status !== 'created' && r.status !== 'updated') continue;
    const spec = DeviceSpec.safeParse(items[r.index]);
    if (!spec.success) continue;
    raise(deps, 'provisioning.device.provisioned', scope, spec.data.device_id, {
      protocol: spec.data.protocol,
      service_path: scope.servicePath ?? '/',
      entity_id: spec.data.entity_name,
      entity_type: spec.data.entity_type,
      by,
    });
  }
}

/**
 * Hands one device event to the publisher. Its id is derived from the write it reports (type,
 * tenant, path, device, its fields and the request's correlator): a retry of the publisher is
 * the same event, and a second write of the same device is another.
 */
function raise(
  deps: AppDeps,
  key: 'provisioning.device.provisioned' | 'provisioning.device.deleted',
  scope: Scope,
  deviceId: string,
  data: Record<string, unknown>,
): void {
  if (!deps.events?.enabled) return;
  const time = new Date().toISOString();
  deps.events.publish({
    id: eventId(key, scope.service, scope.servicePath ?? '/', deviceId, scope.correlator),
    type: eventTypeOf(key),
    tenant: scope.service,
    subject: eventSubject('device', deviceId),
    time,
    data: { tenant: scope.service, kind: 'device', id: deviceId, ...data },
  });
}

/** Who made a write, for events: the token's name and e-mail. */
function byOf(res: Response): string {
  const tenancy = (res.locals as Locals).tenancy;
  return tenancy ? callerLabel(tenancy.claims, tenancy.subject) : 'unknown';
}

function invalid(errors: FieldError[]): ProvisioningFailure {
  return new ProvisioningFailure('ERR_PROVISIONING_INVALID', 422, describeErrors(errors), errors);
}

function notFound(message: string): ProvisioningFailure {
  return new ProvisioningFailure('ERR_PROVISIONING_NOT_FOUND', 404, message);
}

/** The failure of the one item of a single-device request. */
function itemFailure(item: ItemResult, retryAfter: number): ProvisioningFailure {
  const status: Record<string, number> = {
    ERR_PROVISIONING_INVALID: 422,
    ERR_PROVISIONING_CONFLICT: 409,
    ERR_UPSTREAM_UNAVAILABLE: 503,
    ERR_UPSTREAM_REJECTED: 502,
  };
  const errors = (item.errors ?? []).map((e) => ({
    ...e,
    field: e.field.replace(/^devices\[0\]\.?/, '') || '(body)',
  }));
  return new ProvisioningFailure(
    item.code ?? 'ERR_UPSTREAM_REJECTED',
    status[item.code ?? ''] ?? 502,
    errors.length ? describeErrors(errors) : (item.reason ?? 'failed'),
    errors,
    item.code === 'ERR_UPSTREAM_UNAVAILABLE' ? retryAfter : undefined,
  );
}

/** Answers any error as an RFC 9457 problem. */
function sendFailure(req: Request, res: Response, err: unknown, logger: Logger): void {
  const log = (res.locals as Partial<Locals>).log ?? logger;
  let failure: ProvisioningFailure;
  const fault = requestFault(err, 'the request body is over the size limit');
  if (err instanceof ProvisioningFailure) failure = err;
  else if (fault) {
    failure = new ProvisioningFailure(
      fault.status === 413 ? 'ERR_PROVISIONING_TOO_LARGE' : 'ERR_PROVISIONING_INVALID',
      fault.status,
      fault.detail,
      fault.errors,
    );
  } else {
    log.error({ err }, 'unexpected error');
    sendInternalError(
      req,
      res,
      'the request failed unexpectedly; the service log has the details (search for the correlator)',
    );
    return;
  }
  if (failure.status >= 500)
    log.warn({ code: failure.code, detail: failure.message }, 'request failed');
  const code: ProvisioningErrorCode = failure.code;
  sendProblem(
    res,
    {
      type: problemType(code),
      title: PROVISIONING_ERRORS[code].problem,
      status: failure.status,
      detail: failure.message,
      instance: req.originalUrl.split('?')[0],
      code,
      fix: PROVISIONING_ERRORS[code].fix,
      ...(failure.errors.length ? { errors: failure.errors } : {}),
    },
    failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {},
  );
}
