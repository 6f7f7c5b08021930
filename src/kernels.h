/*-------------------------------------------------------------------------
 *
 * kernels.h
 *	  Bitset kernels chosen at run time by CPU.
 *
 * Debian's CRoaring is built for baseline x86-64, without POPCNT or AVX2.
 * These kernels work on serialized (unaligned, little-endian) bitset
 * containers in place, using the best instructions the CPU has.
 *
 * IDENTIFICATION
 *	  src/kernels.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KERNELS_H
#define KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum RkOp
{
	RK_AND,
	RK_OR,
	RK_ANDNOT,
	RK_XOR
} RkOp;

typedef struct RkKernels
{
	const char *name;
	/* population count of nwords 64-bit words */
	uint64_t	(*popcount) (const uint8_t *a, size_t nwords);
	/* population count of a & b */
	uint64_t	(*and_popcount) (const uint8_t *a, const uint8_t *b, size_t nwords);
	/* out = a op b over nwords words; returns the population count of out */
	uint64_t	(*op) (RkOp op, const uint8_t *a, const uint8_t *b, uint64_t *out,
					   size_t nwords);
} RkKernels;

extern const RkKernels *rk;

/*
 * One word's population count, inline.  Outside the dispatched kernels the
 * build targets baseline x86-64, where __builtin_popcountll is a call into
 * libgcc; this is a dozen instructions.
 */
static inline uint32_t
rk_popcount64(uint64_t x)
{
	x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
	x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
	return (uint32_t) ((x * UINT64_C(0x0101010101010101)) >> 56);
}

extern void rk_init(void);
extern const RkKernels *rk_select(const char *name);

#endif							/* KERNELS_H */
