/*-------------------------------------------------------------------------
 *
 * roaring_format.c
 *	  Finding and validating containers of the roaring portable format.
 *
 * Two levels of trust.  rf_parse_header() and rf_get_container() check only
 * that every read stays inside the buffer: enough for stored values, which
 * were validated when they entered the database, to never crash a backend
 * even if the disk corrupts them.  rf_validate() checks everything the format
 * promises, for bytes that come from a client.
 *
 * IDENTIFICATION
 *	  src/roaring_format.c
 *
 *-------------------------------------------------------------------------
 */
#include "roaring_format.h"

#include "kernels.h"

/*
 * Locate the header parts of a serialized bitmap, checking only bounds.
 */
RfError
rf_parse_header(const uint8_t *buf, size_t len, RfHeader *h)
{
	uint32_t	cookie;
	size_t		pos;

	memset(h, 0, sizeof(*h));
	h->buf = buf;
	h->len = len;

	if (len < 4)
		return RF_ERR_TRUNCATED;
	cookie = rf_load32(buf);
	pos = 4;

	if ((cookie & 0xFFFF) == RF_COOKIE_RUN)
	{
		h->n = (cookie >> 16) + 1;
		h->runflags = buf + pos;
		pos += (h->n + 7) / 8;
	}
	else if (cookie == RF_COOKIE_NO_RUN)
	{
		if (len < 8)
			return RF_ERR_TRUNCATED;
		h->n = rf_load32(buf + 4);
		pos = 8;
		if (h->n > RF_MAX_CONTAINERS)
			return RF_ERR_COUNT;
	}
	else
		return RF_ERR_COOKIE;

	if (pos > len || len - pos < 4 * (size_t) h->n)
		return RF_ERR_TRUNCATED;
	h->keycards = buf + pos;
	pos += 4 * (size_t) h->n;

	if (h->runflags == NULL || h->n >= RF_NO_OFFSET_THRESHOLD)
	{
		if (len - pos < 4 * (size_t) h->n)
			return RF_ERR_TRUNCATED;
		h->offsets = buf + pos;
		pos += 4 * (size_t) h->n;
	}
	h->data_start = pos;
	return RF_OK;
}

/*
 * Describe container i at the given position; false if it does not fit.
 */
static bool
container_at(const RfHeader *h, uint32_t i, size_t pos, RfContainer *c)
{
	c->key = rf_key(h, i);
	c->card = rf_card(h, i);
	c->nruns = 0;

	if (pos > h->len)
		return false;

	if (rf_is_run(h, i))
	{
		c->type = RF_RUN;
		if (h->len - pos < 2)
			return false;
		c->nruns = rf_load16(h->buf + pos);
		c->data = h->buf + pos + 2;
		/* no runs, or more than 16 bits can hold, is never valid */
		if (c->nruns == 0 || c->nruns > RF_MAX_RUNS)
			return false;
	}
	else
	{
		c->type = c->card <= RF_ARRAY_MAX ? RF_ARRAY : RF_BITSET;
		c->data = h->buf + pos;
	}
	c->size = rf_container_size(c->type, c->card, c->nruns);
	return h->len - pos >= c->size;
}

/*
 * Find container i.  With offsets this is direct; without them (run format,
 * fewer than four containers) it walks at most three containers.
 */
bool
rf_get_container(const RfHeader *h, uint32_t i, RfContainer *c)
{
	size_t		pos;

	if (i >= h->n)
		return false;
	if (h->offsets != NULL)
		return container_at(h, i, rf_load32(h->offsets + 4 * (size_t) i), c);

	pos = h->data_start;
	for (uint32_t j = 0; j < i; j++)
	{
		if (!container_at(h, j, pos, c))
			return false;
		pos += c->size;
	}
	return container_at(h, i, pos, c);
}

/*
 * Index of the container holding key, or -1.  Keys ascend: binary search.
 */
int64_t
rf_find_key(const RfHeader *h, uint16_t key)
{
	int64_t		lo = 0;
	int64_t		hi = (int64_t) h->n - 1;

	while (lo <= hi)
	{
		int64_t		mid = (lo + hi) / 2;
		uint16_t	k = rf_key(h, (uint32_t) mid);

		if (k < key)
			lo = mid + 1;
		else if (k > key)
			hi = mid - 1;
		else
			return mid;
	}
	return -1;
}

uint64_t
rf_cardinality(const RfHeader *h)
{
	uint64_t	total = 0;

	for (uint32_t i = 0; i < h->n; i++)
		total += rf_card(h, i);
	return total;
}

/* Number of runs of set bits in a bitset container. */
static uint32_t
bitset_runs(const uint8_t *words)
{
	uint32_t	runs = 0;
	uint64_t	prev_top = 0;

	for (int i = 0; i < RF_BITSET_WORDS; i++)
	{
		uint64_t	w = rf_load64(words + 8 * i);

		/* a run starts at each set bit whose lower neighbour is clear */
		runs += rk_popcount64(w & ~((w << 1) | prev_top));
		prev_top = w >> 63;
	}
	return runs;
}

/*
 * Check a container's contents.  Returns the number of maximal runs it holds
 * (for the canonical check), or -1 with v filled in.
 */
static int64_t
validate_container(const RfContainer *c, uint32_t i, RfValidation *v)
{
	uint64_t	count = 0;
	uint32_t	runs = 0;

	switch (c->type)
	{
		case RF_ARRAY:
			{
				uint32_t	prev = 0;

				for (uint32_t k = 0; k < c->card; k++)
				{
					uint32_t	x = rf_load16(c->data + 2 * k);

					if (k > 0 && x <= prev)
					{
						v->error = RF_ERR_ARRAY;
						v->container = i;
						return -1;
					}
					if (k == 0 || x != prev + 1)
						runs++;
					prev = x;
				}
				return runs;
			}
		case RF_BITSET:
			for (int k = 0; k < RF_BITSET_WORDS; k++)
				count += rk_popcount64(rf_load64(c->data + 8 * k));
			if (count != c->card)
			{
				v->error = RF_ERR_CARDINALITY;
				v->container = i;
				v->declared = c->card;
				v->found = count;
				return -1;
			}
			return bitset_runs(c->data);
		case RF_RUN:
			{
				int64_t		prev_end = -1;

				if (c->nruns == 0)
				{
					v->error = RF_ERR_RUN_COUNT;
					v->container = i;
					return -1;
				}
				for (uint32_t k = 0; k < c->nruns; k++)
				{
					uint32_t	start = rf_load16(c->data + 4 * k);
					uint32_t	length = rf_load16(c->data + 4 * k + 2);

					/* runs ascend, do not overlap, and stay in 16 bits */
					if ((int64_t) start <= prev_end)
					{
						v->error = RF_ERR_RUN_ORDER;
						v->container = i;
						return -1;
					}
					if (start + length > 0xFFFF)
					{
						v->error = RF_ERR_RUN_RANGE;
						v->container = i;
						return -1;
					}
					/* touching runs are legal but not maximal */
					if ((int64_t) start != prev_end + 1 || k == 0)
						runs++;
					prev_end = start + length;
					count += (uint64_t) length + 1;
				}
				if (count != c->card)
				{
					v->error = RF_ERR_CARDINALITY;
					v->container = i;
					v->declared = c->card;
					v->found = count;
					return -1;
				}
				if (runs != c->nruns)
					v->canonical = false;
				return runs;
			}
	}
	return -1;
}

/*
 * Validate untrusted bytes completely: header, every container, offsets that
 * point where the containers really are, and nothing after the last one.
 */
void
rf_validate(const uint8_t *buf, size_t len, RfValidation *v)
{
	RfHeader	h;
	size_t		pos;
	bool		any_run = false;

	memset(v, 0, sizeof(*v));
	v->canonical = true;

	v->error = rf_parse_header(buf, len, &h);
	if (v->error != RF_OK)
		return;

	/* padding bits after the last run flag must be clear */
	if (h.runflags != NULL && (h.n & 7) != 0 &&
		(h.runflags[h.n >> 3] >> (h.n & 7)) != 0)
	{
		v->error = RF_ERR_RUNFLAGS;
		return;
	}

	pos = h.data_start;
	for (uint32_t i = 0; i < h.n; i++)
	{
		RfContainer c;
		int64_t		runs;

		if (i > 0 && rf_key(&h, i) <= rf_key(&h, i - 1))
		{
			v->error = RF_ERR_KEYS;
			v->container = i;
			return;
		}
		if (h.offsets != NULL && rf_load32(h.offsets + 4 * (size_t) i) != pos)
		{
			v->error = RF_ERR_OFFSET;
			v->container = i;
			return;
		}
		if (rf_is_run(&h, i) && pos + 2 <= len &&
			(rf_load16(buf + pos) == 0 || rf_load16(buf + pos) > RF_MAX_RUNS))
		{
			v->error = RF_ERR_RUN_COUNT;
			v->container = i;
			return;
		}
		if (!container_at(&h, i, pos, &c))
		{
			v->error = RF_ERR_TRUNCATED;
			v->container = i;
			return;
		}
		runs = validate_container(&c, i, v);
		if (runs < 0)
			return;
		if (rf_canonical_type(c.card, (uint32_t) runs) != c.type)
			v->canonical = false;
		if (c.type == RF_RUN)
			any_run = true;
		pos += c.size;
	}

	if (pos != len)
	{
		v->error = RF_ERR_TRAILING;
		return;
	}

	/* the run cookie without a run container is legal, but not canonical */
	if (h.runflags != NULL && !any_run)
		v->canonical = false;
}

/*
 * A sentence for an error's detail; %u, where present, is the container.
 */
const char *
rf_error_message(RfError error)
{
	switch (error)
	{
		case RF_OK:
			return "No error.";
		case RF_ERR_TRUNCATED:
			return "The data ends before the bitmap does.";
		case RF_ERR_COOKIE:
			return "The data does not start with a roaring portable format cookie.";
		case RF_ERR_COUNT:
			return "The container count exceeds 65536.";
		case RF_ERR_RUNFLAGS:
			return "Run flags are set past the last container.";
		case RF_ERR_KEYS:
			return "The key of container %u is not above the key before it.";
		case RF_ERR_OFFSET:
			return "The offset of container %u does not match its position.";
		case RF_ERR_ARRAY:
			return "The members of array container %u are not strictly ascending.";
		case RF_ERR_RUN_COUNT:
			return "Run container %u holds no runs or more than 32768.";
		case RF_ERR_RUN_ORDER:
			return "Run container %u has runs that overlap or are out of order.";
		case RF_ERR_RUN_RANGE:
			return "Run container %u has a run past 65535.";
		case RF_ERR_CARDINALITY:
			return "Container %u declares a cardinality that differs from its contents.";
		case RF_ERR_TRAILING:
			return "There are bytes after the last container.";
	}
	return "Unknown error.";
}
