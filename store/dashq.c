/*
 * dashq.c - the queries behind the dashboard: flow search with every filter
 * of the history page, alert search, per-minute series, top talkers and
 * destinations from the rollups, and the few facts /metrics and the health
 * view show.  All run on a reader (query.c); acknowledging from a process
 * without the writer is store_ack_alert_db().
 *
 * Query plans.  The dashboard's users choose the filters, so every shape is
 * built to be served by an index whatever they choose: the flow search always
 * has a time window (the caller bounds it) and walks flows_start, or
 * flows_workload_start when one workload is asked for; the other filters
 * (address range, port, name, country, verdict) are checked on the rows of
 * that walk.  Their own indices are switched off with a unary '+' on purpose:
 * without statistics the planner takes "remote_port = 443" for a selective
 * term and would sort every 443 flow of all history before the window cut.
 * The cost of a query is thus bounded by the flows of its window, never by
 * the size of the file.  store_dashq_explain() hands the plan of every shape
 * to the tests, which check that no big table is scanned.
 *
 * Statements are prepared per call: a few tens of microseconds, against
 * milliseconds for the query, and no cache to keep coherent.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "store_int.h"

#define NS_PER_MIN 60000000000ull

static sqlite3_stmt *prep(struct store_reader *r, const struct store_sql *q,
			  char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;

	if (q->overflow) {
		store_errf(err, errlen, "%s: query text too long",
			   store_reader_path(r));
		return NULL;
	}
	if (sqlite3_prepare_v2(store_reader_db(r), q->text, -1, &st, NULL) !=
	    SQLITE_OK) {
		store_errf(err, errlen, "%s: %s", store_reader_path(r),
			   sqlite3_errmsg(store_reader_db(r)));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

static int pidx(sqlite3_stmt *st, const char *name)
{
	return sqlite3_bind_parameter_index(st, name);
}

static void bind_i64(sqlite3_stmt *st, const char *name, uint64_t v)
{
	int i = pidx(st, name);

	if (i)
		sqlite3_bind_int64(st, i, store_i64(v));
}

static void bind_s64(sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = pidx(st, name);

	if (i)
		sqlite3_bind_int64(st, i, v);
}

static void bind_str(sqlite3_stmt *st, const char *name, const char *s)
{
	int i = pidx(st, name);

	if (i)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static void bind_ip(sqlite3_stmt *st, const char *name, const uint8_t ip[16])
{
	int i = pidx(st, name);

	if (i)
		sqlite3_bind_blob(st, i, ip, 16, SQLITE_STATIC);
}

static uint32_t clamp_limit(uint32_t limit)
{
	if (limit == 0)
		return STORE_QUERY_LIMIT_DEFAULT;
	return limit > STORE_QUERY_LIMIT_MAX ? STORE_QUERY_LIMIT_MAX : limit;
}

static uint64_t u64col(sqlite3_stmt *st, int i)
{
	return store_u64(sqlite3_column_int64(st, i));
}

/* Step `st` to its end or until `body` breaks; finalizes; rows or -errno. */
#define EACH_ROW(r, st, n, err, errlen, body)                                  \
	do {                                                                   \
		int rc_;                                                       \
		while ((rc_ = sqlite3_step(st)) == SQLITE_ROW) {               \
			n++;                                                   \
			body                                                   \
		}                                                              \
		if (rc_ != SQLITE_DONE && rc_ != SQLITE_ROW) {                 \
			store_errf(err, errlen, "%s: query: %s",               \
				   store_reader_path(r),                       \
				   sqlite3_errmsg(store_reader_db(r)));        \
			n = store_errno(rc_) ? store_errno(rc_) : -EIO;        \
		}                                                              \
		sqlite3_finalize(st);                                          \
	} while (0)

/* Minutes of traffic_minute overlapping [since, until). */
static uint64_t minute_lo(uint64_t ns)
{
	return ns / NS_PER_MIN;
}

static uint64_t minute_hi(uint64_t ns)
{
	return ns / NS_PER_MIN + (ns % NS_PER_MIN != 0);
}

/* ---- flow search ----------------------------------------------------------- */

/* The window clause of query.c: active in [since, until), with the start
 * bounded below by since - max_flow_ns so that it is an index range. */
#define WINDOW_SQL                                                             \
	" AND end_ns >= :since AND start_ns >= :since - coalesce((SELECT"      \
	" value FROM meta WHERE key = 'max_flow_ns'), :since)"                  \
	" AND start_ns < :until"

static void flow_search_sql(struct store_sql *q,
                            const struct store_flow_search *f)
{
	const char *key = f->sort == STORE_SORT_BYTES ?
				  "(bytes_sent + bytes_received)" :
			  f->sort == STORE_SORT_SENT ? "bytes_sent" : "start_ns";
	const char *dir = f->ascending ? " ASC" : " DESC";

	sql_add(q, 1, "SELECT " STORE_FLOW_COLUMNS " FROM flows WHERE 1");
	sql_add(q, 1, WINDOW_SQL);
	sql_add(q, f->workload && f->workload[0], " AND workload = :workload");
	sql_add(q, f->workload && !f->workload[0], " AND workload IS NULL");
	/* '/' + 1 is '0': [ns/, ns0) are the workloads of namespace ns. */
	sql_add(q, f->namespace != NULL,
	     " AND +workload >= :ns_lo AND +workload < :ns_hi");
	sql_add(q, f->has_cidr, " AND +remote_ip BETWEEN :lo AND :hi");
	sql_add(q, f->port >= 0,
	     " AND (+local_port = :port OR +remote_port = :port)");
	sql_add(q, f->remote_port >= 0, " AND +remote_port = :rport");
	sql_add(q, f->proto >= 0, " AND proto = :proto");
	sql_add(q, f->direction >= 0, " AND direction = :direction");
	sql_add(q, f->name_like != NULL,
	     " AND remote_name LIKE :name ESCAPE '\\'");
	sql_add(q, f->country && f->country[0],
	        " AND remote_country = :country");
	sql_add(q, f->country && !f->country[0], " AND remote_country IS NULL");
	sql_add(q, f->verdict && f->verdict[0], " AND verdict = :verdict");
	sql_add(q, f->verdict && !f->verdict[0], " AND verdict IS NULL");
	if (f->has_after) {
		const char *cmp = f->ascending ? ">" : "<";
		char c[256];

		snprintf(c, sizeof(c), " AND (%s %s :akey OR (%s = :akey AND"
			 " id %s :aid))", key, cmp, key, cmp);
		sql_add(q, 1, c);
	}
	sql_add(q, 1, " ORDER BY ");
	sql_add(q, 1, key);
	sql_add(q, 1, dir);
	sql_add(q, 1, ", id");
	sql_add(q, 1, dir);
	sql_add(q, 1, " LIMIT :limit");
}

int store_search_flows(struct store_reader *r,
		       const struct store_flow_search *f,
		       int (*cb)(void *ctx, const struct store_flow *row),
		       void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_flow row;
	char ns_lo[80], ns_hi[80];
	sqlite3_stmt *st;
	int n = 0;

	if (f->since_ns >= f->until_ns) {
		store_errf(err, errlen, "empty time window");
		return -EINVAL;
	}
	if (f->namespace) {
		size_t len = strlen(f->namespace);

		if (len == 0 || len > 63) {
			store_errf(err, errlen, "namespace: 1 to 63 characters");
			return -EINVAL;
		}
		snprintf(ns_lo, sizeof(ns_lo), "%s/", f->namespace);
		snprintf(ns_hi, sizeof(ns_hi), "%s0", f->namespace);
	}
	flow_search_sql(&q, f);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_i64(st, ":since", f->since_ns);
	bind_i64(st, ":until", f->until_ns);
	if (f->workload && f->workload[0])
		bind_str(st, ":workload", f->workload);
	if (f->namespace) {
		bind_str(st, ":ns_lo", ns_lo);
		bind_str(st, ":ns_hi", ns_hi);
	}
	if (f->has_cidr) {
		bind_ip(st, ":lo", f->cidr_lo);
		bind_ip(st, ":hi", f->cidr_hi);
	}
	if (f->port >= 0)
		bind_s64(st, ":port", f->port);
	if (f->remote_port >= 0)
		bind_s64(st, ":rport", f->remote_port);
	if (f->proto >= 0)
		bind_s64(st, ":proto", f->proto);
	if (f->direction >= 0)
		bind_s64(st, ":direction", f->direction);
	if (f->name_like)
		bind_str(st, ":name", f->name_like);
	if (f->country && f->country[0])
		bind_str(st, ":country", f->country);
	if (f->verdict && f->verdict[0])
		bind_str(st, ":verdict", f->verdict);
	if (f->has_after) {
		bind_i64(st, ":akey", f->after_key);
		bind_i64(st, ":aid", f->after_id);
	}
	bind_i64(st, ":limit", clamp_limit(f->limit));
	EACH_ROW(r, st, n, err, errlen, {
		store_flow_row(st, &row);
		if (cb && cb(ctx, &row))
			break;
	});
	return n;
}

/* ---- alerts --------------------------------------------------------------- */

static void alert_search_sql(struct store_sql *q,
                             const struct store_alert_search *a)
{
	sql_add(q, 1, "SELECT " STORE_ALERT_COLUMNS " FROM alerts WHERE 1");
	sql_add(q, a->id != 0, " AND id = :id");
	sql_add(q, a->since_ns != 0, " AND last_seen_ns >= :since");
	sql_add(q, a->until_ns != 0, " AND first_seen_ns < :until");
	sql_add(q, a->severity != NULL, " AND severity = :severity");
	sql_add(q, a->kind != NULL, " AND kind = :kind");
	sql_add(q, a->rule != NULL, " AND coalesce(rule, '') = :rule");
	sql_add(q, a->workload && a->workload[0], " AND workload = :workload");
	sql_add(q, a->workload && !a->workload[0], " AND workload IS NULL");
	sql_add(q, a->acknowledged >= 0, " AND acknowledged = :ack");
	sql_add(q, a->has_after, " AND (last_seen_ns < :alast OR"
	     " (last_seen_ns = :alast AND id < :aid))");
	sql_add(q, 1, " ORDER BY last_seen_ns DESC, id DESC LIMIT :limit");
}

int store_search_alerts(struct store_reader *r,
			const struct store_alert_search *a,
			int (*cb)(void *ctx, const struct store_alert *row),
			void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_alert row;
	sqlite3_stmt *st;
	int n = 0;

	alert_search_sql(&q, a);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_i64(st, ":id", a->id);
	bind_i64(st, ":since", a->since_ns);
	bind_i64(st, ":until", a->until_ns);
	if (a->severity)
		bind_str(st, ":severity", a->severity);
	if (a->kind)
		bind_str(st, ":kind", a->kind);
	if (a->rule)
		bind_str(st, ":rule", a->rule);
	if (a->workload && a->workload[0])
		bind_str(st, ":workload", a->workload);
	if (a->acknowledged >= 0)
		bind_s64(st, ":ack", a->acknowledged ? 1 : 0);
	if (a->has_after) {
		bind_i64(st, ":alast", a->after_last_ns);
		bind_i64(st, ":aid", a->after_id);
	}
	bind_i64(st, ":limit", clamp_limit(a->limit));
	EACH_ROW(r, st, n, err, errlen, {
		store_alert_row(st, &row);
		if (cb && cb(ctx, &row))
			break;
	});
	return n;
}

static const char sql_alert_counts[] =
	"SELECT severity, kind, acknowledged, count(*), sum(count),"
	" max(last_seen_ns) FROM alerts WHERE last_seen_ns >= :since"
	" AND first_seen_ns < :until GROUP BY severity, kind, acknowledged"
	" ORDER BY severity, kind, acknowledged LIMIT 10000";

int store_count_alerts(struct store_reader *r, uint64_t since_ns,
		       uint64_t until_ns,
		       int (*cb)(void *ctx, const struct store_alert_count *c),
		       void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_alert_count c;
	sqlite3_stmt *st;
	int n = 0;

	sql_add(&q, 1, sql_alert_counts);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_i64(st, ":since", since_ns);
	bind_i64(st, ":until", until_ns ? until_ns : (uint64_t)INT64_MAX);
	EACH_ROW(r, st, n, err, errlen, {
		memset(&c, 0, sizeof(c));
		store_col_text(st, 0, c.severity, sizeof(c.severity));
		store_col_text(st, 1, c.kind, sizeof(c.kind));
		c.acknowledged = sqlite3_column_int(st, 2) != 0;
		c.alerts = u64col(st, 3);
		c.occurrences = u64col(st, 4);
		c.last_seen_ns = u64col(st, 5);
		if (cb && cb(ctx, &c))
			break;
	});
	return n;
}

static const char sql_rules[] =
	"SELECT coalesce(rule, ''), kind, max(severity = 'critical'),"
	" max(severity = 'warning'), count(*), sum(count), sum(bytes_sent),"
	" min(first_seen_ns), max(last_seen_ns), sum(acknowledged = 0)"
	" FROM alerts WHERE last_seen_ns >= :since AND first_seen_ns < :until"
	" GROUP BY coalesce(rule, ''), kind ORDER BY sum(count) DESC LIMIT 1000";

int store_sum_alert_rules(struct store_reader *r, uint64_t since_ns,
			  uint64_t until_ns,
			  int (*cb)(void *ctx, const struct store_rule_sum *s),
			  void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_rule_sum s;
	sqlite3_stmt *st;
	int n = 0;

	sql_add(&q, 1, sql_rules);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_i64(st, ":since", since_ns);
	bind_i64(st, ":until", until_ns ? until_ns : (uint64_t)INT64_MAX);
	EACH_ROW(r, st, n, err, errlen, {
		memset(&s, 0, sizeof(s));
		store_col_text(st, 0, s.rule, sizeof(s.rule));
		store_col_text(st, 1, s.kind, sizeof(s.kind));
		snprintf(s.severity, sizeof(s.severity), "%s",
			 sqlite3_column_int(st, 2) ? "critical" :
			 sqlite3_column_int(st, 3) ? "warning" : "info");
		s.alerts = u64col(st, 4);
		s.hits = u64col(st, 5);
		s.bytes_sent = u64col(st, 6);
		s.first_ns = u64col(st, 7);
		s.last_ns = u64col(st, 8);
		s.unacknowledged = u64col(st, 9);
		if (cb && cb(ctx, &s))
			break;
	});
	return n;
}

/* ---- aggregates over the flows of a window --------------------------------- */

static const char sql_verdicts[] =
	"SELECT coalesce(verdict, ''), count(*), sum(bytes_sent),"
	" sum(bytes_received) FROM flows WHERE 1" WINDOW_SQL
	" GROUP BY coalesce(verdict, '') ORDER BY count(*) DESC LIMIT 100";

int store_sum_verdicts(struct store_reader *r, uint64_t since_ns,
		       uint64_t until_ns,
		       int (*cb)(void *ctx, const struct store_verdict_sum *s),
		       void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_verdict_sum s;
	sqlite3_stmt *st;
	int n = 0;

	sql_add(&q, 1, sql_verdicts);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_i64(st, ":since", since_ns);
	bind_i64(st, ":until", until_ns);
	EACH_ROW(r, st, n, err, errlen, {
		memset(&s, 0, sizeof(s));
		store_col_text(st, 0, s.verdict, sizeof(s.verdict));
		s.flows = u64col(st, 1);
		s.bytes_sent = u64col(st, 2);
		s.bytes_received = u64col(st, 3);
		if (cb && cb(ctx, &s))
			break;
	});
	return n;
}

/* ---- rollups -------------------------------------------------------------- */

/* Without statistics the planner takes the primary key's minute range for
 * as good as (workload, minute): for one workload over days it is not. */
#define BY_WORKLOAD " INDEXED BY traffic_minute_workload"

static void series_sql(struct store_sql *q, int workload)
{
	sql_add(q, 1,
	        "SELECT minute / :step, sum(bytes_sent), sum(bytes_received),"
	     " sum(packets_sent), sum(packets_received), sum(flows)"
	     " FROM traffic_minute");
	sql_add(q, workload, BY_WORKLOAD);
	sql_add(q, 1, " WHERE minute >= :lo AND minute < :hi");
	sql_add(q, workload, " AND workload = :workload");
	sql_add(q, 1, " GROUP BY minute / :step ORDER BY 1 LIMIT 100000");
}

int store_sum_series(struct store_reader *r, const char *workload,
		     uint64_t since_ns, uint64_t until_ns, uint64_t step_ns,
		     int (*cb)(void *ctx, const struct store_series_point *p),
		     void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_series_point p;
	uint64_t step_min = step_ns / NS_PER_MIN;
	sqlite3_stmt *st;
	int n = 0;

	if (step_min == 0 || step_ns % NS_PER_MIN != 0 || since_ns >= until_ns) {
		store_errf(err, errlen, "series: the step is whole minutes and "
			   "the window is not empty");
		return -EINVAL;
	}
	series_sql(&q, workload != NULL);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_i64(st, ":step", step_min);
	bind_i64(st, ":lo", minute_lo(since_ns));
	bind_i64(st, ":hi", minute_hi(until_ns));
	if (workload)
		bind_str(st, ":workload", workload);
	EACH_ROW(r, st, n, err, errlen, {
		memset(&p, 0, sizeof(p));
		p.t_ns = u64col(st, 0) * step_min * NS_PER_MIN;
		p.bytes_sent = u64col(st, 1);
		p.bytes_received = u64col(st, 2);
		p.packets_sent = u64col(st, 3);
		p.packets_received = u64col(st, 4);
		p.flows = u64col(st, 5);
		if (cb && cb(ctx, &p))
			break;
	});
	return n;
}

static void scan_sql(struct store_sql *q, int workload)
{
	sql_add(q, 1,
	        "SELECT minute, workload, remote_ip, port, proto, direction,"
	     " bytes_sent, bytes_received, packets_sent, packets_received, flows"
	     " FROM traffic_minute");
	sql_add(q, workload, BY_WORKLOAD);
	sql_add(q, 1, " WHERE minute >= :lo AND minute < :hi");
	sql_add(q, workload, " AND workload = :workload");
}

int store_scan_traffic(struct store_reader *r, const char *workload,
		       uint64_t since_ns, uint64_t until_ns,
		       int (*cb)(void *ctx, const struct store_traffic *t),
		       void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_traffic t;
	sqlite3_stmt *st;
	int n = 0;

	scan_sql(&q, workload != NULL);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_i64(st, ":lo", minute_lo(since_ns));
	bind_i64(st, ":hi", minute_hi(until_ns));
	if (workload)
		bind_str(st, ":workload", workload);
	EACH_ROW(r, st, n, err, errlen, {
		const unsigned char *w = sqlite3_column_text(st, 1);
		size_t wl = w ? (size_t)sqlite3_column_bytes(st, 1) : 0;

		/* Only what is read is written: this runs per row of a
		 * window that may hold millions. */
		t.minute_ns = u64col(st, 0) * NS_PER_MIN;
		if (wl >= sizeof(t.workload))
			wl = sizeof(t.workload) - 1;
		memcpy(t.workload, w ? (const char *)w : "", wl);
		t.workload[wl] = '\0';
		store_col_ip(st, 2, t.remote_ip);
		t.port = (uint16_t)sqlite3_column_int(st, 3);
		t.proto = (uint8_t)sqlite3_column_int(st, 4);
		t.direction = (uint8_t)sqlite3_column_int(st, 5);
		t.bytes_sent = u64col(st, 6);
		t.bytes_received = u64col(st, 7);
		t.packets_sent = u64col(st, 8);
		t.packets_received = u64col(st, 9);
		t.flows = u64col(st, 10);
		if (cb && cb(ctx, &t))
			break;
	});
	return n;
}

/* Rollups key on the service port (remote port out, local port in). */
static void dest_sql(struct store_sql *q, int workload)
{
	sql_add(q, 1, "SELECT workload, remote_ip, port, proto, direction,"
	     " sum(bytes_sent), sum(bytes_received), sum(packets_sent),"
	     " sum(packets_received), sum(flows), min(minute), max(minute)"
	     " FROM traffic_minute");
	sql_add(q, workload, BY_WORKLOAD);
	sql_add(q, 1, " WHERE minute >= :lo AND minute < :hi");
	sql_add(q, workload, " AND workload = :workload");
	sql_add(q, 1, " GROUP BY workload, remote_ip, port, proto, direction"
	     " ORDER BY sum(bytes_sent) + sum(bytes_received) DESC"
	     " LIMIT :limit");
}

int store_sum_destinations(struct store_reader *r, const char *workload,
			   uint64_t since_ns, uint64_t until_ns, uint32_t limit,
			   int (*cb)(void *ctx, const struct store_dest *d),
			   void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_dest d;
	sqlite3_stmt *st;
	int n = 0;

	dest_sql(&q, workload != NULL);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_i64(st, ":lo", minute_lo(since_ns));
	bind_i64(st, ":hi", minute_hi(until_ns));
	if (workload)
		bind_str(st, ":workload", workload);
	bind_i64(st, ":limit", clamp_limit(limit));
	EACH_ROW(r, st, n, err, errlen, {
		memset(&d, 0, sizeof(d));
		store_col_text(st, 0, d.workload, sizeof(d.workload));
		store_col_ip(st, 1, d.remote_ip);
		d.port = (uint16_t)sqlite3_column_int(st, 2);
		d.proto = (uint8_t)sqlite3_column_int(st, 3);
		d.direction = (uint8_t)sqlite3_column_int(st, 4);
		d.bytes_sent = u64col(st, 5);
		d.bytes_received = u64col(st, 6);
		d.packets_sent = u64col(st, 7);
		d.packets_received = u64col(st, 8);
		d.flows = u64col(st, 9);
		d.first_ns = u64col(st, 10) * NS_PER_MIN;
		d.last_ns = (u64col(st, 11) + 1) * NS_PER_MIN;
		if (cb && cb(ctx, &d))
			break;
	});
	return n;
}

/* ---- one address, one workload ------------------------------------------- */

static const char sql_ip_dns[] =
	"SELECT query_name FROM dns_answers WHERE workload = :workload AND"
	" address = :ip ORDER BY seen_ns DESC LIMIT 1";
/* Any one flow of the address: its country and AS number are the address's,
 * and its name the one some workload resolved. */
static const char sql_ip_flow[] =
	"SELECT remote_name, remote_country, remote_asn FROM flows"
	" WHERE remote_ip = :ip LIMIT 1";

int store_ip_info(struct store_reader *r, const uint8_t ip[16],
		  const char *workload, struct store_ip_info *out, char *err,
		  size_t errlen)
{
	struct store_sql q1 = {0}, q2 = {0};
	sqlite3_stmt *st;
	int n = 0, found = 0;

	memset(out, 0, sizeof(*out));
	if (workload) {
		sql_add(&q1, 1, sql_ip_dns);
		st = prep(r, &q1, err, errlen);
		if (!st)
			return -EINVAL;
		bind_str(st, ":workload", workload);
		bind_ip(st, ":ip", ip);
		EACH_ROW(r, st, n, err, errlen, {
			store_col_text(st, 0, out->name, sizeof(out->name));
			found = 1;
		});
		if (n < 0)
			return n;
	}
	sql_add(&q2, 1, sql_ip_flow);
	st = prep(r, &q2, err, errlen);
	if (!st)
		return -EINVAL;
	bind_ip(st, ":ip", ip);
	n = 0;
	EACH_ROW(r, st, n, err, errlen, {
		if (!out->name[0])
			store_col_text(st, 0, out->name, sizeof(out->name));
		store_col_text(st, 1, out->country, sizeof(out->country));
		out->asn = (uint32_t)sqlite3_column_int64(st, 2);
		found = 1;
	});
	if (n < 0)
		return n;
	return found;
}

int store_ip_info_batch(struct store_reader *r, const uint8_t (*ips)[16],
			size_t n, struct store_ip_info *out, char *err,
			size_t errlen)
{
	struct store_sql q = {0};
	sqlite3_stmt *st;
	int rc = 0;

	sql_add(&q, 1, sql_ip_flow);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int step;

		memset(&out[i], 0, sizeof(out[i]));
		sqlite3_bind_blob(st, 1, ips[i], 16, SQLITE_STATIC);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			store_col_text(st, 0, out[i].name, sizeof(out[i].name));
			store_col_text(st, 1, out[i].country,
				       sizeof(out[i].country));
			out[i].asn = (uint32_t)sqlite3_column_int64(st, 2);
		} else if (step != SQLITE_DONE) {
			store_errf(err, errlen, "%s: query: %s",
				   store_reader_path(r),
				   sqlite3_errmsg(store_reader_db(r)));
			rc = store_errno(step) ? store_errno(step) : -EIO;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

static const char sql_names[] =
	"SELECT query_name, max(seen_ns), count(*) FROM dns_answers"
	" WHERE workload = :workload AND address = :ip GROUP BY query_name"
	" ORDER BY 2 DESC LIMIT :limit";

int store_ip_names(struct store_reader *r, const uint8_t ip[16],
		   const char *workload, uint32_t limit,
		   int (*cb)(void *ctx, const struct store_dns_answer *d),
		   void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_dns_answer d;
	sqlite3_stmt *st;
	int n = 0;

	if (!workload)
		return store_query_dns(r, ip, NULL, limit, cb, ctx, err, errlen);
	sql_add(&q, 1, sql_names);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_str(st, ":workload", workload);
	bind_ip(st, ":ip", ip);
	bind_i64(st, ":limit", clamp_limit(limit));
	EACH_ROW(r, st, n, err, errlen, {
		memset(&d, 0, sizeof(d));
		memcpy(d.address, ip, 16);
		snprintf(d.workload, sizeof(d.workload), "%s", workload);
		store_col_text(st, 0, d.name, sizeof(d.name));
		d.seen_ns = u64col(st, 1);
		if (cb && cb(ctx, &d))
			break;
	});
	return n;
}

static const char sql_workload[] =
	"SELECT id, namespace, name, kind, runtime, container_id, pod_uid,"
	" labels, interface, ips, first_seen_ns, last_seen_ns FROM workloads"
	" WHERE namespace = :ns AND name = :name";

int store_get_workload(struct store_reader *r, const char *namespace,
		       const char *name,
		       int (*cb)(void *ctx, const struct store_workload *w),
		       void *ctx, char *err, size_t errlen)
{
	struct store_sql q = {0};
	struct store_workload w;
	sqlite3_stmt *st;
	int n = 0;

	sql_add(&q, 1, sql_workload);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_str(st, ":ns", namespace);
	bind_str(st, ":name", name);
	EACH_ROW(r, st, n, err, errlen, {
		memset(&w, 0, sizeof(w));
		w.id = u64col(st, 0);
		store_col_text(st, 1, w.namespace, sizeof(w.namespace));
		store_col_text(st, 2, w.name, sizeof(w.name));
		store_col_text(st, 3, w.kind, sizeof(w.kind));
		store_col_text(st, 4, w.runtime, sizeof(w.runtime));
		store_col_text(st, 5, w.container_id, sizeof(w.container_id));
		store_col_text(st, 6, w.pod_uid, sizeof(w.pod_uid));
		w.labels = (const char *)sqlite3_column_text(st, 7);
		store_col_text(st, 8, w.interface, sizeof(w.interface));
		w.ips = (const char *)sqlite3_column_text(st, 9);
		w.first_seen_ns = u64col(st, 10);
		w.last_seen_ns = u64col(st, 11);
		if (cb && cb(ctx, &w))
			break;
	});
	return n;
}

/* ---- facts about the file ------------------------------------------------- */

static int one_i64(struct store_reader *r, const char *sql, uint64_t *out,
		   char *err, size_t errlen)
{
	struct store_sql q = {0};
	sqlite3_stmt *st;
	int n = 0;

	sql_add(&q, 1, sql);
	st = prep(r, &q, err, errlen);
	if (!st)
		return -EINVAL;
	EACH_ROW(r, st, n, err, errlen, { *out = u64col(st, 0); });
	return n < 0 ? n : 0;
}

int store_db_info(struct store_reader *r, struct store_db_info *out,
		  char *err, size_t errlen)
{
	uint64_t pages = 0, freel = 0, psize = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = one_i64(r, STORE_SQL_NEWEST_END, &out->newest_flow_ns, err,
			  errlen)) ||
	    (rc = one_i64(r, "SELECT coalesce(min(start_ns), 0) FROM flows",
			  &out->oldest_flow_ns, err, errlen)) ||
	    (rc = one_i64(r, "SELECT coalesce(max(id), 0) FROM flows",
			  &out->max_flow_id, err, errlen)) ||
	    (rc = one_i64(r, "SELECT count(*) FROM workloads",
			  &out->workloads, err, errlen)) ||
	    (rc = one_i64(r, "SELECT count(*) FROM alerts", &out->alerts, err,
			  errlen)) ||
	    (rc = one_i64(r, "SELECT count(*) FROM alerts WHERE"
			  " acknowledged = 0", &out->alerts_unacknowledged,
			  err, errlen)) ||
	    (rc = one_i64(r, "PRAGMA page_count", &pages, err, errlen)) ||
	    (rc = one_i64(r, "PRAGMA freelist_count", &freel, err, errlen)) ||
	    (rc = one_i64(r, "PRAGMA page_size", &psize, err, errlen)))
		return rc;
	out->file_bytes = pages * psize;
	out->used_bytes = (pages > freel ? pages - freel : 0) * psize;
	return 0;
}

/* ---- acknowledging without the writer ------------------------------------- */

int store_ack_alert_db(const char *path, uint64_t id, const char *by,
		       uint64_t ack_ns, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int ret, rc, version = 0, fresh = 0;

	/* READWRITE without CREATE: never makes a file that is not there. */
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_errf(err, errlen, "%s: cannot open for writing: %s", path,
			   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		ret = store_errno(rc) ? store_errno(rc) : -EIO;
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	ret = store_db_identify(db, path, &version, &fresh, err, errlen);
	if (ret < 0)
		goto out;
	if (fresh || version != STORE_SCHEMA_VERSION) {
		store_errf(err, errlen, "%s: schema version %d, this egresswatch "
			   "writes version %d", path, version,
			   STORE_SCHEMA_VERSION);
		ret = -ENOTSUP;
		goto out;
	}
	rc = sqlite3_prepare_v2(db, "UPDATE alerts SET acknowledged = 1,"
				" ack_ns = ?2, ack_by = ?3 WHERE id = ?1", -1,
				&st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, store_i64(id));
		sqlite3_bind_int64(st, 2, store_i64(ack_ns));
		store_bind_opt_text(st, 3, by, 64);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE) {
		store_errf(err, errlen, "%s: acknowledging alert %" PRIu64
			   ": %s", path, id, sqlite3_errmsg(db));
		ret = store_errno(rc) ? store_errno(rc) : -EIO;
		goto out;
	}
	if (sqlite3_changes(db) == 0) {
		store_errf(err, errlen, "no alert %" PRIu64, id);
		ret = -ENOENT;
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

/* ---- plans, for the tests ------------------------------------------------- */

static int explain(struct store_reader *r, const char *name,
		   const struct store_sql *q,
		   int (*cb)(void *ctx, const char *query, const char *plan),
		   void *ctx, char *err, size_t errlen)
{
	struct store_sql e = {0};
	sqlite3_stmt *st;
	int n = 0, stop = 0;

	sql_add(&e, 1, "EXPLAIN QUERY PLAN ");
	sql_add(&e, 1, q->text);
	st = prep(r, &e, err, errlen);
	if (!st)
		return -EINVAL;
	EACH_ROW(r, st, n, err, errlen, {
		const char *d = (const char *)sqlite3_column_text(st, 3);

		if (cb(ctx, name, d ? d : "")) {
			stop = 1;
			break;
		}
	});
	return n < 0 ? n : stop;
}

int store_dashq_explain(struct store_reader *r,
			int (*cb)(void *ctx, const char *query,
				  const char *plan),
			void *ctx, char *err, size_t errlen)
{
	static const struct { const char *name; int workload, ns, cidr, port,
		name_like, country, after, bytes; } flow_shapes[] = {
		{"flows", 0, 0, 0, 0, 0, 0, 0, 0},
		{"flows workload", 1, 0, 0, 0, 0, 0, 0, 0},
		{"flows workload port", 1, 0, 0, 1, 0, 0, 1, 0},
		{"flows namespace", 0, 1, 0, 0, 0, 0, 0, 0},
		{"flows remote", 0, 0, 1, 0, 0, 0, 0, 0},
		{"flows port", 0, 0, 0, 1, 0, 0, 0, 0},
		{"flows name country", 0, 0, 0, 0, 1, 1, 1, 0},
		{"flows workload remote port (alert)", 1, 0, 1, 1, 0, 0, 0, 0},
		{"flows by bytes", 0, 0, 0, 0, 0, 0, 1, 1},
		{"flows workload by bytes", 1, 0, 0, 0, 0, 0, 0, 1},
		{"flows by sent", 0, 0, 0, 0, 0, 0, 1, 2},
		{"flows workload by sent", 1, 0, 0, 0, 0, 0, 1, 2},
	};
	struct store_sql q;
	int rc;

	for (size_t i = 0; i < EW_ARRAY_LEN(flow_shapes); i++) {
		struct store_flow_search f = {
			.since_ns = 1, .until_ns = 2, .port = -1,
			.remote_port = -1, .proto = -1, .direction = -1,
		};

		f.workload = flow_shapes[i].workload ? "ns/w" : NULL;
		f.namespace = flow_shapes[i].ns ? "ns" : NULL;
		f.has_cidr = flow_shapes[i].cidr;
		f.port = flow_shapes[i].port ? 1 : -1;
		f.name_like = flow_shapes[i].name_like ? "%x%" : NULL;
		f.country = flow_shapes[i].country ? "NL" : NULL;
		f.has_after = flow_shapes[i].after;
		f.sort = flow_shapes[i].bytes == 1 ? STORE_SORT_BYTES :
			 flow_shapes[i].bytes == 2 ? STORE_SORT_SENT :
						     STORE_SORT_START;
		memset(&q, 0, sizeof(q));
		flow_search_sql(&q, &f);
		if ((rc = explain(r, flow_shapes[i].name, &q, cb, ctx, err,
				  errlen)))
			return rc;
	}
	struct store_alert_search a = {.acknowledged = -1};
	memset(&q, 0, sizeof(q));
	alert_search_sql(&q, &a);
	if ((rc = explain(r, "alerts", &q, cb, ctx, err, errlen)))
		return rc;
	a.since_ns = 1;
	a.severity = "critical";
	a.acknowledged = 0;
	a.has_after = 1;
	memset(&q, 0, sizeof(q));
	alert_search_sql(&q, &a);
	if ((rc = explain(r, "alerts since severity unacknowledged", &q, cb,
			  ctx, err, errlen)))
		return rc;
	struct store_alert_search one = {.id = 1, .acknowledged = -1};
	memset(&q, 0, sizeof(q));
	alert_search_sql(&q, &one);
	if ((rc = explain(r, "alert by id", &q, cb, ctx, err, errlen)))
		return rc;
	for (int w = 0; w < 2; w++) {
		memset(&q, 0, sizeof(q));
		scan_sql(&q, w);
		if ((rc = explain(r, w ? "rollup scan workload" : "rollup scan",
				  &q, cb, ctx, err, errlen)))
			return rc;
		memset(&q, 0, sizeof(q));
		series_sql(&q, w);
		if ((rc = explain(r, w ? "series workload" : "series", &q, cb,
				  ctx, err, errlen)))
			return rc;
		memset(&q, 0, sizeof(q));
		dest_sql(&q, w);
		if ((rc = explain(r, w ? "destinations workload" :
					 "destinations", &q, cb, ctx, err,
				  errlen)))
			return rc;
	}
	static const struct { const char *name, *sql; } fixed[] = {
		{"alert counts", sql_alert_counts},
		{"alert rules", sql_rules},
		{"verdicts", sql_verdicts},
		{"ip dns", sql_ip_dns},
		{"ip flow", sql_ip_flow},
		{"ip names", sql_names},
		{"workload", sql_workload},
		{"newest flow", STORE_SQL_NEWEST_END},
		{"oldest flow", "SELECT coalesce(min(start_ns), 0) FROM flows"},
	};
	for (size_t i = 0; i < EW_ARRAY_LEN(fixed); i++) {
		memset(&q, 0, sizeof(q));
		sql_add(&q, 1, fixed[i].sql);
		if ((rc = explain(r, fixed[i].name, &q, cb, ctx, err, errlen)))
			return rc;
	}
	return 0;
}
