import type { JWK } from 'jose';

import { API_AUDIENCES } from '../../../platform/tenancy.js';
import { json, startStub } from '../../../testing/support/http.js';
import type { StubServer } from '../../../testing/support/http.js';
import type { TestKeys, TokenRecipe } from '../../../testing/support/tokens.js';
import { generateTestKeys, makeToken } from '../../../testing/support/tokens.js';
import { JwksUnavailableError, TokenError } from '../src/errors.js';
import { JwksCache } from '../src/jwks.js';
import { verifyBearer } from '../src/verify.js';

const ISSUER = 'https://kitt4sme.localhost/auth/realms/kitt4sme';
let keys: TestKeys;
let stub: StubServer;
let jwks: JwksCache;

beforeAll(async () => {
  keys = await generateTestKeys();
  stub = await startStub(json(200, { keys: [] }));
  stub.handle(json(200, keys.jwks));
  jwks = new JwksCache({ url: `${stub.url}/certs` });
});
afterAll(() => stub.close());

const verify = async (recipe: TokenRecipe) =>
  verifyBearer(await makeToken(keys, ISSUER, recipe), {
    jwks,
    issuer: ISSUER,
    audiences: API_AUDIENCES,
  });

describe('verifyBearer', () => {
  it.each([
    ['an RS256 token of the realm', {}],
    ['an ES256 token of the realm', { key: 'ec' }],
    ['a token of the rotated-in key', { key: 'rsa-rotated' }],
    ['a token expired within the skew', { expIn: -10 }],
    [
      'an audience list with an API client',
      { claims: { aud: ['account', 'kitt4sme-provisioning'], azp: 'x' } },
    ],
    ['a single audience string', { claims: { aud: 'kitt4sme-fiware' } }],
  ] as [string, TokenRecipe][])('accepts %s and returns its claims', async (_what, recipe) => {
    const claims = await verify(recipe);
    expect(claims).toMatchObject({ iss: ISSUER, sub: 'user-1', tenants: ['manufracture'] });
  });

  it.each([
    ['a key the realm does not publish', { key: 'evil-rsa' }, 'unknown-key'],
    [
      'a forged token naming a realm key',
      { key: 'evil-rsa', kid: 'realm-rsa-1' },
      'invalid-signature',
    ],
    [
      'a forged ES256 token naming a realm key',
      { key: 'evil-ec', kid: 'realm-ec-1' },
      'invalid-signature',
    ],
    ['alg none', { alg: 'none' }, 'unsupported-algorithm'],
    ['HS256 with the public key as secret', { alg: 'HS256' }, 'unsupported-algorithm'],
    ['an RS256 header naming the EC key', { kid: 'realm-ec-1' }, 'unknown-key'],
    ['a tampered payload', { tamper: 'payload' }, 'invalid-signature'],
    ['a tampered signature', { tamper: 'signature' }, 'invalid-signature'],
    ['a token without kid', { kid: null }, 'unknown-key'],
    ['an expired token', { expIn: -120 }, 'expired'],
    ['a token without exp', { expIn: null }, 'expired'],
    ['a token not valid yet', { nbfIn: 300 }, 'not-yet-valid'],
    ['a token issued in the future', { iatIn: 300 }, 'not-yet-valid'],
    [
      'a token of another realm',
      { claims: { iss: 'https://kitt4sme.localhost/auth/realms/master' } },
      'wrong-issuer',
    ],
    [
      'a token of a web application',
      { claims: { aud: 'grafana', azp: 'grafana' } },
      'wrong-audience',
    ],
    ['an ID token', { claims: { typ: 'ID' } }, 'not-an-access-token'],
    ['a typ that is an array', { claims: { typ: ['Bearer'] } }, 'not-an-access-token'],
    ['an audience that is an object', { claims: { aud: { a: 1 }, azp: null } }, 'wrong-audience'],
    [
      'an API audience named only as authorized party',
      { claims: { aud: null, azp: 'kitt4sme-fiware' } },
      'wrong-audience',
    ],
    [
      'an API audience as authorized party beside an object audience',
      { claims: { aud: { a: 1 }, azp: 'kitt4sme-fiware' } },
      'wrong-audience',
    ],
    ['a critical header extension', { header: { crit: ['exp'] } }, 'malformed'],
    ['claims with trailing bytes', { claimsText: '{claims}{}' }, 'malformed'],
    [
      'claims that are not UTF-8',
      { claims: { sub: 'café' }, claimsEncoding: 'latin1' },
      'malformed',
    ],
    ['base64 padding', { padded: true, claims: { sub: 'user-12' } }, 'malformed'],
    ['a padded signature', { tamper: 'padded-signature' }, 'malformed'],
    ['an escaped lone surrogate', { claims: { sub: '\ud800' } }, 'malformed'],
    ['a byte order mark before the claims', { claimsText: '\ufeff{claims}' }, 'malformed'],
    ['a token longer than 8192 characters', { padding: 9000 }, 'malformed'],
  ] as [string, TokenRecipe, string][])('refuses %s (%s)', async (_what, recipe, problem) => {
    const token = await makeToken(keys, ISSUER, recipe);
    const err = await verifyBearer(token, { jwks, issuer: ISSUER, audiences: API_AUDIENCES }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TokenError);
    expect(err).toMatchObject({ problem, code: 'ERR_TOKEN_INVALID' });
    expect((err as Error).message).not.toContain(token);
  });

  it.each(['not-a-token', 'a.b.c', ''])('refuses the malformed token %j', async (token) => {
    await expect(
      verifyBearer(token, { jwks, issuer: ISSUER, audiences: API_AUDIENCES }),
    ).rejects.toBeInstanceOf(TokenError);
  });

  it('refuses a token one character longer than maxTokenLength, and takes one at it', async () => {
    const token = await makeToken(keys, ISSUER, {});
    const opts = { jwks, issuer: ISSUER, audiences: API_AUDIENCES };
    await expect(
      verifyBearer(token, { ...opts, maxTokenLength: token.length }),
    ).resolves.toMatchObject({ sub: 'user-1' });
    await expect(
      verifyBearer(token, { ...opts, maxTokenLength: token.length - 1 }),
    ).rejects.toMatchObject({ problem: 'malformed', message: 'malformed token' });
  });

  it('accepts only the algorithms it is given', async () => {
    const opts = { jwks, issuer: ISSUER, audiences: API_AUDIENCES, algorithms: ['ES256'] };
    await expect(
      verifyBearer(await makeToken(keys, ISSUER, { key: 'ec' }), opts),
    ).resolves.toMatchObject({ sub: 'user-1' });
    await expect(verifyBearer(await makeToken(keys, ISSUER, {}), opts)).rejects.toMatchObject({
      problem: 'unsupported-algorithm',
      message: 'unsupported token algorithm',
    });
  });

  it('applies the clock tolerance it is given to exp and iat', async () => {
    const opts = { jwks, issuer: ISSUER, audiences: API_AUDIENCES, clockToleranceSeconds: 5 };
    await expect(
      verifyBearer(await makeToken(keys, ISSUER, { expIn: -20 }), opts),
    ).rejects.toMatchObject({ problem: 'expired', message: 'token expired' });
    await expect(
      verifyBearer(await makeToken(keys, ISSUER, { iatIn: 20 }), opts),
    ).rejects.toMatchObject({ problem: 'not-yet-valid', message: 'token issued in the future' });
    // The default tolerance (30 s) takes both.
    const { clockToleranceSeconds: _, ...defaults } = opts;
    await expect(
      verifyBearer(await makeToken(keys, ISSUER, { iatIn: 20 }), defaults),
    ).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('accepts an access token without typ (the claim is optional)', async () => {
    const claims = await verify({ claims: { typ: null } });
    expect(claims).toMatchObject({ sub: 'user-1' });
    expect(claims).not.toHaveProperty('typ');
  });

  it('accepts a token issued exactly the clock tolerance ahead', async () => {
    // A second that ticks between signing and checking only moves the token further back.
    const opts = { jwks, issuer: ISSUER, audiences: API_AUDIENCES, clockToleranceSeconds: 5 };
    await expect(
      verifyBearer(await makeToken(keys, ISSUER, { iatIn: 5 }), opts),
    ).resolves.toMatchObject({ sub: 'user-1' });
  });

  it.each([
    [{ claims: { aud: 'grafana', azp: 'grafana' } }, 'token not issued for an API client'],
    [{ claims: { typ: 'ID' } }, 'not an access token'],
    [{ expIn: null }, 'token expired or without exp'],
    [{ nbfIn: 300 }, 'token not valid yet'],
    [
      { claims: { iss: 'https://kitt4sme.localhost/auth/realms/master' } },
      'token issued by another issuer',
    ],
    [{ tamper: 'payload' }, 'invalid token signature'],
    [{ key: 'evil-rsa' }, 'token signed with an unknown key'],
    [{ kid: 'realm-ec-1' }, 'token key does not fit its algorithm'],
  ] as [TokenRecipe, string][])('names the problem of %j: %s', async (recipe, message) => {
    await expect(verify(recipe)).rejects.toMatchObject({ message });
  });

  it('takes typ Bearer in any case', async () => {
    await expect(verify({ claims: { typ: 'bearer' } })).resolves.toMatchObject({ typ: 'bearer' });
    await expect(verify({ claims: { typ: 'BEARER' } })).resolves.toMatchObject({ typ: 'BEARER' });
  });

  it('fails closed when the realm keys cannot be fetched', async () => {
    const down = new JwksCache({ url: 'http://127.0.0.1:9/certs', timeoutMs: 300 });
    const token = await makeToken(keys, ISSUER, {});
    await expect(
      verifyBearer(token, { jwks: down, issuer: ISSUER, audiences: API_AUDIENCES }),
    ).rejects.toBeInstanceOf(JwksUnavailableError);
  });

  it.each([
    ['declared for encryption', (k: JWK) => [{ ...k, use: 'enc' }]],
    ['declared for another algorithm', (k: JWK) => [{ ...k, alg: 'RS512' }]],
    ['published twice under one kid', (k: JWK) => [k, { ...k }]],
  ] as [string, (k: JWK) => JWK[]][])(
    'refuses a token whose realm key is %s, as the policy does',
    async (_what, publish) => {
      const realmKey = keys.jwks.keys.find((k) => k.kid === 'realm-rsa-1')!;
      const odd = await startStub(json(200, { keys: publish(realmKey) }));
      try {
        const err = await verifyBearer(await makeToken(keys, ISSUER, {}), {
          jwks: new JwksCache({ url: `${odd.url}/certs` }),
          issuer: ISSUER,
          audiences: API_AUDIENCES,
        }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TokenError);
        expect(err).toMatchObject({ problem: 'unknown-key' });
      } finally {
        await odd.close();
      }
    },
  );
});

describe('verifyBearer, the reasons it gives', () => {
  const opts = () => ({ jwks, issuer: ISSUER, audiences: API_AUDIENCES });
  const refusal = async (recipe: TokenRecipe, o = opts()) =>
    verifyBearer(await makeToken(keys, ISSUER, recipe), o).catch((e: unknown) => e as TokenError);

  it('names an invalid claim that is not a time limit: an iat that is no number', async () => {
    const err = await refusal({ claims: { iat: 'yesterday' } });
    expect(err).toMatchObject({ problem: 'malformed', message: 'invalid token claim iat' });
    expect((err as Error).name).toBe('TokenError');
  });

  it('calls a header it does not understand malformed', async () => {
    expect(await refusal({ header: { crit: ['x-unknown'], 'x-unknown': 1 } })).toMatchObject({
      problem: 'malformed',
      message: 'malformed token',
    });
  });

  it('refuses a key of the right type that cannot be imported', async () => {
    const broken: JWK = { kty: 'RSA', kid: 'broken-1', alg: 'RS256', use: 'sig' };
    const stubbed = await startStub(json(200, { keys: [...keys.jwks.keys, broken] }));
    try {
      const err = await refusal(
        { kid: 'broken-1' },
        { ...opts(), jwks: new JwksCache({ url: `${stubbed.url}/certs` }) },
      );
      expect(err).toMatchObject({
        problem: 'unknown-key',
        message: 'token key does not fit its algorithm',
      });
    } finally {
      await stubbed.close();
    }
  });
});
