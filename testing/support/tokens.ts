/**
 * Test support: signing keys generated at test time and tokens made from recipes.
 *
 * Nothing here is ever committed: every run generates fresh key pairs. The recipes describe
 * tokens the way an attacker would make them (wrong key, `none`, HS256 with the public key as
 * secret, tampered payload, other issuer...), so one corpus can exercise every attack class.
 */
import { createHmac, createPrivateKey, createPublicKey, sign as cryptoSign } from 'node:crypto';

import type { JWK } from 'jose';
import { base64url, exportJWK, generateKeyPair } from 'jose';

/** A private key as jose generates it. */
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** The keys a test run signs with. */
export interface TestKeys {
  /** What the realm publishes: the public halves of rsa, ec and rsa-rotated. */
  readonly jwks: { keys: JWK[] };
  /** Private keys by name, as JWK (for OPA's io.jwt.encode_sign in Rego tests). */
  readonly privateJwks: Readonly<Record<KeyName, JWK>>;
  readonly privateKeys: Readonly<Record<KeyName, PrivateKey>>;
  /** PEM of the rsa public key: the "secret" of an HS256 confusion attack. */
  readonly rsaPublicPem: string;
}

/** Keys the tests sign with; the `evil-*` ones are not in the realm's JWKS. */
export type KeyName = 'rsa' | 'ec' | 'rsa-rotated' | 'evil-rsa' | 'evil-ec';

const KIDS: Readonly<Record<KeyName, string>> = {
  rsa: 'realm-rsa-1',
  ec: 'realm-ec-1',
  'rsa-rotated': 'realm-rsa-2',
  'evil-rsa': 'evil-rsa-1',
  'evil-ec': 'evil-ec-1',
};

const ALGS: Readonly<Record<KeyName, 'RS256' | 'ES256'>> = {
  rsa: 'RS256',
  ec: 'ES256',
  'rsa-rotated': 'RS256',
  'evil-rsa': 'RS256',
  'evil-ec': 'ES256',
};

/** Generates a fresh set of test keys (a few hundred milliseconds: RSA key generation). */
export async function generateTestKeys(): Promise<TestKeys> {
  const names = Object.keys(KIDS) as KeyName[];
  const pairs = await Promise.all(
    names.map((n) => generateKeyPair(ALGS[n], { extractable: true })),
  );
  const privateKeys = Object.fromEntries(names.map((n, i) => [n, pairs[i]!.privateKey])) as Record<
    KeyName,
    PrivateKey
  >;
  const privateJwks = {} as Record<KeyName, JWK>;
  const publics: JWK[] = [];
  for (const [i, n] of names.entries()) {
    privateJwks[n] = { ...(await exportJWK(pairs[i]!.privateKey)), kid: KIDS[n], alg: ALGS[n] };
    if (!n.startsWith('evil')) {
      publics.push({
        ...(await exportJWK(pairs[i]!.publicKey)),
        kid: KIDS[n],
        alg: ALGS[n],
        use: 'sig',
      });
    }
  }
  const rsaPublicPem = createPublicKey({ key: privateJwks.rsa as never, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  return { jwks: { keys: publics }, privateJwks, privateKeys, rsaPublicPem };
}

/** How to make a token. Every field is optional: the default is a valid operator token. */
export interface TokenRecipe {
  /** The key that signs. @default rsa */
  readonly key?: KeyName;
  /**
   * The `alg` of the header. `none` makes an unsigned token; `HS256` signs with the realm's RSA
   * public key PEM as HMAC secret (the classic confusion attack). @default the key's algorithm
   */
  readonly alg?: string;
  /** The `kid` of the header; null leaves it out. @default the signing key's kid */
  readonly kid?: string | null;
  /** Claims merged onto the defaults; a null value removes the claim. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** `exp` relative to now, in seconds; null leaves it out. @default 3600 */
  readonly expIn?: number | null;
  /** `nbf` relative to now, in seconds. @default none */
  readonly nbfIn?: number;
  /** `iat` relative to now, in seconds. @default 0 */
  readonly iatIn?: number;
  /** Change the token after signing. */
  readonly tamper?: 'payload' | 'signature' | 'header' | 'padded-signature';
  /** Pad the claims with this many characters (an oversized token). @default none */
  readonly padding?: number;
  /** Members added to (or, with null, removed from) the JOSE header, e.g. `crit`. */
  readonly header?: Readonly<Record<string, unknown>>;
  /**
   * The claims as this exact text, signed as it is; `{claims}` stands for the recipe's claims
   * as JSON (so `{claims}{}` is valid JSON followed by trailing bytes).
   */
  readonly claimsText?: string;
  /** How the claims text becomes bytes; `latin1` makes "é" an invalid UTF-8 byte. @default utf8 */
  readonly claimsEncoding?: 'utf8' | 'latin1';
  /** Encode header and claims with base64url padding ("="), which JWS forbids. @default false */
  readonly padded?: boolean;
}

/** The claims every recipe starts from. */
export function defaultClaims(issuer: string, now: number): Record<string, unknown> {
  return {
    iss: issuer,
    sub: 'user-1',
    aud: ['kitt4sme-fiware', 'kitt4sme-provisioning'],
    azp: 'manufracture-scenarios',
    typ: 'Bearer',
    tenants: ['manufracture'],
    roles: ['manufracture:operator'],
    iat: now,
    exp: now + 3600,
  };
}

const b64 = (v: unknown) => base64url.encode(typeof v === 'string' ? v : JSON.stringify(v));

/** Makes the compact JWS a recipe describes. */
export async function makeToken(
  keys: TestKeys,
  issuer: string,
  recipe: TokenRecipe = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const keyName = recipe.key ?? 'rsa';
  const alg = recipe.alg ?? ALGS[keyName];
  const claims: Record<string, unknown> = { ...defaultClaims(issuer, now) };
  if (recipe.expIn === null) delete claims.exp;
  else if (recipe.expIn !== undefined) claims.exp = now + recipe.expIn;
  if (recipe.nbfIn !== undefined) claims.nbf = now + recipe.nbfIn;
  if (recipe.iatIn !== undefined) claims.iat = now + recipe.iatIn;
  // A recipe that names tenants but no roles gets operator of each (the default's shape).
  const named = recipe.claims ?? {};
  if (Array.isArray(named.tenants) && !('roles' in named)) {
    claims.roles = named.tenants
      .filter((t): t is string => typeof t === 'string')
      .map((t) => `${t}:operator`);
  }
  for (const [k, v] of Object.entries(named)) {
    if (v === null) delete claims[k];
    else claims[k] = v;
  }
  if (recipe.padding) claims.padding = 'x'.repeat(recipe.padding);
  const header: Record<string, unknown> = { alg, typ: 'JWT' };
  const kid = recipe.kid === undefined ? KIDS[keyName] : recipe.kid;
  if (kid !== null) header.kid = kid;
  for (const [k, v] of Object.entries(recipe.header ?? {})) {
    if (v === null) delete header[k];
    else header[k] = v;
  }
  const claimsBytes = Buffer.from(
    (recipe.claimsText ?? '{claims}').replace('{claims}', () => JSON.stringify(claims)),
    recipe.claimsEncoding ?? 'utf8',
  );
  const encode = (bytes: Uint8Array) => {
    const text = base64url.encode(bytes);
    return recipe.padded ? text + '='.repeat((4 - (text.length % 4)) % 4) : text;
  };
  const signingInput = `${encode(Buffer.from(JSON.stringify(header)))}.${encode(claimsBytes)}`;
  const token = `${signingInput}.${sign(signingInput, alg, keys, keyName)}`;
  const [h, p, s] = token.split('.') as [string, string, string];
  switch (recipe.tamper) {
    case 'payload':
      return `${h}.${b64({ ...claims, tenants: ['smithereens', 'manufracture'], roles: ['platform-admin'] })}.${s}`;
    case 'signature':
      return `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    case 'padded-signature':
      return `${h}.${p}.${s}==`;
    case 'header':
      return `${b64({ ...header, kid: KIDS.ec })}.${p}.${s}`;
    default:
      return token;
  }
}

/** The signature segment: none for `none`, HMAC with the PEM for HS256, else the key's. */
function sign(signingInput: string, alg: string, keys: TestKeys, keyName: KeyName): string {
  const data = Buffer.from(signingInput);
  if (alg === 'none') return '';
  if (alg === 'HS256')
    return createHmac('sha256', keys.rsaPublicPem).update(data).digest('base64url');
  const key = createPrivateKey({ key: keys.privateJwks[keyName] as never, format: 'jwk' });
  return cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
}
