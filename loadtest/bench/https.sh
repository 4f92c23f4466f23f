# https.sh: section 11 of bench.sh (sourced by it, with its helpers and
# settings): narinfo lookups over HTTPS, a `narthex edge` serving its
# --https-listen (fasthttp over crypto/tls) beside two ceilings serving
# HTTPS the same way (`narthex loadtest ceiling --tls-cert-file`), all
# with one self-signed P-256 certificate, under 64 kept-alive connections
# (each handshake done before the run) and then with a full handshake per
# request (lookup --new-connections), in a database of its own on a
# fifth `narthex dev`. Results: https-*.json, named in lookups.jsonl.

# https_join ARRAY NAME...: the values of ARRAY for NAME..., comma-separated.
https_join() {
	local -n arr=$1
	shift
	local v=() s
	for s in "$@"; do v+=("${arr[$s]}"); done
	local IFS=,
	echo "${v[*]}"
}

https_section() {
	free_port HTTPS_DEV_PORT
	free_port HTTPS_PG_PORT
	free_port HTTPS_EDGE_PORT
	free_port HTTPS_EDGE_TLS_PORT
	free_port HTTPS_CEIL_PORT
	free_port HTTPS_CEIL_MISS_PORT
	local dir=$T/https-dev cert=$T/https-cert.pem key=$T/https-key.pem
	local db="postgres://postgres@127.0.0.1:$HTTPS_PG_PORT/narthex?sslmode=disable"
	log "https: starting narthex dev (PostgreSQL and origin) for section 11"
	start_dev https_dev "$dir" "$HTTPS_DEV_PORT" "$HTTPS_PG_PORT"
	run setup-https-populate "$BIN" loadtest populate --database-url "$db" --count "$HOT_KEYS" --seed 1 --timeout 10m --json
	local openssl=(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1
		-addext subjectAltName=IP:127.0.0.1 -keyout "$key" -out "$cert")
	record setup-https-cert "${openssl[@]}"
	"${openssl[@]}" >"$LOGS/https-cert.log" 2>&1 || die "openssl: $(tail -n 5 "$LOGS/https-cert.log")"
	local tlsflags=(--tls-cert-file "$cert" --tls-key-file "$key")
	local edge_cmd=("$BIN" edge --name bench_https --database-url "$db" --replica-dir "$T/https-edge"
		--listen "127.0.0.1:$HTTPS_EDGE_PORT" --https-listen "127.0.0.1:$HTTPS_EDGE_TLS_PORT" "${tlsflags[@]}")
	record setup-https-edge "${edge_cmd[@]}"
	start_bg https_edge "${edge_cmd[@]}"
	record setup-https-ceiling "$BIN" loadtest ceiling --listen "127.0.0.1:$HTTPS_CEIL_PORT" --duration 1h "${tlsflags[@]}"
	start_bg https_ceiling "$BIN" loadtest ceiling --listen "127.0.0.1:$HTTPS_CEIL_PORT" --duration 1h "${tlsflags[@]}"
	record setup-https-ceiling-miss "$BIN" loadtest ceiling --miss --listen "127.0.0.1:$HTTPS_CEIL_MISS_PORT" --duration 1h "${tlsflags[@]}"
	start_bg https_ceiling_miss "$BIN" loadtest ceiling --miss --listen "127.0.0.1:$HTTPS_CEIL_MISS_PORT" --duration 1h "${tlsflags[@]}"
	wait_http "http://127.0.0.1:$HTTPS_EDGE_PORT/readyz" 600 https_edge
	local s
	for s in "$HTTPS_EDGE_TLS_PORT" "$HTTPS_CEIL_PORT" "$HTTPS_CEIL_MISS_PORT"; do
		for _ in $(seq 300); do
			[ "$(curl -s -o /dev/null -m 2 --cacert "$cert" -w '%{http_code}' "https://127.0.0.1:$s/nix-cache-info")" = 200 ] && break
			sleep 0.1
		done
	done
	declare -A URL=([edge-https]=https://127.0.0.1:$HTTPS_EDGE_TLS_PORT [ceiling-https]=https://127.0.0.1:$HTTPS_CEIL_PORT
		[ceiling-miss-https]=https://127.0.0.1:$HTTPS_CEIL_MISS_PORT)
	declare -A PID=([edge-https]=${PIDS[https_edge]} [ceiling-https]=${PIDS[https_ceiling]} [ceiling-miss-https]=${PIDS[https_ceiling_miss]})
	declare -A HIT_RATIO=([hits]=1 [misses]=0)
	declare -A SERVERS_OF=([hits]="edge-https ceiling-https" [misses]="edge-https ceiling-miss-https")
	note_load "https"
	: >"$RES/lookups.jsonl"
	local rep sc gen id servers extra
	for rep in $(seq "$LOOKUP_REPS"); do
		for sc in hits misses; do
			servers=$(rotate "$rep" ${SERVERS_OF[$sc]})
			for gen in lookup wrk; do
				id=https-$gen-$sc-$rep
				extra=()
				[ "$gen" = lookup ] && extra=(--ca-file "$cert")
				log "https: $gen, $sc, 64 connections, repetition $rep/$LOOKUP_REPS ($servers)"
				run "$id" "$BIN" loadtest "$gen" --url "$(https_join URL $servers)" --server-pid "$(https_join PID $servers)" "${extra[@]}" \
					--keys "$HOT_KEYS" --seed 1 --hit-ratio "${HIT_RATIO[$sc]}" --connections 64 --duration "$LOOKUP_DUR" --json
				# One line of lookups.jsonl, as bench.sh's manifest writes it.
				jq -nc --arg id "$id" --arg sc "$sc" --arg gen "$gen" --argjson rep "$rep" --arg file "$id.json" \
					'{id: $id, set: "https", scenario: $sc, mode: "c64", generator: $gen, rep: $rep, servers: $ARGS.positional,
					file: $file}' --args $servers >>"$RES/lookups.jsonl"
			done
		done
		# Handshakes: a new connection per request, each a full TLS
		# handshake (the client resumes no session). lookup only: wrk's
		# OpenSSL resumes its session on every reconnection.
		servers=$(rotate "$rep" edge-https ceiling-https)
		id=https-lookup-handshakes-$rep
		log "https: lookup, a full handshake per request, 64 at once, repetition $rep/$LOOKUP_REPS ($servers)"
		run "$id" "$BIN" loadtest lookup --url "$(https_join URL $servers)" --server-pid "$(https_join PID $servers)" --ca-file "$cert" \
			--new-connections --keys "$HOT_KEYS" --seed 1 --hit-ratio 1 --connections 64 --duration "$LOOKUP_DUR" --json
		jq -nc --arg id "$id" --argjson rep "$rep" --arg file "$id.json" \
			'{id: $id, set: "https", scenario: "handshakes", mode: "c64", generator: "lookup", rep: $rep, servers: $ARGS.positional,
			file: $file}' --args $servers >>"$RES/lookups.jsonl"
	done
	stop_bg https_ceiling_miss
	stop_bg https_ceiling
	stop_bg https_edge
	stop_bg https_dev
}
