--
-- The classic kinds of customer segment written as live rules: demographic,
-- geographic, psychographic, technographic and firmographic, and segments
-- built on segments.  Ten customers, and who ends up where.
--
-- doc/live-segments.md shows these examples with their output: change an
-- example in both places.
--
\set SHOW_CONTEXT never
CREATE TABLE kind_customers (
	id integer PRIMARY KEY,
	name text NOT NULL,
	-- demographic
	birth_date date NOT NULL,
	gender text NOT NULL,
	income numeric NOT NULL,
	marital_status text NOT NULL,
	children_at_home integer NOT NULL,
	-- geographic
	country text NOT NULL,
	city text NOT NULL,
	lat double precision NOT NULL,
	lon double precision NOT NULL,
	-- psychographic
	interests text[] NOT NULL DEFAULT '{}',
	profile jsonb NOT NULL DEFAULT '{}',
	-- technographic
	device text,
	platform text,
	-- firmographic: the customer's employer
	industry text,
	employees integer
);
INSERT INTO kind_customers VALUES
	(1, 'Amara', '1999-04-12', 'f', 28000, 'single', 0, 'ZA', 'Cape Town', -33.9249, 18.4241,
	 '{hiking,photography,travel}', '{"newsletter": true, "diet": "vegan", "pets": ["dog"]}',
	 'mobile', 'android', NULL, NULL),
	(2, 'Bongani', '1985-09-30', 'm', 72000, 'married', 2, 'ZA', 'Johannesburg', -26.2041, 28.0473,
	 '{football,cooking}', '{"newsletter": false, "pets": []}',
	 'desktop', 'windows', 'retail', 45),
	(3, 'Chloe', '1961-02-01', 'f', 54000, 'married', 0, 'FR', 'Paris', 48.8566, 2.3522,
	 '{gardening,travel,wine}', '{"newsletter": true, "diet": "vegetarian"}',
	 'tablet', 'ios', NULL, NULL),
	(4, 'Daniel', '2005-12-31', 'm', 8000, 'single', 0, 'US', 'Austin', 30.2672, -97.7431,
	 '{gaming,esports}', '{"newsletter": true, "platforms": ["steam"]}',
	 'mobile', 'ios', NULL, NULL),
	(5, 'Eun-ji', '1990-01-01', 'f', 95000, 'married', 1, 'KR', 'Seoul', 37.5665, 126.9780,
	 '{travel,photography}', '{"newsletter": false}',
	 'desktop', 'macos', 'software', 1200),
	(6, 'Farid', '1978-06-15', 'm', 130000, 'married', 3, 'ZA', 'Stellenbosch', -33.9321, 18.8602,
	 '{wine,cycling}', '{"newsletter": false, "diet": "halal"}',
	 'desktop', 'linux', 'finance', 250),
	(7, 'Grace', '1955-03-03', 'f', 31000, 'widowed', 0, 'GB', 'London', 51.5074, -0.1278,
	 '{gardening,reading}', '{"newsletter": true}',
	 'tablet', 'android', NULL, NULL),
	(8, 'Hiro', '1996-07-07', 'm', 61000, 'single', 0, 'JP', 'Tokyo', 35.6762, 139.6503,
	 '{gaming,anime,travel}', '{"newsletter": false, "platforms": ["switch", "steam"]}',
	 'mobile', 'android', 'software', 12),
	(9, 'Ines', '1988-11-20', 'f', 48000, 'married', 2, 'ZA', 'Cape Town', -33.9180, 18.4233,
	 '{cooking,hiking}', '{"newsletter": true, "pets": ["cat"]}',
	 'mobile', 'ios', 'retail', 4800),
	(10, 'Jomo', '2000-01-02', 'm', 22000, 'single', 0, 'ZA', 'Durban', -29.8587, 31.0218,
	 '{football,gaming}', '{}',
	 'mobile', 'android', 'hospitality', 30);
SELECT segment.track_customers('kind_customers', 'id');
-- who is in which segment, by name
CREATE VIEW kind_members AS
SELECT m.segment, string_agg(c.name, ', ' ORDER BY c.id) AS members
FROM segment.membership m
JOIN kind_customers c ON c.id = m.customer_id
GROUP BY m.segment;
--
-- Demographic: age bands, gender, income, life stage.  Ages are counted on
-- a fixed date, never on the clock, so that membership does not drift.
--
SELECT id, name, date_part('year', age(DATE '2026-01-01', birth_date)) AS age
FROM kind_customers ORDER BY id;
SELECT name, segment.create(name, rule) AS members
FROM (VALUES
	('age_18_24', $$date_part('year', age(DATE '2026-01-01', birth_date)) BETWEEN 18 AND 24$$),
	('age_25_34', $$date_part('year', age(DATE '2026-01-01', birth_date)) BETWEEN 25 AND 34$$),
	('age_35_54', $$date_part('year', age(DATE '2026-01-01', birth_date)) BETWEEN 35 AND 54$$),
	('age_55_plus', $$date_part('year', age(DATE '2026-01-01', birth_date)) >= 55$$),
	('women', $$gender = 'f'$$),
	('high_income', $$income >= 90000$$),
	('low_income', $$income < 30000$$),
	('young_singles', $$marital_status = 'single' AND children_at_home = 0
  AND date_part('year', age(DATE '2026-01-01', birth_date)) < 35$$),
	('families', $$children_at_home > 0$$),
	('empty_nesters', $$marital_status <> 'single' AND children_at_home = 0
  AND date_part('year', age(DATE '2026-01-01', birth_date)) >= 50$$)
) AS rules(name, rule);
SELECT * FROM kind_members
WHERE segment IN ('age_18_24', 'age_25_34', 'age_35_54', 'age_55_plus', 'women',
                  'high_income', 'low_income', 'young_singles', 'families', 'empty_nesters')
ORDER BY segment;
--
-- Geographic: country, city, and a radius around a point (haversine, in km)
--
SELECT name, segment.create(name, rule) AS members
FROM (VALUES
	('south_africa', $$country = 'ZA'$$),
	('cape_town', $$city = 'Cape Town'$$),
	('europe', $$country IN ('DE', 'FR', 'GB', 'NL')$$)
) AS rules(name, rule);
SELECT segment.create('near_cape_town', $$
  2 * 6371 * asin(sqrt(
    sin(radians(lat - (-33.9249)) / 2) ^ 2
    + cos(radians(-33.9249)) * cos(radians(lat)) * sin(radians(lon - 18.4241) / 2) ^ 2
  )) <= 50$$, 'within 50 km of Cape Town city centre');
SELECT name, city,
       round((2 * 6371 * asin(sqrt(
         sin(radians(lat - (-33.9249)) / 2) ^ 2
         + cos(radians(-33.9249)) * cos(radians(lat)) * sin(radians(lon - 18.4241) / 2) ^ 2
       )))::numeric) AS km_from_cape_town
FROM kind_customers WHERE country = 'ZA' ORDER BY id;
SELECT * FROM kind_members
WHERE segment IN ('south_africa', 'cape_town', 'europe', 'near_cape_town')
ORDER BY segment;
--
-- Psychographic: interests in a text[] (&& any of, @> all of) and a jsonb
-- profile (? has key, @> contains)
--
SELECT name, segment.create(name, rule) AS members
FROM (VALUES
	('travellers', $$interests @> ARRAY['travel']$$),
	('outdoor', $$interests && ARRAY['hiking', 'cycling', 'gardening']$$),
	('gamers', $$interests && ARRAY['gaming', 'esports']$$),
	('wine_and_travel', $$interests @> ARRAY['wine', 'travel']$$),
	('newsletter_opt_in', $$profile @> '{"newsletter": true}'$$),
	('diet_known', $$profile ? 'diet'$$),
	('pet_owners', $$jsonb_array_length(profile -> 'pets') > 0$$),
	('steam_players', $$profile -> 'platforms' ? 'steam'$$)
) AS rules(name, rule);
SELECT * FROM kind_members
WHERE segment IN ('travellers', 'outdoor', 'gamers', 'wine_and_travel', 'newsletter_opt_in',
                  'diet_known', 'pet_owners', 'steam_players')
ORDER BY segment;
--
-- Technographic: device and platform
--
SELECT name, segment.create(name, rule) AS members
FROM (VALUES
	('mobile_first', $$device = 'mobile'$$),
	('apple_users', $$platform IN ('ios', 'macos')$$),
	('android_mobile', $$device = 'mobile' AND platform = 'android'$$)
) AS rules(name, rule);
SELECT * FROM kind_members
WHERE segment IN ('mobile_first', 'apple_users', 'android_mobile')
ORDER BY segment;
--
-- Firmographic: the employer's industry and size
--
SELECT name, segment.create(name, rule) AS members
FROM (VALUES
	('retail', $$industry = 'retail'$$),
	('small_business', $$employees < 50$$),
	('mid_market', $$employees BETWEEN 50 AND 999$$),
	('enterprise', $$employees >= 1000$$),
	('software_enterprise', $$industry = 'software' AND employees >= 1000$$)
) AS rules(name, rule);
SELECT * FROM kind_members
WHERE segment IN ('retail', 'small_business', 'mid_market', 'enterprise', 'software_enterprise')
ORDER BY segment;
--
-- Segments built on segments, evaluated in dependency order
--
SELECT name, segment.create(name, rule) AS members
FROM (VALUES
	('cape_town_outdoor', $$in_segment('near_cape_town') AND in_segment('outdoor')$$),
	('mobile_gamers', $$in_segment('gamers') AND in_segment('mobile_first')$$),
	('not_on_mobile', $$NOT in_segment('mobile_first')$$)
) AS rules(name, rule);
SELECT segment.create('outdoor_newsletter', $$in_segment('cape_town_outdoor') AND in_segment('newsletter_opt_in')$$,
                      'outdoor people near Cape Town who read the newsletter');
SELECT name, depends_on, depth FROM segment.definitions WHERE depth > 0 ORDER BY depth, name;
SELECT * FROM kind_members
WHERE segment IN ('cape_town_outdoor', 'mobile_gamers', 'not_on_mobile', 'outdoor_newsletter')
ORDER BY segment;
-- Ines moves to Johannesburg: one UPDATE, and every level follows
SELECT segment.of(9);
UPDATE kind_customers SET city = 'Johannesburg', lat = -26.1952, lon = 28.0340 WHERE id = 9;
SELECT segment.of(9);
-- Farid subscribes to the newsletter
UPDATE kind_customers SET profile = profile || '{"newsletter": true}' WHERE id = 6;
SELECT * FROM kind_members WHERE segment = 'outdoor_newsletter';
SELECT segment, customer_id, change FROM segment.history
WHERE customer_id IN (6, 9) AND segment IN ('cape_town', 'near_cape_town', 'cape_town_outdoor',
                                            'newsletter_opt_in', 'outdoor_newsletter')
ORDER BY customer_id, at, segment;
--
-- Clean up
--
DO $$
DECLARE
	s text;
BEGIN
	FOR s IN SELECT name FROM segment.definitions ORDER BY depth DESC, name LOOP
		PERFORM segment.drop(s);
	END LOOP;
END
$$;
DROP VIEW kind_members;
DROP TABLE kind_customers;
SELECT count(*) AS tracked FROM segment.customer_source;
-- segment.flips keeps the history of dropped segments: start the next test
-- from a fresh extension
DROP EXTENSION segment;
CREATE EXTENSION segment;
