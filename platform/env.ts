/**
 * A service's configuration from environment variables (twelve-factor): validated against the
 * service's own zod schema at start, so a wrong value stops the service with one message that
 * names every invalid variable.
 */
import { z } from 'zod';

/** The environment a service reads (`process.env` or a test's own). */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * `env` parsed by `schema`; when a variable is invalid, throws what `fail` makes of the message
 * `invalid environment:` followed by one line per variable, `<NAME>: missing` or
 * `<NAME>: <what the schema wants>`.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Environment,
  fail: (message: string) => Error,
): z.output<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (i) =>
        `${String(i.path[0])}: ${env[String(i.path[0])] === undefined ? 'missing' : i.message}`,
    );
    throw fail(`invalid environment:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

/**
 * A number in an environment variable, written as `pattern` (decimal, never what
 * `z.coerce.number()` also takes: an empty value as 0, `' 80 '` as 80, `'0x10'` as 16, `'1e3'`
 * as 1000) and `inRange`; anything else gets the one message `wanted`.
 */
function decimalEnv(pattern: RegExp, wanted: string, inRange: (n: number) => boolean) {
  return z
    .string()
    .regex(pattern, wanted)
    .pipe(z.transform(Number))
    .pipe(z.number().refine(inRange, wanted));
}

/**
 * A whole number from `min` to `max` in an environment variable, in decimal digits only (an
 * optional `-`).
 */
export function envInt(min: number, max: number, what = 'a whole number') {
  return decimalEnv(
    /^-?[0-9]+$/,
    `${what} from ${min} to ${max}, in decimal digits`,
    (n) => n >= min && n <= max,
  );
}

/**
 * A number from `min` to `max` in an environment variable, in decimal (digits, an optional
 * `-` and fraction: `0.25`). `above: true` makes `min` itself out of range.
 */
export function envNumber(min: number, max: number, what = 'a number', above = false) {
  return decimalEnv(
    /^-?[0-9]+(\.[0-9]+)?$/,
    above
      ? `${what} above ${min}, up to ${max}, in decimal`
      : `${what} from ${min} to ${max}, in decimal`,
    (n) => (above ? n > min : n >= min) && n <= max,
  );
}
