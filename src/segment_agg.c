/*-------------------------------------------------------------------------
 *
 * segment_agg.c
 *	  Aggregates: segment_agg(bigint), union_agg(segment),
 *	  intersect_agg(segment), with combine, serial and deserial functions.
 *
 * segment_agg buffers keys and sorts them (radix) before building
 * containers: adding random keys to a bitmap one at a time is bound by
 * cache misses.  Past a threshold the buffer is folded into a CRoaring
 * bitmap, so memory stays bounded.  union_agg and intersect_agg fold inputs
 * into a CRoaring bitmap.
 *
 * CRoaring 0.2.66 allocates with malloc, outside PostgreSQL's memory
 * contexts.  Every bitmap a state owns is freed by a reset callback on the
 * aggregate context, so an error or a cancel cannot leak it; temporary
 * bitmaps live only across calls that cannot raise an error.
 *
 * IDENTIFICATION
 *	  src/segment_agg.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include <roaring/roaring.h>

#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(segment_agg_trans);
PG_FUNCTION_INFO_V1(segment_agg_combine);
PG_FUNCTION_INFO_V1(segment_agg_final);
PG_FUNCTION_INFO_V1(segment_agg_serialize);
PG_FUNCTION_INFO_V1(segment_agg_deserialize);
PG_FUNCTION_INFO_V1(segment_union_trans);
PG_FUNCTION_INFO_V1(segment_intersect_trans);
PG_FUNCTION_INFO_V1(segment_union_combine);
PG_FUNCTION_INFO_V1(segment_intersect_combine);
PG_FUNCTION_INFO_V1(segment_bitmap_final);
PG_FUNCTION_INFO_V1(segment_bitmap_serialize);
PG_FUNCTION_INFO_V1(segment_bitmap_deserialize);

/* Keys buffered before they are folded into the bitmap: 64 MB. */
#define KEY_BUFFER_MAX	(16 * 1024 * 1024)

/*
 * State of all three aggregates.  segment_agg uses keys and bitmap; the
 * others only bitmap.
 */
typedef struct SegmentAggState
{
	MemoryContext context;		/* the aggregate context holding this */
	MemoryContextCallback cleanup;
	roaring_bitmap_t *bitmap;	/* NULL until needed; malloc'd by CRoaring */
	bool		lazy;			/* bitmap needs repair_after_lazy */
	uint32	   *keys;			/* unsorted keys not yet in bitmap */
	size_t		nkeys;
	size_t		maxkeys;
} SegmentAggState;

static void
free_state_bitmap(void *arg)
{
	SegmentAggState *state = (SegmentAggState *) arg;

	if (state->bitmap != NULL)
		roaring_bitmap_free(state->bitmap);
	state->bitmap = NULL;
}

static MemoryContext
aggregate_context(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext aggctx;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "%s called in non-aggregate context", fname);
	return aggctx;
}

static SegmentAggState *
state_create(MemoryContext context)
{
	SegmentAggState *state = MemoryContextAllocZero(context, sizeof(SegmentAggState));

	state->context = context;
	state->cleanup.func = free_state_bitmap;
	state->cleanup.arg = state;
	MemoryContextRegisterResetCallback(context, &state->cleanup);
	return state;
}

/* A CRoaring bitmap of a stored segment; the caller frees it. */
static roaring_bitmap_t *
bitmap_from_view(const SegmentView *sv)
{
	roaring_bitmap_t *r = roaring_bitmap_portable_deserialize_safe((const char *) sv->h.buf,
																   sv->h.len);

	if (r == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment value is corrupted"),
				 errdetail("The roaring library could not read it.")));
	return r;
}

static roaring_bitmap_t *
bitmap_from_segment(SegmentData *seg)
{
	SegmentView sv;

	SegmentViewInit((struct varlena *) seg, &sv);
	return bitmap_from_view(&sv);
}

/* Make the state's bitmap usable: repair lazy unions, or create it. */
static roaring_bitmap_t *
state_bitmap(SegmentAggState *state)
{
	if (state->bitmap == NULL)
	{
		state->bitmap = roaring_bitmap_create();
		if (state->bitmap == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
	}
	if (state->lazy)
	{
		roaring_bitmap_repair_after_lazy(state->bitmap);
		state->lazy = false;
	}
	return state->bitmap;
}

/* Union a segment into the state's bitmap. */
static void
state_union(SegmentAggState *state, SegmentData *seg)
{
	roaring_bitmap_t *r = bitmap_from_segment(seg);

	if (state->bitmap == NULL)
		state->bitmap = r;
	else
	{
		/* nothing between here and the free can raise an error */
		roaring_bitmap_lazy_or_inplace(state->bitmap, r, false);
		state->lazy = true;
		roaring_bitmap_free(r);
	}
}

/* Fold buffered keys into the bitmap. */
static void
state_flush_keys(SegmentAggState *state)
{
	size_t		nunique;
	SegmentData *seg;

	if (state->nkeys == 0)
		return;
	state->keys = SegmentSortKeys(state->keys, state->nkeys, &nunique);
	seg = SegmentFromSortedKeys(state->keys, nunique);
	state->nkeys = 0;
	state_union(state, seg);
	pfree(seg);
}

/* The state's set as a segment, in the current memory context. */
static SegmentData *
state_segment(SegmentAggState *state)
{
	roaring_bitmap_t *r;
	size_t		size;
	char	   *buf;
	SegmentData *result;

	if (state->bitmap == NULL)
	{
		size_t		nunique;

		state->keys = SegmentSortKeys(state->keys, state->nkeys, &nunique);
		state->nkeys = nunique;
		return SegmentFromSortedKeys(state->keys, nunique);
	}

	state_flush_keys(state);
	r = state_bitmap(state);
	roaring_bitmap_run_optimize(r);
	size = roaring_bitmap_portable_size_in_bytes(r);
	buf = palloc_extended(size, MCXT_ALLOC_HUGE);
	roaring_bitmap_portable_serialize(r, buf);
	result = SegmentFromPortable((const uint8 *) buf, size, true);
	pfree(buf);
	return result;
}

static bytea *
segment_as_bytea(SegmentData *seg)
{
	/* the whole segment varlena, header included, is a fine bytea */
	return (bytea *) seg;
}

/*
 * segment_agg(bigint)
 */
Datum
segment_agg_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "segment_agg_trans");
	SegmentAggState *state = PG_ARGISNULL(0) ? NULL : (SegmentAggState *) PG_GETARG_POINTER(0);
	uint32		key;

	if (PG_ARGISNULL(1))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	key = SegmentCheckKey(PG_GETARG_INT64(1));

	if (state == NULL)
		state = state_create(aggctx);
	if (state->nkeys == state->maxkeys)
	{
		if (state->maxkeys >= KEY_BUFFER_MAX)
			state_flush_keys(state);
		else
		{
			size_t		newmax = state->maxkeys == 0 ? 64 : state->maxkeys * 2;

			if (state->keys == NULL)
				state->keys = MemoryContextAllocHuge(aggctx, newmax * sizeof(uint32));
			else
				state->keys = repalloc_huge(state->keys, newmax * sizeof(uint32));
			state->maxkeys = newmax;
		}
	}
	state->keys[state->nkeys++] = key;
	PG_RETURN_POINTER(state);
}

/* Add the keys and bitmap of src to dst. */
static void
state_merge(SegmentAggState *dst, SegmentAggState *src)
{
	MemoryContext old = MemoryContextSwitchTo(dst->context);

	for (size_t i = 0; i < src->nkeys; i++)
	{
		if (dst->nkeys == dst->maxkeys)
		{
			if (dst->maxkeys >= KEY_BUFFER_MAX)
				state_flush_keys(dst);
			else
			{
				size_t		newmax = dst->maxkeys == 0 ? 64 : dst->maxkeys * 2;

				dst->keys = dst->keys == NULL ? palloc_extended(newmax * sizeof(uint32), MCXT_ALLOC_HUGE)
					: repalloc_huge(dst->keys, newmax * sizeof(uint32));
				dst->maxkeys = newmax;
			}
		}
		dst->keys[dst->nkeys++] = src->keys[i];
	}
	if (src->bitmap != NULL)
	{
		roaring_bitmap_t *r = state_bitmap(src);

		if (dst->bitmap == NULL)
		{
			dst->bitmap = roaring_bitmap_copy(r);
			if (dst->bitmap == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory")));
		}
		else
		{
			roaring_bitmap_lazy_or_inplace(dst->bitmap, r, false);
			dst->lazy = true;
		}
	}
	MemoryContextSwitchTo(old);
}

Datum
segment_agg_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "segment_agg_combine");
	SegmentAggState *s1 = PG_ARGISNULL(0) ? NULL : (SegmentAggState *) PG_GETARG_POINTER(0);
	SegmentAggState *s2 = PG_ARGISNULL(1) ? NULL : (SegmentAggState *) PG_GETARG_POINTER(1);

	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = state_create(aggctx);
	state_merge(s1, s2);
	PG_RETURN_POINTER(s1);
}

Datum
segment_agg_final(PG_FUNCTION_ARGS)
{
	SegmentAggState *state;

	(void) aggregate_context(fcinfo, "segment_agg_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SegmentAggState *) PG_GETARG_POINTER(0);
	PG_RETURN_SEGMENT_P(state_segment(state));
}

Datum
segment_agg_serialize(PG_FUNCTION_ARGS)
{
	SegmentAggState *state = (SegmentAggState *) PG_GETARG_POINTER(0);

	(void) aggregate_context(fcinfo, "segment_agg_serialize");
	PG_RETURN_BYTEA_P(segment_as_bytea(state_segment(state)));
}

Datum
segment_agg_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "segment_agg_deserialize");
	bytea	   *b = PG_GETARG_BYTEA_P(0);
	SegmentAggState *state = state_create(aggctx);

	state->bitmap = bitmap_from_segment((SegmentData *) b);
	PG_RETURN_POINTER(state);
}

/*
 * union_agg(segment) and intersect_agg(segment)
 */
Datum
segment_union_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "segment_union_trans");
	SegmentAggState *state = PG_ARGISNULL(0) ? NULL : (SegmentAggState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	if (state == NULL)
		state = state_create(aggctx);
	state_union(state, (SegmentData *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1)));
	PG_RETURN_POINTER(state);
}

Datum
segment_intersect_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "segment_intersect_trans");
	SegmentAggState *state = PG_ARGISNULL(0) ? NULL : (SegmentAggState *) PG_GETARG_POINTER(0);
	SegmentView sv;
	roaring_bitmap_t *r;

	if (PG_ARGISNULL(1))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	SegmentGetArgView(fcinfo, 1, &sv);
	if (state == NULL)
	{
		state = state_create(aggctx);
		state->bitmap = bitmap_from_view(&sv);
		PG_RETURN_POINTER(state);
	}
	/* once empty, always empty */
	if (roaring_bitmap_is_empty(state->bitmap))
		PG_RETURN_POINTER(state);
	r = bitmap_from_view(&sv);
	roaring_bitmap_and_inplace(state->bitmap, r);
	roaring_bitmap_free(r);
	PG_RETURN_POINTER(state);
}

Datum
segment_union_combine(PG_FUNCTION_ARGS)
{
	return segment_agg_combine(fcinfo);
}

Datum
segment_intersect_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "segment_intersect_combine");
	SegmentAggState *s1 = PG_ARGISNULL(0) ? NULL : (SegmentAggState *) PG_GETARG_POINTER(0);
	SegmentAggState *s2 = PG_ARGISNULL(1) ? NULL : (SegmentAggState *) PG_GETARG_POINTER(1);

	/* a side that saw no input does not restrict the intersection */
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
	{
		s1 = state_create(aggctx);
		s1->bitmap = roaring_bitmap_copy(state_bitmap(s2));
		if (s1->bitmap == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		PG_RETURN_POINTER(s1);
	}
	roaring_bitmap_and_inplace(state_bitmap(s1), state_bitmap(s2));
	PG_RETURN_POINTER(s1);
}

Datum
segment_bitmap_final(PG_FUNCTION_ARGS)
{
	(void) aggregate_context(fcinfo, "segment_bitmap_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_SEGMENT_P(state_segment((SegmentAggState *) PG_GETARG_POINTER(0)));
}

Datum
segment_bitmap_serialize(PG_FUNCTION_ARGS)
{
	(void) aggregate_context(fcinfo, "segment_bitmap_serialize");
	PG_RETURN_BYTEA_P(segment_as_bytea(state_segment((SegmentAggState *) PG_GETARG_POINTER(0))));
}

Datum
segment_bitmap_deserialize(PG_FUNCTION_ARGS)
{
	return segment_agg_deserialize(fcinfo);
}
