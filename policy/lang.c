/*
 * lang.c - our policy format, `apiVersion: egresswatch/v1`, compiled from the
 * YAML tree into the rule structures policy_eval() walks.  docs/policy.md is
 * the reference; this file is its implementation and should read like it.
 *
 * Every error is reported where it is (the node's line:col) and compilation
 * goes on to the next item, so one run of `policy check` lists as many
 * mistakes as it can.  Names that other parts refer to (networks, zones) are
 * compiled in a first pass over all documents, so a rule may use a network
 * defined in another file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const top_keys[] = {
	"apiVersion", "kind", "name", "description", "mode", "default",
	"defaults", "datastore_guard", "cluster_networks", "networks", "zones",
	"deny_between", "workloads", NULL};
static const char *const entry_keys[] = {
	"name", "description", "select", "mode", "listen_only", "serves",
	"egress", "ingress", "budget", NULL};
static const char *const select_keys[] = {
	"namespace", "name", "matchLabels", "matchExpressions",
	"namespaceSelector", NULL};
static const char *const nssel_keys[] = {"matchLabels", "matchExpressions", NULL};
static const char *const egress_keys[] = {"name", "to", "ports", NULL};
static const char *const ingress_keys[] = {"name", "from", "ports", NULL};
static const char *const peer_keys[] = {
	"cidr", "except", "network", "workload", "dns", "country", "asn",
	"cluster", NULL};
static const char *const budget_keys[] = {"outside", "window", NULL};
static const char *const action_keys[] = {"egress", "ingress", NULL};

#define BUDGET_WINDOW_MAX (7 * 86400ull)

static void err(struct diag *d, const struct ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void err(struct diag *d, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vat(d, n->line, n->col, fmt, ap);
	va_end(ap);
}

static int nomem(struct diag *d)
{
	d->oom = 1;
	return -ENOMEM;
}

/* Iterate over a value that may be one scalar or a list of them. */
#define FOR_ONE_OR_MANY(it, n)                                              \
	for (const struct ynode *it = (n)->type == Y_SEQ ? (n)->head : (n); \
	     it; it = (n)->type == Y_SEQ ? it->next : NULL)

static int one_or_many(struct diag *d, const struct ynode *n, const char *what,
		       uint32_t *count)
{
	if (n->type == Y_MAP) {
		err(d, n, "%s must be a value or a list of values, not a mapping", what);
		return -EINVAL;
	}
	*count = n->type == Y_SEQ ? n->n : 1;
	if (*count == 0) {
		err(d, n, "%s must not be an empty list", what);
		return -EINVAL;
	}
	return 0;
}

static int mode_value(struct diag *d, const struct ynode *n, uint8_t *out)
{
	const char *s = NULL;

	if (schema_str(d, n, "mode", &s))
		return -EINVAL;
	if (strcmp(s, "enforce") == 0)
		*out = POLICY_MODE_ENFORCE;
	else if (strcmp(s, "audit") == 0)
		*out = POLICY_MODE_AUDIT;
	else {
		err(d, n, "mode must be 'enforce' or 'audit', not '%.64s'", s);
		return -EINVAL;
	}
	return 0;
}

static int action_word(struct diag *d, const struct ynode *n, uint8_t *out)
{
	const char *s = NULL;

	if (schema_str(d, n, "a default", &s))
		return -EINVAL;
	if (strcmp(s, "allow") == 0)
		*out = ACT_ALLOW;
	else if (strcmp(s, "alert") == 0)
		*out = ACT_ALERT;
	else {
		err(d, n, "a default must be 'allow' or 'alert', not '%.64s'", s);
		return -EINVAL;
	}
	return 0;
}

/* `allow`, `alert`, or {egress: ..., ingress: ...}; a direction left out
 * stays ACT_UNSET. */
static int action_spec(struct diag *d, const struct ynode *n, uint8_t out[2])
{
	const struct ynode *e, *i;
	int rc = 0;

	out[0] = out[1] = ACT_UNSET;
	if (n->type != Y_MAP) {
		if (action_word(d, n, &out[0]))
			return -EINVAL;
		out[1] = out[0];
		return 0;
	}
	if (schema_keys(d, n, "a default", action_keys))
		return -EINVAL;
	if ((e = ymap_get(n, "egress")) && action_word(d, e, &out[POLICY_EGRESS]))
		rc = -EINVAL;
	if ((i = ymap_get(n, "ingress")) && action_word(d, i, &out[POLICY_INGRESS]))
		rc = -EINVAL;
	return rc;
}

/* A setting that may appear in one document only. */
static int once(struct loader *L, struct diag *d, const struct ynode *n,
		const char *what, int *set, struct srcpos *at)
{
	if (*set) {
		err(d, n, "%s is already set at %s:%u:%u", what, at->file,
		    at->line, at->col);
		return -EINVAL;
	}
	*set = 1;
	*at = loader_pos(L, n);
	return 0;
}

/* ---- first pass: networks and zones ----------------------------------- */

static int compile_networks(struct loader *L, struct diag *d,
			    const struct ynode *map)
{
	int rc = 0;

	if (schema_map(d, map, "networks"))
		return -EINVAL;
	for (const struct ynode *k = map->head; k; k = k->next) {
		struct network *net;
		struct ew_cidr *c;
		uint32_t cnt, i = 0;

		if (!(net = vec_push(&L->networks)))
			return nomem(d);
		net->at = loader_pos(L, k);
		if (schema_name(d, L->a, k, "a network name", &net->name) ||
		    one_or_many(d, k->val, "a network", &cnt)) {
			rc = -EINVAL;
			continue;
		}
		if (!(c = arena_array(L->a, cnt, sizeof(*c))))
			return nomem(d);
		FOR_ONE_OR_MANY(it, k->val)
			if (schema_cidr(d, it, "network", 0, &c[i++]))
				rc = -EINVAL;
		if (cidrset_build(L->a, c, cnt, &net->set))
			return nomem(d);
	}
	return rc;
}

static int compile_zones(struct loader *L, struct diag *d,
			 const struct ynode *map)
{
	int rc = 0;

	if (schema_map(d, map, "zones"))
		return -EINVAL;
	for (const struct ynode *k = map->head; k; k = k->next) {
		struct zone *z;

		if (!(z = vec_push(&L->zones)))
			return nomem(d);
		z->at = loader_pos(L, k);
		if (schema_name(d, L->a, k, "a zone name", &z->name) ||
		    schema_globset(d, L->a, k->val, "a zone's namespaces", 1, &z->ns))
			rc = -EINVAL;
	}
	return rc;
}

int lang_compile_names(struct loader *L, struct diag *d, const struct ynode *doc)
{
	const struct ynode *n;
	int rc = 0;

	if ((n = ymap_get(doc, "networks")) && compile_networks(L, d, n))
		rc = -EINVAL;
	if ((n = ymap_get(doc, "zones")) && compile_zones(L, d, n))
		rc = -EINVAL;
	return d->oom ? -ENOMEM : rc;
}

/* ---- selectors ------------------------------------------------------------ */

static int compile_wsel(struct loader *L, struct diag *d, const struct ynode *n,
			const char *what, struct wsel *w)
{
	const struct ynode *v;
	int rc = 0;

	if (schema_keys(d, n, what, select_keys))
		return -EINVAL;
	if ((v = ymap_get(n, "namespace")) &&
	    schema_globset(d, L->a, v, "namespace", 1, &w->ns))
		rc = -EINVAL;
	if ((v = ymap_get(n, "name")) &&
	    schema_globset(d, L->a, v, "name", 0, &w->name))
		rc = -EINVAL;
	if (schema_lsel(d, L->a, n, &w->labels))
		rc = -EINVAL;
	if ((v = ymap_get(n, "namespaceSelector"))) {
		if (schema_keys(d, v, "namespaceSelector", nssel_keys) ||
		    schema_lsel(d, L->a, v, &w->ns_labels))
			rc = -EINVAL;
	}
	return rc;
}

/* ---- peers -------------------------------------------------------------- */

static int peer_cidr(struct loader *L, struct diag *d, const struct ynode *pn,
		     const struct ynode *v, struct peer *p)
{
	const struct ynode *ex = ymap_get(pn, "except");
	struct ew_cidr *c, *e;
	uint32_t i = 0, n_except;
	int rc = 0;

	if (one_or_many(d, v, "cidr", &p->n))
		return -EINVAL;
	if (!(c = arena_array(L->a, p->n, sizeof(*c))))
		return nomem(d);
	FOR_ONE_OR_MANY(it, v)
		if (schema_cidr(d, it, "cidr", 0, &c[i++]))
			rc = -EINVAL;
	if (cidrset_build(L->a, c, p->n, &p->cidrs))
		return nomem(d);
	if (!ex || rc)
		return rc;
	if (one_or_many(d, ex, "except", &n_except))
		return -EINVAL;
	if (!(e = arena_array(L->a, n_except, sizeof(*e))))
		return nomem(d);
	i = 0;
	FOR_ONE_OR_MANY(it, ex) {
		if (schema_cidr(d, it, "except", 0, &e[i])) {
			rc = -EINVAL;
			continue;
		}
		if (!cidrset_covers(&p->cidrs, &e[i])) {
			err(d, it, "except: '%.64s' is not inside the peer's cidr", it->s);
			rc = -EINVAL;
		}
		i++;
	}
	if (cidrset_build(L->a, e, i, &p->except))
		return nomem(d);
	return rc;
}

static int peer_network(struct loader *L, struct diag *d, const struct ynode *v,
			struct peer *p)
{
	uint32_t i = 0;
	int rc = 0;

	if (one_or_many(d, v, "network", &p->n))
		return -EINVAL;
	if (!(p->networks = arena_array(L->a, p->n, sizeof(*p->networks))))
		return nomem(d);
	FOR_ONE_OR_MANY(it, v) {
		const char *name;
		int idx;
		if (schema_str(d, it, "network", &name)) {
			rc = -EINVAL;
			continue;
		}
		if ((idx = loader_find_network(L, name)) < 0) {
			err(d, it, "network '%.64s' is not defined under 'networks:'", name);
			rc = -EINVAL;
			continue;
		}
		p->networks[i++] = (uint32_t)idx;
	}
	return rc;
}

static int peer_dns(struct loader *L, struct diag *d, const struct ynode *v,
		    struct peer *p)
{
	uint32_t i = 0;
	int rc = 0;

	if (one_or_many(d, v, "dns", &p->n))
		return -EINVAL;
	if (!(p->dns = arena_array(L->a, p->n, sizeof(*p->dns))))
		return nomem(d);
	FOR_ONE_OR_MANY(it, v) {
		int r = schema_dnspat(d, L->a, it, &p->dns[i++]);
		if (r == -ENOMEM)
			return r;
		if (r)
			rc = r;
	}
	return rc;
}

static int peer_country(struct loader *L, struct diag *d, const struct ynode *v,
			struct peer *p)
{
	uint32_t i = 0;
	int rc = 0;

	if (one_or_many(d, v, "country", &p->n))
		return -EINVAL;
	if (!(p->countries = arena_array(L->a, p->n, sizeof(*p->countries))))
		return nomem(d);
	FOR_ONE_OR_MANY(it, v) {
		const char *s;
		if (schema_str(d, it, "country", &s)) {
			rc = -EINVAL;
			continue;
		}
		if (it->len != 2 || !isalpha((unsigned char)s[0]) ||
		    !isalpha((unsigned char)s[1])) {
			err(d, it, "country '%.64s' is not an ISO 3166 alpha-2 code (like DE)", s);
			rc = -EINVAL;
			continue;
		}
		p->countries[i][0] = (char)toupper((unsigned char)s[0]);
		p->countries[i][1] = (char)toupper((unsigned char)s[1]);
		p->countries[i++][2] = '\0';
	}
	return rc;
}

static int peer_asn(struct loader *L, struct diag *d, const struct ynode *v,
		    struct peer *p)
{
	uint32_t i = 0;
	int rc = 0;

	if (one_or_many(d, v, "asn", &p->n))
		return -EINVAL;
	if (!(p->asns = arena_array(L->a, p->n, sizeof(*p->asns))))
		return nomem(d);
	FOR_ONE_OR_MANY(it, v) {
		uint64_t asn = 0;
		if (it->type == Y_SCALAR && it->kind == YK_STR &&
		    strncasecmp(it->s, "AS", 2) == 0 && it->len > 2 && it->len <= 12 &&
		    strspn(it->s + 2, "0123456789") == it->len - 2) {
			asn = strtoull(it->s + 2, NULL, 10);
			if (asn < 1 || asn > UINT32_MAX) {
				err(d, it, "asn must be between 1 and 4294967295");
				rc = -EINVAL;
				continue;
			}
		} else if (it->type == Y_SCALAR && it->kind == YK_STR) {
			err(d, it, "asn '%.64s' is not an AS number (like 13335 or AS13335)",
			    it->s);
			rc = -EINVAL;
			continue;
		} else if (schema_u64(d, it, "asn", 1, UINT32_MAX, &asn)) {
			rc = -EINVAL;
			continue;
		}
		p->asns[i++] = (uint32_t)asn;
	}
	return rc;
}

static int compile_peer(struct loader *L, struct diag *d, const struct ynode *pn,
			struct peer *p)
{
	static const char *const kinds[] = {"cidr", "network", "workload", "dns",
					    "country", "asn", "cluster"};
	const struct ynode *v = NULL;
	const char *kind = NULL;
	int which = -1, b;

	if (schema_keys(d, pn, "a peer", peer_keys))
		return -EINVAL;
	for (size_t i = 0; i < EW_ARRAY_LEN(kinds); i++) {
		const struct ynode *x = ymap_get(pn, kinds[i]);
		if (!x)
			continue;
		if (v) {
			err(d, pn, "a peer has exactly one of cidr, network, workload, dns, "
				   "country, asn, cluster (this one has '%s' and '%s'); "
				   "use two list items for either-or", kind, kinds[i]);
			return -EINVAL;
		}
		v = x;
		kind = kinds[i];
		which = (int)i;
	}
	if (!v) {
		err(d, pn, "a peer needs one of cidr, network, workload, dns, country, "
			   "asn, cluster");
		return -EINVAL;
	}
	if (ymap_get(pn, "except") && which != 0) {
		err(d, pn, "'except' goes with 'cidr' only");
		return -EINVAL;
	}
	p->kind = (uint8_t)(PEER_CIDR + which);
	switch (p->kind) {
	case PEER_CIDR: return peer_cidr(L, d, pn, v, p);
	case PEER_NETWORK: return peer_network(L, d, v, p);
	case PEER_DNS: return peer_dns(L, d, v, p);
	case PEER_COUNTRY: return peer_country(L, d, v, p);
	case PEER_ASN: return peer_asn(L, d, v, p);
	case PEER_CLUSTER:
		if (schema_bool(d, v, "cluster", &b))
			return -EINVAL;
		p->cluster = (uint8_t)b;
		return 0;
	default:
		if (!(p->wl = arena_alloc(L->a, sizeof(*p->wl))))
			return nomem(d);
		return compile_wsel(L, d, v, "a workload peer", p->wl);
	}
}

/* ---- workload entries ------------------------------------------------------ */

static int compile_rule(struct loader *L, struct diag *d, const struct entry *e,
			int dir, uint32_t idx, const struct ynode *rn,
			struct rule *r)
{
	const char *peers_key = dir == POLICY_EGRESS ? "to" : "from";
	const char *dirname = dir == POLICY_EGRESS ? "egress" : "ingress";
	const struct ynode *v;
	const char *name = NULL;
	int rc = 0;

	if (schema_keys(d, rn, dir == POLICY_EGRESS ? "an egress rule" : "an ingress rule",
			dir == POLICY_EGRESS ? egress_keys : ingress_keys))
		return -EINVAL;
	if ((v = ymap_get(rn, "name")) && schema_name(d, L->a, v, "a rule name", &name))
		rc = -EINVAL;
	r->name = name ? arena_printf(L->a, "%s/%s", e->name, name) :
			 arena_printf(L->a, "%s/%s[%u]", e->name, dirname, idx);
	if (!r->name)
		return nomem(d);
	if ((v = ymap_get(rn, "ports")) &&
	    schema_portset(d, L->a, v, "ports", &r->ports))
		rc = -EINVAL;
	if (!(v = ymap_get(rn, peers_key)))
		return rc;
	if (schema_seq(d, v, peers_key))
		return -EINVAL;
	if (v->n == 0) {
		err(d, v, "'%s' must not be empty (leave it out to match any %s)",
		    peers_key, dir == POLICY_EGRESS ? "destination" : "source");
		return -EINVAL;
	}
	if (!(r->peers = arena_array(L->a, v->n, sizeof(*r->peers))))
		return nomem(d);
	for (const struct ynode *pn = v->head; pn; pn = pn->next) {
		int r2 = compile_peer(L, d, pn, &r->peers[r->n_peers++]);
		if (r2 == -ENOMEM)
			return r2;
		if (r2)
			rc = r2;
	}
	return rc;
}

static int compile_rules(struct loader *L, struct diag *d, struct entry *e,
			 int dir, const struct ynode *list)
{
	uint32_t i = 0;
	int rc = 0;

	e->has_rules[dir] = 1;
	if (list->type == Y_SCALAR && list->kind == YK_NULL)
		return 0;	/* `egress:` with nothing: no rule allows anything */
	if (schema_seq(d, list, dir == POLICY_EGRESS ? "egress" : "ingress"))
		return -EINVAL;
	if (list->n == 0)
		return 0;
	e->rules[dir] = arena_array(L->a, list->n, sizeof(*e->rules[dir]));
	if (!e->rules[dir])
		return nomem(d);
	for (const struct ynode *rn = list->head; rn; rn = rn->next, i++) {
		int r = compile_rule(L, d, e, dir, i, rn, &e->rules[dir][i]);
		if (r == -ENOMEM)
			return r;
		if (r)
			rc = r;
	}
	e->n_rules[dir] = list->n;
	return rc;
}

static int compile_budget(struct diag *d, const struct ynode *n, struct entry *e)
{
	const struct ynode *o, *w;
	const char *s = NULL;

	if (schema_keys(d, n, "budget", budget_keys))
		return -EINVAL;
	o = ymap_get(n, "outside");
	w = ymap_get(n, "window");
	if (!o || !w) {
		err(d, n, "budget needs 'outside' (bytes, like 50MiB) and 'window' "
			  "(like 5m)");
		return -EINVAL;
	}
	if (o->type == Y_SCALAR && o->kind == YK_INT) {
		if (schema_u64(d, o, "budget outside", 1, UINT64_MAX, &e->budget_bytes))
			return -EINVAL;
	} else if (schema_str(d, o, "budget outside", &s) ||
		   ew_parse_size(s, &e->budget_bytes) || e->budget_bytes == 0) {
		if (o->type == Y_SCALAR && o->kind == YK_STR)
			err(d, o, "budget outside: '%.64s' is not a size (like 50MiB, "
				  "512k, 1G)", o->s);
		return -EINVAL;
	}
	if (w->type == Y_SCALAR && w->kind == YK_INT) {
		if (schema_u64(d, w, "budget window", 1, BUDGET_WINDOW_MAX,
			       &e->budget_window_s))
			return -EINVAL;
	} else if (schema_str(d, w, "budget window", &s) ||
		   ew_parse_duration(s, &e->budget_window_s) ||
		   e->budget_window_s == 0 || e->budget_window_s > BUDGET_WINDOW_MAX) {
		if (w->type == Y_SCALAR && w->kind == YK_STR)
			err(d, w, "budget window: '%.64s' is not a duration between 1s "
				  "and 7d (like 30s, 5m, 1h)", w->s);
		return -EINVAL;
	}
	e->has_budget = 1;
	return 0;
}

static int compile_entry(struct loader *L, struct diag *d, const struct ynode *n)
{
	const struct ynode *v;
	struct entry *e;
	uint8_t mode;
	int b, rc = 0;

	if (schema_map(d, n, "a workload entry"))
		return -EINVAL;
	/* Unknown keys are reported and the rest is still checked. */
	if (schema_keys(d, n, "a workload entry", entry_keys))
		rc = -EINVAL;
	if (!(e = vec_push(&L->entries)))
		return nomem(d);
	e->listen_only = -1;
	e->mode = -1;
	if (!(v = ymap_get(n, "name"))) {
		err(d, n, "a workload entry needs a 'name'");
		return -EINVAL;
	}
	if (schema_name(d, L->a, v, "a workload entry name", &e->name))
		return -EINVAL;
	e->at = loader_pos(L, v);
	e->egress_rule = arena_printf(L->a, "%s/egress", e->name);
	e->ingress_rule = arena_printf(L->a, "%s/ingress", e->name);
	e->listen_rule = arena_printf(L->a, "%s/listen-only", e->name);
	e->serves_rule = arena_printf(L->a, "%s/serves", e->name);
	if (!e->egress_rule || !e->ingress_rule || !e->listen_rule || !e->serves_rule)
		return nomem(d);
	if (!(v = ymap_get(n, "select"))) {
		err(d, n, "workload entry '%s' needs 'select' ({} selects every workload)",
		    e->name);
		rc = -EINVAL;
	} else if (compile_wsel(L, d, v, "select", &e->sel)) {
		rc = -EINVAL;
	}
	if ((v = ymap_get(n, "mode"))) {
		if (mode_value(d, v, &mode))
			rc = -EINVAL;
		else
			e->mode = (int8_t)mode;
	}
	if ((v = ymap_get(n, "listen_only"))) {
		if (schema_bool(d, v, "listen_only", &b))
			rc = -EINVAL;
		else
			e->listen_only = (int8_t)b;
	}
	if ((v = ymap_get(n, "serves"))) {
		if (schema_portset(d, L->a, v, "serves", &e->serves))
			rc = -EINVAL;
		e->has_serves = 1;
	}
	if ((v = ymap_get(n, "budget")) && compile_budget(d, v, e))
		rc = -EINVAL;
	if ((v = ymap_get(n, "egress")) && compile_rules(L, d, e, POLICY_EGRESS, v))
		rc = -EINVAL;
	if ((v = ymap_get(n, "ingress")) && compile_rules(L, d, e, POLICY_INGRESS, v))
		rc = -EINVAL;
	return d->oom ? -ENOMEM : rc;
}

/* ---- the rest of the document ------------------------------------------------ */

static int compile_defaults(struct loader *L, struct diag *d,
			    const struct ynode *map)
{
	int rc = 0;

	if (schema_map(d, map, "defaults"))
		return -EINVAL;
	for (const struct ynode *k = map->head; k; k = k->next) {
		struct nsdefault *nd = vec_push(&L->nsdefaults);
		if (!nd)
			return nomem(d);
		nd->at = loader_pos(L, k);
		if (schema_glob(d, L->a, k, "a namespace", 1, &nd->ns) ||
		    action_spec(d, k->val, nd->action)) {
			rc = -EINVAL;
			continue;
		}
		if (!(nd->rule = arena_printf(L->a, "default/%s", nd->ns.pat)))
			return nomem(d);
	}
	return rc;
}

static int compile_pairs(struct loader *L, struct diag *d, const struct ynode *list)
{
	int rc = 0;

	if (schema_seq(d, list, "deny_between"))
		return -EINVAL;
	for (const struct ynode *it = list->head; it; it = it->next) {
		const char *a, *b;
		int za, zb;
		struct zone_pair *zp;

		if (it->type != Y_SEQ || it->n != 2) {
			err(d, it, "a deny_between item is a pair of zone names, like [web, pci]");
			rc = -EINVAL;
			continue;
		}
		if (schema_str(d, it->head, "a zone name", &a) ||
		    schema_str(d, it->head->next, "a zone name", &b)) {
			rc = -EINVAL;
			continue;
		}
		za = loader_find_zone(L, a);
		zb = loader_find_zone(L, b);
		if (za < 0 || zb < 0) {
			const struct ynode *bad = za < 0 ? it->head : it->head->next;
			err(d, bad, "zone '%.64s' is not defined under 'zones:'", bad->s);
			rc = -EINVAL;
			continue;
		}
		if (za == zb) {
			err(d, it, "a zone cannot be denied from itself ('%.64s')", a);
			rc = -EINVAL;
			continue;
		}
		if (!(zp = vec_push(&L->pairs)))
			return nomem(d);
		zp->a = (uint32_t)za;
		zp->b = (uint32_t)zb;
		if (!(zp->rule = arena_printf(L->a, "zone/%s-%s", a, b)))
			return nomem(d);
	}
	return rc;
}

int lang_compile(struct loader *L, struct diag *d, const struct ynode *doc)
{
	struct policy *p = L->p;
	const struct ynode *v;
	const char *s = NULL;
	int b, rc = 0;

	if (schema_keys(d, doc, "an egresswatch/v1 document", top_keys))
		rc = -EINVAL;
	if ((v = ymap_get(doc, "kind")) &&
	    (schema_str(d, v, "kind", &s) || strcmp(s, "Policy") != 0)) {
		if (v->type == Y_SCALAR && v->kind == YK_STR)
			err(d, v, "kind of an egresswatch/v1 document must be 'Policy'");
		rc = -EINVAL;
	}
	if ((v = ymap_get(doc, "name")) && schema_str(d, v, "name", &s))
		rc = -EINVAL;
	if ((v = ymap_get(doc, "description")) && schema_str(d, v, "description", &s))
		rc = -EINVAL;
	if ((v = ymap_get(doc, "mode"))) {
		if (once(L, d, v, "mode", &L->mode_set, &L->mode_at) ||
		    mode_value(d, v, &p->mode))
			rc = -EINVAL;
	}
	if ((v = ymap_get(doc, "default"))) {
		uint8_t act[2];
		if (once(L, d, v, "default", &L->default_set, &L->default_at) ||
		    action_spec(d, v, act))
			rc = -EINVAL;
		else
			for (int i = 0; i < 2; i++)
				if (act[i] != ACT_UNSET)
					p->default_action[i] = act[i];
	}
	if ((v = ymap_get(doc, "datastore_guard"))) {
		if (once(L, d, v, "datastore_guard", &L->guard_set, &L->guard_at) ||
		    schema_bool(d, v, "datastore_guard", &b))
			rc = -EINVAL;
		else
			p->datastore_guard = (uint8_t)b;
	}
	if ((v = ymap_get(doc, "cluster_networks"))) {
		uint32_t cnt;
		if (one_or_many(d, v, "cluster_networks", &cnt)) {
			rc = -EINVAL;
		} else {
			FOR_ONE_OR_MANY(it, v) {
				struct ew_cidr *c = vec_push(&L->cluster);
				if (!c)
					return nomem(d);
				if (schema_cidr(d, it, "cluster_networks", 0, c))
					rc = -EINVAL;
			}
		}
	}
	if ((v = ymap_get(doc, "defaults")) && compile_defaults(L, d, v))
		rc = -EINVAL;
	if ((v = ymap_get(doc, "deny_between")) && compile_pairs(L, d, v))
		rc = -EINVAL;
	if ((v = ymap_get(doc, "workloads"))) {
		if (schema_seq(d, v, "workloads"))
			rc = -EINVAL;
		else
			for (const struct ynode *it = v->head; it; it = it->next) {
				int r = compile_entry(L, d, it);
				if (r == -ENOMEM)
					return r;
				if (r)
					rc = r;
			}
	}
	p->documents++;
	return d->oom ? -ENOMEM : rc;
}
