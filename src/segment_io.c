/*-------------------------------------------------------------------------
 *
 * segment_io.c
 *	  Text and binary I/O for the segment type, and its casts.
 *
 * Text is {1,2,3} with closed ranges {1..1000,2000}; output prints runs of
 * three or more consecutive members as ranges.  Binary (send/recv, and the
 * casts to and from bytea) is the roaring portable serialization itself, so
 * any roaring library reads it; incoming bytes are validated completely.
 *
 * IDENTIFICATION
 *	  src/segment_io.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(segment_in);
PG_FUNCTION_INFO_V1(segment_out);
PG_FUNCTION_INFO_V1(segment_recv);
PG_FUNCTION_INFO_V1(segment_send);
PG_FUNCTION_INFO_V1(segment_from_bytea);
PG_FUNCTION_INFO_V1(segment_to_bytea);
PG_FUNCTION_INFO_V1(segment_from_int8_array);
PG_FUNCTION_INFO_V1(segment_from_int4_array);
PG_FUNCTION_INFO_V1(segment_to_array);

/* A closed interval of keys, as parsed. */
typedef struct KeyRange
{
	uint32		lo;
	uint32		hi;
} KeyRange;

/*
 * Check that a key fits the type; every function taking a bigint key does.
 */
uint32
SegmentCheckKey(int64 key)
{
	if (key < 0 || (uint64) key > SEGMENT_MAX_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value %lld is out of range for type segment", (long long) key),
				 errdetail("Segment members must be integers between 0 and 4294967295.")));
	return (uint32) key;
}

static void
syntax_error(const char *str, const char *pos)
{
	if (*pos == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type segment: \"%s\"", str),
				 errdetail("Unexpected end of input.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type segment: \"%s\"", str),
			 errdetail("Unexpected character \"%.*s\" at position %d.",
					   pg_mblen(pos), pos, (int) (pos - str) + 1)));
}

static const char *
skip_space(const char *p)
{
	while (*p != '\0' && isspace((unsigned char) *p))
		p++;
	return p;
}

/*
 * Parse one member at *pp: an optional sign and digits.  A number that does
 * not fit is a range error naming the token, whatever its size.
 */
static uint32
parse_member(const char *str, const char **pp)
{
	const char *start = *pp;
	const char *p = start;
	bool		negative = false;
	uint64		value = 0;
	bool		overflow = false;

	if (*p == '-' || *p == '+')
	{
		negative = (*p == '-');
		p++;
	}
	if (!isdigit((unsigned char) *p))
		syntax_error(str, p);
	while (isdigit((unsigned char) *p))
	{
		value = value * 10 + (uint64) (*p - '0');
		if (value > SEGMENT_MAX_KEY)
			overflow = true;
		if (overflow)
			value = SEGMENT_MAX_KEY + 1;	/* keep consuming digits */
		p++;
	}
	if (overflow || (negative && value != 0))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value \"%.*s\" is out of range for type segment",
						(int) (p - start), start),
				 errdetail("Segment members must be integers between 0 and 4294967295.")));
	*pp = p;
	return (uint32) value;
}

static int
keyrange_cmp(const void *a, const void *b)
{
	const KeyRange *x = a;
	const KeyRange *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

/*
 * Build a segment from closed ranges in any order, overlapping or not.
 */
static SegmentData *
segment_from_ranges(KeyRange *ranges, size_t n)
{
	SegmentWriter w;
	uint32	   *bounds = SegmentScratch()->bounds_a;
	uint32		nb = 0;
	uint32		card = 0;
	int32		key = -1;
	bool		sorted = true;
	size_t		i = 0;

	for (size_t k = 1; k < n && sorted; k++)
		sorted = ranges[k - 1].lo <= ranges[k].lo;
	if (!sorted)
		qsort(ranges, n, sizeof(KeyRange), keyrange_cmp);

	SegmentWriterInit(&w, n * 4 + 64);
	while (i < n)
	{
		/* merge overlapping and touching ranges into [lo, hi] */
		uint64		lo = ranges[i].lo;
		uint64		hi = ranges[i].hi;

		for (i++; i < n && (uint64) ranges[i].lo <= hi + 1; i++)
			hi = Max(hi, (uint64) ranges[i].hi);

		/* cut at container boundaries */
		while (lo <= hi)
		{
			int32		k = (int32) (lo >> 16);
			uint64		end = Min(hi, ((uint64) k << 16) | 0xFFFF);

			if (k != key)
			{
				if (key >= 0)
					SegmentWriterAddBounds(&w, (uint16) key, bounds, nb, card);
				key = k;
				nb = 0;
				card = 0;
			}
			bounds[2 * nb] = (uint32) (lo & 0xFFFF);
			bounds[2 * nb + 1] = (uint32) (end & 0xFFFF) + 1;
			nb++;
			card += (uint32) (end - lo + 1);
			lo = end + 1;
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (key >= 0)
		SegmentWriterAddBounds(&w, (uint16) key, bounds, nb, card);
	return SegmentWriterFinish(&w);
}

Datum
segment_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	const char *p = skip_space(str);
	KeyRange   *ranges;
	size_t		n = 0;
	size_t		max = 16;

	if (*p != '{')
		syntax_error(str, p);
	p = skip_space(p + 1);

	ranges = palloc(max * sizeof(KeyRange));
	if (*p == '}')
		p++;
	else
	{
		for (;;)
		{
			uint32		lo,
						hi;

			lo = hi = parse_member(str, &p);
			p = skip_space(p);
			if (p[0] == '.' && p[1] == '.')
			{
				p = skip_space(p + 2);
				hi = parse_member(str, &p);
				if (hi < lo)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("invalid input syntax for type segment: \"%s\"", str),
							 errdetail("Range %u..%u has its lower bound above its upper bound.",
									   lo, hi)));
				p = skip_space(p);
			}
			if (n == max)
			{
				max *= 2;
				ranges = repalloc_huge(ranges, max * sizeof(KeyRange));
			}
			ranges[n].lo = lo;
			ranges[n].hi = hi;
			n++;

			if (*p == ',')
			{
				p = skip_space(p + 1);
				continue;
			}
			if (*p == '}')
			{
				p++;
				break;
			}
			syntax_error(str, p);
		}
	}
	p = skip_space(p);
	if (*p != '\0')
		syntax_error(str, p);

	PG_RETURN_SEGMENT_P(segment_from_ranges(ranges, n));
}

static void
append_range(StringInfo out, bool *first, uint64 lo, uint64 end)
{
	if (!*first)
		appendStringInfoChar(out, ',');
	*first = false;
	if (end - lo == 1)
		appendStringInfo(out, UINT64_FORMAT, lo);
	else if (end - lo == 2)
		appendStringInfo(out, UINT64_FORMAT "," UINT64_FORMAT, lo, lo + 1);
	else
		appendStringInfo(out, UINT64_FORMAT ".." UINT64_FORMAT, lo, end - 1);
}

Datum
segment_out(PG_FUNCTION_ARGS)
{
	SegmentView sv;
	StringInfoData out;
	uint32	   *bounds = SegmentScratch()->bounds_a;
	bool		first = true;
	bool		pending = false;
	uint64		plo = 0,
				pend = 0;

	SegmentGetArgView(fcinfo, 0, &sv);
	initStringInfo(&out);
	appendStringInfoChar(&out, '{');

	for (uint32 i = 0; i < sv.h.n; i++)
	{
		RfContainer c;
		uint64		base;
		uint32		n;

		SegmentGetContainer(&sv, i, &c);
		base = (uint64) c.key << 16;
		n = rc_to_bounds(&c, bounds);
		for (uint32 k = 0; k < n; k++)
		{
			uint64		lo = base + bounds[2 * k];
			uint64		end = base + bounds[2 * k + 1];

			/* ranges continue across container boundaries */
			if (pending && lo == pend)
			{
				pend = end;
				continue;
			}
			if (pending)
				append_range(&out, &first, plo, pend);
			plo = lo;
			pend = end;
			pending = true;
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (pending)
		append_range(&out, &first, plo, pend);
	appendStringInfoChar(&out, '}');

	PG_RETURN_CSTRING(out.data);
}

Datum
segment_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	const uint8 *bytes = (const uint8 *) buf->data + buf->cursor;
	size_t		len = buf->len - buf->cursor;
	SegmentData *result = SegmentFromPortable(bytes, len, false);

	buf->cursor = buf->len;
	PG_RETURN_SEGMENT_P(result);
}

/* The portable serialization of a segment as a bytea. */
static bytea *
segment_portable_bytea(FunctionCallInfo fcinfo)
{
	struct varlena *datum = SegmentGetArg(fcinfo, 0);
	SegmentView sv;
	bytea	   *result;

	SegmentViewInit(datum, &sv);
	result = palloc(VARHDRSZ + sv.h.len);
	SET_VARSIZE(result, VARHDRSZ + sv.h.len);
	memcpy(VARDATA(result), sv.h.buf, sv.h.len);
	return result;
}

Datum
segment_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(segment_portable_bytea(fcinfo));
}

Datum
segment_to_bytea(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(segment_portable_bytea(fcinfo));
}

Datum
segment_from_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_SEGMENT_P(SegmentFromPortable((const uint8 *) VARDATA_ANY(b),
											VARSIZE_ANY_EXHDR(b), false));
}

/*
 * Keys of an int8 or int4 array, checked, sorted and deduplicated.
 */
static SegmentData *
segment_from_array(ArrayType *array, Oid elemtype)
{
	int			nitems = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	uint32	   *keys;
	size_t		nunique;
	SegmentData *result;

	if (ARR_ELEMTYPE(array) != elemtype)
		elog(ERROR, "unexpected array element type %u", ARR_ELEMTYPE(array));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));
	if (nitems == 0)
		return SegmentEmpty();

	keys = palloc_extended((size_t) nitems * sizeof(uint32), MCXT_ALLOC_HUGE);
	if (elemtype == INT8OID)
	{
		const int64 *data = (const int64 *) ARR_DATA_PTR(array);

		for (int i = 0; i < nitems; i++)
			keys[i] = SegmentCheckKey(data[i]);
	}
	else
	{
		const int32 *data = (const int32 *) ARR_DATA_PTR(array);

		for (int i = 0; i < nitems; i++)
			keys[i] = SegmentCheckKey(data[i]);
	}
	keys = SegmentSortKeys(keys, nitems, &nunique);
	result = SegmentFromSortedKeys(keys, nunique);
	pfree(keys);
	return result;
}

Datum
segment_from_int8_array(PG_FUNCTION_ARGS)
{
	PG_RETURN_SEGMENT_P(segment_from_array(PG_GETARG_ARRAYTYPE_P(0), INT8OID));
}

Datum
segment_from_int4_array(PG_FUNCTION_ARGS)
{
	PG_RETURN_SEGMENT_P(segment_from_array(PG_GETARG_ARRAYTYPE_P(0), INT4OID));
}

Datum
segment_to_array(PG_FUNCTION_ARGS)
{
	SegmentView sv;
	uint64		card;
	size_t		nbytes;
	ArrayType  *result;
	int64	   *data;
	uint16	   *vals = SegmentScratch()->vals_out;
	size_t		k = 0;

	SegmentGetArgView(fcinfo, 0, &sv);
	card = rf_cardinality(&sv.h);
	if (card == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	if (card > (MaxAllocSize - ARR_OVERHEAD_NONULLS(1)) / sizeof(int64))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("segment of %llu members is too large for an array",
						(unsigned long long) card)));

	nbytes = ARR_OVERHEAD_NONULLS(1) + card * sizeof(int64);
	result = palloc0(nbytes);
	SET_VARSIZE(result, nbytes);
	result->ndim = 1;
	result->dataoffset = 0;
	result->elemtype = INT8OID;
	ARR_DIMS(result)[0] = (int) card;
	ARR_LBOUND(result)[0] = 1;
	data = (int64 *) ARR_DATA_PTR(result);

	for (uint32 i = 0; i < sv.h.n; i++)
	{
		RfContainer c;
		int64		base;
		uint32		n;

		SegmentGetContainer(&sv, i, &c);
		base = (int64) c.key << 16;
		n = rc_decode(&c, vals);
		for (uint32 j = 0; j < n && k < card; j++)
			data[k++] = base + vals[j];
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_ARRAYTYPE_P(result);
}
