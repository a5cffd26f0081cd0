/**
 * The pinned real components the tests run, installed into a project-local cache.
 *
 * OPA's version comes from the OPA image the platform deploys (cdk8s/config/platform.ts), so
 * the tests always run the engine the cluster runs.
 */
import { spawnSync } from 'node:child_process';
import type { SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
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

/**
 * Fills `dir` through `fill(staging)`, which returns an error text when it fails: the
 * finished install is swapped in whole, so an interrupted one never looks installed.
 * @returns the error text, or undefined once `dir` holds the install.
 */
function installAtomically(dir: string, fill: (staging: string) => string | undefined) {
  const staging = `${dir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const failed = fill(staging);
  if (failed !== undefined) {
    rmSync(staging, { recursive: true, force: true });
    return failed;
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return undefined;
}

/** The error text of a finished child process, or undefined when it succeeded. */
function spawnFailure(r: ReturnType<typeof spawnSync>): string | undefined {
  return r.error || r.status !== 0 ? (r.error?.message ?? `exit ${r.status}`) : undefined;
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
  log(`setup: installing OPA v${version} with go install (first run only, about a minute)`);
  const failed = installAtomically(join(TOOLS_DIR, `opa-${version}`), (staging) =>
    spawnFailure(
      spawnSync('go', ['install', `github.com/open-policy-agent/opa@v${version}`], {
        env: { ...process.env, GOBIN: staging, CGO_ENABLED: '0', GOFLAGS: '-trimpath' },
        stdio: ['ignore', 'inherit', 'inherit'],
      }),
    ),
  );
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not install OPA v${version} with go install (${failed})`,
      'install Go (1.24 or newer) with access to the Go module proxy, then run the command again',
    );
  log(`setup: OPA v${version} installed at ${bin}`);
  return bin;
}

/** The Keycloak version of the deployed image, e.g. `26.7.3`. */
export function keycloakVersion(): string {
  const m = /^([0-9]+\.[0-9]+\.[0-9]+)$/.exec(platform.images.keycloak.tag);
  if (!m)
    throw new TypeError(
      `cannot read a Keycloak version from image tag ${platform.images.keycloak.tag}`,
    );
  return m[1]!;
}

/** Home of the pinned Keycloak distribution (it may not be installed yet). */
export function keycloakHome(): string {
  return join(TOOLS_DIR, `keycloak-${keycloakVersion()}`);
}

/**
 * Installs the pinned `org.keycloak:keycloak-quarkus-dist` from Maven Central (through the
 * local Maven repository) into .cache/tools unless it is there; returns its home.
 *
 * @throws PlatformError ERR_TOOL_MISSING when Maven or tar is missing or the download fails.
 */
export function ensureKeycloak(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const home = keycloakHome();
  if (existsSync(join(home, 'bin', 'kc.sh'))) return home;
  const version = keycloakVersion();
  const artifact = `org.keycloak:keycloak-quarkus-dist:${version}:tar.gz`;
  const m2 = process.env.MAVEN_REPO ?? join(process.env.HOME ?? '/root', '.m2', 'repository');
  const archive = join(
    m2,
    'org/keycloak/keycloak-quarkus-dist',
    version,
    `keycloak-quarkus-dist-${version}.tar.gz`,
  );
  const missing = (what: string, err: string) =>
    new PlatformError(
      'ERR_TOOL_MISSING',
      `could not install Keycloak ${version}: ${what} (${err})`,
      'install Maven (apt-get install maven) with access to Maven Central, then run the command again',
    );
  if (!existsSync(archive)) {
    log(`setup: fetching ${artifact} with Maven (first run only, about 180 MB)`);
    const r = spawnSync(
      'mvn',
      ['-q', '-B', 'dependency:get', `-Dartifact=${artifact}`, '-Dtransitive=false'],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const failed = spawnFailure(r) ?? (existsSync(archive) ? undefined : 'no archive');
    if (failed !== undefined) throw missing('mvn dependency:get failed', failed);
  }
  const unpackFailed = installAtomically(home, (staging) =>
    spawnFailure(
      spawnSync('tar', ['-xzf', archive, '-C', staging, '--strip-components=1'], {
        stdio: ['ignore', 'inherit', 'inherit'],
      }),
    ),
  );
  if (unpackFailed !== undefined) throw missing('unpacking failed', unpackFailed);
  log(`setup: Keycloak ${version} installed at ${home}`);
  return home;
}

/** The major version of a JDK home, from its `release` file. */
function jdkMajor(home: string): number {
  try {
    const m = /JAVA_VERSION="(\d+)/.exec(readFileSync(join(home, 'release'), 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * A JDK of at least Java 21, which Keycloak 26 needs: JAVA_HOME when it is one, else the
 * newest under /usr/lib/jvm.
 * @throws PlatformError ERR_TOOL_MISSING when there is none.
 */
export function java21Home(): string {
  const candidates = [
    ...(process.env.JAVA_HOME ? [process.env.JAVA_HOME] : []),
    ...(existsSync('/usr/lib/jvm')
      ? readdirSync('/usr/lib/jvm').map((d) => join('/usr/lib/jvm', d))
      : []),
  ].filter((h) => existsSync(join(h, 'bin', 'java')));
  const best = candidates
    .map((h) => ({ h, v: jdkMajor(h) }))
    .filter((c) => c.v >= 21)
    .sort((a, b) => b.v - a.v)[0];
  if (!best)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      'Keycloak needs Java 21 or newer and none was found (JAVA_HOME, /usr/lib/jvm)',
      'install a JDK 21+ (apt-get install openjdk-21-jdk-headless or Temurin) or point JAVA_HOME at one',
    );
  return best.h;
}

/** Debian's Chromium, which the browser-login tests drive with playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Installs Debian's chromium package when it is missing and the user is root (as in CI);
 * returns its path.
 * @throws PlatformError ERR_TOOL_MISSING when it is missing and cannot be installed.
 */
export function ensureChromium(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const fix =
    'install Debian’s chromium package (sudo apt-get install chromium), then run the command again';
  if (process.getuid?.() !== 0)
    throw new PlatformError('ERR_TOOL_MISSING', `${CHROMIUM} is not installed`, fix);
  log('setup: installing Debian’s chromium with apt-get (first run only)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const opts: SpawnSyncOptions = { stdio: ['ignore', 'ignore', 'inherit'], env };
  const failed =
    spawnFailure(spawnSync('apt-get', ['update', '-qq'], opts)) ??
    spawnFailure(
      spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], opts),
    ) ??
    (existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} after the install`);
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `${CHROMIUM} is not installed and apt-get could not install it (${failed})`,
      fix,
    );
  return CHROMIUM;
}
