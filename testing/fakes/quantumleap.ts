/**
 * Test support: a contract fake of QuantumLeap (FIWARE's time-series store for NGSI-v2
 * notifications), in process, for tests on machines where QuantumLeap and CrateDB cannot run.
 * It answers as QuantumLeap 1.0 (orchestracities/ngsi-timeseries-api, its reporter and SQL
 * translator) for the part this platform uses: Orion notifies it, dashboards and scenarios read
 * series back.
 *
 * Follows QuantumLeap in:
 * - `POST /v2/notify`: `{subscriptionId, data: [entity...]}` in NGSI-v2 normalized form; each
 *   entity becomes one row of its tenant (`Fiware-Service`, lower-cased; no header is the default
 *   tenant), with `Fiware-ServicePath` kept only when a tenant is given; answers 200 with the
 *   JSON string "Notification successfully processed", 400 for an entity without `id` or `type`;
 * - the time index of a row: the attribute named by `Fiware-TimeIndex-Attribute`, then the
 *   `TimeInstant` attribute, the latest `TimeInstant` metadata, the `timestamp` attribute and
 *   metadata, the `dateModified` attribute and metadata, and last the time of receipt;
 * - `GET /v2/entities/{id}/attrs/{attr}` → `{entityId, entityType, attrName, index, values}` and
 *   `GET /v2/entities/{id}` → `{entityId, entityType, index, attributes: [{attrName, values}]}`:
 *   rows of the tenant in index order, `null` where a row lacks the attribute (a table column);
 *   `type`, `fromDate`/`toDate` (inclusive), `lastN` (the last n, still ascending), `offset`,
 *   `limit` (default 10000), `attrs`; a `Fiware-ServicePath` header selects that path and those
 *   below it; an id with several types and no `type` is a 400 AmbiguousNGSIIdError; nothing
 *   found is 404 `{"error":"Not Found","description":"No records were found for such query."}`;
 * - indexes rendered as `YYYY-MM-DDThh:mm:ss.sss+00:00`; `GET /version`, `GET /health`.
 *
 * Leaves out (501 NotImplemented): aggregations (`aggrMethod`, `aggrPeriod`), geo-queries, the
 * multi-entity and per-type routes, deletes, `/v2/subscribe`; and value conversion by NGSI type
 * (values are kept as notified), geocoding, and CrateDB's case folding of attribute names.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { FaultRule } from './orion.js';

/** A notification as the fake received it, with the status it answered. */
export interface ReceivedNotification {
  service: string | undefined;
  servicePath: string | undefined;
  body: unknown;
  status: number;
}

/** The stored series of one attribute of one entity. */
export interface Series {
  index: string[];
  values: unknown[];
}

/** A running QuantumLeap fake. */
export interface QuantumLeapFake {
  readonly url: string;
  /** Where Orion subscriptions should notify: `<url>/v2/notify`. */
  readonly notifyUrl: string;
  /** Every `POST /v2/notify` received, in order (cleared by `reset`). */
  readonly notifications: ReceivedNotification[];
  /** The values an entity's attribute was notified with in a tenant ('' or undefined: default). */
  series(service: string | undefined, entityId: string, attr: string): Series;
  /** Installs (or, with undefined, removes) the fault rule (see testing/fakes/orion.ts). */
  fault(rule: FaultRule | undefined): void;
  /** Forgets all rows, notifications and the fault rule. */
  reset(): void;
  close(): Promise<void>;
}

type Rec = Record<string, unknown>;
type Row = {
  entityId: string;
  entityType: string;
  servicePath: string | undefined;
  index: number;
  attrs: Rec;
};
type Reply = { status: number; body: unknown };

const NOT_FOUND: Reply = {
  status: 404,
  body: { error: 'Not Found', description: 'No records were found for such query.' },
};
const notImplemented = (what: string): Reply => ({
  status: 501,
  body: {
    error: 'Not Implemented',
    description: `the QuantumLeap fake does not implement ${what}`,
  },
});
const UNSUPPORTED = ['aggrMethod', 'aggrPeriod', 'aggrScope', 'georel', 'geometry', 'coords'];

const isObject = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const badRequest = (description: string): Reply => ({
  status: 400,
  body: { error: 'Bad Request', description },
});
// QuantumLeap renders CrateDB timestamps with milliseconds and an explicit UTC offset.
const isoIndex = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');

function parseTime(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** QuantumLeap's time-index priority list (reporter/timex.py), receipt time last. */
function timeIndex(entity: Rec, custom: string | undefined, received: number): number {
  const attrValue = (name: string) => {
    const attr = entity[name];
    return parseTime(isObject(attr) ? attr.value : undefined);
  };
  const latestMeta = (meta: string) => {
    const times: number[] = [];
    for (const attr of Object.values(entity)) {
      const md = isObject(attr) && isObject(attr.metadata) ? attr.metadata[meta] : undefined;
      const t = parseTime(isObject(md) ? md.value : undefined);
      if (t !== undefined) times.push(t);
    }
    return times.length > 0 ? Math.max(...times) : undefined;
  };
  const candidates = [
    () => (custom ? attrValue(custom) : undefined),
    () => (custom ? latestMeta(custom) : undefined),
    () => attrValue('TimeInstant'),
    () => latestMeta('TimeInstant'),
    () => attrValue('timestamp'),
    () => latestMeta('timestamp'),
    () => attrValue('dateModified'),
    () => latestMeta('dateModified'),
  ];
  for (const c of candidates) {
    const t = c();
    if (t !== undefined) return t;
  }
  return received;
}

/** Starts a QuantumLeap fake on a free loopback port. */
export async function startQuantumLeapFake(): Promise<QuantumLeapFake> {
  const tenants = new Map<string, Row[]>();
  const notifications: ReceivedNotification[] = [];
  let rule: FaultRule | undefined;

  function notify(req: IncomingMessage, body: unknown): Reply {
    if (!isObject(body) || !Array.isArray(body.data)) {
      return badRequest('Discarding notification due to lack of request body content.');
    }
    const service = (req.headers['fiware-service'] as string | undefined) || undefined;
    // QuantumLeap keeps the service path only with a tenant (reporter.notify).
    const servicePath = service
      ? (req.headers['fiware-servicepath'] as string | undefined)
      : undefined;
    const custom = req.headers['fiware-timeindex-attribute'] as string | undefined;
    const received = Date.now();
    const rows: Row[] = [];
    for (const entity of body.data as unknown[]) {
      if (!isObject(entity) || typeof entity.type !== 'string') {
        return badRequest('Entity type is required in notifications');
      }
      if (typeof entity.id !== 'string')
        return badRequest('Entity id is required in notifications');
      const attrs: Rec = {};
      for (const [name, attr] of Object.entries(entity)) {
        if (name === 'id' || name === 'type') continue;
        // A keyValues notification cannot be stored: QuantumLeap reads `value` of each attribute.
        if (!isObject(attr)) return badRequest(`attribute ${name} is not in normalized format`);
        attrs[name] = attr.value ?? null;
      }
      const index = timeIndex(entity, custom, received);
      rows.push({ entityId: entity.id, entityType: entity.type, servicePath, index, attrs });
    }
    const key = (service ?? '').toLowerCase();
    tenants.set(key, [...(tenants.get(key) ?? []), ...rows]);
    return { status: 200, body: 'Notification successfully processed' };
  }

  /** The rows a query selects, in index order, or the error reply. */
  function select(req: IncomingMessage, entityId: string, q: URLSearchParams): Row[] | Reply {
    const unsupported = UNSUPPORTED.find((p) => q.has(p));
    if (unsupported) {
      return notImplemented(unsupported);
    }
    // As the translator's `fiware_servicepath ~* '<path>($|/.*)'`: the path and below it.
    const path = req.headers['fiware-servicepath'] as string | undefined;
    const inPath = (sp: string | undefined) =>
      !path || (sp !== undefined && (path === '/' || sp === path || sp.startsWith(`${path}/`)));
    const tenant = String(req.headers['fiware-service'] ?? '').toLowerCase();
    let rows = (tenants.get(tenant) ?? []).filter(
      (r) => r.entityId === entityId && inPath(r.servicePath),
    );
    const type = q.get('type');
    if (type) rows = rows.filter((r) => r.entityType === type);
    else if (new Set(rows.map((r) => r.entityType)).size > 1) {
      return {
        status: 400,
        body: {
          error: 'AmbiguousNGSIIdError',
          description: `There are multiple entities with the given entity id ${entityId}, please specify entity type`,
        },
      };
    }
    const num = (name: string) => {
      const v = q.get(name);
      return v === null ? undefined : /^\d+$/.test(v) ? Number(v) : NaN;
    };
    const from = q.has('fromDate') ? parseTime(q.get('fromDate')) : -Infinity;
    const to = q.has('toDate') ? parseTime(q.get('toDate')) : Infinity;
    const [lastN, limit, offset] = [num('lastN'), num('limit'), num('offset')];
    if (from === undefined || to === undefined)
      return badRequest('fromDate and toDate must be ISO 8601 dates');
    if ([lastN, limit, offset].some((n) => Number.isNaN(n))) {
      return badRequest('lastN, limit and offset must be non-negative integers');
    }
    rows = rows.filter((r) => r.index >= from && r.index <= to).sort((a, b) => a.index - b.index);
    if (lastN !== undefined) rows = rows.slice(Math.max(0, rows.length - lastN));
    return rows.slice(offset ?? 0, (offset ?? 0) + (limit ?? 10000));
  }

  function query(req: IncomingMessage, segs: string[], q: URLSearchParams): Reply {
    const [, , entityId, attrsSeg, attrName, ...rest] = segs;
    if (
      entityId === undefined ||
      rest.length > 0 ||
      (attrsSeg !== undefined && (attrsSeg !== 'attrs' || !attrName))
    ) {
      return notImplemented(`/${segs.join('/')}`);
    }
    const rows = select(req, entityId, q);
    if (!Array.isArray(rows)) return rows;
    const present = (name: string) => rows.some((r) => name in r.attrs);
    const first = rows[0];
    if (!first) return NOT_FOUND;
    const index = rows.map((r) => isoIndex(r.index));
    const values = (name: string) => rows.map((r) => r.attrs[name] ?? null);
    const head = { entityId, entityType: first.entityType };
    if (attrName !== undefined) {
      if (!present(attrName)) return NOT_FOUND;
      return { status: 200, body: { ...head, attrName, index, values: values(attrName) } };
    }
    const wanted = q.get('attrs')?.split(',');
    const names = [...new Set(rows.flatMap((r) => Object.keys(r.attrs)))]
      .filter((n) => !wanted || wanted.includes(n))
      .sort();
    if (names.length === 0) return NOT_FOUND;
    const attributes = names.map((attrName) => ({ attrName, values: values(attrName) }));
    return { status: 200, body: { ...head, index, attributes } };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const segs = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text || undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: the rule and the notify route see the raw text
    }
    const service = req.headers['fiware-service'] as string | undefined;
    const servicePath = req.headers['fiware-servicepath'] as string | undefined;
    const isNotify = req.method === 'POST' && url.pathname === '/v2/notify';
    const send = (r: Reply) => {
      if (isNotify) notifications.push({ service, servicePath, body, status: r.status });
      res.writeHead(r.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(r.body));
    };
    const fault = rule?.({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      service,
      servicePath,
      body,
    });
    if (fault && 'delayMs' in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
    else if (fault) return send({ status: fault.status, body: fault.body ?? null });
    if (isNotify) return send(notify(req, body));
    if (req.method === 'GET' && url.pathname === '/version') {
      return send({ status: 200, body: { version: '1.0.0-fake' } });
    }
    if (req.method === 'GET' && url.pathname === '/health') {
      return send({ status: 200, body: { status: 'pass' } });
    }
    if (req.method === 'GET' && segs[0] === 'v2' && segs[1] === 'entities') {
      return send(query(req, segs, url.searchParams));
    }
    send({
      status: 404,
      body: { error: 'Not Found', description: `${req.method} ${url.pathname}` },
    });
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    notifyUrl: `${url}/v2/notify`,
    notifications,
    series(service, entityId, attr) {
      const rows = (tenants.get((service ?? '').toLowerCase()) ?? [])
        .filter((r) => r.entityId === entityId && attr in r.attrs)
        .sort((a, b) => a.index - b.index);
      return { index: rows.map((r) => isoIndex(r.index)), values: rows.map((r) => r.attrs[attr]) };
    },
    fault(r) {
      rule = r;
    },
    reset() {
      tenants.clear();
      notifications.length = 0;
      rule = undefined;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
