-- Live segments: catalog, internals, triggers, management API and views.
-- Part of segment--0.1.0.sql (see the Makefile).

--
-- Live segments: catalog
--
-- Every table the user's actions fill is registered with
-- pg_extension_config_dump, so pg_dump keeps segments.  The tables whose
-- rows define what is evaluated have a statement trigger that tells every
-- backend's cache of them (catalog.c) to reload.
--

CREATE TABLE segment.customer_source (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	relid regclass NOT NULL,
	key_column name NOT NULL,
	watched_columns name[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE segment.customer_source IS 'the tracked customer table (one per database)';

CREATE TABLE segment.event_sources (
	relid regclass PRIMARY KEY,
	customer_column name NOT NULL,
	at_column name NOT NULL,
	amount_column name,
	kind_column name
);
COMMENT ON TABLE segment.event_sources IS 'tracked event tables';

-- Families of segments made together: an RFM model's cells, a lifetime
-- value model's tiers, a set of cohorts.  Their names share one namespace
-- with segments.
CREATE TABLE segment.families (
	name text PRIMARY KEY CHECK (name <> ''),
	kind text NOT NULL CHECK (kind IN ('rfm', 'ltv', 'cohort')),
	source regclass NOT NULL REFERENCES segment.event_sources (relid),
	expression text,
	traits text[] NOT NULL DEFAULT '{}',
	description text,
	owner regrole NOT NULL DEFAULT current_user::regrole,
	refresh_every interval,
	schedule text,
	schedule_job bigint,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	refreshed_at timestamptz
);
COMMENT ON TABLE segment.families IS 'models and cohort sets, each making a family of segments';

CREATE TABLE segment.trait_definitions (
	name text PRIMARY KEY CHECK (name <> ''),
	source regclass NOT NULL REFERENCES segment.event_sources (relid),
	definition text NOT NULL,
	expression text NOT NULL,
	type regtype NOT NULL,
	type_sql text NOT NULL,
	filters text[] NOT NULL DEFAULT '{}',
	reads_clock boolean NOT NULL DEFAULT false,
	family text REFERENCES segment.families (name) ON DELETE CASCADE,
	hidden boolean NOT NULL DEFAULT false,
	description text,
	owner regrole NOT NULL DEFAULT current_user::regrole,
	-- the traits view's column order: distinct even within one transaction
	created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE segment.trait_definitions IS 'computed traits: aggregates over a customer''s events, as written and as compiled';

CREATE TABLE segment.definitions (
	name text PRIMARY KEY CHECK (name <> ''),
	kind text NOT NULL CHECK (kind IN ('rule', 'static', 'rfm', 'ltv', 'cohort')),
	rule text,
	expression text,
	description text,
	owner regrole NOT NULL DEFAULT current_user::regrole,
	columns name[] NOT NULL DEFAULT '{}',
	traits text[] NOT NULL DEFAULT '{}',
	depends_on text[] NOT NULL DEFAULT '{}',
	depth integer NOT NULL DEFAULT 0,
	event_dependent boolean NOT NULL DEFAULT false,
	reads_clock boolean NOT NULL DEFAULT false,
	family text REFERENCES segment.families (name) ON DELETE CASCADE,
	label text,
	refresh_every interval,
	schedule text,
	schedule_job bigint,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	refreshed_at timestamptz
);
COMMENT ON TABLE segment.definitions IS 'segment definitions: rules as written and as compiled';

-- A chunk's membership is (members - removed) | added.  A commit that
-- moves a few customers updates the small added and removed sets: the
-- row's large members value (stored out of line) is not rewritten, and the
-- update is a heap-only one.  Once added and removed grow past 2 kB they
-- are folded into members (storage.c).  A row is updated often: a low
-- fillfactor leaves room for the new versions on its page, where they
-- stay heap-only and are pruned without VACUUM.
CREATE TABLE segment.chunks (
	segment text NOT NULL REFERENCES segment.definitions (name) ON DELETE CASCADE,
	chunk integer NOT NULL CHECK (chunk BETWEEN 0 AND 65535),
	members segment NOT NULL,
	added segment NOT NULL,
	removed segment NOT NULL,
	PRIMARY KEY (segment, chunk)
) WITH (fillfactor = 10);
COMMENT ON TABLE segment.chunks IS 'membership, one row per segment and 65,536 keys (key >> 16): (members - removed) | added';

-- A bulk change of a million customers is a few rows here, not a million:
-- one row per segment, chunk and transaction, with who entered and who
-- exited.
CREATE TABLE segment.flips (
	segment text NOT NULL,
	chunk integer NOT NULL,
	entered segment NOT NULL,
	exited segment NOT NULL,
	at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()
);
CREATE INDEX flips_segment_at ON segment.flips (segment, at);
COMMENT ON TABLE segment.flips IS 'membership changes: per segment, chunk and transaction, who entered and who exited';

SELECT pg_catalog.pg_extension_config_dump('segment.customer_source', '');
SELECT pg_catalog.pg_extension_config_dump('segment.event_sources', '');
SELECT pg_catalog.pg_extension_config_dump('segment.families', '');
SELECT pg_catalog.pg_extension_config_dump('segment.trait_definitions', '');
SELECT pg_catalog.pg_extension_config_dump('segment.definitions', '');
SELECT pg_catalog.pg_extension_config_dump('segment.chunks', '');
SELECT pg_catalog.pg_extension_config_dump('segment.flips', '');

-- Definitions are metadata anyone may see, like pg_class; membership and
-- history are read through the functions and views below, which check
-- the reader's rights.
REVOKE ALL ON segment.customer_source, segment.event_sources, segment.families,
	segment.trait_definitions, segment.definitions, segment.chunks, segment.flips FROM PUBLIC;
GRANT SELECT ON segment.customer_source, segment.event_sources, segment.families,
	segment.trait_definitions, segment.definitions TO PUBLIC;

CREATE FUNCTION segment._catalog_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'segment_catalog_changed' LANGUAGE C;

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON segment.customer_source FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON segment.event_sources FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON segment.trait_definitions FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();
-- refreshed_at and the refresh policy are not cached: changing them
-- reloads nothing
CREATE TRIGGER catalog_changed AFTER INSERT OR DELETE OR TRUNCATE
	ON segment.families FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();
CREATE TRIGGER catalog_updated AFTER UPDATE OF name, kind, source, expression, traits, owner
	ON segment.families FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();
CREATE TRIGGER catalog_changed AFTER INSERT OR DELETE OR TRUNCATE
	ON segment.definitions FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();
CREATE TRIGGER catalog_updated AFTER UPDATE OF name, kind, expression, owner, columns, traits,
	depends_on, depth, event_dependent, family, label
	ON segment.definitions FOR EACH STATEMENT EXECUTE FUNCTION segment._catalog_changed();

--
-- Live segments: internals (C)
--

CREATE FUNCTION segment.reference_time() RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'segment_reference_time' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.reference_time() IS 'what now() means in rules and traits: the segment.reference_time setting, or the start of the transaction';

CREATE FUNCTION segment._compile_rule(customers regclass, key name, rule text,
	search_path text, traits text[], trait_types text[],
	OUT expression text, OUT columns name[], OUT traits text[], OUT segments text[],
	OUT reads_clock boolean, OUT calls_functions boolean)
	AS 'MODULE_PATHNAME', 'segment_compile_rule' LANGUAGE C STRICT;

CREATE FUNCTION segment._compile_trait(events regclass, expr text, search_path text,
	OUT expression text, OUT type regtype, OUT type_sql text, OUT filters text[],
	OUT reads_clock boolean)
	AS 'MODULE_PATHNAME', 'segment_compile_trait' LANGUAGE C STRICT;

CREATE FUNCTION segment._refresh(names text[],
	OUT segment text, OUT entered bigint, OUT exited bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'segment_refresh_items' LANGUAGE C STRICT;

CREATE FUNCTION segment._apply_members(names text[], members segment[],
	OUT segment text, OUT entered bigint, OUT exited bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'segment_apply_members' LANGUAGE C STRICT;

CREATE FUNCTION segment._fresh(name text, OUT segment text, OUT members segment)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'segment_fresh_members' LANGUAGE C STABLE STRICT;

CREATE FUNCTION segment._chunk_fold(members segment, added segment, removed segment,
	came segment, went segment, part integer) RETURNS segment
	AS 'MODULE_PATHNAME', 'segment_chunk_fold' LANGUAGE C IMMUTABLE STRICT;

CREATE FUNCTION segment._sync() RETURNS boolean
	AS 'MODULE_PATHNAME', 'segment_sync' LANGUAGE C STABLE;

CREATE FUNCTION segment._forget(names text[]) RETURNS void
	AS 'MODULE_PATHNAME', 'segment_forget' LANGUAGE C STRICT;

CREATE FUNCTION segment._profile_sql() RETURNS text
	AS 'MODULE_PATHNAME', 'segment_profile_sql' LANGUAGE C STABLE;

-- Inside the SECURITY DEFINER functions below current_user is the
-- extension's owner; the role that called them is the session's role, as
-- changed by SET ROLE.
CREATE FUNCTION segment._caller() RETURNS regrole
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN current_setting('role') = 'none' THEN session_user
	            ELSE current_setting('role') END::regrole
$$;

CREATE FUNCTION segment.in_segment(name text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'segment_in_segment_placeholder' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION segment.in_segment(text) IS 'in a rule: is the customer a member of the named segment';

CREATE FUNCTION segment.in_segment(name text, customer bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'segment_in_segment' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION segment.in_segment(text, bigint) IS 'is the customer a member of the named segment';

CREATE FUNCTION segment.members(name text) RETURNS segment
	AS 'MODULE_PATHNAME', 'segment_members' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION segment.members(text) IS 'the members of a segment';

CREATE FUNCTION segment._chunk_contains(name text, customer bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'segment_chunk_contains' LANGUAGE C STABLE STRICT;

CREATE FUNCTION segment._can_read(owner regrole) RETURNS boolean
	AS 'MODULE_PATHNAME', 'segment_can_read' LANGUAGE C STABLE STRICT;

--
-- Live segments: triggers on tracked tables
--

-- INSERT, UPDATE and DELETE with transition tables note the customers in
-- them.  Arguments: the customer key column, "customers" or "events".
CREATE FUNCTION segment._rows_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'segment_rows_changed' LANGUAGE C;

-- TRUNCATE notes every customer.  Argument: "customers" or "events".
CREATE FUNCTION segment._truncated() RETURNS trigger
	AS 'MODULE_PATHNAME', 'segment_truncated' LANGUAGE C;

-- Only customers whose key or a column some rule reads changed are
-- noted: the row trigger's WHEN clause lists exactly those columns, so an
-- UPDATE of other columns does not even call it.
CREATE FUNCTION segment._customer_row_updated() RETURNS trigger
	AS 'MODULE_PATHNAME', 'segment_customer_row_updated' LANGUAGE C;

CREATE FUNCTION segment._customer_update_done() RETURNS trigger
	AS 'MODULE_PATHNAME', 'segment_customer_update_done' LANGUAGE C;

-- Recompute the columns rules read, and the row trigger that watches them.
CREATE FUNCTION segment._watch_columns() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src segment.customer_source;
	cols name[];
BEGIN
	SELECT * INTO src FROM segment.customer_source;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	cols := ARRAY(SELECT DISTINCT c FROM segment.definitions d, pg_catalog.unnest(d.columns) c
	              WHERE d.kind = 'rule' ORDER BY 1);
	IF cols = src.watched_columns AND EXISTS (
		SELECT FROM pg_catalog.pg_trigger
		 WHERE tgrelid = src.relid AND tgname = 'segment_customers_updated_row') THEN
		RETURN;
	END IF;
	UPDATE segment.customer_source SET watched_columns = cols;
	IF EXISTS (SELECT FROM pg_catalog.pg_trigger
	            WHERE tgrelid = src.relid AND tgname = 'segment_customers_updated_row') THEN
		EXECUTE pg_catalog.format('DROP TRIGGER segment_customers_updated_row ON %s', src.relid);
	END IF;
	-- the key always: a customer whose key changes leaves and enters segments
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_customers_updated_row AFTER UPDATE ON %s FOR EACH ROW '
		'WHEN (%s) EXECUTE FUNCTION segment._customer_row_updated(%L)',
		src.relid,
		(SELECT pg_catalog.string_agg(pg_catalog.format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', c), ' OR ')
		   FROM pg_catalog.unnest(array_prepend(src.key_column, cols)) c),
		src.key_column);
END
$$;

--
-- Live segments: tracking tables
--

-- The checks that tracking any table makes.
CREATE FUNCTION segment._check_trackable(tbl regclass, relkinds "char"[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	rel pg_catalog.pg_class;
BEGIN
	SELECT * INTO rel FROM pg_catalog.pg_class WHERE oid = tbl;
	IF rel.relkind = 'p' AND NOT rel.relkind = ANY (relkinds) THEN
		RAISE EXCEPTION 'partitioned table % cannot be tracked', tbl
			USING ERRCODE = 'feature_not_supported',
			      DETAIL = 'This version reads a tracked table''s own rows, and a partitioned table keeps its rows in its partitions.';
	END IF;
	IF NOT rel.relkind = ANY (relkinds) THEN
		RAISE EXCEPTION '"%" is not a table', rel.relname USING ERRCODE = 'wrong_object_type';
	END IF;
	IF NOT pg_catalog.pg_has_role(segment._caller(), rel.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF EXISTS (SELECT FROM segment.event_sources WHERE relid = tbl) THEN
		RAISE EXCEPTION 'table % is already tracked', tbl USING ERRCODE = 'duplicate_object';
	END IF;
	IF EXISTS (SELECT FROM segment.customer_source WHERE relid = tbl) THEN
		RAISE EXCEPTION 'table % is the tracked customer table', tbl USING ERRCODE = 'duplicate_object';
	END IF;
END
$$;

-- The type of a column of a table, or an error naming it.
CREATE FUNCTION segment._column_type(tbl regclass, col name) RETURNS regtype
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	typ regtype;
BEGIN
	SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	RETURN typ;
END
$$;

-- Keys already in a table must fit the segment type.
CREATE FUNCTION segment._check_key_range(tbl regclass, col name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	bad bigint;
BEGIN
	EXECUTE pg_catalog.format('SELECT %1$I FROM ONLY %2$s WHERE %1$I < 0 OR %1$I > 4294967295 LIMIT 1',
		col, tbl) INTO bad;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'customer key % is out of range', bad
			USING ERRCODE = 'numeric_value_out_of_range',
			      DETAIL = 'Customer keys must be integers between 0 and 4294967295.';
	END IF;
END
$$;

CREATE FUNCTION segment.track_customers(tbl regclass, key name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	att record;
BEGIN
	IF EXISTS (SELECT FROM segment.customer_source) THEN
		RAISE EXCEPTION 'a customer table is already tracked: %',
			(SELECT relid FROM segment.customer_source)
			USING ERRCODE = 'duplicate_object',
			      HINT = 'One customer table per database is tracked.';
	END IF;
	PERFORM segment._check_trackable(tbl, '{r}');
	SELECT a.attnum, a.atttypid, a.attnotnull INTO att
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = tbl AND a.attname = key AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', key, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	IF att.atttypid NOT IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
		RAISE EXCEPTION 'customer key "%" must be smallint, integer or bigint, not %',
			key, pg_catalog.format_type(att.atttypid, NULL)
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF NOT att.attnotnull OR NOT EXISTS (
		SELECT FROM pg_catalog.pg_index i
		 WHERE i.indrelid = tbl AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
		   AND i.indexprs IS NULL AND i.indnkeyatts = 1 AND i.indkey[0] = att.attnum) THEN
		RAISE EXCEPTION 'customer key "%" must be NOT NULL and have a unique index of its own', key
			USING ERRCODE = 'invalid_table_definition',
			      HINT = pg_catalog.format('Add a primary key: ALTER TABLE %s ADD PRIMARY KEY (%I).', tbl, key);
	END IF;
	PERFORM segment._check_key_range(tbl, key);

	INSERT INTO segment.customer_source (relid, key_column) VALUES (tbl, key);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_customers_inserted AFTER INSERT ON %s '
		'REFERENCING NEW TABLE AS segment_new_rows FOR EACH STATEMENT '
		'EXECUTE FUNCTION segment._rows_changed(%L, %L)', tbl, key, 'customers');
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_customers_updated AFTER UPDATE ON %s '
		'FOR EACH STATEMENT EXECUTE FUNCTION segment._customer_update_done()', tbl);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_customers_deleted AFTER DELETE ON %s '
		'REFERENCING OLD TABLE AS segment_old_rows FOR EACH STATEMENT '
		'EXECUTE FUNCTION segment._rows_changed(%L, %L)', tbl, key, 'customers');
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_customers_truncated AFTER TRUNCATE ON %s '
		'FOR EACH STATEMENT EXECUTE FUNCTION segment._truncated(%L)', tbl, 'customers');
	PERFORM segment._watch_columns();
	PERFORM segment._traits_view();
END
$$;
COMMENT ON FUNCTION segment.track_customers(regclass, name) IS 'track the customer table whose rows rules read';

CREATE FUNCTION segment.track_events(tbl regclass, customer name, at name,
	amount name DEFAULT NULL, kind name DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	typ regtype;
	customer_attnum smallint;
	at_attnum smallint;
BEGIN
	PERFORM segment._check_trackable(tbl, '{r}');
	typ := segment._column_type(tbl, customer);
	IF typ NOT IN ('int2', 'int4', 'int8') THEN
		RAISE EXCEPTION 'customer column "%" must be smallint, integer or bigint, not %', customer, typ
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	typ := segment._column_type(tbl, at);
	IF typ NOT IN ('timestamptz', 'timestamp', 'date') THEN
		RAISE EXCEPTION 'time column "%" must be timestamptz, timestamp or date, not %', at, typ
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF amount IS NOT NULL THEN
		typ := segment._column_type(tbl, amount);
		IF typ NOT IN ('int2', 'int4', 'int8', 'numeric', 'float4', 'float8', 'money') THEN
			RAISE EXCEPTION 'amount column "%" must be numeric, not %', amount, typ
				USING ERRCODE = 'datatype_mismatch';
		END IF;
	END IF;
	IF kind IS NOT NULL THEN
		PERFORM segment._column_type(tbl, kind);
	END IF;
	PERFORM segment._check_key_range(tbl, customer);

	INSERT INTO segment.event_sources VALUES (tbl, customer, at, amount, kind);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_events_inserted AFTER INSERT ON %s '
		'REFERENCING NEW TABLE AS segment_new_rows FOR EACH STATEMENT '
		'EXECUTE FUNCTION segment._rows_changed(%L, %L)', tbl, customer, 'events');
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_events_updated AFTER UPDATE ON %s '
		'REFERENCING OLD TABLE AS segment_old_rows NEW TABLE AS segment_new_rows '
		'FOR EACH STATEMENT EXECUTE FUNCTION segment._rows_changed(%L, %L)', tbl, customer, 'events');
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_events_deleted AFTER DELETE ON %s '
		'REFERENCING OLD TABLE AS segment_old_rows FOR EACH STATEMENT '
		'EXECUTE FUNCTION segment._rows_changed(%L, %L)', tbl, customer, 'events');
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_events_truncated AFTER TRUNCATE ON %s '
		'FOR EACH STATEMENT EXECUTE FUNCTION segment._truncated(%L)', tbl, 'events');

	-- traits read one customer's events: without an index that leads with
	-- (customer, at), each evaluation scans the table
	customer_attnum := (SELECT attnum FROM pg_catalog.pg_attribute WHERE attrelid = tbl AND attname = customer);
	at_attnum := (SELECT attnum FROM pg_catalog.pg_attribute WHERE attrelid = tbl AND attname = at);
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_index i
	                WHERE i.indrelid = tbl AND i.indnkeyatts >= 2 AND i.indpred IS NULL
	                  AND i.indkey[0] = customer_attnum AND i.indkey[1] = at_attnum) THEN
		RAISE NOTICE 'event table % has no index on (%, %)', tbl, customer, at
			USING DETAIL = 'Traits read one customer''s events at a time, and without that index each read scans the table.',
			      HINT = pg_catalog.format('Create it: CREATE INDEX ON %s (%I, %I);', tbl, customer, at);
	END IF;
END
$$;
COMMENT ON FUNCTION segment.track_events(regclass, name, name, name, name) IS 'track an event table: its changes re-evaluate the customers they concern';

CREATE FUNCTION segment.untrack_events(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	users text;
BEGIN
	IF NOT EXISTS (SELECT FROM segment.event_sources s WHERE s.relid = tbl) THEN
		RAISE EXCEPTION 'table % is not a tracked event table', tbl
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NOT pg_catalog.pg_has_role(segment._caller(),
	                              (SELECT relowner FROM pg_catalog.pg_class WHERE oid = tbl), 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', t.name), ', ' ORDER BY t.name) INTO users
	  FROM (SELECT t.name FROM segment.trait_definitions t WHERE t.source = tbl AND NOT t.hidden
	        UNION ALL
	        SELECT f.name FROM segment.families f WHERE f.source = tbl) t;
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot stop tracking table % because segment traits or models read it', tbl
			USING ERRCODE = 'dependent_objects_still_exist',
			      DETAIL = pg_catalog.format('%s read it.', users),
			      HINT = 'Drop them with segment.drop_trait() or segment.drop() first.';
	END IF;
	EXECUTE pg_catalog.format('DROP TRIGGER segment_events_inserted ON %s', tbl);
	EXECUTE pg_catalog.format('DROP TRIGGER segment_events_updated ON %s', tbl);
	EXECUTE pg_catalog.format('DROP TRIGGER segment_events_deleted ON %s', tbl);
	EXECUTE pg_catalog.format('DROP TRIGGER segment_events_truncated ON %s', tbl);
	DELETE FROM segment.event_sources s WHERE s.relid = tbl;
END
$$;
COMMENT ON FUNCTION segment.untrack_events(regclass) IS 'stop tracking an event table that no trait or model reads';

--
-- Live segments: names, owners and definitions
--

-- A name for a new segment or family: segments and families share one
-- namespace, and a family's name followed by a colon starts its members'.
CREATE FUNCTION segment._check_name(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	family text;
BEGIN
	IF name IS NULL OR pg_catalog.btrim(name) = '' THEN
		RAISE EXCEPTION 'segment name must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT FROM segment.definitions d WHERE d.name = _check_name.name)
	   OR EXISTS (SELECT FROM segment.families f WHERE f.name = _check_name.name) THEN
		RAISE EXCEPTION 'segment "%" already exists', name USING ERRCODE = 'duplicate_object';
	END IF;
	SELECT f.name INTO family FROM segment.families f
	 WHERE pg_catalog.starts_with(_check_name.name, f.name || ':');
	IF FOUND THEN
		RAISE EXCEPTION 'segment name "%" is reserved for the segments of "%"', name, family
			USING ERRCODE = 'duplicate_object';
	END IF;
END
$$;

-- The name of a family (a cohort set, an RFM or lifetime value model):
-- a segment name that leaves room for its members' names, which start
-- with it and a colon and must not be taken.
CREATE FUNCTION segment._check_family_name(name text, what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	taken text;
BEGIN
	PERFORM segment._check_name(name);
	IF pg_catalog.octet_length(name) > 48 THEN
		RAISE EXCEPTION '% name "%" is too long', what, name
			USING ERRCODE = 'name_too_long',
			      DETAIL = pg_catalog.format('The name of a %s has at most 48 bytes.', what);
	END IF;
	SELECT d.name INTO taken FROM segment.definitions d
	 WHERE pg_catalog.starts_with(d.name, _check_family_name.name || ':')
	 ORDER BY d.name LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'segment "%" already exists', taken
			USING ERRCODE = 'duplicate_object',
			      DETAIL = pg_catalog.format('The segments of a %s are named %s:...', what, name);
	END IF;
END
$$;

-- The definition of a segment or family the caller owns (or whose owner's
-- rights it has): (name, kind, owner, family).
CREATE FUNCTION segment._check_owner(wanted text, OUT name text, OUT kind text,
	OUT owner regrole, OUT family text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	SELECT d.name, d.kind, d.owner, d.family INTO name, kind, owner, family
	  FROM segment.definitions d WHERE d.name = wanted;
	IF NOT FOUND THEN
		SELECT f.name, f.kind, f.owner, f.name INTO name, kind, owner, family
		  FROM segment.families f WHERE f.name = wanted;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'segment "%" does not exist', wanted USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT pg_catalog.pg_has_role(segment._caller(), owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of segment "%"', wanted USING ERRCODE = 'insufficient_privilege';
	END IF;
END
$$;

-- The customer table, and the caller's right to read it.
CREATE FUNCTION segment._customers() RETURNS segment.customer_source
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src segment.customer_source;
BEGIN
	SELECT * INTO src FROM segment.customer_source;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no customer table is tracked'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Call segment.track_customers() first.';
	END IF;
	-- defining a segment needs the right to read its source
	IF NOT pg_catalog.has_table_privilege(segment._caller(), src.relid, 'SELECT') THEN
		RAISE EXCEPTION 'permission denied for table %', src.relid
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN src;
END
$$;

-- The definer part of segment.create; the rule's names resolve with the
-- caller's search_path, passed in.
CREATE FUNCTION segment._create(name text, rule text, description text, caller_search_path text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src segment.customer_source;
	compiled record;
	dep text;
	dep_def segment.definitions;
	depth integer := 0;
	event_dependent boolean;
	reads_clock boolean;
	events regclass;
	size bigint;
BEGIN
	PERFORM segment._check_name(name);
	src := segment._customers();
	IF rule IS NULL THEN
		RAISE EXCEPTION 'a rule must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO compiled
	  FROM segment._compile_rule(src.relid, src.key_column, rule, caller_search_path,
	         ARRAY(SELECT t.name FROM segment.trait_definitions t WHERE NOT t.hidden ORDER BY t.name),
	         ARRAY(SELECT t.type_sql FROM segment.trait_definitions t WHERE NOT t.hidden ORDER BY t.name));
	event_dependent := pg_catalog.cardinality(compiled.traits) > 0 OR compiled.calls_functions;
	reads_clock := compiled.reads_clock OR EXISTS (
		SELECT FROM segment.trait_definitions t WHERE t.name = ANY (compiled.traits) AND t.reads_clock);
	-- a rule reading traits reads their events, as the segment's owner
	FOR events IN SELECT DISTINCT t.source FROM segment.trait_definitions t
	               WHERE t.name = ANY (compiled.traits) LOOP
		IF NOT pg_catalog.has_table_privilege(segment._caller(), events, 'SELECT') THEN
			RAISE EXCEPTION 'permission denied for table %', events
				USING ERRCODE = 'insufficient_privilege',
				      DETAIL = 'The rule reads traits computed from it.';
		END IF;
	END LOOP;
	FOREACH dep IN ARRAY compiled.segments LOOP
		IF dep = name THEN
			RAISE EXCEPTION 'segment "%" cannot refer to itself', name
				USING ERRCODE = 'invalid_recursion';
		END IF;
		SELECT * INTO dep_def FROM segment.definitions d WHERE d.name = dep;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'segment "%" does not exist', dep USING ERRCODE = 'undefined_object';
		END IF;
		depth := GREATEST(depth, dep_def.depth + 1);
		event_dependent := event_dependent OR dep_def.event_dependent OR dep_def.family IS NOT NULL;
		reads_clock := reads_clock OR dep_def.reads_clock;
	END LOOP;

	INSERT INTO segment.definitions (name, kind, rule, expression, description, owner, columns,
		traits, depends_on, depth, event_dependent, reads_clock, refresh_every)
	VALUES (_create.name, 'rule', rule, compiled.expression, description, segment._caller(),
		compiled.columns, compiled.traits, compiled.segments, depth, event_dependent, reads_clock,
		CASE WHEN reads_clock THEN interval '1 hour' END);
	PERFORM segment._watch_columns();
	SELECT r.entered INTO size FROM segment._refresh(ARRAY[name]) r WHERE r.segment = _create.name;
	UPDATE segment.definitions d SET refreshed_at = segment.reference_time() WHERE d.name = _create.name;
	RETURN size;
END
$$;
CREATE FUNCTION segment."create"(name text, rule text, description text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql AS $$
	SELECT segment._create(name, rule, description, pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION segment."create"(text, text, text) IS 'define a rule segment and compute its members; returns how many';

CREATE FUNCTION segment.create_static(name text, members segment) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	result record;
BEGIN
	PERFORM segment._check_name(name);
	PERFORM segment._customers();
	IF members IS NULL THEN
		RAISE EXCEPTION 'members must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	INSERT INTO segment.definitions (name, kind, owner, refreshed_at)
	VALUES (create_static.name, 'static', segment._caller(), segment.reference_time());
	SELECT * INTO result FROM segment._apply_members(ARRAY[name], ARRAY[members]) r
	 WHERE r.segment = create_static.name;
	RETURN result.entered;
END
$$;
COMMENT ON FUNCTION segment.create_static(text, segment) IS 'define a segment from a fixed list of customers';

CREATE FUNCTION segment.drop(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
	users text;
	names text[];
BEGIN
	d := segment._check_owner(name);
	IF d.family IS NOT NULL AND d.family <> d.name THEN
		RAISE EXCEPTION 'segment "%" belongs to "%"', name, d.family
			USING ERRCODE = 'dependent_objects_still_exist',
			      HINT = pg_catalog.format('Drop "%s" to drop all its segments.', d.family);
	END IF;
	names := ARRAY(SELECT df.name FROM segment.definitions df
	                WHERE df.name = drop.name OR df.family = drop.name);
	SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', df.name), ', ' ORDER BY df.name) INTO users
	  FROM segment.definitions df
	 WHERE df.depends_on && names AND NOT df.name = ANY (names);
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop segment "%" because other segments depend on it', name
			USING ERRCODE = 'dependent_objects_still_exist',
			      DETAIL = pg_catalog.format('Segment %s refers to it with in_segment().', users);
	END IF;
	PERFORM segment._unschedule_quietly(name);
	-- committing transactions write no more changes to these segments
	PERFORM segment._forget(names);
	DELETE FROM segment.flips f WHERE f.segment = ANY (names);
	DELETE FROM segment.definitions df WHERE df.name = ANY (names);
	DELETE FROM segment.families f WHERE f.name = drop.name;
	PERFORM segment._watch_columns();
END
$$;
COMMENT ON FUNCTION segment.drop(text) IS 'drop a segment, or a model or cohort set with all its segments, and their membership';

-- Recompute one segment or family from scratch, as its kind requires.
CREATE FUNCTION segment._refresh_one(name text,
	OUT segment text, OUT entered bigint, OUT exited bigint)
RETURNS SETOF record
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
	target text;
BEGIN
	d := segment._check_owner(name);
	target := coalesce(d.family, d.name);
	IF d.kind = 'rfm' THEN
		RETURN QUERY SELECT * FROM segment._rfm_refresh(target);
	ELSIF d.kind = 'ltv' THEN
		RETURN QUERY SELECT * FROM segment._ltv_refresh(target);
	ELSE
		RETURN QUERY SELECT * FROM segment._refresh(ARRAY[target]);
	END IF;
	UPDATE segment.definitions df SET refreshed_at = segment.reference_time()
	 WHERE df.name = target OR df.family = target;
	UPDATE segment.families f SET refreshed_at = segment.reference_time() WHERE f.name = target;
END
$$;

CREATE FUNCTION segment.refresh(name text DEFAULT NULL,
	OUT segment text, OUT entered bigint, OUT exited bigint)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	target text;
BEGIN
	IF name IS NOT NULL THEN
		RETURN QUERY SELECT r.* FROM segment._refresh_one(name) r ORDER BY 1;
		RETURN;
	END IF;
	IF EXISTS (SELECT FROM segment.definitions df
	            WHERE NOT pg_catalog.pg_has_role(segment._caller(), df.owner, 'USAGE'))
	   OR EXISTS (SELECT FROM segment.families f
	               WHERE NOT pg_catalog.pg_has_role(segment._caller(), f.owner, 'USAGE')) THEN
		RAISE EXCEPTION 'must be owner of every segment to refresh them all'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	-- families first: rules may read their segments
	RETURN QUERY
	SELECT r.segment, sum(r.entered)::bigint, sum(r.exited)::bigint
	  FROM (SELECT f.name FROM segment.families f
	        UNION ALL
	        SELECT df.name FROM segment.definitions df WHERE df.family IS NULL) t,
	       LATERAL segment._refresh_one(t.name) r
	 GROUP BY r.segment ORDER BY r.segment;
END
$$;
COMMENT ON FUNCTION segment.refresh(text) IS 'recompute a segment or model from scratch (all when null); returns who entered and exited';

CREATE FUNCTION segment.of(customer bigint) RETURNS text[]
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(array_agg(d.name ORDER BY d.name), '{}')
	  FROM segment.definitions d
	 WHERE segment._can_read(d.owner) AND segment._chunk_contains(d.name, customer)
$$;
COMMENT ON FUNCTION segment.of(bigint) IS 'the segments a customer is in';

CREATE FUNCTION segment.verify(name text DEFAULT NULL,
	OUT segment text, OUT customer_id bigint, OUT stored boolean, OUT expected boolean)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	target text;
BEGIN
	IF name IS NOT NULL THEN
		PERFORM segment._check_owner(name);
	END IF;
	-- a family that labels its customers is evaluated once for all its
	-- segments
	FOR target IN
		SELECT DISTINCT CASE WHEN f.expression IS NOT NULL AND df.name IS DISTINCT FROM verify.name
		                     THEN df.family ELSE df.name END
		  FROM segment.definitions df LEFT JOIN segment.families f ON f.name = df.family
		 WHERE (verify.name IS NULL OR df.name = verify.name OR df.family = verify.name)
		   AND pg_catalog.pg_has_role(segment._caller(), df.owner, 'USAGE')
		 ORDER BY 1 LOOP
		RETURN QUERY
			SELECT fr.segment, k, k OPERATOR(@extschema@.<@) s.have, k OPERATOR(@extschema@.<@) fr.members
			  FROM segment._fresh(target) fr,
			       LATERAL (SELECT segment.members(fr.segment) AS have) s,
			       LATERAL @extschema@.unnest(s.have OPERATOR(@extschema@.#) fr.members) k
			 ORDER BY 1, 2;
	END LOOP;
END
$$;
COMMENT ON FUNCTION segment.verify(text) IS 'stored membership against a fresh evaluation: one row per difference';

--
-- Live segments: views
--

CREATE VIEW segment.membership AS
	SELECT d.name AS segment, k AS customer_id
	  FROM segment.definitions d
	 CROSS JOIN LATERAL @extschema@.unnest(segment.members(d.name)) k
	 WHERE segment._can_read(d.owner);
COMMENT ON VIEW segment.membership IS 'one row per segment and member; filter on segment to read one';
COMMENT ON COLUMN segment.membership.segment IS 'segment name';
COMMENT ON COLUMN segment.membership.customer_id IS 'customer key';

CREATE VIEW segment.summary AS
	SELECT d.name, d.kind, d.rule, d.description,
	       CASE WHEN segment._can_read(d.owner)
	            THEN @extschema@.cardinality(segment.members(d.name)) END AS size,
	       d.refreshed_at,
	       CASE WHEN segment._can_read(d.owner) THEN
	       (SELECT coalesce(sum(@extschema@.cardinality(f.entered)), 0)::bigint FROM segment.flips f
	         WHERE f.segment = d.name AND f.at > pg_catalog.now() - interval '1 day') END AS entered_1d,
	       CASE WHEN segment._can_read(d.owner) THEN
	       (SELECT coalesce(sum(@extschema@.cardinality(f.exited)), 0)::bigint FROM segment.flips f
	         WHERE f.segment = d.name AND f.at > pg_catalog.now() - interval '1 day') END AS exited_1d,
	       d.family,
	       coalesce(d.refresh_every, fam.refresh_every) AS refresh_every,
	       coalesce(d.schedule, fam.schedule) AS schedule
	  FROM segment.definitions d
	  LEFT JOIN segment.families fam ON fam.name = d.family
	 WHERE segment._sync();
COMMENT ON VIEW segment.summary IS 'one row per segment: definition, size, recent changes, refresh policy';
COMMENT ON COLUMN segment.summary.name IS 'segment name';
COMMENT ON COLUMN segment.summary.kind IS 'rule, static, rfm, ltv or cohort';
COMMENT ON COLUMN segment.summary.rule IS 'the rule as written (rule segments), or what decides membership';
COMMENT ON COLUMN segment.summary.description IS 'free text';
COMMENT ON COLUMN segment.summary.size IS 'number of members';
COMMENT ON COLUMN segment.summary.refreshed_at IS 'last full recomputation (at the reference time)';
COMMENT ON COLUMN segment.summary.entered_1d IS 'customers who entered in the last day';
COMMENT ON COLUMN segment.summary.exited_1d IS 'customers who exited in the last day';
COMMENT ON COLUMN segment.summary.family IS 'the model or cohort set the segment belongs to';
COMMENT ON COLUMN segment.summary.refresh_every IS 'how often segment.refresh_due() recomputes it';
COMMENT ON COLUMN segment.summary.schedule IS 'its pg_cron schedule, when it has one';

CREATE VIEW segment.history AS
	SELECT f.segment, k.customer_id, k.change, f.at
	  FROM segment.flips f
	  JOIN segment.definitions d ON d.name = f.segment
	 CROSS JOIN LATERAL (
		SELECT e AS customer_id, 'entered'::text AS change FROM @extschema@.unnest(f.entered) e
		UNION ALL
		SELECT x, 'exited' FROM @extschema@.unnest(f.exited) x) k
	 WHERE segment._can_read(d.owner);
COMMENT ON VIEW segment.history IS 'every recorded membership change of the segments you may read, per committed transaction';
COMMENT ON COLUMN segment.history.segment IS 'segment name';
COMMENT ON COLUMN segment.history.customer_id IS 'customer key';
COMMENT ON COLUMN segment.history.change IS 'entered or exited';
COMMENT ON COLUMN segment.history.at IS 'when the transaction that made the change committed';

GRANT SELECT ON segment.membership, segment.summary, segment.history TO PUBLIC;

-- Internal functions, for \df+ readers.
COMMENT ON FUNCTION segment._catalog_changed() IS 'internal: statement trigger telling every backend to reload the definitions it caches';
COMMENT ON FUNCTION segment._compile_rule(regclass, name, text, text, text[], text[]) IS 'internal: check a rule with the analyzer and return it compiled, with the columns, traits and segments it reads';
COMMENT ON FUNCTION segment._compile_trait(regclass, text, text) IS 'internal: check a trait with the analyzer and return it compiled, with its type';
COMMENT ON FUNCTION segment._refresh(text[]) IS 'internal: evaluate segments or families for every customer, and the segments that read them';
COMMENT ON FUNCTION segment._apply_members(text[], segment[]) IS 'internal: set the membership of segments computed elsewhere';
COMMENT ON FUNCTION segment._fresh(text) IS 'internal: a fresh evaluation of a segment, or of every segment of a family, applied nowhere';
COMMENT ON FUNCTION segment._chunk_fold(segment, segment, segment, segment, segment, integer) IS 'internal: a chunk row''s new members, added or removed after a change';
COMMENT ON FUNCTION segment._sync() IS 'internal: evaluate what this transaction changed before reading membership';
COMMENT ON FUNCTION segment._forget(text[]) IS 'internal: drop this transaction''s unwritten changes of segments being dropped';
COMMENT ON FUNCTION segment._profile_sql() IS 'internal: the query of the segment.traits view';
COMMENT ON FUNCTION segment._caller() IS 'internal: the role that called a SECURITY DEFINER function';
COMMENT ON FUNCTION segment._chunk_contains(text, bigint) IS 'internal: membership of one customer, reading only its chunk';
COMMENT ON FUNCTION segment._can_read(regrole) IS 'internal: may the current user read the segments of this owner';
COMMENT ON FUNCTION segment._rows_changed() IS 'internal: statement trigger noting the customers of a transition table';
COMMENT ON FUNCTION segment._truncated() IS 'internal: TRUNCATE trigger noting every customer';
COMMENT ON FUNCTION segment._customer_row_updated() IS 'internal: row trigger remembering customers whose watched columns changed';
COMMENT ON FUNCTION segment._customer_update_done() IS 'internal: statement trigger noting the remembered customers';
COMMENT ON FUNCTION segment._watch_columns() IS 'internal: recreate the update trigger for the columns rules read';
COMMENT ON FUNCTION segment._check_trackable(regclass, "char"[]) IS 'internal: may this table be tracked by the caller';
COMMENT ON FUNCTION segment._column_type(regclass, name) IS 'internal: the type of a column, or an error';
COMMENT ON FUNCTION segment._check_key_range(regclass, name) IS 'internal: are the keys in a table within the segment type''s range';
COMMENT ON FUNCTION segment._check_name(text) IS 'internal: reject an empty, taken or reserved segment name';
COMMENT ON FUNCTION segment._check_family_name(text, text) IS 'internal: reject a family name that is taken, too long, or whose members'' names are taken';
COMMENT ON FUNCTION segment._check_owner(text) IS 'internal: the definition of a segment or family the caller owns, or an error';
COMMENT ON FUNCTION segment._customers() IS 'internal: the tracked customer table, if the caller may read it';
COMMENT ON FUNCTION segment._create(text, text, text, text) IS 'internal: the definer part of segment.create';
COMMENT ON FUNCTION segment._refresh_one(text) IS 'internal: recompute one segment or family as its kind requires';

-- Internal functions that write membership or run rules as their owner.
REVOKE EXECUTE ON FUNCTION segment._refresh(text[]),
	segment._apply_members(text[], segment[]),
	segment._fresh(text),
	segment._forget(text[]),
	segment._refresh_one(text) FROM PUBLIC;

-- Dropping a tracked table stops tracking it; dropping the customer table
-- drops its segments.  An event table that traits read cannot be dropped.
CREATE FUNCTION segment._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	dropped record;
	users text;
BEGIN
	-- segments of a dropped customer table go with it, history included
	IF EXISTS (SELECT FROM segment.customer_source s
	             JOIN pg_catalog.pg_event_trigger_dropped_objects() o
	               ON o.classid = 'pg_catalog.pg_class'::regclass AND o.objid = s.relid::oid
	              AND o.objsubid = 0) THEN
		DELETE FROM segment.customer_source;
		DELETE FROM segment.flips;
		DELETE FROM segment.definitions;
		DELETE FROM segment.trait_definitions;
		DELETE FROM segment.families;
		IF pg_catalog.to_regclass('segment.traits') IS NOT NULL THEN
			DROP VIEW segment.traits;
		END IF;
	END IF;
	FOR dropped IN SELECT s.relid, o.object_identity FROM segment.event_sources s
	                 JOIN pg_catalog.pg_event_trigger_dropped_objects() o
	                   ON o.classid = 'pg_catalog.pg_class'::regclass AND o.objid = s.relid::oid
	                  AND o.objsubid = 0 LOOP
		SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', t.name), ', ' ORDER BY t.name) INTO users
		  FROM (SELECT t.name FROM segment.trait_definitions t
		         WHERE t.source = dropped.relid AND NOT t.hidden
		        UNION ALL
		        SELECT f.name FROM segment.families f WHERE f.source = dropped.relid) t;
		IF users IS NOT NULL THEN
			RAISE EXCEPTION 'cannot drop table % because segment traits or models read it',
				dropped.object_identity
				USING ERRCODE = 'dependent_objects_still_exist',
				      DETAIL = pg_catalog.format('%s read it.', users),
				      HINT = 'Drop them with segment.drop_trait() or segment.drop() first.';
		END IF;
		DELETE FROM segment.event_sources s WHERE s.relid = dropped.relid;
	END LOOP;
END
$$;
COMMENT ON FUNCTION segment._on_sql_drop() IS 'internal: event trigger that stops tracking dropped tables';
CREATE EVENT TRIGGER segment_on_sql_drop ON sql_drop
	EXECUTE FUNCTION segment._on_sql_drop();
