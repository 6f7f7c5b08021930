-- events_random.sql: a randomized check of traits and of the segments
-- built on them, as a tracked event table changes.
--
-- Run it with test/random/run.sh, which gives it a fresh database, or by
-- hand in an empty database where segment can be created:
--
--   psql -X -v ON_ERROR_STOP=1 -v seed=0.42 -v statements=3000 -f events_random.sql
--
-- The clock is frozen (segment.reference_time), so nothing depends on the
-- wall clock.  A customer table (keys in four membership chunks, 0 to
-- 200000) and an event table are tracked; eleven traits (counts in
-- windows of the clock, sum, avg, min, max, count(DISTINCT), mode(), the
-- last value by time, bool_or), thirteen rule segments over traits and
-- customer columns (some built on other segments, on a cohort and on an
-- RFM cell with in_segment()), a monthly cohort set of first signups and
-- an RFM model with a fixed as_of are defined.  Then a workload of
-- :statements statements runs in transactions of random length with random
-- ROLLBACK, ROLLBACK TO SAVEPOINT and RELEASE SAVEPOINT: multi-row event
-- INSERTs of 1 to 50 rows and INSERT ... SELECT batches of a few hundred;
-- event UPDATEs of kind, amount, time, channel, an unwatched column and
-- the customer (moving events between customers); DELETEs by id, by
-- customer and by kind and time; upserts by id and MERGEs; a rare
-- TRUNCATE, half the time followed by thousands of new events in the same
-- statement; and customer INSERTs, upserts, UPDATEs (columns and keys),
-- MERGEs and DELETEs.  Events of keys that
-- are not customers (yet) are part of it.  Everything is drawn from
-- random() after setseed(:seed), so a seed always gives the same workload.
--
-- What is checked, against an oracle written here in plain SQL (plain
-- aggregates over the events, per customer; it does not use the
-- extension's trait or rule compiler or stored membership, but for the
-- RFM cell one rule reads, which it takes as stored):
--   - during the workload, every 50 statements, inside whatever
--     transaction or savepoint is open: segment.verify() is empty; every
--     trait in segment.traits equals the oracle's aggregate, for every
--     customer (the value over zero events for those without any);
--     segment.members() equals the oracle for every rule segment and every
--     cohort segment; every customer with a purchase up to as_of is in
--     exactly one cell of the RFM model and the others in none (the cells
--     themselves are checked by segment.verify()); and, outside a
--     transaction, every month of a first signup has its cohort segment;
--   - at the end, the same, plus segment.of() for every customer, and the
--     history: replaying segment.history per (segment, customer) one
--     transaction at a time never leaves {out, in}, and ends in the
--     current membership.
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
\set statements 3000
\endif

SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
-- the oracle's functions read segment.traits, which exists once there are traits
SET check_function_bodies = off;
SET TimeZone = 'UTC';
-- now() in traits and rules; the oracle spells it out as rt.now()
SET segment.reference_time = '2026-06-30 12:00+00';

CREATE EXTENSION segment;
CREATE SCHEMA rt;
\ir common.sql

CREATE FUNCTION rt.now() RETURNS timestamptz LANGUAGE sql IMMUTABLE AS
$$ SELECT timestamptz '2026-06-30 12:00+00' $$;
-- the RFM model's as_of
CREATE FUNCTION rt.as_of() RETURNS timestamptz LANGUAGE sql IMMUTABLE AS
$$ SELECT timestamptz '2026-06-30 00:00+00' $$;

CREATE TABLE customers (
	id int PRIMARY KEY,
	country text,
	vip boolean,
	plan text
);

CREATE TABLE events (
	id bigserial PRIMARY KEY,
	customer_id int NOT NULL,
	at timestamptz NOT NULL,
	kind text,
	amount numeric,
	channel text,
	note text			-- read by no trait
);
CREATE INDEX ON events (customer_id, at);

-- The workload's guess of the highest event id so far (ids are drawn up
-- to it; a guess is enough).
CREATE TABLE rt.ids (max_id bigint NOT NULL);
INSERT INTO rt.ids VALUES (0);

--
-- Random values
--

CREATE FUNCTION rt.pick(a text[]) RETURNS text LANGUAGE sql AS
$$ SELECT a[rt.rnd(1, cardinality(a))] $$;

CREATE FUNCTION rt.array_literal(a anyarray) RETURNS text LANGUAGE sql AS
$$ SELECT quote_literal(a::text) || '::' || pg_typeof(a)::text $$;

-- n event ids up to the guess of the highest one, mostly recent ones.
CREATE FUNCTION rt.rand_ids(n int) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
	hi bigint := greatest((SELECT max_id FROM rt.ids), 1);
	ids bigint[] := '{}';
BEGIN
	FOR i IN 1 .. n LOOP
		IF random() < 0.5 THEN
			ids := ids || greatest(1, hi - floor(random() * 3000)::bigint);
		ELSE
			ids := ids || (1 + floor(random() * hi)::bigint);
		END IF;
	END LOOP;
	RETURN ARRAY(SELECT DISTINCT i FROM unnest(ids) i ORDER BY i);
END
$$;

CREATE FUNCTION rt.took_ids(n int) RETURNS void LANGUAGE sql AS
$$ UPDATE rt.ids SET max_id = max_id + n $$;

CREATE FUNCTION rt.rand_country() RETURNS text LANGUAGE sql AS $$
	SELECT rt.pick(ARRAY['''ZA''', '''ZA''', '''US''', '''DE''', '''FR''', '''NL''', '''BR''', 'NULL'])
$$;

-- The columns of one customer row as SQL literals.
CREATE FUNCTION rt.rand_customer(id int) RETURNS text LANGUAGE sql AS $$
	SELECT format('(%s, %s::text, %s::boolean, %s::text)', id, rt.rand_country(),
		rt.pick(ARRAY['true', 'false', 'false', 'NULL']),
		rt.pick(ARRAY['''free''', '''free''', '''pro''', '''team''', 'NULL']))
$$;

CREATE FUNCTION rt.rand_customers(keys int[]) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(rt.rand_customer(k), ', ' ORDER BY o) FROM unnest(keys) WITH ORDINALITY u(k, o)
$$;

-- An event time: mostly in 2026-01-01 .. 2026-07-15, often in the windows
-- the traits read, sometimes exactly on (or a microsecond off) one of
-- their edges or a month's, sometimes months outside (new cohorts).
CREATE FUNCTION rt.rand_time() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r float8 := random();
	t timestamptz;
BEGIN
	IF r < 0.12 THEN
		RETURN quote_literal(rt.pick(ARRAY[
			'2026-05-31 12:00+00', '2026-05-31 12:00:00.000001+00', '2026-05-31 11:59:59.999999+00',
			'2026-05-01 12:00+00', '2026-05-01 12:00:00.000001+00', '2026-05-16 12:00+00',
			'2026-06-30 12:00+00', '2026-06-30 00:00+00', '2026-06-30 00:00:00.000001+00',
			'2026-05-01 00:00+00', '2026-03-01 00:00+00', '2026-02-28 23:59:59.999999+00',
			'2026-02-01 00:00+00', '2026-07-01 00:00+00', '2026-01-31 23:59:59.999999+00'])) || '::timestamptz';
	ELSIF r < 0.40 THEN
		t := rt.now() - floor(random() * 70 * 1440) * interval '1 minute';
	ELSIF r < 0.43 THEN
		t := CASE WHEN random() < 0.5 THEN timestamptz '2025-06-01 00:00+00'
		          ELSE timestamptz '2026-08-01 00:00+00' END
		     + floor(random() * 210 * 24) * interval '1 hour';
	ELSE
		t := timestamptz '2026-01-01 00:00+00' + floor(random() * 196 * 144) * interval '10 minutes';
	END IF;
	RETURN quote_literal(t::text) || '::timestamptz';
END
$$;

CREATE FUNCTION rt.rand_kind() RETURNS text LANGUAGE sql AS $$
	SELECT rt.pick(ARRAY['''purchase''', '''purchase''', '''purchase''', '''login''', '''login''',
	                     '''login''', '''email_open''', '''email_open''', '''signup''', 'NULL'])
$$;

CREATE FUNCTION rt.rand_channel() RETURNS text LANGUAGE sql AS $$
	SELECT rt.pick(ARRAY['''web''', '''web''', '''app''', '''app''', '''email''', '''store''', 'NULL'])
$$;

-- An amount for an event of a kind: purchases mostly have one, other
-- events mostly not (RFM counts every event with an amount).
CREATE FUNCTION rt.rand_amount(kind text) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN (kind = '''purchase''') = (random() < 0.9)
	            THEN round((random() * 400)::numeric, (ARRAY[0, 2])[rt.rnd(1, 2)])::text
	            ELSE 'NULL' END
$$;

CREATE FUNCTION rt.rand_event(key int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	kind text := rt.rand_kind();
BEGIN
	RETURN format('(%s, %s, %s::text, %s::numeric, %s::text)',
		key, rt.rand_time(), kind, rt.rand_amount(kind), rt.rand_channel());
END
$$;

-- n events of random keys, a few keys getting several.
CREATE FUNCTION rt.rand_events(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	keys int[] := ARRAY(SELECT rt.rand_key() FROM generate_series(1, greatest(1, n / 3)));
	rows text[] := '{}';
BEGIN
	FOR i IN 1 .. n LOOP
		rows := rows || rt.rand_event(CASE WHEN random() < 0.6 THEN keys[rt.rnd(1, cardinality(keys))]
		                                   ELSE rt.rand_key() END);
	END LOOP;
	PERFORM rt.took_ids(n);
	RETURN array_to_string(rows, ', ');
END
$$;

-- Random events for the given ids: (customer_id, at, kind, amount,
-- channel, id), ...
CREATE FUNCTION rt.rows_with_ids(ids bigint[]) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(rtrim(rt.rand_event(rt.rand_key()), ')') || ', ' || i || '::bigint)', ', ' ORDER BY o)
	  FROM unnest(ids) WITH ORDINALITY u(i, o)
$$;

CREATE FUNCTION rt.prime() RETURNS int LANGUAGE sql AS $$
	SELECT (ARRAY[7, 13, 31, 61, 97, 127, 211, 331, 499, 631, 877, 1009])[rt.rnd(1, 12)]
$$;

-- An INSERT ... SELECT of n events of 10 to 300 keys, spelt out in
-- arithmetic on generate_series() so that the statement stands alone; a
-- third of them in the last 70 days.
CREATE FUNCTION rt.batch(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	keys int[] := rt.rand_keys(rt.rnd(10, 300));
	o int := rt.rnd(0, 1000);
BEGIN
	PERFORM rt.took_ids(n);
	RETURN format('INSERT INTO events (customer_id, at, kind, amount, channel) '
	              'SELECT (%1$s)[1 + (g * %2$s + %9$s) %% %3$s], '
	              'CASE WHEN g %% 3 = 0 '
	              'THEN timestamptz ''2026-06-30 12:00+00'' - ((g * %4$s + %9$s) %% 100800) * interval ''1 minute'' '
	              'ELSE timestamptz ''2026-01-01 00:00+00'' + ((g * %4$s + %9$s) %% 200) * interval ''1 day'' '
	              '+ ((g * %5$s) %% 144) * interval ''10 minutes'' END, '
	              '(ARRAY[''purchase'', ''purchase'', ''login'', ''login'', ''email_open'', ''signup''])[1 + (g * %6$s + %9$s) %% 6], '
	              'CASE WHEN (g * %7$s) %% 6 = 0 THEN NULL ELSE ((g * %8$s + %9$s) %% 40000) / 100.0 END, '
	              '(ARRAY[''web'', ''app'', ''email'', ''store'', NULL])[1 + (g * %7$s + %9$s) %% 5] '
	              'FROM generate_series(1, %10$s) g',
	              rt.array_literal(keys), rt.prime(), cardinality(keys), rt.prime(), rt.prime(),
	              rt.prime(), rt.prime(), rt.prime(), o, n);
END
$$;

-- A data-changing statement of events: rows of 1 to 50, batches of 100
-- to 600.
CREATE FUNCTION rt.event_statement(r float8) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n int := rt.rnd(1, 50);
	keys int[];
	ids bigint[] := rt.rand_ids(n);
	d int;
	o int := rt.rnd(0, 1000);
BEGIN
	IF r < 0.30 THEN
		RETURN format('INSERT INTO events (customer_id, at, kind, amount, channel) VALUES %s',
		              rt.rand_events(n));
	ELSIF r < 0.345 THEN
		RETURN rt.batch(rt.rnd(100, 600));
	ELSIF r < 0.36 THEN
		-- a copy of some customers' events, to other keys, shifted in time
		keys := rt.rand_keys(rt.rnd(1, 20));
		d := (ARRAY[1, 7, 65536, 131072, 200])[rt.rnd(1, 5)];
		PERFORM rt.took_ids(150);
		RETURN format('INSERT INTO events (customer_id, at, kind, amount, channel) '
		              'SELECT (customer_id + %s) %% 262144, at + %L::interval, kind, amount, channel '
		              'FROM events WHERE customer_id = ANY (%s) ORDER BY id LIMIT 300',
		              d, rt.pick(ARRAY['0', '1 day', '-20 days', '1 microsecond', '35 days']),
		              rt.array_literal(keys));
	ELSIF r < 0.41 THEN
		RETURN format('UPDATE events SET kind = %s WHERE id = ANY (%s)', rt.rand_kind(),
		              rt.array_literal(ids));
	ELSIF r < 0.45 THEN
		RETURN format('UPDATE events SET amount = %s WHERE id = ANY (%s)',
		              rt.pick(ARRAY['amount * 2', 'amount + 100', 'NULL', '0', 'coalesce(amount, 50)',
		                            'round(amount / 3, 1)']),
		              rt.array_literal(ids));
	ELSIF r < 0.49 THEN
		IF random() < 0.5 THEN
			RETURN format('UPDATE events SET at = at + %L::interval WHERE id = ANY (%s)',
			              rt.pick(ARRAY['1 microsecond', '-1 microsecond', '30 days', '-30 days',
			                            '12 hours', '-45 days', '10 days']),
			              rt.array_literal(ids));
		END IF;
		RETURN format('UPDATE events SET at = %s WHERE id = ANY (%s)', rt.rand_time(),
		              rt.array_literal(ids));
	ELSIF r < 0.52 THEN
		RETURN format('UPDATE events SET channel = %s WHERE id = ANY (%s)', rt.rand_channel(),
		              rt.array_literal(ids));
	ELSIF r < 0.54 THEN
		-- a column no trait reads
		RETURN format('UPDATE events SET note = %L WHERE id = ANY (%s)', 'n' || rt.rnd(1, 1000),
		              rt.array_literal(ids));
	ELSIF r < 0.58 THEN
		-- move events to another customer, or spread them over several
		IF random() < 0.5 THEN
			RETURN format('UPDATE events SET customer_id = %s WHERE id = ANY (%s)', rt.rand_key(),
			              rt.array_literal(ids));
		END IF;
		d := (ARRAY[1, 3, 65536, 131072, 700])[rt.rnd(1, 5)];
		RETURN format('UPDATE events SET customer_id = (customer_id + %s) %% 262144 WHERE id = ANY (%s)',
		              d, rt.array_literal(ids));
	ELSIF r < 0.60 THEN
		-- all events of some customers to one other
		RETURN format('UPDATE events SET customer_id = %s WHERE customer_id = ANY (%s)',
		              rt.rand_key(), rt.array_literal(rt.rand_keys(rt.rnd(1, 5))));
	ELSIF r < 0.63 THEN
		-- several columns at once, row by row
		RETURN format('UPDATE events e SET customer_id = v.customer_id, at = v.at, kind = v.kind, '
		              'amount = v.amount, channel = v.channel '
		              'FROM (VALUES %s) v(customer_id, at, kind, amount, channel, id) WHERE e.id = v.id',
		              rt.rows_with_ids(ids));
	ELSIF r < 0.68 THEN
		RETURN format('DELETE FROM events WHERE id = ANY (%s)', rt.array_literal(ids));
	ELSIF r < 0.695 THEN
		-- upsert by id: existing events change, deleted ones come back (ids
		-- the sequence has not given yet are left out)
		RETURN format('INSERT INTO events (id, customer_id, at, kind, amount, channel) '
		              'SELECT v.id, v.customer_id, v.at, v.kind, v.amount, v.channel '
		              'FROM (VALUES %s) v(customer_id, at, kind, amount, channel, id) '
		              'WHERE v.id <= (SELECT last_value FROM events_id_seq) '
		              'ON CONFLICT (id) DO %s',
		              rt.rows_with_ids(ids),
		              rt.pick(ARRAY['NOTHING', 'UPDATE SET kind = EXCLUDED.kind, amount = EXCLUDED.amount',
		                            'UPDATE SET customer_id = EXCLUDED.customer_id',
		                            'UPDATE SET at = EXCLUDED.at, channel = EXCLUDED.channel',
		                            'UPDATE SET customer_id = EXCLUDED.customer_id, at = EXCLUDED.at, '
		                            'kind = EXCLUDED.kind, amount = EXCLUDED.amount, channel = EXCLUDED.channel']));
	ELSIF r < 0.71 THEN
		-- MERGE: update, delete (events of no kind) or insert
		PERFORM rt.took_ids(cardinality(ids));
		RETURN format('MERGE INTO events e USING (VALUES %s) v(customer_id, at, kind, amount, channel, id) '
		              'ON e.id = v.id '
		              'WHEN MATCHED AND v.kind IS NULL THEN DELETE '
		              'WHEN MATCHED THEN UPDATE SET customer_id = v.customer_id, at = v.at, kind = v.kind, '
		              'amount = v.amount '
		              'WHEN NOT MATCHED THEN INSERT (customer_id, at, kind, amount, channel) '
		              'VALUES (v.customer_id, v.at, v.kind, v.amount, v.channel)',
		              rt.rows_with_ids(ids));
	ELSIF r < 0.75 THEN
		RETURN format('DELETE FROM events WHERE customer_id = ANY (%s)',
		              rt.array_literal(rt.rand_keys(rt.rnd(1, 10))));
	ELSIF r < 0.77 THEN
		RETURN format('DELETE FROM events WHERE kind IS NOT DISTINCT FROM %s AND at >= %s '
		              'AND customer_id BETWEEN %s AND %s',
		              rt.rand_kind(), rt.rand_time(), o * 100, o * 100 + rt.rnd(100, 70000));
	ELSIF random() < 0.5 THEN
		RETURN 'TRUNCATE events';
	ELSE
		-- and start again, in the same transaction
		RETURN 'TRUNCATE events; ' || rt.batch(rt.rnd(3000, 8000));
	END IF;
END
$$;

-- A data-changing statement of customers: 1 to 50 rows.
CREATE FUNCTION rt.customer_statement(r float8) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	keys int[] := rt.rand_keys(rt.rnd(1, 50));
	d int;
BEGIN
	IF r < 0.30 THEN
		RETURN format('INSERT INTO customers (id, country, vip, plan) VALUES %s '
		              'ON CONFLICT (id) DO NOTHING', rt.rand_customers(keys));
	ELSIF r < 0.40 THEN
		RETURN format('INSERT INTO customers (id, country, vip, plan) VALUES %s '
		              'ON CONFLICT (id) DO UPDATE SET country = EXCLUDED.country, vip = EXCLUDED.vip',
		              rt.rand_customers(keys));
	ELSIF r < 0.55 THEN
		RETURN format('UPDATE customers SET country = %s WHERE id = ANY (%s)', rt.rand_country(),
		              rt.array_literal(keys));
	ELSIF r < 0.63 THEN
		RETURN format('UPDATE customers SET %s WHERE id = ANY (%s)',
		              rt.pick(ARRAY['vip = NOT vip', 'vip = NULL', 'vip = true', 'plan = ''pro''',
		                            'plan = ''free''', 'plan = NULL']),
		              rt.array_literal(keys));
	ELSIF r < 0.70 THEN
		RETURN format('MERGE INTO customers c USING (VALUES %s) v(id, country, vip, plan) ON c.id = v.id '
		              'WHEN MATCHED AND v.vip IS NULL THEN DELETE '
		              'WHEN MATCHED THEN UPDATE SET country = v.country, plan = v.plan '
		              'WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.country, v.vip, v.plan)',
		              rt.rand_customers(keys));
	ELSIF r < 0.75 THEN
		-- move customers to free keys: the new key's events become theirs
		d := (ARRAY[1, 3, 700, -5, 65536, -65536, 40])[rt.rnd(1, 7)];
		RETURN format('UPDATE customers c SET id = c.id + %1$s WHERE c.id = ANY (%2$s) '
		              'AND c.id + %1$s BETWEEN 0 AND 200000 '
		              'AND NOT EXISTS (SELECT FROM customers o WHERE o.id = c.id + %1$s)',
		              d, rt.array_literal(keys));
	ELSE
		RETURN format('DELETE FROM customers WHERE id = ANY (%s)', rt.array_literal(keys));
	END IF;
END
$$;

CREATE FUNCTION rt.rand_statement() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r float8 := random();
BEGIN
	IF r < 0.15 THEN
		RETURN rt.customer_statement(r / 0.15);
	ELSIF r < 0.997 THEN
		-- events, but not TRUNCATE
		RETURN rt.event_statement((r - 0.15) / 0.847 * 0.77);
	ELSE
		RETURN rt.event_statement(0.99);
	END IF;
END
$$;

--
-- The oracle
--

-- Every trait of every customer: plain aggregates over the customer's
-- events, zero events included.
CREATE FUNCTION rt.oracle_traits() RETURNS TABLE (
	customer_id bigint, purchases_30d bigint, logins_30d bigint, logins_prior bigint,
	spend numeric, avg_ticket numeric, last_purchase timestamptz, first_seen timestamptz,
	kinds bigint, top_channel text, last_channel text, store_shopper boolean)
LANGUAGE sql STABLE AS $$
	SELECT c.id, t.*
	  FROM customers c,
	  LATERAL (
		SELECT count(*) FILTER (WHERE e.kind = 'purchase' AND e.at > rt.now() - interval '30 days'),
		       count(*) FILTER (WHERE e.kind = 'login' AND e.at > rt.now() - interval '30 days'),
		       count(*) FILTER (WHERE e.kind = 'login' AND e.at > rt.now() - interval '60 days'
		                        AND e.at <= rt.now() - interval '30 days'),
		       sum(e.amount) FILTER (WHERE e.kind = 'purchase'),
		       avg(e.amount) FILTER (WHERE e.kind = 'purchase'),
		       max(e.at) FILTER (WHERE e.kind = 'purchase'),
		       min(e.at),
		       count(DISTINCT e.kind),
		       mode() WITHIN GROUP (ORDER BY e.channel),
		       (array_agg(e.channel ORDER BY e.at DESC, e.id DESC))[1],
		       bool_or(e.channel = 'store')
		  FROM events e WHERE e.customer_id = c.id) t
$$;

-- One row per trait value that differs (or customer missing on a side).
CREATE FUNCTION rt.trait_diff(OUT customer_id bigint, OUT trait text, OUT got text, OUT want text)
RETURNS SETOF record LANGUAGE sql AS $$
	SELECT coalesce(o.customer_id, v.customer_id), d.trait, d.got, d.want
	  FROM rt.oracle_traits() o
	  FULL JOIN segment.traits v ON v.customer_id = o.customer_id,
	  LATERAL (VALUES
		('(row)', v.customer_id IS NULL OR o.customer_id IS NULL,
		          CASE WHEN v.customer_id IS NULL THEN 'missing' ELSE 'present' END,
		          CASE WHEN o.customer_id IS NULL THEN 'missing' ELSE 'present' END),
		('purchases_30d', v.purchases_30d IS DISTINCT FROM o.purchases_30d, v.purchases_30d::text, o.purchases_30d::text),
		('logins_30d', v.logins_30d IS DISTINCT FROM o.logins_30d, v.logins_30d::text, o.logins_30d::text),
		('logins_prior', v.logins_prior IS DISTINCT FROM o.logins_prior, v.logins_prior::text, o.logins_prior::text),
		('spend', v.spend IS DISTINCT FROM o.spend, v.spend::text, o.spend::text),
		('avg_ticket', v.avg_ticket IS DISTINCT FROM o.avg_ticket, v.avg_ticket::text, o.avg_ticket::text),
		('last_purchase', v.last_purchase IS DISTINCT FROM o.last_purchase, v.last_purchase::text, o.last_purchase::text),
		('first_seen', v.first_seen IS DISTINCT FROM o.first_seen, v.first_seen::text, o.first_seen::text),
		('kinds', v.kinds IS DISTINCT FROM o.kinds, v.kinds::text, o.kinds::text),
		('top_channel', v.top_channel IS DISTINCT FROM o.top_channel, v.top_channel, o.top_channel),
		('last_channel', v.last_channel IS DISTINCT FROM o.last_channel, v.last_channel, o.last_channel),
		('store_shopper', v.store_shopper IS DISTINCT FROM o.store_shopper, v.store_shopper::text, o.store_shopper::text)
	  ) d(trait, differs, got, want)
	 WHERE d.differs
	 ORDER BY 1, 2
$$;

-- Who should be in each rule segment, from the rules' own predicates over
-- the oracle's traits and the customer rows, and in each cohort segment
-- that exists; in_segment() is replaced by the oracle's own sets, except
-- for the RFM cell, which is taken as stored (segment.verify() checks it).
CREATE FUNCTION rt.expected(OUT name text, OUT members segment) RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
	frequent_buyers segment;
	za_recent_buyers segment;
	lapsed_users segment;
	big_spenders segment;
	dormant segment;
	newcomers segment;
	explorers segment;
	app_people segment;
	store_pros segment;
	feb_signups segment;
	feb_buyers segment;
	cohort record;
BEGIN
	SELECT coalesce(segment_agg(o.customer_id) FILTER (WHERE (purchases_30d >= 3) IS TRUE), '{}'),
	       coalesce(segment_agg(o.customer_id) FILTER (WHERE (purchases_30d >= 1 AND country = 'ZA') IS TRUE), '{}'),
	       coalesce(segment_agg(o.customer_id) FILTER (WHERE (logins_prior > 0 AND logins_30d = 0) IS TRUE), '{}'),
	       coalesce(segment_agg(o.customer_id) FILTER (WHERE (coalesce(spend, 0) >= 1000) IS TRUE), '{}'),
	       coalesce(segment_agg(o.customer_id) FILTER (WHERE (last_purchase IS NULL
	                 OR last_purchase < rt.now() - interval '45 days') IS TRUE), '{}'),
	       coalesce(segment_agg(o.customer_id) FILTER (WHERE (first_seen > rt.now() - interval '60 days') IS TRUE), '{}'),
	       coalesce(segment_agg(o.customer_id) FILTER (WHERE (kinds >= 3 AND vip IS NOT TRUE) IS TRUE), '{}'),
	       coalesce(segment_agg(o.customer_id) FILTER (WHERE (top_channel = 'app' OR last_channel = 'app') IS TRUE), '{}'),
	       coalesce(segment_agg(o.customer_id) FILTER (WHERE (store_shopper AND plan = 'pro') IS TRUE), '{}'),
	       coalesce(segment_agg(o.customer_id) FILTER (WHERE purchases_30d >= 1), '{}')
	  INTO frequent_buyers, za_recent_buyers, lapsed_users, big_spenders, dormant, newcomers,
	       explorers, app_people, store_pros, feb_buyers
	  FROM rt.oracle_traits() o JOIN customers c ON c.id = o.customer_id;
	name := 'frequent_buyers'; members := frequent_buyers; RETURN NEXT;
	name := 'za_recent_buyers'; members := za_recent_buyers; RETURN NEXT;
	name := 'lapsed_users'; members := lapsed_users; RETURN NEXT;
	name := 'big_spenders'; members := big_spenders; RETURN NEXT;
	name := 'dormant'; members := dormant; RETURN NEXT;
	name := 'newcomers'; members := newcomers; RETURN NEXT;
	name := 'explorers'; members := explorers; RETURN NEXT;
	name := 'app_people'; members := app_people; RETURN NEXT;
	name := 'store_pros'; members := store_pros; RETURN NEXT;
	name := 'frequent_small'; members := frequent_buyers - big_spenders; RETURN NEXT;
	name := 'vip_at_risk';
	SELECT coalesce(segment_agg(id), '{}') INTO members FROM customers
	 WHERE ((vip AND id::bigint <@ lapsed_users)
	        OR (id::bigint <@ big_spenders AND id::bigint <@ dormant)) IS TRUE;
	RETURN NEXT;

	-- cohorts: the month of the first signup, in UTC
	SELECT coalesce(segment_agg(c.id), '{}') INTO feb_signups
	  FROM customers c
	 WHERE (SELECT to_char(min(e.at) AT TIME ZONE 'UTC', 'YYYY-MM') FROM events e
	         WHERE e.customer_id = c.id AND e.kind = 'signup') = '2026-02';
	name := 'feb_buyers'; members := feb_signups & feb_buyers; RETURN NEXT;

	name := 'za_champions';
	SELECT coalesce(segment_agg(id), '{}') INTO members FROM customers
	 WHERE country = 'ZA' AND id::bigint <@ segment.members('rfm:champions');
	RETURN NEXT;

	FOR cohort IN
		SELECT d.name, d.label, coalesce(s.members, '{}') AS members
		  FROM segment.definitions d
		  LEFT JOIN (SELECT to_char(f.first AT TIME ZONE 'UTC', 'YYYY-MM') AS label,
		                    segment_agg(f.id) AS members
		               FROM (SELECT c.id, (SELECT min(e.at) FROM events e
		                                    WHERE e.customer_id = c.id AND e.kind = 'signup') AS first
		                       FROM customers c) f
		              WHERE f.first IS NOT NULL GROUP BY 1) s ON s.label = d.label
		 WHERE d.family = 'signup' ORDER BY d.name
	LOOP
		name := cohort.name; members := cohort.members; RETURN NEXT;
	END LOOP;
END
$$;

-- One row per wrong membership: stored (segment.members) against oracle.
CREATE FUNCTION rt.diff(OUT segment text, OUT customer_id bigint, OUT stored boolean, OUT expected boolean)
RETURNS SETOF record LANGUAGE sql AS $$
	SELECT e.name, k, k <@ segment.members(e.name), k <@ e.members
	  FROM rt.expected() e, unnest(segment.members(e.name) # e.members) k
	 ORDER BY 1, 2
$$;

-- Customers in the wrong number of RFM cells: one for a purchase (an
-- event with an amount) up to as_of, none without.
CREATE FUNCTION rt.rfm_diff(OUT customer_id bigint, OUT cells text[], OUT purchases bigint)
RETURNS SETOF record LANGUAGE sql AS $$
	WITH cells AS (
		SELECT m.customer_id, array_agg(m.segment ORDER BY m.segment) AS cells
		  FROM segment.membership m JOIN segment.definitions d ON d.name = m.segment
		 WHERE d.family = 'rfm' GROUP BY 1),
	bought AS (
		SELECT c.id::bigint AS customer_id,
		       (SELECT count(*) FROM events e WHERE e.customer_id = c.id AND e.amount IS NOT NULL
		           AND e.at <= rt.as_of()) AS purchases
		  FROM customers c)
	SELECT coalesce(b.customer_id, x.customer_id), x.cells, b.purchases
	  FROM bought b FULL JOIN cells x USING (customer_id)
	 WHERE coalesce(cardinality(x.cells), 0) <> CASE WHEN b.purchases > 0 THEN 1 ELSE 0 END
	 ORDER BY 1
$$;

-- Months of a first signup without their cohort's segment (outside a
-- transaction: a new month's segment is made at commit).
CREATE FUNCTION rt.missing_cohorts(OUT label text, OUT customers bigint)
RETURNS SETOF record LANGUAGE sql AS $$
	SELECT to_char(f.first AT TIME ZONE 'UTC', 'YYYY-MM'), count(*)
	  FROM (SELECT (SELECT min(e.at) FROM events e
	                 WHERE e.customer_id = c.id AND e.kind = 'signup') AS first
	          FROM customers c) f
	 WHERE f.first IS NOT NULL
	   AND NOT EXISTS (SELECT FROM segment.definitions d
	                    WHERE d.family = 'signup' AND d.label = to_char(f.first AT TIME ZONE 'UTC', 'YYYY-MM'))
	 GROUP BY 1 ORDER BY 1
$$;

CREATE PROCEDURE rt.check(label text, committed boolean) LANGUAGE plpgsql AS $$
DECLARE
	nverify bigint;
	ntraits bigint;
	ndiff bigint;
	nrfm bigint;
	nmissing bigint;
	d1 text;
	d2 text;
	d3 text;
	d4 text;
	d5 text;
BEGIN
	SELECT count(*), string_agg(format('%s %s stored %s expected %s', segment, customer_id, stored, expected), '; ')
	  INTO nverify, d1 FROM (SELECT * FROM segment.verify() LIMIT 10) v;
	SELECT count(*), string_agg(format('%s %s: %s, expected %s', customer_id, trait, got, want), '; ')
	  INTO ntraits, d2 FROM (SELECT * FROM rt.trait_diff() LIMIT 10) t;
	SELECT count(*), string_agg(format('%s %s stored %s expected %s', segment, customer_id, stored, expected), '; ')
	  INTO ndiff, d3 FROM (SELECT * FROM rt.diff() LIMIT 10) d;
	SELECT count(*), string_agg(format('%s in %s, %s purchases', customer_id, cells, purchases), '; ')
	  INTO nrfm, d4 FROM (SELECT * FROM rt.rfm_diff() LIMIT 10) r;
	nmissing := 0;
	IF committed THEN
		SELECT count(*), string_agg(format('%s (%s customers)', m.label, m.customers), '; ')
		  INTO nmissing, d5 FROM rt.missing_cohorts() m;
	END IF;
	IF nverify + ntraits + ndiff + nrfm + nmissing > 0 THEN
		PERFORM nextval('rt.problems');
		RAISE WARNING 'mismatch %: segment.verify(): %; traits: %; members: %; RFM cells: %; cohorts missing: %',
			label, coalesce(d1, 'none'), coalesce(d2, 'none'), coalesce(d3, 'none'),
			coalesce(d4, 'none'), coalesce(d5, 'none');
	END IF;
END
$$;

--
-- Setup: customers, events, traits, segments, and the workload
--

SELECT setseed(:seed) \gset

INSERT INTO customers (id, country, vip, plan)
SELECT k, (ARRAY['ZA', 'ZA', 'US', 'DE', 'FR', 'NL', 'BR', NULL])[rt.rnd(1, 8)],
       (ARRAY[true, false, false, NULL])[rt.rnd(1, 4)],
       (ARRAY['free', 'free', 'pro', 'team', NULL])[rt.rnd(1, 5)]
  FROM (SELECT DISTINCT rt.rand_key() AS k FROM generate_series(1, 3500)) keys
 ORDER BY k;

-- about six events per key, a third of the keys not customers
CREATE TEMP TABLE initial_events AS
SELECT rt.rand_key() AS customer_id, rt.rand_time() AS at, rt.rand_kind() AS kind,
       rt.rand_channel() AS channel
  FROM generate_series(1, 30000);
SELECT format('INSERT INTO events (customer_id, at, kind, amount, channel) VALUES %s',
              string_agg(format('(%s, %s, %s::text, %s::numeric, %s::text)', customer_id, at, kind,
                                rt.rand_amount(kind), channel), ', '))
  FROM initial_events \gexec
DROP TABLE initial_events;
UPDATE rt.ids SET max_id = (SELECT max(id) FROM events);

SELECT segment.track_customers('customers', 'id') \gset
SELECT segment.track_events('events', 'customer_id', 'at', amount => 'amount', kind => 'kind') \gset

SELECT segment.create_trait('purchases_30d',
	$$count(*) FILTER (WHERE kind = 'purchase' AND at > now() - interval '30 days')$$,
	'purchases in the last 30 days') \gset
SELECT segment.create_trait('logins_30d',
	$$count(*) FILTER (WHERE kind = 'login' AND at > now() - interval '30 days')$$,
	'logins in the last 30 days') \gset
SELECT segment.create_trait('logins_prior',
	$$count(*) FILTER (WHERE kind = 'login' AND at > now() - interval '60 days'
	                   AND at <= now() - interval '30 days')$$,
	'logins in the 30 days before those') \gset
SELECT segment.create_trait('spend', $$sum(amount) FILTER (WHERE kind = 'purchase')$$,
	'total spend') \gset
SELECT segment.create_trait('avg_ticket', $$avg(amount) FILTER (WHERE kind = 'purchase')$$,
	'average purchase') \gset
SELECT segment.create_trait('last_purchase', $$max(at) FILTER (WHERE kind = 'purchase')$$,
	'last purchase') \gset
SELECT segment.create_trait('first_seen', $$min(at)$$, 'first event') \gset
SELECT segment.create_trait('kinds', $$count(DISTINCT kind)$$, 'kinds of event') \gset
SELECT segment.create_trait('top_channel', $$mode() WITHIN GROUP (ORDER BY channel)$$,
	'most frequent channel') \gset
SELECT segment.create_trait('last_channel', $$(array_agg(channel ORDER BY at DESC, id DESC))[1]$$,
	'channel of the last event') \gset
SELECT segment.create_trait('store_shopper', $$bool_or(channel = 'store')$$,
	'ever in a store') \gset

SELECT count(*) AS cohorts FROM segment.create_cohorts('signup', 'signup', 'month') \gset
SELECT count(*) AS cells FROM segment.create_rfm('rfm', as_of => '2026-06-30') \gset

-- frequency in a window
SELECT segment.create('frequent_buyers', 'purchases_30d >= 3') \gset
-- a trait and a column
SELECT segment.create('za_recent_buyers', $$purchases_30d >= 1 AND country = 'ZA'$$) \gset
-- stopped: in the previous window, not in this one
SELECT segment.create('lapsed_users', 'logins_prior > 0 AND logins_30d = 0') \gset
-- value, with NULL for no purchase
SELECT segment.create('big_spenders', 'coalesce(spend, 0) >= 1000') \gset
-- not since (or never), against the clock
SELECT segment.create('dormant', $$last_purchase IS NULL OR last_purchase < now() - interval '45 days'$$) \gset
SELECT segment.create('newcomers', $$first_seen > now() - interval '60 days'$$) \gset
SELECT segment.create('explorers', 'kinds >= 3 AND vip IS NOT TRUE') \gset
-- first, last and most frequent values
SELECT segment.create('app_people', $$top_channel = 'app' OR last_channel = 'app'$$) \gset
SELECT segment.create('store_pros', $$store_shopper AND plan = 'pro'$$) \gset
-- built on segments, a cohort and an RFM cell
SELECT segment.create('frequent_small', $$in_segment('frequent_buyers') AND NOT in_segment('big_spenders')$$) \gset
SELECT segment.create('vip_at_risk',
	$$(vip AND in_segment('lapsed_users')) OR (in_segment('big_spenders') AND in_segment('dormant'))$$) \gset
SELECT segment.create('feb_buyers', $$in_segment('signup:2026-02') AND purchases_30d >= 1$$) \gset
SELECT segment.create('za_champions', $$in_segment('rfm:champions') AND country = 'ZA'$$) \gset

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
SELECT count(*) FILTER (WHERE sql LIKE 'INSERT INTO events%') AS event_inserts,
       count(*) FILTER (WHERE sql LIKE 'UPDATE events%') AS event_updates,
       count(*) FILTER (WHERE sql LIKE 'DELETE FROM events%') AS event_deletes,
       count(*) FILTER (WHERE sql LIKE 'MERGE INTO events%') AS event_merges,
       count(*) FILTER (WHERE sql LIKE 'TRUNCATE%') AS truncates,
       count(*) FILTER (WHERE sql ~ '^(INSERT INTO|UPDATE|DELETE FROM|MERGE INTO) customers') AS customer_changes,
       count(*) FILTER (WHERE sql = 'COMMIT') AS commits,
       count(*) FILTER (WHERE sql = 'ROLLBACK') AS rollbacks,
       count(*) FILTER (WHERE sql LIKE 'ROLLBACK TO%') AS rollbacks_to_savepoint,
       count(*) FILTER (WHERE sql LIKE 'RELEASE%') AS releases
  FROM rt.script;

\echo data:
SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM events) AS events,
       (SELECT count(*) FROM events e WHERE EXISTS (SELECT FROM customers c WHERE c.id = e.customer_id))
         AS customers_events;

\echo segments:
SELECT s.name, s.kind, s.size, cardinality(e.members) AS expected_size
  FROM segment.summary s LEFT JOIN rt.expected() e ON e.name = s.name ORDER BY s.name;

CREATE TEMP TABLE failures (what text, n bigint, sample text);

INSERT INTO failures
SELECT 'segment.traits differs from the oracle', count(*),
       string_agg(format('%s %s: %s, expected %s', customer_id, trait, got, want), '; ')
         FILTER (WHERE n <= 10)
  FROM (SELECT *, row_number() OVER () AS n FROM rt.trait_diff()) d;

INSERT INTO failures
SELECT 'customers in the wrong number of RFM cells', count(*),
       string_agg(format('%s in %s, %s purchases', customer_id, cells, purchases), '; ')
         FILTER (WHERE n <= 10)
  FROM (SELECT *, row_number() OVER () AS n FROM rt.rfm_diff()) d;

INSERT INTO failures
SELECT 'months of a first signup without a cohort', count(*),
       string_agg(format('%s (%s customers)', label, customers), '; ')
  FROM rt.missing_cohorts();

-- segment.of(): the oracle's rule and cohort segments, and the RFM cells
-- as stored
\set of_expected 'SELECT * FROM rt.expected() UNION ALL SELECT d.name, segment.members(d.name) FROM segment.definitions d WHERE d.family = ''rfm'''
\ir final_checks.sql

SELECT CASE WHEN sum(n) = 0
            THEN format('PASS events_random: seed %s, %s statements, %s customers, %s events, %s segments',
                        :'seed', :statements, (SELECT count(*) FROM customers),
                        (SELECT count(*) FROM events), (SELECT count(*) FROM segment.definitions))
            ELSE format('FAIL events_random: seed %s, %s failed checks', :'seed', sum(n))
       END AS result
  FROM failures \gset
\echo :result
