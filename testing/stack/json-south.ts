/**
 * Test support: the JSON payload format of the HTTP south binding (south-binding.ts) on the
 * in-process `iotagent-node-lib` of iot-agent.ts. It stands in for the HTTP transport of the
 * IoT Agent for JSON (telefonicaid/iotagent-json) in local test stacks. Written from
 * iotagent-json's user manual (HTTP binding); no iotagent-json code is reused.
 *
 * Re-implements, from iotagent-json's HTTP binding:
 * - `POST /iot/json?k=<apikey>&i=<deviceId>` with an `application/json` body: an object is one
 *   group of measures (each key an `object_id`, each value kept with its JSON type: a number
 *   reaches Orion as a number), an array of objects is one group per object, in order;
 *   `t=<timestamp>` sets `TimeInstant` on every group;
 * - polling commands: `GET /iot/json?k=&i=&getCmd=1` (or a POST of measures with `getCmd=1`)
 *   answers the device's queued commands as one JSON object, `{"<command>": <value>}`, and
 *   marks them DELIVERED;
 * - command results: `POST /iot/json/commands?k=&i=` with `{"<command>": <result>}` sets the
 *   command's status OK and its info to the result, structured results included;
 * - push commands: `POST <endpoint>` with `{"<command>": <value>}`; the device answers
 *   `{"<command>": <result>}` (OK), or fails (ERROR).
 *
 * Differs from iotagent-json where a test stack is better served:
 * - a POST with another content type (or none) answers 415 `UNSUPPORTED_TYPE`, and a body that
 *   is not an object or an array of objects 400 `BAD_PAYLOAD`; missing parameters are
 *   `MANDATORY_PARAMS_NOT_FOUND_ERROR`, as in the Ultralight binding;
 * - the single-attribute resource (`/iot/json/attrs/<name>`), NGSI-v2/NGSI-LD payloads, SOAP and
 *   binary measures, and configuration retrieval are left out.
 */
import { iotAgentSpec } from '../../platform/components.js';
import type { MeasureGroup, SouthCodec, SouthRequest } from './south-binding.js';
import { SouthError } from './south-binding.js';

const RESOURCE = iotAgentSpec('json').resource;

/** The JSON payload format. */
export const JSON_FORMAT: SouthCodec = {
  name: 'JSON',
  resource: RESOURCE,
  resultsPath: `${RESOURCE}/commands`,
  answerType: 'application/json',
  hasQueryPayload: () => false,
  accept(req) {
    if (req.method === 'POST' && req.contentType !== 'application/json')
      throw new SouthError(
        415,
        'UNSUPPORTED_TYPE',
        `The request content type is ${req.contentType ?? 'missing'}; JSON measures are application/json`,
      );
  },
  parse(req: SouthRequest, body: string): MeasureGroup[] {
    if (req.method === 'GET') return [];
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch {
      throw new SouthError(400, 'BAD_PAYLOAD', 'the body is not JSON');
    }
    const objects = Array.isArray(payload) ? payload : [payload];
    if (objects.length === 0 || !objects.every(isObject))
      throw new SouthError(
        400,
        'BAD_PAYLOAD',
        'a JSON payload is an object of measures, or an array of them',
      );
    if (req.target === 'results') {
      if (objects.length !== 1)
        throw new SouthError(400, 'BAD_PAYLOAD', 'command results are one object');
      return Object.entries(objects[0]!).map(([command, result]) => ({
        kind: 'result',
        command,
        result,
      }));
    }
    return objects.map((o) => ({ kind: 'measures', pairs: Object.entries(o) }));
  },
  encodeCommands: (_deviceId, commands) =>
    JSON.stringify(Object.fromEntries(commands.map((c) => [c.name, c.value]))),
  encodePush: (_deviceId, command, value) => ({
    contentType: 'application/json',
    body: JSON.stringify({ [command]: value }),
  }),
  decodePushAnswer(body, command) {
    let answer: unknown;
    try {
      answer = JSON.parse(body);
    } catch {
      answer = undefined;
    }
    if (!isObject(answer) || !(command in answer))
      throw new Error(`Device answer is not {"${command}": <result>}: ${body.slice(0, 200)}`);
    return answer[command];
  },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
