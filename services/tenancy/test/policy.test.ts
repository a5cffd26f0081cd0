/**
 * The in-process policy host (src/policy.ts) unit by unit: the RFC 7638 thumbprints its
 * verified-signature memo is keyed by (held to RFC 7638's own example and to jose), and the
 * names it reads from the policy data (the tenant header, the claims of tenants and roles)
 * with their defaults, and what it throws when a policy gives no decision or fails (a small
 * Rego of the test's own, built to wasm with the pinned OPA). parity.test.ts and
 * middleware.test.ts hold its decisions.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from '@jest/globals';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';

import { ensureOpa } from '../../../toolchain/tools.js';
import { PolicyEvaluationError, TenancyPolicy, jwkThumbprint } from '../src/policy.js';

describe('jwkThumbprint', () => {
  it("gives RFC 7638's own example its thumbprint (section 3.1)", () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(jwkThumbprint(jwk)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it.each([
    ['RSA', 'RS256'],
    ['EC', 'ES256'],
    ['OKP', 'EdDSA'],
  ] as const)(
    'agrees with jose on a %s key, and ignores the optional members',
    async (_kty, alg) => {
      const { publicKey } = await generateKeyPair(alg, { extractable: true });
      const jwk = await exportJWK(publicKey);
      const thumb = await calculateJwkThumbprint(jwk, 'sha256');
      expect(jwkThumbprint(jwk as Record<string, unknown>)).toBe(thumb);
      expect(jwkThumbprint({ ...jwk, kid: 'k1', use: 'sig', alg } as Record<string, unknown>)).toBe(
        thumb,
      );
    },
  );

  it('tells keys apart by every required member', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = (await exportJWK(publicKey)) as Record<string, unknown>;
    const base = jwkThumbprint(jwk);
    for (const member of ['crv', 'x', 'y']) {
      expect(jwkThumbprint({ ...jwk, [member]: 'other' })).not.toBe(base);
    }
    const rsa = (await exportJWK(
      (await generateKeyPair('RS256', { extractable: true })).publicKey,
    )) as Record<string, unknown>;
    for (const member of ['n', 'e']) {
      expect(jwkThumbprint({ ...rsa, [member]: 'AQAA' })).not.toBe(jwkThumbprint(rsa));
    }
    const okp = (await exportJWK(
      (await generateKeyPair('EdDSA', { extractable: true })).publicKey,
    )) as Record<string, unknown>;
    for (const member of ['crv', 'x']) {
      expect(jwkThumbprint({ ...okp, [member]: 'other' })).not.toBe(jwkThumbprint(okp));
    }
  });

  it('keys an unknown key type by its type alone', () => {
    expect(jwkThumbprint({ kty: 'oct', k: 'c2VjcmV0' })).toBe(
      jwkThumbprint({ kty: 'oct', k: 'b3RoZXI' }),
    );
    expect(jwkThumbprint({ kty: 'oct' })).not.toBe(jwkThumbprint({ kty: 'other' }));
  });
});

describe('the names a policy reads from its data', () => {
  const load = (config: unknown) => TenancyPolicy.load({ config });

  it('are the defaults when the data names none, or names them with something else than text', async () => {
    for (const config of [{}, null, { tenant_header: 7, claims: { tenants: 1, roles: ['r'] } }]) {
      const policy = await load(config);
      expect(policy.tenantHeader).toBe('x-kitt4sme-tenant');
      expect(policy.claimNames).toEqual({ tenants: 'tenants', roles: 'roles' });
    }
  });

  it('are the ones the data names', async () => {
    const policy = await load({
      tenant_header: 'x-kitt4sme-org',
      claims: { tenants: 'orgs', roles: 'grants' },
    });
    expect(policy.tenantHeader).toBe('x-kitt4sme-org');
    expect(policy.claimNames).toEqual({ tenants: 'orgs', roles: 'grants' });
    const partly = await load({ claims: { roles: 'grants' } });
    expect(partly.claimNames).toEqual({ tenants: 'tenants', roles: 'grants' });
  });
});

describe('a policy that gives no decision, or fails', () => {
  let policy: TenancyPolicy;

  beforeAll(async () => {
    // The entrypoint the host evaluates, answering by input.kind: a decision that is not one,
    // none at all, or two that conflict (an evaluation error).
    const dir = mkdtempSync(join(tmpdir(), 'policy-test-'));
    try {
      mkdirSync(join(dir, 'src'));
      writeFileSync(
        join(dir, 'src', 'authz.rego'),
        [
          'package kitt4sme.authz',
          'decision := {"allowed": "yes"} if input.kind == "text"',
          'decision := {"allowed": true} if input.kind == "conflict"',
          'decision := {"allowed": false} if input.kind == "conflict"',
          '',
        ].join('\n'),
      );
      const bundle = join(dir, 'bundle.tar.gz');
      const build = spawnSync(
        ensureOpa(),
        ['build', '-t', 'wasm', '-e', 'kitt4sme/authz/decision', '-o', bundle, 'src'],
        { cwd: dir, encoding: 'utf8' },
      );
      expect(build.stderr).toBe('');
      expect(spawnSync('tar', ['-xzf', bundle, '-C', dir, '/policy.wasm']).status).toBe(0);
      policy = await TenancyPolicy.load({
        config: {},
        wasm: readFileSync(join(dir, 'policy.wasm')),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const failure = async (input: unknown) => {
    const err = await policy.decide(input, undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PolicyEvaluationError);
    expect((err as Error).name).toBe('PolicyEvaluationError');
    return err as PolicyEvaluationError;
  };

  it('refuses a result whose allowed is not a boolean', async () => {
    expect((await failure({ kind: 'text' })).message).toBe(
      'the tenancy policy returned no decision',
    );
  });

  it('refuses no result at all', async () => {
    expect((await failure({ kind: 'none' })).message).toBe(
      'the tenancy policy returned no decision',
    );
  });

  it('wraps an evaluation error, with its message and cause', async () => {
    // opa-wasm throws the error's text itself, not an Error.
    const err = await failure({ kind: 'conflict' });
    expect(err.message).toBe(
      'the tenancy policy failed: src/authz.rego:4:1: var assignment conflict',
    );
    expect(err.cause).toBe('src/authz.rego:4:1: var assignment conflict');
  });

  it('decides inputs of any shape without throwing before the policy sees them', async () => {
    // No input at all, no attributes, no request, no headers: the host's own reads must not
    // throw.
    for (const input of [
      null,
      undefined,
      {},
      { attributes: {} },
      { attributes: { request: {} } },
      { attributes: { request: { http: {} } } },
    ]) {
      await expect(policy.decide(input, { keys: [] })).rejects.toThrow('returned no decision');
    }
  });
});
