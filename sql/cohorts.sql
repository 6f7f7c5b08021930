--
-- Cohorts: one segment per period of a customer's first event of a kind,
-- kept current as events arrive, and the retention matrix.
--
-- doc/behaviour.md shows these examples with their output: change an
-- example in both places.
--
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET segment.reference_time = '2026-04-15 12:00+00';
\getenv abs_srcdir PG_ABS_SRCDIR
\set try_sql :abs_srcdir '/test/helpers/try.sql'
\i :try_sql

-- Period labels and distances, in UTC
SELECT p, segment.period_label(timestamptz '2026-03-31 23:30+00', p) AS label,
       segment.periods_between(timestamptz '2025-12-31 10:00+00', timestamptz '2026-03-31 23:30+00', p) AS since
FROM unnest(ARRAY['day', 'week', 'month', 'quarter', 'year']) p;
-- a time zone does not move the label
SET TimeZone = 'Pacific/Auckland';
SELECT segment.period_label(timestamptz '2026-03-31 23:30+00', 'day');
SET TimeZone = 'UTC';
-- ISO weeks: 2027-01-01 is in week 53 of 2026
SELECT segment.period_label(date '2027-01-01', 'week'),
       segment.periods_between(date '2026-12-28', date '2027-01-04', 'week');

CREATE TABLE app_users (id bigint PRIMARY KEY, plan text NOT NULL);
INSERT INTO app_users SELECT g, CASE WHEN g % 2 = 0 THEN 'pro' ELSE 'free' END
FROM generate_series(1, 8) g;
CREATE TABLE app_events (
	user_id bigint NOT NULL,
	at timestamptz NOT NULL,
	kind text NOT NULL
);
CREATE INDEX ON app_events (user_id, at);
INSERT INTO app_events VALUES
	(1, '2026-01-05', 'signup'), (1, '2026-02-10', 'login'), (1, '2026-03-10', 'login'),
	(2, '2026-01-20', 'signup'), (2, '2026-03-01', 'login'),
	(3, '2026-02-03', 'signup'), (3, '2026-02-20', 'login'), (3, '2026-03-20', 'login'),
	(3, '2026-04-02', 'login'),
	(4, '2026-02-14', 'signup'),
	(5, '2026-03-01', 'signup'), (5, '2026-04-01', 'login'),
	-- a login without a signup puts a user in no cohort
	(6, '2026-03-05', 'login');
SELECT segment.track_customers('app_users', 'id');
SELECT segment.track_events('app_events', 'user_id', 'at', kind => 'kind');

SELECT * FROM segment.create_cohorts('signup', 'signup', 'month');
SELECT name, family, kind, rule, size FROM segment.summary ORDER BY name;
SELECT name, kind, description FROM segment.families;
SELECT * FROM segment.cohort_sets;

-- The retention matrix: of each cohort, how many were active (had any
-- event) in each month since, up to the reference time
SELECT * FROM segment.retention ORDER BY cohort, periods_since;

-- A cohort is a segment like any other
SELECT segment.create('pro:all', $$plan = 'pro'$$);
SELECT segment.create('pro_from_january', $$plan = 'pro' AND in_segment('signup:2026-01')$$);
SELECT segment.members('pro_from_january');

-- A signup in a new month makes that month's cohort when it commits
INSERT INTO app_events VALUES (7, '2026-04-09', 'signup'), (8, '2026-04-10', 'signup');
SELECT name, size FROM segment.summary WHERE family = 'signup' ORDER BY name;
-- an earlier signup moves a user to an earlier cohort
INSERT INTO app_events VALUES (2, '2025-12-24', 'signup');
SELECT segment.of(2);
SELECT segment.members('pro_from_january');
-- a deleted signup moves the user to the next one, or out of every cohort
DELETE FROM app_events WHERE user_id = 2 AND at = '2025-12-24';
DELETE FROM app_events WHERE user_id = 4;
SELECT name, size FROM segment.summary WHERE family = 'signup' ORDER BY name;
SELECT segment.members('pro_from_january');
-- a cohort that lost its last customer stays, empty
SELECT segment.members('signup:2025-12');
-- the segment of a new period is made when the transaction commits: until
-- then its customers are in no cohort of the set; rolled back, it is not
-- made at all
BEGIN;
INSERT INTO app_events VALUES (6, '2026-05-01', 'signup');
SELECT segment.of(6);
ROLLBACK;
SELECT count(*) FROM segment.summary WHERE name = 'signup:2026-05';
SELECT segment, customer_id, change FROM segment.history
WHERE segment LIKE 'signup:%' ORDER BY at, segment, customer_id, change;
SELECT count(*) AS differences FROM segment.verify();

-- Other periods: a weekly set of first logins, side by side
SELECT * FROM segment.create_cohorts('first_login', 'login', 'week');
SELECT * FROM segment.retention WHERE cohorts = 'first_login' AND periods_since <= 2
ORDER BY cohort, periods_since;

-- refresh and verify work on a whole cohort set
SELECT * FROM segment.refresh('signup');
SELECT count(*) AS differences FROM segment.verify();

--
-- Errors
--
SELECT segment.create_cohorts('bad', 'signup', 'fortnight');
SELECT pg_temp.try($$SELECT segment.create_cohorts('bad', NULL, 'month')$$);
SELECT pg_temp.try($$SELECT segment.create_cohorts('signup', 'signup', 'month')$$);
SELECT pg_temp.try($$SELECT segment.create_cohorts('pro_from_january', 'signup', 'month')$$);
SELECT pg_temp.try($$SELECT segment.create_cohorts(' ', 'signup', 'month')$$);
SELECT pg_temp.try($$SELECT segment.create_cohorts('pro', 'signup', 'month')$$);
SELECT pg_temp.try($$SELECT segment.create_cohorts(repeat('x', 49), 'signup', 'month')$$);
SELECT pg_temp.try($$SELECT segment.create('signup:2026-06', 'true')$$);
SELECT pg_temp.try($$SELECT segment.drop('signup:2026-01')$$);
CREATE TABLE plain_events (user_id bigint NOT NULL, at timestamptz NOT NULL);
CREATE INDEX ON plain_events (user_id, at);
SELECT segment.track_events('plain_events', 'user_id', 'at');
SELECT pg_temp.try($$SELECT segment.create_cohorts('bad', 'signup', 'month')$$);
SELECT pg_temp.try($$SELECT segment.create_cohorts('bad', 'signup', 'month', events => 'plain_events')$$);
SELECT segment.untrack_events('plain_events');
DROP TABLE plain_events;
SELECT count(*) AS families FROM segment.families;

-- Dropping a cohort set drops its segments, after the rules that read them
SELECT pg_temp.try($$SELECT segment.drop('signup')$$);
SELECT segment.drop('pro_from_january');
SELECT segment.drop('pro:all');
SELECT segment.drop('signup');
SELECT name FROM segment.summary ORDER BY name;

DROP TABLE app_users, app_events;
DROP EXTENSION segment;
CREATE EXTENSION segment;
