/**
 * Agents as code: the records of the fleet folder (`fleet/`), their zod schema, the needs an
 * agent may declare and the fleet's error catalogue.
 *
 * A record is one YAML document (a file may hold several, separated by `---`) with a `kind`:
 * `Host` (a factory host, i.e. a Kubernetes node, in the inventory), `Group` (a named list of
 * hosts), `Template` (the defaults agents start from, ACS's chart template), `Agent` (one AI
 * module or edge agent of a tenant) and `Pipeline` (modules of one tenant and the connections
 * between them). docs/agents-as-code.md describes the format; docs/fleet.schema.json (generated
 * from {@link FleetRecord}) lets editors validate it. The records are validated and resolved by
 * ./resolve.ts and rendered by cdk8s/lib/fleet/.
 */
import { z } from 'zod';

import type { ServiceId } from '../components.js';
import type { ErrorCatalogue } from '../errors.js';
import type { HttpMethod } from '../roles.js';

/** The folder of the records, relative to the repository root. */
export const FLEET_DIR = 'fleet';

/** The placeholders a config value may use, filled ACS-style per agent (and per host). */
export const PLACEHOLDERS = ['uuid', 'name', 'hostname', 'tenant'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** One mesh grant a need gives: a call to a platform service. */
export interface NeedGrant {
  readonly service: ServiceId;
  /** A port key of the service. */
  readonly port: string;
  readonly methods: readonly HttpMethod[];
  /** Istio paths (exact, `prefix*`). */
  readonly paths: readonly string[];
}

/** A capability an agent may declare, and what the platform gives it for that. */
export interface NeedSpec {
  readonly description: string;
  /** Environment variables (name → service whose URL it holds). */
  readonly env: Readonly<Record<string, { service: ServiceId; port: string }>>;
  /** The calls it may make; each is bound to the agent's tenant (the `fiware-service` header). */
  readonly grants: readonly NeedGrant[];
  /** A platform service that calls the agent back (Orion's notifications of a subscription). */
  readonly callback?: { readonly service: ServiceId };
}

/**
 * The needs an agent may declare. Each becomes environment (the URLs), mesh grants (ALLOW
 * rules from the agent's identity, limited to its tenant's `fiware-service`) and, for
 * `orion:subscribe`, a grant from Orion to the agent's ports for the notifications.
 */
export const NEEDS = {
  'orion:read': {
    description: 'read entities and types from Orion (NGSI-v2)',
    env: { ORION_URL: { service: 'orion', port: 'api' } },
    grants: [
      {
        service: 'orion',
        port: 'api',
        methods: ['GET', 'HEAD'],
        paths: ['/version', '/v2/entities*', '/v2/types*'],
      },
    ],
  },
  'orion:write': {
    description: 'create, update and delete entities and their attributes in Orion',
    env: { ORION_URL: { service: 'orion', port: 'api' } },
    grants: [
      {
        service: 'orion',
        port: 'api',
        methods: ['POST', 'PUT', 'PATCH', 'DELETE'],
        paths: ['/v2/entities*', '/v2/op/update'],
      },
    ],
  },
  'orion:subscribe': {
    description:
      "manage Orion subscriptions and receive their notifications (Orion may call the agent's ports)",
    env: { ORION_URL: { service: 'orion', port: 'api' } },
    grants: [
      {
        service: 'orion',
        port: 'api',
        methods: ['GET', 'POST', 'PATCH', 'DELETE'],
        paths: ['/v2/subscriptions*'],
      },
    ],
    callback: { service: 'orion' },
  },
  'quantumleap:read': {
    description: 'read time series from QuantumLeap',
    env: { QUANTUMLEAP_URL: { service: 'quantumleap', port: 'api' } },
    grants: [
      {
        service: 'quantumleap',
        port: 'api',
        methods: ['GET', 'HEAD'],
        paths: ['/version', '/v2/entities*', '/v2/types*', '/v2/attrs*'],
      },
    ],
  },
  'iota:command': {
    description:
      "send device commands: update a command attribute through Orion, which forwards it to the device's IoT Agent",
    env: { ORION_URL: { service: 'orion', port: 'api' } },
    grants: [
      {
        service: 'orion',
        port: 'api',
        // PATCH /v2/entities/<id>/attrs is how NGSI-v2 sends a command: updating it never
        // creates an entity or an attribute (Istio matches a prefix or a suffix, not both).
        methods: ['PATCH'],
        paths: ['*/attrs'],
      },
    ],
  },
} as const satisfies Readonly<Record<string, NeedSpec>>;
export type Need = keyof typeof NEEDS;
export const NEED_IDS = Object.keys(NEEDS) as Need[];

/** Every fleet error, by stable code; docs/errors.md is generated from it. */
export const FLEET_ERRORS = {
  ERR_FLEET_INVALID: {
    problem:
      'the fleet records (fleet/) have one or more problems; each is listed with its file, field and code',
    fix: 'fix each listed record as its line says, then run `npm run agents -- plan` again',
  },
  ERR_FLEET_BASE: {
    problem: 'the base revision of `npm run agents -- plan` is not a commit of the repository',
    fix: 'name a branch, tag or commit (`git log --oneline`), or leave --base out to compare with HEAD',
  },
  ERR_FLEET_WRITE: {
    problem: '`npm run agents -- apply` could not write a record file',
    fix: 'make fleet/ writable (the message names the file and the cause) and apply again; the files written before the failure were restored',
  },
  ERR_FLEET_COMMIT: {
    problem:
      '`npm run agents -- apply --commit` could not commit the records it wrote, so it took them back',
    fix: 'fix what git says (an identity: git config user.name and user.email; a refusing hook) and apply again; or apply without --commit and commit yourself',
  },
  ERR_FLEET_JOIN_SERVER: {
    problem: '`npm run agents -- join` needs the https URL of the API server the host dials out to',
    fix: 'give --server https://<api server>:6443 (the address the factory firewall lets the host reach)',
  },
  ERR_FLEET_NO_RECORDS: {
    problem:
      'the directory the fleet is rendered from has no fleet/ folder; rendering nothing would make Argo CD prune every agent',
    fix: 'run `npm run fleet:render` in the repository root (or pass --root <repository>); in Argo CD, give the fleet Application the repository root as its source path. A fleet without agents keeps fleet/ with an empty fleet/hosts.yaml',
  },
  ERR_FLEET_FILE: {
    problem: 'a fleet file cannot be read or is not valid YAML',
    fix: 'fix the YAML syntax (the message gives the line); one record per document, documents separated by ---',
  },
  ERR_FLEET_SCHEMA: {
    problem: 'a record does not follow the fleet format (a missing, unknown or mistyped field)',
    fix: 'give the field the type docs/agents-as-code.md names; docs/fleet.schema.json is the JSON Schema of the records',
  },
  ERR_FLEET_UNKNOWN_TENANT: {
    problem: 'a record names a tenant the platform config does not have',
    fix: 'use a tenant of platform/config/platform.ts (tenants[].name), or add the tenant there first',
  },
  ERR_FLEET_UNKNOWN_HOST: {
    problem: 'a placement or a group names a host that no Host record lists',
    fix: 'add a Host record for the node (fleet/hosts.yaml, after it joined: docs/agents-as-code.md) or correct the name',
  },
  ERR_FLEET_UNKNOWN_GROUP: {
    problem: 'a placement names a group that no Group record defines',
    fix: 'add a Group record with that name and its hosts, or correct the name',
  },
  ERR_FLEET_UNKNOWN_TEMPLATE: {
    problem: 'an agent or module names a template that no Template record defines',
    fix: 'add the Template record or correct the name',
  },
  ERR_FLEET_IMAGE_UNPINNED: {
    problem:
      'an image is missing, or has no pinned tag or digest (no tag, latest, or a floating major such as :1)',
    fix: 'pin an exact release tag such as repo/name:1.4.2, or a digest repo/name@sha256:<64 hex>, in the agent or its template',
  },
  ERR_FLEET_UNKNOWN_NEED: {
    problem: 'a need is not one the platform knows',
    fix: `declare only these needs: ${NEED_IDS.join(', ')}`,
  },
  ERR_FLEET_UNKNOWN_MODULE: {
    problem:
      'a connection names a module that does not exist (in its pipeline, or as <pipeline>/<module>)',
    fix: 'name a module of the same pipeline, or <pipeline>/<module> of another pipeline of the same tenant',
  },
  ERR_FLEET_UNKNOWN_PORT: {
    problem: 'a connection names a port the downstream module does not declare',
    fix: 'add the port to the module (ports) or its template, or connect to one of its ports',
  },
  ERR_FLEET_CYCLE: {
    problem:
      'the connections form a cycle (a module reaches itself); the fleet refuses cycles, since a message could loop forever',
    fix: 'remove one connection of the cycle; feed results back through Orion (orion:write and orion:subscribe) instead',
  },
  ERR_FLEET_PLACEHOLDER: {
    problem: `a config value uses a placeholder that is not defined (the placeholders are ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')})`,
    fix: 'use one of the defined placeholders or write the value literally',
  },
  ERR_FLEET_DUPLICATE_NAME: {
    problem:
      "two records of one kind have the same name (agents and pipeline modules: <pipeline>-<module>, in one tenant's namespace)",
    fix: 'rename one of them; names of hosts, groups and templates are unique in the fleet, names of agents per tenant',
  },
  ERR_FLEET_DUPLICATE_ID: {
    problem:
      'two records (or modules) have the same id, or ids whose first 12 hex digits (the object names) are equal',
    fix: 'give the new record a fresh id (`node -e "console.log(crypto.randomUUID())"`); never reuse or change an id',
  },
  ERR_FLEET_SECRET_ORPHAN: {
    problem:
      "a SealedSecret is not the Secret of any agent (its namespace and name are not an agent's `agents-<tenant>` and `<agent object name>-secrets`)",
    fix: 'seal values only through `npm run agents -- seal --agent <name> --key <KEY>`, which names the Secret; delete the file of an agent that is gone',
  },
  ERR_FLEET_SECRET_KEY: {
    problem: "an agent's `secrets` names a key that its SealedSecret does not hold",
    fix: 'seal the value: `npm run agents -- seal --agent <name> --key <KEY>` (the value on stdin), or drop the entry from `secrets`',
  },
  ERR_FLEET_ROLLOUT: {
    problem:
      "a record's rollout does not fit it: rollouts are for group placements, every wave host must be in the group and in one wave only, and at most every wave can have begun",
    fix: 'start, pause, resume and cancel rollouts through the fleet service (`npm run fleet -- rollout ...`), which writes this field; by hand, delete the rollout field to end one',
  },
  ERR_FLEET_CROSS_TENANT: {
    problem: "a record of one tenant references another tenant's module",
    fix: 'connect only modules of the same tenant; data crosses tenants only through a platform service that checks both',
  },
} as const satisfies ErrorCatalogue;
export type FleetErrorCode = keyof typeof FLEET_ERRORS;

// ---------------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------------

/** A Kubernetes object name (RFC 1123 label), as agents, hosts and groups are named. */
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

const name = (what: string) =>
  z
    .string()
    .regex(NAME, `a ${what} name: lower-case letters, digits and "-", at most 63`)
    .meta({ description: `The ${what}'s name` });
const id = z
  .string()
  .regex(UUID, 'a lower-case UUID, e.g. 0b0e5a9c-3f7e-4c1d-9a51-2f8d3c6b7e10')
  .meta({
    description:
      'Stable id ({{uuid}}): object names derive from it, so renaming or moving the record keeps them; never change it',
  });
const image = z
  .string()
  .min(1)
  .meta({
    description:
      'The container image, pinned: repository:tag (an exact release) or repository@sha256:<digest>',
    examples: ['ghcr.io/kitt4sme/anomaly-detector:0.1.0'],
  });
const resources = z
  .strictObject({
    cpuRequestMilli: z.number().int().min(1),
    cpuLimitMilli: z.number().int().min(1),
    memoryRequestMi: z.number().int().min(1),
    memoryLimitMi: z.number().int().min(1),
  })
  .meta({
    description:
      'CPU in millicores and memory in MiB; default: the config’s agents.defaultResources',
  });
const config = z.record(z.string(), z.json()).meta({
  description:
    'Configuration handed to the agent as JSON (AGENT_CONFIG). Strings may use {{uuid}}, {{name}}, {{hostname}} and {{tenant}}. The agent’s config is merged over its template’s as a JSON merge patch (RFC 7386): null deletes a key',
});
const needs = z.array(z.string()).meta({
  description: `Capabilities the agent needs: ${NEED_IDS.join(', ')}. An agent reaches exactly what it declares`,
});
const secrets = z
  .array(
    z.strictObject({
      env: z.string().regex(ENV_NAME, 'an environment variable name (A-Z, 0-9, _)'),
      key: z.string().regex(/^[-._a-zA-Z0-9]+$/, 'a Secret key'),
    }),
  )
  .meta({
    description:
      'Secret values the agent reads from its Secret (<agent object name>-secrets, sealed: never in git) into environment variables',
  });
const ports = z.array(z.number().int().min(1024).max(65535)).meta({
  description:
    'Ports the agent listens on (HTTP), for pipeline connections and Orion notifications',
});
const health = z
  .strictObject({ path: z.string().startsWith('/'), port: z.number().int().min(1024).max(65535) })
  .meta({ description: 'An HTTP health endpoint, for the readiness and liveness probes' });
const heartbeatSeconds = z.number().int().min(5).max(86400).meta({
  description:
    'How often the agent reports liveness (updating its own NGSI entity); the monitor treats a silent agent like a silent device',
});
const runAs = z
  .strictObject({ user: z.number().int().min(1), group: z.number().int().min(1) })
  .meta({
    description:
      'The non-root user and group the image runs as. Default 65532 (distroless nonroot)',
  });

/** What a template sets and an agent may override. */
const defaults = {
  image: image.optional(),
  resources: resources.optional(),
  config: config.optional(),
  needs: needs.optional(),
  secrets: secrets.optional(),
  ports: ports.optional(),
  health: health.optional(),
  heartbeatSeconds: heartbeatSeconds.optional(),
  runAs: runAs.optional(),
};

const placement = z
  .union([
    z.strictObject({
      host: name('host').meta({ description: 'Pinned: one instance on this host' }),
    }),
    z.strictObject({
      group: name('group').meta({ description: 'One instance on every host of the group' }),
    }),
    z.strictObject({
      floating: z.literal(true).meta({ description: 'One instance anywhere untainted' }),
    }),
  ])
  .meta({ description: 'Where it runs: { host }, { group } or { floating: true }' });

/** The lifecycle states a record may ask for. */
export const AGENT_STATES = ['running', 'stopped', 'undeployed'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

/**
 * A rollout in waves of a group-placed agent (written by the fleet service, issue 20): the hosts
 * of the first `started` waves run the record as it is; the others keep `from` (an upgrade) or
 * run nothing yet (a deploy). The fleet service advances `started` wave by wave, each only when
 * every target of the previous wave runs the new revision and is ready, and deletes the field
 * when the last wave is done. Kept in the record, so a restarted service resumes it from git and
 * every step is a commit (who paused, when a wave began).
 */
export const RolloutRecord = z
  .strictObject({
    id,
    from: z.strictObject({ image }).optional().meta({
      description:
        'An upgrade: what the hosts not yet reached keep. Absent: a deploy (those hosts run nothing yet)',
    }),
    waves: z
      .array(z.array(name('host')).min(1))
      .min(1)
      .meta({ description: 'The hosts of each wave, in order; every host of the group is in one' }),
    started: z.number().int().min(0).meta({
      description:
        'How many waves have begun: the hosts of waves[0..started-1] run the record (0: a failed first wave was reverted)',
    }),
    phase: z
      .enum(['progressing', 'paused', 'failed'])
      .default('progressing')
      .meta({ description: 'paused and failed hold the rollout where it is' }),
    maxUnavailable: z.number().int().min(1).meta({
      description:
        "At most this many of the group's targets may be not ready (a wave's own targets included) before a wave begins",
    }),
    bakeSeconds: z.number().int().min(0).max(86400).default(0).meta({
      description: 'How long a wave must stay ready before the next one begins',
    }),
    revertOnFailure: z.boolean().default(false).meta({
      description:
        "A failed wave's targets go back to `from` (an upgrade) or run nothing again (a deploy); the waves before it keep the new revision",
    }),
    by: z.string().min(1).meta({ description: 'Who started it (the calling user)' }),
    reason: z.string().optional().meta({ description: 'Why it is paused or failed, for people' }),
  })
  .meta({ description: 'A rollout in waves, written and advanced by the fleet service' });
export type RolloutRecord = z.infer<typeof RolloutRecord>;

const agentFields = {
  template: name('template').optional().meta({ description: 'The template it starts from' }),
  state: z.enum(AGENT_STATES).default('running').meta({
    description:
      'stopped scales it to zero and keeps its config (sleep/wake); undeployed removes its workloads and keeps the record',
  }),
  placement,
  rollout: RolloutRecord.optional(),
  ...defaults,
};

/** A factory host: a Kubernetes node that joined the platform cluster. */
export const HostRecord = z
  .strictObject({
    kind: z.literal('Host'),
    name: name('host').meta({ description: 'The Kubernetes node name (kubernetes.io/hostname)' }),
    site: z.string().min(1).optional(),
    line: z.string().min(1).optional(),
    capabilities: z.array(z.string().regex(NAME)).optional(),
    specialised: z.boolean().default(false).meta({
      description:
        'The node is tainted fleet.kitt4sme.io/specialised:NoSchedule: only agents pinned to it (or its groups) run there',
    }),
  })
  .meta({ title: 'Host' });

/** A named list of hosts. */
export const GroupRecord = z
  .strictObject({
    kind: z.literal('Group'),
    id,
    name: name('group'),
    hosts: z.array(name('host')).min(1),
  })
  .meta({ title: 'Group' });

/** Defaults agents reference by name. */
export const TemplateRecord = z
  .strictObject({ kind: z.literal('Template'), id, name: name('template'), ...defaults })
  .meta({ title: 'Template' });

/** One agent of a tenant. */
export const AgentRecord = z
  .strictObject({
    kind: z.literal('Agent'),
    id,
    name: name('agent'),
    tenant: z.string().min(1).meta({ description: 'A tenant of the platform config' }),
    ...agentFields,
  })
  .meta({ title: 'Agent' });

/** One module of a pipeline: an agent of the pipeline's tenant, named <pipeline>-<module>. */
const PipelineModule = z.strictObject({ id, name: name('module'), ...agentFields });

/** Modules of one tenant and the connections between them. */
export const PipelineRecord = z
  .strictObject({
    kind: z.literal('Pipeline'),
    id,
    name: name('pipeline'),
    tenant: z.string().min(1),
    modules: z.array(PipelineModule).min(1),
    connections: z
      .array(
        z.strictObject({
          from: name('module'),
          to: z
            .string()
            .regex(
              /^([a-z0-9][-a-z0-9]*\/)?[a-z0-9][-a-z0-9]*(:[0-9]{1,5})?$/,
              'module, module:port, pipeline/module or pipeline/module:port',
            ),
        }),
      )
      .default([])
      .meta({
        description:
          "from → to[:port]: the downstream's address goes into the upstream's environment and only the upstream may reach that port",
      }),
  })
  .meta({ title: 'Pipeline' });

/**
 * A SealedSecret as kubeseal writes it (`npm run agents -- seal`): an agent's secret values,
 * encrypted to the cluster's Sealed Secrets key, unsealed by the controller into the agent's
 * Secret (`<agent object name>-secrets` in `agents-<tenant>`). Only the controller can open it.
 */
export const SealedSecretRecord = z
  .strictObject({
    apiVersion: z.literal('bitnami.com/v1alpha1'),
    kind: z.literal('SealedSecret'),
    metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().min(1) }),
    spec: z.looseObject({
      encryptedData: z
        .record(z.string().regex(/^[-._a-zA-Z0-9]+$/, 'a Secret key'), z.string().min(1))
        .refine((d) => Object.keys(d).length > 0, 'at least one sealed value'),
      template: z.record(z.string(), z.json()).optional(),
    }),
  })
  .meta({
    title: 'SealedSecret',
    description:
      "An agent's sealed secret values, written by `npm run agents -- seal` (kubeseal, strict scope): only the cluster's Sealed Secrets controller can decrypt them, into the agent's Secret",
  });
export type SealedSecretRecord = z.infer<typeof SealedSecretRecord>;

/** Any record of the fleet folder. */
export const FleetRecord = z
  .discriminatedUnion('kind', [
    HostRecord,
    GroupRecord,
    TemplateRecord,
    AgentRecord,
    PipelineRecord,
    SealedSecretRecord,
  ])
  .meta({
    title: 'kitt4sme fleet record',
    description:
      'One record of fleet/ (agents as code): Host, Group, Template, Agent, Pipeline or SealedSecret. `npm run agents -- plan` validates and renders them',
  });
export type FleetRecord = z.infer<typeof FleetRecord>;
export type HostRecord = z.infer<typeof HostRecord>;
export type GroupRecord = z.infer<typeof GroupRecord>;
export type TemplateRecord = z.infer<typeof TemplateRecord>;
export type AgentRecord = z.infer<typeof AgentRecord>;
export type PipelineRecord = z.infer<typeof PipelineRecord>;
export type PipelineModule = z.infer<typeof PipelineModule>;

/** The JSON Schema of one record (input form: defaults are optional). */
export function fleetRecordJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(FleetRecord, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}
