/*-------------------------------------------------------------------------
 *
 * rfm.c
 *	  RFM scores: recency, frequency and monetary value in bins, and the
 *	  named cells a map makes of them.
 *
 * A model is refreshed over the whole base: every customer with a purchase
 * is scored, the bins' edges are derived and kept (segment.rfm_models),
 * and each cell of the map becomes a segment.  Between refreshes a
 * customer whose purchases change is scored against the kept edges, by the
 * label expression of the model's family (segment._rfm_cell), so that its
 * cell follows in the same commit, like any other segment.
 *
 * Methods:
 *	- ntile: equal-count bins, as ntile(bins) OVER (ORDER BY value, key)
 *	  (recency ordered descending).  A bin's edge is its last (value, key)
 *	  pair in that order; a customer is in the first bin whose edge it does
 *	  not come after, so a customer scored at the refresh scores the same
 *	  against the edges.
 *	- quantile: the edges are the type-7 quantiles of the values at
 *	  1/bins .. (bins-1)/bins (percentile_cont); a value is in bin k when
 *	  edge(k-1) < value <= edge(k), so ties share a bin.  Recency scores
 *	  bins + 1 - bin.
 *
 * Recency is in whole days from the last purchase to the reference time
 * (the model's as_of, or the reference time of the refresh), at least 0.
 *
 * IDENTIFICATION
 *	  src/rfm.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(segment_rfm_cell);
PG_FUNCTION_INFO_V1(segment_rfm_score);
PG_FUNCTION_INFO_V1(segment_rfm_refresh_scores);

extern Datum segment_reference_time(PG_FUNCTION_ARGS);

#define RFM_R	0
#define RFM_F	1
#define RFM_M	2

typedef struct RfmModel
{
	char	   *name;
	Oid			owner;
	Oid			source;
	int			bins;
	bool		quantile;
	bool		has_as_of;
	TimestampTz as_of;
	TimestampTz reference;		/* recency is measured to this */
	int			nedges[3];
	double	   *edges[3];
	int64	   *keys[3];		/* ntile: the edge's customer */
	int			ncells;
	char	  **labels;
	int32	   *bounds;			/* 6 per cell: r, f, m low and high */
} RfmModel;

/* Models loaded by this backend, while the catalog does not change */
static LiveNamedCache models = {"RFM model"};

static int64 *
int8_array(Datum d, int *n)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	int64	   *result;

	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, n);
	result = palloc(Max(*n, 1) * sizeof(int64));
	for (int i = 0; i < *n; i++)
		result[i] = nulls[i] ? 0 : DatumGetInt64(elems[i]);
	return result;
}

/*
 * The model named, as stored: loaded once per catalog version.
 */
static RfmModel *
get_model(const char *name)
{
	RfmModel   *model = LiveNamedCacheFind(&models, name);
	SegmentCatalogSave save;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			n;

	if (model != NULL)
		return model;
	tup = LiveNamedCacheRead(&models,
							 "SELECT m.bins, m.method, m.as_of, m.reference_time,"
							 " m.r_edges, m.r_keys, m.f_edges, m.f_keys, m.m_edges, m.m_keys,"
							 " m.cells, m.bounds, f.owner::oid, f.source::oid"
							 " FROM segment.rfm_models m JOIN segment.families f USING (name)"
							 " WHERE m.name OPERATOR(pg_catalog.=) $1", name, &save);
	desc = SPI_tuptable->tupdesc;

	model = palloc0(sizeof(RfmModel));
	model->name = pstrdup(name);
	model->bins = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	model->quantile = strcmp(TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull)),
							 "quantile") == 0;
	model->as_of = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
	model->has_as_of = !isnull;
	model->reference = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
	if (isnull)
		model->reference = model->has_as_of ? model->as_of : GetCurrentTransactionStartTimestamp();
	for (int d = 0; d < 3; d++)
	{
		int			nk;

		model->edges[d] = LiveFloat8Array(SPI_getbinval(tup, desc, 5 + 2 * d, &isnull), 0.0,
										  &model->nedges[d]);
		model->keys[d] = int8_array(SPI_getbinval(tup, desc, 6 + 2 * d, &isnull), &nk);
		if (!model->quantile && nk != model->nedges[d])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("RFM model \"%s\" has edges without their customers", name)));
	}
	{
		ArrayType  *arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 11, &isnull));
		Datum	   *elems;
		int32	   *bounds;
		int			nb;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &n);
		model->ncells = n;
		model->labels = palloc(Max(n, 1) * sizeof(char *));
		for (int i = 0; i < n; i++)
			model->labels[i] = TextDatumGetCString(elems[i]);
		arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 12, &isnull));
		deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, NULL, &nb);
		if (nb != 6 * n)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("RFM model \"%s\" has %d bounds for %d cells", name, nb, n)));
		bounds = palloc(Max(nb, 1) * sizeof(int32));
		for (int i = 0; i < nb; i++)
			bounds[i] = DatumGetInt32(elems[i]);
		model->bounds = bounds;
	}
	model->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 13, &isnull));
	model->source = DatumGetObjectId(SPI_getbinval(tup, desc, 14, &isnull));
	LiveNamedCacheAdd(&models, name, model, &save);
	return model;
}

/* Whole days from last to the reference, at least 0. */
static int32
recency_days(TimestampTz reference, TimestampTz last)
{
	double		days = floor(((double) reference - (double) last) / (double) USECS_PER_DAY);

	return days < 0 ? 0 : (days > INT32_MAX ? INT32_MAX : (int32) days);
}

/* The bin of a value among kept edges. */
static int
bin_of(const RfmModel *model, int dim, double v, int64 key)
{
	int			bin = 1;
	int			n = model->nedges[dim];
	const double *e = model->edges[dim];
	const int64 *k = model->keys[dim];

	for (int i = 0; i < n; i++)
	{
		bool		after;

		if (model->quantile)
			after = v > e[i];
		else if (dim == RFM_R)
			after = v < e[i] || (v == e[i] && key > k[i]);
		else
			after = v > e[i] || (v == e[i] && key > k[i]);
		if (after)
			bin++;
	}
	return bin;
}

/* Scores 1..bins: recency reversed for quantiles (ntile orders it so). */
static void
score(const RfmModel *model, int64 key, int32 recency, double frequency, double monetary,
	  int *r, int *f, int *m)
{
	*r = bin_of(model, RFM_R, (double) recency, key);
	if (model->quantile)
		*r = model->bins + 1 - *r;
	*f = bin_of(model, RFM_F, frequency, key);
	*m = bin_of(model, RFM_M, monetary, key);
}

/* The first cell of the map the scores fall in, else "others". */
static const char *
cell_of(const RfmModel *model, int r, int f, int m)
{
	for (int i = 0; i < model->ncells; i++)
	{
		const int32 *b = &model->bounds[6 * i];

		if (r >= b[0] && r <= b[1] && f >= b[2] && f <= b[3] && m >= b[4] && m <= b[5])
			return model->labels[i];
	}
	return "others";
}

/*
 * segment._rfm_cell(model text, key bigint, last timestamptz,
 *					 frequency bigint, monetary float8) RETURNS text:
 * the cell of a customer scored against the model's kept edges; NULL
 * without a purchase.
 */
Datum
segment_rfm_cell(PG_FUNCTION_ARGS)
{
	RfmModel   *model;
	int			r,
				f,
				m;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) ||
		PG_GETARG_INT64(3) <= 0)
		PG_RETURN_NULL();
	model = get_model(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	score(model, PG_GETARG_INT64(1),
		  recency_days(model->reference, PG_GETARG_TIMESTAMPTZ(2)),
		  (double) PG_GETARG_INT64(3),
		  PG_ARGISNULL(4) ? 0.0 : PG_GETARG_FLOAT8(4), &r, &f, &m);
	PG_RETURN_TEXT_P(cstring_to_text(cell_of(model, r, f, m)));
}

/*
 * segment._rfm_score(model, key, last, frequency, monetary,
 *					  OUT recency integer, OUT r integer, OUT f integer,
 *					  OUT m integer, OUT cell text): for rfm_scores().
 */
Datum
segment_rfm_score(PG_FUNCTION_ARGS)
{
	RfmModel   *model;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	int			r,
				f,
				m;
	int32		recency;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) ||
		PG_GETARG_INT64(3) <= 0)
		PG_RETURN_NULL();
	model = get_model(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	recency = recency_days(model->reference, PG_GETARG_TIMESTAMPTZ(2));
	score(model, PG_GETARG_INT64(1), recency, (double) PG_GETARG_INT64(3),
		  PG_ARGISNULL(4) ? 0.0 : PG_GETARG_FLOAT8(4), &r, &f, &m);
	values[0] = Int32GetDatum(recency);
	values[1] = Int32GetDatum(r);
	values[2] = Int32GetDatum(f);
	values[3] = Int32GetDatum(m);
	values[4] = CStringGetTextDatum(cell_of(model, r, f, m));
	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * The refresh: every scored customer, streamed into arrays.
 */
typedef struct RfmRows
{
	int64		n;
	int64		max;
	uint32	   *keys;
	double	   *values[3];
} RfmRows;

typedef struct RfmRowsArg
{
	RfmRows    *rows;
	TimestampTz reference;
	MemoryContext context;		/* the rows outlive the query */
} RfmRowsArg;

static void
collect_row(TupleTableSlot *slot, void *arg)
{
	RfmRowsArg *a = (RfmRowsArg *) arg;
	RfmRows    *rows = a->rows;
	bool		isnull;
	uint32		key = LiveSlotKey(slot, 0, &isnull);

	if (isnull || slot->tts_isnull[1] || slot->tts_isnull[2])
		return;
	if (rows->n == rows->max)
	{
		rows->max = rows->max == 0 ? 1024 : rows->max * 2;
		rows->keys = rows->keys == NULL
			? MemoryContextAllocHuge(a->context, rows->max * sizeof(uint32))
			: repalloc_huge(rows->keys, rows->max * sizeof(uint32));
		for (int d = 0; d < 3; d++)
			rows->values[d] = rows->values[d] == NULL
				? MemoryContextAllocHuge(a->context, rows->max * sizeof(double))
				: repalloc_huge(rows->values[d], rows->max * sizeof(double));
	}
	rows->keys[rows->n] = key;
	rows->values[RFM_R][rows->n] = recency_days(a->reference,
												DatumGetTimestampTz(slot->tts_values[1]));
	rows->values[RFM_F][rows->n] = DatumGetFloat8(slot->tts_values[2]);
	rows->values[RFM_M][rows->n] = slot->tts_isnull[3] ? 0.0 : DatumGetFloat8(slot->tts_values[3]);
	rows->n++;
	CHECK_FOR_INTERRUPTS();
}

/* Sorting row indexes by (value, key), one dimension at a time. */
typedef struct SortArg
{
	const double *values;
	const uint32 *keys;
	bool		descending;
} SortArg;

static int
compare_rows(const void *a, const void *b, void *arg)
{
	const SortArg *s = (const SortArg *) arg;
	int64		i = *(const int64 *) a;
	int64		j = *(const int64 *) b;
	double		x = s->values[i];
	double		y = s->values[j];

	if (x != y)
		return (s->descending ? (x < y) : (x > y)) ? 1 : -1;
	return (s->keys[i] > s->keys[j]) - (s->keys[i] < s->keys[j]);
}

/*
 * Bins of one dimension, as ntile(bins) OVER (ORDER BY value, key): the
 * first N % bins bins have one row more; with fewer rows than bins, one
 * row each.  Edges: each non-last bin's last (value, key).
 */
static void
ntile_bins(RfmRows *rows, int dim, int bins, int *bin, double **edges, int64 **edge_keys,
		   int *nedges)
{
	int64		n = rows->n;
	int64	   *order = palloc_extended(Max(n, 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	SortArg		arg = {rows->values[dim], rows->keys, dim == RFM_R};
	int64		per = n / bins;
	int64		extra = n % bins;
	int			used = n < bins ? (int) n : bins;

	for (int64 i = 0; i < n; i++)
		order[i] = i;
	qsort_arg(order, n, sizeof(int64), compare_rows, &arg);

	*nedges = Max(used - 1, 0);
	*edges = palloc(Max(*nedges, 1) * sizeof(double));
	*edge_keys = palloc(Max(*nedges, 1) * sizeof(int64));
	for (int64 p = 0; p < n; p++)
	{
		int			b;

		if (n < bins)
			b = (int) p + 1;
		else if (p < extra * (per + 1))
			b = (int) (p / (per + 1)) + 1;
		else
			b = (int) (extra + (p - extra * (per + 1)) / per) + 1;
		bin[order[p]] = b;
		/* rows come in order: the last written is the bin's last row */
		if (b < used)
		{
			(*edges)[b - 1] = rows->values[dim][order[p]];
			(*edge_keys)[b - 1] = rows->keys[order[p]];
		}
	}
	pfree(order);
}

static int
compare_doubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * Bins of one dimension by type-7 quantiles (percentile_cont): edge j at
 * probability j / bins; a value is in bin 1 + #edges below it.
 */
static void
quantile_bins(RfmRows *rows, int dim, int bins, int *bin, double **edges, int *nedges)
{
	int64		n = rows->n;
	double	   *sorted = palloc_extended(Max(n, 1) * sizeof(double), MCXT_ALLOC_HUGE);

	memcpy(sorted, rows->values[dim], n * sizeof(double));
	qsort(sorted, n, sizeof(double), compare_doubles);
	*nedges = n == 0 ? 0 : bins - 1;
	*edges = palloc(Max(*nedges, 1) * sizeof(double));
	for (int j = 1; j <= *nedges; j++)
	{
		double		h = (double) (n - 1) * j / bins;
		int64		lo = (int64) floor(h);

		(*edges)[j - 1] = lo + 1 < n ? sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo])
			: sorted[lo];
	}
	for (int64 i = 0; i < n; i++)
	{
		int			b = 1;

		for (int j = 0; j < *nedges; j++)
			if (rows->values[dim][i] > (*edges)[j])
				b++;
		bin[i] = b;
	}
	pfree(sorted);
}

static Datum
float8_datum_array(const double *v, int n)
{
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));

	for (int i = 0; i < n; i++)
		elems[i] = Float8GetDatum(v[i]);
	return PointerGetDatum(construct_array(elems, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
int8_datum_array(const int64 *v, int n)
{
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* An event column as timestamptz, days and times without zone in UTC. */
static char *
at_utc(const char *expr, Oid type)
{
	if (type == TIMESTAMPTZOID)
		return pstrdup(expr);
	if (type == TIMESTAMPOID)
		return psprintf("pg_catalog.timezone('UTC', %s)", expr);
	return psprintf("pg_catalog.timezone('UTC', (%s)::pg_catalog.timestamp)", expr);
}

/*
 * segment._rfm_refresh_scores(model text) RETURNS SETOF (segment, entered,
 * exited): score every customer with a purchase, keep the edges, and make
 * the cells' membership.  One pass over the events: the bins are computed
 * here, not by window functions.
 */
Datum
segment_rfm_refresh_scores(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	LiveCatalog *cat = LiveFullBegin();
	RfmModel   *model = get_model(name);
	LiveSource *src = LiveCatalogSource(cat, model->source);
	RfmRows		rows = {0};
	RfmRowsArg	arg;
	StringInfoData sql;
	int		   *bins[3];
	double	   *edges[3];
	int64	   *edge_keys[3] = {NULL, NULL, NULL};
	int			nedges[3];
	uint32	  **cell_keys;
	int64	   *cell_n;
	char	  **names;
	SegmentData **fresh;
	int			ncells = model->ncells + 1;
	List	   *changes;

	if (src->amount == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("event table of RFM model \"%s\" has no amount column", name)));
	arg.rows = &rows;
	arg.context = CurrentMemoryContext;
	arg.reference = model->has_as_of ? model->as_of
		: DatumGetTimestampTz(DirectFunctionCall1(segment_reference_time, (Datum) 0));

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT c.%s, t.last, t.frequency, t.monetary FROM ONLY %s AS c"
					 " JOIN (SELECT e.%s AS k, %s AS last, pg_catalog.count(*)::pg_catalog.float8 AS frequency,"
					 " pg_catalog.sum(e.%s)::pg_catalog.numeric::pg_catalog.float8 AS monetary"
					 " FROM ONLY %s AS e WHERE e.%s IS NOT NULL",
					 cat->key, cat->customers_sql, src->customer,
					 at_utc(psprintf("pg_catalog.max(e.%s)", src->at), src->at_type),
					 src->amount, src->relname, src->amount);
	if (model->has_as_of)
		appendStringInfo(&sql, " AND %s OPERATOR(pg_catalog.<=) %s",
						 at_utc(psprintf("e.%s", src->at), src->at_type),
						 quote_literal_cstr(DatumGetCString(DirectFunctionCall1(timestamptz_out,
																				TimestampTzGetDatum(model->as_of)))));
	appendStringInfo(&sql, " GROUP BY e.%s) AS t ON t.k OPERATOR(pg_catalog.=) c.%s",
					 src->customer, cat->key);
	LiveQuery(sql.data, model->owner, InvalidOid, (Datum) 0, collect_row, &arg);

	for (int d = 0; d < 3; d++)
	{
		bins[d] = palloc_extended(Max(rows.n, 1) * sizeof(int), MCXT_ALLOC_HUGE);
		if (model->quantile)
			quantile_bins(&rows, d, model->bins, bins[d], &edges[d], &nedges[d]);
		else
			ntile_bins(&rows, d, model->bins, bins[d], &edges[d], &edge_keys[d], &nedges[d]);
		CHECK_FOR_INTERRUPTS();
	}

	/* cells: each customer in the first that its scores fall in */
	cell_keys = palloc0(ncells * sizeof(uint32 *));
	cell_n = palloc0(ncells * sizeof(int64));
	for (int c = 0; c < ncells; c++)
		cell_keys[c] = palloc_extended(Max(rows.n, 1) * sizeof(uint32), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < rows.n; i++)
	{
		int			r = model->quantile ? model->bins + 1 - bins[RFM_R][i] : bins[RFM_R][i];
		int			c = 0;
		const char *label = cell_of(model, r, bins[RFM_F][i], bins[RFM_M][i]);

		while (c < model->ncells && model->labels[c] != label)
			c++;
		cell_keys[c][cell_n[c]++] = rows.keys[i];
	}
	names = palloc(ncells * sizeof(char *));
	fresh = palloc(ncells * sizeof(SegmentData *));
	for (int c = 0; c < ncells; c++)
	{
		size_t		n;

		names[c] = psprintf("%s:%s", name, c < model->ncells ? model->labels[c] : "others");
		cell_keys[c] = SegmentSortKeys(cell_keys[c], cell_n[c], &n);
		fresh[c] = SegmentFromSortedKeys(cell_keys[c], n);
	}

	/* keep the edges, then make the cells' membership */
	{
		SegmentCatalogSave save;
		Oid			argtypes[9] = {TEXTOID, TIMESTAMPTZOID, INT8OID,
		FLOAT8ARRAYOID, INT8ARRAYOID, FLOAT8ARRAYOID, INT8ARRAYOID, FLOAT8ARRAYOID, INT8ARRAYOID};
		Datum		args[9];
		SPIPlanPtr	plan;

		args[0] = CStringGetTextDatum(name);
		args[1] = TimestampTzGetDatum(arg.reference);
		args[2] = Int64GetDatum(rows.n);
		for (int d = 0; d < 3; d++)
		{
			args[3 + 2 * d] = float8_datum_array(edges[d], nedges[d]);
			args[4 + 2 * d] = int8_datum_array(edge_keys[d], model->quantile ? 0 : nedges[d]);
		}
		SegmentCatalogBegin(&save);
		plan = SPI_prepare("UPDATE segment.rfm_models SET reference_time = $2, customers = $3,"
						   " r_edges = $4, r_keys = $5, f_edges = $6, f_keys = $7,"
						   " m_edges = $8, m_keys = $9 WHERE name OPERATOR(pg_catalog.=) $1",
						   9, argtypes);
		if (plan == NULL || SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "keeping the edges of RFM model \"%s\" failed", name);
		SegmentCatalogEnd(&save);
		/* the edges just written are the ones to score against */
		CommandCounterIncrement();
	}
	changes = LiveApplyFull(cat, names, fresh, ncells);
	LiveFullEnd(cat);
	LiveReturnChanges(fcinfo, changes);
	return (Datum) 0;
}
