/*
 * geo.c - country and AS lookups in MaxMind DB files, and the table of
 * special-purpose addresses that are never looked up (see geo.h for the
 * contract).
 *
 * Accepting a database.  libmaxminddb checks the metadata and the size of
 * the search tree when it opens a file, but decodes records only when a
 * lookup reaches them, so a file with a bad pointer or a record pointing
 * past the data section opens fine and fails (or answers garbage) later, on
 * some addresses only.  We would rather refuse such a file at once, with a
 * reason, than find out address by address.  So db_verify() walks the whole
 * search tree (every record must be a node other than the root, "empty",
 * or point inside the data section, never into the 16-byte separator
 * before it), fully decodes the first GEO_VERIFY_RECORDS distinct data
 * records it reaches (all of them in a country database, which has about
 * 250), and requires at least one of them to carry the fields of its slot,
 * so that a database of the wrong kind is refused instead of silently
 * answering nothing.  The walk is linear in the node count: about 20 ms
 * for the default database's 1.3 million nodes.  Lookups that still fail
 * later (data past the decoded sample) are counted per database, never
 * fatal.
 *
 * IPv4 in an IPv6 database.  MaxMind DB files keep IPv4 under ::/96 (and
 * many alias ::ffff:0:0/96 and 2002::/16 to it; the default database does
 * not).  IPv4 is therefore searched as AF_INET, which libmaxminddb starts
 * at the node for ::/96.  An IPv6 database whose tree ends above ::/96 (an
 * empty record, or one data record for all of ::/64 as in the
 * MaxMind-DB-no-ipv4-search-tree test file) has no IPv4 data at all: its
 * answer for ::/64 is not an answer for 8.8.8.8, so such a database is
 * simply not asked about IPv4.  IPv6 is never searched in an IPv4 database.
 *
 * What this file does not do: cache results (a lookup costs well under a
 * microsecond, see tests/unit/test_geo.c), read the names of cities or
 * countries (only codes), or protect a mapping from a file truncated in
 * place (geo.h says to replace by rename).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <maxminddb.h>

#include "policy.h"
#include "util.h"

#ifndef EW_DATADIR
#define EW_DATADIR "/usr/local/share/egresswatch"
#endif
#define DEFAULT_DB_NPM_DIR "node_modules/@ip-location-db/geo-whois-asn-country-mmdb"

#define GEO_VERIFY_RECORDS 4096		/* distinct records decoded on open */
#define GEO_VERIFY_SET 8192		/* hash slots for them: twice as many */
#define GEO_EPOCH_MAX 253402300799ull	/* 9999-12-31T23:59:59Z */
#define GEO_ERR_MAX 512
#define GEO_INFO_MAX 256
#define GEO_TYPE_MAX 64			/* bytes of database_type we show */
#define MMDB_SEPARATOR 16		/* zero bytes between tree and data */

/* ---- special-purpose addresses ---------------------------------------
 * The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890,
 * RFC 8190 and the RFCs of later entries), restricted to blocks that are
 * not globally reachable.  Globally reachable anycast entries of the
 * registries (192.31.196.0/24 and 192.175.48.0/24 AS112, 192.52.193.0/24
 * AMT, 2620:4f:8000::/48) are ordinary destinations and are looked up;
 * so are the anycast addresses inside 192.0.0.0/24 and 2001::/23, whose
 * blocks as a whole are special-purpose and skipped.  The longest matching
 * prefix decides, so 255.255.255.255 is "broadcast" inside 240.0.0.0/4. */

#define V4(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static const struct v4_special {
	uint32_t net;
	uint8_t plen;
	const char *kind;
} v4_special[] = {
	{V4(0, 0, 0, 0), 32, "unspecified"},	/* RFC 1122 3.2.1.3 */
	{V4(0, 0, 0, 0), 8, "reserved"},	/* "this network", RFC 791 */
	{V4(10, 0, 0, 0), 8, "private"},	/* RFC 1918 */
	{V4(100, 64, 0, 0), 10, "cgnat"},	/* shared address space, RFC 6598 */
	{V4(127, 0, 0, 0), 8, "loopback"},	/* RFC 1122 */
	{V4(169, 254, 0, 0), 16, "link-local"},	/* RFC 3927 */
	{V4(172, 16, 0, 0), 12, "private"},	/* RFC 1918 */
	{V4(192, 0, 0, 0), 24, "ietf-protocol"}, /* RFC 6890 */
	{V4(192, 0, 2, 0), 24, "documentation"}, /* TEST-NET-1, RFC 5737 */
	{V4(192, 88, 99, 0), 24, "6to4-relay"},	/* deprecated, RFC 7526 */
	{V4(192, 168, 0, 0), 16, "private"},	/* RFC 1918 */
	{V4(198, 18, 0, 0), 15, "benchmark"},	/* RFC 2544 */
	{V4(198, 51, 100, 0), 24, "documentation"}, /* TEST-NET-2 */
	{V4(203, 0, 113, 0), 24, "documentation"}, /* TEST-NET-3 */
	{V4(224, 0, 0, 0), 4, "multicast"},	/* RFC 5771 */
	{V4(240, 0, 0, 0), 4, "reserved"},	/* RFC 1112 */
	{V4(255, 255, 255, 255), 32, "broadcast"}, /* RFC 919 */
};

/* IPv6 blocks as their first 64 bits (`hi`) and last 64 (`lo`). */
static const struct v6_special {
	uint64_t hi, lo;
	uint8_t plen;
	const char *kind;
} v6_special[] = {
	{0, 0, 128, "unspecified"},		/* RFC 4291 2.5.2 */
	{0, 1, 128, "loopback"},		/* RFC 4291 2.5.3 */
	/* Reserved by the IETF (RFC 4291), with the deprecated
	 * IPv4-compatible ::/96.  ::ffff:0:0/96 is IPv4 here, and
	 * 64:ff9b::/96 is NAT64: both are handled before this table. */
	{0, 0, 8, "reserved"},
	{0x0064ff9b00010000ull, 0, 48, "nat64-local"}, /* RFC 8215 */
	{0x0100000000000000ull, 0, 64, "discard"},	/* RFC 6666 */
	{0x0100000000000001ull, 0, 64, "reserved"},	/* dummy prefix, 2025 */
	{0x2001000000000000ull, 0, 23, "ietf-protocol"}, /* RFC 2928 */
	{0x2001000000000000ull, 0, 32, "teredo"},	/* RFC 4380 */
	{0x2001000200000000ull, 0, 48, "benchmark"},	/* RFC 5180 */
	{0x2001001000000000ull, 0, 28, "orchid"},	/* RFC 4843, deprecated */
	{0x2001002000000000ull, 0, 28, "orchid"},	/* ORCHIDv2, RFC 7343 */
	{0x20010db800000000ull, 0, 32, "documentation"}, /* RFC 3849 */
	{0x3fff000000000000ull, 0, 20, "documentation"}, /* RFC 9637 */
	{0x5f00000000000000ull, 0, 16, "srv6"},	/* SRv6 SIDs, RFC 9602 */
	{0xfc00000000000000ull, 0, 7, "private"},	/* ULA, RFC 4193 */
	{0xfe80000000000000ull, 0, 10, "link-local"},	/* RFC 4291 */
	{0xfec0000000000000ull, 0, 10, "site-local"},	/* deprecated, RFC 3879 */
	{0xff00000000000000ull, 0, 8, "multicast"},	/* RFC 4291 */
};

/* The NAT64 well-known prefix 64:ff9b::/96 (RFC 6052). */
static const uint8_t nat64_wkp[12] = {0, 0x64, 0xff, 0x9b};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static const char *v4_kind(uint32_t a)
{
	const char *kind = NULL;
	int best = -1;

	for (size_t i = 0; i < EW_ARRAY_LEN(v4_special); i++) {
		const struct v4_special *s = &v4_special[i];
		uint32_t mask = s->plen ? ~(uint32_t)0 << (32 - s->plen) : 0;
		if ((a & mask) == s->net && s->plen > best) {
			best = s->plen;
			kind = s->kind;
		}
	}
	return kind;
}

static uint64_t mask64(unsigned bits)
{
	return bits >= 64 ? ~(uint64_t)0 : bits ? ~(uint64_t)0 << (64 - bits) : 0;
}

static const char *v6_kind(const uint8_t ip[16])
{
	uint64_t hi = be64(ip), lo = be64(ip + 8);
	const char *kind = NULL;
	int best = -1;

	for (size_t i = 0; i < EW_ARRAY_LEN(v6_special); i++) {
		const struct v6_special *s = &v6_special[i];
		unsigned hb = s->plen > 64 ? 64 : s->plen;
		unsigned lb = s->plen > 64 ? s->plen - 64u : 0;
		if ((hi & mask64(hb)) == s->hi && (lo & mask64(lb)) == s->lo &&
		    s->plen > best) {
			best = s->plen;
			kind = s->kind;
		}
	}
	return kind;
}

/* What a database is searched with: the address itself, or the IPv4
 * address a mapped, NAT64 or 6to4 address stands for. */
struct key {
	int v4;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} u;
};

/*
 * NAT64 (64:ff9b::/96): the flow goes to the IPv4 host whose address is the
 * last 32 bits, through the translator; RFC 6052 3.1 forbids the prefix
 * for non-global IPv4, so such an embedding is reported as the IPv4
 * address's kind.  6to4 (2002::/16, RFC 3056): the site is the IPv4
 * address in bits 16-47; MaxMind's own databases alias 2002::/16 to their
 * IPv4 tree for the same reason.  The operator-chosen NAT64 prefixes under
 * 64:ff9b:1::/48 have no fixed layout and are not decoded.
 */
static const char *classify(const uint8_t ip[16], struct key *k)
{
	const uint8_t *v4 = ip + 12;	/* where mapped and NAT64 keep it */
	int embeds_v4 = 1;

	if (ip[0] == 0x20 && ip[1] == 0x02)
		v4 = ip + 2;
	else if (!ew_ip_is_v4(ip) && memcmp(ip, nat64_wkp, sizeof(nat64_wkp)) != 0)
		embeds_v4 = 0;

	if (embeds_v4) {
		if (k) {
			memset(&k->u.in4, 0, sizeof(k->u.in4));
			k->v4 = 1;
			k->u.in4.sin_family = AF_INET;
			memcpy(&k->u.in4.sin_addr, v4, 4);
		}
		return v4_kind(be32(v4));
	}
	if (k) {
		memset(&k->u.in6, 0, sizeof(k->u.in6));
		k->v4 = 0;
		k->u.in6.sin6_family = AF_INET6;
		memcpy(&k->u.in6.sin6_addr, ip, 16);
	}
	return v6_kind(ip);
}

const char *geo_reserved_kind(const uint8_t ip[16])
{
	return classify(ip, NULL);
}

/* ---- the geo object ----------------------------------------------------- */

/* What identifies a file's content without reading it. */
struct file_id {
	int valid;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct geodb {
	MMDB_s mmdb;
	int v4;			/* has IPv4 data (IPv4 database or ::/96 subtree) */
};

struct slot {
	int configured;
	char path[GEO_PATH_MAX];	/* "" when the configured one was too long */
	struct geodb *db;		/* NULL: not loaded.  Swapped under mu,
					 * read without it by the owner thread */
	struct file_id loaded;		/* file db was read from */
	struct file_id refused;		/* last file that failed; not retried
					 * until it changes */
	/* Under mu, for geo_status(): */
	char info[GEO_INFO_MAX];	/* description of db */
	char err[GEO_ERR_MAX];		/* why not loaded / why a new file was
					 * refused; "" when neither */
	_Atomic int is_loaded;
	_Atomic uint64_t lookups, errors;
};

struct geo {
	struct slot slot[GEO_DB__COUNT];
	pthread_mutex_t mu;
	_Atomic uint64_t lookups, hits, misses, reserved, errors;
	_Atomic uint64_t reloads, reload_failures;
};

static const char *const slot_names[GEO_DB__COUNT] = {
	[GEO_DB_GEOIP2] = "geoip2",
	[GEO_DB_COUNTRY] = "country",
	[GEO_DB_ASN] = "asn",
};

const char *geo_db_name(enum geo_db_slot slot)
{
	return (unsigned)slot < GEO_DB__COUNT ? slot_names[slot] : "?";
}

/* Every counter has one writer, the owner thread, so a relaxed load and
 * store is an increment, without the cost of a locked read-modify-write;
 * other threads read them with relaxed loads. */
static void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static uint64_t rd(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Copy `n` bytes of `src` as printable ASCII: a backslash doubled, every
 * other byte outside 0x20-0x7e as \xHH.  Stops before an escape that would
 * not fit, so the output never ends in half an escape. */
static void escape_ascii(char *dst, size_t cap, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		char e[4];
		size_t k;

		if (c == '\\') {
			e[0] = e[1] = '\\';
			k = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			e[0] = (char)c;
			k = 1;
		} else {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 15];
			k = 4;
		}
		if (cap - 1 - o < k)
			break;
		memcpy(dst + o, e, k);
		o += k;
	}
	dst[o] = '\0';
}

/* ---- reading records ----------------------------------------------------
 * Each returns 1 (found), 0 (absent) or -EIO (the data is corrupt, or the
 * field has the wrong type or shape).  A missing key is "absent":
 * libmaxminddb reports it as LOOKUP_PATH_DOES_NOT_MATCH_DATA. */

static int get_field(MMDB_entry_s *e, const char *const *path,
		     MMDB_entry_data_s *v)
{
	int r = MMDB_aget_value(e, v, path);

	if (r == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
		return 0;
	if (r != MMDB_SUCCESS)
		return -EIO;
	return v->has_data ? 1 : 0;
}

static int get_country(MMDB_entry_s *e, char cc[3])
{
	static const char *const paths[][3] = {
		{"country_code", NULL},
		{"country", "iso_code", NULL},
		{"registered_country", "iso_code", NULL},
	};

	for (size_t i = 0; i < EW_ARRAY_LEN(paths); i++) {
		MMDB_entry_data_s v;
		int r = get_field(e, paths[i], &v);

		if (r <= 0) {
			if (r < 0)
				return r;
			continue;
		}
		if (v.type != MMDB_DATA_TYPE_UTF8_STRING || v.data_size != 2)
			return -EIO;
		for (int j = 0; j < 2; j++) {
			char c = v.utf8_string[j];
			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			if (c < 'A' || c > 'Z')
				return -EIO;
			cc[j] = c;
		}
		cc[2] = '\0';
		return 1;
	}
	return 0;
}

static int get_asn(MMDB_entry_s *e, uint32_t *asn, char *org, size_t orglen)
{
	static const char *const num_path[] = {"autonomous_system_number", NULL};
	static const char *const org_path[] = {"autonomous_system_organization", NULL};
	MMDB_entry_data_s v;
	uint64_t n = 0;
	int r;

	r = get_field(e, num_path, &v);
	if (r < 0)
		return r;
	if (r > 0) {
		switch (v.type) {
		case MMDB_DATA_TYPE_UINT16: n = v.uint16; break;
		case MMDB_DATA_TYPE_UINT32: n = v.uint32; break;
		case MMDB_DATA_TYPE_UINT64: n = v.uint64; break;
		case MMDB_DATA_TYPE_INT32: n = v.int32 > 0 ? (uint64_t)v.int32 : 0; break;
		default: return -EIO;
		}
		if (n > UINT32_MAX)
			return -EIO;
		*asn = (uint32_t)n;
	}
	r = get_field(e, org_path, &v);
	if (r < 0)
		return r;
	if (r > 0) {
		if (v.type != MMDB_DATA_TYPE_UTF8_STRING)
			return -EIO;
		escape_ascii(org, orglen, v.utf8_string, v.data_size);
	}
	return *asn != 0 || org[0] != '\0';
}

/* Does record `e` carry what slot `s` is for?  1, 0 or -EIO. */
static int has_role(MMDB_entry_s *e, enum geo_db_slot s)
{
	char cc[3], org[GEO_ORG_MAX] = "";
	uint32_t asn = 0;

	if (s == GEO_DB_ASN) {
		int r = get_asn(e, &asn, org, sizeof(org));
		return r < 0 ? r : asn != 0;
	}
	return get_country(e, cc);
}

/* ---- opening and verifying one database -------------------------------- */

static void db_free(struct geodb *d)
{
	if (!d)
		return;
	MMDB_close(&d->mmdb);
	free(d);
}

/* Add `off` to the open-addressed set; 1 if it was new. */
static int set_add(uint32_t *set, uint32_t off)
{
	uint32_t i = (off * 2654435761u) & (GEO_VERIFY_SET - 1);

	while (set[i] != UINT32_MAX) {
		if (set[i] == off)
			return 0;
		i = (i + 1) & (GEO_VERIFY_SET - 1);
	}
	set[i] = off;
	return 1;
}

/* Is there IPv4 data: is ::/95 still inside the tree, so that an AF_INET
 * search ends at /96 or deeper? */
static int has_v4_tree(const MMDB_s *m)
{
	uint32_t node = 0;

	if (m->metadata.ip_version == 4)
		return 1;
	for (int depth = 1; depth < 96; depth++) {
		MMDB_search_node_s s;

		if (MMDB_read_node(m, node, &s) != MMDB_SUCCESS ||
		    s.left_record_type != MMDB_RECORD_TYPE_SEARCH_NODE)
			return 0;
		node = (uint32_t)s.left_record;
	}
	return 1;
}

static int db_verify(struct geodb *d, enum geo_db_slot slot, char *err,
		     size_t errlen)
{
	const MMDB_s *m = &d->mmdb;
	const MMDB_metadata_s *md = &m->metadata;
	uint64_t nc = md->node_count;
	uint32_t *set = NULL, decoded = 0;
	int role = 0, rc = -EINVAL;

	if (md->binary_format_major_version != 2) {
		snprintf(err, errlen, "unsupported format version %u.%u",
			 md->binary_format_major_version,
			 md->binary_format_minor_version);
		return -EINVAL;
	}
	if ((md->ip_version != 4 && md->ip_version != 6) ||
	    (md->record_size != 24 && md->record_size != 28 &&
	     md->record_size != 32) || nc == 0 || !md->database_type) {
		snprintf(err, errlen, "corrupt: invalid metadata (ip_version %u, "
			 "record_size %u, node_count %u)", md->ip_version,
			 md->record_size, md->node_count);
		return -EINVAL;
	}
	if (md->build_epoch > GEO_EPOCH_MAX) {
		snprintf(err, errlen, "corrupt: build_epoch %llu is out of range",
			 (unsigned long long)md->build_epoch);
		return -EINVAL;
	}
	if (!(set = malloc(GEO_VERIFY_SET * sizeof(*set)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memset(set, 0xff, GEO_VERIFY_SET * sizeof(*set));

	for (uint32_t n = 0; n < md->node_count; n++) {
		MMDB_search_node_s s;
		uint64_t rec[2];
		int r = MMDB_read_node(m, n, &s);

		if (r != MMDB_SUCCESS) {
			snprintf(err, errlen, "corrupt: search tree node %u: %s",
				 n, MMDB_strerror(r));
			goto out;
		}
		rec[0] = s.left_record;
		rec[1] = s.right_record;
		for (int i = 0; i < 2; i++) {
			uint64_t off;

			/* The root is never a child: a record back to it is
			 * a loop (libmaxminddb's record_type() agrees). */
			if (rec[i] == 0) {
				snprintf(err, errlen, "corrupt: search tree node %u "
					 "points back to the root", n);
				goto out;
			}
			if (rec[i] <= nc)	/* a node, or "empty" */
				continue;
			if (rec[i] < nc + MMDB_SEPARATOR) {
				snprintf(err, errlen, "corrupt: search tree node %u "
					 "points into the data section separator", n);
				goto out;
			}
			off = rec[i] - nc - MMDB_SEPARATOR;
			if (off >= m->data_section_size) {
				snprintf(err, errlen, "corrupt: search tree node %u "
					 "points past the end of the data section", n);
				goto out;
			}
			if (decoded < GEO_VERIFY_RECORDS &&
			    set_add(set, (uint32_t)off)) {
				MMDB_entry_s e = {.mmdb = m, .offset = (uint32_t)off};
				MMDB_entry_data_list_s *list = NULL;

				decoded++;
				r = MMDB_get_entry_data_list(&e, &list);
				MMDB_free_entry_data_list(list);
				if (r == MMDB_OUT_OF_MEMORY_ERROR) {
					snprintf(err, errlen, "out of memory");
					rc = -ENOMEM;
					goto out;
				}
				if (r != MMDB_SUCCESS) {
					snprintf(err, errlen, "corrupt: data record at "
						 "offset %llu: %s",
						 (unsigned long long)off,
						 MMDB_strerror(r));
					goto out;
				}
				if (!role && has_role(&e, slot) > 0)
					role = 1;
			}
		}
	}
	if (!role) {
		if (slot == GEO_DB_ASN)
			snprintf(err, errlen, "not an ASN database: no record "
				 "has autonomous_system_number");
		else
			snprintf(err, errlen, "not a country database: no record "
				 "has country_code, country.iso_code or "
				 "registered_country.iso_code");
		goto out;
	}
	d->v4 = has_v4_tree(m);
	rc = 0;
out:
	free(set);
	return rc;
}

static void id_from_stat(struct file_id *id, const struct stat *st)
{
	id->valid = 1;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
}

static int id_eq(const struct file_id *a, const struct file_id *b)
{
	return a->valid && b->valid && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void describe(const struct geodb *d, char *info, size_t len)
{
	const MMDB_metadata_s *md = &d->mmdb.metadata;
	char type[GEO_TYPE_MAX], date[16] = "?";
	time_t t = (time_t)md->build_epoch;
	struct tm tm;

	escape_ascii(type, sizeof(type), md->database_type,
		     strlen(md->database_type));
	if (gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	snprintf(info, len, "%s, IPv%u, built %s, %u nodes%s", type,
		 md->ip_version, date, md->node_count,
		 d->v4 ? "" : ", no IPv4 data");
}

/*
 * Open and verify the database at `path` for `slot`.  `id` receives the
 * file's identity as stat(2) saw it before the open (not valid if stat
 * failed): if the file is replaced in between, the recorded identity is the
 * older one, so the next reload check reads the file again rather than
 * keeping a stale copy for ever.  Returns 0 and *out, or a negative errno
 * with the reason in `err`.
 */
static int db_open(const char *path, enum geo_db_slot slot, struct geodb **out,
		   struct file_id *id, char *info, size_t infolen, char *err,
		   size_t errlen)
{
	struct geodb *d;
	struct stat st;
	int r, rc;

	*out = NULL;
	id->valid = 0;
	if (stat(path, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		return rc;
	}
	id_from_stat(id, &st);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return -EINVAL;
	}
	if (st.st_size == 0) {
		snprintf(err, errlen, "empty file");
		return -EINVAL;
	}
	if (!(d = calloc(1, sizeof(*d)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	errno = 0;
	r = MMDB_open(path, MMDB_MODE_MMAP, &d->mmdb);
	if (r != MMDB_SUCCESS) {
		int e = errno;

		free(d);
		switch (r) {
		case MMDB_FILE_OPEN_ERROR:
			snprintf(err, errlen, "%s", strerror(e ? e : EIO));
			return e ? -e : -EIO;
		case MMDB_IO_ERROR:
			snprintf(err, errlen, "read error: %s", strerror(e ? e : EIO));
			return -EIO;
		case MMDB_OUT_OF_MEMORY_ERROR:
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		case MMDB_UNKNOWN_DATABASE_FORMAT_ERROR:
			snprintf(err, errlen, "unsupported MaxMind DB format version");
			return -EINVAL;
		default:
			snprintf(err, errlen, "corrupt, or not a MaxMind DB file: %s",
				 MMDB_strerror(r));
			return -EINVAL;
		}
	}
	if ((rc = db_verify(d, slot, err, errlen)) < 0) {
		db_free(d);
		return rc;
	}
	describe(d, info, infolen);
	*out = d;
	return 0;
}

/* ---- lifetime ------------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct geo *geo_open(const struct geo_config *cfg, char *err, size_t errlen)
{
	const char *paths[GEO_DB__COUNT] = {NULL, NULL, NULL};
	int reported = 0;
	struct geo *g;

	set_err(err, errlen, "%s", "");
	if (cfg) {
		paths[GEO_DB_GEOIP2] = cfg->geoip2;
		paths[GEO_DB_COUNTRY] = cfg->country;
		paths[GEO_DB_ASN] = cfg->asn;
	}
	if (!(g = calloc(1, sizeof(*g)))) {
		set_err(err, errlen, "geo: out of memory");
		return NULL;
	}
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		set_err(err, errlen, "geo: cannot create a mutex");
		return NULL;
	}
	for (int s = 0; s < GEO_DB__COUNT; s++) {
		struct slot *sl = &g->slot[s];
		size_t n;
		int rc;

		if (!paths[s] || !*paths[s])
			continue;
		sl->configured = 1;
		n = strlen(paths[s]);
		if (n >= sizeof(sl->path)) {
			snprintf(sl->err, sizeof(sl->err), "path longer than %d bytes",
				 GEO_PATH_MAX - 1);
			rc = -ENAMETOOLONG;
		} else {
			memcpy(sl->path, paths[s], n + 1);
			rc = db_open(sl->path, (enum geo_db_slot)s, &sl->db,
				     &sl->refused, sl->info, sizeof(sl->info),
				     sl->err, sizeof(sl->err));
		}
		if (rc == -ENOMEM) {
			set_err(err, errlen, "geo: %s: %s: out of memory",
				slot_names[s], sl->path);
			geo_close(g);
			return NULL;
		}
		if (rc == 0) {
			sl->loaded = sl->refused;
			sl->refused.valid = 0;
			atomic_store(&sl->is_loaded, 1);
		} else if (!reported) {
			reported = 1;
			set_err(err, errlen, "%s: %s%s%s", slot_names[s], sl->path,
				sl->path[0] ? ": " : "", sl->err);
		}
	}
	return g;
}

void geo_close(struct geo *g)
{
	if (!g)
		return;
	for (int s = 0; s < GEO_DB__COUNT; s++)
		db_free(g->slot[s].db);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* ---- lookups ------------------------------------------------------------- */

/* Search slot `s` for `k`: 1 and *e when the database has a record, 0 when
 * it has none (or is not loaded, or cannot hold this family), -EIO. */
static int search(struct geo *g, int s, const struct key *k, MMDB_entry_s *e)
{
	struct slot *sl = &g->slot[s];
	const struct geodb *d = sl->db;
	MMDB_lookup_result_s res;
	int r;

	if (!d || (k->v4 ? !d->v4 : d->mmdb.metadata.ip_version != 6))
		return 0;
	bump(&sl->lookups);
	res = MMDB_lookup_sockaddr(&d->mmdb, &k->u.sa, &r);
	if (r != MMDB_SUCCESS) {
		bump(&sl->errors);
		return -EIO;
	}
	if (!res.found_entry)
		return 0;
	*e = res.entry;
	return 1;
}

int geo_lookup(struct geo *g, const uint8_t ip[16], struct geo_result *out)
{
	int found = 0, failed = 0, r;
	MMDB_entry_s e;
	struct key k;

	out->country[0] = '\0';
	out->asn = 0;
	out->as_org[0] = '\0';
	out->reserved = classify(ip, &k);
	if (!g)
		return -ENOENT;
	bump(&g->lookups);
	if (out->reserved) {
		bump(&g->reserved);
		return -ENOENT;
	}

	for (int s = GEO_DB_GEOIP2; s <= GEO_DB_COUNTRY && !out->country[0]; s++) {
		if ((r = search(g, s, &k, &e)) > 0 &&
		    (r = get_country(&e, out->country)) < 0) {
			bump(&g->slot[s].errors);
			out->country[0] = '\0';
		}
		if (r < 0)
			failed = 1;
		else if (r > 0)
			found = 1;
	}
	if ((r = search(g, GEO_DB_ASN, &k, &e)) > 0 &&
	    (r = get_asn(&e, &out->asn, out->as_org, sizeof(out->as_org))) < 0) {
		bump(&g->slot[GEO_DB_ASN].errors);
		out->asn = 0;
		out->as_org[0] = '\0';
	}
	if (r < 0)
		failed = 1;
	else if (r > 0)
		found = 1;

	bump(found ? &g->hits : &g->misses);
	if (failed) {
		bump(&g->errors);
		return -EIO;
	}
	return found ? 0 : -ENOENT;
}

/* ---- reload -------------------------------------------------------------- */

int geo_reload_if_changed(struct geo *g)
{
	int swapped = 0;

	if (!g)
		return 0;
	for (int s = 0; s < GEO_DB__COUNT; s++) {
		struct slot *sl = &g->slot[s];
		char info[GEO_INFO_MAX], why[GEO_ERR_MAX];
		struct geodb *d, *old;
		struct file_id id;
		struct stat st;
		int rc;

		if (!sl->path[0] || stat(sl->path, &st) < 0)
			continue;	/* a vanished file is not a replacement */
		id_from_stat(&id, &st);
		if (sl->db && id_eq(&id, &sl->loaded)) {
			if (sl->refused.valid) {
				/* the refused file was replaced by the one we
				 * have: nothing is pending any more */
				pthread_mutex_lock(&g->mu);
				sl->err[0] = '\0';
				pthread_mutex_unlock(&g->mu);
				sl->refused.valid = 0;
			}
			continue;
		}
		if (id_eq(&id, &sl->refused))
			continue;

		rc = db_open(sl->path, (enum geo_db_slot)s, &d, &id, info,
			     sizeof(info), why, sizeof(why));
		if (rc == 0) {
			pthread_mutex_lock(&g->mu);
			old = sl->db;
			sl->db = d;
			sl->loaded = id;
			sl->refused.valid = 0;
			memcpy(sl->info, info, sizeof(info));
			sl->err[0] = '\0';
			atomic_store(&sl->is_loaded, 1);
			pthread_mutex_unlock(&g->mu);
			db_free(old);
			bump(&g->reloads);
			swapped++;
			log_info("geo: %s: loaded %s (%s)", slot_names[s], sl->path,
				 info);
			continue;
		}
		pthread_mutex_lock(&g->mu);
		memcpy(sl->err, why, sizeof(why));
		pthread_mutex_unlock(&g->mu);
		sl->refused = id;
		bump(&g->reload_failures);
		log_warnx("geo: %s: %s: refused: %s; %s", slot_names[s], sl->path,
			  why, sl->db ? "keeping the loaded copy" :
					"running without this database");
	}
	return swapped;
}

/* ---- status -------------------------------------------------------------- */

int geo_status(struct geo *g, enum geo_db_slot slot, char *buf, size_t len)
{
	const struct slot *sl;
	int loaded;

	if ((unsigned)slot >= GEO_DB__COUNT) {
		snprintf(buf, len, "?: no such database slot");
		return 0;
	}
	if (!g) {
		snprintf(buf, len, "%s: not configured", slot_names[slot]);
		return 0;
	}
	sl = &g->slot[slot];
	pthread_mutex_lock(&g->mu);
	loaded = sl->db != NULL;
	if (!sl->configured)
		snprintf(buf, len, "%s: not configured", slot_names[slot]);
	else if (loaded)
		snprintf(buf, len, "%s: ok: %s (%s)%s%s", slot_names[slot],
			 sl->path, sl->info,
			 sl->err[0] ? "; replacement refused: " : "", sl->err);
	else
		snprintf(buf, len, "%s: unavailable: %s%s%s", slot_names[slot],
			 sl->path, sl->path[0] ? ": " : "", sl->err);
	pthread_mutex_unlock(&g->mu);
	return loaded;
}

void geo_get_stats(struct geo *g, struct geo_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!g)
		return;
	out->lookups = rd(&g->lookups);
	out->hits = rd(&g->hits);
	out->misses = rd(&g->misses);
	out->reserved_skipped = rd(&g->reserved);
	out->errors = rd(&g->errors);
	out->reloads = rd(&g->reloads);
	out->reload_failures = rd(&g->reload_failures);
	for (int s = 0; s < GEO_DB__COUNT; s++) {
		out->db[s].loaded = (uint8_t)atomic_load_explicit(
			&g->slot[s].is_loaded, memory_order_relaxed);
		out->db[s].lookups = rd(&g->slot[s].lookups);
		out->db[s].errors = rd(&g->slot[s].errors);
	}
}

/* ---- where the default database lives ------------------------------------ */

static int is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int geo_default_country_path(char *out, size_t len)
{
	static const char fixed[] = EW_DATADIR "/" GEO_DEFAULT_COUNTRY_FILE;
	char exe[PATH_MAX], cand[4][PATH_MAX + 128], real[PATH_MAX];
	const char *pick = fixed;
	size_t nc = 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash = NULL;
	int rc = -ENOENT;

	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')))
			*slash = '\0';
	}
	if (slash)
		snprintf(cand[nc++], sizeof(cand[0]), "%s/../share/egresswatch/%s",
			 exe, GEO_DEFAULT_COUNTRY_FILE);
	snprintf(cand[nc++], sizeof(cand[0]), "%s", fixed);
	if (slash)
		snprintf(cand[nc++], sizeof(cand[0]), "%s/../%s/%s", exe,
			 DEFAULT_DB_NPM_DIR, GEO_DEFAULT_COUNTRY_FILE);
#ifdef EW_SOURCE_DIR
	snprintf(cand[nc++], sizeof(cand[0]), "%s/%s/%s", EW_SOURCE_DIR,
		 DEFAULT_DB_NPM_DIR, GEO_DEFAULT_COUNTRY_FILE);
#endif
	for (size_t i = 0; i < nc; i++) {
		if (is_file(cand[i])) {
			pick = realpath(cand[i], real) ? real : cand[i];
			rc = 0;
			break;
		}
	}
	if (strlen(pick) >= len)
		return -ENAMETOOLONG;
	memcpy(out, pick, strlen(pick) + 1);
	return rc;
}
