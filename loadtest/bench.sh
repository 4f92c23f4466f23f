#!/usr/bin/env bash
# bench.sh: the side-by-side benchmark of narthex and its peers on this
# machine, written to BENCHMARKS.md.
#
#   bash loadtest/bench.sh [--quick] [--lookups-only | --stores-only | --dashboard-only | --gc-only | --https-only] [--out FILE] [--keep-tmp]
#
# One run, on loopback only, in a temporary folder removed at the end:
#
#   1. lookups: a separate `narthex edge` process vs nginx serving the same
#      narinfos as static files vs the bare fasthttp ceilings (hit and miss),
#      on a cache of 100,000 paths: a hot set of 3,000 keys and the uniform
#      set of all of them; hits, misses and mixed; 64 connections closed
#      loop with two load generators (`narthex loadtest lookup` and wrk),
#      the server's CPU time per answer beside throughput; 1 connection
#      (latency); then an open loop at half of each server's maximum (hits,
#      misses) for p99 under load, with cyclictest beside it measuring the
#      machine's own wakeup latency. Three more edges, following the same
#      origin, take part in every closed loop: one with `--http-engine
#      evloop`, one with `--http-engine fasthttp`, and one on the default
#      engine with GOMAXPROCS=1. Then replication lag while lookups run:
#      on each of the four edges in turn, `loadtest lag` at 500 commits/s
#      for 5 s watching it while an open loop of mixed lookups runs on it,
#      at one rate for all four (a quarter of the lowest of their closed-loop
#      mixed maxima); and once the lag alone on the default edge.
#      --lookups-only stops after this part and keeps the other sections
#      of the report from the file it replaces.
#   2. bootstrap of 1,000,000 narinfos (100,000 with --quick): a fresh edge
#      (`loadtest bootstrap`) vs a native PostgreSQL subscriber's initial
#      table copy (CREATE SUBSCRIPTION ... WITH (copy_data = true)).
#   3. replication lag at 1,000 and 500 commits/s: an edge vs that native
#      subscriber, watching the same commits (`loadtest lag`).
#   4. edge memory: RSS of the edges above, and of the 1,000,000-path edge
#      after lookups over all its keys.
#   5. ingest with the real Nix client: `nix copy --to http://<origin>` vs
#      `nix copy --to file://<dir>` for the same closure of 100 paths, tiny
#      and with 64 KiB payloads; the tiny one also to a sink that costs
#      nothing (the client's own floor).
#   6. soak (`loadtest soak`, 10 minutes; 90 s with --quick): mixed lookups
#      at 80% of an edge's maximum while 500 transactions/s replicate and a
#      second edge is SIGKILLed and restarted every minute (every 30 s with
#      --quick); no failed lookup, no lost or torn transaction, flat memory.
#   7. profiles: CPU and allocations of the lookup edge under hits and
#      misses, and the lookup handler in process (go test -bench ./edge).
#   8. stores (loadtest/bench/stores.sh), on an origin of their own: NAR
#      redirects of an edge ranking two stores by GeoIP (a client placed in
#      Frankfurt: `loadtest lookup --nar` connecting from 127.1.0.1, wrk
#      through X-Forwarded-For) vs the redirect ceiling, 64 connections
#      with both generators, and the redirect handler in process; then a
#      backfill into S3 (versitygw, posix backend) of 10,000 payloads of
#      1-64 KiB and of 16 of 64 MiB (2,000 and 4 with --quick) by
#      `narthex stores maintain --once --jobs 8` vs `rclone copy
#      --transfers 8` into another bucket of the same server.
#      Then the import of a synthetic file:// cache of 10,000 paths (2,000
#      with --quick) by `narthex import` vs `nix copy --from file://`
#      into the same origin.
#      --stores-only makes only this section and keeps sections 1 to 7
#      and their targets from the file it replaces.
#   9. dashboard (loadtest/bench/dashboard.sh): the queries behind the
#      dashboard's panels on a year of fetch counts for 1,000,000 paths,
#      10 edges and 50 countries (`narthex loadtest dashboard`, in a
#      database of its own on a third `narthex dev`), each timed 9 times
#      after a first run; about 15 minutes, --quick or not.
#      --dashboard-only makes only this section and keeps the others.
#  10. garbage collection (loadtest/bench/gc.sh): a graph of 1,000,000
#      store paths (100,000 with --quick), 5 references each on average,
#      half of it garbage (`narthex loadtest gc`, in a database of its own
#      on a fourth `narthex dev`), the ways to mark it timed 3 times each;
#      then `narthex gc` collects it while uploads go to a `narthex origin`
#      and lookups to a `narthex edge` on that database, after a baseline
#      of the same load (`narthex loadtest gcrun`). About 30 minutes.
#      --gc-only makes only this section and keeps the others.
#  11. HTTPS lookups (loadtest/bench/https.sh): an edge's --https-listen
#      vs the ceilings serving HTTPS, hits and misses of the hot set,
#      64 kept-alive connections, both generators, then a full TLS
#      handshake per request (lookup --new-connections); about 3 minutes.
#      Only with --https-only, which makes only this section and keeps
#      the others.
#
# Every cell is repeated 3 times (1 with --quick, but the lookups: 3 runs
# of 2 s) and reported as the median; the soak runs once. The script only
# orchestrates: it starts and stops the programs (narthex, nginx,
# PostgreSQL, Nix) and keeps their --json in a results folder, from which
# `narthex loadtest report` writes BENCHMARKS.md: every figure, median,
# ratio and verdict is the report's.
#
# Needs root (apt-get, and PostgreSQL runs as the postgres user). Installs
# nginx, wrk, nix-bin, postgresql-15, jq, curl, iproute2 (ss), rt-tests
# (cyclictest) and rclone when missing. Each load command
# is bounded in time by its own flags; waits in this script are bounded too.

set -Eeuo pipefail

usage() {
	sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
}

QUICK=0
LOOKUPS_ONLY=0
STORES_ONLY=0
DASHBOARD_ONLY=0
GC_ONLY=0
HTTPS_ONLY=0
KEEP_TMP=0
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$REPO/BENCHMARKS.md
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--lookups-only) LOOKUPS_ONLY=1 ;;
	--stores-only) STORES_ONLY=1 ;;
	--dashboard-only) DASHBOARD_ONLY=1 ;;
	--gc-only) GC_ONLY=1 ;;
	--https-only) HTTPS_ONLY=1 ;;
	--keep-tmp) KEEP_TMP=1 ;;
	--out) OUT=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[ $((LOOKUPS_ONLY + STORES_ONLY + DASHBOARD_ONLY + GC_ONLY + HTTPS_ONLY)) -gt 1 ] && { echo "bench.sh: --lookups-only, --stores-only, --dashboard-only, --gc-only and --https-only exclude each other" >&2; exit 2; }

# Every narthex flag defaults from NARTHEX_<FLAG>: none may leak in. Nor
# may GOMAXPROCS: the report says the edges but one run Go code on every
# core.
for v in $(compgen -e); do
	case $v in NARTHEX_* | GOMAXPROCS) unset "$v" ;; esac
done

# ---------------------------------------------------------------- settings

LOOKUP_KEYS=100000 # paths of the lookup cache (seed 1): the uniform set
HOT_KEYS=3000      # the hot set: its first paths, fewer than any cache holds
INGEST_PATHS=100   # closure size for nix copy
INGEST_SIZE=65536  # bytes per path of the closure with payloads
LAG_RATES="1000 500"
# Replication lag while lookups run (section 1): commits/s and schedule of
# each lag run, how long its lookups run, and how far ahead they start.
LAG_LOOKUPS_RATE=500
LAG_LOOKUPS_DUR=5s
LAG_LOOKUPS_LOOKUP_DUR=6s
LAG_LOOKUPS_HEAD=0.5
# Section 8: NAR files the redirect edge holds, and the backfills' jobs
# (maintain's --jobs, rclone's --transfers and --checkers).
REDIRECT_KEYS=10000
BF_JOBS=8
BF_LARGE_SIZE=64MiB
IMPORT_SIZE=1KiB
# Section 10: the paths of the graph, and how long the load runs alone
# before the collection.
GC_BASELINE=60s
if [ $QUICK = 1 ]; then
	GC_PATHS=100000
else
	GC_PATHS=1000000
fi
if [ $QUICK = 1 ]; then
	BF_SMALL=2000
	BF_LARGE=4
	IMPORT_PATHS=2000
else
	BF_SMALL=10000
	BF_LARGE=16
	IMPORT_PATHS=10000
fi
if [ $QUICK = 1 ]; then
	REPS=1
	LOOKUP_REPS=3
	LOOKUP_DUR=2s
	WARM_DUR=1s
	BOOT_PATHS=100000
	LAG_DUR=5s
	BIG_DUR=2s
	SOAK_DUR=90s
	SOAK_KILL=30s
else
	REPS=3
	LOOKUP_REPS=3
	LOOKUP_DUR=5s
	WARM_DUR=2s
	BOOT_PATHS=1000000
	LAG_DUR=10s
	BIG_DUR=10s
	SOAK_DUR=10m
	SOAK_KILL=1m
fi
PGBIN=/usr/lib/postgresql/15/bin
RSS_TARGET=$((256 << 20)) # 256 MB, taken as MiB

# ---------------------------------------------------------------- helpers

START_NS=$(date +%s%N)
log() {
	local s=$((($(date +%s%N) - START_NS) / 1000000000))
	printf '[%02d:%02d] %s\n' $((s / 60)) $((s % 60)) "$*" >&2
}
die() {
	log "FAILED: $*"
	exit 1
}

# Prerequisites, installed with apt-get when missing.
APT_UPDATED=0
apt_install() {
	[ "$(id -u)" = 0 ] || die "$* missing and not root: apt-get install $*"
	if [ $APT_UPDATED = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
		APT_UPDATED=1
	fi
	log "installing $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
command -v jq >/dev/null || apt_install jq
command -v curl >/dev/null || apt_install curl
command -v ss >/dev/null || apt_install iproute2
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx
command -v wrk >/dev/null || apt_install wrk
command -v prlimit >/dev/null || apt_install util-linux
command -v cyclictest >/dev/null || apt_install rt-tests
command -v nix >/dev/null || apt_install nix-bin
command -v rclone >/dev/null || apt_install rclone
[ -x $PGBIN/postgres ] || apt_install postgresql-15
command -v psql >/dev/null || apt_install postgresql-client-15
command -v go >/dev/null || die "go is missing (Go 1.26 is required)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1 && die "running as root needs the postgres system user"

# as_pg runs a PostgreSQL server binary as the postgres user when we are root.
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# free_port VAR: sets VAR to a TCP port nothing listens on just now and not
# handed out before in this run (so not in a subshell). The port lies below
# the kernel's range of ephemeral ports: a port of that range, free now, may
# be taken by an outgoing connection before its server binds it.
USED_PORTS=" "
EPHEMERAL_LO=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$EPHEMERAL_LO" -gt 21000 ] || die "the ephemeral port range starts at $EPHEMERAL_LO: no room below it"
free_port() {
	local p listening
	listening=$(ss -Htln | awk '{print $4}' | sed 's/.*://' | sort -u)
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % (EPHEMERAL_LO - 20000)))
		if ! grep -qx "$p" <<<"$listening" && [[ $USED_PORTS != *" $p "* ]]; then
			USED_PORTS+="$p "
			printf -v "$1" '%s' "$p"
			return
		fi
	done
	die "no free port found"
}

T=$(mktemp -d /tmp/narthex-bench.XXXXXX)
chmod 755 "$T" # nginx workers (nobody) and PostgreSQL (postgres) pass through it
LOGS=$T/logs
RES=$T/results
mkdir -p "$LOGS" "$RES"
: >"$RES/commands.txt"

# Background processes of this run, by name.
declare -A PIDS=()
SUB_STARTED=0

# start_bg NAME CMD...: runs CMD in the background, output in $LOGS/NAME.log.
start_bg() {
	local name=$1
	shift
	"$@" >"$LOGS/$name.log" 2>&1 &
	PIDS[$name]=$!
}

# stop_bg NAME: SIGTERM, then SIGKILL after 30 s.
stop_bg() {
	local name=$1 pid=${PIDS[$1]:-}
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name did not stop within 30 s of SIGTERM; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	unset "PIDS[$name]"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	for name in ceiling ceiling_miss nginx edge_lookup edge_fasthttp edge_evloop edge_procs1 edge_lag; do
		stop_bg "$name"
	done
	if [ $SUB_STARTED = 1 ]; then
		as_pg $PGBIN/pg_ctl -D "$T/sub/data" stop -m fast -w -t 60 >>"$LOGS/subscriber-ctl.log" 2>&1
	fi
	for name in "${!PIDS[@]}"; do
		stop_bg "$name"
	done
	if [ $rc != 0 ]; then
		log "exit status $rc; last lines of the logs:"
		for f in "$LOGS"/*.log; do
			[ -s "$f" ] || continue
			echo "--- $f" >&2
			tail -n 8 "$f" >&2
		done
	fi
	if [ $KEEP_TMP = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shq ARG...: the arguments as a shell would need them, double-quoted only
# when they must be (so that $T, substituted afterwards, still expands).
shq() {
	local a out=()
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
			out+=("$a")
		else
			a=${a//\\/\\\\}
			a=${a//\"/\\\"}
			a=${a//\$/\\\$}
			a=${a//\`/\\\`}
			out+=("\"$a\"")
		fi
	done
	echo "${out[*]}"
}
# record ID CMD...: remembers the command for the report, with the
# temporary folder written as $T.
record() {
	local id=$1
	shift
	record_raw "$id" "$(shq "$@")"
}
# record_raw ID LINE: remembers LINE as it is, but for $T.
record_raw() {
	printf '%s\t%s\n' "$1" "$2" | sed "s|$T|\$T|g" >>"$RES/commands.txt"
}
cmd_of() { awk -F'\t' -v id="$1" '$1 == id {print $2; exit}' "$RES/commands.txt"; }

# run ID CMD...: runs a foreground command, stdout in $RES/ID.json, stderr
# in $LOGS/ID.log, and records it.
run() {
	local id=$1
	shift
	record "$id" "$@"
	if ! "$@" >"$RES/$id.json" 2>"$LOGS/$id.log"; then
		tail -n 20 "$LOGS/$id.log" >&2
		die "$id: $(shq "$@" | sed "s|$T|\$T|g")"
	fi
}

# wait_http URL SECONDS [NAME]: waits for a 200.
wait_http() {
	local url=$1 secs=$2 name=${3:-}
	local n=$((secs * 20))
	for _ in $(seq "$n"); do
		if [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url")" = 200 ]; then
			return 0
		fi
		if [ -n "$name" ] && ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
			tail -n 20 "$LOGS/$name.log" >&2
			die "$name exited"
		fi
		sleep 0.05
	done
	die "$url did not answer 200 within $secs s"
}

# start_dev NAME DIR PORT PG_PORT: starts `narthex dev` (PostgreSQL and an
# origin, no edge) on DIR in the background as NAME, recorded as
# setup-NAME (with - for _), and waits until it is ready.
start_dev() {
	local name=$1 dir=$2 port=$3 pg=$4
	record "setup-${name//_/-}" "$BIN" dev --dir "$dir" --port "$port" --edges 0 --postgres-port "$pg"
	start_bg "$name" "$BIN" dev --dir "$dir" --port "$port" --edges 0 --postgres-port "$pg"
	for _ in $(seq 1200); do
		grep -qx ready "$LOGS/$name.log" 2>/dev/null && break
		kill -0 "${PIDS[$name]}" 2>/dev/null || die "narthex dev exited: $(tail -n 5 "$LOGS/$name.log")"
		sleep 0.1
	done
	grep -qx ready "$LOGS/$name.log" || die "narthex dev not ready after 120 s"
}

# mem EDGE STAGE PID: one line of memory.jsonl, the VmRSS and VmHWM of PID
# in bytes, as /proc/PID/status has them.
mem() {
	awk -v edge="$1" -v stage="$2" '/^VmRSS:/ {r = $2 * 1024} /^VmHWM:/ {h = $2 * 1024}
		END {printf "{\"edge\":\"%s\",\"stage\":\"%s\",\"rss_bytes\":%d,\"hwm_bytes\":%d}\n", edge, stage, r, h}' \
		"/proc/$3/status" >>"$RES/memory.jsonl"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOADS=()
note_load() { LOADS+=("$1: $(loadavg)"); }

# write_report: the facts of the run into facts.json, then
# `narthex loadtest report` writes $OUT from the results folder, keeping
# the sections of the file it replaces that this run did not make.
write_report() {
	local runtime=$((($(date +%s%N) - START_NS) / 1000000000)) loads
	log "writing $OUT"
	loads=$(printf '%s\n' "${LOADS[@]}" | jq -R . | jq -s .)
	jq -n --arg command "bash loadtest/bench.sh$([ $QUICK = 1 ] && echo " --quick")$([ $LOOKUPS_ONLY = 1 ] && echo " --lookups-only")$([ $STORES_ONLY = 1 ] && echo " --stores-only")$([ $DASHBOARD_ONLY = 1 ] && echo " --dashboard-only")$([ $GC_ONLY = 1 ] && echo " --gc-only")$([ $HTTPS_ONLY = 1 ] && echo " --https-only")" \
		--arg date "$FACT_DATE" --argjson nproc "$FACT_NPROC" --arg cpu "$FACT_CPU" --argjson memory_kib "$FACT_MEM_KIB" \
		--arg os "$FACT_OS" --arg kernel "$FACT_KERNEL" --arg go "$FACT_GO" --arg nginx "$FACT_NGINX" \
		--arg pg "$FACT_PG" --arg nix "$FACT_NIX" --arg commit "$FACT_GIT" --argjson dirty "$FACT_DIRTY" \
		--argjson runtime "$runtime" --argjson loads "$loads" --argjson reps "$LOOKUP_REPS" --arg duration "$LOOKUP_DUR" \
		--argjson nofile "$NGINX_NOFILE" --argjson cachemax "$NGINX_CACHE_MAX" --argjson hot "$HOT_KEYS" --argjson uniform "$LOOKUP_KEYS" \
		--arg edge_engine "$EDGE_ENGINE" --arg edge_engine_fallback "$EDGE_ENGINE_FALLBACK" --argjson edges "$(edges_json)" \
		--arg ll_lag "$LAG_LOOKUPS_DUR" --arg ll_lookup "$LAG_LOOKUPS_LOOKUP_DUR" --arg ll_head "${LAG_LOOKUPS_HEAD}s" --argjson stores_only "$STORES_ONLY" --argjson dashboard_only "$DASHBOARD_ONLY" --argjson gc_only "$GC_ONLY" --argjson https_only "$HTTPS_ONLY" \
		'{command: $command, date: $date, nproc: $nproc, cpu: $cpu, memory_kib: $memory_kib, os: $os, kernel: $kernel, go: $go,
		nginx: $nginx, postgresql: $pg, nix: $nix, commit: $commit, dirty: $dirty, runtime_s: $runtime, loads: $loads,
		reps: $reps, duration: $duration, nginx_nofile: $nofile, nginx_cache_max: $cachemax,
		sets: [{name: "hot", keys: $hot}, {name: "uniform", keys: $uniform}],
		edge_engine: $edge_engine, edge_engine_fallback: $edge_engine_fallback, edges: $edges,
		lag_lookups: {lag_duration: $ll_lag, lookup_duration: $ll_lookup, head_start: $ll_head}, stores_only: ($stores_only == 1), dashboard_only: ($dashboard_only == 1), gc_only: ($gc_only == 1), https_only: ($https_only == 1)}' >"$RES/facts.json"
	[ -f "$OUT" ] && cp "$OUT" "$T/BENCHMARKS.md"
	"$BIN" loadtest report --results "$RES" --out "$T/BENCHMARKS.md" || die "loadtest report"
	mv "$T/BENCHMARKS.md" "$OUT"
	log "done in $((runtime / 60)) min $((runtime % 60)) s: $OUT"
}

# write_later: the settings and counts of the sections after the lookups
# into later.json, whose presence tells the report that the run made them.
write_later() {
	jq -n --argjson quick "$QUICK" --argjson reps "$REPS" --arg lag_duration "$LAG_DUR" --arg big_duration "$BIG_DUR" \
		--arg soak_duration "$SOAK_DUR" --arg soak_kill_every "$SOAK_KILL" --argjson profile_seconds "$PROF_SECS" \
		--argjson origin_narinfos "$ORIGIN_NARINFOS" --argjson lag_edge_narinfos "$LAG_EDGE_NARINFOS" \
		--argjson lag_edge_ready_ns "$LAG_EDGE_READY_NS" --arg lag_subscriber_db "$LAG_SUB_DB" --arg lag_rates "$LAG_RATES" \
		--argjson big_keys "$BIG_KEYS" --argjson big_seed "$BIG_SEED" --argjson ingest_paths "$INGEST_PATHS" \
		--argjson ingest_size "$INGEST_SIZE" --argjson lookup_keys "$LOOKUP_KEYS" --arg tmp "$T" \
		'$ARGS.named | .lag_rates |= (split(" ") | map(tonumber))' >"$RES/later.json"
}

origin_sql() { psql "$ORIGIN_DB" -XAtq -v ON_ERROR_STOP=1 "$@"; }
sub_sql() {
	local db=$1
	shift
	psql "postgres://postgres@127.0.0.1:$SUB_PORT/$db?sslmode=disable" -XAtq -v ON_ERROR_STOP=1 "$@"
}

# forget_edge NAME: drops the edge's replication slots (once its walsender
# has gone) and its row, so that the origin keeps no WAL for it.
forget_edge() {
	local name=$1 left
	local like="slot_name LIKE 'narthex\\_${name}\\_%' AND database = current_database()"
	for _ in $(seq 300); do
		origin_sql -c "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE $like AND NOT active" >/dev/null
		left=$(origin_sql -c "SELECT count(*) FROM pg_replication_slots WHERE $like")
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	[ "$left" = 0 ] || die "the replication slot of edge $name stays active"
	origin_sql -c "DELETE FROM edge WHERE name = '$name'" >/dev/null
}

# ---------------------------------------------------------------- facts

log "temporary folder $T; $([ $QUICK = 1 ] && echo quick run || echo full run): $REPS repetition(s) per cell"
note_load "start"
FACT_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
FACT_NPROC=$(nproc)
FACT_CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
FACT_MEM_KIB=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
FACT_KERNEL=$(uname -srm)
FACT_OS=$(. /etc/os-release && echo "$PRETTY_NAME")
FACT_GO=$(go version | awk '{print $3}')
FACT_NGINX=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
FACT_PG=$($PGBIN/postgres --version | sed 's/^postgres (PostgreSQL) //')
FACT_NIX=$(nix --version | sed 's/^nix (Nix) //')
FACT_GIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
FACT_DIRTY=$(git -C "$REPO" status --porcelain 2>/dev/null | grep -cv '^??' || true)

# ---------------------------------------------------------------- build

log "building narthex"
BIN=$T/narthex
record setup-build go build -o "$BIN" ./cmd/narthex
(cd "$REPO" && go build -o "$BIN" ./cmd/narthex) >"$LOGS/build.log" 2>&1 || {
	cat "$LOGS/build.log" >&2
	die "go build"
}
# The engine of an edge started without --http-engine: the flag's default,
# as `narthex edge --help` states it.
EDGE_ENGINE=$("$BIN" edge --help | awk '/^  -/ {f = ($1 == "-http-engine")} f && match($0, /\(default "[^"]*"\)/) {print substr($0, RSTART + 10, RLENGTH - 12); exit}')
[ -n "$EDGE_ENGINE" ] || die "narthex edge --help states no default for --http-engine"
record_raw setup-edge-engine "$(shq "$BIN" edge --help) | grep -A2 -- '-http-engine'"

# rotate R NAME...: the names in a rotating order, repetition R starting
# with the R-th.
rotate() {
	local r=$1 out=() i
	shift
	local s=("$@")
	for ((i = 0; i < ${#s[@]}; i++)); do out+=("${s[$(((r - 1 + i) % ${#s[@]}))]}"); done
	echo "${out[@]}"
}
# edges_json: the edges as facts.json gives them to the report.
edges_json() {
	local s
	for s in $EDGES; do
		jq -nc --arg name "$s" --arg engine "${EDGE_ENGINE_OF[$s]:-}" --arg env "${EDGE_ENV[$s]:-}" \
			'{name: $name, http_engine: $engine, env: $env}'
	done | jq -sc .
}

# Section 8 is in a file of its own.
# shellcheck source=loadtest/bench/stores.sh
. "$REPO/loadtest/bench/stores.sh"
# Section 9 too.
# shellcheck source=loadtest/bench/dashboard.sh
. "$REPO/loadtest/bench/dashboard.sh"
# And section 10.
# shellcheck source=loadtest/bench/gc.sh
. "$REPO/loadtest/bench/gc.sh"
# And section 11.
# shellcheck source=loadtest/bench/https.sh
. "$REPO/loadtest/bench/https.sh"
if [ $STORES_ONLY = 1 ] || [ $DASHBOARD_ONLY = 1 ] || [ $GC_ONLY = 1 ] || [ $HTTPS_ONLY = 1 ]; then
	# What the report's facts name of sections it does not make.
	NGINX_NOFILE=0 NGINX_CACHE_MAX=0 EDGE_ENGINE_FALLBACK="" EDGES=""
	if [ $STORES_ONLY = 1 ]; then
		stores_section
	elif [ $DASHBOARD_ONLY = 1 ]; then
		dashboard_section
	elif [ $HTTPS_ONLY = 1 ]; then
		https_section
	else
		gc_section
	fi
	note_load "end"
	write_report
	exit 0
fi

# ---------------------------------------------------------------- origin

free_port ORIGIN_PORT
free_port PG_PORT
DEV=$T/dev
ORIGIN_URL=http://127.0.0.1:$ORIGIN_PORT
ORIGIN_DB="postgres://postgres@127.0.0.1:$PG_PORT/narthex?sslmode=disable"
log "starting narthex dev (PostgreSQL + origin, no edge) on $ORIGIN_URL, PostgreSQL on $PG_PORT"
start_dev dev "$DEV" "$ORIGIN_PORT" "$PG_PORT"

# ---------------------------------------------------------------- subscriber

# The native subscriber is only a peer of the sections after the lookups.
if [ $LOOKUPS_ONLY = 0 ]; then
	free_port SUB_PORT
	log "starting the native subscriber's PostgreSQL on $SUB_PORT"
	mkdir -p "$T/sub/run"
	[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$T/sub"
	record setup-sub-initdb $PGBIN/initdb -D "$T/sub/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync
	as_pg $PGBIN/initdb -D "$T/sub/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >"$LOGS/subscriber-initdb.log" 2>&1 ||
		die "initdb: $(tail -n 5 "$LOGS/subscriber-initdb.log")"
	SUB_OPTS="-c listen_addresses=127.0.0.1 -c port=$SUB_PORT -c unix_socket_directories=$T/sub/run"
	record setup-sub-start $PGBIN/pg_ctl -D "$T/sub/data" -l "$T/sub/postgres.log" -o "$SUB_OPTS" start -w
	SUB_STARTED=1
	as_pg $PGBIN/pg_ctl -D "$T/sub/data" -l "$T/sub/postgres.log" -o "$SUB_OPTS" start -w -t 60 >"$LOGS/subscriber-ctl.log" 2>&1 ||
		die "subscriber start: $(tail -n 5 "$T/sub/postgres.log")"
fi

# ---------------------------------------------------------------- populate

log "populating $LOOKUP_KEYS paths (seed 1) with a static copy for nginx"
STATIC=$T/static
run setup-populate "$BIN" loadtest populate --database-url "$ORIGIN_DB" --count "$LOOKUP_KEYS" --seed 1 --static-dir "$STATIC" --timeout 30m --json

# ---------------------------------------------------------------- lookups

free_port EDGE_PORT
free_port EDGE_FH_PORT
free_port EDGE_EV_PORT
free_port EDGE_P1_PORT
free_port NGINX_PORT
free_port CEIL_PORT
free_port CEIL_MISS_PORT
free_port EDGE_PPROF_PORT
declare -A URL=([edge]=http://127.0.0.1:$EDGE_PORT [edge-fasthttp]=http://127.0.0.1:$EDGE_FH_PORT
	[edge-evloop]=http://127.0.0.1:$EDGE_EV_PORT [edge-procs1]=http://127.0.0.1:$EDGE_P1_PORT [nginx]=http://127.0.0.1:$NGINX_PORT
	[ceiling]=http://127.0.0.1:$CEIL_PORT [ceiling-miss]=http://127.0.0.1:$CEIL_MISS_PORT)
# The edges of the lookups, the default one first, and what sets each apart
# from it: its --http-engine, its environment. The report names them so.
EDGES="edge edge-evloop edge-fasthttp edge-procs1"
declare -A EDGE_ENGINE_OF=([edge-evloop]=evloop [edge-fasthttp]=fasthttp)
declare -A EDGE_ENV=([edge-procs1]=GOMAXPROCS=1)
# start_edge NAME BG SLOT DIR PORT FLAG...: starts the edge NAME of the
# lookups as the background process BG (--name SLOT, --replica-dir DIR,
# listening on PORT, with FLAG...), with its engine and environment, and
# records the command as setup-NAME.
start_edge() {
	local name=$1 bg=$2 slot=$3 dir=$4 port=$5 cmd=()
	shift 5
	[ -z "${EDGE_ENV[$name]:-}" ] || cmd+=(env "${EDGE_ENV[$name]}")
	cmd+=("$BIN" edge --name "$slot")
	[ -z "${EDGE_ENGINE_OF[$name]:-}" ] || cmd+=(--http-engine "${EDGE_ENGINE_OF[$name]}")
	cmd+=(--database-url "$ORIGIN_DB" --replica-dir "$dir" --listen "127.0.0.1:$port" "$@")
	record "setup-$name" "${cmd[@]}"
	start_bg "$bg" "${cmd[@]}"
}

# nginx may open as many files as the hard limit of this shell allows (up
# to 300,000); its open_file_cache holds that less the connections.
NGINX_NOFILE=$(ulimit -Hn)
[ "$NGINX_NOFILE" = unlimited ] || [ "$NGINX_NOFILE" -gt 300000 ] && NGINX_NOFILE=300000
NGINX_CACHE_MAX=$((NGINX_NOFILE - 4200))
[ "$NGINX_CACHE_MAX" -gt 250000 ] && NGINX_CACHE_MAX=250000

log "starting the edges (${URL[edge]} and 3 more), nginx (${URL[nginx]}) and the ceilings (${URL[ceiling]}, ${URL[ceiling-miss]})"
start_edge edge edge_lookup bench_lookup "$T/edge-lookup" "$EDGE_PORT" --pprof-listen "127.0.0.1:$EDGE_PPROF_PORT"
# The same edge on the epoll loops and on fasthttp's server, and on the
# default engine with the Go runtime on one core: the choice of the
# defaults rests on them.
start_edge edge-evloop edge_evloop bench_lookup_ev "$T/edge-lookup-ev" "$EDGE_EV_PORT"
start_edge edge-fasthttp edge_fasthttp bench_lookup_fh "$T/edge-lookup-fh" "$EDGE_FH_PORT"
start_edge edge-procs1 edge_procs1 bench_lookup_p1 "$T/edge-lookup-p1" "$EDGE_P1_PORT"
mkdir -p "$T/nginx"
NGINX_SED=(-e "s|@DIR@|$T/nginx|g" -e "s|@LISTEN@|127.0.0.1:$NGINX_PORT|g" -e "s|@ROOT@|$STATIC|g"
	-e "s|@NOFILE@|$NGINX_NOFILE|g" -e "s|@CACHE_MAX@|$NGINX_CACHE_MAX|g")
sed "${NGINX_SED[@]}" "$REPO/loadtest/bench/nginx.conf" >"$T/nginx/nginx.conf"
record setup-nginx-conf sed "${NGINX_SED[@]}" loadtest/bench/nginx.conf
record_raw setup-nginx-conf "$(cmd_of setup-nginx-conf) > $T/nginx/nginx.conf"
record setup-nginx prlimit --nofile="$NGINX_NOFILE" "$NGINX" -c "$T/nginx/nginx.conf" -g 'daemon off;'
start_bg nginx prlimit --nofile="$NGINX_NOFILE" "$NGINX" -c "$T/nginx/nginx.conf" -g 'daemon off;'
record setup-ceiling "$BIN" loadtest ceiling --listen "127.0.0.1:$CEIL_PORT" --duration 1h
start_bg ceiling "$BIN" loadtest ceiling --listen "127.0.0.1:$CEIL_PORT" --duration 1h
record setup-ceiling-miss "$BIN" loadtest ceiling --miss --listen "127.0.0.1:$CEIL_MISS_PORT" --duration 1h
start_bg ceiling_miss "$BIN" loadtest ceiling --miss --listen "127.0.0.1:$CEIL_MISS_PORT" --duration 1h
wait_http "${URL[edge]}/readyz" 600 edge_lookup
wait_http "${URL[edge-fasthttp]}/readyz" 600 edge_fasthttp
wait_http "${URL[edge-evloop]}/readyz" 600 edge_evloop
wait_http "${URL[edge-procs1]}/readyz" 600 edge_procs1
# An edge whose engine cannot run (io_uring refused by the kernel) answers
# with another and logs a warning: the report quotes it.
EDGE_ENGINE_FALLBACK=$(grep -m1 'level=WARN.*io_uring' "$LOGS/edge_lookup.log" | sed "s|$T|\$T|g" || true)
wait_http "${URL[nginx]}/nix-cache-info" 30 nginx
wait_http "${URL[ceiling]}/nix-cache-info" 30 ceiling
for _ in $(seq 100); do [ -s "$T/nginx/nginx.pid" ] && break; sleep 0.1; done
# The processes whose CPU time is measured: nginx's master (with its
# workers), the others themselves.
declare -A PID=([edge]=${PIDS[edge_lookup]} [edge-fasthttp]=${PIDS[edge_fasthttp]} [edge-evloop]=${PIDS[edge_evloop]}
	[edge-procs1]=${PIDS[edge_procs1]} [nginx]=$(cat "$T/nginx/nginx.pid") [ceiling]=${PIDS[ceiling]} [ceiling-miss]=${PIDS[ceiling_miss]})

# urls_of / pids_of NAME...: their URLs and pids, comma-separated.
urls_of() {
	local u=() s
	for s in "$@"; do u+=("${URL[$s]}"); done
	local IFS=,
	echo "${u[*]}"
}
pids_of() {
	local p=() s
	for s in "$@"; do p+=("${PID[$s]}"); done
	local IFS=,
	echo "${p[*]}"
}
# manifest ID SET SCENARIO MODE GENERATOR REP SERVER...: one line of
# lookups.jsonl, which the report reads.
manifest() {
	local id=$1 set=$2 sc=$3 mode=$4 gen=$5 rep=$6
	shift 6
	jq -nc --arg id "$id" --arg set "$set" --arg sc "$sc" --arg mode "$mode" --arg gen "$gen" --argjson rep "$rep" \
		--arg file "$id.json" '{id: $id, set: $set, scenario: $sc, mode: $mode, generator: $gen, rep: $rep,
		servers: $ARGS.positional, file: $file}' --args "$@" >>"$RES/lookups.jsonl"
}

log "warming up the servers ($WARM_DUR each)"
run lookup-warmup "$BIN" loadtest lookup --url "$(urls_of $EDGES nginx ceiling ceiling-miss)" --keys "$LOOKUP_KEYS" --seed 1 --hit-ratio 0.5 --connections 64 --duration "$WARM_DUR" --json

note_load "lookups"
: >"$RES/lookups.jsonl"
mem lookup before "${PIDS[edge_lookup]}"
declare -A HIT_RATIO=([hits]=1 [misses]=0 [mixed]=0.5)
declare -A SERVERS_OF=([hits]="edge nginx ceiling" [misses]="edge nginx ceiling-miss" [mixed]="edge nginx")
# The closed loops measure the other edges too.
declare -A C64_SERVERS_OF=([hits]="$EDGES nginx ceiling" [misses]="$EDGES nginx ceiling-miss" [mixed]="$EDGES nginx")
declare -A SET_KEYS=([hot]=$HOT_KEYS [uniform]=$LOOKUP_KEYS)
for rep in $(seq "$LOOKUP_REPS"); do
	for set in hot uniform; do
		for sc in hits misses mixed; do
			servers=$(rotate "$rep" ${C64_SERVERS_OF[$sc]})
			for gen in lookup wrk; do
				id=$gen-$set-$sc-c64-$rep
				log "$gen, $set set, $sc, 64 connections, repetition $rep/$LOOKUP_REPS ($servers)"
				run "$id" "$BIN" loadtest "$gen" --url "$(urls_of $servers)" --server-pid "$(pids_of $servers)" \
					--keys "${SET_KEYS[$set]}" --seed 1 --hit-ratio "${HIT_RATIO[$sc]}" --connections 64 --duration "$LOOKUP_DUR" --json
				manifest "$id" "$set" "$sc" c64 "$gen" "$rep" $servers
				mem lookup "after $id" "${PIDS[edge_lookup]}"
			done
		done
	done
	for sc in hits misses mixed; do
		servers=$(rotate "$rep" ${SERVERS_OF[$sc]})
		id=lookup-uniform-$sc-seq-$rep
		log "lookup, uniform set, $sc, 1 connection, repetition $rep/$LOOKUP_REPS ($servers)"
		run "$id" "$BIN" loadtest lookup --url "$(urls_of $servers)" --server-pid "$(pids_of $servers)" \
			--keys "$LOOKUP_KEYS" --seed 1 --hit-ratio "${HIT_RATIO[$sc]}" --connections 1 --duration "$LOOKUP_DUR" --json
		manifest "$id" uniform "$sc" seq lookup "$rep" $servers
	done
done

# Beside each open loop, cyclictest measures the machine's own timer wakeup
# latency (a thread per core of an ordinary process, 1 ms sleeps, a
# histogram in µs; --laptop leaves /dev/cpu_dma_latency alone, so the
# servers run as they would without it) into <id>.wakeup.txt.
log "open loop at half of each server's closed-loop maximum (uniform set)"
for rep in $(seq "$LOOKUP_REPS"); do
	for sc in hits misses; do
		for s in $(rotate "$rep" ${SERVERS_OF[$sc]}); do
			half=$("$BIN" loadtest report --results "$RES" --half-max "uniform,$sc,$s") || die "loadtest report --half-max"
			id=lookup-uniform-$sc-open-$s-$rep
			cyclictest --laptop -q -m -t"$(nproc)" -a -i 1000 -D "$LOOKUP_DUR" -h 20000 >"$RES/$id.wakeup.txt" 2>"$LOGS/$id.wakeup.log" &
			wakeup=$!
			run "$id" "$BIN" loadtest lookup --url "${URL[$s]}" --server-pid "${PID[$s]}" --keys "$LOOKUP_KEYS" --seed 1 \
				--hit-ratio "${HIT_RATIO[$sc]}" --connections 64 --rate "$half" --duration "$LOOKUP_DUR" --json
			wait "$wakeup" || die "$id: cyclictest failed: $(tail -n 3 "$LOGS/$id.wakeup.log")"
			manifest "$id" uniform "$sc" open lookup "$rep" "$s"
		done
	done
done

# Replication lag while lookups run: on each edge in turn, an open loop of
# mixed lookups at one rate for all (a quarter of the lowest of their
# closed-loop mixed maxima, so that each keeps up beside the lag tool and
# the commits on the same cores), and LAG_LOOKUPS_HEAD seconds into it
# a lag run watching that edge. First, once, the lag run alone on the
# default edge.
lowest=
for s in $EDGES; do
	half=$("$BIN" loadtest report --results "$RES" --half-max "uniform,mixed,$s") || die "loadtest report --half-max"
	if [ -z "$lowest" ] || [ "$half" -lt "$lowest" ]; then lowest=$half; fi
done
lowest=$((lowest / 2))
: >"$RES/lag-lookups.jsonl"
# lag_manifest ID EDGE REP LOOKUPS: one line of lag-lookups.jsonl, which the
# report reads; LOOKUPS is the id of the lookups that ran meanwhile, empty
# for none.
lag_manifest() {
	jq -nc --arg id "$1" --arg edge "$2" --argjson rep "$3" --arg lookups "$4" --arg file "$1.json" \
		'{id: $id, edge: $edge, rep: $rep, lookups: $lookups, file: $file}' >>"$RES/lag-lookups.jsonl"
}
note_load "lag under lookups"
log "lag at $LAG_LOOKUPS_RATE commits/s on the default edge, no lookups"
run lag-idle-edge "$BIN" loadtest lag --database-url "$ORIGIN_DB" --edge "${URL[edge]}" --rate "$LAG_LOOKUPS_RATE" \
	--duration "$LAG_LOOKUPS_DUR" --json
lag_manifest lag-idle-edge edge 1 ""
for rep in $(seq "$LOOKUP_REPS"); do
	for s in $(rotate "$rep" $EDGES); do
		lid=lookup-lag-$s-$rep
		id=lag-lookups-$s-$rep
		log "lag at $LAG_LOOKUPS_RATE commits/s on $s while it answers $lowest lookups/s, repetition $rep/$LOOKUP_REPS"
		lookups=("$BIN" loadtest lookup --url "${URL[$s]}" --server-pid "${PID[$s]}" --keys "$LOOKUP_KEYS" --seed 1 --hit-ratio 0.5
			--connections 64 --rate "$lowest" --duration "$LAG_LOOKUPS_LOOKUP_DUR" --json)
		record_raw "$lid" "$(shq "${lookups[@]}") &"
		"${lookups[@]}" >"$RES/$lid.json" 2>"$LOGS/$lid.log" &
		PIDS[$lid]=$!
		sleep "$LAG_LOOKUPS_HEAD"
		run "$id" "$BIN" loadtest lag --database-url "$ORIGIN_DB" --edge "${URL[$s]}" --rate "$LAG_LOOKUPS_RATE" \
			--duration "$LAG_LOOKUPS_DUR" --json
		record_raw "$id" "sleep $LAG_LOOKUPS_HEAD; $(cmd_of "$id")"
		if ! wait "${PIDS[$lid]}"; then
			tail -n 20 "$LOGS/$lid.log" >&2
			die "$lid: $(cmd_of "$lid")"
		fi
		unset "PIDS[$lid]"
		manifest "$lid" uniform mixed lag lookup "$rep" "$s"
		lag_manifest "$id" "$s" "$rep" "$lid"
	done
done

if [ $LOOKUPS_ONLY = 1 ]; then
	log "stopping the lookup servers"
	for name in ceiling ceiling_miss nginx edge_lookup edge_fasthttp edge_evloop edge_procs1; do stop_bg "$name"; done
	for name in bench_lookup bench_lookup_fh bench_lookup_ev bench_lookup_p1; do forget_edge "$name"; done
	note_load "end"
	write_report
	exit 0
fi

# Profiles of the lookup edge: CPU over a closed-loop run of hits, then of
# misses, and what the edge allocated during each (the difference of its
# allocation profiles before and after). Then the handler alone, in process.
PROF="http://127.0.0.1:$EDGE_PPROF_PORT/debug/pprof"
PROF_SECS=$((${LOOKUP_DUR%s} - 1))
for sc in hits misses; do
	log "profiling the edge under $sc (64 connections)"
	curl -sf -m 30 -o "$RES/allocs-$sc-before.pb.gz" "$PROF/allocs" || die "allocation profile"
	curl -sf -m $((PROF_SECS + 30)) -o "$RES/cpu-$sc.pb.gz" "$PROF/profile?seconds=$PROF_SECS" &
	cpu_pid=$!
	run profile-$sc "$BIN" loadtest lookup --url "${URL[edge]}" --keys "$LOOKUP_KEYS" --seed 1 \
		--hit-ratio "${HIT_RATIO[$sc]}" --connections 64 --duration "$LOOKUP_DUR" --json
	wait $cpu_pid || die "CPU profile"
	curl -sf -m 30 -o "$RES/allocs-$sc-after.pb.gz" "$PROF/allocs" || die "allocation profile"
	go tool pprof -top -nodecount=25 "$BIN" "$RES/cpu-$sc.pb.gz" >"$RES/cpu-$sc.txt" 2>/dev/null
	go tool pprof -top -nodecount=12 -sample_index=alloc_space -diff_base "$RES/allocs-$sc-before.pb.gz" \
		"$BIN" "$RES/allocs-$sc-after.pb.gz" >"$RES/allocs-$sc.txt" 2>/dev/null
done
record_raw profile-cpu "curl -o cpu.pb.gz \"http://127.0.0.1:$EDGE_PPROF_PORT/debug/pprof/profile?seconds=$PROF_SECS\" & $(cmd_of profile-hits)"
record_raw profile-top "go tool pprof -top -nodecount=25 \$T/narthex cpu.pb.gz"
record_raw profile-allocs "go tool pprof -top -nodecount=12 -sample_index=alloc_space -diff_base allocs-before.pb.gz \$T/narthex allocs-after.pb.gz"
log "benchmarking the lookup handler in process (go test -bench)"
record_raw edge-bench "go test -run '^\$' -bench 'BenchmarkServer_Narinfo$' -benchmem -count 3 ./edge"
(cd "$REPO" && go test -run '^$' -bench 'BenchmarkServer_Narinfo$' -benchmem -count 3 ./edge) >"$RES/edge-bench.txt" 2>"$LOGS/edge-bench.log" ||
	die "go test -bench ./edge"

mem lookup end "${PIDS[edge_lookup]}"
log "stopping the lookup servers"
stop_bg ceiling
stop_bg ceiling_miss
stop_bg nginx
stop_bg edge_lookup
stop_bg edge_fasthttp
stop_bg edge_evloop
stop_bg edge_procs1
for name in bench_lookup bench_lookup_fh bench_lookup_ev bench_lookup_p1; do forget_edge "$name"; done
cp "$LOGS/edge_lookup.log" "$RES/edge_lookup.log"

# ---------------------------------------------------------------- bootstrap

# The origin holds the lookup cache and the paths of the lag runs so far.
have=$(origin_sql -c "SELECT count(*) FROM narinfo")
BIG_SEED=1 BIG_KEYS=$LOOKUP_KEYS
if [ "$have" -lt "$BOOT_PATHS" ]; then
	BIG_SEED=2 BIG_KEYS=$((BOOT_PATHS - have))
	log "populating $BIG_KEYS more paths (seed 2) for $BOOT_PATHS in all"
	run setup-populate2 "$BIN" loadtest populate --database-url "$ORIGIN_DB" --count "$BIG_KEYS" --seed 2 --timeout 30m --json
fi
ORIGIN_NARINFOS=$(origin_sql -c "SELECT count(*) FROM narinfo")
# Hint bits and the visibility map set now, so that the first bootstrap
# does not pay for them.
origin_sql -c "VACUUM ANALYZE narinfo" -c "CHECKPOINT" >/dev/null

SUB_CONN="host=127.0.0.1 port=$PG_PORT dbname=narthex user=postgres"
native_boot() {
	local rep=$1 db=boot_$1 t0 t1 state="" n size
	sub_sql postgres -c "CREATE DATABASE $db"
	record "native-schema-$rep" psql "postgres://postgres@127.0.0.1:$SUB_PORT/$db" -f loadtest/bench/subscriber.sql
	sub_sql "$db" -f "$REPO/loadtest/bench/subscriber.sql"
	record "native-boot-$rep" psql "postgres://postgres@127.0.0.1:$SUB_PORT/$db" -c \
		"CREATE SUBSCRIPTION $db CONNECTION '$SUB_CONN' PUBLICATION narthex WITH (copy_data = true)"
	t0=$(date +%s%N)
	sub_sql "$db" -c "CREATE SUBSCRIPTION $db CONNECTION '$SUB_CONN' PUBLICATION narthex WITH (copy_data = true)" 2>>"$LOGS/subscriber-sql.log"
	# Ready: every table of the subscription in state r (ready), polled
	# every 50 ms, for at most 20 minutes.
	for _ in $(seq 24000); do
		state=$(sub_sql "$db" -c "SELECT count(*) FILTER (WHERE r.srsubstate <> 'r') || '/' || count(*)
			FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = '$db'")
		[ "$state" = 0/3 ] && break
		sleep 0.05
	done
	t1=$(date +%s%N)
	[ "$state" = 0/3 ] || die "native subscriber $db not ready after 20 minutes ($state tables left): $(tail -n 5 "$T/sub/postgres.log")"
	n=$(sub_sql "$db" -c "SELECT count(*) FROM narinfo")
	[ "$n" = "$ORIGIN_NARINFOS" ] || die "native subscriber $db holds $n narinfos, the origin $ORIGIN_NARINFOS"
	size=$(sub_sql "$db" -c "SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY['narinfo', 'payload_location', 'store']::regclass[]) c")
	printf '{"ready_after_ns":%d,"narinfos":%d,"disk_bytes":%d}\n' $((t1 - t0)) "$n" "$size" >"$RES/boot-native-$rep.json"
}
drop_native() {
	local db=$1
	sub_sql "$db" -c "DROP SUBSCRIPTION $db" 2>>"$LOGS/subscriber-sql.log"
	sub_sql postgres -c "DROP DATABASE $db"
}
note_load "bootstrap"
for rep in $(seq "$REPS"); do
	log "bootstrap of $ORIGIN_NARINFOS narinfos, repetition $rep/$REPS: edge"
	run "boot-edge-$rep" "$BIN" loadtest bootstrap --database-url "$ORIGIN_DB" --edge-name "bench_boot_$rep" --dir "$T" --timeout 20m --json
	log "bootstrap of $ORIGIN_NARINFOS narinfos, repetition $rep/$REPS: native subscriber"
	native_boot "$rep"
	# The last subscriber stays: it is the native target of the lag runs.
	[ "$rep" = "$REPS" ] || drop_native "boot_$rep"
done
LAG_SUB_DB=boot_$REPS
LAG_SUB_URL="postgres://postgres@127.0.0.1:$SUB_PORT/$LAG_SUB_DB?sslmode=disable"

# ---------------------------------------------------------------- lag

free_port LAG_PORT
free_port LAG_PPROF_PORT
LAG_EDGE_URL=http://127.0.0.1:$LAG_PORT
log "starting the lag edge ($LAG_EDGE_URL)"
# With Go profiles on, to split its memory into the Go runtime's and the rest.
record edge-lag "$BIN" edge --name bench_lag --database-url "$ORIGIN_DB" --replica-dir "$T/edge-lag" --listen "127.0.0.1:$LAG_PORT" --pprof-listen "127.0.0.1:$LAG_PPROF_PORT"
t0=$(date +%s%N)
start_bg edge_lag "$BIN" edge --name bench_lag --database-url "$ORIGIN_DB" --replica-dir "$T/edge-lag" --listen "127.0.0.1:$LAG_PORT" --pprof-listen "127.0.0.1:$LAG_PPROF_PORT"
wait_http "$LAG_EDGE_URL/readyz" 1200 edge_lag
LAG_EDGE_READY_NS=$(($(date +%s%N) - t0))
mem lag ready "${PIDS[edge_lag]}"

note_load "lag"
for rep in $(seq "$REPS"); do
	for rate in $LAG_RATES; do
		id=lag-$rate-$rep
		log "lag at $rate commits/s, repetition $rep/$REPS"
		run "$id" "$BIN" loadtest lag --database-url "$ORIGIN_DB" --edge "$LAG_EDGE_URL" --subscriber-url "$LAG_SUB_URL" \
			--rate "$rate" --duration "$LAG_DUR" --json
	done
done
# Each target alone, once, at 1,000 commits/s: how much the other target
# and its poller cost the origin and the commit schedule.
for kind in edge subscriber; do
	id=lag-1000-$kind-alone
	log "lag at 1000 commits/s, $kind alone"
	if [ $kind = edge ]; then target=(--edge "$LAG_EDGE_URL"); else target=(--subscriber-url "$LAG_SUB_URL"); fi
	run "$id" "$BIN" loadtest lag --database-url "$ORIGIN_DB" "${target[@]}" --rate 1000 --duration "$LAG_DUR" --json
done
mem lag "after the lag runs" "${PIDS[edge_lag]}"
LAG_EDGE_NARINFOS=$(origin_sql -c "SELECT count(*) FROM narinfo")

# Memory of the big edge under lookups over all of its keys (BIG_KEYS: the
# seed-2 paths when the origin was filled up for the bootstrap, else the
# lookup cache): hits, misses, then mixed, its RSS read after each.
for sc in hits misses mixed; do
	log "lookups ($sc) on the lag edge ($LAG_EDGE_NARINFOS narinfos) for its memory under load"
	run "lookup-big-$sc" "$BIN" loadtest lookup --url "$LAG_EDGE_URL" --keys "$BIG_KEYS" --seed "$BIG_SEED" \
		--hit-ratio "${HIT_RATIO[$sc]}" --connections 64 --duration "$BIG_DUR" --json
	mem lag "after lookup-big-$sc" "${PIDS[edge_lag]}"
done
curl -s -m 10 "http://127.0.0.1:$LAG_PPROF_PORT/debug/pprof/heap?debug=1" >"$RES/big-heap.txt" || true
stop_bg edge_lag
forget_edge bench_lag
cp "$LOGS/edge_lag.log" "$RES/edge_lag.log"

# ---------------------------------------------------------------- ingest

log "ingest: building closures of $INGEST_PATHS paths with Nix"
NIXT=$T/nix
mkdir -p "$NIXT/home" "$NIXT/conf"
printf 'experimental-features = nix-command\nbuild-users-group =\nsandbox = false\nsandbox-paths = /bin /lib /lib64 /usr\nsubstituters =\n' >"$NIXT/conf/nix.conf"
NIXSTORE="local?root=$NIXT/root"
nixenv() { env HOME="$NIXT/home" NIX_CONF_DIR="$NIXT/conf" XDG_CACHE_HOME="$(mktemp -d "$NIXT/xdg.XXXXXX")" "$@"; }
RUN_ID=$(date +%s)
: >"$RES/ingest.jsonl"
free_port SINK_PORT
SINK_URL=http://127.0.0.1:$SINK_PORT
record sink "$BIN" loadtest ceiling --sink --listen "127.0.0.1:$SINK_PORT" --duration 1h
start_bg sink "$BIN" loadtest ceiling --sink --listen "127.0.0.1:$SINK_PORT" --duration 1h
wait_http "$SINK_URL/nix-cache-info" 30 sink
note_load "ingest"
# time_copy ID KIND TARGET URL PATH EXTRA...: one nix copy, timed.
time_copy() {
	local id=$1 kind=$2 target=$3 to=$4 path=$5 t0 t1
	shift 5
	record_raw "$id" "HOME=$NIXT/home NIX_CONF_DIR=$NIXT/conf XDG_CACHE_HOME=\$(mktemp -d) $(shq nix copy --store "$NIXSTORE" "$@" --to "$to" "$path")"
	t0=$(date +%s%N)
	nixenv timeout 600 nix copy --store "$NIXSTORE" "$@" --to "$to" "$path" >"$LOGS/$id.log" 2>&1 ||
		die "nix copy --to $to: $(tail -n 5 "$LOGS/$id.log")"
	t1=$(date +%s%N)
	jq -nc --argjson rep "$rep" --arg kind "$kind" --arg target "$target" --argjson ns $((t1 - t0)) \
		'{rep: $rep, kind: $kind, target: $target, ns: $ns}' >>"$RES/ingest.jsonl"
}
declare -A INGEST_BYTES=([tiny]=0 [payload]=$INGEST_SIZE)
for rep in $(seq "$REPS"); do
	for kind in tiny payload; do
		salt=$RUN_ID-$kind-$rep
		record "ingest-build-$kind-$rep" nix-build --store "$NIXSTORE" loadtest/bench/closure.nix --argstr salt "$salt" \
			--arg n "$INGEST_PATHS" --arg size "${INGEST_BYTES[$kind]}" --no-out-link
		P=$(nixenv timeout 600 nix-build --store "$NIXSTORE" "$REPO/loadtest/bench/closure.nix" --argstr salt "$salt" \
			--arg n "$INGEST_PATHS" --arg size "${INGEST_BYTES[$kind]}" --no-out-link 2>"$LOGS/ingest-build-$kind-$rep.log") ||
			die "nix-build: $(tail -n 5 "$LOGS/ingest-build-$kind-$rep.log")"
		closure=$(nixenv nix-store --store "$NIXSTORE" -qR "$P" | wc -l)
		[ "$closure" = "$INGEST_PATHS" ] || die "the closure of $P has $closure paths, not $INGEST_PATHS"
		# Rotate which target goes first.
		targets="origin file"
		[ $kind = tiny ] && targets="origin file sink"
		for ((i = 0; i < rep % 3; i++)); do
			set -- $targets
			targets="$(shift; echo "$@") $1"
		done
		log "ingest repetition $rep/$REPS: nix copy of $closure $kind paths to $targets"
		for target in $targets; do
			id=ingest-$kind-$target-$rep
			case $target in
			origin)
				time_copy "$id" "$kind" origin "$ORIGIN_URL" "$P" --option netrc-file "$DEV/netrc"
				got=$(origin_sql -c "SELECT count(*) FROM narinfo WHERE name LIKE 'bench-$salt-%'")
				;;
			file)
				time_copy "$id" "$kind" file "file://$T/filecache-$kind-$rep" "$P"
				got=$(find "$T/filecache-$kind-$rep" -maxdepth 1 -name '*.narinfo' | wc -l)
				;;
			sink)
				time_copy "$id" "$kind" sink "$SINK_URL" "$P"
				got=$INGEST_PATHS # it keeps nothing to count
				;;
			esac
			[ "$got" = "$INGEST_PATHS" ] || die "nix copy to $target: $got of $INGEST_PATHS paths arrived"
		done
	done
done
stop_bg sink
# Where the origin's time goes: its PUT latencies for small uploads, one at
# a time, as Nix sends them.
log "ingest: the origin's PUT latencies (loadtest ingest, 1 in flight)"
run ingest-put "$BIN" loadtest ingest --url "$ORIGIN_URL" --token-file "$DEV/token" --count "$INGEST_PATHS" \
	--nar-size 512 --concurrency 1 --duration 2m --json

# ---------------------------------------------------------------- soak

# The native subscriber of the lag runs is done with: dropped, so that the
# edges of the soak are the origin's only consumers.
drop_native "$LAG_SUB_DB"
# The soak exits 1 when a check fails, with its result still on stdout:
# that is a finding for the report, not a failure of the script.
note_load "soak"
log "soak of $SOAK_DUR: lookups at 80% of an edge's maximum, 500 transactions/s, the other edge SIGKILLed every $SOAK_KILL"
SOAK_CMD=("$BIN" loadtest soak --database-url "$ORIGIN_DB" --keys "$BIG_KEYS" --seed "$BIG_SEED" --hit-ratio 0.5
	--duration "$SOAK_DUR" --kill-every "$SOAK_KILL" --commit-rate 500 --lookup-share 0.8 --dir "$T" --json)
record soak "${SOAK_CMD[@]}"
SOAK_RC=0
"${SOAK_CMD[@]}" >"$RES/soak.json" 2>"$LOGS/soak.log" || SOAK_RC=$?
if ! jq -e '.passed != null' "$RES/soak.json" >/dev/null 2>&1; then
	tail -n 20 "$LOGS/soak.log" >&2
	die "soak: $(shq "${SOAK_CMD[@]}" | sed "s|$T|\$T|g")"
fi
[ $SOAK_RC = 0 ] || log "soak: a check failed: $(tail -n 1 "$LOGS/soak.log" | cut -c1-300)"
cp "$LOGS/dev.log" "$RES/dev.log"
note_load "end"

# ---------------------------------------------------------------- stores

stores_section

# ---------------------------------------------------------------- dashboard

dashboard_section

# ---------------------------------------------------------------- gc

gc_section

# ---------------------------------------------------------------- report

write_later
write_report
