/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  Collecting the customers an UPDATE changed, for one batch per statement.
 *
 * An UPDATE of a column no rule reads must cost (almost) nothing.  So the
 * row-level trigger carries a WHEN clause comparing only the key and the
 * columns rules read, and the executor skips it for other updates.  When
 * it does fire, it only remembers the old and new key; the statement-level
 * trigger that follows re-evaluates all of them in one batch, and does
 * nothing when none were remembered.
 *
 * IDENTIFICATION
 *	  src/triggers.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(segment_customer_row_updated);
PG_FUNCTION_INFO_V1(segment_customer_update_done);

/* Keys remembered since the last statement-level flush. */
static uint32 *pending_keys = NULL;
static size_t npending = 0;
static size_t maxpending = 0;
static bool callback_registered = false;

static void
forget_pending(void)
{
	if (pending_keys != NULL)
		pfree(pending_keys);
	pending_keys = NULL;
	npending = 0;
	maxpending = 0;
}

/*
 * The end of the transaction forgets what no statement flushed.  A
 * subtransaction's abort does not: re-evaluating a customer whose row did
 * not change after all is harmless, missing one is not.
 */
static void
pending_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
		forget_pending();
}

static void
remember_key(HeapTuple tuple, TupleDesc desc, int attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);
	int64		key;

	if (isnull)
		return;
	switch (TupleDescAttr(desc, attnum - 1)->atttypid)
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
	if (npending == maxpending)
	{
		maxpending = maxpending == 0 ? 64 : maxpending * 2;
		pending_keys = pending_keys == NULL
			? MemoryContextAllocHuge(TopTransactionContext, maxpending * sizeof(uint32))
			: repalloc_huge(pending_keys, maxpending * sizeof(uint32));
	}
	pending_keys[npending++] = SegmentCheckKey(key);
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
	int			attnum;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER UPDATE FOR EACH ROW",
						"segment_customer_row_updated")));
	if (trigdata->tg_trigger->tgnargs != 1)
		elog(ERROR, "segment_customer_row_updated: expected the key column as argument");

	if (!callback_registered)
	{
		RegisterXactCallback(pending_xact_callback, NULL);
		callback_registered = true;
	}
	desc = RelationGetDescr(trigdata->tg_relation);
	attnum = SPI_fnumber(desc, trigdata->tg_trigger->tgargs[0]);
	if (attnum <= 0)
		elog(ERROR, "key column \"%s\" not found", trigdata->tg_trigger->tgargs[0]);
	remember_key(trigdata->tg_trigtuple, desc, attnum);
	remember_key(trigdata->tg_newtuple, desc, attnum);
	return PointerGetDatum(NULL);
}

/*
 * AFTER UPDATE FOR EACH STATEMENT: re-evaluate the remembered customers.
 */
Datum
segment_customer_update_done(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	uint32	   *keys;
	size_t		n;
	size_t		nunique;
	SegmentData *affected;
	Oid			argtypes[1];
	Datum		args[1];
	int			ret;
	SegmentCatalogSave save;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER FOR EACH STATEMENT",
						"segment_customer_update_done")));
	if (npending == 0)
		return PointerGetDatum(NULL);

	/* take the keys: a nested statement's trigger starts afresh */
	keys = pending_keys;
	n = npending;
	pending_keys = NULL;
	npending = maxpending = 0;

	keys = SegmentSortKeys(keys, n, &nunique);
	affected = SegmentFromSortedKeys(keys, nunique);
	pfree(keys);

	/* the extension's role applies membership changes, as its SQL functions do */
	SegmentCatalogBegin(&save);
	argtypes[0] = SegmentTypeOid();
	args[0] = PointerGetDatum(affected);
	ret = SPI_execute_with_args("SELECT count(*) FROM segment._process($1)", 1,
								argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	SegmentCatalogEnd(&save);
	return PointerGetDatum(NULL);
}
