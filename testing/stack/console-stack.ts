/**
 * Test support: the local stack (scenario-stack.ts) with what the web console shows: the
 * example devices of docs/examples/ provisioned, each with one measurement, a rollout under way (an agent deployed to the
 * group line-pcs in waves of one host with an hour's bake, so it stays in its first wave), an
 * agent pinned to one host, and a person who is only a viewer of manufracture. Shared by the console's browser test and
 * `npm run console:screenshots`.
 */
import { randomPassword } from '../../platform/bootstrap-secrets.js';
import { secretEnvName, tenantGroupPath } from '../../platform/identity.js';
import { CONSOLE_PATH } from '../../platform/realm.js';
import { devicesOf, provision, scenarioData, sendMeasures } from '../../scenarios/lib/fiware.js';
import { KeycloakAdmin } from '../../services/identity/src/realm-apply.js';
import type { KeycloakServer } from '../real/keycloak.js';
import type { ScenarioStack } from './scenario-stack.js';
import { startScenarioStack } from './scenario-stack.js';

/** The tenant the console's tests and screenshots show. */
export const CONSOLE_TENANT = 'manufracture';
/** The value of every attribute of the example devices' one measurement (they are Integers). */
export const MEASURED_VALUE = 21;
/** The agent whose rollout is under way. */
export const ROLLOUT_AGENT = 'console-waves';
/** An agent pinned to one host, running: the one the console stops, resumes and deploys. */
export const SINGLE_AGENT = 'console-single';
/** The host {@link SINGLE_AGENT} is pinned to. */
export const SINGLE_HOST = 'ipc-line1';

/** A running console stack. */
export interface ConsoleStack {
  readonly stack: ScenarioStack;
  /** The console through the stack's gateway, e.g. `http://127.0.0.1:40123/console/`. */
  readonly consoleUrl: string;
  /** Who signs in as each kind of person, and with which password. */
  readonly people: Readonly<
    Record<'operator' | 'viewer' | 'platform-admin', { username: string; password: string }>
  >;
  /** The fleet API with a machine token of the tenant, or with `token`. */
  fleet(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the fleet API's JSON, of many shapes
  /** The provisioning API at a service path, with a machine token of the tenant, or with `token`. */
  provisioning(
    method: string,
    path: string,
    servicePath: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the provisioning API's JSON, of many shapes
  close(): Promise<void>;
}

/** Starts the stack and puts the console's data in it. */
export async function startConsoleStack(
  opts: { keycloak?: KeycloakServer } = {},
): Promise<ConsoleStack> {
  const stack = await startScenarioStack(opts.keycloak ? { keycloak: opts.keycloak } : {});
  try {
    for (const file of scenarioData([CONSOLE_TENANT])) {
      await provision(stack.platform(), file);
      for (const d of devicesOf(file)) await sendMeasures(stack.platform(), d, MEASURED_VALUE);
    }
    const viewer = { username: `${CONSOLE_TENANT}-viewer-only`, password: randomPassword() };
    const admin = new KeycloakAdmin(
      {
        keycloakUrl: stack.keycloak.url,
        username: stack.keycloak.adminUser,
        password: stack.keycloak.adminPassword,
      },
      stack.realm,
    );
    await admin.authenticate();
    const existing = await admin.call<{ id: string }[]>(
      'GET',
      `/${stack.realm}/users?username=${viewer.username}&exact=true`,
    );
    for (const u of existing ?? []) await admin.call('DELETE', `/${stack.realm}/users/${u.id}`);
    await admin.call('POST', `/${stack.realm}/users`, {
      username: viewer.username,
      enabled: true,
      email: `${viewer.username}@example.test`,
      emailVerified: true,
      firstName: 'Vera',
      lastName: 'Viewer',
      credentials: [{ type: 'password', value: viewer.password, temporary: false }],
    });
    const [user] = (await admin.call<{ id: string }[]>(
      'GET',
      `/${stack.realm}/users?username=${viewer.username}&exact=true`,
    ))!;
    const group = (await admin.findGroup(tenantGroupPath(CONSOLE_TENANT, 'viewer')))!;
    await admin.call('PUT', `/${stack.realm}/users/${user!.id}/groups/${group.id}`);

    const call = async (
      method: string,
      url: string,
      headers: Record<string, string>,
      body?: unknown,
      token?: string,
    ) => {
      const res = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${token ?? (await stack.platform().token(CONSOLE_TENANT))}`,
          'fiware-service': CONSOLE_TENANT,
          ...headers,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    const fleet: ConsoleStack['fleet'] = (method, path, body, token) =>
      call(method, `${stack.baseUrl}/fleet${path}`, {}, body, token);
    const provisioning: ConsoleStack['provisioning'] = (method, path, servicePath, body, token) =>
      call(
        method,
        `${stack.baseUrl}/provisioning${path}`,
        { 'fiware-servicepath': servicePath },
        body,
        token,
      );
    const deployed = await fleet('POST', `/v1/agents/${ROLLOUT_AGENT}/deploy`, {
      target: { group: 'line-pcs' },
      record: { template: 'anomaly-detector', config: { subscribe: false, entityType: 'Machine' } },
      rollout: { batchSize: 1, bakeSeconds: 3600 },
    });
    if (deployed.status !== 201)
      throw new Error(
        `deploying ${ROLLOUT_AGENT} answered ${deployed.status}: ${JSON.stringify(deployed.body)}`,
      );
    const single = await fleet('POST', `/v1/agents/${SINGLE_AGENT}/deploy`, {
      target: { host: SINGLE_HOST },
      record: { template: 'anomaly-detector', config: { subscribe: false, entityType: 'Machine' } },
    });
    if (single.status !== 201)
      throw new Error(
        `deploying ${SINGLE_AGENT} answered ${single.status}: ${JSON.stringify(single.body)}`,
      );
    const password = (u: string) => stack.env[secretEnvName('user', u)]!;
    const operator = `${CONSOLE_TENANT}-demo`;
    return {
      stack,
      consoleUrl: `${stack.baseUrl}${CONSOLE_PATH}/`,
      people: {
        operator: { username: operator, password: password(operator) },
        viewer,
        'platform-admin': { username: 'platform-admin', password: password('platform-admin') },
      },
      fleet,
      provisioning,
      close: () => stack.close(),
    };
  } catch (err) {
    await stack.close();
    throw err;
  }
}
