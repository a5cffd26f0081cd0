/**
 * The producers' side of the platform's events: a small publisher that posts each
 * {@link PlatformEventInput} to the monitor's internal events port
 * (`${PLATFORM_EVENTS_URL}${EVENTS_INGEST_PATH}`), in order, from a bounded in-memory queue.
 *
 * - A network error or a 5xx is retried with exponential backoff and jitter, forever while the
 *   process lives: the event keeps its id, so the monitor takes a retry of an event it already
 *   has as the same event (202, nothing queued twice).
 * - A 4xx is a bug of the producer (a type outside the catalogue, a wrong subject): logged as an
 *   error with the monitor's problem, dropped, never retried.
 * - A full queue drops its oldest event, with a warning and a count: a producer never blocks or
 *   grows without bound because the monitor is down. NOTE (1)
 * - Without PLATFORM_EVENTS_URL it is a no-op (said once, at start): a service runs without a
 *   monitor, as on a laptop without the events port.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';

import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

import { EVENTS_INGEST_PATH, PLATFORM_EVENTS_URL_ENV } from '../../../platform/events.js';
import type { PlatformEventInput } from '../../../platform/events.js';

/** The time the publisher waits on (the tests drive it). */
export interface PublisherClock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const REAL_CLOCK: PublisherClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    sleepFor(ms, undefined, { ref: false, ...(signal ? { signal } : {}) }).catch(() => undefined),
};

/** Options of {@link EventPublisher}. */
export interface EventPublisherOptions {
  /** The monitor's events port, no path (PLATFORM_EVENTS_URL). @default - none: a no-op */
  readonly url?: string | undefined;
  readonly logger: Logger;
  /** Events held while the monitor cannot be reached. @default 10000 */
  readonly maxQueue?: number;
  /** The first retry's delay; doubled per attempt. @default 500 */
  readonly baseDelayMs?: number;
  /** @default 30000 */
  readonly maxDelayMs?: number;
  /** One attempt. @default 5000 */
  readonly timeoutMs?: number;
  /** @default the real clock */
  readonly clock?: PublisherClock;
  /** In [0, 1), for the jitter. @default Math.random */
  readonly random?: () => number;
  /** Where its counter `platform_events_published_total` is registered. */
  readonly registry?: Registry;
}

/** What the publisher did so far. */
export interface PublisherCounts {
  sent: number;
  retried: number;
  /** Refused by the monitor (4xx): a producer's bug, logged as an error. */
  refused: number;
  /** Dropped from a full queue. */
  dropped: number;
}

/** Posts events to the monitor's events port; see the module comment. */
export class EventPublisher {
  readonly counts: PublisherCounts = { sent: 0, retried: 0, refused: 0, dropped: 0 };
  private readonly endpoint: string | undefined;
  private readonly queue: PlatformEventInput[] = [];
  private readonly clock: PublisherClock;
  private readonly random: () => number;
  private readonly maxQueue: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly stop = new AbortController();
  private readonly counter: Counter<'outcome'> | undefined;
  private worker: Promise<void> | undefined;
  private idle: (() => void)[] = [];

  constructor(private readonly opts: EventPublisherOptions) {
    this.endpoint = opts.url ? `${opts.url.replace(/\/+$/, '')}${EVENTS_INGEST_PATH}` : undefined;
    this.clock = opts.clock ?? REAL_CLOCK;
    this.random = opts.random ?? Math.random;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.baseDelayMs = opts.baseDelayMs ?? 500;
    this.maxDelayMs = opts.maxDelayMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.counter = opts.registry
      ? new Counter({
          name: 'platform_events_published_total',
          help: "Events posted to the monitor's events port, by outcome (sent, retried, refused, dropped)",
          labelNames: ['outcome'] as const,
          registers: [opts.registry],
        })
      : undefined;
    if (this.endpoint) opts.logger.info({ url: this.endpoint }, 'events go to the monitor');
    else
      opts.logger.info(
        `${PLATFORM_EVENTS_URL_ENV} is not set: this service raises no platform events`,
      );
  }

  /** True when events are sent (PLATFORM_EVENTS_URL is set). */
  get enabled(): boolean {
    return this.endpoint !== undefined;
  }

  /** Events waiting to be sent (the one being sent included). */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues `event`; returns at once. */
  publish(event: PlatformEventInput): void {
    if (!this.endpoint || this.stop.signal.aborted) return;
    this.queue.push(event);
    if (this.queue.length > this.maxQueue) {
      // The head may be in flight: drop the oldest behind it.
      const [lost] = this.queue.splice(this.worker ? 1 : 0, 1);
      this.count('dropped');
      this.opts.logger.warn(
        { id: lost?.id, type: lost?.type, maxQueue: this.maxQueue, dropped: this.counts.dropped },
        'event queue full: the oldest event was dropped',
      );
    }
    this.worker ??= this.drain().finally(() => {
      this.worker = undefined;
      for (const resolve of this.idle.splice(0)) resolve();
    });
  }

  /** Resolves when the queue is empty (every event sent or refused), or once closed. */
  flush(): Promise<void> {
    if (!this.worker) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Stops sending: a retry waiting is cut short; what is still queued is logged and lost. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.worker;
    if (this.queue.length) {
      this.opts.logger.warn(
        { pending: this.queue.length, ids: this.queue.slice(0, 20).map((e) => e.id) },
        'closed with events not sent',
      );
      this.queue.length = 0;
    }
  }

  private async drain(): Promise<void> {
    let attempts = 0;
    while (this.queue.length && !this.stop.signal.aborted) {
      const event = this.queue[0]!;
      const outcome = await this.post(event);
      if (outcome === 'retry') {
        attempts++;
        this.count('retried');
        await this.clock.sleep(this.delay(attempts), this.stop.signal);
        continue;
      }
      attempts = 0;
      if (this.queue[0] === event) this.queue.shift();
    }
  }

  private async post(event: PlatformEventInput): Promise<'done' | 'retry'> {
    const log = this.opts.logger;
    let res: Response;
    try {
      res = await fetch(this.endpoint!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(event),
        redirect: 'manual',
        signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      log.warn({ id: event.id, type: event.type, err: cause }, 'monitor not reached; retrying');
      return 'retry';
    }
    const text = await res.text().catch(() => '');
    if (res.status >= 200 && res.status < 300) {
      this.count('sent');
      return 'done';
    }
    if (res.status >= 400 && res.status < 500) {
      this.count('refused');
      // A bug of the producer: sending it again gets the same answer.
      log.error(
        { id: event.id, type: event.type, status: res.status, problem: parseOr(text) },
        'the monitor refused an event; it is dropped',
      );
      return 'done';
    }
    log.warn({ id: event.id, type: event.type, status: res.status }, 'monitor failed; retrying');
    return 'retry';
  }

  /** Exponential backoff, capped, with "equal jitter": half fixed, half random. */
  private delay(attempts: number): number {
    const d = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempts - 1));
    return Math.round(d / 2 + (this.random() * d) / 2);
  }

  private count(outcome: keyof PublisherCounts): void {
    this.counts[outcome]++;
    this.counter?.inc({ outcome });
  }
}

/**
 * Who did what an event reports, from the caller's verified token: `Name <e-mail>` as the fleet
 * service writes commit authors (the token's `name`, else `preferred_username`, else the
 * client's service account, else the subject), the e-mail left out when the token has none.
 */
export function callerLabel(claims: Readonly<Record<string, unknown>>, subject?: string): string {
  const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
  const clean = (s: string) => s.replace(/[<>\n\r]/g, '');
  const name =
    str(claims.name) ??
    str(claims.preferred_username) ??
    str(claims.azp && `service-account-${String(claims.azp)}`) ??
    subject ??
    'unknown';
  const email = str(claims.email);
  return email ? `${clean(name)} <${clean(email)}>` : clean(name);
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text.slice(0, 500);
  }
}

// NOTE
// 1. Why memory and not a file. Events are notifications about what git, the registry or the
//    cluster already hold (the commit, the device, the status), not the record of it: an event
//    lost in a crash of the producer loses a webhook, never a fact. A durable outbox would add a
//    volume to provisioning and fleet for that. The queue's bound (10 000 events, a few MB)
//    covers a monitor outage of hours at the platform's rates.
