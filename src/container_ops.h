/*-------------------------------------------------------------------------
 *
 * container_ops.h
 *	  Set operations on serialized roaring containers, read in place.
 *
 * Like roaring_format.h this depends on no PostgreSQL header.  Results are
 * left in a scratch area in one of three forms (sorted values, a bitset, or
 * intervals); segment_writer.c turns a result into its canonical container.
 *
 * IDENTIFICATION
 *	  src/container_ops.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONTAINER_OPS_H
#define CONTAINER_OPS_H

#include "kernels.h"
#include "roaring_format.h"

/*
 * Intervals are half-open [start, end) pairs of uint32 in one array, so the
 * end of a run reaching 65535 still fits.
 */
#define RC_MAX_INTERVALS	RF_MAX_RUNS

typedef struct RcResult
{
	RfType		form;			/* RF_ARRAY: vals; RF_BITSET: words; RF_RUN:
								 * bounds */
	uint32_t	card;
	uint32_t	n;				/* values, or intervals */
	const uint16_t *vals;
	const uint64_t *words;
	const uint32_t *bounds;
} RcResult;

/* Work space for one operation at a time; about 1.3 MB, allocated once. */
typedef struct RcScratch
{
	uint64_t	words_a[RF_BITSET_WORDS];
	uint64_t	words_b[RF_BITSET_WORDS];
	uint64_t	words_out[RF_BITSET_WORDS];
	uint32_t	bounds_a[2 * RC_MAX_INTERVALS];
	uint32_t	bounds_b[2 * RC_MAX_INTERVALS];
	uint32_t	bounds_out[4 * RC_MAX_INTERVALS];
	uint16_t	vals_a[65536];
	uint16_t	vals_out[65536];
} RcScratch;

extern uint32_t rc_to_bounds(const RfContainer *c, uint32_t *bounds);
extern void rc_to_words(const RfContainer *c, uint64_t *words);
extern uint32_t rc_decode(const RfContainer *c, uint16_t *out);

extern uint32_t rc_and_card(const RfContainer *a, const RfContainer *b, RcScratch *s);
extern void rc_op(RkOp op, const RfContainer *a, const RfContainer *b,
				  RcScratch *s, RcResult *r);
extern void rc_and_range(const RfContainer *c, uint32_t lo, uint32_t hi,
						 RcScratch *s, RcResult *r);

extern bool rc_contains(const RfContainer *c, uint16_t low);
extern uint32_t rc_rank(const RfContainer *c, uint16_t low);
extern uint16_t rc_select(const RfContainer *c, uint32_t idx);
extern uint16_t rc_min(const RfContainer *c);
extern uint16_t rc_max(const RfContainer *c);

/* 2 + 4 * runs < min(8192, 2 * 4096 + 2) fails from this many runs on */
#define RC_RUNS_DECISIVE	2048

extern uint32_t rc_count_runs_words(const uint64_t *words, uint32_t limit);

#endif							/* CONTAINER_OPS_H */
