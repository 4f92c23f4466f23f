# stores.sh: section 8 of bench.sh (sourced by it, with its helpers and
# settings): NAR redirects with GeoIP ranking vs the redirect ceiling, and
# backfills into S3 by `narthex stores maintain` vs `rclone copy`, on an
# origin of their own (a second `narthex dev`), so that no file of the
# other sections takes part. Results: redirects.jsonl and the JSON it
# names, stores-edge-bench.txt, backfill.jsonl, import.jsonl and
# stores.json. Then the import of a synthetic file:// cache by `narthex
# import` vs `nix copy --from file://` into the same origin.

stores_section() {
	local id rep set gen t0 t1 n bytes
	# Each backfill and import is bounded: 20 minutes at most.
	local STEP_TIMEOUT=1200

	free_port ST_ORIGIN_PORT
	free_port ST_PG_PORT
	SDEV=$T/stores-dev
	ST_DB="postgres://postgres@127.0.0.1:$ST_PG_PORT/narthex?sslmode=disable"
	log "stores: starting narthex dev (PostgreSQL + origin) on 127.0.0.1:$ST_ORIGIN_PORT for section 8"
	start_dev stores_dev "$SDEV" "$ST_ORIGIN_PORT" "$ST_PG_PORT"
	st_sql() { psql "$ST_DB" -XAtq -v ON_ERROR_STOP=1 "$@"; }

	# ------------------------------------------------------------ redirects

	# Two http stores (nothing is fetched from them: a redirect only names
	# them), in Frankfurt and Singapore, each holding every file; the
	# GeoIP database places 127.1.0.0/16 in Frankfurt.
	run setup-stores-geoip "$BIN" loadtest geoip --out "$T/geo.mmdb"
	local stores_sql="INSERT INTO store (name, kind, base_url, latitude, longitude) VALUES
		('sin', 'http', 'http://sin.example', 1.3521, 103.8198), ('fra', 'http', 'http://fra.example', 50.1109, 8.6821)"
	record_raw setup-stores-redirect-stores "psql \"$ST_DB\" -c \"$(echo $stores_sql)\""
	st_sql -c "$stores_sql" >/dev/null
	run setup-stores-locations "$BIN" loadtest locations --database-url "$ST_DB" --count "$REDIRECT_KEYS" --seed 1 --stores sin,fra --json
	free_port RD_PORT
	free_port RD_CEIL_PORT
	RD_URL=http://127.0.0.1:$RD_PORT
	RD_CEIL_URL=http://127.0.0.1:$RD_CEIL_PORT
	# The Location the edge sends for a file: the ceiling sends one of the
	# same length.
	local location="http://fra.example/nar/$(printf '0%.0s' $(seq 32)).nar"
	# 127.0.0.1 is a trusted proxy (wrk's requests name their client in
	# X-Forwarded-For); `loadtest lookup` connects from 127.1.0.1 itself.
	record setup-stores-edge "$BIN" edge --name bench_redirect --database-url "$ST_DB" --replica-dir "$T/edge-redirect" \
		--listen "127.0.0.1:$RD_PORT" --geoip-db "$T/geo.mmdb" --trusted-proxies 127.0.0.1/32
	start_bg edge_redirect "$BIN" edge --name bench_redirect --database-url "$ST_DB" --replica-dir "$T/edge-redirect" \
		--listen "127.0.0.1:$RD_PORT" --geoip-db "$T/geo.mmdb" --trusted-proxies 127.0.0.1/32
	record setup-stores-ceiling "$BIN" loadtest ceiling --redirect "$location" --listen "127.0.0.1:$RD_CEIL_PORT" --duration 1h
	start_bg ceiling_redirect "$BIN" loadtest ceiling --redirect "$location" --listen "127.0.0.1:$RD_CEIL_PORT" --duration 1h
	wait_http "$RD_URL/readyz" 600 edge_redirect
	# Ready once every location has arrived (they were committed at once):
	# a short run whose every redirect goes to Frankfurt.
	local ok=0
	for _ in $(seq 600); do
		if "$BIN" loadtest lookup --url "$RD_URL" --nar --source 127.1.0.1 --want-location http://fra.example/ \
			--keys "$REDIRECT_KEYS" --seed 1 --hit-ratio 1 --connections 1 --requests 20 --duration 5s --json \
			>"$LOGS/redirect-ready.json" 2>>"$LOGS/redirect-ready.log" &&
			[ "$(jq '.results[0].errors' "$LOGS/redirect-ready.json")" = 0 ]; then
			ok=1
			break
		fi
		sleep 0.1
	done
	[ $ok = 1 ] || die "the redirect edge does not redirect to Frankfurt: $(cat "$LOGS/redirect-ready.json")"
	: >"$RES/redirects.jsonl"
	rd_manifest() {
		jq -nc --arg id "$1" --arg gen "$2" --argjson rep "$3" --arg file "$1.json" \
			'{id: $id, set: "redirect", scenario: "hits", mode: "c64", generator: $gen, rep: $rep,
			servers: $ARGS.positional, file: $file}' --args "${@:4}" >>"$RES/redirects.jsonl"
	}
	note_load "redirects"
	log "redirects: warming up ($WARM_DUR each)"
	run redirect-warmup "$BIN" loadtest lookup --url "$RD_URL,$RD_CEIL_URL" --nar --source 127.1.0.1 --keys "$REDIRECT_KEYS" \
		--seed 1 --hit-ratio 1 --connections 64 --duration "$WARM_DUR" --json
	local -A rd_url=([edge]=$RD_URL [ceiling]=$RD_CEIL_URL) rd_pid=([edge]=${PIDS[edge_redirect]} [ceiling]=${PIDS[ceiling_redirect]})
	local servers urls pids s
	for rep in $(seq "$LOOKUP_REPS"); do
		servers=$(rotate "$rep" edge ceiling)
		urls= pids=
		for s in $servers; do
			urls+=${urls:+,}${rd_url[$s]}
			pids+=${pids:+,}${rd_pid[$s]}
		done
		id=redirect-lookup-$rep
		log "redirects: lookup --nar from 127.1.0.1, 64 connections, repetition $rep/$LOOKUP_REPS ($servers)"
		run "$id" "$BIN" loadtest lookup --url "$urls" --server-pid "$pids" --nar --source 127.1.0.1 \
			--want-location http://fra.example/ --keys "$REDIRECT_KEYS" --seed 1 --hit-ratio 1 --connections 64 \
			--duration "$LOOKUP_DUR" --json
		rd_manifest "$id" lookup "$rep" $servers
		id=redirect-wrk-$rep
		log "redirects: wrk with X-Forwarded-For: 127.1.0.1, 64 connections, repetition $rep/$LOOKUP_REPS ($servers)"
		run "$id" "$BIN" loadtest wrk --url "$urls" --server-pid "$pids" --nar --header "X-Forwarded-For: 127.1.0.1" \
			--keys "$REDIRECT_KEYS" --seed 1 --hit-ratio 1 --connections 64 --duration "$LOOKUP_DUR" --json
		rd_manifest "$id" wrk "$rep" $servers
	done
	stop_bg edge_redirect
	stop_bg ceiling_redirect
	log "redirects: the handler in process (go test -bench)"
	record_raw stores-edge-bench "go test -run '^\$' -bench 'BenchmarkServer_NarRedirect/geoip\$' -benchmem -count 3 ./edge"
	(cd "$REPO" && go test -run '^$' -bench 'BenchmarkServer_NarRedirect/geoip$' -benchmem -count 3 ./edge) \
		>"$RES/stores-edge-bench.txt" 2>"$LOGS/stores-edge-bench.log" || die "go test -bench ./edge: $(tail -n 5 "$LOGS/stores-edge-bench.log")"
	# The redirect files leave the origin: a backfill would copy them too.
	st_sql -c "DELETE FROM payload_location" -c "DELETE FROM nar_file" >/dev/null

	# ------------------------------------------------------------ backfill

	log "backfill: building versitygw v1.8.0 (internal/s3test/versitygw)"
	record setup-stores-versitygw-build go build -o "$T/versitygw" github.com/versity/versitygw/cmd/versitygw
	record_raw setup-stores-versitygw-build "(cd internal/s3test/versitygw && GOWORK=off $(cmd_of setup-stores-versitygw-build))"
	(cd "$REPO/internal/s3test/versitygw" && GOWORK=off GOFLAGS=-mod=readonly go build -o "$T/versitygw" github.com/versity/versitygw/cmd/versitygw) \
		>"$LOGS/versitygw-build.log" 2>&1 || die "build versitygw: $(tail -n 5 "$LOGS/versitygw-build.log")"
	free_port S3_PORT
	S3_URL=http://127.0.0.1:$S3_PORT
	mkdir -p "$T/s3/root" "$T/s3/meta"
	export AWS_ACCESS_KEY_ID=benchaccess AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1
	# rclone 1.60 fails to start when given a CA bundle (its S3 client
	# cannot load one into rclone's transport); loopback is plain HTTP.
	unset AWS_CA_BUNDLE
	record setup-stores-versitygw "$T/versitygw" --port "127.0.0.1:$S3_PORT" --access benchaccess --secret benchsecret \
		--region us-east-1 --quiet posix --sidecar "$T/s3/meta" "$T/s3/root"
	start_bg versitygw "$T/versitygw" --port "127.0.0.1:$S3_PORT" --access benchaccess --secret benchsecret \
		--region us-east-1 --quiet posix --sidecar "$T/s3/meta" "$T/s3/root"
	# rclone's remote "bs3" by environment: the same server, path style,
	# the same credentials.
	export RCLONE_CONFIG_BS3_TYPE=s3 RCLONE_CONFIG_BS3_PROVIDER=Other RCLONE_CONFIG_BS3_ENDPOINT=$S3_URL \
		RCLONE_CONFIG_BS3_ACCESS_KEY_ID=benchaccess RCLONE_CONFIG_BS3_SECRET_ACCESS_KEY=benchsecret \
		RCLONE_CONFIG_BS3_REGION=us-east-1 RCLONE_CONFIG_BS3_FORCE_PATH_STYLE=true
	record_raw setup-stores-rclone "unset AWS_CA_BUNDLE; export AWS_ACCESS_KEY_ID=benchaccess AWS_SECRET_ACCESS_KEY=benchsecret RCLONE_CONFIG_BS3_TYPE=s3 RCLONE_CONFIG_BS3_PROVIDER=Other RCLONE_CONFIG_BS3_ENDPOINT=http://127.0.0.1:$S3_PORT RCLONE_CONFIG_BS3_ACCESS_KEY_ID=benchaccess RCLONE_CONFIG_BS3_SECRET_ACCESS_KEY=benchsecret RCLONE_CONFIG_BS3_REGION=us-east-1 RCLONE_CONFIG_BS3_FORCE_PATH_STYLE=true"
	ok=0
	for _ in $(seq 300); do
		if rclone lsd bs3: >/dev/null 2>&1; then ok=1 && break; fi
		kill -0 "${PIDS[versitygw]}" 2>/dev/null || die "versitygw exited: $(tail -n 5 "$LOGS/versitygw.log")"
		sleep 0.1
	done
	[ $ok = 1 ] || die "versitygw does not answer on $S3_URL"
	: >"$RES/backfill.jsonl"
	local -A bf_count=([small]=$BF_SMALL [large]=$BF_LARGE) bf_min=([small]=1KiB [large]=$BF_LARGE_SIZE) bf_max=([small]=64KiB [large]=$BF_LARGE_SIZE)
	local tool bucket store src
	for set in small large; do
		src=$T/payloads-$set
		mkdir -p "$src"
		run "setup-stores-src-$set" "$BIN" stores add "src-$set" --kind local --dir "$src" --base-url "http://127.0.0.1:$ST_ORIGIN_PORT" --database-url "$ST_DB"
		log "backfill: writing ${bf_count[$set]} $set payloads (${bf_min[$set]}-${bf_max[$set]})"
		run "setup-stores-payloads-$set" "$BIN" loadtest payloads --database-url "$ST_DB" --store "src-$set" --dir "$src" --name "$set" \
			--count "${bf_count[$set]}" --min-size "${bf_min[$set]}" --max-size "${bf_max[$set]}" --seed 1 --json
		n=$(jq .files "$RES/setup-stores-payloads-$set.json")
		bytes=$(jq .bytes "$RES/setup-stores-payloads-$set.json")
		sync
		note_load "backfill $set"
		for rep in $(seq "$REPS"); do
			for tool in $(rotate "$rep" maintain rclone); do
				bucket=$tool-$set-$rep
				rclone mkdir "bs3:$bucket" 2>>"$LOGS/rclone-mkdir.log" || die "rclone mkdir bs3:$bucket"
				id=backfill-$set-$tool-$rep
				if [ $tool = maintain ]; then
					store=s3-$set-$rep
					run "setup-$id" "$BIN" stores add "$store" --kind s3 --endpoint "$S3_URL" --region us-east-1 --bucket "$bucket" \
						--path-style --populate --database-url "$ST_DB"
					log "backfill: narthex stores maintain of $n $set payloads, --jobs $BF_JOBS, repetition $rep/$REPS"
					t0=$(date +%s%N)
					run "$id" timeout "$STEP_TIMEOUT" "$BIN" stores maintain --once --store "$store" --jobs "$BF_JOBS" --verify-sample 0 --database-url "$ST_DB"
					t1=$(date +%s%N)
					got=$(st_sql -c "SELECT count(*) || ' ' || coalesce(sum(l.size), 0) FROM payload_location l JOIN store s ON s.id = l.store_id
						WHERE s.name = '$store' AND l.state = 'good'")
					# The copies leave the records: the next repetition copies
					# from the local store again.
					st_sql -c "DELETE FROM payload_location l USING store s WHERE s.id = l.store_id AND s.name = '$store'" \
						-c "UPDATE store SET populate = false WHERE name = '$store'" >/dev/null
				else
					log "backfill: rclone copy of $n $set payloads, --transfers $BF_JOBS, repetition $rep/$REPS"
					t0=$(date +%s%N)
					run "$id" timeout "$STEP_TIMEOUT" rclone copy "$src" "bs3:$bucket" --transfers "$BF_JOBS" --checkers "$BF_JOBS" --no-check-dest \
						--s3-no-check-bucket --s3-disable-checksum
					t1=$(date +%s%N)
					got=$(rclone size "bs3:$bucket" --json | jq -r '"\(.count) \(.bytes)"')
				fi
				[ "$got" = "$n $bytes" ] || die "$id: the bucket holds $got (files bytes), not $n $bytes"
				jq -nc --arg set "$set" --arg tool "$tool" --argjson rep "$rep" --argjson ns $((t1 - t0)) --argjson files "$n" \
					--argjson bytes "$bytes" '{set: $set, tool: $tool, rep: $rep, ns: $ns, files: $files, bytes: $bytes}' >>"$RES/backfill.jsonl"
			done
		done
		# The set leaves the origin: the next one's backfill copies only its own.
		st_sql -c "DELETE FROM payload_location WHERE url LIKE 'nar/$set-%'" -c "DELETE FROM nar_file WHERE url LIKE 'nar/$set-%'" >/dev/null
		rm -rf "$src"
	done
	stop_bg versitygw

	# ------------------------------------------------------------ import

	# Two synthetic caches a repetition, of paths of their own (seeds),
	# so that each client uploads paths the origin does not have yet.
	local nixt=$T/stores-nix origin_url=http://127.0.0.1:$ST_ORIGIN_PORT before after
	mkdir -p "$nixt/home" "$nixt/conf"
	printf 'experimental-features = nix-command\nbuild-users-group =\nsandbox = false\nsubstituters =\n' >"$nixt/conf/nix.conf"
	: >"$RES/import.jsonl"
	note_load "import"
	for rep in $(seq "$REPS"); do
		for tool in $(rotate "$rep" narthex nix); do
			local cache=$T/filecache-$tool-$rep seed
			seed=$((2 * rep - 1))
			[ $tool = nix ] && seed=$((2 * rep))
			run "setup-stores-filecache-$tool-$rep" "$BIN" loadtest filecache --dir "$cache" --count "$IMPORT_PATHS" --size "$IMPORT_SIZE" \
				--seed "$seed" --paths-file "$cache.paths" --json
			bytes=$(jq .nar_bytes "$RES/setup-stores-filecache-$tool-$rep.json")
			before=$(st_sql -c "SELECT count(*) FROM narinfo")
			id=import-$tool-$rep
			log "import of a file:// cache of $IMPORT_PATHS paths by $tool, repetition $rep/$REPS"
			if [ $tool = narthex ]; then
				t0=$(date +%s%N)
				run "$id" timeout "$STEP_TIMEOUT" "$BIN" import "$cache" --origin "$origin_url" --token-file "$SDEV/token" --jobs "$BF_JOBS" --json
				t1=$(date +%s%N)
			else
				record_raw "$id" "HOME=$nixt/home NIX_CONF_DIR=$nixt/conf XDG_CACHE_HOME=\$(mktemp -d) nix copy --from file://$cache --to $origin_url --no-check-sigs --option netrc-file $SDEV/netrc \$(cat $cache.paths)"
				t0=$(date +%s%N)
				env HOME="$nixt/home" NIX_CONF_DIR="$nixt/conf" XDG_CACHE_HOME="$(mktemp -d "$nixt/xdg.XXXXXX")" timeout "$STEP_TIMEOUT" \
					xargs -a "$cache.paths" nix copy --from "file://$cache" --to "$origin_url" --no-check-sigs --option netrc-file "$SDEV/netrc" \
					>"$LOGS/$id.log" 2>&1 || die "$id: $(tail -n 5 "$LOGS/$id.log")"
				t1=$(date +%s%N)
			fi
			after=$(st_sql -c "SELECT count(*) FROM narinfo")
			[ $((after - before)) = "$IMPORT_PATHS" ] || die "$id: $((after - before)) of $IMPORT_PATHS paths arrived"
			jq -nc --arg tool "$tool" --argjson rep "$rep" --argjson ns $((t1 - t0)) --argjson paths "$IMPORT_PATHS" --argjson bytes "$bytes" \
				'{tool: $tool, rep: $rep, ns: $ns, paths: $paths, bytes: $bytes}' >>"$RES/import.jsonl"
			rm -rf "$cache"
		done
	done
	stop_bg stores_dev

	jq -n --argjson quick "$QUICK" --argjson reps "$REPS" --argjson lookup_reps "$LOOKUP_REPS" --arg duration "$LOOKUP_DUR" \
		--argjson redirect_keys "$REDIRECT_KEYS" --argjson jobs "$BF_JOBS" --argjson small "$BF_SMALL" --argjson large "$BF_LARGE" \
		--arg large_size "$BF_LARGE_SIZE" --arg rclone "$(rclone version | head -n 1)" --arg location "$location" \
		--argjson import_paths "$IMPORT_PATHS" --arg import_size "$IMPORT_SIZE" --arg nix "$(nix --version | sed 's/^nix (Nix) //')" \
		'$ARGS.named' >"$RES/stores.json"
}
