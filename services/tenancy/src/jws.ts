/**
 * What counts as a well-formed compact JWS, by the same rules as the policy (`_bearer` and
 * `_decode` in policies/kitt4sme/authz.rego): three segments of unpadded base64url, the first
 * two UTF-8 JSON objects without escaped surrogates (`\udxxx`).
 */

/** Three base64url segments, the last possibly empty. */
export const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

const BEARER = new RegExp(`^bearer (${COMPACT_JWS.source.slice(1, -1)})$`, 'i');

/** The compact JWS of an `Authorization: Bearer <jwt>` value, if it is one. */
export function bearerToken(authorization: unknown): string | undefined {
  return typeof authorization === 'string' ? BEARER.exec(authorization)?.[1] : undefined;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ESCAPED_SURROGATE = /\\u[dD]/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Whether the policy decodes a compact JWS's header and claims. */
export function jwsDecodes(jwt: string): boolean {
  const [header, claims] = jwt.split('.');
  return decodesToJsonObject(header ?? '') && decodesToJsonObject(claims ?? '');
}

/** Whether a JWS segment is what the policy decodes: a UTF-8 JSON object in base64url. */
function decodesToJsonObject(segment: string): boolean {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) return false;
  try {
    const text = STRICT_UTF8.decode(Buffer.from(segment, 'base64url'));
    if (ESCAPED_SURROGATE.test(text)) return false;
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
