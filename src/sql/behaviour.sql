-- Behavioural segments: computed traits over events, cohorts, and the
-- refresh of segments whose time windows drift with the clock.  Part of
-- segment--0.1.0.sql (see the Makefile).  See doc/behaviour.md.

--
-- Traits
--

-- The only tracked event table, or the one named; an error when there is
-- no such choice.  need: a column the caller needs ('kind', 'amount').
CREATE FUNCTION segment._event_source(events regclass, need text DEFAULT NULL)
RETURNS segment.event_sources
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src segment.event_sources;
	n integer;
BEGIN
	IF events IS NULL THEN
		SELECT count(*) INTO n FROM segment.event_sources;
		IF n = 0 THEN
			RAISE EXCEPTION 'no event table is tracked'
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = 'Call segment.track_events() first.';
		ELSIF n > 1 THEN
			RAISE EXCEPTION 'more than one event table is tracked'
				USING ERRCODE = 'ambiguous_parameter',
				      HINT = 'Name the table with the events argument.';
		END IF;
		SELECT * INTO src FROM segment.event_sources;
	ELSE
		SELECT * INTO src FROM segment.event_sources s WHERE s.relid = events;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'table % is not a tracked event table', events
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = 'Call segment.track_events() first.';
		END IF;
	END IF;
	IF need = 'kind' AND src.kind_column IS NULL THEN
		RAISE EXCEPTION 'event table % has no kind column', src.relid
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Track it with the kind argument of segment.track_events().';
	ELSIF need = 'amount' AND src.amount_column IS NULL THEN
		RAISE EXCEPTION 'event table % has no amount column', src.relid
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Track it with the amount argument of segment.track_events().';
	END IF;
	IF NOT pg_catalog.has_table_privilege(segment._caller(), src.relid, 'SELECT') THEN
		RAISE EXCEPTION 'permission denied for table %', src.relid
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN src;
END
$$;

-- (Re)create the view of trait values: customer_id and one column per
-- trait, in the order they were created, so that a new trait only adds a
-- column and views built on this one keep working.  Without traits there
-- is no view: it would only stand in the way of dropping the tables.
CREATE FUNCTION segment._traits_view(dropping boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	query text;
	t segment.trait_definitions;
BEGIN
	IF EXISTS (SELECT FROM segment.trait_definitions WHERE NOT hidden) THEN
		query := segment._profile_sql();
	END IF;
	IF (dropping OR query IS NULL) AND pg_catalog.to_regclass('segment.traits') IS NOT NULL THEN
		BEGIN
			DROP VIEW segment.traits;
		EXCEPTION WHEN dependent_objects_still_exist THEN
			RAISE EXCEPTION 'cannot drop a column of view segment.traits because other objects depend on it'
				USING ERRCODE = 'dependent_objects_still_exist',
				      HINT = 'Drop the views that read segment.traits first.';
		END;
	END IF;
	IF query IS NULL THEN
		RETURN;
	END IF;
	EXECUTE 'CREATE OR REPLACE VIEW segment.traits WITH (security_invoker = true) AS ' || query;
	COMMENT ON VIEW segment.traits IS 'computed traits: one row per customer, one column per trait';
	COMMENT ON COLUMN segment.traits.customer_id IS 'customer key';
	FOR t IN SELECT * FROM segment.trait_definitions WHERE NOT hidden LOOP
		EXECUTE pg_catalog.format('COMMENT ON COLUMN segment.traits.%I IS %L', t.name,
			coalesce(t.description || ': ', '') || t.definition);
	END LOOP;
	GRANT SELECT ON segment.traits TO PUBLIC;
END
$$;

-- The definer part of segment.create_trait; the expression's names resolve
-- with the caller's search_path, passed in.
CREATE FUNCTION segment._create_trait(name text, expr text, description text, events regclass,
	caller_search_path text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	customers segment.customer_source;
	src segment.event_sources;
	compiled record;
BEGIN
	customers := segment._customers();
	IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]*$' OR pg_catalog.quote_ident(name) <> name
	   OR pg_catalog.octet_length(name) >= 64 THEN
		RAISE EXCEPTION 'invalid trait name: %', coalesce(pg_catalog.quote_literal(name), 'NULL')
			USING ERRCODE = 'invalid_name',
			      DETAIL = 'Rules read traits by name, like columns: a trait name is a lower-case identifier that needs no quotes, of at most 63 bytes.';
	END IF;
	IF EXISTS (SELECT FROM segment.trait_definitions t WHERE t.name = _create_trait.name) THEN
		RAISE EXCEPTION 'trait "%" already exists', name USING ERRCODE = 'duplicate_object';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_attribute a
	            WHERE a.attrelid = customers.relid AND a.attname = _create_trait.name
	              AND a.attnum > 0 AND NOT a.attisdropped) THEN
		RAISE EXCEPTION 'trait "%" would hide a column of the customer table %', name, customers.relid
			USING ERRCODE = 'duplicate_column';
	END IF;
	IF expr IS NULL THEN
		RAISE EXCEPTION 'a trait must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	src := segment._event_source(events);
	SELECT * INTO compiled FROM segment._compile_trait(src.relid, expr, caller_search_path);
	INSERT INTO segment.trait_definitions (name, source, definition, expression, type, type_sql,
		filters, reads_clock, description, owner)
	VALUES (_create_trait.name, src.relid, expr, compiled.expression, compiled.type,
		compiled.type_sql, compiled.filters, compiled.reads_clock, description, segment._caller());
	PERFORM segment._traits_view();
END
$$;

CREATE FUNCTION segment.create_trait(name text, expr text, description text DEFAULT NULL,
	events regclass DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
	SELECT segment._create_trait(name, expr, description, events,
	                             pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION segment.create_trait(text, text, text, regclass) IS 'define a computed trait: an aggregate over each customer''s events, which rules read by name';

CREATE FUNCTION segment.drop_trait(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t segment.trait_definitions;
	users text;
BEGIN
	SELECT * INTO t FROM segment.trait_definitions td WHERE td.name = drop_trait.name AND NOT td.hidden;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'trait "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT pg_catalog.pg_has_role(segment._caller(), t.owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of trait "%"', name USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', d.name), ', ' ORDER BY d.name) INTO users
	  FROM segment.definitions d WHERE drop_trait.name = ANY (d.traits);
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop trait "%" because segments read it', name
			USING ERRCODE = 'dependent_objects_still_exist',
			      DETAIL = pg_catalog.format('Read by: %s.', users);
	END IF;
	DELETE FROM segment.trait_definitions td WHERE td.name = drop_trait.name;
	PERFORM segment._traits_view(true);
END
$$;
COMMENT ON FUNCTION segment.drop_trait(text) IS 'drop a computed trait no segment reads';

--
-- Cohorts
--

CREATE TABLE segment.cohort_sets (
	name text PRIMARY KEY REFERENCES segment.families (name) ON DELETE CASCADE,
	event_kind text NOT NULL,
	period text NOT NULL CHECK (period IN ('day', 'week', 'month', 'quarter', 'year'))
);
COMMENT ON TABLE segment.cohort_sets IS 'cohort sets: customers by the period of their first event of a kind';
SELECT pg_catalog.pg_extension_config_dump('segment.cohort_sets', '');
REVOKE ALL ON segment.cohort_sets FROM PUBLIC;
GRANT SELECT ON segment.cohort_sets TO PUBLIC;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON segment.cohort_sets FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();

-- The label of the period a time falls in: 2026-03-31 (day), 2026-W14
-- (ISO week), 2026-03 (month), 2026-Q1 (quarter), 2026 (year).  Times with
-- a zone are taken in UTC, so that a label does not depend on a session's
-- TimeZone.
CREATE FUNCTION segment.period_label(at timestamp, period text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT pg_catalog.to_char(at, CASE period
		WHEN 'day' THEN 'YYYY-MM-DD'
		WHEN 'week' THEN 'IYYY-"W"IW'
		WHEN 'month' THEN 'YYYY-MM'
		WHEN 'quarter' THEN 'YYYY-"Q"Q'
		WHEN 'year' THEN 'YYYY' END)
$$;
CREATE FUNCTION segment.period_label(at timestamptz, period text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT segment.period_label(pg_catalog.timezone('UTC', at), period)
$$;
CREATE FUNCTION segment.period_label(at date, period text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT segment.period_label(at::timestamp, period)
$$;
COMMENT ON FUNCTION segment.period_label(timestamp, text) IS 'label of the day, week, month, quarter or year a time falls in';
COMMENT ON FUNCTION segment.period_label(timestamptz, text) IS 'label of the day, week, month, quarter or year a time falls in, in UTC';
COMMENT ON FUNCTION segment.period_label(date, text) IS 'label of the day, week, month, quarter or year a date falls in';

-- Whole periods from the period of one time to the period of another.
CREATE FUNCTION segment.periods_between(first timestamp, later timestamp, period text)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT CASE period
		WHEN 'day' THEN later::date - first::date
		WHEN 'week' THEN (pg_catalog.date_trunc('week', later)::date
		                  - pg_catalog.date_trunc('week', first)::date) / 7
		WHEN 'month' THEN (pg_catalog.date_part('year', later)::integer * 12 + pg_catalog.date_part('month', later)::integer)
		                - (pg_catalog.date_part('year', first)::integer * 12 + pg_catalog.date_part('month', first)::integer)
		WHEN 'quarter' THEN (pg_catalog.date_part('year', later)::integer * 4 + pg_catalog.date_part('quarter', later)::integer)
		                  - (pg_catalog.date_part('year', first)::integer * 4 + pg_catalog.date_part('quarter', first)::integer)
		WHEN 'year' THEN pg_catalog.date_part('year', later)::integer - pg_catalog.date_part('year', first)::integer
	END
$$;
CREATE FUNCTION segment.periods_between(first timestamptz, later timestamptz, period text)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT segment.periods_between(pg_catalog.timezone('UTC', first),
	                               pg_catalog.timezone('UTC', later), period)
$$;
CREATE FUNCTION segment.periods_between(first date, later date, period text)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT segment.periods_between(first::timestamp, later::timestamp, period)
$$;
COMMENT ON FUNCTION segment.periods_between(timestamp, timestamp, text) IS 'whole days, weeks, months, quarters or years from the period of one time to the period of another';
COMMENT ON FUNCTION segment.periods_between(timestamptz, timestamptz, text) IS 'whole days, weeks, months, quarters or years from the period of one time to the period of another, in UTC';
COMMENT ON FUNCTION segment.periods_between(date, date, text) IS 'whole days, weeks, months, quarters or years from the period of one date to the period of another';

CREATE FUNCTION segment._create_cohorts(prefix text, event_kind text, period text, events regclass,
	OUT segment text, OUT customers bigint)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src segment.event_sources;
	compiled record;
	first_trait text := prefix || ':first';
BEGIN
	PERFORM segment._check_family_name(prefix, 'cohort set');
	PERFORM segment._customers();
	IF event_kind IS NULL THEN
		RAISE EXCEPTION 'event_kind must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF period IS NULL OR period NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
		RAISE EXCEPTION 'invalid cohort period: %', coalesce(pg_catalog.quote_literal(period), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The period is one of day, week, month, quarter or year.';
	END IF;
	src := segment._event_source(events, 'kind');
	SELECT * INTO compiled FROM segment._compile_trait(src.relid,
		pg_catalog.format('min(%I) FILTER (WHERE %I::text = %L)', src.at_column, src.kind_column,
		                  event_kind),
		'pg_catalog');

	INSERT INTO segment.families (name, kind, source, expression, traits, description, owner)
	VALUES (prefix, 'cohort', src.relid,
		pg_catalog.format('segment.period_label(c.%I, %L)', first_trait, period),
		ARRAY[first_trait],
		pg_catalog.format('customers by the %s of their first %s event', period, event_kind),
		segment._caller());
	INSERT INTO segment.cohort_sets VALUES (prefix, event_kind, period);
	INSERT INTO segment.trait_definitions (name, source, definition, expression, type, type_sql,
		filters, family, hidden, owner)
	VALUES (first_trait, src.relid, pg_catalog.format('first %s event', event_kind),
		compiled.expression, compiled.type, compiled.type_sql, compiled.filters, prefix, true,
		segment._caller());

	PERFORM segment._refresh(ARRAY[prefix]);
	UPDATE segment.families f SET refreshed_at = segment.reference_time() WHERE f.name = prefix;
	RETURN QUERY
	SELECT d.name, @extschema@.cardinality(segment.members(d.name))
	  FROM segment.definitions d WHERE d.family = prefix ORDER BY d.name;
END
$$;

CREATE FUNCTION segment.create_cohorts(prefix text, event_kind text, period text,
	events regclass DEFAULT NULL, OUT segment text, OUT customers bigint)
RETURNS SETOF record
LANGUAGE sql AS $$
	SELECT * FROM segment._create_cohorts(prefix, event_kind, period, events)
$$;
COMMENT ON FUNCTION segment.create_cohorts(text, text, text, regclass) IS 'one segment per period of the customers'' first event of a kind, named prefix:period; new periods get theirs as customers arrive';

-- A cohort's segment, made when its first customer arrives.  Called as
-- the catalog's owner by the evaluation (process.c).
CREATE FUNCTION segment._create_member(family text, label text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	member text := family || ':' || label;
	cs segment.cohort_sets;
BEGIN
	SELECT * INTO cs FROM segment.cohort_sets s WHERE s.name = family;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'cohort set "%" does not exist', family USING ERRCODE = 'undefined_object';
	END IF;
	INSERT INTO segment.definitions (name, kind, rule, owner, family, label, event_dependent,
		refreshed_at)
	SELECT member, 'cohort',
	       pg_catalog.format('first %s event in %s %s', cs.event_kind, cs.period, label),
	       f.owner, f.name, label, true, segment.reference_time()
	  FROM segment.families f WHERE f.name = family
	ON CONFLICT (name) DO NOTHING;
	IF NOT EXISTS (SELECT FROM segment.definitions d
	                WHERE d.name = member AND d.family = _create_member.family) THEN
		RAISE EXCEPTION 'segment "%" exists and is not a cohort of "%"', member, family
			USING ERRCODE = 'duplicate_object';
	END IF;
END
$$;

-- The retention matrix of one cohort set: per cohort and period since the
-- cohort's, how many of its customers had any event.
CREATE FUNCTION segment._retention(set_name text,
	OUT cohorts text, OUT cohort text, OUT periods_since integer, OUT customers bigint,
	OUT active bigint, OUT share numeric)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cs segment.cohort_sets;
	src segment.event_sources;
	f segment.families;
BEGIN
	SELECT * INTO f FROM segment.families fam WHERE fam.name = set_name;
	IF NOT FOUND OR NOT segment._can_read(f.owner) THEN
		RETURN;
	END IF;
	SELECT * INTO cs FROM segment.cohort_sets s WHERE s.name = set_name;
	SELECT * INTO src FROM segment.event_sources s WHERE s.relid = f.source;
	RETURN QUERY EXECUTE pg_catalog.format($q$
		WITH members AS (
			SELECT d.label, d.name, m AS customer
			  FROM segment.definitions d,
			       %1$s.unnest(segment.members(d.name)) m
			 WHERE d.family = $1
		), firsts AS (
			SELECT e.%3$I AS customer, min(e.%4$I) AS first
			  FROM ONLY %2$s e
			 WHERE e.%3$I OPERATOR(%1$s.<@) (SELECT %1$s.segment_agg(customer) FROM members)
			   AND e.%5$I::text = $2
			 GROUP BY e.%3$I
		), activity AS (
			SELECT DISTINCT f.customer, segment.periods_between(f.first, e.%4$I, $3) AS k
			  FROM firsts f JOIN ONLY %2$s e ON e.%3$I = f.customer
			 WHERE e.%4$I >= f.first
		), sizes AS (
			SELECT label, name, count(*) AS customers, min(f.first) AS first
			  FROM members JOIN firsts f USING (customer)
			 GROUP BY label, name
		)
		SELECT $1, s.name, k.k, s.customers,
		       count(a.customer),
		       round(count(a.customer)::numeric / s.customers, 4)
		  FROM sizes s
		 CROSS JOIN LATERAL pg_catalog.generate_series(0,
		       greatest(segment.periods_between(s.first, segment.reference_time()::%6$s, $3), 0)) k(k)
		  LEFT JOIN (activity a JOIN members m USING (customer)) ON m.name = s.name AND a.k = k.k
		 GROUP BY s.name, k.k, s.customers
		 ORDER BY s.name, k.k$q$,
		'@extschema@', src.relid, src.customer_column, src.at_column, src.kind_column,
		(SELECT pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a
		  WHERE a.attrelid = src.relid AND a.attname = src.at_column))
	USING set_name, cs.event_kind, cs.period;
END
$$;

CREATE VIEW segment.retention AS
	SELECT r.*
	  FROM segment.families f, LATERAL segment._retention(f.name) r
	 WHERE f.kind = 'cohort';
COMMENT ON VIEW segment.retention IS 'retention matrix: per cohort and periods since it, how many of its customers had an event';
COMMENT ON COLUMN segment.retention.cohorts IS 'the cohort set';
COMMENT ON COLUMN segment.retention.cohort IS 'the cohort''s segment';
COMMENT ON COLUMN segment.retention.periods_since IS 'periods after the cohort''s own (0: the cohort''s period)';
COMMENT ON COLUMN segment.retention.customers IS 'customers in the cohort';
COMMENT ON COLUMN segment.retention.active IS 'of them, customers with an event in that period';
COMMENT ON COLUMN segment.retention.share IS 'active / customers, to 4 decimals';
GRANT SELECT ON segment.retention TO PUBLIC;

--
-- Refresh policies and scheduling
--

-- Where a refresh policy lives: the family for a family's segments.
CREATE FUNCTION segment._policy_target(name text, OUT target text, OUT is_family boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
BEGIN
	d := segment._check_owner(name);
	target := coalesce(d.family, d.name);
	is_family := d.family IS NOT NULL;
END
$$;

CREATE FUNCTION segment.set_refresh(name text, every interval) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p record;
BEGIN
	IF every IS NOT NULL AND every <= interval '0' THEN
		RAISE EXCEPTION 'refresh interval must be positive, not %', every
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	p := segment._policy_target(name);
	IF p.is_family THEN
		UPDATE segment.families f SET refresh_every = every WHERE f.name = p.target;
		UPDATE segment.definitions d SET refresh_every = NULL WHERE d.family = p.target;
	ELSE
		UPDATE segment.definitions d SET refresh_every = every WHERE d.name = p.target;
	END IF;
END
$$;
COMMENT ON FUNCTION segment.set_refresh(text, interval) IS 'how often segment.refresh_due() recomputes a segment or model (null: never)';

-- Record a schedule (the definer part of segment.schedule).
CREATE FUNCTION segment._set_schedule(name text, cron text, job bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p record;
BEGIN
	p := segment._policy_target(name);
	IF p.is_family THEN
		UPDATE segment.families f SET schedule = cron, schedule_job = job WHERE f.name = p.target;
	ELSE
		UPDATE segment.definitions d SET schedule = cron, schedule_job = job WHERE d.name = p.target;
	END IF;
END
$$;

CREATE FUNCTION segment._pg_cron_missing() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'segment.schedule() registers refreshes with the pg_cron extension.',
			      HINT = 'Install the Debian package postgresql-15-cron, add pg_cron to shared_preload_libraries, restart, and run CREATE EXTENSION pg_cron in the database that cron.database_name names; or call segment.refresh_due() from any scheduler.';
	END IF;
END
$$;

-- Runs as the caller: pg_cron runs a job as the role that scheduled it.
CREATE FUNCTION segment.schedule(name text, cron text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p record;
	job bigint;
BEGIN
	p := segment._policy_target(name);
	IF cron IS NULL THEN
		RAISE EXCEPTION 'a schedule must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM segment._pg_cron_missing();
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
		USING 'segment refresh ' || p.target, cron,
		      pg_catalog.format('SELECT segment.refresh(%L)', p.target);
	PERFORM segment._set_schedule(p.target, cron, job);
	RETURN job;
END
$$;
COMMENT ON FUNCTION segment.schedule(text, text) IS 'refresh a segment or model on a pg_cron schedule; returns the pg_cron job id';

CREATE FUNCTION segment.unschedule(name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p record;
	job bigint;
BEGIN
	p := segment._policy_target(name);
	job := coalesce((SELECT f.schedule_job FROM segment.families f WHERE f.name = p.target),
	                (SELECT d.schedule_job FROM segment.definitions d WHERE d.name = p.target));
	IF job IS NULL THEN
		RETURN false;
	END IF;
	PERFORM segment._pg_cron_missing();
	EXECUTE 'SELECT cron.unschedule($1)' USING job;
	PERFORM segment._set_schedule(p.target, NULL, NULL);
	RETURN true;
END
$$;
COMMENT ON FUNCTION segment.unschedule(text) IS 'remove the pg_cron schedule of a segment or model; false if it had none';

-- Dropping a scheduled segment removes its job, if pg_cron is there to ask.
CREATE FUNCTION segment._unschedule_quietly(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	job bigint := coalesce((SELECT f.schedule_job FROM segment.families f WHERE f.name = _unschedule_quietly.name),
	                       (SELECT d.schedule_job FROM segment.definitions d WHERE d.name = _unschedule_quietly.name));
BEGIN
	IF job IS NULL OR NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RETURN;
	END IF;
	BEGIN
		EXECUTE 'SELECT cron.unschedule($1)' USING job;
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'could not remove pg_cron job % of segment "%": %', job, name, SQLERRM;
	END;
END
$$;

CREATE FUNCTION segment.refresh_due(OUT segment text, OUT entered bigint, OUT exited bigint)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	-- families first: rules may read their segments
	RETURN QUERY
	SELECT r.segment, sum(r.entered)::bigint, sum(r.exited)::bigint
	  FROM (SELECT f.name, 0 AS depth FROM segment.families f
	         WHERE f.refresh_every IS NOT NULL
	           AND (f.refreshed_at IS NULL OR f.refreshed_at + f.refresh_every <= segment.reference_time())
	           AND pg_catalog.pg_has_role(segment._caller(), f.owner, 'USAGE')
	        UNION ALL
	        SELECT d.name, d.depth + 1 FROM segment.definitions d
	         WHERE d.family IS NULL AND d.refresh_every IS NOT NULL
	           AND (d.refreshed_at IS NULL OR d.refreshed_at + d.refresh_every <= segment.reference_time())
	           AND pg_catalog.pg_has_role(segment._caller(), d.owner, 'USAGE')
	        ORDER BY 2, 1) due,
	       LATERAL segment._refresh_one(due.name) r
	 GROUP BY r.segment ORDER BY r.segment;
END
$$;
COMMENT ON FUNCTION segment.refresh_due() IS 'recompute the segments and models you own whose refresh interval has passed; call it from any scheduler';

COMMENT ON FUNCTION segment._event_source(regclass, text) IS 'internal: the tracked event table meant, if the caller may read it';
COMMENT ON FUNCTION segment._traits_view(boolean) IS 'internal: recreate the segment.traits view';
COMMENT ON FUNCTION segment._create_trait(text, text, text, regclass, text) IS 'internal: the definer part of segment.create_trait';
COMMENT ON FUNCTION segment._create_cohorts(text, text, text, regclass) IS 'internal: the definer part of segment.create_cohorts';
COMMENT ON FUNCTION segment._create_member(text, text) IS 'internal: the segment of a new cohort';
COMMENT ON FUNCTION segment._retention(text) IS 'internal: the retention matrix of one cohort set';
COMMENT ON FUNCTION segment._policy_target(text) IS 'internal: where the refresh policy of a segment lives';
COMMENT ON FUNCTION segment._set_schedule(text, text, bigint) IS 'internal: record a pg_cron schedule';
COMMENT ON FUNCTION segment._pg_cron_missing() IS 'internal: an error unless pg_cron is installed here';
COMMENT ON FUNCTION segment._unschedule_quietly(text) IS 'internal: remove the pg_cron job of a segment being dropped';

-- _set_schedule stays executable: segment.schedule runs as its caller,
-- since pg_cron runs a job as the role that scheduled it, and it checks
-- that the caller owns the segment.
REVOKE EXECUTE ON FUNCTION segment._create_member(text, text) FROM PUBLIC;
