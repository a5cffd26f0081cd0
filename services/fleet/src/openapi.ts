/**
 * The fleet API's OpenAPI 3.1 document (served at /fleet/openapi.json), its request bodies from
 * the same zod schemas the routes validate with.
 */
import { z } from 'zod';

import { AGENT_STATES } from '../../../platform/fleet/records.js';
import { TARGET_STATES, TARGET_STATE_DOCS } from '../../../platform/fleet/status.js';
import { DeployBody, GroupBody, GroupHostsBody, UpgradeBody } from './model.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problem = {
  description:
    'An RFC 9457 problem with `code` and `fix`; invalid input lists `errors` (field, message, code); a conflict carries the current `etag`',
  content: { 'application/problem+json': { schema: ref('Problem') } },
};
const json = (schema: string, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(schema) } },
});
const etagHeader = {
  ETag: {
    description: "The record's ETag: send it back in If-Match",
    schema: { type: 'string' },
  },
};
const withEtag = (schema: string, description: string) => ({
  ...json(schema, description),
  headers: etagHeader,
});

const tenant = {
  name: 'fiware-service',
  in: 'header',
  required: true,
  description: 'The tenant; the token must hold it (platform admins: any tenant)',
  schema: { type: 'string' },
};
const pathName = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
});
const agentName = pathName('name', "The agent's name; a pipeline module's is <pipeline>-<module>");
const dryRun = {
  name: 'dry_run',
  in: 'query',
  required: false,
  description: 'true: validate and answer the diff the write would commit; nothing is committed',
  schema: { type: 'string', enum: ['true', 'false'] },
};
const ifMatch = {
  name: 'If-Match',
  in: 'header',
  required: false,
  description:
    "The record's ETag as read (GET): the write happens only if the record is unchanged, else 409 with the current ETag. Absent: no precondition",
  schema: { type: 'string' },
};
const body = (schema: z.ZodType) => ({
  required: true,
  content: { 'application/json': { schema: z.toJSONSchema(schema, { io: 'input' }) } },
});

/** The problems a read may answer. */
const readProblems = {
  '400': problem,
  '403': problem,
  '404': problem,
  '502': problem,
  '503': problem,
  default: problem,
};
/** The problems a write may answer. */
const writeProblems = {
  '400': problem,
  '403': problem,
  '404': problem,
  '409': problem,
  '413': problem,
  '415': problem,
  '502': problem,
  '503': problem,
  default: problem,
};
/** The answers of a write. */
const writeResponses = (extra: Record<string, unknown> = {}) => ({
  '200': withEtag('WriteResult', 'Written (or, with dry_run=true, what would be written)'),
  ...extra,
  ...writeProblems,
});
const groupTargetResponses = writeResponses({
  '201': withEtag('WriteResult', 'Created: the record is new'),
  '207': withEtag(
    'WriteResult',
    'A group target with mixed results: `targets` says which hosts were accepted and which refused, and why',
  ),
});

/** The document. */
export function buildOpenApi() {
  const roles = (r: string) => `Roles: ${r}.`;
  const agentWrite = (
    summary: string,
    description: string,
    opts: { body?: z.ZodType; responses?: unknown } = {},
  ) => ({
    post: {
      summary,
      description: `${description} ${roles('operator, tenant-admin, platform-admin')}`,
      parameters: [tenant, agentName, dryRun, ifMatch],
      ...(opts.body ? { requestBody: body(opts.body) } : {}),
      responses: opts.responses ?? writeResponses(),
    },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'kitt4sme fleet service',
      version: '1',
      description: [
        'Agents and pipelines of a tenant on the factory hosts: every write is one git commit of the agents-as-code records (fleet/) in the GitOps repository, authored as the calling user and committed by the service; Argo CD renders and applies them. Reads combine the records with what runs, when the service has a status source.',
        '',
        'Concurrency: each record has an ETag (GET answers it); writes take If-Match and answer 409 (ERR_FLEET_CONFLICT, the current `etag` in the problem) when the record changed. A write whose push finds the branch moved is redone on the new head, so a change of another record is kept and never lost.',
        '',
        'Every write answers the commit, its base, the records changed and the unified diff; dry_run=true answers the same without committing. Writes to a group answer a result per host (`targets`), 207 when some hosts were refused.',
        '',
        'Rollouts in waves (group deploys and upgrades with `rollout`) are written into the record; the service advances them wave by wave. Cancel reverts: an upgrade goes back to its `from` image, a deploy is undeployed (record kept).',
        '',
        `Target states (GET status): ${TARGET_STATES.map((s) => `${s}: ${TARGET_STATE_DOCS[s]}`).join('; ')}.`,
      ].join('\n'),
    },
    paths: {
      '/v1/hosts': {
        get: {
          summary: 'The host inventory',
          description: `Every Host record, its groups and (with a status source) its node's readiness. ${roles('any role of the tenant')}`,
          parameters: [tenant],
          responses: { '200': json('Hosts', 'The hosts'), ...readProblems },
        },
      },
      '/v1/groups': {
        get: {
          summary: 'The groups',
          description: `Groups are shared by every tenant. ${roles('any role of the tenant')}`,
          parameters: [tenant],
          responses: { '200': json('Groups', 'The groups'), ...readProblems },
        },
        post: {
          summary: 'Create a group',
          description: `A new Group record; every host must be in the inventory. ${roles('platform-admin')}`,
          parameters: [tenant, dryRun],
          requestBody: body(GroupBody),
          responses: writeResponses({ '201': withEtag('WriteResult', 'Created') }),
        },
      },
      '/v1/groups/{name}': {
        get: {
          summary: 'A group',
          parameters: [tenant, pathName('name', "The group's name")],
          responses: { '200': withEtag('GroupAnswer', 'The group'), ...readProblems },
        },
        delete: {
          summary: 'Delete a group',
          description: `Refused (400, ERR_FLEET_UNKNOWN_GROUP in errors) while a record places agents on it. ${roles('platform-admin')}`,
          parameters: [tenant, pathName('name', "The group's name"), dryRun, ifMatch],
          responses: writeResponses(),
        },
      },
      '/v1/groups/{name}/hosts': {
        post: {
          summary: 'Add hosts to a group',
          description: `One result per host: accepted (added, or already a member) or refused (not in the inventory); 207 when mixed, 400 when every host is refused (nothing committed). ${roles('platform-admin')}`,
          parameters: [tenant, pathName('name', "The group's name"), dryRun, ifMatch],
          requestBody: body(GroupHostsBody),
          responses: writeResponses({ '207': withEtag('WriteResult', 'Some hosts were refused') }),
        },
      },
      '/v1/groups/{name}/hosts/{host}': {
        delete: {
          summary: 'Remove a host from a group',
          description: `A group keeps at least one host. ${roles('platform-admin')}`,
          parameters: [
            tenant,
            pathName('name', "The group's name"),
            pathName('host', "The host's name"),
            dryRun,
            ifMatch,
          ],
          responses: writeResponses(),
        },
      },
      '/v1/agents': {
        get: {
          summary: "The tenant's agents and pipeline modules",
          description: `Each with its record, ETag, placement, state, rollout and (with a status source) its targets. ${roles('any role of the tenant')}`,
          parameters: [tenant],
          responses: { '200': json('Agents', 'The agents'), ...readProblems },
        },
      },
      '/v1/agents/{name}': {
        get: {
          summary: 'An agent',
          description: `Another tenant's agent is 404. ${roles('any role of the tenant')}`,
          parameters: [tenant, agentName],
          responses: { '200': withEtag('AgentAnswer', 'The agent'), ...readProblems },
        },
        delete: {
          summary: 'Remove an agent',
          description: `Deletes its record (a module: takes it out of its pipeline; the last module: remove the pipeline). ${roles('operator, tenant-admin, platform-admin')}`,
          parameters: [tenant, agentName, dryRun, ifMatch],
          responses: writeResponses(),
        },
      },
      '/v1/agents/{name}/history': {
        get: {
          summary: "The agent's revisions, newest first",
          description: `From git log of its record's file: each commit that changed the agent's document. ${roles('any role of the tenant')}`,
          parameters: [tenant, agentName],
          responses: { '200': json('History', 'The revisions'), ...readProblems },
        },
      },
      '/v1/agents/{name}/deploy': agentWrite(
        'Deploy an agent to a host or a group',
        'Sets its placement and state running. With `record`, creates or replaces the Agent record; without, deploys the existing one. A group target may ask for waves (`rollout`); 409 while a rollout of the record is progressing or paused.',
        { body: DeployBody, responses: groupTargetResponses },
      ),
      '/v1/agents/{name}/stop': agentWrite(
        'Stop an agent',
        'state: stopped (scaled to zero, config kept).',
      ),
      '/v1/agents/{name}/resume': agentWrite('Resume an agent', 'state: running.'),
      '/v1/agents/{name}/undeploy': agentWrite(
        'Undeploy an agent',
        'state: undeployed (workloads removed, record kept).',
      ),
      '/v1/agents/{name}/upgrade': agentWrite(
        'Upgrade an agent to an image',
        'At once, or (group placements, `rollout`) in waves whose hosts keep the current image until their wave. 409 while a rollout is progressing or paused.',
        { body: UpgradeBody, responses: groupTargetResponses },
      ),
      '/v1/agents/{name}/rollback': agentWrite(
        'Roll back to the previous revision',
        "Puts back the newest earlier revision of the agent's document (from git history) that differs in anything but state and rollout; the state is kept. 409 ERR_FLEET_NO_HISTORY when there is none, ERR_FLEET_CONFLICT when the record changed meanwhile.",
      ),
      '/v1/agents/{name}/rollout/pause': agentWrite(
        'Pause a rollout',
        'A progressing rollout holds where it is (phase paused).',
      ),
      '/v1/agents/{name}/rollout/resume': agentWrite(
        'Resume a rollout',
        'A paused or failed rollout goes on (phase progressing).',
      ),
      '/v1/agents/{name}/rollout/cancel': agentWrite(
        'Cancel a rollout',
        'Reverts: an upgrade goes back to its from image on every host; a deploy is undeployed (record kept).',
      ),
      '/v1/pipelines/{name}': {
        get: {
          summary: 'A pipeline',
          parameters: [tenant, pathName('name', "The pipeline's name")],
          responses: { '200': withEtag('PipelineAnswer', 'The pipeline'), ...readProblems },
        },
        delete: {
          summary: 'Remove a pipeline',
          description: `Deletes the Pipeline record and so every module. ${roles('operator, tenant-admin, platform-admin')}`,
          parameters: [tenant, pathName('name', "The pipeline's name"), dryRun, ifMatch],
          responses: writeResponses(),
        },
      },
      '/v1/pipelines/{name}/deploy': {
        post: {
          summary: 'Deploy a pipeline to a host or a group',
          description: `Every module gets the placement and state running (and, with \`rollout\`, its waves). With \`record\`, creates or replaces the Pipeline record. ${roles('operator, tenant-admin, platform-admin')}`,
          parameters: [tenant, pathName('name', "The pipeline's name"), dryRun, ifMatch],
          requestBody: body(DeployBody),
          responses: groupTargetResponses,
        },
      },
      '/v1/status': {
        get: {
          summary: 'What runs: hosts and agent × host targets',
          description: `From the service's status source (Kubernetes nodes, leases and workloads); 503 ERR_FLEET_NO_STATUS without one. ${roles('any role of the tenant')}`,
          parameters: [tenant],
          responses: { '200': json('Status', 'The status'), ...readProblems },
        },
      },
      '/v1/rollouts': {
        get: {
          summary: "The tenant's rollouts in waves: where each is and what it waits for",
          description: `The rollout runner's last judgement of each rollout (every few seconds): its wave, the decision (wait, hold, next, complete, fail) with the reason, and its targets' status. A rollout that completed is gone from the list (its record has no rollout any more). 503 ERR_FLEET_NO_STATUS without a status source. ${roles('any role of the tenant')}`,
          parameters: [tenant],
          responses: { '200': json('RolloutList', 'The rollouts'), ...readProblems },
        },
      },
      '/v1/platform/applications': {
        get: {
          summary: "The platform's Argo CD Applications: sync and health",
          description: `Read-only, for the console's platform view. ${roles('platform-admin')}`,
          parameters: [tenant],
          responses: { '200': json('ApplicationList', 'The Applications'), ...readProblems },
        },
      },
    },
    components: {
      schemas: {
        Placement: {
          oneOf: [
            { type: 'object', required: ['host'], properties: { host: { type: 'string' } } },
            { type: 'object', required: ['group'], properties: { group: { type: 'string' } } },
            {
              type: 'object',
              required: ['floating'],
              properties: { floating: { const: true } },
            },
          ],
        },
        Rollout: {
          type: 'object',
          required: ['id', 'phase', 'started', 'waves', 'reached', 'max_unavailable', 'by'],
          properties: {
            id: { type: 'string' },
            phase: { enum: ['progressing', 'paused', 'failed'] },
            started: { type: 'integer', description: 'Waves begun' },
            waves: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
            reached: { type: 'array', items: { type: 'string' } },
            max_unavailable: { type: 'integer' },
            bake_seconds: { type: 'integer' },
            revert_on_failure: { type: 'boolean' },
            by: { type: 'string' },
            from: {
              type: 'object',
              properties: { image: { type: 'string' }, revision: { type: 'string' } },
            },
            reason: { type: 'string' },
          },
        },
        TargetStatus: {
          type: 'object',
          required: ['agent', 'host', 'state', 'reason', 'since'],
          properties: {
            agent: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                name: { type: 'string' },
                tenant: { type: 'string' },
                pipeline: { type: 'string' },
              },
            },
            host: { type: 'string' },
            desiredRevision: { type: 'string' },
            observedRevision: { type: 'string' },
            state: { enum: [...TARGET_STATES] },
            reason: { type: 'string' },
            since: { type: 'string' },
            image: { type: 'string' },
            rollout: { type: 'string' },
          },
        },
        RolloutList: {
          type: 'object',
          required: ['rollouts'],
          properties: {
            rollouts: {
              type: 'array',
              items: {
                type: 'object',
                required: [
                  'id',
                  'agent',
                  'kind',
                  'phase',
                  'started',
                  'waves',
                  'revision',
                  'decision',
                  'targets',
                ],
                properties: {
                  id: { type: 'string' },
                  agent: { type: 'object' },
                  kind: { enum: ['deploy', 'upgrade'] },
                  phase: { enum: ['progressing', 'paused', 'failed'] },
                  started: { type: 'integer' },
                  waves: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
                  image: { type: 'string' },
                  from: { type: 'string' },
                  revision: { type: 'string' },
                  max_unavailable: { type: 'integer' },
                  bake_seconds: { type: 'integer' },
                  revert_on_failure: { type: 'boolean' },
                  by: { type: 'string' },
                  decision: {
                    type: 'object',
                    required: ['action', 'reason'],
                    properties: {
                      action: { enum: ['wait', 'hold', 'next', 'complete', 'fail'] },
                      reason: { type: 'string' },
                      wave: { type: 'integer' },
                      revert: { type: 'boolean' },
                    },
                  },
                  targets: { type: 'array', items: ref('TargetStatus') },
                  commit: { type: 'string' },
                },
              },
            },
          },
        },
        ApplicationList: {
          type: 'object',
          required: ['applications'],
          properties: {
            applications: {
              type: 'array',
              // observe.ts ApplicationSummary
              items: {
                type: 'object',
                required: ['name', 'sync', 'health', 'conditions'],
                properties: {
                  name: { type: 'string' },
                  sync: { type: 'string', description: 'Synced, OutOfSync or Unknown' },
                  revision: { type: 'string' },
                  health: {
                    type: 'string',
                    description: 'Healthy, Progressing, Degraded, Suspended, Missing or Unknown',
                  },
                  healthMessage: { type: 'string' },
                  operation: {
                    type: 'object',
                    required: ['phase'],
                    properties: { phase: { type: 'string' }, message: { type: 'string' } },
                  },
                  conditions: { type: 'array', items: { type: 'string' } },
                },
              },
            },
          },
        },
        HostStatus: {
          type: 'object',
          required: ['name', 'ready', 'reason', 'in_inventory'],
          properties: {
            name: { type: 'string' },
            ready: { enum: ['Ready', 'NotReady', 'Unknown'] },
            reason: { type: 'string' },
            since: { type: 'string' },
            lease_renewed_at: { type: 'string' },
            in_inventory: { type: 'boolean' },
          },
        },
        Agent: {
          type: 'object',
          required: [
            'name',
            'tenant',
            'id',
            'record_kind',
            'etag',
            'image',
            'revision',
            'state',
            'placement',
            'hosts',
            'record',
          ],
          properties: {
            name: { type: 'string' },
            tenant: { type: 'string' },
            id: { type: 'string' },
            pipeline: { type: 'string', description: 'The pipeline of a module' },
            record_kind: {
              enum: ['Agent', 'Pipeline'],
              description: "The record the ETag is of: the agent's, or its pipeline's",
            },
            etag: { type: 'string' },
            image: { type: 'string', description: 'The image (template merged)' },
            revision: { type: 'string' },
            state: { enum: [...AGENT_STATES] },
            placement: ref('Placement'),
            hosts: { type: 'array', items: { type: 'string' } },
            rollout: ref('Rollout'),
            record: { type: 'object', description: "The agent's document as in git" },
            targets: { type: 'array', items: ref('TargetStatus') },
          },
        },
        Agents: {
          type: 'object',
          required: ['commit', 'agents'],
          properties: {
            commit: { type: 'string' },
            observed_at: { type: 'string' },
            agents: { type: 'array', items: ref('Agent') },
          },
        },
        AgentAnswer: {
          type: 'object',
          required: ['commit', 'agent'],
          properties: { commit: { type: 'string' }, agent: ref('Agent') },
        },
        History: {
          type: 'object',
          required: ['commit', 'revisions'],
          properties: {
            commit: { type: 'string' },
            revisions: {
              type: 'array',
              items: {
                type: 'object',
                required: ['commit', 'record'],
                properties: { commit: { type: 'string' }, record: { type: 'object' } },
              },
            },
          },
        },
        Group: {
          type: 'object',
          required: ['name', 'id', 'hosts', 'etag'],
          properties: {
            name: { type: 'string' },
            id: { type: 'string' },
            hosts: { type: 'array', items: { type: 'string' } },
            etag: { type: 'string' },
          },
        },
        Groups: {
          type: 'object',
          required: ['commit', 'groups'],
          properties: {
            commit: { type: 'string' },
            groups: { type: 'array', items: ref('Group') },
          },
        },
        GroupAnswer: {
          type: 'object',
          required: ['commit', 'group'],
          properties: { commit: { type: 'string' }, group: ref('Group') },
        },
        Hosts: {
          type: 'object',
          required: ['commit', 'hosts'],
          properties: {
            commit: { type: 'string' },
            hosts: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'specialised', 'groups'],
                properties: {
                  name: { type: 'string' },
                  specialised: { type: 'boolean' },
                  site: { type: 'string' },
                  line: { type: 'string' },
                  capabilities: { type: 'array', items: { type: 'string' } },
                  groups: { type: 'array', items: { type: 'string' } },
                  status: ref('HostStatus'),
                },
              },
            },
          },
        },
        PipelineAnswer: {
          type: 'object',
          required: ['commit', 'pipeline'],
          properties: {
            commit: { type: 'string' },
            pipeline: {
              type: 'object',
              required: ['name', 'tenant', 'id', 'etag', 'record', 'modules'],
              properties: {
                name: { type: 'string' },
                tenant: { type: 'string' },
                id: { type: 'string' },
                etag: { type: 'string' },
                record: { type: 'object' },
                modules: { type: 'array', items: { type: 'string' } },
              },
            },
          },
        },
        Status: {
          type: 'object',
          required: ['commit', 'observed_at', 'hosts', 'targets'],
          properties: {
            commit: { type: 'string' },
            observed_at: { type: 'string' },
            hosts: { type: 'array', items: ref('HostStatus') },
            targets: { type: 'array', items: ref('TargetStatus') },
          },
        },
        TargetResult: {
          type: 'object',
          required: ['host', 'result', 'reason'],
          properties: {
            agent: { type: 'string', description: 'The agent (absent for group membership)' },
            host: { type: 'string' },
            result: { enum: ['accepted', 'refused'] },
            reason: { type: 'string' },
            wave: { type: 'integer', description: 'The wave that reaches the host, in a rollout' },
          },
        },
        WriteResult: {
          type: 'object',
          required: ['commit', 'base', 'dry_run', 'records', 'deleted', 'diff'],
          properties: {
            commit: {
              type: ['string', 'null'],
              description: 'The pushed commit; null on a dry run or when nothing changed',
            },
            base: { type: 'string', description: 'The commit the write was based on' },
            dry_run: { type: 'boolean' },
            records: {
              type: 'array',
              items: {
                type: 'object',
                required: ['kind', 'name', 'file', 'action'],
                properties: {
                  kind: { type: 'string' },
                  name: { type: 'string' },
                  id: { type: 'string' },
                  file: { type: 'string' },
                  action: { enum: ['created', 'updated', 'unchanged'] },
                  idAssigned: { type: 'boolean' },
                },
              },
            },
            deleted: { type: 'array', items: { type: 'string' } },
            diff: { type: 'string', description: 'Unified diff of the record files' },
            agents: { type: 'array', items: ref('Agent') },
            group: ref('Group'),
            targets: { type: 'array', items: ref('TargetResult') },
            rolled_back_to: { type: 'string', description: 'The commit of the revision put back' },
          },
        },
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'detail'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            instance: { type: 'string' },
            code: { type: 'string' },
            fix: { type: 'string' },
            etag: { type: 'string', description: "A conflict's current ETag" },
            commit: { type: 'string' },
            rollout: { type: 'string' },
            errors: {
              type: 'array',
              items: {
                type: 'object',
                required: ['field', 'message'],
                properties: {
                  field: { type: 'string' },
                  message: { type: 'string' },
                  code: { type: 'string' },
                },
              },
            },
          },
        },
      },
    },
  };
}
