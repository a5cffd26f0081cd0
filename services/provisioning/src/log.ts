/**
 * Structured JSON logs (pino). API keys and credentials are redacted wherever they appear in a
 * logged object; request bodies and query strings are never logged.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

/** Paths pino replaces with `[redacted]`. */
export const REDACTED_PATHS = [
  'apikey',
  '*.apikey',
  '*.*.apikey',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
];

/** The service logger. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'provisioning' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
