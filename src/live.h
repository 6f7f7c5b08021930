/*-------------------------------------------------------------------------
 *
 * live.h
 *	  Live segments: the definitions cache, evaluation, keeping membership
 *	  current, and this transaction's unwritten changes.
 *
 * An item is one unit of evaluation: an SQL expression over the customer
 * profile (the customer's columns and traits, alias c).  A boolean item
 * decides one segment (a rule, a static list, a value tier); a label item
 * names, per customer, the one segment of a family (an RFM model's cells,
 * a set of cohorts) the customer belongs to.
 *
 * IDENTIFICATION
 *	  src/live.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_LIVE_H
#define SEGMENT_LIVE_H

#include "segment.h"

#include "nodes/pg_list.h"
#include "executor/tuptable.h"
#include "utils/hsearch.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

/* catalog.c */

typedef struct LiveSource
{
	Oid			relid;
	char	   *relname;		/* quoted, qualified */
	char	   *customer;		/* quoted column name */
	char	   *at;				/* quoted column names; amount, kind: NULL if none */
	char	   *amount;
	char	   *kind;
	Oid			at_type;		/* timestamptz, timestamp or date */
} LiveSource;

typedef struct LiveTrait
{
	char	   *name;
	int			source;			/* index into LiveCatalog.sources */
	char	   *expression;		/* over alias e */
	char	   *type;			/* SQL type name, for placeholders */
	int			nfilters;
	char	  **filters;		/* conjuncts every aggregate's FILTER has */
	bool		hidden;			/* a model's input, not in segment.traits */
} LiveTrait;

typedef struct LiveItem
{
	char	   *name;			/* the segment, or the family */
	bool		is_label;		/* label item of a family */
	bool		is_static;		/* a fixed list: never evaluated */
	char	   *expression;		/* over alias c: boolean, or text label */
	Oid			owner;
	int			depth;
	bool		event_dependent;	/* re-evaluated when events change */
	int			ncolumns;
	char	  **columns;		/* customer columns read (quoted) */
	int			ntraits;
	int		   *traits;			/* indexes into LiveCatalog.traits */
	int			ndepends;
	char	  **depends_on;		/* segments read with in_segment() */
	/* label items */
	bool		creates_members;	/* a new label makes a new segment */
	int			nmembers;
	char	  **member_labels;
	char	  **member_names;
} LiveItem;

typedef struct LiveCatalog
{
	bool		tracked;		/* a customer table is tracked */
	Oid			customers;
	char	   *customers_sql;	/* quoted, qualified */
	char	   *key;			/* quoted key column */
	char	   *ext_schema;		/* quoted schema of the segment type */
	Oid			segtype;
	int			nsources;
	LiveSource *sources;
	int			ntraits;
	LiveTrait  *traits;
	int			nitems;
	LiveItem   *items;			/* by depth, then owner, then name */
	int			maxdepth;
	HTAB	   *segments;		/* segment name -> LiveSegmentEntry */
	MemoryContext context;
	int			pins;
	bool		stale;
} LiveCatalog;

typedef struct LiveSegmentEntry
{
	char		name[NAMEDATALEN * 4];	/* hash key */
	int			item;			/* the item deciding it */
	const char *label;			/* its label, for members of a family */
} LiveSegmentEntry;

extern LiveCatalog *LiveCatalogPin(void);
extern void LiveCatalogUnpin(LiveCatalog *cat);
extern uint64 LiveCatalogVersion(void);

/* A cache of objects read from the catalog by name (catalog.c) */
typedef struct LiveNamedCache
{
	const char *what;			/* "RFM model": in error messages */
	MemoryContext context;		/* NULL until first used */
	List	   *entries;
	uint64		version;
	struct _SPI_plan *plan;
	Oid			plan_type;
} LiveNamedCache;

extern void *LiveNamedCacheFind(LiveNamedCache *cache, const char *name);
extern HeapTuple LiveNamedCacheRead(LiveNamedCache *cache, const char *sql, const char *name,
									SegmentCatalogSave *save);
extern void LiveNamedCacheAdd(LiveNamedCache *cache, const char *name, void *value,
							  SegmentCatalogSave *save);
extern double *LiveFloat8Array(Datum d, double null_value, int *n);
extern LiveSegmentEntry *LiveCatalogFind(LiveCatalog *cat, const char *segment);
extern LiveSource *LiveCatalogSource(LiveCatalog *cat, Oid relid);
extern void LiveCatalogForget(void);

/* evaluate.c */

typedef struct LiveResult
{
	SegmentData *members;		/* boolean items */
	int			nlabels;		/* label items */
	char	  **labels;
	SegmentData **label_members;
} LiveResult;

typedef void (*LiveRowCallback) (TupleTableSlot *slot, void *arg);

extern void LiveEvaluate(LiveCatalog *cat, LiveItem **items, int nitems,
						 SegmentData *keys, LiveResult *results);
extern void LiveQuery(const char *sql, Oid role, Oid argtype, Datum arg,
					  LiveRowCallback callback, void *cbarg);
extern uint32 LiveSlotKey(TupleTableSlot *slot, int col, bool *isnull);
extern char *LiveProfileSql(LiveCatalog *cat, int nitems, LiveItem **items,
							bool all_traits, const char *key_filter, bool lateral);

/* process.c */

typedef struct LiveChange
{
	char	   *segment;
	int64		entered;
	int64		exited;
} LiveChange;

extern void LiveMarkChanged(const uint32 *keys, size_t n, bool events_only);
extern void LiveNoteRemoved(const uint32 *keys, size_t n);
extern void LiveSync(void);
extern bool LiveProcessing(void);
extern bool LiveKnownMember(const char *name, uint32 key, bool *member);
extern void LiveLockAll(void);
extern Snapshot LiveFreshSnapshot(void);
extern LiveCatalog *LiveFullBegin(void);
extern void LiveFullEnd(LiveCatalog *cat);
extern List *LiveApplyFull(LiveCatalog *cat, char **names, SegmentData **fresh, int n);
extern void LiveReturnChanges(FunctionCallInfo fcinfo, List *changes);

/* membership.c */

extern SegmentData *LiveStoredMembers(const char *name);

/* storage.c */

typedef struct StoredChunk
{
	int32		chunk;
	SegmentData *members;
} StoredChunk;

typedef struct StoredSegment
{
	int			nchunks;
	int			max;
	StoredChunk *chunks;		/* in chunk order */
} StoredSegment;

extern StoredSegment *StorageRead(char **names, int n, SegmentData *keys, bool only_keys,
								  bool lock);
extern SegmentData *StorageAssemble(StoredSegment *seg);
extern void StorageWrite(int n, Datum *names, Datum *chunks, Datum *came, Datum *went,
						 TimestampTz at);

/* pending.c */

extern void PendingRecord(const char *name, SegmentData *came, SegmentData *went, bool exact);
extern void PendingForget(const char *name);
extern void PendingFlush(bool announce);
extern bool PendingAny(void);
extern SegmentData *PendingApplyChunk(const char *name, int32 chunk, SegmentData *stored);
extern SegmentData *PendingApplySegment(const char *name, SegmentData *stored);

/* clock.c */

extern void ClockDefineSetting(void);

/* notify.c */

extern void NotifyChanges(List *changes);

/* segment_ops.c, for set arithmetic on whole values */
extern SegmentData *SegmentAnd(SegmentData *a, SegmentData *b);
extern SegmentData *SegmentOr(SegmentData *a, SegmentData *b);
extern SegmentData *SegmentAndNot(SegmentData *a, SegmentData *b);
extern bool SegmentIsEmpty(SegmentData *s);
extern bool SegmentContains(SegmentData *s, uint32 key);
extern uint64 SegmentCardinality(SegmentData *s);

#endif							/* SEGMENT_LIVE_H */
