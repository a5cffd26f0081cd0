/**
 * What the services share to read their configuration: parseEnv (every invalid variable named)
 * and readPolicyDataFile (the synth document, bare or wrapped as OPA's data tree).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { z } from 'zod';

import { parseEnv } from '../env.js';
import { readPolicyDataFile } from '../policy-data.js';

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
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
        'invalid environment:\n  PORT: Too big: expected number to be <=65535\n  URL: an http(s) URL\n  NAME: missing',
      ),
    );
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
