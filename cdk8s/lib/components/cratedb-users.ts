/**
 * CrateDB's database users, declared: QuantumLeap's writer and one read-only user per tenant,
 * their privileges, and the reconciler that makes CrateDB hold exactly these.
 *
 * The plan (users, the Secret key of each password, each privilege with its GRANT statement) is
 * generated here from the tenant list and mounted into CrateDB's pod with the reconciler, a
 * small Python program that runs beside CrateDB and talks to it over loopback as the superuser
 * `crate`, the only place host-based authentication lets `crate` in from. NOTE (1)
 */
import type { k8s } from 'cdk8s-plus-33';

import type { Tenant } from '../../../platform/config/schema.js';
import { CRATEDB_USERS_SECRET, crateDbReaderPasswordKey } from '../../../platform/secrets.js';

/** The CrateDB schema QuantumLeap writes a tenant's tables to: `mt` + lower-cased service. */
export function tenantSchema(tenant: Pick<Tenant, 'name'>): string {
  return `mt${tenant.name.toLowerCase()}`;
}

/** QuantumLeap's CrateDB user (QuantumLeap reads it from CRATE_DB_USER). */
export const QUANTUMLEAP_DB_USER = 'quantumleap';

/** The backup job's CrateDB user: snapshots and restores (platform/backup.ts). NOTE (4) */
export const BACKUP_DB_USER = 'backup';

/** Users whose names start with this are the reconciler's: one that is not planned is dropped. */
export const READER_PREFIX = 'reader_';

/** A tenant's read-only CrateDB user, which its Grafana datasource connects as. */
export function readerUser(tenant: Pick<Tenant, 'name'>): string {
  return `${READER_PREFIX}${tenant.name}`;
}

/** Privilege types of CrateDB (DQL read, DML write, DDL define, AL administer). */
export type CratePrivilegeType = 'DQL' | 'DML' | 'DDL' | 'AL';

/** One privilege of a planned user, as `sys.privileges` lists it, with the GRANT that gives it. */
export interface PlannedPrivilege {
  /** `CLUSTER` or `SCHEMA` (the reconciler revokes table-level privileges it finds). */
  readonly class: 'CLUSTER' | 'SCHEMA';
  /** The schema's name; null for CLUSTER. */
  readonly ident: string | null;
  readonly type: CratePrivilegeType;
  /** The statement the reconciler runs (GRANT is idempotent). */
  readonly grant: string;
}

/** A planned user: its name, where its password is, and exactly its privileges. */
export interface PlannedUser {
  readonly name: string;
  /** The key of its password in the `cratedb-users` Secret. */
  readonly passwordKey: string;
  readonly privileges: readonly PlannedPrivilege[];
}

/** What the reconciler makes CrateDB hold. */
export interface CrateUsersPlan {
  /** Users with this prefix that the plan does not list are dropped (a tenant removed). */
  readonly managedPrefix: string;
  readonly users: readonly PlannedUser[];
}

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function schemaPrivilege(user: string, schema: string, type: CratePrivilegeType): PlannedPrivilege {
  return {
    class: 'SCHEMA',
    ident: schema,
    type,
    // CrateDB takes a schema's name without checking that it exists. NOTE (2)
    grant: `GRANT ${type} ON SCHEMA ${quoteIdent(schema)} TO ${quoteIdent(user)}`,
  };
}

/** The schema QuantumLeap keeps its metadata table (`md_ets_metadata`) in. */
const QUANTUMLEAP_METADATA_SCHEMA = 'doc';
/** CrateDB's system tables, which QuantumLeap reads (sys.health, sys.nodes). */
const SYS_SCHEMA = 'sys';

/**
 * The users CrateDB must hold for a tenant list: QuantumLeap may read, write and define
 * tables in each configured tenant's schema (it creates it on first write) and in `doc` (its
 * metadata table), and read `sys`, but nothing cluster-wide (no snapshots, no repositories,
 * no schema of a tenant the platform does not have); the backup user may create and restore
 * snapshots (cluster DDL) and read `sys`; each tenant's reader may only read its own schema.
 * NOTE (3)
 */
export function crateUsersPlan(tenants: readonly Pick<Tenant, 'name'>[]): CrateUsersPlan {
  return {
    managedPrefix: READER_PREFIX,
    users: [
      {
        name: QUANTUMLEAP_DB_USER,
        passwordKey: CRATEDB_USERS_SECRET.quantumleapKey,
        privileges: [
          ...[...tenants.map(tenantSchema), QUANTUMLEAP_METADATA_SCHEMA].flatMap((schema) =>
            (['DQL', 'DML', 'DDL'] as const).map((type) =>
              schemaPrivilege(QUANTUMLEAP_DB_USER, schema, type),
            ),
          ),
          schemaPrivilege(QUANTUMLEAP_DB_USER, SYS_SCHEMA, 'DQL'),
        ],
      },
      {
        name: BACKUP_DB_USER,
        passwordKey: CRATEDB_USERS_SECRET.backupKey,
        privileges: [
          {
            class: 'CLUSTER',
            ident: null,
            type: 'DDL',
            grant: `GRANT DDL TO ${quoteIdent(BACKUP_DB_USER)}`,
          },
          schemaPrivilege(BACKUP_DB_USER, SYS_SCHEMA, 'DQL'),
        ],
      },
      ...tenants.map((t) => ({
        name: readerUser(t),
        passwordKey: crateDbReaderPasswordKey(t.name),
        privileges: [schemaPrivilege(readerUser(t), tenantSchema(t), 'DQL')],
      })),
    ],
  };
}

/** An env var holding a password of the `cratedb-users` Secret (created at bootstrap). */
export function crateDbPasswordEnv(name: string, key: string): k8s.EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: CRATEDB_USERS_SECRET.name, key } } };
}

/** Where the reconciler finds its plan, the passwords and its heartbeat. */
export const RECONCILER_PATHS = {
  plan: '/etc/cratedb-users/plan/plan.json',
  script: '/etc/cratedb-users/plan/reconcile.py',
  secrets: '/etc/cratedb-users/secrets',
  heartbeat: '/tmp/cratedb-users.heartbeat',
} as const;

/**
 * The reconciler: every 15 s it fingerprints the plan and the password files (both mounted
 * volumes, which the kubelet updates in place) and applies the plan when either changed, and
 * every 10 minutes regardless (drift). Applying is idempotent: it creates a missing user,
 * sets every planned user's password from its file (ALTER USER), grants the planned
 * privileges, revokes any other privilege of a planned user, and drops `reader_*` users the
 * plan no longer lists. A user whose password is not in the Secret yet (a tenant added before
 * `npm run bootstrap:secrets`) is skipped until its key appears, as is one whose password is
 * not 16-256 URL-safe characters (it would be spliced into SQL). Passwords never reach the log.
 * Standard library only, Python 3.6+ (the CrateDB image's, which crash runs on).
 */
export const RECONCILER_SCRIPT = String.raw`import hashlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

SQL_URL = os.environ.get('CRATE_SQL_URL', 'http://127.0.0.1:4200/_sql')
PLAN = os.environ.get('PLAN_FILE', '${RECONCILER_PATHS.plan}')
SECRETS = os.environ.get('SECRETS_DIR', '${RECONCILER_PATHS.secrets}')
HEARTBEAT = os.environ.get('HEARTBEAT_FILE', '${RECONCILER_PATHS.heartbeat}')
POLL = float(os.environ.get('POLL_SECONDS', '15'))
RESYNC = float(os.environ.get('RESYNC_SECONDS', '600'))
ONCE = os.environ.get('ONCE') == '1'
PASSWORD = re.compile(r'^[A-Za-z0-9_-]{16,256}$')


def log(level, msg, **fields):
    fields.update(level=level, msg=msg, logger='cratedb-users')
    print(json.dumps(fields, sort_keys=True), flush=True)


class SqlError(Exception):
    pass


def sql(stmt, args=None, shown=None):
    body = json.dumps({'stmt': stmt, 'args': args or []}).encode()
    req = urllib.request.Request(SQL_URL, data=body, headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        detail = e.read().decode('utf-8', 'replace')[:500]
        if shown:
            # CrateDB may quote the statement back; a statement with a password is not shown.
            detail = 'error code %s' % (re.findall(r'"code"\s*:\s*(\d+)', detail) or ['?'])[0]
        raise SqlError('%s: HTTP %s %s' % (shown or stmt, e.code, detail))


def ident(name):
    return '"' + name.replace('"', '""') + '"'


def password(key):
    path = os.path.join(SECRETS, key)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        value = f.read().strip()
    if not PASSWORD.match(value):
        raise ValueError('the password in %s is not 16-256 URL-safe characters' % key)
    return value


def revoke(cls, name, typ, user):
    on = '' if cls == 'CLUSTER' else ' ON %s %s' % (cls, '.'.join(ident(p) for p in name.split('.', 1)))
    return 'REVOKE %s%s FROM %s' % (typ, on, ident(user))


def apply(plan):
    existing = set(r[0] for r in sql('SELECT name FROM sys.users')['rows'])
    skipped = []
    for user in plan['users']:
        name = user['name']
        try:
            secret = password(user['passwordKey'])
        except ValueError as e:
            skipped.append(name)
            log('error', 'password refused; set a new one in the Secret', user=name, error=str(e))
            continue
        if secret is None:
            skipped.append(name)
            log('warn', 'no password yet; run npm run bootstrap:secrets', user=name, key=user['passwordKey'])
            continue
        verb = 'ALTER USER %s SET' if name in existing else 'CREATE USER %s WITH'
        sql((verb + " (password = '%s')") % (ident(name), secret), shown=(verb % ident(name)) + ' (password = ***)')
        if name not in existing:
            log('info', 'created user', user=name)
        wanted = set()
        for p in user['privileges']:
            sql(p['grant'])
            wanted.add((p['class'], p['ident'], p['type']))
        rows = sql('SELECT class, ident, type, state FROM sys.privileges WHERE grantee = ?', [name])['rows']
        for cls, name_, typ, state in rows:
            if state == 'GRANT' and (cls, name_, typ) in wanted:
                continue
            sql(revoke(cls, name_, typ, name))
            log('info', 'revoked an unplanned privilege', user=name, privilege=typ, on=cls, ident=name_, state=state)
    planned = set(u['name'] for u in plan['users'])
    for name in sorted(existing):
        if name.startswith(plan['managedPrefix']) and name not in planned:
            sql('DROP USER %s' % ident(name))
            log('info', 'dropped a user the plan no longer lists', user=name)
    return skipped


def fingerprint():
    h = hashlib.sha256()
    for path in [PLAN] + sorted(os.path.join(SECRETS, k) for k in os.listdir(SECRETS) if not k.startswith('.')):
        h.update(path.encode())
        with open(path, 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


def main():
    applied, last = None, 0.0
    while True:
        with open(HEARTBEAT, 'w') as f:
            f.write(str(time.time()))
        try:
            current = fingerprint()
            if current != applied or time.time() - last > RESYNC:
                with open(PLAN) as f:
                    plan = json.load(f)
                skipped = apply(plan)
                applied = current
                last = time.time()
                log('info', 'applied', users=len(plan['users']) - len(skipped), skipped=skipped)
                if ONCE:
                    return 0
        except (OSError, ValueError, SqlError) as e:
            log('error', 'not applied; retrying', error=str(e))
            if ONCE:
                return 1
        time.sleep(POLL)


if __name__ == '__main__':
    sys.exit(main())
`;

// NOTE
// 1. Why a reconciler in CrateDB's pod and not a Job. Host-based authentication lets the
//    superuser `crate` in from 127.0.0.1 and ::1 only (cratedb.ts, NOTE 2), so the only
//    process that can create users and grant privileges is one inside CrateDB's own network
//    namespace. A Job in a pod of its own would need a second administrator, reachable over
//    the network with a password and holding AL plus every privilege it grants (CrateDB lets
//    a user grant only what it holds itself) — a superuser in all but name. The reconciler
//    runs beside CrateDB instead, as the image's Python (the one crash runs on), and follows
//    changes without restarting CrateDB: the plan is a ConfigMap and the passwords a Secret,
//    both mounted as volumes (no subPath), which the kubelet refreshes in place. A new
//    tenant is a new plan entry plus a new Secret key (`npm run bootstrap:secrets`); the
//    reconciler applies it within a minute or two. Idempotence: CrateDB has no CREATE USER IF
//    NOT EXISTS (https://cratedb.com/docs/crate/reference/en/latest/sql/statements/create-user.html),
//    so the reconciler reads sys.users first and creates or alters; GRANT of a privilege the
//    user already has changes nothing; REVOKE only runs for what the plan does not list.
// 2. Grants on schemas that do not exist yet. QuantumLeap creates `mt<tenant>` on the
//    tenant's first write, so a new tenant's reader is granted DQL on a schema that is not
//    there. CrateDB allows it: "schemas are just namespaces that are created and dropped
//    implicitly. Therefore, when GRANT, DENY or REVOKE are invoked on a schema level, CrateDB
//    takes the schema name provided without further validation."
//    https://cratedb.com/docs/crate/reference/en/latest/admin/privileges.html
// 3. What each user may do. User management, privileges (GRANT DQL ON SCHEMA) and host-based
//    authentication are in CrateDB's community edition since 4.5.0, which relicensed them
//    under Apache 2.0 (https://cratedb.com/docs/crate/reference/en/latest/appendices/release-notes/4.5.0.html);
//    the pinned 6.2 line has them. DQL covers SELECT, SHOW, REFRESH and COPY TO; a reader has
//    it on its own schema and nothing else, so it can neither write a table nor see another
//    tenant's tables (information_schema lists only what a user may read). It is not quite
//    read-only: COPY TO writes files on the node, and up to 6.3.3 to any local directory
//    (crate/crate#19942, open), so a tenant's reader could fill CrateDB's volume and make
//    every tenant's tables read-only (the disk watermark); docs/known-gaps.md lists it. pg_roles
//    names every reader (so the tenant list) to any user. QuantumLeap gets DQL, DML and DDL
//    on each configured tenant's schema and on `doc` (its `md_ets_metadata`), and DQL on
//    `sys` (its health check reads sys.health, its version check sys.nodes; QuantumLeap's
//    src/translators/crate.py): CrateDB has no prefix grants (`mt*`), but it takes grants on
//    schemas that do not exist yet (NOTE 2), so nothing cluster-wide is needed (cluster DDL
//    would also allow snapshots and repositories). Never AL.
// 4. The backup user. CrateDB checks DDL on the cluster for CREATE/DROP REPOSITORY and
//    CREATE/DROP/RESTORE SNAPSHOT (AccessControlImpl in crate/crate), and the restore swaps
//    tables (ALTER CLUSTER SWAP TABLE: DDL on both tables); the job reads sys.snapshots and
//    sys.repositories (DQL on sys). It gets nothing else: no DQL or DML on the tenants'
//    schemas, so its password reads no time series over SQL, and never AL, so it cannot make
//    users. Cluster DDL does let it drop any table, which a restore needs; the mesh admits only
//    the backup job's identity to CrateDB's HTTP port with it (cdk8s/lib/backup.ts), and its
//    password is only in the cratedb-users Secret. A restore restores tables only, never
//    USERMANAGEMENT (that would need AL and would undo the reconciler's work).
