--
-- Aggregates
--

SELECT segment_agg(x) FROM generate_series(1, 10) x;
SELECT segment_agg(x) FROM (VALUES (3), (NULL), (1), (3)) v(x);
SELECT segment_agg(x) FROM (VALUES (NULL::bigint)) v(x);
SELECT segment_agg(x) FROM generate_series(1, 0) x;
SELECT segment_agg(x) FROM (VALUES (0), (4294967295)) v(x);
SELECT segment_agg(x) FROM (VALUES (1), (-1)) v(x);
SELECT segment_agg(x) FROM (VALUES (4294967296)) v(x);
SELECT g, segment_agg(x) FROM generate_series(1, 20) x, LATERAL (SELECT x % 3 AS g) l GROUP BY g ORDER BY g;

-- results are run-optimized: 10 million sequential keys take a few kilobytes
SELECT cardinality(s), pg_column_size(s) < 4096 AS compact
  FROM (SELECT segment_agg(x) s FROM generate_series(0, 9999999) x) t;
-- random keys, against plain SQL
CREATE TABLE agg_keys AS SELECT (hashint4(x)::bigint & 4294967295) AS k FROM generate_series(1, 200000) x;
SELECT cardinality(segment_agg(k)) = (SELECT count(DISTINCT k) FROM agg_keys) AS cardinality_ok,
       to_array(segment_agg(k)) = (SELECT array_agg(DISTINCT k ORDER BY k) FROM agg_keys) AS members_ok
  FROM agg_keys;

SELECT union_agg(s), intersect_agg(s) FROM (VALUES ('{1..10}'::segment), ('{5..20}'), (NULL)) v(s);
SELECT union_agg(s), intersect_agg(s) FROM (VALUES (NULL::segment)) v(s);
SELECT union_agg(s), intersect_agg(s) FROM (VALUES ('{1}'::segment), ('{}')) v(s);
SELECT union_agg(s), intersect_agg(s) FROM (VALUES ('{1,2}'::segment), ('{2,3}'), ('{3,4}')) v(s);
SELECT union_agg(s) = '{0..4294967295}', intersect_agg(s) FROM (VALUES ('{0..4294967295}'::segment), ('{7}')) v(s);
SELECT union_agg(s) = (SELECT segment_agg(x) FROM generate_series(0, 299999) x) AS union_ok
  FROM (SELECT segment_agg(x) s FROM generate_series(0, 299999) x GROUP BY x % 7) t;

-- parallel plans: partial aggregates are combined, serialized and deserialized
CREATE TABLE par (id bigint, s segment);
INSERT INTO par SELECT x, ('{' || x % 1000 || ',' || 5000 + x % 3 || '}')::segment FROM generate_series(1, 300000) x;
ANALYZE par;
CREATE TABLE serial_results AS
	SELECT segment_agg(id) AS a, union_agg(s) AS u, intersect_agg(s | '{5000}') AS i FROM par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT segment_agg(id), union_agg(s), intersect_agg(s) FROM par;
SELECT a = (SELECT a FROM serial_results) AS agg_same,
       u = (SELECT u FROM serial_results) AS union_same,
       i = (SELECT i FROM serial_results) AS intersect_same
  FROM (SELECT segment_agg(id) AS a, union_agg(s) AS u, intersect_agg(s | '{5000}') AS i FROM par) t;
SELECT u FROM (SELECT union_agg(s) AS u FROM par WHERE id <= 10) t;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE par, serial_results, agg_keys;
