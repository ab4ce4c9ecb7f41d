/*
 * eval.c - policy_eval(): one flow against our rules and the Kubernetes
 * NetworkPolicies, on the pipeline thread for every new flow.
 *
 * Our rules decide in this order (docs/policy.md, "How a flow is judged");
 * the first step that applies gives the verdict:
 *   1. zone boundary (deny_between) - unless an allow rule of the local
 *      workload names the remote workload (a `workload:` peer), because a
 *      segmentation boundary is only crossed by naming who is on the other
 *      side, never by a CIDR or a default;
 *   2. an allow rule of an entry selecting the local workload;
 *   3. builtin/datastore-egress;
 *   4. listen-only (declared, or inferred from served datastore ports);
 *   5. inbound to a port outside `serves:`;
 *   6. an entry with rules for this direction, none matched (isolated);
 *   7. the namespace default, then the global default.
 * The NetworkPolicies are judged on their own (netpol.c); a deny from
 * either side wins.  An explicit allow of ours never overrides a
 * NetworkPolicy deny, and vice versa.
 *
 * No allocation, no locks, no logging: the policy is immutable and every
 * matcher works on what the caller passed in.
 */
#include <string.h>

#include "internal.h"

static const char *const verdict_names[] = {"allow", "alert", "audit"};
static const char *const reason_names[] = {
	"default", "rule", "netpol-allow", "zone", "datastore", "listen-only",
	"not-served", "isolated", "netpol-deny"};
_Static_assert(EW_ARRAY_LEN(reason_names) == POLICY_R__COUNT,
	       "a name for every reason");

const char *policy_verdict_name(enum policy_verdict v)
{
	return (unsigned)v < EW_ARRAY_LEN(verdict_names) ? verdict_names[v] : "?";
}

const char *policy_reason_name(enum policy_reason r)
{
	return (unsigned)r < EW_ARRAY_LEN(reason_names) ? reason_names[r] : "?";
}

/* 0 no match, 1 match, 2 match by naming the remote workload. */
static int peer_match(const struct policy *p, const struct peer *pe,
		      const struct policy_flow *f)
{
	uint32_t i;

	switch (pe->kind) {
	case PEER_CIDR:
		return cidrset_contains(&pe->cidrs, f->remote_ip) &&
		       !cidrset_contains(&pe->except, f->remote_ip);
	case PEER_NETWORK:
		for (i = 0; i < pe->n; i++)
			if (cidrset_contains(&p->networks[pe->networks[i]].set,
					     f->remote_ip))
				return 1;
		return 0;
	case PEER_WORKLOAD:
		return f->remote && wsel_match(pe->wl, f->remote) ? 2 : 0;
	case PEER_DNS:
		for (i = 0; f->remote_name && i < pe->n; i++)
			if (dnspat_match(&pe->dns[i], f->remote_name))
				return 1;
		return 0;
	case PEER_COUNTRY:
		if (!f->remote_country || strlen(f->remote_country) != 2)
			return 0;
		for (i = 0; i < pe->n; i++)
			if ((pe->countries[i][0] | 0x20) == (f->remote_country[0] | 0x20) &&
			    (pe->countries[i][1] | 0x20) == (f->remote_country[1] | 0x20))
				return 1;
		return 0;
	case PEER_ASN:
		for (i = 0; f->remote_asn && i < pe->n; i++)
			if (pe->asns[i] == f->remote_asn)
				return 1;
		return 0;
	case PEER_CLUSTER:
		return pe->cluster == !f->remote_outside;
	}
	return 0;
}

/* As peer_match(), for the whole rule: 2 when some matching peer names
 * the remote workload. */
static int rule_peers(const struct policy *p, const struct rule *r,
		      const struct policy_flow *f)
{
	int best = 0;

	if (r->n_peers == 0)
		return 1;
	for (uint32_t i = 0; i < r->n_peers && best < 2; i++) {
		int m = peer_match(p, &r->peers[i], f);
		if (m > best)
			best = m;
	}
	return best;
}

static const struct zone_pair *zone_crossed(const struct policy *p,
					    const struct policy_flow *f)
{
	const char *a, *b;

	if (!p->n_pairs || !f->local || !f->remote)
		return NULL;
	a = f->local->namespace;
	b = f->remote->namespace;
	if (!a || !*a || !b || !*b)
		return NULL;
	for (uint32_t i = 0; i < p->n_pairs; i++) {
		const struct zone *za = &p->zones[p->pairs[i].a];
		const struct zone *zb = &p->zones[p->pairs[i].b];
		if ((globset_match(&za->ns, a) && globset_match(&zb->ns, b)) ||
		    (globset_match(&zb->ns, a) && globset_match(&za->ns, b)))
			return &p->pairs[i];
	}
	return NULL;
}

/* What the entries selecting the local workload say about this flow. */
struct scan {
	const struct entry *first;	/* first selecting entry */
	const struct entry *listen;	/* first entry that says listen_only */
	const struct entry *serves;	/* first entry with serves: */
	const struct entry *isolating;	/* first entry with rules this way */
	const struct rule *allow;	/* first rule that allows */
	const struct entry *allow_entry;
	const struct rule *allow_wl;	/* first rule allowing by workload peer */
	const struct entry *allow_wl_entry;
	int serves_match;		/* port in some entry's serves: */
	int port_in_rules;		/* port in some rule's ports (this way) */
	int has_rules;			/* some rule exists this way */
};

static void scan_entries(const struct policy *p, const struct policy_flow *f,
			 int dir, uint16_t port, struct scan *sc,
			 struct policy_result *r)
{
	const struct policy_workload *s = f->local;
	const struct entry *e;
	struct entry_iter it;

	entry_iter_init(p, s->namespace, &it);
	while ((e = entry_iter_next(p, &it))) {
		if (!wsel_match(&e->sel, s))
			continue;
		if (!sc->first)
			sc->first = e;
		if (e->listen_only >= 0 && !sc->listen)
			sc->listen = e;
		if (e->has_budget && !r->has_budget) {
			r->has_budget = 1;
			r->budget_bytes = e->budget_bytes;
			r->budget_window_s = e->budget_window_s;
		}
		if (e->has_serves) {
			if (!sc->serves)
				sc->serves = e;
			if (portset_match(&e->serves, f->proto, port))
				sc->serves_match = 1;
		}
		if (e->has_rules[dir] && !sc->isolating)
			sc->isolating = e;
		for (uint32_t j = 0; j < e->n_rules[dir]; j++) {
			const struct rule *ru = &e->rules[dir][j];
			int m;

			sc->has_rules = 1;
			if (!portset_match(&ru->ports, f->proto, port))
				continue;
			sc->port_in_rules = 1;
			if (sc->allow && sc->allow_wl)
				continue;
			m = rule_peers(p, ru, f);
			if (m && !sc->allow) {
				sc->allow = ru;
				sc->allow_entry = e;
			}
			if (m == 2 && !sc->allow_wl) {
				sc->allow_wl = ru;
				sc->allow_wl_entry = e;
			}
		}
	}
}

static int served_datastore(const struct policy_workload *s)
{
	return s && s->served && s->served->n > 0;
}

static uint8_t deny_verdict(const struct policy *p, const struct entry *e)
{
	int mode = e && e->mode >= 0 ? e->mode : p->mode;

	return mode == POLICY_MODE_AUDIT ? POLICY_AUDIT : POLICY_ALERT;
}

/*
 * ICMPv6 neighbour and router discovery (RFC 4861: types 133-137) and
 * multicast listener reports and queries (RFC 2710, 3810: 130-132, 143):
 * how an interface finds its neighbours and gateway on the link, which every
 * IPv6 pod does whatever its policy says, not traffic a policy speaks of.
 * `port` is the type << 8 | code of the flow's first message.
 */
static int link_plumbing(const struct policy_flow *f, uint16_t port)
{
	unsigned t = port >> 8;

	return f->proto == 58 && ((t >= 130 && t <= 137) || t == 143);
}

void policy_eval(const struct policy *p, const struct policy_flow *f,
		 struct policy_result *r)
{
	int dir = f->direction == POLICY_INGRESS ? POLICY_INGRESS : POLICY_EGRESS;
	uint16_t port = dir == POLICY_EGRESS ? f->remote_port : f->local_port;
	const struct policy_workload *s = f->local;
	const struct zone_pair *zp;
	const struct entry *by = NULL;
	struct scan sc = {0};
	int deny = 0, inferred = 0, np_decides, np_allowed;
	const char *np_rule = NULL, *np_name = NULL;
	uint8_t act;

	memset(r, 0, sizeof(*r));
	if (link_plumbing(f, port)) {
		r->verdict = POLICY_ALLOW;
		r->reason = POLICY_R_DEFAULT;
		r->rule = "builtin/neighbor-discovery";
		return;
	}
	if (s)
		scan_entries(p, f, dir, port, &sc, r);
	if (sc.listen)
		r->listen_only = (uint8_t)sc.listen->listen_only;
	else if (p->datastore_guard && served_datastore(s))
		r->listen_only = inferred = 1;
	if (dir == POLICY_INGRESS)
		r->unexpected_port = sc.serves && !sc.serves_match;
	else
		r->unexpected_port = sc.has_rules && !sc.port_in_rules;
	r->entry = sc.first ? sc.first->name : NULL;

	zp = zone_crossed(p, f);
	if (zp && !sc.allow_wl) {
		deny = 1;
		r->zone_violation = 1;
		r->reason = POLICY_R_ZONE;
		r->rule = zp->rule;
	} else if (sc.allow) {
		/* Across a zone boundary, name the rule that opened it. */
		r->reason = POLICY_R_RULE;
		r->rule = zp ? sc.allow_wl->name : sc.allow->name;
		r->entry = zp ? sc.allow_wl_entry->name : sc.allow_entry->name;
	} else if (dir == POLICY_EGRESS && p->datastore_guard && f->remote_outside &&
		   datastore_port(f->proto, port)) {
		deny = 1;
		r->reason = POLICY_R_DATASTORE;
		r->rule = "builtin/datastore-egress";
	} else if (dir == POLICY_EGRESS && sc.listen && sc.listen->listen_only) {
		deny = 1;
		by = sc.listen;
		r->reason = POLICY_R_LISTEN_ONLY;
		r->rule = by->listen_rule;
	} else if (dir == POLICY_EGRESS && inferred && f->remote_outside &&
		   port != 53) {
		deny = 1;
		r->reason = POLICY_R_LISTEN_ONLY;
		r->rule = "builtin/listen-only";
	} else if (dir == POLICY_INGRESS && sc.serves && !sc.serves_match) {
		deny = 1;
		by = sc.serves;
		r->reason = POLICY_R_NOT_SERVED;
		r->rule = by->serves_rule;
	} else if (sc.isolating) {
		deny = 1;
		by = sc.isolating;
		r->reason = POLICY_R_ISOLATED;
		r->rule = dir == POLICY_EGRESS ? by->egress_rule : by->ingress_rule;
	} else {
		const char *ns = s && s->namespace ? s->namespace : NULL;
		r->reason = POLICY_R_DEFAULT;
		r->rule = p->default_rule;
		act = p->default_action[dir];
		for (uint32_t i = 0; ns && i < p->n_nsdefaults; i++) {
			const struct nsdefault *nd = &p->nsdefaults[i];
			if (nd->action[dir] == ACT_UNSET ||
			    !(nd->ns.literal ? strcmp(nd->ns.pat, ns) == 0 :
					       glob_match(nd->ns.pat, ns)))
				continue;
			act = nd->action[dir];
			r->rule = nd->rule;
			break;
		}
		deny = act == ACT_ALERT;
	}
	if (by)
		r->entry = by->name;

	np_decides = netpol_eval(p, f, &np_allowed, &np_rule, &np_name);
	r->netpol = np_decides ? np_name : NULL;
	if (deny) {
		r->verdict = deny_verdict(p, by);
	} else if (np_decides && !np_allowed) {
		r->verdict = deny_verdict(p, NULL);
		r->reason = POLICY_R_NETPOL_DENY;
		r->rule = np_rule;
	} else {
		r->verdict = POLICY_ALLOW;
		if (r->reason != POLICY_R_RULE && np_decides) {
			r->reason = POLICY_R_NETPOL_ALLOW;
			r->rule = np_rule;
		}
	}
}
