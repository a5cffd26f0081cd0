/**
 * Structured JSON logs (pino), as the other services write them; credentials are redacted
 * wherever they appear in a logged object (the push URL may carry one).
 */
import type { DestinationStream, Logger } from 'pino';

import { createServiceLogger } from '../../runtime/src/index.js';

/** Paths pino replaces with `[redacted]`. */
export const REDACTED_PATHS = ['authorization', '*.authorization', 'remote', '*.remote'];

/** The service logger. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return createServiceLogger('fleet', REDACTED_PATHS, level, destination);
}
