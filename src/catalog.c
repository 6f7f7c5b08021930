/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The backend's cache of live segment definitions.
 *
 * Every trigger and every read of membership needs the tracked tables, the
 * traits and the segments' compiled expressions.  Reading them from the
 * catalog tables each time would cost several queries per statement, so
 * they are kept per backend and rebuilt when a catalog table changes: each
 * has a statement trigger (segment._catalog_changed) that sends a relcache
 * invalidation for it, which every backend receives, its own included, the
 * way PostgreSQL's own caches learn of catalog changes.
 *
 * A cache being used when an invalidation arrives stays valid for its user
 * (it is pinned) and is freed at the end of the transaction.
 *
 * IDENTIFICATION
 *	  src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(segment_catalog_changed);

/* The catalog tables whose changes invalidate the cache */
static const char *const catalog_tables[] = {
	"customer_source", "event_sources", "trait_definitions", "definitions",
	"families", "rfm_models", "ltv_models", "cohort_sets"
};

#define NUM_CATALOG_TABLES lengthof(catalog_tables)

static LiveCatalog *current = NULL;
static List *retired = NIL;		/* stale catalogs still pinned */
static Oid	catalog_relids[NUM_CATALOG_TABLES];
static uint64 version = 1;
static bool callbacks_registered = false;

static void
free_catalog(LiveCatalog *cat)
{
	MemoryContextDelete(cat->context);
}

/*
 * Called from invalidation callbacks, which may run at any time: free the
 * cache only if nobody is using it, else keep it until the end of the
 * transaction.
 */
static void
invalidate(void)
{
	if (current != NULL)
	{
		current->stale = true;
		if (current->pins == 0)
			free_catalog(current);
		else
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			retired = lappend(retired, current);
			MemoryContextSwitchTo(old);
		}
		current = NULL;
	}
	version++;
}

static void
relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid))
	{
		invalidate();
		return;
	}
	for (int i = 0; i < NUM_CATALOG_TABLES; i++)
		if (catalog_relids[i] == relid)
		{
			invalidate();
			return;
		}
}

/* At the end of a transaction nothing is pinned: free what is stale. */
static void
catalog_xact_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	while (retired != NIL)
	{
		LiveCatalog *cat = (LiveCatalog *) linitial(retired);

		retired = list_delete_first(retired);
		free_catalog(cat);
	}
	if (current != NULL)
		current->pins = 0;
}

/*
 * segment._catalog_changed(): statement trigger on the catalog tables.
 */
Datum
segment_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired FOR EACH STATEMENT",
						"segment_catalog_changed")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * Watch the catalog tables for changes, from the first use on: register
 * the callbacks and learn the tables' OIDs.
 */
static void
watch_catalog(void)
{
	Oid			nsp;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		RegisterXactCallback(catalog_xact_callback, NULL);
		callbacks_registered = true;
	}
	nsp = get_namespace_oid("segment", false);
	for (int i = 0; i < NUM_CATALOG_TABLES; i++)
		catalog_relids[i] = get_relname_relid(catalog_tables[i], nsp);
}

/*
 * A counter that changes whenever the catalog may have: other caches
 * (the value models') compare it to decide when to reload.
 */
uint64
LiveCatalogVersion(void)
{
	if (!callbacks_registered)
		watch_catalog();
	return version;
}

/*
 * Caches of objects read from the catalog by name (the value models),
 * valid while the catalog does not change.
 */
typedef struct NamedEntry
{
	char	   *name;
	void	   *value;
} NamedEntry;

/* The object named, or NULL: then read it with LiveNamedCacheRead(). */
void *
LiveNamedCacheFind(LiveNamedCache *cache, const char *name)
{
	ListCell   *lc;

	if (cache->context == NULL || cache->version != LiveCatalogVersion())
	{
		if (cache->context != NULL)
			MemoryContextDelete(cache->context);
		cache->context = AllocSetContextCreate(TopMemoryContext, "segment named cache",
											   ALLOCSET_SMALL_SIZES);
		MemoryContextSetIdentifier(cache->context, cache->what);
		cache->entries = NIL;
		cache->version = LiveCatalogVersion();
	}
	foreach(lc, cache->entries)
		if (strcmp(((NamedEntry *) lfirst(lc))->name, name) == 0)
			return ((NamedEntry *) lfirst(lc))->value;
	return NULL;
}

/*
 * Read the catalog row of the object named, as the catalog's owner, with
 * sql ($1: the name; its plan is kept): an error naming cache->what if
 * there is none.  The row is SPI_tuptable's first; the cache's context is
 * current, for the caller to build the object in, and LiveNamedCacheAdd()
 * ends the reading.
 */
HeapTuple
LiveNamedCacheRead(LiveNamedCache *cache, const char *sql, const char *name,
				   SegmentCatalogSave *save)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	SegmentCatalogBegin(save);
	if (cache->plan == NULL || cache->plan_type != SegmentTypeOid())
	{
		cache->plan = SegmentKeepPlan(sql, 1, argtypes);
		cache->plan_type = SegmentTypeOid();
	}
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_plan(cache->plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading %s \"%s\" failed", cache->what, name);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s \"%s\" does not exist", cache->what, name)));
	MemoryContextSwitchTo(cache->context);
	return SPI_tuptable->vals[0];
}

void
LiveNamedCacheAdd(LiveNamedCache *cache, const char *name, void *value,
				  SegmentCatalogSave *save)
{
	MemoryContext old = MemoryContextSwitchTo(cache->context);
	NamedEntry *e = palloc(sizeof(NamedEntry));

	e->name = pstrdup(name);
	e->value = value;
	cache->entries = lappend(cache->entries, e);
	MemoryContextSwitchTo(old);
	SegmentCatalogEnd(save);
}

/*
 * A float8[] of a catalog row (a model's edges or thresholds) as a palloc'd
 * C array; a null element reads as null_value.
 */
double *
LiveFloat8Array(Datum d, double null_value, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	double	   *result;

	deconstruct_array(DatumGetArrayTypeP(d), FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, n);
	result = palloc(Max(*n, 1) * sizeof(double));
	for (int i = 0; i < *n; i++)
		result[i] = nulls[i] ? null_value : DatumGetFloat8(elems[i]);
	return result;
}

static char *
get_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* A name column, quoted as an identifier; NULL for null. */
static char *
get_identifier(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : pstrdup(quote_identifier(NameStr(*DatumGetName(d))));
}

static Oid
get_oid(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

static bool
get_bool(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return !isnull && DatumGetBool(d);
}

static int32
get_int(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* A text[] (or name[]) column as a palloc'd array of C strings. */
static char **
get_strings(HeapTuple tup, TupleDesc desc, int col, int *n, bool quote)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	char	  **result;
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	*n = 0;
	if (isnull)
		return NULL;
	arr = DatumGetArrayTypeP(d);
	elemtype = ARR_ELEMTYPE(arr);
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, &elems, &nulls, n);
	result = palloc(Max(*n, 1) * sizeof(char *));
	for (int i = 0; i < *n; i++)
	{
		char	   *s;

		if (nulls[i])
			elog(ERROR, "unexpected null in a segment catalog array");
		s = elemtype == NAMEOID ? pstrdup(NameStr(*DatumGetName(elems[i])))
			: TextDatumGetCString(elems[i]);
		result[i] = quote ? pstrdup(quote_identifier(s)) : s;
	}
	return result;
}

/* The schema a type lives in. */
static Oid
type_namespace(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	Oid			result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	result = ((Form_pg_type) GETSTRUCT(tup))->typnamespace;
	ReleaseSysCache(tup);
	return result;
}

static int
find_trait(LiveCatalog *cat, const char *name)
{
	for (int i = 0; i < cat->ntraits; i++)
		if (strcmp(cat->traits[i].name, name) == 0)
			return i;
	elog(ERROR, "trait \"%s\" is not defined", name);
	return -1;
}

static void
item_traits(LiveCatalog *cat, LiveItem *item, HeapTuple tup, TupleDesc desc, int col)
{
	int			n;
	char	  **names = get_strings(tup, desc, col, &n, false);

	item->ntraits = n;
	item->traits = palloc(Max(n, 1) * sizeof(int));
	for (int i = 0; i < n; i++)
		item->traits[i] = find_trait(cat, names[i]);
}

static void
add_segment(LiveCatalog *cat, const char *name, int item, const char *label)
{
	LiveSegmentEntry *e;
	bool		found;

	if (strlen(name) >= sizeof(e->name))
		elog(ERROR, "segment name \"%s\" is too long", name);
	e = (LiveSegmentEntry *) hash_search(cat->segments, name, HASH_ENTER, &found);
	e->item = item;
	e->label = label;
}

/* Run a query; what follows is allocated in context (SPI leaves its own). */
static int
run(const char *sql, MemoryContext context)
{
	int			ret = SPI_execute(sql, true, 0);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the segment catalog failed: %s", SPI_result_code_string(ret));
	MemoryContextSwitchTo(context);
	return (int) SPI_processed;
}

static int
compare_items(const void *a, const void *b)
{
	const LiveItem *x = (const LiveItem *) a;
	const LiveItem *y = (const LiveItem *) b;

	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	if (x->owner != y->owner)
		return x->owner < y->owner ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Read the catalog tables, as their owner, into a new cache.
 */
static LiveCatalog *
load_catalog(void)
{
	MemoryContext context;
	MemoryContext old;
	LiveCatalog *cat;
	SegmentCatalogSave save;
	int			n;
	int			nitems;

	context = AllocSetContextCreate(TopMemoryContext, "segment definitions cache",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(context);
	cat = palloc0(sizeof(LiveCatalog));
	cat->context = context;

	/* the extension may have been created again since */
	watch_catalog();

	SegmentCatalogBegin(&save);
	MemoryContextSwitchTo(context);

	/*
	 * Read with the snapshot in use, but see every definition this
	 * transaction has made so far: the evaluation makes segments (new
	 * cohorts) as it goes, and a cache loaded after that must know them.
	 */
	PushCopiedSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();

	cat->segtype = SegmentTypeOid();
	cat->ext_schema = pstrdup(quote_identifier(get_namespace_name(type_namespace(cat->segtype))));

	n = run("SELECT relid::oid, key_column FROM segment.customer_source", context);
	if (n == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		cat->tracked = true;
		cat->customers = get_oid(tup, desc, 1);
		cat->customers_sql = quote_qualified_identifier(get_namespace_name(get_rel_namespace(cat->customers)),
														get_rel_name(cat->customers));
		cat->key = get_identifier(tup, desc, 2);
	}

	n = run("SELECT relid::oid, customer_column, at_column, amount_column, kind_column"
			" FROM segment.event_sources ORDER BY relid", context);
	cat->nsources = n;
	cat->sources = palloc0(Max(n, 1) * sizeof(LiveSource));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		LiveSource *s = &cat->sources[i];
		bool		isnull;
		Name		at = DatumGetName(SPI_getbinval(tup, desc, 3, &isnull));

		s->relid = get_oid(tup, desc, 1);
		s->relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(s->relid)),
												get_rel_name(s->relid));
		s->customer = get_identifier(tup, desc, 2);
		s->at = get_identifier(tup, desc, 3);
		s->at_type = get_atttype(s->relid, get_attnum(s->relid, NameStr(*at)));
		s->amount = get_identifier(tup, desc, 4);
		s->kind = get_identifier(tup, desc, 5);
	}

	n = run("SELECT name, source::oid, expression, type_sql, filters, hidden"
			" FROM segment.trait_definitions ORDER BY created_at, name", context);
	cat->ntraits = n;
	cat->traits = palloc0(Max(n, 1) * sizeof(LiveTrait));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		LiveTrait  *t = &cat->traits[i];
		Oid			source = get_oid(tup, desc, 2);

		t->name = get_text(tup, desc, 1);
		t->source = -1;
		for (int s = 0; s < cat->nsources; s++)
			if (cat->sources[s].relid == source)
				t->source = s;
		if (t->source < 0)
			elog(ERROR, "trait \"%s\" reads an untracked table", t->name);
		t->expression = get_text(tup, desc, 3);
		t->type = get_text(tup, desc, 4);
		t->filters = get_strings(tup, desc, 5, &t->nfilters, false);
		t->hidden = get_bool(tup, desc, 6);
	}

	/* boolean items: every segment outside a label family */
	n = run("SELECT d.name, d.kind, d.expression, d.owner::oid, d.depth, d.traits,"
			" d.event_dependent, d.columns, d.depends_on, d.family, d.label,"
			" f.expression IS NOT NULL AS in_label_family"
			" FROM segment.definitions d LEFT JOIN segment.families f ON f.name = d.family"
			" ORDER BY d.name", context);
	{
		SPITupleTable *defs = SPI_tuptable;
		int			ndefs = n;
		int			nfamilies;
		SPITupleTable *families;
		int			k = 0;

		nfamilies = run("SELECT name, kind, expression, owner::oid, traits"
						" FROM segment.families WHERE expression IS NOT NULL ORDER BY name", context);
		families = SPI_tuptable;
		nitems = ndefs + nfamilies;
		cat->items = palloc0(Max(nitems, 1) * sizeof(LiveItem));

		for (int i = 0; i < ndefs; i++)
		{
			HeapTuple	tup = defs->vals[i];
			TupleDesc	desc = defs->tupdesc;
			LiveItem   *item;
			char	   *kind;

			if (get_bool(tup, desc, 12))
				continue;
			item = &cat->items[k++];
			item->name = get_text(tup, desc, 1);
			kind = get_text(tup, desc, 2);
			item->owner = get_oid(tup, desc, 4);
			item->depth = get_int(tup, desc, 5);
			item_traits(cat, item, tup, desc, 6);
			item->event_dependent = get_bool(tup, desc, 7);
			item->columns = get_strings(tup, desc, 8, &item->ncolumns, true);
			item->depends_on = get_strings(tup, desc, 9, &item->ndepends, false);
			/* a fixed list only loses customers as they are deleted */
			item->is_static = strcmp(kind, "static") == 0;
			item->expression = get_text(tup, desc, 3);
			if (item->expression == NULL && !item->is_static)
				elog(ERROR, "segment \"%s\" has no compiled expression", item->name);
		}
		for (int i = 0; i < nfamilies; i++)
		{
			HeapTuple	tup = families->vals[i];
			TupleDesc	desc = families->tupdesc;
			LiveItem   *item = &cat->items[k++];
			char	   *kind = get_text(tup, desc, 2);

			item->name = get_text(tup, desc, 1);
			item->is_label = true;
			item->expression = get_text(tup, desc, 3);
			item->owner = get_oid(tup, desc, 4);
			item->depth = 0;
			item_traits(cat, item, tup, desc, 5);
			item->event_dependent = true;
			item->creates_members = strcmp(kind, "cohort") == 0;
			/* members: filled below */
		}
		cat->nitems = k;

		/* members of label families */
		for (int f = 0; f < cat->nitems; f++)
		{
			LiveItem   *item = &cat->items[f];
			int			m = 0;

			if (!item->is_label)
				continue;
			item->member_labels = palloc(Max(ndefs, 1) * sizeof(char *));
			item->member_names = palloc(Max(ndefs, 1) * sizeof(char *));
			for (int i = 0; i < ndefs; i++)
			{
				HeapTuple	tup = defs->vals[i];
				TupleDesc	desc = defs->tupdesc;
				char	   *family = get_text(tup, desc, 10);

				if (family == NULL || strcmp(family, item->name) != 0 ||
					!get_bool(tup, desc, 12))
					continue;
				item->member_names[m] = get_text(tup, desc, 1);
				item->member_labels[m] = get_text(tup, desc, 11);
				m++;
			}
			item->nmembers = m;
		}
	}

	PopActiveSnapshot();
	SegmentCatalogEnd(&save);
	MemoryContextSwitchTo(context);

	qsort(cat->items, cat->nitems, sizeof(LiveItem), compare_items);
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(((LiveSegmentEntry *) NULL)->name);
		ctl.entrysize = sizeof(LiveSegmentEntry);
		ctl.hcxt = context;
		cat->segments = hash_create("segment names", Max(cat->nitems, 16), &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	for (int i = 0; i < cat->nitems; i++)
	{
		LiveItem   *item = &cat->items[i];

		cat->maxdepth = Max(cat->maxdepth, item->depth);
		if (!item->is_label)
			add_segment(cat, item->name, i, NULL);
		else
			for (int m = 0; m < item->nmembers; m++)
				add_segment(cat, item->member_names[m], i, item->member_labels[m]);
	}

	MemoryContextSwitchTo(old);
	return cat;
}

/*
 * The current definitions, loaded if need be; pinned until
 * LiveCatalogUnpin() or the end of the transaction.
 */
LiveCatalog *
LiveCatalogPin(void)
{
	if (!callbacks_registered)
		watch_catalog();
	if (current == NULL)
	{
		uint64		before = version;
		LiveCatalog *cat = load_catalog();

		/* an invalidation while loading: use it once, reload next time */
		if (version != before)
			cat->stale = true;
		else
			current = cat;
		if (cat->stale)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			retired = lappend(retired, cat);
			MemoryContextSwitchTo(old);
		}
		cat->pins++;
		return cat;
	}
	current->pins++;
	return current;
}

void
LiveCatalogUnpin(LiveCatalog *cat)
{
	Assert(cat->pins > 0);
	cat->pins--;
	if (cat->stale && cat->pins == 0 && list_member_ptr(retired, cat))
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		retired = list_delete_ptr(retired, cat);
		MemoryContextSwitchTo(old);
		free_catalog(cat);
	}
}

/*
 * Forget the cache: the next pin reloads it (after a change this backend
 * made, before the invalidation has been processed).
 */
void
LiveCatalogForget(void)
{
	invalidate();
}

LiveSource *
LiveCatalogSource(LiveCatalog *cat, Oid relid)
{
	for (int i = 0; i < cat->nsources; i++)
		if (cat->sources[i].relid == relid)
			return &cat->sources[i];
	elog(ERROR, "table %u is not a tracked event table", relid);
	return NULL;
}

LiveSegmentEntry *
LiveCatalogFind(LiveCatalog *cat, const char *segment)
{
	if (strlen(segment) >= sizeof(((LiveSegmentEntry *) NULL)->name))
		return NULL;
	return (LiveSegmentEntry *) hash_search(cat->segments, segment, HASH_FIND, NULL);
}
