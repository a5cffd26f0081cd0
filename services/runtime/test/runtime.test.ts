/**
 * What the services' processes share (services/runtime): the probes and the API mounting of
 * their express apps over a real listening server, the logger's format and redaction, and the
 * entry point's exit codes and stderr in a real child process.
 */
import { spawn } from 'node:child_process';
import { Agent, get as httpGet } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { brotliDecompressSync, createBrotliDecompress, gunzipSync, gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { Counter, Registry } from 'prom-client';

import { waitFor } from '../../../testing/support/processes.js';

import {
  CLOSE_MS,
  DRAIN_MS,
  addProbes,
  requestFault,
  createServiceLogger,
  mountApi,
  sendInternalError,
} from '../src/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const TSX = join(HERE, '..', '..', '..', 'node_modules', '.bin', 'tsx');

describe('addProbes and mountApi', () => {
  let server: Server;
  let base: string;
  let ready = false;
  const failures: unknown[] = [];

  beforeAll(async () => {
    const registry = new Registry();
    new Counter({ name: 'fixture_total', help: 'a counter', registers: [registry] }).inc();
    const app = express();
    addProbes(app, { registry, ready: () => ready });
    const api = express.Router();
    api.get('/ok', (_req, res) => {
      res.json({ ok: true });
    });
    api.get('/throws', () => {
      throw new Error('unexpected');
    });
    mountApi(app, '/svc', api, {
      notFound: (message) => ({ notFound: message }),
      sendFailure: (req, res, err) => {
        failures.push(err);
        if ((err as { notFound?: string }).notFound) res.status(404).json(err);
        else sendInternalError(req, res, 'see the log');
      },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('answers /healthz ok, /readyz 503 starting until ready() and then 200 ready', async () => {
    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    ready = false;
    const starting = await fetch(`${base}/readyz`);
    expect([starting.status, await starting.json()]).toEqual([503, { status: 'starting' }]);
    ready = true;
    const up = await fetch(`${base}/readyz`);
    expect([up.status, await up.json()]).toEqual([200, { status: 'ready' }]);
  });

  it('serves the registry as Prometheus text on /metrics', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^fixture_total 1$/m);
  });

  it('serves the API under its prefix', async () => {
    const res = await fetch(`${base}/svc/ok`);
    expect([res.status, await res.json()]).toEqual([200, { ok: true }]);
  });

  it('fails an unknown endpoint under the prefix or outside it with notFound, query left out', async () => {
    const inside = await fetch(`${base}/svc/nope?x=1`, { method: 'DELETE' });
    expect([inside.status, await inside.json()]).toEqual([
      404,
      { notFound: 'no such endpoint: DELETE /svc/nope' },
    ]);
    const outside = await fetch(`${base}/elsewhere?x=1`);
    expect([outside.status, await outside.json()]).toEqual([
      404,
      { notFound: 'no such endpoint: GET /elsewhere' },
    ]);
  });

  it('hands an error the API throws to sendFailure; sendInternalError answers a 500 problem', async () => {
    failures.length = 0;
    const res = await fetch(`${base}/svc/throws?secret=1`);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toEqual({
      type: 'https://kitt4sme.eu/problems/internal',
      title: 'Internal Server Error',
      status: 500,
      detail: 'see the log',
      instance: '/svc/throws',
    });
    expect(failures).toEqual([new Error('unexpected')]);
  });
});

describe('requestFault', () => {
  let server: Server;
  let base: string;
  /** What the error handler saw: the fault, or `unexpected`. */
  const seen: unknown[] = [];

  beforeAll(async () => {
    const app = express();
    app.use(express.json({ limit: 64 }));
    app.post('/echo', (req, res) => {
      res.json(req.body);
    });
    app.get('/item/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      const fault = requestFault(err, 'over 64 bytes');
      seen.push(fault ?? 'unexpected');
      if (fault) res.status(fault.status).json(fault);
      else res.status(500).json({ unexpected: true });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const post = async (body: string | Buffer, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    return [res.status, await res.json()];
  };

  it('leaves a body it can read alone, compressed or not', async () => {
    expect(await post('{"a":1}')).toEqual([200, { a: 1 }]);
    expect(await post(gzipSync('{"a":2}'), { 'content-encoding': 'gzip' })).toEqual([
      200,
      { a: 2 },
    ]);
    expect(await post('{"a":3}', { 'content-type': 'application/json; charset=utf-8' })).toEqual([
      200,
      { a: 3 },
    ]);
  });

  it("tells the sender's mistake in each body express.json refuses, with the field at fault", async () => {
    seen.length = 0;
    expect(await post('{"a":')).toEqual([
      400,
      {
        status: 400,
        detail: 'the body is not valid JSON',
        errors: [{ field: '(body)', message: 'not valid JSON' }],
      },
    ]);
    expect(await post(JSON.stringify({ pad: 'x'.repeat(64) }))).toEqual([
      413,
      { status: 413, detail: 'over 64 bytes', errors: [] },
    ]);
    expect(await post('{"a":1}', { 'content-type': 'application/json; charset=latin1' })).toEqual([
      415,
      {
        status: 415,
        detail:
          "the body's charset latin1 is not one the JSON reader takes; declare charset=utf-8, or none",
        errors: [{ field: 'header content-type', message: 'charset=utf-8, or none' }],
      },
    ]);
    expect(await post('{"a":1}', { 'content-encoding': 'compress' })).toEqual([
      415,
      {
        status: 415,
        detail:
          'the content encoding compress is not one the service undoes; send the body as it is, or gzip, deflate or br',
        errors: [{ field: 'header content-encoding', message: 'gzip, deflate, br, or none' }],
      },
    ]);
    expect(await post('{"a":1}', { 'content-encoding': 'gzip' })).toEqual([
      400,
      {
        status: 400,
        detail: 'the body was not taken: it does not decompress (Z_DATA_ERROR)',
        errors: [{ field: '(body)', message: 'it does not decompress (Z_DATA_ERROR)' }],
      },
    ]);
    expect(seen).not.toContain('unexpected');
  });

  it('tells a path parameter whose %-escapes are not UTF-8, and decodes one that is', async () => {
    seen.length = 0;
    const good = await fetch(`${base}/item/caf%C3%A9`);
    expect([good.status, await good.json()]).toEqual([200, { id: 'café' }]);
    const bad = await fetch(`${base}/item/%E0`);
    expect([bad.status, await bad.json()]).toEqual([
      400,
      {
        status: 400,
        detail:
          "the path does not decode: Failed to decode param '%E0' (a %-escape must encode UTF-8)",
        errors: [{ field: 'path', message: 'a %-escape that is not UTF-8' }],
      },
    ]);
    expect(seen).not.toContain('unexpected');
  });

  it('tells a body cut short, though no one is left to read the answer', async () => {
    seen.length = 0;
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 50\r\n\r\n{"a":',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([
      {
        status: 400,
        detail: 'the body was not taken: the request ended before its body did',
        errors: [{ field: '(body)', message: 'the request ended before its body did' }],
      },
    ]);
  });

  it('takes an error of the reader the sender caused by its type, and leaves every other error to the caller', () => {
    const fault = (err: unknown) => requestFault(err, 'too large');
    expect(fault({ type: 'request.size.invalid', status: 400, expose: true })).toEqual({
      status: 400,
      detail: 'the body was not taken: its length is not the content-length the request declares',
      errors: [
        { field: '(body)', message: 'its length is not the content-length the request declares' },
      ],
    });
    // The codes are Node's own, taken from real zlib failures: gzip's (Z_…), a brotli stream's
    // (ERR__ERROR…) and a brotli decoder's (ERR_BROTLI…).
    const codeOf = (fail: () => unknown): string => {
      try {
        fail();
      } catch (err) {
        return (err as { code: string }).code;
      }
      throw new Error('zlib took what it should have refused');
    };
    const codes = [
      codeOf(() => gunzipSync(Buffer.from('not gzip'))),
      codeOf(() => brotliDecompressSync(Buffer.from([0xff, 0xff, 0xff, 0xff]))),
      codeOf(() => createBrotliDecompress({ params: { 999: 1 } })),
    ];
    expect(codes).toEqual([
      expect.stringMatching(/^Z_/),
      expect.stringMatching(/^ERR__ERROR/),
      expect.stringMatching(/^ERR_BROTLI/),
    ]);
    for (const code of codes) {
      expect(fault({ status: 400, expose: true, code })?.detail).toBe(
        `the body was not taken: it does not decompress (${code})`,
      );
    }
    for (const err of [
      new Error('boom'),
      null,
      undefined,
      'entity.parse.failed',
      { type: 'stream.not.readable', status: 500, expose: false },
      { status: 400, expose: false },
      { status: 400 },
      { status: '400', expose: true },
      { status: 399, expose: true },
      { status: 500, expose: true },
      // An error of the sender's, but not one this reads (a verify callback's 403, others).
      { type: 'entity.verify.failed', status: 403, expose: true },
      { type: 'something.else', status: 400, expose: true },
      { status: 400, expose: true, code: 'ECONNRESET' },
      { status: 401, expose: true, code: 'Z_DATA_ERROR' },
      // A URIError that is not the router's (no status), and a plain one.
      new URIError('URI malformed'),
      Object.assign(new URIError('x'), { status: 404 }),
    ]) {
      expect([err, fault(err)]).toEqual([err, undefined]);
    }
  });
});

describe('createServiceLogger', () => {
  it('writes JSON lines with the service, the level by name, an ISO time, secrets redacted', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createServiceLogger('fixture', ['secret', '*.secret'], 'info', sink);
    log.debug('not at info');
    log.info({ secret: 's1', sub: { secret: 's2', kept: 'k' } }, 'hello');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 'info',
      service: 'fixture',
      msg: 'hello',
      secret: '[redacted]',
      sub: { secret: '[redacted]', kept: 'k' },
    });
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});

describe('runServer', () => {
  interface Run {
    code: number | null;
    stdout: string;
    stderr: string;
  }
  interface Child {
    /** The fixture's port, once it listens. */
    port: number;
    /** The port of its other server (`otherServers`). */
    otherPort: number;
    /** Sends the fixture a signal (SIGTERM unless told). */
    signal(name?: NodeJS.Signals): void;
  }
  /**
   * Runs the fixture entry point in `mode` (with `env`); `onLine` gets each line it prints
   * once it listens. Resolves with its exit code and output.
   */
  function run(
    mode: string,
    onLine?: (line: string, child: Child) => void,
    env: Record<string, string> = {},
  ) {
    return new Promise<Run>((resolve) => {
      const proc = spawn(TSX, [join(HERE, 'fixtures', 'server.ts')], {
        env: { ...process.env, ...env, RUNTIME_FIXTURE: mode, NODE_OPTIONS: '' },
      });
      let stdout = '';
      let stderr = '';
      let child: Child | undefined;
      let seen = 0;
      proc.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const lines = stdout.split('\n').slice(0, -1);
        for (const line of lines.slice(seen)) {
          const listening = /^listening (\d+) (\d+)$/.exec(line);
          if (listening && !child) {
            child = {
              port: Number(listening[1]),
              otherPort: Number(listening[2]),
              signal: (name) => proc.kill(name ?? 'SIGTERM'),
            };
          }
          if (child) onLine?.(line, child);
        }
        seen = lines.length;
      });
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** GET `path` on the fixture; resolves with the status and body, or the error's code. */
  function get(port: number, path: string, agent: Agent | false = false) {
    return new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
      const req = httpGet({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode, body }));
        res.on('error', (err: NodeJS.ErrnoException) =>
          resolve({ error: err.code ?? err.message }),
        );
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    });
  }

  /** GETs `/` every 50 ms until the connection is refused; rejects after 10 s. */
  const refused = (port: number) =>
    waitFor(
      async () => (await get(port, '/')).error === 'ECONNREFUSED',
      10_000,
      () => new Error(`port ${port} still takes connections`),
      50,
    );

  it('exits 0 once SIGTERM has closed the server and then the service', async () => {
    const out = await run('ok', (line, child) => {
      if (line.startsWith('listening')) child.signal();
    });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/\nclosed, 0 connections open\n$/);
  }, 60_000);

  it('refuses new connections at SIGTERM, answers the request in flight, then closes and exits 0', async () => {
    const order: string[] = [];
    let answer: Promise<unknown> | undefined;
    const out = await run('ok', (line, child) => {
      if (line.startsWith('listening')) {
        answer = get(child.port, '/slow').then((a) => (order.push('answered'), a));
      }
      if (line === 'got /slow') {
        child.signal();
        void refused(child.port).then(
          () => order.push('refused'),
          () => order.push('never refused'),
        );
      }
    });
    order.push('exited');
    expect(await answer).toEqual({ status: 200, body: 'slow answer' });
    // Refused while the answer (1.5 s) was still being made; close() came after the drain,
    // with no connection left to cut.
    expect(order).toEqual(['refused', 'answered', 'exited']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/\nclosed, 0 connections open\n$/);
  }, 60_000);

  it('drains the other servers too (the monitor’s events port)', async () => {
    let answer: Promise<unknown> | undefined;
    const out = await run('ok', (line, child) => {
      if (line.startsWith('listening')) answer = get(child.otherPort, '/slow');
      if (line === 'got /slow') child.signal();
    });
    expect(await answer).toEqual({ status: 200, body: 'slow answer' });
    expect(out.code).toBe(0);
  }, 60_000);

  it('ends a kept-alive connection once its request is answered, not at its keep-alive timeout', async () => {
    const agent = new Agent({ keepAlive: true });
    let answeredAt = 0;
    let answer: Promise<unknown> | undefined;
    const out = await run(
      'ok',
      (line, child) => {
        if (line.startsWith('listening')) {
          answer = get(child.port, '/slow', agent).then((a) => ((answeredAt = Date.now()), a));
        }
        if (line === 'got /slow') child.signal();
      },
      { RUNTIME_SLOW_MS: '300' },
    );
    const exitedAfter = Date.now() - answeredAt;
    agent.destroy();
    expect(await answer).toEqual({ status: 200, body: 'slow answer' });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/\nclosed, 0 connections open\n$/);
    // Node keeps an answered connection open for its keepAliveTimeout (5 s) and close() waits
    // for it; the drain ends it when idle, and the drain time (10 s) is not reached.
    expect(exitedAfter).toBeLessThan(2_500);
  }, 60_000);

  it('cuts a request still running when the drain time is up, closes the service, exits 0', async () => {
    let hung: Promise<{ error?: string }> | undefined;
    let signalledAt = 0;
    const out = await run(
      'ok',
      (line, child) => {
        if (line.startsWith('listening')) hung = get(child.port, '/hang');
        if (line === 'got /hang') {
          signalledAt = Date.now();
          child.signal();
        }
      },
      { RUNTIME_DRAIN_MS: '400' },
    );
    const stoppedAfter = Date.now() - signalledAt;
    expect((await hung)?.error).toBe('ECONNRESET');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/\nclosed, 0 connections open\n$/);
    // The drain time given, not the default of 10 s, nor no wait at all.
    expect(stoppedAfter).toBeGreaterThanOrEqual(400);
    expect(stoppedAfter).toBeLessThan(DRAIN_MS);
  }, 60_000);

  it('exits 1 with "<name> did not stop cleanly" and the stack when close() fails', async () => {
    const out = await run('close-fails', (line, child) => {
      if (line.startsWith('listening')) child.signal();
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(
      /^fixture service did not stop cleanly: Error: the queue would not stop\n {4}at /,
    );
  }, 60_000);

  it('exits 1 when close() takes longer than its time', async () => {
    const out = await run(
      'close-hangs',
      (line, child) => {
        if (line.startsWith('listening')) child.signal();
      },
      { RUNTIME_CLOSE_MS: '300' },
    );
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(
      /^fixture service did not stop cleanly: Error: close\(\) did not finish within 300 ms\n/,
    );
  }, 60_000);

  it('ends at once with 130 on a second signal while stopping', async () => {
    // close() never ends and has the default 10 s: only the second signal ends the process.
    let first = 0;
    const out = await run('close-hangs', (line, child) => {
      if (line.startsWith('listening')) {
        first = Date.now();
        child.signal('SIGTERM');
        setTimeout(() => child.signal('SIGINT'), 300);
      }
    });
    expect(out.code).toBe(130);
    expect(Date.now() - first).toBeLessThan(CLOSE_MS);
    expect(out.stderr).toBe('');
  }, 60_000);

  it('fails with exit 1 and the code, message and fix of a documented error', async () => {
    const out = await run('documented');
    expect(out.code).toBe(1);
    expect(out.stderr).toBe('ERR_MONITOR_CONFIG: bad value\n  fix: set it right\n');
  }, 60_000);

  it('fails with exit 1 and "<name> failed to start" and the stack of any other error', async () => {
    const out = await run('crash');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^fixture service failed to start: Error: boom\n {4}at /);
  }, 60_000);
});
