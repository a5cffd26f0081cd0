/**
 * Test support: a contract fake of QuantumLeap (FIWARE's time-series store for NGSI-v2
 * notifications), in process, for tests on machines where QuantumLeap and CrateDB cannot run.
 * It answers as QuantumLeap 1.0 (orchestracities/ngsi-timeseries-api: its connexion API
 * specification, reporter and SQL translator over CrateDB) for the part this platform uses: Orion
 * notifies it, dashboards and scenarios read series back. testing/test/quantumleap-fake-upstream
 * holds it to QuantumLeap's own tests, and names the upstream source of each rule below.
 *
 * Follows QuantumLeap in:
 * - `POST /v2/notify`: the body checked as connexion checks it against the specification (a 400
 *   problem `{detail, status, title, type}`: "Request body is not valid JSON", "'data' is a
 *   required property", "'type' is a required property - 'data.0'"...); then, as the reporter: an
 *   attribute without value stored as null, an entity whose values are all empty dropped, an
 *   attribute with neither type nor value dropped (as are attributes that are no objects), each
 *   value converted by its NGSI type as the SQL translator does (Number, Integer, Boolean, Text as
 *   Python's `str`, DateTime rendered as an index, StructuredValue and arrays; a value whose type
 *   is missing or `Property` typed by its JSON value); one row per entity in its tenant
 *   (`Fiware-Service`, lower-cased; none is the default tenant) under `Fiware-ServicePath` (`/`
 *   when missing, with or without a tenant; a comma list gives each entity its own path, and
 *   refuses with 400 when the counts differ); 200 with the JSON string "Notification
 *   successfully processed";
 * - the time index of a row: the attribute named by `Fiware-TimeIndex-Attribute` and then its
 *   latest metadata, `TimeInstant`, `timestamp`, the latest NGSI-LD `observedAt` and `modifiedAt`
 *   of the attributes, the entity's `observedAt` and `modifiedAt`, `dateModified`, and last the
 *   time of receipt; a time without offset is UTC, as CrateDB reads it;
 * - `GET /v2/entities/{id}/attrs/{attr}` → `{entityId, entityType, attrName, index, values}` and
 *   `GET /v2/entities/{id}` → `{entityId, entityType, index, attributes: [{attrName, values}]}`,
 *   and their `/value` forms without the entity (and attribute) names: rows in index order, null
 *   where a row lacks an attribute its entity type has (a table column); every attribute of the
 *   type, by name, unless `attrs` lists some; `type` (in any case), `fromDate`/`toDate`
 *   (inclusive, in double quotes too), `lastN` (the newest, still ascending, past `offset` newest
 *   rows), `offset`, `limit` (at most 10000); a `Fiware-ServicePath` header selects that path
 *   and those below it, in any case; the parameters' bounds of the specification (400 problem);
 *   an id with several types in the tenant and no `type` is a 400 AmbiguousNGSIIdError; nothing
 *   found, or an attribute the type never had, is 404 `{"error":"Not Found","description":"No
 *   records were found for such query."}`;
 * - indexes rendered as `YYYY-MM-DDThh:mm:ss.sss+00:00`; `GET /version`; `GET /health` (`pass`,
 *   `Cache-Control: max-age=180`); `POST /management/config` is 501 in QuantumLeap too, and so
 *   are `options` and `aggrScope`; a path out of the specification is connexion's 404 problem
 *   (`/v2/subscribe` among them: the route is gone since 0.9).
 *
 * Leaves out (501 NotImplemented): aggregations (`aggrMethod`, `aggrPeriod` with a method),
 * geo-queries (`georel`, `geometry`, `coords`), `GET /v2/`, `POST /v2/op/query`, the multi-entity
 * and per-type routes (`GET /v2/entities`, `/v2/types/...`, `/v2/attrs/...`), deletes, the work
 * queue (`/management/queue/...`). Also left out: CrateDB's case folding of attribute names, a
 * column's type fixed by the first row of its table (each value is converted by the type it is
 * notified with), geocoding, instanceId, and dateutil's free-form date parsing (ISO 8601 only).
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
  /** The values an entity's attribute was stored with in a tenant ('' or undefined: default). */
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
  servicePath: string;
  index: number;
  attrs: Rec;
};
type Reply = { status: number; body: unknown; headers?: Record<string, string> };

/** Where the reporter fails on an unexpected payload: Flask's 500, as connexion renders it. */
class InternalError extends Error {}

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
/** connexion's problem JSON (RFC 7807), as it answers a request the specification refuses. */
const problem = (status: number, title: string, detail: string): Reply => ({
  status,
  body: { detail, status, title, type: 'about:blank' },
});
const INTERNAL = problem(
  500,
  'Internal Server Error',
  'The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.',
);
const NOT_FOUND_DETAIL =
  'The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.';
const NO_ROUTE = problem(404, 'Not Found', NOT_FOUND_DETAIL);
const METHOD_NOT_ALLOWED = problem(
  405,
  'Method Not Allowed',
  'The method is not allowed for the requested URL.',
);
const usageError = (cls: string, description: string, status = 400): Reply => ({
  status,
  body: { error: `<class 'exceptions.exceptions.${cls}'>`, description },
});

const isObject = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
// QuantumLeap renders CrateDB timestamps with milliseconds and an explicit UTC offset.
const isoIndex = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');

// The forms dateutil's isoparse reads (sql_translator._is_iso_date, _parse_date): a date, then
// optionally a time and an offset; no offset is UTC, as CrateDB takes it.
const ISO =
  /^(\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?(?:[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

function parseIso(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = ISO.exec(v.replace(/^"+|"+$/g, ''));
  if (!m) return undefined;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', frac = '', tz] = m;
  const ms = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s),
    Number(frac.padEnd(3, '0').slice(0, 3)),
  );
  const check = new Date(ms);
  if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) {
    return undefined;
  }
  if (!tz || tz === 'Z') return ms;
  const hhmm = tz.slice(1).replace(':', '');
  const offset = (Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(2) || '0')) * 60_000;
  return tz.startsWith('+') ? ms - offset : ms + offset;
}

/** utils/timestr.py to_datetime: a string, or an NGSI-LD `{@type, @value}`. */
const toDatetime = (rep: unknown) => parseIso(isObject(rep) ? rep['@value'] : rep);

/** Python's `float(str)`. */
function pyFloat(s: string): number | null {
  const t = s.trim().replaceAll('_', '');
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return null;
  return Number(t);
}

/** Python's `repr`, as `str` renders the items of a list or a dict. */
function pyRepr(v: unknown): string {
  if (typeof v === 'string') {
    return v.includes("'") && !v.includes('"') ? `"${v}"` : `'${v.replaceAll("'", "\\'")}'`;
  }
  return pyStr(v);
}

/** Python's `str`, as the translator stores a Text value (sql_translator._ngsi_text_to_db). */
function pyStr(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (isObject(v)) {
    return `{${Object.entries(v)
      .map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`)
      .join(', ')}}`;
  }
  return String(v);
}

// sql_translator.py NGSI_TO_SQL: the NGSI types with a column type of their own.
const SQL_TYPES = new Set([
  'Array',
  'Boolean',
  'ISO8601',
  'DateTime',
  'Integer',
  'geo:json',
  'GeoProperty',
  'geo:point',
  'geo:line',
  'geo:polygon',
  'geo:box',
  'Number',
  'Text',
  'StructuredValue',
]);
const isText = (type: unknown) => type === 'Text' || !SQL_TYPES.has(type as string);
/** Python's truth value of a JSON value. */
const truthy = (v: unknown) =>
  Array.isArray(v) ? v.length > 0 : isObject(v) ? Object.keys(v).length > 0 : Boolean(v);
/** iter_entity_attrs (utils/common.py). */
const attrNames = (entity: Rec) =>
  Object.keys(entity).filter((k) => !['id', 'type', '@context'].includes(k));

/** reporter.py has_value. */
function hasValue(attr: unknown): boolean {
  if (attr === null || attr === undefined) return false;
  let value: unknown = attr;
  if (isObject(attr)) {
    value = attr.value;
    if (value === null || value === undefined) return false;
    if (isText(attr.type)) return true;
  }
  return (typeof value === 'string' ? value.trim() : value) !== '';
}

const isLdDatetime = (attr: Rec) =>
  attr.type === 'Property' && isObject(attr.value) && attr.value['@type'] === 'DateTime';

/** The NGSI type a value is stored by (sql_translator._insert_entities_of_type). */
function attrType(attr: Rec): unknown {
  if ('type' in attr && attr.type !== 'Property') return attr.type;
  if (isLdDatetime(attr)) return 'DateTime';
  if (!('value' in attr)) return undefined;
  const v = attr.value;
  if (Array.isArray(v)) return 'Array';
  if (isObject(v)) return 'StructuredValue';
  if (typeof v === 'boolean') return 'Boolean';
  // JSON's 1.0 and 1 are one number here; Python would type 1.0 Number: the same value back.
  if (typeof v === 'number') return Number.isInteger(v) ? 'Integer' : 'Number';
  if (parseIso(v) !== undefined) return 'DateTime';
  return 'Text';
}

const renderDate = (v: unknown) => {
  const ms = parseIso(v);
  return ms === undefined ? null : isoIndex(ms);
};

/** The value stored for an attribute (sql_translator._preprocess_values and its _ngsi_*_to_db). */
function dbValue(attr: Rec, type: unknown): unknown {
  const v = attr.value ?? null;
  // Geometries are kept as notified: the fake has no geo-queries to serve.
  if (
    ['geo:point', 'geo:line', 'geo:polygon', 'geo:box', 'geo:json', 'GeoProperty'].includes(
      type as string,
    )
  ) {
    return v;
  }
  if (isLdDatetime(attr)) return renderDate((v as Rec)['@value']);
  switch (type) {
    case 'Text':
      return v === null ? null : pyStr(v);
    case 'DateTime':
    case 'ISO8601':
      return renderDate(v);
    case 'Boolean':
      if (typeof v === 'string' && ['true', 'false'].includes(v.toLowerCase())) {
        return v.toLowerCase() === 'true';
      }
      if (v === 1 || v === 0) return v === 1;
      return typeof v === 'boolean' ? v : null;
    case 'Number':
      if (typeof v === 'number') return v;
      return typeof v === 'string' ? pyFloat(v) : null;
    case 'Integer': {
      if (typeof v === 'number') return Math.trunc(v);
      const f = typeof v === 'string' ? pyFloat(v) : null;
      return f === null || !Number.isFinite(f) ? null : Math.trunc(f);
    }
    case 'Relationship':
      return truthy(v) ? v : (attr.object ?? null);
  }
  if ((type === 'StructuredValue' && Array.isArray(v)) || Array.isArray(v) || type === 'Array') {
    return Array.isArray(v) ? v : null;
  }
  if (type === 'StructuredValue' || isObject(v)) return isObject(v) ? v : null;
  return v;
}

/** reporter/timex.py time_index_priority_list, receipt time last. */
function timeIndex(entity: Rec, custom: string | undefined, received: number): number {
  const attrs = attrNames(entity).map((n) => entity[n]);
  const value = (name: string) => {
    const attr = entity[name];
    return toDatetime(isObject(attr) ? attr.value : undefined);
  };
  const latest = (reps: unknown[]) => {
    const times = reps.map(toDatetime).filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.max(...times) : undefined;
  };
  const meta = (name: string) =>
    latest(
      attrs.map((a) => {
        const md = isObject(a) && isObject(a.metadata) ? a.metadata[name] : undefined;
        return isObject(md) ? md.value : undefined;
      }),
    );
  const ldMeta = (name: string) => latest(attrs.map((a) => (isObject(a) ? a[name] : undefined)));
  const candidates = [
    () => (custom ? value(custom) : undefined),
    () => (custom ? meta(custom) : undefined),
    () => value('TimeInstant'),
    () => meta('TimeInstant'),
    () => value('timestamp'),
    () => meta('timestamp'),
    () => ldMeta('observedAt'),
    () => ldMeta('modifiedAt'),
    () => toDatetime(entity.observedAt),
    () => toDatetime(entity.modifiedAt),
    () => value('dateModified'),
    () => meta('dateModified'),
  ];
  for (const c of candidates) {
    const t = c();
    if (t !== undefined) return t;
  }
  return received;
}

/** The first violation connexion finds checking a notification against the specification. */
function schemaError(body: unknown): string | undefined {
  const typeError = (v: unknown, type: string, path: string) =>
    `${pyRepr(v)} is not of type '${type}'${path ? ` - '${path}'` : ''}`;
  if (!isObject(body)) return typeError(body, 'object', '');
  if (!('data' in body)) return "'data' is a required property";
  if (!Array.isArray(body.data)) return typeError(body.data, 'array', 'data');
  if (body.subscriptionId !== undefined && typeof body.subscriptionId !== 'string') {
    return typeError(body.subscriptionId, 'string', 'subscriptionId');
  }
  for (const [i, entity] of body.data.entries()) {
    const path = `data.${i}`;
    if (!isObject(entity)) return typeError(entity, 'object', path);
    for (const key of ['id', 'type']) {
      if (!(key in entity)) return `'${key}' is a required property - '${path}'`;
    }
    for (const key of ['type', 'id']) {
      if (typeof entity[key] !== 'string')
        return typeError(entity[key], 'string', `${path}.${key}`);
    }
  }
  return undefined;
}

const INT_PARAMS: [string, number][] = [
  ['lastN', 1],
  ['limit', 1],
  ['offset', 0],
];
const ENUMS: [string, string[]][] = [
  ['aggrMethod', ['count', 'sum', 'avg', 'min', 'max']],
  ['aggrPeriod', ['year', 'month', 'day', 'hour', 'minute', 'second']],
  ['options', ['keyValues', 'values']],
  ['geometry', ['point', 'line', 'polygon', 'box']],
];

/** The specification's left-out routes: method and path pattern. */
const LEFT_OUT: [string, RegExp][] = [
  ['GET', /^\/v2\/?$/],
  ['POST', /^\/v2\/op\/query$/],
  ['GET', /^\/v2\/entities$/],
  ['DELETE', /^\/v2\/entities\/[^/]+$/],
  ['GET', /^\/v2\/types\/[^/]+(\/value|\/attrs\/[^/]+(\/value)?)?$/],
  ['DELETE', /^\/v2\/types\/[^/]+$/],
  ['GET', /^\/v2\/attrs(\/value|\/[^/]+(\/value)?)?$/],
  ['GET', /^\/management\/queue\/notifications(\/summary|\/count)?$/],
  ['DELETE', /^\/management\/queue\/notifications$/],
];

/** Starts a QuantumLeap fake on a free loopback port. */
export async function startQuantumLeapFake(): Promise<QuantumLeapFake> {
  const tenants = new Map<string, Row[]>();
  const notifications: ReceivedNotification[] = [];
  let rule: FaultRule | undefined;

  const tenantOf = (req: IncomingMessage) =>
    String(req.headers['fiware-service'] ?? '').toLowerCase();

  /** reporter.py notify, with connexion's checks before it. */
  function notify(req: IncomingMessage, body: unknown): Reply {
    if (body === undefined || body === null || typeof body === 'string') {
      return problem(400, 'Bad Request', 'Request body is not valid JSON');
    }
    const invalid = schemaError(body);
    if (invalid) return problem(400, 'Bad Request', invalid);
    // The reporter edits the entities as it goes; the recorded notification stays as received.
    const data = structuredClone((body as { data: Rec[] }).data);
    const custom = req.headers['fiware-timeindex-attribute'] as string | undefined;
    const received = Date.now();
    const entities: { entity: Rec; index: number }[] = [];
    try {
      for (const entity of data) {
        // _validate_payload: an attribute without value gets a null one.
        for (const name of attrNames(entity)) {
          if (hasValue(entity[name])) continue;
          const attr = entity[name];
          if (!isObject(attr)) throw new InternalError(`${name} has no update()`);
          entity[name] = { ...attr, value: null };
        }
        entities.push({ entity, index: timeIndex(entity, custom, received) });
      }
    } catch (err) {
      if (err instanceof InternalError) return INTERNAL;
      throw err;
    }
    const kept: typeof entities = [];
    try {
      for (const e of entities) {
        // _filter_empty_entities: `'value' in attr`, which is Python's `in` on any value.
        const values = attrNames(e.entity).map((name) => {
          const attr = e.entity[name];
          if (isObject(attr)) return attr.value;
          if (typeof attr === 'string' || Array.isArray(attr)) {
            if (attr.includes('value')) throw new InternalError('string indices must be integers');
            return attr;
          }
          throw new InternalError(`argument of type '${typeof attr}' is not iterable`);
        });
        if (
          !values.some(
            (v) =>
              (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'boolean' || truthy(v),
          )
        ) {
          continue;
        }
        // _filter_no_type_no_value_entities.
        for (const name of attrNames(e.entity)) {
          const attr = e.entity[name];
          if (!isObject(attr) || (!truthy(attr.type) && !truthy(attr.value))) delete e.entity[name];
        }
        kept.push(e);
      }
    } catch (err) {
      if (err instanceof InternalError) return INTERNAL;
      throw err;
    }
    // httputil.fiware_sp and SQLTranslator.insert: one path, or one per entity.
    const header = (req.headers['fiware-servicepath'] as string | undefined) ?? '/';
    const paths = header ? header.replaceAll(' ', '').split(',') : [header];
    if (paths.length !== 1 && paths.length !== kept.length) {
      return {
        status: 400,
        body:
          `Notification not processed or not updated: The header value 'Fiware-ServicePath' for header ${header} is not valid. ` +
          'Multiple servicePath are allowed only if their number match the number of entities',
      };
    }
    const rows = kept.map(({ entity, index }, i): Row => {
      const attrs: Rec = {};
      for (const name of attrNames(entity)) {
        const attr = entity[name] as Rec;
        attrs[name] = dbValue(attr, attrType(attr));
      }
      const servicePath = (paths.length === 1 ? paths[0] : paths[i]) || '/';
      return {
        entityId: entity.id as string,
        entityType: entity.type as string,
        servicePath,
        index,
        attrs,
      };
    });
    const key = tenantOf(req);
    tenants.set(key, [...(tenants.get(key) ?? []), ...rows]);
    return { status: 200, body: 'Notification successfully processed' };
  }

  /** connexion's checks of the query parameters, then reporter._validate_query_params. */
  function checkParams(q: URLSearchParams, attrs: string[] | undefined): Reply | undefined {
    for (const [name, min] of INT_PARAMS) {
      const v = q.get(name);
      if (v === null) continue;
      if (!/^[+-]?\d+$/.test(v.trim())) {
        return problem(
          400,
          'Bad Request',
          `Wrong type, expected 'integer' for query parameter '${name}'`,
        );
      }
      if (Number(v) < min) {
        return problem(400, 'Bad Request', `${Number(v)} is less than the minimum of ${min}`);
      }
    }
    for (const [name, values] of ENUMS) {
      const v = q.get(name);
      if (v !== null && !values.includes(v)) {
        return problem(400, 'Bad Request', `${pyRepr(v)} is not one of ${pyRepr(values)}`);
      }
    }
    const [method, period] = [q.get('aggrMethod'), q.get('aggrPeriod')];
    if (period && !method) {
      const description = 'aggrMethod is compulsory when using aggrPeriod.';
      return { status: 400, body: { error: 'Bad parameters use', description } };
    }
    if (q.get('options')) {
      const description = 'aggrScope and options are not yet implemented.';
      return { status: 501, body: { error: 'Not implemented option', description } };
    }
    if (method && !attrs) {
      const description = `Specified aggrMethod = ${method} but missing attrs parameter.`;
      return { status: 400, body: { error: 'Bad parameters use', description } };
    }
    const geo = ['georel', 'geometry', 'coords'].find((p) => q.has(p));
    if (geo) return notImplemented(geo);
    if (method) return notImplemented('aggrMethod');
    return undefined;
  }

  /**
   * SQLTranslator.query for one entity: its rows, oldest first, with the columns of its entity
   * type's table; undefined for no records (which also covers the query's SQL errors); or the
   * reply to a usage error. `oneAttr`: the 1T1E1A route, which answers a bad date with its 500.
   */
  function select(
    req: IncomingMessage,
    entityId: string,
    q: URLSearchParams,
    attrs: string[] | undefined,
    oneAttr: boolean,
  ): { rows: Row[]; columns: string[] } | Reply | undefined {
    const all = tenants.get(tenantOf(req)) ?? [];
    let type = q.get('type') || undefined;
    if (!type) {
      // _get_entity_type: the types of the id in every table of the tenant, whatever the path.
      const types = [
        ...new Set(all.filter((r) => r.entityId === entityId).map((r) => r.entityType)),
      ];
      if (types.length === 0) return undefined;
      if (types.length > 1) {
        return usageError(
          'AmbiguousNGSIIdError',
          `There are multiple entities with the given entity_id ${entityId}. Please specify entity_type.`,
        );
      }
      type = types[0]!;
    }
    // _parse_date raises InvalidParameterValue: query_1T1ENA answers it, query_1T1E1A lets it
    // reach its catch-all.
    const bounds: number[] = [];
    for (const name of ['fromDate', 'toDate']) {
      const v = q.get(name);
      const ms = v ? parseIso(v) : name === 'fromDate' ? -Infinity : Infinity;
      if (ms !== undefined) {
        bounds.push(ms);
        continue;
      }
      const message = `The parameter value '${v}' for parameter **fromDate** or **toDate** is not valid.`;
      return oneAttr
        ? { status: 500, body: `Something went wrong with QL. Error: ${message}` }
        : usageError('InvalidParameterValue', message, 422);
    }
    const [from, to] = bounds as [number, number];
    // _et2tn: one table per entity type, its name lower-cased.
    const lower = type.toLowerCase();
    const table = all.filter((r) => r.entityType.toLowerCase() === lower);
    if (table.length === 0) return undefined;
    const columns = [...new Set(table.flatMap((r) => Object.keys(r.attrs)))].sort();
    if (attrs?.some((a) => !columns.includes(a))) return undefined;
    // _get_where_clause: `fiware_servicepath ~* '<path>($|/.*)'`, the path read as a regex.
    const path = (req.headers['fiware-servicepath'] as string | undefined) ?? '/';
    let re: RegExp;
    try {
      re = new RegExp(path === '/' ? '^/.*$' : `^(?:${path})(?:$|/.*)$`, 'is');
    } catch {
      return undefined;
    }
    let rows = table.filter(
      (r) =>
        r.entityId === entityId &&
        path !== '' &&
        re.test(r.servicePath) &&
        r.index >= from &&
        r.index <= to,
    );
    // _get_limit and _get_order_group_clause: lastN orders newest first, `limit min(lastN,
    // limit) offset <offset>`, and _format_response turns the rows back to oldest first.
    const int = (name: string) => (q.has(name) ? Number(q.get(name)) : undefined);
    const lastN = int('lastN');
    const limit = Math.min(int('limit') ?? 10000, 10000, lastN ?? Infinity);
    const offset = int('offset') ?? 0;
    rows = rows.sort((a, b) => (lastN ? b.index - a.index : a.index - b.index));
    rows = rows.slice(offset, offset + limit);
    if (lastN) rows.reverse();
    return rows.length > 0 ? { rows, columns } : undefined;
  }

  /** query_1T1E1A and query_1T1ENA, with their `_value` forms. */
  function query(req: IncomingMessage, tail: string[], q: URLSearchParams): Reply {
    const [entityId, ...rest] = tail;
    // The specification's paths: {id}, {id}/value, {id}/attrs/{attr}, {id}/attrs/{attr}/value.
    const oneAttr = rest[0] === 'attrs' && rest.length >= 2;
    const tailOk = oneAttr
      ? rest.length === 2 || (rest.length === 3 && rest[2] === 'value')
      : rest.length === 0 || (rest.length === 1 && rest[0] === 'value');
    if (!entityId || !tailOk) return NO_ROUTE;
    const valuesOnly = rest.at(-1) === 'value' && (oneAttr ? rest.length === 3 : true);
    const attrName = oneAttr ? rest[1]! : undefined;
    const attrs = attrName !== undefined ? [attrName] : q.get('attrs')?.split(',');
    const refused = checkParams(q, attrs);
    if (refused) return refused;
    const found = select(req, entityId, q, attrs, attrName !== undefined);
    if (!found) return NOT_FOUND;
    if (!('rows' in found)) return found;
    const { rows, columns } = found;
    const index = rows.map((r) => isoIndex(r.index));
    const values = (name: string) => rows.map((r) => r.attrs[name] ?? null);
    const head = valuesOnly ? {} : { entityId, entityType: rows[0]!.entityType };
    if (attrName !== undefined) {
      const named = valuesOnly ? {} : { attrName };
      return { status: 200, body: { ...head, ...named, index, values: values(attrName) } };
    }
    const names = attrs ? [...new Set(attrs)].sort() : columns;
    const attributes = names.map((name) => ({ attrName: name, values: values(name) }));
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
    const method = req.method ?? 'GET';
    const isNotify = url.pathname === '/v2/notify';
    const send = (r: Reply) => {
      if (isNotify && method === 'POST') {
        notifications.push({ service, servicePath, body, status: r.status });
      }
      const type =
        isObject(r.body) && 'title' in r.body ? 'application/problem+json' : 'application/json';
      res.writeHead(r.status, { 'Content-Type': type, ...r.headers }).end(JSON.stringify(r.body));
    };
    const fault = rule?.({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      service,
      servicePath,
      body,
    });
    if (fault && 'delayMs' in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
    else if (fault) return send({ status: fault.status, body: fault.body ?? null });
    const route = (m: string, ok: () => Reply) => (method === m ? ok() : METHOD_NOT_ALLOWED);
    if (isNotify) {
      // A body that is no JSON reaches notify as text, which it refuses as connexion does.
      return send(route('POST', () => notify(req, body)));
    }
    if (url.pathname === '/version') {
      return send(route('GET', () => ({ status: 200, body: { version: '1.0.0-fake' } })));
    }
    if (url.pathname === '/health') {
      const health = {
        status: 200,
        body: { status: 'pass' },
        headers: { 'Cache-Control': 'max-age=180' },
      };
      return send(route('GET', () => health));
    }
    if (url.pathname === '/management/config') {
      const description = 'This API method is not yet implemented.';
      return send(
        route('POST', () => ({ status: 501, body: { error: 'Not Implemented', description } })),
      );
    }
    const leftOut = LEFT_OUT.filter(([, re]) => re.test(url.pathname));
    if (leftOut.some(([m]) => m === method)) {
      return send(notImplemented(`${method} ${url.pathname}`));
    }
    if (segs[0] === 'v2' && segs[1] === 'entities' && segs.length > 2) {
      return send(route('GET', () => query(req, segs.slice(2), url.searchParams)));
    }
    send(leftOut.length > 0 ? METHOD_NOT_ALLOWED : NO_ROUTE);
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
