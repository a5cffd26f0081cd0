/**
 * Generation of the bootstrap Secrets (never committed): random passwords and a self-signed
 * TLS pair for the ingress host, and the plan of which ones a cluster still lacks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

import { PlatformError } from '../../services/lib/errors.js';
import type { PlatformContext } from './context.js';
import type { BootstrapSecretId, BootstrapSecretSpec } from './secrets.js';
import { BOOTSTRAP_SECRETS } from './secrets.js';

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

/** Generates one Secret with fresh values. */
export function generateSecret(ctx: PlatformContext, id: BootstrapSecretId): GeneratedSecret {
  const spec: BootstrapSecretSpec = BOOTSTRAP_SECRETS[id];
  const values: Record<string, string> = {};
  let tls: { cert: string; key: string } | undefined;
  for (const [key, kind] of Object.entries(spec.keys)) {
    if (kind === 'password') values[key] = randomPassword();
    else {
      tls ??= selfSignedTls(ctx.config.ingress.host);
      values[key] = key === 'tls.key' ? tls.key : tls.cert;
    }
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: spec.name,
      namespace: ctx.namespace(spec.namespace),
      labels: { 'app.kubernetes.io/part-of': 'kitt4sme-platform', 'kitt4sme.io/bootstrap': 'true' },
    },
    type: spec.type ?? 'Opaque',
    stringData: values,
  };
}

/** Which bootstrap Secrets exist already and which must be created. */
export interface SecretPlan {
  readonly existing: readonly { id: BootstrapSecretId; namespace: string; name: string }[];
  readonly missing: readonly { id: BootstrapSecretId; namespace: string; name: string }[];
}

/** Splits the bootstrap Secrets by whether `exists` finds them. Existing ones are never replaced. */
export function planSecrets(
  ctx: PlatformContext,
  exists: (namespace: string, name: string) => boolean,
): SecretPlan {
  const all = (Object.keys(BOOTSTRAP_SECRETS) as BootstrapSecretId[]).map((id) => ({
    id,
    namespace: ctx.namespace(BOOTSTRAP_SECRETS[id].namespace),
    name: BOOTSTRAP_SECRETS[id].name,
  }));
  return {
    existing: all.filter((s) => exists(s.namespace, s.name)),
    missing: all.filter((s) => !exists(s.namespace, s.name)),
  };
}
