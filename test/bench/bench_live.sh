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
# Same method as bench_type.sh, whose helpers it sources (cluster teardown,
# psql, the interleaved pair bench_pair(), the table rows): every comparison
# is measured side by side, interleaved A B A B ..., and the figure is the
# median of each side.  Unlike bench_type.sh the cluster keeps the default
# fsync, synchronous_commit, full_page_writes and wal_level, so that COPY and
# pgbench pay for real commits.

set -euo pipefail

LIVE_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The type benchmark's helpers: log die as_owner cleanup psql_bench q add_row
# fmt_ms meets pair compare.  Sourcing it runs nothing.
# shellcheck source=bench_type.sh
source "$LIVE_HERE/bench_type.sh"
HERE=$LIVE_HERE

PORT=${BENCH_PORT:-55650}
COPY_REPS=${BENCH_COPY_REPS:-5}
QUERY_REPS=${BENCH_QUERY_REPS:-11}
PGB_SECONDS=${BENCH_PGBENCH_SECONDS:-10}
PGB_ROUNDS=${BENCH_PGBENCH_ROUNDS:-5}
PERF_DIR=${BENCH_PERF_DIR:-}
CUSTOMERS=1000000

# ---------------------------------------------------------------------------
# Cluster (bench_type.sh's, with real commits)
# ---------------------------------------------------------------------------

check_prerequisites() {
	[[ -x $PG_CONFIG ]] || die "no pg_config at $PG_CONFIG (set PG_CONFIG)"
	PGBIN=$("$PG_CONFIG" --bindir)
	local sharedir
	sharedir=$("$PG_CONFIG" --sharedir)
	[[ -f $sharedir/extension/segment.control ]] ||
		die "segment is not installed in $sharedir: run make install first"
	[[ -x $PGBIN/pgbench ]] || die "no pgbench in $PGBIN"
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
	WORK=$(mktemp -d /tmp/segment-bench-live.XXXXXX)
	chmod 755 "$WORK"
	[[ $EUID -eq 0 ]] && chown "$BENCH_USER" "$WORK"
	DBUSER=$(as_owner id -un)

	log "initdb in $WORK/data"
	as_owner "$PGBIN/initdb" -D "$WORK/data" --auth=trust --no-sync -E UTF8 \
		--locale=C -U "$DBUSER" >"$WORK/initdb.log" 2>&1 ||
		{ cat "$WORK/initdb.log" >&2; die "initdb failed"; }

	# Default fsync, synchronous_commit, full_page_writes and wal_level:
	# commits are real.  Both tables (about 130 MB each with the index) stay
	# in shared_buffers.  One core per query, no JIT, as in bench_type.sh.
	# No autovacuum and no timed checkpoints: the script vacuums and
	# checkpoints before every measured COPY and pgbench run instead, so
	# that neither side meets one in the middle of its run.
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
}

build_data() {
	q "CREATE EXTENSION segment"
	psql_bench -f "$HERE/bench_funcs.sql" >/dev/null
	psql_bench -f "$HERE/bench_live_funcs.sql" >/dev/null
	log "tables, tracking and 10 rule segments"
	psql_bench -f "$HERE/bench_live_data.sql" >/dev/null
	log "writing the $CUSTOMERS customers to $WORK/customers.copy"
	q "COPY (SELECT * FROM bench_live_rows) TO '$WORK/customers.copy'"
}

# ---------------------------------------------------------------------------
# Profiles (optional, BENCH_PERF_DIR)
# ---------------------------------------------------------------------------

PERF_PID=""
PIDS_PID=""

# perf_start NAME: record the whole machine (perf record -a, DWARF call
# graphs: PostgreSQL is built without frame pointers) until
# perf_stop, and note this cluster's processes meanwhile (the machine is
# shared: the report keeps only them).
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
	# Percentages of this cluster's samples (--percentage relative).  Self
	# time by library and function; the same summed by library (perf's own
	# --sort dso drops most rows when combined with --pid); inclusive time
	# (callers included) of the named functions.
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
# the server including its commit (bench_live_timed).
timed() {
	local sql=${4//\'/\'\'}
	psql_bench -c "CALL bench_live_timed('$1', '$2', $3, '$sql')"
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
	q "VACUUM customers_tracked, customers_plain, segment.chunks, segment.flips"
	q "CHECKPOINT"
}

print_environment() {
	echo "segment live-segments benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
	echo "server: $(q 'SHOW server_version'), shared_buffers=$(q 'SHOW shared_buffers'), fsync=$(q 'SHOW fsync'),"\
		"synchronous_commit=$(q 'SHOW synchronous_commit'), wal_level=$(q 'SHOW wal_level'),"\
		"full_page_writes=$(q 'SHOW full_page_writes'), work_mem=$(q 'SHOW work_mem'), jit=$(q 'SHOW jit'),"\
		"max_parallel_workers_per_gather=$(q 'SHOW max_parallel_workers_per_gather')"
	echo "extension: segment $(q "SELECT extversion FROM pg_extension WHERE extname = 'segment'"), source tree at commit $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')$(
		[[ -n $(git -C "$HERE/../.." status --porcelain -- src 2>/dev/null) ]] && echo ' (src/ modified)')"
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
	local i side tbl file=$WORK/customers.copy
	for ((i = 1; i <= COPY_REPS; i++)); do
		for side in A B; do
			tbl=customers_plain
			[[ $side == A ]] && tbl=customers_tracked
			log "measuring 1: COPY into $tbl, repetition $i of $COPY_REPS"
			timed "1 truncate" "$side" "$i" "TRUNCATE $tbl"
			q "CHECKPOINT"
			if [[ $side == A && $i -eq $COPY_REPS ]]; then
				perf_start fig1-copy-tracked
				timed "1 copy" "$side" "$i" "COPY $tbl FROM '$file'"
				perf_stop
			else
				timed "1 copy" "$side" "$i" "COPY $tbl FROM '$file'"
			fi
		done
	done
	medians_ms "1 copy"
	ratio_row 1 "COPY 1M customers: tracked (10 rules) vs untracked" "<=" 2
	medians_ms "1 truncate"
	NOTES+=("1 TRUNCATE before each COPY (not in the figure), median ms: tracked $(fmt_ms "$MED_A") (the truncate trigger: every member leaves), untracked $(fmt_ms "$MED_B")")
	NOTES+=("1 rows: tracked $(q 'SELECT count(*) FROM customers_tracked'), untracked $(q 'SELECT count(*) FROM customers_plain'); stored members: $(q "SELECT string_agg(name || ' ' || size, ', ' ORDER BY name) FROM segment.summary")")
	log "VACUUM ANALYZE of both tables"
	q "VACUUM ANALYZE customers_tracked, customers_plain, segment.chunks, segment.flips, segment.definitions"
	q "CHECKPOINT"
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

# pgbench_run LABEL SIDE REP SCRIPT SYNC SECONDS [PROFILE]: one pgbench run
# (after VACUUM and CHECKPOINT); appends its tps to bench_live_tps unless
# LABEL is empty (warm-up).  With PROFILE (and BENCH_PERF_DIR), perf records
# the middle of the run.
pgbench_run() {
	local label=$1 side=$2 rep=$3 script=$4 sync=$5 seconds=$6 profile=${7:-} out rc tps lat failed
	vacuum_and_checkpoint
	if [[ -n $profile && -n $PERF_DIR ]]; then
		(sleep 1; perf_start "$profile"; sleep $((seconds - 4)); perf_stop) &
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

# 2: pgbench, 4 clients, 2 threads, single-row UPDATEs by random key, on
# the tracked table (A) and the untracked one (B), alternately.
figure_2() {
	local sync round w side tbl col label ratio verdict target fig profile
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
			label="2 $w sync=$sync"
			IFS='|' read -r MED_A MED_B <<<"$(q "SELECT bench_live_median_tps('$label', 'A'), bench_live_median_tps('$label', 'B')")"
			ratio=$(awk -v a="$MED_A" -v b="$MED_B" 'BEGIN { printf "%.0f", 100 * a / b }')
			if [[ $w == income ]]; then
				fig=2a; target=50; col="income (a rule reads it)"
			else
				fig=2b; target=90; col="notes (no rule reads it)"
			fi
			[[ $sync == off ]] && fig="$fig'"
			if meets "$ratio" ">=" "$target"; then verdict=PASS; else verdict=MISS; fi
			add_row "$fig" "pgbench UPDATE $col, sync_commit=$sync, tps" \
				"$(fmt_ms "$MED_A")" "$(fmt_ms "$MED_B")" "${ratio}%" ">= ${target}%" "$verdict"
		done
	done
	NOTES+=("2 after the runs: $(q "SELECT (SELECT count(*) FROM segment.flips) || ' rows in segment.flips (' || pg_size_pretty(pg_total_relation_size('segment.flips')) || '), ' || (SELECT count(*) FROM segment.chunks) || ' in segment.chunks (' || pg_size_pretty(pg_total_relation_size('segment.chunks')) || ')'")")
}

# After the pgbench runs: stored membership agrees with a fresh evaluation.
check_verify() {
	local n verdict
	log "checking segment.verify()"
	n=$(q "SELECT count(*) FROM segment.verify()")
	if [[ $n == 0 ]]; then verdict=PASS; else verdict=MISS; fi
	add_row check "SELECT count(*) FROM segment.verify() after pgbench" "$n" "" "" "= 0" "$verdict"
}

print_table() {
	local tab
	echo
	printf '%-4s %-62s %10s %10s %9s %12s  %s\n' fig measurement "A" "B" ratio target result
	printf '%s\n' "$(printf '%.0s-' {1..122})"
	printf '%s\n' "${RESULTS[@]}"
	echo
	echo "A is the subject (the tracked table, the extension's function), B the baseline"
	echo "(the untracked table, plain SQL, a stored value).  Figures 1, 3, 4: medians in"
	echo "ms, ratio = A/B.  Figure 2: median tps, ratio = A/B in percent (2a', 2b': the"
	echo "same with synchronous_commit=off)."
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
	q "SELECT format('  %-22s %s', label, string_agg(side || rep || ' ' || round(tps::numeric) || '/' || round(latency_ms::numeric, 2), '  ' ORDER BY ctid))
		   FROM bench_live_tps GROUP BY label ORDER BY min(ctid)"
}

live_main() {
	local t0=$SECONDS
	check_prerequisites
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	start_cluster
	build_data
	figure_1
	print_environment
	echo
	figure_3
	figure_4
	figure_2
	check_verify
	print_table
	echo
	echo "total run time: $((SECONDS - t0)) s"
}

# Run unless sourced (sourcing gives the functions, for poking at a cluster).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	live_main "$@"
fi
