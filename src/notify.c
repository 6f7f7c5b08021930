/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  One NOTIFY segment_changes per committing transaction.
 *
 * Membership changes are recorded in segment.flips with the transaction's
 * id.  When a transaction that recorded any commits, a pre-commit callback
 * sums its flips per segment and sends them as one JSON payload.  Flips of
 * rolled-back subtransactions are invisible by then, so they are not
 * reported.
 *
 * IDENTIFICATION
 *	  src/notify.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include "access/xact.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(segment_note_flips);

/* NOTIFY refuses payloads of 8000 bytes or more (async.c) */
#define SEGMENT_NOTIFY_MAX	8000

static bool callback_registered = false;
static bool flips_pending = false;
static char extension_schema[NAMEDATALEN * 2 + 3];	/* quoted */

/*
 * A NOTIFY payload must stay under 8000 bytes.  With very many segments the
 * per-segment summary does not fit: then only totals are sent, and
 * listeners read segment.history for the rest.
 */
static void
notify_summary(const char *summary)
{
	if (strlen(summary) < SEGMENT_NOTIFY_MAX)
		Async_Notify("segment_changes", summary);
	else
		Async_Notify("segment_changes", "{\"truncated\": true}");
}

static void
send_summary(void)
{
	int			ret;
	char	   *sql;
	SegmentCatalogSave save;

	sql = psprintf("SELECT pg_catalog.json_object_agg(segment, pg_catalog.json_build_object("
				   "'entered', entered, 'exited', exited) ORDER BY segment)::text"
				   " FROM (SELECT segment, sum(%1$s.cardinality(entered))::bigint AS entered,"
				   " sum(%1$s.cardinality(exited))::bigint AS exited"
				   " FROM segment.flips WHERE xid OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id()"
				   " GROUP BY segment) s",
				   extension_schema);

	/* pre-commit runs outside any statement: queries need a snapshot */
	PushActiveSnapshot(GetTransactionSnapshot());
	/* the history is the extension's, not the committing role's, to read */
	SegmentCatalogBegin(&save);
	ret = SPI_execute(sql, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			notify_summary(TextDatumGetCString(d));
	}
	SegmentCatalogEnd(&save);
	PopActiveSnapshot();
}

static void
segment_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (flips_pending)
			{
				flips_pending = false;
				send_summary();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			flips_pending = false;
			break;
		default:
			break;
	}
}

/*
 * segment._note_flips(extension_schema): this transaction recorded flips.
 */
Datum
segment_note_flips(PG_FUNCTION_ARGS)
{
	strlcpy(extension_schema, quote_identifier(NameStr(*PG_GETARG_NAME(0))),
			sizeof(extension_schema));
	if (!callback_registered)
	{
		RegisterXactCallback(segment_xact_callback, NULL);
		callback_registered = true;
	}
	flips_pending = true;
	PG_RETURN_VOID();
}
