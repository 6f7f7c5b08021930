-- bench_live_funcs.sql: timing helpers of bench_live.sh, on top of
-- bench_funcs.sql (bench_samples, bench_once, bench_pair), loaded first.

-- One statement in a transaction of its own, timed on the server up to and
-- including its COMMIT: the statement-level AFTER triggers, the extension's
-- pre-commit NOTIFY and the WAL flush all count.  CALL it outside any
-- transaction block (psql -c).  The sample goes to bench_samples.
CREATE PROCEDURE bench_live_timed(label text, side char, rep int, q text)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	ms float8;
BEGIN
	COMMIT;		-- start from a fresh transaction: nothing before q is timed
	t0 := clock_timestamp();
	EXECUTE q;
	COMMIT;
	ms := extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
	INSERT INTO bench_samples VALUES (label, side, rep, ms);
END
$$;

-- Throughput samples of the pgbench runs: one row per run.
CREATE TABLE bench_live_tps (
	label text,
	side char(1),
	rep int,
	tps float8,
	latency_ms float8,
	failed bigint
);

-- Median of one side of a label, from either table.
CREATE FUNCTION bench_live_median_ms(label text, side char) RETURNS float8
LANGUAGE sql STABLE AS $$
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s.ms)
	  FROM bench_samples s WHERE s.label = $1 AND s.side = $2
$$;

CREATE FUNCTION bench_live_median_tps(label text, side char) RETURNS float8
LANGUAGE sql STABLE AS $$
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t.tps)
	  FROM bench_live_tps t WHERE t.label = $1 AND t.side = $2
$$;
