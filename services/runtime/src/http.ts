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

/** A request express could not take (its path or its body), told as the sender's mistake. */
export interface RequestFault {
  /** 400 (a path or body that does not decode), 413 (over the limit) or 415 (charset, encoding). */
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

/** Codes of Node's zlib errors (gzip, deflate: `Z_…`; brotli: `ERR_BROTLI…`, `ERR__ERROR…`). */
const DECOMPRESSION = /^(Z_|ERR_BROTLI|ERR__ERROR)/;

/**
 * The fault of the sender in an error express passed on, or undefined for any other error: a
 * path parameter whose %-escapes are not UTF-8 (400); a body that is not JSON (400), over the
 * parser's limit (413, `tooLarge` its detail), in a charset the JSON reader does not take or a
 * content encoding it cannot undo (415), or that does not decompress or was not received whole
 * (400). Each of these used to reach the services' unexpected-error answer as a 500.
 */
export function requestFault(err: unknown, tooLarge: string): RequestFault | undefined {
  const e = err as {
    type?: unknown;
    status?: unknown;
    expose?: unknown;
    code?: unknown;
    charset?: unknown;
    encoding?: unknown;
  } | null;
  if (e === null || typeof e !== 'object') return undefined;
  // The router's decoding of a path parameter (status 400 on a URIError).
  if (err instanceof URIError && e.status === 400) {
    return {
      status: 400,
      detail: `the path does not decode: ${err.message} (a %-escape must encode UTF-8)`,
      errors: [{ field: 'path', message: 'a %-escape that is not UTF-8' }],
    };
  }
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
        detail: `the body's charset ${String(e.charset)} is not one the JSON reader takes; declare charset=utf-8, or none`,
        errors: [{ field: 'header content-type', message: 'charset=utf-8, or none' }],
      };
    case 'encoding.unsupported':
      return {
        status: 415,
        detail: `the content encoding ${String(e.encoding)} is not one the service undoes; send the body as it is, or gzip, deflate or br`,
        errors: [{ field: 'header content-encoding', message: 'gzip, deflate, br, or none' }],
      };
  }
  // A body the reader refused as the sender's (http-errors marks it `expose`, 400) because it
  // was cut short or does not decompress; any other error is the service's to answer.
  if (e.expose !== true || e.status !== 400) return undefined;
  const why =
    typeof e.code === 'string' && DECOMPRESSION.test(e.code)
      ? `it does not decompress (${e.code})`
      : UNREAD[String(e.type)];
  if (why === undefined) return undefined;
  return {
    status: 400,
    detail: `the body was not taken: ${why}`,
    errors: [{ field: '(body)', message: why }],
  };
}
