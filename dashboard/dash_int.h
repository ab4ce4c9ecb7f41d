/*
 * dash_int.h - private to dashboard/: what its files share.
 *
 *   server.c   the daemon, request life cycle, routing, headers, static files
 *   auth.c     token, sessions, login page, CSRF and Host checks
 *   params.c   query parameters: times, numbers, CIDRs, cursors, patterns
 *   api.c      /api/alerts, /api/flows (with streamed exports), /api/workloads
 *   stats.c    /api/series, /api/top, /api/overview, /api/health,
 *              /api/policy, /metrics
 *   agg.c      summaries of a window in one pass over the rollups
 *   promjson.c the provider's health JSON as Prometheus gauges
 *   assets (generated at build time by dashboard/tools/embed_assets.c)
 */
#ifndef EW_DASH_INT_H
#define EW_DASH_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "dashboard.h"
#include "store.h"
#include "util.h"

#define DASH_URI_MAX 4096		/* bytes of request target */
#define DASH_BODY_MAX 4096		/* bytes of a POST body */
#define DASH_RESPONSE_MAX (48u << 20)	/* bytes of one buffered response */
#define DASH_PROVIDER_MAX (8u << 20)	/* bytes a provider callback may add */
#define DASH_PAGE_MAX 10000		/* rows per page */
#define DASH_PAGE_DEFAULT 1000
#define DASH_EXPORT_MAX 1000000		/* rows of one export */
#define DASH_EXPORT_PAGE 2000		/* rows fetched per export step */
#define DASH_WINDOW_MAX_NS (31ull * 86400 * 1000000000)	/* flow windows */
#define DASH_SERIES_POINTS_MAX 5000
#define DASH_READERS_MAX 16
#define DASH_READER_WAIT_MS 5000
#define DASH_TOKEN_MIN 16
#define DASH_TOKEN_MAX 256
#define DASH_SESSIONS_MAX 256
#define DASH_SESSION_TTL_S (12 * 3600)
#define DASH_LOGIN_FAILS_PER_MIN 10	/* then 429 until the minute is over */
#define DASH_CC_SLOTS 32768		/* country cache: addresses */
#define DASH_CC_TTL_S 600		/* ... kept this long */
#define NS_PER_S ((uint64_t)1000000000)

/* ---- assets (generated) -------------------------------------------------- */

struct dash_asset {
	const char *path;		/* "/app.js" */
	const unsigned char *data;
	size_t len;
	const char *type;		/* Content-Type, with charset for text */
	const char *etag;		/* quoted */
};
extern const struct dash_asset dash_assets[];
extern const size_t dash_assets_len;
const struct dash_asset *dash_asset_find(const char *path);

/* ---- the server ---------------------------------------------------------- */

struct dash_session {
	char id[65];			/* hex; "" for a free slot */
	char csrf[65];
	uint64_t expires_mono;
};

struct dashboard {
	char *db_path;
	struct store *store;
	struct dashboard_provider provider;
	int has_provider;
	struct MHD_Daemon *mhd;
	unsigned port;
	char url[96];
	int loopback;			/* bound to a loopback address */

	/* auth.c */
	int auth_required;
	char token[DASH_TOKEN_MAX + 1];
	size_t token_len;
	char open_csrf[65];		/* CSRF token when there is no login */
	pthread_mutex_t smu;		/* sessions and the login limiter */
	struct dash_session sessions[DASH_SESSIONS_MAX];
	uint64_t login_minute;		/* monotonic minute of the failures */
	unsigned login_fails;

	/* countries of remote addresses, shared by requests (agg.c): an
	 * address's country does not change from one poll to the next */
	pthread_mutex_t ccmu;
	struct dash_cc {
		uint8_t ip[16];
		char country[4];
		uint8_t used;
		uint64_t expires_mono;
	} *cc;				/* DASH_CC_SLOTS, or NULL */
	uint32_t cc_used;
	uint8_t cc_key[16];

	/* reader pool */
	pthread_mutex_t rmu;
	pthread_cond_t rcv;
	struct store_reader *readers[DASH_READERS_MAX];
	uint8_t busy[DASH_READERS_MAX];
	unsigned nreaders;		/* slots in use: threads + 2 */

	/* counters */
	_Atomic uint64_t requests, st2, st3, st4, st5;
	_Atomic uint64_t auth_failures, csrf_rejected;
	_Atomic uint64_t reader_waits, reader_timeouts;
	_Atomic uint64_t exports, export_rows, connections;
	_Atomic uint64_t lat_bucket[8];	/* handler time: see server.c */
	_Atomic uint64_t lat_sum_us, lat_count;
	uint64_t started_ns, started_mono;
};

enum dash_auth { DASH_AUTH_NONE, DASH_AUTH_OPEN, DASH_AUTH_BEARER,
		 DASH_AUTH_SESSION };

/* One request, from the URI callback to the completion callback. */
struct dash_req {
	struct dashboard *d;
	struct MHD_Connection *c;
	const char *url;		/* decoded path, borrowed from MHD */
	const char *method;
	size_t uri_len;			/* raw request target */
	int head, post;
	int started;			/* first handler call done */
	int bad_target;			/* encoded control characters */
	struct ew_buf body;		/* POST body, DASH_BODY_MAX */
	int body_toobig;
	enum dash_auth auth;
	char csrf[65];			/* the token this client must send */
	uint64_t t0_mono;
};

/* server.c: answering.  Each takes over `b` (its data is freed by MHD);
 * every response gets the security headers.  MHD_YES/MHD_NO as MHD wants. */
enum MHD_Result dash_send(struct dash_req *q, unsigned status,
			  const char *ctype, struct ew_buf *b,
			  const char *cache);
enum MHD_Result dash_send_json(struct dash_req *q, unsigned status,
			       struct ew_buf *b);
enum MHD_Result dash_send_text(struct dash_req *q, unsigned status,
			       const char *ctype, const char *text);
/* {"error": msg} with `status`. */
enum MHD_Result dash_error(struct dash_req *q, unsigned status,
			   const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with extra headers: name/value pairs, NULL-terminated. */
enum MHD_Result dash_send_hdrs(struct dash_req *q, unsigned status,
			       const char *ctype, struct ew_buf *b,
			       const char *cache, const char *const *hdrs);
void dash_add_security_headers(struct MHD_Response *r, const char *cache);
void dash_count_status(struct dashboard *d, unsigned status);

/* A reader from the pool (waits up to DASH_READER_WAIT_MS); NULL with a 503
 * already sent when none became free or the database cannot be opened. */
struct store_reader *dash_reader_get(struct dash_req *q, enum MHD_Result *ret);
void dash_reader_put(struct dashboard *d, struct store_reader *r);
/* The same without a request (streams, metrics); NULL on time-out. */
struct store_reader *dash_reader_acquire(struct dashboard *d, char *err,
					 size_t errlen);

/* Upper bounds (microseconds, the last UINT64_MAX) of lat_bucket[]. */
const uint64_t *dash_latency_bounds(size_t *n);

/* A new response buffer with the response cap. */
void dash_buf(struct ew_buf *b);

/* ---- auth.c ------------------------------------------------------------- */

int dash_auth_init(struct dashboard *d, const char *token_file, char *err,
		   size_t errlen);
/* Decide who the client is (sets q->auth and q->csrf).  Returns 1 when the
 * request may go on, 0 when it was answered (401, redirect, bad Host). */
int dash_auth_check(struct dash_req *q, enum MHD_Result *ret);
/* For mutating requests: Origin/Sec-Fetch-Site and the CSRF header.  1 ok,
 * 0 answered with 403. */
int dash_csrf_check(struct dash_req *q, enum MHD_Result *ret);
/* A path that needs no authentication (login, health check, assets). */
int dash_path_is_public(const char *path);
enum MHD_Result dash_login_post(struct dash_req *q);
enum MHD_Result dash_logout_post(struct dash_req *q);
enum MHD_Result dash_session_get(struct dash_req *q);
/* Constant-time equality of two byte strings of possibly unequal length. */
int dash_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* ---- params.c ------------------------------------------------------------- */

/* The value of query parameter `name` (decoded by MHD), or NULL when it is
 * absent or empty.  Values are bounded by the request target's cap. */
const char *dash_arg(struct dash_req *q, const char *name);

struct dash_window {
	uint64_t since_ns, until_ns;
};
/* since/until parameters (RFC 3339, Unix seconds, or "-2h"); default: the
 * `default_ns` before until (until defaults to now).  max_ns 0: no cap.
 * 0, or -EINVAL with `msg` set. */
int dash_window(struct dash_req *q, uint64_t default_ns, uint64_t max_ns,
		struct dash_window *w, char *msg, size_t msglen);
/* An unsigned decimal parameter within [min, max]; absent: `def`.  0 or
 * -EINVAL with `msg`. */
int dash_uint(struct dash_req *q, const char *name, uint64_t min,
	      uint64_t max, uint64_t def, uint64_t *out, char *msg,
	      size_t msglen);
/* A cursor "<prefix>.<hex>.<hex>", as dash_cursor_fmt writes it. */
int dash_cursor_parse(const char *s, char prefix, uint64_t *key,
		      uint64_t *id);
void dash_cursor_fmt(char out[48], char prefix, uint64_t key, uint64_t id);
/* A name filter: substring, or a glob when it has '*' or '?'; written as a
 * LIKE pattern with '\' escapes into `out`.  0 or -EINVAL. */
int dash_name_pattern(const char *s, char *out, size_t outlen);
/* Workload reference "namespace/name" or "name": each part printable,
 * without control characters; 0 or -EINVAL. */
int dash_workload_valid(const char *s);
/* Percent-decode a path segment in place; -EINVAL for bad escapes or NUL. */
int dash_unescape(char *s);

/* JSON pieces: a time as an RFC 3339 string (0: null), an address. */
void dash_json_time(struct ew_buf *b, uint64_t ns);
void dash_json_ip(struct ew_buf *b, const uint8_t ip[16]);
/* A workload reference as a JSON string, "" (unknown) as null. */
void dash_json_workload(struct ew_buf *b, const char *ref);

/* What is known of remote addresses, cached for one request: list views
 * look the same few addresses up again and again. */
#define DASH_IPCACHE_SLOTS 2048
struct dash_ipcache {
	struct store_reader *r;
	uint8_t key[16];		/* SipHash key, random per request */
	uint32_t used;
	struct dash_ipcache_slot {
		uint8_t ip[16];
		uint8_t full;
		struct store_ip_info info;
	} *slots;			/* DASH_IPCACHE_SLOTS, or NULL */
};
void dash_ipcache_init(struct dash_ipcache *c, struct store_reader *r);
void dash_ipcache_free(struct dash_ipcache *c);
/* Look up, in one batch, those of `ips` not cached yet (as many as fit). */
void dash_ipcache_prefetch(struct dash_ipcache *c, const uint8_t (*ips)[16],
			   size_t n);
/* Never fails: an unknown address, or a failed lookup, is all empty. */
const struct store_ip_info *dash_ipcache_get(struct dash_ipcache *c,
					     const uint8_t ip[16],
					     struct store_ip_info *scratch);

/* ---- agg.c: one pass over the rollups of a window ------------------------ */

enum dash_top_by {
	DASH_TOP_REMOTE,		/* egress, per remote address */
	DASH_TOP_WORKLOAD,		/* all traffic, per workload */
	DASH_TOP_PORT,			/* egress, per service port and proto */
	DASH_TOP_COUNTRY,		/* egress, per country of the remote */
};

#define DASH_AKEY_MAX 24

struct dash_aent {
	uint8_t used;
	uint8_t key[DASH_AKEY_MAX];	/* address; port (2) + proto (1); or a
					   destination: see dash_agg_dest */
	char *skey;			/* workload or country (owned) */
	uint64_t hash;
	uint32_t id;			/* workloads: number in wnames */
	uint64_t bytes_sent, bytes_received, flows;
	uint64_t packets_sent, packets_received; /* destinations only */
	uint64_t first_ns, last_ns;	/* destinations only: minutes seen */
};

struct dash_amap {
	struct dash_aent *e;
	size_t cap, n;
};

struct dash_agg {
	uint64_t since_ns, until_ns, step_ns;	/* step 0: no series */
	uint64_t first, npoints;	/* step index of point 0, points */
	uint64_t *series;		/* 5 columns of npoints: bytes sent,
					   received, packets sent, received,
					   flows started */
	struct dash_amap workloads;	/* all traffic, by workload ("" unknown) */
	struct dash_amap remotes;	/* egress, by remote address */
	struct dash_amap ports;		/* egress, by service port and proto */
	struct dash_amap countries;	/* after dash_agg_countries */
	int want_dests;			/* set before the run: */
	struct dash_amap dests;		/* by workload, remote, port, proto
					   and direction */
	char **wnames;			/* workload id -> name (owned) */
	uint32_t nw, wcap;
	uint64_t rows, bytes_sent, bytes_received, flows;
	int truncated;			/* a table was full: tops are partial */
	int countries_partial;		/* not every address was looked up */
	uint8_t sip[16];
	struct dash_aent **top;		/* scratch of dash_agg_top */
};

/* 0, -E2BIG (too many steps) or -ENOMEM. */
int dash_agg_init(struct dash_agg *a, uint64_t since_ns, uint64_t until_ns,
		  uint64_t step_ns);
/* Scan the rollups (of one workload, or all); 0 or -errno with `err`. */
int dash_agg_run(struct dash_agg *a, struct store_reader *r,
		 const char *workload, char *err, size_t errlen);
/* A destination entry as the store's row (its workload is wnames[...]). */
void dash_agg_dest(const struct dash_agg *a, const struct dash_aent *e,
		   struct store_dest *out);
/* Bytes of the remotes summed by their country (countries from the
 * dashboard's country cache, the rest looked up through `r` in a batch). */
int dash_agg_countries(struct dash_agg *a, struct dashboard *d,
		       struct store_reader *r);
/* The entries of `m`, biggest first; the array lives until the next call or
 * dash_agg_free.  Returns min(limit, entries). */
size_t dash_agg_top(struct dash_agg *a, const struct dash_amap *m,
		    size_t limit, const struct dash_aent ***out);
void dash_agg_free(struct dash_agg *a);

/* ---- api.c / stats.c ---------------------------------------------------- */

enum MHD_Result dash_api_alerts(struct dash_req *q);
enum MHD_Result dash_api_alert(struct dash_req *q, uint64_t id);
enum MHD_Result dash_api_alert_ack(struct dash_req *q, uint64_t id);
enum MHD_Result dash_api_flows(struct dash_req *q);
enum MHD_Result dash_api_workloads(struct dash_req *q);
enum MHD_Result dash_api_workload(struct dash_req *q, const char *ref);
enum MHD_Result dash_api_series(struct dash_req *q);
enum MHD_Result dash_api_top(struct dash_req *q);
enum MHD_Result dash_api_health(struct dash_req *q);
enum MHD_Result dash_api_policy(struct dash_req *q);
enum MHD_Result dash_api_overview(struct dash_req *q);
enum MHD_Result dash_metrics(struct dash_req *q);

/* ---- promjson.c ------------------------------------------------------------- */

/* Append the numbers of a health JSON object as untyped Prometheus samples.
 * 0, or -EINVAL when `json` is not an object (nothing appended). */
int dash_prom_from_json(struct ew_buf *out, const char *json, size_t len);
/* Append `s` as a Prometheus label value (quotes not included). */
void dash_prom_label(struct ew_buf *out, const char *s);

#endif
