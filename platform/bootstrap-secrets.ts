/**
 * Generation of the bootstrap Secrets (never committed): random passwords and a self-signed
 * TLS pair for the ingress host, and the plan of which ones a cluster still lacks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

import { PlatformError } from './errors.js';
import type { PlatformContext } from './context.js';
import { buildRealm } from './realm.js';
import type { BootstrapSecretId, BootstrapSecretSpec } from './secrets.js';
import {
  BOOTSTRAP_SECRETS,
  KEYCLOAK_REALM_SECRET,
  clientSecretShare,
  crateDbUsersSecret,
} from './secrets.js';

/** A Secret manifest with its generated values (stringData). */
export interface GeneratedSecret {
  readonly apiVersion: 'v1';
  readonly kind: 'Secret';
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Record<string, string>;
  };
  readonly type: string;
  readonly stringData: Readonly<Record<string, string>>;
}

/** 32 random characters of the URL-safe base64 alphabet (192 bits). */
export function randomPassword(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * A self-signed certificate and key for `host`, valid for a year, made with openssl.
 * @throws PlatformError ERR_TOOL_MISSING when openssl is not installed.
 */
export function selfSignedTls(host: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kitt4sme-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '365',
        '-subj',
        `/CN=${host}`,
        '-addext',
        `subjectAltName=DNS:${host}`,
        '-keyout',
        join(dir, 'tls.key'),
        '-out',
        join(dir, 'tls.crt'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return {
      cert: readFileSync(join(dir, 'tls.crt'), 'utf8'),
      key: readFileSync(join(dir, 'tls.key'), 'utf8'),
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PlatformError(
        'ERR_TOOL_MISSING',
        'openssl is not installed',
        'install openssl (apt-get install openssl) and run again',
        { cause: err },
      );
    }
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A Secret the platform needs, by id: the fixed ones plus the realm's. */
export interface DeclaredSecret extends BootstrapSecretSpec {
  readonly id: string;
}

/**
 * Every Secret a cluster needs: the fixed ones of {@link BOOTSTRAP_SECRETS}, `keycloak-realm`,
 * whose keys are the realm's placeholders (one per confidential client and demo user), and
 * `cratedb-users` (QuantumLeap's and each tenant's CrateDB user), so adding a tenant adds keys.
 */
export function declaredSecrets(ctx: PlatformContext): DeclaredSecret[] {
  const realm = buildRealm(ctx);
  const fixed = (Object.keys(BOOTSTRAP_SECRETS) as BootstrapSecretId[]).map(
    (id): DeclaredSecret => ({ id, ...(BOOTSTRAP_SECRETS[id] as BootstrapSecretSpec) }),
  );
  return [
    ...fixed,
    {
      id: 'keycloakRealm',
      name: KEYCLOAK_REALM_SECRET,
      namespace: 'identity',
      keys: Object.fromEntries(realm.placeholders.map((p) => [p.env, 'password' as const])),
      shares: Object.fromEntries(
        realm.placeholders
          .filter((p) => p.kind === 'client-secret')
          .map((p) => [p.env, clientSecretShare(p.id)]),
      ),
      description:
        "The realm's client secrets and demo-user passwords, which Keycloak resolves at import",
    },
    { id: 'cratedbUsers', ...crateDbUsersSecret(ctx.config.tenants.map((t) => t.name)) },
  ];
}

/** Generates one Secret with fresh values. */
export function generateSecret(ctx: PlatformContext, id: string): GeneratedSecret {
  const spec = declaredSecrets(ctx).find((s) => s.id === id);
  if (!spec) throw new TypeError(`no bootstrap Secret ${id}`);
  return manifest(ctx, spec, fillKeys(ctx, spec, Object.keys(spec.keys), new Map()));
}

function manifest(
  ctx: PlatformContext,
  spec: BootstrapSecretSpec,
  values: Record<string, string>,
): GeneratedSecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: spec.name,
      namespace: ctx.namespace(spec.namespace),
      labels: {
        'app.kubernetes.io/part-of': 'kitt4sme-platform',
        'kitt4sme.io/bootstrap': 'true',
        ...spec.labels,
      },
    },
    type: spec.type ?? 'Opaque',
    stringData: values,
  };
}

/** Values for some keys of a Secret; shared keys take (and record) their share's value. */
function fillKeys(
  ctx: PlatformContext,
  spec: BootstrapSecretSpec,
  keys: readonly string[],
  shared: Map<string, string>,
): Record<string, string> {
  const values: Record<string, string> = {};
  let tls: { cert: string; key: string } | undefined;
  for (const key of keys) {
    const share = spec.shares?.[key];
    if (share && shared.has(share)) {
      values[key] = shared.get(share)!;
      continue;
    }
    if (spec.keys[key] === 'password') values[key] = randomPassword();
    else {
      tls ??= selfSignedTls(ctx.config.ingress.host);
      values[key] = key === 'tls.key' ? tls.key : tls.cert;
    }
    if (share) shared.set(share, values[key]);
  }
  return values;
}

/** A Secret by where it lives. */
export interface SecretRef {
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
}

/** What bootstrap does on a cluster. Values are only in `create[].secret` and `addKeys[].values`. */
export interface SecretPlan {
  /** Secrets that exist with every key: never touched. */
  readonly existing: readonly SecretRef[];
  /** Secrets to create. */
  readonly create: readonly (SecretRef & { readonly secret: GeneratedSecret })[];
  /** Existing Secrets that lack keys (a tenant was added): only those keys are added. */
  readonly addKeys: readonly (SecretRef & {
    readonly keys: readonly string[];
    readonly values: Readonly<Record<string, string>>;
  })[];
  /** Shared values that differ between existing Secrets: fix by hand, see argocd/README.md. */
  readonly conflicts: readonly string[];
}

/**
 * Plans the Secrets a cluster lacks. Existing values are never replaced; a missing shared key
 * takes the value the share already has in the cluster, so Keycloak and the application keep
 * agreeing on a client secret.
 *
 * @param read the data of an existing Secret (decoded), or undefined when it does not exist.
 */
export function planSecrets(
  ctx: PlatformContext,
  read: (namespace: string, name: string) => Readonly<Record<string, string>> | undefined,
): SecretPlan {
  const declared = declaredSecrets(ctx).map((spec) => ({
    spec,
    ref: { id: spec.id, namespace: ctx.namespace(spec.namespace), name: spec.name },
    data: read(ctx.namespace(spec.namespace), spec.name),
  }));
  const shared = new Map<string, string>();
  const conflicts: string[] = [];
  for (const { spec, ref, data } of declared) {
    for (const [key, share] of Object.entries(spec.shares ?? {})) {
      const value = data?.[key];
      if (value === undefined) continue;
      const known = shared.get(share);
      if (known !== undefined && known !== value)
        conflicts.push(`${ref.namespace}/${ref.name}:${key} differs from another copy of ${share}`);
      else shared.set(share, value);
    }
  }
  const existing: SecretRef[] = [];
  const create: (SecretRef & { secret: GeneratedSecret })[] = [];
  const addKeys: (SecretRef & { keys: string[]; values: Record<string, string> })[] = [];
  for (const { spec, ref, data } of declared) {
    const missing = Object.keys(spec.keys).filter((k) => data?.[k] === undefined);
    if (!data)
      create.push({ ...ref, secret: manifest(ctx, spec, fillKeys(ctx, spec, missing, shared)) });
    else if (missing.length > 0)
      addKeys.push({ ...ref, keys: missing, values: fillKeys(ctx, spec, missing, shared) });
    else existing.push(ref);
  }
  return { existing, create, addKeys, conflicts };
}
