/**
 * tenant-isolation must notice a policy that lets one tenant into another: the local stack's
 * OPA runs a copy of the Rego whose tenant check ignores the token's tenants (a plausible
 * one-line regression), and the scenario has to fail on exactly the cross-tenant steps — with
 * a message naming the request and the status — while everything the broken rule does not
 * govern still passes.
 */
import { rmSync } from 'node:fs';

import { scenarioEnv } from '../lib/env.js';
import { runScenarios } from '../lib/framework.js';
import { tenantIsolation } from '../tenant-isolation.js';
import type { ScenarioStack } from '../../testing/stack/scenario-stack.js';
import {
  leakyPolicyDir,
  STACK_STOP_TIMEOUT_MS,
  startScenarioStack,
} from '../../testing/stack/scenario-stack.js';

let stack: ScenarioStack;
let dir: string;

beforeAll(async () => {
  dir = leakyPolicyDir();
  stack = await startScenarioStack({ policyDir: dir });
}, 300_000);
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
}, STACK_STOP_TIMEOUT_MS);

it('tenant-isolation fails on every cross-tenant step when the policy lets them through', async () => {
  const run = await runScenarios(
    [tenantIsolation],
    scenarioEnv(stack.platform(), { settleTimeoutMs: 10_000 }),
    { skip: ['tenant-isolation/expired-token'] },
  );
  const steps = run.results[0]!.steps;
  const failed = steps.filter((s) => s.status === 'failed').map((s) => s.id);
  expect(failed.sort()).toEqual(
    [
      'iota-north-other-tenant-header',
      'orion-other-tenant-header',
      'orion-write-other-tenant',
      'quantumleap-other-tenant-header',
      'south-other-tenant-header',
    ].sort(),
  );
  expect(run.summary.ok).toBe(false);
  const orion = steps.find((s) => s.id === 'orion-other-tenant-header')!;
  expect(orion.message).toMatch(
    /^manufracture's token reading Orion with fiware-service smithereens is refused \(403\): expected 403, got 200 from GET \/orion\/v2\/entities/,
  );
  const write = steps.find((s) => s.id === 'orion-write-other-tenant')!;
  expect(write.message).toMatch(
    /expected 403, got 204 from POST \/orion\/v2\/entities\/urn:ngsi:bot:2\/attrs/,
  );
  // The provisioning service judges tenancy itself with the real policy (wasm): still refused.
  expect(steps.find((s) => s.id === 'provisioning-other-tenant-header')!.status).toBe('passed');
  // Not the tenant rule: still refused.
  for (const id of ['no-token', 'forged-token', 'device-role-iota-north', 'device-role-orion']) {
    expect(steps.find((s) => s.id === id)!.status).toBe('passed');
  }
}, 120_000);
