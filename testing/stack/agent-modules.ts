/**
 * Test support: the example AI modules (services/agent-kit/examples) as agents of a tenant,
 * against a local Orion, with tokens of the real Keycloak.
 *
 * - {@link ensureAgentClient} makes the agent's Keycloak client through the admin API, shaped as
 *   the contract says (platform/fleet/identity.ts): client id = the agent's object name, client
 *   credentials, tokens carrying `tenants` = [its tenant] and `needs`, the FIWARE audience, no
 *   roles. NOTE (1)
 * - {@link agentEnvironment} is the environment the fleet renders into the agent's pod
 *   (cdk8s/lib/fleet/agents.ts), with local URLs.
 * - {@link startAgentProcess} runs a module's entry point as a process (through tsx), as its
 *   image does.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import {
  AGENT_ENV,
  agentClientId,
  agentInstanceEntityId,
  agentInstanceName,
} from '../../platform/fleet/identity.js';
import { randomPassword } from '../../platform/bootstrap-secrets.js';
import { agentClient } from '../../platform/fleet/realm.js';
import type { Need } from '../../platform/fleet/records.js';
import { KeycloakAdmin } from '../../services/identity/src/realm-apply.js';
import type { KeycloakServer } from '../real/keycloak.js';
import { issuerAt } from '../real/keycloak.js';
import { REPO_ROOT } from '../support/cli.js';
import { spawnLogged, tailFile, waitFor } from '../support/processes.js';

/** The example modules' entry points, by module. */
export const MODULE_BINS = {
  'feature-extractor': join(REPO_ROOT, 'services/agent-kit/examples/feature-extractor/bin/main.ts'),
  'anomaly-detector': join(REPO_ROOT, 'services/agent-kit/examples/anomaly-detector/bin/main.ts'),
} as const;
export type ExampleModule = keyof typeof MODULE_BINS;

/** An agent client's credentials. */
export interface AgentCredentials {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/** The realm's token endpoint on a test Keycloak. */
export function tokenUrlOf(kc: KeycloakServer, realm: string): string {
  return `${issuerAt(kc, realm)}/protocol/openid-connect/token`;
}

/**
 * The agent's client in `realm`, made if missing (its secret is then new), and its credentials.
 */
export async function ensureAgentClient(
  kc: KeycloakServer,
  realm: string,
  agent: {
    readonly id: string;
    readonly name?: string;
    readonly tenant: string;
    readonly needs: readonly string[];
  },
): Promise<AgentCredentials> {
  const admin = new KeycloakAdmin(
    { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
    realm,
  );
  await admin.authenticate();
  const r = `/${encodeURIComponent(realm)}`;
  const clientId = agentClientId(agent.id);
  let found = (await admin.findClient(clientId)) as { id: string } | undefined;
  if (!found) {
    // The realm's own definition of an agent's client (marked as the fleet's), so the
    // reconciliation of realm:apply --agents, run by other tests on the same Keycloak, owns it.
    await admin.call('POST', `${r}/clients`, {
      ...agentClient({
        id: agent.id,
        name: agent.name ?? agent.id,
        tenant: agent.tenant,
        needs: agent.needs as Need[],
      }),
      secret: randomPassword(),
    });
    found = (await admin.findClient(clientId)) as { id: string };
  }
  const secret = (await admin.call<{ value: string }>(
    'GET',
    `${r}/clients/${found.id}/client-secret`,
  ))!;
  return { tokenUrl: tokenUrlOf(kc, realm), clientId, clientSecret: secret.value };
}

/** What an agent instance is, for its environment. */
export interface AgentSpec {
  readonly id: string;
  readonly name: string;
  readonly tenant: string;
  readonly host: string;
  readonly revision: string;
  readonly heartbeatSeconds: number;
  readonly config: Record<string, unknown>;
  readonly orionUrl: string;
  readonly credentials: AgentCredentials;
  /** `DOWNSTREAM_<NAME>_URL` values by downstream agent name. @default none */
  readonly downstream?: Readonly<Record<string, string>>;
  /** @default 0 (any free port) */
  readonly port?: number;
}

/** The agent's environment, as the fleet renders it, with these URLs. */
export function agentEnvironment(a: AgentSpec): Record<string, string> {
  const instance = agentInstanceName(a.id, a.host);
  return {
    [AGENT_ENV.id]: a.id,
    [AGENT_ENV.name]: a.name,
    [AGENT_ENV.tenant]: a.tenant,
    [AGENT_ENV.fiwareService]: a.tenant,
    [AGENT_ENV.revision]: a.revision,
    [AGENT_ENV.heartbeatSeconds]: String(a.heartbeatSeconds),
    [AGENT_ENV.host]: a.host,
    [AGENT_ENV.instance]: instance,
    [AGENT_ENV.entityId]: agentInstanceEntityId(instance),
    [AGENT_ENV.config]: JSON.stringify(a.config),
    [AGENT_ENV.tokenUrl]: a.credentials.tokenUrl,
    [AGENT_ENV.clientId]: a.credentials.clientId,
    [AGENT_ENV.clientSecret]: a.credentials.clientSecret,
    ORION_URL: a.orionUrl,
    ...Object.fromEntries(
      Object.entries(a.downstream ?? {}).map(([name, url]) => [
        `DOWNSTREAM_${name.toUpperCase().replaceAll('-', '_')}_URL`,
        url,
      ]),
    ),
    AGENT_PORT: String(a.port ?? 0),
  };
}

/** A module running as a process. */
export interface AgentProcess {
  readonly child: ChildProcess;
  /** Its first log line that says where it listens. */
  readonly url: string;
  readonly logPath: string;
}

/** Runs `module` as a process with `env` (plus PATH and HOME); resolves once it listens. */
export async function startAgentProcess(
  module: ExampleModule,
  env: Record<string, string>,
  logPath: string,
): Promise<AgentProcess> {
  const child = spawnLogged(process.execPath, ['--import', 'tsx', MODULE_BINS[module]], logPath, {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...env,
  });
  let url: string | undefined;
  await waitFor(
    async () => {
      if (child.exitCode !== null) return true;
      const started = tailFile(logPath, 50)
        .split('\n')
        .map((l) => {
          try {
            return JSON.parse(l) as { msg?: string; url?: string };
          } catch {
            return {};
          }
        })
        .find((l) => l.msg === `${module} started`);
      url = started?.url;
      return url !== undefined;
    },
    60_000,
    () => new Error(`${module} did not start within 60 s:\n${tailFile(logPath, 30)}`),
  );
  if (!url)
    throw new Error(`${module} exited (${child.exitCode}) at start:\n${tailFile(logPath, 30)}`);
  return { child, url, logPath };
}

// NOTE (1) The realm reconciliation that makes these clients in the cluster (helper A of issue
// 19) is not on main yet; this makes an equivalent client with hardcoded claims, so the kit's
// token source is exactly the contract's (OIDC_TOKEN_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET).
