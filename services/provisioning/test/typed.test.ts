/**
 * Typed measurements end to end: devices provisioned through the service, measurements sent
 * to the real iotagent-node-lib through the south bindings (Ultralight in this process, JSON
 * in the JSON agent's), entities read from the Orion fake. A `Number` arrives as a number, not
 * as the text Ultralight carries; a partial payload leaves the other attributes alone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import type { SouthBinding } from '../../../testing/stack/south-binding.js';
import { startSouth } from '../../../testing/stack/south-formats.js';
import type { ProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { startProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { castExpression } from '../src/casts.js';

const path = '/typed';
const at = { servicePath: path };
let stack: ProvisioningStack;
let ul: SouthBinding;

beforeAll(async () => {
  stack = await startProvisioningStack();
  ul = await startSouth(stack.iota!, 'ultralight');
  for (const [protocol, apikey] of [
    ['ultralight', 'typed-ul-k3y'],
    ['json', 'typed-json-k3y'],
  ] as const) {
    const g = await stack.call('PUT', '/v1/groups', {
      ...at,
      body: { protocol, entity_type: 'Sensor', apikey },
    });
    expect(g.status).toBe(201);
  }
});
afterAll(async () => {
  await ul?.close();
  await stack?.close();
});

const entity = async (id: string) => {
  await stack.orion.settled();
  return stack.orion.entities('manufracture', path).find((e) => e.id === id) as
    Record<string, { type: string; value: unknown }> | undefined;
};
const values = (e: Record<string, { value: unknown }> | undefined, names: string[]) =>
  Object.fromEntries(names.map((n) => [n, e?.[n]?.value]));

/** Provisions device `id` of `protocol` with `attributes` ([object_id, name, type]) through the service. */
async function provision(id: string, protocol: 'ultralight' | 'json', attributes: string[][]) {
  const put = await stack.call('PUT', `/v1/devices/${id}`, {
    ...at,
    body: {
      protocol,
      entity_name: `urn:ngsi:Sensor:${id}`,
      entity_type: 'Sensor',
      attributes: attributes.map(([object_id, name, type]) => ({ object_id, name, type })),
    },
  });
  expect(put.status).toBe(201);
}

describe('an Ultralight device', () => {
  it('gets its measurements typed as declared: Number, Integer, Boolean, DateTime; Text stays text', async () => {
    await provision('typed1', 'ultralight', [
      ['n', 'temperature', 'Number'],
      ['i', 'count', 'Integer'],
      ['b', 'running', 'Boolean'],
      ['d', 'since', 'DateTime'],
      ['t', 'label', 'Text'],
      ['o', 'odd-name', 'Number'],
    ]);
    const send = (body: string) =>
      fetch(`${ul.url}/iot/d?k=typed-ul-k3y&i=typed1`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body,
      });
    expect((await send('n|21.5|i|7|b|true|d|2026-12-02T10:00:00Z|t|hello|o|3.5')).status).toBe(200);
    const names = ['temperature', 'count', 'running', 'since', 'label', 'odd-name'];
    expect(values(await entity('urn:ngsi:Sensor:typed1'), names)).toEqual({
      temperature: 21.5,
      count: 7,
      running: true,
      since: '2026-12-02T10:00:00.000Z',
      label: 'hello',
      // A name JEXL cannot refer to is not cast (documented).
      'odd-name': '3.5',
    });

    // A partial payload: only the temperature changes, nothing is blanked.
    expect((await send('n|22')).status).toBe(200);
    expect(values(await entity('urn:ngsi:Sensor:typed1'), names)).toMatchObject({
      temperature: 22,
      count: 7,
      running: true,
    });
    // What does not parse is skipped, not written as null or NaN.
    expect((await send('n|warm|b|maybe')).status).toBe(200);
    expect(values(await entity('urn:ngsi:Sensor:typed1'), names)).toMatchObject({
      temperature: 22,
      running: true,
    });
  });

  it('says unchanged when the same device is provisioned again (the casts are part of it)', async () => {
    const list = await stack.call('GET', '/v1/devices/typed1', at);
    const { device_id: _id, service: _s, service_path: _p, apikey: _k, ...again } = list.body;
    const res = await stack.call('POST', '/v1/devices/bulk', {
      ...at,
      body: { devices: [{ device_id: 'typed1', ...again }] },
    });
    expect(res.body.results[0]).toMatchObject({ device_id: 'typed1', status: 'unchanged' });
  });
});

describe('a JSON device', () => {
  it('gets text measurements typed too, and typed ones kept', async () => {
    await provision('typed2', 'json', [
      ['n', 'temperature', 'Number'],
      ['b', 'running', 'Boolean'],
      ['s', 'shape', 'StructuredValue'],
    ]);
    const send = (body: unknown) =>
      fetch(`${stack.jsonAgent.southUrl}/iot/json?k=typed-json-k3y&i=typed2`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await send({ n: '21.5', b: '1', s: { w: 2 } })).status).toBe(200);
    const names = ['temperature', 'running', 'shape'];
    expect(values(await entity('urn:ngsi:Sensor:typed2'), names)).toEqual({
      temperature: 21.5,
      running: true,
      shape: { w: 2 },
    });
    expect((await send({ n: 3, b: false })).status).toBe(200);
    expect(values(await entity('urn:ngsi:Sensor:typed2'), names)).toEqual({
      temperature: 3,
      running: false,
      shape: { w: 2 },
    });
  });
});

describe('castExpression', () => {
  it('casts typed attributes with JEXL identifiers only, and JSON structures not at all', () => {
    expect(castExpression('t', 'Number', 'ultralight')).toBe('t | parsefloat');
    expect(castExpression('c', 'Integer', 'json')).toBe('c | parseint');
    expect(castExpression('s', 'StructuredValue', 'ultralight')).toBe('s | jsonparse');
    expect(castExpression('s', 'StructuredValue', 'json')).toBeUndefined();
    expect(castExpression('label', 'Text', 'ultralight')).toBeUndefined();
    expect(castExpression('odd-name', 'Number', 'ultralight')).toBeUndefined();
  });
});
