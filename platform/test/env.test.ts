/**
 * What the services share to read their configuration: parseEnv (every invalid variable named)
 * and readPolicyDataFile (the synth document, bare or wrapped as OPA's data tree).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { z } from 'zod';

import { envInt, envNumber, parseEnv } from '../env.js';
import { readPolicyDataFile } from '../policy-data.js';

const Env = z.object({
  PORT: envInt(0, 65535).default(8080),
  URL: z.url({ error: 'an http(s) URL' }),
  NAME: z.string().min(1, 'a name'),
});
const fail = (message: string, cause?: unknown) => Object.assign(new Error(message), { cause });

describe('parseEnv', () => {
  it('returns the parsed values, defaults included', () => {
    expect(parseEnv(Env, { URL: 'http://x', NAME: 'n' }, fail)).toEqual({
      PORT: 8080,
      URL: 'http://x',
      NAME: 'n',
    });
  });

  it('fails naming every invalid variable, missing or with what the schema wants', () => {
    expect(() => parseEnv(Env, { PORT: '70000', URL: 'nope' }, fail)).toThrow(
      new Error(
        'invalid environment:\n  PORT: a whole number from 0 to 65535, in decimal digits\n  URL: an http(s) URL\n  NAME: missing',
      ),
    );
  });
});

describe('envInt and envNumber', () => {
  const parse = (schema: z.ZodType, value: string | undefined) => {
    const r = schema.safeParse(value);
    return r.success ? r.data : r.error.issues.map((i) => i.message);
  };
  const port = envInt(0, 65535);
  const wanted = 'a whole number from 0 to 65535, in decimal digits';

  it('reads decimal digits, the bounds included, and a default when unset', () => {
    expect(parse(port, '0')).toBe(0);
    expect(parse(port, '65535')).toBe(65535);
    expect(parse(port, '08080')).toBe(8080);
    expect(parse(envInt(-5, 5), '-5')).toBe(-5);
    expect(parse(port.default(8080), undefined)).toBe(8080);
  });

  // z.coerce.number() reads '' as 0 (a random port), ' 80 ' as 80, '0x10' as 16, '1e3' as 1000.
  it.each(['', ' ', ' 80 ', '80 ', '0x10', '1e3', '8.5', '+80', '-1', '65536', 'eighty', '1_000'])(
    'refuses %j with what it wants, once',
    (value) => {
      expect(parse(port, value)).toEqual([wanted]);
    },
  );

  it('names what the number is for', () => {
    expect(parse(envInt(1, 10, 'attempts'), '0')).toEqual([
      'attempts from 1 to 10, in decimal digits',
    ]);
  });

  it('reads decimals within bounds for envNumber, the lower one excluded with above', () => {
    const ratio = envNumber(0, 10);
    expect(parse(ratio, '0')).toBe(0);
    expect(parse(ratio, '0.25')).toBe(0.25);
    expect(parse(ratio, '10')).toBe(10);
    expect(parse(ratio.default(0.1), undefined)).toBe(0.1);
    for (const bad of ['', '.5', '1.', '1e1', '0x1', ' 1', '10.01', '-0.1']) {
      expect(parse(ratio, bad)).toEqual(['a number from 0 to 10, in decimal']);
    }
    const seconds = envNumber(0, 86_400, 'seconds between heartbeats', true);
    expect(parse(seconds, '0.5')).toBe(0.5);
    expect(parse(seconds, '86400')).toBe(86_400);
    for (const bad of ['0', '-1', '86400.5', '']) {
      expect(parse(seconds, bad)).toEqual([
        'seconds between heartbeats above 0, up to 86400, in decimal',
      ]);
    }
  });
});

describe('readPolicyDataFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'policy-data-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const file = (text: string) => {
    const path = join(dir, 'data.json');
    writeFileSync(path, text);
    return path;
  };

  it('reads the document synth generates as it is', () => {
    expect(readPolicyDataFile(file('{"tenants":["a"]}'), fail)).toEqual({ tenants: ['a'] });
  });

  it('unwraps the document from OPA’s data tree (kitt4sme.config)', () => {
    const path = file('{"kitt4sme":{"config":{"tenants":["b"]},"keys":{}}}');
    expect(readPolicyDataFile(path, fail)).toEqual({ tenants: ['b'] });
  });

  it('fails on a file that is not JSON, with the path, the reason and the cause', () => {
    const path = file('{not json');
    let thrown: Error | undefined;
    try {
      readPolicyDataFile(path, fail);
    } catch (err) {
      thrown = err as Error;
    }
    expect(thrown?.message).toMatch(
      new RegExp(`^POLICY_DATA_FILE ${path} is not a readable JSON file \\(.*JSON.*\\)$`),
    );
    expect(thrown?.cause).toBeInstanceOf(SyntaxError);
  });

  it('fails on a missing file', () => {
    const path = join(dir, 'absent.json');
    expect(() => readPolicyDataFile(path, fail)).toThrow(
      `POLICY_DATA_FILE ${path} is not a readable JSON file (ENOENT`,
    );
  });
});
