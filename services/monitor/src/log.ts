/**
 * Structured JSON logs (pino), as the provisioning service writes them; signing secrets and
 * credentials are redacted wherever they appear in a logged object.
 */
import type { DestinationStream, Logger } from 'pino';

import { createServiceLogger } from '../../runtime/src/index.js';

/** Paths pino replaces with `[redacted]`. */
export const REDACTED_PATHS = ['secret', '*.secret', 'authorization', '*.authorization'];

/** The service logger. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return createServiceLogger('monitor', REDACTED_PATHS, level, destination);
}
