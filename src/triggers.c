/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  The triggers on tracked tables: noting which customers changed.
 *
 * The triggers do not evaluate anything.  They note the keys of the
 * customers a statement changed (process.c evaluates them before the
 * transaction next reads membership, and again at commit), so a statement
 * costs one pass over its transition table, and a COPY of a million rows
 * one pass over a million keys.
 *
 * An UPDATE of a column no rule reads must cost (almost) nothing, so on the
 * customer table the row-level trigger carries a WHEN clause comparing only
 * the key and the columns rules read; the executor skips it for other
 * updates.  When it fires, it remembers the old and new key, and the
 * statement-level trigger that follows notes them.
 *
 * IDENTIFICATION
 *	  src/triggers.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(segment_rows_changed);
PG_FUNCTION_INFO_V1(segment_customer_row_updated);
PG_FUNCTION_INFO_V1(segment_customer_update_done);
PG_FUNCTION_INFO_V1(segment_truncated);

/* Keys a growing array collects, in the given context. */
typedef struct KeyArray
{
	uint32	   *keys;
	size_t		n;
	size_t		max;
	MemoryContext context;
} KeyArray;

static void
key_array_add(KeyArray *a, Datum d, Oid type)
{
	int64		key;

	switch (type)
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
	if (a->n == a->max)
	{
		a->max = a->max == 0 ? 64 : a->max * 2;
		a->keys = a->keys == NULL
			? MemoryContextAllocHuge(a->context, a->max * sizeof(uint32))
			: repalloc_huge(a->keys, a->max * sizeof(uint32));
	}
	a->keys[a->n++] = SegmentCheckKey(key);
}

/* The position of a trigger's first argument, a column, in its relation. */
static int
key_attnum(TriggerData *trigdata, Oid *type)
{
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	int			attnum;

	if (trigdata->tg_trigger->tgnargs < 1)
		elog(ERROR, "trigger \"%s\": expected the key column as argument",
			 trigdata->tg_trigger->tgname);
	attnum = SPI_fnumber(desc, trigdata->tg_trigger->tgargs[0]);
	if (attnum <= 0)
		elog(ERROR, "key column \"%s\" not found", trigdata->tg_trigger->tgargs[0]);
	*type = TupleDescAttr(desc, attnum - 1)->atttypid;
	return attnum;
}

/* Is this trigger on an event table (second argument "events")? */
static bool
on_events(TriggerData *trigdata)
{
	return trigdata->tg_trigger->tgnargs >= 2 &&
		strcmp(trigdata->tg_trigger->tgargs[1], "events") == 0;
}

static void
collect(KeyArray *a, Tuplestorestate *store, TupleDesc desc, int attnum, Oid type)
{
	TupleTableSlot *slot;

	if (store == NULL)
		return;
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	tuplestore_rescan(store);
	while (tuplestore_gettupleslot(store, true, false, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, attnum, &isnull);

		if (!isnull)
			key_array_add(a, d, type);
		CHECK_FOR_INTERRUPTS();
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * AFTER INSERT, UPDATE or DELETE FOR EACH STATEMENT, with transition tables
 * segment_new_rows and segment_old_rows; arguments: the key column, and
 * "customers" or "events".
 */
Datum
segment_rows_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	KeyArray	keys = {0};
	Oid			type;
	int			attnum;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER FOR EACH STATEMENT",
						"segment_rows_changed")));
	attnum = key_attnum(trigdata, &type);
	keys.context = CurrentMemoryContext;
	collect(&keys, trigdata->tg_newtable, RelationGetDescr(trigdata->tg_relation), attnum, type);
	collect(&keys, trigdata->tg_oldtable, RelationGetDescr(trigdata->tg_relation), attnum, type);
	if (keys.n > 0)
		LiveMarkChanged(keys.keys, keys.n, on_events(trigdata));
	/* deleted customers leave static lists */
	if (keys.n > 0 && !on_events(trigdata) && TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		LiveNoteRemoved(keys.keys, keys.n);
	return PointerGetDatum(NULL);
}

/*
 * AFTER TRUNCATE FOR EACH STATEMENT; argument: "customers" or "events".
 * Every customer may have changed (on the customer table: has left).
 */
Datum
segment_truncated(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER TRUNCATE",
						"segment_truncated")));
	if (trigdata->tg_trigger->tgnargs >= 1 &&
		strcmp(trigdata->tg_trigger->tgargs[0], "events") == 0)
		LiveMarkChanged(NULL, 0, true);
	else
	{
		LiveMarkChanged(NULL, 0, false);
		LiveNoteRemoved(NULL, 0);
	}
	return PointerGetDatum(NULL);
}

/*
 * Keys the row trigger remembered since the last statement-level flush, and
 * the old keys of rows whose key changed.
 */
static KeyArray updated = {0};
static KeyArray moved = {0};
static bool callback_registered = false;

/*
 * The end of the transaction forgets what no statement noted.  A
 * subtransaction's abort does not: re-evaluating a customer whose row did
 * not change after all is harmless, missing one is not.
 */
static void
updated_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
	{
		memset(&updated, 0, sizeof(updated));
		memset(&moved, 0, sizeof(moved));
	}
}

/*
 * AFTER UPDATE FOR EACH ROW, WHEN a watched column changed; argument: the
 * key column's name.
 */
Datum
segment_customer_row_updated(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	Oid			type;
	int			attnum;
	bool		oldnull,
				newnull;
	Datum		oldkey,
				newkey;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER UPDATE FOR EACH ROW",
						"segment_customer_row_updated")));
	if (!callback_registered)
	{
		RegisterXactCallback(updated_xact_callback, NULL);
		callback_registered = true;
	}
	desc = RelationGetDescr(trigdata->tg_relation);
	attnum = key_attnum(trigdata, &type);
	updated.context = moved.context = TopTransactionContext;
	oldkey = heap_getattr(trigdata->tg_trigtuple, attnum, desc, &oldnull);
	newkey = heap_getattr(trigdata->tg_newtuple, attnum, desc, &newnull);
	if (!oldnull)
		key_array_add(&updated, oldkey, type);
	if (!newnull)
		key_array_add(&updated, newkey, type);
	/* the old key no longer names a customer */
	if (!oldnull && (newnull || oldkey != newkey))
		key_array_add(&moved, oldkey, type);
	return PointerGetDatum(NULL);
}

/*
 * AFTER UPDATE FOR EACH STATEMENT: note the remembered customers.
 */
Datum
segment_customer_update_done(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	KeyArray	keys = updated;
	KeyArray	gone = moved;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER FOR EACH STATEMENT",
						"segment_customer_update_done")));
	if (keys.n == 0)
		return PointerGetDatum(NULL);
	memset(&updated, 0, sizeof(updated));
	memset(&moved, 0, sizeof(moved));
	LiveMarkChanged(keys.keys, keys.n, false);
	if (gone.n > 0)
		LiveNoteRemoved(gone.keys, gone.n);
	pfree(keys.keys);
	if (gone.keys != NULL)
		pfree(gone.keys);
	return PointerGetDatum(NULL);
}
