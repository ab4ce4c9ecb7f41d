/*
 * dnscache.c - the per-workload address -> name cache (see dnscache.h for
 * the contract and the reasons behind the lifetimes).
 *
 * Layout.  Workload keys are interned into a fixed table of key slots; an
 * entry belongs to one slot by index and is hashed on (slot, address), so
 * one table serves every workload and a key string is stored once, not per
 * entry.  A slot is released when its last entry goes, so a pod that
 * disappears frees its key with its entries.  Entries and key slots are
 * fixed arrays indexed from 1 (0 is the nil link, so calloc'ed memory is
 * already a valid empty state) and are handed out from a high-water mark and
 * a free list: nothing is allocated after dnscache_open, and pages are
 * touched only as the cache fills.
 *
 * Each entry sits on two LRU lists, the global one (evicted from when the
 * cache is full) and its workload's (evicted from when the workload reaches
 * its quota); both run from least to most recently used, and a put or a hit
 * moves the entry to the recent end of both.  Dead entries are not swept:
 * they are reclaimed when a lookup finds them or when eviction reaches them,
 * and counted as expired rather than evicted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "util.h"

#define NIL 0u
#define NS_PER_S 1000000000ull
#define DNSCACHE_ENTRIES_LIMIT (1u << 22)	/* ~1.3 GiB: beyond is a typo */
#define DNSCACHE_WORKLOADS_LIMIT (1u << 20)

struct entry {
	uint8_t addr[16];
	uint64_t expires_ns;		/* end of the life the TTL gave */
	uint64_t dead_ns;		/* not served from here on: the later of
					 * expires_ns and last hit + grace */
	uint32_t wl;			/* owning workload slot; NIL when free */
	uint32_t hnext;			/* bucket chain, or the free list */
	uint32_t gprev, gnext;		/* global LRU */
	uint32_t wprev, wnext;		/* the workload's LRU */
	char name[DNS_NAME_MAX];
};

struct workload {
	uint64_t hash;			/* of the key string */
	uint32_t hnext;			/* bucket chain, or the free list */
	uint32_t n;			/* entries held */
	uint32_t head, tail;		/* its LRU list, least recent first */
	char key[DNSCACHE_KEY_MAX];
};

struct dnscache {
	struct dnscache_config cfg;
	struct dnscache_stats st;
	uint8_t sipkey[16];

	struct entry *ent;		/* [1 .. max_entries] */
	uint32_t *ebucket;
	uint32_t emask;
	uint32_t ehigh;			/* slots above this were never used */
	uint32_t efree;			/* released slots */
	uint32_t ghead, gtail;		/* global LRU, least recent first */

	struct workload *wl;		/* [1 .. max_workloads] */
	uint32_t *wbucket;
	uint32_t wmask;
	uint32_t whigh;
	uint32_t wfree;
};

void dnscache_config_defaults(struct dnscache_config *cfg)
{
	cfg->max_entries = 65536;
	cfg->max_per_workload = 8192;
	cfg->max_workloads = 4096;
	cfg->ttl_floor_s = 60;
	cfg->ttl_cap_s = 86400;
	cfg->grace_s = 600;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

struct dnscache *dnscache_open(const struct dnscache_config *cfg, char *err,
			       size_t errlen)
{
	struct dnscache *c;
	uint32_t eb, wb;

	if (cfg->max_entries == 0 || cfg->max_entries > DNSCACHE_ENTRIES_LIMIT) {
		snprintf(err, errlen, "dnscache: max_entries must be 1..%u",
			 DNSCACHE_ENTRIES_LIMIT);
		return NULL;
	}
	if (cfg->max_workloads == 0 ||
	    cfg->max_workloads > DNSCACHE_WORKLOADS_LIMIT) {
		snprintf(err, errlen, "dnscache: max_workloads must be 1..%u",
			 DNSCACHE_WORKLOADS_LIMIT);
		return NULL;
	}
	if (cfg->max_per_workload == 0) {
		snprintf(err, errlen, "dnscache: max_per_workload must be >= 1");
		return NULL;
	}
	if (cfg->ttl_floor_s > cfg->ttl_cap_s) {
		snprintf(err, errlen, "dnscache: ttl floor %u s above cap %u s",
			 cfg->ttl_floor_s, cfg->ttl_cap_s);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->cfg = *cfg;
	if (c->cfg.max_per_workload > c->cfg.max_entries)
		c->cfg.max_per_workload = c->cfg.max_entries;
	eb = pow2_at_least(cfg->max_entries);
	wb = pow2_at_least(cfg->max_workloads);
	c->emask = eb - 1;
	c->wmask = wb - 1;
	c->ent = calloc((size_t)cfg->max_entries + 1, sizeof(*c->ent));
	c->ebucket = calloc(eb, sizeof(*c->ebucket));
	c->wl = calloc((size_t)cfg->max_workloads + 1, sizeof(*c->wl));
	c->wbucket = calloc(wb, sizeof(*c->wbucket));
	if (!c->ent || !c->ebucket || !c->wl || !c->wbucket)
		goto nomem;
	if (ew_random_bytes(c->sipkey, sizeof(c->sipkey)) < 0) {
		snprintf(err, errlen, "dnscache: no random bytes for the hash key");
		dnscache_close(c);
		return NULL;
	}
	return c;
nomem:
	snprintf(err, errlen, "dnscache: out of memory for %u entries",
		 cfg->max_entries);
	dnscache_close(c);
	return NULL;
}

void dnscache_close(struct dnscache *c)
{
	if (!c)
		return;
	free(c->ent);
	free(c->ebucket);
	free(c->wl);
	free(c->wbucket);
	free(c);
}

/* ---- workload key slots --------------------------------------------------- */

static uint32_t wl_find(const struct dnscache *c, const char *key, size_t klen,
			uint64_t h)
{
	for (uint32_t i = c->wbucket[h & c->wmask]; i != NIL; i = c->wl[i].hnext)
		if (c->wl[i].hash == h && strncmp(c->wl[i].key, key, klen + 1) == 0)
			return i;
	return NIL;
}

/* The slot of `key`, created if needed; NIL when every slot is taken. */
static uint32_t wl_get(struct dnscache *c, const char *key, size_t klen,
		       uint64_t h)
{
	uint32_t i = wl_find(c, key, klen, h);
	struct workload *w;

	if (i != NIL)
		return i;
	if (c->wfree != NIL) {
		i = c->wfree;
		c->wfree = c->wl[i].hnext;
	} else if (c->whigh < c->cfg.max_workloads) {
		i = ++c->whigh;
	} else {
		return NIL;
	}
	w = &c->wl[i];
	memset(w, 0, offsetof(struct workload, key));
	memcpy(w->key, key, klen + 1);
	w->hash = h;
	w->hnext = c->wbucket[h & c->wmask];
	c->wbucket[h & c->wmask] = i;
	c->st.workloads++;
	return i;
}

static void wl_release(struct dnscache *c, uint32_t i)
{
	uint32_t *pp = &c->wbucket[c->wl[i].hash & c->wmask];

	while (*pp != i)
		pp = &c->wl[*pp].hnext;
	*pp = c->wl[i].hnext;
	c->wl[i].hnext = c->wfree;
	c->wfree = i;
	c->st.workloads--;
}

/* ---- entries -------------------------------------------------------------- */

static uint32_t ent_bucket(const struct dnscache *c, uint32_t wl,
			   const uint8_t addr[16])
{
	uint8_t k[20];

	memcpy(k, &wl, 4);
	memcpy(k + 4, addr, 16);
	return (uint32_t)ew_siphash(c->sipkey, k, sizeof(k)) & c->emask;
}

static uint32_t ent_find(const struct dnscache *c, uint32_t wl,
			 const uint8_t addr[16])
{
	for (uint32_t i = c->ebucket[ent_bucket(c, wl, addr)]; i != NIL;
	     i = c->ent[i].hnext)
		if (c->ent[i].wl == wl && memcmp(c->ent[i].addr, addr, 16) == 0)
			return i;
	return NIL;
}

static void lru_append(struct dnscache *c, uint32_t i)
{
	struct entry *e = &c->ent[i];
	struct workload *w = &c->wl[e->wl];

	e->gprev = c->gtail;
	e->gnext = NIL;
	if (c->gtail != NIL)
		c->ent[c->gtail].gnext = i;
	else
		c->ghead = i;
	c->gtail = i;

	e->wprev = w->tail;
	e->wnext = NIL;
	if (w->tail != NIL)
		c->ent[w->tail].wnext = i;
	else
		w->head = i;
	w->tail = i;
}

static void lru_remove(struct dnscache *c, uint32_t i)
{
	struct entry *e = &c->ent[i];
	struct workload *w = &c->wl[e->wl];

	if (e->gprev != NIL)
		c->ent[e->gprev].gnext = e->gnext;
	else
		c->ghead = e->gnext;
	if (e->gnext != NIL)
		c->ent[e->gnext].gprev = e->gprev;
	else
		c->gtail = e->gprev;

	if (e->wprev != NIL)
		c->ent[e->wprev].wnext = e->wnext;
	else
		w->head = e->wnext;
	if (e->wnext != NIL)
		c->ent[e->wnext].wprev = e->wprev;
	else
		w->tail = e->wprev;
}

static void ent_touch(struct dnscache *c, uint32_t i)
{
	lru_remove(c, i);
	lru_append(c, i);
}

/* Remove entry `i` everywhere; its workload goes when this was its last. */
static void ent_drop(struct dnscache *c, uint32_t i)
{
	struct entry *e = &c->ent[i];
	uint32_t wl = e->wl;
	uint32_t *pp = &c->ebucket[ent_bucket(c, wl, e->addr)];

	while (*pp != i)
		pp = &c->ent[*pp].hnext;
	*pp = e->hnext;
	lru_remove(c, i);
	e->wl = NIL;
	e->hnext = c->efree;
	c->efree = i;
	c->st.entries--;
	if (--c->wl[wl].n == 0)
		wl_release(c, wl);
}

/* Make room by dropping `i`: dead entries count as expired, live ones in
 * `live_counter`. */
static void ent_evict(struct dnscache *c, uint32_t i, uint64_t now_ns,
		      uint64_t *live_counter)
{
	if (now_ns >= c->ent[i].dead_ns)
		c->st.expired++;
	else
		(*live_counter)++;
	ent_drop(c, i);
}

static int key_ok(const char *key, size_t *klen)
{
	if (!key || !key[0])
		return 0;
	*klen = strnlen(key, DNSCACHE_KEY_MAX);
	return *klen < DNSCACHE_KEY_MAX;
}

int dnscache_put(struct dnscache *c, const char *key, const uint8_t addr[16],
		 const char *name, uint32_t ttl_s, uint64_t now_ns)
{
	struct workload *w;
	struct entry *e;
	uint64_t h, expires;
	uint32_t wi, i, life;
	size_t klen, nlen;

	if (!key_ok(key, &klen) || !name || !name[0] ||
	    (nlen = strnlen(name, DNS_NAME_MAX)) == DNS_NAME_MAX) {
		c->st.refused_bad++;
		return -EINVAL;
	}
	h = ew_siphash(c->sipkey, key, klen);
	wi = wl_get(c, key, klen, h);
	if (wi == NIL) {
		c->st.refused_workloads++;
		return -ENOSPC;
	}
	w = &c->wl[wi];
	life = ttl_s < c->cfg.ttl_floor_s ? c->cfg.ttl_floor_s :
	       ttl_s > c->cfg.ttl_cap_s ? c->cfg.ttl_cap_s : ttl_s;
	expires = sat_add(now_ns, (uint64_t)life * NS_PER_S);

	i = ent_find(c, wi, addr);
	if (i != NIL) {
		e = &c->ent[i];
		if (strcmp(e->name, name) == 0) {
			c->st.refreshes++;
		} else {
			c->st.renames++;
			memcpy(e->name, name, nlen + 1);
		}
		e->expires_ns = expires;
		if (e->dead_ns < expires)
			e->dead_ns = expires;
		ent_touch(c, i);
		return 0;
	}

	/* Reserve the new entry's place in the workload first, so that the
	 * evictions below can never release the workload we insert into. */
	w->n++;
	if (w->n > c->cfg.max_per_workload)
		ent_evict(c, w->head, now_ns, &c->st.evicted_quota);
	if (c->efree == NIL && c->ehigh == c->cfg.max_entries)
		ent_evict(c, c->ghead, now_ns, &c->st.evicted);
	if (c->efree != NIL) {
		i = c->efree;
		c->efree = c->ent[i].hnext;
	} else {
		i = ++c->ehigh;
	}
	e = &c->ent[i];
	memcpy(e->addr, addr, 16);
	memcpy(e->name, name, nlen + 1);
	e->expires_ns = expires;
	e->dead_ns = expires;
	e->wl = wi;
	{
		uint32_t b = ent_bucket(c, wi, addr);

		e->hnext = c->ebucket[b];
		c->ebucket[b] = i;
	}
	lru_append(c, i);
	c->st.entries++;
	c->st.inserts++;
	return 0;
}

int dnscache_add_event(struct dnscache *c, const char *key,
		       const struct dns_event *ev, uint64_t now_ns)
{
	size_t n = ev->n_addrs < DNS_EVENT_MAX_ADDRS ? ev->n_addrs :
		   DNS_EVENT_MAX_ADDRS;
	int stored = 0;

	for (size_t k = 0; k < n; k++)
		if (dnscache_put(c, key, ev->addr[k], ev->qname, ev->ttl[k],
				 now_ns) == 0)
			stored++;
	return stored;
}

int dnscache_lookup(struct dnscache *c, const char *key, const uint8_t addr[16],
		    uint64_t now_ns, char name[DNS_NAME_MAX])
{
	struct entry *e;
	uint32_t wi, i;
	size_t klen;

	name[0] = '\0';
	c->st.lookups++;
	if (!key_ok(key, &klen))
		goto miss;
	wi = wl_find(c, key, klen, ew_siphash(c->sipkey, key, klen));
	if (wi == NIL)
		goto miss;
	i = ent_find(c, wi, addr);
	if (i == NIL)
		goto miss;
	e = &c->ent[i];
	if (now_ns >= e->dead_ns) {
		c->st.expired++;
		ent_drop(c, i);
		goto miss;
	}
	if (now_ns >= e->expires_ns)
		c->st.hits_after_ttl++;
	c->st.hits++;
	if (e->dead_ns < sat_add(now_ns, (uint64_t)c->cfg.grace_s * NS_PER_S))
		e->dead_ns = sat_add(now_ns, (uint64_t)c->cfg.grace_s * NS_PER_S);
	ent_touch(c, i);
	memcpy(name, e->name, strlen(e->name) + 1);
	return 0;
miss:
	c->st.misses++;
	return -ENOENT;
}

size_t dnscache_forget(struct dnscache *c, const char *key)
{
	uint32_t wi, i, next;
	size_t klen, n = 0;

	if (!key_ok(key, &klen))
		return 0;
	wi = wl_find(c, key, klen, ew_siphash(c->sipkey, key, klen));
	if (wi == NIL)
		return 0;
	/* The last drop releases the slot; `next` is NIL by then. */
	for (i = c->wl[wi].head; i != NIL; i = next) {
		next = c->ent[i].wnext;
		ent_drop(c, i);
		n++;
	}
	c->st.forgotten += n;
	return n;
}

void dnscache_get_stats(const struct dnscache *c, struct dnscache_stats *out)
{
	*out = c->st;
}
