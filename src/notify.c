/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  One NOTIFY segment_changes per committing transaction.
 *
 * When a transaction that changed membership commits, the changes it wrote
 * (pending.c) are summed per segment and sent as one JSON payload, in the
 * same format as json_object_agg():
 *
 *	  { "vip" : {"entered" : 2, "exited" : 0}, "za" : {"entered" : 1, "exited" : 1} }
 *
 * Changes of rolled-back subtransactions were never written, so they are
 * not reported.  A prepared transaction cannot notify, so it sends nothing.
 *
 * IDENTIFICATION
 *	  src/notify.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "commands/async.h"
#include "lib/stringinfo.h"
#include "utils/json.h"

/* NOTIFY refuses payloads of 8000 bytes or more (async.c) */
#define SEGMENT_NOTIFY_MAX	8000

/*
 * Announce changes (a list of LiveChange, in segment order).  With very
 * many segments the summary does not fit a payload: then only
 * {"truncated": true} is sent, and listeners read segment.history.
 */
void
NotifyChanges(List *changes)
{
	StringInfoData payload;
	ListCell   *lc;
	bool		first = true;

	if (changes == NIL)
		return;

	initStringInfo(&payload);
	appendStringInfoString(&payload, "{ ");
	foreach(lc, changes)
	{
		LiveChange *ch = (LiveChange *) lfirst(lc);

		if (!first)
			appendStringInfoString(&payload, ", ");
		first = false;
		escape_json(&payload, ch->segment);
		appendStringInfo(&payload, " : {\"entered\" : " INT64_FORMAT ", \"exited\" : " INT64_FORMAT "}",
						 ch->entered, ch->exited);
	}
	appendStringInfoString(&payload, " }");

	if (payload.len < SEGMENT_NOTIFY_MAX)
		Async_Notify("segment_changes", payload.data);
	else
		Async_Notify("segment_changes", "{\"truncated\": true}");
}
