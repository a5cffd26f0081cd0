/**
 * liveness: a device stops measuring; the monitor nudges it (its `ping` command through Orion
 * and the IoT Agent), marks it offline after the unanswered nudges and delivers a signed
 * `offline` event to a webhook; the device comes back, answers the nudge, measures, and the
 * webhook receives the `recovered` that resolves that `offline`.
 *
 * The webhook receiver runs here, in the scenario runner, and verifies what a careful subscriber
 * verifies (the Standard Webhooks signature and timestamp, the CloudEvent, one processing per
 * id). The monitor must be able to reach it: on the local stack it may deliver to loopback;
 * against a cluster give $KITT4SME_WEBHOOK_URL, a public URL that forwards to this machine's
 * $KITT4SME_WEBHOOK_PORT (e.g. a tunnel), or the subscription is refused by the monitor's
 * outbound rule, as it should be.
 *
 * How long the silence takes depends on the monitor's settings: about (1 + nudges) × (interval
 * + grace) plus a pass per step (10 s on the local stack; a few minutes with a cluster's
 * defaults). $KITT4SME_LIVENESS_TIMEOUT (seconds, default 300) bounds each wait.
 */
import type { CloudEventV1 } from 'cloudevents';

import { eventTypeOf } from '../platform/events.js';
import { DEFAULT_NUDGE_COMMAND } from '../platform/liveness.js';
import { AssertionFailed, check, eventually } from './lib/framework.js';
import type { Scenario, Step } from './lib/framework.js';
import type { ScenarioEnv } from './lib/env.js';
import type { PlacedDevice } from './lib/fiware.js';
import {
  devicesOf,
  entityId,
  pollCommands,
  provision,
  readEntity,
  sendMeasures,
  sendUltralight,
} from './lib/fiware.js';
import type { Reply } from './lib/platform.js';
import { expectStatus } from './lib/platform.js';
import type { WebhookReceiver } from './lib/webhook-receiver.js';
import { startWebhookReceiver } from './lib/webhook-receiver.js';

/** The command the monitor nudges with (its default, MONITOR_NUDGE_COMMAND). */
const NUDGE = DEFAULT_NUDGE_COMMAND;
const OFFLINE = eventTypeOf('monitor.device.offline');
const RECOVERED = eventTypeOf('monitor.device.recovered');

interface TargetView {
  kind: string;
  id: string;
  state: string;
  since: string;
  last_seen: string;
  nudges: number;
}

type Event = CloudEventV1<Record<string, unknown>>;

export const liveness: Scenario<ScenarioEnv> = {
  name: 'liveness',
  description:
    'a silent device is nudged, marked offline with a signed webhook, and recovered when it measures again',
  steps(env) {
    const { platform } = env;
    const target = livenessDevice(env);
    if (!target) {
      return [
        {
          id: 'watched-device',
          title: `the scenario data has an Ultralight device with an expected interval and a "${NUDGE}" command`,
          run: () =>
            Promise.reject(
              new AssertionFailed(
                `no Ultralight device of the scenario data has expected_interval and the command "${NUDGE}": the monitor has nothing to nudge`,
              ),
            ),
        },
      ];
    }
    const file = env.data.find((f) => f.tenant === target.tenant)!;
    const device = target.device.device_id;
    const waitMs = Number(process.env.KITT4SME_LIVENESS_TIMEOUT ?? 300) * 1000;
    const stepTimeoutMs = waitMs + 15_000;
    let receiver: WebhookReceiver | undefined;
    let subscription: string | undefined;
    let silentFrom = 0;
    let offline: Event | undefined;

    const monitor = async (method: string, path: string, json?: unknown, signal?: AbortSignal) =>
      platform.call({
        method,
        service: 'monitor',
        path,
        tenant: target.tenant,
        token: await platform.token(target.tenant),
        ...(json !== undefined ? { json } : {}),
        ...(signal ? { signal } : {}),
      });
    const targetState = async (signal: AbortSignal): Promise<TargetView | undefined> => {
      const reply = await monitor('GET', '/v1/targets', undefined, signal);
      expectStatus(reply, 200, 'the monitor refused its targets');
      return reply
        .json<{ targets: TargetView[] }>()
        .targets.find((t) => t.kind === 'device' && t.id === device);
    };
    const untilState = (want: (t: TargetView) => boolean, what: string) => (signal: AbortSignal) =>
      eventually(
        async () => {
          const t = await targetState(signal);
          check(t, () => `the monitor does not watch ${device} (GET /monitor/v1/targets)`);
          check(
            want(t),
            () =>
              `${device} is ${t.state} since ${t.since} (${t.nudges} nudges, last seen ${t.last_seen}), expected ${what}`,
          );
          return t;
        },
        { timeoutMs: waitMs, intervalMs: 500, signal },
      );
    const ours = (type: string) =>
      (receiver?.events ?? []).filter(
        (e) => e.type === type && e.data?.id === device && e.data?.tenant === target.tenant,
      );

    const steps: Step[] = [
      {
        id: 'provision',
        title: `provision ${target.tenant}'s devices (${device}: every ${target.device.expected_interval} s, accepts "${NUDGE}")`,
        run: () => provision(platform, file),
      },
      {
        id: 'subscribe',
        title: `subscribe a signature-verifying webhook to ${device}'s offline and recovered events`,
        async run(signal) {
          const publicUrl = process.env.KITT4SME_WEBHOOK_URL;
          const port = Number(process.env.KITT4SME_WEBHOOK_PORT ?? 0);
          receiver = await startWebhookReceiver(
            publicUrl ? { path: new URL(publicUrl).pathname, port, listen: '0.0.0.0' } : { port },
          );
          const url = publicUrl ?? receiver.url;
          const reply = await monitor(
            'POST',
            '/v1/subscriptions',
            { url, types: [OFFLINE, RECOVERED], id_pattern: device },
            signal,
          );
          if (reply.status === 400 && /url/.test(reply.text)) {
            throw new AssertionFailed(
              `the monitor refuses to deliver to ${url} (${reply.text.slice(0, 200)}): against a cluster set KITT4SME_WEBHOOK_URL to a public URL that forwards to KITT4SME_WEBHOOK_PORT on this machine`,
              { final: true },
            );
          }
          expectStatus(reply, 201, 'the monitor refused the subscription');
          const created = reply.json<{ id: string; secret: string }>();
          subscription = created.id;
          receiver.secret = created.secret;
          return `subscription ${created.id} → ${url}`;
        },
      },
      {
        id: 'fresh',
        title: `${device} measures and the monitor sees it fresh`,
        async run(signal) {
          await sendMeasures(platform, target, env.valueBase + 1, { signal });
          const t = await untilState((t) => t.state === 'fresh', 'fresh')(signal);
          silentFrom = Date.parse(t.last_seen);
          return `last seen ${t.last_seen}`;
        },
      },
      {
        id: 'nudged',
        title: `${device} stops; the monitor nudges it with "${NUDGE}" through Orion`,
        timeoutMs: stepTimeoutMs,
        async run(signal) {
          const t = await untilState(
            (t) => t.state === 'nudged' || t.state === 'offline',
            'nudged',
          )(signal);
          // The nudge is a command like any other: Orion forwarded it to the IoT Agent.
          const e = await readEntity(platform, target, { attrs: [`${NUDGE}_status`], signal });
          const status = e[`${NUDGE}_status`]?.value;
          check(
            status === 'PENDING',
            () =>
              `${entityId(target)}.${NUDGE}_status is ${JSON.stringify(status)}: the nudge did not reach the IoT Agent`,
          );
          return `${t.state} since ${t.since}, ${t.nudges} nudge(s), ${NUDGE}_status PENDING`;
        },
      },
      {
        id: 'offline',
        title: `the unanswered nudges make ${device} offline, and the webhook receives one signed "offline"`,
        timeoutMs: stepTimeoutMs,
        async run(signal) {
          const t = await untilState((t) => t.state === 'offline', 'offline')(signal);
          const event = await eventually(
            async () => {
              const got = ours(OFFLINE).filter(
                (e) => Date.parse(String(e.data?.last_seen)) >= silentFrom,
              );
              check(
                got.length > 0,
                () =>
                  `the webhook has received no ${OFFLINE} for ${device} (${describe(receiver)})`,
              );
              check(
                got.length === 1,
                () => `the webhook processed ${got.length} offline events for one silence`,
              );
              return Promise.resolve(got[0]!);
            },
            { timeoutMs: env.settleTimeoutMs, intervalMs: 250, signal },
          );
          offline = event;
          return `offline since ${t.since} after ${t.nudges} nudges; event ${event.id} (${event.subject})`;
        },
      },
      {
        id: 'comes-back',
        title: `${device} comes back: it polls its commands, answers the nudge and measures`,
        async run(signal) {
          const body = await pollCommands(platform, target, signal);
          check(
            new RegExp(`(^|[#|])${device}@${NUDGE}\\|`).test(body),
            () =>
              `the IoT Agent gave ${device} ${body ? `"${body}"` : 'no command'}, expected its nudge "${device}@${NUDGE}|"`,
          );
          await sendUltralight(platform, target, `${device}@${NUDGE}|pong`, { signal });
          await sendMeasures(platform, target, env.valueBase + 2, { signal });
        },
      },
      {
        id: 'recovered',
        title: `the monitor sees ${device} fresh, and the webhook receives the "recovered" that resolves the "offline"`,
        timeoutMs: stepTimeoutMs,
        async run(signal) {
          await untilState((t) => t.state === 'fresh', 'fresh')(signal);
          const recovered = await eventually(
            async () => {
              const got = ours(RECOVERED).filter((e) => e.data?.resolves === offline!.id);
              check(
                got.length === 1,
                () =>
                  `the webhook processed ${got.length} ${RECOVERED} resolving ${offline!.id} (${describe(receiver)})`,
              );
              return Promise.resolve(got[0]!);
            },
            { timeoutMs: env.settleTimeoutMs, intervalMs: 250, signal },
          );
          check(
            ours(OFFLINE).filter((e) => Date.parse(String(e.data?.last_seen)) >= silentFrom)
              .length === 1,
            'the monitor raised offline again after the device recovered',
          );
          return `recovered ${recovered.id} at ${recovered.time}, resolves ${offline!.id}; ${receiver!.duplicates.length} duplicate deliveries acknowledged, ${receiver!.rejected.length} rejected`;
        },
      },
      {
        id: 'unsubscribe',
        title: 'delete the subscription',
        async run(signal) {
          try {
            if (subscription) {
              const reply: Reply = await monitor(
                'DELETE',
                `/v1/subscriptions/${subscription}`,
                undefined,
                signal,
              );
              expectStatus(reply, 204, 'the monitor refused to delete the subscription');
            }
          } finally {
            await receiver?.close();
          }
        },
      },
    ];
    return steps;
  },
};

function describe(receiver: WebhookReceiver | undefined): string {
  if (!receiver) return 'no receiver';
  const rejected = receiver.rejected.map((r) => `${r.status} ${r.reason}`).join('; ');
  return `${receiver.events.length} events processed, ${receiver.attempts.length} requests${rejected ? `, rejected: ${rejected}` : ''}`;
}

/** The device the scenario watches (for the tests). */
export function livenessDevice(env: ScenarioEnv): PlacedDevice | undefined {
  return env.data
    .flatMap(devicesOf)
    .find(
      (d) =>
        d.protocol === 'ultralight' &&
        d.device.expected_interval !== undefined &&
        d.device.commands.some((c) => c.name === NUDGE),
    );
}
