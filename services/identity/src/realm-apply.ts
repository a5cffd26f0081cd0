/**
 * Applies the realm definition to a running Keycloak through its admin REST API: creates the
 * realm when it is missing, otherwise reconciles what the definition owns and leaves
 * everything else alone.
 *
 * Keycloak's `--import-realm` only creates missing realms, so this is how a changed realm
 * (a new tenant, a new client, other lifetimes) reaches a running platform. What it does to an
 * existing realm:
 * - realm settings (lifetimes, brute force, password policy, ...): set to the definition;
 * - realm roles: created when missing (existing ones kept);
 * - groups, subgroups included (a tenant's role groups): created when missing, under their
 *   parent and with their role mappings; existing ones get exactly the definition's tenant
 *   attribute and realm roles; memberships are kept;
 * - clients: created when missing, otherwise updated in place (same internal id, so sessions
 *   and the service account survive), protocol mappers and role scope made exactly the
 *   definition's;
 * - service accounts: exactly the definition's tenant groups and (scoped) realm roles;
 * - people (demo users): created when missing, never changed (passwords and groups are theirs).
 * Nothing is deleted: a client or group removed from the definition stays until an admin
 * removes it. Authentication flows (Kiali's admins-only login) are created with the realm; a
 * realm that lacks one is refused, never half-applied.
 */
import type { Rep } from '../../../platform/realm.js';
import { isDeepStrictEqual as same } from 'node:util';

import { PlatformError } from '../../../platform/errors.js';
import { RETIRED_ROLES } from '../../../platform/realm.js';
import { identityError } from './errors.js';
import { assertSafeKeycloakUrl, explain } from './tokens.js';

/** The admin account of the master realm (Keycloak's bootstrap admin). */
export interface AdminLogin {
  readonly keycloakUrl: string;
  readonly username: string;
  readonly password: string;
  readonly timeoutSeconds?: number;
}

/** What an apply did. */
export interface ApplyResult {
  readonly realm: string;
  readonly created: boolean;
  /** One line per change, e.g. `client smithereens-devices: created`; empty when in sync. */
  readonly changes: readonly string[];
}

/** Top-level keys of a realm representation that are not plain settings. */
const NOT_SETTINGS = new Set([
  'clients',
  'users',
  'groups',
  'roles',
  'scopeMappings',
  'realm',
  'authenticationFlows',
  'authenticatorConfig',
]);

/** Client fields compared and updated in place (the rest is Keycloak's own bookkeeping). */
const CLIENT_FIELDS_IGNORED = new Set([
  'protocolMappers',
  'secret',
  'id',
  // Sub-resources: the client endpoints ignore them on update (and on create).
  'defaultClientScopes',
  'optionalClientScopes',
]);

/** A logged-in client of Keycloak's admin REST API for one realm. */
export class KeycloakAdmin {
  private token = '';
  constructor(
    private readonly login: AdminLogin,
    private readonly realm: string,
  ) {}

  private get base(): string {
    return this.login.keycloakUrl.replace(/\/+$/, '');
  }

  async authenticate(): Promise<void> {
    assertSafeKeycloakUrl(this.login.keycloakUrl);
    const res = await this.fetch(`${this.base}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'admin-cli',
        username: this.login.username,
        password: this.login.password,
      }),
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, string>;
    if (res.status === 401 || res.status === 400)
      throw identityError(
        'ERR_CREDENTIALS_REJECTED',
        `Keycloak refused the admin login of "${this.login.username}" on the master realm: ${body.error ?? res.status}`,
      );
    if (!res.ok || !body.access_token)
      throw identityError(
        'ERR_KEYCLOAK_UNREACHABLE',
        `Keycloak answered the admin login with HTTP ${res.status}`,
      );
    this.token = body.access_token;
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, {
        ...init,
        signal: AbortSignal.timeout((this.login.timeoutSeconds ?? 15) * 1000),
      });
    } catch (err) {
      throw explain(
        err,
        { keycloakUrl: this.login.keycloakUrl, realm: this.realm },
        'the admin API',
      );
    }
  }

  /** Calls the admin API of the realm; `path` starts with `/` (or is empty). */
  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    opts: { allow404?: boolean } = {},
  ): Promise<T | undefined> {
    const url = `${this.base}/admin/realms${path}`;
    const res = await this.fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    if (res.status === 404 && opts.allow404) return undefined;
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw identityError(
        'ERR_REALM_APPLY',
        `${method} ${path || '/'} on realm admin API: HTTP ${res.status} ${text.slice(0, 300)}`,
      );
    }
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A client of the realm by its client id, or undefined. */
  async findClient(clientId: string): Promise<Rep | undefined> {
    const found = await this.call<Rep[]>(
      'GET',
      `/${encodeURIComponent(this.realm)}/clients?clientId=${encodeURIComponent(clientId)}&max=2`,
    );
    return found?.[0];
  }

  /** A group of the realm by its path (`/tenants/acme`), or undefined. */
  findGroup(path: string): Promise<Rep | undefined> {
    const segments = path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
    return this.call<Rep>(
      'GET',
      `/${encodeURIComponent(this.realm)}/group-by-path/${segments}`,
      undefined,
      { allow404: true },
    );
  }
}

/** Whether a mapper Keycloak has is the one wanted (Keycloak may add config keys of its own). */
function mapperMatches(have: Rep, want: Rep): boolean {
  if (have.name !== want.name || have.protocolMapper !== want.protocolMapper) return false;
  const hc = (have.config ?? {}) as Record<string, unknown>;
  return Object.entries((want.config ?? {}) as Record<string, unknown>).every(([k, v]) =>
    same(hc[k], v),
  );
}

/** Client fields that are sets: order does not matter. */
const SET_FIELDS = new Set([
  'defaultClientScopes',
  'optionalClientScopes',
  'redirectUris',
  'webOrigins',
]);

/**
 * Applies a resolved realm (no `${...}` placeholders left; see resolveRealm) to Keycloak.
 * @throws PlatformError ERR_KEYCLOAK_UNREACHABLE, ERR_CREDENTIALS_REJECTED or ERR_REALM_APPLY.
 */
export async function applyRealm(
  login: AdminLogin,
  realm: Rep,
  progress: (line: string) => void = () => {},
): Promise<ApplyResult> {
  const name = String(realm.realm);
  const admin = new KeycloakAdmin(login, name);
  await admin.authenticate();
  const r = `/${encodeURIComponent(name)}`;
  const changes: string[] = [];
  const note = (line: string) => {
    changes.push(line);
    progress(line);
  };

  const current = await admin.call<Rep>('GET', r, undefined, { allow404: true });
  if (!current) {
    progress(`realm ${name}: creating`);
    await admin.call('POST', '', realm);
    note(`realm ${name}: created`);
    return { realm: name, created: true, changes };
  }

  // Authentication flows come with the realm (import or creation) and are not rebuilt here;
  // a client must never be bound to a flow that is not there.
  const flowAliases = new Set(
    ((await admin.call<Rep[]>('GET', `${r}/authentication/flows`)) ?? []).map((f) =>
      String(f.alias),
    ),
  );
  for (const f of ((realm.authenticationFlows as Rep[] | undefined) ?? []).filter(
    (f) => f.topLevel,
  ))
    if (!flowAliases.has(String(f.alias)))
      throw new PlatformError(
        'ERR_REALM_APPLY',
        `realm ${name} lacks the authentication flow "${String(f.alias)}", which realm:apply does not build: nothing was changed`,
        'create the realm anew (export its users first), or build the flow in the admin console as platform/realm.ts defines it, then run realm:apply again',
      );

  // 1. Settings.
  const settings = Object.fromEntries(Object.entries(realm).filter(([k]) => !NOT_SETTINGS.has(k)));
  const changed = Object.keys(settings).filter((k) => !same(current[k], settings[k]));
  if (changed.length > 0) {
    await admin.call('PUT', r, settings);
    note(`realm ${name}: settings ${changed.sort().join(', ')}`);
  }

  // 2. Realm roles (partial import with SKIP creates only the missing ones), then groups.
  const imported = await admin.call<{
    results?: { action: string; resourceType: string; resourceName: string }[];
  }>('POST', `${r}/partialImport`, { ifResourceExists: 'SKIP', roles: realm.roles });
  for (const res of imported?.results ?? [])
    if (res.action === 'ADDED')
      note(`${res.resourceType.toLowerCase()} ${res.resourceName}: created`);
  const rolesByName = new Map(
    ((await admin.call<Rep[]>('GET', `${r}/roles`)) ?? []).map((x) => [String(x.name), x]),
  );
  /** Makes the realm roles at a role-mapping endpoint exactly `want` (among those `owned`). */
  const syncRoles = async (
    endpoint: string,
    want: Iterable<string>,
    label: string,
    owned: (role: string) => boolean = () => true,
  ): Promise<void> => {
    const wanted = new Set(want);
    const have = ((await admin.call<Rep[]>('GET', endpoint)) ?? [])
      .map((x) => String(x.name))
      .filter(owned);
    const add = [...wanted].filter((x) => !have.includes(x));
    const drop = have.filter((x) => !wanted.has(x));
    if (add.length > 0) {
      await admin.call(
        'POST',
        endpoint,
        add.map((x) => rolesByName.get(x)),
      );
      note(`${label} + ${add.join(', ')}`);
    }
    if (drop.length > 0) {
      await admin.call(
        'DELETE',
        endpoint,
        drop.map((x) => rolesByName.get(x)),
      );
      note(`${label} - ${drop.join(', ')}`);
    }
  };
  // Role mappings realm:apply makes exactly the definition's: of the definition's roles and the
  // retired bare tenant roles (never Keycloak's own, such as default-roles-<realm>).
  const ownedRoles = new Set([
    ...((realm.roles as { realm?: Rep[] } | undefined)?.realm ?? []).map((x) => String(x.name)),
    ...RETIRED_ROLES,
  ]);
  // Groups are trees: a partial import skips a whole tree when its root exists, so a new
  // tenant under /tenants, or a new role group under a tenant, is created here, one missing
  // group at a time, parents first.
  const ensureGroups = async (groups: Rep[], parentId?: string): Promise<void> => {
    for (const g of groups) {
      const path = String(g.path);
      let found = await admin.findGroup(path);
      if (!found) {
        await admin.call('POST', parentId ? `${r}/groups/${parentId}/children` : `${r}/groups`, {
          name: g.name,
          attributes: g.attributes ?? {},
        });
        found = (await admin.findGroup(path))!;
        const roles = ((g.realmRoles as string[] | undefined) ?? []).map((x) => rolesByName.get(x));
        if (roles.length > 0)
          await admin.call('POST', `${r}/groups/${String(found.id)}/role-mappings/realm`, roles);
        note(`group ${path}: created`);
      } else {
        // The tenant attribute is what puts a tenant into tokens: exactly the definition's.
        const attrs = (g.attributes as Record<string, string[]> | undefined) ?? {};
        const full = (await admin.call<Rep>('GET', `${r}/groups/${String(found.id)}`))!;
        if (!same(full.attributes ?? {}, attrs)) {
          await admin.call('PUT', `${r}/groups/${String(found.id)}`, {
            ...full,
            attributes: attrs,
          });
          note(`group ${path}: attributes`);
        }
        await syncRoles(
          `${r}/groups/${String(found.id)}/role-mappings/realm`,
          (g.realmRoles as string[] | undefined) ?? [],
          `group ${path}: roles`,
          (x) => ownedRoles.has(x),
        );
      }
      await ensureGroups((g.subGroups as Rep[] | undefined) ?? [], String(found.id));
    }
  };
  await ensureGroups((realm.groups as Rep[] | undefined) ?? []);

  // People: created when missing (with their groups and roles), never changed.
  const humans = ((realm.users as Rep[] | undefined) ?? []).filter(
    (u) => !u.serviceAccountClientId,
  );
  if (humans.length > 0) {
    const people = await admin.call<{
      results?: { action: string; resourceName: string }[];
    }>('POST', `${r}/partialImport`, { ifResourceExists: 'SKIP', users: humans });
    for (const res of people?.results ?? [])
      if (res.action === 'ADDED') note(`user ${res.resourceName}: created`);
  }

  // 3. Clients, in place.
  const scopeOf = new Map(
    ((realm.scopeMappings as { client: string; roles: string[] }[] | undefined) ?? []).map((s) => [
      s.client,
      s.roles,
    ]),
  );
  const clients = new ClientSync(admin, name, note);
  /** Internal ids of the definition's clients, by client id. */
  const clientIds = new Map<string, string>();
  for (const want of (realm.clients as Rep[] | undefined) ?? []) {
    const clientId = String(want.clientId);
    const id = await clients.sync(want, await admin.findClient(clientId));
    clientIds.set(clientId, id);
    // Role scope: exactly the definition's realm roles.
    await syncRoles(
      `${r}/clients/${id}/scope-mappings/realm`,
      scopeOf.get(clientId) ?? [],
      `client ${clientId}: role scope`,
    );
  }

  // 4. Service accounts: exactly their tenant groups and (scoped) realm roles.
  for (const sa of ((realm.users as Rep[] | undefined) ?? []).filter(
    (u) => u.serviceAccountClientId,
  )) {
    const clientId = String(sa.serviceAccountClientId);
    const user = (await admin.call<Rep>(
      'GET',
      `${r}/clients/${clientIds.get(clientId)}/service-account-user`,
    ))!;
    const uid = String(user.id);
    const wantGroups = new Set((sa.groups as string[] | undefined) ?? []);
    const haveGroups =
      (await admin.call<Rep[]>('GET', `${r}/users/${uid}/groups?briefRepresentation=true`)) ?? [];
    for (const path of wantGroups) {
      if (haveGroups.some((g) => g.path === path)) continue;
      const g = (await admin.findGroup(path))!;
      await admin.call('PUT', `${r}/users/${uid}/groups/${String(g.id)}`);
      note(`service account ${clientId}: group + ${path}`);
    }
    for (const g of haveGroups.filter((g) => !wantGroups.has(String(g.path)))) {
      await admin.call('DELETE', `${r}/users/${uid}/groups/${String(g.id)}`);
      note(`service account ${clientId}: group - ${String(g.path)}`);
    }
    await syncRoles(
      `${r}/users/${uid}/role-mappings/realm`,
      (sa.realmRoles as string[] | undefined) ?? [],
      `service account ${clientId}: roles`,
      (x) => ownedRoles.has(x),
    );
  }
  return { realm: name, created: false, changes };
}

/**
 * Makes clients exactly their definition, in place: fields, protocol mappers, default and
 * optional client scopes (role scope and service accounts are the caller's).
 */
export class ClientSync {
  private scopes: Rep[] | undefined;
  private readonly r: string;
  constructor(
    private readonly admin: KeycloakAdmin,
    realm: string,
    private readonly note: (line: string) => void,
  ) {
    this.r = `/${encodeURIComponent(realm)}`;
  }

  /**
   * Creates `want` when `have` (the client as found) is undefined, otherwise updates it.
   * @returns the client's internal id
   */
  async sync(want: Rep, have: Rep | undefined): Promise<string> {
    const { admin, r, note } = this;
    const clientId = String(want.clientId);
    let id: string;
    if (!have) {
      await admin.call('POST', `${r}/clients`, want);
      id = String((await admin.findClient(clientId))!.id);
      note(`client ${clientId}: created`);
    } else {
      id = String(have.id);
      const fields = Object.keys(want).filter(
        (k) =>
          !CLIENT_FIELDS_IGNORED.has(k) &&
          !same(have[k], want[k]) &&
          !sameAsKept(k, have[k], want[k]),
      );
      const secret =
        want.secret === undefined
          ? undefined
          : await admin.call<Rep>('GET', `${r}/clients/${id}/client-secret`);
      const secretChanged = secret !== undefined && secret.value !== want.secret;
      if (fields.length > 0 || secretChanged) {
        const { protocolMappers: _m, ...rest } = want;
        await admin.call('PUT', `${r}/clients/${id}`, { ...rest, id });
        note(
          `client ${clientId}: ${[...fields, ...(secretChanged ? ['secret'] : [])].sort().join(', ')}`,
        );
      }
      // Protocol mappers: exactly the definition's.
      const haveMappers =
        (await admin.call<Rep[]>('GET', `${r}/clients/${id}/protocol-mappers/models`)) ?? [];
      const wantMappers = (want.protocolMappers as Rep[] | undefined) ?? [];
      for (const m of haveMappers.filter((h) => !wantMappers.some((w) => mapperMatches(h, w)))) {
        await admin.call('DELETE', `${r}/clients/${id}/protocol-mappers/models/${String(m.id)}`);
        note(`client ${clientId}: mapper ${String(m.name)} removed`);
      }
      const kept = haveMappers.filter((h) => wantMappers.some((w) => mapperMatches(h, w)));
      for (const m of wantMappers.filter((w) => !kept.some((h) => mapperMatches(h, w)))) {
        await admin.call('POST', `${r}/clients/${id}/protocol-mappers/models`, m);
        note(`client ${clientId}: mapper ${String(m.name)} set`);
      }
    }
    // Client scopes: exactly the definition's, default and optional. Keycloak gives a new
    // client the realm's default scopes (profile, email, roles, ...) whatever it was sent.
    for (const kind of ['default', 'optional'] as const) {
      const wanted = new Set(
        (want[kind === 'default' ? 'defaultClientScopes' : 'optionalClientScopes'] as
          string[] | undefined) ?? [],
      );
      const path = `${r}/clients/${id}/${kind}-client-scopes`;
      const haveScopes = (await admin.call<Rep[]>('GET', path)) ?? [];
      for (const sc of haveScopes.filter((x) => !wanted.has(String(x.name)))) {
        await admin.call('DELETE', `${path}/${String(sc.id)}`);
        note(`client ${clientId}: ${kind} scope - ${String(sc.name)}`);
      }
      for (const name of [...wanted].filter((n) => !haveScopes.some((x) => x.name === n))) {
        const sc = (this.scopes ??=
          (await admin.call<Rep[]>('GET', `${r}/client-scopes`)) ?? []).find(
          (x) => x.name === name,
        );
        if (!sc)
          throw identityError(
            'ERR_REALM_APPLY',
            `client ${clientId} wants client scope "${name}", which the realm lacks`,
          );
        await admin.call('PUT', `${path}/${String(sc.id)}`);
        note(`client ${clientId}: ${kind} scope + ${name}`);
      }
    }
    return id;
  }
}

/**
 * Whether a client field already has the wanted value where Keycloak's own additions or
 * ordering differ: attributes Keycloak adds, and set-like lists.
 */
function sameAsKept(key: string, have: unknown, want: unknown): boolean {
  if (SET_FIELDS.has(key) && Array.isArray(have) && Array.isArray(want))
    return same([...have].sort(), [...want].sort());
  if (key !== 'attributes' || !have || !want || typeof have !== 'object') return false;
  return Object.entries(want as Record<string, unknown>).every(([k, v]) =>
    same((have as Record<string, unknown>)[k], v),
  );
}
