#!/bin/sh
# MongoDB: Orion's tenant databases and the IoT Agents' device registries. What the
# backup-mongodb CronJob runs (`backup`), and what `npm run platform -- restore mongodb` runs
# in a Job made from it (`restore`, `list`). docs/backup.md explains.
#
#   mongodb.sh backup | restore NAME|latest | list
#
# Environment (besides lib.sh's):
#   MONGODB_URI       mongodb://<user>@<host>:<port>/?authSource=admin, without the password
#   MONGODB_PASSWORD  the user's password; it reaches the tools in a file, never on a command line
set -eu
. "$(dirname "$0")/lib.sh"

TARGET=mongodb
PREFIX=mongodb-
SUFFIX=.archive.gz
check_common
[ -n "${MONGODB_URI:-}" ] || die 'MONGODB_URI is not set'
case "${MONGODB_PASSWORD:-}" in
  '' | *"'"* | *'
'*) die 'MONGODB_PASSWORD is empty or has a quote or a line break' ;;
esac

# The password goes to mongodump and mongorestore in a --config file only they can read.
umask 077
config=$(mktemp)
trap 'rm -f "$config"' EXIT
printf "password: '%s'\n" "$MONGODB_PASSWORD" >"$config"

dump() { mongodump --uri="$MONGODB_URI" --config="$config" --archive="$1" --gzip; }
verify() { gzip -t "$1" || die "mongodump wrote a damaged archive"; }
backup() { backup_with 'mongodump of every database'; }

restore() {
  name=$(resolve "$1")
  file="$BACKUP_DIR/$name"
  # Read the whole archive before anything is dropped: a damaged file changes nothing.
  gzip -t "$file" 2>/dev/null || die "$name is damaged (not a complete gzip archive); nothing was changed"
  mongorestore --uri="$MONGODB_URI" --config="$config" --archive="$file" --gzip --dryRun \
    --nsExclude='admin.*' --nsExclude='config.*' ||
    die "mongorestore cannot read $name; nothing was changed"
  log "restore: replacing every collection $name holds (users and roles excepted)"
  # NOTE (1)
  mongorestore --uri="$MONGODB_URI" --config="$config" --archive="$file" --gzip --drop \
    --stopOnError --nsExclude='admin.*' --nsExclude='config.*'
  result "{\"target\":\"$TARGET\",\"action\":\"restore\",\"name\":\"$name\"}"
}

case "${1:-}" in
  backup) backup ;;
  restore) restore "${2:?restore needs a backup name or latest}" ;;
  list) list ;;
  *) die "usage: $0 backup | restore NAME|latest | list" ;;
esac

# NOTE
# 1. Users are not restored. admin.* holds the users and roles, whose passwords the
#    mongodb-credentials Secret decides (the first start creates them from it); restoring an
#    older admin.system.users would bring back older passwords and lock Orion and the agents
#    out. --drop replaces each collection the archive holds; a collection created after the
#    backup is kept.
