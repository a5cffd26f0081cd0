#!/usr/bin/env -S npx tsx
/**
 * `npm run policy:build`: compiles the tenancy policy to WebAssembly with the pinned OPA
 * (`opa build -t wasm`) into policies/build/authz.wasm, which the TypeScript services load.
 * The wasm is committed; a test rebuilds it and fails when it differs from the Rego.
 *
 *   npm run policy:build            write policies/build/authz.wasm
 *   npm run policy:build -- --check exit 1 when the committed wasm is stale
 *
 * Exit codes: 0 done (or up to date), 1 stale (--check), 3 OPA or tar missing.
 */
import { Command } from 'commander';

import { EXIT, runCli } from '../platform/cli.js';
import {
  WASM_PATH,
  buildPolicyWasm,
  committedWasmIsCurrent,
  writePolicyWasm,
} from './policy-wasm.js';

const program = new Command()
  .name('policy:build')
  .description('Compile policies/kitt4sme to policies/build/authz.wasm with the pinned OPA.')
  .option('--check', 'write nothing; exit 1 when the committed wasm differs from a fresh build')
  .action((opts: { check?: boolean }) => {
    if (opts.check) {
      if (!committedWasmIsCurrent()) {
        console.error(
          `policy:build --check: ${WASM_PATH} is stale; run \`npm run policy:build\` and commit it`,
        );
        process.exit(EXIT.failed);
      }
      console.error('policy:build --check: the committed wasm matches the Rego');
      return;
    }
    const bytes = buildPolicyWasm();
    writePolicyWasm(bytes);
    console.error(`policy:build: wrote ${WASM_PATH} (${bytes.length} bytes)`);
  });

// A documented error here is OPA missing or failing: exit 3.
await runCli(program, { exitCode: () => EXIT.environment });
