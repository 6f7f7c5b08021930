/*-------------------------------------------------------------------------
 *
 * segment_support.c
 *	  Planner support functions.
 *
 * cardinality(a & b) is rewritten at plan time to
 * intersection_cardinality(a, b), and likewise for |, - and #: the count
 * walks both segments without building the result.  unnest() of a constant
 * tells the planner how many rows it returns.
 *
 * IDENTIFICATION
 *	  src/segment_support.c
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include "catalog/namespace.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(segment_cardinality_support);
PG_FUNCTION_INFO_V1(segment_unnest_support);

/* Each set operation and the function that only counts its result. */
static const struct
{
	const char *op;
	const char *count;
}			count_rewrites[] = {
	{"segment_and", "intersection_cardinality"},
	{"segment_or", "union_cardinality"},
	{"segment_andnot", "difference_cardinality"},
	{"segment_xor", "symmetric_difference_cardinality"},
};

/*
 * The function a set-operation node calls, and its arguments; InvalidOid if
 * the node is not a call.
 */
static Oid
call_function(Node *node, List **args)
{
	if (IsA(node, OpExpr))
	{
		OpExpr	   *op = (OpExpr *) node;

		*args = op->args;
		return op->opfuncid != InvalidOid ? op->opfuncid : get_opcode(op->opno);
	}
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *fn = (FuncExpr *) node;

		*args = fn->args;
		return fn->funcid;
	}
	return InvalidOid;
}

Datum
segment_cardinality_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	Oid			ns;
	Oid			inner;
	List	   *args = NIL;
	char	   *inner_name;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	if (list_length(req->fcall->args) != 1)
		PG_RETURN_POINTER(NULL);

	inner = call_function(linitial(req->fcall->args), &args);
	if (inner == InvalidOid || list_length(args) != 2)
		PG_RETURN_POINTER(NULL);

	/* only our own operations, in the schema cardinality(segment) lives in */
	ns = get_func_namespace(req->fcall->funcid);
	if (get_func_namespace(inner) != ns)
		PG_RETURN_POINTER(NULL);
	inner_name = get_func_name(inner);

	for (int i = 0; i < lengthof(count_rewrites); i++)
	{
		Oid			argtypes[2];
		Oid			count_fn;
		FuncExpr   *result;

		if (strcmp(inner_name, count_rewrites[i].op) != 0)
			continue;
		argtypes[0] = exprType(linitial(args));
		argtypes[1] = exprType(lsecond(args));
		count_fn = LookupFuncName(list_make2(makeString(get_namespace_name(ns)),
											 makeString(pstrdup(count_rewrites[i].count))),
								  2, argtypes, true);
		if (count_fn == InvalidOid)
			break;
		result = makeFuncExpr(count_fn, INT8OID, args, InvalidOid, InvalidOid,
							  COERCE_EXPLICIT_CALL);
		result->location = req->fcall->location;
		PG_RETURN_POINTER(result);
	}
	PG_RETURN_POINTER(NULL);
}

Datum
segment_unnest_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestRows *req;
	Node	   *arg;

	if (!IsA(rawreq, SupportRequestRows))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestRows *) rawreq;
	if (!is_funcclause(req->node))
		PG_RETURN_POINTER(NULL);
	arg = linitial(((FuncExpr *) req->node)->args);
	if (!IsA(arg, Const) || ((Const *) arg)->constisnull)
		PG_RETURN_POINTER(NULL);
	{
		SegmentView sv;

		SegmentViewInit((struct varlena *) PG_DETOAST_DATUM_PACKED(((Const *) arg)->constvalue), &sv);
		req->rows = (double) rf_cardinality(&sv.h);
	}
	PG_RETURN_POINTER(req);
}
