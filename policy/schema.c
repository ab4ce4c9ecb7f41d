/*
 * schema.c - typed reads of YAML nodes, shared by our format (lang.c) and
 * the NetworkPolicy reader (netpol.c).  Each reader checks one value
 * completely (type, syntax, range), reports a positioned error itself and
 * returns -EINVAL, so the compilers read like the format's definition.
 *
 * Syntax follows Kubernetes where the concept is the same (label keys and
 * values, LabelSelector operators); our own names are deliberately narrower
 * ([A-Za-z0-9._-], at most 63) so they are safe in rule names, logs and URLs.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define GLOB_MAX 253
#define LABEL_NAME_MAX 63
#define LABEL_PREFIX_MAX 253
#define DNS_MAX 253

static void err(struct diag *d, const struct ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void err(struct diag *d, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vat(d, n->line, n->col, fmt, ap);
	va_end(ap);
}

const char *ytype_name(const struct ynode *n)
{
	if (n->type == Y_MAP)
		return "a mapping";
	if (n->type == Y_SEQ)
		return "a list";
	switch (n->kind) {
	case YK_NULL: return "null";
	case YK_BOOL: return "a boolean";
	case YK_INT: return "an integer";
	case YK_FLOAT: return "a number";
	default: return "a string";
	}
}

int schema_map(struct diag *d, const struct ynode *n, const char *what)
{
	if (n->type == Y_MAP)
		return 0;
	err(d, n, "%s must be a mapping, not %s", what, ytype_name(n));
	return -EINVAL;
}

int schema_seq(struct diag *d, const struct ynode *n, const char *what)
{
	if (n->type == Y_SEQ)
		return 0;
	err(d, n, "%s must be a list, not %s", what, ytype_name(n));
	return -EINVAL;
}

/* Levenshtein distance, capped: only used to suggest a key for a typo. */
static unsigned distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[33];

	if (la > 32 || lb > 32)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned prev = row[0], tmp;
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = tolower((unsigned char)a[i - 1]) !=
					tolower((unsigned char)b[j - 1]);
			tmp = row[j];
			row[j] = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
			if (prev + cost < row[j])
				row[j] = prev + cost;
			prev = tmp;
		}
	}
	return row[lb];
}

int schema_keys(struct diag *d, const struct ynode *map, const char *what,
		const char *const *keys)
{
	int rc = 0;

	if (schema_map(d, map, what))
		return -EINVAL;
	for (const struct ynode *k = map->head; k; k = k->next) {
		const char *best = NULL;
		unsigned bestd = 3;
		size_t i;

		for (i = 0; keys[i]; i++)
			if (strcmp(k->s, keys[i]) == 0)
				break;
		if (keys[i])
			continue;
		rc = -EINVAL;
		if (d->count >= POLICY_ERR_MAX) {
			/* not shown: count it, spare the hint's cost */
			err(d, k, "unknown key");
			continue;
		}
		for (i = 0; keys[i]; i++) {
			unsigned dist = distance(k->s, keys[i]);
			if (dist < bestd && strlen(keys[i]) > dist + 1) {
				bestd = dist;
				best = keys[i];
			}
		}
		if (best) {
			err(d, k, "unknown key '%.64s' in %s (did you mean '%s'?)",
			    k->s, what, best);
		} else {
			char list[256];
			size_t off = 0;
			list[0] = '\0';
			for (i = 0; keys[i] && off < sizeof(list); i++) {
				int w = snprintf(list + off, sizeof(list) - off,
						 "%s%s", i ? ", " : "", keys[i]);
				if (w < 0)
					break;
				off += (size_t)w;
			}
			err(d, k, "unknown key '%.64s' in %s (expected one of: %s)",
			    k->s, what, list);
		}
	}
	return rc;
}

static int str_any(struct diag *d, const struct ynode *n, const char *what,
		   const char **out)
{
	*out = NULL;
	if (n->type != Y_SCALAR || n->kind != YK_STR) {
		err(d, n, "%s must be a string, not %s%s", what, ytype_name(n),
		    n->type == Y_SCALAR && n->kind != YK_NULL ? " (quote it)" : "");
		return -EINVAL;
	}
	*out = n->s;
	return 0;
}

int schema_str(struct diag *d, const struct ynode *n, const char *what,
	       const char **out)
{
	if (str_any(d, n, what, out))
		return -EINVAL;
	if (n->len == 0) {
		err(d, n, "%s must not be empty", what);
		return -EINVAL;
	}
	return 0;
}

int schema_bool(struct diag *d, const struct ynode *n, const char *what,
		int *out)
{
	if (n->type != Y_SCALAR || n->kind != YK_BOOL) {
		err(d, n, "%s must be true or false, not %s", what, ytype_name(n));
		return -EINVAL;
	}
	*out = n->s[0] == 't' || n->s[0] == 'T';
	return 0;
}

int schema_u64(struct diag *d, const struct ynode *n, const char *what,
	       uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s = n->s;
	unsigned long long v;
	int base = 10;
	char *end;

	if (n->type != Y_SCALAR || n->kind != YK_INT) {
		err(d, n, "%s must be an integer, not %s", what, ytype_name(n));
		return -EINVAL;
	}
	if (*s == '+')
		s++;
	if (strncmp(s, "0x", 2) == 0) {
		base = 16;
		s += 2;
	} else if (strncmp(s, "0o", 2) == 0) {
		base = 8;
		s += 2;
	}
	errno = 0;
	v = *s == '-' ? 0 : strtoull(s, &end, base);
	if (*s == '-' || errno || *end || v < min || v > max) {
		err(d, n, "%s must be between %llu and %llu", what,
		    (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

const char *schema_keep(struct diag *d, struct arena *a, const struct ynode *n)
{
	const char *s = arena_strndup(a, n->s, n->len);

	if (!s)
		d->oom = 1;
	return s;
}

int schema_name(struct diag *d, struct arena *a, const struct ynode *n,
		const char *what, const char **out)
{
	const char *s = NULL;

	if (schema_str(d, n, what, &s))
		return -EINVAL;
	if (n->len > 63 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
				     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n->len) {
		err(d, n, "%s '%.64s' must be 1-63 characters of A-Z a-z 0-9 . _ -",
		    what, s);
		return -EINVAL;
	}
	return (*out = schema_keep(d, a, n)) ? 0 : -ENOMEM;
}

int schema_cidr(struct diag *d, const struct ynode *n, const char *what,
		int need_slash, struct ew_cidr *out)
{
	const char *s = NULL;

	if (schema_str(d, n, what, &s))
		return -EINVAL;
	if (ew_cidr_parse(s, out) || (need_slash && !strchr(s, '/'))) {
		err(d, n, "%s: '%.64s' is not a CIDR (like 198.51.100.0/24 or 2001:db8::/32)",
		    what, s);
		return -EINVAL;
	}
	return 0;
}

/* Kubernetes label names: [A-Za-z0-9] at both ends, [-_.A-Za-z0-9]
 * between, at most 63 (apimachinery IsQualifiedName / IsValidLabelValue). */
static int label_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > LABEL_NAME_MAX || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return 0;
	return 1;
}

/* [prefix/]name, prefix a DNS subdomain (lower case). */
static int label_key_ok(const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);

	if (!slash)
		return label_name_ok(s, len);
	size_t plen = (size_t)(slash - s);
	if (plen == 0 || plen > LABEL_PREFIX_MAX)
		return 0;
	for (size_t i = 0; i < plen; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    s[i] != '-' && s[i] != '.')
			return 0;
	return label_name_ok(slash + 1, len - plen - 1);
}

static int label_key(struct diag *d, struct arena *a, const struct ynode *n,
		     const char **out)
{
	if (schema_str(d, n, "a label key", out))
		return -EINVAL;
	if (!label_key_ok(n->s, n->len)) {
		err(d, n, "'%.64s' is not a valid label key", n->s);
		return -EINVAL;
	}
	return (*out = schema_keep(d, a, n)) ? 0 : -ENOMEM;
}

static int label_value(struct diag *d, struct arena *a, const struct ynode *n,
		       const char **out)
{
	if (str_any(d, n, "a label value", out))
		return -EINVAL;
	if (n->len && !label_name_ok(n->s, n->len)) {
		err(d, n, "'%.64s' is not a valid label value "
			  "(at most 63 of A-Z a-z 0-9 - _ ., alphanumeric at both ends)",
		    n->s);
		return -EINVAL;
	}
	return (*out = schema_keep(d, a, n)) ? 0 : -ENOMEM;
}

static const char *const expr_keys[] = {"key", "operator", "values", NULL};

static int lsel_expr(struct diag *d, struct arena *a, const struct ynode *e,
		     struct lsel_req *r)
{
	static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
	const struct ynode *key, *op, *vals;
	const char *s = NULL;
	size_t i;

	if (schema_keys(d, e, "a matchExpressions item", expr_keys))
		return -EINVAL;
	key = ymap_get(e, "key");
	op = ymap_get(e, "operator");
	vals = ymap_get(e, "values");
	if (!key || !op) {
		err(d, e, "a matchExpressions item needs 'key' and 'operator'");
		return -EINVAL;
	}
	if (label_key(d, a, key, &r->key) || schema_str(d, op, "operator", &s))
		return -EINVAL;
	for (i = 0; i < EW_ARRAY_LEN(ops); i++)
		if (strcmp(s, ops[i]) == 0)
			break;
	if (i == EW_ARRAY_LEN(ops)) {
		err(d, op, "operator '%.64s' is not one of In, NotIn, Exists, DoesNotExist", s);
		return -EINVAL;
	}
	r->op = (uint8_t)i;
	if (vals && schema_seq(d, vals, "values"))
		return -EINVAL;
	if (r->op == LS_IN || r->op == LS_NOT_IN) {
		if (!vals || vals->n == 0) {
			err(d, vals ? vals : e, "operator %s needs a non-empty 'values' list",
			    ops[r->op]);
			return -EINVAL;
		}
	} else if (vals && vals->n) {
		err(d, vals, "operator %s takes no values", ops[r->op]);
		return -EINVAL;
	}
	if (!vals || !vals->n)
		return 0;
	r->values = arena_array(a, vals->n, sizeof(*r->values));
	if (!r->values) {
		d->oom = 1;
		return -ENOMEM;
	}
	for (const struct ynode *v = vals->head; v; v = v->next)
		if (label_value(d, a, v, &r->values[r->n_values++]))
			return -EINVAL;
	return 0;
}

int schema_lsel(struct diag *d, struct arena *a, const struct ynode *map,
		struct lsel *out)
{
	const struct ynode *ml = ymap_get(map, "matchLabels");
	const struct ynode *me = ymap_get(map, "matchExpressions");
	uint32_t n = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (ml && ml->kind != YK_NULL && schema_map(d, ml, "matchLabels"))
		return -EINVAL;
	if (me && me->kind != YK_NULL && schema_seq(d, me, "matchExpressions"))
		return -EINVAL;
	n = (ml && ml->type == Y_MAP ? ml->n : 0) + (me && me->type == Y_SEQ ? me->n : 0);
	if (!n)
		return 0;
	out->req = arena_array(a, n, sizeof(*out->req));
	if (!out->req) {
		d->oom = 1;
		return -ENOMEM;
	}
	if (ml && ml->type == Y_MAP)
		for (const struct ynode *k = ml->head; k; k = k->next) {
			struct lsel_req *r = &out->req[out->n++];
			r->op = LS_IN;
			r->n_values = 1;
			r->values = arena_alloc(a, sizeof(*r->values));
			if (!r->values) {
				d->oom = 1;
				return -ENOMEM;
			}
			if (label_key(d, a, k, &r->key) ||
			    label_value(d, a, k->val, &r->values[0]))
				rc = -EINVAL;
		}
	if (me && me->type == Y_SEQ)
		for (const struct ynode *e = me->head; e; e = e->next) {
			int r2 = lsel_expr(d, a, e, &out->req[out->n++]);
			if (r2 == -ENOMEM)
				return r2;
			if (r2)
				rc = r2;
		}
	return rc;
}

int schema_glob(struct diag *d, struct arena *a, const struct ynode *n,
		const char *what, int empty_ok, struct glob *out)
{
	const char *s = NULL;

	if (empty_ok ? str_any(d, n, what, &s) : schema_str(d, n, what, &s))
		return -EINVAL;
	if (n->len > GLOB_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789._-*?") != n->len) {
		err(d, n, "%s: '%.64s' is not a valid pattern "
			  "(A-Z a-z 0-9 . _ - with * and ?, at most %d)",
		    what, s, GLOB_MAX);
		return -EINVAL;
	}
	out->literal = !strpbrk(s, "*?");
	return (out->pat = schema_keep(d, a, n)) ? 0 : -ENOMEM;
}

int schema_globset(struct diag *d, struct arena *a, const struct ynode *n,
		   const char *what, int empty_ok, struct globset *out)
{
	uint32_t cnt;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (n->type == Y_MAP) {
		err(d, n, "%s must be a string or a list of strings", what);
		return -EINVAL;
	}
	cnt = n->type == Y_SEQ ? n->n : 1;
	if (cnt == 0) {
		err(d, n, "%s must not be an empty list", what);
		return -EINVAL;
	}
	out->g = arena_array(a, cnt, sizeof(*out->g));
	if (!out->g) {
		d->oom = 1;
		return -ENOMEM;
	}
	for (const struct ynode *it = n->type == Y_SEQ ? n->head : n; it;
	     it = n->type == Y_SEQ ? it->next : NULL)
		if (schema_glob(d, a, it, what, empty_ok, &out->g[out->n++]))
			rc = -EINVAL;
	return rc;
}

static int port_proto_has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

static int parse_port(const char *s, const char *end, uint16_t *out)
{
	unsigned long v = 0;

	if (s == end || end - s > 5)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int portspec(struct diag *d, const struct ynode *n, const char *what,
		    struct portrange *r)
{
	char proto[16];
	const char *s = NULL, *slash, *dash, *end;
	size_t plen;

	if (n->type == Y_SCALAR && n->kind == YK_INT) {
		uint64_t v;
		if (schema_u64(d, n, what, 1, 65535, &v))
			return -EINVAL;
		r->proto = 6;
		r->lo = r->hi = (uint16_t)v;
		return 0;
	}
	if (schema_str(d, n, what, &s))
		return -EINVAL;
	if (strcasecmp(s, "any") == 0) {
		r->any_proto = 1;
		r->lo = 0;
		r->hi = 65535;
		return 0;
	}
	slash = strchr(s, '/');
	plen = slash ? (size_t)(slash - s) : n->len;
	if (plen == 0 || plen >= sizeof(proto))
		goto bad;
	for (size_t i = 0; i < plen; i++)
		proto[i] = (char)tolower((unsigned char)s[i]);
	proto[plen] = '\0';
	if (!slash && strspn(proto, "0123456789") == plen) {
		/* A bare number is a TCP port, as in Kubernetes. */
		r->proto = 6;
		if (parse_port(s, s + plen, &r->lo))
			goto bad;
		r->hi = r->lo;
		return 0;
	}
	if (ew_proto_parse(proto, &r->proto) || strspn(proto, "0123456789") == plen)
		goto bad;
	r->lo = 0;
	r->hi = 65535;
	if (!slash)
		return 0;
	if (!port_proto_has_ports(r->proto)) {
		err(d, n, "%s: protocol %s has no ports", what, proto);
		return -EINVAL;
	}
	end = s + n->len;
	dash = strchr(slash + 1, '-');
	if (parse_port(slash + 1, dash ? dash : end, &r->lo))
		goto bad;
	r->hi = r->lo;
	if (dash && (parse_port(dash + 1, end, &r->hi) || r->hi < r->lo)) {
		err(d, n, "%s: '%.64s' is not a port range (low-high, low <= high)",
		    what, s);
		return -EINVAL;
	}
	return 0;
bad:
	err(d, n, "%s: '%.64s' is not a port (like tcp/443, udp/53, "
		  "tcp/8000-8100, 443, icmp or any)", what, s);
	return -EINVAL;
}

int schema_portset(struct diag *d, struct arena *a, const struct ynode *n,
		   const char *what, struct portset *out)
{
	uint32_t cnt;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (n->type == Y_MAP) {
		err(d, n, "%s must be a port or a list of ports", what);
		return -EINVAL;
	}
	cnt = n->type == Y_SEQ ? n->n : 1;
	if (cnt == 0) {
		err(d, n, "%s must not be an empty list (leave it out for any port)",
		    what);
		return -EINVAL;
	}
	out->r = arena_array(a, cnt, sizeof(*out->r));
	if (!out->r) {
		d->oom = 1;
		return -ENOMEM;
	}
	for (const struct ynode *it = n->type == Y_SEQ ? n->head : n; it;
	     it = n->type == Y_SEQ ? it->next : NULL)
		if (portspec(d, it, what, &out->r[out->n++]))
			rc = -EINVAL;
	return rc;
}

int schema_dnspat(struct diag *d, struct arena *a, const struct ynode *n,
		  struct dnspat *out)
{
	const char *s = NULL;
	char *low;
	size_t len, lab = 0;

	if (schema_str(d, n, "dns", &s))
		return -EINVAL;
	len = n->len;
	if (len > 1 && s[len - 1] == '.')
		len--;
	out->wild = len > 2 && s[0] == '*' && s[1] == '.';
	if (len > DNS_MAX)
		goto bad;
	low = arena_strndup(a, s + out->wild, len - out->wild);
	if (!low) {
		d->oom = 1;
		return -ENOMEM;
	}
	/* Labels of 1-63 letters, digits, '-' or '_' (service names such as
	 * _sip._tcp appear in real traffic); the wildcard only in front. */
	for (size_t i = out->wild; i <= len - out->wild; i++) {
		char c = low[i];
		if (c == '.' || c == '\0') {
			if (lab == 0 || lab > 63)
				goto bad;
			lab = 0;
			continue;
		}
		c = (char)tolower((unsigned char)c);
		low[i] = c;
		if (!isalnum((unsigned char)c) && c != '-' && c != '_')
			goto bad;
		lab++;
	}
	out->text = low;
	out->len = (uint32_t)(len - out->wild);
	return 0;
bad:
	err(d, n, "dns: '%.64s' is not a DNS name or pattern (like stripe.com or "
		  "*.stripe.com; '*' only as the whole first label)", s);
	return -EINVAL;
}
