/**
 * Test support: HTTP calls to a FIWARE API (Orion, QuantumLeap, their fakes) with the tenant
 * headers, as the fakes' contract tests make them.
 */

/** A call's tenant, body and extra headers. */
export interface FiwareCallOptions {
  /** `Fiware-Service`. */
  service?: string;
  /** `Fiware-ServicePath`. */
  servicePath?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is, instead of `body` as JSON. */
  raw?: string;
  /** Extra headers; a `content-type` here replaces the JSON one. */
  headers?: Record<string, string>;
}

/**
 * A function calling `base() + path`: a body goes as `application/json` unless the headers
 * name another type, and the answer's body is parsed as JSON, or kept as text when it is not.
 * `base` is read at each call, so it can name a server a `beforeAll` starts.
 */
export function fiwareCaller(base: () => string) {
  return async (method: string, path: string, o: FiwareCallOptions = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.service !== undefined) headers['fiware-service'] = o.service;
    if (o.servicePath !== undefined) headers['fiware-servicepath'] = o.servicePath;
    const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    if (body !== undefined && !('content-type' in headers))
      headers['content-type'] = 'application/json';
    const res = await fetch(`${base()}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
}
