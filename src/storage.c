/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  Stored membership: chunk rows, their small deltas, folding.
 *
 * A segment's membership is stored per chunk of 65,536 keys (key >> 16,
 * one roaring container), one row of segment.chunks each, as
 * (members - removed) | added.  members is large (up to 8 kB) and stored
 * out of line; added and removed are the customers moved since it was last
 * rewritten, a few bytes each.  A commit that moves a few customers updates
 * added and removed only: PostgreSQL then keeps the out-of-line value as it
 * is and updates the row in place on its page.  Past FOLD_BYTES the deltas
 * are folded into members, in the same statement.
 *
 * Since members changes rarely, each backend keeps the values it read,
 * keyed by their TOAST pointer, and reading a chunk costs the row, not its
 * 8 kB.
 *
 * IDENTIFICATION
 *	  src/storage.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(segment_chunk_fold);

/* Fold added and removed into members past this many bytes */
#define FOLD_BYTES			2000

/* Bytes of members values a backend keeps */
#define BASE_CACHE_BYTES	(32 * 1024 * 1024)

typedef struct BaseKey
{
	Oid			toastrelid;
	Oid			valueid;
} BaseKey;

typedef struct BaseEntry
{
	BaseKey		key;
	int32		rawsize;
	SegmentData *value;
} BaseEntry;

static HTAB *base_cache = NULL;
static MemoryContext base_context = NULL;
static Size base_bytes = 0;

/* Plans, prepared once per backend and segment type */
typedef struct StoragePlans
{
	Oid			segtype;
	SPIPlanPtr	lock_in;		/* the rows of segments in some chunks, locked */
	SPIPlanPtr	write;
} StoragePlans;

static StoragePlans plans;

static void
prepare_plans(Oid segtype)
{
	Oid			names[2] = {TEXTARRAYOID, INT4ARRAYOID};
	Oid			write[5] = {TEXTARRAYOID, INT4ARRAYOID, InvalidOid, InvalidOid, TIMESTAMPTZOID};
	char	   *sql;

	if (plans.segtype == segtype)
		return;
	/* the extension was created again */
	memset(&plans, 0, sizeof(plans));
	write[2] = write[3] = get_array_type(segtype);
	plans.lock_in = SegmentKeepPlan("SELECT segment, chunk, members, added, removed FROM segment.chunks"
									" WHERE segment OPERATOR(pg_catalog.=) ANY ($1)"
									" AND chunk OPERATOR(pg_catalog.=) ANY ($2)"
									" ORDER BY segment, chunk FOR UPDATE", 2, names);

	/*
	 * Every change of a commit in one statement, rows in (segment, chunk)
	 * order, so that rows are locked in that order.  A new row's members
	 * are the ones who came; an existing row's deltas absorb the change
	 * (segment._chunk_fold), and are folded into members once large.
	 */
	sql = psprintf("WITH stored AS ("
				   "INSERT INTO segment.chunks AS c (segment, chunk, members, added, removed)"
				   " SELECT u.segment, u.chunk, u.came, %1$s.segment(ARRAY[]::bigint[]), u.went"
				   " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
				   " pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(segment, chunk, came, went)"
				   " ORDER BY 1, 2"
				   " ON CONFLICT (segment, chunk) DO UPDATE SET"
				   " members = segment._chunk_fold(c.members, c.added, c.removed,"
				   "  EXCLUDED.members, EXCLUDED.removed, 0),"
				   " added = segment._chunk_fold(c.members, c.added, c.removed,"
				   "  EXCLUDED.members, EXCLUDED.removed, 1),"
				   " removed = segment._chunk_fold(c.members, c.added, c.removed,"
				   "  EXCLUDED.members, EXCLUDED.removed, 2))"
				   " INSERT INTO segment.flips (segment, chunk, entered, exited, at)"
				   " SELECT f.*, $5 FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
				   " pg_catalog.unnest($3), pg_catalog.unnest($4)) f",
				   SegmentTypeSchema());
	plans.write = SegmentKeepPlan(sql, 5, write);
	plans.segtype = segtype;
}

static void
run(SPIPlanPtr plan, Datum *args, bool read_only, int expected)
{
	int			ret = SPI_execute_plan(plan, args, NULL, read_only, 0);

	if (ret != expected)
		elog(ERROR, "segment storage query failed: %s", SPI_result_code_string(ret));
}

static void
base_cache_reset(void)
{
	HASHCTL		ctl;

	if (base_context != NULL)
		MemoryContextDelete(base_context);
	base_context = AllocSetContextCreate(TopMemoryContext, "segment members cache",
										 ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(BaseKey);
	ctl.entrysize = sizeof(BaseEntry);
	ctl.hcxt = base_context;
	base_cache = hash_create("segment members cache", 256, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	base_bytes = 0;
}

/*
 * A members value: an out-of-line one from the cache, by its TOAST
 * pointer (which names one immutable value); the result may point into
 * the cache and is valid until the next StorageRead.
 */
static SegmentData *
members_value(Datum d)
{
	struct varlena *p = (struct varlena *) DatumGetPointer(d);
	struct varatt_external ptr;
	BaseKey		key;
	BaseEntry  *e;
	bool		found;
	MemoryContext old;

	if (!VARATT_IS_EXTERNAL_ONDISK(p))
		return (SegmentData *) PG_DETOAST_DATUM(d);
	VARATT_EXTERNAL_GET_POINTER(ptr, p);
	if (base_cache == NULL)
		base_cache_reset();
	memset(&key, 0, sizeof(key));
	key.toastrelid = ptr.va_toastrelid;
	key.valueid = ptr.va_valueid;
	e = (BaseEntry *) hash_search(base_cache, &key, HASH_ENTER, &found);
	if (found && e->rawsize == ptr.va_rawsize)
		return e->value;
	if (found)
	{
		/* an OID reused for another value: rare, but never trusted */
		base_bytes -= VARSIZE(e->value);
		pfree(e->value);
	}
	e->value = NULL;
	old = MemoryContextSwitchTo(base_context);
	e->value = (SegmentData *) detoast_attr(p);
	MemoryContextSwitchTo(old);
	e->rawsize = ptr.va_rawsize;
	base_bytes += VARSIZE(e->value);
	return e->value;
}

static Datum
chunks_array(SegmentData *keys)
{
	SegmentView sv;
	Datum	   *chunks;

	SegmentViewInit((struct varlena *) keys, &sv);
	chunks = palloc(Max(sv.h.n, 1) * sizeof(Datum));
	for (uint32 i = 0; i < sv.h.n; i++)
		chunks[i] = Int32GetDatum(rf_key(&sv.h, i));
	return PointerGetDatum(construct_array(chunks, sv.h.n, INT4OID, 4, true, TYPALIGN_INT));
}

static int
find_name(char **names, int n, const char *name, int hint)
{
	if (hint >= 0 && hint < n && strcmp(names[hint], name) == 0)
		return hint;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static void
add_chunk(StoredSegment *seg, int32 chunk, SegmentData *members)
{
	if (seg->nchunks == seg->max)
	{
		seg->max = seg->max == 0 ? 4 : seg->max * 2;
		seg->chunks = seg->chunks == NULL ? palloc(seg->max * sizeof(StoredChunk))
			: repalloc(seg->chunks, seg->max * sizeof(StoredChunk));
	}
	seg->chunks[seg->nchunks].chunk = chunk;
	seg->chunks[seg->nchunks].members = members;
	seg->nchunks++;
}

static int
compare_chunks(const void *a, const void *b)
{
	int32		x = ((const StoredChunk *) a)->chunk;
	int32		y = ((const StoredChunk *) b)->chunk;

	return (x > y) - (x < y);
}

static SegmentData *row_members(const char *name, int32 chunk, SegmentData *members,
								SegmentData *added, SegmentData *removed, SegmentData *keys);

/*
 * The rows of segments in the chunks of keys, locked, through a query;
 * for a commit that must know exactly what it changes.  Runs connected to
 * SPI as the catalog's owner.
 */
static StoredSegment *
read_locked(char **names, int n, SegmentData *keys, StoredSegment *result)
{
	MemoryContext caller = CurrentMemoryContext;
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));
	Datum		args[2];
	int			w = -1;

	prepare_plans(SegmentTypeOid());
	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(names[i]);
	args[0] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = chunks_array(keys);
	run(plans.lock_in, args, false, SPI_OK_SELECT);
	MemoryContextSwitchTo(caller);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *name = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		int32		chunk = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		SegmentData *members = members_value(SPI_getbinval(tup, desc, 3, &isnull));
		SegmentData *added = (SegmentData *) PG_DETOAST_DATUM(SPI_getbinval(tup, desc, 4, &isnull));
		SegmentData *removed = (SegmentData *) PG_DETOAST_DATUM(SPI_getbinval(tup, desc, 5, &isnull));

		w = find_name(names, n, name, w);
		if (w < 0)
			continue;
		add_chunk(&result[w], chunk, row_members(name, chunk, members, added, removed, keys));
	}
	for (int i = 0; i < n; i++)
		if (result[i].nchunks > 1)
			qsort(result[i].chunks, result[i].nchunks, sizeof(StoredChunk), compare_chunks);
	return result;
}

/* A customer's membership of a chunk row: (members - removed) | added. */
static inline bool
row_contains(SegmentData *members, SegmentData *added, SegmentData *removed, uint32 key)
{
	return SegmentContains(added, key) ||
		(SegmentContains(members, key) && !SegmentContains(removed, key));
}

/*
 * One chunk row's membership, in the current memory context: the keys
 * among keys (NULL: all) that are members.
 */
static SegmentData *
row_members(const char *name, int32 chunk, SegmentData *members, SegmentData *added,
			SegmentData *removed, SegmentData *keys)
{
	SegmentData *result;
	SegmentView sv;

	if (keys != NULL && SegmentCardinality(keys) <= 64)
	{
		/* a few customers: look each up instead of combining containers */
		uint32		found[64];
		int			n = 0;
		SegmentView kv;

		SegmentViewInit((struct varlena *) keys, &kv);
		for (uint32 i = 0; i < kv.h.n; i++)
		{
			RfContainer c;
			uint16		vals[64];
			uint32		m;

			if (rf_key(&kv.h, i) != chunk)
				continue;
			SegmentGetContainer(&kv, i, &c);
			m = rc_decode(&c, vals);
			for (uint32 j = 0; j < m; j++)
			{
				uint32		key = ((uint32) chunk << 16) | vals[j];

				if (row_contains(members, added, removed, key))
					found[n++] = key;
			}
		}
		return SegmentFromSortedKeys(found, n);
	}
	if (keys != NULL)
	{
		members = SegmentAnd(members, keys);
		added = SegmentAnd(added, keys);
		removed = SegmentAnd(removed, keys);
	}
	result = SegmentOr(SegmentAndNot(members, removed), added);
	/* a chunk holds the keys of its own container, at most */
	SegmentViewInit((struct varlena *) result, &sv);
	if (sv.h.n > 1 || (sv.h.n == 1 && rf_key(&sv.h, 0) != chunk))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("membership chunk %d of segment \"%s\" holds keys of another chunk",
						chunk, name)));
	return result;
}

/*
 * Read chunk rows through the primary key index, with the active snapshot:
 * a membership read is a few index lookups, not a query.  chunk < 0: every
 * chunk of the segment.
 */
static void
scan_chunks(Relation rel, Oid index, const char *name, int32 chunk, SegmentData *keys,
			StoredSegment *seg)
{
	ScanKeyData sk[2];
	SysScanDesc scan;
	HeapTuple	tup;
	TupleDesc	desc = RelationGetDescr(rel);
	int			nkeys = chunk >= 0 ? 2 : 1;

	ScanKeyEntryInitialize(&sk[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   TupleDescAttr(desc, 0)->attcollation, F_TEXTEQ,
						   CStringGetTextDatum(name));
	if (chunk >= 0)
		ScanKeyInit(&sk[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(chunk));
	scan = systable_beginscan(rel, index, true, GetActiveSnapshot(), nkeys, sk);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		int32		c = DatumGetInt32(heap_getattr(tup, 2, desc, &isnull));
		SegmentData *members = members_value(heap_getattr(tup, 3, desc, &isnull));
		SegmentData *added = (SegmentData *) PG_DETOAST_DATUM(heap_getattr(tup, 4, desc, &isnull));
		SegmentData *removed = (SegmentData *) PG_DETOAST_DATUM(heap_getattr(tup, 5, desc, &isnull));

		add_chunk(seg, c, row_members(name, c, members, added, removed, keys));
	}
	systable_endscan(scan);
}

/*
 * The stored membership of several segments (what committed, not this
 * transaction's changes), chunk by chunk in chunk order, within the chunks
 * of keys (all when NULL), in the current memory context.  With only_keys,
 * only the members among keys: the few customers a commit evaluates are
 * looked up, not whole chunks copied.  With lock, the rows are locked
 * (keys must be given), through a query.  Reads with the active snapshot;
 * the caller checks the rights to read.
 */
StoredSegment *
StorageRead(char **names, int n, SegmentData *keys, bool only_keys, bool lock)
{
	StoredSegment *result = palloc0(Max(n, 1) * sizeof(StoredSegment));
	Relation	rel;
	Oid			index;

	Assert(keys != NULL || (!only_keys && !lock));
	/* rarely: start over rather than track use */
	if (base_cache != NULL && base_bytes > BASE_CACHE_BYTES)
		base_cache_reset();
	if (lock)
		return read_locked(names, n, keys, result);

	rel = table_open(get_relname_relid("chunks", get_namespace_oid("segment", false)),
					 AccessShareLock);
	index = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(index))
		elog(ERROR, "segment.chunks has no primary key");
	for (int i = 0; i < n; i++)
	{
		if (keys == NULL)
			scan_chunks(rel, index, names[i], -1, NULL, &result[i]);
		else
		{
			SegmentView kv;

			SegmentViewInit((struct varlena *) keys, &kv);
			for (uint32 k = 0; k < kv.h.n; k++)
				scan_chunks(rel, index, names[i], rf_key(&kv.h, k), only_keys ? keys : NULL,
							&result[i]);
		}
		if (result[i].nchunks > 1)
			qsort(result[i].chunks, result[i].nchunks, sizeof(StoredChunk), compare_chunks);
		CHECK_FOR_INTERRUPTS();
	}
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * A segment's stored chunks as one value: they are disjoint and in order,
 * so their containers concatenate.
 */
SegmentData *
StorageAssemble(StoredSegment *seg)
{
	SegmentWriter w;

	SegmentWriterInitReserved(&w, 1024, (uint32) Min(Max(seg->nchunks, 1), RF_MAX_CONTAINERS));
	for (int k = 0; k < seg->nchunks; k++)
	{
		SegmentView sv;

		SegmentViewInit((struct varlena *) seg->chunks[k].members, &sv);
		for (uint32 c = 0; c < sv.h.n; c++)
		{
			RfContainer rc;

			SegmentGetContainer(&sv, c, &rc);
			SegmentWriterAddRaw(&w, &rc);
		}
	}
	return SegmentWriterFinish(&w);
}

/*
 * segment._chunk_fold(members, added, removed, came, went, part) RETURNS
 * segment: a chunk row's new members (part 0), added (1) or removed (2)
 * once the change (came, went) is applied.  The deltas absorb it; past
 * FOLD_BYTES they are folded into members.  members is returned as given,
 * not even detoasted, unless folded, so that the row keeps its
 * out-of-line value.
 */
Datum
segment_chunk_fold(PG_FUNCTION_ARGS)
{
	SegmentData *added = (SegmentData *) PG_GETARG_VARLENA_P(1);
	SegmentData *removed = (SegmentData *) PG_GETARG_VARLENA_P(2);
	SegmentData *came = (SegmentData *) PG_GETARG_VARLENA_P(3);
	SegmentData *went = (SegmentData *) PG_GETARG_VARLENA_P(4);
	int32		part = PG_GETARG_INT32(5);
	SegmentData *new_added = SegmentOr(SegmentAndNot(added, went), came);
	SegmentData *new_removed = SegmentOr(SegmentAndNot(removed, came), went);
	bool		fold = VARSIZE(new_added) + VARSIZE(new_removed) > FOLD_BYTES;

	switch (part)
	{
		case 0:
			if (!fold)
				PG_RETURN_DATUM(PG_GETARG_DATUM(0));
			PG_RETURN_POINTER(SegmentOr(SegmentAndNot((SegmentData *) PG_GETARG_VARLENA_P(0),
													  new_removed), new_added));
		case 1:
			PG_RETURN_POINTER(fold ? SegmentEmpty() : new_added);
		case 2:
			PG_RETURN_POINTER(fold ? SegmentEmpty() : new_removed);
		default:
			elog(ERROR, "segment._chunk_fold: invalid part %d", part);
	}
	PG_RETURN_NULL();
}

/*
 * Store changes of chunks, in (segment, chunk) order, and record them in
 * the history at the given time, in one statement: came and went are exact
 * (computed against what is stored, with the customers locked).  Runs
 * connected to SPI as the catalog's owner.
 */
void
StorageWrite(int n, Datum *names, Datum *chunks, Datum *came, Datum *went, TimestampTz at)
{
	Datum		args[5];

	prepare_plans(SegmentTypeOid());
	args[0] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(chunks, n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(came, n, plans.segtype, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(went, n, plans.segtype, -1, false, TYPALIGN_INT));
	args[4] = TimestampTzGetDatum(at);
	run(plans.write, args, false, SPI_OK_INSERT);
}
