/*-------------------------------------------------------------------------
 *
 * membership.c
 *	  Reading stored membership: segment.members(), in_segment(), chunks.
 *
 * A segment's membership is stored in segment.chunks, one row per 65,536
 * keys (one roaring container), so that a change rewrites one small row and
 * concurrent writers only meet on the same chunk.  members() puts the
 * chunks back together: they are disjoint and ordered, so their containers
 * are copied as they are.  What the current transaction changed is not in
 * the rows yet: readers first bring it up to date (process.c), then apply
 * it on top (pending.c).
 *
 * IDENTIFICATION
 *	  src/membership.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(segment_members);
PG_FUNCTION_INFO_V1(segment_in_segment_placeholder);
PG_FUNCTION_INFO_V1(segment_in_segment);
PG_FUNCTION_INFO_V1(segment_chunk_contains);
PG_FUNCTION_INFO_V1(segment_can_read);

/*
 * The role that owns the extension's catalog tables; membership is read as
 * that role once the caller's right to read has been checked.
 */
Oid
SegmentCatalogOwner(void)
{
	Oid			relid = get_relname_relid("chunks", get_namespace_oid("segment", false));
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		elog(ERROR, "catalog table segment.chunks is missing");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * The segment type's OID: that of segment.chunks.members, whatever schema
 * the extension was created in.
 */
Oid
SegmentTypeOid(void)
{
	Oid			chunks = get_relname_relid("chunks", get_namespace_oid("segment", false));

	return get_atttype(chunks, get_attnum(chunks, "members"));
}

/*
 * Connect to SPI as the role that owns the extension's catalog, whoever the
 * current user is.  Pair with SegmentCatalogEnd().
 */
void
SegmentCatalogBegin(SegmentCatalogSave *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(SegmentCatalogOwner(), save->sec_context | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
}

void
SegmentCatalogEnd(const SegmentCatalogSave *save)
{
	SPI_finish();
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

/*
 * A plan prepared for the rest of the backend's life.
 */
SPIPlanPtr
SegmentKeepPlan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * Run one of this file's queries through a plan prepared once per backend:
 * members() is often called once per statement, where planning would cost
 * more than reading the chunks.
 */
static int
run_cached(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, Datum *args,
		   long limit)
{
	if (*plan == NULL)
		*plan = SegmentKeepPlan(sql, nargs, argtypes);
	return SPI_execute_plan(*plan, args, NULL, true, limit);
}

static SPIPlanPtr access_plan = NULL;
static SPIPlanPtr chunks_plan = NULL;
static SPIPlanPtr chunk_plan = NULL;
static SPIPlanPtr source_plan = NULL;

/*
 * Reading a segment needs SELECT on the customer table it is computed from,
 * or the privileges of its owner.  Runs connected to SPI.
 */
static void
check_read_access(const char *name, Oid reader)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Oid			owner;
	Datum		relid;
	int			ret;

	args[0] = CStringGetTextDatum(name);
	ret = run_cached(&access_plan,
					 "SELECT d.owner, s.relid FROM segment.definitions d"
					 " LEFT JOIN segment.customer_source s ON true"
					 " WHERE d.name = $1",
					 1, argtypes, args, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment \"%s\" does not exist", name)));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (has_privs_of_role(reader, owner))
		return;
	relid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull && pg_class_aclcheck(DatumGetObjectId(relid), reader, ACL_SELECT) == ACLCHECK_OK)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for segment \"%s\"", name),
			 errdetail("Reading a segment needs SELECT on the tracked customer table.")));
}

/*
 * Connect to SPI as the catalog owner, after checking that the current user
 * may read the segment.  Pair with SegmentCatalogEnd().
 */
static void
read_begin(const char *name, SegmentCatalogSave *save, bool check)
{
	Oid			reader = GetUserId();

	SegmentCatalogBegin(save);
	if (check)
		check_read_access(name, reader);
}

/*
 * The stored membership of a segment, assembled in the given context.
 */
static SegmentData *
assemble_members(const char *name, MemoryContext target, bool check)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	SegmentWriter w;
	MemoryContext old;
	SegmentData *result;
	SegmentCatalogSave save;
	int			ret;

	LiveSync();
	read_begin(name, &save, check);
	args[0] = CStringGetTextDatum(name);
	ret = run_cached(&chunks_plan,
					 "SELECT members FROM segment.chunks WHERE segment = $1 ORDER BY chunk",
					 1, argtypes, args, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));

	old = MemoryContextSwitchTo(target);
	SegmentWriterInitReserved(&w, 1024, (uint32) Min(SPI_processed, RF_MAX_CONTAINERS));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
		SegmentView sv;

		if (isnull)
			continue;
		SegmentViewInit(pg_detoast_datum_packed((struct varlena *) DatumGetPointer(d)), &sv);
		for (uint32 i = 0; i < sv.h.n; i++)
		{
			RfContainer c;

			SegmentGetContainer(&sv, i, &c);
			if (w.n > 0 && c.key <= w.keys[w.n - 1])
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("membership chunks of segment \"%s\" overlap", name)));
			SegmentWriterAddRaw(&w, &c);
		}
		CHECK_FOR_INTERRUPTS();
	}
	result = SegmentWriterFinish(&w);
	/* this transaction's own changes are written only at commit */
	if (PendingAny())
		result = PendingApplySegment(name, result);
	MemoryContextSwitchTo(old);
	SegmentCatalogEnd(&save);
	return result;
}

/*
 * segment._can_read(owner): may the current user read segments of this
 * owner?  For listing segments without raising errors.
 */
Datum
segment_can_read(PG_FUNCTION_ARGS)
{
	Oid			owner = PG_GETARG_OID(0);
	Oid			reader = GetUserId();
	SegmentCatalogSave save;
	bool		result;
	bool		isnull;
	int			ret;

	if (has_privs_of_role(reader, owner))
		PG_RETURN_BOOL(true);
	SegmentCatalogBegin(&save);
	ret = run_cached(&source_plan, "SELECT relid FROM segment.customer_source", 0, NULL, NULL, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	result = SPI_processed == 1 &&
		pg_class_aclcheck(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull)),
						  reader, ACL_SELECT) == ACLCHECK_OK;
	SegmentCatalogEnd(&save);
	PG_RETURN_BOOL(result);
}

/*
 * The members of a segment as this transaction sees them, for C callers;
 * no rights are checked.
 */
SegmentData *
LiveStoredMembers(const char *name)
{
	return assemble_members(name, CurrentMemoryContext, false);
}

/*
 * segment.members(name): the members of a segment.
 */
Datum
segment_members(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_SEGMENT_P(assemble_members(name, CurrentMemoryContext, true));
}

Datum
segment_in_segment_placeholder(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("in_segment() can only be used in a segment rule")));
	PG_RETURN_NULL();
}

/*
 * What in_segment() keeps across the rows of one query.  A trigger
 * evaluating a few customers needs a few chunks: those are read one by
 * one.  A bulk evaluation touches many: past IN_SEGMENT_CHUNKS different
 * chunks the whole membership is read once instead.
 */
#define IN_SEGMENT_CHUNKS	8

typedef struct InSegmentCache
{
	char	   *name;
	SegmentData *members;		/* all of it, once read */
	int			nchunks;		/* chunks read one by one so far */
	int32		chunk[IN_SEGMENT_CHUNKS];
	SegmentData *part[IN_SEGMENT_CHUNKS];	/* NULL: no members there */
} InSegmentCache;

/* One chunk of a segment's membership, or NULL when it has none. */
static SegmentData *
read_chunk(const char *name, int32 chunk, MemoryContext target)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	SegmentCatalogSave save;
	SegmentData *result = NULL;
	int			ret;

	LiveSync();
	read_begin(name, &save, true);
	args[0] = CStringGetTextDatum(name);
	args[1] = Int32GetDatum(chunk);
	ret = run_cached(&chunk_plan,
					 "SELECT members FROM segment.chunks WHERE segment = $1 AND chunk = $2",
					 2, argtypes, args, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(target);

			result = (SegmentData *) PG_DETOAST_DATUM_COPY(d);
			MemoryContextSwitchTo(old);
		}
	}
	if (PendingAny())
	{
		MemoryContext old = MemoryContextSwitchTo(target);

		result = PendingApplyChunk(name, chunk, result);
		MemoryContextSwitchTo(old);
	}
	SegmentCatalogEnd(&save);
	return result;
}

static bool
segment_data_contains(SegmentData *seg, uint32 key)
{
	SegmentView sv;
	int64		i;
	RfContainer c;

	if (seg == NULL)
		return false;
	SegmentViewInit((struct varlena *) seg, &sv);
	i = rf_find_key(&sv.h, (uint16) (key >> 16));
	if (i < 0)
		return false;
	SegmentGetContainer(&sv, (uint32) i, &c);
	return rc_contains(&c, (uint16) key);
}

/*
 * segment._chunk_contains(name, customer): membership of one customer,
 * reading only its chunk.
 */
Datum
segment_chunk_contains(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint32		key = SegmentCheckKey(PG_GETARG_INT64(1));

	PG_RETURN_BOOL(segment_data_contains(read_chunk(name, (int32) (key >> 16),
													CurrentMemoryContext), key));
}

/*
 * segment.in_segment(name, key): is the customer a member?  STABLE, so what
 * is read is kept for every row of the query.
 */
Datum
segment_in_segment(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint32		key = SegmentCheckKey(PG_GETARG_INT64(1));
	int32		chunk = (int32) (key >> 16);
	InSegmentCache *cache = (InSegmentCache *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

	if (cache == NULL || strcmp(cache->name, name) != 0)
	{
		/* a new name (the argument is a constant, so this is rare) */
		cache = MemoryContextAllocZero(mcxt, sizeof(InSegmentCache));
		cache->name = MemoryContextStrdup(mcxt, name);
		fcinfo->flinfo->fn_extra = cache;
	}
	if (cache->members != NULL)
		PG_RETURN_BOOL(segment_data_contains(cache->members, key));

	for (int i = 0; i < cache->nchunks; i++)
		if (cache->chunk[i] == chunk)
			PG_RETURN_BOOL(segment_data_contains(cache->part[i], key));

	if (cache->nchunks < IN_SEGMENT_CHUNKS)
	{
		cache->chunk[cache->nchunks] = chunk;
		cache->part[cache->nchunks] = read_chunk(name, chunk, mcxt);
		PG_RETURN_BOOL(segment_data_contains(cache->part[cache->nchunks++], key));
	}
	cache->members = assemble_members(name, mcxt, true);
	PG_RETURN_BOOL(segment_data_contains(cache->members, key));
}
