/*
 * flowmemo.c - the pipeline's memo of each open flow's attribution; see
 * flowmemo.h.
 *
 * Linear probing over a power-of-two table of entries, deletion by backward
 * shift (no tombstones, so probes stay short however many flows come and
 * go).  Flow ids are handed out in sequence by capture, not chosen by
 * traffic, so a multiplicative (Fibonacci) hash spreads them well.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowmemo.h"

#define INITIAL_SLOTS 1024u

struct flowmemo {
	struct flowmemo_entry *slot;
	uint32_t cap;			/* power of two */
	uint32_t shift;			/* 64 - log2(cap) */
	uint64_t n;
	uint64_t epoch;			/* of the newest packet time seen */
	struct flowmemo_stats st;
	struct flowmemo_owner *owner;	/* FLOWMEMO_OWNER_SLOTS, by name hash */
	struct attrib_workload scratch;	/* for the owner's addresses */
};

static inline uint32_t home(const struct flowmemo *m, uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> m->shift);
}

static uint32_t log2u(uint32_t v)
{
	uint32_t l = 0;

	while ((1u << l) < v)
		l++;
	return l;
}

/* Put `e` (not present) into a table with room. */
static void place(struct flowmemo_entry *slot, uint32_t cap, uint32_t shift,
		  const struct flowmemo_entry *e)
{
	uint32_t i = (uint32_t)((e->flow_id * 0x9e3779b97f4a7c15ull) >> shift);

	while (slot[i].flow_id)
		i = (i + 1) & (cap - 1);
	slot[i] = *e;
}

/* Move every entry to a table of `cap` slots; with `expire`, minus those no
 * event touched in this epoch or the one before.  -ENOMEM leaves the memo
 * as it was. */
static int rebuild(struct flowmemo *m, uint32_t cap, int expire)
{
	struct flowmemo_entry *ns = calloc(cap, sizeof(*ns));
	uint32_t shift = 64 - log2u(cap);
	uint64_t n = 0;

	if (!ns)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++) {
		const struct flowmemo_entry *e = &m->slot[i];

		if (!e->flow_id)
			continue;
		if (expire && (uint64_t)e->epoch + 1 < m->epoch) {
			m->st.expired++;
			continue;
		}
		place(ns, cap, shift, e);
		n++;
	}
	free(m->slot);
	m->slot = ns;
	m->cap = cap;
	m->shift = shift;
	m->n = n;
	return 0;
}

struct flowmemo *flowmemo_open(void)
{
	struct flowmemo *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->slot = calloc(INITIAL_SLOTS, sizeof(*m->slot));
	m->owner = calloc(FLOWMEMO_OWNER_SLOTS, sizeof(*m->owner));
	if (!m->slot || !m->owner) {
		free(m->slot);
		free(m->owner);
		free(m);
		return NULL;
	}
	m->cap = INITIAL_SLOTS;
	m->shift = 64 - log2u(INITIAL_SLOTS);
	return m;
}

void flowmemo_close(struct flowmemo *m)
{
	if (!m)
		return;
	free(m->slot);
	free(m->owner);
	free(m);
}

static struct flowmemo_entry *find(struct flowmemo *m, uint64_t id)
{
	uint32_t i = home(m, id);

	for (; m->slot[i].flow_id; i = (i + 1) & (m->cap - 1))
		if (m->slot[i].flow_id == id)
			return &m->slot[i];
	return NULL;
}

struct flowmemo_entry *flowmemo_get(struct flowmemo *m, uint64_t id,
				    uint64_t ts_ns, int *fresh)
{
	struct flowmemo_entry *e, ne;
	uint64_t epoch = ts_ns / FLOWMEMO_EPOCH_NS;

	*fresh = 0;
	if (!id)
		return NULL;
	/* A new epoch: forget entries no event touched in the last two. */
	if (epoch > m->epoch) {
		m->epoch = epoch;
		if (m->n)
			(void)rebuild(m, m->cap, 1);
	}
	if ((e = find(m, id))) {
		e->epoch = (uint32_t)m->epoch;
		return e;
	}
	if ((m->n + 1) * 2 > m->cap) {
		if (m->cap >= FLOWMEMO_MAX_SLOTS || rebuild(m, m->cap * 2, 0)) {
			/* Full, or no memory to grow: three quarters is
			 * still fine for linear probing. */
			if ((m->n + 1) * 4 > (uint64_t)m->cap * 3) {
				m->st.full++;
				return NULL;
			}
		}
	}
	memset(&ne, 0, sizeof(ne));
	ne.flow_id = id;
	ne.epoch = (uint32_t)m->epoch;
	place(m->slot, m->cap, m->shift, &ne);
	m->n++;
	m->st.inserted++;
	*fresh = 1;
	return find(m, id);
}

void flowmemo_del(struct flowmemo *m, uint64_t id)
{
	struct flowmemo_entry *e = id ? find(m, id) : NULL;
	uint32_t i, j, mask = m->cap - 1;

	if (!e)
		return;
	/* Backward shift: pull each following entry of the run into the hole
	 * when its home does not lie (cyclically) between the hole and it. */
	i = (uint32_t)(e - m->slot);
	for (j = (i + 1) & mask; m->slot[j].flow_id; j = (j + 1) & mask) {
		uint32_t h = home(m, m->slot[j].flow_id);

		if (((j - h) & mask) >= ((j - i) & mask)) {
			m->slot[i] = m->slot[j];
			i = j;
		}
	}
	memset(&m->slot[i], 0, sizeof(m->slot[i]));
	m->n--;
	m->st.deleted++;
}

void flowmemo_get_stats(const struct flowmemo *m, struct flowmemo_stats *out)
{
	*out = m->st;
	out->entries = m->n;
	out->slots = m->cap;
}

/* ---- interface owners ------------------------------------------------------ */

static struct flowmemo_owner *owner_slot(struct flowmemo *m, const char *ifname)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (const char *c = ifname; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ull;
	return &m->owner[h % FLOWMEMO_OWNER_SLOTS];
}

void flowmemo_owner_seen(struct flowmemo *m, struct attrib *a,
			 const char *ifname, const struct attrib_ref *ref)
{
	struct flowmemo_owner *o = owner_slot(m, ifname);

	if (strcmp(o->ifname, ifname) == 0 && o->ref.id == ref->id &&
	    o->ref.version == ref->version) {
		o->missing_ns = 0;
		return;
	}
	/* New here, another owner, or the owner changed: (re)fill. */
	memset(o, 0, sizeof(*o));
	snprintf(o->ifname, sizeof(o->ifname), "%s", ifname);
	o->ref = *ref;
	if (attrib_get(a, ref->id, &m->scratch) == 0) {
		o->n_ips = m->scratch.n_ips;
		for (unsigned i = 0; i < o->n_ips; i++)
			memcpy(o->ips[i], m->scratch.ips[i].addr, 16);
	}
}

const struct flowmemo_owner *flowmemo_owner_gone(struct flowmemo *m,
						 const char *ifname,
						 uint64_t ts_ns)
{
	struct flowmemo_owner *o = owner_slot(m, ifname);

	if (!o->ifname[0] || strcmp(o->ifname, ifname) != 0)
		return NULL;
	if (!o->missing_ns)
		o->missing_ns = ts_ns ? ts_ns : 1;
	if (ts_ns > o->missing_ns &&
	    ts_ns - o->missing_ns > FLOWMEMO_OWNER_LINGER_NS) {
		memset(o, 0, sizeof(*o));
		return NULL;
	}
	m->st.owners_used++;
	return o;
}

int flowmemo_owner_has_ip(const struct flowmemo_owner *o, const uint8_t ip[16])
{
	for (unsigned i = 0; i < o->n_ips; i++)
		if (memcmp(o->ips[i], ip, 16) == 0)
			return 1;
	return 0;
}
