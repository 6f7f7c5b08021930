/*-------------------------------------------------------------------------
 *
 * evaluate.c
 *	  Evaluating items over customers, as their owner.
 *
 * All the items of one owner and depth are evaluated by one query over the
 * customer profile: the customer row's columns next to the traits, which
 * are aggregates over each event table, grouped by customer.  A customer
 * with no events gets each trait's value over zero events (count 0, sum
 * NULL), computed once.  The query returns one row per customer with the
 * key and every item's value, and a receiver sorts the keys into one
 * buffer per segment as the rows stream by, so nothing is materialized.
 *
 * A rule runs with the rights of the segment's owner, never of whoever
 * wrote the row that fired the trigger: the user id is switched for the
 * evaluation, as for an index expression, with restricted operations.
 *
 * IDENTIFICATION
 *	  src/evaluate.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* Below this many keys, look them up by index; above it, scan. */
#define EVALUATE_LOOKUP_MAX		10000

/*
 * Plans of evaluation queries, by query text, kept for the backend's life:
 * the same items are evaluated for every statement.  The text holds the
 * items' compiled expressions, so a changed definition is a new entry.
 */
typedef struct PlanCacheEntry
{
	uint32		hash;
	char	   *sql;
	Oid			argtype;
	SPIPlanPtr	plan;
	struct PlanCacheEntry *next;
} PlanCacheEntry;

#define PLAN_CACHE_MAX	64

static PlanCacheEntry *plan_cache = NULL;
static int	plan_cache_size = 0;

static SPIPlanPtr
cached_plan(const char *sql, Oid argtype)
{
	uint32		hash = string_hash(sql, strlen(sql) + 1);
	PlanCacheEntry *e;
	SPIPlanPtr	plan;

	for (e = plan_cache; e != NULL; e = e->next)
		if (e->hash == hash && e->argtype == argtype && strcmp(e->sql, sql) == 0)
			return e->plan;

	/*
	 * A generic plan: planning the profile query costs more than running
	 * it for a few customers, and the keys' count is in the query's shape
	 * (a constant array up to EVALUATE_LOOKUP_MAX keys, else a scan).
	 */
	plan = SPI_prepare_cursor(sql, OidIsValid(argtype) ? 1 : 0, &argtype,
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (plan_cache_size >= PLAN_CACHE_MAX)
	{
		/* definitions changed a lot: start over rather than track use */
		while (plan_cache != NULL)
		{
			e = plan_cache;
			plan_cache = e->next;
			SPI_freeplan(e->plan);
			pfree(e->sql);
			pfree(e);
		}
		plan_cache_size = 0;
	}
	SPI_keepplan(plan);
	e = MemoryContextAlloc(TopMemoryContext, sizeof(PlanCacheEntry));
	e->hash = hash;
	e->sql = MemoryContextStrdup(TopMemoryContext, sql);
	e->argtype = argtype;
	e->plan = plan;
	e->next = plan_cache;
	plan_cache = e;
	plan_cache_size++;
	return plan;
}

static bool
in_list(char **list, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/*
 * Conditions that may filter a source's event rows before grouping: the
 * conjuncts of the FILTER clauses that every needed trait shares, and, when
 * each trait filters by more than those, the OR of what else each filters
 * by (an event no trait counts need not be read).
 */
static List *
event_filters(LiveCatalog *cat, bool *needed, int source)
{
	List	   *common = NIL;
	bool		first = true;
	bool		each_has_more = true;
	StringInfoData any;

	for (int t = 0; t < cat->ntraits; t++)
	{
		LiveTrait  *trait = &cat->traits[t];
		List	   *kept = NIL;
		ListCell   *lc;

		if (!needed[t] || trait->source != source)
			continue;
		if (first)
		{
			for (int i = 0; i < trait->nfilters; i++)
				common = lappend(common, trait->filters[i]);
			first = false;
			continue;
		}
		foreach(lc, common)
			if (in_list(trait->filters, trait->nfilters, (char *) lfirst(lc)))
				kept = lappend(kept, lfirst(lc));
		common = kept;
	}

	initStringInfo(&any);
	for (int t = 0; t < cat->ntraits && each_has_more; t++)
	{
		LiveTrait  *trait = &cat->traits[t];
		bool		more = false;

		if (!needed[t] || trait->source != source)
			continue;
		appendStringInfoString(&any, any.len == 0 ? "(" : " OR (");
		for (int i = 0; i < trait->nfilters; i++)
		{
			bool		shared = false;
			ListCell   *lc;

			foreach(lc, common)
				shared = shared || strcmp((char *) lfirst(lc), trait->filters[i]) == 0;
			if (shared)
				continue;
			appendStringInfo(&any, "%s(%s)", more ? " AND " : "", trait->filters[i]);
			more = true;
		}
		appendStringInfoChar(&any, ')');
		each_has_more = more;
	}
	/* (a single trait's filters are all common: it adds nothing here) */
	if (each_has_more && any.len > 0)
		common = lappend(common, any.data);
	return common;
}

/*
 * The customer profile as SQL, to be used as "(...) AS c": the key, the
 * customer columns and the traits the items read (every visible trait for
 * all_traits).  key_filter, if not NULL, completes "key <key_filter>" to
 * restrict the customers.
 *
 * For a few customers (lateral) each customer's events are aggregated by a
 * lateral subquery, which reads them through the (customer, at) index and
 * gives the value over zero events by itself.  For many, each event table
 * is aggregated once, grouped by customer, and a customer without events
 * takes the values over zero events, computed once.
 */
char *
LiveProfileSql(LiveCatalog *cat, int nitems, LiveItem **items, bool all_traits,
			   const char *key_filter, bool lateral)
{
	StringInfoData sql;
	StringInfoData joins;
	bool	   *needed = palloc0(Max(cat->ntraits, 1) * sizeof(bool));
	List	   *columns = NIL;
	ListCell   *lc;

	for (int i = 0; i < nitems; i++)
	{
		for (int t = 0; t < items[i]->ntraits; t++)
			needed[items[i]->traits[t]] = true;
		for (int k = 0; k < items[i]->ncolumns; k++)
		{
			char	   *col = items[i]->columns[k];
			bool		seen = strcmp(col, cat->key) == 0;

			foreach(lc, columns)
				seen = seen || strcmp((char *) lfirst(lc), col) == 0;
			if (!seen)
				columns = lappend(columns, col);
		}
	}
	if (all_traits)
		for (int t = 0; t < cat->ntraits; t++)
			needed[t] = needed[t] || !cat->traits[t].hidden;

	initStringInfo(&sql);
	initStringInfo(&joins);
	appendStringInfo(&sql, "SELECT c.%s", cat->key);
	foreach(lc, columns)
		appendStringInfo(&sql, ", c.%s", (char *) lfirst(lc));

	for (int s = 0; s < cat->nsources; s++)
	{
		LiveSource *src = &cat->sources[s];
		StringInfoData aggs;
		bool		any = false;
		List	   *filters;

		initStringInfo(&aggs);
		for (int t = 0; t < cat->ntraits; t++)
		{
			LiveTrait  *trait = &cat->traits[t];
			const char *name = quote_identifier(trait->name);

			if (!needed[t] || trait->source != s)
				continue;
			if (lateral)
				appendStringInfo(&sql, ", t%d.%s", s, name);
			else
				appendStringInfo(&sql, ", CASE WHEN t%d.k IS NULL THEN z%d.%s ELSE t%d.%s END AS %s",
								 s, s, name, s, name, name);
			appendStringInfo(&aggs, "%s(%s) AS %s", any ? ", " : "", trait->expression, name);
			any = true;
		}
		if (!any)
			continue;
		filters = event_filters(cat, needed, s);
		if (lateral)
		{
			appendStringInfo(&joins, " CROSS JOIN LATERAL (SELECT %s FROM ONLY %s AS e"
							 " WHERE e.%s OPERATOR(pg_catalog.=) c.%s",
							 aggs.data, src->relname, src->customer, cat->key);
			foreach(lc, filters)
				appendStringInfo(&joins, " AND (%s)", (char *) lfirst(lc));
			appendStringInfo(&joins, ") AS t%d", s);
		}
		else
		{
			const char *glue = " WHERE ";

			appendStringInfo(&joins, " LEFT JOIN (SELECT e.%s AS k, %s FROM ONLY %s AS e",
							 src->customer, aggs.data, src->relname);
			if (key_filter != NULL)
			{
				appendStringInfo(&joins, " WHERE e.%s %s", src->customer, key_filter);
				glue = " AND ";
			}
			foreach(lc, filters)
			{
				appendStringInfo(&joins, "%s(%s)", glue, (char *) lfirst(lc));
				glue = " AND ";
			}
			appendStringInfo(&joins, " GROUP BY e.%s) AS t%d ON t%d.k OPERATOR(pg_catalog.=) c.%s"
							 " CROSS JOIN (SELECT %s FROM ONLY %s AS e WHERE false) AS z%d",
							 src->customer, s, s, cat->key, aggs.data, src->relname, s);
		}
	}
	appendStringInfo(&sql, " FROM ONLY %s AS c%s", cat->customers_sql, joins.data);
	if (key_filter != NULL)
		appendStringInfo(&sql, " WHERE c.%s %s", cat->key, key_filter);
	return sql.data;
}

/* A receiver that hands each row to a callback. */
typedef struct CallbackReceiver
{
	DestReceiver pub;
	LiveRowCallback callback;
	void	   *arg;
} CallbackReceiver;

static bool
callback_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CallbackReceiver *r = (CallbackReceiver *) self;

	slot_getallattrs(slot);
	r->callback(slot, r->arg);
	return true;
}

static void
callback_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
callback_shutdown(DestReceiver *self)
{
}

/*
 * Run a query as a role, with restricted operations, and hand every row
 * to callback as it comes: nothing is materialized.  At most one argument.
 * The plan is kept for the backend's life.
 */
void
LiveQuery(const char *sql, Oid role, Oid argtype, Datum arg, LiveRowCallback callback,
		  void *cbarg)
{
	CallbackReceiver receiver;
	SPIExecuteOptions options;
	ParamListInfo params = NULL;
	Oid			save_userid;
	int			save_sec_context;
	int			ret;

	if (OidIsValid(argtype))
	{
		params = makeParamList(1);
		params->params[0].value = arg;
		params->params[0].isnull = false;
		params->params[0].pflags = PARAM_FLAG_CONST;
		params->params[0].ptype = argtype;
	}
	memset(&receiver, 0, sizeof(receiver));
	receiver.pub.receiveSlot = callback_receive;
	receiver.pub.rStartup = callback_startup;
	receiver.pub.rShutdown = callback_shutdown;
	receiver.pub.rDestroy = callback_shutdown;
	receiver.pub.mydest = DestTuplestore;	/* any but DestNone: rows are wanted */
	receiver.callback = callback;
	receiver.arg = cbarg;

	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = (DestReceiver *) &receiver;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(role, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	SPI_connect();
	ret = SPI_execute_plan_extended(cached_plan(sql, argtype), &options);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "segment query failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * The receiver: one growing key buffer per boolean item, and one per label
 * of each label item.
 */
typedef struct KeyBuffer
{
	uint32	   *keys;
	size_t		n;
	size_t		max;
} KeyBuffer;

typedef struct LabelEntry
{
	char		label[NAMEDATALEN * 4]; /* hash key */
	KeyBuffer	buf;
} LabelEntry;

typedef struct EvalReceiver
{
	int			nitems;
	LiveItem  **items;
	KeyBuffer  *buffers;		/* boolean items */
	HTAB	  **labels;			/* label items */
	MemoryContext context;
} EvalReceiver;

static void
buffer_add(KeyBuffer *buf, uint32 key, MemoryContext context)
{
	if (buf->n == buf->max)
	{
		buf->max = buf->max == 0 ? 64 : buf->max * 2;
		buf->keys = buf->keys == NULL
			? MemoryContextAllocHuge(context, buf->max * sizeof(uint32))
			: repalloc_huge(buf->keys, buf->max * sizeof(uint32));
	}
	buf->keys[buf->n++] = key;
}

static SegmentData *
buffer_segment(KeyBuffer *buf)
{
	size_t		n;

	if (buf->n == 0)
		return SegmentEmpty();
	buf->keys = SegmentSortKeys(buf->keys, buf->n, &n);
	return SegmentFromSortedKeys(buf->keys, n);
}

/* The key in a column of a row (int2, int4 or int8), checked. */
uint32
LiveSlotKey(TupleTableSlot *slot, int col, bool *isnull)
{
	Datum		d = slot->tts_values[col];
	int64		key;

	*isnull = slot->tts_isnull[col];
	if (*isnull)
		return 0;
	switch (TupleDescAttr(slot->tts_tupleDescriptor, col)->atttypid)
	{
		case INT2OID:
			key = DatumGetInt16(d);
			break;
		case INT4OID:
			key = DatumGetInt32(d);
			break;
		default:
			key = DatumGetInt64(d);
			break;
	}
	return SegmentCheckKey(key);
}

static void
receiver_receive(TupleTableSlot *slot, void *arg)
{
	EvalReceiver *r = (EvalReceiver *) arg;
	bool		isnull;
	uint32		k = LiveSlotKey(slot, 0, &isnull);
	Datum		d;

	if (isnull)
		return;
	for (int i = 0; i < r->nitems; i++)
	{
		if (slot->tts_isnull[i + 1])
			continue;
		d = slot->tts_values[i + 1];
		if (!r->items[i]->is_label)
		{
			if (DatumGetBool(d))
				buffer_add(&r->buffers[i], k, r->context);
		}
		else
		{
			text	   *t = DatumGetTextPP(d);
			char		label[NAMEDATALEN * 4];
			int			len = VARSIZE_ANY_EXHDR(t);
			LabelEntry *e;
			bool		found;

			if (len == 0 || len >= sizeof(label))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("segment family \"%s\" gave an empty or too long label",
								r->items[i]->name)));
			memcpy(label, VARDATA_ANY(t), len);
			label[len] = '\0';
			e = (LabelEntry *) hash_search(r->labels[i], label, HASH_ENTER, &found);
			if (!found)
				memset(&e->buf, 0, sizeof(KeyBuffer));
			buffer_add(&e->buf, k, r->context);
		}
	}
}

/*
 * Evaluate items of one owner for the customers among keys (everyone when
 * NULL); one result per item, in the current memory context.  The
 * caller pins search_path.
 */
void
LiveEvaluate(LiveCatalog *cat, LiveItem **items, int nitems, SegmentData *keys,
			 LiveResult *results)
{
	StringInfoData sql;
	char	   *filter = NULL;
	Oid			argtype = InvalidOid;
	Datum		arg = (Datum) 0;
	EvalReceiver receiver;
	MemoryContext caller = CurrentMemoryContext;

	if (keys != NULL)
	{
		if (SegmentCardinality(keys) <= EVALUATE_LOOKUP_MAX)
		{
			/* a constant array: the planner can use the key's index */
			argtype = INT8ARRAYOID;
			arg = DirectFunctionCall1(segment_to_array, PointerGetDatum(keys));
			filter = "OPERATOR(pg_catalog.=) ANY ($1)";
		}
		else
		{
			argtype = cat->segtype;
			arg = PointerGetDatum(keys);
			filter = psprintf("OPERATOR(%s.<@) $1", cat->ext_schema);
		}
	}

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT c.%s", cat->key);
	for (int i = 0; i < nitems; i++)
		appendStringInfo(&sql, ", (%s)", items[i]->expression);
	appendStringInfo(&sql, " FROM (%s) AS c",
					 LiveProfileSql(cat, nitems, items, false, filter,
									argtype == INT8ARRAYOID));
	elog(DEBUG2, "segment evaluation: %s", sql.data);

	memset(&receiver, 0, sizeof(receiver));
	receiver.nitems = nitems;
	receiver.items = items;
	receiver.buffers = palloc0(nitems * sizeof(KeyBuffer));
	receiver.labels = palloc0(nitems * sizeof(HTAB *));
	receiver.context = caller;
	for (int i = 0; i < nitems; i++)
		if (items[i]->is_label)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(((LabelEntry *) NULL)->label);
			ctl.entrysize = sizeof(LabelEntry);
			ctl.hcxt = caller;
			receiver.labels[i] = hash_create("segment labels", 64, &ctl,
											 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		}

	/* all items share an owner */
	LiveQuery(sql.data, items[0]->owner, argtype, arg, receiver_receive, &receiver);

	for (int i = 0; i < nitems; i++)
	{
		LiveResult *res = &results[i];

		memset(res, 0, sizeof(LiveResult));
		if (!items[i]->is_label)
			res->members = buffer_segment(&receiver.buffers[i]);
		else
		{
			HASH_SEQ_STATUS status;
			LabelEntry *e;
			long		n = hash_get_num_entries(receiver.labels[i]);
			int			j = 0;

			res->labels = palloc(Max(n, 1) * sizeof(char *));
			res->label_members = palloc(Max(n, 1) * sizeof(SegmentData *));
			hash_seq_init(&status, receiver.labels[i]);
			while ((e = (LabelEntry *) hash_seq_search(&status)) != NULL)
			{
				res->labels[j] = pstrdup(e->label);
				res->label_members[j] = buffer_segment(&e->buf);
				j++;
			}
			res->nlabels = j;
		}
	}
	for (int i = 0; i < nitems; i++)
		if (receiver.buffers[i].keys != NULL)
			pfree(receiver.buffers[i].keys);
}
