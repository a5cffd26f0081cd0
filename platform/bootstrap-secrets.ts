/**
 * Generation of the bootstrap Secrets (never committed): random passwords and a self-signed
 * TLS pair for the ingress host, the plan of which ones a cluster still lacks, and the plan of
 * a rotation (which copies of a value change together, and what takes the new value how).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

import { PlatformError } from './errors.js';
import type { PlatformContext } from './context.js';
import { gitRemote, pinnedKnownHosts } from './git-remote.js';
import { buildRealm } from './realm.js';
import type { BootstrapSecretId, BootstrapSecretSpec, SecretRotation } from './secrets.js';
import {
  BOOTSTRAP_SECRETS,
  KEYCLOAK_REALM_SECRET,
  FLEET_GIT_SECRET,
  clientSecretShare,
  crateDbUsersSecret,
  fleetGitSecret,
} from './secrets.js';

/** Values only the user has, given to `npm run bootstrap:secrets` (never generated). */
export interface SecretInputs {
  /** The fleet's access token for an https gitops.repoURL. */
  readonly gitToken?: string;
  /** known_hosts lines of an ssh gitops.repoURL's host that platform/git-remote.ts does not pin. */
  readonly gitKnownHosts?: string;
}

/** A key a Secret needs but bootstrap cannot make: what to give and how. */
export interface MissingInput {
  readonly id: string;
  readonly key: string;
  /** What to do, e.g. which option gives the value. */
  readonly fix: string;
}

/** Thrown by {@link fillKeys} for a key whose value only the user has and did not give. */
class InputMissing extends Error {
  constructor(readonly missing: MissingInput) {
    super(`${missing.id}/${missing.key}: ${missing.fix}`);
  }
}

/** The error of a bootstrap that lacks the user's values; nothing has been created. */
export function missingInputError(missing: readonly MissingInput[]): PlatformError {
  return new PlatformError(
    'ERR_SECRET_INPUT_MISSING',
    `bootstrap needs values only you have: ${missing.map((m) => `${m.id}/${m.key}`).join(', ')}`,
    missing.map((m) => m.fix).join('; '),
  );
}

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
 * A fresh ed25519 key pair in OpenSSH's formats, made with ssh-keygen (no passphrase: the
 * Secret is its protection), commented with `comment`.
 * @throws PlatformError ERR_TOOL_MISSING when ssh-keygen is not installed.
 */
export function ed25519KeyPair(comment: string): { privateKey: string; publicKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kitt4sme-ssh-'));
  try {
    const key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', key], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return {
      privateKey: readFileSync(key, 'utf8'),
      publicKey: readFileSync(`${key}.pub`, 'utf8'),
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PlatformError(
        'ERR_TOOL_MISSING',
        'ssh-keygen is not installed (the fleet service’s deploy key is made with it)',
        'install the OpenSSH client (apt-get install openssh-client) and run again',
        { cause: err },
      );
    }
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
      rotation: { by: 'keycloak' },
    },
    { id: 'cratedbUsers', ...crateDbUsersSecret(ctx.config.tenants.map((t) => t.name)) },
    ...fleetGitSecrets(ctx),
  ];
}

/** The fleet's push credential, for a remote gitops.repoURL (none in the local-only mode). */
function fleetGitSecrets(ctx: PlatformContext): DeclaredSecret[] {
  const spec = fleetGitSecret(gitRemote(ctx.config.gitops.repoURL));
  return spec ? [{ id: 'fleetGit', ...spec }] : [];
}

/**
 * Generates one Secret with fresh values.
 * @throws PlatformError ERR_SECRET_INPUT_MISSING when it needs a value of `inputs` not given.
 */
export function generateSecret(
  ctx: PlatformContext,
  id: string,
  inputs: SecretInputs = {},
): GeneratedSecret {
  const spec = declaredSecrets(ctx).find((s) => s.id === id);
  if (!spec) throw new TypeError(`no bootstrap Secret ${id}`);
  try {
    return manifest(ctx, spec, fillKeys(ctx, spec, Object.keys(spec.keys), new Map(), inputs));
  } catch (err) {
    if (err instanceof InputMissing) throw missingInputError([err.missing]);
    throw err;
  }
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
  spec: BootstrapSecretSpec & { readonly id?: string },
  keys: readonly string[],
  shared: Map<string, string>,
  inputs: SecretInputs = {},
): Record<string, string> {
  const values: Record<string, string> = {};
  let tls: { cert: string; key: string } | undefined;
  let ssh: { privateKey: string; publicKey: string } | undefined;
  const remote = gitRemote(ctx.config.gitops.repoURL);
  const missing = (key: string, fix: string) =>
    new InputMissing({ id: spec.id ?? spec.name, key, fix });
  for (const key of keys) {
    const share = spec.shares?.[key];
    if (share && shared.has(share)) {
      values[key] = shared.get(share)!;
      continue;
    }
    switch (spec.keys[key]) {
      case 'password':
        values[key] = randomPassword();
        break;
      case 'tls':
        tls ??= selfSignedTls(ctx.config.ingress.host);
        values[key] = key === 'tls.key' ? tls.key : tls.cert;
        break;
      case 'ssh-key':
        // Both halves are made together; a missing half alone cannot be remade. NOTE (1)
        ssh ??= ed25519KeyPair(`kitt4sme-fleet@${ctx.config.ingress.host}`);
        values[key] = key === FLEET_GIT_SECRET.publicKey ? ssh.publicKey : ssh.privateKey;
        break;
      case 'known-hosts': {
        const lines = inputs.gitKnownHosts ?? pinnedKnownHosts(remote);
        if (!lines)
          throw missing(
            key,
            `${remote.host} has no pinned SSH host key (platform/git-remote.ts): give its keys with --git-known-hosts <file> (\`ssh-keyscan -t ed25519 ${remote.host}\`, checked against the fingerprints its operator publishes)`,
          );
        values[key] = lines.endsWith('\n') ? lines : `${lines}\n`;
        break;
      }
      case 'token':
        if (!inputs.gitToken)
          throw missing(
            key,
            `gitops.repoURL is https, so the fleet service pushes to ${remote.host} with an access token you make there (contents: read and write, on the fork only): put it in a file and run \`npm run bootstrap:secrets -- --git-token-file <file>\` (or set KITT4SME_FLEET_GIT_TOKEN_FILE to the file, e.g. for argocd/bootstrap.sh)`,
          );
        values[key] = inputs.gitToken.trim();
        break;
      default:
        throw new TypeError(`${spec.name}: key ${key} has no value kind`);
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
  /**
   * Keys only the user can give (the fleet's https token, an unpinned host's keys) that the
   * cluster lacks: their Secrets are neither in `create` nor `addKeys` until given.
   */
  readonly needsInput: readonly (SecretRef & MissingInput)[];
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
  inputs: SecretInputs = {},
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
  const needsInput: (SecretRef & MissingInput)[] = [];
  for (const { spec, ref, data } of declared) {
    const missing = Object.keys(spec.keys).filter((k) => data?.[k] === undefined);
    if (missing.length === 0) {
      existing.push(ref);
      continue;
    }
    let values: Record<string, string>;
    try {
      values = fillKeys(ctx, spec, missing, shared, inputs);
    } catch (err) {
      if (!(err instanceof InputMissing)) throw err;
      needsInput.push({ ...ref, ...err.missing });
      continue;
    }
    if (!data) create.push({ ...ref, secret: manifest(ctx, spec, values) });
    else addKeys.push({ ...ref, keys: missing, values });
  }
  return { existing, create, addKeys, conflicts, needsInput };
}

/** Secrets and keys `npm run bootstrap:secrets -- --rotate` accepts, by kind of id. */
export interface RotationIds {
  /** A Secret's id (`grafanaOidc`): every key it has. */
  readonly secrets: readonly string[];
  /** A shared value's id (`oidc-client:grafana`, a client's secret): every copy of it. */
  readonly shares: readonly string[];
  /** One key, as `<secret id>/<key>` (`mongodb/orion-password`), with every copy it shares. */
  readonly keys: readonly string[];
}

/** The ids a rotation accepts (see {@link RotationIds}). */
export function rotationIds(ctx: PlatformContext): RotationIds {
  const declared = declaredSecrets(ctx);
  return {
    secrets: declared.map((s) => s.id),
    shares: [...new Set(declared.flatMap((s) => Object.values(s.shares ?? {})))].sort(),
    keys: declared.flatMap((s) => Object.keys(s.keys).map((k) => `${s.id}/${k}`)),
  };
}

/** A Secret whose keys a rotation replaces. */
export interface RotationTarget extends SecretRef {
  /** The keys that get new values: every copy of a shared value, both halves of a TLS pair. */
  readonly keys: readonly string[];
  /** Keys holding a PEM pair (regenerated together, self-signed for the ingress host). */
  readonly tls: boolean;
  readonly rotation: SecretRotation;
}

/** A value of the running realm that a rotation changes (through Keycloak's admin API). */
export interface RealmChange {
  readonly kind: 'client-secret' | 'user-password';
  /** The client id or the username. */
  readonly id: string;
  /** Its key in the keycloak-realm Secret. */
  readonly env: string;
  /**
   * No other Secret of the cluster holds it: whoever else uses it (a tenant's devices and
   * scripts for a machine client, a person for a password) must be given the new value.
   */
  readonly heldOutside: boolean;
}

/** A Secret the command leaves to a person, with why and how. */
export interface ManualRotation extends SecretRef {
  readonly keys: readonly string[];
  readonly reason: string;
  /** Steps, in order, with the Secret's namespace filled in. */
  readonly procedure: readonly string[];
}

/** What rotating one id changes; no value is in it. */
export interface RotationPlan {
  readonly id: string;
  /** Every Secret that gets new values, the copies of a shared value included. */
  readonly secrets: readonly RotationTarget[];
  /** What the running realm must take (the keycloak-realm Secret's rotated keys). */
  readonly realm: readonly RealmChange[];
  /** Secrets of the selection that are rotated by hand: when not empty, nothing is done. */
  readonly manual: readonly ManualRotation[];
}

/**
 * Plans the rotation of `id` (see {@link rotationIds}): the selected keys, every other key
 * that shares a value with one of them (Keycloak's copy of a client secret and the
 * application's), and the other half of a TLS pair.
 *
 * @returns undefined when `id` names no Secret, shared value or key.
 */
export function planRotation(ctx: PlatformContext, id: string): RotationPlan | undefined {
  const declared = declaredSecrets(ctx);
  const selected = new Map<string, Set<string>>(); // secret id → keys
  const select = (s: DeclaredSecret, key: string) => {
    const keys = selected.get(s.id) ?? new Set<string>();
    keys.add(key);
    selected.set(s.id, keys);
  };
  const slash = id.indexOf('/');
  const bySecret = declared.find((s) => s.id === id);
  if (bySecret) for (const k of Object.keys(bySecret.keys)) select(bySecret, k);
  else if (slash > 0) {
    const s = declared.find((d) => d.id === id.slice(0, slash));
    const key = id.slice(slash + 1);
    if (!s || !(key in s.keys)) return undefined;
    select(s, key);
  } else {
    const holders = declared.filter((s) => Object.values(s.shares ?? {}).includes(id));
    if (holders.length === 0) return undefined;
    for (const s of holders)
      for (const [k, share] of Object.entries(s.shares ?? {})) if (share === id) select(s, k);
  }
  // Every copy of a selected shared value, and both halves of a TLS pair.
  const shares = new Set(
    declared.flatMap((s) => [...(selected.get(s.id) ?? [])].flatMap((k) => s.shares?.[k] ?? [])),
  );
  for (const s of declared) {
    for (const [k, share] of Object.entries(s.shares ?? {})) if (shares.has(share)) select(s, k);
    if ([...(selected.get(s.id) ?? [])].some((k) => s.keys[k] === 'tls'))
      for (const [k, kind] of Object.entries(s.keys)) if (kind === 'tls') select(s, k);
  }

  const placeholders = new Map(buildRealm(ctx).placeholders.map((p) => [p.env, p]));
  const copies = (share: string) =>
    declared.filter((s) => Object.values(s.shares ?? {}).includes(share)).length;
  const secrets: RotationTarget[] = [];
  const realm: RealmChange[] = [];
  const manual: ManualRotation[] = [];
  for (const s of declared) {
    const chosen = selected.get(s.id);
    if (!chosen) continue;
    // In the Secret's own key order, so plans and reports are stable.
    const keys = Object.keys(s.keys).filter((k) => chosen.has(k));
    const ref = { id: s.id, namespace: ctx.namespace(s.namespace), name: s.name };
    const rotation = s.rotation ?? { by: 'restart' };
    if (rotation.by === 'manual') {
      manual.push({
        ...ref,
        keys,
        reason: rotation.reason,
        procedure: rotation.procedure.map((step) => step.replaceAll('{ns}', ref.namespace)),
      });
      continue;
    }
    secrets.push({ ...ref, keys, tls: keys.some((k) => s.keys[k] === 'tls'), rotation });
    if (rotation.by === 'keycloak')
      for (const k of keys) {
        const p = placeholders.get(k);
        if (!p) throw new TypeError(`${s.name} key ${k} is no placeholder of the realm`);
        const share = s.shares?.[k];
        realm.push({
          kind: p.kind,
          id: p.id,
          env: k,
          heldOutside: p.kind === 'user-password' || !share || copies(share) < 2,
        });
      }
  }
  return { id, secrets, realm, manual };
}

/**
 * Fresh values for a plan's keys, by Secret id: one value per shared value (the same in every
 * copy), one self-signed pair per TLS Secret, a random password for every other key.
 * @throws PlatformError ERR_TOOL_MISSING when a TLS pair is needed and openssl is missing.
 */
export function rotationValues(
  ctx: PlatformContext,
  plan: RotationPlan,
): Map<string, Record<string, string>> {
  const declared = declaredSecrets(ctx);
  const shared = new Map<string, string>();
  return new Map(
    plan.secrets.map((t) => {
      const spec = declared.find((s) => s.id === t.id)!;
      return [t.id, fillKeys(ctx, spec, t.keys, shared)];
    }),
  );
}

// NOTE
// 1. Key pairs. A TLS pair and the fleet's deploy key are made whole, once. Existing values
//    are never replaced, so if one half were deleted from the cluster by hand, bootstrap would
//    add the half of a new pair, which does not match the other: delete the whole Secret and
//    bootstrap again instead (the deploy key's rotation procedure says so).
