/**
 * What the monitor keeps across restarts, in one JSON document written atomically (a temporary
 * file in the same directory, fsync'd, then renamed over the old one), so a crash leaves either
 * the old document or the new one, never half of one.
 *
 * It holds the targets' states (so a restart mid-silence does not re-alert), the subscriptions,
 * the events not yet delivered to every subscriber and the delivery queue and logs (so a
 * delivery is never lost by a restart: at-least-once), and each tenant's journal of its last
 * events (GET /monitor/v1/events; also what makes an event raised or posted twice one event).
 * NOTE (1)
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

import type { TargetState } from './liveness.js';
import { monitorError } from './errors.js';

/** A webhook subscription of one tenant. */
export interface Subscription {
  readonly id: string;
  readonly tenant: string;
  readonly url: string;
  /** Event types it receives; empty: all. */
  readonly types: readonly string[];
  /** A glob (`*`, `?`) over target ids; `*` matches all. */
  readonly idPattern: string;
  /** The Standard Webhooks signing secret (`whsec_` + base64). */
  readonly secret: string;
  readonly createdAt: string;
  /** Set when the receiver answered 410 Gone: nothing more is sent. */
  disabled?: { readonly at: string; readonly reason: string };
}

/** One event, as the monitor raised it (CloudEvents attributes, data free-form). */
export interface StoredEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly subject: string;
  readonly time: string;
  readonly tenant: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** A delivery still to make. */
export interface PendingDelivery {
  readonly subscriptionId: string;
  readonly eventId: string;
  /** Attempts made so far. */
  attempts: number;
  /** When the next attempt is due (ms). */
  nextAt: number;
}

/** One attempt, in a subscription's delivery log. */
export interface DeliveryLogEntry {
  readonly eventId: string;
  readonly eventType: string;
  readonly attempt: number;
  readonly at: string;
  /** `delivered`, `retrying`, `failed` (gave up), `gone` (410: subscription disabled). */
  readonly outcome: 'delivered' | 'retrying' | 'failed' | 'gone';
  /** The HTTP status, or the transport error. */
  readonly status?: number;
  readonly error?: string;
  readonly nextAt?: string;
}

/** The document. */
export interface MonitorDocument {
  version: 1;
  targets: Record<string, TargetState>;
  subscriptions: Record<string, Subscription>;
  events: Record<string, StoredEvent>;
  queue: PendingDelivery[];
  log: Record<string, DeliveryLogEntry[]>;
  /** The health last written to each target's entity (`state@since`), to write only changes. */
  health: Record<string, string>;
  /** Per tenant, its last events, oldest first (at most the journal size). */
  journal: Record<string, StoredEvent[]>;
}

/** Where the document lives; `undefined` keeps it in memory (tests of the pure parts). */
export class MonitorStore {
  readonly doc: MonitorDocument;

  private constructor(
    readonly path: string | undefined,
    doc: MonitorDocument,
  ) {
    this.doc = doc;
  }

  /** Opens the document at `path` (a new one when there is no file). */
  static open(path: string | undefined): MonitorStore {
    if (path === undefined) return new MonitorStore(undefined, emptyDocument());
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return new MonitorStore(path, emptyDocument());
      }
      throw monitorError(
        'ERR_MONITOR_STATE',
        `cannot read ${path}: ${(err as Error).message}`,
        err,
      );
    }
    let doc: MonitorDocument;
    try {
      doc = JSON.parse(text) as MonitorDocument;
    } catch (err) {
      throw monitorError(
        'ERR_MONITOR_STATE',
        `${path} is not JSON: ${(err as Error).message}`,
        err,
      );
    }
    if (doc?.version !== 1) {
      throw monitorError(
        'ERR_MONITOR_STATE',
        `${path} has version ${String(doc?.version)}, expected 1`,
      );
    }
    return new MonitorStore(path, { ...emptyDocument(), ...doc });
  }

  /** True when `tenant`'s journal holds an event `id`. */
  journaled(tenant: string, id: string): boolean {
    return (this.doc.journal[tenant] ?? []).some((e) => e.id === id);
  }

  /**
   * Appends `event` to its tenant's journal, keeping the last `size`; false (and nothing
   * changed) when the journal holds its id already.
   */
  journal(event: StoredEvent, size: number): boolean {
    if (this.journaled(event.tenant, event.id)) return false;
    const list = (this.doc.journal[event.tenant] ??= []);
    list.push(event);
    if (list.length > size) list.splice(0, list.length - size);
    return true;
  }

  /** Writes the document atomically. */
  save(): void {
    if (this.path === undefined) return;
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(this.doc));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}

function emptyDocument(): MonitorDocument {
  return {
    version: 1,
    targets: {},
    subscriptions: {},
    events: {},
    queue: [],
    log: {},
    health: {},
    journal: {},
  };
}

// NOTE
// 1. Why one JSON file. The monitor runs as one replica (a second one would nudge and alert
//    twice), its state is small (about 150 bytes per target: 10 000 devices are 1.5 MB) and is
//    written once per pass, so a file on a small volume is enough and adds no database to
//    operate. The signing secrets are in it: the volume is the monitor's alone (mode 0600). A
//    database (the platform's PostgreSQL) is the way out when one pass no longer fits.
