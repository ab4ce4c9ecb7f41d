/*
 * test_dnscache.c - the per-workload address -> name cache
 * (capture/dnscache.c): TTL floor and cap, the grace that keeps a name
 * while flows use it, per-workload isolation, the LRU and per-workload
 * bounds, re-resolution, and a randomized run against a reference map.
 */
#include <errno.h>

#include "t.h"
#include "capture.h"
#include "util.h"

#define S 1000000000ull
#define T0 (1764344180ull * S)

static struct dnscache *open_cache(uint32_t max_entries, uint32_t per_wl,
				   uint32_t max_wl)
{
	struct dnscache_config cfg;
	char err[128];
	struct dnscache *c;

	dnscache_config_defaults(&cfg);
	if (max_entries)
		cfg.max_entries = max_entries;
	if (per_wl)
		cfg.max_per_workload = per_wl;
	if (max_wl)
		cfg.max_workloads = max_wl;
	c = dnscache_open(&cfg, err, sizeof(err));
	if (!c)
		fprintf(stderr, "dnscache_open: %s\n", err);
	return c;
}

static const uint8_t *ip(const char *s)
{
	static uint8_t buf[8][16];
	static unsigned next;
	uint8_t *b = buf[next++ % 8];

	if (ew_ip_parse(s, b) < 0)
		memset(b, 0, 16);
	return b;
}

/* The name `key` gets for `addr` at `now`, or "" on a miss. */
static const char *name_of(struct dnscache *c, const char *key,
			   const char *addr, uint64_t now)
{
	static char name[DNS_NAME_MAX];

	if (dnscache_lookup(c, key, ip(addr), now, name) < 0)
		return "";
	return name;
}

static struct dnscache_stats stats(struct dnscache *c)
{
	struct dnscache_stats st;

	dnscache_get_stats(c, &st);
	return st;
}

static void defaults_are_the_documented_ones(void)
{
	struct dnscache_config cfg;

	dnscache_config_defaults(&cfg);
	CHECK_EQ_U(cfg.max_entries, 65536);
	CHECK_EQ_U(cfg.max_per_workload, 8192);
	CHECK_EQ_U(cfg.max_workloads, 4096);
	CHECK_EQ_U(cfg.ttl_floor_s, 60);
	CHECK_EQ_U(cfg.ttl_cap_s, 86400);
	CHECK_EQ_U(cfg.grace_s, 600);
}

static void bad_config_is_refused_with_a_reason(void)
{
	struct dnscache_config cfg;
	char err[128] = "";

	dnscache_config_defaults(&cfg);
	cfg.max_entries = 0;
	CHECK(dnscache_open(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "max_entries") != NULL);
	dnscache_config_defaults(&cfg);
	cfg.ttl_floor_s = 100;
	cfg.ttl_cap_s = 50;
	CHECK(dnscache_open(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "floor") != NULL);
	dnscache_config_defaults(&cfg);
	cfg.max_per_workload = 0;
	CHECK(dnscache_open(&cfg, err, sizeof(err)) == NULL);
	dnscache_close(NULL);
}

static void entry_lives_for_its_ttl(void)
{
	struct dnscache *c = open_cache(0, 0, 0);

	CHECK(dnscache_put(c, "prod/web-0", ip("192.0.2.1"), "a.example", 300,
			   T0) == 0);
	CHECK(dnscache_put(c, "prod/web-0", ip("192.0.2.2"), "b.example", 300,
			   T0) == 0);
	CHECK_STR(name_of(c, "prod/web-0", "192.0.2.1", T0 + 300 * S - 1),
		  "a.example");
	CHECK_STR(name_of(c, "prod/web-0", "192.0.2.2", T0 + 300 * S), "");
	CHECK_EQ_U(stats(c).expired, 1);
	CHECK_EQ_U(stats(c).entries, 1);	/* reclaimed by the lookup */
	dnscache_close(c);
}

static void short_ttls_are_raised_to_the_floor(void)
{
	struct dnscache *c = open_cache(0, 0, 0);

	CHECK(dnscache_put(c, "k", ip("192.0.2.1"), "cdn.example", 5, T0) == 0);
	CHECK(dnscache_put(c, "k", ip("192.0.2.2"), "cdn.example", 0, T0) == 0);
	CHECK(dnscache_put(c, "k", ip("192.0.2.3"), "cdn.example", 5, T0) == 0);
	CHECK_STR(name_of(c, "k", "192.0.2.1", T0 + 59 * S), "cdn.example");
	CHECK_STR(name_of(c, "k", "192.0.2.2", T0 + 59 * S), "cdn.example");
	CHECK_STR(name_of(c, "k", "192.0.2.3", T0 + 60 * S), "");
	dnscache_close(c);
}

static void long_ttls_are_cut_to_the_cap(void)
{
	struct dnscache *c = open_cache(0, 0, 0);

	CHECK(dnscache_put(c, "k", ip("2001:db8::1"), "long.example",
			   7 * 86400, T0) == 0);
	CHECK(dnscache_put(c, "k", ip("2001:db8::2"), "long.example",
			   UINT32_MAX, T0) == 0);
	CHECK_STR(name_of(c, "k", "2001:db8::1", T0 + 86400 * S - 1),
		  "long.example");
	CHECK_STR(name_of(c, "k", "2001:db8::2", T0 + 86400 * S), "");
	dnscache_close(c);
}

/* A flow looks the address up on NEW, each UPDATE and END; the name must
 * outlive the TTL for as long as those lookups keep coming, and go a grace
 * period after the last one. */
static void name_stays_while_a_flow_uses_it(void)
{
	struct dnscache *c = open_cache(0, 0, 0);
	uint64_t t = T0 + 10 * S;

	CHECK(dnscache_put(c, "prod/redis-0", ip("203.0.113.66"),
			   "exfil.example", 30, T0) == 0);
	CHECK_STR(name_of(c, "prod/redis-0", "203.0.113.66", t),
		  "exfil.example");				/* NEW */
	for (int i = 0; i < 20; i++) {				/* UPDATEs */
		t += 299 * S;	/* within the default TCP idle timeout */
		CHECK_STR(name_of(c, "prod/redis-0", "203.0.113.66", t),
			  "exfil.example");
	}
	CHECK(t > T0 + 5000 * S);
	CHECK_EQ_U(stats(c).hits_after_ttl, 20);
	CHECK_STR(name_of(c, "prod/redis-0", "203.0.113.66", t + 599 * S),
		  "exfil.example");				/* END */
	t += 599 * S;
	CHECK_STR(name_of(c, "prod/redis-0", "203.0.113.66", t + 600 * S), "");
	dnscache_close(c);
}

static void workloads_only_see_their_own_resolutions(void)
{
	struct dnscache *c = open_cache(0, 0, 0);

	CHECK(dnscache_put(c, "prod/web-0", ip("198.51.100.7"), "shop.example",
			   300, T0) == 0);
	CHECK(dnscache_put(c, "dev/web-0", ip("198.51.100.7"), "evil.example",
			   300, T0) == 0);
	CHECK(dnscache_put(c, "veth9a8b7c", ip("198.51.100.8"), "raw.example",
			   300, T0) == 0);
	CHECK_STR(name_of(c, "prod/web-0", "198.51.100.7", T0), "shop.example");
	CHECK_STR(name_of(c, "dev/web-0", "198.51.100.7", T0), "evil.example");
	/* No global fallback: never resolved by this workload, no name. */
	CHECK_STR(name_of(c, "prod/web-1", "198.51.100.7", T0), "");
	CHECK_STR(name_of(c, "prod/web-0", "198.51.100.8", T0), "");
	CHECK_STR(name_of(c, "veth9a8b7c", "198.51.100.8", T0), "raw.example");
	CHECK_STR(name_of(c, "prod/web", "198.51.100.7", T0), "");
	CHECK_EQ_U(stats(c).workloads, 3);
	dnscache_close(c);
}

static void re_resolution_keeps_the_most_recent_name(void)
{
	struct dnscache *c = open_cache(0, 0, 0);
	struct dns_event ev;

	CHECK(dnscache_put(c, "k", ip("192.0.2.80"), "a.cdn.example", 300,
			   T0) == 0);
	CHECK(dnscache_put(c, "k", ip("192.0.2.80"), "b.cdn.example", 300,
			   T0 + S) == 0);
	CHECK(dnscache_put(c, "k", ip("192.0.2.80"), "b.cdn.example", 300,
			   T0 + 2 * S) == 0);
	CHECK_STR(name_of(c, "k", "192.0.2.80", T0 + 3 * S), "b.cdn.example");
	CHECK_EQ_U(stats(c).entries, 1);
	CHECK_EQ_U(stats(c).inserts, 1);
	CHECK_EQ_U(stats(c).renames, 1);
	CHECK_EQ_U(stats(c).refreshes, 1);

	/* A response names every address it carries after its question. */
	memset(&ev, 0, sizeof(ev));
	strcpy(ev.qname, "c.cdn.example");
	ev.n_addrs = 2;
	memcpy(ev.addr[0], ip("192.0.2.80"), 16);
	memcpy(ev.addr[1], ip("2001:db8::80"), 16);
	ev.ttl[0] = ev.ttl[1] = 120;
	CHECK_EQ_U(dnscache_add_event(c, "k", &ev, T0 + 4 * S), 2);
	CHECK_STR(name_of(c, "k", "192.0.2.80", T0 + 5 * S), "c.cdn.example");
	CHECK_STR(name_of(c, "k", "2001:db8::80", T0 + 5 * S), "c.cdn.example");
	dnscache_close(c);
}

static void re_resolution_keeps_a_flow_s_grace(void)
{
	struct dnscache *c = open_cache(0, 0, 0);

	CHECK(dnscache_put(c, "k", ip("192.0.2.9"), "a.example", 60, T0) == 0);
	CHECK_STR(name_of(c, "k", "192.0.2.9", T0 + 10 * S), "a.example");
	/* dead at T0 + 610 s now; a new answer with a short TTL must not
	 * shorten that */
	CHECK(dnscache_put(c, "k", ip("192.0.2.9"), "b.example", 60,
			   T0 + 20 * S) == 0);
	CHECK_STR(name_of(c, "k", "192.0.2.9", T0 + 609 * S), "b.example");
	dnscache_close(c);
}

static void full_cache_evicts_the_least_recently_used(void)
{
	struct dnscache *c = open_cache(4, 4, 0);
	const char *a[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4",
			   "192.0.2.5", "192.0.2.6"};

	for (int i = 0; i < 4; i++)
		CHECK(dnscache_put(c, i % 2 ? "ns/a" : "ns/b", ip(a[i]), "n.example",
				   300, T0) == 0);
	/* touch the oldest: .2 becomes the least recently used */
	CHECK_STR(name_of(c, "ns/b", a[0], T0 + S), "n.example");
	CHECK(dnscache_put(c, "ns/c", ip(a[4]), "n.example", 300, T0 + 2 * S) == 0);
	CHECK_EQ_U(stats(c).evicted, 1);
	CHECK_EQ_U(stats(c).entries, 4);
	CHECK_STR(name_of(c, "ns/a", a[1], T0 + 3 * S), "");
	CHECK_STR(name_of(c, "ns/b", a[0], T0 + 3 * S), "n.example");
	/* an entry already dead is reclaimed as expired, not evicted */
	CHECK(dnscache_put(c, "ns/c", ip(a[5]), "n.example", 300,
			   T0 + 10000 * S) == 0);
	CHECK_EQ_U(stats(c).evicted, 1);
	CHECK_EQ_U(stats(c).expired, 1);
	CHECK_EQ_U(stats(c).entries, 4);
	dnscache_close(c);
}

static void one_workload_cannot_flush_the_others(void)
{
	struct dnscache *c = open_cache(8, 2, 0);
	char addr[32];

	CHECK(dnscache_put(c, "quiet/db-0", ip("192.0.2.1"), "db.example", 300,
			   T0) == 0);
	CHECK(dnscache_put(c, "quiet/db-0", ip("192.0.2.2"), "db2.example", 300,
			   T0) == 0);
	for (int i = 0; i < 50; i++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", i);
		CHECK(dnscache_put(c, "noisy/bot", ip(addr), "x.example", 300,
				   T0 + (uint64_t)i * S) == 0);
	}
	CHECK_STR(name_of(c, "quiet/db-0", "192.0.2.1", T0 + 60 * S),
		  "db.example");
	CHECK_STR(name_of(c, "quiet/db-0", "192.0.2.2", T0 + 60 * S),
		  "db2.example");
	CHECK_STR(name_of(c, "noisy/bot", "203.0.113.49", T0 + 60 * S),
		  "x.example");
	CHECK_STR(name_of(c, "noisy/bot", "203.0.113.47", T0 + 60 * S), "");
	CHECK_EQ_U(stats(c).evicted_quota, 48);
	CHECK_EQ_U(stats(c).evicted, 0);
	CHECK_EQ_U(stats(c).entries, 4);
	dnscache_close(c);
}

static void workload_slots_are_bounded_and_recycled(void)
{
	struct dnscache *c = open_cache(16, 0, 2);

	CHECK(dnscache_put(c, "a/x", ip("192.0.2.1"), "a.example", 300, T0) == 0);
	CHECK(dnscache_put(c, "b/x", ip("192.0.2.1"), "b.example", 300, T0) == 0);
	CHECK(dnscache_put(c, "c/x", ip("192.0.2.1"), "c.example", 300, T0) ==
	      -ENOSPC);
	CHECK_EQ_U(stats(c).refused_workloads, 1);
	CHECK_EQ_U(dnscache_forget(c, "a/x"), 1);
	CHECK_EQ_U(stats(c).forgotten, 1);
	CHECK_EQ_U(stats(c).workloads, 1);
	CHECK_STR(name_of(c, "a/x", "192.0.2.1", T0), "");
	CHECK(dnscache_put(c, "c/x", ip("192.0.2.1"), "c.example", 300, T0) == 0);
	CHECK_STR(name_of(c, "c/x", "192.0.2.1", T0), "c.example");
	CHECK_STR(name_of(c, "b/x", "192.0.2.1", T0), "b.example");
	/* a workload whose last entry expired gives its slot back too */
	CHECK_STR(name_of(c, "b/x", "192.0.2.1", T0 + 100000 * S), "");
	CHECK_EQ_U(stats(c).workloads, 1);
	CHECK(dnscache_put(c, "d/x", ip("192.0.2.1"), "d.example", 300, T0) == 0);
	CHECK_EQ_U(dnscache_forget(c, "nobody"), 0);
	dnscache_close(c);
}

static void unusable_keys_and_names_are_refused(void)
{
	struct dnscache *c = open_cache(0, 0, 0);
	char longkey[DNSCACHE_KEY_MAX + 1], longname[DNS_NAME_MAX + 1];
	char name[DNS_NAME_MAX];

	memset(longkey, 'k', DNSCACHE_KEY_MAX);
	longkey[DNSCACHE_KEY_MAX] = '\0';
	memset(longname, 'n', DNS_NAME_MAX);
	longname[DNS_NAME_MAX] = '\0';
	CHECK(dnscache_put(c, "", ip("192.0.2.1"), "a.example", 1, T0) == -EINVAL);
	CHECK(dnscache_put(c, longkey, ip("192.0.2.1"), "a.example", 1, T0) ==
	      -EINVAL);
	CHECK(dnscache_put(c, "k", ip("192.0.2.1"), longname, 1, T0) == -EINVAL);
	CHECK(dnscache_put(c, "k", ip("192.0.2.1"), "", 1, T0) == -EINVAL);
	CHECK_EQ_U(stats(c).refused_bad, 4);
	CHECK_EQ_U(stats(c).entries, 0);
	longkey[DNSCACHE_KEY_MAX - 1] = '\0';	/* the longest allowed */
	longname[DNS_NAME_MAX - 1] = '\0';
	CHECK(dnscache_put(c, longkey, ip("192.0.2.1"), longname, 1, T0) == 0);
	CHECK(dnscache_lookup(c, longkey, ip("192.0.2.1"), T0, name) == 0);
	CHECK_STR(name, longname);
	CHECK(dnscache_lookup(c, "", ip("192.0.2.1"), T0, name) == -ENOENT);
	CHECK_STR(name, "");
	dnscache_close(c);
}

/* Random puts, lookups and forgets on a small cache: every hit must return
 * the name last put for that (workload, address), and the bounds hold. */
static void random_operations_agree_with_a_reference_map(void)
{
	enum { NWL = 6, NADDR = 40 };
	static char ref[NWL][NADDR][16];	/* last name put, "" if none */
	struct dnscache *c = open_cache(64, 24, 4);
	uint64_t x = 0x9e3779b97f4a7c15ull, now = T0;
	char key[16], name[DNS_NAME_MAX];
	uint8_t addr[16];
	unsigned hits = 0;

	memset(ref, 0, sizeof(ref));
	for (int step = 0; step < 200000; step++) {
		unsigned op, w, a;
		int r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		op = (unsigned)(x % 100);
		w = (unsigned)(x >> 8) % NWL;
		a = (unsigned)(x >> 16) % NADDR;
		snprintf(key, sizeof(key), "ns/w%u", w);
		memset(addr, 0, 16);
		addr[15] = (uint8_t)a;
		addr[0] = 0x20;
		now += (x >> 40) % 1000 * (S / 1000);	/* up to 1 s */
		if (op < 45) {
			char nm[16];

			snprintf(nm, sizeof(nm), "n%u.example", (unsigned)(x >> 24) % 1000);
			r = dnscache_put(c, key, addr, nm, (uint32_t)(x >> 32) % 3600, now);
			if (r == 0)
				memcpy(ref[w][a], nm, sizeof(nm));
			else
				CHECK(r == -ENOSPC);
		} else if (op < 99) {
			if (dnscache_lookup(c, key, addr, now, name) == 0) {
				CHECK_STR(name, ref[w][a]);
				hits++;
			}
		} else {
			dnscache_forget(c, key);
		}
		if (step % 1000 == 0) {
			struct dnscache_stats st = stats(c);

			CHECK(st.entries <= 64);
			CHECK(st.workloads <= 4);
		}
	}
	CHECK(hits > 1000);
	CHECK(stats(c).evicted > 0);
	CHECK(stats(c).evicted_quota > 0);
	CHECK(stats(c).hits_after_ttl > 0);
	CHECK(stats(c).expired > 0);
	dnscache_close(c);
}

int main(void)
{
	RUN(defaults_are_the_documented_ones);
	RUN(bad_config_is_refused_with_a_reason);
	RUN(entry_lives_for_its_ttl);
	RUN(short_ttls_are_raised_to_the_floor);
	RUN(long_ttls_are_cut_to_the_cap);
	RUN(name_stays_while_a_flow_uses_it);
	RUN(workloads_only_see_their_own_resolutions);
	RUN(re_resolution_keeps_the_most_recent_name);
	RUN(re_resolution_keeps_a_flow_s_grace);
	RUN(full_cache_evicts_the_least_recently_used);
	RUN(one_workload_cannot_flush_the_others);
	RUN(workload_slots_are_bounded_and_recycled);
	RUN(unusable_keys_and_names_are_refused);
	RUN(random_operations_agree_with_a_reference_map);
	return T_DONE();
}
