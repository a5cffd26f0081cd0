/**
 * Building the tenancy policy to WebAssembly with the pinned OPA.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { PlatformError } from '../platform/errors.js';
import { ensureOpa } from '../toolchain/tools.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The committed wasm the services load. */
export const WASM_PATH = join(ROOT, 'policies', 'build', 'authz.wasm');

/** The rules compiled as wasm entrypoints. */
export const WASM_ENTRYPOINTS = ['kitt4sme/authz/decision', 'kitt4sme/authz/allow'] as const;

/** Compiles policies/kitt4sme (tests excluded) and returns the wasm module's bytes. */
export function buildPolicyWasm(): Buffer {
  const opa = ensureOpa();
  const dir = mkdtempSync(join(tmpdir(), 'policy-wasm-'));
  try {
    const bundle = join(dir, 'bundle.tar.gz');
    const build = spawnSync(
      opa,
      [
        'build',
        '-t',
        'wasm',
        ...WASM_ENTRYPOINTS.flatMap((e) => ['-e', e]),
        '--ignore',
        '*_test.rego',
        '-o',
        bundle,
        // Relative: the wasm names its source files in error locations, and must not depend
        // on where the repository is checked out.
        'policies/kitt4sme',
      ],
      { encoding: 'utf8', cwd: ROOT },
    );
    if (build.status !== 0) throw new Error(`opa build failed: ${build.stderr}`);
    const untar = spawnSync('tar', ['-xzf', bundle, '-C', dir, '/policy.wasm'], {
      encoding: 'utf8',
    });
    if (untar.error) {
      throw new PlatformError(
        'ERR_TOOL_MISSING',
        'tar is not installed',
        'install tar and run again',
        { cause: untar.error },
      );
    }
    if (untar.status !== 0) throw new Error(`cannot extract policy.wasm: ${untar.stderr}`);
    return readFileSync(join(dir, 'policy.wasm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the wasm where the services load it from. */
export function writePolicyWasm(bytes: Buffer): void {
  writeFileSync(WASM_PATH, bytes);
}

/** Whether the committed wasm equals a fresh build of the Rego. */
export function committedWasmIsCurrent(): boolean {
  return existsSync(WASM_PATH) && readFileSync(WASM_PATH).equals(buildPolicyWasm());
}
