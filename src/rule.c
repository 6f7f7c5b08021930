/*-------------------------------------------------------------------------
 *
 * rule.c
 *	  Checking and compiling segment rules.
 *
 * A rule is a boolean SQL expression over the tracked customer table's
 * columns.  It is checked with PostgreSQL's own parser and analyzer, as the
 * target of SELECT (rule) FROM ONLY <customers>: whatever is not a single,
 * non-volatile boolean expression over that one table is refused, with the
 * error position pointing into the rule.  The analyzed expression says which
 * columns the rule reads, and is stored deparsed with every name qualified,
 * so that running it later does not depend on anyone's search_path.
 *
 * in_segment('name') in a rule is rewritten to in_segment('name', key): the
 * membership of the same customer in another segment.
 *
 * IDENTIFICATION
 *	  src/rule.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

PG_FUNCTION_INFO_V1(segment_compile_rule);

/* "SELECT (" before the rule in the statement we analyze */
#define RULE_PREFIX		"SELECT ("

typedef struct RewriteContext
{
	Oid			placeholder;	/* segment.in_segment(text) */
	Oid			membership;		/* segment.in_segment(text, bigint) */
	Node	   *key;			/* the key column, as bigint */
	List	   *segments;		/* names referred to */
	const char *rule;
} RewriteContext;

static void
rule_error(const char *rule, int location, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("%s", message),
			 location >= 0 ? internalerrposition(location + 1) : 0,
			 internalerrquery(rule)));
}

/*
 * Replace in_segment('x') by in_segment('x', key), collecting the names.
 */
static Node *
rewrite_in_segment(Node *node, RewriteContext *cxt)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == cxt->membership)
		rule_error(cxt->rule, ((FuncExpr *) node)->location - (int) strlen(RULE_PREFIX),
				   "in a rule, call in_segment() with the segment name only");
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == cxt->placeholder)
	{
		FuncExpr   *fn = (FuncExpr *) node;
		Node	   *arg = linitial(fn->args);
		char	   *name;

		if (!IsA(arg, Const) || ((Const *) arg)->constisnull)
			rule_error(cxt->rule, fn->location - (int) strlen(RULE_PREFIX),
					   "in_segment() takes the name of a segment as a string literal");
		name = TextDatumGetCString(((Const *) arg)->constvalue);
		cxt->segments = lappend(cxt->segments, makeString(name));
		return (Node *) makeFuncExpr(cxt->membership, BOOLOID,
									 list_make2(arg, copyObject(cxt->key)),
									 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	}
	return expression_tree_mutator(node, rewrite_in_segment, (void *) cxt);
}

/*
 * Run the parser and analyzer on the rule; errors point into the rule.
 */
static Query *
analyze_rule(const char *rule, const char *sql)
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
			rule_error(rule, -1, "a rule must be a single boolean expression");
		query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, NULL, 0, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		error_context_stack = save_context;
		edata = CopyErrorData();
		FlushErrorState();
		/* a position in our statement becomes a position in the rule */
		if (edata->cursorpos > 0)
		{
			int			pos = edata->cursorpos - (int) strlen(RULE_PREFIX);

			edata->cursorpos = 0;
			/* past the rule's end means at its end: our closing parenthesis */
			edata->internalpos = Max(1, Min(pos, (int) strlen(rule) + 1));
			edata->internalquery = pstrdup(rule);
		}
		ReThrowError(edata);
	}
	PG_END_TRY();
	error_context_stack = save_context;
	return query;
}

/*
 * segment._compile_rule(customers regclass, key name, rule text,
 *						  search_path text)
 *		RETURNS (expression text, columns name[], segments text[])
 *
 * The expression is written against the alias "c".
 */
Datum
segment_compile_rule(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *keyname = NameStr(*PG_GETARG_NAME(1));
	char	   *rule = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *caller_path = text_to_cstring(PG_GETARG_TEXT_PP(3));
	char	   *relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													  get_rel_name(relid));
	StringInfoData sql;
	Query	   *query;
	Node	   *expr;
	RewriteContext cxt;
	AttrNumber	keyattno;
	Oid			keytype;
	int32		keytypmod;
	Oid			keycoll;
	Bitmapset  *attrs = NULL;
	int			attr;
	List	   *columns = NIL;
	Datum	   *elems;
	int			n;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	ListCell   *lc;
	char	   *deparsed;
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	int			save_nestlevel;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (strlen(rule) == 0 || strspn(rule, " \t\r\n") == strlen(rule))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("a rule must not be empty")));

	initStringInfo(&sql);
	appendStringInfo(&sql, "%s%s\n) FROM ONLY %s", RULE_PREFIX, rule, relname);

	/* in_segment(text) resolves in schema segment, ahead of the caller's path */
	save_nestlevel = NewGUCNestLevel();
	{
		char	   *path = psprintf("segment, %s", caller_path);

		(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	query = analyze_rule(rule, sql.data);
	AtEOXact_GUC(true, save_nestlevel);

	/* exactly SELECT (expression) FROM ONLY customers */
	if (query->commandType != CMD_SELECT || query->utilityStmt != NULL ||
		query->setOperations != NULL || list_length(query->rtable) != 1 ||
		list_length(query->jointree->fromlist) != 1 || query->jointree->quals != NULL ||
		query->groupClause != NIL || query->havingQual != NULL || query->sortClause != NIL ||
		query->distinctClause != NIL || query->limitCount != NULL ||
		query->limitOffset != NULL || query->cteList != NIL ||
		list_length(query->targetList) != 1 || query->rowMarks != NIL)
		rule_error(rule, -1, "a rule must be a single boolean expression");
	if (query->hasSubLinks)
		rule_error(rule, -1, "a rule must not contain a subquery");
	if (query->hasAggs || query->hasWindowFuncs || query->hasTargetSRFs)
		rule_error(rule, -1, "a rule must not call aggregate, window or set-returning functions");

	expr = (Node *) linitial_node(TargetEntry, query->targetList)->expr;
	if (exprType(expr) != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("a rule must return boolean, not type %s",
						format_type_be(exprType(expr))),
				 internalerrposition(exprLocation(expr) >= 0 ?
									 exprLocation(expr) - (int) strlen(RULE_PREFIX) + 1 : 0),
				 internalerrquery(rule)));
	if (contain_volatile_functions(expr))
		rule_error(rule, -1, "a rule must not call volatile functions");

	/* the key, as bigint, for in_segment(name, key) */
	keyattno = get_attnum(relid, keyname);
	if (keyattno == InvalidAttrNumber)
		elog(ERROR, "key column \"%s\" not found", keyname);
	get_atttypetypmodcoll(relid, keyattno, &keytype, &keytypmod, &keycoll);

	cxt.placeholder = LookupFuncName(list_make2(makeString("segment"), makeString("in_segment")),
									 1, argtypes, false);
	cxt.membership = LookupFuncName(list_make2(makeString("segment"), makeString("in_segment")),
									2, argtypes, false);
	cxt.key = coerce_to_target_type(NULL,
									(Node *) makeVar(1, keyattno, keytype, keytypmod, keycoll, 0),
									keytype, INT8OID, -1, COERCION_IMPLICIT,
									COERCE_IMPLICIT_CAST, -1);
	cxt.segments = NIL;
	cxt.rule = rule;
	expr = rewrite_in_segment(expr, &cxt);

	/* columns read, key included when another segment is consulted */
	pull_varattnos(expr, 1, &attrs);
	attr = -1;
	while ((attr = bms_next_member(attrs, attr)) >= 0)
	{
		AttrNumber	attno = attr + FirstLowInvalidHeapAttributeNumber;

		if (attno <= 0)
			rule_error(rule, -1, "a rule must not read system columns or the whole row");
		columns = lappend(columns, get_attname(relid, attno, false));
	}

	/* deparse with every name that needs it qualified: search_path = pg_catalog */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	deparsed = deparse_expression(expr, deparse_context_for("c", relid), true, false);
	AtEOXact_GUC(true, save_nestlevel);

	values[0] = CStringGetTextDatum(deparsed);

	n = list_length(columns);
	elems = palloc(Max(n, 1) * sizeof(Datum));
	n = 0;
	foreach(lc, columns)
		elems[n++] = DirectFunctionCall1(namein, CStringGetDatum((char *) lfirst(lc)));
	values[1] = PointerGetDatum(construct_array(elems, n, NAMEOID, NAMEDATALEN, false,
												TYPALIGN_CHAR));

	n = list_length(cxt.segments);
	elems = palloc(Max(n, 1) * sizeof(Datum));
	n = 0;
	foreach(lc, cxt.segments)
		elems[n++] = CStringGetTextDatum(strVal(lfirst(lc)));
	values[2] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));

	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
