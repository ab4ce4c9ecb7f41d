/*
 * dnscache.h - private to capture/: the per-workload address -> name cache.
 *
 * Each workload (a key such as "namespace/name", or an interface name when
 * no workload is known) has its own view: an address is named for a
 * workload only if that workload's own DNS traffic resolved it.  There is
 * deliberately no global fallback: when a workload never resolved an
 * address, a lookup says so rather than borrowing another workload's name,
 * so one pod's (or one hostile DNS server's) answers can never label
 * another pod's flows.
 *
 * Lifetime of an entry.  A response makes the entry live for its TTL, raised
 * to `ttl_floor_s` (clients such as the JVM or browsers keep answers longer
 * than the tiny TTLs CDNs hand out, and keep connecting to them) and cut to
 * `ttl_cap_s`.  Every lookup that hits extends the entry to at least
 * now + `grace_s`, and moves it to the recent end of the LRU lists.  The
 * pipeline looks the remote address up on each flow event (NEW, UPDATE,
 * END), so a name stays available for as long as a flow to the address
 * lives: consecutive events of a flow are never further apart than the flow
 * table's idle timeout plus its update interval, and the default grace
 * (600 s) covers the default TCP idle timeout (300 s).  Set `grace_s` above
 * the longest idle timeout in use.  The price of not counting references is
 * that a name outlives its last flow by up to `grace_s`; the gain is that a
 * lost or reordered flow event can never leak or strand an entry.
 *
 * Memory is fixed at open: `max_entries` slots of about 320 bytes (the name
 * is stored in the slot, DNS_NAME_MAX bytes), `max_workloads` key slots of
 * about 340 bytes, and the hash buckets - about 21.5 MiB at the defaults,
 * allocated once and touched only as they fill.  A full
 * cache evicts its least recently used entry; a workload holding
 * `max_per_workload` entries evicts its own least recently used one instead,
 * so a single pod resolving endlessly cannot flush the names of the others.
 * Every eviction is counted.  Keys and addresses are hashed with SipHash
 * under a random key.
 *
 * One address, several names (CDNs): the most recent response wins.  The
 * cache is not thread-safe: one owner thread calls everything.  All times
 * are the caller's clock in nanoseconds (packet time in replay).
 */
#ifndef EW_CAPTURE_DNSCACHE_H
#define EW_CAPTURE_DNSCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"

#define DNSCACHE_KEY_MAX 320	/* "namespace/name": 63 + 1 + 253, plus NUL */

struct dnscache_config {
	uint32_t max_entries;		/* address -> name entries, all workloads */
	uint32_t max_per_workload;	/* entries one workload may hold */
	uint32_t max_workloads;		/* distinct keys with entries */
	uint32_t ttl_floor_s;		/* shortest life a response gives */
	uint32_t ttl_cap_s;		/* longest life a response gives */
	uint32_t grace_s;		/* life a hit extends to, from now */
};
/* Defaults: 65536 entries, 8192 per workload, 4096 workloads, TTL floor
 * 60 s, cap 24 h, grace 600 s. */
void dnscache_config_defaults(struct dnscache_config *cfg);

struct dnscache_stats {
	uint64_t entries;		/* live and dead entries held now */
	uint64_t workloads;		/* keys holding at least one entry */
	uint64_t inserts;		/* new (workload, address) entries */
	uint64_t renames;		/* an address re-resolved: name replaced */
	uint64_t refreshes;		/* re-resolved to the same name */
	uint64_t lookups, hits, misses;
	uint64_t hits_after_ttl;	/* hits kept alive by the grace only */
	uint64_t expired;		/* dead entries reclaimed */
	uint64_t evicted;		/* live entries dropped: cache full */
	uint64_t evicted_quota;		/* live entries dropped: workload full */
	uint64_t forgotten;		/* entries dropped by dnscache_forget */
	uint64_t refused_workloads;	/* inserts dropped: max_workloads keys
					 * already hold entries */
	uint64_t refused_bad;		/* inserts dropped: key or name unusable */
};

struct dnscache;

/* NULL with a reason in `err` on a bad config or ENOMEM. */
struct dnscache *dnscache_open(const struct dnscache_config *cfg, char *err,
			       size_t errlen);
/* Free everything.  NULL is a no-op. */
void dnscache_close(struct dnscache *c);

/*
 * Remember that workload `key` resolved `addr` (16-byte mapped form) to
 * `name` (presentation form as in struct dns_event, at most DNS_NAME_MAX - 1
 * bytes) with `ttl_s`, at `now_ns`.  An entry for the same address is
 * overwritten: the name is replaced and the TTL restarts, but a grace
 * extension a live flow earned is kept.  Returns 0, -EINVAL (empty or
 * over-long key or name), or -ENOSPC (max_workloads keys busy); failures are
 * counted.
 */
int dnscache_put(struct dnscache *c, const char *key, const uint8_t addr[16],
		 const char *name, uint32_t ttl_s, uint64_t now_ns);

/*
 * dnscache_put for every address of a parsed response, named after its
 * question (what the workload asked for).  Returns the number of addresses
 * stored.
 */
int dnscache_add_event(struct dnscache *c, const char *key,
		       const struct dns_event *ev, uint64_t now_ns);

/*
 * The name workload `key` last resolved `addr` to.  On a hit, copies the
 * name into `name` (DNS_NAME_MAX bytes), extends the entry's life to at
 * least now + grace_s and returns 0.  Returns -ENOENT when the workload has
 * no live entry for the address; `name` is then "".
 */
int dnscache_lookup(struct dnscache *c, const char *key, const uint8_t addr[16],
		    uint64_t now_ns, char name[DNS_NAME_MAX]);

/* Drop every entry of workload `key` (pod deleted, interface removed).
 * Returns the number of entries dropped. */
size_t dnscache_forget(struct dnscache *c, const char *key);

void dnscache_get_stats(const struct dnscache *c, struct dnscache_stats *out);

#endif
