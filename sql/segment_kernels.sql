--
-- Every kernel variant this CPU runs gives the same answers
--

SHOW segment.kernels;
SET segment.kernels = portable;
SHOW segment.kernels;
SET segment.kernels = nonsense;
RESET segment.kernels;

CREATE TABLE kern (name text, s segment);
INSERT INTO kern VALUES
	('bits_a', (SELECT segment_agg(x) FROM generate_series(0, 300000) x WHERE hashint4(x) % 3 = 0)),
	('bits_b', (SELECT segment_agg(x) FROM generate_series(0, 300000) x WHERE hashint4(x) % 5 = 0)),
	('runs', '{10..100000,150000..250000}'),
	('array', (SELECT segment_agg(x * 101) FROM generate_series(0, 2900) x));

SET segment.kernels = portable;
CREATE TEMP TABLE reference AS
	SELECT a.name AS a, b.name AS b, a.s & b.s AS i, a.s | b.s AS u, a.s - b.s AS d, a.s # b.s AS x,
	       intersection_cardinality(a.s, b.s) AS ic, a.s @> b.s AS c, a.s && b.s AS o
	  FROM kern a, kern b;
RESET segment.kernels;

-- Compare every supported variant with the portable one; unsupported ones
-- are skipped, so the output is the same on every CPU.
DO $$
DECLARE
	k text;
	bad bigint;
BEGIN
	FOREACH k IN ARRAY ARRAY['portable', 'popcnt', 'avx2', 'avx512bw', 'auto'] LOOP
		BEGIN
			PERFORM set_config('segment.kernels', k, true);
		EXCEPTION WHEN invalid_parameter_value THEN
			CONTINUE;
		END;
		SELECT count(*) INTO bad
		  FROM kern a, kern b, reference r
		 WHERE r.a = a.name AND r.b = b.name
		   AND NOT (r.i = (a.s & b.s) AND r.u = (a.s | b.s) AND r.d = (a.s - b.s) AND r.x = (a.s # b.s)
		            AND r.ic = intersection_cardinality(a.s, b.s) AND r.c = (a.s @> b.s) AND r.o = (a.s && b.s)
		            AND cardinality(a.s) = (SELECT count(*) FROM unnest(a.s)));
		IF bad <> 0 THEN
			RAISE EXCEPTION 'kernels % disagree on % pairs', k, bad;
		END IF;
	END LOOP;
END
$$;
SELECT count(*) FROM reference;
DROP TABLE kern;
