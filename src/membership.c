/*-------------------------------------------------------------------------
 *
 * membership.c
 *	  Reading stored membership: segment.members(), in_segment(), chunks.
 *
 * A segment's membership is stored per chunk of 65,536 keys (storage.c).
 * members() puts the chunks back together: they are disjoint and ordered,
 * so their containers are copied as they are.  What the current
 * transaction changed is not stored yet: readers first bring it up to date
 * (process.c), then apply it on top (pending.c).
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
 * The schema of the segment type, quoted: the extension's schema, where
 * its operators are.
 */
char *
SegmentTypeSchema(void)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(SegmentTypeOid()));
	Oid			nsp;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for the segment type");
	nsp = ((Form_pg_type) GETSTRUCT(tup))->typnamespace;
	ReleaseSysCache(tup);
	return pstrdup(quote_identifier(get_namespace_name(nsp)));
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
 * A plan prepared for the rest of the backend's life, generic.
 */
SPIPlanPtr
SegmentKeepPlan(const char *sql, int nargs, Oid *argtypes)
{
	/* our queries are keyed lookups: one generic plan serves every call */
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}



/*
 * Reading a segment needs SELECT on the customer table it is computed from,
 * or the privileges of its owner.
 */
static void
check_read_access(const char *name, Oid reader)
{
	LiveCatalog *cat = LiveCatalogPin();
	LiveSegmentEntry *e = LiveCatalogFind(cat, name);
	Oid			owner;
	Oid			customers = cat->customers;

	if (e == NULL)
	{
		LiveCatalogUnpin(cat);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment \"%s\" does not exist", name)));
	}
	owner = cat->items[e->item].owner;
	LiveCatalogUnpin(cat);
	if (has_privs_of_role(reader, owner))
		return;
	if (OidIsValid(customers) && pg_class_aclcheck(customers, reader, ACL_SELECT) == ACLCHECK_OK)
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
	if (check)
		check_read_access(name, GetUserId());
	SegmentCatalogBegin(save);
}

/*
 * The membership of a segment as this transaction sees it, or of one of
 * its chunks (chunk >= 0; NULL when empty), in the given context.
 */
static SegmentData *
read_members(const char *name, int32 chunk, MemoryContext target, bool check)
{
	SegmentCatalogSave save;
	StoredSegment *stored;
	SegmentData *keys = NULL;
	SegmentData *result;
	char	   *names[1];
	MemoryContext old;

	LiveSync();
	old = MemoryContextSwitchTo(target);
	names[0] = pstrdup(name);
	if (chunk >= 0)
	{
		uint32		key = ((uint32) chunk) << 16;

		keys = SegmentFromSortedKeys(&key, 1);
	}
	read_begin(name, &save, check);
	MemoryContextSwitchTo(target);
	stored = StorageRead(names, 1, keys, false, false);
	SegmentCatalogEnd(&save);
	MemoryContextSwitchTo(target);

	result = StorageAssemble(&stored[0]);
	/* this transaction's own changes are written only at commit */
	if (PendingAny())
		result = chunk >= 0 ? PendingApplyChunk(name, chunk, result)
			: PendingApplySegment(name, result);
	if (chunk >= 0 && result != NULL && SegmentIsEmpty(result))
		result = NULL;
	MemoryContextSwitchTo(old);
	return result;
}

static SegmentData *
assemble_members(const char *name, MemoryContext target, bool check)
{
	return read_members(name, -1, target, check);
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
	LiveCatalog *cat;
	bool		result;

	if (has_privs_of_role(reader, owner))
		PG_RETURN_BOOL(true);
	cat = LiveCatalogPin();
	result = cat->tracked &&
		pg_class_aclcheck(cat->customers, reader, ACL_SELECT) == ACLCHECK_OK;
	LiveCatalogUnpin(cat);
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
	return read_members(name, chunk, target, true);
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

	PG_RETURN_BOOL(SegmentContains(read_chunk(name, (int32) (key >> 16),
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

	bool		member;

	if (cache == NULL || strcmp(cache->name, name) != 0)
	{
		/* a new name (the argument is a constant, so this is rare) */
		check_read_access(name, GetUserId());
		cache = MemoryContextAllocZero(mcxt, sizeof(InSegmentCache));
		cache->name = MemoryContextStrdup(mcxt, name);
		fcinfo->flinfo->fn_extra = cache;
	}
	/* a rule being evaluated: the evaluation may know already */
	if (LiveKnownMember(name, key, &member))
		PG_RETURN_BOOL(member);
	if (cache->members != NULL)
		PG_RETURN_BOOL(SegmentContains(cache->members, key));

	for (int i = 0; i < cache->nchunks; i++)
		if (cache->chunk[i] == chunk)
			PG_RETURN_BOOL(SegmentContains(cache->part[i], key));

	if (cache->nchunks < IN_SEGMENT_CHUNKS)
	{
		cache->chunk[cache->nchunks] = chunk;
		cache->part[cache->nchunks] = read_chunk(name, chunk, mcxt);
		PG_RETURN_BOOL(SegmentContains(cache->part[cache->nchunks++], key));
	}
	cache->members = assemble_members(name, mcxt, true);
	PG_RETURN_BOOL(SegmentContains(cache->members, key));
}
