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
 * At commit, each changed chunk row is locked and read, and what the
 * transaction really changed relative to it is what goes to the history
 * (segment.flips) and the NOTIFY summary: nothing is reported twice, even
 * if another transaction committed the same change meanwhile.
 *
 * IDENTIFICATION
 *	  src/pending.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"


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

/* (base - went) | came, in the current memory context */
static SegmentData *
apply_change(SegmentData *base, SegmentData *came, SegmentData *went)
{
	return SegmentOr(SegmentAndNot(base, went), came);
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

/* The queries of the flush, prepared once per backend and segment type */
typedef struct FlushPlans
{
	Oid			segtype;
	SPIPlanPtr	exists;
	SPIPlanPtr	peek;
	SPIPlanPtr	lock;
	SPIPlanPtr	insert;
	SPIPlanPtr	update;
	SPIPlanPtr	delete;
	SPIPlanPtr	flips;
} FlushPlans;

static FlushPlans plans;

static void
prepare_plans(void)
{
	Oid			segtype = SegmentTypeOid();
	Oid			key[2] = {TEXTOID, INT4OID};
	Oid			row[3] = {TEXTOID, INT4OID, segtype};
	Oid			flips[5] = {TEXTARRAYOID, INT4ARRAYOID, InvalidOid, InvalidOid, TIMESTAMPTZOID};
	Oid			names[1] = {TEXTARRAYOID};

	if (plans.segtype == segtype)
		return;
	/* the extension may have been dropped and created again */
	memset(&plans, 0, sizeof(plans));
	flips[2] = flips[3] = get_array_type(segtype);
	plans.exists = SegmentKeepPlan("SELECT name FROM segment.definitions"
								   " WHERE name OPERATOR(pg_catalog.=) ANY ($1)", 1, names);
	plans.peek = SegmentKeepPlan("SELECT members FROM segment.chunks"
								 " WHERE segment OPERATOR(pg_catalog.=) $1"
								 " AND chunk OPERATOR(pg_catalog.=) $2", 2, key);
	plans.lock = SegmentKeepPlan("SELECT members FROM segment.chunks"
								 " WHERE segment OPERATOR(pg_catalog.=) $1"
								 " AND chunk OPERATOR(pg_catalog.=) $2 FOR UPDATE", 2, key);
	plans.insert = SegmentKeepPlan("INSERT INTO segment.chunks (segment, chunk, members)"
								   " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", 3, row);
	plans.update = SegmentKeepPlan("UPDATE segment.chunks SET members = $3"
								   " WHERE segment OPERATOR(pg_catalog.=) $1"
								   " AND chunk OPERATOR(pg_catalog.=) $2", 3, row);
	plans.delete = SegmentKeepPlan("DELETE FROM segment.chunks"
								   " WHERE segment OPERATOR(pg_catalog.=) $1"
								   " AND chunk OPERATOR(pg_catalog.=) $2", 2, key);
	plans.flips = SegmentKeepPlan("INSERT INTO segment.flips (segment, chunk, entered, exited, at)"
								  " SELECT f.*, $5 FROM ROWS FROM (pg_catalog.unnest($1),"
								  " pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4)) f",
								  5, flips);
	plans.segtype = segtype;
}

static void
run_plan(SPIPlanPtr plan, Datum *args, int expected)
{
	int			ret = SPI_execute_plan(plan, args, NULL, false, 0);

	if (ret != expected)
		elog(ERROR, "writing membership failed: %s", SPI_result_code_string(ret));
}

/* The segments that still exist (another transaction may have dropped one). */
static bool *
existing(PendingSegment **segs, int n)
{
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));
	bool	   *result = palloc0(Max(n, 1) * sizeof(bool));
	Datum		args[1];

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(segs[i]->name);
	args[0] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(plans.exists, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading segment definitions failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		char	   *name = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r],
															 SPI_tuptable->tupdesc, 1, &isnull));

		for (int i = 0; i < n; i++)
			if (strcmp(segs[i]->name, name) == 0)
				result[i] = true;
	}
	return result;
}

/*
 * Write one chunk's change; *came and *went become what really changed
 * relative to the row as committed.
 */
static void
write_chunk(const char *name, int32 chunk, SegmentData **came, SegmentData **went)
{
	Datum		args[3];

	args[0] = CStringGetTextDatum(name);
	args[1] = Int32GetDatum(chunk);

	/*
	 * Only exits (customers deleted, say): if none of them is a member, do
	 * not lock the row.  Nobody else changes these customers' membership
	 * before this transaction ends (process.c), so a plain read tells.
	 */
	if (SegmentIsEmpty(*came))
	{
		bool		isnull;

		run_plan(plans.peek, args, SPI_OK_SELECT);
		if (SPI_processed == 0 ||
			SegmentIsEmpty(SegmentAnd(*went,
									  (SegmentData *) PG_DETOAST_DATUM(SPI_getbinval(SPI_tuptable->vals[0],
																					 SPI_tuptable->tupdesc,
																					 1, &isnull)))))
		{
			*went = SegmentEmpty();
			return;
		}
	}
	for (;;)
	{
		run_plan(plans.lock, args, SPI_OK_SELECT);
		if (SPI_processed == 1)
		{
			bool		isnull;
			SegmentData *old = (SegmentData *) PG_DETOAST_DATUM(SPI_getbinval(SPI_tuptable->vals[0],
																			  SPI_tuptable->tupdesc,
																			  1, &isnull));
			SegmentData *new = apply_change(old, *came, *went);

			*came = SegmentAndNot(*came, old);
			*went = SegmentAnd(*went, old);
			args[2] = PointerGetDatum(new);
			if (SegmentIsEmpty(new))
				run_plan(plans.delete, args, SPI_OK_DELETE);
			else if (!SegmentIsEmpty(*came) || !SegmentIsEmpty(*went))
				run_plan(plans.update, args, SPI_OK_UPDATE);
			return;
		}
		*went = SegmentEmpty();
		if (SegmentIsEmpty(*came))
			return;
		args[2] = PointerGetDatum(*came);
		run_plan(plans.insert, args, SPI_OK_INSERT);
		if (SPI_processed == 1)
			return;
		/* another transaction inserted the row first: lock it and retry */
	}
}

/*
 * Write every change, in (segment, chunk) order, as the catalog's owner;
 * record what changed in the history and, unless the transaction is being
 * prepared (which cannot notify), announce it.  Runs at commit,
 * with the customers locked (process.c) and a fresh snapshot.
 */
void
PendingFlush(bool announce)
{
	PendingLayer *layer;
	PendingSegment **segs;
	bool	   *exists;
	int			nsegs;
	SegmentCatalogSave save;
	List	   *changes = NIL;
	List	   *f_names = NIL,
			   *f_chunks = NIL,
			   *f_came = NIL,
			   *f_went = NIL;
	MemoryContext caller = CurrentMemoryContext;

	/* every subtransaction has ended: one layer is left */
	Assert(list_length(layers) == 1);
	layer = (PendingLayer *) linitial(layers);
	nsegs = list_length(layer->segments);
	if (nsegs == 0)
	{
		layers = NIL;
		return;
	}

	segs = palloc(nsegs * sizeof(PendingSegment *));
	for (int i = 0; i < nsegs; i++)
		segs[i] = (PendingSegment *) list_nth(layer->segments, i);
	qsort(segs, nsegs, sizeof(PendingSegment *), compare_segments);

	SegmentCatalogBegin(&save);
	prepare_plans();
	exists = existing(segs, nsegs);
	for (int i = 0; i < nsegs; i++)
	{
		long		n;
		PendingChunk **chunks;
		int64		entered = 0;
		int64		exited = 0;

		if (!exists[i])
			continue;
		chunks = sorted_chunks(segs[i], &n);
		for (long j = 0; j < n; j++)
		{
			SegmentData *came = chunks[j]->came;
			SegmentData *went = chunks[j]->went;
			MemoryContext old;

			if (SegmentIsEmpty(came) && SegmentIsEmpty(went))
				continue;
			write_chunk(segs[i]->name, chunks[j]->chunk, &came, &went);
			if (SegmentIsEmpty(came) && SegmentIsEmpty(went))
				continue;
			entered += SegmentCardinality(came);
			exited += SegmentCardinality(went);
			old = MemoryContextSwitchTo(caller);
			f_names = lappend(f_names, (void *) CStringGetTextDatum(segs[i]->name));
			f_chunks = lappend_int(f_chunks, chunks[j]->chunk);
			f_came = lappend(f_came, PG_DETOAST_DATUM_COPY(PointerGetDatum(came)));
			f_went = lappend(f_went, PG_DETOAST_DATUM_COPY(PointerGetDatum(went)));
			MemoryContextSwitchTo(old);
			CHECK_FOR_INTERRUPTS();
		}
		if (entered > 0 || exited > 0)
		{
			MemoryContext old = MemoryContextSwitchTo(caller);
			LiveChange *ch = palloc(sizeof(LiveChange));

			ch->segment = pstrdup(segs[i]->name);
			ch->entered = entered;
			ch->exited = exited;
			changes = lappend(changes, ch);
			MemoryContextSwitchTo(old);
		}
	}

	if (f_names != NIL)
	{
		int			n = list_length(f_names);
		Datum	   *names = palloc(n * sizeof(Datum));
		Datum	   *chunks = palloc(n * sizeof(Datum));
		Datum	   *came = palloc(n * sizeof(Datum));
		Datum	   *went = palloc(n * sizeof(Datum));
		Datum		args[5];

		for (int i = 0; i < n; i++)
		{
			names[i] = (Datum) list_nth(f_names, i);
			chunks[i] = Int32GetDatum(list_nth_int(f_chunks, i));
			came[i] = PointerGetDatum(list_nth(f_came, i));
			went[i] = PointerGetDatum(list_nth(f_went, i));
		}
		args[0] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
		args[1] = PointerGetDatum(construct_array(chunks, n, INT4OID, 4, true, TYPALIGN_INT));
		args[2] = PointerGetDatum(construct_array(came, n, plans.segtype, -1, false, TYPALIGN_INT));
		args[3] = PointerGetDatum(construct_array(went, n, plans.segtype, -1, false, TYPALIGN_INT));
		/* one time for the whole transaction: its changes are one event */
		args[4] = TimestampTzGetDatum(GetCurrentTimestamp());
		run_plan(plans.flips, args, SPI_OK_INSERT);
	}
	SegmentCatalogEnd(&save);
	layers = NIL;

	if (announce)
		NotifyChanges(changes);
}

static void
pending_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
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
 * Record a change of a segment's membership (disjoint sets of who entered
 * and who exited), chunk by chunk: one container is one chunk.
 */
void
PendingRecord(const char *name, SegmentData *came, SegmentData *went)
{
	PendingLayer *layer;
	SegmentView vc,
				vw;
	uint32		i = 0,
				j = 0;

	if (!callbacks_registered)
	{
		RegisterXactCallback(pending_xact_callback, NULL);
		RegisterSubXactCallback(pending_subxact_callback, NULL);
		callbacks_registered = true;
	}
	layer = current_layer();
	SegmentViewInit((struct varlena *) came, &vc);
	SegmentViewInit((struct varlena *) went, &vw);
	while (i < vc.h.n || j < vw.h.n)
	{
		int32		kc = i < vc.h.n ? rf_key(&vc.h, i) : INT32_MAX;
		int32		kw = j < vw.h.n ? rf_key(&vw.h, j) : INT32_MAX;
		int32		chunk = Min(kc, kw);
		SegmentWriter wc,
					ww;
		RfContainer c;

		SegmentWriterInit(&wc, 64);
		SegmentWriterInit(&ww, 64);
		if (kc == chunk)
		{
			SegmentGetContainer(&vc, i++, &c);
			SegmentWriterAddRaw(&wc, &c);
		}
		if (kw == chunk)
		{
			SegmentGetContainer(&vw, j++, &c);
			SegmentWriterAddRaw(&ww, &c);
		}
		record_change(layer, name, chunk, SegmentWriterFinish(&wc), SegmentWriterFinish(&ww));
	}
}

/*
 * Forget a segment's changes: it is being dropped.
 */
void
PendingForget(const char *name)
{
	ListCell   *lc;

	foreach(lc, layers)
	{
		PendingLayer *layer = (PendingLayer *) lfirst(lc);
		PendingSegment *seg = find_segment(layer, name, false);

		if (seg != NULL)
			layer->segments = list_delete_ptr(layer->segments, seg);
	}
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

