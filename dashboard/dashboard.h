/*
 * dashboard.h - the dashboard module's whole public interface: an HTTP server
 * (libmicrohttpd) with the JSON API, /metrics, /healthz and the web UI, whose
 * files are embedded in the binary at build time.  README "HTTP API" is the
 * reference of the paths and their parameters.
 *
 * The server reads the database through read-only SQLite connections of its
 * own (a small pool shared by its threads); in WAL mode these never block the
 * writer, so a slow or hostile client costs the capture nothing.  The one
 * thing it writes is an alert acknowledgement: through the agent's store
 * when there is one, else straight into the file.
 *
 * Threads: libmicrohttpd's internal polling threads (a small pool, epoll):
 * an idle or slow client holds a socket, never a thread.  Every provider
 * callback below runs on one of those threads, possibly on several at once.
 *
 * Security: it listens on 127.0.0.1:8080 unless told otherwise, and refuses
 * to listen on any other address without a token file.  With a token, every
 * request but /healthz, /login and the static files needs it, as
 * "Authorization: Bearer TOKEN" or as the session cookie the login page
 * hands out.  Acknowledging is CSRF-protected (same-origin check and a token
 * only same-origin JavaScript can read).  Every response carries a strict
 * Content-Security-Policy and no CORS header.
 */
#ifndef EW_DASHBOARD_H
#define EW_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

struct ew_buf;
struct store;

/*
 * What the running agent shows through the dashboard.  Each callback appends
 * to `out` (bounded: a few MiB at most) and returns 0 or -errno; on error the
 * dashboard answers without that part and says so.  They are called from
 * dashboard threads, several at once, while a request waits: copy counters
 * from a snapshot, do not block.  A NULL callback leaves its part out.
 */
struct dashboard_provider {
	/*
	 * One JSON object: the agent's live state.  The object of the status
	 * file fits as it is; the UI shows "interfaces" (an array of objects
	 * with "name", "state", "received", "kernel_drops", "if_drops") as the
	 * capture table and every other member that is an object of numbers
	 * ("decode_errors", "capture", "flows", "pipeline", "store", ...) as
	 * a group of counters.
	 */
	int (*health)(void *ctx, struct ew_buf *out);
	/*
	 * Prometheus text format (0.0.4) lines, HELP/TYPE included, metric
	 * names starting with "egresswatch_".  NULL: /metrics derives untyped
	 * gauges from health() instead (egresswatch_<group>_<counter>, and
	 * egresswatch_interface_<counter>{interface="..."} per interface).
	 */
	int (*metrics)(void *ctx, struct ew_buf *out);
	/*
	 * One JSON object: {"source": "<file or description>", "mode":
	 * "enforce"|"audit", "rules": [{"name": "...", "hits": N, ...}, ...]};
	 * rule members other than name and hits are shown as they are.
	 */
	int (*policy)(void *ctx, struct ew_buf *out);
	void *ctx;		/* passed to each; outlives the dashboard */
};

struct dashboard_config {
	const char *db_path;	/* required; the agent's database */
	const char *listen;	/* "ADDR:PORT" (IPv6 as "[ADDR]:PORT"); default
				   "127.0.0.1:8080"; port 0 picks a free one */
	const char *token_file;	/* access token (first line, 16..256 bytes);
				   NULL: none, allowed on loopback only */
	struct store *store;	/* the agent's writer, for acknowledgements;
				   NULL: write them into db_path directly */
	const struct dashboard_provider *provider; /* NULL: standalone */
	unsigned threads;	/* polling threads, default 4 */
	unsigned max_connections;	/* default 1024 */
	unsigned max_per_ip;	/* connections per client address, default 64 */
	unsigned timeout_s;	/* idle connection timeout, default 30 */
};
void dashboard_config_defaults(struct dashboard_config *cfg);

struct dashboard;

/*
 * Check the configuration, open the first database reader (so that a wrong
 * path fails here, not at the first request), bind and start serving.
 * Returns NULL with `err` set: bad listen address, a non-loopback address
 * without token_file, an unreadable or too short token, no such database,
 * the address in use.  The strings of `cfg` are copied; `store` and the
 * provider's ctx are borrowed and must outlive the dashboard (stop it
 * before closing the store).  The server's threads inherit the caller's
 * signal mask: block the signals the process handles itself first.  A port
 * below 1024 needs CAP_NET_BIND_SERVICE at this call.
 */
struct dashboard *dashboard_start(const struct dashboard_config *cfg,
				  char *err, size_t errlen);
/* The port it listens on (the chosen one when cfg.listen had port 0). */
unsigned dashboard_port(const struct dashboard *d);
/* "http://ADDR:PORT/" */
const char *dashboard_url(const struct dashboard *d);

struct dashboard_stats {
	uint64_t requests;		/* answered by the handlers */
	uint64_t status_2xx, status_3xx, status_4xx, status_5xx;
	uint64_t auth_failures;		/* 401s and failed logins */
	uint64_t csrf_rejected;		/* 403s of the CSRF checks */
	uint64_t reader_waits;		/* requests that waited for a reader */
	uint64_t reader_timeouts;	/* ... and got 503 after the wait */
	uint64_t exports, export_rows;
	uint64_t connections;		/* open now */
};
void dashboard_get_stats(struct dashboard *d, struct dashboard_stats *out);

/* Stop accepting, finish or close the connections, close the readers and
 * free.  NULL is a no-op. */
void dashboard_stop(struct dashboard *d);

#endif
