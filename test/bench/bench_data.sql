-- bench_data.sql: the data bench_type.sh measures.  One-time setup, a few
-- minutes.  Deterministic: key selections are hashes, random() is seeded.

\set ON_ERROR_STOP on
SET max_parallel_workers_per_gather = 0;
SET maintenance_work_mem = '1GB';
SELECT setseed(0.42);

-- Figures 1-3, 8: a and b are ~10M distinct keys each, about half of
-- [0, 20M) (so every container is a bitset), chosen by two different bits
-- of a hash so a and b differ and overlap by about half.  (Not hashint8 for
-- b: it equals hashint4 on values that fit in an int4.)  a2 is an equal
-- copy of a in its own column: each column is TOASTed out of line as its
-- own value (STORAGE external).
CREATE TABLE t (a segment, a2 segment, b segment);
WITH sa AS (SELECT segment_agg(k) AS s FROM generate_series(0, 19999999) k
			 WHERE hashint4(k) & 1 = 0),
	 sb AS (SELECT segment_agg(k) AS s FROM generate_series(0, 19999999) k
			 WHERE hashint4(k) & 2 = 0)
INSERT INTO t SELECT sa.s, sa.s, sb.s FROM sa, sb;

-- Figure 4: the same keys as plain rows, one table per set.
CREATE TABLE ta (k bigint NOT NULL);
CREATE TABLE tb (k bigint NOT NULL);
INSERT INTO ta SELECT k FROM generate_series(0, 19999999) k WHERE hashint4(k) & 1 = 0;
INSERT INTO tb SELECT k FROM generate_series(0, 19999999) k WHERE hashint4(k) & 2 = 0;
ALTER TABLE ta ADD PRIMARY KEY (k);
ALTER TABLE tb ADD PRIMARY KEY (k);

-- Figure 5: 10M random keys in [0, 2^32), in random order.
CREATE TABLE r AS
SELECT (random() * 4294967295)::bigint AS id FROM generate_series(1, 10000000);

-- Figure 6: a 10M-row table of customer ids 0..9,999,999 (natural order,
-- as a table filled by a sequence would be).
CREATE TABLE c AS SELECT k::bigint AS id FROM generate_series(0, 9999999) k;

-- Figure 9: 1M random probes into [0, 20M), in random order.
CREATE TABLE c1m AS
SELECT (random() * 19999999)::bigint AS id FROM generate_series(1, 1000000);

-- Stored segments by name (each a TOASTed value of its own unless small).
CREATE TABLE segs (name text PRIMARY KEY, s segment NOT NULL);
-- figure 6: ~1M members of [0, 10M)
INSERT INTO segs
SELECT 'x', segment_agg(k) FROM generate_series(0, 9999999) k WHERE hashint4(k) % 10 = 0;
-- figure 9: a copy of a (10M keys), re-toasted as its own value
INSERT INTO segs SELECT 'big10m', a FROM t;
-- figure 7: shapes
INSERT INTO segs SELECT 'rand10m', segment_agg(id) FROM r;
INSERT INTO segs SELECT 'seq10m', segment_agg(k) FROM generate_series(0, 9999999) k;
INSERT INTO segs
SELECT 'sparse1000', segment_agg(k::bigint * 4294967) FROM generate_series(0, 999) k;
INSERT INTO segs
SELECT 'runs70k', segment_agg(i * 1000 + j)
  FROM generate_series(0, 6999) i, generate_series(0, 9) j;

VACUUM ANALYZE t, ta, tb, r, c, c1m, segs;
