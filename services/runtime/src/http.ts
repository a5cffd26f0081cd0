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

/** A request body `express.json` could not take, told as the sender's mistake it is. */
export interface BodyFault {
  /** 400 (not JSON, or not read whole), 413 (over the limit) or 415 (charset, encoding). */
  readonly status: number;
  /** What was wrong, for the problem's `detail`. */
  readonly detail: string;
  /** The part of the request at fault; none for a body over the limit. */
  readonly errors: { field: string; message: string }[];
}

/** How a body that was not read whole went wrong, by the reader's error type. */
const UNREAD: Readonly<Record<string, string>> = {
  'request.aborted': 'the request ended before its body did',
  'request.size.invalid': 'its length is not the content-length the request declares',
};

/**
 * The fault of the sender in an error `express.json` passed on, or undefined for any other
 * error: a body that is not JSON (400), over the parser's limit (413, `tooLarge` its detail),
 * in a charset other than UTF-8/16/32 or a content encoding the parser cannot undo (415), or one
 * that does not decompress or was not received whole (400). Each of these used to reach the
 * services' unexpected-error answer as a 500.
 */
export function bodyFault(err: unknown, tooLarge: string): BodyFault | undefined {
  const e = err as {
    type?: unknown;
    status?: unknown;
    expose?: unknown;
    code?: unknown;
    charset?: unknown;
    encoding?: unknown;
  } | null;
  if (e === null || typeof e !== 'object') return undefined;
  switch (e.type) {
    case 'entity.parse.failed':
      return {
        status: 400,
        detail: 'the body is not valid JSON',
        errors: [{ field: '(body)', message: 'not valid JSON' }],
      };
    case 'entity.too.large':
      return { status: 413, detail: tooLarge, errors: [] };
    case 'charset.unsupported':
      return {
        status: 415,
        detail: `the body's charset ${String(e.charset)} is not one JSON is read in; send it as UTF-8`,
        errors: [{ field: 'header content-type', message: 'charset utf-8, or none' }],
      };
    case 'encoding.unsupported':
      return {
        status: 415,
        detail: `the content encoding ${String(e.encoding)} is not one the service undoes; send the body as it is, or gzip, deflate or br`,
        errors: [{ field: 'header content-encoding', message: 'gzip, deflate, br, or none' }],
      };
  }
  // Anything else the reader refused as the sender's (http-errors marks it `expose`, 4xx).
  if (e.expose !== true || typeof e.status !== 'number' || e.status < 400 || e.status > 499) {
    return undefined;
  }
  const why =
    typeof e.code === 'string' && e.code.startsWith('Z_')
      ? `it does not decompress (${e.code})`
      : (UNREAD[String(e.type)] ?? 'it could not be read');
  return {
    status: 400,
    detail: `the body was not taken: ${why}`,
    errors: [{ field: '(body)', message: why }],
  };
}
