/**
 * Test support: a tiny HTTP server on a free loopback port whose answers a test controls
 * (a stand-in for Keycloak's JWKS endpoint, which can also go down or misbehave).
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
