/*-------------------------------------------------------------------------
 *
 * segment_cache.c
 *	  Fetching segment arguments once per query, and reading them in place.
 *
 * A stored segment of millions of keys is megabytes of TOAST.  When the same
 * stored value meets many rows (WHERE id <@ (SELECT s FROM ...), a join on a
 * segments table), fetching it per row costs far more than the operation.
 * So a function remembers, in fn_extra, the last value fetched for each of
 * its first two arguments, keyed by the TOAST pointer, which names one
 * immutable value for the life of the query.  Values that are not toasted
 * cost nothing to read and are used where they lie.
 *
 * IDENTIFICATION
 *	  src/segment_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include "access/detoast.h"
#include "utils/memutils.h"

#define SEGMENT_CACHE_ARGS	2
#define SEGMENT_CACHE_MAGIC 0x5E6CAC4E

typedef struct SegmentCacheSlot
{
	bool		valid;
	Oid			toastrelid;
	Oid			valueid;
	struct varlena *value;		/* detoasted, in fn_mcxt */
} SegmentCacheSlot;

/*
 * For membership tests against a value that stays the same row after row:
 * its parsed header and, from the second row on, a direct index from a
 * key's high 16 bits to its container.
 */
typedef struct SegmentKeyIndex
{
	const void *identity;		/* the datum this describes */
	bool		built;
	SegmentView sv;
	int32	   *container;		/* 65,536 entries, -1 where absent */
} SegmentKeyIndex;

typedef struct SegmentCache
{
	uint32		magic;
	SegmentCacheSlot slots[SEGMENT_CACHE_ARGS];
	SegmentKeyIndex index[SEGMENT_CACHE_ARGS];
} SegmentCache;

static RcScratch *scratch = NULL;

/*
 * The work space of container operations; one per backend, which runs one
 * operation at a time.
 */
RcScratch *
SegmentScratch(void)
{
	if (scratch == NULL)
		scratch = MemoryContextAlloc(TopMemoryContext, sizeof(RcScratch));
	return scratch;
}

/* The function's cache, created on first use; NULL if fn_extra is taken. */
static SegmentCache *
get_cache(FmgrInfo *flinfo)
{
	SegmentCache *cache = (SegmentCache *) flinfo->fn_extra;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(SegmentCache));
		cache->magic = SEGMENT_CACHE_MAGIC;
		flinfo->fn_extra = cache;
	}
	return cache->magic == SEGMENT_CACHE_MAGIC ? cache : NULL;
}

/*
 * The varlena of argument argno, detoasted as little as possible: short
 * headers are kept, out-of-line values come from the per-query cache.
 */
struct varlena *
SegmentGetArg(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *p = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	FmgrInfo   *flinfo = fcinfo->flinfo;
	SegmentCache *cache;
	SegmentCacheSlot *slot;
	struct varatt_external ptr;
	MemoryContext old;

	if (!VARATT_IS_EXTERNAL_ONDISK(p) || argno >= SEGMENT_CACHE_ARGS || flinfo == NULL)
		return pg_detoast_datum_packed(p);

	cache = get_cache(flinfo);
	if (cache == NULL)
		return pg_detoast_datum_packed(p);

	VARATT_EXTERNAL_GET_POINTER(ptr, p);
	slot = &cache->slots[argno];
	if (slot->valid && slot->valueid == ptr.va_valueid &&
		slot->toastrelid == ptr.va_toastrelid)
		return slot->value;

	if (slot->valid)
	{
		pfree(slot->value);
		slot->valid = false;
	}
	old = MemoryContextSwitchTo(flinfo->fn_mcxt);
	slot->value = detoast_attr(p);
	MemoryContextSwitchTo(old);
	slot->toastrelid = ptr.va_toastrelid;
	slot->valueid = ptr.va_valueid;
	slot->valid = true;
	return slot->value;
}

/*
 * Parse the header of a segment varlena.  Stored values were validated on
 * input; what is checked here is only what keeps reads in bounds.
 */
void
SegmentViewInit(struct varlena *datum, SegmentView *sv)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(datum);
	size_t		len = VARSIZE_ANY_EXHDR(datum);

	sv->datum = datum;
	if (len < SEGMENT_PREFIX_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment value is corrupted"),
				 errdetail("The value is %zu bytes long.", len)));
	if (p[0] != SEGMENT_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("unsupported segment format version %d", (int) p[0]),
				 errhint("Upgrade the segment extension to read this value.")));
	if (p[1] != 0 || p[2] != 0 || p[3] != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment value is corrupted"),
				 errdetail("Reserved header bits are set.")));
	if (rf_parse_header(p + SEGMENT_PREFIX_SIZE, len - SEGMENT_PREFIX_SIZE, &sv->h) != RF_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment value is corrupted"),
				 errdetail("Its roaring header does not fit in the value.")));
}

void
SegmentGetArgView(FunctionCallInfo fcinfo, int argno, SegmentView *sv)
{
	SegmentViewInit(SegmentGetArg(fcinfo, argno), sv);
}

/*
 * Free an argument's detoasted copy, unless it is the argument itself or
 * the cache's.  For functions called many times in one context (sorts).
 */
void
SegmentFreeArg(FunctionCallInfo fcinfo, int argno, SegmentView *sv)
{
	Pointer		arg = DatumGetPointer(PG_GETARG_DATUM(argno));
	SegmentCache *cache = fcinfo->flinfo ? (SegmentCache *) fcinfo->flinfo->fn_extra : NULL;

	if ((Pointer) sv->datum == arg)
		return;
	if (cache != NULL && cache->magic == SEGMENT_CACHE_MAGIC && argno < SEGMENT_CACHE_ARGS &&
		cache->slots[argno].valid && cache->slots[argno].value == sv->datum)
		return;
	pfree(sv->datum);
}

static bool
view_contains(const SegmentView *sv, int64 i, uint32 key)
{
	RfContainer c;

	if (i < 0)
		return false;
	SegmentGetContainer(sv, (uint32) i, &c);
	return rc_contains(&c, (uint16) key);
}

/*
 * Is key a member of argument argno?  A value that is the same for every
 * row, a constant or a bound parameter, or one stored value fetched through
 * the cache, is parsed once and indexed on its second use; any other is
 * read in place with a binary search.
 */
bool
SegmentArgContainsKey(FunctionCallInfo fcinfo, int argno, uint32 key)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	Pointer		orig = DatumGetPointer(PG_GETARG_DATUM(argno));
	struct varlena *datum;
	const void *identity;
	SegmentCache *cache;
	SegmentKeyIndex *idx;
	SegmentView sv;

	if (flinfo == NULL || argno >= SEGMENT_CACHE_ARGS)
		goto uncached;
	if (get_fn_expr_arg_stable(flinfo, argno))
	{
		/* the same datum for the whole query: its address names it */
		datum = NULL;
		identity = orig;
	}
	else if (VARATT_IS_EXTERNAL_ONDISK(orig))
	{
		/* the cache's copy lives as long as the slot holds that value */
		datum = SegmentGetArg(fcinfo, argno);
		identity = datum;
	}
	else
		goto uncached;

	cache = get_cache(flinfo);
	if (cache == NULL)
		goto uncached;
	idx = &cache->index[argno];

	if (idx->identity != identity)
	{
		/* first use: parse, and remember what for */
		if (datum == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(flinfo->fn_mcxt);

			datum = pg_detoast_datum_packed((struct varlena *) orig);
			MemoryContextSwitchTo(old);
		}
		SegmentViewInit(datum, &idx->sv);
		idx->identity = identity;
		idx->built = false;
		return view_contains(&idx->sv, rf_find_key(&idx->sv.h, (uint16) (key >> 16)), key);
	}

	if (!idx->built)
	{
		if (idx->container == NULL)
			idx->container = MemoryContextAlloc(flinfo->fn_mcxt, 65536 * sizeof(int32));
		memset(idx->container, -1, 65536 * sizeof(int32));
		for (uint32 i = 0; i < idx->sv.h.n; i++)
			idx->container[rf_key(&idx->sv.h, i)] = (int32) i;
		idx->built = true;
	}
	return view_contains(&idx->sv, idx->container[key >> 16], key);

uncached:
	SegmentGetArgView(fcinfo, argno, &sv);
	return view_contains(&sv, rf_find_key(&sv.h, (uint16) (key >> 16)), key);
}

void
SegmentGetContainer(const SegmentView *sv, uint32 i, RfContainer *c)
{
	if (!rf_get_container(&sv->h, i, c))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment value is corrupted"),
				 errdetail("Container %u does not fit in the value.", i)));
}
