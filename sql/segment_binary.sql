--
-- Binary input: every byte from a client is validated (22P03)
--

-- An error's SQLSTATE, message and detail on one line.
CREATE FUNCTION pg_temp.try(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE query;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' / ' || nullif(detail, ''), '');
END
$$;

-- valid: empty; {1,5} as an array container; {1..3} as a run container
SELECT '\x3a30000000000000'::bytea::segment;
SELECT '\x3a30000001000000000001001000000001000500'::bytea::segment;
SELECT '\x3b3000000100000200010001000200'::bytea::segment;

-- the error, with its detail
SELECT '\x3a30'::bytea::segment;
SELECT '\x3a30000001000000000001001000000005000100'::bytea::segment;

-- truncated, anywhere
SELECT pg_temp.try($$SELECT ''::bytea::segment$$);
SELECT pg_temp.try($$SELECT '\x3a3000'::bytea::segment$$);
SELECT pg_temp.try($$SELECT '\x3a300000010000'::bytea::segment$$);
SELECT pg_temp.try($$SELECT '\x3a30000001000000000001001000000001'::bytea::segment$$);
SELECT pg_temp.try($$SELECT '\x3b30000001000002000100'::bytea::segment$$);
-- wrong cookie
SELECT pg_temp.try($$SELECT '\x00000000'::bytea::segment$$);
SELECT pg_temp.try($$SELECT '\x3c30000000000000'::bytea::segment$$);
-- container count above 65536
SELECT pg_temp.try($$SELECT '\x3a30000001000100'::bytea::segment$$);
-- container count larger than the data
SELECT pg_temp.try($$SELECT '\x3a300000ffff0000'::bytea::segment$$);
-- keys not strictly ascending (duplicate key, then descending)
SELECT pg_temp.try($$SELECT '\x3a300000020000000000000000000000180000001a00000001000200'::bytea::segment$$);
SELECT pg_temp.try($$SELECT '\x3a300000020000000100000000000000180000001a00000001000200'::bytea::segment$$);
-- unsorted and duplicate array entries
SELECT pg_temp.try($$SELECT '\x3a30000001000000000001001000000005000100'::bytea::segment$$);
SELECT pg_temp.try($$SELECT '\x3a30000001000000000001001000000005000500'::bytea::segment$$);
-- an offset that does not point at its container
SELECT pg_temp.try($$SELECT '\x3a30000001000000000001001100000001000500'::bytea::segment$$);
-- trailing bytes
SELECT pg_temp.try($$SELECT '\x3a3000000100000000000100100000000100050000'::bytea::segment$$);
SELECT pg_temp.try($$SELECT '\x3a3000000000000000'::bytea::segment$$);
-- lying cardinality: a run container of 3 members that declares 4
SELECT pg_temp.try($$SELECT '\x3b3000000100000300010001000200'::bytea::segment$$);
-- overlapping runs: 1..3 and 2..4
SELECT pg_temp.try($$SELECT '\x3b300000010000050002000100020002000200'::bytea::segment$$);
-- runs out of order
SELECT pg_temp.try($$SELECT '\x3b300000010000030002000500010001000100'::bytea::segment$$);
-- a run past 65535
SELECT pg_temp.try($$SELECT '\x3b3000000100000200 0100feff0200'::bytea::segment$$);
-- a run ending exactly at 65535 is fine
SELECT '\x3b30000001000001000100feff0100'::bytea::segment;
-- no runs in a run container
SELECT pg_temp.try($$SELECT '\x3b30000001000000000000'::bytea::segment$$);
-- run flags set past the last container
SELECT pg_temp.try($$SELECT '\x3b3000000300000200010001000200'::bytea::segment$$);
-- bitsets: a population count that matches, then one that does not
SELECT cardinality(('\x3a300000010000000000ff1f10000000'::bytea || decode(repeat('01', 8192), 'hex'))::segment);
SELECT pg_temp.try($$SELECT ('\x3a300000010000000000ff1f10000000'::bytea || decode(repeat('03', 8192), 'hex'))::segment$$);
SELECT pg_temp.try($$SELECT ('\x3a300000010000000000ff1f10000000'::bytea || decode(repeat('01', 8191), 'hex'))::segment$$);

-- valid but not canonical: accepted and stored in canonical form
-- {1,2,3} as an array container becomes a run container
SELECT s, s::bytea FROM (SELECT '\x3a3000000100000000000200100000000100020003 00'::bytea::segment AS s) t;
-- touching runs 1..2 and 3..4 merge
SELECT s, s::bytea FROM (SELECT '\x3b30000001000003000200010001000300 0100'::bytea::segment AS s) t;
-- the run cookie with no run container
SELECT s, s::bytea FROM (SELECT '\x3b3000000000000100 01000500'::bytea::segment AS s) t;
-- a bitset of 8192 members that are one run is stored as a run
SELECT s::bytea = '{0..8191}'::segment::bytea AS canonical
  FROM (SELECT ('\x3a300000010000000000ff1f10000000'::bytea || decode(repeat('ff', 1024) || repeat('00', 7168), 'hex'))::segment AS s) t;

-- binary COPY round trip (send and recv)
\getenv abs_builddir PG_ABS_BUILDDIR
\set copy_file :abs_builddir '/results/segment_binary.bin'
CREATE TABLE bin_t (id int, s segment);
INSERT INTO bin_t VALUES (1, '{}'), (2, '{0,4294967295}'), (3, '{1..100000,200000}'),
	(4, (SELECT segment_agg(x * 3) FROM generate_series(0, 100000) x)), (5, NULL);
COPY bin_t TO :'copy_file' WITH (FORMAT binary);
CREATE TABLE bin_t2 (LIKE bin_t);
COPY bin_t2 FROM :'copy_file' WITH (FORMAT binary);
SELECT a.id, a.s IS NOT DISTINCT FROM b.s AS same
  FROM bin_t a JOIN bin_t2 b USING (id) ORDER BY a.id;
DROP TABLE bin_t, bin_t2;
