/*
 * sink_webhook.c - alert webhooks: generic JSON, Slack-compatible and
 * Alertmanager v2, delivered by the sender thread (sink.c) through one
 * libcurl multi handle.
 *
 * Each webhook has its own bounded queue and delivers in order, one request
 * at a time: the head is sent, and only a 2xx answer removes it.  A failed
 * attempt (no connection within connect_timeout_ms, no complete answer
 * within timeout_ms, or an answer of 408, 429 or 5xx) is retried after a
 * back-off that doubles from backoff_min_ms up to backoff_max_ms; the alert
 * is dropped after max_attempts attempts or once it is max_age_s old, and
 * the alerts queued behind it age meanwhile (a webhook that is down for
 * long loses its oldest alerts first, counted).  Any other answer (3xx,
 * 4xx) drops the alert at once as rejected: sending the same body again
 * cannot succeed, and redirects are not followed (a webhook URL is
 * configured, not discovered).
 *
 * Webhooks never block each other: every transfer is a non-blocking easy
 * handle in the shared multi handle.  Only http and https are allowed, also
 * for redirects; the usual proxy environment variables apply.
 *
 * Bodies:
 *   json          the alert object of policy_alert_json()
 *   slack         {"text": "[CRITICAL] listen-only-egress: <message>"}
 *   alertmanager  POST <base>/api/v2/alerts (the path is added when the URL
 *                 has none) with [{"labels": {...}, "annotations": {...},
 *                 "startsAt", "endsAt", "generatorURL"}]; labels identify
 *                 the alert (alertname, severity, kind, rule, workload,
 *                 namespace, remote, port, proto, source), annotations
 *                 describe it (summary, description, dedup_key, ...).
 *                 endsAt is last_seen + endsat_s, so the alert resolves in
 *                 Alertmanager unless it fires again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "sink_int.h"

#define BODY_MAX (POLICY_EVIDENCE_MAX * 4)

struct wh_item {
	struct policy_alert a;
	uint64_t enq_ns;		/* monotonic, when queued */
	uint64_t next_ns;		/* not before (back-off) */
	uint32_t attempts;
};

struct webhook {
	char url[SINK_TARGET_MAX + 32];
	struct wh_item *ring;
	uint32_t cap, head, len;
	CURL *easy;
	struct curl_slist *hdrs;
	int busy;			/* the head is in flight */
	struct ew_buf body;
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- bodies ------------------------------------------------------------------ */

static void slack_text(const struct policy_alert *a, struct ew_buf *tmp)
{
	char sev[16];
	size_t i;

	snprintf(sev, sizeof(sev), "%s", policy_severity_name(a->severity));
	for (i = 0; sev[i]; i++)
		if (sev[i] >= 'a' && sev[i] <= 'z')
			sev[i] = (char)(sev[i] - 32);
	ew_buf_printf(tmp, "[%s] %s: %s", sev, detect_kind_name(a->kind),
		      a->message);
	if (a->rule[0])
		ew_buf_printf(tmp, " (rule %s)", a->rule);
}

/* "EgressWatchListenOnlyEgress" from "listen-only-egress". */
static void alertname(enum detect_kind k, char *out, size_t len)
{
	const char *n = detect_kind_name(k);
	size_t o = (size_t)snprintf(out, len, "EgressWatch");
	int up = 1;

	for (; *n && o + 1 < len; n++) {
		if (*n == '-') {
			up = 1;
			continue;
		}
		out[o++] = (char)(up && *n >= 'a' && *n <= 'z' ? *n - 32 : *n);
		up = 0;
	}
	out[o] = '\0';
}

static void label(struct ew_buf *b, int *first, const char *k, const char *v)
{
	if (!v || !v[0])
		return;			/* Alertmanager drops empty labels */
	ew_buf_printf(b, "%s\"%s\":", *first ? "" : ",", k);
	ew_buf_json_str(b, v);
	*first = 0;
}

static int body_alertmanager(const struct sinks *s, const struct policy_alert *a,
			     struct ew_buf *b)
{
	char name[64], t1[EW_TIME_STRLEN], t2[EW_TIME_STRLEN], ip[EW_IPSTR_MAX];
	char ns[64] = "", port[8] = "", num[32];
	const char *slash = strchr(a->workload, '/');
	const char *pn = ew_proto_name(a->proto);
	int first = 1, has_ip = 0;

	for (int i = 0; i < 16; i++)
		has_ip |= a->remote_ip[i];
	alertname((enum detect_kind)a->kind, name, sizeof(name));
	if (slash && (size_t)(slash - a->workload) < sizeof(ns)) {
		memcpy(ns, a->workload, (size_t)(slash - a->workload));
		ns[slash - a->workload] = '\0';
	}
	ew_fmt_time(a->first_seen_ns, t1);
	ew_fmt_time(a->last_seen_ns + s->cfg.endsat_s * 1000000000ull, t2);
	ew_buf_puts(b, "[{\"labels\":{");
	label(b, &first, "alertname", name);
	label(b, &first, "severity", policy_severity_name(a->severity));
	label(b, &first, "kind", detect_kind_name(a->kind));
	label(b, &first, "rule", a->rule);
	label(b, &first, "workload", a->workload);
	label(b, &first, "namespace", ns);
	if (has_ip) {
		ew_ip_to_str(a->remote_ip, ip);
		label(b, &first, "remote", ip);
		if (a->remote_port) {
			snprintf(port, sizeof(port), "%u", a->remote_port);
			label(b, &first, "port", port);
		}
		label(b, &first, "proto", pn);
	} else {
		label(b, &first, "remote", a->remote_name);
	}
	label(b, &first, "source", "egresswatch");
	ew_buf_puts(b, "},\"annotations\":{");
	first = 1;
	label(b, &first, "summary", a->message);
	label(b, &first, "description", a->message);
	label(b, &first, "dedup_key", a->dedup_key);
	label(b, &first, "remote_name", a->remote_name);
	label(b, &first, "remote_country", a->remote_country);
	if (a->remote_asn) {
		snprintf(num, sizeof(num), "AS%u", a->remote_asn);
		label(b, &first, "remote_asn", num);
	}
	if (a->bytes_sent) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)a->bytes_sent);
		label(b, &first, "bytes_sent", num);
	}
	snprintf(num, sizeof(num), "%u", a->occurrence ? a->occurrence : 1);
	label(b, &first, "occurrence", num);
	ew_buf_printf(b, "},\"startsAt\":\"%s\",\"endsAt\":\"%s\"", t1, t2);
	if (s->generator_url[0]) {
		ew_buf_puts(b, ",\"generatorURL\":");
		ew_buf_json_str(b, s->generator_url);
	}
	ew_buf_puts(b, "}]");
	return b->toobig ? -E2BIG : 0;
}

int webhook_body(const struct sinks *s, enum sink_format fmt,
		 const struct policy_alert *a, struct ew_buf *b)
{
	ew_buf_reset(b);
	switch (fmt) {
	case SINK_FMT_SLACK: {
		struct ew_buf t;
		int rc;

		ew_buf_init(&t, POLICY_MESSAGE_MAX + 512);
		slack_text(a, &t);
		ew_buf_puts(b, "{\"text\":");
		ew_buf_json_str(b, t.data ? t.data : "");
		ew_buf_puts(b, "}");
		rc = t.toobig || b->toobig ? -E2BIG : 0;
		ew_buf_free(&t);
		return rc;
	}
	case SINK_FMT_ALERTMANAGER:
		return body_alertmanager(s, a, b);
	default:
		return policy_alert_json(a, b);
	}
}

/* ---- open and close ----------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

int webhook_open(struct sinks *s, struct sink_out *o, char *err, size_t errlen)
{
	struct webhook *w = calloc(1, sizeof(*w));
	const char *u = o->spec.target;

	if (!w)
		goto oom;
	o->wh = w;
	snprintf(w->url, sizeof(w->url), "%s", u);
	if (o->spec.format == SINK_FMT_ALERTMANAGER) {
		/* A bare "http://host:9093" or ".../" gets the API path. */
		const char *h = strstr(u, "://") + 3;
		const char *path = h + strcspn(h, "/?#");
		if (*path == '\0' || strcmp(path, "/") == 0)
			snprintf(w->url, sizeof(w->url), "%.*s/api/v2/alerts",
				 (int)(path - u), u);
	}
	w->cap = s->cfg.webhook_queue_len;
	w->ring = calloc(w->cap, sizeof(*w->ring));
	ew_buf_init(&w->body, BODY_MAX);
	w->easy = curl_easy_init();
	w->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (w->hdrs)
		w->hdrs = curl_slist_append(w->hdrs, "Expect:");
	if (!w->ring || !w->easy || !w->hdrs)
		goto oom;
	curl_easy_setopt(w->easy, CURLOPT_URL, w->url);
	curl_easy_setopt(w->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->easy, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)s->cfg.connect_timeout_ms);
	curl_easy_setopt(w->easy, CURLOPT_TIMEOUT_MS, (long)s->cfg.timeout_ms);
	curl_easy_setopt(w->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(w->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(w->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->hdrs);
	curl_easy_setopt(w->easy, CURLOPT_USERAGENT, "egresswatch");
	curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(w->easy, CURLOPT_ERRORBUFFER, w->errbuf);
	curl_easy_setopt(w->easy, CURLOPT_PRIVATE, o);
	return 0;
oom:
	snprintf(err, errlen, "webhook %s: out of memory", o->name);
	return -ENOMEM;
}

void webhook_close(struct sinks *s, struct sink_out *o)
{
	struct webhook *w = o->wh;

	if (!w)
		return;
	if (w->busy && w->easy)
		curl_multi_remove_handle(s->multi, w->easy);
	if (w->easy)
		curl_easy_cleanup(w->easy);
	curl_slist_free_all(w->hdrs);
	ew_buf_free(&w->body);
	free(w->ring);
	free(w);
	o->wh = NULL;
}

/* ---- queue ---------------------------------------------------------------------- */

void webhook_enqueue(struct sinks *s, struct sink_out *o,
		     const struct policy_alert *a)
{
	struct webhook *w = o->wh;
	struct wh_item *it;

	(void)s;
	if (w->len == w->cap) {
		atomic_fetch_add_explicit(&o->dropped_queue_full, 1, memory_order_relaxed);
		return;
	}
	it = &w->ring[(w->head + w->len) % w->cap];
	it->a = *a;
	it->enq_ns = sink_mono_ns();
	it->next_ns = 0;
	it->attempts = 0;
	w->len++;
	atomic_store_explicit(&o->pending, w->len, memory_order_relaxed);
}

static void pop(struct sink_out *o)
{
	struct webhook *w = o->wh;

	w->head = (w->head + 1) % w->cap;
	w->len--;
	atomic_store_explicit(&o->pending, w->len, memory_order_relaxed);
}

/* Drop queued alerts that are too old to be worth sending. */
static void expire(struct sinks *s, struct sink_out *o, uint64_t now)
{
	struct webhook *w = o->wh;
	uint64_t max_age = (uint64_t)s->cfg.max_age_s * 1000000000ull;

	while (w->len && !w->busy && max_age &&
	       now - w->ring[w->head].enq_ns > max_age) {
		atomic_fetch_add_explicit(&o->dropped_age, 1, memory_order_relaxed);
		pop(o);
	}
}

static void start(struct sinks *s, struct sink_out *o)
{
	struct webhook *w = o->wh;
	struct wh_item *it = &w->ring[w->head];

	if (webhook_body(s, (enum sink_format)o->spec.format, &it->a, &w->body)) {
		/* An alert whose body does not fit can never be sent. */
		atomic_fetch_add_explicit(&o->rejected, 1, memory_order_relaxed);
		pop(o);
		return;
	}
	w->errbuf[0] = '\0';
	curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, w->body.data);
	curl_easy_setopt(w->easy, CURLOPT_POSTFIELDSIZE, (long)w->body.len);
	if (curl_multi_add_handle(s->multi, w->easy) != CURLM_OK) {
		atomic_fetch_add_explicit(&o->failures, 1, memory_order_relaxed);
		sink_failed(o, "cannot start a request", SINK_RETRIED);
		it->next_ns = sink_mono_ns() + (uint64_t)s->cfg.backoff_min_ms * 1000000ull;
		return;
	}
	w->busy = 1;
	if (it->attempts)
		atomic_fetch_add_explicit(&o->retries, 1, memory_order_relaxed);
	it->attempts++;
	atomic_fetch_add_explicit(&o->attempts, 1, memory_order_relaxed);
}

long webhook_pump(struct sinks *s, uint64_t now)
{
	long wait = -1;

	for (size_t i = 0; i < s->n; i++) {
		struct sink_out *o = &s->out[i];
		struct webhook *w = o->wh;

		if (o->spec.kind != SINK_WEBHOOK || !w)
			continue;
		expire(s, o, now);
		if (w->busy || !w->len)
			continue;
		if (w->ring[w->head].next_ns > now) {
			long ms = (long)((w->ring[w->head].next_ns - now + 999999) / 1000000);
			if (wait < 0 || ms < wait)
				wait = ms;
			continue;
		}
		start(s, o);
	}
	return wait;
}

/* The head's attempt failed: retry later or give up. */
static void failed(struct sinks *s, struct sink_out *o, uint64_t now)
{
	struct webhook *w = o->wh;
	struct wh_item *it = &w->ring[w->head];
	uint64_t delay_ms = s->cfg.backoff_min_ms;

	atomic_fetch_add_explicit(&o->failures, 1, memory_order_relaxed);
	if (it->attempts >= s->cfg.max_attempts) {
		atomic_fetch_add_explicit(&o->dropped_attempts, 1, memory_order_relaxed);
		pop(o);
		return;
	}
	for (uint32_t k = 1; k < it->attempts && delay_ms < s->cfg.backoff_max_ms; k++)
		delay_ms *= 2;
	if (delay_ms > s->cfg.backoff_max_ms)
		delay_ms = s->cfg.backoff_max_ms;
	it->next_ns = now + delay_ms * 1000000ull;
}

void webhook_collect(struct sinks *s, uint64_t now)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(s->multi, &left))) {
		struct sink_out *o = NULL;
		struct webhook *w;
		long code = 0;
		char why[64];

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&o);
		curl_multi_remove_handle(s->multi, m->easy_handle);
		if (!o || !o->wh)
			continue;
		w = o->wh;
		w->busy = 0;
		if (m->data.result != CURLE_OK) {
			if (m->data.result == CURLE_OPERATION_TIMEDOUT)
				atomic_fetch_add_explicit(&o->timeouts, 1,
							  memory_order_relaxed);
			atomic_store_explicit(&o->last_status, 0, memory_order_relaxed);
			/* libcurl's messages name the host, never the path. */
			sink_failed(o, w->errbuf[0] ? w->errbuf :
				    curl_easy_strerror(m->data.result), SINK_RETRIED);
			failed(s, o, now);
			continue;
		}
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		atomic_store_explicit(&o->last_status, (int)code, memory_order_relaxed);
		snprintf(why, sizeof(why), "HTTP %ld", code);
		if (code >= 200 && code < 300) {
			atomic_fetch_add_explicit(&o->delivered, 1, memory_order_relaxed);
			pop(o);
			sink_delivered(o);
		} else if (code >= 500 || code == 408 || code == 429) {
			atomic_fetch_add_explicit(&o->http_5xx, 1, memory_order_relaxed);
			sink_failed(o, why, SINK_RETRIED);
			failed(s, o, now);
		} else {
			sink_failed(o, why, SINK_REJECTED);
			atomic_fetch_add_explicit(&o->rejected, 1, memory_order_relaxed);
			pop(o);
		}
	}
}

int webhook_idle(struct sinks *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->out[i].wh && (s->out[i].wh->len || s->out[i].wh->busy))
			return 0;
	return 1;
}

void webhook_abandon(struct sinks *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct sink_out *o = &s->out[i];
		struct webhook *w = o->wh;

		if (!w)
			continue;
		if (w->busy) {
			curl_multi_remove_handle(s->multi, w->easy);
			w->busy = 0;
		}
		atomic_fetch_add_explicit(&o->dropped_shutdown, w->len,
					  memory_order_relaxed);
		w->len = 0;
		atomic_store_explicit(&o->pending, 0, memory_order_relaxed);
	}
}
