/**
 * The monitor's events: their types, their ids, and their wire form, a CloudEvents 1.0
 * structured-mode JSON document (the CloudEvents SDK builds and validates it) signed per the
 * Standard Webhooks spec (its reference library signs it).
 *
 * An event's id is derived from what it says (target, type, the time its state began), so a
 * monitor that raises it again after a crash raises the same id: receivers dedupe on it (it is
 * also the `webhook-id`), which makes delivery at-least-once without duplicates they can't spot.
 */
import { randomBytes } from 'node:crypto';

import { CloudEvent } from 'cloudevents';
import { Webhook } from 'standardwebhooks';

import {
  EVENT_TYPES,
  EVENT_TYPE_PREFIX,
  eventId,
  eventSource,
  eventSubject,
  eventTypeOf,
} from '../../../platform/events.js';
import type { LivenessAction, Target, TargetKind } from './liveness.js';
import type { StoredEvent } from './store.js';

// The catalogue (platform/events.ts) is the one list of types; these are its names here.
export { EVENT_TYPES, EVENT_TYPE_PREFIX, eventId };

/** The type of an action's event (`eu.kitt4sme.monitor.<kind>.<what>`). */
export function eventType(kind: TargetKind, what: 'offline' | 'recovered'): string {
  return eventTypeOf(`monitor.${kind}.${what}`);
}

/** The event of an `offline` or `recovered` action. */
export function livenessEvent(
  target: Target,
  action: Extract<LivenessAction, { type: 'offline' | 'recovered' }>,
  extra: Readonly<Record<string, unknown>> = {},
): StoredEvent {
  const type = eventType(target.kind, action.type);
  const at = action.since;
  return {
    id: eventId(target.tenant, target.kind, target.id, action.type, at),
    type,
    source: eventSource('monitor', target.tenant),
    subject: eventSubject(target.kind, target.id),
    time: new Date(at).toISOString(),
    tenant: target.tenant,
    data: {
      tenant: target.tenant,
      kind: target.kind,
      id: target.id,
      state: action.type === 'offline' ? 'offline' : 'fresh',
      since: new Date(at).toISOString(),
      expected_interval: target.intervalSeconds,
      ...(action.type === 'offline'
        ? { last_seen: new Date(action.lastSeen).toISOString() }
        : {
            offline_since: new Date(action.offlineSince).toISOString(),
            ...(action.resolves ? { resolves: action.resolves } : {}),
          }),
      ...extra,
    },
  };
}

/** The CloudEvents 1.0 structured JSON of an event (validated by the SDK). */
export function cloudEventJson(e: StoredEvent): string {
  return JSON.stringify(cloudEventOf(e));
}

/** The CloudEvents 1.0 structured form of an event, as an object (validated by the SDK). */
export function cloudEventOf(e: StoredEvent): Record<string, unknown> {
  const ce = new CloudEvent(
    {
      specversion: '1.0',
      id: e.id,
      type: e.type,
      source: e.source,
      subject: e.subject,
      time: e.time,
      datacontenttype: 'application/json',
      data: e.data,
    },
    true,
  );
  return ce.toJSON();
}

/** A new signing secret, as Standard Webhooks writes them. */
export function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** The headers of a signed delivery of `body` with message id `id` at `at`. */
export function signedHeaders(secret: string, id: string, at: Date, body: string) {
  const signature = new Webhook(secret).sign(id, at, body);
  return {
    'content-type': 'application/cloudevents+json; charset=utf-8',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  };
}
