/**
 * basic-sense: devices report measurements and the platform keeps them — provisioned through
 * the provisioning service, a QuantumLeap subscription per tenant, N measurements per device on
 * the south API of its protocol (Ultralight 2.0 text, JSON), then the entities in Orion and the
 * series in QuantumLeap. Every device's numbers must arrive as numbers (typed as declared,
 * though Ultralight carries text: the service casts them).
 *
 * Re-runnable: provisioning is idempotent and each run sends values of its own (see
 * ScenarioEnv.valueBase), so old data cannot make a check pass.
 */
import { AssertionFailed, check, eventually } from './lib/framework.js';
import type { Scenario, Step } from './lib/framework.js';
import type { ScenarioEnv } from './lib/env.js';
import {
  checkAttributes,
  checkTypedAttributes,
  devicesOf,
  entityId,
  provision,
  quantumLeapSubscriptions,
  quantumLeapValues,
  readEntity,
  sendMeasures,
} from './lib/fiware.js';
import type { PlacedDevice } from './lib/fiware.js';
import type { Platform } from './lib/platform.js';

export const basicSense: Scenario<ScenarioEnv> = {
  name: 'basic-sense',
  description:
    'provision, subscribe QuantumLeap, send Ultralight and JSON measurements, verify Orion and QuantumLeap',
  steps(env) {
    const { platform, data, measurements: n } = env;
    const devices = data.flatMap(devicesOf);
    /** The values each device was sent, in order. */
    const sent = new Map<PlacedDevice, number[]>();
    let sensingStarted = 0;
    const steps: Step[] = [];

    for (const file of data) {
      steps.push({
        id: `provision-${file.tenant}`,
        title: `provision ${file.tenant}'s service groups and devices through the provisioning service`,
        run: () => provision(platform, file),
      });
    }
    for (const file of data) {
      steps.push({
        id: `subscribe-${file.tenant}`,
        title: `ensure ${file.tenant}'s QuantumLeap subscription and see it in Orion`,
        async run() {
          const res = await platform
            .provisioning(file.tenant)
            .call<{ status: string; id?: string }>('PUT', '/v1/subscriptions/quantumleap');
          const subs = await quantumLeapSubscriptions(platform, file.tenant);
          check(
            subs.length > 0,
            `Orion lists no subscription notifying QuantumLeap for ${file.tenant} after the provisioning service answered "${res.body.status}"`,
          );
          check(subs.length === 1, () => duplicates(file.tenant, subs));
          const inactive = subs.filter((s) => s.status && s.status !== 'active');
          check(
            inactive.length < subs.length,
            () =>
              `${file.tenant}'s QuantumLeap subscriptions are not active: ${inactive.map((s) => `${s.id} ${s.status}`).join(', ')}`,
          );
          return `${res.body.status}; ${subs.length} in Orion`;
        },
      });
    }
    steps.push({
      id: 'sense',
      title: `send ${n} measurement${n === 1 ? '' : 's'} per device on the south API of its protocol`,
      async run(signal) {
        check(devices.length > 0, 'the scenario data has no device with an API key');
        sensingStarted = Date.now();
        for (let i = 1; i <= n; i++) {
          for (const d of devices) {
            const value = env.valueBase + i;
            await sendMeasures(platform, d, value, { signal });
            sent.set(d, [...(sent.get(d) ?? []), value]);
          }
        }
        const protocols = [...new Set(devices.map((d) => d.protocol))].join(', ');
        return `${n * devices.length} measurements from ${devices.length} devices (${protocols})`;
      },
    });
    for (const file of data) {
      const own = devices.filter((d) => d.tenant === file.tenant);
      steps.push({
        id: `orion-${file.tenant}`,
        title: `Orion holds the last measurement of each of ${file.tenant}'s entities`,
        async run(signal) {
          const deadline = Date.now() + env.settleTimeoutMs;
          for (const d of own) {
            const last = lastSent(sent, d);
            await eventually(
              async () => {
                const e = await readEntity(platform, d, { signal });
                // Typed as declared, whatever the protocol carries (Ultralight is text).
                checkTypedAttributes(
                  e,
                  Object.fromEntries(d.device.attributes.map((a) => [a.name, typed(a.type, last)])),
                );
                checkAttributes(
                  e,
                  Object.fromEntries(
                    d.device.static_attributes.map((a) => [a.name, String(a.value)]),
                  ),
                );
                check(e.TimeInstant?.value !== undefined, `${e.id} has no TimeInstant`);
                const at = Date.parse(String(e.TimeInstant.value));
                check(
                  at >= sensingStarted - 60_000,
                  () =>
                    `${e.id}.TimeInstant is ${JSON.stringify(e.TimeInstant?.value)}, older than this run`,
                );
              },
              { timeoutMs: Math.max(0, deadline - Date.now()), signal },
            );
          }
          return `${own.length} entit${own.length === 1 ? 'y' : 'ies'}`;
        },
      });
    }
    for (const file of data) {
      const own = devices.filter((d) => d.tenant === file.tenant);
      steps.push({
        id: `quantumleap-${file.tenant}`,
        title: `QuantumLeap holds the ${n} values of every attribute of ${file.tenant}'s entities`,
        async run(signal) {
          const deadline = Date.now() + env.settleTimeoutMs;
          let series = 0;
          for (const d of own) {
            for (const a of d.device.attributes) {
              // Compared with their types: a number must be a number in QuantumLeap too.
              const shown = (v: unknown) => JSON.stringify(v);
              const expected = (sent.get(d) ?? []).map((v) => shown(typed(a.type, v)));
              try {
                await eventually(
                  async () => {
                    const values = (await quantumLeapValues(platform, d, a.name, n, signal)).map(
                      shown,
                    );
                    check(
                      values.length === expected.length &&
                        values.every((v, i) => v === expected[i]),
                      () =>
                        `QuantumLeap's last ${n} values of ${entityId(d)}.${a.name} are [${values.join(', ')}], expected [${expected.join(', ')}]`,
                    );
                  },
                  { timeoutMs: Math.max(0, deadline - Date.now()), signal },
                );
              } catch (err) {
                throw await diagnose(platform, file.tenant, err);
              }
              series += 1;
            }
          }
          check(series > 0, `${file.tenant}'s devices have no active attribute to look up`);
          return `${series} series`;
        },
      });
    }
    return steps;
  },
};

/** Why more than one subscription feeding QuantumLeap is wrong, and what to do. */
function duplicates(tenant: string, subs: readonly { id: string; description?: string }[]): string {
  return `${subs.length} subscriptions notify QuantumLeap for ${tenant} (${subs.map((s) => `${s.id} "${s.description ?? ''}"`).join(', ')}): QuantumLeap stores every change once per subscription. Keep the provisioning service's and delete the others (DELETE /orion/v2/subscriptions/<id> with fiware-service: ${tenant})`;
}

function lastSent(sent: Map<PlacedDevice, number[]>, d: PlacedDevice): number {
  const values = sent.get(d);
  if (!values?.length) {
    throw new AssertionFailed(`no measurement was sent for ${d.device.device_id}`);
  }
  return values[values.length - 1]!;
}

/** Adds the likeliest cause to a QuantumLeap failure: no subscription feeding it. */
async function diagnose(platform: Platform, tenant: string, err: unknown): Promise<unknown> {
  if (!(err instanceof AssertionFailed)) return err;
  let subs;
  try {
    subs = await quantumLeapSubscriptions(platform, tenant);
  } catch {
    return err;
  }
  if (subs.length > 1) return new AssertionFailed(`${err.message}. ${duplicates(tenant, subs)}`);
  if (subs.length === 0) {
    return new AssertionFailed(
      `${err.message}. Orion has no subscription notifying QuantumLeap for ${tenant}: the QuantumLeap subscription is missing (PUT /provisioning/v1/subscriptions/quantumleap, or quantumleapSubscription: true in the devices file)`,
    );
  }
  const failing = subs.filter((s) => s.status === 'failed' || s.notification?.lastFailureReason);
  if (failing.length > 0) {
    return new AssertionFailed(
      `${err.message}. ${tenant}'s QuantumLeap subscription fails to notify: ${failing.map((s) => s.notification?.lastFailureReason ?? s.status).join('; ')}`,
    );
  }
  return err;
}

/** What a value sent as a measurement must be in Orion and QuantumLeap, by declared type. */
function typed(type: string, value: number): unknown {
  return ['Number', 'Integer', 'Float'].includes(type) ? value : String(value);
}
