/*-------------------------------------------------------------------------
 *
 * segment_writer.c
 *	  Building canonical segments, container by container.
 *
 * Every segment the extension returns goes through here.  Each container is
 * written in its smallest encoding (rf_canonical_type), so results are
 * run-optimized and equal sets have equal bytes: equality is memcmp and
 * hashing is hash_any.
 *
 * IDENTIFICATION
 *	  src/segment_writer.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include "utils/memutils.h"

/* Serialized header size for n containers, with or without run containers. */
static size_t
header_size(uint32 n, bool any_run)
{
	if (any_run)
		return 4 + (n + 7) / 8 + 4 * (size_t) n +
			(n >= RF_NO_OFFSET_THRESHOLD ? 4 * (size_t) n : 0);
	return 8 + 8 * (size_t) n;
}

/*
 * Start a segment.  With max_containers known, room for the largest header
 * is left before the payload, so that the finished segment is built in
 * place instead of copied: for megabyte results the copy, and the fresh
 * pages it touches, cost as much as the operation.
 */
void
SegmentWriterInitReserved(SegmentWriter *w, size_t payload_hint, uint32 max_containers)
{
	w->n = 0;
	w->max = 16;
	w->keys = palloc(w->max * sizeof(uint16));
	w->cards = palloc(w->max * sizeof(uint32));
	w->types = palloc(w->max * sizeof(uint8));
	w->any_run = false;
	w->reserve = max_containers > 0 ?
		offsetof(SegmentData, data) + Max(header_size(max_containers, true),
										  header_size(max_containers, false)) : 0;
	w->size = Max(payload_hint, 64);
	w->size = Min(w->size, MaxAllocHugeSize / 2);
	w->buffer = palloc_extended(w->reserve + w->size, MCXT_ALLOC_HUGE);
	w->payload = w->buffer + w->reserve;
	w->used = 0;
}

void
SegmentWriterInit(SegmentWriter *w, size_t payload_hint)
{
	SegmentWriterInitReserved(w, payload_hint, 0);
}

/* Room for one more container of up to bytes bytes; returns where it goes. */
static uint8 *
writer_reserve(SegmentWriter *w, uint16 key, uint32 card, RfType type, size_t bytes)
{
	Assert(w->n == 0 || key > w->keys[w->n - 1]);
	Assert(card >= 1 && card <= 65536);

	if (w->n == w->max)
	{
		w->max *= 2;
		w->keys = repalloc(w->keys, w->max * sizeof(uint16));
		w->cards = repalloc(w->cards, w->max * sizeof(uint32));
		w->types = repalloc(w->types, w->max * sizeof(uint8));
	}
	if (w->size - w->used < bytes)
	{
		while (w->size - w->used < bytes)
			w->size *= 2;
		/* a segment is at most 65,536 bitsets plus headers: ~513 MB */
		w->buffer = repalloc_huge(w->buffer, w->reserve + w->size);
		w->payload = w->buffer + w->reserve;
	}
	w->keys[w->n] = key;
	w->cards[w->n] = card;
	w->types[w->n] = (uint8) type;
	w->n++;
	if (type == RF_RUN)
		w->any_run = true;
	return (uint8 *) w->payload + w->used;
}

/* Append a container that is already canonical (from a canonical segment). */
void
SegmentWriterAddRaw(SegmentWriter *w, const RfContainer *c)
{
	uint8	   *dst = writer_reserve(w, c->key, c->card, c->type, c->size);

	if (c->type == RF_RUN)
	{
		rf_store16(dst, (uint16) c->nruns);
		memcpy(dst + 2, c->data, c->size - 2);
	}
	else
		memcpy(dst, c->data, c->size);
	w->used += c->size;
}

static void
write_bounds_as_runs(SegmentWriter *w, uint8 *dst, const uint32 *bounds, uint32 n)
{
	rf_store16(dst, (uint16) n);
	for (uint32 i = 0; i < n; i++)
	{
		rf_store16(dst + 2 + 4 * i, (uint16) bounds[2 * i]);
		rf_store16(dst + 4 + 4 * i, (uint16) (bounds[2 * i + 1] - bounds[2 * i] - 1));
	}
	w->used += 2 + 4 * (size_t) n;
}

static void
write_words(SegmentWriter *w, uint8 *dst, const uint64 *words)
{
	memcpy(dst, words, RF_BITSET_BYTES);	/* little-endian targets only */
	w->used += RF_BITSET_BYTES;
}

/*
 * Append a container given as sorted, distinct low 16-bit values.
 */
void
SegmentWriterAddValues(SegmentWriter *w, uint16 key, const uint16 *vals, uint32 n)
{
	uint32		nruns = 0;
	RfType		type;
	uint8	   *dst;

	if (n == 0)
		return;
	for (uint32 i = 0; i < n; i++)
		if (i == 0 || vals[i] != vals[i - 1] + 1)
			nruns++;
	type = rf_canonical_type(n, nruns);
	dst = writer_reserve(w, key, n, type, rf_container_size(type, n, nruns));

	if (type == RF_ARRAY)
	{
		for (uint32 i = 0; i < n; i++)
			rf_store16(dst + 2 * i, vals[i]);
		w->used += 2 * (size_t) n;
	}
	else if (type == RF_RUN)
	{
		uint32		r = 0;
		uint32		start = vals[0];

		rf_store16(dst, (uint16) nruns);
		for (uint32 i = 1; i <= n; i++)
		{
			if (i < n && vals[i] == vals[i - 1] + 1)
				continue;
			rf_store16(dst + 2 + 4 * r, (uint16) start);
			rf_store16(dst + 4 + 4 * r, (uint16) (vals[i - 1] - start));
			r++;
			if (i < n)
				start = vals[i];
		}
		w->used += 2 + 4 * (size_t) nruns;
	}
	else
	{
		uint64	   *words = SegmentScratch()->words_a;

		memset(words, 0, RF_BITSET_BYTES);
		for (uint32 i = 0; i < n; i++)
			words[vals[i] >> 6] |= UINT64CONST(1) << (vals[i] & 63);
		write_words(w, dst, words);
	}
}

/*
 * Append a container given as an aligned bitset with card members set.
 */
void
SegmentWriterAddWords(SegmentWriter *w, uint16 key, const uint64 *words, uint32 card)
{
	uint32		nruns;
	RfType		type;
	uint8	   *dst;

	if (card == 0)
		return;
	nruns = rc_count_runs_words(words, RC_RUNS_DECISIVE);
	type = rf_canonical_type(card, nruns);
	dst = writer_reserve(w, key, card, type, rf_container_size(type, card, nruns));

	if (type == RF_BITSET)
		write_words(w, dst, words);
	else
	{
		RfContainer c;
		RcScratch  *s = SegmentScratch();
		uint32		n;

		/* view the aligned words as a stored bitset to reuse the decoders */
		c.key = key;
		c.type = RF_BITSET;
		c.card = card;
		c.nruns = 0;
		c.data = (const uint8 *) words;
		c.size = RF_BITSET_BYTES;
		if (type == RF_RUN)
		{
			n = rc_to_bounds(&c, s->bounds_b);
			write_bounds_as_runs(w, dst, s->bounds_b, n);
		}
		else
		{
			n = rc_decode(&c, s->vals_out);
			for (uint32 i = 0; i < n; i++)
				rf_store16(dst + 2 * i, s->vals_out[i]);
			w->used += 2 * (size_t) n;
		}
	}
}

/*
 * Append a container given as n maximal half-open intervals.
 */
void
SegmentWriterAddBounds(SegmentWriter *w, uint16 key, const uint32 *bounds, uint32 n,
					   uint32 card)
{
	RfType		type;
	uint8	   *dst;

	if (card == 0)
		return;
	type = rf_canonical_type(card, n);
	dst = writer_reserve(w, key, card, type, rf_container_size(type, card, n));

	if (type == RF_RUN)
		write_bounds_as_runs(w, dst, bounds, n);
	else if (type == RF_ARRAY)
	{
		uint32		k = 0;

		for (uint32 i = 0; i < n; i++)
			for (uint32 x = bounds[2 * i]; x < bounds[2 * i + 1]; x++)
				rf_store16(dst + 2 * k++, (uint16) x);
		w->used += 2 * (size_t) card;
	}
	else
	{
		uint64	   *words = SegmentScratch()->words_a;

		memset(words, 0, RF_BITSET_BYTES);
		for (uint32 i = 0; i < n; i++)
			for (uint32 x = bounds[2 * i]; x < bounds[2 * i + 1]; x++)
				words[x >> 6] |= UINT64CONST(1) << (x & 63);
		write_words(w, dst, words);
	}
}

void
SegmentWriterAddResult(SegmentWriter *w, uint16 key, const RcResult *r)
{
	switch (r->form)
	{
		case RF_ARRAY:
			SegmentWriterAddValues(w, key, r->vals, r->n);
			break;
		case RF_BITSET:
			SegmentWriterAddWords(w, key, r->words, r->card);
			break;
		case RF_RUN:
			SegmentWriterAddBounds(w, key, r->bounds, r->n, r->card);
			break;
	}
}

/*
 * Lay out the header the way CRoaring does (run cookie only when a run
 * container exists; offsets unless that cookie is used with fewer than four
 * containers) and return the finished segment.
 */
SegmentData *
SegmentWriterFinish(SegmentWriter *w)
{
	size_t		header = header_size(w->n, w->any_run);
	bool		offsets = !w->any_run || w->n >= RF_NO_OFFSET_THRESHOLD;
	size_t		total = offsetof(SegmentData, data) + header + w->used;
	SegmentData *result;
	uint8	   *p;

	if (!AllocSizeIsValid(total))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("segment too large")));

	if (w->reserve >= offsetof(SegmentData, data) + header)
	{
		/* in place: slide the payload down behind the real header */
		result = (SegmentData *) w->buffer;
		memmove(result->data + header, w->payload, w->used);
	}
	else
	{
		result = palloc(total);
		memcpy(result->data + header, w->payload, w->used);
		pfree(w->buffer);
	}
	SET_VARSIZE(result, total);
	result->version = SEGMENT_FORMAT_VERSION;
	result->flags = 0;
	result->reserved = 0;

	p = (uint8 *) result->data;
	if (w->any_run)
	{
		rf_store32(p, RF_COOKIE_RUN | ((uint32) (w->n - 1) << 16));
		p += 4;
		memset(p, 0, (w->n + 7) / 8);
		for (uint32 i = 0; i < w->n; i++)
			if (w->types[i] == RF_RUN)
				p[i >> 3] |= 1 << (i & 7);
		p += (w->n + 7) / 8;
	}
	else
	{
		rf_store32(p, RF_COOKIE_NO_RUN);
		rf_store32(p + 4, w->n);
		p += 8;
	}
	for (uint32 i = 0; i < w->n; i++)
	{
		rf_store16(p, w->keys[i]);
		rf_store16(p + 2, (uint16) (w->cards[i] - 1));
		p += 4;
	}
	if (offsets)
	{
		size_t		pos = header;
		const uint8 *payload = (const uint8 *) result->data + header;

		for (uint32 i = 0; i < w->n; i++)
		{
			rf_store32(p, (uint32) pos);
			p += 4;
			if (w->types[i] == RF_RUN)
				pos += rf_container_size(RF_RUN, 0, rf_load16(payload + (pos - header)));
			else
				pos += rf_container_size(w->types[i], w->cards[i], 0);
		}
	}

	pfree(w->keys);
	pfree(w->cards);
	pfree(w->types);
	return result;
}

SegmentData *
SegmentEmpty(void)
{
	SegmentWriter w;

	SegmentWriterInit(&w, 0);
	return SegmentWriterFinish(&w);
}

/*
 * A segment from a portable serialization.  Untrusted bytes are validated
 * first; bytes not in canonical form are re-encoded container by container.
 */
SegmentData *
SegmentFromPortable(const uint8 *buf, size_t len, bool trusted)
{
	RfValidation v;
	RfHeader	h;
	SegmentWriter w;
	RcScratch  *s;

	rf_validate(buf, len, &v);
	if (v.error != RF_OK)
	{
		if (trusted)
			elog(ERROR, "roaring library produced an invalid bitmap: %s",
				 rf_error_message(v.error));
		if (v.error == RF_ERR_CARDINALITY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary representation of type segment"),
					 errdetail("Container %u declares %llu members but holds %llu.",
							   v.container, (unsigned long long) v.declared,
							   (unsigned long long) v.found)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary representation of type segment"),
				 errdetail_internal(rf_error_message(v.error), v.container)));
	}

	if (v.canonical)
	{
		SegmentData *result = palloc(offsetof(SegmentData, data) + len);

		SET_VARSIZE(result, offsetof(SegmentData, data) + len);
		result->version = SEGMENT_FORMAT_VERSION;
		result->flags = 0;
		result->reserved = 0;
		memcpy(result->data, buf, len);
		return result;
	}

	(void) rf_parse_header(buf, len, &h);
	s = SegmentScratch();
	SegmentWriterInitReserved(&w, len, h.n);
	for (uint32 i = 0; i < h.n; i++)
	{
		RfContainer c;
		uint32		n;

		if (!rf_get_container(&h, i, &c))
			elog(ERROR, "validated roaring bitmap has an unreadable container");
		n = rc_to_bounds(&c, s->bounds_a);
		SegmentWriterAddBounds(&w, c.key, s->bounds_a, n, c.card);
	}
	return SegmentWriterFinish(&w);
}

/*
 * A segment from sorted, distinct keys.
 */
SegmentData *
SegmentFromSortedKeys(const uint32 *keys, size_t n)
{
	SegmentWriter w;
	uint16	   *vals = SegmentScratch()->vals_out;
	size_t		i = 0;

	SegmentWriterInit(&w, Min(n * 2 + 64, MaxAllocSize / 2));
	while (i < n)
	{
		uint16		key = (uint16) (keys[i] >> 16);
		uint32		m = 0;

		while (i < n && (keys[i] >> 16) == key)
			vals[m++] = (uint16) keys[i++];
		SegmentWriterAddValues(&w, key, vals, m);
		CHECK_FOR_INTERRUPTS();
	}
	return SegmentWriterFinish(&w);
}

/*
 * Sort keys in place and drop duplicates; returns the array holding the
 * result, keys or a new one.
 *
 * LSD radix sort in three passes of 11, 11 and 10 bits: 2,048 buckets keep
 * the scatter's write positions in cache, where 65,536 would miss on
 * nearly every key.  (Measured on 10M random keys: faster than two passes
 * of 16 bits and than four of 8.)
 */
#define RADIX_BITS		11
#define RADIX_PASSES	3
#define RADIX_BUCKETS	(1 << RADIX_BITS)

uint32 *
SegmentSortKeys(uint32 *keys, size_t n, size_t *nunique)
{
	size_t		out;

	if (n < 64)
	{
		/* insertion sort: radix passes cost more than they save here */
		for (size_t i = 1; i < n; i++)
		{
			uint32		x = keys[i];
			size_t		j = i;

			while (j > 0 && keys[j - 1] > x)
			{
				keys[j] = keys[j - 1];
				j--;
			}
			keys[j] = x;
		}
	}
	else
	{
		uint32	   *tmp = palloc_extended(n * sizeof(uint32), MCXT_ALLOC_HUGE);
		size_t		count[RADIX_PASSES][RADIX_BUCKETS];
		uint32	   *src = keys;
		uint32	   *dst = tmp;

		/* one read pass counts every digit */
		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
		{
			uint32		x = keys[i];

			for (int pass = 0; pass < RADIX_PASSES; pass++)
				count[pass][(x >> (RADIX_BITS * pass)) & (RADIX_BUCKETS - 1)]++;
		}
		for (int pass = 0; pass < RADIX_PASSES; pass++)
		{
			size_t		sum = 0;
			int			shift = RADIX_BITS * pass;
			uint32	   *swap;

			for (int b = 0; b < RADIX_BUCKETS; b++)
			{
				size_t		c = count[pass][b];

				count[pass][b] = sum;
				sum += c;
			}
			for (size_t i = 0; i < n; i++)
			{
				uint32		x = src[i];

				dst[count[pass][(x >> shift) & (RADIX_BUCKETS - 1)]++] = x;
			}
			swap = src;
			src = dst;
			dst = swap;
			CHECK_FOR_INTERRUPTS();
		}
		/* an odd number of passes leaves the result in tmp */
		memcpy(keys, src, n * sizeof(uint32));
		pfree(tmp);
	}

	out = 0;
	for (size_t i = 0; i < n; i++)
		if (out == 0 || keys[i] != keys[out - 1])
			keys[out++] = keys[i];
	*nunique = out;
	return keys;
}
