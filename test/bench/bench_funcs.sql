-- bench_funcs.sql: server-side timing helpers for bench_type.sh.
--
-- Times are taken inside the server, around EXECUTE, with clock_timestamp():
-- parse, plan and execution, but no client round trip or result transfer.
-- Every benchmark query returns a single scalar, so nothing big is copied
-- into the SPI result either.

-- One execution of q (with $1 bound to p, if q uses it): milliseconds, and
-- the query's single result as text (for sanity checks).
CREATE FUNCTION bench_once(q text, p segment, OUT ms float8, OUT res text)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	EXECUTE q INTO res USING p;
	ms := extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
END
$$;

-- Raw samples, kept for a look after the run (bench_type.sh prints a summary).
CREATE TABLE bench_samples (
	label text,
	side char(1),
	rep int,
	ms float8
);

-- A pair of queries measured side by side: warm-up, then A B A B ...
-- reps times.  Returns the median of each side and the last results.
CREATE FUNCTION bench_pair(label text, qa text, qb text, reps int,
						   p segment DEFAULT NULL, warmup int DEFAULT 1,
						   OUT med_a float8, OUT med_b float8,
						   OUT res_a text, OUT res_b text)
LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR i IN 1..warmup LOOP
		PERFORM bench_once(qa, p);
		PERFORM bench_once(qb, p);
	END LOOP;
	FOR i IN 1..reps LOOP
		r := bench_once(qa, p);
		INSERT INTO bench_samples VALUES (label, 'A', i, r.ms);
		res_a := r.res;
		r := bench_once(qb, p);
		INSERT INTO bench_samples VALUES (label, 'B', i, r.ms);
		res_b := r.res;
	END LOOP;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s.ms) INTO med_a
	  FROM bench_samples s WHERE s.label = bench_pair.label AND s.side = 'A';
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s.ms) INTO med_b
	  FROM bench_samples s WHERE s.label = bench_pair.label AND s.side = 'B';
END
$$;
