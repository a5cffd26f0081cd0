/**
 * The platform's APIs as the console calls them: through the gateway, with the user's own
 * access token and the tenant in `fiware-service`, so the policy decides exactly as for any
 * client. The answers are typed by the services' OpenAPI documents (generated/, written by
 * `npm run synth`), nothing by hand.
 */
import type { paths as FleetPaths } from './generated/fleet.js';
import type { paths as MonitorPaths } from './generated/monitor.js';
import type { paths as ProvisioningPaths } from './generated/provisioning.js';
import type { ConsoleApi, ConsoleConfig } from '../src/contract.js';
import type { Auth } from './auth.js';

/** The JSON body of an operation's 200 answer. */
type Ok<Op> = Op extends { responses: { 200: { content: { 'application/json': infer J } } } }
  ? J
  : never;

export type FleetStatus = Ok<FleetPaths['/v1/status']['get']>;
export type TargetStatus = FleetStatus['targets'][number];
export type HostStatus = FleetStatus['hosts'][number];
export type Rollouts = Ok<FleetPaths['/v1/rollouts']['get']>;
export type Rollout = Rollouts['rollouts'][number];
export type Applications = Ok<FleetPaths['/v1/platform/applications']['get']>;
export type Application = Applications['applications'][number];
export type Inventory = Ok<ProvisioningPaths['/v1/inventory']['get']>;
export type InventoryEntry = NonNullable<Inventory['devices']>[number];
export type Targets = Ok<MonitorPaths['/v1/targets']['get']>;
export type Agents = Ok<FleetPaths['/v1/agents']['get']>;
export type Agent = Agents['agents'][number];
export type History = Ok<FleetPaths['/v1/agents/{name}/history']['get']>;
export type Groups = Ok<FleetPaths['/v1/groups']['get']>;
/** What a fleet write did (or, on a dry run, would do): records, diff and targets. */
export type WriteResult = Ok<FleetPaths['/v1/agents/{name}/stop']['post']>;
/** How a deploy rolls out to a group (waves). */
export type RolloutSpec = NonNullable<
  FleetPaths['/v1/agents/{name}/deploy']['post']['requestBody']['content']['application/json']['rollout']
>;
/** A device as the provisioning service takes it (PUT /v1/devices/{id}). */
export type DeviceBody = NonNullable<
  ProvisioningPaths['/v1/devices/{id}']['put']
>['requestBody']['content']['application/json'];
export type DeviceResult = Ok<NonNullable<ProvisioningPaths['/v1/devices/{id}']['put']>>;
export type Target = NonNullable<Targets['targets']>[number];

export type Journal = Ok<MonitorPaths['/v1/events']['get']>;
/**
 * One entry of the monitor's events journal (GET /monitor/v1/events, newest first): a
 * CloudEvent. Its `data` is any JSON object (the generator cuts open JSON values to nothing).
 */
export type JournalEvent = Omit<NonNullable<Journal['events']>[number], 'data'> & {
  readonly data?: Record<string, unknown>;
};

/** An NGSI-v2 entity in the `keyValues` representation. */
export interface NgsiKeyValues {
  readonly id: string;
  readonly type: string;
  readonly [attribute: string]: unknown;
}

/** A refusal or failure of an API, with the problem document's code and fix when it has one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly fix?: string,
    /** Invalid input: which field, and what is wrong with it. */
    readonly errors: readonly { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

type ApiName = keyof ConsoleConfig['apis'];

/** The console's client of the platform's APIs. */
export class Api {
  constructor(
    private readonly config: ConsoleConfig,
    private readonly auth: Auth,
  ) {}

  /** The API, when the platform routes it. */
  has(api: ApiName): boolean {
    return this.config.apis[api] !== undefined;
  }

  private base(api: ApiName): ConsoleApi {
    const a = this.config.apis[api];
    if (!a) throw new ApiError(404, `The platform has no ${api} API here.`);
    return a;
  }

  async call<T>(
    api: ApiName,
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    tenant: string,
    query: Record<string, string> = {},
    headers: Record<string, string> = {},
    body?: unknown,
  ): Promise<T> {
    const url = new URL(`${this.base(api).prefix}${path}`, location.origin);
    for (const [k, v] of Object.entries(query)) if (v !== '') url.searchParams.set(k, v);
    const res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${await this.auth.token()}`,
        'fiware-service': tenant,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw await asError(res);
    return (await res.json()) as T;
  }

  fleetStatus = (tenant: string) => this.call<FleetStatus>('fleet', 'GET', '/v1/status', tenant);
  rollouts = (tenant: string) => this.call<Rollouts>('fleet', 'GET', '/v1/rollouts', tenant);
  applications = (tenant: string) =>
    this.call<Applications>('fleet', 'GET', '/v1/platform/applications', tenant);
  /** The devices of one service path of the tenant, their last measurement and liveness. */
  inventory = (tenant: string, servicePath: string) =>
    this.call<Inventory>(
      'provisioning',
      'GET',
      '/v1/inventory',
      tenant,
      {},
      {
        'fiware-servicepath': servicePath,
      },
    );
  /**
   * The entities of one service path as Orion keeps them (NGSI-v2, `keyValues`: each attribute
   * its value), for the devices' last values. Orion has no OpenAPI document of ours: the
   * type is the NGSI-v2 `keyValues` representation.
   */
  entities = (tenant: string, servicePath: string) =>
    this.call<NgsiKeyValues[]>(
      'orion',
      'GET',
      '/v2/entities',
      tenant,
      { options: 'keyValues', limit: '1000' },
      { 'fiware-servicepath': servicePath },
    );
  health = (tenant: string) => this.call<Targets>('monitor', 'GET', '/v1/targets', tenant);
  events = (tenant: string, type = '', subject = '') =>
    this.call<{ events?: JournalEvent[] }>('monitor', 'GET', '/v1/events', tenant, {
      type,
      subject,
      limit: '100',
    });

  /** The tenant's agents and pipeline modules, with their records, states and targets. */
  agents = (tenant: string) => this.call<Agents>('fleet', 'GET', '/v1/agents', tenant);
  /** An agent's revisions (git log of its record), newest first. */
  history = (tenant: string, agent: string) =>
    this.call<History>('fleet', 'GET', `/v1/agents/${encodeURIComponent(agent)}/history`, tenant);
  groups = (tenant: string) => this.call<Groups>('fleet', 'GET', '/v1/groups', tenant);

  /** Stops or resumes an agent; only if its record is still `etag`. */
  agentAction = (tenant: string, agent: string, action: 'stop' | 'resume', etag: string) =>
    this.call<WriteResult>(
      'fleet',
      'POST',
      `/v1/agents/${encodeURIComponent(agent)}/${action}`,
      tenant,
      {},
      { 'if-match': etag },
    );

  /**
   * Deploys an agent's record to a group, in waves with `rollout`; with `dryRun`, only answers
   * which hosts it would reach (and in which wave) and the diff it would commit.
   */
  deployToGroup = (
    tenant: string,
    agent: string,
    group: string,
    rollout: RolloutSpec | undefined,
    etag: string,
    dryRun: boolean,
  ) =>
    this.call<WriteResult>(
      'fleet',
      'POST',
      `/v1/agents/${encodeURIComponent(agent)}/deploy`,
      tenant,
      dryRun ? { dry_run: 'true' } : {},
      { 'if-match': etag },
      { target: { group }, ...(rollout ? { rollout } : {}) },
    );

  /** Creates or updates one device of a service path; with `dryRun`, only says what would change. */
  putDevice = (tenant: string, servicePath: string, device: DeviceBody, dryRun: boolean) =>
    this.call<DeviceResult>(
      'provisioning',
      'PUT',
      `/v1/devices/${encodeURIComponent(device.device_id ?? '')}`,
      tenant,
      dryRun ? { dry_run: 'true' } : {},
      { 'fiware-servicepath': servicePath },
      device,
    );

  /** Pauses, resumes or cancels an agent's rollout. */
  rolloutAction = (tenant: string, agent: string, action: 'pause' | 'resume' | 'cancel') =>
    this.call<unknown>(
      'fleet',
      'POST',
      `/v1/agents/${encodeURIComponent(agent)}/rollout/${action}`,
      tenant,
    );
}

/** The error of a refused or failed answer, from its problem document when there is one. */
async function asError(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const p = JSON.parse(text) as {
      detail?: string;
      title?: string;
      code?: string;
      fix?: string;
      errors?: { field?: string; message?: string }[];
    };
    return new ApiError(
      res.status,
      p.detail ?? p.title ?? `${res.status} ${res.statusText}`,
      p.code,
      p.fix,
      (Array.isArray(p.errors) ? p.errors : []).map((e) => ({
        field: String(e.field ?? ''),
        message: String(e.message ?? ''),
      })),
    );
  } catch {
    return new ApiError(res.status, text.trim() || `${res.status} ${res.statusText}`);
  }
}
