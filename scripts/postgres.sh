#!/usr/bin/env bash
# Make the PostgreSQL server binaries (initdb, pg_ctl, postgres) available, from Debian packages.
#
#   bash scripts/postgres.sh
#
# The storage tests (tests/store) start their own private cluster on loopback in a temporary folder
# with these binaries, so nothing is configured or started here: when /usr/lib/postgresql/*/bin/initdb
# already exists this does nothing. Otherwise, as root with apt-get, it installs the 'postgresql'
# package without creating or starting Debian's default cluster (no server left listening on 5432).
# Exit status 0 when the binaries are there afterwards, 1 when they are not (the tests then skip).
set -uo pipefail

found() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

warn() {
  echo "" >&2
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "!!! WARNING: PostgreSQL is NOT available: $*" >&2
  echo "!!! The PostgreSQL storage tests (tests/store) will SKIP; only the DuckDB backend is tested." >&2
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "" >&2
}

if dir=$(found); then
  echo "postgres.sh: PostgreSQL server binaries found in $dir"
  exit 0
fi

if [ "$(id -u)" != "0" ]; then
  warn "initdb not found under /usr/lib/postgresql/*/bin and not root, so cannot apt-get install postgresql (run this as root, or: sudo apt-get install postgresql)"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  warn "initdb not found and apt-get is not available on this machine"
  exit 1
fi

# Do not let the package create (and try to start) a default cluster: the tests make their own.
mkdir -p /etc/postgresql-common
if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
  echo "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf
fi

echo "postgres.sh: installing PostgreSQL from Debian packages (apt-get install postgresql)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq; then
  warn "apt-get update failed"
  exit 1
fi
if ! apt-get install -y -qq --no-install-recommends postgresql >/tmp/shelfwise-postgres-install.log 2>&1; then
  tail -20 /tmp/shelfwise-postgres-install.log >&2
  warn "apt-get install postgresql failed (log: /tmp/shelfwise-postgres-install.log)"
  exit 1
fi
if dir=$(found); then
  echo "postgres.sh: PostgreSQL server binaries installed in $dir"
  if ! id postgres >/dev/null 2>&1; then
    warn "the package did not create the 'postgres' user, which the tests need to run initdb as (initdb refuses root)"
    exit 1
  fi
  exit 0
fi
warn "apt-get install postgresql finished but no initdb under /usr/lib/postgresql/*/bin"
exit 1
