/**
 * intervene: an application sends a command through Orion and the IoT Agent, the device
 * receives it, executes it and its result shows in Orion.
 *
 * The device polls for its commands on the south API (Ultralight 2.0 HTTP "polling
 * commands"): a device behind the ingress can always reach the platform, while the agent
 * could only push to an endpoint it can reach from inside the cluster. The push flavour is
 * covered by the south binding's own tests.
 */
import { AssertionFailed, check, eventually } from './lib/framework.js';
import type { Scenario, Step } from './lib/framework.js';
import type { ScenarioEnv } from './lib/env.js';
import {
  devicesOf,
  entityId,
  pollCommands,
  provision,
  readEntity,
  sendUltralight,
} from './lib/fiware.js';
import type { PlacedDevice } from './lib/fiware.js';
import { expectStatus } from './lib/platform.js';
import { DEFAULT_NUDGE_COMMAND } from '../platform/liveness.js';

export const intervene: Scenario<ScenarioEnv> = {
  name: 'intervene',
  description: 'a command sent through Orion reaches the device and its result shows in Orion',
  steps(env) {
    const { platform } = env;
    // Not the monitor's nudge: a nudge sent meanwhile would change the command's status.
    const commandOf = (d: PlacedDevice) =>
      d.device.commands.find((c) => c.name !== DEFAULT_NUDGE_COMMAND)?.name;
    const target = env.data.flatMap(devicesOf).find((d) => commandOf(d) !== undefined);
    if (!target) {
      return [
        {
          id: 'command-device',
          title: 'the scenario data has a device with a command',
          run: () =>
            Promise.reject(
              new AssertionFailed(
                `no device of the scenario data declares a command other than the monitor's nudge "${DEFAULT_NUDGE_COMMAND}" (commands: [...])`,
              ),
            ),
        },
      ];
    }
    const file = env.data.find((f) => f.tenant === target.tenant)!;
    const command = commandOf(target)!;
    const id = entityId(target);
    const payload = `run-${env.valueBase}`;
    const result = `done-${env.valueBase}`;
    const status = (expected: string, info?: string) => async (signal: AbortSignal) => {
      const attrs = [`${command}_status`, `${command}_info`];
      await eventually(
        async () => {
          const e = await readEntity(platform, target, { attrs, signal });
          const got = e[`${command}_status`]?.value;
          check(
            got === expected,
            () => `${id}.${command}_status is ${JSON.stringify(got)}, expected "${expected}"`,
          );
          if (info !== undefined) {
            const gotInfo = e[`${command}_info`]?.value;
            check(
              gotInfo === info,
              () => `${id}.${command}_info is ${JSON.stringify(gotInfo)}, expected "${info}"`,
            );
          }
        },
        { timeoutMs: env.settleTimeoutMs, signal },
      );
    };
    const steps: Step[] = [
      {
        id: 'provision',
        title: `provision ${target.tenant}'s devices (${target.device.device_id} accepts "${command}")`,
        run: () => provision(platform, file),
      },
      {
        id: 'send-command',
        title: `send "${command}" to ${id} through Orion`,
        async run(signal) {
          const reply = await platform.call({
            method: 'PATCH',
            service: 'orion',
            path: `/v2/entities/${encodeURIComponent(id)}/attrs?type=${encodeURIComponent(target.device.entity_type ?? 'Thing')}`,
            tenant: target.tenant,
            servicePath: target.servicePath,
            token: await platform.token(target.tenant),
            json: { [command]: { type: 'command', value: payload } },
            signal,
          });
          expectStatus(reply, 204, `Orion refused the "${command}" command`);
        },
      },
      {
        id: 'pending',
        title: `Orion shows ${command}_status PENDING`,
        run: status('PENDING'),
      },
      {
        id: 'device-receives',
        title: `${target.device.device_id} polls the south API and receives "${command}|${payload}"`,
        async run(signal) {
          const expected = `${target.device.device_id}@${command}|${payload}`;
          const received = await eventually(
            async () => {
              const body = await pollCommands(platform, target, signal);
              check(
                // iotagent-ul joins several queued commands with "|" (its manual says "#").
                new RegExp(`(^|[#|])${escapeRegExp(expected)}($|[#|])`).test(body),
                () =>
                  `the IoT Agent gave ${target.device.device_id} ${body ? `"${body}"` : 'no command'}, expected "${expected}"`,
              );
              return body;
            },
            { timeoutMs: env.settleTimeoutMs, signal },
          );
          return received;
        },
      },
      {
        id: 'delivered',
        title: `Orion shows ${command}_status DELIVERED`,
        run: status('DELIVERED'),
      },
      {
        id: 'device-replies',
        title: `${target.device.device_id} reports the result on the south API`,
        async run(signal) {
          await sendUltralight(
            platform,
            target,
            `${target.device.device_id}@${command}|${result}`,
            { signal },
          );
        },
      },
      {
        id: 'result-in-orion',
        title: `Orion shows ${command}_status OK and ${command}_info "${result}"`,
        run: status('OK', result),
      },
    ];
    return steps;
  },
};

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
