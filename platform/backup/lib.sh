# shellcheck shell=sh
# What the file-based backup scripts share (mongodb.sh, keycloak-postgres.sh): naming, listing,
# retention and the result line. Sourced, never run. POSIX sh: the images' /bin/sh is dash.
#
# Environment:
#   BACKUP_DIR     the backup volume's mount point
#   BACKUP_KEEP    how many backups to keep (after a successful backup, older ones are deleted)
#   BACKUP_RESULT  where the one-line JSON result goes; default /dev/termination-log, which the
#                  kubelet puts in the pod's status for `npm run platform -- backup` to read

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

die() {
  log "error: $*"
  exit 1
}

# A new backup's name: PREFIX, the UTC time, SUFFIX; names sort by time.
new_name() { printf '%s%s%s\n' "$PREFIX" "$(date -u +%Y%m%d-%H%M%S)" "$SUFFIX"; }

# The complete backups (never a .partial one), newest first.
backups() {
  for f in "$BACKUP_DIR/$PREFIX"*"$SUFFIX"; do
    [ -f "$f" ] || continue
    n=${f##*/}
    case "$n" in
      "$PREFIX"[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9][0-9][0-9]"$SUFFIX")
        printf '%s\n' "$n"
        ;;
    esac
  done | sort -r
}

# The names on standard input as a JSON array (names are [a-z0-9.-] only).
json_names() {
  sep=''
  printf '['
  while IFS= read -r n; do
    [ -n "$n" ] || continue
    printf '%s"%s"' "$sep" "$n"
    sep=','
  done
  printf ']'
}

# Deletes every complete backup but the newest BACKUP_KEEP; prints the deleted names.
prune() {
  backups | tail -n +"$((BACKUP_KEEP + 1))" | while IFS= read -r n; do
    rm -f "$BACKUP_DIR/$n"
    printf '%s\n' "$n"
  done
}

# The file a restore reads: NAME as given (it must be a complete backup), or the newest one
# for `latest`. Dies, listing what there is, when there is no such backup.
resolve() {
  if [ "$1" = latest ]; then
    n=$(backups | head -n 1)
    [ -n "$n" ] || die "there is no backup in $BACKUP_DIR yet; nothing was changed"
    printf '%s\n' "$n"
    return
  fi
  if backups | grep -qxF -- "$1"; then
    printf '%s\n' "$1"
    return
  fi
  die "there is no backup named '$1' in $BACKUP_DIR (there are: $(backups | tr '\n' ' ')); nothing was changed"
}

# A backup: `dump FILE` writes it, `verify FILE` reads it whole (both functions of the script),
# WHAT says what it is in the log. The file is written as .NAME.partial and renamed only once
# verified, so a half-written file is never a backup (a killed run's leftovers are removed
# first); older backups are pruned only after that.
backup_with() {
  what=$1
  name=$(new_name)
  [ ! -e "$BACKUP_DIR/$name" ] || die "$name exists already; run the backup again in a second"
  rm -f "$BACKUP_DIR"/.*.partial
  partial="$BACKUP_DIR/.$name.partial"
  log "backup: $what to $name"
  dump "$partial"
  verify "$partial"
  mv "$partial" "$BACKUP_DIR/$name"
  bytes=$(wc -c <"$BACKUP_DIR/$name" | tr -d ' ')
  removed=$(prune | json_names)
  log "backup: $name, $bytes bytes; kept the newest $BACKUP_KEEP"
  result "{\"target\":\"$TARGET\",\"action\":\"backup\",\"name\":\"$name\",\"bytes\":$bytes,\"kept\":$(backups | json_names),\"removed\":$removed}"
}

# Writes the result line where BACKUP_RESULT says, and to standard output.
result() {
  printf '%s\n' "$1" >"${BACKUP_RESULT:-/dev/termination-log}"
  printf '%s\n' "$1"
}

# Checks the environment every file-based backup script needs.
check_common() {
  [ -d "$BACKUP_DIR" ] || die "BACKUP_DIR $BACKUP_DIR is not a directory"
  case "$BACKUP_KEEP" in
    '' | *[!0-9]* | 0) die "BACKUP_KEEP must be a whole number of at least 1, got '$BACKUP_KEEP'" ;;
  esac
}

# `list`: every complete backup, newest first, as the result.
list() {
  result "{\"target\":\"$TARGET\",\"action\":\"list\",\"kept\":$(backups | json_names)}"
}
