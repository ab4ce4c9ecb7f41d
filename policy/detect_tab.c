/*
 * detect_tab.c - dtab, the one table all detector state lives in: a fixed
 * number of slots allocated at init, chained hashing on slot indices, a
 * global LRU list and one LRU list per owner (detect_int.h has the
 * contract).
 *
 * Why one generic table: every detector keys its state by something an
 * outside party chooses (addresses, names, flow ids), so every one of them
 * needs the same three things - a hard cap, eviction of the least recently
 * used entry, and a per-workload quota so that one noisy pod evicts its own
 * state rather than everyone else's.  Writing that once keeps the bounds in
 * one place that can be tested.
 *
 * A table with one owner keeps no owner list: it would be the global list
 * over again, and each lookup would move an entry on both (up to six slots
 * touched, most of them cache misses, instead of three).  Its owner's
 * first, last and next are the global list's.
 *
 * Lists are doubly linked through 32-bit slot indices in the slot header,
 * so a table of 65536 entries costs 28 bytes of links per entry and no
 * pointer chasing through the allocator.  Nothing allocates after init,
 * and slots are handed out in order before any freed one is reused, so the
 * pages of a large table that never fills are never touched (calloc maps
 * them zeroed on demand): a table costs memory for its peak, not its cap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

struct slot {
	uint64_t hash;
	uint32_t chain;			/* next in bucket / next free */
	uint32_t prev, next;		/* global LRU */
	uint32_t oprev, onext;		/* owner's LRU */
	uint32_t owner;
	uint8_t used;
};

static inline struct slot *S(const struct dtab *t, uint32_t i)
{
	return (struct slot *)(void *)(t->mem + (size_t)i * t->slot_size);
}

static inline uint32_t slot_of_val(const struct dtab *t, const void *val)
{
	return (uint32_t)(((const uint8_t *)val - t->mem - t->val_off) /
			  t->slot_size);
}

static inline void *val_of(const struct dtab *t, uint32_t i)
{
	return t->mem + (size_t)i * t->slot_size + t->val_off;
}

static inline const void *key_of(const struct dtab *t, uint32_t i)
{
	return t->mem + (size_t)i * t->slot_size + t->key_off;
}

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

int dtab_init(struct dtab *t, uint32_t cap, uint32_t per_owner,
	      uint32_t n_owners, size_t key_len, size_t val_size)
{
	uint32_t nb = 1;
	int rc;

	memset(t, 0, sizeof(*t));
	if (cap == 0 || cap >= DTAB_NIL / 2 || n_owners == 0 ||
	    key_len == 0 || key_len > DTAB_KEY_MAX)
		return -EINVAL;
	if (per_owner == 0 || per_owner > cap)
		per_owner = cap;
	while (nb < cap)
		nb <<= 1;
	t->cap = cap;
	t->per_owner = per_owner;
	t->n_owners = n_owners;
	t->nbucket = nb;
	t->key_len = key_len;
	t->val_size = val_size;
	t->key_off = sizeof(struct slot);
	t->val_off = align16(t->key_off + key_len);
	t->slot_size = align16(t->val_off + (val_size ? val_size : 1));
	t->mem = calloc(cap, t->slot_size);
	t->bucket = malloc(sizeof(uint32_t) * nb);
	t->own_head = malloc(sizeof(uint32_t) * n_owners);
	t->own_tail = malloc(sizeof(uint32_t) * n_owners);
	t->own_n = calloc(n_owners, sizeof(uint32_t));
	if (!t->mem || !t->bucket || !t->own_head || !t->own_tail || !t->own_n) {
		rc = -ENOMEM;
		goto err;
	}
	memset(t->bucket, 0xff, sizeof(uint32_t) * nb);
	memset(t->own_head, 0xff, sizeof(uint32_t) * n_owners);
	memset(t->own_tail, 0xff, sizeof(uint32_t) * n_owners);
	t->bytes = (size_t)cap * t->slot_size + sizeof(uint32_t) * nb +
		   3 * sizeof(uint32_t) * n_owners;
	t->free_head = DTAB_NIL;
	t->fresh = 0;
	t->lru_head = t->lru_tail = DTAB_NIL;
	rc = ew_random_bytes(t->sipkey, sizeof(t->sipkey));
	if (rc)
		goto err;
	return 0;
err:
	dtab_free(t);
	return rc;
}

void dtab_free(struct dtab *t)
{
	free(t->mem);
	free(t->bucket);
	free(t->own_head);
	free(t->own_tail);
	free(t->own_n);
	memset(t, 0, sizeof(*t));
}

static uint64_t hash_key(const struct dtab *t, uint32_t owner, const void *key)
{
	uint8_t buf[4 + DTAB_KEY_MAX];

	memcpy(buf, &owner, 4);
	memcpy(buf + 4, key, t->key_len);
	return ew_siphash(t->sipkey, buf, 4 + t->key_len);
}

/* ---- list surgery ------------------------------------------------------- */

static void lru_unlink(struct dtab *t, uint32_t i)
{
	struct slot *s = S(t, i);

	if (s->prev != DTAB_NIL)
		S(t, s->prev)->next = s->next;
	else
		t->lru_head = s->next;
	if (s->next != DTAB_NIL)
		S(t, s->next)->prev = s->prev;
	else
		t->lru_tail = s->prev;
	s->prev = s->next = DTAB_NIL;
}

static void lru_push(struct dtab *t, uint32_t i)
{
	struct slot *s = S(t, i);

	s->prev = DTAB_NIL;
	s->next = t->lru_head;
	if (t->lru_head != DTAB_NIL)
		S(t, t->lru_head)->prev = i;
	t->lru_head = i;
	if (t->lru_tail == DTAB_NIL)
		t->lru_tail = i;
}

/* The owner's most and least recently used entries, and the next older. */
static inline uint32_t own_first(const struct dtab *t, uint32_t o)
{
	return t->n_owners == 1 ? t->lru_head : t->own_head[o];
}

static inline uint32_t own_last(const struct dtab *t, uint32_t o)
{
	return t->n_owners == 1 ? t->lru_tail : t->own_tail[o];
}

static inline uint32_t own_next(const struct dtab *t, uint32_t i)
{
	return t->n_owners == 1 ? S(t, i)->next : S(t, i)->onext;
}

static void own_unlink(struct dtab *t, uint32_t i)
{
	struct slot *s = S(t, i);
	uint32_t o = s->owner;

	if (t->n_owners == 1)
		return;

	if (s->oprev != DTAB_NIL)
		S(t, s->oprev)->onext = s->onext;
	else
		t->own_head[o] = s->onext;
	if (s->onext != DTAB_NIL)
		S(t, s->onext)->oprev = s->oprev;
	else
		t->own_tail[o] = s->oprev;
	s->oprev = s->onext = DTAB_NIL;
}

static void own_push(struct dtab *t, uint32_t i)
{
	struct slot *s = S(t, i);
	uint32_t o = s->owner;

	if (t->n_owners == 1)
		return;

	s->oprev = DTAB_NIL;
	s->onext = t->own_head[o];
	if (t->own_head[o] != DTAB_NIL)
		S(t, t->own_head[o])->oprev = i;
	t->own_head[o] = i;
	if (t->own_tail[o] == DTAB_NIL)
		t->own_tail[o] = i;
}

static void touch(struct dtab *t, uint32_t i)
{
	if (t->lru_head != i) {
		lru_unlink(t, i);
		lru_push(t, i);
	}
	if (t->n_owners > 1 && t->own_head[S(t, i)->owner] != i) {
		own_unlink(t, i);
		own_push(t, i);
	}
}

static void remove_slot(struct dtab *t, uint32_t i)
{
	struct slot *s = S(t, i);
	uint32_t *pp = &t->bucket[s->hash & (t->nbucket - 1)];

	while (*pp != DTAB_NIL && *pp != i)
		pp = &S(t, *pp)->chain;
	if (*pp == i)
		*pp = s->chain;
	lru_unlink(t, i);
	own_unlink(t, i);
	t->own_n[s->owner]--;
	t->used--;
	memset(t->mem + (size_t)i * t->slot_size, 0, t->slot_size);
	s->chain = t->free_head;
	t->free_head = i;
}

static void evict(struct dtab *t, uint32_t i)
{
	if (t->on_evict)
		t->on_evict(t->ctx, t, val_of(t, i));
	/* The callback may have removed other entries, never this one. */
	if (S(t, i)->used)
		remove_slot(t, i);
}

/* ---- interface ---------------------------------------------------------- */

static uint32_t lookup(struct dtab *t, uint32_t owner, const void *key,
		       uint64_t h)
{
	uint32_t i = t->bucket[h & (t->nbucket - 1)];

	while (i != DTAB_NIL) {
		struct slot *s = S(t, i);
		if (s->hash == h && s->owner == owner &&
		    memcmp(key_of(t, i), key, t->key_len) == 0)
			return i;
		i = s->chain;
	}
	return DTAB_NIL;
}

void *dtab_find(struct dtab *t, uint32_t owner, const void *key)
{
	uint32_t i;

	if (owner >= t->n_owners)
		return NULL;
	i = lookup(t, owner, key, hash_key(t, owner, key));
	if (i == DTAB_NIL)
		return NULL;
	touch(t, i);
	return val_of(t, i);
}

void *dtab_get(struct dtab *t, uint32_t owner, const void *key, int *created)
{
	uint64_t h;
	uint32_t i, b;
	struct slot *s;

	if (owner >= t->n_owners)
		owner = 0;
	h = hash_key(t, owner, key);
	i = lookup(t, owner, key, h);
	if (i != DTAB_NIL) {
		touch(t, i);
		if (created)
			*created = 0;
		return val_of(t, i);
	}
	/* A table whose owner cap is the whole table (one owner) just fills. */
	if (t->per_owner < t->cap && t->own_n[owner] >= t->per_owner &&
	    own_last(t, owner) != DTAB_NIL) {
		atomic_fetch_add_explicit(&t->evicted_quota, 1, memory_order_relaxed);
		evict(t, own_last(t, owner));
	}
	if (t->free_head == DTAB_NIL && t->fresh == t->cap) {
		atomic_fetch_add_explicit(&t->evicted, 1, memory_order_relaxed);
		evict(t, t->lru_tail);
	}
	if (t->free_head != DTAB_NIL) {
		i = t->free_head;
		s = S(t, i);
		t->free_head = s->chain;
	} else {
		i = t->fresh++;
		s = S(t, i);
	}
	s->hash = h;
	s->owner = owner;
	s->used = 1;
	memcpy(t->mem + (size_t)i * t->slot_size + t->key_off, key, t->key_len);
	b = (uint32_t)(h & (t->nbucket - 1));
	s->chain = t->bucket[b];
	t->bucket[b] = i;
	lru_push(t, i);
	own_push(t, i);
	t->own_n[owner]++;
	t->used++;
	if (created)
		*created = 1;
	return val_of(t, i);
}

void dtab_del(struct dtab *t, void *val)
{
	uint32_t i = slot_of_val(t, val);

	if (i < t->cap && S(t, i)->used)
		remove_slot(t, i);
}

uint32_t dtab_del_owner(struct dtab *t, uint32_t owner)
{
	uint32_t n = 0;

	if (owner >= t->n_owners)
		return 0;
	while (own_first(t, owner) != DTAB_NIL) {
		remove_slot(t, own_first(t, owner));
		n++;
	}
	return n;
}

const void *dtab_key(const struct dtab *t, const void *val)
{
	return key_of(t, slot_of_val(t, val));
}

uint32_t dtab_index(const struct dtab *t, const void *val)
{
	return slot_of_val(t, val);
}

void *dtab_at(struct dtab *t, uint32_t index)
{
	if (index >= t->cap || !S(t, index)->used)
		return NULL;
	return val_of(t, index);
}

void *dtab_owner_next(struct dtab *t, uint32_t owner, const void *prev)
{
	uint32_t i;

	if (owner >= t->n_owners)
		return NULL;
	i = prev ? own_next(t, slot_of_val(t, prev)) : own_first(t, owner);
	return i == DTAB_NIL ? NULL : val_of(t, i);
}
