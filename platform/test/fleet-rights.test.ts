/**
 * Agents' rights (platform/fleet/rights.ts): the policy data the gateway's policy reads, derived
 * from the needs, the identity contract and the route table, and agreeing with them.
 */
import { loadPlatformContext } from '../context.js';
import {
  agentClientId,
  agentInstanceEntityId,
  agentInstanceName,
  isAgentClientId,
} from '../fleet/identity.js';
import { NEEDS, NEED_IDS } from '../fleet/records.js';
import {
  AGENT_REACHED_SERVICES,
  HEARTBEAT_GRANT,
  agentPolicyData,
  gatewayPattern,
  heartbeatUpdatePath,
  needRights,
} from '../fleet/rights.js';
import { ROUTES } from '../routes.js';

const ctx = loadPlatformContext();
const data = agentPolicyData(ctx);
const id = '0a1b2c3d-4e5f-4000-8000-000000000000';

/** The client id shape as the policy reads it from the data. */
const policyShape = (azp: string) => {
  const { prefix, hex_digits } = data.client_id;
  const digits = azp.slice(prefix.length);
  return azp.startsWith(prefix) && digits.length === hex_digits && /^[0-9a-f]*$/.test(digits);
};

describe('agentPolicyData', () => {
  it("gives the policy the client id shape the identity contract's isAgentClientId has", () => {
    for (const azp of [
      agentClientId(id),
      agentClientId('ffffffff-ffff-4fff-bfff-ffffffffffff'),
      'agent-0A1B2C3D4E5F',
      'agent-0a1b2c3d4e5',
      'agent-0a1b2c3d4e5f0',
      `${agentClientId(id)}-h1`,
      'manufracture-scenarios',
      'agent-',
    ])
      expect([azp, policyShape(azp)]).toEqual([azp, isAgentClientId(azp)]);
    expect(policyShape(agentClientId(id))).toBe(true);
  });

  it('names the needs claim and the rights of every need, through the route of its service', () => {
    expect(data.needs_claim).toBe('needs');
    expect(data.client_claim).toBe('azp');
    expect(Object.keys(data.needs)).toEqual(NEED_IDS);
    for (const need of NEED_IDS)
      expect(data.needs[need]).toEqual(
        NEEDS[need].grants.map((g) => ({
          route: ctx.route(g.service, g.port).prefix,
          methods: g.methods,
          paths: g.paths,
        })),
      );
    expect(data.needs['quantumleap:read']![0]!.route).toBe('/quantumleap');
  });

  it("matches the heartbeat an instance writes: its entity's path under Orion's route", () => {
    const hb = data.heartbeat!;
    expect(hb.route).toBe('/orion');
    expect(hb.service_path).toBe('/agents');
    const path = heartbeatUpdatePath(agentInstanceName(id, 'ipc-1'));
    expect(path).toBe(`/v2/entities/${agentInstanceEntityId(`${agentClientId(id)}-ipc-1`)}/attrs`);
    expect(
      path.startsWith(`${hb.update.path_prefix}${hb.entity_id_prefix}${agentClientId(id)}-`),
    ).toBe(true);
    expect(path.endsWith(hb.update.path_suffix)).toBe(true);
    expect(hb.create).toEqual({
      methods: ['POST'],
      path: '/v2/entities',
      refused_option: 'upsert',
    });
  });

  it('lists every service a need or the heartbeat reaches, for their sidecars to verify tokens', () => {
    expect(AGENT_REACHED_SERVICES).toEqual(['orion', 'quantumleap']);
    expect(AGENT_REACHED_SERVICES).toContain(HEARTBEAT_GRANT.service);
  });
});

describe('gatewayPattern', () => {
  const orion = ROUTES.find((r) => r.prefix === '/orion')!;
  const kept = { ...orion, stripPrefix: false };

  it('keeps a pattern under a route that strips its prefix', () => {
    expect(gatewayPattern(orion, '/v2/entities*')).toBe('/v2/entities*');
    expect(gatewayPattern(orion, '*/attrs')).toBe('*/attrs');
  });

  it('takes the part under the prefix of a route that keeps it, and drops what it cannot reach', () => {
    expect(gatewayPattern(kept, '/orion/v2/entities*')).toBe('/v2/entities*');
    expect(gatewayPattern(kept, '*/attrs')).toBe('*/attrs');
    expect(gatewayPattern(kept, '/v2/entities*')).toBeUndefined();
    expect(gatewayPattern(kept, '/orionx')).toBeUndefined();
  });

  it('leaves unreachable rights and the heartbeat out of the data of such a route table', () => {
    const variant = loadPlatformContext({
      routes: ROUTES.map((r) => (r.prefix === '/orion' ? kept : r)),
    });
    expect(needRights(variant, 'orion:read')).toEqual([]);
    expect(needRights(variant, 'quantumleap:read')).toHaveLength(1);
    expect(agentPolicyData(variant).heartbeat).toBeUndefined();
  });
});
