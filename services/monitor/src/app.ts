/**
 * The monitor's HTTP face: health, readiness, metrics, and per tenant the targets' health, the
 * journal of its last events and the webhook subscriptions (create, list, delete, delivery log). Every `/monitor` request goes
 * through the tenancy middleware (the platform's Rego policy, in process) first; the tenant is
 * the verified one, and subscriptions are the tenant admin's.
 */
import { randomUUID } from 'node:crypto';

import express from 'express';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';

import type { JwksCache, TenancyContext, TenancyPolicy } from '../../tenancy/src/index.js';
import { tenancyMiddleware } from '../../tenancy/src/index.js';
import { PUBLIC_HOST_RULE } from '../../../platform/outbound.js';
import { addProbes, mountApi, sendInternalError } from '../../runtime/src/index.js';
import type { Dispatcher } from './deliveries.js';
import {
  MonitorFailure,
  failureOf,
  invalidFields,
  parseOr400,
  sendFailureProblem,
} from './errors.js';
import { globToRegExp } from './deliveries.js';
import { cloudEventOf, newSecret } from './events.js';
import { EventsQuery, SubscriptionBody } from './model.js';
import type { Metrics } from './metrics.js';
import type { Monitor } from './monitor.js';
import { API_PREFIX } from './route.js';
import type { MonitorStore, StoredEvent, Subscription } from './store.js';
import { buildOpenApi } from './openapi.js';

/** What {@link createApp} is built from. */
export interface AppDeps {
  readonly monitor: Monitor;
  readonly store: MonitorStore;
  readonly dispatcher: Dispatcher;
  readonly policy: TenancyPolicy;
  readonly jwks: JwksCache;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Subscriptions per tenant. @default 20 */
  readonly maxSubscriptions?: number;
  readonly ready?: () => boolean;
}

const ADMIN_ROLES = ['tenant-admin', 'platform-admin'];

interface Locals {
  correlator: string;
  log: Logger;
  tenancy?: TenancyContext;
}

/** Builds the express app. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const openapi = buildOpenApi();
  const maxSubs = deps.maxSubscriptions ?? 20;

  addProbes(app, { registry: deps.metrics.registry, ready: deps.ready });

  const api = express.Router();
  api.use((req, res, next) => {
    const locals = res.locals as Locals;
    locals.correlator = randomUUID();
    locals.log = deps.logger.child({ correlator: locals.correlator });
    res.on('finish', () => {
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
  api.use(express.json({ limit: 64 * 1024, strict: true }));

  api.get('/v1/targets', (_req, res) => {
    const tenant = tenantOf(res);
    res.json({
      targets: deps.monitor.targetsOf(tenant).map(({ key, state }) => {
        const [, kind, id] = key.split('/', 3);
        return {
          kind,
          id: key.slice(`${tenant}/${kind}/`.length) || id,
          state: state.state,
          since: new Date(state.since).toISOString(),
          last_seen: new Date(state.lastSeen).toISOString(),
          nudges: state.nudges,
        };
      }),
    });
  });

  // Every reader of the tenant (the route's rights give viewers READ): the console's events view.
  api.get('/v1/events', (req, res) => {
    const tenant = tenantOf(res);
    const q = parseOr400(EventsQuery, req.query, { prefix: 'query ', whole: '(all)' });
    const since = q.since === undefined ? undefined : Date.parse(q.since);
    const subject = q.subject === undefined ? undefined : globToRegExp(q.subject);
    const journal = deps.store.doc.journal[tenant] ?? [];
    const events: StoredEvent[] = [];
    for (let i = journal.length - 1; i >= 0 && events.length < q.limit; i--) {
      const e = journal[i]!;
      if (q.type !== undefined && e.type !== q.type) continue;
      if (subject && !subject.test(e.subject)) continue;
      if (since !== undefined && Date.parse(e.time) < since) continue;
      events.push(e);
    }
    res.json({ events: events.map(cloudEventOf) });
  });

  api.get('/v1/subscriptions', (_req, res) => {
    const tenant = tenantOf(res);
    requireRole(res, 'list subscriptions');
    res.json({ subscriptions: subscriptionsOf(deps.store, tenant).map((s) => view(s)) });
  });
  api.post('/v1/subscriptions', (req, res) => {
    const tenant = tenantOf(res);
    requireRole(res, 'create subscriptions');
    if (!req.is('application/json')) {
      throw new MonitorFailure('ERR_MONITOR_INVALID', 415, 'send the body as application/json', [
        { field: 'header content-type', message: 'must be application/json' },
      ]);
    }
    const parsed = SubscriptionBody.safeParse(req.body);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => ({
        field: i.path.length ? i.path.join('.') : '(body)',
        message: i.message,
      }));
      throw invalidFields(errors);
    }
    const body = parsed.data;
    if (!deps.dispatcher.allows(body.url)) {
      throw invalidFields([{ field: 'url', message: PUBLIC_HOST_RULE }]);
    }
    if (subscriptionsOf(deps.store, tenant).length >= maxSubs) {
      throw new MonitorFailure(
        'ERR_MONITOR_INVALID',
        409,
        `the tenant has ${maxSubs} subscriptions already, the most it may have; delete one first`,
      );
    }
    const sub: Subscription = {
      id: randomUUID(),
      tenant,
      url: body.url,
      types: [...new Set(body.types)],
      idPattern: body.id_pattern,
      secret: newSecret(),
      createdAt: new Date().toISOString(),
    };
    deps.store.doc.subscriptions[sub.id] = sub;
    deps.store.save();
    // The secret is shown once, at creation.
    res.status(201).json({ ...view(sub), secret: sub.secret });
  });
  api.get('/v1/subscriptions/:id/deliveries', (req, res) => {
    const sub = ownSubscription(deps.store, res, String(req.params.id), 'read delivery logs');
    res.json({
      subscription: view(sub),
      pending: deps.store.doc.queue.filter((d) => d.subscriptionId === sub.id).length,
      deliveries: (deps.store.doc.log[sub.id] ?? []).map((e) => ({
        event_id: e.eventId,
        event_type: e.eventType,
        attempt: e.attempt,
        at: e.at,
        outcome: e.outcome,
        ...(e.status !== undefined ? { status: e.status } : {}),
        ...(e.error !== undefined ? { error: e.error } : {}),
        ...(e.nextAt !== undefined ? { next_at: e.nextAt } : {}),
      })),
    });
  });
  api.delete('/v1/subscriptions/:id', (req, res) => {
    const sub = ownSubscription(deps.store, res, String(req.params.id), 'delete subscriptions');
    const doc = deps.store.doc;
    delete doc.subscriptions[sub.id];
    delete doc.log[sub.id];
    doc.queue = doc.queue.filter((d) => d.subscriptionId !== sub.id);
    deps.store.save();
    res.status(204).end();
  });

  mountApi(app, API_PREFIX, api, {
    notFound,
    sendFailure: (req, res, err) => sendFailure(req, res, err, deps.logger),
  });
  return app;
}

function tenantOf(res: Response): string {
  const tenancy = (res.locals as Locals).tenancy;
  if (!tenancy) throw new TypeError('an API route was reached without a verified caller');
  return tenancy.tenant;
}

function requireRole(res: Response, what: string): void {
  const have = (res.locals as Locals).tenancy?.roles ?? [];
  if (!ADMIN_ROLES.some((r) => have.includes(r))) {
    throw new MonitorFailure(
      'ERR_MONITOR_FORBIDDEN',
      403,
      `only ${ADMIN_ROLES.join(' or ')} may ${what}; the token has ${have.length ? have.join(', ') : 'no roles'}`,
    );
  }
}

function subscriptionsOf(store: MonitorStore, tenant: string): Subscription[] {
  return Object.values(store.doc.subscriptions)
    .filter((s) => s.tenant === tenant)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** The tenant's subscription `id`; another tenant's is as absent as a missing one. */
function ownSubscription(store: MonitorStore, res: Response, id: string, what: string) {
  const tenant = tenantOf(res);
  requireRole(res, what);
  const sub = store.doc.subscriptions[id];
  if (!sub || sub.tenant !== tenant) throw notFound(`no subscription ${id} in tenant ${tenant}`);
  return sub;
}

/** A subscription as the API shows it: never the secret after creation. */
function view(s: Subscription) {
  return {
    id: s.id,
    url: s.url,
    types: s.types,
    id_pattern: s.idPattern,
    created_at: s.createdAt,
    ...(s.disabled ? { disabled: s.disabled } : {}),
  };
}

function notFound(message: string): MonitorFailure {
  return new MonitorFailure('ERR_MONITOR_NOT_FOUND', 404, message);
}

/** Answers any error as an RFC 9457 problem. */
function sendFailure(req: Request, res: Response, err: unknown, logger: Logger): void {
  const failure = failureOf(err, 'the request body is over 64 KiB');
  if (!failure) {
    logger.error({ err }, 'unexpected error');
    sendInternalError(req, res, 'the request failed unexpectedly; the service log has the details');
    return;
  }
  sendFailureProblem(res, failure, req.originalUrl.split('?')[0]!);
}
