/**
 * The console's client types: generated from the services' OpenAPI documents as committed, and
 * the two adjustments the generator needs (schema-local $defs hoisted, self-references cut).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { hoistDefs, renderConsoleTypes } from '../console-types.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('console client types', () => {
  it('are committed as npm run synth writes them, for every API the console calls', async () => {
    const files = await renderConsoleTypes();
    expect([...files.keys()].sort()).toEqual([
      'services/console/web/generated/fleet.ts',
      'services/console/web/generated/monitor.ts',
      'services/console/web/generated/provisioning.ts',
    ]);
    for (const [path, content] of files) {
      expect(readFileSync(join(root, path), 'utf8')).toBe(content);
    }
    expect(files.get('services/console/web/generated/fleet.ts')).toContain('"/v1/status": {');
  }, 60_000);

  it('hoists schema-local $defs into components and rewrites their references', () => {
    const doc = hoistDefs({
      openapi: '3.1.0',
      paths: {
        '/x': {
          post: {
            requestBody: {
              content: {
                'application/json': {
                  schema: {
                    $defs: {
                      __schema0: { anyOf: [{ type: 'string' }, { $ref: '#/$defs/__schema0' }] },
                    },
                    properties: { v: { $ref: '#/$defs/__schema0' } },
                  },
                },
              },
            },
          },
        },
      },
    });
    const text = JSON.stringify(doc);
    expect(text).not.toContain('#/$defs/');
    expect(text).not.toContain('"$defs"');
    const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
    const [name] = Object.keys(schemas);
    expect(text).toContain(`"#/components/schemas/${name}"`);
    // The definition's reference to itself is cut to "any JSON value".
    expect(schemas[name!]).toEqual({ anyOf: [{ type: 'string' }, {}] });
  });

  it('fails on a reference to a $defs entry that does not exist', () => {
    expect(() =>
      hoistDefs({ paths: { '/x': { get: { schema: { $ref: '#/$defs/missing' } } } } }),
    ).toThrow(/unresolvable #\/\$defs\/missing/);
  });
});
