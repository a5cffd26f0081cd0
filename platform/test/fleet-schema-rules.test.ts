/**
 * The rules docs/fleet.schema.json states on each kind of fleet record (names, ids, ports,
 * bounds, states, placements, rollouts), held to samples whose verdicts this file states: the
 * record validation (FleetRecord, what `npm run agents -- plan` and the fleet service parse
 * with) and the schema itself must agree with them. The schema is generated from FleetRecord,
 * so only samples stated here catch a rule loosened in both.
 */
import type { RuleRoot, RuleSamples } from '../../testing/support/published-rules.js';
import { describePublishedRules } from '../../testing/support/published-rules.js';
import { FleetRecord, fleetRecordJsonSchema } from '../fleet/records.js';

type Json = Record<string, any>;

const uuid = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const x = (n: number, c = 'a') => c.repeat(n);

/** Kubernetes object names (RFC 1123 labels): a-z 0-9 and inner `-`, 1-63. */
const NAME: RuleSamples = {
  valid: ['a', 'h1', 'line-2-robot', x(63)],
  invalid: ['', x(64), 'A', 'a_b', 'a.b', '-a', 'a-', 'a b', 'é'],
};
/** Stable ids: lower-case UUIDs. */
const ID: RuleSamples = {
  valid: [uuid(1), '0b0e5a9c-3f7e-4c1d-9a51-2f8d3c6b7e10'],
  invalid: ['', '0B0E5A9C-3F7E-4C1D-9A51-2F8D3C6B7E10', '0b0e5a9c3f7e4c1d9a512f8d3c6b7e10', 'x'],
};
const NON_EMPTY: RuleSamples = { valid: ['x', 'plant 1'], invalid: [''] };
const IMAGE: RuleSamples = { valid: ['ghcr.io/x/detector:1.2.3'], invalid: [''] };
/** Positive integers (millicores, MiB, uids). */
const POSITIVE: RuleSamples = {
  valid: [1, 65532, Number.MAX_SAFE_INTEGER],
  invalid: [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1],
};
/** Ports an agent listens on: unprivileged only. */
const PORT: RuleSamples = { valid: [1024, 8080, 65535], invalid: [0, 80, 1023, 65536, 8080.5] };
const ENV: RuleSamples = {
  valid: ['API_TOKEN', '_X', 'A1'],
  invalid: ['', 'api_token', '1A', 'A-B', 'A B'],
};
const SECRET_KEY: RuleSamples = {
  valid: ['token', 'a.b-c_D9'],
  invalid: ['', 'a/b', 'a b', 'a:b'],
};
const HEARTBEAT: RuleSamples = { valid: [5, 60, 86400], invalid: [0, 4, 86401, 10.5] };
const STATE: RuleSamples = {
  valid: ['running', 'stopped', 'undeployed'],
  invalid: ['paused', 'Running', ''],
};
const size = (min: number): RuleSamples => ({ valid: [min, min + 2], invalid: [min - 1] });
const kind = (k: string): RuleSamples => ({ valid: [k], invalid: [k.toLowerCase(), 'Other'] });

const resources = {
  'resources.cpuRequestMilli': POSITIVE,
  'resources.cpuLimitMilli': POSITIVE,
  'resources.memoryRequestMi': POSITIVE,
  'resources.memoryLimitMi': POSITIVE,
};
const rollout = {
  'rollout.id': ID,
  'from.image': IMAGE,
  'rollout.waves': size(1),
  'rollout.waves[]': size(1),
  'rollout.waves[][]': NAME,
  'rollout.started': { valid: [0, 3], invalid: [-1, 1.5] },
  'rollout.phase': { valid: ['progressing', 'paused', 'failed'], invalid: ['done', ''] },
  'rollout.maxUnavailable': { valid: [1, 5], invalid: [0, -1] },
  'rollout.bakeSeconds': { valid: [0, 86400], invalid: [-1, 86401] },
  'rollout.by': NON_EMPTY,
};
const placement = {
  'placement.host': { ...NAME, alone: true },
  'placement.group': { ...NAME, alone: true },
  'placement.floating': { valid: [true], invalid: [false, 'true'], alone: true },
};
const others = {
  'secrets.env': ENV,
  'secrets.key': SECRET_KEY,
  'health.path': { valid: ['/', '/healthz'], invalid: ['', 'healthz'] },
  'health.port': PORT,
  'runAs.user': POSITIVE,
  'runAs.group': POSITIVE,
};

const RULES: Record<string, RuleSamples> = {
  'Host: kind': kind('Host'),
  'Group: kind': kind('Group'),
  'Template: kind': kind('Template'),
  'Agent: kind': kind('Agent'),
  'Pipeline: kind': kind('Pipeline'),
  'SealedSecret: kind': kind('SealedSecret'),
  apiVersion: { valid: ['bitnami.com/v1alpha1'], invalid: ['bitnami.com/v1', ''] },
  'metadata.name': NON_EMPTY,
  'metadata.namespace': NON_EMPTY,
  id: ID,
  name: NAME,
  site: NON_EMPTY,
  line: NON_EMPTY,
  'capabilities[]': NAME,
  hosts: size(1),
  'hosts[]': NAME,
  image: IMAGE,
  tenant: NON_EMPTY,
  template: NAME,
  state: STATE,
  'ports[]': PORT,
  heartbeatSeconds: HEARTBEAT,
  ...resources,
  ...rollout,
  ...placement,
  ...others,
  modules: size(1),
  'modules.id': ID,
  'modules.name': NAME,
  'modules.template': NAME,
  'modules.state': STATE,
  'modules.image': IMAGE,
  'modules.ports[]': PORT,
  'modules.heartbeatSeconds': HEARTBEAT,
  'connections.from': NAME,
  'connections.to': {
    valid: ['down', 'down:8080', 'other/down', 'other/down:8080'],
    invalid: ['', 'Down', 'down:', 'down:123456', 'a/b/c', 'down:http'],
  },
};

const ITEMS: Record<string, (i: number) => unknown> = {
  hosts: (i) => `h${i}`,
  modules: (i) => ({ id: uuid(100 + i), name: `m${i}`, placement: { floating: true } }),
  'rollout.waves': (i) => [`h${i}`],
  'rollout.waves[]': (i) => `h${i}`,
};

/** What a template sets and an agent or module may override: every field, valid. */
const defaults = () => ({
  image: 'ghcr.io/x/detector:1.2.3',
  resources: { cpuRequestMilli: 100, cpuLimitMilli: 500, memoryRequestMi: 64, memoryLimitMi: 128 },
  config: { entity: 'urn:Agent:{{uuid}}' },
  needs: ['orion:read'],
  secrets: [{ env: 'API_TOKEN', key: 'token' }],
  ports: [8080],
  health: { path: '/healthz', port: 8080 },
  heartbeatSeconds: 60,
  runAs: { user: 65532, group: 65532 },
});
const agentFields = () => ({
  template: 't',
  state: 'running',
  placement: { host: 'h1' },
  rollout: {
    id: uuid(9),
    from: { image: 'ghcr.io/x/detector:1.2.2' },
    waves: [['h1'], ['h2']],
    started: 1,
    phase: 'progressing',
    maxUnavailable: 1,
    bakeSeconds: 0,
    revertOnFailure: false,
    by: 'alice',
  },
  ...defaults(),
});

const BASES: Record<string, Json> = {
  Host: { kind: 'Host', name: 'h1', site: 'plant-1', line: 'line-2', capabilities: ['gpu'] },
  Group: { kind: 'Group', id: uuid(1), name: 'g', hosts: ['h1', 'h2'] },
  Template: { kind: 'Template', id: uuid(2), name: 't', ...defaults() },
  Agent: { kind: 'Agent', id: uuid(3), name: 'a', tenant: 'manufracture', ...agentFields() },
  Pipeline: {
    kind: 'Pipeline',
    id: uuid(4),
    name: 'p',
    tenant: 'manufracture',
    modules: [{ id: uuid(5), name: 'up', ...agentFields() }],
    connections: [{ from: 'up', to: 'down:8080' }],
  },
  SealedSecret: {
    apiVersion: 'bitnami.com/v1alpha1',
    kind: 'SealedSecret',
    metadata: { name: 'a-secrets', namespace: 'agents-manufracture' },
    spec: { encryptedData: { token: 'AgBy3i4OJSWK+PiTySYZZA==' } },
  },
};

const schema = fleetRecordJsonSchema() as Json;
const { $schema: _dialect, oneOf, ...shared } = schema;
const ROOTS: Record<string, RuleRoot> = Object.fromEntries(
  (oneOf as Json[]).map((branch) => {
    const k = branch.properties.kind.const as string;
    const base = BASES[k];
    if (!base) throw new Error(`no base record of kind ${k}: add one to BASES`);
    return [
      k,
      {
        document: 'fleet.schema.json',
        schema: { ...branch, $defs: shared.$defs },
        base,
        accepts: (input) => FleetRecord.safeParse(input).success,
      },
    ];
  }),
);

describePublishedRules('the rules of fleet.schema.json', {
  roots: ROOTS,
  rules: RULES,
  items: ITEMS,
});
