# segment.schedule() registers a segment's refresh with pg_cron, which then
# runs it: a time-window segment that has drifted is brought up to date
# without anyone calling segment.refresh().  unschedule() and drop() remove
# the job.  Skipped when pg_cron is not installed (Debian package
# postgresql-15-cron; tools/setup-debian installs it).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
if (!-f "$pkglibdir/pg_cron.so")
{
	plan skip_all => 'pg_cron is not installed';
}

my $node = PostgreSQL::Test::Cluster->new('pg_cron');
$node->init;
# Jobs run in background workers, so pg_cron needs no connection of its own.
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION segment; CREATE EXTENSION pg_cron;');

# One customer with a purchase yesterday: a member of 'recent' (a purchase
# in the last day) now.  The clock is pushed forward a week for the
# database, as if time had passed: the stored membership is stale until a
# refresh.
$node->safe_psql(
	'postgres', q{
CREATE TABLE customers (id int PRIMARY KEY);
INSERT INTO customers VALUES (1), (2);
CREATE TABLE events (customer_id int NOT NULL, at timestamptz NOT NULL);
CREATE INDEX ON events (customer_id, at);
INSERT INTO events VALUES (1, now() - interval '1 hour');
SELECT segment.track_customers('customers', 'id');
SELECT segment.track_events('events', 'customer_id', 'at');
SELECT segment.create_trait('seen_1d', $$count(*) FILTER (WHERE at > now() - interval '1 day')$$);
SELECT segment.create('recent', 'seen_1d > 0');
});
is($node->safe_psql('postgres', q{SELECT segment.members('recent')}),
	'{1}', 'a member before the clock moves');

my $job = $node->safe_psql('postgres', q{SELECT segment.schedule('recent', '* * * * *')});
like($job, qr/^\d+$/, 'schedule() returns the pg_cron job id');
is( $node->safe_psql(
		'postgres', "SELECT schedule, command FROM cron.job WHERE jobid = $job"),
	q{* * * * *|SELECT segment.refresh('recent')},
	'the job refreshes the segment every minute');
is($node->safe_psql('postgres', q{SELECT schedule FROM segment.summary WHERE name = 'recent'}),
	'* * * * *', 'segment.summary shows the schedule');

# pg_cron's jobs see the database's settings: a week later, customer 1 is
# no longer recent.  Wait for the job (it runs at the start of a minute).
$node->safe_psql('postgres',
	q{ALTER DATABASE postgres SET segment.reference_time = '} .
	  $node->safe_psql('postgres', q{SELECT now() + interval '7 days'}) . q{'});
my $refreshed = $node->poll_query_until(
	'postgres', q{SELECT segment.members('recent') = '{}'::segment},
	't');
ok($refreshed, 'pg_cron ran the refresh: the drifted window was recomputed');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $job AND status = 'succeeded'"),
	't',
	'the run succeeded');

is($node->safe_psql('postgres', q{SELECT segment.unschedule('recent')}),
	't', 'unschedule() removes the job');
is($node->safe_psql('postgres', "SELECT count(*) FROM cron.job WHERE jobid = $job"),
	'0', 'the job is gone');
is($node->safe_psql('postgres', q{SELECT segment.unschedule('recent')}),
	'f', 'unschedule() of an unscheduled segment is false');

# dropping a scheduled segment drops its job
$job = $node->safe_psql('postgres', q{SELECT segment.schedule('recent', '0 3 * * *')});
$node->safe_psql('postgres', q{SELECT segment.drop('recent')});
is($node->safe_psql('postgres', "SELECT count(*) FROM cron.job WHERE jobid = $job"),
	'0', 'drop() removes the job');

# a bad cron expression is pg_cron's error, and nothing is recorded
$node->safe_psql('postgres', q{SELECT segment.create('all', 'true')});
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', q{SELECT segment.schedule('all', 'every now and then')});
isnt($ret, 0, 'an invalid schedule is an error');
like($stderr, qr/invalid schedule/, 'pg_cron says why');
is($node->safe_psql('postgres', q{SELECT schedule IS NULL FROM segment.summary WHERE name = 'all'}),
	't', 'nothing is recorded');

# a role that owns a segment schedules it, and the job runs as that role;
# it needs USAGE on pg_cron's schema, as for any use of pg_cron
$node->safe_psql(
	'postgres', q{
CREATE ROLE marketer LOGIN;
GRANT USAGE ON SCHEMA segment, cron TO marketer;
GRANT SELECT ON customers TO marketer;
});
$node->safe_psql('postgres', q{SET ROLE marketer; SELECT segment.create('mine', 'true')});
$job = $node->safe_psql('postgres',
	q{SET ROLE marketer; SELECT segment.schedule('mine', '0 4 * * *')});
is($node->safe_psql('postgres', "SELECT username FROM cron.job WHERE jobid = $job"),
	'marketer', 'a non-superuser schedules its own segment; the job runs as that role');
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SET ROLE marketer; SELECT segment.schedule('all', '0 4 * * *')});
like($stderr, qr/must be owner of segment "all"/, 'but not another role\'s');
is($node->safe_psql('postgres', q{SET ROLE marketer; SELECT segment.unschedule('mine')}),
	't', 'and unschedules it');

$node->stop;
done_testing();
