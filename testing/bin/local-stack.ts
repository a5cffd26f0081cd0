#!/usr/bin/env -S npx tsx
/**
 * `npm run stack:local`: the scenarios' local stack (testing/stack/scenario-stack.ts)
 * as a long-running process, to try the scenarios, curl and the provisioning CLI without a
 * cluster. Test support: real Keycloak, OPA, IoT Agent library and provisioning service; Orion
 * and QuantumLeap are contract fakes that keep data in memory.
 *
 * It writes the URLs, the generated client secrets and an expired token of the realm to
 * .cache/local-stack.env (mode 0600) for `source`, runs until Ctrl-C (Keycloak has no time
 * limit, and stops with it), and reports a component that dies at once, then stops.
 *
 * It also runs the example AI pipeline of fleet/ (manufracture's feature extractor → anomaly
 * detector, testing/stack/agent-pipeline.ts) as two processes with their own Keycloak clients,
 * against the Orion fake directly (not through the gateway: the policy's agent rights are not
 * there yet); their logs are under .cache/local-stack/agents/.
 *
 * It provisions the example devices of docs/examples/ (one devices file per tenant) and serves
 * the web console at <ingress>/console/: sign in as a demo user (`<tenant>-demo`,
 * `platform-admin`) with the password the env file gives (`KITT4SME_PASSWORD_<USER>`).
 *
 * While it runs it prints one line per request to stdout: the gateway's access log, OPA's
 * decision log and the provisioning service's log, each with the request's `fiware-correlator`
 * (`grep correlator=<id>` follows one request); `--json` prints them as JSON lines,
 * `--quiet` not at all.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { demoUsers, secretEnvName } from '../../platform/identity.js';
import { CONSOLE_PATH, buildRealm } from '../../platform/realm.js';
import { provision, scenarioData } from '../../scenarios/lib/fiware.js';
import { REPO_ROOT } from '../support/cli.js';
import { platformContext, startKeycloak, stopKeycloak } from '../real/keycloak.js';
import { startScenarioStack } from '../stack/scenario-stack.js';
import { startAgentPipeline } from '../stack/agent-pipeline.js';
import type { AgentPipeline } from '../stack/agent-pipeline.js';
import { answers, formatLogEntry, localStackExports, watchComponents } from '../stack/local-env.js';
import type { StackLogEntry } from '../stack/scenario-stack.js';

const args = process.argv.slice(2);
const unknown = args.filter((a) => !['--json', '--quiet', '--help', '-h'].includes(a));
if (args.includes('--help') || args.includes('-h') || unknown.length > 0) {
  (unknown.length ? console.error : console.log)(
    [
      ...(unknown.length ? [`local-stack: unknown option ${unknown.join(' ')}`, ''] : []),
      'Usage: npm run stack:local [-- --json | --quiet]',
      '',
      'Runs the local stack until Ctrl-C and prints one line per request (gateway, OPA decision,',
      'provisioning service), each with its fiware-correlator.',
      '  --json   the request log as JSON lines ({"source": ..., ...entry})',
      '  --quiet  no request log',
    ].join('\n'),
  );
  process.exit(unknown.length ? 2 : 0);
}
const log = args.includes('--quiet')
  ? undefined
  : args.includes('--json')
    ? (e: StackLogEntry) =>
        process.stdout.write(`${JSON.stringify({ source: e.source, ...e.entry })}\n`)
    : (e: StackLogEntry) => process.stdout.write(`${formatLogEntry(e)}\n`);

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
// It runs for as long as this process does (no time limit), and stops with it.
const keycloak = await startKeycloak([buildRealm(platformContext())], {
  dir,
  whileThisProcessLives: true,
});
let stack;
try {
  process.stderr.write('local-stack: starting OPA, the IoT Agent, the provisioning service…\n');
  stack = await startScenarioStack({ keycloak, ...(log ? { log } : {}) });
} catch (err) {
  stopKeycloak(keycloak);
  throw err;
}
const running = stack;
let pipeline: AgentPipeline;
try {
  process.stderr.write(
    'local-stack: starting the example AI pipeline (feature extractor → anomaly detector)…\n',
  );
  const agentsDir = join(dir, 'agents');
  rmSync(agentsDir, { recursive: true, force: true });
  mkdirSync(agentsDir, { recursive: true });
  // Polled every 2 s (the records say 10): a measurement sent by hand shows within seconds.
  pipeline = await startAgentPipeline({
    keycloak,
    orionUrl: running.orion.url,
    dir: agentsDir,
    pollSeconds: 2,
  });
} catch (err) {
  await running.close().catch(() => undefined);
  stopKeycloak(keycloak);
  throw err;
}
try {
  process.stderr.write('local-stack: provisioning the example devices (docs/examples/)…\n');
  const tenants = platformContext().config.tenants.map((t) => t.name);
  for (const file of scenarioData(tenants))
    process.stderr.write(
      `local-stack:   ${file.tenant}: ${await provision(running.platform(), file)}\n`,
    );
} catch (err) {
  await pipeline.close().catch(() => undefined);
  await running.close().catch(() => undefined);
  stopKeycloak(keycloak);
  throw err;
}
const users = demoUsers(platformContext().config.tenants).map((u) => u.username);
const exports = {
  ...(await localStackExports(running)),
  // The demo users' passwords, to sign in to the console.
  ...Object.fromEntries(
    users.map((u) => [secretEnvName('user', u), keycloak.values[secretEnvName('user', u)]!]),
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
    `console   ${running.baseUrl}${CONSOLE_PATH}/  (users ${users.join(', ')}; passwords in ${envFile})`,
    ...[pipeline.extractor, pipeline.detector].map(
      (m) => `agent     ${m.agent.name} ${m.url}/healthz  (log ${m.logPath})`,
    ),
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
const stop = async (code = 0) => {
  if (stopping) return;
  stopping = true;
  await pipeline.close().catch(() => undefined);
  await running.close().catch(() => undefined);
  stopKeycloak(keycloak);
  rmSync(envFile, { force: true });
  process.exit(code);
};
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// A component that dies is reported at once, with what to look at, and the stack stops:
// half a stack would only fail later with misleading errors.
const realm = platformContext().config.identity.realm;
watchComponents(
  [
    {
      name: 'Keycloak',
      up: () => answers(`${keycloak.url}/realms/${realm}`),
      look: `its log under ${dir}/keycloak-*/keycloak.log`,
    },
    { name: 'OPA', up: () => answers(`${running.opa.url}/health`), look: 'the output above' },
    {
      name: 'the provisioning service',
      up: () => answers(`${running.provisioning.url}/healthz`),
      look: 'the output above',
    },
    ...[pipeline.extractor, pipeline.detector].map((m) => ({
      name: `the agent ${m.agent.name}`,
      up: () => answers(`${m.url}/healthz`),
      look: m.logPath,
    })),
    {
      name: 'the IoT Agent for JSON',
      up: () => answers(`${running.jsonAgent.northUrl}/iot/about`),
      look: 'the output above',
    },
  ],
  (c) => {
    process.stderr.write(
      `local-stack: ${c.name} stopped answering; see ${c.look}. Stopping the stack: start it again with \`npm run stack:local\` (and \`source ${envFile}\` again in the other terminal).\n`,
    );
    void stop(1);
  },
);

process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
