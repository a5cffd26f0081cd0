/**
 * The in-process policy and the API-key data: without it device routes fail closed (503),
 * with it only the tenant's own key passes, and new data replaces the old at once.
 */
import { describe, expect, it, beforeAll } from '@jest/globals';

import { apiKeyData } from '../../../platform/policy-data.js';
import { corpusPolicyData, envoyInput } from '../../../testing/support/corpus.js';
import type { TestKeys } from '../../../testing/support/tokens.js';
import { generateTestKeys, makeToken } from '../../../testing/support/tokens.js';
import { TenancyPolicy } from '../src/policy.js';

let keys: TestKeys;
let policy: TenancyPolicy;

beforeAll(async () => {
  keys = await generateTestKeys();
  policy = await TenancyPolicy.load({ config: corpusPolicyData() });
});

const send = async (key: string) =>
  policy.decide(
    envoyInput('POST', `/iota-south/iot/d?k=${key}&i=dev1`, {
      authorization: `Bearer ${await makeToken(keys, corpusPolicyData().issuer, {
        claims: { roles: ['manufracture:device'] },
      })}`,
      'fiware-service': 'manufracture',
    }),
    keys.jwks,
  );

describe('the in-process policy on a device route', () => {
  it('answers 503 while it has no API-key data (fail closed), and not for other routes', async () => {
    policy.setApiKeys(undefined);
    expect(await send('mnf-k3y-0001')).toMatchObject({
      allowed: false,
      http_status: 503,
      headers: expect.objectContaining({
        'x-kitt4sme-deny-reason': 'the API-key data is unavailable',
      }),
    });
    const orion = await policy.decide(
      envoyInput('GET', '/orion/v2/entities', {
        authorization: `Bearer ${await makeToken(keys, corpusPolicyData().issuer, {})}`,
        'fiware-service': 'manufracture',
      }),
      keys.jwks,
    );
    expect(orion.allowed).toBe(true);
  });

  it("admits the tenant's key, and drops it when new data no longer has it", async () => {
    policy.setApiKeys(
      apiKeyData([{ route: '/iota-south', key: 'mnf-k3y-0001', tenant: 'manufracture' }]),
    );
    expect((await send('mnf-k3y-0001')).allowed).toBe(true);
    policy.setApiKeys(
      apiKeyData([{ route: '/iota-south', key: 'mnf-k3y-0001', tenant: 'smithereens' }]),
    );
    expect(await send('mnf-k3y-0001')).toMatchObject({ allowed: false, http_status: 403 });
    policy.setApiKeys(apiKeyData([]));
    expect(await send('mnf-k3y-0001')).toMatchObject({ allowed: false, http_status: 403 });
  });
});
