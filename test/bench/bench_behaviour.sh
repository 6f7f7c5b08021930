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
# Same method as bench_live.sh (and bench_type.sh, whose helpers it sources:
# cluster teardown, psql, bench_pair(), the table rows): every comparison is
# measured side by side, interleaved A B A B ..., and the figure is the
# median of each side.  The cluster keeps the default fsync,
# synchronous_commit, full_page_writes and wal_level, so that COPY and
# pgbench pay for real commits.  The reference time (what now() means in
# traits and rules, segment.reference_time) is fixed, 2026-06-30 00:00 UTC,
# for the database: the generated events fall in the 180 days before it, so
# membership does not depend on the day the benchmark runs.

set -euo pipefail

BEHAVIOUR_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The type benchmark's helpers: log die as_owner cleanup psql_bench q add_row
# fmt_ms meets pair compare.  Sourcing it runs nothing.
# shellcheck source=bench_type.sh
source "$BEHAVIOUR_HERE/bench_type.sh"
HERE=$BEHAVIOUR_HERE

PORT=${BENCH_PORT:-55700}
CUSTOMERS=${BENCH_CUSTOMERS:-100000}
EVENTS=${BENCH_EVENTS:-1000000}
COPY_REPS=${BENCH_COPY_REPS:-5}
QUERY_REPS=${BENCH_QUERY_REPS:-11}
PGB_SECONDS=${BENCH_PGBENCH_SECONDS:-10}
PGB_ROUNDS=${BENCH_PGBENCH_ROUNDS:-5}
PERF_DIR=${BENCH_PERF_DIR:-}
REF='2026-06-30 00:00+00'

# ---------------------------------------------------------------------------
# Cluster (bench_live.sh's: real commits)
# ---------------------------------------------------------------------------

check_prerequisites() {
	[[ -x $PG_CONFIG ]] || die "no pg_config at $PG_CONFIG (set PG_CONFIG)"
	PGBIN=$("$PG_CONFIG" --bindir)
	local sharedir
	sharedir=$("$PG_CONFIG" --sharedir)
	[[ -f $sharedir/extension/segment.control ]] ||
		die "segment is not installed in $sharedir: run make install first"
	grep -q 'FUNCTION segment.track_events' "$sharedir"/extension/segment--*.sql ||
		die "the installed segment has no segment.track_events: run make install of a newer tree"
	[[ -x $PGBIN/pgbench ]] || die "no pgbench in $PGBIN"
	((CUSTOMERS % 7919 != 0)) || die "BENCH_CUSTOMERS must not be a multiple of 7919"
	if [[ -n $PERF_DIR ]]; then
		command -v perf >/dev/null || die "BENCH_PERF_DIR is set but perf is not installed"
		mkdir -p "$PERF_DIR"
	fi
	if [[ $EUID -eq 0 ]] && ! id "$BENCH_USER" >/dev/null 2>&1; then
		log "creating OS user $BENCH_USER"
		useradd --system --no-create-home --shell /usr/sbin/nologin "$BENCH_USER"
	fi
}

start_cluster() {
	WORK=$(mktemp -d /tmp/segment-bench-behaviour.XXXXXX)
	chmod 755 "$WORK"
	[[ $EUID -eq 0 ]] && chown "$BENCH_USER" "$WORK"
	DBUSER=$(as_owner id -un)

	log "initdb in $WORK/data"
	as_owner "$PGBIN/initdb" -D "$WORK/data" --auth=trust --no-sync -E UTF8 \
		--locale=C -U "$DBUSER" >"$WORK/initdb.log" 2>&1 ||
		{ cat "$WORK/initdb.log" >&2; die "initdb failed"; }

	# As bench_live.sh: default fsync, synchronous_commit, full_page_writes
	# and wal_level (commits are real); both event tables (about 130 MB each
	# with their indexes) stay in shared_buffers; one core per query, no
	# JIT; no autovacuum and no timed checkpoints: the script vacuums and
	# checkpoints before every measured COPY and pgbench run instead.
	cat >>"$WORK/data/postgresql.conf" <<-EOF
		port = $PORT
		listen_addresses = ''
		unix_socket_directories = '$WORK'
		shared_buffers = 1GB
		max_parallel_workers_per_gather = 0
		jit = off
		max_wal_size = 8GB
		checkpoint_timeout = 1h
		autovacuum = off
	EOF

	log "starting the cluster on port $PORT"
	STARTED=1
	as_owner "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 120 start >/dev/null ||
		die "the server did not start"
	"$PGBIN/createdb" -h "$WORK" -p "$PORT" -U "$DBUSER" bench
	q "ALTER DATABASE bench SET segment.reference_time = '$REF'"
}

# bench_live_timed with the backend's CPU time besides: the COPY of figure 1
# is mostly CPU in the backend (the evaluation at pre-commit included),
# and on a shared machine its elapsed time also holds waits for the disk
# and for the cores; its CPU time (utime + stime from /proc/self/stat, in
# clock ticks) holds only its own work.  Each call adds two samples:
# LABEL (elapsed ms) and "LABEL cpu" (CPU ms).
timing_helpers() {
	psql_bench >/dev/null <<-EOF
		CREATE FUNCTION bench_cpu_ms() RETURNS float8 LANGUAGE sql VOLATILE AS \$\$
			SELECT (split_part(s, ' ', 12)::float8 + split_part(s, ' ', 13)::float8) * 1000 / $(getconf CLK_TCK)
			  FROM (SELECT split_part(pg_read_file('/proc/self/stat'), ') ', 2) AS s) x
		\$\$;
		CREATE PROCEDURE bench_behaviour_timed(label text, side char, rep int, q text)
		LANGUAGE plpgsql AS \$\$
		DECLARE
			t0 timestamptz;
			c0 float8;
		BEGIN
			COMMIT;		-- start from a fresh transaction: nothing before q is timed
			c0 := bench_cpu_ms();
			t0 := clock_timestamp();
			EXECUTE q;
			COMMIT;
			INSERT INTO bench_samples VALUES (label, side, rep,
				extract(epoch FROM clock_timestamp() - t0)::float8 * 1000);
			INSERT INTO bench_samples VALUES (label || ' cpu', side, rep, bench_cpu_ms() - c0);
		END
		\$\$;
	EOF
}

build_data() {
	local t0=$SECONDS
	q "CREATE EXTENSION segment"
	psql_bench -f "$HERE/bench_funcs.sql" >/dev/null
	psql_bench -f "$HERE/bench_live_funcs.sql" >/dev/null
	timing_helpers
	log "$CUSTOMERS customers, the event tables, tracking, 5 traits and 10 segments"
	psql_bench -v customers="$CUSTOMERS" -v events="$EVENTS" -v ref="$REF" \
		-f "$HERE/bench_behaviour_data.sql" >/dev/null
	q "VACUUM ANALYZE customers"
	log "writing the $EVENTS events to $WORK/events.copy"
	q "COPY (SELECT * FROM bench_behaviour_rows) TO '$WORK/events.copy'"
	log "data built in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------
# Profiles (optional, BENCH_PERF_DIR): as in bench_live.sh
# ---------------------------------------------------------------------------

PERF_PID=""
PIDS_PID=""

# perf_start NAME: record the whole machine (DWARF call graphs: PostgreSQL
# is built without frame pointers) until perf_stop, and note this
# cluster's processes meanwhile (the machine is shared: the report keeps
# only them).
perf_start() {
	[[ -n $PERF_DIR ]] || return 0
	local name=$1 pm
	pm=$(head -1 "$WORK/data/postmaster.pid")
	PERF_NAME=$name
	: >"$PERF_DIR/$name.pids"
	perf record -a -F 499 --call-graph dwarf,16384 -o "$PERF_DIR/$name.data" \
		>/dev/null 2>"$PERF_DIR/$name.record.log" &
	PERF_PID=$!
	(while kill -0 "$PERF_PID" 2>/dev/null; do
		{ echo "$pm"; ps --ppid "$pm" -o pid= 2>/dev/null || true; } >>"$PERF_DIR/$name.pids"
		sleep 0.3
	done) &
	PIDS_PID=$!
	sleep 1		# let perf start
}

perf_stop() {
	[[ -n $PERF_DIR && -n $PERF_PID ]] || return 0
	local name=$PERF_NAME pids
	kill -INT "$PERF_PID" 2>/dev/null || true
	wait "$PERF_PID" 2>/dev/null || true
	wait "$PIDS_PID" 2>/dev/null || true
	PERF_PID=""
	pids=$(tr -s ' \n' '\n' <"$PERF_DIR/$name.pids" | grep -E '^[0-9]+$' | sort -un | paste -sd,)
	# self time by library and function; the same summed by library;
	# inclusive time (callers included) of the named functions
	perf report -i "$PERF_DIR/$name.data" --pid "$pids" --no-children --sort dso,sym \
		--stdio -g none --percentage relative 2>/dev/null |
		grep -E '^ +[0-9.]+%' >"$PERF_DIR/$name.all.txt" || true
	head -n 60 "$PERF_DIR/$name.all.txt" >"$PERF_DIR/$name.flat.txt"
	awk '{ sub(/%/, "", $1); t[$2] += $1 } END { for (d in t) printf "%7.2f%%  %s\n", t[d], d }' \
		"$PERF_DIR/$name.all.txt" | sort -rn >"$PERF_DIR/$name.dso.txt"
	perf report -i "$PERF_DIR/$name.data" --pid "$pids" --children --sort dso,sym \
		--stdio -g none --percentage relative --percent-limit 1 2>/dev/null |
		grep -E '^ +[0-9.]+%' | grep -v ' 0x0000' >"$PERF_DIR/$name.children.txt" || true
	log "profile of $name in $PERF_DIR/$name.{flat,dso,children}.txt"
}

# profile_query NAME SQL: with BENCH_PERF_DIR, profile SQL run in a loop for
# 5 s in one backend (nothing else runs meanwhile).
profile_query() {
	[[ -n $PERF_DIR ]] || return 0
	perf_start "$1"
	q "DO \$bench\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
		WHILE clock_timestamp() < t0 + interval '5 s' LOOP PERFORM ($2); END LOOP; END \$bench\$"
	perf_stop
}

# ---------------------------------------------------------------------------
# Measuring and reporting
# ---------------------------------------------------------------------------

# timed LABEL SIDE REP SQL: one statement in its own transaction, timed on
# the server including its commit (bench_behaviour_timed: the statement's
# triggers and the evaluation of the noted customers at pre-commit count),
# elapsed and CPU.
timed() {
	local sql=${4//\'/\'\'}
	psql_bench -c "CALL bench_behaviour_timed('$1', '$2', $3, '$sql')"
}

medians_ms() {
	IFS='|' read -r MED_A MED_B <<<"$(q "SELECT bench_live_median_ms('$1', 'A'), bench_live_median_ms('$1', 'B')")"
}

ratio_row() {
	local fig=$1 name=$2 op=$3 target=$4 ratio verdict
	ratio=$(awk -v a="$MED_A" -v b="$MED_B" 'BEGIN { printf "%.2f", a / b }')
	if meets "$ratio" "$op" "$target"; then verdict=PASS; else verdict=MISS; fi
	add_row "$fig" "$name" "$(fmt_ms "$MED_A")" "$(fmt_ms "$MED_B")" "${ratio}x" "$op ${target}x" "$verdict"
}

vacuum_and_checkpoint() {
	q "VACUUM events, events_plain, segment.chunks, segment.flips"
	q "CHECKPOINT"
}

# check_verify WHEN: stored membership agrees with a fresh evaluation of
# every segment.
check_verify() {
	local n verdict
	log "checking segment.verify() $1"
	n=$(q "SELECT count(*) FROM segment.verify()")
	if [[ $n == 0 ]]; then verdict=PASS; else verdict=MISS; fi
	add_row check "SELECT count(*) FROM segment.verify() $1" "$n" "" "" "= 0" "$verdict"
}

print_environment() {
	echo "segment behavioural-segments benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
	echo "server: $(q 'SHOW server_version'), shared_buffers=$(q 'SHOW shared_buffers'), fsync=$(q 'SHOW fsync'),"\
		"synchronous_commit=$(q 'SHOW synchronous_commit'), wal_level=$(q 'SHOW wal_level'),"\
		"full_page_writes=$(q 'SHOW full_page_writes'), work_mem=$(q 'SHOW work_mem'), jit=$(q 'SHOW jit'),"\
		"max_parallel_workers_per_gather=$(q 'SHOW max_parallel_workers_per_gather')"
	echo "extension: segment $(q "SELECT extversion FROM pg_extension WHERE extname = 'segment'"), source tree at commit $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')$(
		[[ -n $(git -C "$HERE/../.." status --porcelain -- src 2>/dev/null) ]] && echo ' (src/ modified)')"
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
	local i side tbl file=$WORK/events.copy
	for ((i = 1; i <= COPY_REPS; i++)); do
		for side in A B; do
			tbl=events_plain
			[[ $side == A ]] && tbl=events
			log "measuring 1: COPY into $tbl, repetition $i of $COPY_REPS"
			timed "1 truncate" "$side" "$i" "TRUNCATE $tbl"
			q "CHECKPOINT"
			if [[ $side == A && $i -eq $COPY_REPS ]]; then
				perf_start fig1-copy-tracked
				timed "1 copy" "$side" "$i" "COPY $tbl (customer_id, at, kind, amount) FROM '$file'"
				perf_stop
			else
				timed "1 copy" "$side" "$i" "COPY $tbl (customer_id, at, kind, amount) FROM '$file'"
			fi
		done
	done
	medians_ms "1 copy"
	ratio_row 1 "COPY $(num "$EVENTS") events: tracked (5 traits, 10 segs) vs untracked" "<=" 3
	medians_ms "1 copy cpu"
	ratio_row 1c "the same COPY, CPU time of the backend" "<=" 3
	medians_ms "1 truncate"
	NOTES+=("1 TRUNCATE before each COPY (not in the figure), median ms: tracked $(fmt_ms "$MED_A") (every customer is re-evaluated), untracked $(fmt_ms "$MED_B")")
	NOTES+=("1 rows: tracked $(q 'SELECT count(*) FROM events'), untracked $(q 'SELECT count(*) FROM events_plain'), $(q 'SELECT count(DISTINCT customer_id) FROM events') customers with events")
	log "VACUUM ANALYZE of both tables"
	q "VACUUM ANALYZE events, events_plain, segment.chunks, segment.flips, segment.definitions"
	q "CHECKPOINT"
}

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

# pgbench_run LABEL SIDE REP SCRIPT SYNC SECONDS [PROFILE]: one pgbench run
# (after VACUUM and CHECKPOINT); appends its tps to bench_live_tps unless
# LABEL is empty (warm-up).  With PROFILE (and BENCH_PERF_DIR), perf records
# the middle of the run.
pgbench_run() {
	local label=$1 side=$2 rep=$3 script=$4 sync=$5 seconds=$6 profile=${7:-} out rc tps lat failed
	vacuum_and_checkpoint
	if [[ -n $profile && -n $PERF_DIR ]]; then
		(sleep 1; perf_start "$profile"; sleep $((seconds > 5 ? seconds - 4 : 1)); perf_stop) &
	fi
	rc=0
	out=$(PGOPTIONS="-c synchronous_commit=$sync" "$PGBIN/pgbench" -h "$WORK" -p "$PORT" -U "$DBUSER" \
		-n -M prepared -c 4 -j 2 -T "$seconds" -f "$script" bench 2>&1) || rc=$?
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
	wait	# the profile, if any
	if [[ $rc -ne 0 || -z $tps ]]; then
		NOTES+=("PGBENCH PROBLEM $label $side run $rep (exit $rc): $(grep -m3 -E 'ERROR|aborted|FATAL' <<<"$out" | tr '\n' ' ')")
	fi
	[[ -n $label ]] || return 0
	q "INSERT INTO bench_live_tps VALUES ('$label', '$side', $rep, ${tps:-0}, ${lat:-NULL}, ${failed:-NULL})"
	log "    $label $side run $rep: ${tps:-?} tps, ${lat:-?} ms average latency"
}

# 2: pgbench, 4 clients, 2 threads, prepared single-row event INSERTs into
# the untracked table (B) and the tracked one (A), alternately.  Each
# insert: a random existing customer, a kind from a small weighted set
# (view 45%, login 20%, email_open 15%, add_to_cart 10%, purchase 10%,
# with an amount), a time in the day before the reference time.
figure_2() {
	local sync round side tbl label ratio verdict fig profile t
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
		label="2 insert sync=$sync"
		IFS='|' read -r MED_A MED_B <<<"$(q "SELECT bench_live_median_tps('$label', 'A'), bench_live_median_tps('$label', 'B')")"
		ratio=$(awk -v a="$MED_A" -v b="$MED_B" 'BEGIN { printf "%.0f", 100 * a / b }')
		fig=2
		[[ $sync == off ]] && fig="2'"
		if meets "$ratio" ">=" 40; then verdict=PASS; else verdict=MISS; fi
		add_row "$fig" "pgbench INSERT one event, sync_commit=$sync, tps" \
			"$(fmt_ms "$MED_A")" "$(fmt_ms "$MED_B")" "${ratio}%" ">= 40%" "$verdict"
	done
	NOTES+=("2 the pgbench runs (warm-up included) added $(( $(q "SELECT count(*) FROM events") - t )) events to the tracked table, $(( $(q "SELECT count(*) FROM events_plain") - t )) to the untracked one; then $(q "SELECT count(*) || ' rows in segment.chunks (' || pg_size_pretty(pg_total_relation_size('segment.chunks')) || ')' FROM segment.chunks"), $(q "SELECT count(*) || ' in segment.flips (' || pg_size_pretty(pg_total_relation_size('segment.flips')) || ')' FROM segment.flips")")
}

print_table() {
	local tab
	echo
	printf '%-4s %-62s %10s %10s %9s %12s  %s\n' fig measurement "A" "B" ratio target result
	printf '%s\n' "$(printf '%.0s-' {1..122})"
	printf '%s\n' "${RESULTS[@]}"
	echo
	echo "A is the subject (the tracked event table, segment.refresh), B the baseline"
	echo "(the untracked twin, the hand-written query).  Figures 1, 3: medians in ms,"
	echo "ratio = A/B.  Figure 2: median tps, ratio = A/B in percent (2': the same with"
	echo "synchronous_commit=off)."
	echo
	printf '%s\n' "${NOTES[@]}"
	echo
	echo "Spread of the samples: min / median / max of each side, in run order (ms; tps for figure 2):"
	for tab in "bench_samples|ms" "bench_live_tps|tps"; do
		q "SELECT format('  %-62s A %s / %s / %s   B %s / %s / %s', label,
				round(min(v) FILTER (WHERE side = 'A')::numeric, 2),
				round((percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FILTER (WHERE side = 'A'))::numeric, 2),
				round(max(v) FILTER (WHERE side = 'A')::numeric, 2),
				round(min(v) FILTER (WHERE side = 'B')::numeric, 2),
				round((percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FILTER (WHERE side = 'B'))::numeric, 2),
				round(max(v) FILTER (WHERE side = 'B')::numeric, 2))
			   FROM (SELECT ctid, label, side, ${tab#*|} AS v FROM ${tab%|*}) s
			  GROUP BY label ORDER BY min(ctid)"
	done
	echo
	echo "pgbench runs (tps / average latency ms), in run order:"
	q "SELECT format('  %-20s %s', label, string_agg(side || rep || ' ' || round(tps::numeric) || '/' || round(latency_ms::numeric, 2), '  ' ORDER BY ctid))
		   FROM bench_live_tps GROUP BY label ORDER BY min(ctid)"
}

behaviour_main() {
	local t0=$SECONDS
	check_prerequisites
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	start_cluster
	build_data
	figure_1
	print_environment
	echo
	check_verify "after the COPY"
	figure_3
	figure_2
	check_verify "after pgbench"
	print_table
	echo
	echo "total run time: $((SECONDS - t0)) s"
}

# Run unless sourced (sourcing gives the functions, for poking at a cluster).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	behaviour_main "$@"
fi
