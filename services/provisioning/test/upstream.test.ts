/**
 * The upstream client: timeouts, retries with backoff only for idempotent methods, and the
 * distinction between an unavailable upstream and a refusal.
 */
import { afterEach, describe, expect, it } from '@jest/globals';

import type { StubServer } from '../../../testing/support/http.js';
import { json, startStub } from '../../../testing/support/http.js';
import { freePort } from '../../../testing/real/opa.js';
import { Upstream, UpstreamError, maskApiKeys } from '../src/upstream.js';

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
