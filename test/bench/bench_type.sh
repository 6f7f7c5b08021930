#!/usr/bin/env bash
#
# bench_type.sh: performance figures of the segment type (DESIGN.md section 2).
#
# Creates a throwaway PostgreSQL 15 cluster in a temporary directory, builds
# the data (a few minutes), measures each figure against its baseline, prints
# one table, and removes the cluster again.  It installs nothing: run
# `make install` first.  It never fails on a missed target: it is a report.
#
#   test/bench/bench_type.sh                      # as root or any user
#   BENCH_REPS=21 test/bench/bench_type.sh        # more repetitions
#
# Settings (environment):
#   PG_CONFIG        pg_config of the server (default PostgreSQL 15's)
#   BENCH_PORT       port of the throwaway cluster (55600)
#   BENCH_USER       OS user the cluster runs as when started by root (benchuser)
#   BENCH_REPS       repetitions of the millisecond pairs, figures 1-3 (31)
#   BENCH_SCAN_REPS  repetitions of the 10M-row scans, figures 5-6, and the
#                    1M-row probes, figure 9 (11)
#   BENCH_SLOW_REPS  repetitions of the plain SQL set operations, figure 4 (3)
#   BENCH_C_REPS     repetitions inside the CRoaring helper, figure 8 (15)
#
# The machine this was written for has 2 shared, noisy cores.  So every
# comparison is a pair measured in the same run, interleaved A B A B ...,
# and the figure is the median of each side.  Times are taken on the server
# (bench_funcs.sql): parse + plan + execute, no client transfer.  The
# helpers it shares with the other drivers (the cluster, psql, the pairs,
# the table rows) are in bench_common.sh.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The helpers every driver shares (bench_common.sh); sourcing runs nothing.
# shellcheck source=SCRIPTDIR/bench_common.sh
source "$HERE/bench_common.sh"

PORT=${BENCH_PORT:-55600}
REPS=${BENCH_REPS:-31}
SCAN_REPS=${BENCH_SCAN_REPS:-11}
SLOW_REPS=${BENCH_SLOW_REPS:-3}
C_REPS=${BENCH_C_REPS:-15}

# The cluster (start_cluster): memory for the data (about 2 GB of tables) to
# stay cached (shared_buffers 2GB, work_mem 256MB); one core per query (a
# measurement that wants parallelism would say so); no JIT, whose compile
# time would blur millisecond figures; no fsync and minimal WAL, the data
# is thrown away.
WORK_NAME=segment-bench
DURABLE=0

# The CRoaring helper's needs, besides bench_common.sh's checks.
more_prerequisites() {
	command -v cc >/dev/null || die "no C compiler (cc) for the CRoaring helper"
	[[ -f /usr/include/roaring/roaring.h ]] || die "libroaring-dev is not installed"
}

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

build_data() {
	local t0=$SECONDS
	q "CREATE EXTENSION segment"
	psql_bench -f "$HERE/bench_funcs.sql" >/dev/null
	log "building the data (one-time, about a minute)"
	psql_bench -f "$HERE/bench_data.sql" >/dev/null
	log "data built in $((SECONDS - t0)) s"
}

build_helper() {
	cc -O2 -Wall -o "$WORK/roaring_size" "$HERE/roaring_size.c" -lroaring ||
		die "could not build roaring_size.c"
}

# Dump a stored segment's portable bytes (to_bytea) as hex, for the helper.
dump_hex() {
	local sql=$1 file=$2
	q "SELECT encode(to_bytea(s), 'hex') FROM ($sql) x(s)" >"$file"
}

# ---------------------------------------------------------------------------
# Measuring and reporting
# ---------------------------------------------------------------------------

# speedup FIG NAME Q_SEGMENT Q_PLAIN REPS TARGET: plain / segment >= TARGET.
speedup() {
	local fig=$1 name=$2 qa=$3 qb=$4 reps=$5 target=$6
	local ratio verdict
	log "measuring $fig: $name ($reps reps, seconds each)"
	# no warm-up round: plain SQL takes seconds, and the median of the
	# repetitions already discounts a cold first one
	pair "$fig $name" "$qa" "$qb" "$reps" NULL 0
	ratio=$(awk -v a="$MED_A" -v b="$MED_B" 'BEGIN { printf "%.0f", b / a }')
	if meets "$ratio" ">=" "$target"; then verdict=PASS; else verdict=MISS; fi
	add_row "$fig" "$name" "$(fmt_ms "$MED_A")" "$(fmt_ms "$MED_B")" "${ratio}x" \
		">= ${target}x" "$verdict"
	if [[ $RES_A == "$RES_B" ]]; then
		NOTES+=("check $fig $name: both give $RES_A")
	else
		NOTES+=("CHECK FAILED $fig $name: segment gives $RES_A, plain SQL $RES_B")
	fi
}

print_environment() {
	local cpu kernels variant=portable flags
	cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
	flags=$(grep -m1 '^flags' /proc/cpuinfo)
	# the setting exists once the library is loaded
	kernels=$(psql_bench -At -c "LOAD 'segment'" -c "SHOW segment.kernels")
	# what "auto" picks (src/kernels.c, rk_init): the best the CPU supports
	if [[ $flags == *" popcnt"* ]]; then
		variant=popcnt
		[[ $flags == *" avx2"* ]] && variant=avx2
		[[ $flags == *" avx512bw"* ]] && variant=avx512bw
	fi
	echo "segment benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores, $cpu, Linux $(uname -r)"
	env_server shared_buffers work_mem max_parallel_workers_per_gather jit
	echo "segment.kernels = $kernels (this CPU: $variant); CRoaring $(dpkg-query -W -f='${Version}' libroaring-dev 2>/dev/null || echo '?')"
	echo "repetitions: $REPS (figures 1-3), $SCAN_REPS (5, 6, 9), $SLOW_REPS (4), $C_REPS (8)"
}

# ---------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------

FLOOR="SELECT a = a2 FROM t"

# 1-3: set algebra on two stored 10M-key segments, against the floor of
# fetching both values and comparing every byte.
figures_1_to_3() {
	local res
	log "figure 2: does the planner rewrite cardinality(a op b)?"
	echo "EXPLAIN VERBOSE of the cardinality queries (the rewrite to a count-only function):"
	for op in '&' '|' '-'; do
		q "EXPLAIN (VERBOSE, COSTS OFF) SELECT cardinality(a $op b) FROM t" | sed 's/^/    /'
	done
	echo

	res=$(q "$FLOOR")
	[[ $res == t ]] || NOTES+=("CHECK FAILED 1: a = a2 is $res, expected t")

	# The floor against itself: its ratio shows how noisy the machine is.
	compare 1 "floor: a = a2 (fetch 2 stored values, compare), vs itself" "$FLOOR" "$FLOOR" "$REPS" noise ""
	FLOOR_MS=$MED_A
	compare 2a "cardinality(a & b) vs floor" "SELECT cardinality(a & b) FROM t" "$FLOOR" "$REPS" "<=" 1.2
	FIG2_AND_MS=$MED_A
	compare 2b "cardinality(a | b) vs floor" "SELECT cardinality(a | b) FROM t" "$FLOOR" "$REPS" "<=" 1.2
	FIG2_OR_MS=$MED_A
	compare 2c "cardinality(a - b) vs floor" "SELECT cardinality(a - b) FROM t" "$FLOOR" "$REPS" "<=" 1.2
	FIG2_ANDNOT_MS=$MED_A
	compare 3a "pg_column_size(a & b) vs floor" "SELECT pg_column_size(a & b) FROM t" "$FLOOR" "$REPS" "<=" 1.6
	FIG3_AND_MS=$MED_A
	compare 3b "pg_column_size(a | b) vs floor" "SELECT pg_column_size(a | b) FROM t" "$FLOOR" "$REPS" "<=" 1.6
	FIG3_OR_MS=$MED_A
	compare 3c "pg_column_size(a - b) vs floor" "SELECT pg_column_size(a - b) FROM t" "$FLOOR" "$REPS" "<=" 1.6
	FIG3_ANDNOT_MS=$MED_A

	# The results themselves agree with each other (cheap sanity check).
	res=$(q "SELECT cardinality(a & b) + cardinality(a | b) = cardinality(a) + cardinality(b)
		   AND cardinality(a - b) = cardinality(a) - cardinality(a & b)
		   AND cardinality(a & b) = cardinality((a & b)::bytea::segment) FROM t")
	[[ $res == t ]] && NOTES+=("check 2-3: |a&b| + |a|b| = |a| + |b|, |a-b| = |a| - |a&b|: ok") ||
		NOTES+=("CHECK FAILED 2-3: cardinalities are inconsistent")
	NOTES+=("sizes: $(q "SELECT format('|a| = %s, |b| = %s, |a & b| = %s, stored a = %s bytes',
		cardinality(a), cardinality(b), cardinality(a & b), pg_column_size(a)) FROM t")")
}

# 4: the same questions in plain SQL, on indexed tables of the same keys.
figure_4() {
	speedup 4a "cardinality(a & b) vs INTERSECT (plain/segment)" \
		"SELECT cardinality(a & b) FROM t" \
		"SELECT count(*) FROM (SELECT k FROM ta INTERSECT SELECT k FROM tb) x" "$SLOW_REPS" 500
	speedup 4b "cardinality(a - b) vs EXCEPT (plain/segment)" \
		"SELECT cardinality(a - b) FROM t" \
		"SELECT count(*) FROM (SELECT k FROM ta EXCEPT SELECT k FROM tb) x" "$SLOW_REPS" 500
	speedup 4c "cardinality(a & b) vs JOIN USING (k) (plain/segment)" \
		"SELECT cardinality(a & b) FROM t" \
		"SELECT count(*) FROM ta JOIN tb USING (k)" "$SLOW_REPS" 500
}

# 5: building a segment from 10M random keys, against summing them.
figure_5() {
	compare 5 "segment_agg(id) vs sum(id), 10M random rows" \
		"SELECT pg_column_size(segment_agg(id)) FROM r" "SELECT sum(id) FROM r" "$SCAN_REPS" "<=" 1.5
}

# 6: filtering 10M rows by membership in a ~1M-key constant segment.
figure_6() {
	# The literal: a fresh in-memory value, as a client's bound parameter
	# would be (a value read from the table would be a TOAST pointer).
	# shellcheck disable=SC2016	# $1 is the query's parameter, not the shell's
	compare 6a 'id <@ $1 (bound literal) vs id % 7 = 0, 10M rows' \
		'SELECT count(*) FROM c WHERE id <@ $1' "SELECT count(*) FROM c WHERE id % 7 = 0" \
		"$SCAN_REPS" "<=" 1.3 "(SELECT segment(to_bytea(s)) FROM segs WHERE name = 'x')"
	compare 6b "id <@ (SELECT s ...) initplan vs id % 7 = 0, 10M rows" \
		"SELECT count(*) FROM c WHERE id <@ (SELECT s FROM segs WHERE name = 'x')" \
		"SELECT count(*) FROM c WHERE id % 7 = 0" "$SCAN_REPS" "<=" 1.3
	NOTES+=("sizes: |x| = $(q "SELECT cardinality(s) FROM segs WHERE name = 'x'") members; $(q "SELECT count(*) FILTER (WHERE id <@ (SELECT s FROM segs WHERE name = 'x')) || ' of ' || count(*) FROM c") rows of c match")
}

# 7: stored size against CRoaring's own portable size after run_optimize.
figure_7() {
	local shape sql card stored len rsize same over verdict
	while IFS='|' read -r shape sql; do
		log "measuring 7: stored size of $shape"
		IFS='|' read -r card stored <<<"$(q "SELECT cardinality(s), pg_column_size(s) FROM ($sql) x(s)")"
		dump_hex "$sql" "$WORK/shape.hex"
		read -r len rsize same <<<"$("$WORK/roaring_size" "$WORK/shape.hex")"
		over=$((stored - rsize))
		if ((over <= 16)); then verdict=PASS; else verdict=MISS; fi
		add_row 7 "size, $shape ($card keys), bytes" "$stored" "$rsize" "+$over B" "<= +16 B" "$verdict"
		NOTES+=("7 $shape: to_bytea is $len bytes; CRoaring re-serializes it byte for byte after run_optimize: $([[ $same == 1 ]] && echo yes || echo NO)")
		if [[ $shape == *sequential* ]]; then
			if ((stored <= 8192)); then verdict=PASS; else verdict=MISS; fi
			add_row 7 "10M sequential keys take a few kilobytes" "$stored" "" "" "<= 8192 B" "$verdict"
		fi
	done <<-'EOF'
		10M random in [0,2^32)|SELECT s FROM segs WHERE name = 'rand10m'
		10M random in [0,20M) (a)|SELECT a FROM t
		10M sequential 0..9999999|SELECT s FROM segs WHERE name = 'seq10m'
		1000 sparse|SELECT s FROM segs WHERE name = 'sparse1000'
		70000 in runs of 10|SELECT s FROM segs WHERE name = 'runs70k'
	EOF
}

# 8: raw CRoaring on the same bytes, as context for figures 2-3.
figure_8() {
	local name ms
	declare -A C
	log "measuring 8: raw CRoaring 0.2.66 on a and b ($C_REPS reps)"
	dump_hex "SELECT a FROM t" "$WORK/a.hex"
	dump_hex "SELECT b FROM t" "$WORK/b.hex"
	while read -r name ms; do
		C[$name]=$ms
	done < <("$WORK/roaring_size" bench "$WORK/a.hex" "$WORK/b.hex" "$C_REPS")

	# segment's time (with the TOAST fetch) against CRoaring's (bytes already
	# in memory): the figure is segment / CRoaring; no target, context only.
	ctx() {
		local name=$1 seg=$2 cr=$3
		add_row 8 "$name" "$(fmt_ms "$seg")" "$(fmt_ms "$cr")" \
			"$(awk -v a="$seg" -v b="$cr" 'BEGIN { printf "%.2fx", a / b }')" "context" "-"
	}
	ctx "cardinality(a & b) vs CRoaring deser a,b + and_card" "$FIG2_AND_MS" "${C[deser+and_cardinality]}"
	ctx "cardinality(a | b) vs CRoaring deser a,b + or_card" "$FIG2_OR_MS" "${C[deser+or_cardinality]}"
	ctx "cardinality(a - b) vs CRoaring deser a,b + andnot_card" "$FIG2_ANDNOT_MS" "${C[deser+andnot_cardinality]}"
	ctx "a & b vs CRoaring deser a,b + and + serialize" "$FIG3_AND_MS" "${C[deser+and+serialize]}"
	ctx "a | b vs CRoaring deser a,b + or + serialize" "$FIG3_OR_MS" "${C[deser+or+serialize]}"
	ctx "a - b vs CRoaring deser a,b + andnot + serialize" "$FIG3_ANDNOT_MS" "${C[deser+andnot+serialize]}"
	local steps=() steps_text
	for name in deserialize_a_b and_cardinality_only or_cardinality_only andnot_cardinality_only \
		and+serialize_only or+serialize_only andnot+serialize_only; do
		steps+=("$name ${C[$name]}")
	done
	steps_text=$(IFS=';'; echo "${steps[*]}")
	NOTES+=("8 CRoaring alone (ms, median of $C_REPS): ${steps_text//;/; }")
	NOTES+=("8 the floor (fetch a and a2 from TOAST, compare): $(fmt_ms "$FLOOR_MS") ms; segment's times above include that fetch, CRoaring's start from bytes in memory")
}

# 9: per-probe cost of a stored 10M-key segment met by 1M rows.
figure_9() {
	local qi qj base us verdict
	qi="SELECT count(*) FROM c1m WHERE id <@ (SELECT s FROM segs WHERE name = 'big10m')"
	qj="SELECT count(*) FROM c1m JOIN segs ON segs.name = 'big10m' AND c1m.id <@ segs.s"
	base="SELECT count(*) FROM c1m WHERE id % 7 = 0"
	echo "Plans of figure 9 (EXPLAIN ANALYZE, TIMING OFF):"
	for sql in "$qi" "$qj"; do
		q "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $sql" | sed 's/^/    /'
	done
	echo
	for form in initplan join; do
		local sql=$qi
		[[ $form == join ]] && sql=$qj
		log "measuring 9: $form form"
		pair "9 $form" "$sql" "$base" "$SCAN_REPS"
		us=$(awk -v a="$MED_A" 'BEGIN { printf "%.3f", a * 1000 / 1000000 }')
		if meets "$us" "<" 1; then verdict=PASS; else verdict=MISS; fi
		add_row 9 "$form: <@ stored 10M-key segment x 1M rows: $us us/probe" \
			"$(fmt_ms "$MED_A")" "$(fmt_ms "$MED_B")" \
			"$(awk -v a="$MED_A" -v b="$MED_B" 'BEGIN { printf "%.2fx", a / b }')" "< 1 us/probe" "$verdict"
	done
	# What the per-query cache saves: one fetch of the stored value (the
	# cost of each probe, were it re-fetched per row).
	pair "9 one fetch of big10m" "SELECT cardinality(s) FROM segs WHERE name = 'big10m'" \
		"SELECT cardinality(s) FROM segs WHERE name = 'big10m'" "$REPS"
	NOTES+=("9 one fetch of the stored 10M-key value (cardinality(s), fetches it all): $(fmt_ms "$MED_A") ms, i.e. $(awk -v a="$MED_A" 'BEGIN { printf "%.0f", a * 1000 }') us per probe if it were re-fetched per row")
}

print_table() {
	print_rows "A (ms)" "B (ms)"
	echo
	echo "A is the subject, B the baseline; ratio = A/B, except figure 4 (B/A: how many"
	echo "times faster segment is than plain SQL); figure 7's columns are bytes (A stored,"
	echo "B CRoaring portable size after run_optimize); figure 8 is context only."
	echo
	printf '%s\n' "${NOTES[@]}"
	echo
	echo "Spread of the samples (ms): min / median / max of each side, in run order:"
	print_spread "bench_samples|ms"
}

main() {
	begin_run
	build_helper
	print_environment
	echo
	figures_1_to_3
	figure_4
	figure_5
	figure_6
	figure_7
	figure_8
	figure_9
	print_table
	end_run
}

# Run unless sourced (sourcing gives the functions, for poking at a cluster).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
