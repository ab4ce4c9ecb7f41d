/*
 * attrib.c - the workload registry: statements from every metadata source
 * merged into one record per workload, and the indexes lookups use (the
 * contract is in capture.h, "attribution").
 *
 * Records.  A record holds what each source said about the workload
 * (`said[]`: names, runtime, QoS, netns, labels) and the claims on its keys
 * (container ids, interfaces, addresses, each with the set of sources that
 * claim it).  After every change the public view (`w`) is resolved from
 * them: names by source rank, claims as the union.  A record dies when no
 * source that can assert workloads (scan, inventory, kube, runtime) still
 * does; learned addresses and pod-log names alone do not keep it.
 *
 * Indexes.  One chained hash table (SipHash with a random key) holds every
 * key of every kind: id, interface name, ifindex, address, pod uid,
 * container id, "namespace/name", plus the pod-log name table and the
 * namespaces.  Several records may claim one key (an address reused by a new
 * pod while the old one is still listed, an interface an old inventory still
 * names); the node points at the claimant with the highest priority, which
 * is what a lookup returns:
 *
 *   address    asserted beats learned, then the newest generation
 *   interface  source rank (scan > kube > runtime > inventory), then newest
 *   others     the newest record
 *
 * A claim that appears or rises is compared with the holder in O(1).  Each
 * key counts its claimants, so a key nobody else claims simply goes with its
 * holder; only a holder that loses a key others claim too makes us look for
 * the next best among all records, O(records): an address handed back when
 * the newer of two pods goes, never per lookup.
 *
 * Locking: see capture.h.  Writers allocate (records, nodes) under the write
 * lock; readers never allocate.  Read-path counters are relaxed atomics.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "attrib.h"
#include "util.h"

#define ASSERTING ((1u << ATTRIB_SRC_SCAN) | (1u << ATTRIB_SRC_INVENTORY) | \
		   (1u << ATTRIB_SRC_KUBE) | (1u << ATTRIB_SRC_RUNTIME))
#define LEARNED_BIT (1u << ATTRIB_SRC_LEARNED)
#define MAX_WORKLOADS_LIMIT (1u << 20)

enum key_kind {
	K_ID = 1,	/* uint64 id -> record */
	K_IFNAME,	/* interface name -> record */
	K_IFINDEX,	/* int32 ifindex -> record */
	K_IP,		/* 16-byte address -> record */
	K_UID,		/* pod uid -> record */
	K_CID,		/* container id -> record */
	K_NAME,		/* "namespace/name" -> record */
	K_PODLOG,	/* pod uid -> index in podlogs[] */
	K_NS,		/* namespace -> index in nss[] */
};

struct hnode {
	struct hnode *next;
	uint64_t hash;
	uint32_t val;			/* slot or index, by kind */
	uint32_t claimants;		/* claims on the key, by all records */
	uint16_t len;
	uint8_t kind;
	char key[];
};

/* What one source said about a workload. */
struct said {
	char namespace[ATTRIB_NS_MAX];
	char name[ATTRIB_NAME_MAX];	/* "" when the source does not name it */
	char kind[ATTRIB_KIND_MAX];
	char runtime[ATTRIB_RUNTIME_MAX];
	char qos[ATTRIB_QOS_MAX];
	char netns[ATTRIB_NETNS_MAX];
	struct attrib_labels *labels;	/* NULL: none */
};

struct rec {
	struct attrib_workload w;	/* the resolved view */
	uint32_t slot;
	int dying;			/* claims no longer count */
	int dirty;			/* w changed: bump its version */
	uint32_t cid_src[ATTRIB_MAX_CONTAINERS];
	uint32_t if_src[ATTRIB_MAX_IFACES];
	uint64_t if_gen[ATTRIB_MAX_IFACES];
	uint32_t n_learned;		/* addresses with the learned bit */
	uint64_t seen[ATTRIB_SRC__COUNT]; /* sync epoch of each source's last word */
	struct said said[ATTRIB_SRC__COUNT];
	char ref[ATTRIB_REF_MAX];	/* the name it is indexed under */
};

struct nsrec {
	char name[ATTRIB_NS_MAX];
	uint64_t seen[ATTRIB_SRC__COUNT];
	struct attrib_labels *labels[ATTRIB_SRC__COUNT];
};

struct attrib {
	pthread_rwlock_t lock;
	pthread_mutex_t scan_mu;	/* one rescan at a time */
	struct attrib_config cfg;	/* paths point at the copies below */
	char *proc_root, *cgroup_root, *podlog_root, *netns_root;
	uint8_t sipkey[16];

	struct hnode **bucket;
	uint64_t mask;

	struct rec **slots;		/* [max_workloads] */
	uint32_t high;			/* slots below this were used */
	uint32_t *free_slots;
	uint32_t n_free;
	uint32_t live;

	uint64_t next_id, next_gen;
	uint64_t epoch[ATTRIB_SRC__COUNT];

	struct attrib_podlog *podlogs;	/* the last scan's table */
	size_t n_podlogs;

	struct nsrec **nss;
	size_t n_nss;

	struct attrib_scanner *scanner;	/* under scan_mu */
	int said_scan, said_podlogs, said_addrs, said_denied; /* logged */
	uint32_t said_source;		/* sources whose use was logged */

	_Atomic uint64_t version;
	struct attrib_stats st;		/* writer fields, under the write lock */
	_Atomic uint64_t lookups, lookup_misses, learn_known, learn_ignored,
		learn_no_workload;
};

/* ---- small helpers --------------------------------------------------------- */

static const char *const source_names[] = {
	[ATTRIB_SRC_SCAN] = "scan",
	[ATTRIB_SRC_PODLOGS] = "podlogs",
	[ATTRIB_SRC_INVENTORY] = "inventory",
	[ATTRIB_SRC_KUBE] = "kube",
	[ATTRIB_SRC_RUNTIME] = "runtime",
	[ATTRIB_SRC_LEARNED] = "learned",
};

const char *attrib_source_name(enum attrib_source src)
{
	return (unsigned)src < ATTRIB_SRC__COUNT ? source_names[src] : "?";
}

static void scopy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Same content?  (Both were built by attrib_labels_add.) */
static int labels_equal(const struct attrib_labels *a,
			const struct attrib_labels *b)
{
	return a->n == b->n && a->truncated == b->truncated &&
	       a->used == b->used && memcmp(a->at, b->at, a->n * sizeof(a->at[0])) == 0 &&
	       memcmp(a->text, b->text, a->used) == 0;
}

static void labels_clear(struct attrib_labels *l)
{
	l->n = 0;
	l->truncated = 0;
	l->used = 0;
	l->text[0] = '\0';
}

static void labels_copy(struct attrib_labels *dst, const struct attrib_labels *src)
{
	dst->n = src->n;
	dst->truncated = src->truncated;
	dst->used = src->used;
	memcpy(dst->at, src->at, src->n * sizeof(src->at[0]));
	memcpy(dst->text, src->text, src->used);
	if (src->used < sizeof(dst->text))
		dst->text[src->used] = '\0';
}

void attrib_config_defaults(struct attrib_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->proc_root = "/proc";
	cfg->cgroup_root = "/sys/fs/cgroup";
	cfg->podlog_root = "/var/log/pods";
	cfg->netns_root = "/run/netns";
	cfg->max_workloads = 16384;
	cfg->max_learned_ips = 4;
	cfg->max_procs = 65536;
	cfg->max_procs_per_netns = 64;
	cfg->max_podlogs = 65536;
	cfg->max_namespaces = 4096;
}

/* ---- the hash table --------------------------------------------------------- */

static uint64_t khash(const struct attrib *a, int kind, const void *key,
		      size_t len)
{
	return ew_siphash(a->sipkey, key, len) + (uint64_t)kind * 0x9e3779b97f4a7c15ull;
}

static struct hnode **hslot(const struct attrib *a, int kind, const void *key,
			    size_t len)
{
	uint64_t h = khash(a, kind, key, len);
	struct hnode **pp = &a->bucket[h & a->mask];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->kind == kind && (*pp)->len == len &&
		    memcmp((*pp)->key, key, len) == 0)
			break;
	return pp;
}

static struct hnode *hfind(const struct attrib *a, int kind, const void *key,
			   size_t len)
{
	return *hslot(a, kind, key, len);
}

static int hput(struct attrib *a, int kind, const void *key, size_t len,
		uint32_t val)
{
	struct hnode **pp = hslot(a, kind, key, len), *n;

	if (*pp) {
		(*pp)->val = val;
		return 0;
	}
	n = malloc(sizeof(*n) + len);
	if (!n)
		return -ENOMEM;
	n->hash = khash(a, kind, key, len);
	n->kind = (uint8_t)kind;
	n->len = (uint16_t)len;
	n->val = val;
	n->claimants = 0;
	memcpy(n->key, key, len);
	n->next = a->bucket[n->hash & a->mask];
	a->bucket[n->hash & a->mask] = n;
	return 0;
}

static void hdel(struct attrib *a, int kind, const void *key, size_t len)
{
	struct hnode **pp = hslot(a, kind, key, len), *n = *pp;

	if (n) {
		*pp = n->next;
		free(n);
	}
}

/* ---- claims ------------------------------------------------------------------- */

static int ip_find(const struct rec *r, const uint8_t ip[16])
{
	for (int i = 0; i < r->w.n_ips; i++)
		if (memcmp(r->w.ips[i].addr, ip, 16) == 0)
			return i;
	return -1;
}

static int if_find(const struct rec *r, const char *name)
{
	for (int i = 0; i < r->w.n_ifaces; i++)
		if (strcmp(r->w.ifaces[i].name, name) == 0)
			return i;
	return -1;
}

static int cid_find(const struct rec *r, const char *id)
{
	for (int i = 0; i < r->w.n_containers; i++)
		if (strcmp(r->w.containers[i], id) == 0)
			return i;
	return -1;
}

static unsigned if_tier(uint32_t src)
{
	if (src & (1u << ATTRIB_SRC_SCAN))
		return 4;
	if (src & (1u << ATTRIB_SRC_KUBE))
		return 3;
	if (src & (1u << ATTRIB_SRC_RUNTIME))
		return 2;
	return src ? 1 : 0;
}

/* How strongly `r` claims the key: 0 when it does not. */
static uint64_t claim_prio(const struct rec *r, int kind, const void *key,
			   size_t len)
{
	int i;

	if (!r || r->dying)
		return 0;
	switch (kind) {
	case K_IP:
		if ((i = ip_find(r, key)) < 0)
			return 0;
		return ((r->w.ips[i].sources & ~LEARNED_BIT) ? 1ull << 62 : 0) |
		       r->w.ips[i].gen;
	case K_IFNAME:
		for (i = 0; i < r->w.n_ifaces; i++)
			if (strlen(r->w.ifaces[i].name) == len &&
			    memcmp(r->w.ifaces[i].name, key, len) == 0)
				return (uint64_t)if_tier(r->if_src[i]) << 56 |
				       r->if_gen[i];
		return 0;
	case K_IFINDEX: {
		int32_t idx;

		memcpy(&idx, key, sizeof(idx));
		for (i = 0; i < r->w.n_ifaces; i++)
			if (r->w.ifaces[i].ifindex == idx)
				return (uint64_t)if_tier(r->if_src[i]) << 56 |
				       r->if_gen[i];
		return 0;
	}
	case K_UID:
		return strlen(r->w.pod_uid) == len &&
		       memcmp(r->w.pod_uid, key, len) == 0 ? r->w.id : 0;
	case K_CID:
		for (i = 0; i < r->w.n_containers; i++)
			if (memcmp(r->w.containers[i], key, len) == 0 &&
			    strlen(r->w.containers[i]) == len)
				return r->w.id;
		return 0;
	case K_NAME:
		return strlen(r->ref) == len && memcmp(r->ref, key, len) == 0 ?
			       r->w.id : 0;
	default:
		return 0;
	}
}

/* The best claimant of a key, by a walk over every record: only needed
 * when the holder's claim goes or weakens while others claim it too. */
static void key_recompute(struct attrib *a, struct hnode *n, int kind,
			  const void *key, size_t len)
{
	uint64_t best = 0;
	uint32_t who = 0;

	for (uint32_t s = 0; s < a->high; s++) {
		uint64_t p = claim_prio(a->slots[s], kind, key, len);

		if (p > best) {
			best = p;
			who = s;
		}
	}
	if (best)
		n->val = who;
	else
		hdel(a, kind, key, len);
}

/* `r`'s claim on the key rose: it takes the key if it now beats the
 * holder. */
static void key_raise(struct attrib *a, struct rec *r, int kind,
		      const void *key, size_t len)
{
	struct hnode *n = hfind(a, kind, key, len);

	if (!n || n->val == r->slot)
		return;
	if (claim_prio(r, kind, key, len) >
	    claim_prio(a->slots[n->val], kind, key, len)) {
		if (kind == K_IP)
			a->st.ip_moves++;
		n->val = r->slot;
	}
}

/* `r` starts claiming the key (call after adding it to the record). */
static int key_add(struct attrib *a, struct rec *r, int kind, const void *key,
		   size_t len)
{
	struct hnode *n = hfind(a, kind, key, len);
	int rc;

	if (!n) {
		if ((rc = hput(a, kind, key, len, r->slot)) < 0)
			return rc;
		n = hfind(a, kind, key, len);
	}
	n->claimants++;
	key_raise(a, r, kind, key, len);
	return 0;
}

/* `r`'s claim weakened (still there): if it held the key and others claim
 * it too, the best of them may take it. */
static void key_lower(struct attrib *a, struct rec *r, int kind,
		      const void *key, size_t len)
{
	struct hnode *n = hfind(a, kind, key, len);

	if (n && n->val == r->slot && n->claimants > 1)
		key_recompute(a, n, kind, key, len);
}

/* `r` stops claiming the key (call after removing it from the record, or
 * with the record dying): the last claim takes the key along. */
static void key_drop(struct attrib *a, struct rec *r, int kind,
		     const void *key, size_t len)
{
	struct hnode *n = hfind(a, kind, key, len);

	if (!n)
		return;
	if (n->claimants <= 1) {
		hdel(a, kind, key, len);
		return;
	}
	n->claimants--;
	if (n->val == r->slot)
		key_recompute(a, n, kind, key, len);
}

/* Publish a record's changes: its version and the registry's move only
 * when something a reader can see changed, so that attrib_version() stays
 * put across rescans of a quiet host. */
static void bump(struct attrib *a, struct rec *r)
{
	if (!r->dirty)
		return;
	r->w.version++;
	r->dirty = 0;
	atomic_fetch_add(&a->version, 1);
}

/* ---- records ------------------------------------------------------------------ */

static struct rec *rec_new(struct attrib *a)
{
	struct rec *r;
	uint32_t slot;

	if (a->n_free)
		slot = a->free_slots[--a->n_free];
	else if (a->high < a->cfg.max_workloads)
		slot = a->high++;
	else
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		a->free_slots[a->n_free++] = slot;
		return NULL;
	}
	r->slot = slot;
	r->w.id = ++a->next_id;
	r->w.version = 1;
	if (hput(a, K_ID, &r->w.id, sizeof(r->w.id), slot) < 0) {
		free(r);
		a->free_slots[a->n_free++] = slot;
		return NULL;
	}
	a->slots[slot] = r;
	a->live++;
	a->st.created++;
	return r;
}

static void rec_delete(struct attrib *a, struct rec *r)
{
	r->dying = 1;
	for (int i = 0; i < r->w.n_ips; i++)
		key_drop(a, r, K_IP, r->w.ips[i].addr, 16);
	for (int i = 0; i < r->w.n_ifaces; i++) {
		key_drop(a, r, K_IFNAME, r->w.ifaces[i].name,
			 strlen(r->w.ifaces[i].name));
		if (r->w.ifaces[i].ifindex)
			key_drop(a, r, K_IFINDEX, &r->w.ifaces[i].ifindex,
				 sizeof(int32_t));
	}
	for (int i = 0; i < r->w.n_containers; i++)
		key_drop(a, r, K_CID, r->w.containers[i], ATTRIB_CID_LEN);
	if (r->w.pod_uid[0])
		key_drop(a, r, K_UID, r->w.pod_uid, strlen(r->w.pod_uid));
	if (r->ref[0])
		key_drop(a, r, K_NAME, r->ref, strlen(r->ref));
	hdel(a, K_ID, &r->w.id, sizeof(r->w.id));
	for (int s = 0; s < ATTRIB_SRC__COUNT; s++)
		free(r->said[s].labels);
	a->slots[r->slot] = NULL;
	a->free_slots[a->n_free++] = r->slot;
	a->live--;
	a->st.removed++;
	free(r);
	atomic_fetch_add(&a->version, 1);
}

/* Claim helpers: each marks the record dirty when it changes it. */

static int claim_cid(struct attrib *a, struct rec *r, uint32_t bit,
		     const char *id)
{
	int i = cid_find(r, id);

	if (i >= 0) {
		r->cid_src[i] |= bit;
		return 0;
	}
	if (r->w.n_containers >= ATTRIB_MAX_CONTAINERS) {
		a->st.dropped_containers++;
		return 0;
	}
	i = r->w.n_containers++;
	memcpy(r->w.containers[i], id, ATTRIB_CID_LEN + 1);
	r->cid_src[i] = bit;
	r->dirty = 1;
	return key_add(a, r, K_CID, id, ATTRIB_CID_LEN);
}

static void unclaim_cid_at(struct attrib *a, struct rec *r, int i)
{
	char id[ATTRIB_CID_LEN + 1];
	int last = r->w.n_containers - 1;

	memcpy(id, r->w.containers[i], sizeof(id));
	if (i != last) {
		memcpy(r->w.containers[i], r->w.containers[last], sizeof(id));
		r->cid_src[i] = r->cid_src[last];
	}
	r->w.n_containers--;
	r->dirty = 1;
	key_drop(a, r, K_CID, id, ATTRIB_CID_LEN);
}

static int claim_ip(struct attrib *a, struct rec *r, uint32_t bit,
		    const uint8_t ip[16], uint64_t ts)
{
	int i = ip_find(r, ip);

	if (i >= 0) {
		int was_asserted = (r->w.ips[i].sources & ~LEARNED_BIT) != 0;

		if (r->w.ips[i].sources & bit)
			return 0;
		r->w.ips[i].sources |= bit;
		r->dirty = 1;
		if (bit == LEARNED_BIT)
			r->n_learned++;
		if (!was_asserted && bit != LEARNED_BIT)
			key_raise(a, r, K_IP, ip, 16);
		return 0;
	}
	if (r->w.n_ips >= ATTRIB_MAX_IPS) {
		a->st.dropped_ips++;
		return -ENOSPC;
	}
	i = r->w.n_ips++;
	memcpy(r->w.ips[i].addr, ip, 16);
	r->w.ips[i].sources = bit;
	r->w.ips[i].gen = ++a->next_gen;
	r->w.ips[i].since_ns = ts;
	if (bit == LEARNED_BIT)
		r->n_learned++;
	r->dirty = 1;
	return key_add(a, r, K_IP, ip, 16);
}

/* Take `bit` off address i; the address goes when nobody claims it. */
static void unclaim_ip_at(struct attrib *a, struct rec *r, int i, uint32_t bit)
{
	uint8_t ip[16];
	int last = r->w.n_ips - 1;

	if (!(r->w.ips[i].sources & bit))
		return;
	memcpy(ip, r->w.ips[i].addr, 16);
	r->w.ips[i].sources &= ~bit;
	if (bit == LEARNED_BIT)
		r->n_learned--;
	r->dirty = 1;
	if (!r->w.ips[i].sources) {
		if (i != last)
			r->w.ips[i] = r->w.ips[last];
		r->w.n_ips--;
		key_drop(a, r, K_IP, ip, 16);
	} else {
		key_lower(a, r, K_IP, ip, 16);
	}
}

static int claim_iface(struct attrib *a, struct rec *r, uint32_t bit,
		       const struct attrib_iface *ifc)
{
	int i = if_find(r, ifc->name), rc = 0;
	struct attrib_iface *mine;

	if (i < 0) {
		if (r->w.n_ifaces >= ATTRIB_MAX_IFACES) {
			a->st.dropped_ifaces++;
			return 0;
		}
		i = r->w.n_ifaces++;
		mine = &r->w.ifaces[i];
		*mine = *ifc;
		r->if_src[i] = bit;
		r->if_gen[i] = ++a->next_gen;
		r->dirty = 1;
		rc = key_add(a, r, K_IFNAME, mine->name, strlen(mine->name));
		if (rc == 0 && mine->ifindex)
			rc = key_add(a, r, K_IFINDEX, &mine->ifindex,
				     sizeof(mine->ifindex));
		return rc;
	}
	mine = &r->w.ifaces[i];
	if (ifc->ifindex && ifc->ifindex != mine->ifindex) {
		int32_t old = mine->ifindex;

		/* Same name, new link (deleted and re-created): the old
		 * index goes, the new one is claimed. */
		mine->ifindex = ifc->ifindex;
		r->if_gen[i] = ++a->next_gen;
		r->dirty = 1;
		if (old)
			key_drop(a, r, K_IFINDEX, &old, sizeof(old));
		rc = key_add(a, r, K_IFINDEX, &mine->ifindex,
			     sizeof(mine->ifindex));
		key_raise(a, r, K_IFNAME, mine->name, strlen(mine->name));
	}
	if (!(r->if_src[i] & bit)) {
		/* Another source names it: its rank may have risen. */
		r->if_src[i] |= bit;
		key_raise(a, r, K_IFNAME, mine->name, strlen(mine->name));
		if (mine->ifindex)
			key_raise(a, r, K_IFINDEX, &mine->ifindex,
				  sizeof(mine->ifindex));
	}
	return rc;
}

/* Take `bit` off interface i; the interface goes when nobody claims it. */
static void unclaim_iface_at(struct attrib *a, struct rec *r, int i,
			     uint32_t bit)
{
	struct attrib_iface ifc = r->w.ifaces[i];
	int last = r->w.n_ifaces - 1;

	if (!(r->if_src[i] & bit))
		return;
	r->if_src[i] &= ~bit;
	r->dirty = 1;
	if (r->if_src[i]) {
		key_lower(a, r, K_IFNAME, ifc.name, strlen(ifc.name));
		if (ifc.ifindex)
			key_lower(a, r, K_IFINDEX, &ifc.ifindex,
				  sizeof(ifc.ifindex));
		return;
	}
	if (i != last) {
		r->w.ifaces[i] = r->w.ifaces[last];
		r->if_src[i] = r->if_src[last];
		r->if_gen[i] = r->if_gen[last];
	}
	r->w.n_ifaces--;
	key_drop(a, r, K_IFNAME, ifc.name, strlen(ifc.name));
	if (ifc.ifindex)
		key_drop(a, r, K_IFINDEX, &ifc.ifindex, sizeof(ifc.ifindex));
}

/* ---- resolving the view ------------------------------------------------------- */

static const struct attrib_podlog *podlog_for(const struct attrib *a,
					      const char *uid)
{
	struct hnode *n;

	if (!uid[0])
		return NULL;
	n = hfind(a, K_PODLOG, uid, strlen(uid));
	return n ? &a->podlogs[n->val] : NULL;
}

/* Name and label sources, best first. */
static const enum attrib_source name_order[] = {
	ATTRIB_SRC_KUBE, ATTRIB_SRC_RUNTIME, ATTRIB_SRC_INVENTORY,
};
/* Runtime, QoS and netns: what the kernel shows first. */
static const enum attrib_source fact_order[] = {
	ATTRIB_SRC_SCAN, ATTRIB_SRC_KUBE, ATTRIB_SRC_RUNTIME, ATTRIB_SRC_INVENTORY,
};

static void set_str(struct rec *r, char *dst, size_t cap, const char *src)
{
	if (strncmp(dst, src, cap) != 0) {
		scopy(dst, cap, src);
		r->dirty = 1;
	}
}

static void set_fact(struct rec *r, char *dst, size_t cap, size_t off)
{
	const char *v = "";

	for (size_t i = 0; i < EW_ARRAY_LEN(fact_order); i++) {
		const char *s = (const char *)&r->said[fact_order[i]] + off;

		if (*s) {
			v = s;
			break;
		}
	}
	set_str(r, dst, cap, v);
}

/* Recompute names, facts, labels and flags from what the sources said, and
 * move the name key when the name changed. */
static int resolve(struct attrib *a, struct rec *r)
{
	const struct said *best = NULL;
	const struct attrib_labels *labels = NULL;
	const struct attrib_podlog *pl;
	char ns[ATTRIB_NS_MAX], name[ATTRIB_NAME_MAX], kind[ATTRIB_KIND_MAX];
	char ref[ATTRIB_REF_MAX];
	uint32_t flags = 0, sources = r->w.sources & ASSERTING;

	for (size_t i = 0; i < EW_ARRAY_LEN(name_order); i++) {
		const struct said *s = &r->said[name_order[i]];

		if (!best && s->name[0])
			best = s;
		if (!labels && s->labels)
			labels = s->labels;
	}
	set_fact(r, r->w.runtime, sizeof(r->w.runtime), offsetof(struct said, runtime));
	set_fact(r, r->w.qos, sizeof(r->w.qos), offsetof(struct said, qos));
	set_fact(r, r->w.netns, sizeof(r->w.netns), offsetof(struct said, netns));

	if (best) {
		scopy(ns, sizeof(ns), best->namespace);
		scopy(name, sizeof(name), best->name);
		scopy(kind, sizeof(kind), best->kind);
	} else if ((pl = podlog_for(a, r->w.pod_uid))) {
		scopy(ns, sizeof(ns), pl->namespace);
		scopy(name, sizeof(name), pl->name);
		scopy(kind, sizeof(kind), "Pod");
		sources |= 1u << ATTRIB_SRC_PODLOGS;
	} else {
		ns[0] = '\0';
		flags |= ATTRIB_F_UNNAMED;
		if (r->w.pod_uid[0]) {
			snprintf(name, sizeof(name), "pod-%s", r->w.pod_uid);
			scopy(kind, sizeof(kind), "Pod");
		} else if (r->w.n_containers) {
			snprintf(name, sizeof(name), "%s-%.12s",
				 r->w.runtime[0] ? r->w.runtime : "container",
				 r->w.containers[0]);
			scopy(kind, sizeof(kind), "Container");
		} else {
			snprintf(name, sizeof(name), "iface-%s",
				 r->w.n_ifaces ? r->w.ifaces[0].name : "none");
			scopy(kind, sizeof(kind), "Unknown");
		}
	}
	if (!kind[0])
		scopy(kind, sizeof(kind), r->w.pod_uid[0] ? "Pod" : "Container");
	set_str(r, r->w.namespace, sizeof(r->w.namespace), ns);
	set_str(r, r->w.name, sizeof(r->w.name), name);
	set_str(r, r->w.kind, sizeof(r->w.kind), kind);

	if (labels && !labels_equal(labels, &r->w.labels)) {
		labels_copy(&r->w.labels, labels);
		r->dirty = 1;
	} else if (!labels && r->w.labels.n) {
		labels_clear(&r->w.labels);
		r->dirty = 1;
	}
	if (r->w.labels.truncated)
		flags |= ATTRIB_F_LABELS_TRUNCATED;
	if (r->n_learned)
		sources |= LEARNED_BIT;
	if (flags != r->w.flags || sources != r->w.sources) {
		r->w.flags = flags;
		r->w.sources = sources;
		r->dirty = 1;
	}

	if (ns[0])
		snprintf(ref, sizeof(ref), "%s/%s", ns, name);
	else
		scopy(ref, sizeof(ref), name);
	if (strcmp(ref, r->ref) != 0) {
		char old[ATTRIB_REF_MAX];

		memcpy(old, r->ref, sizeof(old));
		memcpy(r->ref, ref, sizeof(ref));
		if (old[0])
			key_drop(a, r, K_NAME, old, strlen(old));
		return key_add(a, r, K_NAME, ref, strlen(ref));
	}
	return 0;
}

/* ---- statements ------------------------------------------------------------------ */

static int stmt_lists_cid(const struct attrib_stmt *st, const char *id)
{
	for (size_t i = 0; i < st->n_containers; i++)
		if (strcmp(st->containers[i], id) == 0)
			return 1;
	return 0;
}

static int stmt_lists_ip(const struct attrib_stmt *st, const uint8_t ip[16])
{
	for (size_t i = 0; i < st->n_ips; i++)
		if (memcmp(st->ips[i], ip, 16) == 0)
			return 1;
	return 0;
}

static int stmt_lists_iface(const struct attrib_stmt *st, const char *name)
{
	for (size_t i = 0; i < st->n_ifaces; i++)
		if (strcmp(st->ifaces[i].name, name) == 0)
			return 1;
	return 0;
}

/* Could `r` be the workload `st` describes?  Not when they disagree on the
 * pod, share no container while both list some, or the same source already
 * named `r` otherwise. */
static int compatible(const struct rec *r, const struct attrib_stmt *st)
{
	const struct said *s = &r->said[st->src];
	int overlap = 0;

	if (r->w.pod_uid[0] && st->pod_uid && st->pod_uid[0] &&
	    strcmp(r->w.pod_uid, st->pod_uid) != 0)
		return 0;
	if (r->w.n_containers && st->n_containers) {
		for (size_t i = 0; i < st->n_containers && !overlap; i++)
			overlap = cid_find(r, st->containers[i]) >= 0;
		if (!overlap && !(r->w.pod_uid[0] && st->pod_uid &&
				  strcmp(r->w.pod_uid, st->pod_uid) == 0))
			return 0;
	}
	if (st->name && s->name[0] &&
	    (strcmp(s->name, st->name) != 0 ||
	     strcmp(s->namespace, st->namespace ? st->namespace : "") != 0))
		return 0;
	return 1;
}

static struct rec *rec_at(const struct attrib *a, const struct hnode *n)
{
	return n ? a->slots[n->val] : NULL;
}

/* The record a statement is about: by pod uid, container id, name, then
 * interface; NULL for a new workload. */
static struct rec *match(struct attrib *a, const struct attrib_stmt *st)
{
	struct rec *r;
	char ref[ATTRIB_REF_MAX];

	if (st->pod_uid && st->pod_uid[0]) {
		r = rec_at(a, hfind(a, K_UID, st->pod_uid, strlen(st->pod_uid)));
		if (r && compatible(r, st))
			return r;
	}
	for (size_t i = 0; i < st->n_containers; i++) {
		r = rec_at(a, hfind(a, K_CID, st->containers[i], ATTRIB_CID_LEN));
		if (r && compatible(r, st))
			return r;
	}
	if (st->name) {
		if (st->namespace && st->namespace[0])
			snprintf(ref, sizeof(ref), "%s/%s", st->namespace, st->name);
		else
			scopy(ref, sizeof(ref), st->name);
		r = rec_at(a, hfind(a, K_NAME, ref, strlen(ref)));
		if (r && compatible(r, st))
			return r;
	}
	for (size_t i = 0; i < st->n_ifaces; i++) {
		r = rec_at(a, hfind(a, K_IFNAME, st->ifaces[i].name,
				    strlen(st->ifaces[i].name)));
		if (r && compatible(r, st))
			return r;
	}
	return NULL;
}

static void log_source_once(struct attrib *a, enum attrib_source src)
{
	if (src != ATTRIB_SRC_KUBE && src != ATTRIB_SRC_RUNTIME)
		return;
	if (a->said_source & (1u << src))
		return;
	a->said_source |= 1u << src;
	log_info("attribution: %s API source: in use",
		 src == ATTRIB_SRC_KUBE ? "Kubernetes" : "container runtime");
}

/* Drop `src`'s claims on everything the record holds; the record dies when
 * no asserting source is left. */
static void retract(struct attrib *a, struct rec *r, enum attrib_source src)
{
	uint32_t bit = 1u << src;
	struct said *s = &r->said[src];

	for (int i = r->w.n_containers - 1; i >= 0; i--) {
		r->cid_src[i] &= ~bit;
		if (!r->cid_src[i])
			unclaim_cid_at(a, r, i);
	}
	for (int i = r->w.n_ifaces - 1; i >= 0; i--)
		unclaim_iface_at(a, r, i, bit);
	for (int i = r->w.n_ips - 1; i >= 0; i--)
		unclaim_ip_at(a, r, i, bit);
	free(s->labels);
	memset(s, 0, sizeof(*s));
	r->w.sources &= ~bit;
	r->dirty = 1;
	if (!(r->w.sources & ASSERTING)) {
		rec_delete(a, r);
		return;
	}
	resolve(a, r);
	bump(a, r);
}

static int apply_locked(struct attrib *a, const struct attrib_stmt *st,
			uint64_t now)
{
	uint32_t bit = 1u << st->src;
	struct rec *r;
	struct said *s;
	int rc = 0, fresh = 0;

	if (st->src != ATTRIB_SRC_SCAN && st->src != ATTRIB_SRC_INVENTORY &&
	    st->src != ATTRIB_SRC_KUBE && st->src != ATTRIB_SRC_RUNTIME)
		return -EINVAL;
	if (!(st->pod_uid && st->pod_uid[0]) && !st->n_containers &&
	    !st->name && !st->n_ifaces)
		return -EINVAL;		/* nothing to know it by */
	r = match(a, st);
	if (!r) {
		if (!(r = rec_new(a))) {
			a->st.full++;
			return a->high >= a->cfg.max_workloads && !a->n_free ?
				       -ENOSPC : -ENOMEM;
		}
		fresh = 1;
	}
	log_source_once(a, st->src);
	if (st->pod_uid && st->pod_uid[0] && !r->w.pod_uid[0]) {
		scopy(r->w.pod_uid, sizeof(r->w.pod_uid), st->pod_uid);
		r->dirty = 1;
		rc = key_add(a, r, K_UID, r->w.pod_uid, strlen(r->w.pod_uid));
	}

	/* What the source no longer says goes first, then what it says. */
	for (int i = r->w.n_containers - 1; i >= 0; i--)
		if ((r->cid_src[i] & bit) && !stmt_lists_cid(st, r->w.containers[i])) {
			r->cid_src[i] &= ~bit;
			if (!r->cid_src[i])
				unclaim_cid_at(a, r, i);
		}
	for (int i = r->w.n_ifaces - 1; i >= 0; i--)
		if (!stmt_lists_iface(st, r->w.ifaces[i].name))
			unclaim_iface_at(a, r, i, bit);
	for (int i = r->w.n_ips - 1; i >= 0; i--)
		if (!stmt_lists_ip(st, r->w.ips[i].addr))
			unclaim_ip_at(a, r, i, bit);
	for (size_t i = 0; i < st->n_containers && rc == 0; i++)
		rc = claim_cid(a, r, bit, st->containers[i]);
	for (size_t i = 0; i < st->n_ifaces && rc == 0; i++)
		rc = claim_iface(a, r, bit, &st->ifaces[i]);
	for (size_t i = 0; i < st->n_ips && rc != -ENOMEM; i++)
		rc = claim_ip(a, r, bit, st->ips[i], now);
	if (rc == -ENOSPC)
		rc = 0;		/* counted in dropped_ips */

	s = &r->said[st->src];
	scopy(s->namespace, sizeof(s->namespace), st->name ? st->namespace : "");
	scopy(s->name, sizeof(s->name), st->name);
	scopy(s->kind, sizeof(s->kind), st->name ? st->kind : "");
	scopy(s->runtime, sizeof(s->runtime), st->runtime);
	scopy(s->qos, sizeof(s->qos), st->qos);
	scopy(s->netns, sizeof(s->netns), st->netns);
	if (st->labels) {
		if (!s->labels && !(s->labels = malloc(sizeof(*s->labels))))
			rc = -ENOMEM;
		else
			labels_copy(s->labels, st->labels);
	} else {
		free(s->labels);
		s->labels = NULL;
	}
	if (!(r->w.sources & bit)) {
		r->w.sources |= bit;
		r->dirty = 1;
	}
	r->seen[st->src] = a->epoch[st->src];
	if (fresh)
		r->dirty = 1;
	if (resolve(a, r) < 0 && rc == 0)
		rc = -ENOMEM;
	bump(a, r);
	return rc;
}

int attrib_apply_stmt(struct attrib *a, const struct attrib_stmt *st)
{
	int rc;

	pthread_rwlock_wrlock(&a->lock);
	rc = apply_locked(a, st, ew_now_ns());
	pthread_rwlock_unlock(&a->lock);
	return rc;
}

/* ---- namespaces ------------------------------------------------------------------ */

static struct nsrec *ns_get(struct attrib *a, const char *name, int create)
{
	struct hnode *n = hfind(a, K_NS, name, strlen(name));
	struct nsrec *ns, **grown;

	if (n)
		return a->nss[n->val];
	if (!create || a->n_nss >= a->cfg.max_namespaces)
		return NULL;
	grown = realloc(a->nss, (a->n_nss + 1) * sizeof(*a->nss));
	if (!grown)
		return NULL;
	a->nss = grown;
	if (!(ns = calloc(1, sizeof(*ns))))
		return NULL;
	scopy(ns->name, sizeof(ns->name), name);
	if (hput(a, K_NS, name, strlen(name), (uint32_t)a->n_nss) < 0) {
		free(ns);
		return NULL;
	}
	a->nss[a->n_nss++] = ns;
	return ns;
}

static void ns_drop_src(struct attrib *a, size_t idx, enum attrib_source src)
{
	struct nsrec *ns = a->nss[idx];
	int any = 0;

	free(ns->labels[src]);
	ns->labels[src] = NULL;
	for (int s = 0; s < ATTRIB_SRC__COUNT; s++)
		any |= ns->labels[s] != NULL;
	atomic_fetch_add(&a->version, 1);
	if (any)
		return;
	hdel(a, K_NS, ns->name, strlen(ns->name));
	free(ns);
	if (idx != a->n_nss - 1) {
		a->nss[idx] = a->nss[a->n_nss - 1];
		hput(a, K_NS, a->nss[idx]->name, strlen(a->nss[idx]->name),
		     (uint32_t)idx);
	}
	a->n_nss--;
}

static int set_ns_locked(struct attrib *a, enum attrib_source src,
			 const char *name, const struct attrib_labels *l)
{
	struct nsrec *ns = ns_get(a, name, 1);

	if (!ns)
		return a->n_nss >= a->cfg.max_namespaces ? -ENOSPC : -ENOMEM;
	ns->seen[src] = a->epoch[src];
	if (ns->labels[src] && labels_equal(ns->labels[src], l))
		return 0;
	if (!ns->labels[src] && !(ns->labels[src] = malloc(sizeof(*l))))
		return -ENOMEM;
	labels_copy(ns->labels[src], l);
	atomic_fetch_add(&a->version, 1);
	return 0;
}

/* ---- sync ------------------------------------------------------------------------- */

static void sync_begin_locked(struct attrib *a, enum attrib_source src)
{
	a->epoch[src]++;
}

static void sync_end_locked(struct attrib *a, enum attrib_source src)
{
	uint32_t bit = 1u << src;

	for (uint32_t s = 0; s < a->high; s++) {
		struct rec *r = a->slots[s];

		if (r && (r->w.sources & bit) && r->seen[src] != a->epoch[src])
			retract(a, r, src);
	}
	for (size_t i = a->n_nss; i-- > 0;)
		if (a->nss[i]->labels[src] && a->nss[i]->seen[src] != a->epoch[src])
			ns_drop_src(a, i, src);
}

static int api_source(enum attrib_source src)
{
	return src == ATTRIB_SRC_INVENTORY || src == ATTRIB_SRC_KUBE ||
	       src == ATTRIB_SRC_RUNTIME;
}

void attrib_sync_begin(struct attrib *a, enum attrib_source src)
{
	if ((unsigned)src >= ATTRIB_SRC__COUNT)
		return;
	pthread_rwlock_wrlock(&a->lock);
	sync_begin_locked(a, src);
	pthread_rwlock_unlock(&a->lock);
}

void attrib_sync_end(struct attrib *a, enum attrib_source src)
{
	if ((unsigned)src >= ATTRIB_SRC__COUNT)
		return;
	pthread_rwlock_wrlock(&a->lock);
	sync_end_locked(a, src);
	pthread_rwlock_unlock(&a->lock);
}

/* ---- open / close ------------------------------------------------------------------ */

static char *dup_or_null(const char *s, int *oom)
{
	char *d;

	if (!s || !*s)
		return NULL;
	if (!(d = strdup(s)))
		*oom = 1;
	return d;
}

struct attrib *attrib_open(const struct attrib_config *cfg, char *err,
			   size_t errlen)
{
	struct attrib *a;
	pthread_rwlockattr_t ra;
	uint64_t buckets = 1;
	int oom = 0;

	if (cfg->max_workloads == 0 || cfg->max_workloads > MAX_WORKLOADS_LIMIT) {
		snprintf(err, errlen, "attribution: max_workloads must be 1..%u",
			 MAX_WORKLOADS_LIMIT);
		return NULL;
	}
	if (!cfg->proc_root || !*cfg->proc_root) {
		snprintf(err, errlen, "attribution: no /proc root");
		return NULL;
	}
	if (!(a = calloc(1, sizeof(*a))))
		goto nomem;
	a->cfg = *cfg;
	a->proc_root = dup_or_null(cfg->proc_root, &oom);
	a->cgroup_root = dup_or_null(cfg->cgroup_root, &oom);
	a->podlog_root = dup_or_null(cfg->podlog_root, &oom);
	a->netns_root = dup_or_null(cfg->netns_root, &oom);
	a->cfg.proc_root = a->proc_root;
	a->cfg.cgroup_root = a->cgroup_root;
	a->cfg.podlog_root = a->podlog_root;
	a->cfg.netns_root = a->netns_root;
	if (!a->cfg.max_procs_per_netns)
		a->cfg.max_procs_per_netns = 1;
	/* Keys per workload: id, uid, name, ~2 per interface, a few ids and
	 * addresses; 8 buckets each keeps chains short. */
	while (buckets < (uint64_t)cfg->max_workloads * 8)
		buckets <<= 1;
	a->mask = buckets - 1;
	a->bucket = calloc(buckets, sizeof(*a->bucket));
	a->slots = calloc(cfg->max_workloads, sizeof(*a->slots));
	a->free_slots = calloc(cfg->max_workloads, sizeof(*a->free_slots));
	if (oom || !a->bucket || !a->slots || !a->free_slots)
		goto nomem;
	if (ew_random_bytes(a->sipkey, sizeof(a->sipkey)) < 0) {
		snprintf(err, errlen, "attribution: no random bytes for the hash key");
		attrib_close(a);
		return NULL;
	}
	/* Writers preferred: the pipeline's stream of lookups must not keep a
	 * rescan from ever applying. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&a->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&a->scan_mu, NULL);
	return a;
nomem:
	snprintf(err, errlen, "attribution: out of memory for %u workloads",
		 cfg->max_workloads);
	if (a) {
		free(a->proc_root);
		free(a->cgroup_root);
		free(a->podlog_root);
		free(a->netns_root);
		free(a->bucket);
		free(a->slots);
		free(a->free_slots);
		free(a);
	}
	return NULL;
}

void attrib_close(struct attrib *a)
{
	if (!a)
		return;
	for (uint32_t s = 0; s < a->high; s++) {
		struct rec *r = a->slots[s];

		if (!r)
			continue;
		for (int i = 0; i < ATTRIB_SRC__COUNT; i++)
			free(r->said[i].labels);
		free(r);
	}
	for (size_t i = 0; i < a->n_nss; i++) {
		for (int s = 0; s < ATTRIB_SRC__COUNT; s++)
			free(a->nss[i]->labels[s]);
		free(a->nss[i]);
	}
	for (uint64_t b = 0; b <= a->mask; b++) {
		struct hnode *n = a->bucket[b], *next;

		for (; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	attrib_scanner_close(a->scanner);
	pthread_rwlock_destroy(&a->lock);
	pthread_mutex_destroy(&a->scan_mu);
	free(a->nss);
	free(a->podlogs);
	free(a->bucket);
	free(a->slots);
	free(a->free_slots);
	free(a->proc_root);
	free(a->cgroup_root);
	free(a->podlog_root);
	free(a->netns_root);
	free(a);
}

/* ---- lookups ----------------------------------------------------------------------- */

static void fill_ref(const struct rec *r, struct attrib_ref *out)
{
	out->id = r->w.id;
	out->version = r->w.version;
	out->flags = r->w.flags;
	memcpy(out->workload, r->ref, sizeof(out->workload));
	memcpy(out->kind, r->w.kind, sizeof(out->kind));
}

static int lookup(struct attrib *a, int kind, const void *key, size_t len,
		  struct attrib_ref *out)
{
	const struct hnode *n;
	int rc = -ENOENT;

	atomic_fetch_add_explicit(&a->lookups, 1, memory_order_relaxed);
	pthread_rwlock_rdlock(&a->lock);
	n = hfind(a, kind, key, len);
	if (n && a->slots[n->val]) {
		const struct rec *r = a->slots[n->val];

		fill_ref(r, out);
		if (kind == K_IP) {
			int i = ip_find(r, key);

			if (i >= 0 && !(r->w.ips[i].sources & ~LEARNED_BIT))
				out->flags |= ATTRIB_F_LEARNED;
		}
		rc = 0;
	}
	pthread_rwlock_unlock(&a->lock);
	if (rc)
		atomic_fetch_add_explicit(&a->lookup_misses, 1,
					  memory_order_relaxed);
	return rc;
}

int attrib_lookup_iface(struct attrib *a, const char *ifname,
			struct attrib_ref *out)
{
	size_t n = strnlen(ifname, CAPTURE_IFNAME_MAX);

	if (n == 0 || n >= CAPTURE_IFNAME_MAX)
		return -ENOENT;
	return lookup(a, K_IFNAME, ifname, n, out);
}

int attrib_lookup_ifindex(struct attrib *a, int32_t ifindex,
			  struct attrib_ref *out)
{
	if (ifindex <= 0)
		return -ENOENT;
	return lookup(a, K_IFINDEX, &ifindex, sizeof(ifindex), out);
}

int attrib_lookup_ip(struct attrib *a, const uint8_t ip[16],
		     struct attrib_ref *out)
{
	return lookup(a, K_IP, ip, 16, out);
}

int attrib_lookup_pod(struct attrib *a, const char *uid, struct attrib_ref *out)
{
	size_t n = strnlen(uid, ATTRIB_UID_MAX);

	if (!attrib_uid_valid(uid, n))
		return -ENOENT;
	return lookup(a, K_UID, uid, n, out);
}

int attrib_lookup_container(struct attrib *a, const char *id,
			    struct attrib_ref *out)
{
	size_t n = strnlen(id, ATTRIB_CID_LEN + 1);

	if (!attrib_cid_valid(id, n))
		return -ENOENT;
	return lookup(a, K_CID, id, n, out);
}

int attrib_lookup_name(struct attrib *a, const char *ref,
		       struct attrib_ref *out)
{
	size_t n = strnlen(ref, ATTRIB_REF_MAX);

	if (n == 0 || n >= ATTRIB_REF_MAX)
		return -ENOENT;
	return lookup(a, K_NAME, ref, n, out);
}

int attrib_lookup_id(struct attrib *a, uint64_t id, struct attrib_ref *out)
{
	if (id == 0)
		return -ENOENT;
	return lookup(a, K_ID, &id, sizeof(id), out);
}

int attrib_get(struct attrib *a, uint64_t id, struct attrib_workload *out)
{
	const struct hnode *n;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&a->lock);
	n = hfind(a, K_ID, &id, sizeof(id));
	if (n && a->slots[n->val]) {
		*out = a->slots[n->val]->w;
		rc = 0;
	}
	pthread_rwlock_unlock(&a->lock);
	return rc;
}

int attrib_namespace_labels(struct attrib *a, const char *ns,
			    struct attrib_labels *out)
{
	static const enum attrib_source order[] = {
		ATTRIB_SRC_KUBE, ATTRIB_SRC_INVENTORY, ATTRIB_SRC_RUNTIME,
	};
	const struct hnode *n;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&a->lock);
	n = hfind(a, K_NS, ns, strnlen(ns, ATTRIB_NS_MAX));
	if (n) {
		const struct nsrec *r = a->nss[n->val];

		for (size_t i = 0; i < EW_ARRAY_LEN(order) && rc; i++)
			if (r->labels[order[i]]) {
				labels_copy(out, r->labels[order[i]]);
				rc = 0;
			}
	}
	pthread_rwlock_unlock(&a->lock);
	return rc;
}

int attrib_foreach(struct attrib *a,
		   int (*cb)(void *ctx, const struct attrib_workload *w),
		   void *ctx)
{
	int rc = 0;

	pthread_rwlock_rdlock(&a->lock);
	for (uint32_t s = 0; s < a->high && rc == 0; s++)
		if (a->slots[s])
			rc = cb(ctx, &a->slots[s]->w);
	pthread_rwlock_unlock(&a->lock);
	return rc;
}

uint64_t attrib_version(struct attrib *a)
{
	return atomic_load(&a->version);
}

void attrib_get_stats(struct attrib *a, struct attrib_stats *out)
{
	pthread_rwlock_rdlock(&a->lock);
	*out = a->st;
	out->workloads = a->live;
	out->namespaces = a->n_nss;
	out->podlog_pods = a->n_podlogs;
	out->ips = out->ifaces = 0;
	for (uint32_t s = 0; s < a->high; s++)
		if (a->slots[s]) {
			out->ips += a->slots[s]->w.n_ips;
			out->ifaces += a->slots[s]->w.n_ifaces;
		}
	pthread_rwlock_unlock(&a->lock);
	out->lookups = atomic_load(&a->lookups);
	out->lookup_misses = atomic_load(&a->lookup_misses);
	out->learn_known = atomic_load(&a->learn_known);
	out->learn_ignored = atomic_load(&a->learn_ignored);
	out->learn_no_workload = atomic_load(&a->learn_no_workload);
}

/* ---- learning ------------------------------------------------------------------------ */

/* Does a source (not traffic) give `r` an address of this family? */
static int has_asserted_family(const struct rec *r, int v4)
{
	for (int i = 0; i < r->w.n_ips; i++)
		if ((r->w.ips[i].sources & ~LEARNED_BIT) &&
		    ew_ip_is_v4(r->w.ips[i].addr) == v4)
			return 1;
	return 0;
}

int attrib_learn_ip(struct attrib *a, const char *ifname,
		    const uint8_t ip[16], uint64_t ts_ns)
{
	size_t len = strnlen(ifname, CAPTURE_IFNAME_MAX);
	const struct hnode *n;
	struct rec *r;
	int rc;

	if (attrib_ip_ignored(ip)) {
		atomic_fetch_add_explicit(&a->learn_ignored, 1, memory_order_relaxed);
		return -EINVAL;
	}
	if (len == 0 || len >= CAPTURE_IFNAME_MAX) {
		atomic_fetch_add_explicit(&a->learn_no_workload, 1,
					  memory_order_relaxed);
		return -ENOENT;
	}
	/* The common case, an address we know, needs the shared lock only. */
	pthread_rwlock_rdlock(&a->lock);
	n = hfind(a, K_IFNAME, ifname, len);
	r = n ? a->slots[n->val] : NULL;
	rc = !r ? -ENOENT : ip_find(r, ip) >= 0 ? 0 : 1;
	pthread_rwlock_unlock(&a->lock);
	if (rc == -ENOENT)
		atomic_fetch_add_explicit(&a->learn_no_workload, 1,
					  memory_order_relaxed);
	if (rc == 0)
		atomic_fetch_add_explicit(&a->learn_known, 1, memory_order_relaxed);
	if (rc <= 0)
		return rc;

	pthread_rwlock_wrlock(&a->lock);
	n = hfind(a, K_IFNAME, ifname, len);
	r = n ? a->slots[n->val] : NULL;
	if (!r) {
		rc = -ENOENT;
	} else if (ip_find(r, ip) >= 0) {
		rc = 0;
	} else if (has_asserted_family(r, ew_ip_is_v4(ip))) {
		a->st.learn_asserted++;
		rc = -EEXIST;
	} else if (r->n_learned >= a->cfg.max_learned_ips) {
		a->st.learn_refused++;
		rc = -ENOSPC;
	} else if ((rc = claim_ip(a, r, LEARNED_BIT, ip, ts_ns)) == 0) {
		a->st.learned++;
		resolve(a, r);
		bump(a, r);
		rc = 1;
	} else if (rc == -ENOSPC) {
		a->st.learn_refused++;
	}
	pthread_rwlock_unlock(&a->lock);
	return rc;
}

/* ---- metadata sources ------------------------------------------------------------------ */

/* Labels from borrowed pairs: invalid ones are skipped, the overflow is
 * flagged; both counted. */
static void build_labels(struct attrib *a, struct attrib_labels *l,
			 const struct attrib_kv *kv, size_t n)
{
	labels_clear(l);
	for (size_t i = 0; i < n; i++) {
		if (!kv[i].key || !kv[i].value ||
		    attrib_labels_add(l, kv[i].key, kv[i].value) < 0)
			a->st.dropped_labels++;
	}
}

static int ips_valid(const uint8_t (*ips)[16], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (attrib_ip_ignored(ips[i]))
			return 0;
	return 1;
}

int attrib_set_pod(struct attrib *a, enum attrib_source src,
		   const struct attrib_pod_meta *m)
{
	char (*cids)[ATTRIB_CID_LEN + 1] = NULL;
	struct attrib_labels *labels;
	struct attrib_stmt st;
	int rc;

	if (!api_source(src) || !m->uid || !attrib_uid_valid(m->uid, strlen(m->uid)) ||
	    !m->namespace || !attrib_namespace_valid(m->namespace) || !m->name ||
	    !attrib_name_valid(m->name) || !ips_valid(m->ips, m->n_ips) ||
	    m->n_container_ids > ATTRIB_MAX_CONTAINERS ||
	    (m->kind && strlen(m->kind) >= ATTRIB_KIND_MAX) ||
	    (m->runtime && strlen(m->runtime) >= ATTRIB_RUNTIME_MAX))
		return -EINVAL;
	for (size_t i = 0; i < m->n_container_ids; i++)
		if (!m->container_ids[i] ||
		    !attrib_cid_valid(m->container_ids[i], strlen(m->container_ids[i])))
			return -EINVAL;
	if (!(labels = malloc(sizeof(*labels))))
		return -ENOMEM;
	if (m->n_container_ids &&
	    !(cids = calloc(m->n_container_ids, sizeof(*cids)))) {
		free(labels);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_container_ids; i++)
		memcpy(cids[i], m->container_ids[i], ATTRIB_CID_LEN + 1);
	memset(&st, 0, sizeof(st));
	st.src = src;
	st.pod_uid = m->uid;
	st.namespace = m->namespace;
	st.name = m->name;
	st.kind = m->kind ? m->kind : "Pod";
	st.runtime = m->runtime;
	st.containers = (const char (*)[ATTRIB_CID_LEN + 1])cids;
	st.n_containers = m->n_container_ids;
	st.ips = m->ips;
	st.n_ips = m->n_ips;
	st.labels = labels;
	pthread_rwlock_wrlock(&a->lock);
	build_labels(a, labels, m->labels, m->n_labels);
	rc = apply_locked(a, &st, ew_now_ns());
	pthread_rwlock_unlock(&a->lock);
	free(cids);
	free(labels);
	return rc;
}

static int remove_by(struct attrib *a, enum attrib_source src, int kind,
		     const char *key, size_t len)
{
	const struct hnode *n;
	struct rec *r;
	int rc = -ENOENT;

	pthread_rwlock_wrlock(&a->lock);
	n = hfind(a, kind, key, len);
	r = n ? a->slots[n->val] : NULL;
	if (r && (r->w.sources & (1u << src))) {
		retract(a, r, src);
		rc = 0;
	}
	pthread_rwlock_unlock(&a->lock);
	return rc;
}

int attrib_remove_pod(struct attrib *a, enum attrib_source src,
		      const char *uid)
{
	if (!api_source(src) || !uid || !attrib_uid_valid(uid, strlen(uid)))
		return -EINVAL;
	return remove_by(a, src, K_UID, uid, strlen(uid));
}

int attrib_set_container(struct attrib *a, enum attrib_source src,
			 const struct attrib_container_meta *m)
{
	char cid[1][ATTRIB_CID_LEN + 1];
	struct attrib_labels *labels;
	struct attrib_stmt st;
	const char *ns = m->namespace ? m->namespace : "";
	int rc;

	if (!api_source(src) || !m->id || !attrib_cid_valid(m->id, strlen(m->id)) ||
	    !m->name || !attrib_name_valid(m->name) ||
	    (ns[0] && !attrib_namespace_valid(ns)) ||
	    (m->pod_uid && m->pod_uid[0] &&
	     !attrib_uid_valid(m->pod_uid, strlen(m->pod_uid))) ||
	    !ips_valid(m->ips, m->n_ips) ||
	    (m->runtime && strlen(m->runtime) >= ATTRIB_RUNTIME_MAX))
		return -EINVAL;
	if (!(labels = malloc(sizeof(*labels))))
		return -ENOMEM;
	memcpy(cid[0], m->id, ATTRIB_CID_LEN + 1);
	memset(&st, 0, sizeof(st));
	st.src = src;
	st.pod_uid = m->pod_uid;
	st.namespace = ns;
	st.name = m->name;
	st.kind = "Container";
	st.runtime = m->runtime;
	st.containers = (const char (*)[ATTRIB_CID_LEN + 1])cid;
	st.n_containers = 1;
	st.ips = m->ips;
	st.n_ips = m->n_ips;
	st.labels = labels;
	pthread_rwlock_wrlock(&a->lock);
	build_labels(a, labels, m->labels, m->n_labels);
	rc = apply_locked(a, &st, ew_now_ns());
	pthread_rwlock_unlock(&a->lock);
	free(labels);
	return rc;
}

int attrib_remove_container(struct attrib *a, enum attrib_source src,
			    const char *id)
{
	if (!api_source(src) || !id || !attrib_cid_valid(id, strlen(id)))
		return -EINVAL;
	return remove_by(a, src, K_CID, id, ATTRIB_CID_LEN);
}

int attrib_set_namespace(struct attrib *a, enum attrib_source src,
			 const char *ns, const struct attrib_kv *labels,
			 size_t n_labels)
{
	struct attrib_labels *l;
	int rc;

	if (!api_source(src) || !ns || !attrib_namespace_valid(ns))
		return -EINVAL;
	if (!(l = malloc(sizeof(*l))))
		return -ENOMEM;
	pthread_rwlock_wrlock(&a->lock);
	build_labels(a, l, labels, n_labels);
	rc = set_ns_locked(a, src, ns, l);
	pthread_rwlock_unlock(&a->lock);
	free(l);
	return rc;
}

/* ---- inventory ------------------------------------------------------------------------ */

int attrib_load_inventory(struct attrib *a, const char *path, char *err,
			  size_t errlen)
{
	struct inventory inv;
	uint64_t now = ew_now_ns();
	size_t applied = 0, failed = 0;
	int rc, first = 0;

	rc = inventory_load(path, a->cfg.max_workloads, &inv, err, errlen);
	if (rc < 0)
		return rc;
	pthread_rwlock_wrlock(&a->lock);
	sync_begin_locked(a, ATTRIB_SRC_INVENTORY);
	for (size_t i = 0; i < inv.n_workloads; i++) {
		const struct inv_workload *iw = &inv.workloads[i];
		struct attrib_stmt st;
		int r;

		memset(&st, 0, sizeof(st));
		st.src = ATTRIB_SRC_INVENTORY;
		st.pod_uid = iw->pod_uid;
		st.namespace = iw->namespace;
		st.name = iw->name;
		st.kind = iw->kind;
		st.runtime = iw->runtime;
		st.netns = iw->netns;
		st.containers = iw->containers;
		st.n_containers = iw->n_containers;
		st.ifaces = iw->ifaces;
		st.n_ifaces = iw->n_ifaces;
		st.ips = iw->ips;
		st.n_ips = iw->n_ips;
		st.labels = iw->has_labels ? &iw->labels : NULL;
		r = apply_locked(a, &st, now);
		if (r < 0) {
			failed++;
			if (!first)
				first = r;
		} else {
			applied++;
		}
	}
	for (size_t i = 0; i < inv.n_namespaces; i++)
		if (set_ns_locked(a, ATTRIB_SRC_INVENTORY, inv.namespaces[i].name,
				  &inv.namespaces[i].labels) < 0)
			failed++;
	sync_end_locked(a, ATTRIB_SRC_INVENTORY);
	a->st.inventory_workloads = applied;
	pthread_rwlock_unlock(&a->lock);

	log_info("attribution: inventory %s: %zu workloads, %zu namespaces with labels",
		 path, applied, inv.n_namespaces);
	inventory_free(&inv);
	if (!failed)
		return 0;
	if (!first)
		first = -ENOSPC;
	snprintf(err, errlen, "%s: %zu entries not applied: %s", path, failed,
		 strerror(-first));
	log_warnx("attribution: %s", err);
	return first;
}

/* ---- rescan --------------------------------------------------------------------------- */

/* Say once which cgroup layout the host has (the scan reads paths from
 * /proc/PID/cgroup, whichever it is). */
static void describe_cgroups(const char *root, char *out, size_t cap)
{
	struct statfs sf;
	char uni[4096];

	if (!root || statfs(root, &sf) < 0) {
		snprintf(out, cap, "no cgroup filesystem at %s", root ? root : "(none)");
		return;
	}
	if (sf.f_type == CGROUP2_SUPER_MAGIC) {
		snprintf(out, cap, "cgroup v2 at %s", root);
		return;
	}
	snprintf(uni, sizeof(uni), "%s/unified", root);
	if (statfs(uni, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
		snprintf(out, cap, "cgroup v1 hybrid, v2 at %s", uni);
	else
		snprintf(out, cap, "cgroup v1 at %s", root);
}

/* Scan results with the same pod (or, without one, the same netns) are one
 * workload seen through several links. */
static const char *group_key(const struct attrib_scan_link *l, char *buf,
			     size_t cap)
{
	if (l->pod_uid[0])
		return l->pod_uid;
	snprintf(buf, cap, "nsid:%d", l->nsid);
	return buf;
}

static int cmp_links(const void *x, const void *y)
{
	const struct attrib_scan_link *a = x, *b = y;
	char ba[32], bb[32];

	return strcmp(group_key(a, ba, sizeof(ba)), group_key(b, bb, sizeof(bb)));
}

static void apply_scan_locked(struct attrib *a, struct attrib_scan *sc,
			      uint64_t now)
{
	struct attrib_iface ifaces[ATTRIB_MAX_IFACES];
	size_t attributed = 0;
	uint64_t conflicts = 0;

	/* The pod-log name table. */
	for (size_t i = 0; i < a->n_podlogs; i++)
		hdel(a, K_PODLOG, a->podlogs[i].uid, strlen(a->podlogs[i].uid));
	free(a->podlogs);
	a->podlogs = sc->podlogs;
	a->n_podlogs = sc->n_podlogs;
	sc->podlogs = NULL;
	sc->n_podlogs = sc->cap_podlogs = 0;
	for (size_t i = 0; i < a->n_podlogs; i++)
		if (hput(a, K_PODLOG, a->podlogs[i].uid,
			 strlen(a->podlogs[i].uid), (uint32_t)i) < 0)
			break;

	if (sc->n_links > 1)
		qsort(sc->links, sc->n_links, sizeof(*sc->links), cmp_links);
	sync_begin_locked(a, ATTRIB_SRC_SCAN);
	for (size_t i = 0; i < sc->n_links;) {
		const struct attrib_scan_link *l = &sc->links[i];
		char k1[32], k2[32];
		struct attrib_stmt st;
		size_t j = i, n_if = 0;

		conflicts += l->uid_conflicts;
		while (j < sc->n_links &&
		       strcmp(group_key(&sc->links[j], k1, sizeof(k1)),
			      group_key(l, k2, sizeof(k2))) == 0) {
			if (n_if < ATTRIB_MAX_IFACES && sc->links[j].found)
				ifaces[n_if++] = sc->links[j].iface;
			j++;
		}
		i = j;
		if (!l->found || (!l->pod_uid[0] && !l->n_containers))
			continue;
		memset(&st, 0, sizeof(st));
		st.src = ATTRIB_SRC_SCAN;
		st.pod_uid = l->pod_uid;
		st.runtime = attrib_runtime_name(l->runtime);
		st.qos = attrib_qos_name(l->qos);
		st.netns = l->netns;
		st.containers = l->containers;
		st.n_containers = l->n_containers;
		st.ifaces = ifaces;
		st.n_ifaces = n_if;
		st.ips = l->ips;
		st.n_ips = l->n_ips;
		if (apply_locked(a, &st, now) == 0)
			attributed += n_if;
	}
	sync_end_locked(a, ATTRIB_SRC_SCAN);
	/* Pod-log names may have come or gone for records nobody restated. */
	for (uint32_t s = 0; s < a->high; s++) {
		struct rec *r = a->slots[s];

		if (r && r->w.pod_uid[0]) {
			resolve(a, r);
			if (r->dirty)
				bump(a, r);
		}
	}
	a->st.scans++;
	a->st.scan_last_ns = sc->duration_ns;
	a->st.scan_procs = sc->procs;
	a->st.scan_procs_capped += sc->procs_capped;
	a->st.scan_proc_errors = sc->proc_errors;
	a->st.scan_netns = sc->netns_seen;
	a->st.scan_links = sc->n_links;
	a->st.scan_links_attributed = attributed;
	a->st.scan_uid_conflicts += conflicts;
}

void attrib_apply_scan(struct attrib *a, struct attrib_scan *sc)
{
	pthread_rwlock_wrlock(&a->lock);
	apply_scan_locked(a, sc, ew_now_ns());
	pthread_rwlock_unlock(&a->lock);
}

static void log_scan(struct attrib *a, const struct attrib_scan *sc,
		     size_t attributed)
{
	char cg[4200];

	if (!a->said_scan) {
		a->said_scan = 1;
		describe_cgroups(a->cgroup_root, cg, sizeof(cg));
		log_info("attribution: %s scan: %s; %zu links into other netns, "
			 "%zu attributed, %" PRIu64 " processes in %.1f ms",
			 a->proc_root, cg, sc->n_links, attributed, sc->procs,
			 (double)sc->duration_ns / 1e6);
	}
	if (sc->procs_capped)
		log_debug("attribution: scan stopped at %u processes (max_procs)",
			  a->cfg.max_procs);
	if (sc->proc_denied && !a->said_denied) {
		a->said_denied = 1;
		log_warnx("attribution: %s scan: no access to the network "
			  "namespace of %" PRIu64 " process(es) (needs "
			  "CAP_SYS_PTRACE): pods behind them cannot be attributed",
			  a->proc_root, sc->proc_denied);
	}
	if (sc->addr_state < 0 && !a->said_addrs) {
		a->said_addrs = 1;
		log_warnx("attribution: pod addresses unavailable (%s; reading "
			  "another netns's addresses needs CAP_NET_ADMIN): "
			  "addresses come from other sources and from traffic",
			  strerror(-sc->addr_state));
	}
	if (!a->podlog_root && !a->said_podlogs) {
		a->said_podlogs = 2;
		log_info("attribution: pod log directories: off; pod names "
			 "from other sources");
	}
	if (a->podlog_root && sc->podlog_state != a->said_podlogs) {
		if (sc->podlog_state == 1)
			log_info("attribution: %s: %zu pods", a->podlog_root,
				 a->n_podlogs);
		else if (sc->podlog_state < 0)
			log_info("attribution: %s: not in use (%s); pod names "
				 "from other sources", a->podlog_root,
				 strerror(-sc->podlog_state));
		a->said_podlogs = sc->podlog_state;
	}
}

int attrib_rescan(struct attrib *a, char *err, size_t errlen)
{
	struct attrib_scan_config scfg = {
		.proc_root = a->proc_root,
		.netns_root = a->netns_root,
		.podlog_root = a->podlog_root,
		.max_procs = a->cfg.max_procs,
		.max_procs_per_netns = a->cfg.max_procs_per_netns,
		.max_podlogs = a->cfg.max_podlogs,
	};
	struct attrib_scan sc;
	size_t attributed;
	int rc;

	memset(&sc, 0, sizeof(sc));
	pthread_mutex_lock(&a->scan_mu);
	if (!a->scanner && !(a->scanner = attrib_scanner_open(err, errlen))) {
		pthread_mutex_unlock(&a->scan_mu);
		pthread_rwlock_wrlock(&a->lock);
		a->st.scan_errors++;
		pthread_rwlock_unlock(&a->lock);
		return -EIO;
	}
	rc = attrib_scan_run(a->scanner, &scfg, &sc, err, errlen);
	pthread_rwlock_wrlock(&a->lock);
	if (rc < 0) {
		a->st.scan_errors++;
		pthread_rwlock_unlock(&a->lock);
		/* A socket in a bad state is replaced next time. */
		attrib_scanner_close(a->scanner);
		a->scanner = NULL;
		pthread_mutex_unlock(&a->scan_mu);
		attrib_scan_free(&sc);
		return rc;
	}
	apply_scan_locked(a, &sc, ew_now_ns());
	attributed = a->st.scan_links_attributed;
	pthread_rwlock_unlock(&a->lock);
	log_scan(a, &sc, attributed);
	pthread_mutex_unlock(&a->scan_mu);
	attrib_scan_free(&sc);
	return 0;
}
