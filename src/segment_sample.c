/*-------------------------------------------------------------------------
 *
 * segment_sample.c
 *	  Deterministic samples of a segment.
 *
 * A member's place in a sample depends only on the member and the seed,
 * through a 64-bit hash: sample_fraction keeps the members whose hash falls
 * below the fraction, sample keeps the n members with the smallest hashes.
 * So a sample is the same on every run and every machine, sample(s, n) is
 * contained in sample(s, n + 1), and sample_fraction of different segments
 * with one seed agree on their common members: a stable hold-out group.
 *
 * IDENTIFICATION
 *	  src/segment_sample.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include <math.h>

#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(segment_sample);
PG_FUNCTION_INFO_V1(segment_sample_fraction);

/* splitmix64's finalizer: a bijection on 64 bits that mixes well */
static inline uint64
mix64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

#define GOLDEN_GAMMA	UINT64CONST(0x9e3779b97f4a7c15)
#define SEED_SALT		UINT64CONST(0xd1b54a32d192ed03)	/* keeps seed and key streams apart */

/*
 * Customer keys are often small and sequential: mix the key on its own
 * first (splitmix64), so neither key 0 nor multiples of a key stand out,
 * then mix in the seed.
 */
static inline uint64
member_hash(uint32 key, uint64 seed_mix)
{
	return mix64(mix64((uint64) key + GOLDEN_GAMMA) ^ seed_mix);
}

/* A candidate of the bottom-n sample, in a max-heap on hash. */
typedef struct Candidate
{
	uint64		hash;
	uint32		key;
} Candidate;

static inline bool
cand_less(const Candidate *a, const Candidate *b)
{
	return a->hash < b->hash || (a->hash == b->hash && a->key < b->key);
}

static void
sift_down(Candidate *heap, size_t n, size_t i)
{
	for (;;)
	{
		size_t		l = 2 * i + 1,
					r = l + 1,
					top = i;
		Candidate	tmp;

		if (l < n && cand_less(&heap[top], &heap[l]))
			top = l;
		if (r < n && cand_less(&heap[top], &heap[r]))
			top = r;
		if (top == i)
			return;
		tmp = heap[i];
		heap[i] = heap[top];
		heap[top] = tmp;
		i = top;
	}
}

static void
sift_up(Candidate *heap, size_t i)
{
	while (i > 0)
	{
		size_t		parent = (i - 1) / 2;
		Candidate	tmp;

		if (!cand_less(&heap[parent], &heap[i]))
			return;
		tmp = heap[i];
		heap[i] = heap[parent];
		heap[parent] = tmp;
		i = parent;
	}
}

/*
 * The n members with the smallest hashes.
 */
Datum
segment_sample(PG_FUNCTION_ARGS)
{
	int64		n = PG_GETARG_INT64(1);
	uint64		seed_mix = mix64((uint64) PG_GETARG_INT64(2) ^ SEED_SALT);
	uint16	   *vals = SegmentScratch()->vals_a;
	SegmentView sv;
	Candidate  *heap;
	size_t		size = 0;
	uint32	   *keys;
	size_t		nunique;
	SegmentData *result;

	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample size must not be negative, not %lld", (long long) n)));

	SegmentGetArgView(fcinfo, 0, &sv);
	if ((uint64) n >= rf_cardinality(&sv.h))
		PG_RETURN_SEGMENT_P(SegmentFromPortable(sv.h.buf, sv.h.len, true));
	if (n == 0)
		PG_RETURN_SEGMENT_P(SegmentEmpty());

	heap = palloc_extended((size_t) n * sizeof(Candidate), MCXT_ALLOC_HUGE);
	for (uint32 i = 0; i < sv.h.n; i++)
	{
		RfContainer c;
		uint32		m;
		uint32		base;

		SegmentGetContainer(&sv, i, &c);
		m = rc_decode(&c, vals);
		base = (uint32) c.key << 16;
		for (uint32 j = 0; j < m; j++)
		{
			Candidate	cand;

			cand.key = base | vals[j];
			cand.hash = member_hash(cand.key, seed_mix);
			if (size < (size_t) n)
			{
				heap[size] = cand;
				sift_up(heap, size++);
			}
			else if (cand_less(&cand, &heap[0]))
			{
				heap[0] = cand;
				sift_down(heap, size, 0);
			}
		}
		CHECK_FOR_INTERRUPTS();
	}

	keys = palloc_extended(size * sizeof(uint32), MCXT_ALLOC_HUGE);
	for (size_t i = 0; i < size; i++)
		keys[i] = heap[i].key;
	pfree(heap);
	keys = SegmentSortKeys(keys, size, &nunique);
	result = SegmentFromSortedKeys(keys, nunique);
	pfree(keys);
	PG_RETURN_SEGMENT_P(result);
}

/*
 * The members whose hash, as a fraction of 2^64, is below the fraction.
 */
Datum
segment_sample_fraction(PG_FUNCTION_ARGS)
{
	float8		fraction = PG_GETARG_FLOAT8(1);
	uint64		seed_mix = mix64((uint64) PG_GETARG_INT64(2) ^ SEED_SALT);
	uint16	   *vals = SegmentScratch()->vals_a;
	SegmentView sv;
	SegmentWriter w;
	uint64		threshold;

	if (isnan(fraction) || fraction < 0.0 || fraction > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample fraction must be between 0 and 1, not %g", fraction)));

	SegmentGetArgView(fcinfo, 0, &sv);
	if (fraction == 1.0)
		PG_RETURN_SEGMENT_P(SegmentFromPortable(sv.h.buf, sv.h.len, true));
	/* fraction < 1, so the product is below 2^64 */
	threshold = (uint64) ldexp(fraction, 64);

	SegmentWriterInit(&w, (size_t) (sv.h.len * fraction) + 64);
	for (uint32 i = 0; i < sv.h.n; i++)
	{
		RfContainer c;
		uint32		m,
					kept = 0;
		uint32		base;

		SegmentGetContainer(&sv, i, &c);
		m = rc_decode(&c, vals);
		base = (uint32) c.key << 16;
		for (uint32 j = 0; j < m; j++)
			if (member_hash(base | vals[j], seed_mix) < threshold)
				vals[kept++] = vals[j];
		SegmentWriterAddValues(&w, c.key, vals, kept);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_SEGMENT_P(SegmentWriterFinish(&w));
}
