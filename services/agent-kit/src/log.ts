/**
 * The agent's structured JSON logs (pino), in the services' format (services/runtime/src/log.ts):
 * ISO timestamps, the level by name, the module's name and its instance on every line, and its
 * client secret and tokens redacted wherever they appear in a logged object.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

const REDACT = [
  'clientSecret',
  '*.clientSecret',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  'token',
  '*.token',
];

/** A logger of module `name` (instance `instance`) at `level`. */
export function createAgentLogger(
  name: string,
  instance: string,
  level: string,
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service: name, instance },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
