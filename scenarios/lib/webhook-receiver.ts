/**
 * A webhook receiver that does what a careful subscriber does with
 * the monitor's deliveries: verifies the Standard Webhooks signature and timestamp with the
 * spec's reference library (401 when either fails), parses the body as a CloudEvent with the
 * CloudEvents SDK (400 when it is not one), and processes each `webhook-id` once (a repeat is
 * acknowledged and counted, never processed twice).
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

import { HTTP } from 'cloudevents';
import type { CloudEventV1 } from 'cloudevents';
import { Webhook } from 'standardwebhooks';

/** How the receiver answers deliveries. */
export type ReceiverMode = 'up' | 'down' | 'gone';

/** A running receiver. */
export interface WebhookReceiver {
  readonly url: string;
  /** The signing secret (set it from the subscription's creation answer). */
  secret: string | undefined;
  /** `down` answers 503 to everything, `gone` 410. @default up */
  mode: ReceiverMode;
  /** `webhook-id`s answered 503 whatever the mode (one event failing, the others not). */
  readonly failIds: Set<string>;
  /** Events processed, in order, once each. */
  readonly events: CloudEventV1<Record<string, unknown>>[];
  /** Deliveries acknowledged again for an id already processed. */
  readonly duplicates: string[];
  /** Deliveries refused, with the reason. */
  readonly rejected: { status: number; reason: string }[];
  /** Every request received, with the answer. */
  readonly attempts: { id: string | undefined; status: number }[];
  close(): Promise<void>;
}

/** Where a receiver listens. */
export interface WebhookReceiverOptions {
  /** @default /hooks/monitor */
  readonly path?: string;
  /** @default 0, a free port */
  readonly port?: number;
  /** The address to listen on. @default 127.0.0.1 */
  readonly listen?: string;
  /** The host its `url` names (a name the monitor's outbound rule may need). @default listen */
  readonly urlHost?: string;
}

/**
 * Starts a receiver, by default on a free loopback port; `path` (or `opts.path`) is where it
 * listens.
 */
export async function startWebhookReceiver(
  pathOrOpts: string | WebhookReceiverOptions = {},
): Promise<WebhookReceiver> {
  const opts = typeof pathOrOpts === 'string' ? { path: pathOrOpts } : pathOrOpts;
  const path = opts.path ?? '/hooks/monitor';
  const listen = opts.listen ?? '127.0.0.1';
  const seen = new Set<string>();
  const receiver: WebhookReceiver = {
    url: '',
    secret: undefined,
    mode: 'up',
    failIds: new Set(),
    events: [],
    duplicates: [],
    rejected: [],
    attempts: [],
    close: () => Promise.resolve(),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const answer = (status: number, reason?: string) => {
        receiver.attempts.push({ id: header(req.headers, 'webhook-id'), status });
        if (reason) receiver.rejected.push({ status, reason });
        res.writeHead(status).end();
      };
      if (req.method !== 'POST' || req.url !== path) return answer(404, 'wrong path');
      if (receiver.mode === 'down') return answer(503);
      if (receiver.failIds.has(header(req.headers, 'webhook-id') ?? '')) return answer(503);
      if (receiver.mode === 'gone') return answer(410);
      if (!receiver.secret) return answer(500, 'no secret configured');
      try {
        new Webhook(receiver.secret).verify(body, {
          'webhook-id': header(req.headers, 'webhook-id') ?? '',
          'webhook-timestamp': header(req.headers, 'webhook-timestamp') ?? '',
          'webhook-signature': header(req.headers, 'webhook-signature') ?? '',
        });
      } catch (err) {
        return answer(401, (err as Error).message);
      }
      let event: CloudEventV1<Record<string, unknown>>;
      try {
        event = HTTP.toEvent({
          headers: req.headers as Record<string, string>,
          body,
        }) as CloudEventV1<Record<string, unknown>>;
      } catch (err) {
        return answer(400, `not a CloudEvent: ${(err as Error).message}`);
      }
      const id = header(req.headers, 'webhook-id')!;
      if (id !== event.id) return answer(400, 'webhook-id is not the event id');
      if (seen.has(id)) {
        receiver.duplicates.push(id);
        return answer(200);
      }
      seen.add(id);
      receiver.events.push(event);
      answer(204);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, listen, resolve);
  });
  // A scenario that fails half-way leaves no handle keeping its runner alive.
  server.unref();
  const { port } = server.address() as AddressInfo;
  (receiver as { url: string }).url = `http://${opts.urlHost ?? listen}:${port}${path}`;
  receiver.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}
