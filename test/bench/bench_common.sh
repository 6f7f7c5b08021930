# shellcheck shell=bash
#
# bench_common.sh: the helpers the benchmark drivers share (bench_type.sh,
# bench_live.sh, bench_behaviour.sh and bench_value.sh source it).  Sourcing
# it defines functions and the shared state; it runs nothing.
#
# Settings (environment):
#   PG_CONFIG   pg_config of the server (default PostgreSQL 15's)
#   BENCH_USER  OS user the cluster runs as when started by root (benchuser)
#
# Each driver sets, before it sources this file:
#   HERE        the directory of the scripts (the SQL files, git)
# and before it calls these functions:
#   PORT        port of its throwaway cluster
#   WORK_NAME   its temporary directory is /tmp/WORK_NAME.XXXXXX
#   DURABLE     0: the data is thrown away (no fsync, minimal WAL, 2GB of
#               shared_buffers, work_mem 256MB); 1: the default fsync,
#               synchronous_commit, full_page_writes, wal_level and
#               work_mem, 1GB of shared_buffers, so commits are real
# and the drivers that time statements with their commit (the live
# helpers below, over bench_live_funcs.sql):
#   TRACKED, PLAIN  the tracked table and its untracked twin
#   COPY_REPS       rounds of the COPY pair (copy_rounds)
#   PERF_DIR        where perf profiles go (empty or unset: none)
#   TIMED_CLK_TCK   if set (getconf CLK_TCK), timed also records the
#                   backend's CPU time

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BENCH_USER=${BENCH_USER:-benchuser}

WORK=""				# temporary directory: cluster, socket, helper files
STARTED=0			# whether the server needs stopping
RESULTS=()			# table rows, printed at the end
NOTES=()			# sanity checks and context, printed after the table
ROW_FORMAT='%-4s %-62s %10s %10s %9s %12s  %s'	# fig measurement A B ratio target result

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Run a command as the cluster's owner: PostgreSQL refuses to run as root.
as_owner() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$BENCH_USER" -- "$@"
	else
		"$@"
	fi
}

# ---------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------

# Fail early on what the run needs: the server, the installed extension,
# what the driver's more_prerequisites checks (if it defines one; SHAREDIR
# is set for it), and, as root, the OS user the cluster runs as.
check_prerequisites() {
	[[ -x $PG_CONFIG ]] || die "no pg_config at $PG_CONFIG (set PG_CONFIG)"
	PGBIN=$("$PG_CONFIG" --bindir)
	SHAREDIR=$("$PG_CONFIG" --sharedir)
	[[ -f $SHAREDIR/extension/segment.control ]] ||
		die "segment is not installed in $SHAREDIR: run make install first"
	if declare -F more_prerequisites >/dev/null; then
		more_prerequisites
	fi
	if [[ $EUID -eq 0 ]] && ! id "$BENCH_USER" >/dev/null 2>&1; then
		log "creating OS user $BENCH_USER"
		useradd --system --no-create-home --shell /usr/sbin/nologin "$BENCH_USER"
	fi
}

# The prerequisites of the drivers that run pgbench and can profile: pgbench,
# and perf when BENCH_PERF_DIR asks for profiles (the directory is made).
check_pgbench_and_perf() {
	[[ -x $PGBIN/pgbench ]] || die "no pgbench in $PGBIN"
	if [[ -n ${PERF_DIR:-} ]]; then
		command -v perf >/dev/null || die "BENCH_PERF_DIR is set but perf is not installed"
		mkdir -p "$PERF_DIR"
	fi
}

# EXIT trap: stop the server and remove the directory (the server log's tail
# first, if the run failed).
cleanup() {
	local rc=$?
	if [[ $STARTED -eq 1 ]]; then
		log "stopping the cluster"
		as_owner "$PGBIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 ||
			as_owner "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [[ -n $WORK && -d $WORK ]]; then
		if [[ $rc -ne 0 && -f $WORK/server.log ]]; then
			log "server log tail:"
			tail -n 20 "$WORK/server.log" >&2 || true
		fi
		rm -rf "$WORK"
	fi
	exit "$rc"
}

# initdb into a new /tmp/$WORK_NAME.XXXXXX, start the server on $PORT (its
# socket in that directory, no TCP) with the settings DURABLE asks for, and
# create the database bench.
start_cluster() {
	WORK=$(mktemp -d "/tmp/$WORK_NAME.XXXXXX")
	chmod 755 "$WORK"
	[[ $EUID -eq 0 ]] && chown "$BENCH_USER" "$WORK"
	DBUSER=$(as_owner id -un)

	log "initdb in $WORK/data"
	as_owner "$PGBIN/initdb" -D "$WORK/data" --auth=trust --no-sync -E UTF8 \
		--locale=C -U "$DBUSER" >"$WORK/initdb.log" 2>&1 ||
		{ cat "$WORK/initdb.log" >&2; die "initdb failed"; }

	# Either way: one core per query (a measurement that wants parallelism
	# would say so); no JIT, whose compile time would blur millisecond
	# figures; no autovacuum and no timed checkpoints (the drivers with
	# real commits vacuum and checkpoint before every measured COPY and
	# pgbench run instead, so that neither side meets one in its run).
	cat >>"$WORK/data/postgresql.conf" <<-EOF
		port = $PORT
		listen_addresses = ''
		unix_socket_directories = '$WORK'
		max_parallel_workers_per_gather = 0
		jit = off
		max_wal_size = 8GB
		checkpoint_timeout = 1h
		autovacuum = off
	EOF
	if [[ $DURABLE -eq 1 ]]; then
		# The default fsync, synchronous_commit, full_page_writes, wal_level
		# and work_mem: commits are real.
		echo "shared_buffers = 1GB" >>"$WORK/data/postgresql.conf"
	else
		# Memory for the data to stay cached and for sorts and hash
		# aggregates; no fsync and minimal WAL, the data is thrown away.
		cat >>"$WORK/data/postgresql.conf" <<-EOF
			shared_buffers = 2GB
			work_mem = 256MB
			maintenance_work_mem = 1GB
			fsync = off
			wal_level = minimal
			max_wal_senders = 0
			synchronous_commit = off
			full_page_writes = off
		EOF
	fi

	log "starting the cluster on port $PORT"
	STARTED=1
	as_owner "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 120 start >/dev/null ||
		die "the server did not start"
	"$PGBIN/createdb" -h "$WORK" -p "$PORT" -U "$DBUSER" bench
}

# psql on the bench database; -At -F'|' so results parse with read.
psql_bench() {
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U "$DBUSER" -d bench "$@"
}

q() { psql_bench -At -F '|' -c "$1"; }

# The start of every run: the checks, the cluster (stopped and removed by
# the EXIT trap, also on error or Ctrl-C) and the driver's build_data.
begin_run() {
	RUN_T0=$SECONDS
	check_prerequisites
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	start_cluster
	build_data
}

# The end of every run: its total time.
end_run() {
	echo
	echo "total run time: $((SECONDS - RUN_T0)) s"
}

# ---------------------------------------------------------------------------
# Measuring and reporting
# ---------------------------------------------------------------------------

# add_row FIG NAME A B RATIO TARGET RESULT
add_row() {
	# shellcheck disable=SC2059	# the format is ROW_FORMAT
	RESULTS+=("$(printf "$ROW_FORMAT" "$@")")
	# shellcheck disable=SC2059
	log "$(printf "$ROW_FORMAT" "$@")"
}

fmt_ms() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }

# Is "value op limit" true?  op is <=, >= or <.
meets() {
	awk -v v="$1" -v l="$3" -v op="$2" \
		'BEGIN { exit !((op == "<=" && v <= l) || (op == ">=" && v >= l) || (op == "<" && v < l)) }'
}

# pair LABEL QA QB REPS [PARAM_SQL [WARMUP]]: run bench_pair (one warm-up
# round unless told), set MED_A MED_B RES_A RES_B.
pair() {
	local label=$1 qa=$2 qb=$3 reps=$4 param=${5:-NULL} warmup=${6:-1}
	local out
	out=$(q "SELECT med_a, med_b, res_a, res_b FROM bench_pair(\$lbl\$$label\$lbl\$,
		\$qa\$$qa\$qa\$, \$qb\$$qb\$qb\$, $reps, $param, $warmup)")
	# shellcheck disable=SC2034	# RES_A RES_B: for the callers' checks
	IFS='|' read -r MED_A MED_B RES_A RES_B <<<"$out"
}

# ratio_row FIG NAME OP TARGET [%]: the row of MED_A against MED_B, the
# figure A/B (with %: in percent, as whole numbers) compared with TARGET by OP.
ratio_row() {
	local fig=$1 name=$2 op=$3 target=$4 unit=${5:-x} ratio verdict
	if [[ $unit == % ]]; then
		ratio=$(awk -v a="$MED_A" -v b="$MED_B" 'BEGIN { printf "%.0f", 100 * a / b }')
	else
		ratio=$(awk -v a="$MED_A" -v b="$MED_B" 'BEGIN { printf "%.2f", a / b }')
	fi
	if meets "$ratio" "$op" "$target"; then verdict=PASS; else verdict=MISS; fi
	add_row "$fig" "$name" "$(fmt_ms "$MED_A")" "$(fmt_ms "$MED_B")" "$ratio$unit" "$op $target$unit" "$verdict"
}

# compare FIG NAME QA QB REPS OP TARGET [PARAM_SQL]
# A is the subject, B the baseline; the figure is A/B, compared with
# TARGET by OP (OP "noise": no target, A and B are the same query).
compare() {
	local fig=$1 name=$2 qa=$3 qb=$4 reps=$5 op=$6 target=$7 param=${8:-NULL}
	log "measuring $fig: $name ($reps reps)"
	pair "$fig $name" "$qa" "$qb" "$reps" "$param"
	if [[ $op == noise ]]; then
		add_row "$fig" "$name" "$(fmt_ms "$MED_A")" "$(fmt_ms "$MED_B")" \
			"$(awk -v a="$MED_A" -v b="$MED_B" 'BEGIN { printf "%.2f", a / b }')x" "noise" "-"
		return
	fi
	ratio_row "$fig" "$name" "$op" "$target"
}

# The machine line of print_environment: cores, CPU, memory, kernel.
env_machine() {
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
}

# env_server SETTING...: the server line of print_environment, the version
# and each SETTING's value.
env_server() {
	local line setting
	line="server: $(q 'SHOW server_version')"
	for setting in "$@"; do
		line+=", $setting=$(q "SHOW $setting")"
	done
	echo "$line"
}

# The extension line of print_environment: its version and the source
# tree's commit (whether src/ has uncommitted changes).
env_extension() {
	echo "extension: segment $(q "SELECT extversion FROM pg_extension WHERE extname = 'segment'"), source tree at commit $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')$(
		[[ -n $(git -C "$HERE/../.." status --porcelain -- src 2>/dev/null) ]] && echo ' (src/ modified)')"
}

# print_rows A_HEADING B_HEADING: the table's header and its rows.
print_rows() {
	echo
	# shellcheck disable=SC2059	# the format is ROW_FORMAT
	printf "$ROW_FORMAT\n" fig measurement "$1" "$2" ratio target result
	printf '%s\n' "$(printf '%.0s-' {1..122})"
	printf '%s\n' "${RESULTS[@]}"
}

# print_spread TABLE|COLUMN...: min / median / max of each side of every
# label of each sample table, in run order.
print_spread() {
	local tab
	for tab in "$@"; do
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
}

# ---------------------------------------------------------------------------
# Statements timed with their commit, pgbench (bench_live_funcs.sql)
# ---------------------------------------------------------------------------

# timed LABEL SIDE REP SQL: one statement in its own transaction, timed on
# the server including its commit (bench_live_timed); with TIMED_CLK_TCK
# also the backend's CPU time, as the sample "LABEL cpu".
timed() {
	local sql=${4//\'/\'\'}
	psql_bench -c "CALL bench_live_timed('$1', '$2', $3, '$sql'${TIMED_CLK_TCK:+, $TIMED_CLK_TCK})"
}

# medians_ms LABEL: set MED_A MED_B, the median ms of each side of LABEL.
medians_ms() {
	IFS='|' read -r MED_A MED_B <<<"$(q "SELECT bench_live_median_ms('$1', 'A'), bench_live_median_ms('$1', 'B')")"
}

# vacuum_and_checkpoint [ANALYZE]: VACUUM the two tables and the extension's
# (ANALYZE: VACUUM ANALYZE, segment.definitions too), then CHECKPOINT.
# shellcheck disable=SC2120	# the drivers pass ANALYZE, pgbench_run nothing
vacuum_and_checkpoint() {
	if [[ ${1:-} == ANALYZE ]]; then
		q "VACUUM ANALYZE $TRACKED, $PLAIN, segment.chunks, segment.flips, segment.definitions"
	else
		q "VACUUM $TRACKED, $PLAIN, segment.chunks, segment.flips"
	fi
	q "CHECKPOINT"
}

# copy_rounds FILE [COLUMNS]: figure 1's samples, COPY_REPS rounds of
# TRUNCATE (timed as "1 truncate", not in the figure), CHECKPOINT and the
# COPY of FILE (timed as "1 copy") into $TRACKED (side A), then the same
# into $PLAIN (B).  Perf (BENCH_PERF_DIR) records the last tracked COPY.
copy_rounds() {
	local file=$1 cols=${2:+ ($2)} i side tbl copy
	for ((i = 1; i <= COPY_REPS; i++)); do
		for side in A B; do
			tbl=$PLAIN
			[[ $side == A ]] && tbl=$TRACKED
			copy="COPY $tbl$cols FROM '$file'"
			log "measuring 1: COPY into $tbl, repetition $i of $COPY_REPS"
			timed "1 truncate" "$side" "$i" "TRUNCATE $tbl"
			q "CHECKPOINT"
			if [[ $side == A && $i -eq $COPY_REPS ]]; then
				perf_start fig1-copy-tracked
				timed "1 copy" "$side" "$i" "$copy"
				perf_stop
			else
				timed "1 copy" "$side" "$i" "$copy"
			fi
		done
	done
}

# pgbench_run LABEL SIDE REP SCRIPT SYNC SECONDS [PROFILE]: one pgbench run
# (after VACUUM and CHECKPOINT); appends its tps to bench_live_tps unless
# LABEL is empty (warm-up).  With PROFILE (and BENCH_PERF_DIR), perf records
# the middle of the run.
pgbench_run() {
	local label=$1 side=$2 rep=$3 script=$4 sync=$5 seconds=$6 profile=${7:-} out rc tps lat failed
	vacuum_and_checkpoint
	if [[ -n $profile && -n ${PERF_DIR:-} ]]; then
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

# medians_tps LABEL: set MED_A MED_B, the median tps of each side of
# LABEL's pgbench runs.
medians_tps() {
	IFS='|' read -r MED_A MED_B <<<"$(q "SELECT bench_live_median_tps('$1', 'A'), bench_live_median_tps('$1', 'B')")"
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

# print_pgbench_runs WIDTH: every pgbench run (tps / average latency), in
# run order, the labels WIDTH characters wide.
print_pgbench_runs() {
	echo "pgbench runs (tps / average latency ms), in run order:"
	q "SELECT format('  %-$1s %s', label, string_agg(side || rep || ' ' || round(tps::numeric) || '/' || round(latency_ms::numeric, 2), '  ' ORDER BY ctid))
		   FROM bench_live_tps GROUP BY label ORDER BY min(ctid)"
}

# ---------------------------------------------------------------------------
# Profiles (optional, BENCH_PERF_DIR)
# ---------------------------------------------------------------------------

PERF_PID=""
PIDS_PID=""

# perf_start NAME: record the whole machine (perf record -a, DWARF call
# graphs: PostgreSQL is built without frame pointers) until perf_stop, and
# note this cluster's processes meanwhile (the machine is shared: the
# report keeps only them).
perf_start() {
	[[ -n ${PERF_DIR:-} ]] || return 0
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

# Stop perf_start's recording and write its reports, NAME.{flat,dso,children}.txt.
perf_stop() {
	[[ -n ${PERF_DIR:-} && -n $PERF_PID ]] || return 0
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
	[[ -n ${PERF_DIR:-} ]] || return 0
	perf_start "$1"
	q "DO \$bench\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
		WHILE clock_timestamp() < t0 + interval '5 s' LOOP PERFORM ($2); END LOOP; END \$bench\$"
	perf_stop
}
