-- Value segments: RFM models with their named cells, and lifetime value
-- models with their value tiers.  Part of segment--0.1.0.sql (see the
-- Makefile).  See doc/rfm.md and doc/ltv.md.

--
-- Shared: purchases of a tracked event table
--

-- SQL for an event time as timestamptz, or as a day, from a column of type
-- timestamptz, timestamp or date; times without a zone are taken in UTC,
-- so that nothing depends on a session's TimeZone.
CREATE FUNCTION segment._utc_time(col text, typ regtype) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE typ
		WHEN 'timestamptz'::regtype THEN col
		WHEN 'timestamp'::regtype THEN format('timezone(%L, %s)', 'UTC', col)
		ELSE format('timezone(%L, %s::timestamp)', 'UTC', col) END
$$;
CREATE FUNCTION segment._utc_day(col text, typ regtype) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE typ
		WHEN 'timestamptz'::regtype THEN format('timezone(%L, %s)::date', 'UTC', col)
		WHEN 'timestamp'::regtype THEN format('%s::date', col)
		ELSE col END
$$;

-- A hidden trait of a family, compiled.
CREATE FUNCTION segment._family_trait(family text, name text, source regclass, expr text,
	description text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	compiled record;
BEGIN
	SELECT * INTO compiled FROM segment._compile_trait(_family_trait.source, expr, 'pg_catalog');
	INSERT INTO segment.trait_definitions AS t (name, source, definition, expression, type,
		type_sql, filters, reads_clock, family, hidden, owner)
	SELECT _family_trait.name, _family_trait.source, _family_trait.description,
	       compiled.expression, compiled.type, compiled.type_sql, compiled.filters,
	       compiled.reads_clock, _family_trait.family, true, f.owner
	  FROM segment.families f WHERE f.name = _family_trait.family
	ON CONFLICT ON CONSTRAINT trait_definitions_pkey DO UPDATE
	   SET definition = EXCLUDED.definition, expression = EXCLUDED.expression,
	       type = EXCLUDED.type, type_sql = EXCLUDED.type_sql, filters = EXCLUDED.filters,
	       reads_clock = EXCLUDED.reads_clock;
END
$$;

--
-- RFM
--

CREATE TABLE segment.rfm_maps (
	map text NOT NULL,
	position integer NOT NULL,
	segment text NOT NULL,
	r_min integer NOT NULL,
	r_max integer NOT NULL,
	f_min integer NOT NULL,
	f_max integer NOT NULL,
	m_min integer NOT NULL,
	m_max integer NOT NULL,
	PRIMARY KEY (map, position)
);
COMMENT ON TABLE segment.rfm_maps IS 'the built-in RFM maps, standard and rf_grid: cells in order, the first a customer falls in wins';
GRANT SELECT ON segment.rfm_maps TO PUBLIC;

INSERT INTO segment.rfm_maps VALUES
	('standard', 1, 'champions', 4, 5, 4, 5, 4, 5),
	('standard', 2, 'loyal_customers', 2, 5, 3, 5, 3, 5),
	('standard', 3, 'potential_loyalist', 3, 5, 1, 3, 1, 3),
	('standard', 4, 'new_customers', 4, 5, 1, 1, 1, 1),
	('standard', 5, 'promising', 3, 4, 1, 1, 1, 1),
	('standard', 6, 'need_attention', 2, 3, 2, 3, 2, 3),
	('standard', 7, 'about_to_sleep', 2, 3, 1, 2, 1, 2),
	('standard', 8, 'at_risk', 1, 2, 2, 5, 2, 5),
	('standard', 9, 'cant_lose_them', 1, 1, 4, 5, 4, 5),
	('standard', 10, 'lost', 1, 2, 1, 2, 1, 2),
	('rf_grid', 1, 'hibernating', 1, 2, 1, 2, 1, 5),
	('rf_grid', 2, 'at_risk', 1, 2, 3, 4, 1, 5),
	('rf_grid', 3, 'cant_lose', 1, 2, 5, 5, 1, 5),
	('rf_grid', 4, 'about_to_sleep', 3, 3, 1, 2, 1, 5),
	('rf_grid', 5, 'need_attention', 3, 3, 3, 3, 1, 5),
	('rf_grid', 6, 'loyal', 3, 4, 4, 5, 1, 5),
	('rf_grid', 7, 'promising', 4, 4, 1, 1, 1, 5),
	('rf_grid', 8, 'new', 5, 5, 1, 1, 1, 5),
	('rf_grid', 9, 'potential_loyalist', 4, 5, 2, 3, 1, 5),
	('rf_grid', 10, 'champions', 5, 5, 4, 5, 1, 5);

CREATE TABLE segment.rfm_models (
	name text PRIMARY KEY REFERENCES segment.families (name) ON DELETE CASCADE,
	bins integer NOT NULL,
	method text NOT NULL CHECK (method IN ('ntile', 'quantile')),
	map text NOT NULL,
	as_of timestamptz,
	reference_time timestamptz,
	customers bigint,
	r_edges float8[] NOT NULL DEFAULT '{}',
	r_keys bigint[] NOT NULL DEFAULT '{}',
	f_edges float8[] NOT NULL DEFAULT '{}',
	f_keys bigint[] NOT NULL DEFAULT '{}',
	m_edges float8[] NOT NULL DEFAULT '{}',
	m_keys bigint[] NOT NULL DEFAULT '{}',
	cells text[] NOT NULL,
	bounds integer[] NOT NULL
);
COMMENT ON TABLE segment.rfm_models IS 'RFM models: parameters, the bin edges of the last refresh, and the map''s cells';
SELECT pg_catalog.pg_extension_config_dump('segment.rfm_models', '');
REVOKE ALL ON segment.rfm_models FROM PUBLIC;
GRANT SELECT ON segment.rfm_models TO PUBLIC;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON segment.rfm_models FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();

CREATE FUNCTION segment._rfm_cell(model text, key bigint, last timestamptz, frequency bigint,
	monetary float8) RETURNS text
	AS 'MODULE_PATHNAME', 'segment_rfm_cell' LANGUAGE C STABLE;

CREATE FUNCTION segment._rfm_score(model text, key bigint, last timestamptz, frequency bigint,
	monetary float8, OUT recency integer, OUT r integer, OUT f integer, OUT m integer,
	OUT cell text)
	AS 'MODULE_PATHNAME', 'segment_rfm_score' LANGUAGE C STABLE;

CREATE FUNCTION segment._rfm_refresh_scores(model text,
	OUT segment text, OUT entered bigint, OUT exited bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'segment_rfm_refresh_scores' LANGUAGE C STRICT;

-- A map's cells, checked: a built-in map, or a table of the caller's with
-- the columns of segment.rfm_maps (less map).
CREATE FUNCTION segment._rfm_map_cells(map text, bins integer, caller_search_path text,
	OUT source text, OUT labels text[], OUT bounds integer[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	tbl regclass;
	cell record;
	n integer := 0;
	found_cells boolean := false;
BEGIN
	labels := '{}';
	bounds := '{}';
	IF map IN ('standard', 'rf_grid') THEN
		IF bins <> 5 THEN
			RAISE EXCEPTION 'map "%" is defined for 5 bins, not %', map, bins
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'Use bins => 5, or a map table of your own.';
		END IF;
		source := map;
		FOR cell IN SELECT * FROM segment.rfm_maps m WHERE m.map = _rfm_map_cells.map ORDER BY position LOOP
			labels := labels || cell.segment;
			bounds := bounds || ARRAY[cell.r_min, cell.r_max, cell.f_min, cell.f_max, cell.m_min, cell.m_max];
		END LOOP;
		RETURN;
	END IF;

	PERFORM pg_catalog.set_config('search_path', caller_search_path, true);
	tbl := pg_catalog.to_regclass(map);
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'RFM map "%" does not exist', map
			USING ERRCODE = 'undefined_object',
			      HINT = 'Use ''standard'', ''rf_grid'', or the name of a table with the columns segment, position, r_min, r_max, f_min, f_max, m_min and m_max.';
	END IF;
	IF NOT pg_catalog.has_table_privilege(segment._caller(), tbl, 'SELECT') THEN
		RAISE EXCEPTION 'permission denied for table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	source := tbl::text;
	BEGIN
		FOR cell IN EXECUTE pg_catalog.format(
			'SELECT segment::text AS segment, r_min::integer AS r_min, r_max::integer AS r_max,'
			' f_min::integer AS f_min, f_max::integer AS f_max, m_min::integer AS m_min,'
			' m_max::integer AS m_max FROM %s ORDER BY position', tbl) LOOP
			n := n + 1;
			IF cell.segment IS NULL OR pg_catalog.btrim(cell.segment) = '' OR cell.segment = 'others'
			   OR cell.segment = ANY (labels) THEN
				RAISE EXCEPTION 'invalid cell name in RFM map %: %', tbl,
					coalesce(pg_catalog.quote_literal(cell.segment), 'NULL')
					USING ERRCODE = 'invalid_parameter_value',
					      DETAIL = 'Cell names must be distinct, not empty, and not "others", which holds the customers no cell takes.';
			END IF;
			IF cell.r_min IS NULL OR cell.r_max IS NULL OR cell.f_min IS NULL OR cell.f_max IS NULL
			   OR cell.m_min IS NULL OR cell.m_max IS NULL
			   OR NOT (1 <= cell.r_min AND cell.r_min <= cell.r_max AND cell.r_max <= bins
			           AND 1 <= cell.f_min AND cell.f_min <= cell.f_max AND cell.f_max <= bins
			           AND 1 <= cell.m_min AND cell.m_min <= cell.m_max AND cell.m_max <= bins) THEN
				RAISE EXCEPTION 'invalid bounds of cell "%" in RFM map %', cell.segment, tbl
					USING ERRCODE = 'invalid_parameter_value',
					      DETAIL = pg_catalog.format('Each bound is a score from 1 to %s, and each minimum is at most its maximum.', bins);
			END IF;
			labels := labels || cell.segment;
			bounds := bounds || ARRAY[cell.r_min, cell.r_max, cell.f_min, cell.f_max, cell.m_min, cell.m_max];
		END LOOP;
	EXCEPTION WHEN undefined_column THEN
		RAISE EXCEPTION 'table % is not an RFM map', tbl
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'An RFM map has the columns segment, position, r_min, r_max, f_min, f_max, m_min and m_max.';
	END;
	IF n = 0 THEN
		RAISE EXCEPTION 'RFM map % has no cells', tbl USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;

-- Make the model's cells match its map: a segment per cell, plus others.
CREATE FUNCTION segment._rfm_sync_cells(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	model segment.rfm_models;
	f segment.families;
	labels text[];
	gone text[];
BEGIN
	SELECT * INTO model FROM segment.rfm_models m WHERE m.name = _rfm_sync_cells.name;
	SELECT * INTO f FROM segment.families fam WHERE fam.name = _rfm_sync_cells.name;
	labels := model.cells || 'others'::text;
	gone := ARRAY(SELECT d.name FROM segment.definitions d
	               WHERE d.family = _rfm_sync_cells.name AND NOT d.label = ANY (labels));
	IF pg_catalog.cardinality(gone) > 0 THEN
		IF EXISTS (SELECT FROM segment.definitions d WHERE d.depends_on && gone) THEN
			RAISE EXCEPTION 'cannot remove cells of RFM model "%" that segments read', name
				USING ERRCODE = 'dependent_objects_still_exist';
		END IF;
		PERFORM segment._forget(gone);
		DELETE FROM segment.flips fl WHERE fl.segment = ANY (gone);
		DELETE FROM segment.definitions d WHERE d.name = ANY (gone);
	END IF;
	INSERT INTO segment.definitions (name, kind, rule, owner, family, label, traits,
		event_dependent, reads_clock)
	SELECT _rfm_sync_cells.name || ':' || l.label, 'rfm',
	       CASE WHEN l.i > pg_catalog.cardinality(model.cells) THEN 'in no other cell'
	            ELSE pg_catalog.format('R%s F%s M%s',
	                segment._rfm_range(model.bounds[6 * l.i - 5], model.bounds[6 * l.i - 4]),
	                segment._rfm_range(model.bounds[6 * l.i - 3], model.bounds[6 * l.i - 2]),
	                segment._rfm_range(model.bounds[6 * l.i - 1], model.bounds[6 * l.i])) END,
	       f.owner, _rfm_sync_cells.name, l.label, f.traits, true, model.as_of IS NULL
	  FROM pg_catalog.unnest(labels) WITH ORDINALITY AS l(label, i)
	ON CONFLICT ON CONSTRAINT definitions_pkey DO UPDATE SET rule = EXCLUDED.rule;
	IF EXISTS (SELECT FROM segment.definitions d
	            WHERE d.name = ANY (ARRAY(SELECT _rfm_sync_cells.name || ':' || l
	                                      FROM pg_catalog.unnest(labels) l))
	              AND d.family IS DISTINCT FROM _rfm_sync_cells.name) THEN
		RAISE EXCEPTION 'a segment named like a cell of RFM model "%" exists', name
			USING ERRCODE = 'duplicate_object';
	END IF;
END
$$;

CREATE FUNCTION segment._rfm_range(lo integer, hi integer) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT CASE WHEN lo = hi THEN lo::text ELSE lo || '-' || hi END
$$;

-- Re-derive a model from the whole base: the map as it is now, the edges,
-- every customer's cell.
CREATE FUNCTION segment._rfm_refresh(name text,
	OUT segment text, OUT entered bigint, OUT exited bigint)
RETURNS SETOF record
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	model segment.rfm_models;
	cells record;
BEGIN
	SELECT * INTO model FROM segment.rfm_models m WHERE m.name = _rfm_refresh.name;
	SELECT * INTO cells FROM segment._rfm_map_cells(model.map, model.bins, 'pg_catalog');
	IF cells.labels IS DISTINCT FROM model.cells OR cells.bounds IS DISTINCT FROM model.bounds THEN
		UPDATE segment.rfm_models m SET cells = cells.labels, bounds = cells.bounds
		 WHERE m.name = _rfm_refresh.name;
		PERFORM segment._rfm_sync_cells(name);
	END IF;
	RETURN QUERY SELECT * FROM segment._rfm_refresh_scores(name);
END
$$;

CREATE FUNCTION segment._create_rfm(name text, bins integer, method text, map text,
	as_of timestamptz, events regclass, caller_search_path text,
	OUT segment text, OUT customers bigint)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src segment.event_sources;
	cells record;
	at_type regtype;
	last_expr text;
	purchase text;
BEGIN
	PERFORM segment._check_family_name(name, 'RFM model');
	PERFORM segment._customers();
	IF bins IS NULL OR bins < 1 OR bins > 100 THEN
		RAISE EXCEPTION 'invalid number of bins: %', coalesce(bins::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use from 1 to 100 bins.';
	END IF;
	IF method IS NULL OR method NOT IN ('ntile', 'quantile') THEN
		RAISE EXCEPTION 'invalid RFM method: %', coalesce(pg_catalog.quote_literal(method), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The method is ''ntile'' (equal-count bins) or ''quantile'' (bins between quantiles).';
	END IF;
	IF map IS NULL THEN
		RAISE EXCEPTION 'map must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	src := segment._event_source(events, 'amount');
	SELECT * INTO cells FROM segment._rfm_map_cells(map, bins, caller_search_path);

	-- a purchase is an event with an amount, up to as_of when given
	at_type := segment._column_type(src.relid, src.at_column);
	purchase := pg_catalog.format('%I IS NOT NULL', src.amount_column);
	IF as_of IS NOT NULL THEN
		purchase := purchase || pg_catalog.format(' AND %s <= %L::timestamptz',
			segment._utc_time(pg_catalog.quote_ident(src.at_column), at_type), as_of);
	END IF;
	last_expr := segment._utc_time(pg_catalog.format('(max(%I) FILTER (WHERE %s))', src.at_column, purchase),
	                               at_type);

	INSERT INTO segment.families (name, kind, source, expression, traits, description, owner,
		refresh_every)
	VALUES (name, 'rfm', src.relid,
		pg_catalog.format('segment._rfm_cell(%L, c.%I, c.%I, c.%I, c.%I)', name,
			(SELECT key_column FROM segment.customer_source),
			name || ':last', name || ':frequency', name || ':monetary'),
		ARRAY[name || ':last', name || ':frequency', name || ':monetary'],
		pg_catalog.format('RFM scores in %s bins by %s, cells of map %s', bins, method, cells.source),
		segment._caller(),
		CASE WHEN as_of IS NULL THEN interval '1 day' END);
	INSERT INTO segment.rfm_models (name, bins, method, map, as_of, cells, bounds)
	VALUES (name, bins, method, cells.source, as_of, cells.labels, cells.bounds);
	PERFORM segment._family_trait(name, name || ':last', src.relid, last_expr, 'last purchase');
	PERFORM segment._family_trait(name, name || ':frequency', src.relid,
		pg_catalog.format('count(*) FILTER (WHERE %s)', purchase), 'purchases');
	PERFORM segment._family_trait(name, name || ':monetary', src.relid,
		pg_catalog.format('(sum(%I) FILTER (WHERE %s))::numeric::float8', src.amount_column, purchase),
		'total amount');
	PERFORM segment._rfm_sync_cells(name);

	PERFORM segment._rfm_refresh_scores(name);
	UPDATE segment.families f SET refreshed_at = segment.reference_time() WHERE f.name = _create_rfm.name;
	UPDATE segment.definitions d SET refreshed_at = segment.reference_time() WHERE d.family = _create_rfm.name;
	RETURN QUERY
	SELECT d.name, @extschema@.cardinality(segment.members(d.name))
	  FROM segment.definitions d
	  JOIN pg_catalog.unnest(cells.labels || 'others'::text) WITH ORDINALITY AS l(label, i)
	    ON d.name = _create_rfm.name || ':' || l.label
	 ORDER BY l.i;
END
$$;

CREATE FUNCTION segment.create_rfm(name text, bins integer DEFAULT 5, method text DEFAULT 'ntile',
	map text DEFAULT 'standard', as_of timestamptz DEFAULT NULL, events regclass DEFAULT NULL,
	OUT segment text, OUT customers bigint)
RETURNS SETOF record
LANGUAGE sql AS $$
	SELECT * FROM segment._create_rfm(name, bins, method, map, as_of, events,
	                                  pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION segment.create_rfm(text, integer, text, text, timestamptz, regclass) IS 'score customers'' recency, frequency and monetary value in bins and make a segment of each cell of a map, named name:cell';

-- Per customer with a purchase: the values and scores, against the edges
-- of the last refresh.  Needs SELECT on the customer and event tables.
CREATE FUNCTION segment.rfm_scores(name text,
	OUT customer_id bigint, OUT recency integer, OUT frequency bigint, OUT monetary numeric,
	OUT r integer, OUT f integer, OUT m integer, OUT segment text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	model segment.rfm_models;
	fam segment.families;
	src segment.event_sources;
	cust segment.customer_source;
	at_type regtype;
	purchase text;
BEGIN
	SELECT * INTO model FROM segment.rfm_models rm WHERE rm.name = rfm_scores.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'RFM model "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
	SELECT * INTO fam FROM segment.families fm WHERE fm.name = rfm_scores.name;
	SELECT * INTO src FROM segment.event_sources s WHERE s.relid = fam.source;
	SELECT * INTO cust FROM segment.customer_source;
	at_type := segment._column_type(src.relid, src.at_column);
	purchase := pg_catalog.format('e.%I IS NOT NULL', src.amount_column);
	IF model.as_of IS NOT NULL THEN
		purchase := purchase || pg_catalog.format(' AND %s <= %L::timestamptz',
			segment._utc_time('e.' || pg_catalog.quote_ident(src.at_column), at_type), model.as_of);
	END IF;
	RETURN QUERY EXECUTE pg_catalog.format(
		'SELECT c.%1$I::bigint, s.recency, t.frequency, t.monetary, s.r, s.f, s.m, $1 || '':'' || s.cell'
		'  FROM ONLY %2$s c'
		'  JOIN (SELECT e.%3$I AS k, %4$s AS last, count(*) AS frequency, sum(e.%5$I)::numeric AS monetary'
		'          FROM ONLY %6$s e WHERE %7$s GROUP BY e.%3$I) t ON t.k = c.%1$I,'
		'  LATERAL segment._rfm_score($1, c.%1$I, t.last, t.frequency, t.monetary::float8) s'
		' ORDER BY 1',
		cust.key_column, cust.relid, src.customer_column,
		segment._utc_time(pg_catalog.format('max(e.%I)', src.at_column), at_type),
		src.amount_column, src.relid, purchase)
	USING name;
END
$$;
COMMENT ON FUNCTION segment.rfm_scores(text) IS 'per customer with a purchase: recency in days, frequency, monetary, the scores r, f, m and the cell''s segment';

-- Counts per recency x frequency cell of every RFM model, zeros included,
-- for a heat map.
CREATE FUNCTION segment._rfm_grid(name text, OUT r integer, OUT f integer, OUT customers bigint)
RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT gr.r, gf.f, count(s.customer_id)
	  FROM segment.rfm_models m
	 CROSS JOIN pg_catalog.generate_series(1, m.bins) gr(r)
	 CROSS JOIN pg_catalog.generate_series(1, m.bins) gf(f)
	  LEFT JOIN segment.rfm_scores(name) s ON s.r = gr.r AND s.f = gf.f
	 WHERE m.name = _rfm_grid.name
	 GROUP BY gr.r, gf.f
	 ORDER BY gr.r, gf.f
$$;

CREATE VIEW segment.rfm_grid AS
	SELECT m.name AS model, g.r, g.f, g.customers
	  FROM segment.rfm_models m, LATERAL segment._rfm_grid(m.name) g;
COMMENT ON VIEW segment.rfm_grid IS 'customers per recency x frequency score of each RFM model, for a heat map';
COMMENT ON COLUMN segment.rfm_grid.model IS 'the RFM model';
COMMENT ON COLUMN segment.rfm_grid.r IS 'recency score (bins: most recent)';
COMMENT ON COLUMN segment.rfm_grid.f IS 'frequency score (bins: most purchases)';
COMMENT ON COLUMN segment.rfm_grid.customers IS 'customers with these scores';
GRANT SELECT ON segment.rfm_grid TO PUBLIC;

--
-- Lifetime value
--

CREATE TYPE segment.purchase_summary AS (
	purchase_days integer,
	first_day date,
	last_day date,
	total float8,
	repeat_total float8
);
COMMENT ON TYPE segment.purchase_summary IS 'a customer''s purchases: days with a purchase, the first and last, the total, and the total of the days after the first';

CREATE FUNCTION segment.purchase_days_trans(internal, date, float8) RETURNS internal
	AS 'MODULE_PATHNAME', 'segment_purchase_days_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment.purchase_days_final(internal) RETURNS segment.purchase_summary
	AS 'MODULE_PATHNAME', 'segment_purchase_days_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE segment.purchase_days(day date, amount float8) (
	SFUNC = segment.purchase_days_trans,
	STYPE = internal,
	FINALFUNC = segment.purchase_days_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.purchase_days(date, float8) IS 'purchase summary of one customer: purchases on one day are one purchase; rows with a NULL are skipped';

CREATE TABLE segment.ltv_models (
	name text PRIMARY KEY REFERENCES segment.families (name) ON DELETE CASCADE,
	period text NOT NULL CHECK (period IN ('day', 'week', 'month', 'year')),
	calibration_end timestamptz,
	horizon integer NOT NULL CHECK (horizon >= 0),
	discount float8 NOT NULL,
	tiers float8[] NOT NULL,
	calibration_day date,
	bgnbd segment.bgnbd_model,
	gammagamma segment.gammagamma_model,
	thresholds float8[],
	customers bigint
);
COMMENT ON TABLE segment.ltv_models IS 'lifetime value models: parameters, the fitted BG/NBD and Gamma-Gamma models, and the value thresholds of the tiers';
SELECT pg_catalog.pg_extension_config_dump('segment.ltv_models', '');
REVOKE ALL ON segment.ltv_models FROM PUBLIC;
GRANT SELECT ON segment.ltv_models TO PUBLIC;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON segment.ltv_models FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();

CREATE FUNCTION segment._ltv_summary(model text, s segment.purchase_summary,
	OUT x float8, OUT t_x float8, OUT t float8, OUT m float8, OUT historical_value float8)
	AS 'MODULE_PATHNAME', 'segment_ltv_summary' LANGUAGE C STABLE;
CREATE FUNCTION segment._ltv_clv(model text, s segment.purchase_summary) RETURNS float8
	AS 'MODULE_PATHNAME', 'segment_ltv_clv' LANGUAGE C STABLE;
CREATE FUNCTION segment._ltv_in_tier(model text, tier integer, s segment.purchase_summary)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'segment_ltv_in_tier' LANGUAGE C STABLE;

-- A tier's label: top_1%, top_10%, top_0.5%.
CREATE FUNCTION segment._ltv_tier_label(share float8) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT 'top_' || pg_catalog.rtrim(pg_catalog.rtrim(pg_catalog.to_char(share * 100, 'FM990.9999'), '0'), '.') || '%'
$$;

-- The purchase summary trait of a model, up to its calibration day.
CREATE FUNCTION segment._ltv_trait(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	model segment.ltv_models;
	src segment.event_sources;
	day text;
BEGIN
	SELECT * INTO model FROM segment.ltv_models m WHERE m.name = _ltv_trait.name;
	SELECT s.* INTO src FROM segment.event_sources s JOIN segment.families f ON f.source = s.relid
	 WHERE f.name = _ltv_trait.name;
	day := segment._utc_day(pg_catalog.quote_ident(src.at_column),
	                        segment._column_type(src.relid, src.at_column));
	PERFORM segment._family_trait(name, name || ':purchases', src.relid,
		pg_catalog.format('segment.purchase_days(%s, %I::numeric::float8) FILTER (WHERE %I IS NOT NULL AND %s <= %L::date)',
			day, src.amount_column, src.amount_column, day, model.calibration_day),
		pg_catalog.format('purchase days up to %s', model.calibration_day));
END
$$;

-- Re-fit a model on the whole base and re-derive its tiers.
CREATE FUNCTION segment._ltv_refresh(name text,
	OUT segment text, OUT entered bigint, OUT exited bigint)
RETURNS SETOF record
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	model segment.ltv_models;
	src segment.event_sources;
	cust segment.customer_source;
	fam segment.families;
	cal date;
	summaries text;
	bg segment.bgnbd_model;
	gg segment.gammagamma_model;
	skipped bigint;
	clvs float8[];
	n bigint;
	tier_thresholds float8[] := '{}';
	share float8;
BEGIN
	SELECT * INTO model FROM segment.ltv_models m WHERE m.name = _ltv_refresh.name;
	SELECT * INTO fam FROM segment.families f WHERE f.name = _ltv_refresh.name;
	SELECT * INTO src FROM segment.event_sources s WHERE s.relid = fam.source;
	SELECT * INTO cust FROM segment.customer_source;
	cal := (coalesce(model.calibration_end, segment.reference_time()) AT TIME ZONE 'UTC')::date;
	IF model.calibration_day IS DISTINCT FROM cal THEN
		UPDATE segment.ltv_models m SET calibration_day = cal WHERE m.name = _ltv_refresh.name;
		PERFORM segment._ltv_trait(name);
	END IF;

	-- every customer's summary, once
	summaries := pg_catalog.format(
		'SELECT v.* FROM ONLY %1$s c'
		'  JOIN (SELECT e.%2$I AS k, segment.purchase_days(%3$s, e.%4$I::numeric::float8) AS s'
		'          FROM ONLY %5$s e WHERE e.%4$I IS NOT NULL AND %3$s <= %6$L::date'
		'         GROUP BY e.%2$I) t ON t.k = c.%7$I,'
		'  LATERAL segment._ltv_summary(%8$L, t.s) v',
		cust.relid, src.customer_column,
		segment._utc_day('e.' || pg_catalog.quote_ident(src.at_column),
		                 segment._column_type(src.relid, src.at_column)),
		src.amount_column, src.relid, cal, cust.key_column, name);
	EXECUTE pg_catalog.format('CREATE TEMP TABLE pg_temp.segment_ltv_summaries ON COMMIT DROP AS %s',
	                          summaries);
	IF NOT EXISTS (SELECT FROM pg_temp.segment_ltv_summaries) THEN
		RAISE EXCEPTION 'too few customers to fit the BG/NBD model'
			USING ERRCODE = 'data_exception',
			      DETAIL = pg_catalog.format('No customer has a purchase up to %s.', cal);
	END IF;
	bg := (SELECT segment.bgnbd_fit(s.x, s.t_x, s.t) FROM pg_temp.segment_ltv_summaries s);
	SELECT count(*) INTO skipped FROM pg_temp.segment_ltv_summaries s WHERE s.x > 0 AND s.m <= 0;
	IF skipped > 0 THEN
		RAISE NOTICE 'customers left out of the spend model of lifetime value model "%": %', name, skipped
			USING DETAIL = 'Their repeat purchases are worth zero or less on average, and the Gamma-Gamma model needs positive amounts: they get no predicted value.';
	END IF;
	gg := (SELECT segment.gammagamma_fit(s.x, s.m) FROM pg_temp.segment_ltv_summaries s
	        WHERE s.x = 0 OR s.m > 0);
	UPDATE segment.ltv_models m SET bgnbd = bg, gammagamma = gg
	 WHERE m.name = _ltv_refresh.name;

	-- a tier's threshold: the value of its last customer, by value
	SELECT pg_catalog.array_agg(v ORDER BY v DESC), count(*) INTO clvs, n
	  FROM (SELECT segment.clv(bg, gg, s.x, s.t_x, s.t, coalesce(s.m, 0), model.horizon,
	                           model.discount) AS v
	          FROM pg_temp.segment_ltv_summaries s WHERE s.x = 0 OR s.m > 0) c;
	FOREACH share IN ARRAY model.tiers LOOP
		-- in numeric: as float8, 0.07 * 100 is a hair above 7
		tier_thresholds := tier_thresholds || CASE WHEN n = 0 THEN 'Infinity'::float8
		                                 ELSE clvs[GREATEST(1, pg_catalog.ceil(share::numeric * n)::integer)] END;
	END LOOP;
	UPDATE segment.ltv_models m SET thresholds = tier_thresholds, customers = n
	 WHERE m.name = _ltv_refresh.name;
	DROP TABLE pg_temp.segment_ltv_summaries;

	RETURN QUERY SELECT * FROM segment._refresh(
		ARRAY(SELECT d.name FROM segment.definitions d WHERE d.family = _ltv_refresh.name));
END
$$;

CREATE FUNCTION segment._create_ltv(name text, period text, calibration_end timestamptz,
	horizon integer, discount float8, tiers float8[], events regclass,
	OUT segment text, OUT customers bigint)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src segment.event_sources;
	share float8;
	i integer := 0;
BEGIN
	PERFORM segment._check_family_name(name, 'lifetime value model');
	PERFORM segment._customers();
	IF period IS NULL OR period NOT IN ('day', 'week', 'month', 'year') THEN
		RAISE EXCEPTION 'invalid period: %', coalesce(pg_catalog.quote_literal(period), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The period is one of day, week, month (365.25 / 12 days) or year (365.25 days).';
	END IF;
	IF horizon IS NULL OR horizon < 0 THEN
		RAISE EXCEPTION 'invalid horizon: %', coalesce(horizon::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'The horizon is a number of periods, 0 or more.';
	END IF;
	IF discount IS NULL OR discount = 'NaN' OR discount <= -1 OR discount = 'Infinity' THEN
		RAISE EXCEPTION 'invalid discount: %', coalesce(discount::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The discount is a rate per period, greater than -1, such as 0.01.';
	END IF;
	IF tiers IS NULL OR pg_catalog.cardinality(tiers) = 0
	   OR EXISTS (SELECT FROM pg_catalog.unnest(tiers) t WHERE t IS NULL OR t = 'NaN' OR t <= 0 OR t > 1)
	   OR (SELECT count(DISTINCT t) FROM pg_catalog.unnest(tiers) t) <> pg_catalog.cardinality(tiers) THEN
		RAISE EXCEPTION 'invalid tiers: %', coalesce(tiers::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Tiers are distinct shares of the customers, each above 0 and at most 1, such as {0.01,0.1}.';
	END IF;
	IF (SELECT count(DISTINCT segment._ltv_tier_label(t)) FROM pg_catalog.unnest(tiers) t)
	   <> pg_catalog.cardinality(tiers) THEN
		RAISE EXCEPTION 'invalid tiers: %', tiers
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'Two tiers would have the same segment name: names give the share in percent to four decimals.';
	END IF;
	src := segment._event_source(events, 'amount');

	INSERT INTO segment.families (name, kind, source, traits, description, owner, refresh_every)
	VALUES (name, 'ltv', src.relid, ARRAY[name || ':purchases'],
		pg_catalog.format('BG/NBD and Gamma-Gamma lifetime value over %s %ss', horizon, period),
		segment._caller(), CASE WHEN calibration_end IS NULL THEN interval '1 day' END);
	INSERT INTO segment.ltv_models (name, period, calibration_end, horizon, discount, tiers,
		calibration_day)
	VALUES (name, period, calibration_end, horizon, discount, tiers,
		(coalesce(calibration_end, segment.reference_time()) AT TIME ZONE 'UTC')::date);
	PERFORM segment._ltv_trait(name);
	FOREACH share IN ARRAY tiers LOOP
		i := i + 1;
		INSERT INTO segment.definitions (name, kind, rule, expression, owner, family, label, traits,
			event_dependent, reads_clock)
		SELECT _create_ltv.name || ':' || segment._ltv_tier_label(share), 'ltv',
		       pg_catalog.format('predicted lifetime value in the top %s%% (%s %ss)',
		           pg_catalog.rtrim(pg_catalog.rtrim(pg_catalog.to_char(share * 100, 'FM990.9999'), '0'), '.'),
		           horizon, period),
		       pg_catalog.format('segment._ltv_in_tier(%L, %s, c.%I)', _create_ltv.name, i,
		                         _create_ltv.name || ':purchases'),
		       f.owner, _create_ltv.name, segment._ltv_tier_label(share), f.traits, true,
		       calibration_end IS NULL
		  FROM segment.families f WHERE f.name = _create_ltv.name;
	END LOOP;

	PERFORM segment._ltv_refresh(name);
	UPDATE segment.families f SET refreshed_at = segment.reference_time() WHERE f.name = _create_ltv.name;
	UPDATE segment.definitions d SET refreshed_at = segment.reference_time() WHERE d.family = _create_ltv.name;
	RETURN QUERY
	SELECT d.name, @extschema@.cardinality(segment.members(d.name))
	  FROM segment.definitions d WHERE d.family = _create_ltv.name ORDER BY d.name;
END
$$;

CREATE FUNCTION segment.create_ltv(name text, period text DEFAULT 'week',
	calibration_end timestamptz DEFAULT NULL, horizon integer DEFAULT 52,
	discount float8 DEFAULT 0.0, tiers float8[] DEFAULT '{0.01,0.1}',
	events regclass DEFAULT NULL, OUT segment text, OUT customers bigint)
RETURNS SETOF record
LANGUAGE sql AS $$
	SELECT * FROM segment._create_ltv(name, period, calibration_end, horizon, discount, tiers, events)
$$;
COMMENT ON FUNCTION segment.create_ltv(text, text, timestamptz, integer, float8, float8[], regclass) IS 'fit BG/NBD and Gamma-Gamma models to the customers'' purchases and make a segment of each value tier, named name:top_1% ...';

-- Per customer with a purchase in the calibration period: the summary,
-- the predictions of the model fitted at the last refresh, and the tier.
CREATE FUNCTION segment.ltv_scores(name text,
	OUT customer_id bigint, OUT x float8, OUT t_x float8, OUT t float8, OUT m float8,
	OUT p_alive float8, OUT expected_purchases float8, OUT expected_spend float8,
	OUT clv float8, OUT historical_value float8, OUT tier text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	model segment.ltv_models;
	fam segment.families;
	src segment.event_sources;
	cust segment.customer_source;
	day text;
BEGIN
	SELECT * INTO model FROM segment.ltv_models lm WHERE lm.name = ltv_scores.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'lifetime value model "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
	SELECT * INTO fam FROM segment.families fm WHERE fm.name = ltv_scores.name;
	SELECT * INTO src FROM segment.event_sources s WHERE s.relid = fam.source;
	SELECT * INTO cust FROM segment.customer_source;
	day := segment._utc_day('e.' || pg_catalog.quote_ident(src.at_column),
	                        segment._column_type(src.relid, src.at_column));
	RETURN QUERY EXECUTE pg_catalog.format(
		'SELECT c.%1$I::bigint, v.x, v.t_x, v.t, v.m,'
		'       segment.bgnbd_p_alive($2, v.x, v.t_x, v.t),'
		'       segment.bgnbd_expected_purchases($2, v.x, v.t_x, v.t, $4),'
		'       CASE WHEN v.x = 0 OR v.m > 0 THEN segment.gammagamma_expected_spend($3, v.x, coalesce(v.m, 0)) END,'
		'       segment._ltv_clv($1, t.s), v.historical_value,'
		'       (SELECT segment._ltv_tier_label(tr.share) FROM ROWS FROM (pg_catalog.unnest($5), pg_catalog.unnest($6)) AS tr(share, threshold)'
		'         WHERE segment._ltv_clv($1, t.s) >= tr.threshold ORDER BY tr.share LIMIT 1)'
		'  FROM ONLY %2$s c'
		'  JOIN (SELECT e.%3$I AS k, segment.purchase_days(%4$s, e.%5$I::numeric::float8) AS s'
		'          FROM ONLY %6$s e WHERE e.%5$I IS NOT NULL AND %4$s <= %7$L::date'
		'         GROUP BY e.%3$I) t ON t.k = c.%1$I,'
		'  LATERAL segment._ltv_summary($1, t.s) v'
		' ORDER BY 1',
		cust.key_column, cust.relid, src.customer_column, day, src.amount_column, src.relid,
		model.calibration_day)
	USING name, model.bgnbd, model.gammagamma, model.horizon::float8, model.tiers, model.thresholds;
END
$$;
COMMENT ON FUNCTION segment.ltv_scores(text) IS 'per customer: the summary (x, t_x, t, m), P(alive), expected purchases and spend over the horizon, predicted and historical value, and the tier';

-- What customers have spent, for every customer with a purchase.
CREATE FUNCTION segment.customer_value(events regclass DEFAULT NULL,
	OUT customer_id bigint, OUT purchases bigint, OUT purchase_days bigint, OUT total numeric,
	OUT mean_order numeric, OUT first_purchase timestamptz, OUT last_purchase timestamptz,
	OUT tenure_days integer)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src segment.event_sources;
	cust segment.customer_source;
	at_type regtype;
BEGIN
	src := segment._event_source(events, 'amount');
	SELECT * INTO cust FROM segment.customer_source;
	at_type := segment._column_type(src.relid, src.at_column);
	RETURN QUERY EXECUTE pg_catalog.format(
		'SELECT c.%1$I::bigint, count(*), count(DISTINCT %2$s), sum(e.%3$I)::numeric,'
		'       avg(e.%3$I)::numeric, min(%4$s), max(%4$s),'
		'       (max(%2$s) - min(%2$s))::integer'
		'  FROM ONLY %5$s c JOIN ONLY %6$s e ON e.%7$I = c.%1$I'
		' WHERE e.%3$I IS NOT NULL GROUP BY c.%1$I ORDER BY 1',
		cust.key_column, segment._utc_day('e.' || pg_catalog.quote_ident(src.at_column), at_type),
		src.amount_column, segment._utc_time('e.' || pg_catalog.quote_ident(src.at_column), at_type),
		cust.relid, src.relid, src.customer_column);
END
$$;
COMMENT ON FUNCTION segment.customer_value(regclass) IS 'historical value per customer: purchases, purchase days, total, mean order, first and last purchase, tenure in days';

COMMENT ON FUNCTION segment._utc_time(text, regtype) IS 'internal: SQL for an event time as timestamptz, in UTC';
COMMENT ON FUNCTION segment._utc_day(text, regtype) IS 'internal: SQL for an event time as a day, in UTC';
COMMENT ON FUNCTION segment._family_trait(text, text, regclass, text, text) IS 'internal: a hidden trait of a model or cohort set';
COMMENT ON FUNCTION segment._rfm_cell(text, bigint, timestamptz, bigint, float8) IS 'internal: a customer''s RFM cell, against the model''s kept edges';
COMMENT ON FUNCTION segment._rfm_score(text, bigint, timestamptz, bigint, float8) IS 'internal: a customer''s RFM values and scores, against the kept edges';
COMMENT ON FUNCTION segment._rfm_refresh_scores(text) IS 'internal: score every customer, keep the edges, make the cells';
COMMENT ON FUNCTION segment._rfm_map_cells(text, integer, text) IS 'internal: the cells of an RFM map, checked';
COMMENT ON FUNCTION segment._rfm_sync_cells(text) IS 'internal: one segment per cell of an RFM model''s map';
COMMENT ON FUNCTION segment._rfm_range(integer, integer) IS 'internal: a range of scores as text';
COMMENT ON FUNCTION segment._rfm_refresh(text) IS 'internal: re-derive an RFM model from the whole base';
COMMENT ON FUNCTION segment._create_rfm(text, integer, text, text, timestamptz, regclass, text) IS 'internal: the definer part of segment.create_rfm';
COMMENT ON FUNCTION segment._rfm_grid(text) IS 'internal: the R x F grid of one RFM model';
COMMENT ON FUNCTION segment._ltv_summary(text, segment.purchase_summary) IS 'internal: a customer''s x, t_x, T, m and total in a model''s period';
COMMENT ON FUNCTION segment._ltv_clv(text, segment.purchase_summary) IS 'internal: a customer''s predicted lifetime value under a stored model';
COMMENT ON FUNCTION segment._ltv_in_tier(text, integer, segment.purchase_summary) IS 'internal: does a customer''s value reach a tier''s threshold';
COMMENT ON FUNCTION segment._ltv_tier_label(float8) IS 'internal: a value tier''s label';
COMMENT ON FUNCTION segment._ltv_trait(text) IS 'internal: the purchase summary trait of a lifetime value model';
COMMENT ON FUNCTION segment._ltv_refresh(text) IS 'internal: re-fit a lifetime value model and re-derive its tiers';
COMMENT ON FUNCTION segment._create_ltv(text, text, timestamptz, integer, float8, float8[], regclass) IS 'internal: the definer part of segment.create_ltv';
COMMENT ON FUNCTION segment.purchase_days_trans(internal, date, float8) IS 'internal: transition function of segment.purchase_days';
COMMENT ON FUNCTION segment.purchase_days_final(internal) IS 'internal: final function of segment.purchase_days';

REVOKE EXECUTE ON FUNCTION segment._rfm_refresh_scores(text), segment._rfm_refresh(text),
	segment._rfm_sync_cells(text), segment._ltv_refresh(text), segment._ltv_trait(text),
	segment._family_trait(text, text, regclass, text, text) FROM PUBLIC;
