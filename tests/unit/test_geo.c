/*
 * test_geo.c - country/AS lookups and special-purpose addresses
 * (policy/geo.c).
 *
 * What is pinned down:
 *  - every boundary of every special-purpose block: first and last address
 *    in, the neighbours out; NAT64 and 6to4 judged by the IPv4 they embed;
 *  - the facts of $EW_TESTDATA/mmdb/ORACLE.txt (mmdblookup 1.7.1), parsed
 *    from the file: each country, registered-country fallback, ASN and AS
 *    organisation it lists for the databases we read.  Documented
 *    differences: addresses that are special-purpose are never looked up,
 *    whatever the database says (the default database puts 172.16.0.1 and
 *    192.168.1.1 in AU; MaxMind's test database answers for the deprecated
 *    IPv4-compatible ::81.2.69.160, which we call "reserved");
 *  - the default country database from node_modules (skipped with a note
 *    when absent), in its IPv4+IPv6, IPv4-only and IPv6-only forms;
 *  - IPv4 in IPv4-only and IPv6 databases and in an IPv6 database without
 *    an IPv4 tree, with MaxMind's files and with databases this test writes
 *    itself (a small MaxMind DB writer below), so layouts and odd values
 *    (lower-case codes, 16/64-bit AS numbers, non-ASCII organisations) are
 *    exactly known;
 *  - every corrupt database of mmdb/bad-data and the broken files at the
 *    top of mmdb/: refused with a reason, no crash, the other databases
 *    keep answering;
 *  - reload: a database replaced by rename is picked up; a broken
 *    replacement is refused once, counted, and the old copy keeps serving;
 *  - the counters, and the lookup rate (printed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <maxminddb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "policy.h"
#include "util.h"

#define NPM_DIR "node_modules/@ip-location-db/geo-whois-asn-country-mmdb"
#define TP_MAX (PATH_MAX + 256)	/* every path buffer of this test */

static char tmpdir[64];

static void ip_of(const char *s, uint8_t out[16])
{
	int rc = ew_ip_parse(s, out);

	if (rc != 0)
		fprintf(stderr, "bad address in test: %s\n", s);
	CHECK(rc == 0);
}

/* $EW_SOURCE (set by ctest), else the source tree this file is in. */
static const char *source_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("EW_SOURCE");
	char *p;

	if (env && *env)
		return env;
	snprintf(dir, sizeof(dir), "%s", __FILE__);
	for (int i = 0; i < 3 && (p = strrchr(dir, '/')); i++)
		*p = '\0';
	return dir;
}

/* $EW_TESTDATA (set by ctest), else ../shared/testdata next to the source
 * tree as ctest would set it, else NULL: the tests that need MaxMind's
 * files then say they are skipped. */
static const char *testdata(void)
{
	static char dir[TP_MAX];
	struct stat st;

	if (t_testdata())
		return t_testdata();
	snprintf(dir, sizeof(dir), "%s/../shared/testdata", source_dir());
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? dir : NULL;
}

#define NEED_TESTDATA()                                                     \
	do {                                                                \
		if (!testdata()) {                                          \
			printf("     skipped: no test data (EW_TESTDATA)\n"); \
			return;                                             \
		}                                                           \
	} while (0)

static const char *mmdb_path(const char *name)
{
	static char path[4][TP_MAX];
	static int next;
	char *p = path[next++ & 3];

	snprintf(p, sizeof(path[0]), "%s/mmdb/%s", testdata() ? testdata() : ".",
		 name);
	return p;
}

static const char *npm_path(const char *name)
{
	static char path[TP_MAX];

	snprintf(path, sizeof(path), "%s/%s/%s", source_dir(), NPM_DIR, name);
	return path;
}

static int exists(const char *path)
{
	return access(path, R_OK) == 0;
}

static struct geo *open1(enum geo_db_slot slot, const char *path, char *err,
			 size_t errlen)
{
	struct geo_config cfg = {0};

	if (slot == GEO_DB_GEOIP2)
		cfg.geoip2 = path;
	else if (slot == GEO_DB_COUNTRY)
		cfg.country = path;
	else
		cfg.asn = path;
	return geo_open(&cfg, err, errlen);
}

/* Look `addr` up; returns geo_lookup's value. */
static int look(struct geo *g, const char *addr, struct geo_result *r)
{
	uint8_t ip[16];

	ip_of(addr, ip);
	return geo_lookup(g, ip, r);
}

static const char *kind_of(const char *addr)
{
	uint8_t ip[16];

	ip_of(addr, ip);
	return geo_reserved_kind(ip);
}

/* ---- a small MaxMind DB writer ------------------------------------------
 * Enough of the format (MaxMind DB 2.0) for tests: a search tree of 24-,
 * 28- or 32-bit records built by inserting prefixes (a more specific prefix
 * inserted under a less specific one splits it), a data section of maps,
 * strings and unsigned integers, and the metadata. */

enum { R_EMPTY, R_NODE, R_DATA };
struct wrec {
	uint8_t kind;
	uint32_t v;		/* node index or data offset */
};

struct wbuf {
	uint8_t b[8192];
	size_t n;
};

struct wdb {
	unsigned ipver, record_size;
	struct wrec node[2048][2];
	uint32_t n;
	struct wbuf data;
};

static void wb_put(struct wbuf *b, unsigned v)
{
	CHECK(b->n < sizeof(b->b));
	if (b->n < sizeof(b->b))
		b->b[b->n++] = (uint8_t)v;
}

/* Control byte, extended type byte, size bytes (spec: "Data Field Format"). */
static void wb_ctrl(struct wbuf *b, unsigned type, size_t size)
{
	unsigned first = type <= 7 ? type << 5 : 0;

	if (size < 29) {
		wb_put(b, first | (unsigned)size);
		if (type > 7)
			wb_put(b, type - 7);
	} else if (size < 285) {
		wb_put(b, first | 29);
		if (type > 7)
			wb_put(b, type - 7);
		wb_put(b, (unsigned)(size - 29));
	} else {
		CHECK(size < 285 + 65536);
		wb_put(b, first | 30);
		if (type > 7)
			wb_put(b, type - 7);
		wb_put(b, (unsigned)(size - 285) >> 8);
		wb_put(b, (unsigned)(size - 285) & 0xff);
	}
}

static void wb_str(struct wbuf *b, const char *s)
{
	size_t n = strlen(s);

	wb_ctrl(b, MMDB_DATA_TYPE_UTF8_STRING, n);
	for (size_t i = 0; i < n; i++)
		wb_put(b, (unsigned char)s[i]);
}

/* An unsigned integer of MMDB type `type`, in as few bytes as it needs. */
static void wb_uint(struct wbuf *b, unsigned type, uint64_t v)
{
	unsigned n = 0;

	for (uint64_t x = v; x; x >>= 8)
		n++;
	wb_ctrl(b, type, n);
	while (n--)
		wb_put(b, (unsigned)(v >> (8 * n)) & 0xff);
}

static void wb_map(struct wbuf *b, size_t pairs)
{
	wb_ctrl(b, MMDB_DATA_TYPE_MAP, pairs);
}

static void w_init(struct wdb *w, unsigned ipver, unsigned record_size)
{
	memset(w, 0, sizeof(*w));
	w->ipver = ipver;
	w->record_size = record_size;
	w->n = 1;
}

/* Record {"country_code": cc}, as in the default database. */
static uint32_t w_cc(struct wdb *w, const char *cc)
{
	uint32_t off = (uint32_t)w->data.n;

	wb_map(&w->data, 1);
	wb_str(&w->data, "country_code");
	wb_str(&w->data, cc);
	return off;
}

/* Record {"country": {"iso_code"}, "registered_country": {"iso_code"}} as
 * in GeoIP2; NULL leaves a key out. */
static uint32_t w_geoip2(struct wdb *w, const char *country, const char *reg)
{
	uint32_t off = (uint32_t)w->data.n;

	wb_map(&w->data, (country != NULL) + (reg != NULL));
	if (country) {
		wb_str(&w->data, "country");
		wb_map(&w->data, 1);
		wb_str(&w->data, "iso_code");
		wb_str(&w->data, country);
	}
	if (reg) {
		wb_str(&w->data, "registered_country");
		wb_map(&w->data, 1);
		wb_str(&w->data, "iso_code");
		wb_str(&w->data, reg);
	}
	return off;
}

/* Record {"autonomous_system_number": <type> asn, "..._organization": org}. */
static uint32_t w_asn(struct wdb *w, unsigned type, uint64_t asn, const char *org)
{
	uint32_t off = (uint32_t)w->data.n;

	wb_map(&w->data, org ? 2 : 1);
	wb_str(&w->data, "autonomous_system_number");
	wb_uint(&w->data, type, asn);
	if (org) {
		wb_str(&w->data, "autonomous_system_organization");
		wb_str(&w->data, org);
	}
	return off;
}

/* Map `cidr` to the record at `off`.  An IPv4 block in an IPv6 database
 * goes where MaxMind puts IPv4: under ::/96. */
static void w_insert(struct wdb *w, const char *cidr, uint32_t off)
{
	struct ew_cidr c;
	const uint8_t *a;
	unsigned plen, node = 0;
	int v4;

	CHECK(ew_cidr_parse(cidr, &c) == 0);
	v4 = ew_ip_is_v4(c.lo);
	if (w->ipver == 4) {
		CHECK(v4);
		a = c.lo + 12;
		plen = c.prefix - 96u;
	} else {
		if (v4)
			c.lo[10] = c.lo[11] = 0;
		a = c.lo;
		plen = c.prefix;
	}
	for (unsigned i = 0; i < plen; i++) {
		struct wrec *r = &w->node[node][a[i / 8] >> (7 - i % 8) & 1];

		if (i + 1 == plen) {
			r->kind = R_DATA;
			r->v = off;
			return;
		}
		if (r->kind != R_NODE) {
			uint32_t nn = w->n++;

			CHECK(nn < EW_ARRAY_LEN(w->node));
			w->node[nn][0] = w->node[nn][1] = *r;
			r->kind = R_NODE;
			r->v = nn;
		}
		node = r->v;
	}
}

static uint32_t w_value(const struct wdb *w, const struct wrec *r)
{
	return r->kind == R_NODE ? r->v :
	       r->kind == R_EMPTY ? w->n : w->n + 16 + r->v;
}

/* Write the database to `path` through a temporary file and rename(2),
 * the way a database should be replaced under a running agent. */
static void w_write(const struct wdb *w, const char *path, const char *type)
{
	static struct wbuf meta;
	char tmp[TP_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CHECK((f = fopen(tmp, "wb")) != NULL);
	if (!f)
		return;
	for (uint32_t i = 0; i < w->n; i++) {
		uint32_t l = w_value(w, &w->node[i][0]), r = w_value(w, &w->node[i][1]);
		uint8_t b[8];
		size_t n;

		if (w->record_size == 24) {
			uint8_t x[6] = {l >> 16, l >> 8, l, r >> 16, r >> 8, r};
			memcpy(b, x, n = 6);
		} else if (w->record_size == 28) {
			uint8_t x[7] = {l >> 16, l >> 8, l,
					(uint8_t)((l >> 24 & 0x0f) << 4 | (r >> 24 & 0x0f)),
					r >> 16, r >> 8, r};
			memcpy(b, x, n = 7);
		} else {
			uint8_t x[8] = {l >> 24, l >> 16, l >> 8, l,
					r >> 24, r >> 16, r >> 8, r};
			memcpy(b, x, n = 8);
		}
		fwrite(b, 1, n, f);
	}
	for (int i = 0; i < 16; i++)
		fputc(0, f);
	fwrite(w->data.b, 1, w->data.n, f);
	fwrite("\xab\xcd\xefMaxMind.com", 1, 14, f);

	meta.n = 0;
	wb_map(&meta, 9);
	wb_str(&meta, "binary_format_major_version");
	wb_uint(&meta, MMDB_DATA_TYPE_UINT16, 2);
	wb_str(&meta, "binary_format_minor_version");
	wb_uint(&meta, MMDB_DATA_TYPE_UINT16, 0);
	wb_str(&meta, "build_epoch");
	wb_uint(&meta, MMDB_DATA_TYPE_UINT64, 1781725900);
	wb_str(&meta, "database_type");
	wb_str(&meta, type);
	wb_str(&meta, "description");
	wb_map(&meta, 1);
	wb_str(&meta, "en");
	wb_str(&meta, "egresswatch test database");
	wb_str(&meta, "ip_version");
	wb_uint(&meta, MMDB_DATA_TYPE_UINT16, w->ipver);
	wb_str(&meta, "languages");
	wb_ctrl(&meta, MMDB_DATA_TYPE_ARRAY, 1);
	wb_str(&meta, "en");
	wb_str(&meta, "node_count");
	wb_uint(&meta, MMDB_DATA_TYPE_UINT32, w->n);
	wb_str(&meta, "record_size");
	wb_uint(&meta, MMDB_DATA_TYPE_UINT16, w->record_size);
	fwrite(meta.b, 1, meta.n, f);
	CHECK(fclose(f) == 0);
	CHECK(rename(tmp, path) == 0);
}

static const char *tmp_path(const char *name)
{
	static char path[4][TP_MAX];
	static int next;
	char *p = path[next++ & 3];

	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	return p;
}

/* A one-country database: `cidr` -> country_code `cc`. */
static void write_cc_db(const char *path, const char *cidr, const char *cc)
{
	static struct wdb w;

	w_init(&w, 6, 24);
	w_insert(&w, cidr, w_cc(&w, cc));
	w_write(&w, path, "egresswatch-test-country");
}

/* Copy the first `n` bytes of `src` (all when n == 0) to `dst` by rename. */
static void copy_file(const char *src, const char *dst, size_t n)
{
	char tmp[TP_MAX + 8], buf[65536];
	FILE *in = fopen(src, "rb"), *out;
	size_t k, total = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	out = fopen(tmp, "wb");
	CHECK(in && out);
	if (!in || !out) {
		if (in)
			fclose(in);
		if (out)
			fclose(out);
		return;
	}
	while ((k = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (n && total + k > n)
			k = n - total;
		fwrite(buf, 1, k, out);
		total += k;
		if (n && total >= n)
			break;
	}
	fclose(in);
	CHECK(fclose(out) == 0);
	CHECK(rename(tmp, dst) == 0);
}

/* ---- special-purpose addresses ------------------------------------------ */

static const struct {
	const char *addr;
	const char *kind;	/* NULL: an ordinary address, looked up */
} boundaries[] = {
	/* IPv4: each block's first and last address, and its neighbours */
	{"0.0.0.0", "unspecified"}, {"0.0.0.1", "reserved"},
	{"0.255.255.255", "reserved"}, {"1.0.0.0", NULL},
	{"9.255.255.255", NULL}, {"10.0.0.0", "private"},
	{"10.255.255.255", "private"}, {"11.0.0.0", NULL},
	{"100.63.255.255", NULL}, {"100.64.0.0", "cgnat"},
	{"100.127.255.255", "cgnat"}, {"100.128.0.0", NULL},
	{"126.255.255.255", NULL}, {"127.0.0.0", "loopback"},
	{"127.255.255.255", "loopback"}, {"128.0.0.0", NULL},
	{"169.253.255.255", NULL}, {"169.254.0.0", "link-local"},
	{"169.254.255.255", "link-local"}, {"169.255.0.0", NULL},
	{"172.15.255.255", NULL}, {"172.16.0.0", "private"},
	{"172.31.255.255", "private"}, {"172.32.0.0", NULL},
	{"191.255.255.255", NULL}, {"192.0.0.0", "ietf-protocol"},
	{"192.0.0.255", "ietf-protocol"}, {"192.0.1.0", NULL},
	{"192.0.1.255", NULL}, {"192.0.2.0", "documentation"},
	{"192.0.2.255", "documentation"}, {"192.0.3.0", NULL},
	{"192.88.98.255", NULL}, {"192.88.99.0", "6to4-relay"},
	{"192.88.99.255", "6to4-relay"}, {"192.88.100.0", NULL},
	{"192.167.255.255", NULL}, {"192.168.0.0", "private"},
	{"192.168.255.255", "private"}, {"192.169.0.0", NULL},
	{"198.17.255.255", NULL}, {"198.18.0.0", "benchmark"},
	{"198.19.255.255", "benchmark"}, {"198.20.0.0", NULL},
	{"198.51.99.255", NULL}, {"198.51.100.0", "documentation"},
	{"198.51.100.255", "documentation"}, {"198.51.101.0", NULL},
	{"203.0.112.255", NULL}, {"203.0.113.0", "documentation"},
	{"203.0.113.255", "documentation"}, {"203.0.114.0", NULL},
	{"223.255.255.255", NULL}, {"224.0.0.0", "multicast"},
	{"239.255.255.255", "multicast"}, {"240.0.0.0", "reserved"},
	{"255.255.255.254", "reserved"}, {"255.255.255.255", "broadcast"},
	/* globally reachable registry entries are ordinary destinations */
	{"192.31.196.1", NULL}, {"192.52.193.1", NULL}, {"192.175.48.1", NULL},
	{"8.8.8.8", NULL},
	/* IPv4-mapped is IPv4 */
	{"::ffff:10.0.0.1", "private"}, {"::ffff:8.8.8.8", NULL},
	{"::ffff:0.0.0.0", "unspecified"},

	/* IPv6 */
	{"::", "unspecified"}, {"::1", "loopback"}, {"::2", "reserved"},
	{"::81.2.69.160", "reserved"},	/* IPv4-compatible, deprecated */
	{"::fffe:ffff:ffff", "reserved"}, {"::1:0:0:0", "reserved"},
	{"ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"},
	{"100::", "discard"}, {"100::ffff:ffff:ffff:ffff", "discard"},
	{"100:0:0:1::", "reserved"}, {"100:0:0:1:ffff:ffff:ffff:ffff", "reserved"},
	{"100:0:0:2::", NULL},
	{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
	{"2000::", NULL},
	{"2001::", "teredo"}, {"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "teredo"},
	{"2001:1::", "ietf-protocol"}, {"2001:1::1", "ietf-protocol"},
	{"2001:1:ffff:ffff:ffff:ffff:ffff:ffff", "ietf-protocol"},
	{"2001:2::", "benchmark"}, {"2001:2:0:ffff:ffff:ffff:ffff:ffff", "benchmark"},
	{"2001:2:1::", "ietf-protocol"},
	{"2001:f:ffff:ffff:ffff:ffff:ffff:ffff", "ietf-protocol"},
	{"2001:10::", "orchid"}, {"2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", "orchid"},
	{"2001:20::", "orchid"}, {"2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", "orchid"},
	{"2001:30::", "ietf-protocol"},
	{"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "ietf-protocol"},
	{"2001:200::", NULL},
	{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
	{"2001:db8::", "documentation"},
	{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"},
	{"2001:db9::", NULL},
	{"2001:4860:4860::8888", NULL}, {"2620:4f:8000::1", NULL},
	{"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
	{"3fff::", "documentation"},
	{"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"},
	{"3fff:1000::", NULL},
	{"5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL}, {"5f00::", "srv6"},
	{"5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "srv6"}, {"5f01::", NULL},
	{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL}, {"fc00::", "private"},
	{"fd00::1", "private"},
	{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "private"}, {"fe00::", NULL},
	{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
	{"fe80::", "link-local"},
	{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"},
	{"fec0::", "site-local"},
	{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local"},
	{"ff00::", "multicast"}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"},

	/* NAT64 well-known prefix: judged by the embedded IPv4 */
	{"64:ff9b::808:808", NULL}, {"64:ff9b::a00:1", "private"},
	{"64:ff9b::", "unspecified"}, {"64:ff9b::c0a8:101", "private"},
	{"64:ff9b::ffff:ffff", "broadcast"},
	{"64:ff9b::1:0:0", "reserved"},	/* outside the /96: ::/8 */
	{"64:ff9b:0:ffff:ffff:ffff:ffff:ffff", "reserved"},
	/* local-use NAT64 prefix: layout unknown, never looked up */
	{"64:ff9b:1::", "nat64-local"},
	{"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "nat64-local"},
	{"64:ff9b:1::808:808", "nat64-local"},
	{"64:ff9b:2::", "reserved"},
	/* 6to4: judged by the IPv4 in bits 16-47 */
	{"2002::", "unspecified"}, {"2002:808:808::1", NULL},
	{"2002:c0a8:101::1", "private"}, {"2002:a9fe:1::", "link-local"},
	{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "broadcast"},
	{"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL}, {"2003::", NULL},
};

static void special_purpose_boundaries(void)
{
	for (size_t i = 0; i < EW_ARRAY_LEN(boundaries); i++) {
		const char *got = kind_of(boundaries[i].addr);
		const char *want = boundaries[i].kind;

		if (want ? !got || strcmp(got, want) != 0 : got != NULL) {
			fprintf(stderr, "  %s: kind %s, want %s\n", boundaries[i].addr,
				got ? got : "(none)", want ? want : "(none)");
			CHECK(0);
		}
	}
}

static void reserved_lookup_without_databases(void)
{
	struct geo_result r;
	uint8_t ip[16];

	ip_of("192.168.1.1", ip);
	memset(&r, 0x55, sizeof(r));
	CHECK(geo_lookup(NULL, ip, &r) == -ENOENT);
	CHECK_STR(r.reserved, "private");
	CHECK_STR(r.country, "");
	CHECK_STR(r.as_org, "");
	CHECK_EQ_U(r.asn, 0);

	ip_of("8.8.8.8", ip);
	CHECK(geo_lookup(NULL, ip, &r) == -ENOENT);
	CHECK(r.reserved == NULL);

	/* An empty configuration is a working geo that knows nothing. */
	struct geo *g = geo_open(NULL, NULL, 0);
	struct geo_stats st;
	char line[GEO_STATUS_MAX];

	CHECK(g != NULL);
	CHECK(geo_lookup(g, ip, &r) == -ENOENT);
	for (int s = 0; s < GEO_DB__COUNT; s++) {
		CHECK(geo_status(g, (enum geo_db_slot)s, line, sizeof(line)) == 0);
		CHECK(strstr(line, "not configured") != NULL);
	}
	CHECK(geo_reload_if_changed(g) == 0);
	geo_get_stats(g, &st);
	CHECK_EQ_U(st.lookups, 1);
	CHECK_EQ_U(st.misses, 1);
	geo_close(g);

	/* NULL is a geo without databases everywhere. */
	geo_close(NULL);
	CHECK(geo_reload_if_changed(NULL) == 0);
	CHECK(geo_status(NULL, GEO_DB_ASN, line, sizeof(line)) == 0);
	CHECK_STR(line, "asn: not configured");
	geo_get_stats(NULL, &st);
	CHECK_EQ_U(st.lookups, 0);
}

/* ---- the oracle ----------------------------------------------------------- */

struct fact {
	char file[128], ip[64], path[64], value[128];
	int kind;		/* 's' string, 'n' number, 'N' not found,
				 * 'A' key absent, 'b' boolean */
};

#define FACTS_MAX 256
static struct fact facts[FACTS_MAX];
static size_t n_facts;

static char *trim(char *s)
{
	char *e;

	while (*s == ' ')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int load_oracle(void)
{
	char path[TP_MAX], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s", mmdb_path("ORACLE.txt"));
	if (!(f = fopen(path, "r")))
		return -errno;
	n_facts = 0;
	while (fgets(line, sizeof(line), f) && n_facts < FACTS_MAX) {
		char *field[4], *p = line;
		struct fact *x = &facts[n_facts];
		int n = 0;

		if (line[0] == '#')
			continue;
		for (char *bar; n < 3 && (bar = strstr(p, " | ")); p = bar + 3) {
			*bar = '\0';
			field[n++] = trim(p);
		}
		if (n != 3)
			continue;
		field[3] = trim(p);
		snprintf(x->file, sizeof(x->file), "%s", field[0]);
		snprintf(x->ip, sizeof(x->ip), "%s", field[1]);
		snprintf(x->path, sizeof(x->path), "%s", field[2]);
		if (field[3][0] == '"') {
			char *end = strrchr(field[3] + 1, '"');
			if (end)
				*end = '\0';
			x->kind = 's';
			snprintf(x->value, sizeof(x->value), "%s", field[3] + 1);
		} else if (field[3][0] >= '0' && field[3][0] <= '9') {
			x->kind = 'n';
			snprintf(x->value, sizeof(x->value), "%s", field[3]);
		} else if (strncmp(field[3], "Could not find", 14) == 0) {
			x->kind = 'N';
		} else if (strstr(field[3], "lookup path does not match")) {
			x->kind = 'A';
		} else {
			x->kind = 'b';
		}
		n_facts++;
	}
	fclose(f);
	return 0;
}

/* The registered_country fact for (file, ip), or NULL. */
static const struct fact *registered_fact(const struct fact *x)
{
	for (size_t i = 0; i < n_facts; i++)
		if (strcmp(facts[i].file, x->file) == 0 &&
		    strcmp(facts[i].ip, x->ip) == 0 &&
		    strcmp(facts[i].path, "registered_country iso_code") == 0)
			return &facts[i];
	return NULL;
}

static void oracle_facts(void)
{
	size_t checked = 0, reserved = 0, other = 0, absent = 0;
	char path[TP_MAX], err[512];

	NEED_TESTDATA();
	if (load_oracle() != 0) {
		printf("     skipped: no %s\n", mmdb_path("ORACLE.txt"));
		return;
	}
	CHECK(n_facts > 60);
	for (size_t i = 0; i < n_facts; i++) {
		const struct fact *x = &facts[i];
		enum geo_db_slot slot;
		struct geo_stats before, after;
		struct geo_result r;
		struct geo *g;
		int is_country = strcmp(x->path, "country iso_code") == 0 ||
				 strcmp(x->path, "country_code") == 0;
		int is_asn = strncmp(x->path, "autonomous_system_", 18) == 0;
		int rc;

		if (!is_country && !is_asn) {
			other++;	/* city names, traits, registered-only */
			continue;
		}
		if (strncmp(x->file, "../npm/geo-whois-asn-country-mmdb/", 34) == 0) {
			snprintf(path, sizeof(path), "%s", npm_path(x->file + 34));
			slot = GEO_DB_COUNTRY;
		} else {
			snprintf(path, sizeof(path), "%s", mmdb_path(x->file));
			slot = strstr(x->file, "ASN") ? GEO_DB_ASN : GEO_DB_GEOIP2;
		}
		if (!exists(path)) {
			absent++;
			continue;
		}
		g = open1(slot, path, err, sizeof(err));
		CHECK(g != NULL);
		if (!g)
			continue;
		CHECK_STR(err, "");
		geo_get_stats(g, &before);
		rc = look(g, x->ip, &r);
		geo_get_stats(g, &after);

		if (r.reserved) {
			/* Never looked up, whatever the oracle says. */
			reserved++;
			printf("     %s %s: %s, not looked up (mmdblookup: %s)\n",
			       x->file[0] == '.' ? "default-db" : x->file, x->ip,
			       r.reserved, x->kind == 's' ? x->value : "no entry");
			CHECK(rc == -ENOENT);
			CHECK_EQ_U(after.db[slot].lookups, before.db[slot].lookups);
			CHECK_EQ_U(after.reserved_skipped, before.reserved_skipped + 1);
			geo_close(g);
			continue;
		}
		checked++;
		CHECK(rc == 0 || rc == -ENOENT);
		CHECK_EQ_U(after.db[slot].lookups, before.db[slot].lookups + 1);
		if (is_country) {
			const struct fact *reg = registered_fact(x);
			const char *want = x->kind == 's' ? x->value :
					   x->kind == 'A' && reg && reg->kind == 's' ?
					   reg->value : "";
			if (strcmp(r.country, want) != 0)
				fprintf(stderr, "  %s %s: country \"%s\", oracle \"%s\"\n",
					x->file, x->ip, r.country, want);
			CHECK_STR(r.country, want);
			if (x->kind == 'N')
				CHECK(rc == -ENOENT);
		} else if (strcmp(x->path, "autonomous_system_number") == 0) {
			unsigned long want = x->kind == 'n' ? strtoul(x->value, NULL, 10) : 0;
			CHECK_EQ_U(r.asn, want);
		} else {
			CHECK_STR(r.as_org, x->kind == 's' ? x->value : "");
		}
		geo_close(g);
	}
	printf("     ORACLE.txt: %zu facts, %zu checked, %zu special-purpose "
	       "(never looked up), %zu about fields we do not read, "
	       "%zu with the database absent\n",
	       n_facts, checked, reserved, other, absent);
	CHECK(checked >= 40);
}

/* ---- MaxMind test databases ------------------------------------------------ */

static void geoip2_country_and_city_read_iso_code(void)
{
	static const struct {
		const char *file, *ip, *cc;
	} cases[] = {
		/* mmdblookup 1.7.1 ... country iso_code */
		{"GeoIP2-City-Test.mmdb", "81.2.69.160", "GB"},
		{"GeoIP2-City-Test.mmdb", "89.160.20.128", "SE"},
		{"GeoIP2-City-Test.mmdb", "2001:218::1", "JP"},
		{"GeoLite2-City-Test.mmdb", "81.2.69.160", "GB"},
		{"GeoIP2-Country-Test.mmdb", "2a02:d3c0::1", "GB"},
		/* registered_country only (mmdblookup: country absent, RO) */
		{"GeoIP2-Enterprise-Test.mmdb", "5.83.124.1", "RO"},
	};
	char err[512];

	NEED_TESTDATA();
	for (size_t i = 0; i < EW_ARRAY_LEN(cases); i++) {
		struct geo *g = open1(GEO_DB_GEOIP2, mmdb_path(cases[i].file), err,
				      sizeof(err));
		struct geo_result r;

		CHECK(g != NULL);
		if (!g)
			continue;
		CHECK_STR(err, "");
		CHECK(look(g, cases[i].ip, &r) == 0);
		CHECK_STR(r.country, cases[i].cc);
		geo_close(g);
	}
}

/* country.iso_code first, registered_country.iso_code when there is no
 * country, in a database written here. */
static void country_then_registered_country(void)
{
	static struct wdb w;
	const char *p = tmp_path("geoip2.mmdb");
	char err[512];
	struct geo_result r;
	struct geo *g;

	w_init(&w, 6, 24);
	w_insert(&w, "5.0.0.0/24", w_geoip2(&w, "FR", "DE"));
	w_insert(&w, "5.0.1.0/24", w_geoip2(&w, NULL, "RO"));
	w_insert(&w, "5.0.2.0/24", w_geoip2(&w, NULL, NULL));
	w_insert(&w, "5.0.3.0/24", w_geoip2(&w, "X", "DE"));
	w_write(&w, p, "test-geoip2");
	g = open1(GEO_DB_GEOIP2, p, err, sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK_STR(err, "");
	CHECK(look(g, "5.0.0.1", &r) == 0);
	CHECK_STR(r.country, "FR");
	CHECK(look(g, "5.0.1.1", &r) == 0);
	CHECK_STR(r.country, "RO");
	CHECK(look(g, "5.0.2.1", &r) == -ENOENT);
	CHECK_STR(r.country, "");
	CHECK(look(g, "5.0.3.1", &r) == -EIO);	/* a code that is no code */
	CHECK_STR(r.country, "");
	geo_close(g);
	unlink(p);
}

static void asn_database_and_isp_database(void)
{
	char err[512], line[GEO_STATUS_MAX];
	struct geo_result r;
	struct geo *g;

	NEED_TESTDATA();
	/* GeoIP2-ISP carries the same two fields at the top level. */
	g = open1(GEO_DB_ASN, mmdb_path("GeoIP2-ISP-Test.mmdb"), err, sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK_STR(err, "");
	CHECK(geo_status(g, GEO_DB_ASN, line, sizeof(line)) == 1);
	CHECK(strstr(line, "asn: ok: ") == line);
	CHECK(strstr(line, "GeoIP2-ISP, IPv6") != NULL);
	CHECK(look(g, "1.128.0.1", &r) == 0);
	CHECK_EQ_U(r.asn, 1221);
	CHECK_STR(r.as_org, "Telstra Pty Ltd");
	CHECK_STR(r.country, "");
	geo_close(g);

	/* Number without organisation (12.81.96.1 in the oracle). */
	g = open1(GEO_DB_ASN, mmdb_path("GeoLite2-ASN-Test.mmdb"), err, sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK(look(g, "12.81.96.1", &r) == 0);
	CHECK_EQ_U(r.asn, 7018);
	CHECK_STR(r.as_org, "");
	geo_close(g);
}

/* The generic MaxMind test files hold {"ip": ...} records: not a country
 * or ASN database, and refused as such. */
static void databases_of_the_wrong_kind_are_refused(void)
{
	static const char *generic[] = {
		"MaxMind-DB-test-ipv4-24.mmdb", "MaxMind-DB-test-ipv4-28.mmdb",
		"MaxMind-DB-test-ipv4-32.mmdb", "MaxMind-DB-test-ipv6-24.mmdb",
		"MaxMind-DB-test-mixed-32.mmdb", "MaxMind-DB-no-ipv4-search-tree.mmdb",
		"MaxMind-DB-test-decoder.mmdb", "MaxMind-DB-string-value-entries.mmdb",
		"GeoIP2-Connection-Type-Test.mmdb", "GeoIP2-Domain-Test.mmdb",
	};
	char err[512], line[GEO_STATUS_MAX];
	struct geo *g;

	NEED_TESTDATA();
	for (size_t i = 0; i < EW_ARRAY_LEN(generic); i++) {
		g = open1(GEO_DB_COUNTRY, mmdb_path(generic[i]), err, sizeof(err));
		CHECK(g != NULL);
		if (!g)
			continue;
		CHECK(strstr(err, "not a country database") != NULL);
		CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 0);
		CHECK(strstr(line, "country: unavailable: ") == line);
		geo_close(g);
	}
	g = open1(GEO_DB_COUNTRY, mmdb_path("GeoLite2-ASN-Test.mmdb"), err, sizeof(err));
	CHECK(g && strstr(err, "not a country database: no record has country_code"));
	geo_close(g);
	g = open1(GEO_DB_ASN, mmdb_path("GeoIP2-Country-Test.mmdb"), err, sizeof(err));
	CHECK(g && strstr(err, "not an ASN database") != NULL);
	geo_close(g);
}

/* Every corrupt file: refused with a reason, no crash, and the database
 * next to it keeps answering. */
static void check_refused(const char *path, size_t *n)
{
	struct geo_config cfg = {
		.country = path,
		.asn = mmdb_path("GeoLite2-ASN-Test.mmdb"),
	};
	char err[512], line[GEO_STATUS_MAX];
	struct geo_result r;
	struct geo_stats st;
	struct geo *g = geo_open(&cfg, err, sizeof(err));

	CHECK(g != NULL);
	if (!g)
		return;
	(*n)++;
	printf("     %s\n", strrchr(err, '/') ? strrchr(err, '/') + 1 : err);
	CHECK(strncmp(err, "country: ", 9) == 0);
	CHECK(strstr(err, path) != NULL);
	CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 0);
	CHECK(strstr(line, "country: unavailable: ") == line);
	CHECK(geo_status(g, GEO_DB_ASN, line, sizeof(line)) == 1);
	CHECK(look(g, "1.0.0.1", &r) == 0);
	CHECK_EQ_U(r.asn, 15169);
	CHECK_STR(r.as_org, "Google Inc.");
	CHECK_STR(r.country, "");
	CHECK(look(g, "2001:1700::1", &r) == 0);
	CHECK_EQ_U(r.asn, 6730);
	geo_get_stats(g, &st);
	CHECK(!st.db[GEO_DB_COUNTRY].loaded && st.db[GEO_DB_ASN].loaded);
	CHECK_EQ_U(st.db[GEO_DB_COUNTRY].lookups, 0);
	CHECK_EQ_U(st.errors, 0);
	/* Reload does not retry an unchanged bad file, nor log it again. */
	CHECK(geo_reload_if_changed(g) == 0);
	geo_get_stats(g, &st);
	CHECK_EQ_U(st.reload_failures, 0);
	geo_close(g);
}

static void corrupt_databases_are_refused(void)
{
	static const char *dirs[] = {"bad-data/libmaxminddb",
				     "bad-data/maxminddb-golang",
				     "bad-data/maxminddb-python"};
	static const char *top[] = {
		"GeoIP2-City-Test-Broken-Double-Format.mmdb",
		"GeoIP2-City-Test-Invalid-Node-Count.mmdb",
		"MaxMind-DB-test-broken-pointers-24.mmdb",
		"MaxMind-DB-test-broken-search-tree-24.mmdb",
	};
	size_t n = 0;

	NEED_TESTDATA();
	for (size_t d = 0; d < EW_ARRAY_LEN(dirs); d++) {
		char dir[TP_MAX];
		struct dirent *e;
		DIR *dp;

		snprintf(dir, sizeof(dir), "%s", mmdb_path(dirs[d]));
		CHECK((dp = opendir(dir)) != NULL);
		if (!dp)
			continue;
		while ((e = readdir(dp))) {
			char path[TP_MAX + 256];
			size_t len = strlen(e->d_name);

			if (len < 5 || strcmp(e->d_name + len - 5, ".mmdb") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			check_refused(path, &n);
		}
		closedir(dp);
	}
	for (size_t i = 0; i < EW_ARRAY_LEN(top); i++)
		check_refused(mmdb_path(top[i]), &n);
	printf("     %zu corrupt databases refused\n", n);
	CHECK(n >= 25);
}

static void unusable_files_have_clear_reasons(void)
{
	char err[512], longpath[GEO_PATH_MAX + 16], line[GEO_STATUS_MAX];
	const char *text = tmp_path("not-a-db.mmdb");
	const char *empty = tmp_path("empty.mmdb");
	const char *cut = tmp_path("cut.mmdb");
	struct geo *g;
	FILE *f;

	NEED_TESTDATA();
	g = open1(GEO_DB_COUNTRY, "/nonexistent/geo.mmdb", err, sizeof(err));
	CHECK(g != NULL);
	CHECK_STR(err, "country: /nonexistent/geo.mmdb: No such file or directory");
	CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 0);
	CHECK_STR(line, "country: unavailable: /nonexistent/geo.mmdb: "
			"No such file or directory");
	geo_close(g);

	g = open1(GEO_DB_ASN, tmpdir, err, sizeof(err));
	CHECK(g && strstr(err, ": not a regular file") != NULL);
	geo_close(g);

	CHECK((f = fopen(empty, "w")) != NULL);
	if (f)
		fclose(f);
	g = open1(GEO_DB_ASN, empty, err, sizeof(err));
	CHECK(g && strstr(err, ": empty file") != NULL);
	geo_close(g);

	CHECK((f = fopen(text, "w")) != NULL);
	if (f) {
		fputs("country_code,US\n", f);
		fclose(f);
	}
	g = open1(GEO_DB_ASN, text, err, sizeof(err));
	CHECK(g && strstr(err, ": corrupt, or not a MaxMind DB file") != NULL);
	geo_close(g);

	/* A download cut short. */
	copy_file(mmdb_path("GeoIP2-Country-Test.mmdb"), cut, 9000);
	g = open1(GEO_DB_GEOIP2, cut, err, sizeof(err));
	CHECK(g && strstr(err, "geoip2: ") == err && strstr(err, "corrupt") != NULL);
	geo_close(g);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	g = open1(GEO_DB_ASN, longpath, err, sizeof(err));
	CHECK(g && strstr(err, "path longer than") != NULL);
	CHECK(geo_reload_if_changed(g) == 0);
	geo_close(g);

	/* Out of room for the reason: still no overflow. */
	g = open1(GEO_DB_ASN, "/nonexistent/geo.mmdb", err, 8);
	CHECK(g && strlen(err) == 7);
	geo_close(g);
}

/* ---- address families and layouts ------------------------------------------ */

static void ipv4_and_ipv6_layouts_written_here(void)
{
	static struct wdb w;
	const char *p4 = tmp_path("v4.mmdb"), *p6 = tmp_path("v6.mmdb");
	const char *pn = tmp_path("nov4.mmdb");
	char err[512], line[GEO_STATUS_MAX];
	struct geo_result r;
	struct geo *g;

	for (unsigned rs = 24; rs <= 32; rs += 4) {
		/* IPv4-only database */
		w_init(&w, 4, rs);
		w_insert(&w, "8.8.8.0/24", w_cc(&w, "US"));
		w_insert(&w, "81.2.69.0/24", w_cc(&w, "gb"));	/* lower case */
		w_insert(&w, "81.2.69.128/25", w_cc(&w, "GBR")); /* not alpha-2 */
		w_write(&w, p4, "test-v4");
		g = open1(GEO_DB_COUNTRY, p4, err, sizeof(err));
		CHECK(g != NULL);
		if (!g)
			return;
		CHECK_STR(err, "");
		CHECK(look(g, "8.8.8.8", &r) == 0);
		CHECK_STR(r.country, "US");
		CHECK(look(g, "64:ff9b::8.8.8.4", &r) == 0);	/* NAT64 */
		CHECK_STR(r.country, "US");
		CHECK(look(g, "2002:808:808::1", &r) == 0);	/* 6to4 */
		CHECK_STR(r.country, "US");
		CHECK(look(g, "8.8.9.1", &r) == -ENOENT);
		CHECK(look(g, "81.2.69.1", &r) == 0);
		CHECK_STR(r.country, "GB");
		CHECK(look(g, "81.2.69.200", &r) == -EIO);	/* counted */
		CHECK_STR(r.country, "");
		/* IPv6 is not searched in an IPv4 database: a miss, not an error */
		CHECK(look(g, "2001:4860:4860::8888", &r) == -ENOENT);
		struct geo_stats st;
		geo_get_stats(g, &st);
		CHECK_EQ_U(st.db[GEO_DB_COUNTRY].lookups, 6);
		CHECK_EQ_U(st.db[GEO_DB_COUNTRY].errors, 1);
		CHECK_EQ_U(st.errors, 1);
		CHECK_EQ_U(st.hits, 4);
		CHECK_EQ_U(st.misses, 3);
		geo_close(g);

		/* IPv6 database, IPv4 under ::/96 */
		w_init(&w, 6, rs);
		w_insert(&w, "8.8.8.0/24", w_cc(&w, "US"));
		w_insert(&w, "2001:4860::/32", w_cc(&w, "DE"));
		w_write(&w, p6, "test-v6");
		g = open1(GEO_DB_COUNTRY, p6, err, sizeof(err));
		CHECK(g != NULL);
		if (!g)
			return;
		CHECK_STR(err, "");
		CHECK(look(g, "8.8.8.8", &r) == 0);
		CHECK_STR(r.country, "US");
		CHECK(look(g, "::ffff:8.8.8.8", &r) == 0);
		CHECK_STR(r.country, "US");
		CHECK(look(g, "2001:4860:4860::8888", &r) == 0);
		CHECK_STR(r.country, "DE");
		CHECK(look(g, "2001:4861::1", &r) == -ENOENT);
		geo_close(g);
	}

	/* IPv6 database with one record for ::/64 and no IPv4 tree, the
	 * layout of MaxMind-DB-no-ipv4-search-tree.mmdb: the ::/64 record is
	 * not an answer for IPv4. */
	w_init(&w, 6, 24);
	w_insert(&w, "::/64", w_cc(&w, "ZZ"));
	w_insert(&w, "2001:4860::/32", w_cc(&w, "DE"));
	w_write(&w, pn, "test-no-ipv4");
	g = open1(GEO_DB_COUNTRY, pn, err, sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK_STR(err, "");
	CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 1);
	CHECK(strstr(line, ", no IPv4 data") != NULL);
	CHECK(look(g, "8.8.8.8", &r) == -ENOENT);
	CHECK_STR(r.country, "");
	CHECK(look(g, "2001:4860::1", &r) == 0);
	CHECK_STR(r.country, "DE");
	struct geo_stats st;
	geo_get_stats(g, &st);
	CHECK_EQ_U(st.db[GEO_DB_COUNTRY].lookups, 1);	/* IPv4 never asked */
	geo_close(g);
}

static void ipv4_in_maxmind_ipv6_database(void)
{
	char err[512], line[GEO_STATUS_MAX];
	struct geo_result r;
	struct geo *g;

	NEED_TESTDATA();
	g = open1(GEO_DB_GEOIP2, mmdb_path("GeoIP2-Country-Test.mmdb"), err,
		  sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK(geo_status(g, GEO_DB_GEOIP2, line, sizeof(line)) == 1);
	CHECK(strstr(line, "GeoIP2-Country, IPv6, built ") != NULL);
	CHECK(strstr(line, "no IPv4 data") == NULL);
	/* MaxMind aliases ::ffff:0:0/96 and 2002::/16 to ::/96; we search
	 * AF_INET, which starts at ::/96 whatever the aliases. */
	CHECK(look(g, "81.2.69.160", &r) == 0);
	CHECK_STR(r.country, "GB");
	CHECK(look(g, "2002:5102:45a0::1", &r) == 0);
	CHECK_STR(r.country, "GB");
	CHECK(look(g, "64:ff9b::5102:45a0", &r) == 0);
	CHECK_STR(r.country, "GB");
	geo_close(g);
}

static void ascii_escaping_of_as_organisations(void)
{
	static struct wdb w;
	const char *p = tmp_path("asn.mmdb");
	char err[512], longorg[300], fitorg[300];
	struct geo_result r;
	struct geo *g;

	/* 126 'x' then a backslash: its escape needs two bytes, one is left */
	memset(longorg, 'x', sizeof(longorg) - 1);
	longorg[sizeof(longorg) - 1] = '\0';
	longorg[GEO_ORG_MAX - 2] = '\\';
	/* 125 'x' then a backslash: the escape fills the buffer exactly */
	memset(fitorg, 'x', sizeof(fitorg) - 1);
	fitorg[sizeof(fitorg) - 1] = '\0';
	fitorg[GEO_ORG_MAX - 3] = '\\';
	w_init(&w, 6, 28);
	w_insert(&w, "1.0.0.0/24", w_asn(&w, MMDB_DATA_TYPE_UINT32, 64500,
					  "Telef\xc3\xb3nica \\ \"Q\"\x01\x7f"));
	w_insert(&w, "1.0.1.0/24", w_asn(&w, MMDB_DATA_TYPE_UINT16, 13335, NULL));
	w_insert(&w, "1.0.2.0/24", w_asn(&w, MMDB_DATA_TYPE_UINT64, 4200000000u, longorg));
	w_insert(&w, "1.0.3.0/24", w_asn(&w, MMDB_DATA_TYPE_UINT64, 1ull << 33, "big"));
	w_insert(&w, "1.0.4.0/24", w_asn(&w, MMDB_DATA_TYPE_UINT32, 0, "zero"));
	w_insert(&w, "1.0.5.0/24", w_asn(&w, MMDB_DATA_TYPE_UINT32, 1, fitorg));
	w_write(&w, p, "test-asn");
	g = open1(GEO_DB_ASN, p, err, sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK_STR(err, "");

	CHECK(look(g, "1.0.0.1", &r) == 0);
	CHECK_EQ_U(r.asn, 64500);
	CHECK_STR(r.as_org, "Telef\\xc3\\xb3nica \\\\ \"Q\"\\x01\\x7f");
	CHECK(look(g, "1.0.1.1", &r) == 0);
	CHECK_EQ_U(r.asn, 13335);
	CHECK_STR(r.as_org, "");
	CHECK(look(g, "1.0.2.1", &r) == 0);
	CHECK_EQ_U(r.asn, 4200000000u);
	CHECK_EQ_U(strlen(r.as_org), GEO_ORG_MAX - 2);	/* no room for a 2-byte escape */
	CHECK(strchr(r.as_org, '\\') == NULL);
	CHECK(look(g, "1.0.5.1", &r) == 0);
	CHECK_EQ_U(strlen(r.as_org), GEO_ORG_MAX - 1);
	CHECK(strcmp(r.as_org + GEO_ORG_MAX - 3, "\\\\") == 0);
	CHECK(look(g, "1.0.3.1", &r) == -EIO);		/* does not fit 32 bits */
	CHECK_EQ_U(r.asn, 0);
	CHECK_STR(r.as_org, "");
	CHECK(look(g, "1.0.4.1", &r) == 0);		/* AS 0 is "unknown" */
	CHECK_EQ_U(r.asn, 0);
	CHECK_STR(r.as_org, "zero");
	geo_close(g);
}

static void geoip2_slot_answers_before_the_default_database(void)
{
	struct geo_config cfg = {
		.geoip2 = mmdb_path("GeoIP2-Country-Test.mmdb"),
		.country = npm_path(GEO_DEFAULT_COUNTRY_FILE),
		.asn = mmdb_path("GeoLite2-ASN-Test.mmdb"),
	};
	char err[512];
	struct geo_result r;
	struct geo_stats st;
	struct geo *g;

	NEED_TESTDATA();
	if (!exists(cfg.country)) {
		printf("     skipped: %s is not installed (npm ci)\n", cfg.country);
		return;
	}
	g = geo_open(&cfg, err, sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK_STR(err, "");
	/* GeoIP2 says BT and PH, the default database US and CN. */
	CHECK(look(g, "67.43.156.1", &r) == 0);
	CHECK_STR(r.country, "BT");
	CHECK(look(g, "202.196.224.1", &r) == 0);
	CHECK_STR(r.country, "PH");
	/* GeoIP2 has no record: the default database answers. */
	CHECK(look(g, "8.8.8.8", &r) == 0);
	CHECK_STR(r.country, "US");
	/* GeoIP2 has a record without a country (anycast): same. */
	CHECK(look(g, "214.1.1.1", &r) == 0);
	CHECK_STR(r.country, "US");
	/* Country from one database, AS from another. */
	CHECK(look(g, "1.0.0.1", &r) == 0);
	CHECK_STR(r.country, "AU");
	CHECK_EQ_U(r.asn, 15169);
	CHECK_STR(r.as_org, "Google Inc.");
	geo_get_stats(g, &st);
	CHECK_EQ_U(st.db[GEO_DB_GEOIP2].lookups, 5);
	CHECK_EQ_U(st.db[GEO_DB_COUNTRY].lookups, 3);
	CHECK_EQ_U(st.db[GEO_DB_ASN].lookups, 5);
	geo_close(g);
}

/* ---- the default country database ---------------------------------------- */

static void default_country_database(void)
{
	static const struct {
		const char *ip, *cc;
	} known[] = {
		/* mmdblookup 1.7.1 on the installed file (ORACLE.txt) */
		{"8.8.8.8", "US"}, {"1.1.1.1", "AU"}, {"9.9.9.9", "US"},
		{"193.0.6.139", "NL"}, {"208.80.152.3", "US"},
		{"2001:4860:4860::8888", "US"},
	};
	const char *path = npm_path(GEO_DEFAULT_COUNTRY_FILE);
	char err[512], line[GEO_STATUS_MAX];
	struct geo_result r;
	struct geo_stats before, after;
	MMDB_s raw;
	int gai, mrc;
	struct geo *g;

	if (!exists(path)) {
		printf("     skipped: %s is not installed (npm ci)\n", path);
		return;
	}
	uint64_t t0 = ew_mono_ns();
	g = open1(GEO_DB_COUNTRY, path, err, sizeof(err));
	uint64_t t1 = ew_mono_ns();
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK_STR(err, "");
	CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 1);
	printf("     %s\n     opened and verified in %.1f ms\n", line,
	       (double)(t1 - t0) / 1e6);
	for (size_t i = 0; i < EW_ARRAY_LEN(known); i++) {
		CHECK(look(g, known[i].ip, &r) == 0);
		CHECK_STR(r.country, known[i].cc);
		CHECK(r.reserved == NULL);
	}

	/* The database itself puts 172.16/12 and 192.168/16 in AU ... */
	CHECK(MMDB_open(path, MMDB_MODE_MMAP, &raw) == MMDB_SUCCESS);
	MMDB_lookup_result_s res = MMDB_lookup_string(&raw, "192.168.1.1", &gai, &mrc);
	MMDB_entry_data_s v;
	CHECK(res.found_entry);
	CHECK(MMDB_get_value(&res.entry, &v, "country_code", NULL) == MMDB_SUCCESS);
	CHECK(v.has_data && v.data_size == 2 && memcmp(v.utf8_string, "AU", 2) == 0);
	MMDB_close(&raw);

	/* ... so they are never looked up. */
	static const char *priv[] = {"192.168.1.1", "172.16.0.1", "172.17.0.2",
				     "10.1.2.3", "100.64.0.1", "fd00::1",
				     "::ffff:192.168.1.1", "64:ff9b::c0a8:101",
				     "2002:ac10:1::1"};
	for (size_t i = 0; i < EW_ARRAY_LEN(priv); i++) {
		geo_get_stats(g, &before);
		CHECK(look(g, priv[i], &r) == -ENOENT);
		geo_get_stats(g, &after);
		CHECK(r.reserved != NULL);
		CHECK_STR(r.country, "");
		CHECK_EQ_U(after.db[GEO_DB_COUNTRY].lookups,
			   before.db[GEO_DB_COUNTRY].lookups);
		CHECK_EQ_U(after.reserved_skipped, before.reserved_skipped + 1);
	}
	CHECK(look(g, "192.168.1.1", &r) == -ENOENT);
	CHECK_STR(r.reserved, "private");
	CHECK(look(g, "100.64.0.1", &r) == -ENOENT);
	CHECK_STR(r.reserved, "cgnat");

	/* NAT64 and 6to4 addresses of a public host: its country. */
	CHECK(look(g, "64:ff9b::808:808", &r) == 0);
	CHECK_STR(r.country, "US");
	CHECK(look(g, "2002:101:101::1", &r) == 0);
	CHECK_STR(r.country, "AU");

	geo_get_stats(g, &after);
	CHECK_EQ_U(after.lookups, after.hits + after.misses + after.reserved_skipped);
	CHECK_EQ_U(after.errors, 0);
	geo_close(g);
}

static void default_database_ipv4_and_ipv6_files(void)
{
	const char *p4 = npm_path("geo-whois-asn-country-ipv4.mmdb");
	char err[512], line[GEO_STATUS_MAX];
	struct geo_result r;
	struct geo *g;

	if (!exists(p4)) {
		printf("     skipped: %s is not installed (npm ci)\n", p4);
		return;
	}
	g = open1(GEO_DB_COUNTRY, p4, err, sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK_STR(err, "");
	CHECK(look(g, "8.8.8.8", &r) == 0);
	CHECK_STR(r.country, "US");
	CHECK(look(g, "2001:4860:4860::8888", &r) == -ENOENT);
	geo_close(g);

	/* The IPv6-only file ends at ::/3: no IPv4 data. */
	g = open1(GEO_DB_COUNTRY, npm_path("geo-whois-asn-country-ipv6.mmdb"), err,
		  sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK_STR(err, "");
	CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 1);
	CHECK(strstr(line, "no IPv4 data") != NULL);
	CHECK(look(g, "8.8.8.8", &r) == -ENOENT);
	CHECK(look(g, "2001:4860:4860::8888", &r) == 0);
	CHECK_STR(r.country, "US");
	geo_close(g);
}

static void default_path_is_found_or_named(void)
{
	char path[PATH_MAX], small[8];
	int rc = geo_default_country_path(path, sizeof(path));
	size_t n = strlen(path), f = strlen(GEO_DEFAULT_COUNTRY_FILE);

	CHECK(rc == 0 || rc == -ENOENT);
	CHECK(n > f && strcmp(path + n - f, GEO_DEFAULT_COUNTRY_FILE) == 0);
	CHECK(path[0] == '/');
	if (rc == 0)
		CHECK(exists(path));
	printf("     %s: %s\n", rc == 0 ? "found" : "expected at", path);
	CHECK(geo_default_country_path(small, sizeof(small)) == -ENAMETOOLONG);
}

/* ---- reload ---------------------------------------------------------------- */

static void replaced_database_is_reloaded(void)
{
	char p[TP_MAX], asn[TP_MAX], full[TP_MAX];
	struct geo_config cfg = {.country = p, .asn = asn};
	char err[512], line[GEO_STATUS_MAX];
	struct geo_result r;
	struct geo_stats st;
	struct geo *g;

	NEED_TESTDATA();
	snprintf(p, sizeof(p), "%s", tmp_path("reload.mmdb"));
	snprintf(asn, sizeof(asn), "%s", tmp_path("reload-asn.mmdb"));
	snprintf(full, sizeof(full), "%s", tmp_path("full.mmdb"));
	unlink(asn);
	write_cc_db(p, "8.8.8.0/24", "AA");
	g = geo_open(&cfg, err, sizeof(err));
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK(strstr(err, "asn: ") == err);	/* not there yet */
	CHECK(look(g, "8.8.8.8", &r) == 0);
	CHECK_STR(r.country, "AA");
	CHECK(geo_reload_if_changed(g) == 0);	/* nothing changed */

	/* write + rename over: picked up */
	write_cc_db(p, "8.8.8.0/24", "BB");
	CHECK(geo_reload_if_changed(g) == 1);
	CHECK(look(g, "8.8.8.8", &r) == 0);
	CHECK_STR(r.country, "BB");
	geo_get_stats(g, &st);
	CHECK_EQ_U(st.reloads, 1);
	CHECK_EQ_U(st.reload_failures, 0);

	/* a missing database that appears is loaded */
	copy_file(mmdb_path("GeoLite2-ASN-Test.mmdb"), asn, 0);
	CHECK(geo_reload_if_changed(g) == 1);
	CHECK(look(g, "1.0.0.1", &r) == 0);
	CHECK_EQ_U(r.asn, 15169);

	/* a corrupt replacement: refused once, old copy kept */
	copy_file(mmdb_path("bad-data/libmaxminddb/libmaxminddb-corrupt-search-tree.mmdb"),
		  p, 0);
	CHECK(geo_reload_if_changed(g) == 0);
	CHECK(geo_reload_if_changed(g) == 0);	/* not retried, not re-logged */
	geo_get_stats(g, &st);
	CHECK_EQ_U(st.reloads, 2);
	CHECK_EQ_U(st.reload_failures, 1);
	CHECK(st.db[GEO_DB_COUNTRY].loaded);
	CHECK(look(g, "8.8.8.8", &r) == 0);
	CHECK_STR(r.country, "BB");
	CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 1);
	CHECK(strstr(line, "country: ok: ") == line);
	CHECK(strstr(line, "; replacement refused: corrupt: ") != NULL);

	/* a truncated replacement (download cut short): a second failure */
	write_cc_db(full, "8.8.8.0/24", "CC");
	copy_file(full, p, 200);
	CHECK(geo_reload_if_changed(g) == 0);
	geo_get_stats(g, &st);
	CHECK_EQ_U(st.reload_failures, 2);
	CHECK(look(g, "8.8.8.8", &r) == 0);
	CHECK_STR(r.country, "BB");

	/* the fixed file: loaded, status clean again */
	copy_file(full, p, 0);
	CHECK(geo_reload_if_changed(g) == 1);
	CHECK(look(g, "8.8.8.8", &r) == 0);
	CHECK_STR(r.country, "CC");
	CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 1);
	CHECK(strstr(line, "refused") == NULL);

	/* the loaded file put back (same inode, size, mtime) after a refused
	 * replacement: nothing is pending any more */
	CHECK(link(p, full) == 0 || (unlink(full) == 0 && link(p, full) == 0));
	copy_file("/dev/null", p, 0);
	CHECK(geo_reload_if_changed(g) == 0);
	CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 1);
	CHECK(strstr(line, "; replacement refused: empty file") != NULL);
	CHECK(rename(full, p) == 0);
	CHECK(geo_reload_if_changed(g) == 0);
	CHECK(geo_status(g, GEO_DB_COUNTRY, line, sizeof(line)) == 1);
	CHECK(strstr(line, "refused") == NULL);

	/* a file that disappears is not a replacement */
	CHECK(unlink(p) == 0);
	CHECK(geo_reload_if_changed(g) == 0);
	CHECK(look(g, "8.8.8.8", &r) == 0);
	CHECK_STR(r.country, "CC");
	geo_get_stats(g, &st);
	CHECK_EQ_U(st.reloads, 3);
	CHECK_EQ_U(st.reload_failures, 3);
	CHECK_EQ_U(st.lookups, st.hits + st.misses + st.reserved_skipped);
	geo_close(g);
	unlink(asn);
	unlink(full);
}

/* A database that was corrupt at start is loaded once it is fixed. */
static void corrupt_at_start_then_fixed(void)
{
	const char *p = tmp_path("fixed-later.mmdb");
	struct geo_config cfg = {.geoip2 = p};
	char err[512];
	struct geo_result r;
	struct geo_stats st;
	struct geo *g;

	NEED_TESTDATA();
	copy_file(mmdb_path("GeoIP2-City-Test-Broken-Double-Format.mmdb"), p, 0);
	g = geo_open(&cfg, err, sizeof(err));
	CHECK(g && strstr(err, "corrupt") != NULL);
	if (!g)
		return;
	CHECK(look(g, "81.2.69.160", &r) == -ENOENT);
	CHECK(geo_reload_if_changed(g) == 0);
	copy_file(mmdb_path("GeoIP2-City-Test.mmdb"), p, 0);
	CHECK(geo_reload_if_changed(g) == 1);
	CHECK(look(g, "81.2.69.160", &r) == 0);
	CHECK_STR(r.country, "GB");
	geo_get_stats(g, &st);
	CHECK_EQ_U(st.reloads, 1);
	CHECK_EQ_U(st.reload_failures, 0);
	geo_close(g);
	unlink(p);
}

/* The dashboard's thread reads status lines and counters while the owner
 * thread swaps databases and looks addresses up (run under TSan to see
 * the claim of geo.h hold). */
struct reader {
	struct geo *g;
	_Atomic int stop;
	unsigned long reads;
};

static void *read_status(void *arg)
{
	struct reader *rd = arg;
	char line[GEO_STATUS_MAX];
	struct geo_stats st;

	while (!atomic_load(&rd->stop)) {
		for (int s = 0; s < GEO_DB__COUNT; s++)
			geo_status(rd->g, (enum geo_db_slot)s, line, sizeof(line));
		geo_get_stats(rd->g, &st);
		rd->reads++;
	}
	return NULL;
}

static void status_and_stats_from_another_thread(void)
{
	char p[TP_MAX];
	struct geo_config cfg = {.country = p};
	struct reader rd = {0};
	struct geo_result r;
	struct geo_stats st;
	pthread_t th;
	int swaps = 0;

	snprintf(p, sizeof(p), "%s", tmp_path("threads.mmdb"));
	write_cc_db(p, "8.8.8.0/24", "AA");
	rd.g = geo_open(&cfg, NULL, 0);
	CHECK(rd.g != NULL);
	if (!rd.g)
		return;
	ew_log_set_level(EW_LOG_WARN);		/* one "loaded" line per swap */
	CHECK(pthread_create(&th, NULL, read_status, &rd) == 0);
	for (int i = 0; i < 200; i++) {
		write_cc_db(p, "8.8.8.0/24", i % 2 ? "AA" : "BB");
		swaps += geo_reload_if_changed(rd.g);
		CHECK(look(rd.g, "8.8.8.8", &r) == 0);
		CHECK_STR(r.country, i % 2 ? "AA" : "BB");
	}
	atomic_store(&rd.stop, 1);
	pthread_join(th, NULL);
	ew_log_set_level(EW_LOG_INFO);
	geo_get_stats(rd.g, &st);
	CHECK_EQ_U(swaps, 200);
	CHECK_EQ_U(st.reloads, 200);
	CHECK(rd.reads > 0);
	geo_close(rd.g);
	unlink(p);
}

/* ---- speed ----------------------------------------------------------------- */

static double rate(struct geo *g, unsigned n, int v6)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct geo_result r;
	uint8_t ip[16];
	unsigned done = 0;
	uint64_t t0 = ew_mono_ns();

	while (done < n) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (v6) {
			uint64_t hi = 0x2000000000000000ull | (x >> 4);
			for (int i = 0; i < 8; i++) {
				ip[i] = (uint8_t)(hi >> (56 - 8 * i));
				ip[8 + i] = (uint8_t)(x >> (8 * i));
			}
		} else {
			uint8_t v4[4] = {(uint8_t)(x >> 24), (uint8_t)(x >> 16),
					 (uint8_t)(x >> 8), (uint8_t)x};
			ew_ip_from_v4(ip, v4);
		}
		if (geo_reserved_kind(ip))
			continue;
		geo_lookup(g, ip, &r);
		done++;
	}
	return n / ((double)(ew_mono_ns() - t0) / 1e9);
}

static void lookup_rate(void)
{
	struct geo_config all = {
		.geoip2 = mmdb_path("GeoIP2-Country-Test.mmdb"),
		.country = npm_path(GEO_DEFAULT_COUNTRY_FILE),
		.asn = mmdb_path("GeoLite2-ASN-Test.mmdb"),
	};
	struct geo_config dflt = {.country = all.country};
	struct geo *g;

	if (!exists(all.country)) {
		printf("     skipped: the default database is not installed\n");
		return;
	}
	g = geo_open(&dflt, NULL, 0);
	CHECK(g != NULL);
	if (!g)
		return;
	printf("     default database: %.0f IPv4 lookups/s, %.0f IPv6 lookups/s\n",
	       rate(g, 300000, 0), rate(g, 300000, 1));
	geo_close(g);
	g = geo_open(&all, NULL, 0);
	CHECK(g != NULL);
	if (!g)
		return;
	printf("     three databases: %.0f IPv4 lookups/s\n", rate(g, 300000, 0));
	geo_close(g);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_geo.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	if (!testdata())
		printf("note: no test data: tests of MaxMind's files are skipped\n");

	RUN(special_purpose_boundaries);
	RUN(reserved_lookup_without_databases);
	RUN(oracle_facts);
	RUN(geoip2_country_and_city_read_iso_code);
	RUN(country_then_registered_country);
	RUN(asn_database_and_isp_database);
	RUN(databases_of_the_wrong_kind_are_refused);
	RUN(corrupt_databases_are_refused);
	RUN(unusable_files_have_clear_reasons);
	RUN(ipv4_and_ipv6_layouts_written_here);
	RUN(ipv4_in_maxmind_ipv6_database);
	RUN(ascii_escaping_of_as_organisations);
	RUN(geoip2_slot_answers_before_the_default_database);
	RUN(default_country_database);
	RUN(default_database_ipv4_and_ipv6_files);
	RUN(default_path_is_found_or_named);
	RUN(replaced_database_is_reloaded);
	RUN(corrupt_at_start_then_fixed);
	RUN(status_and_stats_from_another_thread);
	RUN(lookup_rate);

	static const char *left[] = {"not-a-db.mmdb", "empty.mmdb", "cut.mmdb",
				     "v4.mmdb", "v6.mmdb", "nov4.mmdb", "asn.mmdb",
				     "reload.mmdb"};
	for (size_t i = 0; i < EW_ARRAY_LEN(left); i++)
		unlink(tmp_path(left[i]));
	if (rmdir(tmpdir) != 0)
		fprintf(stderr, "rmdir %s: %s\n", tmpdir, strerror(errno));
	return T_DONE();
}
