-- The segment type: storage, I/O, set algebra, comparison, functions and
-- aggregates.  Part of segment--0.1.0.sql (see the Makefile).


-- The management API, catalog tables and views live in schema segment.
CREATE SCHEMA segment;
COMMENT ON SCHEMA segment IS 'management API, catalog and views of the segment extension';

--
-- The type
--

CREATE TYPE segment;

CREATE FUNCTION segment_in(cstring) RETURNS segment
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_out(segment) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_recv(internal) RETURNS segment
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_send(segment) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Bitmaps are already compact: store large values out of line, uncompressed.
CREATE TYPE segment (
	INPUT = segment_in,
	OUTPUT = segment_out,
	RECEIVE = segment_recv,
	SEND = segment_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = external
);

COMMENT ON TYPE segment IS 'set of customer keys in [0, 4294967295], stored as a roaring bitmap';

--
-- Casts
--

CREATE FUNCTION segment(bigint[]) RETURNS segment
	AS 'MODULE_PATHNAME', 'segment_from_int8_array'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment(bigint[]) IS 'segment holding the elements of an array';

CREATE FUNCTION segment(integer[]) RETURNS segment
	AS 'MODULE_PATHNAME', 'segment_from_int4_array'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment(integer[]) IS 'segment holding the elements of an array';

CREATE FUNCTION to_array(segment) RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'segment_to_array'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION to_array(segment) IS 'members of a segment as an ascending array';

CREATE FUNCTION segment(bytea) RETURNS segment
	AS 'MODULE_PATHNAME', 'segment_from_bytea'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment(bytea) IS 'segment from the roaring portable serialization (validated)';

CREATE FUNCTION to_bytea(segment) RETURNS bytea
	AS 'MODULE_PATHNAME', 'segment_to_bytea'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION to_bytea(segment) IS 'roaring portable serialization of a segment';

CREATE CAST (bigint[] AS segment) WITH FUNCTION segment(bigint[]);
CREATE CAST (integer[] AS segment) WITH FUNCTION segment(integer[]);
CREATE CAST (segment AS bigint[]) WITH FUNCTION to_array(segment);
CREATE CAST (bytea AS segment) WITH FUNCTION segment(bytea);
CREATE CAST (segment AS bytea) WITH FUNCTION to_bytea(segment);

--
-- Set algebra
--

CREATE FUNCTION segment_and(segment, segment) RETURNS segment
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_or(segment, segment) RETURNS segment
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_andnot(segment, segment) RETURNS segment
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_xor(segment, segment) RETURNS segment
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment_and(segment, segment) IS 'intersection';
COMMENT ON FUNCTION segment_or(segment, segment) IS 'union';
COMMENT ON FUNCTION segment_andnot(segment, segment) IS 'difference';
COMMENT ON FUNCTION segment_xor(segment, segment) IS 'symmetric difference';

CREATE OPERATOR & (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_and, COMMUTATOR = &);
CREATE OPERATOR | (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_or, COMMUTATOR = |);
CREATE OPERATOR - (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_andnot);
CREATE OPERATOR # (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_xor, COMMUTATOR = #);

CREATE FUNCTION segment_contains(segment, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_contained(segment, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_contains_key(segment, bigint) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_key_contained(bigint, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_overlaps(segment, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment_contains(segment, segment) IS 'does the first segment contain the second';
COMMENT ON FUNCTION segment_contained(segment, segment) IS 'is the first segment contained in the second';
COMMENT ON FUNCTION segment_contains_key(segment, bigint) IS 'is the key a member of the segment';
COMMENT ON FUNCTION segment_key_contained(bigint, segment) IS 'is the key a member of the segment';
COMMENT ON FUNCTION segment_overlaps(segment, segment) IS 'do the segments share a member';

CREATE OPERATOR @> (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_contains, COMMUTATOR = <@,
	RESTRICT = contsel, JOIN = contjoinsel);
CREATE OPERATOR <@ (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_contained, COMMUTATOR = @>,
	RESTRICT = contsel, JOIN = contjoinsel);
CREATE OPERATOR @> (LEFTARG = segment, RIGHTARG = bigint,
	FUNCTION = segment_contains_key, COMMUTATOR = <@,
	RESTRICT = contsel, JOIN = contjoinsel);
CREATE OPERATOR <@ (LEFTARG = bigint, RIGHTARG = segment,
	FUNCTION = segment_key_contained, COMMUTATOR = @>,
	RESTRICT = contsel, JOIN = contjoinsel);
CREATE OPERATOR && (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_overlaps, COMMUTATOR = &&,
	RESTRICT = areasel, JOIN = areajoinsel);

--
-- Comparison, for btree and hash operator classes.  The order is that of the
-- ascending member lists compared element by element, as for arrays.
--

CREATE FUNCTION segment_eq(segment, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION segment_ne(segment, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION segment_lt(segment, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_le(segment, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_gt(segment, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_ge(segment, segment) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_cmp(segment, segment) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_hash(segment) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_hash_extended(segment, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR = (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_eq, COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR <> (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_ne, COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_lt, COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_le, COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_gt, COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (LEFTARG = segment, RIGHTARG = segment,
	FUNCTION = segment_ge, COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel);

CREATE OPERATOR CLASS segment_ops
	DEFAULT FOR TYPE segment USING btree AS
		OPERATOR 1 <,
		OPERATOR 2 <=,
		OPERATOR 3 =,
		OPERATOR 4 >=,
		OPERATOR 5 >,
		FUNCTION 1 segment_cmp(segment, segment);

CREATE OPERATOR CLASS segment_ops
	DEFAULT FOR TYPE segment USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 segment_hash(segment),
		FUNCTION 2 segment_hash_extended(segment, bigint);

--
-- Functions
--

CREATE FUNCTION segment_cardinality_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION cardinality(segment) RETURNS bigint
	AS 'MODULE_PATHNAME', 'segment_cardinality'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	SUPPORT segment_cardinality_support;
COMMENT ON FUNCTION cardinality(segment) IS 'number of members';

CREATE FUNCTION intersection_cardinality(segment, segment) RETURNS bigint
	AS 'MODULE_PATHNAME', 'segment_and_cardinality'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION union_cardinality(segment, segment) RETURNS bigint
	AS 'MODULE_PATHNAME', 'segment_or_cardinality'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION difference_cardinality(segment, segment) RETURNS bigint
	AS 'MODULE_PATHNAME', 'segment_andnot_cardinality'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION symmetric_difference_cardinality(segment, segment) RETURNS bigint
	AS 'MODULE_PATHNAME', 'segment_xor_cardinality'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION intersection_cardinality(segment, segment) IS 'cardinality of a & b, without building it';
COMMENT ON FUNCTION union_cardinality(segment, segment) IS 'cardinality of a | b, without building it';
COMMENT ON FUNCTION difference_cardinality(segment, segment) IS 'cardinality of a - b, without building it';
COMMENT ON FUNCTION symmetric_difference_cardinality(segment, segment) IS 'cardinality of a # b, without building it';

CREATE FUNCTION jaccard(segment, segment) RETURNS double precision
	AS 'MODULE_PATHNAME', 'segment_jaccard'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION jaccard(segment, segment) IS 'Jaccard index |a & b| / |a | b| (1 for two empty segments)';

CREATE FUNCTION min_member(segment) RETURNS bigint
	AS 'MODULE_PATHNAME', 'segment_min_member'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION max_member(segment) RETURNS bigint
	AS 'MODULE_PATHNAME', 'segment_max_member'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION member_rank(segment, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'segment_member_rank'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION nth_member(segment, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'segment_nth_member'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION slice(segment, bigint, bigint) RETURNS segment
	AS 'MODULE_PATHNAME', 'segment_slice'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION min_member(segment) IS 'smallest member, or NULL when empty';
COMMENT ON FUNCTION max_member(segment) IS 'largest member, or NULL when empty';
COMMENT ON FUNCTION member_rank(segment, bigint) IS 'number of members less than or equal to the key';
COMMENT ON FUNCTION nth_member(segment, bigint) IS 'the n-th smallest member (1-based), or NULL past the end';
COMMENT ON FUNCTION slice(segment, bigint, bigint) IS 'members between the two keys, both included';

CREATE FUNCTION sample(segment, bigint, bigint DEFAULT 0) RETURNS segment
	AS 'MODULE_PATHNAME', 'segment_sample'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sample_fraction(segment, double precision, bigint DEFAULT 0) RETURNS segment
	AS 'MODULE_PATHNAME', 'segment_sample_fraction'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sample(segment, bigint, bigint) IS 'deterministic sample of n members for a seed';
COMMENT ON FUNCTION sample_fraction(segment, double precision, bigint) IS 'deterministic sample of a fraction of the members for a seed';

CREATE FUNCTION segment_unnest_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION unnest(segment) RETURNS SETOF bigint
	AS 'MODULE_PATHNAME', 'segment_unnest'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	SUPPORT segment_unnest_support;
COMMENT ON FUNCTION unnest(segment) IS 'members of a segment as rows, ascending';

--
-- Aggregates
--

CREATE FUNCTION segment_agg_trans(internal, bigint) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment_agg_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment_agg_final(internal) RETURNS segment
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment_agg_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_agg_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE segment_agg(bigint) (
	SFUNC = segment_agg_trans,
	STYPE = internal,
	COMBINEFUNC = segment_agg_combine,
	SERIALFUNC = segment_agg_serialize,
	DESERIALFUNC = segment_agg_deserialize,
	FINALFUNC = segment_agg_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment_agg(bigint) IS 'segment of the non-null input keys';

CREATE FUNCTION segment_union_trans(internal, segment) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment_intersect_trans(internal, segment) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment_union_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment_intersect_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment_bitmap_final(internal) RETURNS segment
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment_bitmap_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment_bitmap_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE union_agg(segment) (
	SFUNC = segment_union_trans,
	STYPE = internal,
	COMBINEFUNC = segment_union_combine,
	SERIALFUNC = segment_bitmap_serialize,
	DESERIALFUNC = segment_bitmap_deserialize,
	FINALFUNC = segment_bitmap_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE union_agg(segment) IS 'union of the non-null input segments';

CREATE AGGREGATE intersect_agg(segment) (
	SFUNC = segment_intersect_trans,
	STYPE = internal,
	COMBINEFUNC = segment_intersect_combine,
	SERIALFUNC = segment_bitmap_serialize,
	DESERIALFUNC = segment_bitmap_deserialize,
	FINALFUNC = segment_bitmap_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE intersect_agg(segment) IS 'intersection of the non-null input segments';

