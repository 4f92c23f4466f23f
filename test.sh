#!/usr/bin/env bash
# Runs all of narthex's tests on this machine. First it installs, with
# apt-get (as root, or through sudo), what the tests need and the machine
# lacks: the Nix client (nix-bin), the wrk load generator, the gzip, zstd
# and lzip compressors (Guix's NAR files), headless Chromium (the
# dashboard's page test), gdnsd and dig (bind9-dnsutils; the GeoDNS
# test), systemd-analyze (the deploy units' test, from systemd), psql (the
# relay test applies deploy/relay/relay.sql with it), ip (iproute2; the
# multi-host test's network namespaces), pebble (a test ACME CA, with
# pebble-challtestsrv as its DNS; the TLS tests) and a PostgreSQL 15, 16 or 17
# server, found where narthex finds it ($NARTHEX_PG_BIN, PATH,
# pg_config or /usr/lib/postgresql/<version>/bin). Then:
#   go vet ./...
#   go test -count=1 -timeout 20m ./... [arguments of this script]
# Arguments go to go test: ./test.sh -run TestDev ./cmd/narthex/ tests less.
set -euo pipefail
cd "$(dirname "$0")"

have_postgres() {
  local dir
  if [ -n "${NARTHEX_PG_BIN:-}" ]; then
    [ -x "$NARTHEX_PG_BIN/postgres" ] && [ -x "$NARTHEX_PG_BIN/initdb" ]
    return
  fi
  for dir in "$(dirname "$(command -v postgres 2>/dev/null || echo /nonexistent/x)")" \
             "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/{17,16,15}/bin; do
    [ -n "$dir" ] && [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ] && return 0
  done
  return 1
}

# The PostgreSQL server package of this release (as pgcluster.ServerPackage).
postgres_package() {
  local ID="" VERSION_ID=""
  [ -r /etc/os-release ] && . /etc/os-release
  case "$ID $VERSION_ID" in
    "debian 12") echo postgresql-15 ;;
    "debian 13") echo postgresql-17 ;;
    "ubuntu 24.04") echo postgresql-16 ;;
    *) echo postgresql ;;
  esac
}

need=()
command -v nix >/dev/null 2>&1 || need+=(nix-bin)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v pebble-challtestsrv >/dev/null 2>&1 || need+=(pebble)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v gdnsd >/dev/null 2>&1 || need+=(gdnsd)
command -v dig >/dev/null 2>&1 || need+=(bind9-dnsutils)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
for tool in gzip zstd lzip; do
  command -v $tool >/dev/null 2>&1 || need+=($tool)
done
have_postgres || need+=("$(postgres_package)")
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "test.sh: the tests need ${need[*]}; install them as root: apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "test.sh: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

go version
go vet ./...
go test -count=1 -timeout 20m ./... "$@"
