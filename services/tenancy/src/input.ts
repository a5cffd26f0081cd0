/**
 * The policy input for an HTTP request: the shape the OPA-Envoy plugin hands OPA, so the
 * same policy decides in the gateway and in-process.
 */
import type { IncomingMessage } from 'node:http';

/**
 * Header names lower-cased; repeated headers joined with "," as Envoy does (Node itself drops
 * repeated Authorization headers, which would hide the attack).
 */
export function headersOf(req: Pick<IncomingMessage, 'rawHeaders'>): Record<string, string> {
  // No prototype: a header called "constructor" or "__proto__" is just a header.
  const out = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    out[name] = Object.hasOwn(out, name) ? `${out[name]},${value}` : value;
  }
  return out;
}

/** The CheckRequest-shaped input of a request. `path` includes the query string. */
export function policyInput(
  method: string,
  path: string,
  headers: Readonly<Record<string, string>>,
): Record<string, unknown> {
  return {
    attributes: {
      request: {
        http: {
          method,
          path,
          host: headers.host ?? '',
          headers: {
            ...headers,
            ':method': method,
            ':path': path,
            ':authority': headers.host ?? '',
          },
        },
      },
    },
  };
}
