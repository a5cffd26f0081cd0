/**
 * Declared exceptions to the project's workload rules.
 *
 * A container that cannot meet a rule (say, a read-only root filesystem) declares the
 * exception in its construct with a reason. The exception travels with the object as an
 * annotation, so a reviewer reads it in deploy/ next to what it excuses, and the validation
 * tests both honour it and list every exception the platform has.
 */

/**
 * The rules a container can be excused from: a read-only root filesystem, and the pod's
 * Kubernetes API token (`automountServiceAccountToken`), for the container that calls the API.
 */
export const EXCEPTION_RULES = ['readOnlyRootFilesystem', 'automountServiceAccountToken'] as const;
export type ExceptionRule = (typeof EXCEPTION_RULES)[number];

/** One declared exception. */
export interface PolicyException {
  /** The container it applies to. */
  readonly container: string;
  readonly rule: ExceptionRule;
  /** Why the rule cannot be met, and what limits the risk instead. */
  readonly reason: string;
}

/** The annotation that carries a workload's exceptions, as a JSON array. */
export const EXCEPTIONS_ANNOTATION = 'policy.kitt4sme.io/exceptions';

/** Serializes exceptions for {@link EXCEPTIONS_ANNOTATION}, in a stable order. */
export function encodeExceptions(exceptions: readonly PolicyException[]): string {
  const sorted = [...exceptions].sort(
    (a, b) => a.container.localeCompare(b.container) || a.rule.localeCompare(b.rule),
  );
  return JSON.stringify(sorted.map(({ container, rule, reason }) => ({ container, rule, reason })));
}

/** Reads the exceptions of a synthesized object; malformed annotations are an error. */
export function decodeExceptions(
  annotations: Record<string, string> | undefined,
): PolicyException[] {
  const raw = annotations?.[EXCEPTIONS_ANNOTATION];
  if (raw === undefined) return [];
  const parsed: unknown = JSON.parse(raw);
  if (!Array.isArray(parsed)) throw new TypeError(`${EXCEPTIONS_ANNOTATION} must be a JSON array`);
  return parsed.map((e: Record<string, unknown>) => {
    if (
      typeof e.container !== 'string' ||
      typeof e.reason !== 'string' ||
      e.reason.trim().length < 20 ||
      !EXCEPTION_RULES.includes(e.rule as ExceptionRule)
    ) {
      throw new TypeError(`malformed exception in ${EXCEPTIONS_ANNOTATION}: ${JSON.stringify(e)}`);
    }
    return { container: e.container, rule: e.rule as ExceptionRule, reason: e.reason };
  });
}
