/**
 * Sets rotated values in a running realm through Keycloak's admin API: a confidential
 * client's secret, a person's password. realm:apply never changes a password (people own
 * theirs) and is the tool for everything else; this is the targeted step of
 * `npm run bootstrap:secrets -- --rotate`, which has already written the new values to the
 * keycloak-realm Secret.
 */
import type { Rep } from '../../../platform/realm.js';
import type { AdminLogin } from './realm-apply.js';
import { KeycloakAdmin } from './realm-apply.js';
import { identityError } from './errors.js';

/** One value to set. */
export interface RealmValue {
  readonly kind: 'client-secret' | 'user-password';
  /** The client id or the username. */
  readonly id: string;
  readonly value: string;
}

/** What happened to one value: set, or the realm has no such client or user (yet). */
export interface RealmValueOutcome {
  readonly kind: RealmValue['kind'];
  readonly id: string;
  readonly outcome: 'set' | 'absent';
}

/**
 * Sets each value in `realm`, in order, and checks that Keycloak holds it. A client or user
 * the realm lacks is reported `absent` (realm:apply creates it later, from the Secret).
 * @param done called after each value, so a caller can say how far it got should a later one fail
 * @throws PlatformError ERR_KEYCLOAK_UNREACHABLE, ERR_CREDENTIALS_REJECTED (the admin login) or
 *   ERR_REALM_APPLY (Keycloak refused a value, or did not keep it).
 */
export async function setRealmValues(
  login: AdminLogin,
  realm: string,
  values: readonly RealmValue[],
  done: (outcome: RealmValueOutcome) => void = () => {},
): Promise<RealmValueOutcome[]> {
  const admin = new KeycloakAdmin(login, realm);
  await admin.authenticate();
  const r = `/${encodeURIComponent(realm)}`;
  const outcomes: RealmValueOutcome[] = [];
  for (const v of values) {
    let outcome: RealmValueOutcome['outcome'] = 'set';
    if (v.kind === 'client-secret') {
      const found = await admin.findClient(v.id);
      if (!found) outcome = 'absent';
      else {
        const path = `${r}/clients/${String(found.id)}`;
        // The client as it is, with another secret: an update in place (same id, sessions
        // and service account). NOTE (1)
        const { serviceAccountsEnabled: _sa, ...client } = (await admin.call<Rep>('GET', path))!;
        await admin.call('PUT', path, { ...client, secret: v.value });
        const kept = await admin.call<Rep>('GET', `${path}/client-secret`);
        if (kept?.value !== v.value)
          throw identityError(
            'ERR_REALM_APPLY',
            `Keycloak did not keep the new secret of client ${v.id} in realm ${realm}`,
          );
      }
    } else {
      const users = await admin.call<Rep[]>(
        'GET',
        `${r}/users?username=${encodeURIComponent(v.id)}&exact=true`,
      );
      const user = users?.[0];
      if (!user) outcome = 'absent';
      else
        await admin.call('PUT', `${r}/users/${String(user.id)}/reset-password`, {
          type: 'password',
          value: v.value,
          temporary: false,
        });
    }
    const o = { kind: v.kind, id: v.id, outcome };
    outcomes.push(o);
    done(o);
  }
  return outcomes;
}

// NOTE
// 1. What a client update touches. Keycloak updates the fields a representation has, and some
//    it lacks: sent only `{clientId, secret}`, it filled webOrigins from the redirect URIs
//    (grafana got ["https://kitt4sme.localhost"] instead of []); sent whole, with
//    serviceAccountsEnabled: true, it gave a client with a service account the
//    `service_account` default client scope, which the realm does not give (realm:apply then
//    reported "default scope - service_account"). So the whole client goes back, without
//    serviceAccountsEnabled, and the tests check that realm:apply finds nothing to change
//    afterwards. Seen with keycloak-quarkus-dist 26.7.3.
