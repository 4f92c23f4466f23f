# dashboard.sh: section 9 of bench.sh (sourced by it, with its helpers
# and settings): the dashboard's queries on a year of fetch counts, in a
# database of their own on a PostgreSQL of their own (a third `narthex
# dev`, with no edge), so that no other section's data takes part.
# Result: dashboard.json.

dashboard_section() {
	free_port DB_ORIGIN_PORT
	free_port DB_PG_PORT
	local dir=$T/dashboard-dev
	local admin="postgres://postgres@127.0.0.1:$DB_PG_PORT/postgres?sslmode=disable"
	local db="postgres://postgres@127.0.0.1:$DB_PG_PORT/dashboard?sslmode=disable"
	log "dashboard: starting narthex dev (PostgreSQL + origin) on 127.0.0.1:$DB_ORIGIN_PORT for section 9"
	start_dev dashboard_dev "$dir" "$DB_ORIGIN_PORT" "$DB_PG_PORT"
	record_raw setup-dashboard-database "psql \"$admin\" -c \"CREATE DATABASE dashboard\""
	psql "$admin" -XAtq -v ON_ERROR_STOP=1 -c "CREATE DATABASE dashboard" >/dev/null
	note_load "dashboard"
	log "dashboard: filling a year of fetch counts and timing the dashboard's queries (about 15 minutes)"
	run dashboard "$BIN" loadtest dashboard --database-url "$db" --json
	stop_bg dashboard_dev
}
