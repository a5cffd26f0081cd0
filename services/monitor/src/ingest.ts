/**
 * The monitor's internal events port: where the other producers hand their events to the one
 * deliverer. Two endpoints besides GET /healthz:
 *
 * - POST {@link EVENTS_INGEST_PATH}: one {@link PlatformEventInput} of provisioning or fleet;
 * - POST {@link ALERTMANAGER_RECEIVER_PATH}: Alertmanager's webhook payload (version 4), each
 *   alert becoming `alertmanager.alert.firing` or `.resolved` for the tenant in its `tenant` label.
 *
 * An accepted event gets its `source` here (eventSource(producer, tenant)), is journaled in its
 * tenant's journal and queued for the subscriptions that want it; an id already journaled is the
 * same event sent again (a producer's retry, Alertmanager's repeat): 202 again, nothing queued.
 *
 * Why a port of its own (NOTE 1): the gateway routes only the monitor's `api` port, so nothing
 * outside the cluster reaches these endpoints; the mesh (the registry's `calls`) admits only
 * provisioning, fleet and alertmanager to this one. That is the whole of its authentication:
 * there is no token to check, only the caller's mesh identity, checked by the sidecar.
 */
import express from 'express';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';

import {
  ALERTMANAGER_RECEIVER_PATH,
  EVENTS_INGEST_PATH,
  EVENT_CATALOGUE,
  eventId,
  eventKeyOf,
  eventSource,
  eventSubject,
  eventTypeOf,
} from '../../../platform/events.js';
import type { EventProducer, PlatformEventInput } from '../../../platform/events.js';
import { sendInternalError } from '../../runtime/src/index.js';
import type { Dispatcher } from './deliveries.js';
import { MonitorFailure, failureOf, parseOr400, sendFailureProblem } from './errors.js';
import type { Metrics } from './metrics.js';
import type { StoredEvent } from './store.js';

/** The largest body the events port reads; a larger one is refused (413) unread. */
export const EVENTS_BODY_LIMIT = 64 * 1024;

/** The producers that post to {@link EVENTS_INGEST_PATH}. */
export const INGEST_PRODUCERS: readonly EventProducer[] = ['provisioning', 'fleet'];

/** What {@link createEventsApp} is built from. */
export interface EventsAppDeps {
  readonly dispatcher: Dispatcher;
  /** The platform's tenants (the policy data's). */
  readonly tenants: readonly string[];
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Called after an accepted event changed the store (the service saves it and delivers). */
  readonly onAccepted?: () => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The input of a producer (platform/events.ts, PlatformEventInput), as posted. */
export const PlatformEventBody = z.strictObject({
  id: z.string().regex(UUID, 'a UUID-shaped id from eventId() of platform/events.ts'),
  type: z.string().min(1).max(200),
  tenant: z.string().min(1).max(63),
  subject: z
    .string()
    .max(512)
    .regex(/^[a-z]+s\/\S+$/, '`<kind>s/<id>`, from eventSubject() of platform/events.ts'),
  time: z.iso.datetime({ offset: true, error: 'an RFC 3339 date-time' }),
  data: z.record(z.string(), z.unknown()),
}) satisfies z.ZodType<PlatformEventInput>;

const Labels = z.record(z.string(), z.string());

/** Alertmanager's webhook payload, version 4 (its `webhook_config`; extra fields are let through). */
export const AlertmanagerPayload = z.looseObject({
  version: z.literal('4', { error: 'Alertmanager webhook payload version "4"' }),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().min(0).optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: Labels,
  commonLabels: Labels,
  commonAnnotations: Labels,
  externalURL: z.string(),
  alerts: z
    .array(
      z.looseObject({
        status: z.enum(['firing', 'resolved']),
        labels: Labels,
        annotations: Labels,
        startsAt: z.string().min(1),
        endsAt: z.string(),
        generatorURL: z.string(),
        fingerprint: z.string().min(1).optional(),
      }),
    )
    .max(1000),
});
type Alert = z.output<typeof AlertmanagerPayload>['alerts'][number];

/** Builds the events port's express app. */
export function createEventsApp(deps: EventsAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const body = express.json({ limit: EVENTS_BODY_LIMIT, strict: true, type: () => true });
  const tenants = new Set(deps.tenants);

  app.post(EVENTS_INGEST_PATH, jsonOnly, body, (req, res) => {
    const input = parseOr400(PlatformEventBody, req.body);
    const event = checkInput(input, tenants, deps.metrics);
    const { duplicate, queued } = deps.dispatcher.raise(event);
    const producer = EVENT_CATALOGUE[eventKeyOf(event.type)!].producer;
    deps.metrics.received.inc({ producer, outcome: duplicate ? 'duplicate' : 'accepted' });
    deps.logger.info(
      { producer, tenant: event.tenant, event: event.type, id: event.id, duplicate, queued },
      'event received',
    );
    if (!duplicate) deps.onAccepted?.();
    res.status(202).json({ id: event.id, duplicate, queued });
  });

  app.post(ALERTMANAGER_RECEIVER_PATH, jsonOnly, body, (req, res) => {
    const payload = parseOr400(AlertmanagerPayload, req.body);
    const summary = { accepted: 0, duplicates: 0, unrouted: 0 };
    for (const alert of payload.alerts) {
      const tenant = alert.labels.tenant;
      if (tenant === undefined || !tenants.has(tenant)) {
        const reason = tenant === undefined ? 'no-tenant' : 'unknown-tenant';
        deps.metrics.unroutedAlerts.inc({ reason });
        deps.logger.warn(
          { reason, alert: alert.labels.alertname, tenant, fingerprint: alert.fingerprint },
          'alert not delivered: it names no platform tenant',
        );
        summary.unrouted++;
        continue;
      }
      const { duplicate } = deps.dispatcher.raise(alertEvent(tenant, alert));
      deps.metrics.received.inc({
        producer: 'alertmanager',
        outcome: duplicate ? 'duplicate' : 'accepted',
      });
      summary[duplicate ? 'duplicates' : 'accepted']++;
    }
    deps.logger.info({ groupKey: payload.groupKey, ...summary }, 'alertmanager notification');
    if (summary.accepted) deps.onAccepted?.();
    // 200 even when some were not routed: Alertmanager would only send them again.
    res.status(200).json(summary);
  });

  app.use((req, _res, next) => {
    next(
      new MonitorFailure(
        'ERR_MONITOR_NOT_FOUND',
        404,
        `no such endpoint on the events port: ${req.method} ${req.path}; producers post to ${EVENTS_INGEST_PATH}, Alertmanager to ${ALERTMANAGER_RECEIVER_PATH}`,
      ),
    );
  });
  app.use((err: unknown, req: Request, res: Response, _next: express.NextFunction) => {
    sendFailure(req, res, err, deps.logger, deps.metrics);
  });
  return app;
}

/** The event of one of Alertmanager's alerts. */
export function alertEvent(tenant: string, alert: Alert): StoredEvent {
  const fingerprint =
    alert.fingerprint ??
    eventId(
      ...Object.entries(alert.labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`),
    ).slice(0, 16);
  const name = alert.labels.alertname ?? 'alert';
  const { kind, id } = alert.labels;
  const subjectId = kind && id ? `${name}:${kind}:${id}` : fingerprint;
  const firingId = eventId(fingerprint, 'firing', alert.startsAt);
  const resolved = alert.status === 'resolved';
  const key = resolved ? 'alertmanager.alert.resolved' : 'alertmanager.alert.firing';
  return {
    id: resolved ? eventId(fingerprint, 'resolved', alert.startsAt) : firingId,
    type: eventTypeOf(key),
    source: eventSource('alertmanager', tenant),
    subject: eventSubject('alert', subjectId),
    time: new Date(resolved ? alert.endsAt : alert.startsAt).toISOString(),
    tenant,
    data: {
      tenant,
      kind: 'alert',
      id: subjectId,
      alert: name,
      labels: alert.labels,
      annotations: alert.annotations,
      starts_at: alert.startsAt,
      fingerprint,
      ...(resolved ? { ends_at: alert.endsAt, resolves: firingId } : {}),
    },
  };
}

/** The stored event of a producer's input, or the refusal (422) that says why not. */
function checkInput(
  input: PlatformEventInput,
  tenants: ReadonlySet<string>,
  metrics: Metrics,
): StoredEvent {
  const refuse = (
    code: 'ERR_MONITOR_EVENT_TYPE' | 'ERR_MONITOR_EVENT_TENANT' | 'ERR_MONITOR_EVENT_SUBJECT',
    field: string,
    message: string,
    producer = 'unknown',
  ) => {
    metrics.received.inc({ producer, outcome: 'refused' });
    return new MonitorFailure(code, 422, `${field}: ${message}`, [{ field, message }]);
  };
  const key = eventKeyOf(input.type);
  const accepted = Object.entries(EVENT_CATALOGUE)
    .filter(([, s]) => INGEST_PRODUCERS.includes(s.producer))
    .map(([k]) => eventTypeOf(k as keyof typeof EVENT_CATALOGUE));
  if (!key) {
    throw refuse(
      'ERR_MONITOR_EVENT_TYPE',
      'type',
      `${JSON.stringify(input.type)} is not in the catalogue; this port takes ${accepted.join(', ')}`,
    );
  }
  const spec = EVENT_CATALOGUE[key];
  if (!INGEST_PRODUCERS.includes(spec.producer)) {
    throw refuse(
      'ERR_MONITOR_EVENT_TYPE',
      'type',
      `${input.type} is raised by ${spec.producer}, not posted here; this port takes ${accepted.join(', ')}`,
      spec.producer,
    );
  }
  if (!tenants.has(input.tenant)) {
    throw refuse(
      'ERR_MONITOR_EVENT_TENANT',
      'tenant',
      `${JSON.stringify(input.tenant)} is not a platform tenant; the tenants are ${[...tenants].join(', ')}`,
      spec.producer,
    );
  }
  const prefix = `${spec.kind}s/`;
  if (!input.subject.startsWith(prefix)) {
    throw refuse(
      'ERR_MONITOR_EVENT_SUBJECT',
      'subject',
      `${input.type} is about a ${spec.kind}: its subject is ${prefix}<id>, not ${JSON.stringify(input.subject)}`,
      spec.producer,
    );
  }
  const id = input.subject.slice(prefix.length);
  const envelope = { tenant: input.tenant, kind: spec.kind, id };
  for (const [field, value] of Object.entries(envelope)) {
    if (input.data[field] !== undefined && input.data[field] !== value) {
      throw refuse(
        'ERR_MONITOR_EVENT_SUBJECT',
        `data.${field}`,
        `${JSON.stringify(input.data[field])} contradicts the event's ${field} ${JSON.stringify(value)}; leave it out or make it match`,
        spec.producer,
      );
    }
  }
  return {
    id: input.id,
    type: input.type,
    source: eventSource(spec.producer, input.tenant),
    subject: input.subject,
    time: new Date(input.time).toISOString(),
    tenant: input.tenant,
    data: { ...input.data, ...envelope },
  };
}

/** Refuses a body that is not declared JSON (415) before reading it. */
function jsonOnly(req: Request, _res: Response, next: express.NextFunction): void {
  if (!req.is('application/json')) {
    next(
      new MonitorFailure('ERR_MONITOR_INVALID', 415, 'send the body as application/json', [
        { field: 'header content-type', message: 'must be application/json' },
      ]),
    );
    return;
  }
  next();
}

function sendFailure(
  req: Request,
  res: Response,
  err: unknown,
  logger: Logger,
  metrics: Metrics,
): void {
  const failure = failureOf(
    err,
    `the body is over ${EVENTS_BODY_LIMIT / 1024} KiB, the most the events port reads`,
  );
  if (!failure) {
    logger.error({ err }, 'unexpected error on the events port');
    sendInternalError(req, res, 'the event was not taken; the monitor log has the details');
    return;
  }
  if (failure.status !== 422 && req.path === EVENTS_INGEST_PATH) {
    metrics.received.inc({ producer: 'unknown', outcome: 'refused' });
  }
  logger.warn(
    { path: req.path, status: failure.status, code: failure.code, detail: failure.message },
    'event refused',
  );
  sendFailureProblem(res, failure, req.path);
}

// NOTE
// 1. A port of its own. The gateway's VirtualService routes the monitor's `api` port only
//    (platform/routes.ts), and the AuthorizationPolicy of the monitor admits on this port only
//    the workloads the registry lists as its callers (provisioning, fleet, alertmanager), by
//    their mesh identities. Producers have no user token to forward (the runner, the watches,
//    Alertmanager act on their own), so a per-request token would be one more secret to
//    distribute for what the mesh already proves.
