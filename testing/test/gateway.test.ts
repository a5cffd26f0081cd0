/**
 * The local ingress gateway: routing, path normalisation and the gateway's authorization
 * policies, read from the synthesized objects through the Istio interpreter, against echoing
 * stub backends and a stub authorizer; then with the real OPA and the platform policy; and with
 * route tables unlike the repository's, synthesized and enforced as synthesized.
 *
 * Requests go out with node:http, never fetch: fetch resolves `..` and `.` itself, so the
 * path tricks would never reach the gateway.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { RouteSpec } from '../../platform/routes.js';
import { ROUTES } from '../../platform/routes.js';
import { TENANT_HEADER } from '../../platform/tenancy.js';
import { DECISION_PATH, apiKeyData, policyData } from '../../platform/policy-data.js';
import { headersOf, policyInput } from '../../services/tenancy/src/input.js';
import type { Decision } from '../../services/tenancy/src/policy.js';
import { TenancyPolicy } from '../../services/tenancy/src/policy.js';
import { istioMatches } from '../istio/paths.js';
import type { Authorizer, Gateway, GatewayOptions } from '../stack/gateway.js';
import { FRAGMENT_REASON, opaAuthorizer, startGateway } from '../stack/gateway.js';
import { json, startStub } from '../support/http.js';
import type { StubServer } from '../support/http.js';
import { platformContext } from '../real/keycloak.js';
import type { OpaServer } from '../real/opa.js';
import { startOpa } from '../real/opa.js';
import type { TestKeys, TokenRecipe } from '../support/tokens.js';
import { generateTestKeys, makeToken } from '../support/tokens.js';
import { synth } from '../support/synth.js';

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** What an echo backend saw. */
interface Echo {
  backend: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Sends one request with the path exactly as given. */
function send(
  base: string,
  method: string,
  path: string,
  o: { headers?: Record<string, string> | string[]; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    // Node adds Host itself to object headers only.
    const headers =
      Array.isArray(o.headers) && !o.headers.some((h, i) => i % 2 === 0 && /^host$/i.test(h))
        ? ['Host', url.host, ...o.headers]
        : o.headers;
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

const echoOf = (r: Reply): Echo => {
  expect(r.headers['content-type']).toBe('application/echo+json');
  return JSON.parse(r.text) as Echo;
};

/** A backend that answers with what it received; `/.../cookies` answers 201 with two cookies. */
function echo(backend: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const cookies = req.url?.endsWith('/cookies');
      res.writeHead(cookies ? 201 : 200, [
        'Content-Type',
        'application/echo+json',
        // As Orion does, a request without a correlator gets one in the answer.
        ...(req.headers['fiware-correlator'] ? [] : ['Fiware-Correlator', `${backend}-correlator`]),
        ...(cookies
          ? [
              'Set-Cookie',
              'a=1',
              'Set-Cookie',
              'b=2',
              'Connection',
              'x-resp-hop',
              'X-Resp-Hop',
              '1',
            ]
          : []),
      ]);
      res.end(
        JSON.stringify({
          backend,
          method: req.method ?? '',
          url: req.url ?? '',
          headers: headersOf(req),
          body: Buffer.concat(chunks).toString('utf8'),
        } satisfies Echo),
      );
    });
  };
}

const keyOf = (r: RouteSpec) => `${r.backend.service}/${r.backend.port}`;
/** Every backend of the route table except Kiali's, which the "missing backend" tests use. */
const BACKEND_KEYS = [...new Set(ROUTES.map(keyOf))].filter((k) => k !== 'kiali/ui');

const stubs: StubServer[] = [];
const backends: Record<string, string> = {};
const gateways: Gateway[] = [];

async function gateway(opts: Partial<GatewayOptions> & Pick<GatewayOptions, 'authorize'>) {
  const gw = await startGateway({ backends, ...opts });
  gateways.push(gw);
  return gw;
}

beforeAll(async () => {
  for (const key of BACKEND_KEYS) {
    const stub = await startStub(echo(key));
    stubs.push(stub);
    backends[key] = stub.url;
  }
});
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await Promise.all(stubs.map((s) => s.close()));
});

/** A stub authorizer: records every input and answers with `answer`. */
function recordingAuthorizer() {
  const inputs: Record<string, any>[] = [];
  const state = {
    inputs,
    answer: (async () => ({
      allowed: true,
      headers: { [TENANT_HEADER]: 'manufracture' },
    })) as Authorizer,
    authorize: ((input) => {
      inputs.push(input);
      return state.answer(input);
    }) as Authorizer,
  };
  return state;
}

const pathsAsked = (inputs: Record<string, any>[]) =>
  inputs.map((i) => i.attributes.request.http.path as string);

// ---------------------------------------------------------------------------------------------
// With a stub authorizer
// ---------------------------------------------------------------------------------------------

describe('startGateway', () => {
  const authz = recordingAuthorizer();
  let gw: Gateway;

  beforeAll(async () => {
    gw = await gateway({ authorize: authz.authorize });
  });
  beforeEach(() => {
    authz.inputs.length = 0;
    authz.answer = async () => ({ allowed: true, headers: { [TENANT_HEADER]: 'manufracture' } });
  });

  describe('routing', () => {
    it('strips the prefix of a stripPrefix route, keeping the slash', async () => {
      const e = echoOf(await send(gw.url, 'GET', '/orion/v2/entities'));
      expect(e).toMatchObject({ backend: 'orion/api', url: '/v2/entities' });
    });

    it('sends the bare prefix to the backend root', async () => {
      const e = echoOf(await send(gw.url, 'GET', '/quantumleap'));
      expect(e).toMatchObject({ backend: 'quantumleap/api', url: '/' });
    });

    it('keeps the prefix of a route without stripPrefix', async () => {
      const e = echoOf(await send(gw.url, 'GET', '/provisioning/openapi.json'));
      expect(e).toMatchObject({ backend: 'provisioning/api', url: '/provisioning/openapi.json' });
      const d = echoOf(await send(gw.url, 'GET', '/provisioning/v1/devices'));
      expect(d.url).toBe('/provisioning/v1/devices');
    });

    it('sends each port of one service to its own route', async () => {
      expect(echoOf(await send(gw.url, 'GET', '/iota-north/iot/about')).backend).toBe(
        'iotAgentUl/north',
      );
      expect(echoOf(await send(gw.url, 'POST', '/iota-south/iot/d?k=1&i=2')).backend).toBe(
        'iotAgentUl/south',
      );
    });

    it('refuses a path that only starts like a prefix with 404', async () => {
      const before = stubs.map((s) => s.requests.length);
      const r = await send(gw.url, 'GET', '/orionX/v2/entities');
      expect(r.status).toBe(404);
      expect(stubs.map((s) => s.requests.length)).toEqual(before);
    });

    it('fails with 503 no healthy upstream when the route has no backend', async () => {
      const r = await send(gw.url, 'GET', '/kiali/');
      expect(r).toMatchObject({ status: 503, text: 'no healthy upstream' });
    });

    it('fails with 503 upstream connect error when the backend is unreachable', async () => {
      const gone = await startStub(json(200, {}));
      await gone.close();
      const down = await gateway({
        authorize: authz.authorize,
        backends: { ...backends, 'orion/api': gone.url },
      });
      const r = await send(down.url, 'GET', '/orion/version');
      expect(r.status).toBe(503);
      expect(r.text).toMatch(/^upstream connect error/);
      expect(down.decisions.at(-1)).toMatchObject({ status: 503, allowed: true });
    });

    it('sends a GET again on a fresh connection when the backend closes a reused one before answering; a POST takes a connection of its own', async () => {
      // A backend that answers the first request of a connection and drops the connection at
      // the next one: the race of an idle keep-alive connection closed as it is reused. It
      // counts only the connections this test's requests arrive on (they carry `x-run`): its
      // ephemeral port may be one another test, in this process or another, just closed and
      // still sends to (a host gone), and a stranger's connection must not shift the count.
      const run = randomUUID();
      const served = new WeakMap<object, number>();
      let connections = 0;
      const racy = createServer((req, res) => {
        if (req.headers['x-run'] !== run) {
          res.writeHead(421).end();
          return;
        }
        const n = (served.get(req.socket) ?? 0) + 1;
        served.set(req.socket, n);
        if (n === 1) connections += 1;
        const connection = connections;
        if (n > 1) {
          req.socket.destroy();
          return;
        }
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ connection, method: req.method }));
        });
      });
      await new Promise<void>((r) => racy.listen(0, '127.0.0.1', r));
      try {
        const port = (racy.address() as AddressInfo).port;
        const gw2 = await gateway({
          authorize: authz.authorize,
          backends: { ...backends, 'orion/api': `http://127.0.0.1:${port}` },
        });
        const headers = { 'x-run': run };
        expect((await send(gw2.url, 'GET', '/orion/version', { headers })).status).toBe(200);
        // The gateway reuses the kept-alive connection, the backend drops it, and the GET
        // arrives on a second connection.
        const again = await send(gw2.url, 'GET', '/orion/version', { headers });
        expect(again.status).toBe(200);
        expect(JSON.parse(again.text)).toEqual({ connection: 2, method: 'GET' });
        // A POST could not go again (its body is streamed through), so it never reuses a
        // connection: it is the first request of a third one, and answered.
        const post = await send(gw2.url, 'POST', '/orion/version', { headers, body: '{}' });
        expect(post.status).toBe(200);
        expect(JSON.parse(post.text)).toEqual({ connection: 3, method: 'POST' });
        expect(connections).toBe(3);
      } finally {
        await new Promise((r) => racy.close(r));
      }
    });

    it('forwards method, body and query string intact', async () => {
      const body = JSON.stringify({ id: 'urn:ngsi-ld:Room:1', name: 'é%2F..' });
      const e = echoOf(
        await send(gw.url, 'PATCH', '/orion/v2/entities/urn:x/attrs?options=keyValues&q=a%2Fb', {
          headers: { 'content-type': 'application/json' },
          body,
        }),
      );
      expect(e).toMatchObject({
        method: 'PATCH',
        url: '/v2/entities/urn:x/attrs?options=keyValues&q=a%2Fb',
        body,
      });
      expect(pathsAsked(authz.inputs)).toEqual([
        '/orion/v2/entities/urn:x/attrs?options=keyValues&q=a%2Fb',
      ]);
    });

    it('streams a chunked request body through', async () => {
      const e = await new Promise<Echo>((resolve, reject) => {
        const url = new URL(gw.url);
        const req = request(
          { host: url.hostname, port: url.port, method: 'POST', path: '/orion/v2/op/update' },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve(JSON.parse(text) as Echo));
          },
        );
        req.on('error', reject);
        req.write('first,');
        req.end('second');
      });
      expect(e.body).toBe('first,second');
      expect(e.headers['transfer-encoding']).toBe('chunked');
    });

    it('keeps Host and adds x-forwarded-for and x-forwarded-proto', async () => {
      const e = echoOf(
        await send(gw.url, 'GET', '/orion/version', {
          headers: { host: 'kitt4sme.localhost', 'x-forwarded-for': '203.0.113.7' },
        }),
      );
      expect(e.headers.host).toBe('kitt4sme.localhost');
      expect(e.headers['x-forwarded-for']).toBe('203.0.113.7,127.0.0.1');
      expect(e.headers['x-forwarded-proto']).toBe('http');
      expect(e.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('does not forward hop-by-hop headers', async () => {
      const e = echoOf(
        await send(gw.url, 'GET', '/orion/version', {
          headers: {
            connection: 'keep-alive',
            'keep-alive': 'timeout=5',
            'proxy-connection': 'keep-alive',
            'x-end-to-end': 'kept',
          },
        }),
      );
      expect(e.headers['x-end-to-end']).toBe('kept');
      for (const h of ['keep-alive', 'proxy-connection']) expect(e.headers[h]).toBe(undefined);
    });

    it.each([
      ['close, fiware-servicepath', 'fiware-servicepath'],
      ['keep-alive, Authorization', 'authorization'],
      ['x-kitt4sme-tenant', 'x-kitt4sme-tenant'],
    ])(
      'refuses with 400 a Connection header naming an end-to-end header (%s), before the authorizer',
      async (connection, named) => {
        const before = stubs.map((s) => s.requests.length);
        const r = await send(gw.url, 'GET', '/orion/v2/entities', {
          headers: {
            connection,
            'fiware-service': 'manufracture',
            'fiware-servicepath': '/floor1',
            authorization: 'Bearer x',
          },
        });
        expect(r.status).toBe(400);
        expect(authz.inputs).toEqual([]);
        expect(stubs.map((s) => s.requests.length)).toEqual(before);
        expect(gw.decisions.at(-1)).toMatchObject({ allowed: false, status: 400 });
        expect(gw.decisions.at(-1)!.reason).toContain(named);
      },
    );

    it("passes the backend's status, repeated headers and body back", async () => {
      const r = await send(gw.url, 'GET', '/provisioning/cookies');
      expect(r.status).toBe(201);
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(r.headers['x-resp-hop']).toBeUndefined();
      expect(echoOf(r).url).toBe('/provisioning/cookies');
    });
  });

  describe('path normalisation', () => {
    it('routes and authorises the normalised path, and forwards it', async () => {
      const e = echoOf(await send(gw.url, 'GET', '/orion/x/./../v2//entities?type=Room'));
      expect(e.url).toBe('/v2/entities?type=Room');
      expect(pathsAsked(authz.inputs)).toEqual(['/orion/v2/entities?type=Room']);
    });

    it.each([
      '/orion/version/../v2/entities',
      '/orion/version/%2E%2E/v2/entities',
      '/orion/version/.%2e/v2/entities',
      '/orion/version%2F..%2Fv2%2Fentities',
      '/orion/version%2f..%2fv2%2fentities',
      '/orion/version%5C..%5Cv2%5Centities',
      '/orion/version\\..\\v2\\entities',
      '/orion//v2/entities',
      '/orion/./v2/entities',
      '/orion/version/./../v2/./entities',
    ])('refuses to treat %s as a public path', async (path) => {
      authz.answer = async () => ({ allowed: false, http_status: 401 });
      const before = stubs.map((s) => s.requests.length);
      const r = await send(gw.url, 'GET', path);
      expect(r.status).toBe(401);
      expect(pathsAsked(authz.inputs)).toEqual(['/orion/v2/entities']);
      expect(stubs.map((s) => s.requests.length)).toEqual(before);
    });

    it('decodes percent-encoded unreserved characters once, as Envoy does', async () => {
      const e = echoOf(await send(gw.url, 'GET', '/orion/%76ersion'));
      expect(e.url).toBe('/version');
      expect(authz.inputs).toEqual([]);
      // %25 is not decoded, so %252F stays an encoded "%2F" and is no slash.
      await send(gw.url, 'GET', '/orion/v2/entities%252F..%252Fversion');
      expect(pathsAsked(authz.inputs)).toEqual(['/orion/v2/entities%252F..%252Fversion']);
    });

    it('matches a public path exactly, but without its query string', async () => {
      await send(gw.url, 'GET', '/orion/version?x=1');
      expect(authz.inputs).toEqual([]);
      await send(gw.url, 'GET', '/orion/version/');
      await send(gw.url, 'GET', '/orion/VERSION');
      expect(pathsAsked(authz.inputs)).toEqual(['/orion/version/', '/orion/VERSION']);
    });

    it('refuses a path with an encoded NUL with 400', async () => {
      const r = await send(gw.url, 'GET', '/orion/version%00');
      expect(r.status).toBe(400);
      expect(authz.inputs).toEqual([]);
    });
  });

  describe('authorization', () => {
    it('asks the authorizer with the CheckRequest input of the request', async () => {
      await send(gw.url, 'DELETE', '/orion/v2/entities/x?type=Room', {
        headers: ['Host', 'kitt4sme.localhost', 'Fiware-Service', 'manufracture', 'X-Dup', 'a'],
      });
      expect(authz.inputs).toHaveLength(1);
      const http = authz.inputs[0]!.attributes.request.http;
      expect(http).toMatchObject({
        method: 'DELETE',
        path: '/orion/v2/entities/x?type=Room',
        host: 'kitt4sme.localhost',
        headers: {
          host: 'kitt4sme.localhost',
          ':authority': 'kitt4sme.localhost',
          ':method': 'DELETE',
          ':path': '/orion/v2/entities/x?type=Room',
          'fiware-service': 'manufracture',
          'x-dup': 'a',
        },
      });
    });

    it('joins repeated headers with "," in the input', async () => {
      await send(gw.url, 'GET', '/orion/v2/entities', {
        headers: ['Authorization', 'Bearer a', 'Authorization', 'Bearer b'],
      });
      expect(authz.inputs[0]!.attributes.request.http.headers.authorization).toBe(
        'Bearer a,Bearer b',
      );
    });

    it('does not ask the authorizer on exact public paths and sso prefixes', async () => {
      for (const path of [
        '/orion/version',
        '/quantumleap/version',
        '/iota-north/iot/about',
        '/provisioning/openapi.json',
        '/auth',
        '/auth/realms/kitt4sme/protocol/openid-connect/certs',
        '/grafana/api/health',
        '/argocd/',
      ])
        expect((await send(gw.url, 'GET', path)).status).toBe(200);
      expect(authz.inputs).toEqual([]);
    });

    it.each([
      '/auth/admin',
      '/auth/admin/',
      '/auth/admin/master/console/',
      '/auth/realms/master',
      '/auth/realms/master/protocol/openid-connect/token',
      '/auth/%61dmin/master/console/',
      '/auth/realms/kitt4sme/../master/account',
      '/auth//admin/x',
      '/auth/realms%2Fmaster%2Faccount',
    ])('refuses the blocked console path %s with 403', async (path) => {
      const before = stubs.map((s) => s.requests.length);
      const r = await send(gw.url, 'GET', path);
      expect(r).toMatchObject({ status: 403, text: 'RBAC: access denied' });
      expect(r.headers['content-type']).toBe('text/plain');
      expect(stubs.map((s) => s.requests.length)).toEqual(before);
    });

    it('blocks a console path and what is below it, not its siblings', async () => {
      expect((await send(gw.url, 'GET', '/auth/realms/masterpiece')).status).toBe(200);
      expect((await send(gw.url, 'GET', '/auth/administrators')).status).toBe(200);
    });

    it.each(['/orion/version', '/grafana/', '/auth/realms/kitt4sme/account'])(
      'refuses the tenant header from a client on %s, which OPA does not see',
      async (path) => {
        for (const name of [TENANT_HEADER, 'X-Kitt4sme-Tenant']) {
          const r = await send(gw.url, 'GET', path, { headers: { [name]: '' } });
          expect(r).toMatchObject({ status: 403, text: 'RBAC: access denied' });
        }
        expect(authz.inputs).toEqual([]);
      },
    );

    it("replaces a client's tenant header with the authorizer's on protected paths", async () => {
      const e = echoOf(
        await send(gw.url, 'GET', '/orion/v2/entities', {
          headers: ['X-Kitt4sme-Tenant', 'smithereens', 'x-kitt4sme-tenant', 'smithereens'],
        }),
      );
      expect(e.headers[TENANT_HEADER]).toBe('manufracture');
      expect(authz.inputs[0]!.attributes.request.http.headers[TENANT_HEADER]).toBe(
        'smithereens,smithereens',
      );
    });

    it("passes the authorizer's deny on: status, headers and problem body", async () => {
      const body = JSON.stringify({ type: 'x', title: 'Unauthorized', status: 401 });
      authz.answer = async () => ({
        allowed: false,
        http_status: 401,
        headers: { 'www-authenticate': 'Bearer realm="kitt4sme"', 'x-kitt4sme-deny-reason': 'r' },
        body,
      });
      const r = await send(gw.url, 'GET', '/orion/v2/entities');
      expect(r).toMatchObject({ status: 401, text: body });
      expect(r.headers['content-type']).toBe('application/problem+json');
      expect(r.headers['www-authenticate']).toBe('Bearer realm="kitt4sme"');
      expect(gw.decisions.at(-1)).toEqual({
        method: 'GET',
        path: '/orion/v2/entities',
        allowed: false,
        status: 401,
        reason: 'denied by opa-ext-authz: r',
        requestId: expect.any(String),
      });
    });

    it('refuses with 403 when the deny names no status', async () => {
      authz.answer = async () => ({ allowed: false });
      const r = await send(gw.url, 'GET', '/orion/v2/entities');
      expect(r).toMatchObject({ status: 403, text: '' });
    });

    it.each([
      ['throws', (async () => Promise.reject(new Error('OPA is down'))) as Authorizer],
      [
        'throws synchronously',
        (() => {
          throw new Error('bug');
        }) as Authorizer,
      ],
      ['answers no decision', (async () => undefined as unknown as Decision) as Authorizer],
      ['answers allowed: "yes"', (async () => ({ allowed: 'yes' }) as never) as Authorizer],
      [
        'answers a non-string header',
        (async () => ({ allowed: true, headers: { [TENANT_HEADER]: 1 } }) as never) as Authorizer,
      ],
    ])('fails closed with 503 when the authorizer %s', async (_, answer) => {
      authz.answer = answer;
      const before = stubs.map((s) => s.requests.length);
      const r = await send(gw.url, 'GET', '/orion/v2/entities');
      expect(r.status).toBe(503);
      expect(stubs.map((s) => s.requests.length)).toEqual(before);
      expect(gw.decisions.at(-1)).toMatchObject({ allowed: false, status: 503 });
    });

    it('fails closed with 503 when the authorizer does not answer in time', async () => {
      const slow = recordingAuthorizer();
      slow.answer = () => new Promise<Decision>(() => {});
      const g = await gateway({ authorize: slow.authorize, authzTimeoutMs: 50 });
      const r = await send(g.url, 'GET', '/orion/v2/entities');
      expect(r.status).toBe(503);
      expect(slow.inputs).toHaveLength(1);
      expect(g.decisions.at(-1)?.reason).toMatch(/no answer within 50 ms/);
    });

    it('asks the authorizer before the DENY policies, as Istio evaluates CUSTOM first', async () => {
      const routes = ROUTES.map((r) =>
        r.prefix === '/orion' ? { ...r, blockedPaths: ['/admin'] as const } : r,
      );
      const g = await gateway({ authorize: authz.authorize, objects: objectsOf(routes) });
      authz.answer = async () => ({ allowed: false, http_status: 401 });
      expect((await send(g.url, 'GET', '/orion/admin')).status).toBe(401);
      authz.answer = async () => ({ allowed: true });
      expect(await send(g.url, 'GET', '/orion/admin/x')).toMatchObject({
        status: 403,
        text: 'RBAC: access denied',
      });
    });

    it('records each decision without token or query string', async () => {
      const g = await gateway({ authorize: authz.authorize });
      await send(g.url, 'GET', '/iota-south/iot/d?k=api-key-123&i=dev1', {
        headers: { authorization: 'Bearer token-456' },
      });
      await send(g.url, 'GET', '/auth/admin/');
      await send(g.url, 'GET', '/nowhere');
      const id = expect.any(String);
      expect(g.decisions).toEqual([
        {
          method: 'GET',
          path: '/iota-south/iot/d',
          allowed: true,
          status: 200,
          requestId: id,
          correlator: 'iotAgentUl/south-correlator',
        },
        {
          method: 'GET',
          path: '/auth/admin/',
          allowed: false,
          status: 403,
          reason: 'denied by blocked-paths',
          requestId: id,
        },
        {
          method: 'GET',
          path: '/nowhere',
          allowed: true,
          status: 404,
          reason: 'no route',
          requestId: id,
        },
      ]);
      expect(JSON.stringify(g.decisions)).not.toMatch(/api-key-123|token-456/);
    });

    it('records one request id: the one the authorizer and the backend saw', async () => {
      const seen: Parameters<NonNullable<GatewayOptions['onDecision']>>[0][] = [];
      const g = await gateway({ authorize: authz.authorize, onDecision: (d) => seen.push(d) });
      const asked = authz.inputs.length;
      const echoed = echoOf(await send(g.url, 'GET', '/orion/v2/entities'));
      const id = echoed.headers['x-request-id'];
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(authz.inputs[asked]!.attributes.request.http.headers['x-request-id']).toBe(id);
      expect(seen).toEqual([expect.objectContaining({ requestId: id, status: 200 })]);
      expect(g.decisions.at(-1)).toEqual(seen[0]);
    });

    it("records the client's correlator and tenant, else the backend's correlator", async () => {
      const g = await gateway({ authorize: authz.authorize });
      await send(g.url, 'GET', '/orion/v2/entities', {
        headers: { 'fiware-correlator': 'c-123', 'fiware-service': 'manufracture' },
      });
      await send(g.url, 'GET', '/orion/v2/entities');
      authz.answer = async () => ({ allowed: false, http_status: 403 });
      await send(g.url, 'GET', '/orion/v2/entities', { headers: { 'fiware-correlator': 'c-9' } });
      await send(g.url, 'GET', '/orion/v2/entities');
      expect(
        g.decisions.map(({ status, correlator, tenant }) => ({ status, correlator, tenant })),
      ).toEqual([
        { status: 200, correlator: 'c-123', tenant: 'manufracture' },
        { status: 200, correlator: 'orion/api-correlator', tenant: undefined },
        { status: 403, correlator: 'c-9', tenant: undefined },
        { status: 403, correlator: undefined, tenant: undefined },
      ]);
      const client = g.decisions[0]!.requestId;
      expect(new Set(g.decisions.map((d) => d.requestId)).size).toBe(4);
      expect(client).toMatch(/^[0-9a-f-]{36}$/);
    });
  });
});

describe('opaAuthorizer', () => {
  it('asks OPA for the decision the Envoy plugin reads', async () => {
    const asked: [string, unknown][] = [];
    const authorize = opaAuthorizer({
      query: async (path, input) => {
        asked.push([path, input]);
        return { allowed: false, http_status: 401 };
      },
    });
    expect(await authorize({ a: 1 })).toEqual({ allowed: false, http_status: 401 });
    expect(asked).toEqual([[DECISION_PATH, { a: 1 }]]);
  });

  it('fails on an undefined decision (policy not loaded)', async () => {
    const authorize = opaAuthorizer({ query: async () => undefined });
    await expect(authorize({})).rejects.toThrow(/not an object or a boolean/);
  });
});

// ---------------------------------------------------------------------------------------------
// With the real OPA and the platform policy
// ---------------------------------------------------------------------------------------------

describe('startGateway with the real OPA', () => {
  const ctx = platformContext();
  const [A, B] = ctx.config.tenants.map((t) => t.name) as [string, string];
  let keys: TestKeys;
  let jwks: StubServer;
  let opa: OpaServer;
  let issuer: string;
  let gw: Gateway;
  let opaCalls = 0;

  beforeAll(async () => {
    keys = await generateTestKeys();
    jwks = await startStub(json(200, keys.jwks));
    issuer = `${jwks.url}${ctx.realmPath}`;
    opa = await startOpa({
      kitt4sme: {
        config: {
          ...policyData(ctx),
          issuer,
          jwks_uri: `${issuer}/protocol/openid-connect/certs`,
        },
        apikeys: apiKeyData([{ route: '/iota-south', key: 'gw-k3y-1', tenant: A }]),
      },
    });
    const authorize = opaAuthorizer(opa);
    gw = await gateway({
      authorize: (input) => {
        opaCalls++;
        return authorize(input);
      },
      // OPA's first answer fetches the keys: more than the mesh's 1 s on a slow machine.
      authzTimeoutMs: 10_000,
    });
  }, 60_000);
  afterAll(async () => {
    await opa?.stop();
    await jwks?.close();
  });
  beforeEach(() => {
    opaCalls = 0;
  });

  const bearer = async (recipe: TokenRecipe = {}) => ({
    authorization: `Bearer ${await makeToken(keys, issuer, recipe)}`,
  });
  const orionRequests = () => stubs[BACKEND_KEYS.indexOf('orion/api')]!.requests.length;

  it("reaches Orion's /version without a token and without OPA", async () => {
    const e = echoOf(await send(gw.url, 'GET', '/orion/version'));
    expect(e).toMatchObject({ backend: 'orion/api', url: '/version' });
    expect(opaCalls).toBe(0);
  });

  it("reaches Orion with a valid token for the tenant, naming OPA's tenant", async () => {
    const e = echoOf(
      await send(gw.url, 'GET', '/orion/v2/entities?type=Room', {
        headers: { ...(await bearer()), 'fiware-service': A },
      }),
    );
    expect(e).toMatchObject({ backend: 'orion/api', url: '/v2/entities?type=Room' });
    expect(e.headers[TENANT_HEADER]).toBe(A);
    expect(opaCalls).toBe(1);
  });

  it("replaces a client's tenant header with OPA's", async () => {
    const e = echoOf(
      await send(gw.url, 'GET', '/orion/v2/entities', {
        headers: { ...(await bearer()), 'fiware-service': A, [TENANT_HEADER]: B },
      }),
    );
    expect(e.headers[TENANT_HEADER]).toBe(A);
  });

  it("refuses another tenant's fiware-service with OPA's 403 problem", async () => {
    const before = orionRequests();
    const r = await send(gw.url, 'GET', '/orion/v2/entities', {
      headers: { ...(await bearer()), 'fiware-service': B },
    });
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(r.text)).toMatchObject({
      title: 'Forbidden',
      status: 403,
      detail: 'token not valid for this tenant',
    });
    expect(r.headers['x-kitt4sme-deny-reason']).toBe('token not valid for this tenant');
    expect(orionRequests()).toBe(before);
  });

  it('refuses a fragment in the path or the query with the reason the policy gives', async () => {
    for (const target of ['/orion/v2/entities#x', '/orion/v2/entities?type=Room#x']) {
      const r = await send(gw.url, 'GET', target, {
        headers: { ...(await bearer()), 'fiware-service': A },
      });
      expect([target, r.status, r.headers['x-kitt4sme-deny-reason']]).toEqual([
        target,
        400,
        FRAGMENT_REASON,
      ]);
      const d = (await opa.query(
        DECISION_PATH,
        policyInput('GET', target, { ...(await bearer()), 'fiware-service': A }),
      )) as Decision;
      expect(d.headers?.['x-kitt4sme-deny-reason']).toBe(FRAGMENT_REASON);
    }
  });

  it("sets a one-tenant device's fiware-service from its token, and refuses another tenant's key", async () => {
    const device = { claims: { tenants: [A], roles: [`${A}:device`] } };
    const e = echoOf(
      await send(gw.url, 'POST', '/iota-south/iot/d?k=gw-k3y-1&i=dev1', {
        headers: await bearer(device),
        body: 't|21',
      }),
    );
    expect(e).toMatchObject({ backend: 'iotAgentUl/south', url: '/iot/d?k=gw-k3y-1&i=dev1' });
    expect(e.headers['fiware-service']).toBe(A);
    const r = await send(gw.url, 'POST', '/iota-south/iot/d?k=gw-k3y-1&i=dev1', {
      headers: await bearer({ claims: { tenants: [B], roles: [`${B}:device`] } }),
      body: 't|21',
    });
    expect(r.status).toBe(403);
    expect(r.headers['x-kitt4sme-deny-reason']).toBe('API key not valid for this tenant');
  });

  it('refuses a request without a token with 401', async () => {
    const r = await send(gw.url, 'GET', '/orion/v2/entities', {
      headers: { 'fiware-service': A },
    });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(JSON.parse(r.text)).toMatchObject({ status: 401, detail: 'no bearer token' });
  });

  it.each([
    '/orion/version/../v2/entities',
    '/orion//v2/entities',
    '/orion/version%2F..%2Fv2%2Fentities',
    '/orion/version%5C..%5Cv2%5Centities',
    '/orion/version/%2e%2e/v2/entities',
  ])('refuses %s without a token: OPA decides the protected path', async (path) => {
    const before = orionRequests();
    const r = await send(gw.url, 'GET', path, { headers: { 'fiware-service': A } });
    expect(r.status).toBe(401);
    expect(opaCalls).toBe(1);
    expect(orionRequests()).toBe(before);
  });

  it.each(['/auth/admin/x', '/auth/realms/master/protocol/openid-connect/token'])(
    'refuses %s with 403, valid token or not',
    async (path) => {
      for (const headers of [{}, await bearer({ claims: { roles: ['platform-admin'] } })]) {
        const r = await send(gw.url, 'GET', path, { headers });
        expect(r).toMatchObject({ status: 403, text: 'RBAC: access denied' });
      }
      expect(opaCalls).toBe(0);
    },
  );

  it('refuses the tenant header on a public path with 403', async () => {
    const r = await send(gw.url, 'GET', '/orion/version', { headers: { [TENANT_HEADER]: A } });
    expect(r).toMatchObject({ status: 403, text: 'RBAC: access denied' });
  });

  it('keeps the provisioning prefix on its public OpenAPI document', async () => {
    const e = echoOf(await send(gw.url, 'GET', '/provisioning/openapi.json'));
    expect(e.url).toBe('/provisioning/openapi.json');
    expect(opaCalls).toBe(0);
  });

  it("lets OPA refuse a path no route matches, as the mesh's ext_authz runs first", async () => {
    const r = await send(gw.url, 'GET', '/orionX', {
      headers: { ...(await bearer()), 'fiware-service': A },
    });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text).detail).toBe('no API route for this path');
  });

  it('forwards body and query string intact', async () => {
    const body = '{"id":"Room1","type":"Room"}';
    const e = echoOf(
      await send(gw.url, 'POST', '/orion/v2/entities?options=keyValues', {
        headers: {
          ...(await bearer({ claims: { roles: ['manufracture:tenant-admin'] } })),
          'fiware-service': A,
          'content-type': 'application/json',
        },
        body,
      }),
    );
    expect(e).toMatchObject({ method: 'POST', url: '/v2/entities?options=keyValues', body });
  });
});

// ---------------------------------------------------------------------------------------------
// Other route tables, synthesized and enforced as synthesized
// ---------------------------------------------------------------------------------------------

/** The synthesized objects of the platform with another route table. */
function objectsOf(routes: readonly RouteSpec[]) {
  return synth({ routes }).objects.map((o) => o.object);
}

/** The paths the gateway's synthesized policies name: OPA's exemptions, blocked, header guard. */
function synthMesh(routes: readonly RouteSpec[]) {
  const objects = objectsOf(routes);
  const all = objects as Record<string, any>[];
  const one = (kind: string, name: string) => {
    const hits = all.filter((o) => o.kind === kind && o.metadata.name === name);
    expect(hits).toHaveLength(1);
    return hits[0]!;
  };
  const notPaths: string[] = one('AuthorizationPolicy', 'opa-ext-authz').spec.rules[0].to[0]
    .operation.notPaths;
  const blocked: string[] =
    all.find((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === 'blocked-paths')?.spec
      .rules[0].to[0].operation.paths ?? [];
  const headerPaths: string[] = one('AuthorizationPolicy', 'platform-headers-from-clients').spec
    .rules[0].to[0].operation.paths;
  return { objects, notPaths, blocked, headerPaths };
}

/** A route table unlike the repository's: reordered, a kept prefix, more public and blocked paths. */
const VARIANT: readonly RouteSpec[] = [
  ...ROUTES.filter((r) => r.prefix !== '/orion').reverse(),
  {
    ...ROUTES.find((r) => r.prefix === '/orion')!,
    stripPrefix: false,
    publicPaths: ['/version', '/statistics'],
    blockedPaths: ['/admin'],
  },
];

describe('the gateway with a route table', () => {
  it.each([
    ['the repository route table', ROUTES],
    ['a modified route table', VARIANT],
  ])(
    'routes every route of %s to its backend as the synthesized VirtualService does',
    async (_, routes) => {
      const authz = recordingAuthorizer();
      const gw = await gateway({ authorize: authz.authorize, objects: objectsOf(routes) });
      for (const r of routes) {
        if (!(keyOf(r) in backends)) continue;
        const e = echoOf(await send(gw.url, 'GET', `${r.prefix}/probe/x?q=1`));
        expect(e.backend).toBe(keyOf(r));
        expect(e.url).toBe(r.stripPrefix ? '/probe/x?q=1' : `${r.prefix}/probe/x?q=1`);
      }
      expect((await send(gw.url, 'GET', '/nowhere/x')).status).toBe(404);
    },
  );

  it.each([
    ['the repository route table', ROUTES],
    ['a modified route table', VARIANT],
  ])('enforces the synthesized policy paths for %s', async (_, routes) => {
    const { objects, notPaths, blocked, headerPaths } = synthMesh(routes);
    const authz = recordingAuthorizer();
    const gw = await gateway({ authorize: authz.authorize, objects });
    /** A concrete path an Istio path pattern matches. */
    const concrete = (p: string) => (p.endsWith('/*') ? `${p.slice(0, -1)}drift-probe` : p);
    expect(notPaths.every((p) => !p.includes('*') || p.endsWith('/*'))).toBe(true);

    for (const p of notPaths) await send(gw.url, 'GET', concrete(p));
    expect(authz.inputs).toEqual([]);

    for (const p of blocked)
      expect(await send(gw.url, 'GET', concrete(p))).toMatchObject({
        status: 403,
        text: 'RBAC: access denied',
      });

    for (const p of headerPaths)
      expect(
        (await send(gw.url, 'GET', concrete(p), { headers: { [TENANT_HEADER]: 'x' } })).status,
      ).toBe(403);

    // Every path not exempt goes to OPA: below each route, and the route itself.
    authz.inputs.length = 0;
    const asked = routes.flatMap((r) => [r.prefix, `${r.prefix}/drift-probe`]);
    for (const p of asked) await send(gw.url, 'GET', p);
    expect(pathsAsked(authz.inputs)).toEqual(
      asked.filter((p) => !notPaths.includes(p) && !notPaths.some((n) => concrete(n) === p)),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// An agent's token, decided by the policy as wasm (in-process, as the services run it)
// ---------------------------------------------------------------------------------------------

describe("an agent's token at the gateway, decided by the wasm", () => {
  const ctx = platformContext();
  const tenant = ctx.config.tenants[0]!.name;
  const azp = 'agent-0a1b2c3d4e5f';
  const rights = policyData(ctx).agents;
  let keys: TestKeys;
  let jwks: StubServer;
  let issuer: string;
  let gw: Gateway;

  beforeAll(async () => {
    keys = await generateTestKeys();
    jwks = await startStub(json(200, keys.jwks));
    issuer = `${jwks.url}${ctx.realmPath}`;
    const wasm = await TenancyPolicy.load({ config: { ...policyData(ctx), issuer } });
    gw = await gateway({ authorize: (input) => wasm.decide(input, keys.jwks) });
  }, 60_000);
  afterAll(async () => jwks?.close());

  /** An agent client's token: its azp, its one tenant, its needs, no roles. */
  const agentHeaders = async (needs: readonly string[], extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${await makeToken(keys, issuer, {
      claims: { azp, tenants: [tenant], roles: null, needs: [...needs] },
    })}`,
    'fiware-service': tenant,
    ...extra,
  });
  /** A concrete path an Istio pattern matches. */
  const concrete = (p: string) =>
    p.endsWith('*') ? `${p.slice(0, -1)}/probe` : p.startsWith('*') ? `/v2/probe${p.slice(1)}` : p;
  /** Every method and path any need grants, as gateway requests. */
  const probes = Object.values(rights.needs).flatMap((list) =>
    list.flatMap((r) =>
      r.methods.flatMap((method) =>
        r.paths
          .filter(
            (p) =>
              !ROUTES.find((x) => x.prefix === r.route)!.publicPaths.includes(p as `/${string}`),
          )
          .map((p) => ({ method, path: `${r.route}${concrete(p)}` })),
      ),
    ),
  );
  const grants = (need: string, method: string, path: string) =>
    rights.needs[need]!.some(
      (r) =>
        path.startsWith(`${r.route}/`) &&
        r.methods.includes(method as never) &&
        r.paths.some((p) => istioMatches(p, path.slice(r.route.length))),
    );

  it.each(Object.keys(rights.needs))(
    'reaches exactly what %s grants, at the route its backend serves',
    async (need) => {
      const headers = await agentHeaders([need]);
      let reached = 0;
      for (const { method, path } of probes) {
        const reply = await send(gw.url, method, path, { headers });
        if (grants(need, method, path)) {
          reached++;
          expect([method, path, reply.status]).toEqual([method, path, 200]);
          if (method !== 'HEAD') expect(echoOf(reply).headers[TENANT_HEADER]).toBe(tenant);
        } else {
          expect([method, path, reply.status]).toEqual([method, path, 403]);
          expect(reply.headers['x-kitt4sme-deny-reason']).toMatch(
            new RegExp(`^agent ${azp} declared no need that may ${method} `),
          );
        }
      }
      expect(reached).toBeGreaterThan(0);
    },
  );

  it('reaches nothing for another tenant, nor with two tenants, nor as a person with needs', async () => {
    const other = ctx.config.tenants[1]!.name;
    const path = '/orion/v2/entities';
    const asOther = await agentHeaders(['orion:read'], { 'fiware-service': other });
    expect((await send(gw.url, 'GET', path, { headers: asOther })).status).toBe(403);
    const twoTenants = {
      authorization: `Bearer ${await makeToken(keys, issuer, {
        claims: { azp, tenants: [tenant, other], roles: null, needs: ['orion:read'] },
      })}`,
      'fiware-service': tenant,
    };
    const refused = await send(gw.url, 'GET', path, { headers: twoTenants });
    expect(refused.headers['x-kitt4sme-deny-reason']).toBe(
      'an agent token must name exactly one tenant',
    );
    const person = {
      authorization: `Bearer ${await makeToken(keys, issuer, {
        claims: { roles: null, needs: ['orion:write'] },
      })}`,
      'fiware-service': tenant,
    };
    expect((await send(gw.url, 'POST', path, { headers: person })).status).toBe(403);
  });

  it('writes its own heartbeat in /agents without a need, and no other', async () => {
    const heartbeat = rights.heartbeat!;
    const sp = { 'fiware-servicepath': heartbeat.service_path };
    const headers = await agentHeaders([], sp);
    const entity = (name: string) =>
      `/orion${heartbeat.update.path_prefix}${heartbeat.entity_id_prefix}${name}${heartbeat.update.path_suffix}`;
    const own = await send(gw.url, 'PATCH', entity(`${azp}-ipc-1`), { headers, body: '{}' });
    expect(echoOf(own)).toMatchObject({
      backend: 'orion/api',
      url: `/v2/entities/urn:ngsi-ld:AgentInstance:${azp}-ipc-1/attrs`,
    });
    expect((await send(gw.url, 'POST', '/orion/v2/entities', { headers })).status).toBe(200);
    for (const [method, path, h] of [
      ['PATCH', entity('agent-ffffffffffff'), headers],
      ['POST', '/orion/v2/entities?options=upsert', headers],
      ['POST', '/orion/v2/entities', await agentHeaders([])],
    ] as const)
      expect([method, path, (await send(gw.url, method, path, { headers: h })).status]).toEqual([
        method,
        path,
        403,
      ]);
  });
});
