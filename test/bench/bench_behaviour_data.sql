-- bench_behaviour_data.sql: the tables, traits and segments bench_behaviour.sh
-- measures.  psql variables (set by the script with -v): customers (number
-- of customers), events (number of events), ref (the reference time, what
-- now() means in traits and rules; the database's segment.reference_time).
--
-- The customers are loaded here; the events are loaded by the COPY of
-- figure 1, from the file bench_behaviour.sh writes from the view
-- bench_behaviour_rows.  Deterministic: every value is a hash of the
-- customer key or of the event's number, with a seed per use.

\set ON_ERROR_STOP on

-- uniform in [0, 1) from a key and a seed
CREATE FUNCTION bench_u(k bigint, seed bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT (hashint8extended(k, seed) & 2147483647)::float8 / 2147483648.0
$$;

-- Customers, keys 1..:customers.
CREATE TABLE customers (
	id int PRIMARY KEY,
	country text NOT NULL,
	plan text NOT NULL,
	signup date NOT NULL,
	email_opt_in boolean NOT NULL
);
INSERT INTO customers
SELECT g,
	   (ARRAY['ZA', 'US', 'DE', 'FR', 'GB', 'BR', 'IN', 'JP', 'NG', 'KE'])[1 + floor(bench_u(g, 1) * 10)::int],
	   CASE WHEN bench_u(g, 2) < 0.70 THEN 'free' WHEN bench_u(g, 2) < 0.95 THEN 'pro' ELSE 'business' END,
	   (:'ref'::timestamptz AT TIME ZONE 'UTC')::date - floor(bench_u(g, 3) * 1000)::int,
	   bench_u(g, 4) < 0.6
  FROM generate_series(1, :customers) g;

-- The tracked event table and its untracked twin: the same columns, the
-- same indexes (the primary key and (customer_id, at), which trait
-- evaluation reads one customer through), each its own sequence.  Only the
-- first is tracked.  No foreign key to customers: it would add a row
-- trigger to both sides.
CREATE TABLE events (
	id bigserial PRIMARY KEY,
	customer_id int NOT NULL,
	at timestamptz NOT NULL,
	kind text NOT NULL,
	amount numeric(10,2)
);
CREATE INDEX events_customer_at ON events (customer_id, at);
CREATE TABLE events_plain (
	id bigserial PRIMARY KEY,
	customer_id int NOT NULL,
	at timestamptz NOT NULL,
	kind text NOT NULL,
	amount numeric(10,2)
);
CREATE INDEX events_plain_customer_at ON events_plain (customer_id, at);

-- The events, in time order (an append-only log loaded in a batch):
--   customer: skewed activity, rank = floor(customers * u^2) (with the
--     defaults the busiest customer has 3,163 events, the median one 8,
--     181 customers none), spread over the keys by a multiplicative permutation
--     (7919 is prime; customers must not be a multiple of it);
--   time: within 180 days before ref, uniform, except that 20% of the
--     customers stopped 30 to 90 days ago (their events all fall before
--     that) and 10% are new (all their events within the last 30 days);
--   kind: view 45%, login 20%, email_open 13%, add_to_cart 12%,
--     purchase 9%, refund 1%; amount for purchases (5.00 to 299.99) and
--     refunds (negative), NULL otherwise.
CREATE VIEW bench_behaviour_rows AS
SELECT customer_id, at, kind,
	   CASE kind WHEN 'purchase' THEN round((5 + 295 * bench_u(g, 15))::numeric, 2)
				 WHEN 'refund' THEN -round((5 + 95 * bench_u(g, 15))::numeric, 2) END AS amount
  FROM (SELECT g, c.customer_id,
			   :'ref'::timestamptz - make_interval(secs => 86400 * CASE
				   WHEN bench_u(c.customer_id, 12) < 0.20	-- stopped 30-90 days ago
					   THEN 30 + 60 * bench_u(c.customer_id, 13) + (150 - 60 * bench_u(c.customer_id, 13)) * bench_u(g, 14)
				   WHEN bench_u(c.customer_id, 12) < 0.30	-- new: the last 30 days
					   THEN 30 * bench_u(g, 14)
				   ELSE 180 * bench_u(g, 14) END) AS at,
			   CASE WHEN bench_u(g, 16) < 0.45 THEN 'view'
					WHEN bench_u(g, 16) < 0.65 THEN 'login'
					WHEN bench_u(g, 16) < 0.78 THEN 'email_open'
					WHEN bench_u(g, 16) < 0.90 THEN 'add_to_cart'
					WHEN bench_u(g, 16) < 0.99 THEN 'purchase'
					ELSE 'refund' END AS kind
		  FROM generate_series(1, :events) g,
			   LATERAL (SELECT (1 + (floor(:customers * bench_u(g, 11) ^ 2)::bigint * 7919) % :customers)::int
							   AS customer_id) c) e
 ORDER BY at;

SELECT segment.track_customers('customers', 'id');
SELECT segment.track_events('events', 'customer_id', 'at', amount => 'amount', kind => 'kind');

-- Five traits: each an aggregate over one customer's events.  now() is
-- segment.reference_time(), i.e. :ref.  One statement (transaction) each:
-- the segment.traits view lists traits by (created_at, name), and traits
-- created in one transaction share created_at, so creating them in one
-- statement in this order would reorder the view's columns, which
-- CREATE OR REPLACE VIEW refuses.
SELECT segment.create_trait('purchases_30d',
	$t$count(*) FILTER (WHERE kind = 'purchase' AND at > now() - interval '30 days')$t$,
	'purchases in the last 30 days');
SELECT segment.create_trait('spend_90d',
	$t$sum(amount) FILTER (WHERE kind IN ('purchase', 'refund') AND at > now() - interval '90 days')$t$,
	'net spend in the last 90 days');
SELECT segment.create_trait('last_purchase',
	$t$max(at) FILTER (WHERE kind = 'purchase')$t$,
	'time of the last purchase');
SELECT segment.create_trait('kinds_30d',
	$t$count(DISTINCT kind) FILTER (WHERE at > now() - interval '30 days')$t$,
	'distinct kinds of event in the last 30 days (0: inactive)');
SELECT segment.create_trait('events_prev_30d',
	$t$count(*) FILTER (WHERE at > now() - interval '60 days' AND at <= now() - interval '30 days')$t$,
	'events in the 30 days before the last 30');

-- Ten behavioural segments, defined while the event table is empty (the
-- COPY of figure 1 fills them).  Three combine customer columns, one is
-- nested (in_segment).
SELECT name, segment.create(name, rule)
  FROM (VALUES
	(1, 'buyers_30d',     $r$purchases_30d >= 3$r$),                               -- figure 3's segment
	(2, 'recent_buyers',  $r$purchases_30d >= 1$r$),
	(3, 'big_spenders',   $r$spend_90d >= 500$r$),
	(4, 'lapsed_buyers',  $r$last_purchase < now() - interval '60 days'$r$),        -- bought, not for 60 days
	(5, 'never_bought',   $r$last_purchase IS NULL$r$),
	(6, 'engaged',        $r$kinds_30d >= 3$r$),
	(7, 'stopped',        $r$events_prev_30d > 0 AND kinds_30d = 0$r$),          -- active the previous window, not this one
	(8, 'za_vip',         $r$country = 'ZA' AND spend_90d >= 200$r$),
	(9, 'paid_inactive',  $r$plan IN ('pro', 'business') AND kinds_30d = 0$r$),
	(10, 'winback',       $r$in_segment('stopped') AND email_opt_in$r$)           -- nested
  ) AS s(ord, name, rule)
 ORDER BY ord;
