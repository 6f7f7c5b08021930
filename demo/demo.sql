-- A tour of the segment type and of live segments, on sample data generated here.
-- Run by tools/demo in a throwaway database that has the extension:
--   CREATE EXTENSION segment;

\pset footer off

\echo
\echo '1. Sample data: 100,000 customers'
\echo '   Deterministic: every column is a hash of the id, so each run is the same.'

CREATE TABLE customers (
	id         bigint PRIMARY KEY,
	country    text NOT NULL,
	birth_year int NOT NULL,
	plan       text NOT NULL,
	signup     date NOT NULL
);

INSERT INTO customers
SELECT g,
	(ARRAY['ZA', 'US', 'DE', 'FR', 'BR', 'IN', 'GB', 'NG'])[1 + (hashint4extended(g, 1) & 7)],
	1950 + (hashint4extended(g, 2) & 1048575) % 55,
	CASE
		WHEN (hashint4extended(g, 3) & 1048575) % 100 < 60 THEN 'free'
		WHEN (hashint4extended(g, 3) & 1048575) % 100 < 85 THEN 'basic'
		WHEN (hashint4extended(g, 3) & 1048575) % 100 < 97 THEN 'pro'
		ELSE 'enterprise'
	END,
	date '2020-01-01' + ((hashint4extended(g, 4) & 1048575) % 1461)::int
FROM generate_series(1, 100000) AS g;

SELECT * FROM customers ORDER BY id LIMIT 5;

\echo
\echo '2. Build segments: one bitmap of customer ids per country, plan and cohort'

CREATE TABLE segments (
	name    text PRIMARY KEY,
	members segment NOT NULL
);

INSERT INTO segments
SELECT 'country:' || country, segment_agg(id) FROM customers GROUP BY country
UNION ALL
SELECT 'plan:' || plan, segment_agg(id) FROM customers GROUP BY plan
UNION ALL
SELECT 'millennials', segment_agg(id) FROM customers WHERE birth_year BETWEEN 1981 AND 1996
UNION ALL
SELECT 'signed_up_2023', segment_agg(id) FROM customers
WHERE signup >= date '2023-01-01' AND signup < date '2024-01-01'
UNION ALL
SELECT 'paying', segment_agg(id) FROM customers WHERE plan <> 'free';

-- A helper to name segments in the queries below.
CREATE FUNCTION seg(text) RETURNS segment
	LANGUAGE sql STABLE
	AS $$ SELECT members FROM segments WHERE name = $1 $$;

-- At most 8 kB per 65,536 possible ids, however many are members;
-- the same members as a bigint[] take 8 bytes each.
SELECT name, cardinality(members) AS customers, pg_column_size(members) AS bytes,
	pg_column_size(to_array(members)) AS bytes_as_bigint_array
FROM segments ORDER BY name;

\echo
\echo '3. Text form: sorted, ranges printed compactly, round trip exact'

SELECT '{1..1000,2000}'::segment AS s, cardinality('{1..1000,2000}'::segment) AS n;
SELECT '{5,3,1,2,4,9}'::segment AS sorted_and_merged;
SELECT segment(ARRAY[10, 11, 12, 20]::bigint[]) AS from_array,
	to_array('{7..10}'::segment) AS to_array;
SELECT '{}'::segment AS empty, cardinality('{}'::segment) AS n;

\echo
\echo '4. Set algebra: & intersection, | union, - difference, # symmetric difference'

SELECT cardinality(seg('country:ZA') & seg('millennials')) AS za_millennials,
	cardinality(seg('plan:pro') | seg('plan:enterprise')) AS pro_or_enterprise,
	cardinality(seg('country:ZA') - seg('plan:free')) AS za_not_free,
	cardinality(seg('country:ZA') # seg('millennials')) AS za_xor_millennials;

-- The same counts from the rows, for comparison.
SELECT count(*) FILTER (WHERE country = 'ZA' AND birth_year BETWEEN 1981 AND 1996) AS za_millennials,
	count(*) FILTER (WHERE plan IN ('pro', 'enterprise')) AS pro_or_enterprise,
	count(*) FILTER (WHERE country = 'ZA' AND plan <> 'free') AS za_not_free
FROM customers;

-- Counts of a combination without building it.
SELECT intersection_cardinality(seg('country:ZA'), seg('paying')) AS za_and_paying,
	union_cardinality(seg('country:ZA'), seg('country:NG')) AS za_or_ng,
	difference_cardinality(seg('paying'), seg('plan:basic')) AS paying_not_basic;

\echo
\echo '5. Overlap between segments: Jaccard index'

SELECT a.name AS a, b.name AS b,
	intersection_cardinality(a.members, b.members) AS both,
	round(jaccard(a.members, b.members)::numeric, 4) AS jaccard
FROM segments a
JOIN segments b ON a.name < b.name
ORDER BY jaccard(a.members, b.members) DESC, a.name, b.name
LIMIT 5;

\echo
\echo '6. Membership: key <@ segment, segment @> key, segment <@ segment'

SELECT 42 <@ seg('country:ZA') AS is_42_in_za,
	(SELECT country FROM customers WHERE id = 42) AS country_of_42,
	seg('paying') @> 42::bigint AS is_42_paying,
	seg('plan:pro') <@ seg('paying') AS pro_within_paying,
	seg('country:ZA') && seg('country:NG') AS za_overlaps_ng;

-- Filter rows by a stored segment.
SELECT c.*
FROM customers c
WHERE c.id <@ (SELECT members FROM segments WHERE name = 'plan:enterprise')
	AND c.country = 'ZA'
ORDER BY c.id
LIMIT 5;

SELECT count(*) AS enterprise_customers
FROM customers c
WHERE c.id <@ (SELECT members FROM segments WHERE name = 'plan:enterprise');

\echo
\echo '7. Back to rows: unnest, and joins on it'

SELECT id FROM unnest(seg('plan:enterprise') & seg('country:ZA') & seg('millennials')) AS id
LIMIT 5;

SELECT c.country, count(*) AS enterprise_customers
FROM unnest(seg('plan:enterprise')) AS m(id)
JOIN customers c USING (id)
GROUP BY c.country
ORDER BY enterprise_customers DESC, c.country;

\echo
\echo '8. Order statistics and slices'

SELECT min_member(seg('plan:enterprise')) AS first,
	max_member(seg('plan:enterprise')) AS last,
	nth_member(seg('plan:enterprise'), 10) AS tenth,
	member_rank(seg('plan:enterprise'), 50000) AS members_up_to_50000;

SELECT to_array(slice(seg('plan:enterprise'), 1, 1000)) AS enterprise_ids_up_to_1000;

\echo
\echo '9. Deterministic samples: the same seed gives the same sample'

SELECT to_array(sample(seg('country:ZA'), 10, 7)) AS ten_from_za;
SELECT sample(seg('country:ZA'), 10, 7) = sample(seg('country:ZA'), 10, 7) AS same_seed_same_sample,
	sample(seg('country:ZA'), 10, 7) = sample(seg('country:ZA'), 10, 8) AS other_seed_same_sample,
	sample(seg('country:ZA'), 10, 7) <@ seg('country:ZA') AS sample_within_segment,
	cardinality(sample_fraction(seg('country:ZA'), 0.01, 7)) AS one_percent;

\echo
\echo '10. Aggregates over segments: union_agg and intersect_agg'

SELECT cardinality(union_agg(members)) AS all_countries
FROM segments WHERE name LIKE 'country:%';

SELECT cardinality(intersect_agg(members)) AS za_paying_millennials
FROM segments WHERE name IN ('country:ZA', 'paying', 'millennials');

-- Monthly signup cohorts, rolled up to quarters.
CREATE TABLE cohorts AS
SELECT date_trunc('month', signup)::date AS month, segment_agg(id) AS members
FROM customers GROUP BY 1;

SELECT date_trunc('quarter', month)::date AS quarter,
	cardinality(union_agg(members)) AS signups,
	cardinality(union_agg(members) & seg('paying')) AS of_which_paying
FROM cohorts
WHERE month >= date '2023-01-01' AND month < date '2024-01-01'
GROUP BY 1 ORDER BY 1;

\echo
\echo '11. Segments as values: GROUP BY, DISTINCT and = work on them'

INSERT INTO segments VALUES
	('paying (by algebra)', seg('plan:basic') | seg('plan:pro') | seg('plan:enterprise'));

-- Two definitions, one set of customers.
SELECT array_agg(name ORDER BY name) AS same_members, cardinality(members) AS customers
FROM segments
GROUP BY members
HAVING count(*) > 1;

SELECT count(*) AS segments, count(DISTINCT members) AS distinct_member_sets
FROM segments;

\echo
\echo '12. Live segments: rules kept current by triggers, in the same transaction'

CREATE TABLE events (
	customer_id bigint NOT NULL,
	at          timestamptz NOT NULL,
	amount      numeric,
	kind        text NOT NULL
);
CREATE INDEX ON events (customer_id, at);
-- 2024: a signup per customer, then purchases (with an amount) and logins;
-- every tenth customer buys often.
INSERT INTO events
SELECT g, timestamptz '2024-01-01' + ((hashint4extended(g, 8) & 1048575) % 300) * interval '1 day',
	NULL, 'signup'
FROM generate_series(1, 100000) AS g;
INSERT INTO events
SELECT c, s.at + ((hashint4extended(g, 6) & 1048575) % 90) * interval '1 day'
	+ ((hashint4extended(g, 9) & 1048575) % 3) * interval '30 days',
	-- each customer has a typical order value, and orders vary around it
	CASE WHEN g % 3 = 0 THEN NULL
	     ELSE round((5 + (hashint4extended(k.c::int, 10) & 1048575) % 120)
	                * (0.5 + ((hashint4extended(g, 7) & 1048575) % 1000) / 1000.0), 2) END,
	CASE WHEN g % 3 = 0 THEN 'login' ELSE 'purchase' END
FROM generate_series(1, 300000) AS g,
	LATERAL (SELECT CASE WHEN g % 4 = 0 THEN 1 + (hashint4extended(g, 5) & 1048575) % 10000 * 10
	                     ELSE 1 + (hashint4extended(g, 5) & 1048575) % 100000 END AS c) k,
	LATERAL (SELECT at FROM events WHERE customer_id = k.c AND kind = 'signup') s;

-- What now() means in traits and rules: the end of 2024, so that every run
-- gives the same answers.
SET segment.reference_time = '2024-12-31 12:00+00';

SELECT segment.track_customers('customers', 'id');
SELECT segment.track_events('events', 'customer_id', 'at', 'amount', 'kind');

SELECT segment.create('za_millennials', $$country = 'ZA' AND birth_year BETWEEN 1981 AND 1996$$,
	'South African millennials');
SELECT segment.create('paying_plan', $$plan <> 'free'$$);
SELECT segment.create('za_millennials_paying', $$in_segment('za_millennials') AND in_segment('paying_plan')$$);

-- A rule is checked by PostgreSQL's own parser: the error points into the rule.
\set ON_ERROR_STOP 0
SELECT segment.create('typo', $$contry = 'ZA'$$);
\set ON_ERROR_STOP 1

SELECT name, size, rule FROM segment.summary ORDER BY name;

-- A free customer from the US moves to South Africa and upgrades:
-- membership follows at once.
SELECT min(id) AS mover FROM customers
WHERE country = 'US' AND plan = 'free' AND birth_year BETWEEN 1981 AND 1996 \gset
SELECT id, country, birth_year, plan FROM customers WHERE id = :mover;
SELECT segment.of(:mover);
UPDATE customers SET country = 'ZA', plan = 'pro' WHERE id = :mover;
SELECT segment.of(:mover);

-- A rolled-back change leaves no trace.
BEGIN;
DELETE FROM customers WHERE id <= 1000;
SELECT name, size FROM segment.summary ORDER BY name;
ROLLBACK;
SELECT name, size FROM segment.summary ORDER BY name;

-- Every change is recorded.
SELECT segment, customer_id, change FROM segment.history
WHERE customer_id = :mover ORDER BY at, segment;

-- Stored membership agrees with a fresh evaluation: no rows.
SELECT * FROM segment.verify();

-- Plain views for BI tools.
SELECT segment, count(*) FROM segment.membership
WHERE segment = 'za_millennials_paying' GROUP BY segment;

\echo
\echo '13. Behavioural segments: traits over each customer''s events'

SELECT segment.create_trait('purchases_90d',
	$$count(*) FILTER (WHERE kind = 'purchase' AND at > now() - interval '90 days')$$,
	'purchases in the last 90 days');
SELECT segment.create_trait('spend', $$sum(amount)$$, 'total spend');
SELECT segment.create_trait('last_login', $$max(at) FILTER (WHERE kind = 'login')$$);
SELECT segment.create_trait('logins_prior_90d',
	$$count(*) FILTER (WHERE kind = 'login' AND at > now() - interval '180 days'
	                   AND at <= now() - interval '90 days')$$);

-- bought at least three times in 90 days
SELECT segment.create('frequent_buyers', 'purchases_90d >= 3');
-- logged in in the previous 90 days, not since
SELECT segment.create('lapsed', $$logins_prior_90d > 0 AND (last_login IS NULL OR last_login <= now() - interval '90 days')$$);
-- paying plan, but never bought
SELECT segment.create('paying_never_bought', $$plan <> 'free' AND spend IS NULL$$);
SELECT name, size, rule FROM segment.summary
WHERE name IN ('frequent_buyers', 'lapsed', 'paying_never_bought') ORDER BY name;
SELECT * FROM segment.traits WHERE customer_id BETWEEN 1 AND 5 ORDER BY customer_id;

-- An event moves a customer, in the same transaction.
SELECT min(customer_id) AS buyer FROM segment.traits WHERE purchases_90d = 2 \gset
SELECT segment.of(:buyer);
INSERT INTO events VALUES (:buyer, '2024-12-30 10:00+00', 42, 'purchase');
SELECT segment.of(:buyer);

\echo
\echo '14. Cohorts: one segment per signup month, and the retention matrix'

SELECT * FROM segment.create_cohorts('signup', 'signup', 'month');
SELECT cohort, string_agg(to_char(share * 100, 'FM990') || '%', ' ' ORDER BY periods_since) AS "active in month 0, 1, 2, ..."
FROM segment.retention WHERE cohort <= 'signup:2024-06' GROUP BY cohort ORDER BY cohort;

\echo
\echo '15. Value: RFM cells and lifetime-value tiers'

SELECT * FROM segment.create_rfm('rfm', as_of => '2024-12-31');
SELECT r, string_agg(lpad(customers::text, 6), ' ' ORDER BY f) AS "f = 1 .. 5"
FROM segment.rfm_grid WHERE model = 'rfm' GROUP BY r ORDER BY r DESC;
SELECT * FROM segment.create_ltv('ltv', calibration_end => '2024-12-31', horizon => 52);
SELECT round((bgnbd).r::numeric, 3) AS r, round((bgnbd).alpha::numeric, 2) AS alpha,
	round((bgnbd).a::numeric, 3) AS a, round((bgnbd).b::numeric, 3) AS b,
	round((gammagamma).p::numeric, 2) AS p, round((gammagamma).q::numeric, 2) AS q,
	round((gammagamma).gamma::numeric, 2) AS gamma
FROM segment.ltv_models;
-- the best customers by predicted value, and whether RFM agrees
SELECT customer_id, round(clv::numeric, 2) AS clv, tier, r.segment AS rfm_cell
FROM segment.ltv_scores('ltv') l JOIN segment.rfm_scores('rfm') r USING (customer_id)
ORDER BY clv DESC LIMIT 5;
SELECT intersection_cardinality(segment.members('ltv:top_10%'), segment.members('rfm:champions'))
	AS top_10_pct_and_champions;

-- Everything still agrees with a fresh evaluation: no rows.
SELECT * FROM segment.verify();
