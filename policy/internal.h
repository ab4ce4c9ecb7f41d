/*
 * internal.h - private to policy/: the pieces the module's files share.
 *
 *   arena.c     one-shot allocator: a compiled policy is one arena, freed at once
 *   diag.c      "file:line:col: message" collection
 *   yaml.c      safe YAML loader: libyaml events -> bounded node tree
 *   schema.c    typed reads of tree nodes (strings, bools, ports, CIDRs,
 *               selectors) shared by both input formats
 *   match.c     evaluation-time matchers (globs, DNS names, selectors, ports)
 *   cidrset.c   address sets with O(log n) membership, named-network lookup
 *   lang.c      the egresswatch/v1 format -> compiled rules
 *   netpol.c    Kubernetes NetworkPolicy -> compiled rules, and its evaluation
 *   defaults.c  the built-in policy and the datastore port list
 *   load.c      policy_load(): reading, dispatch by apiVersion, finishing
 *   index.c     lookups by namespace built at load, used by the evaluation
 *   eval.c      policy_eval(): combining our rules and NetworkPolicies
 *
 * Nothing here is visible outside the module; policy.h is the interface.
 */
#ifndef EW_POLICY_INTERNAL_H
#define EW_POLICY_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "util.h"

/* ---- arena ------------------------------------------------------------ */
struct arena_chunk;
struct arena {
	struct arena_chunk *head;
	size_t total;			/* bytes allocated from malloc */
};
/* Zeroed, 16-byte aligned memory; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t size);
/* Overflow-checked arena_alloc(n * size). */
void *arena_array(struct arena *a, size_t n, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void arena_free(struct arena *a);

/* ---- diagnostics -------------------------------------------------------- */
struct diag {
	struct policy_errors *out;	/* may be NULL: count only */
	const char *file;		/* name used in messages */
	unsigned count;			/* errors in this load */
	int oom;			/* an allocation failed */
};
void diag_at(struct diag *d, uint32_t line, uint32_t col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void diag_vat(struct diag *d, uint32_t line, uint32_t col, const char *fmt,
	      va_list ap);
/* An error of the whole file (no position). */
void diag_file(struct diag *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- YAML node tree ----------------------------------------------------
 * Scalars keep their text and the type the YAML 1.2 core schema gives a
 * plain scalar (quoted scalars and !!str are strings), so "NO" is a string
 * and `port: "80"` differs from `port: 80`.  Mapping keys are scalars and
 * unique; items keep file order.  Aliases are refused, so the tree is a
 * tree and its size is bounded by the file. */
enum ytype { Y_SCALAR = 1, Y_SEQ, Y_MAP };
enum ykind { YK_STR = 0, YK_NULL, YK_BOOL, YK_INT, YK_FLOAT };

struct ynode {
	uint8_t type;			/* enum ytype */
	uint8_t kind;			/* enum ykind, scalars only */
	uint32_t line, col;		/* 1-based start of the node */
	uint32_t n;			/* items (seq) or pairs (map) */
	const char *s;			/* scalar text, NUL-terminated; "" else */
	size_t len;
	struct ynode *head, *tail;	/* seq: items; map: keys */
	struct ynode *next;		/* next item / next key */
	struct ynode *val;		/* map key: its value */
};

struct ytree {
	struct arena arena;
	struct ynode **docs;		/* document roots (arena) */
	size_t ndocs;
};
/* Parse `len` bytes.  0, or -EINVAL with the error in `d`, or -ENOMEM.  The
 * tree is released with ytree_free() either way. */
int ytree_parse(struct ytree *t, const char *data, size_t len, struct diag *d);
void ytree_free(struct ytree *t);
/* Value of `key` in mapping `map`, or NULL. */
const struct ynode *ymap_get(const struct ynode *map, const char *key);
int yscalar_is(const struct ynode *n, const char *s);

/* ---- compiled model ------------------------------------------------------ */

/* Where something was defined: for "duplicate" and "already set" errors
 * during the load.  `file` is a copy in the policy arena; `seq` orders
 * definitions across files. */
struct srcpos {
	const char *file;
	uint32_t line, col, seq;
};

/* CIDR blocks sorted for O(log n) membership (cidrset.c). */
struct cidrset {
	struct ew_cidr *c;		/* sorted by lo */
	uint8_t (*maxhi)[16];		/* maxhi[i]: largest hi of c[0..i] */
	uint32_t n;			/* 0: the empty set */
};

/* Kubernetes LabelSelector: every requirement must hold; none = everything. */
enum lsel_op { LS_IN = 0, LS_NOT_IN, LS_EXISTS, LS_NOT_EXISTS };
struct lsel_req {
	const char *key;
	const char **values;
	uint32_t n_values;
	uint8_t op;			/* enum lsel_op */
};
struct lsel {
	struct lsel_req *req;
	uint32_t n;
};

/* `*` any run of characters, `?` one; a pattern without them is literal. */
struct glob {
	const char *pat;
	uint8_t literal;
};
struct globset {
	struct glob *g;
	uint32_t n;			/* 0: matches anything */
};

/* Workload selector of our format. */
struct wsel {
	struct globset ns, name;
	struct lsel labels, ns_labels;
};

/* tcp/443, udp/53, tcp/8000-8100, icmp, any.  Protocols without ports
 * match on the protocol alone. */
struct portrange {
	uint8_t proto;
	uint8_t any_proto;
	uint16_t lo, hi;
};
struct portset {
	struct portrange *r;
	uint32_t n;			/* 0: any protocol, any port */
};

/* A DNS pattern: exact name, or "*.suffix" = one or more labels below it.
 * Stored lower-case without a trailing dot; `text` is ".suffix" for
 * wildcards. */
struct dnspat {
	const char *text;
	uint32_t len;
	uint8_t wild;
};

enum peer_kind {
	PEER_CIDR = 1, PEER_NETWORK, PEER_WORKLOAD, PEER_DNS, PEER_COUNTRY,
	PEER_ASN, PEER_CLUSTER,
};
struct peer {
	uint8_t kind;			/* enum peer_kind */
	uint8_t cluster;		/* PEER_CLUSTER: 1 in, 0 outside */
	uint32_t n;			/* items of the kind's list */
	struct cidrset cidrs, except;	/* CIDR */
	uint32_t *networks;		/* NETWORK: indices into policy.networks */
	struct wsel *wl;		/* WORKLOAD */
	struct dnspat *dns;		/* DNS */
	char (*countries)[3];		/* COUNTRY: upper case */
	uint32_t *asns;			/* ASN */
};

struct rule {
	const char *name;		/* "<entry>/<name>" or "<entry>/egress[i]" */
	struct peer *peers;
	uint32_t n_peers;		/* 0: any remote */
	struct portset ports;
};

struct entry {
	const char *name;
	const char *egress_rule;	/* "<name>/egress": isolated, no match */
	const char *ingress_rule;	/* "<name>/ingress" */
	const char *listen_rule;	/* "<name>/listen-only" */
	const char *serves_rule;	/* "<name>/serves" */
	struct wsel sel;
	struct rule *rules[2];		/* by enum policy_direction */
	uint32_t n_rules[2];
	uint8_t has_rules[2];		/* the section is present (even empty) */
	int8_t listen_only;		/* -1: not said */
	int8_t mode;			/* -1: the global mode */
	uint8_t has_serves, has_budget;
	struct portset serves;
	uint64_t budget_bytes, budget_window_s;
	struct srcpos at;
};

struct network {
	const char *name;
	struct cidrset set;
	struct srcpos at;
};
/* One block of one network, for the longest-prefix lookup: sorted by
 * prefix length (longest first), then address; `prefixes` are the runs of
 * one length. */
struct netblock {
	struct ew_cidr cidr;
	uint32_t net;
};
struct prefix_run {
	uint32_t first, n;
};

struct zone {
	const char *name;
	struct globset ns;
	struct srcpos at;
};
struct zone_pair {
	uint32_t a, b;			/* indices into policy.zones */
	const char *rule;		/* "zone/<a>-<b>" */
};

enum action { ACT_ALLOW = 0, ACT_ALERT = 1, ACT_UNSET = 2 };
struct nsdefault {
	struct glob ns;
	uint8_t action[2];		/* by direction; UNSET: the global default */
	const char *rule;		/* "default/<ns>" */
	struct srcpos at;
};

/* Kubernetes NetworkPolicy, compiled. */
struct np_peer {
	uint8_t ipblock;		/* 1: cidr/except; 0: selectors */
	uint8_t has_pod, has_ns;
	struct lsel pod, ns;
	struct ew_cidr cidr;
	struct cidrset except;
};
struct np_port {
	uint8_t proto;
	uint16_t port, end_port;	/* port 0 and no name: every port */
	const char *name;		/* named port, or NULL */
};
struct np_rule {
	const char *name;		/* "netpol/<ns>/<name>/egress[i]" */
	struct np_peer *peers;
	uint32_t n_peers;		/* 0: every peer */
	struct np_port *ports;
	uint32_t n_ports;		/* 0: every port */
};
#define NP_INGRESS 1u
#define NP_EGRESS 2u
struct netpol {
	const char *ns, *name;
	const char *rule;		/* "netpol/<ns>/<name>" */
	struct lsel pod;
	uint8_t types;			/* NP_INGRESS | NP_EGRESS */
	struct np_rule *rules[2];	/* by enum policy_direction */
	uint32_t n_rules[2];
	struct srcpos at;
};

/* Growable array used while loading; moved into the arena at the end. */
struct vec {
	void *p;
	size_t n, cap, size;
};
void *vec_push(struct vec *v);	/* zeroed new slot, or NULL */
void vec_free(struct vec *v);

struct policy {
	struct arena arena;
	uint8_t mode;			/* enum policy_mode */
	uint8_t datastore_guard;
	uint8_t default_action[2];	/* enum action, by direction */
	const char *default_rule;	/* "default" */
	struct nsdefault *nsdefaults;
	uint32_t n_nsdefaults;
	struct network *networks;
	uint32_t n_networks;
	struct netblock *netblocks;
	uint32_t n_netblocks;
	struct prefix_run *prefixes;
	uint32_t n_prefixes;
	struct cidrset cluster;
	struct zone *zones;
	uint32_t n_zones;
	struct zone_pair *pairs;
	uint32_t n_pairs;
	struct entry *entries;
	uint32_t n_entries;
	struct netpol *netpols;		/* grouped by namespace (index.c) */
	uint32_t n_netpols;
	uint32_t documents;
	/* index.c: lookups by namespace, so an evaluation reads only the
	 * entries and NetworkPolicies that can apply to the local workload */
	struct nsrange *np_ns;		/* sorted by namespace */
	uint32_t n_np_ns;
	struct nsbucket *buckets;	/* sorted by namespace */
	uint32_t n_buckets;
	uint32_t *wild;			/* entries with a namespace pattern or none */
	uint32_t n_wild;
};

/* NetworkPolicies of one namespace: netpols[first .. first + n). */
struct nsrange {
	const char *ns;
	uint32_t first, n;
};
/* Entries that name namespace `ns` literally, ascending indices. */
struct nsbucket {
	const char *ns;
	uint32_t *idx;
	uint32_t n;
};

/* ---- loader state (load.c, lang.c, netpol.c) --------------------------- */
struct loader {
	struct policy *p;
	struct arena *a;		/* == &p->arena */
	const char *file;		/* current file, copied into the arena */
	uint32_t seq;			/* definitions so far, for srcpos.seq */
	struct vec nsdefaults, networks, cluster, zones, pairs, entries, netpols;
	struct srcpos mode_at, default_at, guard_at;
	int mode_set, default_set, guard_set;
};
struct srcpos loader_pos(struct loader *L, const struct ynode *n);
/* Index of network/zone `name` (load.c sorts them after the first pass),
 * or -1. */
int loader_find_network(const struct loader *L, const char *name);
int loader_find_zone(const struct loader *L, const char *name);

/* ---- schema.c: typed reads; each reports its own error and returns
 * -EINVAL (or -ENOMEM).  Strings that end up in the policy (names, label
 * keys and values, patterns) are copied into the arena passed in; the
 * others point into the tree and live only during the load. ------------- */
/* Every key of `map` must be in `keys`: unknown keys are errors (with a
 * "did you mean" hint).  `map` must be a mapping. */
int schema_keys(struct diag *d, const struct ynode *map, const char *what,
		const char *const *keys);
const char *ytype_name(const struct ynode *n);
int schema_map(struct diag *d, const struct ynode *n, const char *what);
int schema_seq(struct diag *d, const struct ynode *n, const char *what);
/* A non-empty string (quoted, or plain that is not null/bool/number). */
int schema_str(struct diag *d, const struct ynode *n, const char *what,
	       const char **out);
int schema_bool(struct diag *d, const struct ynode *n, const char *what,
		int *out);
int schema_u64(struct diag *d, const struct ynode *n, const char *what,
	       uint64_t min, uint64_t max, uint64_t *out);
/* A scalar's text copied into the policy arena (the tree is freed after
 * the load, the policy keeps only what it uses); NULL when out of memory. */
const char *schema_keep(struct diag *d, struct arena *a, const struct ynode *n);
/* Our own names: [A-Za-z0-9._-], 1..63 characters; kept in `a`. */
int schema_name(struct diag *d, struct arena *a, const struct ynode *n,
		const char *what, const char **out);
/* A CIDR; with `need_slash` a prefix length must be written. */
int schema_cidr(struct diag *d, const struct ynode *n, const char *what,
		int need_slash, struct ew_cidr *out);
/* Kubernetes LabelSelector {matchLabels, matchExpressions} from the keys of
 * `map` (other keys are the caller's business). */
int schema_lsel(struct diag *d, struct arena *a, const struct ynode *map,
		struct lsel *out);
/* Patterns; with `empty_ok`, "" is a valid (literal) pattern: the namespace
 * of plain containers. */
int schema_globset(struct diag *d, struct arena *a, const struct ynode *n,
		   const char *what, int empty_ok, struct globset *out);
int schema_glob(struct diag *d, struct arena *a, const struct ynode *n,
		const char *what, int empty_ok, struct glob *out);
int schema_portset(struct diag *d, struct arena *a, const struct ynode *n,
		   const char *what, struct portset *out);
int schema_dnspat(struct diag *d, struct arena *a, const struct ynode *n,
		  struct dnspat *out);

/* ---- match.c: evaluation-time matching, no allocation ------------------- */
int glob_match(const char *pat, const char *s);
int globset_match(const struct globset *g, const char *s);
int lsel_match(const struct lsel *sel, const struct policy_label *labels,
	       size_t n, const char *ns_name);
int wsel_match(const struct wsel *w, const struct policy_workload *wl);
int portset_match(const struct portset *ps, uint8_t proto, uint16_t port);
int dnspat_match(const struct dnspat *d, const char *name);

/* ---- cidrset.c ---------------------------------------------------------- */
/* Make a set of the `n` blocks at `c` (an arena array the set takes over
 * and sorts); 0 or -ENOMEM. */
int cidrset_build(struct arena *a, struct ew_cidr *c, uint32_t n,
		  struct cidrset *out);
int cidrset_contains(const struct cidrset *s, const uint8_t ip[16]);
/* 1 if one block of the set contains the whole of `c`. */
int cidrset_covers(const struct cidrset *s, const struct ew_cidr *c);
/* The longest-prefix index of the policy's networks; 0 or -ENOMEM. */
int netblocks_build(struct policy *p);

/* ---- compile entry points ------------------------------------------------ */
/* First pass over our documents: networks and zones (referenced by name
 * from anywhere).  Second pass: everything else. */
int lang_compile_names(struct loader *L, struct diag *d, const struct ynode *doc);
int lang_compile(struct loader *L, struct diag *d, const struct ynode *doc);
int netpol_compile(struct loader *L, struct diag *d, const struct ynode *doc);
/* 1 if the NetworkPolicies decide the flow: isolated in its direction.
 * Then *allowed says whether a rule allowed it and *rule names it (or the
 * isolating policy when denied). */
int netpol_eval(const struct policy *p, const struct policy_flow *f,
		int *allowed, const char **rule, const char **netpol);

/* ---- index.c --------------------------------------------------------------- */
/* Build the namespace lookups of a finished policy; 0 or -ENOMEM.  Sorts
 * p->netpols by namespace, keeping load order within a namespace. */
int index_build(struct policy *p);
/* The entries that can select a workload of namespace `ns`, in file
 * order: the namespace's bucket merged with the wildcard list. */
struct entry_iter {
	const uint32_t *a, *b;
	uint32_t na, nb, ia, ib;
};
void entry_iter_init(const struct policy *p, const char *ns,
		     struct entry_iter *it);
const struct entry *entry_iter_next(const struct policy *p,
				    struct entry_iter *it);
/* The NetworkPolicies of namespace `ns`, or n == 0. */
const struct netpol *index_netpols(const struct policy *p, const char *ns,
				   uint32_t *n);

/* ---- defaults.c ------------------------------------------------------------ */
/* Install the built-in values into a fresh policy. */
void defaults_init(struct policy *p);
/* 1 if (proto, port) is in the datastore table. */
int datastore_port(uint8_t proto, uint16_t port);

#endif
