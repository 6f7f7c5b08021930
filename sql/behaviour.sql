--
-- Behavioural segments: computed traits over a tracked event table, the
-- behavioural conditions of the analytics tools written as traits and
-- rules, event DML of every kind, the traits view, and errors.
--
-- The clock is frozen: segment.reference_time stands for now() in traits
-- and rules, so no result depends on the wall clock.
--
-- doc/behaviour.md shows these examples with their output: change an
-- example in both places.
--
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET segment.reference_time = '2026-06-30 12:00+00';
\getenv abs_srcdir PG_ABS_SRCDIR
\set try_sql :abs_srcdir '/test/helpers/try.sql'
\i :try_sql

CREATE TABLE shop_customers (id integer PRIMARY KEY, name text NOT NULL, country text);
INSERT INTO shop_customers VALUES
	(1, 'Ada', 'ZA'), (2, 'Ben', 'ZA'), (3, 'Cleo', 'KE'), (4, 'Dev', 'ZA'),
	(5, 'Eve', 'KE'), (6, 'Fay', 'ZA'), (7, 'Gus', 'NG');
CREATE TABLE shop_events (
	id bigserial PRIMARY KEY,
	customer_id integer NOT NULL,
	at timestamptz NOT NULL,
	kind text NOT NULL,
	amount numeric,
	channel text
);
INSERT INTO shop_events (customer_id, at, kind, amount, channel) VALUES
	-- Ada: three purchases this month, a login in each of the last four weeks
	(1, '2026-06-10 09:00', 'purchase', 40, 'web'),
	(1, '2026-06-20 09:00', 'purchase', 25, 'web'),
	(1, '2026-06-25 09:00', 'purchase', 60, 'app'),
	(1, '2026-06-08 08:00', 'login', NULL, 'app'),
	(1, '2026-06-15 08:00', 'login', NULL, 'app'),
	(1, '2026-06-22 08:00', 'login', NULL, 'app'),
	(1, '2026-06-29 08:00', 'login', NULL, 'web'),
	-- Ben: opened an email in May, his first purchase two days ago
	(2, '2026-05-01 10:00', 'email_open', NULL, 'email'),
	(2, '2026-06-28 10:00', 'purchase', 15, 'web'),
	-- Cleo: logged in in May, not since; bought once in January
	(3, '2026-01-15 10:00', 'purchase', 80, 'web'),
	(3, '2026-05-10 10:00', 'login', NULL, 'web'),
	(3, '2026-05-20 10:00', 'login', NULL, 'web'),
	-- Dev: opened an email, never bought
	(4, '2026-06-01 10:00', 'email_open', NULL, 'email'),
	-- Eve: nothing at all
	-- Fay: two purchases, both more than 30 days ago
	(6, '2026-04-04 10:00', 'purchase', 10, 'app'),
	(6, '2026-05-05 10:00', 'purchase', 12, 'app'),
	-- Gus: three purchases in the last week, mostly in the app
	(7, '2026-06-27 10:00', 'purchase', 30, 'app'),
	(7, '2026-06-28 10:00', 'purchase', 30, 'app'),
	(7, '2026-06-29 10:00', 'purchase', 30, 'web');

SELECT segment.track_customers('shop_customers', 'id');
-- without an index on (customer, at) tracking works, with a NOTICE
SELECT segment.track_events('shop_events', 'customer_id', 'at', amount => 'amount', kind => 'kind');
SELECT segment.untrack_events('shop_events');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'shop_events'::regclass;
CREATE INDEX ON shop_events (customer_id, at);
SELECT segment.track_events('shop_events', 'customer_id', 'at', amount => 'amount', kind => 'kind');

--
-- Traits: one value per customer, over that customer's events
--
SELECT segment.create_trait('purchases_30d',
	$$count(*) FILTER (WHERE kind = 'purchase' AND at > now() - interval '30 days')$$,
	'purchases in the last 30 days');
SELECT segment.create_trait('purchases', $$count(*) FILTER (WHERE kind = 'purchase')$$);
SELECT segment.create_trait('spend', $$sum(amount) FILTER (WHERE kind = 'purchase')$$,
	'total spend');
SELECT segment.create_trait('first_purchase', $$min(at) FILTER (WHERE kind = 'purchase')$$);
SELECT segment.create_trait('last_purchase', $$max(at) FILTER (WHERE kind = 'purchase')$$);
SELECT segment.create_trait('emails_opened', $$count(*) FILTER (WHERE kind = 'email_open')$$);
SELECT segment.create_trait('logins_30d',
	$$count(*) FILTER (WHERE kind = 'login' AND at > now() - interval '30 days')$$);
SELECT segment.create_trait('logins_prior_30d',
	$$count(*) FILTER (WHERE kind = 'login' AND at > now() - interval '60 days'
	                   AND at <= now() - interval '30 days')$$);
-- weeks of the last four (counted back from now) with a login
SELECT segment.create_trait('login_weeks_4',
	$$count(DISTINCT floor(extract(epoch FROM now() - at) / 604800))
	  FILTER (WHERE kind = 'login' AND at > now() - interval '4 weeks')$$);
SELECT segment.create_trait('first_channel', $$(array_agg(channel ORDER BY at))[1]$$);
SELECT segment.create_trait('last_channel', $$(array_agg(channel ORDER BY at DESC))[1]$$);
SELECT segment.create_trait('top_channel', $$mode() WITHIN GROUP (ORDER BY channel)$$);
SELECT segment.create_trait('kinds', $$count(DISTINCT kind)$$);

-- the view: customer_id, then one column per trait, in creation order;
-- a customer without events has the value over zero events
SELECT * FROM segment.traits ORDER BY customer_id;
SELECT a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a
WHERE a.attrelid = 'segment.traits'::regclass AND a.attnum > 0
ORDER BY a.attnum;
SELECT name, type, reads_clock, description FROM segment.trait_definitions ORDER BY name;
-- what every aggregate of a trait filters by, applied to the events before
-- grouping; a bound that is the same for every event is computed once
SELECT name, filters FROM segment.trait_definitions WHERE filters <> '{}' ORDER BY name;

--
-- The behavioural conditions, as rules over traits and columns
--
-- performed an event at least N times in a window
SELECT segment.create('frequent_buyers', 'purchases_30d >= 3');
-- ... at most N times (none counts)
SELECT segment.create('slow_buyers', 'purchases >= 1 AND purchases_30d <= 1');
-- did not perform it since a date (or never)
SELECT segment.create('no_purchase_since_may', $$last_purchase IS NULL OR last_purchase < '2026-05-01'$$);
-- performed it for the first time in a window
SELECT segment.create('new_buyers', $$first_purchase > now() - interval '7 days'$$);
-- stopped performing: in the previous window, not in this one
SELECT segment.create('lapsed_users', 'logins_prior_30d > 0 AND logins_30d = 0');
-- performed it regularly: in each of the last four weeks
SELECT segment.create('weekly_users', 'login_weeks_4 = 4');
-- opened an email but never bought
SELECT segment.create('openers_not_buyers', 'emails_opened > 0 AND purchases = 0');
-- first, last and most frequent value of an event property
SELECT segment.create('came_by_email', $$first_channel = 'email'$$);
SELECT segment.create('last_seen_in_app', $$last_channel = 'app'$$);
SELECT segment.create('app_first', $$top_channel = 'app'$$);
-- traits next to the customer's columns and other segments
SELECT segment.create('za_frequent', $$country = 'ZA' AND in_segment('frequent_buyers')$$);
SELECT segment.create('big_spenders', 'coalesce(spend, 0) >= 90');

SELECT name, members FROM segment.summary s, LATERAL (SELECT segment.members(s.name)) m(members)
ORDER BY name;

--
-- Event DML changes traits and segments in the same transaction
--
-- INSERT: Fay buys twice, then once more
INSERT INTO shop_events (customer_id, at, kind, amount, channel) VALUES
	(6, '2026-06-29 10:00', 'purchase', 20, 'web'),
	(6, '2026-06-29 11:00', 'purchase', 20, 'web');
SELECT purchases_30d, spend FROM segment.traits WHERE customer_id = 6;
SELECT segment.of(6);
INSERT INTO shop_events (customer_id, at, kind, amount, channel)
VALUES (6, '2026-06-30 10:00', 'purchase', 50, 'app');
SELECT segment.of(6);
-- UPDATE: one of Ada's purchases was a return
UPDATE shop_events SET kind = 'return' WHERE customer_id = 1 AND at = '2026-06-20 09:00';
SELECT purchases_30d, spend FROM segment.traits WHERE customer_id = 1;
SELECT segment.members('frequent_buyers'), segment.members('za_frequent');
-- UPDATE that moves an event to another customer re-evaluates both
UPDATE shop_events SET customer_id = 5 WHERE customer_id = 4;
SELECT segment.members('openers_not_buyers');
-- DELETE
DELETE FROM shop_events WHERE customer_id = 7 AND at >= '2026-06-29';
SELECT segment.members('frequent_buyers');
-- COPY
COPY shop_events (customer_id, at, kind, amount, channel) FROM stdin;
7	2026-06-30 09:00:00+00	purchase	45	app
3	2026-06-30 09:30:00+00	login	\N	web
\.
SELECT segment.members('frequent_buyers'), segment.members('lapsed_users');
-- a rolled back change leaves no trace
BEGIN;
DELETE FROM shop_events WHERE customer_id = 1;
SELECT segment.members('weekly_users');
ROLLBACK;
SELECT segment.members('weekly_users');
-- history names each change, per transaction
SELECT segment, customer_id, change FROM segment.history
WHERE segment IN ('frequent_buyers', 'openers_not_buyers')
ORDER BY at, segment, customer_id, change;
SELECT count(*) AS differences FROM segment.verify();

--
-- Windows drift with the clock: a refresh recomputes at the new time
--
SELECT name, refresh_every FROM segment.summary
WHERE name IN ('frequent_buyers', 'slow_buyers', 'app_first') ORDER BY name;
SET segment.reference_time = '2026-07-28 12:00+00';
SELECT segment.members('frequent_buyers');
SELECT * FROM segment.refresh('frequent_buyers');
SELECT segment.members('frequent_buyers');
-- a segment that reads none of the clock is unchanged by it
SELECT count(*) AS differences FROM segment.verify()
WHERE segment NOT IN (SELECT name FROM segment.definitions WHERE reads_clock);
-- segment.refresh_due() refreshes every segment whose policy says it is
-- due: those that read the clock, every hour unless set otherwise
SELECT segment.set_refresh('slow_buyers', '1 day');
SELECT * FROM segment.refresh_due();
SELECT segment.members('slow_buyers');
SELECT * FROM segment.refresh_due();
-- back to the end of June: membership is as of the last refresh until
-- the next one
SET segment.reference_time = '2026-06-30 12:00+00';
SELECT segment, count(*) AS differences FROM segment.verify() GROUP BY segment ORDER BY segment;
SELECT segment.refresh(name) FROM segment.definitions WHERE reads_clock ORDER BY name;
SELECT count(*) AS differences FROM segment.verify();

-- events of a customer the customer table does not hold change nothing
INSERT INTO shop_events (customer_id, at, kind, amount) VALUES (99, '2026-06-29', 'purchase', 500);
SELECT segment.of(99);
SELECT count(*) AS customers FROM segment.traits;

-- TRUNCATE: every customer has zero events
TRUNCATE shop_events;
SELECT name, size FROM segment.summary ORDER BY name;
SELECT * FROM segment.traits WHERE customer_id = 1;
SELECT count(*) AS differences FROM segment.verify();

--
-- Errors
--
-- the position points into the expression
SELECT segment.create_trait('bad', 'count(* FILTER (WHERE true)');
SELECT segment.create_trait('bad', 'sum(amont)');
SELECT pg_temp.try($$SELECT segment.create_trait('bad', 'amount')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('bad', 'sum(amount) + amount')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('bad', 'sum(random())')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('bad', 'sum(amount) OVER ()')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('bad', 'count(*) FILTER (WHERE country = ''ZA'')')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('bad', '(SELECT count(*) FROM shop_events)')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('bad', 'count(*); DROP TABLE shop_events')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('purchases', 'count(*)')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('country', 'count(*)')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('Bad Name', 'count(*)')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('bad', NULL)$$);
SELECT pg_temp.try($$SELECT segment.create('bad', 'no_such_trait > 1')$$);
SELECT pg_temp.try($$SELECT segment.drop_trait('purchases_30d')$$);
SELECT pg_temp.try($$SELECT segment.drop_trait('no_such_trait')$$);
SELECT pg_temp.try($$SELECT segment.create_trait('bad', 'count(*)', events => 'shop_customers')$$);
CREATE TABLE shop_visits (customer_id integer NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
SELECT pg_temp.try($$SELECT segment.track_events('shop_visits', 'customer_id', 'at')$$);
DROP TABLE shop_visits;
-- the reference time is a fixed time, set by a superuser
SET segment.reference_time = 'today';
-- nothing was created
SELECT count(*) AS traits FROM segment.trait_definitions;

--
-- Dropping: a trait no rule reads goes, and its column leaves the view
--
SELECT segment.drop_trait('kinds');
SELECT count(*) AS columns FROM pg_attribute
WHERE attrelid = 'segment.traits'::regclass AND attnum > 0;
-- an event table read by traits cannot be dropped or untracked
SELECT pg_temp.try('DROP TABLE shop_events');
SELECT pg_temp.try($$SELECT segment.untrack_events('shop_events')$$);

DROP TABLE shop_customers, shop_events CASCADE;
DROP EXTENSION segment;
CREATE EXTENSION segment;
