/*
 * query.c - read-only connections and the queries the CLI and the dashboard
 * run.
 *
 * A reader is one read-only connection (SQLITE_OPEN_READONLY and
 * query_only), used by one thread.  In WAL mode a reader sees the last commit
 * before its query started and never blocks the writer, nor is blocked by it.
 *
 * Each query is built from the filters present, so every shape gets a plain
 * WHERE clause the planner can serve from an index (a catch-all "?1 = 0 OR
 * col >= ?1" would defeat the indices).  The statement for each shape is
 * prepared on first use and kept for the reader's life.  Values only ever
 * reach SQL as bound parameters.
 */
#include <stdio.h>
#include <stdlib.h>

#include "store_int.h"

#define NS_PER_MIN 60000000000ull

enum {
	FQ_SINCE = 1 << 0,
	FQ_UNTIL = 1 << 1,
	FQ_CIDR = 1 << 2,
	FQ_PORT = 1 << 3,
	FQ_PROTO = 1 << 4,
	FQ_WORKLOAD = 1 << 5,
	FQ_BEFORE_ID = 1 << 6,
	FQ_KEYSET = 1 << 7,
	FQ_SHAPES = 1 << 8,
};

enum {
	AQ_SINCE = 1 << 0,
	AQ_UNTIL = 1 << 1,
	AQ_WORKLOAD = 1 << 2,
	AQ_UNACKED = 1 << 3,
	AQ_BEFORE_ID = 1 << 4,
	AQ_KEYSET = 1 << 5,
	AQ_SHAPES = 1 << 6,
};

enum {
	TQ_SINCE = 1 << 0,
	TQ_UNTIL = 1 << 1,
	TQ_WORKLOAD = 1 << 2,
	TQ_SHAPES = 1 << 3,
};

struct store_reader {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *flows[FQ_SHAPES];
	sqlite3_stmt *alerts[AQ_SHAPES];
	sqlite3_stmt *traffic[TQ_SHAPES];
	sqlite3_stmt *dns[2];
	sqlite3_stmt *workloads;
};

struct store_reader *store_reader_open(const char *path, char *err,
				       size_t errlen)
{
	struct store_reader *r = calloc(1, sizeof(*r));
	int rc, version = 0, fresh = 0;
	char msg[256];

	if (!path || !path[0]) {
		store_errf(err, errlen, "store: no database path");
		goto err;
	}
	if (!r || !(r->path = strdup(path))) {
		store_errf(err, errlen, "store: out of memory");
		goto err;
	}
	rc = sqlite3_open_v2(path, &r->db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_errf(err, errlen, "%s: cannot open: %s", path,
			   r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
		goto err;
	}
	sqlite3_busy_timeout(r->db, 5000);
	if (store_db_identify(r->db, path, &version, &fresh, err, errlen) < 0)
		goto err;
	if (fresh) {
		store_errf(err, errlen, "%s: empty, not an egresswatch "
			   "database yet", path);
		goto err;
	}
	if (version != STORE_SCHEMA_VERSION) {
		store_errf(err, errlen, "%s: schema version %d, this egresswatch "
			   "reads version %d%s", path, version,
			   STORE_SCHEMA_VERSION, version > STORE_SCHEMA_VERSION ?
			   ": use a newer egresswatch" :
			   ": open it with the agent once to migrate it");
		goto err;
	}
	if (store_exec(r->db, "PRAGMA query_only = 1", msg, sizeof(msg)) !=
	    SQLITE_OK) {
		store_errf(err, errlen, "%s: %s", path, msg);
		goto err;
	}
	return r;
err:
	store_reader_close(r);
	return NULL;
}

sqlite3 *store_reader_db(struct store_reader *r)
{
	return r->db;
}

const char *store_reader_path(const struct store_reader *r)
{
	return r->path;
}

void store_reader_close(struct store_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < EW_ARRAY_LEN(r->flows); i++)
		sqlite3_finalize(r->flows[i]);
	for (size_t i = 0; i < EW_ARRAY_LEN(r->alerts); i++)
		sqlite3_finalize(r->alerts[i]);
	for (size_t i = 0; i < EW_ARRAY_LEN(r->traffic); i++)
		sqlite3_finalize(r->traffic[i]);
	for (size_t i = 0; i < EW_ARRAY_LEN(r->dns); i++)
		sqlite3_finalize(r->dns[i]);
	sqlite3_finalize(r->workloads);
	sqlite3_close(r->db);
	free(r->path);
	free(r);
}

/* ---- shared pieces ------------------------------------------------------- */

/* The cached statement in `*slot`, preparing `q` on first use.  NULL with
 * `err` set when it cannot be prepared, or is already running (a callback
 * querying the same shape on the same reader). */
static sqlite3_stmt *shape(struct store_reader *r, sqlite3_stmt **slot,
			   const struct store_sql *q, char *err, size_t errlen)
{
	if (*slot && sqlite3_stmt_busy(*slot)) {
		store_errf(err, errlen, "%s: a query callback may not run the "
			   "same query on its reader", r->path);
		return NULL;
	}
	if (*slot)
		return *slot;
	if (q->overflow) {
		store_errf(err, errlen, "%s: query text too long", r->path);
		return NULL;
	}
	if (sqlite3_prepare_v3(r->db, q->text, -1, SQLITE_PREPARE_PERSISTENT,
			       slot, NULL) != SQLITE_OK) {
		store_errf(err, errlen, "%s: %s", r->path,
			   sqlite3_errmsg(r->db));
		*slot = NULL;
	}
	return *slot;
}

static void bind_i64(sqlite3_stmt *st, const char *name, uint64_t v)
{
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, name),
			   store_i64(v));
}

static void bind_str(sqlite3_stmt *st, const char *name, const char *s)
{
	sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, name), s, -1,
			  SQLITE_STATIC);
}

static void bind_ip(sqlite3_stmt *st, const char *name, const uint8_t ip[16])
{
	sqlite3_bind_blob(st, sqlite3_bind_parameter_index(st, name), ip, 16,
			  SQLITE_STATIC);
}

static uint32_t clamp_limit(uint32_t limit)
{
	if (limit == 0)
		return STORE_QUERY_LIMIT_DEFAULT;
	return limit > STORE_QUERY_LIMIT_MAX ? STORE_QUERY_LIMIT_MAX : limit;
}

/* Step `st` to its end, or until the callback stops: rows seen, or -errno. */
#define FOR_EACH_ROW(r, st, n, err, errlen, body)                          \
	do {                                                               \
		int rc_;                                                   \
		while ((rc_ = sqlite3_step(st)) == SQLITE_ROW) {           \
			n++;                                               \
			body                                               \
		}                                                          \
		if (rc_ != SQLITE_DONE && rc_ != SQLITE_ROW) {             \
			store_errf(err, errlen, "%s: query: %s",           \
				   (r)->path, sqlite3_errmsg((r)->db));    \
			n = store_errno(rc_) ? store_errno(rc_) : -EIO;    \
		}                                                          \
	} while (0)

static int u8col(sqlite3_stmt *st, int i)
{
	return (uint8_t)sqlite3_column_int(st, i);
}

static uint64_t u64col(sqlite3_stmt *st, int i)
{
	return store_u64(sqlite3_column_int64(st, i));
}

/* ---- flows --------------------------------------------------------------- */

static void flow_sql(struct store_sql *q, unsigned m)
{
	sql_add(q, 1, "SELECT " STORE_FLOW_COLUMNS " FROM flows WHERE 1");
	/* Active in [since, until): ended at or after since, started
	 * before until.  No flow lasted longer than meta.max_flow_ns, so
	 * it started at or after since - max_flow_ns: that bound turns
	 * "since" into an index range instead of a scan of all history. */
	sql_add(q, m & FQ_SINCE,
	        " AND end_ns >= :since AND start_ns >= :since -"
	    " coalesce((SELECT value FROM meta WHERE key = 'max_flow_ns'),"
	    " :since)");
	sql_add(q, m & FQ_UNTIL, " AND start_ns < :until");
	sql_add(q, m & FQ_CIDR, " AND remote_ip BETWEEN :lo AND :hi");
	sql_add(q, m & FQ_PORT,
	        " AND (local_port = :port OR remote_port = :port)");
	sql_add(q, m & FQ_PROTO, " AND proto = :proto");
	sql_add(q, m & FQ_WORKLOAD, " AND workload = :workload");
	sql_add(q, m & FQ_BEFORE_ID, " AND id < :bid");
	sql_add(q, m & FQ_KEYSET, " AND (start_ns < :bstart OR"
	    " (start_ns = :bstart AND id < :bid))");
	sql_add(q, 1, " ORDER BY start_ns DESC, id DESC LIMIT :limit");
}

void store_flow_row(sqlite3_stmt *st, struct store_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->id = u64col(st, 0);
	f->start_ns = u64col(st, 1);
	f->end_ns = u64col(st, 2);
	store_col_text(st, 3, f->interface, sizeof(f->interface));
	f->family = u8col(st, 4);
	f->proto = u8col(st, 5);
	f->direction = u8col(st, 6);
	store_col_ip(st, 7, f->local_ip);
	f->local_port = (uint16_t)sqlite3_column_int(st, 8);
	store_col_ip(st, 9, f->remote_ip);
	f->remote_port = (uint16_t)sqlite3_column_int(st, 10);
	f->vlan = (uint16_t)sqlite3_column_int(st, 11);
	f->bytes_sent = u64col(st, 12);
	f->bytes_received = u64col(st, 13);
	f->packets_sent = u64col(st, 14);
	f->packets_received = u64col(st, 15);
	f->tcp_flags_sent = u8col(st, 16);
	f->tcp_flags_received = u8col(st, 17);
	f->ended = u8col(st, 18);
	f->end_reason = u8col(st, 19);
	store_col_text(st, 20, f->workload, sizeof(f->workload));
	store_col_text(st, 21, f->remote_workload, sizeof(f->remote_workload));
	store_col_text(st, 22, f->remote_name, sizeof(f->remote_name));
	store_col_text(st, 23, f->remote_country, sizeof(f->remote_country));
	f->remote_asn = (uint32_t)sqlite3_column_int64(st, 24);
	store_col_text(st, 25, f->verdict, sizeof(f->verdict));
}

int store_query_flows(struct store_reader *r,
		      const struct store_flow_filter *flt,
		      int (*cb)(void *ctx, const struct store_flow *f),
		      void *ctx, char *err, size_t errlen)
{
	struct store_flow_filter none = {.port = -1, .proto = -1};
	struct store_flow row;
	struct store_sql q = {0};
	sqlite3_stmt *st;
	unsigned m = 0;
	int n = 0;

	if (!flt)
		flt = &none;
	m |= flt->since_ns ? FQ_SINCE : 0;
	m |= flt->until_ns ? FQ_UNTIL : 0;
	m |= flt->has_cidr ? FQ_CIDR : 0;
	m |= flt->port >= 0 ? FQ_PORT : 0;
	m |= flt->proto >= 0 ? FQ_PROTO : 0;
	m |= flt->workload ? FQ_WORKLOAD : 0;
	if (flt->before_id)
		m |= flt->before_start_ns ? FQ_KEYSET : FQ_BEFORE_ID;
	flow_sql(&q, m);
	st = shape(r, &r->flows[m], &q, err, errlen);
	if (!st)
		return -EINVAL;
	if (m & FQ_SINCE)
		bind_i64(st, ":since", flt->since_ns);
	if (m & FQ_UNTIL)
		bind_i64(st, ":until", flt->until_ns);
	if (m & FQ_CIDR) {
		bind_ip(st, ":lo", flt->cidr_lo);
		bind_ip(st, ":hi", flt->cidr_hi);
	}
	if (m & FQ_PORT)
		bind_i64(st, ":port", (uint64_t)flt->port);
	if (m & FQ_PROTO)
		bind_i64(st, ":proto", (uint64_t)flt->proto);
	if (m & FQ_WORKLOAD)
		bind_str(st, ":workload", flt->workload);
	if (m & (FQ_BEFORE_ID | FQ_KEYSET))
		bind_i64(st, ":bid", flt->before_id);
	if (m & FQ_KEYSET)
		bind_i64(st, ":bstart", flt->before_start_ns);
	bind_i64(st, ":limit", clamp_limit(flt->limit));
	FOR_EACH_ROW(r, st, n, err, errlen, {
		store_flow_row(st, &row);
		if (cb && cb(ctx, &row))
			break;
	});
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

/* ---- alerts -------------------------------------------------------------- */

static void alert_sql(struct store_sql *q, unsigned m)
{
	sql_add(q, 1, "SELECT " STORE_ALERT_COLUMNS " FROM alerts WHERE 1");
	sql_add(q, m & AQ_SINCE, " AND last_seen_ns >= :since");
	sql_add(q, m & AQ_UNTIL, " AND first_seen_ns < :until");
	sql_add(q, m & AQ_WORKLOAD, " AND workload = :workload");
	sql_add(q, m & AQ_UNACKED, " AND acknowledged = 0");
	sql_add(q, m & AQ_BEFORE_ID, " AND id < :bid");
	sql_add(q, m & AQ_KEYSET, " AND (last_seen_ns < :blast OR"
	    " (last_seen_ns = :blast AND id < :bid))");
	sql_add(q, 1, " ORDER BY last_seen_ns DESC, id DESC LIMIT :limit");
}

void store_alert_row(sqlite3_stmt *st, struct store_alert *a)
{
	memset(a, 0, sizeof(*a));
	a->id = u64col(st, 0);
	a->first_seen_ns = u64col(st, 1);
	a->last_seen_ns = u64col(st, 2);
	a->count = u64col(st, 3);
	store_col_text(st, 4, a->severity, sizeof(a->severity));
	store_col_text(st, 5, a->kind, sizeof(a->kind));
	store_col_text(st, 6, a->rule, sizeof(a->rule));
	store_col_text(st, 7, a->workload, sizeof(a->workload));
	store_col_ip(st, 8, a->remote_ip);
	store_col_text(st, 9, a->remote_name, sizeof(a->remote_name));
	store_col_text(st, 10, a->remote_country, sizeof(a->remote_country));
	a->remote_asn = (uint32_t)sqlite3_column_int64(st, 11);
	a->remote_port = (uint16_t)sqlite3_column_int(st, 12);
	a->proto = (uint8_t)sqlite3_column_int(st, 13);
	a->bytes_sent = u64col(st, 14);
	store_col_text(st, 15, a->message, sizeof(a->message));
	a->evidence = (const char *)sqlite3_column_text(st, 16);
	store_col_text(st, 17, a->dedup_key, sizeof(a->dedup_key));
	a->acknowledged = (uint8_t)(sqlite3_column_int(st, 18) != 0);
	a->ack_ns = u64col(st, 19);
	store_col_text(st, 20, a->ack_by, sizeof(a->ack_by));
}

int store_query_alerts(struct store_reader *r,
		       const struct store_alert_filter *flt,
		       int (*cb)(void *ctx, const struct store_alert *a),
		       void *ctx, char *err, size_t errlen)
{
	struct store_alert_filter none = {0};
	struct store_alert row;
	struct store_sql q = {0};
	sqlite3_stmt *st;
	unsigned m = 0;
	int n = 0;

	if (!flt)
		flt = &none;
	m |= flt->since_ns ? AQ_SINCE : 0;
	m |= flt->until_ns ? AQ_UNTIL : 0;
	m |= flt->workload ? AQ_WORKLOAD : 0;
	m |= flt->unacknowledged_only ? AQ_UNACKED : 0;
	if (flt->before_id)
		m |= flt->before_last_seen_ns ? AQ_KEYSET : AQ_BEFORE_ID;
	alert_sql(&q, m);
	st = shape(r, &r->alerts[m], &q, err, errlen);
	if (!st)
		return -EINVAL;
	if (m & AQ_SINCE)
		bind_i64(st, ":since", flt->since_ns);
	if (m & AQ_UNTIL)
		bind_i64(st, ":until", flt->until_ns);
	if (m & AQ_WORKLOAD)
		bind_str(st, ":workload", flt->workload);
	if (m & (AQ_BEFORE_ID | AQ_KEYSET))
		bind_i64(st, ":bid", flt->before_id);
	if (m & AQ_KEYSET)
		bind_i64(st, ":blast", flt->before_last_seen_ns);
	bind_i64(st, ":limit", clamp_limit(flt->limit));
	FOR_EACH_ROW(r, st, n, err, errlen, {
		store_alert_row(st, &row);
		if (cb && cb(ctx, &row))
			break;
	});
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

/* ---- workloads ----------------------------------------------------------- */

int store_query_workloads(struct store_reader *r,
			  int (*cb)(void *ctx, const struct store_workload *w),
			  void *ctx, char *err, size_t errlen)
{
	struct store_workload w;
	struct store_sql q = {0};
	sqlite3_stmt *st;
	int n = 0;

	sql_add(&q, 1,
	        "SELECT id, namespace, name, kind, runtime, container_id,"
	    " pod_uid, labels, interface, ips, first_seen_ns, last_seen_ns"
	    " FROM workloads ORDER BY namespace, name"
	    " LIMIT " STORE_STR(STORE_QUERY_LIMIT_MAX));
	st = shape(r, &r->workloads, &q, err, errlen);
	if (!st)
		return -EINVAL;
	FOR_EACH_ROW(r, st, n, err, errlen, {
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
	sqlite3_reset(st);
	return n;
}

/* ---- traffic rollups ----------------------------------------------------- */

int store_query_traffic(struct store_reader *r,
			const struct store_traffic_filter *flt,
			int (*cb)(void *ctx, const struct store_traffic *t),
			void *ctx, char *err, size_t errlen)
{
	struct store_traffic_filter none = {0};
	struct store_traffic t;
	struct store_sql q = {0};
	sqlite3_stmt *st;
	unsigned m = 0;
	int n = 0;

	if (!flt)
		flt = &none;
	m |= flt->since_ns ? TQ_SINCE : 0;
	m |= flt->until_ns ? TQ_UNTIL : 0;
	m |= flt->workload ? TQ_WORKLOAD : 0;
	sql_add(&q, 1, "SELECT minute, workload, remote_ip, port, proto,"
	    " direction, bytes_sent, bytes_received, packets_sent,"
	    " packets_received, flows FROM traffic_minute WHERE 1");
	/* Minute m covers [m, m + 1) minutes: it overlaps [since, until)
	 * when m >= floor(since) and m < ceil(until), in minutes. */
	sql_add(&q, m & TQ_SINCE, " AND minute >= :since_m");
	sql_add(&q, m & TQ_UNTIL, " AND minute < :until_m");
	sql_add(&q, m & TQ_WORKLOAD, " AND workload = :workload");
	sql_add(&q, 1, " ORDER BY minute DESC LIMIT :limit");
	st = shape(r, &r->traffic[m], &q, err, errlen);
	if (!st)
		return -EINVAL;
	if (m & TQ_SINCE)
		bind_i64(st, ":since_m", flt->since_ns / NS_PER_MIN);
	if (m & TQ_UNTIL)
		bind_i64(st, ":until_m", flt->until_ns / NS_PER_MIN +
				 (flt->until_ns % NS_PER_MIN != 0));
	if (m & TQ_WORKLOAD)
		bind_str(st, ":workload", flt->workload);
	bind_i64(st, ":limit", clamp_limit(flt->limit));
	FOR_EACH_ROW(r, st, n, err, errlen, {
		memset(&t, 0, sizeof(t));
		t.minute_ns = u64col(st, 0) * NS_PER_MIN;
		store_col_text(st, 1, t.workload, sizeof(t.workload));
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
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

/* ---- DNS answers --------------------------------------------------------- */

int store_query_dns(struct store_reader *r, const uint8_t address[16],
		    const char *workload, uint32_t limit,
		    int (*cb)(void *ctx, const struct store_dns_answer *d),
		    void *ctx, char *err, size_t errlen)
{
	struct store_dns_answer d;
	struct store_sql q = {0};
	sqlite3_stmt *st;
	int n = 0;

	sql_add(&q, 1, "SELECT workload, query_name, address, cname_chain, ttl,"
	    " seen_ns FROM dns_answers WHERE address = :addr");
	sql_add(&q, workload != NULL, " AND workload = :workload");
	sql_add(&q, 1, " ORDER BY seen_ns DESC LIMIT :limit");
	st = shape(r, &r->dns[workload != NULL], &q, err, errlen);
	if (!st)
		return -EINVAL;
	bind_ip(st, ":addr", address);
	if (workload)
		bind_str(st, ":workload", workload);
	bind_i64(st, ":limit", clamp_limit(limit));
	FOR_EACH_ROW(r, st, n, err, errlen, {
		memset(&d, 0, sizeof(d));
		store_col_text(st, 0, d.workload, sizeof(d.workload));
		store_col_text(st, 1, d.name, sizeof(d.name));
		store_col_ip(st, 2, d.address);
		store_col_text(st, 3, d.cname_chain, sizeof(d.cname_chain));
		d.ttl = (uint32_t)sqlite3_column_int64(st, 4);
		d.seen_ns = u64col(st, 5);
		if (cb && cb(ctx, &d))
			break;
	});
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}
