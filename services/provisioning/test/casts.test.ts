/**
 * The casts of typed measurements (src/casts.ts), evaluated by the IoT Agent library's own JEXL
 * parser with its own transformations, as the agent evaluates them: what a measurement becomes
 * for each NGSI type, for Ultralight (text) and JSON (JSON values), and which attributes get no
 * expression. typed.test.ts sends measurements through the real agents end to end; this file
 * holds every case of the table in-process, in milliseconds.
 */
import { createRequire } from 'node:module';

import { beforeAll, describe, expect, it } from '@jest/globals';

import type { DeviceProtocol } from '../../../platform/components.js';
import { DEVICE_PROTOCOLS } from '../../../platform/components.js';
import { castExpression, withCasts } from '../src/casts.js';

interface JexlParser {
  setTransforms(map: Record<string, unknown>): void;
  parse(expression: string, context: Record<string, unknown>): unknown;
}
const require = createRequire(import.meta.url);
const jexl = require('iotagent-node-lib/lib/plugins/jexlParser') as JexlParser;

beforeAll(() => {
  // The library logs through logops; a test run keeps its output quiet.
  (require('logops') as { setLevel(level: string): void }).setLevel('FATAL');
  jexl.setTransforms({});
});

/** What the agent stores for attribute `name` of `type` when the device sends `value`. */
function cast(type: string, value: unknown, protocol: DeviceProtocol, name = 'm'): unknown {
  const expression = castExpression(name, type, protocol);
  if (expression === undefined) throw new Error(`no cast for ${name} of ${type} (${protocol})`);
  return jexl.parse(expression, { [name]: value });
}

describe('castExpression, evaluated by the agent library', () => {
  it.each(DEVICE_PROTOCOLS)('casts Number and Float to numbers (%s)', (protocol) => {
    for (const type of ['Number', 'Float']) {
      expect(cast(type, '21.5', protocol)).toBe(21.5);
      expect(cast(type, '-3', protocol)).toBe(-3);
      expect(cast(type, 7.25, protocol)).toBe(7.25);
      // What does not parse is null, which the agent skips (src/casts.ts).
      expect(cast(type, 'warm', protocol)).toBeNull();
    }
  });

  it.each(DEVICE_PROTOCOLS)('casts Integer to whole numbers (%s)', (protocol) => {
    expect(cast('Integer', '42', protocol)).toBe(42);
    expect(cast('Integer', '42.9', protocol)).toBe(42);
    expect(cast('Integer', 17, protocol)).toBe(17);
    expect(cast('Integer', 'many', protocol)).toBeNull();
  });

  it.each(DEVICE_PROTOCOLS)('maps every Boolean spelling a device sends (%s)', (protocol) => {
    for (const yes of ['true', '1', true, 1]) expect(cast('Boolean', yes, protocol)).toBe(true);
    for (const no of ['false', '0', false, 0]) expect(cast('Boolean', no, protocol)).toBe(false);
    // Anything else is no Boolean: it evaluates to null, which the agent skips.
    for (const other of ['yes', 'TRUE', '2', 2]) {
      expect(cast('Boolean', other, protocol)).toBeNull();
    }
  });

  it.each(DEVICE_PROTOCOLS)('casts DateTime to an ISO 8601 instant (%s)', (protocol) => {
    expect(cast('DateTime', '2026-03-01T10:00:00Z', protocol)).toBe('2026-03-01T10:00:00.000Z');
    expect(cast('DateTime', 1_772_359_200_000, protocol)).toBe('2026-03-01T10:00:00.000Z');
    expect(cast('DateTime', 'yesterday', protocol)).toBeNull();
  });

  it('parses a StructuredValue sent as Ultralight text, and leaves JSON payloads as they are', () => {
    expect(cast('StructuredValue', '{"a":[1,2]}', 'ultralight')).toEqual({ a: [1, 2] });
    expect(castExpression('m', 'StructuredValue', 'ultralight')).toBe('m | jsonparse');
    expect(castExpression('m', 'StructuredValue', 'json')).toBeUndefined();
  });

  it('names the attribute in the expression, so each attribute casts its own measurement', () => {
    expect(castExpression('temperature', 'Number', 'ultralight')).toBe('temperature | parsefloat');
    expect(jexl.parse(castExpression('b', 'Integer', 'json')!, { a: '1', b: '2' })).toBe(2);
  });

  it.each(['Text', 'String', 'geo:point', 'Property', ''])(
    'gives %p no cast: text types arrive as sent',
    (type) => {
      for (const protocol of DEVICE_PROTOCOLS) {
        expect(castExpression('m', type, protocol)).toBeUndefined();
      }
    },
  );

  it('casts only names JEXL can refer to', () => {
    for (const name of ['t', '_t', '$t', 'T9', 'a_b$c']) {
      expect(castExpression(name, 'Number', 'json')).toBe(`${name} | parsefloat`);
    }
    for (const name of ['9t', 't-1', 'a.b', 't 1', 'x:y', '', 'tä', ' t', 't ']) {
      expect(castExpression(name, 'Number', 'json')).toBeUndefined();
    }
  });
});

describe('withCasts', () => {
  it('adds the expression to typed attributes and copies the rest unchanged', () => {
    const attributes = [
      { name: 't', type: 'Number', object_id: 'x' },
      { name: 'label', type: 'Text' },
      { name: 'bad-name', type: 'Integer' },
    ];
    const out = withCasts(attributes, 'ultralight');
    expect(out).toEqual([
      { name: 't', type: 'Number', object_id: 'x', expression: 't | parsefloat' },
      { name: 'label', type: 'Text' },
      { name: 'bad-name', type: 'Integer' },
    ]);
    // Copies: the caller's attributes are not changed.
    expect(attributes[0]).not.toHaveProperty('expression');
    for (const [i, a] of out.entries()) expect(a).not.toBe(attributes[i]);
  });

  it('follows the protocol (a structure needs parsing from Ultralight text only)', () => {
    const attributes = [{ name: 's', type: 'StructuredValue' }];
    expect(withCasts(attributes, 'ultralight')).toEqual([
      { name: 's', type: 'StructuredValue', expression: 's | jsonparse' },
    ]);
    expect(withCasts(attributes, 'json')).toEqual([{ name: 's', type: 'StructuredValue' }]);
  });

  it('gives an empty list for no attributes', () => {
    expect(withCasts([], 'json')).toEqual([]);
  });
});
