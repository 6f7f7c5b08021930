/*-------------------------------------------------------------------------
 *
 * segment_funcs.c
 *	  Cardinality, order statistics, slices and unnest.
 *
 * Cardinality, rank and selection use the per-container cardinalities in
 * the header and open at most one container.
 *
 * IDENTIFICATION
 *	  src/segment_funcs.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include "funcapi.h"

PG_FUNCTION_INFO_V1(segment_cardinality);
PG_FUNCTION_INFO_V1(segment_min_member);
PG_FUNCTION_INFO_V1(segment_max_member);
PG_FUNCTION_INFO_V1(segment_member_rank);
PG_FUNCTION_INFO_V1(segment_nth_member);
PG_FUNCTION_INFO_V1(segment_slice);
PG_FUNCTION_INFO_V1(segment_unnest);

Datum
segment_cardinality(PG_FUNCTION_ARGS)
{
	SegmentView sv;

	SegmentGetArgView(fcinfo, 0, &sv);
	PG_RETURN_INT64((int64) rf_cardinality(&sv.h));
}

Datum
segment_min_member(PG_FUNCTION_ARGS)
{
	SegmentView sv;
	RfContainer c;

	SegmentGetArgView(fcinfo, 0, &sv);
	if (sv.h.n == 0)
		PG_RETURN_NULL();
	SegmentGetContainer(&sv, 0, &c);
	PG_RETURN_INT64(((int64) c.key << 16) | rc_min(&c));
}

Datum
segment_max_member(PG_FUNCTION_ARGS)
{
	SegmentView sv;
	RfContainer c;

	SegmentGetArgView(fcinfo, 0, &sv);
	if (sv.h.n == 0)
		PG_RETURN_NULL();
	SegmentGetContainer(&sv, sv.h.n - 1, &c);
	PG_RETURN_INT64(((int64) c.key << 16) | rc_max(&c));
}

/*
 * Number of members less than or equal to the key.
 */
Datum
segment_member_rank(PG_FUNCTION_ARGS)
{
	uint32		key = SegmentCheckKey(PG_GETARG_INT64(1));
	uint16		high = (uint16) (key >> 16);
	SegmentView sv;
	int64		rank = 0;

	SegmentGetArgView(fcinfo, 0, &sv);
	for (uint32 i = 0; i < sv.h.n; i++)
	{
		uint16		k = rf_key(&sv.h, i);
		RfContainer c;

		if (k < high)
		{
			rank += rf_card(&sv.h, i);
			continue;
		}
		if (k == high)
		{
			SegmentGetContainer(&sv, i, &c);
			rank += rc_rank(&c, (uint16) key);
		}
		break;
	}
	PG_RETURN_INT64(rank);
}

/*
 * The n-th smallest member, counting from 1; NULL when n is past the end.
 */
Datum
segment_nth_member(PG_FUNCTION_ARGS)
{
	int64		n = PG_GETARG_INT64(1);
	SegmentView sv;
	uint64		idx;

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("member position must be at least 1, not %lld", (long long) n)));
	idx = (uint64) n - 1;

	SegmentGetArgView(fcinfo, 0, &sv);
	for (uint32 i = 0; i < sv.h.n; i++)
	{
		uint32		card = rf_card(&sv.h, i);
		RfContainer c;

		if (idx >= card)
		{
			idx -= card;
			continue;
		}
		SegmentGetContainer(&sv, i, &c);
		PG_RETURN_INT64(((int64) c.key << 16) | rc_select(&c, (uint32) idx));
	}
	PG_RETURN_NULL();
}

/*
 * Members between lo and hi, both included.  Containers wholly inside are
 * copied; at most two are cut.
 */
Datum
segment_slice(PG_FUNCTION_ARGS)
{
	uint32		lo = SegmentCheckKey(PG_GETARG_INT64(1));
	uint32		hi = SegmentCheckKey(PG_GETARG_INT64(2));
	RcScratch  *s = SegmentScratch();
	SegmentView sv;
	SegmentWriter w;

	SegmentGetArgView(fcinfo, 0, &sv);
	SegmentWriterInitReserved(&w, lo <= hi ? sv.h.len : 0, sv.h.n);
	for (uint32 i = 0; i < sv.h.n && lo <= hi; i++)
	{
		uint16		k = rf_key(&sv.h, i);
		RfContainer c;
		uint32		from,
					to;

		if (k < (lo >> 16))
			continue;
		if (k > (hi >> 16))
			break;
		SegmentGetContainer(&sv, i, &c);
		from = k == (lo >> 16) ? (lo & 0xFFFF) : 0;
		to = k == (hi >> 16) ? (hi & 0xFFFF) : 0xFFFF;
		if (from == 0 && to == 0xFFFF)
			SegmentWriterAddRaw(&w, &c);
		else
		{
			RcResult	r;

			rc_and_range(&c, from, to, s, &r);
			SegmentWriterAddResult(&w, k, &r);
		}
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_SEGMENT_P(SegmentWriterFinish(&w));
}

/*
 * unnest state: the detoasted value and where we are in it.  Members are
 * decoded one container at a time.
 */
typedef struct UnnestState
{
	SegmentView sv;
	uint32		container;		/* next container to decode */
	uint32		count;			/* members decoded from the current one */
	uint32		pos;			/* next of those to return */
	int64		base;
	uint16		vals[65536];
} UnnestState;

Datum
segment_unnest(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	UnnestState *state;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		state = palloc(sizeof(UnnestState));
		SegmentViewInit(PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0)), &state->sv);
		state->container = 0;
		state->count = 0;
		state->pos = 0;
		state->base = 0;
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	state = funcctx->user_fctx;

	while (state->pos >= state->count)
	{
		RfContainer c;

		if (state->container >= state->sv.h.n)
			SRF_RETURN_DONE(funcctx);
		SegmentGetContainer(&state->sv, state->container, &c);
		state->count = rc_decode(&c, state->vals);
		state->pos = 0;
		state->base = (int64) c.key << 16;
		state->container++;
	}
	SRF_RETURN_NEXT(funcctx, Int64GetDatum(state->base + state->vals[state->pos++]));
}
