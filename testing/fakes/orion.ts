/**
 * Test support: a contract fake of the Orion Context Broker's NGSI-v2 API, in process, for tests
 * on machines where Orion cannot run. It answers as Orion 4.7 does (the "FIWARE NGSIv2 Orion API
 * Specification", doc/manuals/orion-api.md of telefonicaid/fiware-orion, and Orion's sources
 * where the document is silent) for what this platform and iotagent-node-lib 4.14 use. Most of
 * what it leaves out answers 501 NotImplemented, so that no test passes on behaviour the fake
 * only pretends to have; the few silent gaps are listed at the end.
 *
 * Follows Orion in:
 * - tenants: `Fiware-Service` lower-cased, `[A-Za-z0-9_]`, 50 characters at most, no header is
 *   the default tenant; each tenant has its own entities, subscriptions and registrations;
 * - service paths: an entity belongs to one path and id + type are unique per path, not per
 *   tenant (the same id and type may live in `/a` and `/b`); updates take one path (default `/`,
 *   no `#`), queries up to ten (`/x/#` is the subtree, default `/#`), no empty level; a
 *   subscription keeps its path as a query (default `/#`, so one made without the header sees
 *   the whole tenant) and a PATCH stores the request's path in its place; registrations take one
 *   path without `#`; a GET of a subscription or registration by id with the header finds it
 *   only under that exact path, and a list for `/#` holds them all;
 * - identifiers (1..256 printable ASCII, none of whitespace `&?/#<>"'=;()`), the forbidden
 *   characters `<>"'=;()` in URLs and attribute values (except type `TextUnrestricted`), default
 *   attribute types, `DateTime` values rendered as `YYYY-MM-DDThh:mm:ss.sssZ`, metadata merged on
 *   update unless `overrideMetadata`;
 * - status codes and `{error, description}` bodies, `PartialUpdate` included, 406, 411, 413
 *   (1 MiB), 415, `ParseError`; `{}` where something must be given is `empty payload`, an
 *   unknown attribute property or `op/update` field is refused, registrations are checked with
 *   Orion's messages; `limit=0` answers an empty page; `POST /v2/entities?options=upsert`
 *   answers 204 whether it created or updated (the spec says so, and iotagent-node-lib accepts
 *   nothing else);
 * - notifications: one entity each, only on an actual change (or `forcedUpdate`), filtered by
 *   `condition.attrs`, shaped by `attrs`/`exceptAttrs`, `onlyChangedAttrs` (nothing at all when
 *   none of those attributes changed) and `attrsFormat`, sent as `application/json;
 *   charset=utf-8`, held back by `throttling`, `expires` and `inactive`; headers
 *   `Fiware-Service` (not for the
 *   default tenant), `Fiware-ServicePath` (the entity's), `Fiware-Correlator`
 *   (`<correlator>; cbnotif=<n>`), `Ngsiv2-AttrsFormat`; no initial notification (removed in
 *   Orion 3.2); any HTTP answer counts as delivered (`lastSuccessCode`), only transport errors
 *   and timeouts as failures;
 * - update forwarding (NGSI-v2): an `update` naming an attribute absent locally but registered
 *   for the entity in the same service path goes to `POST <provider url path>/op/update`
 *   (`http://h:1` → `//op/update`, `http://h:1/v2` → `/v2/op/update`, as Orion's parseUrl) with
 *   `{actionType: "update", entities}`, also when the entity does not exist locally; an answer
 *   other than 204 makes the update a 404 NotFound.
 *
 * Leaves out, answering 501 NotImplemented: `q`, `mq`, geo-queries, `orderBy`, `metadata`
 * filters, `options=values|unique|skipForwarding`, builtin attributes (`dateCreated`, ...),
 * `GET /v2`, `POST /v2/op/query|notify`, `/v2/types`, attribute `/value` routes, the admin and
 * statistics routes (`/admin`, `/statistics`, `/cache`, `/log`, `/metrics`), condition
 * `expression` and `alterationTypes`, `notifyOnMetadataChange: false`, custom and MQTT
 * notifications, `covered`, `oneshot`, `maxFailsLimit`, `legacyForwarding`, query-only or no
 * forwarding modes, and `typePattern` in registrations (an `idPattern` other than `.*` there is
 * Orion's own 501 `Unsupported idPattern`).
 * Leaves out silently: query forwarding (a GET answers the local attributes only, where Orion
 * would also ask the providers of registered ones, e.g. an IoT Agent's lazy attributes),
 * update operators (`{"$inc": 1}` is stored as a value), transient entities (`dateExpires` is a
 * plain attribute), the flow control `options=flowControl` asks for, and attribute metadata
 * builtins (`previousValue`, `actionType`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';

/** The request a fault rule sees; `body` is parsed JSON, raw text when not JSON, or undefined. */
export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  service: string | undefined;
  servicePath: string | undefined;
  body: unknown;
}

/** A canned answer, or a delay after which the request is served normally. */
export type FaultReply = { status: number; body?: unknown } | { delayMs: number };

/** Decides, per request, whether to inject a fault; undefined serves the request normally. */
export type FaultRule = (req: FakeRequest) => FaultReply | undefined;

/** A request as the fake received it (headers as sent, undefined when absent). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  service: string | undefined;
  servicePath: string | undefined;
  correlator: string | undefined;
}

/** An NGSI-v2 entity in normalized representation. */
export type NgsiEntity = { id: string; type: string } & Record<string, unknown>;

/** Options of {@link startOrionFake}. */
export interface OrionFakeOptions {
  /** Timeout of notifications and forwards, as Orion's `-httpTimeout` (default 5000 ms). */
  httpTimeoutMs?: number;
  /** Largest accepted request body, as Orion's `-inReqPayloadMaxSize` (default 1 MiB). */
  maxPayloadBytes?: number;
}

/** A running Orion fake. */
export interface OrionFake {
  readonly url: string;
  /** Every request received, in order (cleared by `reset`). */
  readonly requests: RecordedRequest[];
  /** Entities of a tenant ('' or undefined: default), optionally of a service-path query. */
  entities(service?: string, servicePath?: string): NgsiEntity[];
  /** Subscriptions of a tenant as `GET /v2/subscriptions` renders them, plus `servicePath`. */
  subscriptions(service?: string): Record<string, unknown>[];
  /** Registrations of a tenant as `GET /v2/registrations` renders them, plus `servicePath`. */
  registrations(service?: string): Record<string, unknown>[];
  /** Installs (or, with undefined, removes) the fault rule. */
  fault(rule: FaultRule | undefined): void;
  /** Resolves once no notification is in flight. */
  settled(): Promise<void>;
  /** Forgets all tenants, recorded requests and the fault rule. */
  reset(): void;
  /** Aborts what is in flight and stops the server. */
  close(): Promise<void>;
}

type Rec = Record<string, unknown>;
type Query = Record<string, string>;
type Meta = { type: string; value: unknown };
type Attr = Meta & { metadata: Record<string, Meta> };
type Entity = { id: string; type: string; servicePath: string; attrs: Map<string, Attr> };
type Selector = { id?: string; idPattern?: string; type?: string; typePattern?: string };
type Stats = Record<string, string | number>;
type Subscription = {
  id: string;
  paths: string[];
  body: Rec;
  status: string;
  stats: Stats;
  lastMs: number;
  tail: Promise<void>;
};
type Registration = { id: string; path: string; body: Rec; sels: Selector[]; url: string };
type Tenant = {
  entities: Entity[];
  subs: Map<string, Subscription>;
  regs: Map<string, Registration>;
};
type Ctx = {
  method: string;
  q: Query;
  body: unknown;
  key: string;
  tenant: Tenant;
  paths: string[];
  correlator: string;
  token: string | undefined;
  options: Set<string>;
  seq: number;
};
type Action = 'append' | 'appendStrict' | 'update' | 'replace' | 'delete';
type Item = { id: string; type: string | undefined; attrs: Map<string, Attr> };
type Outcome = { label: string; notFound: boolean; failed: string[]; applied: number };
type Forward = { reg: Registration; id: string; type: string; name: string; attr: Attr };
type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

const VERSION = '4.7.0-fake';
const NOT_FOUND_ENTITY = 'The requested entity has not been found. Check type and id';
const TOO_MANY = 'More than one matching entity. Please refine your query';
const FORBIDDEN = new Set('<>"\'=;()');
const ID_FORBIDDEN = new Set('<>"\'=;()&?/#');
const FORMATS = 'normalized keyValues simplifiedNormalized simplifiedKeyValues'.split(' ');
const BUILTINS = ['dateCreated', 'dateModified', 'dateExpires', 'servicePath', 'alterationType'];
const OPTIONS = 'count keyValues upsert append flowControl overrideMetadata forcedUpdate'.split(
  ' ',
);
const UNSUPPORTED_OPTIONS = ['values', 'unique', 'skipForwarding'];
const UNSUPPORTED_PARAMS = ['q', 'mq', 'georel', 'geometry', 'coords', 'orderBy', 'metadata'];
// Query parameters Orion exempts from the forbidden-character check (Simple Query Language,
// regular expressions; rest.cpp uriArgumentGet).
const FREE_PARAMS = new Set(['q', 'mq', 'georel', 'coords', 'idPattern', 'typePattern']);
// Orion's ERROR_DESC_BAD_REQUEST_EMPTY_PAYLOAD, for `{}` where something must be given.
const EMPTY_PAYLOAD = 'empty payload';
// The keys of an attribute in normalized representation (parseContextAttribute).
const ATTR_KEYS = new Set(['type', 'value', 'metadata']);
const ACTIONS: Action[] = ['append', 'appendStrict', 'update', 'delete', 'replace'];
// Orion still takes NGSIv1's action types: APPEND, APPEND_STRICT, UPDATE, DELETE, REPLACE.
const legacy = (a: Action) => a.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
const ISO_DATE =
  /^(\d{4}-\d{2}-\d{2})(?:T(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

class NgsiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
  ) {
    super(description);
  }
}
const badRequest = (d: string) => new NgsiError(400, 'BadRequest', d);
const notImplemented = (what: string) =>
  new NgsiError(501, 'NotImplemented', `the Orion fake does not implement ${what}`);
const notFound = (d = NOT_FOUND_ENTITY) => new NgsiError(404, 'NotFound', d);

const isObject = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);
// Orion renders subscription timestamps at second precision, as "...:ss.00Z" (isodate2str).
const stamp = () => new Date().toISOString().slice(0, 19) + '.00Z';
// Orion's ids are MongoDB ObjectIds: 24 hexadecimal digits.
const newId = () => randomBytes(12).toString('hex');

/** Key-sorted JSON, so that reordered metadata is not taken for a change. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (!isObject(v)) return JSON.stringify(v) ?? 'null';
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable(v[k])}`)
    .join(',')}}`;
}

function checkIdentifier(kind: string, v: unknown): string {
  if (typeof v !== 'string') throw badRequest(`Invalid JSON type for ${kind}`);
  if (v.length === 0) throw badRequest(`${kind} length: 0, min length supported: 1`);
  if (v.length > 256) throw badRequest(`${kind} length: ${v.length}, max length supported: 256`);
  for (const c of v) {
    const code = c.charCodeAt(0);
    if (code <= 0x20 || code >= 0x7f || ID_FORBIDDEN.has(c)) {
      throw badRequest(`Invalid characters in ${kind}`);
    }
  }
  return v;
}

const hasForbidden = (s: string) => [...s].some((c) => FORBIDDEN.has(c));
/** Whether an identifier has a character Orion refuses in one (see {@link checkIdentifier}). */
const hasForbiddenId = (s: string) =>
  [...s].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) >= 0x7f || ID_FORBIDDEN.has(c));

function checkValue(v: unknown, what: string): void {
  if (typeof v === 'string' && hasForbidden(v)) throw badRequest(`Invalid characters in ${what}`);
  if (Array.isArray(v)) v.forEach((x) => checkValue(x, what));
  else if (isObject(v)) Object.values(v).forEach((x) => checkValue(x, what));
}

function defaultType(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return 'Text';
  if (typeof v === 'number') return 'Number';
  if (typeof v === 'boolean') return 'Boolean';
  return 'StructuredValue';
}

/** Orion stores DateTime values as instants and renders them back in one format. */
function normalizeDate(v: unknown): unknown {
  if (v === null) return v;
  const m = typeof v === 'string' ? ISO_DATE.exec(v) : null;
  if (!m) throw badRequest('date has invalid format');
  const [, date, hh = '00', mm = '00', ss = '00', frac = '0', tz = 'Z'] = m;
  const digits = tz.slice(1).replace(':', '');
  const zone = tz === 'Z' ? 'Z' : `${tz[0]}${digits.slice(0, 2)}:${digits.slice(2) || '00'}`;
  const ms = Date.parse(`${date}T${hh}:${mm}:${ss}.${frac.padEnd(3, '0').slice(0, 3)}${zone}`);
  if (Number.isNaN(ms)) throw badRequest('date has invalid format');
  return new Date(ms).toISOString();
}

function parseTyped(kind: 'attribute' | 'metadata', raw: Rec): Meta {
  const value = raw.value === undefined ? null : raw.value;
  const type =
    raw.type === undefined ? defaultType(value) : checkIdentifier(`${kind} type`, raw.type);
  if (type !== 'TextUnrestricted') checkValue(value, `${kind} value`);
  return { type, value: type === 'DateTime' || type === 'ISO8601' ? normalizeDate(value) : value };
}

function parseAttr(name: string, raw: unknown, keyValues: boolean): Attr {
  checkIdentifier('attribute name', name);
  if (keyValues) return { ...parseTyped('attribute', { value: raw }), metadata: {} };
  if (!isObject(raw)) {
    throw badRequest('attribute must be a JSON object, unless keyValues option is used');
  }
  if (Object.keys(raw).some((k) => !ATTR_KEYS.has(k))) {
    throw badRequest('unrecognized property for context attribute');
  }
  const metadata: Record<string, Meta> = {};
  if (raw.metadata !== undefined && !isObject(raw.metadata)) {
    throw badRequest('metadata must be a JSON object');
  }
  for (const [k, md] of Object.entries(raw.metadata ?? {})) {
    checkIdentifier('metadata name', k);
    if (!isObject(md)) throw badRequest('metadata must be a JSON object');
    metadata[k] = parseTyped('metadata', md);
  }
  return { ...parseTyped('attribute', raw), metadata };
}

/** The attributes of a payload; `id` and `type` are the entity's own only when `withIdType`. */
function parseAttrs(body: unknown, keyValues: boolean, withIdType: boolean): Map<string, Attr> {
  if (!isObject(body)) throw badRequest('not a JSON object');
  if (Object.keys(body).length === 0) throw badRequest(EMPTY_PAYLOAD);
  const attrs = new Map<string, Attr>();
  for (const [name, raw] of Object.entries(body)) {
    if (name === 'id' || name === 'type') {
      if (withIdType) continue;
      throw badRequest(`entity ${name} specified in payload`);
    }
    attrs.set(name, parseAttr(name, raw, keyValues));
  }
  return attrs;
}

function parseEntity(body: unknown, keyValues: boolean): Item {
  if (!isObject(body)) throw badRequest('not a JSON object');
  if (Object.keys(body).length === 0) throw badRequest(EMPTY_PAYLOAD);
  if (body.id === undefined) throw badRequest('no entity id specified');
  const id = checkIdentifier('entity id', body.id);
  const type = body.type === undefined ? undefined : checkIdentifier('entity type', body.type);
  return { id, type, attrs: parseAttrs(body, keyValues, true) };
}

/** Splits and checks a Fiware-ServicePath header, as Orion does for every request. */
function parsePaths(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const paths = raw.split(',').map((p) => p.trim().replace(/(.)\/+$/, '$1'));
  if (paths.length > 10) {
    throw badRequest('too many service paths - a maximum of ten service paths is allowed');
  }
  for (const p of paths) {
    if (!p.startsWith('/')) {
      throw badRequest('Only /absolute/ Service Paths allowed [a service path must begin with /]');
    }
    const comps = p === '/' ? [] : p.slice(1).split('/');
    if (comps.length > 10) throw badRequest('too many components in ServicePath');
    comps.forEach((c, i) => {
      if (c.length > 50) throw badRequest('component-name too long in ServicePath');
      if (c.length === 0) throw badRequest('empty component in ServicePath');
      if (!/^[A-Za-z0-9_]+$/.test(c) && !(c === '#' && i === comps.length - 1)) {
        throw badRequest('a component of ServicePath contains an illegal character');
      }
    });
  }
  return paths;
}

/** The one path of an update or registration (no `#`), or of a subscription (`#` allowed). */
function singlePath(paths: string[], fallback: string, hashAllowed = false): string {
  if (paths.length > 1) throw badRequest('more than one service path in context update request');
  const p = paths[0] ?? fallback;
  if (!hashAllowed && p.endsWith('#')) {
    throw badRequest('hierarchical service paths (#) are not allowed in this request');
  }
  return p;
}

/** Whether an entity's path is within a query's paths (`/x/#` is `/x` and below). */
function inScope(scope: string[], path: string): boolean {
  return scope.some((s) => {
    if (!s.endsWith('#')) return s === path;
    const base = s.slice(0, -2);
    return base === '' || path === base || path.startsWith(`${base}/`);
  });
}

function selects(sels: Selector[], id: string, type: string): boolean {
  return sels.some(
    (s) =>
      (s.id !== undefined ? s.id === id : new RegExp(s.idPattern ?? '.*').test(id)) &&
      (s.type !== undefined
        ? s.type === type
        : s.typePattern === undefined || new RegExp(s.typePattern).test(type)),
  );
}

function parseSelectors(raw: unknown): Selector[] {
  if (!Array.isArray(raw) || raw.length === 0) throw badRequest('no entities specified');
  return raw.map((s) => {
    if (!isObject(s)) throw badRequest('entity selector must be a JSON object');
    if ((s.id === undefined) === (s.idPattern === undefined)) {
      throw badRequest('exactly one of /id/ and /idPattern/ must be present');
    }
    if (s.type !== undefined && s.typePattern !== undefined) {
      throw badRequest('/type/ and /typePattern/ cannot be used at the same time');
    }
    const sel: Selector = {};
    if (s.id !== undefined) sel.id = checkIdentifier('entity id', s.id);
    if (s.type !== undefined) sel.type = checkIdentifier('entity type', s.type);
    for (const k of ['idPattern', 'typePattern'] as const) {
      if (s[k] === undefined) continue;
      sel[k] = String(s[k]);
      try {
        new RegExp(sel[k]);
      } catch {
        throw badRequest(`Invalid regex for entity ${k}`);
      }
    }
    return sel;
  });
}

function stringList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw badRequest(`${what} must be an array of strings`);
  }
  if (v.some((x) => BUILTINS.includes(x))) throw notImplemented(`builtin attributes in ${what}`);
  return v as string[];
}

function httpUrl(v: unknown, what: string): string {
  const ok = typeof v === 'string' && /^https?:\/\/[^/\s]+/.test(v) && URL.canParse(v);
  if (!ok) throw badRequest(`Invalid URL parsing ${what} url`);
  return v;
}

/** Validates a subscription (as created, or merged with a PATCH); stored as given. */
function checkSubscription(b: unknown): Rec {
  if (!isObject(b)) throw badRequest('not a JSON object');
  const { subject: s, notification: n } = b;
  if (!isObject(s)) throw badRequest('no subject for subscription specified');
  if (!isObject(n)) throw badRequest('no notification for subscription specified');
  parseSelectors(s.entities);
  if (s.condition !== undefined) {
    const c = s.condition;
    if (!isObject(c) || Object.keys(c).length === 0) throw badRequest('condition is empty');
    const other = Object.keys(c).find((k) => k !== 'attrs' && k !== 'notifyOnMetadataChange');
    if (other) throw notImplemented(`condition.${other}`);
    if (c.notifyOnMetadataChange === false) throw notImplemented('notifyOnMetadataChange false');
    if (c.attrs !== undefined) stringList(c.attrs, 'condition attrs');
  }
  const other = ['httpCustom', 'mqtt', 'mqttCustom', 'covered', 'maxFailsLimit', 'metadata'].find(
    (k) => n[k] !== undefined && n[k] !== false,
  );
  if (other) throw notImplemented(`notification.${other}`);
  if (!isObject(n.http)) throw badRequest('http notification is missing');
  httpUrl(n.http.url, 'notification');
  if (n.attrs !== undefined && n.exceptAttrs !== undefined) {
    throw badRequest('http notification has attrs and exceptAttrs');
  }
  if (n.attrs !== undefined) stringList(n.attrs, 'notification attrs');
  if (n.exceptAttrs !== undefined) stringList(n.exceptAttrs, 'exceptAttrs');
  if (n.attrsFormat !== undefined && !FORMATS.includes(String(n.attrsFormat))) {
    throw badRequest(`invalid attrsFormat, accepted values: ${FORMATS.join(', ')}`);
  }
  if (b.status === 'oneshot') throw notImplemented('oneshot subscriptions');
  if (b.status !== undefined && b.status !== 'active' && b.status !== 'inactive') {
    throw badRequest('status is not valid: it has to be either active, inactive or oneshot');
  }
  if (b.expires !== undefined && expiresMs(b.expires) === undefined) {
    throw badRequest('expires is not a valid ISO8601 date');
  }
  if (b.throttling !== undefined && !(typeof b.throttling === 'number' && b.throttling >= 0)) {
    throw badRequest('throttling must be a non-negative number');
  }
  if (b.description !== undefined && String(b.description).length > 1024) {
    throw badRequest('description is longer than 1024 characters');
  }
  return b;
}

/**
 * Validates a registration in the order of Orion's parseRegistration, with its messages
 * (test/functionalTest/cases/3004_v2_reg_create/v2_reg_create_errors.test).
 */
function checkRegistration(b: unknown): { sels: Selector[]; url: string } {
  if (!isObject(b)) throw badRequest('not a JSON object');
  if (Object.keys(b).length === 0) throw badRequest(EMPTY_PAYLOAD);
  const { description, dataProvided: dp, provider: p, status } = b;
  if (description !== undefined) {
    if (typeof description !== 'string') throw badRequest('invalid description');
    if (description.length > 1024) throw badRequest('max description length exceeded');
    if (hasForbidden(description)) throw badRequest('forbidden characters in description');
  }
  if (dp === undefined) throw badRequest('the field /dataProvided/ is missing in payload');
  if (!isObject(dp)) throw badRequest('/dataProvided/ must be a JSON object');
  if (Object.keys(dp).length === 0) throw badRequest('/dataProvided/ is empty');
  if (!Array.isArray(dp.entities)) throw badRequest('/entities/ is not an array');
  const sels = dp.entities.map((e): Selector => {
    const vec = '/entities/ vector item';
    if (!isObject(e)) throw badRequest(`${vec} is not an object`);
    if (e.id === undefined && e.idPattern === undefined) {
      throw badRequest(`${vec} does not have /id/ nor /idPattern/`);
    }
    if (e.id !== undefined && e.idPattern !== undefined) {
      throw badRequest(`${vec} has both /id/ and /idPattern/`);
    }
    const sel: Selector = {};
    if (e.id !== undefined) {
      if (typeof e.id !== 'string') throw badRequest(`${vec} /id/ is not a string`);
      if (e.id === '') throw badRequest('/entities/ element id is empty');
      if (e.id.length > 256) throw badRequest(`max id length exceeded in ${vec} /id/`);
      if (hasForbiddenId(e.id)) throw badRequest(`forbidden characters in ${vec} /id/`);
      sel.id = e.id;
    } else {
      if (typeof e.idPattern !== 'string') throw badRequest(`${vec} /idPattern/ is not a string`);
      if (e.idPattern === '') throw badRequest(`${vec} /idPattern/ is empty`);
      if (e.idPattern !== '.*') throw new NgsiError(501, 'NotImplemented', 'Unsupported idPattern');
      sel.idPattern = e.idPattern;
    }
    if (e.type !== undefined && e.typePattern !== undefined) {
      throw badRequest('/entities/ element has both /type/ and /typePattern/');
    }
    if (e.type !== undefined) {
      if (typeof e.type !== 'string') throw badRequest(`${vec} type is not a string`);
      if (e.type === '') throw badRequest('entity type length: 0, min length supported: 1');
      if (e.type.length > 256) throw badRequest(`max type length exceeded in ${vec} /type/`);
      if (hasForbiddenId(e.type)) throw badRequest(`forbidden characters in ${vec} /type/`);
      sel.type = e.type;
    }
    if (e.typePattern !== undefined) {
      if (typeof e.typePattern !== 'string') {
        throw badRequest(`${vec} /typePattern/ is not a string`);
      }
      if (e.typePattern === '') throw badRequest(`${vec} /typePattern/ is empty`);
      throw notImplemented('typePattern in registrations');
    }
    return sel;
  });
  if (dp.attrs !== undefined) {
    if (!Array.isArray(dp.attrs)) throw badRequest('the field /attrs/ must be a JSON array');
    if (dp.attrs.some((a) => typeof a !== 'string')) {
      throw badRequest('only JSON Strings allowed in string vector /attrs/');
    }
    if (dp.attrs.includes('')) throw badRequest('empty string found in string vector /attrs/');
    stringList(dp.attrs, 'dataProvided attrs');
  }
  if (p === undefined) throw badRequest('the field /provider/ is missing in payload');
  if (!isObject(p)) throw badRequest('/provider/ must be a JSON object');
  if (Object.keys(p).length === 0) throw badRequest('/provider/ empty');
  if (p.http === undefined) throw badRequest('/provider/ must contain a field /http/');
  const mode = p.supportedForwardingMode;
  if (mode !== undefined) {
    if (typeof mode !== 'string') {
      throw badRequest('/supportedForwardingMode/ must be a JSON string');
    }
    if (!['all', 'none', 'query', 'update'].includes(mode)) {
      throw badRequest('invalid value of /supportedForwardingMode/');
    }
  }
  if (!isObject(p.http)) throw badRequest('/http/ must be a JSON object');
  const url = p.http.url;
  if (url === undefined) throw badRequest('/http/ must contain a field /url/');
  if (typeof url !== 'string') throw badRequest('/url/ field of /http/ must be a JSON string');
  if (url === '') throw badRequest('/url/ field of /http/ cannot be the empty string');
  if (!/^https?:\/\/[^/\s]+/.test(url) || !URL.canParse(url)) {
    throw badRequest('/url/ field of /http/ is invalid');
  }
  if (status !== undefined) {
    if (typeof status !== 'string') throw badRequest('/status/ must be a string');
    if (status !== 'active' && status !== 'inactive')
      throw badRequest('invalid value for /status/');
  }
  if (p.legacyForwarding === true) throw notImplemented('legacyForwarding');
  if (mode === 'none' || mode === 'query') throw notImplemented(`supportedForwardingMode ${mode}`);
  return { sels, url };
}

/** `expires` as an instant: any ISO 8601 form Orion's parse8601Time takes, offsets included. */
function expiresMs(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    return Date.parse(normalizeDate(v) as string);
  } catch {
    return undefined;
  }
}

const expired = (b: Rec) => b.expires !== undefined && expiresMs(b.expires)! < Date.now();
// Orion stores `expires` as an instant and renders it in UTC with milliseconds (isodate2str).
const renderExpires = (v: unknown) => new Date(expiresMs(v)!).toISOString();

function renderSubscription(s: Subscription): Rec {
  const subject = s.body.subject as Rec;
  const n = s.body.notification as Rec;
  const { expires, throttling, description } = s.body;
  return {
    id: s.id,
    ...(description !== undefined && { description }),
    subject: {
      entities: clone(subject.entities),
      condition: { attrs: [], ...clone(subject.condition as Rec), notifyOnMetadataChange: true },
    },
    notification: {
      ...(n.exceptAttrs ? { exceptAttrs: clone(n.exceptAttrs) } : { attrs: clone(n.attrs ?? []) }),
      onlyChangedAttrs: n.onlyChangedAttrs === true,
      attrsFormat: n.attrsFormat ?? 'normalized',
      http: clone(n.http),
      covered: false,
      ...s.stats,
    },
    ...(expires !== undefined && { expires: renderExpires(expires) }),
    status: expired(s.body) ? 'expired' : s.status,
    ...(throttling !== undefined && { throttling }),
  };
}

function renderRegistration(r: Registration): Rec {
  const { description, expires, dataProvided } = r.body;
  const provider = r.body.provider as Rec;
  return {
    id: r.id,
    ...(description !== undefined && { description }),
    dataProvided: clone(dataProvided),
    provider: {
      http: { url: r.url },
      supportedForwardingMode: provider.supportedForwardingMode ?? 'all',
      legacyForwarding: false,
    },
    ...(expires !== undefined && { expires }),
    status: 'active',
  };
}

/** Attributes to render: all (minus `except`), or those named, in the order named. */
function pick(e: Entity, names?: string[], except?: string[]): [string, Attr][] {
  if (!names?.length || names.includes('*')) {
    return [...e.attrs].filter(([n]) => !except?.includes(n));
  }
  return names.flatMap((n): [string, Attr][] => {
    const a = e.attrs.get(n);
    return a ? [[n, a]] : [];
  });
}

function render(e: Entity, attrs: [string, Attr][], format: string, withIdType: boolean) {
  const out: Rec = withIdType ? { id: e.id, type: e.type } : {};
  for (const [n, a] of attrs) out[n] = format === 'keyValues' ? clone(a.value) : clone(a);
  return out;
}

function listReply(items: unknown[], ctx: Ctx): Reply {
  const q = ctx.q;
  const num = (v: string | undefined, what: string, dflt: number, max: number) => {
    if (v === undefined) return dflt;
    const bad = `Bad pagination ${what}: /${v}/ `;
    if (!/^\d+$/.test(v)) throw badRequest(`${bad}[must be a decimal number]`);
    if (Number(v) > max) throw badRequest(`${bad}[max: ${max}]`);
    return Number(v);
  };
  // limit=0 answers an empty page (with the count, if asked), as Orion does since 3.7 (#1492).
  const limit = num(q.limit, 'limit', 20, 1000);
  const offset = num(q.offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
  const headers: Record<string, string> = {};
  if (ctx.options.has('count')) headers['Fiware-Total-Count'] = String(items.length);
  return { status: 200, body: items.slice(offset, offset + limit), headers };
}

/** POSTs JSON; resolves with the status, rejects on transport errors and the timeout. */
function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  signal: AbortSignal,
) {
  return new Promise<number>((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const length = String(Buffer.byteLength(body));
    const req = send(url, {
      method: 'POST',
      headers: { ...headers, 'Content-Length': length },
      signal,
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('Timeout was reached')));
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts an Orion fake on a free loopback port. */
export async function startOrionFake(opts: OrionFakeOptions = {}): Promise<OrionFake> {
  const httpTimeoutMs = opts.httpTimeoutMs ?? 5000;
  const maxPayload = opts.maxPayloadBytes ?? 1024 * 1024;
  const started = Date.now();
  const tenants = new Map<string, Tenant>();
  const requests: RecordedRequest[] = [];
  const inflight = new Set<Promise<void>>();
  const aborter = new AbortController();
  let rule: FaultRule | undefined;

  const tenantOf = (key: string): Tenant => {
    let t = tenants.get(key);
    if (!t) tenants.set(key, (t = { entities: [], subs: new Map(), regs: new Map() }));
    return t;
  };
  const updatePath = (ctx: Ctx) => singlePath(ctx.paths, '/');

  /** Queues a notification; never throws into the request, records the outcome instead. */
  function deliver(ctx: Ctx, sub: Subscription, e: Entity, payload: unknown): void {
    const n = sub.body.notification as Rec;
    const http = n.http as Rec;
    const headers: Record<string, string> = {
      'Content-Type': 'application/json; charset=utf-8',
      Accept: 'application/json',
      'User-Agent': `orion/${VERSION}`,
      'Fiware-ServicePath': e.servicePath,
      'Fiware-Correlator': `${ctx.correlator}; cbnotif=${++ctx.seq}`,
      'Ngsiv2-AttrsFormat': String(n.attrsFormat ?? 'normalized'),
    };
    if (ctx.key !== '') headers['Fiware-Service'] = ctx.key;
    if (ctx.token) headers['X-Auth-Token'] = ctx.token;
    sub.stats.timesSent = Number(sub.stats.timesSent ?? 0) + 1;
    sub.stats.lastNotification = stamp();
    sub.lastMs = Date.now();
    const body = JSON.stringify(payload);
    const timeout = Number(http.timeout) || httpTimeoutMs;
    // One queue per subscription keeps its notifications in order, as receivers expect.
    const run = sub.tail.then(async () => {
      try {
        const code = await post(String(http.url), headers, body, timeout, aborter.signal);
        Object.assign(sub.stats, { lastSuccess: stamp(), lastSuccessCode: code });
        delete sub.stats.failsCounter;
      } catch (err) {
        const reason =
          err instanceof Error && err.message === 'Timeout was reached'
            ? err.message
            : "Couldn't connect to server";
        const failsCounter = Number(sub.stats.failsCounter ?? 0) + 1;
        Object.assign(sub.stats, { lastFailure: stamp(), lastFailureReason: reason, failsCounter });
      }
    });
    sub.tail = run;
    inflight.add(run);
    void run.finally(() => inflight.delete(run));
  }

  /** Notifies the subscriptions an entity change (`changed`: attribute names) triggers. */
  function notify(ctx: Ctx, e: Entity, changed: string[]): void {
    for (const sub of ctx.tenant.subs.values()) {
      const subject = sub.body.subject as Rec;
      const n = sub.body.notification as Rec;
      const condAttrs = ((subject.condition as Rec | undefined)?.attrs ?? []) as string[];
      if (sub.status !== 'active' || expired(sub.body) || !inScope(sub.paths, e.servicePath)) {
        continue;
      }
      if (!selects(subject.entities as Selector[], e.id, e.type)) continue;
      if (condAttrs.length > 0 && !condAttrs.some((a) => changed.includes(a))) continue;
      const throttling = Number(sub.body.throttling ?? 0);
      if (throttling > 0 && Date.now() - sub.lastMs < throttling * 1000) continue;
      let attrs = pick(e, n.attrs as string[] | undefined, n.exceptAttrs as string[] | undefined);
      if (n.onlyChangedAttrs === true) {
        attrs = attrs.filter(([k]) => changed.includes(k));
        // Nothing the subscription notifies has changed: Orion sends nothing at all.
        if (attrs.length === 0) continue;
      }
      const format = String(n.attrsFormat ?? 'normalized');
      // The simplified formats are the plain ones without the {subscriptionId, data} envelope.
      const plain = { simplifiedNormalized: 'normalized', simplifiedKeyValues: 'keyValues' };
      const data = render(e, attrs, plain[format as keyof typeof plain] ?? format, true);
      const envelope = !(format in plain);
      deliver(ctx, sub, e, envelope ? { subscriptionId: sub.id, data: [data] } : data);
    }
  }

  /** The registration providing `name` of an entity in the update's service path, if any. */
  function providerFor(ctx: Ctx, id: string, type: string | undefined, name: string) {
    for (const reg of ctx.tenant.regs.values()) {
      const dp = reg.body.dataProvided as Rec;
      const attrs = (dp.attrs ?? []) as string[];
      if (reg.path !== updatePath(ctx)) continue;
      if (attrs.length > 0 && !attrs.includes(name)) continue;
      const sel = reg.sels.find(
        (s) => (s.id === undefined || s.id === id) && (!s.type || !type || s.type === type),
      );
      if (sel) return { reg, type: type ?? sel.type ?? '' };
    }
    return undefined;
  }

  function find(ctx: Ctx, id: string, type: string | undefined, scope: string[]) {
    const found = ctx.tenant.entities.filter(
      (e) =>
        e.id === id && inScope(scope, e.servicePath) && (type === undefined || e.type === type),
    );
    if (found.length > 1) throw new NgsiError(409, 'TooManyResults', TOO_MANY);
    return found[0];
  }
  const findForUpdate = (ctx: Ctx, id: string, type: string | undefined) =>
    find(ctx, id, type, [updatePath(ctx)]);
  function findForQuery(ctx: Ctx, id: string, type: string | undefined): Entity {
    const e = find(ctx, id, type, ctx.paths.length ? ctx.paths : ['/#']);
    if (!e) throw notFound();
    return e;
  }

  /**
   * One entity of an update, as Orion's processContextElement: applies what it can, queues
   * what registrations provide into `forwards`, and reports what failed.
   */
  function apply(ctx: Ctx, action: Action, it: Item, create: boolean, forwards: Forward[]) {
    const label = it.type === undefined ? it.id : `${it.id}/${it.type}`;
    const out: Outcome = { label, notFound: false, failed: [], applied: 0 };
    const e = findForUpdate(ctx, it.id, it.type);
    if (!e) {
      if (create && (action === 'append' || action === 'appendStrict')) {
        const type = it.type ?? 'Thing';
        const ne = { id: it.id, type, servicePath: updatePath(ctx), attrs: new Map(it.attrs) };
        ctx.tenant.entities.push(ne);
        out.applied = it.attrs.size;
        notify(ctx, ne, [...it.attrs.keys()]);
        return out;
      }
      const queued = forwards.length;
      for (const [name, attr] of action === 'update' ? it.attrs : []) {
        const p = providerFor(ctx, it.id, it.type, name);
        if (p) forwards.push({ reg: p.reg, id: it.id, type: p.type, name, attr });
        else out.failed.push(name);
      }
      out.notFound = forwards.length === queued || out.failed.length > 0;
      return out;
    }
    if (action === 'delete' && it.attrs.size === 0) {
      ctx.tenant.entities.splice(ctx.tenant.entities.indexOf(e), 1);
      out.applied = 1;
      return out;
    }
    const before = new Map([...e.attrs].map(([n, a]) => [n, stable(a)]));
    const local: string[] = [];
    if (action === 'replace') e.attrs.clear();
    for (const [name, a] of it.attrs) {
      const old = e.attrs.get(name);
      if (action === 'delete' ? !old : action === 'appendStrict' && old) {
        out.failed.push(name);
      } else if (action === 'delete') {
        e.attrs.delete(name);
        local.push(name);
      } else if (action === 'update' && !old) {
        const p = providerFor(ctx, e.id, e.type, name);
        if (p) forwards.push({ reg: p.reg, id: e.id, type: e.type, name, attr: a });
        else out.failed.push(name);
      } else {
        // Orion keeps the metadata a request does not mention, unless overrideMetadata.
        const keep = old && !ctx.options.has('overrideMetadata') ? old.metadata : {};
        e.attrs.set(name, { ...a, metadata: { ...keep, ...a.metadata } });
        local.push(name);
      }
    }
    out.applied = local.length;
    const names = new Set([...before.keys(), ...e.attrs.keys()]);
    const now = (n: string) => (e.attrs.has(n) ? stable(e.attrs.get(n)) : undefined);
    const changed = [...names].filter((n) => before.get(n) !== now(n));
    const trigger = ctx.options.has('forcedUpdate') ? local : changed;
    if (trigger.length > 0) notify(ctx, e, trigger);
    return out;
  }

  /** The error Orion answers for the outcomes of an update, if any part failed. */
  function verdict(action: Action, outcomes: Outcome[], single: boolean): NgsiError | undefined {
    const failing = outcomes.filter((o) => o.notFound || o.failed.length > 0);
    if (failing.length === 0) return undefined;
    if (single && outcomes[0]?.notFound) return notFound();
    const text =
      (action === 'appendStrict'
        ? 'one or more of the attributes in the request already exist: '
        : 'do not exist: ') +
      failing
        .map((o) => `${o.label} - ${o.notFound ? '[entity itself]' : `[ ${o.failed.join(', ')} ]`}`)
        .join(', ');
    if (outcomes.every((o) => o.notFound)) return notFound(text);
    const partial = outcomes.some((o) => !o.notFound && o.applied > 0);
    return new NgsiError(422, partial ? 'PartialUpdate' : 'Unprocessable', text);
  }

  /** Sends the forwarded parts to their providers; false when one did not answer 204. */
  async function forward(ctx: Ctx, forwards: Forward[]): Promise<boolean> {
    let ok = true;
    for (const reg of new Set(forwards.map((f) => f.reg))) {
      const entities: Rec[] = [];
      for (const f of forwards.filter((x) => x.reg === reg)) {
        let ent = entities.find((x) => x.id === f.id && x.type === f.type);
        if (!ent) entities.push((ent = { id: f.id, type: f.type }));
        ent[f.name] = clone(f.attr);
      }
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        Accept: 'application/json',
        'Fiware-ServicePath': updatePath(ctx),
        'Fiware-Correlator': ctx.correlator,
      };
      if (ctx.key !== '') headers['Fiware-Service'] = ctx.key;
      if (ctx.token) headers['X-Auth-Token'] = ctx.token;
      // Orion's parseUrl: the path of the provider URL, "/" when it has none.
      const u = new URL(reg.url);
      const prefix = u.pathname.replace(/\/+$/, '') || '/';
      const body = JSON.stringify({ actionType: 'update', entities });
      const target = `${u.origin}${prefix}/op/update`;
      const code = await post(target, headers, body, httpTimeoutMs, aborter.signal).catch(() => 0);
      if (code !== 204) ok = false;
    }
    return ok;
  }

  /** Runs the updates of a request, forwards, and turns the outcomes into Orion's answer. */
  async function update(ctx: Ctx, action: Action, items: Item[], create: boolean, single: boolean) {
    const forwards: Forward[] = [];
    const outcomes = items.map((it) => apply(ctx, action, it, create, forwards));
    if (forwards.length > 0 && !(await forward(ctx, forwards))) throw notFound();
    const err = verdict(action, outcomes, single);
    if (err) throw err;
    return { status: 204 };
  }

  const listParam = (v: string | undefined) => v?.split(',');
  const formatOf = (ctx: Ctx) => (ctx.options.has('keyValues') ? 'keyValues' : 'normalized');

  function getEntities(ctx: Ctx): Reply {
    const q = ctx.q;
    if (q.id !== undefined && q.idPattern !== undefined) {
      throw badRequest('Incompatible parameters: id, IdPattern');
    }
    if (q.type !== undefined && q.typePattern !== undefined) {
      throw badRequest('Incompatible parameters: type, typePattern');
    }
    const ids = q.id?.split(',') ?? [undefined];
    const types = q.type?.split(',') ?? [undefined];
    const sels = ids.flatMap((id) =>
      types.map((type) => ({ id, type, idPattern: q.idPattern, typePattern: q.typePattern })),
    );
    for (const p of [q.idPattern, q.typePattern]) {
      try {
        if (p !== undefined) new RegExp(p);
      } catch {
        throw badRequest('Invalid regex for entity idPattern or typePattern');
      }
    }
    if (q.attrs !== undefined) stringList(q.attrs.split(','), 'attrs');
    const scope = ctx.paths.length ? ctx.paths : ['/#'];
    const items = ctx.tenant.entities
      .filter((e) => inScope(scope, e.servicePath) && selects(sels, e.id, e.type))
      .map((e) => render(e, pick(e, listParam(q.attrs)), formatOf(ctx), true));
    return listReply(items, ctx);
  }

  async function entitiesRoute(ctx: Ctx, segs: string[]) {
    const { method, q: query, body } = ctx;
    const kv = ctx.options.has('keyValues');
    const [id, sub, attrName, ...rest] = segs;
    const type = query.type;
    if (id === undefined) {
      if (method === 'GET') return getEntities(ctx);
      allow(method, ['GET', 'POST']);
      const ent = parseEntity(body, kv);
      ent.type ??= 'Thing';
      const headers = { Location: `/v2/entities/${ent.id}?type=${ent.type}` };
      if (ctx.options.has('upsert')) {
        await update(ctx, 'append', [ent], true, true);
        return { status: 204, headers };
      }
      if (findForUpdate(ctx, ent.id, ent.type)) {
        throw new NgsiError(422, 'Unprocessable', 'Already Exists');
      }
      apply(ctx, 'append', ent, true, []);
      return { status: 201, headers };
    }
    checkIdentifier('entity id', id);
    if (query.attrs !== undefined) stringList(query.attrs.split(','), 'attrs');
    if (sub === undefined) {
      if (method === 'GET') {
        const e = findForQuery(ctx, id, type);
        return {
          status: 200,
          body: render(e, pick(e, listParam(query.attrs)), formatOf(ctx), true),
        };
      }
      allow(method, ['GET', 'DELETE']);
      return update(ctx, 'delete', [{ id, type, attrs: new Map() }], false, true);
    }
    if (sub !== 'attrs') throw serviceNotFound(['v2', 'entities', ...segs]);
    if (attrName === undefined) {
      if (method === 'GET') {
        const e = findForQuery(ctx, id, type);
        return {
          status: 200,
          body: render(e, pick(e, listParam(query.attrs)), formatOf(ctx), false),
        };
      }
      allow(method, ['GET', 'POST', 'PATCH', 'PUT']);
      const attrs = parseAttrs(body, kv, false);
      const appendAction = ctx.options.has('append') ? 'appendStrict' : 'append';
      const action = method === 'PATCH' ? 'update' : method === 'PUT' ? 'replace' : appendAction;
      return update(ctx, action, [{ id, type, attrs }], false, true);
    }
    checkIdentifier('attribute name', attrName);
    if (rest.length > 0) throw notImplemented('attribute value routes');
    const noSuchAttr = notFound('The entity does not have such an attribute');
    if (method === 'GET') {
      const a = findForQuery(ctx, id, type).attrs.get(attrName);
      if (!a) throw noSuchAttr;
      return { status: 200, body: clone(a) };
    }
    allow(method, ['GET', 'PUT', 'DELETE']);
    const e = findForUpdate(ctx, id, type);
    const registered = method === 'PUT' && providerFor(ctx, id, type, attrName);
    if (e && !e.attrs.has(attrName) && !registered) throw noSuchAttr;
    if (method === 'PUT' && isObject(body) && Object.keys(body).length === 0) {
      throw badRequest(EMPTY_PAYLOAD);
    }
    const attr =
      method === 'PUT'
        ? parseAttr(attrName, body, false)
        : { type: 'None', value: null, metadata: {} };
    const action = method === 'PUT' ? 'update' : 'delete';
    return update(ctx, action, [{ id, type, attrs: new Map([[attrName, attr]]) }], false, true);
  }

  /** The path a list of subscriptions or registrations is narrowed to; '' for all of them. */
  const listFilter = (ctx: Ctx) => (ctx.paths[0] === '/#' ? '' : (ctx.paths[0] ?? ''));

  function subscriptionsRoute(ctx: Ctx, id: string | undefined) {
    const { method, body } = ctx;
    const subs = ctx.tenant.subs;
    if (id === undefined) {
      if (method === 'GET') {
        // Orion narrows the list to subscriptions made with exactly the header's path, except
        // for `/#`, which lists them all (mongoListSubscriptions, "a bug ... see #3099").
        const wanted = listFilter(ctx);
        const list = [...subs.values()].filter((s) => !wanted || s.paths.join(',') === wanted);
        return listReply(list.map(renderSubscription), ctx);
      }
      allow(method, ['GET', 'POST']);
      if (isObject(body) && Object.keys(body).length === 0) throw badRequest(EMPTY_PAYLOAD);
      const b = checkSubscription(body);
      const sid = newId();
      const paths = [singlePath(ctx.paths, '/#', true)];
      const status = String(b.status ?? 'active');
      subs.set(sid, {
        id: sid,
        paths,
        body: b,
        status,
        stats: {},
        lastMs: 0,
        tail: Promise.resolve(),
      });
      return { status: 201, headers: { Location: `/v2/subscriptions/${sid}` } };
    }
    const s = subs.get(id);
    const missing = notFound('The requested subscription has not been found. Check id');
    if (!s) throw missing;
    if (method === 'GET') {
      // A GET by id matches the header's path too, when there is one (mongoGetSubscription).
      const wanted = ctx.paths.join(',');
      if (wanted && s.paths.join(',') !== wanted) throw missing;
      return { status: 200, body: renderSubscription(s) };
    }
    allow(method, ['GET', 'PATCH', 'DELETE']);
    if (method === 'DELETE') {
      subs.delete(id);
    } else {
      if (!isObject(body)) throw badRequest('not a JSON object');
      if (Object.keys(body).length === 0) throw badRequest(EMPTY_PAYLOAD);
      const paths = [singlePath(ctx.paths, '/#', true)];
      s.body = checkSubscription({ ...s.body, ...body });
      // An update stores the request's path as the subscription's (mongoUpdateSubscription).
      s.paths = paths;
      if (body.status !== undefined) s.status = String(body.status);
    }
    return { status: 204 };
  }

  function registrationsRoute(ctx: Ctx, id: string | undefined) {
    const { method, body } = ctx;
    const regs = ctx.tenant.regs;
    if (id === undefined) {
      if (method === 'GET') {
        const wanted = listFilter(ctx);
        const list = [...regs.values()].filter((r) => !wanted || r.path === wanted);
        return listReply(list.map(renderRegistration), ctx);
      }
      allow(method, ['GET', 'POST']);
      const { sels, url } = checkRegistration(body);
      const rid = newId();
      const path = singlePath(ctx.paths, '/');
      regs.set(rid, { id: rid, path, body: body as Rec, sels, url });
      return { status: 201, headers: { Location: `/v2/registrations/${rid}` } };
    }
    const r = regs.get(id);
    const missing = notFound('The requested registration has not been found. Check id');
    if (!r) throw missing;
    if (method === 'GET') {
      // As for subscriptions, a GET by id matches the header's path (mongoRegistrationGet).
      const wanted = ctx.paths.join(',');
      if (wanted && r.path !== wanted) throw missing;
      return { status: 200, body: renderRegistration(r) };
    }
    allow(method, ['GET', 'DELETE']);
    regs.delete(id);
    return { status: 204 };
  }

  /** POST /v2/op/update, checked in the order of Orion's parseBatchUpdate. */
  async function batchUpdate(ctx: Ctx) {
    const body = ctx.body;
    allow(ctx.method, ['POST']);
    if (!isObject(body))
      throw new NgsiError(400, 'ParseError', 'Errors found in incoming JSON buffer');
    if (Object.keys(body).length === 0) throw badRequest(EMPTY_PAYLOAD);
    for (const field of ['entities', 'actionType']) {
      if (!(field in body)) {
        throw badRequest(`Invalid JSON payload, mandatory field /${field}/ not found`);
      }
    }
    let action: Action | undefined;
    for (const [name, v] of Object.entries(body)) {
      if (name === 'entities') {
        if (!Array.isArray(v)) throw badRequest('not a JSON array');
      } else if (name === 'actionType') {
        action = ACTIONS.find((a) => a === v || legacy(a) === v);
        if (!action) {
          throw badRequest(
            'invalid update action type: right ones are: append, appendStric, delete, replace, update',
          );
        }
      } else {
        throw badRequest(`Unrecognized field in JSON payload: /${name}/`);
      }
    }
    const entities = body.entities as unknown[];
    if (entities.length === 0) throw badRequest('empty entities vector');
    const items = entities.map((b) => parseEntity(b, ctx.options.has('keyValues')));
    return update(ctx, action!, items, true, false);
  }

  const serviceNotFound = (segs: string[]) => badRequest(`service '/${segs.join('/')}' not found`);

  function allow(method: string, methods: string[]): void {
    if (!methods.includes(method)) {
      throw new NgsiError(405, 'MethodNotAllowed', `allowed methods: ${methods.join(', ')}`);
    }
  }

  async function route(ctx: Ctx, segs: string[]): Promise<Reply> {
    const [api, resource, ...rest] = segs;
    if (api === 'version' && segs.length === 1) {
      allow(ctx.method, ['GET']);
      const up = Math.floor((Date.now() - started) / 1000);
      const uptime = `0 d, 0 h, ${Math.floor(up / 60)} m, ${up % 60} s`;
      const info = { version: VERSION, uptime, git_hash: 'fake', release_date: 'fake' };
      return { status: 200, body: { orion: { ...info, doc: 'https://fiware-orion.rtfd.io/' } } };
    }
    // Orion's administrative and statistics routes, which the fake has no use for.
    if (['admin', 'statistics', 'cache', 'log', 'metrics'].includes(api ?? '')) {
      throw notImplemented(`/${segs.join('/')}`);
    }
    if (api !== 'v2') throw serviceNotFound(segs);
    if (resource === undefined) throw notImplemented('the /v2 entry point');
    if (resource === 'entities') return entitiesRoute(ctx, rest);
    if (resource === 'subscriptions' && rest.length <= 1) return subscriptionsRoute(ctx, rest[0]);
    if (resource === 'registrations' && rest.length <= 1) return registrationsRoute(ctx, rest[0]);
    if (resource === 'op' && rest.join('/') === 'update') return batchUpdate(ctx);
    if (resource === 'op' || resource === 'types') throw notImplemented(`/v2/${resource}/...`);
    throw serviceNotFound(segs);
  }

  /** Orion's checks of every request, in its order, before any service routine. */
  function admit(req: IncomingMessage, path: string, q: Query, size: number) {
    const method = req.method ?? 'GET';
    const service = req.headers['fiware-service'] as string | undefined;
    if (service && service.length > 50) {
      throw badRequest('bad length - a tenant name can be max 50 characters long');
    }
    if (service && !/^[A-Za-z0-9_]+$/.test(service)) {
      throw badRequest(
        'bad character in tenant name - only underscore and alphanumeric characters are allowed',
      );
    }
    let segs: string[];
    try {
      segs = path.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw badRequest('invalid character in URI');
    }
    if (segs.some(hasForbidden)) throw badRequest('invalid character in URI');
    if (Object.entries(q).some(([k, v]) => !FREE_PARAMS.has(k) && hasForbidden(v))) {
      throw badRequest('invalid character in URI parameter');
    }
    const paths = parsePaths(req.headers['fiware-servicepath'] as string | undefined);
    const ctype = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (size > 0 && ctype !== 'application/json') {
      const d = ctype
        ? `not supported content type: ${ctype}`
        : 'Content-Type header not used, default application/octet-stream is not supported';
      throw new NgsiError(415, 'UnsupportedMediaType', d);
    }
    if (size > maxPayload) {
      const d = `payload size: ${size}, max size supported: ${maxPayload}`;
      throw new NgsiError(413, 'RequestEntityTooLarge', d);
    }
    const accept = req.headers.accept;
    if (accept && !/\*\/\*|application\/\*|application\/json/.test(accept)) {
      throw new NgsiError(406, 'NotAcceptable', 'acceptable MIME types: application/json');
    }
    if (ctype && size === 0 && (method === 'GET' || method === 'DELETE')) {
      throw badRequest(
        'Orion accepts no payload for GET/DELETE requests. HTTP header Content-Type is thus forbidden',
      );
    }
    if (size === 0 && ['POST', 'PUT', 'PATCH'].includes(method)) {
      const d = 'Zero/No Content-Length in PUT/POST/PATCH request';
      throw new NgsiError(411, 'LengthRequired', d);
    }
    const options = new Set(q.options ? q.options.split(',') : []);
    for (const o of options) {
      if (UNSUPPORTED_OPTIONS.includes(o)) throw notImplemented(`options=${o}`);
      if (!OPTIONS.includes(o)) throw badRequest(`Invalid value for URI param /options/: ${o}`);
    }
    const unsupported = UNSUPPORTED_PARAMS.find((p) => q[p] !== undefined);
    if (unsupported) throw notImplemented(`the ${unsupported} parameter`);
    return { segs, paths, options, key: service ? service.toLowerCase() : '' };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const q = Object.fromEntries(url.searchParams);
    const header = (n: string) => req.headers[n] as string | undefined;
    const correlator = header('fiware-correlator') || randomUUID();
    const method = req.method ?? 'GET';
    const service = header('fiware-service');
    const servicePath = header('fiware-servicepath');
    requests.push({
      method,
      path: url.pathname,
      query: q,
      service,
      servicePath,
      correlator: header('fiware-correlator'),
    });
    // Read everything (so the client is not left writing) but keep at most the limit.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size <= maxPayload) chunks.push(c);
    }
    let body: unknown;
    let parsed = true;
    if (size > 0 && size <= maxPayload) {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        body = JSON.parse(text);
      } catch {
        [body, parsed] = [text, false];
      }
    }
    const reply = (r: Reply) => {
      const headers: Record<string, string> = { 'Fiware-Correlator': correlator, ...r.headers };
      if (r.body !== undefined) headers['Content-Type'] = 'application/json';
      res.writeHead(r.status, headers);
      res.end(r.body === undefined ? undefined : JSON.stringify(r.body));
    };
    const fault = rule?.({ method, path: url.pathname, query: q, service, servicePath, body });
    if (fault && 'delayMs' in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
    else if (fault) return reply({ status: fault.status, body: fault.body });
    try {
      const a = admit(req, url.pathname, q, size);
      if (!parsed) throw new NgsiError(400, 'ParseError', 'Errors found in incoming JSON buffer');
      const ctx: Ctx = {
        method,
        q,
        body,
        key: a.key,
        tenant: tenantOf(a.key),
        paths: a.paths,
        correlator,
        token: header('x-auth-token'),
        options: a.options,
        seq: 0,
      };
      reply(await route(ctx, a.segs));
    } catch (err) {
      const e =
        err instanceof NgsiError ? err : new NgsiError(500, 'InternalServerError', String(err));
      reply({ status: e.status, body: { error: e.error, description: e.message } });
    }
  }

  const server = createServer((req, res) => {
    // A fault rule that throws must not leave the client waiting.
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'InternalServerError', description: String(err) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const tenantFor = (service?: string) => tenants.get((service ?? '').toLowerCase());
  const settled = async () => {
    while (inflight.size > 0) await Promise.allSettled([...inflight]);
  };

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    entities(service, servicePath) {
      const scope = parsePaths(servicePath);
      return (tenantFor(service)?.entities ?? [])
        .filter((e) => inScope(scope.length ? scope : ['/#'], e.servicePath))
        .map((e) => render(e, pick(e), 'normalized', true) as NgsiEntity);
    },
    subscriptions(service) {
      const subs = [...(tenantFor(service)?.subs.values() ?? [])];
      return subs.map((s) => ({ ...renderSubscription(s), servicePath: s.paths.join(',') }));
    },
    registrations(service) {
      const regs = [...(tenantFor(service)?.regs.values() ?? [])];
      return regs.map((r) => ({ ...renderRegistration(r), servicePath: r.path }));
    },
    fault(r) {
      rule = r;
    },
    settled,
    reset() {
      tenants.clear();
      requests.length = 0;
      rule = undefined;
    },
    async close() {
      aborter.abort();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await settled();
    },
  };
}
