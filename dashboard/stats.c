/*
 * stats.c - the summary views: per-step traffic series and top lists from
 * the per-minute rollups, the overview (both in one answer), capture health
 * and the policy view from the live agent's provider (or, standalone, from
 * the database alone, and saying so), and /metrics.
 *
 * Series are zero-filled on the server (at most DASH_SERIES_POINTS_MAX steps)
 * and sent as columns, ready for the chart.  The top lists and the overview
 * come from one pass over the rollups of the window (agg.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash_int.h"

#define NS_PER_MIN (60 * NS_PER_S)
#define SERIES_AUTO_POINTS 360	/* steps when the client gives none */

/* ---- series ---------------------------------------------------------------- */

struct series {
	uint64_t step_min, first, npoints;	/* bucket index of point 0 */
	uint64_t *v;				/* 5 columns of npoints */
};

static int series_cb(void *ctx, const struct store_series_point *p)
{
	struct series *s = ctx;
	uint64_t idx = p->t_ns / NS_PER_MIN / s->step_min;

	if (idx < s->first || idx - s->first >= s->npoints)
		return 0;
	idx -= s->first;
	s->v[0 * s->npoints + idx] += p->bytes_sent;
	s->v[1 * s->npoints + idx] += p->bytes_received;
	s->v[2 * s->npoints + idx] += p->packets_sent;
	s->v[3 * s->npoints + idx] += p->packets_received;
	s->v[4 * s->npoints + idx] += p->flows;
	return 0;
}

/* Choose the step: the client's (whole minutes, not too many points) or one
 * that gives about SERIES_AUTO_POINTS points. */
static int series_step(struct dash_req *q, const struct dash_window *w,
		       uint64_t *step_min, char *msg, size_t msglen)
{
	uint64_t range_min = (w->until_ns - w->since_ns + NS_PER_MIN - 1) /
			     NS_PER_MIN;
	uint64_t step_s;

	if (dash_uint(q, "step", 60, 31ull * 86400, 0, &step_s, msg, msglen))
		return -EINVAL;
	if (step_s == 0) {
		static const uint64_t nice[] = {1, 2, 5, 10, 15, 30, 60, 120,
						180, 360, 720, 1440};

		*step_min = nice[EW_ARRAY_LEN(nice) - 1];
		for (size_t i = 0; i < EW_ARRAY_LEN(nice); i++)
			if (range_min / nice[i] <= SERIES_AUTO_POINTS) {
				*step_min = nice[i];
				break;
			}
		return 0;
	}
	if (step_s % 60) {
		snprintf(msg, msglen, "step: whole minutes (seconds divisible "
			 "by 60): the rollups are per minute");
		return -EINVAL;
	}
	*step_min = step_s / 60;
	if (range_min / *step_min > DASH_SERIES_POINTS_MAX) {
		snprintf(msg, msglen, "step: more than %d points; use a larger "
			 "step", DASH_SERIES_POINTS_MAX);
		return -EINVAL;
	}
	return 0;
}

/* Append "series":{...} from columns (no leading comma). */
static void series_write(struct ew_buf *b, uint64_t step_min, uint64_t first,
			 uint64_t npoints, const uint64_t *v)
{
	static const char *cols[] = {"bytes_sent", "bytes_received",
				     "packets_sent", "packets_received",
				     "flows"};

	ew_buf_printf(b, "\"series\":{\"step\":%" PRIu64 ",\"t\":[",
		      step_min * 60);
	for (uint64_t i = 0; i < npoints; i++)
		ew_buf_printf(b, "%s%" PRIu64, i ? "," : "",
			      (first + i) * step_min * 60);
	for (size_t c = 0; c < EW_ARRAY_LEN(cols); c++) {
		ew_buf_printf(b, "],\"%s\":[", cols[c]);
		for (uint64_t i = 0; i < npoints; i++)
			ew_buf_printf(b, "%s%" PRIu64, i ? "," : "",
				      v[c * npoints + i]);
	}
	ew_buf_puts(b, "]}");
}

/* The series alone: a GROUP BY in SQLite beats reading every row out. */
static int series_json(struct store_reader *r, struct ew_buf *b,
		       const char *workload, const struct dash_window *w,
		       uint64_t step_min, char *err, size_t errlen)
{
	struct series s = {.step_min = step_min};
	uint64_t lo = w->since_ns / NS_PER_MIN / step_min;
	uint64_t hi_min = w->until_ns / NS_PER_MIN +
			  (w->until_ns % NS_PER_MIN != 0);
	uint64_t hi = (hi_min + step_min - 1) / step_min;
	int n;

	s.first = lo;
	s.npoints = hi > lo ? hi - lo : 1;
	if (s.npoints > DASH_SERIES_POINTS_MAX + 2)
		s.npoints = DASH_SERIES_POINTS_MAX + 2;
	s.v = calloc(5 * s.npoints, sizeof(*s.v));
	if (!s.v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = store_sum_series(r, workload, w->since_ns, w->until_ns,
			     step_min * NS_PER_MIN, series_cb, &s, err, errlen);
	if (n >= 0)
		series_write(b, step_min, s.first, s.npoints, s.v);
	free(s.v);
	return n < 0 ? n : 0;
}

static int workload_arg(struct dash_req *q, const char **out)
{
	*out = dash_arg(q, "workload");
	return *out && dash_workload_valid(*out) ? -EINVAL : 0;
}

enum MHD_Result dash_api_series(struct dash_req *q)
{
	struct dash_window w;
	struct store_reader *r;
	enum MHD_Result ret;
	const char *workload;
	char msg[256], err[256];
	uint64_t step_min;
	struct ew_buf b;

	if (dash_window(q, 3600 * NS_PER_S, DASH_WINDOW_MAX_NS, &w, msg,
			sizeof(msg)) ||
	    series_step(q, &w, &step_min, msg, sizeof(msg)))
		return dash_error(q, 400, "%s", msg);
	if (workload_arg(q, &workload))
		return dash_error(q, 400, "workload: expected namespace/name");
	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	dash_buf(&b);
	ew_buf_puts(&b, "{\"workload\":");
	dash_json_workload(&b, workload);
	ew_buf_puts(&b, ",\"since\":");
	dash_json_time(&b, w.since_ns);
	ew_buf_puts(&b, ",\"until\":");
	dash_json_time(&b, w.until_ns);
	ew_buf_puts(&b, ",");
	if (series_json(r, &b, workload, &w, step_min, err, sizeof(err))) {
		dash_reader_put(q->d, r);
		ew_buf_free(&b);
		return dash_error(q, 500, "%s", err);
	}
	dash_reader_put(q->d, r);
	ew_buf_puts(&b, "}\n");
	return dash_send_json(q, 200, &b);
}

/* ---- top lists ----------------------------------------------------------------- */

static void top_row(struct ew_buf *b, enum dash_top_by by,
		    const struct dash_aent *e, struct dash_ipcache *ic,
		    unsigned n)
{
	char pnum[4];

	ew_buf_puts(b, n ? ",{" : "{");
	switch (by) {
	case DASH_TOP_REMOTE: {
		struct store_ip_info scratch;
		const struct store_ip_info *info =
			dash_ipcache_get(ic, e->key, &scratch);

		ew_buf_puts(b, "\"remote_ip\":");
		dash_json_ip(b, e->key);
		ew_buf_puts(b, ",\"remote_name\":");
		ew_buf_json_str(b, info->name[0] ? info->name : NULL);
		ew_buf_puts(b, ",\"remote_country\":");
		ew_buf_json_str(b, info->country[0] ? info->country : NULL);
		if (info->asn)
			ew_buf_printf(b, ",\"remote_asn\":%" PRIu32, info->asn);
		else
			ew_buf_puts(b, ",\"remote_asn\":null");
		break;
	}
	case DASH_TOP_WORKLOAD:
		ew_buf_puts(b, "\"workload\":");
		dash_json_workload(b, e->skey);
		break;
	case DASH_TOP_PORT:
		ew_buf_printf(b, "\"port\":%u,\"proto\":\"%s\"",
			      (unsigned)(e->key[0] << 8 | e->key[1]),
			      store_proto_str(e->key[2], pnum));
		break;
	case DASH_TOP_COUNTRY:
		ew_buf_puts(b, "\"country\":");
		ew_buf_json_str(b, e->skey && e->skey[0] ? e->skey : NULL);
		break;
	}
	ew_buf_printf(b, ",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%"
		      PRIu64 ",\"flows\":%" PRIu64 "}", e->bytes_sent,
		      e->bytes_received, e->flows);
}

/* Append a top list as a JSON array (countries computed on demand). */
static void top_json(struct dashboard *d, struct dash_agg *a,
		     struct dash_ipcache *ic, struct ew_buf *b,
		     enum dash_top_by by, size_t limit)
{
	const struct dash_amap *m = by == DASH_TOP_REMOTE ? &a->remotes :
				    by == DASH_TOP_WORKLOAD ? &a->workloads :
				    by == DASH_TOP_PORT ? &a->ports :
							   &a->countries;
	const struct dash_aent **top;
	size_t n;

	if (by == DASH_TOP_COUNTRY && !a->countries.n)
		dash_agg_countries(a, d, ic->r);
	n = dash_agg_top(a, m, limit, &top);
	ew_buf_puts(b, "[");
	for (size_t i = 0; i < n; i++)
		top_row(b, by, top[i], ic, (unsigned)i);
	ew_buf_puts(b, "]");
}

enum MHD_Result dash_api_top(struct dash_req *q)
{
	static const struct { const char *name; enum dash_top_by by; } bys[] = {
		{"remote", DASH_TOP_REMOTE}, {"workload", DASH_TOP_WORKLOAD},
		{"port", DASH_TOP_PORT}, {"country", DASH_TOP_COUNTRY},
	};
	const char *by = dash_arg(q, "by"), *workload;
	struct dash_window w;
	struct dash_ipcache ic;
	struct dash_agg a;
	struct store_reader *r;
	enum MHD_Result ret;
	char msg[256], err[256];
	uint64_t limit;
	struct ew_buf b;
	size_t i;
	int rc;

	for (i = 0; by && i < EW_ARRAY_LEN(bys); i++)
		if (strcmp(by, bys[i].name) == 0)
			break;
	if (!by || i == EW_ARRAY_LEN(bys))
		return dash_error(q, 400, "by: remote, country, workload or "
				  "port");
	if (dash_window(q, 3600 * NS_PER_S, DASH_WINDOW_MAX_NS, &w, msg,
			sizeof(msg)) ||
	    dash_uint(q, "limit", 1, 1000, 10, &limit, msg, sizeof(msg)))
		return dash_error(q, 400, "%s", msg);
	if (workload_arg(q, &workload))
		return dash_error(q, 400, "workload: expected namespace/name");
	if (dash_agg_init(&a, w.since_ns, w.until_ns, 0))
		return dash_error(q, 500, "out of memory");
	if (!(r = dash_reader_get(q, &ret))) {
		dash_agg_free(&a);
		return ret;
	}
	rc = dash_agg_run(&a, r, workload, err, sizeof(err));
	if (rc) {
		dash_reader_put(q->d, r);
		dash_agg_free(&a);
		return dash_error(q, 500, "%s", err);
	}
	dash_ipcache_init(&ic, r);
	dash_buf(&b);
	ew_buf_printf(&b, "{\"by\":\"%s\",\"since\":", bys[i].name);
	dash_json_time(&b, w.since_ns);
	ew_buf_puts(&b, ",\"until\":");
	dash_json_time(&b, w.until_ns);
	ew_buf_puts(&b, ",\"rows\":");
	top_json(q->d, &a, &ic, &b, bys[i].by, limit);
	ew_buf_printf(&b, ",\"partial\":%s}\n",
		      a.truncated || a.countries_partial ? "true" : "false");
	dash_ipcache_free(&ic);
	dash_reader_put(q->d, r);
	dash_agg_free(&a);
	return dash_send_json(q, 200, &b);
}

/* ---- alerts by severity ------------------------------------------------------ */

struct sev_counts {
	uint64_t open[3], acked[3], other_open, other_acked;
};

static int sev_cb(void *ctx, const struct store_alert_count *c)
{
	struct sev_counts *s = ctx;
	static const char *names[] = {"critical", "warning", "info"};
	size_t i;

	for (i = 0; i < EW_ARRAY_LEN(names); i++)
		if (strcmp(c->severity, names[i]) == 0)
			break;
	if (i == EW_ARRAY_LEN(names)) {
		if (c->acknowledged)
			s->other_acked += c->alerts;
		else
			s->other_open += c->alerts;
	} else if (c->acknowledged) {
		s->acked[i] += c->alerts;
	} else {
		s->open[i] += c->alerts;
	}
	return 0;
}

static void sev_json(struct ew_buf *b, const struct sev_counts *s)
{
	static const char *names[] = {"critical", "warning", "info"};

	ew_buf_puts(b, "{");
	for (size_t i = 0; i < EW_ARRAY_LEN(names); i++)
		ew_buf_printf(b, "%s\"%s\":{\"open\":%" PRIu64
			      ",\"acknowledged\":%" PRIu64 "}", i ? "," : "",
			      names[i], s->open[i], s->acked[i]);
	ew_buf_printf(b, ",\"other\":{\"open\":%" PRIu64 ",\"acknowledged\":%"
		      PRIu64 "}}", s->other_open, s->other_acked);
}

struct recent {
	struct ew_buf *b;
	unsigned n;
};

static int recent_cb(void *ctx, const struct store_alert *a)
{
	struct recent *r = ctx;

	ew_buf_puts(r->b, r->n++ ? "," : "");
	store_alert_json(a, 0, r->b);
	return r->b->toobig;
}

/* ---- overview: everything the first page shows, in one answer -------------- */

enum MHD_Result dash_api_overview(struct dash_req *q)
{
	static const struct { const char *key; enum dash_top_by by; } tops[] = {
		{"top_workloads", DASH_TOP_WORKLOAD},
		{"top_remotes", DASH_TOP_REMOTE},
		{"top_countries", DASH_TOP_COUNTRY},
		{"top_ports", DASH_TOP_PORT},
	};
	struct store_alert_search recent_q = {.acknowledged = 0, .limit = 5};
	struct sev_counts sev;
	struct recent rc;
	struct dash_window w;
	struct dash_ipcache ic;
	struct dash_agg a;
	struct store_reader *r;
	enum MHD_Result ret;
	const char *workload;
	char msg[256], err[256];
	uint64_t step_min;
	struct ew_buf b;
	int n;

	if (dash_window(q, 3600 * NS_PER_S, DASH_WINDOW_MAX_NS, &w, msg,
			sizeof(msg)) ||
	    series_step(q, &w, &step_min, msg, sizeof(msg)))
		return dash_error(q, 400, "%s", msg);
	if (workload_arg(q, &workload))
		return dash_error(q, 400, "workload: expected namespace/name");
	if (dash_agg_init(&a, w.since_ns, w.until_ns, step_min * NS_PER_MIN))
		return dash_error(q, 400, "too many steps in the window");
	if (!(r = dash_reader_get(q, &ret))) {
		dash_agg_free(&a);
		return ret;
	}
	n = dash_agg_run(&a, r, workload, err, sizeof(err));
	if (n < 0) {
		dash_reader_put(q->d, r);
		dash_agg_free(&a);
		return dash_error(q, 500, "%s", err);
	}
	memset(&sev, 0, sizeof(sev));
	dash_ipcache_init(&ic, r);
	dash_buf(&b);
	ew_buf_printf(&b, "{\"mode\":\"%s\",\"since\":",
		      q->d->has_provider ? "live" : "standalone");
	dash_json_time(&b, w.since_ns);
	ew_buf_puts(&b, ",\"until\":");
	dash_json_time(&b, w.until_ns);
	ew_buf_puts(&b, ",");
	series_write(&b, step_min, a.first, a.npoints, a.series);
	for (size_t i = 0; i < EW_ARRAY_LEN(tops); i++) {
		ew_buf_printf(&b, ",\"%s\":", tops[i].key);
		top_json(q->d, &a, &ic, &b, tops[i].by, 10);
	}
	ew_buf_printf(&b, ",\"partial\":%s",
		      a.truncated || a.countries_partial ? "true" : "false");
	dash_ipcache_free(&ic);
	dash_agg_free(&a);
	n = store_count_alerts(r, w.since_ns, w.until_ns, sev_cb, &sev, err,
			       sizeof(err));
	if (n >= 0) {
		ew_buf_puts(&b, ",\"alerts_by_severity\":");
		sev_json(&b, &sev);
		/* Open alerts of all time: the window must not hide one. */
		memset(&sev, 0, sizeof(sev));
		n = store_count_alerts(r, 0, 0, sev_cb, &sev, err, sizeof(err));
	}
	if (n >= 0) {
		ew_buf_puts(&b, ",\"alerts_all_time\":");
		sev_json(&b, &sev);
		ew_buf_puts(&b, ",\"recent_alerts\":[");
		rc.b = &b;
		rc.n = 0;
		recent_q.workload = workload;
		n = store_search_alerts(r, &recent_q, recent_cb, &rc, err,
					sizeof(err));
		ew_buf_puts(&b, "]");
	}
	dash_reader_put(q->d, r);
	if (n < 0) {
		ew_buf_free(&b);
		return dash_error(q, 500, "%s", err);
	}
	ew_buf_puts(&b, "}\n");
	return dash_send_json(q, 200, &b);
}

/* ---- health ---------------------------------------------------------------------- */

/* A provider failing fails every request that asks it: log that once a
 * minute, not once a request. */
static void provider_warn(const char *what, const char *why)
{
	static _Atomic uint64_t last;
	uint64_t now = ew_mono_ns(), was = atomic_load(&last);

	if ((was && now - was < 60 * NS_PER_S) ||
	    !atomic_compare_exchange_strong(&last, &was, now))
		return;
	log_warnx("dashboard: the agent's %s: %s", what, why);
}

/* The provider's object re-encoded into `b`, or null and a note. */
static void provider_json(struct dashboard *d,
			  int (*fn)(void *ctx, struct ew_buf *out),
			  struct ew_buf *b, const char *what)
{
	struct ew_buf tmp;
	int rc;

	if (!fn) {
		ew_buf_puts(b, "null");
		return;
	}
	ew_buf_init(&tmp, DASH_PROVIDER_MAX);
	rc = fn(d->provider.ctx, &tmp);
	if (rc || tmp.toobig) {
		provider_warn(what, tmp.toobig ? "too large" : strerror(-rc));
		ew_buf_printf(b, "{\"error\":\"the agent's %s is not "
			      "available\"}", what);
	} else {
		store_json_copy_len(b, tmp.data, tmp.len);
	}
	ew_buf_free(&tmp);
}

static void db_json(struct ew_buf *b, const struct store_db_info *i,
		    const char *path)
{
	ew_buf_puts(b, "{\"path\":");
	ew_buf_json_str(b, path);
	ew_buf_puts(b, ",\"newest_flow\":");
	dash_json_time(b, i->newest_flow_ns);
	ew_buf_puts(b, ",\"oldest_flow\":");
	dash_json_time(b, i->oldest_flow_ns);
	ew_buf_printf(b, ",\"flows_max_id\":%" PRIu64 ",\"workloads\":%" PRIu64
		      ",\"alerts\":%" PRIu64 ",\"alerts_unacknowledged\":%" PRIu64
		      ",\"file_bytes\":%" PRIu64 ",\"used_bytes\":%" PRIu64 "}",
		      i->max_flow_id, i->workloads, i->alerts,
		      i->alerts_unacknowledged, i->file_bytes, i->used_bytes);
}

enum MHD_Result dash_api_health(struct dash_req *q)
{
	struct dashboard *d = q->d;
	struct dashboard_stats ds;
	struct store_db_info info;
	struct store_reader *r;
	enum MHD_Result ret;
	char err[256];
	struct ew_buf b;
	int rc;

	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	rc = store_db_info(r, &info, err, sizeof(err));
	dash_reader_put(d, r);
	if (rc)
		return dash_error(q, 500, "%s", err);
	dashboard_get_stats(d, &ds);
	dash_buf(&b);
	if (d->has_provider && d->provider.health) {
		ew_buf_puts(&b, "{\"mode\":\"live\",\"running\":true,"
			    "\"message\":\"capture is running in this "
			    "process\",\"agent\":");
		provider_json(d, d->provider.health, &b, "health");
	} else {
		ew_buf_puts(&b, "{\"mode\":\"standalone\",\"running\":false,"
			    "\"message\":\"this is the standalone dashboard "
			    "over a database file: no capture runs in this "
			    "process, so there are no live counters (packets, "
			    "kernel drops, decode errors); the agent's own "
			    "dashboard (egresswatch run) has them\","
			    "\"agent\":null");
	}
	ew_buf_puts(&b, ",\"database\":");
	db_json(&b, &info, d->db_path);
	ew_buf_puts(&b, ",\"dashboard\":{\"started\":");
	dash_json_time(&b, d->started_ns);
	ew_buf_printf(&b, ",\"uptime_s\":%" PRIu64 ",\"requests\":%" PRIu64
		      ",\"connections\":%" PRIu64 ",\"auth\":\"%s\"}}\n",
		      (ew_mono_ns() - d->started_mono) / NS_PER_S, ds.requests,
		      ds.connections, d->auth_required ? "token" : "none");
	return dash_send_json(q, 200, &b);
}

/* ---- policy -------------------------------------------------------------------- */

struct rows_out {
	struct ew_buf *b;
	unsigned n;
};

static int rule_cb(void *ctx, const struct store_rule_sum *s)
{
	struct rows_out *o = ctx;
	struct ew_buf *b = o->b;

	ew_buf_puts(b, o->n++ ? ",\n{\"rule\":" : "\n{\"rule\":");
	ew_buf_json_str(b, s->rule[0] ? s->rule : NULL);
	ew_buf_puts(b, ",\"kind\":");
	ew_buf_json_str(b, s->kind);
	ew_buf_puts(b, ",\"severity\":");
	ew_buf_json_str(b, s->severity);
	ew_buf_printf(b, ",\"alerts\":%" PRIu64 ",\"hits\":%" PRIu64
		      ",\"bytes_sent\":%" PRIu64 ",\"unacknowledged\":%" PRIu64,
		      s->alerts, s->hits, s->bytes_sent, s->unacknowledged);
	ew_buf_puts(b, ",\"first_seen\":");
	dash_json_time(b, s->first_ns);
	ew_buf_puts(b, ",\"last_seen\":");
	dash_json_time(b, s->last_ns);
	ew_buf_puts(b, "}");
	return b->toobig;
}

static int verdict_cb(void *ctx, const struct store_verdict_sum *s)
{
	struct rows_out *o = ctx;
	struct ew_buf *b = o->b;

	ew_buf_puts(b, o->n++ ? ",{\"verdict\":" : "{\"verdict\":");
	ew_buf_json_str(b, s->verdict[0] ? s->verdict : NULL);
	ew_buf_printf(b, ",\"flows\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
		      ",\"bytes_received\":%" PRIu64 "}", s->flows,
		      s->bytes_sent, s->bytes_received);
	return b->toobig;
}

enum MHD_Result dash_api_policy(struct dash_req *q)
{
	struct dashboard *d = q->d;
	struct dash_window w;
	struct store_reader *r;
	struct rows_out o = {0};
	enum MHD_Result ret;
	char msg[256], err[256];
	struct ew_buf b;
	int n;

	if (dash_window(q, 3600 * NS_PER_S, DASH_WINDOW_MAX_NS, &w, msg,
			sizeof(msg)))
		return dash_error(q, 400, "%s", msg);
	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	dash_buf(&b);
	o.b = &b;
	if (d->has_provider && d->provider.policy) {
		ew_buf_puts(&b, "{\"mode\":\"live\",\"source\":\"agent\","
			    "\"policy\":");
		provider_json(d, d->provider.policy, &b, "policy");
	} else {
		ew_buf_printf(&b, "{\"mode\":\"%s\",\"source\":\"database\","
			      "\"message\":\"%s\",\"policy\":null",
			      d->has_provider ? "live" : "standalone",
			      "the loaded rules are known to the running agent "
			      "only; shown here: the rules named by stored "
			      "alerts and the verdicts of stored flows");
	}
	ew_buf_puts(&b, ",\"since\":");
	dash_json_time(&b, w.since_ns);
	ew_buf_puts(&b, ",\"until\":");
	dash_json_time(&b, w.until_ns);
	ew_buf_puts(&b, ",\"rules\":[");
	n = store_sum_alert_rules(r, w.since_ns, w.until_ns, rule_cb, &o, err,
				  sizeof(err));
	if (n >= 0) {
		ew_buf_puts(&b, "\n],\"verdicts\":[");
		o.n = 0;
		n = store_sum_verdicts(r, w.since_ns, w.until_ns, verdict_cb,
				       &o, err, sizeof(err));
	}
	dash_reader_put(d, r);
	if (n < 0) {
		ew_buf_free(&b);
		return dash_error(q, 500, "%s", err);
	}
	ew_buf_puts(&b, "]}\n");
	return dash_send_json(q, 200, &b);
}

/* ---- /metrics -------------------------------------------------------------------- */

static void prom(struct ew_buf *b, const char *name, const char *type,
		 const char *help)
{
	ew_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct alert_metrics {
	struct ew_buf *b;
	int occurrences;
};

static int alert_metric_cb(void *ctx, const struct store_alert_count *c)
{
	struct alert_metrics *m = ctx;

	ew_buf_printf(m->b, "%s{severity=\"",
		      m->occurrences ? "egresswatch_db_alert_occurrences" :
				       "egresswatch_db_alerts");
	dash_prom_label(m->b, c->severity);
	ew_buf_puts(m->b, "\",kind=\"");
	dash_prom_label(m->b, c->kind);
	ew_buf_printf(m->b, "\",acknowledged=\"%s\"} %" PRIu64 "\n",
		      c->acknowledged ? "true" : "false",
		      m->occurrences ? c->occurrences : c->alerts);
	return 0;
}

enum MHD_Result dash_metrics(struct dash_req *q)
{
	struct dashboard *d = q->d;
	struct dashboard_stats ds;
	struct store_db_info info;
	struct alert_metrics am;
	struct store_reader *r;
	enum MHD_Result ret;
	const uint64_t *le;
	char err[256];
	struct ew_buf b;
	size_t nle;
	int rc;

	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	dash_buf(&b);
	rc = store_db_info(r, &info, err, sizeof(err));
	if (rc == 0) {
		prom(&b, "egresswatch_db_newest_flow_timestamp_seconds", "gauge",
		     "End of the newest flow in the database.");
		ew_buf_printf(&b, "egresswatch_db_newest_flow_timestamp_seconds"
			      " %" PRIu64 "\n", info.newest_flow_ns / NS_PER_S);
		prom(&b, "egresswatch_db_oldest_flow_timestamp_seconds", "gauge",
		     "Start of the oldest flow in the database.");
		ew_buf_printf(&b, "egresswatch_db_oldest_flow_timestamp_seconds"
			      " %" PRIu64 "\n", info.oldest_flow_ns / NS_PER_S);
		prom(&b, "egresswatch_db_flow_id_max", "gauge",
		     "Highest flow id stored (grows with the flows written).");
		ew_buf_printf(&b, "egresswatch_db_flow_id_max %" PRIu64 "\n",
			      info.max_flow_id);
		prom(&b, "egresswatch_db_workloads", "gauge",
		     "Workloads known to the database.");
		ew_buf_printf(&b, "egresswatch_db_workloads %" PRIu64 "\n",
			      info.workloads);
		prom(&b, "egresswatch_db_file_bytes", "gauge",
		     "Size of the database file (without the WAL).");
		ew_buf_printf(&b, "egresswatch_db_file_bytes %" PRIu64 "\n",
			      info.file_bytes);
		prom(&b, "egresswatch_db_used_bytes", "gauge",
		     "Bytes of the database file in use.");
		ew_buf_printf(&b, "egresswatch_db_used_bytes %" PRIu64 "\n",
			      info.used_bytes);
		prom(&b, "egresswatch_db_alerts", "gauge",
		     "Alert rows by severity, detector and acknowledgement.");
		am.b = &b;
		am.occurrences = 0;
		rc = store_count_alerts(r, 0, 0, alert_metric_cb, &am, err,
					sizeof(err));
	}
	if (rc >= 0) {
		prom(&b, "egresswatch_db_alert_occurrences", "gauge",
		     "Occurrences (sum of counts) of the alert rows.");
		am.occurrences = 1;
		rc = store_count_alerts(r, 0, 0, alert_metric_cb, &am, err,
					sizeof(err));
	}
	dash_reader_put(d, r);
	if (rc < 0) {
		ew_buf_free(&b);
		return dash_error(q, 500, "%s", err);
	}

	dashboard_get_stats(d, &ds);
	prom(&b, "egresswatch_agent_running", "gauge",
	     "1 when capture runs in this process (live), 0 standalone.");
	ew_buf_printf(&b, "egresswatch_agent_running %d\n", d->has_provider);
	prom(&b, "egresswatch_dashboard_requests_total", "counter",
	     "HTTP requests answered, by status class.");
	ew_buf_printf(&b, "egresswatch_dashboard_requests_total{code=\"2xx\"} %"
		      PRIu64 "\negresswatch_dashboard_requests_total{code="
		      "\"3xx\"} %" PRIu64 "\negresswatch_dashboard_requests_"
		      "total{code=\"4xx\"} %" PRIu64 "\negresswatch_dashboard_"
		      "requests_total{code=\"5xx\"} %" PRIu64 "\n",
		      ds.status_2xx, ds.status_3xx, ds.status_4xx,
		      ds.status_5xx);
	prom(&b, "egresswatch_dashboard_request_duration_seconds", "histogram",
	     "Time from request line to the end of the response.");
	le = dash_latency_bounds(&nle);
	uint64_t cum = 0;
	for (size_t i = 0; i < nle; i++) {
		cum += atomic_load(&d->lat_bucket[i]);
		if (le[i] == UINT64_MAX)
			ew_buf_printf(&b, "egresswatch_dashboard_request_duration"
				      "_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
				      cum);
		else
			ew_buf_printf(&b, "egresswatch_dashboard_request_duration"
				      "_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				      (double)le[i] / 1e6, cum);
	}
	ew_buf_printf(&b, "egresswatch_dashboard_request_duration_seconds_sum"
		      " %.6f\negresswatch_dashboard_request_duration_seconds"
		      "_count %" PRIu64 "\n",
		      (double)atomic_load(&d->lat_sum_us) / 1e6,
		      atomic_load(&d->lat_count));
	static const struct { const char *name, *type, *help; } dm[] = {
		{"egresswatch_dashboard_connections", "gauge",
		 "HTTP connections open now."},
		{"egresswatch_dashboard_auth_failures_total", "counter",
		 "Requests refused for want of authentication, and failed "
		 "logins."},
		{"egresswatch_dashboard_csrf_rejected_total", "counter",
		 "Requests refused by the cross-site checks."},
		{"egresswatch_dashboard_db_waits_total", "counter",
		 "Requests that waited for a database connection."},
		{"egresswatch_dashboard_db_wait_timeouts_total", "counter",
		 "Requests answered 503 after waiting for a connection."},
		{"egresswatch_dashboard_exports_total", "counter",
		 "Flow exports started."},
		{"egresswatch_dashboard_export_rows_total", "counter",
		 "Flow rows sent by exports."},
	};
	uint64_t dv[] = {ds.connections, ds.auth_failures, ds.csrf_rejected,
			 ds.reader_waits, ds.reader_timeouts, ds.exports,
			 ds.export_rows};
	for (size_t i = 0; i < EW_ARRAY_LEN(dm); i++) {
		prom(&b, dm[i].name, dm[i].type, dm[i].help);
		ew_buf_printf(&b, "%s %" PRIu64 "\n", dm[i].name, dv[i]);
	}

	if (d->has_provider && d->provider.metrics) {
		struct ew_buf tmp;

		ew_buf_init(&tmp, DASH_PROVIDER_MAX);
		rc = d->provider.metrics(d->provider.ctx, &tmp);
		if (rc == 0 && !tmp.toobig)
			ew_buf_append(&b, tmp.data, tmp.len);
		else
			provider_warn("metrics", tmp.toobig ? "too large" :
				      strerror(-rc));
		ew_buf_free(&tmp);
	} else if (d->has_provider && d->provider.health) {
		struct ew_buf tmp;

		ew_buf_init(&tmp, DASH_PROVIDER_MAX);
		rc = d->provider.health(d->provider.ctx, &tmp);
		if (rc == 0 && !tmp.toobig && tmp.len) {
			if (dash_prom_from_json(&b, tmp.data, tmp.len) < 0)
				provider_warn("health", "not a JSON object: no "
					      "agent metrics");
		} else
			provider_warn("health", tmp.toobig ? "too large" :
				      strerror(-rc));
		ew_buf_free(&tmp);
	}
	return dash_send(q, 200, "text/plain; version=0.0.4; charset=utf-8",
			 &b, "no-store");
}
