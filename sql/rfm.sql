--
-- RFM models: scores by the ntile and quantile methods, checked against
-- the SQL that defines them; ties, one customer, equal values, more bins
-- than customers; the standard, rf_grid and user maps; rescoring in the
-- same commit; errors.
--
-- doc/rfm.md shows these examples with their output: change an example in
-- both places.
--
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
\getenv abs_srcdir PG_ABS_SRCDIR
\set try_sql :abs_srcdir '/test/helpers/try.sql'
\i :try_sql

-- The orders of the R rfm package: 4,906 orders of 995 customers; the
-- package's analysis date is 2006-12-31.
\set rfm_orders :abs_srcdir '/test/data/rfm_data_orders.csv'
CREATE TEMP TABLE rfm_raw (customer_id text, order_date date, revenue numeric,
	first_name text, last_name text, email text);
COPY rfm_raw FROM :'rfm_orders' (FORMAT csv, HEADER);
CREATE TABLE buyers (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO buyers
SELECT row_number() OVER (ORDER BY customer_id), customer_id
FROM (SELECT DISTINCT customer_id FROM rfm_raw) s;
CREATE TABLE orders (
	id serial PRIMARY KEY,
	buyer integer NOT NULL,
	ordered_on date NOT NULL,
	revenue numeric
);
INSERT INTO orders (buyer, ordered_on, revenue)
SELECT b.id, r.order_date, r.revenue FROM rfm_raw r JOIN buyers b ON b.name = r.customer_id
ORDER BY r.order_date, b.id;
CREATE INDEX ON orders (buyer, ordered_on);
SELECT count(*) AS orders, count(DISTINCT buyer) AS buyers FROM orders;

SELECT segment.track_customers('buyers', 'id');
SELECT segment.track_events('orders', 'buyer', 'ordered_on', amount => 'revenue');

--
-- ntile: equal-count bins
--
SELECT * FROM segment.create_rfm('rfm', as_of => '2006-12-31');
SELECT * FROM segment.rfm_scores('rfm') ORDER BY customer_id LIMIT 5;
-- the same scores as the SQL that defines the method
CREATE TEMP VIEW by_hand AS
WITH v AS (
	SELECT buyer AS customer_id, date '2006-12-31' - max(ordered_on) AS recency,
	       count(*) AS frequency, sum(revenue) AS monetary
	FROM orders WHERE ordered_on <= '2006-12-31' GROUP BY buyer
)
SELECT customer_id, recency, frequency, monetary,
       ntile(5) OVER (ORDER BY recency DESC, customer_id) AS r,
       ntile(5) OVER (ORDER BY frequency, customer_id) AS f,
       ntile(5) OVER (ORDER BY monetary::float8, customer_id) AS m
FROM v;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE (s.recency, s.frequency, s.monetary, s.r, s.f, s.m)
                   IS DISTINCT FROM (h.recency, h.frequency, h.monetary, h.r, h.f, h.m)) AS differences
FROM segment.rfm_scores('rfm') s FULL JOIN by_hand h USING (customer_id);
-- each score's bins hold 199 customers
SELECT r, count(*) FROM segment.rfm_scores('rfm') GROUP BY r ORDER BY r;
-- the cells are segments, in the map's order, then those in no cell
SELECT name, rule, size FROM segment.summary WHERE family = 'rfm' ORDER BY name;
SELECT segment, count(*) FROM segment.rfm_scores('rfm') GROUP BY segment ORDER BY segment;
SELECT name, bins, method, map, as_of, customers FROM segment.rfm_models;
-- the standard map: first match wins, so new_customers and promising
-- (inside potential_loyalist) and cant_lose_them (inside at_risk) stay
-- empty; a map table of one's own can put them first
SELECT * FROM segment.rfm_maps WHERE map = 'standard' ORDER BY position;
CREATE TABLE my_rfm_map AS
SELECT segment, position, r_min, r_max, f_min, f_max, m_min, m_max
FROM segment.rfm_maps WHERE map = 'standard';
UPDATE my_rfm_map SET position = position - 10
WHERE segment IN ('new_customers', 'promising', 'cant_lose_them');
SELECT * FROM segment.create_rfm('rfm2', map => 'my_rfm_map', as_of => '2006-12-31');
SELECT segment.drop('rfm2');
DROP TABLE my_rfm_map;
-- the heat map: customers per recency x frequency score
SELECT r, string_agg(lpad(customers::text, 3), ' ' ORDER BY f) AS "f = 1 .. 5"
FROM segment.rfm_grid WHERE model = 'rfm' GROUP BY r ORDER BY r DESC;

--
-- quantile: bins between the type-7 quantiles, as the R rfm package
--
SELECT * FROM segment.create_rfm('rfmq', method => 'quantile', map => 'rf_grid',
                                 as_of => '2006-12-31');
CREATE TEMP VIEW quantile_by_hand AS
WITH v AS (
	SELECT buyer AS customer_id, date '2006-12-31' - max(ordered_on) AS recency,
	       count(*) AS frequency, sum(revenue)::float8 AS monetary
	FROM orders WHERE ordered_on <= '2006-12-31' GROUP BY buyer
), edges AS (
	SELECT percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY recency) AS r,
	       percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY frequency) AS f,
	       percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY monetary) AS m
	FROM v
)
SELECT customer_id,
       6 - (1 + (SELECT count(*) FROM unnest(e.r) x WHERE recency > x))::integer AS r,
       1 + (SELECT count(*) FROM unnest(e.f) x WHERE frequency > x)::integer AS f,
       1 + (SELECT count(*) FROM unnest(e.m) x WHERE monetary > x)::integer AS m
FROM v, edges e;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE (s.r, s.f, s.m) IS DISTINCT FROM (h.r, h.f, h.m)) AS differences
FROM segment.rfm_scores('rfmq') s FULL JOIN quantile_by_hand h USING (customer_id);
SELECT r_edges, f_edges, m_edges FROM segment.rfm_models WHERE name = 'rfmq';
-- ties stay together: frequencies equal to an edge are in the lower bin
SELECT f, min(frequency), max(frequency), count(*) FROM segment.rfm_scores('rfmq')
GROUP BY f ORDER BY f;
SELECT name, rule, size FROM segment.summary WHERE family = 'rfmq' ORDER BY name;

--
-- A new, changed or deleted purchase rescores its customer in the same
-- commit, against the kept edges
--
SELECT * FROM segment.rfm_scores('rfm') WHERE customer_id = 3;
SELECT segment.of(3);
INSERT INTO orders (buyer, ordered_on, revenue) VALUES
	(3, '2006-12-28', 900), (3, '2006-12-29', 900), (3, '2006-12-30', 900);
SELECT * FROM segment.rfm_scores('rfm') WHERE customer_id = 3;
SELECT segment.of(3);
UPDATE orders SET revenue = 1 WHERE buyer = 3 AND ordered_on >= '2006-12-28';
SELECT * FROM segment.rfm_scores('rfm') WHERE customer_id = 3;
DELETE FROM orders WHERE buyer = 3;
SELECT * FROM segment.rfm_scores('rfm') WHERE customer_id = 3;
SELECT segment.of(3);
-- purchases after as_of do not count
INSERT INTO orders (buyer, ordered_on, revenue) VALUES (5, '2007-01-05', 5000);
SELECT * FROM segment.rfm_scores('rfm') WHERE customer_id = 5;
SELECT segment, customer_id, change FROM segment.history
WHERE customer_id = 3 ORDER BY at, segment, change;
SELECT count(*) AS differences FROM segment.verify();
-- a refresh derives the edges again from the whole base
SELECT * FROM segment.refresh('rfm') WHERE entered > 0 OR exited > 0;
SELECT count(*) AS differences FROM segment.verify();
-- cells work in rules and set algebra like any other segment
SELECT segment.create('champions_or_loyal',
	$$in_segment('rfm:champions') OR in_segment('rfm:loyal_customers')$$);
SELECT cardinality(segment.members('rfm:champions') | segment.members('rfm:loyal_customers'))
     = cardinality(segment.members('champions_or_loyal')) AS same;
SELECT cardinality(segment.members('rfm:champions') & segment.members('rfmq:champions'))
       AS champions_both_ways;

--
-- Small bases, checked against ntile() and the quantile definition
--
CREATE TABLE few (id integer PRIMARY KEY);
INSERT INTO few SELECT generate_series(1, 6);
CREATE TABLE few_orders (customer integer NOT NULL, at timestamptz NOT NULL, amount numeric);
CREATE INDEX ON few_orders (customer, at);
SELECT segment.drop('champions_or_loyal');
SELECT segment.drop('rfm');
SELECT segment.drop('rfmq');
DROP VIEW by_hand, quantile_by_hand;
DROP TABLE orders, buyers;
SELECT segment.track_customers('few', 'id');
SELECT segment.track_events('few_orders', 'customer', 'at', amount => 'amount');
-- a map of one cell per recency score, for any number of bins
CREATE TABLE by_recency (segment text, position integer,
	r_min integer, r_max integer, f_min integer, f_max integer, m_min integer, m_max integer);
INSERT INTO by_recency VALUES ('recent', 1, 3, 3, 1, 3, 1, 3), ('middle', 2, 2, 2, 1, 3, 1, 3);

-- one customer
INSERT INTO few_orders VALUES (1, '2026-01-10', 10);
SELECT * FROM segment.create_rfm('one', bins => 3, map => 'by_recency', as_of => '2026-02-01');
SELECT * FROM segment.rfm_scores('one');
SELECT * FROM segment.create_rfm('one_q', bins => 3, method => 'quantile', map => 'by_recency',
                                 as_of => '2026-02-01');
SELECT * FROM segment.rfm_scores('one_q');
SELECT segment.drop('one'), segment.drop('one_q');

-- all values equal: ntile splits them by key, the quantiles keep them
-- together
INSERT INTO few_orders SELECT g, '2026-01-10', 10 FROM generate_series(2, 6) g;
SELECT * FROM segment.create_rfm('equal', bins => 3, map => 'by_recency', as_of => '2026-02-01');
SELECT customer_id, r, f, m, segment FROM segment.rfm_scores('equal');
SELECT * FROM segment.create_rfm('equal_q', bins => 3, method => 'quantile', map => 'by_recency',
                                 as_of => '2026-02-01');
SELECT customer_id, r, f, m, segment FROM segment.rfm_scores('equal_q');
SELECT segment.drop('equal'), segment.drop('equal_q');

-- ties and more bins than customers
TRUNCATE few_orders;
INSERT INTO few_orders VALUES
	(1, '2026-01-01', 5), (2, '2026-01-20', 5), (2, '2026-01-21', 5), (3, '2026-01-20', 50),
	(4, '2026-01-31', 7), (4, '2026-01-30', 1), (4, '2026-01-29', 1);
SELECT * FROM segment.create_rfm('ties', bins => 3, map => 'by_recency', as_of => '2026-02-01');
SELECT * FROM segment.create_rfm('ties_q', bins => 3, method => 'quantile', map => 'by_recency',
                                 as_of => '2026-02-01');
SELECT * FROM segment.create_rfm('many', bins => 10, map => 'by_recency', as_of => '2026-02-01');
SELECT s.customer_id, s.recency, s.frequency, s.monetary,
       s.r, s.f, s.m, q.r AS qr, q.f AS qf, q.m AS qm, g.r AS r10, g.f AS f10, g.m AS m10
FROM segment.rfm_scores('ties') s
JOIN segment.rfm_scores('ties_q') q USING (customer_id)
JOIN segment.rfm_scores('many') g USING (customer_id)
ORDER BY customer_id;
WITH v AS (
	SELECT customer AS customer_id, date '2026-02-01' - max(at)::date AS recency,
	       count(*) AS frequency, sum(amount)::float8 AS monetary
	FROM few_orders GROUP BY customer
)
SELECT customer_id,
       ntile(3) OVER (ORDER BY recency DESC, customer_id) AS r,
       ntile(3) OVER (ORDER BY frequency, customer_id) AS f,
       ntile(3) OVER (ORDER BY monetary, customer_id) AS m,
       ntile(10) OVER (ORDER BY recency DESC, customer_id) AS r10
FROM v ORDER BY customer_id;
SELECT r_edges, f_edges, m_edges FROM segment.rfm_models WHERE name = 'ties_q';
-- a customer scored between refreshes lands in the bin the edges say
INSERT INTO few_orders VALUES (5, '2026-01-25', 6);
SELECT s.customer_id, s.r, s.f, s.m, q.r AS qr, q.f AS qf, q.m AS qm
FROM segment.rfm_scores('ties') s JOIN segment.rfm_scores('ties_q') q USING (customer_id)
WHERE customer_id = 5;
SELECT count(*) AS differences FROM segment.verify();

--
-- A user map: edits take effect at the next refresh
--
SELECT segment.members('ties:recent'), segment.members('ties:middle'), segment.members('ties:others');
UPDATE by_recency SET r_min = 1 WHERE segment = 'middle';
INSERT INTO by_recency VALUES ('big', 0, 1, 3, 1, 3, 3, 3);
SELECT segment.members('ties:middle');
SELECT * FROM segment.refresh('ties');
SELECT name, rule, size FROM segment.summary WHERE family = 'ties' ORDER BY name;
DELETE FROM by_recency WHERE segment = 'big';
SELECT * FROM segment.refresh('ties');
SELECT name FROM segment.summary WHERE family = 'ties' ORDER BY name;

--
-- Errors
--
SELECT segment.create_rfm('bad', bins => 4);
SELECT pg_temp.try($$SELECT segment.create_rfm('bad', bins => 0)$$);
SELECT pg_temp.try($$SELECT segment.create_rfm('bad', method => 'median')$$);
SELECT pg_temp.try($$SELECT segment.create_rfm('bad', map => 'no_such_map')$$);
SELECT pg_temp.try($$SELECT segment.create_rfm('bad', map => 'few')$$);
SELECT pg_temp.try($$SELECT segment.create_rfm('ties')$$);
SELECT pg_temp.try($$SELECT segment.create_rfm('ties:recent')$$);
CREATE TABLE bad_map (LIKE by_recency);
SELECT pg_temp.try($$SELECT segment.create_rfm('bad', map => 'bad_map')$$);
INSERT INTO bad_map VALUES ('x', 1, 0, 3, 1, 3, 1, 3);
SELECT pg_temp.try($$SELECT segment.create_rfm('bad', bins => 3, map => 'bad_map')$$);
UPDATE bad_map SET r_min = 3, r_max = 2;
SELECT pg_temp.try($$SELECT segment.create_rfm('bad', bins => 3, map => 'bad_map')$$);
UPDATE bad_map SET r_min = 1, segment = 'others';
SELECT pg_temp.try($$SELECT segment.create_rfm('bad', bins => 3, map => 'bad_map')$$);
SELECT pg_temp.try($$SELECT segment.rfm_scores('no_such_model')$$);
SELECT pg_temp.try($$SELECT segment.drop('ties:recent')$$);
-- a cell that a rule reads cannot leave the map
SELECT segment.create('recent_big', $$in_segment('ties:recent')$$);
DELETE FROM by_recency WHERE segment = 'recent';
SELECT pg_temp.try($$SELECT segment.refresh('ties')$$);
SELECT segment.drop('recent_big');
CREATE TABLE no_amounts (customer integer NOT NULL, at date NOT NULL);
CREATE INDEX ON no_amounts (customer, at);
SELECT segment.track_events('no_amounts', 'customer', 'at');
SELECT pg_temp.try($$SELECT segment.create_rfm('bad', events => 'no_amounts')$$);
SELECT count(*) AS models FROM segment.rfm_models;

DROP TABLE few, few_orders, no_amounts, by_recency, bad_map;
DROP EXTENSION segment;
CREATE EXTENSION segment;
