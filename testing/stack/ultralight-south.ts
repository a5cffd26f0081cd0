/**
 * Test support: the Ultralight 2.0 payload format of the HTTP south binding (south-binding.ts)
 * on the in-process `iotagent-node-lib` of iot-agent.ts. It stands in for the HTTP transport of
 * the IoT Agent for Ultralight (telefonicaid/iotagent-ul) in local test stacks: devices send
 * measures to it, it hands them to the real library, which writes them to Orion, and it
 * carries commands both ways.
 * Written from iotagent-ul's documented and observed behaviour; no iotagent-ul code is reused.
 *
 * Re-implements, from iotagent-ul's HTTP binding:
 * - `GET /iot/d?k=<apikey>&i=<deviceId>&d=<payload>` and `POST /iot/d?k=&i=` with a
 *   `text/plain` body (no content type counts as text/plain; an empty body falls back to `d`);
 *   `t=<timestamp>` sets `TimeInstant` on every measure group;
 * - the payload: groups separated by `#`, each `name|value|...` (a leading `|` is tolerated, an
 *   odd number of fields is allowed only when the first one is a timestamp, which becomes the
 *   group's `TimeInstant`); values stay strings; each group is one `update` of the library, in
 *   series; a group whose first field is `<deviceId>@<command>` is that command's result;
 * - device lookup through the library's `retrieveDevice` (so unknown devices of a group are
 *   autoprovisioned unless the group says `autoprovision: false`);
 * - errors as `{name, message}` JSON with the error's code when it is an HTTP status, else 500;
 * - commands: polling devices (no `endpoint`) get their queued commands in the answer to a
 *   request with `getCmd=1`, as `<id>@<cmd>|<value>` joined with `#`, which marks them
 *   DELIVERED; push devices get `POST <endpoint>` with `<id>@<cmd>|<value>` and answer
 *   `<id>@<cmd>|<result>` (OK), or fail (ERROR);
 * - the provisioning handler setting `transport` (default HTTP) and `polling`.
 *
 * Differs from iotagent-ul where a test stack is better served:
 * - a POST with another content type answers 415 (iotagent-ul: 400 `UNSUPPORTED_TYPE`), and
 *   missing parameters are `MANDATORY_PARAMS_NOT_FOUND_ERROR` (iotagent-ul:
 *   `MANDATORY_PARAMS_NOT_FOUND`); a status code the library reports outside 4xx/5xx becomes 500;
 * - polled commands are joined with `#` (iotagent-ul's HTTP binding joins them with `|`, which
 *   a device cannot split), and the answer is sent once they are dequeued and marked
 *   DELIVERED, so a fast device's result cannot be overwritten by the DELIVERED status;
 * - only the first field of a group decides whether it is a command result, so a measure value
 *   may contain `@`; the result is everything after the first `|` (`id@cmd|a=1|b=2` gives
 *   `a=1|b=2`), and the command name is the one sent, not the one the device echoes;
 * - command error texts are stripped of the characters Orion refuses in values (`<>"'=;()`),
 *   and the request's API key is masked in error messages and in `requests`;
 * - the device handed to the library has no undefined fields, and a delivered command the
 *   memory registry fails to remove is retired by the binding (south-binding.ts, NOTEs (1), (2)).
 *
 * Leaves out: MQTT and AMQP, HTTPS, the `/iot/d` resource being configurable, configuration
 * requests (`<id>@configuration`), command expressions and `cmdMode`, polling expiration,
 * group-level endpoints, and the agent's own logging (this binding logs nothing).
 */
import { iotAgentSpec } from '../../platform/components.js';
import type { MeasureGroup, SouthCodec } from './south-binding.js';
import { SouthError } from './south-binding.js';

/** A leading group field that is a timestamp: ISO 8601 date and time, optional zone. */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/;

/** The Ultralight 2.0 payload format. */
export const ULTRALIGHT: SouthCodec = {
  name: 'Ultralight',
  resource: iotAgentSpec('ultralight').resource,
  answerType: 'text/plain; charset=utf-8',
  hasQueryPayload: (query) => !!query.get('d'),
  accept(req) {
    if (req.method === 'POST' && req.contentType !== undefined && req.contentType !== 'text/plain')
      throw new SouthError(
        415,
        'UNSUPPORTED_TYPE',
        `The request content type is ${req.contentType}; Ultralight measures are text/plain`,
      );
  },
  parse(req, body) {
    // An empty POST body falls back to the d parameter, as iotagent-ul does.
    const payload = body !== '' ? body : (req.query.get('d') ?? '');
    return payload === '' ? [] : parsePayload(payload);
  },
  encodeCommands: (deviceId, commands) =>
    commands.map((c) => commandPayload(deviceId, c.name, c.value)).join('#'),
  encodePush: (deviceId, command, value) => ({
    contentType: 'text/plain',
    body: commandPayload(deviceId, command, value),
  }),
  decodePushAnswer(body) {
    const bar = body.indexOf('|');
    const head = bar < 0 ? body : body.slice(0, bar);
    if (head.indexOf('@') <= 0) {
      throw new Error(`Device answer is not <id>@<command>|<result>: ${body.slice(0, 200)}`);
    }
    return bar < 0 ? '' : body.slice(bar + 1);
  },
};

/** `<id>@<cmd>|<value>`, or `<id>@<cmd>|k=v|k=v` for an object value. */
function commandPayload(deviceId: string, command: string, value: unknown): string {
  const head = `${deviceId}@${command}`;
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).reduce((s, [k, v]) => `${s}|${k}=${String(v)}`, head);
  }
  return `${head}|${String(value)}`;
}

/** Parses an Ultralight 2.0 payload into its groups; throws a 400 on bad syntax. */
function parsePayload(payload: string): MeasureGroup[] {
  return payload.split('#').map((raw, i) => {
    const bad = (why: string) =>
      new SouthError(400, 'PARSE_ERROR', `Ultralight syntax error in group ${i + 1}: ${why}`);
    const fields = (raw.startsWith('|') ? raw.slice(1) : raw).split('|');
    const first = fields[0] ?? '';
    const at = first.indexOf('@');
    if (at > 0) {
      const command = first.slice(at + 1);
      if (!command) throw bad('a command result needs <deviceId>@<command>');
      return { kind: 'result', command, result: fields.slice(1).join('|') };
    }
    if (fields.some((f) => f === '')) throw bad('empty field');
    let timestamp: string | undefined;
    if (fields.length % 2 === 1) {
      if (!ISO_TIMESTAMP.test(first) || Number.isNaN(Date.parse(first))) {
        throw bad('odd number of fields (name|value pairs expected)');
      }
      timestamp = fields.shift();
    }
    const pairs: [string, string][] = [];
    for (let j = 0; j + 1 < fields.length; j += 2)
      pairs.push([fields[j] ?? '', fields[j + 1] ?? '']);
    return { kind: 'measures', pairs, timestamp };
  });
}
