/**
 * CrateDB's users as synthesized: host-based authentication, QuantumLeap's own user, the plan
 * of one read-only user per tenant (its SQL parsed), and the reconciler that applies the plan,
 * run for real (python3) against a stand-in for CrateDB's `_sql` endpoint.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { declaredSecrets } from '../../platform/bootstrap-secrets.js';
import { CRATEDB_USERS_SECRET } from '../../platform/secrets.js';
import { CRATE_HBA } from '../lib/components/cratedb.js';
import type { CrateUsersPlan } from '../lib/components/cratedb-users.js';
import { RECONCILER_SCRIPT, crateUsersPlan } from '../lib/components/cratedb-users.js';
import { RESTRICTED_CONTAINER, find, synth } from '../../testing/support/synth.js';

const out = synth({ config: (c) => void (c.tenants = [{ name: 'a' }, { name: 'b' }]) });
const ctx = out.platform.context;
const crate = find(out, 'StatefulSet', 'cratedb').spec.template.spec;
const cratedb = crate.containers.find((c: any) => c.name === 'cratedb');
const reconciler = crate.containers.find((c: any) => c.name === 'users');
const planMap = find(out, 'ConfigMap', 'cratedb-users').data;
const plan = JSON.parse(planMap['plan.json']) as CrateUsersPlan;

/** Keys the bootstrap generates for the `cratedb-users` Secret. */
const bootstrapKeys = Object.keys(
  declaredSecrets(ctx).find((s) => s.name === CRATEDB_USERS_SECRET.name)!.keys,
);

/** The `-C` settings CrateDB starts with, as a map. */
const settings = new Map<string, string>(
  (cratedb.args as string[])
    .filter((a) => a.startsWith('-C'))
    .map((a) => {
      const i = a.indexOf('=');
      return [a.slice(2, i), a.slice(i + 1)];
    }),
);

/** A GRANT statement, parsed: privileges, the schema (none: cluster level) and the grantee. */
function parseGrant(sql: string): { types: string[]; schema: string | null; user: string } {
  const m =
    /^GRANT ((?:DQL|DML|DDL|AL)(?:, (?:DQL|DML|DDL|AL))*)(?: ON SCHEMA "([^"]+)")? TO "([^"]+)"$/.exec(
      sql,
    );
  if (!m) throw new Error(`not a GRANT this test understands: ${sql}`);
  return { types: m[1]!.split(', '), schema: m[2] ?? null, user: m[3]! };
}

describe('CrateDB host-based authentication', () => {
  const entries = [...settings]
    .filter(([k]) => k.startsWith('auth.host_based.config.'))
    .reduce((acc, [k, v]) => {
      const [order, field] = k.slice('auth.host_based.config.'.length).split('.');
      acc.set(order!, { ...acc.get(order!), [field!]: v });
      return acc;
    }, new Map<string, Record<string, string>>());

  it('is on, with the entries of CRATE_HBA in their order', () => {
    expect(settings.get('auth.host_based.enabled')).toBe('true');
    expect(Object.fromEntries(entries)).toEqual(CRATE_HBA);
    expect([...entries.keys()]).toEqual([...entries.keys()].sort());
  });

  it('trusts the superuser from the two loopback addresses only, never a range', () => {
    const trust = [...entries.values()].filter((e) => (e.method ?? 'trust') === 'trust');
    expect(trust).toEqual([
      { user: 'crate', address: '127.0.0.1', method: 'trust' },
      { user: 'crate', address: '::1', method: 'trust' },
    ]);
    // Istio hands mesh traffic to CrateDB from 127.0.0.6: a /8 would trust every caller.
    expect(JSON.stringify([...entries.values()])).not.toContain('/');
  });

  it('asks everyone else for a password, last, and never believes X-Real-IP', () => {
    const last = [...entries.values()].at(-1);
    expect(last).toEqual({ method: 'password' });
    expect(settings.get('auth.trust.http_support_x_real_ip')).toBe('false');
  });

  it('listens on loopback for the reconciler and publishes the pod address to peers', () => {
    expect(settings.get('network.host')).toBe('_local_,_site_');
    expect(settings.get('network.publish_host')).toBe('_site_');
  });

  it('probes the HTTP port by TCP: every HTTP request needs a user now', () => {
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe'])
      expect(cratedb[probe]).toMatchObject({ tcpSocket: { port: 4200 } });
  });
});

describe('QuantumLeap', () => {
  const env = find(out, 'Deployment', 'quantumleap').spec.template.spec.containers[0].env as any[];
  const byName = Object.fromEntries(env.map((e) => [e.name, e.value ?? e.valueFrom]));

  it('writes as its own CrateDB user, with the password bootstrap generates', () => {
    expect(byName.CRATE_DB_USER).toBe('quantumleap');
    expect(byName.CRATE_DB_USER).not.toBe('crate');
    expect(byName.CRATE_DB_PASS).toEqual({
      secretKeyRef: { name: 'cratedb-users', key: 'quantumleap-password' },
    });
    expect(bootstrapKeys).toContain('quantumleap-password');
  });

  it("is planned with read, write and define on the tenants' schemas and doc, read on sys, nothing cluster-wide and never AL", () => {
    const ql = plan.users.find((u) => u.name === 'quantumleap')!;
    const grants = ql.privileges.map((p) => parseGrant(p.grant));
    expect(grants.every((g) => g.user === 'quantumleap' && g.schema !== null)).toBe(true);
    const bySchema = (schema: string) =>
      grants
        .filter((g) => g.schema === schema)
        .flatMap((g) => g.types)
        .sort();
    for (const schema of ['mta', 'mtb', 'doc']) {
      expect([schema, bySchema(schema)]).toEqual([schema, ['DDL', 'DML', 'DQL']]);
    }
    expect(bySchema('sys')).toEqual(['DQL']);
    expect(new Set(grants.map((g) => g.schema))).toEqual(new Set(['mta', 'mtb', 'doc', 'sys']));
  });
});

describe('the users plan', () => {
  const readers = plan.users.filter((u) => u.name.startsWith(plan.managedPrefix));

  it('is the plan of the config, generated once', () => {
    expect(plan).toEqual(JSON.parse(JSON.stringify(crateUsersPlan(ctx.config.tenants))));
    expect(planMap['reconcile.py']).toBe(RECONCILER_SCRIPT);
  });

  it('has one read-only user per tenant, never crate, each password a key bootstrap generates', () => {
    expect(readers.map((u) => u.name)).toEqual(['reader_a', 'reader_b']);
    for (const u of plan.users) {
      expect(u.name).not.toBe('crate');
      expect(bootstrapKeys).toContain(u.passwordKey);
    }
    expect(new Set(plan.users.map((u) => u.passwordKey)).size).toBe(plan.users.length);
    expect(readers.every((u) => u.name.startsWith(plan.managedPrefix))).toBe(true);
  });

  it("grants each reader DQL on exactly its tenant's schema and nothing else", () => {
    for (const [tenant, user] of [
      ['a', 'reader_a'],
      ['b', 'reader_b'],
    ] as const) {
      const u = readers.find((r) => r.name === user)!;
      expect(u.privileges.map((p) => parseGrant(p.grant))).toEqual([
        { types: ['DQL'], schema: `mt${tenant}`, user },
      ]);
      // The structured form the reconciler compares sys.privileges with says the same.
      expect(u.privileges.map(({ class: c, ident, type }) => ({ c, ident, type }))).toEqual([
        { c: 'SCHEMA', ident: `mt${tenant}`, type: 'DQL' },
      ]);
    }
  });

  it("never names another tenant's schema or user in a reader's grants", () => {
    const a = JSON.stringify(readers.find((r) => r.name === 'reader_a'));
    const b = JSON.stringify(readers.find((r) => r.name === 'reader_b'));
    expect(a).not.toMatch(/mtb|reader_b/);
    expect(b).not.toMatch(/mta"|reader_a/);
  });
});

describe('the reconciler container', () => {
  it('runs the CrateDB image, pinned, under the restricted Pod Security profile', () => {
    expect(reconciler.image).toBe(cratedb.image);
    expect(reconciler.image).toBe(ctx.image('cratedb'));
    expect(reconciler.securityContext).toEqual(RESTRICTED_CONTAINER);
    expect(crate.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('reads the plan and the passwords as volumes, so a new tenant needs no restart', () => {
    const volumes = Object.fromEntries(crate.volumes.map((v: any) => [v.name, v]));
    expect(volumes['users-plan'].configMap.name).toBe('cratedb-users');
    expect(volumes['users-secrets'].secret.secretName).toBe('cratedb-users');
    expect(reconciler.volumeMounts.every((m: any) => !m.subPath)).toBe(true);
    expect(reconciler.env ?? []).not.toContainEqual(
      expect.objectContaining({ valueFrom: expect.anything() }),
    );
  });
});

/** A stand-in for CrateDB's `_sql` endpoint: users, privileges, and every statement it got. */
async function fakeCrate(state: {
  users: string[];
  privileges: Record<string, [string, string | null, string, string][]>;
  fail?: RegExp;
}) {
  const statements: { stmt: string; args: unknown[] }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { stmt, args } = JSON.parse(body) as { stmt: string; args: unknown[] };
      statements.push({ stmt, args });
      res.setHeader('Content-Type', 'application/json');
      if (state.fail?.test(stmt)) {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: { message: `SQLParseException[${stmt}]`, code: 4000 } }));
        return;
      }
      let rows: unknown[][] = [];
      if (stmt === 'SELECT name FROM sys.users') rows = state.users.map((u) => [u]);
      if (stmt.startsWith('SELECT class, ident, type, state FROM sys.privileges'))
        rows = state.privileges[args[0] as string] ?? [];
      res.end(JSON.stringify({ cols: [], rows, rowcount: rows.length }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_sql`;
  return { url, statements, close: () => new Promise((r) => server.close(r)) };
}

/** Runs the reconciler once against `url` with the given password files. */
function reconcileOnce(
  url: string,
  passwords: Record<string, string>,
): Promise<{ code: number; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cratedb-users-'));
  const secrets = join(dir, 'secrets');
  mkdirSync(secrets);
  // Kubernetes' own files in a Secret volume start with a dot; they are not keys.
  mkdirSync(join(secrets, '..data'));
  for (const [k, v] of Object.entries(passwords)) writeFileSync(join(secrets, k), v);
  writeFileSync(join(dir, 'plan.json'), planMap['plan.json']);
  writeFileSync(join(dir, 'reconcile.py'), planMap['reconcile.py']);
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [join(dir, 'reconcile.py')], {
      env: {
        PATH: process.env.PATH,
        ONCE: '1',
        CRATE_SQL_URL: url,
        PLAN_FILE: join(dir, 'plan.json'),
        SECRETS_DIR: secrets,
        HEARTBEAT_FILE: join(dir, 'heartbeat'),
      },
    });
    let stdout = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stdout += c));
    child.on('error', (err) =>
      reject(
        new Error(`python3 is needed to run the reconciler (apt-get install python3): ${err}`),
      ),
    );
    child.on('close', (code) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ code: code ?? -1, stdout });
    });
  });
}

describe('the reconciler, run against a stand-in CrateDB', () => {
  const pw = { ql: 'q'.repeat(32), a: 'A'.repeat(32), b: 'B_b-'.repeat(8) };
  const allPasswords = {
    'quantumleap-password': pw.ql,
    'reader-a-password': pw.a,
    'reader-b-password': pw.b,
  };

  it('creates missing users with their passwords and grants exactly the plan', async () => {
    const crate = await fakeCrate({ users: ['crate'], privileges: {} });
    const run = await reconcileOnce(crate.url, allPasswords);
    await crate.close();
    expect(run.code).toBe(0);
    const writes = crate.statements.map((s) => s.stmt).filter((s) => !s.startsWith('SELECT'));
    expect(writes).toEqual([
      `CREATE USER "quantumleap" WITH (password = '${pw.ql}')`,
      'GRANT DQL ON SCHEMA "mta" TO "quantumleap"',
      'GRANT DML ON SCHEMA "mta" TO "quantumleap"',
      'GRANT DDL ON SCHEMA "mta" TO "quantumleap"',
      'GRANT DQL ON SCHEMA "mtb" TO "quantumleap"',
      'GRANT DML ON SCHEMA "mtb" TO "quantumleap"',
      'GRANT DDL ON SCHEMA "mtb" TO "quantumleap"',
      'GRANT DQL ON SCHEMA "doc" TO "quantumleap"',
      'GRANT DML ON SCHEMA "doc" TO "quantumleap"',
      'GRANT DDL ON SCHEMA "doc" TO "quantumleap"',
      'GRANT DQL ON SCHEMA "sys" TO "quantumleap"',
      `CREATE USER "reader_a" WITH (password = '${pw.a}')`,
      'GRANT DQL ON SCHEMA "mta" TO "reader_a"',
      `CREATE USER "reader_b" WITH (password = '${pw.b}')`,
      'GRANT DQL ON SCHEMA "mtb" TO "reader_b"',
    ]);
    expect(run.stdout).not.toContain(pw.a);
  });

  it('is idempotent: existing users get their password set again, nothing else changes', async () => {
    const crate = await fakeCrate({
      users: ['crate', 'quantumleap', 'reader_a', 'reader_b'],
      privileges: {
        quantumleap: plan.users
          .find((u) => u.name === 'quantumleap')!
          .privileges.map((p) => [p.class, p.ident, p.type, 'GRANT']),
        reader_a: [['SCHEMA', 'mta', 'DQL', 'GRANT']],
        reader_b: [['SCHEMA', 'mtb', 'DQL', 'GRANT']],
      },
    });
    const run = await reconcileOnce(crate.url, allPasswords);
    await crate.close();
    expect(run.code).toBe(0);
    const writes = crate.statements.map((s) => s.stmt).filter((s) => !/^(SELECT|GRANT)/.test(s));
    expect(writes).toEqual([
      `ALTER USER "quantumleap" SET (password = '${pw.ql}')`,
      `ALTER USER "reader_a" SET (password = '${pw.a}')`,
      `ALTER USER "reader_b" SET (password = '${pw.b}')`,
    ]);
  });

  it("revokes what the plan does not list and drops a removed tenant's reader", async () => {
    const crate = await fakeCrate({
      users: ['crate', 'quantumleap', 'reader_a', 'reader_b', 'reader_gone', 'someone'],
      privileges: {
        reader_a: [
          ['SCHEMA', 'mta', 'DQL', 'GRANT'],
          ['SCHEMA', 'mtb', 'DQL', 'GRANT'],
          ['TABLE', 'doc.md_ets_metadata', 'DQL', 'GRANT'],
          ['CLUSTER', null, 'DML', 'GRANT'],
        ],
      },
    });
    const run = await reconcileOnce(crate.url, allPasswords);
    await crate.close();
    expect(run.code).toBe(0);
    const changes = crate.statements.map((s) => s.stmt).filter((s) => /^(REVOKE|DROP)/.test(s));
    expect(changes).toEqual([
      'REVOKE DQL ON SCHEMA "mtb" FROM "reader_a"',
      'REVOKE DQL ON TABLE "doc"."md_ets_metadata" FROM "reader_a"',
      'REVOKE DML FROM "reader_a"',
      // Only the reconciler's own users: `someone` and `crate` are left alone.
      'DROP USER "reader_gone"',
    ]);
  });

  it('skips a user whose password is not in the Secret yet, and applies the rest', async () => {
    const crate = await fakeCrate({ users: ['crate'], privileges: {} });
    const { 'reader-b-password': _, ...partial } = allPasswords;
    const run = await reconcileOnce(crate.url, partial);
    await crate.close();
    expect(run.code).toBe(0);
    const stmts = crate.statements.map((s) => s.stmt).join('\n');
    expect(stmts).toContain('GRANT DQL ON SCHEMA "mta" TO "reader_a"');
    expect(stmts).not.toContain('reader_b');
    expect(run.stdout).toContain('npm run bootstrap:secrets');
  });

  it('refuses a password that could break out of its SQL string, and applies the rest', async () => {
    const crate = await fakeCrate({ users: ['crate'], privileges: {} });
    try {
      const run = await reconcileOnce(crate.url, {
        ...allPasswords,
        'reader-a-password': "x' OR '1",
      });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('reader-a-password is not 16-256 URL-safe characters');
      const stmts = crate.statements.map((s) => s.stmt).join('\n');
      expect(stmts).not.toContain('reader_a');
      // The other tenants are not held up by one bad password.
      expect(stmts).toContain('GRANT DQL ON SCHEMA "mtb" TO "reader_b"');
    } finally {
      await crate.close();
    }
  });

  it('never logs a password, not even when CrateDB refuses the statement', async () => {
    const crate = await fakeCrate({ users: ['crate'], privileges: {}, fail: /^CREATE USER/ });
    try {
      const run = await reconcileOnce(crate.url, allPasswords);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(
        'CREATE USER \\"quantumleap\\" WITH (password = ***): HTTP 400 error code 4000',
      );
      expect(run.stdout).not.toContain(pw.ql);
    } finally {
      await crate.close();
    }
  });
});
