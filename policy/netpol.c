/*
 * netpol.c - Kubernetes NetworkPolicy (networking.k8s.io/v1): reading the
 * manifests and judging a flow with the API's semantics.
 *
 * Semantics, from the Kubernetes "Network Policies" concept page and the
 * API reference (NetworkPolicySpec, NetworkPolicyPeer, NetworkPolicyPort):
 *   - A pod is isolated for egress (ingress) when any policy in its namespace
 *     selects it and lists Egress (Ingress) in policyTypes.  Without
 *     policyTypes a policy has Ingress, plus Egress when it has at least one
 *     egress rule (the API server's defaulting: len(spec.egress) != 0).
 *   - An isolated pod's flow is allowed when any rule of any policy that
 *     selects it allows it: policies are a union, order does not matter.
 *   - A rule matches when one of its peers and one of its ports match; a
 *     missing or empty `from`/`to` is every peer, a missing or empty `ports`
 *     every port.
 *   - Peer: podSelector alone = pods of the policy's namespace;
 *     namespaceSelector alone = every pod of the selected namespaces;
 *     both in ONE peer = the selected pods of the selected namespaces (AND);
 *     ipBlock = cidr minus except, applied to the remote address as it is
 *     seen, whatever it belongs to.
 *   - Port: protocol defaults to TCP; a numeric port with endPort is a
 *     range; a named port matches when the destination pod declares a
 *     container port of that name and protocol with that number (for egress
 *     the remote pod, for ingress the local one); unknown names never match.
 * We observe each pod's side of a flow, so egress records are judged by the
 * local pod's egress policies and ingress records by its ingress policies.
 * Plain containers (no namespace) are never selected by a NetworkPolicy.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "internal.h"

static const char *const obj_keys[] = {"apiVersion", "kind", "metadata", "spec",
				       "status", NULL};
static const char *const list_keys[] = {"apiVersion", "kind", "metadata", "items",
					NULL};
static const char *const spec_keys[] = {"podSelector", "policyTypes", "ingress",
					"egress", NULL};
static const char *const ingress_keys[] = {"from", "ports", NULL};
static const char *const egress_keys[] = {"to", "ports", NULL};
static const char *const peer_keys[] = {"podSelector", "namespaceSelector",
					"ipBlock", NULL};
static const char *const sel_keys[] = {"matchLabels", "matchExpressions", NULL};
static const char *const ipblock_keys[] = {"cidr", "except", NULL};
static const char *const port_keys[] = {"protocol", "port", "endPort", NULL};

#define NETPOL_API "networking.k8s.io/v1"

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

static int is_null(const struct ynode *n)
{
	return n && n->type == Y_SCALAR && n->kind == YK_NULL;
}

/* DNS-1123 label (namespaces) or subdomain (object names). */
static int dns1123_ok(const char *s, size_t len, int subdomain)
{
	if (len == 0 || len > (subdomain ? 253u : 63u) ||
	    !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
		      s[i] == '-' || (subdomain && s[i] == '.')))
			return 0;
	return 1;
}

/* IANA service name, as Kubernetes validates named ports: at most 15
 * lower-case letters, digits and '-', at least one letter, no '-' at either
 * end and no "--". */
static int svc_name_ok(const char *s, size_t len)
{
	int letter = 0;

	if (len == 0 || len > 15 || s[0] == '-' || s[len - 1] == '-' ||
	    strstr(s, "--"))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (islower((unsigned char)s[i]))
			letter = 1;
		else if (!isdigit((unsigned char)s[i]) && s[i] != '-')
			return 0;
	}
	return letter;
}

static int selector(struct loader *L, struct diag *d, const struct ynode *n,
		    const char *what, struct lsel *out)
{
	memset(out, 0, sizeof(*out));
	if (is_null(n))
		return 0;
	if (schema_keys(d, n, what, sel_keys))
		return -EINVAL;
	return schema_lsel(d, L->a, n, out);
}

static int compile_peer(struct loader *L, struct diag *d, const struct ynode *pn,
			struct np_peer *p)
{
	const struct ynode *ps, *ns, *ib, *v;
	struct ew_cidr *except;
	uint32_t n = 0;
	int rc = 0;

	if (schema_keys(d, pn, "a NetworkPolicyPeer", peer_keys))
		return -EINVAL;
	ps = ymap_get(pn, "podSelector");
	ns = ymap_get(pn, "namespaceSelector");
	ib = ymap_get(pn, "ipBlock");
	if (is_null(ps))
		ps = NULL;
	if (is_null(ns))
		ns = NULL;
	if (ib && (ps || ns)) {
		err(d, pn, "a peer has either ipBlock or podSelector/namespaceSelector, "
			   "not both");
		return -EINVAL;
	}
	if (!ib && !ps && !ns) {
		err(d, pn, "a peer needs podSelector, namespaceSelector or ipBlock");
		return -EINVAL;
	}
	if (!ib) {
		p->has_pod = ps != NULL;
		p->has_ns = ns != NULL;
		if (ps && selector(L, d, ps, "podSelector", &p->pod))
			rc = -EINVAL;
		if (ns && selector(L, d, ns, "namespaceSelector", &p->ns))
			rc = -EINVAL;
		return rc;
	}
	p->ipblock = 1;
	if (schema_keys(d, ib, "ipBlock", ipblock_keys))
		return -EINVAL;
	if (!(v = ymap_get(ib, "cidr"))) {
		err(d, ib, "ipBlock needs 'cidr'");
		return -EINVAL;
	}
	if (schema_cidr(d, v, "ipBlock cidr", 1, &p->cidr))
		return -EINVAL;
	if (!(v = ymap_get(ib, "except")) || is_null(v))
		return 0;
	if (schema_seq(d, v, "ipBlock except"))
		return -EINVAL;
	if (!v->n)
		return 0;
	if (!(except = arena_array(L->a, v->n, sizeof(*except))))
		return nomem(d);
	for (const struct ynode *it = v->head; it; it = it->next) {
		struct ew_cidr *e = &except[n++];
		if (schema_cidr(d, it, "ipBlock except", 1, e)) {
			rc = -EINVAL;
			continue;
		}
		/* The API server requires every except to lie inside cidr. */
		if (!ew_cidr_contains(&p->cidr, e->lo) ||
		    !ew_cidr_contains(&p->cidr, e->hi) ||
		    ew_ip_is_v4(e->lo) != ew_ip_is_v4(p->cidr.lo) ||
		    e->prefix <= p->cidr.prefix) {
			err(d, it, "ipBlock except '%.64s' must be a strict subset of cidr",
			    it->s);
			rc = -EINVAL;
		}
	}
	if (cidrset_build(L->a, except, n, &p->except))
		return nomem(d);
	return rc;
}

static int compile_port(struct loader *L, struct diag *d, const struct ynode *pn,
			struct np_port *p)
{
	const struct ynode *pr, *po, *ep;
	const char *s = NULL;
	uint64_t v;

	if (schema_keys(d, pn, "a NetworkPolicyPort", port_keys))
		return -EINVAL;
	p->proto = 6;
	if ((pr = ymap_get(pn, "protocol")) && !is_null(pr)) {
		if (schema_str(d, pr, "protocol", &s))
			return -EINVAL;
		if (strcmp(s, "TCP") == 0)
			p->proto = 6;
		else if (strcmp(s, "UDP") == 0)
			p->proto = 17;
		else if (strcmp(s, "SCTP") == 0)
			p->proto = 132;
		else {
			err(d, pr, "protocol '%.64s' is not one of TCP, UDP, SCTP "
				   "(upper case, as the API requires)", s);
			return -EINVAL;
		}
	}
	po = ymap_get(pn, "port");
	ep = ymap_get(pn, "endPort");
	if (is_null(po))
		po = NULL;
	if (is_null(ep))
		ep = NULL;
	if (po && po->type == Y_SCALAR && po->kind == YK_STR) {
		if (!svc_name_ok(po->s, po->len)) {
			err(d, po, "named port '%.64s' must be at most 15 of a-z 0-9 - "
				   "with at least one letter", po->s);
			return -EINVAL;
		}
		if (ep) {
			err(d, ep, "endPort needs a numeric port, not a named one");
			return -EINVAL;
		}
		return (p->name = schema_keep(d, L->a, po)) ? 0 : -ENOMEM;
	}
	if (po) {
		if (schema_u64(d, po, "port", 1, 65535, &v))
			return -EINVAL;
		p->port = (uint16_t)v;
	}
	if (ep) {
		if (!po) {
			err(d, ep, "endPort needs a port");
			return -EINVAL;
		}
		if (schema_u64(d, ep, "endPort", 1, 65535, &v))
			return -EINVAL;
		if (v < p->port) {
			err(d, ep, "endPort %llu is below port %u",
			    (unsigned long long)v, p->port);
			return -EINVAL;
		}
		p->end_port = (uint16_t)v;
	}
	return 0;
}

static int compile_rule(struct loader *L, struct diag *d, const struct netpol *np,
			int dir, uint32_t idx, const struct ynode *rn,
			struct np_rule *r)
{
	const char *peers_key = dir == POLICY_EGRESS ? "to" : "from";
	const struct ynode *v;
	int rc = 0;

	r->name = arena_printf(L->a, "%s/%s[%u]", np->rule,
			       dir == POLICY_EGRESS ? "egress" : "ingress", idx);
	if (!r->name)
		return nomem(d);
	if (is_null(rn))
		return 0;	/* `- ` : an empty rule, every peer and port */
	if (schema_keys(d, rn, dir == POLICY_EGRESS ? "a NetworkPolicyEgressRule" :
						      "a NetworkPolicyIngressRule",
			dir == POLICY_EGRESS ? egress_keys : ingress_keys))
		return -EINVAL;
	if ((v = ymap_get(rn, peers_key)) && !is_null(v)) {
		if (schema_seq(d, v, peers_key))
			return -EINVAL;
		if (v->n && !(r->peers = arena_array(L->a, v->n, sizeof(*r->peers))))
			return nomem(d);
		for (const struct ynode *pn = v->head; pn; pn = pn->next) {
			int r2 = compile_peer(L, d, pn, &r->peers[r->n_peers++]);
			if (r2 == -ENOMEM)
				return r2;
			if (r2)
				rc = r2;
		}
	}
	if ((v = ymap_get(rn, "ports")) && !is_null(v)) {
		if (schema_seq(d, v, "ports"))
			return -EINVAL;
		if (v->n && !(r->ports = arena_array(L->a, v->n, sizeof(*r->ports))))
			return nomem(d);
		for (const struct ynode *pn = v->head; pn; pn = pn->next)
			if (compile_port(L, d, pn, &r->ports[r->n_ports++]))
				rc = -EINVAL;
	}
	return rc;
}

static int compile_rules(struct loader *L, struct diag *d, struct netpol *np,
			 int dir, const struct ynode *list)
{
	uint32_t i = 0;
	int rc = 0;

	if (!list || is_null(list))
		return 0;
	if (schema_seq(d, list, dir == POLICY_EGRESS ? "egress" : "ingress"))
		return -EINVAL;
	if (!list->n)
		return 0;
	if (!(np->rules[dir] = arena_array(L->a, list->n, sizeof(*np->rules[dir]))))
		return nomem(d);
	for (const struct ynode *rn = list->head; rn; rn = rn->next, i++) {
		int r = compile_rule(L, d, np, dir, i, rn, &np->rules[dir][i]);
		if (r == -ENOMEM)
			return r;
		if (r)
			rc = r;
	}
	np->n_rules[dir] = list->n;
	return rc;
}

static int compile_types(struct diag *d, const struct ynode *pt,
			 const struct ynode *egress, uint8_t *types)
{
	*types = 0;
	if (pt && !is_null(pt)) {
		if (schema_seq(d, pt, "policyTypes"))
			return -EINVAL;
		for (const struct ynode *it = pt->head; it; it = it->next) {
			const char *s;
			if (schema_str(d, it, "a policy type", &s))
				return -EINVAL;
			if (strcmp(s, "Ingress") == 0)
				*types |= NP_INGRESS;
			else if (strcmp(s, "Egress") == 0)
				*types |= NP_EGRESS;
			else {
				err(d, it, "policy type '%.64s' is not Ingress or Egress", s);
				return -EINVAL;
			}
		}
	}
	/* Defaulting (k8s.io/kubernetes pkg/apis/networking/v1/defaults.go):
	 * no policyTypes means Ingress, and Egress too when there is at least
	 * one egress rule.  An explicitly empty list is the same as none. */
	if (*types == 0) {
		*types = NP_INGRESS;
		if (egress && egress->type == Y_SEQ && egress->n)
			*types |= NP_EGRESS;
	}
	return 0;
}

static int compile_one(struct loader *L, struct diag *d, const struct ynode *obj)
{
	const struct ynode *md, *spec, *v, *name_n, *ns_n = NULL;
	const char *name, *ns = "default";
	struct netpol *np;
	int rc = 0;

	if (schema_keys(d, obj, "a NetworkPolicy", obj_keys))
		return -EINVAL;
	md = ymap_get(obj, "metadata");
	spec = ymap_get(obj, "spec");
	if (!md || !spec) {
		err(d, obj, "a NetworkPolicy needs 'metadata' and 'spec'");
		return -EINVAL;
	}
	/* metadata carries much we do not read (labels, annotations, uid,
	 * managedFields, ...); only its name and namespace matter here. */
	if (schema_map(d, md, "metadata") || schema_keys(d, spec, "spec", spec_keys))
		return -EINVAL;
	if (!(v = name_n = ymap_get(md, "name"))) {
		err(d, md, "metadata needs a 'name'");
		return -EINVAL;
	}
	if (schema_str(d, v, "metadata.name", &name))
		return -EINVAL;
	if (!dns1123_ok(name, v->len, 1)) {
		err(d, v, "metadata.name '%.64s' is not a DNS-1123 subdomain", name);
		return -EINVAL;
	}
	if ((v = ymap_get(md, "namespace")) && !is_null(v)) {
		ns_n = v;
		if (schema_str(d, v, "metadata.namespace", &ns))
			return -EINVAL;
		if (!dns1123_ok(ns, v->len, 0)) {
			err(d, v, "metadata.namespace '%.64s' is not a DNS-1123 label", ns);
			return -EINVAL;
		}
	}
	if (!(np = vec_push(&L->netpols)))
		return nomem(d);
	np->at = loader_pos(L, obj);
	np->ns = ns_n ? schema_keep(d, L->a, ns_n) : ns;
	np->name = schema_keep(d, L->a, name_n);
	if (!np->ns || !np->name)
		return -ENOMEM;
	if (!(np->rule = arena_printf(L->a, "netpol/%s/%s", ns, name)))
		return nomem(d);
	if (!(v = ymap_get(spec, "podSelector"))) {
		err(d, spec, "spec needs 'podSelector' ({} selects every pod in the "
			     "namespace)");
		rc = -EINVAL;
	} else if (selector(L, d, v, "podSelector", &np->pod)) {
		rc = -EINVAL;
	}
	if (compile_types(d, ymap_get(spec, "policyTypes"), ymap_get(spec, "egress"),
			  &np->types))
		rc = -EINVAL;
	if (compile_rules(L, d, np, POLICY_INGRESS, ymap_get(spec, "ingress")))
		rc = -EINVAL;
	if (compile_rules(L, d, np, POLICY_EGRESS, ymap_get(spec, "egress")))
		rc = -EINVAL;
	return d->oom ? -ENOMEM : rc;
}

static int is_netpol(const struct ynode *obj)
{
	return yscalar_is(ymap_get(obj, "apiVersion"), NETPOL_API) &&
	       yscalar_is(ymap_get(obj, "kind"), "NetworkPolicy");
}

int netpol_compile(struct loader *L, struct diag *d, const struct ynode *doc)
{
	const struct ynode *kind = ymap_get(doc, "kind"), *items;
	int rc = 0;

	if (is_netpol(doc))
		return compile_one(L, d, doc);
	if (!yscalar_is(kind, "List") && !yscalar_is(kind, "NetworkPolicyList")) {
		err(d, kind ? kind : doc, "kind must be NetworkPolicy, NetworkPolicyList "
					  "or List");
		return -EINVAL;
	}
	if (schema_keys(d, doc, "a List", list_keys))
		return -EINVAL;
	if (!(items = ymap_get(doc, "items")) || is_null(items))
		return 0;
	if (schema_seq(d, items, "items"))
		return -EINVAL;
	for (const struct ynode *it = items->head; it; it = it->next) {
		int r;
		if (it->type != Y_MAP || !is_netpol(it)) {
			/* `kubectl get networkpolicies -o yaml` puts the kind on
			 * every item; anything else is not ours to read. */
			err(d, it, "list item is not a %s NetworkPolicy", NETPOL_API);
			rc = -EINVAL;
			continue;
		}
		if ((r = compile_one(L, d, it)) == -ENOMEM)
			return r;
		if (r)
			rc = r;
	}
	return rc;
}

/* ---- evaluation ------------------------------------------------------------ */

static int peer_match(const struct netpol *np, const struct np_peer *p,
		      const struct policy_flow *f)
{
	const struct policy_workload *r = f->remote;
	const char *rns;

	if (p->ipblock)
		return ew_cidr_contains(&p->cidr, f->remote_ip) &&
		       !cidrset_contains(&p->except, f->remote_ip);
	/* Selectors select pods: an address that is not a known pod never
	 * matches them, not even namespaceSelector: {}. */
	if (!r || !r->namespace || !*r->namespace)
		return 0;
	rns = r->namespace;
	if (p->has_ns) {
		if (!lsel_match(&p->ns, r->ns_labels, r->n_ns_labels, rns))
			return 0;
	} else if (strcmp(rns, np->ns) != 0) {
		return 0;
	}
	return !p->has_pod || lsel_match(&p->pod, r->labels, r->n_labels, NULL);
}

static int port_match(const struct np_port *pp, const struct policy_flow *f)
{
	const struct policy_workload *dst;
	uint16_t port;

	if (pp->proto != f->proto)
		return 0;
	port = f->direction == POLICY_EGRESS ? f->remote_port : f->local_port;
	if (pp->name) {
		dst = f->direction == POLICY_EGRESS ? f->remote : f->local;
		if (!dst)
			return 0;
		for (size_t i = 0; i < dst->n_ports; i++) {
			const struct policy_port_name *cp = &dst->ports[i];
			if (cp->name && cp->proto == pp->proto && cp->port == port &&
			    strcmp(cp->name, pp->name) == 0)
				return 1;
		}
		return 0;
	}
	if (pp->port == 0)
		return 1;
	return port >= pp->port && port <= (pp->end_port ? pp->end_port : pp->port);
}

static int rule_match(const struct netpol *np, const struct np_rule *r,
		      const struct policy_flow *f)
{
	uint32_t i;

	if (r->n_ports) {
		for (i = 0; i < r->n_ports; i++)
			if (port_match(&r->ports[i], f))
				break;
		if (i == r->n_ports)
			return 0;
	}
	if (!r->n_peers)
		return 1;
	for (i = 0; i < r->n_peers; i++)
		if (peer_match(np, &r->peers[i], f))
			return 1;
	return 0;
}

int netpol_eval(const struct policy *p, const struct policy_flow *f,
		int *allowed, const char **rule, const char **netpol)
{
	const struct policy_workload *s = f->local;
	int dir = f->direction == POLICY_INGRESS ? POLICY_INGRESS : POLICY_EGRESS;
	uint8_t bit = dir == POLICY_EGRESS ? NP_EGRESS : NP_INGRESS;
	const struct netpol *nps;
	int isolated = 0;
	uint32_t n;

	*allowed = 0;
	if (!s || !s->namespace || !*s->namespace)
		return 0;
	nps = index_netpols(p, s->namespace, &n);
	for (uint32_t i = 0; i < n; i++) {
		const struct netpol *np = &nps[i];

		if (!(np->types & bit) ||
		    !lsel_match(&np->pod, s->labels, s->n_labels, NULL))
			continue;
		if (!isolated) {
			isolated = 1;
			*rule = *netpol = np->rule;
		}
		for (uint32_t j = 0; j < np->n_rules[dir]; j++)
			if (rule_match(np, &np->rules[dir][j], f)) {
				*allowed = 1;
				*rule = np->rules[dir][j].name;
				*netpol = np->rule;
				return 1;
			}
	}
	return isolated;
}
