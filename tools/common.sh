# shellcheck shell=bash
# Shared by tools/test and tools/demo: build, install, and a throwaway
# PostgreSQL 15 cluster run by an unprivileged user.  Source it; do not run it.
#
# PostgreSQL refuses to run as root, so when we are root every command that
# touches the cluster or the copied tree runs as $TEST_USER; otherwise it runs
# as the current user.

PG_BINDIR=/usr/lib/postgresql/15/bin
PG_CONFIG=$PG_BINDIR/pg_config

# Compiler flags for our C code: tune them here, in one place.  The -Wno-*
# keep PostgreSQL's own headers and idioms from tripping -Wextra -Werror.
WARNING_FLAGS="-DUSE_ASSERT_CHECKING -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare"

TEST_USER=${SEGMENT_TEST_USER:-segtest}
# Seconds one test suite (or the demo) may run, so a hang fails instead of
# stalling CI.
TIME_LIMIT=${SEGMENT_TIME_LIMIT:-300}
# The cluster listens only on a unix socket in its own directory, so this
# port just names the socket and cannot clash with any other server.
TEST_PORT=${SEGMENT_TEST_PORT:-55432}

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK_DIR=
TREE_DIR=
PGDATA_DIR=
SERVER_LOG=

is_root() {
	[ "$(id -u)" -eq 0 ]
}

log() {
	printf '==> %s\n' "$*"
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Set TEST_USER_PREFIX to the command words that run a command as the
# unprivileged user, with the libpq environment of the throwaway cluster and
# the PostgreSQL 15 binaries first on PATH.  setpriv and env exec in place,
# so `"${TEST_USER_PREFIX[@]}" cmd &` leaves $! = the pid of cmd.
set_test_user_prefix() {
	TEST_USER_PREFIX=()
	if is_root; then
		TEST_USER_PREFIX=(setpriv --reuid="$(id -u "$TEST_USER")"
			--regid="$(id -g "$TEST_USER")" --init-groups --)
	fi
	TEST_USER_PREFIX+=(
		env -u PGDATABASE -u PGSERVICE -u PGOPTIONS -u PGDATA -u PGPASSWORD
		"PATH=$PG_BINDIR:/usr/local/bin:/usr/bin:/bin"
		"HOME=$WORK_DIR"
		"TMPDIR=$WORK_DIR/tmp"
		"PGHOST=$WORK_DIR"
		"PGPORT=$TEST_PORT"
		"PGUSER=$(test_user_name)"
		"PSQLRC=/dev/null"
		"LC_ALL=C.UTF-8"
	)
}

as_test_user() {
	set_test_user_prefix
	"${TEST_USER_PREFIX[@]}" "$@"
}

test_user_name() {
	if is_root; then
		printf '%s' "$TEST_USER"
	else
		id -un
	fi
}

# A system account with no login and no home: it only owns throwaway files.
ensure_test_user() {
	is_root || return 0
	if ! getent passwd "$TEST_USER" >/dev/null; then
		log "creating system user $TEST_USER"
		useradd --system --user-group --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin "$TEST_USER"
	fi
}

# Packages are only installed as root; otherwise assume the machine is ready.
run_setup_debian() {
	if is_root; then
		"$ROOT_DIR/tools/setup-debian"
	fi
}

# A fresh temporary directory holding a copy of the source tree, both owned
# by the test user, so builds, results/ and tmp_check/ never touch the
# working tree and never leave root-owned files behind.
make_work_dir() {
	local prefix=$1 base=${TMPDIR:-/tmp}
	# The test user must reach it: root's TMPDIR may be private to root.
	is_root && base=/tmp
	WORK_DIR=$(mktemp -d "$base/$prefix.XXXXXX")
	TREE_DIR=$WORK_DIR/src
	PGDATA_DIR=$WORK_DIR/data
	SERVER_LOG=$WORK_DIR/server.log
	# tmp/ is the test user's TMPDIR: the TAP tests put socket directories
	# there, and do not always remove them.
	mkdir "$TREE_DIR" "$WORK_DIR/tmp"
	# Skip version control and anything a previous build or test run left.
	tar -C "$ROOT_DIR" -cf - \
		--exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./results --exclude=./output_iso --exclude=./tmp_check \
		--exclude=./log --exclude=./regression.diffs --exclude=./regression.out \
		--exclude=./demo_cluster \
		--exclude=./test/fuzz/segment_fuzz --exclude=./test/fuzz/fuzz_format \
		. | tar -C "$TREE_DIR" -xf -
	if is_root; then
		chown -R "$TEST_USER:" "$WORK_DIR"
	fi
}

# Where `make install` writes; if we cannot write there, sudo may.
install_dirs_writable() {
	local libdir
	libdir=$("$PG_CONFIG" --pkglibdir)
	[ -w "$libdir" ] && [ -w "$("$PG_CONFIG" --sharedir)/extension" ] &&
		{ [ ! -d "$libdir/bitcode" ] || [ -w "$libdir/bitcode" ]; }
}

# Build in the copy as the test user, install from it with the rights needed.
build_and_install() {
	local -a make_vars=(PG_CONFIG="$PG_CONFIG" PG_CFLAGS="$WARNING_FLAGS" --no-print-directory)
	log "building (PG_CFLAGS=$WARNING_FLAGS)"
	as_test_user make -C "$TREE_DIR" -s -j"$(nproc)" "${make_vars[@]}" || return 1
	log "installing into $("$PG_CONFIG" --pkglibdir)"
	if is_root || install_dirs_writable; then
		make -C "$TREE_DIR" -s "${make_vars[@]}" install || return 1
	elif command -v sudo >/dev/null; then
		sudo make -C "$TREE_DIR" -s "${make_vars[@]}" install || return 1
	else
		echo "error: cannot write to PostgreSQL's install directories and no sudo;" >&2
		echo "run as root, or as a user who may write to them" >&2
		return 1
	fi
}

# initdb and start a cluster in the work directory.  C locale and UTF8 so
# test output does not depend on the machine; no fsync: the data is thrown away.
start_cluster() {
	log "starting a throwaway cluster in $PGDATA_DIR (socket $WORK_DIR, port $TEST_PORT)"
	local out
	out=$(as_test_user initdb -D "$PGDATA_DIR" --no-locale -E UTF8 --auth=trust \
		--no-sync 2>&1) || {
		printf '%s\n' "$out" >&2
		return 1
	}
	as_test_user tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<-EOF
		listen_addresses = ''
		unix_socket_directories = '$WORK_DIR'
		port = $TEST_PORT
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		max_prepared_transactions = 10
		lc_messages = 'C'
	EOF
	as_test_user pg_ctl -D "$PGDATA_DIR" -l "$SERVER_LOG" -w -t 60 start >/dev/null || {
		tail -n 50 "$SERVER_LOG" >&2 || true
		return 1
	}
}

stop_cluster() {
	[ -n "$PGDATA_DIR" ] && [ -f "$PGDATA_DIR/postmaster.pid" ] || return 0
	as_test_user pg_ctl -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null 2>&1 ||
		as_test_user pg_ctl -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
}

# Run a command as the test user under a time limit.  timeout puts it in a
# process group of its own, which it kills whole when time is up, and which
# cleanup kills if we are interrupted: in the background, `wait` lets our
# traps run at once instead of after the command.
CHILD_PID=
run_limited() {
	local rc=0
	set_test_user_prefix
	"${TEST_USER_PREFIX[@]}" timeout "$TIME_LIMIT" "$@" &
	CHILD_PID=$!
	wait "$CHILD_PID" || rc=$?
	CHILD_PID=
	[ $rc -ne 124 ] || echo "error: timed out after ${TIME_LIMIT}s: $*" >&2
	return $rc
}

kill_child() {
	[ -n "$CHILD_PID" ] || return 0
	kill -TERM -- "-$CHILD_PID" 2>/dev/null || kill -TERM "$CHILD_PID" 2>/dev/null || true
	wait "$CHILD_PID" 2>/dev/null || true
}

# Trap handler: whatever happened, leave no server running and no files.
# SEGMENT_KEEP_TMP=1 keeps the work directory for a post-mortem.
cleanup() {
	kill_child
	stop_cluster
	if [ -n "$WORK_DIR" ] && [ -d "$WORK_DIR" ]; then
		if [ "${SEGMENT_KEEP_TMP:-0}" = 1 ]; then
			log "keeping $WORK_DIR"
		else
			rm -rf "$WORK_DIR"
		fi
	fi
}

install_traps() {
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
