--
-- Text input and output, casts
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

-- canonical output: ascending, runs of three or more as ranges
SELECT '{}'::segment;
SELECT '{7}'::segment;
SELECT '{1,2}'::segment;
SELECT '{1,2,3}'::segment;
SELECT '{1..1000,2000}'::segment;
SELECT '{1..1}'::segment;
SELECT '{0}'::segment, '{4294967295}'::segment, '{0,4294967295}'::segment;
SELECT '{0..4294967295}'::segment;
-- order, duplicates, overlaps and touching ranges are accepted
SELECT '{3,1,2,2,3}'::segment;
SELECT '{10..20,15..25,26,5}'::segment;
SELECT '{1..5,6..10}'::segment;
-- whitespace around tokens
SELECT '  { 1 , 2 .. 4 ,9 }  '::segment;
SELECT '{ }'::segment;
SELECT '{+5}'::segment, '{-0}'::segment, '{007}'::segment;
-- ranges across container boundaries (65536 keys each)
SELECT '{65534..65537}'::segment;
SELECT '{65535,65536}'::segment;
SELECT '{131071..131073,200000}'::segment;
-- array, bitset and run containers around the 4096 boundary
SELECT cardinality(s), s = (SELECT segment_agg(x) FROM generate_series(0, 8190, 2) x)
  FROM (SELECT segment_agg(x) AS s FROM generate_series(0, 8190, 2) x) t;
SELECT cardinality(segment_agg(x)) FROM generate_series(0, 8192, 2) x;
SELECT segment_agg(x)::text = (SELECT '{' || string_agg(x::text, ',') || '}' FROM generate_series(0, 8192, 2) x)
       AS text_matches
  FROM generate_series(0, 8192, 2) x;
-- a full container, and round trips through text
SELECT '{65536..131071}'::segment, cardinality('{65536..131071}'::segment);
SELECT s::text::segment = s AS round_trip
  FROM (VALUES ('{}'::segment), ('{0..4294967295}'), ('{1,3,5..9,65535..65537}')) v(s);

-- malformed text: 22P02
SELECT '{1,,2}'::segment;
SELECT '{5..1}'::segment;
SELECT 'hello'::segment;
SELECT '{1,2'::segment;
SELECT '1,2}'::segment;
SELECT pg_temp.try($$SELECT '{1,2}}'::segment$$);
SELECT pg_temp.try($$SELECT '{{1}}'::segment$$);
SELECT pg_temp.try($$SELECT '{1 2}'::segment$$);
SELECT pg_temp.try($$SELECT '{1...2}'::segment$$);
SELECT pg_temp.try($$SELECT '{1..}'::segment$$);
SELECT pg_temp.try($$SELECT '{..2}'::segment$$);
SELECT pg_temp.try($$SELECT '{1,}'::segment$$);
SELECT pg_temp.try($$SELECT '{,1}'::segment$$);
SELECT pg_temp.try($$SELECT '{1.5}'::segment$$);
SELECT pg_temp.try($$SELECT '{0x10}'::segment$$);
SELECT pg_temp.try($$SELECT '{1e3}'::segment$$);
SELECT pg_temp.try($$SELECT '{--1}'::segment$$);
SELECT pg_temp.try($$SELECT '{é}'::segment$$);
SELECT pg_temp.try($$SELECT ''::segment$$);
SELECT pg_temp.try($$SELECT '{}x'::segment$$);
-- out of range: 22003, naming the token
SELECT '{-1}'::segment;
SELECT '{4294967296}'::segment;
SELECT '{99999999999999999999}'::segment;
SELECT pg_temp.try($$SELECT '{1..4294967296}'::segment$$);
SELECT pg_temp.try($$SELECT '{-5..3}'::segment$$);

-- arrays
SELECT segment(ARRAY[5, 3, 1, 3]::bigint[]);
SELECT ARRAY[2, 1]::bigint[]::segment, ARRAY[7, 8, 9]::int[]::segment;
SELECT segment('{}'::bigint[]), segment('{{1,2},{3,4}}'::int[]);
SELECT to_array('{1..5,70000,4294967295}'::segment), to_array('{}'::segment);
SELECT '{1..3}'::segment::bigint[];
SELECT segment(ARRAY[1, NULL]::bigint[]);
SELECT segment(ARRAY[-1]::bigint[]);
SELECT segment(ARRAY[4294967296]::bigint[]);
SELECT segment(ARRAY[-2147483648]::int[]);

-- bytea: the roaring portable serialization
SELECT to_bytea('{}'::segment);
SELECT to_bytea('{1,5}'::segment);
SELECT to_bytea('{1..3}'::segment);
SELECT '{1..3}'::segment::bytea;
SELECT segment('\x3b3000000100000200010001000200'::bytea);
SELECT '\x3a30000001000000000001001000000001000500'::bytea::segment;
SELECT s::bytea::segment = s AS round_trip
  FROM (VALUES ('{}'::segment), ('{0..4294967295}'), ('{1,3,5..9,65535..65537}')) v(s);

-- stored values
CREATE TABLE io_t (id int, s segment);
INSERT INTO io_t VALUES (1, '{1..10}'), (2, NULL), (3, '{}');
SELECT id, s, s IS NULL AS is_null FROM io_t ORDER BY id;
SELECT typstorage, typalign FROM pg_type WHERE typname = 'segment';
DROP TABLE io_t;
