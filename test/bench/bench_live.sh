#!/usr/bin/env bash
#
# bench_live.sh: performance figures of live segments (segment.track_customers,
# segment.create, the triggers, segment.refresh, segment.members).
#
# Creates a throwaway PostgreSQL 15 cluster in a temporary directory, measures
# each figure against its baseline, prints one table, and removes the cluster
# again.  It installs nothing: run `make install` first.  It never fails on a
# missed target: it is a report.  About 8 minutes with the defaults.
#
#   test/bench/bench_live.sh                      # as root or any user
#   BENCH_PERF_DIR=/tmp/prof test/bench/bench_live.sh   # also keep perf profiles
#
# Settings (environment):
#   PG_CONFIG              pg_config of the server (default PostgreSQL 15's)
#   BENCH_PORT             port of the throwaway cluster (55650)
#   BENCH_USER             OS user the cluster runs as when started by root (benchuser)
#   BENCH_COPY_REPS        repetitions of the 1M-row COPY pair, figure 1 (5)
#   BENCH_QUERY_REPS       repetitions of the query pairs, figures 3-4 (11)
#   BENCH_PGBENCH_SECONDS  length of one pgbench run, figure 2 (10)
#   BENCH_PGBENCH_ROUNDS   tracked/untracked pairs of runs per pgbench figure (5)
#   BENCH_PERF_DIR         if set, record perf profiles of the subject side of
#                          each figure (perf record -a, DWARF call graphs) and
#                          write reports there (for the figures; it slows the
#                          runs it records, so take the table from a run without)
#
# Same method as bench_type.sh, with the same helpers (bench_common.sh:
# the cluster, psql, the interleaved pair bench_pair(), the table rows, the
# statements timed with their commit, pgbench, perf): every comparison is
# measured side by side, interleaved A B A B ..., and the figure is the
# median of each side.  Unlike bench_type.sh the cluster keeps the default
# fsync, synchronous_commit, full_page_writes and wal_level, so that COPY and
# pgbench pay for real commits.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The helpers every driver shares (bench_common.sh); sourcing runs nothing.
# shellcheck source=SCRIPTDIR/bench_common.sh
source "$HERE/bench_common.sh"

PORT=${BENCH_PORT:-55650}
COPY_REPS=${BENCH_COPY_REPS:-5}
QUERY_REPS=${BENCH_QUERY_REPS:-11}
PGB_SECONDS=${BENCH_PGBENCH_SECONDS:-10}
PGB_ROUNDS=${BENCH_PGBENCH_ROUNDS:-5}
PERF_DIR=${BENCH_PERF_DIR:-}
CUSTOMERS=1000000

# The cluster (start_cluster, DURABLE=1): default fsync, synchronous_commit,
# full_page_writes and wal_level: commits are real.  Both tables (about
# 130 MB each with the index) stay in shared_buffers (1GB).  One core per
# query, no JIT, as in bench_type.sh.  No autovacuum and no timed
# checkpoints: the script vacuums and checkpoints before every measured COPY
# and pgbench run instead, so that neither side meets one in the middle of
# its run.
WORK_NAME=segment-bench-live
DURABLE=1
TRACKED=customers_tracked
PLAIN=customers_plain

# pgbench, and perf with BENCH_PERF_DIR, besides bench_common.sh's checks.
more_prerequisites() { check_pgbench_and_perf; }

# The helper functions, the two tables, tracking, the rule segments, and
# the customers' rows in a file for figure 1.
build_data() {
	q "CREATE EXTENSION segment"
	psql_bench -f "$HERE/bench_funcs.sql" >/dev/null
	psql_bench -f "$HERE/bench_live_funcs.sql" >/dev/null
	log "tables, tracking and 10 rule segments"
	psql_bench -f "$HERE/bench_live_data.sql" >/dev/null
	log "writing the $CUSTOMERS customers to $WORK/customers.copy"
	q "COPY (SELECT * FROM bench_live_rows) TO '$WORK/customers.copy'"
}

print_environment() {
	echo "segment live-segments benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	env_machine
	env_server shared_buffers fsync synchronous_commit wal_level full_page_writes work_mem jit \
		max_parallel_workers_per_gather
	env_extension
	echo "repetitions: $COPY_REPS (figure 1), $QUERY_REPS (3, 4); pgbench: $PGB_ROUNDS rounds of ${PGB_SECONDS} s runs per pair (2)"
	echo "segments (rule, size after the COPY):"
	q "SELECT format('    %-12s %-40s %8s', name, rule, size) FROM segment.summary ORDER BY name"
}

# ---------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------

# 1: COPY of 1M customers into the tracked table (10 rules) vs the untracked
# twin.  TRUNCATE and CHECKPOINT before each COPY, not timed (the TRUNCATE
# of the tracked table fires the extension's truncate trigger: its time is
# kept as a note).
figure_1() {
	copy_rounds "$WORK/customers.copy"
	medians_ms "1 copy"
	ratio_row 1 "COPY 1M customers: tracked (10 rules) vs untracked" "<=" 2
	medians_ms "1 truncate"
	NOTES+=("1 TRUNCATE before each COPY (not in the figure), median ms: tracked $(fmt_ms "$MED_A") (the truncate trigger: every member leaves), untracked $(fmt_ms "$MED_B")")
	NOTES+=("1 rows: tracked $(q 'SELECT count(*) FROM customers_tracked'), untracked $(q 'SELECT count(*) FROM customers_plain'); stored members: $(q "SELECT string_agg(name || ' ' || size, ', ' ORDER BY name) FROM segment.summary")")
	log "VACUUM ANALYZE of both tables"
	vacuum_and_checkpoint ANALYZE
}

# 3: segment.refresh (a full recomputation) vs counting the same rule.
figure_3() {
	local seg rule fig res
	while IFS='|' read -r fig seg rule; do
		log "measuring 3: refresh('$seg') vs count(*) WHERE $rule"
		compare "$fig" "refresh('$seg') vs count(*) WHERE $rule" \
			"SELECT * FROM segment.refresh('$seg')" \
			"SELECT count(*) FROM customers_tracked WHERE $rule" "$QUERY_REPS" "<=" 1.5
		res=$(q "SELECT entered || ' entered, ' || exited || ' exited' FROM segment.refresh('$seg')")
		if [[ $fig == 3a ]]; then
			profile_query fig3-refresh "SELECT count(*) FROM segment.refresh('$seg')"
		fi
		NOTES+=("3 refresh('$seg') changed nothing (expected): $res; stored $(q "SELECT cardinality(segment.members('$seg'))"), count(*) $(q "SELECT count(*) FROM customers_tracked WHERE $rule")")
	done <<-'EOF'
		3a|rich|income > 150000
		3b|paying|income >= 1000
	EOF
}

# 4: assembling a ~1M-member segment from its chunks vs reading the same
# members stored as one value in a plain row.  4 is the figure (both sides
# read every byte); 4b is the same with pg_column_size() on both sides, as
# first specified, whose baseline reads nothing (pg_column_size of a stored
# out-of-line value is the size in its TOAST pointer); 4c is figure 4 for a
# segment of bitset chunks (~500k random members), bigger in bytes.
figure_4() {
	local name
	q "TRUNCATE one_bitmap"
	q "INSERT INTO one_bitmap SELECT name, segment.members(name) FROM unnest(ARRAY['paying', 'mobile']) name"
	q "VACUUM ANALYZE one_bitmap"
	compare 4 "cardinality(members('paying')) vs cardinality(s) FROM one_bitmap" \
		"SELECT cardinality(segment.members('paying'))" \
		"SELECT cardinality(s) FROM one_bitmap WHERE name = 'paying'" "$QUERY_REPS" "<=" 2
	compare 4b "pg_column_size(members('paying')) vs pg_column_size(s), ditto" \
		"SELECT pg_column_size(segment.members('paying'))" \
		"SELECT pg_column_size(s) FROM one_bitmap WHERE name = 'paying'" "$QUERY_REPS" "<=" 2
	compare 4c "cardinality(members('mobile')) vs cardinality(s) FROM one_bitmap" \
		"SELECT cardinality(segment.members('mobile'))" \
		"SELECT cardinality(s) FROM one_bitmap WHERE name = 'mobile'" "$QUERY_REPS" "<=" 2
	profile_query fig4-members "SELECT cardinality(segment.members('paying'))"
	profile_query fig4c-members "SELECT cardinality(segment.members('mobile'))"
	for name in paying mobile; do
		NOTES+=("4 '$name': $(q "SELECT cardinality(s) || ' members, ' || pg_column_size(s) || ' bytes as one value; ' FROM one_bitmap WHERE name = '$name'")$(q "SELECT count(*) || ' chunk rows of ' || sum(pg_column_size(members)) || ' bytes' FROM segment.chunks WHERE segment = '$name'"); same members: $(q "SELECT s = segment.members(name) FROM one_bitmap WHERE name = '$name'")")
	done
}

# 2: pgbench, 4 clients, 2 threads, single-row UPDATEs by random key, on
# the tracked table (A) and the untracked one (B), alternately.
figure_2() {
	local sync round w side tbl col target fig profile
	for tbl in customers_tracked customers_plain; do
		printf '\\set id random(1, %d)\n\\set v random(0, 199999)\nUPDATE %s SET income = :v WHERE id = :id;\n' \
			"$CUSTOMERS" "$tbl" >"$WORK/income_$tbl.sql"
		printf '\\set id random(1, %d)\n\\set v random(0, 199999)\nUPDATE %s SET notes = '"'"'note '"'"' || :v WHERE id = :id;\n' \
			"$CUSTOMERS" "$tbl" >"$WORK/notes_$tbl.sql"
	done
	log "measuring 2: pgbench warm-up, 3 s of each script"
	for w in income notes; do
		for tbl in customers_tracked customers_plain; do
			pgbench_run "" A 0 "$WORK/${w}_$tbl.sql" on 3
		done
	done
	for sync in on off; do
		for ((round = 1; round <= PGB_ROUNDS; round++)); do
			for w in income notes; do
				for side in A B; do
					tbl=customers_plain
					[[ $side == A ]] && tbl=customers_tracked
					log "measuring 2: UPDATE $w, synchronous_commit=$sync, $tbl, round $round of $PGB_ROUNDS"
					profile=""
					if [[ $side == A && $round -eq 2 ]]; then
						profile="fig2-$w-tracked-sync$sync"
					fi
					pgbench_run "2 $w sync=$sync" "$side" "$round" "$WORK/${w}_$tbl.sql" "$sync" \
						"$PGB_SECONDS" "$profile"
				done
			done
		done
		for w in income notes; do
			if [[ $w == income ]]; then
				fig=2a; target=50; col="income (a rule reads it)"
			else
				fig=2b; target=90; col="notes (no rule reads it)"
			fi
			[[ $sync == off ]] && fig="$fig'"
			medians_tps "2 $w sync=$sync"
			ratio_row "$fig" "pgbench UPDATE $col, sync_commit=$sync, tps" ">=" "$target" %
		done
	done
	NOTES+=("2 after the runs: $(q "SELECT (SELECT count(*) FROM segment.flips) || ' rows in segment.flips (' || pg_size_pretty(pg_total_relation_size('segment.flips')) || '), ' || (SELECT count(*) FROM segment.chunks) || ' in segment.chunks (' || pg_size_pretty(pg_total_relation_size('segment.chunks')) || ')'")")
}

print_table() {
	print_rows A B
	echo
	echo "A is the subject (the tracked table, the extension's function), B the baseline"
	echo "(the untracked table, plain SQL, a stored value).  Figures 1, 3, 4: medians in"
	echo "ms, ratio = A/B.  Figure 2: median tps, ratio = A/B in percent (2a', 2b': the"
	echo "same with synchronous_commit=off)."
	echo
	printf '%s\n' "${NOTES[@]}"
	echo
	echo "Spread of the samples: min / median / max of each side, in run order (ms; tps for figure 2):"
	print_spread "bench_samples|ms" "bench_live_tps|tps"
	echo
	print_pgbench_runs 22
}

live_main() {
	begin_run
	figure_1
	print_environment
	echo
	figure_3
	figure_4
	figure_2
	# after the pgbench runs: stored membership agrees with a fresh evaluation
	check_verify "after pgbench"
	print_table
	end_run
}

# Run unless sourced (sourcing gives the functions, for poking at a cluster).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	live_main "$@"
fi
