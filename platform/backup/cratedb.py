"""CrateDB: QuantumLeap's time series, as snapshots in an fs repository on the cratedb-backup
volume. What the backup-cratedb CronJob runs (`backup`), and what `npm run platform -- restore
cratedb` runs in a Job made from it (`restore`, `list`). docs/backup.md explains.

    python3 cratedb.py backup | restore NAME|latest | list

Environment:
  CRATE_URL              CrateDB's HTTP endpoint, e.g. http://cratedb.fiware.svc.cluster.local:4200
  CRATE_USER, CRATE_PASSWORD
                         the backup user (DDL on the cluster, DQL on sys; cratedb-users.ts)
  CRATE_REPOSITORY       the repository's name
  CRATE_REPOSITORY_PATH  its location: CrateDB's path.repo, where the backup volume is mounted
  BACKUP_KEEP            how many successful snapshots to keep
  BACKUP_RESULT          where the one-line JSON result goes (default /dev/termination-log)

Standard library only, Python 3.6+ (the CrateDB image's). Error codes are CrateDB's documented
HTTP error codes (https://cratedb.com/docs/crate/reference/en/latest/interfaces/http.html).
"""
import base64
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

PREFIX = 'cratedb-'
NAME = re.compile(r'^cratedb-[0-9]{8}-[0-9]{6}$')
# Restored tables land under this prefix first, beside the live ones. NOTE (1)
STAGING = 'restoring_'
UNKNOWN_RELATION = 4041
REPOSITORY_EXISTS = 4095


class Failure(Exception):
    pass


class SqlError(Exception):
    def __init__(self, stmt, status, code, message):
        Exception.__init__(self, '%s: HTTP %s, error %s: %s' % (stmt, status, code, message))
        self.code = code


def env(name):
    value = os.environ.get(name, '')
    if not value:
        raise Failure('%s is not set' % name)
    return value


def log(msg):
    sys.stderr.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), msg))
    sys.stderr.flush()


def sql(stmt, args=None):
    body = json.dumps({'stmt': stmt, 'args': args or []}).encode()
    auth = base64.b64encode(('%s:%s' % (env('CRATE_USER'), env('CRATE_PASSWORD'))).encode()).decode()
    req = urllib.request.Request(
        env('CRATE_URL').rstrip('/') + '/_sql',
        data=body,
        headers={'Content-Type': 'application/json', 'Authorization': 'Basic ' + auth},
    )
    try:
        with urllib.request.urlopen(req, timeout=3600) as r:
            return json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        text = e.read().decode('utf-8', 'replace')
        try:
            err = json.loads(text)['error']
            code, message = err.get('code'), err.get('message')
        except (ValueError, KeyError, TypeError):
            code, message = None, text[:300]
        raise SqlError(stmt, e.code, code, message)


def ident(name):
    return '"' + name.replace('"', '""') + '"'


def table(fqn, prefix=''):
    schema, name = fqn.split('.', 1)
    return '%s.%s' % (ident(schema), ident(prefix + name))


def snapshots():
    """Our snapshots in the repository, newest first: name, state, tables."""
    rows = sql(
        'SELECT name, state, tables FROM sys.snapshots WHERE repository = ?',
        [env('CRATE_REPOSITORY')],
    )['rows']
    ours = [{'name': r[0], 'state': r[1], 'tables': r[2] or []} for r in rows if NAME.match(r[0])]
    return sorted(ours, key=lambda s: s['name'], reverse=True)


def successful():
    return [s['name'] for s in snapshots() if s['state'] == 'SUCCESS']


def snapshot_ident(name):
    return '%s.%s' % (ident(env('CRATE_REPOSITORY')), ident(name))


def ensure_repository():
    repo, path = env('CRATE_REPOSITORY'), env('CRATE_REPOSITORY_PATH')
    if "'" in path:
        raise Failure('CRATE_REPOSITORY_PATH must not contain a quote')
    try:
        sql("CREATE REPOSITORY %s TYPE fs WITH (location = '%s', compress = true)" % (ident(repo), path))
        log('backup: created repository %s at %s' % (repo, path))
    except SqlError as e:
        if e.code != REPOSITORY_EXISTS:
            raise
    rows = sql('SELECT type, settings FROM sys.repositories WHERE name = ?', [repo])['rows']
    if not rows or rows[0][0] != 'fs' or (rows[0][1] or {}).get('location') != path:
        raise Failure(
            'repository %s is not the fs repository at %s (%s); drop it (DROP REPOSITORY keeps the files) and run again'
            % (repo, path, rows and rows[0])
        )


def keep():
    value = env('BACKUP_KEEP')
    if not value.isdigit() or int(value) < 1:
        raise Failure("BACKUP_KEEP must be a whole number of at least 1, got '%s'" % value)
    return int(value)


def result(doc):
    line = json.dumps(doc, sort_keys=True, separators=(',', ':'))
    with open(os.environ.get('BACKUP_RESULT') or '/dev/termination-log', 'w') as f:
        f.write(line + '\n')
    print(line, flush=True)


def backup():
    n = keep()
    ensure_repository()
    name = PREFIX + time.strftime('%Y%m%d-%H%M%S', time.gmtime())
    if name in [s['name'] for s in snapshots()]:
        raise Failure('%s exists already; run the backup again in a second' % name)
    log('backup: snapshot %s of every table' % name)
    sql('CREATE SNAPSHOT %s ALL WITH (wait_for_completion = true)' % snapshot_ident(name))
    mine = [s for s in snapshots() if s['name'] == name]
    state = mine[0]['state'] if mine else 'MISSING'
    if state != 'SUCCESS':
        # PARTIAL: some primary shards were unavailable; only SUCCESS holds every shard.
        raise Failure('snapshot %s ended %s, not SUCCESS; the older snapshots are kept' % (name, state))
    kept = successful()[:n]
    removed = []
    for s in snapshots():
        if s['name'] not in kept and s['state'] != 'IN_PROGRESS':
            sql('DROP SNAPSHOT %s' % snapshot_ident(s['name']))
            removed.append(s['name'])
    log('backup: %s, %d tables; kept the newest %d' % (name, len(mine[0]['tables']), n))
    result({'target': 'cratedb', 'action': 'backup', 'name': name, 'tables': len(mine[0]['tables']),
            'kept': kept, 'removed': removed})


def restore(wanted):
    snaps = snapshots()
    ok = [s for s in snaps if s['state'] == 'SUCCESS']
    if wanted == 'latest':
        if not ok:
            raise Failure('there is no successful snapshot in repository %s yet; nothing was changed'
                          % env('CRATE_REPOSITORY'))
        snap = ok[0]
    else:
        hits = [s for s in ok if s['name'] == wanted]
        if not hits:
            raise Failure("there is no successful snapshot named '%s' (there are: %s); nothing was changed"
                          % (wanted, ' '.join(s['name'] for s in ok) or 'none'))
        snap = hits[0]
    tables = sorted(snap['tables'])
    if not tables:
        result({'target': 'cratedb', 'action': 'restore', 'name': snap['name'], 'tables': []})
        return
    for t in tables:
        sql('DROP TABLE IF EXISTS %s' % table(t, STAGING))
    log('restore: restoring %d tables of %s beside the live ones' % (len(tables), snap['name']))
    try:
        sql("RESTORE SNAPSHOT %s TABLE %s WITH (wait_for_completion = true, table_rename_pattern = '(.+)', "
            "table_rename_replacement = '%s$1')" % (snapshot_ident(snap['name']), ', '.join(table(t) for t in tables), STAGING))
    except SqlError:
        for t in tables:
            sql('DROP TABLE IF EXISTS %s' % table(t, STAGING))
        raise
    log('restore: swapping the restored tables in')
    for t in tables:
        try:
            sql('ALTER CLUSTER SWAP TABLE %s TO %s WITH (drop_source = true)' % (table(t, STAGING), table(t)))
        except SqlError as e:
            if e.code != UNKNOWN_RELATION:
                raise
            # The table was dropped since the snapshot: the restored one takes its name.
            sql('ALTER TABLE %s RENAME TO %s' % (table(t, STAGING), table(t)))
    result({'target': 'cratedb', 'action': 'restore', 'name': snap['name'], 'tables': tables})


def main(argv):
    mode = argv[1] if len(argv) > 1 else ''
    try:
        if mode == 'backup':
            backup()
        elif mode == 'restore' and len(argv) > 2:
            restore(argv[2])
        elif mode == 'list':
            result({'target': 'cratedb', 'action': 'list', 'kept': successful()})
        else:
            raise Failure('usage: cratedb.py backup | restore NAME|latest | list')
    except (Failure, SqlError, urllib.error.URLError, OSError) as e:
        log('error: %s' % e)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

# NOTE
# 1. Restore beside, then swap. RESTORE SNAPSHOT refuses a table that exists, and dropping the
#    live tables first would lose them if the restore then failed. The snapshot's tables are
#    restored under restoring_<name> in their schemas, and only once all of them are there is
#    each swapped for its live table (ALTER CLUSTER SWAP TABLE ... WITH (drop_source = true), one
#    atomic cluster-state change per table). A failed restore drops the staged tables and leaves
#    the live ones as they were. Tables created after the snapshot are kept. Metadata, users and
#    privileges are not restored (TABLE, not ALL): the users' reconciler owns them.
#    See https://cratedb.com/docs/crate/reference/en/latest/sql/statements/restore-snapshot.html
#    and .../alter-cluster.html (SWAP TABLE).
