/**
 * Test support: the destination of a service's structured log in a test. The services' loggers
 * write one JSON object a line; this parses each line as it completes, even when a line comes
 * in more than one write (or a character does), and hands it on.
 */
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export interface LogLinesOptions {
  /**
   * What a line that is not JSON does: `fail` (the default) ends the stream with an error that
   * quotes the line, as a service's log is JSON throughout; `skip` leaves it out.
   */
  readonly nonJson?: 'fail' | 'skip';
}

/**
 * A writable stream that calls `onEntry` with each JSON line written to it, parsed, and the line
 * as written (without its newline).
 */
export function logLines(
  onEntry: (entry: Record<string, unknown>, line: string) => void,
  opts: LogLinesOptions = {},
): Writable {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const take = (line: string): Error | undefined => {
    if (!line.trim()) return undefined;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      if (opts.nonJson === 'skip') return undefined;
      return new Error(`a log line is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
    }
    onEntry(entry as Record<string, unknown>, line);
    return undefined;
  };
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const lines = (partial + decoder.write(chunk)).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const err = take(line);
        if (err) return done(err);
      }
      done();
    },
    final(done) {
      const err = take(partial + decoder.end());
      partial = '';
      done(err);
    },
  });
}
