/**
 * Test support: the HTTP south binding of an IoT Agent, on the in-process `iotagent-node-lib` of
 * testing/real/iot-agent.ts, for any payload format (a {@link SouthCodec}: Ultralight 2.0 in
 * ultralight-south.ts, JSON in json-south.ts). It stands in for the HTTP transport of
 * telefonicaid/iotagent-ul and iotagent-json in local test stacks: devices send measures to it,
 * it hands them to the real library, which writes them to Orion, and it carries commands both
 * ways. Written from the agents' documented and observed behaviour; no agent code is reused.
 *
 * What every binding does (the codec decides the payloads):
 * - `GET <resource>?k=<apikey>&i=<deviceId>&...` and `POST <resource>?k=&i=` with a body; `t=<timestamp>`
 *   sets `TimeInstant` on every measure group; device lookup through the library's
 *   `retrieveDevice` (so unknown devices of a group are autoprovisioned unless the group says
 *   `autoprovision: false`); each measure group is one `update` of the library, in series;
 * - errors as `{name, message}` JSON with the error's code when it is an HTTP status, else 500;
 *   the request's API key is masked in error messages and in `requests`;
 * - commands: polling devices (no `endpoint`) get their queued commands in the answer to a
 *   request with `getCmd=1`, which marks them DELIVERED (the answer is sent once they are
 *   dequeued and marked, so a fast device's result cannot be overwritten by DELIVERED); push
 *   devices get `POST <endpoint>` with the command and answer its result (OK), or fail (ERROR);
 *   a command result updates `<command>_status` and `<command>_info`;
 * - the provisioning handler setting `transport` (default HTTP) and `polling`.
 *
 * Leaves out: MQTT and AMQP, HTTPS, a configurable resource, configuration requests, command
 * expressions and `cmdMode`, polling expiration, group-level endpoints, and the agent's own
 * logging (a binding logs nothing).
 *
 * NOTE (1). Undefined device fields. iotagent-node-lib 4.14's memory registry stores a device
 * provisioned over the north API with every field of the request, `timestamp: undefined` among
 * them, and `update` builds its settings as `{...agentConfig, ...device}`, so such a device
 * gets no `TimeInstant` although the agent runs with `timestamp: true`. The MongoDB registry a
 * deployment uses does not keep undefined fields, and there the agent's setting applies; the
 * binding drops them to behave as that deployment does.
 *
 * NOTE (2). Commands of the same name. The 4.14 memory command registry finds the entry to
 * remove by command name alone (a comma operator drops the service, subservice and device
 * conditions of its filter) and gives up when more than one matches. So while two devices, of
 * any tenants, have a `ping` queued, `removeCommand` fails for both, every poll delivers the
 * command again and marks it DELIVERED again, over the device's result. When removal fails,
 * the binding renames the delivered entry so that the registry no longer matches it, which is
 * what the MongoDB registry of a deployment achieves by removing it.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

import type { IotAgentHandle } from '../real/iot-agent.js';
import { freePort } from '../real/opa.js';

/** Largest accepted POST body. */
const MAX_BODY_BYTES = 1024 * 1024;
/** Command statuses, as the agents set them. */
const STATUS_OK = 'OK';
const STATUS_ERROR = 'ERROR';
const STATUS_DELIVERED = 'DELIVERED';
const TIME_INSTANT = 'TimeInstant';
/** Characters Orion refuses in attribute values (of any type but TextUnrestricted). */
const ORION_FORBIDDEN = /[<>"'=;()]/g;

/** An error answered to the device. */
export class SouthError extends Error {
  constructor(
    readonly status: number,
    name: string,
    message: string,
  ) {
    super(message);
    this.name = name;
  }
}

/** One parsed measure group, or a command result. */
export type MeasureGroup =
  | { kind: 'measures'; pairs: [string, unknown][]; timestamp?: string }
  | { kind: 'result'; command: string; result: unknown };

/** What a request to the binding is, as a codec sees it. */
export interface SouthRequest {
  readonly method: 'GET' | 'POST';
  /** Which of the codec's paths: its resource, or its command-results path. */
  readonly target: 'resource' | 'results';
  readonly query: URLSearchParams;
  /** The lower-cased media type of a POST, without parameters; undefined without a header. */
  readonly contentType: string | undefined;
}

/** A payload format: how devices and the binding talk to each other. */
export interface SouthCodec {
  /** How messages name the format, e.g. `Ultralight`. */
  readonly name: string;
  /** The resource devices send measures to, e.g. `/iot/d`. */
  readonly resource: string;
  /** Where devices POST command results, when not to the resource. @default the resource */
  readonly resultsPath?: string;
  /** The content type of the answer to a device (its queued commands, or nothing). */
  readonly answerType: string;
  /** Whether a GET carries a payload in its query (then GET needs one, or `getCmd=1`). */
  hasQueryPayload(query: URLSearchParams): boolean;
  /**
   * Checks the request before its body is read; throws a {@link SouthError} (e.g. 415) to
   * refuse it.
   */
  accept(req: SouthRequest): void;
  /** Parses the payload (the body, or what the query carries) into groups; throws a 400. */
  parse(req: SouthRequest, body: string): MeasureGroup[];
  /** The answer carrying a device's queued commands. */
  encodeCommands(deviceId: string, commands: readonly { name: string; value: unknown }[]): string;
  /** The request pushing one command to a device's endpoint. */
  encodePush(
    deviceId: string,
    command: string,
    value: unknown,
  ): { contentType: string; body: string };
  /** The result of a pushed command from the device's answer; throws when it is not one. */
  decodePushAnswer(body: string, command: string): unknown;
}

/** A running south binding. */
export interface SouthBinding {
  /** Base URL, e.g. `http://127.0.0.1:40412`; devices send measures to `${url}${resource}`. */
  readonly url: string;
  /**
   * Requests received so far, with the status answered. `path` keeps the query string, with
   * the API key (`k`) masked.
   */
  readonly requests: { method: string; path: string; status: number }[];
  /**
   * Stops the server, aborts the commands being pushed (their results are not written) and
   * removes the library's provisioning and command handlers.
   */
  close(): Promise<void>;
}

/** Options of {@link startSouthBinding}. */
export interface SouthBindingOptions {
  /** Port to listen on (loopback). @default a free port */
  readonly port?: number;
  /** Timeout of the HTTP request pushing a command to a device, in ms. @default 5000 */
  readonly commandTimeoutMs?: number;
}

/** An error as iotagent-node-lib reports it: a name, a message and usually an HTTP status. */
interface LibError {
  name?: string;
  message?: string;
  code?: unknown;
}

type LibCallback<T> = (err?: LibError | null, result?: T) => void;

/** An attribute or command of a device, as the library stores it. */
interface DeviceAttribute {
  name: string;
  type?: string;
  object_id?: string;
}

/** A device, as the library's registry keeps it (only the fields used here). */
interface Device {
  id: string;
  name: string;
  type: string;
  service: string;
  subservice: string;
  apikey?: string;
  endpoint?: string;
  transport?: string;
  polling?: boolean;
  active?: DeviceAttribute[];
  commands?: DeviceAttribute[];
}

/** A measure as `update` takes it. */
interface Measure {
  name: string;
  type: string;
  value: unknown;
}

/** An NGSI attribute of a command, as the library passes it to the command handler. */
interface CommandAttribute {
  name: string;
  type?: string;
  value: unknown;
}

/** A queued command, as the memory command registry keeps and lists it. */
interface QueuedCommand extends CommandAttribute {
  _id?: unknown;
  deviceId?: string;
}

type ProvisioningHandler = (device: Device, cb: LibCallback<Device>) => void;
type CommandHandler = (
  id: string,
  type: string,
  service: string,
  subservice: string,
  attributes: CommandAttribute[],
  cb: LibCallback<void>,
) => void;

/** The callback-style part of iotagent-node-lib 4.14 a binding uses. */
interface BindingLib {
  retrieveDevice(deviceId: string, apiKey: string, cb: LibCallback<Device>): void;
  update(
    entityName: string,
    type: string,
    apikey: string,
    values: Measure[],
    device: Device,
    cb: LibCallback<unknown>,
  ): void;
  setCommandResult(
    entityName: string,
    resource: string,
    apikey: string | undefined,
    command: string,
    result: unknown,
    status: string,
    device: Device,
    cb: LibCallback<unknown>,
  ): void;
  getDeviceByNameAndType(
    name: string,
    type: string,
    service: string,
    subservice: string,
    cb: LibCallback<Device>,
  ): void;
  getEffectiveApiKey(
    service: string,
    subservice: string,
    type: string,
    cb: LibCallback<string | undefined>,
  ): void;
  commandQueue(
    service: string,
    subservice: string,
    deviceId: string,
    cb: LibCallback<{ count: number; commands: QueuedCommand[] }>,
  ): void;
  removeCommand(
    service: string,
    subservice: string,
    deviceId: string,
    name: string,
    cb: LibCallback<unknown>,
  ): void;
  setProvisioningHandler(handler: ProvisioningHandler | null): void;
  setCommandHandler(handler: CommandHandler | null): void;
}

/** Libraries whose handlers a binding holds, so that two cannot fight over one agent. */
const bound = new WeakSet<object>();

/**
 * Starts a binding on a loopback port and installs its provisioning and command handlers in
 * the agent's library. One binding per agent; rejects when the agent already has one.
 */
export async function startSouthBinding(
  iota: IotAgentHandle,
  codec: SouthCodec,
  opts: SouthBindingOptions = {},
): Promise<SouthBinding> {
  const lib = iota.lib as unknown as BindingLib;
  if (bound.has(lib)) {
    throw new TypeError('this IoT Agent already has a south binding; close it first');
  }
  bound.add(lib);
  const port = await (opts.port === undefined ? freePort() : Promise.resolve(opts.port)).catch(
    (err: unknown) => {
      bound.delete(lib);
      throw err;
    },
  );
  const commandTimeoutMs = opts.commandTimeoutMs ?? 5000;
  const requests: SouthBinding['requests'] = [];
  const closing = new AbortController();
  const pushes = new Set<Promise<void>>();

  lib.setProvisioningHandler((device, cb) => {
    device.transport ??= 'HTTP';
    if (device.transport === 'HTTP') device.polling = !device.endpoint;
    cb(null, device);
  });

  lib.setCommandHandler((id, type, service, subservice, attributes, cb) => {
    lib.getDeviceByNameAndType(id, type, service, subservice, (err, device) => {
      if (err || !device) {
        cb(err ?? { name: 'DEVICE_NOT_FOUND', message: `No device for entity ${id}`, code: 404 });
        return;
      }
      // Answer at once: the library then marks the commands PENDING; results come later.
      cb();
      const push = pushCommands(
        lib,
        codec,
        definedOnly(device),
        attributes,
        commandTimeoutMs,
        closing.signal,
      );
      pushes.add(push);
      push.catch(() => undefined).finally(() => pushes.delete(push));
    });
  });

  const server = createServer((req, res) => {
    const entry = { method: req.method ?? '', path: maskApiKey(req.url ?? ''), status: 0 };
    requests.push(entry);
    handle(lib, codec, req).then(
      (body) => reply(res, entry, 200, codec.answerType, body),
      (err: unknown) => {
        const e = toSouthError(err, new URL(req.url ?? '/', 'http://x').searchParams.get('k'));
        const body = JSON.stringify({ name: e.name, message: e.message });
        reply(res, entry, e.status, 'application/json', body);
      },
    );
  });
  try {
    await listen(server, port);
  } catch (err) {
    lib.setCommandHandler(null);
    lib.setProvisioningHandler(null);
    bound.delete(lib);
    throw err;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      if (closing.signal.aborted) return;
      closing.abort();
      lib.setCommandHandler(null);
      lib.setProvisioningHandler(null);
      bound.delete(lib);
      await Promise.allSettled([...pushes]);
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/** Serves one request; resolves to the answer's body or rejects with the error. */
async function handle(lib: BindingLib, codec: SouthCodec, req: IncomingMessage): Promise<string> {
  const url = new URL(req.url ?? '/', 'http://x');
  const target =
    url.pathname === codec.resource
      ? 'resource'
      : codec.resultsPath !== undefined && url.pathname === codec.resultsPath
        ? 'results'
        : undefined;
  if (target === undefined) {
    req.resume();
    throw new SouthError(404, 'NOT_FOUND', `No such resource: ${url.pathname}`);
  }
  if (req.method !== 'POST' && (req.method !== 'GET' || target === 'results')) {
    req.resume();
    throw new SouthError(
      405,
      'METHOD_NOT_ALLOWED',
      `${req.method} is not allowed on ${url.pathname}`,
    );
  }
  const q = url.searchParams;
  const apiKey = q.get('k') ?? '';
  const deviceId = q.get('i') ?? '';
  const getCmd = q.get('getCmd') === '1';
  const missing: string[] = [];
  if (!apiKey) missing.push('API Key');
  if (!deviceId) missing.push('Device Id');
  if (req.method === 'GET' && !codec.hasQueryPayload(q) && !getCmd) missing.push('Payload');
  if (missing.length > 0) {
    req.resume();
    throw new SouthError(
      400,
      'MANDATORY_PARAMS_NOT_FOUND_ERROR',
      `Some of the mandatory params weren't found in the request: ${missing.join(', ')}`,
    );
  }
  const header = req.headers['content-type'];
  const request: SouthRequest = {
    method: req.method,
    target,
    query: q,
    contentType:
      header === undefined ? undefined : header.replace(/;.*$/s, '').trim().toLowerCase(),
  };
  try {
    codec.accept(request);
  } catch (err) {
    req.resume();
    throw err;
  }
  const body = req.method === 'POST' ? await readBody(req) : '';
  const groups = codec.parse(request, body);
  const t = q.get('t');
  if (t) for (const g of groups) if (g.kind === 'measures') g.timestamp = t;

  const device = definedOnly(await call<Device>((cb) => lib.retrieveDevice(deviceId, apiKey, cb)));
  for (const g of groups) {
    if (g.kind === 'result') {
      await call((cb) =>
        lib.setCommandResult(
          device.name,
          codec.resource,
          apiKey,
          g.command,
          g.result,
          STATUS_OK,
          device,
          cb,
        ),
      );
    } else {
      const values = measures(g, device);
      await call((cb) => lib.update(device.name, device.type, '', values, device, cb));
    }
  }
  return getCmd ? deliverCommands(lib, codec, device, apiKey) : '';
}

/**
 * Takes the device's queued commands off the queue, marks them DELIVERED and returns them as a
 * payload. A command that cannot be marked is still delivered, as the agents do.
 */
async function deliverCommands(
  lib: BindingLib,
  codec: SouthCodec,
  device: Device,
  apiKey: string,
): Promise<string> {
  const list = await call<{ count: number; commands: QueuedCommand[] }>((cb) =>
    lib.commandQueue(device.service, device.subservice, device.id, cb),
  );
  const commands = (list?.commands ?? []).map((c) => ({ entry: c, name: c.name, value: c.value }));
  for (const { entry, name } of commands) {
    await call((cb) =>
      lib.removeCommand(device.service, device.subservice, device.id, name, cb),
    ).catch(() => retire(entry));
    await call((cb) =>
      lib.setCommandResult(
        device.name,
        codec.resource,
        apiKey,
        name,
        ' ',
        STATUS_DELIVERED,
        device,
        cb,
      ),
    ).catch(() => undefined);
  }
  return codec.encodeCommands(device.id, commands);
}

/**
 * Takes a delivered command out of the memory registry's sight when `removeCommand` could not
 * (NOTE (2) in the header): the queue hands out its own entries, and one whose name and device
 * match nothing is neither listed, nor found, nor counted again.
 */
function retire(entry: QueuedCommand) {
  const tombstone = `\u0000delivered:${String(entry._id)}`;
  entry.name = tombstone;
  entry.deviceId = tombstone;
}

/**
 * Sends commands to a push device, one after the other, and writes each outcome: OK with the
 * device's result, or ERROR with what went wrong. Nothing is written once the binding closes.
 */
async function pushCommands(
  lib: BindingLib,
  codec: SouthCodec,
  device: Device,
  attributes: CommandAttribute[],
  timeoutMs: number,
  closing: AbortSignal,
): Promise<void> {
  const apiKey = await call<string | undefined>((cb) =>
    lib.getEffectiveApiKey(device.service, device.subservice, device.type, cb),
  ).catch(() => device.apikey);
  for (const attr of attributes) {
    let result: unknown;
    let status = STATUS_OK;
    try {
      result = await pushCommand(codec, device, attr, timeoutMs, closing);
    } catch (err) {
      result = (err as Error).message.replace(ORION_FORBIDDEN, ' ');
      status = STATUS_ERROR;
    }
    if (closing.aborted) return;
    await call((cb) =>
      lib.setCommandResult(
        device.name,
        codec.resource,
        apiKey,
        attr.name,
        result,
        status,
        device,
        cb,
      ),
    ).catch(() => undefined);
  }
}

/** POSTs one command to the device's endpoint; resolves to its result, rejects on failure. */
async function pushCommand(
  codec: SouthCodec,
  device: Device,
  attr: CommandAttribute,
  timeoutMs: number,
  closing: AbortSignal,
): Promise<unknown> {
  if (!device.endpoint) throw new Error(`Device ${device.id} has no endpoint`);
  const push = codec.encodePush(device.id, attr.name, attr.value);
  let res: Response;
  let body: string;
  try {
    res = await fetch(device.endpoint, {
      method: 'POST',
      headers: {
        'content-type': push.contentType,
        'fiware-service': device.service,
        'fiware-servicepath': device.subservice,
      },
      body: push.body,
      signal: AbortSignal.any([closing, AbortSignal.timeout(timeoutMs)]),
    });
    body = await res.text();
  } catch (err) {
    const why = (err as { cause?: { message?: string } }).cause?.message;
    throw new Error(`Device unreachable: ${why ?? (err as Error).message}`, { cause: err });
  }
  if (res.status !== 200) {
    throw new Error(`Device answered HTTP ${res.status}: ${body.slice(0, 200)}`);
  }
  return codec.decodePushAnswer(body, attr.name);
}

/**
 * The device without its undefined fields. The memory registry keeps every provisioning field,
 * given or not, and an undefined `timestamp` would override the agent's `timestamp: true` when
 * the library spreads the device over its configuration (see NOTE (1) in the header).
 */
function definedOnly(device: Device): Device {
  return Object.fromEntries(
    Object.entries(device).filter(([, v]) => v !== undefined),
  ) as unknown as Device;
}

/** The measures of a group, typed after the device's active attributes. */
function measures(g: Extract<MeasureGroup, { kind: 'measures' }>, device: Device): Measure[] {
  const typeOf = (name: string) =>
    device.active?.find((a) => a.object_id === name || a.name === name)?.type ??
    (name === TIME_INSTANT ? 'DateTime' : 'Text');
  const values = g.pairs
    .filter(([name]) => name !== TIME_INSTANT || g.timestamp === undefined)
    .map(([name, value]) => ({ name, type: typeOf(name), value }));
  if (g.timestamp !== undefined) {
    values.push({ name: TIME_INSTANT, type: typeOf(TIME_INSTANT), value: g.timestamp });
  }
  return values;
}

/** Turns a library or binding error into the answer's status, name and message. */
function toSouthError(err: unknown, apiKey: string | null): SouthError {
  if (err instanceof SouthError) return err;
  const e = (err ?? {}) as LibError;
  const code = Number(e.code);
  const status = Number.isInteger(code) && code >= 400 && code <= 599 ? code : 500;
  let message = String(e.message ?? err);
  if (apiKey && apiKey.length >= 4) message = message.split(apiKey).join('***');
  return new SouthError(status, e.name ?? 'INTERNAL_ERROR', message);
}

/** The request path with the API key (`k`) masked. */
function maskApiKey(path: string): string {
  return path.replace(/([?&]k=)[^&]*/g, '$1***');
}

function reply(
  res: ServerResponse,
  entry: { status: number },
  status: number,
  type: string,
  body: string,
) {
  entry.status = status;
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () =>
      size > MAX_BODY_BYTES
        ? reject(new SouthError(413, 'PAYLOAD_TOO_LARGE', `Body over ${MAX_BODY_BYTES} bytes`))
        : resolve(Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Calls a callback-style library function; a second callback or a late throw is ignored. */
function call<T = unknown>(run: (cb: LibCallback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    run((err, result) => (err ? reject(err) : resolve(result as T))),
  );
}
