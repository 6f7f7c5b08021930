# segment_agg, union_agg and intersect_agg under parallel query: the plan has
# a Partial Aggregate run by workers (so the serial, deserial and combine
# functions run), and the results equal the serial ones and the exact values.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('parallel_aggregates');
$node->init;
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 8
max_parallel_workers = 8
});
$node->start;

# 300,000 rows each.  keys.k: 300,000 distinct keys over the whole key
# space (an odd multiplier is a bijection mod 2^32), in 4 groups of 75,000
# (grp is a stored column, so the planner knows there are few groups).
# segs.u: {g, g + 300000}, whose union is {1..600000}.
# segs.i: {0..1000, g + 2000, 4294967295}, whose intersection is
# {0..1000,4294967295}.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION segment;
CREATE TABLE keys AS
SELECT (g * 2654435761) % 4294967296 AS k, (g % 4)::int AS grp
FROM generate_series(1::bigint, 300000) AS g;
CREATE TABLE segs AS
SELECT segment(ARRAY[g, g + 300000]) AS u,
	'{0..1000,4294967295}'::segment | segment(ARRAY[g + 2000]) AS i
FROM generate_series(1::bigint, 300000) AS g;
VACUUM ANALYZE keys;
VACUUM ANALYZE segs;
});

my $serial = 'SET max_parallel_workers_per_gather = 0;';
# Workers do all the partial aggregation: the leader only combines.
my $parallel = q{
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
};

# name => [ query whose single row is the aggregate, exact summary of it ]
my @cases = (
	[
		'segment_agg', 'SELECT segment_agg(k) AS s FROM keys',
		'300000 24731 4294955749'
	],
	[ 'union_agg', 'SELECT union_agg(u) AS s FROM segs', '600000 1 600000' ],
	[
		'intersect_agg', 'SELECT intersect_agg(i) AS s FROM segs',
		'1002 0 4294967295'
	]);

my $summary = q{cardinality(s) || ' ' || min_member(s) || ' ' || max_member(s)};

$node->safe_psql('postgres',
	'CREATE TABLE serial_result (name text PRIMARY KEY, s segment)');

for my $case (@cases)
{
	my ($name, $query, $expected) = @$case;

	my $plan = $node->safe_psql('postgres', "$serial EXPLAIN (COSTS OFF) $query");
	unlike($plan, qr/Partial Aggregate/, "$name: serial plan has no Partial Aggregate");
	$node->safe_psql('postgres',
		"$serial INSERT INTO serial_result SELECT '$name', s FROM ($query) AS q");
	is( $node->safe_psql('postgres',
			"SELECT $summary FROM serial_result WHERE name = '$name'"),
		$expected, "$name: serial result");

	# Compare in the same statement as the parallel aggregate, so the
	# parallel result is never stored first.
	my $summary_q = $summary =~ s/\(s\)/(q.s)/gr;
	my $compare = qq{
SELECT q.s = r.s, $summary_q, q.s::text = r.s::text
FROM ($query) AS q, serial_result r
WHERE r.name = '$name'};

	$plan = $node->safe_psql('postgres', "$parallel EXPLAIN (COSTS OFF) $compare");
	like($plan, qr/Partial Aggregate/, "$name: parallel plan has Partial Aggregate");
	like($plan, qr/Workers Planned: 2/, "$name: two workers planned");

	my $analyze = $node->safe_psql('postgres',
		"$parallel EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $compare");
	like($analyze, qr/Workers Launched: [12]/, "$name: workers launched");

	is($node->safe_psql('postgres', "$parallel $compare"),
		"t|$expected|t", "$name: parallel result = serial result");
}

# Grouped: a Partial HashAggregate or GroupAggregate per group.
my $grouped = q{
SELECT grp, segment_agg(k) AS s FROM keys GROUP BY grp};
my $grouped_summary = qq{
SELECT string_agg(grp || ':' || cardinality(s), ' ' ORDER BY grp),
	md5(string_agg(s::text, ',' ORDER BY grp))
FROM ($grouped) AS q};
my $serial_grouped = $node->safe_psql('postgres', "$serial $grouped_summary");
like($serial_grouped, qr/^0:75000 1:75000 2:75000 3:75000\|/,
	'grouped segment_agg: serial result');
like( $node->safe_psql('postgres', "$parallel EXPLAIN (COSTS OFF) $grouped_summary"),
	qr/Partial (Hash|Group)Aggregate/,
	'grouped segment_agg: parallel plan has a partial aggregate');
is($node->safe_psql('postgres', "$parallel $grouped_summary"),
	$serial_grouped, 'grouped segment_agg: parallel result = serial result');

$node->stop;
done_testing();
