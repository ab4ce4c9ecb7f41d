/*
 * load.c - policy_load(): read the sources (each capped at POLICY_FILE_MAX),
 * parse them into YAML trees, hand each document to the compiler of its
 * apiVersion, check names that must be unique across everything, and pack
 * the result into one immutable arena-backed policy.
 *
 * A load either returns a complete new policy or nothing: the caller's
 * running policy is never touched, so a reload with a broken file keeps the
 * old rules working.  Errors are collected, not stopped at, so one
 * `policy check` shows as many problems as it can find.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define OUR_API "egresswatch/v1"

struct input {
	const char *data;
	size_t len;
	char *owned;			/* read from a file: ours to free */
	struct ytree tree;
	int parsed;
	const char *file;		/* arena copy of the name */
};

struct srcpos loader_pos(struct loader *L, const struct ynode *n)
{
	struct srcpos at = {L->file, n->line, n->col, L->seq++};
	return at;
}

/* Read a whole file, refusing more than POLICY_FILE_MAX bytes without
 * reading them all: a regular file by its size, a pipe or device after
 * the cap plus one byte.  "-" is standard input. */
static int read_file(const char *name, struct input *in, struct diag *d)
{
	int stdin_fd = strcmp(name, "-") == 0;
	int fd = stdin_fd ? 0 : open(name, O_RDONLY | O_CLOEXEC);
	size_t cap = 65536, len = 0;
	char *buf = NULL, *nb;
	struct stat st;
	int rc = 0;

	if (fd < 0) {
		rc = -errno;
		diag_file(d, "cannot open: %s", strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			diag_file(d, "is a directory");
			rc = -EISDIR;
			goto out;
		}
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > POLICY_FILE_MAX)
			goto toobig;
	}
	if (!(buf = malloc(cap)))
		goto nomem;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap > POLICY_FILE_MAX)
				goto toobig;	/* holds the cap plus one byte */
			cap = cap * 2 > POLICY_FILE_MAX + 1 ? POLICY_FILE_MAX + 1 : cap * 2;
			if (!(nb = realloc(buf, cap)))
				goto nomem;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			diag_file(d, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > POLICY_FILE_MAX)
		goto toobig;
	in->owned = buf;
	in->data = buf;
	in->len = len;
	buf = NULL;
	goto out;
nomem:
	d->oom = 1;
	rc = -ENOMEM;
	goto out;
toobig:
	diag_file(d, "larger than %u bytes", POLICY_FILE_MAX);
	rc = -EFBIG;
out:
	free(buf);
	if (!stdin_fd)
		close(fd);
	return rc;
}

/* ---- uniqueness ------------------------------------------------------------- */

struct named {
	const char *name;
	const struct srcpos *at;
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->at->seq < y->at->seq ? -1 : x->at->seq > y->at->seq;
}

/* Report every repeat of a name (at the later definition, pointing at the
 * first).  Sorting keeps this O(n log n) for inputs of any size. */
static int check_unique(struct diag *d, struct named *items, size_t n,
			const char *what)
{
	const char *file = d->file;
	int rc = 0;

	if (n < 2)
		return 0;
	qsort(items, n, sizeof(*items), named_cmp);
	for (size_t i = 1; i < n; i++) {
		size_t first = i - 1;
		while (i < n && strcmp(items[i].name, items[first].name) == 0) {
			const struct srcpos *a = items[i].at, *f = items[first].at;
			d->file = a->file;
			diag_at(d, a->line, a->col,
				"duplicate %s '%.128s' (first at %s:%u:%u)", what,
				items[i].name, f->file, f->line, f->col);
			rc = -EINVAL;
			i++;
		}
	}
	d->file = file;
	return rc;
}

/* Collect name/position pairs from a vec of structs into `named`. */
#define COLLECT(items, cnt, vecp, type, namefield)                          \
	do {                                                                \
		const type *arr_ = (vecp)->p;                               \
		for (size_t i_ = 0; i_ < (vecp)->n; i_++)                   \
			if (arr_[i_].namefield) {                           \
				(items)[cnt].name = arr_[i_].namefield;     \
				(items)[cnt].at = &arr_[i_].at;             \
				(cnt)++;                                    \
			}                                                   \
	} while (0)

static int unique_all(struct loader *L, struct diag *d, int names_pass)
{
	size_t max = L->networks.n + L->zones.n + L->entries.n + L->netpols.n +
		     L->nsdefaults.n, cnt;
	struct named *items = malloc((max ? max : 1) * sizeof(*items));
	int rc = 0;

	if (!items) {
		d->oom = 1;
		return -ENOMEM;
	}
	if (names_pass) {
		cnt = 0;
		COLLECT(items, cnt, &L->networks, struct network, name);
		rc |= check_unique(d, items, cnt, "network");
		cnt = 0;
		COLLECT(items, cnt, &L->zones, struct zone, name);
		rc |= check_unique(d, items, cnt, "zone");
	} else {
		cnt = 0;
		COLLECT(items, cnt, &L->entries, struct entry, name);
		rc |= check_unique(d, items, cnt, "workload entry");
		cnt = 0;
		COLLECT(items, cnt, &L->netpols, struct netpol, rule);
		rc |= check_unique(d, items, cnt, "NetworkPolicy");
		cnt = 0;
		COLLECT(items, cnt, &L->nsdefaults, struct nsdefault, ns.pat);
		rc |= check_unique(d, items, cnt, "namespace default");
	}
	free(items);
	return rc ? -EINVAL : 0;
}

static int network_cmp(const void *a, const void *b)
{
	const struct network *x = a, *y = b;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int zone_cmp(const void *a, const void *b)
{
	const struct zone *x = a, *y = b;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int find_sorted(const void *base, size_t n, size_t size, size_t off,
		       const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *s = *(const char *const *)((const char *)base +
						       mid * size + off);
		int c = strcmp(name, s ? s : "");
		if (c == 0)
			return (int)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

int loader_find_network(const struct loader *L, const char *name)
{
	return find_sorted(L->networks.p, L->networks.n, sizeof(struct network),
			   offsetof(struct network, name), name);
}

int loader_find_zone(const struct loader *L, const char *name)
{
	return find_sorted(L->zones.p, L->zones.n, sizeof(struct zone),
			   offsetof(struct zone, name), name);
}

/* ---- documents ---------------------------------------------------------------- */

enum doc_kind { DOC_SKIP, DOC_OURS, DOC_NETPOL, DOC_BAD };

static enum doc_kind classify(struct diag *d, const struct ynode *doc)
{
	const struct ynode *api;

	if (!doc || (doc->type == Y_SCALAR && doc->kind == YK_NULL))
		return DOC_SKIP;	/* an empty document, e.g. a trailing --- */
	if (doc->type != Y_MAP) {
		diag_at(d, doc->line, doc->col, "a policy document must be a mapping, "
			"not %s", ytype_name(doc));
		return DOC_BAD;
	}
	if (!(api = ymap_get(doc, "apiVersion"))) {
		diag_at(d, doc->line, doc->col, "missing apiVersion (%s, or "
			"networking.k8s.io/v1 for a NetworkPolicy)", OUR_API);
		return DOC_BAD;
	}
	if (yscalar_is(api, OUR_API))
		return DOC_OURS;
	if (yscalar_is(api, "networking.k8s.io/v1"))
		return DOC_NETPOL;
	if (yscalar_is(api, "v1") && yscalar_is(ymap_get(doc, "kind"), "List"))
		return DOC_NETPOL;
	if (api->type == Y_SCALAR && strncmp(api->s, "egresswatch/", 12) == 0)
		diag_at(d, api->line, api->col, "unsupported policy version '%.64s' "
			"(this egresswatch reads %s)", api->s, OUR_API);
	else
		diag_at(d, api->line, api->col, "unsupported apiVersion '%.64s' "
			"(expected %s or networking.k8s.io/v1)",
			api->type == Y_SCALAR ? api->s : "?", OUR_API);
	return DOC_BAD;
}

/* Run one pass of the compilers over every parsed document. */
static int pass(struct loader *L, struct diag *d, struct input *in, size_t n,
		int first)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (!in[i].parsed)
			continue;
		L->file = in[i].file;
		d->file = in[i].file;
		for (size_t j = 0; j < in[i].tree.ndocs; j++) {
			const struct ynode *doc = in[i].tree.docs[j];
			/* Problems of the document itself are reported once,
			 * in the first pass. */
			struct diag quiet = {.file = d->file};
			enum doc_kind k = classify(first ? d : &quiet, doc);
			int r = 0;

			if (k == DOC_BAD)
				r = -EINVAL;
			else if (k == DOC_OURS)
				r = first ? lang_compile_names(L, d, doc) :
					    lang_compile(L, d, doc);
			else if (k == DOC_NETPOL && !first)
				r = netpol_compile(L, d, doc);
			if (r == -ENOMEM)
				return r;
			if (r)
				rc = r;
		}
	}
	return rc;
}

/* Move a loading vec into the arena. */
static void *settle(struct arena *a, struct vec *v, uint32_t *n, int *oom)
{
	void *p;

	*n = (uint32_t)v->n;
	if (!v->n)
		return NULL;
	if (!(p = arena_array(a, v->n, v->size))) {
		*oom = 1;
		return NULL;
	}
	memcpy(p, v->p, v->n * v->size);
	return p;
}

/*
 * When no document says where the cluster is, the private ranges are: pod
 * and service CIDRs live in RFC 1918 space, CGNAT space (100.64.0.0/10,
 * used by some CNIs) or IPv6 unique-local space on every CNI we know, and
 * nothing is exfiltrated *to* the cluster.  A policy narrows this with
 * `cluster_networks:` (for example when other private networks of the
 * company must count as outside).
 */
static const char *const default_cluster[] = {
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	"fc00::/7",
};

static int default_cluster_networks(struct loader *L)
{
	if (L->cluster.n)
		return 0;
	for (size_t i = 0; i < EW_ARRAY_LEN(default_cluster); i++) {
		struct ew_cidr *c = vec_push(&L->cluster);
		if (!c)
			return -ENOMEM;
		if (ew_cidr_parse(default_cluster[i], c))
			return -EINVAL;
	}
	return 0;
}

static int finish(struct loader *L)
{
	struct policy *p = L->p;
	int oom = default_cluster_networks(L) != 0;

	struct ew_cidr *cluster;
	uint32_t n_cluster;

	p->nsdefaults = settle(L->a, &L->nsdefaults, &p->n_nsdefaults, &oom);
	p->networks = settle(L->a, &L->networks, &p->n_networks, &oom);
	cluster = settle(L->a, &L->cluster, &n_cluster, &oom);
	p->zones = settle(L->a, &L->zones, &p->n_zones, &oom);
	p->pairs = settle(L->a, &L->pairs, &p->n_pairs, &oom);
	p->entries = settle(L->a, &L->entries, &p->n_entries, &oom);
	p->netpols = settle(L->a, &L->netpols, &p->n_netpols, &oom);
	if (oom || cidrset_build(L->a, cluster, n_cluster, &p->cluster) ||
	    index_build(p) || netblocks_build(p))
		return -ENOMEM;
	return 0;
}

static void loader_free(struct loader *L)
{
	vec_free(&L->nsdefaults);
	vec_free(&L->networks);
	vec_free(&L->cluster);
	vec_free(&L->zones);
	vec_free(&L->pairs);
	vec_free(&L->entries);
	vec_free(&L->netpols);
}

/* Messages come out of the passes in compile order; show them in file
 * order (the order the files were given), then by line and column. */
struct msgkey {
	size_t file;
	unsigned long line, col;
};

static struct msgkey msg_key(const char *m, const struct input *in, size_t n)
{
	struct msgkey k = {n, 0, 0};
	size_t best = 0;

	for (size_t i = 0; i < n; i++) {
		size_t len = in[i].file ? strlen(in[i].file) : 0;
		if (len > best && strncmp(m, in[i].file, len) == 0 && m[len] == ':') {
			best = len;
			k.file = i;
		}
	}
	if (best && sscanf(m + best, ":%lu:%lu:", &k.line, &k.col) != 2)
		k.line = k.col = 0;
	return k;
}

static int msgkey_less(const struct msgkey *a, const struct msgkey *b)
{
	if (a->file != b->file)
		return a->file < b->file;
	if (a->line != b->line)
		return a->line < b->line;
	return a->col < b->col;
}

static void sort_errors(struct policy_errors *e, const struct input *in, size_t n)
{
	struct msgkey keys[POLICY_ERR_MAX], k;
	char tmp[POLICY_ERRMSG_MAX];

	for (unsigned i = 0; i < e->n; i++)
		keys[i] = msg_key(e->msg[i], in, n);
	for (unsigned i = 1; i < e->n; i++) {
		unsigned j = i;
		k = keys[i];
		memcpy(tmp, e->msg[i], sizeof(tmp));
		while (j > 0 && msgkey_less(&k, &keys[j - 1])) {
			keys[j] = keys[j - 1];
			memcpy(e->msg[j], e->msg[j - 1], sizeof(tmp));
			j--;
		}
		keys[j] = k;
		memcpy(e->msg[j], tmp, sizeof(tmp));
	}
}

int policy_load(const struct policy_source *src, size_t n, struct policy **out,
		struct policy_errors *errs)
{
	struct loader L = {0};
	struct diag d = {.out = errs, .file = ""};
	struct input *in = NULL;
	struct policy *p;
	int rc = 0, io_rc = 0;

	*out = NULL;
	if (errs)
		errs->n = errs->total = 0;
	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	defaults_init(p);
	L.p = p;
	L.a = &p->arena;
	L.nsdefaults.size = sizeof(struct nsdefault);
	L.networks.size = sizeof(struct network);
	L.cluster.size = sizeof(struct ew_cidr);
	L.zones.size = sizeof(struct zone);
	L.pairs.size = sizeof(struct zone_pair);
	L.entries.size = sizeof(struct entry);
	L.netpols.size = sizeof(struct netpol);
	if (n && !(in = calloc(n, sizeof(*in)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = src[i].name ? src[i].name : "<policy>";
		int r;

		if (strcmp(name, "-") == 0 && !src[i].data)
			name = "<stdin>";
		if (!(in[i].file = arena_strndup(L.a, name, strlen(name)))) {
			rc = -ENOMEM;
			goto out;
		}
		d.file = in[i].file;
		if (src[i].data) {
			in[i].data = src[i].data;
			in[i].len = src[i].len;
			if (in[i].len > POLICY_FILE_MAX) {
				diag_file(&d, "larger than %u bytes", POLICY_FILE_MAX);
				io_rc = io_rc ? io_rc : -EFBIG;
				continue;
			}
		} else if (!src[i].name) {
			diag_file(&d, "a source needs a file name or data");
			io_rc = io_rc ? io_rc : -EINVAL;
			continue;
		} else if ((r = read_file(src[i].name, &in[i], &d))) {
			if (r == -ENOMEM) {
				rc = r;
				goto out;
			}
			io_rc = io_rc ? io_rc : r;
			continue;
		}
		r = ytree_parse(&in[i].tree, in[i].data, in[i].len, &d);
		if (r == -ENOMEM) {
			rc = r;
			goto out;
		}
		if (r)
			continue;
		in[i].parsed = 1;
		size_t docs = 0;
		for (size_t j = 0; j < in[i].tree.ndocs; j++) {
			const struct ynode *doc = in[i].tree.docs[j];
			docs += doc && !(doc->type == Y_SCALAR && doc->kind == YK_NULL);
		}
		if (!docs)
			diag_file(&d, "contains no policy documents");
	}
	if ((rc = pass(&L, &d, in, n, 1)) == -ENOMEM)
		goto out;
	if (d.oom) {
		rc = -ENOMEM;
		goto out;
	}
	if (unique_all(&L, &d, 1) == -ENOMEM) {
		rc = -ENOMEM;
		goto out;
	}
	if (L.networks.n)
		qsort(L.networks.p, L.networks.n, sizeof(struct network), network_cmp);
	if (L.zones.n)
		qsort(L.zones.p, L.zones.n, sizeof(struct zone), zone_cmp);
	if ((rc = pass(&L, &d, in, n, 0)) == -ENOMEM || d.oom)
		goto out;
	if (unique_all(&L, &d, 0) == -ENOMEM || d.oom) {
		rc = -ENOMEM;
		goto out;
	}
	rc = 0;
	if (d.count) {
		rc = io_rc ? io_rc : -EINVAL;
		if (errs)
			sort_errors(errs, in, n);
		goto out;
	}
	if ((rc = finish(&L)))
		goto out;
	*out = p;
	p = NULL;
out:
	if (d.oom && !rc)
		rc = -ENOMEM;
	for (size_t i = 0; in && i < n; i++) {
		ytree_free(&in[i].tree);
		free(in[i].owned);
	}
	free(in);
	loader_free(&L);
	policy_close(p);
	return rc;
}

int policy_builtin(struct policy **out)
{
	return policy_load(NULL, 0, out, NULL);
}

void policy_close(struct policy *p)
{
	if (!p)
		return;
	arena_free(&p->arena);
	free(p);
}

void policy_get_info(const struct policy *p, struct policy_info *out)
{
	memset(out, 0, sizeof(*out));
	out->documents = p->documents;
	out->workloads = p->n_entries;
	out->networks = p->n_networks;
	out->zones = p->n_zones;
	out->zone_pairs = p->n_pairs;
	out->netpols = p->n_netpols;
	out->mode = p->mode;
	out->datastore_guard = p->datastore_guard;
}
