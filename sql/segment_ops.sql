--
-- Set algebra, containment, comparison, operator classes
--

-- shapes: empty, one key, the extremes, runs, arrays, bitsets, several containers
CREATE TABLE shapes (name text PRIMARY KEY, s segment);
INSERT INTO shapes VALUES
	('empty', '{}'),
	('zero', '{0}'),
	('max', '{4294967295}'),
	('small', '{1,5,9,65536,4294967295}'),
	('run', '{100..5000}'),
	('full', '{65536..131071}'),
	('evens', (SELECT segment_agg(x) FROM generate_series(0, 20000, 2) x)),
	('odds', (SELECT segment_agg(x) FROM generate_series(1, 20001, 2) x)),
	('arr4096', (SELECT segment_agg(x) FROM generate_series(0, 8190, 2) x)),
	('bits4097', (SELECT segment_agg(x) FROM generate_series(0, 8192, 2) x)),
	('spread', (SELECT segment_agg(x * 7919) FROM generate_series(0, 20000) x));

-- Each operation against the same computed with plain SQL on unnested keys.
CREATE FUNCTION pg_temp.keys(segment) RETURNS SETOF bigint
LANGUAGE sql AS 'SELECT unnest($1)';

SELECT a.name AS a, b.name AS b,
	(a.s & b.s) = (SELECT coalesce(segment_agg(k), '{}') FROM (SELECT pg_temp.keys(a.s) INTERSECT SELECT pg_temp.keys(b.s)) x(k)) AS "and",
	(a.s | b.s) = (SELECT coalesce(segment_agg(k), '{}') FROM (SELECT pg_temp.keys(a.s) UNION SELECT pg_temp.keys(b.s)) x(k)) AS "or",
	(a.s - b.s) = (SELECT coalesce(segment_agg(k), '{}') FROM (SELECT pg_temp.keys(a.s) EXCEPT SELECT pg_temp.keys(b.s)) x(k)) AS "andnot",
	(a.s # b.s) = (SELECT coalesce(segment_agg(k), '{}') FROM ((SELECT pg_temp.keys(a.s) EXCEPT SELECT pg_temp.keys(b.s)) UNION ALL (SELECT pg_temp.keys(b.s) EXCEPT SELECT pg_temp.keys(a.s))) x(k)) AS "xor"
FROM shapes a, shapes b
WHERE NOT ((a.s & b.s) = (SELECT coalesce(segment_agg(k), '{}') FROM (SELECT pg_temp.keys(a.s) INTERSECT SELECT pg_temp.keys(b.s)) x(k))
	AND (a.s | b.s) = (SELECT coalesce(segment_agg(k), '{}') FROM (SELECT pg_temp.keys(a.s) UNION SELECT pg_temp.keys(b.s)) x(k))
	AND (a.s - b.s) = (SELECT coalesce(segment_agg(k), '{}') FROM (SELECT pg_temp.keys(a.s) EXCEPT SELECT pg_temp.keys(b.s)) x(k))
	AND (a.s # b.s) = (SELECT coalesce(segment_agg(k), '{}') FROM ((SELECT pg_temp.keys(a.s) EXCEPT SELECT pg_temp.keys(b.s)) UNION ALL (SELECT pg_temp.keys(b.s) EXCEPT SELECT pg_temp.keys(a.s))) x(k)));

-- the count functions agree with cardinality of the built result
SELECT count(*) AS pairs,
	count(*) FILTER (WHERE intersection_cardinality(a.s, b.s) = cardinality(a.s & b.s)
		AND union_cardinality(a.s, b.s) = cardinality(a.s | b.s)
		AND difference_cardinality(a.s, b.s) = cardinality(a.s - b.s)
		AND symmetric_difference_cardinality(a.s, b.s) = cardinality(a.s # b.s)) AS agree
FROM shapes a, shapes b;

-- containment and overlap against plain SQL
SELECT count(*) AS pairs,
	count(*) FILTER (WHERE (a.s @> b.s) = NOT EXISTS (SELECT pg_temp.keys(b.s) EXCEPT SELECT pg_temp.keys(a.s))
		AND (b.s <@ a.s) = (a.s @> b.s)
		AND (a.s && b.s) = EXISTS (SELECT pg_temp.keys(a.s) INTERSECT SELECT pg_temp.keys(b.s))) AS agree
FROM shapes a, shapes b;

-- small cases, by hand
SELECT '{1..10}'::segment & '{5..20}', '{1..10}'::segment | '{5..20}',
       '{1..10}'::segment - '{5..20}', '{1..10}'::segment # '{5..20}';
SELECT '{}'::segment & '{1}', '{}'::segment | '{}', '{1}'::segment - '{1}', '{1}'::segment # '{1}';
SELECT '{0..65535}'::segment - '{1..65534}', '{65535}'::segment | '{65536}';
SELECT '{1,2}'::segment @> '{1}', '{1}'::segment @> '{1,2}', '{}'::segment @> '{}', '{}'::segment <@ '{1}';
SELECT '{1,2}'::segment && '{2,3}', '{1,2}'::segment && '{3,4}', '{}'::segment && '{}';

-- membership of a key
SELECT 42 <@ '{1..100}'::segment, '{1..100}'::segment @> 142::bigint, 0 <@ '{0}'::segment,
       4294967295 <@ '{4294967295}'::segment, 65536 <@ '{65535}'::segment;
SELECT k, k <@ s AS member
  FROM (SELECT s FROM shapes WHERE name = 'small') t,
       unnest(ARRAY[0, 1, 2, 5, 9, 65535, 65536, 65537, 4294967294, 4294967295]::bigint[]) k;
SELECT -1 <@ '{1}'::segment;
SELECT '{1}'::segment @> 4294967296;
SELECT NULL::bigint <@ '{1}'::segment, 1 <@ NULL::segment;

-- equality and order: ascending member lists compared element by element
SELECT '{1,2}'::segment = '{2,1}', '{1,2}'::segment <> '{1,2,3}', '{1..3}'::segment = ARRAY[1,2,3]::int[]::segment;
SELECT s FROM (VALUES ('{2}'::segment), ('{1,3}'), ('{1}'), ('{1,2}'), ('{}'), ('{1,65536}'),
	('{1,2,65536}'), ('{65536}'), ('{0}'), ('{1..5000}'), ('{1..4999}'), ('{1..4999,70000}')) v(s)
ORDER BY s;
SELECT '{1}'::segment < '{1,2}', '{1,3}'::segment > '{1,2,3}', '{1,65536}'::segment < '{1,2}',
       '{5}'::segment <= '{5}', '{5}'::segment >= '{6}';
SELECT segment_cmp('{1,2}', '{1,2}'), segment_cmp('{1}', '{2}'), segment_cmp('{3}', '{2}');
-- the order agrees with comparing the member arrays
SELECT count(*) AS pairs,
	count(*) FILTER (WHERE sign(segment_cmp(a.s, b.s)) = sign(btarraycmp(to_array(a.s), to_array(b.s)))) AS agree
FROM shapes a, shapes b;

-- btree and hash operator classes: GROUP BY, DISTINCT, UNION, ORDER BY, joins
CREATE TABLE opc (id int, s segment);
INSERT INTO opc SELECT i, ('{' || i % 5 || ',' || 100 + i % 3 || '}')::segment FROM generate_series(1, 60) i;
SELECT s, count(*) FROM opc GROUP BY s ORDER BY s;
SELECT count(DISTINCT s) FROM opc;
SELECT s FROM opc WHERE id <= 3 UNION SELECT s FROM opc WHERE id BETWEEN 2 AND 4 ORDER BY 1;
SET enable_sort = off;
SELECT count(*) FROM (SELECT DISTINCT s FROM opc) d;
RESET enable_sort;
SET enable_hashagg = off;
SELECT count(*) FROM (SELECT s FROM opc GROUP BY s) g;
RESET enable_hashagg;
SET enable_mergejoin = off;
SET enable_nestloop = off;
SELECT count(*) FROM opc a JOIN opc b ON a.s = b.s;
RESET enable_mergejoin;
SET enable_hashjoin = off;
SELECT count(*) FROM opc a JOIN opc b ON a.s = b.s;
RESET enable_nestloop;
RESET enable_hashjoin;
CREATE INDEX ON opc (s);
CREATE INDEX opc_hash ON opc USING hash (s);
SET enable_seqscan = off;
SELECT count(*) FROM opc WHERE s = '{1,101}';
RESET enable_seqscan;
-- equal sets hash equally, however they were built
SELECT segment_hash('{1..3}') = segment_hash(ARRAY[3,2,1]::int[]::segment),
       segment_hash_extended('{1..3}', 7) = segment_hash_extended('\x3a3000000100000000000200100000000100020003 00'::bytea::segment, 7);
DROP TABLE opc;
DROP TABLE shapes;
