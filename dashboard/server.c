/*
 * server.c - the dashboard's HTTP server: the libmicrohttpd daemon, the life
 * of one request, routing, the headers every response carries, the static
 * files, and the pool of read-only database connections.
 *
 * Threads: MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL with a pool of a
 * few threads, each running its own epoll loop over its share of the
 * connections.  An idle or slow client (slowloris, a stalled download) is a
 * socket in a set, not a blocked thread, so it cannot keep others waiting;
 * what bounds it is the connection limits and the idle time-out.  The handlers
 * run on those threads and block only on SQLite, whose queries the API keeps
 * bounded.
 *
 * Limits on what a client controls: request target DASH_URI_MAX bytes
 * (414), header space per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT,
 * MHD answers 431 itself), POST bodies DASH_BODY_MAX (413), one buffered
 * response DASH_RESPONSE_MAX (exports stream instead), connections in total
 * and per client address, and an idle time-out.
 *
 * Static files come only from the table compiled into the binary, found by
 * exact match of the decoded path: there is no file system access, so no
 * path can escape anything.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dash_int.h"

static const char csp[] =
	"default-src 'self'; script-src 'self'; style-src 'self'; "
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
	"base-uri 'none'; form-action 'self'";

/* Upper bounds of the request duration histogram, in microseconds. */
static const uint64_t lat_le_us[8] = {1000, 5000, 10000, 25000, 50000,
				      100000, 250000, UINT64_MAX};

void dashboard_config_defaults(struct dashboard_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "127.0.0.1:8080";
	cfg->threads = 4;
	cfg->max_connections = 1024;
	cfg->max_per_ip = 64;
	cfg->timeout_s = 30;
}

/* ---- responses -------------------------------------------------------------- */

void dash_buf(struct ew_buf *b)
{
	ew_buf_init(b, DASH_RESPONSE_MAX);
}

void dash_add_security_headers(struct MHD_Response *r, const char *cache)
{
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy",
				"same-origin");
	MHD_add_response_header(r, "Cache-Control", cache ? cache : "no-store");
}

void dash_count_status(struct dashboard *d, unsigned status)
{
	atomic_fetch_add(&d->requests, 1);
	if (status < 300)
		atomic_fetch_add(&d->st2, 1);
	else if (status < 400)
		atomic_fetch_add(&d->st3, 1);
	else if (status < 500)
		atomic_fetch_add(&d->st4, 1);
	else
		atomic_fetch_add(&d->st5, 1);
}

enum MHD_Result dash_send_hdrs(struct dash_req *q, unsigned status,
			       const char *ctype, struct ew_buf *b,
			       const char *cache, const char *const *hdrs)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len = b->len;
	char *data = b->data;

	if (b->toobig) {
		ew_buf_free(b);
		return dash_error(q, 500, "response larger than %u bytes: "
				  "narrow the query", DASH_RESPONSE_MAX);
	}
	b->data = NULL;
	ew_buf_free(b);
	r = MHD_create_response_from_buffer(len, data ? data : (void *)"",
					    data ? MHD_RESPMEM_MUST_FREE :
						   MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(data);
		return MHD_NO;
	}
	dash_add_security_headers(r, cache);
	if (ctype)
		MHD_add_response_header(r, "Content-Type", ctype);
	for (size_t i = 0; hdrs && hdrs[i]; i += 2)
		MHD_add_response_header(r, hdrs[i], hdrs[i + 1]);
	ret = MHD_queue_response(q->c, status, r);
	MHD_destroy_response(r);
	dash_count_status(q->d, status);
	return ret;
}

enum MHD_Result dash_send(struct dash_req *q, unsigned status,
			  const char *ctype, struct ew_buf *b,
			  const char *cache)
{
	return dash_send_hdrs(q, status, ctype, b, cache, NULL);
}

enum MHD_Result dash_send_json(struct dash_req *q, unsigned status,
			       struct ew_buf *b)
{
	return dash_send(q, status, "application/json; charset=utf-8", b,
			 "no-store");
}

enum MHD_Result dash_send_text(struct dash_req *q, unsigned status,
			       const char *ctype, const char *text)
{
	struct ew_buf b;

	dash_buf(&b);
	ew_buf_puts(&b, text);
	return dash_send(q, status, ctype, &b, "no-store");
}

enum MHD_Result dash_error(struct dash_req *q, unsigned status,
			   const char *fmt, ...)
{
	char msg[512];
	struct ew_buf b;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dash_buf(&b);
	ew_buf_puts(&b, "{\"error\":");
	ew_buf_json_str(&b, msg);
	ew_buf_printf(&b, ",\"status\":%u}\n", status);
	return dash_send_json(q, status, &b);
}

static enum MHD_Result send_asset(struct dash_req *q,
				  const struct dash_asset *a)
{
	const char *inm = MHD_lookup_connection_value(q->c, MHD_HEADER_KIND,
						      "If-None-Match");
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = 200;

	if (inm && strstr(inm, a->etag)) {
		status = 304;
		r = MHD_create_response_from_buffer(0, (void *)"",
						    MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_buffer(a->len, (void *)a->data,
						    MHD_RESPMEM_PERSISTENT);
	}
	if (!r)
		return MHD_NO;
	/* Revalidate every time: the ETag changes with each build, and a
	 * dashboard must never run yesterday's script against today's API. */
	dash_add_security_headers(r, "no-cache");
	MHD_add_response_header(r, "Content-Type", a->type);
	MHD_add_response_header(r, "ETag", a->etag);
	ret = MHD_queue_response(q->c, status, r);
	MHD_destroy_response(r);
	dash_count_status(q->d, status);
	return ret;
}

const struct dash_asset *dash_asset_find(const char *path)
{
	for (size_t i = 0; i < dash_assets_len; i++)
		if (strcmp(dash_assets[i].path, path) == 0)
			return &dash_assets[i];
	return NULL;
}

/* ---- the reader pool --------------------------------------------------------- */

struct store_reader *dash_reader_acquire(struct dashboard *d, char *err,
					 size_t errlen)
{
	struct timespec until;
	struct store_reader *r = NULL;
	int waited = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DASH_READER_WAIT_MS / 1000;
	pthread_mutex_lock(&d->rmu);
	for (;;) {
		int slot = -1;

		for (unsigned i = 0; i < d->nreaders; i++) {
			if (d->busy[i])
				continue;
			if (d->readers[i]) {
				slot = (int)i;
				break;
			}
			if (slot < 0)
				slot = (int)i;
		}
		if (slot >= 0) {
			d->busy[slot] = 1;
			r = d->readers[slot];
			if (!r) {
				/* Open outside the lock: it reads the file. */
				pthread_mutex_unlock(&d->rmu);
				r = store_reader_open(d->db_path, err, errlen);
				pthread_mutex_lock(&d->rmu);
				d->readers[slot] = r;
				if (!r)
					d->busy[slot] = 0;
			}
			break;
		}
		if (!waited) {
			waited = 1;
			atomic_fetch_add(&d->reader_waits, 1);
		}
		if (pthread_cond_timedwait(&d->rcv, &d->rmu, &until) ==
		    ETIMEDOUT) {
			atomic_fetch_add(&d->reader_timeouts, 1);
			snprintf(err, errlen, "all database connections busy");
			break;
		}
	}
	pthread_mutex_unlock(&d->rmu);
	return r;
}

void dash_reader_put(struct dashboard *d, struct store_reader *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&d->rmu);
	for (unsigned i = 0; i < d->nreaders; i++)
		if (d->readers[i] == r)
			d->busy[i] = 0;
	pthread_cond_signal(&d->rcv);
	pthread_mutex_unlock(&d->rmu);
}

struct store_reader *dash_reader_get(struct dash_req *q, enum MHD_Result *ret)
{
	char err[256];
	struct store_reader *r = dash_reader_acquire(q->d, err, sizeof(err));

	if (!r)
		*ret = dash_error(q, 503, "database: %s", err);
	return r;
}

/* ---- routing -------------------------------------------------------------- */

static enum MHD_Result method_not_allowed(struct dash_req *q,
					  const char *allow)
{
	struct ew_buf b;
	const char *hdrs[] = {"Allow", allow, NULL};

	dash_buf(&b);
	ew_buf_puts(&b, "{\"error\":\"method not allowed\",\"status\":405}\n");
	return dash_send_hdrs(q, 405, "application/json; charset=utf-8", &b,
			      "no-store", hdrs);
}

/* "123" (no sign, no leading zero, fits) -> id; 0 when it is not one. */
static uint64_t parse_id(const char *s, size_t n)
{
	uint64_t v = 0;

	if (n == 0 || n > 19 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v;
}

static enum MHD_Result route_api(struct dash_req *q, const char *p)
{
	int get = !q->post;

	if (strcmp(p, "session") == 0)
		return get ? dash_session_get(q) : method_not_allowed(q, "GET, HEAD");
	if (strcmp(p, "alerts") == 0)
		return get ? dash_api_alerts(q) : method_not_allowed(q, "GET, HEAD");
	if (strncmp(p, "alerts/", 7) == 0) {
		const char *s = p + 7, *slash = strchr(s, '/');
		uint64_t id = parse_id(s, slash ? (size_t)(slash - s) : strlen(s));

		if (!id)
			return dash_error(q, 404, "no such alert");
		if (!slash)
			return get ? dash_api_alert(q, id) :
				     method_not_allowed(q, "GET, HEAD");
		if (strcmp(slash, "/ack") == 0)
			return q->post ? dash_api_alert_ack(q, id) :
					 method_not_allowed(q, "POST");
		return dash_error(q, 404, "no such path");
	}
	if (strcmp(p, "flows") == 0)
		return get ? dash_api_flows(q) : method_not_allowed(q, "GET, HEAD");
	if (strcmp(p, "workloads") == 0)
		return get ? dash_api_workloads(q) :
			     method_not_allowed(q, "GET, HEAD");
	if (strncmp(p, "workloads/", 10) == 0)
		return get ? dash_api_workload(q, p + 10) :
			     method_not_allowed(q, "GET, HEAD");
	if (strcmp(p, "series") == 0)
		return get ? dash_api_series(q) : method_not_allowed(q, "GET, HEAD");
	if (strcmp(p, "top") == 0)
		return get ? dash_api_top(q) : method_not_allowed(q, "GET, HEAD");
	if (strcmp(p, "health") == 0)
		return get ? dash_api_health(q) : method_not_allowed(q, "GET, HEAD");
	if (strcmp(p, "policy") == 0)
		return get ? dash_api_policy(q) : method_not_allowed(q, "GET, HEAD");
	if (strcmp(p, "overview") == 0)
		return get ? dash_api_overview(q) :
			     method_not_allowed(q, "GET, HEAD");
	return dash_error(q, 404, "no such path");
}

static enum MHD_Result route(struct dash_req *q)
{
	const char *url = q->url;
	const struct dash_asset *a;
	enum MHD_Result ret;

	if (!q->post && strcmp(q->method, "GET") != 0 && !q->head)
		return method_not_allowed(q, "GET, HEAD, POST");
	if (q->uri_len > DASH_URI_MAX)
		return dash_error(q, 414, "request target longer than %d bytes",
				  DASH_URI_MAX);
	if (strcmp(url, "/healthz") == 0)
		return q->post ? method_not_allowed(q, "GET, HEAD") :
				 dash_send_text(q, 200, "text/plain; charset=utf-8",
						"ok\n");
	if (!dash_auth_check(q, &ret))
		return ret;
	if (strcmp(url, "/login") == 0) {
		if (q->post)
			return dash_login_post(q);
		a = dash_asset_find("/login.html");
		return a ? send_asset(q, a) : dash_error(q, 404, "no login page");
	}
	if (strcmp(url, "/logout") == 0)
		return q->post ? dash_logout_post(q) : method_not_allowed(q, "POST");
	if (strncmp(url, "/api/", 5) == 0)
		return route_api(q, url + 5);
	if (strcmp(url, "/metrics") == 0)
		return q->post ? method_not_allowed(q, "GET, HEAD") :
				 dash_metrics(q);
	if (q->post)
		return method_not_allowed(q, "GET, HEAD");
	a = dash_asset_find(strcmp(url, "/") == 0 ? "/index.html" : url);
	if (a)
		return send_asset(q, a);
	return dash_send_text(q, 404, "text/plain; charset=utf-8",
			      "not found\n");
}

/* ---- MHD callbacks ------------------------------------------------------------ */

/* First thing MHD tells about a request: the raw target.  Its return value
 * becomes the request's context, so its length is known before MHD's own
 * decoding; and nothing of the target is logged. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct dash_req *q = calloc(1, sizeof(*q));

	(void)c;
	if (!q)
		return NULL;
	q->d = cls;
	q->uri_len = strlen(uri);
	/* MHD decodes the path, and a %00 would end it early: "/index.html%00.js"
	 * would be served as "/index.html".  Refuse such targets outright. */
	for (const char *p = uri; *p; p++) {
		int b = (unsigned char)*p;

		if (b == '%' && isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2])) {
			char hex[3] = {p[1], p[2], '\0'};

			b = (int)strtol(hex, NULL, 16);
			p += 2;
		}
		if (b < 0x20 || b == 0x7f)
			q->bad_target = 1;
	}
	q->t0_mono = ew_mono_ns();
	ew_buf_init(&q->body, DASH_BODY_MAX);
	return q;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **ctx)
{
	struct dash_req *q = *ctx;

	(void)cls;
	(void)version;
	if (!q)
		return MHD_NO;	/* out of memory in on_uri: drop the connection */
	if (!q->started) {
		q->started = 1;
		q->c = c;
		q->url = url;
		q->method = method;
		q->head = strcmp(method, "HEAD") == 0;
		q->post = strcmp(method, "POST") == 0;
		if (q->bad_target)
			return dash_error(q, 400, "NUL or control character in "
					  "the request target");
		if (q->post) {
			const char *cl = MHD_lookup_connection_value(
				c, MHD_HEADER_KIND, "Content-Length");

			/* A declared length over the cap is refused before
			 * a byte of it is read (MHD then closes). */
			if (cl && strtoull(cl, NULL, 10) > DASH_BODY_MAX)
				return dash_error(q, 413, "request body larger "
						  "than %d bytes", DASH_BODY_MAX);
			return MHD_YES;	/* the body comes next */
		}
		return route(q);
	}
	if (!q->post) {
		/* A body on GET: answered already; let MHD drop the body. */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		/* Past the cap (a chunked body, which declares no length),
		 * the rest is read and dropped: MHD cannot answer in the
		 * middle of a body. */
		if (!q->body_toobig &&
		    ew_buf_append(&q->body, upload, *upload_size) != 0)
			q->body_toobig = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->body_toobig)
		return dash_error(q, 413, "request body larger than %d bytes",
				  DASH_BODY_MAX);
	return route(q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode toe)
{
	struct dashboard *d = cls;
	struct dash_req *q = *ctx;

	(void)c;
	(void)toe;
	if (!q)
		return;
	if (q->started) {
		uint64_t us = (ew_mono_ns() - q->t0_mono) / 1000;
		size_t i = 0;

		while (i + 1 < EW_ARRAY_LEN(lat_le_us) && us > lat_le_us[i])
			i++;
		atomic_fetch_add(&d->lat_bucket[i], 1);
		atomic_fetch_add(&d->lat_sum_us, us);
		atomic_fetch_add(&d->lat_count, 1);
	}
	ew_buf_free(&q->body);
	free(q);
	*ctx = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **sctx,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct dashboard *d = cls;

	(void)c;
	(void)sctx;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&d->connections, 1);
	else
		atomic_fetch_sub(&d->connections, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("dashboard: %s", msg);
}

/* ---- start and stop ----------------------------------------------------------- */

/* "127.0.0.1:8080", "[::1]:8080", "localhost:8080", ":8080" (= 127.0.0.1). */
static int parse_listen(const char *s, struct sockaddr_storage *ss,
			socklen_t *sslen, int *loopback, char *err,
			size_t errlen)
{
	char host[64];
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			goto bad;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - s);
	}
	if (hl >= sizeof(host))
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (colon[1] < '0' || colon[1] > '9')
		goto bad;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port > 65535)
		goto bad;
	if (host[0] == '\0' || strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			goto bad;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*a6);
		*loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			goto bad;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*a4);
		*loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	}
	return 0;
bad:
	snprintf(err, errlen, "listen address '%s': expected ADDR:PORT with a "
		 "numeric IPv4 address, [IPv6]:PORT or localhost:PORT", s);
	return -EINVAL;
}

struct dashboard *dashboard_start(const struct dashboard_config *cfg_in,
				  char *err, size_t errlen)
{
	struct dashboard_config cfg;
	struct dashboard *d = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_USE_ERROR_LOG;
	char host[EW_IPSTR_MAX];
	struct store_reader *first;
	const union MHD_DaemonInfo *info;

	dashboard_config_defaults(&cfg);
	if (cfg_in) {
		cfg.db_path = cfg_in->db_path;
		cfg.token_file = cfg_in->token_file;
		cfg.store = cfg_in->store;
		cfg.provider = cfg_in->provider;
		if (cfg_in->listen)
			cfg.listen = cfg_in->listen;
		if (cfg_in->threads)
			cfg.threads = cfg_in->threads;
		if (cfg_in->max_connections)
			cfg.max_connections = cfg_in->max_connections;
		if (cfg_in->max_per_ip)
			cfg.max_per_ip = cfg_in->max_per_ip;
		if (cfg_in->timeout_s)
			cfg.timeout_s = cfg_in->timeout_s;
	}
	if (!cfg.db_path || !cfg.db_path[0]) {
		snprintf(err, errlen, "dashboard: no database path");
		return NULL;
	}
	if (cfg.threads > DASH_READERS_MAX - 2)
		cfg.threads = DASH_READERS_MAX - 2;
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "dashboard: out of memory");
		return NULL;
	}
	pthread_mutex_init(&d->rmu, NULL);
	pthread_cond_init(&d->rcv, NULL);
	pthread_mutex_init(&d->smu, NULL);
	pthread_mutex_init(&d->ccmu, NULL);
	/* Without it countries are looked up every time: slower, not wrong. */
	d->cc = calloc(DASH_CC_SLOTS, sizeof(*d->cc));
	ew_random_bytes(d->cc_key, sizeof(d->cc_key));
	d->nreaders = cfg.threads + 2;
	d->store = cfg.store;
	d->started_ns = ew_now_ns();
	d->started_mono = ew_mono_ns();
	if (cfg.provider) {
		d->provider = *cfg.provider;
		d->has_provider = 1;
	}
	if (!(d->db_path = strdup(cfg.db_path))) {
		snprintf(err, errlen, "dashboard: out of memory");
		goto err;
	}
	if (parse_listen(cfg.listen, &ss, &sslen, &d->loopback, err, errlen))
		goto err;
	if (dash_auth_init(d, cfg.token_file, err, errlen))
		goto err;
	if (!d->loopback && !d->auth_required) {
		snprintf(err, errlen, "dashboard: refusing to listen on %s, "
			 "which is not a loopback address, without "
			 "authentication: give a token file (--token-file)",
			 cfg.listen);
		goto err;
	}
	/* Fail now, with the reason, if the database cannot be read. */
	first = dash_reader_acquire(d, err, errlen);
	if (!first)
		goto err;
	dash_reader_put(d, first);

	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, d,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, d,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, cfg.threads,
		MHD_OPTION_CONNECTION_LIMIT, cfg.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg.max_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg.timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 256u,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, d,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, d,
		MHD_OPTION_END);
	if (!d->mhd) {
		snprintf(err, errlen, "dashboard: cannot listen on %s (address "
			 "in use, or not an address of this host)", cfg.listen);
		goto err;
	}
	info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	d->port = info ? info->port : 0;
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			  host, sizeof(host));
		snprintf(d->url, sizeof(d->url), "http://[%s]:%u/", host, d->port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
			  sizeof(host));
		snprintf(d->url, sizeof(d->url), "http://%s:%u/", host, d->port);
	}
	return d;
err:
	dashboard_stop(d);
	return NULL;
}

unsigned dashboard_port(const struct dashboard *d)
{
	return d->port;
}

const char *dashboard_url(const struct dashboard *d)
{
	return d->url;
}

void dashboard_get_stats(struct dashboard *d, struct dashboard_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->requests = atomic_load(&d->requests);
	out->status_2xx = atomic_load(&d->st2);
	out->status_3xx = atomic_load(&d->st3);
	out->status_4xx = atomic_load(&d->st4);
	out->status_5xx = atomic_load(&d->st5);
	out->auth_failures = atomic_load(&d->auth_failures);
	out->csrf_rejected = atomic_load(&d->csrf_rejected);
	out->reader_waits = atomic_load(&d->reader_waits);
	out->reader_timeouts = atomic_load(&d->reader_timeouts);
	out->exports = atomic_load(&d->exports);
	out->export_rows = atomic_load(&d->export_rows);
	out->connections = atomic_load(&d->connections);
}

void dashboard_stop(struct dashboard *d)
{
	if (!d)
		return;
	if (d->mhd)
		MHD_stop_daemon(d->mhd);
	for (unsigned i = 0; i < DASH_READERS_MAX; i++)
		store_reader_close(d->readers[i]);
	pthread_mutex_destroy(&d->rmu);
	pthread_cond_destroy(&d->rcv);
	pthread_mutex_destroy(&d->smu);
	pthread_mutex_destroy(&d->ccmu);
	free(d->cc);
	/* The token must not linger in freed memory. */
	explicit_bzero(d->token, sizeof(d->token));
	explicit_bzero(d->sessions, sizeof(d->sessions));
	free(d->db_path);
	free(d);
}

const uint64_t *dash_latency_bounds(size_t *n)
{
	*n = EW_ARRAY_LEN(lat_le_us);
	return lat_le_us;
}
