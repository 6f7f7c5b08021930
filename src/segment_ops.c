/*-------------------------------------------------------------------------
 *
 * segment_ops.c
 *	  Set algebra, containment, comparison and hashing of segments.
 *
 * Everything here reads both arguments in place: containers are matched by
 * key in the two headers and combined one pair at a time (container_ops.c).
 * Counting never builds a result, and containers present on one side only
 * are copied as bytes.
 *
 * IDENTIFICATION
 *	  src/segment_ops.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "common/hashfn.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(segment_and);
PG_FUNCTION_INFO_V1(segment_or);
PG_FUNCTION_INFO_V1(segment_andnot);
PG_FUNCTION_INFO_V1(segment_xor);
PG_FUNCTION_INFO_V1(segment_and_cardinality);
PG_FUNCTION_INFO_V1(segment_or_cardinality);
PG_FUNCTION_INFO_V1(segment_andnot_cardinality);
PG_FUNCTION_INFO_V1(segment_xor_cardinality);
PG_FUNCTION_INFO_V1(segment_jaccard);
PG_FUNCTION_INFO_V1(segment_contains);
PG_FUNCTION_INFO_V1(segment_contained);
PG_FUNCTION_INFO_V1(segment_contains_key);
PG_FUNCTION_INFO_V1(segment_key_contained);
PG_FUNCTION_INFO_V1(segment_overlaps);
PG_FUNCTION_INFO_V1(segment_eq);
PG_FUNCTION_INFO_V1(segment_ne);
PG_FUNCTION_INFO_V1(segment_lt);
PG_FUNCTION_INFO_V1(segment_le);
PG_FUNCTION_INFO_V1(segment_gt);
PG_FUNCTION_INFO_V1(segment_ge);
PG_FUNCTION_INFO_V1(segment_cmp);
PG_FUNCTION_INFO_V1(segment_hash);
PG_FUNCTION_INFO_V1(segment_hash_extended);

/* A key past every container key, to end merges. */
#define KEY_END		0x10000

static inline int32
key_or_end(const SegmentView *sv, uint32 i)
{
	return i < sv->h.n ? (int32) rf_key(&sv->h, i) : KEY_END;
}

/*
 * a op b, container by container.
 */
static SegmentData *
set_op(const SegmentView *a, const SegmentView *b, RkOp op)
{
	RcScratch  *s = SegmentScratch();
	SegmentWriter w;
	uint32		i = 0,
				j = 0;
	bool		keep_a = op != RK_AND;
	bool		keep_b = op == RK_OR || op == RK_XOR;
	size_t		hint;

	switch (op)
	{
		case RK_AND:
			hint = Min(a->h.len, b->h.len);
			break;
		case RK_ANDNOT:
			hint = a->h.len;
			break;
		default:
			hint = a->h.len + b->h.len;
			break;
	}
	SegmentWriterInitReserved(&w, hint,
							  Min(a->h.n + b->h.n, RF_MAX_CONTAINERS));

	while (i < a->h.n || j < b->h.n)
	{
		int32		ka = key_or_end(a, i);
		int32		kb = key_or_end(b, j);
		RfContainer ca,
					cb;

		if (ka < kb)
		{
			if (keep_a)
			{
				SegmentGetContainer(a, i, &ca);
				SegmentWriterAddRaw(&w, &ca);
			}
			i++;
		}
		else if (kb < ka)
		{
			if (keep_b)
			{
				SegmentGetContainer(b, j, &cb);
				SegmentWriterAddRaw(&w, &cb);
			}
			j++;
		}
		else
		{
			RcResult	r;

			SegmentGetContainer(a, i, &ca);
			SegmentGetContainer(b, j, &cb);
			rc_op(op, &ca, &cb, s, &r);
			SegmentWriterAddResult(&w, (uint16) ka, &r);
			i++;
			j++;
		}

		/* skip what an intersection cannot keep */
		if (!keep_a && !keep_b)
		{
			while (i < a->h.n && j < b->h.n && rf_key(&a->h, i) != rf_key(&b->h, j))
			{
				if (rf_key(&a->h, i) < rf_key(&b->h, j))
					i++;
				else
					j++;
			}
			if (i >= a->h.n || j >= b->h.n)
				break;
		}
		CHECK_FOR_INTERRUPTS();
	}
	return SegmentWriterFinish(&w);
}

/*
 * |a & b|, never building a & b.
 */
static uint64
and_cardinality(const SegmentView *a, const SegmentView *b)
{
	RcScratch  *s = SegmentScratch();
	uint64		total = 0;
	uint32		i = 0,
				j = 0;

	while (i < a->h.n && j < b->h.n)
	{
		uint16		ka = rf_key(&a->h, i);
		uint16		kb = rf_key(&b->h, j);

		if (ka < kb)
			i++;
		else if (kb < ka)
			j++;
		else
		{
			RfContainer ca,
						cb;

			SegmentGetContainer(a, i, &ca);
			SegmentGetContainer(b, j, &cb);
			total += rc_and_card(&ca, &cb, s);
			i++;
			j++;
			CHECK_FOR_INTERRUPTS();
		}
	}
	return total;
}

#define SET_OP_FUNCTION(fname, op) \
Datum \
fname(PG_FUNCTION_ARGS) \
{ \
	SegmentView a, \
				b; \
\
	SegmentGetArgView(fcinfo, 0, &a); \
	SegmentGetArgView(fcinfo, 1, &b); \
	PG_RETURN_SEGMENT_P(set_op(&a, &b, op)); \
}

SET_OP_FUNCTION(segment_and, RK_AND)
SET_OP_FUNCTION(segment_or, RK_OR)
SET_OP_FUNCTION(segment_andnot, RK_ANDNOT)
SET_OP_FUNCTION(segment_xor, RK_XOR)

/*
 * The four cardinalities follow from |a|, |b| (sums of header fields) and
 * |a & b|.
 */
static void
cardinalities(FunctionCallInfo fcinfo, uint64 *ca, uint64 *cb, uint64 *cand)
{
	SegmentView a,
				b;

	SegmentGetArgView(fcinfo, 0, &a);
	SegmentGetArgView(fcinfo, 1, &b);
	*ca = rf_cardinality(&a.h);
	*cb = rf_cardinality(&b.h);
	*cand = and_cardinality(&a, &b);
}

Datum
segment_and_cardinality(PG_FUNCTION_ARGS)
{
	uint64		ca,
				cb,
				cand;

	cardinalities(fcinfo, &ca, &cb, &cand);
	PG_RETURN_INT64((int64) cand);
}

Datum
segment_or_cardinality(PG_FUNCTION_ARGS)
{
	uint64		ca,
				cb,
				cand;

	cardinalities(fcinfo, &ca, &cb, &cand);
	PG_RETURN_INT64((int64) (ca + cb - cand));
}

Datum
segment_andnot_cardinality(PG_FUNCTION_ARGS)
{
	uint64		ca,
				cb,
				cand;

	cardinalities(fcinfo, &ca, &cb, &cand);
	PG_RETURN_INT64((int64) (ca - cand));
}

Datum
segment_xor_cardinality(PG_FUNCTION_ARGS)
{
	uint64		ca,
				cb,
				cand;

	cardinalities(fcinfo, &ca, &cb, &cand);
	PG_RETURN_INT64((int64) (ca + cb - 2 * cand));
}

Datum
segment_jaccard(PG_FUNCTION_ARGS)
{
	uint64		ca,
				cb,
				cand;

	cardinalities(fcinfo, &ca, &cb, &cand);
	/* two empty sets are identical */
	if (ca + cb == 0)
		PG_RETURN_FLOAT8(1.0);
	PG_RETURN_FLOAT8((double) cand / (double) (ca + cb - cand));
}

/*
 * Is sub a subset of sup?  Each container of sub needs a container of sup
 * with the same key holding all its members.
 */
static bool
is_subset(const SegmentView *sup, const SegmentView *sub)
{
	RcScratch  *s = SegmentScratch();
	uint32		i = 0;

	if (sub->h.n > sup->h.n)
		return false;
	for (uint32 j = 0; j < sub->h.n; j++)
	{
		uint16		key = rf_key(&sub->h, j);
		RfContainer csup,
					csub;

		while (i < sup->h.n && rf_key(&sup->h, i) < key)
			i++;
		if (i >= sup->h.n || rf_key(&sup->h, i) != key ||
			rf_card(&sup->h, i) < rf_card(&sub->h, j))
			return false;
		SegmentGetContainer(sup, i, &csup);
		SegmentGetContainer(sub, j, &csub);
		if (rc_and_card(&csup, &csub, s) != csub.card)
			return false;
		i++;
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

Datum
segment_contains(PG_FUNCTION_ARGS)
{
	SegmentView a,
				b;

	SegmentGetArgView(fcinfo, 0, &a);
	SegmentGetArgView(fcinfo, 1, &b);
	PG_RETURN_BOOL(is_subset(&a, &b));
}

Datum
segment_contained(PG_FUNCTION_ARGS)
{
	SegmentView a,
				b;

	SegmentGetArgView(fcinfo, 0, &a);
	SegmentGetArgView(fcinfo, 1, &b);
	PG_RETURN_BOOL(is_subset(&b, &a));
}

Datum
segment_contains_key(PG_FUNCTION_ARGS)
{
	uint32		key = SegmentCheckKey(PG_GETARG_INT64(1));

	PG_RETURN_BOOL(SegmentArgContainsKey(fcinfo, 0, key));
}

Datum
segment_key_contained(PG_FUNCTION_ARGS)
{
	uint32		key = SegmentCheckKey(PG_GETARG_INT64(0));

	PG_RETURN_BOOL(SegmentArgContainsKey(fcinfo, 1, key));
}

Datum
segment_overlaps(PG_FUNCTION_ARGS)
{
	RcScratch  *s = SegmentScratch();
	SegmentView a,
				b;
	uint32		i = 0,
				j = 0;

	SegmentGetArgView(fcinfo, 0, &a);
	SegmentGetArgView(fcinfo, 1, &b);
	while (i < a.h.n && j < b.h.n)
	{
		uint16		ka = rf_key(&a.h, i);
		uint16		kb = rf_key(&b.h, j);

		if (ka < kb)
			i++;
		else if (kb < ka)
			j++;
		else
		{
			RfContainer ca,
						cb;

			SegmentGetContainer(&a, i, &ca);
			SegmentGetContainer(&b, j, &cb);
			if (rc_and_card(&ca, &cb, s) > 0)
				PG_RETURN_BOOL(true);
			i++;
			j++;
		}
	}
	PG_RETURN_BOOL(false);
}

/*
 * Segments are canonical, so equal sets have equal bytes.
 */
static bool
segment_equal(const SegmentView *a, const SegmentView *b)
{
	return a->h.len == b->h.len && memcmp(a->h.buf, b->h.buf, a->h.len) == 0;
}

/*
 * Order segments as their ascending member lists, compared element by
 * element; a list that is a prefix of another sorts first.
 */
static int
segment_compare(const SegmentView *a, const SegmentView *b)
{
	RcScratch  *s = SegmentScratch();
	uint32		n = Min(a->h.n, b->h.n);

	if (segment_equal(a, b))
		return 0;

	for (uint32 i = 0; i < n; i++)
	{
		uint16		ka = rf_key(&a->h, i);
		uint16		kb = rf_key(&b->h, i);
		RfContainer ca,
					cb;
		uint32		na,
					nb;

		/* the side whose next member lies in a lower container is less */
		if (ka != kb)
			return ka < kb ? -1 : 1;

		SegmentGetContainer(a, i, &ca);
		SegmentGetContainer(b, i, &cb);
		if (ca.type == cb.type && ca.size == cb.size && ca.card == cb.card &&
			memcmp(ca.data, cb.data, ca.size - (ca.type == RF_RUN ? 2 : 0)) == 0)
			continue;

		na = rc_decode(&ca, s->vals_a);
		nb = rc_decode(&cb, s->vals_out);
		for (uint32 k = 0; k < Min(na, nb); k++)
			if (s->vals_a[k] != s->vals_out[k])
				return s->vals_a[k] < s->vals_out[k] ? -1 : 1;

		/*
		 * One container's members are a prefix of the other's.  The shorter
		 * side continues, if at all, in a later container: above the longer
		 * side's next member.
		 */
		if (na < nb)
			return i + 1 < a->h.n ? 1 : -1;
		if (nb < na)
			return i + 1 < b->h.n ? -1 : 1;
	}
	if (a->h.n == b->h.n)
		return 0;
	return a->h.n < b->h.n ? -1 : 1;
}

/*
 * Comparison functions run inside sorts, where memory is not reset per
 * call: free detoasted copies.
 */
static int
compare_args(FunctionCallInfo fcinfo)
{
	SegmentView a,
				b;
	int			result;

	SegmentGetArgView(fcinfo, 0, &a);
	SegmentGetArgView(fcinfo, 1, &b);
	result = segment_compare(&a, &b);
	SegmentFreeArg(fcinfo, 0, &a);
	SegmentFreeArg(fcinfo, 1, &b);
	return result;
}

static bool
equal_args(FunctionCallInfo fcinfo)
{
	SegmentView a,
				b;
	bool		result;

	SegmentGetArgView(fcinfo, 0, &a);
	SegmentGetArgView(fcinfo, 1, &b);
	result = segment_equal(&a, &b);
	SegmentFreeArg(fcinfo, 0, &a);
	SegmentFreeArg(fcinfo, 1, &b);
	return result;
}

Datum
segment_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(equal_args(fcinfo));
}

Datum
segment_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!equal_args(fcinfo));
}

Datum
segment_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) < 0);
}

Datum
segment_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) <= 0);
}

Datum
segment_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) > 0);
}

Datum
segment_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) >= 0);
}

Datum
segment_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(compare_args(fcinfo));
}

Datum
segment_hash(PG_FUNCTION_ARGS)
{
	SegmentView sv;
	Datum		result;

	SegmentGetArgView(fcinfo, 0, &sv);
	result = hash_any(sv.h.buf, (int) sv.h.len);
	SegmentFreeArg(fcinfo, 0, &sv);
	PG_RETURN_DATUM(result);
}

Datum
segment_hash_extended(PG_FUNCTION_ARGS)
{
	SegmentView sv;
	Datum		result;

	SegmentGetArgView(fcinfo, 0, &sv);
	result = hash_any_extended(sv.h.buf, (int) sv.h.len, PG_GETARG_INT64(1));
	SegmentFreeArg(fcinfo, 0, &sv);
	PG_RETURN_DATUM(result);
}

/*
 * Whole-value set arithmetic for C callers (live.h), in the current memory
 * context.
 */
static SegmentData *
whole_op(SegmentData *a, SegmentData *b, RkOp op)
{
	SegmentView va,
				vb;

	SegmentViewInit((struct varlena *) a, &va);
	SegmentViewInit((struct varlena *) b, &vb);
	return set_op(&va, &vb, op);
}

SegmentData *
SegmentAnd(SegmentData *a, SegmentData *b)
{
	return whole_op(a, b, RK_AND);
}

SegmentData *
SegmentOr(SegmentData *a, SegmentData *b)
{
	return whole_op(a, b, RK_OR);
}

SegmentData *
SegmentAndNot(SegmentData *a, SegmentData *b)
{
	return whole_op(a, b, RK_ANDNOT);
}

bool
SegmentIsEmpty(SegmentData *s)
{
	SegmentView sv;

	SegmentViewInit((struct varlena *) s, &sv);
	return sv.h.n == 0;
}

uint64
SegmentCardinality(SegmentData *s)
{
	SegmentView sv;

	SegmentViewInit((struct varlena *) s, &sv);
	return rf_cardinality(&sv.h);
}

/* Is key a member of s (NULL: nothing)? */
bool
SegmentContains(SegmentData *s, uint32 key)
{
	SegmentView sv;
	int64		i;
	RfContainer c;

	if (s == NULL)
		return false;
	SegmentViewInit((struct varlena *) s, &sv);
	i = rf_find_key(&sv.h, (uint16) (key >> 16));
	if (i < 0)
		return false;
	SegmentGetContainer(&sv, (uint32) i, &c);
	return rc_contains(&c, (uint16) key);
}
