-- bench_live_funcs.sql: timing helpers of bench_live.sh, bench_behaviour.sh
-- and bench_value.sh, on top of bench_funcs.sql (bench_samples, bench_once,
-- bench_pair), loaded first.

-- CPU time of this backend so far, in ms: utime + stime of /proc/self/stat,
-- in clock ticks (clk_tck of them a second: getconf CLK_TCK).
CREATE FUNCTION bench_cpu_ms(clk_tck int) RETURNS float8 LANGUAGE sql VOLATILE AS $$
	SELECT (split_part(s, ' ', 12)::float8 + split_part(s, ' ', 13)::float8) * 1000 / clk_tck
	  FROM (SELECT split_part(pg_read_file('/proc/self/stat'), ') ', 2) AS s) x
$$;

-- One statement in a transaction of its own, timed on the server up to and
-- including its COMMIT: the statement-level AFTER triggers, the extension's
-- pre-commit NOTIFY and the WAL flush all count.  CALL it outside any
-- transaction block (psql -c).  The sample goes to bench_samples.  With
-- clk_tck (bench_behaviour.sh), the backend's CPU time over the same span
-- too, as a second sample labelled "label cpu": on a shared machine the
-- elapsed time also holds waits for the disk and for the cores, the CPU
-- time only the statement's own work.
CREATE PROCEDURE bench_live_timed(label text, side char, rep int, q text,
								  clk_tck int DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	c0 float8;
	ms float8;
BEGIN
	COMMIT;		-- start from a fresh transaction: nothing before q is timed
	IF clk_tck IS NOT NULL THEN
		c0 := bench_cpu_ms(clk_tck);
	END IF;
	t0 := clock_timestamp();
	EXECUTE q;
	COMMIT;
	ms := extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
	INSERT INTO bench_samples VALUES (label, side, rep, ms);
	IF clk_tck IS NOT NULL THEN
		INSERT INTO bench_samples VALUES (label || ' cpu', side, rep, bench_cpu_ms(clk_tck) - c0);
	END IF;
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
