/**
 * The pinned real components the tests run, installed into a project-local cache.
 *
 * Versions come from the platform context (the registry's pins, platform/components.ts, and
 * the config's overrides, platform/config/platform.ts), so the tests always run
 * what the cluster runs: OPA from the OPA image tag, kube-apiserver from
 * `cluster.kubernetesVersion` (built from k8s.io/kubernetes through the Go module proxy), and
 * the upstream CRDs from the Argo CD and Istio versions.
 */
import { spawnSync } from 'node:child_process';
import type { SpawnSyncOptions } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadPlatformContext } from '../platform/context.js';
import { PlatformError } from '../platform/errors.js';

/** The validated context, loaded once: the pins the tools install. */
let loaded: ReturnType<typeof loadPlatformContext> | undefined;
const pins = () => (loaded ??= loadPlatformContext());

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where pinned tools live: .cache/tools/<name>-<version>/. */
export const TOOLS_DIR = join(ROOT, '.cache', 'tools');

/** The OPA engine version of the deployed image, e.g. `1.21.1` from `1.21.1-envoy-static`. */
export function opaVersion(): string {
  const m = /^v?([0-9]+\.[0-9]+\.[0-9]+)/.exec(pins().imageSpec('opa').tag);
  if (!m)
    throw new TypeError(`cannot read an OPA version from image tag ${pins().imageSpec('opa').tag}`);
  return m[1]!;
}

/**
 * Fills `dir` through `fill(staging)`, which returns an error text when it fails: the
 * finished install is swapped in whole, so an interrupted one never looks installed. The
 * staging folder is the process's own: test files run in parallel may install the same
 * tool at once (a filtered `npm test` skips the set-up), and the last to finish swaps in.
 * @returns the error text, or undefined once `dir` holds the install.
 */
function installAtomically(dir: string, fill: (staging: string) => string | undefined) {
  const staging = `${dir}.partial-${process.pid}`;
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

/** The Go module Alertmanager is built from. */
const ALERTMANAGER_MODULE = 'github.com/prometheus/alertmanager';

/** The Alertmanager version of the deployed image, e.g. `0.35.0` from `v0.35.0`. */
export function alertmanagerVersion(): string {
  const tag = pins().imageSpec('alertmanager').tag;
  const m = /^v?([0-9]+\.[0-9]+\.[0-9]+)$/.exec(tag);
  if (!m) throw new TypeError(`cannot read an Alertmanager version from image tag ${tag}`);
  return m[1]!;
}

/** Path of the pinned Alertmanager binary (it may not be installed yet; see {@link ensureAlertmanager}). */
export function alertmanagerPath(): string {
  return join(TOOLS_DIR, `alertmanager-${alertmanagerVersion()}`, 'alertmanager');
}

/**
 * Builds the pinned Alertmanager (the image tag's version, so the tests run what the chart
 * values deploy) from the Go module proxy unless it is there already; returns its path.
 * Idempotent and cached: a second call costs one `stat`. NOTE (9)
 *
 * @throws PlatformError ERR_TOOL_MISSING when Go is not installed or the build fails.
 */
export function ensureAlertmanager(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const bin = alertmanagerPath();
  if (existsSync(bin)) return bin;
  const version = alertmanagerVersion();
  log(
    `setup: building Alertmanager v${version} from ${ALERTMANAGER_MODULE} through the Go module proxy (first run only, about 2 minutes)`,
  );
  const started = Date.now();
  const failed = installAtomically(join(TOOLS_DIR, `alertmanager-${version}`), (staging) => {
    const src = join(staging, 'src');
    const copied = copyModule(ALERTMANAGER_MODULE, `v${version}`, src);
    if (copied !== undefined) return copied;
    // The web UI's built assets are not in the module (NOTE 9): the API needs none.
    for (const ui of ['elm', 'mantine']) {
      const dir = join(src, 'ui', 'app', 'dist', ui);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'index.html'),
        '<!doctype html><title>Alertmanager (no UI)</title>\n',
      );
    }
    const built = spawnFailure(
      spawnSync(
        'go',
        [
          'build',
          '-trimpath',
          '-ldflags',
          `-s -w -X github.com/prometheus/common/version.Version=${version}`,
          '-o',
          join(staging, 'alertmanager'),
          './cmd/alertmanager',
        ],
        {
          cwd: src,
          env: { ...process.env, CGO_ENABLED: '0', GOWORK: 'off', GOFLAGS: '-mod=mod' },
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      ),
    );
    rmSync(src, { recursive: true, force: true });
    return built === undefined ? undefined : `go build ./cmd/alertmanager: ${built}`;
  });
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not build Alertmanager v${version} from ${ALERTMANAGER_MODULE}@v${version} (${failed})`,
      'install Go (1.25 or newer) with access to the Go module proxy, then run the command again',
    );
  log(
    `setup: Alertmanager v${version} built in ${Math.round((Date.now() - started) / 1000)} s at ${bin}`,
  );
  return bin;
}

/** The Keycloak version of the deployed image, e.g. `26.7.3`. */
export function keycloakVersion(): string {
  const m = /^([0-9]+\.[0-9]+\.[0-9]+)$/.exec(pins().imageSpec('keycloak').tag);
  if (!m)
    throw new TypeError(
      `cannot read a Keycloak version from image tag ${pins().imageSpec('keycloak').tag}`,
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

/** Debian's etcd (the `etcd-server` package), the store of the tests' kube-apiserver. */
export const ETCD = '/usr/bin/etcd';

/** Debian's ShellCheck, which lints the repository's shell scripts. */
export const SHELLCHECK = '/usr/bin/shellcheck';

/**
 * Returns `bin`, installing Debian's `pkg` with apt-get when it is missing and the user is
 * root (as in CI).
 * @throws PlatformError ERR_TOOL_MISSING when it is missing and cannot be installed.
 */
function ensureDebianPackage(bin: string, pkg: string, log: (msg: string) => void): string {
  ensureDebianPackages([{ bin, pkg }], log);
  return bin;
}

/**
 * Installs, in one apt-get run, the Debian packages whose program `bin` is missing, when the
 * user is root (as in CI).
 * @throws PlatformError ERR_TOOL_MISSING when one is missing and cannot be installed.
 */
function ensureDebianPackages(
  wanted: readonly { bin: string; pkg: string }[],
  log: (msg: string) => void,
): void {
  const missing = wanted.filter((w) => !existsSync(w.bin));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  const fix = `install Debian’s ${pkgs.join(', ')} (sudo apt-get install ${pkgs.join(' ')}), then run the command again`;
  const bins = missing.map((m) => m.bin).join(', ');
  if (process.getuid?.() !== 0)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `${bins} ${missing.length > 1 ? 'are' : 'is'} not installed`,
      fix,
    );
  log(`setup: installing Debian’s ${pkgs.join(', ')} with apt-get (first run only)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const opts: SpawnSyncOptions = { stdio: ['ignore', 'ignore', 'inherit'], env };
  const failed =
    spawnFailure(spawnSync('apt-get', ['update', '-qq'], opts)) ??
    spawnFailure(
      spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], opts),
    ) ??
    (missing.every((m) => existsSync(m.bin))
      ? undefined
      : `no ${missing
          .filter((m) => !existsSync(m.bin))
          .map((m) => m.bin)
          .join(', ')} after the install`);
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `${bins} ${missing.length > 1 ? 'are' : 'is'} not installed and apt-get could not install ${missing.length > 1 ? 'them' : 'it'} (${failed})`,
      fix,
    );
}

/**
 * Installs Debian's chromium package when it is missing and the user is root (as in CI);
 * returns its path.
 * @throws PlatformError ERR_TOOL_MISSING when it is missing and cannot be installed.
 */
export function ensureChromium(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  return ensureDebianPackage(CHROMIUM, 'chromium', log);
}

/**
 * Installs Debian's etcd-server package (etcd 3.4 on Debian 12) when it is missing and the
 * user is root; returns the etcd path.
 * @throws PlatformError ERR_TOOL_MISSING when it is missing and cannot be installed.
 */
export function ensureEtcd(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  return ensureDebianPackage(ETCD, 'etcd-server', log);
}

/**
 * Installs Debian's shellcheck package when it is missing and the user is root; returns its
 * path.
 * @throws PlatformError ERR_TOOL_MISSING when it is missing and cannot be installed.
 */
export function ensureShellcheck(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  return ensureDebianPackage(SHELLCHECK, 'shellcheck', log);
}

/** Debian's PostgreSQL server and client programs live in /usr/lib/postgresql/<major>/bin. */
const POSTGRES_LIB = '/usr/lib/postgresql';

/** The newest Debian PostgreSQL with a server, or undefined. */
function installedPostgres(): { major: number; binDir: string } | undefined {
  if (!existsSync(POSTGRES_LIB)) return undefined;
  return readdirSync(POSTGRES_LIB)
    .filter((d) => /^\d+$/.test(d))
    .map((d) => ({ major: Number(d), binDir: join(POSTGRES_LIB, d, 'bin') }))
    .filter((v) =>
      ['postgres', 'initdb', 'pg_dump', 'pg_restore'].every((b) => existsSync(join(v.binDir, b))),
    )
    .sort((a, b) => b.major - a.major)[0];
}

/**
 * Debian's PostgreSQL (the `postgresql` package: server and client of Debian's supported
 * major), installed with apt-get when it is missing and the user is root; returns its major
 * version and bin directory (initdb, postgres, pg_dump, pg_restore, psql).
 * @throws PlatformError ERR_TOOL_MISSING when it is missing and cannot be installed.
 */
export function ensurePostgres(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): { major: number; binDir: string } {
  const found = installedPostgres();
  if (found) return found;
  // postgresql-common's pg_ctlcluster arrives with the server package.
  ensureDebianPackage('/usr/bin/pg_ctlcluster', 'postgresql', log);
  const installed = installedPostgres();
  if (!installed)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `Debian's postgresql package is installed but ${POSTGRES_LIB}/<major>/bin has no server`,
      'reinstall it (sudo apt-get install --reinstall postgresql-15 or the major your Debian has), then run the command again',
    );
  return installed;
}

/**
 * Test-only servers and tools, pinned here (the platform runs none of them): what the backup
 * tests run the platform's MongoDB backup script against.
 */
export const TEST_TOOL_PINS = {
  ferretdb: {
    module: 'github.com/FerretDB/FerretDB',
    version: 'v1.24.2',
    why: 'last FerretDB 1.x: a MongoDB-compatible server in one Go binary with an embedded SQLite backend (2.x needs PostgreSQL with the DocumentDB extension); it stands in for mongo:8.0 in the backup tests',
  },
  mongoTools: {
    module: 'github.com/mongodb/mongo-tools',
    // NOTE (2)
    version: 'v0.0.0-20250715155915-887641268977',
    why: 'mongodump and mongorestore of the MongoDB Database Tools (after 100.12.2), the newest commit found that the Go module proxy serves; the mongo image runs its own 100.x of the same tools',
  },
  helm: {
    module: 'helm.sh/helm/v4',
    // NOTE (5)
    version: 'v4.2.1',
    why: 'the helm that Argo CD renders our chart Applications with: argo-cd v3.5.4 ships helm 4.2.1 in its image (hack/tool-versions.sh, helm4_version); the chart tests run `helm template` with it',
  },
  istioCharts: {
    module: 'istio.io/istio',
    // NOTE (6)
    version: 'v0.0.0-20260827124520-eed52ebb66ad',
    why: 'the Istio charts (base, istiod, gateway, cni) of the release-1.31 branch (VERSION 1.31, chart version 1.0.0), the only source of Istio charts the tests can reach; the platform installs the released 1.31.1 charts',
  },
} as const;

/** Path of the FerretDB binary the tests run (it may not be built yet; see {@link ensureFerretDb}). */
export function ferretDbPath(): string {
  return join(TOOLS_DIR, `ferretdb-${TEST_TOOL_PINS.ferretdb.version}`, 'ferretdb');
}

/**
 * Copies a module from Go's module cache (fetched through the Go module proxy) into `dir`,
 * writable, to build it there.
 * @returns an error text, or undefined.
 */
function copyModule(module: string, version: string, dir: string): string | undefined {
  // The checksum database's first answer is sometimes a 404 that the next one is not. NOTE (2)
  let got = goModDownload(module, version);
  for (let i = 0; i < 2 && typeof got === 'string'; i++) got = goModDownload(module, version);
  if (typeof got === 'string') return `go mod download ${module}@${version}: ${got}`;
  if (!got.Dir) return `go mod download ${module}@${version}: no Dir`;
  return (
    spawnFailure(
      spawnSync('cp', ['-R', got.Dir, dir], { stdio: ['ignore', 'inherit', 'inherit'] }),
    ) ??
    spawnFailure(
      spawnSync('chmod', ['-R', 'u+w', dir], { stdio: ['ignore', 'inherit', 'inherit'] }),
    )
  );
}

/**
 * In a wrapper module `src` (a go.mod that requires and replaces what the upstream module
 * needs): `go mod tidy`, then a static `go build -trimpath` of `pkg` to `out`. Returns an
 * error text naming the failed step, or undefined.
 */
function goTidyAndBuild(
  src: string,
  ldflags: string,
  out: string,
  pkg: string,
): string | undefined {
  const steps = [
    ['mod', 'tidy'],
    ['build', '-trimpath', '-ldflags', ldflags, '-o', out, pkg],
  ];
  for (const args of steps) {
    const r = spawnSync('go', args, {
      cwd: src,
      env: { ...process.env, CGO_ENABLED: '0', GOWORK: 'off' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const stepFailed = spawnFailure(r);
    if (stepFailed !== undefined) return `go ${args.slice(0, 2).join(' ')}: ${stepFailed}`;
  }
  return undefined;
}

/** Runs `go build` in `cwd`; returns an error text, or undefined. */
function goBuild(cwd: string, args: readonly string[]): string | undefined {
  const r = spawnSync('go', ['build', '-trimpath', ...args], {
    cwd,
    env: { ...process.env, CGO_ENABLED: '0', GOWORK: 'off', GOFLAGS: '-mod=mod' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const failed = spawnFailure(r);
  return failed === undefined ? undefined : `go build ${args.at(-1)}: ${failed}`;
}

/**
 * Builds the pinned FerretDB (SQLite backend, pure Go) from its module on the Go module proxy
 * unless it is there; returns its path. The install keeps the source it was built from. NOTE (3)
 * @throws PlatformError ERR_TOOL_MISSING when Go is missing or the build fails.
 */
export function ensureFerretDb(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const bin = ferretDbPath();
  if (existsSync(bin)) return bin;
  const { module, version } = TEST_TOOL_PINS.ferretdb;
  log(
    `setup: building FerretDB ${version} from the Go module proxy (first run only, about a minute)`,
  );
  const started = Date.now();
  const failed = installAtomically(join(TOOLS_DIR, `ferretdb-${version}`), (staging) => {
    const src = join(staging, 'src');
    const copied = copyModule(module, version, src);
    if (copied !== undefined) return copied;
    writeFileSync(join(src, 'build', 'version', 'version.txt'), `${version}\n`);
    return goBuild(src, ['-o', join(staging, 'ferretdb'), './cmd/ferretdb']);
  });
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not build FerretDB ${version} (${failed})`,
      'install Go (1.24 or newer) with access to the Go module proxy, then run the command again',
    );
  log(
    `setup: FerretDB ${version} built in ${Math.round((Date.now() - started) / 1000)} s at ${bin}`,
  );
  return bin;
}

/** The directory of the mongodump and mongorestore the tests run (see {@link ensureMongoTools}). */
export function mongoToolsDir(): string {
  return join(TOOLS_DIR, `mongo-tools-${TEST_TOOL_PINS.mongoTools.version}`);
}

/**
 * Builds mongodump and mongorestore of the pinned MongoDB Database Tools from the Go module
 * proxy unless they are there; returns their directory.
 * @throws PlatformError ERR_TOOL_MISSING when Go is missing or the build fails.
 */
export function ensureMongoTools(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const dir = mongoToolsDir();
  if (['mongodump', 'mongorestore'].every((t) => existsSync(join(dir, t)))) return dir;
  const { module, version } = TEST_TOOL_PINS.mongoTools;
  log(
    `setup: building mongodump and mongorestore (${module}@${version}) from the Go module proxy (first run only, under a minute)`,
  );
  const started = Date.now();
  const commit = version.split('-').pop()!;
  const failed = installAtomically(dir, (staging) => {
    const src = join(staging, 'src');
    const copied = copyModule(module, version, src);
    if (copied !== undefined) return copied;
    for (const tool of ['mongodump', 'mongorestore']) {
      const f = goBuild(src, [
        '-ldflags',
        `-X main.VersionStr=${version} -X main.GitCommit=${commit}`,
        '-o',
        join(staging, tool),
        `./${tool}/main`,
      ]);
      if (f !== undefined) return f;
    }
    // The source is not needed after the build: 9 MB less in the cache.
    rmSync(src, { recursive: true, force: true });
    return undefined;
  });
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not build mongodump and mongorestore (${failed})`,
      'install Go (1.24 or newer) with access to the Go module proxy, then run the command again',
    );
  log(
    `setup: mongodump and mongorestore built in ${Math.round((Date.now() - started) / 1000)} s in ${dir}`,
  );
  return dir;
}

/** Path of the helm binary the chart tests run (it may not be built yet; see {@link ensureHelm}). */
export function helmPath(): string {
  return join(TOOLS_DIR, `helm-${TEST_TOOL_PINS.helm.version}`, 'helm');
}

/**
 * Builds the pinned helm (helm.sh/helm/v4, ./cmd/helm) with `go install` through the Go
 * module proxy unless it is there; returns its path. NOTE (5)
 * @throws PlatformError ERR_TOOL_MISSING when Go is missing or the build fails.
 */
export function ensureHelm(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const bin = helmPath();
  if (existsSync(bin)) return bin;
  const { module, version } = TEST_TOOL_PINS.helm;
  log(
    `setup: building helm ${version} from ${module} through the Go module proxy (first run only, about 2 minutes)`,
  );
  const started = Date.now();
  const failed = installAtomically(join(TOOLS_DIR, `helm-${version}`), (staging) =>
    spawnFailure(
      spawnSync(
        'go',
        [
          'install',
          '-trimpath',
          '-ldflags',
          `-s -w -X ${module}/internal/version.version=${version}`,
          `${module}/cmd/helm@${version}`,
        ],
        {
          env: { ...process.env, GOBIN: staging, CGO_ENABLED: '0', GOWORK: 'off' },
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      ),
    ),
  );
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not build helm ${version} with go install ${module}/cmd/helm@${version} (${failed})`,
      'install Go (1.25 or newer) with access to the Go module proxy, then run the command again',
    );
  log(`setup: helm ${version} built in ${Math.round((Date.now() - started) / 1000)} s at ${bin}`);
  return bin;
}

/**
 * The directory of `module@version` in Go's module cache, fetched through the Go module proxy
 * when it is not there (tried three times, NOTE 2); `what` names it in messages.
 * @throws PlatformError ERR_TOOL_MISSING when the download fails.
 */
export function goModuleDir(
  module: string,
  version: string,
  what: string,
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  let got = goModDownload(module, version, { offline: true });
  if (typeof got === 'string') {
    log(`setup: fetching ${what} (${module}@${version}) through the Go module proxy`);
    got = goModDownload(module, version);
    for (let i = 0; i < 2 && typeof got === 'string'; i++) got = goModDownload(module, version);
  }
  const failed = typeof got === 'string' ? got : got.Dir ? undefined : 'no Dir in its answer';
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not fetch ${what} with go mod download ${module}@${version} (${failed})`,
      'install Go with access to the Go module proxy, then run the command again',
    );
  return (got as GoModuleDownload).Dir!;
}

/** The Istio charts the tests render, by the name the platform installs them under. */
export const ISTIO_CHART_DIRS = {
  base: 'manifests/charts/base',
  cni: 'manifests/charts/istio-cni',
  gateway: 'manifests/charts/gateway',
  istiod: 'manifests/charts/istio-control/istio-discovery',
} as const;

/**
 * The directory of the pinned istio.io/istio module snapshot in Go's module cache, fetched
 * through the Go module proxy when it is not there (one offline `go mod download` once
 * cached, about 12 MB zipped). Its `manifests/charts` hold the Istio charts. NOTE (6)
 * @throws PlatformError ERR_TOOL_MISSING when the download fails or a chart is missing.
 */
export function istioChartsModuleDir(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const { module, version } = TEST_TOOL_PINS.istioCharts;
  const dir = goModuleDir(module, version, 'the Istio charts', log);
  for (const chart of Object.values(ISTIO_CHART_DIRS))
    if (!existsSync(join(dir, chart, 'Chart.yaml')))
      throw new PlatformError(
        'ERR_TOOL_MISSING',
        `${module}@${version} has no chart in ${chart}`,
        'pin a snapshot of the Istio release branch that has the chart (TEST_TOOL_PINS.istioCharts in toolchain/tools.ts)',
      );
  return dir;
}

/** The Kubernetes version the platform targets, e.g. `v1.36.3`. */
export function kubernetesVersion(): string {
  return pins().config.cluster.kubernetesVersion;
}

/** Path of the pinned kube-apiserver (it may not be installed yet; see {@link ensureKubeApiserver}). */
export function kubeApiserverPath(): string {
  return join(TOOLS_DIR, `kube-apiserver-${kubernetesVersion()}`, 'kube-apiserver');
}

/** Minor and patch of a Kubernetes release (`v1.36.3` → 36, 3). */
function kubernetesMinorPatch(version: string): { minor: string; patch: string } {
  const m = /^v1\.(\d+)\.(\d+)$/.exec(version);
  if (!m)
    throw new TypeError(`${version} is not a Kubernetes release version (v1.<minor>.<patch>)`);
  return { minor: m[1]!, patch: m[2]! };
}

/** The directives of a go.mod (`verb` and the rest of the line), with blocks flattened. */
function goModDirectives(text: string): { verb: string; args: string }[] {
  const out: { verb: string; args: string }[] = [];
  let block: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (line === '') continue;
    if (block !== undefined) {
      if (line === ')') block = undefined;
      else out.push({ verb: block, args: line });
      continue;
    }
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    if (m[2] === '(') block = m[1]!;
    else out.push({ verb: m[1]!, args: m[2]! });
  }
  return out;
}

/**
 * The go.mod that builds kube-apiserver `version` from the published k8s.io/kubernetes module,
 * given that module's own go.mod. NOTE (1)
 *
 * k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at
 * v0.0.0 and replaces them with `./staging/...`, which only works inside its repository. The
 * generated module replaces each staging module it requires with the published
 * `v0.<minor>.<patch>` instead.
 */
export function kubeApiserverGoMod(
  version: string,
  kubernetesGoModText: string,
  commands: readonly string[] = ['kube-apiserver'],
  module = 'kitt4sme.local/kube-apiserver',
): string {
  const { minor, patch } = kubernetesMinorPatch(version);
  const directives = goModDirectives(kubernetesGoModText);
  const go = directives.find((d) => d.verb === 'go')?.args;
  if (!go) throw new TypeError('the k8s.io/kubernetes go.mod has no go directive');
  const required = new Set(
    directives.filter((d) => d.verb === 'require').map((d) => d.args.split(/\s+/)[0]!),
  );
  const staging = directives
    .filter((d) => d.verb === 'replace')
    .map((d) => /^(k8s\.io\/\S+)\s+=>\s+\.\/staging\//.exec(d.args)?.[1])
    .filter((m): m is string => m !== undefined && required.has(m))
    .sort();
  if (staging.length === 0)
    throw new TypeError('the k8s.io/kubernetes go.mod replaces no required module with ./staging');
  return [
    `module ${module}`,
    '',
    `go ${go}`,
    '',
    `require k8s.io/kubernetes ${version}`,
    '',
    'replace (',
    ...staging.map((m) => `\t${m} => ${m} v0.${minor}.${patch}`),
    ')',
    '',
    ...commands.map((c) => `tool k8s.io/kubernetes/cmd/${c}`),
    '',
  ].join('\n');
}

/** What `go mod download -json` reports for one module. */
interface GoModuleDownload {
  Dir?: string;
  GoMod?: string;
  Error?: string;
}

/**
 * Fetches `module@version` into Go's module cache (instant when cached), from a temporary
 * directory so no enclosing go.mod or go.work applies.
 * @returns the download record, or an error text.
 */
function goModDownload(
  module: string,
  version: string,
  opts: { offline?: boolean } = {},
): GoModuleDownload | string {
  const cwd = mkdtempSync(join(tmpdir(), 'go-mod-download-'));
  const offline = opts.offline ? { GOPROXY: 'off' } : {};
  try {
    const r = spawnSync('go', ['mod', 'download', '-json', `${module}@${version}`], {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=mod', ...offline },
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 16 * 1024 * 1024,
    });
    let record: GoModuleDownload = {};
    try {
      record = JSON.parse(r.stdout) as GoModuleDownload;
    } catch {
      // no JSON: Go is missing or failed before downloading
    }
    if (record.Error) return record.Error;
    const failed = spawnFailure(r);
    if (failed !== undefined) return `${failed}${r.stderr ? `: ${r.stderr.trim()}` : ''}`;
    return record;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/**
 * Builds `commands` of k8s.io/kubernetes at `version` into `staging` (one binary each) through
 * a wrapper module named `module` (NOTE 1); returns an error text, or undefined.
 */
function buildKubernetesCommands(
  staging: string,
  version: string,
  commands: readonly string[],
  module: string,
): string | undefined {
  const { minor } = kubernetesMinorPatch(version);
  const kubernetes = goModDownload('k8s.io/kubernetes', version);
  if (typeof kubernetes === 'string')
    return `go mod download k8s.io/kubernetes@${version}: ${kubernetes}`;
  if (!kubernetes.GoMod) return `go mod download k8s.io/kubernetes@${version}: no GoMod`;
  const src = join(staging, 'src');
  mkdirSync(src);
  writeFileSync(
    join(src, 'go.mod'),
    kubeApiserverGoMod(version, readFileSync(kubernetes.GoMod, 'utf8'), commands, module),
  );
  const ldflags = [
    '-s -w',
    `-X k8s.io/component-base/version.gitVersion=${version}`,
    '-X k8s.io/component-base/version.gitMajor=1',
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
  ].join(' ');
  for (const c of commands) {
    const f = goTidyAndBuild(src, ldflags, join(staging, c), `k8s.io/kubernetes/cmd/${c}`);
    if (f !== undefined) return commands.length > 1 ? `${c}: ${f}` : f;
  }
  return undefined;
}

/**
 * Builds the pinned kube-apiserver from k8s.io/kubernetes through the Go module proxy unless
 * it is there already; returns its path. The install directory keeps `src/go.mod` and
 * `src/go.sum`, which record exactly what was built.
 *
 * @throws PlatformError ERR_TOOL_MISSING when Go is not installed or the build fails.
 */
export function ensureKubeApiserver(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const bin = kubeApiserverPath();
  if (existsSync(bin)) return bin;
  const version = kubernetesVersion();
  log(
    `setup: building kube-apiserver ${version} from k8s.io/kubernetes through the Go module proxy (first run only, about 3-5 minutes)`,
  );
  const started = Date.now();
  const failed = installAtomically(join(TOOLS_DIR, `kube-apiserver-${version}`), (staging) =>
    buildKubernetesCommands(staging, version, ['kube-apiserver'], 'kitt4sme.local/kube-apiserver'),
  );
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not build kube-apiserver ${version} (${failed})`,
      'install Go (the version k8s.io/kubernetes names in its go.mod, or any Go that may fetch it) with access to the Go module proxy, then run the command again',
    );
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`setup: kube-apiserver ${version} built in ${seconds} s at ${bin}`);
  return bin;
}

/** The node components the kubelet tests build, all from k8s.io/kubernetes at one version. */
export const KUBE_NODE_COMMANDS = [
  'kubelet',
  'kube-proxy',
  'kube-controller-manager',
  'kube-scheduler',
] as const;
export type KubeNodeCommand = (typeof KUBE_NODE_COMMANDS)[number];

/** Where the pinned node components live (they may not be built yet; see {@link ensureKubeNode}). */
export function kubeNodeDir(): string {
  return join(TOOLS_DIR, `kube-node-${kubernetesVersion()}`);
}

/**
 * Builds the kubelet, kube-proxy, kube-controller-manager and kube-scheduler of the pinned
 * Kubernetes from k8s.io/kubernetes through the Go module proxy (the same wrapper module as
 * kube-apiserver, NOTE 1) unless they are there; returns their directory. NOTE (7)
 * @throws PlatformError ERR_TOOL_MISSING when Go is not installed or the build fails.
 */
export function ensureKubeNode(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const dir = kubeNodeDir();
  if (KUBE_NODE_COMMANDS.every((c) => existsSync(join(dir, c)))) return dir;
  const version = kubernetesVersion();
  log(
    `setup: building ${KUBE_NODE_COMMANDS.join(', ')} ${version} from k8s.io/kubernetes through the Go module proxy (first run only, about 2-5 minutes)`,
  );
  const started = Date.now();
  const failed = installAtomically(dir, (staging) =>
    buildKubernetesCommands(staging, version, KUBE_NODE_COMMANDS, 'kitt4sme.local/kube-node'),
  );
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not build the Kubernetes node components ${version} (${failed})`,
      'install Go (the version k8s.io/kubernetes names in its go.mod, or any Go that may fetch it) with access to the Go module proxy, then run the command again',
    );
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`setup: ${KUBE_NODE_COMMANDS.join(', ')} ${version} built in ${seconds} s at ${dir}`);
  return dir;
}

/**
 * The Debian programs a real node needs, each from its package: the container runtime
 * (containerd and runc), the CNI plugins, what kube-proxy programs (iptables, conntrack),
 * umoci, which assembles the tests' images, and catatonit, the pause process of their pods.
 */
export const NODE_RUNTIME = {
  containerd: { bin: '/usr/bin/containerd', pkg: 'containerd' },
  ctr: { bin: '/usr/bin/ctr', pkg: 'containerd' },
  runc: { bin: '/usr/sbin/runc', pkg: 'runc' },
  cniBridge: { bin: '/usr/lib/cni/bridge', pkg: 'containernetworking-plugins' },
  iptables: { bin: '/usr/sbin/iptables', pkg: 'iptables' },
  conntrack: { bin: '/usr/sbin/conntrack', pkg: 'conntrack' },
  umoci: { bin: '/usr/bin/umoci', pkg: 'umoci' },
  catatonit: { bin: '/usr/bin/catatonit', pkg: 'catatonit' },
} as const;

/** The directory of the CNI plugins {@link NODE_RUNTIME} installs. */
export const CNI_BIN_DIR = '/usr/lib/cni';

/**
 * Installs, when missing and the user is root, the Debian packages of {@link NODE_RUNTIME};
 * returns their paths.
 * @throws PlatformError ERR_TOOL_MISSING when one is missing and cannot be installed.
 */
export function ensureNodeRuntime(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): { [K in keyof typeof NODE_RUNTIME]: string } {
  ensureDebianPackages(Object.values(NODE_RUNTIME), log);
  return Object.fromEntries(Object.entries(NODE_RUNTIME).map(([k, { bin }]) => [k, bin])) as {
    [K in keyof typeof NODE_RUNTIME]: string;
  };
}

/** The Argo CD version the platform deploys: the argoCd chart's appVersion, e.g. `v3.5.4`. */
export function argoCdVersion(): string {
  const v = pins().chart('argoCd').appVersion;
  if (v === undefined)
    throw new TypeError('the argoCd chart has no appVersion in platform/components.ts');
  if (!/^v\d+\.\d+\.\d+$/.test(v))
    throw new TypeError(
      `the argoCd chart's appVersion ${v} is not a release version (v<major>.<minor>.<patch>)`,
    );
  return v;
}

/**
 * The gitops-engine module the Argo CD build uses instead of the one argo-cd's go.mod names.
 * NOTE (4)
 */
export const GITOPS_ENGINE = {
  module: 'github.com/argoproj/argo-cd/gitops-engine',
  version: 'v0.0.0-20260914071520-c9c369efcc5b',
} as const;

/** Home of the pinned Argo CD build (it may not be installed yet; see {@link ensureArgoCd}). */
export function argoCdHome(): string {
  return join(TOOLS_DIR, `argocd-${argoCdVersion()}-${GITOPS_ENGINE.version}`);
}

/** The Argo CD binaries the tests run: one multi-call binary under each command's name. */
export const ARGOCD_COMMANDS = ['argocd-application-controller', 'argocd-repo-server'] as const;

/** Path of a pinned Argo CD command (it may not be installed yet; see {@link ensureArgoCd}). */
export function argoCdPath(command: (typeof ARGOCD_COMMANDS)[number]): string {
  return join(argoCdHome(), command);
}

/**
 * The go.mod that builds Argo CD `version` (its multi-call `cmd`) from the published
 * github.com/argoproj/argo-cd/v3 module, given that module's own go.mod. NOTE (4)
 *
 * Replace directives of a dependency do not apply to the module that requires it, so
 * argo-cd's own pins (k8s.io/* at its Kubernetes release, protobuf, ...) are copied; its
 * local `./gitops-engine` replacement becomes {@link GITOPS_ENGINE}.
 */
export function argoCdGoMod(version: string, argoCdGoModText: string): string {
  if (!/^v\d+\.\d+\.\d+$/.test(version))
    throw new TypeError(`${version} is not an Argo CD release version (v<major>.<minor>.<patch>)`);
  const directives = goModDirectives(argoCdGoModText);
  const go = directives.find((d) => d.verb === 'go')?.args;
  if (!go) throw new TypeError('the argo-cd go.mod has no go directive');
  const replaces = directives.filter((d) => d.verb === 'replace').map((d) => d.args);
  const local = replaces.filter((r) => /=>\s+\.{1,2}\//.test(r));
  const unknownLocal = local.filter((r) => !r.startsWith(`${GITOPS_ENGINE.module} `));
  if (unknownLocal.length > 0)
    throw new TypeError(
      `the argo-cd go.mod replaces ${unknownLocal.join(', ')} with a local path the wrapper cannot follow`,
    );
  if (local.length === 0)
    throw new TypeError(
      `the argo-cd go.mod does not replace ${GITOPS_ENGINE.module} with ./gitops-engine`,
    );
  const published = replaces.filter((r) => !local.includes(r));
  return [
    'module kitt4sme.local/argocd',
    '',
    `go ${go}`,
    '',
    `require github.com/argoproj/argo-cd/v3 ${version}`,
    '',
    'replace (',
    ...published.map((r) => `\t${r}`),
    `\t${GITOPS_ENGINE.module} => ${GITOPS_ENGINE.module} ${GITOPS_ENGINE.version}`,
    ')',
    '',
    'tool github.com/argoproj/argo-cd/v3/cmd',
    '',
  ].join('\n');
}

/**
 * Builds the pinned Argo CD (its multi-call binary, linked as argocd-application-controller
 * and argocd-repo-server) from github.com/argoproj/argo-cd/v3 through the Go module proxy
 * unless it is there already; returns its home. The home also holds the module's
 * `git-verify-wrapper.sh`, which the repo-server runs from PATH, and `src/go.mod` and
 * `src/go.sum`, which record exactly what was built.
 *
 * @throws PlatformError ERR_TOOL_MISSING when Go is not installed or the build fails.
 */
export function ensureArgoCd(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const home = argoCdHome();
  if (ARGOCD_COMMANDS.every((c) => existsSync(join(home, c)))) return home;
  const version = argoCdVersion();
  log(
    `setup: building Argo CD ${version} from github.com/argoproj/argo-cd/v3 through the Go module proxy (first run only, about 7-15 minutes)`,
  );
  const started = Date.now();
  const failed = installAtomically(home, (staging) => {
    const argoCd = goModDownload('github.com/argoproj/argo-cd/v3', version);
    if (typeof argoCd === 'string')
      return `go mod download github.com/argoproj/argo-cd/v3@${version}: ${argoCd}`;
    if (!argoCd.GoMod || !argoCd.Dir)
      return `go mod download github.com/argoproj/argo-cd/v3@${version}: no GoMod or Dir`;
    const src = join(staging, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'go.mod'), argoCdGoMod(version, readFileSync(argoCd.GoMod, 'utf8')));
    const ldflags = [
      '-s -w',
      `-X github.com/argoproj/argo-cd/v3/common.version=${version.slice(1)}`,
      `-X github.com/argoproj/argo-cd/v3/common.gitTag=${version}`,
      '-X github.com/argoproj/argo-cd/v3/common.gitTreeState=clean',
      '-X github.com/argoproj/argo-cd/v3/common.gitCommit=module-proxy',
    ].join(' ');
    const built = goTidyAndBuild(
      src,
      ldflags,
      join(staging, 'argocd'),
      'github.com/argoproj/argo-cd/v3/cmd',
    );
    if (built !== undefined) return built;
    for (const c of ARGOCD_COMMANDS) symlinkSync('argocd', join(staging, c));
    copyFileSync(
      join(argoCd.Dir, 'hack', 'git-verify-wrapper.sh'),
      join(staging, 'git-verify-wrapper.sh'),
    );
    chmodSync(join(staging, 'git-verify-wrapper.sh'), 0o755);
    return undefined;
  });
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not build Argo CD ${version} (${failed})`,
      'install Go (the version argo-cd names in its go.mod, or any Go that may fetch it) with access to the Go module proxy, then run the command again',
    );
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`setup: Argo CD ${version} built in ${seconds} s at ${home}`);
  return home;
}

/** Debian's Redis (the `redis-server` package), the cache of the tests' Argo CD. */
export const REDIS_SERVER = '/usr/bin/redis-server';

/**
 * Installs Debian's redis-server package when it is missing and the user is root; returns
 * its path.
 * @throws PlatformError ERR_TOOL_MISSING when it is missing and cannot be installed.
 */
export function ensureRedis(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  return ensureDebianPackage(REDIS_SERVER, 'redis-server', log);
}

/** The Go module of Sealed Secrets: controller, kubeseal and the chart's CRD. NOTE (8) */
export const SEALED_SECRETS_MODULE = 'github.com/bitnami-labs/sealed-secrets';

/** The Sealed Secrets release the platform's chart installs, e.g. `v0.39.1` (its appVersion). */
export function sealedSecretsVersion(): string {
  const v = pins().chart('sealedSecrets').appVersion;
  if (v === undefined || !/^v\d+\.\d+\.\d+$/.test(v))
    throw new TypeError(
      `the sealedSecrets chart's appVersion ${String(v)} is not a release version (v<major>.<minor>.<patch>) in platform/components.ts`,
    );
  return v;
}

/** The directory of the pinned `controller` and `kubeseal` (see {@link ensureSealedSecrets}). */
export function sealedSecretsDir(): string {
  return join(TOOLS_DIR, `sealed-secrets-${sealedSecretsVersion()}`);
}

/** Path of one of the two Sealed Secrets binaries (it may not be built yet). */
export function sealedSecretsPath(command: 'controller' | 'kubeseal'): string {
  return join(sealedSecretsDir(), command);
}

/**
 * Builds the pinned sealed-secrets `controller` and `kubeseal` from the Go module proxy
 * unless they are there; returns their directory. NOTE (8)
 * @throws PlatformError ERR_TOOL_MISSING when Go is missing or the build fails.
 */
export function ensureSealedSecrets(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const dir = sealedSecretsDir();
  if (['controller', 'kubeseal'].every((t) => existsSync(join(dir, t)))) return dir;
  const version = sealedSecretsVersion();
  log(
    `setup: building the sealed-secrets controller and kubeseal ${version} from the Go module proxy (first run only, about 2 minutes)`,
  );
  const started = Date.now();
  const failed = installAtomically(dir, (staging) => {
    const src = join(staging, 'src');
    const copied = copyModule(SEALED_SECRETS_MODULE, version, src);
    if (copied !== undefined) return copied;
    for (const tool of ['controller', 'kubeseal']) {
      const f = goBuild(src, [
        '-ldflags',
        `-s -w -X main.VERSION=${version}`,
        '-o',
        join(staging, tool),
        `./cmd/${tool}`,
      ]);
      if (f !== undefined) return f;
    }
    // The source is not needed after the build; the CRD is read from the module cache.
    rmSync(src, { recursive: true, force: true });
    return undefined;
  });
  if (failed !== undefined)
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `could not build the sealed-secrets controller and kubeseal ${version} (${failed})`,
      'install Go (1.26 or newer) with access to the Go module proxy, then run the command again',
    );
  log(
    `setup: sealed-secrets ${version} built in ${Math.round((Date.now() - started) / 1000)} s in ${dir}`,
  );
  return dir;
}

/**
 * The SealedSecret CRD of the pinned release (its chart's `crds/`), from the Go module cache
 * (fetched through the Go module proxy when missing): what the tests' kube-apiserver installs
 * when asked for it.
 * @throws PlatformError ERR_TOOL_MISSING when the download fails or the file is missing.
 */
export function sealedSecretsCrdFile(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const version = sealedSecretsVersion();
  const dir = goModuleDir(SEALED_SECRETS_MODULE, version, 'the SealedSecret CRD', log);
  const file = join(dir, 'helm', 'sealed-secrets', 'crds', 'bitnami.com_sealedsecrets.yaml');
  if (!existsSync(file))
    throw new PlatformError(
      'ERR_TOOL_MISSING',
      `${SEALED_SECRETS_MODULE}@${version} has no helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml`,
      'check the sealedSecrets appVersion in platform/components.ts (CHARTS) against the upstream repository',
    );
  return file;
}

/** The upstream CRD files the tests' kube-apiserver serves: module, version, files in it. */
function upstreamCrdSources(): { module: string; version: string; files: string[] }[] {
  const argoCd = argoCdVersion();
  return [
    {
      module: 'github.com/argoproj/argo-cd/v3',
      version: argoCd,
      files: ['manifests/crds/application-crd.yaml', 'manifests/crds/appproject-crd.yaml'],
    },
    {
      module: 'istio.io/api',
      version: `v${pins().chart('istio').version}`,
      files: ['kubernetes/customresourcedefinitions.gen.yaml'],
    },
  ];
}

/**
 * The upstream CRDs of Argo CD (Application, AppProject) and Istio (all its kinds) at the
 * versions the platform deploys, fetched through the Go module proxy into Go's module cache
 * (one offline `go mod download` once cached); returns their absolute paths.
 *
 * @throws PlatformError ERR_TOOL_MISSING when a download fails or a file is missing.
 */
export function upstreamCrdFiles(
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string[] {
  const paths: string[] = [];
  for (const { module, version, files } of upstreamCrdSources()) {
    let got = goModDownload(module, version, { offline: true });
    if (typeof got === 'string') {
      log(`setup: fetching the CRDs of ${module}@${version} through the Go module proxy`);
      got = goModDownload(module, version);
    }
    const dir = typeof got === 'string' ? undefined : got.Dir;
    const failed =
      typeof got === 'string' ? got : dir === undefined ? 'no Dir in its answer' : undefined;
    if (failed !== undefined)
      throw new PlatformError(
        'ERR_TOOL_MISSING',
        `could not fetch the CRDs of ${module}@${version} with go mod download (${failed})`,
        'install Go with access to the Go module proxy, then run the command again',
      );
    for (const file of files) {
      const path = join(dir!, file);
      if (!existsSync(path))
        throw new PlatformError(
          'ERR_TOOL_MISSING',
          `${module}@${version} has no ${file}`,
          'check the Argo CD and Istio versions in platform/components.ts (CHARTS) against the upstream repositories',
        );
      paths.push(path);
    }
  }
  return paths;
}

// NOTE
// 1. kube-apiserver from the Go module proxy. k8s.io/kubernetes is published as a module, but
//    its go.mod points the staging modules at ./staging/src/k8s.io/<x> at v0.0.0, so
//    `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.36.3` fails ("replace directives").
//    A wrapper module that requires k8s.io/kubernetes and replaces each staging module with
//    its published v0.<minor>.<patch> builds. Only required modules are replaced: the replace
//    list also names k8s.io/sample-cli-plugin, which is not published at v0.36.3.
//    `-X k8s.io/component-base/version.gitVersion` makes /version report the release instead
//    of v0.0.0-master. Seen with k8s.io/kubernetes v1.36.3 and Go 1.26.
// 2. mongo-tools from the Go module proxy. Its release tags (100.12.2, r100.12.2) are not
//    semantic versions, so the proxy has no release of github.com/mongodb/mongo-tools: `go mod
//    download github.com/mongodb/mongo-tools@latest`, `@100.12.2`, `@r100.12.2` and `@master`
//    all answer 403 "This module version is not available". Pseudo-versions of commits that
//    other modules' go.mod files require are served; v0.0.0-20250715155915-887641268977 (after
//    100.12.2) is the newest found. The checksum database answered 404 to the first lookup of
//    this and of an older pseudo-version and found both on the next try, so module downloads
//    are tried three times (copyModule). Debian 12 has no mongo tools package. Seen with Go
//    1.26.8 on 2026-12-02.
// 3. FerretDB from the Go module proxy. `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`
//    builds, but the binary panics at start: build/version/version.txt, which its release
//    process generates, is not in the module. The build copies the module's source, writes
//    the version there, and builds in the copy.
// 4. Argo CD from the Go module proxy. github.com/argoproj/argo-cd/v3 v3.5.4 requires its
//    gitops-engine (github.com/argoproj/argo-cd/gitops-engine, a nested module of the same
//    repository) at v0.7.1-0.20250908182407-97ad5b59a627 and replaces it with ./gitops-engine;
//    the proxy does not serve that pseudo-version ("403 Forbidden: This module version is not
//    available"), so `go install` cannot build it. The wrapper copies argo-cd's replace block
//    and points gitops-engine at the proxy's latest pseudo-version (`go list -m
//    github.com/argoproj/argo-cd/gitops-engine@latest` on 2026-12-02), which compiles against
//    v3.5.4 and syncs. What depends on it (the sync engine: waves, prune, self-heal, the
//    project checks) is exercised by testing/test/argocd-sync.test.ts. When the argoCd
//    appVersion changes, check whether its go.mod names a served gitops-engine version and
//    pin the newest that builds.
// 5. helm 4, not helm 3. The chart tests must render the charts as Argo CD will: argo-cd
//    v3.5.4 installs helm 4.2.1 into its image (`helm4_version` in its hack/tool-versions.sh),
//    and testing/test/helm-charts.test.ts fails when that line and this pin part. helm v3.22.0
//    is served by the Go module proxy too but is not an approved release on this workplace's
//    package list (v3.21.4 is); helm.sh/helm/v4 builds with a plain `go install` (no replace
//    directives). The `-X .../internal/version.version` flag makes `helm version` report the
//    release. Measured on 2026-12-02 (Go 1.26.8, 2 cores shared): 98 s after the other
//    setup builds had filled the Go caches; 5 min 57 s wall (2 min 37 s CPU, load 6-9) with
//    an empty module and build cache. A 64 MB binary; a warm setup only stats it.
//    The istio.io/istio snapshot (NOTE 6) downloads in about 2 s (12 MB zipped).
// 6. Istio charts from the istio.io/istio module. The released charts live in a Helm
//    repository the tests cannot reach; the istio.io/istio Go module carries their sources
//    under manifests/charts, and the proxy serves snapshots of the release-1.31 branch
//    (VERSION says 1.31; the charts say version 1.0.0 and default to the testing image hub
//    registry.istio.io/testing with tag `latest`, which a release build replaces with
//    docker.io/istio and 1.31.x). The platform's values set hub and tag themselves, so the
//    snapshot renders the pinned images. v0.0.0-20260827124520-eed52ebb66ad was the newest
//    snapshot the proxy listed on 2026-12-02; istio.io/istio has no release versions on the
//    proxy (its tags are not Go module versions of that path).
// 7. The node components from the Go module proxy, like kube-apiserver (NOTE 1), into a
//    directory of their own so that adding them does not rebuild kube-apiserver. All four are
//    static (CGO_ENABLED=0), as the upstream release builds them. Seen with k8s.io/kubernetes
//    v1.36.3 and Go 1.26.
// 8. Sealed Secrets from the Go module proxy. Since v0.36 its go.mod declares the module
//    github.com/bitnami/sealed-secrets, but the proxy serves it only under the old path
//    github.com/bitnami-labs/sealed-secrets (the new path answers 403), so `go install
//    github.com/bitnami-labs/sealed-secrets/cmd/kubeseal@v0.39.1` fails ("module declares its
//    path as"). The build copies the module and builds cmd/controller and cmd/kubeseal in the
//    copy, as FerretDB (NOTE 3). The pin is the chart's appVersion: chart 2.19.3 installs
//    0.39.1 (its Chart.yaml at the v0.40.0 tag); the module at v0.39.1 carries chart 2.19.2,
//    so the chart is not rendered in the tests (testing/support/helm-charts.ts), but its CRD,
//    which the tests' kube-apiserver installs, comes from the same release as the controller.
//    Measured on 2026-12-02 (Go 1.26.8, 2 cores shared): both binaries in 1 min 58 s wall
//    (1 min 25 s user) with the Go module cache already holding the Kubernetes modules of the
//    other builds; 4 s once the build cache is warm; an 84 MB install (50 MB controller, 37 MB
//    kubeseal); a warm setup only stats them. The v0.39.1 module zip is 1.5 MB.
// 9. Alertmanager from the Go module proxy. `go install github.com/prometheus/alertmanager/cmd/
//    alertmanager@v0.35.0` fails: ui/web.go embeds `app/dist`, the web UI built by npm at
//    release time, which is not in the module ("pattern app/dist: no matching files found").
//    So setup copies the module, writes a placeholder page where the built UI would be, and
//    builds ./cmd/alertmanager there: the API, routing and webhook notifier are the release's
//    own code; only the web UI is missing, which the tests do not use. Measured on this
//    machine (2 cores, shared): about 45 s to fetch the module and its dependencies, 89 s to
//    build with an empty build cache.
