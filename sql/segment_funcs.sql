--
-- Cardinality, order statistics, slices, Jaccard, unnest, sampling
--

SELECT cardinality('{}'::segment), cardinality('{0}'::segment), cardinality('{0..4294967295}'::segment),
       cardinality('{1..1000,2000}'::segment);
SELECT cardinality(NULL::segment);

-- smallest and largest member
SELECT min_member('{5..9,70000}'), max_member('{5..9,70000}');
SELECT min_member('{}'), max_member('{}');
SELECT min_member('{4294967295}'), max_member('{0}');
SELECT min_member(s), max_member(s) FROM (SELECT segment_agg(x * 3 + 1) s FROM generate_series(0, 9999) x) t;

-- rank: members less than or equal to the key
SELECT k, member_rank('{5..9,70000}', k)
  FROM unnest(ARRAY[0, 4, 5, 7, 9, 10, 69999, 70000, 4294967295]::bigint[]) k;
SELECT member_rank('{}', 3), member_rank('{0..4294967295}', 4294967295);
SELECT member_rank(s, 30000), member_rank(s, 29999) FROM (SELECT segment_agg(x * 3) s FROM generate_series(0, 9999) x) t;
SELECT member_rank('{1}', -1);

-- n-th member, from 1; NULL past the end
SELECT n, nth_member('{5..9,70000}', n) FROM generate_series(1, 7) n;
SELECT nth_member('{}', 1), nth_member('{0..4294967295}', 4294967296);
SELECT nth_member(s, 5000) FROM (SELECT segment_agg(x * 3) s FROM generate_series(0, 9999) x) t;
SELECT nth_member('{1}', 0);
-- rank and nth_member are inverse on every member
SELECT count(*) AS members, count(*) FILTER (WHERE nth_member(s, member_rank(s, k)) = k) AS inverse
  FROM (SELECT segment_agg(x * 7 % 200003) s FROM generate_series(0, 50000) x) t, unnest(t.s) k;

-- slice: members between two keys, both included
SELECT slice('{5..9,70000}', 6, 70000), slice('{5..9,70000}', 10, 69999), slice('{5..9,70000}', 9, 5);
SELECT slice('{0..4294967295}', 65530, 65540), slice('{0..4294967295}', 4294967290, 4294967295);
SELECT slice(s, 100, 200) FROM (SELECT segment_agg(x * 3) s FROM generate_series(0, 9999) x) t;
SELECT slice('{1}', 0, 4294967296);

-- Jaccard index
SELECT jaccard('{1,2,3}', '{2,3,4}'), jaccard('{}', '{}'), jaccard('{1}', '{}'), jaccard('{1..10}', '{1..10}');

-- cardinalities without building the result
SELECT intersection_cardinality('{1..10}', '{5..20}'), union_cardinality('{1..10}', '{5..20}'),
       difference_cardinality('{1..10}', '{5..20}'), symmetric_difference_cardinality('{1..10}', '{5..20}');

-- unnest: ascending
SELECT unnest('{}'::segment);
SELECT unnest('{65534..65537,4294967295}'::segment);
SELECT count(*), min(k), max(k), sum(k) FROM unnest('{1..100000}'::segment) k;
SELECT bool_and(k > prev) AS ascending
  FROM (SELECT k, lag(k) OVER () AS prev FROM unnest((SELECT segment_agg(x * 7919 % 1000003) FROM generate_series(0, 50000) x)) k) t
 WHERE prev IS NOT NULL;
SELECT s, k FROM (VALUES ('{1,2}'::segment), ('{}'), ('{7}')) v(s), unnest(s) k ORDER BY s, k;

-- samples: deterministic for a seed, nested as n grows, consistent across segments
SELECT sample('{1..100}', 5, 1), sample('{1..100}', 5, 1) = sample('{1..100}', 5, 1) AS repeatable;
SELECT sample('{1..100}', 5, 2) <> sample('{1..100}', 5, 1) AS seed_matters;
SELECT cardinality(sample('{1..100000}', 1000)), sample('{1..100000}', 1000) <@ '{1..100000}'::segment;
SELECT sample('{1..10}', 0), sample('{1..10}', 10), sample('{1..10}', 1000), sample('{}', 3);
SELECT bool_and(sample(s, n, 7) <@ sample(s, n + 1, 7)) AS nested
  FROM (SELECT '{1..5000}'::segment s) t, generate_series(0, 100, 10) n;
SELECT sample('{1..1000}', 10, 3) & '{1..500}' = sample('{1..500}', cardinality(sample('{1..1000}', 10, 3) & '{1..500}'), 3)
       AS consistent;
SELECT sample('{1..10}', -1);
SELECT sample_fraction('{1..100}', 0.1, 1), cardinality(sample_fraction('{1..1000000}', 0.25, 1));
SELECT sample_fraction('{1..100}', 0), sample_fraction('{1..100}', 1) = '{1..100}';
SELECT sample_fraction('{1..10000}', 0.2, 5) <@ sample_fraction('{1..10000}', 0.3, 5) AS nested;
SELECT sample_fraction('{1..1000}', 0.5, 9) & '{1..10}' = sample_fraction('{1..10}', 0.5, 9) AS consistent;
SELECT sample_fraction('{1}', 1.5);
SELECT sample_fraction('{1}', 'NaN');
-- no key stands out, however small or regular the keys are
SELECT sample('{0..1000000}', 1) <> '{0}' AS key_zero_not_special;
SELECT abs(cardinality(sample_fraction('{1..200000}', 0.1)) - 20000) < 700 AS about_a_tenth;
SELECT round(100.0 * count(*) FILTER (WHERE 2 * k <@ s) / count(*)) AS pct_doubles_kept
  FROM (SELECT sample_fraction('{1..200000}', 0.1) s) t, unnest(slice(s, 1, 100000)) k;
