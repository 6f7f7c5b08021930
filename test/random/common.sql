-- common.sql: what the randomized checks share, included by each script
-- after it creates schema rt (\ir common.sql).

-- Mid-run problems: a sequence, so that a rolled-back transaction cannot
-- take the count with it.
CREATE SEQUENCE rt.problems;

CREATE FUNCTION rt.rnd(lo int, hi int) RETURNS int LANGUAGE sql AS
$$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;

-- A key in one of chunks 0..3, mostly in the first 1200 keys of the chunk,
-- sometimes in the last 30 (key moves then cross into the next chunk).
CREATE FUNCTION rt.rand_key() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	chunk int := rt.rnd(0, 3);
BEGIN
	IF chunk < 3 AND random() < 0.1 THEN
		RETURN chunk * 65536 + 65536 - rt.rnd(1, 30);
	END IF;
	RETURN chunk * 65536 + rt.rnd(0, 1199);
END
$$;

CREATE FUNCTION rt.rand_keys(n int) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE
	keys int[] := '{}';
BEGIN
	FOR i IN 1 .. n LOOP
		keys := keys || rt.rand_key();
	END LOOP;
	RETURN ARRAY(SELECT DISTINCT k FROM unnest(keys) k ORDER BY k);
END
$$;
