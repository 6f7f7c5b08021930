--
-- Live segments: a tracked customer table, rule and static segments kept
-- current by triggers in the same transaction, their views, history and
-- notifications, every error, and who may do what.
--
-- doc/live-segments.md shows these examples with their output: change an
-- example in both places.
--
-- Error context lines name internal functions and their line numbers.
\set SHOW_CONTEXT never
\getenv abs_srcdir PG_ABS_SRCDIR
\set try_sql :abs_srcdir '/test/helpers/try.sql'
\i :try_sql
-- Roles for the rights checks at the end.  Using the API needs USAGE on
-- schema segment, which a superuser grants.
CREATE ROLE regress_live_marketer;
CREATE ROLE regress_live_analyst;
CREATE ROLE regress_live_app;
GRANT USAGE ON SCHEMA segment
	TO regress_live_marketer, regress_live_analyst, regress_live_app;
--
-- Nothing is tracked yet
--
SELECT pg_temp.try($$SELECT segment.create('early', 'true')$$);
SELECT pg_temp.try($$SELECT segment.members('early')$$);
--
-- track_customers
--
CREATE TABLE live_customers (
	id bigint PRIMARY KEY,
	name text NOT NULL,
	country text NOT NULL,
	plan text NOT NULL,
	spend numeric NOT NULL DEFAULT 0,
	note text
);
INSERT INTO live_customers VALUES
	(1, 'Ann', 'ZA', 'pro', 1200, NULL),
	(2, 'Ben', 'ZA', 'free', 0, NULL),
	(3, 'Cai', 'US', 'pro', 300, NULL),
	(4, 'Dee', 'DE', 'free', 40, NULL),
	(5, 'Eli', 'ZA', 'pro', 90, NULL),
	(6, 'Fay', 'US', 'free', 0, NULL),
	(70000, 'Gus', 'ZA', 'pro', 5000, NULL);
GRANT SELECT ON live_customers TO regress_live_marketer;
GRANT INSERT ON live_customers TO regress_live_app;
-- tables that cannot be tracked
CREATE VIEW live_view AS SELECT * FROM live_customers;
CREATE TABLE live_text_key (id text PRIMARY KEY);
CREATE TABLE live_nullable (id bigint UNIQUE);
CREATE TABLE live_not_unique (id bigint NOT NULL);
CREATE TABLE live_pair_key (id bigint NOT NULL, region integer NOT NULL, UNIQUE (id, region));
CREATE TABLE live_negative (id integer PRIMARY KEY);
INSERT INTO live_negative VALUES (1), (-7);
SELECT call, pg_temp.try(call) AS result
FROM (VALUES
	($$SELECT segment.track_customers('live_missing', 'id')$$),
	($$SELECT segment.track_customers('live_view', 'id')$$),
	($$SELECT segment.track_customers('live_customers', 'customer_id')$$),
	($$SELECT segment.track_customers('live_customers', 'name')$$),
	($$SELECT segment.track_customers('live_text_key', 'id')$$),
	($$SELECT segment.track_customers('live_nullable', 'id')$$),
	($$SELECT segment.track_customers('live_not_unique', 'id')$$),
	($$SELECT segment.track_customers('live_pair_key', 'id')$$),
	($$SELECT segment.track_customers('live_negative', 'id')$$)
) AS calls(call);
-- the hint says how to fix a key without a unique index
SELECT segment.track_customers('live_not_unique', 'id');
-- only the table's owner may track it
SET ROLE regress_live_marketer;
SELECT pg_temp.try($$SELECT segment.track_customers('live_customers', 'id')$$);
RESET ROLE;
DROP VIEW live_view;
DROP TABLE live_text_key, live_nullable, live_not_unique, live_pair_key, live_negative;
SELECT segment.track_customers('live_customers', 'id');
SELECT relid, key_column, watched_columns FROM segment.customer_source;
-- one customer table per database
CREATE TABLE live_other (id bigint PRIMARY KEY);
SELECT segment.track_customers('live_other', 'id');
DROP TABLE live_other;
--
-- create: rule segments
--
SELECT segment.create('za', $$country = 'ZA'$$, 'customers in South Africa');
SELECT segment.create('pro', $$plan = 'pro'$$);
SELECT segment.create('big_spenders', $$spend >= 1000$$);
SELECT segment.create('za_pro', $$in_segment('za') AND in_segment('pro')$$);
SELECT segment.members('za') AS za, segment.members('pro') AS pro,
       segment.members('big_spenders') AS big_spenders, segment.members('za_pro') AS za_pro;
SELECT name, kind, rule, columns, depends_on, depth, description
FROM segment.definitions ORDER BY depth, name;
SELECT watched_columns FROM segment.customer_source;
--
-- create: errors point into the rule, and nothing is stored
--
SELECT segment.create('bad', $$contry = 'ZA'$$);
SELECT segment.create('bad', $$spend > 100 AND
  plan = 42$$);
SELECT segment.create('bad', $$spend * 2$$);
SELECT segment.create('bad', $$in_segment(country)$$);
SELECT segment.create('bad', $$spend > 100 AND$$);
SELECT call, pg_temp.try(call) AS result
FROM (VALUES
	($$SELECT segment.create('bad', 'random() < 0.5')$$),
	($$SELECT segment.create('bad', 'spend > (SELECT avg(spend) FROM public.live_customers)')$$),
	($$SELECT segment.create('bad', 'count(*) > 1')$$),
	($$SELECT segment.create('bad', 'rank() OVER () <= 3')$$),
	($$SELECT segment.create('bad', 'generate_series(1, 2) > 1')$$),
	($$SELECT segment.create('bad', 'ctid IS NOT NULL')$$),
	($$SELECT segment.create('bad', 'live_customers IS NOT NULL')$$),
	($$SELECT segment.create('bad', 'true) UNION SELECT (false')$$),
	($$SELECT segment.create('bad', 'true; DROP TABLE live_customers')$$),
	($$SELECT segment.create('bad', 'in_segment(''nope'')')$$),
	($$SELECT segment.create('bad', 'in_segment(''bad'')')$$),
	($$SELECT segment.create('bad', '')$$),
	($$SELECT segment.create('bad', '  ')$$),
	($$SELECT segment.create('za', 'true')$$),
	($$SELECT segment.create('', 'true')$$),
	($$SELECT segment.create(' ', 'true')$$)
) AS calls(call);
SELECT count(*) AS stored FROM segment.definitions WHERE name IN ('bad', '', ' ');
--
-- create_static: uploaded lists
--
SELECT segment.create_static('newsletter', '{2,3,6}');
SELECT segment.members('newsletter');
SELECT pg_temp.try($$SELECT segment.create_static('newsletter', '{1}')$$);
SELECT pg_temp.try($$SELECT segment.create_static('nobody', NULL)$$);
--
-- members, of, in_segment
--
SELECT c.id, c.name
FROM live_customers c
WHERE c.id <@ segment.members('za_pro')
ORDER BY c.id;
SELECT segment.of(1) AS ann, segment.of(2) AS ben, segment.of(70000) AS gus,
       segment.of(999) AS nobody;
SELECT segment.in_segment('za', 1) AS ann_in_za, segment.in_segment('za', 3) AS cai_in_za;
SELECT pg_temp.try($$SELECT segment.members('nope')$$);
SELECT pg_temp.try($$SELECT segment.of(-1)$$);
SELECT pg_temp.try($$SELECT segment.in_segment('za')$$);
--
-- the views
--
SELECT * FROM segment.membership WHERE segment = 'za_pro' ORDER BY customer_id;
SELECT segment, count(*) AS members FROM segment.membership GROUP BY segment ORDER BY segment;
-- a filter on segment reads one definition and unnests that segment only
EXPLAIN (COSTS OFF) SELECT customer_id FROM segment.membership WHERE segment = 'za';
SELECT name, kind, rule, description, size, refreshed_at IS NOT NULL AS refreshed,
       entered_1d, exited_1d
FROM segment.summary ORDER BY name;
--
-- Membership follows the data, in the same statement
--
-- a new customer joins every segment whose rule she meets
INSERT INTO live_customers VALUES (7, 'Gia', 'ZA', 'pro', 2500, NULL);
SELECT segment.of(7);
-- Ann leaves pro, and so za_pro, in one statement
UPDATE live_customers SET plan = 'free' WHERE id = 1;
SELECT segment.of(1);
-- an UPDATE of a column that no rule reads changes nothing and records nothing
SELECT count(*) AS changes_before FROM segment.history \gset
UPDATE live_customers SET note = 'called on Monday';
SELECT count(*) - :changes_before AS new_changes FROM segment.history;
-- a new key is a new customer: Cai (3) becomes 8 and leaves the static list
UPDATE live_customers SET id = 8 WHERE id = 3;
SELECT segment.of(3) AS old_key, segment.of(8) AS new_key;
-- a deleted customer leaves every segment, rule and static
DELETE FROM live_customers WHERE id = 2;
SELECT segment.of(2) AS ben, segment.members('za') AS za, segment.members('newsletter') AS newsletter;
-- keys must fit the segment type
INSERT INTO live_customers VALUES (4294967296, 'Hal', 'ZA', 'pro', 0, NULL);
INSERT INTO live_customers VALUES (-1, 'Hal', 'ZA', 'pro', 0, NULL);
INSERT INTO live_customers VALUES (4294967295, 'Max', 'DE', 'pro', 10, NULL);
SELECT segment.of(4294967295);
DELETE FROM live_customers WHERE id = 4294967295;
--
-- Transactions: a rollback leaves no trace in members or history
--
BEGIN;
INSERT INTO live_customers VALUES (9, 'Ivy', 'ZA', 'free', 0, NULL);
SAVEPOINT before_jon;
INSERT INTO live_customers VALUES (10, 'Jon', 'ZA', 'free', 0, NULL);
SELECT segment.members('za');
ROLLBACK TO SAVEPOINT before_jon;
SELECT segment.members('za');
COMMIT;
SELECT segment.members('za');
BEGIN;
DELETE FROM live_customers WHERE id = 9;
SELECT segment.of(9);
ROLLBACK;
SELECT segment.of(9);
SELECT segment, customer_id, change FROM segment.history
WHERE customer_id IN (9, 10) ORDER BY customer_id, at, segment, change;
--
-- history
--
SELECT segment, customer_id, change FROM segment.history
WHERE segment IN ('pro', 'newsletter') ORDER BY customer_id, at, segment, change;
SELECT count(*) FILTER (WHERE at <= now()) = count(*) AS all_in_the_past FROM segment.history;
--
-- NOTIFY segment_changes: one JSON summary per committed transaction
--
CREATE EXTENSION dblink;
SELECT dblink_connect('listener',
	format('dbname=%s port=%s host=%s', current_database(), current_setting('port'),
	       split_part(current_setting('unix_socket_directories'), ',', 1)));
SELECT dblink_exec('listener', 'LISTEN segment_changes');
-- what the listener has received by now
CREATE FUNCTION pg_temp.notifications() RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM * FROM dblink('listener', 'SELECT 1') AS t(one integer);
	RETURN QUERY SELECT n.notify_name || ': ' || n.extra FROM dblink_get_notify('listener') n;
END
$$;
INSERT INTO live_customers VALUES (11, 'Kim', 'ZA', 'pro', 1500, NULL);
BEGIN;
UPDATE live_customers SET plan = 'pro' WHERE id = 9;
DELETE FROM live_customers WHERE id = 5;
COMMIT;
BEGIN;
DELETE FROM live_customers WHERE id = 11;
ROLLBACK;
UPDATE live_customers SET note = 'no segment changes';
SELECT * FROM pg_temp.notifications();
SELECT dblink_disconnect('listener');
DROP EXTENSION dblink;
--
-- verify and refresh
--
-- A rule that calls a function reading another table goes stale when that
-- table changes: verify finds the differences and refresh fixes them.
CREATE TABLE live_settings (campaign_country text NOT NULL);
INSERT INTO live_settings VALUES ('ZA');
CREATE FUNCTION live_campaign_country() RETURNS text
LANGUAGE sql STABLE AS $$SELECT campaign_country FROM public.live_settings$$;
SELECT segment.create('campaign', $$country = public.live_campaign_country()$$);
SELECT segment.members('campaign');
UPDATE live_settings SET campaign_country = 'US';
SELECT * FROM segment.verify('campaign') ORDER BY customer_id;
SELECT * FROM segment.refresh('campaign');
SELECT segment.members('campaign');
SELECT * FROM segment.verify();
SELECT * FROM segment.refresh() ORDER BY segment;
SELECT pg_temp.try($$SELECT * FROM segment.verify('nope')$$);
SELECT pg_temp.try($$SELECT * FROM segment.refresh('nope')$$);
--
-- track_events: a change to an event table re-evaluates the customers whose
-- events changed
--
CREATE TABLE live_orders (
	order_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id bigint NOT NULL,
	ordered_at timestamptz NOT NULL,
	amount numeric NOT NULL,
	status text NOT NULL DEFAULT 'paid'
);
CREATE FUNCTION live_paid_orders(customer bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
	SELECT count(*) FROM public.live_orders o
	WHERE o.customer_id = customer AND o.status = 'paid'
$$;
SELECT segment.track_events('live_orders', 'customer_id', 'ordered_at', 'amount', 'status');
SELECT relid, customer_column, at_column, amount_column, kind_column FROM segment.event_sources;
SELECT segment.create('repeat_buyers', $$public.live_paid_orders(id) >= 2$$);
INSERT INTO live_orders (customer_id, ordered_at, amount) VALUES
	(7, '2025-12-01 10:00+00', 100), (7, '2025-12-15 10:00+00', 80), (8, '2025-12-20 10:00+00', 30);
SELECT segment.members('repeat_buyers');
INSERT INTO live_orders (customer_id, ordered_at, amount) VALUES (8, '2025-12-28 10:00+00', 45);
SELECT segment.members('repeat_buyers');
UPDATE live_orders SET status = 'refunded' WHERE customer_id = 7 AND amount = 80;
SELECT segment.members('repeat_buyers');
TRUNCATE live_orders;
SELECT segment.members('repeat_buyers');
-- errors
CREATE VIEW live_orders_view AS SELECT * FROM live_orders;
CREATE TABLE live_bad_orders (customer_id text, ordered_at text, amount text);
CREATE TABLE live_negative_orders (customer_id integer, ordered_at date);
INSERT INTO live_negative_orders VALUES (-3, '2025-12-01');
SELECT call, pg_temp.try(call) AS result
FROM (VALUES
	($$SELECT segment.track_events('live_orders_view', 'customer_id', 'ordered_at')$$),
	($$SELECT segment.track_events('live_orders', 'customer_id', 'ordered_at')$$),
	($$SELECT segment.track_events('live_customers', 'id', 'id')$$),
	($$SELECT segment.track_events('live_bad_orders', 'customer', 'ordered_at')$$),
	($$SELECT segment.track_events('live_bad_orders', 'customer_id', 'ordered_at')$$),
	($$SELECT segment.track_events('live_negative_orders', 'customer_id', 'customer_id')$$),
	($$SELECT segment.track_events('live_negative_orders', 'customer_id', 'ordered_at')$$)
) AS calls(call);
SET ROLE regress_live_marketer;
SELECT pg_temp.try($$SELECT segment.track_events('live_negative_orders', 'customer_id', 'ordered_at')$$);
RESET ROLE;
DROP VIEW live_orders_view;
DROP TABLE live_bad_orders, live_negative_orders;
--
-- drop
--
SELECT segment.drop('za');
SELECT segment.drop('za_pro');
SELECT segment.drop('za');
SELECT pg_temp.try($$SELECT segment.drop('za')$$);
SELECT pg_temp.try($$SELECT segment.members('za')$$);
SELECT name FROM segment.definitions ORDER BY name;
--
-- Rights
--
-- Reading a segment needs SELECT on the customer table (or its owner's
-- rights); definitions are public, membership and history are not.
SET ROLE regress_live_analyst;
SELECT segment.members('pro');
SELECT segment.of(1) AS ann;
SELECT count(*) AS rows FROM segment.membership;
SELECT count(*) AS rows FROM segment.history;
SELECT name, size FROM segment.summary ORDER BY name;
SELECT name, rule FROM segment.definitions ORDER BY name;
SELECT call, pg_temp.try(call) AS result
FROM (VALUES
	($$SELECT segment.in_segment('pro', 1)$$),
	($$SELECT segment.drop('pro')$$),
	($$SELECT * FROM segment.refresh('pro')$$),
	($$SELECT * FROM segment.refresh()$$),
	($$SELECT * FROM segment.verify('pro')$$)
) AS calls(call);
SELECT * FROM segment.verify();
RESET ROLE;
-- with SELECT on the customer table, the marketer reads every segment
SET ROLE regress_live_marketer;
SELECT segment.members('pro');
SELECT segment.of(1) AS ann;
RESET ROLE;
-- A rule runs as its owner, whoever writes the row.  Credit bands are
-- readable by the marketer, not by the application that adds customers.
CREATE TABLE live_credit (customer_id bigint PRIMARY KEY, band text NOT NULL);
INSERT INTO live_credit VALUES (1, 'A'), (4, 'B'), (8, 'A'), (12, 'A');
GRANT SELECT ON live_credit TO regress_live_marketer;
CREATE FUNCTION live_credit_band(customer bigint) RETURNS text
LANGUAGE sql STABLE AS $$SELECT band FROM public.live_credit WHERE customer_id = customer$$;
-- (COMMIT runs after RESET ROLE: the NOTIFY sent at commit reads
-- segment.flips as the current role, which these roles may not yet do)
BEGIN;
SET ROLE regress_live_marketer;
SELECT segment.create('good_credit', $$public.live_credit_band(id) = 'A'$$);
RESET ROLE;
COMMIT;
SELECT name, owner FROM segment.definitions WHERE name = 'good_credit';
SELECT segment.members('good_credit');
BEGIN;
SET ROLE regress_live_app;
INSERT INTO live_customers VALUES (12, 'Lee', 'DE', 'free', 0, NULL);
-- the application itself may not read credit bands
SELECT pg_temp.try($$SELECT public.live_credit_band(12)$$);
RESET ROLE;
COMMIT;
SELECT segment.of(12);
-- when the owner loses the right, writes that need the rule fail, even a
-- superuser's
REVOKE SELECT ON live_credit FROM regress_live_marketer;
INSERT INTO live_customers VALUES (13, 'Mia', 'DE', 'free', 0, NULL);
GRANT SELECT ON live_credit TO regress_live_marketer;
INSERT INTO live_customers VALUES (13, 'Mia', 'DE', 'free', 0, NULL);
-- the owner verifies and drops its own segments only
SET ROLE regress_live_marketer;
SELECT * FROM segment.verify();
SELECT pg_temp.try($$SELECT segment.drop('pro')$$);
SELECT segment.drop('good_credit');
RESET ROLE;
-- without SELECT on the customer table no segment can be defined
SET ROLE regress_live_analyst;
SELECT segment.create('mine', 'true');
RESET ROLE;
--
-- TRUNCATE empties every segment
--
TRUNCATE live_customers;
SELECT name, size FROM segment.summary ORDER BY name;
--
-- Clean up
--
SELECT segment.drop('big_spenders'), segment.drop('campaign'), segment.drop('newsletter'),
       segment.drop('pro'), segment.drop('repeat_buyers');
-- dropping a tracked event table stops tracking it
DROP TABLE live_orders;
SELECT count(*) AS tracked_event_tables FROM segment.event_sources;
-- dropping the tracked table stops tracking it
DROP TABLE live_customers;
SELECT count(*) AS tracked FROM segment.customer_source;
DROP TABLE live_settings, live_credit;
DROP FUNCTION live_campaign_country(), live_credit_band(bigint), live_paid_orders(bigint);
REVOKE USAGE ON SCHEMA segment
	FROM regress_live_marketer, regress_live_analyst, regress_live_app;
DROP ROLE regress_live_marketer, regress_live_analyst, regress_live_app;
-- segment.flips keeps the history of dropped segments: start the next test
-- from a fresh extension
DROP EXTENSION segment;
CREATE EXTENSION segment;
