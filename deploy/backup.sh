#!/usr/bin/env bash
# A backup of the Stagepact database, evidence files included (they are in it):
#   deploy/backup.sh [folder]     (default /var/backups/stagepact)
# Reads DATABASE_URL from the environment, as the app does (`set -a; .
# /etc/stagepact/stagepact.env; set +a` first). Writes stagepact-<UTC time>.dump in
# pg_dump's custom format, readable by its owner only, and prints its path.
# The dump holds only ciphertext of personal data: restoring it needs ENCRYPTION_KEYS
# and RECEIPT_PEPPER, which are backed up apart from it (docs/operations.md).
set -euo pipefail
umask 077

folder="${1:-/var/backups/stagepact}"
: "${DATABASE_URL:?DATABASE_URL is not set}"
# SQLAlchemy's driver name is no part of what libpq reads.
url="${DATABASE_URL/postgresql+psycopg:/postgresql:}"
case "$url" in
  postgresql://*) ;;
  *) echo "backup.sh: DATABASE_URL is not a PostgreSQL URL" >&2; exit 1 ;;
esac

mkdir -p "$folder"
target="$folder/stagepact-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-owner --no-privileges --file="$target.partial" "$url"
mv "$target.partial" "$target"
echo "$target"
