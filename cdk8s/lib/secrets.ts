/**
 * The Secrets the platform needs but never commits.
 *
 * Manifests only reference these Secrets by name and key. A fresh cluster's bootstrap
 * (`npm run bootstrap:secrets`, see argocd/README.md) generates them once; tests generate
 * their own. A test checks that every Secret reference in deploy/ is declared here, and that
 * deploy/ holds no Secret object at all.
 */
import type { NamespaceRole } from '../config/services.js';

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
  /** Who reads it, and what for. */
  readonly description: string;
}

export const BOOTSTRAP_SECRETS = {
  mongodb: {
    name: 'mongodb-credentials',
    namespace: 'platform',
    keys: {
      'root-password': 'password',
      'orion-password': 'password',
      'iotagent-password': 'password',
    },
    description: 'MongoDB root user, and the least-privilege users of Orion and the IoT Agent',
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
