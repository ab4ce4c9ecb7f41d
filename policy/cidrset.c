/*
 * cidrset.c - sets of CIDR blocks with O(log n) membership, and the
 * longest-prefix lookup of named networks.
 *
 * A named network may hold thousands of blocks (a cloud provider's ranges),
 * and policy_eval() and policy_network_name() run for every new flow, so a
 * linear scan is not good enough.  Blocks are [lo, hi] ranges in the
 * 128-bit mapped space (util.h).  Sorted by lo, with the running maximum of
 * hi beside them, "is ip in any block" is one binary search: take the last
 * block with lo <= ip; ip is covered iff the largest hi up to there reaches
 * it.  Nested and overlapping blocks need no special care.  The same test
 * with a whole block instead of an address says whether an `except` lies
 * inside the set.
 *
 * Longest prefix: blocks of one prefix length never overlap partially
 * (they are equal or disjoint), so per prefix length a binary search finds
 * the only candidate; lengths are tried from the most specific down.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int lo_cmp(const void *a, const void *b)
{
	const struct ew_cidr *x = a, *y = b;
	int c = memcmp(x->lo, y->lo, 16);

	return c ? c : memcmp(x->hi, y->hi, 16);
}

int cidrset_build(struct arena *a, struct ew_cidr *c, uint32_t n,
		  struct cidrset *out)
{
	memset(out, 0, sizeof(*out));
	if (!n)
		return 0;
	if (!(out->maxhi = arena_array(a, n, sizeof(*out->maxhi))))
		return -ENOMEM;
	qsort(c, n, sizeof(*c), lo_cmp);
	for (uint32_t i = 0; i < n; i++)
		memcpy(out->maxhi[i],
		       i && memcmp(out->maxhi[i - 1], c[i].hi, 16) > 0 ?
			       out->maxhi[i - 1] : c[i].hi, 16);
	out->c = c;
	out->n = n;
	return 0;
}

/* Index of the last block with lo <= key, or -1. */
static int64_t last_at_or_below(const struct ew_cidr *c, uint32_t n,
				const uint8_t key[16])
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (memcmp(c[mid].lo, key, 16) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int64_t)lo - 1;
}

int cidrset_contains(const struct cidrset *s, const uint8_t ip[16])
{
	int64_t i = last_at_or_below(s->c, s->n, ip);

	return i >= 0 && memcmp(s->maxhi[i], ip, 16) >= 0;
}

int cidrset_covers(const struct cidrset *s, const struct ew_cidr *c)
{
	int64_t i = last_at_or_below(s->c, s->n, c->lo);

	return i >= 0 && memcmp(s->maxhi[i], c->hi, 16) >= 0;
}

static int block_cmp(const void *a, const void *b)
{
	const struct netblock *x = a, *y = b;
	int c;

	if (x->cidr.prefix != y->cidr.prefix)
		return x->cidr.prefix > y->cidr.prefix ? -1 : 1;
	if ((c = memcmp(x->cidr.lo, y->cidr.lo, 16)))
		return c;
	/* equal blocks: the network sorting first by name ends up last,
	 * which is where the search lands */
	return x->net < y->net ? 1 : x->net > y->net ? -1 : 0;
}

int netblocks_build(struct policy *p)
{
	uint32_t nb = 0, k = 0;

	for (uint32_t i = 0; i < p->n_networks; i++)
		nb += p->networks[i].set.n;
	if (!nb)
		return 0;
	if (!(p->netblocks = arena_array(&p->arena, nb, sizeof(*p->netblocks))))
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n_networks; i++)
		for (uint32_t j = 0; j < p->networks[i].set.n; j++) {
			p->netblocks[k].cidr = p->networks[i].set.c[j];
			p->netblocks[k++].net = i;
		}
	p->n_netblocks = nb;
	qsort(p->netblocks, nb, sizeof(*p->netblocks), block_cmp);
	for (uint32_t i = 0; i < nb; i++)
		p->n_prefixes += i == 0 ||
			p->netblocks[i].cidr.prefix != p->netblocks[i - 1].cidr.prefix;
	if (!(p->prefixes = arena_array(&p->arena, p->n_prefixes,
					sizeof(*p->prefixes))))
		return -ENOMEM;
	k = 0;
	for (uint32_t i = 0; i < nb; i++) {
		if (i && p->netblocks[i].cidr.prefix == p->netblocks[i - 1].cidr.prefix) {
			p->prefixes[k - 1].n++;
			continue;
		}
		p->prefixes[k].first = i;
		p->prefixes[k++].n = 1;
	}
	return 0;
}

const char *policy_network_name(const struct policy *p, const uint8_t ip[16])
{
	for (uint32_t g = 0; g < p->n_prefixes; g++) {
		const struct netblock *b = &p->netblocks[p->prefixes[g].first];
		uint32_t lo = 0, hi = p->prefixes[g].n;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (memcmp(b[mid].cidr.lo, ip, 16) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0 && memcmp(b[lo - 1].cidr.hi, ip, 16) >= 0)
			return p->networks[b[lo - 1].net].name;
	}
	return NULL;
}

int policy_in_cluster(const struct policy *p, const uint8_t ip[16])
{
	return cidrset_contains(&p->cluster, ip);
}
