/**
 * What an agent may call, defined once for both enforcement points: the mesh (the ALLOW rules
 * cdk8s/lib/fleet/ renders on the platform services, bound to the agent's own token) and the
 * tenancy policy at the gateway (policies/kitt4sme/authz.rego, fed by the policy data).
 *
 * An agent's rights are its declared needs ({@link NEEDS}, whose grants name backend paths) and
 * its heartbeat ({@link HEARTBEAT_GRANT}): updating the entities of its own instances and
 * creating one in {@link HEARTBEAT_SERVICE_PATH}. Nothing else: an agent token's roles grant
 * nothing, and a person's token's `needs` claim grants nothing either.
 */
import type { ServiceId } from '../components.js';
import type { PlatformContext } from '../context.js';
import type { HttpMethod } from '../roles.js';
import type { RouteSpec } from '../routes.js';
import {
  AGENT_INSTANCE_ENTITY_TYPE,
  AGENT_NAME_PREFIX,
  AGENT_TOKEN_CLAIMS,
  HEARTBEAT_SERVICE_PATH,
  agentClientId,
  agentInstanceEntityId,
  agentInstanceName,
} from './identity.js';
import type { ResolvedAgent } from './resolve.js';
import type { Need } from './records.js';
import { NEEDS, NEED_IDS } from './records.js';

/** Hex digits after {@link AGENT_NAME_PREFIX} in an agent's client id (`agent-<12 hex>`). */
export const AGENT_CLIENT_ID_HEX_DIGITS = 12;

/**
 * The claim naming the client a token was issued to (OIDC's `azp`, which Keycloak sets to the
 * client id): the mesh and the policy know an agent's token by it.
 */
export const CLIENT_CLAIM = 'azp';

/** The NGSI-v2 header of the service path (Orion's hierarchical scopes). */
export const SERVICE_PATH_HEADER = 'fiware-servicepath';

/** The names of an agent's instances: one per host it is placed on, or one floating. */
export function agentInstanceNames(agent: ResolvedAgent): string[] {
  return agent.placement.mode === 'floating'
    ? [agentInstanceName(agent.id)]
    : agent.placement.hosts.map((h) => agentInstanceName(agent.id, h.name));
}

/**
 * The heartbeat every agent may write without declaring a need, on Orion's API: `PATCH` (or
 * `POST`, NGSI-v2's append) `/v2/entities/<its instance's entity id>/attrs`, and `POST
 * /v2/entities` to create it, both in fiware-servicepath {@link HEARTBEAT_SERVICE_PATH} only;
 * a creation may not ask for `options=upsert` (which would overwrite an entity it does not
 * own).
 */
export const HEARTBEAT_GRANT = {
  service: 'orion',
  port: 'api',
  update: {
    methods: ['PATCH', 'POST'] as readonly HttpMethod[],
    /** The backend path of an instance's update: `/v2/entities/<entity id>/attrs`. */
    pathPrefix: '/v2/entities/',
    pathSuffix: '/attrs',
  },
  create: {
    methods: ['POST'] as readonly HttpMethod[],
    path: '/v2/entities',
    /** The NGSI-v2 option a creation must not carry. */
    refusedOption: 'upsert',
  },
  servicePath: HEARTBEAT_SERVICE_PATH,
} as const satisfies { service: ServiceId; port: string } & Record<string, unknown>;

/**
 * The platform services an agent's token reaches: those of the needs' grants and the
 * heartbeat's. Their sidecars must verify Keycloak tokens (a RequestAuthentication), or the
 * mesh could not tell an agent's token from none.
 */
export const AGENT_REACHED_SERVICES: readonly ServiceId[] = [
  ...new Set<ServiceId>([
    ...NEED_IDS.flatMap((n) => NEEDS[n].grants.map((g) => g.service)),
    HEARTBEAT_GRANT.service,
  ]),
].sort();

/** The backend path a heartbeat update of an instance goes to. */
export function heartbeatUpdatePath(instanceName: string): string {
  const { pathPrefix, pathSuffix } = HEARTBEAT_GRANT.update;
  return `${pathPrefix}${agentInstanceEntityId(instanceName)}${pathSuffix}`;
}

/** One right of a need at the gateway: methods and path patterns under a route. */
export interface GatewayRight {
  /** The route's prefix, e.g. `/orion`. */
  readonly route: string;
  readonly methods: readonly HttpMethod[];
  /**
   * Path patterns relative to the route, Istio-style: exact, `prefix*`, `*suffix` (`/v2/entities*`
   * matches `/orion/v2/entities/x`).
   */
  readonly paths: readonly string[];
}

/**
 * A backend path pattern as it reads under its route at the gateway: the same when the route
 * strips its prefix, the path under the prefix when it passes the path on unchanged. A suffix
 * pattern reads the same either way. Undefined when no gateway path reaches it (a path outside
 * the prefix of a route that keeps it).
 */
export function gatewayPattern(route: RouteSpec, pattern: string): string | undefined {
  if (route.stripPrefix || pattern.startsWith('*')) return pattern;
  if (pattern.startsWith(`${route.prefix}/`)) return pattern.slice(route.prefix.length);
  return undefined;
}

/**
 * The rights of a need at the gateway, one per grant, through the route of the grant's port;
 * paths the gateway cannot reach are left out (and a grant without any), since they are
 * rights of the mesh only.
 */
export function needRights(ctx: PlatformContext, need: Need): GatewayRight[] {
  return NEEDS[need].grants.flatMap((g) => {
    const route = ctx.route(g.service, g.port);
    const paths = g.paths
      .map((p) => gatewayPattern(route, p))
      .filter((p): p is string => p !== undefined);
    return paths.length > 0 ? [{ route: route.prefix, methods: [...g.methods], paths }] : [];
  });
}

/** What the tenancy policy knows of agents (`data.kitt4sme.config.agents`). */
export interface AgentPolicyData {
  /** An agent's client id is `<prefix><hex_digits lower-case hex digits>`. */
  readonly client_id: { readonly prefix: string; readonly hex_digits: number };
  /** The claim naming a token's client (`azp`). */
  readonly client_claim: string;
  /** The claim of an agent token naming its declared needs. */
  readonly needs_claim: string;
  /** Per need, its rights at the gateway. */
  readonly needs: Readonly<Record<string, readonly GatewayRight[]>>;
  /** The heartbeat every agent has, at the gateway; absent where the gateway cannot reach it. */
  readonly heartbeat?: {
    readonly route: string;
    readonly service_path: string;
    /** The entity id of an instance: `<prefix><client id>` or `<prefix><client id>-<host key>`. */
    readonly entity_id_prefix: string;
    readonly update: {
      readonly methods: readonly HttpMethod[];
      readonly path_prefix: string;
      readonly path_suffix: string;
    };
    readonly create: {
      readonly methods: readonly HttpMethod[];
      readonly path: string;
      readonly refused_option: string;
    };
  };
}

/** The agents' part of the policy data, from the needs, the identity contract and the routes. */
export function agentPolicyData(ctx: PlatformContext): AgentPolicyData {
  const route = ctx.route(HEARTBEAT_GRANT.service, HEARTBEAT_GRANT.port);
  const entityIdPrefix = agentInstanceEntityId('');
  // The contract's shape, checked here so a change of either side fails synth, not the policy.
  if (entityIdPrefix !== `urn:ngsi-ld:${AGENT_INSTANCE_ENTITY_TYPE}:`)
    throw new TypeError(`unexpected heartbeat entity id prefix ${entityIdPrefix}`);
  if (
    agentClientId('0'.repeat(32)) !==
    `${AGENT_NAME_PREFIX}${'0'.repeat(AGENT_CLIENT_ID_HEX_DIGITS)}`
  )
    throw new TypeError('the agent client id is no longer <prefix><12 hex digits>');
  const updatePrefix = gatewayPattern(route, `${HEARTBEAT_GRANT.update.pathPrefix}*`);
  const createPath = gatewayPattern(route, HEARTBEAT_GRANT.create.path);
  return {
    client_id: { prefix: AGENT_NAME_PREFIX, hex_digits: AGENT_CLIENT_ID_HEX_DIGITS },
    client_claim: CLIENT_CLAIM,
    needs_claim: AGENT_TOKEN_CLAIMS.needs,
    needs: Object.fromEntries(NEED_IDS.map((n) => [n, needRights(ctx, n)])),
    ...(updatePrefix !== undefined && createPath !== undefined
      ? {
          heartbeat: {
            route: route.prefix,
            service_path: HEARTBEAT_GRANT.servicePath,
            entity_id_prefix: entityIdPrefix,
            update: {
              methods: [...HEARTBEAT_GRANT.update.methods],
              path_prefix: updatePrefix.slice(0, -1),
              path_suffix: HEARTBEAT_GRANT.update.pathSuffix,
            },
            create: {
              methods: [...HEARTBEAT_GRANT.create.methods],
              path: createPath,
              refused_option: HEARTBEAT_GRANT.create.refusedOption,
            },
          },
        }
      : {}),
  };
}
