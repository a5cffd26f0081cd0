/**
 * Errors of the monitor, documented in docs/errors.md. The service answers each as an RFC 9457
 * problem whose `type` ends in the code.
 */
import type { Response } from 'express';
import type { z } from 'zod';

import { PlatformError } from '../../../platform/errors.js';
import { requestFault } from '../../runtime/src/index.js';
import { sendProblem } from '../../tenancy/src/index.js';

export const MONITOR_ERRORS = {
  ERR_MONITOR_CONFIG: {
    problem: 'the monitor was started with a missing or invalid environment variable',
    fix: 'set the variable the message names; docs/monitor.md (Configuration) lists them all',
  },
  ERR_MONITOR_STATE: {
    problem: "the monitor's state file cannot be read or is not a state document",
    fix: 'restore the file from its volume snapshot, or move it away to start from empty state (every target starts fresh; subscriptions must be created again)',
  },
  ERR_MONITOR_INVALID: {
    problem: 'a request body or parameter of the monitor API is invalid',
    fix: 'read `errors` in the problem: each entry names the field and the rule; fix it and send the request again',
  },
  ERR_MONITOR_FORBIDDEN: {
    problem: 'the token is valid for the tenant but lacks the role this operation needs',
    fix: 'use a client or user with the tenant-admin role of the tenant (or platform-admin)',
  },
  ERR_MONITOR_NOT_FOUND: {
    problem: 'no such subscription in this tenant',
    fix: "list the tenant's subscriptions with GET /monitor/v1/subscriptions and use one of their ids",
  },
  ERR_MONITOR_EVENT_TYPE: {
    problem:
      "an event posted to the monitor's events port has a type outside the catalogue, or one its producer does not raise here",
    fix: 'use a type of docs/events.md whose producer is provisioning or fleet (monitor events are raised by the monitor, alerts come through the Alertmanager receiver)',
  },
  ERR_MONITOR_EVENT_TENANT: {
    problem:
      "an event posted to the monitor's events port names a tenant that is not a platform tenant",
    fix: "send events of the platform's tenants only (platform/tenants.ts; the policy data's `tenants`)",
  },
  ERR_MONITOR_EVENT_SUBJECT: {
    problem:
      "an event's subject is not `<kind>s/<id>` of its type's kind, or its data contradicts it",
    fix: "build the subject with eventSubject(kind, id) of platform/events.ts, the kind being the type's in the catalogue, and leave data's tenant, kind and id to match (or out: the monitor sets them)",
  },
} as const;
export type MonitorErrorCode = keyof typeof MONITOR_ERRORS;

/** A documented monitor error. */
export function monitorError(
  code: MonitorErrorCode,
  message: string,
  cause?: unknown,
): PlatformError {
  return new PlatformError(code, message, MONITOR_ERRORS[code].fix, { cause });
}

/** The problem `type` URI of a code. */
export function problemType(code: MonitorErrorCode): string {
  return `https://kitt4sme.eu/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}

/** A failure the API answers as a problem. */
export class MonitorFailure extends Error {
  constructor(
    readonly code: MonitorErrorCode,
    readonly status: number,
    message: string,
    readonly errors: readonly { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/** One invalid field of a request. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** ERR_MONITOR_INVALID with `status`, its detail listing each field. */
export function invalidFields(errors: readonly FieldError[], status = 422): MonitorFailure {
  return new MonitorFailure(
    'ERR_MONITOR_INVALID',
    status,
    errors.map((e) => `${e.field}: ${e.message}`).join('; '),
    errors,
  );
}

/**
 * `input` parsed by `schema`, or a 400 naming each bad field: `where` prefixes the field
 * (`query ` for parameters) and `whole` names the input itself.
 */
export function parseOr400<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: { prefix?: string; whole?: string } = {},
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw invalidFields(
    parsed.error.issues.map((i) => ({
      field: `${where.prefix ?? ''}${i.path.length ? i.path.join('.') : (where.whole ?? '(body)')}`,
      message: i.message,
    })),
    400,
  );
}

/**
 * The failure an error thrown in a request stands for: itself, or a body express could not take
 * (not JSON, not read whole: 400; over `limit`: 413 with `tooLarge`; charset, encoding: 415);
 * undefined for an unexpected error.
 */
export function failureOf(err: unknown, tooLarge: string): MonitorFailure | undefined {
  if (err instanceof MonitorFailure) return err;
  const fault = requestFault(err, tooLarge);
  return (
    fault && new MonitorFailure('ERR_MONITOR_INVALID', fault.status, fault.detail, fault.errors)
  );
}

/** Answers a failure as an RFC 9457 problem with the catalogue's title and fix. */
export function sendFailureProblem(res: Response, failure: MonitorFailure, instance: string): void {
  sendProblem(res, {
    type: problemType(failure.code),
    title: MONITOR_ERRORS[failure.code].problem,
    status: failure.status,
    detail: failure.message,
    instance,
    code: failure.code,
    fix: MONITOR_ERRORS[failure.code].fix,
    ...(failure.errors.length ? { errors: failure.errors } : {}),
  });
}
