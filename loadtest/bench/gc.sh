# gc.sh: section 10 of bench.sh (sourced by it, with its helpers and
# settings): garbage collection of a graph of 1,000,000 store paths, half
# of it garbage, in a database of its own on a PostgreSQL of its own (a
# fourth `narthex dev`, whose own origin stays idle): the graph written
# and the ways to mark it timed (`narthex loadtest gc`), then, with a
# `narthex origin` and a `narthex edge` on that database, the collection
# by `narthex gc` while uploads and lookups run (`narthex loadtest
# gcrun`). Results: gc.json and gcrun.json.

gc_section() {
	free_port GC_DEV_PORT
	free_port GC_PG_PORT
	free_port GC_ORIGIN_PORT
	free_port GC_EDGE_PORT
	local dir=$T/gc-dev
	local admin="postgres://postgres@127.0.0.1:$GC_PG_PORT/postgres?sslmode=disable"
	local db="postgres://postgres@127.0.0.1:$GC_PG_PORT/gc?sslmode=disable"
	local origin=http://127.0.0.1:$GC_ORIGIN_PORT edge=http://127.0.0.1:$GC_EDGE_PORT
	log "gc: starting narthex dev (PostgreSQL) on 127.0.0.1:$GC_PG_PORT for section 10"
	start_dev gc_dev "$dir" "$GC_DEV_PORT" "$GC_PG_PORT"
	record_raw setup-gc-database "psql \"$admin\" -c \"CREATE DATABASE gc\""
	psql "$admin" -XAtq -v ON_ERROR_STOP=1 -c "CREATE DATABASE gc" >/dev/null
	note_load "gc"
	log "gc: writing a graph of $GC_PATHS paths and timing the ways to mark it (about 20 minutes)"
	run gc "$BIN" loadtest gc --database-url "$db" --paths "$GC_PATHS" --json

	# An upload token, and the origin and edge the load goes to.
	record_raw setup-gc-token "$(shq "$BIN" token create gcbench --database-url "$db") >\$T/gc-token"
	"$BIN" token create gcbench --database-url "$db" >"$T/gc-token" 2>"$LOGS/gc-token.log" || die "token create: $(cat "$LOGS/gc-token.log")"
	mkdir -p "$T/gc-nars"
	# Store maintenance off: the local store holds no bytes of the graph's
	# NAR files, and maintenance would find each copy missing and withdraw
	# live paths (the edge then answers them 404).
	local origin_cmd=("$BIN" origin --database-url "$db" --listen "127.0.0.1:$GC_ORIGIN_PORT" --public-url "$origin"
		--local-store "$T/gc-nars" --signing-key-file "$dir/cache-key.sec" --maintain-interval 0)
	record setup-gc-origin "${origin_cmd[@]}"
	start_bg gc_origin "${origin_cmd[@]}"
	local edge_cmd=("$BIN" edge --name bench_gc --database-url "$db" --replica-dir "$T/gc-edge" --listen "127.0.0.1:$GC_EDGE_PORT")
	record setup-gc-edge "${edge_cmd[@]}"
	start_bg gc_edge "${edge_cmd[@]}"
	wait_http "$origin/nix-cache-info" 120 gc_origin
	log "gc: waiting for the edge's bootstrap of $GC_PATHS narinfos"
	wait_http "$edge/readyz" 900 gc_edge
	note_load "gc collection"
	log "gc: $GC_BASELINE of uploads and lookups, then the same while narthex gc collects"
	run gcrun "$BIN" loadtest gcrun --database-url "$db" --origin-url "$origin" --token-file "$T/gc-token" --edge-url "$edge" \
		--paths "$GC_PATHS" --baseline "$GC_BASELINE" --gc-args "--local-store $T/gc-nars --payload-grace 1s" --json
	stop_bg gc_edge
	stop_bg gc_origin
	stop_bg gc_dev
}
