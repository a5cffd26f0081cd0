/**
 * Structured JSON logs (pino), as the provisioning service writes them; signing secrets and
 * credentials are redacted wherever they appear in a logged object.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

/** Paths pino replaces with `[redacted]`. */
export const REDACTED_PATHS = ['secret', '*.secret', 'authorization', '*.authorization'];

/** The service logger. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'monitor' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
