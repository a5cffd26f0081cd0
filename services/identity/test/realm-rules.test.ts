/**
 * The account rules the realm states (its password policy and brute-force protection, in
 * deploy/identity/keycloak.yaml), as the real Keycloak (the pinned keycloak-quarkus-dist,
 * shared by the run) enforces them on the realm synth generates.
 *
 * The realm file is generated from platform/identity.ts, and cdk8s/test/realm.test.ts compares
 * it with those same constants: a weaker number there changes the file and that test alike.
 * These tests state the numbers themselves: a password needs 12 characters, and 5 wrong
 * passwords in a row lock a person out.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import type { KeycloakServer } from '../../../testing/real/keycloak.js';
import { platformContext, sharedKeycloak } from '../../../testing/real/keycloak.js';
import type { People } from '../../../testing/support/keycloak-people.js';
import {
  createPerson,
  keycloakAdmin,
  makePeople,
} from '../../../testing/support/keycloak-people.js';
import type { KeycloakAdmin } from '../src/realm-apply.js';

const ctx = platformContext();
const REALM = ctx.config.identity.realm;
const [A] = ctx.config.tenants.map((t) => t.name) as [string];

let kc: KeycloakServer;
let admin: KeycloakAdmin;
const made: string[] = [];

beforeAll(async () => {
  kc = await sharedKeycloak();
  admin = await keycloakAdmin(kc, REALM);
}, 300_000);
afterAll(async () => {
  for (const id of made)
    await admin?.call('DELETE', `/${REALM}/users/${id}`, undefined, { allow404: true });
});

/** Makes a person with `password` through the admin API, as an admin would. */
async function personWith(password: string, username = `pw-${randomBytes(3).toString('hex')}`) {
  const id = await createPerson(admin, REALM, { username, roles: [[A, 'viewer']] }, password);
  made.push(id);
  return id;
}

/**
 * Upper bounds, in seconds and failures: docs/tenancy-and-identity.md promises 5-minute access
 * tokens and a lockout after every 5 failures of at most 15 minutes; the others are the
 * lifetimes the platform ships with (platform/identity.ts), as bounds a change may only lower.
 */
const AT_MOST = {
  accessTokenLifespan: 300,
  accessTokenLifespanForImplicitFlow: 300,
  accessCodeLifespan: 60,
  accessCodeLifespanLogin: 1800,
  accessCodeLifespanUserAction: 300,
  ssoSessionIdleTimeout: 1800,
  ssoSessionMaxLifespan: 36000,
  offlineSessionIdleTimeout: 604800,
  failureFactor: 5,
  maxFailureWaitSeconds: 900,
};

describe('the realm as Keycloak runs it', () => {
  it('keeps every lifetime within its bound, and locks out after at most 5 failures', async () => {
    const realm = (await admin.call<Record<string, unknown>>('GET', `/${REALM}`))!;
    const over = Object.entries(AT_MOST)
      .filter(([key, max]) => !(typeof realm[key] === 'number' && (realm[key] as number) <= max))
      .map(([key, max]) => `${key}: ${String(realm[key])} (at most ${max})`);
    expect(over).toEqual([]);
    expect(realm).toMatchObject({
      bruteForceProtected: true,
      permanentLockout: false,
      revokeRefreshToken: true,
      refreshTokenMaxReuse: 0,
      sslRequired: 'external',
      registrationAllowed: false,
    });
  });
});

describe('the password policy', () => {
  it('refuses a password of 11 characters and takes one of 12', async () => {
    await expect(personWith('Tr0ub4dor&3')).rejects.toThrow(/HTTP 400.*invalidPasswordMinLength/);
    await expect(personWith('Tr0ub4dor&3x')).resolves.toEqual(expect.any(String));
  });

  it('fails a password that is the username', async () => {
    const username = `same-${randomBytes(4).toString('hex')}`;
    await expect(personWith(username, username)).rejects.toThrow(
      /HTTP 400.*invalidPasswordNotUsername/,
    );
  });
});

describe('brute-force protection', () => {
  let people: People;
  beforeAll(async () => {
    people = await makePeople(kc, REALM, { guessed: { roles: [[A, 'viewer']] } });
  });
  afterAll(async () => {
    await people?.remove();
  });

  /** Wrong passwords, more than a second apart: Keycloak's quick-login check stays out of it. */
  async function fail(times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      await expect(
        people.token('guessed', `wrong-${i}-${randomBytes(6).toString('hex')}`),
      ).rejects.toThrow();
      await sleep(1100);
    }
  }

  it('lets a person in after 4 wrong passwords, and locks them out after 5, the right one included', async () => {
    await fail(4);
    await expect(people.token('guessed')).resolves.toEqual(expect.any(String));
    await fail(5);
    await expect(people.token('guessed')).rejects.toThrow(/invalid_grant/);
  }, 60_000);
});
