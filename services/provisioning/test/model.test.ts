/**
 * The device model's time-zone check, which remembers the zones it has checked (building an
 * Intl.DateTimeFormat per device cost more than the rest of a bulk request's validation).
 */
import { describe, expect, it } from '@jest/globals';

import { DeviceSpec, EntityName, EntityType } from '../src/model.js';

const device = (timezone: string) => ({
  device_id: 'dev1',
  entity_name: 'urn:ngsi:Bot:dev1',
  entity_type: 'Bot',
  timezone,
});

describe('a device time zone', () => {
  it('is refused every time when unknown, and accepted every time when known', () => {
    for (let i = 0; i < 3; i++) {
      expect(DeviceSpec.safeParse(device('Mars/Olympus')).success).toBe(false);
      expect(DeviceSpec.safeParse(device('Europe/Zurich')).success).toBe(true);
    }
  });

  it('keeps answering right past the bound of remembered zones', () => {
    for (let i = 0; i < 2100; i++) DeviceSpec.safeParse(device(`Nowhere/Zone${i}`));
    expect(DeviceSpec.safeParse(device('Nowhere/Zone2099')).success).toBe(false);
    expect(DeviceSpec.safeParse(device('America/New_York')).success).toBe(true);
  });
});

describe('NGSI-v2 identifiers (entity ids and types)', () => {
  // Every character the NGSI-v2 spec forbids in identifiers (whitespace, & ? / #) or anywhere in
  // a request (< > " ' = ; ( )), one at a time, plus a control and a non-ASCII character.
  const FORBIDDEN = [
    ' ',
    '\t',
    '&',
    '?',
    '/',
    '#',
    '<',
    '>',
    '"',
    "'",
    '=',
    ';',
    '(',
    ')',
    '\n',
    'é',
  ];

  it.each(FORBIDDEN.map((c) => [JSON.stringify(c), c]))(
    'refuses %s in an entity id and an entity type',
    (_label, c) => {
      expect(EntityName.safeParse(`urn:ngsi:Bot${c}1`).success).toBe(false);
      expect(EntityType.safeParse(`Bot${c}`).success).toBe(false);
    },
  );

  it('accepts every other printable ASCII character, and 1 to 256 of them', () => {
    const allowed = Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i))
      .filter((c) => !FORBIDDEN.includes(c))
      .join('');
    expect(EntityName.safeParse(allowed).success).toBe(true);
    expect(EntityName.safeParse('x'.repeat(256)).success).toBe(true);
    expect(EntityName.safeParse('x'.repeat(257)).success).toBe(false);
    expect(EntityName.safeParse('').success).toBe(false);
  });
});
