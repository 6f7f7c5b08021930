/*-------------------------------------------------------------------------
 *
 * roaring_format.h
 *	  Reading the roaring portable serialization in place.
 *
 * The portable format (RoaringFormatSpec) is what a segment stores, after an
 * 8-byte varlena and version header.  This module only reads it: it finds
 * containers without deserializing, and validates untrusted bytes before
 * anything else, CRoaring included, looks at them.  It depends on no
 * PostgreSQL header, so the fuzzers can link it alone.
 *
 * IDENTIFICATION
 *	  src/roaring_format.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROARING_FORMAT_H
#define ROARING_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RF_COOKIE_NO_RUN		12346
#define RF_COOKIE_RUN			12347
#define RF_NO_OFFSET_THRESHOLD	4
#define RF_MAX_CONTAINERS		65536
#define RF_ARRAY_MAX			4096	/* more members than this: a bitset */
#define RF_BITSET_WORDS			1024
#define RF_BITSET_BYTES			8192
#define RF_MAX_RUNS				32768	/* alternating members in 65,536 */

typedef enum RfType
{
	RF_ARRAY = 1,
	RF_BITSET = 2,
	RF_RUN = 3
} RfType;

/* Where the parts of a serialized bitmap are; all pointers into buf. */
typedef struct RfHeader
{
	const uint8_t *buf;
	size_t		len;
	uint32_t	n;				/* number of containers */
	const uint8_t *runflags;	/* NULL for the no-run cookie */
	const uint8_t *keycards;	/* n x (uint16 key, uint16 cardinality - 1) */
	const uint8_t *offsets;		/* n x uint32, NULL when absent */
	size_t		data_start;		/* offset of the first container */
} RfHeader;

/* One container, found in place. */
typedef struct RfContainer
{
	uint16_t	key;			/* high 16 bits of its members */
	uint8_t		type;			/* RfType */
	uint32_t	card;			/* 1..65536 */
	uint32_t	nruns;			/* run containers only */
	const uint8_t *data;		/* array: card x u16; bitset: 1024 x u64;
								 * run: nruns x (u16 start, u16 length) */
	size_t		size;			/* serialized size, run count included */
} RfContainer;

typedef enum RfError
{
	RF_OK = 0,
	RF_ERR_TRUNCATED,
	RF_ERR_COOKIE,
	RF_ERR_COUNT,
	RF_ERR_RUNFLAGS,
	RF_ERR_KEYS,
	RF_ERR_OFFSET,
	RF_ERR_ARRAY,
	RF_ERR_RUN_COUNT,
	RF_ERR_RUN_ORDER,
	RF_ERR_RUN_RANGE,
	RF_ERR_CARDINALITY,
	RF_ERR_TRAILING
} RfError;

/* What validation found, for an error message or for canonicalization. */
typedef struct RfValidation
{
	RfError		error;
	uint32_t	container;		/* index of the offending container */
	uint64_t	declared;		/* for cardinality mismatches */
	uint64_t	found;
	bool		canonical;		/* every container in its smallest form */
} RfValidation;

/* Little-endian unaligned loads and stores. */
static inline uint16_t
rf_load16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t
rf_load32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static inline uint64_t
rf_load64(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));	/* the format and every target are LE */
	return v;
}

static inline void
rf_store16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

static inline void
rf_store32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

static inline uint16_t
rf_key(const RfHeader *h, uint32_t i)
{
	return rf_load16(h->keycards + 4 * (size_t) i);
}

static inline uint32_t
rf_card(const RfHeader *h, uint32_t i)
{
	return (uint32_t) rf_load16(h->keycards + 4 * (size_t) i + 2) + 1;
}

static inline bool
rf_is_run(const RfHeader *h, uint32_t i)
{
	return h->runflags != NULL && (h->runflags[i >> 3] >> (i & 7)) & 1;
}

/* Serialized size of a container of each kind. */
static inline size_t
rf_container_size(RfType type, uint32_t card, uint32_t nruns)
{
	switch (type)
	{
		case RF_ARRAY:
			return 2 * (size_t) card;
		case RF_BITSET:
			return RF_BITSET_BYTES;
		case RF_RUN:
		default:
			return 2 + 4 * (size_t) nruns;
	}
}

/*
 * The canonical kind for a container: the smallest, ties going to array or
 * bitset.  This is CRoaring's run_optimize rule; one set has one encoding, so
 * equal segments have equal bytes.
 */
static inline RfType
rf_canonical_type(uint32_t card, uint32_t nruns)
{
	size_t		run_size = 2 + 4 * (size_t) nruns;
	size_t		other_size = card <= RF_ARRAY_MAX ? 2 * (size_t) card + 2 : RF_BITSET_BYTES;

	if (run_size < other_size)
		return RF_RUN;
	return card <= RF_ARRAY_MAX ? RF_ARRAY : RF_BITSET;
}

extern RfError rf_parse_header(const uint8_t *buf, size_t len, RfHeader *h);
extern bool rf_get_container(const RfHeader *h, uint32_t i, RfContainer *c);
extern int64_t rf_find_key(const RfHeader *h, uint16_t key);
extern uint64_t rf_cardinality(const RfHeader *h);
extern void rf_validate(const uint8_t *buf, size_t len, RfValidation *v);
extern const char *rf_error_message(RfError error);

#endif							/* ROARING_FORMAT_H */
