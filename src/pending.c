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


/*
 * One chunk's change: disjoint sets of keys, all within the chunk.  exact:
 * computed against the stored membership with the customers locked
 * (process.c), so that it is what commit will really change.
 */
typedef struct PendingChunk
{
	int32		chunk;			/* hash key */
	SegmentData *came;
	SegmentData *went;
	bool		exact;
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
			  SegmentData *came, SegmentData *went, bool exact)
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
		pc->exact = exact;
	}
	else
	{
		SegmentData *oldcame = pc->came;
		SegmentData *oldwent = pc->went;

		pc->came = apply_change(oldcame, came, went);
		pc->went = apply_change(oldwent, went, came);
		pc->exact = pc->exact && exact;
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
			record_change(parent, seg->name, pc->chunk, pc->came, pc->went, pc->exact);
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

/*
 * The segments that still exist: another transaction may have dropped
 * one.  A drop locks every customer (process.c), so the cache, reloaded
 * after this transaction's locks, knows.
 */
static char **
existing(PendingSegment **segs, int *n)
{
	LiveCatalog *cat = LiveCatalogPin();
	char	  **result = palloc(Max(*n, 1) * sizeof(char *));
	int			found = 0;

	for (int i = 0; i < *n; i++)
		if (LiveCatalogFind(cat, segs[i]->name) != NULL)
			result[found++] = segs[i]->name;
	LiveCatalogUnpin(cat);
	*n = found;
	return result;
}

static void append_containers(SegmentWriter *w, SegmentData *s);

/* The customers of the changes not known to be exact. */
static SegmentData *
inexact_keys(PendingSegment **segs, int n)
{
	SegmentData *keys = SegmentEmpty();

	for (int i = 0; i < n; i++)
	{
		long		nchunks;
		PendingChunk **chunks = sorted_chunks(segs[i], &nchunks);
		SegmentWriter w;

		/* the chunks of one segment are disjoint and sorted: concatenate */
		SegmentWriterInit(&w, 1024);
		for (long j = 0; j < nchunks; j++)
			if (!chunks[j]->exact)
				append_containers(&w, SegmentOr(chunks[j]->came, chunks[j]->went));
		keys = SegmentOr(keys, SegmentWriterFinish(&w));
	}
	return keys;
}

/*
 * Write every change, in (segment, chunk) order, as the catalog's owner;
 * record what changed in the history and, unless the transaction is being
 * prepared (which cannot notify), announce it.  Runs at commit, with the
 * customers locked (process.c) and a fresh snapshot: what this
 * transaction really changes, relative to what is stored, is what is
 * written and reported, so nothing is reported twice.
 */
void
PendingFlush(bool announce)
{
	PendingLayer *layer;
	PendingSegment **segs;
	char	  **names;
	int			nsegs;
	int			nnames;
	StoredSegment *stored;
	SegmentCatalogSave save;
	List	   *changes = NIL;
	List	   *f_names = NIL,
			   *f_chunks = NIL,
			   *f_came = NIL,
			   *f_went = NIL;
	MemoryContext outer = CurrentMemoryContext;

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

	nnames = nsegs;
	names = existing(segs, &nnames);
	SegmentCatalogBegin(&save);
	MemoryContextSwitchTo(outer);
	{
		SegmentData *keys = inexact_keys(segs, nsegs);

		/* rows of those chunks are locked: their exact change is computed */
		stored = SegmentIsEmpty(keys) ? NULL : StorageRead(names, nnames, keys, true, true);
	}

	for (int i = 0, s = 0; i < nnames; i++)
	{
		long		n;
		PendingChunk **chunks;
		int64		entered = 0;
		int64		exited = 0;
		int			k = 0;

		while (strcmp(segs[s]->name, names[i]) != 0)
			s++;
		chunks = sorted_chunks(segs[s], &n);
		for (long j = 0; j < n; j++)
		{
			SegmentData *came = chunks[j]->came;
			SegmentData *went = chunks[j]->went;
			StoredChunk *sc = NULL;

			if (!chunks[j]->exact)
			{
				/* what is stored now, for these customers */
				while (k < stored[i].nchunks && stored[i].chunks[k].chunk < chunks[j]->chunk)
					k++;
				if (k < stored[i].nchunks && stored[i].chunks[k].chunk == chunks[j]->chunk)
					sc = &stored[i].chunks[k];
				if (sc != NULL)
				{
					came = SegmentAndNot(came, sc->members);
					went = SegmentAnd(went, sc->members);
				}
				else
					went = SegmentEmpty();
			}
			if (SegmentIsEmpty(came) && SegmentIsEmpty(went))
				continue;
			entered += SegmentCardinality(came);
			exited += SegmentCardinality(went);
			f_names = lappend(f_names, (void *) CStringGetTextDatum(names[i]));
			f_chunks = lappend_int(f_chunks, chunks[j]->chunk);
			f_came = lappend(f_came, came);
			f_went = lappend(f_went, went);
			CHECK_FOR_INTERRUPTS();
		}
		if (entered > 0 || exited > 0)
		{
			LiveChange *ch = palloc(sizeof(LiveChange));

			ch->segment = pstrdup(names[i]);
			ch->entered = entered;
			ch->exited = exited;
			changes = lappend(changes, ch);
		}
	}

	if (f_names != NIL)
	{
		int			n = list_length(f_names);
		Datum	   *fnames = palloc(n * sizeof(Datum));
		Datum	   *chunks = palloc(n * sizeof(Datum));
		Datum	   *came = palloc(n * sizeof(Datum));
		Datum	   *went = palloc(n * sizeof(Datum));

		for (int i = 0; i < n; i++)
		{
			fnames[i] = (Datum) list_nth(f_names, i);
			chunks[i] = Int32GetDatum(list_nth_int(f_chunks, i));
			came[i] = PointerGetDatum(list_nth(f_came, i));
			went[i] = PointerGetDatum(list_nth(f_went, i));
		}
		/* one time for the whole transaction: its changes are one event */
		StorageWrite(n, fnames, chunks, came, went, GetCurrentTimestamp());
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
PendingRecord(const char *name, SegmentData *came, SegmentData *went, bool exact)
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
		record_change(layer, name, chunk, SegmentWriterFinish(&wc), SegmentWriterFinish(&ww), exact);
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

