/**
 * The console's configuration document, derived from the platform context: the issuer and the
 * console client of the realm (platform/realm.ts), and from the route table the prefixes and
 * write rights of the APIs the console calls.
 */
import { CONSOLE_CLIENT } from '../../../platform/identity.js';
import type { PlatformContext } from '../../../platform/context.js';
import { dashboardUid } from '../../../platform/grafana.js';
import { CONSOLE_PATH } from '../../../platform/realm.js';
import { READ } from '../../../platform/roles.js';
import type { RouteSpec } from '../../../platform/routes.js';
import type { ConsoleApi, ConsoleConfig } from './contract.js';

/** Options of {@link consoleConfig}. */
export interface ConsoleConfigOptions {
  /**
   * The public base URL the browser reaches the platform at (the issuer is under it).
   * @default the platform config's (`ctx.publicUrl`)
   */
  readonly publicUrl?: string;
}

/** The services the console calls, by the name it knows them by. */
const APIS = ['fleet', 'monitor', 'provisioning', 'orion'] as const;

/** The console's configuration for a platform. */
export function consoleConfig(
  ctx: PlatformContext,
  opts: ConsoleConfigOptions = {},
): ConsoleConfig {
  const publicUrl = (opts.publicUrl ?? ctx.publicUrl).replace(/\/+$/, '');
  const apis: Record<string, ConsoleApi> = {};
  for (const id of APIS) {
    const route = routeOf(ctx.routes, id);
    if (route) apis[id] = { prefix: route.prefix, writers: writers(route) };
  }
  const grafana = routeOf(ctx.routes, 'grafana');
  return {
    issuer: `${publicUrl}${ctx.realmPath}`,
    clientId: CONSOLE_CLIENT,
    path: CONSOLE_PATH,
    apis,
    ...(grafana ? { grafana: grafana.prefix } : {}),
    tenants: ctx.config.tenants.map((t) => ({
      name: t.name,
      ...(t.displayName ? { displayName: t.displayName } : {}),
      dashboard: dashboardUid(t.name),
    })),
  };
}

/** The route of a service, when the platform routes it (the monitor's may be absent). */
function routeOf(routes: readonly RouteSpec[], service: string): RouteSpec | undefined {
  return routes.find((r) => (r.backend.service as string) === service);
}

/** The roles that may use a method beyond the reads on a route. */
function writers(route: RouteSpec): string[] {
  return Object.entries(route.rights)
    .filter(([, methods]) => (methods ?? []).some((m) => !READ.includes(m)))
    .map(([role]) => role);
}
