--
-- Planner support and the per-query fetch cache
--

CREATE TABLE plan_t (a segment, b segment);
INSERT INTO plan_t VALUES ('{1..10}', '{5..20}');

-- cardinality of a set operation counts without building it
EXPLAIN (VERBOSE, COSTS OFF) SELECT cardinality(a & b), cardinality(a | b), cardinality(a - b), cardinality(a # b) FROM plan_t;
SELECT cardinality(a & b), cardinality(a | b), cardinality(a - b), cardinality(a # b) FROM plan_t;
EXPLAIN (VERBOSE, COSTS OFF) SELECT cardinality(segment_and(a, b)) FROM plan_t;
-- other arguments are left alone
EXPLAIN (VERBOSE, COSTS OFF) SELECT cardinality(a), cardinality(slice(a, 1, 3)) FROM plan_t;

-- unnest of a constant is estimated at its cardinality
EXPLAIN (COSTS ON) SELECT * FROM unnest('{1..12345}'::segment);

-- a stored segment that many rows meet is fetched once per query
CREATE TABLE big_seg (name text, s segment);
INSERT INTO big_seg SELECT 'evens', segment_agg(x) FROM generate_series(0, 1999999, 2) x;
SELECT pg_column_size(s) > 8192 AS toasted FROM big_seg;
CREATE TABLE probes AS SELECT x AS id FROM generate_series(0, 99999) x;
SELECT count(*) FROM probes WHERE id <@ (SELECT s FROM big_seg WHERE name = 'evens');
SELECT count(*) FROM probes p JOIN big_seg b ON b.name = 'evens' AND p.id <@ b.s;
SELECT count(*) FROM probes p JOIN big_seg b ON b.name = 'evens' AND b.s @> p.id;
SELECT count(*) FROM probes p, big_seg b WHERE b.s && ('{' || p.id || '}')::segment AND p.id < 1000;
DROP TABLE plan_t, big_seg, probes;
