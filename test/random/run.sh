#!/bin/bash
# Run the randomized membership check (membership_random.sql) in a fresh
# database of the server that PGHOST/PGPORT (and PGUSER) point at.
#
# Environment:
#   SEGMENT_RANDOM_SEED        setseed() argument, in [-1, 1]   (0.42)
#   SEGMENT_RANDOM_STATEMENTS  data-changing statements         (1000)
#   SEGMENT_RANDOM_DB          database to (re)create           (segment_random)
#   SEGMENT_RANDOM_KEEP_DB=1   keep the database afterwards (it is always kept on failure)
#
# Prints the script's report and ends with a PASS or FAIL line; exits 0 on
# PASS, 1 otherwise.  Needs the right to create databases and the segment
# extension installed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
seed=${SEGMENT_RANDOM_SEED:-0.42}
statements=${SEGMENT_RANDOM_STATEMENTS:-1000}
db=${SEGMENT_RANDOM_DB:-segment_random}
psql=(psql -X -q -v ON_ERROR_STOP=1)

fail() {
	echo "FAIL membership_random: $*"
	exit 1
}

dropdb --if-exists "$db" >/dev/null 2>&1 || fail "cannot drop database $db"
createdb "$db" || fail "cannot create database $db"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
	"${psql[@]}" -d "$db" -v seed="$seed" -v statements="$statements" \
	-f "$here/membership_random.sql" >"$log" 2>&1
rc=$?
# the report, then how long it took, then its verdict (the last line)
head -n -1 "$log"
echo "($((SECONDS - start))s)"
tail -n 1 "$log"

if [ $rc -ne 0 ]; then
	fail "psql exited with status $rc (database $db kept)"
fi
if ! tail -n 1 "$log" | grep -q '^PASS'; then
	tail -n 1 "$log" | grep -q '^FAIL' || fail "no PASS line (database $db kept)"
	echo "(database $db kept)"
	exit 1
fi
if [ "${SEGMENT_RANDOM_KEEP_DB:-0}" != 1 ]; then
	dropdb "$db" || true
fi
exit 0
