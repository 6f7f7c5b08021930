/*-------------------------------------------------------------------------
 *
 * ltv.c
 *	  Lifetime value segments: purchase summaries, and the value tiers of
 *	  a fitted model.
 *
 * A customer's purchases are summarized by the aggregate
 * segment.purchase_days(day, amount): purchase days (purchases on one day
 * are one purchase), the first and last of them, the total and the total
 * of the days after the first.  From it and a model's period and
 * calibration day come the BG/NBD summary (x, t_x, T) and the mean repeat
 * spend m.  The tiers of a model (top 1 %, top 10 %, ...) are the
 * customers whose predicted lifetime value reaches the tier's threshold,
 * kept with the model; between refreshes a customer whose purchases change
 * is valued with the kept model, in the same commit.
 *
 * IDENTIFICATION
 *	  src/ltv.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"
#include "ltv.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(segment_purchase_days_trans);
PG_FUNCTION_INFO_V1(segment_purchase_days_final);
PG_FUNCTION_INFO_V1(segment_ltv_summary);
PG_FUNCTION_INFO_V1(segment_ltv_clv);
PG_FUNCTION_INFO_V1(segment_ltv_in_tier);

/*
 * The aggregate's state: every purchase's day and amount; the final
 * function merges days.
 */
typedef struct PurchaseDays
{
	int64		n;
	int64		max;
	DateADT    *days;
	double	   *amounts;
} PurchaseDays;

Datum
segment_purchase_days_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	PurchaseDays *state;
	MemoryContext old;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "segment_purchase_days_trans called in non-aggregate context");
	state = PG_ARGISNULL(0) ? NULL : (PurchaseDays *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	old = MemoryContextSwitchTo(aggcontext);
	if (state == NULL)
		state = palloc0(sizeof(PurchaseDays));
	if (state->n == state->max)
	{
		state->max = state->max == 0 ? 16 : state->max * 2;
		state->days = state->days == NULL ? palloc(state->max * sizeof(DateADT))
			: repalloc_huge(state->days, state->max * sizeof(DateADT));
		state->amounts = state->amounts == NULL ? palloc(state->max * sizeof(double))
			: repalloc_huge(state->amounts, state->max * sizeof(double));
	}
	if (DATE_NOT_FINITE(PG_GETARG_DATEADT(1)))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("purchase day must be finite")));
	state->days[state->n] = PG_GETARG_DATEADT(1);
	state->amounts[state->n] = PG_GETARG_FLOAT8(2);
	state->n++;
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(state);
}

static int
compare_days(const void *a, const void *b)
{
	DateADT		x = *(const DateADT *) a;
	DateADT		y = *(const DateADT *) b;

	return (x > y) - (x < y);
}

/*
 * segment.purchase_days final function: (days, first_day, last_day, total,
 * repeat_total), NULL without a purchase.
 */
Datum
segment_purchase_days_final(PG_FUNCTION_ARGS)
{
	PurchaseDays *state;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	DateADT		first = 0;
	int32		days = 0;
	double		total = 0.0,
				first_total = 0.0;
	DateADT    *sorted;
	DateADT		last = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (PurchaseDays *) PG_GETARG_POINTER(0);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	/* the first day, then every day once */
	first = state->days[0];
	for (int64 i = 0; i < state->n; i++)
	{
		first = Min(first, state->days[i]);
		total += state->amounts[i];
	}
	for (int64 i = 0; i < state->n; i++)
		if (state->days[i] == first)
			first_total += state->amounts[i];
	sorted = palloc(state->n * sizeof(DateADT));
	memcpy(sorted, state->days, state->n * sizeof(DateADT));
	qsort(sorted, state->n, sizeof(DateADT), compare_days);
	for (int64 i = 0; i < state->n; i++)
		if (i == 0 || sorted[i] != sorted[i - 1])
		{
			days++;
			last = sorted[i];
		}
	pfree(sorted);

	values[0] = Int32GetDatum(days);
	values[1] = DateADTGetDatum(first);
	values[2] = DateADTGetDatum(last);
	values[3] = Float8GetDatum(total);
	values[4] = Float8GetDatum(total - first_total);
	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* A stored lifetime value model, as segment._ltv_* need it. */
typedef struct LtvModel
{
	char	   *name;
	double		period_days;
	DateADT		calibration_day;
	int32		horizon;
	double		discount;
	bool		fitted;
	double		bgnbd[4];
	double		gammagamma[3];
	int			ntiers;
	double	   *thresholds;
} LtvModel;

/* Models loaded by this backend, while the catalog does not change */
static LiveNamedCache models = {"lifetime value model"};

static LtvModel *
get_model(const char *name)
{
	LtvModel   *model = LiveNamedCacheFind(&models, name);
	SegmentCatalogSave save;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	if (model != NULL)
		return model;
	tup = LiveNamedCacheRead(&models,
							 "SELECT CASE period WHEN 'day' THEN 1.0 WHEN 'week' THEN 7.0"
							 " WHEN 'month' THEN 365.25 / 12 ELSE 365.25 END::pg_catalog.float8,"
							 " calibration_day, horizon, discount,"
							 " (bgnbd).r, (bgnbd).alpha, (bgnbd).a, (bgnbd).b,"
							 " (gammagamma).p, (gammagamma).q, (gammagamma).gamma, thresholds"
							 " FROM segment.ltv_models WHERE name OPERATOR(pg_catalog.=) $1",
							 name, &save);
	desc = SPI_tuptable->tupdesc;

	model = palloc0(sizeof(LtvModel));
	model->name = pstrdup(name);
	model->period_days = DatumGetFloat8(SPI_getbinval(tup, desc, 1, &isnull));
	model->calibration_day = DatumGetDateADT(SPI_getbinval(tup, desc, 2, &isnull));
	model->fitted = !isnull;
	model->horizon = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	model->discount = DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull));
	for (int i = 0; i < 7; i++)
	{
		d = SPI_getbinval(tup, desc, 5 + i, &isnull);
		if (isnull)
			model->fitted = false;
		else if (i < 4)
			model->bgnbd[i] = DatumGetFloat8(d);
		else
			model->gammagamma[i - 4] = DatumGetFloat8(d);
	}
	d = SPI_getbinval(tup, desc, 12, &isnull);
	if (!isnull)
		model->thresholds = LiveFloat8Array(d, INFINITY, &model->ntiers);
	LiveNamedCacheAdd(&models, name, model, &save);
	return model;
}

/*
 * A customer's BG/NBD summary from its purchase summary: x repeat purchase
 * days, t_x and T in periods from the first day, m the mean amount of the
 * repeat days.  False without a purchase.
 */
static bool
summarize(const LtvModel *model, HeapTupleHeader s, double *x, double *tx, double *T,
		  double *m, double *total)
{
	bool		isnull;
	int32		days = DatumGetInt32(GetAttributeByNum(s, 1, &isnull));
	DateADT		first,
				last;

	if (isnull || days <= 0)
		return false;
	first = DatumGetDateADT(GetAttributeByNum(s, 2, &isnull));
	last = DatumGetDateADT(GetAttributeByNum(s, 3, &isnull));
	*total = DatumGetFloat8(GetAttributeByNum(s, 4, &isnull));
	*x = days - 1;
	*tx = (last - first) / model->period_days;
	*T = (model->calibration_day - first) / model->period_days;
	*m = *x > 0 ? DatumGetFloat8(GetAttributeByNum(s, 5, &isnull)) / *x : 0.0;
	return *T >= *tx;
}

/*
 * The predicted lifetime value of a customer; false when it has none: no
 * purchase in the calibration period, an unfitted model, or repeat
 * purchases worth zero or less, which the spend model cannot value.
 */
static bool
clv_of(const LtvModel *model, HeapTupleHeader s, double *clv)
{
	double		x,
				tx,
				T,
				m,
				total;

	if (!model->fitted || !summarize(model, s, &x, &tx, &T, &m, &total))
		return false;
	if (x > 0 && m <= 0)
		return false;
	*clv = LtvClv(model->bgnbd, model->gammagamma, x, tx, T, m, model->horizon, model->discount);
	return true;
}

/*
 * segment._ltv_summary(model text, s segment.purchase_summary,
 *		OUT x float8, OUT t_x float8, OUT t float8, OUT m float8,
 *		OUT historical_value float8)
 */
Datum
segment_ltv_summary(PG_FUNCTION_ARGS)
{
	LtvModel   *model;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	double		x,
				tx,
				T,
				m,
				total;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	model = get_model(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (!summarize(model, PG_GETARG_HEAPTUPLEHEADER(1), &x, &tx, &T, &m, &total))
		PG_RETURN_NULL();
	values[0] = Float8GetDatum(x);
	values[1] = Float8GetDatum(tx);
	values[2] = Float8GetDatum(T);
	values[3] = Float8GetDatum(m);
	nulls[3] = x == 0;
	values[4] = Float8GetDatum(total);
	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * segment._ltv_clv(model text, s segment.purchase_summary) RETURNS float8
 */
Datum
segment_ltv_clv(PG_FUNCTION_ARGS)
{
	double		clv;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (!clv_of(get_model(text_to_cstring(PG_GETARG_TEXT_PP(0))),
				PG_GETARG_HEAPTUPLEHEADER(1), &clv))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(clv);
}

/*
 * segment._ltv_in_tier(model text, tier integer, s segment.purchase_summary)
 * RETURNS boolean: does the customer's value reach the tier's threshold?
 */
Datum
segment_ltv_in_tier(PG_FUNCTION_ARGS)
{
	LtvModel   *model;
	int32		tier;
	double		clv;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	model = get_model(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	tier = PG_GETARG_INT32(1);
	if (tier < 1 || tier > model->ntiers)
		PG_RETURN_BOOL(false);
	if (!clv_of(model, PG_GETARG_HEAPTUPLEHEADER(2), &clv))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(clv >= model->thresholds[tier - 1]);
}
