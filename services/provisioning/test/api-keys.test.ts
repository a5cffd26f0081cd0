/**
 * API keys bound to their tenant, end to end: the provisioning service reads every tenant's
 * service groups from the real IoT Agents, serves their digests as an OPA bundle, and the
 * real OPA (the pinned binary, polling that bundle as the cluster's OPA does) admits a device
 * request only with a key of the token's tenant, within the freshness bound. Viewers never
 * see a key through the service.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { loadPlatformContext } from '../../../platform/context.js';
import {
  API_KEYS_BUNDLE_PATH,
  API_KEYS_FRESHNESS_SECONDS,
  DECISION_PATH,
  apiKeyData,
  apiKeyDigest,
  policyData,
} from '../../../platform/policy-data.js';
import { policyInput } from '../../tenancy/src/input.js';
import type { Decision } from '../../tenancy/src/policy.js';
import type { OpaServer } from '../../../testing/real/opa.js';
import { freePort, startOpa } from '../../../testing/real/opa.js';
import type { ProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { ANCHOR, startProvisioningStack } from '../../../testing/stack/provisioning-stack.js';
import { bundleOf, matchesEtag } from '../src/api-keys.js';

const m = ANCHOR.manufracture;
const floor1 = { servicePath: m.servicePath };
const KEY = 'mnf-bound-k3y-0001';

let stack: ProvisioningStack;
let opa: OpaServer;

beforeAll(async () => {
  stack = await startProvisioningStack();
  const ctx = loadPlatformContext();
  opa = await startOpa(
    { kitt4sme: { config: { ...policyData(ctx), jwks_uri: stack.config.jwksUrl } } },
    { apiKeysFrom: stack.url },
  );
}, 60_000);
afterAll(async () => {
  await opa?.stop();
  await stack?.close();
});

/** OPA's decision on a device sending to the Ultralight route. */
async function send(
  o: { key: string; tenants?: string[]; service?: string | null },
  server: OpaServer = opa,
): Promise<Decision> {
  const tenants = o.tenants ?? ['manufracture'];
  const token = await stack.token({
    claims: { tenants, roles: tenants.map((t) => `${t}:device`) },
  });
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (o.service !== null) headers['fiware-service'] = o.service ?? tenants[0]!;
  const input = policyInput('POST', `/iota-south/iot/d?k=${o.key}&i=dev1`, headers);
  return (await server.query(DECISION_PATH, input)) as Decision;
}

/** Polls until the decision is as wanted; returns the seconds it took (or throws at 2x the bound). */
async function until(want: (d: Decision) => boolean, decide: () => Promise<Decision>) {
  const started = Date.now();
  for (;;) {
    const d = await decide();
    if (want(d)) return (Date.now() - started) / 1000;
    if (Date.now() - started > 2 * API_KEYS_FRESHNESS_SECONDS * 1000) {
      throw new Error(`still ${JSON.stringify(d)} after ${2 * API_KEYS_FRESHNESS_SECONDS} s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

const reason = (d: Decision) => d.headers?.['x-kitt4sme-deny-reason'];

describe('the API-key bundle', () => {
  it('holds digests only, under its own root, with a manifest OPA accepts', async () => {
    const data = apiKeyData([{ route: '/iota-south', key: KEY, tenant: 'manufracture' }]);
    const bytes = bundleOf(data);
    expect(gunzipSync(bytes).includes(Buffer.from(KEY))).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'bundle-'));
    try {
      writeFileSync(join(dir, 'b.tar.gz'), bytes);
      execFileSync('tar', ['-xzf', join(dir, 'b.tar.gz'), '-C', dir]);
      expect(JSON.parse(readFileSync(join(dir, '.manifest'), 'utf8'))).toEqual({
        revision: data.revision,
        roots: ['kitt4sme/apikeys'],
      });
      const inside = JSON.parse(readFileSync(join(dir, 'kitt4sme/apikeys/data.json'), 'utf8'));
      expect(inside.routes['/iota-south']).toEqual({ [apiKeyDigest(KEY)]: 'manufracture' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives a key two tenants claim on one route to neither', () => {
    const data = apiKeyData([
      { route: '/iota-south', key: KEY, tenant: 'manufracture' },
      { route: '/iota-south', key: KEY, tenant: 'smithereens' },
      { route: '/iota-json-south', key: KEY, tenant: 'smithereens' },
    ]);
    expect(data.routes['/iota-south']).toEqual({});
    expect(data.routes['/iota-json-south']).toEqual({ [apiKeyDigest(KEY)]: 'smithereens' });
  });

  it('is served with an ETag, and 304 when unchanged', async () => {
    const first = await fetch(`${stack.url}${API_KEYS_BUNDLE_PATH}`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/gzip/);
    // OPA must ask again each poll (with the ETag), never keep a cached copy.
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]{16}"$/);
    const again = await fetch(`${stack.url}${API_KEYS_BUNDLE_PATH}`, {
      headers: { 'if-none-match': etag },
    });
    expect(again.status).toBe(304);
    expect(matchesEtag(`W/${etag}, "other"`, etag.slice(1, -1))).toBe(true);
    expect(matchesEtag('"other"', etag.slice(1, -1))).toBe(false);
  });

  it('is not reachable under the API prefix the ingress routes', async () => {
    const res = await fetch(`${stack.url}/provisioning${API_KEYS_BUNDLE_PATH}`);
    expect(res.status).not.toBe(200);
  });
});

describe('the real OPA with the bundle', () => {
  it('refuses device routes with 503 while it has no bundle (fail closed)', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const blind = await startOpa(
      {
        kitt4sme: {
          config: { ...policyData(loadPlatformContext()), jwks_uri: stack.config.jwksUrl },
        },
      },
      { apiKeysFrom: nowhere },
    );
    try {
      const d = await send({ key: KEY }, blind);
      expect(d.allowed).toBe(false);
      expect(d.http_status).toBe(503);
      expect(reason(d)).toBe('the API-key data is unavailable');
    } finally {
      await blind.stop();
    }
  });

  it('admits a new group key within the bound, only for its tenant, and drops it when deleted', async () => {
    const before = await until(
      (d) => d.http_status !== 503,
      () => send({ key: KEY }),
    );
    expect(before).toBeLessThan(API_KEYS_FRESHNESS_SECONDS);
    expect(reason(await send({ key: KEY }))).toBe('API key not valid for this tenant');

    const created = await stack.call('PUT', '/v1/groups', {
      ...floor1,
      body: { ...m.group, apikey: KEY },
    });
    expect(created.status).toBe(201);
    const works = await until(
      (d) => d.allowed,
      () => send({ key: KEY }),
    );
    expect(works).toBeLessThan(API_KEYS_FRESHNESS_SECONDS);

    // The attack: a device token of another tenant with this tenant's key.
    const other = await send({ key: KEY, tenants: ['smithereens'] });
    expect(other.allowed).toBe(false);
    expect(reason(other)).toBe('API key not valid for this tenant');
    // A token of one tenant need not name it; the decision sets it for the agent.
    const implied = await send({ key: KEY, service: null });
    expect(implied.allowed).toBe(true);
    expect(implied.headers?.['fiware-service']).toBe('manufracture');

    const deleted = await stack.call('DELETE', '/v1/groups', floor1);
    expect(deleted.status).toBe(204);
    const refused = await until(
      (d) => !d.allowed,
      () => send({ key: KEY }),
    );
    expect(refused).toBeLessThan(API_KEYS_FRESHNESS_SECONDS);
  }, 60_000);

  it('covers a group a platform admin creates on the agent directly', async () => {
    const key = 'mnf-direct-k3y-0002';
    const res = await fetch(`${stack.iotaUrl}/iot/services`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'fiware-service': 'manufracture',
        'fiware-servicepath': '/direct',
      },
      body: JSON.stringify({
        services: [{ apikey: key, resource: '/iot/d', entity_type: 'Thing' }],
      }),
    });
    expect(res.status).toBe(201);
    try {
      const works = await until(
        (d) => d.allowed,
        () => send({ key }),
      );
      expect(works).toBeLessThan(API_KEYS_FRESHNESS_SECONDS);
    } finally {
      await fetch(`${stack.iotaUrl}/iot/services?resource=/iot/d&apikey=${key}`, {
        method: 'DELETE',
        headers: { 'fiware-service': 'manufracture', 'fiware-servicepath': '/direct' },
      });
    }
  }, 60_000);
});

describe('viewers', () => {
  it('never see an API key through any read of the service, even as operator of another tenant', async () => {
    await stack.call('PUT', '/v1/groups', { ...floor1, body: { ...m.group, apikey: KEY } });
    await stack.call('POST', '/v1/devices/bulk', { ...floor1, body: { devices: m.devices } });
    const viewer = await stack.token({
      claims: {
        tenants: ['manufracture', 'smithereens'],
        roles: ['manufracture:viewer', 'smithereens:operator'],
      },
    });
    const reads = [
      '/v1/groups',
      '/v1/devices?limit=1000',
      `/v1/devices/${m.devices[0]!.device_id}`,
      '/v1/inventory',
    ];
    for (const path of reads) {
      const res = await stack.call('GET', path, { ...floor1, token: viewer });
      expect([path, res.status]).toEqual([path, 200]);
      expect([path, JSON.stringify(res.body)]).not.toEqual([path, expect.stringContaining(KEY)]);
    }
    // The operator, the tenant admin and a platform admin see it, each role alone (so the
    // check above could fail).
    for (const roles of [
      ['manufracture:operator'],
      ['manufracture:tenant-admin'],
      ['platform-admin'],
    ]) {
      const token = await stack.token({ claims: { tenants: ['manufracture'], roles } });
      const res = await stack.call('GET', '/v1/groups', { ...floor1, token });
      expect([roles, res.status]).toEqual([roles, 200]);
      expect([roles, JSON.stringify(res.body)]).toEqual([roles, expect.stringContaining(KEY)]);
    }
  });
});
