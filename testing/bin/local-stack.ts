#!/usr/bin/env -S npx tsx
/**
 * `npm run stack:local`: the scenarios' local stack (testing/stack/scenario-stack.ts)
 * as a long-running process, to try the scenarios, curl and the provisioning CLI without a
 * cluster. Test support: real Keycloak, OPA, IoT Agent library and provisioning service; Orion
 * and QuantumLeap are contract fakes that keep data in memory.
 *
 * It writes the URLs and the generated client secrets to .cache/local-stack.env (mode 0600)
 * for `source`, and stops everything on Ctrl-C.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { buildRealm } from '../../platform/realm.js';
import { REPO_ROOT } from '../support/cli.js';
import { platformContext, startKeycloak, stopKeycloak } from '../real/keycloak.js';
import { startScenarioStack } from '../stack/scenario-stack.js';

const dir = join(REPO_ROOT, '.cache', 'local-stack');
mkdirSync(dir, { recursive: true });
const envFile = join(REPO_ROOT, '.cache', 'local-stack.env');
const owner = existsSync(envFile)
  ? /^# pid (\d+)$/m.exec(readFileSync(envFile, 'utf8'))?.[1]
  : undefined;
if (owner && isAlive(Number(owner))) {
  console.error(`local-stack: another local stack runs (pid ${owner}, ${envFile}); stop it first`);
  process.exit(3);
}

process.stderr.write('local-stack: starting Keycloak (about a minute)…\n');
const keycloak = await startKeycloak([buildRealm(platformContext())], { dir });
let stack;
try {
  process.stderr.write('local-stack: starting OPA, the IoT Agent, the provisioning service…\n');
  stack = await startScenarioStack({ keycloak });
} catch (err) {
  stopKeycloak(keycloak);
  throw err;
}
const running = stack;
const exports = {
  KITT4SME_BASE_URL: running.baseUrl,
  KITT4SME_KEYCLOAK_URL: running.keycloakUrl,
  ...Object.fromEntries(
    // The tenants' machine clients only: what the scenarios and the provisioning CLI use.
    Object.entries(running.env).filter(([k]) =>
      /^KITT4SME_CLIENT_SECRET_.+_(SCENARIOS|DEVICES)$/.test(k),
    ),
  ),
};
writeFileSync(
  envFile,
  `# pid ${process.pid}\n${Object.entries(exports)
    .map(([k, v]) => `export ${k}='${v}'`)
    .join('\n')}\n`,
  { mode: 0o600 },
);
chmodSync(envFile, 0o600);
process.stdout.write(
  [
    `ingress   ${running.baseUrl}  (routes as in platform/routes.ts)`,
    `keycloak  ${running.keycloakUrl}`,
    '',
    'In another terminal:',
    `  source ${envFile}`,
    '  npm run scenarios',
    '',
    'Ctrl-C stops the stack.',
    '',
  ].join('\n'),
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await running.close();
  stopKeycloak(keycloak);
  rmSync(envFile, { force: true });
  process.exit(0);
};
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
