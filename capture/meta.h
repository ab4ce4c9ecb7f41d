/*
 * meta.h - private to capture/: metadata sources that ask an API who runs
 * on this node and push what they learn into the attribution registry
 * (capture.h, "metadata sources").
 *
 *   meta_k8s.c     the Kubernetes API (tried first): in-cluster service
 *                  account or kubeconfig; list + watch of this node's pods
 *                  and of namespaces (labels, for namespaceSelectors)
 *   meta_docker.c  the Docker or Podman Engine API over its unix socket:
 *                  running containers, then their events
 *   meta_http.c    what both share: libcurl (one multi handle per client, so
 *                  several streams run on one thread and a stop wakes it at
 *                  once), whole-body GETs with a size cap, newline-delimited
 *                  JSON streams with a line cap, JSON parsing with a depth
 *                  cap (jansson), percent-encoding, back-off
 *   meta.c         both sources together: what `egresswatch run` starts
 *
 * Each source runs on its own thread and only ever blocks in libcurl (in
 * curl_multi_poll, which meta_http_stop() interrupts).  The registry is
 * changed through its thread-safe API only, so lookups never wait for the
 * network.  Nothing here trusts the server: every response has a size cap,
 * every JSON document a depth cap, every string copied out a length cap, and
 * a malformed or oversized answer is a counted error followed by a retry
 * with back-off, never a crash and never a hot loop.
 *
 * The first section below is what the CLI needs: it is meant to move into
 * capture.h as it is.  The rest is for the sources and their unit tests.
 */
#ifndef EW_CAPTURE_META_H
#define EW_CAPTURE_META_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "attrib.h"
#include "capture.h"
#include "util.h"

/* ==== private: shared HTTP plumbing (meta_http.c) ======================= */

#define META_LIST_MAX_BYTES (64u << 20)	/* one list page */
#define META_OBJECT_MAX_BYTES (4u << 20)	/* one object or event line */
#define META_ERROR_BODY_MAX 4096	/* kept of a non-2xx body */
#define META_JSON_MAX_DEPTH 64		/* nesting of any document */
#define META_TOKEN_MAX 16384		/* bearer token bytes */
#define META_URL_MAX 4096
#define META_ERR_MAX 256

struct meta_http_config {
	const char *base_url;		/* "https://host:port[/prefix]", or
					   "http://localhost" with a socket */
	const char *unix_socket;	/* NULL: TCP */
	const char *ca_file;		/* NULL with no ca_pem: system CAs */
	const void *ca_pem;
	size_t ca_pem_len;
	const char *cert_file, *key_file;	/* client certificate */
	const void *cert_pem, *key_pem;
	size_t cert_pem_len, key_pem_len;
	int insecure;			/* no server verification (kubeconfig
					   insecure-skip-tls-verify) */
	uint32_t connect_timeout_ms;
};

struct meta_http;

/*
 * One request.  The caller owns the struct (zero it, set on_line/ctx) and
 * keeps it in place until it is done or cancelled.
 *
 * Streams (on_line set): every newline-terminated line of a 2xx body is
 * passed to on_line, NUL-terminated, without its "\r\n"; blank lines are
 * skipped.  on_line returns 0 to go on, > 0 to end the transfer normally
 * (`stopped` gets the value), < 0 to fail it with that error (and may say
 * why in `error`, which is otherwise filled from the errno).  A line longer
 * than the cap fails the transfer with -EFBIG; a last line without newline
 * is dropped (it was cut off).  Whole-body requests collect the 2xx body in
 * `body`, -EFBIG past the cap.  A non-2xx body is kept in `body` up to
 * META_ERROR_BODY_MAX either way, for the message.
 */
struct meta_xfer {
	int (*on_line)(void *ctx, char *line, size_t len);
	void *ctx;
	/* results, valid once `done` */
	int done;
	int result;			/* 0, or -errno: see meta_http_result */
	int stopped;			/* on_line's positive return */
	long status;			/* HTTP status; 0 when none came */
	struct ew_buf body;
	char error[META_ERR_MAX];	/* why, when result < 0 */
	uint64_t started_ns;		/* monotonic */
	/* private */
	struct meta_http *h;
	void *easy;
	void *headers;			/* this request's own header list */
	int running;
	int cb_rc;
	struct ew_buf line;
	char curl_err[256];
};

/* NULL with `err` set.  Strings and blobs are copied. */
struct meta_http *meta_http_open(const struct meta_http_config *cfg,
				 char *err, size_t errlen);
/* Cancels every transfer still running.  NULL is a no-op. */
void meta_http_close(struct meta_http *h);
/* "Authorization: Bearer <token>" on requests started from now on; NULL or
 * "" removes it.  -EINVAL for a token that is not printable ASCII without
 * spaces (it would break the header), or longer than META_TOKEN_MAX. */
int meta_http_set_token(struct meta_http *h, const char *token);

/*
 * Start `x` as GET base_url + `path` (already percent-encoded).  `max` caps
 * the body (whole) or one line (stream); `timeout_ms` the whole transfer (0:
 * none).  0, or -errno with x->error set (then x->done is 1).
 */
int meta_xfer_start(struct meta_http *h, struct meta_xfer *x, const char *path,
		    size_t max, uint32_t timeout_ms);
/* The HTTP status of a transfer, also while its body is still coming (0
 * before the headers). */
long meta_xfer_status(struct meta_xfer *x);
/* Stop a running transfer (done with -ECANCELED) and free its buffers;
 * a transfer never started, or already freed, is fine. */
void meta_xfer_free(struct meta_xfer *x);

/*
 * Run transfers until one finishes, meta_http_break() is called from a
 * callback, or `timeout_ms` passes.  With no transfer running it just waits
 * (the back-off sleep of the sources).  Returns the number of transfers
 * that finished (check each one's `done`), 0 at the timeout or break, or
 * -ECANCELED once meta_http_stop() was called.
 */
int meta_http_pump(struct meta_http *h, uint32_t timeout_ms);
void meta_http_break(struct meta_http *h);
/* Ask pump and get to return -ECANCELED from now on.  Any thread. */
void meta_http_stop(struct meta_http *h);
int meta_http_stopping(struct meta_http *h);

/* Start `x` and pump until it is done (other transfers run meanwhile, and
 * their callbacks may fire).  Returns x->result: 0 for any complete answer,
 * whatever its status. */
int meta_http_get(struct meta_http *h, struct meta_xfer *x, const char *path,
		  size_t max, uint32_t timeout_ms);

/* ---- JSON ----------------------------------------------------------------- */

typedef struct json_t json_t;

/*
 * Parse one JSON document of `len` bytes: nesting deeper than
 * META_JSON_MAX_DEPTH, duplicate keys, NUL characters and trailing garbage
 * are refused before or by jansson.  0 with *out set (json_decref it), or
 * -EINVAL with `err` set ("line 3 column 7: ...").
 */
int meta_json_parse(const char *text, size_t len, json_t **out, char *err,
		    size_t errlen);
/* The deepest nesting of `text` (strings skipped), stopping early past
 * `cap`: exposed for the tests. */
unsigned meta_json_depth(const char *text, size_t len, unsigned cap);
/*
 * Copy the string at `key` of object `o` into dst[cap].  0; -ENOENT when
 * missing or null; -EINVAL when not a string; -E2BIG when it needs more than
 * cap - 1 bytes (dst is then "").  `o` may be NULL (-ENOENT).
 */
int meta_json_copy(const json_t *o, const char *key, char *dst, size_t cap);
/* The object at `key`, or NULL when missing or not an object. */
json_t *meta_json_obj(const json_t *o, const char *key);
/* The array at `key`, or NULL. */
json_t *meta_json_arr(const json_t *o, const char *key);
/* The integer at `key`, or `dflt` when missing or not an integer. */
long long meta_json_int(const json_t *o, const char *key, long long dflt);
/* 1 when `key` is true, else 0. */
int meta_json_true(const json_t *o, const char *key);
/* Add every member of object `o` whose value is a string as a label;
 * returns the number that were refused (bad syntax or no room). */
unsigned meta_json_labels(const json_t *o, struct attrib_labels *out);

/* ---- small helpers ---------------------------------------------------------- */

/* Percent-encode `s` (all but RFC 3986 unreserved characters) into dst[cap].
 * 0 or -E2BIG. */
int meta_url_escape(char *dst, size_t cap, const char *s);
/* Next back-off delay: min at first (cur 0), then doubling up to max, with
 * up to 1/4 random jitter subtracted so that agents do not retry in step. */
uint32_t meta_backoff_next(uint32_t cur, uint32_t min, uint32_t max);
/* Read a small file whole (at most max - 1 bytes, NUL-terminated).
 * 0, -errno, or -EFBIG. */
int meta_read_file(const char *path, size_t max, char **out, size_t *len);
/* Copy the message of a Kubernetes Status or engine error body, or the raw
 * body's first line, into dst[cap] (printable ASCII only). */
void meta_body_message(const struct ew_buf *body, char *dst, size_t cap);
/* Store `ip` (text) into ips[] unless ignored (attrib_ip_ignored), already
 * there, or unparsable.  1 added, 0 skipped, -ENOSPC when full. */
int meta_add_ip(uint8_t (*ips)[16], uint8_t *n, size_t cap, const char *text);
/* `kv` (cap entries) pointing into `l`; returns the count. */
size_t meta_labels_kv(const struct attrib_labels *l, struct attrib_kv *kv,
		      size_t cap);

/* First thing on a source's thread: name it (at most 15 characters) and
 * block SIGPIPE there. */
void meta_thread_init(const char *name);

/* A source's counters, under a mutex, for meta_get_stats. */
struct meta_counters {
	pthread_mutex_t mu;
	struct meta_source_stats s;
};
void meta_counters_init(struct meta_counters *c, const char *endpoint);
void meta_counters_destroy(struct meta_counters *c);
/* Count a finished request by its outcome: result < 0 or non-2xx.  Also
 * sets last_error.  Returns 1 when it was an error. */
int meta_count_xfer(struct meta_counters *c, const struct meta_xfer *x);
void meta_count_error(struct meta_counters *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* c->s.field += n, under the mutex. */
#define META_COUNT(c, field, n)                                            \
	do {                                                               \
		pthread_mutex_lock(&(c)->mu);                              \
		(c)->s.field += (n);                                       \
		pthread_mutex_unlock(&(c)->mu);                            \
	} while (0)
#define META_SET(c, field, v)                                              \
	do {                                                               \
		pthread_mutex_lock(&(c)->mu);                              \
		(c)->s.field = (v);                                        \
		pthread_mutex_unlock(&(c)->mu);                            \
	} while (0)
void meta_counters_get(struct meta_counters *c, struct meta_source_stats *out);

/* ==== private: Kubernetes (meta_k8s.c) =================================== */

#define META_KUBECONFIG_MAX_BYTES (4u << 20)
#define META_KUBECONFIG_MAX_NODES 65536
#define META_KUBECONFIG_MAX_DEPTH 32
#define META_KUBECONFIG_MAX_SCALAR (1u << 20)	/* base64 CA bundles */
#define META_PEM_MAX (768u << 10)		/* one decoded certificate/key file */
#define META_RV_MAX 128				/* resourceVersion bytes */
#define META_MAX_PAGES 2000			/* pages of one list */

/* Where the API server is and how to authenticate. */
struct meta_k8s_conn {
	char server[1024];		/* "https://host:port[/prefix]" */
	char *ca_file, *cert_file, *key_file;	/* NULL: not given */
	char *ca_pem, *cert_pem, *key_pem;	/* decoded *-data, NULL: not given */
	size_t ca_pem_len, cert_pem_len, key_pem_len;
	char *token;			/* static token, NULL: none */
	char *token_file;		/* re-read every minute, NULL: none */
	int insecure;
	char source[1200];		/* for messages: "kubeconfig PATH (context
					   C)" or "in-cluster service account" */
};
void meta_k8s_conn_free(struct meta_k8s_conn *c);

/*
 * In-cluster configuration: $KUBERNETES_SERVICE_HOST and _PORT, and in
 * `sa_dir` the token and ca.crt.  -ENOENT when any of them is missing (not
 * running in a pod), -EINVAL for a host or port that is not one, with
 * `err` set.
 */
int meta_k8s_incluster(const char *sa_dir, struct meta_k8s_conn *out,
		       char *err, size_t errlen);
/*
 * Read a kubeconfig: the current context's cluster and user.  Supported:
 * server, certificate-authority(-data), insecure-skip-tls-verify;
 * client-certificate(-data), client-key(-data), token, tokenFile.  Relative
 * paths are relative to the file's directory.  exec and auth-provider
 * plugins and basic auth are refused (-ENOTSUP): the agent does not run
 * programs named by a config file.  YAML caps above; anchors and aliases
 * are refused.  0 or -errno with `err` reading "path: message".
 */
int meta_kubeconfig_load(const char *path, struct meta_k8s_conn *out,
			 char *err, size_t errlen);

/*
 * Fill `out` from one Pod object.  0; -EINVAL when uid, namespace or name
 * is missing or malformed (`err` says which).  IPs, container ids, ports and
 * labels that do not parse or fit are skipped and counted in `dropped`.
 */
int meta_k8s_pod_from_json(const json_t *pod, struct meta_pod *out, char *err,
			   size_t errlen);
int meta_k8s_ns_from_json(const json_t *ns, struct meta_namespace *out,
			  char *err, size_t errlen);
/* The workload behind a pod's owner: ReplicaSet "<name>-<hash>" ->
 * Deployment "<name>" (see meta_k8s.c); anything else is itself. */
void meta_k8s_owner_resolve(const char *kind, const char *name,
			    const char *template_hash, char *wkind,
			    size_t wkind_cap, char *wname, size_t wname_cap);

struct meta_k8s;

/*
 * Resolve the configuration (kubeconfig given or in $KUBECONFIG, else the
 * service account) and start the metadata thread.  -ENOENT when neither is
 * there (`err` says so; nothing started), -EINVAL / -ENOTSUP for a
 * configuration that cannot be used, -ENOMEM.
 */
int meta_k8s_open(const struct meta_config *cfg, struct attrib *a,
		  struct meta_k8s **out, char *err, size_t errlen);
void meta_k8s_close(struct meta_k8s *k);
void meta_k8s_stats(struct meta_k8s *k, struct meta_source_stats *out);

/* ==== private: Docker / Podman (meta_docker.c) =========================== */

#define META_DOCKER_MAX_CONTAINERS 16384	/* running containers tracked */
#define META_DOCKER_QUEUE 1024			/* events waiting for inspect */

/* Fill `out` from one GET /containers/{id}/json answer.  `runtime` is
 * "docker" or "podman".  0, or -EINVAL (bad id or name) with `err` set. */
int meta_docker_from_json(const json_t *inspect, const char *runtime,
			  struct meta_container *out, char *err, size_t errlen);

struct meta_docker;

/*
 * Pick the socket (cfg->docker_socket, else the first of the defaults that
 * exists) and start the thread.  -ENOENT when there is none (`err` says
 * where it looked), -ENOMEM.
 */
int meta_docker_open(const struct meta_config *cfg, struct attrib *a,
		     struct meta_docker **out, char *err, size_t errlen);
void meta_docker_close(struct meta_docker *d);
void meta_docker_stats(struct meta_docker *d, struct meta_source_stats *out);

#endif
