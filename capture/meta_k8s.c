/*
 * meta_k8s.c - the Kubernetes API as a metadata source: this node's pods
 * and every namespace's labels, listed and then watched.
 *
 * Configuration, in order: a kubeconfig named by --kubeconfig, else the
 * first existing file of $KUBECONFIG (no merging of several files), else
 * the in-cluster service account ($KUBERNETES_SERVICE_HOST/_PORT, token and
 * ca.crt).  ~/.kube/config is never read implicitly: an agent must not pick
 * up a person's credentials by accident.  The token file (service account,
 * or kubeconfig tokenFile) is re-read every minute, as client-go does, since
 * bound service account tokens rotate.  Plain http is accepted only to a
 * loopback server (kubectl proxy); anything else must be https.
 *
 * The protocol (https://kubernetes.io/docs/reference/using-api/api-concepts/):
 *
 *   relist   GET /api/v1/namespaces?limit=N[&continue=T]             (pages)
 *            GET /api/v1/pods?fieldSelector=spec.nodeName=NODE&limit=N...
 *            inside one attrib_sync_begin/end bracket, so that whatever
 *            the lists no longer contain leaves the registry;
 *   watch    the same paths with watch=1&allowWatchBookmarks=true&
 *            resourceVersion=RV&timeoutSeconds=S, both streams at once on
 *            this one thread; each line is one event: ADDED, MODIFIED,
 *            DELETED (object applied, its resourceVersion kept), BOOKMARK
 *            (only the resourceVersion), ERROR (a Status).
 *
 * What happens when:
 *   - a watch ends cleanly (timeoutSeconds, or the server closed it between
 *     events): it is reopened at once from the last resourceVersion;
 *   - it breaks (connection lost, a line cut off, an ERROR event other than
 *     410, a line that is not JSON): reopened from the last resourceVersion
 *     after a back-off delay, so the events after it are delivered again;
 *   - 410 Gone, as the HTTP status of a watch or of a list page (an expired
 *     continue token) or as an ERROR event with code 410: the
 *     resourceVersion is too old, so everything is listed again;
 *   - a line longer than max_object_bytes: the event cannot be skipped (its
 *     resourceVersion is unknown), so after a back-off delay everything is
 *     listed again;
 *   - any failed list: retried with back-off (min..max, doubling, jittered).
 *   - a 403 on namespaces (no RBAC for them): pods are still watched, and
 *     namespaceSelectors see only kubernetes.io/metadata.name.
 *
 * Pods.  hostNetwork pods share the node's network namespace, so their
 * podIPs are the node's addresses: they are asserted without addresses, or
 * the node's own traffic would be charged to them.  Succeeded and Failed
 * pods have released their addresses (which a new pod may already use) and
 * are asserted without them too.  The owner shown is the controller
 * reference; a ReplicaSet stands for its Deployment, see
 * meta_k8s_owner_resolve.  A deleted namespace keeps its labels in the
 * registry until the next re-list: the API server deletes a namespace only
 * once it is empty, so no flow can be judged by them meanwhile.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <yaml.h>

#include "meta.h"

#define TOKEN_REFRESH_NS (60ull * 1000000000)
#define CONTINUE_MAX 1024	/* continue token bytes */

/* ---- small helpers --------------------------------------------------------- */

static void scopy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static char *join_dir(const char *base_file, const char *p)
{
	const char *slash;
	char *out;
	size_t dl;

	if (p[0] == '/' || !(slash = strrchr(base_file, '/')))
		return strdup(p);
	dl = (size_t)(slash - base_file);
	if (!(out = malloc(dl + 1 + strlen(p) + 1)))
		return NULL;
	memcpy(out, base_file, dl);
	out[dl] = '/';
	strcpy(out + dl + 1, p);
	return out;
}

/* RFC 4648 base64, padding optional, whitespace ignored.  0, -EINVAL, -EFBIG. */
static int b64_decode(const char *s, size_t len, char **out, size_t *olen)
{
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0, pad = 0;
	char *buf;

	if (len / 4 * 3 + 3 > META_PEM_MAX)
		return -EFBIG;
	if (!(buf = malloc(len / 4 * 3 + 4)))
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			goto bad;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)(acc >> bits & 0xff);
		}
	}
	if (pad > 2 || bits >= 6 || o == 0)
		goto bad;
	buf[o] = '\0';
	*out = buf;
	*olen = o;
	return 0;
bad:
	free(buf);
	return -EINVAL;
}

/* A token as read from a file: trailing whitespace removed; printable. */
static int read_token(const char *path, char **out)
{
	size_t len;
	char *t;
	int rc = meta_read_file(path, META_TOKEN_MAX + 1, &t, &len);

	*out = NULL;
	if (rc < 0)
		return rc;
	while (len && isspace((unsigned char)t[len - 1]))
		t[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f) {
			explicit_bzero(t, len);
			free(t);
			return -EINVAL;
		}
	if (!len) {
		free(t);
		return -ENODATA;
	}
	*out = t;
	return 0;
}

void meta_k8s_conn_free(struct meta_k8s_conn *c)
{
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->ca_pem);
	free(c->cert_pem);
	if (c->key_pem) {
		explicit_bzero(c->key_pem, c->key_pem_len);
		free(c->key_pem);
	}
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->token_file);
	memset(c, 0, sizeof(*c));
}

/* Loopback host of an http:// URL? */
static int loopback_url(const char *url)
{
	const char *h = url + 7;

	return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost", 9) == 0 ||
	       strncmp(h, "[::1]", 5) == 0;
}

/* Check and store a server URL; strips a trailing '/'. */
static int set_server(struct meta_k8s_conn *c, const char *url, char *err,
		      size_t errlen, const char *where)
{
	size_t n = strlen(url);

	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
		snprintf(err, errlen, "%s: server %.200s: not an http(s) URL", where, url);
		return -EINVAL;
	}
	if (n >= sizeof(c->server)) {
		snprintf(err, errlen, "%s: server URL longer than %zu bytes", where,
			 sizeof(c->server) - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f) {
			snprintf(err, errlen, "%s: server URL has a space or control character",
				 where);
			return -EINVAL;
		}
	if (url[4] == ':' && !loopback_url(url)) {
		snprintf(err, errlen, "%s: server %.200s: plain http is accepted only to "
			 "a loopback address (credentials would travel in clear)",
			 where, url);
		return -EINVAL;
	}
	memcpy(c->server, url, n + 1);
	while (n > 8 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	return 0;
}

/* ---- in-cluster -------------------------------------------------------------- */

int meta_k8s_incluster(const char *sa_dir, struct meta_k8s_conn *out,
		       char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[PATH_MAX], url[512];
	unsigned long pn;
	char *end;

	memset(out, 0, sizeof(*out));
	if (!sa_dir)
		sa_dir = META_K8S_SA_DIR;
	if (!host || !*host || !port || !*port) {
		snprintf(err, errlen, "KUBERNETES_SERVICE_HOST/PORT not set");
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	if (access(path, F_OK) < 0) {
		snprintf(err, errlen, "no service account token at %s", path);
		return -ENOENT;
	}
	if (strlen(host) > 253 || strspn(host, "0123456789abcdefABCDEF.:-"
				     "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ") != strlen(host)) {
		snprintf(err, errlen, "KUBERNETES_SERVICE_HOST is not a host name or address");
		return -EINVAL;
	}
	pn = strtoul(port, &end, 10);
	if (*end || pn == 0 || pn > 65535) {
		snprintf(err, errlen, "KUBERNETES_SERVICE_PORT is not a port number");
		return -EINVAL;
	}
	snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%lu" : "https://%s:%lu",
		 host, pn);
	if (set_server(out, url, err, errlen, "in-cluster") < 0)
		return -EINVAL;
	if (!(out->token_file = strdup(path)))
		goto oom;
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	if (access(path, R_OK) == 0 && !(out->ca_file = strdup(path)))
		goto oom;
	snprintf(out->source, sizeof(out->source), "in-cluster service account");
	return 0;
oom:
	meta_k8s_conn_free(out);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* ---- kubeconfig ------------------------------------------------------------
 *
 * libyaml events become a small tree (the same shape as the inventory's),
 * stopped at the caps: file size, node count, depth, scalar length; anchors
 * and aliases are refused.  Only the keys we use are looked at.
 */

enum { K_SCALAR = 1, K_MAP, K_SEQ };

struct knode {
	uint8_t type;
	uint32_t first, last, next, line;
	char *text;
	size_t len;
};

struct kdoc {
	struct knode *n;
	size_t count, cap;
	uint32_t root;
};

static void kdoc_free(struct kdoc *d)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->n[i].text) {
			explicit_bzero(d->n[i].text, d->n[i].len);
			free(d->n[i].text);
		}
	free(d->n);
	memset(d, 0, sizeof(*d));
}

static int kadd(struct kdoc *d, uint32_t parent, int type, uint32_t line,
		uint32_t *out)
{
	struct knode *nd;

	if (d->count >= META_KUBECONFIG_MAX_NODES)
		return -E2BIG;
	if (d->count == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		void *p = realloc(d->n, cap * sizeof(*d->n));

		if (!p)
			return -ENOMEM;
		d->n = p;
		d->cap = cap;
	}
	nd = &d->n[d->count++];
	memset(nd, 0, sizeof(*nd));
	nd->type = (uint8_t)type;
	nd->line = line;
	*out = (uint32_t)d->count;
	if (parent) {
		struct knode *p = &d->n[parent - 1];

		if (p->last)
			d->n[p->last - 1].next = *out;
		else
			p->first = *out;
		p->last = *out;
	} else if (!d->root) {
		d->root = *out;
	}
	return 0;
}

static int kparse(const char *text, size_t len, struct kdoc *d, char *msg,
		  size_t msglen)
{
	yaml_parser_t p;
	yaml_event_t ev;
	uint32_t stack[META_KUBECONFIG_MAX_DEPTH];
	int depth = 0, rc = 0, done = 0, docs = 0;

	memset(d, 0, sizeof(*d));
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		uint32_t idx, parent = depth ? stack[depth - 1] : 0, line;

		if (!yaml_parser_parse(&p, &ev)) {
			snprintf(msg, msglen, "line %zu: %s", p.problem_mark.line + 1,
				 p.problem ? p.problem : "YAML syntax error");
			rc = p.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
			break;
		}
		line = (uint32_t)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				done = 1;
			break;
		case YAML_ALIAS_EVENT:
			snprintf(msg, msglen, "line %u: aliases are not supported", line);
			rc = -EINVAL;
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.anchor) {
				snprintf(msg, msglen, "line %u: anchors are not supported", line);
				rc = -EINVAL;
				break;
			}
			if (ev.data.scalar.length > META_KUBECONFIG_MAX_SCALAR ||
			    memchr(ev.data.scalar.value, 0, ev.data.scalar.length)) {
				snprintf(msg, msglen, "line %u: string longer than %u bytes "
					 "or with a NUL byte", line, META_KUBECONFIG_MAX_SCALAR);
				rc = -EINVAL;
				break;
			}
			if ((rc = kadd(d, parent, K_SCALAR, line, &idx)) < 0)
				break;
			{
				struct knode *nd = &d->n[idx - 1];

				if (!(nd->text = malloc(ev.data.scalar.length + 1))) {
					rc = -ENOMEM;
					break;
				}
				memcpy(nd->text, ev.data.scalar.value, ev.data.scalar.length);
				nd->text[ev.data.scalar.length] = '\0';
				nd->len = ev.data.scalar.length;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if ((ev.type == YAML_MAPPING_START_EVENT ?
			     ev.data.mapping_start.anchor : ev.data.sequence_start.anchor)) {
				snprintf(msg, msglen, "line %u: anchors are not supported", line);
				rc = -EINVAL;
				break;
			}
			if (depth >= META_KUBECONFIG_MAX_DEPTH) {
				snprintf(msg, msglen, "line %u: nested deeper than %d", line,
					 META_KUBECONFIG_MAX_DEPTH);
				rc = -EINVAL;
				break;
			}
			if ((rc = kadd(d, parent, ev.type == YAML_MAPPING_START_EVENT ?
				       K_MAP : K_SEQ, line, &idx)) < 0)
				break;
			stack[depth++] = idx;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth)
				depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (rc == -E2BIG)
		snprintf(msg, msglen, "more than %u YAML nodes", META_KUBECONFIG_MAX_NODES);
	else if (rc == -ENOMEM)
		snprintf(msg, msglen, "out of memory");
	if (rc < 0)
		kdoc_free(d);
	return rc == -E2BIG ? -EINVAL : rc;
}

static const struct knode *kn(const struct kdoc *d, uint32_t idx)
{
	return idx ? &d->n[idx - 1] : NULL;
}

/* Value of `key` in mapping `m` (0: none). */
static uint32_t kget(const struct kdoc *d, uint32_t m, const char *key)
{
	const struct knode *map = kn(d, m);

	if (!map || map->type != K_MAP)
		return 0;
	for (uint32_t k = map->first; k; k = kn(d, kn(d, k)->next)->next) {
		const struct knode *kk = kn(d, k);

		if (!kk->next)
			return 0;
		if (kk->type == K_SCALAR && strcmp(kk->text, key) == 0)
			return kk->next;
	}
	return 0;
}

static const char *kstr(const struct kdoc *d, uint32_t m, const char *key)
{
	const struct knode *v = kn(d, kget(d, m, key));

	return v && v->type == K_SCALAR && v->len ? v->text : NULL;
}

/* In sequence `seq` of {name: N, <field>: {...}}, the mapping `field` of
 * the entry named `name`. */
static uint32_t knamed(const struct kdoc *d, uint32_t seq, const char *name,
		       const char *field)
{
	const struct knode *s = kn(d, seq);

	if (!s || s->type != K_SEQ)
		return 0;
	for (uint32_t e = s->first; e; e = kn(d, e)->next) {
		const char *n = kstr(d, e, "name");

		if (n && strcmp(n, name) == 0)
			return kget(d, e, field);
	}
	return 0;
}

static int yaml_true(const char *s)
{
	return s && (!strcmp(s, "true") || !strcmp(s, "True") ||
		     !strcmp(s, "TRUE") || !strcmp(s, "yes"));
}

/* `file` (relative to the kubeconfig) or `data` (base64) into the pair. */
static int take_pem(const char *kpath, const char *file, const char *data,
		    char **out_file, char **out_pem, size_t *out_len,
		    const char *what, char *err, size_t errlen)
{
	int rc;

	if (data) {
		rc = b64_decode(data, strlen(data), out_pem, out_len);
		if (rc == -ENOMEM)
			goto oom;
		if (rc < 0) {
			snprintf(err, errlen, "%s: %s-data: %s", kpath, what,
				 rc == -EFBIG ? "too large" : "not base64");
			return -EINVAL;
		}
		return 0;
	}
	if (file) {
		if (!(*out_file = join_dir(kpath, file)))
			goto oom;
		if (access(*out_file, R_OK) < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s %s: %s", kpath, what, *out_file,
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

int meta_kubeconfig_load(const char *path, struct meta_k8s_conn *out,
			 char *err, size_t errlen)
{
	struct kdoc d;
	char *text = NULL, msg[200];
	const char *cur, *cname, *uname, *server, *s;
	uint32_t ctx, cluster, user;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = meta_read_file(path, META_KUBECONFIG_MAX_BYTES, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 rc == -EFBIG ? "larger than 4 MiB" : strerror(-rc));
		return rc;
	}
	rc = kparse(text, len, &d, msg, sizeof(msg));
	explicit_bzero(text, len);
	free(text);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, msg);
		return rc;
	}
	rc = -EINVAL;
	if (!(cur = kstr(&d, d.root, "current-context"))) {
		snprintf(err, errlen, "%s: no current-context", path);
		goto out;
	}
	if (!(ctx = knamed(&d, kget(&d, d.root, "contexts"), cur, "context"))) {
		snprintf(err, errlen, "%s: context \"%.100s\" not found", path, cur);
		goto out;
	}
	cname = kstr(&d, ctx, "cluster");
	uname = kstr(&d, ctx, "user");
	if (!cname || !(cluster = knamed(&d, kget(&d, d.root, "clusters"), cname,
					 "cluster"))) {
		snprintf(err, errlen, "%s: cluster of context \"%.100s\" not found",
			 path, cur);
		goto out;
	}
	if (!(server = kstr(&d, cluster, "server"))) {
		snprintf(err, errlen, "%s: cluster \"%.100s\" has no server", path, cname);
		goto out;
	}
	if ((rc = set_server(out, server, err, errlen, path)) < 0)
		goto out;
	rc = -ENOTSUP;
	if (kget(&d, cluster, "proxy-url") || kget(&d, cluster, "tls-server-name")) {
		snprintf(err, errlen, "%s: cluster \"%.100s\": proxy-url and "
			 "tls-server-name are not supported", path, cname);
		goto out;
	}
	out->insecure = yaml_true(kstr(&d, cluster, "insecure-skip-tls-verify"));
	if ((rc = take_pem(path, kstr(&d, cluster, "certificate-authority"),
			   kstr(&d, cluster, "certificate-authority-data"),
			   &out->ca_file, &out->ca_pem, &out->ca_pem_len,
			   "certificate-authority", err, errlen)) < 0)
		goto out;
	user = uname ? knamed(&d, kget(&d, d.root, "users"), uname, "user") : 0;
	if (uname && !user) {
		snprintf(err, errlen, "%s: user \"%.100s\" not found", path, uname);
		rc = -EINVAL;
		goto out;
	}
	if (user) {
		rc = -ENOTSUP;
		if (kget(&d, user, "exec") || kget(&d, user, "auth-provider")) {
			snprintf(err, errlen, "%s: user \"%.100s\": exec and auth-provider "
				 "plugins are not supported (use a token, tokenFile or a "
				 "client certificate)", path, uname);
			goto out;
		}
		if (kget(&d, user, "username") || kget(&d, user, "password")) {
			snprintf(err, errlen, "%s: user \"%.100s\": basic auth is not "
				 "supported", path, uname);
			goto out;
		}
		if ((rc = take_pem(path, kstr(&d, user, "client-certificate"),
				   kstr(&d, user, "client-certificate-data"),
				   &out->cert_file, &out->cert_pem, &out->cert_pem_len,
				   "client-certificate", err, errlen)) < 0 ||
		    (rc = take_pem(path, kstr(&d, user, "client-key"),
				   kstr(&d, user, "client-key-data"),
				   &out->key_file, &out->key_pem, &out->key_pem_len,
				   "client-key", err, errlen)) < 0)
			goto out;
		rc = -EINVAL;
		if (!(out->cert_file || out->cert_pem) != !(out->key_file || out->key_pem)) {
			snprintf(err, errlen, "%s: user \"%.100s\": a client certificate "
				 "needs its key and the key its certificate", path, uname);
			goto out;
		}
		if ((s = kstr(&d, user, "token"))) {
			if (strlen(s) > META_TOKEN_MAX ||
			    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789-._~+/=:") != strlen(s)) {
				snprintf(err, errlen, "%s: user \"%.100s\": token has "
					 "characters a bearer token cannot have", path, uname);
				goto out;
			}
			if (!(out->token = strdup(s)))
				goto oom;
		} else if ((s = kstr(&d, user, "tokenFile"))) {
			if (!(out->token_file = join_dir(path, s)))
				goto oom;
		}
	}
	snprintf(out->source, sizeof(out->source), "kubeconfig %.900s (context %.200s)",
		 path, cur);
	rc = 0;
out:
	kdoc_free(&d);
	if (rc < 0)
		meta_k8s_conn_free(out);
	return rc;
oom:
	snprintf(err, errlen, "out of memory");
	rc = -ENOMEM;
	goto out;
}

/* ---- objects ------------------------------------------------------------------ */

/* pod-template-hash values are rand.SafeEncodeString(): this alphabet. */
static int safe_encoded(const char *s, size_t n)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

	for (size_t i = 0; i < n; i++)
		if (!strchr(alphabet, s[i]))
			return 0;
	return n > 0;
}

/*
 * A Deployment names its ReplicaSets "<deployment>-<pod-template-hash>" and
 * labels their pods pod-template-hash=<hash>.  With the label, the suffix
 * is stripped when it matches exactly.  Without it (a pod created before
 * the label existed, or a label removed by hand), a last "-" segment of 6
 * to 10 characters, all from the hash alphabet, is taken for a hash: short
 * suffixes ("web-v2") are not, since a hand-made ReplicaSet may be named
 * so.  Anything else is its own workload.
 */
void meta_k8s_owner_resolve(const char *kind, const char *name,
			    const char *template_hash, char *wkind,
			    size_t wkind_cap, char *wname, size_t wname_cap)
{
	size_t n = strlen(name), hl;
	const char *dash;

	scopy(wkind, wkind_cap, kind);
	scopy(wname, wname_cap, name);
	if (strcmp(kind, "ReplicaSet") != 0 || !(dash = strrchr(name, '-')) ||
	    dash == name)
		return;
	if (template_hash && *template_hash) {
		hl = strlen(template_hash);
		if (hl + 1 >= n || name[n - hl - 1] != '-' ||
		    strcmp(name + n - hl, template_hash) != 0)
			return;
	} else {
		hl = strlen(dash + 1);
		if (hl < 6 || hl > 10 || !safe_encoded(dash + 1, hl))
			return;
	}
	scopy(wkind, wkind_cap, "Deployment");
	if (n - hl - 1 < wname_cap)
		wname[n - hl - 1] = '\0';
}

static void bump(uint8_t *dropped)
{
	if (*dropped < UINT8_MAX)
		(*dropped)++;
}

/* "containerd://<id>" -> runtime name and id.  0 or -EINVAL. */
static int split_cid(const char *s, const char **runtime, char id[ATTRIB_CID_LEN + 1])
{
	static const struct { const char *prefix, *name; } rts[] = {
		{"containerd://", "containerd"},
		{"cri-o://", "cri-o"},
		{"docker://", "docker"},
		{"podman://", "podman"},
	};
	const char *sep = strstr(s, "://");

	*runtime = NULL;
	if (!sep || !attrib_cid_valid(sep + 3, strlen(sep + 3)))
		return -EINVAL;
	for (size_t i = 0; i < EW_ARRAY_LEN(rts); i++)
		if (strncmp(s, rts[i].prefix, strlen(rts[i].prefix)) == 0)
			*runtime = rts[i].name;
	memcpy(id, sep + 3, ATTRIB_CID_LEN + 1);
	return 0;
}

static void add_statuses(const json_t *arr, struct meta_pod *out)
{
	size_t i;
	json_t *st;

	json_array_foreach(arr, i, st) {
		char raw[128], id[ATTRIB_CID_LEN + 1];
		const char *rt;
		int dup = 0;

		if (meta_json_copy(st, "containerID", raw, sizeof(raw)) < 0)
			continue;	/* not started yet */
		if (split_cid(raw, &rt, id) < 0) {
			bump(&out->dropped);
			continue;
		}
		for (size_t k = 0; k < out->n_containers; k++)
			dup |= strcmp(out->containers[k], id) == 0;
		if (dup)
			continue;
		if (out->n_containers >= ATTRIB_MAX_CONTAINERS) {
			bump(&out->dropped);
			continue;
		}
		memcpy(out->containers[out->n_containers++], id, sizeof(id));
		if (rt && !out->runtime[0])
			scopy(out->runtime, sizeof(out->runtime), rt);
	}
}

static void add_ports(const json_t *containers, struct meta_pod *out)
{
	size_t i, j;
	json_t *c, *p;

	json_array_foreach(containers, i, c) {
		json_array_foreach(meta_json_arr(c, "ports"), j, p) {
			char name[META_PORT_NAME_MAX], proto[8];
			long long port = meta_json_int(p, "containerPort", 0);
			struct meta_port *mp;
			int prc;

			if (meta_json_copy(p, "name", name, sizeof(name)) == -ENOENT)
				continue;	/* only named ports matter */
			prc = meta_json_copy(p, "protocol", proto, sizeof(proto));
			if (prc == -ENOENT)
				strcpy(proto, "TCP");	/* the API's default */
			if (!name[0] || port < 1 || port > 65535 || (prc < 0 && prc != -ENOENT)) {
				bump(&out->dropped);
				continue;
			}
			if (out->n_ports >= META_MAX_PORTS) {
				bump(&out->dropped);
				continue;
			}
			mp = &out->ports[out->n_ports];
			if (!strcmp(proto, "TCP"))
				mp->proto = 6;
			else if (!strcmp(proto, "UDP"))
				mp->proto = 17;
			else if (!strcmp(proto, "SCTP"))
				mp->proto = 132;
			else {
				bump(&out->dropped);
				continue;
			}
			memcpy(mp->name, name, sizeof(name));
			mp->port = (uint16_t)port;
			out->n_ports++;
		}
	}
}

int meta_k8s_pod_from_json(const json_t *pod, struct meta_pod *out, char *err,
			   size_t errlen)
{
	const json_t *md = meta_json_obj(pod, "metadata");
	const json_t *spec = meta_json_obj(pod, "spec");
	const json_t *status = meta_json_obj(pod, "status");
	json_t *refs, *ref = NULL, *v;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (meta_json_copy(md, "namespace", out->namespace, sizeof(out->namespace)) < 0 ||
	    !attrib_namespace_valid(out->namespace)) {
		snprintf(err, errlen, "pod without a valid metadata.namespace");
		return -EINVAL;
	}
	if (meta_json_copy(md, "name", out->name, sizeof(out->name)) < 0 ||
	    !attrib_name_valid(out->name)) {
		snprintf(err, errlen, "pod in %s without a valid metadata.name",
			 out->namespace);
		return -EINVAL;
	}
	if (meta_json_copy(md, "uid", out->uid, sizeof(out->uid)) < 0 ||
	    !attrib_uid_valid(out->uid, strlen(out->uid))) {
		snprintf(err, errlen, "pod %s/%s without a valid metadata.uid",
			 out->namespace, out->name);
		return -EINVAL;
	}
	for (unsigned r = meta_json_labels(meta_json_obj(md, "labels"), &out->labels);
	     r; r--)
		bump(&out->dropped);

	/* The controller reference, else the first. */
	refs = meta_json_arr(md, "ownerReferences");
	json_array_foreach(refs, i, v) {
		if (!json_is_object(v))
			continue;
		if (!ref || meta_json_true(v, "controller"))
			ref = v;
		if (meta_json_true(v, "controller"))
			break;
	}
	if (ref && meta_json_copy(ref, "kind", out->owner_kind, sizeof(out->owner_kind)) == 0 &&
	    meta_json_copy(ref, "name", out->owner_name, sizeof(out->owner_name)) == 0)
		meta_k8s_owner_resolve(out->owner_kind, out->owner_name,
				       attrib_labels_get(&out->labels, "pod-template-hash"),
				       out->workload_kind, sizeof(out->workload_kind),
				       out->workload_name, sizeof(out->workload_name));
	else
		out->owner_kind[0] = out->owner_name[0] = '\0';

	meta_json_copy(spec, "nodeName", out->node, sizeof(out->node));
	out->host_network = (uint8_t)meta_json_true(spec, "hostNetwork");
	add_ports(meta_json_arr(spec, "containers"), out);
	add_ports(meta_json_arr(spec, "initContainers"), out);

	meta_json_copy(status, "phase", out->phase, sizeof(out->phase));
	out->terminal = !strcmp(out->phase, "Succeeded") || !strcmp(out->phase, "Failed");
	if (!out->host_network && !out->terminal) {
		char ip[EW_IPSTR_MAX + 8];

		json_array_foreach(meta_json_arr(status, "podIPs"), i, v) {
			if (meta_json_copy(v, "ip", ip, sizeof(ip)) < 0 ||
			    meta_add_ip(out->ips, &out->n_ips, ATTRIB_MAX_IPS, ip) < 0)
				bump(&out->dropped);
		}
		if (meta_json_copy(status, "podIP", ip, sizeof(ip)) == 0 &&
		    meta_add_ip(out->ips, &out->n_ips, ATTRIB_MAX_IPS, ip) < 0)
			bump(&out->dropped);
	}
	add_statuses(meta_json_arr(status, "initContainerStatuses"), out);
	add_statuses(meta_json_arr(status, "containerStatuses"), out);
	add_statuses(meta_json_arr(status, "ephemeralContainerStatuses"), out);
	return 0;
}

int meta_k8s_ns_from_json(const json_t *ns, struct meta_namespace *out,
			  char *err, size_t errlen)
{
	const json_t *md = meta_json_obj(ns, "metadata");

	memset(out, 0, sizeof(*out));
	if (meta_json_copy(md, "name", out->name, sizeof(out->name)) < 0 ||
	    !attrib_namespace_valid(out->name)) {
		snprintf(err, errlen, "namespace without a valid metadata.name");
		return -EINVAL;
	}
	meta_json_labels(meta_json_obj(md, "labels"), &out->labels);
	return 0;
}

/* ---- the source ------------------------------------------------------------------ */

enum res { RES_PODS = 0, RES_NS = 1 };

struct watch {
	struct meta_k8s *k;
	enum res res;
	struct meta_xfer x;
	char rv[META_RV_MAX];
	int active;			/* x is running */
	int enabled;			/* namespaces: 0 while forbidden */
	uint64_t restart_at;		/* monotonic; when inactive */
	uint64_t events;		/* in the current stream */
	int gone;			/* an ERROR event with code 410 */
};

struct meta_k8s {
	struct attrib *a;
	struct meta_config cfg;		/* strings not kept */
	char node[ATTRIB_NAME_MAX];
	char node_esc[ATTRIB_NAME_MAX * 3];
	struct meta_k8s_conn conn;
	struct meta_http *h;
	struct meta_counters c;
	pthread_t thread;
	int started;
	uint64_t token_read;		/* monotonic; 0: never */
	uint32_t backoff;		/* ms; 0 after a success */
	uint64_t list_at;		/* monotonic: next re-list not before */
	int need_list;
	int said_ns_forbidden;
	uint64_t n_pods, n_ns;
	struct watch w[2];
	struct meta_pod pod;		/* scratch, thread only */
	struct meta_namespace ns;
};

static const char *res_name(enum res r)
{
	return r == RES_PODS ? "pods" : "namespaces";
}

static void observe(struct meta_k8s *k, int kind, int applied,
		    const struct meta_pod *p, const struct meta_namespace *ns)
{
	struct meta_event ev = {
		.kind = (uint8_t)kind,
		.source = ATTRIB_SRC_KUBE,
		.applied = applied,
		.pod = p,
		.ns = ns,
	};

	if (k->cfg.observe)
		k->cfg.observe(k->cfg.observe_ctx, &ev);
}

static void set_state(struct meta_k8s *k, int state, const char *why)
{
	int prev;

	pthread_mutex_lock(&k->c.mu);
	prev = k->c.s.state;
	k->c.s.state = (uint8_t)state;
	pthread_mutex_unlock(&k->c.mu);
	if (state == META_IN_USE && prev != META_IN_USE)
		log_info("metadata: kubernetes API %s: in use (%" PRIu64 " pods on "
			 "node %s)", k->conn.server, k->n_pods, k->node);
	else if (state == META_FAILING && prev != META_FAILING)
		log_warnx("metadata: kubernetes API %s: failing (%s); retrying with "
			  "back-off", k->conn.server, why);
	else if (state == META_FAILING)
		log_debug("metadata: kubernetes API %s: %s", k->conn.server, why);
}

static int stats_state(struct meta_k8s *k)
{
	int st;

	pthread_mutex_lock(&k->c.mu);
	st = k->c.s.state;
	pthread_mutex_unlock(&k->c.mu);
	return st;
}

static void failing(struct meta_k8s *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void failing(struct meta_k8s *k, const char *fmt, ...)
{
	char why[META_ERR_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	k->backoff = meta_backoff_next(k->backoff, k->cfg.backoff_min_ms,
				       k->cfg.backoff_max_ms);
	set_state(k, META_FAILING, why);
}

/* Re-read the token file when it is due; a failure keeps the old one. */
static void refresh_token(struct meta_k8s *k)
{
	uint64_t now = ew_mono_ns();
	char *t;
	int rc;

	if (!k->conn.token_file || (k->token_read && now - k->token_read < TOKEN_REFRESH_NS))
		return;
	k->token_read = now;
	rc = read_token(k->conn.token_file, &t);
	if (rc < 0) {
		meta_count_error(&k->c, "token %s: %s", k->conn.token_file, strerror(-rc));
		log_warnx("metadata: kubernetes API: token %s: %s", k->conn.token_file,
			  strerror(-rc));
		return;
	}
	if (meta_http_set_token(k->h, t) < 0)
		meta_count_error(&k->c, "token %s: unusable", k->conn.token_file);
	explicit_bzero(t, strlen(t));
	free(t);
}

static void apply_pod(struct meta_k8s *k, const struct meta_pod *p, int deleted)
{
	struct attrib_kv kv[ATTRIB_MAX_LABELS];
	const char *cids[ATTRIB_MAX_CONTAINERS];
	int rc;

	if (deleted) {
		rc = attrib_remove_pod(k->a, ATTRIB_SRC_KUBE, p->uid);
		observe(k, META_EV_POD_GONE, rc, p, NULL);
		return;
	}
	for (size_t i = 0; i < p->n_containers; i++)
		cids[i] = p->containers[i];
	struct attrib_pod_meta m = {
		.uid = p->uid,
		.namespace = p->namespace,
		.name = p->name,
		.labels = kv,
		.n_labels = meta_labels_kv(&p->labels, kv, EW_ARRAY_LEN(kv)),
		.ips = (const uint8_t (*)[16])p->ips,
		.n_ips = p->n_ips,
		.container_ids = cids,
		.n_container_ids = p->n_containers,
		.runtime = p->runtime[0] ? p->runtime : NULL,
	};
	rc = attrib_set_pod(k->a, ATTRIB_SRC_KUBE, &m);
	if (rc < 0) {
		META_COUNT(&k->c, rejected, 1);
		log_debug("metadata: kubernetes API: pod %s/%s not applied: %s",
			  p->namespace, p->name, strerror(-rc));
	}
	observe(k, META_EV_POD, rc, p, NULL);
}

static void apply_ns(struct meta_k8s *k, const struct meta_namespace *ns,
		     int deleted)
{
	struct attrib_kv kv[ATTRIB_MAX_LABELS];
	int rc = 0;

	if (!deleted) {
		rc = attrib_set_namespace(k->a, ATTRIB_SRC_KUBE, ns->name, kv,
					  meta_labels_kv(&ns->labels, kv, EW_ARRAY_LEN(kv)));
		if (rc < 0)
			META_COUNT(&k->c, rejected, 1);
	}
	observe(k, deleted ? META_EV_NAMESPACE_GONE : META_EV_NAMESPACE, rc, NULL, ns);
}

/* One object of a list or an event; -EINVAL counted as malformed. */
static int apply_object(struct meta_k8s *k, enum res r, const json_t *obj,
			int deleted)
{
	char err[160];
	int rc;

	if (r == RES_PODS)
		rc = meta_k8s_pod_from_json(obj, &k->pod, err, sizeof(err));
	else
		rc = meta_k8s_ns_from_json(obj, &k->ns, err, sizeof(err));
	if (rc < 0) {
		META_COUNT(&k->c, rejected, 1);
		log_debug("metadata: kubernetes API: %s", err);
		return rc;
	}
	if (r == RES_PODS)
		apply_pod(k, &k->pod, deleted);
	else
		apply_ns(k, &k->ns, deleted);
	return 0;
}

static int copy_rv(const json_t *obj, char rv[META_RV_MAX])
{
	int rc = meta_json_copy(meta_json_obj(obj, "metadata"), "resourceVersion",
				rv, META_RV_MAX);

	return rc < 0 || !rv[0] ? -EINVAL : 0;
}

/* The collection path with `?` or `&` ready for more parameters. */
static void base_path(struct meta_k8s *k, enum res r, char *out, size_t cap)
{
	if (r == RES_PODS)
		snprintf(out, cap, "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&",
			 k->node_esc);
	else
		snprintf(out, cap, "/api/v1/namespaces?");
}

/*
 * List a collection page by page and apply every item.  0 with `rv` set;
 * -ESTALE on 410 (continue token expired), -EACCES on 403, -ECANCELED, or
 * another -errno after counting it.
 */
static int list_all(struct meta_k8s *k, enum res r, char rv[META_RV_MAX],
		    uint64_t *count)
{
	char path[META_URL_MAX], base[1024], cont[CONTINUE_MAX + 1] = "";
	char cesc[CONTINUE_MAX * 3 + 1], err[200];
	struct meta_xfer x;
	int rc = 0, n;

	memset(&x, 0, sizeof(x));
	*count = 0;
	base_path(k, r, base, sizeof(base));
	for (unsigned page = 0;; page++) {
		json_t *doc, *items, *item;
		size_t i;

		if (page >= META_MAX_PAGES) {
			meta_count_error(&k->c, "list %s: more than %d pages", res_name(r),
					 META_MAX_PAGES);
			rc = -E2BIG;
			break;
		}
		refresh_token(k);
		if (meta_url_escape(cesc, sizeof(cesc), cont) < 0) {
			rc = -E2BIG;
			break;
		}
		n = snprintf(path, sizeof(path), "%slimit=%u%s%s", base,
			     k->cfg.list_page, cont[0] ? "&continue=" : "", cesc);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			meta_count_error(&k->c, "list %s: URL too long", res_name(r));
			rc = -E2BIG;
			break;
		}
		rc = meta_http_get(k->h, &x, path, k->cfg.max_list_bytes,
				   k->cfg.request_timeout_ms);
		meta_count_xfer(&k->c, &x);
		if (rc == -ECANCELED)
			break;
		if (rc < 0) {
			failing(k, "list %s: %s", res_name(r), x.error);
			break;
		}
		if (x.status == 410) {
			META_COUNT(&k->c, gone, 1);
			failing(k, "list %s: 410 Gone (continue token expired)", res_name(r));
			rc = -ESTALE;
			break;
		}
		if (x.status == 403 && r == RES_NS) {
			rc = -EACCES;
			break;
		}
		if (x.status < 200 || x.status > 299) {
			meta_body_message(&x.body, err, sizeof(err));
			failing(k, "list %s: HTTP %ld%s%s", res_name(r), x.status,
				err[0] ? ": " : "", err);
			rc = -EIO;
			break;
		}
		rc = meta_json_parse(x.body.data, x.body.len, &doc, err, sizeof(err));
		if (rc == 0 && !(items = meta_json_arr(doc, "items"))) {
			snprintf(err, sizeof(err), "no items array");
			json_decref(doc);
			rc = -EINVAL;
		}
		if (rc == 0 && copy_rv(doc, rv) < 0) {
			snprintf(err, sizeof(err), "no metadata.resourceVersion");
			json_decref(doc);
			rc = -EINVAL;
		}
		if (rc < 0) {
			META_COUNT(&k->c, malformed, 1);
			meta_count_error(&k->c, "list %s: %s", res_name(r), err);
			failing(k, "list %s: malformed answer: %s", res_name(r), err);
			rc = -EBADMSG;
			break;
		}
		json_array_foreach(items, i, item)
			if (apply_object(k, r, item, 0) == 0)
				(*count)++;
		rc = meta_json_copy(meta_json_obj(doc, "metadata"), "continue", cont,
				    sizeof(cont));
		json_decref(doc);
		if (rc == -E2BIG || rc == -EINVAL) {
			META_COUNT(&k->c, malformed, 1);
			failing(k, "list %s: unusable continue token", res_name(r));
			rc = -EBADMSG;
			break;
		}
		rc = 0;
		if (!cont[0])
			break;
	}
	meta_xfer_free(&x);
	return rc;
}

static void stop_watches(struct meta_k8s *k)
{
	for (int i = 0; i < 2; i++) {
		if (k->w[i].active)
			meta_xfer_free(&k->w[i].x);
		k->w[i].active = 0;
	}
}

/* Namespaces, then pods, in one sync bracket.  0 or -errno. */
static int relist(struct meta_k8s *k)
{
	char rv_pods[META_RV_MAX], rv_ns[META_RV_MAX] = "";
	uint64_t n_pods = 0, n_ns = 0;
	int rc;

	stop_watches(k);
	attrib_sync_begin(k->a, ATTRIB_SRC_KUBE);
	observe(k, META_EV_SYNC_BEGIN, 0, NULL, NULL);
	rc = list_all(k, RES_NS, rv_ns, &n_ns);
	if (rc == -EACCES) {
		if (!k->said_ns_forbidden)
			log_warnx("metadata: kubernetes API %s: namespaces not readable "
				  "(403 Forbidden): namespaceSelectors see only "
				  "kubernetes.io/metadata.name", k->conn.server);
		k->said_ns_forbidden = 1;
		k->w[RES_NS].enabled = 0;
		rv_ns[0] = '\0';
	} else if (rc < 0) {
		return rc;
	} else {
		k->w[RES_NS].enabled = 1;
		k->said_ns_forbidden = 0;
	}
	if ((rc = list_all(k, RES_PODS, rv_pods, &n_pods)) < 0)
		return rc;
	attrib_sync_end(k->a, ATTRIB_SRC_KUBE);
	observe(k, META_EV_SYNC_END, 0, NULL, NULL);
	memcpy(k->w[RES_PODS].rv, rv_pods, sizeof(rv_pods));
	memcpy(k->w[RES_NS].rv, rv_ns, sizeof(rv_ns));
	k->n_pods = n_pods;
	k->n_ns = n_ns;
	pthread_mutex_lock(&k->c.mu);
	k->c.s.lists++;
	k->c.s.objects = n_pods;
	k->c.s.namespaces = n_ns;
	pthread_mutex_unlock(&k->c.mu);
	/* The back-off is not reset here but by a watch that proves healthy:
	 * a list that works followed by a watch that fails at once must not
	 * become a list every backoff_min_ms. */
	set_state(k, META_IN_USE, NULL);
	return 0;
}

/*
 * A watch that has been open with a 2xx status for backoff_max_ms is
 * healthy even if nothing happened on it: the back-off starts over and a
 * failing source is in use again.  (A stream that errs right after opening
 * never gets there, so the state does not flap.)
 */
static uint64_t check_health(struct meta_k8s *k, struct watch *w, uint64_t now)
{
	uint64_t at = w->x.started_ns + (uint64_t)k->cfg.backoff_max_ms * 1000000;
	long st;

	if (!w->active || (!k->backoff && stats_state(k) == META_IN_USE))
		return UINT64_MAX;
	st = meta_xfer_status(&w->x);
	if (st < 200 || st > 299)
		return now + 100000000ull;	/* look again in 100 ms */
	if (now < at)
		return at;
	k->backoff = 0;
	set_state(k, META_IN_USE, NULL);
	return UINT64_MAX;
}

/* One line of a watch stream. */
static int on_watch_line(void *ctx, char *line, size_t len)
{
	struct watch *w = ctx;
	struct meta_k8s *k = w->k;
	char type[16], rv[META_RV_MAX], err[200];
	json_t *ev, *obj;
	int rc = 0;

	if (meta_json_parse(line, len, &ev, err, sizeof(err)) < 0) {
		META_COUNT(&k->c, malformed, 1);
		snprintf(w->x.error, sizeof(w->x.error), "malformed event: %s", err);
		return -EBADMSG;
	}
	obj = meta_json_obj(ev, "object");
	if (meta_json_copy(ev, "type", type, sizeof(type)) < 0 || !obj) {
		rc = -EBADMSG;
		snprintf(err, sizeof(err), "event without type or object");
		goto malformed;
	}
	if (!strcmp(type, "ERROR")) {
		/* A metav1.Status; 410 means our resourceVersion is too old. */
		if (meta_json_int(obj, "code", 0) == 410) {
			w->gone = 1;
			rc = 1;
		} else {
			char msg[160] = "";

			meta_json_copy(obj, "message", msg, sizeof(msg));
			snprintf(w->x.error, sizeof(w->x.error), "ERROR event %lld: %s",
				 meta_json_int(obj, "code", 0), msg);
			rc = -EPROTO;
		}
		json_decref(ev);
		return rc;
	}
	if (copy_rv(obj, rv) < 0) {
		rc = -EBADMSG;
		snprintf(err, sizeof(err), "%s event without metadata.resourceVersion", type);
		goto malformed;
	}
	if (!strcmp(type, "BOOKMARK")) {
		META_COUNT(&k->c, bookmarks, 1);
	} else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") ||
		   !strcmp(type, "DELETED")) {
		int del = type[0] == 'D';

		if (apply_object(k, w->res, obj, del) == 0) {
			uint64_t *n = w->res == RES_PODS ? &k->n_pods : &k->n_ns;

			if (type[0] == 'A')
				(*n)++;
			else if (del && *n)
				(*n)--;
		}
		pthread_mutex_lock(&k->c.mu);
		k->c.s.events++;
		k->c.s.objects = k->n_pods;
		k->c.s.namespaces = k->n_ns;
		pthread_mutex_unlock(&k->c.mu);
		w->events++;
	} else {
		rc = -EBADMSG;
		snprintf(err, sizeof(err), "unknown event type %s", type);
		goto malformed;
	}
	memcpy(w->rv, rv, sizeof(rv));
	json_decref(ev);
	return 0;
malformed:
	META_COUNT(&k->c, malformed, 1);
	snprintf(w->x.error, sizeof(w->x.error), "malformed event: %s", err);
	json_decref(ev);
	return rc;
}

static void watch_start(struct meta_k8s *k, struct watch *w)
{
	char path[META_URL_MAX], base[1024], rv[META_RV_MAX * 3];
	int n;

	refresh_token(k);
	base_path(k, w->res, base, sizeof(base));
	meta_url_escape(rv, sizeof(rv), w->rv);
	n = snprintf(path, sizeof(path),
		     "%swatch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u",
		     base, rv, k->cfg.watch_timeout_s);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		/* Cannot happen with the caps on node names and versions. */
		failing(k, "watch %s: URL too long", res_name(w->res));
		w->restart_at = ew_mono_ns() + (uint64_t)k->backoff * 1000000;
		return;
	}
	w->events = 0;
	w->gone = 0;
	w->x.on_line = on_watch_line;
	w->x.ctx = w;
	/* The server ends the watch after timeoutSeconds; the client gives
	 * it a margin before calling the connection dead. */
	if (meta_xfer_start(k->h, &w->x, path, k->cfg.max_object_bytes,
			    (k->cfg.watch_timeout_s + 30) * 1000) < 0) {
		meta_count_xfer(&k->c, &w->x);
		failing(k, "watch %s: %s", res_name(w->res), w->x.error);
		w->restart_at = ew_mono_ns() + (uint64_t)k->backoff * 1000000;
		return;
	}
	w->active = 1;
	META_COUNT(&k->c, watches, 1);
}

/* A watch stream finished: decide what comes next. */
static void watch_done(struct meta_k8s *k, struct watch *w)
{
	struct meta_xfer *x = &w->x;
	uint64_t now = ew_mono_ns();
	char msg[200];

	w->active = 0;
	meta_count_xfer(&k->c, x);
	if (w->gone || (x->result == 0 && x->status == 410)) {
		META_COUNT(&k->c, gone, 1);
		log_debug("metadata: kubernetes API: watch %s: 410 Gone at "
			  "resourceVersion %s: listing again", res_name(w->res), w->rv);
		k->need_list = 1;
		k->list_at = now;
	} else if (x->result == -EFBIG) {
		failing(k, "watch %s: %s", res_name(w->res), x->error);
		k->need_list = 1;
		k->list_at = now + (uint64_t)k->backoff * 1000000;
	} else if (x->result < 0) {
		failing(k, "watch %s: %s", res_name(w->res), x->error);
		w->restart_at = now + (uint64_t)k->backoff * 1000000;
	} else if (x->status < 200 || x->status > 299) {
		meta_body_message(&x->body, msg, sizeof(msg));
		failing(k, "watch %s: HTTP %ld%s%s", res_name(w->res), x->status,
			msg[0] ? ": " : "", msg);
		w->restart_at = now + (uint64_t)k->backoff * 1000000;
	} else if (!w->events && now - x->started_ns < 1000000000ull) {
		/* Closed at once with nothing in it: do not spin. */
		k->backoff = meta_backoff_next(k->backoff, k->cfg.backoff_min_ms,
					       k->cfg.backoff_max_ms);
		w->restart_at = now + (uint64_t)k->backoff * 1000000;
	} else {
		/* timeoutSeconds ran out, or the server closed between events. */
		if (w->events)
			k->backoff = 0;
		set_state(k, META_IN_USE, NULL);
		w->restart_at = now;
	}
	meta_xfer_free(x);
}

static void *k8s_main(void *arg)
{
	struct meta_k8s *k = arg;

	meta_thread_init("ew-meta-k8s");
	k->need_list = 1;
	k->list_at = 0;
	while (!meta_http_stopping(k->h)) {
		uint64_t now = ew_mono_ns(), next = now + 1000000000ull;
		int rc;

		if (k->need_list) {
			stop_watches(k);
			if (now < k->list_at) {
				uint32_t ms = (uint32_t)((k->list_at - now) / 1000000 + 1);

				if (meta_http_pump(k->h, ms) < 0)
					break;
				continue;
			}
			rc = relist(k);
			if (rc == -ECANCELED)
				break;
			if (rc < 0) {
				k->list_at = ew_mono_ns() + (uint64_t)k->backoff * 1000000;
				continue;
			}
			k->need_list = 0;
			k->w[RES_PODS].restart_at = k->w[RES_NS].restart_at = 0;
		}
		for (int i = 0; i < 2; i++) {
			struct watch *w = &k->w[i];

			if (w->active || (i == RES_NS && !w->enabled))
				continue;
			if (w->restart_at <= now)
				watch_start(k, w);
			if (!w->active && w->restart_at < next)
				next = w->restart_at;
		}
		now = ew_mono_ns();
		for (int i = 0; i < 2; i++) {
			uint64_t at = check_health(k, &k->w[i], now);

			if (at < next)
				next = at;
		}
		rc = meta_http_pump(k->h, next > now ? (uint32_t)((next - now) / 1000000 + 1) : 0);
		if (rc < 0)
			break;
		for (int i = 0; i < 2 && !k->need_list; i++)
			if (k->w[i].active && k->w[i].x.done)
				watch_done(k, &k->w[i]);
	}
	stop_watches(k);
	return NULL;
}

/* ---- open / close ------------------------------------------------------------------ */

/* The first file of a colon-separated $KUBECONFIG that exists. */
static int kubeconfig_from_env(char *out, size_t cap)
{
	const char *env = getenv("KUBECONFIG"), *p, *end;

	if (!env)
		return 0;
	for (p = env; *p; p = *end ? end + 1 : end) {
		size_t n;

		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if (!n || n >= cap)
			continue;
		memcpy(out, p, n);
		out[n] = '\0';
		if (access(out, F_OK) == 0)
			return 1;
	}
	return 0;
}

static int node_name(const struct meta_config *cfg, char *out, size_t cap,
		     char *err, size_t errlen)
{
	const char *n = cfg->node_name ? cfg->node_name : getenv("NODE_NAME");
	char host[256];

	if (!n || !*n) {
		if (gethostname(host, sizeof(host)) < 0) {
			snprintf(err, errlen, "no node name: set --node-name or NODE_NAME");
			return -EINVAL;
		}
		host[sizeof(host) - 1] = '\0';
		/* The kubelet registers the lowercased hostname by default. */
		for (char *c = host; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		n = host;
	}
	if (strlen(n) >= cap || !attrib_name_valid(n)) {
		snprintf(err, errlen, "node name \"%.100s\" is not a valid node name", n);
		return -EINVAL;
	}
	scopy(out, cap, n);
	return 0;
}

int meta_k8s_open(const struct meta_config *cfg, struct attrib *a,
		  struct meta_k8s **out, char *err, size_t errlen)
{
	struct meta_http_config hc;
	char kpath[PATH_MAX], why[300];
	struct meta_k8s *k;
	int rc;

	*out = NULL;
	if (cfg->kube_off || (cfg->kubeconfig && !strcmp(cfg->kubeconfig, "none"))) {
		snprintf(err, errlen, "turned off");
		return -ENOENT;
	}
	if (!(k = calloc(1, sizeof(*k)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	k->a = a;
	k->cfg = *cfg;
	k->cfg.kubeconfig = k->cfg.node_name = k->cfg.sa_dir = k->cfg.docker_socket = NULL;
	if (cfg->kubeconfig) {
		rc = meta_kubeconfig_load(cfg->kubeconfig, &k->conn, err, errlen);
	} else if (kubeconfig_from_env(kpath, sizeof(kpath))) {
		rc = meta_kubeconfig_load(kpath, &k->conn, err, errlen);
	} else {
		rc = meta_k8s_incluster(cfg->sa_dir, &k->conn, why, sizeof(why));
		if (rc == -ENOENT)
			snprintf(err, errlen, "not configured (no service account, no "
				 "kubeconfig)");
		else if (rc < 0)
			snprintf(err, errlen, "%s", why);
	}
	if (rc < 0)
		goto fail;
	if ((rc = node_name(cfg, k->node, sizeof(k->node), err, errlen)) < 0)
		goto fail;
	meta_url_escape(k->node_esc, sizeof(k->node_esc), k->node);

	memset(&hc, 0, sizeof(hc));
	hc.base_url = k->conn.server;
	hc.ca_file = k->conn.ca_file;
	hc.ca_pem = k->conn.ca_pem;
	hc.ca_pem_len = k->conn.ca_pem_len;
	hc.cert_file = k->conn.cert_file;
	hc.key_file = k->conn.key_file;
	hc.cert_pem = k->conn.cert_pem;
	hc.cert_pem_len = k->conn.cert_pem_len;
	hc.key_pem = k->conn.key_pem;
	hc.key_pem_len = k->conn.key_pem_len;
	hc.insecure = k->conn.insecure;
	hc.connect_timeout_ms = cfg->connect_timeout_ms;
	if (!(k->h = meta_http_open(&hc, err, errlen))) {
		rc = -EINVAL;
		goto fail;
	}
	if (k->conn.token && (rc = meta_http_set_token(k->h, k->conn.token)) < 0) {
		snprintf(err, errlen, "%s: unusable token", k->conn.source);
		goto fail;
	}
	if (k->conn.token_file) {
		char *t;

		if ((rc = read_token(k->conn.token_file, &t)) < 0) {
			snprintf(err, errlen, "token %s: %s", k->conn.token_file,
				 rc == -ENODATA ? "empty" : strerror(-rc));
			goto fail;
		}
		rc = meta_http_set_token(k->h, t);
		explicit_bzero(t, strlen(t));
		free(t);
		if (rc < 0) {
			snprintf(err, errlen, "token %s: unusable", k->conn.token_file);
			goto fail;
		}
		k->token_read = ew_mono_ns();
	}
	if (k->conn.insecure)
		log_warnx("metadata: kubernetes API %s: insecure-skip-tls-verify: the "
			  "server is not authenticated", k->conn.server);
	meta_counters_init(&k->c, k->conn.server);
	for (int i = 0; i < 2; i++) {
		k->w[i].k = k;
		k->w[i].res = (enum res)i;
		k->w[i].enabled = 1;
	}
	log_info("metadata: kubernetes API %s: %s, node %s", k->conn.server,
		 k->conn.source, k->node);
	if ((rc = -pthread_create(&k->thread, NULL, k8s_main, k)) < 0) {
		snprintf(err, errlen, "thread: %s", strerror(-rc));
		meta_counters_destroy(&k->c);
		goto fail;
	}
	k->started = 1;
	*out = k;
	return 0;
fail:
	meta_http_close(k->h);
	meta_k8s_conn_free(&k->conn);
	free(k);
	return rc;
}

void meta_k8s_close(struct meta_k8s *k)
{
	if (!k)
		return;
	if (k->started) {
		meta_http_stop(k->h);
		pthread_join(k->thread, NULL);
		meta_counters_destroy(&k->c);
	}
	for (int i = 0; i < 2; i++)
		meta_xfer_free(&k->w[i].x);
	meta_http_close(k->h);
	meta_k8s_conn_free(&k->conn);
	free(k);
}

void meta_k8s_stats(struct meta_k8s *k, struct meta_source_stats *out)
{
	meta_counters_get(&k->c, out);
}
