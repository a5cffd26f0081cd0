/**
 * The decision log of the real OPA, with the platform's masking policy (policies/system) as the
 * cluster loads it: no bearer token, cookie, API key or query string reaches a log entry,
 * while the path and the ids to follow a request (correlator, request id) stay.
 */
import { policyData } from '../../platform/policy-data.js';
import { DECISION_PATH } from '../../platform/policy-data.js';
import { platformContext } from '../real/keycloak.js';
import type { OpaDecisionLog, OpaServer } from '../real/opa.js';
import { decisionLogEntry, startOpa } from '../real/opa.js';

let opa: OpaServer;
const entries: OpaDecisionLog[] = [];

beforeAll(async () => {
  opa = await startOpa(
    { kitt4sme: { config: policyData(platformContext()) } },
    { decisionLog: (e) => entries.push(e) },
  );
}, 60_000);
afterAll(async () => {
  await opa?.stop();
});

/** The entry of the decision on `path`, once OPA has written it. */
async function loggedFor(marker: string): Promise<OpaDecisionLog> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found = entries.find((e) => JSON.stringify(e).includes(marker));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no decision log entry names ${marker}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('logs a device request without its API key, token, cookie or query', async () => {
  const path = '/iota-south/iot/d?k=SECRETKEY123&i=dev1';
  await opa.query(DECISION_PATH, {
    attributes: {
      request: {
        http: {
          method: 'POST',
          path,
          headers: {
            ':path': path,
            authorization: 'Bearer SECRET.TOKEN.VALUE',
            cookie: 'session=SECRETCOOKIE',
            'fiware-correlator': 'corr-masked-1',
            'x-request-id': 'rid-masked-1',
          },
        },
      },
    },
    parsed_query: { k: ['SECRETKEY123'], i: ['dev1'] },
  });
  const entry = await loggedFor('corr-masked-1');
  const text = JSON.stringify(entry);
  expect(text).not.toMatch(/SECRETKEY123|SECRET\.TOKEN|SECRETCOOKIE|dev1/);
  const http = (entry.input as any).attributes.request.http;
  expect(http.path).toBe('/iota-south/iot/d');
  expect(http.headers[':path']).toBe('/iota-south/iot/d');
  expect(http.headers['x-request-id']).toBe('rid-masked-1');
  expect(entry.erased).toEqual(
    expect.arrayContaining([
      '/input/attributes/request/http/headers/authorization',
      '/input/attributes/request/http/headers/cookie',
      '/input/parsed_query',
    ]),
  );
  expect(entry.masked).toEqual(
    expect.arrayContaining([
      '/input/attributes/request/http/path',
      '/input/attributes/request/http/headers/:path',
    ]),
  );
});

it('reads only decision-log lines from the log', () => {
  expect(decisionLogEntry('{"level":"info","msg":"Starting decision logger."}')).toBeUndefined();
  expect(decisionLogEntry('not json')).toBeUndefined();
  expect(
    decisionLogEntry('{"msg":"Decision Log","decision_id":"d1","path":"kitt4sme/authz/decision"}'),
  ).toMatchObject({ decision_id: 'd1' });
});
