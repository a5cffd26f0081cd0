/**
 * `npm run bootstrap:secrets -- --rotate <id>`: gives a bootstrap secret a new value in every
 * copy that shares it, then makes the platform use it: the running realm through Keycloak's
 * admin API, the workloads that read it by a rollout restart.
 *
 * The order leaves, after any failure, a state that a rerun repairs:
 * 1. every copy is written (each Secret replaced at the version just read, so a concurrent
 *    change fails the write instead of being lost);
 * 2. the running realm takes the new values (only the clients and people rotated);
 * 3. the workloads that read the rotated keys restart.
 * Until step 2, Keycloak and the running pods still agree on the old value; a rerun at any
 * point starts again with a fresh value for every copy. NOTE (1)
 *
 * Which workloads read a Secret is never listed by hand: they are found in the cluster (the
 * pod templates of its Deployments, StatefulSets and DaemonSets, chart-installed ones such as
 * Kiali's included), or in deploy/ for a dry run without a cluster.
 */
import { X509Certificate } from 'node:crypto';

import * as k8s from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';

import type { Cluster } from '../../../platform/cluster.js';
import { request, statusOf } from '../../../platform/cluster.js';
import type { PlatformContext } from '../../../platform/context.js';
import { PlatformError } from '../../../platform/errors.js';
import { secretEnvName } from '../../../platform/identity.js';
import {
  AGENT_CLIENT_SECRET_KEYS,
  agentClientId,
  agentClientSecretName,
} from '../../../platform/fleet/identity.js';
import type { AgentIdentity } from '../../../platform/fleet/realm.js';
import { agentsNamespace } from '../../../platform/fleet/resolve.js';
import type {
  ManualRotation,
  RotationPlan,
  RotationTarget,
} from '../../../platform/bootstrap-secrets.js';
import { planRotation, rotationIds, rotationValues } from '../../../platform/bootstrap-secrets.js';
import { BOOTSTRAP_SECRETS, KEYCLOAK_REALM_SECRET } from '../../../platform/secrets.js';
import type { RealmValueOutcome } from '../../identity/src/realm-values.js';
import { setRealmValues } from '../../identity/src/realm-values.js';
import { assertSafeKeycloakUrl } from '../../identity/src/tokens.js';
import { rotateAgentClients } from '../../identity/src/agent-clients.js';
import { readDeployObjects } from './deploy.js';
import { platformEndpoints } from './endpoints.js';
import { opsError } from './errors.js';
import type { Forward } from './open.js';
import { startForward } from './open.js';

/** The pod-template annotation `kubectl rollout restart` sets; a new value rolls the pods. */
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** The field manager of the restarts, as `kubectl rollout restart` has its own. */
export const ROTATE_FIELD_MANAGER = 'kitt4sme-rotate';

/** Kinds whose pods a rollout restart renews. */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** A workload, as `kubectl -n <namespace> rollout restart <kind>/<name>` names it. */
export interface WorkloadRef {
  readonly namespace: string;
  readonly kind: WorkloadKind;
  readonly name: string;
}

/** A workload whose pods read a Secret, and how. */
export interface SecretReader extends WorkloadRef {
  /**
   * `env`: an env var or envFrom, read once at start; `files`: a mounted volume the kubelet
   * updates in place; `subPath`: a file mounted with subPath, which the kubelet never updates.
   */
  readonly via: 'env' | 'files' | 'subPath';
}

type PodTemplateOwner = KubernetesObject & {
  spec?: { template?: { spec?: k8s.V1PodSpec } };
};

/**
 * The workloads among `objects` whose pods read any of `keys` of the Secret `namespace/name`:
 * through env (secretKeyRef of one of the keys, or envFrom), or a volume (secret or projected,
 * all keys or items naming one of them). A pod reads a Secret only in its own namespace.
 */
export function secretReaders(
  objects: readonly KubernetesObject[],
  secret: { readonly namespace: string; readonly name: string },
  keys: readonly string[],
): SecretReader[] {
  const wanted = new Set(keys);
  const holds = (name: string | undefined, items: readonly k8s.V1KeyToPath[] | undefined) =>
    name === secret.name && (!items || items.some((i) => wanted.has(i.key)));
  const readers: SecretReader[] = [];
  for (const o of objects as readonly PodTemplateOwner[]) {
    const kind = o.kind as WorkloadKind;
    if (!WORKLOAD_KINDS.includes(kind) || o.metadata?.namespace !== secret.namespace) continue;
    const pod = o.spec?.template?.spec;
    if (!pod) continue;
    const containers = [...(pod.initContainers ?? []), ...pod.containers];
    const env = containers.some(
      (c) =>
        (c.env ?? []).some(
          (e) =>
            e.valueFrom?.secretKeyRef?.name === secret.name &&
            wanted.has(e.valueFrom.secretKeyRef.key),
        ) || (c.envFrom ?? []).some((e) => e.secretRef?.name === secret.name),
    );
    const volumes = new Set(
      (pod.volumes ?? [])
        .filter(
          (v) =>
            holds(v.secret?.secretName, v.secret?.items) ||
            (v.projected?.sources ?? []).some((s) => holds(s.secret?.name, s.secret?.items)),
        )
        .map((v) => v.name),
    );
    const subPath = containers.some((c) =>
      (c.volumeMounts ?? []).some((m) => volumes.has(m.name) && (m.subPath || m.subPathExpr)),
    );
    if (!env && volumes.size === 0) continue;
    readers.push({
      namespace: secret.namespace,
      kind,
      name: o.metadata!.name!,
      via: env ? 'env' : subPath ? 'subPath' : 'files',
    });
  }
  return readers;
}

/** `kubectl -n <ns> rollout restart <kind>/<name> ...`, one command per namespace. */
export function restartCommands(workloads: readonly WorkloadRef[]): string[] {
  const byNs = new Map<string, string[]>();
  for (const w of workloads)
    byNs.set(w.namespace, [...(byNs.get(w.namespace) ?? []), `${w.kind.toLowerCase()}/${w.name}`]);
  return [...byNs].map(([ns, ws]) => `kubectl -n ${ns} rollout restart ${ws.join(' ')}`);
}

/** What a rotation did (or, in a dry run, would do). Names only, never a value. */
export interface RotationReport {
  readonly id: string;
  readonly dryRun: boolean;
  /** Where the readers were found: the cluster, or deploy/ (a dry run without a cluster). */
  readonly readersFrom: 'cluster' | 'deploy';
  /** The Secrets written, with the keys that got a new value. */
  readonly secrets: readonly { namespace: string; name: string; keys: readonly string[] }[];
  /** The realm's clients and people that took the new value (`planned` in a dry run). */
  readonly keycloak: readonly {
    kind: RealmValueOutcome['kind'];
    id: string;
    outcome: RealmValueOutcome['outcome'] | 'planned';
  }[];
  /** The workloads restarted. */
  readonly restarts: readonly WorkloadRef[];
  /** Workloads that read a rotated key and were left running, with the reason. */
  readonly kept: readonly (WorkloadRef & { why: string })[];
  /** What a person still has to do (values held outside the cluster). */
  readonly notes: readonly string[];
}

/** Options of {@link rotateSecret}. */
export interface RotateOptions {
  readonly ctx: PlatformContext;
  /** The cluster; absent only for a dry run without one (readers then come from deploy/). */
  readonly cluster?: Cluster;
  /** A Secret, shared value or key id (see rotationIds). */
  readonly id: string;
  /** Plan and report only: nothing is written, set or restarted. */
  readonly dryRun?: boolean;
  /**
   * Keycloak's base URL ending in /auth, for the admin API.
   * @default - a port-forward to the keycloak Service, for as long as the rotation runs
   */
  readonly keycloakUrl?: string;
  /** @default 'admin' */
  readonly adminUser?: string;
  /** @default - the keycloak-admin Secret's password */
  readonly adminPassword?: string;
  /** The objects of deploy/, for a dry run without a cluster. @default readDeployObjects() */
  readonly deployObjects?: readonly KubernetesObject[];
  /** Progress lines (stderr in the CLI). */
  readonly progress?: (line: string) => void;
}

/** The message of an unknown id: every id the command accepts. */
function unknownId(ctx: PlatformContext, id: string): PlatformError {
  const ids = rotationIds(ctx);
  return opsError(
    'ERR_ROTATE_UNKNOWN_ID',
    [
      `"${id}" names no bootstrap Secret, shared value or key. Valid ids:`,
      `  Secrets (every key):      ${ids.secrets.join(', ')}`,
      `  client secrets (every copy): ${ids.shares.join(', ')}`,
      `  keys (<secret id>/<key>): ${ids.keys.join(', ')}`,
      `  agent clients:            ${AGENTS_ROTATION_ID} (every agent), ${AGENT_ROTATION_PREFIX}<client id> (an agent's object name, agent-<12 hex digits>)`,
    ].join('\n'),
  );
}

/**
 * The plan of `id`, before any cluster is asked.
 * @throws PlatformError ERR_ROTATE_UNKNOWN_ID listing every valid id.
 */
export function rotationPlan(ctx: PlatformContext, id: string): RotationPlan {
  const plan = planRotation(ctx, id);
  if (!plan) throw unknownId(ctx, id);
  return plan;
}

/** `--rotate agents`: every agent's client. */
export const AGENTS_ROTATION_ID = 'agents';
/** `--rotate agent:<client id>`: one agent's client. */
export const AGENT_ROTATION_PREFIX = 'agent:';

/** Whether a rotation id names agent clients rather than a bootstrap Secret. */
export function isAgentRotationId(id: string): boolean {
  return id === AGENTS_ROTATION_ID || id.startsWith(AGENT_ROTATION_PREFIX);
}

/**
 * The agents a rotation id names, among the fleet's.
 * @throws PlatformError ERR_ROTATE_UNKNOWN_ID listing the fleet's agent ids.
 */
export function agentsOfRotation(id: string, fleet: readonly AgentIdentity[]): AgentIdentity[] {
  if (id === AGENTS_ROTATION_ID) return [...fleet];
  const clientId = id.slice(AGENT_ROTATION_PREFIX.length);
  const found = fleet.filter((a) => agentClientId(a.id) === clientId);
  if (found.length === 0)
    throw opsError(
      'ERR_ROTATE_UNKNOWN_ID',
      `"${id}" names no agent of the fleet (fleet/). Valid agent ids: ${AGENTS_ROTATION_ID}${fleet.map((a) => `, ${AGENT_ROTATION_PREFIX}${agentClientId(a.id)} (${a.tenant}/${a.name})`).join('')}`,
    );
  return found;
}

/**
 * Rotates agents' client secrets: Keycloak generates each a new one (the old one is refused at
 * once), the agent's Secret gets it and the agent's Deployments restart
 * (services/identity/src/agent-clients.ts). In a dry run only the plan is made.
 * @throws PlatformError ERR_ROTATE_UNKNOWN_ID before anything; ERR_AGENT_NOT_RECONCILED or
 *   ERR_AGENT_NAMESPACE_MISSING before any change; ERR_ROTATE_INCOMPLETE after one, naming
 *   the agents done.
 */
export async function rotateAgents(
  opts: RotateOptions & { readonly fleet: readonly AgentIdentity[] },
): Promise<RotationReport> {
  const { ctx, cluster } = opts;
  const progress = opts.progress ?? (() => {});
  const agents = agentsOfRotation(opts.id, opts.fleet);
  if (opts.keycloakUrl) assertSafeKeycloakUrl(opts.keycloakUrl);
  const realm = ctx.config.identity.realm;
  const secretOf = (a: AgentIdentity) => ({
    namespace: agentsNamespace(a.tenant),
    name: agentClientSecretName(a.id),
    keys: [AGENT_CLIENT_SECRET_KEYS.clientSecret],
  });
  const report = (
    done: readonly AgentIdentity[],
    outcome: 'set' | 'planned',
    restarts: readonly WorkloadRef[],
  ): RotationReport => ({
    id: opts.id,
    dryRun: Boolean(opts.dryRun),
    readersFrom: 'cluster',
    secrets: done.map(secretOf),
    keycloak: done.map((a) => ({
      kind: 'client-secret' as const,
      id: agentClientId(a.id),
      outcome,
    })),
    restarts,
    kept: [],
    notes: [],
  });
  if (opts.dryRun || !cluster) {
    if (!opts.dryRun) throw new TypeError('a rotation needs a cluster unless it is a dry run');
    for (const a of agents)
      progress(
        `would set a new secret of client ${agentClientId(a.id)} in realm ${realm}, write ${describeSecret(secretOf(a))} and restart the agent's Deployments`,
      );
    return report(agents, 'planned', []);
  }
  const ops = new ClusterOps(cluster);
  let forward: Forward | undefined;
  const done: AgentIdentity[] = [];
  try {
    const adminPassword = opts.adminPassword ?? (await adminPasswordOf(ctx, ops));
    let keycloakUrl = opts.keycloakUrl;
    if (!keycloakUrl) {
      const endpoint = platformEndpoints(ctx, ctx.routes).consoles.find(
        (c) => c.name === 'keycloak',
      )!;
      forward = await startForward(cluster, endpoint);
      keycloakUrl = forward.url;
      progress(
        `  Keycloak's admin API through a port-forward to ${endpoint.namespace}/${endpoint.service}`,
      );
    }
    const result = await rotateAgentClients(
      {
        login: { keycloakUrl, username: opts.adminUser ?? 'admin', password: adminPassword },
        realm,
        agents,
        cluster,
        progress: (line) => progress(`  ${line}`),
      },
      (a) => done.push(a),
    );
    return report(
      agents,
      'set',
      result.restarts.map((d) => ({ namespace: d.namespace, kind: 'Deployment', name: d.name })),
    );
  } catch (err) {
    if (done.length === 0) throw err;
    const left = agents.filter((a) => !done.includes(a));
    throw opsError(
      'ERR_ROTATE_INCOMPLETE',
      [
        `rotation of ${opts.id} stopped: ${err instanceof PlatformError ? `${err.message} [${err.code}]` : String(err)}`,
        `Done (new secret in Keycloak, the Secret and restarts): ${done.map((a) => agentClientId(a.id)).join(', ')}.`,
        `Not done: ${left.map((a) => agentClientId(a.id)).join(', ')}; the first of them may already have a new secret in Keycloak that its Secret lacks (its pods are refused until it is finished), the others still use their old secret.`,
        `Run the same command again, or rotate what is left: ${left.map((a) => `--rotate ${AGENT_ROTATION_PREFIX}${agentClientId(a.id)}`).join(', ')}.`,
      ].join('\n'),
      err,
    );
  } finally {
    await forward?.close();
  }
}

/** Refusal of a selection with Secrets rotated by hand: the reason, the steps, the restarts. */
function manualError(
  manual: readonly ManualRotation[],
  restarts: readonly WorkloadRef[],
): PlatformError {
  const lines = manual.flatMap((m) => {
    const mine = restarts.filter((w) => w.namespace === m.namespace);
    const steps = [
      ...m.procedure,
      ...(mine.length ? [`restart what reads it: \`${restartCommands(mine).join(' && ')}\``] : []),
    ];
    return [
      `${m.namespace}/${m.name} (${m.keys.join(', ')}) is rotated by hand, not by this command: ${m.reason}.`,
      'To rotate it:',
      ...steps.map((s, i) => `  ${i + 1}. ${s}`),
    ];
  });
  return opsError('ERR_ROTATE_MANUAL', `${lines.join('\n')}\nNothing was changed.`);
}

/** Whether a PEM certificate is self-signed (issuer = subject, signed by its own key). */
export function isSelfSigned(pem: string): { selfSigned: boolean; issuer: string } {
  const cert = new X509Certificate(pem);
  return {
    selfSigned: cert.issuer === cert.subject && cert.verify(cert.publicKey),
    issuer: cert.issuer.replaceAll('\n', ', '),
  };
}

/** Reading and changing the cluster, each request named for its errors. */
class ClusterOps {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly objects: k8s.KubernetesObjectApi;
  constructor(private readonly cluster: Cluster) {
    this.core = cluster.kc.makeApiClient(k8s.CoreV1Api);
    this.apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
  }

  readSecret(namespace: string, name: string): Promise<k8s.V1Secret | undefined> {
    return request(this.cluster, { verb: 'get', resource: 'secrets', namespace }, () =>
      this.core.readNamespacedSecret({ name, namespace }).catch((err: unknown) => {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }),
    );
  }

  /** Replaces a Secret as read (its resourceVersion included: a concurrent change fails it). */
  replaceSecret(secret: k8s.V1Secret): Promise<unknown> {
    const { name, namespace } = secret.metadata as { name: string; namespace: string };
    return request(this.cluster, { verb: 'update', resource: 'secrets', namespace }, () =>
      this.core.replaceNamespacedSecret({ name, namespace, body: secret }),
    );
  }

  async workloads(namespace: string): Promise<KubernetesObject[]> {
    const list = <T extends { items: KubernetesObject[] }>(
      resource: string,
      kind: WorkloadKind,
      call: () => Promise<T>,
    ) =>
      request(this.cluster, { verb: 'list', resource, namespace }, call).then((l) =>
        l.items.map((o) => ({ ...o, kind })),
      );
    return (
      await Promise.all([
        list('deployments.apps', 'Deployment', () =>
          this.apps.listNamespacedDeployment({ namespace }),
        ),
        list('statefulsets.apps', 'StatefulSet', () =>
          this.apps.listNamespacedStatefulSet({ namespace }),
        ),
        list('daemonsets.apps', 'DaemonSet', () =>
          this.apps.listNamespacedDaemonSet({ namespace }),
        ),
      ])
    ).flat();
  }

  /** What `kubectl rollout restart` does: a new restartedAt on the pod template. */
  restart(w: WorkloadRef, at: string): Promise<unknown> {
    return request(
      this.cluster,
      { verb: 'patch', resource: `${w.kind.toLowerCase()}s.apps`, namespace: w.namespace },
      () =>
        this.objects.patch(
          {
            apiVersion: 'apps/v1',
            kind: w.kind,
            metadata: { name: w.name, namespace: w.namespace },
            spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } },
          } as KubernetesObject,
          undefined,
          undefined,
          ROTATE_FIELD_MANAGER,
          undefined,
          k8s.PatchStrategy.StrategicMergePatch,
        ),
    );
  }
}

const describeSecret = (s: { namespace: string; name: string; keys: readonly string[] }) =>
  `${s.namespace}/${s.name} (${s.keys.join(', ')})`;
const describeWorkload = (w: WorkloadRef) => `${w.namespace}/${w.kind.toLowerCase()}/${w.name}`;
const describeRealm = (v: { kind: string; id: string }) =>
  v.kind === 'client-secret' ? `the secret of client ${v.id}` : `the password of user ${v.id}`;

/** Why a reader of a rotated key is left running, or undefined when it restarts. */
function keepReason(t: RotationTarget, r: SecretReader): string | undefined {
  if (t.rotation.by === 'keycloak')
    return `reads ${t.name} only to import a missing realm; the running realm takes the new values through the admin API`;
  if (t.rotation.by === 'restart' && t.rotation.filesReloaded && r.via === 'files')
    return `mounts ${t.name} as files, which the kubelet updates in place and it re-reads`;
  return undefined;
}

/**
 * What people must still do or know: values held outside the cluster, files applied later,
 * certificates to trust.
 */
function notesOf(ctx: PlatformContext, plan: RotationPlan): string[] {
  const ns = ctx.namespace('identity');
  const read = (env: string) =>
    `kubectl -n ${ns} get secret ${KEYCLOAK_REALM_SECRET} -o jsonpath='{.data.${env}}' | base64 -d`;
  return [
    ...plan.realm
      .filter((c) => c.heldOutside)
      .map((c) =>
        c.kind === 'client-secret'
          ? `client ${c.id}: whoever holds its secret outside the cluster (devices, gateways, scripts; \`npm run token\` and the scenario runner read the Secret themselves) needs the new one: ${read(c.env)}`
          : `user ${c.id}: tell them the new password: ${read(secretEnvName('user', c.id))}`,
      ),
    ...plan.secrets
      .filter((t) => t.rotation.by === 'restart' && t.rotation.filesReloaded)
      .map(
        (t) =>
          `${t.namespace}/${t.name}: the workloads that mount it apply the new values once the kubelet has refreshed the files (usually within a minute); until then the restarted readers may be refused and retry`,
      ),
    ...plan.secrets
      .filter((t) => t.tls)
      .map(
        (t) =>
          `${t.namespace}/${t.name}: clients that trust the old self-signed certificate (NODE_EXTRA_CA_CERTS, a browser exception) must trust the new one: kubectl -n ${t.namespace} get secret ${t.name} -o jsonpath='{.data.tls\\.crt}' | base64 -d`,
      ),
  ];
}

/**
 * Rotates `id`: plans it, checks the cluster holds every copy, writes new values to all of
 * them, sets the realm's, restarts the readers. In a dry run only the plan is made (with the
 * cluster read when there is one).
 *
 * @throws PlatformError ERR_ROTATE_UNKNOWN_ID, ERR_ROTATE_MANUAL or ERR_ROTATE_NOT_BOOTSTRAPPED
 *   before anything is changed; ERR_ROTATE_INCOMPLETE after a change, naming what was done and
 *   what was not; the cluster access errors (ERR_KUBECONFIG, ERR_CLUSTER_*) while reading.
 */
export async function rotateSecret(opts: RotateOptions): Promise<RotationReport> {
  const { ctx, cluster } = opts;
  const progress = opts.progress ?? (() => {});
  const plan = rotationPlan(ctx, opts.id);
  if (!cluster && !opts.dryRun && plan.manual.length === 0)
    throw new TypeError('a rotation needs a cluster unless it is a dry run or a refusal');
  // A bad URL is refused before anything changes, not after the Secrets are written.
  if (opts.keycloakUrl) assertSafeKeycloakUrl(opts.keycloakUrl);
  const ops = cluster ? new ClusterOps(cluster) : undefined;

  // Readers, from the cluster or deploy/.
  const namespaces = [...new Set([...plan.secrets, ...plan.manual].map((s) => s.namespace))];
  const workloads = ops
    ? (await Promise.all(namespaces.map((ns) => ops.workloads(ns)))).flat()
    : (opts.deployObjects ?? readDeployObjects().map((o) => o.object));
  const readersOf = (s: { namespace: string; name: string; keys: readonly string[] }) =>
    secretReaders(workloads, s, s.keys);

  if (plan.manual.length > 0)
    throw manualError(
      plan.manual,
      plan.manual.flatMap((m) => readersOf(m)),
    );

  // Every copy must exist, with the keys it rotates; a TLS pair only if bootstrap made it.
  const current = new Map<string, k8s.V1Secret>();
  if (ops) {
    for (const t of plan.secrets) {
      const secret = await ops.readSecret(t.namespace, t.name);
      const lacking = t.keys.filter((k) => secret?.data?.[k] === undefined);
      if (!secret || lacking.length > 0)
        throw opsError(
          'ERR_ROTATE_NOT_BOOTSTRAPPED',
          secret
            ? `Secret ${t.namespace}/${t.name} lacks ${lacking.join(', ')}: there is nothing to rotate yet`
            : `Secret ${t.namespace}/${t.name} does not exist: there is nothing to rotate yet`,
        );
      if (t.tls) {
        const pem = Buffer.from(secret.data!['tls.crt'] ?? '', 'base64').toString('utf8');
        let cert: ReturnType<typeof isSelfSigned>;
        try {
          cert = isSelfSigned(pem);
        } catch {
          cert = {
            selfSigned: false,
            issuer: 'nothing readable (tls.crt is not a PEM certificate)',
          };
        }
        if (!cert.selfSigned)
          throw manualError(
            [
              {
                ...t,
                reason: `its certificate was issued by ${cert.issuer}, not self-signed by bootstrap, and a new self-signed pair would replace it`,
                procedure: [
                  'renew the certificate where it came from (its CA, cert-manager)',
                  `put the new pair in place: \`kubectl -n ${t.namespace} create secret tls ${t.name} --cert=<certificate file> --key=<key file> --dry-run=client -o yaml | kubectl apply -f -\` (the gateway serves it without a restart)`,
                ],
              },
            ],
            [],
          );
      }
      current.set(t.id, secret);
    }
  }

  const restarts: SecretReader[] = [];
  const kept: (WorkloadRef & { why: string })[] = [];
  for (const t of plan.secrets)
    for (const r of readersOf(t)) {
      const why = keepReason(t, r);
      const ref = { namespace: r.namespace, kind: r.kind, name: r.name };
      if (why) kept.push({ ...ref, why });
      else if (!restarts.some((w) => describeWorkload(w) === describeWorkload(r))) restarts.push(r);
    }
  const report = (
    keycloak: RotationReport['keycloak'],
    restarted: readonly WorkloadRef[],
  ): RotationReport => ({
    id: plan.id,
    dryRun: Boolean(opts.dryRun),
    readersFrom: ops ? 'cluster' : 'deploy',
    secrets: plan.secrets.map((t) => ({ namespace: t.namespace, name: t.name, keys: t.keys })),
    keycloak,
    restarts: restarted,
    kept,
    notes: notesOf(ctx, plan),
  });
  const restartRefs = restarts.map((r) => ({ namespace: r.namespace, kind: r.kind, name: r.name }));
  const steps = plan.secrets.length + (plan.realm.length ? 1 : 0) + restarts.length;
  let step = 0;
  const say = (what: string) =>
    progress(`[${++step}/${steps}] ${opts.dryRun ? 'would ' : ''}${what}`);

  if (opts.dryRun || !ops) {
    for (const t of plan.secrets) say(`write ${describeSecret(t)}`);
    if (plan.realm.length)
      say(`set in realm ${ctx.config.identity.realm}: ${plan.realm.map(describeRealm).join(', ')}`);
    for (const r of restarts) say(`restart ${describeWorkload(r)}`);
    return report(
      plan.realm.map((c) => ({ kind: c.kind, id: c.id, outcome: 'planned' as const })),
      restartRefs,
    );
  }

  // What is done so far, for the message should a later step fail.
  const written: RotationTarget[] = [];
  const realmDone: RealmValueOutcome[] = [];
  const restarted: WorkloadRef[] = [];
  const incomplete = (where: string, cause: unknown): PlatformError => {
    const why =
      cause instanceof PlatformError
        ? `${cause.message} [${cause.code}]`
        : cause instanceof Error
          ? cause.message
          : String(cause);
    const unwritten = plan.secrets.filter((t) => !written.includes(t));
    const realmLeft = plan.realm.filter(
      (c) => !realmDone.some((d) => d.id === c.id && d.kind === c.kind),
    );
    const left = restartRefs.filter((w) => !restarted.includes(w));
    const done = [
      ...(written.length ? [`wrote ${written.map(describeSecret).join(', ')}`] : []),
      ...(realmDone.length ? [`set in Keycloak ${realmDone.map(describeRealm).join(', ')}`] : []),
      ...(restarted.length ? [`restarted ${restarted.map(describeWorkload).join(', ')}`] : []),
    ];
    const notDone = [
      ...(unwritten.length ? [`write ${unwritten.map(describeSecret).join(', ')}`] : []),
      ...(realmLeft.length
        ? [`set in realm ${ctx.config.identity.realm} ${realmLeft.map(describeRealm).join(', ')}`]
        : []),
      ...(left.length ? [`restart ${left.map(describeWorkload).join(', ')}`] : []),
    ];
    const state =
      realmDone.length === 0 && restarted.length === 0
        ? 'Keycloak and the running pods still use the old value, so nothing has broken'
        : 'until it is finished, what still holds the old value and what already has the new one disagree';
    // By hand: realm:apply sets client secrets from the Secret (never passwords), then restarts.
    const byHand =
      unwritten.length === 0 && realmLeft.every((c) => c.kind === 'client-secret')
        ? [
            ...(realmLeft.length
              ? [
                  'npm run platform -- open keycloak --no-browser',
                  'npm run realm:apply -- --keycloak-url <the URL it prints, ending in /auth>',
                ]
              : []),
            ...restartCommands(left),
          ]
        : [];
    return opsError(
      'ERR_ROTATE_INCOMPLETE',
      [
        `rotation of ${plan.id} stopped at: ${where}: ${why}`,
        `Done: ${done.length ? done.join('; ') : 'nothing'}.`,
        `Not done: ${notDone.join('; ')}.`,
        `State: ${state}. Run the same command again to finish (safe: every copy gets a fresh value again)${byHand.length ? ', or finish by hand:' : '.'}`,
        ...byHand.map((c) => `  ${c}`),
      ].join('\n'),
      cause,
    );
  };

  // 1. Every copy.
  const values = rotationValues(ctx, plan);
  for (const t of plan.secrets) {
    say(`write ${describeSecret(t)}`);
    const secret = current.get(t.id)!;
    const data = { ...secret.data };
    for (const [k, v] of Object.entries(values.get(t.id)!))
      data[k] = Buffer.from(v, 'utf8').toString('base64');
    try {
      await ops.replaceSecret({ ...secret, data });
    } catch (err) {
      throw incomplete(`writing ${t.namespace}/${t.name}`, err);
    }
    written.push(t);
  }

  // 2. The running realm.
  if (plan.realm.length) {
    const realmName = ctx.config.identity.realm;
    say(`set in realm ${realmName}: ${plan.realm.map(describeRealm).join(', ')}`);
    const realmValues = values.get('keycloakRealm')!;
    let forward: Forward | undefined;
    try {
      const adminPassword = opts.adminPassword ?? (await adminPasswordOf(ctx, ops));
      let keycloakUrl = opts.keycloakUrl;
      if (!keycloakUrl) {
        const endpoint = platformEndpoints(ctx, ctx.routes).consoles.find(
          (c) => c.name === 'keycloak',
        )!;
        forward = await startForward(cluster!, endpoint);
        keycloakUrl = forward.url;
        progress(
          `  Keycloak's admin API through a port-forward to ${endpoint.namespace}/${endpoint.service}`,
        );
      }
      await setRealmValues(
        { keycloakUrl, username: opts.adminUser ?? 'admin', password: adminPassword },
        realmName,
        plan.realm.map((c) => ({ kind: c.kind, id: c.id, value: realmValues[c.env]! })),
        (o) => {
          realmDone.push(o);
          progress(
            `  ${describeRealm(o)}: ${o.outcome === 'set' ? 'set' : 'not in the realm yet (realm:apply creates it with the Secret’s value)'}`,
          );
        },
      );
    } catch (err) {
      throw incomplete(`setting the new values in realm ${realmName}`, err);
    } finally {
      await forward?.close();
    }
  }

  // 3. The readers.
  const at = new Date().toISOString();
  for (const w of restartRefs) {
    say(`restart ${describeWorkload(w)}`);
    try {
      await ops.restart(w, at);
    } catch (err) {
      throw incomplete(`restarting ${describeWorkload(w)}`, err);
    }
    restarted.push(w);
  }
  return report(realmDone, restarted);
}

/** A report for people: one line per kind of change. */
export function renderRotation(r: RotationReport): string {
  const would = r.dryRun ? 'would ' : '';
  const lines = [
    `${r.dryRun ? 'dry run: ' : ''}rotation of ${r.id}${r.readersFrom === 'deploy' ? ' (no cluster: readers from deploy/, chart-installed ones are found in the cluster)' : ''}`,
    ...r.secrets.map((s) => `  ${would}write    ${describeSecret(s)}`),
    ...r.keycloak.map(
      (k) =>
        `  ${would}set      ${describeRealm(k)} in Keycloak${k.outcome === 'absent' ? ' (not in the realm yet: realm:apply creates it)' : ''}`,
    ),
    ...r.restarts.map((w) => `  ${would}restart  ${describeWorkload(w)}`),
    ...r.kept.map((w) => `  kept     ${describeWorkload(w)}: ${w.why}`),
    ...r.notes.map((n) => `  note     ${n}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The admin password of Keycloak's master realm, from the keycloak-admin Secret. */
async function adminPasswordOf(ctx: PlatformContext, ops: ClusterOps): Promise<string> {
  const spec = BOOTSTRAP_SECRETS.keycloakAdmin;
  const ns = ctx.namespace(spec.namespace);
  const secret = await ops.readSecret(ns, spec.name);
  const value = secret?.data?.password;
  if (value === undefined)
    throw opsError(
      'ERR_ROTATE_NOT_BOOTSTRAPPED',
      `Secret ${ns}/${spec.name} (Keycloak's admin password) ${secret ? 'has no key password' : 'does not exist'}; set KEYCLOAK_ADMIN_PASSWORD instead`,
    );
  return Buffer.from(value, 'base64').toString('utf8');
}

// NOTE
// 1. Who picks a new value up, and how (seen with the pinned versions; see platform/secrets.ts
//    for what each Secret declares).
//    - Keycloak resolves the realm file's ${KITT4SME_...} placeholders only when it imports a
//      missing realm, so a running realm takes a client secret or password only through the
//      admin API (PUT of the client with its new `secret`; reset-password of a user).
//      Keycloak keeps no previous client secret unless a client policy's secret-rotation
//      executor is configured (none is), so the old one gets invalid_client at once.
//    - Env vars are read when a container starts: a rollout restart (the restartedAt pod
//      annotation, as `kubectl rollout restart` sets) gives the pods the new value. Argo CD
//      does not revert that annotation: it is not in the manifests it applies, and its diff
//      ignores fields it does not manage.
//    - Argo CD resolves `$argocd-oidc:clientSecret` itself, watching Secrets labelled
//      app.kubernetes.io/part-of=argocd, and argocd-server restarts its own server when the
//      resolved OIDC config changes (server/server.go, watchSettings and
//      checkOIDCConfigChange), so no pod reads argocd-oidc and none is restarted.
//    - The ingress gateway reads the TLS pair through the Gateway's credentialName over SDS and
//      serves a new pair without a restart.
//    - A mounted Secret volume is updated in place by the kubelet (not one mounted with
//      subPath); only a reader declared to re-read the files (CrateDB's users reconciler) is
//      left running, every other reader (Kiali's chart mounts `kiali`) restarts.
