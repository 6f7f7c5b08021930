/*
 * roaring_size.c
 *	  Benchmark helper: what CRoaring (Debian's 0.2.66) makes of a segment's
 *	  bytes, and how long CRoaring itself takes for the same operations.
 *
 * A segment's to_bytea() is exactly the roaring portable serialization, so
 * the helper reads it (as hex, the way psql prints encode(..., 'hex') or a
 * bytea in hex output) and hands it to CRoaring.
 *
 *	roaring_size FILE
 *		prints "<input bytes> <portable size after run_optimize> <same>",
 *		where <same> is 1 when CRoaring's re-serialization after
 *		run_optimize is byte-for-byte the input (the segment is stored in
 *		CRoaring's own canonical form), else 0.
 *
 *	roaring_size bench A_FILE B_FILE REPS
 *		times CRoaring on a and b, REPS repetitions each, and prints one
 *		"<name> <median ms>" line per measurement.  Everything a query on
 *		stored values would have to do with CRoaring is included:
 *		deserializing both inputs, the operation, serializing a result.
 *
 * Built by bench_type.sh into its temporary directory:
 *	cc -O2 -o roaring_size roaring_size.c -lroaring
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <roaring/roaring.h>

static void
die(const char *msg, const char *arg)
{
	fprintf(stderr, "roaring_size: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(1);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Read a file of hex digits (optional "\x" prefix, trailing whitespace). */
static char *
read_hex(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *text,
			   *out;
	long		n;
	size_t		i = 0,
				o = 0;

	if (f == NULL)
		die(strerror(errno), path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		die("cannot size", path);
	text = malloc((size_t) n + 1);
	out = malloc((size_t) n / 2 + 1);
	if (text == NULL || out == NULL)
		die("out of memory", NULL);
	if (fread(text, 1, (size_t) n, f) != (size_t) n)
		die("short read", path);
	fclose(f);

	while (i < (size_t) n && (text[i] == ' ' || text[i] == '\n'))
		i++;
	if (i + 1 < (size_t) n && text[i] == '\\' && text[i + 1] == 'x')
		i += 2;
	for (; i + 1 < (size_t) n; i += 2)
	{
		int			hi = hexval(text[i]),
					lo = hexval(text[i + 1]);

		if (hi < 0 || lo < 0)
			break;
		out[o++] = (char) (hi << 4 | lo);
	}
	/* only whitespace may follow the digits */
	for (; i < (size_t) n; i++)
		if (text[i] != '\n' && text[i] != '\r' && text[i] != ' ')
			die("not a hex string", path);
	free(text);
	*len = o;
	return out;
}

static roaring_bitmap_t *
deserialize(const char *buf, size_t len)
{
	roaring_bitmap_t *r = roaring_bitmap_portable_deserialize_safe(buf, len);

	if (r == NULL)
		die("CRoaring rejected the bytes", NULL);
	return r;
}

static int
size_mode(const char *path)
{
	size_t		len;
	char	   *buf = read_hex(path, &len);
	roaring_bitmap_t *r = deserialize(buf, len);
	size_t		size;
	char	   *out;
	int			same;

	roaring_bitmap_run_optimize(r);
	size = roaring_bitmap_portable_size_in_bytes(r);
	out = malloc(size);
	if (out == NULL)
		die("out of memory", NULL);
	roaring_bitmap_portable_serialize(r, out);
	same = size == len && memcmp(out, buf, len) == 0;
	printf("%zu %zu %d\n", len, size, same);
	free(out);
	roaring_bitmap_free(r);
	free(buf);
	return 0;
}

/*
 * Timing.
 */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef enum
{
	OP_AND,
	OP_OR,
	OP_ANDNOT
} Op;

static const char *op_names[] = {"and", "or", "andnot"};

/* What one timed step does. */
typedef enum
{
	STEP_DESERIALIZE,			/* deserialize a and b, free them */
	STEP_CARD,					/* deserialize a and b, op_cardinality */
	STEP_MATERIALIZE,			/* deserialize a and b, op, run_optimize,
								 * portable_serialize */
	STEP_CARD_ONLY,				/* op_cardinality on deserialized bitmaps */
	STEP_OP_ONLY				/* op + serialize on deserialized bitmaps */
} Step;

static volatile uint64_t sink;

static void
run_step(Step step, Op op, const char *a, size_t alen, const char *b, size_t blen,
		 const roaring_bitmap_t *ra0, const roaring_bitmap_t *rb0)
{
	roaring_bitmap_t *ra = NULL,
			   *rb = NULL,
			   *res = NULL;

	if (step == STEP_CARD_ONLY || step == STEP_OP_ONLY)
	{
		ra = (roaring_bitmap_t *) ra0;
		rb = (roaring_bitmap_t *) rb0;
	}
	else
	{
		ra = deserialize(a, alen);
		rb = deserialize(b, blen);
	}

	switch (step)
	{
		case STEP_DESERIALIZE:
			sink += roaring_bitmap_get_cardinality(ra) > 0;
			break;
		case STEP_CARD:
		case STEP_CARD_ONLY:
			sink += op == OP_AND ? roaring_bitmap_and_cardinality(ra, rb)
				: op == OP_OR ? roaring_bitmap_or_cardinality(ra, rb)
				: roaring_bitmap_andnot_cardinality(ra, rb);
			break;
		case STEP_MATERIALIZE:
		case STEP_OP_ONLY:
			{
				size_t		size;
				char	   *out;

				res = op == OP_AND ? roaring_bitmap_and(ra, rb)
					: op == OP_OR ? roaring_bitmap_or(ra, rb)
					: roaring_bitmap_andnot(ra, rb);
				/* what a stored result needs: canonical form, then bytes */
				roaring_bitmap_run_optimize(res);
				size = roaring_bitmap_portable_size_in_bytes(res);
				out = malloc(size);
				if (out == NULL)
					die("out of memory", NULL);
				roaring_bitmap_portable_serialize(res, out);
				sink += (unsigned char) out[size - 1];
				free(out);
				roaring_bitmap_free(res);
			}
			break;
	}

	if (step != STEP_CARD_ONLY && step != STEP_OP_ONLY)
	{
		roaring_bitmap_free(ra);
		roaring_bitmap_free(rb);
	}
}

static void
time_step(const char *name, Step step, Op op, int reps,
		  const char *a, size_t alen, const char *b, size_t blen,
		  const roaring_bitmap_t *ra, const roaring_bitmap_t *rb)
{
	double	   *t = malloc(sizeof(double) * reps);

	run_step(step, op, a, alen, b, blen, ra, rb);	/* warm up */
	for (int i = 0; i < reps; i++)
	{
		double		t0 = now_ms();

		run_step(step, op, a, alen, b, blen, ra, rb);
		t[i] = now_ms() - t0;
	}
	printf("%s %.3f\n", name, median(t, reps));
	free(t);
}

static int
bench_mode(const char *apath, const char *bpath, int reps)
{
	size_t		alen,
				blen;
	char	   *a = read_hex(apath, &alen);
	char	   *b = read_hex(bpath, &blen);
	roaring_bitmap_t *ra = deserialize(a, alen);
	roaring_bitmap_t *rb = deserialize(b, blen);
	char		name[64];

	time_step("deserialize_a_b", STEP_DESERIALIZE, OP_AND, reps, a, alen, b, blen, ra, rb);
	for (Op op = OP_AND; op <= OP_ANDNOT; op++)
	{
		snprintf(name, sizeof(name), "deser+%s_cardinality", op_names[op]);
		time_step(name, STEP_CARD, op, reps, a, alen, b, blen, ra, rb);
		snprintf(name, sizeof(name), "deser+%s+serialize", op_names[op]);
		time_step(name, STEP_MATERIALIZE, op, reps, a, alen, b, blen, ra, rb);
		snprintf(name, sizeof(name), "%s_cardinality_only", op_names[op]);
		time_step(name, STEP_CARD_ONLY, op, reps, a, alen, b, blen, ra, rb);
		snprintf(name, sizeof(name), "%s+serialize_only", op_names[op]);
		time_step(name, STEP_OP_ONLY, op, reps, a, alen, b, blen, ra, rb);
	}
	roaring_bitmap_free(ra);
	roaring_bitmap_free(rb);
	free(a);
	free(b);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 2)
		return size_mode(argv[1]);
	if (argc == 5 && strcmp(argv[1], "bench") == 0)
	{
		int			reps = atoi(argv[4]);

		if (reps < 1)
			die("REPS must be positive", argv[4]);
		return bench_mode(argv[2], argv[3], reps);
	}
	fprintf(stderr, "usage: %s FILE\n       %s bench A_FILE B_FILE REPS\n", argv[0], argv[0]);
	return 2;
}
