/**
 * The upstream client: timeouts, retries with backoff only for idempotent methods, and the
 * distinction between an unavailable upstream and a refusal.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { z } from 'zod';

import type { StubHandler, StubServer } from '../../../testing/support/http.js';
import { json, startRecordingStub, startStub } from '../../../testing/support/http.js';
import { freePort } from '../../../testing/real/opa.js';
import { Upstream, UpstreamError, maskApiKeys, summarize } from '../src/upstream.js';

let stub: StubServer | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

function failTimes(n: number, status: number) {
  let calls = 0;
  return (
    req: Parameters<Parameters<typeof startStub>[0]>[0],
    res: Parameters<Parameters<typeof startStub>[0]>[1],
  ) => {
    calls++;
    if (calls <= n)
      return json(status, { error: 'Busy', description: `attempt ${calls}` })(req, res);
    return json(200, { ok: true, calls })(req, res);
  };
}

describe('Upstream', () => {
  it('retries GET, PUT and DELETE on 503 and succeeds on the third attempt', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      stub = await startStub(failTimes(2, 503));
      const up = new Upstream({ name: 'orion', baseUrl: stub.url, backoffMs: 1 });
      const res = await up.call<{ calls: number }>(method, '/x');
      expect(res.body.calls).toBe(3);
      await stub.close();
      stub = undefined;
    }
  });

  it('never retries a POST: one attempt, then an unavailable error', async () => {
    stub = await startStub(failTimes(1, 503));
    const up = new Upstream({ name: 'iot-agent', baseUrl: stub.url, backoffMs: 1 });
    const err = await up.call('POST', '/iot/devices', { body: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).failure).toBe('unavailable');
    expect(stub.requests).toHaveLength(1);
  });

  it('does not retry a refusal (4xx, 500) and keeps the upstream reason', async () => {
    stub = await startStub(json(422, { error: 'Unprocessable', description: 'Already Exists' }));
    const up = new Upstream({ name: 'orion', baseUrl: stub.url, backoffMs: 1 });
    const err = (await up.call('GET', '/v2/entities/x').catch((e: unknown) => e)) as UpstreamError;
    expect(err.failure).toBe('rejected');
    expect(err.status).toBe(422);
    expect(err.message).toBe(
      'orion refused GET /v2/entities/x with 422: Unprocessable: Already Exists',
    );
    expect(stub.requests).toHaveLength(1);
  });

  it('gives up after the attempts, with the timeout in the message', async () => {
    stub = await startStub(() => {
      // never answers
    });
    const up = new Upstream({
      name: 'orion',
      baseUrl: stub.url,
      timeoutMs: 100,
      attempts: 2,
      backoffMs: 1,
    });
    const err = (await up.call('GET', '/version').catch((e: unknown) => e)) as UpstreamError;
    expect(err.failure).toBe('timeout');
    expect(err.message).toBe('orion did not answer GET /version within 100 ms');
    expect(stub.requests).toHaveLength(2);
  });

  it('says unreachable when nothing listens', async () => {
    const port = await freePort();
    const up = new Upstream({
      name: 'iot-agent',
      baseUrl: `http://127.0.0.1:${port}`,
      attempts: 1,
    });
    const err = (await up.call('GET', '/iot/about').catch((e: unknown) => e)) as UpstreamError;
    expect(err.unavailable).toBe(true);
    expect(err.message).toMatch(
      /iot-agent is unreachable at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
  });

  it('accepts listed statuses as answers and never puts the query string in messages', async () => {
    stub = await startStub(json(404, { name: 'DEVICE_NOT_FOUND' }));
    const up = new Upstream({ name: 'iot-agent', baseUrl: stub.url });
    const res = await up.call('DELETE', '/iot/services', {
      query: { apikey: 'k3y' },
      accept: [404],
    });
    expect(res.status).toBe(404);
    stub.handle(json(400, { name: 'BAD', message: 'no group for API Key k3y' }));
    const err = (await up
      .call('DELETE', '/iot/services', { query: { apikey: 'k3y' } })
      .catch((e: unknown) => e)) as Error;
    expect(err.message).not.toContain('k3y');
    expect(err.message).toContain('API Key ***');
  });

  it('holds only a 2xx answer to the shape; an accepted other status is returned as it came', async () => {
    const shape = z.object({ items: z.array(z.string()) });
    stub = await startStub(json(200, { items: ['a'] }));
    const up = new Upstream({ name: 'iot-agent', baseUrl: stub.url });
    expect((await up.call('GET', '/x', { shape })).body).toEqual({ items: ['a'] });
    for (const status of [300, 404]) {
      stub.handle(json(status, { name: 'NOT_ITEMS' }));
      const res = await up.call('GET', '/x', { shape, accept: [status] });
      expect([res.status, res.body]).toEqual([status, { name: 'NOT_ITEMS' }]);
    }
    stub.handle(json(299, { name: 'NOT_ITEMS' }));
    const err = (await up.call('GET', '/x', { shape }).catch((e: unknown) => e)) as UpstreamError;
    expect([err.failure, err.status, err.message]).toEqual([
      'malformed',
      299,
      'iot-agent answered GET /x with 299 and a body the service cannot read (items: Invalid input: expected array, received undefined)',
    ]);
  });
});

describe('maskApiKeys', () => {
  it.each([
    ['A device configuration for resource /iot/d and API Key 3z4w', 'API Key ***'],
    ['{"apikey":"3z4w"}', '"apikey":"***'],
    ['apikey=3z4w&x=1', 'apikey=***&x=1'],
  ])('masks %s', (text, expected) => {
    expect(maskApiKeys(text)).toContain(expected);
    expect(maskApiKeys(text)).not.toContain('3z4w');
  });
});

describe('Upstream requests and answers', () => {
  /** A stub that records each request whole and answers it with `answer`. */
  async function recording(answer: StubHandler) {
    const started = await startRecordingStub(() => answer);
    stub = started.stub;
    return started.sent;
  }

  it('sends JSON with its content type, the headers and query values given, and no undefined ones', async () => {
    const seen = await recording(json(201, { id: 'x' }));
    const up = new Upstream({ name: 'orion', baseUrl: `${stub!.url}//` });
    const res = await up.call<{ id: string }>('POST', '/v2/entities', {
      headers: { 'fiware-service': 'm', 'fiware-servicepath': undefined },
      query: { options: 'keyValues', limit: 5, offset: undefined },
      body: { id: 'x', n: 1 },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: 'x' });
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(seen).toHaveLength(1);
    // The base URL's trailing slashes are dropped: one slash before the path.
    expect(seen[0]).toEqual({
      method: 'POST',
      path: '/v2/entities?options=keyValues&limit=5',
      headers: {
        accept: 'application/json',
        'content-type': 'application/json',
        'fiware-service': 'm',
      },
      body: { id: 'x', n: 1 },
    });
  });

  it('sends no body and no content type without a body', async () => {
    const seen = await recording((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    const up = new Upstream({ name: 'orion', baseUrl: stub!.url });
    const res = await up.call('DELETE', '/v2/entities/x');
    expect(res).toMatchObject({ status: 204, body: undefined });
    expect(seen[0]).toEqual({
      method: 'DELETE',
      path: '/v2/entities/x',
      headers: { accept: 'application/json' },
      body: undefined,
    });
  });

  it('returns a text answer as text, and JSON parsed', async () => {
    await recording((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('not json {');
    });
    const up = new Upstream({ name: 'orion', baseUrl: stub!.url });
    expect((await up.call('GET', '/version')).body).toBe('not json {');
  });

  it.each([502, 503, 504])('calls %i unavailable, with the status and body', async (status) => {
    stub = await startStub(json(status, { error: 'Down' }));
    const up = new Upstream({ name: 'orion', baseUrl: stub.url, attempts: 1 });
    const err = (await up.call('GET', '/v2/x').catch((e: unknown) => e)) as UpstreamError;
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({
      name: 'UpstreamError',
      upstream: 'orion',
      failure: 'unavailable',
      status,
      body: { error: 'Down' },
      message: `orion answered ${status} to GET /v2/x`,
    });
    expect(err.unavailable).toBe(true);
  });

  it.each([400, 404, 409, 500])(
    'calls %i a refusal: not unavailable, never retried',
    async (status) => {
      stub = await startStub(json(status, { name: 'NOPE', message: 'no' }));
      const up = new Upstream({ name: 'iot-agent', baseUrl: stub.url, backoffMs: 1 });
      const err = (await up
        .call('PUT', '/iot/devices/d')
        .catch((e: unknown) => e)) as UpstreamError;
      expect(err).toMatchObject({
        failure: 'rejected',
        status,
        body: { name: 'NOPE', message: 'no' },
      });
      expect(err.unavailable).toBe(false);
      expect(stub.requests).toHaveLength(1);
    },
  );

  it('retries HEAD like GET, and never PATCH or POST', async () => {
    stub = await startStub(failTimes(1, 503));
    const head = new Upstream({ name: 'orion', baseUrl: stub.url, backoffMs: 1 });
    expect((await head.call('HEAD', '/v2')).status).toBe(200);
    expect(stub.requests).toHaveLength(2);
    for (const method of ['PATCH', 'POST']) {
      stub.handle(failTimes(1, 503));
      const before = stub.requests.length;
      const err = (await head.call(method, '/v2').catch((e: unknown) => e)) as UpstreamError;
      expect(err.failure).toBe('unavailable');
      expect(stub.requests.length - before).toBe(1);
    }
  });

  it('makes three attempts by default, and as many as configured', async () => {
    stub = await startStub(failTimes(10, 503));
    const byDefault = new Upstream({ name: 'orion', baseUrl: stub.url, backoffMs: 1 });
    await byDefault.call('GET', '/x').catch(() => undefined);
    expect(stub.requests).toHaveLength(3);
    const five = new Upstream({ name: 'orion', baseUrl: stub.url, backoffMs: 1, attempts: 5 });
    await five.call('GET', '/x').catch(() => undefined);
    expect(stub.requests).toHaveLength(8);
  });

  // Full jitter: each wait is random below backoff * 2^(n-1); with Math.random() pinned to the
  // top, each wait is its bound.
  async function pinnedRandom<T>(run: () => Promise<T>): Promise<T> {
    const random = Math.random;
    Math.random = () => 0.999;
    try {
      return await run();
    } finally {
      Math.random = random;
    }
  }

  it('waits between attempts, growing from the first backoff', async () => {
    stub = await startStub(failTimes(10, 503));
    const up = new Upstream({ name: 'orion', baseUrl: stub.url, backoffMs: 100, attempts: 3 });
    const started = performance.now();
    await pinnedRandom(() => up.call('GET', '/x').catch(() => undefined));
    // Waits of about 100 ms and 200 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('waits 100 ms before the second attempt by default', async () => {
    stub = await startStub(failTimes(1, 503));
    const up = new Upstream({ name: 'orion', baseUrl: stub.url });
    const started = performance.now();
    await pinnedRandom(() => up.call('GET', '/x'));
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
  });

  it('never waits before the first attempt', async () => {
    stub = await startStub(json(200, { ok: true }));
    // A first wait would be 5 s (half the backoff), beyond the test's own timeout.
    const up = new Upstream({ name: 'orion', baseUrl: stub.url, backoffMs: 10_000 });
    const started = performance.now();
    await pinnedRandom(() => up.call('GET', '/x'));
    expect(performance.now() - started).toBeLessThan(2500);
  });

  it('doubles the wait from the first backoff, no faster', async () => {
    stub = await startStub(failTimes(10, 503));
    const up = new Upstream({ name: 'orion', baseUrl: stub.url, backoffMs: 50, attempts: 3 });
    const started = performance.now();
    await pinnedRandom(() => up.call('GET', '/x').catch(() => undefined));
    // 50 ms, then 100 ms; a wait that grew four times faster would take 2.4 s.
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(145);
    expect(took).toBeLessThan(1500);
  });

  it('reports every attempt with its outcome', async () => {
    stub = await startStub(failTimes(1, 503));
    const seen: [string, string, string][] = [];
    const up = new Upstream({
      name: 'orion',
      baseUrl: stub.url,
      backoffMs: 1,
      onAttempt: (name, method, outcome, seconds) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        expect(seconds).toBeLessThan(10);
        seen.push([name, method, outcome]);
      },
    });
    await up.call('GET', '/x');
    const port = await freePort();
    const down = new Upstream({
      name: 'iot-agent',
      baseUrl: `http://127.0.0.1:${port}`,
      attempts: 1,
      onAttempt: (name, method, outcome) => seen.push([name, method, outcome]),
    });
    await down.call('DELETE', '/x').catch(() => undefined);
    expect(seen).toEqual([
      ['orion', 'GET', '503'],
      ['orion', 'GET', '200'],
      ['iot-agent', 'DELETE', 'unavailable'],
    ]);
  });
});

describe('summarize', () => {
  it.each<[unknown, string]>([
    [{ error: 'BadRequest', description: 'Invalid characters' }, 'BadRequest: Invalid characters'],
    [{ name: 'DEVICE_NOT_FOUND', message: 'No device d1' }, 'DEVICE_NOT_FOUND: No device d1'],
    [{ error: 'E', name: 'N', description: 'D', message: 'M' }, 'E: D'],
    [{ description: 'only a description' }, 'only a description'],
    [{ name: 'ONLY_A_NAME' }, 'ONLY_A_NAME'],
    [{ other: 1 }, '{"other":1}'],
    [{}, '{}'],
    [[{ apikey: 's3cr3t' }], '[{"apikey":"***"}]'],
    ['plain text', 'plain text'],
    [undefined, 'no body'],
    [null, 'no body'],
  ])('says %p as %p', (body, text) => {
    expect(summarize(body)).toBe(text);
  });

  it('keeps 300 characters, and masks API keys', () => {
    expect(summarize({ error: 'E', description: 'x'.repeat(400) })).toHaveLength(300);
    expect(summarize('y'.repeat(400))).toHaveLength(300);
    expect(summarize({ other: 'z'.repeat(400) })).toBe(`{"other":"${'z'.repeat(290)}`);
    expect(summarize({ error: 'E', description: 'no group for API Key s3cr3t' })).toBe(
      'E: no group for API Key ***',
    );
    expect(summarize('apikey=s3cr3t')).toBe('apikey=***');
  });
});
