/**
 * The token's shape and the choice of its key, unit by unit: bearerToken and jwsDecodes (the
 * policy's `_bearer` and `_decode`), selectKey and keyFitsAlg (its `_key` and
 * `_key_fits_alg`), and the API-key format the tenancy constants state.
 */
import { describe, expect, it } from '@jest/globals';
import type { JWK } from 'jose';

import { AGENT_DEFAULT_KEY, API_KEY_FORMAT, API_KEY_PATTERN } from '../../../platform/tenancy.js';
import { bearerToken, jwsDecodes } from '../src/jws.js';
import { keyFitsAlg, selectKey } from '../src/keys.js';

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url');
const HEADER = b64('{"a":1}'); // 10 characters: one more is 11, never a length of 4k+1

describe('bearerToken', () => {
  it.each([
    ['Bearer a.b.c', 'a.b.c'],
    ['bearer a.b.c', 'a.b.c'],
    ['BEARER a-_.b.', 'a-_.b.'],
  ])('takes %j', (value, token) => {
    expect(bearerToken(value)).toBe(token);
  });

  it.each([
    'Bearer a.b',
    'Bearer a.b.c ',
    ' Bearer a.b.c',
    'Bearer  a.b.c',
    'Basic a.b.c',
    'Bearer a.b=.c',
    'Bearer a.b.c.d',
    'Bearer',
  ])('refuses %j', (value) => {
    expect(bearerToken(value)).toBeUndefined();
  });

  it.each([[undefined], [['Bearer a.b.c']], [7]])('refuses %j, which is no header text', (v) => {
    expect(bearerToken(v)).toBeUndefined();
  });
});

describe('jwsDecodes', () => {
  const jws = (header: string, claims: string) => `${header}.${claims}.sig`;

  it('takes two base64url JSON objects', () => {
    expect(jwsDecodes(jws(HEADER, b64('{"sub":"x"}')))).toBe(true);
    expect(jwsDecodes(jws(b64('{}'), b64('{}')))).toBe(true);
  });

  it.each([
    ['an array', '[]'],
    ['null', 'null'],
    ['a string', '"x"'],
    ['a number', '1'],
    ['not JSON', '{"a":'],
    ['an escaped lone surrogate', '{"a":"\\ud800"}'],
    ['an escaped surrogate in upper case', '{"a":"\\uD800"}'],
  ])('refuses claims that are %s', (_what, text) => {
    expect(jwsDecodes(jws(HEADER, b64(text)))).toBe(false);
    expect(jwsDecodes(jws(b64(text), HEADER))).toBe(false);
  });

  it('refuses bytes that are not UTF-8', () => {
    expect(jwsDecodes(jws(HEADER, b64(Buffer.from([0x7b, 0xff, 0x7d]))))).toBe(false);
  });

  it('refuses characters outside base64url at either end, which Node would skip', () => {
    // Node's decoder skips spaces: only the alphabet check refuses these.
    expect(HEADER.length % 4).toBe(2);
    expect(jwsDecodes(jws(HEADER, ` ${HEADER}`))).toBe(false);
    expect(jwsDecodes(jws(HEADER, `${HEADER} `))).toBe(false);
    expect(jwsDecodes(jws(`${HEADER}=`, HEADER))).toBe(false);
  });

  it('refuses a segment of 4k+1 characters, whose last one Node would drop', () => {
    const padded = b64('{"a":1}  '); // 12 characters
    expect(padded.length).toBe(12);
    expect(jwsDecodes(jws(HEADER, padded))).toBe(true);
    expect(jwsDecodes(jws(HEADER, `${padded}A`))).toBe(false);
  });

  it('refuses a token without claims, or an empty segment', () => {
    expect(jwsDecodes(HEADER)).toBe(false);
    expect(jwsDecodes(`${HEADER}..sig`)).toBe(false);
    expect(jwsDecodes(`.${HEADER}.sig`)).toBe(false);
  });
});

describe('selectKey and keyFitsAlg', () => {
  const rsa: JWK = { kty: 'RSA', kid: 'r1', n: 'x', e: 'AQAB' };
  const ec: JWK = { kty: 'EC', kid: 'e1', crv: 'P-256', x: 'x', y: 'y' };

  it('chooses the one key of the kid that fits the algorithm', () => {
    const jwks = { keys: [rsa, ec] };
    expect(selectKey(jwks, 'r1', 'RS256')).toEqual({ key: rsa });
    expect(selectKey(jwks, 'e1', 'ES256')).toEqual({ key: ec });
  });

  it.each<[string, JWK[], unknown, string, string]>([
    ['a kid no key has', [rsa], 'r2', 'RS256', 'unknown-key'],
    ['a kid two keys have', [rsa, { ...rsa }], 'r1', 'RS256', 'unknown-key'],
    [
      'no kid, though one key has none',
      [{ kty: 'RSA', n: 'x', e: 'AQAB' }],
      undefined,
      'RS256',
      'unknown-key',
    ],
    ['a kid that is not a string', [{ ...rsa, kid: 7 as never }], 7, 'RS256', 'unknown-key'],
    ['an RSA key for ES256', [rsa], 'r1', 'ES256', 'key-does-not-fit'],
    ['an EC key for RS256', [ec], 'e1', 'RS256', 'key-does-not-fit'],
  ])('refuses %s', (_what, keys, kid, alg, problem) => {
    expect(selectKey({ keys }, kid, alg)).toEqual({ problem });
  });

  it.each<[string, JWK, string, boolean]>([
    ['an RSA key for RS256', rsa, 'RS256', true],
    [
      'an RSA key declared for RS256 and signatures',
      { ...rsa, alg: 'RS256', use: 'sig' },
      'RS256',
      true,
    ],
    ['an EC P-256 key for ES256', ec, 'ES256', true],
    ['an EC key for RS256', ec, 'RS256', false],
    ['an RSA key for ES256', rsa, 'ES256', false],
    ['an EC P-384 key for ES256', { ...ec, crv: 'P-384' }, 'ES256', false],
    ['an OKP key on P-256 for ES256', { ...ec, kty: 'OKP' }, 'ES256', false],
    ['an EC key without a curve for ES256', { kty: 'EC', kid: 'e' }, 'ES256', false],
    ['a key for encryption', { ...rsa, use: 'enc' }, 'RS256', false],
    ['a key declared for another algorithm', { ...rsa, alg: 'RS512' }, 'RS256', false],
    ['a key of an algorithm the platform does not take', { kty: 'oct', k: 'x' }, 'HS256', false],
    ['an RSA key for RS512', rsa, 'RS512', false],
    ['an EC P-256 key for ES384', ec, 'ES384', false],
    ['an EC P-256 key for HS256', ec, 'HS256', false],
  ])('%s: %s', (_what, key, alg, fits) => {
    expect(keyFitsAlg(key, alg)).toBe(fits);
  });
});

describe('the API-key format', () => {
  it('takes 4 to 64 characters of A-Z a-z 0-9 _ -, and nothing else', () => {
    expect([API_KEY_FORMAT.minLength, API_KEY_FORMAT.maxLength]).toEqual([4, 64]);
    for (const ok of ['abcd', 'A-_9', 'k'.repeat(64)]) expect(API_KEY_PATTERN.test(ok)).toBe(true);
    for (const bad of ['abc', 'k'.repeat(65), 'ab cd', 'abc.d', 'abcd\n', ''])
      expect(API_KEY_PATTERN.test(bad)).toBe(false);
  });

  it("the IoT Agent's default key is set, and no device's key can be it", () => {
    expect(AGENT_DEFAULT_KEY.length).toBeGreaterThan(8);
    expect(API_KEY_PATTERN.test(AGENT_DEFAULT_KEY)).toBe(false);
  });
});
