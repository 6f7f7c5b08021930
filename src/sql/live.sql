-- Live segments: catalog, evaluation, triggers, management API and views.
-- Part of segment--0.1.0.sql (see the Makefile).

--
-- Live segments: catalog
--
-- Every table the user's actions fill is registered with
-- pg_extension_config_dump, so pg_dump keeps segments.
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

CREATE TABLE segment.definitions (
	name text PRIMARY KEY CHECK (name <> ''),
	kind text NOT NULL CHECK (kind IN ('rule', 'static')),
	rule text,
	expression text,
	description text,
	owner regrole NOT NULL DEFAULT current_user::regrole,
	columns name[] NOT NULL DEFAULT '{}',
	depends_on text[] NOT NULL DEFAULT '{}',
	depth integer NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	refreshed_at timestamptz
);
COMMENT ON TABLE segment.definitions IS 'segment definitions: rules as written and as compiled';

CREATE TABLE segment.chunks (
	segment text NOT NULL REFERENCES segment.definitions (name) ON DELETE CASCADE,
	chunk integer NOT NULL CHECK (chunk BETWEEN 0 AND 65535),
	members segment NOT NULL,
	PRIMARY KEY (segment, chunk)
);
COMMENT ON TABLE segment.chunks IS 'membership, one row per segment and 65,536 keys (key >> 16)';

-- A bulk change of a million customers is a few rows here, not a million:
-- one row per segment, chunk and statement, with who entered and who exited.
CREATE TABLE segment.flips (
	segment text NOT NULL,
	chunk integer NOT NULL,
	entered segment NOT NULL,
	exited segment NOT NULL,
	at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()
);
CREATE INDEX flips_xid ON segment.flips (xid);
CREATE INDEX flips_segment_at ON segment.flips (segment, at);
COMMENT ON TABLE segment.flips IS 'membership changes: per segment, chunk and statement, who entered and who exited';

SELECT pg_catalog.pg_extension_config_dump('segment.customer_source', '');
SELECT pg_catalog.pg_extension_config_dump('segment.event_sources', '');
SELECT pg_catalog.pg_extension_config_dump('segment.definitions', '');
SELECT pg_catalog.pg_extension_config_dump('segment.chunks', '');
SELECT pg_catalog.pg_extension_config_dump('segment.flips', '');

-- Definitions are metadata anyone may see, like pg_class; membership and
-- history are read through the functions and views below, which check
-- the reader's rights.
REVOKE ALL ON segment.customer_source, segment.event_sources, segment.definitions,
	segment.chunks, segment.flips FROM PUBLIC;
GRANT SELECT ON segment.customer_source, segment.event_sources, segment.definitions TO PUBLIC;

--
-- Live segments: internals (C)
--

CREATE FUNCTION segment._compile_rule(customers regclass, key name, rule text,
	search_path text, OUT expression text, OUT columns name[], OUT segments text[])
	AS 'MODULE_PATHNAME', 'segment_compile_rule' LANGUAGE C STRICT;

CREATE FUNCTION segment._evaluate(customers regclass, key name, expressions text[],
	owner regrole, keys segment) RETURNS segment[]
	AS 'MODULE_PATHNAME', 'segment_evaluate' LANGUAGE C;

-- ROWS: a statement's customers usually fall in a chunk or two.
CREATE FUNCTION segment._split_chunks(members segment, OUT chunk integer, OUT members segment)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'segment_split_chunks' LANGUAGE C IMMUTABLE STRICT ROWS 4;

CREATE FUNCTION segment._note_flips(extension_schema name) RETURNS void
	AS 'MODULE_PATHNAME', 'segment_note_flips' LANGUAGE C STRICT;

CREATE FUNCTION segment._defer(extension_schema name, names text[], chunks integer[],
	entered segment[], exited segment[]) RETURNS void
	AS 'MODULE_PATHNAME', 'segment_defer' LANGUAGE C STRICT;

CREATE FUNCTION segment._pending_adjust(name text, chunk integer, members segment)
	RETURNS segment
	AS 'MODULE_PATHNAME', 'segment_pending_adjust' LANGUAGE C STABLE STRICT;

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

CREATE FUNCTION segment._chunk_contains(name text, customer bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'segment_chunk_contains' LANGUAGE C STABLE STRICT;

CREATE FUNCTION segment._can_read(owner regrole) RETURNS boolean
	AS 'MODULE_PATHNAME', 'segment_can_read' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION segment.members(text) IS 'the members of a segment';

--
-- Live segments: applying changes
--

-- Make the membership of each named segment agree with its fresh members
-- on the keys in affected.  The changes are computed against the
-- membership this transaction sees (stored rows and its own changes so
-- far), recorded in history now, and written to segment.chunks at commit,
-- in (segment, chunk) order (pending.c): a transaction locks chunk rows
-- only once it has done everything else, so transactions cannot deadlock
-- on them however their statements are ordered.
CREATE FUNCTION segment._apply(names text[], affected segment, fresh segment[],
	OUT segment text, OUT entered bigint, OUT exited bigint)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d_names text[];
	d_chunks integer[];
	d_came @extschema@.segment[];
	d_went @extschema@.segment[];
BEGIN
	SELECT array_agg(d.name ORDER BY d.name, d.chunk), array_agg(d.chunk ORDER BY d.name, d.chunk),
	       array_agg(d.came ORDER BY d.name, d.chunk), array_agg(d.went ORDER BY d.name, d.chunk)
	  INTO d_names, d_chunks, d_came, d_went
	  FROM (SELECT p.name, p.chunk,
	               p.fresh OPERATOR(@extschema@.-) p.current AS came,
	               (p.current OPERATOR(@extschema@.&) p.keys) OPERATOR(@extschema@.-) p.fresh AS went
	          FROM (SELECT n.name, k.chunk, k.members AS keys,
	                       n.fresh OPERATOR(@extschema@.&) k.members AS fresh,
	                       segment._pending_adjust(n.name, k.chunk,
	                           coalesce((SELECT c.members FROM segment.chunks c
	                                      WHERE c.segment = n.name AND c.chunk = k.chunk),
	                                    '{}')) AS current
	                  FROM unnest(names, fresh) n(name, fresh),
	                       segment._split_chunks(affected) k) p) d
	 WHERE @extschema@.cardinality(d.came) > 0 OR @extschema@.cardinality(d.went) > 0;

	IF d_names IS NOT NULL THEN
		PERFORM segment._defer('@extschema@', d_names, d_chunks, d_came, d_went);
		INSERT INTO segment.flips (segment, chunk, entered, exited)
		SELECT d.name, d.chunk, d.came, d.went
		  FROM unnest(d_names, d_chunks, d_came, d_went) d(name, chunk, came, went);
		PERFORM segment._note_flips('@extschema@');
	END IF;

	RETURN QUERY
	SELECT n.name,
	       coalesce(sum(@extschema@.cardinality(d.came)), 0)::bigint,
	       coalesce(sum(@extschema@.cardinality(d.went)), 0)::bigint
	  FROM unnest(names) n(name)
	  LEFT JOIN unnest(d_names, d_came, d_went) d(name, came, went) ON d.name = n.name
	 GROUP BY n.name
	 ORDER BY n.name;
END
$$;

-- Re-evaluate every segment for the customers in affected (all customers
-- when NULL): rules in dependency order, one scan for all the rules of one
-- depth and owner, then static lists, which only lose customers that no
-- longer exist.
CREATE FUNCTION segment._process(affected segment, only_segment text DEFAULT NULL,
	OUT segment text, OUT entered bigint, OUT exited bigint)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src segment.customer_source;
	grp record;
	names text[];
	results @extschema@.segment[];
	keys @extschema@.segment;
	existing @extschema@.segment;
	lvl integer;
BEGIN
	SELECT * INTO src FROM segment.customer_source;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	-- A full evaluation must not miss a change committed while it runs:
	-- writers wait for it, and it waits for writers in flight.
	IF affected IS NULL THEN
		EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN SHARE MODE', src.relid);
	END IF;

	FOR lvl IN SELECT DISTINCT df.depth FROM segment.definitions df
	            WHERE df.kind = 'rule' AND (only_segment IS NULL OR df.name = only_segment)
	            ORDER BY 1 LOOP
		names := '{}';
		results := '{}';
		FOR grp IN SELECT array_agg(df.name ORDER BY df.name) AS names,
		                  array_agg(df.expression ORDER BY df.name) AS expressions, df.owner
		             FROM segment.definitions df
		            WHERE df.kind = 'rule' AND df.depth = lvl
		              AND (only_segment IS NULL OR df.name = only_segment)
		            GROUP BY df.owner LOOP
			names := names || grp.names;
			results := results ||
				segment._evaluate(src.relid, src.key_column, grp.expressions, grp.owner, affected);
		END LOOP;
		IF affected IS NULL THEN
			-- everyone: whoever the rules select now, and the current members
			SELECT @extschema@.union_agg(m) INTO keys
			  FROM (SELECT unnest(results) UNION ALL
			        SELECT segment.members(n) FROM unnest(names) n) u(m);
			UPDATE segment.definitions df SET refreshed_at = pg_catalog.now()
			 WHERE df.name = ANY (names);
		ELSE
			keys := affected;
		END IF;
		RETURN QUERY SELECT * FROM segment._apply(names, keys, results);
	END LOOP;

	IF affected IS NULL OR NOT EXISTS (SELECT FROM segment.definitions WHERE kind = 'static') THEN
		RETURN;
	END IF;
	EXECUTE pg_catalog.format(
		'SELECT coalesce(%1$s.segment_agg(c.%2$I), ''{}'') '
		'FROM ONLY %3$s c WHERE c.%2$I OPERATOR(%1$s.<@) $1',
		'@extschema@', src.key_column, src.relid)
	USING affected INTO existing;
	SELECT array_agg(df.name ORDER BY df.name),
	       array_agg(segment.members(df.name) OPERATOR(@extschema@.&) existing ORDER BY df.name)
	  INTO names, results
	  FROM segment.definitions df
	 WHERE df.kind = 'static' AND (only_segment IS NULL OR df.name = only_segment);
	IF names IS NOT NULL THEN
		RETURN QUERY SELECT * FROM segment._apply(names, affected, results);
	END IF;
END
$$;

--
-- Live segments: triggers on the customer table
--

-- INSERT, UPDATE and DELETE on a tracked table with transition tables
-- re-evaluate the customers in them.  Argument: the customer key column.
CREATE FUNCTION segment._rows_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	keys @extschema@.segment;
	parts text[] := '{}';
BEGIN
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		parts := parts || pg_catalog.format('SELECT %I FROM segment_new_rows', TG_ARGV[0]);
	END IF;
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		parts := parts || pg_catalog.format('SELECT %I FROM segment_old_rows', TG_ARGV[0]);
	END IF;
	EXECUTE pg_catalog.format('SELECT %s.segment_agg(k) FROM (%s) e(k)',
		'@extschema@', pg_catalog.array_to_string(parts, ' UNION ALL ')) INTO keys;
	IF keys IS NOT NULL THEN
		PERFORM segment._process(keys);
	END IF;
	RETURN NULL;
END
$$;

-- Only customers whose key or a column some rule reads changed are
-- re-evaluated: the row trigger's WHEN clause lists exactly those columns,
-- so an UPDATE of other columns does not even call it.
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

CREATE FUNCTION segment._customers_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	everyone @extschema@.segment;
BEGIN
	SELECT @extschema@.union_agg(segment.members(d.name)) INTO everyone FROM segment.definitions d;
	IF everyone IS NOT NULL THEN
		PERFORM segment._process(everyone);
	END IF;
	RETURN NULL;
END
$$;

--
-- Live segments: the management API
--

CREATE FUNCTION segment.track_customers(tbl regclass, key name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	att record;
	bad bigint;
	qualified text;
BEGIN
	IF EXISTS (SELECT FROM segment.customer_source) THEN
		RAISE EXCEPTION 'a customer table is already tracked: %',
			(SELECT relid FROM segment.customer_source)
			USING ERRCODE = 'duplicate_object',
			      HINT = 'One customer table per database is tracked.';
	END IF;
	IF NOT pg_catalog.pg_has_role(segment._caller(),
	                              (SELECT relowner FROM pg_catalog.pg_class WHERE oid = tbl), 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid = tbl) = 'p' THEN
		RAISE EXCEPTION 'partitioned table % cannot be tracked as the customer table', tbl
			USING ERRCODE = 'feature_not_supported';
	END IF;
	IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid = tbl) <> 'r' THEN
		RAISE EXCEPTION '"%" is not a table', (SELECT relname FROM pg_catalog.pg_class WHERE oid = tbl)
			USING ERRCODE = 'wrong_object_type';
	END IF;
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
	EXECUTE pg_catalog.format('SELECT %1$I FROM ONLY %2$s WHERE %1$I < 0 OR %1$I > 4294967295 LIMIT 1',
		key, tbl) INTO bad;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'customer key % is out of range', bad
			USING ERRCODE = 'numeric_value_out_of_range',
			      DETAIL = 'Customer keys must be integers between 0 and 4294967295.';
	END IF;

	INSERT INTO segment.customer_source (relid, key_column) VALUES (tbl, key);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_customers_inserted AFTER INSERT ON %s '
		'REFERENCING NEW TABLE AS segment_new_rows FOR EACH STATEMENT '
		'EXECUTE FUNCTION segment._rows_changed(%L)', tbl, key);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_customers_updated AFTER UPDATE ON %s '
		'FOR EACH STATEMENT EXECUTE FUNCTION segment._customer_update_done()', tbl);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_customers_deleted AFTER DELETE ON %s '
		'REFERENCING OLD TABLE AS segment_old_rows FOR EACH STATEMENT '
		'EXECUTE FUNCTION segment._rows_changed(%L)', tbl, key);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_customers_truncated AFTER TRUNCATE ON %s '
		'FOR EACH STATEMENT EXECUTE FUNCTION segment._customers_truncated()', tbl);
	PERFORM segment._watch_columns();
END
$$;
COMMENT ON FUNCTION segment.track_customers(regclass, name) IS 'track the customer table whose rows rules read';

CREATE FUNCTION segment._events_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	everyone @extschema@.segment;
	src segment.customer_source;
BEGIN
	SELECT * INTO src FROM segment.customer_source;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	EXECUTE pg_catalog.format('SELECT %s.segment_agg(%I) FROM ONLY %s',
		'@extschema@', src.key_column, src.relid) INTO everyone;
	IF everyone IS NOT NULL THEN
		PERFORM segment._process(everyone);
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION segment.track_events(tbl regclass, customer name, at name,
	amount name DEFAULT NULL, kind name DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	col name;
	typ regtype;
	bad bigint;
BEGIN
	IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid = tbl) NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', (SELECT relname FROM pg_catalog.pg_class WHERE oid = tbl)
			USING ERRCODE = 'wrong_object_type';
	END IF;
	IF NOT pg_catalog.pg_has_role(segment._caller(),
	                              (SELECT relowner FROM pg_catalog.pg_class WHERE oid = tbl), 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF EXISTS (SELECT FROM segment.event_sources WHERE relid = tbl) THEN
		RAISE EXCEPTION 'table % is already tracked', tbl USING ERRCODE = 'duplicate_object';
	END IF;
	IF EXISTS (SELECT FROM segment.customer_source WHERE relid = tbl) THEN
		RAISE EXCEPTION 'table % is the tracked customer table', tbl USING ERRCODE = 'duplicate_object';
	END IF;
	FOREACH col IN ARRAY ARRAY[customer, at, amount, kind] LOOP
		CONTINUE WHEN col IS NULL;
		SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
				USING ERRCODE = 'undefined_column';
		END IF;
		IF col = customer AND typ NOT IN ('int2', 'int4', 'int8') THEN
			RAISE EXCEPTION 'customer column "%" must be smallint, integer or bigint, not %', col, typ
				USING ERRCODE = 'datatype_mismatch';
		ELSIF col = at AND typ NOT IN ('timestamptz', 'timestamp', 'date') THEN
			RAISE EXCEPTION 'time column "%" must be timestamptz, timestamp or date, not %', col, typ
				USING ERRCODE = 'datatype_mismatch';
		ELSIF col = amount AND typ NOT IN ('int2', 'int4', 'int8', 'numeric', 'float4', 'float8', 'money') THEN
			RAISE EXCEPTION 'amount column "%" must be numeric, not %', col, typ
				USING ERRCODE = 'datatype_mismatch';
		END IF;
	END LOOP;
	EXECUTE pg_catalog.format('SELECT %1$I FROM ONLY %2$s WHERE %1$I < 0 OR %1$I > 4294967295 LIMIT 1',
		customer, tbl) INTO bad;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'customer key % is out of range', bad
			USING ERRCODE = 'numeric_value_out_of_range',
			      DETAIL = 'Customer keys must be integers between 0 and 4294967295.';
	END IF;

	INSERT INTO segment.event_sources VALUES (tbl, customer, at, amount, kind);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_events_inserted AFTER INSERT ON %s '
		'REFERENCING NEW TABLE AS segment_new_rows FOR EACH STATEMENT '
		'EXECUTE FUNCTION segment._rows_changed(%L)', tbl, customer);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_events_updated AFTER UPDATE ON %s '
		'REFERENCING OLD TABLE AS segment_old_rows NEW TABLE AS segment_new_rows '
		'FOR EACH STATEMENT EXECUTE FUNCTION segment._rows_changed(%L)', tbl, customer);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_events_deleted AFTER DELETE ON %s '
		'REFERENCING OLD TABLE AS segment_old_rows FOR EACH STATEMENT '
		'EXECUTE FUNCTION segment._rows_changed(%L)', tbl, customer);
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER segment_events_truncated AFTER TRUNCATE ON %s '
		'FOR EACH STATEMENT EXECUTE FUNCTION segment._events_truncated()', tbl);
END
$$;
COMMENT ON FUNCTION segment.track_events(regclass, name, name, name, name) IS 'track an event table: its changes re-evaluate the customers they concern';

CREATE FUNCTION segment._check_name(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF name IS NULL OR pg_catalog.btrim(name) = '' THEN
		RAISE EXCEPTION 'segment name must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT FROM segment.definitions d WHERE d.name = _check_name.name) THEN
		RAISE EXCEPTION 'segment "%" already exists', name USING ERRCODE = 'duplicate_object';
	END IF;
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
	dep_depth integer;
	depth integer := 0;
	size bigint;
BEGIN
	PERFORM segment._check_name(name);
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
	IF rule IS NULL THEN
		RAISE EXCEPTION 'a rule must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO compiled
	  FROM segment._compile_rule(src.relid, src.key_column, rule, caller_search_path);
	FOREACH dep IN ARRAY compiled.segments LOOP
		IF dep = name THEN
			RAISE EXCEPTION 'segment "%" cannot refer to itself', name
				USING ERRCODE = 'invalid_recursion';
		END IF;
		SELECT d.depth INTO dep_depth FROM segment.definitions d WHERE d.name = dep;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'segment "%" does not exist', dep USING ERRCODE = 'undefined_object';
		END IF;
		depth := GREATEST(depth, dep_depth + 1);
	END LOOP;

	INSERT INTO segment.definitions (name, kind, rule, expression, description, owner, columns,
		depends_on, depth)
	VALUES (_create.name, 'rule', rule, compiled.expression, description, segment._caller(),
		compiled.columns, compiled.segments, depth);
	PERFORM segment._watch_columns();
	SELECT p.entered INTO size FROM segment._process(NULL, _create.name) p;
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
	IF NOT EXISTS (SELECT FROM segment.customer_source) THEN
		RAISE EXCEPTION 'no customer table is tracked'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Call segment.track_customers() first.';
	END IF;
	IF NOT pg_catalog.has_table_privilege(segment._caller(),
	                                      (SELECT relid FROM segment.customer_source), 'SELECT') THEN
		RAISE EXCEPTION 'permission denied for table %', (SELECT relid FROM segment.customer_source)
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF members IS NULL THEN
		RAISE EXCEPTION 'members must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	INSERT INTO segment.definitions (name, kind, owner, refreshed_at)
	VALUES (create_static.name, 'static', segment._caller(), pg_catalog.now());
	SELECT * INTO result FROM segment._apply(ARRAY[name], members, ARRAY[members]);
	RETURN result.entered;
END
$$;
COMMENT ON FUNCTION segment.create_static(text, segment) IS 'define a segment from a fixed list of customers';

-- The definition of a segment the caller owns (or whose owner's rights it has).
CREATE FUNCTION segment._check_owner(name text) RETURNS segment.definitions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d segment.definitions;
BEGIN
	SELECT * INTO d FROM segment.definitions df WHERE df.name = _check_owner.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'segment "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT pg_catalog.pg_has_role(segment._caller(), d.owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of segment "%"', name USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN d;
END
$$;

CREATE FUNCTION segment.drop(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d segment.definitions;
	users text;
BEGIN
	d := segment._check_owner(name);
	SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', df.name), ', ' ORDER BY df.name) INTO users
	  FROM segment.definitions df WHERE drop.name = ANY (df.depends_on);
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop segment "%" because other segments depend on it', name
			USING ERRCODE = 'dependent_objects_still_exist',
			      DETAIL = pg_catalog.format('Segment %s refers to it with in_segment().', users);
	END IF;
	DELETE FROM segment.flips f WHERE f.segment = drop.name;
	DELETE FROM segment.definitions df WHERE df.name = drop.name;
	PERFORM segment._watch_columns();
END
$$;
COMMENT ON FUNCTION segment.drop(text) IS 'drop a segment and its membership';

CREATE FUNCTION segment.refresh(name text DEFAULT NULL,
	OUT segment text, OUT entered bigint, OUT exited bigint)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF name IS NOT NULL THEN
		PERFORM segment._check_owner(name);
	ELSIF EXISTS (SELECT FROM segment.definitions df
	               WHERE NOT pg_catalog.pg_has_role(segment._caller(), df.owner, 'USAGE')) THEN
		RAISE EXCEPTION 'must be owner of every segment to refresh them all'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN QUERY SELECT * FROM segment._process(NULL, name);
END
$$;
COMMENT ON FUNCTION segment.refresh(text) IS 'recompute segments from scratch; returns who entered and exited';

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
	src segment.customer_source;
	d segment.definitions;
	have @extschema@.segment;
	want @extschema@.segment;
BEGIN
	IF name IS NOT NULL THEN
		PERFORM segment._check_owner(name);
	END IF;
	SELECT * INTO src FROM segment.customer_source;
	FOR d IN SELECT * FROM segment.definitions df
	          WHERE df.kind = 'rule' AND (verify.name IS NULL OR df.name = verify.name)
	            AND pg_catalog.pg_has_role(segment._caller(), df.owner, 'USAGE')
	          ORDER BY df.name LOOP
		have := segment.members(d.name);
		want := (segment._evaluate(src.relid, src.key_column, ARRAY[d.expression], d.owner, NULL))[1];
		RETURN QUERY
			SELECT d.name, k, k OPERATOR(@extschema@.<@) have, k OPERATOR(@extschema@.<@) want
			  FROM @extschema@.unnest(have OPERATOR(@extschema@.#) want) k;
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
	         WHERE f.segment = d.name AND f.at > pg_catalog.now() - interval '1 day') END AS exited_1d
	  FROM segment.definitions d;
COMMENT ON VIEW segment.summary IS 'one row per segment: definition, size, recent changes';
COMMENT ON COLUMN segment.summary.name IS 'segment name';
COMMENT ON COLUMN segment.summary.kind IS 'rule or static';
COMMENT ON COLUMN segment.summary.rule IS 'the rule as written (rule segments)';
COMMENT ON COLUMN segment.summary.description IS 'free text';
COMMENT ON COLUMN segment.summary.size IS 'number of members';
COMMENT ON COLUMN segment.summary.refreshed_at IS 'last full recomputation';
COMMENT ON COLUMN segment.summary.entered_1d IS 'customers who entered in the last day';
COMMENT ON COLUMN segment.summary.exited_1d IS 'customers who exited in the last day';

CREATE VIEW segment.history AS
	SELECT f.segment, k.customer_id, k.change, f.at
	  FROM segment.flips f
	  JOIN segment.definitions d ON d.name = f.segment
	 CROSS JOIN LATERAL (
		SELECT e AS customer_id, 'entered'::text AS change FROM @extschema@.unnest(f.entered) e
		UNION ALL
		SELECT x, 'exited' FROM @extschema@.unnest(f.exited) x) k
	 WHERE segment._can_read(d.owner);
COMMENT ON VIEW segment.history IS 'every recorded membership change of the segments you may read';
COMMENT ON COLUMN segment.history.segment IS 'segment name';
COMMENT ON COLUMN segment.history.customer_id IS 'customer key';
COMMENT ON COLUMN segment.history.change IS 'entered or exited';
COMMENT ON COLUMN segment.history.at IS 'when the change was made: changes of one customer are in commit order';

GRANT SELECT ON segment.membership, segment.summary, segment.history TO PUBLIC;

-- Internal functions, for \df+ readers.
COMMENT ON FUNCTION segment._compile_rule(regclass, name, text, text) IS 'internal: check a rule with the analyzer and return it compiled, with the columns and segments it reads';
COMMENT ON FUNCTION segment._evaluate(regclass, name, text[], regrole, segment) IS 'internal: evaluate compiled rules as their owner, for the given customers or all';
COMMENT ON FUNCTION segment._split_chunks(segment) IS 'internal: one row per chunk (key >> 16) of a segment';
COMMENT ON FUNCTION segment._note_flips(name) IS 'internal: this transaction recorded flips, to announce at commit';
COMMENT ON FUNCTION segment._defer(name, text[], integer[], segment[], segment[]) IS 'internal: record membership changes, written to segment.chunks at commit';
COMMENT ON FUNCTION segment._pending_adjust(text, integer, segment) IS 'internal: a stored chunk with this transaction''s unwritten changes applied';
COMMENT ON FUNCTION segment._caller() IS 'internal: the role that called a SECURITY DEFINER function';
COMMENT ON FUNCTION segment._chunk_contains(text, bigint) IS 'internal: membership of one customer, reading only its chunk';
COMMENT ON FUNCTION segment._can_read(regrole) IS 'internal: may the current user read the segments of this owner';
COMMENT ON FUNCTION segment._apply(text[], segment, segment[]) IS 'internal: bring the membership of segments in line with fresh results for the affected customers';
COMMENT ON FUNCTION segment._process(segment, text) IS 'internal: re-evaluate every segment, depth by depth, for the affected customers (all when NULL)';
COMMENT ON FUNCTION segment._rows_changed() IS 'internal: statement trigger re-evaluating the customers of a transition table';
COMMENT ON FUNCTION segment._customer_row_updated() IS 'internal: row trigger remembering customers whose watched columns changed';
COMMENT ON FUNCTION segment._customer_update_done() IS 'internal: statement trigger re-evaluating the remembered customers';
COMMENT ON FUNCTION segment._watch_columns() IS 'internal: recreate the update trigger for the columns rules read';
COMMENT ON FUNCTION segment._customers_truncated() IS 'internal: TRUNCATE of the customer table: every member leaves';
COMMENT ON FUNCTION segment._events_truncated() IS 'internal: TRUNCATE of an event table: every customer is re-evaluated';
COMMENT ON FUNCTION segment._check_name(text) IS 'internal: reject an empty or taken segment name';
COMMENT ON FUNCTION segment._create(text, text, text, text) IS 'internal: the definer part of segment.create';
COMMENT ON FUNCTION segment._check_owner(text) IS 'internal: the definition of a segment the caller owns, or an error';

-- Internal functions that write membership or run rules as their owner.
REVOKE EXECUTE ON FUNCTION segment._apply(text[], segment, segment[]),
	segment._process(segment, text),
	segment._evaluate(regclass, name, text[], regrole, segment),
	segment._note_flips(name),
	segment._defer(name, text[], integer[], segment[], segment[]),
	segment._pending_adjust(text, integer, segment) FROM PUBLIC;

-- Dropping a tracked table stops tracking it; dropping the customer table
-- drops its segments.
CREATE FUNCTION segment._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	-- segments of a dropped customer table go with it, history included
	IF EXISTS (SELECT FROM segment.customer_source s
	             JOIN pg_catalog.pg_event_trigger_dropped_objects() o
	               ON o.classid = 'pg_catalog.pg_class'::regclass AND o.objid = s.relid::oid
	              AND o.objsubid = 0) THEN
		DELETE FROM segment.customer_source;
		DELETE FROM segment.flips;
		DELETE FROM segment.definitions;
	END IF;
	DELETE FROM segment.event_sources s
	 USING pg_catalog.pg_event_trigger_dropped_objects() o
	 WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objid = s.relid::oid
	   AND o.objsubid = 0;
END
$$;
COMMENT ON FUNCTION segment._on_sql_drop() IS 'internal: event trigger that stops tracking dropped tables';
CREATE EVENT TRIGGER segment_on_sql_drop ON sql_drop
	EXECUTE FUNCTION segment._on_sql_drop();
