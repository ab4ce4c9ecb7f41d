/*
 * meta_http.c - the HTTP and JSON plumbing the metadata sources share.
 *
 * One libcurl multi handle per client.  Every request is an easy handle on
 * it, so a source can keep two watch streams open and run a GET next to
 * them on one thread, and curl_multi_poll() is the only place the thread
 * sleeps: meta_http_stop() sets a flag and calls curl_multi_wakeup(), so a
 * stop never waits for a silent stream or a back-off delay to run out.
 *
 * Caps.  A whole body grows in an ew_buf with a hard maximum; a stream is
 * cut into lines in another, whose maximum is the longest line (one object)
 * accepted.  Past either the write callback returns short, libcurl aborts
 * the transfer, and the result is -EFBIG: the memory a server can make us
 * use is the cap, whatever it sends.  Compressed answers are capped after
 * decompression (the callback sees decoded bytes).  Non-2xx bodies are kept
 * only up to META_ERROR_BODY_MAX, for the message.
 *
 * Not done here: redirects (never followed), protocols other than http and
 * https, and retries (the sources decide, with back-off).  Proxies come
 * from the environment as for any libcurl program, except over a unix
 * socket.
 *
 * JSON is parsed by jansson, after a linear pre-scan that refuses nesting
 * deeper than META_JSON_MAX_DEPTH (jansson's own limit is 2048 frames of
 * recursion); duplicate keys and NUL characters are refused by jansson's
 * flags.  Strings are copied out only into fixed buffers, by
 * meta_json_copy(), which refuses what does not fit rather than cutting it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "meta.h"

_Static_assert(sizeof(((struct meta_xfer *)0)->curl_err) >= CURL_ERROR_SIZE,
	       "curl_err must hold CURL_ERROR_SIZE bytes");

struct meta_http {
	CURLM *multi;
	char *base_url, *unix_socket;
	char *ca_file, *cert_file, *key_file;
	void *ca_pem, *cert_pem, *key_pem;
	size_t ca_pem_len, cert_pem_len, key_pem_len;
	int insecure;
	long connect_timeout_ms;
	char *token;			/* NULL: no Authorization header */
	_Atomic int stop;
	int brk;			/* a callback asked pump to return */
	int finished;			/* transfers done since pump returned */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_opt(const char *s, int *oom)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*oom = 1;
	return d;
}

static void *dup_blob(const void *p, size_t len, int *oom)
{
	void *d;

	if (!p || !len)
		return NULL;
	if (!(d = malloc(len)))
		*oom = 1;
	else
		memcpy(d, p, len);
	return d;
}

struct meta_http *meta_http_open(const struct meta_http_config *cfg,
				 char *err, size_t errlen)
{
	struct meta_http *h;
	int oom = 0;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	if (!cfg->base_url || strlen(cfg->base_url) >= META_URL_MAX / 2) {
		snprintf(err, errlen, "bad base URL");
		return NULL;
	}
	if (!(h = calloc(1, sizeof(*h)))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->base_url = dup_opt(cfg->base_url, &oom);
	h->unix_socket = dup_opt(cfg->unix_socket, &oom);
	h->ca_file = dup_opt(cfg->ca_file, &oom);
	h->cert_file = dup_opt(cfg->cert_file, &oom);
	h->key_file = dup_opt(cfg->key_file, &oom);
	h->ca_pem = dup_blob(cfg->ca_pem, cfg->ca_pem_len, &oom);
	h->cert_pem = dup_blob(cfg->cert_pem, cfg->cert_pem_len, &oom);
	h->key_pem = dup_blob(cfg->key_pem, cfg->key_pem_len, &oom);
	h->ca_pem_len = h->ca_pem ? cfg->ca_pem_len : 0;
	h->cert_pem_len = h->cert_pem ? cfg->cert_pem_len : 0;
	h->key_pem_len = h->key_pem ? cfg->key_pem_len : 0;
	h->insecure = cfg->insecure;
	h->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
	if (oom || !(h->multi = curl_multi_init())) {
		snprintf(err, errlen, "out of memory");
		meta_http_close(h);
		return NULL;
	}
	/* The base URL stays within our two protocols; paths are ours. */
	if (strncmp(h->base_url, "https://", 8) != 0 &&
	    strncmp(h->base_url, "http://", 7) != 0) {
		snprintf(err, errlen, "%s: only http:// and https:// are supported",
			 h->base_url);
		meta_http_close(h);
		return NULL;
	}
	return h;
}

void meta_http_close(struct meta_http *h)
{
	if (!h)
		return;
	/* Transfers still on the multi handle belong to callers who should
	 * have freed them; curl_multi_cleanup leaves their easy handles
	 * alone, so nothing here touches their memory. */
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h->base_url);
	free(h->unix_socket);
	free(h->ca_file);
	free(h->cert_file);
	free(h->key_file);
	free(h->ca_pem);
	free(h->cert_pem);
	free(h->key_pem);
	if (h->token) {
		explicit_bzero(h->token, strlen(h->token));
		free(h->token);
	}
	free(h);
}

int meta_http_set_token(struct meta_http *h, const char *token)
{
	size_t n = token ? strlen(token) : 0;
	char *t = NULL;

	if (n > META_TOKEN_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
			return -EINVAL;
	if (n && !(t = strdup(token)))
		return -ENOMEM;
	if (h->token) {
		explicit_bzero(h->token, strlen(h->token));
		free(h->token);
	}
	h->token = t;
	return 0;
}

void meta_http_break(struct meta_http *h)
{
	h->brk = 1;
}

void meta_http_stop(struct meta_http *h)
{
	atomic_store(&h->stop, 1);
	curl_multi_wakeup(h->multi);
}

int meta_http_stopping(struct meta_http *h)
{
	return atomic_load(&h->stop);
}

/* ---- one transfer ---------------------------------------------------------- */

static int is_2xx(long status)
{
	return status >= 200 && status <= 299;
}

/* Keep the start of a non-2xx body; the rest is not needed. */
static void keep_error_body(struct meta_xfer *x, const char *p, size_t n)
{
	size_t room = x->body.len < META_ERROR_BODY_MAX - 1 ?
		      META_ERROR_BODY_MAX - 1 - x->body.len : 0;

	if (n > room)
		n = room;
	if (n)
		ew_buf_append(&x->body, p, n);
}

/* Hand every complete line of `p` to on_line; keep the tail. */
static size_t feed_lines(struct meta_xfer *x, const char *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		const char *nl = memchr(p + off, '\n', n - off);
		size_t seg = nl ? (size_t)(nl - (p + off)) : n - off;
		size_t len;
		int rc;

		if (seg && ew_buf_append(&x->line, p + off, seg) < 0) {
			x->cb_rc = x->line.toobig ? -EFBIG : -ENOMEM;
			return 0;
		}
		off += seg;
		if (!nl)
			break;
		off++;
		len = x->line.len;
		while (len && (x->line.data[len - 1] == '\r' ||
			       x->line.data[len - 1] == ' ' ||
			       x->line.data[len - 1] == '\t'))
			len--;
		if (len) {
			x->line.data[len] = '\0';
			rc = x->on_line(x->ctx, x->line.data, len);
			if (rc) {
				x->cb_rc = rc;
				ew_buf_reset(&x->line);
				return 0;
			}
		}
		ew_buf_reset(&x->line);
	}
	return n;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	struct meta_xfer *x = ud;
	size_t n = size * nmemb;

	if (!x->status)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	if (!is_2xx(x->status)) {
		keep_error_body(x, p, n);
		return n;
	}
	if (x->on_line)
		return feed_lines(x, p, n);
	if (ew_buf_append(&x->body, p, n) < 0) {
		x->cb_rc = x->body.toobig ? -EFBIG : -ENOMEM;
		return 0;
	}
	return n;
}

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static void xfer_detach(struct meta_xfer *x)
{
	if (x->easy) {
		if (x->running)
			curl_multi_remove_handle(x->h->multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	if (x->headers) {
		curl_slist_free_all(x->headers);
		x->headers = NULL;
	}
	x->running = 0;
}

static void xfer_finish(struct meta_xfer *x, CURLcode cc)
{
	long status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status)
		x->status = status;
	x->result = 0;
	if (x->cb_rc < 0) {
		x->result = x->cb_rc;
		if (x->error[0])
			;	/* on_line said why */
		else if (x->cb_rc == -EFBIG)
			snprintf(x->error, sizeof(x->error),
				 "%s longer than %zu bytes",
				 x->on_line ? "line" : "response",
				 x->on_line ? x->line.max - 1 : x->body.max - 1);
		else
			snprintf(x->error, sizeof(x->error), "%s",
				 strerror(-x->cb_rc));
	} else if (x->cb_rc > 0) {
		x->stopped = x->cb_rc;
	} else if (cc == CURLE_FILESIZE_EXCEEDED) {
		/* Content-Length said so before the body came. */
		x->result = -EFBIG;
		snprintf(x->error, sizeof(x->error), "response longer than %zu bytes",
			 x->body.max - 1);
	} else if (cc != CURLE_OK) {
		x->result = curl_errno(cc);
		snprintf(x->error, sizeof(x->error), "%s",
			 x->curl_err[0] ? x->curl_err : curl_easy_strerror(cc));
	} else if (x->on_line && is_2xx(x->status) && x->line.len) {
		/* The server closed the stream inside an object. */
		x->result = -ECONNRESET;
		snprintf(x->error, sizeof(x->error),
			 "stream ended inside a line (%zu bytes dropped)",
			 x->line.len);
	}
	xfer_detach(x);
	x->done = 1;
}

static void xfer_fail(struct meta_xfer *x, int rc, const char *what)
{
	xfer_detach(x);
	x->result = rc;
	x->done = 1;
	snprintf(x->error, sizeof(x->error), "%s", what);
}

#define SETOPT(e, opt, val)                                                \
	do {                                                               \
		if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK)       \
			goto opt_err;                                      \
	} while (0)

int meta_xfer_start(struct meta_http *h, struct meta_xfer *x, const char *path,
		    size_t max, uint32_t timeout_ms)
{
	char url[META_URL_MAX];
	struct curl_slist *hl = NULL, *n;
	CURL *e;
	int len;

	ew_buf_free(&x->body);
	ew_buf_free(&x->line);
	x->h = h;
	x->easy = NULL;
	x->headers = NULL;
	x->running = 0;
	x->done = 0;
	x->result = 0;
	x->stopped = 0;
	x->status = 0;
	x->cb_rc = 0;
	x->error[0] = '\0';
	x->curl_err[0] = '\0';
	x->started_ns = ew_mono_ns();
	/* A body buffer's max counts the NUL. */
	ew_buf_init(&x->body, x->on_line ? META_ERROR_BODY_MAX : max + 1);
	ew_buf_init(&x->line, x->on_line ? max + 1 : 1);

	len = snprintf(url, sizeof(url), "%s%s", h->base_url, path);
	if (len < 0 || (size_t)len >= sizeof(url)) {
		xfer_fail(x, -E2BIG, "URL too long");
		return -E2BIG;
	}
	if (!(e = curl_easy_init())) {
		xfer_fail(x, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	x->easy = e;
	if (!(n = curl_slist_append(hl, "Accept: application/json")))
		goto oom;
	hl = n;
	if (h->token) {
		char auth[META_TOKEN_MAX + 32];

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", h->token);
		n = curl_slist_append(hl, auth);
		explicit_bzero(auth, sizeof(auth));
		if (!n)
			goto oom;
		hl = n;
	}
	x->headers = hl;

	SETOPT(e, CURLOPT_URL, url);
	SETOPT(e, CURLOPT_PRIVATE, x);
	SETOPT(e, CURLOPT_WRITEFUNCTION, on_data);
	SETOPT(e, CURLOPT_WRITEDATA, x);
	SETOPT(e, CURLOPT_HTTPHEADER, hl);
	SETOPT(e, CURLOPT_ERRORBUFFER, x->curl_err);
	SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	SETOPT(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(e, CURLOPT_USERAGENT, "egresswatch/0.1");
	SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(e, CURLOPT_TCP_KEEPIDLE, 30L);
	SETOPT(e, CURLOPT_TCP_KEEPINTVL, 10L);
	if (!x->on_line)
		SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	if (h->unix_socket) {
		SETOPT(e, CURLOPT_UNIX_SOCKET_PATH, h->unix_socket);
		SETOPT(e, CURLOPT_PROXY, "");
	}
	if (h->insecure) {
		SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (h->ca_pem || h->ca_file) {
		/* Only the cluster's CA: not the system bundle, not a CA path. */
		if (h->ca_pem) {
			struct curl_blob b = {h->ca_pem, h->ca_pem_len, CURL_BLOB_COPY};

			SETOPT(e, CURLOPT_CAINFO_BLOB, &b);
		} else {
			SETOPT(e, CURLOPT_CAINFO, h->ca_file);
		}
		SETOPT(e, CURLOPT_CAPATH, (char *)NULL);
	}
	if (h->cert_pem) {
		struct curl_blob b = {h->cert_pem, h->cert_pem_len, CURL_BLOB_COPY};

		SETOPT(e, CURLOPT_SSLCERT_BLOB, &b);
		SETOPT(e, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (h->cert_file) {
		SETOPT(e, CURLOPT_SSLCERT, h->cert_file);
		SETOPT(e, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (h->key_pem) {
		struct curl_blob b = {h->key_pem, h->key_pem_len, CURL_BLOB_COPY};

		SETOPT(e, CURLOPT_SSLKEY_BLOB, &b);
		SETOPT(e, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (h->key_file) {
		SETOPT(e, CURLOPT_SSLKEY, h->key_file);
		SETOPT(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		goto oom;
	x->running = 1;
	return 0;

opt_err:
	xfer_fail(x, -EINVAL, "libcurl refused an option");
	return -EINVAL;
oom:
	if (!x->headers)
		curl_slist_free_all(hl);
	xfer_fail(x, -ENOMEM, "out of memory");
	return -ENOMEM;
}

long meta_xfer_status(struct meta_xfer *x)
{
	long status = 0;

	if (x->running && x->easy)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	return status ? status : x->status;
}

void meta_xfer_free(struct meta_xfer *x)
{
	if (x->running) {
		xfer_detach(x);
		x->done = 1;
		x->result = -ECANCELED;
		snprintf(x->error, sizeof(x->error), "cancelled");
	} else {
		xfer_detach(x);
	}
	ew_buf_free(&x->body);
	ew_buf_free(&x->line);
}

/* ---- running transfers -------------------------------------------------------- */

static void collect(struct meta_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		char *priv = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		if (!priv)
			continue;
		xfer_finish((struct meta_xfer *)(void *)priv, m->data.result);
		h->finished++;
	}
}

/* Let libcurl work and collect what finished. */
static void step(struct meta_http *h)
{
	int running = 0;

	curl_multi_perform(h->multi, &running);
	collect(h);
}

int meta_http_pump(struct meta_http *h, uint32_t timeout_ms)
{
	uint64_t deadline = ew_mono_ns() + (uint64_t)timeout_ms * 1000000;

	for (;;) {
		uint64_t now, left_ms;
		int n;

		step(h);
		if (atomic_load(&h->stop))
			return -ECANCELED;
		if (h->finished || h->brk) {
			n = h->finished;
			h->finished = 0;
			h->brk = 0;
			return n;
		}
		now = ew_mono_ns();
		if (now >= deadline)
			return 0;
		left_ms = (deadline - now + 999999) / 1000000;
		curl_multi_poll(h->multi, NULL, 0, left_ms > 1000 ? 1000 : (int)left_ms,
				NULL);
	}
}

int meta_http_get(struct meta_http *h, struct meta_xfer *x, const char *path,
		  size_t max, uint32_t timeout_ms)
{
	int rc = meta_xfer_start(h, x, path, max, timeout_ms);

	if (rc < 0)
		return rc;
	for (;;) {
		step(h);
		if (x->done)
			break;
		if (atomic_load(&h->stop)) {
			xfer_detach(x);
			x->done = 1;
			x->result = -ECANCELED;
			snprintf(x->error, sizeof(x->error), "cancelled");
			return -ECANCELED;
		}
		curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
	}
	/* Our own completion is not news for the pump; others' are. */
	h->finished--;
	return x->result;
}

/* ---- JSON ------------------------------------------------------------------------- */

unsigned meta_json_depth(const char *t, size_t len, unsigned cap)
{
	unsigned d = 0, max = 0;
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = t[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++d > max && (max = d) > cap)
				return max;
		} else if ((c == '}' || c == ']') && d) {
			d--;
		}
	}
	return max;
}

int meta_json_parse(const char *text, size_t len, json_t **out, char *err,
		    size_t errlen)
{
	json_error_t je;
	json_t *j;

	*out = NULL;
	if (meta_json_depth(text, len, META_JSON_MAX_DEPTH) > META_JSON_MAX_DEPTH) {
		snprintf(err, errlen, "JSON nested deeper than %d",
			 META_JSON_MAX_DEPTH);
		return -EINVAL;
	}
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(err, errlen, "JSON line %d column %d: %s", je.line,
			 je.column, je.text);
		return -EINVAL;
	}
	*out = j;
	return 0;
}

int meta_json_copy(const json_t *o, const char *key, char *dst, size_t cap)
{
	const json_t *v = o ? json_object_get(o, key) : NULL;
	size_t n;

	dst[0] = '\0';
	if (!v || json_is_null(v))
		return -ENOENT;
	if (!json_is_string(v))
		return -EINVAL;
	n = json_string_length(v);
	if (n >= cap)
		return -E2BIG;
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

json_t *meta_json_obj(const json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	return json_is_object(v) ? v : NULL;
}

json_t *meta_json_arr(const json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	return json_is_array(v) ? v : NULL;
}

long long meta_json_int(const json_t *o, const char *key, long long dflt)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

int meta_json_true(const json_t *o, const char *key)
{
	return o && json_is_true(json_object_get(o, key));
}

unsigned meta_json_labels(const json_t *o, struct attrib_labels *out)
{
	const char *key;
	json_t *v;
	unsigned refused = 0;

	if (!json_is_object(o))
		return 0;
	json_object_foreach((json_t *)o, key, v) {
		if (!json_is_string(v) ||
		    attrib_labels_add(out, key, json_string_value(v)) < 0)
			refused++;
	}
	return refused;
}

/* ---- small helpers ------------------------------------------------------------------ */

int meta_url_escape(char *dst, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~';

		if (cap - o < (plain ? 2u : 4u))
			return -E2BIG;
		if (plain) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '%';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return 0;
}

uint32_t meta_backoff_next(uint32_t cur, uint32_t min, uint32_t max)
{
	static _Thread_local uint32_t seed;
	uint32_t next;

	if (!seed && (ew_random_bytes(&seed, sizeof(seed)) < 0 || !seed))
		seed = (uint32_t)ew_mono_ns() | 1;
	if (!min)
		min = 1;
	next = !cur ? min : (cur > max / 2 ? max : cur * 2);
	if (next < min)
		next = min;
	if (next > max)
		next = max;
	/* xorshift32: jitter only, not security. */
	seed ^= seed << 13;
	seed ^= seed >> 17;
	seed ^= seed << 5;
	return next - seed % (next / 4 + 1);
}

int meta_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat sb;
	size_t got = 0;
	char *buf;
	int fd, rc = 0;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size >= max) {
		rc = -EFBIG;
		goto out;
	}
	if (!(buf = malloc(max))) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, max - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			free(buf);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got >= max) {
			rc = -EFBIG;
			free(buf);
			goto out;
		}
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
out:
	close(fd);
	return rc;
}

static void printable(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n' || c == '\r')
			break;
		dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[o] = '\0';
}

void meta_body_message(const struct ew_buf *body, char *dst, size_t cap)
{
	char err[64];
	json_t *j;

	dst[0] = '\0';
	if (!body->len)
		return;
	if (meta_json_parse(body->data, body->len, &j, err, sizeof(err)) == 0) {
		json_t *m = json_object_get(j, "message");

		if (json_is_string(m)) {
			printable(dst, cap, json_string_value(m), json_string_length(m));
			json_decref(j);
			return;
		}
		json_decref(j);
	}
	printable(dst, cap, body->data, body->len);
}

int meta_add_ip(uint8_t (*ips)[16], uint8_t *n, size_t cap, const char *text)
{
	uint8_t ip[16];

	if (!text || !*text || ew_ip_parse(text, ip) < 0 || attrib_ip_ignored(ip))
		return 0;
	for (size_t i = 0; i < *n; i++)
		if (memcmp(ips[i], ip, 16) == 0)
			return 0;
	if (*n >= cap)
		return -ENOSPC;
	memcpy(ips[(*n)++], ip, 16);
	return 1;
}

size_t meta_labels_kv(const struct attrib_labels *l, struct attrib_kv *kv,
		      size_t cap)
{
	size_t n = l->n < cap ? l->n : cap;

	for (size_t i = 0; i < n; i++) {
		kv[i].key = attrib_label_key(l, i);
		kv[i].value = attrib_label_value(l, i);
	}
	return n;
}

void meta_thread_init(const char *name)
{
	sigset_t set;

	/* OpenSSL writes with plain send(); a peer that hung up must be an
	 * error on this thread, not a SIGPIPE for the process. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_setname_np(pthread_self(), name);
}

/* ---- counters -------------------------------------------------------------------- */

void meta_counters_init(struct meta_counters *c, const char *endpoint)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->s.state = META_STARTING;
	snprintf(c->s.endpoint, sizeof(c->s.endpoint), "%s", endpoint);
}

void meta_counters_destroy(struct meta_counters *c)
{
	pthread_mutex_destroy(&c->mu);
}

int meta_count_xfer(struct meta_counters *c, const struct meta_xfer *x)
{
	char msg[160];
	int bad = 0;

	pthread_mutex_lock(&c->mu);
	c->s.requests++;
	if (x->result < 0 && x->result != -ECANCELED) {
		c->s.errors++;
		if (x->result == -ETIMEDOUT)
			c->s.timeouts++;
		if (x->result == -EFBIG)
			c->s.too_big++;
		snprintf(c->s.last_error, sizeof(c->s.last_error), "%s", x->error);
		bad = 1;
	} else if (x->result == 0 && !is_2xx(x->status) && x->status != 410) {
		c->s.errors++;
		c->s.http_errors++;
		meta_body_message(&x->body, msg, sizeof(msg));
		snprintf(c->s.last_error, sizeof(c->s.last_error), "HTTP %ld%s%s",
			 x->status, msg[0] ? ": " : "", msg);
		bad = 1;
	}
	pthread_mutex_unlock(&c->mu);
	return bad;
}

void meta_count_error(struct meta_counters *c, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&c->mu);
	c->s.errors++;
	va_start(ap, fmt);
	vsnprintf(c->s.last_error, sizeof(c->s.last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&c->mu);
}

void meta_counters_get(struct meta_counters *c, struct meta_source_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->s;
	pthread_mutex_unlock(&c->mu);
}

const char *meta_state_name(int state)
{
	switch (state) {
	case META_OFF:
		return "off";
	case META_STARTING:
		return "starting";
	case META_IN_USE:
		return "in use";
	case META_FAILING:
		return "failing";
	default:
		return "?";
	}
}
