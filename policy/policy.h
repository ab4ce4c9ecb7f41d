/*
 * policy.h - the policy module's whole public interface: loading policies
 * (our own `egresswatch/v1` YAML format and Kubernetes NetworkPolicy
 * manifests), the built-in default policy, and the evaluation of one flow
 * against them.  docs/policy.md documents the format and the semantics.
 *
 * Lifetime.  A loaded policy is immutable: policy_load() returns a new object
 * or an error, never changes an existing one, so a reload with a bad file
 * leaves the running policy in place.  The caller swaps the pointer when the
 * new one is good and closes the old one once no thread evaluates with it.
 * Every const function may be called from any number of threads at once.
 *
 * Evaluation is on the pipeline thread for every new flow: policy_eval()
 * never allocates, never blocks and never logs.  Strings in a result point
 * into the policy and live until policy_close().
 *
 * Addresses are 16 bytes, IPv4 as ::ffff:a.b.c.d (util.h).  Errors are
 * negative errno values; the human reasons go to struct policy_errors as
 * "file:line:col: message" lines (1-based).
 */
#ifndef EW_POLICY_H
#define EW_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* Limits on policy input (each refused with a positioned error). */
#define POLICY_FILE_MAX (4u << 20)	/* bytes per file */
#define POLICY_DEPTH_MAX 32		/* nested YAML collections */
#define POLICY_NODES_MAX 200000u	/* YAML nodes per file */
#define POLICY_SCALAR_MAX 65536u	/* bytes of one YAML scalar */

/* ---- loading --------------------------------------------------------- */

#define POLICY_ERR_MAX 16		/* messages kept per load */
#define POLICY_ERRMSG_MAX 512

/* What a failed load found.  `total` counts every error, `n` the messages
 * kept (the first POLICY_ERR_MAX); each is "file:line:col: message", or
 * "file: message" for faults of the whole file (unreadable, too large). */
struct policy_errors {
	unsigned n;
	unsigned total;
	char msg[POLICY_ERR_MAX][POLICY_ERRMSG_MAX];
};

/* One input: a file to read (data == NULL) or bytes already in memory
 * (data/len; `name` is then used in messages only). */
struct policy_source {
	const char *name;
	const char *data;
	size_t len;
};

struct policy;

/*
 * Load and compile the sources into one new policy.  A source holds one or
 * more YAML documents, each an `egresswatch/v1` Policy, a Kubernetes
 * NetworkPolicy, or a `List`/`NetworkPolicyList` of NetworkPolicies.  Our
 * documents merge (names must be unique across them; a setting such as
 * `mode` may be given once); what no document sets keeps the built-in value,
 * so NetworkPolicies alone run alongside the built-in defaults.  No sources
 * (n == 0) gives the built-in policy.
 *
 * Returns 0 and *out, or -EINVAL (the input is wrong: `errs` says where),
 * the negative errno of a file that could not be read (-ENOENT, -EACCES,
 * -EISDIR, -EFBIG for one over POLICY_FILE_MAX, ...; also in `errs`), or
 * -ENOMEM.  On error *out is NULL.  `errs` may be NULL.  A source named
 * "-" without data is standard input.
 */
int policy_load(const struct policy_source *src, size_t n, struct policy **out,
		struct policy_errors *errs);
/* The built-in policy (docs/policy.md, "Built-in policy"); 0 or -ENOMEM. */
int policy_builtin(struct policy **out);
/* NULL is a no-op. */
void policy_close(struct policy *p);

enum policy_mode { POLICY_MODE_ENFORCE = 0, POLICY_MODE_AUDIT = 1 };

/* What a policy contains, for `policy check` and the startup log. */
struct policy_info {
	uint32_t documents;		/* egresswatch/v1 documents */
	uint32_t workloads;		/* workload entries */
	uint32_t networks, zones, zone_pairs;
	uint32_t netpols;		/* Kubernetes NetworkPolicies */
	uint8_t mode;			/* enum policy_mode (global) */
	uint8_t datastore_guard;	/* built-in datastore rules on */
};
void policy_get_info(const struct policy *p, struct policy_info *out);

/* ---- lookups for enrichment ----------------------------------------- */

/*
 * Name of the most specific named network (`networks:`) containing `ip`, or
 * NULL.  Enrichment gives a named network precedence over GeoIP: a flow to a
 * named network carries the name and no country/ASN guess.  The string lives
 * as long as the policy.
 */
const char *policy_network_name(const struct policy *p, const uint8_t ip[16]);
/* 1 if `ip` is in the policy's `cluster_networks:`, else 0.  With
 * everything else the pipeline knows (pod IPs, service IPs), this decides
 * policy_flow.remote_outside. */
int policy_in_cluster(const struct policy *p, const uint8_t ip[16]);

/* ---- served ports ----------------------------------------------------
 * Which well-known datastore ports a workload has been seen serving.  The
 * caller keeps one of these per workload (zero-initialised, no allocation)
 * and calls policy_note_served() when the workload *accepted* an inbound
 * connection (TCP handshake answered, UDP answered); policy_eval() reads it
 * through policy_workload.served.  Only datastore ports are kept, so the set
 * is small and its meaning does not change when the policy is reloaded. */
#define POLICY_SERVED_MAX 8
struct policy_served {
	uint8_t n;
	uint8_t proto[POLICY_SERVED_MAX];
	uint16_t port[POLICY_SERVED_MAX];
};
/* Returns 1 if (proto, port) was added, 0 if it was already there or is not
 * a datastore port, -ENOSPC if the set is full (count it). */
int policy_note_served(struct policy_served *s, uint8_t proto, uint16_t port);
/* "redis", "postgresql", ... for a datastore port, else NULL. */
const char *policy_datastore_name(uint8_t proto, uint16_t port);

/* ---- evaluation ------------------------------------------------------- */

struct policy_label {
	const char *key;
	const char *value;
};

/* A container port as declared in the pod spec, for NetworkPolicy named
 * ports.  `proto` is the IP protocol number (6, 17, 132). */
struct policy_port_name {
	const char *name;
	uint8_t proto;
	uint16_t port;
};

/*
 * A workload as the pipeline knows it.  All pointers are borrowed for the
 * call.  `namespace` is "" for plain containers.  Namespace labels feed
 * namespaceSelector; the label kubernetes.io/metadata.name=<namespace> is
 * implied when absent, as the API server sets it on every namespace.
 */
struct policy_workload {
	const char *namespace;
	const char *name;
	const struct policy_label *labels;
	size_t n_labels;
	const struct policy_label *ns_labels;
	size_t n_ns_labels;
	const struct policy_port_name *ports;	/* NULL/0: names unknown */
	size_t n_ports;
	const struct policy_served *served;	/* NULL: nothing seen */
};

enum policy_direction {
	POLICY_EGRESS = 0,	/* the local workload initiated the flow */
	POLICY_INGRESS = 1,	/* the remote end initiated it */
};

/* One flow, from the local workload's side. */
struct policy_flow {
	uint8_t direction;		/* enum policy_direction */
	uint8_t proto;			/* IP protocol number */
	uint8_t remote_outside;		/* 1: not a workload, not in the cluster */
	uint16_t local_port, remote_port;
	uint8_t remote_ip[16];
	const struct policy_workload *local;	/* NULL: unknown */
	const struct policy_workload *remote;	/* NULL: unknown / not a pod */
	/* The DNS name the local workload resolved to remote_ip, in
	 * presentation form with escapes (\DDD) as capture gives it; NULL
	 * when unknown.  Names with escapes never match `*.` patterns. */
	const char *remote_name;
	const char *remote_country;	/* ISO 3166 alpha-2, or NULL */
	uint32_t remote_asn;		/* 0: unknown */
};

enum policy_verdict {
	POLICY_ALLOW = 0,
	POLICY_ALERT = 1,	/* denied (what enforcement would drop) */
	POLICY_AUDIT = 2,	/* would be denied; the deciding rule is in audit mode */
};

/* Why the verdict is what it is. */
enum policy_reason {
	POLICY_R_DEFAULT = 0,	/* no rule decided: a default (global or namespace) */
	POLICY_R_RULE,		/* an allow rule of ours matched */
	POLICY_R_NETPOL_ALLOW,	/* a NetworkPolicy rule allowed it (and we did too) */
	POLICY_R_ZONE,		/* crosses a deny_between zone boundary */
	POLICY_R_DATASTORE,	/* datastore port on an outside address */
	POLICY_R_LISTEN_ONLY,	/* a listen-only workload opened a connection */
	POLICY_R_NOT_SERVED,	/* inbound to a port outside `serves:` */
	POLICY_R_ISOLATED,	/* workload entry has rules for this direction; none matched */
	POLICY_R_NETPOL_DENY,	/* isolated by a NetworkPolicy; no rule allowed it */
	POLICY_R__COUNT
};

struct policy_result {
	uint8_t verdict;		/* enum policy_verdict */
	uint8_t reason;			/* enum policy_reason */
	/* Flags for the detectors, set whatever the verdict. */
	uint8_t listen_only;		/* the local workload must not initiate */
	uint8_t unexpected_port;	/* port outside what the workload serves
					 * (ingress) or is allowed to reach (egress) */
	uint8_t zone_violation;		/* crosses a deny_between boundary */
	uint8_t has_budget;		/* byte budget applies: */
	uint64_t budget_bytes;		/*   bytes to outside addresses ... */
	uint64_t budget_window_s;	/*   ... per this many seconds */
	/* The deciding rule, e.g. "builtin/datastore-egress", "redis/egress[0]",
	 * "netpol/prod/default-deny-egress", "zone/web-pci", "default". */
	const char *rule;
	/* Our workload entry that decided (allow rule, listen-only, serves,
	 * isolation), else the first entry selecting the local workload, or
	 * NULL when none does. */
	const char *entry;
	/* The NetworkPolicy that allowed or isolated the flow, or NULL when no
	 * NetworkPolicy selects the local workload in this direction. */
	const char *netpol;
};

/*
 * Evaluate one flow.  Never fails, never allocates: a flow that cannot be
 * attributed (unknown local workload) is judged by the rules that need no
 * workload (datastore guard, global default).  Combination: a deny by our
 * rules or by the NetworkPolicies is ALERT, or AUDIT when the deciding rule
 * is in audit mode.
 */
void policy_eval(const struct policy *p, const struct policy_flow *f,
		 struct policy_result *r);

/* "allow", "alert", "audit" (the store's verdict strings). */
const char *policy_verdict_name(enum policy_verdict v);
/* "default", "rule", "netpol-allow", "zone", "datastore", "listen-only",
 * "not-served", "isolated", "netpol-deny". */
const char *policy_reason_name(enum policy_reason r);

/* ==== country and AS number ================================================ */

/*
 * Enrichment (policy/geo.c): the country and autonomous system of a remote
 * address, read from MaxMind DB files with libmaxminddb, and the
 * special-purpose addresses that are never looked up.
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
