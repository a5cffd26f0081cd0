/**
 * The pinned real components the tests run, installed into a project-local cache.
 *
 * OPA's version comes from the OPA image the platform deploys (cdk8s/config/platform.ts), so
 * the tests always run the engine the cluster runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { platform } from '../cdk8s/config/platform.js';
import { PlatformError } from '../services/lib/errors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where pinned tools live: .cache/tools/<name>-<version>/. */
export const TOOLS_DIR = join(ROOT, '.cache', 'tools');

/** The OPA engine version of the deployed image, e.g. `1.21.1` from `1.21.1-envoy-static`. */
export function opaVersion(): string {
  const m = /^v?([0-9]+\.[0-9]+\.[0-9]+)/.exec(platform.images.opa.tag);
  if (!m)
    throw new TypeError(`cannot read an OPA version from image tag ${platform.images.opa.tag}`);
  return m[1]!;
}

/** Path of the pinned OPA binary (it may not be installed yet; see {@link ensureOpa}). */
export function opaPath(): string {
  return join(TOOLS_DIR, `opa-${opaVersion()}`, 'opa');
}

/**
 * Installs the pinned OPA with `go install` unless it is there already; returns its path.
 * Idempotent and cached: a second call costs one `stat`.
 *
 * @throws PlatformError ERR_TOOL_MISSING when Go is not installed or the build fails.
 */
export function ensureOpa(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const bin = opaPath();
  if (existsSync(bin)) return bin;
  const version = opaVersion();
  const dir = join(TOOLS_DIR, `opa-${version}`);
  const staging = `${dir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  log(`setup: installing OPA v${version} with go install (first run only, about a minute)`);
  const r = spawnSync('go', ['install', `github.com/open-policy-agent/opa@v${version}`], {
    env: { ...process.env, GOBIN: staging, CGO_ENABLED: '0', GOFLAGS: '-trimpath' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.error || r.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not install OPA v${version} with go install (${r.error?.message ?? `exit ${r.status}`})`,
      'install Go (1.24 or newer) with access to the Go module proxy, then run the command again',
    );
  }
  // Swap the finished install in whole, so an interrupted build never looks installed.
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  log(`setup: OPA v${version} installed at ${bin}`);
  return bin;
}
