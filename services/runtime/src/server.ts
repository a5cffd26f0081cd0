/**
 * The entry point of a service process: start it, stop it gracefully on SIGTERM/SIGINT, and
 * exit 1 with the error on stderr when it cannot start or cannot stop cleanly.
 */
import type { Server } from 'node:http';
import { constants } from 'node:os';

import { PlatformError } from '../../../platform/errors.js';
import { SHUTDOWN } from '../../../platform/shutdown.js';

/** What a service's `start()` gives `runServer`. */
export interface RunningService {
  /** The service's HTTP server: drained on the signal. */
  readonly server: Server;
  /** Other servers of the service (the monitor's events port), drained with it. */
  readonly otherServers?: readonly Server[];
  /**
   * Ends the rest of what the service runs (its timers, watches, a pass in flight, its event
   * queue), called once the servers have drained or the drain time is up. The servers are
   * closed by then: closing one again must be harmless (Node answers ERR_SERVER_NOT_RUNNING).
   */
  close?(): Promise<void>;
}

export interface RunServerOptions {
  /**
   * How long requests in flight are given to finish after the signal before their connections
   * are cut. @default {@link DRAIN_MS}
   */
  readonly drainMs?: number;
  /** How long the service's own `close()` is given before the process exits 1. @default {@link CLOSE_MS} */
  readonly closeMs?: number;
}

/** The drain time of `runServer` when none is given, in milliseconds (platform/shutdown.ts). */
export const DRAIN_MS = SHUTDOWN.drainMs;
/**
 * The time `close()` is given when none is given, in milliseconds: with the `preStop` pause and
 * {@link DRAIN_MS}, inside the grace period the manifests give a pod (platform/shutdown.ts).
 */
export const CLOSE_MS = SHUTDOWN.closeMs;

/** How often connections that have become idle are closed while draining. */
const IDLE_SWEEP_MS = 100;

/**
 * Runs `start()`; once it has started, the first SIGTERM or SIGINT stops it: its servers take no
 * new connection, requests in flight are given `drainMs` to finish (then cut; a kept-alive
 * connection is closed as soon as its request is answered), the service's own `close()` ends
 * the rest within `closeMs`, and the process exits 0 — or 1, with `<name> did not stop cleanly:
 * <reason>` on stderr, when `close()` fails or takes longer. A second signal ends the process at
 * once with 128 + the signal's number (as a shell reports it): a container's first process
 * would otherwise ignore it.
 *
 * When `start()` fails the process exits 1 after writing on stderr either a documented error
 * (`<code>: <message>` and `  fix: <fix>`) or `<name> failed to start: <stack>`.
 */
export function runServer(
  name: string,
  start: () => Promise<RunningService>,
  options: RunServerOptions = {},
): void {
  const main = async () => {
    const service = await start();
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(128 + constants.signals[signal]);
      stopping = true;
      stopService(service, options).then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`${name} did not stop cleanly: ${describe(err)}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  };
  main().catch((err: unknown) => {
    if (err instanceof PlatformError) {
      process.stderr.write(`${err.code}: ${err.message}\n  fix: ${err.fix}\n`);
    } else {
      process.stderr.write(`${name} failed to start: ${describe(err)}\n`);
    }
    process.exit(1);
  });
}

const describe = (err: unknown) =>
  err instanceof Error ? (err.stack ?? err.message) : String(err);

/** Drains the servers for at most `drainMs`, cuts what is left, then `close()` within `closeMs`. */
async function stopService(service: RunningService, options: RunServerOptions): Promise<void> {
  const servers = [service.server, ...(service.otherServers ?? [])];
  // close() refuses new connections and ends the idle ones; its callback runs once the last
  // connection has ended. A kept-alive connection whose request is answered during the drain
  // would wait for its keep-alive timeout: the sweep ends it once idle.
  const drained = Promise.all(
    servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
  );
  const sweep = setInterval(() => {
    for (const server of servers) server.closeIdleConnections();
  }, IDLE_SWEEP_MS);
  try {
    await within(drained, options.drainMs ?? DRAIN_MS);
  } finally {
    clearInterval(sweep);
  }
  for (const server of servers) server.closeAllConnections();
  await drained;
  if (!service.close) return;
  const closeMs = options.closeMs ?? CLOSE_MS;
  if (!(await within(service.close(), closeMs))) {
    throw new Error(`close() did not finish within ${closeMs} ms`);
  }
}

/** Resolves true once `work` has, or false after `ms`; rejects with `work`'s rejection. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true as const), timeUp]);
  } finally {
    clearTimeout(timer);
  }
}
