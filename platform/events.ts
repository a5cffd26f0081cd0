/**
 * The platform's events: every type a component raises, who raises it, what its subject names
 * and which type resolves it, defined once here. The monitor is the one deliverer: it raises
 * the liveness events itself, receives the others on its internal events port (never routed by
 * the gateway; the mesh admits only the registry's callers), keeps a journal per tenant and
 * delivers them to the tenants' webhook subscriptions as signed CloudEvents 1.0.
 *
 * A CloudEvent's `type` is `eu.kitt4sme.<producer>.<name>`, its `source`
 * `/<producer>/tenants/<tenant>`, its `subject` `<kind>s/<id>` (the subscriptions' `id_pattern`
 * matches the `<id>`), and its `id` is derived from what it says ({@link eventId}), so a producer
 * that sends it again after a crash or a retry sends the same id: receivers dedupe on it.
 */
import { createHash } from 'node:crypto';

/** Every type starts with this, then the producer. */
export const EVENT_TYPE_PREFIX = 'eu.kitt4sme';

/** The components that raise events. */
export const EVENT_PRODUCERS = ['monitor', 'provisioning', 'fleet', 'alertmanager'] as const;
export type EventProducer = (typeof EVENT_PRODUCERS)[number];

/** What an event is about: its subject is `<kind>s/<id>`. */
export const EVENT_SUBJECT_KINDS = ['device', 'agent', 'rollout', 'alert'] as const;
export type EventSubjectKind = (typeof EVENT_SUBJECT_KINDS)[number];

/** One entry of the catalogue. */
export interface EventSpec {
  readonly producer: EventProducer;
  readonly kind: EventSubjectKind;
  /** The type (its name, without prefix and producer) that resolves this one, if any. */
  readonly resolvedBy?: string;
  /** What it means, for docs/events.md. */
  readonly description: string;
  /** Its `data` fields beyond `tenant`, `kind` and `id` (which every event carries). */
  readonly data: readonly string[];
}

/**
 * The catalogue, by `<producer>.<name>`. A type outside it is refused by the monitor's events
 * port (ERR_MONITOR_EVENT_TYPE) and by the subscription API.
 */
export const EVENT_CATALOGUE = {
  'monitor.device.offline': {
    producer: 'monitor',
    kind: 'device',
    resolvedBy: 'monitor.device.recovered',
    description: 'A device stayed silent through every nudge.',
    data: ['state', 'since', 'expected_interval', 'last_seen'],
  },
  'monitor.device.recovered': {
    producer: 'monitor',
    kind: 'device',
    description: 'An offline device measured again (resolves its offline event).',
    data: ['state', 'since', 'expected_interval', 'offline_since', 'resolves'],
  },
  'monitor.agent.offline': {
    producer: 'monitor',
    kind: 'agent',
    resolvedBy: 'monitor.agent.recovered',
    description: 'An agent instance stayed silent (no heartbeat) through every nudge.',
    data: ['state', 'since', 'expected_interval', 'last_seen', 'agent', 'host', 'revision'],
  },
  'monitor.agent.recovered': {
    producer: 'monitor',
    kind: 'agent',
    description: 'An offline agent instance sent a heartbeat again (resolves its offline event).',
    data: ['state', 'since', 'expected_interval', 'offline_since', 'resolves', 'agent', 'host'],
  },
  'provisioning.device.provisioned': {
    producer: 'provisioning',
    kind: 'device',
    description: 'A device was created or replaced through the provisioning service.',
    data: ['protocol', 'service_path', 'entity_id', 'entity_type', 'by'],
  },
  'provisioning.device.deleted': {
    producer: 'provisioning',
    kind: 'device',
    description: 'A device was removed through the provisioning service.',
    data: ['protocol', 'service_path', 'entity_id', 'by'],
  },
  'fleet.agent.deployed': {
    producer: 'fleet',
    kind: 'agent',
    description: 'A deploy of an agent or pipeline to a host or group was committed.',
    data: ['agent', 'hosts', 'image', 'commit', 'by'],
  },
  'fleet.agent.stopped': {
    producer: 'fleet',
    kind: 'agent',
    description: 'An agent was stopped (state: stopped committed).',
    data: ['agent', 'hosts', 'commit', 'by'],
  },
  'fleet.agent.resumed': {
    producer: 'fleet',
    kind: 'agent',
    description: 'A stopped agent was resumed (state: running committed).',
    data: ['agent', 'hosts', 'commit', 'by'],
  },
  'fleet.agent.undeployed': {
    producer: 'fleet',
    kind: 'agent',
    description: 'An agent was undeployed (state: undeployed committed; the record stays).',
    data: ['agent', 'hosts', 'commit', 'by'],
  },
  'fleet.agent.removed': {
    producer: 'fleet',
    kind: 'agent',
    description: "An agent's record was removed from git.",
    data: ['agent', 'commit', 'by'],
  },
  'fleet.agent.degraded': {
    producer: 'fleet',
    kind: 'agent',
    resolvedBy: 'fleet.agent.restored',
    description:
      'An agent instance became degraded (its status reason says why: a crash loop, an image that cannot be pulled).',
    data: ['agent', 'host', 'reason', 'since', 'revision'],
  },
  'fleet.agent.restored': {
    producer: 'fleet',
    kind: 'agent',
    description: 'A degraded agent instance runs again (resolves its degraded event).',
    data: ['agent', 'host', 'since', 'revision', 'resolves'],
  },
  'fleet.rollout.started': {
    producer: 'fleet',
    kind: 'rollout',
    description: 'A rollout in waves started.',
    data: ['agent', 'waves', 'from', 'to', 'commit', 'by'],
  },
  'fleet.rollout.wave-started': {
    producer: 'fleet',
    kind: 'rollout',
    description: 'A rollout moved on to its next wave.',
    data: ['agent', 'wave', 'waves', 'hosts', 'commit'],
  },
  'fleet.rollout.paused': {
    producer: 'fleet',
    kind: 'rollout',
    description: 'A rollout was paused by a person.',
    data: ['agent', 'wave', 'commit', 'by'],
  },
  'fleet.rollout.resumed': {
    producer: 'fleet',
    kind: 'rollout',
    description: 'A paused rollout was resumed.',
    data: ['agent', 'wave', 'commit', 'by'],
  },
  'fleet.rollout.completed': {
    producer: 'fleet',
    kind: 'rollout',
    description: 'Every wave of a rollout is done.',
    data: ['agent', 'waves', 'commit'],
  },
  'fleet.rollout.failed': {
    producer: 'fleet',
    kind: 'rollout',
    description: 'A rollout failed (a degraded target); its wave was reverted if asked.',
    data: ['agent', 'wave', 'reason', 'reverted', 'commit'],
  },
  'fleet.rollout.cancelled': {
    producer: 'fleet',
    kind: 'rollout',
    description: 'A rollout was cancelled by a person; its reached hosts were reverted.',
    data: ['agent', 'wave', 'commit', 'by'],
  },
  'alertmanager.alert.firing': {
    producer: 'alertmanager',
    kind: 'alert',
    resolvedBy: 'alertmanager.alert.resolved',
    description:
      "An alert of the platform's Prometheus rules fires for the tenant (routed by Alertmanager to the monitor).",
    data: ['alert', 'labels', 'annotations', 'starts_at', 'fingerprint'],
  },
  'alertmanager.alert.resolved': {
    producer: 'alertmanager',
    kind: 'alert',
    description: 'A firing alert resolved (resolves its firing event).',
    data: ['alert', 'labels', 'annotations', 'starts_at', 'ends_at', 'fingerprint', 'resolves'],
  },
} as const satisfies Record<string, EventSpec>;

/** A catalogue key, `<producer>.<name>`. */
export type EventKey = keyof typeof EVENT_CATALOGUE;

/** The full CloudEvents type of a catalogue key. */
export function eventTypeOf(key: EventKey): string {
  return `${EVENT_TYPE_PREFIX}.${key}`;
}

/** Every full type, in catalogue order. */
export const EVENT_TYPES: readonly string[] = (Object.keys(EVENT_CATALOGUE) as EventKey[]).map(
  eventTypeOf,
);

/** The catalogue key of a full type, or undefined when the type is not in the catalogue. */
export function eventKeyOf(type: string): EventKey | undefined {
  const prefix = `${EVENT_TYPE_PREFIX}.`;
  if (!type.startsWith(prefix)) return undefined;
  const key = type.slice(prefix.length);
  return Object.hasOwn(EVENT_CATALOGUE, key) ? (key as EventKey) : undefined;
}

/** The `source` of an event a producer raises for a tenant. */
export function eventSource(producer: EventProducer, tenant: string): string {
  return `/${producer}/tenants/${tenant}`;
}

/** The `subject` of an event about `id` of `kind`. */
export function eventSubject(kind: EventSubjectKind, id: string): string {
  return `${kind}s/${id}`;
}

/** A deterministic id (UUID-shaped, from SHA-256) of what an event says. */
export function eventId(...parts: readonly (string | number)[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * The monitor's internal events port: its key in the monitor's registry entry, and the paths
 * producers post to. Never routed by the gateway; the mesh admits the registry's callers only.
 */
export const EVENTS_PORT_KEY = 'events';
/** Producers (provisioning, fleet) post one {@link PlatformEventInput} per request here. */
export const EVENTS_INGEST_PATH = '/internal/v1/events';
/** Alertmanager's webhook receiver (its webhook payload, version 4) posts here. */
export const ALERTMANAGER_RECEIVER_PATH = '/internal/v1/alertmanager';
/** The environment variable that gives a producer the monitor's events URL (no path). */
export const PLATFORM_EVENTS_URL_ENV = 'PLATFORM_EVENTS_URL';

/**
 * What a producer posts (JSON). The monitor checks the type is in the catalogue and is the
 * caller's, the tenant is a platform tenant, the subject matches the type's kind, and sets the
 * `source`. The same `id` posted twice is one event (202 both times).
 */
export interface PlatformEventInput {
  /** From {@link eventId} over what the event says (e.g. the commit, the target, the type). */
  readonly id: string;
  /** A full type of the catalogue, whose producer is the caller. */
  readonly type: string;
  readonly tenant: string;
  /** `<kind>s/<id>`, the kind being the type's. */
  readonly subject: string;
  /** RFC 3339. */
  readonly time: string;
  /** Carries `tenant`, `kind`, `id` and the type's `data` fields. */
  readonly data: Readonly<Record<string, unknown>>;
}
