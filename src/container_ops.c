/*-------------------------------------------------------------------------
 *
 * container_ops.c
 *	  Counting and combining serialized roaring containers in place.
 *
 * Three representations meet here.  Bitsets are combined word by word with
 * the CPU's best kernels, reading a stored bitset where it lies.  Arrays and
 * run containers are turned into sorted half-open intervals and combined by
 * one boundary sweep that serves all four operations.  Intersections with an
 * array probe the other side member by member.
 *
 * Stored values were validated on input; here every read and write is still
 * kept inside its buffer, so a value corrupted on disk gives a wrong answer
 * at worst, never a crash.
 *
 * IDENTIFICATION
 *	  src/container_ops.c
 *
 *-------------------------------------------------------------------------
 */
#include "container_ops.h"

static inline uint16_t
array_at(const RfContainer *c, uint32_t i)
{
	return rf_load16(c->data + 2 * (size_t) i);
}

static inline uint32_t
run_start(const RfContainer *c, uint32_t i)
{
	return rf_load16(c->data + 4 * (size_t) i);
}

/* Exclusive end of run i, clamped to the container. */
static inline uint32_t
run_end(const RfContainer *c, uint32_t i)
{
	uint32_t	end = run_start(c, i) + rf_load16(c->data + 4 * (size_t) i + 2) + 1;

	return end > 65536 ? 65536 : end;
}

static inline bool
bitset_test(const uint8_t *words, uint32_t x)
{
	return (words[x >> 3] >> (x & 7)) & 1;
}

/* Set bits [start, end) of an aligned bitset. */
static void
words_set_range(uint64_t *words, uint32_t start, uint32_t end)
{
	uint32_t	first,
				last;

	if (start >= end)
		return;
	first = start >> 6;
	last = (end - 1) >> 6;
	if (first == last)
	{
		words[first] |= (~UINT64_C(0) >> (63 - ((end - 1) & 63))) & (~UINT64_C(0) << (start & 63));
		return;
	}
	words[first] |= ~UINT64_C(0) << (start & 63);
	for (uint32_t i = first + 1; i < last; i++)
		words[i] = ~UINT64_C(0);
	words[last] |= ~UINT64_C(0) >> (63 - ((end - 1) & 63));
}

/* Population count of bits [start, end) of a serialized bitset. */
static uint32_t
bitset_range_card(const uint8_t *words, uint32_t start, uint32_t end)
{
	uint32_t	first,
				last;
	uint64_t	w;

	if (start >= end)
		return 0;
	first = start >> 6;
	last = (end - 1) >> 6;
	if (first == last)
	{
		w = rf_load64(words + 8 * first) &
			(~UINT64_C(0) >> (63 - ((end - 1) & 63))) & (~UINT64_C(0) << (start & 63));
		return (uint32_t) rk_popcount64(w);
	}
	w = rf_load64(words + 8 * first) & (~UINT64_C(0) << (start & 63));
	return (uint32_t) (rk_popcount64(w) +
					   rk->popcount(words + 8 * (first + 1), last - first - 1) +
					   rk_popcount64(rf_load64(words + 8 * last) &
											(~UINT64_C(0) >> (63 - ((end - 1) & 63)))));
}

/* Append [start, end) to intervals, merging with a touching predecessor. */
static inline void
push_interval(uint32_t *bounds, uint32_t *n, uint32_t start, uint32_t end)
{
	if (*n > 0 && bounds[2 * *n - 1] == start)
		bounds[2 * *n - 1] = end;
	else
	{
		bounds[2 * *n] = start;
		bounds[2 * *n + 1] = end;
		(*n)++;
	}
}

/*
 * A container as maximal half-open intervals; returns how many.  The caller
 * provides room for RC_MAX_INTERVALS.
 */
uint32_t
rc_to_bounds(const RfContainer *c, uint32_t *bounds)
{
	uint32_t	n = 0;

	switch (c->type)
	{
		case RF_ARRAY:
			for (uint32_t i = 0; i < c->card && n < RC_MAX_INTERVALS; i++)
			{
				uint32_t	x = array_at(c, i);

				push_interval(bounds, &n, x, x + 1);
			}
			break;
		case RF_RUN:
			for (uint32_t i = 0; i < c->nruns; i++)
				push_interval(bounds, &n, run_start(c, i), run_end(c, i));
			break;
		case RF_BITSET:
			for (uint32_t i = 0; i < RF_BITSET_WORDS; i++)
			{
				uint64_t	w = rf_load64(c->data + 8 * i);

				while (w != 0)
				{
					int			s = __builtin_ctzll(w);
					uint64_t	rest = ~(w >> s);
					int			len = rest == 0 ? 64 - s : __builtin_ctzll(rest);

					push_interval(bounds, &n, 64 * i + s, 64 * i + s + len);
					if (s + len >= 64)
						break;
					w &= ~UINT64_C(0) << (s + len);
				}
			}
			break;
	}
	return n;
}

/* Expand an array or run container into an aligned bitset. */
void
rc_to_words(const RfContainer *c, uint64_t *words)
{
	memset(words, 0, RF_BITSET_BYTES);
	switch (c->type)
	{
		case RF_ARRAY:
			for (uint32_t i = 0; i < c->card; i++)
			{
				uint32_t	x = array_at(c, i);

				words[x >> 6] |= UINT64_C(1) << (x & 63);
			}
			break;
		case RF_RUN:
			for (uint32_t i = 0; i < c->nruns; i++)
				words_set_range(words, run_start(c, i), run_end(c, i));
			break;
		case RF_BITSET:
			memcpy(words, c->data, RF_BITSET_BYTES);
			break;
	}
}

/* All members of a container, ascending, into out (room for 65,536). */
uint32_t
rc_decode(const RfContainer *c, uint16_t *out)
{
	uint32_t	n = 0;

	switch (c->type)
	{
		case RF_ARRAY:
			for (uint32_t i = 0; i < c->card; i++)
				out[n++] = array_at(c, i);
			break;
		case RF_RUN:
			for (uint32_t i = 0; i < c->nruns; i++)
			{
				uint32_t	end = run_end(c, i);

				for (uint32_t x = run_start(c, i); x < end && n < 65536; x++)
					out[n++] = (uint16_t) x;
			}
			break;
		case RF_BITSET:
			for (uint32_t i = 0; i < RF_BITSET_WORDS; i++)
			{
				uint64_t	w = rf_load64(c->data + 8 * i);

				while (w != 0)
				{
					out[n++] = (uint16_t) (64 * i + __builtin_ctzll(w));
					w &= w - 1;
				}
			}
			break;
	}
	return n;
}

static inline bool
op_keeps(RkOp op, bool in_a, bool in_b)
{
	switch (op)
	{
		case RK_AND:
			return in_a && in_b;
		case RK_OR:
			return in_a || in_b;
		case RK_ANDNOT:
			return in_a && !in_b;
		case RK_XOR:
		default:
			return in_a != in_b;
	}
}

/*
 * One sweep over the boundaries of two interval lists serves every
 * operation: membership changes only at a boundary.  With out NULL only the
 * cardinality is computed.  Returns the number of output intervals.
 */
static uint32_t
sweep(RkOp op, const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb,
	  uint32_t *out, uint32_t *card)
{
	uint32_t	ia = 0,
				ib = 0,
				ea = 2 * na,
				eb = 2 * nb;
	bool		in_a = false,
				in_b = false,
				in = false;
	uint32_t	start = 0,
				n = 0,
				total = 0;

	while (ia < ea || ib < eb)
	{
		uint32_t	x = UINT32_MAX;
		bool		now;

		if (ia < ea)
			x = a[ia];
		if (ib < eb && b[ib] < x)
			x = b[ib];
		while (ia < ea && a[ia] == x)
		{
			in_a = !in_a;
			ia++;
		}
		while (ib < eb && b[ib] == x)
		{
			in_b = !in_b;
			ib++;
		}
		now = op_keeps(op, in_a, in_b);
		if (now == in)
			continue;
		if (now)
			start = x;
		else
		{
			total += x - start;
			if (out != NULL)
			{
				out[2 * n] = start;
				out[2 * n + 1] = x;
			}
			n++;
		}
		in = now;
	}
	*card = total;
	return n;
}

/* Binary search for x in an array container. */
static bool
array_contains(const RfContainer *c, uint16_t x)
{
	int32_t		lo = 0,
				hi = (int32_t) c->card - 1;

	while (lo <= hi)
	{
		int32_t		mid = (lo + hi) / 2;
		uint16_t	v = array_at(c, (uint32_t) mid);

		if (v < x)
			lo = mid + 1;
		else if (v > x)
			hi = mid - 1;
		else
			return true;
	}
	return false;
}

/* Index of the last run starting at or before x, or -1. */
static int32_t
run_find(const RfContainer *c, uint16_t x)
{
	int32_t		lo = 0,
				hi = (int32_t) c->nruns - 1,
				found = -1;

	while (lo <= hi)
	{
		int32_t		mid = (lo + hi) / 2;

		if (run_start(c, (uint32_t) mid) <= x)
		{
			found = mid;
			lo = mid + 1;
		}
		else
			hi = mid - 1;
	}
	return found;
}

bool
rc_contains(const RfContainer *c, uint16_t x)
{
	int32_t		r;

	switch (c->type)
	{
		case RF_ARRAY:
			return array_contains(c, x);
		case RF_BITSET:
			return bitset_test(c->data, x);
		case RF_RUN:
			r = run_find(c, x);
			return r >= 0 && x < run_end(c, (uint32_t) r);
	}
	return false;
}

/* Intersection of an array with any container, by probing. */
static uint32_t
probe_and(const RfContainer *arr, const RfContainer *other, uint16_t *out)
{
	uint32_t	n = 0;

	for (uint32_t i = 0; i < arr->card; i++)
	{
		uint16_t	x = array_at(arr, i);

		if (rc_contains(other, x))
		{
			if (out != NULL)
				out[n] = x;
			n++;
		}
	}
	return n;
}

/* Array minus any container, by probing. */
static uint32_t
probe_andnot(const RfContainer *arr, const RfContainer *other, uint16_t *out)
{
	uint32_t	n = 0;

	for (uint32_t i = 0; i < arr->card; i++)
	{
		uint16_t	x = array_at(arr, i);

		if (!rc_contains(other, x))
			out[n++] = x;
	}
	return n;
}

/* Sorted-merge intersection count of two arrays. */
static uint32_t
array_and_card(const RfContainer *a, const RfContainer *b)
{
	uint32_t	i = 0,
				j = 0,
				n = 0;

	while (i < a->card && j < b->card)
	{
		uint16_t	x = array_at(a, i),
					y = array_at(b, j);

		if (x < y)
			i++;
		else if (x > y)
			j++;
		else
		{
			n++;
			i++;
			j++;
		}
	}
	return n;
}

/*
 * Cardinality of the intersection of two containers.
 */
uint32_t
rc_and_card(const RfContainer *a, const RfContainer *b, RcScratch *s)
{
	uint32_t	card = 0;

	if (a->type == RF_BITSET && b->type == RF_BITSET)
		return (uint32_t) rk->and_popcount(a->data, b->data, RF_BITSET_WORDS);
	if (a->type == RF_ARRAY && b->type == RF_ARRAY)
		return array_and_card(a, b);
	if (a->type == RF_ARRAY)
		return probe_and(a, b, NULL);
	if (b->type == RF_ARRAY)
		return probe_and(b, a, NULL);
	if (a->type == RF_BITSET || b->type == RF_BITSET)
	{
		const RfContainer *bits = a->type == RF_BITSET ? a : b;
		const RfContainer *runs = a->type == RF_BITSET ? b : a;

		for (uint32_t i = 0; i < runs->nruns; i++)
			card += bitset_range_card(bits->data, run_start(runs, i), run_end(runs, i));
		return card;
	}
	sweep(RK_AND, s->bounds_a, rc_to_bounds(a, s->bounds_a),
		  s->bounds_b, rc_to_bounds(b, s->bounds_b), NULL, &card);
	return card;
}

/*
 * Combine two containers with the same key; the result is left in r, in
 * scratch space that the next call reuses.
 */
void
rc_op(RkOp op, const RfContainer *a, const RfContainer *b, RcScratch *s, RcResult *r)
{
	memset(r, 0, sizeof(*r));

	/* small sides: probe */
	if (op == RK_AND && (a->type == RF_ARRAY || b->type == RF_ARRAY))
	{
		const RfContainer *arr = a->type == RF_ARRAY ? a : b;
		const RfContainer *other = a->type == RF_ARRAY ? b : a;

		r->form = RF_ARRAY;
		r->n = r->card = probe_and(arr, other, s->vals_out);
		r->vals = s->vals_out;
		return;
	}
	if (op == RK_ANDNOT && a->type == RF_ARRAY)
	{
		r->form = RF_ARRAY;
		r->n = r->card = probe_andnot(a, b, s->vals_out);
		r->vals = s->vals_out;
		return;
	}

	/* a bitset on either side: word by word */
	if (a->type == RF_BITSET || b->type == RF_BITSET)
	{
		const uint8_t *pa = a->data;
		const uint8_t *pb = b->data;

		if (a->type != RF_BITSET)
		{
			rc_to_words(a, s->words_a);
			pa = (const uint8_t *) s->words_a;
		}
		if (b->type != RF_BITSET)
		{
			rc_to_words(b, s->words_b);
			pb = (const uint8_t *) s->words_b;
		}
		r->form = RF_BITSET;
		r->card = (uint32_t) rk->op(op, pa, pb, s->words_out, RF_BITSET_WORDS);
		r->words = s->words_out;
		return;
	}

	/* arrays and runs: intervals */
	r->form = RF_RUN;
	r->n = sweep(op, s->bounds_a, rc_to_bounds(a, s->bounds_a),
				 s->bounds_b, rc_to_bounds(b, s->bounds_b),
				 s->bounds_out, &r->card);
	r->bounds = s->bounds_out;
}

/*
 * Members of a container between lo and hi (low 16 bits, both included).
 */
void
rc_and_range(const RfContainer *c, uint32_t lo, uint32_t hi, RcScratch *s, RcResult *r)
{
	uint32_t	range[2];

	range[0] = lo;
	range[1] = hi + 1;
	memset(r, 0, sizeof(*r));

	if (c->type == RF_BITSET)
	{
		memset(s->words_a, 0, RF_BITSET_BYTES);
		words_set_range(s->words_a, range[0], range[1]);
		r->form = RF_BITSET;
		r->card = (uint32_t) rk->op(RK_AND, c->data, (const uint8_t *) s->words_a,
									s->words_out, RF_BITSET_WORDS);
		r->words = s->words_out;
		return;
	}
	r->form = RF_RUN;
	r->n = sweep(RK_AND, s->bounds_a, rc_to_bounds(c, s->bounds_a), range, 1,
				 s->bounds_out, &r->card);
	r->bounds = s->bounds_out;
}

/* Number of members less than or equal to x. */
uint32_t
rc_rank(const RfContainer *c, uint16_t x)
{
	uint32_t	rank = 0;

	switch (c->type)
	{
		case RF_ARRAY:
			{
				/* first index whose value exceeds x */
				uint32_t	lo = 0,
							hi = c->card;

				while (lo < hi)
				{
					uint32_t	mid = (lo + hi) / 2;

					if (array_at(c, mid) <= x)
						lo = mid + 1;
					else
						hi = mid;
				}
				return lo;
			}
		case RF_BITSET:
			return bitset_range_card(c->data, 0, (uint32_t) x + 1);
		case RF_RUN:
			for (uint32_t i = 0; i < c->nruns; i++)
			{
				uint32_t	start = run_start(c, i),
							end = run_end(c, i);

				if (start > x)
					break;
				rank += (x < end ? (uint32_t) x + 1 : end) - start;
			}
			return rank;
	}
	return 0;
}

/* The idx-th member (0-based); idx must be below the cardinality. */
uint16_t
rc_select(const RfContainer *c, uint32_t idx)
{
	switch (c->type)
	{
		case RF_ARRAY:
			return array_at(c, idx);
		case RF_BITSET:
			for (uint32_t i = 0; i < RF_BITSET_WORDS; i++)
			{
				uint64_t	w = rf_load64(c->data + 8 * i);
				uint32_t	pop = (uint32_t) rk_popcount64(w);

				if (idx >= pop)
				{
					idx -= pop;
					continue;
				}
				while (idx-- > 0)
					w &= w - 1;
				return (uint16_t) (64 * i + __builtin_ctzll(w));
			}
			break;
		case RF_RUN:
			for (uint32_t i = 0; i < c->nruns; i++)
			{
				uint32_t	len = run_end(c, i) - run_start(c, i);

				if (idx < len)
					return (uint16_t) (run_start(c, i) + idx);
				idx -= len;
			}
			break;
	}
	return 0;
}

uint16_t
rc_min(const RfContainer *c)
{
	return rc_select(c, 0);
}

uint16_t
rc_max(const RfContainer *c)
{
	switch (c->type)
	{
		case RF_ARRAY:
			return array_at(c, c->card - 1);
		case RF_RUN:
			return (uint16_t) (run_end(c, c->nruns - 1) - 1);
		case RF_BITSET:
			for (int32_t i = RF_BITSET_WORDS - 1; i >= 0; i--)
			{
				uint64_t	w = rf_load64(c->data + 8 * i);

				if (w != 0)
					return (uint16_t) (64 * i + 63 - __builtin_clzll(w));
			}
			break;
	}
	return 0;
}

/*
 * Number of maximal runs of set bits in an aligned bitset, counted up to
 * limit: past RC_RUNS_DECISIVE runs no container is stored as runs, so the
 * exact number no longer matters.
 */
uint32_t
rc_count_runs_words(const uint64_t *words, uint32_t limit)
{
	uint32_t	runs = 0;
	uint64_t	carry = 0;

	for (int i = 0; i < RF_BITSET_WORDS && runs < limit; i++)
	{
		uint64_t	w = words[i];

		runs += rk_popcount64(w & ~((w << 1) | carry));
		carry = w >> 63;
	}
	return runs;
}
