/**
 * A token of a tenant's machine client (or of a user through it), with the credentials found
 * the way every CLI of the platform finds them: the environment first, else the cluster's
 * keycloak-realm Secret.
 */
import { MACHINE_CLIENTS, machineClientId, secretEnvName } from '../../../platform/identity.js';
import type { MachineKind } from '../../../platform/identity.js';
import type { PlatformContext } from '../../../platform/context.js';
import { KEYCLOAK_REALM_SECRET } from '../../../platform/secrets.js';
import { findSecret } from './credentials.js';
import type { TokenResult } from './tokens.js';
import { fetchToken } from './tokens.js';

/** Options of {@link tenantToken}. */
export interface TenantTokenOptions {
  readonly tenant: string;
  /** @default scenarios */
  readonly kind?: MachineKind;
  /** A user for the password grant (scenarios clients only). @default none: client credentials */
  readonly username?: string;
  /** @default $KITT4SME_KEYCLOAK_URL, else the ingress */
  readonly keycloakUrl?: string;
  /** @default the platform realm */
  readonly realm?: string;
  /** kubeconfig context for reading the Secret. @default the current one */
  readonly context?: string;
  /** Where secrets are looked up first. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Whether the generic KITT4SME_CLIENT_SECRET / KITT4SME_PASSWORD come before the per-client
   * names; off for callers that need several clients' tokens at once. @default true
   */
  readonly genericEnv?: boolean;
}

/** The token and where its credentials came from (never the credentials). */
export interface TenantToken {
  readonly token: TokenResult;
  readonly clientId: string;
  readonly keycloakUrl: string;
  readonly secretSource: string;
}

/** Fetches a token; throws TypeError for a user on a client without the password grant. */
export async function tenantToken(
  ctx: PlatformContext,
  o: TenantTokenOptions,
): Promise<TenantToken> {
  const kind = o.kind ?? 'scenarios';
  const clientId = machineClientId(o.tenant, kind);
  if (o.username && !MACHINE_CLIENTS[kind].passwordGrant) {
    throw new TypeError(`the ${kind} client has no password grant; use --kind scenarios`);
  }
  const env = o.env ?? process.env;
  const keycloakUrl = o.keycloakUrl ?? env.KITT4SME_KEYCLOAK_URL ?? `${ctx.publicUrl}/auth`;
  const namespace = ctx.namespace('identity');
  const cluster = { context: o.context };
  const generic = o.genericEnv ?? true;
  const lookup = (genericName: string, key: string) =>
    findSecret(
      generic ? [genericName, key] : [key],
      { namespace, name: KEYCLOAK_REALM_SECRET, key },
      cluster,
      env,
    );
  const secret = await lookup('KITT4SME_CLIENT_SECRET', secretEnvName('client', clientId));
  const password = o.username
    ? await lookup('KITT4SME_PASSWORD', secretEnvName('user', o.username))
    : undefined;
  const token = await fetchToken({
    keycloakUrl,
    realm: o.realm ?? ctx.config.identity.realm,
    clientId,
    clientSecret: secret.value,
    ...(o.username && password ? { user: { username: o.username, password: password.value } } : {}),
  });
  return { token, clientId, keycloakUrl, secretSource: secret.source };
}
