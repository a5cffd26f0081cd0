/**
 * The API-key publisher without a stack: fake IoT Agents (and once a stub north API behind a
 * real IotAgentClient) feed it groups; the tests hold it to its cache age on an injected clock,
 * one read at a time, invalidation and the generation rule, onChange on new revisions only and
 * digests only. Also the OPA bundle it serves, unpacked by hand (gzip, ustar headers), and the
 * ETag helpers of the bundle route.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';

import { afterEach, describe, expect, it, jest } from '@jest/globals';

import type { DeviceProtocol } from '../../../platform/components.js';
import { DEVICE_PROTOCOLS } from '../../../platform/components.js';
import type { ApiKeyData } from '../../../platform/policy-data.js';
import { API_KEYS_MAX_AGE_MS, API_KEYS_ROOT, apiKeyData } from '../../../platform/policy-data.js';
import { deviceRoutePrefix } from '../../../platform/routes.js';
import type { StubServer } from '../../../testing/support/http.js';
import { json, startStub } from '../../../testing/support/http.js';
import { ApiKeyPublisher, bundleOf, etagOf, matchesEtag } from '../src/api-keys.js';
import type { TenantGroup } from '../src/fiware-client.js';
import { IotAgentClient } from '../src/fiware-client.js';
import { Upstream } from '../src/upstream.js';

const UL_ROUTE = '/iota-south';
const JSON_ROUTE = '/iota-json-south';
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A north API that answers each tenant's groups as they were when asked, optionally late. */
interface FakeAgent {
  /** The tenants asked for, in order. */
  readonly reads: string[];
  groups: Record<string, readonly Record<string, unknown>[]>;
  /** When set, answers wait for it. */
  gate?: Promise<void>;
  /** When set, answers fail with it. */
  fail?: Error;
  listTenantGroups(tenant: string): Promise<TenantGroup[]>;
}

function fakeAgent(groups: FakeAgent['groups'] = {}): FakeAgent {
  const agent: FakeAgent = {
    reads: [],
    groups,
    async listTenantGroups(tenant) {
      agent.reads.push(tenant);
      const answer = [...(agent.groups[tenant] ?? [])] as TenantGroup[];
      const fail = agent.fail;
      await agent.gate;
      if (fail) throw fail;
      return answer;
    },
  };
  return agent;
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Both agents, a clock the test moves and every onChange call. */
function setup(
  opts: {
    ul?: FakeAgent['groups'];
    json?: FakeAgent['groups'];
    tenants?: string[];
    maxAgeMs?: number;
  } = {},
) {
  const ul = fakeAgent(opts.ul);
  const js = fakeAgent(opts.json);
  const agents: Record<DeviceProtocol, FakeAgent> = { ultralight: ul, json: js };
  const clock = { t: 1000 };
  const changes: ApiKeyData[] = [];
  const publisher = new ApiKeyPublisher({
    agents: agents as unknown as Record<DeviceProtocol, IotAgentClient>,
    tenants: opts.tenants ?? ['manufracture', 'smithereens'],
    ...(opts.maxAgeMs !== undefined ? { maxAgeMs: opts.maxAgeMs } : {}),
    onChange: (data) => changes.push(data),
    now: () => clock.t,
  });
  const reads = () => ul.reads.length + js.reads.length;
  return { ul, js, clock, changes, publisher, reads };
}

const groupsOf = (...apikeys: unknown[]) => apikeys.map((apikey) => ({ apikey, resource: '/x' }));

describe('ApiKeyPublisher', () => {
  it('covers exactly the platform protocols, on their device routes', () => {
    expect([...DEVICE_PROTOCOLS].sort()).toEqual(['json', 'ultralight']);
    expect(deviceRoutePrefix('ultralight')).toBe(UL_ROUTE);
    expect(deviceRoutePrefix('json')).toBe(JSON_ROUTE);
  });

  describe('reading', () => {
    it('reads every configured tenant from every protocol’s agent, once each', async () => {
      const { ul, js, publisher } = setup({ tenants: ['manufracture', 'smithereens', 'acme'] });
      await publisher.bundle();
      expect([...ul.reads].sort()).toEqual(['acme', 'manufracture', 'smithereens']);
      expect([...js.reads].sort()).toEqual(['acme', 'manufracture', 'smithereens']);
    });

    it('publishes the digest of each key under its protocol’s device route, by tenant', async () => {
      const { publisher } = setup({
        ul: { manufracture: groupsOf('ul-key-m1', 'ul-key-m2'), smithereens: groupsOf('ul-key-s') },
        json: { smithereens: groupsOf('json-key-s') },
      });
      const b = await publisher.bundle();
      expect(b.data.version).toBe(1);
      expect(b.data.routes).toEqual({
        [UL_ROUTE]: {
          [sha256('ul-key-m1')]: 'manufracture',
          [sha256('ul-key-m2')]: 'manufracture',
          [sha256('ul-key-s')]: 'smithereens',
        },
        [JSON_ROUTE]: { [sha256('json-key-s')]: 'smithereens' },
      });
      const expected = apiKeyData([
        { route: UL_ROUTE, key: 'ul-key-m1', tenant: 'manufracture' },
        { route: UL_ROUTE, key: 'ul-key-m2', tenant: 'manufracture' },
        { route: UL_ROUTE, key: 'ul-key-s', tenant: 'smithereens' },
        { route: JSON_ROUTE, key: 'json-key-s', tenant: 'smithereens' },
      ]);
      expect(b.data).toEqual(expected);
      expect(b.etag).toBe(expected.revision);
      expect(b.etag).toMatch(/^[0-9a-f]{16}$/);
      expect(b.body.equals(bundleOf(expected))).toBe(true);
    });

    it('leaves out groups without a usable key (empty, missing, not a string)', async () => {
      const { publisher } = setup({
        ul: {
          manufracture: [
            { apikey: '', resource: '/iot/d' },
            { resource: '/iot/d' },
            { apikey: 7, resource: '/iot/d' },
            { apikey: null, resource: '/iot/d' },
            { apikey: 'kept', resource: '/iot/d' },
          ],
        },
        json: { manufracture: [{ apikey: '' }] },
      });
      const b = await publisher.bundle();
      expect(b.data.routes).toEqual({ [UL_ROUTE]: { [sha256('kept')]: 'manufracture' } });
    });

    it('never publishes a key itself: digests only, in the data and in the bundle', async () => {
      const keys = ['raw-secret-ul-1f2e', 'raw-secret-json-9a8b'];
      const { publisher } = setup({
        ul: { manufracture: groupsOf(keys[0]) },
        json: { manufracture: groupsOf(keys[1]) },
      });
      const b = await publisher.bundle();
      const text = `${JSON.stringify(b.data)}${gunzipSync(b.body).toString('latin1')}`;
      for (const key of keys) {
        expect(text).not.toContain(key);
        expect(text).toContain(sha256(key));
      }
    });

    it('with no tenant, asks no agent and publishes no route', async () => {
      const { publisher, reads } = setup({ tenants: [] });
      const b = await publisher.bundle();
      expect(reads()).toBe(0);
      expect(b.data).toEqual(apiKeyData([]));
      expect(b.data.routes).toEqual({});
    });

    it('asks a real agent client for each tenant’s groups on every service path (/*), and takes the usable keys of what it answers', async () => {
      let stub: StubServer | undefined;
      try {
        const asked: { service: unknown; servicePath: unknown; url: unknown }[] = [];
        stub = await startStub((req, res) => {
          asked.push({
            service: req.headers['fiware-service'],
            servicePath: req.headers['fiware-servicepath'],
            url: req.url,
          });
          // With groups it cannot use, which it leaves out, and fields written as null.
          if (req.headers['fiware-service'] === 'manufracture')
            return json(200, {
              count: 4,
              services: [
                { apikey: 7, resource: '/x', subservice: '/a' },
                { apikey: null, resource: '/x', timezone: null, commands: null },
                { apikey: '', resource: '/x' },
                { apikey: 'stub-key', resource: '/x', subservice: null, autoprovision: null },
              ],
            })(req, res);
          return json(404, { name: 'DEVICE_GROUP_NOT_FOUND' })(req, res);
        });
        const client = new IotAgentClient(
          new Upstream({ name: 'iot-agent', baseUrl: stub.url, attempts: 1 }),
        );
        const publisher = new ApiKeyPublisher({
          agents: { ultralight: client, json: client },
          tenants: ['manufracture', 'smithereens'],
        });
        const b = await publisher.bundle();
        expect(asked).toHaveLength(4);
        for (const a of asked) {
          expect(a.servicePath).toBe('/*');
          expect(a.url).toBe('/iot/services?limit=1000&offset=0');
        }
        expect(asked.map((a) => a.service).sort()).toEqual([
          'manufracture',
          'manufracture',
          'smithereens',
          'smithereens',
        ]);
        expect(b.data.routes).toEqual({
          [JSON_ROUTE]: { [sha256('stub-key')]: 'manufracture' },
          [UL_ROUTE]: { [sha256('stub-key')]: 'manufracture' },
        });
      } finally {
        await stub?.close();
      }
    });
  });

  describe('caching', () => {
    afterEach(() => {
      jest.restoreAllMocks();
    });

    it('serves the cached bundle while younger than maxAgeMs, and reads again at maxAgeMs', async () => {
      const { publisher, clock, reads } = setup({ maxAgeMs: 500 });
      const first = await publisher.bundle();
      expect(reads()).toBe(4);
      clock.t = 1499;
      expect(await publisher.bundle()).toBe(first);
      expect(reads()).toBe(4);
      clock.t = 1500;
      await publisher.bundle();
      expect(reads()).toBe(8);
      clock.t = 1999;
      await publisher.bundle();
      expect(reads()).toBe(8);
    });

    it('dates the data from when its read started, not when it ended', async () => {
      const { ul, js, publisher, clock, reads } = setup({ maxAgeMs: 500 });
      const g = gate();
      ul.gate = js.gate = g.promise;
      const pending = publisher.bundle();
      clock.t = 1400;
      g.open();
      await pending;
      ul.gate = js.gate = undefined;
      clock.t = 1499;
      await publisher.bundle();
      expect(reads()).toBe(4);
      clock.t = 1500;
      await publisher.bundle();
      expect(reads()).toBe(8);
    });

    it(`keeps the data API_KEYS_MAX_AGE_MS (${API_KEYS_MAX_AGE_MS} ms) by default`, async () => {
      expect(API_KEYS_MAX_AGE_MS).toBe(2000);
      const { publisher, clock, reads } = setup();
      await publisher.bundle();
      clock.t = 1000 + API_KEYS_MAX_AGE_MS - 1;
      await publisher.bundle();
      expect(reads()).toBe(4);
      clock.t = 1000 + API_KEYS_MAX_AGE_MS;
      await publisher.bundle();
      expect(reads()).toBe(8);
    });

    it('uses Date.now when given no clock', async () => {
      const now = jest.spyOn(Date, 'now').mockReturnValue(50_000);
      const ul = fakeAgent();
      const js = fakeAgent();
      const publisher = new ApiKeyPublisher({
        agents: { ultralight: ul, json: js } as unknown as Record<DeviceProtocol, IotAgentClient>,
        tenants: ['manufracture'],
      });
      await publisher.bundle();
      now.mockReturnValue(50_000 + API_KEYS_MAX_AGE_MS - 1);
      await publisher.bundle();
      expect(ul.reads).toEqual(['manufracture']);
      now.mockReturnValue(50_000 + API_KEYS_MAX_AGE_MS);
      await publisher.bundle();
      expect(ul.reads).toEqual(['manufracture', 'manufracture']);
      expect(js.reads).toEqual(['manufracture', 'manufracture']);
    });
  });

  describe('one read at a time', () => {
    it('lets concurrent callers share one read', async () => {
      const { ul, js, publisher, reads } = setup({ ul: { manufracture: groupsOf('k1') } });
      const g = gate();
      ul.gate = js.gate = g.promise;
      const a = publisher.bundle();
      const b = publisher.bundle();
      const c = publisher.bundle();
      g.open();
      const [ba, bb, bc] = await Promise.all([a, b, c]);
      expect(reads()).toBe(4);
      expect(bb).toBe(ba);
      expect(bc).toBe(ba);
    });

    it('shares a failed read’s error, then reads again on the next call', async () => {
      const { ul, publisher, reads } = setup({ ul: { manufracture: groupsOf('k1') } });
      const boom = new Error('agent down');
      ul.fail = boom;
      const a = publisher.bundle();
      const b = publisher.bundle();
      await expect(a).rejects.toBe(boom);
      await expect(b).rejects.toBe(boom);
      expect(reads()).toBe(4);
      ul.fail = undefined;
      const ok = await publisher.bundle();
      expect(reads()).toBe(8);
      expect(ok.data.routes).toEqual({ [UL_ROUTE]: { [sha256('k1')]: 'manufracture' } });
    });
  });

  describe('invalidation', () => {
    it('invalidate() makes the next call read the agents although the data is fresh', async () => {
      const { ul, publisher, reads } = setup({ ul: { manufracture: groupsOf('old') } });
      const first = await publisher.bundle();
      ul.groups = { manufracture: groupsOf('old', 'new') };
      publisher.invalidate();
      const second = await publisher.bundle();
      expect(reads()).toBe(8);
      expect(second).not.toBe(first);
      expect(second.data.routes[UL_ROUTE]).toEqual({
        [sha256('old')]: 'manufracture',
        [sha256('new')]: 'manufracture',
      });
      expect(await publisher.bundle()).toBe(second);
      expect(reads()).toBe(8);
    });

    it('refresh() reads now, publishes the new revision and caches it', async () => {
      const { ul, publisher, changes, reads } = setup({ ul: { manufracture: groupsOf('old') } });
      await publisher.bundle();
      ul.groups = { manufracture: groupsOf('new') };
      const fresh = await publisher.refresh();
      expect(reads()).toBe(8);
      expect(fresh.data.routes).toEqual({ [UL_ROUTE]: { [sha256('new')]: 'manufracture' } });
      expect(changes).toHaveLength(2);
      expect(changes[1]).toBe(fresh.data);
      expect(await publisher.bundle()).toBe(fresh);
      expect(reads()).toBe(8);
    });

    it('does not cache a read that started before invalidate()', async () => {
      const { ul, js, publisher, reads } = setup({ ul: { manufracture: groupsOf('old') } });
      const g = gate();
      ul.gate = js.gate = g.promise;
      const pending = publisher.bundle();
      ul.groups = { manufracture: groupsOf('old', 'new') };
      publisher.invalidate();
      g.open();
      const stale = await pending;
      expect(stale.data.routes).toEqual({ [UL_ROUTE]: { [sha256('old')]: 'manufracture' } });
      ul.gate = js.gate = undefined;
      const next = await publisher.bundle();
      expect(reads()).toBe(8);
      expect(next.data.routes[UL_ROUTE]).toEqual({
        [sha256('old')]: 'manufracture',
        [sha256('new')]: 'manufracture',
      });
      expect(await publisher.bundle()).toBe(next);
      expect(reads()).toBe(8);
    });
    it('refresh() during a read started before the write reads again, and publishes only that', async () => {
      // A poll's read is under way when a group is written: refresh() must not answer with it.
      const { ul, js, publisher, changes, reads } = setup({
        ul: { manufracture: groupsOf('old') },
      });
      const g = gate();
      ul.gate = js.gate = g.promise;
      const poll = publisher.bundle();
      ul.groups = { manufracture: groupsOf('old', 'new') };
      ul.gate = js.gate = undefined;
      const written = await publisher.refresh();
      expect(reads()).toBe(8);
      expect(written.data.routes[UL_ROUTE]).toEqual({
        [sha256('old')]: 'manufracture',
        [sha256('new')]: 'manufracture',
      });
      expect(changes).toEqual([written.data]);
      // The poll's read ends last: its caller gets it, but it neither replaces nor is published.
      g.open();
      expect((await poll).data.routes[UL_ROUTE]).toEqual({ [sha256('old')]: 'manufracture' });
      expect(changes).toEqual([written.data]);
      expect(await publisher.bundle()).toBe(written);
      expect(reads()).toBe(8);
    });

    it('keeps sharing the new read when the one before the write ends first', async () => {
      const { ul, js, publisher, reads } = setup({ ul: { manufracture: groupsOf('k') } });
      const first = gate();
      ul.gate = js.gate = first.promise;
      const before = publisher.bundle();
      publisher.invalidate();
      const second = gate();
      ul.gate = js.gate = second.promise;
      const after = publisher.bundle();
      expect(reads()).toBe(8);
      first.open();
      await before;
      // The stale read has ended; a caller now still joins the read of the current generation.
      const joined = publisher.bundle();
      expect(reads()).toBe(8);
      second.open();
      expect(await joined).toBe(await after);
    });

    it('lets callers after a write share the new read, not the one before it', async () => {
      const { ul, js, publisher, reads } = setup({ ul: { manufracture: groupsOf('old') } });
      const g = gate();
      ul.gate = js.gate = g.promise;
      const before = publisher.bundle();
      publisher.invalidate();
      const after1 = publisher.bundle();
      const after2 = publisher.bundle();
      g.open();
      const [b, a1, a2] = await Promise.all([before, after1, after2]);
      expect(reads()).toBe(8);
      expect(a1).toBe(a2);
      expect(a1).not.toBe(b);
    });
  });

  describe('onChange', () => {
    it('is not called again when a write leaves the revision as it was', async () => {
      const { publisher, changes } = setup({ ul: { manufracture: groupsOf('k1') } });
      const first = await publisher.bundle();
      const again = await publisher.refresh();
      expect(again).toBe(first);
      expect(changes).toEqual([first.data]);
    });

    it('is called with the data of each new revision only', async () => {
      const { ul, publisher, clock, changes } = setup({
        ul: { manufracture: groupsOf('k1') },
        maxAgeMs: 100,
      });
      const first = await publisher.bundle();
      expect(changes).toEqual([first.data]);
      expect(changes[0]).toBe(first.data);

      clock.t += 100;
      const same = await publisher.bundle();
      expect(same).toBe(first);
      expect(changes).toHaveLength(1);

      ul.groups = { manufracture: groupsOf('k1', 'k2') };
      clock.t += 100;
      const changed = await publisher.bundle();
      expect(changed.etag).not.toBe(first.etag);
      expect(changes).toHaveLength(2);
      expect(changes[1]).toBe(changed.data);
    });

    it('keeps the same bundle object (and bytes) for an unchanged revision', async () => {
      const { publisher, clock } = setup({ ul: { manufracture: groupsOf('k1') }, maxAgeMs: 1 });
      const first = await publisher.bundle();
      clock.t += 1;
      const again = await publisher.bundle();
      expect(again).toBe(first);
      expect(again.body).toBe(first.body);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The bundle, unpacked by hand
// ---------------------------------------------------------------------------------------------

interface TarEntry {
  readonly header: Buffer;
  readonly name: string;
  readonly content: Buffer;
  /** The bytes between the content and the next 512-byte boundary. */
  readonly padding: Buffer;
}

const text = (b: Buffer, offset: number, length: number) =>
  b.subarray(offset, offset + length).toString('latin1');

/** The entries of a ustar archive, checking it ends with exactly two zero blocks. */
function untar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let at = 0;
  while (archive.subarray(at, at + 512).some((byte) => byte !== 0)) {
    const header = archive.subarray(at, at + 512);
    const size = parseInt(text(header, 124, 11), 8);
    const padded = Math.ceil(size / 512) * 512;
    entries.push({
      header,
      name: text(header, 0, 100).replace(/\0+$/, ''),
      content: archive.subarray(at + 512, at + 512 + size),
      padding: archive.subarray(at + 512 + size, at + 512 + padded),
    });
    at += 512 + padded;
  }
  expect(archive.length - at).toBe(1024);
  expect(archive.subarray(at).every((byte) => byte === 0)).toBe(true);
  return entries;
}

const sample = (revision = 'abcdef0123456789'): ApiKeyData => ({
  version: 1,
  revision,
  routes: { [UL_ROUTE]: { [sha256('k')]: 'manufracture' } },
});

describe('bundleOf', () => {
  it('is a gzip of a tar with the manifest, then the data under the apikeys root', () => {
    const data = sample();
    const body = bundleOf(data);
    expect([...body.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    const entries = untar(gunzipSync(body));
    expect(API_KEYS_ROOT).toBe('kitt4sme/apikeys');
    expect(entries.map((e) => e.name)).toEqual(['.manifest', 'kitt4sme/apikeys/data.json']);
    expect(entries[0]!.content.toString('utf8')).toBe(
      JSON.stringify({ revision: 'abcdef0123456789', roots: ['kitt4sme/apikeys'] }),
    );
    expect(entries[1]!.content.toString('utf8')).toBe(JSON.stringify(data));
    expect(JSON.parse(entries[1]!.content.toString('utf8'))).toEqual(data);
  });

  it('writes regular files with a fixed mode, owner and time, and valid ustar headers', () => {
    for (const e of untar(gunzipSync(bundleOf(sample())))) {
      const h = e.header;
      expect(text(h, 100, 8)).toBe('0000644\0');
      expect(text(h, 108, 8)).toBe('0000000\0');
      expect(text(h, 116, 8)).toBe('0000000\0');
      expect(text(h, 124, 12)).toBe(`${e.content.length.toString(8).padStart(11, '0')}\0`);
      expect(text(h, 136, 12)).toBe('00000000000\0');
      expect(text(h, 156, 1)).toBe('0');
      expect(text(h, 257, 6)).toBe('ustar\0');
      expect(text(h, 263, 2)).toBe('00');
      // Checksum: six octal digits, NUL, space; the sum of the header with the field as spaces.
      const field = text(h, 148, 8);
      expect(field).toMatch(/^[0-7]{6}\0 $/);
      const blanked = Buffer.from(h);
      blanked.fill(0x20, 148, 156);
      expect(parseInt(field.slice(0, 6), 8)).toBe(blanked.reduce((s, byte) => s + byte, 0));
      // Nothing else is written: name padding, link name, owner names, devices, prefix.
      const rest = [
        ...h.subarray(Buffer.byteLength(e.name), 100),
        ...h.subarray(157, 257),
        ...h.subarray(265, 512),
      ];
      expect(rest.every((byte) => byte === 0)).toBe(true);
      expect(e.padding.every((byte) => byte === 0)).toBe(true);
      expect((512 + e.content.length + e.padding.length) % 512).toBe(0);
    }
  });

  it('pads a file to the next 512-byte block, and not at all when it fills its blocks', () => {
    const withDataLength = (length: number) => {
      const base = JSON.stringify(sample('')).length;
      return sample('r'.repeat(length - base));
    };
    const exact = untar(gunzipSync(bundleOf(withDataLength(1024))));
    expect(exact[1]!.content.length).toBe(1024);
    expect(exact[1]!.padding.length).toBe(0);
    const over = untar(gunzipSync(bundleOf(withDataLength(1025))));
    expect(over[1]!.content.length).toBe(1025);
    expect(over[1]!.padding.length).toBe(511);
    const manifest = exact[0]!.content.length;
    expect(exact[0]!.padding.length).toBe(Math.ceil(manifest / 512) * 512 - manifest);
    // Manifest header and blocks, data header and blocks, the two end blocks.
    expect(gunzipSync(bundleOf(withDataLength(1024))).length).toBe(
      512 + Math.ceil(manifest / 512) * 512 + 512 + 1024 + 1024,
    );
  });

  it('sizes a file in bytes, not characters', () => {
    const data: ApiKeyData = { version: 1, revision: 'r', routes: { [UL_ROUTE]: { d: 'Müller' } } };
    const [, file] = untar(gunzipSync(bundleOf(data)));
    expect(file!.content.length).toBe(Buffer.byteLength(JSON.stringify(data), 'utf8'));
    expect(file!.content.toString('utf8')).toBe(JSON.stringify(data));
  });

  it('is byte-for-byte the same for the same data', () => {
    expect(bundleOf(sample()).equals(bundleOf(sample()))).toBe(true);
    expect(bundleOf(sample()).equals(bundleOf(sample('0123456789abcdef')))).toBe(false);
  });
});

describe('etagOf', () => {
  it('quotes the revision as a strong ETag', () => {
    expect(etagOf('abc123')).toBe('"abc123"');
  });
});

describe('matchesEtag', () => {
  it.each([
    ['the same strong ETag', '"rev1"'],
    ['the weak form', 'W/"rev1"'],
    ['a list that names it', '"other", "rev1"'],
    ['a list that names its weak form', '"other",W/"rev1"'],
    ['surrounding whitespace', '  "rev1"\t'],
    ['a wildcard', '*'],
    ['a wildcard with whitespace', ' * '],
  ])('matches %s', (_name, header) => {
    expect(matchesEtag(header, 'rev1')).toBe(true);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['another ETag', '"rev2"'],
    ['a list without it', '"rev2", W/"rev3"'],
    ['the unquoted revision', 'rev1'],
    ['a lower-case weak prefix', 'w/"rev1"'],
    ['W/ anywhere but at the start', '"reW/v1"'],
    ['a prefix of it', '"rev"'],
    ['a longer one', '"rev12"'],
    ['a wildcard inside a list', '"rev2", *'],
  ])('does not match %s', (_name, header) => {
    expect(matchesEtag(header, 'rev1')).toBe(false);
  });
});
