/**
 * Test support: calls to a running monitor's API (under /monitor) as a person of a tenant, with
 * a token signed by the test's own keys.
 */
import type { TokenRecipe } from './tokens.js';

/** Who calls, and with what. */
export interface MonitorCall {
  body?: unknown;
  /** The caller's role in `tokenTenant` (default tenant-admin). */
  role?: string;
  /** The `fiware-service` header (default: the tenant the helper was made for). */
  tenant?: string;
  /** The tenant the token names (default: `tenant`). */
  tokenTenant?: string;
}

/** A function calling the monitor's API; `sign` turns a token recipe into a token. */
export function monitorApi(sign: (recipe: TokenRecipe) => Promise<string>, defaultTenant: string) {
  return async (mon: { url: string }, method: string, path: string, o: MonitorCall = {}) => {
    const tenant = o.tenant ?? defaultTenant;
    const tokenTenant = o.tokenTenant ?? tenant;
    const token = await sign({
      claims: { tenants: [tokenTenant], roles: [`${tokenTenant}:${o.role ?? 'tenant-admin'}`] },
    });
    const res = await fetch(`${mon.url}/monitor${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'fiware-service': tenant,
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: text ? JSON.parse(text) : undefined,
    };
  };
}
