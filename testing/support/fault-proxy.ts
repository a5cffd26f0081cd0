/**
 * A fault-injecting HTTP proxy in front of a real upstream (the IoT Agent's north API): every
 * request is forwarded as it is, unless the current rule says otherwise. It produces the faults
 * a real component will not produce on demand:
 * - `refuse`: answer without forwarding (the upstream never sees the request);
 * - `lose-response`: forward, let the upstream do the work, then answer 502 instead of its
 *   answer (a response lost on the way back: the upstream stored what the caller thinks failed).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the rule sees it. */
export interface ProxiedRequest {
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  /** The body parsed as JSON, or undefined. */
  readonly body: unknown;
}

/** What to do with a request; undefined forwards it. */
export type FaultRule = (
  req: ProxiedRequest,
) => { kind: 'refuse'; status: number; body?: unknown } | { kind: 'lose-response' } | undefined;

/** A running proxy. */
export interface FaultProxy {
  readonly url: string;
  /** Sets the rule (undefined: forward everything). */
  fault(rule: FaultRule | undefined): void;
  /** The requests the rule changed, in order: `<kind> <METHOD> <url>`. */
  readonly injected: string[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Starts a proxy to `target` (an http:// base URL) on a free loopback port. */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  let rule: FaultRule | undefined;
  const injected: string[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      let body: unknown;
      try {
        body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        body = undefined;
      }
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      const decision = rule?.({ method, url, body });
      if (decision?.kind === 'refuse') {
        injected.push(`refuse ${method} ${url}`);
        res.writeHead(decision.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(decision.body ?? { name: 'INJECTED', message: 'injected fault' }));
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k))
          headers[k] = v;
      const upstream = await fetch(new URL(url, target), {
        method,
        headers,
        ...(raw.length ? { body: raw } : {}),
      });
      const answer = Buffer.from(await upstream.arrayBuffer());
      if (decision?.kind === 'lose-response') {
        injected.push(`lose-response ${method} ${url} (upstream answered ${upstream.status})`);
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('bad gateway (injected: the upstream answer was lost)');
        return;
      }
      const out: Record<string, string> = {};
      upstream.headers.forEach((v, k) => {
        if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding'].includes(k))
          out[k] = v;
      });
      res.writeHead(upstream.status, out);
      res.end(answer);
    })().catch((err: unknown) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: ${(err as Error).message}`);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    fault(r) {
      rule = r;
    },
    injected,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
