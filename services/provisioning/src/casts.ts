/**
 * Typed measurements. Ultralight carries every measurement as text, and iotagent-node-lib 4
 * removed the agents' autocast, so a device attribute declared `Number` would reach Orion as
 * `"21.5"`. The service gives each typed attribute an IoT Agent expression (JEXL, with the
 * library's transformations) that casts the measurement to its declared type.
 *
 * A measurement that does not arrive, or does not parse, evaluates to null, which the agent
 * skips (its default `skipValue`), so a partial payload never blanks other attributes.
 * Expressions name the attribute, so only attributes whose names are JEXL identifiers are
 * cast; others arrive as the device sends them (docs/devices-as-code.md says so).
 */
import type { DeviceProtocol } from '../../../platform/components.js';

/** A name JEXL can refer to in an expression's context. */
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Texts and JSON values a Boolean measurement may arrive as. */
const BOOLEANS =
  "['true','false','1','0',true,false,1,0], [true,false,true,false,true,false,true,false]";

/**
 * The expression that casts attribute `name` to NGSI `type`, or undefined when nothing needs
 * casting (text types, names JEXL cannot refer to).
 */
export function castExpression(
  name: string,
  type: string,
  protocol: DeviceProtocol,
): string | undefined {
  if (!IDENTIFIER.test(name)) return undefined;
  switch (type) {
    case 'Number':
    case 'Float':
      return `${name} | parsefloat`;
    case 'Integer':
      return `${name} | parseint`;
    case 'Boolean':
      return `${name} | mapper(${BOOLEANS})`;
    case 'DateTime':
      return `${name} | toisodate`;
    case 'StructuredValue':
      // JSON payloads carry structures as they are; Ultralight as JSON text.
      return protocol === 'ultralight' ? `${name} | jsonparse` : undefined;
    default:
      return undefined;
  }
}

/** Attributes as the agent stores them: with the cast of their type, where one applies. */
export function withCasts<A extends { name: string; type: string }>(
  attributes: readonly A[],
  protocol: DeviceProtocol,
): (A & { expression?: string })[] {
  return attributes.map((a) => {
    const expression = castExpression(a.name, a.type, protocol);
    return expression ? { ...a, expression } : { ...a };
  });
}
