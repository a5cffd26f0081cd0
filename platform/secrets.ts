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
import { SSO_CLIENTS } from './identity.js';
import type { NamespaceRole } from './layers.js';

/** How a key's value is made at bootstrap. */
export type SecretValueKind =
  /** 32 random URL-safe characters: safe inside URIs and shell variables. */
  | 'password'
  /** A PEM certificate or key of a self-signed TLS pair for the ingress host. */
  | 'tls';

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
  },
  grafanaAdmin: {
    name: 'grafana-admin',
    namespace: 'platform',
    keys: { password: 'password' },
    description: "Grafana's local admin (break-glass; people log in through Keycloak)",
  },
  keycloakDb: {
    name: 'keycloak-db',
    namespace: 'identity',
    keys: { password: 'password' },
    description: "Keycloak's PostgreSQL user",
  },
  keycloakAdmin: {
    name: 'keycloak-admin',
    namespace: 'identity',
    keys: { password: 'password' },
    description: "Keycloak's bootstrap admin of the master realm",
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
  };
}
