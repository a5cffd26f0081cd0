/**
 * Express middleware that enforces the tenancy policy in-process: 400/401/403 (or 503 when
 * the realm keys are unavailable) with an RFC 9457 problem, or on to the handler with the
 * verified caller in `res.locals.tenancy` and `x-kitt4sme-tenant` set, as the gateway does.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { JWTPayload } from 'jose';
import { decodeJwt, decodeProtectedHeader } from 'jose';

import { JwksUnavailableError } from './errors.js';
import type { Jwks, JwksCache } from './jwks.js';
import type { Decision, TenancyPolicy } from './policy.js';
import { headersOf, policyInput } from './input.js';
import { bearerToken } from './jws.js';
import { sendProblem } from './problem.js';
import { rolesForTenant } from '../../../platform/roles.js';
import { DENY_REASON_HEADER } from '../../../platform/tenancy.js';

/** The verified caller of an allowed request (absent on public paths). */
export interface TenancyContext {
  /** The tenant the request acts for (its fiware-service, lower-cased). */
  readonly tenant: string;
  readonly subject?: string;
  /** The roles that hold for this tenant: platform roles and the tenant's scoped roles, bare. */
  readonly roles: readonly string[];
  readonly claims: JWTPayload;
}

/** One decision, for the decision log: never the token, never the query string. */
export interface DecisionLogEntry {
  readonly allowed: boolean;
  readonly status: number;
  readonly reason?: string;
  readonly method: string;
  readonly path: string;
  readonly tenant?: string;
  readonly subject?: string;
}

/** Options of {@link tenancyMiddleware}. */
export interface TenancyMiddlewareOptions {
  readonly policy: TenancyPolicy;
  readonly jwks: JwksCache;
  /** Called for every decision. @default none */
  readonly onDecision?: (entry: DecisionLogEntry) => void;
}

/** Headers this platform sets (the policy's tenant header among them); a caller's are dropped. */
const PLATFORM_HEADER_PREFIX = 'x-kitt4sme-';
/** The decision headers a deny may pass on to the client. */
const DENY_HEADERS = ['www-authenticate', 'retry-after', DENY_REASON_HEADER] as const;
/** What a header value may hold: visible ASCII and spaces. */
const SAFE_HEADER_VALUE = /^[\x20-\x7e]{0,1024}$/;
/** A service name as Orion accepts it. */
const SERVICE_NAME = /^[A-Za-z0-9_]{1,50}$/;

const NO_KEYS: Jwks = Object.freeze({ keys: [] });

/** The middleware. It never calls `next(err)`: every failure is a deny. */
export function tenancyMiddleware(opts: TenancyMiddlewareOptions): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const path = req.originalUrl.split('?')[0] ?? '/';
    const log = (entry: Omit<DecisionLogEntry, 'method' | 'path'>) => {
      try {
        opts.onDecision?.({ ...entry, method: req.method, path });
      } catch {
        // a failing logger must not change the decision
      }
    };
    try {
      const headers = headersOf(req);
      const tenantHeader = opts.policy.tenantHeader;
      dropHeaders(req, (name) => name.startsWith(PLATFORM_HEADER_PREFIX) || name === tenantHeader);
      const token = bearerToken(headers.authorization);
      const decision = await decide(opts, req, headers, token);
      if (!decision.allowed) {
        deny(res, decision, path, headers, log);
        return;
      }
      const tenant = decision.headers?.[tenantHeader];
      if (token && tenant) {
        const claims = decodeJwt(token);
        const context: TenancyContext = {
          tenant,
          roles: rolesForTenant(asStrings(claims[opts.policy.claimNames.roles]), tenant),
          claims,
          ...(claims.sub ? { subject: claims.sub } : {}),
        };
        res.locals.tenancy = context;
        setHeader(req, tenantHeader, tenant);
        log({ allowed: true, status: 200, tenant, ...(claims.sub ? { subject: claims.sub } : {}) });
      } else {
        log({ allowed: true, status: 200 });
      }
    } catch {
      failClosed(res, path, log);
      return;
    }
    next();
  };
}

/** The policy's decision; the keys are fetched only for a request with a token. */
async function decide(
  opts: TenancyMiddlewareOptions,
  req: Request,
  headers: Record<string, string>,
  token: string | undefined,
): Promise<Decision> {
  const input = policyInput(req.method, req.originalUrl, headers);
  // When the keys cannot be fetched the policy decides without them and, like the gateway's
  // OPA, refuses every token with 503.
  let keys: Jwks | undefined = NO_KEYS;
  if (token) {
    try {
      keys = await opts.jwks.keys(kidOf(token));
    } catch (err) {
      if (!(err instanceof JwksUnavailableError)) throw err;
      keys = undefined;
    }
  }
  return opts.policy.decide(input, keys);
}

/** Answers a deny with the policy's problem and its safe headers. */
function deny(
  res: Response,
  decision: Decision,
  path: string,
  headers: Record<string, string>,
  log: (entry: Omit<DecisionLogEntry, 'method' | 'path'>) => void,
): void {
  const status = decision.http_status ?? 403;
  const reason = decision.headers?.[DENY_REASON_HEADER];
  const service = headers['fiware-service'];
  log({
    allowed: false,
    status,
    ...(reason ? { reason } : {}),
    ...(service && SERVICE_NAME.test(service) ? { tenant: service.toLowerCase() } : {}),
  });
  const body = decision.body ? (JSON.parse(decision.body) as Record<string, unknown>) : {};
  const passOn: Record<string, string> = {};
  for (const name of DENY_HEADERS) {
    const value = decision.headers?.[name];
    if (value !== undefined && SAFE_HEADER_VALUE.test(value)) passOn[name] = value;
  }
  sendProblem(
    res,
    {
      type: 'https://kitt4sme.eu/problems/access-denied',
      title: 'Forbidden',
      detail: 'request not allowed',
      ...body,
      status,
      instance: path,
    },
    passOn,
  );
}

/** 500 without detail: the request could not be judged, so it is refused. */
function failClosed(
  res: Response,
  path: string,
  log: (entry: Omit<DecisionLogEntry, 'method' | 'path'>) => void,
): void {
  log({ allowed: false, status: 500, reason: 'authorization failed' });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  try {
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    sendProblem(res, {
      type: 'https://kitt4sme.eu/problems/authorization-failed',
      title: 'Internal Server Error',
      status: 500,
      detail: 'the request could not be authorized',
      instance: path,
    });
  } catch {
    res.destroy();
  }
}

/** Removes request headers from every view Node offers of them. */
function dropHeaders(req: Request, drop: (lowerCaseName: string) => boolean): void {
  // Node derives headers and headersDistinct from rawHeaders on first use: derive them first.
  for (const name of Object.keys(req.headers)) if (drop(name)) delete req.headers[name];
  for (const name of Object.keys(req.headersDistinct)) {
    if (drop(name)) delete req.headersDistinct[name];
  }
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    if (drop(raw[i]!.toLowerCase())) raw.splice(i, 2);
  }
}

/** Sets a request header in every view Node offers of them. */
function setHeader(req: Request, name: string, value: string): void {
  req.rawHeaders.push(name, value);
  req.headers[name] = value;
  req.headersDistinct[name] = [value];
}

function asStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function kidOf(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).kid;
  } catch {
    return undefined;
  }
}
