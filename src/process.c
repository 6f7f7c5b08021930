/*-------------------------------------------------------------------------
 *
 * process.c
 *	  Keeping membership current: which customers changed, evaluating them,
 *	  applying the results.
 *
 * Triggers only note which customers a statement changed, in sets local to
 * the transaction (LiveMarkChanged); a COPY of a million rows notes them in
 * one pass.  Those customers are evaluated
 *
 *	- before the transaction next reads membership (LiveSync), so that it
 *	  reads its own writes, and
 *	- at commit, all of them again, once no other transaction can change
 *	  their data before this one's commit is visible: the committing
 *	  transaction locks its customers (in buckets of 4,096 keys, in key
 *	  order, or all of them past 16 buckets) and evaluates them with a
 *	  snapshot taken after the locks, which sees every transaction that
 *	  committed before.
 *
 * The second evaluation is what makes membership follow the data at commit
 * whatever the isolation level.  Two transactions that each insert one
 * purchase of the same customer see neither the other's purchase while
 * they run; whichever commits second evaluates the customer after the
 * first has committed and counts both.  The locks are taken only at
 * commit, after everything else, and always in the same order, so
 * transactions queue on them and never deadlock.  (Under SERIALIZABLE the
 * transaction's own snapshot is used, and PostgreSQL's serializable
 * checks fail one of two such transactions instead.)
 *
 * Evaluation runs depth by depth: a segment that reads another with
 * in_segment() is one level deeper.  Customers whose membership of a
 * segment changed are re-evaluated for the segments that read it.
 * Changes are kept in transaction memory (pending.c) and written at
 * commit.
 *
 * IDENTIFICATION
 *	  src/process.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(segment_refresh_items);
PG_FUNCTION_INFO_V1(segment_apply_members);
PG_FUNCTION_INFO_V1(segment_fresh_members);
PG_FUNCTION_INFO_V1(segment_sync);
PG_FUNCTION_INFO_V1(segment_forget);
PG_FUNCTION_INFO_V1(segment_profile_sql);

/* Customers per lock bucket, as a shift, and buckets before locking all */
#define LIVE_BUCKET_SHIFT		12
#define LIVE_MAX_BUCKETS		16

/*
 * A growing set of keys, in TopTransactionContext; duplicates allowed until
 * it is read.  everyone: every customer.
 */
typedef struct KeySet
{
	uint32	   *keys;
	size_t		n;
	size_t		max;
	size_t		compacted;		/* n after the last compaction */
	bool		everyone;
} KeySet;

/* Changes not yet evaluated, and changes to evaluate again at commit */
static KeySet sync_all,
			sync_events,
			commit_all,
			commit_events;
static bool callbacks_registered = false;
static bool processing = false;
static bool locked = false;		/* evaluating with the customers locked */

/*
 * What the current round of processing knows of membership, so that it
 * reads each segment's stored membership once, and in_segment() in a rule
 * reads nothing: per segment, its members among some customers (keys NULL:
 * everyone).  stored: as committed, read ahead for every segment the
 * round will evaluate; known: as this transaction sees it, once applied.
 */
typedef struct KnownSet
{
	char	   *name;
	SegmentData *keys;
	SegmentData *members;
} KnownSet;

static List *stored_sets = NIL;
static SegmentData *stored_keys = NULL;
static List *known_sets = NIL;


static void
keyset_reset(KeySet *s)
{
	memset(s, 0, sizeof(KeySet));
}

static void
keyset_compact(KeySet *s)
{
	size_t		n;

	s->keys = SegmentSortKeys(s->keys, s->n, &n);
	s->n = s->compacted = n;
}

static void
keyset_add(KeySet *s, const uint32 *keys, size_t n)
{
	if (s->everyone || n == 0)
		return;
	if (s->n + n > s->max)
	{
		/* a bulk load repeats customers: drop duplicates before growing */
		if (s->n > 2 * s->compacted + 65536)
			keyset_compact(s);
		if (s->n + n > s->max)
		{
			size_t		max = Max(Max(s->max * 2, s->n + n), 256);

			s->keys = s->keys == NULL
				? MemoryContextAllocHuge(TopTransactionContext, max * sizeof(uint32))
				: repalloc_huge(s->keys, max * sizeof(uint32));
			s->max = max;
		}
	}
	memcpy(s->keys + s->n, keys, n * sizeof(uint32));
	s->n += n;
}

static void
keyset_copy(KeySet *dst, KeySet *src)
{
	keyset_reset(dst);
	dst->everyone = src->everyone;
	keyset_add(dst, src->keys, src->n);
}

static bool
keyset_empty(KeySet *s)
{
	return !s->everyone && s->n == 0;
}

/* The keys as a segment, in the current memory context; NULL if none. */
static SegmentData *
keyset_segment(KeySet *s)
{
	if (s->n == 0)
		return NULL;
	keyset_compact(s);
	return SegmentFromSortedKeys(s->keys, s->n);
}

static void precommit(bool announce);

static void
process_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			precommit(true);
			break;
		case XACT_EVENT_PRE_PREPARE:
			precommit(false);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the memory went with TopTransactionContext */
			keyset_reset(&sync_all);
			keyset_reset(&sync_events);
			keyset_reset(&commit_all);
			keyset_reset(&commit_events);
			processing = false;
			locked = false;
			known_sets = stored_sets = NIL;
			stored_keys = NULL;
			break;
		default:
			break;
	}
}

/*
 * A rolled-back subtransaction takes its evaluated changes with it
 * (pending.c): evaluate everything the transaction changed again before
 * the next read.
 */
static void
process_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	processing = false;
	locked = false;
	known_sets = stored_sets = NIL;
	stored_keys = NULL;
	keyset_copy(&sync_all, &commit_all);
	keyset_copy(&sync_events, &commit_events);
}

static void
register_callbacks(void)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(process_xact_callback, NULL);
		RegisterSubXactCallback(process_subxact_callback, NULL);
		callbacks_registered = true;
	}
}

/*
 * Note customers whose data changed: of the customer table (every segment
 * may change), or only of event tables.  keys == NULL: every customer.
 */
void
LiveMarkChanged(const uint32 *keys, size_t n, bool events_only)
{
	KeySet	   *sync = events_only ? &sync_events : &sync_all;
	KeySet	   *commit = events_only ? &commit_events : &commit_all;

	register_callbacks();
	if (keys == NULL)
	{
		sync->everyone = commit->everyone = true;
		return;
	}
	keyset_add(sync, keys, n);
	keyset_add(commit, keys, n);
}

/*
 * Customers were deleted (or their key changed): they leave every static
 * list now.  A list is history, not a rule: a customer deleted and
 * inserted again is not put back.  keys == NULL: every customer.
 */
void
LiveNoteRemoved(const uint32 *keys, size_t n)
{
	LiveCatalog *cat = LiveCatalogPin();
	SegmentData *removed = NULL;

	register_callbacks();
	for (int i = 0; i < cat->nitems; i++)
	{
		LiveItem   *item = &cat->items[i];

		if (!item->is_static)
			continue;
		if (keys == NULL)
			PendingRecord(item->name, SegmentEmpty(), LiveStoredMembers(item->name), false);
		else
		{
			if (removed == NULL)
			{
				uint32	   *sorted = palloc(Max(n, 1) * sizeof(uint32));
				size_t		nunique;

				memcpy(sorted, keys, n * sizeof(uint32));
				sorted = SegmentSortKeys(sorted, n, &nunique);
				removed = SegmentFromSortedKeys(sorted, nunique);
			}
			/* removing a non-member is harmless: the flush counts exactly */
			PendingRecord(item->name, SegmentEmpty(), removed, false);
		}
	}
	LiveCatalogUnpin(cat);
}

bool
LiveProcessing(void)
{
	return processing;
}

/*
 * The snapshot that evaluations at commit and full refreshes read with:
 * the latest, so that nothing committed before is missed, except under
 * SERIALIZABLE, where the transaction's own keeps the serializable checks
 * meaningful.
 */
Snapshot
LiveFreshSnapshot(void)
{
	return IsolationIsSerializable() ? GetTransactionSnapshot() : GetLatestSnapshot();
}

/* The lock tag space: the OID of segment.chunks, unique to this extension */
static Oid
lock_class(void)
{
	Oid			relid = get_relname_relid("chunks", get_namespace_oid("segment", false));

	if (!OidIsValid(relid))
		elog(ERROR, "catalog table segment.chunks is missing");
	return relid;
}

/*
 * Lock every customer against other committing transactions, until the end
 * of this one: for a full refresh, and for commits that changed many.
 */
void
LiveLockAll(void)
{
	LockDatabaseObject(lock_class(), 0, 0, ExclusiveLock);
}

static bool
holds_all(Oid cls)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, cls, 0, 0);
	return LockHeldByMe(&tag, ExclusiveLock);
}

/*
 * Lock the buckets of the given keys (sorted, distinct), in order, under a
 * shared lock on the whole; past LIVE_MAX_BUCKETS, the whole.
 */
static void
lock_keys(const uint32 *keys, size_t n, bool everyone)
{
	Oid			cls = lock_class();
	uint32		buckets[LIVE_MAX_BUCKETS];
	int			nbuckets = 0;

	if (holds_all(cls))
		return;
	for (size_t i = 0; i < n && !everyone; i++)
	{
		uint32		b = keys[i] >> LIVE_BUCKET_SHIFT;

		if (nbuckets > 0 && buckets[nbuckets - 1] == b)
			continue;
		if (nbuckets == LIVE_MAX_BUCKETS)
		{
			everyone = true;
			break;
		}
		buckets[nbuckets++] = b;
	}
	if (everyone)
	{
		LiveLockAll();
		return;
	}
	LockDatabaseObject(cls, 0, 0, ShareLock);
	for (int i = 0; i < nbuckets; i++)
		LockDatabaseObject(cls, buckets[i], 1, ExclusiveLock);
}

/*
 * Run queries with the search path reduced to pg_catalog, so that the
 * compiled expressions and our own SQL mean the same in every session, and
 * kept plans stay valid whatever the session's search_path.  Pair with
 * unpin_path(); an error pops it with the (sub)transaction.
 */
static int
pin_path(void)
{
	OverrideSearchPath path;

	memset(&path, 0, sizeof(path));
	path.schemas = NIL;
	path.addCatalog = true;
	path.addTemp = false;
	PushOverrideSearchPath(&path);
	return 0;
}

static void
unpin_path(int level)
{
	PopOverrideSearchPath();
}

static KnownSet *
find_set(List *sets, const char *name)
{
	ListCell   *lc;

	foreach(lc, sets)
		if (strcmp(((KnownSet *) lfirst(lc))->name, name) == 0)
			return (KnownSet *) lfirst(lc);
	return NULL;
}

static bool
covers(SegmentData *all, SegmentData *keys)
{
	return all != NULL && keys != NULL && SegmentIsEmpty(SegmentAndNot(keys, all));
}

/*
 * Stored membership of several segments, as committed, within keys (all
 * when NULL): from what was read ahead, and one query for the rest.
 */
static SegmentData **
stored_members(char **names, int n, SegmentData *keys)
{
	MemoryContext outer = CurrentMemoryContext;
	SegmentData **result = palloc0(Max(n, 1) * sizeof(SegmentData *));
	char	  **missing = palloc(Max(n, 1) * sizeof(char *));
	int		   *where = palloc(Max(n, 1) * sizeof(int));
	int			nmissing = 0;

	for (int i = 0; i < n; i++)
	{
		KnownSet   *set = covers(stored_keys, keys) ? find_set(stored_sets, names[i]) : NULL;

		if (set != NULL)
			result[i] = SegmentAnd(set->members, keys);
		else
		{
			where[nmissing] = i;
			missing[nmissing++] = names[i];
		}
	}
	if (nmissing > 0)
	{
		StoredSegment *stored;
		SegmentCatalogSave save;

		SegmentCatalogBegin(&save);
		MemoryContextSwitchTo(outer);
		stored = StorageRead(missing, nmissing, keys, keys != NULL, false);
		SegmentCatalogEnd(&save);
		for (int i = 0; i < nmissing; i++)
			result[where[i]] = StorageAssemble(&stored[i]);
	}
	return result;
}

/* Read ahead the stored membership of segments among keys. */
static void
read_ahead(char **names, int n, SegmentData *keys)
{
	SegmentData **members;

	stored_sets = NIL;
	stored_keys = NULL;
	members = stored_members(names, n, keys);
	for (int i = 0; i < n; i++)
	{
		KnownSet   *set = palloc(sizeof(KnownSet));

		set->name = names[i];
		set->keys = keys;
		set->members = members[i];
		stored_sets = lappend(stored_sets, set);
	}
	stored_keys = keys;
}

/*
 * Membership of several segments as this transaction sees it (stored, with
 * its own changes applied), within keys (all when NULL).
 */
static SegmentData **
current_members(LiveCatalog *cat, char **names, int n, SegmentData *keys)
{
	SegmentData **result = stored_members(names, n, keys);

	for (int i = 0; i < n; i++)
	{
		if (PendingAny())
			result[i] = PendingApplySegment(names[i], result[i]);
		if (keys != NULL)
			result[i] = SegmentAnd(result[i], keys);
	}
	return result;
}

/* Remember a segment's membership among keys, once applied. */
static void
know(const char *name, SegmentData *keys, SegmentData *members)
{
	KnownSet   *set = palloc(sizeof(KnownSet));

	set->name = pstrdup(name);
	set->keys = keys;
	set->members = members;
	/* the latest first */
	known_sets = lcons(set, known_sets);
}

/*
 * Is a customer a member of a segment, as far as the current round of
 * processing knows without reading?  For in_segment() in rules.
 */
bool
LiveKnownMember(const char *name, uint32 key, bool *member)
{
	ListCell   *lc;
	KnownSet   *set;
	SegmentData *one;

	if (!processing)
		return false;
	one = SegmentFromSortedKeys(&key, 1);
	foreach(lc, known_sets)
	{
		set = (KnownSet *) lfirst(lc);
		if (strcmp(set->name, name) == 0 && (set->keys == NULL || covers(set->keys, one)))
		{
			*member = !SegmentIsEmpty(SegmentAnd(set->members, one));
			return true;
		}
	}
	set = covers(stored_keys, one) ? find_set(stored_sets, name) : NULL;
	if (set == NULL)
		return false;
	/* as this transaction sees it: remember it */
	{
		SegmentData *members = set->members;

		if (PendingAny())
			members = SegmentAnd(PendingApplySegment(name, members), stored_keys);
		know(name, stored_keys, members);
		*member = !SegmentIsEmpty(SegmentAnd(members, one));
	}
	return true;
}

/*
 * What one round of processing does: which items to evaluate for which
 * customers.
 */
typedef struct Work
{
	SegmentData *all;			/* every item, for these customers */
	bool		all_everyone;
	SegmentData *events;		/* event-dependent items, for these */
	bool		events_everyone;
	bool	   *full;			/* per item: for every customer */
	SegmentData **extra;		/* per item: customers to re-evaluate */
	bool		create_members; /* new labels may make new segments */
	List	   *changes;		/* LiveChange, of every segment applied */
} Work;

static void
note_change(Work *w, const char *name, SegmentData *came, SegmentData *went, bool always)
{
	LiveChange *ch;

	if (!always && SegmentIsEmpty(came) && SegmentIsEmpty(went))
		return;
	ch = palloc(sizeof(LiveChange));
	ch->segment = pstrdup(name);
	ch->entered = (int64) SegmentCardinality(came);
	ch->exited = (int64) SegmentCardinality(went);
	w->changes = lappend(w->changes, ch);
}

/* Customers whose membership of segment changed: re-evaluate its readers. */
static void
propagate(LiveCatalog *cat, Work *w, const char *segment, SegmentData *changed)
{
	for (int i = 0; i < cat->nitems; i++)
	{
		LiveItem   *item = &cat->items[i];

		for (int d = 0; d < item->ndepends; d++)
			if (strcmp(item->depends_on[d], segment) == 0)
			{
				w->extra[i] = w->extra[i] == NULL ? changed : SegmentOr(w->extra[i], changed);
				break;
			}
	}
}

/*
 * Make the membership of segments agree with fresh results, within keys
 * (for everyone when NULL: then whoever is a member now and is not in the
 * result leaves).
 */
static void
apply_results(LiveCatalog *cat, Work *w, int n, char **names, SegmentData **fresh,
			  SegmentData *keys)
{
	SegmentData **current = current_members(cat, names, n, keys);

	for (int i = 0; i < n; i++)
	{
		SegmentData *in = keys == NULL ? fresh[i] : SegmentAnd(fresh[i], keys);
		SegmentData *came = SegmentAndNot(in, current[i]);
		SegmentData *went = SegmentAndNot(current[i], in);

		if (!SegmentIsEmpty(came) || !SegmentIsEmpty(went))
		{
			PendingRecord(names[i], came, went, locked);
			propagate(cat, w, names[i], SegmentOr(came, went));
		}
		know(names[i], keys, in);
		/* every segment evaluated for everyone is reported, changed or not */
		note_change(w, names[i], came, went, keys == NULL);
	}
}

/*
 * A new segment of a family that makes one per label (a cohort): its
 * definition row, if nobody made it first.  Returns its name.
 */
static char *
create_member(LiveItem *family, const char *label)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	SegmentCatalogSave save;
	int			ret;

	args[0] = CStringGetTextDatum(family->name);
	args[1] = CStringGetTextDatum(label);
	SegmentCatalogBegin(&save);
	if (plan == NULL)
		plan = SegmentKeepPlan("SELECT segment._create_member($1, $2)", 2, argtypes);
	ret = SPI_execute_plan(plan, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "creating a segment of family \"%s\" failed: %s", family->name,
			 SPI_result_code_string(ret));
	SegmentCatalogEnd(&save);
	/* the catalog, reloaded, must know it before the changes are written */
	CommandCounterIncrement();
	return psprintf("%s:%s", family->name, label);
}

/* Apply the results of items evaluated together. */
static void
apply_items(LiveCatalog *cat, Work *w, LiveItem **items, LiveResult *results, int nitems,
			SegmentData *keys)
{
	List	   *names = NIL;
	List	   *fresh = NIL;
	char	  **name_array;
	SegmentData **fresh_array;
	int			n;
	ListCell   *lc1,
			   *lc2;
	int			k = 0;

	for (int i = 0; i < nitems; i++)
	{
		LiveItem   *item = items[i];
		LiveResult *res = &results[i];

		if (!item->is_label)
		{
			names = lappend(names, item->name);
			fresh = lappend(fresh, res->members);
			continue;
		}
		for (int m = 0; m < item->nmembers; m++)
		{
			SegmentData *members = NULL;

			for (int l = 0; l < res->nlabels; l++)
				if (res->labels[l] != NULL && strcmp(res->labels[l], item->member_labels[m]) == 0)
				{
					members = res->label_members[l];
					res->labels[l] = NULL;	/* claimed */
					break;
				}
			names = lappend(names, item->member_names[m]);
			fresh = lappend(fresh, members != NULL ? members : SegmentEmpty());
		}
		/* labels no segment has yet */
		for (int l = 0; l < res->nlabels; l++)
		{
			if (res->labels[l] == NULL || SegmentIsEmpty(res->label_members[l]))
				continue;
			if (!item->creates_members || !w->create_members)
				continue;		/* made at commit */
			names = lappend(names, create_member(item, res->labels[l]));
			fresh = lappend(fresh, res->label_members[l]);
		}
	}

	n = list_length(names);
	if (n == 0)
		return;
	name_array = palloc(n * sizeof(char *));
	fresh_array = palloc(n * sizeof(SegmentData *));
	forboth(lc1, names, lc2, fresh)
	{
		name_array[k] = (char *) lfirst(lc1);
		fresh_array[k] = (SegmentData *) lfirst(lc2);
		k++;
	}
	apply_results(cat, w, n, name_array, fresh_array, keys);
}

/* Evaluate items (of one owner) for keys and apply the results. */
static void
evaluate_and_apply(LiveCatalog *cat, Work *w, LiveItem **items, int n, SegmentData *keys)
{
	LiveResult *results;

	if (n == 0)
		return;
	results = palloc(n * sizeof(LiveResult));
	LiveEvaluate(cat, items, n, keys, results);
	apply_items(cat, w, items, results, n, keys);
}

/*
 * The customers item i is to be evaluated for: NULL with *everyone set for
 * all of them, NULL alone for none.
 */
static SegmentData *
item_keys(Work *w, LiveItem *item, int i, bool *everyone)
{
	SegmentData *keys = w->all;

	if (item->is_static)
	{
		/* lists change only by deletes (LiveNoteRemoved) */
		*everyone = false;
		if (w->full[i])
			note_change(w, item->name, SegmentEmpty(), SegmentEmpty(), true);
		return NULL;
	}
	*everyone = w->full[i] || w->all_everyone ||
		(item->event_dependent && w->events_everyone);
	if (*everyone)
		return NULL;
	if (item->event_dependent && w->events != NULL)
		keys = keys == NULL ? w->events : SegmentOr(keys, w->events);
	if (w->extra[i] != NULL)
		keys = keys == NULL ? w->extra[i] : SegmentOr(keys, w->extra[i]);
	return keys;
}

/*
 * Evaluate and apply depth by depth; items of one owner and depth share a
 * query, one for those evaluated for everyone, one for the rest.
 */
static void
process(LiveCatalog *cat, Work *w)
{
	LiveItem  **full_items = palloc(Max(cat->nitems, 1) * sizeof(LiveItem *));
	LiveItem  **keyed_items = palloc(Max(cat->nitems, 1) * sizeof(LiveItem *));
	int			i = 0;

	known_sets = NIL;
	stored_sets = NIL;
	stored_keys = NULL;

	/* the customers noted: read every segment's membership of them at once */
	if (w->all != NULL || w->events != NULL)
	{
		SegmentData *keys = w->all == NULL ? w->events
			: w->events == NULL ? w->all : SegmentOr(w->all, w->events);
		char	  **names = palloc(Max(cat->nitems, 1) * sizeof(char *));
		int			n = 0;

		for (int k = 0; k < cat->nitems; k++)
		{
			LiveItem   *item = &cat->items[k];

			if (!item->is_label)
			{
				names = repalloc(names, (n + 1) * sizeof(char *));
				names[n++] = item->name;
			}
			else
			{
				names = repalloc(names, (n + item->nmembers + 1) * sizeof(char *));
				for (int m = 0; m < item->nmembers; m++)
					names[n++] = item->member_names[m];
			}
		}
		if (n > 0)
			read_ahead(names, n, keys);
	}

	while (i < cat->nitems)
	{
		int			depth = cat->items[i].depth;
		Oid			owner = cat->items[i].owner;
		int			nfull = 0;
		int			nkeyed = 0;
		SegmentData *keys = NULL;

		/* one group: the items of one depth and owner */
		for (; i < cat->nitems && cat->items[i].depth == depth &&
			 cat->items[i].owner == owner; i++)
		{
			bool		everyone;
			SegmentData *k = item_keys(w, &cat->items[i], i, &everyone);

			if (everyone)
				full_items[nfull++] = &cat->items[i];
			else if (k != NULL && !SegmentIsEmpty(k))
			{
				keyed_items[nkeyed++] = &cat->items[i];
				keys = keys == NULL ? k : SegmentOr(keys, k);
			}
		}
		evaluate_and_apply(cat, w, full_items, nfull, NULL);
		evaluate_and_apply(cat, w, keyed_items, nkeyed, keys);
		CHECK_FOR_INTERRUPTS();
	}
	known_sets = stored_sets = NIL;
	stored_keys = NULL;
}

static void
work_init(Work *w, LiveCatalog *cat)
{
	memset(w, 0, sizeof(Work));
	w->full = palloc0(Max(cat->nitems, 1) * sizeof(bool));
	w->extra = palloc0(Max(cat->nitems, 1) * sizeof(SegmentData *));
}

/* Is there an item the noted changes concern? */
static bool
anything_to_do(LiveCatalog *cat, KeySet *all, KeySet *events)
{
	if (!cat->tracked)
		return false;
	if (!keyset_empty(all) && cat->nitems > 0)
		return true;
	if (!keyset_empty(events))
		for (int i = 0; i < cat->nitems; i++)
			if (cat->items[i].event_dependent)
				return true;
	return false;
}

/*
 * Evaluate the customers noted in all and events (then forgotten there) and
 * record the changes.  Runs with the active snapshot.
 */
static void
process_noted(LiveCatalog *cat, KeySet *all, KeySet *events, bool create_members)
{
	Work		w;

	work_init(&w, cat);
	w.create_members = create_members;
	w.all_everyone = all->everyone;
	w.events_everyone = events->everyone;
	w.all = keyset_segment(all);
	w.events = keyset_segment(events);
	keyset_reset(all);
	keyset_reset(events);
	process(cat, &w);
}

/*
 * Bring what this transaction reads up to date with what it changed.
 * Called before every read of membership; nested reads (in_segment() in a
 * rule being evaluated) find nothing to do.
 */
void
LiveSync(void)
{
	LiveCatalog *cat;
	int			level;

	if (processing || (keyset_empty(&sync_all) && keyset_empty(&sync_events)))
		return;
	processing = true;
	cat = LiveCatalogPin();
	if (anything_to_do(cat, &sync_all, &sync_events))
	{
		level = pin_path();
		process_noted(cat, &sync_all, &sync_events, false);
		unpin_path(level);
	}
	else
	{
		keyset_reset(&sync_all);
		keyset_reset(&sync_events);
	}
	LiveCatalogUnpin(cat);
	processing = false;
}

/*
 * At commit (or PREPARE): lock the changed customers, evaluate them again
 * with a fresh snapshot, and write every change.
 */
static void
precommit(bool announce)
{
	LiveCatalog *cat;
	bool		relevant;
	int			level;

	if (keyset_empty(&commit_all) && keyset_empty(&commit_events) && !PendingAny())
		return;

	/* what this transaction's last statement wrote must be visible */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	processing = true;
	cat = LiveCatalogPin();
	/* a cache read with a repeatable-read snapshot may miss definitions */
	relevant = IsolationUsesXactSnapshot()
		? !keyset_empty(&commit_all) || !keyset_empty(&commit_events)
		: anything_to_do(cat, &commit_all, &commit_events);
	LiveCatalogUnpin(cat);
	PopActiveSnapshot();

	if (relevant)
	{
		KeySet		both;

		/* the locks, then a snapshot that sees whoever held them before */
		keyset_reset(&both);
		both.everyone = commit_all.everyone || commit_events.everyone;
		keyset_add(&both, commit_all.keys, commit_all.n);
		keyset_add(&both, commit_events.keys, commit_events.n);
		if (!both.everyone)
			keyset_compact(&both);
		lock_keys(both.keys, both.n, both.everyone);

		if (IsolationUsesXactSnapshot())
			LiveCatalogForget();
		PushActiveSnapshot(LiveFreshSnapshot());
		cat = LiveCatalogPin();
		level = pin_path();
		locked = true;
		process_noted(cat, &commit_all, &commit_events, true);
		locked = false;
		unpin_path(level);
		LiveCatalogUnpin(cat);
		PopActiveSnapshot();
	}
	keyset_reset(&sync_all);
	keyset_reset(&sync_events);
	keyset_reset(&commit_all);
	keyset_reset(&commit_events);

	if (PendingAny())
	{
		PushActiveSnapshot(LiveFreshSnapshot());
		PendingFlush(announce);
		PopActiveSnapshot();
	}
	processing = false;
}

/*
 * Return changes as the rows of a set-returning function (segment,
 * entered, exited), in name order, summed per segment.
 */
static int
compare_changes(const void *a, const void *b)
{
	return strcmp((*(LiveChange *const *) a)->segment, (*(LiveChange *const *) b)->segment);
}

static void
return_changes(FunctionCallInfo fcinfo, List *changes)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n = list_length(changes);
	LiveChange **sorted = palloc(Max(n, 1) * sizeof(LiveChange *));
	int			i = 0;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, changes)
		sorted[i++] = (LiveChange *) lfirst(lc);
	qsort(sorted, n, sizeof(LiveChange *), compare_changes);
	for (i = 0; i < n;)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		int64		entered = 0;
		int64		exited = 0;
		int			j;

		for (j = i; j < n && strcmp(sorted[j]->segment, sorted[i]->segment) == 0; j++)
		{
			entered += sorted[j]->entered;
			exited += sorted[j]->exited;
		}
		values[0] = CStringGetTextDatum(sorted[i]->segment);
		values[1] = Int64GetDatum(entered);
		values[2] = Int64GetDatum(exited);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		i = j;
	}
}

static char **
text_array(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **result;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	result = palloc(Max(*n, 1) * sizeof(char *));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("segment names must not be null")));
		result[i] = TextDatumGetCString(elems[i]);
	}
	return result;
}

/*
 * Start a full evaluation: every customer locked, a fresh snapshot, the
 * path pinned.  Pair with full_end().
 */
static LiveCatalog *
full_begin(int *level)
{
	register_callbacks();
	LiveLockAll();
	CommandCounterIncrement();
	if (IsolationUsesXactSnapshot())
		LiveCatalogForget();
	PushActiveSnapshot(LiveFreshSnapshot());
	processing = true;
	locked = true;
	*level = pin_path();
	return LiveCatalogPin();
}

static void
full_end(LiveCatalog *cat, int level)
{
	LiveCatalogUnpin(cat);
	unpin_path(level);
	processing = false;
	locked = false;
	PopActiveSnapshot();
}

/*
 * For C callers that compute memberships themselves (value models): begin
 * a full evaluation (every customer locked, a fresh snapshot, the path
 * pinned), apply fresh memberships of segments for everyone and
 * re-evaluate their readers, end it.
 */
static int full_level;

LiveCatalog *
LiveFullBegin(void)
{
	return full_begin(&full_level);
}

void
LiveFullEnd(LiveCatalog *cat)
{
	full_end(cat, full_level);
}

List *
LiveApplyFull(LiveCatalog *cat, char **names, SegmentData **fresh, int n)
{
	Work		w;

	work_init(&w, cat);
	w.create_members = true;
	apply_results(cat, &w, n, names, fresh, NULL);
	process(cat, &w);
	return w.changes;
}

void
LiveReturnChanges(FunctionCallInfo fcinfo, List *changes)
{
	return_changes(fcinfo, changes);
}

/*
 * segment._refresh(names text[]) RETURNS SETOF (segment, entered, exited):
 * evaluate the named segments (or families) for every customer, and the
 * segments that read them for the customers whose membership changed.
 */
Datum
segment_refresh_items(PG_FUNCTION_ARGS)
{
	int			n;
	char	  **names = text_array(PG_GETARG_ARRAYTYPE_P(0), &n);
	LiveCatalog *cat;
	int			level;
	Work		w;

	cat = full_begin(&level);
	work_init(&w, cat);
	w.create_members = true;
	for (int i = 0; i < n; i++)
	{
		LiveSegmentEntry *e = LiveCatalogFind(cat, names[i]);
		int			item = -1;

		if (e != NULL)
			item = e->item;
		else
			for (int k = 0; k < cat->nitems; k++)
				if (cat->items[k].is_label && strcmp(cat->items[k].name, names[i]) == 0)
					item = k;
		if (item < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("segment \"%s\" does not exist", names[i])));
		w.full[item] = true;
	}
	process(cat, &w);
	full_end(cat, level);
	return_changes(fcinfo, w.changes);
	return (Datum) 0;
}

/*
 * segment._apply_members(names text[], members segment[]) RETURNS SETOF
 * (segment, entered, exited): set the membership of segments, computed
 * elsewhere (a static list, a model's refresh), and re-evaluate the
 * segments that read them.
 */
Datum
segment_apply_members(PG_FUNCTION_ARGS)
{
	int			n;
	char	  **names = text_array(PG_GETARG_ARRAYTYPE_P(0), &n);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			nmembers;
	SegmentData **fresh;
	LiveCatalog *cat;
	int			level;
	Work		w;

	deconstruct_array(arr, ARR_ELEMTYPE(arr), -1, false, TYPALIGN_INT, &elems, &nulls, &nmembers);
	if (nmembers != n)
		elog(ERROR, "segment._apply_members: arrays of different lengths");
	fresh = palloc(Max(n, 1) * sizeof(SegmentData *));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("members must not be null")));
		fresh[i] = (SegmentData *) PG_DETOAST_DATUM(elems[i]);
	}

	cat = full_begin(&level);
	work_init(&w, cat);
	apply_results(cat, &w, n, names, fresh, NULL);
	process(cat, &w);
	full_end(cat, level);
	return_changes(fcinfo, w.changes);
	return (Datum) 0;
}

/*
 * segment._fresh(name text) RETURNS SETOF (segment text, members segment):
 * what a fresh evaluation gives, for every customer; nothing is applied.
 * For the name of a family that labels its customers (a cohort set, an
 * RFM model), every segment of the family, from one evaluation; for a
 * segment, that segment.
 */
Datum
segment_fresh_members(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LiveCatalog *cat;
	LiveSegmentEntry *e;
	LiveItem   *item = NULL;
	LiveResult	result;
	int			level;
	bool		was_processing = processing;

	InitMaterializedSRF(fcinfo, 0);
	LiveSync();
	processing = true;
	level = pin_path();
	cat = LiveCatalogPin();
	e = LiveCatalogFind(cat, name);
	if (e != NULL)
		item = &cat->items[e->item];
	else
		for (int i = 0; i < cat->nitems; i++)
			if (cat->items[i].is_label && strcmp(cat->items[i].name, name) == 0)
				item = &cat->items[i];
	if (item == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment \"%s\" does not exist", name)));

	if (!item->is_static)
		LiveEvaluate(cat, &item, 1, NULL, &result);
	for (int m = 0; m < (item->is_label ? item->nmembers : 1); m++)
	{
		const char *segment = item->is_label ? item->member_names[m] : item->name;
		SegmentData *members = NULL;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (e != NULL && strcmp(segment, name) != 0)
			continue;			/* one segment of the family was asked for */
		if (item->is_static)
			members = LiveStoredMembers(segment);
		else if (!item->is_label)
			members = result.members;
		else
			for (int l = 0; l < result.nlabels; l++)
				if (strcmp(result.labels[l], item->member_labels[m]) == 0)
					members = result.label_members[l];
		values[0] = CStringGetTextDatum(segment);
		values[1] = PointerGetDatum(members != NULL ? members : SegmentEmpty());
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LiveCatalogUnpin(cat);
	unpin_path(level);
	processing = was_processing;
	return (Datum) 0;
}

/*
 * segment._sync() RETURNS boolean: bring membership up to date with this
 * transaction's changes; for views that read history.  Always true.
 */
Datum
segment_sync(PG_FUNCTION_ARGS)
{
	LiveSync();
	PG_RETURN_BOOL(true);
}

/*
 * segment._forget(names text[]): segments are being dropped; lock out
 * committing transactions until this one ends, and drop this one's
 * unwritten changes of them.
 */
Datum
segment_forget(PG_FUNCTION_ARGS)
{
	int			n;
	char	  **names = text_array(PG_GETARG_ARRAYTYPE_P(0), &n);

	LiveLockAll();
	for (int i = 0; i < n; i++)
		PendingForget(names[i]);
	PG_RETURN_VOID();
}

/*
 * segment._profile_sql() RETURNS text: the query of the segment.traits
 * view, every visible trait by customer; NULL when no customer table is
 * tracked.
 */
Datum
segment_profile_sql(PG_FUNCTION_ARGS)
{
	LiveCatalog *cat = LiveCatalogPin();
	StringInfoData sql;

	if (!cat->tracked)
	{
		LiveCatalogUnpin(cat);
		PG_RETURN_NULL();
	}
	initStringInfo(&sql);
	/* the key's own type, so that a filter on customer_id reaches the events */
	appendStringInfo(&sql, "SELECT c.%s AS customer_id", cat->key);
	for (int t = 0; t < cat->ntraits; t++)
		if (!cat->traits[t].hidden)
			appendStringInfo(&sql, ", c.%s", quote_identifier(cat->traits[t].name));
	appendStringInfo(&sql, " FROM (%s) AS c", LiveProfileSql(cat, 0, NULL, true, NULL, false));
	LiveCatalogUnpin(cat);
	PG_RETURN_TEXT_P(cstring_to_text(sql.data));
}
