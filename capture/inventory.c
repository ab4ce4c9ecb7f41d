/*
 * inventory.c - the inventory file: which workloads exist, by name, with
 * their interfaces, addresses, containers and labels, for replaying
 * captures offline and for hosts where nothing else can tell.
 *
 *   version: 1
 *   namespaces:                    # optional: labels for namespaceSelectors
 *     prod: {labels: {team: core}}
 *   workloads:
 *     - namespace: prod            # optional for plain containers
 *       name: redis-0              # required
 *       kind: Pod                  # default Pod (Container without a
 *                                  #   namespace or pod_uid)
 *       labels: {app: redis}
 *       interfaces: [vethab12cd34] # host side
 *       ips: [10.244.0.10, "fd00:10:244::10"]
 *       netns: ewlab-redis-0
 *       container_ids: [<64 hex>]  # "containerd://<64 hex>" also accepted
 *       pod_uid: <uuid>
 *       runtime: containerd
 *
 * Two passes: libyaml's event parser builds a small tree (every node keeps
 * its line and column), then the tree is checked against the schema above.
 * The first pass is where hostile input is stopped: the file size, the
 * number of nodes, the nesting depth and the length of a scalar are capped,
 * and anchors and aliases are refused outright (with no aliases there is no
 * "billion laughs", and an inventory never needs them).  Unknown keys are
 * errors, not warnings: a misspelt "interfcaes" would otherwise silently
 * leave a pod unattributed.  A workload, interface, pod uid, container id or
 * address listed twice is an error too: the file describes one moment, and
 * at one moment each has one owner.
 *
 * Every error reads "file:line:col: message" (1-based, as editors count).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "attrib.h"
#include "util.h"

enum { Y_SCALAR = 1, Y_MAP, Y_SEQ };

struct ynode {
	uint8_t type;
	uint8_t plain;			/* scalar without quotes */
	uint32_t line, col;		/* 1-based */
	uint32_t first, last, next;	/* children / sibling, index + 1 */
	uint32_t n;			/* children (maps: keys and values) */
	char *text;			/* scalars: NUL-terminated */
	size_t len;
};

struct ydoc {
	struct ynode *nodes;
	size_t n, cap;
};

/* A key that must be unique across the file, noted where it was read. */
struct uniq {
	const char *what;		/* "workload", "interface", ... */
	char key[ATTRIB_REF_MAX];
	uint32_t line, col;		/* of the node naming it */
	uint32_t wl;			/* which workload */
	uint32_t seq;			/* order of appearance */
};

struct ictx {
	const char *file;
	char *err;
	size_t errlen;
	struct ydoc *d;
	size_t max_workloads;
	struct uniq *u;
	size_t n_u, cap_u;
	uint32_t wl;			/* the workload being read */
};

static void ydoc_free(struct ydoc *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->nodes[i].text);
	free(d->nodes);
	memset(d, 0, sizeof(*d));
}

static const struct ynode *node(const struct ictx *c, uint32_t idx1)
{
	return idx1 ? &c->d->nodes[idx1 - 1] : NULL;
}

static int at(struct ictx *c, uint32_t line, uint32_t col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int at(struct ictx *c, uint32_t line, uint32_t col, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(c->err, c->errlen, "%s:%u:%u: ", c->file, line, col);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
		/* Messages quote the file; it must not break a log line. */
		for (char *p = c->err + n; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	return -EINVAL;
}

#define FAIL(c, nd, ...) at((c), (nd)->line, (nd)->col, __VA_ARGS__)

/* ---- pass 1: YAML events -> tree ------------------------------------------------ */

static const char *type_name(int t)
{
	return t == Y_MAP ? "a mapping" : t == Y_SEQ ? "a list" : "a scalar";
}

/* Append a node under `parent` (index + 1, 0 for the root). */
static int add_node(struct ictx *c, uint32_t parent, int type,
		    const yaml_mark_t *m, uint32_t *out)
{
	struct ydoc *d = c->d;
	struct ynode *nd;

	if (d->n >= INVENTORY_MAX_NODES)
		return at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
			  "more than %u YAML nodes", INVENTORY_MAX_NODES);
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		void *p = realloc(d->nodes, cap * sizeof(*d->nodes));

		if (!p) {
			snprintf(c->err, c->errlen, "%s: out of memory", c->file);
			return -ENOMEM;
		}
		d->nodes = p;
		d->cap = cap;
	}
	nd = &d->nodes[d->n++];
	memset(nd, 0, sizeof(*nd));
	nd->type = (uint8_t)type;
	nd->line = (uint32_t)m->line + 1;
	nd->col = (uint32_t)m->column + 1;
	*out = (uint32_t)d->n;
	if (parent) {
		struct ynode *p = &d->nodes[parent - 1];

		if (p->last)
			d->nodes[p->last - 1].next = *out;
		else
			p->first = *out;
		p->last = *out;
		p->n++;
	}
	return 0;
}

static int build_tree(struct ictx *c, const char *text, size_t len,
		      uint32_t *root)
{
	yaml_parser_t p;
	yaml_event_t ev;
	uint32_t stack[INVENTORY_MAX_DEPTH + 1];
	int depth = 0, docs = 0, rc = 0, done = 0;

	*root = 0;
	if (!yaml_parser_initialize(&p)) {
		snprintf(c->err, c->errlen, "%s: out of memory", c->file);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		uint32_t idx = 0, parent = depth ? stack[depth - 1] : 0;
		const yaml_mark_t *m;

		if (!yaml_parser_parse(&p, &ev)) {
			const yaml_mark_t *pm = &p.problem_mark;

			if (p.error == YAML_MEMORY_ERROR) {
				snprintf(c->err, c->errlen, "%s: out of memory", c->file);
				rc = -ENOMEM;
			} else if (p.error == YAML_READER_ERROR) {
				/* Encoding errors carry a byte offset, not a mark. */
				uint32_t line = 1, col = 1;

				for (size_t i = 0; i < p.problem_offset && i < len; i++) {
					col++;
					if (text[i] == '\n') {
						line++;
						col = 1;
					}
				}
				rc = at(c, line, col, "%s (byte 0x%02x)", p.problem,
					(unsigned)p.problem_value & 0xff);
			} else {
				rc = at(c, (uint32_t)pm->line + 1,
					(uint32_t)pm->column + 1, "%s%s%s",
					p.problem ? p.problem : "YAML syntax error",
					p.context ? " " : "",
					p.context ? p.context : "");
			}
			break;
		}
		m = &ev.start_mark;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
					"only one YAML document is allowed");
			break;
		case YAML_ALIAS_EVENT:
			rc = at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
				"aliases are not allowed (*%s)",
				(const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.anchor) {
				rc = at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
					"anchors are not allowed (&%s)",
					(const char *)ev.data.scalar.anchor);
				break;
			}
			if (ev.data.scalar.length > INVENTORY_MAX_SCALAR) {
				rc = at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
					"string longer than %u bytes",
					INVENTORY_MAX_SCALAR);
				break;
			}
			if (memchr(ev.data.scalar.value, 0, ev.data.scalar.length)) {
				rc = at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
					"NUL byte in a string");
				break;
			}
			if (depth == 0 && *root) {
				rc = at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
					"only one YAML document is allowed");
				break;
			}
			if ((rc = add_node(c, parent, Y_SCALAR, m, &idx)) < 0)
				break;
			{
				struct ynode *nd = &c->d->nodes[idx - 1];

				nd->len = ev.data.scalar.length;
				nd->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				nd->text = malloc(nd->len + 1);
				if (!nd->text) {
					snprintf(c->err, c->errlen, "%s: out of memory",
						 c->file);
					rc = -ENOMEM;
					break;
				}
				memcpy(nd->text, ev.data.scalar.value, nd->len);
				nd->text[nd->len] = '\0';
			}
			if (depth == 0)
				*root = idx;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			int seq = ev.type == YAML_SEQUENCE_START_EVENT;
			const yaml_char_t *anchor = seq ? ev.data.sequence_start.anchor :
							  ev.data.mapping_start.anchor;

			if (anchor) {
				rc = at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
					"anchors are not allowed (&%s)",
					(const char *)anchor);
				break;
			}
			if (depth >= INVENTORY_MAX_DEPTH) {
				rc = at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
					"nested deeper than %d levels",
					INVENTORY_MAX_DEPTH);
				break;
			}
			if (depth == 0 && *root) {
				rc = at(c, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
					"only one YAML document is allowed");
				break;
			}
			if ((rc = add_node(c, parent, seq ? Y_SEQ : Y_MAP, m, &idx)) < 0)
				break;
			if (depth == 0)
				*root = idx;
			stack[depth++] = idx;
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

/* ---- pass 2: schema ---------------------------------------------------------------- */

static int is_null(const struct ynode *n)
{
	return n->type == Y_SCALAR && n->plain &&
	       (n->len == 0 || strcmp(n->text, "~") == 0 ||
		strcmp(n->text, "null") == 0 || strcmp(n->text, "Null") == 0 ||
		strcmp(n->text, "NULL") == 0);
}

static int want(struct ictx *c, const struct ynode *n, int type,
		const char *what)
{
	if (n->type != type)
		return FAIL(c, n, "%s must be %s, not %s", what, type_name(type),
			    type_name(n->type));
	return 0;
}

/* A scalar into a bounded string: `what` names it in messages. */
static int str_into(struct ictx *c, const struct ynode *n, const char *what,
		    char *out, size_t cap)
{
	int rc = want(c, n, Y_SCALAR, what);

	if (rc)
		return rc;
	if (n->len >= cap)
		return FAIL(c, n, "%s is longer than %zu bytes", what, cap - 1);
	memcpy(out, n->text, n->len + 1);
	return 0;
}

static int read_labels(struct ictx *c, const struct ynode *map,
		       struct attrib_labels *out, const char *what)
{
	memset(out, 0, sizeof(*out));
	if (is_null(map))
		return 0;
	if (want(c, map, Y_MAP, what))
		return -EINVAL;
	for (const struct ynode *k = node(c, map->first); k;) {
		const struct ynode *v = node(c, k->next);

		if (k->type != Y_SCALAR || !v || v->type != Y_SCALAR)
			return FAIL(c, k, "%s must map names to strings", what);
		if (!attrib_label_valid(k->text, v->text, 1))
			return FAIL(c, k,
				    "invalid label %s=%s (Kubernetes label syntax: "
				    "[prefix/]name of up to 63 [A-Za-z0-9._-], value "
				    "likewise or empty)",
				    k->text, v->text);
		if (attrib_labels_get(out, k->text))
			return FAIL(c, k, "label '%s' given twice", k->text);
		if (attrib_labels_add(out, k->text, v->text) < 0)
			return FAIL(c, k, "more labels than fit (%d, %d bytes)",
				    ATTRIB_MAX_LABELS, ATTRIB_LABEL_TEXT);
		k = node(c, v->next);
	}
	return 0;
}

/* Checks a list and its length; items are read by the caller. */
static int list_of(struct ictx *c, const struct ynode *n, const char *what,
		   size_t max)
{
	if (want(c, n, Y_SEQ, what))
		return -EINVAL;
	if (n->n > max)
		return FAIL(c, n, "%s: more than %zu entries", what, max);
	for (const struct ynode *i = node(c, n->first); i; i = node(c, i->next))
		if (i->type != Y_SCALAR)
			return FAIL(c, i, "%s entries must be strings, not %s",
				    what, type_name(i->type));
	return 0;
}

static int iface_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= CAPTURE_IFNAME_MAX || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == '/' || s[i] == ':' ||
		    (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int netns_valid(const char *s)
{
	if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == '/' || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

/* ---- uniqueness across workloads --------------------------------------------------- */

static int note(struct ictx *c, const char *what, const char *key,
		const struct ynode *n)
{
	struct uniq *u;

	if (c->n_u == c->cap_u) {
		size_t cap = c->cap_u ? c->cap_u * 2 : 256;
		void *p = realloc(c->u, cap * sizeof(*c->u));

		if (!p) {
			snprintf(c->err, c->errlen, "%s: out of memory", c->file);
			return -ENOMEM;
		}
		c->u = p;
		c->cap_u = cap;
	}
	u = &c->u[c->n_u];
	u->what = what;
	snprintf(u->key, sizeof(u->key), "%s", key);
	u->line = n->line;
	u->col = n->col;
	u->wl = c->wl;
	u->seq = (uint32_t)c->n_u++;
	return 0;
}

static int cmp_uniq(const void *x, const void *y)
{
	const struct uniq *a = x, *b = y;
	int r = strcmp(a->what, b->what);

	if (!r)
		r = strcmp(a->key, b->key);
	return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Sorting brings duplicates together; the later one is reported, at its
 * own position, naming where the first was. */
static int check_unique(struct ictx *c)
{
	if (c->n_u < 2)
		return 0;
	qsort(c->u, c->n_u, sizeof(*c->u), cmp_uniq);
	for (size_t i = 1; i < c->n_u; i++) {
		const struct uniq *later = &c->u[i], *first = &c->u[i - 1];

		if (strcmp(later->what, first->what) != 0 ||
		    strcmp(later->key, first->key) != 0)
			continue;
		if (later->wl == first->wl)
			return at(c, later->line, later->col,
				  "%s %s listed twice in one workload",
				  later->what, later->key);
		return at(c, later->line, later->col,
			  "%s %s already listed at line %u", later->what,
			  later->key, first->line);
	}
	return 0;
}

enum wkey {
	W_NAMESPACE, W_NAME, W_KIND, W_LABELS, W_INTERFACES, W_IPS, W_NETNS,
	W_CONTAINER_IDS, W_POD_UID, W_RUNTIME, W__COUNT
};

static const char *const wkeys[W__COUNT] = {
	"namespace", "name", "kind", "labels", "interfaces", "ips", "netns",
	"container_ids", "pod_uid", "runtime",
};

static int read_workload(struct ictx *c, const struct ynode *m,
			 struct inv_workload *w)
{
	const struct ynode *val[W__COUNT] = {0};
	const struct ynode *v;
	int rc;

	memset(w, 0, sizeof(*w));
	w->line = m->line;
	if (want(c, m, Y_MAP, "a workload"))
		return -EINVAL;
	for (const struct ynode *k = node(c, m->first); k; k = node(c, v->next)) {
		int i;

		v = node(c, k->next);
		if (k->type != Y_SCALAR || !v)
			return FAIL(c, k, "keys must be strings");
		for (i = 0; i < W__COUNT; i++)
			if (strcmp(k->text, wkeys[i]) == 0)
				break;
		if (i == W__COUNT)
			return FAIL(c, k, "unknown key '%s' in a workload (known: "
				    "namespace, name, kind, labels, interfaces, ips, "
				    "netns, container_ids, pod_uid, runtime)", k->text);
		if (val[i])
			return FAIL(c, k, "'%s' given twice", k->text);
		val[i] = is_null(v) ? NULL : v;
		if (!val[i] && i == W_NAME)
			return FAIL(c, v, "'name' is empty");
	}

	if (!val[W_NAME])
		return FAIL(c, m, "a workload needs a 'name'");
	if ((rc = str_into(c, val[W_NAME], "'name'", w->name, sizeof(w->name))))
		return rc;
	if (!attrib_name_valid(w->name))
		return FAIL(c, val[W_NAME], "invalid name '%s' (1-253 of "
			    "[A-Za-z0-9._-], starting and ending alphanumeric)", w->name);
	if ((v = val[W_NAMESPACE])) {
		if ((rc = str_into(c, v, "'namespace'", w->namespace,
				   sizeof(w->namespace))))
			return rc;
		if (!attrib_namespace_valid(w->namespace))
			return FAIL(c, v, "invalid namespace '%s' (a DNS label: "
				    "1-63 of [a-z0-9-])", w->namespace);
	}
	if ((v = val[W_POD_UID])) {
		if ((rc = str_into(c, v, "'pod_uid'", w->pod_uid, sizeof(w->pod_uid))))
			return rc;
		if (!attrib_uid_valid(w->pod_uid, strlen(w->pod_uid)))
			return FAIL(c, v, "invalid pod_uid '%s' (a lowercase UUID, "
				    "or 32 hex digits for a static pod)", w->pod_uid);
	}
	{
		char ref[ATTRIB_REF_MAX];

		snprintf(ref, sizeof(ref), "%s%s%s", w->namespace,
			 w->namespace[0] ? "/" : "", w->name);
		if ((rc = note(c, "workload", ref, val[W_NAME])))
			return rc;
		if (w->pod_uid[0] &&
		    (rc = note(c, "pod_uid", w->pod_uid, val[W_POD_UID])))
			return rc;
	}
	if ((v = val[W_KIND])) {
		if ((rc = str_into(c, v, "'kind'", w->kind, sizeof(w->kind))))
			return rc;
		for (size_t i = 0; w->kind[i]; i++)
			if (!((w->kind[i] >= 'A' && w->kind[i] <= 'Z') ||
			      (w->kind[i] >= 'a' && w->kind[i] <= 'z')))
				return FAIL(c, v, "invalid kind '%s' (letters only)",
					    w->kind);
	} else {
		snprintf(w->kind, sizeof(w->kind), "%s",
			 w->namespace[0] || w->pod_uid[0] ? "Pod" : "Container");
	}
	if ((v = val[W_RUNTIME]) &&
	    (rc = str_into(c, v, "'runtime'", w->runtime, sizeof(w->runtime))))
		return rc;
	if ((v = val[W_NETNS])) {
		if ((rc = str_into(c, v, "'netns'", w->netns, sizeof(w->netns))))
			return rc;
		if (!netns_valid(w->netns))
			return FAIL(c, v, "invalid netns name '%s' (a file name "
				    "under /run/netns: no '/', space or control "
				    "characters)", w->netns);
	}
	if ((v = val[W_LABELS])) {
		if ((rc = read_labels(c, v, &w->labels, "'labels'")))
			return rc;
		w->has_labels = 1;
	}
	if ((v = val[W_INTERFACES])) {
		if ((rc = list_of(c, v, "'interfaces'", ATTRIB_MAX_IFACES)))
			return rc;
		for (const struct ynode *i = node(c, v->first); i; i = node(c, i->next)) {
			if (!iface_valid(i->text))
				return FAIL(c, i, "invalid interface name '%s' "
					    "(1-15 bytes, no '/', ':' or space)", i->text);
			memcpy(w->ifaces[w->n_ifaces].name, i->text, i->len + 1);
			w->n_ifaces++;
			if ((rc = note(c, "interface", i->text, i)))
				return rc;
		}
	}
	if ((v = val[W_IPS])) {
		if ((rc = list_of(c, v, "'ips'", ATTRIB_MAX_IPS)))
			return rc;
		for (const struct ynode *i = node(c, v->first); i; i = node(c, i->next)) {
			uint8_t ip[16];

			if (ew_ip_parse(i->text, ip) < 0)
				return FAIL(c, i, "'%s' is not an IP address", i->text);
			if (attrib_ip_ignored(ip))
				return FAIL(c, i, "%s cannot be a workload's address "
					    "(unspecified, loopback, link-local or "
					    "multicast)", i->text);
			memcpy(w->ips[w->n_ips++], ip, 16);
			{
				char t[EW_IPSTR_MAX];

				ew_ip_to_str(ip, t);
				if ((rc = note(c, "address", t, i)))
					return rc;
			}
		}
	}
	if ((v = val[W_CONTAINER_IDS])) {
		if ((rc = list_of(c, v, "'container_ids'", ATTRIB_MAX_CONTAINERS)))
			return rc;
		for (const struct ynode *i = node(c, v->first); i; i = node(c, i->next)) {
			const char *id = strstr(i->text, "://");

			/* Kubernetes writes "containerd://<id>". */
			id = id ? id + 3 : i->text;
			if (!attrib_cid_valid(id, strlen(id)))
				return FAIL(c, i, "invalid container id '%s' (64 "
					    "lowercase hex digits, optionally "
					    "after 'runtime://')", i->text);
			memcpy(w->containers[w->n_containers++], id,
			       ATTRIB_CID_LEN + 1);
			if ((rc = note(c, "container id", id, i)))
				return rc;
		}
	}
	return 0;
}

static int read_namespaces(struct ictx *c, const struct ynode *m,
			   struct inventory *inv)
{
	if (is_null(m))
		return 0;
	if (want(c, m, Y_MAP, "'namespaces'"))
		return -EINVAL;
	if (m->n / 2 > INVENTORY_MAX_NAMESPACES)
		return FAIL(c, m, "more than %d namespaces", INVENTORY_MAX_NAMESPACES);
	inv->namespaces = calloc(m->n / 2 + 1, sizeof(*inv->namespaces));
	if (!inv->namespaces) {
		snprintf(c->err, c->errlen, "%s: out of memory", c->file);
		return -ENOMEM;
	}
	for (const struct ynode *k = node(c, m->first), *v; k; k = node(c, v->next)) {
		struct inv_namespace *ns = &inv->namespaces[inv->n_namespaces];
		int rc;

		v = node(c, k->next);
		if (!v)
			return FAIL(c, k, "a namespace needs a value");
		if ((rc = str_into(c, k, "a namespace name", ns->name,
				   sizeof(ns->name))))
			return rc;
		if (!attrib_namespace_valid(ns->name))
			return FAIL(c, k, "invalid namespace '%s' (a DNS label: "
				    "1-63 of [a-z0-9-])", ns->name);
		for (size_t i = 0; i < inv->n_namespaces; i++)
			if (strcmp(inv->namespaces[i].name, ns->name) == 0)
				return FAIL(c, k, "namespace '%s' given twice",
					    ns->name);
		if (!is_null(v)) {
			if (want(c, v, Y_MAP, "a namespace entry"))
				return -EINVAL;
			for (const struct ynode *nk = node(c, v->first), *nv; nk;
			     nk = node(c, nv->next)) {
				nv = node(c, nk->next);
				if (!nv || nk->type != Y_SCALAR || strcmp(nk->text, "labels") != 0)
					return FAIL(c, nk, "unknown key '%s' in a "
						    "namespace (known: labels)",
						    nk->type == Y_SCALAR ? nk->text : "?");
				if ((rc = read_labels(c, nv, &ns->labels, "'labels'")))
					return rc;
			}
		}
		inv->n_namespaces++;
	}
	return 0;
}

/* ---- entry points ------------------------------------------------------------------- */

static int interpret(struct ictx *c, uint32_t root_idx, struct inventory *inv)
{
	const struct ynode *root = node(c, root_idx), *v;
	const struct ynode *version = NULL, *workloads = NULL, *namespaces = NULL;
	int rc;

	if (!root)
		return at(c, 1, 1, "empty inventory (expected 'version: 1' and "
			  "'workloads:')");
	if (root->type != Y_MAP)
		return FAIL(c, root, "the inventory must be a mapping with "
			    "'version' and 'workloads', not %s", type_name(root->type));
	for (const struct ynode *k = node(c, root->first); k; k = node(c, v->next)) {
		const struct ynode **slot;

		v = node(c, k->next);
		if (k->type != Y_SCALAR || !v)
			return FAIL(c, k, "keys must be strings");
		if (strcmp(k->text, "version") == 0)
			slot = &version;
		else if (strcmp(k->text, "workloads") == 0)
			slot = &workloads;
		else if (strcmp(k->text, "namespaces") == 0)
			slot = &namespaces;
		else
			return FAIL(c, k, "unknown key '%s' (known: version, "
				    "workloads, namespaces)", k->text);
		if (*slot)
			return FAIL(c, k, "'%s' given twice", k->text);
		*slot = v;
	}
	if (!version)
		return FAIL(c, root, "missing 'version: 1'");
	if (version->type != Y_SCALAR || strcmp(version->text, "1") != 0)
		return FAIL(c, version, "unsupported inventory version '%s' (this "
			    "agent reads version 1)",
			    version->type == Y_SCALAR ? version->text : type_name(version->type));
	if (namespaces && (rc = read_namespaces(c, namespaces, inv)))
		return rc;
	if (!workloads || is_null(workloads))
		return 0;
	if (want(c, workloads, Y_SEQ, "'workloads'"))
		return -EINVAL;
	if (workloads->n > c->max_workloads)
		return FAIL(c, workloads, "more than %zu workloads", c->max_workloads);
	inv->workloads = calloc(workloads->n + 1, sizeof(*inv->workloads));
	if (!inv->workloads) {
		snprintf(c->err, c->errlen, "%s: out of memory", c->file);
		return -ENOMEM;
	}
	for (const struct ynode *w = node(c, workloads->first); w; w = node(c, w->next)) {
		c->wl = (uint32_t)inv->n_workloads;
		if ((rc = read_workload(c, w, &inv->workloads[inv->n_workloads])))
			return rc;
		inv->n_workloads++;
	}
	return check_unique(c);
}

void inventory_free(struct inventory *inv)
{
	free(inv->workloads);
	free(inv->namespaces);
	memset(inv, 0, sizeof(*inv));
}

int inventory_parse(const char *name, const char *text, size_t len,
		    size_t max_workloads, struct inventory *out, char *err,
		    size_t errlen)
{
	struct ydoc d = {0};
	struct ictx c = {.file = name, .err = err, .errlen = errlen, .d = &d,
			 .max_workloads = max_workloads};
	uint32_t root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > INVENTORY_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %u bytes", name,
			 INVENTORY_MAX_BYTES);
		return -EFBIG;
	}
	rc = build_tree(&c, text, len, &root);
	if (rc == 0)
		rc = interpret(&c, root, out);
	ydoc_free(&d);
	free(c.u);
	if (rc)
		inventory_free(out);
	return rc;
}

int inventory_load(const char *path, size_t max_workloads,
		   struct inventory *out, char *err, size_t errlen)
{
	size_t cap = 64 << 10, len = 0;
	char *buf = NULL;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	/* Read to the end, whatever the file is (a FIFO has no size), but
	 * never past the cap. */
	for (;;) {
		ssize_t r;

		if (len == cap || !buf) {
			char *p;

			if (buf)
				cap *= 2;
			if (cap > INVENTORY_MAX_BYTES + 1)
				cap = INVENTORY_MAX_BYTES + 1;
			if (!(p = realloc(buf, cap))) {
				rc = -ENOMEM;
				snprintf(err, errlen, "%s: out of memory", path);
				goto out;
			}
			buf = p;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > INVENTORY_MAX_BYTES) {
			rc = -EFBIG;
			snprintf(err, errlen, "%s: larger than %u bytes", path,
				 INVENTORY_MAX_BYTES);
			goto out;
		}
	}
	rc = inventory_parse(path, buf, len, max_workloads, out, err, errlen);
out:
	close(fd);
	free(buf);
	return rc;
}
