/**
 * Test support: the destination of a service's structured log in a test. The services' loggers
 * write one JSON object a line; this parses each line as it completes, even when a line comes
 * in more than one write (or a character does), and hands it on.
 */
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * A writable stream that calls `onEntry` with each JSON line written to it, parsed, and the line
 * as written (without its newline). A line that is not JSON ends the stream with an error that
 * quotes it: a service's log is JSON throughout.
 */
export function logLines(
  onEntry: (entry: Record<string, unknown>, line: string) => void,
): Writable {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const take = (line: string): Error | undefined => {
    if (!line.trim()) return undefined;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
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
