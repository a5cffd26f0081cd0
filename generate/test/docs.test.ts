import { CHART_IDS, IMAGE_IDS } from '../../platform/components.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { RouteSpec } from '../../platform/routes.js';
import { ROUTES } from '../../platform/routes.js';
import { allErrorCodes, renderRights } from '../docs.js';
import { ARCHITECTURE_DOC } from '../write.js';
import { listFiles } from '../../cdk8s/lib/files.js';
import { ROOT, build, opaPolicyData, synth } from '../../testing/support/synth.js';

describe('the architecture diagram', () => {
  const out = build();
  const platform = out.synth.platform;

  it('shows every route and every workload, grouped by namespace', () => {
    for (const r of ROUTES) expect(out.architectureSection).toContain(`|"${r.prefix} (`);
    for (const w of platform.workloads.values())
      expect(out.architectureSection).toMatch(new RegExp(`\\["${w.name}"\\]`));
    expect(out.architectureSection).toContain('subgraph ns_fiware["namespace fiware"]');
    expect(out.architectureSection).toContain('subgraph ns_identity["namespace identity"]');
  });

  it('draws exactly the east-west connections the policies allow', () => {
    expect(out.architectureSection).toContain('iotagent_ul -->|":27017"| mongodb');
    expect(out.architectureSection).toContain('orion -->|":8668"| quantumleap');
    expect(out.architectureSection).toContain('istio_ingressgateway -.->|"ext_authz :9191"| opa');
    expect(out.architectureSection).not.toContain('-->|":27017"| cratedb');
  });

  it('changes when the route table changes', () => {
    const extra: RouteSpec = { ...ROUTES[0]!, prefix: '/ngsi', publicPaths: [] };
    expect(build({ routes: [...ROUTES, extra] }).architectureSection).toContain('|"/ngsi (OPA)"|');
  });
});

describe('the pinned versions in docs/architecture.md', () => {
  it('list every image and chart with its version and reason', () => {
    const readme = readFileSync(join(ROOT, ARCHITECTURE_DOC), 'utf8');
    const ctx = synth().platform.context;
    for (const image of IMAGE_IDS.map((id) => ctx.imageSpec(id))) {
      expect(readme).toContain(
        `| image \`${image.repository}\` | \`${image.tag}\` | ${image.why} |`,
      );
    }
    for (const chart of CHART_IDS.map((id) => ctx.chart(id)))
      expect(readme).toContain(`| \`${chart.version}\` | ${chart.why} |`);
  });
});

describe('docs/errors.md', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');

  it('documents every error code, once', () => {
    for (const code of allErrorCodes()) expect(doc.split(`| \`${code}\` |`).length).toBe(2);
  });

  it('lists no code the catalogues do not have', () => {
    const listed = [...doc.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(allErrorCodes().sort());
  });
});

describe('error codes in the source', () => {
  it('are all documented: every ERR_ literal in cdk8s/, services/, scripts/ and scenarios/ is in a catalogue', () => {
    const documented = new Set(allErrorCodes());
    const used = new Set<string>();
    for (const dir of ['cdk8s', 'services', 'scripts', 'scenarios']) {
      for (const file of listFiles(join(ROOT, dir)).filter((f) => /\.(ts|mjs)$/.test(f))) {
        for (const m of readFileSync(file, 'utf8').matchAll(/['"`](ERR_[A-Z_]+)['"`]/g))
          used.add(m[1]!);
      }
    }
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((c) => !documented.has(c))).toEqual([]);
  });
});

describe('the rights table', () => {
  it('says, per role and tenant route, exactly the methods the policy data grants', () => {
    const out = synth();
    const data = opaPolicyData(out);
    const table = renderRights(ROUTES);
    for (const role of data.roles) {
      const line = table.split('\n').find((l) => l.startsWith(`| \`${role}\` |`));
      expect(line).toBeDefined();
      const cells = line!.split(' | ').slice(2);
      cells[cells.length - 1] = cells[cells.length - 1]!.replace(/ \|$/, '');
      // The table has the routes; their sub-routes (service groups, agent administration)
      // are in policies/README.md.
      const prefixes = new Set(ROUTES.map((r) => r.prefix));
      expect(cells).toEqual(
        data.routes
          .filter((r: { prefix: string }) => prefixes.has(r.prefix as `/${string}`))
          .map((r: { rights: Record<string, string[]> }) => r.rights[role]?.join(', ') ?? '-'),
      );
    }
    expect(readFileSync(join(ROOT, ARCHITECTURE_DOC), 'utf8')).toContain(table);
  });
});
