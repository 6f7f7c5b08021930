/*-------------------------------------------------------------------------
 *
 * segment.h
 *	  The segment type: on-disk layout, reading in place, building.
 *
 * A segment is a varlena holding a 4-byte header (format version, flags)
 * followed by the roaring portable serialization of the set, always in
 * canonical form (every container in its smallest encoding), so that equal
 * sets have equal bytes.  See doc/format.md.
 *
 * IDENTIFICATION
 *	  src/segment.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_H
#define SEGMENT_H

#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "container_ops.h"
#include "roaring_format.h"

#define SEGMENT_FORMAT_VERSION	1
#define SEGMENT_MAX_KEY			UINT64CONST(4294967295)

typedef struct SegmentData
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	uint8		version;		/* SEGMENT_FORMAT_VERSION, checked on read */
	uint8		flags;			/* reserved, must be zero */
	uint16		reserved;		/* reserved, must be zero */
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* roaring portable format */
} SegmentData;

/* bytes before the portable serialization, varlena header excluded */
#define SEGMENT_PREFIX_SIZE		(offsetof(SegmentData, data) - VARHDRSZ)

#define PG_RETURN_SEGMENT_P(x)	PG_RETURN_POINTER(x)

/* A segment found in place: its header parsed, its containers not. */
typedef struct SegmentView
{
	RfHeader	h;
	struct varlena *datum;		/* the (detoasted) varlena it points into */
} SegmentView;

/* segment_cache.c */
extern struct varlena *SegmentGetArg(FunctionCallInfo fcinfo, int argno);
extern void SegmentViewInit(struct varlena *datum, SegmentView *sv);
extern void SegmentGetArgView(FunctionCallInfo fcinfo, int argno, SegmentView *sv);
extern void SegmentGetContainer(const SegmentView *sv, uint32 i, RfContainer *c);
extern void SegmentFreeArg(FunctionCallInfo fcinfo, int argno, SegmentView *sv);
extern bool SegmentArgContainsKey(FunctionCallInfo fcinfo, int argno, uint32 key);
extern RcScratch *SegmentScratch(void);

/* segment_writer.c */
typedef struct SegmentWriter
{
	uint32		n;				/* containers so far */
	uint32		max;
	uint16	   *keys;
	uint32	   *cards;
	uint8	   *types;
	bool		any_run;
	char	   *buffer;			/* the result being built */
	size_t		reserve;		/* bytes before the payload, for the header */
	char	   *payload;		/* serialized containers, back to back */
	size_t		used;
	size_t		size;			/* of the payload part of buffer */
} SegmentWriter;

extern void SegmentWriterInit(SegmentWriter *w, size_t payload_hint);
extern void SegmentWriterInitReserved(SegmentWriter *w, size_t payload_hint,
									  uint32 max_containers);
extern void SegmentWriterAddRaw(SegmentWriter *w, const RfContainer *c);
extern void SegmentWriterAddValues(SegmentWriter *w, uint16 key,
								   const uint16 *vals, uint32 n);
extern void SegmentWriterAddWords(SegmentWriter *w, uint16 key,
								  const uint64 *words, uint32 card);
extern void SegmentWriterAddBounds(SegmentWriter *w, uint16 key,
								   const uint32 *bounds, uint32 n, uint32 card);
extern void SegmentWriterAddResult(SegmentWriter *w, uint16 key, const RcResult *r);
extern SegmentData *SegmentWriterFinish(SegmentWriter *w);
extern SegmentData *SegmentFromPortable(const uint8 *buf, size_t len, bool trusted);
extern SegmentData *SegmentFromSortedKeys(const uint32 *keys, size_t n);
extern SegmentData *SegmentEmpty(void);
extern uint32 *SegmentSortKeys(uint32 *keys, size_t n, size_t *nunique);

/* segment_io.c */
extern uint32 SegmentCheckKey(int64 key);
extern Datum segment_to_array(PG_FUNCTION_ARGS);

/* segment_ops.c, called directly */
extern Datum segment_or(PG_FUNCTION_ARGS);
extern Datum segment_andnot(PG_FUNCTION_ARGS);

/* membership.c */
typedef struct SegmentCatalogSave
{
	Oid			userid;
	int			sec_context;
} SegmentCatalogSave;

extern Oid	SegmentCatalogOwner(void);
extern Oid	SegmentTypeOid(void);
extern char *SegmentTypeSchema(void);
extern void SegmentCatalogBegin(SegmentCatalogSave *save);
extern void SegmentCatalogEnd(const SegmentCatalogSave *save);
extern struct _SPI_plan *SegmentKeepPlan(const char *sql, int nargs, Oid *argtypes);

/* segment.c */
extern void _PG_init(void);

#endif							/* SEGMENT_H */
