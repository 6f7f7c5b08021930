-- bench_live_data.sql: the tables and segments bench_live.sh measures.
-- The rows themselves are loaded by the COPY of figure 1 (from the file
-- bench_live.sh writes from the view bench_live_rows).  Deterministic:
-- every column is a hash of the key, with a seed per column.

\set ON_ERROR_STOP on

-- 1,000,000 customers, keys 1..1,000,000.  About 100 bytes a row.
CREATE VIEW bench_live_rows AS
SELECT g AS id,
	   (ARRAY['ZA', 'US', 'DE', 'FR', 'GB', 'BR', 'IN', 'JP', 'NG', 'KE'])
		   [1 + (hashint4extended(g, 1) & 2147483647) % 10] AS country,
	   (1940 + (hashint4extended(g, 2) & 2147483647) % 70)::int AS birth_year,
	   ((hashint4extended(g, 3) & 2147483647) % 200000)::int AS income,
	   (ARRAY['ios', 'android', 'web', 'desktop'])
		   [1 + (hashint4extended(g, 4) & 2147483647) % 4] AS device,
	   ((hashint4extended(g, 5) & 2147483647) % 100)::int AS visits,
	   'customer ' || g || ' ' || md5(g::text) AS notes
  FROM generate_series(1, 1000000) g;

-- The tracked table and its untracked twin: same columns, same index (the
-- primary key).  Only the first gets the extension's triggers.
CREATE TABLE customers_tracked (
	id int PRIMARY KEY,
	country text,
	birth_year int,
	income int,
	device text,
	visits int,
	notes text
);
CREATE TABLE customers_plain (LIKE customers_tracked INCLUDING ALL);

SELECT segment.track_customers('customers_tracked', 'id');

-- Ten rule segments, defined while the table is empty (the COPY of figure 1
-- fills them).  Every rule reads some of country, birth_year, income,
-- device, visits; none reads notes.
SELECT name, segment.create(name, rule)
  FROM (VALUES
	(1, 'za',          $r$country = 'ZA'$r$),                           -- equality, ~10%
	(2, 'mobile',      $r$device IN ('ios', 'android')$r$),             -- IN, ~50%
	(3, 'millennials', $r$birth_year BETWEEN 1981 AND 1996$r$),         -- BETWEEN, ~23%
	(4, 'rich',        $r$income > 150000$r$),                          -- comparison, ~25%
	(5, 'frequent',    $r$visits >= 50$r$),                             -- comparison, ~50%
	(6, 'us_affluent', $r$country = 'US' AND income >= 100000$r$),      -- AND of two columns, ~5%
	(7, 'web_lapsed',  $r$device = 'web' AND visits < 5$r$),            -- AND of two columns, ~1.25%
	(8, 'low_income',  $r$income < 20000$r$),                           -- comparison, ~10%
	(9, 'paying',      $r$income >= 1000$r$),                           -- comparison, ~99.5%
	(10, 'rich_ios',   $r$in_segment('rich') AND device = 'ios'$r$)     -- in_segment() of another, ~6%
  ) AS s(ord, name, rule)
 ORDER BY ord;

-- Figure 4's baseline: a segment's members stored as one value in a plain row.
CREATE TABLE one_bitmap (name text, s segment);
