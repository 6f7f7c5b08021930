#!/bin/bash
# Run the randomized checks in fresh databases of the server that
# PGHOST/PGPORT (and PGUSER) point at: membership_random.sql (customer DML
# against live rule segments) and events_random.sql (event and customer
# DML against traits, rule segments built on them, cohorts and an RFM
# model), each in a database of its own.
#
# Environment:
#   SEGMENT_RANDOM_SEED        setseed() argument, in [-1, 1]   (0.42)
#   SEGMENT_RANDOM_STATEMENTS  data-changing statements per script
#                              (membership_random 1000, events_random 3000)
#   SEGMENT_RANDOM_SCRIPTS     the scripts to run, by name, space-separated
#                              (membership_random events_random)
#   SEGMENT_RANDOM_DB          database name prefix: a script runs in
#                              PREFIX_membership, PREFIX_events   (segment_random)
#   SEGMENT_RANDOM_KEEP_DB=1   keep the databases afterwards (a failed script's is always kept)
#
# Prints each script's report, how long it took and its PASS or FAIL line,
# and ends with an overall PASS or FAIL line; exits 0 if every script
# passed, 1 otherwise.  Needs the right to create databases and the
# segment extension installed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
seed=${SEGMENT_RANDOM_SEED:-0.42}
scripts=${SEGMENT_RANDOM_SCRIPTS:-membership_random events_random}
prefix=${SEGMENT_RANDOM_DB:-segment_random}
psql=(psql -X -q -v ON_ERROR_STOP=1)

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_script NAME: run NAME.sql in a fresh database; 0 on PASS.
run_script() {
	local name=$1 db statements rc start
	db=${prefix}_${name%_random}
	case $name in
	membership_random) statements=${SEGMENT_RANDOM_STATEMENTS:-1000} ;;
	events_random) statements=${SEGMENT_RANDOM_STATEMENTS:-3000} ;;
	*) statements=${SEGMENT_RANDOM_STATEMENTS:-1000} ;;
	esac

	echo "== $name"
	if [ ! -f "$here/$name.sql" ]; then
		echo "FAIL $name: no script $here/$name.sql"
		return 1
	fi
	if ! dropdb --if-exists "$db" >/dev/null 2>&1; then
		echo "FAIL $name: cannot drop database $db"
		return 1
	fi
	if ! createdb "$db"; then
		echo "FAIL $name: cannot create database $db"
		return 1
	fi

	start=$SECONDS
	PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
		"${psql[@]}" -d "$db" -v seed="$seed" -v statements="$statements" \
		-f "$here/$name.sql" >"$log" 2>&1
	rc=$?
	# the report, then how long it took, then its verdict (the last line)
	head -n -1 "$log"
	echo "($((SECONDS - start))s)"
	tail -n 1 "$log"

	if [ $rc -ne 0 ]; then
		echo "FAIL $name: psql exited with status $rc (database $db kept)"
		return 1
	fi
	if ! tail -n 1 "$log" | grep -q '^PASS'; then
		tail -n 1 "$log" | grep -q '^FAIL' || echo "FAIL $name: no PASS line"
		echo "(database $db kept)"
		return 1
	fi
	if [ "${SEGMENT_RANDOM_KEEP_DB:-0}" != 1 ]; then
		dropdb "$db" || true
	fi
	return 0
}

passed=()
failed=()
for name in $scripts; do
	name=${name%.sql}
	if run_script "$name"; then
		passed+=("$name")
	else
		failed+=("$name")
	fi
	echo
done

if [ ${#passed[@]} -eq 0 ] && [ ${#failed[@]} -eq 0 ]; then
	echo "FAIL random: no scripts to run (SEGMENT_RANDOM_SCRIPTS is empty)"
	exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAIL random: seed $seed: ${failed[*]} failed${passed[*]:+, ${passed[*]} passed}"
	exit 1
fi
echo "PASS random: seed $seed: ${passed[*]}"
exit 0
