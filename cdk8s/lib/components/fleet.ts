/**
 * The fleet service (services/fleet): its writes are git commits of the agents-as-code records
 * to the GitOps repository (Argo CD renders and applies them), its reads join the records with
 * what runs. So it may do exactly this, and nothing else:
 *
 * - read the cluster: nodes and their leases, the agents' Deployments and pods in the tenants'
 *   agents namespaces, Argo CD's Applications; it writes nothing to the cluster (RBAC below);
 * - reach the GitOps repository: the git host through one ServiceEntry only its sidecar sees,
 *   or, in the local-only mode, the in-cluster git server's push port, which admits only its
 *   mesh identity (cdk8s/lib/gitops/local-git.ts);
 * - push with a credential generated at bootstrap (platform/secrets.ts FLEET_GIT_SECRET),
 *   never in git, mounted as files.
 *
 * Its API is behind the gateway at /fleet with the tenancy policy (its registry entry's route);
 * it enforces the policy in-process too, with the same data as the gateway's OPA.
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';

import { agentsNamespace } from '../../../platform/fleet/resolve.js';
import type { PlatformContext } from '../../../platform/context.js';
import { EVENTS_PORT_KEY, PLATFORM_EVENTS_URL_ENV } from '../../../platform/events.js';
import type { GitRemote } from '../../../platform/git-remote.js';
import { gitRemote } from '../../../platform/git-remote.js';
import { FLEET_GIT_SECRET } from '../../../platform/secrets.js';
import { LOCAL_GIT } from '../../../platform/config/schema.js';
import { AuthorizationPolicy, ServiceEntry, Sidecar } from '../../imports/istio.js';
import { modelObject } from '../model.js';
import { PART_OF, Workload, env, httpProbe } from '../workload.js';
import { addPolicyDataConfigMap, policyDataFile } from './policy-data.js';

/** The emptyDir the clone of the GitOps repository lives in. */
export const FLEET_DATA_DIR = '/var/lib/fleet';
/** The clone (FLEET_CLONE_DIR of services/fleet/src/config.ts), inside {@link FLEET_DATA_DIR}. */
export const FLEET_CLONE_DIR = `${FLEET_DATA_DIR}/repo`;
/** Where the push credential's files are mounted. */
export const FLEET_GIT_DIR = '/etc/fleet-git';
/** The askpass helper of the fleet image (services/fleet/Dockerfile). */
export const FLEET_ASKPASS = '/usr/local/bin/fleet-git-askpass';

/** The namespace node leases live in (the kubelet's heartbeats). */
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** What the fleet may do with what it reads: never more. */
const READ = ['get', 'list', 'watch'];

/** Props of {@link Fleet}. */
export interface FleetProps {
  readonly context: PlatformContext;
}

/** The fleet service, its read-only RBAC and its one way out of the mesh. */
export class Fleet extends Workload<'fleet'> {
  /** The GitOps repository as the service reaches it. */
  readonly remote: GitRemote;

  constructor(scope: Construct, id: string, props: FleetProps) {
    const ctx = props.context;
    const port = ctx.port('fleet', 'api');
    const remote = gitRemote(ctx.config.gitops.repoURL);
    const policy = policyDataFile(ctx, 'fleet');
    const credential = remote.kind !== 'local';
    super(scope, id, {
      context: ctx,
      service: 'fleet',
      kind: 'Deployment',
      // services/fleet/Dockerfile: USER 65532:65532 (with a passwd entry, which ssh needs).
      runAs: { user: 65532, group: 65532 },
      // The service serves Prometheus text on /metrics; Istio merges it (provisioning.ts NOTE 2).
      podAnnotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(port),
        'prometheus.io/path': '/metrics',
      },
      volumes: [
        policy.volume,
        // The clone: rebuilt from the remote at start, so nothing is lost with the pod.
        { name: 'clone', emptyDir: { sizeLimit: k8s.Quantity.fromString('512Mi') } },
        ...(credential
          ? [
              {
                name: 'git-credential',
                secret: {
                  secretName: FLEET_GIT_SECRET.name,
                  // Root-owned, readable by the pod's group (fsGroup) only: ssh accepts a key
                  // that its user does not own with group read. NOTE (1)
                  defaultMode: 0o440,
                },
              },
            ]
          : []),
      ],
      containers: [
        {
          name: 'fleet',
          image: 'fleet',
          env: [
            env('FLEET_PORT', port),
            // The plain URL: the credential reaches git through the variables below. NOTE (1)
            env('FLEET_GIT_URL', remote.url),
            env('FLEET_GIT_BRANCH', ctx.config.gitops.targetRevision),
            env('FLEET_CLONE_DIR', FLEET_CLONE_DIR),
            // Its events go to the monitor's events port (platform/events.ts).
            env(PLATFORM_EVENTS_URL_ENV, ctx.serviceUrl('monitor', EVENTS_PORT_KEY)),
            env('KEYCLOAK_JWKS_URL', ctx.jwksUri),
            policy.envVar,
            // git writes its global config and ssh its state under HOME: the /tmp emptyDir.
            env('HOME', '/tmp'),
            // Never wait for a password on a terminal that is not there.
            env('GIT_TERMINAL_PROMPT', 0),
            ...gitCredentialEnv(remote),
            env('LOG_LEVEL', 'info'),
          ],
          ports: ['api'],
          writableTmp: true,
          exceptions: [
            {
              rule: 'automountServiceAccountToken',
              reason:
                "it reads nodes, node leases, the agents' Deployments and pods and Argo CD's Applications with its ServiceAccount's token (get, list and watch only)",
            },
          ],
          // /healthz: the process serves; /readyz: the clone is there and the policy loaded
          // (not the git host's or the API server's health: provisioning.ts NOTE 3).
          startupProbe: httpProbe('/healthz', port, { periodSeconds: 2, failureThreshold: 60 }),
          livenessProbe: httpProbe('/healthz', port, { periodSeconds: 15, failureThreshold: 4 }),
          readinessProbe: httpProbe('/readyz', port, { periodSeconds: 10 }),
          volumeMounts: [
            policy.mount,
            { name: 'clone', mountPath: FLEET_DATA_DIR },
            ...(credential
              ? [{ name: 'git-credential', mountPath: FLEET_GIT_DIR, readOnly: true }]
              : []),
          ],
        },
      ],
    });
    this.remote = remote;
    addPolicyDataConfigMap(this, policy, this.namespace, this.name);
    this.addReadAccess(ctx);
    if (remote.kind === 'local') this.addLocalGitPushGrant(ctx);
    else this.addGitEgress(remote);
  }

  /** The read-only RBAC: nodes, node leases, the agents' workloads, Argo CD's Applications. */
  private addReadAccess(ctx: PlatformContext): void {
    const labels = { app: this.name, 'app.kubernetes.io/part-of': PART_OF };
    const subject = {
      kind: 'ServiceAccount',
      name: this.serviceAccountName,
      namespace: this.namespace,
    };
    const clusterRole = `kitt4sme-${this.name}-nodes`;
    new k8s.KubeClusterRole(this, 'NodesRole', {
      metadata: { name: clusterRole, labels },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: READ }],
    });
    new k8s.KubeClusterRoleBinding(this, 'NodesBinding', {
      metadata: { name: clusterRole, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
      subjects: [subject],
    });
    // One Role per namespace, so no grant reaches a namespace it does not name. NOTE (2)
    const grants: { id: string; namespace: string; rules: k8s.PolicyRule[] }[] = [
      {
        id: 'NodeLeases',
        namespace: NODE_LEASE_NAMESPACE,
        rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: READ }],
      },
      {
        id: 'Applications',
        namespace: ctx.namespace('argocd'),
        rules: [{ apiGroups: ['argoproj.io'], resources: ['applications'], verbs: READ }],
      },
      ...ctx.config.tenants.map((t) => ({
        id: `Agents-${t.name}`,
        namespace: agentsNamespace(t.name),
        rules: [
          { apiGroups: ['apps'], resources: ['deployments'], verbs: READ },
          { apiGroups: [''], resources: ['pods'], verbs: READ },
        ],
      })),
    ];
    const name = `${this.name}-reader`;
    for (const g of grants) {
      new k8s.KubeRole(this, `${g.id}Role`, {
        metadata: { name, namespace: g.namespace, labels },
        rules: g.rules,
      });
      new k8s.KubeRoleBinding(this, `${g.id}Binding`, {
        metadata: { name, namespace: g.namespace, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [subject],
      });
    }
  }

  /**
   * The git host, as the one host outside the mesh the fleet's sidecar may reach, and no
   * other sidecar of the namespace. NOTE (3)
   */
  private addGitEgress(remote: Exclude<GitRemote, { kind: 'local' }>): void {
    const labels = { app: this.name, 'app.kubernetes.io/part-of': PART_OF };
    const ssh = remote.kind === 'ssh';
    modelObject(
      this,
      'GitHost',
      ServiceEntry({
        metadata: { name: `${this.name}-git-host`, namespace: this.namespace, labels },
        spec: {
          hosts: [remote.host],
          // Seen only by the sidecars of its own namespace, and of those only the fleet's
          // imports it (the Sidecars below).
          exportTo: ['.'],
          location: 'MESH_EXTERNAL',
          resolution: 'DNS',
          ports: [
            ssh
              ? { number: remote.port, name: 'tcp-git-ssh', protocol: 'TCP' }
              : { number: remote.port, name: 'tls-git-https', protocol: 'TLS' },
          ],
        },
      }),
    );
    const inCluster = '*/*.cluster.local';
    modelObject(
      this,
      'NamespaceEgress',
      Sidecar({
        metadata: {
          name: 'default',
          namespace: this.namespace,
          labels: { 'app.kubernetes.io/part-of': PART_OF },
        },
        spec: { egress: [{ hosts: [inCluster] }] },
      }),
    );
    modelObject(
      this,
      'Egress',
      Sidecar({
        metadata: { name: this.name, namespace: this.namespace, labels },
        spec: {
          workloadSelector: { labels: { ...this.selectorLabels } },
          egress: [{ hosts: [inCluster, `./${remote.host}`] }],
        },
      }),
    );
  }

  /**
   * The local-only mode: the in-cluster git server's push port admits the fleet's mesh identity
   * and nothing else; its sidecar delivers to the push daemon on the pod's loopback. NOTE (4)
   */
  private addLocalGitPushGrant(ctx: PlatformContext): void {
    const namespace = ctx.namespace('argocd');
    const selector = { 'app.kubernetes.io/name': LOCAL_GIT.service };
    const labels = { ...selector, 'app.kubernetes.io/part-of': PART_OF };
    modelObject(
      this,
      'LocalGitPolicy',
      AuthorizationPolicy({
        metadata: { name: `${LOCAL_GIT.service}-allow`, namespace, labels },
        spec: {
          selector: { matchLabels: selector },
          action: 'ALLOW',
          rules: [
            // Argo CD's repo server (outside the mesh, in plaintext) fetches from the read-only
            // daemon, as before the sidecar.
            { to: [{ operation: { ports: [String(LOCAL_GIT.port)] } }] },
            {
              from: [{ source: { principals: [this.meshPrincipal] } }],
              to: [{ operation: { ports: [String(LOCAL_GIT.pushPort)] } }],
            },
          ],
        },
      }),
    );
    modelObject(
      this,
      'LocalGitSidecar',
      Sidecar({
        metadata: { name: LOCAL_GIT.service, namespace, labels },
        spec: {
          workloadSelector: { labels: selector },
          ingress: [
            {
              port: { number: LOCAL_GIT.port, protocol: 'TCP', name: 'tcp-git' },
              defaultEndpoint: `0.0.0.0:${LOCAL_GIT.port}`,
            },
            {
              port: { number: LOCAL_GIT.pushPort, protocol: 'TCP', name: 'tcp-git-push' },
              defaultEndpoint: `127.0.0.1:${LOCAL_GIT.pushPort}`,
            },
          ],
          // It calls nothing.
          egress: [{ hosts: ['istio-system/*'] }],
        },
      }),
    );
  }
}

/** How git authenticates the pushes: an ssh deploy key or an https token. NOTE (1) */
function gitCredentialEnv(remote: GitRemote): k8s.EnvVar[] {
  const file = (key: string) => `${FLEET_GIT_DIR}/${key}`;
  switch (remote.kind) {
    case 'local':
      return [];
    case 'ssh':
      return [
        env(
          'GIT_SSH_COMMAND',
          [
            'ssh',
            `-i ${file(FLEET_GIT_SECRET.privateKey)}`,
            '-o IdentitiesOnly=yes',
            `-o UserKnownHostsFile=${file(FLEET_GIT_SECRET.knownHosts)}`,
            '-o StrictHostKeyChecking=yes',
            '-o BatchMode=yes',
          ].join(' '),
        ),
      ];
    case 'https':
      return [
        env('GIT_ASKPASS', FLEET_ASKPASS),
        env('FLEET_GIT_TOKEN_FILE', file(FLEET_GIT_SECRET.token)),
      ];
  }
}

// NOTE
// 1. The push credential. The remote's scheme decides it (platform/git-remote.ts): an ssh URL
//    gets an ed25519 deploy key (write access to the fork alone, revocable there, generated at
//    bootstrap: no person's account) with GIT_SSH_COMMAND naming the key and a pinned
//    known_hosts (StrictHostKeyChecking=yes: the first connection trusts no key it is shown); an
//    https URL gets the token the user made, through GIT_ASKPASS, a helper of the image that
//    prints the mounted file, so the token is never in the URL, the environment, argv, the
//    clone's .git/config or git's error messages. The deploy key is preferred (the bootstrap
//    makes it and nothing else can use it); https is for hosts or policies without deploy keys.
//    FLEET_GIT_URL is the plain URL, so the service's git commands must inherit these variables
//    from its environment (and not replace GIT_ASKPASS with one of their own).
// 2. Read-only, per namespace. Nodes are cluster-scoped, hence the ClusterRole; everything else
//    is a Role in its own namespace: leases in kube-node-lease, Deployments and pods in each
//    tenant's agents namespace (from the tenant list, so a new tenant adds one), Applications
//    in argocd. Only get, list and watch: the service changes the cluster only through git.
// 3. Egress. The mesh's outboundTrafficPolicy is REGISTRY_ONLY (istiod's meshConfig,
//    cdk8s/lib/gitops/chart-values.ts): a sidecar reaches only hosts of its registry view. The
//    git host joins the registry through a ServiceEntry exported to its own namespace only,
//    and the namespace's default Sidecar limits every other workload's view to the cluster's
//    own services (`*/*.cluster.local`, which is what they reached before), while the fleet's
//    Sidecar adds the git host. So the fleet reaches the git host, Keycloak's JWKS and the
//    kube-apiserver (the `kubernetes` Service), and no other sidecar gains a way out.
//    See https://istio.io/latest/docs/reference/config/networking/sidecar/ and
//    https://istio.io/latest/docs/tasks/traffic-management/egress/egress-control/
// 4. The local git server's push port. Its sidecar (a pod label asks Istio to inject one,
//    local-git.ts) accepts mTLS from meshed clients and plaintext from the rest (argocd is not a
//    meshed namespace: PERMISSIVE), and this ALLOW policy admits the read-only port from anyone
//    and the push port only from the fleet's principal; a plaintext client has no principal, so
//    only the fleet's sidecar can push. The Sidecar's ingress sends the push port to the daemon
//    on loopback: without a sidecar nothing listens on the pod's address there (fail closed).
//    Istio's objects cannot be applied with the server itself (argocd/bootstrap.sh applies it
//    before Istio's CRDs exist), so they come with the fleet, after Istio.
