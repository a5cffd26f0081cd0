/**
 * An agent module's process: its environment and config read and checked, its token source,
 * its Orion client, its heartbeat, an HTTP server with GET /healthz, POST /announce (the
 * monitor's nudge: a heartbeat now, platform/fleet/identity.ts) and the module's own routes,
 * and a graceful stop on SIGTERM (the heartbeat loop ends, the server finishes what is in
 * flight, the process exits 0). A module is a config schema and a `start` function.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { DestinationStream, Logger } from 'pino';
import type { z } from 'zod';

import { EXIT, reportError } from '../../../platform/cli.js';
import { AGENT_ANNOUNCE_PATH } from '../../../platform/fleet/identity.js';
import type { Environment } from '../../../platform/env.js';
import { PlatformError } from '../../../platform/errors.js';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { loadAgentEnv, parseAgentConfig } from './env.js';
import type { AgentEnv } from './env.js';
import { ANNOUNCE_MIN_INTERVAL_MS, Heartbeat } from './heartbeat.js';
import type { HeartbeatStatus } from './heartbeat.js';
import { createAgentLogger } from './log.js';
import { NgsiClient } from './ngsi.js';
import { ClientCredentials } from './token.js';

/** What a module gets to work with. */
export interface AgentKit<C> {
  readonly env: AgentEnv;
  /** AGENT_CONFIG, checked against the module's schema. */
  readonly config: C;
  readonly log: Logger;
  /** Orion, as the agent's tenant, with the agent's token. */
  readonly ngsi: NgsiClient;
  readonly tokens: ClientCredentials;
  /** The module's routes go here (JSON bodies are parsed; a bad one is answered 400). */
  readonly app: express.Router;
  readonly clock: Clock;
  /** The URL the server listens on (set once it listens: use it in `start`'s async work). */
  readonly url: () => string;
}

/** A started module. */
export interface ModuleHandle {
  /** Ends the module's loops; called on SIGTERM before the server closes. */
  stop?(): Promise<void>;
  /** Added to /healthz under `module`. */
  health?(): Record<string, unknown>;
}

/** A module built on the kit. */
export interface AgentModule<S extends z.ZodType> {
  /** The module's name, on every log line, e.g. `anomaly-detector`. */
  readonly name: string;
  /** Its AGENT_CONFIG keys. */
  readonly config: S;
  /** Adds its routes to `kit.app` and starts its work; must not wait for the platform. */
  start(kit: AgentKit<z.output<S>>): ModuleHandle | Promise<ModuleHandle>;
}

/** A running agent. */
export interface RunningAgent {
  readonly url: string;
  readonly server: Server;
  readonly heartbeat: Heartbeat;
  readonly env: AgentEnv;
  /** Stops the heartbeat and the module, then closes the server. */
  close(): Promise<void>;
}

/** Options of {@link startAgent} (tests). */
export interface StartAgentOptions {
  /** @default process.env */
  readonly env?: Environment;
  /** @default the system clock */
  readonly clock?: Clock;
  /** In [0, 1), for the backoff's jitter. @default Math.random */
  readonly random?: () => number;
  /** Where logs go. @default stdout */
  readonly logDestination?: DestinationStream;
  /** Listen on this host. @default every interface */
  readonly host?: string;
}

/**
 * Starts `module`: reads the environment and config, listens, starts the heartbeat and the
 * module. Resolves once it listens; nothing here waits for Keycloak or Orion.
 *
 * @throws PlatformError ERR_AGENT_ENV or ERR_AGENT_CONFIG.
 */
export async function startAgent<S extends z.ZodType>(
  module: AgentModule<S>,
  opts: StartAgentOptions = {},
): Promise<RunningAgent> {
  const env = loadAgentEnv(opts.env ?? process.env);
  const config = parseAgentConfig(module.config, env.rawConfig);
  const clock = opts.clock ?? systemClock;
  const log = createAgentLogger(module.name, env.instance, env.logLevel, opts.logDestination);
  const tokens = new ClientCredentials({
    tokenUrl: env.tokenUrl,
    clientId: env.clientId,
    clientSecret: env.clientSecret,
    now: () => clock.now(),
  });
  const ngsi = new NgsiClient({
    baseUrl: env.orionUrl,
    service: env.fiwareService,
    token: () => tokens.token(),
    invalidateToken: () => tokens.invalidate(),
  });
  const heartbeat = new Heartbeat({
    identity: env,
    ngsi,
    clock,
    log,
    ...(opts.random ? { random: opts.random } : {}),
  });

  const app = express();
  app.disable('x-powered-by');
  const router = express.Router();
  let moduleHandle: ModuleHandle = {};
  // 200 even while the heartbeat fails: a liveness probe on /healthz must not restart a module
  // because Keycloak or Orion is away; the body says what fails, the monitor sees the silence.
  app.get('/healthz', (_req, res) => {
    const beat: HeartbeatStatus = heartbeat.status();
    res.json({
      status: beat.state === 'failing' ? 'degraded' : 'ok',
      instance: env.instance,
      revision: env.revision,
      heartbeat: beat,
      ...(moduleHandle.health ? { module: moduleHandle.health() } : {}),
    });
  });
  // The monitor's nudge: beat now. 202 once the beat went through, 503 with the failure when
  // it did not (so the monitor can log why the agent is silent), 429 when asked too often.
  app.post(AGENT_ANNOUNCE_PATH, (_req, res, next) => {
    heartbeat.announce().then((r) => {
      if (r.outcome === 'limited') {
        const seconds = Math.ceil(r.retryAfterMs / 1000);
        res
          .status(429)
          .set('retry-after', String(seconds))
          .json({
            error: 'TooManyRequests',
            description: `one announce per ${ANNOUNCE_MIN_INTERVAL_MS / 1000} s: retry after ${seconds} s`,
          });
      } else if (r.outcome === 'stopped') {
        res.status(503).json({ error: 'Stopping', description: 'the agent is shutting down' });
      } else if (r.ok) {
        res.status(202).json({ heartbeat: r.status });
      } else {
        const e = r.status.lastError;
        res.status(503).json({
          error: 'HeartbeatFailed',
          code: e?.code ?? 'unexpected',
          description: e?.message ?? 'the beat failed',
          heartbeat: r.status,
        });
      }
    }, next);
  });
  app.use(express.json({ limit: '1mb' }));
  app.use(router);
  app.use((req, res) => {
    res
      .status(404)
      .json({ error: 'NotFound', description: `no such endpoint: ${req.method} ${req.path}` });
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; type?: string; message?: string };
    if (e.status && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({
        error: 'BadRequest',
        description:
          e.type === 'entity.parse.failed'
            ? `the body is not JSON: ${e.message}`
            : String(e.message ?? 'bad request'),
      });
      return;
    }
    log.error({ err, path: req.path }, 'unexpected error');
    if (!res.headersSent)
      res.status(500).json({ error: 'InternalError', description: 'see the agent log' });
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(env.port, opts.host ?? '0.0.0.0', () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  heartbeat.start();
  try {
    moduleHandle = await module.start({
      env,
      config,
      log,
      ngsi,
      tokens,
      app: router,
      clock,
      url: () => url,
    });
  } catch (err) {
    await heartbeat.stop();
    await new Promise((r) => server.close(r));
    throw err;
  }
  log.info({ url, revision: env.revision, host: env.host }, `${module.name} started`);
  let closing: Promise<void> | undefined;
  return {
    url,
    server,
    heartbeat,
    env,
    close() {
      closing ??= (async () => {
        await heartbeat.stop();
        await moduleHandle.stop?.();
        server.closeIdleConnections();
        await new Promise((r) => server.close(r));
        log.info('stopped');
      })();
      return closing;
    },
  };
}

/**
 * The entry point of a module's image: starts it; on SIGTERM or SIGINT stops it and exits 0.
 * A bad environment or config exits EXIT.usage (2) with the error on stderr
 * (`<module>: <message>`, then the fix and the code); any other failure to start exits 1.
 */
export function runAgent<S extends z.ZodType>(module: AgentModule<S>): void {
  startAgent(module).then(
    (agent) => {
      const stop = () => void agent.close().then(() => process.exit(EXIT.ok));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    },
    (err: unknown) => {
      if (err instanceof PlatformError) {
        reportError(module.name, err, []);
        process.exit(
          err.code === 'ERR_AGENT_ENV' || err.code === 'ERR_AGENT_CONFIG'
            ? EXIT.usage
            : EXIT.failed,
        );
      }
      process.stderr.write(
        `${module.name} failed to start: ${(err as Error).stack ?? String(err)}\n`,
      );
      process.exit(EXIT.failed);
    },
  );
}
