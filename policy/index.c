/*
 * index.c - lookups by namespace for policy_eval().  Without them every
 * evaluation would compare the local workload against every workload entry
 * and every NetworkPolicy; with them it reads the entries that name its
 * namespace (plus those that select by pattern or not by namespace at all)
 * and the NetworkPolicies of its namespace only.
 *
 * Order matters to the evaluation ("the first selecting entry in file
 * order" decides single-valued settings; the first isolating NetworkPolicy
 * is the one reported), so buckets keep ascending entry indices, the
 * iterator merges a bucket with the wildcard list in index order, and
 * NetworkPolicies are grouped by a stable sort.  Built once per load, in
 * the policy's arena; read-only afterwards.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct pair {
	const char *ns;
	uint32_t idx;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int netpol_cmp(const void *a, const void *b)
{
	const struct netpol *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	if (c)
		return c;
	return x->at.seq < y->at.seq ? -1 : x->at.seq > y->at.seq;
}

static int literal_only(const struct globset *g)
{
	if (g->n == 0)
		return 0;
	for (uint32_t i = 0; i < g->n; i++)
		if (!g->g[i].literal)
			return 0;
	return 1;
}

static int index_netpol_ns(struct policy *p)
{
	uint32_t groups = 0;

	if (!p->n_netpols)
		return 0;
	qsort(p->netpols, p->n_netpols, sizeof(*p->netpols), netpol_cmp);
	for (uint32_t i = 0; i < p->n_netpols; i++)
		groups += i == 0 || strcmp(p->netpols[i].ns, p->netpols[i - 1].ns) != 0;
	if (!(p->np_ns = arena_array(&p->arena, groups, sizeof(*p->np_ns))))
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n_netpols; i++) {
		if (i == 0 || strcmp(p->netpols[i].ns, p->netpols[i - 1].ns) != 0) {
			p->np_ns[p->n_np_ns].ns = p->netpols[i].ns;
			p->np_ns[p->n_np_ns++].first = i;
		}
		p->np_ns[p->n_np_ns - 1].n++;
	}
	return 0;
}

static int index_entry_ns(struct policy *p)
{
	size_t npairs = 0, k = 0;
	struct pair *pairs;
	uint32_t nwild = 0;
	int rc = -ENOMEM;

	for (uint32_t i = 0; i < p->n_entries; i++) {
		if (literal_only(&p->entries[i].sel.ns))
			npairs += p->entries[i].sel.ns.n;
		else
			nwild++;
	}
	if (nwild && !(p->wild = arena_array(&p->arena, nwild, sizeof(*p->wild))))
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n_entries; i++)
		if (!literal_only(&p->entries[i].sel.ns))
			p->wild[p->n_wild++] = i;
	if (!npairs)
		return 0;
	if (!(pairs = malloc(npairs * sizeof(*pairs))))
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n_entries; i++) {
		const struct globset *g = &p->entries[i].sel.ns;
		if (!literal_only(g))
			continue;
		for (uint32_t j = 0; j < g->n; j++)
			pairs[k++] = (struct pair){g->g[j].pat, i};
	}
	qsort(pairs, npairs, sizeof(*pairs), pair_cmp);
	/* One bucket per namespace; an entry listing a namespace twice is
	 * kept once. */
	uint32_t nb = 0;
	for (size_t i = 0; i < npairs; i++)
		nb += i == 0 || strcmp(pairs[i].ns, pairs[i - 1].ns) != 0;
	if (!(p->buckets = arena_array(&p->arena, nb, sizeof(*p->buckets))))
		goto out;
	for (size_t i = 0, j; i < npairs; i = j) {
		struct nsbucket *b = &p->buckets[p->n_buckets++];
		for (j = i; j < npairs && strcmp(pairs[j].ns, pairs[i].ns) == 0; j++)
			;
		b->ns = pairs[i].ns;
		if (!(b->idx = arena_array(&p->arena, j - i, sizeof(*b->idx))))
			goto out;
		for (size_t m = i; m < j; m++)
			if (!b->n || b->idx[b->n - 1] != pairs[m].idx)
				b->idx[b->n++] = pairs[m].idx;
	}
	rc = 0;
out:
	free(pairs);
	return rc;
}

int index_build(struct policy *p)
{
	int rc = index_netpol_ns(p);

	return rc ? rc : index_entry_ns(p);
}

static const void *find(const void *base, uint32_t n, size_t size,
			const char *ns)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const void *el = (const char *)base + (size_t)mid * size;
		/* both element types start with `const char *ns` */
		int c = strcmp(ns, *(const char *const *)el);
		if (c == 0)
			return el;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void entry_iter_init(const struct policy *p, const char *ns,
		     struct entry_iter *it)
{
	const struct nsbucket *b = find(p->buckets, p->n_buckets,
					sizeof(*p->buckets), ns ? ns : "");

	memset(it, 0, sizeof(*it));
	it->a = p->wild;
	it->na = p->n_wild;
	if (b) {
		it->b = b->idx;
		it->nb = b->n;
	}
}

const struct entry *entry_iter_next(const struct policy *p,
				    struct entry_iter *it)
{
	int from_a;

	if (it->ia < it->na && it->ib < it->nb)
		from_a = it->a[it->ia] < it->b[it->ib];
	else if (it->ia < it->na)
		from_a = 1;
	else if (it->ib < it->nb)
		from_a = 0;
	else
		return NULL;
	return &p->entries[from_a ? it->a[it->ia++] : it->b[it->ib++]];
}

const struct netpol *index_netpols(const struct policy *p, const char *ns,
				   uint32_t *n)
{
	const struct nsrange *r = find(p->np_ns, p->n_np_ns, sizeof(*p->np_ns), ns);

	*n = r ? r->n : 0;
	return r ? &p->netpols[r->first] : NULL;
}
