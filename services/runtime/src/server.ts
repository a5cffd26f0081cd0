/**
 * The entry point of a service process: start it, stop it gracefully on SIGTERM/SIGINT, and
 * exit 1 with the error on stderr when it cannot start or cannot stop cleanly.
 */
import type { Server } from 'node:http';

import { PlatformError } from '../../../platform/errors.js';

/** What a service's `start()` gives `runServer`. */
export interface RunningService {
  /** The service's HTTP server: drained on the signal. */
  readonly server: Server;
  /**
   * Ends the rest of what the service runs (its other servers, timers, watches, event queue),
   * called once the server has drained or the drain time is up.
   */
  close?(): Promise<void>;
}

export interface RunServerOptions {
  /**
   * How long requests in flight are given to finish after the signal before their connections
   * are cut. Well inside Kubernetes' default grace period (30 s) before its SIGKILL.
   * @default 10_000
   */
  readonly drainMs?: number;
}

/** The drain time of `runServer` when none is given, in milliseconds. */
export const DRAIN_MS = 10_000;

/**
 * Runs `start()`; once it has started, the first SIGTERM or SIGINT stops it: the server takes no
 * new connection, requests in flight are given `drainMs` to finish (then cut), the service's own
 * `close()` ends the rest (its other servers, a pass in flight, its event queue), and the process
 * exits 0 — or 1, with `<name> did not stop cleanly: <stack>` on stderr, when `close()` fails. A
 * second signal ends the process at once (the signal's default action).
 *
 * When `start()` fails the process exits 1 after writing on stderr either a documented error
 * (`<code>: <message>` and `  fix: <fix>`) or `<name> failed to start: <stack>`.
 */
export function runServer(
  name: string,
  start: () => Promise<RunningService>,
  options: RunServerOptions = {},
): void {
  const drainMs = options.drainMs ?? DRAIN_MS;
  const main = async () => {
    const service = await start();
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      stopService(service, drainMs).then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(
            `${name} did not stop cleanly: ${(err as Error).stack ?? String(err)}\n`,
          );
          process.exit(1);
        },
      );
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

/** Drains `service.server` for at most `drainMs`, cuts what is left, then `service.close()`. */
async function stopService(service: RunningService, drainMs: number): Promise<void> {
  const { server } = service;
  // close() refuses new connections and ends idle keep-alive ones; the callback runs once
  // the last connection has ended.
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)));
  await Promise.race([drained, timeUp]);
  clearTimeout(timer);
  server.closeAllConnections();
  await drained;
  await service.close?.();
}
