/**
 * The entry point of a service process: start it, close it gracefully on SIGTERM/SIGINT, and
 * exit 1 with the error on stderr when it cannot start.
 */
import type { Server } from 'node:http';

import { PlatformError } from '../../../platform/errors.js';

/**
 * Runs `start()`; once it has started, SIGTERM or SIGINT closes its server (in-flight requests
 * finish) and exits 0. When `start()` fails the process exits 1 after writing on stderr either a
 * documented error (`<code>: <message>` and `  fix: <fix>`) or `<name> failed to start: <stack>`.
 */
export function runServer(name: string, start: () => Promise<{ readonly server: Server }>): void {
  const main = async () => {
    const service = await start();
    const stop = () => {
      // Let in-flight requests finish; Kubernetes sends SIGKILL after the grace period.
      service.server.close(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  };
  main().catch((err: unknown) => {
    if (err instanceof PlatformError) {
      process.stderr.write(`${err.code}: ${err.message}\n  fix: ${err.fix}\n`);
    } else {
      process.stderr.write(`${name} failed to start: ${(err as Error).stack ?? String(err)}\n`);
    }
    process.exit(1);
  });
}
