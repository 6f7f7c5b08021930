-- bench_value_data.sql: the data bench_value.sh measures.  Deterministic:
-- the purchases are hashes of their row number, the simulated customers
-- come from random() after setseed().
--
-- psql variables (bench_value.sh sets them):
--   customers      customers in the customer table (1,000,000)
--   purchases      rows of the RFM purchase table (10,000,000)
--   summaries      simulated BG/NBD customers (1,000,000)
--   ltv_customers  of those, how many get purchase events for create_ltv (100,000)
--
-- Everything is loaded before the tables are tracked: the extension's
-- triggers come with track_customers / track_events, after the load.

\set ON_ERROR_STOP on

--
-- RFM: customers and their purchases
--

-- The model's fixed reference time.  Purchases run from 730 days before it
-- to 15 days after it (those are not purchases "as of" it: the filter
-- at <= as_of matters).
CREATE FUNCTION bench_value_as_of() RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz '2025-01-01 00:00:00+00' $$;

CREATE TABLE customers (
	id int PRIMARY KEY,
	name text
);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, :customers) g;

-- Purchases in time order, as an event table grows (whole seconds, evenly
-- spread over the 745 days; s = the share of the span gone by).  The
-- customer: for 30% of the purchases a regular, 1 + floor(customers *
-- u^1.5) over the whole span (low ids buy more); for the others one whose
-- active window covers the time, 1 + floor(customers * (0.75 s + 0.25 u))
-- (each customer buys during about a third of the span, low ids early:
-- lapsed, high ids recently: new), so that recency, frequency and
-- monetary vary and most cells of the standard map are populated.  An
-- amount of 5.00 to 200.00, mostly small (5 + 195 v^3).
CREATE TABLE purchases (
	customer_id int NOT NULL,
	at timestamptz NOT NULL,
	amount numeric(10, 2)
);
INSERT INTO purchases
SELECT 1 + floor(:customers * CASE WHEN w < 0.3 THEN power(u, 1.5)
									 ELSE 0.75 * s + 0.25 * u END)::int,
	   bench_value_as_of() - interval '730 days'
		   + ((g - 1) * 64368000::bigint / :purchases) * interval '1 second',
	   round((5 + 195 * power(v, 3))::numeric, 2)
  FROM (SELECT g,
			   (g - 1)::float8 / :purchases AS s,
			   (hashint8extended(g, 1) & 4294967295)::float8 / 4294967296 AS u,
			   (hashint8extended(g, 2) & 4294967295)::float8 / 4294967296 AS v,
			   (hashint8extended(g, 3) & 4294967295)::float8 / 4294967296 AS w
		  FROM generate_series(1, :purchases::bigint) g) x;
CREATE INDEX ON purchases (customer_id, at);

--
-- Lifetime value: customers simulated from BG/NBD and Gamma-Gamma
--

-- A Gamma(shape, 1) draw: Marsaglia and Tsang (2000), with the boost
-- U^(1/shape) for shapes below 1; normals by Box-Muller.
CREATE FUNCTION bench_value_rgamma(shape float8) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
	k float8 := shape;
	boost float8 := 1.0;
	d float8;
	c float8;
	z float8;
	v float8;
BEGIN
	IF k < 1 THEN
		boost := power(1.0 - random(), 1.0 / k);
		k := k + 1;
	END IF;
	d := k - 1.0 / 3;
	c := 1.0 / sqrt(9 * d);
	LOOP
		LOOP
			z := sqrt(-2 * ln(1.0 - random())) * cos(2 * pi() * random());
			v := 1 + c * z;
			EXIT WHEN v > 0;
		END LOOP;
		v := v * v * v;
		IF ln(1.0 - random()) < 0.5 * z * z + d - d * v + d * ln(v) THEN
			RETURN d * v * boost;
		END IF;
	END LOOP;
END
$$;

-- The true parameters: BG/NBD and Gamma-Gamma as fitted to CDNOW (Fader,
-- Hardie and Lee 2005; the lifetimes library's Gamma-Gamma example), time
-- in weeks.
CREATE TABLE bench_value_truth (model text, param text, value float8, ord int);
INSERT INTO bench_value_truth VALUES
	('bgnbd', 'r', 0.243, 1), ('bgnbd', 'alpha', 4.414, 2),
	('bgnbd', 'a', 0.793, 3), ('bgnbd', 'b', 2.426, 4),
	('gammagamma', 'p', 6.25, 1), ('gammagamma', 'q', 3.74, 2),
	('gammagamma', 'gamma', 15.44, 3);

-- One simulated customer a row, as CDNOW's: the first purchase at a
-- uniform time in the first 12 weeks (acq, days after day 0), observed up
-- to day 273 (week 39), so T is 27 to 39 weeks.  Purchase rate
-- lambda ~ Gamma(r, alpha) per week, dropout p ~ Beta(a, b) after each
-- repeat purchase; spend: nu ~ Gamma(q, gamma), each purchase's amount
-- ~ Gamma(p, nu).
--
-- Two summaries of the same purchases, in weeks:
--  - by day, as create_ltv makes them (segment.purchase_days): the purchase
--    at time t falls on day floor(acq + 7 t); purchases on the first
--    purchase's day are not repeat purchases, and purchases on one day are
--    one purchase (their amounts summed).  x, t_x: repeat purchase days and
--    the last one's day, T: from the first purchase's day to day 273, m:
--    mean amount of the repeat days.
--  - exact: x_exact transactions, t_x_exact and t_exact in continuous time,
--    m_exact their mean amount (no two customers alike).
-- For the first ltv_n customers also the purchases themselves (days after
-- day 0, amounts), for create_ltv.
CREATE FUNCTION bench_value_simulate(n int, ltv_n int, seed float8,
	OUT id int, OUT x int, OUT t_x float8, OUT t float8, OUT m float8,
	OUT x_exact int, OUT t_x_exact float8, OUT t_exact float8, OUT m_exact float8,
	OUT ev_days float8[], OUT ev_amounts float8[])
RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
	br CONSTANT float8 := (SELECT value FROM bench_value_truth WHERE param = 'r');
	balpha CONSTANT float8 := (SELECT value FROM bench_value_truth WHERE param = 'alpha');
	ba CONSTANT float8 := (SELECT value FROM bench_value_truth WHERE param = 'a');
	bb CONSTANT float8 := (SELECT value FROM bench_value_truth WHERE param = 'b');
	gp CONSTANT float8 := (SELECT value FROM bench_value_truth WHERE param = 'p');
	gq CONSTANT float8 := (SELECT value FROM bench_value_truth WHERE param = 'q');
	gg CONSTANT float8 := (SELECT value FROM bench_value_truth WHERE param = 'gamma');
	lam float8;
	p float8;
	nu float8;
	g1 float8;
	acq float8;
	tt float8;
	z float8;
	day0 int;
	day int;
	lastday int;
	total float8;
	total_exact float8;
	events boolean;
BEGIN
	PERFORM setseed(seed);
	FOR i IN 1..n LOOP
		id := i;
		lam := bench_value_rgamma(br) / balpha;
		g1 := bench_value_rgamma(ba);
		p := g1 / (g1 + bench_value_rgamma(bb));
		nu := bench_value_rgamma(gq) / gg;
		acq := 84 * random();
		day0 := floor(acq);
		t_exact := (273 - acq) / 7;
		t := (273 - day0) / 7.0;
		events := i <= ltv_n;
		ev_days := NULL;
		ev_amounts := NULL;
		IF events THEN
			ev_days := ARRAY[acq];
			ev_amounts := ARRAY[bench_value_rgamma(gp) / nu];
		END IF;
		x := 0;
		x_exact := 0;
		t_x_exact := 0;
		lastday := day0;
		total := 0;
		total_exact := 0;
		tt := 0;
		IF lam > 0 THEN
			LOOP
				tt := tt - ln(1.0 - random()) / lam;
				EXIT WHEN tt > t_exact;
				z := bench_value_rgamma(gp) / nu;
				x_exact := x_exact + 1;
				t_x_exact := tt;
				total_exact := total_exact + z;
				day := floor(acq + 7 * tt);
				IF day > day0 THEN
					IF day > lastday THEN
						x := x + 1;
						lastday := day;
					END IF;
					total := total + z;
				END IF;
				IF events THEN
					ev_days := ev_days || (acq + 7 * tt);
					ev_amounts := ev_amounts || z;
				END IF;
				EXIT WHEN random() < p;
			END LOOP;
		END IF;
		t_x := (lastday - day0) / 7.0;
		m := CASE WHEN x > 0 THEN total / x END;
		m_exact := CASE WHEN x_exact > 0 THEN total_exact / x_exact END;
		RETURN NEXT;
	END LOOP;
END
$$;

CREATE TABLE bench_value_sim AS SELECT * FROM bench_value_simulate(:summaries, :ltv_customers, 0.5);

CREATE TABLE summaries AS
SELECT id, x::float8 AS x, t_x, t, m,
	   x_exact::float8 AS x_exact, t_x_exact, t_exact, m_exact
  FROM bench_value_sim;

-- The purchases of the first ltv_customers simulated customers, for
-- create_ltv: day 0 is 2024-01-01 UTC, the calibration ends on day 273.
CREATE TABLE ltv_purchases (
	customer_id int NOT NULL,
	at timestamptz NOT NULL,
	amount numeric(10, 2)
);
INSERT INTO ltv_purchases
SELECT s.id, timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => e.day * 86400),
	   round(e.amount::numeric, 2)
  FROM bench_value_sim s, unnest(s.ev_days, s.ev_amounts) AS e(day, amount)
 WHERE s.ev_days IS NOT NULL;
CREATE INDEX ON ltv_purchases (customer_id, at);

VACUUM ANALYZE customers, purchases, summaries, ltv_purchases;

--
-- Tracking, after the load
--

SELECT segment.track_customers('customers', 'id');
SELECT segment.track_events('purchases', 'customer_id', 'at', amount => 'amount');
SELECT segment.track_events('ltv_purchases', 'customer_id', 'at', amount => 'amount');
