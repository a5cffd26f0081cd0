/**
 * Test support: a tiny HTTP server on a free loopback port whose answers a test controls
 * (a stand-in for Keycloak's JWKS endpoint, which can also go down or misbehave).
 * A recording stub keeps each request whole, for tests of what a client sends.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running stub server. */
export interface StubServer {
  readonly url: string;
  /** Requests received so far. */
  readonly requests: { method: string; path: string }[];
  /** Replaces the handler. */
  handle(h: (req: IncomingMessage, res: ServerResponse) => void): void;
  close(): Promise<void>;
}

/** Starts a stub server answering with `handler`. */
export async function startStub(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<StubServer> {
  let current = handler;
  const requests: { method: string; path: string }[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '' });
    current(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle(h) {
      current = h;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A handler that answers JSON. */
export function json(status: number, body: unknown) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
}

/** A request as a {@link startRecordingStub} received it. */
export interface RecordedRequest {
  readonly method: string;
  /** Path and query string. */
  readonly path: string;
  /** The headers the client set: those fetch (undici) adds to every request are left out. */
  readonly headers: Record<string, string>;
  /** The body parsed as JSON; undefined without one. */
  readonly body: unknown;
}

/** A handler of a stub server. */
export type StubHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Headers undici adds to every request, whoever calls it. */
const TRANSPORT_HEADERS = new Set([
  'host',
  'connection',
  'user-agent',
  'accept-language',
  'sec-fetch-mode',
  'accept-encoding',
  'content-length',
]);

/**
 * A stub server that records each request whole (method, path, the client's headers, body)
 * and answers it with the handler `answer` gives for it and its number (1 for the first).
 */
export async function startRecordingStub(
  answer: (req: RecordedRequest, n: number) => StubHandler,
): Promise<{ stub: StubServer; sent: RecordedRequest[] }> {
  const sent: RecordedRequest[] = [];
  const stub = await startStub((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (!TRANSPORT_HEADERS.has(k) && typeof v === 'string') headers[k] = v;
      }
      const r: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers,
        body: text ? JSON.parse(text) : undefined,
      };
      sent.push(r);
      answer(r, sent.length)(req, res);
    });
  });
  return { stub, sent };
}
