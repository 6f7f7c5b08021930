-- membership_random.sql: a randomized check of live segment membership.
--
-- Run it with test/random/run.sh, which gives it a fresh database, or by
-- hand in an empty database where segment can be created:
--
--   psql -X -v ON_ERROR_STOP=1 -v seed=0.42 -v statements=1000 -f membership_random.sql
--
-- A customer table is tracked and eight rule segments (two built on other
-- segments with in_segment()) and one static segment are defined.  Then a
-- workload of :statements multi-row INSERT (plain and upsert), UPDATE
-- (attributes, an unwatched column, keys, ranges) and DELETE statements on
-- keys in four membership chunks (0 to 200000), 1 to 50 rows each, runs in
-- transactions of random length with random ROLLBACK, ROLLBACK TO SAVEPOINT
-- and RELEASE SAVEPOINT.  Everything is drawn from random() after
-- setseed(:seed), so a seed always gives the same workload.
--
-- What is checked, against an oracle written here in plain SQL (it does
-- not use the extension's rule compiler or stored membership):
--   - during the workload, every 50 statements, inside whatever
--     transaction or savepoint is open: segment.verify() is empty and
--     segment.members() equals the oracle for every segment;
--   - at the end, the same, plus segment.of() for every customer, and the
--     history: replaying segment.history per (segment, customer) one
--     transaction at a time never leaves {out, in}, and ends in the
--     current membership, so the last recorded change agrees with it.
-- The last line printed is PASS or FAIL.

\set ON_ERROR_STOP 1
\set QUIET 1
\pset pager off
\if :{?seed}
\else
\set seed 0.42
\endif
\if :{?statements}
\else
\set statements 1000
\endif

SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;

CREATE EXTENSION segment;
CREATE SCHEMA rt;
\ir common.sql

CREATE TABLE customers (
	id int PRIMARY KEY,
	country text,
	birth_year int,
	income numeric,
	tags text[],
	active boolean,
	note text			-- read by no rule
);

-- The static segment's oracle: its list, minus every key that stopped
-- being a customer (deleted, or moved away by a key update).  The workload
-- never moves a row onto a key that existed when the statement started, so
-- a key cannot vanish and come back within one statement.
CREATE TABLE rt.static_shadow (id bigint PRIMARY KEY);

CREATE FUNCTION rt.shadow_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' OR OLD.id <> NEW.id THEN
		DELETE FROM rt.static_shadow WHERE id = OLD.id;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER rt_shadow_forget AFTER DELETE OR UPDATE OF id ON customers
	FOR EACH ROW EXECUTE FUNCTION rt.shadow_forget();

--
-- Random values
--

CREATE FUNCTION rt.keys_literal(keys int[]) RETURNS text LANGUAGE sql AS
$$ SELECT quote_literal(keys::text) || '::int[]' $$;

CREATE FUNCTION rt.rand_country() RETURNS text LANGUAGE sql AS $$
	SELECT (ARRAY['''ZA''', '''ZA''', '''US''', '''DE''', '''FR''', '''NL''', '''BR''', 'NULL'])[rt.rnd(1, 8)]
$$;

-- The columns of one customer row as SQL literals, NULL one time in ten.
CREATE FUNCTION rt.rand_row(id int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	country text := rt.rand_country();
	birth_year text := CASE WHEN random() < 0.1 THEN 'NULL' ELSE rt.rnd(1940, 2010)::text END;
	income text := CASE WHEN random() < 0.1 THEN 'NULL' ELSE round((random() * 200000)::numeric, 2)::text END;
	tags text;
	active text := CASE WHEN random() < 0.1 THEN 'NULL' WHEN random() < 0.5 THEN 'true' ELSE 'false' END;
BEGIN
	IF random() < 0.1 THEN
		tags := 'NULL';
	ELSE
		tags := quote_literal(ARRAY(SELECT t FROM unnest(ARRAY['vip', 'mobile', 'churn', 'b2b']) t
		                            WHERE random() < 0.35)::text);
	END IF;
	RETURN format('(%s, %s::text, %s::int, %s::numeric, %s::text[], %s::boolean)',
		id, country, birth_year, income, tags, active);
END
$$;

CREATE FUNCTION rt.rand_rows(keys int[]) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(rt.rand_row(k), ', ' ORDER BY o) FROM unnest(keys) WITH ORDINALITY u(k, o)
$$;

-- One random data-changing statement of 1 to 50 rows.
CREATE FUNCTION rt.rand_statement() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n int := rt.rnd(1, 50);
	keys int[] := rt.rand_keys(n);
	r float8 := random();
	lo int;
	d int;
BEGIN
	IF r < 0.20 THEN
		RETURN format('INSERT INTO customers (id, country, birth_year, income, tags, active) '
		              'VALUES %s ON CONFLICT (id) DO NOTHING', rt.rand_rows(keys));
	ELSIF r < 0.30 THEN
		RETURN format('INSERT INTO customers (id, country, birth_year, income, tags, active) '
		              'VALUES %s ON CONFLICT (id) DO UPDATE SET income = EXCLUDED.income, '
		              'tags = EXCLUDED.tags, active = EXCLUDED.active', rt.rand_rows(keys));
	ELSIF r < 0.40 THEN
		RETURN format('UPDATE customers c SET country = v.country, birth_year = v.birth_year, '
		              'income = v.income, tags = v.tags, active = v.active '
		              'FROM (VALUES %s) v(id, country, birth_year, income, tags, active) '
		              'WHERE c.id = v.id', rt.rand_rows(keys));
	ELSIF r < 0.48 THEN
		RETURN format('UPDATE customers SET income = income * %s + %s WHERE id = ANY (%s)',
		              (ARRAY['0.5', '1.5', '2', '1'])[rt.rnd(1, 4)], rt.rnd(-30000, 30000),
		              rt.keys_literal(keys));
	ELSIF r < 0.53 THEN
		RETURN format('UPDATE customers SET country = %s WHERE id = ANY (%s)',
		              rt.rand_country(), rt.keys_literal(keys));
	ELSIF r < 0.58 THEN
		RETURN format('UPDATE customers SET birth_year = birth_year + %s WHERE id = ANY (%s)',
		              rt.rnd(-12, 12), rt.keys_literal(keys));
	ELSIF r < 0.63 THEN
		RETURN format('UPDATE customers SET tags = %s WHERE id = ANY (%s)',
		              (ARRAY['array_append(coalesce(tags, ''{}''), ''mobile'')',
		                     'array_append(coalesce(tags, ''{}''), ''vip'')',
		                     'array_remove(tags, ''mobile'')', 'array_remove(tags, ''vip'')',
		                     'NULL'])[rt.rnd(1, 5)],
		              rt.keys_literal(keys));
	ELSIF r < 0.67 THEN
		RETURN format('UPDATE customers SET active = %s WHERE id = ANY (%s)',
		              (ARRAY['NOT active', 'NULL', 'true', 'false'])[rt.rnd(1, 4)],
		              rt.keys_literal(keys));
	ELSIF r < 0.71 THEN
		-- a column no rule reads: nothing to evaluate
		RETURN format('UPDATE customers SET note = %L WHERE id = ANY (%s)',
		              'n' || rt.rnd(1, 1000), rt.keys_literal(keys));
	ELSIF r < 0.77 THEN
		-- move customers to free keys, within a chunk or across chunks
		d := (ARRAY[1, 3, 700, -5, 65536, -65536, 40])[rt.rnd(1, 7)];
		RETURN format('UPDATE customers c SET id = c.id + %1$s WHERE c.id = ANY (%2$s) '
		              'AND c.id + %1$s BETWEEN 0 AND 200000 '
		              'AND NOT EXISTS (SELECT FROM customers o WHERE o.id = c.id + %1$s)',
		              d, rt.keys_literal(keys));
	ELSIF r < 0.82 THEN
		lo := rt.rand_key();
		RETURN format('UPDATE customers SET income = coalesce(income, 0) + %s, active = NOT active '
		              'WHERE id BETWEEN %s AND %s', rt.rnd(-50000, 50000), lo, lo + n);
	ELSIF r < 0.95 THEN
		RETURN format('DELETE FROM customers WHERE id = ANY (%s)', rt.keys_literal(keys));
	ELSE
		lo := rt.rand_key();
		RETURN format('DELETE FROM customers WHERE id BETWEEN %s AND %s', lo, lo + n);
	END IF;
END
$$;

--
-- The oracle
--

-- Who should be in each segment, from the rules' own predicates over the
-- current rows; in_segment() is replaced by the oracle's own sets.
CREATE FUNCTION rt.expected(OUT name text, OUT members segment) RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
	za_millennials segment;
	high_income segment;
	mobile segment;
	engaged_vip segment;
	europe segment;
	lapsed_boomers segment;
	za_affluent segment;
BEGIN
	SELECT coalesce(segment_agg(id) FILTER (WHERE (country = 'ZA' AND birth_year BETWEEN 1981 AND 1996) IS TRUE), '{}'),
	       coalesce(segment_agg(id) FILTER (WHERE (income >= 100000) IS TRUE), '{}'),
	       coalesce(segment_agg(id) FILTER (WHERE (tags @> ARRAY['mobile']) IS TRUE), '{}'),
	       coalesce(segment_agg(id) FILTER (WHERE (active AND 'vip' = ANY (tags)) IS TRUE), '{}'),
	       coalesce(segment_agg(id) FILTER (WHERE (country IN ('DE', 'FR', 'NL')) IS TRUE), '{}'),
	       coalesce(segment_agg(id) FILTER (WHERE (birth_year < 1965 AND active IS NOT TRUE) IS TRUE), '{}')
	  INTO za_millennials, high_income, mobile, engaged_vip, europe, lapsed_boomers
	  FROM customers;
	za_affluent := za_millennials & high_income;
	name := 'za_millennials'; members := za_millennials; RETURN NEXT;
	name := 'high_income'; members := high_income; RETURN NEXT;
	name := 'mobile'; members := mobile; RETURN NEXT;
	name := 'engaged_vip'; members := engaged_vip; RETURN NEXT;
	name := 'europe'; members := europe; RETURN NEXT;
	name := 'lapsed_boomers'; members := lapsed_boomers; RETURN NEXT;
	name := 'za_affluent'; members := za_affluent; RETURN NEXT;
	name := 'mobile_mass';
	SELECT coalesce(segment_agg(id), '{}') INTO members FROM customers
	 WHERE (id::bigint <@ mobile AND NOT id::bigint <@ za_affluent AND coalesce(income, 0) < 50000) IS TRUE;
	RETURN NEXT;
	name := 'launch_list';
	SELECT coalesce(segment_agg(id), '{}') INTO members FROM rt.static_shadow;
	RETURN NEXT;
END
$$;

-- One row per wrong membership: stored (segment.members) against oracle.
CREATE FUNCTION rt.diff(OUT segment text, OUT customer_id bigint, OUT stored boolean, OUT expected boolean)
RETURNS SETOF record LANGUAGE sql AS $$
	SELECT e.name, k, k <@ segment.members(e.name), k <@ e.members
	  FROM rt.expected() e, unnest(segment.members(e.name) # e.members) k
	 ORDER BY 1, 2
$$;

-- Every check holds inside a transaction block too: committed is not needed.
CREATE PROCEDURE rt.check(label text, committed boolean) LANGUAGE plpgsql AS $$
DECLARE
	nverify bigint;
	ndiff bigint;
	detail text;
BEGIN
	SELECT count(*) INTO nverify FROM segment.verify();
	SELECT count(*), string_agg(format('%s %s stored %s expected %s', segment, customer_id, stored, expected), '; ')
	  INTO ndiff, detail FROM (SELECT * FROM rt.diff() LIMIT 10) d;
	IF nverify > 0 OR ndiff > 0 THEN
		PERFORM nextval('rt.problems');
		RAISE WARNING 'mismatch %: % rows from segment.verify(), oracle differs: %',
			label, nverify, coalesce(detail, 'no');
	END IF;
END
$$;

--
-- Setup: customers, segments, and the workload
--

SELECT setseed(:seed) \gset

INSERT INTO customers (id, country, birth_year, income, tags, active)
SELECT k, (ARRAY['ZA', 'ZA', 'US', 'DE', 'FR', 'NL', 'BR', NULL])[rt.rnd(1, 8)],
       CASE WHEN random() < 0.1 THEN NULL ELSE rt.rnd(1940, 2010) END,
       CASE WHEN random() < 0.1 THEN NULL ELSE round((random() * 200000)::numeric, 2) END,
       CASE WHEN random() < 0.1 THEN NULL ELSE
            ARRAY(SELECT t FROM unnest(ARRAY['vip', 'mobile', 'churn', 'b2b']) t WHERE random() < 0.35 + 0 * k) END,
       CASE WHEN random() < 0.1 THEN NULL ELSE random() < 0.5 END
  FROM (SELECT DISTINCT rt.rand_key() AS k FROM generate_series(1, 3500)) keys
 ORDER BY k;

SELECT segment.track_customers('customers', 'id') \gset
-- demographic and geographic
SELECT segment.create('za_millennials', $$country = 'ZA' AND birth_year BETWEEN 1981 AND 1996$$) \gset
-- value
SELECT segment.create('high_income', $$income >= 100000$$) \gset
-- technographic
SELECT segment.create('mobile', $$tags @> ARRAY['mobile']$$) \gset
-- behavioural
SELECT segment.create('engaged_vip', $$active AND 'vip' = ANY (tags)$$) \gset
-- geographic
SELECT segment.create('europe', $$country IN ('DE', 'FR', 'NL')$$) \gset
-- cohort, with NULLs
SELECT segment.create('lapsed_boomers', $$birth_year < 1965 AND active IS NOT TRUE$$) \gset
-- built on segments (depth 1 and 2)
SELECT segment.create('za_affluent', $$in_segment('za_millennials') AND in_segment('high_income')$$) \gset
SELECT segment.create('mobile_mass', $$in_segment('mobile') AND NOT in_segment('za_affluent') AND coalesce(income, 0) < 50000$$) \gset
-- static: an uploaded list, half of it customers, half not (yet)
INSERT INTO rt.static_shadow SELECT DISTINCT rt.rand_key() FROM generate_series(1, 400);
SELECT segment.create_static('launch_list', (SELECT segment_agg(id) FROM rt.static_shadow)) \gset

CALL rt.check('after setup', true);

CREATE TABLE rt.script AS SELECT * FROM rt.workload(:statements);

\echo running :statements statements (seed :seed)
SELECT sql FROM rt.script ORDER BY ord \gexec

--
-- Final checks
--

\pset footer off
\echo
\echo workload:
SELECT count(*) FILTER (WHERE sql LIKE 'INSERT%') AS inserts,
       count(*) FILTER (WHERE sql LIKE 'UPDATE%') AS updates,
       count(*) FILTER (WHERE sql LIKE 'DELETE%') AS deletes,
       count(*) FILTER (WHERE sql = 'COMMIT') AS commits,
       count(*) FILTER (WHERE sql = 'ROLLBACK') AS rollbacks,
       count(*) FILTER (WHERE sql LIKE 'ROLLBACK TO%') AS rollbacks_to_savepoint,
       count(*) FILTER (WHERE sql LIKE 'RELEASE%') AS releases
  FROM rt.script;

\echo segments:
SELECT s.name, s.kind, s.size, cardinality(e.members) AS expected_size
  FROM segment.summary s JOIN rt.expected() e ON e.name = s.name ORDER BY s.name;

CREATE TEMP TABLE failures (what text, n bigint, sample text);

\set of_expected 'SELECT * FROM rt.expected()'
\ir final_checks.sql

SELECT CASE WHEN sum(n) = 0
            THEN format('PASS membership_random: seed %s, %s statements, %s customers, %s segments',
                        :'seed', :statements, (SELECT count(*) FROM customers),
                        (SELECT count(*) FROM segment.definitions))
            ELSE format('FAIL membership_random: seed %s, %s failed checks', :'seed', sum(n))
       END AS result
  FROM failures \gset
\echo :result
