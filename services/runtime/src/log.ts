/**
 * The structured JSON logs (pino) every service writes: ISO timestamps, the level by name, the
 * service's name on every line, and its secrets redacted wherever they appear in a logged object.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

/** A logger of `service` at `level` that writes `[redacted]` for each of `redactPaths`. */
export function createServiceLogger(
  service: string,
  redactPaths: readonly string[],
  level: string,
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service },
      redact: { paths: [...redactPaths], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
