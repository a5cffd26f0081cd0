/**
 * Structured JSON logs (pino). API keys and credentials are redacted wherever they appear in a
 * logged object; request bodies and query strings are never logged.
 */
import type { DestinationStream, Logger } from 'pino';

import { createServiceLogger } from '../../runtime/src/index.js';

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
  return createServiceLogger('provisioning', REDACTED_PATHS, level, destination);
}
