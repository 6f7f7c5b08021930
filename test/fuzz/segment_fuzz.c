/*-------------------------------------------------------------------------
 *
 * segment_fuzz.c
 *	  Fuzz client for the text and binary input of the segment type.
 *
 * Sends random and mutated inputs through a live server and checks that
 * the server never crashes, that every rejection carries the right
 * SQLSTATE, and that every accepted value round-trips exactly.  The client
 * carries its own reference implementation of both formats (a text parser,
 * a canonical text renderer, an encoder and a strict validator/decoder of
 * the CRoaring portable serialization), so it also catches wrong answers:
 * valid input that is rejected, invalid input that is accepted, and
 * accepted input that comes back as a different set.
 *
 * Connection parameters come from the libpq environment (PGHOST, PGPORT,
 * PGDATABASE, PGUSER, ...).  Work is sent in batches through libpq's
 * pipeline mode, each query followed by its own sync so that one error
 * does not abort the rest of the batch.
 *
 * IDENTIFICATION
 *	  test/fuzz/segment_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define UMAX		UINT64_C(4294967295)	/* largest member */
#define TEXTOID		25
#define BYTEAOID	17

/* SQLSTATEs a rejection may carry, as a bit mask */
#define E_22P02		1u			/* invalid_text_representation */
#define E_22003		2u			/* numeric_value_out_of_range */
#define E_22P03		4u			/* invalid_binary_representation */

/* what the reference implementation says about an input */
enum
{
	V_VALID,					/* must be accepted, as exactly this set */
	V_AMB,						/* the format leaves it open: either outcome */
	V_INVALID					/* must be rejected */
};

enum
{
	S_TEXT,						/* (a) valid text from a model set */
	S_TEXT_MUT,					/* (b) mutated text */
	S_BIN,						/* (c) valid binary from a model set */
	S_BIN_MUT,					/* (d) mutated or corrupted binary */
	S_SEND_MUT,					/* (e) the server's own send output, mutated */
	S_COUNT
};

static const char *const strategy_names[S_COUNT] = {
	"a:valid-text", "b:mutated-text", "c:valid-binary",
	"d:mutated-binary", "e:mutated-server-send"
};

enum
{
	P_TEXT_IN,					/* text parameter of type segment: segment_in */
	P_TEXT_CAST,				/* text parameter of type text, $1::segment */
	P_RECV,						/* binary parameter of type segment: segment_recv */
	P_BYTEA,					/* binary parameter of type bytea, $1::segment */
	P_COUNT
};

static const char *const path_names[P_COUNT] = {
	"text parameter of type segment (segment_in)",
	"text parameter of type text, $1::segment",
	"binary parameter of type segment (segment_recv)",
	"binary parameter of type bytea, $1::segment (bytea cast)"
};

/*
 * Every input goes through the same query: the value's text output, its
 * send output, its bytea cast, and whether re-parsing its text output gives
 * an equal value.  OFFSET 0 keeps the input function from running once per
 * reference to v.
 */
#define Q1_SQL \
	"SELECT v::text, v, v::bytea, v::text::segment = v " \
	"FROM (SELECT $1::segment AS v OFFSET 0) AS s"

/* ----------------------------------------------------------------
 * Options and global state
 * ----------------------------------------------------------------
 */
static long opt_iterations = 100000;
static uint64_t opt_seed = 1;
static bool opt_verbose = false;
static bool opt_keep_going = false;
static bool opt_create = false;
static int	opt_batch = 256;

static PGconn *conn;
static unsigned int segment_oid;

static long n_inputs;
static long n_accepted;
static long n_rejected;
static long n_failures;
static long n_queries;
static uint64_t n_bytes_sent;
static uint64_t n_bytes_received;
static long n_by_strategy[S_COUNT][2];	/* [strategy][accepted?] */
static long n_by_verdict[3];

/* ----------------------------------------------------------------
 * Small utilities
 * ----------------------------------------------------------------
 */
static void *
xrealloc(void *p, size_t n)
{
	void	   *r = realloc(p, n ? n : 1);

	if (r == NULL)
	{
		fprintf(stderr, "segment_fuzz: out of memory\n");
		exit(2);
	}
	return r;
}

static void
internal_error(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "segment_fuzz: internal error (a bug in the fuzzer, not the server): ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(3);
}

/* a growable byte buffer, always NUL-terminated for use as a C string */
typedef struct Buf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_reserve(Buf *b, size_t extra)
{
	if (b->len + extra + 1 > b->cap)
	{
		size_t		ncap = b->cap ? b->cap * 2 : 64;

		while (ncap < b->len + extra + 1)
			ncap *= 2;
		b->data = xrealloc(b->data, ncap);
		b->cap = ncap;
	}
}

static void
buf_put(Buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

static void
buf_putc(Buf *b, uint8_t c)
{
	buf_put(b, &c, 1);
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void
buf_putu64(Buf *b, uint64_t v)
{
	char		tmp[24];

	snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	buf_puts(b, tmp);
}

static void
buf_put16(Buf *b, uint16_t v)
{
	uint8_t		t[2] = {(uint8_t) v, (uint8_t) (v >> 8)};

	buf_put(b, t, 2);
}

static void
buf_put32(Buf *b, uint32_t v)
{
	uint8_t		t[4] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24)};

	buf_put(b, t, 4);
}

static void
buf_put64(Buf *b, uint64_t v)
{
	buf_put32(b, (uint32_t) v);
	buf_put32(b, (uint32_t) (v >> 32));
}

static void
buf_reset(Buf *b)
{
	b->len = 0;
	buf_reserve(b, 0);
	b->data[0] = 0;
}

static void
buf_set(Buf *b, const void *p, size_t n)
{
	buf_reset(b);
	buf_put(b, p, n);
}

static void
buf_insert(Buf *b, size_t pos, const void *p, size_t n)
{
	if (pos > b->len)
		pos = b->len;
	buf_reserve(b, n);
	memmove(b->data + pos + n, b->data + pos, b->len - pos);
	memcpy(b->data + pos, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

static void
buf_delete(Buf *b, size_t pos, size_t n)
{
	if (pos >= b->len)
		return;
	if (n > b->len - pos)
		n = b->len - pos;
	memmove(b->data + pos, b->data + pos + n, b->len - pos - n);
	b->len -= n;
	b->data[b->len] = 0;
}

static void
buf_truncate(Buf *b, size_t n)
{
	if (n < b->len)
	{
		b->len = n;
		b->data[n] = 0;
	}
}

static void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static bool
buf_eq(const Buf *b, const uint8_t *p, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static uint64_t
rd64(const uint8_t *p)
{
	return (uint64_t) rd32(p) | ((uint64_t) rd32(p + 4) << 32);
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

static void
wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t) v);
	wr16(p + 2, (uint16_t) (v >> 16));
}

static void
wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t) v);
	wr32(p + 4, (uint32_t) (v >> 32));
}

/* ----------------------------------------------------------------
 * Random numbers: splitmix64, so a seed reproduces a run
 * ----------------------------------------------------------------
 */
static uint64_t rng_state;

static uint64_t
rnd64(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* uniform in [0, n) */
static uint32_t
rnd(uint32_t n)
{
	return n ? (uint32_t) (rnd64() % n) : 0;
}

static bool
chance(int pct)
{
	return (int) rnd(100) < pct;
}

#define PICK(arr) ((arr)[rnd(sizeof(arr) / sizeof((arr)[0]))])

/* ----------------------------------------------------------------
 * Sets as sorted lists of disjoint closed intervals
 *
 * A normalized IvSet has intervals sorted, non-overlapping and
 * non-adjacent, so two sets are equal iff their lists are identical.
 * ----------------------------------------------------------------
 */
typedef struct Iv
{
	uint64_t	lo;
	uint64_t	hi;
} Iv;

typedef struct IvSet
{
	Iv		   *v;
	size_t		n;
	size_t		cap;
} IvSet;

static void
iv_push(IvSet *s, uint64_t lo, uint64_t hi)
{
	if (s->n == s->cap)
	{
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(Iv));
	}
	s->v[s->n].lo = lo;
	s->v[s->n].hi = hi;
	s->n++;
}

/* append, merging with the last interval when adjacent or overlapping it */
static void
iv_add(IvSet *s, uint64_t lo, uint64_t hi)
{
	if (s->n > 0)
	{
		Iv		   *l = &s->v[s->n - 1];

		if (lo >= l->lo && lo <= l->hi + 1)
		{
			if (hi > l->hi)
				l->hi = hi;
			return;
		}
	}
	iv_push(s, lo, hi);
}

static int
iv_cmp(const void *a, const void *b)
{
	const Iv   *x = a;
	const Iv   *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

static void
iv_normalize(IvSet *s)
{
	size_t		i,
				k = 0;

	if (s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(Iv), iv_cmp);
	for (i = 1; i < s->n; i++)
	{
		if (s->v[i].lo <= s->v[k].hi + 1)
		{
			if (s->v[i].hi > s->v[k].hi)
				s->v[k].hi = s->v[i].hi;
		}
		else
			s->v[++k] = s->v[i];
	}
	s->n = k + 1;
}

static bool
iv_equal(const IvSet *a, const IvSet *b)
{
	return a->n == b->n &&
		(a->n == 0 || memcmp(a->v, b->v, a->n * sizeof(Iv)) == 0);
}

static uint64_t
iv_card(const IvSet *s)
{
	uint64_t	c = 0;

	for (size_t i = 0; i < s->n; i++)
		c += s->v[i].hi - s->v[i].lo + 1;
	return c;
}

static void
iv_free(IvSet *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/*
 * The canonical text form: ascending, runs of three or more as a..b, two
 * consecutive members as a,b.
 */
static void
iv_render(const IvSet *s, Buf *out)
{
	buf_reset(out);
	buf_putc(out, '{');
	for (size_t i = 0; i < s->n; i++)
	{
		if (i > 0)
			buf_putc(out, ',');
		buf_putu64(out, s->v[i].lo);
		if (s->v[i].hi >= s->v[i].lo + 2)
		{
			buf_puts(out, "..");
			buf_putu64(out, s->v[i].hi);
		}
		else if (s->v[i].hi == s->v[i].lo + 1)
		{
			buf_putc(out, ',');
			buf_putu64(out, s->v[i].hi);
		}
	}
	buf_putc(out, '}');
}

/* ----------------------------------------------------------------
 * Random model sets
 * ----------------------------------------------------------------
 */
static const uint64_t interesting_vals[] = {
	0, 1, 2, 3, 255, 256, 4095, 4096, 4097, 65533, 65534, 65535, 65536,
	65537, 65538, 131071, 131072, 2147483647, 2147483648, 4294901759,
	4294901760, 4294901761, 4294967293, 4294967294, 4294967295
};
static const uint32_t interesting_low[] = {
	0, 1, 2, 4095, 4096, 32767, 32768, 65533, 65534, 65535
};
static const uint32_t interesting_keys[] = {
	0, 1, 2, 255, 32767, 32768, 65534, 65535
};

static uint32_t
pick_key(void)
{
	return chance(50) ? PICK(interesting_keys) : rnd(65536);
}

static uint64_t
pick_value(void)
{
	switch (rnd(5))
	{
		case 0:
			return PICK(interesting_vals);
		case 1:
			return rnd64() & UMAX;
		case 2:
			return ((uint64_t) pick_key() << 16) | PICK(interesting_low);
		case 3:
			return rnd(1 << 20);
		default:
			return ((uint64_t) pick_key() << 16) | rnd(65536);
	}
}

static uint64_t
pick_len(void)
{
	static const uint64_t lens[] = {
		1, 2, 3, 4, 4095, 4096, 4097, 8192, 65535, 65536, 65537, 131072
	};

	switch (rnd(4))
	{
		case 0:
			return PICK(lens);
		case 1:
			return 1 + rnd(16);
		case 2:
			return 1 + rnd(5000);
		default:
			return 1 + rnd(chance(10) ? 300000 : 200);
	}
}

static void
model_range(IvSet *s, uint64_t lo, uint64_t len)
{
	uint64_t	hi;

	if (len == 0)
		return;
	if (lo > UMAX)
		lo = UMAX;
	hi = lo + len - 1;
	if (hi > UMAX)
		hi = UMAX;
	iv_push(s, lo, hi);
}

/* exactly c members of container key, spread at random (Knuth's algorithm S) */
static void
model_random_container(IvSet *s, uint32_t key, uint32_t c)
{
	uint64_t	base = (uint64_t) key << 16;
	uint32_t	need = c;

	for (uint32_t v = 0; v < 65536 && need > 0; v++)
	{
		if (rnd(65536 - v) < need)
		{
			iv_add(s, base + v, base + v);
			need--;
		}
	}
}

/*
 * A random set.  Heavy models may scatter thousands of members over a
 * container (the array/bitset threshold); that is cheap in binary but
 * costs tens of kilobytes of text, so callers say how often to allow it.
 */
static void
gen_model(IvSet *s, int heavy_pct)
{
	int			ncomp;
	bool		heavy = chance(heavy_pct);

	s->n = 0;
	if (chance(3))
		return;					/* empty */
	if (rnd(3000) == 0)
	{
		iv_push(s, 0, UMAX);	/* the whole universe */
		return;
	}
	ncomp = 1 + rnd(chance(10) ? 10 : 4);
	for (int i = 0; i < ncomp; i++)
	{
		switch (rnd(10))
		{
			case 0:				/* a few members anywhere */
				{
					int			k = 1 + rnd(20);

					for (int j = 0; j < k; j++)
					{
						uint64_t	v = chance(50) ? (rnd64() & UMAX) : pick_value();

						iv_push(s, v, v);
					}
					break;
				}
			case 1:				/* members around interesting values */
				{
					int			k = 1 + rnd(6);

					for (int j = 0; j < k; j++)
					{
						int64_t		v = (int64_t) pick_value() + (int64_t) rnd(7) - 3;

						if (v < 0)
							v = 0;
						if ((uint64_t) v > UMAX)
							v = (int64_t) UMAX;
						iv_push(s, (uint64_t) v, (uint64_t) v);
					}
					break;
				}
			case 2:				/* a range */
			case 3:
				model_range(s, pick_value(), pick_len());
				break;
			case 4:				/* a container with a telling cardinality */
				{
					static const uint32_t cards[] = {
						1, 2, 3, 4095, 4096, 4097, 8191, 8192, 30000, 65535, 65536
					};
					uint32_t	c = chance(80) ? PICK(cards) : 1 + rnd(chance(80) ? 8192 : 65536);
					uint32_t	key = pick_key();

					if (!heavy && c > 64)
					{
						/* big but cheap: one range */
						model_range(s, ((uint64_t) key << 16) + rnd(65536 - c + 1), c);
						break;
					}
					if (chance(30) || (c > 8192 && chance(85)))
						model_range(s, ((uint64_t) key << 16) + rnd(65536 - c + 1), c);
					else
						model_random_container(s, key, c);
					break;
				}
			case 5:				/* a periodic pattern: on k, off m */
				{
					static const uint32_t reps[] = {
						1, 2, 3, 100, 1000, 1365, 1366, 2047, 2048, 2049, 4096, 10000
					};
					uint32_t	on = 1 + rnd(4),
								off = 1 + rnd(chance(70) ? 2 : 40);
					uint32_t	n = chance(60) ? PICK(reps) : 1 + rnd(chance(90) ? 3000 : 20000);

					if (!heavy && n > 100)
						n = 1 + rnd(100);
					uint64_t	v = chance(60) ? ((uint64_t) pick_key() << 16) + (chance(50) ? 0 : rnd(65536)) : pick_value();

					for (uint32_t j = 0; j < n && v <= UMAX; j++)
					{
						model_range(s, v, on);
						v += on + off;
					}
					break;
				}
			case 6:				/* whole containers */
				{
					uint32_t	key = pick_key();
					uint32_t	k = 1 + rnd(3);

					model_range(s, (uint64_t) key << 16, (uint64_t) k << 16);
					break;
				}
			case 7:				/* across a container boundary */
				{
					uint64_t	b = (uint64_t) (1 + rnd(65535)) << 16;
					uint64_t	a = chance(50) ? 1 + rnd(3) : pick_len();
					uint64_t	c = chance(50) ? 1 + rnd(3) : pick_len();

					if (a > b)
						a = b;
					model_range(s, b - a, a + c);
					break;
				}
			case 8:				/* the extremes */
				if (chance(50))
					model_range(s, UMAX - rnd(chance(50) ? 3 : 70000), 1 + rnd(3));
				else
					model_range(s, 0, 1 + rnd(chance(50) ? 3 : 70000));
				if (chance(50))
					iv_push(s, UMAX, UMAX);
				break;
			default:			/* rarely, a big range */
				if (chance(15))
					model_range(s, pick_value(), 1 + rnd(1 << 24));
				else
					model_range(s, pick_value(), 1 + rnd(1000));
				break;
		}
	}
	iv_normalize(s);
}

/* ----------------------------------------------------------------
 * Text: generation from a model, reference parser, mutation
 * ----------------------------------------------------------------
 */
typedef struct TItem
{
	uint64_t	lo;
	uint64_t	hi;
	bool		as_range;		/* print lo..hi even when lo == hi */
} TItem;

static int	ws_style;

static void
put_ws(Buf *b)
{
	static const char ws[] = " \t\n\r";

	if (ws_style == 0)
		return;
	if (ws_style == 1 ? chance(5) : chance(35))
	{
		int			n = 1 + rnd(3);

		for (int i = 0; i < n; i++)
			buf_putc(b, (uint8_t) ws[rnd(4)]);
	}
}

static void
titem_push(TItem **items, size_t *n, size_t *cap, uint64_t lo, uint64_t hi, bool as_range)
{
	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 64;
		*items = xrealloc(*items, *cap * sizeof(TItem));
	}
	(*items)[*n].lo = lo;
	(*items)[*n].hi = hi;
	(*items)[*n].as_range = as_range;
	(*n)++;
}

/*
 * Valid text for the model: members and ranges in any order, split,
 * overlapping and repeated, with whitespace around tokens.
 */
static void
gen_text(const IvSet *s, Buf *out)
{
	TItem	   *items = NULL;
	size_t		n = 0,
				cap = 0;
	size_t		budget = chance(90) ? 2000 : 60000;

	for (size_t i = 0; i < s->n; i++)
	{
		uint64_t	lo = s->v[i].lo,
					hi = s->v[i].hi;
		uint64_t	len = hi - lo + 1;
		int			m = rnd(10);

		if (len <= 64 && m < 3 && n + len < budget)
		{
			for (uint64_t v = lo; v <= hi; v++)
				titem_push(&items, &n, &cap, v, v, false);
		}
		else if (len >= 2 && m < 5 && n + 8 < budget)
		{
			int			k = 2 + rnd(3);
			uint64_t	start = lo;

			for (int j = 0; j < k && start <= hi; j++)
			{
				uint64_t	end = (j == k - 1) ? hi : start + (rnd64() % (hi - start + 1));
				uint64_t	plo = start,
							phi = end;

				/* overlap the neighbours a little */
				if (chance(30))
					plo = (plo - lo > 2) ? plo - rnd(3) : lo;
				if (chance(30))
					phi = (hi - phi > 2) ? phi + rnd(3) : hi;
				titem_push(&items, &n, &cap, plo, phi, chance(15));
				start = end + 1;
			}
		}
		else if (len == 2 && chance(50))
		{
			titem_push(&items, &n, &cap, lo, lo, false);
			titem_push(&items, &n, &cap, hi, hi, false);
		}
		else
			titem_push(&items, &n, &cap, lo, hi, chance(15));

		if (chance(5))
		{
			/* a duplicate of part of the interval */
			uint64_t	a = lo + rnd64() % len;
			uint64_t	b = a + rnd64() % (hi - a + 1);

			titem_push(&items, &n, &cap, a, b, false);
		}
	}

	/* order: ascending, descending or shuffled */
	switch (rnd(10))
	{
		case 0:
		case 1:
			for (size_t i = 0; i < n / 2; i++)
			{
				TItem		t = items[i];

				items[i] = items[n - 1 - i];
				items[n - 1 - i] = t;
			}
			break;
		case 2:
		case 3:
		case 4:
			for (size_t i = n; i > 1; i--)
			{
				size_t		j = rnd64() % i;
				TItem		t = items[i - 1];

				items[i - 1] = items[j];
				items[j] = t;
			}
			break;
		default:
			break;
	}

	ws_style = chance(50) ? 0 : (chance(40) ? 1 : 2);
	buf_reset(out);
	put_ws(out);
	buf_putc(out, '{');
	for (size_t i = 0; i < n; i++)
	{
		put_ws(out);
		if (i > 0)
		{
			buf_putc(out, ',');
			if (ws_style == 1)
				buf_putc(out, ' ');
			put_ws(out);
		}
		buf_putu64(out, items[i].lo);
		if (items[i].hi != items[i].lo || items[i].as_range)
		{
			put_ws(out);
			buf_puts(out, "..");
			put_ws(out);
			buf_putu64(out, items[i].hi);
		}
	}
	put_ws(out);
	buf_putc(out, '}');
	put_ws(out);
	free(items);
}

typedef struct Verdict
{
	int			v;				/* V_VALID, V_AMB, V_INVALID */
	unsigned	allowed;		/* SQLSTATEs a rejection may carry */
	char		why[160];		/* why it is invalid or ambiguous */
} Verdict;

static bool
is_strict_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

typedef struct TextScan
{
	const uint8_t *s;
	size_t		len;
	size_t		p;
	bool		amb;			/* something the format does not pin down */
	bool		syntax;			/* malformed */
	bool		range;			/* a number above 4294967295 */
	bool		neg;			/* a negative number */
	bool		order;			/* a range a..b with a > b */
	char		why[160];
} TextScan;

static void
ts_note(TextScan *t, const char *what)
{
	if (t->why[0] == 0)
		snprintf(t->why, sizeof(t->why), "%s at byte %zu", what, t->p);
}

static void
ts_skip_ws(TextScan *t)
{
	while (t->p < t->len)
	{
		uint8_t		c = t->s[t->p];

		if (is_strict_ws(c))
			t->p++;
		else if (c == '\f' || c == '\v')
		{
			/* isspace() says yes, PostgreSQL's scanner says no */
			t->amb = true;
			ts_note(t, "\\f or \\v as whitespace");
			t->p++;
		}
		else
			break;
	}
}

/*
 * A number: digits, optionally signed.  Returns false when there is no
 * number here at all.  *val is UMAX + 1 for a number that cannot be a
 * member.
 */
static bool
ts_number(TextScan *t, uint64_t *val)
{
	bool		minus = false;
	size_t		start;
	uint64_t	v = 0;
	bool		over = false;

	if (t->p < t->len && (t->s[t->p] == '+' || t->s[t->p] == '-'))
	{
		if (t->s[t->p] == '+')
		{
			t->amb = true;
			ts_note(t, "explicit + sign");
		}
		else
			minus = true;
		t->p++;
	}
	start = t->p;
	while (t->p < t->len && t->s[t->p] >= '0' && t->s[t->p] <= '9')
	{
		if (!over)
		{
			v = v * 10 + (uint64_t) (t->s[t->p] - '0');
			if (v > UMAX)
				over = true;
		}
		t->p++;
	}
	if (t->p == start)
		return false;
	if (t->p - start > 1 && t->s[start] == '0')
	{
		t->amb = true;
		ts_note(t, "leading zeros");
	}
	if (over)
	{
		t->range = true;
		ts_note(t, "number out of range");
		v = UMAX + 1;
	}
	if (minus)
	{
		if (v == 0)
		{
			t->amb = true;
			ts_note(t, "-0");
		}
		else
		{
			t->neg = true;
			ts_note(t, "negative number");
			v = UMAX + 1;
		}
	}
	*val = v;
	return true;
}

/*
 * The reference text parser.  Fills out (normalized) unless the input is
 * invalid, and says which SQLSTATEs a rejection may carry.
 */
static void
text_check(const uint8_t *s, size_t len, IvSet *out, Verdict *vd)
{
	TextScan	t;
	bool		longdigits = false;
	size_t		run = 0;

	memset(&t, 0, sizeof(t));
	t.s = s;
	t.len = len;
	out->n = 0;

	ts_skip_ws(&t);
	if (t.p >= len || s[t.p] != '{')
	{
		ts_note(&t, "expected {");
		t.syntax = true;
		goto done;
	}
	t.p++;
	ts_skip_ws(&t);
	if (t.p < len && s[t.p] == '}')
		t.p++;
	else
	{
		for (;;)
		{
			uint64_t	a,
						b;

			if (!ts_number(&t, &a))
			{
				ts_note(&t, "expected a number");
				t.syntax = true;
				goto done;
			}
			ts_skip_ws(&t);
			if (t.p + 1 < len && s[t.p] == '.' && s[t.p + 1] == '.')
			{
				t.p += 2;
				ts_skip_ws(&t);
				if (!ts_number(&t, &b))
				{
					ts_note(&t, "expected a number after ..");
					t.syntax = true;
					goto done;
				}
				if (a <= UMAX && b <= UMAX && a > b)
				{
					ts_note(&t, "range with a > b");
					t.order = true;
				}
				ts_skip_ws(&t);
			}
			else
				b = a;
			if (a <= UMAX && b <= UMAX && a <= b)
				iv_push(out, a, b);
			if (t.p < len && s[t.p] == ',')
			{
				t.p++;
				ts_skip_ws(&t);
				continue;
			}
			if (t.p < len && s[t.p] == '}')
			{
				t.p++;
				break;
			}
			ts_note(&t, "expected , or }");
			t.syntax = true;
			goto done;
		}
	}
	ts_skip_ws(&t);
	if (t.p != len)
	{
		ts_note(&t, "junk after }");
		t.syntax = true;
	}

done:
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] >= '0' && s[i] <= '9')
		{
			if (++run >= 10)
				longdigits = true;
		}
		else
			run = 0;
	}
	snprintf(vd->why, sizeof(vd->why), "%s", t.why);
	if (t.syntax)
	{
		/*
		 * Which error a parser meets first depends on how it is written,
		 * when the input also has a number that may be out of range.
		 */
		vd->v = V_INVALID;
		vd->allowed = (t.range || t.neg || t.order || t.amb || longdigits) ?
			(E_22P02 | E_22003) : E_22P02;
	}
	else if (t.range)
	{
		vd->v = V_INVALID;
		vd->allowed = (t.amb || t.neg || t.order) ? (E_22P02 | E_22003) : E_22003;
	}
	else if (t.neg || t.order)
	{
		vd->v = V_INVALID;
		vd->allowed = E_22P02 | E_22003;
	}
	else if (t.amb)
	{
		vd->v = V_AMB;
		vd->allowed = E_22P02 | E_22003;
	}
	else
	{
		vd->v = V_VALID;
		vd->allowed = 0;
	}
	if (vd->v == V_INVALID)
		out->n = 0;
	else
		iv_normalize(out);
}

/* replace NULs and ill-formed UTF-8 (as PostgreSQL defines it) by ASCII */
static void
sanitize_text(Buf *b)
{
	size_t		i = 0;

	while (i < b->len)
	{
		uint8_t		c = b->data[i];
		size_t		need = 0;
		bool		ok = true;

		if (c == 0)
		{
			b->data[i++] = '0';
			continue;
		}
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			need = 1;
		else if (c >= 0xE0 && c <= 0xEF)
			need = 2;
		else if (c >= 0xF0 && c <= 0xF4)
			need = 3;
		else
			ok = false;
		if (ok && i + need >= b->len)
			ok = false;
		if (ok)
		{
			uint8_t		c1 = b->data[i + 1];

			for (size_t k = 1; k <= need; k++)
				if ((b->data[i + k] & 0xC0) != 0x80)
					ok = false;
			if (c == 0xE0 && c1 < 0xA0)
				ok = false;
			if (c == 0xED && c1 > 0x9F)
				ok = false;
			if (c == 0xF0 && c1 < 0x90)
				ok = false;
			if (c == 0xF4 && c1 > 0x8F)
				ok = false;
		}
		if (ok)
			i += need + 1;
		else
			b->data[i++] = '?';
	}
}

static const char *const text_tokens[] = {
	",", ",", "..", "..", "...", ".", "{", "}", "{}", "-", "+", " ", "\t",
	"\n", "\r", "\f", "\v", "0", "1", "7", "42", "65535", "65536",
	"4294967295", "4294967296", "4294967297", "9999999999",
	"18446744073709551615", "18446744073709551616",
	"99999999999999999999999999999999999999",
	"00000000000000000000000000001", "0004294967295", "-0", "-1", "+1",
	"1..0", "0..4294967295", "4294967295..4294967295", "x", "e5", "0x10",
	"1e3", "1.5", "\xc3\xa9", "\xc2\xa0", "\xef\xbc\x91", "\xd9\xa3",
	"\xe2\x80\x8b", "\xef\xbb\xbf", "\xe2\x82\xac", "NULL", "null", "[", "]",
	"(", ")", ";", "'", "\"", "\\", "\xff", "\x80"
};

static const char *const huge_numbers[] = {
	"4294967295", "4294967296", "4294967297", "9999999999", "0",
	"18446744073709551615", "18446744073709551616", "65535", "65536",
	"99999999999999999999999999999999999999", "00000000004294967295",
	"2147483648", "-1", "-0", "+4294967295", "004"
};

static void
mutate_text(Buf *b)
{
	int			nops = 1 + rnd(chance(20) ? 8 : 3);

	for (int i = 0; i < nops; i++)
	{
		size_t		len = b->len;
		size_t		pos = len ? rnd64() % (len + 1) : 0;

		switch (rnd(10))
		{
			case 0:				/* replace a byte */
				if (len)
				{
					static const char chars[] = "{},..-+0123456789 \t\n";

					pos = rnd64() % len;
					b->data[pos] = chance(70) ? (uint8_t) chars[rnd(sizeof(chars) - 1)] :
						(uint8_t) (1 + rnd(127));
				}
				break;
			case 1:				/* flip a bit */
				if (len)
				{
					pos = rnd64() % len;
					b->data[pos] ^= (uint8_t) (1 << rnd(8));
				}
				break;
			case 2:				/* insert a token */
			case 3:
				{
					const char *tok = PICK(text_tokens);

					buf_insert(b, pos, tok, strlen(tok));
					break;
				}
			case 4:				/* delete a span */
				if (len)
					buf_delete(b, rnd64() % len, 1 + rnd(8));
				break;
			case 5:				/* truncate */
				buf_truncate(b, len ? rnd64() % len : 0);
				break;
			case 6:				/* duplicate a span */
				if (len)
				{
					size_t		from = rnd64() % len;
					size_t		n = 1 + rnd(32);
					uint8_t		tmp[32];

					if (n > len - from)
						n = len - from;
					memcpy(tmp, b->data + from, n);
					buf_insert(b, pos, tmp, n);
				}
				break;
			case 7:				/* replace a number by a boundary or huge one */
				{
					size_t		st,
								en;
					const char *tok = PICK(huge_numbers);

					if (!len)
						break;
					st = rnd64() % len;
					while (st < len && !(b->data[st] >= '0' && b->data[st] <= '9'))
						st++;
					if (st == len)
						break;
					while (st > 0 && b->data[st - 1] >= '0' && b->data[st - 1] <= '9')
						st--;
					en = st;
					while (en < len && b->data[en] >= '0' && b->data[en] <= '9')
						en++;
					buf_delete(b, st, en - st);
					buf_insert(b, st, tok, strlen(tok));
					break;
				}
			case 8:				/* turn a , into .. or the other way round */
				{
					size_t		k;

					if (!len)
						break;
					k = rnd64() % len;
					for (size_t j = 0; j < len; j++, k = (k + 1) % len)
					{
						if (b->data[k] == ',')
						{
							b->data[k] = '.';
							buf_insert(b, k, ".", 1);
							break;
						}
						if (b->data[k] == '.' && k + 1 < len && b->data[k + 1] == '.')
						{
							buf_delete(b, k, 1);
							b->data[k] = ',';
							break;
						}
					}
					break;
				}
			default:			/* insert random digits */
				{
					int			n = 1 + rnd(chance(50) ? 3 : 25);

					for (int j = 0; j < n; j++)
						buf_insert(b, pos, &"0123456789"[rnd(10)], 1);
					break;
				}
		}
		if (b->len > (4u << 20))
			buf_truncate(b, 4u << 20);
	}
	sanitize_text(b);
}

/* a random string of tokens, mostly inside braces */
static void
token_soup(Buf *b)
{
	int			n = 1 + rnd(12);

	buf_reset(b);
	if (chance(80))
		buf_putc(b, '{');
	for (int i = 0; i < n; i++)
		buf_puts(b, PICK(text_tokens));
	if (chance(70))
		buf_putc(b, '}');
	sanitize_text(b);
}

/* ----------------------------------------------------------------
 * Binary: an intermediate form of the portable serialization, an encoder
 * from a set, deliberate corruptions, and a strict validator/decoder
 * ----------------------------------------------------------------
 */
#define SERIAL_COOKIE_NO_RUNCONTAINER 12346
#define SERIAL_COOKIE 12347
#define NO_OFFSET_THRESHOLD 4
#define MAX_ARRAY 4096

enum
{
	K_ARRAY, K_BITSET, K_RUN
};
static const char *const kind_names[] = {"array", "bitset", "run"};

typedef struct RCont
{
	uint16_t	key;
	uint16_t	card_m1;		/* as written in the descriptive header */
	uint8_t		kind;
	bool		flag_flip;		/* write the run flag inverted */
	uint32_t	n;				/* entries (array) or runs (run) */
	uint16_t   *d;				/* array values, or run (start, length-1) pairs */
	uint64_t   *w;				/* bitset words */
} RCont;

typedef struct Roar
{
	RCont	   *c;
	uint32_t	n;
	uint32_t	cap;
	bool		runcookie;
	int32_t		count_delta;	/* lie about the container count */
	int64_t		offset_lie;		/* container whose offset is wrong, or -1 */
	int32_t		offset_delta;
} Roar;

enum
{
	F_COOKIE, F_COUNT, F_FLAGS, F_KEY, F_CARD, F_OFFSET, F_NRUNS, F_RSTART,
	F_RLEN, F_AVAL, F_WORD, F_NKINDS
};

typedef struct Field
{
	uint32_t	off;
	uint8_t		width;
} Field;

/* where each kind of field sits in a serialization, for targeted mutation */
typedef struct Fields
{
	Field	   *v[F_NKINDS];
	uint32_t	n[F_NKINDS];
	uint32_t	cap[F_NKINDS];
} Fields;

static void
fields_add(Fields *f, int kind, size_t off, int width)
{
	if (f == NULL)
		return;
	if (f->n[kind] == f->cap[kind])
	{
		f->cap[kind] = f->cap[kind] ? f->cap[kind] * 2 : 16;
		f->v[kind] = xrealloc(f->v[kind], f->cap[kind] * sizeof(Field));
	}
	f->v[kind][f->n[kind]].off = (uint32_t) off;
	f->v[kind][f->n[kind]].width = (uint8_t) width;
	f->n[kind]++;
}

static void
fields_reset(Fields *f)
{
	memset(f->n, 0, sizeof(f->n));
}

static void
roar_free(Roar *r)
{
	for (uint32_t i = 0; i < r->n; i++)
	{
		free(r->c[i].d);
		free(r->c[i].w);
	}
	free(r->c);
	memset(r, 0, sizeof(*r));
}

static RCont *
roar_new_cont(Roar *r)
{
	RCont	   *c;

	if (r->n == r->cap)
	{
		r->cap = r->cap ? r->cap * 2 : 8;
		r->c = xrealloc(r->c, r->cap * sizeof(RCont));
	}
	c = &r->c[r->n++];
	memset(c, 0, sizeof(*c));
	return c;
}

/* low 16-bit runs of one container */
typedef struct LowRuns
{
	uint16_t   *s;				/* (start, end) pairs */
	uint32_t	n;
	uint32_t	cap;
} LowRuns;

static void
lowruns_push(LowRuns *l, uint32_t s, uint32_t e)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 16;
		l->s = xrealloc(l->s, l->cap * 2 * sizeof(uint16_t));
	}
	l->s[2 * l->n] = (uint16_t) s;
	l->s[2 * l->n + 1] = (uint16_t) e;
	l->n++;
}

static void
make_container(Roar *r, uint32_t key, const LowRuns *l, bool canonical, size_t *bitset_bytes)
{
	RCont	   *c = roar_new_cont(r);
	uint32_t	card = 0;
	int			kind;

	for (uint32_t i = 0; i < l->n; i++)
		card += (uint32_t) l->s[2 * i + 1] - l->s[2 * i] + 1;
	c->key = (uint16_t) key;
	c->card_m1 = (uint16_t) (card - 1);

	if (canonical)
	{
		/* the smallest form, as CRoaring's run_optimize picks it */
		if (card <= MAX_ARRAY)
			kind = (2 * l->n < card) ? K_RUN : K_ARRAY;
		else
			kind = (2 + 4 * (uint64_t) l->n < 8192) ? K_RUN : K_BITSET;
	}
	else if (card <= MAX_ARRAY)
		kind = chance(50) ? K_ARRAY : K_RUN;
	else
		kind = chance(50) ? K_BITSET : K_RUN;
	/* keep the universe and its kin from needing gigabytes of bitsets */
	if (kind == K_BITSET && *bitset_bytes >= (64u << 10))
		kind = K_RUN;
	c->kind = (uint8_t) kind;

	if (kind == K_ARRAY)
	{
		uint32_t	k = 0;

		c->n = card;
		c->d = xrealloc(NULL, card * sizeof(uint16_t));
		for (uint32_t i = 0; i < l->n; i++)
			for (uint32_t v = l->s[2 * i]; v <= l->s[2 * i + 1]; v++)
				c->d[k++] = (uint16_t) v;
	}
	else if (kind == K_BITSET)
	{
		c->w = xrealloc(NULL, 1024 * sizeof(uint64_t));
		memset(c->w, 0, 1024 * sizeof(uint64_t));
		for (uint32_t i = 0; i < l->n; i++)
			for (uint32_t v = l->s[2 * i]; v <= l->s[2 * i + 1]; v++)
				c->w[v >> 6] |= UINT64_C(1) << (v & 63);
		*bitset_bytes += 8192;
	}
	else
	{
		/* sometimes split runs into adjacent ones: valid, not canonical */
		bool		split = !canonical && chance(20);
		uint32_t	cap = l->n * 2 + 2;

		c->d = xrealloc(NULL, cap * 2 * sizeof(uint16_t));
		c->n = 0;
		for (uint32_t i = 0; i < l->n; i++)
		{
			uint32_t	s = l->s[2 * i],
						e = l->s[2 * i + 1];

			if (split && e > s && chance(30))
			{
				uint32_t	m = s + rnd(e - s);

				c->d[2 * c->n] = (uint16_t) s;
				c->d[2 * c->n + 1] = (uint16_t) (m - s);
				c->n++;
				s = m + 1;
			}
			c->d[2 * c->n] = (uint16_t) s;
			c->d[2 * c->n + 1] = (uint16_t) (e - s);
			c->n++;
		}
	}
}

/* the containers of a normalized set */
static void
roar_from_set(const IvSet *s, Roar *r, bool canonical)
{
	LowRuns		l = {0};
	size_t		i = 0;
	uint64_t	cur = s->n ? s->v[0].lo : 0;
	size_t		bitset_bytes = 0;
	bool		anyrun = false;

	memset(r, 0, sizeof(*r));
	r->offset_lie = -1;
	while (i < s->n)
	{
		uint64_t	key = cur >> 16;
		uint64_t	base = key << 16;
		uint64_t	end = base + 0xFFFF;

		l.n = 0;
		while (i < s->n)
		{
			uint64_t	lo = cur > s->v[i].lo ? cur : s->v[i].lo;
			uint64_t	hi;

			if (lo > end)
				break;
			hi = s->v[i].hi < end ? s->v[i].hi : end;
			lowruns_push(&l, (uint32_t) (lo - base), (uint32_t) (hi - base));
			if (s->v[i].hi > end)
			{
				cur = end + 1;
				break;
			}
			i++;
			if (i < s->n)
				cur = s->v[i].lo;
		}
		make_container(r, (uint32_t) key, &l, canonical, &bitset_bytes);
	}
	free(l.s);
	for (uint32_t k = 0; k < r->n; k++)
		if (r->c[k].kind == K_RUN)
			anyrun = true;
	r->runcookie = anyrun || (!canonical && r->n > 0 && chance(30));
}

static uint32_t
cont_bytes(const RCont *c)
{
	if (c->kind == K_RUN)
		return 2 + 4 * c->n;
	if (c->kind == K_BITSET)
		return 8192;
	return 2 * c->n;
}

static void
roar_serialize(const Roar *r, Buf *out, Fields *f)
{
	uint32_t	n = r->n;
	uint32_t	ncount = (uint32_t) ((int64_t) n + r->count_delta);
	bool		has_offsets = !r->runcookie || n >= NO_OFFSET_THRESHOLD;
	uint32_t	pos;

	buf_reset(out);
	if (f)
		fields_reset(f);
	fields_add(f, F_COOKIE, 0, 4);
	if (r->runcookie)
	{
		uint32_t	nbytes = (n + 7) / 8;

		buf_put32(out, SERIAL_COOKIE | (((ncount - 1) & 0xFFFF) << 16));
		for (uint32_t b = 0; b < nbytes; b++)
		{
			uint8_t		byte = 0;

			for (uint32_t k = 0; k < 8 && b * 8 + k < n; k++)
			{
				const RCont *c = &r->c[b * 8 + k];

				if ((c->kind == K_RUN) != c->flag_flip)
					byte |= (uint8_t) (1 << k);
			}
			fields_add(f, F_FLAGS, out->len, 1);
			buf_putc(out, byte);
		}
	}
	else
	{
		buf_put32(out, SERIAL_COOKIE_NO_RUNCONTAINER);
		fields_add(f, F_COUNT, out->len, 4);
		buf_put32(out, ncount);
	}
	for (uint32_t i = 0; i < n; i++)
	{
		fields_add(f, F_KEY, out->len, 2);
		buf_put16(out, r->c[i].key);
		fields_add(f, F_CARD, out->len, 2);
		buf_put16(out, r->c[i].card_m1);
	}
	pos = (uint32_t) out->len + (has_offsets ? 4 * n : 0);
	if (has_offsets)
	{
		for (uint32_t i = 0; i < n; i++)
		{
			uint32_t	o = pos;

			if ((int64_t) i == r->offset_lie)
				o += (uint32_t) r->offset_delta;
			fields_add(f, F_OFFSET, out->len, 4);
			buf_put32(out, o);
			pos += cont_bytes(&r->c[i]);
		}
	}
	for (uint32_t i = 0; i < n; i++)
	{
		const RCont *c = &r->c[i];

		if (c->kind == K_RUN)
		{
			fields_add(f, F_NRUNS, out->len, 2);
			buf_put16(out, (uint16_t) c->n);
			for (uint32_t j = 0; j < c->n; j++)
			{
				fields_add(f, F_RSTART, out->len, 2);
				buf_put16(out, c->d[2 * j]);
				fields_add(f, F_RLEN, out->len, 2);
				buf_put16(out, c->d[2 * j + 1]);
			}
		}
		else if (c->kind == K_BITSET)
		{
			for (int j = 0; j < 1024; j++)
			{
				if (c->w[j] != 0 || chance(1))
					fields_add(f, F_WORD, out->len, 8);
				buf_put64(out, c->w[j]);
			}
		}
		else
		{
			for (uint32_t j = 0; j < c->n; j++)
			{
				fields_add(f, F_AVAL, out->len, 2);
				buf_put16(out, c->d[j]);
			}
		}
	}
}

static uint32_t
run_card(const RCont *c)
{
	uint32_t	s = 0;

	for (uint32_t j = 0; j < c->n; j++)
		s += (uint32_t) c->d[2 * j + 1] + 1;
	return s;
}

/*
 * Break one rule of the format while keeping the rest consistent (the
 * offsets, in particular, are recomputed), so the damage reaches the deep
 * checks rather than the first length check.
 */
static void
roar_corrupt(Roar *r)
{
	RCont	   *c;
	uint32_t	i;

	if (r->n == 0 || chance(5))
	{
		if (chance(50))
			r->count_delta = chance(50) ? 1 : -1;
		else
		{
			r->offset_lie = r->n ? (int64_t) rnd(r->n) : -1;
			r->offset_delta = chance(50) ? (chance(50) ? 1 : -1) : (chance(50) ? 8192 : -4);
		}
		if (r->n == 0 && chance(30))
			r->runcookie = true;	/* 12347 cannot say "no containers" */
		return;
	}
	i = rnd(r->n);
	c = &r->c[i];
	switch (rnd(14))
	{
		case 0:					/* lying cardinality */
			c->card_m1 += chance(50) ? 1 : (uint16_t) -1;
			break;
		case 1:					/* a cardinality across the array/bitset line */
			c->card_m1 = chance(50) ? 4095 : (chance(50) ? 4096 : (chance(50) ? 0 : 65535));
			break;
		case 2:					/* duplicate key */
			if (r->n > 1)
			{
				uint32_t	j = i ? i - 1 : 1;

				c->key = r->c[j].key;
			}
			else
				c->key ^= 1;
			break;
		case 3:					/* keys out of order */
			if (r->n > 1)
			{
				uint32_t	j = (i + 1) % r->n;
				uint16_t	t = c->key;

				c->key = r->c[j].key;
				r->c[j].key = t;
			}
			break;
		case 4:					/* array: duplicate or unsorted entries */
			if (c->kind == K_ARRAY && c->n >= 2)
			{
				uint32_t	j = 1 + rnd(c->n - 1);

				if (chance(50))
					c->d[j] = c->d[j - 1];
				else
				{
					uint16_t	t = c->d[j];

					c->d[j] = c->d[j - 1];
					c->d[j - 1] = t;
				}
			}
			else
				c->card_m1 ^= (uint16_t) (1 << rnd(16));
			break;
		case 5:					/* run: overlap the previous run */
			if (c->kind == K_RUN && c->n >= 2)
			{
				uint32_t	j = 1 + rnd(c->n - 1);
				uint32_t	pe = (uint32_t) c->d[2 * (j - 1)] + c->d[2 * (j - 1) + 1];

				c->d[2 * j] = (uint16_t) (pe - rnd(pe - c->d[2 * (j - 1)] + 1));
				if ((uint32_t) c->d[2 * j] + c->d[2 * j + 1] > 65535)
					c->d[2 * j + 1] = (uint16_t) (65535 - c->d[2 * j]);
				c->card_m1 = (uint16_t) (run_card(c) - 1);
			}
			else if (c->kind == K_RUN)
				c->n = 0;		/* a run container without runs */
			break;
		case 6:					/* run: past 65535 */
			if (c->kind == K_RUN && c->n >= 1)
			{
				uint32_t	j = c->n - 1;

				c->d[2 * j] = (uint16_t) (65535 - rnd(3));
				c->d[2 * j + 1] = (uint16_t) (1 + rnd(chance(50) ? 4 : 65535));
				c->card_m1 = (uint16_t) (run_card(c) - 1);
			}
			break;
		case 7:					/* run: out of order */
			if (c->kind == K_RUN && c->n >= 2)
			{
				uint32_t	j = 1 + rnd(c->n - 1);
				uint16_t	t0 = c->d[2 * j],
							t1 = c->d[2 * j + 1];

				c->d[2 * j] = c->d[2 * (j - 1)];
				c->d[2 * j + 1] = c->d[2 * (j - 1) + 1];
				c->d[2 * (j - 1)] = t0;
				c->d[2 * (j - 1) + 1] = t1;
			}
			break;
		case 8:					/* run: runs disagree with the cardinality */
			if (c->kind == K_RUN && c->n >= 1)
			{
				uint32_t	j = rnd(c->n);

				if (c->d[2 * j + 1] > 0)
					c->d[2 * j + 1]--;
				else
					c->n--;
			}
			break;
		case 9:					/* bitset: flip a bit, sometimes fixing the count */
			if (c->kind == K_BITSET)
			{
				uint32_t	b = rnd(65536);
				bool		was = (c->w[b >> 6] >> (b & 63)) & 1;

				c->w[b >> 6] ^= UINT64_C(1) << (b & 63);
				if (chance(50))
					c->card_m1 = (uint16_t) (c->card_m1 + (was ? -1 : 1));
			}
			break;
		case 10:				/* the run flag says the wrong thing */
			if (r->runcookie)
				c->flag_flip = true;
			else
			{
				r->runcookie = true;
				c->flag_flip = c->kind != K_RUN ? chance(50) : false;
			}
			break;
		case 11:				/* array: an entry too many or too few */
			if (c->kind == K_ARRAY)
			{
				if (chance(50) && c->n > 1)
					c->n--;
				else
				{
					c->d = xrealloc(c->d, (c->n + 1) * sizeof(uint16_t));
					c->d[c->n] = (uint16_t) (c->n ? c->d[c->n - 1] + 1 : 0);
					c->n++;
				}
			}
			break;
		case 12:				/* the count or an offset lies */
			if (chance(50))
				r->count_delta = chance(50) ? 1 : -1;
			else
			{
				r->offset_lie = i;
				r->offset_delta = chance(50) ? (chance(50) ? 1 : -1) : (chance(50) ? 2 : -2);
			}
			break;
		default:				/* array entry past its neighbour */
			if (c->kind == K_ARRAY && c->n >= 2)
			{
				uint32_t	j = rnd(c->n - 1);

				c->d[j] = (uint16_t) (c->d[j + 1] + rnd(3));
			}
			else
				c->key = (uint16_t) rnd(65536);
			break;
	}
}

typedef struct BinInfo
{
	bool		canonical;
	char		noncanon[200];	/* why the bytes are not in canonical form */
} BinInfo;

typedef struct DecodeCtx
{
	IvSet	   *out;
	int64_t		last;			/* last low value emitted in this container */
	uint32_t	runs;			/* maximal runs in this container */
} DecodeCtx;

static void
emit(DecodeCtx *d, uint64_t base, uint32_t lo, uint32_t hi)
{
	if ((int64_t) lo != d->last + 1)
		d->runs++;
	d->last = hi;
	iv_add(d->out, base + lo, base + hi);
}

static void
noncanon(BinInfo *info, const char *fmt,...)
{
	va_list		ap;

	if (!info->canonical)
		return;
	info->canonical = false;
	va_start(ap, fmt);
	vsnprintf(info->noncanon, sizeof(info->noncanon), fmt, ap);
	va_end(ap);
}

#define BAD(...) do { snprintf(why, whylen, __VA_ARGS__); return V_INVALID; } while (0)
#define NEED(n, what) do { if ((uint64_t) pos + (uint64_t) (n) > (uint64_t) len) \
	BAD("truncated %s: need %" PRIu64 " bytes at %zu, have %zu", what, (uint64_t) (n), pos, len); } while (0)

/*
 * The reference validator and decoder of the portable serialization.
 * Returns V_VALID, V_AMB (the input is valid but for padding bits in the
 * run-flag bitset, which the spec does not mention) or V_INVALID with the
 * reason in why.  Also records where the fields are, and whether the
 * bytes are in the canonical (smallest) form.
 */
static int
bin_check(const uint8_t *b, size_t len, IvSet *out, Fields *f, BinInfo *info,
		  char *why, size_t whylen)
{
	size_t		pos = 0;
	uint32_t	cookie;
	uint64_t	n;
	bool		runcookie;
	const uint8_t *flags = NULL;
	const uint8_t *hdr;
	const uint8_t *offs = NULL;
	bool		has_offsets;
	bool		amb = false;
	bool		anyrun = false;
	int64_t		prevkey = -1;
	DecodeCtx	dc;

	out->n = 0;
	why[0] = 0;
	info->canonical = true;
	info->noncanon[0] = 0;
	if (f)
		fields_reset(f);
	dc.out = out;

	NEED(4, "cookie");
	cookie = rd32(b);
	fields_add(f, F_COOKIE, 0, 4);
	pos = 4;
	if (cookie == SERIAL_COOKIE_NO_RUNCONTAINER)
	{
		NEED(4, "container count");
		fields_add(f, F_COUNT, pos, 4);
		n = rd32(b + 4);
		pos = 8;
		runcookie = false;
		if (n > 65536)
			BAD("container count %" PRIu64 " above 65536", n);
	}
	else if ((cookie & 0xFFFF) == SERIAL_COOKIE)
	{
		uint64_t	nbytes;

		n = (cookie >> 16) + 1;
		runcookie = true;
		nbytes = (n + 7) / 8;
		NEED(nbytes, "run-flag bitset");
		flags = b + pos;
		for (uint64_t k = 0; k < nbytes; k++)
			fields_add(f, F_FLAGS, pos + k, 1);
		for (uint64_t k = n; k < nbytes * 8; k++)
			if ((flags[k / 8] >> (k % 8)) & 1)
				amb = true;
		if (amb)
			noncanon(info, "padding bits set in the run-flag bitset");
		pos += nbytes;
	}
	else
		BAD("bad cookie 0x%08x", cookie);

	NEED(4 * n, "descriptive header");
	hdr = b + pos;
	for (uint64_t i = 0; i < n; i++)
	{
		fields_add(f, F_KEY, pos + 4 * i, 2);
		fields_add(f, F_CARD, pos + 4 * i + 2, 2);
	}
	pos += 4 * n;
	has_offsets = !runcookie || n >= NO_OFFSET_THRESHOLD;
	if (has_offsets)
	{
		NEED(4 * n, "offset header");
		offs = b + pos;
		for (uint64_t i = 0; i < n; i++)
			fields_add(f, F_OFFSET, pos + 4 * i, 4);
		pos += 4 * n;
	}

	for (uint64_t i = 0; i < n; i++)
	{
		uint32_t	key = rd16(hdr + 4 * i);
		uint32_t	card = (uint32_t) rd16(hdr + 4 * i + 2) + 1;
		bool		isrun = runcookie && ((flags[i / 8] >> (i % 8)) & 1);
		uint64_t	base = (uint64_t) key << 16;
		int			kind;

		if ((int64_t) key <= prevkey)
			BAD("container %" PRIu64 ": key %u not above the previous key %" PRId64,
				i, key, prevkey);
		prevkey = key;
		if (has_offsets && rd32(offs + 4 * i) != pos)
			BAD("container %" PRIu64 ": offset %u, but the container starts at %zu",
				i, rd32(offs + 4 * i), pos);
		dc.last = -2;
		dc.runs = 0;
		if (isrun)
		{
			uint32_t	nr,
						sum = 0;
			int64_t		prev_end = -1;

			kind = K_RUN;
			anyrun = true;
			NEED(2, "run count");
			fields_add(f, F_NRUNS, pos, 2);
			nr = rd16(b + pos);
			pos += 2;
			NEED(4 * (uint64_t) nr, "runs");
			for (uint32_t j = 0; j < nr; j++)
			{
				uint32_t	s = rd16(b + pos),
							l = rd16(b + pos + 2);

				fields_add(f, F_RSTART, pos, 2);
				fields_add(f, F_RLEN, pos + 2, 2);
				pos += 4;
				if (s + l > 65535)
					BAD("container %" PRIu64 ": run %u (%u, length-1 %u) past 65535",
						i, j, s, l);
				if ((int64_t) s <= prev_end)
					BAD("container %" PRIu64 ": run %u at %u overlaps or precedes the run ending at %" PRId64,
						i, j, s, prev_end);
				if ((int64_t) s == prev_end + 1 && j > 0)
					noncanon(info, "container %" PRIu64 ": adjacent runs at %u", i, s);
				prev_end = s + l;
				sum += l + 1;
				emit(&dc, base, s, s + l);
			}
			if (sum != card)
				BAD("container %" PRIu64 ": runs hold %u members, header says %u", i, sum, card);
		}
		else if (card <= MAX_ARRAY)
		{
			int64_t		prev = -1;

			kind = K_ARRAY;
			NEED(2 * (uint64_t) card, "array container");
			for (uint32_t j = 0; j < card; j++)
			{
				uint32_t	v = rd16(b + pos);

				fields_add(f, F_AVAL, pos, 2);
				pos += 2;
				if ((int64_t) v <= prev)
					BAD("container %" PRIu64 ": array entry %u (%u) not above the previous (%" PRId64 ")",
						i, j, v, prev);
				prev = v;
				emit(&dc, base, v, v);
			}
		}
		else
		{
			uint32_t	pop = 0;

			kind = K_BITSET;
			NEED(8192, "bitset container");
			for (int j = 0; j < 1024; j++)
			{
				uint64_t	w = rd64(b + pos + 8 * j);

				if (w)
					fields_add(f, F_WORD, pos + 8 * j, 8);
				pop += (uint32_t) __builtin_popcountll(w);
				if (w == ~UINT64_C(0))
					emit(&dc, base, 64 * j, 64 * j + 63);
				else
					while (w)
					{
						int			t = __builtin_ctzll(w);

						emit(&dc, base, 64 * j + t, 64 * j + t);
						w &= w - 1;
					}
			}
			pos += 8192;
			if (pop != card)
				BAD("container %" PRIu64 ": bitset holds %u members, header says %u", i, pop, card);
		}

		/* is this the smallest form of the container? */
		{
			uint64_t	r = dc.runs;
			uint64_t	inf = UINT64_MAX;
			uint64_t	a_cr = card <= MAX_ARRAY ? 2 + 2 * (uint64_t) card : inf;
			uint64_t	a_p = card <= MAX_ARRAY ? 2 * (uint64_t) card : inf;
			uint64_t	bs = card > MAX_ARRAY ? 8192 : inf;
			uint64_t	rs = 2 + 4 * r;
			uint64_t	min_cr = a_cr < bs ? a_cr : bs;
			uint64_t	min_p = a_p < bs ? a_p : bs;
			uint64_t	k_cr,
						k_p;

			min_cr = rs < min_cr ? rs : min_cr;
			min_p = rs < min_p ? rs : min_p;
			k_cr = kind == K_RUN ? rs : kind == K_BITSET ? bs : a_cr;
			k_p = kind == K_RUN ? rs : kind == K_BITSET ? bs : a_p;
			if (k_cr != min_cr && k_p != min_p)
				noncanon(info, "container %" PRIu64 " (key %u, %u members, %u runs) is a %s container, not the smallest form",
						 i, key, card, (unsigned) r, kind_names[kind]);
		}
	}
	if (pos != len)
		BAD("%zu trailing bytes after the last container", len - pos);
	if (runcookie && !anyrun)
		noncanon(info, "cookie 12347 without any run container");
	if (amb)
	{
		snprintf(why, whylen, "padding bits set in the run-flag bitset");
		return V_AMB;
	}
	return V_VALID;
}

#undef BAD
#undef NEED

static uint32_t
interesting_field_value(int kind, int width, uint64_t orig, size_t total_len, uint32_t ncont)
{
	if (width == 1)
	{
		static const uint8_t v8[] = {0, 0xFF, 0x01, 0x80, 0x7F};

		return chance(50) ? (uint32_t) (orig ^ (1u << rnd(8))) : PICK(v8);
	}
	if (width == 2)
	{
		static const uint16_t v16[] = {
			0, 1, 2, 4095, 4096, 4097, 8191, 8192, 32767, 32768, 65534, 65535
		};

		switch (rnd(4))
		{
			case 0:
				return (uint16_t) (orig + 1);
			case 1:
				return (uint16_t) (orig - 1);
			case 2:
				return (uint16_t) rnd(65536);
			default:
				return PICK(v16);
		}
	}
	if (kind == F_COOKIE)
	{
		uint32_t	v[] = {
			SERIAL_COOKIE_NO_RUNCONTAINER, SERIAL_COOKIE,
			SERIAL_COOKIE | (ncont << 16), SERIAL_COOKIE | ((ncont - 2) << 16),
			SERIAL_COOKIE | 0xFFFF0000u, 12345, 12348, 0, 0xFFFFFFFFu,
			SERIAL_COOKIE_NO_RUNCONTAINER | 0x10000u,
			(uint32_t) orig ^ (1u << rnd(32))
		};

		return PICK(v);
	}
	else
	{
		uint32_t	v[] = {
			0, 1, (uint32_t) orig + 1, (uint32_t) orig - 1, (uint32_t) orig + 2,
			(uint32_t) orig - 2, (uint32_t) orig + 8192, (uint32_t) total_len,
			(uint32_t) total_len + 1, 0xFFFFFFFFu, 0x7FFFFFFFu, 0x80000000u,
			65536, 65537, ncont + 1, ncont - 1, 0x40000000u
		};

		return PICK(v);
	}
}

static void
write_field(Buf *b, const Field *fl, uint64_t v)
{
	if ((size_t) fl->off + fl->width > b->len)
		return;
	switch (fl->width)
	{
		case 1:
			b->data[fl->off] = (uint8_t) v;
			break;
		case 2:
			wr16(b->data + fl->off, (uint16_t) v);
			break;
		case 4:
			wr32(b->data + fl->off, (uint32_t) v);
			break;
		default:
			wr64(b->data + fl->off, v);
			break;
	}
}

static uint64_t
read_field(const Buf *b, const Field *fl)
{
	if ((size_t) fl->off + fl->width > b->len)
		return 0;
	switch (fl->width)
	{
		case 1:
			return b->data[fl->off];
		case 2:
			return rd16(b->data + fl->off);
		case 4:
			return rd32(b->data + fl->off);
		default:
			return rd64(b->data + fl->off);
	}
}

static const Field *
pick_field(const Fields *f, int *kind)
{
	int			kinds[F_NKINDS];
	int			nk = 0;

	for (int k = 0; k < F_NKINDS; k++)
		if (f->n[k] > 0)
			kinds[nk++] = k;
	if (nk == 0)
		return NULL;
	*kind = kinds[rnd(nk)];
	return &f->v[*kind][rnd(f->n[*kind])];
}

/*
 * Mutate a serialization.  Overwrites come first, while the field map
 * still matches the bytes; changes of length come last.
 */
static void
mutate_bin(Buf *b, const Fields *f, uint32_t ncont)
{
	int			nops = 1 + (chance(30) ? rnd(4) : 0);
	int			ops[8];

	for (int i = 0; i < nops; i++)
		ops[i] = rnd(100);
	/* sort: in-place edits (low numbers) before length changes */
	for (int i = 1; i < nops; i++)
		for (int j = i; j > 0 && ops[j] < ops[j - 1]; j--)
		{
			int			t = ops[j];

			ops[j] = ops[j - 1];
			ops[j - 1] = t;
		}

	for (int i = 0; i < nops; i++)
	{
		int			op = ops[i];
		size_t		len = b->len;

		if (op < 15)
		{
			/* flip bits */
			int			k = 1 + rnd(4);

			for (int j = 0; j < k && len; j++)
				b->data[rnd64() % len] ^= (uint8_t) (1 << rnd(8));
		}
		else if (op < 22)
		{
			static const uint8_t v8[] = {0, 0xFF, 0x7F, 0x80, 0x01, 0xFE};

			if (len)
				b->data[rnd64() % len] = PICK(v8);
		}
		else if (op < 60)
		{
			/* overwrite a field with a boundary value */
			int			kind;
			const Field *fl = pick_field(f, &kind);

			if (fl)
				write_field(b, fl, interesting_field_value(kind, fl->width, read_field(b, fl), len, ncont));
		}
		else if (op < 68)
		{
			/* copy a field from another of the same kind: duplicates, disorder */
			int			kind;
			const Field *fl = pick_field(f, &kind);

			if (fl && f->n[kind] > 1)
			{
				const Field *src = &f->v[kind][rnd(f->n[kind])];

				if (chance(50))
				{
					/* a neighbour, to break the ordering locally */
					size_t		idx = (size_t) (fl - f->v[kind]);

					src = &f->v[kind][idx > 0 ? idx - 1 : (f->n[kind] > 1 ? 1 : 0)];
				}
				write_field(b, fl, read_field(b, src));
			}
		}
		else if (op < 80)
		{
			/* truncate, often at a field boundary */
			size_t		at;
			int			kind;
			const Field *fl = chance(50) ? pick_field(f, &kind) : NULL;

			if (fl)
				at = fl->off + rnd(fl->width + 1);
			else
				at = len ? rnd64() % len : 0;
			if (at > 0 && chance(20))
				at--;
			buf_truncate(b, at);
		}
		else if (op < 88)
		{
			/* extend */
			int			k = chance(10) ? 8192 : 1 + rnd(16);
			bool		zeros = chance(50);

			for (int j = 0; j < k; j++)
				buf_putc(b, zeros ? 0 : (uint8_t) rnd(256));
		}
		else if (op < 94)
		{
			/* delete a span */
			if (len)
				buf_delete(b, rnd64() % len, 1 + rnd(chance(80) ? 4 : 64));
		}
		else
		{
			/* insert bytes */
			uint8_t		tmp[16];
			int			k = 1 + rnd(16);

			for (int j = 0; j < k; j++)
				tmp[j] = chance(50) ? 0 : (uint8_t) rnd(256);
			buf_insert(b, len ? rnd64() % (len + 1) : 0, tmp, k);
		}
	}
}

/* ----------------------------------------------------------------
 * Inputs, pools of server outputs, failure reports
 * ----------------------------------------------------------------
 */
typedef struct Item
{
	long		iter;
	int			strategy;
	int			path;
	Buf			in;
	Verdict		vd;
	IvSet		exp;			/* the expected set, unless V_INVALID */
	bool		from_model;		/* exp is the set the input was built from */
	/* results */
	bool		accepted;
	Buf			T;				/* text output */
	Buf			B;				/* send output */
} Item;

#define POOL_SIZE 128
static Buf	send_pool[POOL_SIZE];
static int	send_pool_n;
static int	send_pool_next;
static Buf	text_pool[POOL_SIZE];
static int	text_pool_n;
static int	text_pool_next;

static void
pool_add(Buf *pool, int *n, int *next, const Buf *b)
{
	if (b->len > (256u << 10))
		return;					/* keep the mutation of huge values rare */
	buf_set(&pool[*next], b->data, b->len);
	*next = (*next + 1) % POOL_SIZE;
	if (*n < POOL_SIZE)
		(*n)++;
}

static bool
is_text_path(int path)
{
	return path == P_TEXT_IN || path == P_TEXT_CAST;
}

static void print_summary(void);

/* where failures are reported; after MAX_REPORTS with --keep-going, nowhere */
#define MAX_REPORTS 20
static FILE *rep;
static bool fatal_report;

static void
print_escaped(FILE *fp, const uint8_t *p, size_t n, size_t limit)
{
	size_t		shown = n < limit ? n : limit;

	fputc('\'', fp);
	for (size_t i = 0; i < shown; i++)
	{
		uint8_t		c = p[i];

		if (c == '\\' || c == '\'')
			fprintf(fp, "\\%c", c);
		else if (c >= 0x20 && c < 0x7F)
			fputc(c, fp);
		else if (c == '\n')
			fputs("\\n", fp);
		else if (c == '\t')
			fputs("\\t", fp);
		else if (c == '\r')
			fputs("\\r", fp);
		else
			fprintf(fp, "\\x%02x", c);
	}
	fputc('\'', fp);
	if (shown < n)
		fprintf(fp, "... (%zu more bytes)", n - shown);
}

static void
print_hex(FILE *fp, const uint8_t *p, size_t n, size_t limit)
{
	size_t		shown = n < limit ? n : limit;

	for (size_t i = 0; i < shown; i++)
		fprintf(fp, "%02x", p[i]);
	if (shown < n)
		fprintf(fp, "... (%zu more bytes)", n - shown);
}

/* print a value as text or hex; dump it to a file when it is long */
static void
print_value(const char *label, const uint8_t *p, size_t n, bool text, long iter)
{
	size_t		limit = opt_verbose ? SIZE_MAX : (text ? 2000 : 1024);

	fprintf(rep, "  %s (%s, %zu bytes): ", label, text ? "text" : "hex", n);
	if (text)
		print_escaped(rep, p, n, limit);
	else
		print_hex(rep, p, n, limit);
	fputc('\n', rep);
	if (n > limit && rep == stderr)
	{
		char		name[128];
		FILE	   *fp;

		snprintf(name, sizeof(name), "segment_fuzz_failure_%ld_%s.%s", iter,
				 label, text ? "txt" : "bin");
		for (char *c = name; *c; c++)
			if (*c == ' ')
				*c = '_';
		fp = fopen(name, "wb");
		if (fp)
		{
			fwrite(p, 1, n, fp);
			fclose(fp);
			fprintf(rep, "  (all %zu bytes written to %s)\n", n, name);
		}
	}
}

static void
print_set(const char *label, const IvSet *s)
{
	Buf			t = {0};

	iv_render(s, &t);
	fprintf(rep, "  %s (%" PRIu64 " members): ", label, iv_card(s));
	print_escaped(rep, t.data, t.len, opt_verbose ? SIZE_MAX : 1000);
	fputc('\n', rep);
	buf_free(&t);
}

static void
fail_begin(const Item *it, const char *stage)
{
	n_failures++;
	if (fatal_report)
		rep = stderr;			/* a lost connection is always reported */
	else if (n_failures == MAX_REPORTS + 1)
	{
		fprintf(stderr, "\nsegment_fuzz: more than %d failures, counting the rest without reports\n", MAX_REPORTS);
		rep = fopen("/dev/null", "w");
		if (rep == NULL)
			rep = stderr;
	}
	fprintf(rep, "\nFAIL: iteration %ld, strategy %s, %s, via %s\n",
			it->iter, strategy_names[it->strategy], stage, path_names[it->path]);
}

static void
fail_end(const Item *it)
{
	print_value("input", it->in.data, it->in.len, is_text_path(it->path), it->iter);
	if (it->vd.v != V_VALID)
		fprintf(rep, "  reference: %s%s%s\n",
				it->vd.v == V_AMB ? "ambiguous" : "invalid",
				it->vd.why[0] ? ": " : "", it->vd.why);
	fprintf(rep, "  reproduce: segment_fuzz --seed %" PRIu64 " --batch %d --iterations %ld\n",
			opt_seed, opt_batch, it->iter + 1);
	if (!opt_keep_going)
	{
		print_summary();
		exit(1);
	}
}

static const char *
sqlstate_of(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "";
}

static unsigned
code_bit(const char *sqlstate)
{
	if (strcmp(sqlstate, "22P02") == 0)
		return E_22P02;
	if (strcmp(sqlstate, "22003") == 0)
		return E_22003;
	if (strcmp(sqlstate, "22P03") == 0)
		return E_22P03;
	return 0;
}

static void
print_codes(unsigned m)
{
	const char *sep = "";

	if (m & E_22P02)
	{
		fprintf(rep, "%s22P02", sep);
		sep = " or ";
	}
	if (m & E_22003)
	{
		fprintf(rep, "%s22003", sep);
		sep = " or ";
	}
	if (m & E_22P03)
		fprintf(rep, "%s22P03", sep);
}

static void
print_error(const PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);

	fprintf(rep, "  server: SQLSTATE %s: %s", res && *sqlstate_of(res) ? sqlstate_of(res) : "(none)",
			msg && *msg ? msg : "(no message)\n");
}

/* ----------------------------------------------------------------
 * The connection and the pipeline
 * ----------------------------------------------------------------
 */
typedef struct Req
{
	const char *stmt;
	const uint8_t *val;
	int			len;
	int			fmt;
	Item	   *item;
	int			role;			/* 0: the input, 1: send output back, 2: text output back */
	PGresult   *res;
} Req;

static const char *const role_names[] = {
	"the input", "the server's send output sent back (segment_recv)",
	"the server's text output sent back ($1::text::segment)"
};

static void
exec_or_die(PGconn *c, const char *sql, bool ignore_error)
{
	PGresult   *res = PQexec(c, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK &&
		!ignore_error)
	{
		fprintf(stderr, "segment_fuzz: \"%s\" failed: %s", sql, PQerrorMessage(c));
		exit(2);
	}
	PQclear(res);
}

static PGconn *
connect_and_prepare(bool quiet)
{
	PGconn	   *c = PQconnectdb("");
	PGresult   *res;
	Oid			types[3];
	const char *names[3] = {"q_seg", "q_txt", "q_bytea"};

	if (PQstatus(c) != CONNECTION_OK)
	{
		if (!quiet)
			fprintf(stderr, "segment_fuzz: cannot connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	if (PQsetClientEncoding(c, "UTF8") != 0)
	{
		fprintf(stderr, "segment_fuzz: cannot set client encoding: %s", PQerrorMessage(c));
		exit(2);
	}
	exec_or_die(c, "SET statement_timeout = '60s'", false);
	/* a hundred thousand rejections need not fill the server log */
	exec_or_die(c, "SET log_min_messages = 'fatal'", true);
	if (opt_create)
		exec_or_die(c, "CREATE EXTENSION IF NOT EXISTS segment", false);

	res = PQexec(c, "SELECT pg_catalog.to_regtype('segment')::oid");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		PQgetisnull(res, 0, 0))
	{
		fprintf(stderr, "segment_fuzz: type segment not found (run CREATE EXTENSION segment, or pass --create): %s",
				PQerrorMessage(c));
		exit(2);
	}
	segment_oid = (unsigned int) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);

	types[0] = segment_oid;
	types[1] = TEXTOID;
	types[2] = BYTEAOID;
	for (int i = 0; i < 3; i++)
	{
		res = PQprepare(c, names[i], Q1_SQL, 1, &types[i]);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			fprintf(stderr, "segment_fuzz: cannot prepare the test query: %s", PQerrorMessage(c));
			exit(2);
		}
		PQclear(res);
	}
	return c;
}

static bool
wait_socket(bool want_write)
{
	int			fd = PQsocket(conn);
	fd_set		rfds,
				wfds;
	struct timeval tv;
	int			rc;

	if (fd < 0)
		return false;
	FD_ZERO(&rfds);
	FD_ZERO(&wfds);
	FD_SET(fd, &rfds);
	if (want_write)
		FD_SET(fd, &wfds);
	tv.tv_sec = 300;
	tv.tv_usec = 0;
	do
		rc = select(fd + 1, &rfds, want_write ? &wfds : NULL, NULL, &tv);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
	{
		fprintf(stderr, "\nFAIL: the server did not answer for 300 seconds\n");
		return false;
	}
	return rc > 0;
}

/*
 * Try the suspect request again on a fresh connection, alone, to tell
 * whether it is what brings the server down.
 */
static void
try_reproduce(Req *reqs, int first, int n)
{
	for (int wait = 0; wait < 60; wait++)
	{
		PGconn	   *c;

		sleep(1);
		c = connect_and_prepare(true);
		if (c == NULL)
			continue;
		for (int k = first; k < n && k < first + 4; k++)
		{
			const char *vals[1] = {(const char *) reqs[k].val};
			int			lens[1] = {reqs[k].len};
			int			fmts[1] = {reqs[k].fmt};
			PGresult   *res = PQexecPrepared(c, reqs[k].stmt, 1, vals, lens, fmts, 1);

			if (PQstatus(c) == CONNECTION_BAD)
			{
				fprintf(stderr, "  reproduced: sending request %d of the batch (%s of iteration %ld) alone on a new connection loses the connection again\n",
						k, role_names[reqs[k].role], reqs[k].item->iter);
				PQclear(res);
				PQfinish(c);
				return;
			}
			fprintf(stderr, "  request %d alone on a new connection: %s %s\n", k,
					PQresStatus(PQresultStatus(res)), sqlstate_of(res));
			PQclear(res);
		}
		PQfinish(c);
		fprintf(stderr, "  not reproduced by sending the suspect requests alone\n");
		return;
	}
	fprintf(stderr, "  could not reconnect within 60 seconds to retry\n");
}

static void
connection_lost(Req *reqs, int idx, int n)
{
	Item	   *it;

	if (idx >= n)
		idx = n - 1;
	it = reqs[idx].item;
	if (reqs[idx].role == 0)
		n_inputs = it->iter + 1;
	fatal_report = true;
	fail_begin(it, "server connection lost");
	fprintf(stderr, "  while running %s (request %d of %d in the batch)\n", role_names[reqs[idx].role], idx, n);
	fprintf(stderr, "  libpq: %s", PQerrorMessage(conn));
	if (reqs[idx].role != 0)
		print_value("value sent", reqs[idx].val, reqs[idx].len, reqs[idx].fmt == 0, it->iter);
	print_value("input", it->in.data, it->in.len, is_text_path(it->path), it->iter);
	fprintf(stderr, "  reproduce: segment_fuzz --seed %" PRIu64 " --batch %d --iterations %ld\n",
			opt_seed, opt_batch, it->iter + 1);
	try_reproduce(reqs, idx, n);
	print_summary();
	exit(1);
}

/*
 * Send all requests, each followed by a sync so that one error leaves
 * the others alone, and collect one result for each.
 */
static void
run_pipeline(Req *reqs, int n)
{
	int			idx = 0;
	int			nulls = 0;

	for (int i = 0; i < n; i++)
	{
		const char *vals[1] = {(const char *) reqs[i].val};
		int			lens[1] = {reqs[i].len};
		int			fmts[1] = {reqs[i].fmt};

		reqs[i].res = NULL;
		n_bytes_sent += (uint64_t) reqs[i].len;
		if (!PQsendQueryPrepared(conn, reqs[i].stmt, 1, vals, lens, fmts, 1) ||
			!PQpipelineSync(conn))
			connection_lost(reqs, i, n);
		n_queries++;
	}

	while (idx < n)
	{
		int			fr = PQflush(conn);
		PGresult   *res;

		if (fr < 0)
			connection_lost(reqs, idx, n);
		if (PQisBusy(conn))
		{
			if (!wait_socket(fr == 1) || !PQconsumeInput(conn))
				connection_lost(reqs, idx, n);
			continue;
		}
		res = PQgetResult(conn);
		if (res == NULL)
		{
			if (PQstatus(conn) == CONNECTION_BAD)
				connection_lost(reqs, idx, n);
			if (++nulls > 2)
			{
				if (!wait_socket(fr == 1) || !PQconsumeInput(conn))
					connection_lost(reqs, idx, n);
				nulls = 0;
			}
			continue;
		}
		nulls = 0;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			if (reqs[idx].res == NULL)
				connection_lost(reqs, idx, n);
			idx++;
			continue;
		}
		if (reqs[idx].res == NULL)
		{
			reqs[idx].res = res;
			if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
				for (int k = 0; k < PQnfields(res); k++)
					n_bytes_received += (uint64_t) PQgetlength(res, 0, k);
		}
		else
			PQclear(res);
		if (PQstatus(conn) == CONNECTION_BAD ||
			(*sqlstate_of(res) == '\0' && PQresultStatus(res) != PGRES_TUPLES_OK))
			connection_lost(reqs, idx, n);
	}
}

/* ----------------------------------------------------------------
 * Checks
 * ----------------------------------------------------------------
 */

/* the four columns of an accepted input; false (and a report) if malformed */
static bool
get_row(const Item *it, const PGresult *res, const char *stage,
		const uint8_t **t, int *tlen, const uint8_t **b, int *blen,
		const uint8_t **bb, int *bblen, bool *eq)
{
	if (PQntuples(res) != 1 || PQnfields(res) != 4 ||
		PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1) ||
		PQgetisnull(res, 0, 2) || PQgetisnull(res, 0, 3) ||
		PQgetlength(res, 0, 3) != 1)
	{
		fail_begin(it, stage);
		fprintf(rep, "  unexpected result shape: %d rows, %d columns\n",
				PQntuples(res), PQnfields(res));
		fail_end(it);
		return false;
	}
	*t = (const uint8_t *) PQgetvalue(res, 0, 0);
	*tlen = PQgetlength(res, 0, 0);
	*b = (const uint8_t *) PQgetvalue(res, 0, 1);
	*blen = PQgetlength(res, 0, 1);
	*bb = (const uint8_t *) PQgetvalue(res, 0, 2);
	*bblen = PQgetlength(res, 0, 2);
	*eq = PQgetvalue(res, 0, 3)[0] != 0;
	return true;
}

static IvSet scratch_set;
static IvSet scratch_set2;
static Buf	scratch_buf;

/* the result of sending one input */
static void
check_input_result(Item *it, PGresult *res)
{
	const uint8_t *t,
			   *b,
			   *bb;
	int			tlen,
				blen,
				bblen;
	bool		eq;
	BinInfo		info;
	char		why[256];
	int			v;
	const char *stage = "sending the input";

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *st = sqlstate_of(res);
		unsigned	allowed = it->vd.v == V_VALID ? 0 :
			(is_text_path(it->path) ? it->vd.allowed : E_22P03);

		n_rejected++;
		n_by_strategy[it->strategy][0]++;
		if (it->vd.v == V_VALID)
		{
			fail_begin(it, "valid input rejected");
			print_error(res);
			if (it->from_model)
				print_set("expected", &it->exp);
			fail_end(it);
		}
		else if ((code_bit(st) & allowed) == 0)
		{
			fail_begin(it, "input rejected with the wrong SQLSTATE");
			print_error(res);
			fprintf(rep, "  expected SQLSTATE ");
			print_codes(allowed);
			fprintf(rep, "\n");
			fail_end(it);
		}
		return;
	}

	n_accepted++;
	n_by_strategy[it->strategy][1]++;
	it->accepted = true;
	if (!get_row(it, res, stage, &t, &tlen, &b, &blen, &bb, &bblen, &eq))
		return;
	buf_set(&it->T, t, tlen);
	buf_set(&it->B, b, blen);

	if (it->vd.v == V_INVALID)
	{
		fail_begin(it, "invalid input accepted");
		print_value("server text", t, tlen, true, it->iter);
		fail_end(it);
		return;
	}

	/* the send output must be valid, canonical, and the expected set */
	v = bin_check(b, blen, &scratch_set, NULL, &info, why, sizeof(why));
	if (v != V_VALID)
	{
		fail_begin(it, "the server's send output is not a valid portable serialization");
		fprintf(rep, "  reference: %s\n", why);
		print_value("server send", b, blen, false, it->iter);
		fail_end(it);
		return;
	}
	if (!info.canonical)
	{
		fail_begin(it, "the server's send output is not in canonical form");
		fprintf(rep, "  %s\n", info.noncanon);
		print_value("server send", b, blen, false, it->iter);
		fail_end(it);
	}
	if (!iv_equal(&scratch_set, &it->exp))
	{
		fail_begin(it, "wrong answer: the value is not the input's set");
		print_set("expected", &it->exp);
		print_set("server send decodes to", &scratch_set);
		print_value("server text", t, tlen, true, it->iter);
		fail_end(it);
		return;
	}

	/* the text output must be the canonical rendering */
	iv_render(&scratch_set, &scratch_buf);
	if (!buf_eq(&scratch_buf, t, tlen))
	{
		fail_begin(it, "text output is not the canonical form of the set");
		print_value("expected text", scratch_buf.data, scratch_buf.len, true, it->iter);
		print_value("server text", t, tlen, true, it->iter);
		fail_end(it);
	}
	if (bblen != blen || memcmp(bb, b, blen) != 0)
	{
		fail_begin(it, "segment::bytea differs from the send output");
		print_value("server send", b, blen, false, it->iter);
		print_value("server bytea", bb, bblen, false, it->iter);
		fail_end(it);
	}
	if (!eq)
	{
		fail_begin(it, "the text output re-parsed is not = to the value");
		print_value("server text", t, tlen, true, it->iter);
		fail_end(it);
	}
	if (it->strategy == S_TEXT || it->strategy == S_BIN)
		pool_add(send_pool, &send_pool_n, &send_pool_next, &it->B);
	pool_add(text_pool, &text_pool_n, &text_pool_next, &it->T);
}

/* the result of sending an accepted value's output back */
static void
check_roundtrip_result(Item *it, int role, PGresult *res)
{
	const uint8_t *t,
			   *b,
			   *bb;
	int			tlen,
				blen,
				bblen;
	bool		eq;
	const char *stage = role == 1 ? "sending the send output back (segment_recv)" :
		"sending the text output back ($1::text::segment)";

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fail_begin(it, stage);
		fprintf(rep, "  the server rejected its own output\n");
		print_error(res);
		print_value(role == 1 ? "server send" : "server text",
					role == 1 ? it->B.data : it->T.data,
					role == 1 ? it->B.len : it->T.len, role == 2, it->iter);
		fail_end(it);
		return;
	}
	if (!get_row(it, res, stage, &t, &tlen, &b, &blen, &bb, &bblen, &eq))
		return;
	if (!buf_eq(&it->T, t, tlen))
	{
		fail_begin(it, stage);
		fprintf(rep, "  the text output changed\n");
		print_value("first text", it->T.data, it->T.len, true, it->iter);
		print_value("second text", t, tlen, true, it->iter);
		fail_end(it);
	}
	if (!buf_eq(&it->B, b, blen))
	{
		char		why[256];
		BinInfo		i1,
					i2;

		fail_begin(it, stage);
		fprintf(rep, "  the send output changed: the stored form depends on how the value was built\n");
		bin_check(it->B.data, it->B.len, &scratch_set, NULL, &i1, why, sizeof(why));
		bin_check(b, blen, &scratch_set2, NULL, &i2, why, sizeof(why));
		fprintf(rep, "  same set: %s\n", iv_equal(&scratch_set, &scratch_set2) ? "yes" : "NO");
		print_value("first send", it->B.data, it->B.len, false, it->iter);
		print_value("second send", b, blen, false, it->iter);
		fail_end(it);
	}
	if (bblen != blen || memcmp(bb, b, blen) != 0)
	{
		fail_begin(it, stage);
		fprintf(rep, "  segment::bytea differs from the send output\n");
		fail_end(it);
	}
	if (!eq)
	{
		fail_begin(it, stage);
		fprintf(rep, "  the text output re-parsed is not = to the value\n");
		fail_end(it);
	}
}

/* ----------------------------------------------------------------
 * Generating one input
 * ----------------------------------------------------------------
 */
static IvSet model;
static Fields fields;

static void
make_item(Item *it, long iter)
{
	int			r = rnd(100);
	Roar		roar;
	BinInfo		info;
	char		why[256];
	int			v;

	/* reuse the buffers of the previous batch */
	{
		Buf			in = it->in,
					T = it->T,
					B = it->B;
		IvSet		exp = it->exp;

		memset(it, 0, sizeof(*it));
		it->in = in;
		it->T = T;
		it->B = B;
		it->exp = exp;
	}
	it->iter = iter;
	buf_reset(&it->in);
	buf_reset(&it->T);
	buf_reset(&it->B);
	it->exp.n = 0;

	if (r < 20)
		it->strategy = S_TEXT;
	else if (r < 45)
		it->strategy = S_TEXT_MUT;
	else if (r < 60)
		it->strategy = S_BIN;
	else if (r < 85 || send_pool_n == 0)
		it->strategy = S_BIN_MUT;
	else
		it->strategy = S_SEND_MUT;

	switch (it->strategy)
	{
		case S_TEXT:
			gen_model(&model, 5);
			gen_text(&model, &it->in);
			text_check(it->in.data, it->in.len, &it->exp, &it->vd);
			if (it->vd.v != V_VALID || !iv_equal(&it->exp, &model))
			{
				fprintf(stderr, "generated: ");
				print_escaped(stderr, it->in.data, it->in.len, 2000);
				internal_error("generated text does not parse back to its model (%s)", it->vd.why);
			}
			it->from_model = true;
			break;
		case S_TEXT_MUT:
			if (chance(10))
				token_soup(&it->in);
			else
			{
				if (chance(30) && text_pool_n > 0)
				{
					const Buf  *src = &text_pool[rnd(text_pool_n)];

					buf_set(&it->in, src->data, src->len);
				}
				else
				{
					gen_model(&model, 5);
					gen_text(&model, &it->in);
				}
				mutate_text(&it->in);
			}
			text_check(it->in.data, it->in.len, &it->exp, &it->vd);
			break;
		case S_BIN:
			gen_model(&model, 25);
			roar_from_set(&model, &roar, chance(30));
			roar_serialize(&roar, &it->in, NULL);
			roar_free(&roar);
			v = bin_check(it->in.data, it->in.len, &it->exp, NULL, &info, why, sizeof(why));
			if (v != V_VALID || !iv_equal(&it->exp, &model))
				internal_error("encoded model does not validate (%s)", why);
			it->vd.v = V_VALID;
			it->from_model = true;
			break;
		case S_BIN_MUT:
		case S_SEND_MUT:
			if (it->strategy == S_SEND_MUT)
			{
				const Buf  *src = &send_pool[rnd(send_pool_n)];

				buf_set(&it->in, src->data, src->len);
				bin_check(it->in.data, it->in.len, &scratch_set, &fields, &info, why, sizeof(why));
				mutate_bin(&it->in, &fields, fields.n[F_KEY]);
			}
			else
			{
				gen_model(&model, 25);
				roar_from_set(&model, &roar, chance(30));
				if (chance(50))
				{
					roar_corrupt(&roar);
					if (chance(20))
						roar_corrupt(&roar);
					roar_serialize(&roar, &it->in, &fields);
					if (chance(25))
						mutate_bin(&it->in, &fields, roar.n);
				}
				else
				{
					roar_serialize(&roar, &it->in, &fields);
					mutate_bin(&it->in, &fields, roar.n);
				}
				roar_free(&roar);
			}
			v = bin_check(it->in.data, it->in.len, &it->exp, NULL, &info, it->vd.why, sizeof(it->vd.why));
			it->vd.v = v;
			it->vd.allowed = E_22P03;
			if (v == V_INVALID)
				it->exp.n = 0;
			break;
	}
	n_by_verdict[it->vd.v]++;
	if (it->strategy <= S_TEXT_MUT)
		it->path = chance(50) ? P_TEXT_IN : P_TEXT_CAST;
	else
		it->path = chance(60) ? P_RECV : P_BYTEA;
}

static void
print_summary(void)
{
	if (opt_verbose)
	{
		for (int s = 0; s < S_COUNT; s++)
			fprintf(stderr, "fuzz: %-24s %8ld accepted %8ld rejected\n",
					strategy_names[s], n_by_strategy[s][1], n_by_strategy[s][0]);
		fprintf(stderr, "fuzz: reference verdicts: %ld valid, %ld ambiguous, %ld invalid\n",
				n_by_verdict[V_VALID], n_by_verdict[V_AMB], n_by_verdict[V_INVALID]);
	}
	printf("fuzz: %ld inputs, %ld accepted, %ld rejected, %ld failures\n",
		   n_inputs, n_accepted, n_rejected, n_failures);
	fflush(stdout);
}

static void
usage(void)
{
	printf("Usage: segment_fuzz [--iterations N] [--seed S] [--batch N] [--keep-going] [--create] [--verbose]\n"
		   "\n"
		   "Sends random and mutated text and binary inputs of the segment type\n"
		   "through a live server (libpq environment: PGHOST, PGPORT, PGDATABASE,\n"
		   "PGUSER, ...) and checks crashes, SQLSTATEs and exact round trips.\n"
		   "\n"
		   "  --iterations N   inputs to send (default 100000)\n"
		   "  --seed S         random seed (default 1)\n"
		   "  --batch N        inputs per pipeline batch (default 256)\n"
		   "  --keep-going     go on after failures (the first 20 are reported in full)\n"
		   "  --create         CREATE EXTENSION IF NOT EXISTS segment first\n"
		   "  --verbose        progress, per-strategy counts, whole values in reports\n");
}

int
main(int argc, char **argv)
{
	Item	   *items;
	Req		   *reqs;
	long		done = 0;
	struct timespec t0,
				t1;

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (strcmp(a, "--iterations") == 0 && i + 1 < argc)
			opt_iterations = strtol(argv[++i], NULL, 10);
		else if (strcmp(a, "--seed") == 0 && i + 1 < argc)
			opt_seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(a, "--batch") == 0 && i + 1 < argc)
			opt_batch = atoi(argv[++i]);
		else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0)
			opt_verbose = true;
		else if (strcmp(a, "--keep-going") == 0)
			opt_keep_going = true;
		else if (strcmp(a, "--create") == 0)
			opt_create = true;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		{
			usage();
			return 0;
		}
		else
		{
			fprintf(stderr, "segment_fuzz: unknown option \"%s\"\n", a);
			usage();
			return 2;
		}
	}
	if (opt_iterations < 0 || opt_batch < 1)
	{
		fprintf(stderr, "segment_fuzz: bad --iterations or --batch\n");
		return 2;
	}
	rng_state = opt_seed;
	rep = stderr;

	conn = connect_and_prepare(false);
	if (conn == NULL)
		return 2;
	if (PQsetnonblocking(conn, 1) != 0 || !PQenterPipelineMode(conn))
	{
		fprintf(stderr, "segment_fuzz: cannot enter pipeline mode: %s", PQerrorMessage(conn));
		return 2;
	}
	if (opt_verbose)
		fprintf(stderr, "fuzz: segment type oid %u, seed %" PRIu64 ", %ld iterations, batches of %d\n",
				segment_oid, opt_seed, opt_iterations, opt_batch);

	items = calloc(opt_batch, sizeof(Item));
	reqs = calloc(2 * (size_t) opt_batch, sizeof(Req));
	if (!items || !reqs)
		internal_error("out of memory");
	clock_gettime(CLOCK_MONOTONIC, &t0);

	while (done < opt_iterations)
	{
		int			n = (int) ((opt_iterations - done) < opt_batch ? (opt_iterations - done) : opt_batch);
		int			nr = 0;

		/* phase 1: the inputs */
		for (int i = 0; i < n; i++)
		{
			Item	   *it = &items[i];
			Req		   *q = &reqs[i];

			make_item(it, done + i);
			q->item = it;
			q->role = 0;
			q->val = it->in.data;
			q->len = (int) it->in.len;
			switch (it->path)
			{
				case P_TEXT_IN:
					q->stmt = "q_seg";
					q->fmt = 0;
					break;
				case P_TEXT_CAST:
					q->stmt = "q_txt";
					q->fmt = 0;
					break;
				case P_RECV:
					q->stmt = "q_seg";
					q->fmt = 1;
					break;
				default:
					q->stmt = "q_bytea";
					q->fmt = 1;
					break;
			}
		}
		run_pipeline(reqs, n);
		for (int i = 0; i < n; i++)
		{
			n_inputs++;
			check_input_result(&items[i], reqs[i].res);
			PQclear(reqs[i].res);
			reqs[i].res = NULL;
		}

		/* phase 2: every accepted value's outputs, sent back */
		for (int i = 0; i < n; i++)
		{
			Item	   *it = &items[i];

			if (!it->accepted || it->B.data == NULL)
				continue;
			reqs[nr].item = it;
			reqs[nr].role = 1;
			reqs[nr].stmt = "q_seg";
			reqs[nr].fmt = 1;
			reqs[nr].val = it->B.data;
			reqs[nr].len = (int) it->B.len;
			nr++;
			reqs[nr].item = it;
			reqs[nr].role = 2;
			reqs[nr].stmt = "q_txt";
			reqs[nr].fmt = 0;
			reqs[nr].val = it->T.data;
			reqs[nr].len = (int) it->T.len;
			nr++;
		}
		if (nr > 0)
		{
			run_pipeline(reqs, nr);
			for (int i = 0; i < nr; i++)
			{
				check_roundtrip_result(reqs[i].item, reqs[i].role, reqs[i].res);
				PQclear(reqs[i].res);
				reqs[i].res = NULL;
			}
		}
		/* keep the memory of a rare huge value only until the next batch */
		for (int i = 0; i < n; i++)
		{
			if (items[i].in.cap > (64u << 10))
				buf_free(&items[i].in);
			if (items[i].T.cap > (64u << 10))
				buf_free(&items[i].T);
			if (items[i].B.cap > (64u << 10))
				buf_free(&items[i].B);
			if (items[i].exp.cap > 4096)
				iv_free(&items[i].exp);
		}
		done += n;
		if (opt_verbose && (done % 10000 < (long) n || done == opt_iterations))
			fprintf(stderr, "fuzz: %ld/%ld inputs, %ld accepted, %ld rejected, %ld failures\n",
					done, opt_iterations, n_accepted, n_rejected, n_failures);
	}

	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (opt_verbose)
		fprintf(stderr, "fuzz: %ld queries in %.1f s, %.1f MB sent, %.1f MB received\n", n_queries,
				(double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
				n_bytes_sent / 1e6, n_bytes_received / 1e6);
	PQfinish(conn);
	for (int i = 0; i < opt_batch; i++)
	{
		buf_free(&items[i].in);
		buf_free(&items[i].T);
		buf_free(&items[i].B);
		iv_free(&items[i].exp);
	}
	free(items);
	free(reqs);
	for (int i = 0; i < POOL_SIZE; i++)
	{
		buf_free(&send_pool[i]);
		buf_free(&text_pool[i]);
	}
	for (int k = 0; k < F_NKINDS; k++)
		free(fields.v[k]);
	iv_free(&model);
	iv_free(&scratch_set);
	iv_free(&scratch_set2);
	buf_free(&scratch_buf);
	print_summary();
	return n_failures == 0 ? 0 : 1;
}
