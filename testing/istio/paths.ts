/**
 * Request paths as Istio's Envoy sees them: normalised the way istiod's meshConfig configures
 * it (`pathNormalization: DECODE_AND_MERGE_SLASHES`, cdk8s/lib/gitops/chart-values.ts), and
 * matched the way AuthorizationPolicy `paths` are.
 *
 * @see https://istio.io/latest/docs/reference/config/security/normalization/
 */

/** Percent-encoded unreserved characters, which Envoy's normalize_path decodes. */
const UNRESERVED_ESCAPE = /%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])/g;

/**
 * The path as Envoy forwards it with DECODE_AND_MERGE_SLASHES, in Envoy's order: decode `%2F`
 * and `%5C`, then `normalize_path` (decode percent-encoded unreserved characters, `\` to `/`,
 * RFC 3986 dot-segment removal), then merge slashes. Each step runs once: `%252F` stays
 * `%252F`. Undefined for a path Envoy refuses with 400 (`%00`, not starting with `/`, a
 * fragment).
 */
export function normalizePath(raw: string): string | undefined {
  if (!raw.startsWith('/') || raw.includes('#') || /%00/.test(raw)) return undefined;
  const unescaped = raw.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  const decoded = unescaped
    .replace(UNRESERVED_ESCAPE, (e) => String.fromCharCode(parseInt(e.slice(1), 16)))
    .replaceAll('\\', '/');
  return removeDotSegments(decoded).replace(/\/{2,}/g, '/');
}

/** RFC 3986 section 5.2.4 for an absolute path. */
function removeDotSegments(path: string): string {
  const segments = path.split('/').slice(1);
  const out: string[] = [];
  for (const [i, s] of segments.entries()) {
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (last) out.push('');
    } else out.push(s);
  }
  return `/${out.join('/')}`;
}

/**
 * Istio's string match of AuthorizationPolicy values (`paths`, `hosts`, `principals`, header
 * values): exact, `prefix*`, `*suffix`, or `*` (present).
 * @throws TypeError for a pattern this interpreter would not match as Istio does (templates such
 *   as `{*}`, or a `*` inside a value).
 */
export function istioMatches(pattern: string, value: string): boolean {
  if (pattern.includes('{') || pattern.slice(1, -1).includes('*'))
    throw new TypeError(
      `the Istio interpreter cannot match '${pattern}': it handles exact values, 'prefix*', '*suffix' and '*'`,
    );
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return value === pattern;
}

/** Whether any pattern matches. */
export function matchesAny(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => istioMatches(p, value));
}
