--
-- Every SQL example of README.md and doc/reference.md, in order, so that the
-- documentation is tested.  Keep this file and the docs in step: change an
-- example in both places, with its output.
--
-- README.md, example 1 (Installation)
-- pg_regress may have created the extension already (--load-extension)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS segment;
RESET client_min_messages;
-- README.md's pg_cron example (Installation) needs pg_cron preloaded:
-- test/t/003_pg_cron_schedule.pl runs it.
-- README.md, example 2 (Getting started)
CREATE TABLE customers (id bigint PRIMARY KEY, country text, plan text);
INSERT INTO customers VALUES
  (1, 'ZA', 'pro'), (2, 'ZA', 'free'), (3, 'US', 'pro'),
  (4, 'DE', 'free'), (5, 'ZA', 'pro'), (6, 'US', 'free');
CREATE TABLE segments (name text PRIMARY KEY, members segment NOT NULL);
INSERT INTO segments
SELECT 'country:' || country, segment_agg(id) FROM customers GROUP BY country
UNION ALL
SELECT 'plan:' || plan, segment_agg(id) FROM customers GROUP BY plan;
SELECT name, members, cardinality(members) FROM segments ORDER BY name;
-- README.md, example 3 (Getting started)
SELECT za.members & pro.members AS za_pro
FROM segments za, segments pro
WHERE za.name = 'country:ZA' AND pro.name = 'plan:pro';
SELECT c.*
FROM customers c
WHERE c.id <@ (SELECT members FROM segments WHERE name = 'plan:pro')
ORDER BY c.id;
-- README.md, example 4 (Getting started)
SELECT a.name AS a, b.name AS b,
       intersection_cardinality(a.members, b.members) AS both,
       round(jaccard(a.members, b.members)::numeric, 2) AS jaccard
FROM segments a JOIN segments b ON a.name < b.name
WHERE a.members && b.members
ORDER BY a.name, b.name;
-- README.md, example 5 (Live, behavioural and value segments)
CREATE TABLE shoppers (id bigint PRIMARY KEY, country text);
INSERT INTO shoppers VALUES (1, 'ZA'), (2, 'ZA'), (3, 'US');
CREATE TABLE orders (shopper bigint NOT NULL, at timestamptz NOT NULL, amount numeric);
CREATE INDEX ON orders (shopper, at);
INSERT INTO orders VALUES
  (1, now() - interval '2 days', 30), (1, now() - interval '9 days', 45),
  (2, now() - interval '90 days', 20), (3, now() - interval '1 day', 99);
SELECT segment.track_customers('shoppers', 'id');
SELECT segment.track_events('orders', 'shopper', 'at', amount => 'amount');
SELECT segment.create_trait('orders_30d', $$count(*) FILTER (WHERE at > now() - interval '30 days')$$);
SELECT segment.create('za_repeat_buyers', $$orders_30d >= 2 AND country = 'ZA'$$);
SELECT segment.members('za_repeat_buyers');
-- README.md, example 6 (Live, behavioural and value segments)
INSERT INTO orders VALUES (2, now(), 15), (2, now(), 25);
SELECT segment.members('za_repeat_buyers'), segment.of(2);
-- README.md, example 7 (Live, behavioural and value segments)
SELECT * FROM segment.traits ORDER BY customer_id;
SELECT segment, customer_id, change FROM segment.history ORDER BY at, customer_id;
-- README.md, example 8 (Troubleshooting / FAQ)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cardinality(a.members & b.members)
FROM segments a, segments b
WHERE a.name = 'country:ZA' AND b.name = 'plan:pro';
-- README.md, example 9 (Troubleshooting / FAQ)
SELECT '{1,2,3,5,6,9}'::segment AS s, '{1..3,5,6,9}'::segment = '{9,6,5,3,2,1,1}' AS same;
-- README.md, example 10 (Troubleshooting / FAQ)
SELECT sample(s, 100) = sample(s, 100) AS same_every_time,
       sample(s, 100) <@ sample(s, 150) AS nested,
       sample(s, 100, 1) <> sample(s, 100, 2) AS seed_matters
FROM (SELECT '{1..100000}'::segment AS s) AS t;
-- README.md, example 11 (Troubleshooting / FAQ)
SELECT 3 <@ ('{1}'::segment | '{3}'::segment) AS member;
-- README.md, example 12 (Troubleshooting / FAQ)
SELECT c.id, c.country
FROM segments s, unnest(s.members) AS m(id) JOIN customers c USING (id)
WHERE s.name = 'country:US'
ORDER BY c.id;
-- README.md, example 13 (Upgrading)
ALTER EXTENSION segment UPDATE;
-- doc/reference.md, example 14 (segment reference (0.1.0))
SELECT name, members FROM segments ORDER BY name;
-- doc/reference.md, example 15 (The segment type)
SELECT pg_column_size('{}'::segment) AS empty,
       pg_column_size('{1..1000000}'::segment) AS one_million_in_a_run;
-- doc/reference.md, example 16 (Grammar)
SELECT '{ 7, 3, 1..2 , 3 }'::segment AS any_order,
       '{1,2}'::segment AS two,
       '{1,2,3}'::segment AS three,
       '{4..4}'::segment AS one,
       '{}'::segment AS empty;
SELECT '{65534..65537}'::segment AS across_containers, '{0..4294967295}'::segment AS everything;
-- doc/reference.md, example 17 (Input errors)
SELECT '{1,}'::segment;
SELECT '{5..3}'::segment;
SELECT '{4294967296}'::segment;
SELECT '1,2'::segment;
-- doc/reference.md, example 18 (Binary form)
SELECT to_bytea('{1,5}'::segment) AS array_container,
       to_bytea('{1..3}'::segment) AS run_container,
       to_bytea('{}'::segment) AS empty;
-- doc/reference.md, example 19 (Binary form)
SELECT s, to_bytea(s) AS stored, s = '{1..3}' AS same
FROM (SELECT segment('\x3a300000010000000000020010000000010002000300'::bytea) AS s) AS t;
-- doc/reference.md, example 20 (Binary form)
SELECT segment('\x3a30000001000000000001001000000005000100'::bytea);
SELECT segment('\x3a3000'::bytea);
-- doc/reference.md, example 21 (Casts and conversions)
SELECT ARRAY[3, 1, 2, 2]::segment AS from_array,
       to_array('{1..4,10}'::segment) AS to_array,
       '{5,6}'::segment::text AS as_text;
SELECT segment(ARRAY[1, NULL]);
SELECT segment(ARRAY[-1]);
-- doc/reference.md, example 22 (Set operators)
SELECT '{1..5}'::segment & '{4..8}' AS "and",
       '{1..5}'::segment | '{4..8}' AS "or",
       '{1..5}'::segment - '{4..8}' AS "minus",
       '{1..5}'::segment # '{4..8}' AS "xor";
-- doc/reference.md, example 23 (Containment and overlap)
SELECT '{1..5}'::segment @> '{2,3}' AS contains,
       3 <@ '{1..5}'::segment AS key_in,
       '{1,2}'::segment && '{2,3}' AS overlaps,
       '{}'::segment <@ '{1}' AS empty_in_any,
       '{}'::segment && '{}' AS empty_overlaps;
-- doc/reference.md, example 24 (Precedence)
SELECT '{1..5}'::segment | '{7}'::segment - '{1..7}'::segment AS minus_first,
       ('{1..5}'::segment | '{7}') - '{1..7}' AS parenthesized,
       3 <@ ('{1}'::segment | '{3}') AS key_in_union;
-- doc/reference.md, example 25 (cardinality)
SELECT cardinality('{1..1000,2000}'::segment), cardinality('{}'::segment) AS empty;
-- doc/reference.md, example 26 (Counting set operations)
SELECT intersection_cardinality('{1..10}', '{5..20}') AS "and",
       union_cardinality('{1..10}', '{5..20}') AS "or",
       difference_cardinality('{1..10}', '{5..20}') AS "minus",
       symmetric_difference_cardinality('{1..10}', '{5..20}') AS "xor";
-- doc/reference.md, example 27 (jaccard)
SELECT jaccard('{1..10}', '{5..20}') AS partial,
       jaccard('{}', '{}') AS both_empty,
       jaccard('{1}', '{}') AS one_empty;
-- doc/reference.md, example 28 (min_member and max_member)
SELECT min_member('{5,9,70000}'), max_member('{5,9,70000}'),
       min_member('{}') IS NULL AS empty_is_null;
-- doc/reference.md, example 29 (member_rank)
SELECT member_rank('{10,20,30}', 5) AS below,
       member_rank('{10,20,30}', 20) AS member,
       member_rank('{10,20,30}', 25) AS between,
       member_rank('{10,20,30}', 4294967295) AS above;
-- doc/reference.md, example 30 (nth_member)
SELECT nth_member('{10,20,30}', 1) AS first,
       nth_member('{10,20,30}', 3) AS third,
       nth_member('{10,20,30}', 4) IS NULL AS past_the_end;
SELECT nth_member('{10,20,30}', 0);
-- doc/reference.md, example 31 (slice)
SELECT slice('{1..100}', 10, 20) AS inside,
       slice('{1..100,200000}', 95, 4294967295) AS to_the_end,
       slice('{1..100}', 50, 10) AS reversed;
-- doc/reference.md, example 32 (sample)
SELECT cardinality(sample(s, 100)) AS n,
       sample(s, 100) = sample(s, 100) AS stable,
       sample(s, 100) <@ sample(s, 101) AS nested,
       sample(s, 100, 1) <> sample(s, 100, 2) AS seeded,
       sample(s, 10) & '{1..50000}' <@ sample(slice(s, 1, 50000), 10) AS coordinated
FROM (SELECT '{1..100000}'::segment AS s) AS t;
SELECT sample('{1..3}'::segment, 10) AS all_of_it, sample('{1..3}'::segment, 0) AS none;
SELECT sample('{1..3}'::segment, -1);
-- doc/reference.md, example 33 (sample_fraction)
SELECT cardinality(sample_fraction(s, 0.1)) BETWEEN 9500 AND 10500 AS about_a_tenth,
       sample_fraction(s, 0.1, 7) & '{1..500}' = sample_fraction(s & '{1..500}', 0.1, 7) AS consistent,
       sample_fraction(s, 0.1) <@ sample_fraction(s, 0.2) AS nested,
       sample_fraction(s, 0) AS none
FROM (SELECT '{1..100000}'::segment AS s) AS t;
SELECT sample_fraction('{1..100}', 1.5);
-- doc/reference.md, example 34 (unnest)
SELECT * FROM unnest('{1..3,10}'::segment) AS id;
-- doc/reference.md, example 35 (segment_agg)
SELECT segment_agg(x) FROM (VALUES (3), (1), (NULL), (2), (3), (10)) AS v(x);
SELECT segment_agg(x) IS NULL AS no_rows, coalesce(segment_agg(x), '{}') AS or_empty
FROM generate_series(1, 0) AS x;
-- doc/reference.md, example 36 (segment_agg)
CREATE TABLE events (customer_id bigint, kind text);
INSERT INTO events
SELECT g % 1000, CASE WHEN g % 1000 < 100 AND g > 5000 THEN 'purchase' ELSE 'visit' END
FROM generate_series(1, 10000) AS g;
SELECT kind, segment_agg(customer_id), count(*) AS events
FROM events GROUP BY kind ORDER BY kind;
-- doc/reference.md, example 37 (union_agg and intersect_agg)
SELECT union_agg(s), intersect_agg(s)
FROM (VALUES ('{1..5}'::segment), ('{4..9}'), (NULL)) AS v(s);
SELECT union_agg(members) AS everyone FROM segments WHERE name LIKE 'country:%';
-- doc/reference.md, example 38 (Parallel aggregation)
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT segment_agg(customer_id) FROM events;
SELECT cardinality(segment_agg(customer_id)) FROM events;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
-- doc/reference.md, example 39 (Comparison, ordering and hashing)
SELECT s FROM (VALUES ('{1,2}'::segment), ('{1}'), ('{}'), ('{2}'), ('{1,3}'),
                      ('{0..70000}'), ('{1,2,3}')) AS v(s)
ORDER BY s;
SELECT s, count(*) FROM (VALUES ('{1,2}'::segment), ('{2,1}'), ('{1..2}'), ('{3}')) AS v(s)
GROUP BY s ORDER BY s;
-- doc/reference.md, example 40 (segment.kernels)
SHOW segment.kernels;
SET segment.kernels = portable;
SELECT cardinality('{1..10}'::segment & '{5..20}') AS same_answer;
SET segment.kernels = fastest;
RESET segment.kernels;
-- doc/reference.md, example 41 (Planner support)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cardinality(a.members & b.members), cardinality(a.members | b.members)
FROM segments a, segments b
WHERE a.name = 'country:ZA' AND b.name = 'plan:pro';
-- doc/reference.md, example 42 (Planner support)
EXPLAIN SELECT * FROM unnest('{1..50}'::segment);
-- doc/reference.md, example 43 (Per-query fetch cache)
SELECT count(*)
FROM customers
WHERE id <@ (SELECT members FROM segments WHERE name = 'plan:pro');
-- doc/reference.md, example 44 (Cleanup)
DROP TABLE events, segments, customers;
-- the tour tracked tables: start the next test from a fresh extension
DROP TABLE shoppers, orders CASCADE;
DROP EXTENSION segment;
CREATE EXTENSION segment;
