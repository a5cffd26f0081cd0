/**
 * Delivery of events to the subscriptions of their tenant: at-least-once, in order per
 * subscription, signed, retried with exponential backoff and jitter, logged per subscription,
 * and stopped for good by a 410 Gone.
 *
 * Every step changes the store first and the caller saves it, so a restart resumes the queue
 * where it was. Time comes from `now` and randomness from `random` (the tests drive both).
 */
import type {
  DeliveryLogEntry,
  MonitorStore,
  PendingDelivery,
  StoredEvent,
  Subscription,
} from './store.js';
import { cloudEventJson, signedHeaders } from './events.js';
import { isPublicHost } from '../../../platform/outbound.js';

/** Options of {@link Dispatcher}. */
export interface DispatcherOptions {
  readonly store: MonitorStore;
  readonly now: () => number;
  /** In [0, 1). @default Math.random */
  readonly random?: () => number;
  /** One attempt. @default 5000 */
  readonly timeoutMs?: number;
  /** The first retry's delay; doubled per attempt. @default 5000 */
  readonly baseDelayMs?: number;
  /** @default 1 hour */
  readonly maxDelayMs?: number;
  /** Attempts before giving up on one delivery (logged `failed`). @default 15 (about 9 hours) */
  readonly maxAttempts?: number;
  /** Entries kept in each subscription's log. @default 100 */
  readonly logSize?: number;
  /** Hosts a webhook may name although {@link isPublicHost} refuses them (tests, a lab). */
  readonly allowedHosts?: readonly string[];
  /** Events kept in each tenant's journal. @default 1000 */
  readonly journalSize?: number;
  /** Observes each attempt (metrics). */
  readonly onAttempt?: (outcome: string) => void;
}

/** The outcome of one {@link Dispatcher.deliverDue}. */
export interface DispatchSummary {
  delivered: number;
  retrying: number;
  failed: number;
  gone: number;
}

/** Delivers the store's queue. */
export class Dispatcher {
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxAttempts: number;
  private readonly logSize: number;
  private readonly journalSize: number;

  constructor(private readonly opts: DispatcherOptions) {
    this.random = opts.random ?? Math.random;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.baseDelayMs = opts.baseDelayMs ?? 5000;
    this.maxDelayMs = opts.maxDelayMs ?? 3600_000;
    this.maxAttempts = opts.maxAttempts ?? 15;
    this.logSize = opts.logSize ?? 100;
    this.journalSize = opts.journalSize ?? 1000;
  }

  /** True when a webhook may be sent to `url` (the platform's outbound rule, plus the allowed hosts). */
  allows(url: string): boolean {
    const host = new URL(url).hostname.toLowerCase();
    return isPublicHost(url) || (this.opts.allowedHosts ?? []).includes(host);
  }

  /** Raises `event` ({@link raise}); the number of deliveries queued. */
  enqueue(event: StoredEvent): number {
    return this.raise(event).queued;
  }

  /**
   * Journals `event` in its tenant's journal and queues it for every subscription of its tenant
   * that wants it. An id the journal or the queue holds already is the same event raised again
   * (a restart, a producer's retry): nothing changes (`duplicate`).
   */
  raise(event: StoredEvent): { duplicate: boolean; queued: number } {
    const { store } = this.opts;
    const { doc } = store;
    if (doc.events[event.id] || !store.journal(event, this.journalSize)) {
      return { duplicate: true, queued: 0 };
    }
    return { duplicate: false, queued: this.queue(event) };
  }

  private queue(event: StoredEvent): number {
    const { doc } = this.opts.store;
    const subs = Object.values(doc.subscriptions).filter((s) => wants(s, event));
    if (subs.length === 0) return 0;
    doc.events[event.id] = event;
    const now = this.opts.now();
    for (const s of subs) {
      doc.queue.push({ subscriptionId: s.id, eventId: event.id, attempts: 0, nextAt: now });
    }
    return subs.length;
  }

  /**
   * Attempts every due delivery, in order per subscription; a failure holds back the ones after
   * it. Runs one at a time (the pass and an event posted to the events port may both ask): a
   * call while one runs starts after it, so no delivery is attempted twice at once.
   */
  deliverDue(): Promise<DispatchSummary> {
    const run = this.delivering.then(() => this.deliverDueNow());
    this.delivering = run.catch(() => undefined);
    return run;
  }

  private delivering: Promise<unknown> = Promise.resolve();

  private async deliverDueNow(): Promise<DispatchSummary> {
    const { doc } = this.opts.store;
    const summary: DispatchSummary = { delivered: 0, retrying: 0, failed: 0, gone: 0 };
    const bySub = new Map<string, PendingDelivery[]>();
    for (const d of doc.queue) {
      const list = bySub.get(d.subscriptionId) ?? [];
      list.push(d);
      bySub.set(d.subscriptionId, list);
    }
    await Promise.all(
      [...bySub.entries()].map(async ([subId, list]) => {
        for (const d of list) {
          const sub = doc.subscriptions[subId];
          if (!sub || sub.disabled) {
            this.drop(d);
            continue;
          }
          if (d.nextAt > this.opts.now()) return;
          const outcome = await this.attempt(sub, d);
          summary[outcome]++;
          if (outcome === 'retrying') return;
          if (outcome === 'gone') {
            for (const rest of list) this.drop(rest);
            return;
          }
        }
      }),
    );
    this.prune();
    return summary;
  }

  /**
   * The next time a delivery can be made (ms), or undefined when the queue is empty: the
   * earliest due time of each subscription's first delivery (the others wait behind it).
   */
  nextDue(): number | undefined {
    const heads = new Map<string, number>();
    for (const d of this.opts.store.doc.queue) {
      if (!heads.has(d.subscriptionId)) heads.set(d.subscriptionId, d.nextAt);
    }
    return heads.size ? Math.min(...heads.values()) : undefined;
  }

  private async attempt(sub: Subscription, d: PendingDelivery): Promise<keyof DispatchSummary> {
    const { doc } = this.opts.store;
    const event = doc.events[d.eventId];
    if (!event) {
      this.drop(d);
      return 'failed';
    }
    d.attempts++;
    const at = new Date(this.opts.now());
    let status: number | undefined;
    let error: string | undefined;
    if (!this.allows(sub.url)) {
      error = 'the URL is no longer allowed (outbound rule)';
    } else {
      const body = cloudEventJson(event);
      try {
        const res = await fetch(sub.url, {
          method: 'POST',
          // The signature's timestamp is the wire's: the real time of sending.
          headers: signedHeaders(sub.secret, event.id, new Date(), body),
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        status = res.status;
        await res.body?.cancel();
      } catch (err) {
        error = (err as Error).name === 'TimeoutError' ? 'timed out' : causeOf(err);
      }
    }
    const entry = {
      eventId: event.id,
      eventType: event.type,
      attempt: d.attempts,
      at: at.toISOString(),
    };
    let outcome: keyof DispatchSummary;
    if (status !== undefined && status >= 200 && status < 300) {
      this.drop(d);
      this.log(sub.id, { ...entry, outcome: 'delivered', status });
      outcome = 'delivered';
    } else if (status === 410) {
      sub.disabled = { at: at.toISOString(), reason: 'the receiver answered 410 Gone' };
      this.drop(d);
      this.log(sub.id, { ...entry, outcome: 'gone', status });
      outcome = 'gone';
    } else if (d.attempts >= this.maxAttempts) {
      this.drop(d);
      this.log(sub.id, { ...entry, outcome: 'failed', ...(status ? { status } : { error }) });
      outcome = 'failed';
    } else {
      d.nextAt = at.getTime() + this.delay(d.attempts);
      this.log(sub.id, {
        ...entry,
        outcome: 'retrying',
        ...(status ? { status } : { error }),
        nextAt: new Date(d.nextAt).toISOString(),
      });
      outcome = 'retrying';
    }
    this.opts.onAttempt?.(outcome);
    return outcome;
  }

  /** Exponential backoff, capped, with "equal jitter": half fixed, half random. */
  private delay(attempts: number): number {
    const d = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempts - 1));
    return Math.round(d / 2 + (this.random() * d) / 2);
  }

  private drop(d: PendingDelivery): void {
    const q = this.opts.store.doc.queue;
    const i = q.indexOf(d);
    if (i >= 0) q.splice(i, 1);
  }

  private log(subId: string, entry: DeliveryLogEntry): void {
    const log = (this.opts.store.doc.log[subId] ??= []);
    log.push(entry);
    if (log.length > this.logSize) log.splice(0, log.length - this.logSize);
  }

  /** Forgets events no delivery waits for. */
  private prune(): void {
    const { doc } = this.opts.store;
    const waiting = new Set(doc.queue.map((d) => d.eventId));
    for (const id of Object.keys(doc.events)) if (!waiting.has(id)) delete doc.events[id];
  }
}

/**
 * True when `sub` wants `event`: same tenant, not disabled, its type, and its id pattern over the
 * id part of the subject (`<kind>s/<id>`), so one pattern works for devices, agents, rollouts
 * and alerts alike.
 */
export function wants(sub: Subscription, event: StoredEvent): boolean {
  if (sub.tenant !== event.tenant || sub.disabled) return false;
  if (sub.types.length > 0 && !sub.types.includes(event.type)) return false;
  return globToRegExp(sub.idPattern).test(subjectId(event.subject));
}

/** The `<id>` of a subject `<kind>s/<id>`. */
export function subjectId(subject: string): string {
  const slash = subject.indexOf('/');
  return slash < 0 ? subject : subject.slice(slash + 1);
}

/** A glob (`*` any run, `?` one character) as an anchored RegExp; no other syntax. */
export function globToRegExp(glob: string): RegExp {
  const body = [...glob]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's');
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
