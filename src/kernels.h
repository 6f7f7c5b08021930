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

extern void rk_init(void);
extern const RkKernels *rk_select(const char *name);

#endif							/* KERNELS_H */
