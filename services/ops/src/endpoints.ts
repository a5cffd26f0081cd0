/**
 * `platform endpoints`: where the platform's consoles are and how to log in, derived from the
 * route table (the `sso` routes) and the platform config.
 */
import { PLATFORM_ADMINS_GROUP, demoUsers, secretEnvName } from '../../../platform/identity.js';
import type { RouteSpec } from '../../../platform/routes.js';
import type { ServiceId } from '../../../platform/components.js';
import { SERVICES } from '../../../platform/components.js';
import type { PlatformContext } from '../../../platform/context.js';
import { INGRESS_GATEWAY_RELEASE } from '../../../platform/mesh.js';
import { BOOTSTRAP_SECRETS, KEYCLOAK_REALM_SECRET } from '../../../platform/secrets.js';

/** The consoles `platform open` knows, by the name users type. */
export const CONSOLES = {
  grafana: 'grafana',
  console: 'console',
  kiali: 'kiali',
  argocd: 'argocdServer',
  keycloak: 'keycloak',
} as const satisfies Record<string, ServiceId>;
export type ConsoleName = keyof typeof CONSOLES;

/** One console. */
export interface Endpoint {
  readonly name: ConsoleName;
  /** Through the ingress. */
  readonly url: string;
  /** Path the backend serves under (the same behind a port-forward). */
  readonly path: string;
  readonly namespace: string;
  readonly service: string;
  readonly port: number;
  readonly login: string;
}

/** Everything `endpoints` prints. */
export interface Endpoints {
  readonly ingress: string;
  readonly consoles: readonly Endpoint[];
  readonly tenantUsers: readonly string[];
}

function secretCommand(namespace: string, name: string, key: string): string {
  return `kubectl -n ${namespace} get secret ${name} -o jsonpath='{.data.${key.replaceAll('.', '\\.')}}' | base64 -d`;
}

/** The endpoints of the platform. */
export function platformEndpoints(ctx: PlatformContext, routes: readonly RouteSpec[]): Endpoints {
  const identityNs = ctx.namespace('identity');
  const adminPassword = secretCommand(
    identityNs,
    KEYCLOAK_REALM_SECRET,
    secretEnvName('user', 'platform-admin'),
  );
  const sso = ctx.config.identity.demoUsers
    ? `Keycloak single sign-on: platform-admin (group ${PLATFORM_ADMINS_GROUP}); password: ${adminPassword}`
    : `Keycloak single sign-on: a member of the group ${PLATFORM_ADMINS_GROUP}`;
  const kcAdmin = BOOTSTRAP_SECRETS.keycloakAdmin;
  const breakGlass = `admin, password: ${secretCommand('argocd', 'argocd-initial-admin-secret', 'password')}`;
  // On a laptop (minikube) pods cannot resolve the public issuer, which Kiali's and Argo CD's
  // OpenID discovery needs (README, Known gaps): their Keycloak sign-in is not offered there.
  const laptop = ctx.config.profile === 'laptop';
  const noSso =
    'Keycloak sign-in does not work on minikube yet (its pods cannot resolve the public issuer; README, Known gaps)';
  const login: Record<ConsoleName, string> = {
    grafana: `${sso}; tenant people: their tenants' organisations (tenant-admin Editor, operator and viewer Viewer)`,
    // Signed in by the browser itself (services/console), so it works on minikube too; Keycloak
    // sends the browser back to the ingress, not to a port-forward.
    console: `${sso}, or a tenant's demo user; through the ingress (after sign-in Keycloak returns to it, not to a port-forward)`,
    kiali: laptop ? `${noSso}; there is no other sign-in` : `${sso} (view-only)`,
    argocd: laptop ? `${noSso}; break-glass: ${breakGlass}` : `${sso}; break-glass: ${breakGlass}`,
    keycloak: `account console of realm ${ctx.config.identity.realm} at ${ctx.realmPath}/account/; the ingress blocks the admin console, and Keycloak sends its admin URLs to the public host, so administer the realm through its API instead: \`npm run platform -- open keycloak\`, then \`npm run realm:apply -- --keycloak-url <the URL it prints>\` (user admin, password: ${secretCommand(ctx.namespace(kcAdmin.namespace), kcAdmin.name, 'password')})`,
  };
  const consoles = (Object.entries(CONSOLES) as [ConsoleName, ServiceId][]).map(([name, id]) => {
    const route = routes.find((r) => r.backend.service === id);
    if (!route) throw new TypeError(`no route reaches the ${id} service`);
    const svc = SERVICES[id];
    const port = (svc.ports as Record<string, { port: number }>)[route.backend.port as string]!;
    return {
      name,
      url: `${ctx.publicUrl}${route.prefix}/`,
      path: route.stripPrefix ? '/' : `${route.prefix}/`,
      namespace: ctx.componentNamespace(id),
      service: svc.name,
      port: port.port,
      login: login[name],
    };
  });
  return {
    ingress: ctx.publicUrl,
    consoles,
    tenantUsers: ctx.config.identity.demoUsers
      ? demoUsers(ctx.config.tenants)
          .filter((u) => u.tenants.length > 0)
          .map((u) => u.username)
      : [],
  };
}

/** The endpoints for people. */
export function renderEndpoints(e: Endpoints, ctx: PlatformContext): string {
  const laptop = ctx.config.profile === 'laptop';
  return [
    `ingress   ${e.ingress}  (FIWARE APIs under ${ctx.routes
      .filter((r) => r.access === 'tenant')
      .map((r) => r.prefix)
      .join(', ')})`,
    ...(laptop
      ? [
          `          on minikube, reach it first with: sudo -E kubectl port-forward --address 127.0.0.1 -n ${ctx.namespace('mesh')} svc/${INGRESS_GATEWAY_RELEASE} 443:443 80:80`,
        ]
      : []),
    ...e.consoles.flatMap((c) => [`${c.name.padEnd(9)} ${c.url}`, `          login: ${c.login}`]),
    ...(e.tenantUsers.length
      ? [
          `tenants   demo users ${e.tenantUsers.join(', ')}; password of <user>: ${secretCommand(ctx.namespace('identity'), KEYCLOAK_REALM_SECRET, 'KITT4SME_PASSWORD_<USER>')} (user name upper-cased, - as _)`,
        ]
      : []),
    `tokens    npm run -s platform -- token --tenant ${ctx.config.tenants[0]!.name}`,
    '',
  ].join('\n');
}
