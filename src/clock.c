/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The reference time: what now() means in rules and traits.
 *
 * Time windows ("bought in the last 30 days") are written with now(),
 * CURRENT_DATE and the like.  When a rule or trait is compiled, those are
 * replaced by segment.reference_time(), which is the transaction's start,
 * as now() is, unless the setting segment.reference_time names another
 * time.  Setting it freezes the clock of every evaluation in the session:
 * tests and backfills pass a fixed time.  What a session evaluates is
 * committed for everyone, so only a superuser may move the clock (or set
 * it for a database or role).
 *
 * IDENTIFICATION
 *	  src/clock.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(segment_reference_time);

static char *reference_time_setting = NULL;

/* The last value parsed, and what it was parsed from */
static char *parsed_text = NULL;
static pg_tz *parsed_zone = NULL;
static TimestampTz parsed_value;

/*
 * Accept only a date and time (a zone is optional); the value itself is
 * computed when used, in the session's time zone then.
 */
static bool
check_reference_time(char **newval, void **extra, GucSource source)
{
	char		workbuf[MAXDATELEN + 1];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_tm tt;
	fsec_t		fsec;
	int			tz;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (strlen(*newval) > MAXDATELEN ||
		ParseDateTime(*newval, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0)
	{
		GUC_check_errdetail("The reference time must be a date and time, such as '2026-03-31 12:00+00', or empty for the transaction's start.");
		return false;
	}
	/* words that mean a time relative to the clock would not freeze it */
	for (int i = 0; i < nf; i++)
		if (pg_strcasecmp(field[i], "now") == 0 || pg_strcasecmp(field[i], "today") == 0 ||
			pg_strcasecmp(field[i], "tomorrow") == 0 || pg_strcasecmp(field[i], "yesterday") == 0)
		{
			GUC_check_errdetail("The reference time must be a fixed time, not \"%s\": leave it empty to follow the clock.",
								field[i]);
			return false;
		}
	if (DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0 || dtype != DTK_DATE)
	{
		GUC_check_errdetail("The reference time must be a date and time, such as '2026-03-31 12:00+00', or empty for the transaction's start.");
		return false;
	}
	return true;
}

void
ClockDefineSetting(void)
{
	DefineCustomStringVariable("segment.reference_time",
							   "Sets the time that now() means in segment rules and traits.",
							   "Empty (the default) means the start of the current transaction, "
							   "as for now() itself.",
							   &reference_time_setting,
							   "",
							   PGC_SUSET,
							   0,
							   check_reference_time, NULL, NULL);
}

/*
 * segment.reference_time() RETURNS timestamptz: the setting, or the
 * transaction's start.  Called for every event row a time window filters,
 * so the parsed value is kept.
 */
Datum
segment_reference_time(PG_FUNCTION_ARGS)
{
	const char *text = reference_time_setting;

	if (text == NULL || text[0] == '\0')
		PG_RETURN_TIMESTAMPTZ(GetCurrentTransactionStartTimestamp());
	if (parsed_text == NULL || parsed_zone != session_timezone || strcmp(parsed_text, text) != 0)
	{
		parsed_value = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
															   CStringGetDatum(text),
															   ObjectIdGetDatum(InvalidOid),
															   Int32GetDatum(-1)));
		if (parsed_text != NULL)
			pfree(parsed_text);
		parsed_text = MemoryContextStrdup(TopMemoryContext, text);
		parsed_zone = session_timezone;
	}
	PG_RETURN_TIMESTAMPTZ(parsed_value);
}
