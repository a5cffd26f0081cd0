/**
 * The console's server: the built static assets under the console's prefix, its configuration
 * document, and nothing else. Every answer carries a strict Content-Security-Policy: scripts,
 * styles and connections only from the platform's own origin (the APIs and Keycloak are routes
 * of the same gateway), no inline script or style, no framing. The server holds no token and
 * calls no API: the browser app calls the platform's routes with the user's own token.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';

import express from 'express';
import type { Response } from 'express';
import { Registry } from 'prom-client';

import { addProbes } from '../../runtime/src/index.js';
import { CONFIG_FILE } from './contract.js';
import type { ConsoleConfig } from './contract.js';
import { consoleError } from './errors.js';

/** The Content-Security-Policy of every answer. NOTE (1) */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The headers every answer carries. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** What the console's app serves. */
export interface ConsoleAppOptions {
  readonly config: ConsoleConfig;
  /** The build's directory (index.html and assets/), e.g. services/console/dist. */
  readonly assets: string;
  /** The service's metrics. @default a registry of its own */
  readonly registry?: Registry;
}

interface Asset {
  readonly body: Buffer;
  readonly gzip?: Buffer;
  readonly type: string;
}

/** The assets of a build, read once: the app serves from memory. */
function readAssets(dir: string): { index: Buffer; files: Map<string, Asset> } {
  const indexPath = join(dir, 'index.html');
  if (!existsSync(indexPath)) throw consoleError('ERR_CONSOLE_NOT_BUILT', `no ${indexPath}`);
  const files = new Map<string, Asset>();
  const assetsDir = join(dir, 'assets');
  for (const name of existsSync(assetsDir) ? readdirSync(assetsDir) : []) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const gz = join(assetsDir, `${name}.gz`);
    files.set(name, {
      body: readFileSync(join(assetsDir, name)),
      ...(existsSync(gz) ? { gzip: readFileSync(gz) } : {}),
      type,
    });
  }
  return { index: readFileSync(indexPath), files };
}

/** Builds the console's express app. */
export function createConsoleApp(opts: ConsoleAppOptions): express.Express {
  const { index, files } = readAssets(opts.assets);
  const base = opts.config.path;
  const configBody = JSON.stringify(opts.config);
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  });
  addProbes(app, { registry: opts.registry ?? new Registry() });

  app.use(base, (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('allow', 'GET, HEAD').status(405).type('text/plain').send('method not allowed\n');
      return;
    }
    const path = req.path;
    if (req.originalUrl === base || req.originalUrl.startsWith(`${base}?`)) {
      res.redirect(301, `${base}/${req.originalUrl.slice(base.length)}`);
      return;
    }
    if (path === `/${CONFIG_FILE}`) {
      res.set('cache-control', 'no-store').type('application/json').send(configBody);
      return;
    }
    if (path.startsWith('/assets/')) {
      const asset = files.get(path.slice('/assets/'.length));
      if (!asset) {
        res.status(404).type('text/plain').send('no such asset\n');
        return;
      }
      sendAsset(res, asset, req.acceptsEncodings('gzip') === 'gzip');
      return;
    }
    // Any other path is the app's (Keycloak comes back to /console/?code=…).
    res.set('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send(`not found: the console is under ${base}/\n`);
  });
  return app;
}

/** An asset, gzipped when the browser takes it; its name carries its hash, so forever cached. */
function sendAsset(res: Response, asset: Asset, gzip: boolean): void {
  res.set({
    'cache-control': 'public, max-age=31536000, immutable',
    vary: 'accept-encoding',
    'content-type': asset.type,
  });
  if (gzip && asset.gzip) res.set('content-encoding', 'gzip').send(asset.gzip);
  else res.send(asset.body);
}

// NOTE
// 1. The policy. 'self' is the platform's own origin: the gateway serves the console, the
//    APIs (/fleet, /provisioning, /monitor) and Keycloak (/auth) on one host, so connect-src
//    'self' admits the token endpoint and every API call and nothing else. No 'unsafe-inline'
//    for scripts or styles: the build emits one module script and one stylesheet as files, and
//    the app sets no style attribute. Sign-in and sign-out are top-level navigations to
//    Keycloak, which CSP does not restrict. frame-ancestors 'none' (and X-Frame-Options for old
//    browsers) keeps the console out of frames: no clickjacking of its buttons.
//    See https://www.w3.org/TR/CSP3/ and https://owasp.org/www-project-secure-headers/
