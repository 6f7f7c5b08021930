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

-- The workload: data statements, transaction control and checks, in order.
-- Each script defines rt.rand_statement() (one data statement) and
-- rt.check(label, committed) (committed: outside a transaction block).
CREATE FUNCTION rt.workload(statements int, OUT ord int, OUT sql text) RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
	done int := 0;
	len int;
	depth int;
BEGIN
	ord := 0;
	WHILE done < statements LOOP
		IF random() < 0.25 THEN
			len := 1;			-- autocommit
			depth := -1;
		ELSE
			len := rt.rnd(1, 12);
			depth := 0;
			ord := ord + 1; sql := 'BEGIN'; RETURN NEXT;
		END IF;
		FOR i IN 1 .. len LOOP
			EXIT WHEN done >= statements;
			IF depth >= 0 AND random() < 0.2 THEN
				depth := depth + 1;
				ord := ord + 1; sql := 'SAVEPOINT s' || depth; RETURN NEXT;
			END IF;
			ord := ord + 1; sql := rt.rand_statement(); RETURN NEXT;
			done := done + 1;
			IF depth > 0 AND random() < 0.3 THEN
				ord := ord + 1;
				sql := CASE WHEN random() < 0.65 THEN 'ROLLBACK TO SAVEPOINT s' ELSE 'RELEASE SAVEPOINT s' END
				       || depth;
				RETURN NEXT;
				depth := depth - 1;
			END IF;
			IF done % 50 = 0 THEN
				ord := ord + 1;
				sql := format('CALL rt.check(%L, %s)', 'after statement ' || done, (depth < 0)::text);
				RETURN NEXT;
			END IF;
		END LOOP;
		IF depth >= 0 THEN
			ord := ord + 1;
			sql := CASE WHEN random() < 0.8 THEN 'COMMIT' ELSE 'ROLLBACK' END;
			RETURN NEXT;
		END IF;
	END LOOP;
END
$$;
