/*
 * geo.h - private to policy/ (to be merged into policy.h): the country and
 * autonomous system of a remote address, read from MaxMind DB files with
 * libmaxminddb, and the special-purpose addresses that are never looked up.
 *
 * Databases.  Three optional slots, each a MaxMind DB file:
 *   GEO_DB_GEOIP2   a GeoIP2/GeoLite2 Country or City database
 *   GEO_DB_COUNTRY  the default country database shipped with egresswatch
 *                   (geo-whois-asn-country.mmdb, records {country_code})
 *   GEO_DB_ASN      a GeoLite2/GeoIP2 ASN (or ISP) database
 * Any slot may be empty, missing or broken: geo_open() still succeeds with
 * the databases that work, and geo_status() says, per slot, what was loaded
 * or why not.  A file is accepted only after a full check (see geo.c): a
 * corrupt or truncated database, or one of the wrong kind (an ASN database
 * in a country slot), is refused with a reason rather than answering
 * lookups wrongly.  The country comes from the first country slot that
 * knows the address, GEO_DB_GEOIP2 before GEO_DB_COUNTRY; either slot reads
 * `country_code`, then `country.iso_code`, then `registered_country.iso_code`.
 *
 * Order of enrichment.  Named networks of the policy (policy_network_name)
 * and the cluster's own ranges come first: the pipeline asks the policy,
 * and calls geo_lookup() only for addresses the policy does not name.  A
 * flow to a named network carries the name and no country/ASN guess.
 *
 * Special-purpose addresses (private, loopback, link-local, CGNAT,
 * documentation, multicast, ...; geo_reserved_kind()) are never looked up:
 * databases map some of them to a country (the default database puts
 * 172.16.0.0/12 and 192.168.0.0/16 in AU), and a country shown for a
 * private address would be a lie on the dashboard.  NAT64 (64:ff9b::/96)
 * and 6to4 (2002::/16) addresses are looked up by the IPv4 address they
 * embed, and are special-purpose when that address is.
 *
 * Threads.  One owner thread (the pipeline) calls geo_lookup() and
 * geo_reload_if_changed(); neither locks.  geo_status() and geo_get_stats()
 * may be called from any thread at any time (dashboard, /metrics).
 * geo_reserved_kind() is pure and thread-safe.  Every function accepts a
 * NULL geo (no databases), so a caller need not special-case running
 * without any.
 *
 * Replacing a database.  geo_reload_if_changed() notices a file whose
 * (device, inode, size, mtime) changed and loads it in full before swapping
 * it in; a broken replacement is refused, counted and logged once, and the
 * loaded copy keeps serving.  Replace files by rename(2) (geoipupdate, `mv`
 * and `install` do; `cp` onto the file does not): the loaded copy is
 * mmap(2)ed, and a file truncated or rewritten in place under a running
 * agent can make the kernel kill it with SIGBUS when a lookup touches a
 * page that is no longer there.
 *
 * Addresses are 16 bytes, IPv4 as ::ffff:a.b.c.d (util.h).  Errors are
 * negative errno values.
 */
#ifndef EW_POLICY_GEO_H
#define EW_POLICY_GEO_H

#include <stddef.h>
#include <stdint.h>

#define GEO_ORG_MAX 128		/* bytes of geo_result.as_org, NUL included */
#define GEO_PATH_MAX 1024	/* bytes of a configured path, NUL included */
#define GEO_STATUS_MAX 2048	/* enough for any geo_status() line */

/* The default country database's file name, looked for by
 * geo_default_country_path(). */
#define GEO_DEFAULT_COUNTRY_FILE "geo-whois-asn-country.mmdb"

enum geo_db_slot {
	GEO_DB_GEOIP2 = 0,	/* GeoIP2/GeoLite2 Country or City */
	GEO_DB_COUNTRY,		/* default country database */
	GEO_DB_ASN,		/* GeoLite2/GeoIP2 ASN or ISP */
	GEO_DB__COUNT
};

/* Paths of the databases; NULL or "" leaves a slot empty.  Copied by
 * geo_open(). */
struct geo_config {
	const char *geoip2;
	const char *country;
	const char *asn;
};

struct geo_result {
	char country[3];		/* ISO 3166-1 alpha-2, upper case, or "" */
	uint32_t asn;			/* 0: unknown */
	/* AS organisation, or "".  Printable ASCII only: a backslash becomes
	 * "\\", any other byte outside 0x20-0x7e "\xHH" (UTF-8 is kept as
	 * its escaped bytes); cut at a whole character to fit. */
	char as_org[GEO_ORG_MAX];
	/* geo_reserved_kind() of the address when it is special-purpose
	 * (nothing was looked up), else NULL. */
	const char *reserved;
};

struct geo_stats {
	uint64_t lookups;		/* geo_lookup() calls */
	uint64_t hits;			/* a country or an ASN found */
	uint64_t misses;		/* looked up, nothing found */
	uint64_t reserved_skipped;	/* special-purpose: nothing looked up */
	uint64_t errors;		/* lookups on which a database failed */
	uint64_t reloads;		/* databases (re)loaded after geo_open() */
	uint64_t reload_failures;	/* replacements refused, old copy kept */
	struct {
		uint8_t loaded;		/* 1: the slot answers lookups */
		uint64_t lookups;	/* searches in this database */
		uint64_t errors;	/* of which failed (corrupt data) */
	} db[GEO_DB__COUNT];
};
/* lookups == hits + misses + reserved_skipped (exactly on the owner
 * thread; another thread may read them one lookup apart). */

struct geo;

/*
 * Open the configured databases.  Returns NULL only when memory runs out
 * (`err` says so); a database that cannot be used leaves its slot empty and
 * the rest working.  `err` (may be NULL) receives "" when
 * every configured database loaded, else the first failure as
 * "<slot>: <path>: <reason>", for the caller to log as a warning; the
 * status of every slot is in geo_status().  A configured file that is
 * missing at open is picked up by geo_reload_if_changed() once it appears.
 * Verifying a database reads its whole search tree: about 20 ms for the
 * default country database (1.3 million nodes).
 */
struct geo *geo_open(const struct geo_config *cfg, char *err, size_t errlen);
/* Unmap every database and free `g`.  NULL is a no-op. */
void geo_close(struct geo *g);

/*
 * Country and AS of `ip`, into `out` (always fully set).  Returns 0 when a
 * database knew the address, -ENOENT when none did or the address is
 * special-purpose (out->reserved then says which kind), -EIO when a
 * database failed on it (corrupt data; counted, and `out` holds what the
 * other databases found).  `g` may be NULL: then only the special-purpose
 * classification is made.  Owner thread only; never allocates, never logs.
 */
int geo_lookup(struct geo *g, const uint8_t ip[16], struct geo_result *out);

/*
 * The kind of special-purpose address `ip` is, or NULL for an address that
 * may be looked up.  Kinds: "unspecified", "reserved", "private" (RFC 1918,
 * fc00::/7), "cgnat", "loopback", "link-local", "site-local",
 * "ietf-protocol", "documentation", "6to4-relay", "benchmark",
 * "multicast", "broadcast", "nat64-local", "discard", "teredo", "orchid",
 * "srv6".  A static string; any thread.
 */
const char *geo_reserved_kind(const uint8_t ip[16]);

/*
 * Check each configured file's identity (device, inode, size, mtime) and
 * load the ones that changed or appeared; a new copy is verified in full
 * before it replaces the old one.  A replacement that fails is refused:
 * the old copy stays, reload_failures is counted and one warning logged per
 * distinct bad file (the same file is not retried until it changes again).
 * A file that disappears is not a replacement: the loaded copy stays.
 * Returns the number of databases swapped in.  Owner thread only, the same
 * thread that calls geo_lookup(); call it every few tens of seconds (a
 * stat(2) per configured database when nothing changed).
 */
int geo_reload_if_changed(struct geo *g);

/*
 * One human-readable line on database `slot`, for the log and the
 * dashboard, e.g.
 *   "country: ok: /usr/share/egresswatch/geo-whois-asn-country.mmdb
 *    (country ipvAll, IPv6, built 2026-06-17, 1306595 nodes)"
 *   "asn: unavailable: /var/lib/GeoIP/GeoLite2-ASN.mmdb: No such file or directory"
 *   "geoip2: not configured"
 * with "; replacement refused: <reason>" appended while a newer file is
 * being refused.  Returns 1 if the slot answers lookups, else 0.  Any thread.
 */
int geo_status(struct geo *g, enum geo_db_slot slot, char *buf, size_t len);
/* "geoip2", "country", "asn". */
const char *geo_db_name(enum geo_db_slot slot);

/* Counters, read with relaxed atomics; any thread. */
void geo_get_stats(struct geo *g, struct geo_stats *out);

/*
 * Where the default country database is, tried in this order:
 *   <dir of the running binary>/../share/egresswatch/GEO_DEFAULT_COUNTRY_FILE
 *   EW_DATADIR/GEO_DEFAULT_COUNTRY_FILE          (compile-time data dir)
 *   <dir of the running binary>/../node_modules/@ip-location-db/
 *       geo-whois-asn-country-mmdb/GEO_DEFAULT_COUNTRY_FILE  (source tree)
 *   EW_SOURCE_DIR/node_modules/...                (compile-time source dir)
 * Writes the first that exists and returns 0; when none does, writes the
 * EW_DATADIR path (so messages name where it should be) and returns
 * -ENOENT.  -ENAMETOOLONG when `len` is too small.
 */
int geo_default_country_path(char *out, size_t len);

#endif
