/**
 * Test support: the whole platform behind one local ingress, for the scenarios.
 *
 * | part | here | in the cluster |
 * |---|---|---|
 * | ingress gateway | gateway.ts: the synthesized VirtualServices and AuthorizationPolicies, read by the Istio interpreter (testing/istio), with OPA as ext_authz | Istio ingress gateway (Envoy) |
 * | tenancy policy | **real** OPA (the pinned binary) with the repository's Rego and generated data | OPA ext_authz beside the gateway |
 * | Keycloak | **real** (the pinned keycloak-quarkus-dist, the synthesized realm, shared by the run) | Keycloak |
 * | IoT Agents' north APIs | **real** `iotagent-node-lib` 4.14.0, in-memory registries (Ultralight in this process, JSON in a process of its own) | iotagent-ul and iotagent-json 3.14 (same library) |
 * | IoT Agents' south APIs | ultralight-south.ts and json-south.ts: the Ultralight 2.0 and JSON HTTP bindings re-implemented on the real library | the agents' HTTP bindings |
 * | provisioning service | **real** (services/provisioning) | the same image |
 * | liveness monitor | **real** (services/monitor): passes every second, one second of grace (monitor-stack.ts); delivers webhooks to loopback | the same image, 30 s passes, 5 s grace |
 * | fleet service | **real** (services/fleet), pushing to a local bare GitOps repository seeded with fleet/; status from a **real** kube-apiserver with the real scheduler and controllers (fleet-stack.ts) | the same image, the fork's repository |
 * | factory hosts, Argo CD's fleet sync | simulated: testing/support/simulated-hosts.ts (nodes, leases, pod status as their kubelets report them) and local-sync.ts (renders the records and applies the agents' workloads) | k3s agents; Argo CD with the fleet plugin |
 * | web console | **real** (services/console: its server, a fresh build of the browser app) | the same image |
 * | Orion | testing/fakes/orion.ts: NGSI-v2 contract fake | Orion 4.7 + MongoDB |
 * | QuantumLeap | testing/fakes/quantumleap.ts: contract fake | QuantumLeap + CrateDB |
 *
 * Left out: mTLS and the sidecars' own token checks (RequestAuthentication), NetworkPolicies,
 * and the mesh grants between services (the gateway is the only door here).
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CONSOLE_CLIENT, machineClientId } from '../../platform/identity.js';
import { CONSOLE_PATH } from '../../platform/realm.js';
import { TENANTS_GROUP } from '../../platform/identity.js';
import { randomPassword } from '../../platform/bootstrap-secrets.js';
import { PLATFORM_EVENTS_URL_ENV } from '../../platform/events.js';
import { policyData } from '../../platform/policy-data.js';
import { Platform } from '../../scenarios/lib/platform.js';
import type { TargetOptions } from '../../scenarios/lib/platform.js';
import { KeycloakAdmin } from '../../services/identity/src/realm-apply.js';
import { fetchToken } from '../../services/identity/src/tokens.js';
import { buildConsole } from '../../services/console/src/build.js';
import { consoleConfig } from '../../services/console/src/config.js';
import type { RunningConsole } from '../../services/console/src/service.js';
import { startConsole } from '../../services/console/src/service.js';
import type { RunningService } from '../../services/provisioning/src/service.js';
import type { Gateway, GatewayDecision } from './gateway.js';
import { opaAuthorizer, startGateway } from './gateway.js';
import type { IotAgentHandle, IotAgentProcess } from '../real/iot-agent.js';
import { startIotAgent, startIotAgentProcess } from '../real/iot-agent.js';
import type { KeycloakServer } from '../real/keycloak.js';
import { platformContext, RUN_DIR_ENV, sharedKeycloak } from '../real/keycloak.js';
import type { OpaDecisionLog, OpaServer } from '../real/opa.js';
import { POLICY_DIR, freePort, startOpa } from '../real/opa.js';
import type { OrionFake } from '../fakes/orion.js';
import type { FleetStack } from './fleet-stack.js';
import { startFleetStack } from './fleet-stack.js';
import type { MonitorStack } from './monitor-stack.js';
import { startMonitorStack } from './monitor-stack.js';
import { startLocalProvisioning } from './provisioning-stack.js';
import { startOrionFake } from '../fakes/orion.js';
import type { QuantumLeapFake } from '../fakes/quantumleap.js';
import { startQuantumLeapFake } from '../fakes/quantumleap.js';
import type { SouthBinding } from './south-binding.js';
import { startSouth } from './south-formats.js';
import { acquireMachineLock } from '../support/machine-lock.js';

/** A running stack. */
export interface ScenarioStack {
  /** The local ingress, e.g. `http://127.0.0.1:40123`. */
  readonly baseUrl: string;
  /** Keycloak through the ingress (tokens carry this issuer, as in the cluster). */
  readonly keycloakUrl: string;
  readonly realm: string;
  /** The client secrets, under the names the scenario runner reads them from. */
  readonly env: Readonly<Record<string, string>>;
  readonly keycloak: KeycloakServer;
  readonly gateway: Gateway;
  readonly opa: OpaServer;
  readonly orion: OrionFake;
  readonly quantumleap: QuantumLeapFake;
  readonly iota: IotAgentHandle;
  readonly south: SouthBinding;
  /** The IoT Agent for JSON and its south binding, in a process of its own. */
  readonly jsonAgent: IotAgentProcess;
  readonly provisioning: RunningService;
  /** The fleet service and its simulated hosts. */
  readonly fleet: FleetStack;
  /** The liveness monitor. */
  readonly monitor: MonitorStack;
  /** The web console's server, at `${baseUrl}/console/` through the gateway. */
  readonly console: RunningConsole;
  /** Every log line of the provisioning service. */
  readonly logs: Record<string, unknown>[];
  /**
   * A real token of the realm with a 5-second lifetime, issued to a probe client made for the
   * purpose (so no other test sees a shortened lifetime); fetched once per tenant.
   */
  expiredToken(tenant: string): Promise<string>;
  /** The scenarios' view of this stack. */
  platform(overrides?: Partial<TargetOptions>): Platform;
  close(): Promise<void>;
}

/** Options of {@link startScenarioStack}. */
export interface ScenarioStackOptions {
  /** A policy directory for OPA instead of policies/kitt4sme (negative tests). */
  readonly policyDir?: string;
  /** A running Keycloak with the platform realm. @default the test run's shared one */
  readonly keycloak?: KeycloakServer;
  /**
   * Called with each request log entry as it is written: the gateway's access log, OPA's
   * decision log (masked as in the cluster) and the provisioning service's log. Each carries
   * the request's `fiware-correlator` where it has one, so one request can be followed.
   */
  readonly log?: (entry: StackLogEntry) => void;
}

/** One entry of the stack's logs, by source. */
export type StackLogEntry =
  | { readonly source: 'gateway'; readonly entry: GatewayDecision }
  | { readonly source: 'opa'; readonly entry: OpaDecisionLog }
  | { readonly source: 'provisioning'; readonly entry: Record<string, unknown> }
  | { readonly source: 'fleet'; readonly entry: Record<string, unknown> }
  | { readonly source: 'monitor'; readonly entry: Record<string, unknown> };

/** A part of the stack slower than this to stop is named on stderr. */
const SLOW_STOP_MS = 10_000;
/**
 * Time for a test's afterAll to stop a stack: on a busy machine the kube-apiserver, etcd and
 * the agent processes take a while, each bounded by a SIGKILL after 10 s.
 */
export const STACK_STOP_TIMEOUT_MS = 120_000;

/** Starts every part and the gateway in front of them. */
export async function startScenarioStack(opts: ScenarioStackOptions = {}): Promise<ScenarioStack> {
  const keycloak = opts.keycloak ?? (await sharedKeycloak());
  const ctx = platformContext();
  const realm = ctx.config.identity.realm;
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const keycloakUrl = `${baseUrl}/auth`;
  const issuer = `${keycloakUrl}/realms/${realm}`;
  const jwksUri = `${keycloak.url}/realms/${realm}/protocol/openid-connect/certs`;
  const data = { ...policyData(ctx), issuer, jwks_uri: jwksUri };

  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) {
      const started = Date.now();
      await c();
      // Which part was slow, should a test's afterAll run out of time.
      const ms = Date.now() - started;
      if (ms > SLOW_STOP_MS) process.stderr.write(`scenario stack: ${String(c)} took ${ms} ms\n`);
    }
  };
  try {
    const orion = await startOrionFake();
    closers.push(() => orion.close());
    const quantumleap = await startQuantumLeapFake();
    closers.push(() => quantumleap.close());
    const iota = await startIotAgent({ orionUrl: orion.url });
    closers.push(() => iota.stop());
    const south = await startSouth(iota, 'ultralight');
    closers.push(() => south.close());
    const jsonAgent = await startIotAgentProcess({ orionUrl: orion.url, protocol: 'json' });
    closers.push(() => jsonAgent.stop());
    // The monitor first: the provisioning and fleet services send it their events.
    const monitor = await startMonitorStack({
      iotaNorthUrls: { ultralight: iota.northUrl, json: jsonAgent.northUrl },
      orionUrl: orion.url,
      jwksUrl: jwksUri,
      policyData: data,
      ...(opts.log ? { onLog: (entry) => opts.log!({ source: 'monitor', entry }) } : {}),
    });
    closers.push(() => monitor.close());

    const eventsUrl = monitor.service.eventsUrl;
    const local = await startLocalProvisioning({
      iotaNorthUrls: { ultralight: iota.northUrl, json: jsonAgent.northUrl },
      orionUrl: orion.url,
      quantumLeapNotifyUrl: quantumleap.notifyUrl,
      issuer,
      jwksUrl: jwksUri,
      policyData: data,
      env: { [PLATFORM_EVENTS_URL_ENV]: eventsUrl },
      ...(opts.log ? { onLog: (entry) => opts.log!({ source: 'provisioning', entry }) } : {}),
    });
    closers.push(() => local.close());
    const provisioning = local.service;
    // OPA polls the API-key bundle from the provisioning service, as in the cluster.
    const opa = await startOpa(
      { kitt4sme: { config: data } },
      {
        apiKeysFrom: provisioning.url,
        ...(opts.policyDir ? { policyDir: opts.policyDir } : {}),
        ...(opts.log ? { decisionLog: (entry) => opts.log!({ source: 'opa', entry }) } : {}),
      },
    );
    closers.push(() => opa.stop());

    const fleet = await startFleetStack({
      ctx,
      root: fileURLToPath(new URL('../..', import.meta.url)),
      jwksUrl: jwksUri,
      policyData: data,
      eventsUrl,
      ...(opts.log ? { onLog: (entry) => opts.log!({ source: 'fleet', entry }) } : {}),
    });
    closers.push(() => fleet.close());

    // The console: a fresh build (esbuild, well under a second), served by its real server.
    const consoleAssets = mkdtempSync(join(tmpdir(), 'console-assets-'));
    closers.push(() => rmSync(consoleAssets, { recursive: true, force: true }));
    await buildConsole(consoleAssets);
    const webConsole = await startConsole({
      port: 0,
      host: '127.0.0.1',
      assets: consoleAssets,
      config: consoleConfig(ctx, { publicUrl: baseUrl }),
    });
    closers.push(() => webConsole.close());
    await allowConsoleAt(keycloak, realm, baseUrl);

    const gateway = await startGateway({
      port,
      authorize: opaAuthorizer(opa),
      ...(opts.log ? { onDecision: (entry) => opts.log!({ source: 'gateway', entry }) } : {}),
      backends: {
        'orion/api': orion.url,
        'quantumleap/api': quantumleap.url,
        'iotAgentUl/north': iota.northUrl,
        'iotAgentUl/south': south.url,
        'iotAgentJson/north': jsonAgent.northUrl,
        'iotAgentJson/south': jsonAgent.southUrl,
        'provisioning/api': provisioning.url,
        'fleet/api': fleet.url,
        'monitor/api': monitor.url,
        'console/web': webConsole.url,
        'keycloak/web': new URL(keycloak.url).origin,
      },
    });
    closers.push(() => gateway.close());

    const expired = new Map<string, Promise<string>>();
    const stack: ScenarioStack = {
      baseUrl,
      keycloakUrl,
      realm,
      env: { ...keycloak.values },
      keycloak,
      gateway,
      opa,
      orion,
      quantumleap,
      iota,
      south,
      jsonAgent,
      provisioning,
      fleet,
      monitor,
      console: webConsole,
      logs: local.logs,
      expiredToken(tenant) {
        if (!expired.has(tenant)) {
          const p = shortLivedToken(keycloak, keycloakUrl, realm, tenant);
          p.catch(() => expired.delete(tenant));
          expired.set(tenant, p);
        }
        return expired.get(tenant)!;
      },
      platform(overrides = {}) {
        return new Platform({
          baseUrl,
          keycloakUrl,
          env: { ...keycloak.values },
          expiredToken: (tenant) => stack.expiredToken(tenant),
          ...overrides,
        });
      },
      close: closeAll,
    };
    return stack;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * A policy directory like policies/kitt4sme whose tenant check ignores the token's tenants
 * and whose roles ignore their tenant: any valid token may act for any known tenant with the
 * roles it has anywhere. For tests that prove a scenario notices.
 */
export function leakyPolicyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'leaky-policy-'));
  cpSync(POLICY_DIR, dir, { recursive: true });
  const file = join(dir, 'authz.rego');
  const rego = readFileSync(file, 'utf8');
  const check = /\n\t_tenant in _token_tenants\n/;
  if (!check.test(rego)) {
    throw new TypeError(
      'authz.rego has no "_tenant in _token_tenants" line to remove; update leakyPolicyDir',
    );
  }
  // Roles are scoped to tenants, which would still refuse another tenant's request: count a
  // role of any tenant as a role of the request's.
  const scoped = /\n\tlower\(parts\[0\]\) == _tenant\n/;
  if (!scoped.test(rego)) {
    throw new TypeError(
      'authz.rego has no "lower(parts[0]) == _tenant" line to remove; update leakyPolicyDir',
    );
  }
  writeFileSync(file, rego.replace(check, '\n').replace(scoped, '\n'));
  return dir;
}

/**
 * Lets the realm's console client send browsers back to the console at this stack's ingress
 * (the realm names the platform's public URL): its redirect and post-logout URIs and web origin
 * gain `${baseUrl}/console/*`, as a developer registers a local build. Additive, so other
 * stacks on the shared Keycloak keep theirs; the read and the write are one step under a lock
 * of the test run, so that stacks starting at the same time (jest's workers) do not write
 * over each other's.
 */
async function allowConsoleAt(kc: KeycloakServer, realm: string, baseUrl: string): Promise<void> {
  const lock = await acquireMachineLock('keycloak-console-client', {
    dir: process.env[RUN_DIR_ENV] ?? tmpdir(),
    timeoutMs: 120_000,
  });
  try {
    await addConsoleUris(kc, realm, baseUrl);
  } finally {
    await lock.release();
  }
}

async function addConsoleUris(kc: KeycloakServer, realm: string, baseUrl: string): Promise<void> {
  const admin = new KeycloakAdmin(
    { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
    realm,
  );
  await admin.authenticate();
  type ClientRep = Record<string, unknown> & {
    id: string;
    redirectUris?: string[];
    webOrigins?: string[];
    attributes?: Record<string, string>;
  };
  const client = (await admin.findClient(CONSOLE_CLIENT)) as ClientRep;
  const uri = `${baseUrl}${CONSOLE_PATH}/*`;
  const logout = (client.attributes?.['post.logout.redirect.uris'] ?? '').split('##');
  await admin.call('PUT', `/${encodeURIComponent(realm)}/clients/${client.id}`, {
    ...client,
    redirectUris: [...(client.redirectUris ?? []), uri],
    webOrigins: [...(client.webOrigins ?? []), baseUrl],
    attributes: {
      ...client.attributes,
      'post.logout.redirect.uris': [...logout.filter(Boolean), uri].join('##'),
    },
  });
}

/** A client like `<tenant>-devices` with a 5 s token lifetime; its token; then the client goes. */
async function shortLivedToken(
  kc: KeycloakServer,
  keycloakUrl: string,
  realm: string,
  tenant: string,
): Promise<string> {
  const admin = new KeycloakAdmin(
    { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
    realm,
  );
  await admin.authenticate();
  const r = `/${encodeURIComponent(realm)}`;
  type ClientRep = Record<string, unknown> & {
    attributes?: Record<string, string>;
    protocolMappers?: Record<string, unknown>[];
  };
  const template = (await admin.findClient(machineClientId(tenant, 'devices'))) as ClientRep;
  const clientId = `${tenant}-expiry-probe-${randomBytes(4).toString('hex')}`;
  const secret = randomPassword();
  const { id: _id, secret: _secret, protocolMappers, ...rest } = template;
  await admin.call('POST', `${r}/clients`, {
    ...rest,
    clientId,
    secret,
    attributes: { ...rest.attributes, 'access.token.lifespan': '5' },
    protocolMappers: (protocolMappers ?? []).map(({ id: _m, ...m }) => m),
  });
  const client = (await admin.findClient(clientId)) as { id: string };
  try {
    const user = (await admin.call<{ id: string }>(
      'GET',
      `${r}/clients/${client.id}/service-account-user`,
    ))!;
    const group = (await admin.findGroup(`/${TENANTS_GROUP}/${tenant}`)) as { id: string };
    await admin.call('PUT', `${r}/users/${user.id}/groups/${group.id}`);
    const t = await fetchToken({ keycloakUrl, realm, clientId, clientSecret: secret });
    return t.accessToken;
  } finally {
    await admin.call('DELETE', `${r}/clients/${client.id}`);
  }
}
