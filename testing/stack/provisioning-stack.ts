/**
 * Test support: the provisioning service on a local stack. Real: the service itself, the
 * tenancy policy (wasm), jose verification, and `iotagent-node-lib` (the IoT Agents'
 * provisioning API: the Ultralight agent in this process, the JSON agent in a process of its
 * own). Fakes: Orion and QuantumLeap (contract fakes), and the realm's JWKS endpoint, which
 * serves keys generated for the run (tokens are signed with them).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { policyData } from '../../platform/policy-data.js';
import { scenarioData } from '../../scenarios/lib/fiware.js';
import type { ProvisioningConfig } from '../../services/provisioning/src/config.js';
import { loadConfig } from '../../services/provisioning/src/config.js';
import type { ProvisioningErrorCode } from '../../services/provisioning/src/errors.js';
import { PROVISIONING_ERRORS, problemType } from '../../services/provisioning/src/errors.js';
import type { RunningService } from '../../services/provisioning/src/service.js';
import { startService } from '../../services/provisioning/src/service.js';
import type { DeviceSpec, GroupSpec } from '../../services/provisioning/src/model.js';
import type { StubServer } from '../support/http.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { json, startStub } from '../support/http.js';
import { logLines } from '../support/log-lines.js';
import type { DeviceProtocol } from '../../platform/components.js';
import { DEVICE_PROTOCOLS, iotAgentSpec } from '../../platform/components.js';
import type { IotAgentHandle, IotAgentProcess } from '../real/iot-agent.js';
import { startIotAgent, startIotAgentProcess } from '../real/iot-agent.js';
import type { OrionFake } from '../fakes/orion.js';
import { startOrionFake } from '../fakes/orion.js';
import type { QuantumLeapFake } from '../fakes/quantumleap.js';
import { startQuantumLeapFake } from '../fakes/quantumleap.js';
import type { TestKeys, TokenRecipe } from '../support/tokens.js';
import { generateTestKeys, makeToken } from '../support/tokens.js';
import { loadPlatformContext } from '../../platform/context.js';

/** A running stack. */
export interface ProvisioningStack {
  /** The service's base URL (its API is under /provisioning). */
  readonly url: string;
  readonly service: RunningService;
  readonly orion: OrionFake;
  readonly quantumleap: QuantumLeapFake;
  /** The real IoT Agent for Ultralight (in this process); undefined once {@link stopIotAgent} ran. */
  iota: IotAgentHandle | undefined;
  readonly iotaUrl: string;
  /** The fault-injecting proxy the service reaches the Ultralight agent through, when asked. */
  readonly agentProxy?: FaultProxy;
  /** The real IoT Agent for JSON, in a process of its own, with its south binding. */
  readonly jsonAgent: IotAgentProcess;
  /** The north URL of each protocol's agent. */
  readonly agentUrls: Readonly<Record<DeviceProtocol, string>>;
  readonly config: ProvisioningConfig;
  /** Every log line of the service, parsed. */
  readonly logs: Record<string, unknown>[];
  /** The raw log text (to search for leaked secrets). */
  logText(): string;
  /** A token of the platform's issuer; the default recipe is an operator of manufracture. */
  token(recipe?: TokenRecipe): Promise<string>;
  /**
   * Calls the service: `path` under /provisioning, JSON body, the tenant headers.
   * `token: null` sends none.
   */
  call(
    method: string,
    path: string,
    opts?: {
      body?: unknown;
      rawBody?: string;
      contentType?: string;
      service?: string | null;
      servicePath?: string;
      token?: string | null;
      headers?: Record<string, string>;
    },
    // The body's shape is checked against the OpenAPI document, not by static types.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ): Promise<{ status: number; headers: Headers; body: any }>;
  stopIotAgent(): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startProvisioningStack}. */
export interface StackOptions {
  /** Environment overrides (e.g. UPSTREAM_TIMEOUT_MS). */
  readonly env?: Readonly<Record<string, string>>;
  /** Devices per IoT Agent create request. */
  readonly chunkSize?: number;
  /** Put a fault-injecting proxy between the service and the Ultralight agent. */
  readonly agentProxy?: boolean;
  /** The service's clock (the inventory's ages). */
  readonly now?: () => number;
}

/** Starts Orion and QuantumLeap fakes, the real IoT Agent, a JWKS stub and the service. */
export async function startProvisioningStack(opts: StackOptions = {}): Promise<ProvisioningStack> {
  const ctx = loadPlatformContext();
  const keys: TestKeys = await generateTestKeys();
  const jwks: StubServer = await startStub(json(200, keys.jwks));
  const orion = await startOrionFake();
  const quantumleap = await startQuantumLeapFake();
  const iota = await startIotAgent({ orionUrl: orion.url });
  const jsonAgent = await startIotAgentProcess({ orionUrl: orion.url, protocol: 'json' }).catch(
    async (err: unknown) => {
      await iota.stop();
      throw err;
    },
  );
  const proxy = opts.agentProxy ? await startFaultProxy(iota.northUrl) : undefined;
  const agentUrls = { ultralight: proxy?.url ?? iota.northUrl, json: jsonAgent.northUrl };
  const cleanUp = async () => {
    await proxy?.close();
    await Promise.all([iota.stop(), jsonAgent.stop()]);
    await Promise.all([orion.close(), quantumleap.close(), jwks.close()]);
  };
  let local: LocalProvisioning;
  try {
    local = await startLocalProvisioning({
      iotaNorthUrls: agentUrls,
      orionUrl: orion.url,
      quantumLeapNotifyUrl: quantumleap.notifyUrl,
      issuer: ctx.issuer,
      jwksUrl: `${jwks.url}/certs`,
      policyData: policyData(ctx),
      env: { UPSTREAM_TIMEOUT_MS: '2000', ...opts.env },
      ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
  } catch (err) {
    await cleanUp();
    throw err;
  }
  const { service, config } = local;
  const stack: ProvisioningStack = {
    url: service.url,
    service,
    orion,
    quantumleap,
    iota,
    iotaUrl: iota.northUrl,
    ...(proxy ? { agentProxy: proxy } : {}),
    jsonAgent,
    agentUrls,
    config,
    logs: local.logs,
    logText: local.logText,
    token: (recipe) => makeToken(keys, ctx.issuer, recipe),
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const token = o.token === undefined ? await stack.token() : o.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (o.service !== null) headers['fiware-service'] = o.service ?? 'manufracture';
      if (o.servicePath !== undefined) headers['fiware-servicepath'] = o.servicePath;
      let body: string | undefined = o.rawBody;
      if (o.body !== undefined) body = JSON.stringify(o.body);
      if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
      const res = await fetch(`${service.url}/provisioning${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async stopIotAgent() {
      // Its proxy goes too: the agent is then unreachable, as without one.
      await proxy?.close();
      await stack.iota?.stop();
      stack.iota = undefined;
    },
    async close() {
      await local.close();
      await cleanUp();
    },
  };
  return stack;
}

/** The provisioning service started by {@link startLocalProvisioning}. */
export interface LocalProvisioning {
  readonly service: RunningService;
  readonly config: ProvisioningConfig;
  /** Every log line of the service, parsed. */
  readonly logs: Record<string, unknown>[];
  /** The raw log text (to search for leaked secrets). */
  logText(): string;
  /** Stops the service and removes its policy-data file. */
  close(): Promise<void>;
}

/**
 * Starts the real provisioning service on loopback against the given upstreams, with the
 * policy data in a file of its own (as the cluster mounts its ConfigMap) and its log captured.
 */
export async function startLocalProvisioning(
  o: Pick<
    ProvisioningConfig,
    'iotaNorthUrls' | 'orionUrl' | 'quantumLeapNotifyUrl' | 'issuer' | 'jwksUrl' | 'policyData'
  > & {
    /** Environment overrides (e.g. UPSTREAM_TIMEOUT_MS). */
    readonly env?: Readonly<Record<string, string>>;
    /** Devices per IoT Agent create request. */
    readonly chunkSize?: number;
    /** The service's clock (the inventory's ages). */
    readonly now?: () => number;
    /** Called with each log line of the service, parsed, as it is written. */
    readonly onLog?: (entry: Record<string, unknown>) => void;
  },
): Promise<LocalProvisioning> {
  const dir = mkdtempSync(join(tmpdir(), 'provisioning-'));
  try {
    const policyFile = join(dir, 'policy-data.json');
    writeFileSync(policyFile, JSON.stringify(o.policyData));
    const config = loadConfig({
      PROVISIONING_PORT: '0',
      ...Object.fromEntries(
        DEVICE_PROTOCOLS.map((p) => [iotAgentSpec(p).northUrlEnv, o.iotaNorthUrls[p]]),
      ),
      ORION_URL: o.orionUrl,
      QUANTUMLEAP_NOTIFY_URL: o.quantumLeapNotifyUrl,
      KEYCLOAK_ISSUER: o.issuer,
      KEYCLOAK_JWKS_URL: o.jwksUrl,
      POLICY_DATA_FILE: policyFile,
      LOG_LEVEL: 'info',
      ...o.env,
    });
    const lines: string[] = [];
    const logs: Record<string, unknown>[] = [];
    const sink = logLines((entry, line) => {
      lines.push(line);
      logs.push(entry);
      o.onLog?.(entry);
    });
    const service = await startService(config, {
      host: '127.0.0.1',
      logDestination: sink,
      processMetrics: false,
      ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}),
      ...(o.now ? { now: o.now } : {}),
    });
    return {
      service,
      config,
      logs,
      logText: () => lines.join('\n'),
      async close() {
        await service.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The RFC 9457 problem the service owes for `code` at `instance`, as its error catalogue words
 * it (type, title, fix), with the status and detail of the case; no `errors` member.
 */
export function catalogueProblem(
  instance: string,
  code: ProvisioningErrorCode,
  status: number,
  detail: string,
): Record<string, unknown> {
  return {
    type: problemType(code),
    title: PROVISIONING_ERRORS[code].problem,
    status,
    detail,
    instance,
    code,
    fix: PROVISIONING_ERRORS[code].fix,
  };
}

/** One tenant of the anchor's data: its service path, group and devices. */
export interface AnchorTenant {
  readonly servicePath: string;
  readonly group: GroupSpec;
  readonly devices: readonly DeviceSpec[];
}

function anchorTenant(tenant: string): AnchorTenant {
  const [entry] = scenarioData([tenant])[0]!.servicePaths;
  if (!entry?.group) throw new TypeError(`docs/examples/${tenant}.devices.yaml: no group`);
  return { servicePath: entry.path, group: entry.group, devices: entry.devices };
}

/**
 * The demo cluster's basic-sense data (manufracture's and smithereens' groups and devices),
 * read from the devices files in docs/examples/ (the one place it is written down) as the
 * scenarios read it.
 */
export const ANCHOR = {
  manufracture: anchorTenant('manufracture'),
  smithereens: anchorTenant('smithereens'),
} as const;
