/**
 * A service's configuration from environment variables (twelve-factor): validated against the
 * service's own zod schema at start, so a wrong value stops the service with one message that
 * names every invalid variable.
 */
import type { z } from 'zod';

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
