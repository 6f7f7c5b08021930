/*-------------------------------------------------------------------------
 *
 * rule.c
 *	  Checking and compiling rules and traits.
 *
 * Rules and traits are checked with PostgreSQL's own parser and analyzer,
 * inside a statement built around them, and errors point into the text the
 * user wrote.  The analyzed expression is stored deparsed with every name
 * qualified, so that running it later does not depend on anyone's
 * search_path.
 *
 * A trait is an aggregate expression over one customer's events, analyzed
 * as the target of SELECT (trait) FROM ONLY <events> AS e: anything but a
 * single, non-volatile expression whose every column reference is inside
 * an aggregate is refused.
 *
 * A rule is a boolean expression over the customer profile, analyzed as
 * the target of SELECT (rule) FROM (SELECT c.*, NULL::<type> AS <trait>,
 * ... FROM ONLY <customers> AS c) AS c: the customer's columns and the
 * traits, by name.  What it reads tells which segments a change concerns.
 * in_segment('name') in a rule is rewritten to in_segment('name', key).
 *
 * In both, now(), CURRENT_DATE and their kin become reads of the reference
 * time (clock.c).
 *
 * IDENTIFICATION
 *	  src/rule.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

PG_FUNCTION_INFO_V1(segment_compile_rule);
PG_FUNCTION_INFO_V1(segment_compile_trait);

/* What comes before the user's text in the statements we analyze */
#define PREFIX		"SELECT ("

typedef struct CompileContext
{
	const char *text;			/* as the user wrote it, for positions */
	Oid			placeholder;	/* segment.in_segment(text) */
	Oid			membership;		/* segment.in_segment(text, bigint) */
	Oid			reference_time; /* segment.reference_time() */
	Node	   *key;			/* the key column, as bigint */
	List	   *segments;		/* names referred to */
	bool		reads_clock;
} CompileContext;

static void
compile_error(const char *text, int location, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("%s", message),
			 location >= 0 ? internalerrposition(location + 1) : 0,
			 internalerrquery(text)));
}

static int
text_location(int location)
{
	return location >= 0 ? location - (int) strlen(PREFIX) : -1;
}

static Oid
segment_function(const char *name, int nargs, Oid *argtypes)
{
	return LookupFuncName(list_make2(makeString("segment"), makeString(pstrdup(name))),
						  nargs, argtypes, false);
}

/* segment.reference_time(), cast to type */
static Node *
reference_time(CompileContext *cxt, Oid type)
{
	Node	   *now = (Node *) makeFuncExpr(cxt->reference_time, TIMESTAMPTZOID, NIL,
											InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

	cxt->reads_clock = true;
	if (type == TIMESTAMPTZOID)
		return now;
	return coerce_to_target_type(NULL, now, TIMESTAMPTZOID, type, -1, COERCION_EXPLICIT,
								 COERCE_EXPLICIT_CAST, -1);
}

/*
 * Replace the clock by the reference time, and in rules in_segment('x') by
 * in_segment('x', key), collecting the names.
 */
static Node *
rewrite(Node *node, CompileContext *cxt)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *fn = (FuncExpr *) node;

		switch (fn->funcid)
		{
			case F_NOW:
			case F_TRANSACTION_TIMESTAMP:
			case F_STATEMENT_TIMESTAMP:
				return reference_time(cxt, TIMESTAMPTZOID);
			default:
				break;
		}
		if (OidIsValid(cxt->membership) && fn->funcid == cxt->membership)
			compile_error(cxt->text, text_location(fn->location),
						  "in a rule, call in_segment() with the segment name only");
		if (OidIsValid(cxt->placeholder) && fn->funcid == cxt->placeholder)
		{
			Node	   *arg = linitial(fn->args);
			char	   *name;

			if (cxt->key == NULL)
				compile_error(cxt->text, text_location(fn->location),
							  "in_segment() can only be used in a segment rule");
			if (!IsA(arg, Const) || ((Const *) arg)->constisnull)
				compile_error(cxt->text, text_location(fn->location),
							  "in_segment() takes the name of a segment as a string literal");
			name = TextDatumGetCString(((Const *) arg)->constvalue);
			cxt->segments = lappend(cxt->segments, makeString(name));
			return (Node *) makeFuncExpr(cxt->membership, BOOLOID,
										 list_make2(arg, copyObject(cxt->key)),
										 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		}
	}
	if (IsA(node, SQLValueFunction))
	{
		switch (((SQLValueFunction *) node)->op)
		{
			case SVFOP_CURRENT_TIMESTAMP:
			case SVFOP_CURRENT_TIMESTAMP_N:
				return reference_time(cxt, TIMESTAMPTZOID);
			case SVFOP_CURRENT_DATE:
				return reference_time(cxt, DATEOID);
			case SVFOP_LOCALTIMESTAMP:
			case SVFOP_LOCALTIMESTAMP_N:
				return reference_time(cxt, TIMESTAMPOID);
			case SVFOP_CURRENT_TIME:
			case SVFOP_CURRENT_TIME_N:
				return reference_time(cxt, TIMETZOID);
			case SVFOP_LOCALTIME:
			case SVFOP_LOCALTIME_N:
				return reference_time(cxt, TIMEOID);
			default:
				break;
		}
	}
	return expression_tree_mutator(node, rewrite, (void *) cxt);
}

/*
 * Run the parser and analyzer on sql, whose user part is text after PREFIX;
 * errors point into text.
 */
static Query *
analyze_text(const char *text, const char *sql)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ErrorContextCallback *save_context = error_context_stack;
	Query	   *query = NULL;

	/* no caller's context callback may move the position elsewhere */
	error_context_stack = NULL;
	PG_TRY();
	{
		List	   *raw = pg_parse_query(sql);

		if (list_length(raw) != 1)
			compile_error(text, -1, "a rule or trait must be a single expression");
		query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, NULL, 0, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		error_context_stack = save_context;
		edata = CopyErrorData();
		FlushErrorState();
		/* a position in our statement becomes a position in the text */
		if (edata->cursorpos > 0)
		{
			int			pos = edata->cursorpos - (int) strlen(PREFIX);

			edata->cursorpos = 0;
			/* past the text's end means at its end: our closing parenthesis */
			edata->internalpos = Max(1, Min(pos, (int) strlen(text) + 1));
			edata->internalquery = pstrdup(text);
		}
		ReThrowError(edata);
	}
	PG_END_TRY();
	error_context_stack = save_context;
	return query;
}

/* Exactly SELECT (expression) FROM one relation, nothing else. */
static Node *
single_expression(Query *query, const char *text, const char *what)
{
	if (query->commandType != CMD_SELECT || query->utilityStmt != NULL ||
		query->setOperations != NULL || list_length(query->rtable) != 1 ||
		list_length(query->jointree->fromlist) != 1 || query->jointree->quals != NULL ||
		query->groupClause != NIL || query->havingQual != NULL || query->sortClause != NIL ||
		query->distinctClause != NIL || query->limitCount != NULL ||
		query->limitOffset != NULL || query->cteList != NIL ||
		list_length(query->targetList) != 1 || query->rowMarks != NIL)
		compile_error(text, -1, psprintf("a %s must be a single expression", what));
	if (query->hasSubLinks)
		compile_error(text, -1, psprintf("a %s must not contain a subquery", what));
	if (query->hasWindowFuncs || query->hasTargetSRFs)
		compile_error(text, -1, psprintf("a %s must not call window or set-returning functions",
										 what));
	return (Node *) linitial_node(TargetEntry, query->targetList)->expr;
}

/* Analyze with the caller's search_path, behind schema segment. */
static Query *
analyze_with_path(const char *text, const char *sql, const char *caller_path)
{
	int			save_nestlevel = NewGUCNestLevel();
	char	   *path = psprintf("segment, %s", caller_path);
	Query	   *query;

	(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	query = analyze_text(text, sql);
	AtEOXact_GUC(true, save_nestlevel);
	return query;
}

/* Deparse with search_path = pg_catalog, so that every other name is qualified. */
static char *
deparse_qualified(Node *expr, List *context)
{
	int			save_nestlevel = NewGUCNestLevel();
	char	   *result;

	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	result = deparse_expression(expr, context, true, false);
	AtEOXact_GUC(true, save_nestlevel);
	return result;
}

/*
 * Does the expression call a function of a user's that is not immutable?
 * Such a function may read anything, events included.
 */
static bool
user_mutable_checker(Oid func_id, void *context)
{
	CompileContext *cxt = (CompileContext *) context;

	return func_id >= FirstNormalObjectId && func_volatile(func_id) != PROVOLATILE_IMMUTABLE &&
		func_id != cxt->membership && func_id != cxt->reference_time;
}

static bool
calls_user_mutable(Node *node, CompileContext *cxt)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, user_mutable_checker, (void *) cxt))
		return true;
	return expression_tree_walker(node, calls_user_mutable, (void *) cxt);
}

static Datum
strings_array(List *strings, Oid type)
{
	int			n = list_length(strings);
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, strings)
	{
		char	   *s = (char *) lfirst(lc);

		elems[i++] = type == NAMEOID ? DirectFunctionCall1(namein, CStringGetDatum(s))
			: CStringGetTextDatum(s);
	}
	if (type == NAMEOID)
		return PointerGetDatum(construct_array(elems, n, NAMEOID, NAMEDATALEN, false,
											   TYPALIGN_CHAR));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static void
init_context(CompileContext *cxt, const char *text)
{
	Oid			argtypes[2] = {TEXTOID, INT8OID};

	memset(cxt, 0, sizeof(CompileContext));
	cxt->text = text;
	cxt->placeholder = segment_function("in_segment", 1, argtypes);
	cxt->membership = segment_function("in_segment", 2, argtypes);
	cxt->reference_time = segment_function("reference_time", 0, NULL);
}

static void
check_not_empty(const char *text, const char *what)
{
	if (strspn(text, " \t\r\n") == strlen(text))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("a %s must not be empty", what)));
}

/*
 * segment._compile_rule(customers regclass, key name, rule text,
 *						  search_path text, traits text[], trait_types text[])
 *		RETURNS (expression text, columns name[], traits text[],
 *				 segments text[], reads_clock boolean, calls_functions boolean)
 *
 * The expression is written against the profile, alias c.  columns: the
 * customer columns read (the key included when another segment is read);
 * calls_functions: calls a function of a user's that is not immutable.
 */
Datum
segment_compile_rule(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *keyname = NameStr(*PG_GETARG_NAME(1));
	char	   *rule = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *caller_path = text_to_cstring(PG_GETARG_TEXT_PP(3));
	ArrayType  *trait_names = PG_GETARG_ARRAYTYPE_P(4);
	ArrayType  *trait_types = PG_GETARG_ARRAYTYPE_P(5);
	char	   *relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													  get_rel_name(relid));
	Datum	   *names;
	Datum	   *types;
	int			ntraits;
	int			ntypes;
	StringInfoData sql;
	Query	   *query;
	RangeTblEntry *rte;
	Node	   *expr;
	CompileContext cxt;
	int			keypos = 0;
	Bitmapset  *attrs = NULL;
	int			attr;
	List	   *columns = NIL;
	List	   *traits = NIL;
	List	   *segments = NIL;
	ListCell   *lc;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	PlannedStmt *stmt;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	check_not_empty(rule, "rule");
	deconstruct_array(trait_names, TEXTOID, -1, false, TYPALIGN_INT, &names, NULL, &ntraits);
	deconstruct_array(trait_types, TEXTOID, -1, false, TYPALIGN_INT, &types, NULL, &ntypes);
	if (ntraits != ntypes)
		elog(ERROR, "segment._compile_rule: arrays of different lengths");

	initStringInfo(&sql);
	appendStringInfo(&sql, "%s%s\n) FROM (SELECT c.*", PREFIX, rule);
	for (int i = 0; i < ntraits; i++)
		appendStringInfo(&sql, ", NULL::%s AS %s", TextDatumGetCString(types[i]),
						 quote_identifier(TextDatumGetCString(names[i])));
	/*
	 * Aliased as the table, so that error hints name it; the expression is
	 * deparsed for alias c below, whatever this alias is.
	 */
	appendStringInfo(&sql, " FROM ONLY %s AS c) AS %s", relname,
					 quote_identifier(get_rel_name(relid)));

	query = analyze_with_path(rule, sql.data, caller_path);
	expr = single_expression(query, rule, "rule");
	if (query->hasAggs)
		compile_error(rule, -1, "a rule must not call aggregate functions");
	if (exprType(expr) != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("a rule must return boolean, not type %s",
						format_type_be(exprType(expr))),
				 internalerrposition(Max(text_location(exprLocation(expr)) + 1, 0)),
				 internalerrquery(rule)));
	if (contain_volatile_functions(expr))
		compile_error(rule, -1, "a rule must not call volatile functions");

	/* the key, as bigint, for in_segment(name, key) */
	rte = linitial_node(RangeTblEntry, query->rtable);
	foreach(lc, rte->eref->colnames)
	{
		keypos++;
		if (strcmp(strVal(lfirst(lc)), keyname) == 0)
			break;
	}
	init_context(&cxt, rule);
	{
		Oid			keytype;
		int32		keytypmod;
		Oid			keycoll;
		AttrNumber	keyattno = get_attnum(relid, keyname);

		if (keyattno == InvalidAttrNumber)
			elog(ERROR, "key column \"%s\" not found", keyname);
		get_atttypetypmodcoll(relid, keyattno, &keytype, &keytypmod, &keycoll);
		cxt.key = coerce_to_target_type(NULL,
										(Node *) makeVar(1, keypos, keytype, keytypmod, keycoll, 0),
										keytype, INT8OID, -1, COERCION_IMPLICIT,
										COERCE_IMPLICIT_CAST, -1);
	}
	expr = rewrite(expr, &cxt);

	/* what the rule reads: customer columns and traits */
	pull_varattnos(expr, 1, &attrs);
	attr = -1;
	while ((attr = bms_next_member(attrs, attr)) >= 0)
	{
		AttrNumber	attno = attr + FirstLowInvalidHeapAttributeNumber;
		char	   *colname;
		bool		is_trait = false;

		if (attno <= 0)
			compile_error(rule, -1, "a rule must not read the whole row");
		colname = strVal(list_nth(rte->eref->colnames, attno - 1));
		for (int i = 0; i < ntraits; i++)
			if (strcmp(TextDatumGetCString(names[i]), colname) == 0)
				is_trait = true;
		if (is_trait)
			traits = lappend(traits, colname);
		else
			columns = lappend(columns, colname);
	}
	foreach(lc, cxt.segments)
		segments = lappend(segments, strVal(lfirst(lc)));

	/* one subquery in the range table: deparse through a plan-tree context */
	stmt = makeNode(PlannedStmt);
	stmt->rtable = query->rtable;
	values[0] = CStringGetTextDatum(deparse_qualified(expr,
													  deparse_context_for_plan_tree(stmt,
																					list_make1(pstrdup("c")))));
	values[1] = strings_array(columns, NAMEOID);
	values[2] = strings_array(traits, TEXTOID);
	values[3] = strings_array(segments, TEXTOID);
	values[4] = BoolGetDatum(cxt.reads_clock);
	values[5] = BoolGetDatum(calls_user_mutable(expr, &cxt));

	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * Does the expression read anything but constants and functions of them
 * (a column, a parameter, an aggregate, a subquery, a placeholder of an
 * enclosing node)?  Such a subexpression cannot be moved out of the row.
 */
static bool
depends_on_row(Node *node, void *context)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Const:
		case T_FuncExpr:
		case T_OpExpr:
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_SQLValueFunction:
			break;
		default:
			return true;
	}
	return expression_tree_walker(node, depends_on_row, context);
}

/*
 * A scan filter is evaluated for every event row, but a window's bound,
 * such as now() - interval '30 days', is the same for all of them and is
 * never folded by the planner (timestamptz arithmetic depends on the time
 * zone, so it is only stable).  Each such subexpression is written as a
 * scalar subquery, which PostgreSQL computes once per query (an InitPlan).
 */
static Node *
hoist_row_independent(Node *node, void *context)
{
	if (node == NULL || IsA(node, Const))
		return node;
	if (!depends_on_row(node, NULL) && contain_mutable_functions(node) &&
		!contain_volatile_functions(node))
	{
		Query	   *query = makeNode(Query);
		SubLink    *sublink = makeNode(SubLink);

		query->commandType = CMD_SELECT;
		query->querySource = QSRC_ORIGINAL;
		query->canSetTag = true;
		query->jointree = makeFromExpr(NIL, NULL);
		query->targetList = list_make1(makeTargetEntry((Expr *) node, 1, NULL, false));
		sublink->subLinkType = EXPR_SUBLINK;
		sublink->subselect = (Node *) query;
		sublink->location = -1;
		return (Node *) sublink;
	}
	/* look for bounds only in plain operators and functions of the row */
	switch (nodeTag(node))
	{
		case T_List:			/* the arguments of the nodes below */
		case T_BoolExpr:
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
		case T_ScalarArrayOpExpr:
		case T_FuncExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_RelabelType:
		case T_CoerceViaIO:
			return expression_tree_mutator(node, hoist_row_independent, context);
		default:
			return node;
	}
}

/*
 * The conjuncts of an aggregate's FILTER, deparsed with their row-independent
 * parts computed once; NIL without one.
 */
typedef struct FilterContext
{
	List	   *deparse;
	List	   *common;			/* conjuncts every aggregate so far has */
	bool		first;
} FilterContext;

static bool
collect_filters(Node *node, FilterContext *fc)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		Aggref	   *agg = (Aggref *) node;
		List	   *mine = NIL;
		List	   *kept = NIL;
		ListCell   *lc;

		if (agg->aggfilter != NULL)
			foreach(lc, make_ands_implicit((Expr *) agg->aggfilter))
				mine = lappend(mine,
							   deparse_qualified(hoist_row_independent((Node *) lfirst(lc), NULL),
												 fc->deparse));
		if (fc->first)
			kept = mine;
		else
			foreach(lc, fc->common)
			{
				ListCell   *lc2;

				foreach(lc2, mine)
					if (strcmp((char *) lfirst(lc), (char *) lfirst(lc2)) == 0)
					{
						kept = lappend(kept, lfirst(lc));
						break;
					}
			}
		fc->common = kept;
		fc->first = false;
		return false;			/* no aggregate inside an aggregate */
	}
	return expression_tree_walker(node, collect_filters, (void *) fc);
}

/*
 * segment._compile_trait(events regclass, expr text, search_path text)
 *		RETURNS (expression text, type regtype, type_sql text,
 *				 filters text[], reads_clock boolean)
 *
 * The expression is written against the events, alias e.  filters: the
 * conjuncts every aggregate filters its rows by, which may filter the
 * event rows before grouping.
 */
Datum
segment_compile_trait(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *trait = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *caller_path = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													  get_rel_name(relid));
	StringInfoData sql;
	Query	   *query;
	Node	   *expr;
	CompileContext cxt;
	FilterContext fc;
	List	   *context;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	Oid			type;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	check_not_empty(trait, "trait");

	initStringInfo(&sql);
	/* aliased as the table, for error hints; deparsed for alias e below */
	appendStringInfo(&sql, "%s%s\n) FROM ONLY %s AS %s", PREFIX, trait, relname,
					 quote_identifier(get_rel_name(relid)));
	query = analyze_with_path(trait, sql.data, caller_path);
	expr = single_expression(query, trait, "trait");
	if (!query->hasAggs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("a trait must aggregate the customer's events"),
				 errhint("Use an aggregate, such as count(*), sum(amount) or max(at)."),
				 internalerrposition(1),
				 internalerrquery(trait)));
	if (contain_volatile_functions(expr))
		compile_error(trait, -1, "a trait must not call volatile functions");
	type = exprType(expr);
	if (type == RECORDOID)
		compile_error(trait, -1, "a trait must not return an anonymous record");

	init_context(&cxt, trait);
	expr = rewrite(expr, &cxt);

	context = deparse_context_for("e", relid);
	memset(&fc, 0, sizeof(fc));
	fc.deparse = context;
	fc.first = true;
	(void) collect_filters(expr, &fc);

	values[0] = CStringGetTextDatum(deparse_qualified(expr, context));
	values[1] = ObjectIdGetDatum(type);
	values[2] = CStringGetTextDatum(format_type_extended(type, exprTypmod(expr),
														 FORMAT_TYPE_TYPEMOD_GIVEN |
														 FORMAT_TYPE_FORCE_QUALIFY));
	values[3] = strings_array(fc.common, TEXTOID);
	values[4] = BoolGetDatum(cxt.reads_clock);

	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
