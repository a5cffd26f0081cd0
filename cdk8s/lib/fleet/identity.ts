/**
 * The agents' Keycloak clients, kept in step with the fleet by Argo CD: rendered with the
 * agents, a hook Job runs `realm-apply --agents` on every sync of the fleet, before the
 * agents' Deployments are applied, and writes each agent's client credentials into its
 * namespace (services/identity/src/agent-clients.ts). NOTE (1)
 *
 * - In Keycloak's namespace: the Job, its ServiceAccount and the ConfigMap listing the agents
 *   (their ids, names, tenants and needs: what their clients are made of); the Job reads the
 *   admin password from the keycloak-admin Secret there.
 * - In each agents namespace: a Role on Secrets (and on Deployments, to restart an agent whose
 *   credentials changed) bound to the Job's ServiceAccount, nothing else.
 * - Mesh: the Job may call Keycloak's admin login and the admin API of the platform realm's
 *   clients and users; each agent may call the realm's token endpoint (POST), nothing else of
 *   Keycloak.
 */
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';

import type { PlatformContext } from '../../../platform/context.js';
import type { AgentIdentity } from '../../../platform/fleet/agents-list.js';
import { AGENTS_FILE, agentIdentities } from '../../../platform/fleet/agents-list.js';
import { agentsNamespace } from '../../../platform/fleet/resolve.js';
import { meshPrincipal } from '../../../platform/mesh.js';
import type { MeshCaller } from '../workload.js';
import { PART_OF, hardenedSecurityContext, kubeResources, secretEnv } from '../workload.js';
import { EXCEPTIONS_ANNOTATION, encodeExceptions } from '../policy-exceptions.js';
import { MeshTarget } from './grants.js';

/** The name of the Job, its ServiceAccount, ConfigMap and Roles. */
export const AGENT_CLIENTS_JOB = 'agent-clients';

/** Where the Job mounts the agents list. */
const AGENTS_DIR = '/fleet';

/**
 * The sync wave of the Job (a `Sync` hook), after the namespaces, RBAC and the agents list
 * (wave 0), before the agents' Deployments ({@link AGENT_DEPLOYMENT_WAVE}). NOTE (1)
 */
export const AGENT_CLIENTS_WAVE = 1;
/** The sync wave of the agents' Deployments: after their credentials are written. */
export const AGENT_DEPLOYMENT_WAVE = 2;

/** Seconds the Job may run before Kubernetes stops it (and the sync fails, to be retried). */
const JOB_DEADLINE_SECONDS = 300;

/** The user the identity image runs as (services/identity/Dockerfile). */
const RUN_AS = 65532;

/** Props of {@link AgentClientsJob}. */
export interface AgentClientsJobProps {
  readonly context: PlatformContext;
  /** Every agent and pipeline module of the fleet. */
  readonly agents: readonly AgentIdentity[];
}

/** The hook Job that reconciles the agents' clients, with its identity and grants. */
export class AgentClientsJob extends Construct implements MeshCaller {
  readonly namespace: string;
  readonly meshPrincipal: string;
  readonly displayName = AGENT_CLIENTS_JOB;

  constructor(scope: Construct, id: string, props: AgentClientsJobProps) {
    super(scope, id);
    const ctx = props.context;
    this.namespace = ctx.componentNamespace('keycloak');
    this.meshPrincipal = meshPrincipal(this.namespace, AGENT_CLIENTS_JOB);
    const labels = { app: AGENT_CLIENTS_JOB, 'app.kubernetes.io/part-of': PART_OF };
    const metadata = { name: AGENT_CLIENTS_JOB, namespace: this.namespace, labels };

    new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata,
      automountServiceAccountToken: false,
    });
    new k8s.KubeConfigMap(this, 'Agents', {
      metadata,
      data: {
        [AGENTS_FILE]: `${JSON.stringify({ agents: agentIdentities(props.agents) }, null, 2)}\n`,
      },
    });
    const keycloakUrl = `${ctx.serviceUrl('keycloak', 'web')}${ctx.routePrefix('keycloak')}`;
    new k8s.KubeJob(this, 'Resource', {
      metadata: {
        ...metadata,
        annotations: {
          'argocd.argoproj.io/hook': 'Sync',
          // The last run stays for its log until the next sync replaces it.
          'argocd.argoproj.io/hook-delete-policy': 'BeforeHookCreation',
          'argocd.argoproj.io/sync-wave': String(AGENT_CLIENTS_WAVE),
          [EXCEPTIONS_ANNOTATION]: encodeExceptions([
            {
              container: 'realm-apply',
              rule: 'automountServiceAccountToken',
              reason:
                "it writes the agents' client Secrets through the Kubernetes API; its Roles allow Secrets and Deployments of the agents namespaces only",
            },
          ]),
        },
      },
      spec: {
        backoffLimit: 3,
        activeDeadlineSeconds: JOB_DEADLINE_SECONDS,
        template: {
          metadata: {
            labels,
            // The sidecar stops when the job's container is done (cdk8s/lib/backup.ts, NOTE 2).
            annotations: { 'sidecar.istio.io/nativeSidecar': 'true' },
          },
          spec: {
            serviceAccountName: AGENT_CLIENTS_JOB,
            // It calls the Kubernetes API (the agents' Secrets) with this token.
            automountServiceAccountToken: true,
            enableServiceLinks: false,
            restartPolicy: 'Never',
            securityContext: {
              runAsNonRoot: true,
              runAsUser: RUN_AS,
              runAsGroup: RUN_AS,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'realm-apply',
                image: ctx.image('identity'),
                imagePullPolicy: 'IfNotPresent',
                args: [
                  '--keycloak-url',
                  keycloakUrl,
                  '--agents',
                  '--agents-file',
                  `${AGENTS_DIR}/${AGENTS_FILE}`,
                ],
                env: [secretEnv('KEYCLOAK_ADMIN_PASSWORD', 'keycloakAdmin', 'password')],
                resources: kubeResources(ctx.size('identity').resources),
                securityContext: hardenedSecurityContext(true),
                volumeMounts: [{ name: 'agents', mountPath: AGENTS_DIR, readOnly: true }],
              },
            ],
            volumes: [
              {
                name: 'agents',
                configMap: { name: AGENT_CLIENTS_JOB, defaultMode: 0o444 },
              },
            ],
          },
        },
      },
    });

    // Keycloak: the admin login on the master realm, and the platform realm's clients and
    // their service accounts (the calls of services/identity/src/agent-clients.ts).
    const admin = `${ctx.routePrefix('keycloak')}/admin/realms/${ctx.config.identity.realm}`;
    const keycloak = new MeshTarget(this, 'Keycloak', {
      name: `fleet-${AGENT_CLIENTS_JOB}`,
      namespace: this.namespace,
      selector: { app: 'keycloak' },
    });
    const port = ctx.port('keycloak', 'web');
    keycloak.grantAccess(this, {
      ports: [port],
      methods: ['POST'],
      paths: [`${ctx.routePrefix('keycloak')}/realms/master/protocol/openid-connect/token`],
    });
    keycloak.grantAccess(this, {
      ports: [port],
      methods: ['GET'],
      paths: [admin, `${admin}/client-scopes`],
    });
    keycloak.grantAccess(this, {
      ports: [port],
      methods: ['GET', 'POST', 'PUT', 'DELETE'],
      paths: [`${admin}/clients`, `${admin}/clients/*`],
    });
    // A client's service account's realm roles (users/<id>/role-mappings/realm): Istio
    // matches a prefix or a suffix, not both, so users/* (read and delete, never write).
    keycloak.grantAccess(this, {
      ports: [port],
      methods: ['GET', 'DELETE'],
      paths: [`${admin}/users/*`],
    });
  }

  /** Lets the Job write the agents' client Secrets (and restart their Deployments) in `namespace`. */
  grantSecrets(scope: Construct, namespace: string): void {
    const labels = { app: AGENT_CLIENTS_JOB, 'app.kubernetes.io/part-of': PART_OF };
    const metadata = { name: AGENT_CLIENTS_JOB, namespace, labels };
    new k8s.KubeRole(scope, 'AgentClientsRole', {
      metadata,
      rules: [
        {
          apiGroups: [''],
          resources: ['secrets'],
          verbs: ['get', 'list', 'create', 'patch', 'delete'],
        },
        { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'patch'] },
      ],
    });
    new k8s.KubeRoleBinding(scope, 'AgentClientsBinding', {
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: AGENT_CLIENTS_JOB },
      subjects: [{ kind: 'ServiceAccount', name: AGENT_CLIENTS_JOB, namespace: this.namespace }],
    });
  }
}

/** Lets a tenant's agents ask Keycloak for their tokens: POST on the realm's token endpoint. */
export function grantTokenEndpoint(
  scope: Construct,
  ctx: PlatformContext,
  tenant: string,
  agents: readonly MeshCaller[],
): void {
  if (agents.length === 0) return;
  const keycloak = new MeshTarget(scope, 'Grants-keycloak-token', {
    name: `${agentsNamespace(tenant)}-keycloak`,
    namespace: ctx.componentNamespace('keycloak'),
    selector: { app: 'keycloak' },
  });
  for (const a of agents)
    keycloak.grantAccess(a, {
      ports: [ctx.port('keycloak', 'web')],
      methods: ['POST'],
      paths: [ctx.realmEndpointPath('token')],
    });
}

// NOTE
// 1. A Sync hook, not a PostSync one. Argo CD runs PostSync hooks only once every resource of
//    the sync is Healthy (gitops-engine pkg/sync/doc.go: "executes after ... all resources in
//    a Healthy state"). A new agent's pods cannot start before its credentials Secret exists
//    (its secretKeyRef), so its Deployment never becomes Healthy and a PostSync hook would
//    never write that Secret: the first sync of every new agent would hang. The Job is a Sync
//    hook in wave 1 instead: after the namespaces, the RBAC and the agents list (wave 0),
//    before the Deployments (wave 2), so it still runs on every sync, the Secrets exist when
//    the pods start, and a failed reconciliation fails the sync (retried by the Application's
//    retry policy) rather than leaving agents without credentials. A removed agent's client
//    goes in that same wave; its Deployment is pruned at the end of the sync.
//    See https://argo-cd.readthedocs.io/en/stable/user-guide/sync-waves/
