/**
 * tenant-isolation: one tenant can never read or write another's data, and the same entity id
 * lives independently in both tenants (the anchor's urn:ngsi:bot:2).
 *
 * Every attempt is its own step (a leak in one API does not hide another). An attempt passes
 * only when it is refused with the expected status; a refusal with another status fails too,
 * since it means a different rule stopped it than the one under test.
 */
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose';

import { AssertionFailed, StepSkipped, check, eventually } from './lib/framework.js';
import type { Scenario, Step } from './lib/framework.js';
import type { ScenarioEnv } from './lib/env.js';
import {
  checkAttributes,
  devicesOf,
  entityId,
  provision,
  readEntity,
  sendUltralight,
  ulPayload,
} from './lib/fiware.js';
import type { PlacedDevice } from './lib/fiware.js';
import type { CallOptions } from './lib/platform.js';
import { DENY_REASON_HEADER } from '../platform/tenancy.js';
import { expectStatus } from './lib/platform.js';

export const tenantIsolation: Scenario<ScenarioEnv> = {
  name: 'tenant-isolation',
  description: 'every cross-tenant attempt is refused; the same entity id lives in both tenants',
  independentSteps: true,
  steps(env) {
    const { platform, data } = env;
    const [a, b] = data;
    if (!a || !b) {
      return [fails('two-tenants', 'the scenario data must hold at least two tenants')];
    }
    const twin = sharedEntity(devicesOf(a), devicesOf(b));
    if (!twin) {
      return [
        fails('shared-id', `${a.tenant} and ${b.tenant} share no entity id in the scenario data`),
      ];
    }
    const [da, db] = twin;
    const id = entityId(da);
    const valueA = env.valueBase + 101;
    const valueB = env.valueBase + 202;
    const expect = (d: PlacedDevice, v: number) =>
      Object.fromEntries(d.device.attributes.map((x) => [x.name, String(v)]));

    /**
     * An attempt that must be refused with `status`, and, where the gateway says why
     * (`x-kitt4sme-deny-reason`), for a reason matching `reason`: a refusal by another rule
     * than the one under test would hide a hole in this one.
     */
    const refused = (
      stepId: string,
      title: string,
      status: number,
      reason: RegExp,
      call: () => Promise<CallOptions>,
    ): Step => ({
      id: stepId,
      title,
      async run(signal) {
        const reply = await platform.call({ ...(await call()), signal });
        expectStatus(reply, status, title);
        const why = reply.headers.get(DENY_REASON_HEADER);
        check(
          why === null || reason.test(why),
          () => `${reply.request} was refused, but for "${why}", not for the reason under test`,
        );
        check(
          !reply.text.includes(id),
          `${reply.request} answered ${reply.status} but its body names ${id}: data leaked`,
        );
        return why ?? undefined;
      },
    });

    const readOther = (token: Promise<string> | string): Promise<CallOptions> =>
      Promise.resolve(token).then((t) => ({
        service: 'orion',
        path: `/v2/entities?type=${encodeURIComponent(da.device.entity_type ?? 'Thing')}`,
        tenant: b.tenant,
        token: t,
      }));

    return [
      {
        id: 'setup',
        title: `${id} holds different values in ${a.tenant} and ${b.tenant}`,
        async run(signal) {
          await provision(platform, a);
          await provision(platform, b);
          await sendUltralight(platform, da, ulPayload(da.device, valueA), { signal });
          await sendUltralight(platform, db, ulPayload(db.device, valueB), { signal });
          for (const [d, v] of [
            [da, valueA],
            [db, valueB],
          ] as const) {
            await eventually(
              async () => checkAttributes(await readEntity(platform, d), expect(d, v)),
              {
                timeoutMs: env.settleTimeoutMs,
                signal,
              },
            );
          }
        },
      },
      {
        id: 'same-id-independent',
        title: `a write to ${id} in ${a.tenant} leaves ${id} in ${b.tenant} as it was`,
        async run(signal) {
          const next = valueA + 1;
          await sendUltralight(platform, da, ulPayload(da.device, next), { signal });
          await eventually(
            async () => checkAttributes(await readEntity(platform, da), expect(da, next)),
            {
              timeoutMs: env.settleTimeoutMs,
              signal,
            },
          );
          checkAttributes(await readEntity(platform, db), expect(db, valueB));
        },
      },
      refused(
        'orion-other-tenant-header',
        `${a.tenant}'s token reading Orion with fiware-service ${b.tenant} is refused (403)`,
        403,
        /tenant/,
        () => readOther(platform.token(a.tenant)),
      ),
      refused(
        'quantumleap-other-tenant-header',
        `${a.tenant}'s token reading QuantumLeap with fiware-service ${b.tenant} is refused (403)`,
        403,
        /tenant/,
        async () => ({
          service: 'quantumleap',
          path: `/v2/entities/${encodeURIComponent(id)}`,
          tenant: b.tenant,
          token: await platform.token(a.tenant),
        }),
      ),
      refused(
        'iota-north-other-tenant-header',
        `${a.tenant}'s token listing the IoT Agent's devices of ${b.tenant} is refused (403)`,
        403,
        /tenant/,
        async () => ({
          service: 'iotAgentUl',
          port: 'north',
          path: '/iot/devices',
          tenant: b.tenant,
          servicePath: db.servicePath,
          token: await platform.token(a.tenant),
        }),
      ),
      refused(
        'provisioning-other-tenant-header',
        `${a.tenant}'s token listing ${b.tenant}'s devices on the provisioning API is refused (403)`,
        403,
        /tenant/,
        async () => ({
          service: 'provisioning',
          path: '/v1/devices',
          tenant: b.tenant,
          servicePath: db.servicePath,
          token: await platform.token(a.tenant),
        }),
      ),
      {
        id: 'orion-write-other-tenant',
        title: `${b.tenant}'s token writing ${a.tenant}'s ${id} is refused (403) and changes nothing`,
        async run(signal) {
          const attr = da.device.attributes[0]!;
          const reply = await platform.call({
            method: 'POST',
            service: 'orion',
            path: `/v2/entities/${encodeURIComponent(id)}/attrs?type=${encodeURIComponent(da.device.entity_type ?? 'Thing')}`,
            tenant: a.tenant,
            servicePath: da.servicePath,
            token: await platform.token(b.tenant),
            json: { [attr.name]: { type: attr.type, value: -1 } },
            signal,
          });
          expectStatus(reply, 403, `${b.tenant}'s token writing ${a.tenant}'s entity`);
          const e = await readEntity(platform, da);
          check(
            String(e[attr.name]?.value) !== '-1',
            `${a.tenant}'s ${id}.${attr.name} was overwritten by ${b.tenant}'s token`,
          );
        },
      },
      refused(
        'no-token',
        `reading ${a.tenant}'s entities without a token is refused (401)`,
        401,
        /no bearer token/,
        async () => ({ service: 'orion', path: '/v2/entities', tenant: a.tenant }),
      ),
      refused(
        'expired-token',
        `reading ${a.tenant}'s entities with an expired token of the realm is refused (401)`,
        401,
        /expired/,
        async () => {
          const token = await platform.expiredToken(a.tenant);
          if (!token) {
            throw new StepSkipped(
              'no expired token: set KITT4SME_EXPIRED_TOKEN to a token of the realm fetched more than 5 minutes ago (npm run -s token -- --tenant <tenant>), or deselect with --skip tenant-isolation/expired-token',
            );
          }
          const exp = Number(decodeJwt(token).exp);
          check(Number.isFinite(exp), 'KITT4SME_EXPIRED_TOKEN has no exp claim');
          // The policy tolerates some clock skew, and clocks drift: wait out both for a token
          // that expired just now.
          const wait = (exp + platform.clockSkewSeconds + 5) * 1000 - Date.now();
          if (wait > 60_000) {
            throw new AssertionFailed(
              `the expired token is still valid for the policy for ${Math.round(wait / 1000)} s: run again after that, or deselect with --skip tenant-isolation/expired-token`,
            );
          }
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          return { service: 'orion', path: '/v2/entities', tenant: a.tenant, token };
        },
      ),
      refused(
        'forged-token',
        `a token with ${a.tenant}'s claims signed by a key not of the realm is refused (401)`,
        401,
        /signature|unknown key/,
        async () => ({
          service: 'orion',
          path: '/v2/entities',
          tenant: a.tenant,
          token: await forge(await platform.token(a.tenant)),
        }),
      ),
      refused(
        'device-role-iota-north',
        `${a.tenant}'s device token on the IoT Agent's provisioning API is refused (403)`,
        403,
        /role/,
        async () => ({
          service: 'iotAgentUl',
          port: 'north',
          path: '/iot/devices',
          tenant: a.tenant,
          servicePath: da.servicePath,
          token: await platform.token(a.tenant, 'devices'),
        }),
      ),
      refused(
        'device-role-orion',
        `${a.tenant}'s device token reading Orion is refused (403)`,
        403,
        /role/,
        async () => ({
          service: 'orion',
          path: '/v2/entities',
          tenant: a.tenant,
          token: await platform.token(a.tenant, 'devices'),
        }),
      ),
      refused(
        'south-other-tenant-header',
        `${a.tenant}'s device token sending as ${b.tenant} on the south API is refused (403)`,
        403,
        /tenant/,
        async () => ({
          method: 'POST',
          service: 'iotAgentUl',
          port: 'south',
          path: `${db.resource}?${new URLSearchParams({ k: db.apikey, i: db.device.device_id })}`,
          tenant: b.tenant,
          token: await platform.token(a.tenant, 'devices'),
          text: ulPayload(db.device, -1),
        }),
      ),
      refused(
        'south-other-tenant-key',
        `${a.tenant}'s device token sending with ${b.tenant}'s API key as ${a.tenant} is refused (403)`,
        403,
        /API key/,
        async () => ({
          method: 'POST',
          service: 'iotAgentUl',
          port: 'south',
          path: `${db.resource}?${new URLSearchParams({ k: db.apikey, i: db.device.device_id })}`,
          tenant: a.tenant,
          token: await platform.token(a.tenant, 'devices'),
          text: ulPayload(db.device, -1),
        }),
      ),
    ];
  },
};

/** A step that fails with `message` (the data cannot support the scenario). */
function fails(id: string, message: string): Step {
  return {
    id,
    title: 'the scenario data fits the scenario',
    run: () => Promise.reject(new AssertionFailed(message)),
  };
}

/** A device of each tenant with the same entity id. */
function sharedEntity(
  a: readonly PlacedDevice[],
  b: readonly PlacedDevice[],
): [PlacedDevice, PlacedDevice] | undefined {
  for (const x of a) {
    const y = b.find((d) => entityId(d) === entityId(x));
    if (y) return [x, y];
  }
  return undefined;
}

/** The claims and key id of a real token, signed with a key pair made up here. */
async function forge(real: string): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  const header = decodeProtectedHeader(real);
  return new SignJWT(decodeJwt(real))
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(header.kid ? { kid: header.kid } : {}) })
    .sign(privateKey);
}
