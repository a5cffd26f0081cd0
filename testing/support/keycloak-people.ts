/**
 * Test support: people with the roles a test needs, made through the real Keycloak's admin API,
 * and the real tokens they get. People are role-group members (`/tenants/<tenant>/<role>`, or the
 * platform admins' group), as the realm gives them roles; their tokens come from a confidential
 * test client of the realm that logs people in with their password (the console's scopes:
 * profile and email, so a token names its person) and whose role scope is the roles the test asks
 * for, like a tenant's scenario client's.
 */
import { randomBytes } from 'node:crypto';

import {
  PLATFORM_ADMINS_GROUP,
  machineClientId,
  tenantGroupPath,
} from '../../platform/identity.js';
import { randomPassword } from '../../platform/bootstrap-secrets.js';
import type { TenantRole } from '../../platform/roles.js';
import { scopedRole } from '../../platform/roles.js';
import { KeycloakAdmin } from '../../services/identity/src/realm-apply.js';
import { fetchToken } from '../../services/identity/src/tokens.js';
import type { KeycloakServer } from '../real/keycloak.js';

type Rep = Record<string, any>;

/** A person to make: a username, names, and roles per tenant or platform-admin. */
export interface PersonSpec {
  readonly username: string;
  readonly firstName?: string;
  readonly lastName?: string;
  /** No email: a token without one. @default `<username>@example.test` */
  readonly email?: string | null;
  readonly roles?: readonly (readonly [tenant: string, role: TenantRole])[];
  readonly platformAdmin?: boolean;
}

/** The realm's admin client of a test Keycloak, authenticated. */
export async function keycloakAdmin(kc: KeycloakServer, realm: string): Promise<KeycloakAdmin> {
  const admin = new KeycloakAdmin(
    { keycloakUrl: kc.url, username: kc.adminUser, password: kc.adminPassword },
    realm,
  );
  await admin.authenticate();
  return admin;
}

/**
 * Makes a person through the admin API, a member of the role groups of `roles` (and of the
 * platform admins with `platformAdmin`); returns the user's id.
 */
export async function createPerson(
  admin: KeycloakAdmin,
  realm: string,
  spec: PersonSpec,
  password: string,
): Promise<string> {
  const r = `/${encodeURIComponent(realm)}`;
  await admin.call('POST', `${r}/users`, {
    username: spec.username,
    enabled: true,
    ...(spec.email === null ? {} : { email: spec.email ?? `${spec.username}@example.test` }),
    emailVerified: true,
    firstName: spec.firstName ?? spec.username,
    lastName: spec.lastName ?? 'Test',
    credentials: [{ type: 'password', value: password, temporary: false }],
  });
  const [user] = (await admin.call<Rep[]>(
    'GET',
    `${r}/users?username=${encodeURIComponent(spec.username)}&exact=true`,
  ))!;
  const paths = [
    ...(spec.roles ?? []).map(([tenant, role]) => tenantGroupPath(tenant, role)),
    ...(spec.platformAdmin ? [`/${PLATFORM_ADMINS_GROUP}`] : []),
  ];
  for (const path of paths) {
    const group = await admin.findGroup(path);
    if (!group) throw new Error(`no group ${path} in realm ${realm}`);
    await admin.call('PUT', `${r}/users/${user!.id}/groups/${group.id}`);
  }
  return String(user!.id);
}

/** People of one test and their tokens. */
export interface People {
  /**
   * A fresh real token of a person made by {@link makePeople} (by the key it was given).
   * `password`: log in with this one instead of the person's (a wrong password fails).
   */
  token(who: string, password?: string): Promise<string>;
  /** The username Keycloak knows the person by (unique per run). */
  username(who: string): string;
  /** Removes the people and the test client. */
  remove(): Promise<void>;
}

/**
 * Makes `people` (keys are the test's names for them; usernames get a random suffix, the shared
 * Keycloak outlives one test file) and a test client whose role scope holds every role they have.
 */
export async function makePeople(
  kc: KeycloakServer,
  realm: string,
  people: Readonly<Record<string, Omit<PersonSpec, 'username'>>>,
): Promise<People> {
  const admin = await keycloakAdmin(kc, realm);
  const r = `/${encodeURIComponent(realm)}`;
  const suffix = randomBytes(3).toString('hex');
  const password = randomPassword();
  const tenants = [
    ...new Set(Object.values(people).flatMap((p) => (p.roles ?? []).map(([t]) => t))),
  ];
  // The API mappers (tenants, roles, audiences) of a tenant's scenario client.
  const template = (await admin.findClient(
    machineClientId(tenants[0] ?? 'manufracture', 'scenarios'),
  )) as Rep;
  const clientId = `people-test-${suffix}`;
  const secret = randomPassword();
  await admin.call('POST', `${r}/clients`, {
    clientId,
    name: clientId,
    enabled: true,
    protocol: 'openid-connect',
    publicClient: false,
    secret,
    standardFlowEnabled: false,
    directAccessGrantsEnabled: true,
    serviceAccountsEnabled: false,
    fullScopeAllowed: false,
    defaultClientScopes: ['basic', 'profile', 'email'],
    protocolMappers: ((template.protocolMappers ?? []) as Rep[]).map(({ id: _id, ...m }) => m),
  });
  const client = (await admin.findClient(clientId)) as Rep;
  const roleNames = new Set<string>();
  for (const p of Object.values(people)) {
    for (const [t, role] of p.roles ?? []) roleNames.add(scopedRole(t, role));
    if (p.platformAdmin) roleNames.add('platform-admin');
  }
  const roles: Rep[] = [];
  for (const name of roleNames)
    roles.push((await admin.call<Rep>('GET', `${r}/roles/${encodeURIComponent(name)}`))!);
  await admin.call('POST', `${r}/clients/${client.id}/scope-mappings/realm`, roles);

  const ids = new Map<string, string>();
  for (const [who, spec] of Object.entries(people))
    ids.set(
      who,
      await createPerson(admin, realm, { ...spec, username: `${who}-${suffix}` }, password),
    );

  /** The reasons of a person's last refused logins, from the realm's event log. */
  const loginErrors = async (userId: string): Promise<string> => {
    try {
      const events = await (
        await keycloakAdmin(kc, realm)
      ).call<{ error?: string; time?: number }[]>(
        'GET',
        `${r}/events?type=LOGIN_ERROR&user=${userId}&max=3`,
      );
      return `Keycloak's last login errors of the person: ${JSON.stringify((events ?? []).map((e) => e.error))}`;
    } catch (err) {
      return `Keycloak's login errors could not be read: ${(err as Error).message}`;
    }
  };

  return {
    username: (who) => `${who}-${suffix}`,
    async token(who, given) {
      if (!ids.has(who)) throw new Error(`no person ${who} was made`);
      try {
        const t = await fetchToken({
          keycloakUrl: kc.url,
          realm,
          clientId,
          clientSecret: secret,
          user: { username: `${who}-${suffix}`, password: given ?? password },
        });
        return t.accessToken;
      } catch (err) {
        // Keycloak answers every refused login alike; its event log says why.
        throw new Error(`${(err as Error).message} (${await loginErrors(ids.get(who)!)})`, {
          cause: err,
        });
      }
    },
    async remove() {
      const a = await keycloakAdmin(kc, realm);
      for (const id of ids.values()) await a.call('DELETE', `${r}/users/${id}`);
      await a.call('DELETE', `${r}/clients/${client.id}`);
    },
  };
}
