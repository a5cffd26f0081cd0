/**
 * Express middleware that enforces the tenancy policy in-process: 401/403 (or 503 when the
 * realm keys are unavailable) with an RFC 9457 problem, or on to the handler with the
 * verified caller in `res.locals.tenancy`.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { JWTPayload } from 'jose';
import { decodeJwt, decodeProtectedHeader } from 'jose';

import { JwksUnavailableError } from './errors.js';
import type { Jwks, JwksCache } from './jwks.js';
import type { Decision, TenancyPolicy } from './policy.js';
import { headersOf, policyInput } from './input.js';
import { sendProblem } from './problem.js';

/** The verified caller of an allowed request (absent on public paths). */
export interface TenancyContext {
  /** The tenant the request acts for (its fiware-service, lower-cased). */
  readonly tenant: string;
  readonly subject?: string;
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

const NO_KEYS: Jwks = Object.freeze({ keys: [] });
const BEARER = /^bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;

/** The middleware. It never calls `next(err)`: every failure is a deny. */
export function tenancyMiddleware(opts: TenancyMiddlewareOptions): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const path = req.originalUrl.split('?')[0] ?? '/';
    const headers = headersOf(req);
    const input = policyInput(req.method, req.originalUrl, headers);
    const token = BEARER.exec(headers.authorization ?? '')?.[1];
    const log = (entry: Omit<DecisionLogEntry, 'method' | 'path'>) =>
      opts.onDecision?.({ ...entry, method: req.method, path });
    let decision: Decision;
    try {
      // Without a token the policy needs no keys. When they cannot be fetched it decides
      // without them and, like the gateway's OPA, refuses every token with 503.
      let keys: Jwks | undefined = NO_KEYS;
      if (token) {
        try {
          keys = await opts.jwks.keys(kidOf(token));
        } catch (err) {
          if (!(err instanceof JwksUnavailableError)) throw err;
          keys = undefined;
        }
      }
      decision = await opts.policy.decide(input, keys);
    } catch {
      log({ allowed: false, status: 500, reason: 'authorization failed' });
      sendProblem(res, {
        type: 'https://kitt4sme.eu/problems/authorization-failed',
        title: 'Internal Server Error',
        status: 500,
        detail: 'the request could not be authorized',
        instance: path,
      });
      return;
    }
    if (!decision.allowed) {
      const status = decision.http_status ?? 403;
      const reason = decision.headers?.['x-kitt4sme-deny-reason'];
      log({
        allowed: false,
        status,
        ...(reason ? { reason } : {}),
        ...(headers['fiware-service'] ? { tenant: headers['fiware-service'] } : {}),
      });
      const body = decision.body ? (JSON.parse(decision.body) as Record<string, unknown>) : {};
      const { 'content-type': _ct, ...rest } = decision.headers ?? {};
      sendProblem(
        res,
        {
          type: 'https://kitt4sme.eu/problems/access-denied',
          title:
            status === 401 ? 'Unauthorized' : status === 503 ? 'Service Unavailable' : 'Forbidden',
          detail: reason ?? 'request not allowed',
          ...body,
          status,
          instance: path,
        },
        rest,
      );
      return;
    }
    const tenant = decision.headers?.['x-kitt4sme-tenant'];
    if (token && tenant) {
      const claims = decodeJwt(token);
      const roles = Array.isArray(claims.roles)
        ? claims.roles.map(String)
        : typeof claims.roles === 'string'
          ? [claims.roles]
          : [];
      const context: TenancyContext = {
        tenant,
        roles,
        claims,
        ...(claims.sub ? { subject: claims.sub } : {}),
      };
      res.locals.tenancy = context;
      log({ allowed: true, status: 200, tenant, ...(claims.sub ? { subject: claims.sub } : {}) });
    } else {
      log({ allowed: true, status: 200 });
    }
    next();
  };
}

function kidOf(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).kid;
  } catch {
    return undefined;
  }
}
