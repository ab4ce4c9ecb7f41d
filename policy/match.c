/*
 * match.c - the matchers policy_eval() is built from.  They run for every
 * new flow on the pipeline thread, so none allocates, none recurses, and
 * each is linear (or, for globs, bounded by pattern x subject length, both
 * at most a few hundred bytes).
 */
#include <string.h>
#include <strings.h>

#include "internal.h"

#define NS_NAME_LABEL "kubernetes.io/metadata.name"

/* '*' matches any run (also empty), '?' one character.  Iterative with a
 * single backtrack point: the last '*' is enough, because a later star can
 * always absorb what an earlier one would have. */
int glob_match(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s) {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

int globset_match(const struct globset *g, const char *s)
{
	if (g->n == 0)
		return 1;
	if (!s)
		s = "";
	for (uint32_t i = 0; i < g->n; i++)
		if (g->g[i].literal ? strcmp(g->g[i].pat, s) == 0 :
				      glob_match(g->g[i].pat, s))
			return 1;
	return 0;
}

static const char *label_get(const struct policy_label *labels, size_t n,
			     const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (labels[i].key && strcmp(labels[i].key, key) == 0)
			return labels[i].value ? labels[i].value : "";
	return NULL;
}

int lsel_match(const struct lsel *sel, const struct policy_label *labels,
	       size_t n, const char *ns_name)
{
	for (uint32_t i = 0; i < sel->n; i++) {
		const struct lsel_req *r = &sel->req[i];
		const char *v = label_get(labels, n, r->key);
		int in = 0;

		/* The API server labels every namespace with its name. */
		if (!v && ns_name && *ns_name && strcmp(r->key, NS_NAME_LABEL) == 0)
			v = ns_name;
		switch (r->op) {
		case LS_EXISTS:
			if (!v)
				return 0;
			break;
		case LS_NOT_EXISTS:
			if (v)
				return 0;
			break;
		case LS_IN:
		case LS_NOT_IN:
			for (uint32_t j = 0; v && j < r->n_values; j++)
				if (strcmp(r->values[j], v) == 0) {
					in = 1;
					break;
				}
			/* NotIn holds when the label is absent, as in Kubernetes. */
			if (in != (r->op == LS_IN))
				return 0;
			break;
		}
	}
	return 1;
}

int wsel_match(const struct wsel *w, const struct policy_workload *wl)
{
	const char *ns = wl->namespace ? wl->namespace : "";

	return globset_match(&w->ns, ns) && globset_match(&w->name, wl->name) &&
	       lsel_match(&w->labels, wl->labels, wl->n_labels, NULL) &&
	       lsel_match(&w->ns_labels, wl->ns_labels, wl->n_ns_labels, ns);
}

int portset_match(const struct portset *ps, uint8_t proto, uint16_t port)
{
	if (ps->n == 0)
		return 1;
	for (uint32_t i = 0; i < ps->n; i++) {
		const struct portrange *r = &ps->r[i];
		if (r->any_proto ||
		    (r->proto == proto && port >= r->lo && port <= r->hi))
			return 1;
	}
	return 0;
}

/*
 * `name` is in presentation form as capture gives it: bytes that are not
 * printable ASCII are escaped as \DDD and a dot inside a label as "\.".
 * Patterns hold no backslash, so an escaped name never equals one; for a
 * wildcard, a name with any backslash is refused outright, because
 * "evil\.stripe.com" is the two labels "evil.stripe" and "com" and ends in
 * ".stripe.com" only as text.  No legitimate service name needs escapes.
 */
int dnspat_match(const struct dnspat *d, const char *name)
{
	size_t len;

	if (!name || !*name || *name == '.')
		return 0;
	len = strlen(name);
	if (name[len - 1] == '.')
		len--;
	if (d->wild)
		return len > d->len && !memchr(name, '\\', len) &&
		       strncasecmp(name + len - d->len, d->text, d->len) == 0;
	return len == d->len && strncasecmp(name, d->text, len) == 0;
}
