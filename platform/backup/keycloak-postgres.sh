#!/bin/sh
# Keycloak's PostgreSQL: realms, users, clients, sessions. What the backup-keycloak-postgres
# CronJob runs (`backup`), and what `npm run platform -- restore keycloak-postgres` runs in a
# Job made from it (`restore`, `list`). docs/backup.md explains.
#
#   keycloak-postgres.sh backup | restore NAME|latest | list
#
# Environment (besides lib.sh's): libpq's PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSWORD.
set -eu
. "$(dirname "$0")/lib.sh"

TARGET=keycloak-postgres
PREFIX=keycloak-
SUFFIX=.dump
check_common
for v in PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD; do
  eval "[ -n \"\${$v:-}\" ]" || die "$v is not set"
done

dump() { pg_dump --format=custom --no-password --file="$1"; }
verify() { pg_restore --list "$1" >/dev/null || die "pg_dump wrote an unreadable archive"; }
backup() { backup_with "pg_dump of database $PGDATABASE"; }

restore() {
  name=$(resolve "$1")
  file="$BACKUP_DIR/$name"
  pg_restore --list "$file" >/dev/null 2>&1 ||
    die "$name is damaged (pg_restore cannot read its table of contents); nothing was changed"
  log "restore: replacing every object $name holds in database $PGDATABASE, in one transaction"
  # NOTE (1)
  pg_restore --clean --if-exists --single-transaction --exit-on-error --no-password \
    --dbname="$PGDATABASE" "$file" ||
    die "pg_restore failed; the transaction was rolled back and the database is as it was"
  result "{\"target\":\"$TARGET\",\"action\":\"restore\",\"name\":\"$name\"}"
}

case "${1:-}" in
  backup) backup ;;
  restore) restore "${2:?restore needs a backup name or latest}" ;;
  list) list ;;
  *) die "usage: $0 backup | restore NAME|latest | list" ;;
esac

# NOTE
# 1. All or nothing. --single-transaction wraps the drops (--clean --if-exists) and the
#    creates in one transaction, so a restore that fails halfway (a damaged data section the
#    table of contents did not reveal, a lock it cannot get) rolls back to the database as it
#    was. Objects created after the backup and absent from it are kept.
#    See https://www.postgresql.org/docs/current/app-pgrestore.html
