/**
 * Grafana's organisations per tenant as synthesized: each tenant's organisation, datasource
 * (its own read-only CrateDB user, never another tenant's) and dashboards; the init container
 * that creates the organisations, run with stand-ins for Grafana and wget; and who gets which
 * role where: the JMESPath paths evaluated with the reference JMESPath implementation (python3
 * jmespath), the org_mapping applied the way Grafana 12's generic OAuth applies it.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parse } from 'yaml';

import { declaredSecrets } from '../../platform/bootstrap-secrets.js';
import { CRATEDB_USERS_SECRET } from '../../platform/secrets.js';
import { ORG_IDS_PATH, orgsInitScript } from '../lib/components/grafana.js';
import { RESTRICTED_CONTAINER, find, synth } from '../../testing/support/synth.js';

const out = synth({ config: (c) => void (c.tenants = [{ name: 'a' }, { name: 'b' }]) });
const ctx = out.platform.context;
const pod = find(out, 'StatefulSet', 'grafana').spec.template.spec;
const grafana = pod.containers.find((c: any) => c.name === 'grafana');
const env = Object.fromEntries((grafana.env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]));
const datasources = parse(find(out, 'ConfigMap', 'grafana-datasources').data['cratedb.yaml'])
  .datasources as Record<string, any>[];
const providers = parse(find(out, 'ConfigMap', 'grafana-dashboard-providers').data['tenants.yaml'])
  .providers as Record<string, any>[];
const bootstrapKeys = Object.keys(
  declaredSecrets(ctx).find((s) => s.name === CRATEDB_USERS_SECRET.name)!.keys,
);
const TENANTS = ['a', 'b'] as const;

/** The env var a `$__env{VAR}` provisioning value names. */
const envVar = (value: string) => /^\$__env\{([A-Z0-9_]+)\}$/.exec(value)?.[1];

describe('an organisation per tenant', () => {
  it('each tenant has a datasource in its own organisation, as its own reader, never crate', () => {
    for (const t of TENANTS) {
      const ds = datasources.filter((d) => d.jsonData.database === `mt${t}`);
      expect(ds).toHaveLength(1);
      expect(ds[0]).toMatchObject({
        orgId: `$__file{${ORG_IDS_PATH}/${t}}`,
        user: `reader_${t}`,
        isDefault: true,
        editable: false,
      });
      expect(ds[0]!.user).not.toBe('crate');
    }
    expect(datasources).toHaveLength(TENANTS.length);
  });

  it("takes each datasource's password from its tenant's key of the Secret bootstrap generates", () => {
    for (const t of TENANTS) {
      const ds = datasources.find((d) => d.user === `reader_${t}`)!;
      const name = envVar(ds.secureJsonData.password)!;
      expect(env[name]).toEqual({
        secretKeyRef: { name: 'cratedb-users', key: `reader-${t}-password` },
      });
      expect(bootstrapKeys).toContain(`reader-${t}-password`);
    }
    // No password, and no crate user, is written in the provisioning.
    expect(JSON.stringify(datasources)).not.toMatch(/"user":"crate"|"password":"(?!\$__env)/);
  });

  it("never lets a tenant's datasource name another tenant's user, schema, organisation or password", () => {
    const [a, b] = TENANTS.map((t) => datasources.find((d) => d.user === `reader_${t}`)!);
    const other = (ds: Record<string, any>, t: string) =>
      [ds.user, ds.jsonData.database, ds.orgId, ds.secureJsonData.password].filter((v: string) =>
        new RegExp(`(reader_|mt|/|_)${t}\\b|PASSWORD_${t.toUpperCase()}\\b`).test(v),
      );
    expect(other(a!, 'b')).toEqual([]);
    expect(other(b!, 'a')).toEqual([]);
  });

  it("provisions each tenant's dashboards into its organisation only", () => {
    expect(providers.map((p) => [p.name, p.orgId, p.options.path])).toEqual(
      TENANTS.map((t) => [
        `tenant-${t}`,
        `$__file{${ORG_IDS_PATH}/${t}}`,
        `/etc/grafana/dashboards/${t}`,
      ]),
    );
    const items = pod.volumes.find((v: any) => v.name === 'dashboards').configMap.items;
    expect(items).toEqual(
      TENANTS.map((t) => ({ key: `${t}.json`, path: `${t}/measurements.json` })),
    );
  });

  it('creates the organisations in an init container: the pinned image, restricted, loopback only', () => {
    const init = pod.initContainers.find((c: any) => c.name === 'orgs');
    expect(init.image).toBe(ctx.image('grafana'));
    expect(init.command).toEqual(['sh', '-c', orgsInitScript([...TENANTS])]);
    expect(init.command[2]).toContain('cfg:server.http_addr=127.0.0.1');
    expect(init.securityContext).toEqual(RESTRICTED_CONTAINER);
    expect(init.volumeMounts).toContainEqual({ name: 'org-ids', mountPath: ORG_IDS_PATH });
    expect(grafana.volumeMounts).toContainEqual({
      name: 'org-ids',
      mountPath: ORG_IDS_PATH,
      readOnly: true,
    });
  });

  it('refuses an organisation name that is not a tenant name (the script splices it)', () => {
    expect(() => orgsInitScript(['a; rm -rf /'])).toThrow(/not a tenant name/);
  });
});

describe('the organisations init script, with stand-ins for Grafana and wget', () => {
  /** Runs the script; `orgs` is Grafana's state (name -> id), changed in place. */
  function run(orgs: Record<string, number>, opts: { failCreate?: boolean } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'grafana-orgs-'));
    const bin = join(dir, 'bin');
    const state = join(dir, 'state');
    const ids = join(dir, 'ids');
    for (const d of [bin, state, ids]) mkdirSync(d);
    for (const [name, id] of Object.entries(orgs)) writeFileSync(join(state, name), String(id));
    writeFileSync(join(bin, 'grafana'), '#!/bin/sh\nexec sleep 300\n');
    // A Grafana HTTP API as far as the script uses it; it checks the admin's credentials.
    writeFileSync(
      join(bin, 'wget'),
      `#!/bin/sh
url= post= auth=
while [ $# -gt 0 ]; do
  case "$1" in
    --header) case "$2" in Authorization:*) auth="$2";; esac; shift 2;;
    --post-data) post="$2"; shift 2;;
    -O) shift 2;;
    -q) shift;;
    *) url="$1"; shift;;
  esac
done
case "$url" in
  */api/health) exit 0;;
esac
[ "$auth" = "Authorization: Basic $(printf 'admin:s3cret' | base64)" ] || { echo 401 >&2; exit 1; }
case "$url" in
  */api/orgs/name/*)
    name=\${url##*/}
    [ -f "${state}/$name" ] || { echo 'HTTP/1.1 404 Not Found' >&2; exit 1; }
    printf '{"id":%s,"name":"%s","address":{}}' "$(cat "${state}/$name")" "$name";;
  */api/orgs)
    [ -z "${opts.failCreate ? '' : 'ok'}" ] && exit 1
    name=$(printf '%s' "$post" | sed 's/.*"name":"\\([^"]*\\)".*/\\1/')
    n=$(ls "${state}" | wc -l)
    echo $((n + 10)) >"${state}/$name"
    echo "$name" >>"${dir}/created";;
  *) exit 1;;
esac
`,
    );
    for (const f of ['grafana', 'wget']) chmodSync(join(bin, f), 0o755);
    const r = spawnSync('sh', ['-c', orgsInitScript(['a', 'b'], ids)], {
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        GF_SECURITY_ADMIN_USER: 'admin',
        GF_SECURITY_ADMIN_PASSWORD: 's3cret',
        GF_PATHS_HOME: dir,
        GF_PATHS_CONFIG: join(dir, 'grafana.ini'),
      },
    });
    const written = Object.fromEntries(
      readdirSync(ids).map((f) => [f, readFileSync(join(ids, f), 'utf8')]),
    );
    const created = existsSync(join(dir, 'created'))
      ? readFileSync(join(dir, 'created'), 'utf8').trim().split('\n')
      : [];
    const state_ = Object.fromEntries(
      readdirSync(state).map((f) => [f, Number(readFileSync(join(state, f), 'utf8'))]),
    );
    rmSync(dir, { recursive: true, force: true });
    return { code: r.status, out: `${r.stdout}${r.stderr}`, written, created, state: state_ };
  }

  it('creates only the missing organisations and writes every id, by name', () => {
    const first = run({ 'Main Org.': 1, a: 5 });
    expect(first.code).toBe(0);
    expect(first.created).toEqual(['b']);
    expect(first.written).toEqual({ a: '5', b: String(first.state.b) });
    expect(first.out).toContain('orgs: 2 organisations ready');
  });

  it('is idempotent: a second start creates nothing and writes the same ids', () => {
    const again = run({ 'Main Org.': 1, a: 5, b: 12 });
    expect(again.code).toBe(0);
    expect(again.created).toEqual([]);
    expect(again.written).toEqual({ a: '5', b: '12' });
  });

  it('fails, with the way out, when it cannot create an organisation', () => {
    const failed = run({ 'Main Org.': 1 }, { failCreate: true });
    expect(failed.code).toBe(1);
    expect(failed.out).toContain(
      "cannot create organisation a; is the grafana-admin Secret's password still the admin's?",
    );
    expect(failed.written).toEqual({});
  });
});

// ---------------------------------------------------------------------------------------------
// Who gets in, and as what. The paths are evaluated by the reference JMESPath implementation;
// the mapping below follows Grafana 12's pkg/login/social/connectors/org_role_mapper.go
// (ParseOrgMappingSettings, MapOrgRoles, getTopRole, splitOrgMapping) and generic_oauth.go
// (role_attribute_strict refuses a login that maps to no organisation).

/** Evaluates JMESPath expressions, each on its document, with python3's jmespath (one process). */
function jmespath(pairs: readonly (readonly [string, object])[]): unknown[] {
  const r = spawnSync(
    'python3',
    [
      '-c',
      'import json, sys, jmespath\nprint(json.dumps([jmespath.search(e, d) for e, d in json.load(sys.stdin)]))',
    ],
    { input: JSON.stringify(pairs), encoding: 'utf8' },
  );
  if (r.error || r.status !== 0)
    throw new Error(
      `evaluating JMESPath needs python3 with the jmespath package (apt-get install python3-jmespath): ${r.error ?? r.stderr}`,
    );
  return JSON.parse(r.stdout) as unknown[];
}

type OrgRole = 'Viewer' | 'Editor' | 'Admin';
const RANK: Record<OrgRole, number> = { Viewer: 1, Editor: 2, Admin: 3 };
const isRole = (r: string): r is OrgRole => r in RANK;
const topRole = (a: OrgRole | undefined, b: OrgRole): OrgRole =>
  a === undefined || RANK[b] > RANK[a] ? b : a;

/** Grafana's splitOrgMapping: `:` separates, `\:` is a literal colon. */
function splitOrgMapping(mapping: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < mapping.length; i++) {
    if (mapping[i] === '\\' && mapping[i + 1] === ':') {
      current += ':';
      i++;
    } else if (mapping[i] === ':') {
      parts.push(current);
      current = '';
    } else current += mapping[i];
  }
  parts.push(current);
  return parts.length > 3 ? [] : parts;
}

/** The organisations Grafana has when people log in: Main Org. and one per tenant. */
const ORGS = new Map([
  ['Main Org.', 1],
  ['a', 2],
  ['b', 3],
]);
const orgName = (id: number) => [...ORGS].find(([, v]) => v === id)![0];

type Login = 'refused' | { admin: boolean; orgs: Record<string, OrgRole> };

/** What Grafana does with each login's claims: refused, or its roles per organisation. */
function logins(...claims: object[]): Login[] {
  const values = jmespath(
    claims.flatMap((c) => [
      [env.GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH, c] as const,
      [env.GF_AUTH_GENERIC_OAUTH_ORG_ATTRIBUTE_PATH, c] as const,
    ]),
  );
  return claims.map((_, i) => login(values[2 * i], values[2 * i + 1]));
}

/** One login, from what its role and org paths evaluated to. */
function login(roleResult: unknown, external: unknown): Login {
  const strict = env.GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_STRICT === 'true';
  const direct = typeof roleResult === 'string' ? roleResult : '';
  const grafanaAdmin = direct.toLowerCase() === 'grafanaadmin';
  const directRole: OrgRole | '' = grafanaAdmin ? 'Admin' : isRole(direct) ? direct : '';
  const externalOrgs = Array.isArray(external)
    ? external.filter((v): v is string => typeof v === 'string')
    : [];

  // ParseOrgMappingSettings (Grafana splits the setting on spaces and commas).
  const mapping = new Map<string, Map<number, OrgRole>>();
  for (const entry of String(env.GF_AUTH_GENERIC_OAUTH_ORG_MAPPING).split(/[\s,]+/)) {
    const kv = splitOrgMapping(entry);
    const orgId = kv[1] === '*' ? -1 : ORGS.get(kv[1] ?? '');
    if (kv.length < 2 || orgId === undefined || (strict && !isRole(kv[2] ?? ''))) {
      if (strict) throw new Error(`org_mapping entry '${entry}' voids the whole mapping`);
      continue;
    }
    const roles = mapping.get(kv[0]!) ?? new Map<number, OrgRole>();
    roles.set(orgId, isRole(kv[2] ?? '') ? (kv[2] as OrgRole) : 'Viewer');
    mapping.set(kv[0]!, roles);
  }
  // MapOrgRoles.
  const user = new Map<number, OrgRole>();
  for (const value of ['*', ...externalOrgs])
    for (const [id, role] of mapping.get(value) ?? []) user.set(id, topRole(user.get(id), role));
  const global = user.get(-1);
  if (global) {
    user.delete(-1);
    for (const id of ORGS.values()) user.set(id, topRole(user.get(id), global));
  }
  if (user.size === 0) {
    if (strict && !directRole) return 'refused';
    return { admin: grafanaAdmin, orgs: { 'Main Org.': directRole || 'Viewer' } };
  }
  if (directRole) for (const [id, role] of user) user.set(id, topRole(role, directRole));
  return {
    admin: grafanaAdmin,
    orgs: Object.fromEntries(
      [...user].sort(([x], [y]) => x - y).map(([id, r]) => [orgName(id), r]),
    ),
  };
}

describe('who gets which role in which organisation', () => {
  const claims = (c: object) => ({ sub: 'x', ...c });

  it('makes a:tenant-admin and b:viewer Editor in a and Viewer in b, and nothing elsewhere', () => {
    expect(logins(claims({ roles: ['a:tenant-admin', 'b:viewer'] }))).toEqual([
      { admin: false, orgs: { a: 'Editor', b: 'Viewer' } },
    ]);
  });

  it('makes operators and viewers Viewers in their tenant only', () => {
    expect(
      logins(claims({ roles: ['b:operator'] }), claims({ roles: ['a:viewer'], tenants: ['a'] })),
    ).toEqual([
      { admin: false, orgs: { b: 'Viewer' } },
      { admin: false, orgs: { a: 'Viewer' } },
    ]);
  });

  it('refuses devices, and anyone with no mapped role', () => {
    expect(
      logins(
        claims({ roles: ['a:device', 'device'], tenants: ['a'] }),
        claims({}),
        claims({ tenants: ['a', 'b'], roles: ['tenant-admin'] }),
        // A value for a tenant Grafana does not have, or in another shape, maps to nothing.
        claims({ roles: ['c:tenant-admin', 'tenant-admin', 'a'] }),
      ),
    ).toEqual(['refused', 'refused', 'refused', 'refused']);
  });

  it('makes platform admins Grafana Admin and Admin in every organisation', () => {
    expect(logins(claims({ roles: ['platform-admin'] }))).toEqual([
      { admin: true, orgs: { 'Main Org.': 'Admin', a: 'Admin', b: 'Admin' } },
    ]);
  });

  it('makes platform operators Viewer in every organisation, and more where their tenant roles say', () => {
    expect(
      logins(
        claims({ groups: ['platform-operators'] }),
        claims({ groups: ['platform-operators'], roles: ['a:tenant-admin'] }),
      ),
    ).toEqual([
      { admin: false, orgs: { 'Main Org.': 'Viewer', a: 'Viewer', b: 'Viewer' } },
      { admin: false, orgs: { 'Main Org.': 'Viewer', a: 'Editor', b: 'Viewer' } },
    ]);
  });

  it('reads the org values as JMESPath: the roles claim plus the platform-operators marker, nothing else', () => {
    const path = env.GF_AUTH_GENERIC_OAUTH_ORG_ATTRIBUTE_PATH;
    expect(
      jmespath([
        [
          path,
          {
            roles: ['a:viewer', 'platform-admin'],
            groups: ['g'],
          },
        ],
        [path, { roles: ['a:operator'], groups: ['platform-operators', 'platform-admins'] }],
        [path, {}],
      ]),
    ).toEqual([['a:viewer', 'platform-admin'], ['a:operator', 'platform-operators'], []]);
  });

  it('writes one org_mapping entry per tenant and mapped role, escaped, and none for devices', () => {
    const entries = String(env.GF_AUTH_GENERIC_OAUTH_ORG_MAPPING).split(' ');
    expect(entries).toEqual([
      'a\\:tenant-admin:a:Editor',
      'a\\:operator:a:Viewer',
      'a\\:viewer:a:Viewer',
      'b\\:tenant-admin:b:Editor',
      'b\\:operator:b:Viewer',
      'b\\:viewer:b:Viewer',
      'platform-admin:*:Admin',
      'platform-operators:*:Viewer',
    ]);
    expect(entries.map(splitOrgMapping)[0]).toEqual(['a:tenant-admin', 'a', 'Editor']);
    expect(env.GF_AUTH_GENERIC_OAUTH_ALLOW_ASSIGN_GRAFANA_ADMIN).toBe('true');
  });
});
