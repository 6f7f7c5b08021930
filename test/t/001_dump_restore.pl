# segment columns survive pg_dump (custom format) | pg_restore into a new
# database: same values by =, same text, same stored bytes, and the btree and
# hash indexes on them come back consistent.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# id, label, and the value as SQL, so that the restored database can rebuild
# each value and compare it with =.  'random' holds 200,000 distinct keys
# spread over the whole key space (multiplying by an odd number is a
# bijection mod 2^32); 'dense' holds 2/3 of 0..199999, so it is stored in
# bitset containers; 'ranges' in run containers.
my @values = (
	[ 1, 'empty',  q{'{}'::segment} ],
	[ 2, 'small',  q{'{0,2,42,65535,65537,4294967295}'::segment} ],
	[ 3, 'ranges', q{'{1..1000,2000,70000..140000,4294967000..4294967295}'::segment} ],
	[
		4, 'random',
		q{(SELECT segment_agg((g * 2654435761) % 4294967296)
		   FROM generate_series(1::bigint, 200000) AS g)}
	],
	[
		5, 'dense',
		q{(SELECT segment_agg(g) FROM generate_series(0::bigint, 199999) AS g
		   WHERE g % 3 <> 0)}
	],
	[ 6, 'null', q{NULL::segment} ]);

my $values_list =
  join(",\n", map { "($_->[0], '$_->[1]', $_->[2])" } @values);
my $random_sql = $values[3][2];

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', qq{
CREATE EXTENSION segment;
CREATE TABLE seg_values (id int PRIMARY KEY, label text NOT NULL, s segment);
INSERT INTO seg_values (id, label, s) VALUES $values_list;
-- A btree entry must fit in a page, so index only the small values that way.
CREATE INDEX seg_values_btree ON seg_values USING btree (s) WHERE id <= 3;
CREATE INDEX seg_values_hash ON seg_values USING hash (s);
});

# Exact cardinalities, so a wrong source value cannot pass unnoticed.
my $cardinalities = q{
SELECT string_agg(label || ':' || coalesce(cardinality(s)::text, 'null'), ' ' ORDER BY id)
FROM seg_values};
is($node->safe_psql('src', $cardinalities),
	'empty:0 small:6 ranges:71298 random:200000 dense:133333 null:null',
	'source cardinalities');

my $dump_file = $node->basedir . '/src.dump';
$node->command_ok(
	[ 'pg_dump', '--format=custom', '--file', $dump_file, '--dbname', 'src' ],
	'pg_dump --format=custom');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '--dbname', 'dst', $dump_file ],
	'pg_restore into a new database');

is($node->safe_psql('dst', $cardinalities),
	'empty:0 small:6 ranges:71298 random:200000 dense:133333 null:null',
	'restored cardinalities');

# Per row: the text and the stored bytes, compared across the two databases.
my $per_row = q{
SELECT id, label, s IS NULL, md5(s::text), md5(to_bytea(s))
FROM seg_values ORDER BY id};
my $src_rows = $node->safe_psql('src', $per_row);
is($node->safe_psql('dst', $per_row),
	$src_rows, 'restored rows have the same text and bytes');

# The small values, verbatim: the text form round-trips exactly.
is( $node->safe_psql(
		'dst', 'SELECT s::text FROM seg_values WHERE id IN (1, 2, 3) ORDER BY id'),
	"{}\n{0,2,42,65535,65537,4294967295}\n"
	  . "{1..1000,2000,70000..140000,4294967000..4294967295}",
	'restored text of the small values');

# Each restored value = the value rebuilt from its definition.
is( $node->safe_psql(
		'dst', qq{
SELECT string_agg(v.label || ':' || coalesce((v.s = e.s)::text, 'null'), ' ' ORDER BY v.id)
FROM seg_values v
JOIN (VALUES $values_list) AS e(id, label, s) USING (id)}),
	'empty:true small:true ranges:true random:true dense:true null:null',
	'restored values = rebuilt values');
is($node->safe_psql('dst', 'SELECT count(*) FROM seg_values WHERE s IS NULL'),
	'1', 'NULL restored as NULL');

# The indexes were rebuilt with the operator classes and agree with the data.
is( $node->safe_psql(
		'dst', q{
SELECT string_agg(c.relname || ':' || am.amname, ' ' ORDER BY c.relname)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
WHERE i.indrelid = 'seg_values'::regclass AND c.relname <> 'seg_values_pkey'}),
	'seg_values_btree:btree seg_values_hash:hash',
	'btree and hash indexes restored');
$node->safe_psql('dst', 'CREATE EXTENSION amcheck');
$node->safe_psql('dst', "SELECT bt_index_check('seg_values_btree', true)");
pass('amcheck finds the restored btree index consistent');

# Look a value up through each index in turn, the other one dropped (and
# brought back by the ROLLBACK).
my $index_only = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my %lookup = (
	seg_values_btree => [
		q{SELECT label FROM seg_values WHERE s = '{1..1000,2000,70000..140000,4294967000..4294967295}' AND id <= 3},
		'ranges'
	],
	seg_values_hash => [
		"SELECT label FROM seg_values WHERE s = ($random_sql)", 'random'
	]);
for my $index (sort keys %lookup)
{
	my ($query, $label) = @{ $lookup{$index} };
	my ($other) = grep { $_ ne $index } keys %lookup;
	my $in_txn = sub {
		return qq{BEGIN;
DROP INDEX $other;
$index_only
$_[0];
ROLLBACK};
	};
	like($node->safe_psql('dst', $in_txn->("EXPLAIN (COSTS OFF) $query")),
		qr/Index Scan using $index/, "$index is used for =");
	is($node->safe_psql('dst', $in_txn->($query)),
		$label, "lookup by = through $index finds the restored value");
}
# The btree order of the restored values, by a sort; and of the small ones
# by the index.
my $order =
  q{SELECT string_agg(label, ' ' ORDER BY s) FROM seg_values WHERE s IS NOT NULL};
is($node->safe_psql('dst', $order),
	$node->safe_psql('src', $order), 'same order after restore');
my $small_order =
  q{SELECT string_agg(label, ' ' ORDER BY s) FROM seg_values WHERE id <= 3};
is($node->safe_psql('dst', "$index_only $small_order"),
	$node->safe_psql('src', $small_order),
	'same order through the btree index after restore');

$node->stop;
done_testing();
