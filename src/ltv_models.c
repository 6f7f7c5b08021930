/*-------------------------------------------------------------------------
 *
 * ltv_models.c
 *	  Customer lifetime value models: the BG/NBD model of purchase counts
 *	  and the Gamma-Gamma model of spend, fitted by maximum likelihood in
 *	  aggregates, and the predictions made from them.
 *
 * The aggregates keep their rows (three or two float8 a row) and fit in the
 * final function.  Customers with the same summary contribute the same
 * likelihood term, so the rows are first sorted and identical ones merged
 * into one weighted term; sorted by x, the terms that depend only on x and
 * the parameters are also computed once per distinct x.
 *
 * The fit minimises the negative mean log-likelihood over the logarithms
 * of the parameters, so that every trial point is valid, with BFGS and the
 * analytic gradient.  Times (and amounts) are divided by their mean first,
 * which makes the start (all parameters 1) sensible whatever the unit and
 * lets one bound on the log-parameters detect divergence.  A fit whose
 * parameters run off towards 0 or infinity (the data cannot identify the
 * model) is an error, as is one that does not converge: no NaN or infinite
 * parameter is ever returned.
 *
 * Sources: P. S. Fader, B. G. S. Hardie and K. L. Lee, "Counting your
 * customers the easy way: an alternative to the Pareto/NBD model",
 * Marketing Science 24(2), 2005 (the BG/NBD model, its likelihood, eq. 6,
 * and its conditional expectation, eq. 10); B. G. S. Hardie, "Computing
 * P(alive) using the BG/NBD model" (note 021); P. S. Fader and
 * B. G. S. Hardie, "The Gamma-Gamma model of monetary value" (note 025).
 *
 * IDENTIFICATION
 *	  src/ltv_models.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "ltv.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(bgnbd_fit_trans);
PG_FUNCTION_INFO_V1(bgnbd_fit_final);
PG_FUNCTION_INFO_V1(gammagamma_fit_trans);
PG_FUNCTION_INFO_V1(gammagamma_fit_final);
PG_FUNCTION_INFO_V1(ltv_fit_combine);
PG_FUNCTION_INFO_V1(ltv_fit_serialize);
PG_FUNCTION_INFO_V1(ltv_fit_deserialize);
PG_FUNCTION_INFO_V1(bgnbd_expected_purchases);
PG_FUNCTION_INFO_V1(bgnbd_p_alive);
PG_FUNCTION_INFO_V1(bgnbd_expected_unconditional);
PG_FUNCTION_INFO_V1(gammagamma_expected_spend);
PG_FUNCTION_INFO_V1(ltv_clv);

/*
 * Fewest customers a fit accepts (for Gamma-Gamma: customers with x > 0).
 * Four or three parameters are not identified by a handful of customers;
 * ten is a floor against mistakes, not a guarantee of a useful fit.
 */
#define BGNBD_MIN_CUSTOMERS			10
#define GAMMAGAMMA_MIN_CUSTOMERS	10

/* Optimiser limits. */
#define FIT_MAX_ITER		1000	/* BFGS iterations per start */
#define FIT_FTOL			1e-12	/* relative change of the objective */
#define FIT_GTOL			1e-7	/* gradient, per customer, in log-space */
#define FIT_GTOL_LOOSE		1e-4	/* accepted when no step decreases f */
#define FIT_FLAT_ITER		5		/* ... or none has for this many iterations */
#define FIT_MAX_STEP		2.0		/* largest change of a log-parameter */
#define FIT_LOG_RUNAWAY		13.815510557964274	/* log(1e6): stop, diverging */
#define FIT_LOG_ACCEPT		9.2103403719761836	/* log(1e4): largest accepted */
#define FIT_MAX_PARAMS		4

/* Hypergeometric series: relative accuracy and most terms. */
#define HYP_EPS				1e-15
#define HYP_MAX_TERMS		10000000

/* Identifies the aggregate that built a state. */
#define LTV_BGNBD			3	/* rows of (x, t_x, T) */
#define LTV_GAMMAGAMMA		2	/* rows of (x, m) */

/*
 * Aggregate state: the rows, ncols float8 each.  Gamma-Gamma keeps only the
 * rows with x > 0 and counts the others, so that "no repeat customer" can
 * be told apart from "no row".
 */
typedef struct LtvFitState
{
	int32		ncols;			/* LTV_BGNBD or LTV_GAMMAGAMMA */
	int64		nrows;			/* rows kept */
	int64		maxrows;		/* allocated */
	int64		nskipped;		/* Gamma-Gamma rows with x = 0 */
	float8	   *rows;			/* nrows * ncols values */
} LtvFitState;

/* Serialized state: this header, then the rows. */
typedef struct LtvFitStateHeader
{
	int32		ncols;
	int32		unused;
	int64		nrows;
	int64		nskipped;
} LtvFitStateHeader;

/* Data of a fit: identical rows merged into weighted terms, sorted by x. */
typedef struct BgnbdData
{
	int			n;				/* distinct (x, t_x, T) */
	double	   *x;
	double	   *tx;
	double	   *T;
	double	   *w;				/* customers with this summary */
	double		total;			/* customers */
	double		scale;			/* times were divided by this */
} BgnbdData;

typedef struct GammaGammaData
{
	int			n;				/* distinct (x, m) */
	double	   *x;
	double	   *m;
	double	   *logm;
	double	   *xlogx;
	double	   *w;
	double		total;
	double		scale;			/* amounts were divided by this */
} GammaGammaData;

/* Negative mean log-likelihood and its gradient in log-parameters. */
typedef double (*LtvObjective) (const double *theta, double *grad, const void *data);

typedef enum FitStatus
{
	FIT_CONVERGED,
	FIT_DIVERGED,				/* a log-parameter left the accepted range */
	FIT_MAX_ITERATIONS,
	FIT_STALLED					/* no descent, gradient not small */
} FitStatus;

typedef struct FitResult
{
	FitStatus	status;
	double		theta[FIT_MAX_PARAMS];
	double		f;
	int			diverged;		/* index of the parameter that diverged */
	int			iterations;
} FitResult;

/*
 * Digamma function, for x > 0: the recurrence up to 10, then the
 * asymptotic series (absolute error below 1e-13).
 */
static double
digamma(double x)
{
	double		result = 0.0;
	double		f;

	while (x < 10.0)
	{
		result -= 1.0 / x;
		x += 1.0;
	}
	f = 1.0 / (x * x);
	result += log(x) - 0.5 / x
		- f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
	return result;
}

/* Shortest exact text of a float8, for messages. */
static char *
fmt(double v)
{
	return float8out_internal(v);
}

static MemoryContext
aggregate_context(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext aggctx;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "%s called in non-aggregate context", fname);
	return aggctx;
}

/*
 * Input checks, shared by the aggregates and the prediction functions.
 */
static void
check_x(double x)
{
	if (isnan(x) || isinf(x) || x < 0.0 || x != floor(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid x %s: must be a non-negative integer", fmt(x)),
				 errdetail("x is the number of repeat purchases (purchase periods after the first).")));
}

static void
check_bgnbd_row(double x, double tx, double T)
{
	check_x(x);
	if (isnan(T) || isinf(T) || T < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid T %s: must be finite and non-negative", fmt(T)),
				 errdetail("Row values: x = %s, t_x = %s, T = %s.", fmt(x), fmt(tx), fmt(T))));
	if (isnan(tx) || isinf(tx) || tx < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid t_x %s: must be finite and non-negative", fmt(tx)),
				 errdetail("Row values: x = %s, t_x = %s, T = %s.", fmt(x), fmt(tx), fmt(T))));
	if (tx > T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid t_x %s: greater than T %s", fmt(tx), fmt(T)),
				 errdetail("Row values: x = %s, t_x = %s, T = %s.", fmt(x), fmt(tx), fmt(T)),
				 errhint("t_x is the time of the last repeat purchase and T the length of observation, both from the first purchase.")));
	if (x > 0.0 && tx <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid t_x %s: must be positive when x is %s", fmt(tx), fmt(x)),
				 errdetail("Row values: x = %s, t_x = %s, T = %s.", fmt(x), fmt(tx), fmt(T)),
				 errhint("Purchases on the day of the first purchase are not repeat purchases.")));
	if (x == 0.0 && tx != 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid t_x %s: must be 0 when x is 0", fmt(tx)),
				 errdetail("Row values: x = %s, t_x = %s, T = %s.", fmt(x), fmt(tx), fmt(T))));
}

static void
check_amount(double x, double m)
{
	if (isnan(m) || isinf(m) || m <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid m %s: must be finite and positive when x is %s", fmt(m), fmt(x)),
				 errdetail("Row values: x = %s, m = %s.", fmt(x), fmt(m)),
				 errhint("m is the mean amount of the repeat purchases.")));
}

/*
 * Aggregate state
 */
static LtvFitState *
state_create(MemoryContext context, int ncols)
{
	LtvFitState *state = MemoryContextAllocZero(context, sizeof(LtvFitState));

	state->ncols = ncols;
	return state;
}

/* Room for nmore rows; allocated in the state's (aggregate) context. */
static void
state_reserve(MemoryContext context, LtvFitState *state, int64 nmore)
{
	int64		need = state->nrows + nmore;
	int64		newmax;

	if (need <= state->maxrows)
		return;
	newmax = Max(state->maxrows * 2, 64);
	while (newmax < need)
		newmax *= 2;
	if ((Size) newmax * state->ncols > MaxAllocHugeSize / sizeof(float8))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many rows for a lifetime value model fit")));
	if (state->rows == NULL)
		state->rows = MemoryContextAllocHuge(context,
											 (Size) newmax * state->ncols * sizeof(float8));
	else
		state->rows = repalloc_huge(state->rows,
									(Size) newmax * state->ncols * sizeof(float8));
	state->maxrows = newmax;
}

/*
 * bgnbd_fit(x, t_x, T): transition.  Rows with a NULL are skipped.
 */
Datum
bgnbd_fit_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "bgnbd_fit_trans");
	LtvFitState *state = PG_ARGISNULL(0) ? NULL : (LtvFitState *) PG_GETARG_POINTER(0);
	double		x,
				tx,
				T;
	float8	   *row;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	x = PG_GETARG_FLOAT8(1);
	tx = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	check_bgnbd_row(x, tx, T);

	if (state == NULL)
		state = state_create(aggctx, LTV_BGNBD);
	state_reserve(aggctx, state, 1);
	row = state->rows + state->nrows * LTV_BGNBD;
	/* normalise -0 so that equal rows compare equal */
	row[0] = x + 0.0;
	row[1] = tx + 0.0;
	row[2] = T + 0.0;
	state->nrows++;
	PG_RETURN_POINTER(state);
}

/*
 * gammagamma_fit(x, m): transition.  Rows with a NULL are skipped; rows
 * with x = 0 carry no spend information and are only counted.
 */
Datum
gammagamma_fit_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "gammagamma_fit_trans");
	LtvFitState *state = PG_ARGISNULL(0) ? NULL : (LtvFitState *) PG_GETARG_POINTER(0);
	double		x,
				m;
	float8	   *row;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	x = PG_GETARG_FLOAT8(1);
	m = PG_GETARG_FLOAT8(2);
	check_x(x);

	if (state == NULL)
		state = state_create(aggctx, LTV_GAMMAGAMMA);
	if (x == 0.0)
	{
		state->nskipped++;
		PG_RETURN_POINTER(state);
	}
	check_amount(x, m);
	state_reserve(aggctx, state, 1);
	row = state->rows + state->nrows * LTV_GAMMAGAMMA;
	row[0] = x;
	row[1] = m;
	state->nrows++;
	PG_RETURN_POINTER(state);
}

Datum
ltv_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "ltv_fit_combine");
	LtvFitState *s1 = PG_ARGISNULL(0) ? NULL : (LtvFitState *) PG_GETARG_POINTER(0);
	LtvFitState *s2 = PG_ARGISNULL(1) ? NULL : (LtvFitState *) PG_GETARG_POINTER(1);

	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = state_create(aggctx, s2->ncols);
	else if (s1->ncols != s2->ncols)
		elog(ERROR, "ltv_fit_combine: states of different aggregates");
	if (s2->nrows > 0)
	{
		state_reserve(aggctx, s1, s2->nrows);
		memcpy(s1->rows + s1->nrows * s1->ncols, s2->rows,
			   (Size) s2->nrows * s2->ncols * sizeof(float8));
		s1->nrows += s2->nrows;
	}
	s1->nskipped += s2->nskipped;
	PG_RETURN_POINTER(s1);
}

Datum
ltv_fit_serialize(PG_FUNCTION_ARGS)
{
	LtvFitState *state = (LtvFitState *) PG_GETARG_POINTER(0);
	LtvFitStateHeader hdr;
	Size		datalen = (Size) state->nrows * state->ncols * sizeof(float8);
	Size		len = VARHDRSZ + sizeof(hdr) + datalen;
	bytea	   *result;

	(void) aggregate_context(fcinfo, "ltv_fit_serialize");
	if (len > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many rows to pass a lifetime value model fit between parallel workers"),
				 errhint("Disable parallel query for this statement (SET max_parallel_workers_per_gather = 0).")));
	memset(&hdr, 0, sizeof(hdr));
	hdr.ncols = state->ncols;
	hdr.nrows = state->nrows;
	hdr.nskipped = state->nskipped;

	result = palloc(len);
	SET_VARSIZE(result, len);
	memcpy(VARDATA(result), &hdr, sizeof(hdr));
	if (datalen > 0)
		memcpy(VARDATA(result) + sizeof(hdr), state->rows, datalen);
	PG_RETURN_BYTEA_P(result);
}

Datum
ltv_fit_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = aggregate_context(fcinfo, "ltv_fit_deserialize");
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const char *data = VARDATA_ANY(b);
	Size		len = VARSIZE_ANY_EXHDR(b);
	LtvFitStateHeader hdr;
	LtvFitState *state;

	if (len < sizeof(hdr))
		elog(ERROR, "ltv_fit_deserialize: truncated state");
	memcpy(&hdr, data, sizeof(hdr));
	if ((hdr.ncols != LTV_BGNBD && hdr.ncols != LTV_GAMMAGAMMA) ||
		hdr.nrows < 0 || hdr.nskipped < 0 ||
		(Size) hdr.nrows > (len - sizeof(hdr)) / sizeof(float8) ||
		len - sizeof(hdr) != (Size) hdr.nrows * hdr.ncols * sizeof(float8))
		elog(ERROR, "ltv_fit_deserialize: corrupted state");

	state = state_create(aggctx, hdr.ncols);
	state->nskipped = hdr.nskipped;
	if (hdr.nrows > 0)
	{
		state_reserve(aggctx, state, hdr.nrows);
		memcpy(state->rows, data + sizeof(hdr),
			   (Size) hdr.nrows * hdr.ncols * sizeof(float8));
		state->nrows = hdr.nrows;
	}
	PG_RETURN_POINTER(state);
}

/*
 * Sorting and merging rows
 */
static int
row_cmp(const void *a, const void *b, void *arg)
{
	const float8 *ra = (const float8 *) a;
	const float8 *rb = (const float8 *) b;
	int			ncols = *(const int *) arg;

	for (int i = 0; i < ncols; i++)
	{
		if (ra[i] < rb[i])
			return -1;
		if (ra[i] > rb[i])
			return 1;
	}
	return 0;
}

/*
 * A sorted copy of the state's rows, in the current memory context: the
 * final function may run more than once on a state (window aggregates), so
 * the state is left as it is.  Returns the number of distinct rows written
 * to *distinct (ncols values each) and their counts to *weights.
 */
static int
state_distinct_rows(const LtvFitState *state, float8 **distinct, double **weights)
{
	int			ncols = state->ncols;
	float8	   *rows;
	float8	   *out;
	double	   *w;
	int64		nout = 0;

	rows = palloc_extended((Size) state->nrows * ncols * sizeof(float8), MCXT_ALLOC_HUGE);
	memcpy(rows, state->rows, (Size) state->nrows * ncols * sizeof(float8));
	qsort_arg(rows, state->nrows, ncols * sizeof(float8), row_cmp, &ncols);

	/* merged in place: out trails the read position */
	out = rows;
	w = palloc_extended((Size) state->nrows * sizeof(double), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < state->nrows; i++)
	{
		const float8 *row = rows + i * ncols;

		if (nout > 0 && row_cmp(out + (nout - 1) * ncols, row, &ncols) == 0)
			w[nout - 1] += 1.0;
		else
		{
			memmove(out + nout * ncols, row, ncols * sizeof(float8));
			w[nout] = 1.0;
			nout++;
		}
	}
	if (nout > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct customer summaries for a lifetime value model fit")));
	*distinct = out;
	*weights = w;
	return (int) nout;
}

/*
 * BFGS on a smooth objective of log-parameters, from theta0.
 *
 * Backtracking (Armijo) line search, each step capped at FIT_MAX_STEP in
 * every coordinate; the inverse Hessian approximation is reset to the
 * identity whenever it stops giving a descent direction.  Converged when
 * the objective changes by less than FIT_FTOL relatively and the gradient
 * is below FIT_GTOL, or when the gradient is below FIT_GTOL_LOOSE and no
 * step decreases the objective any more, or none has by more than
 * FIT_FTOL for FIT_FLAT_ITER iterations (the optimum is as precise as
 * floating point allows: steps that rounding lets through change nothing).
 */
static void
bfgs_minimise(LtvObjective fn, const void *data, int np,
			  const double *theta0, FitResult *res)
{
	double		theta[FIT_MAX_PARAMS],
				g[FIT_MAX_PARAMS],
				H[FIT_MAX_PARAMS][FIT_MAX_PARAMS],
				d[FIT_MAX_PARAMS],
				tnew[FIT_MAX_PARAMS],
				gnew[FIT_MAX_PARAMS],
				s[FIT_MAX_PARAMS],
				y[FIT_MAX_PARAMS];
	double		f;
	bool		fresh = true;	/* H is the identity */
	bool		scaled = false;
	int			flat = 0;		/* iterations in a row that changed f by nothing */

	memcpy(theta, theta0, np * sizeof(double));
	for (int i = 0; i < np; i++)
		for (int j = 0; j < np; j++)
			H[i][j] = (i == j) ? 1.0 : 0.0;

	res->status = FIT_MAX_ITERATIONS;
	res->diverged = -1;
	f = fn(theta, g, data);
	if (!isfinite(f))
	{
		res->status = FIT_STALLED;
		res->f = f;
		memcpy(res->theta, theta, np * sizeof(double));
		res->iterations = 0;
		return;
	}

	for (res->iterations = 1; res->iterations <= FIT_MAX_ITER; res->iterations++)
	{
		double		gd = 0.0,
					dmax = 0.0,
					step = 1.0,
					fnew = 0.0,
					gmax = 0.0;
		bool		accepted = false;

		CHECK_FOR_INTERRUPTS();

		for (int i = 0; i < np; i++)
		{
			d[i] = 0.0;
			for (int j = 0; j < np; j++)
				d[i] -= H[i][j] * g[j];
			gd += d[i] * g[i];
		}
		if (!(gd < 0.0))
		{
			/* not a descent direction: restart from steepest descent */
			for (int i = 0; i < np; i++)
			{
				for (int j = 0; j < np; j++)
					H[i][j] = (i == j) ? 1.0 : 0.0;
				d[i] = -g[i];
			}
			gd = 0.0;
			for (int i = 0; i < np; i++)
				gd -= g[i] * g[i];
			fresh = true;
			scaled = false;
			if (gd == 0.0)
			{
				res->status = FIT_CONVERGED;
				break;
			}
		}
		for (int i = 0; i < np; i++)
			dmax = Max(dmax, fabs(d[i]));
		if (dmax > FIT_MAX_STEP)
			step = FIT_MAX_STEP / dmax;

		for (int k = 0; k < 60; k++)
		{
			for (int i = 0; i < np; i++)
				tnew[i] = theta[i] + step * d[i];
			fnew = fn(tnew, gnew, data);
			if (isfinite(fnew) && fnew <= f + 1e-4 * step * gd)
			{
				accepted = true;
				break;
			}
			step *= 0.5;
		}
		if (!accepted)
		{
			if (!fresh)
			{
				/* the approximation may be poor: retry along -g */
				for (int i = 0; i < np; i++)
					for (int j = 0; j < np; j++)
						H[i][j] = (i == j) ? 1.0 : 0.0;
				fresh = true;
				scaled = false;
				continue;
			}
			for (int i = 0; i < np; i++)
				gmax = Max(gmax, fabs(g[i]));
			res->status = (gmax <= FIT_GTOL_LOOSE) ? FIT_CONVERGED : FIT_STALLED;
			break;
		}

		for (int i = 0; i < np; i++)
		{
			s[i] = tnew[i] - theta[i];
			y[i] = gnew[i] - g[i];
			gmax = Max(gmax, fabs(gnew[i]));
		}

		{
			double		df = fabs(f - fnew);
			double		fscale = Max(fabs(fnew), 1.0);

			memcpy(theta, tnew, np * sizeof(double));
			memcpy(g, gnew, np * sizeof(double));
			f = fnew;

			for (int i = 0; i < np; i++)
			{
				if (fabs(theta[i]) > FIT_LOG_RUNAWAY)
				{
					res->status = FIT_DIVERGED;
					res->diverged = i;
					break;
				}
			}
			if (res->status == FIT_DIVERGED)
				break;
			flat = (df <= FIT_FTOL * fscale) ? flat + 1 : 0;
			if (flat > 0 && (gmax <= FIT_GTOL ||
							 (gmax <= FIT_GTOL_LOOSE && flat >= FIT_FLAT_ITER)))
			{
				res->status = FIT_CONVERGED;
				break;
			}
		}

		/* BFGS update of the inverse Hessian, when the curvature allows */
		{
			double		sy = 0.0,
						yy = 0.0,
						ss = 0.0;
			double		Hy[FIT_MAX_PARAMS],
						yHy = 0.0;

			for (int i = 0; i < np; i++)
			{
				sy += s[i] * y[i];
				yy += y[i] * y[i];
				ss += s[i] * s[i];
			}
			if (sy <= 1e-12 * sqrt(ss * yy))
				continue;
			if (!scaled)
			{
				/* Nocedal & Wright (6.20): scale the first approximation */
				for (int i = 0; i < np; i++)
					for (int j = 0; j < np; j++)
						H[i][j] = (i == j) ? sy / yy : 0.0;
				scaled = true;
			}
			for (int i = 0; i < np; i++)
			{
				Hy[i] = 0.0;
				for (int j = 0; j < np; j++)
					Hy[i] += H[i][j] * y[j];
				yHy += y[i] * Hy[i];
			}
			for (int i = 0; i < np; i++)
				for (int j = 0; j < np; j++)
					H[i][j] += ((sy + yHy) * s[i] * s[j]) / (sy * sy)
						- (Hy[i] * s[j] + s[i] * Hy[j]) / sy;
			fresh = false;
		}
	}
	if (res->iterations > FIT_MAX_ITER)
		res->iterations = FIT_MAX_ITER;
	memcpy(res->theta, theta, np * sizeof(double));
	res->f = f;

	/*
	 * Far from the data's scale the likelihood is flat: a parameter that
	 * ends up there, converged or not, is on its way to 0 or infinity.
	 */
	if (res->status == FIT_CONVERGED || res->status == FIT_MAX_ITERATIONS)
	{
		for (int i = 0; i < np; i++)
		{
			if (fabs(theta[i]) > FIT_LOG_ACCEPT)
			{
				res->status = FIT_DIVERGED;
				res->diverged = i;
				break;
			}
		}
	}
}

/*
 * Minimise from each start and keep the best converged result.  Raises the
 * error that says why when no start converged, or when a diverging start
 * found a higher likelihood than every converged one (the maximum is then
 * at infinity, and the converged point only a local maximum).
 */
static void
fit_model(LtvObjective fn, const void *data, int np, const char *model,
		  const char *const *names, const double (*starts)[FIT_MAX_PARAMS],
		  int nstarts, double *theta)
{
	FitResult	best;
	bool		have_best = false;
	FitResult	failed;

	memset(&best, 0, sizeof(best));
	memset(&failed, 0, sizeof(failed));
	failed.status = FIT_CONVERGED;
	for (int s = 0; s < nstarts; s++)
	{
		FitResult	res;

		bfgs_minimise(fn, data, np, starts[s], &res);
		elog(DEBUG1, "%s fit from start %d: status %d after %d iterations, f = %.17g, theta = (%g, %g, %g, %g)",
			 model, s, (int) res.status, res.iterations, res.f,
			 res.theta[0], res.theta[1], res.theta[2], np > 3 ? res.theta[3] : 0.0);
		if (res.status == FIT_CONVERGED)
		{
			if (!have_best || res.f < best.f)
				best = res;
			have_best = true;
		}
		else if (failed.status == FIT_CONVERGED ||
				 (res.status == FIT_DIVERGED &&
				  (failed.status != FIT_DIVERGED || res.f < failed.f)))
			failed = res;		/* a divergence is the most telling failure */
	}
	if (have_best && failed.status == FIT_DIVERGED &&
		failed.f < best.f - 1e-10 * Max(fabs(best.f), 1.0))
		have_best = false;
	if (have_best)
	{
		memcpy(theta, best.theta, np * sizeof(double));
		return;
	}

	switch (failed.status)
	{
		case FIT_DIVERGED:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the %s model cannot be identified from these data", model),
					 errdetail("The maximum likelihood estimate of %s is %s: the fit diverged.",
							   names[failed.diverged],
							   failed.theta[failed.diverged] > 0 ? "infinite" : "zero"),
					 errhint("The data may show no heterogeneity between customers, or too few customers.")));
			break;
		case FIT_MAX_ITERATIONS:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the %s model fit did not converge", model),
					 errdetail("No start converged in %d iterations.", FIT_MAX_ITER)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the %s model fit did not converge", model),
					 errdetail("The likelihood could not be increased further, but its gradient is not zero.")));
			break;
	}
}

/*
 * BG/NBD
 */

/*
 * Negative mean log-likelihood of BG/NBD (Fader, Hardie and Lee 2005,
 * eq. 6) and its gradient in log-parameters, over the scaled data.  The
 * terms that depend on x alone are computed once per run of equal x.
 */
static double
bgnbd_objective(const double *theta, double *grad, const void *arg)
{
	const BgnbdData *data = (const BgnbdData *) arg;
	double		r = exp(theta[0]),
				alpha = exp(theta[1]),
				a = exp(theta[2]),
				b = exp(theta[3]);
	double		ll = 0.0,
				dr = 0.0,
				dalpha = 0.0,
				da = 0.0,
				db = 0.0;
	double		lgr = lgamma(r),
				lgb = lgamma(b),
				lgab = lgamma(a + b),
				psir = digamma(r),
				psib = digamma(b),
				psiab = digamma(a + b),
				loga = log(a),
				logalpha = log(alpha);
	double		cx = -1.0;
	double		A12 = 0.0,
				dr12 = 0.0,
				da12 = 0.0,
				db12 = 0.0,
				logbx1 = 0.0;

	for (int i = 0; i < data->n; i++)
	{
		double		x = data->x[i],
					w = data->w[i];
		double		lT = log(alpha + data->T[i]);
		double		l3 = -(r + x) * lT;

		if (x != cx)
		{
			cx = x;
			A12 = lgamma(r + x) - lgr + r * logalpha
				+ lgab + lgamma(b + x) - lgb - lgamma(a + b + x);
			dr12 = digamma(r + x) - psir + logalpha;
			da12 = psiab - digamma(a + b + x);
			db12 = da12 + digamma(b + x) - psib;
			logbx1 = x > 0 ? log(b + x - 1.0) : 0.0;
		}

		if (x == 0)
		{
			ll += w * (A12 + l3);
			dr += w * (dr12 - lT);
			dalpha += w * (r / alpha - (r + x) / (alpha + data->T[i]));
			da += w * da12;
			db += w * db12;
		}
		else
		{
			double		ltx = log(alpha + data->tx[i]);
			double		l4 = loga - logbx1 - (r + x) * ltx;
			double		mx = Max(l3, l4);
			double		e3 = exp(l3 - mx),
						e4 = exp(l4 - mx);
			double		lse = mx + log(e3 + e4);
			double		w3 = e3 / (e3 + e4),
						w4 = e4 / (e3 + e4);

			ll += w * (A12 + lse);
			dr += w * (dr12 - w3 * lT - w4 * ltx);
			dalpha += w * (r / alpha - w3 * (r + x) / (alpha + data->T[i])
						   - w4 * (r + x) / (alpha + data->tx[i]));
			da += w * (da12 + w4 / a);
			db += w * (db12 - w4 / (b + x - 1.0));
		}
	}

	if (grad != NULL)
	{
		grad[0] = -r * dr / data->total;
		grad[1] = -alpha * dalpha / data->total;
		grad[2] = -a * da / data->total;
		grad[3] = -b * db / data->total;
	}
	return -ll / data->total;
}

static const char *const bgnbd_names[] = {"r", "alpha", "a", "b"};

/*
 * The composite a fit returns: its parameters, the log-likelihood and the
 * number of customers.  Never a NaN or infinite value.
 */
static Datum
fit_result(TupleDesc tupdesc, const char *model, const char *const *names, int np,
		   const double *param, double loglik, int64 n)
{
	Datum		values[FIT_MAX_PARAMS + 2];
	bool		nulls[FIT_MAX_PARAMS + 2] = {0};

	for (int i = 0; i < np; i++)
	{
		if (!isfinite(param[i]) || param[i] <= 0.0)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the %s model fit gave an out-of-range %s", model, names[i])));
		values[i] = Float8GetDatum(param[i]);
	}
	if (!isfinite(loglik))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the %s model fit gave an out-of-range log-likelihood", model)));
	values[np] = Float8GetDatum(loglik);
	values[np + 1] = Int64GetDatum(n);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/*
 * bgnbd_fit(x, t_x, T): final.  Returns segment.bgnbd_model.
 */
Datum
bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	LtvFitState *state;
	TupleDesc	tupdesc;
	float8	   *rows;
	double	   *weights;
	BgnbdData	data;
	double		sumT = 0.0,
				sumx = 0.0;
	double		starts[3][FIT_MAX_PARAMS];
	double		theta[FIT_MAX_PARAMS];
	double		param[4];
	double		loglik;

	(void) aggregate_context(fcinfo, "bgnbd_fit_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (LtvFitState *) PG_GETARG_POINTER(0);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "bgnbd_fit_final: return type must be a row type");

	if (state->nrows < BGNBD_MIN_CUSTOMERS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("too few customers to fit the BG/NBD model"),
				 errdetail_plural("%lld customer was given; at least %d are needed.",
								  "%lld customers were given; at least %d are needed.",
								  (unsigned long) state->nrows,
								  (long long) state->nrows, BGNBD_MIN_CUSTOMERS)));

	memset(&data, 0, sizeof(data));
	data.n = state_distinct_rows(state, &rows, &weights);
	data.x = palloc(data.n * sizeof(double));
	data.tx = palloc(data.n * sizeof(double));
	data.T = palloc(data.n * sizeof(double));
	data.w = weights;
	data.total = (double) state->nrows;
	for (int i = 0; i < data.n; i++)
	{
		data.x[i] = rows[i * 3];
		data.tx[i] = rows[i * 3 + 1];
		data.T[i] = rows[i * 3 + 2];
		sumT += weights[i] * data.T[i];
		sumx += weights[i] * data.x[i];
	}
	if (sumx == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no repeat purchases to fit the BG/NBD model"),
				 errdetail_plural("The %lld customer has x = 0.",
								  "All %lld customers have x = 0.",
								  (unsigned long) state->nrows, (long long) state->nrows),
				 errhint("Without repeat purchases the purchase rate and the dropout cannot be estimated.")));

	/*
	 * In the time unit of one repeat purchase per customer on average, so
	 * that alpha is of the order of r (sumT >= sumx' t_x > 0).
	 */
	data.scale = sumT / sumx;
	for (int i = 0; i < data.n; i++)
	{
		data.tx[i] /= data.scale;
		data.T[i] /= data.scale;
	}

	/*
	 * Three starts, all at the observed purchase rate: all parameters 1 (as
	 * the lifetimes library does), a heterogeneous population with early
	 * dropout, and a nearly homogeneous one with rare dropout.
	 */
	starts[0][0] = starts[0][1] = starts[0][2] = starts[0][3] = 0.0;
	starts[1][0] = starts[1][1] = log(0.25);
	starts[1][2] = log(0.75);
	starts[1][3] = log(2.5);
	starts[2][0] = starts[2][1] = log(5.0);
	starts[2][2] = log(1.0);
	starts[2][3] = log(10.0);
	fit_model(bgnbd_objective, &data, 4, "BG/NBD", bgnbd_names,
			  (const double (*)[FIT_MAX_PARAMS]) starts, 3, theta);

	param[0] = exp(theta[0]);
	param[1] = exp(theta[1]) * data.scale;
	param[2] = exp(theta[2]);
	param[3] = exp(theta[3]);

	/* log-likelihood in the caller's time unit */
	for (int i = 0; i < data.n; i++)
	{
		data.tx[i] *= data.scale;
		data.T[i] *= data.scale;
	}
	data.scale = 1.0;
	theta[1] = log(param[1]);
	loglik = -bgnbd_objective(theta, NULL, &data) * data.total;

	PG_RETURN_DATUM(fit_result(tupdesc, "BG/NBD", bgnbd_names, 4, param, loglik,
							   state->nrows));
}

/*
 * Gamma-Gamma
 */

/*
 * Negative mean log-likelihood of the Gamma-Gamma model (Fader and Hardie,
 * note 025) and its gradient in log-parameters, over the scaled data:
 * for each customer with x > 0 and mean repeat amount m,
 *
 *	 lgamma(px + q) - lgamma(px) - lgamma(q) + q log(gamma)
 *	   + (px - 1) log(m) + px log(x) - (px + q) log(gamma + m x)
 */
static double
gammagamma_objective(const double *theta, double *grad, const void *arg)
{
	const GammaGammaData *data = (const GammaGammaData *) arg;
	double		p = exp(theta[0]),
				q = exp(theta[1]),
				v = exp(theta[2]);
	double		lgq = lgamma(q),
				psiq = digamma(q),
				logv = log(v);
	double		ll = 0.0,
				dp = 0.0,
				dq = 0.0,
				dv = 0.0;
	double		cx = -1.0;
	double		lgx = 0.0,
				psipxq = 0.0,
				psipx = 0.0;

	for (int i = 0; i < data->n; i++)
	{
		double		x = data->x[i],
					w = data->w[i];
		double		px = p * x;
		double		lxmv = log(v + data->m[i] * x);

		if (x != cx)
		{
			cx = x;
			lgx = lgamma(px + q) - lgamma(px) - lgq + q * logv;
			psipxq = digamma(px + q);
			psipx = digamma(px);
		}
		ll += w * (lgx + (px - 1.0) * data->logm[i] + p * data->xlogx[i]
				   - (px + q) * lxmv);
		dp += w * (x * (psipxq - psipx) + x * data->logm[i] + data->xlogx[i]
				   - x * lxmv);
		dq += w * (psipxq - psiq + logv - lxmv);
		dv += w * (q / v - (px + q) / (v + data->m[i] * x));
	}

	if (grad != NULL)
	{
		grad[0] = -p * dp / data->total;
		grad[1] = -q * dq / data->total;
		grad[2] = -v * dv / data->total;
	}
	return -ll / data->total;
}

static const char *const gammagamma_names[] = {"p", "q", "gamma"};

/*
 * gammagamma_fit(x, m): final.  Returns segment.gammagamma_model.
 */
Datum
gammagamma_fit_final(PG_FUNCTION_ARGS)
{
	LtvFitState *state;
	TupleDesc	tupdesc;
	float8	   *rows;
	double	   *weights;
	GammaGammaData data;
	double		summ = 0.0;
	double		starts[3][FIT_MAX_PARAMS];
	double		theta[FIT_MAX_PARAMS];
	double		param[3];
	double		loglik;

	(void) aggregate_context(fcinfo, "gammagamma_fit_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (LtvFitState *) PG_GETARG_POINTER(0);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "gammagamma_fit_final: return type must be a row type");

	if (state->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no repeat purchases to fit the Gamma-Gamma model"),
				 errdetail_plural("The %lld customer has x = 0.",
								  "All %lld customers have x = 0.",
								  (unsigned long) state->nskipped, (long long) state->nskipped),
				 errhint("The Gamma-Gamma model is fitted on the customers with x > 0.")));
	if (state->nrows < GAMMAGAMMA_MIN_CUSTOMERS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("too few customers to fit the Gamma-Gamma model"),
				 errdetail_plural("%lld customer with x > 0 was given; at least %d are needed.",
								  "%lld customers with x > 0 were given; at least %d are needed.",
								  (unsigned long) state->nrows,
								  (long long) state->nrows, GAMMAGAMMA_MIN_CUSTOMERS)));

	memset(&data, 0, sizeof(data));
	data.n = state_distinct_rows(state, &rows, &weights);
	data.x = palloc(data.n * sizeof(double));
	data.m = palloc(data.n * sizeof(double));
	data.logm = palloc(data.n * sizeof(double));
	data.xlogx = palloc(data.n * sizeof(double));
	data.w = weights;
	data.total = (double) state->nrows;
	for (int i = 0; i < data.n; i++)
	{
		data.x[i] = rows[i * 2];
		data.m[i] = rows[i * 2 + 1];
		summ += weights[i] * data.m[i];
	}

	/* in units of the mean amount */
	data.scale = summ / data.total;
	for (int i = 0; i < data.n; i++)
	{
		data.m[i] /= data.scale;
		data.logm[i] = log(data.m[i]);
		data.xlogx[i] = data.x[i] * log(data.x[i]);
	}

	/*
	 * Three starts: all parameters 1 (as the lifetimes library does), and
	 * two with a population mean spend p gamma / (q - 1) equal to the
	 * observed one, less and more homogeneous.
	 */
	starts[0][0] = starts[0][1] = starts[0][2] = 0.0;
	starts[1][0] = log(2.0);
	starts[1][1] = log(3.0);
	starts[1][2] = log(1.0);
	starts[2][0] = log(10.0);
	starts[2][1] = log(11.0);
	starts[2][2] = log(1.0);
	fit_model(gammagamma_objective, &data, 3, "Gamma-Gamma", gammagamma_names,
			  (const double (*)[FIT_MAX_PARAMS]) starts, 3, theta);

	param[0] = exp(theta[0]);
	param[1] = exp(theta[1]);
	param[2] = exp(theta[2]) * data.scale;

	/* log-likelihood in the caller's currency unit */
	for (int i = 0; i < data.n; i++)
	{
		data.m[i] *= data.scale;
		data.logm[i] = log(data.m[i]);
	}
	theta[2] = log(param[2]);
	loglik = -gammagamma_objective(theta, NULL, &data) * data.total;

	PG_RETURN_DATUM(fit_result(tupdesc, "Gamma-Gamma", gammagamma_names, 3, param, loglik,
							   state->nrows));
}

/*
 * Predictions
 */

/* The parameters of a model argument, checked finite and positive. */
static void
get_model_params(FunctionCallInfo fcinfo, int argno, const char *model,
				 const char *const *names, int np, double *params)
{
	HeapTupleHeader tuple = PG_GETARG_HEAPTUPLEHEADER(argno);

	for (int i = 0; i < np; i++)
	{
		bool		isnull;
		Datum		d = GetAttributeByName(tuple, names[i], &isnull);
		double		v;

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("invalid %s model: %s is null", model, names[i])));
		v = DatumGetFloat8(d);
		if (isnan(v) || isinf(v) || v <= 0.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s model: %s is %s", model, names[i], fmt(v)),
					 errdetail("Model parameters must be finite and positive.")));
		params[i] = v;
	}
}

static void
check_horizon(double t)
{
	if (isnan(t) || isinf(t) || t < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid horizon %s: must be finite and non-negative", fmt(t))));
}

/*
 * t_1 + t_2 + ... with t_1 given and
 *
 *	 t_{k+1} / t_k = (p1 + k)(p2 + k) / ((q1 + k)(k + 1)) z,  0 <= z < 1:
 *
 * the tail of a Gaussian hypergeometric series.  Once past the terms
 * where the parameters matter, the ratios tend to z monotonically, so the
 * rest of the series is bounded by a geometric one of ratio max(ratio, z);
 * we stop when that bound is below HYP_EPS of the sum.
 */
static double
hyp_tail(double t1, double p1, double p2, double q1, double z)
{
	double		sum = 0.0,
				term = t1;
	double		kmin = 2.0 + Max(Max(fabs(p1), fabs(p2)), fabs(q1));

	for (int k = 1; k <= HYP_MAX_TERMS; k++)
	{
		double		ratio;
		double		bound;

		sum += term;
		if (term == 0.0)
			return sum;
		ratio = (p1 + k) * (p2 + k) / ((q1 + k) * (k + 1.0)) * z;
		term *= ratio;
		if (k >= kmin)
		{
			bound = Max(fabs(ratio), z);
			if (bound < 1.0 && fabs(term) <= HYP_EPS * fabs(sum) * (1.0 - bound))
				return sum + term;
		}
		if ((k & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("expected purchases cannot be computed for this horizon"),
			 errdetail("The hypergeometric series did not converge in %d terms.", HYP_MAX_TERMS),
			 errhint("Use a horizon of the order of the observation period.")));
	return 0.0;					/* keep compiler quiet */
}

/* BG/NBD P(alive | x, t_x, T) (Hardie, note 021). */
static double
bgnbd_palive(const double *mp, double x, double tx, double T)
{
	double		r = mp[0],
				alpha = mp[1],
				a = mp[2],
				b = mp[3];
	double		lt;

	if (x == 0.0)
		return 1.0;
	lt = log(a) - log(b + x - 1.0) + (r + x) * (log(alpha + T) - log(alpha + tx));
	return 1.0 / (1.0 + exp(lt));
}

/*
 * BG/NBD expected number of purchases in (T, T + t] of a customer with
 * summary (x, t_x, T) (Fader, Hardie and Lee 2005, eq. 10):
 *
 *	 (a + b + x - 1) / (a - 1)
 *	   * [1 - ((alpha + T) / (alpha + T + t))^(r + x)
 *			  * 2F1(r + x, b + x; a + b + x - 1; z)]
 *	   * P(alive),    z = t / (alpha + T + t).
 *
 * With T = 0 and x = 0 it is E[X(t)] of a new customer (eq. 7).
 *
 * Written as it is, the formula cancels (0/0 at a = 1), and the series
 * converges slowly as z nears 1 when x is large.  Where a - 1 < r + x we
 * use Euler's transformation, 2F1(A, B; C; z) = (1 - z)^(C - A - B)
 * 2F1(C - A, C - B; C; z), whose terms decay like k^(a - 2 - r - x) z^k;
 * since C - B = a - 1, its series is 1 + (a - 1) S and the bracket divided
 * by a - 1 becomes, with C = a + b + x - 1 and h = a - 1,
 *
 *	 C (1 - (1 - z)^h) / h - (1 - z)^h C S,
 *
 *	 C S = sum_{k>=1} (a + b - 1 - r)_k (a)_(k-1) / ((C + 1)_(k-1) k!) z^k,
 *
 * free of both singularities (C > -1 always).  Otherwise (a > 1 + r + x:
 * h is far from 0) the direct series, whose terms then decay like
 * k^(r + x - a) z^k, is used with expm1/log1p.
 */
static double
bgnbd_expected(const double *mp, double x, double tx, double T, double t)
{
	double		r = mp[0],
				alpha = mp[1],
				a = mp[2],
				b = mp[3];
	double		C = a + b + x - 1.0;
	double		h = a - 1.0;
	double		z,
				log1mz,
				bracket;

	if (t == 0.0)
		return 0.0;
	z = t / (alpha + T + t);
	log1mz = -log1p(t / (alpha + T));

	if (h < r + x)
	{
		double		Ap = a + b - 1.0 - r;
		double		CS = hyp_tail(Ap * z, Ap, h, C, z);
		double		e = (h == 0.0) ? -log1mz : -expm1(h * log1mz) / h;

		bracket = C * e - exp(h * log1mz) * CS;
	}
	else
	{
		double		A = r + x,
					B = b + x;
		double		Fm1 = hyp_tail(A * B / C * z, A, B, C, z);

		bracket = C / h * -expm1(A * log1mz + log1p(Fm1));
	}
	return bracket * bgnbd_palive(mp, x, tx, T);
}

static void
get_bgnbd_args(FunctionCallInfo fcinfo, double *mp, double *x, double *tx, double *T)
{
	get_model_params(fcinfo, 0, "BG/NBD", bgnbd_names, 4, mp);
	*x = PG_GETARG_FLOAT8(1);
	*tx = PG_GETARG_FLOAT8(2);
	*T = PG_GETARG_FLOAT8(3);
	check_bgnbd_row(*x, *tx, *T);
}

/* A prediction must be a finite number: say so rather than return NaN. */
static double
check_result(double v, const char *what)
{
	if (!isfinite(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range", what)));
	return v;
}

/*
 * bgnbd_expected_purchases(model, x, t_x, T, horizon)
 */
Datum
bgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	double		mp[4],
				x,
				tx,
				T,
				t = PG_GETARG_FLOAT8(4);

	get_bgnbd_args(fcinfo, mp, &x, &tx, &T);
	check_horizon(t);
	PG_RETURN_FLOAT8(check_result(bgnbd_expected(mp, x, tx, T, t),
								  "expected number of purchases"));
}

/*
 * bgnbd_p_alive(model, x, t_x, T)
 */
Datum
bgnbd_p_alive(PG_FUNCTION_ARGS)
{
	double		mp[4],
				x,
				tx,
				T;

	get_bgnbd_args(fcinfo, mp, &x, &tx, &T);
	PG_RETURN_FLOAT8(check_result(bgnbd_palive(mp, x, tx, T), "probability alive"));
}

/*
 * bgnbd_expected_unconditional(model, horizon)
 */
Datum
bgnbd_expected_unconditional(PG_FUNCTION_ARGS)
{
	double		mp[4],
				t = PG_GETARG_FLOAT8(1);

	get_model_params(fcinfo, 0, "BG/NBD", bgnbd_names, 4, mp);
	check_horizon(t);
	PG_RETURN_FLOAT8(check_result(bgnbd_expected(mp, 0.0, 0.0, 0.0, t),
								  "expected number of purchases"));
}

/*
 * Gamma-Gamma conditional expected mean spend (note 025, eq. 5):
 *
 *	 p (gamma + x m) / (p x + q - 1)
 *
 * a weighted mean of the population mean p gamma / (q - 1) and the
 * customer's m; for x = 0 the population mean.
 */
static double
gammagamma_spend(const double *gp, double x, double m)
{
	double		p = gp[0],
				q = gp[1],
				v = gp[2];

	if (x == 0.0)
	{
		if (q <= 1.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expected spend of a customer with x = 0 is undefined when q is %s", fmt(q)),
					 errdetail("The population mean spend p * gamma / (q - 1) is finite only when q > 1."),
					 errhint("Fit the model on more data, or predict only customers with x > 0.")));
		return p * v / (q - 1.0);
	}
	check_amount(x, m);
	if (p * x + q - 1.0 <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected spend is undefined for x = %s with p = %s and q = %s",
						fmt(x), fmt(p), fmt(q)),
				 errdetail("The conditional mean is finite only when p * x + q > 1.")));
	return p * (v + x * m) / (p * x + q - 1.0);
}

/*
 * gammagamma_expected_spend(model, x, m)
 */
Datum
gammagamma_expected_spend(PG_FUNCTION_ARGS)
{
	double		gp[3];
	double		x = PG_GETARG_FLOAT8(1);
	double		m = PG_GETARG_FLOAT8(2);

	get_model_params(fcinfo, 0, "Gamma-Gamma", gammagamma_names, 3, gp);
	check_x(x);
	PG_RETURN_FLOAT8(check_result(gammagamma_spend(gp, x, m), "expected spend"));
}

/*
 * clv(bgnbd, gammagamma, x, t_x, T, m, horizon, discount)
 *
 * sum over i = 1 .. horizon of
 *	 (E[purchases in (T, T + i]] - E[purchases in (T, T + i - 1]])
 *	   * expected spend / (1 + discount)^i
 *
 * Each period's purchases are discounted at its end, as the lifetimes
 * library's customer_lifetime_value does.
 */
Datum
ltv_clv(PG_FUNCTION_ARGS)
{
	double		mp[4],
				gp[3];
	double		x,
				tx,
				T;
	double		m = PG_GETARG_FLOAT8(5);
	int32		horizon = PG_GETARG_INT32(6);
	double		discount = PG_GETARG_FLOAT8(7);

	get_model_params(fcinfo, 0, "BG/NBD", bgnbd_names, 4, mp);
	get_model_params(fcinfo, 1, "Gamma-Gamma", gammagamma_names, 3, gp);
	x = PG_GETARG_FLOAT8(2);
	tx = PG_GETARG_FLOAT8(3);
	T = PG_GETARG_FLOAT8(4);
	check_bgnbd_row(x, tx, T);
	if (horizon < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid horizon %d: must be non-negative", horizon)));
	if (isnan(discount) || isinf(discount) || discount <= -1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid discount %s: must be finite and greater than -1", fmt(discount)),
				 errdetail("discount is the rate per period.")));

	PG_RETURN_FLOAT8(LtvClv(mp, gp, x, tx, T, m, horizon, discount));
}

/*
 * The lifetime value over horizon periods of a customer with summary
 * (x, t_x, T) and mean repeat spend m: the expected purchases of each
 * period times the expected spend, discounted at the end of the period.
 * The arguments are checked by the caller.  Without a discount the
 * periods' purchases add up to those of the whole horizon, which one
 * evaluation gives; with one, each period costs an evaluation.
 */
double
LtvClv(const double *mp, const double *gp, double x, double tx, double T, double m,
	   int32 horizon, double discount)
{
	double		spend = gammagamma_spend(gp, x, m),
				prev = 0.0,
				factor = 1.0,
				total = 0.0;

	if (discount == 0.0)
		return check_result(bgnbd_expected(mp, x, tx, T, (double) horizon) * spend,
							"lifetime value");
	for (int32 i = 1; i <= horizon; i++)
	{
		double		e = bgnbd_expected(mp, x, tx, T, (double) i);

		CHECK_FOR_INTERRUPTS();
		factor /= 1.0 + discount;
		total += (e - prev) * factor;
		prev = e;
	}
	return check_result(total * spend, "lifetime value");
}
