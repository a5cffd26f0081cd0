import { readFileSync } from 'node:fs';

import { loadPolicy } from '@open-policy-agent/opa-wasm';

import { WASM_ENTRYPOINTS, WASM_PATH, buildPolicyWasm } from '../../scripts/policy-wasm.js';

describe('policies/build/authz.wasm', () => {
  it('is what the Rego compiles to today (run `npm run policy:build` if this fails)', () => {
    const fresh = buildPolicyWasm();
    expect(readFileSync(WASM_PATH).equals(fresh)).toBe(true);
  });

  it('exports exactly the decision and allow entrypoints', async () => {
    const policy = await loadPolicy(readFileSync(WASM_PATH));
    expect(Object.keys(policy.entrypoints).sort()).toEqual([...WASM_ENTRYPOINTS].sort());
  });
});
