/*
 * batch.c - the rows of one write transaction and how they are written.
 *
 * The writer thread adds rows as it pops them and commits the batch when it
 * is full, old enough, or a marker asks for it.  Four things keep the common
 * case cheap:
 *
 *  - Flow rows are coalesced by id.  A flow that starts and ends within one
 *    batch (a replay's NEW then END, a short connection) is one write of its
 *    final state instead of two, with the update rule of the upsert applied
 *    in memory (merge_flow) so that the result is the same.
 *  - New flows are inserted together, and known ones updated one by one.
 *    Capture hands out ids in increasing order from above every id in the
 *    file, so an id above the highest one written is new; the writer
 *    remembers that one number, not a set.  The new flows of a batch go in
 *    through one INSERT ... SELECT from the batch itself (bulk.c), which
 *    opens the cursors of the table and its indices once rather than once
 *    per row: about a third less time per row.  A known flow is an UPDATE
 *    by rowid that assigns only what can change: the upsert's DO UPDATE
 *    would rewrite the entry of every index on a column it assigns (SQLite
 *    does not compare old and new values), and `workload` is assigned only
 *    when the row carries one.  The guess can be wrong (rows from another
 *    writer, ids put out of order, a NEW that was dropped, a row retention
 *    deleted), so the insert is an upsert and an UPDATE that finds no row
 *    becomes one: a wrong guess costs time, never a row.
 *  - The d* deltas of every row are summed per rollup key in memory, and the
 *    rollups of a batch go into traffic_minute through one upsert from the
 *    batch, however many rows hit each key.
 *  - Alerts are coalesced by dedup_key, with sql_alert's update rule applied
 *    in memory (merge_alert): a policy that flags a flow raises its alert
 *    again on every event of the flow.
 *
 * A set statement that stops at a bad row is written again row by row, as
 * upserts (those before the bad row are in place already), so that only
 * that row is refused.
 *
 * All statements are prepared once, at open.  A row the database refuses on
 * its own (a constraint, a value too big) is counted and skipped; any other
 * failure (disk full, I/O error, a lock held too long) fails the whole batch,
 * which is rolled back so that the file never holds half a batch.
 *
 * This file does not decide when to commit, and does not count: that is the
 * writer's (writer.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "store_int.h"

#define SQL_FLOW_COLUMNS                                                   \
	"id, start_ns, end_ns, interface, family, proto, direction,"       \
	" local_ip, local_port, remote_ip, remote_port, vlan, bytes_sent," \
	" bytes_received, packets_sent, packets_received, tcp_flags_sent," \
	" tcp_flags_received, ended, end_reason, workload, remote_workload," \
	" remote_name, remote_country, remote_asn, verdict"

/* The update rule of store_put_flow (store.h). */
#define SQL_FLOW_DO_UPDATE                                                 \
	" ON CONFLICT (id) DO UPDATE SET"                                  \
	" end_ns = excluded.end_ns,"                                       \
	" bytes_sent = excluded.bytes_sent,"                               \
	" bytes_received = excluded.bytes_received,"                       \
	" packets_sent = excluded.packets_sent,"                           \
	" packets_received = excluded.packets_received,"                   \
	" tcp_flags_sent = excluded.tcp_flags_sent,"                       \
	" tcp_flags_received = excluded.tcp_flags_received,"               \
	" ended = excluded.ended,"                                         \
	" end_reason = excluded.end_reason,"                               \
	" workload = coalesce(excluded.workload, workload),"               \
	" remote_workload = coalesce(excluded.remote_workload,"            \
	" remote_workload),"                                               \
	" remote_name = coalesce(excluded.remote_name, remote_name),"      \
	" remote_country = coalesce(excluded.remote_country,"              \
	" remote_country),"                                                \
	" remote_asn = coalesce(excluded.remote_asn, remote_asn),"         \
	" verdict = coalesce(excluded.verdict, verdict)"

/* One flow, bound by bind_flow(). */
static const char sql_flow[] =
	"INSERT INTO flows (" SQL_FLOW_COLUMNS ")"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
	" ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)"
	SQL_FLOW_DO_UPDATE;

/*
 * The flows batch.c shows in ew_batch_flows.  OR FAIL, and no upsert: a
 * statement over many rows that may abort (ABORT, the default, or a DO
 * UPDATE, which aborts on its own) keeps a copy of every page it changes, so
 * that a bad row can undo the rows before it, and over the scattered index
 * pages of a few thousand new flows that is megabytes.  With FAIL the rows
 * before a bad one (a flow already in the file, say) stay, and
 * write_new_flows() writes the set again row by row, as upserts that find
 * those rows in place.
 */
static const char sql_flow_set[] =
	"INSERT OR FAIL INTO flows (" SQL_FLOW_COLUMNS ") SELECT "
	SQL_FLOW_COLUMNS " FROM ew_batch_flows";

/* A known flow: the DO UPDATE minus the identity, by rowid.  Parameters are
 * numbered as in sql_flow, so that bind_flow() serves all three; the
 * _workload variant is for rows that carry a workload (an unknown one is
 * kept anyway, and assigning it would rewrite its index entry). */
#define SQL_FLOW_UPDATE                                                    \
	"UPDATE flows SET"                                                 \
	" end_ns = ?3,"                                                    \
	" bytes_sent = ?13,"                                               \
	" bytes_received = ?14,"                                           \
	" packets_sent = ?15,"                                             \
	" packets_received = ?16,"                                         \
	" tcp_flags_sent = ?17,"                                           \
	" tcp_flags_received = ?18,"                                       \
	" ended = ?19,"                                                    \
	" end_reason = ?20,"                                               \
	" remote_workload = coalesce(?22, remote_workload),"               \
	" remote_name = coalesce(?23, remote_name),"                       \
	" remote_country = coalesce(?24, remote_country),"                 \
	" remote_asn = coalesce(?25, remote_asn),"                         \
	" verdict = coalesce(?26, verdict)"
static const char sql_flow_update[] = SQL_FLOW_UPDATE " WHERE id = ?1";
static const char sql_flow_update_workload[] =
	SQL_FLOW_UPDATE ", workload = ?21 WHERE id = ?1";

#define SQL_ROLLUP_COLUMNS                                                 \
	"minute, workload, remote_ip, port, proto, direction, bytes_sent," \
	" bytes_received, packets_sent, packets_received, flows"

#define SQL_ROLLUP_DO_UPDATE                                               \
	" ON CONFLICT (minute, workload, remote_ip, port, proto,"          \
	" direction) DO UPDATE SET"                                        \
	" bytes_sent = bytes_sent + excluded.bytes_sent,"                  \
	" bytes_received = bytes_received + excluded.bytes_received,"      \
	" packets_sent = packets_sent + excluded.packets_sent,"            \
	" packets_received = packets_received + excluded.packets_received," \
	" flows = flows + excluded.flows"

/* One rollup, bound by bind_rollup(). */
static const char sql_rollup[] =
	"INSERT INTO traffic_minute (" SQL_ROLLUP_COLUMNS ")"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
	SQL_ROLLUP_DO_UPDATE;

/* Every rollup of the batch. */
static const char sql_rollup_set[] =
	"INSERT INTO traffic_minute (" SQL_ROLLUP_COLUMNS ")"
	" SELECT " SQL_ROLLUP_COLUMNS " FROM ew_batch_rollups WHERE true"
	SQL_ROLLUP_DO_UPDATE;

static const char sql_alert[] =
	"INSERT INTO alerts (first_seen_ns, last_seen_ns, count, severity,"
	" kind, rule, workload, remote_ip, remote_name, remote_country,"
	" remote_asn, remote_port, proto, bytes_sent, message, evidence,"
	" dedup_key)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
	" ?15, ?16, ?17)"
	" ON CONFLICT (dedup_key) DO UPDATE SET"
	" first_seen_ns = min(first_seen_ns, excluded.first_seen_ns),"
	" last_seen_ns = max(last_seen_ns, excluded.last_seen_ns),"
	" count = count + excluded.count,"
	" severity = excluded.severity,"
	" kind = excluded.kind,"
	" rule = coalesce(excluded.rule, rule),"
	" workload = coalesce(excluded.workload, workload),"
	" remote_ip = coalesce(excluded.remote_ip, remote_ip),"
	" remote_name = coalesce(excluded.remote_name, remote_name),"
	" remote_country = coalesce(excluded.remote_country, remote_country),"
	" remote_asn = coalesce(excluded.remote_asn, remote_asn),"
	" remote_port = coalesce(excluded.remote_port, remote_port),"
	" proto = coalesce(excluded.proto, proto),"
	" bytes_sent = max(bytes_sent, excluded.bytes_sent),"
	" message = excluded.message,"
	" evidence = coalesce(excluded.evidence, evidence)";

static const char sql_workload[] =
	"INSERT INTO workloads (namespace, name, kind, runtime, container_id,"
	" pod_uid, labels, interface, ips, first_seen_ns, last_seen_ns)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
	" ON CONFLICT (namespace, name) DO UPDATE SET"
	" kind = coalesce(excluded.kind, kind),"
	" runtime = coalesce(excluded.runtime, runtime),"
	" container_id = coalesce(excluded.container_id, container_id),"
	" pod_uid = coalesce(excluded.pod_uid, pod_uid),"
	" labels = coalesce(excluded.labels, labels),"
	" interface = coalesce(excluded.interface, interface),"
	" ips = coalesce(excluded.ips, ips),"
	" first_seen_ns = min(first_seen_ns, excluded.first_seen_ns),"
	" last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)";

static const char sql_dns[] =
	"INSERT INTO dns_answers (workload, query_name, address, cname_chain,"
	" ttl, seen_ns, expires_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	" ON CONFLICT (workload, address, query_name) DO UPDATE SET"
	" cname_chain = excluded.cname_chain,"
	" ttl = excluded.ttl,"
	" seen_ns = max(seen_ns, excluded.seen_ns),"
	" expires_ns = max(expires_ns, excluded.expires_ns)";

static const char sql_baseline[] =
	"INSERT INTO baselines (workload, proto, port, direction,"
	" first_seen_ns, last_seen_ns, count) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)"
	" ON CONFLICT (workload, proto, port, direction) DO UPDATE SET"
	" first_seen_ns = min(first_seen_ns, excluded.first_seen_ns),"
	" last_seen_ns = max(last_seen_ns, excluded.last_seen_ns),"
	" count = count + excluded.count";

static const char sql_max_flow[] =
	"UPDATE meta SET value = ?1 WHERE key = 'max_flow_ns' AND value < ?1";

static const char sql_get_max_flow[] =
	"SELECT value FROM meta WHERE key = 'max_flow_ns'";

static const char sql_ack[] =
	"UPDATE alerts SET acknowledged = 1, ack_ns = ?2, ack_by = ?3"
	" WHERE id = ?1";

#define NS_PER_MIN 60000000000ull

void store_row_release(struct store_row *row)
{
	if (row->kind == STORE_ROW_ALERT)
		free(row->u.alert);
	else if (row->kind == STORE_ROW_WORKLOAD)
		free(row->u.workload);
	row->kind = 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
		   char *err, size_t errlen)
{
	int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
				    NULL);

	if (rc != SQLITE_OK)
		store_errf(err, errlen, "preparing a statement: %s",
			   sqlite3_errmsg(db));
	return rc;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

static int read_max_flow(sqlite3 *db, int64_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql_get_max_flow, -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		store_errf(err, errlen, "reading meta.max_flow_ns: %s",
			   sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return store_errno(rc) ? store_errno(rc) : -EIO;
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/* The arena always keeps room for one more row's text (else the batch
 * reports itself full), so an add never runs out of it. */
#define ROW_TEXT_MAX STORE_FLOW_TEXT_MAX
/* Distinct alerts per batch at most (a pointer each, and their copies). */
#define ALERTS_MAX 4096
/* Arena bytes per flow of capacity: room for interface, workload and a
 * name in most rows; a batch of longer text commits earlier. */
#define TEXT_PER_FLOW 128

/* The arrays that hold a batch's rows (what store_batch_swap_rows swaps). */
static int alloc_rows(struct store_batch *b, uint32_t cap, char *err,
		      size_t errlen)
{
	uint32_t slots = pow2_at_least(cap * 2);

	memset(b, 0, sizeof(*b));
	if (cap == 0 || cap > STORE_BATCH_MAX) {
		store_errf(err, errlen, "a batch holds 1 to %u rows, not %u",
			   STORE_BATCH_MAX, cap);
		return -EINVAL;
	}
	b->cap = cap;
	b->others_cap = cap < 1024 ? cap : 1024;
	b->alerts_cap = cap < ALERTS_MAX ? cap : ALERTS_MAX;
	b->text_cap = cap * TEXT_PER_FLOW + ROW_TEXT_MAX;
	b->flows = calloc(cap, sizeof(*b->flows));
	b->sel = calloc(cap, sizeof(*b->sel));
	b->flow_index = calloc(slots, sizeof(*b->flow_index));
	b->rollups = calloc(cap, sizeof(*b->rollups));
	b->rollup_index = calloc(slots, sizeof(*b->rollup_index));
	b->text = malloc(b->text_cap);
	b->others = calloc(b->others_cap, sizeof(*b->others));
	b->alerts = calloc(b->alerts_cap, sizeof(*b->alerts));
	b->alert_rows = calloc(b->alerts_cap, sizeof(*b->alert_rows));
	b->alert_index = calloc(pow2_at_least(b->alerts_cap * 2),
				sizeof(*b->alert_index));
	if (!b->flows || !b->sel || !b->flow_index || !b->rollups ||
	    !b->rollup_index || !b->text || !b->others || !b->alerts ||
	    !b->alert_rows || !b->alert_index) {
		store_errf(err, errlen, "out of memory for a batch of %u rows",
			   cap);
		return -ENOMEM;
	}
	b->flow_mask = b->rollup_mask = slots - 1;
	b->alert_mask = pow2_at_least(b->alerts_cap * 2) - 1;
	return 0;
}

int store_batch_init_rows(struct store_batch *b, const struct store_batch *like,
			  char *err, size_t errlen)
{
	int ret = alloc_rows(b, like->cap, err, errlen);

	if (ret < 0) {
		store_batch_free(b);
		return ret;
	}
	memcpy(b->hash_key, like->hash_key, sizeof(b->hash_key));
	return 0;
}

#define SWAP(f) do { __typeof__(a->f) t_ = a->f; a->f = b->f; b->f = t_; } while (0)

void store_batch_swap_rows(struct store_batch *a, struct store_batch *b)
{
	SWAP(cap); SWAP(rows); SWAP(coalesced);
	SWAP(flows); SWAP(nflows); SWAP(sel); SWAP(view); SWAP(nview);
	SWAP(flow_index); SWAP(flow_mask);
	SWAP(rollups); SWAP(nrollups); SWAP(rollup_index); SWAP(rollup_mask);
	SWAP(text); SWAP(text_used); SWAP(text_cap);
	SWAP(alerts); SWAP(alert_rows); SWAP(nalerts); SWAP(alerts_cap);
	SWAP(alert_index); SWAP(alert_mask);
	SWAP(others); SWAP(nothers); SWAP(others_cap);
}

#undef SWAP

int store_batch_init(struct store_batch *b, sqlite3 *db, uint32_t cap,
		     uint64_t max_flow_id, char *err, size_t errlen)
{
	int ret = alloc_rows(b, cap, err, errlen);

	if (ret < 0)
		goto err;
	b->max_flow_id = max_flow_id;
	ret = ew_random_bytes(b->hash_key, sizeof(b->hash_key));
	if (ret < 0) {
		store_errf(err, errlen, "no random key for the batch hash");
		goto err;
	}
	if (store_bulk_register(db, b) != SQLITE_OK) {
		store_errf(err, errlen, "registering the batch tables: %s",
			   sqlite3_errmsg(db));
		ret = -EIO;
		goto err;
	}
	if (prepare(db, "BEGIN IMMEDIATE", &b->begin, err, errlen) ||
	    prepare(db, "COMMIT", &b->commit, err, errlen) ||
	    prepare(db, "ROLLBACK", &b->rollback, err, errlen) ||
	    prepare(db, sql_flow, &b->flow, err, errlen) ||
	    prepare(db, sql_flow_set, &b->flow_set, err, errlen) ||
	    prepare(db, sql_flow_update, &b->flow_update, err, errlen) ||
	    prepare(db, sql_flow_update_workload, &b->flow_update_workload,
		    err, errlen) ||
	    prepare(db, sql_rollup, &b->rollup, err, errlen) ||
	    prepare(db, sql_rollup_set, &b->rollup_set, err, errlen) ||
	    prepare(db, sql_alert, &b->alert, err, errlen) ||
	    prepare(db, sql_workload, &b->workload, err, errlen) ||
	    prepare(db, sql_dns, &b->dns, err, errlen) ||
	    prepare(db, sql_baseline, &b->baseline, err, errlen) ||
	    prepare(db, sql_ack, &b->ack, err, errlen) ||
	    prepare(db, sql_max_flow, &b->max_flow, err, errlen)) {
		ret = -EIO;
		goto err;
	}
	ret = read_max_flow(db, &b->max_flow_ns, err, errlen);
	if (ret < 0)
		goto err;
	return 0;
err:
	store_batch_free(b);
	return ret;
}

void store_batch_free(struct store_batch *b)
{
	sqlite3_stmt **stmts[] = {&b->begin, &b->commit, &b->rollback,
				  &b->flow, &b->flow_set, &b->flow_update,
				  &b->flow_update_workload,
				  &b->rollup, &b->rollup_set, &b->alert,
				  &b->workload, &b->dns, &b->baseline, &b->ack,
				  &b->max_flow};
	sqlite3 *db = b->begin ? sqlite3_db_handle(b->begin) : NULL;

	if (b->others)
		store_batch_clear(b);
	/* The batch tables point at `b`: take them away with it. */
	if (db) {
		sqlite3_create_module(db, "ew_batch_flows", NULL, NULL);
		sqlite3_create_module(db, "ew_batch_rollups", NULL, NULL);
	}
	for (size_t i = 0; i < EW_ARRAY_LEN(stmts); i++) {
		sqlite3_finalize(*stmts[i]);
		*stmts[i] = NULL;
	}
	free(b->flows);
	free(b->sel);
	free(b->flow_index);
	free(b->rollups);
	free(b->rollup_index);
	free(b->text);
	free(b->others);
	free(b->alerts);
	free(b->alert_rows);
	free(b->alert_index);
	memset(b, 0, sizeof(*b));
}

void store_batch_clear(struct store_batch *b)
{
	for (uint32_t i = 0; i < b->nothers; i++)
		store_row_release(&b->others[i]);
	for (uint32_t i = 0; i < b->nalerts; i++)
		free(b->alerts[i]);
	if (b->nalerts)
		memset(b->alert_index, 0,
		       (b->alert_mask + 1) * sizeof(*b->alert_index));
	if (b->nflows)
		memset(b->flow_index, 0,
		       (b->flow_mask + 1) * sizeof(*b->flow_index));
	if (b->nrollups)
		memset(b->rollup_index, 0,
		       (b->rollup_mask + 1) * sizeof(*b->rollup_index));
	b->rows = b->coalesced = b->nflows = b->nrollups = b->nothers = 0;
	b->nalerts = 0;
	b->text_used = 0;
}

/* Flow ids come from capture's counter, not from the wire: a multiplicative
 * hash spreads consecutive ids well enough. */
static uint32_t flow_hash(uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32);
}

static const char *text_at(const struct store_batch *b, struct store_text t)
{
	return b->text + t.off;
}

/* Set `*t` to the `n` bytes at `s`, unless there are none ("unknown": keep
 * what `*t` holds) or they are what it holds already. */
static void set_text(struct store_batch *b, struct store_text *t,
		     const char *s, size_t n)
{
	if (n == 0 || (t->len == n && memcmp(text_at(b, *t), s, n) == 0))
		return;
	memcpy(b->text + b->text_used, s, n);
	t->off = b->text_used;
	t->len = (uint32_t)n;
	b->text_used += (uint32_t)n;
}

/*
 * Fold a row into `dst`, exactly as sql_flow's DO UPDATE would fold it into
 * the stored row: counters and state from the newer row, identity (start,
 * addresses, ports, interface, ...) from the first, text and ASN kept when
 * the newer row does not know them.  A `fresh` entry takes the row whole.
 */
static void merge_flow(struct store_batch *b, struct store_batch_flow *dst,
		       const struct store_qflow *src, int fresh)
{
	const char *t = src->text;

	if (fresh) {
		dst->id = src->id;
		dst->start_ns = src->start_ns;
		memcpy(dst->local_ip, src->local_ip, 16);
		memcpy(dst->remote_ip, src->remote_ip, 16);
		dst->local_port = src->local_port;
		dst->remote_port = src->remote_port;
		dst->vlan = src->vlan;
		dst->family = src->family;
		dst->proto = src->proto;
		dst->direction = src->direction;
		dst->remote_asn = 0;
		dst->rows = 0;
		memset(dst->text, 0, sizeof(dst->text));
	}
	dst->end_ns = src->end_ns;
	dst->bytes_sent = src->bytes_sent;
	dst->bytes_received = src->bytes_received;
	dst->packets_sent = src->packets_sent;
	dst->packets_received = src->packets_received;
	dst->tcp_flags_sent = src->tcp_flags_sent;
	dst->tcp_flags_received = src->tcp_flags_received;
	dst->ended = src->ended;
	dst->end_reason = src->end_reason;
	if (src->remote_asn)
		dst->remote_asn = src->remote_asn;
	dst->rows++;
	for (int i = 0; i < STORE_FT__COUNT; i++) {
		/* The interface is identity: the first row's. */
		if (i != STORE_FT_INTERFACE || fresh)
			set_text(b, &dst->text[i], t, src->text_len[i]);
		t += src->text_len[i];
	}
}

/* Coalesce the row into its flow's entry; returns the entry. */
static struct store_batch_flow *add_flow(struct store_batch *b,
					 const struct store_qflow *f)
{
	uint32_t h = flow_hash(f->id) & b->flow_mask;
	uint32_t v;

	/* The index has at least twice as many slots as the batch has flows,
	 * so there is always an empty slot and the probe ends. */
	while ((v = b->flow_index[h]) != 0) {
		if (b->flows[v - 1].id == f->id) {
			merge_flow(b, &b->flows[v - 1], f, 0);
			b->coalesced++;
			return &b->flows[v - 1];
		}
		h = (h + 1) & b->flow_mask;
	}
	merge_flow(b, &b->flows[b->nflows], f, 1);
	b->flow_index[h] = ++b->nflows;
	return &b->flows[b->nflows - 1];
}

/* The port a rollup is kept under: the server's, whichever side it is. */
static uint16_t service_port(const struct store_qflow *f)
{
	return f->direction == STORE_INGRESS ? f->local_port : f->remote_port;
}

static int rollup_same(const struct store_batch *b,
		       const struct store_rollup *r, uint64_t minute,
		       const struct store_qflow *f, const char *w, size_t wlen)
{
	return r->minute == minute && r->port == service_port(f) &&
	       r->proto == f->proto && r->direction == f->direction &&
	       memcmp(r->remote_ip, f->remote_ip, 16) == 0 &&
	       r->workload.len == wlen &&
	       memcmp(text_at(b, r->workload), w, wlen) == 0;
}

/*
 * Add the row's deltas to its minute's rollup.  A row whose d-packets equal
 * its packet totals holds the flow's first packet: it is the flow's first row
 * and counts as a flow started.  `fe` is the row's flow entry, already
 * merged: when the row names a workload, the entry holds that text.
 */
static void add_rollup(struct store_batch *b, const struct store_qflow *f,
		       const struct store_batch_flow *fe)
{
	uint64_t dpkts = f->dpackets_sent + f->dpackets_received;
	uint64_t pkts = f->packets_sent + f->packets_received;
	int started = pkts > 0 && dpkts == pkts;
	uint64_t minute = f->end_ns / NS_PER_MIN;
	const char *w = f->text + f->text_len[STORE_FT_INTERFACE];
	size_t wlen = f->text_len[STORE_FT_WORKLOAD];
	uint8_t key[8 + 16 + 2 + 2 + STORE_WORKLOAD_MAX];
	struct store_rollup *r;
	uint16_t port = service_port(f);
	uint32_t h, v;

	if (!started && !dpkts && !f->dbytes_sent && !f->dbytes_received)
		return;
	memcpy(key, &minute, 8);
	memcpy(key + 8, f->remote_ip, 16);
	memcpy(key + 24, &port, 2);
	key[26] = f->proto;
	key[27] = f->direction;
	memcpy(key + 28, w, wlen);
	h = (uint32_t)ew_siphash(b->hash_key, key, 28 + wlen) & b->rollup_mask;
	while ((v = b->rollup_index[h]) != 0) {
		if (rollup_same(b, &b->rollups[v - 1], minute, f, w, wlen))
			break;
		h = (h + 1) & b->rollup_mask;
	}
	if (v == 0) {
		r = &b->rollups[b->nrollups];
		memset(r, 0, sizeof(*r));
		r->minute = minute;
		memcpy(r->remote_ip, f->remote_ip, 16);
		r->port = port;
		r->proto = f->proto;
		r->direction = f->direction;
		if (wlen)
			r->workload = fe->text[STORE_FT_WORKLOAD];
		b->rollup_index[h] = ++b->nrollups;
	} else {
		r = &b->rollups[v - 1];
	}
	r->bytes_sent += f->dbytes_sent;
	r->bytes_received += f->dbytes_received;
	r->packets_sent += f->dpackets_sent;
	r->packets_received += f->dpackets_received;
	r->flows += (uint64_t)started;
}

/* An alert field that is "unknown" when empty (bind_alert binds NULL). */
#define ALERT_TAKE_KNOWN(dst, src, field)                                 \
	do {                                                               \
		if ((src)->field[0])                                       \
			memcpy((dst)->field, (src)->field,                 \
			       sizeof((dst)->field));                      \
	} while (0)

/*
 * Fold alert `src` into the batch's entry `*dst` for the same dedup_key, as
 * sql_alert's DO UPDATE would fold it into the stored row.  That rule is
 * associative (min, max, sum, and "the newest known value" per field), so the
 * row written later ends the same as if each alert had been upserted in
 * turn.  Takes `src`: one of the two copies is freed, and the one kept is the
 * one whose evidence (which lives in its copy) the result carries.
 */
static void merge_alert(struct store_alert **dst, struct store_alert *src)
{
	struct store_alert *old = *dst, *keep, *from;
	uint64_t count = (old->count ? old->count : 1) +
			 (src->count ? src->count : 1);
	uint64_t first = old->first_seen_ns < src->first_seen_ns ?
				 old->first_seen_ns : src->first_seen_ns;
	uint64_t last = old->last_seen_ns > src->last_seen_ns ?
				old->last_seen_ns : src->last_seen_ns;
	uint64_t bytes = old->bytes_sent > src->bytes_sent ?
				 old->bytes_sent : src->bytes_sent;

	if (src->evidence) {
		/* The newer copy stays; the older fills what it lacks. */
		keep = src;
		from = old;
		if (!keep->rule[0])
			memcpy(keep->rule, from->rule, sizeof(keep->rule));
		if (!keep->workload[0])
			memcpy(keep->workload, from->workload,
			       sizeof(keep->workload));
		if (!keep->remote_name[0])
			memcpy(keep->remote_name, from->remote_name,
			       sizeof(keep->remote_name));
		if (!keep->remote_country[0])
			memcpy(keep->remote_country, from->remote_country,
			       sizeof(keep->remote_country));
		if (store_ip_is_zero(keep->remote_ip)) {
			memcpy(keep->remote_ip, from->remote_ip, 16);
			keep->remote_port = from->remote_port;
		}
		if (!keep->proto)
			keep->proto = from->proto;
		if (!keep->remote_asn)
			keep->remote_asn = from->remote_asn;
	} else {
		/* The older copy (and its evidence) stays; the newer's
		 * known values replace its own. */
		keep = old;
		from = src;
		memcpy(keep->severity, from->severity, sizeof(keep->severity));
		memcpy(keep->kind, from->kind, sizeof(keep->kind));
		memcpy(keep->message, from->message, sizeof(keep->message));
		ALERT_TAKE_KNOWN(keep, from, rule);
		ALERT_TAKE_KNOWN(keep, from, workload);
		ALERT_TAKE_KNOWN(keep, from, remote_name);
		ALERT_TAKE_KNOWN(keep, from, remote_country);
		if (!store_ip_is_zero(from->remote_ip)) {
			memcpy(keep->remote_ip, from->remote_ip, 16);
			keep->remote_port = from->remote_port;
		}
		if (from->proto)
			keep->proto = from->proto;
		if (from->remote_asn)
			keep->remote_asn = from->remote_asn;
	}
	keep->count = count;
	keep->first_seen_ns = first;
	keep->last_seen_ns = last;
	keep->bytes_sent = bytes;
	free(from);
	*dst = keep;
}

/* Coalesce alert `a` (the batch takes it) into its dedup_key's entry. */
static void add_alert(struct store_batch *b, struct store_alert *a)
{
	size_t klen = strnlen(a->dedup_key, sizeof(a->dedup_key));
	uint32_t h = (uint32_t)ew_siphash(b->hash_key, a->dedup_key, klen) &
		     b->alert_mask;
	uint32_t v;

	/* Twice as many slots as entries: the probe ends. */
	while ((v = b->alert_index[h]) != 0) {
		const struct store_alert *e = b->alerts[v - 1];

		if (strncmp(e->dedup_key, a->dedup_key, sizeof(e->dedup_key)) == 0) {
			merge_alert(&b->alerts[v - 1], a);
			b->alert_rows[v - 1]++;
			return;
		}
		h = (h + 1) & b->alert_mask;
	}
	b->alerts[b->nalerts] = a;
	b->alert_rows[b->nalerts] = 1;
	b->alert_index[h] = ++b->nalerts;
}

int store_batch_add(struct store_batch *b, struct store_row *row)
{
	b->rows++;
	if (row->kind == STORE_ROW_FLOW) {
		const struct store_qflow *f = &row->u.flow;

		add_rollup(b, f, add_flow(b, f));
	} else if (row->kind == STORE_ROW_ALERT) {
		add_alert(b, row->u.alert);
		row->kind = 0;	/* ownership moved into the batch */
	} else {
		b->others[b->nothers++] = *row;
		row->kind = 0;
	}
	return b->nflows >= b->cap || b->nrollups >= b->cap ||
	       b->nalerts >= b->alerts_cap || b->nothers >= b->others_cap ||
	       b->text_cap - b->text_used < ROW_TEXT_MAX;
}

/* ---- writing ------------------------------------------------------------- */

/* Bind a text field: its bytes, or NULL when unknown (store_bind_opt_text). */
static void bind_text(const struct store_batch *b, sqlite3_stmt *st, int i,
		      struct store_text t)
{
	if (t.len == 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, text_at(b, t), (int)t.len,
				  SQLITE_STATIC);
}

static void bind_flow(const struct store_batch *b, sqlite3_stmt *st,
		      const struct store_batch_flow *f)
{
	sqlite3_bind_int64(st, 1, store_i64(f->id));
	sqlite3_bind_int64(st, 2, store_i64(f->start_ns));
	sqlite3_bind_int64(st, 3, store_i64(f->end_ns));
	bind_text(b, st, 4, f->text[STORE_FT_INTERFACE]);
	sqlite3_bind_int(st, 5, f->family);
	sqlite3_bind_int(st, 6, f->proto);
	sqlite3_bind_int(st, 7, f->direction);
	sqlite3_bind_blob(st, 8, f->local_ip, 16, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, f->local_port);
	sqlite3_bind_blob(st, 10, f->remote_ip, 16, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, f->remote_port);
	sqlite3_bind_int(st, 12, f->vlan);
	sqlite3_bind_int64(st, 13, store_i64(f->bytes_sent));
	sqlite3_bind_int64(st, 14, store_i64(f->bytes_received));
	sqlite3_bind_int64(st, 15, store_i64(f->packets_sent));
	sqlite3_bind_int64(st, 16, store_i64(f->packets_received));
	sqlite3_bind_int(st, 17, f->tcp_flags_sent);
	sqlite3_bind_int(st, 18, f->tcp_flags_received);
	sqlite3_bind_int(st, 19, f->ended);
	sqlite3_bind_int(st, 20, f->end_reason);
	bind_text(b, st, 21, f->text[STORE_FT_WORKLOAD]);
	bind_text(b, st, 22, f->text[STORE_FT_REMOTE_WORKLOAD]);
	bind_text(b, st, 23, f->text[STORE_FT_REMOTE_NAME]);
	bind_text(b, st, 24, f->text[STORE_FT_REMOTE_COUNTRY]);
	if (f->remote_asn)
		sqlite3_bind_int64(st, 25, f->remote_asn);
	else
		sqlite3_bind_null(st, 25);
	bind_text(b, st, 26, f->text[STORE_FT_VERDICT]);
}

static void bind_rollup(const struct store_batch *b, sqlite3_stmt *st,
			const struct store_rollup *r)
{
	sqlite3_bind_int64(st, 1, store_i64(r->minute));
	/* A key column: unknown is '', not NULL (schema.c). */
	sqlite3_bind_text(st, 2, r->workload.len ? text_at(b, r->workload) : "",
			  (int)r->workload.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, r->remote_ip, 16, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, r->port);
	sqlite3_bind_int(st, 5, r->proto);
	sqlite3_bind_int(st, 6, r->direction);
	sqlite3_bind_int64(st, 7, store_i64(r->bytes_sent));
	sqlite3_bind_int64(st, 8, store_i64(r->bytes_received));
	sqlite3_bind_int64(st, 9, store_i64(r->packets_sent));
	sqlite3_bind_int64(st, 10, store_i64(r->packets_received));
	sqlite3_bind_int64(st, 11, store_i64(r->flows));
}

static void bind_alert(sqlite3_stmt *st, const struct store_alert *a)
{
	int has_ip = !store_ip_is_zero(a->remote_ip);

	sqlite3_bind_int64(st, 1, store_i64(a->first_seen_ns));
	sqlite3_bind_int64(st, 2, store_i64(a->last_seen_ns));
	sqlite3_bind_int64(st, 3, store_i64(a->count ? a->count : 1));
	store_bind_text(st, 4, a->severity, sizeof(a->severity));
	store_bind_text(st, 5, a->kind, sizeof(a->kind));
	store_bind_opt_text(st, 6, a->rule, sizeof(a->rule));
	store_bind_opt_text(st, 7, a->workload, sizeof(a->workload));
	if (has_ip) {
		sqlite3_bind_blob(st, 8, a->remote_ip, 16, SQLITE_STATIC);
		sqlite3_bind_int(st, 12, a->remote_port);
	} else {
		sqlite3_bind_null(st, 8);
		sqlite3_bind_null(st, 12);
	}
	store_bind_opt_text(st, 9, a->remote_name, sizeof(a->remote_name));
	store_bind_opt_text(st, 10, a->remote_country,
			    sizeof(a->remote_country));
	if (a->remote_asn)
		sqlite3_bind_int64(st, 11, a->remote_asn);
	else
		sqlite3_bind_null(st, 11);
	if (a->proto)
		sqlite3_bind_int(st, 13, a->proto);
	else
		sqlite3_bind_null(st, 13);
	sqlite3_bind_int64(st, 14, store_i64(a->bytes_sent));
	store_bind_text(st, 15, a->message, sizeof(a->message));
	store_bind_opt_text(st, 16, a->evidence, STORE_EVIDENCE_MAX);
	store_bind_text(st, 17, a->dedup_key, sizeof(a->dedup_key));
}

static void bind_workload(sqlite3_stmt *st, const struct store_workload *w)
{
	store_bind_text(st, 1, w->namespace, sizeof(w->namespace));
	store_bind_text(st, 2, w->name, sizeof(w->name));
	store_bind_opt_text(st, 3, w->kind, sizeof(w->kind));
	store_bind_opt_text(st, 4, w->runtime, sizeof(w->runtime));
	store_bind_opt_text(st, 5, w->container_id, sizeof(w->container_id));
	store_bind_opt_text(st, 6, w->pod_uid, sizeof(w->pod_uid));
	store_bind_opt_text(st, 7, w->labels, STORE_JSON_MAX);
	store_bind_opt_text(st, 8, w->interface, sizeof(w->interface));
	store_bind_opt_text(st, 9, w->ips, STORE_JSON_MAX);
	sqlite3_bind_int64(st, 10, store_i64(w->first_seen_ns));
	sqlite3_bind_int64(st, 11, store_i64(w->last_seen_ns));
}

static void bind_dns(sqlite3_stmt *st, const struct store_dns_answer *d)
{
	uint64_t ttl_ns = (uint64_t)d->ttl * 1000000000ull;
	uint64_t expires = d->seen_ns > UINT64_MAX - ttl_ns ? UINT64_MAX :
			   d->seen_ns + ttl_ns;

	store_bind_text(st, 1, d->workload, sizeof(d->workload));
	store_bind_text(st, 2, d->name, sizeof(d->name));
	sqlite3_bind_blob(st, 3, d->address, 16, SQLITE_STATIC);
	store_bind_opt_text(st, 4, d->cname_chain, sizeof(d->cname_chain));
	sqlite3_bind_int64(st, 5, d->ttl);
	sqlite3_bind_int64(st, 6, store_i64(d->seen_ns));
	sqlite3_bind_int64(st, 7, store_i64(expires));
}

static void bind_baseline(sqlite3_stmt *st, const struct store_baseline *bl)
{
	store_bind_text(st, 1, bl->workload, sizeof(bl->workload));
	sqlite3_bind_int(st, 2, bl->proto);
	sqlite3_bind_int(st, 3, bl->port);
	sqlite3_bind_int(st, 4, bl->direction);
	sqlite3_bind_int64(st, 5, store_i64(bl->seen_ns));
	sqlite3_bind_int64(st, 6, store_i64(bl->count ? bl->count : 1));
}

static void bind_ack(sqlite3_stmt *st, const struct store_ack *a)
{
	sqlite3_bind_int64(st, 1, store_i64(a->id));
	sqlite3_bind_int64(st, 2, store_i64(a->ack_ns));
	store_bind_opt_text(st, 3, a->by, sizeof(a->by));
}

/* Errors that concern one row only: the statement was rolled back, the
 * transaction goes on. */
static int row_level(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return 1;
	default:
		return 0;
	}
}

/* Step a bound statement once and make it reusable.  SQLITE_DONE or the
 * error. */
static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static sqlite3_stmt *bind_other(struct store_batch *b,
				const struct store_row *row)
{
	switch (row->kind) {
	case STORE_ROW_WORKLOAD:
		bind_workload(b->workload, row->u.workload);
		return b->workload;
	case STORE_ROW_DNS:
		bind_dns(b->dns, &row->u.dns);
		return b->dns;
	case STORE_ROW_BASELINE:
		bind_baseline(b->baseline, &row->u.baseline);
		return b->baseline;
	case STORE_ROW_ACK:
		bind_ack(b->ack, &row->u.ack);
		return b->ack;
	default:
		return NULL;
	}
}

/*
 * Write one (coalesced) flow row on its own: an UPDATE when its id is known
 * to the file, an upsert when it is new or the UPDATE found no row.
 * `*max_id` is the highest id written so far.  SQLite's code.
 */
static int write_flow(struct store_batch *b, sqlite3 *db,
		      const struct store_batch_flow *f, uint64_t *max_id)
{
	sqlite3_stmt *st;
	int rc;

	if (f->id <= *max_id) {
		st = f->text[STORE_FT_WORKLOAD].len ? b->flow_update_workload :
						      b->flow_update;
		bind_flow(b, st, f);
		rc = run(st);
		if (rc != SQLITE_DONE || sqlite3_changes(db) > 0)
			return rc;
	}
	bind_flow(b, b->flow, f);
	rc = run(b->flow);
	if (rc == SQLITE_DONE && f->id > *max_id)
		*max_id = f->id;
	return rc;
}

/*
 * Write the new flows flows[sel[0 .. n)] with sql_flow_set, SET_CHUNK at a
 * time.  A chunk that fails on one row is written again row by row (the rows
 * before the bad one are in already: see sql_flow_set).  SQLITE_DONE, or
 * what failed the batch.
 */
#define SET_CHUNK 4096

static int write_new_flows(struct store_batch *b, sqlite3 *db, uint32_t n,
			   uint64_t *max_id, struct store_batch_result *res)
{
	int rc = SQLITE_DONE;

	for (uint32_t lo = 0; lo < n; lo += SET_CHUNK) {
		uint32_t m = n - lo < SET_CHUNK ? n - lo : SET_CHUNK;

		b->view = b->sel + lo;
		b->nview = m;
		rc = run(b->flow_set);
		if (rc == SQLITE_DONE) {
			for (uint32_t j = 0; j < m; j++) {
				const struct store_batch_flow *f =
					&b->flows[b->view[j]];

				res->written += f->rows;
				if (f->id > *max_id)
					*max_id = f->id;
			}
			continue;
		}
		if (!row_level(rc) || sqlite3_get_autocommit(db))
			break;
		for (uint32_t j = 0; j < m; j++) {
			const struct store_batch_flow *f = &b->flows[b->view[j]];

			rc = write_flow(b, db, f, max_id);
			if (rc == SQLITE_DONE)
				res->written += f->rows;
			else if (row_level(rc))
				res->invalid += f->rows;
			else
				break;
		}
		if (rc != SQLITE_DONE && !row_level(rc))
			break;
		rc = SQLITE_DONE;
	}
	b->nview = 0;
	return rc;
}

/* The rollups: one statement, or row by row when it fails on one row.  The
 * statement keeps ABORT (unlike sql_flow_set): its rows add up, so a
 * statement that stopped half-way could not be run again; traffic_minute is
 * small, and so is the copy of the pages it changes. */
static int write_rollups(struct store_batch *b, sqlite3 *db)
{
	int rc = b->nrollups ? run(b->rollup_set) : SQLITE_DONE;

	if (rc == SQLITE_DONE || !row_level(rc) || sqlite3_get_autocommit(db))
		return rc;
	for (uint32_t i = 0; i < b->nrollups; i++) {
		bind_rollup(b, b->rollup, &b->rollups[i]);
		rc = run(b->rollup);
		if (rc != SQLITE_DONE && !row_level(rc))
			return rc;
	}
	return SQLITE_DONE;
}

void store_batch_commit(struct store_batch *b, sqlite3 *db,
			struct store_batch_result *res)
{
	int64_t max_flow = b->max_flow_ns;
	uint64_t max_id = b->max_flow_id;
	uint32_t nsel = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = run(b->begin);
	if (rc != SQLITE_DONE)
		goto fail;
	for (uint32_t i = 0; i < b->nflows; i++) {
		const struct store_batch_flow *f = &b->flows[i];

		/* start_ns is the same in every row of a flow (store.h), so
		 * this is the stored row's duration.  A RETURNING clause
		 * would say so without the contract, but makes the upsert
		 * half again as slow. */
		if (f->end_ns > f->start_ns &&
		    store_i64(f->end_ns - f->start_ns) > max_flow)
			max_flow = store_i64(f->end_ns - f->start_ns);
		if (f->id > b->max_flow_id)
			b->sel[nsel++] = i;
	}
	rc = write_new_flows(b, db, nsel, &max_id, res);
	if (rc != SQLITE_DONE)
		goto fail;
	for (uint32_t i = 0; i < b->nflows; i++) {
		const struct store_batch_flow *f = &b->flows[i];

		if (f->id > b->max_flow_id)
			continue;	/* new: written above */
		rc = write_flow(b, db, f, &max_id);
		if (rc == SQLITE_DONE)
			res->written += f->rows;
		else if (row_level(rc))
			res->invalid += f->rows;
		else
			goto fail;
	}
	if (max_flow > b->max_flow_ns) {
		sqlite3_bind_int64(b->max_flow, 1, max_flow);
		rc = run(b->max_flow);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	rc = write_rollups(b, db);
	if (rc != SQLITE_DONE)
		goto fail;
	for (uint32_t i = 0; i < b->nalerts; i++) {
		bind_alert(b->alert, b->alerts[i]);
		rc = run(b->alert);
		if (rc == SQLITE_DONE)
			res->written += b->alert_rows[i];
		else if (row_level(rc))
			res->invalid += b->alert_rows[i];
		else
			goto fail;
	}
	for (uint32_t i = 0; i < b->nothers; i++) {
		sqlite3_stmt *st = bind_other(b, &b->others[i]);

		rc = st ? run(st) : SQLITE_MISUSE;
		if (rc == SQLITE_DONE)
			res->written++;
		else if (row_level(rc) || rc == SQLITE_MISUSE)
			res->invalid++;
		else
			goto fail;
	}
	rc = run(b->commit);
	if (rc != SQLITE_DONE)
		goto fail;
	b->max_flow_ns = max_flow;
	b->max_flow_id = max_id;
	return;
fail:
	res->rc = rc == SQLITE_DONE || rc == SQLITE_OK ? SQLITE_ERROR : rc;
	snprintf(res->errmsg, sizeof(res->errmsg), "%s", sqlite3_errmsg(db));
	res->written = res->invalid = 0;
	if (!sqlite3_get_autocommit(db))
		run(b->rollback);
}
