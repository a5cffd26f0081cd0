/**
 * The tests' destination of a service's structured log (testing/support/log-lines.ts): whole
 * lines only, whatever the writes, and a line that is not JSON is not lost silently.
 */
import { finished } from 'node:stream/promises';

import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';

import { logLines } from '../support/log-lines.js';

describe('logLines', () => {
  it('parses each line once it is complete, across writes and within a character', async () => {
    const entries: Record<string, unknown>[] = [];
    const stream = logLines((e) => entries.push(e));
    const text = '{"msg":"a"}\n{"msg":"Grüße"}\n\n{"msg":"c"}';
    const bytes = Buffer.from(text, 'utf8');
    const u = bytes.indexOf(Buffer.from('ü')); // two bytes: cut between them
    stream.write(bytes.subarray(0, 5));
    stream.write(bytes.subarray(5, u + 1));
    stream.write(bytes.subarray(u + 1));
    await new Promise((resolve) => setImmediate(resolve));
    // The last line has no newline yet: it is not taken before the stream ends.
    expect(entries).toEqual([{ msg: 'a' }, { msg: 'Grüße' }]);
    stream.end();
    await finished(stream);
    expect(entries).toEqual([{ msg: 'a' }, { msg: 'Grüße' }, { msg: 'c' }]);
  });

  it("takes a real logger's lines, and hands on each line as written", async () => {
    const entries: Record<string, unknown>[] = [];
    const lines: string[] = [];
    const log = pino(
      { level: 'info' },
      logLines((e, line) => {
        entries.push(e);
        lines.push(line);
      }),
    );
    log.info({ device: 'd1' }, 'created');
    log.debug('not at info');
    log.warn('slow');
    await new Promise((resolve) => setImmediate(resolve));
    expect(entries.map(({ msg, device, level }) => ({ msg, device, level }))).toEqual([
      { msg: 'created', device: 'd1', level: 30 },
      { msg: 'slow', device: undefined, level: 40 },
    ]);
    expect(lines.map((l) => JSON.parse(l))).toEqual(entries);
    expect(lines.every((l) => !l.includes('\n'))).toBe(true);
  });

  it('fails on a line that is not JSON, quoting it, after the lines before it', async () => {
    const entries: Record<string, unknown>[] = [];
    const strict = logLines((e) => entries.push(e));
    const failed = new Promise<Error>((resolve) => strict.on('error', resolve));
    strict.write('{"msg":"a"}\nnot json\n{"msg":"b"}\n');
    expect((await failed).message).toBe('a log line is not JSON: "not json"');
    expect(entries).toEqual([{ msg: 'a' }]);
  });

  it('fails at the end on an unfinished line that is not JSON', async () => {
    const stream = logLines(() => undefined);
    stream.end('{"msg":');
    await expect(finished(stream)).rejects.toThrow('a log line is not JSON: "{\\"msg\\":"');
  });
});
