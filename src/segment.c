/*-------------------------------------------------------------------------
 *
 * segment.c
 *	  Module entry point and settings.
 *
 * IDENTIFICATION
 *	  src/segment.c
 *
 *-------------------------------------------------------------------------
 */
#include "live.h"

#include "utils/guc.h"

PG_MODULE_MAGIC;

typedef enum SegmentKernelChoice
{
	KERNELS_AUTO,
	KERNELS_PORTABLE,
	KERNELS_POPCNT,
	KERNELS_AVX2,
	KERNELS_AVX512BW
} SegmentKernelChoice;

static const struct config_enum_entry kernel_options[] = {
	{"auto", KERNELS_AUTO, false},
	{"portable", KERNELS_PORTABLE, false},
	{"popcnt", KERNELS_POPCNT, false},
	{"avx2", KERNELS_AVX2, false},
	{"avx512bw", KERNELS_AVX512BW, false},
	{NULL, 0, false}
};

static int	segment_kernels = KERNELS_AUTO;

static const char *
kernel_name(int choice)
{
	for (const struct config_enum_entry *e = kernel_options; e->name; e++)
		if (e->val == choice)
			return e->name;
	return "auto";
}

static bool
check_kernels(int *newval, void **extra, GucSource source)
{
	if (*newval != KERNELS_AUTO && rk_select(kernel_name(*newval)) == NULL)
	{
		GUC_check_errdetail("This CPU does not support the \"%s\" kernels.",
							kernel_name(*newval));
		return false;
	}
	return true;
}

static void
assign_kernels(int newval, void *extra)
{
	if (newval == KERNELS_AUTO)
		rk_init();
	else
		rk = rk_select(kernel_name(newval));
}

void
_PG_init(void)
{
	rk_init();

	DefineCustomEnumVariable("segment.kernels",
							 "Selects the bitset kernels segment operations use.",
							 "\"auto\" picks the fastest this CPU supports; the others exist "
							 "to test and measure each variant.",
							 &segment_kernels,
							 KERNELS_AUTO,
							 kernel_options,
							 PGC_USERSET,
							 0,
							 check_kernels, assign_kernels, NULL);

	ClockDefineSetting();

	MarkGUCPrefixReserved("segment");
}
