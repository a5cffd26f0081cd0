/**
 * Test support: a real Keycloak (the pinned keycloak-quarkus-dist, `start-dev` with an
 * in-memory database) on free loopback ports, importing synthesized realms at start exactly
 * as the cluster's Keycloak does (`--import-realm`, `${ENV}` placeholders resolved from its
 * environment).
 *
 * {@link sharedKeycloak} starts one server for a whole jest run: the first test file that
 * needs it starts it (a lock directory decides who), the others wait for it, and the jest
 * global teardown stops it. Secrets are generated per run and never leave the run directory.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  existsSync,
  openSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { platform } from '../../platform/config/platform.js';
import type { PlatformConfigInput } from '../../platform/config/schema.js';
import type { PlatformContext } from '../../platform/context.js';
import { loadPlatformContext } from '../../platform/context.js';
import { buildRealm } from '../../platform/realm.js';
import type { RealmDefinition } from '../../platform/realm.js';
import { randomPassword } from '../../platform/bootstrap-secrets.js';
import { ensureKeycloak, java21Home } from '../../toolchain/tools.js';
import { issuerOf } from '../../services/identity/src/tokens.js';
import { freePort } from './opa.js';
import { tailFile, waitFor } from '../support/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Where a run keeps its servers' state: set by the jest global setup (global-setup.mjs). */
export const RUN_DIR_ENV = 'KITT4SME_TEST_RUN_DIR';

/** A running Keycloak. */
export interface KeycloakServer {
  /** Base URL including the relative path, e.g. `http://127.0.0.1:41234/auth`. */
  readonly url: string;
  /** Process group of the server (the test run stops it). */
  readonly pid: number;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** The realms' placeholder values: client secrets and demo passwords, by env name. */
  readonly values: Readonly<Record<string, string>>;
  /** The realms it imported. */
  readonly realms: readonly string[];
}

/** The realm's issuer on a test server. */
export function issuerAt(kc: KeycloakServer, realm: string): string {
  return issuerOf({ keycloakUrl: kc.url, realm });
}

/** The platform's context (the repository config), optionally with changes. */
export function platformContext(
  change?: (c: PlatformConfigInput) => PlatformConfigInput,
): PlatformContext {
  const config = structuredClone(platform) as PlatformConfigInput;
  return loadPlatformContext({ config: change ? change(config) : config });
}

/** The platform realm, and a second realm with the same clients for "another realm" tests. */
export const OTHER_REALM = 'kitt4sme-other';

function sharedRealms(): RealmDefinition[] {
  return [
    buildRealm(platformContext()),
    buildRealm(platformContext((c) => ({ ...c, identity: { ...c.identity, realm: OTHER_REALM } }))),
  ];
}

/**
 * Starts a Keycloak importing `realms`, with fresh random values for their placeholders, and
 * waits until every realm answers.
 */
export async function startKeycloak(
  realms: readonly RealmDefinition[],
  opts: {
    timeoutMs?: number;
    dir?: string;
    /**
     * Run for as long as this process does (a long-running local stack), instead of at most
     * `maxSeconds` (a test run's bound should it die before its teardown). @default false
     */
    whileThisProcessLives?: boolean;
    /** Without `whileThisProcessLives`, the most it runs. @default 1800 (30 minutes) */
    maxSeconds?: number;
  } = {},
): Promise<KeycloakServer> {
  const dist = ensureKeycloak();
  const javaHome = java21Home();
  const base = opts.dir ?? join(ROOT, '.cache', 'run');
  mkdirSync(base, { recursive: true });
  // A home of its own (bin and conf copied, the rest linked): data/import holds exactly this
  // server's realms, and kc.sh resolves its home from its own, real, path.
  const home = mkdtempSync(join(base, 'keycloak-'));
  cpSync(join(dist, 'bin'), join(home, 'bin'), { recursive: true });
  cpSync(join(dist, 'conf'), join(home, 'conf'), { recursive: true });
  for (const d of ['lib', 'providers', 'themes']) symlinkSync(join(dist, d), join(home, d));
  mkdirSync(join(home, 'data', 'import'), { recursive: true });
  for (const r of realms)
    writeFileSync(join(home, 'data', 'import', `${r.name}.json`), JSON.stringify(r.realm));

  const values: Record<string, string> = {};
  for (const r of realms) for (const p of r.placeholders) values[p.env] ??= randomPassword();
  const adminPassword = randomPassword();
  const [port, management] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}/auth`;
  const log = openSync(join(home, 'keycloak.log'), 'a');
  // The server's life is bounded should its starter die before stopping it: by `timeout` for
  // a test run, by a watchdog that follows this process for a long-running stack.
  const bound = opts.whileThisProcessLives
    ? ['sh', '-c', WATCHDOG, 'watchdog', String(process.pid)]
    : ['timeout', '--signal=TERM', String(opts.maxSeconds ?? 1800)];
  const proc = spawn(
    bound[0]!,
    [
      ...bound.slice(1),
      join(home, 'bin', 'kc.sh'),
      'start-dev',
      '--db=dev-mem',
      '--http-host=127.0.0.1',
      `--http-port=${port}`,
      '--http-relative-path=/auth',
      `--http-management-port=${management}`,
      '--health-enabled=true',
      '--import-realm',
      '--log-level=WARN',
    ],
    {
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        ...values,
        JAVA_HOME: javaHome,
        JAVA_OPTS_KC_HEAP: '-Xms128m -Xmx768m',
        KC_BOOTSTRAP_ADMIN_USERNAME: 'admin',
        KC_BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      },
    },
  );
  proc.unref();
  const server: KeycloakServer = {
    url,
    pid: proc.pid!,
    adminUser: 'admin',
    adminPassword,
    values,
    realms: realms.map((r) => r.name),
  };
  let exited: number | null | undefined;
  proc.once('exit', (code) => (exited = code));
  const timeoutMs = opts.timeoutMs ?? 240_000;
  const logFile = join(home, 'keycloak.log');
  await waitFor(
    async () => exited !== undefined || (await realmsAnswer(server)),
    timeoutMs,
    () => {
      stopKeycloak(server);
      return new Error(
        `Keycloak was not ready within ${timeoutMs / 1000} s:\n${tailFile(logFile, 30)}`,
      );
    },
    500,
  );
  if (exited !== undefined)
    throw new Error(`Keycloak exited (${exited}) before it was ready:\n${tailFile(logFile, 30)}`);
  return server;
}

async function realmsAnswer(kc: KeycloakServer): Promise<boolean> {
  for (const r of kc.realms) {
    const ok = await fetch(`${issuerAt(kc, r)}/.well-known/openid-configuration`, {
      signal: AbortSignal.timeout(2000),
    })
      .then((res) => res.ok)
      .catch(() => false);
    if (!ok) return false;
  }
  return true;
}

/**
 * `sh -c WATCHDOG watchdog <pid> <command...>`: runs the command while process <pid> lives,
 * then stops it (and stops it when itself is stopped).
 */
export const WATCHDOG = `parent=$1; shift
"$@" &
child=$!
trap 'kill $child 2>/dev/null; exit 143' TERM INT
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 2; done
kill "$child" 2>/dev/null
wait "$child"`;

/** Stops a server (its whole process group). */
export function stopKeycloak(kc: Pick<KeycloakServer, 'pid'>): void {
  try {
    process.kill(-kc.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

/**
 * The Keycloak shared by every test file of this jest run, with the platform realm and
 * {@link OTHER_REALM}. Started by the first caller; stopped by the global teardown.
 */
export async function sharedKeycloak(): Promise<KeycloakServer> {
  const runDir = process.env[RUN_DIR_ENV];
  if (!runDir)
    throw new Error(
      `${RUN_DIR_ENV} is not set: run the tests with npm test (jest's global setup sets it)`,
    );
  const state = join(runDir, 'keycloak.json');
  const failed = join(runDir, 'keycloak.failed');
  let starter = false;
  try {
    mkdirSync(join(runDir, 'keycloak.lock'));
    starter = true;
  } catch {
    // another test file is starting it
  }
  if (starter) {
    try {
      // The whole jest run shares it, and the global teardown stops it: its bound is CI's
      // (90 minutes), not one test file's. A run past 30 minutes on a busy 2-core machine
      // otherwise lost it in the middle.
      const kc = await startKeycloak(sharedRealms(), { dir: runDir, maxSeconds: 90 * 60 });
      writeFileSync(state, JSON.stringify(kc), { mode: 0o600 });
      return kc;
    } catch (err) {
      writeFileSync(failed, String((err as Error).message));
      throw err;
    }
  }
  const deadline = Date.now() + 300_000;
  while (!existsSync(state)) {
    if (existsSync(failed)) throw new Error(readFileSync(failed, 'utf8'));
    if (Date.now() > deadline)
      throw new Error('the shared Keycloak did not start within 5 minutes');
    await new Promise((r) => setTimeout(r, 500));
  }
  return JSON.parse(readFileSync(state, 'utf8')) as KeycloakServer;
}
