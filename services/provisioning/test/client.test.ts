/**
 * The provisioning API client (client.ts) against a stub HTTP server that records what it sends:
 * the bulk upsert and its dry_run query, the paging of device ids and its stopping rules, the
 * tenant, service path and bearer headers, and the ApiError of problems and network failures.
 */
import { afterEach, describe, expect, it } from '@jest/globals';

import type { RecordedRequest, StubHandler, StubServer } from '../../../testing/support/http.js';
import { json, startRecordingStub } from '../../../testing/support/http.js';
import { ApiError, ProvisioningClient } from '../src/client.js';

let stub: StubServer | undefined;
let sent: RecordedRequest[] = [];

afterEach(async () => {
  await stub?.close();
  stub = undefined;
  sent = [];
});

/** A client of a server that records each request and answers with `answer(request, n)`. */
async function client(
  answer: (req: RecordedRequest, n: number) => StubHandler,
  token: string | (() => Promise<string>) = 't0k3n',
): Promise<ProvisioningClient> {
  const started = await startRecordingStub(answer);
  stub = started.stub;
  sent = started.sent;
  return new ProvisioningClient({ baseUrl: `${stub.url}/provisioning/`, tenant: 'factory', token });
}

async function failure(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

/** The headers of a call on `/line1` without a body. */
const headers = {
  accept: 'application/json',
  authorization: 'Bearer t0k3n',
  'fiware-service': 'factory',
  'fiware-servicepath': '/line1',
};

/** A page of the device listing. */
function page(count: number, n: number, from = 0): StubHandler {
  return json(200, {
    count,
    devices: Array.from({ length: n }, (_, i) => ({ device_id: `d${from + i}`, protocol: 'x' })),
  });
}

function ids(n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `d${from + i}`);
}

const result = {
  dry_run: false,
  summary: { created: 1, updated: 0, unchanged: 0, failed: 0 },
  results: [{ device_id: 'd1', status: 'created' }],
};

describe('ProvisioningClient.upsertDevices', () => {
  const devices = [{ device_id: 'd1', protocol: 'json', attributes: [{ name: 't' }] }];

  it('POSTs the devices to /v1/devices/bulk with dry_run=false by default', async () => {
    const api = await client(() => json(200, result));
    expect(await api.upsertDevices('/line1', devices)).toEqual(result);
    expect(sent).toEqual([
      {
        method: 'POST',
        path: '/provisioning/v1/devices/bulk?dry_run=false',
        headers: { ...headers, 'content-type': 'application/json' },
        body: { devices },
      },
    ]);
  });

  it('asks dry_run=true for a dry run and returns the answer as sent', async () => {
    const dry = { ...result, dry_run: true };
    const api = await client(() => json(200, dry));
    expect(await api.upsertDevices('/line1', devices, true)).toEqual(dry);
    expect(sent.map((s) => s.path)).toEqual(['/provisioning/v1/devices/bulk?dry_run=true']);
  });

  it('says dry_run=false when asked explicitly', async () => {
    const api = await client(() => json(200, result));
    await api.upsertDevices('/line1', [], false);
    expect(sent[0]!.path).toBe('/provisioning/v1/devices/bulk?dry_run=false');
    expect(sent[0]!.body).toEqual({ devices: [] });
  });

  it('resolves a 207 multi-status answer', async () => {
    const mixed = {
      dry_run: false,
      summary: { created: 1, failed: 1 },
      results: [
        { device_id: 'd1', status: 'created' },
        { device_id: 'd2', status: 'failed', reason: 'no group' },
      ],
    };
    const api = await client(() => json(207, mixed));
    expect(await api.upsertDevices('/line1', devices)).toEqual(mixed);
  });

  it('gets the token from a function on each call', async () => {
    let n = 0;
    const api = await client(
      () => json(200, result),
      async () => `fresh-${++n}`,
    );
    await api.upsertDevices('/line1', devices);
    await api.upsertDevices('/line1', devices);
    expect(sent.map((s) => s.headers.authorization)).toEqual(['Bearer fresh-1', 'Bearer fresh-2']);
  });

  it('fails with the problem of a 400, naming method, path, status and detail', async () => {
    const problem = {
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      code: 'INVALID_DEVICES',
      detail: 'devices[0].protocol is not known',
      errors: [{ path: 'devices[0].protocol' }],
    };
    const api = await client(() => json(400, problem));
    const err = await failure(api.upsertDevices('/line1', devices));
    expect(err.name).toBe('ApiError');
    expect(err.status).toBe(400);
    expect(err.problem).toEqual(problem);
    expect(err.message).toBe(
      'POST /provisioning/v1/devices/bulk answered 400: devices[0].protocol is not known',
    );
  });

  it('fails on a 503 without a problem, with the body text', async () => {
    const api = await client(() => (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('upstream connect error');
    });
    const err = await failure(api.upsertDevices('/line1', devices));
    expect(err.status).toBe(503);
    expect(err.problem).toEqual({});
    expect(err.message).toBe(
      'POST /provisioning/v1/devices/bulk answered 503: upstream connect error',
    );
    expect(sent).toHaveLength(1);
  });

  it('calls itself the provisioning service when nothing listens', async () => {
    const api = await client(() => json(200, result));
    const url = stub!.url;
    await stub!.close();
    stub = undefined;
    const err = await failure(api.upsertDevices('/line1', devices));
    expect(err.status).toBeUndefined();
    expect(err.message).toBe(
      `the provisioning service at ${url}/provisioning/ is unreachable (ECONNREFUSED)`,
    );
  });
});

describe('ProvisioningClient.deviceIds', () => {
  it('GETs one page when it holds the whole count', async () => {
    const api = await client(() => page(3, 3));
    expect(await api.deviceIds('/line1')).toEqual(['d0', 'd1', 'd2']);
    expect(sent).toEqual([
      {
        method: 'GET',
        path: '/provisioning/v1/devices?limit=1000&offset=0',
        headers,
        body: undefined,
      },
    ]);
  });

  it('pages by 1000 until the count is reached', async () => {
    const api = await client((_req, n) => (n === 1 ? page(1500, 1000) : page(1500, 500, 1000)));
    expect(await api.deviceIds('/line1')).toEqual(ids(1500));
    expect(sent.map((s) => s.path)).toEqual([
      '/provisioning/v1/devices?limit=1000&offset=0',
      '/provisioning/v1/devices?limit=1000&offset=1000',
    ]);
    expect(sent[1]!.headers).toEqual(headers);
  });

  it('stops as soon as the ids reach the count, even on a short page', async () => {
    const api = await client((_req, n) =>
      n === 1 ? page(3, 2) : n === 2 ? page(3, 1, 2) : page(3, 5, 9),
    );
    expect(await api.deviceIds('/line1')).toEqual(['d0', 'd1', 'd2']);
    expect(sent.map((s) => s.path)).toEqual([
      '/provisioning/v1/devices?limit=1000&offset=0',
      '/provisioning/v1/devices?limit=1000&offset=1000',
    ]);
  });

  it('stops when there are more ids than the count', async () => {
    const api = await client((_req, n) => (n === 1 ? page(1, 2) : page(1, 3, 10)));
    expect(await api.deviceIds('/line1')).toEqual(['d0', 'd1']);
    expect(sent).toHaveLength(1);
  });

  it('stops at an empty page although the count is not reached', async () => {
    const api = await client((_req, n) =>
      n === 1 ? page(2000, 1000) : n === 2 ? page(2000, 0) : page(2000, 7, 1000),
    );
    expect(await api.deviceIds('/line1')).toEqual(ids(1000));
    expect(sent).toHaveLength(2);
  });

  it('answers no ids for an empty path (count 0, no devices)', async () => {
    const api = await client((_req, n) => (n === 1 ? page(0, 0) : page(0, 2)));
    expect(await api.deviceIds('/line1')).toEqual([]);
    expect(sent).toHaveLength(1);
  });

  it('stops at an empty first page even when the count says otherwise', async () => {
    const api = await client((_req, n) => (n === 1 ? page(5, 0) : page(5, 5)));
    expect(await api.deviceIds('/line1')).toEqual([]);
    expect(sent).toHaveLength(1);
  });

  it('fails with the problem of a refusal', async () => {
    const problem = { status: 403, code: 'FORBIDDEN', detail: 'no access to /line1' };
    const api = await client(() => json(403, problem));
    const err = await failure(api.deviceIds('/line1'));
    expect(err.status).toBe(403);
    expect(err.problem).toEqual(problem);
    expect(err.message).toBe('GET /provisioning/v1/devices answered 403: no access to /line1');
  });

  it('fails on a later page too', async () => {
    const api = await client((_req, n) =>
      n === 1 ? page(1500, 1000) : json(500, { detail: 'database down' }),
    );
    const err = await failure(api.deviceIds('/line1'));
    expect(err.status).toBe(500);
    expect(err.message).toBe('GET /provisioning/v1/devices answered 500: database down');
    expect(sent).toHaveLength(2);
  });
});
