/**
 * The dispatcher on its own, against a loopback receiver that verifies signatures with the
 * Standard Webhooks library: order per subscription, the backoff schedule, giving up, and
 * the tenant and filter a subscription receives.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';

import type { WebhookReceiver } from '../../../testing/support/webhook-receiver.js';
import { startWebhookReceiver } from '../../../testing/support/webhook-receiver.js';
import { Dispatcher, globToRegExp } from '../src/deliveries.js';
import { livenessEvent, newSecret } from '../src/events.js';
import type { Target } from '../src/liveness.js';
import { MonitorStore } from '../src/store.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
let receiver: WebhookReceiver;
let clock: number;
let store: MonitorStore;
let dispatcher: Dispatcher;

const target = (id: string, tenant = 'manufracture'): Target => ({
  tenant,
  kind: 'device',
  id,
  intervalSeconds: 60,
});
const offline = (t: Target, at = T0) =>
  livenessEvent(t, { type: 'offline', since: at, lastSeen: at - 1 });
const recovered = (t: Target, at: number) =>
  livenessEvent(t, { type: 'recovered', since: at, offlineSince: T0 });

beforeAll(async () => {
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await receiver?.close();
});
beforeEach(() => {
  clock = T0;
  store = MonitorStore.open(undefined);
  dispatcher = new Dispatcher({
    store,
    now: () => clock,
    random: () => 0.5,
    baseDelayMs: 1000,
    maxAttempts: 4,
    allowedHosts: ['127.0.0.1'],
  });
  receiver.secret = newSecret();
  receiver.mode = 'up';
  receiver.failIds.clear();
  for (const list of [receiver.events, receiver.duplicates, receiver.rejected, receiver.attempts]) {
    list.length = 0;
  }
  store.doc.subscriptions.s1 = {
    id: 's1',
    tenant: 'manufracture',
    url: receiver.url,
    types: [],
    idPattern: '*',
    secret: receiver.secret,
    createdAt: new Date(T0).toISOString(),
  };
});

describe('Dispatcher', () => {
  it('holds back later events of a subscription while an earlier one fails, then delivers in order', async () => {
    const dev = target('bot1');
    const first = offline(dev);
    dispatcher.enqueue(first);
    dispatcher.enqueue(recovered(dev, T0 + 5));
    // Only the offline fails: the recovered, due as well, must wait behind it.
    receiver.failIds.add(first.id);
    expect(await dispatcher.deliverDue()).toMatchObject({ retrying: 1, delivered: 0 });
    expect(receiver.attempts.map((a) => a.id)).toEqual([first.id]);
    receiver.failIds.clear();
    clock = dispatcher.nextDue()!;
    expect(await dispatcher.deliverDue()).toMatchObject({ delivered: 2 });
    expect(receiver.events.map((e) => e.type)).toEqual([
      'eu.kitt4sme.monitor.device.offline',
      'eu.kitt4sme.monitor.device.recovered',
    ]);
    expect(store.doc.queue).toEqual([]);
    expect(store.doc.events).toEqual({});
  });

  it('backs off exponentially with jitter and gives up after the last attempt', async () => {
    receiver.mode = 'down';
    dispatcher.enqueue(offline(target('bot2')));
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = clock;
      await dispatcher.deliverDue();
      const next = dispatcher.nextDue();
      if (next === undefined) break;
      delays.push(next - before);
      clock = next;
    }
    // Equal jitter with random 0.5: 3/4 of 1 s, 2 s, 4 s.
    expect(delays).toEqual([750, 1500, 3000]);
    expect(store.doc.queue).toEqual([]);
    expect(store.doc.log.s1!.map((e) => e.outcome)).toEqual([
      'retrying',
      'retrying',
      'retrying',
      'failed',
    ]);
  });

  it("sends a subscription only its tenant's events of its types and id pattern", async () => {
    store.doc.subscriptions.s1 = {
      ...store.doc.subscriptions.s1!,
      types: ['eu.kitt4sme.monitor.device.offline'],
      idPattern: 'line1-*',
    };
    expect(dispatcher.enqueue(offline(target('line1-a')))).toBe(1);
    expect(dispatcher.enqueue(offline(target('line2-a')))).toBe(0);
    expect(dispatcher.enqueue(recovered(target('line1-a'), T0 + 5))).toBe(0);
    expect(dispatcher.enqueue(offline(target('line1-b', 'smithereens')))).toBe(0);
    // The same event raised again (a restart before it was saved) is not queued twice.
    expect(dispatcher.enqueue(offline(target('line1-a')))).toBe(0);
    await dispatcher.deliverDue();
    expect(receiver.events.map((e) => e.subject)).toEqual(['devices/line1-a']);
  });

  it('reads a glob literally apart from * and ?', () => {
    expect(globToRegExp('a.b*').test('a.b-1')).toBe(true);
    expect(globToRegExp('a.b*').test('axb-1')).toBe(false);
    expect(globToRegExp('bot?').test('bot12')).toBe(false);
    expect(globToRegExp('(a|b)').test('a')).toBe(false);
  });
});
