/**
 * What every service's express app has besides its API: the probes and metrics Kubernetes and
 * Prometheus read, the API mounted under its prefix with a problem for any unknown endpoint,
 * and the answer to an error nobody expected.
 */
import type express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { Registry } from 'prom-client';

import { sendProblem } from '../../tenancy/src/index.js';

/**
 * The `route` label of a request that matched no route: one series for every unknown path,
 * so a scan of made-up paths cannot grow the metrics without bound.
 */
export const UNMATCHED_ROUTE = 'unmatched';

/** What {@link addProbes} serves from. */
export interface ProbeOptions {
  /** The service's metrics. */
  readonly registry: Registry;
  /** Readiness beyond having started. @default always ready */
  readonly ready?: () => boolean;
}

/**
 * GET /healthz (`{"status":"ok"}` while the process serves), GET /readyz (200 `ready`, or 503
 * `starting` while `ready()` is false) and GET /metrics (the registry, Prometheus text).
 */
export function addProbes(app: express.Express, opts: ProbeOptions): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = opts.ready?.() ?? true;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'starting' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(opts.registry.contentType).send(await opts.registry.metrics());
  });
}

/** How {@link mountApi} answers what the API does not serve. */
export interface MountOptions {
  /** The service's not-found failure with `message`. */
  readonly notFound: (message: string) => unknown;
  /** Answers `err` as the service's problem. */
  readonly sendFailure: (req: Request, res: Response, err: unknown) => void;
}

/**
 * Mounts `api` at `prefix` on `app`: a request to an endpoint neither serves, under the prefix or
 * outside it, is answered `notFound('no such endpoint: <METHOD> <path>')`, and every error the
 * API throws goes to `sendFailure`.
 */
export function mountApi(
  app: express.Express,
  prefix: string,
  api: express.Router,
  opts: MountOptions,
): void {
  api.use((req, _res, next) =>
    next(opts.notFound(`no such endpoint: ${req.method} ${req.originalUrl.split('?')[0]}`)),
  );
  api.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    opts.sendFailure(req, res, err);
  });
  app.use(prefix, api);
  app.use((req, res) => {
    opts.sendFailure(req, res, opts.notFound(`no such endpoint: ${req.method} ${req.path}`));
  });
}

/**
 * Answers an unexpected error as a 500 problem whose `detail` points at the log (never at the
 * error); a response already under way is cut instead.
 */
export function sendInternalError(req: Request, res: Response, detail: string): void {
  if (res.headersSent) return void res.destroy();
  sendProblem(res, {
    type: 'https://kitt4sme.eu/problems/internal',
    title: 'Internal Server Error',
    status: 500,
    detail,
    instance: req.originalUrl.split('?')[0],
  });
}
