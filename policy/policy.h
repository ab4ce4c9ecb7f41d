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

/* ==== detectors and alerts =================================================
 *
 * Detectors (policy/detect*.c) look at every flow event and DNS answer the
 * pipeline has enriched and judged, and turn what they find into alerts;
 * docs/alerts.md lists them with their thresholds, severities and messages.
 *
 *   policy-violation    the verdict is ALERT (or AUDIT: "would be denied")
 *   listen-only-egress  a listen-only workload opened a connection
 *   unexpected-port     a port outside the policy, or outside the ports the
 *                       workload used while its baseline was being learned
 *   exfil-volume        bytes to outside addresses in a sliding window above
 *                       the budget, or far above the workload's own normal
 *   new-destination     first contact with an outside destination after the
 *                       workload's learning period
 *   dns-tunnel          many long, high-entropy names under one domain
 *   beaconing           connections to one destination at regular intervals
 *
 * One fact, one alert: a flow whose first event raises listen-only-egress or
 * unexpected-port does not also raise policy-violation (the verdict and rule
 * are in the alert's evidence), and new-destination, the learned ports and
 * beaconing stay quiet for a flow the policy already alerted on.
 *
 * Threads.  A struct detect belongs to the pipeline thread: detect_flow(),
 * detect_dns(), detect_load_baseline() and detect_close() are called there
 * only, and never block, never log and never allocate after detect_open()
 * (every table is allocated once, at its cap).  detect_get_stats() may be
 * called from any thread.  Callbacks run on the caller's thread, inside the
 * call that produced them; they must not call back into the detector.
 *
 * Clock.  Every event carries its own `now_ns`: packet time in replay, the
 * wall clock live.  Windows, learning periods and alert times use it only,
 * so a replay raises the alerts the live agent would have raised, at the
 * packet times they would have been raised at.  A clock that goes backwards
 * is treated as standing still (counted).
 *
 * Memory.  Every table keyed by outside data (workloads, flows, remotes,
 * destinations, ports, domains, beacon series, recent alerts) has a cap and
 * evicts its least recently used entry when full; a workload also has a cap
 * of its own in the per-remote tables, so one pod cannot push the others
 * out.  Every eviction is counted in struct detect_stats.  About 31 MiB of
 * zeroed memory at the defaults (detect_stats.memory_bytes), touched only
 * as the tables fill.
 */

#define POLICY_WORKLOAD_MAX 320	/* "namespace/name" + NUL (store's size) */
#define POLICY_NAME_MAX 256	/* DNS name, presentation form + NUL */
#define POLICY_RULE_MAX 128
#define POLICY_KIND_MAX 32
#define POLICY_MESSAGE_MAX 512
#define POLICY_EVIDENCE_MAX 2048	/* evidence JSON + NUL */
#define POLICY_DEDUP_MAX 256

enum policy_severity {
	POLICY_SEV_INFO = 0,
	POLICY_SEV_WARNING = 1,
	POLICY_SEV_CRITICAL = 2,
};
/* "info", "warning", "critical" (the store's severity strings). */
const char *policy_severity_name(enum policy_severity s);
/* The inverse, case-insensitive; 0 or -EINVAL. */
int policy_severity_parse(const char *s, enum policy_severity *out);

enum detect_kind {
	DETECT_POLICY_VIOLATION = 0,
	DETECT_LISTEN_ONLY_EGRESS,
	DETECT_UNEXPECTED_PORT,
	DETECT_EXFIL_VOLUME,
	DETECT_NEW_DESTINATION,
	DETECT_DNS_TUNNEL,
	DETECT_BEACONING,
	DETECT_SCAN,
	DETECT__COUNT
};
/* "policy-violation", "listen-only-egress", ... (the alert's `kind`). */
const char *detect_kind_name(enum detect_kind k);

/*
 * One alert, with the fields of the store's alert row (store_alert) plus
 * what the sinks need.  Strings are NUL-terminated and cut to fit; names
 * from the wire are in the escaped presentation form capture gives them.
 * The pipeline copies it into a store_alert (severity and kind as strings:
 * policy_severity_name(), detect_kind_name()) and hands it to sink_submit().
 */
struct policy_alert {
	uint64_t first_seen_ns, last_seen_ns;	/* the event time (equal) */
	uint64_t count;			/* occurrences in this report: 1 */
	uint64_t bytes_sent;		/* by the workload to this remote: the
					   flow's total, or the window's for
					   exfil-volume; 0 when not about bytes */
	uint64_t flow_id;		/* the flow that raised it, 0 for none */
	uint8_t remote_ip[16];		/* all zero: no remote address */
	uint16_t remote_port;
	uint8_t proto;			/* 0 with no remote address */
	uint8_t severity;		/* enum policy_severity */
	uint8_t kind;			/* enum detect_kind */
	/* 1 when an alert with this dedup_key was already reported in this
	 * dedup window (the store adds it to the count; sinks skip repeats
	 * unless told otherwise).  `occurrence` is its number in the window,
	 * 1 for the first (approximate once the recent-alert table evicts). */
	uint8_t repeat;
	uint32_t occurrence;
	uint32_t remote_asn;		/* 0 when unknown */
	char remote_country[4];
	char rule[POLICY_RULE_MAX];	/* deciding rule, "" for none */
	char workload[POLICY_WORKLOAD_MAX]; /* "namespace/name", "" unknown */
	char remote_name[POLICY_NAME_MAX]; /* DNS name, or the domain of a
					   dns-tunnel alert; "" unknown */
	char message[POLICY_MESSAGE_MAX]; /* one line for a human */
	char evidence[POLICY_EVIDENCE_MAX]; /* a JSON object (never cut) */
	/* (kind, workload, remote, port/proto, dedup window index); the store
	 * merges rows on it.  Long keys are hashed to stay within the size. */
	char dedup_key[POLICY_DEDUP_MAX];
};

/*
 * Append `a` as one JSON object (no newline) to `b`: the alert fields of
 * the interface contract (first_seen, last_seen as RFC 3339, count,
 * severity, kind, rule, workload, remote_ip, remote_port, proto,
 * remote_name, remote_country, remote_asn, bytes_sent, message, dedup_key,
 * flow_id) and the evidence object.  0 or -E2BIG.  Used by the JSON sinks;
 * the same object the generic webhook posts.
 */
struct ew_buf;
int policy_alert_json(const struct policy_alert *a, struct ew_buf *b);

enum detect_event_kind {		/* the values of capture's flow_event */
	DETECT_EV_NEW = 1,
	DETECT_EV_UPDATE = 2,
	DETECT_EV_END = 3,
};

/*
 * One flow event, from the local workload's side, after enrichment and
 * policy evaluation.  Pointers are borrowed for the call; NULL and "" both
 * mean unknown.  Totals are the flow's so far; deltas are the increase
 * since this flow's previous event (on NEW, the totals), exactly capture's
 * dbytes/dpkts, so no event is counted twice and a lost event loses only
 * its own bytes.
 */
struct detect_event {
	uint8_t kind;			/* enum detect_event_kind */
	uint8_t direction;		/* enum policy_direction */
	uint8_t proto;
	uint8_t remote_outside;		/* as policy_flow.remote_outside */
	uint16_t local_port, remote_port;
	uint64_t flow_id;
	uint64_t first_ns, last_ns;	/* the flow's first and last packet */
	uint64_t now_ns;		/* packet time (replay) or wall clock */
	uint8_t local_ip[16], remote_ip[16];
	const char *workload;		/* "namespace/name" of the local side;
					   unknown: keyed by local_ip */
	const char *remote_workload;	/* "namespace/name" or NULL */
	const char *remote_name;	/* DNS name the local side resolved */
	const char *remote_country;	/* ISO 3166 alpha-2 or NULL */
	uint32_t remote_asn;
	uint64_t bytes_sent, bytes_received;	/* totals; sent = by local side */
	uint64_t packets_sent, packets_received;
	uint8_t tcp_flags_sent, tcp_flags_received; /* seen so far, each way */
	uint64_t dbytes_sent, dbytes_received;	/* since the previous event */
	uint64_t dpackets_sent, dpackets_received;
	/* policy_eval() of this flow (the pipeline may keep the result of
	 * NEW for the flow's later events, or evaluate each); NULL when no
	 * policy was applied.  Its strings are copied. */
	const struct policy_result *verdict;
	/* What the local workload was seen serving (message text only). */
	const struct policy_served *served;
};

/* One DNS answer a client received (every response, NXDOMAIN too). */
struct detect_dns {
	uint64_t now_ns;
	const char *workload;		/* the client's "namespace/name", or NULL */
	uint8_t client_ip[16];		/* keys an unknown client */
	const char *qname;		/* the question, presentation form */
	uint16_t qtype;
	uint8_t rcode;
};

/*
 * One learned (workload, proto, port, direction): the rows of the store's
 * baselines table.  Emitted through detect_config.on_baseline when the
 * unexpected-port detector learns a port (once per tuple per process, not
 * per flow); the pipeline writes it with store_put_baseline() (seen_ns =
 * last_seen_ns, count, port, proto, direction, workload) and passes the
 * rows it finds at start to detect_load_baseline().  `port` is the service
 * port: the remote port of egress flows, the local port of ingress ones.
 * Only named workloads are emitted: an address is not an identity.
 */
struct detect_baseline {
	char workload[POLICY_WORKLOAD_MAX];
	uint8_t proto;
	uint8_t direction;		/* enum policy_direction */
	uint16_t port;
	uint64_t first_seen_ns, last_seen_ns;
	uint64_t count;			/* observations (0 means 1) */
};

/*
 * Thresholds and limits.  detect_config_defaults() fills in the documented
 * defaults (docs/alerts.md, "Thresholds"); a zero limit is refused.
 */
struct detect_config {
	/* memory: entries at most, all workloads (and per workload) */
	uint32_t max_workloads;		/* 4096 */
	uint32_t max_flows;		/* 65536 flows with state */
	uint32_t max_remotes;		/* 16384 (64 per workload): exfil */
	uint32_t max_remotes_per_workload;
	uint32_t max_destinations;	/* 65536 (2048 per workload) */
	uint32_t max_destinations_per_workload;
	uint32_t max_ports;		/* 65536 (256 per workload) */
	uint32_t max_ports_per_workload;
	uint32_t max_beacons;		/* 16384 series (256 per workload) */
	uint32_t max_beacons_per_workload;
	uint32_t max_domains;		/* 2048 (32 per workload): DNS */
	uint32_t max_domains_per_workload;
	uint32_t max_recent_alerts;	/* 16384 dedup keys remembered */

	/* alerts */
	uint64_t dedup_window_s;	/* 3600: repeats merge within it */

	/* policy-violation: 1 reports AUDIT verdicts ("would be denied") */
	uint8_t report_audit;		/* 1 */

	/* unexpected-port, learned: ports used in the first port_learn_s
	 * after a workload was first seen are its baseline */
	uint8_t port_learning;		/* 1 */
	uint64_t port_learn_s;		/* 86400 */

	/* exfil-volume */
	uint64_t exfil_budget_bytes;	/* 100 MiB when the policy has none */
	uint64_t exfil_window_s;	/* ... per 300 s */
	uint32_t exfil_baseline_factor;	/* 10: alert above factor x p95 ... */
	uint64_t exfil_baseline_floor;	/* ... and above 10 MiB per window */
	uint32_t exfil_baseline_windows; /* 12 windows learned before use */

	/* new-destination */
	uint8_t new_destination;	/* 1 */
	uint64_t new_dest_learn_s;	/* 3600 after the workload's first event */

	/* dns-tunnel, per (client, registered domain), tumbling window */
	uint64_t dns_window_s;		/* 300 */
	uint32_t dns_min_suspicious;	/* 8 distinct suspicious names */
	uint32_t dns_max_unique;	/* 150 distinct names, any shape */
	uint32_t dns_label_len;		/* 24: a suspicious name has a label */
	uint32_t dns_sub_len;		/* 40: or subdomain text this long */
	double dns_entropy;		/* 3.6 bits/char over the subdomain */
	uint64_t scan_window_s;		/* 60 */
	uint32_t scan_min_targets;	/* 64 distinct failed targets; 0: off */

	/* beaconing, per (workload, remote address, port, proto) */
	uint32_t beacon_min_conns;	/* 8 connections */
	double beacon_max_cv;		/* 0.1: stddev / mean of the gaps */
	uint64_t beacon_min_period_s;	/* 5 */
	uint64_t beacon_max_period_s;	/* 3600 */

	/* Receives each alert; must copy what it keeps. */
	void (*on_alert)(void *ctx, const struct policy_alert *a);
	/* Receives each learned baseline row; may be NULL (not persisted). */
	void (*on_baseline)(void *ctx, const struct detect_baseline *b);
	void *ctx;
};
void detect_config_defaults(struct detect_config *cfg);

struct detect_stats {
	uint64_t events, dns_answers;	/* handed to detect_flow / detect_dns */
	uint64_t alerts[DETECT__COUNT];	/* reported, repeats included */
	uint64_t repeats;		/* of which repeats of a dedup key */
	uint64_t suppressed;		/* rate-limited: not reported at all */
	uint64_t clock_backwards;	/* events older than the newest seen */
	uint64_t invalid;		/* events refused (bad kind, no time) */
	/* tables: entries now, evicted (table full / workload's cap) */
	uint64_t workloads, workloads_evicted;
	uint64_t flows, flows_evicted;
	uint64_t remotes, remotes_evicted, remotes_evicted_quota;
	uint64_t destinations, destinations_evicted, destinations_evicted_quota;
	uint64_t ports, ports_evicted, ports_evicted_quota;
	uint64_t beacons, beacons_evicted, beacons_evicted_quota;
	uint64_t domains, domains_evicted, domains_evicted_quota;
	uint64_t domain_names_full;	/* distinct-name sets at capacity */
	uint64_t recent_alerts_evicted;
	/* baselines */
	uint64_t baseline_emitted, baseline_loaded, baseline_refused;
	uint64_t memory_bytes;		/* all tables, allocated at open */
};

struct detect;

/* NULL with `err` set on a bad config or no memory. */
struct detect *detect_open(const struct detect_config *cfg, char *err,
			   size_t errlen);
/* NULL is a no-op.  No callback runs. */
void detect_close(struct detect *d);

/*
 * Feed one flow event.  Alerts go to cfg.on_alert before the call returns:
 * the first-event detectors (policy-violation, listen-only-egress,
 * unexpected-port, new-destination, beaconing) on the first event seen for
 * a flow id (normally NEW; a flow whose NEW was lost is judged on its first
 * UPDATE), exfil-volume on every event that carries bytes.  END forgets
 * the flow.  Returns the number of alerts reported, or -EINVAL (counted)
 * for an event without a valid kind.
 */
int detect_flow(struct detect *d, const struct detect_event *ev);

/* Feed one DNS answer (dns-tunnel).  Returns alerts reported, or -EINVAL. */
int detect_dns(struct detect *d, const struct detect_dns *q);

/*
 * Seed the unexpected-port baseline with a row saved by an earlier run
 * (call before the first event).  The workload's learning period is taken
 * to have started at the earliest first_seen_ns loaded for it, so a
 * workload learned before a restart is not learned again.  A row for a
 * tuple already loaded merges into it.  0, -EINVAL (no workload, an
 * address-only workload, a protocol without ports, a bad direction), or
 * -ENOSPC (table or workload cap full: loading never evicts); refusals are
 * counted.
 */
int detect_load_baseline(struct detect *d, const struct detect_baseline *b);

/* Counters; any thread. */
void detect_get_stats(struct detect *d, struct detect_stats *out);

/* ==== alert sinks ==========================================================
 *
 * Where alerts go besides the store (policy/sink*.c): JSON lines on
 * standard output or a file, syslog(3), and webhooks (generic JSON, Slack-
 * compatible, Alertmanager v2).  docs/alerts.md, "Sinks", has the flag
 * syntax and the body of each format.
 *
 * sink_submit() copies the alert into one bounded queue and returns at
 * once: it never blocks and never does I/O; when the queue is full the
 * alert is dropped and counted.  One sender thread drains the queue: it
 * writes the JSON and syslog sinks and drives every webhook with libcurl's
 * multi interface, so a webhook that hangs, refuses or fails never slows
 * the others, let alone the caller.  Each webhook has its own bounded queue,
 * delivers in order, and retries with exponential back-off (1 s doubling to
 * 60 s) on connection failures, timeouts (connect 2 s, whole request 5 s),
 * 408, 429 and 5xx; an alert is dropped (counted) after max_attempts or
 * max_age_s, and other 4xx responses drop it at once (counted as rejected:
 * retrying the same body cannot succeed).
 *
 * Webhook URLs may hold secrets (Slack's do): they are never logged; stats
 * and messages name a webhook by scheme, host and port only.
 */

#define SINK_MAX 16			/* sinks per set */
#define SINK_TARGET_MAX 1024		/* path or URL + NUL */
#define SINK_NAME_MAX 128

enum sink_kind { SINK_JSON = 1, SINK_SYSLOG = 2, SINK_WEBHOOK = 3 };
enum sink_format {			/* webhooks */
	SINK_FMT_JSON = 0,		/* the alert object (policy_alert_json) */
	SINK_FMT_SLACK = 1,		/* {"text": "..."} */
	SINK_FMT_ALERTMANAGER = 2,	/* [ {labels, annotations, startsAt,
					 *    endsAt, generatorURL} ] */
};
enum sink_fsync {			/* JSON files */
	SINK_FSYNC_BATCH = 0,		/* fdatasync after each batch taken from
					   the queue (default) */
	SINK_FSYNC_ALWAYS = 1,		/* after every alert */
	SINK_FSYNC_NEVER = 2,		/* leave it to the kernel */
};

/* One sink, as parsed from a command-line flag by sink_parse_spec(). */
struct sink_spec {
	uint8_t kind;			/* enum sink_kind */
	uint8_t format;			/* enum sink_format (webhooks) */
	uint8_t fsync;			/* enum sink_fsync (JSON files) */
	uint8_t min_severity;		/* enum policy_severity; default info */
	uint8_t repeats;		/* 1: also deliver repeats (default 0) */
	int facility;			/* syslog facility (LOG_DAEMON default) */
	char target[SINK_TARGET_MAX];	/* path, "-" (stdout) or URL */
};

/*
 * Parse a flag value into `out`:
 *   SINK_JSON     "FILE" or "-", then options: fsync=batch|always|never
 *   SINK_SYSLOG   "" (or NULL), "FACILITY" (user, daemon, local0..local7,
 *                 auth, authpriv, ...), or facility=FACILITY
 *   SINK_WEBHOOK  "URL", or "FORMAT=URL" with FORMAT json, slack or
 *                 alertmanager, then options: format=json|slack|alertmanager
 * and for every kind: min-severity=info|warning|critical, repeats=yes|no.
 * Options follow a comma, e.g. "http://127.0.0.1:9093,format=alertmanager"
 * or "alertmanager=http://127.0.0.1:9093,min-severity=warning"; a comma in
 * a URL is kept when what follows is not a known option.  URLs must be
 * http:// or https://.  0 or -EINVAL with a reason in `err`.
 */
int sink_parse_spec(enum sink_kind kind, const char *arg, struct sink_spec *out,
		    char *err, size_t errlen);

struct sink_config {
	const struct sink_spec *specs;	/* copied by sink_open */
	size_t n_specs;			/* at most SINK_MAX */
	uint32_t queue_len;		/* 256: alerts between caller and sender */
	uint32_t webhook_queue_len;	/* 256: alerts waiting per webhook */
	uint32_t connect_timeout_ms;	/* 2000 */
	uint32_t timeout_ms;		/* 5000 for a whole request */
	uint32_t backoff_min_ms;	/* 1000: first retry after ... */
	uint32_t backoff_max_ms;	/* 60000: doubling up to ... */
	uint32_t max_attempts;		/* 8 deliveries tried per alert */
	uint32_t max_age_s;		/* 900: older undelivered alerts drop */
	uint32_t drain_ms;		/* 3000: sink_close() delivers pending
					   alerts for at most this long */
	/* Base URL of the dashboard for Alertmanager's generatorURL, e.g.
	 * "http://node-1:8080"; NULL or "" leaves it out.  Copied. */
	const char *generator_url;
	uint64_t endsat_s;		/* 3600: Alertmanager endsAt = last seen +
					   this (the alert resolves unless it
					   fires again) */
};
void sink_config_defaults(struct sink_config *cfg);

struct sink_stats {
	uint64_t submitted;		/* accepted into the queue */
	uint64_t dropped_queue_full;	/* refused by sink_submit: queue full */
	uint64_t dropped_closed;	/* submitted after sink_close began */
	uint64_t queue_depth, queue_high_water;
	size_t n;			/* entries in sink[] */
	struct {
		char name[SINK_NAME_MAX]; /* "webhook slack https://hooks.slack.com:443" */
		uint8_t kind;		/* enum sink_kind */
		uint64_t delivered;	/* written / 2xx answered */
		uint64_t filtered;	/* skipped: below min-severity, repeat */
		uint64_t write_errors;	/* JSON: failed writes (alert lost) */
		/* webhooks */
		uint64_t attempts;	/* requests started */
		uint64_t retries;	/* of which re-sends */
		uint64_t failures;	/* requests failed (each retried or
					   dropped) */
		uint64_t timeouts;	/* of which timed out */
		uint64_t http_5xx;	/* of which answered 5xx, 408 or 429 */
		uint64_t rejected;	/* dropped: other 4xx/3xx answer */
		uint64_t dropped_queue_full; /* its own queue was full */
		uint64_t dropped_attempts; /* gave up after max_attempts */
		uint64_t dropped_age;	/* gave up after max_age_s */
		uint64_t dropped_shutdown; /* still pending when drain ended */
		uint64_t pending;	/* in its queue now */
		int last_status;	/* last HTTP status, 0 none / no answer */
	} sink[SINK_MAX];
};

struct sinks;

/*
 * Open the sinks (files, syslog) and start the sender thread.  A JSON file
 * is opened for append (created 0640); an error there fails the open.
 * NULL with `err` set.  n_specs == 0 is valid (nothing is delivered).
 */
struct sinks *sink_open(const struct sink_config *cfg, char *err,
			size_t errlen);
/*
 * Queue `a` for every sink; never blocks.  0, -EAGAIN when the queue is
 * full (counted), -EPIPE after sink_close() began.  Any thread.
 */
int sink_submit(struct sinks *s, const struct policy_alert *a);
/* Reopen the JSON files at the next batch (after log rotation).  Any thread. */
void sink_reopen(struct sinks *s);
/* Deliver what is queued for at most drain_ms, drop (and count) the rest,
 * stop the thread, close.  NULL is a no-op. */
void sink_close(struct sinks *s, struct sink_stats *final);
/* Any thread. */
void sink_get_stats(struct sinks *s, struct sink_stats *out);

/* ==== policy suggestions ===================================================
 *
 * `egresswatch policy suggest` (policy/suggest.c): turn observed flows into
 * a policy that allows exactly what was observed, as Kubernetes
 * NetworkPolicies or as our own format, so that a workload can go from
 * watching to enforcement.  The CLI reads the store and feeds workloads
 * and flows in; this part knows no SQL.  Bounded: SUGGEST_MAX_* entries,
 * counted in the output's header when exceeded.
 */

#define SUGGEST_MAX_WORKLOADS 20000
#define SUGGEST_MAX_PEERS 200000	/* distinct (workload, direction, peer,
					   port) tuples */
#define SUGGEST_MAX_PEERS_PER_PORT 32	/* clients of one port from outside
					   before the rule widens to any */

enum suggest_format { SUGGEST_NETWORKPOLICY = 0, SUGGEST_EGRESSWATCH = 1 };

/* One observed flow, from the local workload's side. */
struct suggest_flow {
	const char *workload;		/* "namespace/name" (required) */
	const char *remote_workload;	/* "namespace/name" or NULL */
	uint8_t direction;		/* enum policy_direction */
	uint8_t proto;
	uint16_t local_port, remote_port;
	uint8_t remote_ip[16];
	const char *verdict;		/* "alert", ... as stored, or NULL */
	uint64_t start_ns;
};

struct suggest;

struct suggest *suggest_new(void);
void suggest_free(struct suggest *s);
/*
 * A workload and its labels as the store keeps them (a JSON object of
 * strings, NULL for none).  Workloads named by flows but never added are
 * selected by name (our format) or skipped (NetworkPolicy cannot select a
 * pod by name; the output says so).  0, -EINVAL (bad labels JSON: ignored,
 * the workload is kept without labels), -ENOSPC, -ENOMEM.
 */
int suggest_add_workload(struct suggest *s, const char *namespace,
			 const char *name, const char *labels_json);
/* 0, -EINVAL (no workload), -ENOSPC (counted), -ENOMEM. */
int suggest_add_flow(struct suggest *s, const struct suggest_flow *f);
/*
 * Write the policy as YAML to `out` (any size: the buffer's max must be
 * large enough, else -E2BIG).  `namespace` (NULL: all) limits the
 * workloads written.  0, -E2BIG, -ENOMEM.
 */
int suggest_write(struct suggest *s, enum suggest_format fmt,
		  const char *namespace, struct ew_buf *out);

#endif
