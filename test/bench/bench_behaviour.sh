#!/usr/bin/env bash
#
# bench_behaviour.sh: performance figures of behavioural segments (issue 4):
# segment.track_events, computed traits (segment.create_trait), rules that
# read them, and segment.refresh of a time-window segment.
#
# Creates a throwaway PostgreSQL 15 cluster in a temporary directory, loads
# 100,000 customers, a tracked event table with 5 traits and 10 behavioural
# segments and an untracked twin, measures each figure against its baseline,
# prints one table, and removes the cluster again.  It installs nothing: run
# `make install` first.  It never fails on a missed target: it is a report.
# About 6 minutes with the defaults (8 on a busy machine).
#
#   test/bench/bench_behaviour.sh                        # as root or any user
#   BENCH_CUSTOMERS=10000 BENCH_EVENTS=100000 BENCH_PGBENCH_SECONDS=4 \
#       BENCH_PGBENCH_ROUNDS=2 test/bench/bench_behaviour.sh   # a quick try
#   BENCH_PERF_DIR=/tmp/prof test/bench/bench_behaviour.sh     # also keep perf profiles
#
# Settings (environment):
#   PG_CONFIG              pg_config of the server (default PostgreSQL 15's)
#   BENCH_PORT             port of the throwaway cluster (55700)
#   BENCH_USER             OS user the cluster runs as when started by root (benchuser)
#   BENCH_CUSTOMERS        customers (100000)
#   BENCH_EVENTS           events in the COPY file, figures 1 and 3 (1000000)
#   BENCH_COPY_REPS        repetitions of the COPY pair, figure 1 (5)
#   BENCH_QUERY_REPS       repetitions of the refresh pairs, figure 3 (11)
#   BENCH_PGBENCH_SECONDS  length of one pgbench run, figure 2 (10)
#   BENCH_PGBENCH_ROUNDS   untracked/tracked pairs of runs per pgbench row (5)
#   BENCH_PERF_DIR         if set, record perf profiles of the subject side of
#                          each figure (perf record -a, DWARF call graphs) and
#                          write reports there (it slows the runs it records,
#                          so take the table from a run without)
#
# Same method as bench_live.sh, with the same helpers (bench_common.sh: the
# cluster, psql, bench_pair(), the table rows, the statements timed with
# their commit, pgbench, perf): every comparison is measured side by side,
# interleaved A B A B ..., and the figure is the median of each side.  The
# cluster keeps the default fsync, synchronous_commit, full_page_writes and
# wal_level, so that COPY and pgbench pay for real commits.  The reference
# time (what now() means in traits and rules, segment.reference_time) is
# fixed, 2026-06-30 00:00 UTC, for the database: the generated events fall
# in the 180 days before it, so membership does not depend on the day the
# benchmark runs.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The helpers every driver shares (bench_common.sh); sourcing runs nothing.
# shellcheck source=SCRIPTDIR/bench_common.sh
source "$HERE/bench_common.sh"

PORT=${BENCH_PORT:-55700}
CUSTOMERS=${BENCH_CUSTOMERS:-100000}
EVENTS=${BENCH_EVENTS:-1000000}
COPY_REPS=${BENCH_COPY_REPS:-5}
QUERY_REPS=${BENCH_QUERY_REPS:-11}
PGB_SECONDS=${BENCH_PGBENCH_SECONDS:-10}
PGB_ROUNDS=${BENCH_PGBENCH_ROUNDS:-5}
PERF_DIR=${BENCH_PERF_DIR:-}
REF='2026-06-30 00:00+00'

# The cluster (start_cluster, DURABLE=1, as bench_live.sh's): default fsync,
# synchronous_commit, full_page_writes and wal_level (commits are real);
# both event tables (about 130 MB each with their indexes) stay in
# shared_buffers (1GB); one core per query, no JIT; no autovacuum and no
# timed checkpoints: the script vacuums and checkpoints before every
# measured COPY and pgbench run instead.
WORK_NAME=segment-bench-behaviour
DURABLE=1
TRACKED=events
PLAIN=events_plain
# timed records the backend's CPU time besides (bench_live_timed with
# clk_tck): the COPY of figure 1 is mostly CPU in the backend (the
# evaluation at pre-commit included), and on a shared machine its elapsed
# time also holds waits for the disk and for the cores; its CPU time holds
# only its own work.  Each call adds two samples: LABEL (elapsed ms) and
# "LABEL cpu" (CPU ms).
TIMED_CLK_TCK=$(getconf CLK_TCK)

# An installed segment with track_events, pgbench (and perf with
# BENCH_PERF_DIR), customers that are no multiple of 7919, besides
# bench_common.sh's checks.
more_prerequisites() {
	grep -q 'FUNCTION segment.track_events' "$SHAREDIR"/extension/segment--*.sql ||
		die "the installed segment has no segment.track_events: run make install of a newer tree"
	((CUSTOMERS % 7919 != 0)) || die "BENCH_CUSTOMERS must not be a multiple of 7919"
	check_pgbench_and_perf
}

# The reference time, the helper functions, the customers, the event tables,
# tracking, traits and segments, and the events in a file for figure 1.
build_data() {
	local t0=$SECONDS
	q "ALTER DATABASE bench SET segment.reference_time = '$REF'"
	q "CREATE EXTENSION segment"
	psql_bench -f "$HERE/bench_funcs.sql" >/dev/null
	psql_bench -f "$HERE/bench_live_funcs.sql" >/dev/null
	log "$CUSTOMERS customers, the event tables, tracking, 5 traits and 10 segments"
	psql_bench -v customers="$CUSTOMERS" -v events="$EVENTS" -v ref="$REF" \
		-f "$HERE/bench_behaviour_data.sql" >/dev/null
	q "VACUUM ANALYZE customers"
	log "writing the $EVENTS events to $WORK/events.copy"
	q "COPY (SELECT * FROM bench_behaviour_rows) TO '$WORK/events.copy'"
	log "data built in $((SECONDS - t0)) s"
}

print_environment() {
	echo "segment behavioural-segments benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	env_machine
	env_server shared_buffers fsync synchronous_commit wal_level full_page_writes work_mem jit \
		max_parallel_workers_per_gather
	env_extension
	echo "data: $CUSTOMERS customers, $EVENTS events; segment.reference_time = $(q 'SHOW segment.reference_time')"
	echo "repetitions: $COPY_REPS (figure 1), $QUERY_REPS (3); pgbench: $PGB_ROUNDS rounds of ${PGB_SECONDS} s runs per pair (2)"
	echo "traits:"
	q "SELECT format('    %-16s %s', name, definition) FROM segment.trait_definitions WHERE NOT hidden ORDER BY name"
	echo "segments (rule, size after the COPY):"
	q "SELECT format('    %-14s %-42s %8s', name, rule, size) FROM segment.summary ORDER BY name"
}

# ---------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------

# 1: COPY of the events into the tracked table (5 traits, 10 segments) vs
# the untracked twin.  Each COPY is its own transaction, timed up to and
# including its COMMIT, where the extension evaluates the noted customers.
# TRUNCATE and CHECKPOINT before each COPY, not timed (the TRUNCATE of the
# tracked table notes every customer, who are re-evaluated with no events
# at its commit: its time is kept as a note).
figure_1() {
	copy_rounds "$WORK/events.copy" "customer_id, at, kind, amount"
	medians_ms "1 copy"
	ratio_row 1 "COPY $(num "$EVENTS") events: tracked (5 traits, 10 segs) vs untracked" "<=" 3
	medians_ms "1 copy cpu"
	ratio_row 1c "the same COPY, CPU time of the backend" "<=" 3
	medians_ms "1 truncate"
	NOTES+=("1 TRUNCATE before each COPY (not in the figure), median ms: tracked $(fmt_ms "$MED_A") (every customer is re-evaluated), untracked $(fmt_ms "$MED_B")")
	NOTES+=("1 rows: tracked $(q 'SELECT count(*) FROM events'), untracked $(q 'SELECT count(*) FROM events_plain'), $(q 'SELECT count(DISTINCT customer_id) FROM events') customers with events")
	log "VACUUM ANALYZE of both tables"
	vacuum_and_checkpoint ANALYZE
}

# An integer with thousands separators (as the locale has them).
num() { printf "%'d" "$1" 2>/dev/null || echo "$1"; }

# 3: segment.refresh of a 30-day-window segment vs the hand-written query
# that computes the same members (a segment value, from the same events).
figure_3() {
	local fig seg hand same
	while IFS='|' read -r fig seg hand; do
		log "measuring 3: refresh('$seg') vs the hand-written query"
		echo "Figure $fig baseline (EXPLAIN ANALYZE, TIMING OFF):"
		q "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) SELECT cardinality(segment_agg(customer_id)) FROM ($hand) s" |
			sed 's/^/    /'
		echo
		compare "$fig" "refresh('$seg') vs hand-written GROUP BY -> segment_agg" \
			"SELECT entered + exited FROM segment.refresh('$seg')" \
			"SELECT cardinality(segment_agg(customer_id)) FROM ($hand) s" "$QUERY_REPS" "<=" 1.5
		[[ $fig == 3 ]] && profile_query fig3-refresh "SELECT count(*) FROM segment.refresh('$seg')"
		same=$(q "SELECT segment.members('$seg') = (SELECT segment_agg(customer_id) FROM ($hand) s)")
		if [[ $same == t ]]; then
			NOTES+=("check $fig: members('$seg') equals the hand-written set, $(q "SELECT cardinality(segment.members('$seg'))") members; refresh changed $RES_A (expected 0)")
		else
			NOTES+=("CHECK FAILED $fig: members('$seg') ($(q "SELECT cardinality(segment.members('$seg'))")) differs from the hand-written set ($RES_B)")
		fi
	done <<-EOF
		3|buyers_30d|SELECT customer_id FROM events WHERE kind = 'purchase' AND at > timestamptz '$REF' - interval '30 days' GROUP BY customer_id HAVING count(*) >= 3
		3b|stopped|SELECT customer_id FROM events WHERE at > timestamptz '$REF' - interval '60 days' GROUP BY customer_id HAVING count(*) FILTER (WHERE at <= timestamptz '$REF' - interval '30 days') > 0 AND count(DISTINCT kind) FILTER (WHERE at > timestamptz '$REF' - interval '30 days') = 0
	EOF
	# 3b's baseline without its WHERE: the same two traits over every
	# event, as the refresh computes them (no conjunct is common to both
	# traits' filters); one run, for the notes.
	NOTES+=("3b the same hand-written query without its WHERE (every event aggregated, as refresh does): $(fmt_ms "$(q "SELECT ms FROM bench_once(\$q\$SELECT cardinality(segment_agg(customer_id)) FROM (SELECT customer_id FROM events GROUP BY customer_id HAVING count(*) FILTER (WHERE at > timestamptz '$REF' - interval '60 days' AND at <= timestamptz '$REF' - interval '30 days') > 0 AND count(DISTINCT kind) FILTER (WHERE at > timestamptz '$REF' - interval '30 days') = 0) s\$q\$, NULL)")") ms (one run)")
}

# 2: pgbench, 4 clients, 2 threads, prepared single-row event INSERTs into
# the untracked table (B) and the tracked one (A), alternately.  Each
# insert: a random existing customer, a kind from a small weighted set
# (view 45%, login 20%, email_open 15%, add_to_cart 10%, purchase 10%,
# with an amount), a time in the day before the reference time.
figure_2() {
	local sync round side tbl fig profile t
	for tbl in events events_plain; do
		cat >"$WORK/insert_$tbl.sql" <<-EOF
			\\set c random(1, $CUSTOMERS)
			\\set k random(1, 20)
			\\set s random(0, 86399)
			\\set a random(500, 29999)
			INSERT INTO $tbl (customer_id, at, kind, amount) VALUES (:c, timestamptz '$REF' - make_interval(secs => :s), (ARRAY['view', 'view', 'view', 'view', 'view', 'view', 'view', 'view', 'view', 'login', 'login', 'login', 'login', 'email_open', 'email_open', 'email_open', 'add_to_cart', 'add_to_cart', 'purchase', 'purchase'])[:k], CASE WHEN :k >= 19 THEN :a / 100.0 END);
		EOF
	done
	t=$(q "SELECT count(*) FROM events")
	log "measuring 2: pgbench warm-up, 3 s of each script"
	for tbl in events_plain events; do
		pgbench_run "" A 0 "$WORK/insert_$tbl.sql" on 3
	done
	for sync in on off; do
		for ((round = 1; round <= PGB_ROUNDS; round++)); do
			for side in B A; do
				tbl=events_plain
				[[ $side == A ]] && tbl=events
				log "measuring 2: INSERT events, synchronous_commit=$sync, $tbl, round $round of $PGB_ROUNDS"
				profile=""
				[[ $side == A && $round -eq 2 ]] && profile="fig2-insert-tracked-sync$sync"
				pgbench_run "2 insert sync=$sync" "$side" "$round" "$WORK/insert_$tbl.sql" "$sync" \
					"$PGB_SECONDS" "$profile"
			done
		done
		fig=2
		[[ $sync == off ]] && fig="2'"
		medians_tps "2 insert sync=$sync"
		ratio_row "$fig" "pgbench INSERT one event, sync_commit=$sync, tps" ">=" 40 %
	done
	NOTES+=("2 the pgbench runs (warm-up included) added $(( $(q "SELECT count(*) FROM events") - t )) events to the tracked table, $(( $(q "SELECT count(*) FROM events_plain") - t )) to the untracked one; then $(q "SELECT count(*) || ' rows in segment.chunks (' || pg_size_pretty(pg_total_relation_size('segment.chunks')) || ')' FROM segment.chunks"), $(q "SELECT count(*) || ' in segment.flips (' || pg_size_pretty(pg_total_relation_size('segment.flips')) || ')' FROM segment.flips")")
}

print_table() {
	print_rows A B
	echo
	echo "A is the subject (the tracked event table, segment.refresh), B the baseline"
	echo "(the untracked twin, the hand-written query).  Figures 1, 3: medians in ms,"
	echo "ratio = A/B.  Figure 2: median tps, ratio = A/B in percent (2': the same with"
	echo "synchronous_commit=off)."
	echo
	printf '%s\n' "${NOTES[@]}"
	echo
	echo "Spread of the samples: min / median / max of each side, in run order (ms; tps for figure 2):"
	print_spread "bench_samples|ms" "bench_live_tps|tps"
	echo
	print_pgbench_runs 20
}

behaviour_main() {
	begin_run
	figure_1
	print_environment
	echo
	check_verify "after the COPY"
	figure_3
	figure_2
	check_verify "after pgbench"
	print_table
	end_run
}

# Run unless sourced (sourcing gives the functions, for poking at a cluster).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	behaviour_main "$@"
fi
