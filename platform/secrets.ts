/**
 * The Secrets the platform needs but never commits.
 *
 * Manifests only reference these Secrets by name and key. A fresh cluster's bootstrap
 * (`npm run bootstrap:secrets`, see argocd/README.md) generates them once; tests generate
 * their own. A test checks that every Secret reference in deploy/ is declared here, and that
 * deploy/ holds no Secret object at all.
 */
import type { IotAgentId } from './components.js';
import { COMPONENTS, IOT_AGENT_IDS } from './components.js';
import type { GitRemote } from './git-remote.js';
import { SSO_CLIENTS } from './identity.js';
import type { NamespaceRole } from './layers.js';

/** How a key's value is made at bootstrap. */
export type SecretValueKind =
  /** 32 random URL-safe characters: safe inside URIs and shell variables. */
  | 'password'
  /** A PEM certificate or key of a self-signed TLS pair for the ingress host. */
  | 'tls'
  /** A half of a fresh ed25519 key pair (OpenSSH formats), made with ssh-keygen. */
  | 'ssh-key'
  /** SSH host keys (known_hosts lines): pinned in platform/git-remote.ts or given at bootstrap. */
  | 'known-hosts'
  /** A value only the user has (an access token), given at bootstrap. */
  | 'token';

/**
 * How new values of a Secret take effect when `npm run bootstrap:secrets -- --rotate` replaces
 * them. The workloads that read a Secret are never listed here: the command finds them in the
 * cluster (and in deploy/ for a dry run without one).
 */
export type SecretRotation =
  /**
   * The workloads whose pods read the rotated keys are restarted (`kubectl rollout restart`).
   * With `filesReloaded`, a workload that mounts the Secret as files re-reads them itself (the
   * kubelet updates mounted Secrets in place) and is left running.
   */
  | { readonly by: 'restart'; readonly filesReloaded?: boolean }
  /**
   * The realm's values: set in the running realm through Keycloak's admin API (a client's
   * secret, a demo user's password). Keycloak reads the Secret only to import a missing realm
   * at start, so it is not restarted.
   */
  | { readonly by: 'keycloak' }
  /**
   * The holder keeps its own copy of the value (a database's users, an admin account), which a
   * new value in the Secret does not change: the command refuses, says `reason`, and prints
   * `procedure` (`{ns}` is the Secret's namespace), followed by the restarts it derives.
   */
  | { readonly by: 'manual'; readonly reason: string; readonly procedure: readonly string[] };

/** A Secret created at bootstrap. */
export interface BootstrapSecretSpec {
  readonly name: string;
  readonly namespace: NamespaceRole;
  /** `kubernetes.io/tls` for TLS pairs. @default Opaque */
  readonly type?: 'kubernetes.io/tls';
  readonly keys: Readonly<Record<string, SecretValueKind>>;
  /**
   * Keys whose value is shared with other Secrets, by share id: every key with the same id,
   * in whatever Secret or namespace, gets the same value (a client secret Keycloak and the
   * client's application both read).
   */
  readonly shares?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  /** Who reads it, and what for. */
  readonly description: string;
  /** How a rotated value takes effect. @default { by: 'restart' } */
  readonly rotation?: SecretRotation;
}

/** The share id of an OIDC client's secret. */
export function clientSecretShare(clientId: string): string {
  return `oidc-client:${clientId}`;
}

/** The password key of every IoT Agent's registry user (platform/components.ts). */
type IotAgentPasswordKey = {
  [K in IotAgentId]: (typeof COMPONENTS)[K]['iotAgent']['registry']['passwordKey'];
}[IotAgentId];

function iotAgentRegistryKeys(): Record<IotAgentPasswordKey, 'password'> {
  return Object.fromEntries(
    IOT_AGENT_IDS.map((id) => [COMPONENTS[id].iotAgent.registry.passwordKey, 'password']),
  ) as Record<IotAgentPasswordKey, 'password'>;
}

export const BOOTSTRAP_SECRETS = {
  mongodb: {
    name: 'mongodb-credentials',
    namespace: 'platform',
    keys: {
      'root-password': 'password',
      'orion-password': 'password',
      // One user per IoT Agent, for its own registry database.
      ...iotAgentRegistryKeys(),
    },
    description: 'MongoDB root user, and the least-privilege users of Orion and the IoT Agents',
    rotation: {
      by: 'manual',
      reason:
        'MongoDB keeps its users’ passwords in its own database; the Secret only creates the users when the data volume is empty, so a new value in the Secret alone would lock Orion and the IoT Agents out',
      procedure: [
        "set the user's new password in MongoDB first, as root (all users are in the admin database): `kubectl -n {ns} exec -it statefulset/mongodb -- mongosh -u root --authenticationDatabase admin`, then `db.getSiblingDB('admin').changeUserPassword('<user>', passwordPrompt())`",
        'put the same value into the Secret: `kubectl -n {ns} patch secret mongodb-credentials --type merge -p \'{"stringData":{"<key>":"<new password>"}}\'`',
      ],
    },
  },
  grafanaAdmin: {
    name: 'grafana-admin',
    namespace: 'platform',
    keys: { password: 'password' },
    description: "Grafana's local admin (break-glass; people log in through Keycloak)",
    rotation: {
      by: 'manual',
      reason:
        'Grafana keeps its admin’s password in its own database; GF_SECURITY_ADMIN_PASSWORD only sets it when the database is created, and the `orgs` init container logs in with the Secret’s value, so a new value in the Secret alone would stop Grafana from starting',
      procedure: [
        "set the new password in Grafana first: `kubectl -n {ns} exec -it statefulset/grafana -c grafana -- grafana cli admin reset-admin-password '<new password>'`",
        'put the same value into the Secret: `kubectl -n {ns} patch secret grafana-admin --type merge -p \'{"stringData":{"password":"<new password>"}}\'`',
      ],
    },
  },
  keycloakDb: {
    name: 'keycloak-db',
    namespace: 'identity',
    keys: { password: 'password' },
    description: "Keycloak's PostgreSQL user",
    rotation: {
      by: 'manual',
      reason:
        'PostgreSQL keeps the user’s password in its own catalogue (ALTER USER); the Secret only sets it when the data volume is initialised, so a new value in the Secret alone would lock Keycloak out of its database',
      procedure: [
        'set the new password in PostgreSQL first: `kubectl -n {ns} exec -it statefulset/keycloak-postgres -- sh -c \'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB"\'`, then `\\password` (psql asks for it twice and sends it hashed)',
        'put the same value into the Secret: `kubectl -n {ns} patch secret keycloak-db --type merge -p \'{"stringData":{"password":"<new password>"}}\'`',
      ],
    },
  },
  keycloakAdmin: {
    name: 'keycloak-admin',
    namespace: 'identity',
    keys: { password: 'password' },
    description: "Keycloak's bootstrap admin of the master realm",
    rotation: {
      by: 'manual',
      reason:
        'Keycloak keeps its admin’s password in its database; KC_BOOTSTRAP_ADMIN_PASSWORD only creates the admin when there is none, and this command logs in with the Secret’s value, so it cannot replace the password it stands on',
      procedure: [
        `set the new password in Keycloak first, with its admin CLI in the pod (it asks for the current password): \`kubectl -n {ns} exec -it deploy/keycloak -- /opt/keycloak/bin/kcadm.sh set-password --config /tmp/kcadm.config --server http://127.0.0.1:${COMPONENTS.keycloak.service.ports.web.port}${COMPONENTS.keycloak.routes[0].prefix} --realm master --user admin -r master --username admin --new-password '<new password>'\``,
        'put the same value into the Secret: `kubectl -n {ns} patch secret keycloak-admin --type merge -p \'{"stringData":{"password":"<new password>"}}\'`',
      ],
    },
  },
  grafanaOidc: {
    name: 'grafana-oidc',
    namespace: 'platform',
    keys: { 'client-secret': 'password' },
    shares: { 'client-secret': clientSecretShare(SSO_CLIENTS.grafana) },
    description: "Grafana's OIDC client secret (the same value as in keycloak-realm)",
  },
  kialiOidc: {
    // The kiali-server chart mounts the Secret named `kiali` and reads `oidc-secret`.
    name: 'kiali',
    namespace: 'mesh',
    keys: { 'oidc-secret': 'password' },
    shares: { 'oidc-secret': clientSecretShare(SSO_CLIENTS.kiali) },
    description: "Kiali's OIDC client secret (the same value as in keycloak-realm)",
  },
  argocdOidc: {
    name: 'argocd-oidc',
    namespace: 'argocd',
    keys: { clientSecret: 'password' },
    shares: { clientSecret: clientSecretShare(SSO_CLIENTS.argocd) },
    // Argo CD resolves `$argocd-oidc:clientSecret` only in Secrets labelled as its own.
    labels: { 'app.kubernetes.io/part-of': 'argocd' },
    description: "Argo CD's OIDC client secret (the same value as in keycloak-realm)",
  },
  ingressTls: {
    name: 'kitt4sme-ingress-tls',
    namespace: 'mesh',
    type: 'kubernetes.io/tls',
    keys: { 'tls.crt': 'tls', 'tls.key': 'tls' },
    description:
      'TLS certificate of the ingress host (self-signed at bootstrap; replace with a real one)',
    // The gateway reads it through the Gateway's credentialName (SDS) and serves a new pair
    // without a restart; no pod references it, so nothing is restarted.
  },
} as const satisfies Record<string, BootstrapSecretSpec>;

export type BootstrapSecretId = keyof typeof BOOTSTRAP_SECRETS;

/** The key names of a bootstrap Secret. */
export type SecretKey<S extends BootstrapSecretId> = keyof (typeof BOOTSTRAP_SECRETS)[S]['keys'] &
  string;

/** The Secret of the realm's client secrets and demo passwords; its keys follow the realm. */
export const KEYCLOAK_REALM_SECRET = 'keycloak-realm';

/**
 * The Secret of CrateDB's database users: QuantumLeap's writer, the backup job's user and one
 * read-only user per tenant (Grafana's datasource of that tenant). Its keys follow the tenant list, so adding a
 * tenant adds a key; CrateDB's user reconciler, QuantumLeap and Grafana read it.
 */
export const CRATEDB_USERS_SECRET = {
  name: 'cratedb-users',
  namespace: 'platform',
  /** QuantumLeap's password (it writes every tenant's schema). */
  quantumleapKey: 'quantumleap-password',
  /** The backup user's password (snapshots and restores; docs/backup.md). */
  backupKey: 'backup-password',
} as const satisfies {
  name: string;
  namespace: NamespaceRole;
  quantumleapKey: string;
  backupKey: string;
};

/** The key of a tenant's read-only CrateDB user's password in {@link CRATEDB_USERS_SECRET}. */
export function crateDbReaderPasswordKey(tenant: string): string {
  return `reader-${tenant}-password`;
}

/** The spec of {@link CRATEDB_USERS_SECRET} for a tenant list. */
export function crateDbUsersSecret(tenants: readonly string[]): BootstrapSecretSpec {
  return {
    name: CRATEDB_USERS_SECRET.name,
    namespace: CRATEDB_USERS_SECRET.namespace,
    keys: {
      [CRATEDB_USERS_SECRET.quantumleapKey]: 'password',
      [CRATEDB_USERS_SECRET.backupKey]: 'password',
      ...Object.fromEntries(tenants.map((t) => [crateDbReaderPasswordKey(t), 'password' as const])),
    },
    description:
      "CrateDB's users: QuantumLeap's writer, the backup job's user and each tenant's read-only user (Grafana's datasource)",
    // CrateDB's users reconciler reads the mounted files and ALTERs a changed password within
    // seconds of the kubelet updating them; QuantumLeap, Grafana and the backup job read theirs
    // from env.
    rotation: { by: 'restart', filesReloaded: true },
  };
}

/**
 * The fleet service's push credential to the GitOps repository (platform/git-remote.ts), in the
 * platform namespace, mounted as files into the fleet's pods (cdk8s/lib/components/fleet.ts).
 */
export const FLEET_GIT_SECRET = {
  name: 'fleet-git',
  namespace: 'platform',
  /** An ssh remote: the deploy key's private half (OpenSSH format). */
  privateKey: 'ssh-privatekey',
  /** Its public half, the line to add to the fork as a deploy key with write access. */
  publicKey: 'ssh-publickey',
  /** The remote host's keys, for StrictHostKeyChecking. */
  knownHosts: 'known_hosts',
  /** An https remote: the access token. */
  token: 'token',
} as const satisfies { name: string; namespace: NamespaceRole } & Record<string, string>;

/**
 * The spec of {@link FLEET_GIT_SECRET} for a remote, or undefined for the local-only mode's git
 * server, which the mesh guards instead of a credential.
 */
export function fleetGitSecret(remote: GitRemote): BootstrapSecretSpec | undefined {
  const s = FLEET_GIT_SECRET;
  switch (remote.kind) {
    case 'local':
      return undefined;
    case 'ssh':
      return {
        name: s.name,
        namespace: s.namespace,
        keys: {
          [s.privateKey]: 'ssh-key',
          [s.publicKey]: 'ssh-key',
          [s.knownHosts]: 'known-hosts',
        },
        description: `The fleet service's deploy key for ${remote.host} (add its public half to the fork with write access) and the host's pinned keys`,
        rotation: {
          by: 'manual',
          reason:
            'the git host holds the public half of the deploy key: a new key pushes only once the user has added it to the fork',
          procedure: [
            'delete the Secret: `kubectl -n {ns} delete secret fleet-git`, then run `npm run bootstrap:secrets` again; it prints the new public key',
            'add that key to the fork as a deploy key with write access, then delete the old deploy key there (the fleet service is restarted next)',
          ],
        },
      };
    case 'https':
      return {
        name: s.name,
        namespace: s.namespace,
        keys: { [s.token]: 'token' },
        description: `The fleet service's access token for ${remote.host} (given at bootstrap: contents write on the fork, nothing else)`,
        rotation: {
          by: 'manual',
          reason: 'the token is issued by the git host; only the user can make a new one',
          procedure: [
            'make a new token on the git host (contents: read and write, on the fork only)',
            'put it into the Secret: `kubectl -n {ns} patch secret fleet-git --type merge -p \'{"stringData":{"token":"<new token>"}}\'`',
            'once the fleet service has restarted (next), revoke the old token on the git host',
          ],
        },
      };
  }
}
