/**
 * RFC 9457 problem details: the only error body the services send.
 */
import type { Response } from 'express';

/** A problem document. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly [extension: string]: unknown;
}

/** Sends a problem; never a stack trace, never request credentials. */
export function sendProblem(
  res: Response,
  problem: Problem,
  headers: Readonly<Record<string, string>> = {},
): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
}
