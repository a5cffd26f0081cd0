/**
 * Starting the console's server: its configuration from the environment and the platform
 * context, the assets of a build, one HTTP listener.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { loadPlatformContext } from '../../../platform/context.js';
import type { PlatformContext } from '../../../platform/context.js';
import { createConsoleApp } from './app.js';
import { CONSOLE_DIST } from './paths.js';
import { consoleConfig } from './config.js';
import type { ConsoleConfig } from './contract.js';
import { consoleError } from './errors.js';

/** The console's settings. */
export interface ConsoleSettings {
  /** @default 8080 (`CONSOLE_PORT`) */
  readonly port: number;
  /** @default 0.0.0.0 */
  readonly host?: string;
  /** The build's directory. @default services/console/dist (`CONSOLE_ASSETS`) */
  readonly assets: string;
  readonly config: ConsoleConfig;
}

/**
 * The settings from the environment: `CONSOLE_PORT`, `CONSOLE_ASSETS` and
 * `CONSOLE_PUBLIC_URL` (the base URL browsers reach the platform at; the platform config's by
 * default).
 */
export function loadSettings(
  env: NodeJS.ProcessEnv = process.env,
  ctx: PlatformContext = loadPlatformContext(),
): ConsoleSettings {
  const port = Number(env.CONSOLE_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw consoleError(
      'ERR_CONSOLE_CONFIG',
      `CONSOLE_PORT must be a port number, got ${env.CONSOLE_PORT}`,
    );
  const publicUrl = env.CONSOLE_PUBLIC_URL;
  if (publicUrl !== undefined && !/^https?:\/\/[^/]+$/.test(publicUrl))
    throw consoleError(
      'ERR_CONSOLE_CONFIG',
      `CONSOLE_PUBLIC_URL must be an http(s) origin without path, like https://kitt4sme.example, got ${publicUrl}`,
    );
  return {
    port,
    assets: env.CONSOLE_ASSETS ?? CONSOLE_DIST,
    config: consoleConfig(ctx, publicUrl ? { publicUrl } : {}),
  };
}

/** A running console server. */
export interface RunningConsole {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the console's server. */
export async function startConsole(settings: ConsoleSettings): Promise<RunningConsole> {
  const app = createConsoleApp({ config: settings.config, assets: settings.assets });
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host ?? '0.0.0.0', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
