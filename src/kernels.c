/*-------------------------------------------------------------------------
 *
 * kernels.c
 *	  Bitset population counts and logical operations, per instruction set.
 *
 * Each variant is compiled with a target attribute and picked once, at load,
 * with __builtin_cpu_supports: a portable one, one with the POPCNT
 * instruction, one with AVX2 (nibble-lookup popcount) and one with AVX-512BW.
 * Inputs are byte pointers: serialized containers are not 8-byte aligned.
 *
 * IDENTIFICATION
 *	  src/kernels.c
 *
 *-------------------------------------------------------------------------
 */
#include "kernels.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RK_X86 1
#endif

static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t
apply(RkOp op, uint64_t a, uint64_t b)
{
	switch (op)
	{
		case RK_AND:
			return a & b;
		case RK_OR:
			return a | b;
		case RK_ANDNOT:
			return a & ~b;
		case RK_XOR:
		default:
			return a ^ b;
	}
}

/*
 * Portable: SWAR population count.
 */
static inline uint64_t
swar_popcount(uint64_t x)
{
	x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
	x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
	return (x * UINT64_C(0x0101010101010101)) >> 56;
}

static uint64_t
portable_popcount(const uint8_t *a, size_t n)
{
	uint64_t	total = 0;

	for (size_t i = 0; i < n; i++)
		total += swar_popcount(load64(a + 8 * i));
	return total;
}

static uint64_t
portable_and_popcount(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t	total = 0;

	for (size_t i = 0; i < n; i++)
		total += swar_popcount(load64(a + 8 * i) & load64(b + 8 * i));
	return total;
}

static uint64_t
portable_op(RkOp op, const uint8_t *a, const uint8_t *b, uint64_t *out, size_t n)
{
	uint64_t	total = 0;

	for (size_t i = 0; i < n; i++)
	{
		out[i] = apply(op, load64(a + 8 * i), load64(b + 8 * i));
		total += swar_popcount(out[i]);
	}
	return total;
}

static const RkKernels portable_kernels = {
	"portable", portable_popcount, portable_and_popcount, portable_op
};

#ifdef RK_X86

/*
 * POPCNT instruction.
 */
__attribute__((target("popcnt")))
static uint64_t
popcnt_popcount(const uint8_t *a, size_t n)
{
	uint64_t	total = 0;

	for (size_t i = 0; i < n; i++)
		total += (uint64_t) __builtin_popcountll(load64(a + 8 * i));
	return total;
}

__attribute__((target("popcnt")))
static uint64_t
popcnt_and_popcount(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t	total = 0;

	for (size_t i = 0; i < n; i++)
		total += (uint64_t) __builtin_popcountll(load64(a + 8 * i) & load64(b + 8 * i));
	return total;
}

__attribute__((target("popcnt")))
static uint64_t
popcnt_op(RkOp op, const uint8_t *a, const uint8_t *b, uint64_t *out, size_t n)
{
	uint64_t	total = 0;

	for (size_t i = 0; i < n; i++)
	{
		out[i] = apply(op, load64(a + 8 * i), load64(b + 8 * i));
		total += (uint64_t) __builtin_popcountll(out[i]);
	}
	return total;
}

static const RkKernels popcnt_kernels = {
	"popcnt", popcnt_popcount, popcnt_and_popcount, popcnt_op
};

/*
 * AVX2: per-byte counts by a 16-entry nibble table (vpshufb), summed per
 * 64-bit lane with vpsadbw.  Tails of fewer than four words use POPCNT.
 */
__attribute__((target("avx2,popcnt")))
static inline __m256i
avx2_count_bytes(__m256i v)
{
	const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
										   0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
	const __m256i low = _mm256_set1_epi8(0x0F);
	__m256i		lo = _mm256_and_si256(v, low);
	__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);

	return _mm256_add_epi8(_mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi));
}

__attribute__((target("avx2,popcnt")))
static inline uint64_t
avx2_sum_lanes(__m256i acc)
{
	return (uint64_t) _mm256_extract_epi64(acc, 0) + (uint64_t) _mm256_extract_epi64(acc, 1) +
		(uint64_t) _mm256_extract_epi64(acc, 2) + (uint64_t) _mm256_extract_epi64(acc, 3);
}

__attribute__((target("avx2,popcnt")))
static uint64_t
avx2_popcount(const uint8_t *a, size_t n)
{
	__m256i		acc = _mm256_setzero_si256();
	size_t		i = 0;
	uint64_t	total;

	for (; i + 4 <= n; i += 4)
	{
		__m256i		v = _mm256_loadu_si256((const __m256i *) (a + 8 * i));

		acc = _mm256_add_epi64(acc, _mm256_sad_epu8(avx2_count_bytes(v), _mm256_setzero_si256()));
	}
	total = avx2_sum_lanes(acc);
	for (; i < n; i++)
		total += (uint64_t) __builtin_popcountll(load64(a + 8 * i));
	return total;
}

__attribute__((target("avx2,popcnt")))
static uint64_t
avx2_and_popcount(const uint8_t *a, const uint8_t *b, size_t n)
{
	__m256i		acc = _mm256_setzero_si256();
	size_t		i = 0;
	uint64_t	total;

	for (; i + 4 <= n; i += 4)
	{
		__m256i		v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *) (a + 8 * i)),
										 _mm256_loadu_si256((const __m256i *) (b + 8 * i)));

		acc = _mm256_add_epi64(acc, _mm256_sad_epu8(avx2_count_bytes(v), _mm256_setzero_si256()));
	}
	total = avx2_sum_lanes(acc);
	for (; i < n; i++)
		total += (uint64_t) __builtin_popcountll(load64(a + 8 * i) & load64(b + 8 * i));
	return total;
}

__attribute__((target("avx2,popcnt")))
static uint64_t
avx2_op(RkOp op, const uint8_t *a, const uint8_t *b, uint64_t *out, size_t n)
{
	__m256i		acc = _mm256_setzero_si256();
	size_t		i = 0;
	uint64_t	total;

	for (; i + 4 <= n; i += 4)
	{
		__m256i		x = _mm256_loadu_si256((const __m256i *) (a + 8 * i));
		__m256i		y = _mm256_loadu_si256((const __m256i *) (b + 8 * i));
		__m256i		v;

		switch (op)
		{
			case RK_AND:
				v = _mm256_and_si256(x, y);
				break;
			case RK_OR:
				v = _mm256_or_si256(x, y);
				break;
			case RK_ANDNOT:
				v = _mm256_andnot_si256(y, x);
				break;
			case RK_XOR:
			default:
				v = _mm256_xor_si256(x, y);
				break;
		}
		_mm256_storeu_si256((__m256i *) (out + i), v);
		acc = _mm256_add_epi64(acc, _mm256_sad_epu8(avx2_count_bytes(v), _mm256_setzero_si256()));
	}
	total = avx2_sum_lanes(acc);
	for (; i < n; i++)
	{
		out[i] = apply(op, load64(a + 8 * i), load64(b + 8 * i));
		total += (uint64_t) __builtin_popcountll(out[i]);
	}
	return total;
}

static const RkKernels avx2_kernels = {
	"avx2", avx2_popcount, avx2_and_popcount, avx2_op
};

/*
 * AVX-512BW: the same nibble lookup, 64 bytes at a time.
 */
__attribute__((target("avx512f,avx512bw,popcnt")))
static inline __m512i
avx512_count_lanes(__m512i v)
{
	const __m512i table = _mm512_set4_epi32(0x04030302, 0x03020201, 0x03020201, 0x02010100);
	const __m512i low = _mm512_set1_epi8(0x0F);
	__m512i		lo = _mm512_and_si512(v, low);
	__m512i		hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
	__m512i		bytes = _mm512_add_epi8(_mm512_shuffle_epi8(table, lo),
										_mm512_shuffle_epi8(table, hi));

	return _mm512_sad_epu8(bytes, _mm512_setzero_si512());
}

__attribute__((target("avx512f,avx512bw,popcnt")))
static uint64_t
avx512_popcount(const uint8_t *a, size_t n)
{
	__m512i		acc = _mm512_setzero_si512();
	size_t		i = 0;
	uint64_t	total;

	for (; i + 8 <= n; i += 8)
		acc = _mm512_add_epi64(acc, avx512_count_lanes(_mm512_loadu_si512(a + 8 * i)));
	total = (uint64_t) _mm512_reduce_add_epi64(acc);
	for (; i < n; i++)
		total += (uint64_t) __builtin_popcountll(load64(a + 8 * i));
	return total;
}

__attribute__((target("avx512f,avx512bw,popcnt")))
static uint64_t
avx512_and_popcount(const uint8_t *a, const uint8_t *b, size_t n)
{
	__m512i		acc = _mm512_setzero_si512();
	size_t		i = 0;
	uint64_t	total;

	for (; i + 8 <= n; i += 8)
		acc = _mm512_add_epi64(acc,
							   avx512_count_lanes(_mm512_and_si512(_mm512_loadu_si512(a + 8 * i),
																   _mm512_loadu_si512(b + 8 * i))));
	total = (uint64_t) _mm512_reduce_add_epi64(acc);
	for (; i < n; i++)
		total += (uint64_t) __builtin_popcountll(load64(a + 8 * i) & load64(b + 8 * i));
	return total;
}

__attribute__((target("avx512f,avx512bw,popcnt")))
static uint64_t
avx512_op(RkOp op, const uint8_t *a, const uint8_t *b, uint64_t *out, size_t n)
{
	__m512i		acc = _mm512_setzero_si512();
	size_t		i = 0;
	uint64_t	total;

	for (; i + 8 <= n; i += 8)
	{
		__m512i		x = _mm512_loadu_si512(a + 8 * i);
		__m512i		y = _mm512_loadu_si512(b + 8 * i);
		__m512i		v;

		switch (op)
		{
			case RK_AND:
				v = _mm512_and_si512(x, y);
				break;
			case RK_OR:
				v = _mm512_or_si512(x, y);
				break;
			case RK_ANDNOT:
				v = _mm512_andnot_si512(y, x);
				break;
			case RK_XOR:
			default:
				v = _mm512_xor_si512(x, y);
				break;
		}
		_mm512_storeu_si512(out + i, v);
		acc = _mm512_add_epi64(acc, avx512_count_lanes(v));
	}
	total = (uint64_t) _mm512_reduce_add_epi64(acc);
	for (; i < n; i++)
	{
		out[i] = apply(op, load64(a + 8 * i), load64(b + 8 * i));
		total += (uint64_t) __builtin_popcountll(out[i]);
	}
	return total;
}

static const RkKernels avx512_kernels = {
	"avx512bw", avx512_popcount, avx512_and_popcount, avx512_op
};
#endif							/* RK_X86 */

const RkKernels *rk = &portable_kernels;

/*
 * Pick the best kernels this CPU runs.
 */
void
rk_init(void)
{
	rk = &portable_kernels;
#ifdef RK_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("popcnt"))
		rk = &avx512_kernels;
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
		rk = &avx2_kernels;
	else if (__builtin_cpu_supports("popcnt"))
		rk = &popcnt_kernels;
#endif
}

/*
 * Kernels by name, for tests that compare every variant the CPU runs;
 * NULL when unknown or unsupported here.
 */
const RkKernels *
rk_select(const char *name)
{
	if (strcmp(name, "portable") == 0)
		return &portable_kernels;
#ifdef RK_X86
	__builtin_cpu_init();
	if (strcmp(name, "popcnt") == 0 && __builtin_cpu_supports("popcnt"))
		return &popcnt_kernels;
	if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
		__builtin_cpu_supports("popcnt"))
		return &avx2_kernels;
	if (strcmp(name, "avx512bw") == 0 && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("popcnt"))
		return &avx512_kernels;
#endif
	return NULL;
}
