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
 * A whole number from `min` to `max` in an environment variable, written in decimal digits
 * only (an optional `-`). Not `z.coerce.number()`, which reads an empty value as 0 (port 0: a
 * random port), `' 80 '` as 80, `'0x10'` as 16 and `'1e3'` as 1000. Any other text, and a
 * number out of range, get one message that says what is wanted.
 */
export function envInt(min: number, max: number, what = 'a whole number') {
  const wanted = `${what} from ${min} to ${max}, in decimal digits`;
  return z
    .string()
    .regex(/^-?[0-9]+$/, wanted)
    .pipe(z.transform(Number))
    .pipe(z.number().min(min, wanted).max(max, wanted));
}

/**
 * A number from `min` to `max` in an environment variable, in decimal (digits, an optional
 * `-` and fraction: `0.25`), for the same reasons as {@link envInt}. `above: true` makes `min`
 * itself out of range.
 */
export function envNumber(min: number, max: number, what = 'a number', above = false) {
  const wanted = `${what} ${above ? 'above' : 'from'} ${min}${above ? ', up' : ''} to ${max}, in decimal`;
  return z
    .string()
    .regex(/^-?[0-9]+(\.[0-9]+)?$/, wanted)
    .pipe(z.transform(Number))
    .pipe(z.number().refine((n) => (above ? n > min : n >= min) && n <= max, wanted));
}
