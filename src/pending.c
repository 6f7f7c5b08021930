/*-------------------------------------------------------------------------
 *
 * pending.c
 *	  Membership changes of the current transaction, written at commit.
 *
 * A statement's membership changes are kept here, per segment and chunk,
 * instead of being written to segment.chunks at once.  Writing them at once
 * would lock chunk rows for the rest of the transaction, in the order the
 * transaction's statements happen to touch them, and two transactions
 * touching two chunks in opposite orders would deadlock.  At commit (or
 * PREPARE TRANSACTION) every change is written in (segment, chunk) order,
 * by a transaction that already holds everything else it needs, so writers
 * of the same chunks queue instead of deadlocking.
 *
 * A change is a pair of disjoint sets, who entered and who exited,
 * relative to the membership as committed.  Those are set operations on
 * distinct customers, so they apply on top of whatever other transactions
 * committed meanwhile: a customer's own changes are serialized by its row
 * lock.  Readers in this transaction see the stored membership with these
 * changes applied (membership.c), so a transaction reads its own writes.
 *
 * Each subtransaction that records changes gets its own layer; ROLLBACK TO
 * SAVEPOINT drops the layer, and a released savepoint folds its layer into
 * its parent's.
 *
 * IDENTIFICATION
 *	  src/pending.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(segment_defer);
PG_FUNCTION_INFO_V1(segment_pending_adjust);

/* One chunk's change: disjoint sets of keys, all within the chunk */
typedef struct PendingChunk
{
	int32		chunk;			/* hash key */
	SegmentData *came;
	SegmentData *went;
} PendingChunk;

typedef struct PendingSegment
{
	char	   *name;
	HTAB	   *chunks;			/* PendingChunk by chunk */
} PendingSegment;

/* The changes recorded by one subtransaction */
typedef struct PendingLayer
{
	SubTransactionId subid;
	MemoryContext context;		/* holds the layer and everything in it */
	List	   *segments;		/* of PendingSegment */
} PendingLayer;

/* Innermost layer last; NIL when the transaction recorded nothing */
static List *layers = NIL;
static bool callbacks_registered = false;
static char extension_schema[NAMEDATALEN * 2 + 3];	/* quoted */

/* Plans prepared once per backend, for this segment type and schema */
static SPIPlanPtr upsert_plan = NULL;
static SPIPlanPtr remove_plan = NULL;
static Oid	plans_type = InvalidOid;
static char plans_schema[NAMEDATALEN * 2 + 3];

/* (base - went) | came, in the current memory context */
static SegmentData *
apply_change(SegmentData *base, SegmentData *came, SegmentData *went)
{
	Datum		kept = DirectFunctionCall2(segment_andnot, PointerGetDatum(base),
										   PointerGetDatum(went));

	return (SegmentData *) DatumGetPointer(DirectFunctionCall2(segment_or, kept,
															   PointerGetDatum(came)));
}

static bool
set_is_empty(SegmentData *s)
{
	SegmentView sv;

	SegmentViewInit((struct varlena *) s, &sv);
	return sv.h.n == 0;
}

static PendingSegment *
find_segment(PendingLayer *layer, const char *name, bool create)
{
	ListCell   *lc;
	PendingSegment *seg;
	HASHCTL		ctl;
	MemoryContext old;

	foreach(lc, layer->segments)
	{
		seg = (PendingSegment *) lfirst(lc);
		if (strcmp(seg->name, name) == 0)
			return seg;
	}
	if (!create)
		return NULL;

	old = MemoryContextSwitchTo(layer->context);
	seg = palloc(sizeof(PendingSegment));
	seg->name = pstrdup(name);
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(PendingChunk);
	ctl.hcxt = layer->context;
	seg->chunks = hash_create("segment pending chunks", 16, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	layer->segments = lappend(layer->segments, seg);
	MemoryContextSwitchTo(old);
	return seg;
}

/*
 * Record a change of one chunk in a layer, after whatever the layer holds
 * for it: entered = (entered - now exited) | now entered, and the converse.
 */
static void
record_change(PendingLayer *layer, const char *name, int32 chunk,
			  SegmentData *came, SegmentData *went)
{
	PendingSegment *seg = find_segment(layer, name, true);
	PendingChunk *pc;
	bool		found;
	MemoryContext old;

	pc = (PendingChunk *) hash_search(seg->chunks, &chunk, HASH_ENTER, &found);
	old = MemoryContextSwitchTo(layer->context);
	if (!found)
	{
		pc->came = (SegmentData *) PG_DETOAST_DATUM_COPY(PointerGetDatum(came));
		pc->went = (SegmentData *) PG_DETOAST_DATUM_COPY(PointerGetDatum(went));
	}
	else
	{
		SegmentData *oldcame = pc->came;
		SegmentData *oldwent = pc->went;

		pc->came = apply_change(oldcame, came, went);
		pc->went = apply_change(oldwent, went, came);
		pfree(oldcame);
		pfree(oldwent);
	}
	MemoryContextSwitchTo(old);
}

static PendingLayer *
current_layer(void)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	PendingLayer *layer;
	MemoryContext context;
	MemoryContext old;

	if (layers != NIL)
	{
		layer = (PendingLayer *) llast(layers);
		if (layer->subid == subid)
			return layer;
	}
	context = AllocSetContextCreate(TopTransactionContext, "segment pending changes",
									ALLOCSET_DEFAULT_SIZES);
	layer = MemoryContextAllocZero(context, sizeof(PendingLayer));
	layer->subid = subid;
	layer->context = context;
	old = MemoryContextSwitchTo(TopTransactionContext);
	layers = lappend(layers, layer);
	MemoryContextSwitchTo(old);
	return layer;
}

/* Fold the innermost layer into the one below it. */
static void
merge_into(PendingLayer *child, PendingLayer *parent)
{
	ListCell   *lc;

	foreach(lc, child->segments)
	{
		PendingSegment *seg = (PendingSegment *) lfirst(lc);
		HASH_SEQ_STATUS status;
		PendingChunk *pc;

		hash_seq_init(&status, seg->chunks);
		while ((pc = (PendingChunk *) hash_seq_search(&status)) != NULL)
			record_change(parent, seg->name, pc->chunk, pc->came, pc->went);
	}
}

static int
compare_chunks(const void *a, const void *b)
{
	const PendingChunk *x = *(PendingChunk *const *) a;
	const PendingChunk *y = *(PendingChunk *const *) b;

	return (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

static int
compare_segments(const void *a, const void *b)
{
	return strcmp((*(PendingSegment *const *) a)->name, (*(PendingSegment *const *) b)->name);
}

/* A segment's changed chunks, in chunk order; palloc'd, *n of them */
static PendingChunk **
sorted_chunks(PendingSegment *seg, long *n)
{
	PendingChunk **chunks;
	HASH_SEQ_STATUS status;
	PendingChunk *pc;
	long		j = 0;

	*n = hash_get_num_entries(seg->chunks);
	chunks = palloc(Max(*n, 1) * sizeof(PendingChunk *));
	hash_seq_init(&status, seg->chunks);
	while ((pc = (PendingChunk *) hash_seq_search(&status)) != NULL)
		chunks[j++] = pc;
	qsort(chunks, *n, sizeof(PendingChunk *), compare_chunks);
	return chunks;
}

static void
prepare_plans(void)
{
	Oid			argtypes[4] = {TEXTOID, INT4OID, InvalidOid, InvalidOid};
	char	   *sql;
	Oid			segtype = SegmentTypeOid();

	argtypes[2] = argtypes[3] = segtype;
	/* the extension may have been dropped and created again */
	if (plans_type != segtype || strcmp(plans_schema, extension_schema) != 0)
	{
		if (upsert_plan != NULL)
			SPI_freeplan(upsert_plan);
		if (remove_plan != NULL)
			SPI_freeplan(remove_plan);
		upsert_plan = remove_plan = NULL;
		plans_type = segtype;
		strlcpy(plans_schema, extension_schema, sizeof(plans_schema));
	}
	if (upsert_plan == NULL)
	{
		/* a segment dropped in this transaction has no row to write */
		sql = psprintf("INSERT INTO segment.chunks AS c (segment, chunk, members)"
					   " SELECT $1, $2, $3 WHERE EXISTS"
					   " (SELECT FROM segment.definitions d WHERE d.name OPERATOR(pg_catalog.=) $1)"
					   " ON CONFLICT (segment, chunk) DO UPDATE"
					   " SET members = (c.members OPERATOR(%1$s.-) $4) OPERATOR(%1$s.|) $3",
					   extension_schema);
		upsert_plan = SegmentKeepPlan(sql, 4, argtypes);
	}
	if (remove_plan == NULL)
	{
		sql = psprintf("UPDATE segment.chunks c SET members = c.members OPERATOR(%s.-) $3"
					   " WHERE c.segment OPERATOR(pg_catalog.=) $1"
					   " AND c.chunk OPERATOR(pg_catalog.=) $2",
					   extension_schema);
		remove_plan = SegmentKeepPlan(sql, 3, argtypes);
	}
}

/*
 * Write every change, in (segment, chunk) order, as the catalog's owner.
 */
static void
flush_changes(void)
{
	PendingLayer *layer;
	PendingSegment **segs;
	int			nsegs;
	int			i;
	SegmentCatalogSave save;

	/* every subtransaction has ended: one layer is left */
	Assert(list_length(layers) == 1);
	layer = (PendingLayer *) linitial(layers);
	nsegs = list_length(layer->segments);
	if (nsegs == 0)
		return;

	segs = palloc(nsegs * sizeof(PendingSegment *));
	for (i = 0; i < nsegs; i++)
		segs[i] = (PendingSegment *) list_nth(layer->segments, i);
	qsort(segs, nsegs, sizeof(PendingSegment *), compare_segments);

	/* pre-commit runs outside any statement: queries need a snapshot */
	PushActiveSnapshot(GetTransactionSnapshot());
	SegmentCatalogBegin(&save);
	prepare_plans();

	for (i = 0; i < nsegs; i++)
	{
		long		n;
		PendingChunk **chunks = sorted_chunks(segs[i], &n);

		for (long j = 0; j < n; j++)
		{
			Datum		args[4];
			bool		gains = !set_is_empty(chunks[j]->came);
			int			ret;

			if (!gains && set_is_empty(chunks[j]->went))
				continue;
			args[0] = CStringGetTextDatum(segs[i]->name);
			args[1] = Int32GetDatum(chunks[j]->chunk);
			args[2] = PointerGetDatum(gains ? chunks[j]->came : chunks[j]->went);
			args[3] = PointerGetDatum(chunks[j]->went);
			ret = SPI_execute_plan(gains ? upsert_plan : remove_plan, args, NULL, false, 0);
			if (ret != (gains ? SPI_OK_INSERT : SPI_OK_UPDATE))
				elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
			CHECK_FOR_INTERRUPTS();
		}
		pfree(chunks);
	}

	SegmentCatalogEnd(&save);
	PopActiveSnapshot();
}

static void
pending_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (layers != NIL)
			{
				flush_changes();
				/* nothing may be recorded after this */
				layers = NIL;
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the memory went with TopTransactionContext */
			layers = NIL;
			break;
		default:
			break;
	}
}

static void
pending_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	PendingLayer *layer;

	if (layers == NIL)
		return;
	layer = (PendingLayer *) llast(layers);
	if (layer->subid != mySubid)
		return;

	switch (event)
	{
		case SUBXACT_EVENT_COMMIT_SUB:
			if (list_length(layers) > 1 &&
				((PendingLayer *) list_nth(layers, list_length(layers) - 2))->subid == parentSubid)
			{
				merge_into(layer, (PendingLayer *) list_nth(layers, list_length(layers) - 2));
				layers = list_delete_last(layers);
				MemoryContextDelete(layer->context);
			}
			else
				layer->subid = parentSubid;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			layers = list_delete_last(layers);
			MemoryContextDelete(layer->context);
			break;
		default:
			break;
	}
}

/*
 * segment._defer(extension_schema, names, chunks, entered, exited): record
 * membership changes, one per element, to be written at commit.
 */
Datum
segment_defer(PG_FUNCTION_ARGS)
{
	ArrayType  *arrays[4];
	Datum	   *values[4];
	bool	   *nulls[4];
	int			counts[4];
	Oid			types[4] = {TEXTOID, INT4OID, InvalidOid, InvalidOid};
	PendingLayer *layer;

	strlcpy(extension_schema, quote_identifier(NameStr(*PG_GETARG_NAME(0))),
			sizeof(extension_schema));
	if (!callbacks_registered)
	{
		RegisterXactCallback(pending_xact_callback, NULL);
		RegisterSubXactCallback(pending_subxact_callback, NULL);
		callbacks_registered = true;
	}

	for (int a = 0; a < 4; a++)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		arrays[a] = PG_GETARG_ARRAYTYPE_P(a + 1);
		if (types[a] == InvalidOid)
			types[a] = ARR_ELEMTYPE(arrays[a]);
		get_typlenbyvalalign(types[a], &typlen, &typbyval, &typalign);
		deconstruct_array(arrays[a], types[a], typlen, typbyval, typalign,
						  &values[a], &nulls[a], &counts[a]);
		if (counts[a] != counts[0])
			elog(ERROR, "segment._defer: arrays of different lengths");
	}

	layer = current_layer();
	for (int i = 0; i < counts[0]; i++)
	{
		char	   *name;

		if (nulls[0][i] || nulls[1][i] || nulls[2][i] || nulls[3][i])
			elog(ERROR, "segment._defer: null element");
		name = TextDatumGetCString(values[0][i]);
		record_change(layer, name, DatumGetInt32(values[1][i]),
					  (SegmentData *) PG_DETOAST_DATUM(values[2][i]),
					  (SegmentData *) PG_DETOAST_DATUM(values[3][i]));
		pfree(name);
	}
	PG_RETURN_VOID();
}

/*
 * Does this transaction have changes not yet written?
 */
bool
PendingAny(void)
{
	return layers != NIL;
}

/*
 * A chunk of a segment as this transaction sees it: stored (NULL when there
 * is no row) with this transaction's changes applied, in the current memory
 * context.  NULL when nothing is stored and nothing changed.
 */
SegmentData *
PendingApplyChunk(const char *name, int32 chunk, SegmentData *stored)
{
	ListCell   *lc;

	foreach(lc, layers)
	{
		PendingSegment *seg = find_segment((PendingLayer *) lfirst(lc), name, false);
		PendingChunk *pc;

		if (seg == NULL)
			continue;
		pc = (PendingChunk *) hash_search(seg->chunks, &chunk, HASH_FIND, NULL);
		if (pc == NULL)
			continue;
		/* a copy: the change itself may go with its subtransaction */
		if (stored == NULL)
			stored = (SegmentData *) PG_DETOAST_DATUM_COPY(PointerGetDatum(pc->came));
		else
			stored = apply_change(stored, pc->came, pc->went);
	}
	return stored;
}

static void
append_containers(SegmentWriter *w, SegmentData *s)
{
	SegmentView sv;
	RfContainer c;

	SegmentViewInit((struct varlena *) s, &sv);
	for (uint32 i = 0; i < sv.h.n; i++)
	{
		SegmentGetContainer(&sv, i, &c);
		SegmentWriterAddRaw(w, &c);
	}
}

/*
 * A whole segment as this transaction sees it.
 */
SegmentData *
PendingApplySegment(const char *name, SegmentData *stored)
{
	ListCell   *lc;

	foreach(lc, layers)
	{
		PendingSegment *seg = find_segment((PendingLayer *) lfirst(lc), name, false);
		long		n;
		PendingChunk **chunks;
		SegmentWriter came;
		SegmentWriter went;

		if (seg == NULL)
			continue;
		chunks = sorted_chunks(seg, &n);

		/* chunks are disjoint and now ordered: their containers concatenate */
		SegmentWriterInit(&came, 1024);
		SegmentWriterInit(&went, 1024);
		for (long j = 0; j < n; j++)
		{
			append_containers(&came, chunks[j]->came);
			append_containers(&went, chunks[j]->went);
		}
		stored = apply_change(stored, SegmentWriterFinish(&came), SegmentWriterFinish(&went));
		pfree(chunks);
	}
	return stored;
}

/*
 * segment._pending_adjust(name, chunk, members): a stored chunk with this
 * transaction's changes applied.
 */
Datum
segment_pending_adjust(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		chunk = PG_GETARG_INT32(1);
	SegmentData *stored = (SegmentData *) PG_GETARG_VARLENA_P(2);
	SegmentData *result;

	if (layers == NIL)
		PG_RETURN_POINTER(stored);
	result = PendingApplyChunk(name, chunk, stored);
	PG_RETURN_POINTER(result);
}
