/**
 * Alert routing with the real Alertmanager (the pinned version, built by `npm run setup`) and
 * the configuration synth generates for it (the prometheus chart's `alertmanager.config` in
 * deploy/apps/prometheus.yaml), with only the receiver's address rewritten to a loopback
 * receiver: alerts posted as Prometheus posts them reach the monitor's receiver path as webhook
 * payloads (version 4), firing then resolved, one notification per target.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ALERTMANAGER_RECEIVER_PATH } from '../../platform/events.js';
import { startAlertmanager } from '../real/alertmanager.js';
import type { AlertmanagerServer, PostableAlert } from '../real/alertmanager.js';
import { waitFor } from '../support/processes.js';
import { find, synth } from '../support/synth.js';

/** The webhook payload Alertmanager posts (version 4), the fields the monitor reads. */
interface WebhookPayload {
  version: string;
  status: 'firing' | 'resolved';
  receiver: string;
  groupKey: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: { status: 'firing' | 'resolved'; labels: Record<string, string>; endsAt: string }[];
}

const out = synth();
/** The config as generated, untouched. */
const generated = find(out, 'Application', 'prometheus').spec.source.helm.valuesObject.alertmanager
  .config as Record<string, any>;

let receiver: Server;
let receiverOrigin: string;
const received: { path: string; payload: WebhookPayload }[] = [];
let alertmanager: AlertmanagerServer;

/** A target's labels, as the monitor's liveness gauge carries them. */
const target = (tenant: string, kind: string, id: string) => ({ tenant, kind, id });
const PUMP = target('manufracture', 'device', 'pump-7');
const ARM = target('smithereens', 'agent', 'arm-vision.host-2');

/** The `TargetOffline` alert of a target, as Prometheus sends it (scrape labels included). */
function alert(t: Record<string, string>, pod: string, endsAt: Date): PostableAlert {
  return {
    labels: {
      alertname: 'TargetOffline',
      severity: 'warning',
      ...t,
      namespace: 'fiware',
      pod,
      job: 'kubernetes-pods',
    },
    annotations: { summary: 'A monitored target is offline' },
    startsAt: new Date(Date.now() - 60_000).toISOString(),
    endsAt: endsAt.toISOString(),
    generatorURL: 'http://prometheus-server/graph',
  };
}

/** The notifications of one target, in the order received. */
const notificationsOf = (t: Record<string, string>) =>
  received.filter(
    (r) =>
      r.payload.groupLabels.tenant === t.tenant &&
      r.payload.groupLabels.kind === t.kind &&
      r.payload.groupLabels.id === t.id,
  );

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        payload: JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookPayload,
      });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverOrigin = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  // Only the receiver's address changes: its path, the route and the grouping are synth's.
  const config = structuredClone(generated);
  for (const r of config.receivers)
    for (const w of r.webhook_configs ?? [])
      w.url = `${receiverOrigin}${new URL(w.url as string).pathname}`;
  alertmanager = await startAlertmanager(config);
}, 300_000);

afterAll(async () => {
  await alertmanager?.stop();
  await new Promise((r) => receiver?.close(r));
});

describe('Alertmanager with the generated config', () => {
  it('addresses the monitor’s receiver path on its events port', () => {
    const urls = generated.receivers.flatMap((r: any) =>
      (r.webhook_configs ?? []).map((w: any) => w.url),
    );
    expect(urls).toEqual([
      `http://monitor.fiware.svc.cluster.local:8081${ALERTMANAGER_RECEIVER_PATH}`,
    ]);
  });

  it('notifies each offline target on its own, firing then resolved, at the monitor’s path', async () => {
    const later = new Date(Date.now() + 10 * 60_000);
    // The pump's alert from two monitor pods (a restart), and the arm's: two targets.
    await alertmanager.postAlerts([
      alert(PUMP, 'monitor-a', later),
      alert(PUMP, 'monitor-b', later),
      alert(ARM, 'monitor-a', later),
    ]);
    const fail = (what: string) => () =>
      new Error(`${what}; received ${JSON.stringify(received, null, 1)}\n${alertmanager.log()}`);
    // The pump's group may be notified first with one of its alerts (they reach the
    // dispatcher one by one); the group's next notification carries both.
    const bothPods = (r: (typeof received)[number]) =>
      r.payload.status === 'firing' && r.payload.alerts.length === 2;
    await waitFor(
      () =>
        Promise.resolve(notificationsOf(PUMP).some(bothPods) && notificationsOf(ARM).length > 0),
      90_000,
      fail('no firing notification for both targets'),
      250,
    );
    for (const r of received) {
      expect(r.path).toBe(ALERTMANAGER_RECEIVER_PATH);
      expect(r.payload.version).toBe('4');
      expect(r.payload.receiver).toBe('monitor');
    }
    const pumpFiring = notificationsOf(PUMP).find(bothPods)!.payload;
    expect(pumpFiring.status).toBe('firing');
    expect(pumpFiring.groupLabels).toEqual({ alertname: 'TargetOffline', ...PUMP });
    expect(pumpFiring.alerts.map((a) => a.labels.pod).sort()).toEqual(['monitor-a', 'monitor-b']);
    expect(pumpFiring.alerts.every((a) => a.status === 'firing')).toBe(true);
    const armFiring = notificationsOf(ARM)[0]!.payload;
    expect(armFiring.status).toBe('firing');
    expect(armFiring.groupLabels).toEqual({ alertname: 'TargetOffline', ...ARM });
    expect(armFiring.alerts).toHaveLength(1);
    // Never two targets in one notification.
    for (const r of received)
      expect(new Set(r.payload.alerts.map((a) => `${a.labels.tenant}/${a.labels.id}`)).size).toBe(
        1,
      );

    // The pump is heard from again: Prometheus sends its alerts with endsAt in the past.
    const now = new Date();
    await alertmanager.postAlerts([
      alert(PUMP, 'monitor-a', now),
      alert(PUMP, 'monitor-b', now),
      alert(ARM, 'monitor-a', later),
    ]);
    await waitFor(
      () => Promise.resolve(notificationsOf(PUMP).some((r) => r.payload.status === 'resolved')),
      120_000,
      fail('no resolved notification for the pump'),
      250,
    );
    const pumpResolved = notificationsOf(PUMP).find((r) => r.payload.status === 'resolved')!;
    expect(pumpResolved.path).toBe(ALERTMANAGER_RECEIVER_PATH);
    expect(pumpResolved.payload.groupKey).toBe(pumpFiring.groupKey);
    expect(pumpResolved.payload.alerts.map((a) => a.status)).toEqual(['resolved', 'resolved']);
    // The arm is still offline: nothing resolved it.
    expect(notificationsOf(ARM).map((r) => r.payload.status)).not.toContain('resolved');
  }, 240_000);
});
