/**
 * What the console's server tells the browser app (`GET /console/config.json`): the OIDC
 * issuer and client, and the API prefixes it calls with the user's token. Shared by the server
 * (services/console/src) and the browser app (services/console/web); it imports nothing, so
 * the browser bundle carries no server code.
 */

/** The path of the configuration document, under the console's prefix. */
export const CONFIG_FILE = 'config.json';

/** An API the console calls through the gateway. */
export interface ConsoleApi {
  /** The gateway prefix, e.g. `/fleet`. */
  readonly prefix: string;
  /**
   * The roles the route lets change things (a method beyond GET and HEAD). The console shows
   * actions only to them; the API decides anyway.
   */
  readonly writers: readonly string[];
}

/** The console's configuration, derived from the registry, the route table and the realm. */
export interface ConsoleConfig {
  /** The OIDC issuer of the platform realm, e.g. `https://kitt4sme.localhost/auth/realms/kitt4sme`. */
  readonly issuer: string;
  /** The realm's public client of the console. */
  readonly clientId: string;
  /** The console's own prefix, e.g. `/console`. */
  readonly path: string;
  /** The APIs the console calls; one the platform does not route is absent. */
  readonly apis: {
    readonly fleet?: ConsoleApi;
    readonly monitor?: ConsoleApi;
    readonly provisioning?: ConsoleApi;
    /** Orion's NGSI-v2 API (FIWARE route): the devices' entities, for their last values. */
    readonly orion?: ConsoleApi;
  };
  /** Grafana's prefix, for links to the tenants' dashboards. */
  readonly grafana?: string;
  /** Every tenant of the platform (a platform admin's token names none), and its dashboard. */
  readonly tenants: readonly ConsoleTenant[];
}

/** A tenant as the console shows it. */
export interface ConsoleTenant {
  readonly name: string;
  readonly displayName?: string;
  /** The uid of its Grafana measurements dashboard. */
  readonly dashboard: string;
}
