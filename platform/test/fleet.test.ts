/**
 * The fleet records (platform/fleet/): each validation rule on a record that breaks it, the
 * template → agent merge patch, the placeholders, stable ids and the revision.
 */
import { stringify } from 'yaml';

import { loadPlatformContext } from '../context.js';
import type { FleetFile, FleetIssue } from '../fleet/resolve.js';
import {
  FleetError,
  agentObjectName,
  agentSecretName,
  agentsNamespace,
  configFor,
  mergePatch,
  readFleetDir,
  resolveFleet,
} from '../fleet/resolve.js';

const ctx = loadPlatformContext();

const uuid = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;

/** A small valid fleet: two hosts (one specialised), a group, a template, an agent, a pipeline. */
function base(): Record<string, any>[] {
  return [
    { kind: 'Host', name: 'h1' },
    { kind: 'Host', name: 'h2', specialised: true },
    { kind: 'Group', id: uuid(1), name: 'g', hosts: ['h1', 'h2'] },
    {
      kind: 'Template',
      id: uuid(2),
      name: 't',
      image: 'ghcr.io/x/detector:1.2.3',
      ports: [8080],
      needs: ['orion:read'],
      config: { entity: 'urn:Agent:{{uuid}}', on: '{{hostname}}', keep: 1, drop: 2 },
    },
    {
      kind: 'Agent',
      id: uuid(3),
      name: 'a',
      tenant: 'manufracture',
      template: 't',
      placement: { host: 'h1' },
      config: { keep: 5, drop: null, who: '{{name}}@{{tenant}}' },
    },
    {
      kind: 'Pipeline',
      id: uuid(4),
      name: 'p',
      tenant: 'manufracture',
      modules: [
        { id: uuid(5), name: 'up', template: 't', placement: { group: 'g' } },
        { id: uuid(6), name: 'down', template: 't', placement: { floating: true } },
      ],
      connections: [{ from: 'up', to: 'down:8080' }],
    },
  ];
}

const asFiles = (records: readonly unknown[]): FleetFile[] =>
  records.map((r, i) => ({ path: `fleet/r${i}.yaml`, text: stringify(r) }));

/** The issues of a fleet, as `code where`. */
function problems(records: readonly unknown[]): string[] {
  try {
    resolveFleet(asFiles(records), ctx);
  } catch (err) {
    if (!(err instanceof FleetError)) throw err;
    return err.issues.map((i: FleetIssue) => `${i.code} ${i.file} ${i.where}`);
  }
  return [];
}

/** The base fleet with one change. */
function changed(change: (r: Record<string, any>[]) => void): Record<string, any>[] {
  const r = base();
  change(r);
  return r;
}

describe('fleet records', () => {
  it('resolves the base fleet: merge patch, placements, connections', () => {
    const fleet = resolveFleet(asFiles(base()), ctx);
    const a = fleet.agents.find((x) => x.name === 'a')!;
    // RFC 7386: the agent's value wins, null deletes, the rest comes from the template.
    expect(a.config).toEqual({
      entity: 'urn:Agent:{{uuid}}',
      on: '{{hostname}}',
      keep: 5,
      who: '{{name}}@{{tenant}}',
    });
    expect(configFor(a, 'h1')).toEqual({
      entity: `urn:Agent:${uuid(3)}`,
      on: 'h1',
      keep: 5,
      who: 'a@manufracture',
    });
    expect(a.image).toBe('ghcr.io/x/detector:1.2.3');
    expect(a.placement.hosts.map((h) => h.name)).toEqual(['h1']);
    const up = fleet.agents.find((x) => x.name === 'p-up')!;
    expect(up.placement).toMatchObject({ mode: 'group', group: 'g' });
    expect(up.placement.hosts.map((h) => h.name)).toEqual(['h1', 'h2']);
    expect(up.connections).toEqual([{ to: uuid(6), name: 'p-down', port: 8080 }]);
    expect(fleet.agents.find((x) => x.name === 'p-down')!.placement.mode).toBe('floating');
    // Resources default to the config's agents.defaultResources.
    expect(a.resources).toEqual(ctx.config.agents.defaultResources);
  });

  it('merges a JSON merge patch as RFC 7386 says', () => {
    expect(mergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } })).toEqual({
      a: 'z',
      c: { d: 'e' },
    });
    expect(mergePatch({ a: [1, 2] }, { a: [3] })).toEqual({ a: [3] });
    expect(mergePatch({ a: { b: 1 } }, { a: 'x' })).toEqual({ a: 'x' });
  });

  it('keeps the object names of a renamed record (they come from its id)', () => {
    const before = resolveFleet(asFiles(base()), ctx).agents.find((x) => x.id === uuid(3))!;
    const renamed = changed((r) => (r[4]!.name = 'renamed'));
    const after = resolveFleet(asFiles(renamed), ctx).agents.find((x) => x.id === uuid(3))!;
    expect(after.name).toBe('renamed');
    expect(agentObjectName(after.id)).toBe(agentObjectName(before.id));
    expect(agentObjectName(after.id)).toBe('agent-000000030000');
  });

  describe('revision', () => {
    const revisionOf = (records: Record<string, any>[], id = uuid(3)) =>
      resolveFleet(asFiles(records), ctx).agents.find((x) => x.id === id)!.revision;
    const original = revisionOf(base());

    it('changes when what the agent runs changes (its config, its template, its image)', () => {
      expect(revisionOf(changed((r) => (r[4]!.config.keep = 6)))).not.toBe(original);
      expect(revisionOf(changed((r) => (r[3]!.config.drop = 3)))).toBe(original); // deleted by the agent
      expect(revisionOf(changed((r) => (r[3]!.config.keep2 = 3)))).not.toBe(original);
      expect(revisionOf(changed((r) => (r[4]!.image = 'ghcr.io/x/detector:1.2.4')))).not.toBe(
        original,
      );
    });

    it('stays when the records change without changing the agent (order, stop, another agent, a move)', () => {
      expect(revisionOf([...base()].reverse())).toBe(original);
      expect(revisionOf(changed((r) => (r[4]!.state = 'stopped')))).toBe(original);
      expect(revisionOf(changed((r) => (r[5]!.modules[0].config = { x: 1 })))).toBe(original);
      expect(revisionOf(changed((r) => (r[4]!.placement = { group: 'g' })))).toBe(original);
      // A group agent keeps its revision when the group gains a host.
      const up = (records: Record<string, any>[]) => revisionOf(records, uuid(5));
      expect(up(changed((r) => r[0]!.name && r[2]!.hosts.pop()))).toBe(up(base()));
    });
  });

  describe('validation', () => {
    it('accepts the base fleet', () => {
      expect(problems(base())).toEqual([]);
    });

    it('fails on an unknown host, in a placement and in a group', () => {
      expect(
        problems(
          changed((r) => {
            r[4]!.placement = { host: 'nowhere' };
            r[2]!.hosts.push('gone');
          }),
        ),
      ).toEqual([
        'ERR_FLEET_UNKNOWN_HOST fleet/r2.yaml Group g: hosts[2]',
        'ERR_FLEET_UNKNOWN_HOST fleet/r4.yaml Agent a: placement.host',
      ]);
    });

    it('fails on an unknown group', () => {
      expect(problems(changed((r) => (r[4]!.placement = { group: 'nope' })))).toEqual([
        'ERR_FLEET_UNKNOWN_GROUP fleet/r4.yaml Agent a: placement.group',
      ]);
    });

    it('fails on an unknown template', () => {
      expect(problems(changed((r) => (r[4]!.template = 'nope')))).toEqual([
        'ERR_FLEET_UNKNOWN_TEMPLATE fleet/r4.yaml Agent a: template',
        // and with no template there is no image either
        'ERR_FLEET_IMAGE_UNPINNED fleet/r4.yaml Agent a: image',
      ]);
    });

    it.each([
      ['no tag', 'ghcr.io/x/detector'],
      ['latest', 'ghcr.io/x/detector:latest'],
      ['a floating major', 'ghcr.io/x/detector:1'],
      ['a registry port but no tag', 'localhost:5000/detector'],
      ['a short digest', 'ghcr.io/x/detector@sha256:abc'],
    ])('fails on an image with %s', (_, image) => {
      expect(problems(changed((r) => (r[4]!.image = image)))).toEqual([
        'ERR_FLEET_IMAGE_UNPINNED fleet/r4.yaml Agent a: image',
      ]);
      expect(problems(changed((r) => (r[3]!.image = image)))).toEqual([
        'ERR_FLEET_IMAGE_UNPINNED fleet/r3.yaml Template t: image',
      ]);
    });

    it('accepts a pinned tag or a digest', () => {
      expect(problems(changed((r) => (r[4]!.image = 'ghcr.io/x/d:2.0.1-alpine')))).toEqual([]);
      expect(
        problems(changed((r) => (r[4]!.image = `ghcr.io/x/d@sha256:${'a'.repeat(64)}`))),
      ).toEqual([]);
    });

    it('fails on a need that does not exist', () => {
      expect(problems(changed((r) => (r[4]!.needs = ['orion:read', 'orion:admin'])))).toEqual([
        'ERR_FLEET_UNKNOWN_NEED fleet/r4.yaml Agent a: needs[1]',
      ]);
    });

    it('fails on a connection to a module that does not exist, in its pipeline or another', () => {
      expect(
        problems(
          changed((r) => {
            r[5]!.connections = [
              { from: 'up', to: 'gone' },
              { from: 'up', to: 'q/down' },
              { from: 'ghost', to: 'down' },
            ];
          }),
        ),
      ).toEqual([
        'ERR_FLEET_UNKNOWN_MODULE fleet/r5.yaml Pipeline p: connections[0].to',
        'ERR_FLEET_UNKNOWN_MODULE fleet/r5.yaml Pipeline p: connections[1].to',
        'ERR_FLEET_UNKNOWN_MODULE fleet/r5.yaml Pipeline p: connections[2].from',
      ]);
    });

    it('fails on a connection to a port the module does not declare', () => {
      expect(
        problems(changed((r) => (r[5]!.connections = [{ from: 'up', to: 'down:9090' }]))),
      ).toEqual(['ERR_FLEET_UNKNOWN_PORT fleet/r5.yaml Pipeline p: connections[0].to']);
    });

    it('fails on a cycle of connections, and on a module connected to itself', () => {
      expect(problems(changed((r) => r[5]!.connections.push({ from: 'down', to: 'up' })))).toEqual([
        'ERR_FLEET_CYCLE fleet/r5.yaml Pipeline p: connections',
      ]);
      expect(problems(changed((r) => (r[5]!.connections = [{ from: 'up', to: 'up' }])))).toEqual([
        'ERR_FLEET_CYCLE fleet/r5.yaml Pipeline p: connections',
      ]);
    });

    it('fails on a placeholder that is not defined, in an agent and in a template', () => {
      expect(
        problems(
          changed((r) => {
            r[4]!.config.x = ['ok {{uuid}}', '{{ host }}'];
            r[3]!.config.y = { z: '{{site}}' };
          }),
        ),
      ).toEqual([
        'ERR_FLEET_PLACEHOLDER fleet/r3.yaml Template t: config.y.z',
        'ERR_FLEET_PLACEHOLDER fleet/r4.yaml Agent a: config.x[1]',
      ]);
    });

    it('fails on two agents with one name in a tenant, a module included', () => {
      const twin = { ...base()[4]!, id: uuid(9) };
      expect(problems([...base(), twin])).toEqual([
        'ERR_FLEET_DUPLICATE_NAME fleet/r6.yaml Agent a: name',
      ]);
      // An agent named like a module's <pipeline>-<module>.
      const clash = { ...base()[4]!, id: uuid(9), name: 'p-up' };
      expect(problems([...base(), clash])).toEqual([
        'ERR_FLEET_DUPLICATE_NAME fleet/r5.yaml Pipeline p: modules[0] (up): name',
      ]);
      // The same name in another tenant is another agent.
      expect(problems([...base(), { ...twin, tenant: 'smithereens' }])).toEqual([]);
    });

    it('fails on a reused id', () => {
      expect(problems([...base(), { ...base()[4]!, name: 'b' }])).toEqual([
        'ERR_FLEET_DUPLICATE_ID fleet/r6.yaml Agent b: id',
      ]);
    });

    it("fails on a pipeline connected to another tenant's module", () => {
      const other = {
        kind: 'Pipeline',
        id: uuid(7),
        name: 'q',
        tenant: 'smithereens',
        modules: [{ id: uuid(8), name: 'sink', template: 't', placement: { floating: true } }],
      };
      expect(
        problems([...changed((r) => r[5]!.connections.push({ from: 'up', to: 'q/sink' })), other]),
      ).toEqual(['ERR_FLEET_CROSS_TENANT fleet/r5.yaml Pipeline p: connections[1].to']);
      // The same connection inside one tenant is fine.
      expect(
        problems([
          ...changed((r) => r[5]!.connections.push({ from: 'up', to: 'q/sink' })),
          { ...other, tenant: 'manufracture' },
        ]),
      ).toEqual([]);
    });

    describe('sealed secrets', () => {
      /** A SealedSecret as kubeseal writes it, for agent `a` unless told otherwise. */
      const sealed = (
        name = agentSecretName(uuid(3)),
        namespace = agentsNamespace('manufracture'),
      ) => ({
        apiVersion: 'bitnami.com/v1alpha1',
        kind: 'SealedSecret',
        metadata: { name, namespace, creationTimestamp: null },
        spec: {
          encryptedData: { API_TOKEN: 'AgB0c2VhbGVk' },
          template: { metadata: { name, namespace, creationTimestamp: null } },
        },
      });

      it("binds a SealedSecret to the agent whose Secret it names, and checks the agent's keys", () => {
        const withKey = changed((r) => (r[4]!.secrets = [{ env: 'TOKEN', key: 'API_TOKEN' }]));
        const fleet = resolveFleet(asFiles([...withKey, sealed()]), ctx);
        expect(fleet.sealedSecrets?.map((s) => s.agent)).toEqual([uuid(3)]);
        const missing = changed((r) => (r[4]!.secrets = [{ env: 'TOKEN', key: 'OTHER' }]));
        expect(problems([...missing, sealed()])).toEqual([
          'ERR_FLEET_SECRET_KEY fleet/r4.yaml Agent a: secrets[0].key',
        ]);
      });

      it('changes the revision of an agent when a value it reads is sealed anew, and only then', () => {
        const withKey = changed((r) => (r[4]!.secrets = [{ env: 'TOKEN', key: 'API_TOKEN' }]));
        const revision = (s: ReturnType<typeof sealed>) =>
          resolveFleet(asFiles([...withKey, s]), ctx).agents.find((a) => a.id === uuid(3))!
            .revision;
        const resealed = sealed();
        resealed.spec.encryptedData.API_TOKEN = 'AgB0c2VhbGVkIGFuZXc=';
        expect(revision(resealed)).not.toBe(revision(sealed()));
        // A key the agent does not read changes nothing.
        const extra = sealed();
        (extra.spec.encryptedData as Record<string, string>).UNUSED = 'AgBvdGhlcg==';
        expect(revision(extra)).toBe(revision(sealed()));
      });

      it('fails on a SealedSecret of no agent, another tenant or twice the same Secret', () => {
        expect(problems([...base(), sealed('agent-000000000000-secrets')])).toEqual([
          `ERR_FLEET_SECRET_ORPHAN fleet/r6.yaml SealedSecret ${agentsNamespace('manufracture')}/agent-000000000000-secrets: metadata`,
        ]);
        expect(
          problems([...base(), sealed(undefined, agentsNamespace('smithereens'))]),
        ).toHaveLength(1);
        expect(problems([...base(), sealed(), sealed()])).toEqual([
          `ERR_FLEET_DUPLICATE_NAME fleet/r7.yaml SealedSecret ${agentsNamespace('manufracture')}/${agentSecretName(uuid(3))}: metadata`,
        ]);
      });

      it('fails on a SealedSecret without sealed values or with a plain `data` field', () => {
        const empty = sealed();
        empty.spec.encryptedData = {} as never;
        expect(problems([...base(), empty])).toEqual([
          'ERR_FLEET_SCHEMA fleet/r6.yaml SealedSecret (document 1): spec.encryptedData',
        ]);
        const plain = { ...sealed(), data: { API_TOKEN: 'c2VjcmV0' } };
        expect(problems([...base(), plain])).toEqual([
          'ERR_FLEET_SCHEMA fleet/r6.yaml SealedSecret (document 1): data',
        ]);
      });
    });

    it('reads a missing fleet folder as an empty fleet', () => {
      expect(readFleetDir('/nonexistent-root', 'fleet')).toEqual([]);
      expect(resolveFleet([], ctx).agents).toEqual([]);
    });

    it('fails on a tenant the platform config does not have', () => {
      expect(problems(changed((r) => (r[4]!.tenant = 'acme')))).toEqual([
        'ERR_FLEET_UNKNOWN_TENANT fleet/r4.yaml Agent a: tenant',
      ]);
    });

    it('fails on an unknown field, a missing field and bad YAML, naming each', () => {
      expect(
        problems(
          changed((r) => {
            r[4]!.placment = r[4]!.placement;
            delete r[4]!.placement;
          }),
        ),
      ).toEqual([
        'ERR_FLEET_SCHEMA fleet/r4.yaml Agent a: placement',
        'ERR_FLEET_SCHEMA fleet/r4.yaml Agent a: placment',
      ]);
      expect(() =>
        resolveFleet([{ path: 'fleet/bad.yaml', text: 'kind: Host\nname: [' }], ctx),
      ).toThrow(/fleet\/bad\.yaml document 1: a fleet file cannot be read or is not valid YAML/);
    });

    it('lists every problem in one error with its file, field, code and fix', () => {
      let err: unknown;
      try {
        resolveFleet(asFiles(changed((r) => (r[4]!.placement = { host: 'nowhere' }))), ctx);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FleetError);
      const e = err as FleetError;
      expect(e.code).toBe('ERR_FLEET_INVALID');
      expect(e.message).toContain(
        'fleet/r4.yaml Agent a: placement.host: a placement or a group names a host that no Host record lists ("nowhere"; the hosts are h1, h2). Fix: add a Host record',
      );
      expect(e.message).toContain('[ERR_FLEET_UNKNOWN_HOST]');
      expect(e.fix).toMatch(/npm run agents -- plan/);
    });
  });
});
