/** Errors of the console's server, documented in docs/errors.md. */
import { PlatformError } from '../../../platform/errors.js';

export const CONSOLE_ERRORS = {
  ERR_CONSOLE_NOT_BUILT: {
    problem: "the console's static assets are missing: its directory has no index.html",
    fix: 'run `npm run console:build` (or point CONSOLE_ASSETS at a build), then start the console again',
  },
  ERR_CONSOLE_CONFIG: {
    problem: "the console's server was started with an invalid environment variable",
    fix: 'set the variable the message names as docs/console.md (Configuration) says',
  },
} as const;
export type ConsoleErrorCode = keyof typeof CONSOLE_ERRORS;

/** A documented console error. */
export function consoleError(code: ConsoleErrorCode, message: string): PlatformError {
  return new PlatformError(code, message, CONSOLE_ERRORS[code].fix);
}
