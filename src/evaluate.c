/*-------------------------------------------------------------------------
 *
 * evaluate.c
 *	  Evaluating a compiled rule over customers, as the segment's owner.
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
#include "segment.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(segment_evaluate);

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

/*
 * Plans of evaluation queries, by query text, kept for the backend's life:
 * a trigger evaluates the same rules for every statement.  The text names
 * the rules' compiled expressions, so a changed rule is a new entry.
 */
typedef struct PlanCacheEntry
{
	uint32		hash;
	char	   *sql;
	int			nargs;
	Oid			argtype;
	SPIPlanPtr	plan;
	struct PlanCacheEntry *next;
} PlanCacheEntry;

#define PLAN_CACHE_MAX	64

static PlanCacheEntry *plan_cache = NULL;
static int	plan_cache_size = 0;

static SPIPlanPtr
cached_plan(const char *sql, int nargs, Oid *argtypes)
{
	uint32		hash = string_hash(sql, strlen(sql) + 1);
	PlanCacheEntry *e;
	SPIPlanPtr	plan;

	for (e = plan_cache; e != NULL; e = e->next)
		if (e->hash == hash && e->nargs == nargs &&
			(nargs == 0 || e->argtype == argtypes[0]) && strcmp(e->sql, sql) == 0)
			return e->plan;

	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (plan_cache_size >= PLAN_CACHE_MAX)
	{
		/* rules changed a lot: start over rather than track use */
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
	e->nargs = nargs;
	e->argtype = nargs > 0 ? argtypes[0] : InvalidOid;
	e->plan = plan;
	e->next = plan_cache;
	plan_cache = e;
	plan_cache_size++;
	return plan;
}

/* Below this many keys, look them up by index; above it, scan. */
#define EVALUATE_LOOKUP_MAX		10000

/*
 * segment._evaluate(customers regclass, key name, expressions text[],
 *					 owner regrole, keys segment) RETURNS segment[]
 *
 * For each expression, written against alias c, the customers among keys
 * (all when keys is NULL) for whom it is true.  One scan serves all
 * expressions: each is a FILTER of its own aggregate.
 */
Datum
segment_evaluate(PG_FUNCTION_ARGS)
{
	Oid			relid;
	const char *key;
	ArrayType  *exprs;
	Datum	   *expr_datums;
	int			nexprs;
	Oid			owner;
	char	   *relname;
	const char *ext;
	Oid			segtype;
	StringInfoData sql;
	Oid			argtypes[1];
	Datum		args[1];
	int			nargs = 0;
	Oid			save_userid;
	int			save_sec_context;
	int			ret;
	Datum	   *results;
	MemoryContext caller = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		elog(ERROR, "segment._evaluate: unexpected null argument");
	relid = PG_GETARG_OID(0);
	key = quote_identifier(NameStr(*PG_GETARG_NAME(1)));
	exprs = PG_GETARG_ARRAYTYPE_P(2);
	owner = PG_GETARG_OID(3);
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	deconstruct_array(exprs, TEXTOID, -1, false, TYPALIGN_INT, &expr_datums, NULL, &nexprs);

	/* our type, and so our functions, live in the schema of the result's elements */
	segtype = get_element_type(get_func_rettype(fcinfo->flinfo->fn_oid));
	ext = quote_identifier(get_namespace_name(type_namespace(segtype)));

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < nexprs; i++)
		appendStringInfo(&sql, "%s%s.segment_agg(c.%s) FILTER (WHERE %s)",
						 i > 0 ? ", " : "", ext, key, TextDatumGetCString(expr_datums[i]));
	appendStringInfo(&sql, " FROM ONLY %s AS c", relname);
	if (!PG_ARGISNULL(4))
	{
		SegmentView sv;

		SegmentGetArgView(fcinfo, 4, &sv);
		if (rf_cardinality(&sv.h) <= EVALUATE_LOOKUP_MAX)
		{
			/* a constant array: the planner can use the key's index */
			argtypes[0] = INT8ARRAYOID;
			args[0] = DirectFunctionCall1(segment_to_array, PG_GETARG_DATUM(4));
			appendStringInfo(&sql, " WHERE c.%s OPERATOR(pg_catalog.=) ANY ($1)", key);
		}
		else
		{
			argtypes[0] = segtype;
			args[0] = PG_GETARG_DATUM(4);
			appendStringInfo(&sql, " WHERE c.%s OPERATOR(%s.<@) $1", key, ext);
		}
		nargs = 1;
	}

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	SPI_connect();
	ret = SPI_execute_plan(cached_plan(sql.data, nargs, argtypes), args, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "rule evaluation failed: %s", SPI_result_code_string(ret));

	results = MemoryContextAlloc(caller, Max(nexprs, 1) * sizeof(Datum));
	for (int i = 0; i < nexprs; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(caller);

		results[i] = isnull ? PointerGetDatum(SegmentEmpty())
			: PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);

	PG_RETURN_ARRAYTYPE_P(construct_array(results, nexprs, segtype, -1, false, TYPALIGN_INT));
}
