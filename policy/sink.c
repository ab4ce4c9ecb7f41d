/*
 * sink.c - alert sinks: parsing of the --alerts-json/--syslog/--webhook flag
 * values, the bounded submit queue between the pipeline and the sender
 * thread, the sender thread itself, and the two local sinks (JSON lines on a
 * file or standard output, and syslog(3)).  Webhooks are in sink_webhook.c.
 *
 * The contract that shapes this file: sink_submit() runs on the pipeline
 * thread and must never wait for I/O.  It copies the alert into a ring under
 * a mutex that the sender thread holds only to copy one alert out, wakes the
 * sender through curl_multi_wakeup(), and returns.  A full ring drops the
 * alert and counts it.
 *
 * The sender thread does all I/O: it writes each alert to the JSON and
 * syslog sinks, hands a copy to each webhook's own queue, and drives the
 * webhooks through one curl multi handle, which runs every webhook's
 * request at the same time without blocking on any.  So one thread serves
 * all sinks, and a webhook that hangs delays nobody (its own queue fills
 * and drops, counted).  A local sink that blocks (standard output into a
 * pipe nobody reads) does hold the thread up; then the submit queue fills
 * and drops, counted - the pipeline still never waits.
 *
 * JSON lines: one object per line (policy_alert_json), each written with a
 * single write(2) on a file opened O_APPEND, so concurrent readers and
 * writers of the file never see half a line from us.  fsync policy (per
 * sink): `batch` (default) calls fdatasync once the queue is drained, so a
 * burst of alerts costs one sync; `always` after every alert; `never`
 * leaves it to the kernel.  Standard output is never synced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sink_int.h"

uint64_t sink_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sink_config_defaults(struct sink_config *c)
{
	memset(c, 0, sizeof(*c));
	c->queue_len = 256;
	c->webhook_queue_len = 256;
	c->connect_timeout_ms = 2000;
	c->timeout_ms = 5000;
	c->backoff_min_ms = 1000;
	c->backoff_max_ms = 60000;
	c->max_attempts = 8;
	c->max_age_s = 900;
	c->drain_ms = 3000;
	c->endsat_s = 3600;
}

/* ---- flag values ---------------------------------------------------------- */

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{"auth", LOG_AUTH}, {"authpriv", LOG_AUTHPRIV}, {"cron", LOG_CRON},
	{"daemon", LOG_DAEMON}, {"ftp", LOG_FTP}, {"kern", LOG_KERN},
	{"lpr", LOG_LPR}, {"mail", LOG_MAIL}, {"news", LOG_NEWS},
	{"syslog", LOG_SYSLOG}, {"user", LOG_USER}, {"uucp", LOG_UUCP},
	{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
	{"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

static const char *facility_name(int f)
{
	for (size_t i = 0; i < EW_ARRAY_LEN(facilities); i++)
		if (facilities[i].value == f)
			return facilities[i].name;
	return "?";
}

static const char *const option_keys[] = {
	"format", "fsync", "min-severity", "repeats", "facility",
};

static const char *const format_names[] = {"json", "slack", "alertmanager"};

/* Length of the option key at `p` ("format=" -> 6), or 0 if `p` does not
 * start with a known key followed by '='. */
static size_t option_at(const char *p)
{
	for (size_t i = 0; i < EW_ARRAY_LEN(option_keys); i++) {
		size_t l = strlen(option_keys[i]);
		if (strncmp(p, option_keys[i], l) == 0 && p[l] == '=')
			return l;
	}
	return 0;
}

static int parse_format(const char *v, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < EW_ARRAY_LEN(format_names); i++)
		if (strlen(format_names[i]) == n && strncmp(v, format_names[i], n) == 0) {
			*out = (uint8_t)i;
			return 0;
		}
	return -EINVAL;
}

static int parse_facility(const char *v, size_t n, int *out)
{
	for (size_t i = 0; i < EW_ARRAY_LEN(facilities); i++)
		if (strlen(facilities[i].name) == n &&
		    strncasecmp(v, facilities[i].name, n) == 0) {
			*out = facilities[i].value;
			return 0;
		}
	return -EINVAL;
}

/* "'<the value>': <what is wrong>" */
static int bad(char *err, size_t errlen, const char *v, size_t n,
	       const char *what)
{
	snprintf(err, errlen, "'%.*s': %s", (int)(n > 200 ? 200 : n), v, what);
	return -EINVAL;
}

/* One "key=value" option of length n at p. */
static int parse_option(enum sink_kind kind, const char *p, size_t n,
			struct sink_spec *o, char *err, size_t errlen)
{
	size_t kl = option_at(p);
	const char *v = p + kl + 1;
	size_t vn = kl && n > kl ? n - kl - 1 : 0;
	char tmp[16];

	if (!kl || kl >= n)
		return bad(err, errlen, p, n, "unknown option (options: format=, "
			   "fsync=, min-severity=, repeats=, facility=)");
	if (strncmp(p, "format", kl) == 0) {
		if (kind != SINK_WEBHOOK)
			return bad(err, errlen, p, n, "format= is for webhooks");
		if (parse_format(v, vn, &o->format))
			return bad(err, errlen, p, n, "format is json, slack or alertmanager");
	} else if (strncmp(p, "fsync", kl) == 0) {
		if (kind != SINK_JSON)
			return bad(err, errlen, p, n, "fsync= is for JSON files");
		if (vn == 5 && strncmp(v, "batch", 5) == 0)
			o->fsync = SINK_FSYNC_BATCH;
		else if (vn == 6 && strncmp(v, "always", 6) == 0)
			o->fsync = SINK_FSYNC_ALWAYS;
		else if (vn == 5 && strncmp(v, "never", 5) == 0)
			o->fsync = SINK_FSYNC_NEVER;
		else
			return bad(err, errlen, p, n, "fsync is batch, always or never");
	} else if (strncmp(p, "min-severity", kl) == 0) {
		enum policy_severity sev;
		if (vn >= sizeof(tmp))
			return bad(err, errlen, p, n,
				   "min-severity is info, warning or critical");
		memcpy(tmp, v, vn);
		tmp[vn] = '\0';
		if (policy_severity_parse(tmp, &sev))
			return bad(err, errlen, p, n,
				   "min-severity is info, warning or critical");
		o->min_severity = (uint8_t)sev;
	} else if (strncmp(p, "repeats", kl) == 0) {
		if ((vn == 3 && strncmp(v, "yes", 3) == 0) || (vn == 1 && v[0] == '1'))
			o->repeats = 1;
		else if ((vn == 2 && strncmp(v, "no", 2) == 0) || (vn == 1 && v[0] == '0'))
			o->repeats = 0;
		else
			return bad(err, errlen, p, n, "repeats is yes or no");
	} else {
		if (kind != SINK_SYSLOG)
			return bad(err, errlen, p, n, "facility= is for syslog");
		if (parse_facility(v, vn, &o->facility))
			return bad(err, errlen, p, n, "unknown syslog facility");
	}
	return 0;
}

static int valid_url(const char *u)
{
	const char *h;

	if (strncmp(u, "http://", 7) == 0)
		h = u + 7;
	else if (strncmp(u, "https://", 8) == 0)
		h = u + 8;
	else
		return 0;
	if (!*h || *h == '/' || *h == '?' || *h == '#')
		return 0;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

int sink_parse_spec(enum sink_kind kind, const char *arg, struct sink_spec *o,
		    char *err, size_t errlen)
{
	const char *p = arg ? arg : "", *end, *c;
	size_t tn;

	memset(o, 0, sizeof(*o));
	o->kind = (uint8_t)kind;
	o->min_severity = POLICY_SEV_INFO;
	o->facility = LOG_DAEMON;
	if (kind != SINK_JSON && kind != SINK_SYSLOG && kind != SINK_WEBHOOK) {
		snprintf(err, errlen, "unknown sink kind");
		return -EINVAL;
	}
	if (kind == SINK_WEBHOOK) {
		/* "FORMAT=URL": a format name and '=' before any "://". */
		for (size_t i = 0; i < EW_ARRAY_LEN(format_names); i++) {
			size_t l = strlen(format_names[i]);
			if (strncmp(p, format_names[i], l) == 0 && p[l] == '=') {
				o->format = (uint8_t)i;
				p += l + 1;
				break;
			}
		}
	}
	/* The target ends at the first comma that starts a known option, so
	 * commas inside a URL's query survive. */
	end = p + strlen(p);
	for (c = strchr(p, ','); c; c = strchr(c + 1, ','))
		if (option_at(c + 1)) {
			end = c;
			break;
		}
	tn = (size_t)(end - p);
	if (kind == SINK_SYSLOG && tn && !option_at(p)) {
		if (parse_facility(p, tn, &o->facility))
			return bad(err, errlen, p, tn, "unknown syslog facility "
				   "(daemon, user, local0..local7, ...)");
	} else if (kind == SINK_SYSLOG && tn) {
		end = p;		/* "facility=..." straight away */
	} else if (kind == SINK_JSON) {
		if (!tn) {
			snprintf(err, errlen, "--alerts-json needs a FILE or '-'");
			return -EINVAL;
		}
	} else if (kind == SINK_WEBHOOK) {
		if (!tn) {
			snprintf(err, errlen, "--webhook needs a URL");
			return -EINVAL;
		}
	}
	if (kind != SINK_SYSLOG) {
		if (tn >= sizeof(o->target)) {
			snprintf(err, errlen, "target longer than %zu bytes",
				 sizeof(o->target) - 1);
			return -EINVAL;
		}
		memcpy(o->target, p, tn);
		o->target[tn] = '\0';
		if (kind == SINK_WEBHOOK && !valid_url(o->target)) {
			snprintf(err, errlen, "webhook URL must be http://HOST... or "
				 "https://HOST... without spaces");
			return -EINVAL;
		}
	}
	p = *end == ',' ? end + 1 : end;
	while (*p) {
		const char *q = strchr(p, ',');
		size_t n;

		/* An option's value may itself hold commas only if no known key
		 * follows them; none of ours does. */
		n = q ? (size_t)(q - p) : strlen(p);
		if (parse_option(kind, p, n, o, err, errlen))
			return -EINVAL;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* "webhook slack https://hooks.slack.com:443": scheme, host and port only,
 * because the path and query of a webhook URL are often its secret. */
static void sink_display_name(const struct sink_spec *sp, char *out, size_t len)
{
	const char *u, *h, *e, *at;
	int https;
	char host[88];
	size_t hn;

	switch (sp->kind) {
	case SINK_JSON:
		snprintf(out, len, "json %s", strcmp(sp->target, "-") == 0 ?
						     "stdout" : sp->target);
		return;
	case SINK_SYSLOG:
		snprintf(out, len, "syslog %s", facility_name(sp->facility));
		return;
	}
	u = sp->target;
	https = strncmp(u, "https://", 8) == 0;
	h = u + (https ? 8 : 7);
	e = h + strcspn(h, "/?#");
	at = memchr(h, '@', (size_t)(e - h));
	if (at)
		h = at + 1;
	hn = (size_t)(e - h) < sizeof(host) ? (size_t)(e - h) : sizeof(host) - 1;
	memcpy(host, h, hn);
	host[hn] = '\0';
	/* Add the default port unless one is given (after "]" for IPv6). */
	{
		const char *rb = strrchr(host, ']');
		const char *colon = strrchr(rb ? rb : host, ':');
		snprintf(out, len, "webhook %s %s://%s%s", format_names[sp->format],
			 https ? "https" : "http", host,
			 colon ? "" : https ? ":443" : ":80");
	}
}

/* ---- open and close ----------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void init_curl(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int open_json(struct sink_out *o, char *err, size_t errlen)
{
	if (strcmp(o->spec.target, "-") == 0) {
		o->fd = STDOUT_FILENO;
		return 0;
	}
	o->fd = open(o->spec.target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
				    O_NOCTTY, 0640);
	if (o->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "alerts file %s: %s", o->spec.target,
			 strerror(e));
		return -e;
	}
	return 0;
}

static void close_json(struct sink_out *o)
{
	if (o->fd > STDERR_FILENO)
		close(o->fd);
	o->fd = -1;
}

static void *sender(void *arg);

struct sinks *sink_open(const struct sink_config *cfg, char *err,
			size_t errlen)
{
	struct sinks *s;
	int rc;

	if (cfg->n_specs > SINK_MAX) {
		snprintf(err, errlen, "at most %d alert sinks", SINK_MAX);
		return NULL;
	}
	if (!cfg->queue_len || !cfg->webhook_queue_len || !cfg->max_attempts ||
	    !cfg->timeout_ms || !cfg->backoff_min_ms ||
	    cfg->backoff_max_ms < cfg->backoff_min_ms) {
		snprintf(err, errlen, "alert sinks: queue lengths, attempts and "
			 "timeouts must be above 0, back-off max >= min");
		return NULL;
	}
	pthread_once(&curl_once, init_curl);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->cfg = *cfg;
	s->cfg.specs = NULL;
	s->cfg.generator_url = NULL;
	if (cfg->generator_url)
		snprintf(s->generator_url, sizeof(s->generator_url), "%s",
			 cfg->generator_url);
	/* Trailing slashes go: the paths we add start with one. */
	for (size_t l = strlen(s->generator_url); l && s->generator_url[l - 1] == '/'; l--)
		s->generator_url[l - 1] = '\0';
	s->qcap = cfg->queue_len;
	s->q = calloc(s->qcap, sizeof(*s->q));
	if (!s->q)
		goto oom_free;
	ew_buf_init(&s->line, POLICY_EVIDENCE_MAX * 4);
	pthread_mutex_init(&s->mu, NULL);
	s->multi = curl_multi_init();
	if (!s->multi)
		goto oom_free;
	for (size_t i = 0; i < cfg->n_specs; i++) {
		struct sink_out *o = &s->out[i];

		o->spec = cfg->specs[i];
		o->fd = -1;
		sink_display_name(&o->spec, o->name, sizeof(o->name));
		s->n++;
		switch (o->spec.kind) {
		case SINK_JSON:
			if ((rc = open_json(o, err, errlen)))
				goto fail;
			break;
		case SINK_SYSLOG:
			if (s->has_syslog) {
				snprintf(err, errlen, "only one syslog sink: openlog(3) "
					 "is per process");
				goto fail;
			}
			s->has_syslog = 1;
			openlog("egresswatch", LOG_PID | LOG_NDELAY, o->spec.facility);
			break;
		case SINK_WEBHOOK:
			if ((rc = webhook_open(s, o, err, errlen)))
				goto fail;
			break;
		default:
			snprintf(err, errlen, "alert sink %zu: unknown kind", i);
			goto fail;
		}
	}
	rc = pthread_create(&s->thread, NULL, sender, s);
	if (rc) {
		snprintf(err, errlen, "alert sender thread: %s", strerror(rc));
		goto fail;
	}
	s->started = 1;
	return s;
oom_free:
	snprintf(err, errlen, "alert sinks: out of memory");
fail:
	sink_close(s, NULL);
	return NULL;
oom:
	snprintf(err, errlen, "alert sinks: out of memory");
	return NULL;
}

void sink_close(struct sinks *s, struct sink_stats *final)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->closing = 1;
		pthread_mutex_unlock(&s->mu);
		curl_multi_wakeup(s->multi);
		pthread_join(s->thread, NULL);
	}
	if (final)
		sink_get_stats(s, final);
	for (size_t i = 0; i < s->n; i++) {
		struct sink_out *o = &s->out[i];
		if (o->spec.kind == SINK_JSON)
			close_json(o);
		else if (o->spec.kind == SINK_WEBHOOK)
			webhook_close(s, o);
	}
	if (s->has_syslog)
		closelog();
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->q)
		pthread_mutex_destroy(&s->mu);
	ew_buf_free(&s->line);
	free(s->q);
	free(s);
}

/* ---- the caller's side ---------------------------------------------------------- */

int sink_submit(struct sinks *s, const struct policy_alert *a)
{
	uint32_t depth;

	pthread_mutex_lock(&s->mu);
	if (s->closing) {
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add_explicit(&s->dropped_closed, 1, memory_order_relaxed);
		return -EPIPE;
	}
	if (s->qlen == s->qcap) {
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add_explicit(&s->dropped_full, 1, memory_order_relaxed);
		return -EAGAIN;
	}
	s->q[(s->qhead + s->qlen) % s->qcap] = *a;
	depth = ++s->qlen;
	pthread_mutex_unlock(&s->mu);
	atomic_fetch_add_explicit(&s->submitted, 1, memory_order_relaxed);
	if (depth > atomic_load_explicit(&s->high_water, memory_order_relaxed))
		atomic_store_explicit(&s->high_water, depth, memory_order_relaxed);
	curl_multi_wakeup(s->multi);
	return 0;
}

void sink_reopen(struct sinks *s)
{
	atomic_store(&s->reopen, 1);
	curl_multi_wakeup(s->multi);
}

void sink_get_stats(struct sinks *s, struct sink_stats *out)
{
#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
	memset(out, 0, sizeof(*out));
	out->submitted = LD(s->submitted);
	out->dropped_queue_full = LD(s->dropped_full);
	out->dropped_closed = LD(s->dropped_closed);
	out->queue_high_water = LD(s->high_water);
	pthread_mutex_lock(&s->mu);
	out->queue_depth = s->qlen;
	pthread_mutex_unlock(&s->mu);
	out->n = s->n;
	for (size_t i = 0; i < s->n; i++) {
		struct sink_out *o = &s->out[i];
		memcpy(out->sink[i].name, o->name, sizeof(o->name));
		out->sink[i].kind = o->spec.kind;
		out->sink[i].delivered = LD(o->delivered);
		out->sink[i].filtered = LD(o->filtered);
		out->sink[i].write_errors = LD(o->write_errors);
		out->sink[i].attempts = LD(o->attempts);
		out->sink[i].retries = LD(o->retries);
		out->sink[i].failures = LD(o->failures);
		out->sink[i].timeouts = LD(o->timeouts);
		out->sink[i].http_5xx = LD(o->http_5xx);
		out->sink[i].rejected = LD(o->rejected);
		out->sink[i].dropped_queue_full = LD(o->dropped_queue_full);
		out->sink[i].dropped_attempts = LD(o->dropped_attempts);
		out->sink[i].dropped_age = LD(o->dropped_age);
		out->sink[i].dropped_shutdown = LD(o->dropped_shutdown);
		out->sink[i].pending = LD(o->pending);
		out->sink[i].last_status = LD(o->last_status);
	}
#undef LD
}

/* ---- the sender thread ------------------------------------------------------------ */

/* Alerts this sink has lost for good, whatever the cause. */
static uint64_t sink_lost(struct sink_out *o)
{
	return atomic_load_explicit(&o->write_errors, memory_order_relaxed) +
	       atomic_load_explicit(&o->rejected, memory_order_relaxed) +
	       atomic_load_explicit(&o->dropped_queue_full, memory_order_relaxed) +
	       atomic_load_explicit(&o->dropped_attempts, memory_order_relaxed) +
	       atomic_load_explicit(&o->dropped_age, memory_order_relaxed);
}

void sink_failed(struct sink_out *o, const char *why, const char *then)
{
	o->fail_count++;
	if (o->failing)
		return;
	o->failing = 1;
	o->fail_count = 1;
	o->lost_before = sink_lost(o);
	log_warnx("sinks: %s: delivery failing (%s); %s", o->name, why, then);
}

void sink_delivered(struct sink_out *o)
{
	if (!o->failing)
		return;
	o->failing = 0;
	log_warnx("sinks: %s: delivering again after %llu failures; %llu "
		  "alerts lost meanwhile", o->name,
		  (unsigned long long)o->fail_count,
		  (unsigned long long)(sink_lost(o) - o->lost_before));
}

static void write_json(struct sinks *s, struct sink_out *o,
		       const struct policy_alert *a)
{
	struct ew_buf *b = &s->line;
	size_t off = 0;

	ew_buf_reset(b);
	if (policy_alert_json(a, b) || ew_buf_puts(b, "\n")) {
		atomic_fetch_add_explicit(&o->write_errors, 1, memory_order_relaxed);
		return;
	}
	if (o->fd < 0) {
		sink_failed(o, "the file is not open", SINK_LOST);
		atomic_fetch_add_explicit(&o->write_errors, 1, memory_order_relaxed);
		return;
	}
	while (off < b->len) {
		ssize_t n = write(o->fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sink_failed(o, n < 0 ? strerror(errno) : "nothing written",
				    SINK_LOST);
			atomic_fetch_add_explicit(&o->write_errors, 1,
						  memory_order_relaxed);
			return;
		}
		off += (size_t)n;
	}
	if (o->fd != STDOUT_FILENO) {
		if (o->spec.fsync == SINK_FSYNC_ALWAYS)
			fdatasync(o->fd);
		else if (o->spec.fsync == SINK_FSYNC_BATCH)
			o->dirty = 1;
	}
	atomic_fetch_add_explicit(&o->delivered, 1, memory_order_relaxed);
	sink_delivered(o);
}

static void write_syslog(struct sink_out *o, const struct policy_alert *a)
{
	static const int prio[] = {LOG_INFO, LOG_WARNING, LOG_CRIT};

	syslog(prio[a->severity <= POLICY_SEV_CRITICAL ? a->severity : 0],
	       "%s %s%s%s: %s [rule=%s key=%s%s]", policy_severity_name(a->severity),
	       detect_kind_name(a->kind), a->workload[0] ? " " : "",
	       a->workload, a->message, a->rule[0] ? a->rule : "-", a->dedup_key,
	       a->repeat ? " repeat" : "");
	atomic_fetch_add_explicit(&o->delivered, 1, memory_order_relaxed);
}

static void dispatch(struct sinks *s, const struct policy_alert *a)
{
	for (size_t i = 0; i < s->n; i++) {
		struct sink_out *o = &s->out[i];

		if (a->severity < o->spec.min_severity ||
		    (a->repeat && !o->spec.repeats)) {
			atomic_fetch_add_explicit(&o->filtered, 1, memory_order_relaxed);
			continue;
		}
		switch (o->spec.kind) {
		case SINK_JSON: write_json(s, o, a); break;
		case SINK_SYSLOG: write_syslog(o, a); break;
		case SINK_WEBHOOK: webhook_enqueue(s, o, a); break;
		}
	}
}

static void sync_files(struct sinks *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct sink_out *o = &s->out[i];
		if (o->spec.kind == SINK_JSON && o->dirty && o->fd >= 0) {
			fdatasync(o->fd);
			o->dirty = 0;
		}
	}
}

static void reopen_files(struct sinks *s)
{
	char err[256];

	for (size_t i = 0; i < s->n; i++) {
		struct sink_out *o = &s->out[i];
		if (o->spec.kind != SINK_JSON || strcmp(o->spec.target, "-") == 0)
			continue;
		if (o->dirty && o->fd >= 0)
			fdatasync(o->fd);
		o->dirty = 0;
		close_json(o);
		/* A file that cannot be reopened loses its alerts, counted as
		 * write errors, until the next reopen succeeds. */
		if (open_json(o, err, sizeof(err)))
			log_warnx("%s", err);
	}
}

/* Take one alert from the submit queue into s->cur.  1 taken, 0 empty. */
static int take(struct sinks *s, int *closing)
{
	int got = 0;

	pthread_mutex_lock(&s->mu);
	if (s->qlen) {
		s->cur = s->q[s->qhead];
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
		got = 1;
	}
	*closing = s->closing;
	pthread_mutex_unlock(&s->mu);
	return got;
}

static void *sender(void *arg)
{
	struct sinks *s = arg;
	int closing = 0, running;
	long wait_ms;

	for (;;) {
		uint64_t now;

		if (atomic_exchange(&s->reopen, 0))
			reopen_files(s);
		while (take(s, &closing))
			dispatch(s, &s->cur);
		sync_files(s);

		now = sink_mono_ns();
		if (closing && !s->drain_deadline_ns)
			s->drain_deadline_ns = now + (uint64_t)s->cfg.drain_ms * 1000000ull;
		curl_multi_perform(s->multi, &running);
		webhook_collect(s, now);
		wait_ms = webhook_pump(s, now);
		curl_multi_perform(s->multi, &running);
		webhook_collect(s, sink_mono_ns());

		if (closing) {
			if (webhook_idle(s))
				break;
			if (sink_mono_ns() >= s->drain_deadline_ns) {
				webhook_abandon(s);
				break;
			}
			if (wait_ms < 0 || wait_ms > 100)
				wait_ms = 100;
		}
		{
			long ct = -1;
			curl_multi_timeout(s->multi, &ct);
			if (ct >= 0 && (wait_ms < 0 || ct < wait_ms))
				wait_ms = ct;
		}
		if (wait_ms < 0 || wait_ms > 1000)
			wait_ms = 1000;
		curl_multi_poll(s->multi, NULL, 0, (int)wait_ms, NULL);
	}
	return NULL;
}
