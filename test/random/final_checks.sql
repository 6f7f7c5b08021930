-- final_checks.sql: the checks every randomized script ends with (\ir),
-- after its own, into its temporary table failures (what, n, sample):
-- segment.verify(), segment.members() against the oracle (rt.diff()),
-- segment.of() for every customer against the oracle's sets (the psql
-- variable of_expected: a query of (name, members)), the history, and the
-- mismatches counted during the workload.

INSERT INTO failures
SELECT 'rows from segment.verify()', count(*),
       string_agg(format('%s %s stored %s expected %s', segment, customer_id, stored, expected), '; ')
         FILTER (WHERE n <= 10)
  FROM (SELECT *, row_number() OVER () AS n FROM segment.verify()) v;

INSERT INTO failures
SELECT 'segment.members() differs from the oracle', count(*),
       string_agg(format('%s %s stored %s expected %s', segment, customer_id, stored, expected), '; ')
         FILTER (WHERE n <= 10)
  FROM (SELECT *, row_number() OVER () AS n FROM rt.diff()) d;

INSERT INTO failures
WITH e AS MATERIALIZED (:of_expected),
wrong AS (
	SELECT c.id, segment.of(c.id) AS got,
	       coalesce((SELECT array_agg(e.name ORDER BY e.name) FROM e
	                  WHERE c.id::bigint <@ e.members), '{}') AS want
	  FROM customers c),
numbered AS (
	SELECT *, row_number() OVER (ORDER BY id) AS n FROM wrong WHERE got IS DISTINCT FROM want)
SELECT 'segment.of() differs from the oracle', count(*),
       string_agg(format('%s: %s, expected %s', id, got, want), '; ' ORDER BY id) FILTER (WHERE n <= 10)
  FROM numbered;

-- Replay the history per (segment, customer), one transaction at a time
-- (rows of one transaction share "at"): the state must stay 0 (out) or 1
-- (in) and end as the current membership.
INSERT INTO failures
WITH per_xact AS (
	SELECT segment, customer_id, at,
	       sum(CASE change WHEN 'entered' THEN 1 WHEN 'exited' THEN -1 END) AS net
	  FROM segment.history GROUP BY 1, 2, 3),
replay AS (
	SELECT *, sum(net) OVER (PARTITION BY segment, customer_id ORDER BY at) AS state
	  FROM per_xact),
bad AS (
	SELECT DISTINCT segment, customer_id FROM replay WHERE net NOT IN (-1, 0, 1) OR state NOT IN (0, 1)),
last AS (
	SELECT DISTINCT ON (segment, customer_id) segment, customer_id, state
	  FROM replay ORDER BY segment, customer_id, at DESC),
mismatch AS (
	SELECT coalesce(l.segment, m.segment) AS segment, coalesce(l.customer_id, m.customer_id) AS customer_id
	  FROM (SELECT * FROM last WHERE state = 1) l
	  FULL JOIN segment.membership m USING (segment, customer_id)
	 WHERE l.segment IS NULL OR m.segment IS NULL)
SELECT 'history disagrees with membership', count(*), string_agg(format('%s %s', segment, customer_id), '; ')
  FROM (SELECT * FROM bad UNION SELECT * FROM mismatch) x;

INSERT INTO failures
SELECT 'mismatches during the workload (see the warnings)',
       CASE WHEN is_called THEN last_value ELSE 0 END, NULL
  FROM rt.problems;

\echo checks:
SELECT what, n AS failures, left(sample, 400) AS sample FROM failures;
